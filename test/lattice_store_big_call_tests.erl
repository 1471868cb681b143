%% A store's big jobs beside its small calls, with one scheduler online (STYLE.md habit 6):
%% a snapshot of a durable store of 200,000 keys, and a demotion pass that moves 10,000 keys
%% to the warm tier and 10,000 to disk. While each runs, a ticker wakes every millisecond
%% and two callers use the same store: one increments a key (in the caller; durable: each
%% increment waits for its group's write), one creates keys (a call to the store process).
%% No tick and no increment may wait 20 ms or more, nor a create beside the snapshot (the
%% dump runs beside the store process). A create beside a demotion pass waits for the pass,
%% which runs in the store process: its longest wait is printed, not bounded
%% (docs/TIERING.md, "Latency").
-module(lattice_store_big_call_tests).
-include_lib("eunit/include/eunit.hrl").

-define(LIMIT_MS, 20).
-define(SNAPSHOT_KEYS, 200000).
-define(PASS_KEYS, 21000).

big_call_test_() ->
    {setup, fun() -> {ok, _} = application:ensure_all_started(lattice) end,
     fun(_) -> ok end,
     [{timeout, 300, fun snapshot_beside_small_calls/0},
      {timeout, 300, fun demotion_pass_beside_small_calls/0}]}.

dir(Tag) ->
    Dir = filename:join(["/tmp", "lattice_big_call_" ++ os:getpid(), Tag]),
    _ = os:cmd("rm -rf " ++ Dir),
    Dir.

start(Name, Opts) ->
    {ok, Pid} = lattice_store:start_link(Name, Opts),
    unlink(Pid),
    ok.

%% Keys 1..N as a peer's g_counters (merge_many/2: fast, and not logged).
fill(Name, N) ->
    ok = lattice_store:create(Name, seed, g_counter),
    {ok, _} = lattice_store:increment(Name, seed, 3),
    {ok, Entry} = lattice_store:entry(Name, seed),
    lists:foreach(fun(From) ->
                      _ = lattice_store:merge_many(
                            Name, [{I, Entry} || I <- lists:seq(From, min(N, From + 9999))])
                  end, lists:seq(1, N, 10000)).

snapshot_beside_small_calls() ->
    Name = lattice_big_call_snapshot,
    ok = start(Name, #{durable => true, dir => dir("snapshot"), snapshot_interval => infinity,
                       max_crdts => ?SNAPSHOT_KEYS + 100000}),
    try
        fill(Name, ?SNAPSHOT_KEYS),
        Measure = fun() -> measure(Name, fun() -> ok = lattice_store:snapshot(Name) end,
                                   snapshot)
                  end,
        {Gap, Inc, Create} = best_of_two(Measure, fun tuple_to_list/1),
        ?assert(Gap < ?LIMIT_MS),
        ?assert(Inc < ?LIMIT_MS),
        ?assert(Create < ?LIMIT_MS)
    after
        ok = lattice_store:stop(Name)
    end.

demotion_pass_beside_small_calls() ->
    Name = lattice_big_call_pass,
    Tiering = #{memory_limit => 1000, ets_limit => 1000, batch => 10000,
                tick_interval => 3600000, dir => dir("pass")},
    ok = start(Name, #{tiering => Tiering, max_crdts => ?PASS_KEYS + 100000}),
    try
        Measure = fun() ->
                      %% every key hot (a merge promotes), one pass to fill the warm tier,
                      %% then the one measured: 10,000 hot keys to the warm tier, and 10,000
                      %% of the warm ones to disk
                      fill(Name, ?PASS_KEYS),
                      ok = lattice_tier:pass(Name),
                      measure(Name, fun() -> ok = lattice_tier:pass(Name) end, pass)
                  end,
        {Gap, Inc, _Create} = best_of_two(Measure, fun({G, I, _}) -> [G, I] end),
        #{demotions_to_disk := ToDisk} = maps:get(tiering, lattice_store:info(Name)),
        ?assert(ToDisk >= 10000),
        ?assert(Gap < ?LIMIT_MS),
        ?assert(Inc < ?LIMIT_MS)
    after
        ok = lattice_store:stop(Name)
    end.

%% Work() in lattice_ticker's worker, one scheduler online, the two small callers running
%% meanwhile: {longest tick gap, longest increment, longest create}, in ms.
measure(Name, Work, What) ->
    ok = lattice_store:create(Name, small, g_counter),
    Online = erlang:system_flag(schedulers_online, 1),
    try
        Self = self(),
        Callers = fun() ->
                          Inc = spawn_link(fun() -> small_loop(Self, fun() ->
                                  {ok, _} = lattice_store:increment(Name, small) end, 0, 0) end),
                          Create = spawn_link(fun() -> small_loop(Self, fun() ->
                                  ok = lattice_store:create(
                                         Name, {c, erlang:unique_integer()}, g_counter)
                                  end, 0, 0) end),
                          {Inc, Create}
                  end,
        {Gaps, {IncMax, IncN, CreateMax, CreateN}, _} =
            lattice_ticker:run(fun() -> ok end,
                               fun(ok) ->
                                       {Inc, Create} = Callers(),
                                       timer:sleep(5),
                                       Work(),
                                       {IM, IN} = stop_loop(Inc),
                                       {CM, CN} = stop_loop(Create),
                                       {IM, IN, CM, CN}
                               end),
        Gap = lists:max(Gaps),
        io:format(user, "~n~p beside small calls (1 scheduler): ~b ticks, longest gap ~.2f ms; "
                  "~b increments, longest ~.2f ms; ~b creates, longest ~.2f ms~n",
                  [What, length(Gaps), Gap, IncN, IncMax, CreateN, CreateMax]),
        ?assert(length(Gaps) > 10 andalso IncN > 10 andalso CreateN > 0),
        {Gap, IncMax, CreateMax}
    after
        erlang:system_flag(schedulers_online, Online)
    end.

small_loop(Parent, Call, Max, N) ->
    receive
        {stop, From} -> From ! {self(), Max, N}
    after 0 ->
            T0 = erlang:monotonic_time(microsecond),
            Call(),
            Ms = (erlang:monotonic_time(microsecond) - T0) / 1000,
            %% a short pause: the callers are small users, not a load
            timer:sleep(1),
            small_loop(Parent, Call, max(Max, Ms), N + 1)
    end.

stop_loop(Pid) ->
    Pid ! {stop, self()},
    receive {Pid, Max, N} -> unlink(Pid), {Max, N} end.

%% As lattice_ticker:best_of_two/2, over the three figures: a second measurement when any
%% reached the limit (the OS can stall the VM's one scheduler thread on a loaded machine),
%% the better of the two kept, figure by figure.
best_of_two(Measure, Bounded) ->
    {G, I, C} = First = Measure(),
    case lists:all(fun(X) -> X < ?LIMIT_MS end, Bounded(First)) of
        true -> First;
        false ->
            io:format(user, "~na figure reached the ~b ms limit: measuring once more~n",
                      [?LIMIT_MS]),
            {G2, I2, C2} = Measure(),
            {min(G, G2), min(I, I2), min(C, C2)}
    end.
