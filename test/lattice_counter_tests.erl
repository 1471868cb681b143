%% G-Counter and PN-Counter: examples, errors, and properties (lattice laws, deltas, the
%% in-place object against the binary functions, convergence against a model).
-module(lattice_counter_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(G, lattice_gcounter).
-define(PN, lattice_pncounter).

%% ---- examples ------------------------------------------------------------------------------

gcounter_test() ->
    G0 = ?G:new(),
    ?assertEqual(0, ?G:value(G0)),
    {ok, G1, D1} = ?G:update({increment, 5}, a, G0),
    {ok, G2, D2} = ?G:update({increment, 2}, b, G1),
    {ok, G3, _} = ?G:update({increment, 1}, a, G2),
    ?assertEqual(8, ?G:value(G3)),
    ?assertEqual(6, ?G:value({get, a}, G3)),
    ?assertEqual(0, ?G:value({get, zz}, G3)),
    ?assertEqual({gcounter, [{a, 6}, {b, 2}]}, ?G:to_term(G3)),
    ?assertEqual(G1, ?G:merge(G0, D1)),
    ?assertEqual(G2, ?G:merge(D2, G1)),
    ?assertEqual(G3, ?G:merge(G3, G1)),
    ?assert(?G:equal(G3, ?G:merge(G1, G3))),
    ?assertEqual(ok, ?G:validate(G3)),
    ?assertEqual(G3, lattice_type:merge(G1, G3)),
    ?assertEqual(lattice_gcounter, lattice_type:module(G3)).

%% Each scheduler remembers the bytes of the last flat actor it encoded (lt_nif_term.c): actors
%% that are alike but not the same (1 and 1.0, an int64 and a uint64, {a} and a, a tuple one
%% longer), one after the other and twice in a row, still get their own bytes. The reference is
%% clock_from_list, which encodes every actor afresh.
actor_cache_test() ->
    Actors = [a, a, {a, 1}, {a, 1}, {a, 1.0}, {a, 1}, {a, -1}, {a, 1 bsl 63}, {a, (1 bsl 63) - 1},
              {a, (1 bsl 64) - 1}, {a, 1 bsl 64}, {a, 1 bsl 64}, {a, -(1 bsl 63)},
              {a, -(1 bsl 63) - 1}, {a, b}, {b, a}, {a}, a, {{a}, 1}, {a, 1, 2, 3}, {a, 1, 2},
              {a, 1, 2, 3, 4}, {a, 1, 2, 3, 4}, [a], <<"a">>, 1, 1.0, -5, 1 bsl 63, 'é', 'é',
              '日本', {'日本', 1}, {node(), 15181011993510445927}, {node(), 15181011993510445927},
              {node(), 15181011993510445926}, {node(), 1518101199351044592}, lattice:actor(),
              lattice:actor(), {a, 1}],
    O = lattice_object:new(?G:new()),
    P = lattice_object:new(?PN:new()),
    Counts = lists:foldl(
               fun(A, M) ->
                       C = maps:get(A, M, 0) + 1,
                       {ok, D} = lattice_object:update({increment, 1}, A, O),
                       ?assertEqual({A, lattice_nif:clock_from_list(16#10, [{A, C}])}, {A, D}),
                       ?assertEqual({A, C}, {A, lattice_object:value({get, A}, O)}),
                       {ok, _} = lattice_object:update({decrement, 1}, A, P),
                       ?assertEqual({A, -C}, {A, lattice_object:value({get, A}, P)}),
                       M#{A => C}
               end, #{}, Actors ++ lists:reverse(Actors)),
    ?assertEqual(lattice_nif:clock_from_list(16#10, maps:to_list(Counts)),
                 lattice_object:snapshot(O)).

gcounter_big_value_test() ->
    Max = 1 bsl 64 - 1,
    {ok, G1, _} = ?G:update({increment, Max}, a, ?G:new()),
    {ok, G2, _} = ?G:update({increment, Max}, b, G1),
    ?assertEqual(2 * Max, ?G:value(G2)),
    ?assertEqual({error, {overflow, counter}}, ?G:update({increment, 1}, a, G2)),
    O = lattice_object:new(G2),
    ?assertEqual(2 * Max, lattice_object:value(O)),
    ?assertEqual({error, {overflow, counter}}, lattice_object:update({increment, 1}, a, O)),
    ?assertEqual(G2, lattice_object:snapshot(O)).

pncounter_test() ->
    P0 = ?PN:new(),
    {ok, P1, D1} = ?PN:update({increment, 10}, a, P0),
    {ok, P2, D2} = ?PN:update({decrement, 25}, b, P1),
    {ok, P3, _} = ?PN:update({decrement, 1}, a, P2),
    ?assertEqual(-16, ?PN:value(P3)),
    ?assertEqual(9, ?PN:value({get, a}, P3)),
    ?assertEqual(-25, ?PN:value({get, b}, P3)),
    ?assertEqual(P1, ?PN:merge(P0, D1)),
    ?assertEqual(P2, ?PN:merge(P1, D2)),
    ?assertEqual({pncounter, #{increments => [{a, 10}], decrements => [{a, 1}, {b, 25}]}},
                 ?PN:to_term(P3)),
    ?assertEqual(lattice_pncounter, lattice_type:module(P3)),
    Max = 1 bsl 64 - 1,
    {ok, Q1, _} = ?PN:update({decrement, Max}, a, P0),
    {ok, Q2, _} = ?PN:update({decrement, Max}, b, Q1),
    ?assertEqual(-2 * Max, ?PN:value(Q2)),
    ?assertEqual(-2 * Max, lattice_object:value(lattice_object:new(Q2))).

errors_test() ->
    G = element(2, ?G:update({increment, 1}, a, ?G:new())),
    ?assertError(badarg, ?G:update({increment, 0}, a, G)),
    ?assertError(badarg, ?G:update({decrement, 1}, a, G)),
    ?assertError(badarg, ?G:update({increment, 1}, self(), G)),
    ?assertError(badarg, ?G:value(foo, G)),
    ?assertError(badarg, ?PN:update({add, 1}, a, ?PN:new())),
    ?assertError(badarg, ?PN:value(not_a_state)),
    ?assertMatch({error, {bad_gcounter, wrong_type}}, ?G:merge(G, ?PN:new())),
    ?assertMatch({error, {bad_pncounter, wrong_type}}, ?PN:merge(?PN:new(), G)),
    ?assertMatch({error, {bad_state, unknown_type}}, lattice_type:merge(<<99, 1, 0>>, G)),
    Bad = [<<>>, <<16#10>>, <<16#10, 2, 0>>, <<16#10, 1, 1>>, <<G/binary, 0>>,
           binary:part(G, 0, byte_size(G) - 1)],
    [?assertMatch({error, {bad_gcounter, _}}, ?G:merge(B, G)) || B <- Bad],
    [?assertMatch({error, {bad_gcounter, _}}, ?G:value(B)) || B <- Bad],
    [?assertMatch({error, {bad_gcounter, _}}, lattice_object:new(B)) || B <- tl(Bad)],
    P = ?PN:new(),
    BadP = [<<16#11>>, <<16#11, 1, 200>>, <<16#11, 1, 3, 16#10, 1>>, <<16#11, 1, 128, 0>>,
            <<16#11, 2, 3, 16#10, 1, 0, 16#10, 1, 0>>, <<16#11, 1, 3, 16#10, 1, 0, 16#10, 1, 7>>],
    [?assertMatch({error, {bad_pncounter, _}}, ?PN:merge(B, P)) || B <- BadP],
    [?assertMatch({error, {bad_pncounter, _}}, ?PN:value(B)) || B <- BadP],
    %% A bad join leaves the object as it was.
    O = lattice_object:new(G),
    ?assertMatch({error, {bad_gcounter, _}}, lattice_object:join(<<16#10, 1, 1>>, O)),
    ?assertEqual(G, lattice_object:snapshot(O)),
    ?assertError(badarg, lattice_object:update({increment, 0}, a, O)),
    ?assertError(badarg, lattice_object:value(bogus, O)),
    %% A binary that is not a state is data, not a caller's bug.
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_object:new(<<42, 1, 0>>)).

object_shared_by_processes_test() ->
    O = lattice_object:new(lattice_gcounter),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               [{ok, _} = lattice_object:update({increment, 1}, {w, I}, O)
                                || _ <- lists:seq(1, 1000)],
                               Self ! {done, self()}
                       end) || I <- lists:seq(1, 8)],
    [receive {done, P} -> ok end || P <- Pids],
    ?assertEqual(8000, lattice_object:value(O)),
    ?assertEqual(?G:digest(lattice_object:snapshot(O)), lattice_object:digest(O)).

%% ---- properties ----------------------------------------------------------------------------

props_test_() ->
    Props = [P || {P, 0} <- ?MODULE:module_info(exports), lists:prefix("prop_", atom_to_list(P))],
    [{atom_to_list(P), {timeout, 300,
                        fun() -> ?assert(proper:quickcheck(?MODULE:P(),
                                                           [{numtests, numtests()},
                                                            {to_file, user}, long_result]) =:= true)
                        end}}
     || P <- lists:sort(Props)].

numtests() ->
    case os:getenv("LATTICE_PROPER_NUMTESTS") of
        false -> 300;
        N -> list_to_integer(N)
    end.

actor() -> oneof([elements([a, b, c, d, 'ü']), range(1, 5), {n, range(1, 3)}]).
amount() -> oneof([range(1, 10), range(1, 1 bsl 40)]).
g_op() -> {increment, amount()}.
pn_op() -> {elements([increment, decrement]), amount()}.

history(Op) -> list({Op, actor()}).

%% A state reached by a history of updates from the empty state.
state(M, History) ->
    lists:foldl(fun({Op, Actor}, S) -> {ok, S2, _} = M:update(Op, Actor, S), S2 end,
                M:new(), History).

laws(M, OpGen) ->
    ?FORALL({HA, HB, HC}, {history(OpGen), history(OpGen), history(OpGen)},
            begin
                [A, B, C] = [state(M, H) || H <- [HA, HB, HC]],
                M:merge(A, B) =:= M:merge(B, A)
                    andalso M:merge(M:merge(A, B), C) =:= M:merge(A, M:merge(B, C))
                    andalso M:merge(A, A) =:= A
                    andalso M:merge(A, M:new()) =:= A
            end).

prop_gcounter_laws() -> laws(?G, g_op()).
prop_pncounter_laws() -> laws(?PN, pn_op()).

%% Every update is an inflation, and its delta merged into the old state is the new state.
deltas(M, OpGen) ->
    ?FORALL({H, Op, Actor}, {history(OpGen), OpGen, actor()},
            begin
                S = state(M, H),
                {ok, S2, D} = M:update(Op, Actor, S),
                S2 =/= S andalso M:merge(S, S2) =:= S2 andalso M:merge(S, D) =:= S2
                    andalso M:merge(D, S) =:= S2
            end).

prop_gcounter_deltas() -> deltas(?G, g_op()).
prop_pncounter_deltas() -> deltas(?PN, pn_op()).

%% The value is what a plain model of the history says.
model_value(Applied) ->
    lists:sum([case Op of {increment, N} -> N; {decrement, N} -> -N end || {_, Op} <- Applied]).

prop_gcounter_converges() ->
    ?FORALL(Cmds, lattice_convergence:history(4, g_op()),
            lattice_convergence:run(?G, 4, {Cmds, fun model_value/1}) =:= true).

prop_pncounter_converges() ->
    ?FORALL({N, Cmds}, {range(3, 5), lattice_convergence:history(5, pn_op())},
            lattice_convergence:run(?PN, N, {[C || C <- Cmds, replica_ok(C, N)],
                                              fun model_value/1}) =:= true).

replica_ok({op, R, _}, N) -> R =< N;
replica_ok({sync, A, B}, N) -> A =< N andalso B =< N;
replica_ok(_, _) -> true.

%% Any bytes: every function answers without raising; a valid state re-encodes to itself.
prop_counter_garbage() ->
    ?FORALL(Bin, oneof([binary(),
                        ?LET({H, P, X}, {history(pn_op()), nat(), byte()},
                             flip(state(?PN, H), P, X)),
                        ?LET({H, P, X}, {history(g_op()), nat(), byte()},
                             flip(state(?G, H), P, X))]),
            begin
                Calls = [fun() -> ?G:merge(Bin, ?G:new()) end, fun() -> ?G:value(Bin) end,
                         fun() -> ?G:digest(Bin) end, fun() -> ?PN:merge(Bin, ?PN:new()) end,
                         fun() -> ?PN:value(Bin) end, fun() -> ?PN:digest(Bin) end,
                         fun() -> lattice_type:value(Bin) end],
                Raised = [R || F <- Calls, {raised, _, _} = R <- [catch_all(F)]],
                Reencodes = case {?G:validate(Bin), ?PN:validate(Bin)} of
                                {ok, _} -> lattice_object:snapshot(lattice_object:new(Bin)) =:= Bin;
                                {_, ok} -> lattice_object:snapshot(lattice_object:new(Bin)) =:= Bin;
                                _ -> true
                            end,
                ?WHENFAIL(io:format("~p: ~p~n", [Bin, Raised]), Raised =:= [] andalso Reencodes)
            end).

flip(<<>>, _, _) -> <<>>;
flip(Bin, Pos, X) ->
    N = Pos rem byte_size(Bin),
    <<Pre:N/binary, B, Post/binary>> = Bin,
    <<Pre/binary, (B bxor X), Post/binary>>.

catch_all(F) ->
    try F() catch Class:Reason -> {raised, Class, Reason} end.
