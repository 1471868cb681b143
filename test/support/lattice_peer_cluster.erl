%% Multi-node harness: BEAM peer nodes on this machine (OTP's `peer'), each running the lattice
%% application, so each has its supervised C node (lattice_cnode_keeper) and lattice_ae.
%%
%% The test VM must be distributed (ensure_distributed/0). Peers get the test VM's code path
%% (every directory outside the OTP installation, with -pa) and its cookie, are connected to it
%% over distribution (call them with erpc), and are started unlinked, so that a test process
%% ending does not take them down: stop them with stop/1.
-module(lattice_peer_cluster).

-export([ensure_distributed/0, release_distribution/1, executable/0]).
-export([start/1, start/2, start_one/1, start_named/2, stop/1, stop_one/1]).
-export([cnode/1, cnode_os_pid/1, wait_cnode/1, wait_cnode/2, os_alive/1, wait_until/2, wait_until/3]).

-define(DEADLINE_MS, 20000).
-define(POLL_MS, 20).

%% Makes the test VM distributed (short names) if it is not; returns whether it did.
-spec ensure_distributed() -> boolean().
ensure_distributed() ->
    case is_alive() of
        true ->
            false;
        false ->
            %% A fresh name each time: epmd may still hold the last one for a moment.
            Unique = integer_to_list(erlang:unique_integer([positive])),
            Name = list_to_atom("lattice_test_" ++ os:getpid() ++ "_" ++ Unique),
            case net_kernel:start([Name, shortnames]) of
                {ok, _} -> true;
                {error, Reason} -> error({cannot_start_distribution, Reason, is_epmd_running})
            end
    end.

-spec release_distribution(boolean()) -> ok.
release_distribution(true) -> ok = net_kernel:stop();
release_distribution(false) -> ok.

%% The C node binary the tests run: $LATTICE_CNODE_EXE, the application's, or ./priv's.
-spec executable() -> file:filename().
executable() ->
    Exe = lattice_cnode:executable(),
    case {os:getenv("LATTICE_CNODE_EXE"), filelib:is_regular(Exe)} of
        {Path, _} when Path =/= false, Path =/= "" -> Path;
        {_, true} -> Exe;
        {_, false} -> filename:absname("priv/lattice_cnode")
    end.

%% @equiv start(N, #{})
start(N) ->
    start(N, #{}).

%% Starts N peers with the lattice application; Env is extra application environment for them
%% (merged over fast back-off defaults). Returns [{Peer, Node}] once every C node is up.
-spec start(pos_integer(), map()) -> [{pid(), node()}].
start(N, Env) ->
    Peers = [start_one(Env) || _ <- lists:seq(1, N)],
    [wait_cnode(Node) || {_, Node} <- Peers],
    Peers.

-spec start_one(map()) -> {pid(), node()}.
start_one(Env) ->
    Unique = integer_to_list(erlang:unique_integer([positive])),
    start_named(list_to_atom("lattice_peer_" ++ os:getpid() ++ "_" ++ Unique), Env).

%% Starts a peer with a given name (a node restarted under its old name, say).
-spec start_named(atom(), map()) -> {pid(), node()}.
start_named(Name, Env) ->
    Root = code:root_dir(),
    Paths = [P || P <- code:get_path(), not lists:prefix(Root, P), P =/= "."],
    PathArgs = lists:append([["-pa", P] || P <- Paths]),
    {ok, Peer, Node} = peer:start(#{
        name => Name,
        %% Peers come and go (stopped, killed) under the tests: global must not disconnect the
        %% others to "prevent overlapping partitions" when one goes.
        args => [
            "-setcookie",
            atom_to_list(erlang:get_cookie()),
            "-kernel",
            "prevent_overlapping_partitions",
            "false"
            | PathArgs
        ],
        wait_boot => ?DEADLINE_MS
    }),
    Defaults = #{
        cnode_options => #{executable => executable()},
        cnode_backoff_min_ms => 100,
        cnode_backoff_max_ms => 2000,
        cnode_stable_ms => 5000
    },
    ok = erpc:call(Node, application, load, [lattice]),
    maps:foreach(
        fun(K, V) -> ok = erpc:call(Node, application, set_env, [lattice, K, V]) end,
        maps:merge(Defaults, Env)
    ),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [lattice]),
    {Peer, Node}.

-spec stop([{pid(), node()}]) -> ok.
stop(Peers) ->
    lists:foreach(fun stop_one/1, Peers).

stop_one({Peer, _Node}) ->
    catch peer:stop(Peer),
    ok.

%% The peer's C node name, or an error.
cnode(Node) ->
    erpc:call(Node, lattice_cnode_keeper, cnode, []).

cnode_os_pid(Node) ->
    maps:get(os_pid, erpc:call(Node, lattice_cnode_keeper, info, [])).

%% Waits until Node's keeper reports its C node running; returns the keeper's info.
wait_cnode(Node) ->
    wait_cnode(Node, 0).

%% ... with an incarnation above MinIncarnation.
wait_cnode(Node, MinIncarnation) ->
    wait_until(
        {cnode_up, Node, MinIncarnation},
        fun() ->
            case catch erpc:call(Node, lattice_cnode_keeper, info, []) of
                #{status := running, incarnation := I} = Info when I > MinIncarnation -> Info;
                _ -> false
            end
        end
    ).

%% True while the OS process exists and is not a zombie.
os_alive(OsPid) when is_integer(OsPid) ->
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

%% Polls Pred until it returns something other than false; returns that.
wait_until(What, Pred) ->
    wait_until(What, Pred, ?DEADLINE_MS).

wait_until(What, Pred, Timeout) ->
    poll(What, Pred, erlang:monotonic_time(millisecond) + Timeout).

poll(What, Pred, Deadline) ->
    case Pred() of
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true ->
                    error({timed_out_waiting_for, What});
                false ->
                    receive
                    after ?POLL_MS -> poll(What, Pred, Deadline)
                    end
            end;
        true ->
            true;
        Value ->
            Value
    end.
