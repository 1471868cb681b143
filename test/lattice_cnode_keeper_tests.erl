%% EUnit tests for the supervised C node (lattice_cnode_keeper under lattice_sup), each in
%% peer BEAM nodes (lattice_peer_cluster) so the application's environment and the C node's
%% fixed name do not touch the test VM. Needs epmd (scripts/ensure-epmd.sh).
-module(lattice_cnode_keeper_tests).

-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).

keeper_test_() ->
    {setup, fun() -> ?C:ensure_distributed() end, fun ?C:release_distribution/1, fun(_) ->
        [
            {timeout, 120, {Title, Test}}
         || {Title, Test} <- [
                {"the application starts one C node, named after the node, and stops it",
                    fun app_starts_cnode/0},
                {"kill -9: restarted with exponential back-off, capped, reset when stable",
                    fun backoff/0},
                {"{cnode, false}: no C node", fun disabled/0},
                {"not distributed: waits, starts once distribution comes up",
                    fun waits_for_distribution/0},
                {"a C node that cannot start is retried with back-off, the app stays up",
                    fun cannot_start/0},
                {"{cnode, {external, Name}}: a C node run by hand is followed and fed",
                    fun external/0}
            ]
        ]
    end}.

app_starts_cnode() ->
    [{_, Node} = P] = ?C:start(1),
    try
        {ok, CNode} = ?C:cnode(Node),
        ?assertEqual(lattice_cnode_keeper:default_cnode_name(Node), CNode),
        OsPid = ?C:cnode_os_pid(Node),
        ?assert(?C:os_alive(OsPid)),
        ?assertEqual({ok, CNode}, lattice_cnode_keeper:cnode(Node)),
        ?assertEqual(pong, net_adm:ping(CNode)),
        ?assertEqual(ok, erpc:call(Node, application, stop, [lattice])),
        ?C:wait_until(c_node_exits, fun() -> not ?C:os_alive(OsPid) end),
        ?assertMatch({error, _}, lattice_cnode_keeper:cnode(Node))
    after
        ?C:stop([P])
    end.

backoff() ->
    %% min 100 ms, max 400 ms, stable after 3 s
    Env = #{cnode_backoff_min_ms => 100, cnode_backoff_max_ms => 400, cnode_stable_ms => 3000},
    [{_, Node} = P] = ?C:start(1, Env),
    try
        ok = erpc:call(Node, lattice_cnode_keeper, subscribe, [self()]),
        ?assertMatch({lattice_cnode, up, _, 1}, next_event()),
        %% Four kills in a row, each as soon as the C node is back: 100, 200, 400, 400 ms.
        Waits = [kill_and_time(Node, I) || I <- [2, 3, 4, 5]],
        [{W1, N1}, {W2, N2}, {W3, N3}, {W4, N4}] = Waits,
        ?assert(W1 >= 100),
        ?assert(W2 >= 200),
        ?assert(W3 >= 400),
        ?assert(W4 >= 400),
        %% The timer as set: 100, 200, 400, then capped at 400 (800 uncapped).
        ?assert(N1 =< 100),
        ?assert(N2 =< 200 andalso N2 > 100),
        ?assert(N3 =< 400 andalso N3 > 200),
        ?assert(N4 =< 400 andalso N4 > 200),
        ?assertMatch(#{failures := 4, incarnation := 5}, erpc:call(Node, lattice_cnode_keeper, info, [])),
        %% After a stable period the count starts again: the next restart waits the minimum.
        timer:sleep(3100),
        kill_cnode(Node),
        {lattice_cnode, down, _, {cnode_exited, 137}} = next_event(),
        #{failures := 1, next_start_in_ms := Next} = erpc:call(Node, lattice_cnode_keeper, info, []),
        ?assert(Next =:= false orelse Next =:= undefined orelse Next =< 100),
        ?assertMatch({lattice_cnode, up, _, 6}, next_event()),
        %% The application and the rest of the tree stayed up all along.
        ?assert(is_pid(erpc:call(Node, erlang, whereis, [lattice_ae]))),
        ?assert(is_pid(erpc:call(Node, erlang, whereis, [lattice_sup])))
    after
        ?C:stop([P])
    end.

%% Kills the C node; returns the milliseconds from its down event to the next up, and the
%% keeper's restart timer as read just after the down event.
kill_and_time(Node, Incarnation) ->
    kill_cnode(Node),
    {lattice_cnode, down, _, Reason} = next_event(),
    T0 = erlang:monotonic_time(millisecond),
    #{status := backoff, next_start_in_ms := Next} =
        erpc:call(Node, lattice_cnode_keeper, info, []),
    ?assertEqual({cnode_exited, 128 + 9}, Reason),
    {lattice_cnode, up, _, Incarnation} = next_event(),
    {erlang:monotonic_time(millisecond) - T0, Next}.

kill_cnode(Node) ->
    OsPid = ?C:cnode_os_pid(Node),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.

next_event() ->
    receive
        {lattice_cnode, _, _, _} = E -> E
    after 20000 -> error(no_keeper_event)
    end.

disabled() ->
    [{_, Node} = P] = [?C:start_one(#{cnode => false})],
    try
        ?assertEqual(undefined, erpc:call(Node, erlang, whereis, [lattice_cnode_keeper])),
        ?assertEqual({error, disabled}, ?C:cnode(Node)),
        ?assert(is_pid(erpc:call(Node, erlang, whereis, [lattice_ae]))),
        ?assertEqual([], erpc:call(Node, erlang, nodes, [hidden])),
        Pattern = "[l]attice_cnode --name " ++ atom_to_list(lattice_cnode_keeper:default_cnode_name(Node)),
        ?assertEqual("", os:cmd("pgrep -f '" ++ Pattern ++ "'"))
    after
        ?C:stop([P])
    end.

waits_for_distribution() ->
    Root = code:root_dir(),
    Paths = [D || D <- code:get_path(), not lists:prefix(Root, D), D =/= "."],
    {ok, Peer, _} = peer:start(#{
        connection => standard_io,
        args => lists:append([["-pa", D] || D <- Paths])
    }),
    try
        ok = peer:call(Peer, application, load, [lattice]),
        ok = peer:call(Peer, application, set_env, [
            lattice, cnode_options, #{executable => ?C:executable()}
        ]),
        {ok, _} = peer:call(Peer, application, ensure_all_started, [lattice]),
        ?assertEqual({error, waiting}, peer:call(Peer, lattice_cnode_keeper, cnode, [])),
        Name = list_to_atom("lattice_late_" ++ os:getpid()),
        {ok, _} = peer:call(Peer, net_kernel, start, [[Name, shortnames]]),
        true = peer:call(Peer, erlang, set_cookie, [erlang:get_cookie()]),
        Node = peer:call(Peer, erlang, node, []),
        ?C:wait_until(cnode_up, fun() ->
            peer:call(Peer, lattice_cnode_keeper, cnode, []) =:=
                {ok, lattice_cnode_keeper:default_cnode_name(Node)}
        end)
    after
        catch peer:stop(Peer)
    end.

cannot_start() ->
    Missing = "/nonexistent/lattice_cnode",
    Env = #{cnode_options => #{executable => Missing}, cnode_backoff_min_ms => 50,
            cnode_backoff_max_ms => 200},
    [{_, Node} = P] = [?C:start_one(Env)],
    try
        ?C:wait_until(failures, fun() ->
            case erpc:call(Node, lattice_cnode_keeper, info, []) of
                #{failures := F} when F >= 4 -> true;
                _ -> false
            end
        end),
        #{status := backoff, last_error := Err, incarnation := 0} =
            erpc:call(Node, lattice_cnode_keeper, info, []),
        ?assertEqual({cnode_not_built, Missing}, Err),
        ?assertEqual({error, backoff}, ?C:cnode(Node)),
        ?assert(is_pid(erpc:call(Node, erlang, whereis, [lattice_sup]))),
        %% The configuration is mended: the next attempt starts the C node.
        ok = erpc:call(Node, application, set_env, [
            lattice, cnode_options, #{executable => ?C:executable()}
        ]),
        ?C:wait_cnode(Node)
    after
        ?C:stop([P])
    end.

external() ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Name = "lattice_cnode_by_hand_" ++ os:getpid() ++ "@" ++ Host,
    CNode = list_to_atom(Name),
    [{_, Node} = P] = [?C:start_one(#{cnode => {external, CNode}})],
    try
        ok = erpc:call(Node, lattice_cnode_keeper, subscribe, [self()]),
        ?assertEqual({error, waiting}, ?C:cnode(Node)),
        ok = erpc:call(Node, lattice_ae, open, [by_hand, #{owner => self()}]),
        Leaves = [{<<"k", I:32>>, <<I:128>>} || I <- lists:seq(1, 1000)],
        ok = erpc:call(Node, lattice_ae, put, [by_hand, Leaves]),
        %% Run by hand (here: from this VM), against the peer, with its ready notice.
        Run = fun() ->
            open_port({spawn_executable, ?C:executable()}, [
                {args, ["--name", Name, "--owner", atom_to_list(Node), "--notify",
                        "lattice_cnode_keeper"]},
                {env, [{"LATTICE_COOKIE", atom_to_list(erlang:get_cookie())}]},
                {line, 1024},
                exit_status,
                use_stdio,
                stderr_to_stdout,
                binary
            ])
        end,
        Port1 = Run(),
        ?assertEqual({lattice_cnode, up, CNode, 1}, next_event()),
        ?assertEqual({ok, CNode}, ?C:cnode(Node)),
        %% lattice_ae fed it what the owner put before it came.
        ?assertMatch({ok, #{count := 1000}}, erpc:call(Node, lattice_ae, flush, [by_hand])),
        port_close(Port1),
        ?assertMatch({lattice_cnode, down, CNode, _}, next_event()),
        ?assertEqual({error, waiting}, ?C:cnode(Node)),
        %% Run again: a new incarnation, fed again.
        Port2 = Run(),
        ?assertEqual({lattice_cnode, up, CNode, 2}, next_event()),
        ?assertMatch({ok, #{count := 1000}}, erpc:call(Node, lattice_ae, flush, [by_hand])),
        port_close(Port2)
    after
        ?C:stop([P])
    end.
