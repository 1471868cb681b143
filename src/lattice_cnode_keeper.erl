%% @doc Keeps this node's C node running: the restarter under `lattice_sup'.
%%
%% An OTP supervisor restarts a child at once and gives up after a few crashes; a C node that
%% cannot start (the binary missing, epmd down, the name still registered by a dying process)
%% would take the whole application down with it. So `lattice_sup' supervises this small
%% server instead, and this server starts the C node's server (`lattice_cnode:start_link/1',
%% linked, exits trapped) and restarts it itself, with back-off:
%%
%% <ul>
%% <li>the n-th consecutive failure waits `min(cnode_backoff_max_ms, cnode_backoff_min_ms *
%%     2^(n-1))' before the next start (defaults 200 ms and 30 s);</li>
%% <li>a C node that ran `cnode_stable_ms' (default 60 s) before it went away counts as stable:
%%     the count starts again, so its restart waits `cnode_backoff_min_ms';</li>
%% <li>a failed start counts as a failure as well.</li>
%% </ul>
%%
%% `{cnode, {external, CNode}}' follows a C node run by hand instead (see docs/ANTI_ENTROPY.md):
%% the keeper starts nothing, waits for `CNode' to connect (or for its `--notify
%% lattice_cnode_keeper' notice), checks that it answers `ping', and reports it up; when it goes
%% away it is reported down and waited for again. Its incarnations count as above.
%%
%% One C node per BEAM node, and only while this node is distributed: while it is not, the
%% keeper checks `is_alive()' once a second and starts the C node when distribution comes up
%% (and, when distribution stops, the C node exits and waits for it again). The application
%% environment `{lattice, [{cnode, false}]}' turns the C node off (this server then does not
%% run); the default, `true', runs it whenever the node is distributed.
%%
%% The supervised C node is named `lattice_cnode_<alive>@<host>' after this node
%% (`default_cnode_name/1'), so a peer can compute it; `cnode/0' and `cnode/1' ask for it.
%% `cnode_limits' is a map of the C node's limits (docs/CNODE.md, section 5), given to each new C
%% node on its command line (`--limit', the `limits' option of `lattice_cnode').
%% `cnode_options' in the application environment is a map of further options for
%% `lattice_cnode:start_link/1' (`executable', `ready_timeout', `cnode_name'), read at each
%% start.
%%
%% Subscribers (`subscribe/1', e.g. `lattice_ae') are sent
%% `{lattice_cnode, up, CNode, Incarnation}' when the C node is (re)started, at once on
%% subscribing when it is running, and `{lattice_cnode, down, CNode, Reason}' when it goes
%% away. `Incarnation' counts starts from 1; a new one means the C node holds nothing, and its
%% owners must feed their trees again.
-module(lattice_cnode_keeper).
-behaviour(gen_server).

-export([start_link/0, start_link/1, child_spec/0, enabled/0]).
-export([cnode/0, cnode/1, cnode/2, running/0, subscribe/1, unsubscribe/1, info/0,
         default_cnode_name/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([event/0]).

-define(TABLE, ?MODULE).
-define(ALIVE_POLL_MS, 1000).
-define(BACKOFF_MIN_MS, 200).
-define(BACKOFF_MAX_MS, 30000).
-define(STABLE_MS, 60000).
-define(LOOKUP_TIMEOUT, 5000).

-type event() ::
    {lattice_cnode, up, node(), pos_integer()} | {lattice_cnode, down, node(), term()}.

-record(st, {
    status = waiting :: waiting | running | backoff,
    server :: pid() | undefined,
    cnode :: node() | undefined,
    os_pid :: non_neg_integer() | undefined,
    started_at :: integer() | undefined,
    failures = 0 :: non_neg_integer(),
    incarnation = 0 :: non_neg_integer(),
    timer :: reference() | undefined,
    last_error :: term(),
    subs = #{} :: #{pid() => reference()},
    opts :: map() | env,
    %% {external, CNode}: a C node run by hand, followed, never started
    external :: node() | undefined,
    probe :: reference() | undefined,
    min_ms :: pos_integer(),
    max_ms :: pos_integer(),
    stable_ms :: non_neg_integer()
}).

%%--------------------------------------------------------------------------------------------
%% API

%% @doc Whether the application runs a C node: the `cnode' environment key (default `true').
-spec enabled() -> boolean().
enabled() ->
    application:get_env(lattice, cnode, true) =/= false.

%% @doc The child specification `lattice_sup' uses.
-spec child_spec() -> supervisor:child_spec().
child_spec() ->
    #{
        id => ?MODULE,
        start => {?MODULE, start_link, []},
        restart => permanent,
        shutdown => 10000,
        type => worker,
        modules => [?MODULE]
    }.

%% @equiv start_link(#{})
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the keeper, registered as `lattice_cnode_keeper'. Options (each overrides the
%% application environment key of the same name): `cnode_options', `cnode_backoff_min_ms',
%% `cnode_backoff_max_ms', `cnode_stable_ms'.
-spec start_link(map()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, Opts, []).

%% @doc This node's C node name, when it is running: `{ok, CNode}', or `{error, Status}'
%% (`waiting': not distributed yet; `backoff': restarting; `disabled'). Reads a table; never
%% waits for the keeper.
-spec cnode() -> {ok, node()} | {error, waiting | backoff | disabled}.
cnode() ->
    try ets:lookup(?TABLE, status) of
        [{status, running, CNode, _Incarnation}] -> {ok, CNode};
        [{status, Status, _, _}] -> {error, Status};
        [] -> {error, waiting}
    catch
        error:badarg -> {error, disabled}
    end.

%% @doc The C node this keeper runs now and its incarnation, as published (an ETS read, no
%% call): `{ok, CNode, Incarnation}', or `{error, Status}' as `cnode/0'. A subscriber checks
%% an event against it: an event's content says nothing of who sent it, and any node with the
%% cookie can send `{lattice_cnode, up, Rogue, N}' to a registered subscriber.
-spec running() -> {ok, node(), pos_integer()} | {error, term()}.
running() ->
    try ets:lookup(?TABLE, status) of
        [{status, running, CNode, Incarnation}] -> {ok, CNode, Incarnation};
        [{status, Status, _, _}] -> {error, Status};
        [] -> {error, waiting}
    catch
        error:badarg -> {error, disabled}
    end.

%% @equiv cnode(Node, 5000)
-spec cnode(node()) -> {ok, node()} | {error, term()}.
cnode(Node) ->
    cnode(Node, ?LOOKUP_TIMEOUT).

%% @doc The C node of another BEAM node, asked of that node's keeper (`erpc'): `{ok, CNode}',
%% `{error, Status}' as `cnode/0', or `{error, {unreachable, Reason}}'.
-spec cnode(node(), timeout()) -> {ok, node()} | {error, term()}.
cnode(Node, _Timeout) when Node =:= node() ->
    cnode();
cnode(Node, Timeout) ->
    try
        erpc:call(Node, ?MODULE, cnode, [], Timeout)
    catch
        error:{exception, undef, _} -> {error, {unreachable, no_lattice}};
        error:{erpc, Reason} -> {error, {unreachable, Reason}};
        Class:Reason -> {error, {unreachable, {Class, Reason}}}
    end.

%% @doc Sends `Pid' the keeper's events (see the module doc); `{lattice_cnode, up, ...}' at once
%% if the C node is running. Asynchronous: the keeper may be starting the C node.
-spec subscribe(pid()) -> ok.
subscribe(Pid) when is_pid(Pid) ->
    gen_server:cast(?MODULE, {subscribe, Pid}).

-spec unsubscribe(pid()) -> ok.
unsubscribe(Pid) when is_pid(Pid) ->
    gen_server:cast(?MODULE, {unsubscribe, Pid}).

%% @doc The keeper's state: status, C node name and OS pid, incarnation (starts so far),
%% consecutive failures, the last error, milliseconds until the next start (backoff).
-spec info() -> map().
info() ->
    gen_server:call(?MODULE, info, 15000).

%% @doc The name the supervised C node of `Node' takes: `lattice_cnode_<alive>@<host>'.
-spec default_cnode_name(node()) -> node().
default_cnode_name(Node) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    list_to_atom("lattice_cnode_" ++ Alive ++ "@" ++ Host).

%%--------------------------------------------------------------------------------------------
%% gen_server

%% @private
init(Opts) ->
    process_flag(trap_exit, true),
    _ = ets:new(?TABLE, [named_table, protected, set, {read_concurrency, true}]),
    Env = fun(Key, Default) -> maps:get(Key, Opts, application:get_env(lattice, Key, Default)) end,
    External =
        case Env(cnode, true) of
            {external, Name} when is_atom(Name) -> Name;
            _ -> undefined
        end,
    St = #st{
        external = External,
        opts = maps:get(cnode_options, Opts, env),
        min_ms = Env(cnode_backoff_min_ms, ?BACKOFF_MIN_MS),
        max_ms = Env(cnode_backoff_max_ms, ?BACKOFF_MAX_MS),
        stable_ms = Env(cnode_stable_ms, ?STABLE_MS)
    },
    self() ! start,
    {ok, publish(St)}.

%% @private
handle_call(info, _From, St) ->
    Next =
        case St#st.timer of
            undefined -> undefined;
            T -> erlang:read_timer(T)
        end,
    Info = #{
        status => St#st.status,
        cnode => St#st.cnode,
        os_pid => St#st.os_pid,
        server => St#st.server,
        incarnation => St#st.incarnation,
        failures => St#st.failures,
        last_error => St#st.last_error,
        next_start_in_ms => Next
    },
    {reply, Info, St};
handle_call(_Other, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
handle_cast({subscribe, Pid}, #st{subs = Subs} = St) ->
    Subs1 =
        case Subs of
            #{Pid := _} -> Subs;
            _ -> Subs#{Pid => monitor(process, Pid)}
        end,
    _ =
        case St#st.status of
            running -> Pid ! {lattice_cnode, up, St#st.cnode, St#st.incarnation};
            _ -> ok
        end,
    {noreply, St#st{subs = Subs1}};
handle_cast({unsubscribe, Pid}, #st{subs = Subs} = St) ->
    case maps:take(Pid, Subs) of
        {MRef, Rest} ->
            demonitor(MRef, [flush]),
            {noreply, St#st{subs = Rest}};
        error ->
            {noreply, St}
    end;
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
handle_info(start, #st{external = undefined} = St) ->
    {noreply, try_start(St#st{timer = undefined})};
handle_info(start, St) ->
    {noreply, follow_external(St#st{timer = undefined})};
handle_info({nodeup, CNode, _}, #st{external = CNode, status = Status} = St) when
    Status =/= running
->
    {noreply, probe(St)};
handle_info({lattice_cnode, ready, CNode}, #st{external = CNode, status = Status} = St) when
    Status =/= running
->
    %% Its --notify lattice_cnode_keeper notice.
    {noreply, probe(St)};
handle_info({lattice_cnode, Ref, pong}, #st{probe = Ref, external = CNode} = St) ->
    true = erlang:monitor_node(CNode, true),
    Incarnation = St#st.incarnation + 1,
    logger:info("lattice_cnode_keeper: following ~ts, run by hand", [CNode]),
    St1 = publish(St#st{
        status = running,
        probe = undefined,
        cnode = CNode,
        started_at = erlang:monotonic_time(millisecond),
        incarnation = Incarnation
    }),
    notify(St1, {lattice_cnode, up, CNode, Incarnation}),
    {noreply, St1};
handle_info({probe_timeout, Ref}, #st{probe = Ref} = St) ->
    {noreply, St#st{probe = undefined}};
handle_info({nodedown, CNode}, #st{external = CNode, status = running} = St) ->
    logger:warning("lattice_cnode_keeper: ~ts, run by hand, went away", [CNode]),
    %% published before the event: a subscriber checks the event against it (running/0)
    St1 = publish(St#st{status = waiting, last_error = nodedown}),
    notify(St1, {lattice_cnode, down, CNode, nodedown}),
    {noreply, St1};
handle_info({'EXIT', Server, Reason}, #st{server = Server, cnode = CNode} = St) when
    is_pid(Server)
->
    Now = erlang:monotonic_time(millisecond),
    Stable = Now - St#st.started_at >= St#st.stable_ms orelse not is_alive(),
    Failures =
        case Stable of
            true -> 1;
            false -> St#st.failures + 1
        end,
    %% Distribution stopped: the C node's owner connection went with it. Not a failure; the
    %% next start waits for distribution (try_start).
    case is_alive() of
        true ->
            logger:warning("lattice_cnode_keeper: ~ts went away (~p); restart ~b", [
                CNode, Reason, Failures
            ]);
        false ->
            logger:info("lattice_cnode_keeper: ~ts stopped with distribution", [CNode])
    end,
    %% published (backoff) before the event: a subscriber checks the event against it
    St1 = backoff(St#st{
        server = undefined, os_pid = undefined, failures = Failures, last_error = Reason
    }),
    notify(St1, {lattice_cnode, down, CNode, Reason}),
    {noreply, St1};
handle_info({'EXIT', _Other, _Reason}, St) ->
    %% A server whose start failed (its error came back from start_link), or an old one.
    {noreply, St};
handle_info({'DOWN', MRef, process, Pid, _}, #st{subs = Subs} = St) ->
    case Subs of
        #{Pid := MRef} -> {noreply, St#st{subs = maps:remove(Pid, Subs)}};
        _ -> {noreply, St}
    end;
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
terminate(_Reason, #st{server = Server}) when is_pid(Server) ->
    catch lattice_cnode:stop(Server),
    ok;
terminate(_Reason, _St) ->
    ok.

%%--------------------------------------------------------------------------------------------
%% Internals

try_start(St) ->
    case is_alive() of
        false ->
            Timer = erlang:send_after(?ALIVE_POLL_MS, self(), start),
            publish(St#st{status = waiting, timer = Timer});
        true ->
            %% The environment is read at each start, so a mended configuration is taken up.
            Opts =
                case St#st.opts of
                    env -> application:get_env(lattice, cnode_options, #{});
                    Map -> Map
                end,
            CNode = maps:get(cnode_name, Opts, default_cnode_name(node())),
            %% The application's limits, on the command line (--limit), so no session ever
            %% runs under the defaults.
            Limits = maps:merge(
                application:get_env(lattice, cnode_limits, #{}), maps:get(limits, Opts, #{})
            ),
            Opts1 = maps:merge(Opts, #{cnode_name => CNode, limits => Limits}),
            case lattice_cnode:start_link(Opts1) of
                {ok, Server} ->
                    Incarnation = St#st.incarnation + 1,
                    OsPid = lattice_cnode:os_pid(Server),
                    St1 = publish(St#st{
                        status = running,
                        server = Server,
                        cnode = lattice_cnode:node_name(Server),
                        os_pid = OsPid,
                        started_at = erlang:monotonic_time(millisecond),
                        incarnation = Incarnation
                    }),
                    notify(St1, {lattice_cnode, up, St1#st.cnode, Incarnation}),
                    St1;
                {error, not_distributed} ->
                    %% Distribution went down between the check and the start.
                    Timer = erlang:send_after(?ALIVE_POLL_MS, self(), start),
                    publish(St#st{status = waiting, timer = Timer});
                {error, Reason} ->
                    Failures = St#st.failures + 1,
                    logger:error(
                        "lattice_cnode_keeper: cannot start the C node (~p); attempt ~b",
                        [Reason, Failures]
                    ),
                    backoff(St#st{failures = Failures, last_error = Reason, cnode = CNode})
            end
    end.

%% A C node run by hand: wait for it to connect (nodeup of hidden nodes, or its --notify
%% notice), then make sure it answers.
follow_external(St) ->
    case is_alive() of
        false ->
            Timer = erlang:send_after(?ALIVE_POLL_MS, self(), start),
            publish(St#st{status = waiting, timer = Timer});
        true ->
            ok = net_kernel:monitor_nodes(true, [{node_type, hidden}]),
            St1 = publish(St#st{status = waiting, cnode = St#st.external}),
            case lists:member(St#st.external, nodes(hidden)) of
                true -> probe(St1);
                false -> St1
            end
    end.

probe(#st{external = CNode} = St) ->
    Ref = make_ref(),
    erlang:send({any, CNode}, {ping, self(), Ref}),
    _ = erlang:send_after(5000, self(), {probe_timeout, Ref}),
    St#st{probe = Ref}.

backoff(#st{failures = N, min_ms = Min, max_ms = Max} = St) ->
    Delay = delay(N, Min, Max),
    Timer = erlang:send_after(Delay, self(), start),
    publish(St#st{status = backoff, timer = Timer}).

%% The wait before the next start after N consecutive failures (N >= 1).
delay(N, Min, Max) ->
    Shift = min(N - 1, 30),
    min(Max, Min bsl Shift).

notify(#st{subs = Subs}, Event) ->
    maps:foreach(fun(Pid, _) -> Pid ! Event end, Subs).

publish(#st{status = Status, cnode = CNode, incarnation = Inc} = St) ->
    true = ets:insert(?TABLE, {status, Status, CNode, Inc}),
    St.
