%% Replication of the store between real nodes: peers (lattice_peer_cluster) on this machine,
%% each running the lattice application with its C node and the default store replicated.
%% Convergence is checked by comparing every node's anti-entropy root (the digest of every key's
%% entry) and values against what the writes add up to.
-module(lattice_repl_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(S, lattice_store).
-define(R, lattice_repl).

%% Fast settings for tests (defaults are in lattice_repl).
-define(ENV(Repl), #{store => [{replication, maps:merge(#{ae_interval_ms => 2000}, Repl)}]}).

cluster(N, Repl, Fun) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    Peers = ?C:start(N, ?ENV(Repl)),
    Nodes = [Node || {_, Node} <- Peers],
    try
        mesh(Nodes),
        wait_peers(Nodes, N - 1),
        Fun(Nodes, Peers)
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist)
    end.

mesh(Nodes) ->
    [true = erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
    ok.

wait_peers(Nodes, N) ->
    ?C:wait_until({peers, N}, fun() ->
        lists:all(fun(Node) -> peers(Node) =:= N end, Nodes)
    end).

peers(Node) -> maps:get(peers, erpc:call(Node, ?R, stats, [?S])).

call(Node, F, Args) -> erpc:call(Node, ?S, F, [?S | Args]).

roots(Nodes) ->
    [begin
         ok = erpc:call(N, ?R, flush, [?S]),
         {ok, R} = erpc:call(N, lattice_ae, flush, [?S]),
         R
     end || N <- Nodes].

converged(Nodes) ->
    converged(Nodes, 20000).

converged(Nodes, Timeout) ->
    ?C:wait_until(converged, fun() -> length(lists:usort(roots(Nodes))) =:= 1 end, Timeout).

values(Nodes, Keys) ->
    [[call(N, get, [K]) || K <- Keys] || N <- Nodes].

%% Wrong cookies both ways between Cut and Others: they cannot reconnect (the test node stays
%% connected to all).
partition(Cut, Others) ->
    Bad = list_to_atom("cut_" ++ integer_to_list(erlang:unique_integer([positive]))),
    [begin
         true = erpc:call(Cut, erlang, set_cookie, [O, Bad]),
         true = erpc:call(O, erlang, set_cookie, [Cut, Bad]),
         erpc:call(Cut, erlang, disconnect_node, [O])
     end || O <- Others],
    ok.

heal(Cut, Others) ->
    Cookie = erlang:get_cookie(),
    [begin
         true = erpc:call(Cut, erlang, set_cookie, [O, Cookie]),
         true = erpc:call(O, erlang, set_cookie, [Cut, Cookie]),
         true = erpc:call(Cut, net_kernel, connect_node, [O])
     end || O <- Others],
    ok.

%% A process on Node that forwards the replication events of its store to the caller.
events(Node) ->
    Self = self(),
    Pid = erpc:call(Node, erlang, spawn, [fun() ->
        _ = lattice_repl:subscribe(lattice_store),
        Self ! {subscribed, self()},
        Loop = fun L() -> receive {lattice_repl, _, E} -> Self ! {event, node(), E}, L()
                          after 60000 -> ok end end,
        Loop()
    end]),
    receive {subscribed, Pid} -> ok after 5000 -> error(no_subscription) end.

collect_events() ->
    receive {event, N, E} -> [{N, E} | collect_events()] after 0 -> [] end.

%%--------------------------------------------------------------------------------------------

replication_test_() ->
    {timeout, 300, fun() ->
        cluster(3, #{}, fun(Nodes, _) ->
            random_concurrent_ops(Nodes),
            partition_and_heal(Nodes),
            delete_concurrent_with_writes(Nodes),
            cnode_kill9(Nodes)
        end)
    end}.

%% Random writes from several processes on every node at once; then every node holds the same
%% entries, and the values are what the writes add up to (the model: sums for counters,
%% unions for add-only sets).
random_concurrent_ops([N1 | _] = Nodes) ->
    Counters = [{c, I} || I <- lists:seq(1, 20)],
    Sets = [{s, I} || I <- lists:seq(1, 20)],
    GSets = [{g, I} || I <- lists:seq(1, 10)],
    Regs = [{r, I} || I <- lists:seq(1, 10)],
    [ok = call(N1, create, [K, pn_counter]) || K <- Counters],
    [ok = call(N1, create, [K, or_set]) || K <- Sets],
    [ok = call(N1, create, [K, g_set]) || K <- GSets],
    [ok = call(N1, create, [K, lww_register]) || K <- Regs],
    converged(Nodes),
    Self = self(),
    Workers = [spawn_link(fun() ->
                   rand:seed(exsss, {W, erlang:phash2(Node), 7}),
                   Ops = [random_op(Counters, Sets, GSets, Regs) || _ <- lists:seq(1, 400)],
                   Results = erpc:call(Node, fun() -> [apply_op(Op) || Op <- Ops] end),
                   Self ! {done, self(), lists:zip(Ops, Results)}
               end) || Node <- Nodes, W <- lists:seq(1, 3)],
    Done = [receive {done, W, R} -> R after 60000 -> error(worker_timeout) end || W <- Workers],
    converged(Nodes),
    All = lists:append(Done),
    Expect = lists:foldl(fun model/2, #{}, All),
    [[?assertEqual({K, maps:get(K, Expect, 0)}, {K, element(2, call(N, get, [K]))})
      || K <- Counters] || N <- Nodes],
    [[?assertEqual({K, lists:usort(maps:get(K, Expect, []))}, {K, element(2, call(N, get, [K]))})
      || K <- Sets ++ GSets] || N <- Nodes],
    [V] = lists:usort(values(Nodes, Regs)),
    ?assert(length(V) =:= length(Regs)),
    ok.

random_op(Counters, Sets, GSets, Regs) ->
    case rand:uniform(4) of
        1 -> {increment, pick(Counters), rand:uniform(5)};
        2 -> {decrement, pick(Counters), rand:uniform(5)};
        3 -> {add, pick(Sets ++ GSets), rand:uniform(30)};
        4 -> {set, pick(Regs), rand:uniform(1000)}
    end.

pick(L) -> lists:nth(rand:uniform(length(L)), L).

apply_op({increment, K, N}) -> lattice_store:increment(lattice_store, K, N);
apply_op({decrement, K, N}) -> lattice_store:decrement(lattice_store, K, N);
apply_op({add, K, E}) -> lattice_store:add(lattice_store, K, E);
apply_op({set, K, V}) -> lattice_store:set(lattice_store, K, V).

model({{increment, K, N}, {ok, _}}, M) -> M#{K => maps:get(K, M, 0) + N};
model({{decrement, K, N}, {ok, _}}, M) -> M#{K => maps:get(K, M, 0) - N};
model({{add, K, E}, {ok, _}}, M) -> M#{K => [E | maps:get(K, M, [])]};
model({{set, _, _}, {ok, _}}, M) -> M.

%% One node cut off, both sides write, the heal's anti-entropy finds exactly the keys that
%% diverged, and every node converges.
partition_and_heal([N1, N2, N3] = Nodes) ->
    Keys = [{p, I} || I <- lists:seq(1, 50)],
    [ok = call(N1, create, [K, pn_counter]) || K <- Keys],
    converged(Nodes),
    [events(N) || N <- Nodes],
    partition(N3, [N1, N2]),
    ?C:wait_until(partitioned, fun() -> [peers(N) || N <- Nodes] =:= [1, 1, 0] end),
    SideA = lists:sublist(Keys, 1, 10),
    SideB = lists:sublist(Keys, 8, 10),
    [{ok, _} = call(N1, increment, [K, 3]) || K <- SideA],
    [{ok, _} = call(N3, increment, [K, 4]) || K <- SideB],
    converged([N1, N2]),
    ?assertNotEqual(hd(roots([N1])), hd(roots([N3]))),
    heal(N3, [N1, N2]),
    converged(Nodes),
    Events = collect_events(),
    Found = lists:usort(lists:append([Ks || {_, {diff, _, Ks}} <- Events])),
    ?assertEqual(lists:usort(SideA ++ SideB), Found),
    ?assert(lists:any(fun({_, {partition_healed, _, _}}) -> true; (_) -> false end, Events)),
    [?assertEqual({ok, 3 * count(K, SideA) + 4 * count(K, SideB)}, call(N, get, [K]))
     || N <- Nodes, K <- Keys],
    Stats = erpc:call(N3, ?R, stats, [?S]),
    ?assert(maps:get(partitions_healed, Stats) >= 1),
    ?assert(maps:get(keys_repaired, Stats) >= 1).

count(K, L) -> length([X || X <- L, X =:= K]).

%% A delete on one side of a partition and increments on the other: after the heal the key
%% shows only the increments the deleting node had not seen, on every node.
delete_concurrent_with_writes([N1, N2, N3] = Nodes) ->
    ok = call(N1, create, [del, pn_counter]),
    {ok, 5} = call(N1, increment, [del, 5]),
    converged(Nodes),
    partition(N3, [N1, N2]),
    ?C:wait_until(partitioned, fun() -> [peers(N) || N <- Nodes] =:= [1, 1, 0] end),
    ok = call(N1, delete, [del]),
    {ok, 7} = call(N3, increment, [del, 2]),
    heal(N3, [N1, N2]),
    converged(Nodes),
    [?assertEqual({ok, 2}, call(N, get, [del])) || N <- Nodes].

%% kill -9 of one node's C node: the keeper restarts it, the replication feeds it every leaf
%% again, and anti-entropy still repairs a partition afterwards.
cnode_kill9([N1, N2, N3] = Nodes) ->
    #{incarnation := Inc} = ?C:wait_cnode(N1),
    OsPid = ?C:cnode_os_pid(N1),
    os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok = call(N2, create, [after_kill, g_set]),
    {ok, 1} = call(N2, add, [after_kill, x]),
    ?C:wait_cnode(N1, Inc),
    converged(Nodes),
    partition(N3, [N1, N2]),
    ?C:wait_until(partitioned, fun() -> [peers(N) || N <- Nodes] =:= [1, 1, 0] end),
    {ok, 2} = call(N1, add, [after_kill, y]),
    heal(N3, [N1, N2]),
    converged(Nodes),
    [?assertEqual({ok, [x, y]}, call(N, get, [after_kill])) || N <- Nodes].

%% kill -9 of a BEAM node; the others go on; the node restarted under its name, empty, catches
%% up by anti-entropy, writes again under a new incarnation: nothing lost, nothing resurrected.
node_kill9_test_() ->
    {timeout, 300, fun() ->
        cluster(2, #{}, fun([N1, N2] = Nodes, [_, {Peer2, _}]) ->
            ok = call(N1, create, [k, pn_counter]),
            converged(Nodes),
            {ok, 10} = call(N2, increment, [k, 10]),
            ok = call(N1, create, [gone, or_set]),
            {ok, 1} = call(N1, add, [gone, a]),
            converged(Nodes),
            ok = call(N2, delete, [gone]),
            converged(Nodes),
            OsPid = list_to_integer(erpc:call(N2, os, getpid, [])),
            os:cmd("kill -9 " ++ integer_to_list(OsPid)),
            ?C:wait_until(peer_lost, fun() -> peers(N1) =:= 0 end),
            catch peer:stop(Peer2),
            {ok, 11} = call(N1, increment, [k, 1]),
            Name = list_to_atom(hd(string:split(atom_to_list(N2), "@"))),
            {Peer3, N2} = ?C:start_named(Name, ?ENV(#{})),
            try
                ?C:wait_cnode(N2),
                true = erpc:call(N2, net_kernel, connect_node, [N1]),
                wait_peers(Nodes, 1),
                converged(Nodes),
                ?assertEqual({ok, 11}, call(N2, get, [k])),
                ?assertEqual({error, not_found}, call(N2, get, [gone])),
                {ok, 16} = call(N2, increment, [k, 5]),
                converged(Nodes),
                ?assertEqual({ok, 16}, call(N1, get, [k])),
                ?assertEqual({error, not_found}, call(N1, get, [gone]))
            after
                ?C:stop_one({Peer3, N2})
            end
        end)
    end}.

%% A fresh node catches up 10,000 keys by itself.
catch_up_test_() ->
    {timeout, 300, fun() ->
        cluster(1, #{}, fun([N1], _) ->
            ok = erpc:call(N1, fun() ->
                [begin
                     ok = lattice_store:create(lattice_store, {key, I}, g_counter),
                     {ok, _} = lattice_store:increment(lattice_store, {key, I}, I)
                 end || I <- lists:seq(1, 10000)],
                ok
            end),
            {Peer2, N2} = ?C:start_one(?ENV(#{})),
            try
                ?C:wait_cnode(N2),
                true = erpc:call(N2, net_kernel, connect_node, [N1]),
                converged([N1, N2], 30000),
                ?assertEqual({ok, 7777}, call(N2, get, [{key, 7777}])),
                ?assertEqual(10000, length(call(N2, keys, [])))
            after
                ?C:stop_one({Peer2, N2})
            end
        end)
    end}.

%% A fresh node joining two full ones takes one peer's whole store (a bulk), holds every
%% session until it has merged it, then compares with both: each key arrives once, not once per
%% peer, and what the bulk's sender lacked (a key written on the other node alone, during a
%% partition of the two) comes by the session with the other.
fresh_bulk_test_() ->
    {timeout, 300, fun() ->
        cluster(2, #{}, fun([N1, N2] = Nodes, _) ->
            Write = fun(Node, From, To) ->
                ok = erpc:call(Node, fun() ->
                    [begin
                         ok = lattice_store:create(lattice_store, {key, I}, g_counter),
                         {ok, _} = lattice_store:increment(lattice_store, {key, I}, I)
                     end || I <- lists:seq(From, To)],
                    ok
                end)
            end,
            Write(N1, 1, 3000),
            Write(N2, 3001, 4000),
            converged(Nodes),
            %% (N1 and N2 started empty too: each took a bulk, an empty one, of the other.)
            Bulks = fun() -> lists:sum([maps:get(bulks_sent, erpc:call(N, ?R, stats, [?S]))
                                        || N <- Nodes])
                    end,
            Before = Bulks(),
            %% N2 alone holds keys 4001..4100 when the fresh node comes.
            partition(N2, [N1]),
            Write(N2, 4001, 4100),
            {Peer3, N3} = ?C:start_one(?ENV(#{})),
            try
                ?C:wait_cnode(N3),
                [true = erpc:call(N3, net_kernel, connect_node, [N]) || N <- Nodes],
                ?C:wait_until(n3_has_4100, fun() ->
                    length(call(N3, keys, [])) =:= 4100
                end, 30000),
                heal(N2, [N1]),
                converged([N1, N2, N3], 30000),
                ?assertEqual({ok, 4077}, call(N3, get, [{key, 4077}])),
                ?assertEqual({ok, 777}, call(N3, get, [{key, 777}])),
                S3 = erpc:call(N3, ?R, stats, [?S]),
                ?assertEqual(1, maps:get(bulks_requested, S3)),
                ?assertEqual(Before + 1, Bulks()),
                ?assertEqual(0, maps:get(bulk_timeouts, S3)),
                %% Once each: 4000 by the bulk (from N1) or 4100 (from N2), the rest by the
                %% session with the other node; nothing twice.
                ?assertEqual(4100, maps:get(keys_repaired, S3))
            after
                ?C:stop_one({Peer3, N3})
            end
        end)
    end}.

%% Entries and deltas bigger than max_message_size travel in fragments: a big register write
%% (the delta stream), a big set to a fresh node (the bulk) and after a partition (a session's
%% repair); rogue fragments are refused and a message whose parts stop coming expires.
large_entries_test_() ->
    {timeout, 300, fun() ->
        Repl = #{max_message_size => 20000, sync_timeout_ms => 1000},
        cluster(2, Repl, fun([N1, N2] = Nodes, _) ->
            Big = binary:copy(<<"0123456789">>, 6000),
            ok = call(N1, create, [reg, lww_register]),
            {ok, Big} = call(N1, set, [reg, Big]),
            ?C:wait_until(big_register, fun() -> call(N2, get, [reg]) =:= {ok, Big} end),
            ok = call(N1, create, [set, or_set]),
            Elements = [{element, I, binary:copy(<<"x">>, 20)} || I <- lists:seq(1, 3000)],
            [{ok, _} = call(N1, add, [set, E]) || E <- Elements],
            converged(Nodes),
            {Peer3, N3} = ?C:start_one(?ENV(Repl)),
            try
                ?C:wait_cnode(N3),
                [true = erpc:call(N3, net_kernel, connect_node, [N]) || N <- Nodes],
                converged([N1, N2, N3], 30000),
                ?assertEqual({ok, lists:sort(Elements)}, call(N3, get, [set])),
                ?assertEqual({ok, Big}, call(N3, get, [reg])),
                %% cut off, N3 adds 1000 more; the heal's session repairs the whole set
                partition(N3, Nodes),
                More = [{more, I} || I <- lists:seq(1, 1000)],
                [{ok, _} = call(N3, add, [set, E]) || E <- More],
                heal(N3, Nodes),
                converged([N1, N2, N3], 30000),
                ?assertEqual({ok, lists:sort(Elements ++ More)}, call(N1, get, [set])),
                S3 = erpc:call(N3, ?R, stats, [?S]),
                ?assert(maps:get(large_received, S3) >= 1),
                ?assert(maps:get(large_sent, S3) >= 1),
                ?assertEqual(0, maps:get(oversized_entries, S3))
            after
                ?C:stop_one({Peer3, N3})
            end,
            %% rogue fragments, as a peer would send them
            Dest = {lattice_repl:name(?S), N2},
            Now = erpc:call(N2, lattice_hlc, now, []),
            Before = erpc:call(N2, ?R, stats, [?S]),
            [Dest ! M || M <- [
                {'$lattice_repl', fragment, self(), Now, 1, 0, 2, <<"zero index">>},
                {'$lattice_repl', fragment, self(), Now, 2, 3, 2, <<"index past the count">>},
                {'$lattice_repl', fragment, self(), Now, 3, 1, 2, binary:copy(<<1>>, 30000)},
                {'$lattice_repl', fragment, self(), Now, 4, 1, 100000, <<"too many parts">>},
                {'$lattice_repl', fragment, self(), Now, 5, 1, 2, <<"first">>},
                {'$lattice_repl', fragment, self(), Now, 5, 2, 3, <<"another count">>},
                {'$lattice_repl', fragment, self(), Now, 6, 1, 2, <<"never finished">>},
                {'$lattice_repl', fragment, self(), Now, 7, 1, 2, <<"not ">>},
                {'$lattice_repl', fragment, self(), Now, 7, 2, 2, <<"canonical">>}]],
            After = ?C:wait_until(rogue_fragments, fun() ->
                S = erpc:call(N2, ?R, stats, [?S]),
                maps:get(malformed, S) - maps:get(malformed, Before) >= 6 andalso
                    maps:get(fragments_expired, S) > maps:get(fragments_expired, Before)
                    andalso S
            end),
            ?assertEqual(0, maps:get(large_received, After) - maps:get(large_received, Before)
                            - 1),
            converged(Nodes)
        end)
    end}.

%% Gossip: above gossip_threshold peers, a batch goes to `fanout' random peers and
%% anti-entropy carries it to the rest.
gossip_test_() ->
    {timeout, 300, fun() ->
        Repl = #{gossip_threshold => 2, fanout => 1, gossip_ae_interval_ms => 200},
        cluster(5, Repl, fun([N1 | _] = Nodes, _) ->
            ?assertEqual(gossip, maps:get(mode, erpc:call(N1, ?R, stats, [?S]))),
            ok = call(N1, create, [g, g_counter]),
            converged(Nodes, 30000),
            [{ok, _} = call(N, increment, [g, 2]) || N <- Nodes, _ <- [1, 2]],
            converged(Nodes, 30000),
            [?assertEqual({ok, 20}, call(N, get, [g])) || N <- Nodes],
            %% a write costs `fanout' batches, not one per peer
            Sent = lists:sum([maps:get(batches_sent, erpc:call(N, ?R, stats, [?S])) || N <- Nodes]),
            ?assert(Sent =< 30)
        end)
    end}.

%% A rogue sender: garbage, oversized, clock far ahead, wrong types, invalid states. Nothing
%% crashes, nothing changes, all counted.
rogue_messages_test_() ->
    {timeout, 300, fun() ->
        cluster(1, #{max_message_size => 4096}, fun([N1], _) ->
            ok = call(N1, create, [safe, pn_counter]),
            {ok, 3} = call(N1, increment, [safe, 3]),
            Repl = {lattice_repl:name(?S), N1},
            Root0 = roots([N1]),
            ReplPid = erpc:call(N1, erlang, whereis, [lattice_repl:name(?S)]),
            Now = erpc:call(N1, lattice_hlc, now, []),
            Ahead = erpc:call(N1, lattice_hlc, make, [lattice_hlc:physical(Now) + 3600000, 0]),
            %% the wire form of a batch: [{Type | entry, [{Key, Value}]}]
            Bad = fun(Items) -> lattice_canon:encode([{T, [{K, V}]} || {K, T, V} <- Items]) end,
            Msgs = [
                garbage,
                {'$lattice_repl', batch},
                %% Start 0: unsequenced (as gossip is), so each is judged on its own
                {'$lattice_repl', batch, self(), 0, 1, Now, <<"not canonical">>},
                {'$lattice_repl', batch, self(), 0, 2, Now, binary:copy(<<1>>, 5000)},
                {'$lattice_repl', batch, self(), 0, 3, Ahead, Bad([{safe, pn_counter, <<1>>}])},
                {'$lattice_repl', batch, self(), 0, 4, Now, Bad([{safe, no_such_type, <<>>}])},
                {'$lattice_repl', batch, self(), 0, 5, Now, Bad([{safe, pn_counter, <<9, 9, 9>>}])},
                {'$lattice_repl', batch, self(), 0, 6, Now, Bad([{safe, entry, #{bad => 1}}])},
                {'$lattice_repl', batch, self(), 0, 7, not_a_clock, Bad([])},
                {'$lattice_repl', repair, self(), Now, lattice_canon:encode(not_a_list)},
                {'$lattice_repl', repair, self(), Now, lattice_canon:encode([{g_counter, nope}])},
                %% a stream: batch 1, then batch 1 again (stale: a duplicate), then 3 (a gap)
                {'$lattice_repl', batch, self(), 1, 1, Now, Bad([])},
                {'$lattice_repl', batch, self(), 1, 1, Now, Bad([])},
                {'$lattice_repl', batch, self(), 1, 3, Now, Bad([])},
                {'$lattice_repl', ack, self(), 99},
                {'$lattice_repl', nack, self(), -1}
            ],
            [Repl ! M || M <- Msgs],
            Stats = ?C:wait_until(counted, fun() ->
                S = erpc:call(N1, ?R, stats, [?S]),
                maps:get(oversized_messages, S) >= 1 andalso maps:get(clock_skew_refused, S) >= 1
                    andalso maps:get(malformed, S) >= 3
                    andalso maps:get(invalid_states, S) + maps:get(malformed, S) >= 6
                    andalso S
            end),
            ?assert(maps:get(invalid_states, Stats) >= 2),
            ?C:wait_until(stale, fun() ->
                S2 = erpc:call(N1, ?R, stats, [?S]),
                maps:get(duplicates, S2) >= 1 andalso maps:get(gaps, S2) >= 1
            end),
            %% the stream's answers came back to us: an ack for the duplicate, a nack for the gap
            receive {'$lattice_repl', ack, _, 1} -> ok after 5000 -> error(no_ack) end,
            receive {'$lattice_repl', nack, _, 2} -> ok after 5000 -> error(no_nack) end,
            ?assertEqual(ReplPid, erpc:call(N1, erlang, whereis, [lattice_repl:name(?S)])),
            ?assertEqual({ok, 3}, call(N1, get, [safe])),
            ?assertEqual(Root0, roots([N1]))
        end)
    end}.

%% A peer that never acknowledges: sync timeouts, the breaker opens, half-opens after
%% reset_timeout_ms, and after max_trips the peer is dropped. max_peers refuses a third.
limits_test_() ->
    {timeout, 300, fun() ->
        Repl = #{sync_timeout_ms => 200, failure_threshold => 2, reset_timeout_ms => 300,
                 max_trips => 2, max_peers => 1},
        cluster(1, Repl, fun([N1], _) ->
            Scope = lattice_repl:scope(?S),
            {ok, PgPid} = pg:start(Scope),
            try silent_peer(N1, Scope) after exit(PgPid, kill) end
        end)
    end}.

silent_peer(N1, Scope) ->
            events(N1),
            Silent = spawn(fun() -> receive stop -> ok end end),
            ok = pg:join(Scope, ?S, Silent),
            ?C:wait_until(silent_peer, fun() -> peers(N1) =:= 1 end),
            %% max_peers (1): another is refused, and counted
            Extra = spawn(fun() -> receive stop -> ok end end),
            ok = pg:join(Scope, ?S, Extra),
            ?C:wait_until(refused, fun() ->
                maps:get(peers_refused, erpc:call(N1, ?R, stats, [?S])) >= 1
            end),
            ok = call(N1, create, [w, g_counter]),
            Writer = spawn_link(fun W() -> catch call(N1, increment, [w, 1]), timer:sleep(20), W() end),
            ?C:wait_until(dropped, fun() ->
                S = erpc:call(N1, ?R, stats, [?S]),
                maps:get(peers_dropped, S) >= 1 andalso S
            end, 20000),
            unlink(Writer), exit(Writer, kill),
            S = erpc:call(N1, ?R, stats, [?S]),
            ?assert(maps:get(sync_timeouts, S) >= 1),
            ?assert(maps:get(breaker_opens, S) >= 2),
            Events = collect_events(),
            ?assert(lists:keymember({breaker_open, node()}, 2, Events)),
            ?assert(lists:keymember({peer_dropped, node()}, 2, Events)),
            {degraded, _} = erpc:call(N1, ?R, health_status, [?S]),
            Silent ! stop,
            Extra ! stop,
            ok.

%% disable_sync stops sending; enable_sync sends what was written meanwhile. A small merge
%% queue drops batches (counted), and the sender's retries converge all the same.
sync_monitor_test_() ->
    {timeout, 300, fun() ->
        cluster(2, #{max_queue_size => 1, max_message_size => 20000}, fun([N1, N2] = Nodes, _) ->
            ok = call(N1, create, [m, or_set]),
            converged(Nodes),
            {healthy, []} = erpc:call(N1, ?R, health_status, [?S]),
            ok = erpc:call(N1, ?R, disable_sync, [?S]),
            {disabled, _} = erpc:call(N1, ?R, health_status, [?S]),
            [{ok, _} = call(N1, add, [m, I]) || I <- lists:seq(1, 2000)],
            timer:sleep(200),
            ?assertEqual({ok, []}, call(N2, get, [m])),
            ok = erpc:call(N1, ?R, enable_sync, [?S]),
            converged(Nodes, 30000),
            ?assertEqual({ok, lists:seq(1, 2000)}, call(N2, get, [m])),
            S1 = erpc:call(N1, ?R, stats, [?S]),
            ?assert(maps:get(batches_sent, S1) > 5)
        end)
    end}.

%% A real peer that stops acknowledging (its replication suspended): sync timeouts open the
%% breaker; resumed, the half-open probe closes it again and the writes made meanwhile arrive.
breaker_recovers_test_() ->
    {timeout, 300, fun() ->
        Repl = #{sync_timeout_ms => 300, failure_threshold => 1, reset_timeout_ms => 500,
                 max_trips => 100},
        cluster(2, Repl, fun([N1, N2] = Nodes, _) ->
            events(N1),
            ok = call(N1, create, [b, g_counter]),
            converged(Nodes),
            ReplPid = erpc:call(N2, erlang, whereis, [lattice_repl:name(?S)]),
            ok = erpc:call(N2, sys, suspend, [ReplPid]),
            [{ok, _} = call(N1, increment, [b, 1]) || _ <- lists:seq(1, 5)],
            ?C:wait_until(opened, fun() ->
                maps:get(breaker_opens, erpc:call(N1, ?R, stats, [?S])) >= 1
            end),
            {degraded, Reasons} = erpc:call(N1, ?R, health_status, [?S]),
            ?assert(lists:keymember(breaker_open, 1, Reasons)),
            ok = erpc:call(N2, sys, resume, [ReplPid]),
            ?C:wait_until(closed, fun() ->
                erpc:call(N1, ?R, health_status, [?S]) =:= {healthy, []}
            end),
            converged(Nodes),
            ?assertEqual({ok, 5}, call(N2, get, [b])),
            Events = collect_events(),
            ?assert(lists:keymember({breaker_open, N2}, 2, Events)),
            ?assert(lists:keymember({breaker_closed, N2}, 2, Events))
        end)
    end}.

%% max_crdts on a replica: keys beyond it from a peer are refused and counted; the rest
%% replicate.
max_crdts_test_() ->
    {timeout, 300, fun() ->
        _ = application:stop(lattice),
        Dist = ?C:ensure_distributed(),
        P1 = ?C:start_one(#{store => [{replication, #{ae_interval_ms => 2000}}]}),
        P2 = ?C:start_one(#{store => [{max_crdts, 3}, {replication, #{ae_interval_ms => 2000}}]}),
        [{_, N1}, {_, N2}] = Peers = [P1, P2],
        try
            mesh([N1, N2]),
            wait_peers([N1, N2], 1),
            [ok = call(N1, create, [{m, I}, g_counter]) || I <- lists:seq(1, 5)],
            ?C:wait_until(refused, fun() ->
                maps:get(limit_refused, erpc:call(N2, ?R, stats, [?S])) >= 1
            end),
            ?assertEqual(3, length(call(N2, keys, []))),
            ?assertEqual({error, limit_reached}, call(N2, create, [local, g_counter]))
        after
            ?C:stop(Peers),
            ?C:release_distribution(Dist)
        end
    end}.
