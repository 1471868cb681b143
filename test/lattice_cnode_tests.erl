%% EUnit tests for lattice_cnode and the C node binary, priv/lattice_cnode.
%%
%% Needs epmd on loopback (scripts/ensure-epmd.sh). The VM is made distributed for the tests
%% if it is not, and made non-distributed again afterwards. Every wait polls with a deadline.
%% LATTICE_CNODE_EXE=Path runs the tests against another build of the C node, or a wrapper
%% script around it (valgrind).
-module(lattice_cnode_tests).

-include_lib("eunit/include/eunit.hrl").

-define(DEADLINE_MS, 10000).
-define(POLL_MS, 20).
-define(MIB, 1048576).

%%--------------------------------------------------------------------------------------------
%% Fixture

cnode_test_() ->
    {setup, fun setup/0, fun cleanup/1, fun(Env) ->
        [
            {timeout, 60, {Title, fun() -> Test(Env) end}}
         || {Title, Test} <- [
                {"start_link: ping, version, names, visible in the cluster; stop ends it",
                    fun start_ping_version_stop/1},
                {"unknown requests are answered with the operation echoed", fun unknown_request/1},
                {"malformed and oversized messages are ignored; ping still answered",
                    fun garbage/1},
                {"the cookie is not on the C node's command line", fun cookie_not_on_argv/1},
                {"the owning process killed: port closed, C node exits", fun port_closed/1},
                {"C node killed: the server stops with a reason", fun cnode_killed/1},
                {"SIGTERM: C node exits with status 0", fun sigterm/1},
                {"owner disconnects: C node exits with status 0", fun owner_disconnects/1},
                {"C node stopped and unreachable: the server kills it", fun unreachable_killed/1},
                {"owner VM killed -9 (peer): C node exits", fun owner_vm_killed/1},
                {"start errors are clear", fun start_errors/1},
                {"not distributed: start fails with not_distributed (peer)",
                    fun not_distributed/1},
                {"command line: usage, no cookie, cookie file, --notify, wrong cookie",
                    fun command_line/1}
            ]
        ]
    end}.

%% The owner protocol and anti-entropy sessions between two C nodes started from this VM.
ae_test_() ->
    {setup, fun setup/0, fun cleanup/1, fun(Env) ->
        [
            {timeout, 120, {Title, fun() -> Test(Env) end}}
         || {Title, Test} <- [
                {"stores: open, update, root, get, children, buckets, clear, drop, errors",
                    fun store_requests/1},
                {"sessions: equal trees cost one round trip under 100 bytes", fun equal_trees/1},
                {"sessions: 0, 1, one-sided, many and all keys differing: exactly those keys",
                    fun exact_differences/1},
                {"sessions: random divergence, both sides told the same keys",
                    fun random_divergence/1},
                {"sessions: traffic grows with the differences, not the keys",
                    fun traffic_grows_with_d/1},
                {"sync errors: no store, bad peer, peer without the store, other levels",
                    fun sync_errors/1},
                {"garbage and oversized session messages are counted; sessions go on",
                    fun session_garbage/1},
                {"limits: set_limits checks, max_keys truncates, session_bytes trips",
                    fun limits_basic/1},
                {"limits: timeout, skipped tick, busy, breaker opens, half-opens, closes",
                    fun limits_breaker/1},
                {"limits: the rate limit makes a session wait", fun limits_rate/1},
                {"confirm pass: keys that converge during the confirm delay are not reported",
                    fun confirm_pass/1},
                {"requests from a node that is not the owner: read-only ones only",
                    fun not_owner/1},
                {"a half-sent packet, a stalled handshake, a peer that does not read: "
                 "ping within 10 ms, sessions finish",
                    fun rogue_peers/1}
            ]
        ]
    end}.

setup() ->
    Started =
        case is_alive() of
            true ->
                false;
            false ->
                %% A fresh name per fixture: the last fixture's name may still be held by
                %% epmd for a moment after its distribution stopped.
                Name = list_to_atom("lattice_cnode_test_" ++ os:getpid() ++ "_" ++
                                        integer_to_list(erlang:unique_integer([positive]))),
                case net_kernel:start([Name, shortnames]) of
                    {ok, _} -> true = is_alive();
                    {error, Reason} -> error({cannot_start_distribution, Reason, is_epmd_running})
                end
        end,
    Exe = lattice_cnode:executable(),
    Opts =
        case {os:getenv("LATTICE_CNODE_EXE"), filelib:is_regular(Exe)} of
            %% Another build of the C node, or a wrapper (valgrind).
            {Path, _} when Path =/= false, Path =/= "" -> #{executable => Path};
            {_, true} -> #{};
            %% Modules compiled by hand, outside an application directory: use the build tree.
            {_, false} -> #{executable => filename:absname("priv/lattice_cnode")}
        end,
    ?assert(filelib:is_regular(maps:get(executable, Opts, Exe))),
    #{started => Started, opts => Opts, exe => maps:get(executable, Opts, Exe)}.

cleanup(#{started := Started}) ->
    _ = file:del_dir_r(scratch_dir()),
    case Started of
        true -> ok = net_kernel:stop();
        false -> ok
    end.

%%--------------------------------------------------------------------------------------------
%% Tests

start_ping_version_stop(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start_link(Opts),
    CNode = lattice_cnode:node_name(S),
    OsPid = lattice_cnode:os_pid(S),
    [Alive, Host] = string:split(atom_to_list(node()), "@"),
    ?assertMatch(
        [_, Host], string:split(atom_to_list(CNode), "@")
    ),
    ?assertEqual(
        "lattice_cnode_" ++ Alive ++ "_",
        lists:sublist(atom_to_list(CNode), length("lattice_cnode_" ++ Alive ++ "_"))
    ),
    ?assert(os_alive(OsPid)),
    ?assertEqual(pong, lattice_cnode:ping(S)),
    ?assertEqual({ok, <<"0.1.0">>, 3}, lattice_cnode:version(S)),
    ?assert(lists:member(CNode, nodes(hidden))),
    ?assertEqual(pong, net_adm:ping(CNode)),
    ?assertEqual(ok, lattice_cnode:stop(S)),
    %% stop/1 returns once the C node's connection is gone.
    ?assertNot(lists:member(CNode, nodes(hidden))),
    wait_until("C node process exits", fun() -> not os_alive(OsPid) end),
    ?assertEqual({error, timeout}, call_cnode(CNode, ping, 200)).

unknown_request(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    try
        ?assertEqual(
            {ok, {error, {unknown_request, frobnicate}}}, lattice_cnode:request(S, frobnicate, 5000)
        ),
        Op = {<<"bin">>, [1, 2 | improper], #{k => 1.5}, -(1 bsl 200), 'ünïcødé', <<1:3>>},
        ?assertEqual({ok, {error, {unknown_request, Op}}}, lattice_cnode:request(S, Op, 5000)),
        Deep = deep_tuple(100000),
        ?assertEqual({ok, {error, {unknown_request, Deep}}}, lattice_cnode:request(S, Deep, 5000))
    after
        lattice_cnode:stop(S)
    end.

garbage(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    try
        CNode = lattice_cnode:node_name(S),
        OsPid = lattice_cnode:os_pid(S),
        Ref = make_ref(),
        Self = self(),
        Messages = [
            ping,
            {},
            {ping},
            {ping, Self},
            {ping, Self, Ref, extra},
            {ping, not_a_pid, Ref},
            {ping, Self, not_a_ref},
            {ping, Ref, Self},
            [ping, Self, Ref],
            [ping | Self],
            <<"junk">>,
            <<1:7>>,
            42,
            1 bsl 5000,
            3.14,
            "a string",
            #{ping => Self, ref => Ref},
            fun() -> ok end,
            fun lists:map/2,
            hd(erlang:ports()),
            list_to_tuple(lists:seq(1, 300)),
            deep_tuple(200000),
            deep_list(200000),
            deep_map(10000),
            binary:copy(<<"x">>, ?MIB - 1000),
            binary:copy(<<"x">>, ?MIB),
            binary:copy(<<"x">>, 2 * ?MIB),
            {ping, Self, binary:copy(<<"r">>, 2 * ?MIB)},
            {binary:copy(<<"o">>, 3 * ?MIB div 2), Self, Ref},
            lists:duplicate(10000, Self)
        ],
        [erlang:send({any, CNode}, M) || M <- Messages],
        %% Sent to the name net_kernel, which the C node answers only for is_auth.
        [
            erlang:send({net_kernel, CNode}, M)
         || M <- [
                {'$gen_call', {Self, Ref}, {is_auth}},
                {'$gen_call', {not_a_pid, Ref}, {is_auth, node()}},
                {'$gen_call', Self, {is_auth, node()}},
                {'$gen_call', {Self, Ref}, {is_auth, node()}, extra}
            ]
        ],
        ?assertEqual(pong, lattice_cnode:ping(S)),
        ?assertEqual({ok, <<"0.1.0">>, 3}, lattice_cnode:version(S)),
        ?assertEqual(OsPid, lattice_cnode:os_pid(S)),
        ?assert(os_alive(OsPid)),
        %% None of the malformed messages drew a reply.
        receive
            Unexpected -> ?assertEqual(no_reply, Unexpected)
        after 0 -> ok
        end
    after
        lattice_cnode:stop(S)
    end.

cookie_not_on_argv(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    try
        OsPid = lattice_cnode:os_pid(S),
        {ok, CmdLine} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/cmdline"),
        Args = binary:split(CmdLine, <<0>>, [global, trim_all]),
        ?assert(lists:member(<<"--owner">>, Args)),
        Cookie = atom_to_binary(erlang:get_cookie()),
        ?assertEqual(nomatch, binary:match(CmdLine, Cookie))
    after
        lattice_cnode:stop(S)
    end.

port_closed(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    OsPid = lattice_cnode:os_pid(S),
    CNode = lattice_cnode:node_name(S),
    MRef = monitor(process, S),
    %% No terminate/2: the runtime closes the port, and the C node sees end of stdin.
    exit(S, kill),
    receive
        {'DOWN', MRef, process, S, killed} -> ok
    after ?DEADLINE_MS -> error(server_not_killed)
    end,
    wait_until("C node process exits", fun() -> not os_alive(OsPid) end),
    wait_until("C node leaves the cluster", fun() -> not lists:member(CNode, nodes(hidden)) end).

cnode_killed(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    OsPid = lattice_cnode:os_pid(S),
    MRef = monitor(process, S),
    _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    %% 128 + the signal number, as the port reports it.
    ?assertEqual({cnode_exited, 128 + 9}, await_down(MRef, S)).

sigterm(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    OsPid = lattice_cnode:os_pid(S),
    MRef = monitor(process, S),
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    ?assertEqual({cnode_exited, 0}, await_down(MRef, S)),
    wait_until("C node process exits", fun() -> not os_alive(OsPid) end).

owner_disconnects(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    OsPid = lattice_cnode:os_pid(S),
    CNode = lattice_cnode:node_name(S),
    MRef = monitor(process, S),
    true = erlang:disconnect_node(CNode),
    ?assertEqual({cnode_exited, 0}, await_down(MRef, S)),
    wait_until("C node process exits", fun() -> not os_alive(OsPid) end).

unreachable_killed(#{opts := Opts}) ->
    {ok, S} = lattice_cnode:start(Opts),
    OsPid = lattice_cnode:os_pid(S),
    CNode = lattice_cnode:node_name(S),
    MRef = monitor(process, S),
    %% Stopped, it can neither exit nor answer: the server gives up on it and kills it.
    _ = os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    true = erlang:disconnect_node(CNode),
    ?assertEqual({cnode_down, CNode}, await_down(MRef, S)),
    wait_until("C node process is killed", fun() -> not os_alive(OsPid) end).

owner_vm_killed(#{exe := Exe}) ->
    Unique = integer_to_list(erlang:unique_integer([positive])),
    PeerName = list_to_atom("lattice_cnode_peer_" ++ os:getpid() ++ "_" ++ Unique),
    {ok, Peer, PeerNode} = peer:start(#{
        name => PeerName,
        connection => standard_io,
        args => ["-pa", filename:dirname(code:which(lattice_cnode))]
    }),
    try
        ?assertNotEqual(node(), PeerNode),
        %% The peer talks to us over stdio; give it our cookie, so we can reach its C node.
        true = peer:call(Peer, erlang, set_cookie, [erlang:get_cookie()]),
        {ok, S} = peer:call(Peer, lattice_cnode, start, [#{executable => Exe}]),
        CNode = peer:call(Peer, lattice_cnode, node_name, [S]),
        OsPid = peer:call(Peer, lattice_cnode, os_pid, [S]),
        PeerOsPid = peer:call(Peer, os, getpid, []),
        ?assert(os_alive(OsPid)),
        %% We are not its owner: this connection is one the C node accepts.
        ?assertEqual({ok, pong}, call_cnode(CNode, ping, 5000)),
        ?assert(lists:member(CNode, nodes(hidden))),
        _ = os:cmd("kill -9 " ++ PeerOsPid),
        wait_until("peer VM exits", fun() -> not os_alive(list_to_integer(PeerOsPid)) end),
        wait_until("C node process exits", fun() -> not os_alive(OsPid) end),
        wait_until("C node leaves the cluster", fun() -> not lists:member(CNode, nodes(hidden)) end)
    after
        catch peer:stop(Peer)
    end.

start_errors(#{opts := Opts}) ->
    Missing = "/nonexistent/lattice_cnode",
    ?assertEqual(
        {error, {cnode_not_built, Missing}}, lattice_cnode:start_link(#{executable => Missing})
    ),
    NotExecutable = code:which(?MODULE),
    ?assertEqual(
        {error, {cnode_not_built, NotExecutable}},
        lattice_cnode:start(#{executable => NotExecutable})
    ),
    ?assertEqual({error, {bad_option, bogus}}, lattice_cnode:start(Opts#{bogus => 1})),
    ?assertEqual({error, {bad_option, [hide]}}, lattice_cnode:start([hide])),
    ?assertEqual(
        {error, {bad_option, {cnode_name, "nohost"}}},
        lattice_cnode:start(Opts#{cnode_name => "nohost"})
    ),
    ?assertEqual(
        {error, {bad_option, {ready_timeout, -1}}}, lattice_cnode:start(Opts#{ready_timeout => -1})
    ),
    ?assertMatch({error, {cnode_exited, 1, _}}, lattice_cnode:start(#{executable => "/bin/false"})),
    %% A program that never says it is ready (and exits at end of stdin, when the port closes).
    Silent = write_script("silent", "#!/bin/sh\nexec cat >/dev/null\n"),
    ?assertEqual(
        {error, {cnode_start_timeout, []}},
        lattice_cnode:start(#{executable => Silent, ready_timeout => 300})
    ),
    %% Registered under a name, given as a proplist, with a chosen C node name.
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Chosen = "lattice_cnode_chosen_" ++ os:getpid() ++ "@" ++ Host,
    PropList = [{name, lattice_cnode_named}, {cnode_name, Chosen} | maps:to_list(Opts)],
    {ok, S} = lattice_cnode:start(PropList),
    try
        ?assertEqual(S, whereis(lattice_cnode_named)),
        ?assertEqual(list_to_atom(Chosen), lattice_cnode:node_name(lattice_cnode_named)),
        ?assertEqual(pong, lattice_cnode:ping(lattice_cnode_named))
    after
        lattice_cnode:stop(S)
    end.

not_distributed(#{exe := Exe}) ->
    {ok, Peer, _} = peer:start(#{
        connection => standard_io,
        args => ["-pa", filename:dirname(code:which(lattice_cnode))]
    }),
    try
        ?assertNot(peer:call(Peer, erlang, is_alive, [])),
        ?assertEqual(
            {error, not_distributed}, peer:call(Peer, lattice_cnode, start, [#{executable => Exe}])
        )
    after
        peer:stop(Peer)
    end.

command_line(#{exe := Exe}) ->
    Cookie = atom_to_list(erlang:get_cookie()),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Owner = atom_to_list(node()),
    NoCookie = [{"LATTICE_COOKIE", false}, {"LATTICE_COOKIE_FILE", false}],
    WithCookie = [{"LATTICE_COOKIE", Cookie}],
    X = "x@" ++ Host,
    ?assertMatch({2, _}, run(Exe, [], WithCookie)),
    ?assertMatch({2, _}, run(Exe, ["--name", X], WithCookie)),
    ?assertMatch({2, _}, run(Exe, ["--name", "nohost", "--owner", Owner], WithCookie)),
    ?assertMatch({2, _}, run(Exe, ["--name", X, "--owner", "no@at@all"], WithCookie)),
    ?assertMatch({2, _}, run(Exe, ["--name", X, "--owner", Owner, "--bogus"], WithCookie)),
    ?assertMatch({2, _}, run(Exe, ["--name", X, "--name", X, "--owner", Owner], WithCookie)),
    ?assertMatch({0, [<<"lattice_cnode 0.1.0 protocol 3">>]}, run(Exe, ["--version"], NoCookie)),
    {2, NoCookieOut} = run(Exe, ["--name", X, "--owner", Owner], NoCookie),
    ?assertMatch([_ | _], [L || L <- NoCookieOut, binary:match(L, <<"no cookie">>) =/= nomatch]),

    %% The cookie from a file, and a ready notice sent to a registered process on the owner.
    CookieFile = write_file("cookie", Cookie ++ "\n", 8#600),
    Name = "lattice_cnode_cli_" ++ os:getpid() ++ "@" ++ Host,
    register(lattice_cnode_cli_test, self()),
    Port = open_port({spawn_executable, Exe}, [
        {args, ["--name", Name, "--owner", Owner, "--notify", "lattice_cnode_cli_test"]},
        {env, [{"LATTICE_COOKIE", false}, {"LATTICE_COOKIE_FILE", CookieFile}]},
        {line, 1024},
        exit_status,
        use_stdio,
        binary
    ]),
    try
        CNode = list_to_atom(Name),
        receive
            {lattice_cnode, ready, CNode} -> ok
        after ?DEADLINE_MS -> error(no_ready_notice)
        end,
        receive
            {Port, {data, {eol, <<"lattice_cnode ready ", Rest/binary>>}}} ->
                ?assertMatch([_, _], binary:split(Rest, <<" ">>)),
                ?assertEqual(list_to_binary(Name), hd(binary:split(Rest, <<" ">>)))
        after ?DEADLINE_MS -> error(no_ready_line)
        end,
        ?assertEqual({ok, pong}, call_cnode(CNode, ping, 5000)),
        {os_pid, OsPid} = erlang:port_info(Port, os_pid),
        port_close(Port),
        wait_until("C node process exits", fun() -> not os_alive(OsPid) end)
    after
        unregister(lattice_cnode_cli_test),
        catch port_close(Port)
    end,

    %% A wrong cookie: the owner refuses the connection and the C node says so.
    BadName = "lattice_cnode_bad_" ++ os:getpid() ++ "@" ++ Host,
    {1, WrongOut} = run(
        Exe, ["--name", BadName, "--owner", Owner], [{"LATTICE_COOKIE", "not-the-cookie"}]
    ),
    ?assertMatch([_ | _], [L || L <- WrongOut, binary:match(L, <<"cannot connect">>) =/= nomatch]).

%%--------------------------------------------------------------------------------------------
%% The owner protocol and sessions

-define(ST, <<"store">>).

store_requests(#{opts := Opts}) ->
    {ok, C} = lattice_cnode:start(Opts),
    try
        ?assertEqual({error, bad_levels}, lattice_cnode:open(C, ?ST, 0)),
        ?assertEqual({error, bad_levels}, lattice_cnode:open(C, ?ST, 7)),
        ?assertEqual({error, badarg}, call(C, {open, <<>>, 4})),
        ?assertEqual(ok, lattice_cnode:open(C, ?ST, 4)),
        ?assertEqual(ok, lattice_cnode:open(C, ?ST, 4)),
        ?assertEqual({error, levels_mismatch}, lattice_cnode:open(C, ?ST, 3)),
        {ok, <<0:128>>, 0} = lattice_cnode:root(C, ?ST),
        Entries = [{put, <<"k", I>>, digest(I)} || I <- lists:seq(1, 3)],
        ?assertEqual({ok, 3}, lattice_cnode:update(C, ?ST, Entries)),
        {ok, Root3, 3} = lattice_cnode:root(C, ?ST),
        ?assertNotEqual(<<0:128>>, Root3),
        ?assertEqual({ok, digest(2)}, lattice_cnode:get(C, ?ST, <<"k", 2>>)),
        ?assertEqual({error, not_found}, lattice_cnode:get(C, ?ST, <<"nope">>)),
        %% A bad batch is refused whole, with the offset of the first bad entry.
        Good = lattice_cnode:encode_batch([{put, <<"new">>, digest(9)}]),
        ?assertEqual({error, {bad_batch, 0}}, lattice_cnode:update(C, ?ST, <<9>>)),
        ?assertEqual(
            {error, {bad_batch, byte_size(Good)}},
            lattice_cnode:update(C, ?ST, <<Good/binary, 1, 0, 2, "k">>)
        ),
        ?assertEqual(
            {error, {bad_batch, byte_size(Good)}},
            lattice_cnode:update(C, ?ST, <<Good/binary, 3, 0, 1, "k">>)
        ),
        ?assertEqual(
            {error, {bad_batch, byte_size(Good)}},
            lattice_cnode:update(C, ?ST, <<Good/binary, 2, 0, 0>>)
        ),
        ?assertEqual({error, badarg}, call(C, {update, ?ST, not_a_binary})),
        ?assertMatch({ok, _, 3}, lattice_cnode:root(C, ?ST)),
        ?assertError(badarg, lattice_cnode:encode_batch([{put, <<>>, digest(1)}])),
        %% Deleting, also a key that is not there; putting the same digest twice.
        ?assertEqual(
            {ok, 3},
            lattice_cnode:update(C, ?ST, [{delete, <<"k", 1>>}, {delete, <<"zz">>}, hd(Entries)])
        ),
        ?assertEqual({ok, Root3, 3}, lattice_cnode:root(C, ?ST)),
        {ok, Kids} = lattice_cnode:children(C, ?ST, 0, [0]),
        %% version, kind, levels, level, count, delta, 16 hashes of 8 bytes
        ?assertEqual(6 + 128, byte_size(Kids)),
        ?assertMatch({ok, <<_/binary>>}, lattice_cnode:buckets(C, ?ST, [0, 5, 65535])),
        ?assertEqual({error, bad_index}, lattice_cnode:children(C, ?ST, 1, [3, 2])),
        ?assertEqual({error, too_big}, lattice_cnode:children(C, ?ST, 1, [16])),
        ?assertEqual({error, bad_level}, lattice_cnode:children(C, ?ST, 4, [0])),
        ?assertEqual({error, too_big}, lattice_cnode:buckets(C, ?ST, [65536])),
        ?assertEqual({error, bad_index}, call(C, {buckets, ?ST, <<1, 2, 3>>})),
        [
            ?assertEqual({error, no_store}, R)
         || R <- [
                lattice_cnode:root(C, <<"other">>),
                lattice_cnode:drop(C, <<"other">>),
                lattice_cnode:clear(C, <<"other">>),
                lattice_cnode:update(C, <<"other">>, []),
                lattice_cnode:get(C, <<"other">>, <<"k">>),
                lattice_cnode:sync(C, <<"other">>, node())
            ]
        ],
        ?assertEqual(ok, lattice_cnode:clear(C, ?ST)),
        ?assertEqual({ok, <<0:128>>, 0}, lattice_cnode:root(C, ?ST)),
        ?assertEqual(ok, lattice_cnode:drop(C, ?ST)),
        ?assertEqual({error, no_store}, lattice_cnode:root(C, ?ST)),
        {ok, #{gauges := #{stores := 0}, counters := #{msgs_request := Reqs}}} =
            lattice_cnode:stats(C),
        ?assert(Reqs > 20)
    after
        lattice_cnode:stop(C)
    end.

equal_trees(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        %% Two empty trees, then two equal trees of 5000 keys.
        R0 = session(A, B),
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 5000)],
        feed(A, KVs),
        feed(B, KVs),
        R1 = session(A, B),
        [
            begin
                ?assertMatch(#{result := equal, keys := [], round_trips := 1}, R),
                #{payload_out := PO, payload_in := PI, msgs_out := 1, msgs_in := 1} = R,
                ?assert(PO + PI < 100),
                ?assertEqual(lattice_cnode:node_name(B), maps:get(peer, R))
            end
         || R <- [R0, R1]
        ]
    end).

exact_differences(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        Base = [{key(I), digest(I)} || I <- lists:seq(1, 3000)],
        feed(A, Base),
        feed(B, Base),
        %% One digest differs.
        feed(A, [{key(7), digest(-7)}]),
        check_session(A, B, [{key(7), differs}]),
        %% One key only here, one only there.
        feed(B, [{key(7), digest(-7)}]),
        feed(A, [{<<"only-a">>, digest(1)}]),
        feed(B, [{<<"only-b">>, digest(2)}]),
        check_session(A, B, [{<<"only-a">>, local_only}, {<<"only-b">>, remote_only}]),
        %% The peer empty: every key is ours alone; and the other way round.
        ok = lattice_cnode:clear(B, ?ST),
        check_session(A, B, [{K, local_only} || {K, _} <- [{<<"only-a">>, x} | Base]]),
        check_session(B, A, [{K, remote_only} || {K, _} <- [{<<"only-a">>, x} | Base]]),
        %% Every key differing.
        feed(B, [{K, digest(-1)} || {K, _} <- [{<<"only-a">>, x} | Base]]),
        check_session(A, B, [{K, differs} || {K, _} <- [{<<"only-a">>, x} | Base]])
    end).

random_divergence(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        rand:seed(exsss, {11, 22, 33}),
        N = 20000,
        Base = maps:from_list([{key(I), digest(I)} || I <- lists:seq(1, N)]),
        feed(A, maps:to_list(Base)),
        feed(B, maps:to_list(Base)),
        lists:foldl(
            fun(Round, {MA, MB}) ->
                {MA2, MB2} = diverge(MA, MB, 5 + Round * 40),
                sync_to(A, MA, MA2),
                sync_to(B, MB, MB2),
                check_session(A, B, expected(MA2, MB2)),
                {MA2, MB2}
            end,
            {Base, Base},
            lists:seq(0, 4)
        )
    end).

traffic_grows_with_d(Env) ->
    Bytes = fun(N, D) ->
        with_pair(Env, #{}, fun(A, B) ->
            KVs = [{key(I), digest(I)} || I <- lists:seq(1, N)],
            feed(A, KVs),
            feed(B, KVs),
            feed(A, [{key(I), digest(-I)} || I <- lists:seq(1, D)]),
            #{payload_out := PO, payload_in := PI, keys := Keys} = session(A, B),
            ?assertEqual(D, length(Keys)),
            PO + PI
        end)
    end,
    Small = Bytes(2000, 20),
    Large = Bytes(40000, 20),
    More = Bytes(2000, 200),
    ?assert(Large < 2 * Small),
    ?assert(More > 3 * Small).

sync_errors(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        ?assertEqual({error, no_store}, lattice_cnode:sync(A, <<"nope">>, node_name(B))),
        ?assertEqual({error, bad_peer}, lattice_cnode:sync(A, ?ST, node_name(A))),
        ?assertEqual({error, bad_peer}, lattice_cnode:sync(A, ?ST, nohost)),
        ?assertEqual({error, bad_peer}, call(A, {sync, ?ST, "string"})),
        ok = lattice_cnode:open(A, <<"mine">>, 4),
        ?assertMatch(#{result := {error, no_store}}, session(A, B, <<"mine">>)),
        ok = lattice_cnode:open(A, <<"l3">>, 3),
        ok = lattice_cnode:open(B, <<"l3">>, 2),
        ?assertMatch(#{result := {error, levels_mismatch}}, session(A, B, <<"l3">>))
    end).

session_garbage(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        feed(A, [{key(I), digest(I)} || I <- lists:seq(1, 100)]),
        CA = node_name(A),
        {ok, #{counters := #{malformed := M0, oversized := O0}}} = lattice_cnode:stats(A),
        Hello = <<4, 0:64, 1, 5, "store">>,
        Garbage = [
            not_a_binary,
            {1, 2},
            <<>>,
            <<1>>,
            <<2, 1, 0, 0, 0, 0, 1>>,
            <<1, 99, 0, 0, 0, 0, 1>>,
            <<1, 1, 128, 0, 0, 0, 1, Hello/binary>>,
            <<1, 1, 2, 0, 0, 0, 1>>,
            <<1, 1, 2, 0, 0, 0, 1, Hello/binary, 0>>,
            <<1, 1, 2, 0, 0, 0, 1, 9, 0:64, 1, 5, "store">>,
            <<1, 3, 0, 0, 0, 0, 77, 1, 2, 3>>,
            <<1, 5, 0, 0, 0, 0, 78>>,
            crypto:strong_rand_bytes(5000),
            binary:copy(<<1>>, 2 * ?MIB)
        ],
        [erlang:send({lattice_ae, CA}, G) || G <- Garbage],
        ?assertEqual(pong, lattice_cnode:ping(A)),
        {ok, #{counters := #{malformed := M1, oversized := O1}}} = lattice_cnode:stats(A),
        ?assert(M1 - M0 >= length(Garbage) - 2),
        ?assertEqual(O0 + 1, O1),
        %% A real session still runs.
        ?assertMatch(#{result := differ}, session(B, A))
    end).

limits_basic(#{opts := Opts} = Env) ->
    ?assertMatch(
        {error, {bad_option, {limits, _}}}, lattice_cnode:start(Opts#{limits => #{a => -1}})
    ),
    with_pair(Env, #{max_keys => 5}, fun(A, B) ->
        {ok, #{limits := L}} = lattice_cnode:stats(A),
        ?assertMatch(#{max_keys := 5, max_sessions := 16, rate_bytes := 0}, L),
        ?assertEqual({error, {bad_limit, bogus}}, lattice_cnode:set_limits(A, #{bogus => 1})),
        ?assertEqual(
            {error, {bad_limit, max_sessions}}, lattice_cnode:set_limits(A, #{max_sessions => 0})
        ),
        ?assertEqual(
            {error, {bad_limit, max_keys}},
            lattice_cnode:set_limits(A, #{max_keys => -1, max_sessions => 2})
        ),
        ?assertEqual(
            {error, {bad_limit, max_packet}},
            lattice_cnode:set_limits(A, #{max_packet => 2 * ?MIB})
        ),
        {ok, #{limits := #{max_sessions := 16}}} = lattice_cnode:stats(A),
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 1000)],
        feed(A, KVs),
        feed(B, KVs),
        feed(A, [{key(I), digest(-I)} || I <- lists:seq(1, 12)]),
        %% max_keys: only the first 5 listed.
        #{keys := Keys, truncated := true, result := differ} = session(A, B),
        ?assertEqual(5, length(Keys)),
        %% session_bytes: the session gives up, then works again once raised.
        ok = lattice_cnode:set_limits(A, #{session_bytes => 1024, max_keys => 100}),
        ?assertMatch(#{result := {error, session_bytes}}, session(A, B)),
        {ok, #{counters := #{session_bytes_exceeded := E}}} = lattice_cnode:stats(A),
        ?assert(E >= 1),
        ok = lattice_cnode:set_limits(A, #{session_bytes => 1 bsl 26}),
        #{keys := Keys12, truncated := false} = session(A, B),
        ?assertEqual(12, length(Keys12))
    end).

limits_breaker(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        feed(A, [{key(1), digest(1)}]),
        feed(B, [{key(1), digest(2)}]),
        ok = lattice_cnode:open(A, <<"s2">>, 4),
        ok = lattice_cnode:open(B, <<"s2">>, 4),
        ok = lattice_cnode:set_limits(A, #{
            session_timeout_ms => 300, breaker_failures => 2, breaker_reset_ms => 400
        }),
        CB = node_name(B),
        ?assertMatch(#{result := differ}, session(A, B)),
        BPid = lattice_cnode:os_pid(B),
        _ = os:cmd("kill -STOP " ++ integer_to_list(BPid)),
        try
            %% A stopped peer: the session times out; meanwhile a tick is skipped, and with
            %% max_sessions 1 another store's session is refused.
            ok = lattice_cnode:set_limits(A, #{max_sessions => 1}),
            {ok, Id1} = lattice_cnode:sync(A, ?ST, CB),
            ?assertEqual({error, skipped}, lattice_cnode:sync(A, ?ST, CB)),
            ?assertEqual({error, busy}, lattice_cnode:sync(A, <<"s2">>, CB)),
            ?assertMatch(#{result := {error, timeout}}, report(Id1, initiator)),
            ok = lattice_cnode:set_limits(A, #{max_sessions => 16}),
            {ok, Id2} = lattice_cnode:sync(A, ?ST, CB),
            ?assertMatch(#{result := {error, timeout}}, report(Id2, initiator)),
            %% Two failures: the breaker is open.
            ?assertEqual({error, circuit_open}, lattice_cnode:sync(A, ?ST, CB)),
            {ok, #{breakers := [#{peer := CB, state := open}], counters := C1}} =
                lattice_cnode:stats(A),
            ?assertMatch(
                #{session_timeouts := 2, ticks_skipped := 1, breaker_refused := 1, breaker_trips := 1},
                C1
            ),
            %% Half-open after the reset: one trial, which fails, and it opens again.
            timer:sleep(450),
            {ok, Id3} = lattice_cnode:sync(A, ?ST, CB),
            ?assertEqual({error, circuit_open}, lattice_cnode:sync(A, <<"s2">>, CB)),
            ?assertMatch(#{result := {error, timeout}}, report(Id3, initiator)),
            ?assertEqual({error, circuit_open}, lattice_cnode:sync(A, ?ST, CB))
        after
            _ = os:cmd("kill -CONT " ++ integer_to_list(BPid))
        end,
        flush_reports(),
        %% The peer is back: after the reset a trial succeeds and the breaker closes.
        timer:sleep(450),
        ?assertMatch(#{result := differ}, session(A, B)),
        {ok, #{breakers := []}} = lattice_cnode:stats(A),
        ?assertMatch(#{result := equal}, session(A, B, <<"s2">>))
    end).

limits_rate(Env) ->
    with_pair(Env, #{}, fun(A, B) ->
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 4000)],
        feed(A, KVs),
        feed(B, KVs),
        feed(A, [{key(I), digest(-I)} || I <- lists:seq(1, 300)]),
        ok = lattice_cnode:set_limits(A, #{rate_bytes => 100000, rate_burst => 1024}),
        #{bytes_out := BO, bytes_in := BI, time_us := T, keys := Keys} = session(A, B),
        ?assertEqual(300, length(Keys)),
        {ok, #{counters := #{rate_waits := W}}} = lattice_cnode:stats(A),
        ?assert(W > 0),
        %% Every byte but the burst waited for its tokens (half, for clock slack).
        ?assert(T >= ((BO + BI - 1024) * 1000000 div 100000) div 2)
    end).

confirm_pass(Env) ->
    with_pair(Env, #{confirm_delay_ms => 1500}, fun(A, B) ->
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 2000)],
        feed(A, KVs),
        feed(B, KVs),
        %% In flight: key 1 changed on A, key 2 only on A, key 3 deleted on A; and key 4 changed
        %% for good. A is X (levels 4): it holds the candidates for 1.5 s before RESOLVE.
        feed(A, [{key(1), digest(-1)}, {<<"new">>, digest(5)}, {key(3), delete}]),
        feed(A, [{key(4), digest(-4)}]),
        {ok, #{counters := #{confirm_dropped := D0}}} = lattice_cnode:stats(A),
        {ok, Id} = lattice_cnode:sync(A, ?ST, node_name(B)),
        timer:sleep(300),
        %% The writes land on B (and "new" is deleted on A again) while A waits.
        feed(B, [{key(1), digest(-1)}, {<<"new">>, digest(5)}, {key(3), delete}]),
        feed(A, [{<<"new">>, delete}]),
        feed(B, [{<<"new">>, delete}]),
        R = report(Id, initiator),
        _ = report(Id, responder),
        ?assertEqual([{key(4), differs}], maps:get(keys, R)),
        {ok, #{counters := #{confirm_dropped := D1}}} = lattice_cnode:stats(A),
        {ok, #{counters := #{confirm_dropped := DB}}} = lattice_cnode:stats(B),
        ?assert(D1 - D0 + DB >= 3)
    end).

not_owner(#{exe := Exe}) ->
    Unique = integer_to_list(erlang:unique_integer([positive])),
    {ok, Peer, _} = peer:start(#{
        name => list_to_atom("lattice_cnode_owner_" ++ os:getpid() ++ "_" ++ Unique),
        connection => standard_io,
        args => ["-pa", filename:dirname(code:which(lattice_cnode))]
    }),
    try
        true = peer:call(Peer, erlang, set_cookie, [erlang:get_cookie()]),
        {ok, S} = peer:call(Peer, lattice_cnode, start, [#{executable => Exe}]),
        CNode = peer:call(Peer, lattice_cnode, node_name, [S]),
        ?assertEqual({ok, pong}, call_cnode(CNode, ping, 5000)),
        ?assertMatch({ok, {ok, #{counters := _}}}, call_cnode(CNode, stats, 5000)),
        [
            ?assertEqual({ok, {error, not_owner}}, call_cnode(CNode, Op, 5000))
         || Op <- [
                {open, ?ST, 4},
                {open, ?ST, 4, self()},
                {set_limits, #{max_keys => 1}},
                {update, ?ST, <<1>>},
                {root, ?ST},
                {sync, ?ST, node()},
                {drop, ?ST},
                {set_peer_key, ?ST, node(), <<0:256>>},
                {clear_peer_key, ?ST, node()},
                {require_keys, ?ST, true}
            ]
        ],
        %% The owner itself may.
        ?assertEqual(ok, peer:call(Peer, lattice_cnode, open, [S, ?ST, 4]))
    after
        catch peer:stop(Peer)
    end.

rogue_peers(#{opts := Opts} = Env) ->
    Rogue = rogue_tool(),
    with_pair(Env, #{}, fun(A, B) ->
        KVs = [{key(I), digest(I)} || I <- lists:seq(1, 5000)],
        feed(A, KVs),
        feed(B, KVs),
        CA = node_name(A),
        [Alive, Host] = string:split(atom_to_list(CA), "@"),
        {port, ListenPort, _} = erl_epmd:port_please(Alive, Host),
        Cookie = atom_to_list(erlang:get_cookie()),
        Unique = integer_to_list(erlang:unique_integer([positive])),
        Ports = [
            open_rogue(Rogue, ["half", "rogue_half_" ++ Unique ++ "@" ++ Host, atom_to_list(CA)],
                Cookie),
            open_rogue(Rogue, ["stall", integer_to_list(ListenPort)], Cookie),
            open_rogue(
                Rogue,
                ["noread", "rogue_noread_" ++ Unique ++ "@" ++ Host, atom_to_list(CA), "3000"],
                Cookie
            )
        ],
        try
            %% While they hold: the owner's requests are answered within 10 ms (the median of
            %% 30, so that one scheduling hiccup of a loaded machine does not count).
            Times = [
                begin
                    T0 = erlang:monotonic_time(microsecond),
                    {ok, pong} = call_cnode(CA, ping, 5000),
                    erlang:monotonic_time(microsecond) - T0
                end
             || _ <- lists:seq(1, 30)
            ],
            Median = lists:nth(15, lists:sort(Times)),
            ?assert(Median < 10000),
            {ok, #{counters := #{connections_accepted := Acc}}} = lattice_cnode:stats(A),
            ?assert(Acc >= 2),
            %% A session between the two honest nodes finishes, both ways.
            feed(A, [{key(I), digest(-I)} || I <- lists:seq(1, 50)]),
            #{keys := K1, time_us := T1} = session(A, B),
            ?assertEqual(50, length(K1)),
            ?assert(T1 < 5000000),
            #{keys := K2} = session(B, A),
            ?assertEqual(50, length(K2)),
            %% A fresh connection to A still gets through (the acceptors are not all held).
            {ok, C} = lattice_cnode:start(Opts),
            try
                ok = lattice_cnode:open(C, ?ST, 4),
                feed(C, KVs),
                ?assertMatch(#{result := differ}, session(C, A))
            after
                lattice_cnode:stop(C)
            end
        after
            [catch port_close(P) || P <- Ports]
        end,
        ?assertEqual(pong, lattice_cnode:ping(A))
    end).

%% ---- helpers of the session tests

with_pair(#{opts := Opts}, Limits, Fun) ->
    {ok, A} = lattice_cnode:start(Opts#{limits => Limits}),
    {ok, B} = lattice_cnode:start(Opts),
    try
        ok = lattice_cnode:open(A, ?ST, 4),
        ok = lattice_cnode:open(B, ?ST, 4),
        Fun(A, B)
    after
        lattice_cnode:stop(A),
        lattice_cnode:stop(B),
        flush_reports()
    end.

node_name(S) -> lattice_cnode:node_name(S).

call(S, Op) ->
    {ok, R} = lattice_cnode:request(S, Op, 5000),
    R.

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.

digest(I) -> <<(erlang:phash2({d, I})):64, I:64/signed>>.

feed(S, KVs) ->
    feed(S, ?ST, KVs).

feed(_, _, []) ->
    ok;
feed(S, Store, KVs) ->
    {Batch, Rest} = lists:split(min(5000, length(KVs)), KVs),
    Entries = [
        case D of
            delete -> {delete, K};
            _ -> {put, K, D}
        end
     || {K, D} <- Batch
    ],
    {ok, N} = lattice_cnode:update(S, Store, Entries),
    ?assertEqual(length(Batch), N),
    feed(S, Store, Rest).

%% Runs a session from A to B on the store; returns A's report, having checked that B's report
%% agrees (the same keys, the sides mirrored).
session(A, B) ->
    session(A, B, ?ST).

session(A, B, Store) ->
    {ok, Id} = lattice_cnode:sync(A, Store, node_name(B)),
    RA = report(Id, initiator),
    case RA of
        #{result := {error, _}} ->
            RA;
        _ ->
            RB = report(Id, responder),
            ?assertEqual(node_name(A), maps:get(peer, RB)),
            ?assertEqual(lists:sort(mirror(maps:get(keys, RA))), lists:sort(maps:get(keys, RB))),
            ?assertEqual(maps:get(payload_out, RA), maps:get(payload_in, RB)),
            ?assertEqual(maps:get(payload_in, RA), maps:get(payload_out, RB)),
            ?assertEqual(maps:get(bytes_out, RA), maps:get(bytes_in, RB)),
            case RA of
                #{result := differ} -> ?assertEqual(node(), maps:get(peer_owner, RA));
                _ -> ok
            end,
            RA
    end.

mirror(Keys) ->
    [
        {K,
            case S of
                local_only -> remote_only;
                remote_only -> local_only;
                differs -> differs
            end}
     || {K, S} <- Keys
    ].

report(Id, Role) ->
    receive
        {lattice_cnode, session, _, #{id := Id, role := Role} = R} ->
            {ok, R} = lattice_cnode:decode_report(R),
            R
    after ?DEADLINE_MS -> error({no_report, Id, Role})
    end.

flush_reports() ->
    receive
        {lattice_cnode, session, _, _} -> flush_reports()
    after 0 -> ok
    end.

check_session(A, B, Expected) ->
    #{keys := Keys, result := Result} = R = session(A, B),
    ?assertEqual(lists:sort(Expected), lists:sort(Keys)),
    ?assertEqual(
        case Expected of
            [] -> equal;
            _ -> differ
        end,
        Result
    ),
    %% HELLO, four CHILDREN (levels 4), BUCKETS, RESOLVE, RESULT: four round trips.
    case Expected of
        [] -> ok;
        _ -> ?assertMatch(#{round_trips := 4, msgs_out := MO, msgs_in := MI} when MO >= 4 andalso MI >= 4, R)
    end,
    R.

%% The keys that differ between two key => digest maps, as A sees them.
expected(MA, MB) ->
    [{K, differs} || {K, D} <- maps:to_list(MA), maps:is_key(K, MB), maps:get(K, MB) =/= D] ++
        [{K, local_only} || K <- maps:keys(MA), not maps:is_key(K, MB)] ++
        [{K, remote_only} || K <- maps:keys(MB), not maps:is_key(K, MA)].

%% D random changes to either side: new digests, deletions, new keys.
diverge(MA, MB, D) ->
    lists:foldl(
        fun(_, {A, B}) ->
            I = rand:uniform(30000),
            K = key(I),
            V = digest(rand:uniform(1 bsl 30)),
            case rand:uniform(4) of
                1 -> {A#{K => V}, B};
                2 -> {A, B#{K => V}};
                3 -> {maps:remove(K, A), B};
                4 -> {A, maps:remove(K, B)}
            end
        end,
        {MA, MB},
        lists:seq(1, D)
    ).

%% Brings a C node's tree from map Old to map New.
sync_to(S, Old, New) ->
    Puts = [{K, V} || {K, V} <- maps:to_list(New), maps:get(K, Old, none) =/= V],
    Dels = [{K, delete} || K <- maps:keys(Old), not maps:is_key(K, New)],
    feed(S, Puts ++ Dels).

rogue_tool() ->
    Path = "build/tools/lt_rogue_peer",
    case filelib:is_regular(Path) of
        true -> ok;
        false -> _ = os:cmd("make -s " ++ Path)
    end,
    ?assert(filelib:is_regular(Path)),
    filename:absname(Path).

open_rogue(Tool, Args, Cookie) ->
    Port = open_port({spawn_executable, Tool}, [
        {args, Args}, {env, [{"LATTICE_COOKIE", Cookie}]}, {line, 256}, use_stdio, binary
    ]),
    receive
        {Port, {data, {eol, <<"holding">>}}} -> Port
    after ?DEADLINE_MS -> error({rogue_not_holding, Args})
    end.

%%--------------------------------------------------------------------------------------------
%% Helpers

%% Runs the C node binary to completion; returns its exit status and output lines.
run(Exe, Args, Env) ->
    Port = open_port({spawn_executable, Exe}, [
        {args, Args}, {env, Env}, {line, 1024}, exit_status, use_stdio, stderr_to_stdout, binary
    ]),
    collect(Port, []).

collect(Port, Lines) ->
    receive
        {Port, {data, {_, Line}}} -> collect(Port, [Line | Lines]);
        {Port, {exit_status, Status}} -> {Status, lists:reverse(Lines)}
    after ?DEADLINE_MS -> error({no_exit, lists:reverse(Lines)})
    end.

%% Sends {Op, self(), Ref} to the C node directly, without a server.
call_cnode(CNode, Op, Timeout) ->
    Ref = make_ref(),
    erlang:send({any, CNode}, {Op, self(), Ref}),
    receive
        {lattice_cnode, Ref, Reply} -> {ok, Reply}
    after Timeout -> {error, timeout}
    end.

await_down(MRef, Pid) ->
    receive
        {'DOWN', MRef, process, Pid, Reason} -> Reason
    after ?DEADLINE_MS -> error({still_running, Pid})
    end.

%% True while the process exists and is not a zombie (an orphan may wait to be reaped).
os_alive(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterName] = string:split(Stat, <<")">>, trailing),
            case string:trim(AfterName, leading) of
                <<"Z", _/binary>> -> false;
                <<"X", _/binary>> -> false;
                _ -> true
            end;
        {error, _} ->
            false
    end.

wait_until(What, Pred) ->
    wait_until(What, Pred, erlang:monotonic_time(millisecond) + ?DEADLINE_MS).

wait_until(What, Pred, Deadline) ->
    case Pred() of
        true ->
            ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true ->
                    error({timed_out_waiting_for, What});
                false ->
                    receive
                    after ?POLL_MS -> wait_until(What, Pred, Deadline)
                    end
            end
    end.

deep_tuple(0) -> leaf;
deep_tuple(N) -> {deep_tuple(N - 1)}.

deep_list(N) -> lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, N)).

deep_map(N) -> lists:foldl(fun(I, Acc) -> #{I => Acc} end, #{}, lists:seq(1, N)).

write_script(Name, Text) ->
    write_file(Name, Text, 8#700).

write_file(Name, Text, Mode) ->
    Path = filename:join(scratch_dir(), Name),
    ok = filelib:ensure_dir(Path),
    ok = file:write_file(Path, Text),
    ok = file:change_mode(Path, Mode),
    Path.

scratch_dir() ->
    filename:join(os:getenv("TMPDIR", "/tmp"), "lattice_cnode_tests_" ++ os:getpid()).
