%% The convergence harness shared by the CRDT types' properties.
%%
%% N replicas of one type apply generated operations, each as the binary `update/3' and on an
%% in-place object (lattice_object), which must return the same delta. Deltas go to every
%% other replica through a network that delivers them in any order, duplicates some and loses
%% others; replicas also exchange full states now and then. After the commands, a round of
%% full-state anti-entropy. Then every replica must have the same state and digest, every
%% object must hold exactly its replica's state, and the value must be the model's value for
%% the operations that were applied.
-module(lattice_convergence).
-include_lib("proper/include/proper.hrl").

-export([history/2, run/3]).

%% Commands over N replicas; OpGen generates one operation.
history(N, OpGen) ->
    list(frequency([{5, {op, range(1, N), OpGen}},
                    {4, {deliver, nat()}},
                    {1, {dup, nat()}},
                    {1, {drop, nat()}},
                    {1, {sync, range(1, N), range(1, N)}}])).

%% Runs the commands for Module with N replicas (actors r1..rN). Model(AppliedOps) is the
%% expected value, where AppliedOps is the list of {Actor, Op} that succeeded, in order.
%% Returns true or a description of what went wrong.
run(Module, N, {Commands, Model}) ->
    Replicas = maps:from_list([{R, {Module:new(), lattice_object:new(Module)}}
                               || R <- lists:seq(1, N)]),
    try
        {Final, Applied} = exec(Module, N, Commands, Replicas, [], []),
        Synced = anti_entropy(Module, N, Final),
        check(Module, Synced, Model(lists:reverse(Applied)))
    catch
        throw:{mismatch, What} -> What
    end.

actor(R) -> list_to_atom("r" ++ integer_to_list(R)).

exec(_, _, [], Replicas, _Net, Applied) ->
    {Replicas, Applied};
exec(M, N, [{op, R, Op} | Rest], Replicas, Net, Applied) ->
    {S, O} = maps:get(R, Replicas),
    case M:update(Op, actor(R), S) of
        {ok, S2, Delta} ->
            same({update, R, Op}, {ok, Delta}, lattice_object:update(Op, actor(R), O)),
            same({delta_property, R, Op}, S2, M:merge(S, Delta)),
            same({object_state, R}, S2, lattice_object:snapshot(O)),
            Out = [{To, Delta} || To <- lists:seq(1, N), To =/= R],
            exec(M, N, Rest, Replicas#{R := {S2, O}}, Net ++ Out, [{actor(R), Op} | Applied]);
        {error, _} = Error ->
            %% A failed precondition must fail the same way on the object and change nothing.
            same({update_error, R, Op}, Error, lattice_object:update(Op, actor(R), O)),
            same({object_unchanged, R}, S, lattice_object:snapshot(O)),
            exec(M, N, Rest, Replicas, Net, Applied)
    end;
exec(M, N, [{Kind, K} | Rest], Replicas, Net, Applied) when Net =/= [] ->
    I = K rem length(Net),
    {Before, [{To, Delta} = Msg | After]} = lists:split(I, Net),
    Net2 = case Kind of
               dup -> Before ++ [Msg | After];
               _ -> Before ++ After
           end,
    Replicas2 = case Kind of
                    drop -> Replicas;
                    _ -> deliver(M, To, Delta, Replicas)
                end,
    exec(M, N, Rest, Replicas2, Net2, Applied);
exec(M, N, [{sync, From, To} | Rest], Replicas, Net, Applied) ->
    {S, _} = maps:get(From, Replicas),
    exec(M, N, Rest, deliver(M, To, S, Replicas), Net, Applied);
exec(M, N, [_ | Rest], Replicas, Net, Applied) ->
    exec(M, N, Rest, Replicas, Net, Applied).

deliver(M, To, Delta, Replicas) ->
    {S, O} = maps:get(To, Replicas),
    S2 = M:merge(S, Delta),
    same({join, To}, ok, lattice_object:join(Delta, O)),
    same({joined_state, To}, S2, lattice_object:snapshot(O)),
    Replicas#{To := {S2, O}}.

anti_entropy(M, N, Replicas) ->
    All = [S || {S, _} <- maps:values(Replicas)],
    lists:foldl(fun(R, Acc) ->
                        lists:foldl(fun(S, A) -> deliver(M, R, S, A) end, Acc, All)
                end, Replicas, lists:seq(1, N)).

check(M, Replicas, Expected) ->
    States = lists:usort([S || {S, _} <- maps:values(Replicas)]),
    Digests = lists:usort([M:digest(S) || S <- States]),
    ObjectDigests = lists:usort([lattice_object:digest(O) || {_, O} <- maps:values(Replicas)]),
    Values = lists:usort([M:value(S) || S <- States] ++
                         [lattice_object:value(O) || {_, O} <- maps:values(Replicas)]),
    case {States, Digests, ObjectDigests, Values} of
        {[_], [_], Digests, [Expected]} -> true;
        {[_, _ | _], _, _, _} -> {diverged, States};
        {_, [_, _ | _], _, _} -> {digests_differ, Digests};
        {_, _, _, [Expected]} -> {object_digests, ObjectDigests, Digests};
        _ -> {values, Values, expected, Expected}
    end.

same(_, X, X) -> ok;
same(What, Expected, Got) -> throw({mismatch, {What, expected, Expected, got, Got}}).
