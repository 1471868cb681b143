%% Multi-node EUnit tests of anti-entropy through lattice_ae: BEAM peer nodes on this machine
%% (lattice_peer_cluster), each running the lattice application, so each has its supervised C
%% node; sessions run C node to C node on loopback.
%%
%% The owner of a store on a peer is a forwarding process in this VM (owner/1): whatever
%% lattice_ae on that peer sends it arrives here as {owner, Node, Msg}.
%%
%% Needs epmd (scripts/ensure-epmd.sh). Every wait has a generous deadline: nothing here
%% measures time (make bench does).
-module(lattice_ae_tests).

-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(WAIT, 30000).

%%--------------------------------------------------------------------------------------------
%% Fixture: three peers shared by the tests that do not kill anything of theirs

ae_test_() ->
    {setup, fun setup/0, fun cleanup/1, fun(#{peers := Peers}) ->
        [
            {timeout, 120, {Title, fun() -> Test(Peers) end}}
         || {Title, Test} <- [
                {"API: argument errors, not_open, already_open, busy, self", fun api_errors/1},
                {"two nodes, random divergence: exactly the differing keys, each side",
                    fun two_nodes_random/1},
                {"two nodes: empty, equal, one side empty, every key different",
                    fun two_nodes_edges/1},
                {"equal trees: one round trip, under 100 bytes", fun equal_trees_cheap/1},
                {"three nodes, pairwise sessions at once", fun three_nodes/1},
                {"periodic sync with the configured peers", fun periodic_sync/1},
                {"a peer without the store, an unreachable peer: sync_failed", fun bad_peers/1},
                {"batches: a 200k-leaf put goes in batches under the packet cap, none dropped",
                    fun big_feed/1},
                {"batches: by size (batch_bytes) and by time (batch_ms), without a flush",
                    fun batching/1}
            ]
        ]
    end}.

%% Tests that kill C nodes or VMs start peers of their own.
ae_kill_test_() ->
    {setup, fun() -> ?C:ensure_distributed() end, fun ?C:release_distribution/1, fun(_) ->
        [
            {timeout, 120, {Title, Test}}
         || {Title, Test} <- [
                {"kill -9 of a C node: restarted, its owner's leaves fed again, nothing lost",
                    fun restart_refeeds/0},
                {"kill -9 of this side's C node mid-session: failed cleanly, next one works",
                    fun kill_local_mid_session/0},
                {"kill -9 of the peer's C node mid-session: failed cleanly, next one works",
                    fun kill_peer_mid_session/0},
                {"the C node exits when its node goes away: peer:stop, kill -9 of the VM",
                    fun owner_node_goes_away/0},
                {"lattice_ae killed: its local owner inherits the table, opens again, loses nothing",
                    fun server_killed_heir/0}
            ]
        ]
    end}.

setup() ->
    Started = ?C:ensure_distributed(),
    #{started => Started, peers => ?C:start(3)}.

cleanup(#{started := Started, peers := Peers}) ->
    ?C:stop(Peers),
    ?C:release_distribution(Started).

%%--------------------------------------------------------------------------------------------
%% Tests

api_errors([{_, A}, {_, B} | _]) ->
    S = store(),
    Owner = owner(A),
    ?assertEqual({error, not_open}, call(A, put, [S, [{<<"k">>, digest(1)}]])),
    ?assertEqual({error, not_open}, call(A, sync, [S, B])),
    ?assertEqual({error, not_open}, call(A, info, [S])),
    ok = call(A, open, [S, #{owner => Owner}]),
    ?assertEqual({error, already_open}, call(A, open, [S, #{owner => Owner}])),
    ?assertEqual({error, already_open}, call(A, open, [atom_to_binary(S), #{owner => Owner}])),
    Bad = [
        [{<<>>, digest(1)}],
        [{<<"k">>, <<1, 2, 3>>}],
        [{"k", digest(1)}],
        [{binary:copy(<<"k">>, 4097), digest(1)}],
        [{<<"k">>, digest(1), extra}],
        not_a_list
    ],
    [?assertError({exception, badarg, _}, call(A, put, [S, E])) || E <- Bad],
    ?assertError({exception, badarg, _}, call(A, delete, [S, [<<>>]])),
    ?assertError({exception, badarg, _}, call(A, update, [S, [{<<"k">>, remove}]])),
    ?assertError({exception, badarg, _}, call(A, open, ["a list", #{}])),
    ?assertEqual({error, self_sync}, call(A, sync, [S, A])),
    ok = call(A, put, [S, [{<<"k">>, digest(1)}, {<<"j">>, digest(2)}]]),
    ok = call(A, update, [S, [{<<"j">>, delete}, {<<"i">>, digest(3)}]]),
    ?assertEqual({ok, digest(1)}, call(A, lookup, [S, <<"k">>])),
    ?assertEqual(error, call(A, lookup, [S, <<"j">>])),
    {ok, Info} = call(A, info, [S]),
    ?assertMatch(#{leaves := 2}, Info),
    ok = call(A, close, [S]),
    ?assertEqual({error, not_open}, call(A, lookup, [S, <<"k">>])),
    stop_owner(Owner).

two_nodes_random([{_, A}, {_, B} | _]) ->
    lists:foreach(
        fun(Seed) ->
            {MA, MB} = diverge(3000, Seed, 0.02),
            check_pair(A, MA, B, MB)
        end,
        [1, 2, 3]
    ).

two_nodes_edges([{_, A}, {_, B} | _]) ->
    Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, 500)]),
    Other = maps:map(fun(K, _) -> erlang:md5(K) end, Base),
    [
        check_pair(A, MA, B, MB)
     || {MA, MB} <- [
            {#{}, #{}},
            {Base, Base},
            {Base, #{}},
            {#{}, Base},
            {Base, Other},
            {#{key(1) => digest(1)}, #{key(2) => digest(2)}}
        ]
    ].

equal_trees_cheap([{_, A}, {_, B} | _]) ->
    M = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, 10000)]),
    S = store(),
    {OA, OB} = open_pair(S, A, M, B, M),
    {ok, [], Report} = sync_wait(S, A, B),
    ?assertMatch(#{result := equal, round_trips := 1}, Report),
    %% The session's messages (HELLO, EQUAL); the whole packets with their distribution
    %% headers are counted in bytes_out and bytes_in.
    ?assert(maps:get(payload_out, Report) + maps:get(payload_in, Report) < 100),
    ?assertMatch({ok, [], #{result := equal, role := responder}}, await_report(B, S, A, responder)),
    close_pair(S, A, OA, B, OB).

three_nodes([{_, A}, {_, B}, {_, C}]) ->
    rand:seed(exsss, 42),
    Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, 2000)]),
    [MA, MB, MC] = [mutate(Base, 0.03) || _ <- [a, b, c]],
    S = store(),
    Owners = [{N, open_store(S, N, M)} || {N, M} <- [{A, MA}, {B, MB}, {C, MC}]],
    [{ok, _} = call(N, flush, [S]) || {N, _} <- Owners],
    %% Three sessions at once, one started by each node.
    Pairs = [{A, MA, B, MB}, {B, MB, C, MC}, {C, MC, A, MA}],
    [ok = call(X, sync, [S, Y]) || {X, _, Y, _} <- Pairs],
    [
        ?assertEqual(expected(MX, MY), element(2, await_session(X, S, Y)))
     || {X, MX, Y, MY} <- Pairs
    ],
    [close_store(S, N, O) || {N, O} <- Owners].

periodic_sync([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(1000, 7, 0.05),
    S = store(),
    OB = open_store(S, B, MB),
    {ok, _} = call(B, flush, [S]),
    OA = owner(A),
    ok = call(A, open, [S, #{owner => OA, sync_interval => 200, peers => [B]}]),
    ok = call(A, put, [S, maps:to_list(MA)]),
    %% No sync call: the tick starts sessions; the second one is complete and exact.
    {ok, _, _} = await_session(A, S, B),
    {ok, Diffs, _} = await_session(A, S, B),
    ?assertEqual(expected(MA, MB), Diffs),
    close_store(S, A, OA),
    close_store(S, B, OB).

bad_peers([{_, A}, {_, B} | _]) ->
    S = store(),
    OA = open_store(S, A, #{key(1) => digest(1)}),
    ok = call(A, sync, [S, B]),
    ?assertEqual({error, {peer, not_open}}, await_session(A, S, B)),
    %% A periodic tick over connected peers passes over those without the store, silently.
    ok = call(A, close, [S]),
    ok = call(A, open, [S, #{owner => OA, sync_interval => 50}]),
    timer:sleep(500),
    ?assertEqual(none, receive {owner, A, {lattice_ae, session, S, _} = M} -> M after 0 -> none end),
    Nowhere = list_to_atom("nowhere_" ++ os:getpid() ++ "@localhost"),
    ok = call(A, sync, [S, Nowhere]),
    ?assertMatch({error, {unreachable, _}}, await_session(A, S, Nowhere)),
    close_store(S, A, OA).

big_feed([{_, A}, {_, B} | _]) ->
    N = 200000,
    M = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, N)]),
    Changed = maps:from_list([{key(I), digest(-I)} || I <- lists:seq(1, N, N div 50)]),
    S = store(),
    {OA, OB} = open_pair(S, A, M, B, maps:merge(M, Changed)),
    {ok, #{leaves := N}} = call(A, info, [S]),
    {ok, #{count := N}} = call(A, flush, [S]),
    %% No batch was over the C node's packet cap (it would have been dropped, counted).
    {ok, #{counters := #{oversized := 0}}} = call(A, cnode_stats, []),
    {ok, Diffs, _} = sync_wait(S, A, B),
    ?assertEqual(lists:sort([{K, differs} || K <- maps:keys(Changed)]), Diffs),
    close_pair(S, A, OA, B, OB).

batching([{_, A} | _]) ->
    S = store(),
    Owner = owner(A),
    %% 64-byte batches hold two entries of a 9-byte key (1 + 2 * 28 bytes): of 100 entries,
    %% 49 full batches go at once, with no flush and no timer; the last two wait (for a
    %% minute, or a flush).
    ok = call(A, open, [S, #{owner => Owner, batch_bytes => 64, batch_ms => 60000}]),
    Keys0 = gauge(A, keys),
    Requests0 = counter(A, msgs_request),
    ok = call(A, put, [S, [{<<"batch-", I:24>>, digest(I)} || I <- lists:seq(1, 100)]]),
    ?C:wait_until(size_batches, fun() -> gauge(A, keys) - Keys0 =:= 98 end),
    ?assert(counter(A, msgs_request) - Requests0 >= 49),
    ?assertMatch({ok, #{pending := 2}}, call(A, info, [S])),
    {ok, #{count := 100}} = call(A, flush, [S]),
    ok = call(A, close, [S]),
    %% One change, the default batch_bytes, batch_ms 20: sent by the timer, no flush.
    ok = call(A, open, [S, #{owner => Owner, batch_ms => 20}]),
    Keys1 = gauge(A, keys),
    ok = call(A, put, [S, [{<<"alone">>, digest(1)}]]),
    ?C:wait_until(timed_batch, fun() -> gauge(A, keys) - Keys1 =:= 1 end),
    close_store(S, A, Owner).

stats(Node) ->
    {ok, Stats} = call(Node, cnode_stats, []),
    Stats.

counter(Node, Key) -> maps:get(Key, maps:get(counters, stats(Node))).

gauge(Node, Key) -> maps:get(Key, maps:get(gauges, stats(Node))).

restart_refeeds() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        {MA, MB} = diverge(5000, 11, 0.01),
        S = store(),
        {_OA, _OB} = open_pair(S, A, MA, B, MB),
        {ok, RootBefore} = call(A, root, [S]),
        #{incarnation := I0} = erpc:call(A, lattice_cnode_keeper, info, []),
        kill_cnode(A),
        ?assertMatch({lattice_ae, cnode_down, S, _}, owner_msg(A)),
        %% Changes made while the C node is away go to the table and reach the next C node.
        Extra = #{<<"while-down">> => digest(99)},
        ok = call(A, put, [S, maps:to_list(Extra)]),
        ?assertMatch({lattice_ae, cnode_up, S, _}, owner_msg(A)),
        ?C:wait_cnode(A, I0),
        {ok, RootAfter} = call(A, root, [S]),
        ?assertNotEqual(RootBefore, RootAfter),
        %% Nothing lost: the new C node holds exactly the owner's leaves.
        {ok, Diffs, _} = sync_wait(S, A, B),
        ?assertEqual(expected(maps:merge(MA, Extra), MB), Diffs),
        %% And the same root as a C node fed the same leaves from scratch.
        S2 = store(),
        O2 = open_store(S2, B, maps:merge(MA, Extra)),
        {ok, RootFresh} = call(B, root, [S2]),
        ?assertEqual(RootAfter, RootFresh),
        close_store(S2, B, O2)
    after
        ?C:stop(Peers)
    end.

kill_local_mid_session() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        {MA, MB} = diverge(5000, 12, 0.01),
        S = store(),
        {_OA, _OB} = open_pair(S, A, MA, B, MB),
        %% The peer's C node stopped: the session hangs on it, so the kill is mid-session.
        PeerOs = ?C:cnode_os_pid(B),
        _ = os:cmd("kill -STOP " ++ integer_to_list(PeerOs)),
        ok = call(A, sync, [S, B]),
        wait_session_running(A),
        #{incarnation := I0} = erpc:call(A, lattice_cnode_keeper, info, []),
        kill_cnode(A),
        ?assertMatch({error, {cnode_down, _}}, await_session(A, S, B)),
        _ = os:cmd("kill -CONT " ++ integer_to_list(PeerOs)),
        ?C:wait_cnode(A, I0),
        ?assertMatch({lattice_ae, cnode_up, S, _}, owner_msg_matching(A, cnode_up)),
        {ok, Diffs, _} = sync_wait(S, A, B),
        ?assertEqual(expected(MA, MB), Diffs)
    after
        ?C:stop(Peers)
    end.

kill_peer_mid_session() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        {MA, MB} = diverge(5000, 13, 0.01),
        S = store(),
        {_OA, _OB} = open_pair(S, A, MA, B, MB),
        PeerOs = ?C:cnode_os_pid(B),
        _ = os:cmd("kill -STOP " ++ integer_to_list(PeerOs)),
        ok = call(A, sync, [S, B]),
        wait_session_running(A),
        #{incarnation := I0} = erpc:call(B, lattice_cnode_keeper, info, []),
        _ = os:cmd("kill -9 " ++ integer_to_list(PeerOs)),
        ?assertMatch({error, _}, await_session(A, S, B)),
        %% This side's C node lives on; the peer's comes back and is fed again.
        ?C:wait_cnode(B, I0),
        ?assertMatch({lattice_ae, cnode_up, S, _}, owner_msg_matching(B, cnode_up)),
        {ok, _} = call(B, flush, [S]),
        {ok, Diffs, _} = sync_wait(S, A, B),
        ?assertEqual(expected(MA, MB), Diffs)
    after
        ?C:stop(Peers)
    end.

owner_node_goes_away() ->
    [{P1, N1}, {_, N2}] = ?C:start(2),
    Os1 = ?C:cnode_os_pid(N1),
    Os2 = ?C:cnode_os_pid(N2),
    VmOs2 = list_to_integer(erpc:call(N2, os, getpid, [])),
    peer:stop(P1),
    ?C:wait_until(cnode_exits_after_peer_stop, fun() -> not ?C:os_alive(Os1) end),
    _ = os:cmd("kill -9 " ++ integer_to_list(VmOs2)),
    ?C:wait_until(vm_exits, fun() -> not ?C:os_alive(VmOs2) end),
    ?C:wait_until(cnode_exits_after_vm_kill, fun() -> not ?C:os_alive(Os2) end).

server_killed_heir() ->
    [{_, A}, {_, B}] = Peers = ?C:start(2),
    try
        {MA, MB} = diverge(3000, 14, 0.02),
        S = store(),
        OB = open_store(S, B, MB),
        {ok, _} = call(B, flush, [S]),
        Test = self(),
        %% An owner local to A (an heir must be local): opens, feeds, and on ETS-TRANSFER opens
        %% the store again with the table it inherited.
        Owner = erpc:call(A, erlang, spawn, [fun() -> heir_owner(Test, S, MA) end]),
        receive {heir_owner, opened} -> ok after ?WAIT -> error(owner_not_open) end,
        %% A delete that reaches the table but, with the server killed at once, maybe not the
        %% C node: it must not linger there after the store is opened again.
        [{GoneKey, _} | _] = maps:to_list(MA),
        MA1 = maps:remove(GoneKey, MA),
        Owner ! {delete, GoneKey},
        receive {heir_owner, deleted} -> ok after ?WAIT -> error(owner_no_delete) end,
        Old = erpc:call(A, erlang, whereis, [lattice_ae]),
        erpc:call(A, erlang, exit, [Old, kill]),
        receive
            {heir_owner, reopened, Result} -> ?assertEqual(ok, Result)
        after ?WAIT -> error(owner_not_reopened)
        end,
        ?assertNotEqual(Old, erpc:call(A, erlang, whereis, [lattice_ae])),
        N = map_size(MA1),
        {ok, #{count := N}} = call(A, flush, [S]),
        {ok, Diffs, _} = sync_wait(S, A, B),
        ?assertEqual(expected(MA1, MB), Diffs),
        close_store(S, B, OB)
    after
        ?C:stop(Peers)
    end.

%% Runs on A.
heir_owner(Test, S, M) ->
    ok = lattice_ae:open(S),
    ok = lattice_ae:put(S, maps:to_list(M)),
    {ok, _} = lattice_ae:flush(S),
    Test ! {heir_owner, opened},
    heir_owner_loop(Test, S).

heir_owner_loop(Test, S) ->
    receive
        {delete, K} ->
            ok = lattice_ae:delete(S, [K]),
            Test ! {heir_owner, deleted},
            heir_owner_loop(Test, S);
        {'ETS-TRANSFER', Tab, _From, {lattice_ae, S}} ->
            Result = reopen(S, Tab, 100),
            Test ! {heir_owner, reopened, Result},
            heir_owner_loop(Test, S);
        {lattice_ae, _, _, _} = Msg ->
            Test ! {owner, node(), Msg},
            heir_owner_loop(Test, S)
    end.

%% The supervisor restarts lattice_ae at once; wait for it.
reopen(S, Tab, Tries) ->
    case catch lattice_ae:open(S, #{leaves => Tab}) of
        ok -> ok;
        _ when Tries > 0 -> timer:sleep(20), reopen(S, Tab, Tries - 1);
        Other -> Other
    end.

%%--------------------------------------------------------------------------------------------
%% Helpers

%% A fresh store name per use, so that tests sharing peers never meet.
store() ->
    list_to_atom("ae_test_" ++ integer_to_list(erlang:unique_integer([positive]))).

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

digest(I) -> <<(erlang:phash2({I, digest})):32, 0:64, (erlang:phash2(I)):32>>.

call(Node, F, Args) ->
    erpc:call(Node, lattice_ae, F, Args, ?WAIT).

%% Two maps key => digest: a common base of N keys, then each side changed at rate P (a key
%% dropped, its digest changed, a key added).
diverge(N, Seed, P) ->
    rand:seed(exsss, Seed),
    Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, N)]),
    {mutate(Base, P), mutate(Base, P)}.

mutate(Base, P) ->
    M = maps:fold(
        fun(K, D, Acc) ->
            case rand:uniform() of
                X when X < P -> Acc;
                X when X < 2 * P -> Acc#{K => crypto_digest(K, rand:uniform(1 bsl 30))};
                _ -> Acc#{K => D}
            end
        end,
        #{},
        Base
    ),
    Added = round(P * map_size(Base)),
    maps:merge(M, maps:from_list([
        {<<"new-", (integer_to_binary(rand:uniform(1 bsl 40)))/binary>>, digest(-1)}
     || _ <- lists:seq(1, Added)
    ])).

crypto_digest(K, Salt) -> erlang:md5(<<K/binary, Salt:64>>).

%% The differences seen from the side holding MA against the side holding MB, sorted.
expected(MA, MB) ->
    Keys = lists:usort(maps:keys(MA) ++ maps:keys(MB)),
    lists:sort(lists:filtermap(
        fun(K) ->
            case {maps:find(K, MA), maps:find(K, MB)} of
                {{ok, D}, {ok, D}} -> false;
                {{ok, _}, {ok, _}} -> {true, {K, differs}};
                {{ok, _}, error} -> {true, {K, local_only}};
                {error, {ok, _}} -> {true, {K, remote_only}}
            end
        end,
        Keys
    )).

mirror(Diffs) ->
    lists:sort([{K, flip(Side)} || {K, Side} <- Diffs]).

flip(local_only) -> remote_only;
flip(remote_only) -> local_only;
flip(differs) -> differs.

check_pair(A, MA, B, MB) ->
    S = store(),
    {OA, OB} = open_pair(S, A, MA, B, MB),
    {ok, Diffs, Report} = sync_wait(S, A, B),
    ?assertEqual(expected(MA, MB), Diffs),
    ?assertMatch(#{role := initiator, node := B}, Report),
    %% The peer's owner is told the mirror image.
    {ok, Theirs, _} = await_report(B, S, A, responder),
    ?assertEqual(mirror(Diffs), Theirs),
    %% The other way round: the mirror image.
    {ok, Back, _} = sync_wait(S, B, A),
    ?assertEqual(mirror(expected(MA, MB)), Back),
    close_pair(S, A, OA, B, OB).

open_pair(S, A, MA, B, MB) ->
    OA = open_store(S, A, MA),
    OB = open_store(S, B, MB),
    {ok, _} = call(A, flush, [S]),
    {ok, _} = call(B, flush, [S]),
    {OA, OB}.

close_pair(S, A, OA, B, OB) ->
    close_store(S, A, OA),
    close_store(S, B, OB).

open_store(S, Node, M) ->
    Owner = owner(Node),
    ok = call(Node, open, [S, #{owner => Owner}]),
    ok = call(Node, put, [S, maps:to_list(M)]),
    Owner.

close_store(S, Node, Owner) ->
    ok = call(Node, close, [S]),
    stop_owner(Owner),
    flush_owner(Node).

sync_wait(S, A, B) ->
    ok = call(A, sync, [S, B]),
    await_session(A, S, B).

%% The report of the session Node started for its store S with Peer, as Node's owner is told:
%% {ok, SortedKeys, Report} | {error, Reason}.
await_session(Node, S, Peer) ->
    case await_report(Node, S, Peer, initiator) of
        {ok, _, #{result := {error, Reason}}} -> {error, Reason};
        Ok -> Ok
    end.

await_report(Node, S, Peer, Role) ->
    receive
        {owner, Node, {lattice_ae, session, S, #{node := Peer, role := Role} = Report}} ->
            {ok, lists:sort(maps:get(keys, Report)), Report}
    after ?WAIT -> error({no_session_report, Node, S, Peer, Role})
    end.

%% A process of this VM that forwards what it receives to the test process, tagged.
owner(Node) ->
    Test = self(),
    spawn(fun() -> forward(Test, Node) end).

forward(Test, Node) ->
    receive
        stop -> ok;
        Msg -> Test ! {owner, Node, Msg}, forward(Test, Node)
    end.

stop_owner(Owner) ->
    Owner ! stop,
    ok.

owner_msg(Node) ->
    receive
        {owner, Node, {lattice_ae, Kind, _, _} = Msg} when Kind =:= cnode_down; Kind =:= cnode_up ->
            Msg
    after ?WAIT -> error({no_owner_message, Node})
    end.

owner_msg_matching(Node, Kind) ->
    receive
        {owner, Node, {lattice_ae, Kind, _, _} = Msg} -> Msg
    after ?WAIT -> error({no_owner_message, Node, Kind})
    end.

%% Drops what the owners of Node were told and nobody waited for (the passive side's diffs).
flush_owner(Node) ->
    receive
        {owner, Node, _} -> flush_owner(Node)
    after 0 -> ok
    end.

%% Until Node's C node says a session runs (its gauge), so a kill comes mid-session.
wait_session_running(Node) ->
    ?C:wait_until(session_running, fun() ->
        case call(Node, cnode_stats, []) of
            {ok, #{gauges := #{sessions := N}}} -> N >= 1;
            _ -> false
        end
    end).

kill_cnode(Node) ->
    OsPid = ?C:cnode_os_pid(Node),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.
