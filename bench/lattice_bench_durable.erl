%% Durable stores against stores in memory, in one run (docs/DURABILITY.md): writes per second
%% from 100 processes (each write acknowledged only after its group is on disk), the
%% group commit's figures, creates per second, and the time a store takes to recover 1M keys
%% (a snapshot) and a log written after it. `make bench BENCH_GROUP=durable'.
-module(lattice_bench_durable).

-export([rows/0, run/0]).

-define(WRITERS, 100).
-define(KEYS, 10000).
-define(RUN_MS, 3000).
-define(CREATE_MS, 1000).
%% Recovery: the keys in the snapshot, and the log written after it.
-define(RECOVER_KEYS, 1000000).
-define(RECOVER_LOG_MS, 2000).
-define(TARGET, 100000).

%% @doc The group's rows for lattice_bench: one table of its own.
-spec rows() -> [{table, fun(() -> [{missed, string()}])}].
rows() ->
    [{table, fun run/0}].

%% @doc Prints the table; returns the targets missed.
-spec run() -> [{missed, string()}].
run() ->
    Base = filename:join(["/tmp", "lattice_bench_durable_" ++ os:getpid()]),
    _ = os:cmd("rm -rf " ++ Base),
    try
        io:format("~nDurable stores against a store in memory, in one run: ~b processes "
                  "incrementing g_counters over ~b keys for ~b ms; a durable write returns "
                  "once its group is on disk. Log directory: ~ts (~ts). Datasync of "
                  "one 4 KiB append there: ~s (median of 200).~n~n",
                  [?WRITERS, ?KEYS, ?RUN_MS, Base, fs_type(Base),
                   fmt_ms(datasync_us(Base) / 1000)]),
        Mem = writes(memory, #{}),
        Dur = writes(durable, #{durable => true, dir => filename:join(Base, "writes"),
                                snapshot_interval => infinity}),
        Snap = writes(durable_snap, #{durable => true, dir => filename:join(Base, "snap"),
                                      snapshot_interval => 1000}),
        Creates = creates(filename:join(Base, "creates")),
        Rec = recovery(filename:join(Base, "recovery")),
        #{rate := R0} = Mem,
        #{rate := R1, fsyncs := F, records := N, bytes := B} = Dur,
        #{rate := R2} = Snap,
        Met = R1 >= ?TARGET,
        io:format("| measure | in memory | durable | durable against memory | target | met |~n"
                  "|---|---:|---:|---:|---:|:-:|~n"),
        io:format("| writes/s, ~b processes | ~s | ~s | ~.2fx | >= 100k/s durable | ~s |~n",
                  [?WRITERS, fmt_rate(R0), fmt_rate(R1), R1 / R0, yes(Met)]),
        io:format("| writes/s, ~b processes, a snapshot every second | | ~s | ~.2fx | | |~n",
                  [?WRITERS, fmt_rate(R2), R2 / R0]),
        io:format("| fsyncs/s; writes per fsync (mean) | | ~s; ~.1f | | | |~n",
                  [fmt_rate(F * 1000 / ?RUN_MS), N / max(1, F)]),
        io:format("| log bytes per write | | ~.1f B | | | |~n", [B / max(1, N)]),
        #{memory := C0, durable := C1} = Creates,
        io:format("| creates/s, ~b processes | ~s | ~s | ~.2fx | | |~n",
                  [?WRITERS, fmt_rate(C0), fmt_rate(C1), C1 / C0]),
        #{keys := K, snapshot_ms := SnapMs, snapshot_bytes := SnapBytes, log_records := LogN,
          recovery_ms := RecMs, start_ms := StartMs} = Rec,
        io:format("| snapshot of ~b keys: time; size | | ~s; ~.1f MB | | | |~n",
                  [K, fmt_ms(SnapMs), SnapBytes / 1.0e6]),
        io:format("| recovery: ~b keys (snapshot) + ~b log records | | ~s (start_link ~s) "
                  "| | | |~n~n", [K, LogN, fmt_ms(RecMs), fmt_ms(StartMs)]),
        engines(filename:join(Base, "engines")),
        [{missed, "durable writes/s"} || not Met]
    after
        _ = os:cmd("rm -rf " ++ Base)
    end.

fs_type(Dir) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    string:trim(os:cmd("df -T " ++ Dir ++ " | awk 'NR==2 {print $2 \" on \" $1}'")).

%% The disk's own figure: the median time of a 4 KiB append and its datasync.
datasync_us(Dir) ->
    Path = filename:join(Dir, "datasync_probe"),
    {ok, Fd} = file:open(Path, [append, raw, binary]),
    Block = binary:copy(<<0>>, 4096),
    Times = [begin
                 T0 = erlang:monotonic_time(microsecond),
                 ok = file:write(Fd, Block),
                 ok = file:datasync(Fd),
                 erlang:monotonic_time(microsecond) - T0
             end || _ <- lists:seq(1, 200)],
    ok = file:close(Fd),
    ok = file:delete(Path),
    lists:nth(100, lists:sort(Times)).

%% ---- writes -------------------------------------------------------------------------------

writes(Mode, Opts) ->
    Store = list_to_atom("lattice_bench_durable_" ++ atom_to_list(Mode)),
    {ok, Pid} = lattice_store:start_link(Store, Opts#{max_crdts => ?KEYS + 1}),
    unlink(Pid),
    try
        Keys = list_to_tuple([{k, I} || I <- lists:seq(1, ?KEYS)]),
        [ok = lattice_store:create(Store, element(I, Keys), g_counter) || I <- lists:seq(1, ?KEYS)],
        Before = wal(Store),
        Ops = burst(fun(I) -> {ok, _} = lattice_store:increment(Store, element(I, Keys)) end,
                    ?KEYS, ?RUN_MS),
        After = wal(Store),
        #{rate => Ops * 1000 / ?RUN_MS,
          fsyncs => maps:get(fsyncs, After) - maps:get(fsyncs, Before),
          records => maps:get(records, After) - maps:get(records, Before),
          bytes => maps:get(wal_bytes, After) - maps:get(wal_bytes, Before)}
    after
        ok = lattice_store:stop(Store)
    end.

wal(Store) ->
    case maps:get(durability, lattice_store:info(Store)) of
        false -> #{fsyncs => 0, records => 0, wal_bytes => 0};
        Map -> Map
    end.

%% ?WRITERS processes calling Fun(RandomIndex) until Ms have passed: the calls made.
burst(Fun, N, Ms) ->
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    Pids = [spawn_link(fun() -> Self ! {self(), loop(Fun, N, Deadline, 0)} end)
            || _ <- lists:seq(1, ?WRITERS)],
    lists:sum([receive {P, Count} -> Count end || P <- Pids]).

loop(Fun, N, Deadline, Count) ->
    case Count band 15 =:= 0 andalso erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            Count;
        false ->
            Fun(rand:uniform(N)),
            loop(Fun, N, Deadline, Count + 1)
    end.

%% Creates go through the store process: how many a second, in memory and durable.
creates(Dir) ->
    #{memory => create_rate(memory, #{}),
      durable => create_rate(durable, #{durable => true, dir => Dir,
                                        snapshot_interval => infinity})}.

create_rate(Mode, Opts) ->
    Store = list_to_atom("lattice_bench_durable_create_" ++ atom_to_list(Mode)),
    {ok, Pid} = lattice_store:start_link(Store, Opts#{max_crdts => 10000000}),
    unlink(Pid),
    try
        Ops = burst(fun(_) ->
                        ok = lattice_store:create(Store, erlang:unique_integer(), g_counter)
                    end, 1, ?CREATE_MS),
        Ops * 1000 / ?CREATE_MS
    after
        ok = lattice_store:stop(Store)
    end.

%% ---- recovery -----------------------------------------------------------------------------

%% ?RECOVER_KEYS keys merged in as a peer's (a merge is not logged: the snapshot holds it),
%% a snapshot, then ?RECOVER_LOG_MS of increments from ?WRITERS processes (the log); the
%% store stopped, and started again from its directory.
recovery(Dir) ->
    Store = lattice_bench_durable_recovery,
    Opts = #{durable => true, dir => Dir, snapshot_interval => infinity,
             max_crdts => ?RECOVER_KEYS + 1},
    {ok, Pid} = lattice_store:start_link(Store, Opts),
    unlink(Pid),
    Entry = peer_entry(),
    lists:foreach(fun(From) ->
                      Pairs = [{I, Entry} || I <- lists:seq(From, min(?RECOVER_KEYS, From + 9999))],
                      _ = lattice_store:merge_many(Store, Pairs)
                  end, lists:seq(1, ?RECOVER_KEYS, 10000)),
    T0 = erlang:monotonic_time(microsecond),
    ok = lattice_store:snapshot(Store),
    SnapMs = (erlang:monotonic_time(microsecond) - T0) / 1000,
    SnapBytes = filelib:file_size(filename:join(Dir, "snapshot")),
    #{records := R0} = wal(Store),
    _ = burst(fun(I) -> {ok, _} = lattice_store:increment(Store, I) end, ?RECOVER_KEYS,
              ?RECOVER_LOG_MS),
    #{records := R1} = wal(Store),
    ok = lattice_store:stop(Store),
    T1 = erlang:monotonic_time(microsecond),
    {ok, Pid2} = lattice_store:start_link(Store, Opts),
    StartMs = (erlang:monotonic_time(microsecond) - T1) / 1000,
    unlink(Pid2),
    try
        #{recovery := #{recovery_ms := RecMs, snapshot_keys := K, wal_records := LogN}} =
            wal(Store),
        LogN =:= R1 - R0 orelse erlang:error({replayed, LogN, R1 - R0}),
        Rows = maps:get(rows, lattice_store:info(Store)),
        Rows =:= ?RECOVER_KEYS orelse erlang:error({recovered_rows, Rows, ?RECOVER_KEYS}),
        #{keys => K, snapshot_ms => SnapMs, snapshot_bytes => SnapBytes, log_records => LogN,
          recovery_ms => RecMs, start_ms => StartMs}
    after
        ok = lattice_store:stop(Store)
    end.

%% A g_counter's entry with a few increments of another actor.
peer_entry() ->
    Tmp = lattice_bench_durable_tmp,
    {ok, Pid} = lattice_store:start_link(Tmp, #{}),
    unlink(Pid),
    ok = lattice_store:create(Tmp, k, g_counter),
    {ok, _} = lattice_store:increment(Tmp, k, 3),
    {ok, Entry} = lattice_store:entry(Tmp, k),
    ok = lattice_store:stop(Tmp),
    Entry.

%% ---- the log engine: a raw file against disk_log -------------------------------------------

-define(GROUP, 50).
-define(GROUPS, 300).

%% One group of ?GROUP write records (as the store logs them) made durable, four ways, taken
%% in turn so that the disk's and the machine's moods fall on all of them alike: the median.
engines(Dir) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Terms = [{{k, I}, g_counter, crypto:strong_rand_bytes(60)} || I <- lists:seq(1, ?GROUP)],
    Frames = [lattice_wal:frame(T) || T <- Terms],
    {ok, Fd} = file:open(filename:join(Dir, "raw"), [append, raw, binary]),
    {ok, Fd2} = file:open(filename:join(Dir, "raw_osync"), [append, raw, binary, sync]),
    {ok, Int} = disk_log:open([{name, lattice_bench_dl_internal}, {type, halt},
                               {file, filename:join(Dir, "internal")}, {format, internal}]),
    {ok, Ext} = disk_log:open([{name, lattice_bench_dl_external}, {type, halt},
                               {file, filename:join(Dir, "external")}, {format, external}]),
    Ways = [{"file:write to a file opened sync (O_SYNC), framed (lattice_wal)",
             fun() -> ok = file:write(Fd2, Frames) end},
            {"file:write + file:datasync, framed",
             fun() -> ok = file:write(Fd, Frames), ok = file:datasync(Fd) end},
            {"disk_log internal: log_terms + sync",
             fun() -> ok = disk_log:log_terms(Int, Terms), ok = disk_log:sync(Int) end},
            {"disk_log external: blog_terms (framed) + sync",
             fun() -> ok = disk_log:blog_terms(Ext, Frames), ok = disk_log:sync(Ext) end}],
    Rounds = [[{Name, timed(F)} || {Name, F} <- Ways] || _ <- lists:seq(1, ?GROUPS)],
    ok = file:close(Fd), ok = file:close(Fd2),
    ok = disk_log:close(Int), ok = disk_log:close(Ext),
    io:format("The log engine: one group of ~b write records (~b B framed) made durable, "
              "the four ways in turn, ~b times.~n~n| way | median | 90th percentile |~n"
              "|---|---:|---:|~n", [?GROUP, iolist_size(Frames), ?GROUPS]),
    lists:foreach(fun({Name, _}) ->
                      Us = lists:sort([T || R <- Rounds, {N, T} <- R, N =:= Name]),
                      io:format("| ~s | ~s | ~s |~n",
                                [Name, fmt_ms(pct(Us, 50) / 1000), fmt_ms(pct(Us, 90) / 1000)])
                  end, Ways),
    io:format("~n").

timed(F) ->
    T0 = erlang:monotonic_time(microsecond),
    F(),
    erlang:monotonic_time(microsecond) - T0.

pct(Sorted, P) -> lists:nth(max(1, (length(Sorted) * P + 99) div 100), Sorted).

%% ---- formatting ---------------------------------------------------------------------------

%% The table's formats are the store bench's.
yes(B) -> lattice_bench_store:yes(B).

fmt_rate(R) -> lattice_bench_store:fmt_rate(R).

fmt_ms(Ms) -> lattice_bench_store:fmt_ms(Ms).
