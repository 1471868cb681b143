%% @doc Anti-entropy for owners: stores of leaves (key → 128-bit value digest) kept in this
%% node's C node, and sessions with the C nodes of peer nodes that find the keys that differ.
%%
%% One server per node (registered `lattice_ae', under `lattice_sup'). An owner is any process
%% that opens a store, feeds it leaves and receives the differences; the replicated store
%% plugs in as an owner unchanged.
%%
%% <ul>
%% <li>`open(Store, Opts)' makes the caller (or `owner') the owner of `Store' (an atom or a
%%     binary) on this node. The server keeps the owner's record of leaves in an ETS table
%%     (`Key → Digest'; read it with `leaves/1' or `lookup/2') and feeds the C node from it; when
%%     the C node restarts it opens every store on the new C node again and feeds it everything,
%%     so nothing is lost.</li>
%% <li>`put/2', `delete/2', `update/2' change leaves. Changes are written to the table at once
%%     and sent to the C node in batches: a batch goes when it reaches `batch_bytes' (default
%%     and cap: the C node's message cap, 1 MiB, less room for the envelope) or `batch_ms' after
%%     its first change (default 5 ms). `flush/1' sends what is pending and waits until the C
%%     node has applied it.</li>
%% <li>`sync(Store, Peer)' starts a session between this node's C node and the C node of the
%%     BEAM node `Peer' (found by asking `Peer''s `lattice_cnode_keeper' over `erpc'), which must
%%     have the store open. With `sync_interval' (milliseconds, default `infinity') the server
%%     also starts sessions on its own, with each of `peers' (a list of nodes, or `connected':
%%     every node in `nodes()' that runs a C node and has the store open), skipping a peer whose
%%     last session is still running.</li>
%% </ul>
%%
%% The owner is sent:
%% <ul>
%% <li>`{lattice_ae, diff, Store, Peer, [{Key, Side}]}' — keys that differ between this node
%%     and `Peer' (a BEAM node), `Side' saying which holds the key: `both' (the digests differ),
%%     `local' (only this node has it), `remote' (only the peer has it). One session may send
%%     several; the peer's owner is sent the mirror image.</li>
%% <li>`{lattice_ae, synced, Store, Peer, Stats}' when a session ends; `Stats' is the C node's
%%     account of it (round trips, bytes each way, time).</li>
%% <li>`{lattice_ae, sync_failed, Store, Peer, Reason}' when a session cannot start or fails
%%     (peer unreachable, a limit, this node's C node went down).</li>
%% <li>`{lattice_ae, cnode_down, Store, Reason}' and `{lattice_ae, cnode_up, Store,
%%     Incarnation}': this node's C node went away, and a new one holds the store again (all
%%     its leaves have been sent to it).</li>
%% </ul>
%%
%% If this server itself dies, the table of a store passes to its owner (an ETS heir): the
%% owner is sent `{'ETS-TRANSFER', Table, ServerPid, {lattice_ae, Store}}' and may open the
%% store again with `#{leaves => Table}', keeping every leaf.
-module(lattice_ae).
-behaviour(gen_server).

-export([start_link/0, child_spec/0]).
-export([open/1, open/2, close/1, put/2, delete/2, update/2]).
-export([leaves/1, lookup/2, flush/1, flush/2, root/1, sync/2, await/3, info/1, stores/0]).
-export([peer_cnode/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([store/0, key/0, digest/0, side/0, diff/0, notification/0, open_options/0]).

-define(SERVER, ?MODULE).
-define(BATCH_MS, 5).
-define(REQUEST_TIMEOUT, 10000).
-define(SESSION_TIMEOUT, 60000).
-define(RESOLVE_TIMEOUT, 5000).

-type store() :: atom() | binary().
-type key() :: binary().
-type digest() :: <<_:128>>.
-type side() :: both | local | remote.
-type diff() :: {key(), side()}.
-type notification() ::
    {lattice_ae, diff, store(), node(), [diff()]}
    | {lattice_ae, synced, store(), node(), map()}
    | {lattice_ae, sync_failed, store(), node(), term()}
    | {lattice_ae, cnode_down, store(), term()}
    | {lattice_ae, cnode_up, store(), pos_integer()}.
-type open_options() :: #{
    owner => pid(),
    levels => pos_integer(),
    batch_bytes => pos_integer(),
    batch_ms => non_neg_integer(),
    sync_interval => pos_integer() | infinity,
    peers => [node()] | connected,
    session_timeout => pos_integer(),
    leaves => ets:tid()
}.

-record(store, {
    name :: store(),
    wire :: binary(),
    owner :: pid(),
    mon :: reference(),
    tab :: ets:tid(),
    levels :: pos_integer(),
    batch_bytes :: pos_integer(),
    batch_ms :: non_neg_integer(),
    interval :: pos_integer() | infinity,
    peers :: [node()] | connected,
    session_timeout :: pos_integer(),
    %% changes not yet sent, newest first, and their size on the wire
    pending = [] :: [{key(), digest() | delete}],
    pending_bytes = 0 :: non_neg_integer(),
    flush_timer :: reference() | undefined,
    tick_timer :: reference() | undefined,
    %% peer BEAM node => {PeerCNode, TimeoutTimer, Quiet}; a session in flight. A quiet one
    %% (a tick over `connected' peers) does not report a peer without the store.
    sessions = #{} :: #{node() => {node() | resolving, reference(), boolean()}}
}).

-record(st, {
    cnode :: node() | undefined,
    incarnation = 0 :: non_neg_integer(),
    keeper :: reference() | undefined,
    stores = #{} :: #{store() => #store{}},
    wire = #{} :: #{binary() => store()},
    %% outstanding requests to the C node: Ref => {What, Timer}
    requests = #{} :: #{reference() => {term(), reference()}}
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

%% @doc Opens `Store' with the caller (or `owner') as its owner. `{error, already_open}' if it
%% is open. Options: see the module doc and `open_options()'.
-spec open(store(), open_options()) -> ok | {error, term()}.
open(Store, Opts) when (is_atom(Store) orelse is_binary(Store)), is_map(Opts) ->
    Owner = maps:get(owner, Opts, self()),
    gen_server:call(?SERVER, {open, Store, Opts#{owner => Owner}}, ?REQUEST_TIMEOUT);
open(Store, Opts) ->
    erlang:error(badarg, [Store, Opts]).

%% @doc Closes `Store': the C node drops its tree, the table is deleted.
-spec close(store()) -> ok | {error, not_open}.
close(Store) ->
    gen_server:call(?SERVER, {close, Store}, ?REQUEST_TIMEOUT).

%% @doc Sets leaves: `[{Key, Digest}]', `Key' a non-empty binary of at most 4096 bytes,
%% `Digest' 16 bytes.
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
-spec flush(store()) -> {ok, term()} | {error, term()}.
flush(Store) ->
    flush(Store, 60000).

%% @doc Sends the pending changes of `Store' and waits until the C node has applied them;
%% returns the C node's root of the store then (as `root/1').
-spec flush(store(), timeout()) -> {ok, term()} | {error, term()}.
flush(Store, Timeout) ->
    gen_server:call(?SERVER, {flush, Store, Timeout}, call_timeout(Timeout)).

%% @doc The C node's root for `Store' once every change so far is applied.
-spec root(store()) -> {ok, term()} | {error, term()}.
root(Store) ->
    flush(Store).

%% @doc Starts a session for `Store' with the BEAM node `Peer'. Returns at once: `ok' (the owner
%% is sent the notifications), `{error, busy}' when a session with `Peer' is running,
%% `{error, not_open}', `{error, cnode_down}'.
-spec sync(store(), node()) -> ok | {error, term()}.
sync(Store, Peer) when is_atom(Peer) ->
    gen_server:call(?SERVER, {sync, Store, Peer}, ?REQUEST_TIMEOUT).

%% @doc For an owner: waits up to `Timeout' ms for the end of the session for `Store' with
%% `Peer', collecting its `diff' notifications from the mailbox. `{ok, Diffs, Stats}' (the
%% differences sorted) or `{error, Reason}'.
-spec await(store(), node(), timeout()) -> {ok, [diff()], map()} | {error, term()}.
await(Store, Peer, Timeout) ->
    Deadline =
        case Timeout of
            infinity -> infinity;
            _ -> erlang:monotonic_time(millisecond) + Timeout
        end,
    await_loop(Store, Peer, Deadline, []).

await_loop(Store, Peer, Deadline, Acc) ->
    Left =
        case Deadline of
            infinity -> infinity;
            _ -> max(0, Deadline - erlang:monotonic_time(millisecond))
        end,
    receive
        {lattice_ae, diff, Store, Peer, Diffs} ->
            await_loop(Store, Peer, Deadline, [Diffs | Acc]);
        {lattice_ae, synced, Store, Peer, Stats} ->
            {ok, lists:sort(lists:append(Acc)), Stats};
        {lattice_ae, sync_failed, Store, Peer, Reason} ->
            {error, Reason}
    after Left -> {error, timeout}
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

%% @doc This node's C node, if `Store' is open here and the C node runs: asked by peers
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
    Wire =
        case is_atom(Store) of
            true -> atom_to_binary(Store, utf8);
            false -> Store
        end,
    case Stores of
        #{Store := _} ->
            {reply, {error, already_open}, St};
        _ when is_map_key(Wire, St#st.wire) ->
            {reply, {error, already_open}, St};
        _ ->
            case store(Store, Opts) of
                {ok, S} ->
                    St1 = St#st{
                        stores = Stores#{Store => S}, wire = (St#st.wire)#{S#store.wire => Store}
                    },
                    St2 = feed_all(S, St1),
                    {reply, ok, St2};
                {error, _} = Error ->
                    {reply, Error, St}
            end
    end;
handle_call({close, Store}, _From, St) ->
    with_store(Store, St, fun(S) ->
        St1 = send_cnode(lattice_ae_wire:close(S#store.wire), none, St),
        cancel(S#store.flush_timer),
        cancel(S#store.tick_timer),
        demonitor(S#store.mon, [flush]),
        maps:foreach(fun(_, {_, T, _}) -> cancel(T) end, S#store.sessions),
        ets:delete(S#store.tab),
        {reply, ok, St1#st{
            stores = maps:remove(Store, St#st.stores), wire = maps:remove(S#store.wire, St#st.wire)
        }}
    end);
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
                {noreply, send_cnode(lattice_ae_wire:root(S#store.wire), {flush, From}, Timeout, St1)}
        end
    end);
handle_call({sync, Store, Peer}, _From, St) ->
    with_store(Store, St, fun(S) ->
        case start_session(Peer, false, S, St) of
            {ok, St1} -> {reply, ok, St1};
            {error, _} = Error -> {reply, Error, St}
        end
    end);
handle_call({info, Store}, _From, St) ->
    with_store(Store, St, fun(S) ->
        Info = #{
            owner => S#store.owner,
            leaves => ets:info(S#store.tab, size),
            pending => length(S#store.pending),
            sessions => maps:keys(S#store.sessions),
            cnode => St#st.cnode,
            incarnation => St#st.incarnation,
            levels => S#store.levels,
            sync_interval => S#store.interval,
            peers => S#store.peers
        },
        {reply, {ok, Info}, St}
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
    St1 = St#st{cnode = CNode, incarnation = Incarnation},
    logger:info("lattice_ae: C node ~ts (incarnation ~b): feeding ~b stores", [
        CNode, Incarnation, map_size(St#st.stores)
    ]),
    St2 = maps:fold(
        fun(_, S, Acc) ->
            Acc1 = feed_all(S, Acc),
            S#store.owner ! {lattice_ae, cnode_up, S#store.name, Incarnation},
            Acc1
        end,
        St1,
        St1#st.stores
    ),
    {noreply, St2};
handle_info({lattice_cnode, down, CNode, Reason}, #st{cnode = CNode} = St) ->
    {noreply, cnode_gone(Reason, St)};
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
handle_info({session_timeout, Store, Peer}, St) ->
    {noreply, session_end(Store, Peer, {error, timeout}, St)};
handle_info({'DOWN', MRef, process, _, _}, #st{keeper = MRef} = St) ->
    %% The keeper restarts (and its C node with it): follow the new one.
    erlang:send_after(100, self(), follow_keeper),
    {noreply, cnode_gone(keeper_down, St#st{keeper = undefined})};
handle_info(follow_keeper, St) ->
    {noreply, follow_keeper(St)};
handle_info({'DOWN', MRef, process, Owner, _}, St) ->
    case [S || S <- maps:values(St#st.stores), S#store.mon =:= MRef, S#store.owner =:= Owner] of
        [S] ->
            {reply, ok, St1} = handle_call({close, S#store.name}, none, St),
            {noreply, St1};
        [] ->
            {noreply, St}
    end;
handle_info({'EXIT', _, _}, St) ->
    {noreply, St};
handle_info(Msg, St) ->
    case lattice_ae_wire:notification(Msg) of
        {diff, Wire, PeerCNode, Diffs} ->
            {noreply, relay_diff(Wire, PeerCNode, Diffs, St)};
        {done, Wire, PeerCNode, Result} ->
            case find_session(Wire, PeerCNode, St) of
                {ok, Store, Peer} -> {noreply, session_end(Store, Peer, Result, St)};
                error -> {noreply, St}
            end;
        ignore ->
            {noreply, St}
    end.

%% @private
terminate(_Reason, _St) ->
    ok.

%%--------------------------------------------------------------------------------------------
%% Stores

store(Store, Opts) ->
    Owner = maps:get(owner, Opts),
    Max = lattice_ae_wire:max_message(),
    Wire =
        case is_atom(Store) of
            true -> atom_to_binary(Store, utf8);
            false -> Store
        end,
    Tab =
        case maps:find(leaves, Opts) of
            {ok, T} ->
                %% A table handed back after this server died (ETS-TRANSFER); the caller owns it.
                T;
            error ->
                ets:new(lattice_ae_leaves, [set, protected, {read_concurrency, true}])
        end,
    try
        case maps:find(leaves, Opts) of
            {ok, _} -> ets:give_away(Tab, self(), none);
            error -> ok
        end,
        ets:setopts(Tab, {heir, Owner, {lattice_ae, Store}}),
        S = #store{
            name = Store,
            wire = Wire,
            owner = Owner,
            mon = monitor(process, Owner),
            tab = Tab,
            levels = maps:get(levels, Opts, 4),
            batch_bytes = min(maps:get(batch_bytes, Opts, Max), Max - batch_overhead(Wire)),
            batch_ms = maps:get(batch_ms, Opts, ?BATCH_MS),
            interval = maps:get(sync_interval, Opts, infinity),
            peers = maps:get(peers, Opts, connected),
            session_timeout = maps:get(session_timeout, Opts, ?SESSION_TIMEOUT)
        },
        {ok, schedule_tick(S)}
    catch
        error:badarg -> {error, {bad_leaves_table, Tab}}
    end.

batch_overhead(Wire) ->
    lattice_ae_wire:batch_overhead(Wire).

with_store(Store, #st{stores = Stores} = St, Fun) ->
    case Stores of
        #{Store := S} -> Fun(S);
        _ -> {reply, {error, not_open}, St}
    end.

put_store(S, St) ->
    St#st{stores = (St#st.stores)#{S#store.name => S}}.

apply_changes(Tab, Changes) ->
    lists:foreach(
        fun
            ({K, delete}) -> ets:delete(Tab, K);
            ({_, _} = E) -> ets:insert(Tab, E)
        end,
        Changes
    ).

%% Adds changes to the pending batch, sending full batches at once; a partial batch goes when
%% the store's flush timer fires.
queue_changes([], S, St) ->
    arm_flush(S, St);
queue_changes([C | Rest], S, St) ->
    Bytes = lattice_ae_wire:entry_bytes(C),
    S1 = S#store{pending = [C | S#store.pending], pending_bytes = S#store.pending_bytes + Bytes},
    case S1#store.pending_bytes >= S1#store.batch_bytes of
        true ->
            St1 = send_pending(S1, St),
            queue_changes(Rest, maps:get(S#store.name, St1#st.stores), St1);
        false ->
            queue_changes(Rest, S1, St)
    end.

arm_flush(#store{pending = []} = S, St) ->
    put_store(S, St);
arm_flush(#store{flush_timer = undefined, batch_ms = Ms, name = Name} = S, St) ->
    T = erlang:send_after(Ms, self(), {flush_pending, Name}),
    put_store(S#store{flush_timer = T}, St);
arm_flush(S, St) ->
    put_store(S, St).

%% Sends the pending batch (oldest first). With no C node it is dropped: the table holds the
%% changes, and the next C node is fed the whole table.
send_pending(#store{pending = []} = S, St) ->
    put_store(S, St);
send_pending(#store{pending = Pending} = S, St) ->
    cancel(S#store.flush_timer),
    S1 = S#store{pending = [], pending_bytes = 0, flush_timer = undefined},
    St1 = put_store(S1, St),
    case St#st.cnode of
        undefined -> St1;
        _ -> send_cnode(lattice_ae_wire:leaves(S#store.wire, lists:reverse(Pending)), none, St1)
    end.

%% Opens the store on the current C node and sends it every leaf of the table, in batches.
feed_all(_S, #st{cnode = undefined} = St) ->
    St;
feed_all(S, St) ->
    St1 = send_cnode(lattice_ae_wire:open(S#store.wire, S#store.levels, #{}), none, St),
    %% What is pending is in the table already.
    cancel(S#store.flush_timer),
    S1 = S#store{pending = [], pending_bytes = 0, flush_timer = undefined},
    St2 = put_store(S1, St1),
    feed_table(ets:first(S1#store.tab), S1, [], 0, St2).

feed_table('$end_of_table', S, Batch, _Bytes, St) ->
    send_batch(S, Batch, St);
feed_table(Key, S, Batch, Bytes, St) ->
    Next = ets:next(S#store.tab, Key),
    case ets:lookup(S#store.tab, Key) of
        [E] ->
            B = lattice_ae_wire:entry_bytes(E),
            case Bytes + B > S#store.batch_bytes of
                true -> feed_table(Next, S, [E], B, send_batch(S, Batch, St));
                false -> feed_table(Next, S, [E | Batch], Bytes + B, St)
            end;
        [] ->
            feed_table(Next, S, Batch, Bytes, St)
    end.

send_batch(_S, [], St) ->
    St;
send_batch(S, Batch, St) ->
    send_cnode(lattice_ae_wire:leaves(S#store.wire, Batch), none, St).

%%--------------------------------------------------------------------------------------------
%% Requests to the C node

send_cnode(Op, What, St) ->
    send_cnode(Op, What, ?REQUEST_TIMEOUT, St).

%% Sends {Op, self(), Ref}; the reply is matched to What (none: dropped) in handle_info.
send_cnode(_Op, _What, _Timeout, #st{cnode = undefined} = St) ->
    St;
send_cnode(Op, What, Timeout, #st{cnode = CNode, requests = Reqs} = St) ->
    Ref = make_ref(),
    erlang:send({any, CNode}, {Op, self(), Ref}),
    Timer =
        case Timeout of
            infinity -> undefined;
            _ -> erlang:send_after(Timeout, self(), {request_timeout, Ref})
        end,
    St#st{requests = Reqs#{Ref => {What, Timer}}}.

answered(none, {ok, {error, Reason}}, St) ->
    logger:warning("lattice_ae: the C node refused a request: ~p", [Reason]),
    St;
answered(none, _, St) ->
    St;
answered({flush, From}, {ok, Reply}, St) ->
    gen_server:reply(From, lattice_ae_wire:reply(root, Reply)),
    St;
answered({flush, From}, {error, _} = Error, St) ->
    gen_server:reply(From, Error),
    St;
answered({sync, _Store, _Peer}, {ok, ok}, St) ->
    St;
answered({sync, _Store, _Peer}, {ok, {ok, _}}, St) ->
    St;
answered({sync, Store, Peer}, {ok, {error, Reason}}, St) ->
    session_end(Store, Peer, {error, Reason}, St);
answered({sync, Store, Peer}, {error, Reason}, St) ->
    session_end(Store, Peer, {error, Reason}, St);
answered(_What, _Reply, St) ->
    St.

%% This node's C node went away: every session in flight fails, the owners are told; the
%% stores wait for the next C node (their tables hold every leaf).
cnode_gone(Reason, St) ->
    St1 = maps:fold(
        fun(_, S, Acc) ->
            cancel(S#store.flush_timer),
            S#store.owner ! {lattice_ae, cnode_down, S#store.name, Reason},
            Acc1 = maps:fold(
                fun(Peer, _, A) -> session_end(S#store.name, Peer, {error, {cnode_down, Reason}}, A) end,
                Acc,
                S#store.sessions
            ),
            S1 = maps:get(S#store.name, Acc1#st.stores),
            put_store(S1#store{pending = [], pending_bytes = 0, flush_timer = undefined}, Acc1)
        end,
        St,
        St#st.stores
    ),
    %% Requests waiting on the old C node: flushes fail now.
    maps:foreach(
        fun(_, {What, Timer}) ->
            cancel(Timer),
            _ = answered(What, {error, {cnode_down, Reason}}, St1)
        end,
        St1#st.requests
    ),
    St1#st{cnode = undefined, requests = #{}}.

follow_keeper(St) ->
    case whereis(lattice_cnode_keeper) of
        undefined ->
            %% No keeper (the C node turned off, or it is restarting): look again later.
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
            %% Flush first, so the session sees every change made so far.
            St1 = send_pending(S, St),
            S1 = maps:get(S#store.name, St1#st.stores),
            Self = self(),
            Name = S#store.name,
            _ = spawn_link(fun() ->
                Self ! {resolved, Name, Peer, resolve(Name, Peer)}
            end),
            Timer = erlang:send_after(S#store.session_timeout, self(), {session_timeout, Name, Peer}),
            {ok, put_store(S1#store{sessions = (S1#store.sessions)#{Peer => {resolving, Timer, Quiet}}}, St1)}
    end.

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
        #{Store := #store{sessions = #{Peer := {resolving, Timer, Quiet}}} = S} ->
            case {Result, St#st.cnode} of
                {{ok, PeerCNode}, CNode} when CNode =/= undefined ->
                    S1 = S#store{sessions = (S#store.sessions)#{Peer => {PeerCNode, Timer, Quiet}}},
                    St1 = put_store(S1, St),
                    Op = lattice_ae_wire:sync(S#store.wire, PeerCNode, #{}),
                    send_cnode(Op, {sync, Store, Peer}, S#store.session_timeout, St1);
                {{ok, _}, undefined} ->
                    session_end(Store, Peer, {error, cnode_down}, St);
                {{error, {peer, _}}, _} when Quiet ->
                    %% Not a peer of this store: end the session without a word.
                    cancel(Timer),
                    put_store(S#store{sessions = maps:remove(Peer, S#store.sessions)}, St);
                {{error, Reason}, _} ->
                    session_end(Store, Peer, {error, Reason}, St)
            end;
        _ ->
            St
    end.

%% Ends the session with Peer, if one runs, and tells the owner.
session_end(Store, Peer, Result, St) ->
    case St#st.stores of
        #{Store := #store{sessions = #{Peer := {_, Timer, _}}} = S} ->
            cancel(Timer),
            case Result of
                {ok, Stats} -> S#store.owner ! {lattice_ae, synced, Store, Peer, Stats};
                {error, Reason} -> S#store.owner ! {lattice_ae, sync_failed, Store, Peer, Reason}
            end,
            put_store(S#store{sessions = maps:remove(Peer, S#store.sessions)}, St);
        _ ->
            St
    end.

find_session(Wire, PeerCNode, #st{wire = WireMap, stores = Stores}) ->
    case WireMap of
        #{Wire := Store} ->
            #store{sessions = Sessions} = maps:get(Store, Stores),
            case [P || {P, {C, _, _}} <- maps:to_list(Sessions), C =:= PeerCNode] of
                [Peer | _] -> {ok, Store, Peer};
                [] -> error
            end;
        _ ->
            error
    end.

relay_diff(Wire, PeerCNode, Diffs, St) ->
    case find_session(Wire, PeerCNode, St) of
        {ok, Store, Peer} ->
            #store{owner = Owner} = maps:get(Store, St#st.stores),
            Owner ! {lattice_ae, diff, Store, Peer, Diffs},
            St;
        error ->
            %% A session the peer started: name the peer by its BEAM node when we know it.
            case St#st.wire of
                #{Wire := Store} ->
                    #store{owner = Owner} = maps:get(Store, St#st.stores),
                    Owner ! {lattice_ae, diff, Store, owner_of(PeerCNode), Diffs},
                    St;
                _ ->
                    St
            end
    end.

%% The BEAM node a supervised C node belongs to (lattice_cnode_<alive>@host), else the C node.
owner_of(CNode) ->
    case string:split(atom_to_list(CNode), "@") of
        ["lattice_cnode_" ++ Alive, Host] -> list_to_atom(Alive ++ "@" ++ Host);
        _ -> CNode
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
    Peers =
        case S#store.peers of
            connected -> nodes();
            List -> List
        end,
    St1 = lists:foldl(
        fun(Peer, Acc) ->
            Sx = maps:get(S#store.name, Acc#st.stores),
            case start_session(Peer, S#store.peers =:= connected, Sx, Acc) of
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
