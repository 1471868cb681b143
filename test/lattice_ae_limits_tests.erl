%% The C node's limits (docs/CNODE.md, section 5) seen from the owners: each trips, is counted
%% in the stats, and the next session after it is lifted (or has recovered) is exact. And a
%% rogue node sending malformed, huge and half-sent messages to a C node while a session of
%% two honest nodes runs: that session still ends, exact, in time.
%%
%% Three peers (lattice_peer_cluster) with the lattice application; limits are changed at run
%% time on one C node (lattice_ae:set_limits/1 there) and put back after each test. Needs epmd.
-module(lattice_ae_limits_tests).

-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(WAIT, 30000).

-define(DEFAULTS, #{
    session_bytes => 67108864,
    rate_bytes => 0,
    rate_burst => 1048576,
    session_timeout_ms => 30000,
    max_sessions => 16,
    breaker_failures => 1000,
    breaker_reset_ms => 10000,
    max_keys => 100000
}).

limits_test_() ->
    {setup, fun setup/0, fun cleanup/1, fun(#{peers := Peers}) ->
        [
            {timeout, 120, {Title, fun() -> run(Test, Peers) end}}
         || {Title, Test} <- [
                {"session_bytes: the session ends session_bytes; lifted, exact", fun session_bytes/1},
                {"rate_bytes: sessions wait for tokens; lifted, fast again", fun rate_bytes/1},
                {"session_timeout_ms: a silent peer times out; back, exact", fun session_timeout/1},
                {"max_sessions: one more is refused busy; after, it runs", fun max_sessions/1},
                {"circuit breaker: opens after failures, refuses, half-opens, closes",
                    fun breaker/1},
                {"max_keys: the report is truncated; raised, complete", fun max_keys/1},
                {"a rogue node's malformed, huge and half-sent messages: a session still ends",
                    fun rogue/1}
            ]
        ]
    end}.

setup() ->
    Started = ?C:ensure_distributed(),
    %% The breaker stays out of the way of the tests that make sessions fail on purpose.
    Peers = ?C:start(3, #{cnode_limits => #{breaker_failures => 1000}}),
    #{started => Started, peers => Peers}.

cleanup(#{started := Started, peers := Peers}) ->
    ?C:stop(Peers),
    ?C:release_distribution(Started).

%% Runs a test; whatever happens, every C node is running again and has the default limits.
run(Test, [_, {_, B}, {_, C}] = Peers) ->
    try
        Test(Peers)
    after
        [cont(N) || N <- [B, C]],
        [ok = limits(N, ?DEFAULTS) || {_, N} <- Peers]
    end.

%%--------------------------------------------------------------------------------------------
%% Tests

session_bytes([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(4000, 21, 0.05),
    S = store(),
    open_pair(S, A, MA, B, MB),
    ok = limits(A, #{session_bytes => 2000}),
    ?assertEqual({error, session_bytes}, sync_wait(S, A, B)),
    ?assert(counter(A, session_bytes_exceeded) >= 1),
    ok = limits(A, #{session_bytes => 67108864}),
    {ok, Diffs, _} = sync_wait(S, A, B),
    ?assertEqual(expected(MA, MB), Diffs),
    close_pair(S, A, B).

rate_bytes([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(4000, 22, 0.05),
    S = store(),
    open_pair(S, A, MA, B, MB),
    {ok, Free, #{bytes_out := Out, bytes_in := In}} = sync_wait(S, A, B),
    Bytes = Out + In,
    %% A bucket of 2 KiB refilled at a quarter of the session's bytes per second: seconds of
    %% waiting, whatever the machine's speed.
    Rate = max(1000, Bytes div 4),
    Waits0 = counter(A, rate_waits),
    ok = limits(A, #{rate_bytes => Rate, rate_burst => 2048}),
    T0 = erlang:monotonic_time(millisecond),
    {ok, Slow, _} = sync_wait(S, A, B),
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    ?assertEqual(Free, Slow),
    ?assert(counter(A, rate_waits) > Waits0),
    %% (Bytes - burst) / Rate seconds at the least; half of it, for the counting's slack.
    ?assert(Elapsed >= ((Bytes - 2048) * 1000 div Rate) div 2),
    ok = limits(A, #{rate_bytes => 0}),
    {ok, Again, _} = sync_wait(S, A, B),
    ?assertEqual(expected(MA, MB), Again),
    close_pair(S, A, B).

session_timeout([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(2000, 23, 0.05),
    S = store(),
    open_pair(S, A, MA, B, MB),
    ok = limits(A, #{session_timeout_ms => 300}),
    Timeouts0 = counter(A, session_timeouts),
    stop(B),
    ?assertEqual({error, timeout}, sync_wait(S, A, B)),
    ?assert(counter(A, session_timeouts) > Timeouts0),
    cont(B),
    ok = limits(A, #{session_timeout_ms => 30000}),
    {ok, Diffs, _} = sync_wait(S, A, B),
    ?assertEqual(expected(MA, MB), Diffs),
    close_pair(S, A, B).

max_sessions([{_, A}, {_, B}, {_, C}]) ->
    {MA, MB} = diverge(2000, 24, 0.05),
    MC = MB,
    S = store(),
    open_pair(S, A, MA, B, MB),
    open_store(S, C, MC),
    {ok, _} = call(C, flush, [S]),
    ok = limits(A, #{max_sessions => 1}),
    Refused0 = counter(A, busy_refused),
    %% The session with B hangs on B, stopped; the one with C is one too many.
    stop(B),
    ok = call(A, sync, [S, B]),
    ?C:wait_until(session_running, fun() -> gauge(A, sessions) >= 1 end),
    ?assertEqual({error, busy}, sync_wait(S, A, C)),
    ?assert(counter(A, busy_refused) > Refused0),
    cont(B),
    {ok, DB, _} = await_session(A, S, B),
    ?assertEqual(expected(MA, MB), DB),
    {ok, DC, _} = sync_wait(S, A, C),
    ?assertEqual(expected(MA, MC), DC),
    close_store(S, C),
    close_pair(S, A, B).

breaker([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(1000, 25, 0.05),
    S = store(),
    open_pair(S, A, MA, B, MB),
    ok = limits(A, #{breaker_failures => 2, breaker_reset_ms => 1500, session_timeout_ms => 300}),
    Trips0 = counter(A, breaker_trips),
    stop(B),
    ?assertEqual({error, timeout}, sync_wait(S, A, B)),
    ?assertEqual({error, timeout}, sync_wait(S, A, B)),
    %% Open: refused at once, without a try.
    ?assertEqual({error, circuit_open}, sync_wait(S, A, B)),
    ?assert(counter(A, breaker_trips) > Trips0),
    ?assert(counter(A, breaker_refused) >= 1),
    {ok, BCNode} = ?C:cnode(B),
    ?assertMatch([#{state := open}], breakers(A, BCNode)),
    cont(B),
    %% After breaker_reset_ms it half-opens: one trial session, which succeeds and closes it.
    timer:sleep(1700),
    ok = limits(A, #{session_timeout_ms => 30000}),
    {ok, Diffs, _} = sync_wait(S, A, B),
    ?assertEqual(expected(MA, MB), Diffs),
    ?assert(lists:all(fun(#{state := St}) -> St =:= closed end, breakers(A, BCNode))),
    close_pair(S, A, B).

max_keys([{_, A}, {_, B} | _]) ->
    {MA, MB} = diverge(2000, 26, 0.05),
    S = store(),
    open_pair(S, A, MA, B, MB),
    Expected = expected(MA, MB),
    ?assert(length(Expected) > 5),
    ok = limits(A, #{max_keys => 5}),
    {ok, Some, Report} = sync_wait(S, A, B),
    ?assertMatch(#{truncated := true}, Report),
    ?assertEqual(5, length(Some)),
    ?assertEqual([], Some -- Expected),
    ok = limits(A, #{max_keys => 100000}),
    {ok, All, #{truncated := false}} = sync_wait(S, A, B),
    ?assertEqual(Expected, All),
    close_pair(S, A, B).

rogue([{_, A}, {_, B}, {_, R}]) ->
    {MA, MB} = diverge(20000, 27, 0.02),
    S = store(),
    open_pair(S, A, MA, B, MB),
    {ok, ACNode} = ?C:cnode(A),
    Malformed0 = counter(A, malformed),
    Oversized0 = counter(A, oversized),
    %% From the rogue node R: session messages that do not decode, of unknown sessions, of
    %% wrong kinds, truncated bodies, and packets above max_packet (2 MiB); plus half a packet,
    %% a stalled handshake and a peer that never reads, from the C tool.
    Rogue = erpc:call(R, erlang, spawn, [fun() -> rogue_loop(ACNode, 0) end]),
    HalfSent = half_sent(ACNode),
    try
        timer:sleep(300),
        T0 = erlang:monotonic_time(millisecond),
        {ok, Diffs, _} = sync_wait(S, A, B),
        Elapsed = erlang:monotonic_time(millisecond) - T0,
        ?assertEqual(expected(MA, MB), Diffs),
        %% In time: far from the 5 s a half-sent packet held the old loop for; generous for a
        %% loaded machine.
        ?assert(Elapsed < 4000),
        %% The owner's requests are answered meanwhile.
        T1 = erlang:monotonic_time(millisecond),
        {ok, _} = call(A, flush, [S]),
        ?assert(erlang:monotonic_time(millisecond) - T1 < 2000),
        ?assert(counter(A, malformed) > Malformed0),
        ?assert(counter(A, oversized) > Oversized0)
    after
        exit(Rogue, kill),
        stop_half_sent(HalfSent)
    end,
    close_pair(S, A, B).

rogue_loop(CNode, I) ->
    Sid = I band 16#ffffffff,
    Junk = [
        <<1, 1, 0, Sid:32, "not a hello">>,
        <<1, 3, 0, Sid:32, 255, 255, 255>>,
        <<1, 4, 0, Sid:32>>,
        <<1, 6, 1, Sid:32, 0:8000>>,
        <<9, 9, 9>>,
        <<>>,
        {not_a, binary},
        binary:copy(<<7>>, 2 * 1048576),
        <<1, 5, 0, Sid:32, 200, "short">>
    ],
    [erlang:send({lattice_ae, CNode}, M) || M <- Junk],
    erlang:send({any, CNode}, {{update, <<"x">>, <<1, 1, 0, 200>>}, self(), make_ref()}),
    receive
    after 5 -> rogue_loop(CNode, I + 1)
    end.

%% The cnode tests' tool test/tools/lt_rogue_peer (build/tools, made here if missing): three
%% connections to the C node, one that sent half a packet and holds, one that sent one byte of
%% a handshake and holds, one that sends requests and never reads the replies. Returns their
%% ports once each is in place.
half_sent(CNode) ->
    Path = "build/tools/lt_rogue_peer",
    case filelib:is_regular(Path) of
        true -> ok;
        false -> _ = os:cmd("make -s " ++ Path)
    end,
    ?assert(filelib:is_regular(Path)),
    Tool = filename:absname(Path),
    [Alive, Host] = string:split(atom_to_list(CNode), "@"),
    {port, ListenPort, _} = erl_epmd:port_please(Alive, Host),
    Unique = os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive])),
    [
        begin
            Port = open_port({spawn_executable, Tool}, [
                {args, Args},
                {env, [{"LATTICE_COOKIE", atom_to_list(erlang:get_cookie())}]},
                {line, 256},
                use_stdio,
                binary
            ]),
            receive
                {Port, {data, {eol, <<"holding">>}}} -> Port
            after ?WAIT -> error({rogue_not_holding, Args})
            end
        end
     || Args <- [
            ["half", "rogue_half_" ++ Unique ++ "@" ++ Host, atom_to_list(CNode)],
            ["stall", integer_to_list(ListenPort)],
            ["noread", "rogue_noread_" ++ Unique ++ "@" ++ Host, atom_to_list(CNode), "3000"]
        ]
    ].

stop_half_sent(Ports) ->
    [catch port_close(P) || P <- Ports],
    ok.

%%--------------------------------------------------------------------------------------------
%% Helpers

call(Node, F, Args) ->
    erpc:call(Node, lattice_ae, F, Args, ?WAIT).

limits(Node, Limits) ->
    call(Node, set_limits, [Limits]).

stats(Node) ->
    {ok, Stats} = call(Node, cnode_stats, []),
    Stats.

counter(Node, Key) ->
    maps:get(Key, maps:get(counters, stats(Node))).

gauge(Node, Key) ->
    maps:get(Key, maps:get(gauges, stats(Node))).

breakers(Node, Peer) ->
    [B || #{peer := P} = B <- maps:get(breakers, stats(Node)), P =:= Peer].

stop(Node) -> signal(Node, "STOP").
cont(Node) -> signal(Node, "CONT").

signal(Node, Sig) ->
    case catch ?C:cnode_os_pid(Node) of
        OsPid when is_integer(OsPid) -> _ = os:cmd("kill -" ++ Sig ++ " " ++ integer_to_list(OsPid));
        _ -> ok
    end,
    ok.

store() ->
    list_to_atom("ae_limits_" ++ integer_to_list(erlang:unique_integer([positive]))).

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

digest(I) -> <<(erlang:phash2({I, digest})):32, 0:64, (erlang:phash2(I)):32>>.

diverge(N, Seed, P) ->
    rand:seed(exsss, Seed),
    Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, N)]),
    {mutate(Base, P), mutate(Base, P)}.

mutate(Base, P) ->
    M = maps:filtermap(
        fun(K, D) ->
            case rand:uniform() of
                X when X < P -> false;
                X when X < 2 * P -> {true, erlang:md5(<<K/binary, (rand:uniform(1 bsl 30)):64>>)};
                _ -> {true, D}
            end
        end,
        Base
    ),
    Added = round(P * map_size(Base)),
    maps:merge(M, maps:from_list([
        {<<"new-", (integer_to_binary(rand:uniform(1 bsl 40)))/binary>>, digest(-1)}
     || _ <- lists:seq(1, Added)
    ])).

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

%% The owner of every store here is this test process (remote to the peers).
open_store(S, Node, M) ->
    ok = call(Node, open, [S, #{owner => self()}]),
    ok = call(Node, put, [S, maps:to_list(M)]).

open_pair(S, A, MA, B, MB) ->
    open_store(S, A, MA),
    open_store(S, B, MB),
    {ok, _} = call(A, flush, [S]),
    {ok, _} = call(B, flush, [S]),
    ok.

close_store(S, Node) ->
    ok = call(Node, close, [S]).

close_pair(S, A, B) ->
    close_store(S, A),
    close_store(S, B),
    flush_mailbox().

flush_mailbox() ->
    receive
        {lattice_ae, _, _, _} -> flush_mailbox()
    after 0 -> ok
    end.

sync_wait(S, A, B) ->
    ok = call(A, sync, [S, B]),
    await_session(A, S, B).

%% The report of the session this test's store S on A started with B. Reports to the test
%% process from other nodes (the responder's) and from other sessions are skipped.
await_session(_A, S, B) ->
    receive
        {lattice_ae, session, S, #{node := B, role := initiator} = Report} ->
            case maps:get(result, Report) of
                {error, Reason} -> {error, Reason};
                _ -> {ok, lists:sort(maps:get(keys, Report)), Report}
            end
    after ?WAIT -> error({no_session_report, S, B})
    end.
