%% @doc The lattice C node (`priv/lattice_cnode'), run as a port owned by a gen_server.
%%
%% The C node joins the distributed Erlang cluster as a hidden node of its own. This module
%% starts it, waits for its ready line, monitors it, and offers the requests it answers. The
%% server stops, with a reason a supervisor can act on, when the port exits
%% (`{cnode_exited, Status}') or the C node's connection goes down and its process does not
%% exit within a second (`{cnode_down, Node}'; the process is then killed). The C node stops
%% when its port is closed (the server stops) or this node goes away.
%%
%% The local node must be alive (distributed): the C node connects to it. The cookie is
%% handed to the C node in its environment (`LATTICE_COOKIE'), never on its command line.
%%
%% Options, as a map or a proplist:
%% <ul>
%% <li>`name': register the server (`Atom', `{local, A}', `{global, T}' or `{via, M, T}').</li>
%% <li>`cnode_name': the C node's node name; default
%%     `lattice_cnode_<alive>_<unique integer>@<host>' after this node's name.</li>
%% <li>`ready_timeout': milliseconds to wait for the ready line (default 10000).</li>
%% <li>`executable': the C node binary; default `lattice_cnode' in `code:priv_dir(lattice)',
%%     or in the `priv' directory beside this module's `ebin'.</li>
%% </ul>
%%
%% Requests (`ping/1', `version/1', `request/3') are sent by a short-lived helper process
%% straight to `{any, CNodeName}' as `{Op, HelperPid, Ref}', not through the server; the C node
%% replies `{lattice_cnode, Ref, Reply}'. A reply that comes after the timeout goes to the
%% helper, gone by then, never to the caller's mailbox.
-module(lattice_cnode).
-behaviour(gen_server).

-include_lib("kernel/include/file.hrl").

-export([start_link/0, start_link/1, start/0, start/1, stop/1]).
-export([node_name/1, os_pid/1, ping/1, ping/2, version/1, version/2, request/3]).
-export([stats/1, set_limits/2]).
-export([open/3, drop/2, clear/2, update/3, root/2, get/3, children/4, buckets/3, sync/3]).
-export([set_peer_key/4, clear_peer_key/3, require_keys/3]).
-export([encode_batch/1, decode_report/1]).
-export([executable/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([option/0, options/0, start_error/0]).
-export_type([store/0, key/0, digest/0, batch_entry/0, limits/0, report/0, side/0]).

-define(READY_TIMEOUT, 10000).
-define(REQUEST_TIMEOUT, 5000).
-define(STOP_TIMEOUT, 5000).
-define(EXIT_GRACE, 1000).
-define(LINE_MAX, 1024).
-define(READY_PREFIX, "lattice_cnode ready ").

-type server_name() ::
    atom() | {local, atom()} | {global, term()} | {via, module(), term()}.
-type option() ::
    {name, server_name()}
    | {cnode_name, node() | string()}
    | {ready_timeout, timeout()}
    | {executable, file:filename()}
    | {limits, limits()}.
-type options() :: #{
    name => server_name(),
    cnode_name => node() | string(),
    ready_timeout => timeout(),
    executable => file:filename(),
    limits => limits()
} | [option()].
%% A store: a named keyspace, one Merkle tree in the C node (1..255 bytes).
-type store() :: binary().
%% A key: 1..4096 bytes.
-type key() :: binary().
%% A value's 128-bit digest.
-type digest() :: <<_:128>>.
-type batch_entry() :: {put, key(), digest()} | {delete, key()}.
%% Limits by name (docs/CNODE.md section 5), non-negative integers.
-type limits() :: #{atom() => non_neg_integer()}.
-type side() :: differs | local_only | remote_only.
%% A session's outcome, as the C node sends it to the store's owner process in
%% `{lattice_cnode, session, Store, Report}' (docs/CNODE.md, Notifications).
-type report() :: #{
    id := non_neg_integer(),
    peer := node(),
    peer_owner := node() | undefined,
    role := initiator | responder,
    result := equal | differ | {error, atom()},
    keys := [{key(), side()}],
    truncated := boolean(),
    round_trips := non_neg_integer(),
    msgs_out := non_neg_integer(),
    msgs_in := non_neg_integer(),
    bytes_out := non_neg_integer(),
    bytes_in := non_neg_integer(),
    payload_out := non_neg_integer(),
    payload_in := non_neg_integer(),
    time_us := non_neg_integer()
}.
-type start_error() ::
    not_distributed
    | {cnode_not_built, file:filename()}
    | {bad_option, term()}
    | {cnode_exited, Status :: integer(), Output :: [binary()]}
    | {cnode_start_timeout, Output :: [binary()]}
    | {cnode_bad_ready_line, binary()}
    | {cnode_open_failed, term()}.

-record(config, {
    name :: {local, atom()} | {global, term()} | {via, module(), term()} | undefined,
    cnode :: node(),
    ready_timeout :: timeout(),
    executable :: file:filename(),
    limits = #{} :: limits()
}).

-record(state, {
    port :: port() | undefined,
    cnode :: node(),
    os_pid :: non_neg_integer() | undefined,
    partial = <<>> :: binary()
}).

%%--------------------------------------------------------------------------------------------
%% Starting and stopping

%% @equiv start_link(#{})
-spec start_link() -> {ok, pid()} | {error, start_error()}.
start_link() ->
    start_link(#{}).

%% @doc Starts the C node under a server linked to the caller, for a supervisor. Returns once
%% the C node is connected and has printed its ready line.
-spec start_link(options()) -> {ok, pid()} | {error, start_error()}.
start_link(Opts) ->
    do_start(start_link, Opts).

%% @equiv start(#{})
-spec start() -> {ok, pid()} | {error, start_error()}.
start() ->
    start(#{}).

%% @doc Like `start_link/1', without a link: the server outlives the calling process (an
%% `erpc' call, a test).
-spec start(options()) -> {ok, pid()} | {error, start_error()}.
start(Opts) ->
    do_start(start, Opts).

%% @doc Stops the server; the C node's port is closed and the C node exits.
-spec stop(gen_server:server_ref()) -> ok.
stop(Server) ->
    gen_server:stop(Server).

%%--------------------------------------------------------------------------------------------
%% Queries and requests

%% @doc The C node's node name.
-spec node_name(gen_server:server_ref()) -> node().
node_name(Server) ->
    gen_server:call(Server, node_name).

%% @doc The C node's operating-system process id.
-spec os_pid(gen_server:server_ref()) -> non_neg_integer().
os_pid(Server) ->
    gen_server:call(Server, os_pid).

%% @equiv ping(Server, 5000)
-spec ping(gen_server:server_ref()) -> pong | {error, term()}.
ping(Server) ->
    ping(Server, ?REQUEST_TIMEOUT).

%% @doc Asks the C node for `pong'.
-spec ping(gen_server:server_ref(), timeout()) -> pong | {error, term()}.
ping(Server, Timeout) ->
    case request(Server, ping, Timeout) of
        {ok, pong} -> pong;
        {ok, Other} -> {error, {unexpected_reply, Other}};
        {error, _} = Error -> Error
    end.

%% @equiv version(Server, 5000)
-spec version(gen_server:server_ref()) ->
    {ok, Version :: binary(), Protocol :: non_neg_integer()} | {error, term()}.
version(Server) ->
    version(Server, ?REQUEST_TIMEOUT).

%% @doc The C node's version (`<<"0.1.0">>') and message-protocol number.
-spec version(gen_server:server_ref(), timeout()) ->
    {ok, Version :: binary(), Protocol :: non_neg_integer()} | {error, term()}.
version(Server, Timeout) ->
    case request(Server, version, Timeout) of
        {ok, {version, Vsn, Proto}} when is_binary(Vsn), is_integer(Proto), Proto >= 0 ->
            {ok, Vsn, Proto};
        {ok, Other} ->
            {error, {unexpected_reply, Other}};
        {error, _} = Error ->
            Error
    end.

%% @doc Sends `{Op, FromPid, Ref}' to the C node and waits up to `Timeout' ms for its reply:
%% `{ok, Reply}', or `{error, timeout}'. An operation the C node does not know is answered
%% `{ok, {error, {unknown_request, Op}}}'.
-spec request(gen_server:server_ref(), term(), timeout()) -> {ok, term()} | {error, term()}.
request(Server, Op, Timeout) ->
    CNode = node_name(Server),
    Tag = make_ref(),
    Caller = self(),
    {Pid, MRef} = spawn_monitor(fun() -> request_helper(Caller, Tag, CNode, Op, Timeout) end),
    %% The helper's result, if any, always arrives before its 'DOWN'.
    receive
        {Tag, Result} ->
            erlang:demonitor(MRef, [flush]),
            Result;
        {'DOWN', MRef, process, Pid, Reason} ->
            {error, Reason}
    end.

%% Asks the C node and sends {Tag, Outcome} to Caller. A reply that comes after the timeout
%% goes to this process, gone by then, never to the caller's mailbox.
-spec request_helper(pid(), reference(), node(), term(), timeout()) -> ok.
request_helper(Caller, Tag, CNode, Op, Timeout) ->
    Ref = make_ref(),
    erlang:send({any, CNode}, {Op, self(), Ref}),
    Result =
        receive
            {lattice_cnode, Ref, Reply} -> {ok, Reply}
        after Timeout -> {error, timeout}
        end,
    Caller ! {Tag, Result},
    ok.

%%--------------------------------------------------------------------------------------------
%% The owner protocol (docs/CNODE.md). Each function sends one request and returns the C node's
%% reply, or `{error, timeout}' after 5 s (a C node that is busy with a huge batch, or gone).

%% @doc The C node's limits, counters and gauges (docs/CNODE.md section 6).
-spec stats(gen_server:server_ref()) -> {ok, map()} | {error, term()}.
stats(Server) ->
    call(Server, stats).

%% @doc Changes limits at run time; all are checked before any is applied.
-spec set_limits(gen_server:server_ref(), limits()) -> ok | {error, term()}.
set_limits(Server, Limits) when is_map(Limits) ->
    call(Server, {set_limits, Limits}).

%% @doc Opens (or re-opens) a store with a tree of `Levels' levels (1..6: 16^Levels leaf
%% buckets). The calling process becomes the store's owner process: session reports for the
%% store come to it as `{lattice_cnode, session, Store, Report}'.
-spec open(gen_server:server_ref(), store(), 1..6) -> ok | {error, term()}.
open(Server, Store, Levels) when is_binary(Store), is_integer(Levels) ->
    call(Server, {open, Store, Levels, self()}).

%% @doc Drops a store and its tree.
-spec drop(gen_server:server_ref(), store()) -> ok | {error, term()}.
drop(Server, Store) when is_binary(Store) ->
    call(Server, {drop, Store}).

%% @doc Empties a store's tree, keeping its levels.
-spec clear(gen_server:server_ref(), store()) -> ok | {error, term()}.
clear(Server, Store) when is_binary(Store) ->
    call(Server, {clear, Store}).

%% @doc Applies a batch of leaf updates, a list or a binary made by `encode_batch/1'. A batch
%% is checked whole before any entry is applied: `{error, {bad_batch, Offset}}' applies none.
-spec update(gen_server:server_ref(), store(), [batch_entry()] | binary()) ->
    {ok, non_neg_integer()} | {error, term()}.
update(Server, Store, Entries) when is_list(Entries) ->
    update(Server, Store, encode_batch(Entries));
update(Server, Store, Batch) when is_binary(Store), is_binary(Batch) ->
    call(Server, {update, Store, Batch}).

%% @doc The root of a store's tree: its 128-bit sum and its key count.
-spec root(gen_server:server_ref(), store()) ->
    {ok, <<_:128>>, non_neg_integer()} | {error, term()}.
root(Server, Store) when is_binary(Store) ->
    call(Server, {root, Store}).

%% @doc A key's digest in a store's tree.
-spec get(gen_server:server_ref(), store(), key()) -> {ok, digest()} | {error, term()}.
get(Server, Store, Key) when is_binary(Store), is_binary(Key) ->
    call(Server, {get, Store, Key}).

%% @doc The children encoding (docs/MERKLE.md) of the nodes `Parents' (ascending) of `Level'.
-spec children(gen_server:server_ref(), store(), non_neg_integer(), [non_neg_integer()]) ->
    {ok, binary()} | {error, term()}.
children(Server, Store, Level, Parents) when is_binary(Store), is_list(Parents) ->
    call(Server, {children, Store, Level, << <<P:64>> || P <- Parents >>}).

%% @doc The bucket encoding (docs/MERKLE.md) of the buckets `Buckets' (ascending).
-spec buckets(gen_server:server_ref(), store(), [non_neg_integer()]) ->
    {ok, binary()} | {error, term()}.
buckets(Server, Store, Buckets) when is_binary(Store), is_list(Buckets) ->
    call(Server, {buckets, Store, << <<B:64>> || B <- Buckets >>}).

%% @doc Starts an anti-entropy session for `Store' with the peer C node `Peer'. Returns at
%% once with the session's id; its report comes to the store's owner process later. Refused
%% with `{error, skipped}' while a session for this store with this peer still runs,
%% `{error, busy}' at `max_sessions', `{error, circuit_open}' while the peer's breaker is open.
-spec sync(gen_server:server_ref(), store(), node()) ->
    {ok, non_neg_integer()} | {error, term()}.
sync(Server, Store, Peer) when is_binary(Store), is_atom(Peer) ->
    call(Server, {sync, Store, Peer}).

%% @doc Protocol 3 (docs/CNODE.md, section 3a): the 32-byte key that seals the store's sessions
%% with the C node `PeerCNode' (both directions); `ok', `{error, no_store | too_many_keys}'.
-spec set_peer_key(gen_server:server_ref(), store(), node(), <<_:256>>) -> ok | {error, term()}.
set_peer_key(Server, Store, PeerCNode, <<_:256>> = Key) when is_binary(Store), is_atom(PeerCNode) ->
    call(Server, {set_peer_key, Store, PeerCNode, Key}).

%% @doc Forgets the key for `PeerCNode' (absent: `ok' too).
-spec clear_peer_key(gen_server:server_ref(), store(), node()) -> ok | {error, term()}.
clear_peer_key(Server, Store, PeerCNode) when is_binary(Store), is_atom(PeerCNode) ->
    call(Server, {clear_peer_key, Store, PeerCNode}).

%% @doc With `true', sessions of the store with a C node it holds no key for are refused
%% (`sync' answers `{error, no_key}', a peer's HELLO gets `ABORT no_key').
-spec require_keys(gen_server:server_ref(), store(), boolean()) -> ok | {error, term()}.
require_keys(Server, Store, Require) when is_binary(Store), is_boolean(Require) ->
    call(Server, {require_keys, Store, Require}).

%% @doc The binary leaf batch of `update/3' (docs/CNODE.md): version 1, then per entry
%% `<<1, KeyLen:16, Key, Digest:16/binary>>' (put) or `<<2, KeyLen:16, Key>>' (delete).
-spec encode_batch([batch_entry()]) -> binary().
encode_batch(Entries) ->
    iolist_to_binary([1 | [batch_entry(E) || E <- Entries]]).

-spec batch_entry(batch_entry()) -> iodata().
batch_entry({put, Key, <<_:128>> = Digest}) when
    is_binary(Key), byte_size(Key) >= 1, byte_size(Key) =< 4096
->
    [<<1, (byte_size(Key)):16>>, Key, Digest];
batch_entry({delete, Key}) when is_binary(Key), byte_size(Key) >= 1, byte_size(Key) =< 4096 ->
    [<<2, (byte_size(Key)):16>>, Key];
batch_entry(Other) ->
    erlang:error(badarg, [Other]).

%% @doc Checks a session notification's report map and returns it, or `error' for anything that
%% is not one.
-spec decode_report(term()) -> {ok, report()} | error.
decode_report(#{id := _, peer := _, role := _, result := _, keys := Keys} = Report) when
    is_list(Keys)
->
    {ok, Report};
decode_report(_) ->
    error.

-spec call(gen_server:server_ref(), term()) -> term().
call(Server, Op) ->
    case request(Server, Op, ?REQUEST_TIMEOUT) of
        {ok, Reply} -> Reply;
        {error, _} = Error -> Error
    end.

%% @doc Where the C node binary is expected: `lattice_cnode' in `code:priv_dir(lattice)', or,
%% when the application is not in the code path under its name, in the `priv' directory
%% beside this module's `ebin'.
-spec executable() -> file:filename().
executable() ->
    lattice_priv:path("lattice_cnode").

%%--------------------------------------------------------------------------------------------
%% Start-up checks, made in the caller so that start_link/1 returns a plain error for them

-spec do_start(start | start_link, options()) -> {ok, pid()} | {error, start_error()}.
do_start(How, Opts) ->
    case config(Opts) of
        {ok, #config{name = undefined} = Config} ->
            gen_server:How(?MODULE, Config, []);
        {ok, #config{name = Name} = Config} ->
            gen_server:How(Name, ?MODULE, Config, []);
        {error, _} = Error ->
            Error
    end.

-spec config(options()) -> {ok, #config{}} | {error, start_error()}.
config(Opts) when is_list(Opts) ->
    try maps:from_list(Opts) of
        Map -> config(Map)
    catch
        error:badarg -> {error, {bad_option, Opts}}
    end;
config(Opts) when is_map(Opts) ->
    Known = [name, cnode_name, ready_timeout, executable, limits],
    case [K || K <- maps:keys(Opts), not lists:member(K, Known)] of
        [] -> config_checked(Opts);
        [Bad | _] -> {error, {bad_option, Bad}}
    end;
config(Opts) ->
    {error, {bad_option, Opts}}.

-spec config_checked(map()) -> {ok, #config{}} | {error, start_error()}.
config_checked(Opts) ->
    Timeout = maps:get(ready_timeout, Opts, ?READY_TIMEOUT),
    ValidTimeout = Timeout =:= infinity orelse (is_integer(Timeout) andalso Timeout >= 0),
    Exe =
        case maps:find(executable, Opts) of
            {ok, Path} -> Path;
            error -> executable()
        end,
    Limits = maps:get(limits, Opts, #{}),
    ValidLimits =
        is_map(Limits) andalso
            lists:all(
                fun({K, V}) -> is_atom(K) andalso is_integer(V) andalso V >= 0 end,
                maps:to_list(Limits)
            ),
    case is_alive() of
        false ->
            {error, not_distributed};
        true when not ValidTimeout ->
            {error, {bad_option, {ready_timeout, Timeout}}};
        true when not ValidLimits ->
            {error, {bad_option, {limits, Limits}}};
        true ->
            case {is_executable(Exe), server_name(maps:get(name, Opts, undefined)),
                  cnode_name(maps:get(cnode_name, Opts, undefined))} of
                {false, _, _} ->
                    {error, {cnode_not_built, Exe}};
                {true, {ok, Name}, {ok, CNode}} ->
                    {ok, #config{
                        name = Name,
                        cnode = CNode,
                        ready_timeout = Timeout,
                        executable = Exe,
                        limits = Limits
                    }};
                {true, {error, _} = Error, _} ->
                    Error;
                {true, _, {error, _} = Error} ->
                    Error
            end
    end.

-spec is_executable(term()) -> boolean().
is_executable(Path) ->
    case catch file:read_file_info(Path) of
        {ok, #file_info{type = regular, mode = Mode}} -> Mode band 8#111 =/= 0;
        _ -> false
    end.

-spec server_name(term()) ->
    {ok, {local, atom()} | {global, term()} | {via, module(), term()} | undefined}
    | {error, {bad_option, term()}}.
server_name(undefined) -> {ok, undefined};
server_name(Name) when is_atom(Name) -> {ok, {local, Name}};
server_name({local, Name} = N) when is_atom(Name) -> {ok, N};
server_name({global, _} = N) -> {ok, N};
server_name({via, Mod, _} = N) when is_atom(Mod) -> {ok, N};
server_name(Other) -> {error, {bad_option, {name, Other}}}.

-spec cnode_name(term()) -> {ok, node()} | {error, {bad_option, term()}}.
cnode_name(undefined) ->
    [Alive, Host] = string:split(atom_to_list(node()), "@"),
    Unique = integer_to_list(erlang:unique_integer([positive])),
    {ok, list_to_atom("lattice_cnode_" ++ Alive ++ "_" ++ Unique ++ "@" ++ Host)};
cnode_name(Name) when is_atom(Name) ->
    cnode_name(atom_to_list(Name));
cnode_name(Name) when is_list(Name) ->
    case io_lib:printable_unicode_list(Name) andalso string:split(Name, "@", all) of
        [[_ | _], [_ | _]] -> {ok, list_to_atom(Name)};
        _ -> {error, {bad_option, {cnode_name, Name}}}
    end;
cnode_name(Name) ->
    {error, {bad_option, {cnode_name, Name}}}.

%%--------------------------------------------------------------------------------------------
%% gen_server

%% @private
-spec init(#config{}) -> {ok, #state{}} | {stop, start_error()}.
init(#config{cnode = CNode, executable = Exe, ready_timeout = Timeout, limits = Limits}) ->
    process_flag(trap_exit, true),
    LimitArgs = lists:append([
        ["--limit", atom_to_list(K) ++ "=" ++ integer_to_list(V)]
     || {K, V} <- lists:sort(maps:to_list(Limits))
    ]),
    Args = ["--name", atom_to_list(CNode), "--owner", atom_to_list(node()) | LimitArgs],
    Env = [
        {"LATTICE_COOKIE", atom_to_list(erlang:get_cookie())},
        {"LATTICE_COOKIE_FILE", false},
        {"LATTICE_CNODE_LIMITS", false}
    ],
    PortOpts = [
        {args, Args},
        {env, Env},
        {line, ?LINE_MAX},
        exit_status,
        use_stdio,
        stderr_to_stdout,
        binary,
        hide
    ],
    try open_port({spawn_executable, Exe}, PortOpts) of
        Port ->
            Deadline =
                case Timeout of
                    infinity -> infinity;
                    _ -> erlang:monotonic_time(millisecond) + Timeout
                end,
            case wait_ready(Port, CNode, Deadline, <<>>, []) of
                ok ->
                    OsPid =
                        case erlang:port_info(Port, os_pid) of
                            {os_pid, P} -> P;
                            undefined -> undefined
                        end,
                    true = erlang:monitor_node(CNode, true),
                    logger:info("lattice_cnode: ~ts started (os pid ~p)", [CNode, OsPid]),
                    {ok, #state{port = Port, cnode = CNode, os_pid = OsPid}};
                {error, Reason} ->
                    catch port_close(Port),
                    logger:error("lattice_cnode: ~ts failed to start: ~p", [CNode, Reason]),
                    {stop, Reason}
            end
    catch
        error:Why ->
            logger:error("lattice_cnode: cannot run ~ts: ~p", [Exe, Why]),
            {stop, {cnode_open_failed, Why}}
    end.

%% Waits for "lattice_cnode ready <CNode> <Port>"; collects any other output for the error.
-spec wait_ready(port(), node(), integer() | infinity, binary(), [binary()]) ->
    ok | {error, start_error()}.
wait_ready(Port, CNode, Deadline, Partial, Output) ->
    Left =
        case Deadline of
            infinity -> infinity;
            _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
        end,
    receive
        {Port, {data, {noeol, Part}}} ->
            wait_ready(Port, CNode, Deadline, <<Partial/binary, Part/binary>>, Output);
        {Port, {data, {eol, Part}}} ->
            case <<Partial/binary, Part/binary>> of
                <<?READY_PREFIX, Rest/binary>> = Line ->
                    Expected = atom_to_binary(CNode, utf8),
                    case binary:split(Rest, <<" ">>) of
                        [Expected, PortNo] when PortNo =/= <<>> -> ok;
                        _ -> {error, {cnode_bad_ready_line, Line}}
                    end;
                Line ->
                    wait_ready(Port, CNode, Deadline, <<>>, [Line | Output])
            end;
        {Port, {exit_status, Status}} ->
            {error, {cnode_exited, Status, lists:reverse(Output)}}
    after Left ->
        {error, {cnode_start_timeout, lists:reverse(Output)}}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(node_name, _From, #state{cnode = CNode} = State) ->
    {reply, CNode, State};
handle_call(os_pid, _From, #state{os_pid = OsPid} = State) ->
    {reply, OsPid, State};
handle_call(Request, _From, State) ->
    {reply, {error, {unknown_call, Request}}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({Port, {data, {noeol, Part}}}, #state{port = Port, partial = Partial} = State) ->
    {noreply, State#state{partial = <<Partial/binary, Part/binary>>}};
handle_info({Port, {data, {eol, Part}}}, #state{port = Port, partial = Partial} = State) ->
    logger:notice("lattice_cnode ~ts: ~ts", [State#state.cnode, <<Partial/binary, Part/binary>>]),
    {noreply, State#state{partial = <<>>}};
handle_info({Port, {exit_status, Status}}, #state{port = Port, cnode = CNode} = State) ->
    logger:error("lattice_cnode: ~ts exited with status ~p", [CNode, Status]),
    {stop, {cnode_exited, Status}, State#state{port = undefined}};
handle_info({'EXIT', Port, Reason}, #state{port = Port, cnode = CNode} = State) ->
    logger:error("lattice_cnode: the port of ~ts closed: ~p", [CNode, Reason]),
    {stop, {cnode_port_closed, Reason}, State#state{port = undefined}};
handle_info({nodedown, CNode}, #state{port = Port, cnode = CNode} = State) ->
    %% The process usually exits just after its connection drops: report its status if so.
    receive
        {Port, {exit_status, Status}} ->
            logger:error("lattice_cnode: ~ts exited with status ~p", [CNode, Status]),
            {stop, {cnode_exited, Status}, State#state{port = undefined}}
    after ?EXIT_GRACE ->
        logger:error("lattice_cnode: lost the connection to ~ts", [CNode]),
        {stop, {cnode_down, CNode}, State}
    end;
handle_info(Msg, State) ->
    logger:debug("lattice_cnode: ignored ~p", [Msg]),
    {noreply, State}.

%% @private
%% Closes the port (the C node exits at end of stdin) and waits for its connection to drop, so
%% the C node is gone when stop/1 returns. A C node that is still running but unreachable, or
%% that does not exit, is killed.
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{port = undefined}) ->
    ok;
terminate(_Reason, #state{port = Port, cnode = CNode, os_pid = OsPid}) ->
    Connected = lists:member(CNode, nodes(hidden)),
    catch port_close(Port),
    case Connected andalso await_nodedown(CNode) of
        true ->
            ok;
        false ->
            logger:warning("lattice_cnode: ~ts did not exit; killing os pid ~p", [CNode, OsPid]),
            kill(OsPid)
    end.

-spec await_nodedown(node()) -> boolean().
await_nodedown(CNode) ->
    receive
        {nodedown, CNode} -> true
    after ?STOP_TIMEOUT -> false
    end.

-spec kill(non_neg_integer() | undefined) -> ok.
kill(undefined) ->
    ok;
kill(OsPid) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.
