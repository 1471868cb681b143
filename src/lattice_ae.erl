%% @doc Anti-entropy for owners: stores of leaves (key → 128-bit value digest) kept in this
%% node's C node, and sessions with the C nodes of peer nodes that find the keys that differ.
%%
%% One server per node (registered `lattice_ae', under `lattice_sup'). An owner is any process
%% that opens a store, feeds it leaves and receives the differences; the replicated store
%% plugs in as an owner unchanged. The C node's side is docs/CNODE.md (protocol 2); this module
%% speaks it (through `lattice_ae_wire') so that owners never do.
%%
%% <ul>
%% <li>`open(Store, Opts)' makes the caller (or `owner') the owner of `Store' (an atom or a
%%     binary of 1..255 bytes) on this node. The server keeps the owner's record of leaves in
%%     an ETS table (`Key → Digest'; read it with `leaves/1' or `lookup/2') and feeds the C node
%%     from it; when the C node restarts it opens every store on the new C node again and feeds
%%     it everything, so nothing is lost.</li>
%% <li>`put/2', `delete/2', `update/2' change leaves. Changes are written to the table at once
%%     and sent to the C node in `update' batches: a batch goes when it reaches `batch_bytes'
%%     (default and cap: the C node's packet cap, 1 MiB, less room for the envelope) or
%%     `batch_ms' after its first change (default 5 ms). `flush/1' sends what is pending and
%%     waits until the C node has applied it; it returns the C node's root.</li>
%% <li>`sync(Store, Peer)' starts a session between this node's C node and the C node of the
%%     BEAM node `Peer', found by asking `Peer''s `lattice_ae' over `erpc'
%%     (`peer_cnode/2': it answers only when the store is open there). With `sync_interval'
%%     (milliseconds, default `infinity') the server also starts sessions on its own, with each
%%     of `peers' (a list of nodes, or `connected': every node of `nodes()' that has the store
%%     open), skipping a peer whose last session is still running.</li>
%% </ul>
%%
%% The owner is sent:
%% <ul>
%% <li>`{lattice_ae, session, Store, Report}' at the end of every session, on both sides (the
%%     side that started it and the peer's). `Report' is the C node's report (docs/CNODE.md,
%%     section 2: `result' = `equal' | `differ' | `{error, Reason}', `keys' = `[{Key, Side}]'
%%     with `Side' = `differs' | `local_only' | `remote_only', `role', `round_trips',
%%     `bytes_out', `bytes_in', `time_us', ...) with one key added: `node', the peer's BEAM node.
%%     A session that fails before the C node runs it (the peer unreachable or without the
%%     store, this node's C node down) is reported the same way, `result' `{error, Reason}',
%%     `keys' `[]'.</li>
%% <li>`{lattice_ae, cnode_down, Store, Reason}' and `{lattice_ae, cnode_up, Store,
%%     Incarnation}': this node's C node went away (sessions in flight are reported failed with
%%     `{cnode_down, Reason}'), and a new one holds the store again (every leaf sent to it).</li>
%% </ul>
%%
%% Sealed sessions (docs/CNODE.md, section 3a): `set_peer_key(Store, PeerNode, Key)' gives this
%% node's C node a 32-byte key for the C node of the BEAM node `PeerNode' (found over `erpc', as
%% for `sync/2', and again whenever a session finds it changed); from then on every session
%% message of `Store' between the two C nodes is sealed (XChaCha20-Poly1305) under it. The key
%% is meant to come from the secure channel between the two nodes (`lattice_channel:ae_key/1'),
%% so both ends hold the same one; set it again after each rekey. `require_keys => true' (an
%% `open/2' option) makes the C node refuse any session of the store with a C node it holds no
%% key for. Keys and the option are sent again to a restarted C node.
%%
%% If this server itself dies, the table of a store passes to its owner (an ETS heir, when the
%% owner is a local process): the owner is sent `{'ETS-TRANSFER', Table, ServerPid,
%% {lattice_ae, Store}}' and may open the store again with `#{leaves => Table}', keeping every
%% leaf.
-module(lattice_ae).
-behaviour(gen_server).

-export([start_link/0, child_spec/0]).
-export([open/1, open/2, close/1, put/2, delete/2, update/2]).
-export([leaves/1, lookup/2, flush/1, flush/2, root/1, sync/2, await/3, info/1, stores/0]).
-export([cnode_stats/0, set_limits/1, peer_cnode/2]).
-export([set_peer_key/3, clear_peer_key/2, peer_keys/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, format_status/1]).

-export_type([store/0, key/0, digest/0, side/0, diff/0, report/0, notification/0]).
-export_type([open_options/0]).

-define(SERVER, ?MODULE).
-define(BATCH_MS, 5).
-define(LEVELS, 4).
-define(REQUEST_TIMEOUT, 10000).
%% Beyond the C node's own session_timeout_ms (default 30 s): a report that never comes.
-define(SESSION_TIMEOUT, 60000).
-define(RESOLVE_TIMEOUT, 5000).
-define(FEED_CHUNK, 4096).

-type store() :: atom() | binary().
-type key() :: binary().
-type digest() :: <<_:128>>.
-type side() :: differs | local_only | remote_only.
-type diff() :: {key(), side()}.
-type report() :: #{
    node := node(),
    result := equal | differ | {error, term()},
    keys := [diff()],
    atom() => term()
}.
-type notification() ::
    {lattice_ae, session, store(), report()}
    | {lattice_ae, cnode_down, store(), term()}
    | {lattice_ae, cnode_up, store(), pos_integer()}.
-type open_options() :: #{
    owner => pid(),
    levels => 1..6,
    batch_bytes => pos_integer(),
    batch_ms => non_neg_integer(),
    sync_interval => pos_integer() | infinity,
    peers => [node()] | connected,
    session_timeout => pos_integer(),
    require_keys => boolean(),
    leaves => ets:tid()
}.

-record(session, {
    cnode = resolving :: node() | resolving,
    id :: integer() | undefined,
    timer :: reference(),
    %% a tick over `connected' peers: a peer without the store is passed over silently
    quiet = false :: boolean()
}).

-record(store, {
    name :: store(),
    wire :: binary(),
    owner :: pid(),
    mon :: reference(),
    tab :: ets:tid(),
    levels :: 1..6,
    batch_bytes :: pos_integer(),
    batch_ms :: non_neg_integer(),
    interval :: pos_integer() | infinity,
    peers :: [node()] | connected,
    session_timeout :: pos_integer(),
    %% the batch being filled (lattice_ae_wire:batch_new/0, then entries appended)
    pending = <<>> :: binary(),
    pending_n = 0 :: non_neg_integer(),
    flush_timer :: reference() | undefined,
    tick_timer :: reference() | undefined,
    sessions = #{} :: #{node() => #session{}},
    %% sealed sessions: the key of each peer BEAM node, and that node's C node once known
    require_keys = false :: boolean(),
    %% (`redacted' only in the copy format_status/1 gives to logs)
    keys = #{} :: #{node() => <<_:256>> | redacted},
    key_cnodes = #{} :: #{node() => node()}
}).

-record(st, {
    cnode :: node() | undefined,
    incarnation = 0 :: non_neg_integer(),
    %% keeper events refused: an `up' naming another C node or incarnation than the keeper
    %% publishes, a `down' of the C node it still runs (forged: see handle_info/2)
    refused_events = 0 :: non_neg_integer(),
    keeper :: reference() | undefined,
    stores = #{} :: #{store() => #store{}},
    wire = #{} :: #{binary() => store()},
    %% outstanding requests to the C node: Ref => {What, Timer}
    requests = #{} :: #{reference() => {term(), reference() | undefined}}
}).

%%--------------------------------------------------------------------------------------------
%% API

-spec child_spec() -> supervisor:child_spec().
child_spec() ->
    #{
        id => ?SERVER,
        start => {?MODULE, start_link, []},
        restart => permanent,
        shutdown => 5000,
        type => worker,
        modules => [?MODULE]
    }.

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @equiv open(Store, #{})
-spec open(store()) -> ok | {error, term()}.
open(Store) ->
    open(Store, #{}).

%% @doc Opens `Store' with the caller (or `owner') as its owner: `ok', or
%% `{error, already_open}'. Options (`open_options()'): `owner'; `levels' of the tree (1..6,
%% default 4: 16^4 buckets, for up to about a million keys); `batch_bytes', `batch_ms';
%% `sync_interval', `peers'; `session_timeout' (ms, default 60000: when no report came by then
%% the session is reported failed, `timeout'); `leaves', a table handed back after this server
%% died.
-spec open(store(), open_options()) -> ok | {error, term()}.
open(Store, Opts) when is_map(Opts) ->
    case wire_name(Store) of
        {ok, _} ->
            Owner = maps:get(owner, Opts, self()),
            %% A table handed back (#{leaves => Tab}): the caller owns it and gives it to the
            %% server, which gives it back if the store cannot be opened.
            case maps:find(leaves, Opts) of
                {ok, Tab} ->
                    case catch ets:info(Tab, owner) =:= self() of
                        true -> true = ets:give_away(Tab, whereis(?SERVER), {lattice_ae, Store});
                        _ -> erlang:error(badarg, [Store, Opts])
                    end;
                error ->
                    ok
            end,
            gen_server:call(?SERVER, {open, Store, Opts#{owner => Owner}}, ?REQUEST_TIMEOUT);
        error ->
            erlang:error(badarg, [Store, Opts])
    end;
open(Store, Opts) ->
    erlang:error(badarg, [Store, Opts]).

%% @doc Closes `Store': the C node drops its tree, the table is deleted.
-spec close(store()) -> ok | {error, not_open}.
close(Store) ->
    gen_server:call(?SERVER, {close, Store}, ?REQUEST_TIMEOUT).

%% @doc Sets leaves: `[{Key, Digest}]', `Key' a binary of 1..4096 bytes, `Digest' 16 bytes.
-spec put(store(), [{key(), digest()}]) -> ok | {error, not_open}.
put(Store, Entries) when is_list(Entries) ->
    case lists:all(fun is_put/1, Entries) of
        true -> change(Store, Entries);
        false -> erlang:error(badarg, [Store, Entries])
    end;
put(Store, Entries) ->
    erlang:error(badarg, [Store, Entries]).

%% @doc Removes the leaves of `Keys'.
-spec delete(store(), [key()]) -> ok | {error, not_open}.
delete(Store, Keys) when is_list(Keys) ->
    case lists:all(fun is_key/1, Keys) of
        true -> change(Store, [{K, delete} || K <- Keys]);
        false -> erlang:error(badarg, [Store, Keys])
    end;
delete(Store, Keys) ->
    erlang:error(badarg, [Store, Keys]).

%% @doc Sets and removes leaves in one go: `[{Key, Digest} | {Key, delete}]', applied in order.
-spec update(store(), [{key(), digest() | delete}]) -> ok | {error, not_open}.
update(Store, Changes) when is_list(Changes) ->
    case lists:all(fun(C) -> is_put(C) orelse is_delete(C) end, Changes) of
        true -> change(Store, Changes);
        false -> erlang:error(badarg, [Store, Changes])
    end;
update(Store, Changes) ->
    erlang:error(badarg, [Store, Changes]).

%% @doc The table of `Store''s leaves (`{Key, Digest}'), readable by any process.
-spec leaves(store()) -> {ok, ets:tid()} | {error, not_open}.
leaves(Store) ->
    gen_server:call(?SERVER, {leaves, Store}, ?REQUEST_TIMEOUT).

%% @doc The digest of `Key' as the owner last set it.
-spec lookup(store(), key()) -> {ok, digest()} | error | {error, not_open}.
lookup(Store, Key) ->
    case leaves(Store) of
        {ok, Tab} ->
            case ets:lookup(Tab, Key) of
                [{_, D}] -> {ok, D};
                [] -> error
            end;
        Error ->
            Error
    end.

%% @equiv flush(Store, 60000)
-spec flush(store()) -> {ok, #{hash := binary(), count := non_neg_integer()}} | {error, term()}.
flush(Store) ->
    flush(Store, 60000).

%% @doc Sends the pending changes of `Store' and waits until the C node has applied them
%% (and every batch before them); returns the C node's root of the store then: its 16-byte
%% sum and its count of keys. `{error, cnode_down}' while there is no C node.
-spec flush(store(), timeout()) ->
    {ok, #{hash := binary(), count := non_neg_integer()}} | {error, term()}.
flush(Store, Timeout) ->
    gen_server:call(?SERVER, {flush, Store, Timeout}, call_timeout(Timeout)).

%% @equiv flush(Store)
-spec root(store()) -> {ok, #{hash := binary(), count := non_neg_integer()}} | {error, term()}.
root(Store) ->
    flush(Store).

%% @doc Starts a session for `Store' with the BEAM node `Peer'. Returns at once: `ok' (the owner
%% is sent the report), `{error, busy}' when a session with `Peer' is running,
%% `{error, not_open}', `{error, cnode_down}', `{error, self_sync}'.
-spec sync(store(), node()) -> ok | {error, term()}.
sync(Store, Peer) when is_atom(Peer) ->
    gen_server:call(?SERVER, {sync, Store, Peer}, ?REQUEST_TIMEOUT).

%% @doc For an owner: waits up to `Timeout' ms for the report of the next session of `Store'
%% with `Peer' that this node started. `{ok, Keys, Report}' (`Keys' sorted) or
%% `{error, Reason, Report}'; `{error, timeout}' when none came.
-spec await(store(), node(), timeout()) ->
    {ok, [diff()], report()} | {error, term(), report()} | {error, timeout}.
await(Store, Peer, Timeout) ->
    receive
        {lattice_ae, session, Store, #{node := Peer, role := initiator} = Report} ->
            case maps:get(result, Report) of
                {error, Reason} -> {error, Reason, Report};
                _ -> {ok, lists:sort(maps:get(keys, Report)), Report}
            end
    after Timeout -> {error, timeout}
    end.

%% @doc What the server knows of `Store': leaves held, pending changes, sessions in flight,
%% the C node and its incarnation.
-spec info(store()) -> {ok, map()} | {error, not_open}.
info(Store) ->
    gen_server:call(?SERVER, {info, Store}, ?REQUEST_TIMEOUT).

%% @doc The stores open on this node.
-spec stores() -> [store()].
stores() ->
    gen_server:call(?SERVER, stores, ?REQUEST_TIMEOUT).

%% @doc The C node's stats (docs/CNODE.md, section 6): `{ok, #{limits, counters, gauges,
%% breakers}}'.
-spec cnode_stats() -> {ok, map()} | {error, term()}.
cnode_stats() ->
    gen_server:call(?SERVER, {cnode, lattice_ae_wire:stats()}, ?REQUEST_TIMEOUT + 1000).

%% @doc Changes the C node's limits at run time (docs/CNODE.md, section 5): `ok' or
%% `{error, {bad_limit, Key}}'. A restarted C node starts with the application's
%% `cnode_limits' (see `lattice_cnode_keeper'), not with these.
-spec set_limits(#{atom() => integer()}) -> ok | {error, term()}.
set_limits(Limits) when is_map(Limits) ->
    gen_server:call(?SERVER, {cnode, lattice_ae_wire:set_limits(Limits)}, ?REQUEST_TIMEOUT + 1000).

%% @doc Gives this node's C node `Key' (32 bytes) for the sessions of `Store' with the C node
%% of `PeerNode': every session message between them is then sealed under it (docs/CNODE.md,
%% section 3a). Setting a key again replaces it (a rekey: sessions already running finish under
%% the key they started with). `ok' once recorded; the key reaches the C node as soon as the
%% peer's C node is known (asked of `PeerNode' over `erpc', retried every second until it
%% answers), and again after every restart of this node's C node.
-spec set_peer_key(store(), node(), <<_:256>>) -> ok | {error, not_open}.
set_peer_key(Store, PeerNode, <<_:256>> = Key) when is_atom(PeerNode), PeerNode =/= node() ->
    gen_server:call(?SERVER, {set_peer_key, Store, PeerNode, Key}, ?REQUEST_TIMEOUT);
set_peer_key(Store, PeerNode, Key) ->
    erlang:error(badarg, [Store, PeerNode, Key]).

%% @doc Forgets the key of `PeerNode' for `Store': sessions with its C node are unsealed again
%% (or refused, if the store was opened with `require_keys').
-spec clear_peer_key(store(), node()) -> ok | {error, not_open}.
clear_peer_key(Store, PeerNode) when is_atom(PeerNode) ->
    gen_server:call(?SERVER, {clear_peer_key, Store, PeerNode}, ?REQUEST_TIMEOUT);
clear_peer_key(Store, PeerNode) ->
    erlang:error(badarg, [Store, PeerNode]).

%% @doc The peers of `Store' with a key, and their C nodes when known (`undefined' until then).
%% The keys themselves are not returned.
-spec peer_keys(store()) -> {ok, #{node() => node() | undefined}} | {error, not_open}.
peer_keys(Store) ->
    gen_server:call(?SERVER, {peer_keys, Store}, ?REQUEST_TIMEOUT).

%% @doc This node's C node, if `Store' is open here and the C node runs: what a peer asks
%% (over `erpc') before a session.
-spec peer_cnode(store(), node()) -> {ok, node()} | {error, term()}.
peer_cnode(Store, _Asker) ->
    case whereis(?SERVER) of
        undefined ->
            {error, no_lattice_ae};
        _ ->
            case lists:member(Store, stores()) of
                true -> lattice_cnode_keeper:cnode();
                false -> {error, not_open}
            end
    end.

%%--------------------------------------------------------------------------------------------
%% Argument checks

is_key(K) -> is_binary(K) andalso byte_size(K) >= 1 andalso byte_size(K) =< 4096.

is_put({K, D}) -> is_key(K) andalso is_binary(D) andalso byte_size(D) =:= 16;
is_put(_) -> false.

is_delete({K, delete}) -> is_key(K);
is_delete(_) -> false.

wire_name(Store) when is_atom(Store) -> wire_name(atom_to_binary(Store, utf8));
wire_name(Store) when is_binary(Store), byte_size(Store) >= 1, byte_size(Store) =< 255 ->
    {ok, Store};
wire_name(_) -> error.

change(Store, Changes) ->
    gen_server:call(?SERVER, {change, Store, Changes}, infinity).

call_timeout(infinity) -> infinity;
call_timeout(T) -> T + 1000.

%%--------------------------------------------------------------------------------------------
%% gen_server

%% @private
init([]) ->
    process_flag(trap_exit, true),
    {ok, follow_keeper(#st{})}.

%% @private
handle_call({open, Store, Opts}, _From, #st{stores = Stores} = St) ->
    {ok, Wire} = wire_name(Store),
    Result =
        case Stores of
            #{Store := _} ->
                {error, already_open};
            _ when is_map_key(Wire, St#st.wire) ->
                {error, already_open};
            _ ->
                store(Store, Wire, Opts)
        end,
    case Result of
        {ok, S} ->
            St1 = St#st{stores = Stores#{Store => S}, wire = (St#st.wire)#{Wire => Store}},
            {reply, ok, feed_all(S, St1)};
        {error, _} = Error ->
            give_back(Opts),
            {reply, Error, St}
    end;
handle_call({close, Store}, _From, St) ->
    with_store(Store, St, fun(S) -> {reply, ok, close_store(S, St)} end);
handle_call({change, Store, Changes}, _From, St) ->
    with_store(Store, St, fun(S) ->
        apply_changes(S#store.tab, Changes),
        {reply, ok, queue_changes(Changes, S, St)}
    end);
handle_call({leaves, Store}, _From, St) ->
    with_store(Store, St, fun(S) -> {reply, {ok, S#store.tab}, St} end);
handle_call({flush, Store, Timeout}, From, St) ->
    with_store(Store, St, fun(S) ->
        case St#st.cnode of
            undefined ->
                {reply, {error, cnode_down}, St};
            _ ->
                St1 = send_pending(S, St),
                Op = lattice_ae_wire:root(S#store.wire),
                {noreply, send_cnode(Op, {root, From}, Timeout, St1)}
        end
    end);
handle_call({sync, Store, Peer}, _From, St) ->
    with_store(Store, St, fun(S) ->
        case start_session(Peer, false, S, St) of
            {ok, St1} -> {reply, ok, St1};
            {error, _} = Error -> {reply, Error, St}
        end
    end);
handle_call({cnode, Op}, From, #st{cnode = CNode} = St) ->
    case CNode of
        undefined -> {reply, {error, cnode_down}, St};
        _ -> {noreply, send_cnode(Op, {reply, From}, ?REQUEST_TIMEOUT, St)}
    end;
handle_call({info, Store}, _From, St) ->
    with_store(Store, St, fun(S) ->
        Info = #{
            owner => S#store.owner,
            leaves => ets:info(S#store.tab, size),
            pending => S#store.pending_n,
            sessions => maps:keys(S#store.sessions),
            cnode => St#st.cnode,
            incarnation => St#st.incarnation,
            refused_events => St#st.refused_events,
            levels => S#store.levels,
            batch_bytes => S#store.batch_bytes,
            sync_interval => S#store.interval,
            peers => S#store.peers
        },
        {reply, {ok, Info}, St}
    end);
handle_call({set_peer_key, Store, Peer, Key}, _From, St) ->
    with_store(Store, St, fun(S) ->
        S1 = S#store{keys = (S#store.keys)#{Peer => Key}},
        St1 = put_store(S1, St),
        case S1#store.key_cnodes of
            #{Peer := CNode} -> {reply, ok, send_key(S1, Peer, CNode, St1)};
            _ -> {reply, ok, resolve_key_peer(S1, Peer, St1)}
        end
    end);
handle_call({clear_peer_key, Store, Peer}, _From, St) ->
    with_store(Store, St, fun(S) ->
        S1 = S#store{keys = maps:remove(Peer, S#store.keys)},
        St1 = put_store(S1, St),
        case S1#store.key_cnodes of
            #{Peer := CNode} ->
                Op = lattice_ae_wire:clear_peer_key(S1#store.wire, CNode),
                {reply, ok, send_cnode(Op, {key, Store}, St1)};
            _ ->
                {reply, ok, St1}
        end
    end);
handle_call({peer_keys, Store}, _From, St) ->
    with_store(Store, St, fun(S) ->
        Known = maps:map(fun(P, _) -> maps:get(P, S#store.key_cnodes, undefined) end, S#store.keys),
        {reply, {ok, Known}, St}
    end);
handle_call(stores, _From, St) ->
    {reply, maps:keys(St#st.stores), St};
handle_call(_Other, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
handle_info({lattice_cnode, up, CNode, Incarnation}, St) ->
    %% Only the keeper's C node: anyone with the cookie can send this message, and a C node
    %% taken from it would be fed every leaf (the key set's hashes) and every peer key, and
    %% would answer roots and differences.
    case lattice_cnode_keeper:running() of
        {ok, CNode, Incarnation} -> {noreply, cnode_up(CNode, Incarnation, St)};
        _ -> {noreply, St#st{refused_events = St#st.refused_events + 1}}
    end;
handle_info({lattice_cnode, down, CNode, Reason}, #st{cnode = CNode} = St) ->
    %% Not while the keeper still runs the very C node we follow (a forged event).
    case lattice_cnode_keeper:running() of
        {ok, CNode, Inc} when Inc =:= St#st.incarnation ->
            {noreply, St#st{refused_events = St#st.refused_events + 1}};
        _ ->
            {noreply, cnode_gone(Reason, St)}
    end;
handle_info({lattice_cnode, down, _Other, _Reason}, St) ->
    {noreply, St};
handle_info({lattice_cnode, Ref, Reply}, #st{requests = Reqs} = St) when is_reference(Ref) ->
    case maps:take(Ref, Reqs) of
        {{What, Timer}, Rest} ->
            cancel(Timer),
            {noreply, answered(What, {ok, Reply}, St#st{requests = Rest})};
        error ->
            {noreply, St}
    end;
handle_info({request_timeout, Ref}, #st{requests = Reqs} = St) ->
    case maps:take(Ref, Reqs) of
        {{What, _}, Rest} -> {noreply, answered(What, {error, timeout}, St#st{requests = Rest})};
        error -> {noreply, St}
    end;
handle_info({flush_pending, Store}, St) ->
    case St#st.stores of
        #{Store := S} -> {noreply, send_pending(S#store{flush_timer = undefined}, St)};
        _ -> {noreply, St}
    end;
handle_info({tick, Store}, St) ->
    case St#st.stores of
        #{Store := S} -> {noreply, tick(S, St)};
        _ -> {noreply, St}
    end;
handle_info({resolved, Store, Peer, Result}, St) ->
    {noreply, resolved(Store, Peer, Result, St)};
handle_info({key_peer, Store, Peer, Result}, St) ->
    {noreply, key_peer_resolved(Store, Peer, Result, St)};
handle_info({resolve_key_peer, Store, Peer}, St) ->
    case St#st.stores of
        #{Store := #store{keys = #{Peer := _}} = S} -> {noreply, resolve_key_peer(S, Peer, St)};
        _ -> {noreply, St}
    end;
handle_info({session_timeout, Store, Peer}, St) ->
    {noreply, session_failed(Store, Peer, timeout, St)};
handle_info({'DOWN', MRef, process, _, _}, #st{keeper = MRef} = St) ->
    %% The keeper restarts (and its C node with it): follow the new one.
    erlang:send_after(100, self(), follow_keeper),
    {noreply, cnode_gone(keeper_down, St#st{keeper = undefined})};
handle_info(follow_keeper, St) ->
    {noreply, follow_keeper(St)};
handle_info({'DOWN', MRef, process, Owner, _}, St) ->
    %% An owner went away: its stores are closed.
    Gone = [S || S <- maps:values(St#st.stores), S#store.mon =:= MRef, S#store.owner =:= Owner],
    {noreply, lists:foldl(fun close_store/2, St, Gone)};
handle_info({'EXIT', _, _}, St) ->
    {noreply, St};
handle_info(Msg, St) ->
    case lattice_ae_wire:notification(Msg) of
        {session, Wire, Report} -> {noreply, report(Wire, Report, St)};
        ignore -> {noreply, St}
    end.

%% @private
terminate(_Reason, _St) ->
    ok.

%% @private
%% The peer keys never reach a log: crash reports and sys:get_status/1 show their peers only.
format_status(#{state := #st{stores = Stores} = St} = Status) ->
    Redacted = maps:map(
        fun(_, S) -> S#store{keys = maps:map(fun(_, _) -> redacted end, S#store.keys)} end, Stores
    ),
    Status#{state => St#st{stores = Redacted}};
format_status(Status) ->
    Status.

%%--------------------------------------------------------------------------------------------
%% Stores

store(Store, Wire, Opts) ->
    Owner = maps:get(owner, Opts),
    Max = lattice_ae_wire:max_packet() - lattice_ae_wire:batch_overhead(Wire),
    Levels = maps:get(levels, Opts, ?LEVELS),
    Given = maps:find(leaves, Opts),
    try
        true = is_pid(Owner),
        true = is_integer(Levels) andalso Levels >= 1 andalso Levels =< 6,
        Tab =
            case Given of
                %% A table handed back after this server died, given to it by open/2.
                {ok, T} ->
                    Self = self(),
                    Self = ets:info(T, owner),
                    T;
                error ->
                    ets:new(lattice_ae_leaves, [set, protected, {read_concurrency, true}])
            end,
        %% An heir must be a local process; a remote owner (a test, a shell) has none.
        case node(Owner) =:= node() of
            true -> ets:setopts(Tab, {heir, Owner, {lattice_ae, Store}});
            false -> ok
        end,
        S = #store{
            name = Store,
            wire = Wire,
            owner = Owner,
            mon = monitor(process, Owner),
            tab = Tab,
            levels = Levels,
            batch_bytes = max(64, min(maps:get(batch_bytes, Opts, Max), Max)),
            batch_ms = maps:get(batch_ms, Opts, ?BATCH_MS),
            interval = maps:get(sync_interval, Opts, infinity),
            peers = maps:get(peers, Opts, connected),
            session_timeout = maps:get(session_timeout, Opts, ?SESSION_TIMEOUT),
            require_keys = maps:get(require_keys, Opts, false)
        },
        true = is_boolean(S#store.require_keys),
        {ok, schedule_tick(S)}
    catch
        error:_ -> {error, {bad_options, Opts}}
    end.

%% A table handed over with a failed open goes back to the caller's owner.
give_back(#{leaves := Tab, owner := Owner}) ->
    case catch ets:info(Tab, owner) =:= self() andalso node(Owner) =:= node() of
        true -> _ = ets:give_away(Tab, Owner, {lattice_ae, returned}), ok;
        _ -> ok
    end;
give_back(_) ->
    ok.

with_store(Store, #st{stores = Stores} = St, Fun) ->
    case Stores of
        #{Store := S} -> Fun(S);
        _ -> {reply, {error, not_open}, St}
    end.

put_store(S, St) ->
    St#st{stores = (St#st.stores)#{S#store.name => S}}.

close_store(S, St) ->
    St1 = send_cnode(lattice_ae_wire:drop(S#store.wire), none, St),
    cancel(S#store.flush_timer),
    cancel(S#store.tick_timer),
    demonitor(S#store.mon, [flush]),
    maps:foreach(fun(_, #session{timer = T}) -> cancel(T) end, S#store.sessions),
    ets:delete(S#store.tab),
    St1#st{
        stores = maps:remove(S#store.name, St1#st.stores),
        wire = maps:remove(S#store.wire, St1#st.wire)
    }.

%% Writes the changes to the table, in order: runs of puts in one insert each.
apply_changes(Tab, Changes) ->
    apply_changes(Tab, Changes, []).

apply_changes(Tab, [], Puts) ->
    true = ets:insert(Tab, lists:reverse(Puts));
apply_changes(Tab, [{K, delete} | Rest], Puts) ->
    true = ets:insert(Tab, lists:reverse(Puts)),
    true = ets:delete(Tab, K),
    apply_changes(Tab, Rest, []);
apply_changes(Tab, [E | Rest], Puts) ->
    apply_changes(Tab, Rest, [E | Puts]).

%% Appends changes to the pending batch, sending each batch as it fills; a partial batch goes
%% when the store's flush timer fires (or with the next flush or session).
queue_changes(Changes, S, St) ->
    Pending =
        case S#store.pending of
            <<>> -> lattice_ae_wire:batch_new();
            P -> P
        end,
    {Full, Last, N} = lattice_ae_wire:pack(Changes, Pending, S#store.pending_n, S#store.batch_bytes),
    St1 = lists:foldl(fun(B, A) -> send_batch(S, B, A) end, St, Full),
    S1 = S#store{pending = Last, pending_n = N},
    case Full of
        [] -> arm_flush(S1, St1);
        _ -> arm_flush(S1#store{flush_timer = restart_timer(S1)}, St1)
    end.

restart_timer(S) ->
    cancel(S#store.flush_timer),
    undefined.

arm_flush(#store{pending_n = 0} = S, St) ->
    put_store(S#store{pending = <<>>}, St);
arm_flush(#store{flush_timer = undefined, batch_ms = Ms, name = Name} = S, St) ->
    T = erlang:send_after(Ms, self(), {flush_pending, Name}),
    put_store(S#store{flush_timer = T}, St);
arm_flush(S, St) ->
    put_store(S, St).

%% Sends the pending batch. With no C node it is dropped: the table holds the changes, and the
%% next C node is fed the whole table.
send_pending(#store{pending_n = 0} = S, St) ->
    put_store(S, St);
send_pending(#store{pending = Pending} = S, St) ->
    cancel(S#store.flush_timer),
    St1 = put_store(S#store{pending = <<>>, pending_n = 0, flush_timer = undefined}, St),
    send_batch(S, Pending, St1).

send_batch(S, Batch, St) ->
    send_cnode(lattice_ae_wire:update(S#store.wire, Batch), {update, S#store.name}, St).

%% Opens the store on the current C node and sends it every leaf of the table, in batches of
%% at most batch_bytes.
feed_all(_S, #st{cnode = undefined} = St) ->
    St;
feed_all(S, St) ->
    Op = lattice_ae_wire:open(S#store.wire, S#store.levels),
    St0 = send_cnode(Op, {open, S#store.name}, St),
    %% The C node may hold the store already (this server restarted, the owner opened it
    %% again): emptied first, so a delete that never reached it cannot linger.
    St01 = send_cnode(lattice_ae_wire:clear(S#store.wire), {clear, S#store.name}, St0),
    %% Keys and require_keys before any leaf, so no session of the new C node runs unsealed.
    St02 = send_cnode(
        lattice_ae_wire:require_keys(S#store.wire, S#store.require_keys), {key, S#store.name}, St01
    ),
    St1 = maps:fold(
        fun(Peer, CNode, Acc) -> send_key(S, Peer, CNode, Acc) end, St02, S#store.key_cnodes
    ),
    %% What is pending is in the table already.
    cancel(S#store.flush_timer),
    S1 = S#store{pending = <<>>, pending_n = 0, flush_timer = undefined},
    St2 = put_store(S1, St1),
    Select = ets:select(S1#store.tab, [{'_', [], ['$_']}], ?FEED_CHUNK),
    feed_chunks(Select, S1, lattice_ae_wire:batch_new(), 0, St2).

feed_chunks('$end_of_table', S, Batch, N, St) ->
    case N of
        0 -> St;
        _ -> send_batch(S, Batch, St)
    end;
feed_chunks({Entries, Cont}, S, Batch, N, St) ->
    {Full, Last, N1} = lattice_ae_wire:pack(Entries, Batch, N, S#store.batch_bytes),
    St1 = lists:foldl(fun(B, A) -> send_batch(S, B, A) end, St, Full),
    feed_chunks(ets:select(Cont), S, Last, N1, St1).

%%--------------------------------------------------------------------------------------------
%% Requests to the C node

send_cnode(Op, What, St) ->
    send_cnode(Op, What, ?REQUEST_TIMEOUT, St).

%% Sends {Op, self(), Ref}; the reply is matched to What in handle_info. The C node answers
%% the requests of one connection in order, so a root request answered means every batch
%% sent before it is applied.
send_cnode(_Op, What, _Timeout, #st{cnode = undefined} = St) ->
    answered(What, {error, cnode_down}, St);
send_cnode(Op, What, Timeout, #st{cnode = CNode, requests = Reqs} = St) ->
    Ref = make_ref(),
    erlang:send({any, CNode}, {Op, self(), Ref}),
    Timer =
        case Timeout of
            infinity -> undefined;
            _ -> erlang:send_after(Timeout, self(), {request_timeout, Ref})
        end,
    St#st{requests = Reqs#{Ref => {What, Timer}}}.

answered(none, _, St) ->
    St;
answered({root, From}, {ok, Reply}, St) ->
    gen_server:reply(From, lattice_ae_wire:root_reply(Reply)),
    St;
answered({root, From}, {error, _} = Error, St) ->
    gen_server:reply(From, Error),
    St;
answered({reply, From}, {ok, Reply}, St) ->
    gen_server:reply(From, Reply),
    St;
answered({reply, From}, {error, _} = Error, St) ->
    gen_server:reply(From, Error),
    St;
answered({sync, Store, Peer}, {ok, {ok, Id}}, St) ->
    session_started(Store, Peer, Id, St);
answered({sync, Store, Peer}, {ok, {error, Reason}}, St) ->
    session_failed(Store, Peer, Reason, St);
answered({sync, Store, Peer}, {error, Reason}, St) ->
    session_failed(Store, Peer, Reason, St);
answered({What, Store}, {ok, {error, Reason}}, St) when
    What =:= open; What =:= clear; What =:= update; What =:= key
->
    logger:error("lattice_ae: the C node refused ~p for store ~0tp: ~0tP", [What, Store, Reason, 8]),
    St;
answered(_What, _Reply, St) ->
    St.

%% The keeper's C node is (back) up: every store fed to it, every owner told.
cnode_up(CNode, Incarnation, St) ->
    St1 = St#st{cnode = CNode, incarnation = Incarnation},
    case map_size(St#st.stores) of
        0 -> ok;
        N -> logger:info("lattice_ae: C node ~ts (incarnation ~b): feeding ~b stores", [CNode, Incarnation, N])
    end,
    St2 = maps:fold(
        fun(_, S, Acc) ->
            Acc1 = feed_all(S, Acc),
            S#store.owner ! {lattice_ae, cnode_up, S#store.name, Incarnation},
            Acc1
        end,
        St1,
        St1#st.stores
    ),
    St2.

%% This node's C node went away: every session in flight fails and the owners are told; the
%% stores wait for the next C node (their tables hold every leaf).
cnode_gone(Reason, St) ->
    %% Requests waiting on the old C node fail now.
    St0 = maps:fold(
        fun(_, {What, Timer}, Acc) ->
            cancel(Timer),
            answered(What, {error, {cnode_down, Reason}}, Acc)
        end,
        St#st{requests = #{}},
        St#st.requests
    ),
    St1 = maps:fold(
        fun(Name, S, Acc) ->
            cancel(S#store.flush_timer),
            S#store.owner ! {lattice_ae, cnode_down, Name, Reason},
            Acc1 = put_store(S#store{pending = <<>>, pending_n = 0, flush_timer = undefined}, Acc),
            maps:fold(
                fun(Peer, _, A) -> session_failed(Name, Peer, {cnode_down, Reason}, A) end,
                Acc1,
                S#store.sessions
            )
        end,
        St0,
        St0#st.stores
    ),
    St1#st{cnode = undefined}.

follow_keeper(St) ->
    case whereis(lattice_cnode_keeper) of
        undefined ->
            %% No keeper: the C node is turned off, or the keeper is restarting.
            _ =
                case lattice_cnode_keeper:enabled() of
                    true -> erlang:send_after(1000, self(), follow_keeper);
                    false -> ok
                end,
            St;
        Pid ->
            ok = lattice_cnode_keeper:subscribe(self()),
            St#st{keeper = monitor(process, Pid)}
    end.

%%--------------------------------------------------------------------------------------------
%% Sessions

start_session(Peer, Quiet, S, St) ->
    case {St#st.cnode, S#store.sessions} of
        {undefined, _} ->
            {error, cnode_down};
        {_, #{Peer := _}} ->
            {error, busy};
        _ when Peer =:= node() ->
            {error, self_sync};
        _ ->
            %% What is pending goes first, so the session sees every change made so far.
            St1 = send_pending(S, St),
            S1 = maps:get(S#store.name, St1#st.stores),
            Self = self(),
            Name = S#store.name,
            _ = spawn_link(fun() -> Self ! {resolved, Name, Peer, resolve(Name, Peer)} end),
            Timer = erlang:send_after(S#store.session_timeout, self(), {session_timeout, Name, Peer}),
            Session = #session{timer = Timer, quiet = Quiet},
            {ok, put_store(S1#store{sessions = (S1#store.sessions)#{Peer => Session}}, St1)}
    end.

%% Asks the peer's lattice_ae for its C node (run in a process of its own).
resolve(Store, Peer) ->
    try erpc:call(Peer, ?MODULE, peer_cnode, [Store, node()], ?RESOLVE_TIMEOUT) of
        {ok, CNode} -> {ok, CNode};
        {error, Reason} -> {error, {peer, Reason}}
    catch
        error:{exception, undef, _} -> {error, {peer, no_lattice}};
        error:{erpc, Reason} -> {error, {unreachable, Reason}};
        Class:Reason -> {error, {unreachable, {Class, Reason}}}
    end.

resolved(Store, Peer, Result, St) ->
    case St#st.stores of
        #{Store := #store{sessions = #{Peer := #session{cnode = resolving} = Ss}} = S} ->
            case {Result, St#st.cnode} of
                {{ok, PeerCNode}, CNode} when CNode =/= undefined ->
                    Ss1 = Ss#session{cnode = PeerCNode},
                    St0 = put_store(S#store{sessions = (S#store.sessions)#{Peer => Ss1}}, St),
                    %% A key goes before the sync request (the C node answers in order).
                    St1 = learn_key_cnode(Store, Peer, PeerCNode, St0),
                    Op = lattice_ae_wire:sync(S#store.wire, PeerCNode),
                    send_cnode(Op, {sync, Store, Peer}, St1);
                {{ok, _}, undefined} ->
                    session_failed(Store, Peer, cnode_down, St);
                {{error, {peer, _}}, _} when Ss#session.quiet ->
                    %% Not a peer of this store: the tick passes it over without a word.
                    cancel(Ss#session.timer),
                    put_store(S#store{sessions = maps:remove(Peer, S#store.sessions)}, St);
                {{error, Reason}, _} ->
                    session_failed(Store, Peer, Reason, St)
            end;
        _ ->
            St
    end.

session_started(Store, Peer, Id, St) ->
    case St#st.stores of
        #{Store := #store{sessions = #{Peer := Ss}} = S} ->
            put_store(S#store{sessions = (S#store.sessions)#{Peer => Ss#session{id = Id}}}, St);
        _ ->
            St
    end.

%% A session that ends without a report from the C node.
session_failed(Store, Peer, Reason, St) ->
    case St#st.stores of
        #{Store := #store{sessions = #{Peer := Ss}}} ->
            PeerCNode =
                case Ss#session.cnode of
                    resolving -> undefined;
                    C -> C
                end,
            Report = #{
                node => Peer,
                peer => PeerCNode,
                peer_owner => undefined,
                role => initiator,
                id => Ss#session.id,
                result => {error, Reason},
                keys => [],
                truncated => false
            },
            session_end(Store, Peer, Report, St);
        _ ->
            St
    end.

%% Ends this node's session with Peer, if one runs, and tells the owner.
session_end(Store, Peer, Report, St) ->
    case St#st.stores of
        #{Store := #store{sessions = #{Peer := Ss}, owner = Owner} = S} ->
            cancel(Ss#session.timer),
            Owner ! {lattice_ae, session, Store, Report},
            put_store(S#store{sessions = maps:remove(Peer, S#store.sessions)}, St);
        _ ->
            St
    end.

%% A report from the C node: for a session this node started (it ends it), or one the peer
%% started (relayed with the peer's BEAM node).
report(Wire, Report, #st{wire = WireMap, stores = Stores} = St) ->
    case WireMap of
        #{Wire := Store} ->
            #store{sessions = Sessions, owner = Owner} = maps:get(Store, Stores),
            PeerCNode = maps:get(peer, Report, undefined),
            Mine = [
                P
             || {P, #session{cnode = C, id = Id}} <- maps:to_list(Sessions),
                C =:= PeerCNode,
                Id =:= undefined orelse Id =:= maps:get(id, Report, undefined)
            ],
            case {maps:get(role, Report, undefined), Mine} of
                {initiator, [Peer | _]} ->
                    session_end(Store, Peer, Report#{node => Peer}, St);
                _ ->
                    Node =
                        case maps:get(peer_owner, Report, undefined) of
                            undefined -> owner_of(PeerCNode);
                            N -> N
                        end,
                    Owner ! {lattice_ae, session, Store, Report#{node => Node}},
                    St
            end;
        _ ->
            St
    end.

%% The BEAM node a supervised C node belongs to (lattice_cnode_<alive>@host), else the C node.
owner_of(CNode) when is_atom(CNode), CNode =/= undefined ->
    case string:split(atom_to_list(CNode), "@") of
        ["lattice_cnode_" ++ Alive, Host] -> list_to_atom(Alive ++ "@" ++ Host);
        _ -> CNode
    end;
owner_of(Other) ->
    Other.

%%--------------------------------------------------------------------------------------------
%% Sealed sessions: peer keys

send_key(S, Peer, CNode, St) ->
    case S#store.keys of
        #{Peer := Key} ->
            Op = lattice_ae_wire:set_peer_key(S#store.wire, CNode, Key),
            send_cnode(Op, {key, S#store.name}, St);
        _ ->
            St
    end.

%% Asks Peer for its C node (in a process of its own), for a key waiting to be sent.
resolve_key_peer(S, Peer, St) ->
    Self = self(),
    Name = S#store.name,
    _ = spawn_link(fun() -> Self ! {key_peer, Name, Peer, resolve(Name, Peer)} end),
    St.

key_peer_resolved(Store, Peer, {ok, CNode}, St) ->
    learn_key_cnode(Store, Peer, CNode, St);
key_peer_resolved(Store, Peer, {error, _}, St) ->
    case St#st.stores of
        #{Store := #store{keys = #{Peer := _}, key_cnodes = KC}} when not is_map_key(Peer, KC) ->
            _ = erlang:send_after(1000, self(), {resolve_key_peer, Store, Peer}),
            St;
        _ ->
            St
    end.

%% Peer's C node is CNode: a key for Peer goes to this node's C node if it is new or moved.
learn_key_cnode(Store, Peer, CNode, St) ->
    case St#st.stores of
        #{Store := #store{key_cnodes = #{Peer := CNode}}} ->
            St;
        #{Store := #store{keys = #{Peer := _}, key_cnodes = KC} = S} ->
            St1 =
                case KC of
                    #{Peer := Old} ->
                        Op = lattice_ae_wire:clear_peer_key(S#store.wire, Old),
                        send_cnode(Op, {key, Store}, St);
                    _ ->
                        St
                end,
            S1 = S#store{key_cnodes = KC#{Peer => CNode}},
            send_key(S1, Peer, CNode, put_store(S1, St1));
        #{Store := S} ->
            put_store(S#store{key_cnodes = (S#store.key_cnodes)#{Peer => CNode}}, St);
        _ ->
            St
    end.

%% Periodic sessions.
schedule_tick(#store{interval = infinity} = S) ->
    S;
schedule_tick(#store{interval = Ms, name = Name} = S) ->
    %% +-10% jitter, so nodes started together do not all sync at once.
    Jitter = Ms div 10,
    Delay = Ms - Jitter + rand:uniform(2 * Jitter + 1) - 1,
    S#store{tick_timer = erlang:send_after(max(1, Delay), self(), {tick, Name})}.

tick(S, St) ->
    {Peers, Quiet} =
        case S#store.peers of
            connected -> {nodes(), true};
            List -> {List, false}
        end,
    St1 = lists:foldl(
        fun(Peer, Acc) ->
            Sx = maps:get(S#store.name, Acc#st.stores),
            case start_session(Peer, Quiet, Sx, Acc) of
                {ok, Acc1} -> Acc1;
                {error, _} -> Acc
            end
        end,
        St,
        [P || P <- Peers, P =/= node()]
    ),
    S1 = maps:get(S#store.name, St1#st.stores),
    put_store(schedule_tick(S1), St1).

cancel(undefined) -> ok;
cancel(Timer) -> _ = erlang:cancel_timer(Timer), ok.
