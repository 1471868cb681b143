%% The convergence harness shared by the CRDT types' properties.
%%
%% N replicas of one type apply generated operations, each as the binary `update/3' and on an
%% in-place object (lattice_object), which must return the same delta. Deltas go to every
%% other replica through a network that delivers them in any order, duplicates some and loses
%% others; replicas also exchange full states now and then. After the commands, a round of
%% full-state anti-entropy. Then every replica must have the same state and digest, every
%% object must hold exactly its replica's state, and the value must be the model's value.
%%
%% The model comes in one of two forms:
%% <ul>
%% <li>`fun(AppliedOps) -> Value': the expected value from the `{Actor, Op}' that succeeded, in
%% order. Enough when the value does not depend on what each replica had seen.</li>
%% <li>`{mirror, ModelModule}': a plain Erlang replica of the type kept next to every real
%% one, for types whose value depends on delivery (an observed-remove set). ModelModule
%% exports `new/0', `update(Op, Actor, MState) -> {ok, MState2, MDelta} | {error, Reason}',
%% `merge(MState, MDeltaOrState)' and `value(MState)'. Each update must succeed or fail as the
%% real one does, with the same error term; the model delta travels with the real delta (the
%% same reordering, duplication and loss), full-state syncs and anti-entropy carry the model
%% state too; after every operation and every delivery the replica's real value must equal
%% its model's value. The first disagreement is reported with the command it followed.</li>
%% </ul>
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

%% Runs the commands for Module with N replicas (actors r1..rN) against Model (a fun of the
%% applied operations, or `{mirror, ModelModule}', see above). Returns true or a description
%% of what went wrong.
%%
%% A replica is {State, Object, ModelState}; a message is {To, Delta, ModelDelta}. Without a
%% mirror, ModelState and ModelDelta are `none' and MM (the mirror module) is `none'.
run(Module, N, {Commands, Model}) ->
    MM = case Model of
             {mirror, ModelModule} when is_atom(ModelModule) -> ModelModule;
             _ when is_function(Model, 1) -> none
         end,
    Replicas = maps:from_list([{R, {Module:new(), lattice_object:new(Module), mnew(MM)}}
                               || R <- lists:seq(1, N)]),
    try
        {Final, Applied} = exec({Module, MM}, N, Commands, Replicas, [], []),
        Synced = anti_entropy({Module, MM}, N, Final),
        Expected = case MM of
                       none -> Model(lists:reverse(Applied));
                       _ -> MM:value(element(3, maps:get(1, Synced)))
                   end,
        check(Module, Synced, Expected)
    catch
        throw:{mismatch, What} -> What
    end.

actor(R) -> list_to_atom("r" ++ integer_to_list(R)).

exec(_, _, [], Replicas, _Net, Applied) ->
    {Replicas, Applied};
exec({M, MM} = T, N, [{op, R, Op} = Cmd | Rest], Replicas, Net, Applied) ->
    {S, O, MS} = maps:get(R, Replicas),
    Result = M:update(Op, actor(R), S),
    case {Result, mupdate(MM, Cmd, Result, MS)} of
        {{ok, S2, Delta}, {MS2, MDelta}} ->
            same({update, R, Op}, {ok, Delta}, lattice_object:update(Op, actor(R), O)),
            same({delta_property, R, Op}, S2, M:merge(S, Delta)),
            same({object_state, R}, S2, lattice_object:snapshot(O)),
            mvalue(T, R, Cmd, S2, MS2),
            Out = [{To, Delta, MDelta} || To <- lists:seq(1, N), To =/= R],
            exec(T, N, Rest, Replicas#{R := {S2, O, MS2}}, Net ++ Out, [{actor(R), Op} | Applied]);
        {{error, _} = Error, _} ->
            %% A failed precondition must fail the same way on the object and change nothing.
            same({update_error, R, Op}, Error, lattice_object:update(Op, actor(R), O)),
            same({object_unchanged, R}, S, lattice_object:snapshot(O)),
            exec(T, N, Rest, Replicas, Net, Applied)
    end;
exec(T, N, [{Kind, K} = Cmd | Rest], Replicas, Net, Applied) when Net =/= [] ->
    I = K rem length(Net),
    {Before, [{To, Delta, MDelta} = Msg | After]} = lists:split(I, Net),
    Net2 = case Kind of
               dup -> Before ++ [Msg | After];
               _ -> Before ++ After
           end,
    Replicas2 = case Kind of
                    drop -> Replicas;
                    _ -> deliver(T, {Cmd, to, To}, To, {Delta, MDelta}, Replicas)
                end,
    exec(T, N, Rest, Replicas2, Net2, Applied);
exec(T, N, [{sync, From, To} = Cmd | Rest], Replicas, Net, Applied) ->
    {S, _, MS} = maps:get(From, Replicas),
    exec(T, N, Rest, deliver(T, Cmd, To, {S, MS}, Replicas), Net, Applied);
exec(T, N, [_ | Rest], Replicas, Net, Applied) ->
    exec(T, N, Rest, Replicas, Net, Applied).

%% Merges a delta or state, with its model counterpart, into replica To; Cmd names the
%% command for reports.
deliver({M, MM} = T, Cmd, To, {Delta, MDelta}, Replicas) ->
    {S, O, MS} = maps:get(To, Replicas),
    S2 = M:merge(S, Delta),
    same({join, To}, ok, lattice_object:join(Delta, O)),
    same({joined_state, To}, S2, lattice_object:snapshot(O)),
    MS2 = mmerge(MM, MS, MDelta),
    mvalue(T, To, Cmd, S2, MS2),
    Replicas#{To := {S2, O, MS2}}.

anti_entropy(T, N, Replicas) ->
    All = [{S, MS} || {S, _, MS} <- maps:values(Replicas)],
    lists:foldl(fun(R, Acc) ->
                        lists:foldl(fun(SMS, A) -> deliver(T, anti_entropy, R, SMS, A) end,
                                    Acc, All)
                end, Replicas, lists:seq(1, N)).

%% ---- the mirror (each a no-op without one) ---------------------------------------------------

mnew(none) -> none;
mnew(MM) -> MM:new().

%% The model's update must succeed when the real one does and fail with the same error.
%% Returns {ModelState2, ModelDelta} (the model state unchanged after a failure).
mupdate(none, _, _, none) ->
    {none, none};
mupdate(MM, {op, R, Op} = Cmd, Result, MS) ->
    case {MM:update(Op, actor(R), MS), Result} of
        {{ok, MS2, MDelta}, {ok, _, _}} -> {MS2, MDelta};
        {{error, _} = Error, Error} -> {MS, none};
        {Want, _} -> throw({mismatch, {{mirror_update, Cmd, model_state, MS},
                                       expected, Want, got, Result}})
    end.

mmerge(none, none, none) -> none;
mmerge(MM, MS, MDelta) -> MM:merge(MS, MDelta).

%% After every operation and delivery: the real value is the model's.
mvalue({_, none}, _, _, _, _) ->
    ok;
mvalue({M, MM}, R, Cmd, S, MS) ->
    same({mirror_value, R, after_command, Cmd, model_state, MS}, MM:value(MS), M:value(S)).

check(M, Replicas, Expected) ->
    States = lists:usort([S || {S, _, _} <- maps:values(Replicas)]),
    Digests = lists:usort([M:digest(S) || S <- States]),
    ObjectDigests = lists:usort([lattice_object:digest(O) || {_, O, _} <- maps:values(Replicas)]),
    Values = lists:usort([M:value(S) || S <- States] ++
                         [lattice_object:value(O) || {_, O, _} <- maps:values(Replicas)]),
    case {States, Digests, ObjectDigests, Values} of
        {[_], [_], Digests, [Expected]} -> true;
        {[_, _ | _], _, _, _} -> {diverged, States};
        {_, [_, _ | _], _, _} -> {digests_differ, Digests};
        {_, _, _, [Expected]} -> {object_digests, ObjectDigests, Digests};
        _ -> {values, Values, expected, Expected}
    end.

same(_, X, X) -> ok;
same(What, Expected, Got) -> throw({mismatch, {What, expected, Expected, got, Got}}).
