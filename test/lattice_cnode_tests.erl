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

setup() ->
    Started =
        case is_alive() of
            true ->
                false;
            false ->
                Name = list_to_atom("lattice_cnode_test_" ++ os:getpid()),
                case net_kernel:start([Name, shortnames]) of
                    {ok, _} -> true;
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
    ?assertEqual({ok, <<"0.1.0">>, 2}, lattice_cnode:version(S)),
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
        ?assertEqual({ok, <<"0.1.0">>, 2}, lattice_cnode:version(S)),
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
    ?assertMatch({0, [<<"lattice_cnode 0.1.0 protocol 2">>]}, run(Exe, ["--version"], NoCookie)),
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
