%% Convergence of replication under reordered, duplicated and dropped messages (PropEr).
%%
%% Three stores in this VM stand for three nodes. Each random write's deltas are drained from
%% its store's delta buffer and grouped as lattice_repl groups them (coalesce/2), then put in
%% an outbox per destination. Random deliveries take any message from an outbox (reordering),
%% may leave it there to deliver again (duplication), or throw it away (loss), and merge it as
%% lattice_repl merges a batch (lattice_store:merge_deltas/2 for write deltas, merge_many/2
%% for creates and deletes). At the end one round of anti-entropy — for every key whose
%% digest differs between two stores, each sends the other its entry — must leave every store
%% with the same digests and values, and each counter at the sum of the increments made.
-module(lattice_repl_props_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(S, lattice_store).
-define(REPLICAS, [ra, rb, rc]).
-define(COUNTERS, [c1, c2]).
-define(SETS, [s1, s2]).
-define(REGS, [r1]).

convergence_test_() ->
    {timeout, 300, fun() ->
        ?assert(proper:quickcheck(prop_converges(), [{numtests, 150}, {to_file, user}]))
    end}.

prop_converges() ->
    ?FORALL(Cmds, commands(),
            begin
                Stores = [start(R) || R <- ?REPLICAS],
                try run(Cmds) after [?S:stop(S) || S <- Stores] end
            end).

%% Three stores in one VM would all write as lattice:actor() (one per VM) at their first start;
%% a store started again draws an incarnation of its own, as a restarted node does, so each
%% replica is started once and stopped before the run's start.
start(R) ->
    Name = list_to_atom("repl_prop_" ++ atom_to_list(R)),
    case persistent_term:get({lattice_store, started, Name}, false) of
        false -> {ok, _} = ?S:start_link(Name, #{}), ok = ?S:stop(Name);
        true -> ok
    end,
    {ok, _} = ?S:start_link(Name, #{}),
    unlink(whereis(Name)),
    Name.

store(R) -> list_to_atom("repl_prop_" ++ atom_to_list(R)).

commands() ->
    list(frequency([{6, {write, oneof(?REPLICAS), write_op()}},
                    {6, {deliver, oneof(?REPLICAS), oneof(?REPLICAS), nat(),
                         frequency([{6, once}, {2, duplicate}, {2, drop}])}}])).

write_op() ->
    oneof([{increment, oneof(?COUNTERS), range(1, 5)},
           {add, oneof(?SETS), range(1, 6)},
           {remove, oneof(?SETS), range(1, 6)},
           {delete, oneof(?SETS)},
           {set, oneof(?REGS), range(1, 100)}]).

run(Cmds) ->
    %% Every replica creates every key first (a create is a write too, and replicates).
    [ok = ?S:create(store(R), K, T) || R <- ?REPLICAS, {K, T} <- types()],
    Out0 = drain_all(#{}),
    {Out, Sums} = lists:foldl(fun step/2, {Out0, #{}}, Cmds),
    _ = Out,
    anti_entropy(),
    check(Sums).

types() ->
    [{K, pn_counter} || K <- ?COUNTERS] ++ [{K, or_set} || K <- ?SETS] ++
        [{K, lww_register} || K <- ?REGS].

step({write, R, Op}, {Out, Sums}) ->
    Sums1 = case write(store(R), Op) of
                {ok, _} -> count(Op, Sums);
                ok -> Sums;
                {error, _} -> Sums
            end,
    {drain_all(Out), Sums1};
step({deliver, From, To, _, _}, Acc) when From =:= To ->
    Acc;
step({deliver, From, To, N, How}, {Out, Sums}) ->
    case maps:get({From, To}, Out, []) of
        [] ->
            {Out, Sums};
        Msgs ->
            I = N rem length(Msgs),
            Msg = lists:nth(I + 1, Msgs),
            Rest = lists:sublist(Msgs, I) ++ lists:nthtail(I + 1, Msgs),
            case How of
                drop -> ok;
                _ -> merge(store(To), Msg)
            end,
            Left = case How of duplicate -> Msgs; _ -> Rest end,
            {Out#{{From, To} => Left}, Sums}
    end.

write(S, {increment, K, N}) -> ?S:increment(S, K, N);
write(S, {add, K, E}) -> ?S:add(S, K, E);
write(S, {remove, K, E}) -> ?S:remove(S, K, E);
write(S, {delete, K}) -> ?S:delete(S, K);
write(S, {set, K, V}) -> ?S:set(S, K, V).

count({increment, K, N}, Sums) -> Sums#{K => maps:get(K, Sums, 0) + N};
count(_, Sums) -> Sums.

%% Each replica's buffered deltas, grouped as lattice_repl groups them, as one message to each
%% other replica.
drain_all(Out) ->
    lists:foldl(fun(R, Acc) ->
                        case ?S:drain(store(R), 1 bsl 30) of
                            {[], _} -> Acc;
                            {Deltas, _} ->
                                Msg = lattice_repl:coalesce(Deltas, 4096),
                                lists:foldl(fun(To, A) ->
                                                    A#{{R, To} => maps:get({R, To}, A, []) ++ [Msg]}
                                            end, Acc, ?REPLICAS -- [R])
                        end
                end, Out, ?REPLICAS).

merge(S, Items) ->
    Entries = [{K, E} || {K, entry, E} <- Items],
    Deltas = [I || {_, T, _} = I <- Items, T =/= entry],
    [ok = R || R <- ?S:merge_many(S, Entries)],
    [ok = R || R <- ?S:merge_deltas(S, Deltas)],
    %% what a merge buffers (nothing: merges are not re-sent) is dropped with the rest
    ok.

%% One round: for each pair, the keys whose digests differ are exchanged both ways.
anti_entropy() ->
    Pairs = [{A, B} || A <- ?REPLICAS, B <- ?REPLICAS, A < B],
    [[exchange(A, B, K) || K <- keys()] || {A, B} <- Pairs],
    [[exchange(A, B, K) || K <- keys()] || {A, B} <- Pairs],
    [?S:drain(store(R), 1 bsl 30) || R <- ?REPLICAS],
    ok.

keys() -> [K || {K, _} <- types()].

exchange(A, B, K) ->
    case ?S:digest(store(A), K) =:= ?S:digest(store(B), K) of
        true -> ok;
        false ->
            {ok, EA} = ?S:entry(store(A), K),
            {ok, EB} = ?S:entry(store(B), K),
            ok = ?S:merge(store(B), K, EA),
            ok = ?S:merge(store(A), K, EB)
    end.

check(Sums) ->
    Digests = [[?S:digest(store(R), K) || K <- keys()] || R <- ?REPLICAS],
    Values = [[?S:get(store(R), K) || K <- keys()] || R <- ?REPLICAS],
    Counters = [{K, ?S:get(store(ra), K)} || K <- ?COUNTERS],
    Expected = [{K, {ok, maps:get(K, Sums, 0)}} || K <- ?COUNTERS],
    ?WHENFAIL(io:format("digests ~p~nvalues ~p~ncounters ~p, expected ~p~n",
                        [Digests, Values, Counters, Expected]),
              length(lists:usort(Digests)) =:= 1 andalso length(lists:usort(Values)) =:= 1
                  andalso Counters =:= Expected).
