%% The store (docs/STORE.md): the API on every type, the errors, writes from many processes at
%% once, reads and writes that take no hop through the store process, observed-remove delete
%% against a peer, concurrent creates with different types, the delta buffer, subscriptions,
%% and the lattice laws of the entry merge (PropEr).
-module(lattice_store_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(S, lattice_store).
-define(E, lattice_store_entry).
-define(PEER, {'peer@host', 7}).

%% ---- helpers ---------------------------------------------------------------------------

%% A fresh store for one test, stopped after it.
with_store(Opts, Fun) ->
    Name = list_to_atom("lattice_store_test_" ++ integer_to_list(erlang:unique_integer([positive]))),
    {ok, Pid} = ?S:start_link(Name, Opts),
    unlink(Pid),
    try Fun(Name, Pid) after ?S:stop(Name) end.

with_store(Fun) -> with_store(#{}, Fun).

explained(Fun) ->
    try Fun() of
        Other -> {no_error, Other}
    catch
        error:badarg:Stack -> ?S:error_message(Stack)
    end.

%% ---- the API on every type -------------------------------------------------------------

seed_001_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, page_views, g_counter),
        ?assertEqual({ok, 1}, ?S:increment(S, page_views)),
        ?assertEqual({ok, 6}, ?S:increment(S, page_views, 5)),
        ?assertEqual({ok, 6}, ?S:get(S, page_views)),
        ok = ?S:create(S, account_balance, pn_counter),
        ?assertEqual({ok, 100}, ?S:increment(S, account_balance, 100)),
        ?assertEqual({ok, 75}, ?S:decrement(S, account_balance, 25)),
        ok = ?S:create(S, active_users, or_set),
        {ok, _} = ?S:add(S, active_users, "user123"),
        {ok, _} = ?S:add(S, active_users, "user456"),
        {ok, _} = ?S:remove(S, active_users, "user123"),
        ?assertEqual({ok, ["user456"]}, ?S:get(S, active_users)),
        ok = ?S:create(S, system_config, lww_register),
        Config = #{mode => production, features => [crdt, amqp, mcp], version => <<"1.0.0">>},
        {ok, _} = ?S:set(S, system_config, Config),
        ?assertEqual({ok, Config}, ?S:get(S, system_config))
    end).

every_type_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, gc, g_counter),
        ?assertEqual({ok, 0}, ?S:get(S, gc)),
        ?assertEqual({ok, 3}, ?S:increment(S, gc, 3)),
        ok = ?S:create(S, pn, pn_counter),
        ?assertEqual({ok, -2}, ?S:decrement(S, pn, 2)),
        ?assertEqual({ok, -1}, ?S:increment(S, pn)),
        ?assertEqual({ok, -2}, ?S:decrement(S, pn)),
        ok = ?S:create(S, gs, g_set),
        ?assertEqual({ok, 1}, ?S:add(S, gs, b)),
        ?assertEqual({ok, 2}, ?S:add(S, gs, a)),
        ?assertEqual({ok, [a, b]}, ?S:get(S, gs)),
        ok = ?S:create(S, tp, two_p_set),
        {ok, 1} = ?S:add(S, tp, a),
        {ok, 2} = ?S:add(S, tp, b),
        ?assertEqual({ok, 1}, ?S:remove(S, tp, a)),
        ?assertEqual({ok, 1}, ?S:add(S, tp, a)),
        ?assertEqual({ok, [b]}, ?S:get(S, tp)),
        ok = ?S:create(S, os, or_set),
        {ok, 1} = ?S:add(S, os, x),
        ?assertEqual({ok, 0}, ?S:remove(S, os, x)),
        ?assertEqual({ok, 1}, ?S:add(S, os, x)),
        ?assertEqual({ok, [x]}, ?S:get(S, os)),
        ok = ?S:create(S, ls, lww_set),
        {ok, 1} = ?S:add(S, ls, 1),
        {ok, 2} = ?S:add(S, ls, 2),
        ?assertEqual({ok, 1}, ?S:remove(S, ls, 1)),
        ?assertEqual({ok, [2]}, ?S:get(S, ls)),
        ok = ?S:create(S, lr, lww_register),
        ?assertEqual({ok, undefined}, ?S:get(S, lr)),
        ?assertEqual({ok, v1}, ?S:set(S, lr, v1)),
        ?assertEqual({ok, v2}, ?S:set(S, lr, v2)),
        ?assertEqual({ok, v2}, ?S:get(S, lr)),
        ok = ?S:create(S, lm, lww_map),
        ?assertEqual({ok, 1}, ?S:put(S, lm, f, 1)),
        ?assertEqual({ok, 2}, ?S:put(S, lm, g, 2)),
        ?assertEqual({ok, 2}, ?S:put(S, lm, f, 3)),
        ?assertEqual({ok, 3}, ?S:get(S, lm, f)),
        ?assertEqual({error, not_found}, ?S:get(S, lm, h)),
        ?assertEqual({ok, 1}, ?S:remove(S, lm, g)),
        ?assertEqual({ok, #{f => 3}}, ?S:get(S, lm)),
        ok = ?S:create(S, mv, mv_register),
        ?assertEqual({ok, []}, ?S:get(S, mv)),
        ?assertEqual({ok, a}, ?S:set(S, mv, a)),
        ?assertEqual({ok, [a]}, ?S:get(S, mv)),
        ?assertEqual({ok, lww_map, #{f => 3}}, ?S:lookup(S, lm)),
        ?assertEqual([gc, gs, lm, lr, ls, mv, os, pn, tp], ?S:keys(S)),
        %% create is idempotent for the same type
        ?assertEqual(ok, ?S:create(S, gc, g_counter)),
        ?assertEqual({ok, 3}, ?S:get(S, gc))
    end).

default_store_test() ->
    {ok, Started} = application:ensure_all_started(lattice),
    try
        ?assertEqual(lattice_store, ?S:default()),
        ?assert(lists:keymember({lattice_store, lattice_store}, 1,
                                supervisor:which_children(lattice_sup))),
        K = {default_store_test, erlang:unique_integer()},
        ok = ?S:create(lattice_store, K, g_counter),
        ?assertEqual({ok, 2}, ?S:increment(lattice_store, K, 2)),
        ok = ?S:delete(lattice_store, K)
    after
        [application:stop(A) || A <- lists:reverse(Started)]
    end.

child_spec_test() ->
    #{id := {lattice_store, my}, type := supervisor,
      start := {lattice_store_sup, start_link, [my, #{max_crdts := 5}, #{}, false]}} =
        ?S:child_spec([{name, my}, {max_crdts, 5}]),
    #{start := {lattice_store_sup, start_link, [my, #{}, false, false]}} =
        ?S:child_spec([{name, my}, {replication, false}]),
    #{start := {lattice_store_sup, start_link, [my, #{}, #{fanout := 2}, false]}} =
        ?S:child_spec([{name, my}, {replication, #{fanout => 2}}]),
    #{id := {lattice_store, lattice_store}} = ?S:child_spec(#{}),
    ?assertError(badarg, ?S:child_spec([{max_crdts, 0}])),
    ?assertError(badarg, ?S:child_spec([{replication, #{fanout => 0}}])),
    ?assertError(badarg, ?S:child_spec([{replication, #{no_such_option => 1}}])).

%% A store started by its child spec runs under lattice_store_sup with its replication; a
%% store process that dies takes the replication with it, and both come back.
supervised_store_test() ->
    Name = supervised_store_test,
    {ok, Sup} = supervisor:start_link(lattice_store_sup, {Name, #{}, #{}, false}),
    try
        ok = ?S:create(Name, k, g_counter),
        Repl = whereis(lattice_repl:name(Name)),
        ?assert(is_pid(Repl)),
        exit(whereis(Name), kill),
        lattice_peer_cluster:wait_until(restarted, fun() ->
            is_pid(whereis(Name)) andalso is_pid(whereis(lattice_repl:name(Name))) andalso
                whereis(lattice_repl:name(Name)) =/= Repl
        end),
        ?assertEqual({error, not_found}, lattice_repl_ok(Name))
    after
        unlink(Sup),
        exit(Sup, shutdown)
    end.

lattice_repl_ok(Name) ->
    lattice_peer_cluster:wait_until(store_ready, fun() ->
        case catch ?S:get(Name, k) of
            {error, not_found} = E -> E;
            _ -> false
        end
    end).

%% ---- errors ------------------------------------------------------------------------------

errors_test() ->
    with_store(#{max_crdts => 3}, fun(S, _) ->
        ?assertEqual({error, not_found}, ?S:get(S, nope)),
        ?assertEqual({error, not_found}, ?S:increment(S, nope, 1)),
        ?assertEqual({error, not_found}, ?S:delete(S, nope)),
        ok = ?S:create(S, c, g_counter),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:add(S, c, x)),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:decrement(S, c, 1)),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:get(S, c, f)),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:create(S, c, or_set)),
        ok = ?S:create(S, o, or_set),
        ?assertEqual({error, {precondition, {not_present, x}}}, ?S:remove(S, o, x)),
        ?assertEqual({error, {wrong_type, or_set}}, ?S:set(S, o, 1)),
        ok = ?S:create(S, r, lww_register),
        ?assertEqual({error, limit_reached}, ?S:create(S, d, g_counter)),
        %% a deleted key still holds its row: the limit counts it
        ok = ?S:delete(S, r),
        ?assertEqual({error, limit_reached}, ?S:create(S, d, g_counter)),
        ?assertEqual(ok, ?S:create(S, r, g_set)),
        ?assertEqual(3, maps:get(rows, ?S:info(S)))
    end).

caller_errors_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, c, g_counter),
        ok = ?S:create(S, o, or_set),
        ?assertError(badarg, ?S:increment(S, c, 0)),
        ?assertError(badarg, ?S:increment(S, c, -1)),
        ?assertError(badarg, ?S:increment(S, c, 1.0)),
        ?assertError(badarg, ?S:add(S, o, self())),
        ?assertError(badarg, ?S:create(S, self(), g_counter)),
        ?assertError(badarg, ?S:create(S, k, counter)),
        ?assertError(badarg, ?S:get(no_such_store, k)),
        ?assertError(badarg, ?S:get("store", k)),
        ?assertError(badarg, ?S:drain(S, 0)),
        Msg = fun(F) -> binary_to_list(explained(F)) end,
        ?assertMatch("the amount must be a positive integer" ++ _,
                     Msg(fun() -> ?S:increment(S, c, -1) end)),
        ?assertMatch("the element is not data" ++ _, Msg(fun() -> ?S:add(S, o, self()) end)),
        ?assertMatch("counter is not a store type" ++ _,
                     Msg(fun() -> ?S:create(S, k, counter) end)),
        ?assertMatch("no store named no_such_store is running" ++ _,
                     Msg(fun() -> ?S:get(no_such_store, k) end)),
        %% the shell's explanation: error_info names lattice_store
        try ?S:increment(S, c, 0)
        catch error:badarg:St ->
            ?assertMatch(#{3 := _}, erl_erts_errors_free_format(St))
        end
    end).

erl_erts_errors_free_format([{M, _, _, Info} | _] = St) ->
    #{module := Mod} = proplists:get_value(error_info, Info),
    ?assertEqual(M, Mod),
    Mod:format_error(badarg, St).

%% ---- concurrency, and no hop through the store process ----------------------------------

run_all(N, Fun) ->
    Parent = self(),
    Pids = [spawn_link(fun() -> Fun(I), Parent ! {done, self()} end) || I <- lists:seq(1, N)],
    [receive {done, P} -> ok after 60000 -> error(timeout) end || P <- Pids],
    ok.

concurrent_writes_test_() ->
    {timeout, 60, fun() ->
        with_store(fun(S, _) ->
            ok = ?S:create(S, n, g_counter),
            ok = ?S:create(S, pn, pn_counter),
            ok = ?S:create(S, set, or_set),
            run_all(100, fun(I) ->
                [{ok, _} = ?S:increment(S, n, 2) || _ <- lists:seq(1, 100)],
                [{ok, _} = ?S:decrement(S, pn, 1) || _ <- lists:seq(1, 50)],
                [{ok, _} = ?S:add(S, set, {I, J}) || J <- lists:seq(1, 20)]
            end),
            ?assertEqual({ok, 20000}, ?S:get(S, n)),
            ?assertEqual({ok, -5000}, ?S:get(S, pn)),
            ?assertEqual({ok, lists:sort([{I, J} || I <- lists:seq(1, 100),
                                                    J <- lists:seq(1, 20)])},
                         ?S:get(S, set)),
            %% every write's delta is in the buffer, each under its own sequence number
            {Deltas, #{overflowed := false}} = ?S:drain(S, 1 bsl 40),
            Seqs = [Seq || {Seq, _, _, _} <- Deltas],
            ?assertEqual(lists:usort(Seqs), Seqs),
            ?assertEqual(3 + 10000 + 5000 + 2000, length(Deltas))
        end)
    end}.

%% Writers racing deletes and re-creates of their key: nothing crashes, every write is either
%% applied or refused as not_found, and the store's view is the one its entry gives.
writes_racing_deletes_test_() ->
    {timeout, 60, fun() ->
        with_store(fun(S, _) ->
            ok = ?S:create(S, c, pn_counter),
            ok = ?S:create(S, o, or_set),
            Parent = self(),
            Writers = [spawn_link(fun() -> race_writer(S, I, Parent) end)
                       || I <- lists:seq(1, 20)],
            [begin
                 ok = ?S:delete(S, c),
                 ok = ?S:create(S, c, pn_counter),
                 ok = ?S:delete(S, o),
                 ok = ?S:create(S, o, or_set)
             end || _ <- lists:seq(1, 50)],
            [W ! stop || W <- Writers],
            Results = [receive {W, R} -> R after 60000 -> error(timeout) end || W <- Writers],
            ?assert(lists:all(fun(R) -> R =:= ok end, Results)),
            [begin
                 {ok, E} = ?S:entry(S, K),
                 ?assertEqual(?E:value(E), ?S:lookup(S, K))
             end || K <- [c, o]]
        end)
    end}.

race_writer(S, I, Parent) ->
    receive stop -> Parent ! {self(), ok}
    after 0 ->
        Ok = fun({ok, _}) -> true; ({error, not_found}) -> true; (_) -> false end,
        case Ok(?S:increment(S, c)) andalso Ok(?S:add(S, o, I)) of
            true -> race_writer(S, I, Parent);
            false -> Parent ! {self(), bad}
        end
    end.

no_hop_test() ->
    with_store(fun(S, Pid) ->
        ok = ?S:create(S, c, g_counter),
        ok = ?S:create(S, o, or_set),
        ok = ?S:create(S, m, lww_map),
        Me = self(),
        ok = sys:suspend(Pid),
        try
            %% the writes and reads run in another process, which would hang on a call
            W = spawn(fun() ->
                Me ! {result, [?S:increment(S, c, 4), ?S:add(S, o, a), ?S:put(S, m, f, 1),
                               ?S:get(S, c), ?S:get(S, o), ?S:get(S, m, f), ?S:get(S, m),
                               ?S:lookup(S, o), ?S:keys(S), ?S:entry(S, c) =/= x,
                               element(1, ?S:drain(S, 1 bsl 30)) =/= []]}
            end),
            receive
                {result, R} ->
                    ?assertEqual([{ok, 4}, {ok, 1}, {ok, 1}, {ok, 4}, {ok, [a]}, {ok, 1},
                                  {ok, #{f => 1}}, {ok, or_set, [a]}, [c, m, o], true, true],
                                 R)
            after 10000 ->
                exit(W, kill),
                error(reads_and_writes_waited_for_the_store_process)
            end
        after
            sys:resume(Pid)
        end
    end).

actor_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, c, g_counter),
        _ = ?S:drain(S, 1 bsl 30),
        {ok, 1} = ?S:increment(S, c),
        {[{_, c, g_counter, Delta}], _} = ?S:drain(S, 1 bsl 30),
        ?assertEqual({gcounter, [{lattice:actor(), 1}]}, lattice_gcounter:to_term(Delta))
    end).

%% A store killed and restarted empty writes under a new actor: a peer that holds the old
%% state loses nothing of the new writes, and nothing deleted before the restart comes back.
restart_never_reuses_a_dot_test() ->
    Name = list_to_atom("lattice_store_restart_" ++ integer_to_list(erlang:unique_integer([positive]))),
    {ok, P1} = ?S:start_link(Name, #{}),
    unlink(P1),
    ok = ?S:create(Name, c, g_counter),
    {ok, 5} = ?S:increment(Name, c, 5),
    ok = ?S:create(Name, o, or_set),
    [{ok, _} = ?S:add(Name, o, E) || E <- [a, x]],
    {ok, 1} = ?S:remove(Name, o, x),
    ok = ?S:create(Name, d, g_counter),
    {ok, 1} = ?S:increment(Name, d),
    ok = ?S:delete(Name, d),
    %% what a peer has seen
    {ok, C1} = ?S:entry(Name, c),
    {ok, O1} = ?S:entry(Name, o),
    {ok, D1} = ?S:entry(Name, d),
    #{actor := A1} = ?S:info(Name),
    Mon = monitor(process, P1),
    exit(P1, kill),
    receive {'DOWN', Mon, _, _, _} -> ok end,
    {ok, P2} = ?S:start_link(Name, #{}),
    unlink(P2),
    try
        #{actor := A2} = ?S:info(Name),
        ?assertNotEqual(A1, A2),
        ?assertMatch({_, I} when is_integer(I), A2),
        ?assertEqual({error, not_found}, ?S:get(Name, c)),
        ok = ?S:create(Name, c, g_counter),
        {ok, 2} = ?S:increment(Name, c, 2),
        ok = ?S:create(Name, o, or_set),
        {ok, 1} = ?S:add(Name, o, b),
        {ok, C2} = ?S:entry(Name, c),
        {ok, O2} = ?S:entry(Name, o),
        ?assertEqual({ok, g_counter, 7}, ?E:value(?E:merge(C1, C2))),
        ?assertEqual({ok, or_set, [a, b]}, ?E:value(?E:merge(O1, O2))),
        %% the restarted store catches up from the peer
        ok = ?S:merge(Name, c, C1),
        ok = ?S:merge(Name, o, O1),
        ok = ?S:merge(Name, d, D1),
        ?assertEqual({ok, 7}, ?S:get(Name, c)),
        ?assertEqual({ok, [a, b]}, ?S:get(Name, o)),
        ?assertEqual({error, not_found}, ?S:get(Name, d))
    after
        ?S:stop(Name)
    end.

%% ---- delete against a peer ----------------------------------------------------------------

%% For each type: the store and a peer share a key; the store deletes it while the peer
%% writes concurrently; after merging both ways, both show only the peer's concurrent writes.
%% A peer that wrote nothing resurrects nothing.
delete_scenarios() ->
    Ts = fun() -> lattice_hlc:now() + (1 bsl 30) end,   %% a peer write later than the delete
    [{g_counter, [{increment, 5}], [{increment, 2}], 2},
     {pn_counter, [{increment, 5}, {decrement, 1}], [{decrement, 3}], -3},
     {g_set, [{add, a}], [{add, b}, {add, a}], [b]},
     {two_p_set, [{add, a}, {add, b}], [{add, c}], [c]},
     {or_set, [{add, a}, {add, b}], [{add, a}, {add, c}], [a, c]},
     {lww_set, [{add, a}, {add, b}], fun() -> [{add, c, Ts()}] end, [c]},
     {lww_register, [{assign, v1}], fun() -> [{assign, v2, Ts()}] end, v2},
     {lww_map, [{put, f, 1}, {put, g, 2}], [{put, g, 3}], #{g => 3}},
     {mv_register, [{assign, v1}], [{assign, v2}], [v2]}].

store_op({increment, N}) -> fun(S, K) -> ?S:increment(S, K, N) end;
store_op({decrement, N}) -> fun(S, K) -> ?S:decrement(S, K, N) end;
store_op({add, E}) -> fun(S, K) -> ?S:add(S, K, E) end;
store_op({assign, V}) -> fun(S, K) -> ?S:set(S, K, V) end;
store_op({put, F, V}) -> fun(S, K) -> ?S:put(S, K, F, V) end.

delete_against_a_peer_test_() ->
    [{atom_to_list(Type), fun() -> delete_scenario(Type, Before, Concurrent, Expected) end}
     || {Type, Before, Concurrent, Expected} <- delete_scenarios()].

delete_scenario(Type, Before, Concurrent0, Expected) ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, k, Type),
        [{ok, _} = (store_op(Op))(S, k) || Op <- Before],
        {ok, Shared} = ?S:entry(S, k),
        ok = ?S:delete(S, k),
        ?assertEqual({error, not_found}, ?S:get(S, k)),
        ?assertEqual([], ?S:keys(S)),
        %% a peer that saw the key and wrote nothing: nothing comes back
        ok = ?S:merge(S, k, Shared),
        ?assertEqual({error, not_found}, ?S:get(S, k)),
        %% a peer writing concurrently with the delete
        Concurrent = case Concurrent0 of F when is_function(F) -> F(); L -> L end,
        Peer = lists:foldl(fun(Op, E) ->
                               {ok, E2, _} = ?E:update(Type, Op, ?PEER, E),
                               E2
                           end, Shared, Concurrent),
        ok = ?S:merge(S, k, Peer),
        ?assertEqual({ok, Expected}, ?S:get(S, k)),
        ?assertEqual([k], ?S:keys(S)),
        %% the other way: the peer merges the store's entry
        {ok, Mine} = ?S:entry(S, k),
        ?assertEqual({ok, Type, Expected}, ?E:value(?E:merge(Peer, Mine))),
        ?assertEqual(?E:merge(Peer, Mine), Mine),
        %% a re-create after the delete starts from what is left
        ?assertEqual(ok, ?S:create(S, k, Type)),
        ?assertEqual({ok, Expected}, ?S:get(S, k))
    end).

recreate_after_delete_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, c, pn_counter),
        {ok, 7} = ?S:increment(S, c, 7),
        ok = ?S:delete(S, c),
        ok = ?S:create(S, c, pn_counter),
        ?assertEqual({ok, 0}, ?S:get(S, c)),
        ?assertEqual({ok, -1}, ?S:decrement(S, c)),
        ok = ?S:create(S, o, or_set),
        {ok, 1} = ?S:add(S, o, x),
        ok = ?S:delete(S, o),
        ok = ?S:create(S, o, or_set),
        ?assertEqual({ok, []}, ?S:get(S, o)),
        ?assertEqual({ok, 1}, ?S:add(S, o, x)),
        ?assertEqual({ok, [x]}, ?S:get(S, o)),
        ok = ?S:create(S, r, lww_register),
        {ok, _} = ?S:set(S, r, a),
        ok = ?S:delete(S, r),
        ok = ?S:create(S, r, lww_register),
        ?assertEqual({ok, undefined}, ?S:get(S, r)),
        {ok, _} = ?S:set(S, r, b),
        ?assertEqual({ok, b}, ?S:get(S, r)),
        %% another type after a delete
        ok = ?S:delete(S, r),
        ?assertEqual(ok, ?S:create(S, r, g_counter)),
        ?assertEqual({ok, 0}, ?S:get(S, r)),
        ?assertEqual([], ?S:conflicts(S, r))
    end).

%% ---- concurrent creates with different types ----------------------------------------------

type_conflict_test() ->
    with_store(fun(S, _) ->
        Ref = ?S:subscribe(S, k),
        ok = ?S:create(S, k, or_set),
        {ok, 1} = ?S:add(S, k, a),
        %% a peer created k as a G-Counter at the same time
        {ok, Peer0} = ?E:create(g_counter, ?PEER, ?E:new()),
        {ok, Peer, _} = ?E:update(g_counter, {increment, 4}, ?PEER, Peer0),
        ok = ?S:merge(S, k, Peer),
        %% g_counter comes first in tag order, on every node
        ?assertEqual({ok, g_counter, 4}, ?S:lookup(S, k)),
        ?assertEqual([or_set], ?S:conflicts(S, k)),
        ?assertEqual(1, maps:get(type_conflicts, ?S:info(S))),
        {ok, Mine} = ?S:entry(S, k),
        ?assertEqual([g_counter, or_set], ?E:visible(?E:merge(Peer, Mine))),
        ?assertEqual({ok, g_counter, 4}, ?E:value(?E:merge(Peer, Mine))),
        %% the loser is kept, not lost
        #{or_set := {_, OrState, _}} = Mine,
        ?assertEqual([a], lattice_orset:value(OrState)),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:add(S, k, b)),
        Msgs = flush(Ref),
        ?assert(lists:member({type_conflict, g_counter, [or_set]}, Msgs)),
        %% a delete removes both; a create then starts clean
        ok = ?S:delete(S, k),
        ?assertEqual({error, not_found}, ?S:get(S, k)),
        ok = ?S:create(S, k, or_set),
        ?assertEqual({ok, or_set, []}, ?S:lookup(S, k)),
        ?assertEqual([], ?S:conflicts(S, k))
    end).

flush(Ref) ->
    receive {lattice_store, Ref, _, _, Change} -> [Change | flush(Ref)]
    after 100 -> []
    end.

%% ---- the delta buffer -------------------------------------------------------------------

drain_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, o, or_set),
        [{ok, _} = ?S:add(S, o, I) || I <- lists:seq(1, 50)],
        {ok, 49} = ?S:remove(S, o, 7),
        {D1, #{overflowed := false, seq := 52}} = ?S:drain(S, 500),
        ?assert(length(D1) > 0 andalso length(D1) < 52),
        {D2, _} = ?S:drain(S, 1 bsl 30),
        ?assertEqual(52, length(D1) + length(D2)),
        ?assertEqual(lists:seq(1, 52), [Seq || {Seq, _, _, _} <- D1 ++ D2]),
        ?assertEqual({[], #{overflowed => false, dropped => 0, bytes => 0, seq => 52}},
                     ?S:drain(S, 100)),
        %% the drained deltas rebuild the key's entry at a peer, in any order
        Peer = lists:foldl(fun({_, o, entry, E}, Acc) -> ?E:merge(Acc, E);
                              ({_, o, T, D}, Acc) -> ?E:merge(Acc, ?E:from_delta(T, D))
                           end, ?E:new(), lists:reverse(D1 ++ D2)),
        {ok, Mine} = ?S:entry(S, o),
        ?assertEqual(Mine, Peer),
        %% deletes and re-creates too, for every type
        [begin
             ok = ?S:create(S, {T, 1}, T),
             [{ok, _} = (store_op(Op))(S, {T, 1}) || Op <- Before],
             ok = ?S:delete(S, {T, 1}),
             ok = ?S:create(S, {T, 1}, T),
             [{ok, _} = (store_op(Op))(S, {T, 1}) || Op <- Before, not is_function(Op)]
         end || {T, Before, _, _} <- delete_scenarios()],
        {D3, #{overflowed := false}} = ?S:drain(S, 1 bsl 30),
        Peers = lists:foldl(fun({_, K, entry, E}, Acc) ->
                                    Acc#{K => ?E:merge(maps:get(K, Acc, #{}), E)};
                               ({_, K, T, D}, Acc) ->
                                    Acc#{K => ?E:merge(maps:get(K, Acc, #{}), ?E:from_delta(T, D))}
                            end, #{}, D3),
        [?assertEqual({K, ?S:entry(S, K)}, {K, {ok, E}}) || {K, E} <- maps:to_list(Peers)],
        ?assertEqual(9, map_size(Peers))
    end).

purge_test() ->
    with_store(fun(S, _) ->
        ok = ?S:create(S, c, g_counter),
        ?assertEqual({error, visible}, ?S:purge(S, c)),
        ?assertEqual({error, not_found}, ?S:purge(S, d)),
        ok = ?S:delete(S, c),
        ?assertEqual(1, maps:get(rows, ?S:info(S))),
        ?assertEqual(ok, ?S:purge(S, c)),
        ?assertEqual(0, maps:get(rows, ?S:info(S))),
        ?assertEqual({error, not_found}, ?S:entry(S, c)),
        ?assertEqual(ok, ?S:create(S, c, g_counter))
    end).

buffer_bound_test() ->
    with_store(#{max_delta_buffer_bytes => 2000}, fun(S, _) ->
        ok = ?S:create(S, c, g_counter),
        [{ok, _} = ?S:increment(S, c) || _ <- lists:seq(1, 200)],
        %% writes are never refused; deltas over the bound are dropped and counted
        ?assertEqual({ok, 200}, ?S:get(S, c)),
        #{delta_bytes := Bytes, deltas_dropped := Dropped} = ?S:info(S),
        ?assert(Bytes =< 2000),
        ?assert(Dropped > 0),
        {_, #{overflowed := true}} = ?S:drain(S, 1 bsl 30),
        {ok, _} = ?S:increment(S, c),
        {[_], #{overflowed := false}} = ?S:drain(S, 1 bsl 30)
    end).

%% ---- subscriptions ----------------------------------------------------------------------

subscribe_test() ->
    with_store(fun(S, _) ->
        All = ?S:subscribe(S),
        One = ?S:subscribe(S, c),
        ok = ?S:create(S, c, g_counter),
        ok = ?S:create(S, d, g_set),
        {ok, 2} = ?S:increment(S, c, 2),
        {ok, 1} = ?S:add(S, d, x),
        ok = ?S:delete(S, c),
        ?assertEqual([{c, {created, g_counter}}, {d, {created, g_set}},
                      {c, {updated, {increment, 2}}}, {d, {updated, {add, x}}}, {c, deleted}],
                     flush_keys(All)),
        ?assertEqual([{created, g_counter}, {updated, {increment, 2}}, deleted], flush(One)),
        ok = ?S:unsubscribe(S, One),
        ok = ?S:create(S, c, g_counter),
        ?assertEqual([], flush(One)),
        ?assertEqual([{c, {created, g_counter}}], flush_keys(All)),
        %% a subscriber that exits is dropped
        Me = self(),
        P = spawn(fun() -> Me ! ?S:subscribe(S, c), receive stop -> ok end end),
        receive R when is_reference(R) -> ok end,
        ?assertEqual(2, maps:get(subscriptions, ?S:info(S))),
        Mon = monitor(process, P),
        P ! stop,
        receive {'DOWN', Mon, _, _, _} -> ok end,
        ?assertEqual(ok, wait_for(fun() -> maps:get(subscriptions, ?S:info(S)) =:= 1 end)),
        %% remote changes arrive by the same path
        {ok, E} = ?S:entry(S, c),
        ok = ?S:merge(S, c, E),
        ?assertEqual([{c, merged}], flush_keys(All))
    end).

wait_for(Fun) -> wait_for(Fun, 500).
wait_for(_, 0) -> timeout;
wait_for(Fun, N) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(10), wait_for(Fun, N - 1)
    end.

flush_keys(Ref) ->
    receive {lattice_store, Ref, _, Key, Change} -> [{Key, Change} | flush_keys(Ref)]
    after 100 -> []
    end.

merge_validation_test() ->
    with_store(fun(S, _) ->
        ?assertEqual({error, {bad_entry, not_a_map}}, ?S:merge(S, k, [])),
        ?assertEqual({error, {bad_entry, invalid}}, ?S:merge(S, k, #{foo => {a, b, c}})),
        ?assertEqual({error, {bad_entry, invalid}},
                     ?S:merge(S, k, #{g_counter => {lattice_orset:new(), <<1, 2, 3>>,
                                                     lattice_gcounter:new()}})),
        ?assertEqual({error, not_found}, ?S:entry(S, k))
    end).

%% ---- the entry merge: lattice laws (PropEr) ---------------------------------------------

props_test_() ->
    [{atom_to_list(P), {timeout, 120,
                        fun() -> ?assert(proper:quickcheck(?MODULE:P(),
                                                           [{numtests, 200}, {to_file, user},
                                                            long_result]) =:= true)
                        end}}
     || P <- [prop_entry_merge_laws, prop_entry_converges, prop_counter_delete,
              prop_store_matches_model]].

replica() -> elements([1, 2, 3]).

actor_of(R) -> {list_to_atom("r" ++ integer_to_list(R) ++ "@host"), R}.

type_pair() ->
    ?LET({A, B}, {elements(?E:types()), elements(?E:types())}, lists:usort([A, B])).

op_of(g_counter) -> {increment, range(1, 3)};
op_of(pn_counter) -> oneof([{increment, range(1, 3)}, {decrement, range(1, 3)}]);
op_of(g_set) -> {add, elements([x, y, z])};
op_of(T) when T =:= two_p_set; T =:= or_set; T =:= lww_set ->
    oneof([{add, elements([x, y, z])}, {remove, elements([x, y, z])}]);
op_of(lww_register) -> {assign, elements([x, y, z])};
op_of(lww_map) -> oneof([{put, elements([f, g]), range(1, 3)}, {remove, elements([f, g])}]);
op_of(mv_register) -> {assign, elements([x, y, z])}.

command(Types) ->
    ?LET(T, elements(Types),
         frequency([{2, {create, replica(), T}},
                    {6, {update, replica(), T, op_of(T)}},
                    {1, {delete, replica()}},
                    {2, {sync, replica(), replica()}}])).

history() ->
    ?LET({Types, N}, {type_pair(), range(4, 40)}, vector(N, command(Types))).

run(Commands) ->
    lists:foldl(fun run1/2, #{1 => ?E:new(), 2 => ?E:new(), 3 => ?E:new()}, Commands).

run1({create, R, T}, Rs) ->
    case ?E:create(T, actor_of(R), maps:get(R, Rs)) of
        {ok, E} -> Rs#{R := E};
        {error, {wrong_type, _}} -> Rs
    end;
run1({update, R, T, Op}, Rs) ->
    case ?E:update(T, Op, actor_of(R), maps:get(R, Rs)) of
        {ok, E, Delta} ->
            %% the delta, as an entry, is what the write added
            true = ?E:merge(maps:get(R, Rs), ?E:from_delta(T, Delta)) =:= E,
            Rs#{R := E};
        {error, _} -> Rs
    end;
run1({delete, R}, Rs) ->
    case ?E:delete(actor_of(R), maps:get(R, Rs)) of
        {ok, E} -> Rs#{R := E};
        {error, not_found} -> Rs
    end;
run1({sync, From, To}, Rs) ->
    Rs#{To := ?E:merge(maps:get(To, Rs), maps:get(From, Rs))}.

prop_entry_merge_laws() ->
    ?FORALL(Commands, history(),
        begin
            #{1 := A, 2 := B, 3 := C} = run(Commands),
            M = fun ?E:merge/2,
            ?WHENFAIL(io:format("A=~p~nB=~p~nC=~p~n", [A, B, C]),
                      M(A, B) =:= M(B, A) andalso
                      M(A, M(B, C)) =:= M(M(A, B), C) andalso
                      M(A, A) =:= A andalso M(B, B) =:= B andalso
                      %% merging what one has seen already changes nothing
                      M(M(A, B), B) =:= M(A, B))
        end).

%% Every replica that has merged every other shows the same type, value and conflicts.
prop_entry_converges() ->
    ?FORALL(Commands, history(),
        begin
            #{1 := A, 2 := B, 3 := C} = run(Commands),
            M = fun ?E:merge/2,
            All = [M(M(A, B), C), M(M(C, A), B), M(B, M(C, A))],
            Views = lists:usort([{?E:value(E), ?E:conflicts(E)} || E <- All]),
            length(lists:usort(All)) =:= 1 andalso length(Views) =:= 1
        end).

%% A counter deleted at one replica while another increments: after merging, the value is
%% exactly the increments the deleter had not seen.
prop_counter_delete() ->
    ?FORALL({Before, After}, {list(range(1, 5)), list(range(1, 5))},
        begin
            {ok, E0} = ?E:create(pn_counter, actor_of(1), ?E:new()),
            Inc = fun(R, Ns, E) ->
                      lists:foldl(fun(N, Acc) ->
                                      {ok, Acc2, _} = ?E:update(pn_counter, {increment, N},
                                                                actor_of(R), Acc),
                                      Acc2
                                  end, E, Ns)
                  end,
            Shared = ?E:merge(Inc(1, Before, E0), Inc(2, Before, E0)),
            {ok, Deleted} = ?E:delete(actor_of(1), Shared),
            Concurrent = Inc(2, After, Shared),
            Merged = ?E:merge(Deleted, Concurrent),
            case After of
                [] -> ?E:value(Merged) =:= {error, not_found};
                _ -> ?E:value(Merged) =:= {ok, pn_counter, lists:sum(After)}
            end
        end).

%% The in-place store agrees with the pure entry model, byte for byte: random creates, writes
%% and deletes on one key, here and at a peer, with merges both ways. (Types without HLC
%% timestamps, so both sides compute the same states.)
prop_store_matches_model() ->
    Types = [g_counter, pn_counter, g_set, two_p_set, or_set, mv_register],
    ?FORALL(Commands,
            ?LET({Pair, N}, {?LET({A, B}, {elements(Types), elements(Types)}, lists:usort([A, B])),
                             range(4, 30)},
                 vector(N, ?LET(T, elements(Pair),
                                frequency([{2, {local_create, T}}, {5, {local_write, op_of(T)}},
                                           {1, local_delete}, {2, {peer_create, T}},
                                           {3, {peer_write, T, op_of(T)}}, {1, peer_delete},
                                           {2, peer_to_local}, {1, local_to_peer}])))),
            with_store(fun(S, _) ->
                #{actor := Me} = ?S:info(S),
                {_, _, Ok} = lists:foldl(fun(C, {L, P, Ok}) -> step(S, Me, C, L, P, Ok) end,
                                         {?E:new(), ?E:new(), true}, Commands),
                Ok
            end)).

step(S, Me, Command, L, P, Ok) ->
    {L2, P2, Agree} = step1(S, Me, Command, L, P),
    Same = case ?S:entry(S, k) of
               {ok, E} -> E =:= L2;
               {error, not_found} -> L2 =:= #{}
           end,
    Value = ?S:lookup(S, k) =:= ?E:value(L2),
    case Agree andalso Same andalso Value of
        true -> {L2, P2, Ok};
        false ->
            io:format("diverged after ~p:~n store ~p~n model ~p~n", [Command, ?S:entry(S, k), L2]),
            {L2, P2, false}
    end.

step1(S, Me, {local_create, T}, L, P) ->
    case {?S:create(S, k, T), ?E:create(T, Me, L)} of
        {ok, {ok, L2}} -> {L2, P, true};
        {R, {error, _} = R} -> {L, P, true};
        _ -> {L, P, false}
    end;
step1(S, Me, {local_write, Op}, L, P) ->
    Store = store_write(S, Op),
    case model_write(Me, Op, L) of
        {ok, L2} -> {L2, P, element(1, Store) =:= ok};
        {error, _} = E -> {L, P, Store =:= E}
    end;
step1(S, Me, local_delete, L, P) ->
    case {?S:delete(S, k), ?E:delete(Me, L)} of
        {ok, {ok, L2}} -> {L2, P, true};
        {E, E} -> {L, P, true};
        _ -> {L, P, false}
    end;
step1(_, _, {peer_create, T}, L, P) ->
    case ?E:create(T, ?PEER, P) of
        {ok, P2} -> {L, P2, true};
        _ -> {L, P, true}
    end;
step1(_, _, {peer_write, T, Op}, L, P) ->
    case ?E:update(T, Op, ?PEER, P) of
        {ok, P2, _} -> {L, P2, true};
        _ -> {L, P, true}
    end;
step1(_, _, peer_delete, L, P) ->
    case ?E:delete(?PEER, P) of
        {ok, P2} -> {L, P2, true};
        _ -> {L, P, true}
    end;
step1(S, _, peer_to_local, L, P) when map_size(P) > 0 ->
    {?E:merge(L, P), P, ?S:merge(S, k, P) =:= ok};
step1(_, _, peer_to_local, L, P) ->
    {L, P, true};
step1(_, _, local_to_peer, L, P) ->
    {L, ?E:merge(P, L), true}.

store_write(S, {increment, N}) -> ?S:increment(S, k, N);
store_write(S, {decrement, N}) -> ?S:decrement(S, k, N);
store_write(S, {add, E}) -> ?S:add(S, k, E);
store_write(S, {remove, E}) -> ?S:remove(S, k, E);
store_write(S, {assign, V}) -> ?S:set(S, k, V).

%% The store's rule: the operation goes to the type the key shows, if it is one of its ops.
model_write(Me, Op, L) ->
    case ?E:visible(L) of
        [] -> {error, not_found};
        [T | _] ->
            case lists:member({element(1, Op), T}, valid_ops()) of
                true ->
                    case ?E:update(T, Op, Me, L) of
                        {ok, L2, _} -> {ok, L2};
                        Error -> Error
                    end;
                false -> {error, {wrong_type, T}}
            end
    end.

valid_ops() ->
    [{increment, g_counter}, {increment, pn_counter}, {decrement, pn_counter}] ++
    [{add, T} || T <- [g_set, two_p_set, or_set, lww_set]] ++
    [{remove, T} || T <- [two_p_set, or_set, lww_set, lww_map]] ++
    [{assign, T} || T <- [lww_register, mv_register]].

%% A big remote merge (a peer's 200k-element OR-Set delta, merge_deltas/2 as replication
%% calls it) into one key while 50 processes add to that key, under one scheduler: no write
%% is lost, the merge lands whole, and the 1 ms ticker never stalls past 20 ms.
big_merge_with_writers_test_() ->
    {timeout, 300, fun() ->
        with_store(#{max_delta_buffer_bytes => 1 bsl 30}, fun(S, _) ->
            Peer = lattice_object:new(lattice_orset),
            [{ok, _} = lattice_object:update({add, {p, I}}, {'peer@host', 9}, Peer)
             || I <- lists:seq(1, 200000)],
            Big = lattice_object:snapshot(Peer),
            Old = erlang:system_flag(schedulers_online, 1),
            try
                Gap = lattice_ticker:best_of_two(20, fun() ->
                    Key = {big, erlang:unique_integer()},
                    ok = ?S:create(S, Key, or_set),
                    Self = self(),
                    Writers = [spawn_link(fun() ->
                                   [{ok, _} = ?S:add(S, Key, {w, W, J}) || J <- lists:seq(1, 200)],
                                   Self ! {written, self()}
                               end) || W <- lists:seq(1, 50)],
                    {Gaps, [ok]} = lattice_ticker:run(fun() ->
                        ?S:merge_deltas(S, [{Key, or_set, Big}])
                    end),
                    [receive {written, W} -> ok end || W <- Writers],
                    {ok, Size} = ?S:add(S, Key, last),
                    ?assertEqual(200000 + 50 * 200 + 1, Size),
                    lists:max(Gaps)
                end),
                ?assert(Gap < 20)
            after
                erlang:system_flag(schedulers_online, Old)
            end
        end)
    end}.
