%% The plain Erlang models of the OR-Set, MV-Register and LWW-Map on hand-made concurrent
%% scenarios, and the mirror mode of lattice_convergence: it passes with a right model and
%% reports a wrong one.
%%
%% This module is itself a tiny mirror model (new/0, update/3, merge/2, value/1) of a 2P-Set,
%% which is also a G-Set model when nothing is removed. Three elements make it wrong on
%% purpose: it ignores adds of `wrong', lets `ghost' be removed when absent, and its merge
%% drops deltas that add `lost'.
-module(lattice_models_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-export([new/0, update/3, merge/2, value/1]).

-define(OR, lattice_orset_model).
-define(MV, lattice_mvreg_model).
-define(LM, lattice_lwwmap_model).

%% ---- OR-Set ----------------------------------------------------------------------------------

orset_basics_test() ->
    S0 = ?OR:new(),
    ?assertEqual([], ?OR:value(S0)),
    {ok, S1, D1} = ?OR:update({add_all, [b, 1, 1.0, a, b]}, r1, S0),
    ?assertEqual([1, 1.0, a, b], ?OR:value(S1)),
    ?assertEqual(4, ?OR:value(size, S1)),
    ?assert(?OR:value({contains, 1.0}, S1)),
    ?assertNot(?OR:value({contains, 2}, S1)),
    %% One tag per distinct element, r1's counter running 1..4.
    {Adds, _} = D1,
    ?assertEqual([1, 2, 3, 4], lists:sort([N || {_, {r1, N}} <- sets:to_list(Adds)])),
    ?assertEqual(S1, ?OR:merge(S0, D1)),
    %% Re-adding supersedes the observed tag: the delta removes it.
    {ok, S2, {DA, DR}} = ?OR:update({add, a}, r1, S1),
    ?assertEqual([{a, {r1, 5}}], sets:to_list(DA)),
    ?assertEqual([{r1, 4}], sets:to_list(DR)),
    ?assertEqual([1, 1.0, a, b], ?OR:value(S2)),
    %% Removes: absent elements fail, remove_all on the first absent in list order, atomically.
    ?assertEqual({error, {precondition, {not_present, z}}}, ?OR:update({remove, z}, r1, S2)),
    ?assertEqual({error, {precondition, {not_present, y}}},
                 ?OR:update({remove_all, [a, y, z]}, r1, S2)),
    {ok, S3, D3} = ?OR:update({remove_all, [a, 1.0, a]}, r1, S2),
    ?assertEqual([1, b], ?OR:value(S3)),
    ?assertEqual(S3, ?OR:merge(S2, D3)),
    ?assertEqual({error, {precondition, {not_present, a}}}, ?OR:update({remove, a}, r1, S3)),
    %% A replica that learned r1's tags still mints fresh ones for itself, and r1 after a
    %% round trip carries on from its own counter.
    {ok, S4, _} = ?OR:update({add, c}, r2, S3),
    {ok, S5, {DA5, _}} = ?OR:update({add, d}, r1, ?OR:merge(S3, S4)),
    ?assertEqual([{d, {r1, 6}}], sets:to_list(DA5)),
    ?assertEqual([1, b, c, d], ?OR:value(S5)).

%% r1 adds a; r2 learns it and removes it; meanwhile r1 adds a again. The add wins.
orset_add_wins_test() ->
    {ok, A1, D1} = ?OR:update({add, a}, r1, ?OR:new()),
    B1 = ?OR:merge(?OR:new(), D1),
    {ok, B2, Drem} = ?OR:update({remove, a}, r2, B1),
    ?assertEqual([], ?OR:value(B2)),
    {ok, A2, Dadd} = ?OR:update({add, a}, r1, A1),
    Final = [?OR:merge(A2, Drem), ?OR:merge(B2, Dadd), ?OR:merge(?OR:merge(B2, A2), Drem),
             ?OR:merge(?OR:merge(Drem, Dadd), D1)],
    [?assertEqual([a], ?OR:value(S)) || S <- Final],
    %% And an add elsewhere that r2 never saw survives r2's remove.
    {ok, C1, Dc} = ?OR:update({add, a}, r3, ?OR:new()),
    ?assertEqual([a], ?OR:value(?OR:merge(C1, Drem))),
    ?assertEqual([a], ?OR:value(?OR:merge(?OR:merge(B2, Dc), A1))).

%% A remove that observed every add removes the element everywhere, whatever the order.
orset_observed_remove_test() ->
    {ok, A1, D1} = ?OR:update({add, a}, r1, ?OR:new()),
    {ok, C1, D2} = ?OR:update({add_all, [a, b]}, r2, ?OR:new()),
    B = ?OR:merge(?OR:merge(?OR:new(), D1), D2),
    ?assertEqual([a, b], ?OR:value(B)),
    {ok, B2, Drem} = ?OR:update({remove, a}, r3, B),
    ?assertEqual([b], ?OR:value(B2)),
    ?assertEqual([], ?OR:value(?OR:merge(A1, Drem))),
    ?assertEqual([b], ?OR:value(?OR:merge(C1, Drem))),
    ?assertEqual([b], ?OR:value(?OR:merge(?OR:merge(Drem, D2), D1))).

%% ---- MV-Register ------------------------------------------------------------------------------

mvreg_test() ->
    ?assertEqual([], ?MV:value(?MV:new())),
    {ok, A1, Da} = ?MV:update({assign, x}, r1, ?MV:new()),
    {ok, B1, Db} = ?MV:update({assign, y}, r2, ?MV:new()),
    ?assertEqual([x], ?MV:value(A1)),
    %% Concurrent assigns: both values.
    AB = ?MV:merge(A1, Db),
    ?assertEqual([x, y], ?MV:value(AB)),
    ?assertEqual(AB, ?MV:merge(B1, Da)),
    %% An assign that saw both replaces both; one that saw only its own does not.
    {ok, AB2, Dz} = ?MV:update({assign, z}, r1, AB),
    ?assertEqual([z], ?MV:value(AB2)),
    {ok, B2, Dw} = ?MV:update({assign, w}, r2, B1),
    ?assertEqual([w, z], ?MV:value(?MV:merge(AB2, Dw))),
    ?assertEqual([w, z], ?MV:value(?MV:merge(?MV:merge(B2, Dz), Da))),
    %% The same value written concurrently appears once.
    {ok, _, Dx} = ?MV:update({assign, x}, r3, ?MV:new()),
    ?assertEqual([x], ?MV:value(?MV:merge(A1, Dx))),
    %% 1 and 1.0 are two values.
    {ok, _, D1} = ?MV:update({assign, 1}, r1, ?MV:new()),
    {ok, _, D2} = ?MV:update({assign, 1.0}, r2, ?MV:new()),
    ?assertEqual([1, 1.0], ?MV:value(?MV:merge(D2, D1))).

%% ---- LWW-Map ---------------------------------------------------------------------------------

lwwmap_basics_test() ->
    M0 = ?LM:new(),
    ?assertEqual(#{}, ?LM:value(M0)),
    {ok, M1, _} = ?LM:update({put, k, v1, 10}, r1, M0),
    {ok, M2, D2} = ?LM:update({put, j, v2, 5}, r1, M1),
    ?assertEqual(#{k => v1, j => v2}, ?LM:value(M2)),
    ?assertEqual(M2, ?LM:merge(M1, D2)),
    ?assertEqual({ok, v1}, ?LM:value({get, k}, M2)),
    ?assertEqual({error, {not_found, z}}, ?LM:value({get, z}, M2)),
    ?assertEqual(2, ?LM:value(size, M2)),
    ?assertEqual([j, k], ?LM:value(keys, M2)),
    %% A local put replaces the key's entry, even at an older timestamp.
    {ok, M3, _} = ?LM:update({put, k, v3, 1}, r1, M2),
    ?assertEqual({ok, v3}, ?LM:value({get, k}, M3)),
    {ok, M4, _} = ?LM:update({remove, k}, r1, M3),
    ?assertEqual(#{j => v2}, ?LM:value(M4)),
    ?assertEqual({error, {precondition, {not_present, k}}}, ?LM:update({remove, k}, r1, M4)),
    ?assertError({model_needs_timestamp, _}, ?LM:update({put, k, v}, r1, M4)).

%% r1 puts k; r2 learns it and removes k; meanwhile r1 puts k again. The put wins.
lwwmap_put_wins_test() ->
    {ok, A1, D1} = ?LM:update({put, k, v1, 10}, r1, ?LM:new()),
    {ok, B2, Drem} = ?LM:update({remove, k}, r2, ?LM:merge(?LM:new(), D1)),
    ?assertEqual(#{}, ?LM:value(B2)),
    {ok, A2, Dput} = ?LM:update({put, k, v2, 11}, r1, A1),
    ?assertEqual(#{k => v2}, ?LM:value(?LM:merge(A2, Drem))),
    ?assertEqual(#{k => v2}, ?LM:value(?LM:merge(B2, Dput))),
    %% A put r2 never saw survives, even with an older timestamp than the removed entry.
    {ok, _, Dold} = ?LM:update({put, k, v0, 3}, r3, ?LM:new()),
    ?assertEqual(#{k => v0}, ?LM:value(?LM:merge(B2, Dold))).

%% Concurrent puts to one key: the greater timestamp wins; on a tie, the actor whose canonical
%% bytes are greater (b is <<4,1,"b">>, aa is <<4,2,"aa">>: b < aa, unlike term order).
lwwmap_timestamps_test() ->
    Put = fun(V, Ts, Actor) -> element(3, ?LM:update({put, k, V, Ts}, Actor, ?LM:new())) end,
    ?assertEqual(#{k => late}, ?LM:value(?LM:merge(Put(late, 20, r1), Put(early, 10, r2)))),
    ?assertEqual(#{k => late}, ?LM:value(?LM:merge(Put(early, 10, r1), Put(late, 20, r2)))),
    ?assert(lattice_canon:encode(b) < lattice_canon:encode(aa)),
    Tie = ?LM:merge(Put(from_aa, 7, aa), Put(from_b, 7, b)),
    ?assertEqual(#{k => from_aa}, ?LM:value(Tie)),
    ?assertEqual(Tie, ?LM:merge(Put(from_b, 7, b), Put(from_aa, 7, aa))),
    %% Both entries stay live (nothing observed the other): removing k removes both.
    {ok, T2, _} = ?LM:update({remove, k}, r9, Tie),
    ?assertEqual(#{}, ?LM:value(T2)).

%% ---- model laws ------------------------------------------------------------------------------

%% Three replicas of a model apply random operations and exchange deltas; merge is
%% commutative, associative and idempotent on the states reached, and each delta merged into
%% the state before it gives the state after.
models_laws_test_() ->
    {timeout, 120,
     fun() ->
             [?assert(proper:quickcheck(laws(M, OpGen), [{numtests, 200}, {to_file, user}]))
              || {M, OpGen} <- [{?OR, orset_op()}, {?MV, {assign, elem()}},
                                {?LM, {put, elem(), elem(), range(1, 5)}},
                                {?LM, {remove, elem()}}]]
     end}.

elem() -> elements([a, b, c, 1, 1.0]).

orset_op() ->
    oneof([{add, elem()}, {add_all, list(elem())}, {remove, elem()}, {remove_all, list(elem())}]).

laws(M, OpGen) ->
    ?FORALL(Steps, list({range(1, 3), oneof([OpGen, {remove, elem()}, {merge, range(1, 3)}])}),
            begin
                Init = maps:from_list([{R, M:new()} || R <- [1, 2, 3]]),
                {Rs, DeltasOk} =
                    lists:foldl(fun({R, {merge, From}}, {Acc, Ok}) ->
                                        {Acc#{R := M:merge(maps:get(R, Acc), maps:get(From, Acc))}, Ok};
                                   ({R, Op}, {Acc, Ok}) ->
                                        S = maps:get(R, Acc),
                                        case catch M:update(Op, R, S) of
                                            {ok, S2, D} -> {Acc#{R := S2}, Ok andalso M:merge(S, D) =:= S2};
                                            _ -> {Acc, Ok}
                                        end
                                end, {Init, true}, Steps),
                [A, B, C] = maps:values(Rs),
                DeltasOk
                    andalso M:merge(A, B) =:= M:merge(B, A)
                    andalso M:merge(M:merge(A, B), C) =:= M:merge(A, M:merge(B, C))
                    andalso M:merge(A, A) =:= A
                    andalso M:value(M:merge(A, B)) =:= M:value(M:merge(B, A))
            end).

%% ---- the harness's mirror mode -----------------------------------------------------------------

mirror_right_model_test() ->
    Cmds = [{op, 1, {add, a}}, {op, 2, {add_all, [b, 1, 1.0]}}, {deliver, 0}, {dup, 1},
            {drop, 0}, {sync, 2, 1}, {op, 1, {add, c}}, {deliver, 3}],
    ?assertEqual(true, lattice_convergence:run(lattice_gset, 2, {Cmds, {mirror, ?MODULE}})),
    TpCmds = [{op, 1, {add, a}}, {op, 2, {remove, a}}, {deliver, 0}, {op, 2, {remove, a}},
              {op, 3, {add, b}}, {sync, 2, 3}, {op, 3, {remove, a}}, {deliver, 1}],
    ?assertEqual(true, lattice_convergence:run(lattice_twopset, 3, {TpCmds, {mirror, ?MODULE}})),
    %% The fun form still works beside it.
    ?assertEqual(true, lattice_convergence:run(lattice_gset, 2,
                                               {Cmds, fun(_) -> [1, 1.0, a, b, c] end})).

mirror_right_model_prop_test_() ->
    {timeout, 120,
     fun() ->
             Prop = ?FORALL(Cmds, lattice_convergence:history(3, {add, elem()}),
                            lattice_convergence:run(lattice_gset, 3, {Cmds, {mirror, ?MODULE}})
                            =:= true),
             ?assert(proper:quickcheck(Prop, [{numtests, 100}, {to_file, user}]))
     end}.

%% The model leaves out an add: seen right after the operation.
mirror_wrong_value_test() ->
    Cmd = {op, 2, {add, wrong}},
    ?assertMatch({{mirror_value, 2, after_command, Cmd, model_state, _}, expected, [a], got, [a, wrong]},
                 lattice_convergence:run(lattice_gset, 2, {[{op, 2, {add, a}}, Cmd],
                                                           {mirror, ?MODULE}})).

%% The model lets a remove succeed where the real type refuses it.
mirror_wrong_error_test() ->
    Cmd = {op, 1, {remove, ghost}},
    ?assertMatch({{mirror_update, Cmd, model_state, _}, expected, {ok, _, _},
                  got, {error, {precondition, {not_present, ghost}}}},
                 lattice_convergence:run(lattice_twopset, 2, {[Cmd], {mirror, ?MODULE}})).

%% The model loses a delta in merge: seen at the delivery, not before.
mirror_wrong_merge_test() ->
    Cmds = [{op, 1, {add, lost}}, {op, 2, {add, a}}, {deliver, 1}, {deliver, 0}],
    ?assertMatch({{mirror_value, 2, after_command, {{deliver, 0}, to, 2}, model_state, _},
                  expected, [a], got, [a, lost]},
                 lattice_convergence:run(lattice_gset, 2, {Cmds, {mirror, ?MODULE}})).

%% ---- this module as a mirror model: a 2P-Set, wrong on purpose for three elements ----------------

new() -> {#{}, #{}}.

update({add, E}, Actor, S) ->
    update({add_all, [E]}, Actor, S);
update({add_all, Es}, _Actor, S) ->
    Delta = {maps:from_list([{E, true} || E <- Es, E =/= wrong]), #{}},
    {ok, union(S, Delta), Delta};
update({remove, E}, _Actor, {Added, Removed} = S) ->
    case (is_map_key(E, Added) andalso not is_map_key(E, Removed)) orelse E =:= ghost of
        true -> Delta = {#{}, #{E => true}}, {ok, union(S, Delta), Delta};
        false -> {error, {precondition, {not_present, E}}}
    end.

merge(S, {#{lost := _}, _}) -> S;
merge(S, Delta) -> union(S, Delta).

union({A1, R1}, {A2, R2}) -> {maps:merge(A1, A2), maps:merge(R1, R2)}.

value({Added, Removed}) ->
    lattice_gset:sort_elements([E || E <- maps:keys(Added), not is_map_key(E, Removed)]).
