%% OR-Set (add-wins observed-remove set on the dot kernel): examples of its semantics, every
%% badarg and corrupt-binary path, object churn, many actors, and properties (lattice laws on
%% states from multi-replica histories, inflation and deltas, garbage, the in-place object
%% against the binary functions, convergence against lattice_orset_model), plus a latency
%% check on million-element sets.
-module(lattice_orset_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(M, lattice_orset).
-define(EMPTY, <<16#14, 1, 0, 0>>).

%% ---- examples -----------------------------------------------------------------------------

basic_test() ->
    S0 = ?M:new(),
    ?assertEqual(?EMPTY, S0),
    ?assertEqual([], ?M:value(S0)),
    ?assertEqual(0, ?M:value(size, S0)),
    ?assertNot(?M:value({contains, a}, S0)),
    ?assertEqual({orset, [], []}, ?M:to_term(S0)),
    ?assertEqual(ok, ?M:validate(S0)),
    {ok, S1, D1} = ?M:update({add, a}, r1, S0),
    %% The first add's delta is the whole state.
    ?assertEqual(S1, D1),
    ?assertEqual({orset, [{a, [{r1, 1}]}], [{r1, 1, []}]}, ?M:to_term(S1)),
    {ok, S2, D2} = ?M:update({add_all, [c, b, a]}, r1, S1),
    ?assertEqual([a, b, c], ?M:value(S2)),
    ?assertEqual(3, ?M:value(size, S2)),
    ?assert(?M:value({contains, b}, S2)),
    ?assertNot(?M:value({contains, zz}, S2)),
    %% New dots in op order; a re-added element's old dot goes into the delta's context.
    ?assertEqual({orset, [{a, [{r1, 4}]}, {b, [{r1, 3}]}, {c, [{r1, 2}]}], [{r1, 4, []}]},
                 ?M:to_term(S2)),
    ?assertEqual(S2, D2),
    ?assertEqual(S2, ?M:merge(S1, D2)),
    ?assertEqual(S2, ?M:merge(D2, S1)),
    ?assertEqual(S2, ?M:merge(S2, S1)),
    {ok, S3, D3} = ?M:update({remove, b}, r2, S2),
    ?assertEqual([a, c], ?M:value(S3)),
    %% A remove's delta: no elements, the removed dot in its context (r2 mints nothing).
    ?assertEqual({orset, [], [{r1, 0, [3]}]}, ?M:to_term(D3)),
    ?assertEqual([], ?M:value(D3)),
    ?assertEqual(S3, ?M:merge(S2, D3)),
    ?assertEqual(S3, ?M:merge(D1, ?M:merge(D3, D2))),
    ?assert(?M:equal(S3, ?M:merge(D3, S2))),
    ?assertNot(?M:equal(S2, S3)),
    ?assertEqual(ok, ?M:validate(S3)),
    ?assertEqual(ok, ?M:validate(D3)),
    %% Digests: equal states, equal digests.
    ?assertEqual(?M:digest(S3), ?M:digest(?M:merge(D3, S2))),
    ?assertNotEqual(?M:digest(S2), ?M:digest(S3)),
    ?assertMatch(<<_:128>>, ?M:digest(S0)),
    %% lattice_type dispatches on the tag.
    ?assertEqual(lattice_orset, lattice_type:module(S3)),
    ?assertEqual([a, c], lattice_type:value(S3)),
    ?assertEqual(2, lattice_type:value(size, S3)),
    ?assertEqual(true, lattice_type:value({contains, a}, S3)),
    ?assertEqual(?M:digest(S3), lattice_type:digest(S3)),
    ?assertEqual(S3, lattice_type:merge(S2, D3)),
    ?assertEqual(?M:to_term(S3), lattice_type:to_term(S3)),
    ?assertEqual(ok, lattice_type:validate(S3)).

%% Concurrent add and remove of one element: the add survives, whatever the order of delivery.
add_wins_test() ->
    {ok, A1, Da} = ?M:update({add, x}, r1, ?M:new()),
    B1 = ?M:merge(?M:new(), Da),
    ?assertEqual([x], ?M:value(B1)),
    %% r1 removes x; r2, not having seen the remove, adds x again.
    {ok, A2, Drem} = ?M:update({remove, x}, r1, A1),
    {ok, B2, Dadd} = ?M:update({add, x}, r2, B1),
    ?assertEqual([], ?M:value(A2)),
    ?assertEqual([x], ?M:value(B2)),
    AB = ?M:merge(A2, Dadd),
    BA = ?M:merge(B2, Drem),
    ?assertEqual(AB, BA),
    ?assertEqual([x], ?M:value(AB)),
    %% Only r2's dot is left: r2's add superseded r1's (it had seen it), and r1's remove took
    %% nothing of r2's.
    ?assertEqual({orset, [{x, [{r2, 1}]}], ctx_of(AB)}, ?M:to_term(AB)),
    ?assertEqual(AB, ?M:merge(Drem, ?M:merge(Dadd, ?M:merge(Da, ?M:new())))),
    %% Two concurrent adds: both dots; a remove that saw only one of them leaves the other.
    {ok, _, Dx1} = ?M:update({add, y}, r1, ?M:new()),
    {ok, _, Dx2} = ?M:update({add, y}, r2, ?M:new()),
    Both = ?M:merge(Dx1, Dx2),
    ?assertEqual({orset, [{y, [{r1, 1}, {r2, 1}]}], ctx_of(Both)}, sort_dots(?M:to_term(Both))),
    {ok, _, Dr3} = ?M:update({remove, y}, r3, ?M:merge(?M:new(), Dx1)),
    Final = ?M:merge(Both, Dr3),
    ?assertEqual([y], ?M:value(Final)),
    ?assertEqual({orset, [{y, [{r2, 1}]}], ctx_of(Final)}, ?M:to_term(Final)),
    %% A remove that saw both takes both.
    {ok, Gone, Dr4} = ?M:update({remove, y}, r3, Both),
    ?assertEqual([], ?M:value(Gone)),
    ?assertEqual([], ?M:value(?M:merge(Final, Dr4))),
    %% An add that saw both concurrent dots replaces them with one.
    {ok, One, _} = ?M:update({add, y}, r3, Both),
    ?assertEqual({orset, [{y, [{r3, 1}]}], ctx_of(One)}, ?M:to_term(One)).

%% A remove takes what it observed, everywhere it goes; a later add brings the element back.
observed_remove_test() ->
    {ok, A1, D1} = ?M:update({add_all, [a, b]}, r1, ?M:new()),
    B1 = ?M:merge(?M:new(), D1),
    {ok, B2, Drem} = ?M:update({remove, a}, r2, B1),
    A2 = ?M:merge(A1, Drem),
    ?assertEqual([b], ?M:value(A2)),
    ?assertEqual(A2, B2),
    %% The delta of a remove reaching a replica that never saw the add: a stays away when
    %% the add arrives later (its dot is in the context, so the add is known to be removed).
    C1 = ?M:merge(?M:new(), Drem),
    ?assertEqual([], ?M:value(C1)),
    ?assertEqual({error, {precondition, {not_present, a}}}, ?M:update({remove, a}, r3, C1)),
    C2 = ?M:merge(C1, D1),
    ?assertEqual([b], ?M:value(C2)),
    ?assertEqual(A2, C2),
    %% Re-add after remove: a new dot, the element is back everywhere.
    {ok, A3, Dre} = ?M:update({add, a}, r1, A2),
    ?assertEqual([a, b], ?M:value(A3)),
    ?assertEqual({orset, [{a, [{r1, 3}]}], [{r1, 0, [3]}]}, ?M:to_term(Dre)),
    ?assertEqual(A3, ?M:merge(B2, Dre)),
    ?assertEqual(A3, ?M:merge(C2, Dre)),
    %% The old remove, delivered again, changes nothing.
    ?assertEqual(A3, ?M:merge(A3, Drem)),
    %% The context stays compact: one counter per actor.
    {orset, _, Ctx} = ?M:to_term(A3),
    ?assertEqual([{r1, 3, []}], Ctx).

%% add_all and remove_all: repeats count once, presence is checked against the state before
%% the op, an empty list is a no-op with an empty delta, and a failed precondition names the
%% first absent element in list order and applies nothing.
listed_ops_test() ->
    S0 = ?M:new(),
    {ok, S1, D1} = ?M:update({add_all, [a, b, a, c, b]}, r1, S0),
    ?assertEqual({orset, [{a, [{r1, 1}]}, {b, [{r1, 2}]}, {c, [{r1, 3}]}], [{r1, 3, []}]},
                 ?M:to_term(S1)),
    ?assertEqual(S1, D1),
    ?assertEqual({ok, S1, ?EMPTY}, ?M:update({add_all, []}, r1, S1)),
    ?assertEqual({ok, S1, ?EMPTY}, ?M:update({remove_all, []}, r1, S1)),
    ?assertEqual({ok, S0, ?EMPTY}, ?M:update({remove_all, []}, r1, S0)),
    {ok, S2, D2} = ?M:update({remove_all, [a, a]}, r1, S1),
    ?assertEqual([b, c], ?M:value(S2)),
    ?assertEqual({ok, S2, D2}, ?M:update({remove, a}, r1, S1)),
    {ok, S3, _} = ?M:update({remove_all, [c, b, c]}, r2, S2),
    ?assertEqual([], ?M:value(S3)),
    %% Preconditions: the first absent element in list order; nothing applied.
    ?assertEqual({error, {precondition, {not_present, zz}}}, ?M:update({remove, zz}, r1, S1)),
    ?assertEqual({error, {precondition, {not_present, a}}}, ?M:update({remove, a}, r1, S0)),
    ?assertEqual({error, {precondition, {not_present, zz}}},
                 ?M:update({remove_all, [a, zz, yy, b]}, r1, S1)),
    ?assertEqual({error, {precondition, {not_present, yy}}},
                 ?M:update({remove_all, [yy, a, zz]}, r1, S1)),
    ?assertEqual({error, {precondition, {not_present, a}}},
                 ?M:update({remove_all, [b, a]}, r1, S2)),
    ?assertEqual({error, {precondition, {not_present, 1.0}}},
                 ?M:update({remove_all, [1, 1.0]}, r1, element(2, ?M:update({add, 1}, r1, S0)))),
    %% Objects: the same answers, and a failed op changes nothing.
    O = lattice_object:new(S1),
    ?assertEqual({error, {precondition, {not_present, zz}}},
                 lattice_object:update({remove_all, [a, zz, yy, b]}, r1, O)),
    ?assertEqual(S1, lattice_object:snapshot(O)),
    ?assertEqual({ok, ?EMPTY}, lattice_object:update({remove_all, []}, r1, O)),
    ?assertEqual({ok, ?EMPTY}, lattice_object:update({add_all, []}, r1, O)),
    ?assertEqual({ok, D2}, lattice_object:update({remove_all, [a, a]}, r1, O)),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    ?assertEqual({error, {precondition, {not_present, a}}},
                 lattice_object:update({remove, a}, r1, O)),
    %% add_all and remove_all mixing present, re-added and new elements.
    {ok, S4, D4} = ?M:update({add_all, [b, d, b]}, r1, S2),
    ?assertEqual({ok, D4}, lattice_object:update({add_all, [b, d, b]}, r1, O)),
    ?assertEqual({orset, [{b, [{r1, 4}]}, {c, [{r1, 3}]}, {d, [{r1, 5}]}], [{r1, 5, []}]},
                 ?M:to_term(S4)),
    ?assertEqual(S4, lattice_object:snapshot(O)).

%% value/1 orders as lattice_gset:sort_elements/1 (1 and 1.0 are two elements, ordered by
%% their canonical bytes), on binaries and objects, whatever the order of the adds.
value_order_test() ->
    Ties = [1, 1.0, {1}, {1.0}, [2.0, 1], [2, 1.0], 0, 0.0, -3, -3.0, a, <<"b">>, "c"],
    Want = lattice_gset:sort_elements(Ties),
    ?assertEqual([-3, -3.0, 0, 0.0, 1, 1.0], [E || E <- Want, is_number(E)]),
    [begin
         {ok, S, _} = ?M:update({add_all, Order}, r1, ?M:new()),
         ?assertEqual(Want, ?M:value(S)),
         %% to_term/1 lists the elements in the binary's order (by id), value/1 sorts them.
         ?assertEqual(Want, lattice_gset:sort_elements([E || {E, _} <- element(2, ?M:to_term(S))])),
         ?assertEqual(Want, lattice_object:value(lattice_object:new(S))),
         O = lattice_object:new(?M),
         [{ok, _} = lattice_object:update({add, E}, r1, O) || E <- Order],
         ?assertEqual(Want, lattice_object:value(O)),
         ?assert(lattice_object:value({contains, 1.0}, O)),
         ?assertNot(lattice_object:value({contains, 2}, O)),
         {ok, S2, _} = ?M:update({remove, 1.0}, r1, S),
         ?assertEqual(Want -- [1.0], ?M:value(S2)),
         ?assert(?M:value({contains, 1}, S2))
     end || Order <- [Ties, lists:reverse(Ties), lists:sort(Ties)]].

%% to_term/1: {orset, [{E, [{Actor, Counter}]}], [{Actor, Base, Cloud}]}, a cloud when deltas
%% arrive out of order.
to_term_test() ->
    {ok, R1, Dp} = ?M:update({add, p}, r2, ?M:new()),
    {ok, R2, Dq} = ?M:update({add, q}, r2, R1),
    {ok, _, Dr} = ?M:update({add, {r, 1.5}}, r2, R2),
    {ok, Mine, _} = ?M:update({add_all, [p, z]}, r1, ?M:new()),
    S = ?M:merge(?M:merge(Mine, Dr), Dp),
    {orset, Entries, Ctx} = ?M:to_term(S),
    ?assertEqual([{p, [{r1, 1}, {r2, 1}]}, {z, [{r1, 2}]}, {{r, 1.5}, [{r2, 3}]}],
                 lists:sort([{E, lists:sort(Ds)} || {E, Ds} <- Entries])),
    %% Entries in the binary's order: by element id (XXH3-64 of its canonical bytes).
    Ids = [lattice_hash:xxh3_64(lattice_canon:encode(E)) || {E, _} <- Entries],
    ?assertEqual(lists:sort(Ids), Ids),
    ?assertEqual([{r1, 2, []}, {r2, 1, [3]}], lists:sort(Ctx)),
    ?assertEqual(ok, ?M:validate(S)),
    %% The missing delta fills the gap: the cloud folds into the base.
    S2 = ?M:merge(S, Dq),
    {orset, _, Ctx2} = ?M:to_term(S2),
    ?assertEqual([{r1, 2, []}, {r2, 3, []}], lists:sort(Ctx2)),
    ?assertEqual([p, q, z, {r, 1.5}], ?M:value(S2)),
    %% Actors are any data term.
    Actor = {node, <<"n1">>, [1.5, #{k => v}]},
    {ok, S3, _} = ?M:update({add, e}, Actor, ?M:new()),
    ?assertEqual({orset, [{e, [{Actor, 1}]}], [{Actor, 1, []}]}, ?M:to_term(S3)).

%% Every kind of data term is an element, large ones too (past the C side's stack buffers).
elements_test() ->
    Elements = [1, 1.0, -1, 1 bsl 100, -(1 bsl 100), 0.0, 2.5, 'ü', '日本', <<>>, <<0, 255>>,
                [], [a | b], "string", {}, {1, {2.0, [3]}}, #{}, #{k => [v], 1 => 1.0},
                lists:seq(1, 50), list_to_tuple(lists:seq(1, 20))],
    {ok, S, _} = ?M:update({add_all, Elements}, r1, ?M:new()),
    ?assertEqual(lattice_gset:sort_elements(Elements), ?M:value(S)),
    [?assert(?M:value({contains, E}, S)) || E <- Elements],
    ?assertEqual(ok, ?M:validate(S)),
    O = lattice_object:new(S),
    ?assertEqual(S, lattice_object:snapshot(O)),
    Big = {big, binary:copy(<<"x">>, 100000), lists:seq(1, 3000)},
    {ok, S2, D2} = ?M:update({add, Big}, r1, S),
    ?assertEqual({ok, D2}, lattice_object:update({add, Big}, r1, O)),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    ?assert(lattice_object:value({contains, Big}, O)),
    {ok, S3, D3} = ?M:update({remove, Big}, r2, S2),
    ?assertEqual({ok, D3}, lattice_object:update({remove, Big}, r2, O)),
    ?assertEqual(S3, lattice_object:snapshot(O)),
    ?assertEqual(?M:value(S), ?M:value(S3)).

%% ---- objects ------------------------------------------------------------------------------

object_test() ->
    O = lattice_object:new(?M),
    ?assertEqual(?EMPTY, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(?M:new()), lattice_object:digest(O)),
    ?assertEqual([], lattice_object:value(O)),
    ?assertEqual(0, lattice_object:value(size, O)),
    {ok, D1} = lattice_object:update({add_all, [b, a]}, r1, O),
    {ok, S1, D1} = ?M:update({add_all, [b, a]}, r1, ?M:new()),
    {ok, D2} = lattice_object:update({remove, a}, r1, O),
    {ok, S2, D2} = ?M:update({remove, a}, r1, S1),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(S2), lattice_object:digest(O)),
    ?assertEqual([b], lattice_object:value(O)),
    ?assert(lattice_object:value({contains, b}, O)),
    ?assertNot(lattice_object:value({contains, a}, O)),
    %% A concurrent add from elsewhere, joined: add wins over the remove.
    {ok, _, Dc} = ?M:update({add, a}, r2, ?M:merge(?M:new(), D1)),
    ?assertEqual(ok, lattice_object:join(Dc, O)),
    ?assertEqual(?M:merge(S2, Dc), lattice_object:snapshot(O)),
    ?assertEqual([a, b], lattice_object:value(O)),
    ?assertEqual(2, lattice_object:value(size, O)),
    %% Deltas joined out of order into a second object.
    O2 = lattice_object:new(?M),
    [ok = lattice_object:join(D, O2) || D <- [Dc, D2, D1]],
    ?assertEqual(lattice_object:snapshot(O), lattice_object:snapshot(O2)),
    ?assertEqual(lattice_object:digest(O), lattice_object:digest(O2)),
    %% An object made from a state holds it.
    O3 = lattice_object:new(lattice_object:snapshot(O)),
    ?assertEqual(lattice_object:digest(O), lattice_object:digest(O3)),
    %% Other types' states are refused and change nothing.
    {ok, G, _} = lattice_gset:update({add, a}, r1, lattice_gset:new()),
    ?assertEqual({error, {bad_orset, wrong_type}}, lattice_object:join(G, O)),
    ?assertEqual({error, {bad_gset, wrong_type}},
                 lattice_object:join(lattice_object:snapshot(O), lattice_object:new(G))),
    ?assertEqual(lattice_object:snapshot(O2), lattice_object:snapshot(O)).

%% Found by fuzzing: one side's context for r3 ends at counter 2^64 - 1 and covers the other's
%% cloud for r3, so every element is removed. The object must drop that cloud too (base + 1
%% wraps to 0 there), and agree with the binary merge.
counter_max_test() ->
    A = <<20,1,2,52,171,227,12,71,149,39,73,4,4,2,114,51,255,255,255,191,3,5,1,120,1,1,4,248,
          120,246,49,49,81,13,24,4,4,2,114,49,196,4,0,4,8,19,11,119,221,239,88,7,33,158,145,251,
          36,72,236,233,48,186,190,72,94,183,249,205,116,174,116,62,252,72,190,179,2,1,2,1,0,48,
          3,5,1,120,1,1,4,3,4,1,97,1,1,17,3,4,1,98,1,0,2>>,
    B = <<20,1,2,52,171,227,12,71,149,39,73,4,4,2,114,51,255,255,255,255,255,255,255,255,255,1,
          0,248,120,246,49,49,81,13,24,4,4,2,114,49,196,4,0,4,8,19,11,119,221,239,88,7,33,158,
          145,251,36,72,236,233,48,186,190,72,94,183,249,205,116,174,116,62,252,72,190,179,2,1,
          2,1,0,42,3,5,1,120,1,1,2,3,4,1,97,1,1,11,3,4,1,98,1,0,1>>,
    ?assertEqual(ok, ?M:validate(A)),
    ?assertEqual(ok, ?M:validate(B)),
    M = ?M:merge(A, B),
    ?assertEqual({orset, [], [{r3, 16#ffffffffffffffff, []}, {r1, 580, []}]}, ?M:to_term(M)),
    O = lattice_object:new(A),
    ?assertEqual(ok, lattice_object:join(B, O)),
    ?assertEqual(M, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(M), lattice_object:digest(O)).

object_shared_by_processes_test() ->
    O = lattice_object:new(?M),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               [{ok, _} = lattice_object:update({add, {I, J}}, {actor, I}, O)
                                || J <- lists:seq(1, 300)],
                               [{ok, _} = lattice_object:update({remove, {I, J}}, {actor, I}, O)
                                || J <- lists:seq(1, 300, 3)],
                               Self ! {done, self()}
                       end) || I <- lists:seq(1, 8)],
    [receive {done, P} -> ok end || P <- Pids],
    ?assertEqual(1600, lattice_object:value(size, O)),
    S = lattice_object:snapshot(O),
    ?assertEqual(ok, ?M:validate(S)),
    ?assertEqual(?M:digest(S), lattice_object:digest(O)),
    ?assertEqual(lists:sort([{I, J} || I <- lists:seq(1, 8), J <- lists:seq(1, 300),
                                       (J - 1) rem 3 =/= 0]),
                 lattice_object:value(O)).

%% Adding and removing 5000 elements, many times, through objects (updated, and joined with
%% the deltas): the dead keys pass the compaction threshold (1024) again and again; the
%% snapshot, digest, value and queries stay those of the binary path.
object_churn_test_() ->
    {timeout, 300, fun object_churn/0}.

object_churn() ->
    N = 5000,
    O = lattice_object:new(?M),
    J = lattice_object:new(?M),
    Apply = fun(Op, Actor, S) ->
                    {ok, S2, D} = ?M:update(Op, Actor, S),
                    ?assertEqual({ok, D}, lattice_object:update(Op, Actor, O)),
                    ok = lattice_object:join(D, J),
                    S2
            end,
    Check = fun(S) ->
                    ?assertEqual(S, lattice_object:snapshot(O)),
                    ?assertEqual(S, lattice_object:snapshot(J)),
                    ?assertEqual(?M:digest(S), lattice_object:digest(O)),
                    ?assertEqual(?M:digest(S), lattice_object:digest(J)),
                    V = ?M:value(S),
                    ?assertEqual(V, lattice_object:value(O)),
                    ?assertEqual(V, lattice_object:value(J)),
                    ?assertEqual(length(V), lattice_object:value(size, O)),
                    ?assertEqual(length(V), lattice_object:value(size, J))
            end,
    Final = lists:foldl(
              fun(Round, S0) ->
                      %% Elements recur every third round: dead keys come back to life.
                      Es = [{Round rem 3, I} || I <- lists:seq(1, N)],
                      Actor = {a, Round rem 2},
                      S1 = Apply({add_all, Es}, Actor, S0),
                      ?assertEqual(length(lists:usort(?M:value(S0) ++ Es)), ?M:value(size, S1)),
                      S2 = case Round rem 3 of
                               0 ->
                                   %% One at a time, with a look at the queries on the way.
                                   lists:foldl(fun(E, Acc) ->
                                                       Acc2 = Apply({remove, E}, Actor, Acc),
                                                       false = lattice_object:value({contains, E}, O),
                                                       Acc2
                                               end, S1, Es);
                               1 ->
                                   Apply({remove_all, Es}, Actor, S1);
                               2 ->
                                   %% Half, in chunks, by the other actor; the rest stays.
                                   Odd = [E || {_, I} = E <- Es, I rem 2 =:= 1],
                                   lists:foldl(fun(Chunk, Acc) ->
                                                       Apply({remove_all, Chunk}, {a, 1 - Round rem 2}, Acc)
                                               end, S1, chunks(Odd, 500))
                           end,
                      Check(S2),
                      S2
              end, ?M:new(), lists:seq(1, 6)),
    %% What is left: the even halves of the {2, _} rounds (2 of them, the same elements).
    ?assertEqual([{2, I} || I <- lists:seq(2, N, 2)], ?M:value(Final)),
    %% Both actors' contexts stay compact (no cloud): every delta was applied in order.
    {orset, _, Ctx} = ?M:to_term(Final),
    ?assertEqual([[], []], [Cloud || {_, _, Cloud} <- Ctx]),
    %% Remove the rest: an empty value, the context left.
    Empty = Apply({remove_all, ?M:value(Final)}, {a, 0}, Final),
    Check(Empty),
    ?assertEqual(0, lattice_object:value(size, O)),
    {ok, _} = lattice_object:update({add, back}, {a, 0}, O),
    ?assertEqual([back], lattice_object:value(O)).

chunks([], _) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) ->
    {H, T} = lists:split(N, L),
    [H | chunks(T, N)].

%% 300 actors each add an element of their own and a shared one: the merged state is the same
%% in any order of merging, on binaries and objects; a remove that saw all takes them all.
many_actors_test_() ->
    {timeout, 120, fun many_actors/0}.

many_actors() ->
    N = 300,
    Deltas = [begin
                  {ok, _, D} = ?M:update({add_all, [{own, I}, common]}, {actor, I}, ?M:new()),
                  D
              end || I <- lists:seq(1, N)],
    S = lists:foldl(fun(D, Acc) -> ?M:merge(Acc, D) end, ?M:new(), Deltas),
    ?assertEqual(S, lists:foldl(fun(D, Acc) -> ?M:merge(D, Acc) end, ?M:new(),
                                lists:reverse(Deltas))),
    Shuffled = [D || {_, D} <- lists:sort([{erlang:phash2(D), D} || D <- Deltas])],
    ?assertEqual(S, tree_merge(Shuffled)),
    ?assertEqual(ok, ?M:validate(S)),
    ?assertEqual(N + 1, ?M:value(size, S)),
    {orset, Entries, Ctx} = ?M:to_term(S),
    ?assertEqual(N, length(Ctx)),
    ?assertEqual(lists:sort([{{actor, I}, 2, []} || I <- lists:seq(1, N)]), lists:sort(Ctx)),
    {common, CommonDots} = lists:keyfind(common, 1, Entries),
    ?assertEqual(lists:sort([{{actor, I}, 2} || I <- lists:seq(1, N)]), lists:sort(CommonDots)),
    O = lattice_object:new(?M),
    [ok = lattice_object:join(D, O) || D <- Shuffled],
    ?assertEqual(S, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(S), lattice_object:digest(O)),
    %% One actor removes the shared element, having seen every add.
    {ok, S2, Dr} = ?M:update({remove, common}, {actor, 7}, S),
    ?assertEqual({ok, Dr}, lattice_object:update({remove, common}, {actor, 7}, O)),
    ?assertNot(?M:value({contains, common}, S2)),
    ?assertEqual(N, ?M:value(size, S2)),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    %% Another re-adds it concurrently with the remove (before seeing it): it survives.
    {ok, _, Da} = ?M:update({add, common}, {actor, 9}, S),
    ?assertEqual(?M:merge(S2, Da), ?M:merge(Da, S2)),
    ?assertEqual({common, [{{actor, 9}, 3}]},
                 lists:keyfind(common, 1, element(2, ?M:to_term(?M:merge(S2, Da))))).

tree_merge([S]) -> S;
tree_merge(L) ->
    {A, B} = lists:split(length(L) div 2, L),
    ?M:merge(tree_merge(A), tree_merge(B)).

%% ---- errors -------------------------------------------------------------------------------

badarg_test() ->
    {ok, S, _} = ?M:update({add_all, [a, b]}, r1, ?M:new()),
    NotData = [self(), make_ref(), fun() -> ok end, {a, self()}, [a, make_ref()], <<1:3>>,
               #{k => self()}],
    BadOps = [{add}, {add, a, b}, add, {add_all, a}, {add_all, [a | b]}, {remove}, remove,
              {remove, a, b}, {remove_all, a}, {remove_all, [a | b]}, {add_all, <<"ab">>},
              {increment, 1}, {assign, a}, {put, a, b}, {put, a, b, 1}, "add", {"add", a},
              {remove_all}, {add_all, [a], b}]
        ++ [{add, E} || E <- NotData] ++ [{add_all, [a, E]} || E <- NotData]
        ++ [{remove, E} || E <- NotData] ++ [{remove_all, [a, E]} || E <- NotData],
    [?assertError(badarg, ?M:update(Op, r1, S)) || Op <- BadOps],
    %% An actor that is not data, or larger than 1024 bytes encoded (a binary of n bytes
    %% encodes in n + 3).
    BigActor = binary:copy(<<1>>, 1022),
    ?assertMatch({ok, _, _}, ?M:update({add, a}, binary:copy(<<1>>, 1021), S)),
    [?assertError(badarg, ?M:update(Op, Actor, S))
     || Actor <- NotData ++ [BigActor, binary:copy(<<1>>, 5000)],
        Op <- [{add, c}, {add_all, [c]}, {remove, a}, {remove_all, [a]}]],
    BadQueries = [contains, {contains}, {contains, a, b}, sizes, {size}, {get, a}, value]
        ++ [{contains, E} || E <- NotData],
    [?assertError(badarg, ?M:value(Q, S)) || Q <- BadQueries],
    %% A state that is not a binary: lattice_type_contract_tests.
    %% The NIFs refuse a tag that is not a dot kernel type's.
    [?assertError(badarg, lattice_nif:dk_merge(Tag, S, S)) || Tag <- [16#12, 16#13, 16#15, -1, a]],
    [?assertError(badarg, lattice_nif:dk_value(Tag, S)) || Tag <- [16#12, 16#7f, a]],
    [?assertError(badarg, lattice_nif:dk_update(Tag, {add, a}, r1, S)) || Tag <- [16#12, a]],
    %% The OR-Set's ops are not another dot kernel type's.
    ?assertError(badarg, lattice_nif:dk_update(16#18, {add, a}, r1, S)),
    %% Objects: an unknown op, query, element or actor is badarg, and changes nothing.
    O = lattice_object:new(S),
    [?assertError(badarg, lattice_object:update(Op, r1, O)) || Op <- BadOps],
    [?assertError(badarg, lattice_object:update({add, c}, Actor, O))
     || Actor <- NotData ++ [BigActor]],
    [?assertError(badarg, lattice_object:value(Q, O)) || Q <- BadQueries],
    ?assertEqual(S, lattice_object:snapshot(O)),
    ?assertError(badarg, lattice_object:join(S, not_an_object)),
    ?assertError(badarg, lattice_object:join(not_a_state, O)).

%% The binary format, as a term, to forge binaries: {Actors, Entries}, Actors [{Id, Bytes,
%% Base, Gaps}] in order, Entries [{Id, Key, [{ActorIndex, Counter}]}].
decode(<<16#14, 1, Rest/binary>>) ->
    {Na, R1} = uvar(Rest),
    {Actors, R2} = actors(Na, R1, []),
    {Ne, R3} = uvar(R2),
    <<IdsBin:(8 * Ne)/binary, R4/binary>> = R3,
    {Entries, <<>>} = entries([Id || <<Id:64>> <= IdsBin], R4, []),
    {Actors, Entries}.

actors(0, R, Acc) -> {lists:reverse(Acc), R};
actors(N, <<Id:64, R0/binary>>, Acc) ->
    {Len, R1} = uvar(R0),
    <<Bytes:Len/binary, R2/binary>> = R1,
    {Base, R3} = uvar(R2),
    {K, R4} = uvar(R3),
    {Gaps, R5} = uvars(K, R4),
    actors(N - 1, R5, [{Id, Bytes, Base, Gaps} | Acc]).

entries([], R, Acc) -> {lists:reverse(Acc), R};
entries([Id | Ids], R0, Acc) ->
    {Len, R1} = uvar(R0),
    <<Key:Len/binary, R2/binary>> = R1,
    {Nd, R3} = uvar(R2),
    {Flat, R4} = uvars(2 * Nd, R3),
    entries(Ids, R4, [{Id, Key, pairs(Flat)} | Acc]).

pairs([A, C | T]) -> [{A, C} | pairs(T)];
pairs([]) -> [].

uvars(0, R) -> {[], R};
uvars(N, R0) ->
    {V, R1} = uvar(R0),
    {Vs, R2} = uvars(N - 1, R1),
    {[V | Vs], R2}.

uvar(<<0:1, V:7, R/binary>>) -> {V, R};
uvar(<<1:1, V:7, R0/binary>>) ->
    {Hi, R1} = uvar(R0),
    {(Hi bsl 7) bor V, R1}.

encode({Actors, Entries}) ->
    iolist_to_binary(
      [16#14, 1, var(length(Actors)),
       [[<<Id:64>>, var(byte_size(B)), B, var(Base), var(length(Gaps)), [var(G) || G <- Gaps]]
        || {Id, B, Base, Gaps} <- Actors],
       var(length(Entries)), [<<Id:64>> || {Id, _, _} <- Entries],
       [[var(byte_size(K)), K, var(length(Dots)), [[var(A), var(C)] || {A, C} <- Dots]]
        || {_, K, Dots} <- Entries]]).

var(V) when V < 128 -> <<V>>;
var(V) -> <<1:1, (V band 127):7, (var(V bsr 7))/binary>>.

%% A state with two actors, a cloud (r2's first delta missing), and an element with two dots.
good_state() ->
    {ok, S1, _} = ?M:update({add_all, [a, b, c]}, r1, ?M:new()),
    {ok, R2, _} = ?M:update({add, x}, r2, ?M:new()),
    {ok, _, Dy} = ?M:update({add, a}, r2, R2),
    ?M:merge(S1, Dy).

%% Binaries every function refuses (each call checks the structure).
bad_orsets(Good) ->
    {Actors, Entries} = T = decode(Good),
    ?assertEqual(Good, encode(T)),
    [{I0, B0, Base0, Gaps0}, A1] = Actors,
    [E1, E2, E3] = Entries,
    {Id1, K1, Dots1} = E1,
    Na = length(Actors),
    WithDots = fun(Dots) -> encode({Actors, [{Id1, K1, Dots}, E2, E3]}) end,
    {Ai, C} = hd(Dots1),
    <<_:2/binary, Body/binary>> = Good,
    Prefixes = [binary:part(Good, 0, N) || N <- lists:seq(0, byte_size(Good) - 1)],
    Prefixes ++
        [<<Good/binary, 0>>, <<Good/binary, 1, 2, 3>>,
         <<16#14, 2, Body/binary>>, <<16#14, 0, Body/binary>>, <<16#14, 255, Body/binary>>,
         <<16#12, 1, Body/binary>>, <<16#13, 1, Body/binary>>,
         <<16#17, 1, Body/binary>>, <<16#18, 1, Body/binary>>,
         lattice_gset:new(), element(2, lattice_gset:update({add_all, [a, b]}, r1, lattice_gset:new())),
         element(2, lattice_twopset:update({add, a}, r1, lattice_twopset:new())),
         element(2, lattice_lwwmap:update({put, k, v, 5}, r1, lattice_lwwmap:new())),
         lattice_lwwmap:new(), <<16#18, 1, 0, 0>>,
         <<"garbage">>, <<255, 255, 255, 255>>, <<16#14>>, <<16#14, 1>>, <<16#14, 1, 0>>,
         <<16#14, 1, 16#80, 0, 0>>,                                 % na not minimal
         <<16#14, 1, 0, 16#80, 0>>,                                 % ne not minimal
         <<16#14, 1, 0, 1>>,                                        % a key, no id
         <<16#14, 1, 0, 1, 0:64, 1, $a, 1, 0, 1>>,                  % a dot, no actor
         %% A dot outside the context: past its actor's base, and not in its cloud.
         WithDots(Dots1 ++ [{Ai, 1000}]),
         WithDots([{Ai, top(lists:nth(Ai + 1, Actors)) + 1}]),
         %% ... or in the gap below an actor's cloud.
         WithDots([{Ig, GBase + 1} || {Ig, {_, _, GBase, [_ | _]}} <- enumerate(Actors)]),
         %% An actor index out of range, a counter of 0.
         WithDots([{Na, 1}]), WithDots([{Ai, 0}]),
         %% A key without dots.
         WithDots([]),
         %% Dots out of order, or twice.
         WithDots(lists:reverse(Dots1)), WithDots([{Ai, C}, {Ai, C}]),
         %% Keys out of order, or twice.
         encode({Actors, [E2, E1, E3]}), encode({Actors, [E1, E3, E2]}),
         encode({Actors, [E1, E1, E3]}),
         %% Actors out of order, or twice; an empty actor; a cloud gap of 0.
         encode({[A1, {I0, B0, Base0, Gaps0}], Entries}),
         encode({[A1, A1], Entries}),
         encode({[{I0, <<>>, Base0, Gaps0}, A1], Entries}),
         encode({[{I0, B0, Base0, Gaps0 ++ [0]}, A1], Entries}),
         %% A count of keys or actors that does not match what follows.
         iolist_to_binary([binary:part(encode({Actors, [E1, E2]}), 0, 2), var(Na + 1),
                           binary:part(encode({Actors, [E1, E2]}), 3,
                                       byte_size(encode({Actors, [E1, E2]})) - 3)])]
        ++ [encode({Actors2, Entries}) || Actors2 <- [[{I0, B0, Base0, Gaps0}], []]].

%% The highest counter of an actor's context.
top({_, _, Base, []}) -> Base;
top({_, _, Base, Gaps}) -> Base + 1 + lists:sum(Gaps).

enumerate(L) -> lists:zip(lists:seq(0, length(L) - 1), L).

%% Binaries only the full checks (validate/1, to_term/1, value/1, objects) refuse.
forged_orsets(Good) ->
    {Actors, Entries} = decode(Good),
    [E1, E2, E3] = Entries,
    {Id1, K1, Dots1} = E1,
    {Id2, K2, _} = E2,
    [{I0, B0, Base0, Gaps0}, A1] = Actors,
    [%% One dot under two keys.
     encode({Actors, [E1, {Id2, K2, Dots1}, E3]}),
     %% A key whose id is not its hash.
     encode({Actors, [{Id1 bxor 1, K1, Dots1}, E2, E3]}),
     %% A key whose bytes are not a canonical term (the id matches the bytes).
     encode({Actors, [{lattice_hash:xxh3_64(<<1, 2, 7>>), <<1, 2, 7>>, Dots1}, E2, E3]}),
     %% An actor whose id is not its hash.
     encode({[{I0 bxor 1, B0, Base0, Gaps0}, A1], Entries})].

bad_data_test_() ->
    {timeout, 120, fun bad_data/0}.

bad_data() ->
    Good = good_state(),
    ?assertEqual(ok, ?M:validate(Good)),
    Bads = bad_orsets(Good),
    Forged = forged_orsets(Good),
    [begin
         Check = fun(R) ->
                         ?assertMatch({{error, {bad_orset, Reason}}, _} when is_atom(Reason),
                                      {R, Bad})
                 end,
         [Check(catch_all(F)) || F <- every_call(Bad, Good)]
     end || Bad <- Bads],
    ?assertEqual({error, {bad_orset, truncated}}, ?M:value(<<16#14, 1>>)),
    ?assertEqual({error, {bad_orset, unknown_version}}, ?M:value(<<16#14, 2, 0, 0>>)),
    ?assertEqual({error, {bad_orset, trailing_bytes}}, ?M:merge(<<Good/binary, 0>>, Good)),
    ?assertEqual({error, {bad_orset, wrong_type}},
                 ?M:merge(Good, element(2, lattice_gset:update({add, a}, r1, lattice_gset:new())))),
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_type:value(<<16#7f, 1, 0>>)),
    %% Forged binaries: refused by the full checks, never a raise anywhere.
    [begin
         ?assertMatch({{error, {bad_orset, _}}, _}, {?M:validate(F), F}),
         ?assertMatch({{error, {bad_orset, _}}, _}, {?M:to_term(F), F}),
         ?assertMatch({{error, {bad_orset, _}}, _}, {?M:value(F), F}),
         ?assertMatch({{error, {bad_orset, _}}, _}, {lattice_object:new(F), F}),
         ?assertMatch({{error, {bad_orset, _}}, _}, {lattice_object:join(F, lattice_object:new(?M)), F}),
         [?assertNotMatch({raised, _, _}, catch_all(Call)) || Call <- every_call(F, Good)]
     end || F <- Forged],
    %% An object refuses every one of them and stays as it was.
    O = lattice_object:new(Good),
    [?assertMatch({{error, {bad_orset, _}}, _}, {lattice_object:join(B, O), B})
     || B <- Bads ++ Forged],
    ?assertEqual(Good, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(Good), lattice_object:digest(O)),
    ?assertEqual(?M:value(Good), lattice_object:value(O)).

%% Every function on Bad (Good, a valid state, as the other argument).
every_call(Bad, Good) ->
    [fun() -> ?M:merge(Good, Bad) end,
     fun() -> ?M:merge(Bad, Good) end,
     fun() -> ?M:merge(Bad, Bad) end,
     fun() -> ?M:merge(?M:new(), Bad) end,
     fun() -> ?M:value(Bad) end,
     fun() -> ?M:value(size, Bad) end,
     fun() -> ?M:value({contains, a}, Bad) end,
     fun() -> ?M:value({contains, zz}, Bad) end,
     fun() -> ?M:digest(Bad) end,
     fun() -> ?M:to_term(Bad) end,
     fun() -> ?M:validate(Bad) end,
     fun() -> ?M:update({add, c}, r1, Bad) end,
     fun() -> ?M:update({add_all, []}, r1, Bad) end,
     fun() -> ?M:update({add_all, [a, z]}, r3, Bad) end,
     fun() -> ?M:update({remove, a}, r1, Bad) end,
     fun() -> ?M:update({remove_all, [a, b]}, r1, Bad) end,
     fun() -> ?M:update({remove_all, []}, r1, Bad) end,
     fun() -> new_orset_object(Bad) end,
     fun() -> lattice_object:join(Bad, lattice_object:new(Good)) end,
     fun() -> lattice_object:join(Bad, lattice_object:new(?M)) end].

%% lattice_object:new/1 of a binary of another type makes an object of that type, or raises
%% badarg for a type without objects: only OR-Set binaries are ours to check.
new_orset_object(<<16#14, _/binary>> = Bin) -> lattice_object:new(Bin);
new_orset_object(_) -> {error, {bad_orset, not_ours}}.

%% ---- properties ---------------------------------------------------------------------------

props_test_() ->
    Props = [P || {P, 0} <- ?MODULE:module_info(exports), lists:prefix("prop_", atom_to_list(P))],
    [{atom_to_list(P), {timeout, 600,
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

%% Elements: mostly a small pool, so that histories add and remove the same ones; numbers
%% that compare equal as integers and floats; now and then any data term.
element() ->
    frequency([{8, elements([a, b, c, d, <<"x">>, {k, 1}])},
               {3, oneof([range(-2, 2), ?LET(I, range(-2, 2), float(I))])},
               {1, data()}]).

data() ->
    ?SIZED(Size, data(min(Size, 10))).

data(0) ->
    oneof([int(), real(), elements([ok, 'with space', 'Élan', '日本語']), binary(), [], {}]);
data(Size) ->
    frequency([{4, data(0)},
               {1, ?LAZY(list(data(Size div 3)))},
               {1, ?LAZY(?LET(L, list(data(Size div 3)), list_to_tuple(L)))},
               {1, ?LAZY(?LET(L, list({data(Size div 4), data(Size div 4)}), maps:from_list(L)))}]).

%% Lists with repeats now and then (the same element twice in one op).
elements_list() ->
    oneof([list(element()), ?LET({L, E}, {list(element()), element()}, [E | L] ++ [E])]).

op() ->
    frequency([{4, {add, element()}}, {2, {add_all, elements_list()}},
               {4, {remove, element()}}, {2, {remove_all, elements_list()}}]).

%% A multi-replica history: ops at replicas, delta deliveries (in any order, some twice) and
%% full-state syncs.
sim_cmds(N) ->
    list(frequency([{6, {op, range(1, N), op()}},
                    {3, {deliver, nat()}},
                    {1, {sync, range(1, N), range(1, N)}}])).

actor(R) -> list_to_atom("r" ++ integer_to_list(R)).

%% Runs a history over N replicas (binary states only). Returns the final states and every
%% delta made.
sim(N, Cmds) ->
    Init = maps:from_list([{R, ?M:new()} || R <- lists:seq(1, N)]),
    {Rs, _, Ds} =
        lists:foldl(
          fun({op, R, Op}, {Acc, Net, Ds}) ->
                  case ?M:update(Op, actor(R), maps:get(R, Acc)) of
                      {ok, S2, D} ->
                          {Acc#{R := S2}, Net ++ [{To, D} || To <- maps:keys(Acc), To =/= R],
                           [D | Ds]};
                      {error, {precondition, _}} ->
                          {Acc, Net, Ds}
                  end;
             ({deliver, _}, {Acc, [], Ds}) ->
                  {Acc, [], Ds};
             ({deliver, K}, {Acc, Net, Ds}) ->
                  {Before, [{To, D} | After]} = lists:split(K rem length(Net), Net),
                  Net2 = case K rem 5 of 0 -> Net; _ -> Before ++ After end,
                  {Acc#{To := ?M:merge(maps:get(To, Acc), D)}, Net2, Ds};
             ({sync, From, To}, {Acc, Net, Ds}) ->
                  {Acc#{To := ?M:merge(maps:get(To, Acc), maps:get(From, Acc))}, Net, Ds}
          end, {Init, [], []}, Cmds),
    {[maps:get(R, Rs) || R <- lists:seq(1, N)], lists:reverse(Ds)}.

pick(Pool, I) -> lists:nth(1 + I rem length(Pool), Pool).

laws(A, B, C) ->
    AB = ?M:merge(A, B),
    AB =:= ?M:merge(B, A)
        andalso ?M:merge(AB, C) =:= ?M:merge(A, ?M:merge(B, C))
        andalso ?M:merge(?M:merge(A, C), B) =:= ?M:merge(AB, C)
        andalso ?M:merge(A, A) =:= A
        andalso ?M:merge(A, ?M:new()) =:= A
        andalso ?M:merge(?M:new(), A) =:= A
        andalso ?M:merge(AB, A) =:= AB
        andalso ?M:merge(AB, B) =:= AB
        andalso ?M:digest(AB) =:= ?M:digest(?M:merge(B, A))
        andalso ?M:validate(AB) =:= ok
        andalso ?M:value(AB) =:= ?M:value(?M:merge(B, A)).

%% Commutative, associative, idempotent, on the replicas' final states and on any three of
%% the states and deltas of one history.
prop_laws() ->
    ?FORALL({Cmds, I, J, K}, {sim_cmds(3), nat(), nat(), nat()},
            begin
                {[A, B, C] = Finals, Ds} = sim(3, Cmds),
                Pool = Finals ++ Ds,
                ?WHENFAIL(io:format("finals ~p~n", [[?M:to_term(S) || S <- Finals]]),
                          laws(A, B, C)
                          andalso laws(pick(Pool, I), pick(Pool, J), pick(Pool, K)))
            end).

%% Every update is an inflation, its delta merged into the state before it gives the state
%% after (from either side), and the object agrees on the delta, the state, the digest, the
%% value and the queries; a failed precondition fails the same way on both and changes
%% nothing.
prop_inflation_and_deltas() ->
    ?FORALL({Cmds, R, Op, Probe}, {sim_cmds(3), range(1, 3), op(), element()},
            begin
                {Finals, _} = sim(3, Cmds),
                S = lists:nth(R, Finals),
                O = lattice_object:new(S),
                case ?M:update(Op, actor(R), S) of
                    {ok, S2, D} ->
                        ?M:merge(S, S2) =:= S2
                            andalso ?M:merge(S2, S) =:= S2
                            andalso ?M:merge(S, D) =:= S2
                            andalso ?M:merge(D, S) =:= S2
                            andalso ?M:merge(S2, D) =:= S2
                            andalso ?M:validate(D) =:= ok
                            andalso ?M:validate(S2) =:= ok
                            andalso lattice_object:update(Op, actor(R), O) =:= {ok, D}
                            andalso same_answers(S2, O, Probe)
                            andalso adds_present(Op, S2);
                    {error, {precondition, {not_present, E}}} = Error ->
                        not ?M:value({contains, E}, S)
                            andalso lattice_object:update(Op, actor(R), O) =:= Error
                            andalso lattice_object:snapshot(O) =:= S
                end
            end).

%% After an add the elements are present; after a remove they are gone.
adds_present({add, E}, S) -> ?M:value({contains, E}, S);
adds_present({add_all, Es}, S) -> lists:all(fun(E) -> ?M:value({contains, E}, S) end, Es);
adds_present({remove, E}, S) -> not ?M:value({contains, E}, S);
adds_present({remove_all, Es}, S) -> not lists:any(fun(E) -> ?M:value({contains, E}, S) end, Es).

same_answers(S, O, Probe) ->
    V = ?M:value(S),
    lattice_object:snapshot(O) =:= S
        andalso lattice_object:digest(O) =:= ?M:digest(S)
        andalso lattice_object:value(O) =:= V
        andalso lattice_object:value(size, O) =:= length(V)
        andalso ?M:value(size, S) =:= length(V)
        andalso lattice_object:value({contains, Probe}, O) =:= lists:member(Probe, V)
        andalso ?M:value({contains, Probe}, S) =:= lists:member(Probe, V)
        andalso lists:all(fun(E) -> lattice_object:value({contains, E}, O) end, V).

%% Objects against binaries through whole histories: every replica is a binary and an object;
%% each op gives the same delta on both, each delivery joins into both, and after every step
%% both give the same state, digest, value and answers.
prop_object_agrees() ->
    ?FORALL({Cmds, Probe}, {sim_cmds(3), element()},
            begin
                Init = maps:from_list([{R, {?M:new(), lattice_object:new(?M)}} || R <- [1, 2, 3]]),
                Step =
                    fun({op, R, Op}, {Acc, Net}) ->
                            {S, O} = maps:get(R, Acc),
                            case {?M:update(Op, actor(R), S), lattice_object:update(Op, actor(R), O)} of
                                {{ok, S2, D}, {ok, D}} ->
                                    true = same_answers(S2, O, Probe),
                                    {Acc#{R := {S2, O}}, Net ++ [{To, D} || To <- [1, 2, 3], To =/= R]};
                                {{error, _} = E, E} ->
                                    true = same_answers(S, O, Probe),
                                    {Acc, Net}
                            end;
                       ({deliver, _}, {Acc, []}) ->
                            {Acc, []};
                       ({deliver, K}, {Acc, Net}) ->
                            {Before, [{To, D} | After]} = lists:split(K rem length(Net), Net),
                            {S, O} = maps:get(To, Acc),
                            S2 = ?M:merge(S, D),
                            ok = lattice_object:join(D, O),
                            true = same_answers(S2, O, Probe),
                            {Acc#{To := {S2, O}}, Before ++ After};
                       ({sync, From, To}, {Acc, Net}) ->
                            {SF, OF} = maps:get(From, Acc),
                            {S, O} = maps:get(To, Acc),
                            S2 = ?M:merge(S, lattice_object:snapshot(OF)),
                            ok = lattice_object:join(SF, O),
                            true = same_answers(S2, O, Probe),
                            {Acc#{To := {S2, O}}, Net}
                    end,
                try lists:foldl(Step, {Init, []}, Cmds) of
                    _ -> true
                catch
                    error:{badmatch, _} = Why -> {failed, Why}
                end =:= true
            end).

%% Convergence against the tombstone model (lattice_convergence, mirror mode): after every
%% op and delivery each replica's value is its model's, and all converge.
prop_converges() ->
    ?FORALL({N, Cmds}, {range(3, 5), lattice_convergence:history(5, op())},
            lattice_convergence:run(?M, N, {[C || C <- Cmds, replica_ok(C, N)],
                                             {mirror, lattice_orset_model}}) =:= true).

replica_ok({op, R, _}, N) -> R =< N;
replica_ok({sync, A, B}, N) -> A =< N andalso B =< N;
replica_ok(_, _) -> true.

%% Any bytes, random or a real state mutated: no function raises; a binary validate/1
%% accepts re-encodes to itself (merged with itself, into the empty state, through an object).
prop_garbage() ->
    ?FORALL(Bin, garbage(),
            begin
                Good = good_state(),
                Raised = [R || F <- every_call(Bin, Good), {raised, _, _} = R <- [catch_all(F)]]
                    ++ [R || R <- [catch_all(fun() -> lattice_type:value(Bin) end)],
                             element(1, R) =:= raised],
                Reencodes = case ?M:validate(Bin) of
                                ok -> reencodes(Bin);
                                {error, {bad_orset, _}} -> true
                            end,
                ?WHENFAIL(io:format("~p: ~p~n", [Bin, Raised]), Raised =:= [] andalso Reencodes)
            end).

reencodes(Bin) ->
    O = lattice_object:new(Bin),
    ?M:merge(Bin, Bin) =:= Bin
        andalso ?M:merge(?M:new(), Bin) =:= Bin
        andalso ?M:merge(Bin, ?M:new()) =:= Bin
        andalso lattice_object:snapshot(O) =:= Bin
        andalso lattice_object:digest(O) =:= ?M:digest(Bin)
        andalso lattice_object:value(O) =:= ?M:value(Bin)
        andalso ?M:to_term(Bin) =/= error.

garbage() ->
    ?LET(Cmds, sim_cmds(2),
         begin
             {[S1, S2], Ds} = sim(2, Cmds),
             States = [good_state(), S1, S2 | Ds],
             oneof([binary(),
                    ?LET(B, binary(), <<16#14, 1, B/binary>>),
                    ?LET({S, P, X}, {elements(States), nat(), byte()}, flip(S, P, X)),
                    ?LET({S, P, X, Q, Y}, {elements(States), nat(), byte(), nat(), byte()},
                         flip(flip(S, P, X), Q, Y)),
                    ?LET({S, P}, {elements(States), nat()}, cut(S, P)),
                    ?LET({S, P, B}, {elements(States), nat(), binary()},
                         <<(cut(S, P))/binary, B/binary>>),
                    ?LET({S, T, P, Q}, {elements(States), elements(States), nat(), nat()},
                         splice(S, T, P, Q))])
         end).

flip(<<>>, _, _) -> <<>>;
flip(Bin, Pos, X) ->
    N = Pos rem byte_size(Bin),
    <<Pre:N/binary, B, Post/binary>> = Bin,
    <<Pre/binary, (B bxor X), Post/binary>>.

cut(Bin, Pos) -> binary:part(Bin, 0, Pos rem (byte_size(Bin) + 1)).

%% The head of one state and the tail of another.
splice(A, B, P, Q) ->
    Tail = binary:part(B, Q rem (byte_size(B) + 1), byte_size(B) - Q rem (byte_size(B) + 1)),
    <<(cut(A, P))/binary, Tail/binary>>.

catch_all(F) ->
    try F() catch Class:Reason -> {raised, Class, Reason} end.

%% ---- helpers ------------------------------------------------------------------------------

ctx_of(S) ->
    {orset, _, Ctx} = ?M:to_term(S),
    Ctx.

sort_dots({orset, Entries, Ctx}) ->
    {orset, [{E, lists:sort(Ds)} || {E, Ds} <- Entries], Ctx}.

%% ---- latency ------------------------------------------------------------------------------

%% With one scheduler online, a process ticking every millisecond is never kept waiting long
%% (STYLE.md habit 6) while two million-element OR-Sets that share most of their elements are
%% merged, the result read, and one of them joined into an object of the other.
latency_test_() ->
    {timeout, 600, fun latency/0}.

-define(BIG, 1000000).

latency() ->
    garbage_collect(),
    Online = erlang:system_flag(schedulers_online, 1),
    try
        Measure = fun() ->
            {Gaps, Results, Setup} = lattice_ticker:run(fun latency_setup/0, fun latency_work/1),
            %% e1..e1000 removed by r2, e500..e1500 by r3 (both had seen them); 1000 new
            %% elements on each side.
            Size = ?BIG - 1500 + 2000,
            [M, MSize, Valid, Digest, Joined, Snap, OSize, ODigest, MA, BM] = Results,
            ?assertEqual([Size, ok, ok, Size], [MSize, Valid, Joined, OSize]),
            ?assert(M =:= Snap andalso M =:= MA andalso M =:= BM),
            ?assertEqual(Digest, ODigest),
            MaxGap = lists:max(Gaps),
            io:format(user, "~norset latency (~b elements, setup ~.1f s): ~b ticks, "
                      "longest gap ~.2f ms (limit 20 ms)~n",
                      [?BIG, Setup / 1000, length(Gaps), MaxGap]),
            ?assert(length(Gaps) > 10),
            MaxGap
        end,
        ?assert(lattice_ticker:best_of_two(20, Measure) < 20)
    after
        erlang:system_flag(schedulers_online, Online)
    end.

%% Runs in the worker, before the ticker starts: builds the states there (only binaries and
%% objects, cheap to hold, no big term copied between processes).
latency_setup() ->
    O = lattice_object:new(?M),
    [{ok, _} = lattice_object:update({add_all, [{e, I} || I <- lists:seq(K, K + 9999)]}, r1, O)
     || K <- lists:seq(1, ?BIG, 10000)],
    Base = lattice_object:snapshot(O),
    {ok, _} = lattice_object:update({add_all, [{f, I} || I <- lists:seq(1, 1000)]}, r2, O),
    {ok, _} = lattice_object:update({remove_all, [{e, I} || I <- lists:seq(1, 1000)]}, r2, O),
    A = lattice_object:snapshot(O),
    Other = lattice_object:new(Base),
    {ok, _} = lattice_object:update({add_all, [{g, I} || I <- lists:seq(1, 1000)]}, r3, Other),
    {ok, _} = lattice_object:update({remove_all, [{e, I} || I <- lists:seq(500, 1500)]}, r3, Other),
    B = lattice_object:snapshot(Other),
    {A, B, lattice_object:new(A)}.

%% Only NIF calls: comparing the results (=:= on 30 MB binaries does not yield) waits until
%% the ticker has stopped.
latency_work({A, B, OA}) ->
    M = ?M:merge(A, B),
    [M,
     ?M:value(size, M),
     ?M:validate(M),
     ?M:digest(M),
     lattice_object:join(B, OA),
     lattice_object:snapshot(OA),
     lattice_object:value(size, OA),
     lattice_object:digest(OA),
     ?M:merge(M, A),
     ?M:merge(B, M)].
