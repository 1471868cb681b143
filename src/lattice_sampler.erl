%% @doc Throughput over the last minutes: every second (`interval_ms'), every store on this
%% node is sampled (its write counter, the deltas its replication sent and received), the
%% rates since the last sample are kept in a ring of {@link history/0}'s last 300 samples,
%% and a `[lattice, store, stats]' event is emitted per store (lattice_telemetry;
%% docs/OBSERVABILITY.md).
%%
%% It runs under lattice_sup. A sample reads the store's counters (atomics and ETS sizes, no
%% call) and asks its replication for its stats (a call with a short timeout: a busy store is
%% left out of that sample, never waited for, and its next rate covers the gap).
-module(lattice_sampler).
-behaviour(gen_server).

-export([start_link/1, child_spec/1, history/0, stores/0, sample_now/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SERVER, ?MODULE).
-define(KEEP, 300).
-define(CALL_MS, 200).

-type point() :: #{t := integer(), writes := float(), deltas := float(),
                   stores := #{atom() => #{writes := float(), deltas := float()}}}.
-type options() :: #{interval_ms => pos_integer()}.
-export_type([point/0, options/0]).

-record(s, {last = #{} :: #{atom() => {integer(), non_neg_integer(), non_neg_integer()}},
            ring = queue:new() :: queue:queue(point()),
            n = 0 :: non_neg_integer(),
            interval = 1000 :: pos_integer()}).

%% @doc Starts the sampler, registered as `lattice_sampler': a sample every `interval_ms'
%% (1000 by default).
-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) when is_map(Opts) ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, Opts, []).

%% @doc The sampler's child specification, for lattice_sup.
-spec child_spec(options()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?SERVER, start => {?MODULE, start_link, [Opts]}, restart => permanent,
      shutdown => 2000, type => worker, modules => [?MODULE]}.

%% @doc The rates of the last five minutes, oldest first: per sample its time (Unix
%% milliseconds), the writes and deltas (sent plus received) per second over all stores, and
%% the same per store. `[]' when the sampler is not running.
-spec history() -> [point()].
history() ->
    try gen_server:call(?SERVER, history, 5000)
    catch exit:_ -> []
    end.

%% @doc The stores running on this node (each registered under its name), sorted.
-spec stores() -> [atom()].
stores() ->
    lists:sort([N || N <- registered(),
                     persistent_term:get({lattice_store, N}, undefined) =/= undefined]).

%% @doc Takes a sample now (besides the one every second), for tests; `ok'.
-spec sample_now() -> ok.
sample_now() ->
    gen_server:call(?SERVER, sample, 5000).

%% @private
init(Opts) ->
    Interval = maps:get(interval_ms, Opts, 1000),
    erlang:send_after(Interval, self(), tick),
    {ok, #s{interval = Interval}}.

%% @private
handle_call(history, _From, S) ->
    {reply, queue:to_list(S#s.ring), S};
handle_call(sample, _From, S) ->
    {reply, ok, sample(S)};
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

%% @private
handle_cast(_, S) ->
    {noreply, S}.

%% @private
handle_info(tick, S) ->
    erlang:send_after(S#s.interval, self(), tick),
    {noreply, sample(S)};
handle_info(_, S) ->
    {noreply, S}.

sample(#s{last = Last} = S) ->
    Now = erlang:monotonic_time(millisecond),
    Stores = stores(),
    Counts = maps:from_list([{St, C} || St <- Stores, {ok, C} <- [count(St, Now)]]),
    PerStore = maps:fold(fun(St, {T, W, D}, Acc) ->
                                 case Last of
                                     #{St := {T0, W0, D0}} when T > T0 ->
                                         Secs = (T - T0) / 1000,
                                         Acc#{St => #{writes => max(0, W - W0) / Secs,
                                                      deltas => max(0, D - D0) / Secs}};
                                     _ ->
                                         Acc
                                 end
                         end, #{}, Counts),
    Sum = fun(K) -> lists:sum([maps:get(K, R) || R <- maps:values(PerStore)]) + 0.0 end,
    Rates = #{t => erlang:system_time(millisecond), writes => Sum(writes),
              deltas => Sum(deltas), stores => PerStore},
    {Ring, N} = case S#s.n >= ?KEEP of
                    true -> {queue:in(Rates, queue:drop(S#s.ring)), S#s.n};
                    false -> {queue:in(Rates, S#s.ring), S#s.n + 1}
                end,
    %% A store left out of this sample (busy) keeps its last counts: its next rate is the
    %% average over the whole gap, not a catch-up spike.
    S#s{last = maps:merge(maps:with(Stores, Last), Counts), ring = Ring, n = N}.

%% The store's cumulative writes and deltas, and its stats event; `error' for a store gone or
%% a replication too busy to answer in time (left out of this sample).
count(Store, Now) ->
    try {lattice_store:info(Store), repl_stats(Store)} of
        {_, busy} ->
            error;
        {Info, Repl} ->
            Deltas = maps:get(deltas_sent_items, Repl, 0) +
                maps:get(deltas_received_items, Repl, 0),
            lattice_telemetry:execute(
              [lattice, store, stats],
              maps:merge(maps:with([rows, table_bytes, delta_seq, delta_bytes, deltas_buffered,
                                    deltas_dropped, type_conflicts, subscriptions], Info),
                         maps:with([peers, merge_queue, buffered_bytes, deltas_sent_items,
                                    deltas_received_items, ae_sessions, keys_repaired],
                                   Repl)),
              #{store => Store, node => node()}),
            {ok, {Now, maps:get(delta_seq, Info, 0), Deltas}}
    catch
        _:_ -> error
    end.

repl_stats(Store) ->
    case whereis(lattice_repl:name(Store)) of
        undefined -> #{};
        Pid ->
            try gen_server:call(Pid, stats, ?CALL_MS)
            catch exit:_ -> busy
            end
    end.
