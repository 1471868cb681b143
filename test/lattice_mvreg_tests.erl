%% MV-Register (multi-value register on the dot kernel): examples of its semantics (an assign
%% supersedes what its replica has seen, concurrent assigns are all kept, the same value
%% concurrently is kept once), every badarg and corrupt-binary path, objects, many actors, and
%% properties (lattice laws on states from multi-replica histories, inflation and deltas,
%% garbage, the in-place object against the binary functions, convergence against
%% lattice_mvreg_model).
-module(lattice_mvreg_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(M, lattice_mvreg).
-define(EMPTY, <<16#18, 1, 0, 0>>).

%% ---- examples -----------------------------------------------------------------------------

basic_test() ->
    S0 = ?M:new(),
    ?assertEqual(?EMPTY, S0),
    ?assertEqual([], ?M:value(S0)),
    ?assertEqual(0, ?M:value(size, S0)),
    ?assertNot(?M:value({contains, a}, S0)),
    ?assertEqual({mvreg, [], []}, ?M:to_term(S0)),
    ?assertEqual(ok, ?M:validate(S0)),
    {ok, S1, D1} = ?M:update({assign, x}, r1, S0),
    %% The first assign's delta is the whole state.
    ?assertEqual(S1, D1),
    ?assertEqual([x], ?M:value(S1)),
    ?assertEqual({mvreg, [{x, [{r1, 1}]}], [{r1, 1, []}]}, ?M:to_term(S1)),
    %% The known bytes: one actor r1 (04 02 72 31) at base 1, one key x (04 01 78) with dot
    %% (actor 0, counter 1).
    ?assertEqual(<<16#18, 1, 1, (lattice_hash:xxh3_64(<<4, 2, $r, $1>>)):64, 4, 4, 2, $r, $1,
                   1, 0, 1, (lattice_hash:xxh3_64(<<4, 1, $x>>)):64, 3, 4, 1, $x, 1, 0, 1>>,
                 S1),
    {ok, S2, D2} = ?M:update({assign, y}, r1, S1),
    ?assertEqual([y], ?M:value(S2)),
    ?assertEqual(1, ?M:value(size, S2)),
    ?assert(?M:value({contains, y}, S2)),
    ?assertNot(?M:value({contains, x}, S2)),
    ?assertEqual({mvreg, [{y, [{r1, 2}]}], [{r1, 2, []}]}, ?M:to_term(S2)),
    ?assertEqual(S2, ?M:merge(S1, D2)),
    ?assertEqual(S2, ?M:merge(D2, S1)),
    ?assertEqual(S2, ?M:merge(S2, S1)),
    ?assertEqual(S2, ?M:merge(D1, D2)),
    ?assert(?M:equal(S2, ?M:merge(D2, S1))),
    ?assertNot(?M:equal(S1, S2)),
    ?assertEqual(ok, ?M:validate(S2)),
    %% Assigning the value the register holds still makes a new dot.
    {ok, S3, _} = ?M:update({assign, y}, r2, S2),
    ?assertEqual([y], ?M:value(S3)),
    ?assertEqual({mvreg, [{y, [{r2, 1}]}], [{r1, 2, []}, {r2, 1, []}]}, sort_term(?M:to_term(S3))),
    %% Digests: equal states, equal digests.
    ?assertEqual(?M:digest(S2), ?M:digest(?M:merge(D2, S1))),
    ?assertNotEqual(?M:digest(S1), ?M:digest(S2)),
    ?assertNotEqual(?M:digest(S2), ?M:digest(S3)),
    ?assertMatch(<<_:128>>, ?M:digest(S0)),
    %% lattice_type dispatches on the tag.
    ?assertEqual(lattice_mvreg, lattice_type:module(S2)),
    ?assertEqual([y], lattice_type:value(S2)),
    ?assertEqual(1, lattice_type:value(size, S2)),
    ?assertEqual(true, lattice_type:value({contains, y}, S2)),
    ?assertEqual(?M:digest(S2), lattice_type:digest(S2)),
    ?assertEqual(S2, lattice_type:merge(S1, D2)),
    ?assertEqual(?M:to_term(S2), lattice_type:to_term(S2)),
    ?assertEqual(ok, lattice_type:validate(S2)).

%% Concurrent assigns are all kept, whatever the order of delivery; an assign that has seen
%% them replaces them all, everywhere it goes.
concurrent_test() ->
    {ok, A1, Da} = ?M:update({assign, <<"blue">>}, r1, ?M:new()),
    {ok, B1, Db} = ?M:update({assign, <<"green">>}, r2, ?M:new()),
    AB = ?M:merge(A1, Db),
    ?assertEqual(AB, ?M:merge(B1, Da)),
    ?assertEqual(AB, ?M:merge(Da, Db)),
    ?assertEqual([<<"blue">>, <<"green">>], ?M:value(AB)),
    ?assertEqual(2, ?M:value(size, AB)),
    ?assert(?M:value({contains, <<"green">>}, AB)),
    ?assertEqual({mvreg, [{<<"blue">>, [{r1, 1}]}, {<<"green">>, [{r2, 1}]}],
                  [{r1, 1, []}, {r2, 1, []}]},
                 sort_term(?M:to_term(AB))),
    %% A third concurrent assign, seen by nobody yet.
    {ok, C1, Dc} = ?M:update({assign, <<"red">>}, r3, ?M:new()),
    ABC = ?M:merge(AB, Dc),
    ?assertEqual([<<"blue">>, <<"green">>, <<"red">>], ?M:value(ABC)),
    %% r1 resolves what it saw (blue, green): red, concurrent with that, survives it.
    {ok, A2, Dr} = ?M:update({assign, <<"teal">>}, r1, AB),
    ?assertEqual([<<"teal">>], ?M:value(A2)),
    ?assertEqual([<<"red">>, <<"teal">>], ?M:value(?M:merge(ABC, Dr))),
    ?assertEqual([<<"red">>, <<"teal">>], ?M:value(?M:merge(Dr, C1))),
    ?assertEqual(?M:merge(ABC, Dr), ?M:merge(Dc, ?M:merge(Dr, ?M:merge(Db, Da)))),
    %% The resolving delta reaching a replica that saw only green replaces it.
    ?assertEqual([<<"teal">>], ?M:value(?M:merge(B1, Dr))),
    %% An old delta, delivered again or late, changes nothing.
    Final = ?M:merge(ABC, Dr),
    ?assertEqual(Final, ?M:merge(Final, Da)),
    ?assertEqual(Final, ?M:merge(Final, Db)),
    %% r3, having seen everything, collapses the register to one value.
    {ok, C2, Dc2} = ?M:update({assign, <<"black">>}, r3, ?M:merge(C1, Final)),
    ?assertEqual([<<"black">>], ?M:value(C2)),
    [?assertEqual(C2, ?M:merge(S, Dc2)) || S <- [Final, ?M:merge(Final, C1)]],
    ?assertEqual([<<"black">>], ?M:value(?M:merge(?M:merge(A1, Dr), Dc2))),
    %% A delta carries only the dots it supersedes: to a replica that missed Dr (which
    %% superseded blue), blue is still live until Dr arrives.
    ?assertEqual([<<"black">>, <<"blue">>], ?M:value(?M:merge(A1, Dc2))),
    ?assertEqual(C2, ?M:merge(?M:merge(A1, Dc2), ?M:merge(Dr, Dc))),
    ?assertEqual({mvreg, [{<<"black">>, [{r3, 2}]}], [{r1, 2, []}, {r2, 1, []}, {r3, 2, []}]},
                 sort_term(?M:to_term(C2))).

%% Two replicas assigning the same value concurrently: the value once, with both dots; an
%% assign that saw both replaces them with one dot.
same_value_test() ->
    {ok, _, D1} = ?M:update({assign, same}, r1, ?M:new()),
    {ok, _, D2} = ?M:update({assign, same}, r2, ?M:new()),
    S = ?M:merge(D1, D2),
    ?assertEqual(S, ?M:merge(D2, D1)),
    ?assertEqual([same], ?M:value(S)),
    ?assertEqual(1, ?M:value(size, S)),
    ?assertEqual({mvreg, [{same, [{r1, 1}, {r2, 1}]}], [{r1, 1, []}, {r2, 1, []}]},
                 sort_term(?M:to_term(S))),
    ?assertEqual(ok, ?M:validate(S)),
    O = lattice_object:new(S),
    ?assertEqual([same], lattice_object:value(O)),
    ?assertEqual(1, lattice_object:value(size, O)),
    %% With a different concurrent value as well.
    {ok, _, D3} = ?M:update({assign, other}, r3, ?M:new()),
    S3 = ?M:merge(S, D3),
    ?assertEqual([other, same], ?M:value(S3)),
    ?assertEqual(2, ?M:value(size, S3)),
    {ok, S4, D4} = ?M:update({assign, same}, r2, S3),
    ?assertEqual({ok, D4}, lattice_object:update({assign, same}, r2, lattice_object:new(S3))),
    ?assertEqual({mvreg, [{same, [{r2, 2}]}], [{r1, 1, []}, {r2, 2, []}, {r3, 1, []}]},
                 sort_term(?M:to_term(S4))),
    ?assertEqual(S4, ?M:merge(S3, D4)),
    ?assertEqual([same], ?M:value(?M:merge(D1, D4))).

%% The delta of an assign holds only what it supersedes, not the whole context: a replica that
%% had seen dots no longer held sends a smaller delta than its state.
delta_test() ->
    {ok, A1, _} = ?M:update({assign, a}, r1, ?M:new()),
    {ok, _, Db} = ?M:update({assign, b}, r1, A1),
    %% r3 got only the second delta: it has seen r1:2 and holds it (r1:1 unknown to it).
    R3 = ?M:merge(?M:new(), Db),
    ?assertEqual({mvreg, [{b, [{r1, 2}]}], [{r1, 2, []}]}, ?M:to_term(R3)),
    {ok, R3b, Dc} = ?M:update({assign, c}, r3, R3),
    ?assertEqual({mvreg, [{c, [{r3, 1}]}], [{r1, 2, []}, {r3, 1, []}]}, sort_term(?M:to_term(R3b))),
    %% The delta's context: the new dot and the superseded r1:2 (r1's base stays 0).
    ?assertEqual({mvreg, [{c, [{r3, 1}]}], [{r1, 0, [2]}, {r3, 1, []}]}, sort_term(?M:to_term(Dc))),
    ?assertEqual(R3b, ?M:merge(R3, Dc)),
    ?assertEqual(ok, ?M:validate(Dc)),
    %% A replica that never saw r1's writes takes the delta as it is, with a cloud.
    ?assertEqual([c], ?M:value(Dc)),
    %% r1 sees r3's assign, then assigns again; its delta meets replicas in any order.
    {ok, A2, Db} = ?M:update({assign, b}, r1, A1),
    ?assertEqual([c], ?M:value(?M:merge(A2, Dc))),
    {ok, _, Dd} = ?M:update({assign, d}, r1, ?M:merge(A2, Dc)),
    ?assertEqual({mvreg, [{d, [{r1, 3}]}], [{r1, 0, [3]}, {r3, 1, []}]},
                 sort_term(?M:to_term(Dd))),
    %% Dd without Dc: r1's context has a gap (a cloud), and b, which Dd never saw, stays.
    Gap = ?M:merge(?M:merge(?M:new(), Dd), Db),
    ?assertEqual([b, d], ?M:value(Gap)),
    ?assertEqual({mvreg, [{b, [{r1, 2}]}, {d, [{r1, 3}]}], [{r1, 3, []}, {r3, 1, []}]},
                 sort_term(?M:to_term(Gap))),
    %% Dc, which superseded b, arrives: the same state as in order.
    All = ?M:merge(Gap, Dc),
    ?assertEqual([d], ?M:value(All)),
    ?assertEqual(All, ?M:merge(?M:merge(?M:merge(?M:new(), Db), Dc), Dd)),
    ?assertEqual({mvreg, [{d, [{r1, 3}]}], [{r1, 3, []}, {r3, 1, []}]}, sort_term(?M:to_term(All))),
    ?assertEqual(ok, ?M:validate(Gap)).

%% value/1 orders as lattice_gset:sort_elements/1 (1 and 1.0 are two values, ordered by
%% their canonical bytes), on binaries and objects, whatever the order of the joins.
value_order_test() ->
    Ties = [1, 1.0, {1}, {1.0}, [2.0, 1], [2, 1.0], 0, 0.0, -3, -3.0, a, <<"b">>, "c"],
    Want = lattice_gset:sort_elements(Ties),
    ?assertEqual([-3, -3.0, 0, 0.0, 1, 1.0], [E || E <- Want, is_number(E)]),
    Deltas = [begin
                  {ok, _, D} = ?M:update({assign, V}, {actor, I}, ?M:new()),
                  D
              end || {I, V} <- lists:zip(lists:seq(1, length(Ties)), Ties)],
    [begin
         S = lists:foldl(fun(D, Acc) -> ?M:merge(Acc, D) end, ?M:new(), Order),
         ?assertEqual(Want, ?M:value(S)),
         ?assertEqual(length(Ties), ?M:value(size, S)),
         ?assertEqual(Want, lattice_gset:sort_elements([V || {V, _} <- element(2, ?M:to_term(S))])),
         ?assertEqual(Want, lattice_object:value(lattice_object:new(S))),
         O = lattice_object:new(?M),
         [ok = lattice_object:join(D, O) || D <- Order],
         ?assertEqual(Want, lattice_object:value(O)),
         ?assert(lattice_object:value({contains, 1.0}, O)),
         ?assertNot(lattice_object:value({contains, 2}, O)),
         ?assert(?M:value({contains, 1}, S)),
         ?assertNot(?M:value({contains, 2}, S))
     end || Order <- [Deltas, lists:reverse(Deltas), lists:sort(Deltas)]].

%% Every kind of data term is a value, large ones too (past the C side's stack buffers); any
%% data term is an actor.
values_test() ->
    Values = [1, 1.0, -1, 1 bsl 100, -(1 bsl 100), 0.0, 2.5, 'ü', '日本', <<>>, <<0, 255>>,
              [], [a | b], "string", {}, {1, {2.0, [3]}}, #{}, #{k => [v], 1 => 1.0},
              lists:seq(1, 50), list_to_tuple(lists:seq(1, 20)), undefined],
    O = lattice_object:new(?M),
    lists:foldl(fun(V, S) ->
                        {ok, S2, D} = ?M:update({assign, V}, r1, S),
                        ?assertEqual({ok, D}, lattice_object:update({assign, V}, r1, O)),
                        ?assertEqual([V], ?M:value(S2)),
                        ?assert(?M:value({contains, V}, S2)),
                        ?assertEqual([V], lattice_object:value(O)),
                        ?assertEqual(S2, lattice_object:snapshot(O)),
                        ?assertEqual(ok, ?M:validate(S2)),
                        S2
                end, ?M:new(), Values),
    Big = {big, binary:copy(<<"x">>, 100000), lists:seq(1, 3000)},
    {ok, S3, D3} = ?M:update({assign, Big}, r2, lattice_object:snapshot(O)),
    ?assertEqual({ok, D3}, lattice_object:update({assign, Big}, r2, O)),
    ?assertEqual(S3, lattice_object:snapshot(O)),
    ?assertEqual([Big], ?M:value(S3)),
    ?assert(lattice_object:value({contains, Big}, O)),
    Actor = {node, <<"n1">>, [1.5, #{k => v}]},
    {ok, S4, _} = ?M:update({assign, e}, Actor, ?M:new()),
    ?assertEqual({mvreg, [{e, [{Actor, 1}]}], [{Actor, 1, []}]}, ?M:to_term(S4)).

%% ---- objects ------------------------------------------------------------------------------

object_test() ->
    O = lattice_object:new(?M),
    ?assertEqual(?EMPTY, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(?M:new()), lattice_object:digest(O)),
    ?assertEqual([], lattice_object:value(O)),
    ?assertEqual(0, lattice_object:value(size, O)),
    ?assertNot(lattice_object:value({contains, a}, O)),
    {ok, D1} = lattice_object:update({assign, a}, r1, O),
    {ok, S1, D1} = ?M:update({assign, a}, r1, ?M:new()),
    ?assertEqual(S1, lattice_object:snapshot(O)),
    %% A concurrent assign from elsewhere, joined: both values.
    {ok, _, Dc} = ?M:update({assign, b}, r2, ?M:new()),
    ?assertEqual(ok, lattice_object:join(Dc, O)),
    S2 = ?M:merge(S1, Dc),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(S2), lattice_object:digest(O)),
    ?assertEqual([a, b], lattice_object:value(O)),
    ?assertEqual(2, lattice_object:value(size, O)),
    ?assert(lattice_object:value({contains, b}, O)),
    %% An assign in place collapses them.
    {ok, D3} = lattice_object:update({assign, c}, r1, O),
    {ok, S3, D3} = ?M:update({assign, c}, r1, S2),
    ?assertEqual(S3, lattice_object:snapshot(O)),
    ?assertEqual([c], lattice_object:value(O)),
    ?assertEqual(1, lattice_object:value(size, O)),
    ?assertNot(lattice_object:value({contains, a}, O)),
    %% Deltas joined out of order into a second object.
    O2 = lattice_object:new(?M),
    [ok = lattice_object:join(D, O2) || D <- [D3, Dc, D1]],
    ?assertEqual(lattice_object:snapshot(O), lattice_object:snapshot(O2)),
    ?assertEqual(lattice_object:digest(O), lattice_object:digest(O2)),
    %% An object made from a state holds it.
    O3 = lattice_object:new(lattice_object:snapshot(O)),
    ?assertEqual(lattice_object:digest(O), lattice_object:digest(O3)),
    %% Other types' states are refused and change nothing.
    {ok, Set, _} = lattice_orset:update({add, a}, r1, lattice_orset:new()),
    ?assertEqual({error, {bad_mvreg, wrong_type}}, lattice_object:join(Set, O)),
    ?assertEqual({error, {bad_orset, wrong_type}},
                 lattice_object:join(lattice_object:snapshot(O), lattice_object:new(Set))),
    ?assertEqual(S3, lattice_object:snapshot(O)).

%% Processes assigning through one object: the object serialises them, so every assign sees
%% all before it, the value ends as one value, and the deltas merged give the object's state.
object_shared_by_processes_test() ->
    O = lattice_object:new(?M),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               Ds = [begin
                                         {ok, D} = lattice_object:update({assign, {I, J}}, {w, I}, O),
                                         D
                                     end || J <- lists:seq(1, 200)],
                               Self ! {done, self(), Ds}
                       end) || I <- lists:seq(1, 8)],
    Deltas = lists:append([receive {done, P, Ds} -> Ds end || P <- Pids]),
    S = lattice_object:snapshot(O),
    ?assertEqual(1, lattice_object:value(size, O)),
    ?assertEqual(ok, ?M:validate(S)),
    ?assertEqual(?M:digest(S), lattice_object:digest(O)),
    ?assertEqual(S, lists:foldl(fun(D, Acc) -> ?M:merge(Acc, D) end, ?M:new(), Deltas)),
    ?assertEqual(S, lists:foldl(fun(D, Acc) -> ?M:merge(D, Acc) end, ?M:new(),
                                lists:reverse(Deltas))),
    {mvreg, [{_, [_]}], Ctx} = ?M:to_term(S),
    ?assertEqual(lists:sort([{{w, I}, 200, []} || I <- lists:seq(1, 8)]), lists:sort(Ctx)).

%% 300 actors assign concurrently: 300 values, the same in any order of merging, on binaries
%% and objects; one assign that saw them all leaves one value.
many_actors_test_() ->
    {timeout, 120, fun many_actors/0}.

many_actors() ->
    N = 300,
    Deltas = [begin
                  {ok, _, D} = ?M:update({assign, {v, I rem 100}}, {actor, I}, ?M:new()),
                  D
              end || I <- lists:seq(1, N)],
    S = lists:foldl(fun(D, Acc) -> ?M:merge(Acc, D) end, ?M:new(), Deltas),
    Shuffled = [D || {_, D} <- lists:sort([{erlang:phash2(D), D} || D <- Deltas])],
    ?assertEqual(S, tree_merge(Shuffled)),
    ?assertEqual(ok, ?M:validate(S)),
    %% 100 distinct values, each from three actors.
    ?assertEqual([{v, I} || I <- lists:seq(0, 99)], ?M:value(S)),
    ?assertEqual(100, ?M:value(size, S)),
    {mvreg, Entries, Ctx} = ?M:to_term(S),
    ?assertEqual(N, length(Ctx)),
    ?assertEqual([3], lists:usort([length(Ds) || {_, Ds} <- Entries])),
    O = lattice_object:new(?M),
    [ok = lattice_object:join(D, O) || D <- Shuffled],
    ?assertEqual(S, lattice_object:snapshot(O)),
    ?assertEqual(?M:digest(S), lattice_object:digest(O)),
    {ok, S2, D2} = ?M:update({assign, last}, {actor, 7}, S),
    ?assertEqual({ok, D2}, lattice_object:update({assign, last}, {actor, 7}, O)),
    ?assertEqual([last], ?M:value(S2)),
    ?assertEqual(S2, lattice_object:snapshot(O)),
    ?assertEqual(S2, ?M:merge(S, D2)),
    %% A replica that saw only some of the assigns: the others survive the resolving delta.
    Some = tree_merge(lists:sublist(Deltas, 10)),
    {ok, _, Dsome} = ?M:update({assign, some}, {actor, 1}, Some),
    ?assertEqual(lists:usort([some | [{v, I rem 100} || I <- lists:seq(11, N)]]),
                 lists:sort(?M:value(?M:merge(S, Dsome)))),
    {mvreg, Entries3, _} = ?M:to_term(?M:merge(S, Dsome)),
    ?assertEqual(N - 10 + 1, lists:sum([length(Ds) || {_, Ds} <- Entries3])).

tree_merge([S]) -> S;
tree_merge(L) ->
    {A, B} = lists:split(length(L) div 2, L),
    ?M:merge(tree_merge(A), tree_merge(B)).

%% ---- errors -------------------------------------------------------------------------------

badarg_test() ->
    {ok, S, _} = ?M:update({assign, a}, r1, ?M:new()),
    NotData = [self(), make_ref(), fun() -> ok end, {a, self()}, [a, make_ref()], <<1:3>>,
               #{k => self()}, fun lists:sort/1],
    BadOps = [{assign}, {assign, a, b}, assign, {add, a}, {add_all, [a]}, {remove, a},
              {remove_all, [a]}, {put, a, b}, {put, a, b, 1}, {increment, 1}, "assign",
              {"assign", a}, {<<"assign">>, a}, {assign, a, 5}, [assign, a], #{assign => a}]
        ++ [{assign, V} || V <- NotData],
    [?assertError(badarg, ?M:update(Op, r1, S)) || Op <- BadOps],
    %% An actor that is not data, or larger than 1024 bytes encoded (a binary of n bytes
    %% encodes in n + 3).
    BigActor = binary:copy(<<1>>, 1022),
    ?assertMatch({ok, _, _}, ?M:update({assign, a}, binary:copy(<<1>>, 1021), S)),
    [?assertError(badarg, ?M:update({assign, b}, Actor, S))
     || Actor <- NotData ++ [BigActor, binary:copy(<<1>>, 5000)]],
    BadQueries = [contains, {contains}, {contains, a, b}, sizes, {size}, {get, a}, value,
                  values, "size"]
        ++ [{contains, V} || V <- NotData],
    [?assertError(badarg, ?M:value(Q, S)) || Q <- BadQueries],
    %% A state that is not a binary: lattice_type_contract_tests.
    %% The MV-Register's op is not another dot kernel type's, and theirs are not its.
    {ok, Set, _} = lattice_orset:update({add, a}, r1, lattice_orset:new()),
    ?assertError(badarg, lattice_nif:dk_update(16#14, {assign, a}, r1, Set)),
    ?assertError(badarg, lattice_nif:dk_update(16#17, {assign, a}, r1, lattice_lwwmap:new())),
    ?assertError(badarg, lattice_nif:dk_update(16#18, {add, a}, r1, S)),
    ?assertError(badarg, lattice_nif:dk_update(16#18, {put, a, b, 1}, r1, S)),
    [?assertError(badarg, lattice_nif:dk_update(Tag, {assign, a}, r1, S))
     || Tag <- [16#15, 16#19, 16#118, -1, a, 24.0]],
    %% Objects: an unknown op, query, value or actor is badarg, and changes nothing.
    O = lattice_object:new(S),
    [?assertError(badarg, lattice_object:update(Op, r1, O)) || Op <- BadOps],
    [?assertError(badarg, lattice_object:update({assign, c}, Actor, O))
     || Actor <- NotData ++ [BigActor]],
    [?assertError(badarg, lattice_object:value(Q, O)) || Q <- BadQueries],
    ?assertEqual(S, lattice_object:snapshot(O)),
    ?assertError(badarg, lattice_object:join(S, not_an_object)),
    ?assertError(badarg, lattice_object:join(not_a_state, O)).

%% The binary format, as a term, to forge binaries: {Actors, Entries}, Actors [{Id, Bytes,
%% Base, Gaps}] in order, Entries [{Id, Key, [{ActorIndex, Counter}]}].
decode(<<16#18, 1, Rest/binary>>) ->
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
      [16#18, 1, var(length(Actors)),
       [[<<Id:64>>, var(byte_size(B)), B, var(Base), var(length(Gaps)), [var(G) || G <- Gaps]]
        || {Id, B, Base, Gaps} <- Actors],
       var(length(Entries)), [<<Id:64>> || {Id, _, _} <- Entries],
       [[var(byte_size(K)), K, var(length(Dots)), [[var(A), var(C)] || {A, C} <- Dots]]
        || {_, K, Dots} <- Entries]]).

var(V) when V < 128 -> <<V>>;
var(V) -> <<1:1, (V band 127):7, (var(V bsr 7))/binary>>.

%% A valid state with four actors, a cloud (r1's dots 2 and 3 seen, not 1), and three
%% values, one with two dots (the same value assigned concurrently).
good_state() ->
    {ok, A1, _} = ?M:update({assign, x}, r1, ?M:new()),
    {ok, A2, Dy} = ?M:update({assign, y}, r1, A1),
    {ok, _, Dz} = ?M:update({assign, z}, r2, ?M:merge(?M:new(), Dy)),
    {ok, _, Dz2} = ?M:update({assign, z}, r3, ?M:new()),
    {ok, _, Dq} = ?M:update({assign, q}, r4, ?M:new()),
    {ok, _, Dm} = ?M:update({assign, m}, r1, A2),
    lists:foldl(fun(D, Acc) -> ?M:merge(Acc, D) end, Dz, [Dz2, Dq, Dm]).

%% Binaries every function refuses (each call checks the structure).
bad_mvregs(Good) ->
    {Actors, Entries} = T = decode(Good),
    ?assertEqual(Good, encode(T)),
    [A0, A1 | MoreActors] = Actors,
    {I0, B0, Base0, Gaps0} = A0,
    [E1, E2, E3] = Entries,
    {Id1, K1, Dots1} = E1,
    Na = length(Actors),
    WithDots = fun(Dots) -> encode({Actors, [{Id1, K1, Dots}, E2, E3]}) end,
    {Ai, C} = hd(Dots1),
    <<_:2/binary, Body/binary>> = Good,
    Prefixes = [binary:part(Good, 0, N) || N <- lists:seq(0, byte_size(Good) - 1)],
    Prefixes ++
        [<<Good/binary, 0>>, <<Good/binary, 1, 2, 3>>, <<Good/binary, Good/binary>>,
         <<16#18, 2, Body/binary>>, <<16#18, 0, Body/binary>>, <<16#18, 255, Body/binary>>,
         <<16#12, 1, Body/binary>>, <<16#14, 1, Body/binary>>, <<16#15, 1, Body/binary>>,
         <<16#17, 1, Body/binary>>, <<16#19, 1, Body/binary>>,
         lattice_gset:new(), lattice_orset:new(), lattice_lwwmap:new(), lattice_lwwreg:new(),
         element(2, lattice_orset:update({add_all, [a, b]}, r1, lattice_orset:new())),
         element(2, lattice_lwwmap:update({put, k, v, 5}, r1, lattice_lwwmap:new())),
         <<16#14, 1, 0, 0>>, <<16#18, 2, 0, 0>>, <<16#18, 1, 0, 0, 0>>,
         <<"garbage">>, <<255, 255, 255, 255>>, <<16#18>>, <<16#18, 1>>, <<16#18, 1, 0>>,
         <<16#18, 1, 16#80, 0, 0>>,                                 % na not minimal
         <<16#18, 1, 0, 16#80, 0>>,                                 % ne not minimal
         <<16#18, 1, 0, 1>>,                                        % a value, no id
         <<16#18, 1, 0, 1, 0:64, 1, $a, 1, 0, 1>>,                  % a dot, no actor
         %% A dot outside the context: past its actor's top, or below its cloud.
         WithDots(Dots1 ++ [{Ai, 1000}]),
         WithDots([{Ai, top(lists:nth(Ai + 1, Actors)) + 1}]),
         WithDots([{Ig, GBase + 1} || {Ig, {_, _, GBase, [_ | _]}} <- enumerate(Actors)]),
         %% An actor index out of range, a counter of 0.
         WithDots([{Na, 1}]), WithDots([{Ai, 0}]),
         %% A value without dots.
         WithDots([]),
         %% Dots out of order, or twice.
         WithDots([{Ai, C}, {Ai, C}]),
         WithDots(lists:reverse(lists:usort(Dots1 ++ [{Ai2, C2} || {_, _, Ds} <- [E2, E3],
                                                                   {Ai2, C2} <- Ds]))),
         %% Values out of order, or twice.
         encode({Actors, [E2, E1, E3]}), encode({Actors, [E1, E3, E2]}),
         encode({Actors, [E1, E1, E3]}),
         %% Actors out of order, or twice; an empty actor; a cloud gap of 0; an actor
         %% with an empty context.
         encode({[A1, A0 | MoreActors], Entries}),
         encode({[A0, A0 | MoreActors], Entries}),
         encode({[{I0, <<>>, Base0, Gaps0}, A1 | MoreActors], Entries}),
         encode({[{I0, B0, Base0, Gaps0 ++ [0]}, A1 | MoreActors], Entries}),
         %% A count of values that does not match what follows.
         iolist_to_binary([binary:part(encode({Actors, [E1, E2]}), 0, 2), var(Na + 1),
                           binary:part(encode({Actors, [E1, E2]}), 3,
                                       byte_size(encode({Actors, [E1, E2]})) - 3)])]
        ++ [encode({lists:sublist(Actors, K), Entries}) || K <- lists:seq(0, Na - 1)].

%% The highest counter of an actor's context.
top({_, _, Base, []}) -> Base;
top({_, _, Base, Gaps}) -> Base + 1 + lists:sum(Gaps).

enumerate(L) -> lists:zip(lists:seq(0, length(L) - 1), L).

%% Binaries only the full checks (validate/1, to_term/1, value/1, objects) refuse.
forged_mvregs(Good) ->
    {Actors, Entries} = decode(Good),
    [E1, E2, E3] = Entries,
    {Id1, K1, Dots1} = E1,
    {Id2, K2, _} = E2,
    [{I0, B0, Base0, Gaps0} | MoreActors] = Actors,
    [%% One dot under two values.
     encode({Actors, [E1, {Id2, K2, Dots1}, E3]}),
     %% A value whose id is not its hash.
     encode({Actors, [{Id1 bxor 1, K1, Dots1}, E2, E3]}),
     %% A value whose bytes are not a canonical term (the id matches the bytes).
     encode({Actors, [{lattice_hash:xxh3_64(<<1, 2, 7>>), <<1, 2, 7>>, Dots1}, E2, E3]}),
     %% An actor whose id is not its hash.
     encode({[{I0 bxor 1, B0, Base0, Gaps0} | MoreActors], Entries})].

bad_data_test_() ->
    {timeout, 120, fun bad_data/0}.

bad_data() ->
    Good = good_state(),
    ?assertEqual(ok, ?M:validate(Good)),
    ?assertEqual([m, q, z], ?M:value(Good)),
    ?assertEqual({mvreg, [{m, [{r1, 3}]}, {q, [{r4, 1}]}, {z, [{r2, 1}, {r3, 1}]}],
                  [{r1, 0, [2, 3]}, {r2, 1, []}, {r3, 1, []}, {r4, 1, []}]},
                 sort_term(?M:to_term(Good))),
    Bads = bad_mvregs(Good),
    Forged = forged_mvregs(Good),
    [begin
         Check = fun(R) ->
                         ?assertMatch({{error, {bad_mvreg, Reason}}, _} when is_atom(Reason),
                                      {R, Bad})
                 end,
         [Check(catch_all(F)) || F <- every_call(Bad, Good)]
     end || Bad <- Bads],
    ?assertEqual({error, {bad_mvreg, truncated}}, ?M:value(<<16#18, 1>>)),
    ?assertEqual({error, {bad_mvreg, truncated}}, ?M:value(<<>>)),
    ?assertEqual({error, {bad_mvreg, unknown_version}}, ?M:value(<<16#18, 2, 0, 0>>)),
    ?assertEqual({error, {bad_mvreg, unknown_version}}, ?M:merge(Good, <<16#18, 2, 0, 0>>)),
    ?assertEqual({error, {bad_mvreg, trailing_bytes}}, ?M:merge(<<Good/binary, 0>>, Good)),
    ?assertEqual({error, {bad_mvreg, trailing_bytes}}, ?M:validate(<<?EMPTY/binary, 0>>)),
    ?assertEqual({error, {bad_mvreg, wrong_type}}, ?M:merge(Good, lattice_orset:new())),
    %% The tag and the version are judged before the length: a short state of another type
    %% (a G-Counter's empty state has 3 bytes) is of the wrong type, not truncated.
    ?assertEqual({error, {bad_mvreg, wrong_type}}, ?M:merge(Good, lattice_gcounter:new())),
    ?assertEqual({error, {bad_mvreg, wrong_type}}, ?M:value(<<16#14>>)),
    ?assertEqual({error, {bad_mvreg, unknown_version}}, ?M:value(<<16#18, 2, 0>>)),
    ?assertEqual({error, {bad_mvreg, unknown_version}}, ?M:value(<<16#18, 0>>)),
    ?assertEqual({error, {bad_mvreg, truncated}}, ?M:value(<<16#18>>)),
    ?assertEqual({error, {bad_mvreg, truncated}}, ?M:value(<<16#18, 1, 0>>)),
    ?assertEqual({error, {bad_mvreg, wrong_type}}, ?M:value(lattice_lwwmap:new())),
    ?assertEqual({error, {bad_mvreg, wrong_type}}, ?M:update({assign, a}, r1, lattice_orset:new())),
    ?assertEqual({error, {bad_state, unknown_type}}, lattice_type:value(<<16#7f, 1, 0>>)),
    %% Forged binaries: refused by the full checks, never a raise anywhere.
    [begin
         ?assertMatch({{error, {bad_mvreg, _}}, _}, {?M:validate(F), F}),
         ?assertMatch({{error, {bad_mvreg, _}}, _}, {?M:to_term(F), F}),
         ?assertMatch({{error, {bad_mvreg, _}}, _}, {?M:value(F), F}),
         ?assertMatch({{error, {bad_mvreg, _}}, _}, {lattice_object:new(F), F}),
         ?assertMatch({{error, {bad_mvreg, _}}, _},
                      {lattice_object:join(F, lattice_object:new(?M)), F}),
         [?assertNotMatch({raised, _, _}, catch_all(Call)) || Call <- every_call(F, Good)]
     end || F <- Forged],
    %% An object refuses every one of them and stays as it was.
    O = lattice_object:new(Good),
    [?assertMatch({{error, {bad_mvreg, _}}, _}, {lattice_object:join(B, O), B})
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
     fun() -> ?M:value({contains, z}, Bad) end,
     fun() -> ?M:value({contains, zz}, Bad) end,
     fun() -> ?M:digest(Bad) end,
     fun() -> ?M:to_term(Bad) end,
     fun() -> ?M:validate(Bad) end,
     fun() -> ?M:update({assign, c}, r1, Bad) end,
     fun() -> ?M:update({assign, z}, r9, Bad) end,
     fun() -> new_mvreg_object(Bad) end,
     fun() -> lattice_object:join(Bad, lattice_object:new(Good)) end,
     fun() -> lattice_object:join(Bad, lattice_object:new(?M)) end].

%% lattice_object:new/1 of a binary of another type makes an object of that type, or raises
%% badarg for a type without objects: only MV-Register binaries are ours to check.
new_mvreg_object(<<16#18, _/binary>> = Bin) -> lattice_object:new(Bin);
new_mvreg_object(_) -> {error, {bad_mvreg, not_ours}}.

catch_all(F) ->
    try F() catch Class:Reason -> {raised, Class, Reason} end.

%% ---- helpers ------------------------------------------------------------------------------

%% A to_term with its lists sorted (entries and context come in id order).
sort_term({mvreg, Entries, Ctx}) ->
    {mvreg, lists:sort([{V, lists:sort(Ds)} || {V, Ds} <- Entries]), lists:sort(Ctx)}.


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

%% Values: mostly a small pool, so that concurrent assigns of the same value happen; numbers
%% that compare equal as integers and floats; now and then any data term.
value() ->
    frequency([{8, elements([a, b, c, <<"x">>, {k, 1}])},
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

op() -> {assign, value()}.

%% A multi-replica history: assigns at replicas, delta deliveries (in any order, some twice)
%% and full-state syncs.
sim_cmds(N) ->
    list(frequency([{5, {op, range(1, N), op()}},
                    {4, {deliver, nat()}},
                    {1, {sync, range(1, N), range(1, N)}}])).

actor(R) -> list_to_atom("r" ++ integer_to_list(R)).

%% Runs a history over N replicas (binary states only). Returns the final states and every
%% delta made.
sim(N, Cmds) ->
    Init = maps:from_list([{R, ?M:new()} || R <- lists:seq(1, N)]),
    {Rs, _, Ds} =
        lists:foldl(
          fun({op, R, Op}, {Acc, Net, Ds}) ->
                  {ok, S2, D} = ?M:update(Op, actor(R), maps:get(R, Acc)),
                  {Acc#{R := S2}, Net ++ [{To, D} || To <- maps:keys(Acc), To =/= R], [D | Ds]};
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

%% Every assign is an inflation whose delta, merged into the state before it, gives the state
%% after (from either side); the value is then exactly [V], whatever the register held; the
%% object agrees on the delta, the state, the digest, the value and the queries.
prop_inflation_and_deltas() ->
    ?FORALL({Cmds, R, V, Probe}, {sim_cmds(3), range(1, 3), value(), value()},
            begin
                {Finals, _} = sim(3, Cmds),
                S = lists:nth(R, Finals),
                O = lattice_object:new(S),
                {ok, S2, D} = ?M:update({assign, V}, actor(R), S),
                ?M:merge(S, S2) =:= S2
                    andalso ?M:merge(S2, S) =:= S2
                    andalso ?M:merge(S, D) =:= S2
                    andalso ?M:merge(D, S) =:= S2
                    andalso ?M:merge(S2, D) =:= S2
                    andalso S2 =/= S
                    andalso ?M:validate(D) =:= ok
                    andalso ?M:validate(S2) =:= ok
                    andalso ?M:value(S2) =:= [V]
                    andalso ?M:value(D) =:= [V]
                    andalso ?M:value(size, S2) =:= 1
                    andalso lattice_object:update({assign, V}, actor(R), O) =:= {ok, D}
                    andalso same_answers(S2, O, Probe)
            end).

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
%% each assign gives the same delta on both, each delivery joins into both, and after every
%% step both give the same state, digest, value and answers.
prop_object_agrees() ->
    ?FORALL({Cmds, Probe}, {sim_cmds(3), value()},
            begin
                Init = maps:from_list([{R, {?M:new(), lattice_object:new(?M)}} || R <- [1, 2, 3]]),
                Step =
                    fun({op, R, Op}, {Acc, Net}) ->
                            {S, O} = maps:get(R, Acc),
                            {{ok, S2, D}, {ok, D}} = {?M:update(Op, actor(R), S),
                                                      lattice_object:update(Op, actor(R), O)},
                            true = same_answers(S2, O, Probe),
                            {Acc#{R := {S2, O}}, Net ++ [{To, D} || To <- [1, 2, 3], To =/= R]};
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
%% assign and delivery each replica's value is its model's, and all converge.
prop_converges() ->
    ?FORALL({N, Cmds}, {range(2, 5), lattice_convergence:history(5, op())},
            lattice_convergence:run(?M, N, {[C || C <- Cmds, replica_ok(C, N)],
                                             {mirror, lattice_mvreg_model}}) =:= true).

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
                                {error, {bad_mvreg, _}} -> true
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
        andalso encode(decode(Bin)) =:= Bin
        andalso element(1, ?M:to_term(Bin)) =:= mvreg.

garbage() ->
    ?LET(Cmds, sim_cmds(2),
         begin
             {[S1, S2], Ds} = sim(2, Cmds),
             States = [good_state(), S1, S2 | Ds],
             oneof([binary(),
                    ?LET(B, binary(), <<16#18, 1, B/binary>>),
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
