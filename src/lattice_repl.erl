%% @doc Replication of one store between nodes (docs/REPLICATION.md): membership, delta
%% propagation with acknowledgements, anti-entropy through the C node, and the safety limits.
%%
%% One process per store per node, started with the store by `lattice_store_sup' and
%% registered as {@link name/1}. It joins the group of its store in the store's own `pg' scope
%% ({@link scope/1}); every other member is a peer.
%%
%% <ul>
%% <li><b>Deltas.</b> Every `flush_interval_ms' it drains the store's delta buffer
%%     (`lattice_store:drain/2'), joins the deltas of each key into one, and sends them as
%%     numbered batches to its peers. A batch is kept until every peer has acknowledged it
%%     (the delta-interval algorithm of Almeida et al., 2018), in a buffer bounded by
%%     `max_buffer_bytes'; a peer that falls behind it, or is new, is repaired by anti-entropy
%%     instead. A receiver acknowledges batches in sequence and asks again from the first one
%%     it is missing, so neither loss, duplication nor reordering changes the result.</li>
%% <li><b>Anti-entropy.</b> Each key's leaf in `lattice_ae' is `lattice_store:digest/2' of its
%%     entry. A session with a peer (every `ae_interval_ms', at once when a peer joins or comes
%%     back, and when a peer fell behind) lists the keys that differ; each side sends the other
%%     its entries of the keys it holds, in chunks under `max_message_size'.</li>
%% <li><b>Gossip.</b> With more than `gossip_threshold' peers a batch goes to `fanout' peers
%%     chosen at random, and anti-entropy with one random peer every `gossip_ae_interval_ms'
%%     carries it to the rest, so a write costs `fanout' messages, whatever the cluster's
%%     size.</li>
%% <li><b>Safety.</b> `max_peers', `max_message_size' (bigger batches are split, bigger incoming
%%     messages dropped), a merge queue of `max_queue_size' batches (drops counted; the sender
%%     retries), the HLC of every message (a peer too far ahead is refused), peer validation
%%     (unknown types, invalid states, more than `max_actors' actors), a breaker per peer
%%     (`failure_threshold', `reset_timeout_ms'; a peer whose breaker trips `max_trips' times
%%     is dropped until it joins again), `sync_timeout_ms' for acknowledgements, and
%%     {@link disable_sync/1} / {@link enable_sync/1}. All counted in {@link stats/1}.</li>
%% </ul>
-module(lattice_repl).
-behaviour(gen_server).

-export([start_link/2, child_spec/2, name/1, scope/1, options/1]).
-export([stats/1, peers/1, health_status/1, enable_sync/1, disable_sync/1, sync/1,
         flush/1, subscribe/1, unsubscribe/2, peer_send/3, broadcast/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
%% Events of another module (lattice_checkpoint) reported to the replication's subscribers.
-export([notify/2]).
%% The delta grouping, for the convergence property (test/lattice_repl_props_tests.erl).
-export([coalesce/2]).

-define(TAG, '$lattice_repl').
-define(LAG_SAMPLES, 1024).
%% Batches sent per peer per tick at most, so one tick stays short.
-define(MAX_BATCHES_PER_TICK, 64).
%% Keys merged per call to the store process, so creates and deletes are not held up.
-define(MERGE_CHUNK, 256).
%% How often the group's membership is read.
-define(MEMBERS_MS, 100).
-define(AE_RETRY_MIN, 50).
%% Keys whose entries are read and sent at a time by a repair.
-define(PUSH_CHUNK, 2048).
-define(AE_RETRY_MAX, 5000).
%% A peer met by its hello is kept this long while pg has not yet shown it in the group.
-define(HELLO_GRACE_MS, 5000).
%% What a fragment message carries besides its part (tags, pids, HLC, counters), at most.
-define(FRAGMENT_OVERHEAD, 512).
%% A fresh peer's hold on anti-entropy (see "Fresh replicas") lapses after this long.
-define(HOLD_MAX_MS, 60000).

-define(DEFAULTS, #{
    flush_interval_ms => 10,
    ae_interval_ms => 30000,
    gossip_threshold => 16,
    fanout => 3,
    gossip_ae_interval_ms => 1000,
    max_peers => 100,
    max_message_size => 1000000,
    max_entry_size => 67108864,
    max_queue_size => 1000,
    max_queue_bytes => 67108864,
    max_buffer_bytes => 16777216,
    max_actors => 1000,
    failure_threshold => 3,
    reset_timeout_ms => 60000,
    max_trips => 3,
    sync_timeout_ms => 5000,
    enabled => true,
    secure => false
}).

-record(peer, {
    node :: node(),
    pid :: pid(),
    %% the first batch of our stream to this peer, the last it acknowledged, the next to send
    start :: pos_integer(),
    acked :: non_neg_integer(),
    next :: pos_integer(),
    %% when the oldest unacknowledged batch was (re)sent, or undefined when all are acked
    waiting_since :: integer() | undefined,
    breaker = closed :: closed | {open, integer()} | half_open,
    failures = 0 :: non_neg_integer(),
    trips = 0 :: non_neg_integer(),
    ae_busy = false :: boolean(),
    ae_again = false :: boolean(),
    %% a session that could not run (the peer's C node not up yet, say) is tried again after
    %% this many ms, doubling up to ?AE_RETRY_MAX; 0 when the last one ran
    ae_backoff = 0 :: non_neg_integer(),
    %% seen in the pg group (a peer met by its hello may not be there yet), and since when we
    %% know it
    seen_pg = false :: boolean(),
    joined :: integer(),
    %% a fresh peer taking our whole store (sending), or one whose hello said it is fresh and
    %% which asked no session of us yet (held, since when): no anti-entropy with it meanwhile
    bulk = none :: none | sending | {held, integer()}
}).

%% A secure store's channel with a peer node ("Secure replication" below).
-record(chan, {
    %% the peer's replication process (undefined until an initiator hears message 2)
    pid :: pid() | undefined,
    ch :: lattice_channel:channel(),
    role :: initiator | responder,
    %% the epoch last seen established (0 while the first handshake runs)
    epoch = 0 :: non_neg_integer(),
    %% a responder handshake under way with another process of the node (the peer's repl
    %% restarted, or anyone with the cookie): it replaces this channel only when it completes
    pending :: {pid(), lattice_channel:channel()} | undefined
}).

-record(st, {
    store :: atom(),
    scope :: atom(),
    opts :: map(),
    %% pids seen in the group and refused (max_peers), so they are counted once
    refused = #{} :: #{pid() => true},
    peers = #{} :: #{pid() => #peer{}},
    %% nodes seen and lost: a node in `lost' that joins again is a healed partition
    lost = #{} :: #{node() => integer()},
    dropped = #{} :: #{node() => true},
    %% our batches, {Seq, Bin, Bytes}, while some peer has not acknowledged them
    out :: ets:tid(),
    out_bytes = 0 :: non_neg_integer(),
    seq = 0 :: non_neg_integer(),
    %% what we received: per sender pid, the next batch we expect
    expect = #{} :: #{pid() => pos_integer()},
    queue = queue:new() :: queue:queue(),
    queue_len = 0 :: non_neg_integer(),
    queue_bytes = 0 :: non_neg_integer(),
    merging = false :: boolean(),
    ae_open = false :: boolean(),
    subs = #{} :: #{reference() => pid()},
    lag = {0, #{}} :: {non_neg_integer(), #{non_neg_integer() => non_neg_integer()}},
    counters = #{} :: #{atom() | {secure_refused, term()} => integer()},
    last = #{} :: #{atom() => term()},
    %% this store started empty and takes a peer's whole store before any session
    fresh = false :: boolean(),
    %% the peer it takes it from, and when the last of it arrived
    bulk_from :: pid() | undefined,
    bulk_last = 0 :: integer(),
    %% messages over max_message_size arriving in fragments: per {sender, id}, the count, the
    %% parts so far, their bytes and when the last came; and all their bytes
    frags = #{} :: #{{pid(), pos_integer()} =>
                         {pos_integer(), #{pos_integer() => binary()}, non_neg_integer(),
                          integer()}},
    frag_bytes = 0 :: non_neg_integer(),
    %% secure replication (see "Secure replication" below): undefined when the store is not
    %% secure, so that nothing on that path looks further
    sec :: undefined | #{seq := integer() | undefined, chans := #{node() => #chan{}},
                         retry := #{node() => integer()}}
}).

%%--------------------------------------------------------------------------------------------
%% API

%% @doc Starts the replication of `Store' (a running `lattice_store'). Options: the keys of
%% {@link options/1}.
-spec start_link(atom(), map() | proplists:proplist()) -> {ok, pid()} | {error, term()}.
start_link(Store, Opts) when is_atom(Store) ->
    Config = options(Opts),
    case Config of
        #{secure := true} ->
            case lattice_security:config() of
                {ok, _} ->
                    gen_server:start_link({local, name(Store)}, ?MODULE, {Store, Config}, []);
                {error, not_configured} ->
                    {error, {no_security_configuration, Store}};
                {error, Why} ->
                    {error, {Why, Store}}
            end;
        _ ->
            gen_server:start_link({local, name(Store)}, ?MODULE, {Store, Config}, [])
    end.

-spec child_spec(atom(), map() | proplists:proplist()) -> supervisor:child_spec().
child_spec(Store, Opts) ->
    _ = options(Opts),
    #{id => {?MODULE, Store}, start => {?MODULE, start_link, [Store, Opts]},
      restart => permanent, shutdown => 5000, type => worker, modules => [?MODULE]}.

%% @doc The registered name of `Store''s replication process.
-spec name(atom()) -> atom().
name(Store) -> list_to_atom("lattice_repl_" ++ atom_to_list(Store)).

%% @doc The `pg' scope of `Store': one scope per store, so stores never see each other's
%% members.
-spec scope(atom()) -> atom().
scope(Store) -> list_to_atom("lattice_pg_" ++ atom_to_list(Store)).

%% @doc The options with their defaults filled in; `badarg' for an unknown option or a bad
%% value. Every option is a positive integer (milliseconds, bytes or counts), but `enabled'
%% and `secure' (booleans: `secure => true' replicates over certificate-authenticated,
%% encrypted channels, and needs lattice_security's configuration) and `ae_interval_ms' (also
%% `infinity').
-spec options(map() | proplists:proplist()) -> map().
options(Opts) when is_list(Opts) ->
    options(maps:from_list([case O of {K, V} -> {K, V}; _ -> erlang:error(badarg) end
                            || O <- Opts]));
options(Opts) when is_map(Opts) ->
    maps:foreach(fun(enabled, V) when is_boolean(V) -> ok;
                    (secure, V) when is_boolean(V) -> ok;
                    (ae_interval_ms, infinity) -> ok;
                    (K, V) when is_integer(V), V > 0 ->
                         true = is_map_key(K, ?DEFAULTS) orelse erlang:error(badarg);
                    (_, _) -> erlang:error(badarg)
                 end, Opts),
    maps:merge(?DEFAULTS, Opts);
options(_) ->
    erlang:error(badarg).

%% @doc The replication's figures (docs/REPLICATION.md lists them all): deltas and bytes sent
%% and received, keys repaired, replication lag, sync latency, peers and their reachability,
%% merge queue, breaker opens, sync timeouts, oversized messages, clock-skew refusals.
-spec stats(atom()) -> map().
stats(Store) -> call(Store, stats).

%% @doc The peers: `#{Node => #{pid, breaker, acked, next, failures, trips}}'.
-spec peers(atom()) -> map().
peers(Store) -> call(Store, peers).

%% @doc `{healthy, []}', `{disabled, []}' (after {@link disable_sync/1}), or `{degraded,
%% Reasons}' with `Reasons' among `{breaker_open, Node}', `{peer_down, Node}' (a peer lost and
%% not back), `{peer_dropped, Node}' (its breaker tripped `max_trips' times) and
%% `{merge_queue_high, Length}' (over 80% of `max_queue_size').
-spec health_status(atom()) -> {healthy | degraded | disabled, [term()]}.
health_status(Store) -> call(Store, health).

%% @doc Resumes sending deltas and anti-entropy (after {@link disable_sync/1}); the deltas
%% written meanwhile go out at the next flush, or by anti-entropy if the buffer overflowed.
-spec enable_sync(atom()) -> ok.
enable_sync(Store) -> call(Store, {enabled, true}).

%% @doc Stops sending deltas and starting anti-entropy sessions; writes go on locally and
%% incoming deltas are still merged.
-spec disable_sync(atom()) -> ok.
disable_sync(Store) -> call(Store, {enabled, false}).

%% @doc Starts an anti-entropy session with every peer now.
-spec sync(atom()) -> ok.
sync(Store) -> call(Store, sync_all).

%% @doc Drains the delta buffer and sends to peers now (instead of at the next tick); returns
%% when the batches are sent (not acknowledged).
-spec flush(atom()) -> ok.
flush(Store) -> call(Store, flush).

%% @doc Subscribes the caller to replication events: `{lattice_repl, Store, Event}' with
%% `Event' one of `{peer_up, Node}', `{peer_down, Node}', `{partition_healed, Node,
%% DownMs}', `{breaker_open, Node}', `{breaker_closed, Node}', `{peer_dropped, Node}',
%% `{diff, Node, Keys}' (a session this node started found these keys different: both sides
%% then send their entries), `{repaired, Node, Count}' (entries received from a session).
-spec subscribe(atom()) -> reference().
subscribe(Store) -> call(Store, {subscribe, self()}).

-spec unsubscribe(atom(), reference()) -> ok.
unsubscribe(Store, Ref) -> call(Store, {unsubscribe, Ref}).

%% @doc Sends `Msg' (any term, for another module) to `Store''s replication on the peer
%% `Node', sealed when the store is secure; delivered there to the process registered
%% `lattice_checkpoint_<Store>' as `{lattice_repl, peer_message, FromNode, Msg}' (counted
%% and dropped when there is none). `{error, not_a_peer}' when Node is not a peer now.
-spec peer_send(atom(), node(), term()) -> ok | {error, not_a_peer}.
peer_send(Store, Node, Msg) when is_atom(Node) -> call(Store, {peer_send, Node, Msg}).

%% @doc {@link peer_send/3} to every peer.
-spec broadcast(atom(), term()) -> ok.
broadcast(Store, Msg) -> call(Store, {broadcast, Msg}).

%% @doc Reports `Event' to the replication's subscribers, as one of its own events (for
%% lattice_checkpoint's `{checkpoint, Epoch, Digest}' and `{equivocation, Node, Evidence}').
-spec notify(atom(), term()) -> ok.
notify(Store, Event) when is_atom(Store) ->
    gen_server:cast(name(Store), {notify, Event}).

call(Store, Req) when is_atom(Store) ->
    try gen_server:call(name(Store), Req, 30000)
    catch exit:{noproc, _} -> erlang:error(badarg, [Store])
    end.

%%--------------------------------------------------------------------------------------------
%% The process

%% @private
init({Store, Opts}) ->
    process_flag(trap_exit, true),
    Scope = scope(Store),
    ok = net_kernel:monitor_nodes(true),
    Fresh = maps:get(rows, lattice_store:info(Store)) =:= 0,
    St0 = #st{store = Store, scope = Scope, opts = Opts, fresh = Fresh,
              out = ets:new(lattice_repl_out, [ordered_set, private]), sec = sec_init(Opts)},
    %% Our hello before the group's: a peer learns at once that we are here, and whether we
    %% are fresh, before its next poll of the group.
    _ = [hello(N, St0) || N <- nodes()],
    ok = pg:join(Scope, Store, self()),
    St1 = members(St0),
    St2 = open_ae(St1),
    erlang:send_after(?MEMBERS_MS, self(), members),
    self() ! tick,
    erlang:send_after(ae_interval(St2), self(), ae_tick),
    {ok, St2}.

%% The store's leaves in lattice_ae; retried while a dead owner's store is still open there.
open_ae(#st{store = Store, sec = Sec} = St) ->
    %% Secure: the C node refuses any session with a C node it holds no key for (the keys
    %% come from the channels: set_ae_key/3).
    Opts = case Sec of
               undefined -> #{owner => self(), sync_interval => infinity};
               _ -> #{owner => self(), sync_interval => infinity, require_keys => true}
           end,
    case catch lattice_ae:open(Store, Opts) of
        ok ->
            feed_all(St),
            St1 = St#st{ae_open = true},
            maps:fold(fun(Pid, _, A) -> start_ae(Pid, A) end, St1, St1#st.peers);
        _ ->
            erlang:send_after(200, self(), open_ae),
            St
    end.

%% Every key's leaf, deleted keys included (their tombs must reach peers too): at start, the
%% store may hold keys already.
feed_all(#st{store = Store}) ->
    lists:foreach(fun(Chunk) -> leaves(Store, Chunk) end, chunks(lattice_store:rows(Store), 4096)).

%% @private
handle_call(stats, _From, St) ->
    {reply, stats_map(St), St};
handle_call(peers, _From, St) ->
    {reply, maps:from_list([{P#peer.node, peer_info(P)} || P <- maps:values(St#st.peers)]), St};
handle_call(health, _From, St) ->
    {reply, health(St), St};
handle_call({enabled, On}, _From, #st{opts = O} = St) ->
    {reply, ok, St#st{opts = O#{enabled => On}}};
handle_call(sync_all, _From, St) ->
    {reply, ok, maps:fold(fun(Pid, _, A) -> start_ae(Pid, A) end, St, St#st.peers)};
handle_call(flush, _From, St) ->
    {reply, ok, flush_deltas(St)};
handle_call({subscribe, Pid}, _From, #st{subs = Subs} = St) ->
    Ref = erlang:monitor(process, Pid),
    {reply, Ref, St#st{subs = Subs#{Ref => Pid}}};
handle_call({unsubscribe, Ref}, _From, #st{subs = Subs} = St) ->
    erlang:demonitor(Ref, [flush]),
    {reply, ok, St#st{subs = maps:remove(Ref, Subs)}};
handle_call({peer_send, Node, Msg}, _From, St) ->
    {Reply, St1} = peer_send_to(Node, Msg, St),
    {reply, Reply, St1};
handle_call({broadcast, Msg}, _From, #st{peers = Peers} = St) ->
    St1 = maps:fold(fun(_, #peer{node = N}, A) -> element(2, peer_send_to(N, Msg, A)) end,
                    St, Peers),
    {reply, ok, St1};
handle_call(_, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
handle_cast({notify, Event}, St) ->
    {noreply, event(Event, St)};
handle_cast(_, St) ->
    {noreply, St}.

%% @private
handle_info(tick, #st{opts = #{flush_interval_ms := I}} = St) ->
    erlang:send_after(I, self(), tick),
    {noreply, sec_tick(check_peers(flush_deltas(St)))};
handle_info(ae_tick, St) ->
    erlang:send_after(ae_interval(St), self(), ae_tick),
    {noreply, ae_round(St)};
handle_info(open_ae, St) ->
    {noreply, open_ae(St)};
handle_info(merge_next, St) ->
    {noreply, merge_next(St#st{merging = false})};
handle_info({lattice_ae, session, _Store, Report}, St) ->
    {noreply, ae_report(Report, St)};
handle_info({lattice_ae, cnode_up, _, _}, St) ->
    %% Our C node is (back) up with every leaf: compare with every peer.
    {noreply, maps:fold(fun(Pid, _, A) -> start_ae(Pid, A) end, St, St#st.peers)};
handle_info({push_more, Pid, KeyBins}, #st{peers = Peers, store = Store} = St) ->
    case Peers of
        #{Pid := _} -> {noreply, push_entries(Pid, Store, KeyBins, St)};
        _ -> {noreply, St}
    end;
handle_info({ae_retry, Pid}, St) ->
    {noreply, initiate_ae(Pid, St)};
handle_info({push_more, Pid, Keys, bulk}, #st{peers = Peers} = St) ->
    case Peers of
        #{Pid := #peer{bulk = sending}} -> {noreply, push_bulk(Pid, Keys, St)};
        _ -> {noreply, St}
    end;
handle_info({lattice_ae, cnode_down, _, _}, St) ->
    {noreply, St};
handle_info(members, St) ->
    erlang:send_after(?MEMBERS_MS, self(), members),
    {noreply, members(St)};
handle_info({nodedown, Node}, St) ->
    Gone = [Pid || {Pid, #peer{node = N}} <- maps:to_list(St#st.peers), N =:= Node],
    St1 = case St#st.sec of
              undefined -> St;
              _ -> drop_chan(Node, St)
          end,
    St2 = lists:foldl(fun(P, A) -> peer_left(P, nodedown, A) end, St1, Gone),
    %% A node dropped by its breaker may come back once it has been away.
    {noreply, St2#st{expect = maps:filter(fun(P, _) -> node(P) =/= Node end, St2#st.expect),
                     dropped = maps:remove(Node, St2#st.dropped)}};
handle_info({nodeup, Node}, St) ->
    %% pg learns of the node's members in a moment: our hello is quicker, and we look sooner
    %% than the next poll
    hello(Node, St),
    erlang:send_after(?MEMBERS_MS div 4, self(), members_once),
    {noreply, St};
handle_info(members_once, St) ->
    {noreply, members(St)};
handle_info({'DOWN', Ref, process, _, _}, #st{subs = Subs} = St) ->
    {noreply, St#st{subs = maps:remove(Ref, Subs)}};
handle_info({'ETS-TRANSFER', _, _, _}, St) ->
    {noreply, St};
%% The protocol's messages: as they are when the store is not secure; when it is, sealed in
%% the sender's channel, and any other is refused.
handle_info({?TAG, sealed, From, Bin}, #st{sec = Sec} = St) when Sec =/= undefined ->
    {noreply, sealed_in(From, Bin, St)};
handle_info(Msg, #st{sec = undefined} = St) when element(1, Msg) =:= ?TAG ->
    {noreply, protocol(Msg, St)};
handle_info(Msg, St) when element(1, Msg) =:= ?TAG ->
    {noreply, refuse(plaintext_refused, St)};
handle_info(_, St) ->
    {noreply, St}.



protocol({?TAG, batch, From, Start, Seq, Hlc, Bin}, St) when is_pid(From) ->
    incoming_batch(From, Start, Seq, Hlc, Bin, St);
protocol({?TAG, ack, From, Seq}, St) when is_pid(From), is_integer(Seq) ->
    acked(From, Seq, St);
protocol({?TAG, nack, From, Seq}, St) when is_pid(From), is_integer(Seq) ->
    nacked(From, Seq, St);
protocol({?TAG, repair, From, Hlc, Bin}, St) when is_pid(From) ->
    incoming_repair(From, Hlc, Bin, St);
protocol({?TAG, fragment, From, Hlc, Id, I, N, Part}, St) when is_pid(From) ->
    incoming_fragment(From, Hlc, Id, I, N, Part, St);
protocol({?TAG, ae_request, From}, St) when is_pid(From) ->
    initiate_ae(From, release(From, St));
protocol({?TAG, hello, From, Fresh}, St) when is_pid(From), is_boolean(Fresh),
                                              node(From) =/= node() ->
    hello_from(From, Fresh, St);
protocol({?TAG, bulk_request, From}, St) when is_pid(From), node(From) =/= node() ->
    bulk_request(From, St);
protocol({?TAG, bulk_done, From}, #st{bulk_from = From, queue = Q} = St) ->
    %% Behind the last of it in the merge queue (never dropped: it is no data): the bulk is
    %% over once everything before it is merged.
    schedule_merge(St#st{queue = queue:in({bulk_done, From, 0, 0, <<>>}, Q),
                         queue_len = St#st.queue_len + 1});
protocol({?TAG, bulk_done, _From}, St) ->
    St;
protocol({?TAG, ready, From}, St) when is_pid(From) ->
    release(From, St);
protocol({?TAG, peer_message, From, Msg}, St) when is_pid(From) ->
    peer_message_in(From, Msg, St);
protocol({?TAG, revocations, From, Bin}, #st{sec = Sec} = St) when is_pid(From), Sec =/= undefined ->
    revocations_in(Bin, St);
%% A secure peer's message to a store that is not secure: refused (counted apart), and so is
%% that process as a peer (as one over max_peers is: not taken again while it is a member).
protocol({?TAG, sealed, From, _}, #st{peers = Peers, refused = Refused} = St) when is_pid(From) ->
    St1 = case is_map_key(From, Peers) of
              true -> trim_out(St#st{peers = maps:remove(From, Peers),
                                     expect = maps:remove(From, St#st.expect)});
              false -> St
          end,
    count(sealed_refused, St1#st{refused = Refused#{From => true}});
%% Any other message in our protocol's envelope: from a peer that is broken or hostile.
protocol(_Msg, St) ->
    count(malformed, St).

%% @private
terminate(_, #st{store = Store, ae_open = Open}) ->
    _ = Open andalso (catch lattice_ae:close(Store)),
    ok.

%%--------------------------------------------------------------------------------------------
%% Membership

%% The group's members now against the peers we have: joins and leaves. (A poll of pg's table,
%% not pg:monitor_scope/1: in OTP 25.2 a process that both monitors a scope and is a member
%% of it crashes the scope when it exits, and the scope's restart would take the store down.)
members(#st{scope = Scope, store = Store, peers = Peers, refused = Refused} = St) ->
    Members = [P || P <- pg:get_members(Scope, Store), node(P) =/= node()],
    Set = maps:from_list([{P, true} || P <- Members]),
    Now = now_ms(),
    Gone = [P || {P, #peer{seen_pg = Seen, joined = J}} <- maps:to_list(Peers),
                 not is_map_key(P, Set), Seen orelse Now - J > ?HELLO_GRACE_MS],
    St0 = St#st{peers = maps:map(fun(P, Peer) when is_map_key(P, Set) ->
                                         Peer#peer{seen_pg = true};
                                    (_, Peer) ->
                                         Peer
                                 end, Peers)},
    St1 = lists:foldl(fun(P, A) -> peer_left(P, left, A) end, St0, Gone),
    New = [P || P <- Members, not is_map_key(P, Peers), not is_map_key(P, Refused)],
    St2 = case St1#st.sec of
              undefined -> lists:foldl(fun peer_joined/2, St1, New);
              _ -> lists:foldl(fun(P, A) -> sec_member(P, Set, A) end, St1, New)
          end,
    St2#st{refused = maps:with(Members, St2#st.refused)}.

peer_joined(Pid, St) ->
    peer_joined(Pid, false, St).

%% Hold: the peer said it is fresh, and takes a bulk from one of us: no session with it until
%% it asks for one (or says it is ready).
peer_joined(Pid, Hold, #st{peers = Peers, opts = O} = St) ->
    Node = node(Pid),
    %% A member of a node we are not connected to is one pg has not dropped yet (its nodedown
    %% is on its way to the scope): not a peer.
    case maps:is_key(Pid, Peers) orelse node() =:= Node orelse not lists:member(Node, nodes())
        orelse not secured(Pid, St) of
        true ->
            St;
        false ->
            case {map_size(Peers) >= maps:get(max_peers, O), maps:is_key(Node, St#st.dropped)} of
                {true, _} ->
                    count(peers_refused, St#st{refused = (St#st.refused)#{Pid => true}});
                {_, true} ->
                    St;
                _ ->
                    %% A node that was here before and joins again: the partition healed.
                    St1 = case maps:take(Node, St#st.lost) of
                              {Since, Lost} ->
                                  Down = now_ms() - Since,
                                  event({partition_healed, Node, Down},
                                        count(partitions_healed, St#st{lost = Lost}));
                              error ->
                                  St
                          end,
                    %% Same-node pids of a restarted repl replace the old one.
                    St2 = drop_node_peers(Node, St1),
                    Next = St2#st.seq + 1,
                    P = #peer{node = Node, pid = Pid, start = Next, acked = Next - 1,
                              next = Next, joined = now_ms(),
                              bulk = case Hold of
                                         true -> {held, now_ms()};
                                         false -> none
                                     end},
                    St3 = event({peer_up, Node}, St2#st{peers = (St2#st.peers)#{Pid => P}}),
                    %% What it missed before it joined (or everything, if it is new) comes by
                    %% anti-entropy, at once: started by the smaller node of the two (both
                    %% see the join; one session repairs both ways). A fresh store takes the
                    %% first peer's whole store instead ("Fresh replicas").
                    case still_fresh(St3) of
                        #st{fresh = true, bulk_from = undefined} = St4 ->
                            send(Pid, {?TAG, bulk_request, self()}, St4),
                            count(bulks_requested, St4#st{bulk_from = Pid, bulk_last = now_ms()});
                        St4 when node() < Node ->
                            initiate_ae(Pid, St4);
                        St4 ->
                            St4
                    end
            end
    end.

%%--------------------------------------------------------------------------------------------
%% Fresh replicas
%%
%% A store that starts empty (a new node, or one restarted without its state) would learn
%% everything through anti-entropy: a tree walk that finds every key missing, listed and sent
%% key by key, once by every peer. Instead it says it is fresh in its hello, asks its first
%% peer for the whole store (`bulk_request'), and holds every session until that has been
%% merged: then it says `ready' to every peer and compares with each, which repairs whatever
%% the bulk did not carry (writes of other peers, entries dropped on a full queue). Deltas
%% flow as usual meanwhile: a peer's stream to it starts at the join.

hello(_Node, #st{sec = #{}}) ->
    %% secure: the hello is sealed, once the channel is made (see "Secure replication")
    ok;
hello(Node, #st{store = Store, fresh = Fresh}) ->
    %% Fresh until the bulk is merged: a node that joins meanwhile holds its sessions too.
    erlang:send({name(Store), Node}, {?TAG, hello, self(), Fresh}, [noconnect]).

hello_from(Pid, Fresh, #st{peers = Peers} = St) ->
    Known = maps:is_key(Pid, Peers),
    St1 = case {Known, Peers} of
              {false, _} -> peer_joined(Pid, Fresh, St);
              {true, #{Pid := #peer{bulk = none} = P}} when Fresh ->
                  put_peer(Pid, P#peer{bulk = {held, now_ms()}}, St);
              {true, _} -> St
          end,
    %% Answered once, when it is new to us, so that it knows us as soon as we know it.
    _ = (not Known) andalso maps:is_key(Pid, St1#st.peers) andalso
        send(Pid, {?TAG, hello, self(), St1#st.fresh}, St1),
    St1.

%% A fresh peer wants our whole store: every row's entry, in chunks under the message cap,
%% then `bulk_done'. No session with it meanwhile.
bulk_request(_Pid, #st{opts = #{enabled := false}} = St) ->
    %% disabled: nothing of ours leaves; the peer's wait lapses and its sessions repair it
    count(bulks_refused, St);
bulk_request(Pid, #st{peers = Peers} = St) ->
    St1 = case maps:is_key(Pid, Peers) of
              true -> St;
              false -> peer_joined(Pid, true, St)
          end,
    case St1#st.peers of
        #{Pid := P} ->
            St2 = put_peer(Pid, P#peer{bulk = sending}, flush_deltas(St1)),
            push_bulk(Pid, lattice_store:rows(St2#st.store), count(bulks_sent, St2));
        _ ->
            St1
    end.

push_bulk(Pid, Keys, #st{store = Store} = St) ->
    {Now, Later} = split_chunk(Keys),
    St1 = push_keys(Pid, Store, Now, St),
    case Later of
        [] ->
            send(Pid, {?TAG, bulk_done, self()}, St1),
            #{Pid := P} = St1#st.peers,
            %% held until it has merged it and says it is ready
            put_peer(Pid, P#peer{bulk = {held, now_ms()}, ae_again = false}, St1);
        _ ->
            self() ! {push_more, Pid, Later, bulk},
            St1
    end.

%% The bulk is merged (or stopped coming): sessions with every peer, which we held.
bulk_over(#st{peers = Peers} = St) ->
    St1 = St#st{fresh = false, bulk_from = undefined},
    maps:fold(fun(Pid, _, A) ->
                      send(Pid, {?TAG, ready, self()}, A),
                      start_ae(Pid, A)
              end, St1, Peers).

%% Fresh only while the store is empty: writes made before any peer came make it a store like
%% any other.
still_fresh(#st{fresh = true, bulk_from = undefined, store = Store} = St) ->
    St#st{fresh = maps:get(rows, lattice_store:info(Store)) =:= 0};
still_fresh(St) ->
    St.

%% Whether sessions with the peer wait: we take a bulk, or it does (from us or another).
ae_held(_Pid, #st{fresh = true, bulk_from = From}) when is_pid(From) -> true;
ae_held(Pid, #st{peers = Peers}) ->
    case Peers of
        #{Pid := #peer{bulk = none}} -> false;
        #{Pid := _} -> true;
        _ -> false
    end.

%% A held or bulk peer may have sessions again.
release(Pid, #st{peers = Peers} = St) ->
    case Peers of
        #{Pid := #peer{bulk = {held, _}} = P} -> put_peer(Pid, P#peer{bulk = none}, St);
        _ -> St
    end.

%% Secure: a process becomes a peer only with an established channel made with it.
secured(_Pid, #st{sec = undefined}) -> true;
secured(Pid, St) ->
    case chans(St) of
        #{node(Pid) := #chan{pid = Pid, epoch = E}} -> E > 0;
        _ -> false
    end.

%% A member of the group seen by a secure store: a peer if its channel is made, else a
%% channel is made (by the smaller node; a channel with a process that left is dropped).
sec_member(Pid, Set, St) ->
    Node = node(Pid),
    case chans(St) of
        #{Node := #chan{pid = Pid, epoch = E}} when E > 0 ->
            peer_joined(Pid, St);
        #{Node := #chan{pid = Old, epoch = E}} when E > 0, Old =/= Pid ->
            case is_map_key(Old, Set) of
                true -> St;
                false -> sec_connect(Node, drop_chan(Node, St))
            end;
        _ ->
            sec_connect(Node, St)
    end.

drop_node_peers(Node, #st{peers = Peers} = St) ->
    St#st{peers = maps:filter(fun(_, #peer{node = N}) -> N =/= Node end, Peers)}.

peer_left(Pid, Why, #st{peers = Peers} = St) ->
    case maps:take(Pid, Peers) of
        {#peer{node = Node}, Rest} ->
            St1 = St#st{peers = Rest, lost = (St#st.lost)#{Node => now_ms()},
                        expect = maps:remove(Pid, St#st.expect)},
            St2 = case St1 of
                      #st{bulk_from = Pid} -> bulk_over(St1);
                      _ -> St1
                  end,
            trim_out(event({peer_down, Node}, count(peers_lost, St2#st{last = (St2#st.last)#{
                                                         last_peer_down => {Node, Why}}})));
        error ->
            St
    end.

%%--------------------------------------------------------------------------------------------
%% Sending deltas

flush_deltas(#st{opts = #{enabled := false}} = St) ->
    St;
flush_deltas(#st{store = Store, opts = #{max_message_size := Max}} = St) ->
    T0 = erlang:monotonic_time(),
    St1 = drain_batches(Store, Max, ?MAX_BATCHES_PER_TICK, St),
    flushed(T0, St, send_batches(St1)).

%% The [lattice, sync, flush] event, for a flush that sent something (docs/OBSERVABILITY.md).
flushed(T0, #st{counters = C0}, #st{store = Store, counters = C1} = St) ->
    D = fun(K) -> maps:get(K, C1, 0) - maps:get(K, C0, 0) end,
    case D(batches_sent) + D(fragments_sent) of
        0 -> ok;
        _ -> lattice_telemetry:execute([lattice, sync, flush],
                                       #{duration => erlang:monotonic_time() - T0,
                                         deltas => D(deltas_sent_items),
                                         batches => D(batches_sent), bytes => D(bytes_sent)},
                                       #{store => Store, node => node()})
    end,
    St.

drain_batches(_Store, _Max, 0, St) ->
    St;
drain_batches(Store, Max, N, St) ->
    %% The drain's budget counts 48 bytes of row per delta: the joined batch is smaller.
    case lattice_store:drain(Store, Max) of
        {[], #{overflowed := Over}} ->
            overflowed(Over, St);
        {Deltas, #{overflowed := Over}} ->
            Items = coalesce(Deltas, Max div 4),
            leaves(Store, [K || {K, _, _} <- Items]),
            {Bins, Large} = encode_batches(Items, Max),
            St1 = lists:foldl(fun({Bin, NI}, A) -> add_batch(Bin, NI, A) end,
                              overflowed(Over, St), Bins),
            %% A delta too big for a batch goes to every reachable peer in fragments, outside
            %% the numbered stream: one lost is found by the next session, like any loss.
            Reachable = [Pid || {Pid, #peer{breaker = closed}} <- maps:to_list(St1#st.peers)],
            drain_batches(Store, Max, N - 1, send_large(Reachable, Large, St1))
    end.

%% Deltas dropped on a full buffer: every peer needs anti-entropy.
overflowed(false, St) -> St;
overflowed(true, St) ->
    maps:fold(fun(Pid, _, A) -> start_ae(Pid, A) end, count(buffer_overflows, St), St#st.peers).

%% @private
%% The deltas of one key joined into one (a delta group): many increments of a counter go
%% as one delta. Creates and deletes are entries, joined with the key's other entries. A
%% joined delta stops growing at Cap bytes (a quarter of the message cap), and the next
%% starts: a key written many times between two flushes still goes out in pieces that fit.
-spec coalesce([{pos_integer(), term(), atom(), term()}], pos_integer()) ->
          [{term(), atom(), term()}].
coalesce(Deltas, Cap) ->
    Map = lists:foldl(fun({_Seq, Key, Kind, Value}, Acc) ->
                              add_item({Key, Kind}, Value, Cap, Acc)
                      end, #{}, Deltas),
    lists:append([[{K, T, D} || D <- [Cur | Done]] || {{K, T}, {Cur, Done}} <- maps:to_list(Map)]).

add_item({_, Kind} = Id, Value, Cap, Acc) ->
    case Acc of
        #{Id := {Old, Done}} ->
            case size_of(Old) + size_of(Value) > Cap of
                true -> Acc#{Id := {Value, [Old | Done]}};
                false -> Acc#{Id := {join(Kind, Old, Value), Done}}
            end;
        _ ->
            Acc#{Id => {Value, []}}
    end.

join(entry, A, B) -> lattice_store_entry:merge(A, B);
join(Type, A, B) -> (lattice_store_entry:module(Type)):merge(A, B).

size_of(Bin) when is_binary(Bin) -> byte_size(Bin);
size_of(Entry) -> erlang:external_size(Entry).

%% The items as `{Binary, Count}' of at most Max bytes each (halving a list that does not
%% fit), and how many items were alone over Max: those cannot be sent, as a delta or by
%% anti-entropy (docs/REPLICATION.md, "Limits"); they are counted.
%% Batches of at most Max bytes, and the items that are bigger alone, each encoded as a batch
%% of its own (sent in fragments: send_large/3).
encode_batches([], _Max) ->
    {[], []};
encode_batches(Items, Max) ->
    Bin = lattice_canon:encode(wire(Items)),
    case byte_size(Bin) =< Max of
        true -> {[{Bin, length(Items)}], []};
        false when length(Items) =:= 1 -> {[], [Bin]};
        false ->
            {A, B} = lists:split(length(Items) div 2, Items),
            {BA, OA} = encode_batches(A, Max),
            {BB, OB} = encode_batches(B, Max),
            {BA ++ BB, OA ++ OB}
    end.

%% One item's batch over max_message_size, to each of Pids as a repair in fragments under it;
%% over max_entry_size it cannot be sent at all (counted: oversized_entries).
send_large(_Pids, [], St) ->
    St;
send_large(Pids, [Bin | Rest], #st{opts = #{max_message_size := Max,
                                            max_entry_size := MaxEntry}} = St) ->
    St1 = case byte_size(Bin) > MaxEntry of
              true ->
                  count(oversized_entries, St);
              false ->
                  Parts = split_binary_parts(Bin, max(1, Max - ?FRAGMENT_OVERHEAD)),
                  N = length(Parts),
                  Id = erlang:unique_integer([positive]),
                  Hlc = lattice_hlc:now(),
                  lists:foldl(
                    fun(Pid, A) ->
                            lists:foldl(fun({I, Part}, A2) ->
                                                send(Pid, {?TAG, fragment, self(), Hlc, Id, I,
                                                           N, Part}, A2),
                                                bump(bytes_sent, byte_size(Part),
                                                     count(fragments_sent, A2))
                                        end, count(large_sent, A), lists:enumerate(Parts))
                    end, St, Pids)
          end,
    send_large(Pids, Rest, St1).

split_binary_parts(Bin, Size) when byte_size(Bin) =< Size ->
    [Bin];
split_binary_parts(Bin, Size) ->
    <<Part:Size/binary, Rest/binary>> = Bin,
    [Part | split_binary_parts(Rest, Size)].

%% On the wire a batch is `[{Kind, [{Key, Value}]}]': the items grouped by type (or `entry'),
%% so a type's name is sent once per batch, not once per key.
wire(Items) ->
    Groups = lists:foldl(fun({K, Kind, V}, Acc) ->
                                 Acc#{Kind => [{K, V} | maps:get(Kind, Acc, [])]}
                         end, #{}, Items),
    maps:to_list(Groups).

unwire(Groups) when is_list(Groups) ->
    try
        {ok, [{K, Kind, V} || {Kind, Pairs} <- Groups, is_list(Pairs) orelse throw(bad),
                              {K, V} <- [case P of {_, _} -> P; _ -> throw(bad) end
                                         || P <- Pairs]]}
    catch
        throw:bad -> error
    end;
unwire(_) ->
    error.

add_batch(Bin, NItems, #st{seq = Seq, out = Out} = St) ->
    Seq1 = Seq + 1,
    Size = byte_size(Bin),
    true = ets:insert(Out, {Seq1, Bin, Size}),
    bump(deltas_sent_items, NItems, St#st{seq = Seq1, out_bytes = St#st.out_bytes + Size}).

%% Full mesh: every peer gets every batch from its `next' on. Gossip: each new batch goes to
%% `fanout' random peers, and nobody waits for acknowledgements.
send_batches(#st{peers = Peers} = St) when map_size(Peers) =:= 0 ->
    trim_out(St);
send_batches(#st{peers = Peers, opts = #{gossip_threshold := G}} = St)
  when map_size(Peers) > G ->
    gossip(St);
send_batches(#st{peers = Peers} = St) ->
    Now = now_ms(),
    St1 = maps:fold(fun(Pid, P, A) -> send_to_peer(Pid, P, Now, A) end, St, Peers),
    trim_out(St1).

send_to_peer(_Pid, #peer{breaker = {open, _}}, _Now, St) ->
    St;
send_to_peer(Pid, #peer{next = Next} = P, Now, #st{seq = Seq} = St) when Next =< Seq ->
    Last = min(Seq, Next + ?MAX_BATCHES_PER_TICK - 1),
    St1 = lists:foldl(fun(N, A) -> send_one(Pid, P#peer.start, N, A) end, St,
                      lists:seq(Next, Last)),
    Waiting = case P#peer.waiting_since of undefined -> Now; W -> W end,
    put_peer(Pid, P#peer{next = Last + 1, waiting_since = Waiting}, St1);
send_to_peer(_Pid, _P, _Now, St) ->
    St.

send_one(Pid, Start, N, #st{out = Out} = St) ->
    case ets:lookup(Out, N) of
        [{_, Bin, Size}] ->
            send(Pid, {?TAG, batch, self(), Start, N, lattice_hlc:now(), Bin}, St),
            bump(bytes_sent, Size, count(batches_sent, St));
        [] ->
            St
    end.

gossip(#st{peers = Peers, opts = #{fanout := K}, seq = Seq, out = Out} = St) ->
    Usable = [Pid || {Pid, #peer{breaker = B}} <- maps:to_list(Peers), not is_tuple(B)],
    St1 = lists:foldl(
            fun({N, Bin, Size}, A) ->
                    lists:foldl(fun(Pid, A2) ->
                                        send(Pid, {?TAG, batch, self(), 0, N, lattice_hlc:now(),
                                                   Bin}, A2),
                                        bump(bytes_sent, Size, count(batches_sent, A2))
                                end, A, pick(K, Usable))
            end, St, ets:tab2list(Out)),
    %% Nothing waits for acknowledgements in gossip: anti-entropy covers what is lost.
    true = ets:delete_all_objects(Out),
    Peers2 = maps:map(fun(_, P) -> P#peer{acked = Seq, next = Seq + 1,
                                          waiting_since = undefined} end, Peers),
    St1#st{peers = Peers2, out_bytes = 0}.

pick(K, List) when length(List) =< K -> List;
pick(K, List) ->
    [X || {_, X} <- lists:sublist(lists:sort([{rand:uniform(), X} || X <- List]), K)].

%% Batches every peer has acknowledged are dropped; over max_buffer_bytes the oldest go, and
%% a peer that still needed them is repaired by anti-entropy.
trim_out(#st{out = Out, peers = Peers, seq = Seq} = St) ->
    MinAcked = maps:fold(fun(_, #peer{acked = A}, M) -> min(A, M) end, Seq, Peers),
    St1 = drop_until(fun(N, _) -> N =< MinAcked end, St),
    #st{opts = #{max_buffer_bytes := MaxB}} = St1,
    case St1#st.out_bytes > MaxB of
        false ->
            St1;
        true ->
            St2 = drop_until(fun(_, A) -> A#st.out_bytes > MaxB end, St1),
            Oldest = case ets:first(Out) of '$end_of_table' -> Seq + 1; F -> F end,
            maps:fold(fun(Pid, #peer{acked = A} = P, Acc) when A + 1 < Oldest ->
                              Acc1 = put_peer(Pid, P#peer{acked = Seq, next = Seq + 1,
                                                          waiting_since = undefined}, Acc),
                              start_ae(Pid, count(peers_behind, Acc1));
                         (_, _, Acc) -> Acc
                      end, St2, St2#st.peers)
    end.

drop_until(Pred, #st{out = Out} = St) ->
    case ets:first(Out) of
        '$end_of_table' -> St;
        N ->
            case Pred(N, St) of
                true ->
                    [{_, _, Size}] = ets:lookup(Out, N),
                    true = ets:delete(Out, N),
                    drop_until(Pred, St#st{out_bytes = St#st.out_bytes - Size});
                false -> St
            end
    end.

acked(From, Seq, #st{peers = Peers} = St) ->
    case Peers of
        #{From := #peer{acked = A} = P} when Seq > A ->
            Waiting = case Seq + 1 >= P#peer.next of
                          true -> undefined;
                          false -> now_ms()
                      end,
            P1 = P#peer{acked = min(Seq, St#st.seq), waiting_since = Waiting, failures = 0},
            trim_out(put_peer(From, close_breaker(From, P1, St), St));
        _ ->
            St
    end.

%% The peer is missing batch Seq (it dropped it, or a later one overtook it): send again from
%% there.
nacked(From, Seq, #st{peers = Peers} = St) ->
    case Peers of
        #{From := #peer{acked = A, next = Next} = P} when Seq > A, Seq < Next ->
            count(resends, put_peer(From, P#peer{acked = Seq - 1, next = Seq,
                                                 waiting_since = undefined}, St));
        _ ->
            St
    end.

%% Sync timeouts and breakers, once per tick.
check_peers(#st{opts = #{sync_timeout_ms := Timeout}, bulk_from = From, bulk_last = Last} = St)
  when is_pid(From) ->
    %% The bulk stopped coming (its sender is slow or gone): sessions repair the rest.
    case now_ms() - Last > Timeout of
        true -> check_peers(bulk_over(count(bulk_timeouts, St)));
        false -> check_peers_(St)
    end;
check_peers(St) ->
    check_peers_(expire_fragments(St)).

check_peers_(#st{peers = Peers, opts = O} = St) ->
    Now = now_ms(),
    Timeout = maps:get(sync_timeout_ms, O),
    maps:fold(
      fun(Pid, #peer{breaker = {open, Until}} = P, A) when Now >= Until ->
              %% Half-open: try again, through anti-entropy first.
              A1 = put_peer(Pid, P#peer{breaker = half_open, next = P#peer.acked + 1,
                                        waiting_since = undefined}, A),
              start_ae(Pid, A1);
         (Pid, #peer{bulk = {held, Since}} = P, A) when Now - Since > ?HOLD_MAX_MS ->
              start_ae(Pid, put_peer(Pid, P#peer{bulk = none}, A));
         (Pid, #peer{waiting_since = W} = P, A) when is_integer(W), Now - W > Timeout ->
              A1 = count(sync_timeouts, A),
              failed(Pid, P#peer{next = P#peer.acked + 1, waiting_since = undefined}, A1);
         (_, _, A) ->
              A
      end, St, Peers).

failed(Pid, #peer{failures = F, trips = T, node = Node} = P, #st{opts = O} = St) ->
    F1 = F + 1,
    MaxTrips = maps:get(max_trips, O),
    case F1 >= maps:get(failure_threshold, O) orelse P#peer.breaker =:= half_open of
        false ->
            put_peer(Pid, P#peer{failures = F1}, St);
        true when T + 1 >= MaxTrips ->
            St1 = event({peer_dropped, Node}, count(peers_dropped, count(breaker_opens, St))),
            St1#st{peers = maps:remove(Pid, St1#st.peers),
                   dropped = (St1#st.dropped)#{Node => true}};
        true ->
            Until = now_ms() + maps:get(reset_timeout_ms, O),
            event({breaker_open, Node},
                  count(breaker_opens, put_peer(Pid, P#peer{failures = 0, trips = T + 1,
                                                            breaker = {open, Until}}, St)))
    end.

close_breaker(_Pid, #peer{breaker = closed} = P, _St) ->
    P;
close_breaker(_Pid, #peer{node = Node} = P, St) ->
    _ = event({breaker_closed, Node}, St),
    P#peer{breaker = closed, failures = 0}.

put_peer(Pid, P, #st{peers = Peers} = St) ->
    case Peers of
        #{Pid := _} -> St#st{peers = Peers#{Pid := P}};
        _ -> St
    end.

%%--------------------------------------------------------------------------------------------
%% Receiving

incoming_batch(From, Start, Seq, Hlc, Bin, St) when is_integer(Start), Start >= 0,
                                                    is_integer(Seq), Seq > 0, is_binary(Bin) ->
    case admit(Hlc, Bin, St) of
        {ok, St1} ->
            Expect = maps:get(From, St1#st.expect, max(Start, 1)),
            if
                Start =:= 0 ->
                    %% gossip: no stream, no order, no acknowledgement
                    element(2, enqueue({batch, From, 0, Hlc, Bin}, St1));
                Seq < Expect ->
                    %% a duplicate: merged already; say so again
                    send(From, {?TAG, ack, self(), Expect - 1}, St1),
                    count(duplicates, St1);
                Seq > Expect ->
                    send(From, {?TAG, nack, self(), Expect}, St1),
                    count(gaps, St1);
                true ->
                    case enqueue({batch, From, Seq, Hlc, Bin}, St1) of
                        {dropped, St2} ->
                            St2;
                        {queued, St2} ->
                            St2#st{expect = (St2#st.expect)#{From => Seq + 1}}
                    end
            end;
        {refused, St1} ->
            St1
    end;
incoming_batch(_From, _Start, _Seq, _Hlc, _Bin, St) ->
    count(malformed, St).

incoming_repair(From, Hlc, Bin, St) when is_binary(Bin) ->
    case admit(Hlc, Bin, St) of
        {ok, St1} ->
            St2 = case St1 of
                      #st{bulk_from = From} -> St1#st{bulk_last = now_ms()};
                      _ -> St1
                  end,
            element(2, enqueue({repair, From, 0, Hlc, Bin}, St2));
        {refused, St1} ->
            St1
    end;
incoming_repair(_, _, _, St) ->
    count(malformed, St).

%% A part of a message over max_message_size (send_large/3). The parts are kept until all have
%% come, within bounds: a message of at most max_entry_size, parts under max_message_size, all
%% partial messages together under max_queue_bytes; a message whose parts stop coming for
%% sync_timeout_ms is dropped (fragments_expired). The whole message is then admitted as a
%% repair.
incoming_fragment(From, Hlc, Id, I, N, Part, #st{opts = O} = St)
  when is_integer(Id), is_integer(I), is_integer(N), I >= 1, I =< N, is_binary(Part) ->
    #{max_message_size := Max, max_entry_size := MaxEntry, max_queue_bytes := MaxQ} = O,
    Key = {From, Id},
    {N0, Parts, Bytes, _} = maps:get(Key, St#st.frags, {N, #{}, 0, 0}),
    Size = byte_size(Part),
    MaxParts = MaxEntry div max(1, Max - ?FRAGMENT_OVERHEAD) + 1,
    if
        N0 =/= N; Size > Max; Bytes + Size > MaxEntry; N > MaxParts ->
            drop_fragments(Key, count(malformed, St));
        St#st.frag_bytes + Size > MaxQ ->
            drop_fragments(Key, count(backpressure_drops, St));
        is_map_key(I, Parts) ->
            count(duplicates, St);
        map_size(Parts) + 1 =:= N ->
            St1 = drop_fragments(Key, St),
            Whole = iolist_to_binary([maps:get(J, Parts#{I => Part})
                                      || J <- lists:seq(1, N)]),
            case admit(Hlc, Whole, MaxEntry, count(fragments_received, St1)) of
                {ok, St3} ->
                    element(2, enqueue({repair, From, 0, Hlc, Whole},
                                       count(large_received, St3)));
                {refused, St3} ->
                    St3
            end;
        true ->
            count(fragments_received,
                  St#st{frags = (St#st.frags)#{Key => {N, Parts#{I => Part}, Bytes + Size,
                                                       now_ms()}},
                        frag_bytes = St#st.frag_bytes + Size})
    end;
incoming_fragment(_From, _Hlc, _Id, _I, _N, _Part, St) ->
    count(malformed, St).

drop_fragments(Key, #st{frags = F} = St) ->
    case maps:take(Key, F) of
        {{_, _, Bytes, _}, F1} -> St#st{frags = F1, frag_bytes = St#st.frag_bytes - Bytes};
        error -> St
    end.

%% Partial messages whose parts stopped coming, or whose sender left.
expire_fragments(#st{frags = F} = St) when map_size(F) =:= 0 ->
    St;
expire_fragments(#st{frags = F, opts = #{sync_timeout_ms := T}, peers = Peers} = St) ->
    Now = now_ms(),
    Old = [K || {{Pid, _} = K, {_, _, _, Last}} <- maps:to_list(F),
                Now - Last > T orelse not is_map_key(Pid, Peers)],
    lists:foldl(fun(K, A) -> drop_fragments(K, count(fragments_expired, A)) end, St, Old).

%% Size and clock checks, before anything is decoded.
admit(Hlc, Bin, #st{opts = #{max_message_size := Max}} = St) ->
    admit(Hlc, Bin, Max, St).

admit(Hlc, Bin, Max, St) ->
    if
        byte_size(Bin) > Max ->
            {refused, count(oversized_messages, St)};
        not is_integer(Hlc) ->
            {refused, count(malformed, St)};
        true ->
            case catch lattice_hlc:update(Hlc) of
                {ok, _} ->
                    {ok, bump(bytes_received, byte_size(Bin), St)};
                {error, {clock_skew, _}} ->
                    {refused, count(clock_skew_refused, St)};
                _ ->
                    {refused, count(malformed, St)}
            end
    end.

%% Bounded in batches (max_queue_size) and in bytes (max_queue_bytes): a full queue drops the
%% batch, which its sender sends again (a delta batch) or the next session finds (a repair).
enqueue(_Item, #st{queue_len = L, queue_bytes = B,
                  opts = #{max_queue_size := Max, max_queue_bytes := MaxB}} = St)
  when L >= Max; B >= MaxB ->
    {dropped, count(backpressure_drops, St)};
enqueue({_, _, _, _, Bin} = Item, #st{queue = Q, queue_len = L, queue_bytes = B} = St) ->
    {queued, schedule_merge(St#st{queue = queue:in(Item, Q), queue_len = L + 1,
                                  queue_bytes = B + byte_size(Bin)})}.

schedule_merge(#st{merging = true} = St) -> St;
schedule_merge(St) ->
    self() ! merge_next,
    St#st{merging = true}.

%% One batch per message to ourselves, so acknowledgements, ticks and calls interleave.
merge_next(#st{queue = Q, queue_len = L} = St) ->
    case queue:out(Q) of
        {empty, _} ->
            St;
        {{value, {bulk_done, _, _, _, _}}, Q1} ->
            schedule_merge_if(bulk_over(St#st{queue = Q1, queue_len = L - 1}));
        {{value, {Kind, From, Seq, Hlc, Bin}}, Q1} ->
            St1 = merge_batch(Kind, From, Hlc, Bin,
                              St#st{queue = Q1, queue_len = L - 1,
                                    queue_bytes = St#st.queue_bytes - byte_size(Bin)}),
            case Kind of
                batch when Seq > 0 -> send(From, {?TAG, ack, self(), Seq}, St1);
                _ -> ok
            end,
            schedule_merge_if(St1)
    end.

schedule_merge_if(#st{queue_len = 0} = St) -> St;
schedule_merge_if(St) -> schedule_merge(St).

merge_batch(Kind, From, Hlc, Bin, #st{store = Store} = St) ->
    case decode_items(Bin, St) of
        {ok, Items} ->
            Entries = [{K, E} || {K, entry, E} <- Items],
            Deltas = [I || {_, T, _} = I <- Items, T =/= entry],
            Results = lists:append([lattice_store:merge_many(Store, C)
                                    || C <- chunks(Entries, ?MERGE_CHUNK)]) ++
                lists:append([lattice_store:merge_deltas(Store, C)
                               || C <- chunks(Deltas, ?MERGE_CHUNK)]),
            Bad = length([R || {error, {bad_entry, _}} = R <- Results]),
            Full = length([R || {error, limit_reached} = R <- Results]),
            leaves(Store, [K || {K, _, _} <- Items]),
            St1 = bump(invalid_states, Bad, bump(limit_refused, Full, St)),
            St2 = lag(Hlc, St1),
            lattice_telemetry:execute([lattice, sync, merge],
                                      #{items => length(Items), bytes => byte_size(Bin),
                                        invalid => Bad, refused => Full},
                                      #{store => Store, node => node(), from => node(From),
                                        kind => Kind}),
            case Kind of
                batch -> bump(deltas_received_items, length(Items), count(batches_received, St2));
                repair ->
                    event({repaired, node(From), length(Items)},
                          bump(keys_repaired, length(Items), count(repairs_received, St2)))
            end;
        {error, Why} ->
            count(Why, St)
    end.

%% Peer validation: the shape, known types, and states within the actor cap; every entry is
%% validated again by the store (lattice_store_entry:validate/1).
decode_items(Bin, #st{opts = #{max_actors := MaxActors}}) ->
    case lattice_canon:decode(Bin) of
        {ok, Groups} ->
            case unwire(Groups) of
                {ok, Items} ->
                    case lists:all(fun(I) -> valid_item(I, MaxActors) end, Items) of
                        true -> {ok, Items};
                        false -> {error, invalid_states}
                    end;
                error ->
                    {error, malformed}
            end;
        {error, _} ->
            {error, malformed}
    end.

valid_item({_Key, entry, Entry}, Max) when is_map(Entry) ->
    lists:all(fun({T, {_, S, _}}) -> lattice_store_entry:is_type(T) andalso
                                         small_enough(T, S, Max);
                 (_) -> false
              end, maps:to_list(Entry));
valid_item({_Key, Type, Delta}, Max) when is_binary(Delta) ->
    lattice_store_entry:is_type(Type) andalso small_enough(Type, Delta, Max) andalso
        (lattice_store_entry:module(Type)):validate(Delta) =:= ok;
valid_item(_, _) ->
    false.

%% Counters carry one entry per actor: a state with more than max_actors is refused (seed 004's
%% "vector clocks over 1,000 entries").
small_enough(T, S, Max) when T =:= g_counter; T =:= pn_counter ->
    %% every actor takes at least two bytes (its name and its count): a smaller state has
    %% fewer than Max actors, without decoding it
    is_binary(S) andalso (byte_size(S) < 2 * Max orelse
        case catch (lattice_store_entry:module(T)):to_term(S) of
            {gcounter, L} when is_list(L) -> length(L) =< Max;
            {pncounter, #{increments := I, decrements := D}} ->
                length(I) =< Max andalso length(D) =< Max;
            _ -> false
        end);
small_enough(_, S, _) ->
    is_binary(S).

%%--------------------------------------------------------------------------------------------
%% Anti-entropy

ae_interval(#st{peers = Peers, opts = #{gossip_threshold := G} = O}) when map_size(Peers) > G ->
    maps:get(gossip_ae_interval_ms, O);
ae_interval(#st{opts = #{ae_interval_ms := infinity}}) ->
    3600000;
ae_interval(#st{opts = #{ae_interval_ms := I}}) ->
    I.

ae_round(#st{opts = #{enabled := false}} = St) ->
    St;
ae_round(#st{peers = Peers, opts = #{gossip_threshold := G}} = St) when map_size(Peers) > G ->
    lists:foldl(fun initiate_ae/2, St, pick(1, maps:keys(Peers)));
ae_round(#st{opts = #{ae_interval_ms := infinity}} = St) ->
    St;
ae_round(#st{peers = Peers} = St) ->
    %% Each pair's periodic session is the smaller node's.
    maps:fold(fun(Pid, _, A) when node() < node(Pid) -> initiate_ae(Pid, A);
                 (_, _, A) -> A
              end, St, Peers).

%% A session with the peer is wanted: started here if this node is the smaller of the two, or
%% asked of the peer (one initiator per pair, so two wishes do not make two sessions that
%% each send every differing key).
start_ae(Pid, St) when node() < node(Pid) ->
    initiate_ae(Pid, St);
start_ae(Pid, #st{peers = Peers} = St) ->
    case Peers of
        #{Pid := _} -> ae_held(Pid, St) orelse send(Pid, {?TAG, ae_request, self()}, St);
        _ -> ok
    end,
    St.

initiate_ae(_Pid, #st{ae_open = false} = St) ->
    St;
initiate_ae(_Pid, #st{opts = #{enabled := false}} = St) ->
    %% disabled: no session from us (enable_sync does not start one: the next round does)
    St;
initiate_ae(Pid, #st{peers = Peers, store = Store} = St) ->
    Held = ae_held(Pid, St),
    case Peers of
        #{Pid := #peer{}} when Held ->
            St;
        #{Pid := #peer{ae_busy = true} = P} ->
            put_peer(Pid, P#peer{ae_again = true}, St);
        #{Pid := #peer{node = Node} = P} ->
            %% The leaves must hold every change before the trees are compared.
            St1 = flush_deltas(St),
            case catch lattice_ae:sync(Store, Node) of
                ok ->
                    count(ae_sessions, put_peer(Pid, P#peer{ae_busy = true, ae_again = false},
                                                St1));
                _ ->
                    retry_ae(Pid, count(ae_errors, St1))
            end;
        _ ->
            St
    end.

ae_report(#{node := Node, role := initiator} = R, St) ->
    %% Only a session we started (a peer's ae_busy): the report's content says nothing of
    %% who sent it, and a forged one would report false differences to our subscribers.
    case [x || #peer{node = N, ae_busy = true} <- maps:values(St#st.peers), N =:= Node] of
        [] -> count(ae_reports_unexpected, St);
        _ -> ae_report_of(R, St)
    end;
ae_report(R, St) ->
    ae_report_of(R, St).

ae_report_of(#{node := Node, result := Result, role := Role} = R, #st{store = Store} = St) ->
    lattice_telemetry:execute([lattice, ae, session],
                              #{duration_us => maps:get(time_us, R, 0),
                                bytes_out => maps:get(bytes_out, R, 0),
                                keys => length(maps:get(keys, R, []))},
                              #{store => Store, node => node(), peer => Node, role => Role,
                                result => case Result of
                                              {error, _} -> error;
                                              _ -> Result
                                          end}),
    St0 = bump(ae_bytes_out, maps:get(bytes_out, R, 0),
               St#st{last = (St#st.last)#{sync_latency_us => maps:get(time_us, R, 0)}}),
    {Pid, P} = case [{Pd, Pr} || {Pd, #peer{node = N} = Pr} <- maps:to_list(St0#st.peers),
                                 N =:= Node] of
                   [X | _] -> X;
                   [] -> {undefined, undefined}
               end,
    St1 = case {Role, P} of
              {initiator, #peer{}} -> put_peer(Pid, P#peer{ae_busy = false}, St0);
              _ -> St0
          end,
    case Result of
        {error, _} when Role =:= initiator, P =/= undefined ->
            %% A failed probe of a half-open breaker opens it again; any other failed session
            %% (the peer's C node not up yet, busy, restarting) is tried again soon.
            St2 = count(ae_errors, St1),
            case maps:get(Pid, St2#st.peers) of
                #peer{breaker = half_open} = P2 -> failed(Pid, P2, St2);
                _ -> retry_ae(Pid, St2)
            end;
        {error, _} ->
            count(ae_errors, St1);
        _ when Pid =:= undefined ->
            St1;
        _ ->
            St1b = put_peer(Pid, (maps:get(Pid, St1#st.peers))#peer{ae_backoff = 0}, St1),
            Diff = maps:get(keys, R, []),
            Keys = [K || {K, Side} <- Diff, Side =/= remote_only],
            St2 = push_entries(Pid, Store, Keys, diff_event(Node, Role, Diff, St1b)),
            St3 = case maps:get(truncated, R, false) of
                      true -> put_peer(Pid, (maps:get(Pid, St2#st.peers))#peer{ae_again = true},
                                       St2);
                      false -> St2
                  end,
            case {Role, maps:get(Pid, St3#st.peers, undefined)} of
                {initiator, #peer{ae_again = true} = P3} ->
                    initiate_ae(Pid, put_peer(Pid, P3#peer{ae_again = false}, St3));
                {_, #peer{breaker = half_open} = P3} ->
                    put_peer(Pid, close_breaker(Pid, P3, St3), St3);
                _ ->
                    St3
            end
    end;
ae_report_of(_, St) ->
    St.

retry_ae(Pid, #st{peers = Peers} = St) ->
    case Peers of
        #{Pid := #peer{ae_backoff = B} = P} ->
            B1 = min(?AE_RETRY_MAX, max(?AE_RETRY_MIN, B * 2)),
            erlang:send_after(B1, self(), {ae_retry, Pid}),
            put_peer(Pid, P#peer{ae_backoff = B1}, St);
        _ ->
            St
    end.

%% The keys a session found different, decoded, for subscribers (once per session: the
%% initiator's side).
diff_event(_Node, responder, _Diff, St) -> St;
diff_event(_Node, _Role, [], St) -> St;
diff_event(Node, initiator, Diff, St) ->
    Keys = [K || {KB, _} <- Diff, {ok, K} <- [lattice_canon:decode(KB)]],
    bump(ae_keys_differing, length(Keys), event({diff, Node, Keys}, St)).

%% Our entries of the keys a session listed, to the peer, in chunks under max_message_size.
push_entries(_Pid, _Store, [], St) ->
    St;
push_entries(Pid, Store, KeyBins, St) ->
    %% A chunk now, the rest from our own mailbox: the peer starts merging while we read the
    %% next entries, and acknowledgements, ticks and calls are served in between.
    {Now, Later} = split_chunk(KeyBins),
    Later =/= [] andalso (self() ! {push_more, Pid, Later}),
    push_keys(Pid, Store, [Key || KB <- Now, {ok, Key} <- [lattice_canon:decode(KB)]], St).

split_chunk(List) ->
    case length(List) > ?PUSH_CHUNK of
        true -> lists:split(?PUSH_CHUNK, List);
        false -> {List, []}
    end.

%% Our entries of the keys, to the peer as repairs under max_message_size. Nothing while sync
%% is disabled: a session the peer started finds the keys again after enable_sync.
push_keys(_Pid, _Store, _Keys, #st{opts = #{enabled := false}} = St) ->
    St;
push_keys(Pid, Store, Keys, #st{opts = #{max_message_size := Max}} = St) ->
    Items = [{Key, entry, E} || Key <- Keys, {ok, E} <- [lattice_store:entry(Store, Key)]],
    {Bins, Large} = encode_batches(Items, Max),
    St1 = lists:foldl(fun({Bin, _}, A) ->
                              send(Pid, {?TAG, repair, self(), lattice_hlc:now(), Bin}, A),
                              bump(bytes_sent, byte_size(Bin), count(repairs_sent, A))
                      end, bump(keys_pushed, length(Items), St), Bins),
    send_large([Pid], Large, St1).

%% The leaves of changed keys: each key's entry digest, or its removal when the store no
%% longer has it. Keys whose canonical form is over lattice_ae's 4096 bytes have no leaf.
leaves(_Store, []) ->
    ok;
leaves(Store, Keys) ->
    Changes = lists:filtermap(
                fun(Key) ->
                        KB = lattice_canon:encode(Key),
                        case byte_size(KB) =< 4096 of
                            false -> false;
                            true ->
                                case lattice_store:digest(Store, Key) of
                                    {ok, D} -> {true, {KB, D}};
                                    {error, not_found} -> {true, {KB, delete}}
                                end
                        end
                end, lists:usort(Keys)),
    _ = catch lattice_ae:update(Store, Changes),
    ok.

%%--------------------------------------------------------------------------------------------
%% Figures

lag(Hlc, #st{lag = {N, Samples}} = St) ->
    Ms = max(0, erlang:system_time(millisecond) - lattice_hlc:physical(Hlc)),
    St#st{lag = {N + 1, Samples#{N rem ?LAG_SAMPLES => Ms}}}.

stats_map(#st{store = Store, counters = C, peers = Peers, lag = {_, Samples}} = St) ->
    Info = catch lattice_store:info(Store),
    Lag = lists:sort(maps:values(Samples)),
    Reachable = length([P || P <- maps:values(Peers), P#peer.breaker =:= closed]),
    Known = map_size(Peers) + map_size(St#st.lost),
    Names = [deltas_sent_items, deltas_received_items, batches_sent, batches_received,
             bytes_sent, bytes_received, keys_repaired, keys_pushed, repairs_sent,
             repairs_received, resends, duplicates, gaps, sync_timeouts, breaker_opens,
             backpressure_drops, oversized_messages, oversized_entries, clock_skew_refused,
             invalid_states, malformed, limit_refused, peers_refused, peers_lost,
             peers_dropped, peers_behind, partitions_healed, buffer_overflows, ae_sessions,
             ae_errors, ae_keys_differing, ae_bytes_out, ae_reports_unexpected, bulks_sent,
             bulks_requested, bulk_timeouts, bulks_refused, large_sent, large_received, fragments_sent,
             fragments_received, fragments_expired],
    maps:merge(maps:merge(maps:from_list([{K, maps:get(K, C, 0)} || K <- Names]),
               #{peers => map_size(Peers),
                 peer_reachability => case Known of 0 -> 1.0; _ -> Reachable / Known end,
                 mode => case map_size(Peers) > maps:get(gossip_threshold, St#st.opts) of
                             true -> gossip;
                             false -> full_mesh
                         end,
                 merge_queue => St#st.queue_len,
                 merge_queue_bytes => St#st.queue_bytes,
                 buffered_batches => ets:info(St#st.out, size),
                 buffered_bytes => St#st.out_bytes,
                 replication_lag_ms => #{p50 => pct(Lag, 50), p99 => pct(Lag, 99),
                                         max => pct(Lag, 100)},
                 sync_latency_us => maps:get(sync_latency_us, St#st.last, 0),
                 merge_conflicts => case Info of #{type_conflicts := TC} -> TC; _ -> 0 end,
                 state_size_bytes => case Info of #{table_bytes := TB} -> TB; _ -> 0 end,
                 keys => case Info of #{rows := R} -> R; _ -> 0 end,
                 enabled => maps:get(enabled, St#st.opts),
                 peer_messages => #{sent => maps:get(peer_messages_sent, C, 0),
                                    received => maps:get(peer_messages_received, C, 0),
                                    dropped => maps:get(peer_messages_dropped, C, 0)},
                 sealed_refused => maps:get(sealed_refused, C, 0)}),
               sec_stats(St)).

sec_stats(#st{sec = undefined}) ->
    #{secure => false};
sec_stats(#st{counters = C} = St) ->
    Refused = maps:from_list([{R, N} || {{secure_refused, R}, N} <- maps:to_list(C)]),
    Chans = chans(St),
    #{secure => true,
      secure_refused => Refused,
      channels => length([x || #chan{epoch = E} <- maps:values(Chans), E > 0]),
      channel_epochs => maps:from_list([{N, E} || {N, #chan{epoch = E}} <- maps:to_list(Chans)]),
      secure_counts => maps:from_list(
                         [{K, maps:get(K, C, 0)}
                          || K <- [handshakes_started, channels_established, rekeys,
                                   sealed_received, peers_cut_off, revocations_forwarded,
                                   revocations_taken, revocations_stale, ae_keys_set,
                                   ae_key_errors]]
                         ++ [{seal_failures, get_int(seal_failures)},
                             {unsent_no_channel, get_int(unsent_no_channel)}])}.

pct([], _) -> 0;
pct(L, P) -> lists:nth(max(1, (length(L) * P + 99) div 100), L).

peer_info(#peer{} = P) ->
    #{pid => P#peer.pid, breaker => case P#peer.breaker of {open, _} -> open; B -> B end,
      acked => P#peer.acked, next => P#peer.next, failures => P#peer.failures,
      trips => P#peer.trips}.

health(#st{opts = #{enabled := false}}) ->
    {disabled, []};
health(#st{peers = Peers, lost = Lost, dropped = Dropped, queue_len = QL,
            opts = #{max_queue_size := MaxQ}}) ->
    Open = [{breaker_open, N} || #peer{node = N, breaker = B} <- maps:values(Peers),
                                 B =/= closed],
    Down = [{peer_down, N} || N <- maps:keys(Lost)],
    Gone = [{peer_dropped, N} || N <- maps:keys(Dropped)],
    Queue = [{merge_queue_high, QL} || QL * 5 > MaxQ * 4],
    case Open ++ Down ++ Gone ++ Queue of
        [] -> {healthy, []};
        Reasons -> {degraded, Reasons}
    end.

event(Event, #st{subs = Subs, store = Store} = St) ->
    _ = [Pid ! {lattice_repl, Store, Event} || Pid <- maps:values(Subs)],
    St.

count(K, St) -> bump(K, 1, St).

bump(_K, 0, St) -> St;
bump(K, N, #st{counters = C} = St) -> St#st{counters = C#{K => maps:get(K, C, 0) + N}}.

%% Not secure: the message itself. Secure: sealed in the peer's channel (or not sent at all).
send(Pid, Msg, #st{sec = undefined}) ->
    erlang:send(Pid, Msg, [noconnect]);
send(Pid, Msg, St) ->
    sec_send(Pid, Msg, St).

now_ms() -> erlang:monotonic_time(millisecond).

chunks([], _) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) ->
    {A, B} = lists:split(N, L),
    [A | chunks(B, N)].

%%--------------------------------------------------------------------------------------------
%% Secure replication (docs/REPLICATION.md, "Secure replication")
%%
%% One channel (lattice_channel) per peer node, made by the smaller node of the pair (the
%% initiator), with the options of lattice_security:channel_opts/1: the peer's certificate
%% must be valid now, unrevoked, of this cluster, and name the node its messages come from.
%% On the wire everything is `{?TAG, sealed, From, Bin}', Bin a channel message: a handshake
%% message, or a transport message whose plaintext is the protocol message itself (as
%% term_to_binary/1), whose sender pid must be `From', the pid the channel was made with. A
%% node becomes a peer only through a sealed hello. Every refusal is counted by reason
%% (`secure_refused' in stats/1) and changes nothing else.


sec_init(#{secure := false}) ->
    undefined;
sec_init(#{secure := true}) ->
    #{seq => lattice_security:revocation_sequence(), chans => #{}, retry => #{}}.

%% A node whose handshake was refused, timed out or was cut off is tried again only after
%% this long (not at every poll of the group).
-define(RETRY_MS, 1000).

later(Node, #st{sec = #{retry := R} = Sec} = St) ->
    St#st{sec = Sec#{retry := R#{Node => now_ms() + ?RETRY_MS}}}.

refuse(Reason, St) ->
    count({secure_refused, Reason}, St).

chans(#st{sec = #{chans := C}}) -> C.

put_chans(C, #st{sec = Sec} = St) -> St#st{sec = Sec#{chans := C}}.

%% A channel with Node, started here when this node is the smaller of the two.
sec_connect(Node, St) ->
    #st{sec = #{retry := Retry}} = St,
    case node() < Node andalso not is_map_key(Node, chans(St)) andalso
        case Retry of #{Node := At} -> now_ms() >= At; _ -> true end of
        false ->
            St;
        true ->
            case lattice_security:channel_opts(Node) of
                {ok, Opts} ->
                    case lattice_channel:initiate(Opts) of
                        {ok, Ch, Out} ->
                            _ = [erlang:send({name(St#st.store), Node},
                                             {?TAG, sealed, self(), M}, [noconnect])
                                 || M <- Out],
                            count(handshakes_started,
                                  put_chans((chans(St))#{Node => #chan{ch = Ch, role = initiator}},
                                            St));
                        {error, R} ->
                            refuse(R, St)
                    end;
                {error, _} ->
                    refuse(not_configured, St)
            end
    end.

sealed_in(From, Bin, #st{opts = #{max_message_size := Max}} = St)
  when is_pid(From), is_binary(Bin) ->
    Node = node(From),
    if
        Node =:= node() -> refuse(malformed, St);
        byte_size(Bin) > Max + ?FRAGMENT_OVERHEAD -> refuse(too_large, St);
        true -> sealed_in(Node, From, lattice_channel:message_type(Bin), Bin, St)
    end;
sealed_in(_, _, St) ->
    refuse(malformed, St).

sealed_in(Node, From, Type, Bin, St) ->
    Chans = chans(St),
    case {Type, maps:get(Node, Chans, undefined)} of
        {unknown, _} ->
            refuse(malformed, St);
        {hs1, _} when Node < node() ->
            %% The sender's pid is the message's own claim: any node with the cookie can
            %% write a pid of any node name. A node we are not connected to can send nothing
            %% (nor get our answer): refused before any channel state is made for it, so that
            %% forged names cannot pile up handshakes (each holds guarded memory).
            case lists:member(Node, nodes()) of
                true -> responder_hs1(Node, From, Bin, St);
                false -> refuse(not_connected, St)
            end;
        {hs1, _} ->
            %% we are the initiator of this pair
            refuse(unexpected_message, St);
        {hs2, #chan{role = initiator, pid = P} = C} when P =:= undefined; P =:= From ->
            handshake(Node, From, C#chan{pid = From}, C#chan.ch, Bin, St);
        {hs3, #chan{role = responder, pending = {From, PCh}} = C} ->
            handshake(Node, From, C, PCh, Bin, St);
        {hs3, #chan{role = responder, pid = From} = C} ->
            handshake(Node, From, C, C#chan.ch, Bin, St);
        {data, #chan{pid = From, epoch = E, ch = Ch}} when E > 0 ->
            case lattice_channel:handle(Ch, Bin) of
                {data, Plain, _} -> open_in(From, Plain, St);
                {error, R} -> refuse(R, St);
                {handshake, _, _} -> refuse(malformed, St)
            end;
        {data, _} ->
            refuse(no_channel, St);
        {_, _} ->
            refuse(unexpected_message, St)
    end.

%% Message 1: a rekey of the established channel with the same process, or a new handshake
%% (which replaces the channel only once it completes).
responder_hs1(Node, From, Bin, St) ->
    Chans = chans(St),
    case maps:get(Node, Chans, undefined) of
        #chan{pid = From, epoch = E} = C when E > 0 ->
            handshake(Node, From, C, C#chan.ch, Bin, St);
        Old ->
            case lattice_security:channel_opts(Node) of
                {ok, Opts} ->
                    {ok, Ch} = lattice_channel:respond(Opts),
                    case lattice_channel:handle(Ch, Bin) of
                        {handshake, Out, Ch1} ->
                            _ = [erlang:send(From, {?TAG, sealed, self(), M}, [noconnect])
                                 || M <- Out],
                            C1 = case Old of
                                     #chan{epoch = E} = OC when E > 0 ->
                                         OC#chan{pending = {From, Ch1}};
                                     _ ->
                                         #chan{pid = From, ch = Ch1, role = responder}
                                 end,
                            put_chans(Chans#{Node => C1}, St);
                        {error, R} ->
                            refuse(R, St);
                        {data, _, _} ->
                            refuse(malformed, St)
                    end;
                {error, _} ->
                    refuse(not_configured, St)
            end
    end.

%% A handshake message on channel Ch (the channel C's own, or its pending one).
handshake(Node, From, C, Ch, Bin, St) ->
    case lattice_channel:handle(Ch, Bin) of
        {handshake, Out, Ch1} ->
            _ = [erlang:send(From, {?TAG, sealed, self(), M}, [noconnect]) || M <- Out],
            case lattice_channel:established(Ch1) of
                false ->
                    put_chans((chans(St))#{Node => C#chan{ch = Ch1}}, St);
                true ->
                    established(Node, From, C, Ch1, St)
            end;
        {error, R} ->
            St1 = refuse(R, St),
            case C of
                #chan{pending = {From, _}} ->
                    put_chans((chans(St1))#{Node => C#chan{pending = undefined}}, St1);
                #chan{epoch = 0} ->
                    %% a first handshake refused: no channel (the initiator tries again)
                    later(Node, put_chans(maps:remove(Node, chans(St1)), St1));
                _ when element(1, R) =:= bad_certificate; R =:= peer_changed;
                       R =:= wrong_peer ->
                    %% a rekey refused on the peer's certificate, which only an authentic
                    %% handshake message can carry (a forged one fails its MAC first): the
                    %% two sides may now be on different epochs, and the peer is not one
                    %% any more
                    later(Node, count(peers_cut_off, drop_chan(Node, St1)));
                _ ->
                    St1
            end;
        {data, _, _} ->
            refuse(malformed, St)
    end.

%% A handshake completed: a new channel (then our sealed hello makes the peer) or a rekey.
established(Node, From, C, Ch, St) ->
    #{epoch := Epoch} = lattice_channel:info(Ch),
    New = C#chan.epoch =:= 0 orelse C#chan.pid =/= From,
    case C#chan.pending of
        {From, _} when C#chan.pid =/= From ->
            %% the old process's channel is gone: so is that peer
            lattice_channel:close(C#chan.ch),
            ok;
        _ ->
            ok
    end,
    C1 = C#chan{pid = From, ch = Ch, epoch = Epoch, pending = undefined},
    St1 = put_chans((chans(St))#{Node => C1}, St),
    St2 = set_ae_key(Node, Ch, St1),
    lattice_telemetry:execute([lattice, crypto, channel], #{epoch => Epoch},
                              #{store => St#st.store, node => node(), peer => Node,
                                kind => case New of true -> established; false -> rekey end}),
    case New of
        true ->
            St3 = count(channels_established, St2),
            send(From, {?TAG, hello, self(), St3#st.fresh}, St3),
            St3;
        false ->
            count(rekeys, St2)
    end.

%% The anti-entropy sessions with the peer's C node are keyed from the channel (a key of the
%% channel's epoch: a new one at each rekey).
set_ae_key(Node, Ch, #st{store = Store} = St) ->
    case lattice_channel:ae_key(Ch) of
        <<_:256>> = Key ->
            case catch lattice_ae:set_peer_key(Store, Node, Key) of
                ok -> count(ae_keys_set, St);
                _ -> count(ae_key_errors, St)
            end;
        _ ->
            St
    end.

clear_ae_key(Node, #st{store = Store}) ->
    _ = catch lattice_ae:clear_peer_key(Store, Node),
    ok.

%% A transport message's plaintext: one protocol message of the channel's process.
open_in(From, Plain, St) ->
    case catch binary_to_term(Plain, [safe]) of
        Msg when is_tuple(Msg), tuple_size(Msg) >= 3, element(1, Msg) =:= ?TAG,
                 element(3, Msg) =:= From, element(2, Msg) =/= sealed ->
            protocol(Msg, bump(sealed_received, 1, St));
        _ ->
            refuse(malformed, St)
    end.

sec_send(Pid, Msg, St) ->
    case chans(St) of
        #{node(Pid) := #chan{pid = Pid, epoch = E, ch = Ch}} when E > 0 ->
            case lattice_channel:encrypt(Ch, term_to_binary(Msg)) of
                {ok, Out, _} ->
                    _ = [erlang:send(Pid, {?TAG, sealed, self(), M}, [noconnect]) || M <- Out],
                    ok;
                {error, _} ->
                    %% (the tick drops a channel that can no longer send)
                    put(seal_failures, get_int(seal_failures) + 1),
                    ok
            end;
        _ ->
            put(unsent_no_channel, get_int(unsent_no_channel) + 1),
            ok
    end.

get_int(K) ->
    case get(K) of
        undefined -> 0;
        N -> N
    end.

%% Every tick: the channels' timers, a new revocation list (forwarded, and revoked peers cut
%% off), and every peer's certificate checked again (revoked or expired: cut off).
sec_tick(#st{sec = undefined} = St) ->
    St;
sec_tick(#st{sec = #{seq := Seq}} = St) ->
    NewSeq = lattice_security:revocation_sequence(),
    St1 = case NewSeq =/= Seq of
              true -> forward_revocations(St#st{sec = (St#st.sec)#{seq := NewSeq}});
              false -> St
          end,
    %% Our own certificate revoked or expired (or the configuration gone): no peer at all.
    case own_check() of
        ok ->
            maps:fold(fun chan_tick/3, St1, chans(St1));
        {error, Why} ->
            case maps:keys(chans(St1)) of
                [] -> St1;
                Nodes -> lists:foldl(fun(N, A) -> later(N, drop_chan(N, A)) end,
                                     refuse({own_certificate, Why}, St1), Nodes)
            end
    end.

own_check() ->
    case lattice_security:config() of
        {ok, #{cert := Cert}} -> lattice_security:check_peer(Cert);
        {error, _} -> {error, not_configured}
    end.

forward_revocations(St) ->
    case lattice_security:revocations() of
        Bin when is_binary(Bin) ->
            maps:fold(fun(_, #chan{pid = Pid, epoch = E}, A) when E > 0 ->
                              send(Pid, {?TAG, revocations, self(), Bin}, A),
                              count(revocations_forwarded, A);
                         (_, _, A) -> A
                      end, St, chans(St));
        none ->
            St
    end.

chan_tick(Node, #chan{ch = Ch, epoch = E, pid = Pid} = C, St) ->
    Check = case E > 0 of
                true -> lattice_security:check_peer(lattice_channel:peer(Ch));
                false -> ok
            end,
    case Check of
        {error, Why} ->
            cut_off(Node, Why, St);
        ok ->
            case lattice_channel:tick(Ch) of
                {ok, Out, Ch1} ->
                    To = case Pid of undefined -> {name(St#st.store), Node}; _ -> Pid end,
                    _ = [erlang:send(To, {?TAG, sealed, self(), M}, [noconnect]) || M <- Out],
                    St1 = put_chans((chans(St))#{Node => C#chan{ch = Ch1}}, St),
                    expire_pending(Node, St1);
                {error, R} ->
                    %% a first handshake that timed out: tried again a little later
                    later(Node, drop_chan(Node, refuse(R, St)))
            end
    end.

%% A pending handshake (a second one with another process of the node) that did not finish.
expire_pending(Node, St) ->
    case chans(St) of
        #{Node := #chan{pending = {P, PCh}} = C} ->
            case lattice_channel:tick(PCh) of
                {error, R} ->
                    refuse(R, put_chans((chans(St))#{Node => C#chan{pending = undefined}}, St));
                _ ->
                    _ = P,
                    St
            end;
        _ ->
            St
    end.

%% A peer whose certificate no longer holds (revoked, expired, no configuration): its channel
%% closed, and it is no longer a peer.
cut_off(Node, Why, St) ->
    St1 = refuse(case Why of
                     not_configured -> not_configured;
                     _ -> {bad_certificate, Why}
                 end, St),
    later(Node, count(peers_cut_off, drop_chan(Node, St1))).

drop_chan(Node, St) ->
    case maps:take(Node, chans(St)) of
        {#chan{ch = Ch, pending = Pend}, Rest} ->
            lattice_channel:close(Ch),
            case Pend of
                {_, PCh} -> lattice_channel:close(PCh);
                undefined -> ok
            end,
            clear_ae_key(Node, St),
            St1 = put_chans(Rest, St),
            Gone = [P || {P, #peer{node = N}} <- maps:to_list(St1#st.peers), N =:= Node],
            lists:foldl(fun(P, A) -> peer_left(P, cut_off, A) end, St1, Gone);
        error ->
            St
    end.

%% A revocation list from a peer: taken only if it is signed by the authority, of this
%% cluster and newer than ours (lattice_security:set_revocations/1 checks all three).
revocations_in(Bin, St) when is_binary(Bin) ->
    case lattice_security:set_revocations(Bin) of
        ok -> count(revocations_taken, St);
        {error, {bad_security, stale_revocations}} -> count(revocations_stale, St);
        {error, _} -> refuse(bad_revocations, St)
    end;
revocations_in(_, St) ->
    refuse(malformed, St).

%%--------------------------------------------------------------------------------------------
%% Other modules' messages between peers (lattice_checkpoint)

checkpoint_name(Store) -> list_to_atom("lattice_checkpoint_" ++ atom_to_list(Store)).

peer_message_in(From, Msg, #st{peers = Peers, store = Store} = St) ->
    case is_map_key(From, Peers) of
        false ->
            count(peer_messages_dropped, St);
        true ->
            case whereis(checkpoint_name(Store)) of
                undefined ->
                    count(peer_messages_dropped, St);
                To ->
                    To ! {lattice_repl, peer_message, node(From), Msg},
                    count(peer_messages_received, St)
            end
    end.

peer_send_to(Node, Msg, #st{peers = Peers} = St) ->
    case [Pid || {Pid, #peer{node = N}} <- maps:to_list(Peers), N =:= Node] of
        [Pid | _] ->
            send(Pid, {?TAG, peer_message, self(), Msg}, St),
            {ok, count(peer_messages_sent, St)};
        [] ->
            {{error, not_a_peer}, St}
    end.
