%% `make bench BENCH_GROUP=store' and `BENCH_GROUP=cluster': the replicated store against the
%% real delta_crdt (DeltaCrdt.AWLWWMap, from the anchors), in the same run.
%%
%% store (rows in the main table, then tables of their own):
%% <ul>
%% <li>one write and one read from the caller, median of rounds (lattice_store on the default
%%     store, replication running; DeltaCrdt.put/get, GenServer calls);</li>
%% <li>aggregate writes per second from 100 processes with two peer nodes replicating (for
%%     delta_crdt: 100 processes putting into one map with two neighbours), and the bytes on
%%     the distribution wire per write against the deltas' canonical size;</li>
%% <li>the time from a write to its visibility on both peers, under 10k writes/s;</li>
%% <li>a fresh replica catching up 10k and 100k keys (delta_crdt: sync_interval 50, its
%%     default max_sync_size, capped at ?DELTA_CAP_MS).</li>
%% </ul>
%% cluster: 20 nodes on loopback, full mesh and gossip: convergence time and bytes per write.
-module(lattice_bench_store).

-export([rows/0, run/0, cluster/0, handoff/0, secure/0]).
%% Table formats, shared with the other benches of the store (lattice_bench_durable).
-export([yes/1, fmt_rate/1, fmt_ms/1]).

-define(STORE, lattice_store).
-define(DELTA_CAP_MS, 20000).
-define(WRITERS, 100).
-define(AGG_MS, 2000).

%%--------------------------------------------------------------------------------------------
%% One call from the caller: rows of the main table.

rows() ->
    ok = start_lattice(),
    Delta = delta_crdt(),
    ok = lattice_store:create(?STORE, bench_counter, g_counter),
    ok = lattice_store:create(?STORE, bench_set, or_set),
    ok = lattice_store:create(?STORE, bench_reg, lww_register),
    {ok, _} = lattice_store:set(?STORE, bench_reg, <<"value">>),
    [lattice_store:add(?STORE, bench_set, I) || I <- lists:seq(1, 1000)],
    Put = case Delta of
              {ok, C} ->
                  'Elixir.DeltaCrdt':put(C, bench_key, 1),
                  {"DeltaCrdt.put (AWLWWMap, GenServer call)",
                   fun() -> 'Elixir.DeltaCrdt':put(C, bench_key, 1) end};
              skipped -> {skipped, "DeltaCrdt.put"}
          end,
    Get = case Delta of
              {ok, C2} -> {"DeltaCrdt.get", fun() -> 'Elixir.DeltaCrdt':get(C2, bench_key) end};
              skipped -> {skipped, "DeltaCrdt.get"}
          end,
    [{"store: increment a g_counter (from the caller, replication on)",
      fun() -> {ok, _} = lattice_store:increment(?STORE, bench_counter, 1) end, Put, 2.0},
     {"store: add to an or_set of 1k elements",
      fun() -> {ok, _} = lattice_store:add(?STORE, bench_set, rand:uniform(1000)) end, Put, 2.0},
     {"store: set an lww_register",
      fun() -> {ok, _} = lattice_store:set(?STORE, bench_reg, <<"value">>) end, Put, 2.0},
     {"store: get a g_counter", fun() -> {ok, _} = lattice_store:get(?STORE, bench_counter) end,
      Get, 0.5},
     {"store: get an lww_register", fun() -> {ok, _} = lattice_store:get(?STORE, bench_reg) end,
      Get, 0.5},
     {table, fun run/0}].

start_lattice() ->
    {ok, _} = application:ensure_all_started(lattice),
    ok.

%% A DeltaCrdt.AWLWWMap, when the anchors (and Elixir) are on the code path.
delta_crdt() ->
    delta_crdt([{sync_interval, 50}]).

delta_crdt(Opts) ->
    case ensure_elixir() of
        true -> 'Elixir.DeltaCrdt':start_link('Elixir.DeltaCrdt.AWLWWMap', Opts);
        false -> skipped
    end.

ensure_elixir() ->
    case code:which('Elixir.DeltaCrdt') of
        non_existing ->
            false;
        _ ->
            {ok, _} = application:ensure_all_started(elixir),
            {ok, _} = application:ensure_all_started(logger),
            {ok, _} = application:ensure_all_started(telemetry),
            %% delta_crdt logs a warning per start with a sync_interval under 100 ms
            ok = logger:set_primary_config(level, error),
            true
    end.

%%--------------------------------------------------------------------------------------------
%% Tables: aggregate throughput, visibility, catch-up

%% Each table starts from an empty default store (lattice restarted), the node distributed.
run() ->
    Dist = ensure_distributed(),
    try
        Missed = lists:append([begin restart_lattice(), F() end
                               || F <- [fun catch_up/0, fun aggregate/0, fun visibility/0,
                                        fun handoff/0]]),
        io:format("~n"),
        Missed
    after
        stop_peers(),
        case Dist of true -> net_kernel:stop(); false -> ok end
    end.

ensure_distributed() ->
    case is_alive() of
        true -> false;
        false ->
            {ok, _} = net_kernel:start([list_to_atom("lattice_bench_" ++ os:getpid()),
                                        shortnames]),
            true
    end.

restart_lattice() ->
    _ = application:stop(lattice),
    ok = start_lattice().

aggregate() ->
    io:format("~nThe store under load: ~b processes writing for ~b ms on this node (increments "
              "and adds over 10k keys), two peer nodes replicating (the flush interval 10 ms "
              "by default). delta_crdt: ~b processes putting into one DeltaCrdt.AWLWWMap with "
              "two neighbours in this VM (sync_interval 50). Bytes: the distribution wire to "
              "the peers (inet send_oct of their connections), per write per peer, against the "
              "mean canonical size of one write's delta.~n~n", [?WRITERS, ?AGG_MS, ?WRITERS]),
    io:format("| measure | lattice | delta_crdt | target | met |~n|---|---:|---:|---:|:-:|~n"),
    Peers = start_peers(2),
    Nodes = [N || {_, N} <- Peers],
    Keys = 10000,
    [ok = lattice_store:create(?STORE, {agg, I}, case I rem 2 of 0 -> pn_counter; 1 -> or_set end)
     || I <- lists:seq(1, Keys)],
    wait_converged([node() | Nodes], 60000),
    Sent0 = dist_sent(Nodes),
    {Ops, Ms} = hammer(?WRITERS, ?AGG_MS, fun(I) ->
        K = (I * 7919) rem Keys + 1,
        case K rem 2 of
            0 -> lattice_store:increment(?STORE, {agg, K}, 1);
            1 -> lattice_store:add(?STORE, {agg, K}, I rem 64)
        end
    end),
    TConv = now_ms(),
    wait_converged([node() | Nodes], 60000),
    ConvMs = now_ms() - TConv,
    Sent = dist_sent(Nodes) - Sent0,
    Rate = Ops * 1000 / Ms,
    DeltaBytes = mean_delta_bytes(),
    PerWrite = Sent / max(1, Ops) / length(Nodes),
    DeltaRate = case delta_aggregate() of
                    skipped -> skipped;
                    R -> R
                end,
    M1 = table_row("writes/s, 100 processes, 2 peers replicating", fmt_rate(Rate),
                   fmt_rate(DeltaRate), ">= 500k/s", Rate >= 500000),
    table_row("converged on both peers after the last write", fmt_ms(ConvMs), "", "", none),
    M2 = table_row("wire bytes per write per peer (batched)",
                   io_lib:format("~.1f B (delta ~.1f B: ~.2fx)", [PerWrite, DeltaBytes,
                                                                  PerWrite / DeltaBytes]),
                   "", "<= 1.5x the delta", PerWrite =< 1.5 * DeltaBytes),
    stop_peers(),
    M1 ++ M2.

%% N processes calling F(I) for Ms milliseconds: {Calls, ElapsedMs}.
hammer(N, Ms, F) ->
    Self = self(),
    Go = make_ref(),
    Pids = [spawn_link(fun() ->
                receive Go -> ok end,
                Deadline = now_ms() + Ms,
                Self ! {hammered, self(), hammer_loop(F, W * 1000000, Deadline, 0)}
            end) || W <- lists:seq(1, N)],
    T0 = now_ms(),
    [P ! Go || P <- Pids],
    Total = lists:sum([receive {hammered, P, C} -> C end || P <- Pids]),
    {Total, now_ms() - T0}.

hammer_loop(F, I, Deadline, C) ->
    case C band 63 =:= 0 andalso now_ms() >= Deadline of
        true -> C;
        false -> _ = F(I), hammer_loop(F, I + 1, Deadline, C + 1)
    end.

%% The mean canonical size of one write's delta, for the same mix of writes, on a local store.
mean_delta_bytes() ->
    {ok, _} = lattice_store:start_link(bench_deltas, #{}),
    try
        [ok = lattice_store:create(bench_deltas, {d, I}, case I rem 2 of 0 -> pn_counter;
                                                                       1 -> or_set end)
         || I <- lists:seq(1, 1000)],
        _ = lattice_store:drain(bench_deltas, 1 bsl 30),
        [case I rem 2 of
             0 -> lattice_store:increment(bench_deltas, {d, I rem 1000}, 1);
             1 -> lattice_store:add(bench_deltas, {d, I rem 1000}, I rem 64)
         end || I <- lists:seq(1, 10000)],
        {Ds, _} = lattice_store:drain(bench_deltas, 1 bsl 30),
        lists:sum([byte_size(D) || {_, _, _, D} <- Ds]) / length(Ds)
    after
        lattice_store:stop(bench_deltas)
    end.

delta_aggregate() ->
    case delta_crdt() of
        skipped -> skipped;
        {ok, C} ->
            {ok, N1} = delta_crdt(),
            {ok, N2} = delta_crdt(),
            [_ = 'Elixir.DeltaCrdt':set_neighbours(A, [B || B <- [C, N1, N2], B =/= A])
             || A <- [C, N1, N2]],
            {Ops, Ms} = hammer(?WRITERS, ?AGG_MS, fun(I) ->
                'Elixir.DeltaCrdt':put(C, {agg, (I * 7919) rem 10000}, I)
            end),
            [gen_server:stop(P) || P <- [C, N1, N2]],
            Ops * 1000 / Ms
    end.

%% The delta hand-off a write makes, without the rest of the write: a row into an ordered_set
%% with write_concurrency (what the store does) against a message to one process that
%% receives them (a cast to a sync process), from 100 processes for 1 s each.
handoff() ->
    io:format("~nThe delta hand-off alone: 100 processes for 1 s each handing 64-byte deltas to "
              "replication: an ets:insert/2 into one ordered_set (what a write does) against a "
              "message to one process that receives them (a cast to a sync process); for the "
              "cast, the messages still queued when the writers stop.~n~n"),
    io:format("| hand-off | hand-offs/s | left queued | ~n|---|---:|---:|~n"),
    Delta = binary:copy(<<7>>, 64),
    Tab = ets:new(handoff, [ordered_set, public, {write_concurrency, true}]),
    Seq = atomics:new(1, []),
    {EOps, EMs} = hammer(?WRITERS, 1000, fun(_) ->
        ets:insert(Tab, {atomics:add_get(Seq, 1, 1), key, g_counter, Delta, 112})
    end),
    ets:delete(Tab),
    Sink = spawn(fun Sink() -> receive {delta, _, _, _} -> Sink(); stop -> ok end end),
    {COps, CMs} = hammer(?WRITERS, 1000, fun(I) -> Sink ! {delta, I, g_counter, Delta} end),
    {message_queue_len, Left} = process_info(Sink, message_queue_len),
    exit(Sink, kill),
    io:format("| ets:insert/2, ordered_set | ~s | 0 |~n", [fmt_rate(EOps * 1000 / EMs)]),
    io:format("| cast to one process | ~s | ~b |~n", [fmt_rate(COps * 1000 / CMs), Left]),
    [].

%% A write is visible on a peer when the peer's subscriber sees the key merged with the
%% write's timestamp: 1000 registers written in turn at 10k writes/s (each key every 100 ms,
%% so no two writes of one key share a flush), for 2 s.
visibility() ->
    io:format("~nVisibility: writes on this node at 10k writes/s (1000 lww_registers in turn, "
              "each value the write's time), each peer's subscriber reading the key when it is "
              "merged: the time from the write to its visibility, over both peers.~n~n"),
    io:format("| measure | lattice | target | met |~n|---|---:|---:|:-:|~n"),
    Peers = start_peers(2),
    Nodes = [N || {_, N} <- Peers],
    [ok = lattice_store:create(?STORE, {vis, I}, lww_register) || I <- lists:seq(1, 1000)],
    wait_converged([node() | Nodes], 60000),
    Self = self(),
    Watchers = [erpc:call(N, erlang, spawn, [fun() -> watch(Self) end]) || N <- Nodes],
    [receive {watching, W} -> ok end || W <- Watchers],
    Sent0 = dist_sent(Nodes),
    paced_writes(20000, 10),
    timer:sleep(500),
    Sent = dist_sent(Nodes) - Sent0,
    RegDelta = register_delta_bytes(),
    [W ! {report, self()} || W <- Watchers],
    Lat = lists:sort(lists:append([receive {latencies, W, L} -> L end || W <- Watchers])),
    stop_peers(),
    P50 = pct(Lat, 50), P99 = pct(Lat, 99),
    io:format("| writes seen on the peers | ~b | | |~n", [length(Lat)]),
    io:format("| write to visible, median | ~s | | |~n", [fmt_ms(P50 / 1000)]),
    M1 = table_row4("write to visible, 99th percentile", fmt_ms(P99 / 1000), "<= 100 ms",
                    P99 =< 100000),
    %% No two writes of a key share a flush here: no grouping helps, each write is sent.
    PerWrite = Sent / 20000 / length(Nodes),
    M2 = table_row4("wire bytes per write per peer (no grouping)",
                    io_lib:format("~.1f B (delta ~.1f B: ~.2fx)",
                                  [PerWrite, RegDelta, PerWrite / RegDelta]),
                    "<= 1.5x the delta", PerWrite =< 1.5 * RegDelta),
    M1 ++ M2.

%% The canonical size of one lww_register write's delta as the visibility rows write it.
register_delta_bytes() ->
    {ok, _} = lattice_store:start_link(bench_reg_deltas, #{}),
    try
        ok = lattice_store:create(bench_reg_deltas, {vis, 1}, lww_register),
        _ = lattice_store:drain(bench_reg_deltas, 1 bsl 30),
        [{ok, _} = lattice_store:set(bench_reg_deltas, {vis, 1},
                                     {written, erlang:system_time(microsecond)})
         || _ <- lists:seq(1, 100)],
        {Ds, _} = lattice_store:drain(bench_reg_deltas, 1 bsl 30),
        lists:sum([byte_size(D) || {_, _, _, D} <- Ds]) / length(Ds)
    after
        lattice_store:stop(bench_reg_deltas)
    end.

watch(Driver) ->
    _ = lattice_store:subscribe(?STORE),
    Driver ! {watching, self()},
    watch_loop(Driver, []).

watch_loop(Driver, Acc) ->
    receive
        {lattice_store, _, _, {vis, _} = K, merged} ->
            Now = erlang:system_time(microsecond),
            case lattice_store:get(?STORE, K) of
                {ok, {written, T}} -> watch_loop(Driver, [Now - T | Acc]);
                _ -> watch_loop(Driver, Acc)
            end;
        {lattice_store, _, _, _, _} ->
            watch_loop(Driver, Acc);
        {report, From} ->
            From ! {latencies, self(), Acc}
    end.

%% N writes at a steady Rate per millisecond.
paced_writes(N, PerMs) ->
    T0 = now_ms(),
    paced(0, N, PerMs, T0).

paced(I, N, _, _) when I >= N -> ok;
paced(I, N, PerMs, T0) ->
    Due = T0 + I div PerMs,
    case now_ms() of
        Now when Now < Due -> timer:sleep(Due - Now);
        _ -> ok
    end,
    {ok, _} = lattice_store:set(?STORE, {vis, I rem 1000 + 1},
                                {written, erlang:system_time(microsecond)}),
    paced(I + 1, N, PerMs, T0).

%% A fresh replica catching up N keys: a peer started without lattice running, then started;
%% timed from its store's start to its root equal to ours.
catch_up() ->
    io:format("~nCatch-up: this node holds n g_counter keys; a fresh node starts lattice and is "
              "timed from the start of its application to its store's root equal to ours "
              "(lattice, default settings), or to its map holding n keys (delta_crdt: a fresh "
              "AWLWWMap made a neighbour of a full one, sync_interval 50, default "
              "max_sync_size; stopped at ~b s).~n~n", [?DELTA_CAP_MS div 1000]),
    io:format("| keys | lattice | delta_crdt | target | met |~n|---:|---:|---:|---:|:-:|~n"),
    %% 100k is the default max_crdts: the second run adds 90k keys to the first's 10k.
    lists:append([catch_up(From, N, Target)
                  || {From, N, Target} <- [{1, 10000, 60}, {10001, 100000, 2000}]]).

catch_up(From, N, TargetMs) ->
    [ok = lattice_store:create(?STORE, {cu, I}, g_counter) || I <- lists:seq(From, N)],
    [{ok, _} = lattice_store:increment(?STORE, {cu, I}, 1) || I <- lists:seq(From, N)],
    ok = lattice_repl:flush(?STORE),
    {ok, Root} = lattice_ae:flush(?STORE),
    {Peer, Node} = start_peer(false),
    T0 = now_ms(),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [lattice]),
    wait(fun() ->
             case catch erpc:call(Node, lattice_ae, flush, [?STORE]) of
                 {ok, Root} -> true;
                 _ -> false
             end
         end, 60000),
    Ms = now_ms() - T0,
    catch peer:stop(Peer),
    erase({bench_peer, Node}),
    Delta = delta_catch_up(N),
    io:format("| ~b | ~s | ~s | <= ~b ms | ~s |~n",
              [N, fmt_ms(Ms), Delta, TargetMs, yes(Ms =< TargetMs)]),
    [{missed, io_lib:format("catch-up ~b keys", [N])} || Ms > TargetMs].

delta_catch_up(N) ->
    case delta_crdt() of
        skipped -> "skipped";
        {ok, Full} ->
            [_ = 'Elixir.DeltaCrdt':put(Full, I, I) || I <- lists:seq(1, N)],
            {ok, Fresh} = delta_crdt(),
            T0 = now_ms(),
            _ = 'Elixir.DeltaCrdt':set_neighbours(Full, [Fresh]),
            _ = 'Elixir.DeltaCrdt':set_neighbours(Fresh, [Full]),
            Result = delta_wait(Fresh, N, T0 + ?DELTA_CAP_MS),
            [gen_server:stop(P) || P <- [Full, Fresh]],
            Result
    end.

delta_wait(Fresh, N, Deadline) ->
    Have = map_size('Elixir.DeltaCrdt':to_map(Fresh)),
    Now = now_ms(),
    if
        Have >= N -> fmt_ms(Now - (Deadline - ?DELTA_CAP_MS));
        Now > Deadline -> io_lib:format("not done in ~b s (~b of ~b)",
                                        [?DELTA_CAP_MS div 1000, Have, N]);
        true -> timer:sleep(20), delta_wait(Fresh, N, Deadline)
    end.

%%--------------------------------------------------------------------------------------------
%% Secure replication against plain, in one run

-define(SEC_CLUSTER, <<"lattice-bench">>).
-define(SEC_ROUNDS, 4).

%% The cost of secure replication (docs/REPLICATION.md, "Secure replication"): this node and two
%% peers, each with a certificate of an authority made here, first with plain replication, then
%% with `secure => true' (every message sealed in a channel per peer), the same writes.
secure() ->
    Dist = ensure_distributed(),
    try
        io:format("~nSecure replication against plain, in one run: this node and two peers (the "
                  "default store, 2 peers replicating), ~b rounds of both modes (in turn first), "
                  "medians of the rounds. Writes/s: ~b processes for ~b ms (increments and adds over 10k "
                  "keys). Visibility: 10k writes/s for 2 s (1000 lww_registers in turn), each "
                  "peer's subscriber timing the write to its merge. Bytes: the distribution wire "
                  "to the peers, per write per peer.~n~n", [?SEC_ROUNDS, ?WRITERS, ?AGG_MS]),
        {ok, Auth} = lattice_crypto:keypair(sign),
        %% The order alternates (plain first in odd rounds), so neither mode always runs
        %% on a machine warmed, or loaded, by the other.
        Rounds = [case I rem 2 of
                      1 -> P = secure_run(plain, Auth), {P, secure_run(secure, Auth)};
                      0 -> S = secure_run(secure, Auth), {secure_run(plain, Auth), S}
                  end || I <- lists:seq(1, ?SEC_ROUNDS)],
        Med = fun(Side, K) ->
                      median([maps:get(K, element(Side, R)) || R <- Rounds])
              end,
        [R0, M0, P0, B0, A0] = [Med(1, K) || K <- [rate, p50, p99, bytes, agg_bytes]],
        [R1, M1, P1, B1, A1] = [Med(2, K) || K <- [rate, p50, p99, bytes, agg_bytes]],
        RateMet = R1 >= 0.8 * R0,
        LatMet = P1 - P0 =< 1000,
        io:format("| measure (median of ~b rounds) | plain | secure | secure against plain | "
                  "target | met |~n|---|---:|---:|---:|---:|:-:|~n", [?SEC_ROUNDS]),
        io:format("| writes/s, 100 processes, 2 peers | ~s | ~s | ~.2fx | >= 0.8x | ~s |~n",
                  [fmt_rate(R0), fmt_rate(R1), R1 / R0, yes(RateMet)]),
        io:format("| write to visible, median | ~s | ~s | ~s | | |~n",
                  [fmt_ms(M0 / 1000), fmt_ms(M1 / 1000), delta_ms(M1 - M0)]),
        io:format("| write to visible, 99th percentile | ~s | ~s | ~s | <= +1 ms | ~s |~n",
                  [fmt_ms(P0 / 1000), fmt_ms(P1 / 1000), delta_ms(P1 - P0), yes(LatMet)]),
        io:format("| wire bytes per write per peer, under load (grouped) | ~.1f B | ~.1f B | "
                  "~.2fx | | |~n", [A0, A1, A1 / max(1.0e-9, A0)]),
        io:format("| wire bytes per write per peer, 10k writes/s (no grouping) | ~.1f B | "
                  "~.1f B | ~.2fx | | |~n~n", [B0, B1, B1 / max(1.0e-9, B0)]),
        io:format("Each round, p99 plain / secure: ~s.~n~n",
                  [lists:join(", ", [io_lib:format("~s / ~s", [fmt_ms(maps:get(p99, P) / 1000),
                                                               fmt_ms(maps:get(p99, S) / 1000)])
                                     || {P, S} <- Rounds])]),
        seal_cost(),
        [{missed, "secure replication: writes/s"} || not RateMet] ++
            [{missed, "secure replication: p99 latency"} || not LatMet]
    after
        stop_peers(),
        _ = application:stop(lattice),
        lattice_security:clear(),
        application:unset_env(lattice, store),
        ok = start_lattice(),
        case Dist of true -> net_kernel:stop(); false -> ok end
    end.

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth((N + 1) div 2, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% What the secure path adds to one batch's trip, without the machine's noise: the sender's
%% term_to_binary and encryption in the channel, the receiver's decryption and binary_to_term
%% (safe), for a batch message as lattice_repl sends it, against the plain path's
%% term_to_binary/binary_to_term of the same message (what the distribution does with it).
seal_cost() ->
    {ok, Auth} = lattice_crypto:keypair(sign),
    {A, B} = channel_pair(Auth),
    io:format("| batch message (delta bytes) | plain: encode + decode | secure: + seal + open "
              "| added per batch |~n|---|---:|---:|---:|~n"),
    lists:foreach(
      fun(Size) ->
              Msg = {lattice_repl, batch, self(), 1, 42, lattice_hlc:now(),
                     crypto:strong_rand_bytes(Size)},
              N = max(20, 2000000 div (Size + 1000)),
              Plain = per_op(N, fun() -> binary_to_term(term_to_binary(Msg)) end),
              Secure = per_op(N, fun() ->
                                         {ok, [C], _} = lattice_channel:encrypt(
                                                          A, term_to_binary(Msg)),
                                         {data, P, _} = lattice_channel:handle(B, C),
                                         binary_to_term(P, [safe])
                                 end),
              io:format("| ~s | ~.1f us | ~.1f us | +~.1f us |~n",
                        [fmt_bytes(Size), Plain, Secure, Secure - Plain])
      end, [1024, 8192, 65536, 1048576]),
    io:format("~n").

per_op(N, F) ->
    _ = F(),
    Samples = [begin
                   T0 = erlang:monotonic_time(nanosecond),
                   [F() || _ <- lists:seq(1, N)],
                   (erlang:monotonic_time(nanosecond) - T0) / N / 1000
               end || _ <- lists:seq(1, 5)],
    median(Samples).

fmt_bytes(B) when B >= 1048576 -> io_lib:format("~b MiB", [B div 1048576]);
fmt_bytes(B) when B >= 1024 -> io_lib:format("~b KiB", [B div 1024]);
fmt_bytes(B) -> io_lib:format("~b B", [B]).

%% Two ends of an established channel of the bench's cluster, made in this process.
channel_pair(Auth) ->
    Opts = fun(Name) ->
                   #{certificate := Cert, kx_key := Kx} =
                       security_map(Auth, Name, erlang:unique_integer([positive]), keys),
                   #{cluster => ?SEC_CLUSTER, static => Kx, certificate => Cert,
                     verify => fun(C) -> lattice_cert:verify(C, lattice_crypto:public_key(Auth),
                                                             none, erlang:system_time(second))
                               end}
           end,
    {ok, A0, [M1]} = lattice_channel:initiate(Opts(bench_a@localhost)),
    {ok, B0} = lattice_channel:respond(Opts(bench_b@localhost)),
    {ok, B1, [M2]} = lattice_channel:handle_handshake_message(B0, M1),
    {ok, A1, [M3]} = lattice_channel:handle_handshake_message(A0, M2),
    {ok, B2, []} = lattice_channel:handle_handshake_message(B1, M3),
    {A1, B2}.

delta_ms(Us) when Us >= 0 -> "+" ++ fmt_ms(Us / 1000);
delta_ms(Us) -> "-" ++ fmt_ms(-Us / 1000).

secure_run(Mode, Auth) ->
    _ = application:stop(lattice),
    Store = case Mode of
                secure -> [{replication, #{secure => true}}];
                plain -> [{replication, #{}}]
            end,
    case Mode of
        secure -> ok = lattice_security:configure(security_map(Auth, node(), 1, keys));
        plain -> lattice_security:clear()
    end,
    ok = application:set_env(lattice, store, Store),
    ok = start_lattice(),
    Peers = [begin
                 {Peer, Node} = start_peer(false, #{store => Store}),
                 case Mode of
                     secure -> ok = erpc:call(Node, application, set_env,
                                              [lattice, security,
                                               security_map(Auth, Node, I + 1, sealed)]);
                     plain -> ok
                 end,
                 {ok, _} = erpc:call(Node, application, ensure_all_started, [lattice]),
                 {Peer, Node}
             end || I <- [1, 2]],
    Nodes = [N || {_, N} <- Peers],
    [erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
    wait(fun() -> lists:all(fun(N) -> peers_of(N) =:= 2 end, Nodes) end, 60000),
    Keys = 10000,
    [ok = lattice_store:create(?STORE, {agg, I}, case I rem 2 of 0 -> pn_counter; 1 -> or_set end)
     || I <- lists:seq(1, Keys)],
    [ok = lattice_store:create(?STORE, {vis, I}, lww_register) || I <- lists:seq(1, 1000)],
    wait_converged([node() | Nodes], 60000),
    Sent0 = dist_sent(Nodes),
    {Ops, Ms} = hammer(?WRITERS, ?AGG_MS, fun(I) ->
        K = (I * 7919) rem Keys + 1,
        case K rem 2 of
            0 -> lattice_store:increment(?STORE, {agg, K}, 1);
            1 -> lattice_store:add(?STORE, {agg, K}, I rem 64)
        end
    end),
    wait_converged([node() | Nodes], 60000),
    AggBytes = (dist_sent(Nodes) - Sent0) / max(1, Ops) / 2,
    Self = self(),
    Watchers = [erpc:call(N, erlang, spawn, [fun() -> watch(Self) end]) || N <- Nodes],
    [receive {watching, W} -> ok end || W <- Watchers],
    Sent1 = dist_sent(Nodes),
    paced_writes(20000, 10),
    timer:sleep(500),
    Bytes = (dist_sent(Nodes) - Sent1) / 20000 / 2,
    [W ! {report, self()} || W <- Watchers],
    Lat = lists:sort(lists:append([receive {latencies, W, L} -> L end || W <- Watchers])),
    stop_peers(),
    #{rate => Ops * 1000 / Ms, p50 => pct(Lat, 50), p99 => pct(Lat, 99), bytes => Bytes,
      agg_bytes => AggBytes}.

%% A node's security configuration for the bench's cluster: its keys (as lattice_crypto keys
%% for this node, sealed with a passphrase for a peer's environment) and its certificate.
security_map(Auth, Node, Serial, Form) ->
    {ok, Sign} = lattice_crypto:keypair(sign),
    {ok, Kx} = lattice_crypto:keypair(kx),
    Now = erlang:system_time(second),
    Cert = lattice_cert:issue(Auth, #{cluster => ?SEC_CLUSTER, node => atom_to_binary(Node),
                                      sign_pub => lattice_crypto:public_key(Sign),
                                      kx_pub => lattice_crypto:public_key(Kx),
                                      not_before => Now - 60, not_after => Now + 3600,
                                      serial => Serial}),
    Pass = <<"bench">>,
    Key = fun(K) when Form =:= keys -> K;
             (K) -> {sealed, lattice_crypto:export_secret(K, Pass, #{ops => 1, mem => 8192}),
                     Pass}
          end,
    #{cluster => ?SEC_CLUSTER, authority => lattice_crypto:public_key(Auth), certificate => Cert,
      sign_key => Key(Sign), kx_key => Key(Kx)}.

%%--------------------------------------------------------------------------------------------
%% 20 nodes: full mesh and gossip

cluster() ->
    Dist = ensure_distributed(),
    try
        io:format("~n20 nodes on loopback, each with lattice and its C node. 1000 increments "
                  "spread over the nodes (100 keys), then the time until every node's root is "
                  "the same, and the bytes between the nodes per write: the distribution wire "
                  "between them (send_oct, this driver's own connections excluded) plus the "
                  "anti-entropy sessions' bytes (C node to C node). Full mesh: every batch to "
                  "every peer; gossip: to fanout 3 random peers, anti-entropy with one random "
                  "peer every 1 s for the rest.~n~n"),
        io:format("| mode | converged after the last write | bytes per write | batches sent "
                  "per write |~n|---|---:|---:|---:|~n"),
        _ = application:stop(lattice),
        [cluster_run(Mode, Repl) || {Mode, Repl} <- [{"full mesh", #{gossip_threshold => 100}},
                                                    {"gossip (fanout 3)", #{}}]],
        ok = start_lattice(),
        io:format("~n"),
        []
    after
        stop_peers(),
        case Dist of true -> net_kernel:stop(); false -> ok end
    end.

cluster_run(Mode, Repl) ->
    Peers = start_peers(20, #{store => [{replication, Repl}]}),
    Nodes = [N || {_, N} <- Peers],
    [N1 | _] = Nodes,
    [ok = erpc:call(N1, lattice_store, create, [?STORE, {c, I}, g_counter])
     || I <- lists:seq(1, 100)],
    wait_converged(Nodes, 60000),
    Before = cluster_bytes(Nodes),
    BatchesBefore = sum_stat(Nodes, batches_sent),
    NodeT = list_to_tuple(Nodes),
    [{ok, _} = erpc:call(element(I rem 20 + 1, NodeT), lattice_store, increment,
                         [?STORE, {c, I rem 100 + 1}, 1]) || I <- lists:seq(1, 1000)],
    T0 = now_ms(),
    wait_converged(Nodes, 120000),
    Ms = now_ms() - T0,
    Bytes = cluster_bytes(Nodes) - Before,
    Batches = sum_stat(Nodes, batches_sent) - BatchesBefore,
    io:format("| ~s | ~s | ~b B | ~.1f |~n", [Mode, fmt_ms(Ms), round(Bytes / 1000), Batches / 1000]),
    stop_peers().

peers_of(Node) -> maps:get(peers, erpc:call(Node, lattice_repl, stats, [?STORE])).

sum_stat(Nodes, K) ->
    lists:sum([maps:get(K, erpc:call(N, lattice_repl, stats, [?STORE])) || N <- Nodes]).

%% Bytes sent between the nodes (not to this driver), and by their C nodes' sessions.
cluster_bytes(Nodes) ->
    Me = node(),
    lists:sum([erpc:call(N, fun() ->
                   lists:sum([case inet:getstat(P, [send_oct]) of
                                  {ok, [{send_oct, B}]} -> B;
                                  _ -> 0
                              end || {Peer, P} <- erlang:system_info(dist_ctrl), Peer =/= Me,
                                     is_port(P)])
               end) || N <- Nodes]) + sum_stat(Nodes, ae_bytes_out).

%%--------------------------------------------------------------------------------------------
%% Peers

start_peers(N) -> start_peers(N, #{}).

%% N peers with lattice, connected to each other; returns once each sees the others (and this
%% node, when it runs lattice).
start_peers(N, Env) ->
    Peers = [start_peer(true, Env) || _ <- lists:seq(1, N)],
    Nodes = [Node || {_, Node} <- Peers],
    [erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
    Here = case whereis(lattice_repl:name(?STORE)) of undefined -> 0; _ -> 1 end,
    wait(fun() -> lists:all(fun(Node) -> peers_of(Node) =:= N - 1 + Here end, Nodes) end,
         60000),
    Peers.

start_peer(Start) -> start_peer(Start, #{}).

start_peer(Start, Env) ->
    Name = list_to_atom("lattice_bench_peer_" ++ integer_to_list(erlang:unique_integer([positive]))),
    Root = code:root_dir(),
    Paths = [P || P <- code:get_path(), not lists:prefix(Root, P), P =/= "."],
    {ok, Peer, Node} = peer:start(#{name => Name, wait_boot => 30000,
                                    args => ["-setcookie", atom_to_list(erlang:get_cookie()),
                                             %% several VMs share 2 cores: no scheduler spins
                                             %% on a core another VM needs
                                             "+sbwt", "none", "+sbwtdcpu", "none",
                                             "+sbwtdio", "none",
                                             "-kernel", "prevent_overlapping_partitions", "false"
                                             | lists:append([["-pa", P] || P <- Paths])]}),
    put({bench_peer, Node}, Peer),
    ok = erpc:call(Node, application, load, [lattice]),
    maps:foreach(fun(K, V) -> ok = erpc:call(Node, application, set_env, [lattice, K, V]) end,
                 Env),
    case Start of
        true -> {ok, _} = erpc:call(Node, application, ensure_all_started, [lattice]);
        false -> ok
    end,
    {Peer, Node}.

stop_peers() ->
    [begin catch peer:stop(P), erase(K) end || {{bench_peer, _} = K, P} <- get()],
    ok.

dist_sent(Nodes) ->
    lists:sum([case lists:keyfind(N, 1, erlang:system_info(dist_ctrl)) of
                   {_, P} when is_port(P) ->
                       {ok, [{send_oct, B}]} = inet:getstat(P, [send_oct]),
                       B;
                   _ -> 0
               end || N <- Nodes]).

wait_converged(Nodes, Timeout) ->
    wait(fun() -> length(lists:usort([root(N) || N <- Nodes])) =:= 1 end, Timeout).

root(N) ->
    ok = erpc:call(N, lattice_repl, flush, [?STORE]),
    {ok, R} = erpc:call(N, lattice_ae, flush, [?STORE]),
    R.

wait(Pred, Timeout) ->
    Deadline = now_ms() + Timeout,
    wait_loop(Pred, Deadline).

wait_loop(Pred, Deadline) ->
    case catch Pred() of
        true -> ok;
        _ ->
            case now_ms() > Deadline of
                true -> error(timeout);
                false -> timer:sleep(5), wait_loop(Pred, Deadline)
            end
    end.

%%--------------------------------------------------------------------------------------------
%% Printing

table_row(Name, Ours, Theirs, Target, Met) ->
    io:format("| ~s | ~s | ~s | ~s | ~s |~n", [Name, Ours, Theirs, Target, yes(Met)]),
    [{missed, Name} || Met =:= false].

table_row4(Name, Ours, Target, Met) ->
    io:format("| ~s | ~s | ~s | ~s |~n", [Name, Ours, Target, yes(Met)]),
    [{missed, Name} || Met =:= false].

yes(true) -> "yes";
yes(false) -> "**no**";
yes(none) -> "".

pct([], _) -> 0;
pct(L, P) -> lists:nth(max(1, (length(L) * P + 99) div 100), L).

fmt_rate(skipped) -> "skipped";
fmt_rate(R) when R >= 1000000 -> io_lib:format("~.2fM/s", [R / 1000000]);
fmt_rate(R) when R >= 10000 -> io_lib:format("~bk/s", [round(R / 1000)]);
fmt_rate(R) -> io_lib:format("~b/s", [round(R)]).

fmt_ms(Ms) when Ms < 1 -> io_lib:format("~.2f ms", [float(Ms)]);
fmt_ms(Ms) when Ms < 10000 -> io_lib:format("~.1f ms", [float(Ms)]);
fmt_ms(Ms) -> io_lib:format("~.1f s", [Ms / 1000]).

now_ms() -> erlang:monotonic_time(millisecond).
