%% Durable stores (docs/DURABILITY.md): recovery, the torn tail, a corrupt snapshot, disk
%% errors, group commit, and `kill -9' of a node in the middle of a write burst.
-module(lattice_durable_tests).

-include_lib("eunit/include/eunit.hrl").

-define(STORE, lattice_durable_test_store).
-define(MOVE_KEYS, 2000).

dir(Tag) ->
    Dir = filename:join(["/tmp", "lattice_durable_" ++ os:getpid(), Tag]),
    _ = os:cmd("rm -rf " ++ Dir),
    Dir.

start(Opts) ->
    %% a test that failed leaves its store behind: not the next test's problem
    _ = whereis(?STORE) =/= undefined andalso catch lattice_store:stop(?STORE),
    %% a store that refuses to start exits, linked to its caller
    process_flag(trap_exit, true),
    case lattice_store:start_link(?STORE, Opts) of
        {ok, Pid} -> unlink(Pid), {ok, Pid};
        Error -> Error
    end.

stop() ->
    ok = lattice_store:stop(?STORE).

setup() ->
    {ok, _} = application:ensure_all_started(lattice),
    process_flag(trap_exit, true),
    ok.

durable_test_() ->
    {setup, fun setup/0, fun(_) -> ok end,
     [{timeout, 60, fun restart_recovers_writes_and_a_new_incarnation/0},
      {timeout, 60, fun snapshot_then_log/0},
      {timeout, 60, fun a_long_log_takes_a_snapshot/0},
      {timeout, 60, fun torn_tail_is_dropped/0},
      {timeout, 60, fun corrupt_snapshot_refuses_to_start/0},
      {timeout, 60, fun corrupt_older_segment_refuses_to_start/0},
      {timeout, 60, fun unusable_directory/0},
      {timeout, 60, fun group_commit_shares_fsyncs/0},
      {timeout, 60, fun disk_full_refuses_writes/0},
      {timeout, 60, fun disk_full_memory_only/0},
      {timeout, 60, fun a_dead_log_stops_the_store/0},
      {timeout, 60, fun tiered_store_recovers_every_tier/0},
      {timeout, 120, fun snapshots_beside_tier_moves_lose_nothing/0}]}.

restart_recovers_writes_and_a_new_incarnation() ->
    Dir = dir("restart"),
    {ok, _} = start(#{durable => true, dir => Dir}),
    {_, Inc1} = maps:get(actor, lattice_store:info(?STORE)),
    ok = lattice_store:create(?STORE, c, pn_counter),
    {ok, _} = lattice_store:increment(?STORE, c, 5),
    {ok, _} = lattice_store:decrement(?STORE, c, 2),
    ok = lattice_store:create(?STORE, s, or_set),
    [{ok, _} = lattice_store:add(?STORE, s, E) || E <- [a, b, c]],
    {ok, _} = lattice_store:remove(?STORE, s, b),
    ok = lattice_store:create(?STORE, gone, g_set),
    ok = lattice_store:delete(?STORE, gone),
    Digests = [lattice_store:digest(?STORE, K) || K <- [c, s, gone]],
    stop(),
    {ok, _} = start(#{durable => true, dir => Dir}),
    Info = lattice_store:info(?STORE),
    {_, Inc2} = maps:get(actor, Info),
    ?assertEqual((Inc1 + 1) band (1 bsl 64 - 1), Inc2),
    ?assertEqual({ok, 3}, lattice_store:get(?STORE, c)),
    ?assertEqual({ok, [a, c]}, lattice_store:get(?STORE, s)),
    ?assertEqual({error, not_found}, lattice_store:get(?STORE, gone)),
    ?assertEqual(Digests, [lattice_store:digest(?STORE, K) || K <- [c, s, gone]]),
    ?assertMatch(#{durability := durable, recovery := #{wal_records := 10}},
                 maps:get(durability, Info)),
    %% writes under the new incarnation join the recovered ones
    {ok, _} = lattice_store:add(?STORE, s, d),
    ?assertEqual({ok, [a, c, d]}, lattice_store:get(?STORE, s)),
    stop().

%% Killing the log process stops its store with `{wal_down, killed}' (its supervisor restarts
%% it, and the restart recovers), rather than leaving a store that refuses every write.
a_dead_log_stops_the_store() ->
    Dir = dir("dead_log"),
    {ok, Pid} = start(#{durable => true, dir => Dir}),
    ok = lattice_store:create(?STORE, c, g_counter),
    {ok, _} = lattice_store:increment(?STORE, c, 7),
    {links, Links} = process_info(Pid, links),
    [Log] = [P || P <- Links, is_pid(P),
                  process_info(P, current_function) =:= {current_function, {lattice_wal, loop, 1}}],
    Mon = monitor(process, Pid),
    exit(Log, kill),
    receive {'DOWN', Mon, process, Pid, Why} -> ?assertEqual({wal_down, killed}, Why)
    after 5000 -> error(store_still_up)
    end,
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertEqual({ok, 7}, lattice_store:get(?STORE, c)),
    stop().

%% `snapshot_wal_bytes': no timed snapshot, but one each time the log since the last grows
%% past 20 KB (about 230 increments); the records a restart replays stay under that.
a_long_log_takes_a_snapshot() ->
    Dir = dir("wal_bytes"),
    Opts = #{durable => true, dir => Dir, snapshot_interval => infinity,
             snapshot_wal_bytes => 20000},
    {ok, _} = start(Opts),
    ok = lattice_store:create(?STORE, c, g_counter),
    [{ok, _} = lattice_store:increment(?STORE, c) || _ <- lists:seq(1, 2000)],
    wait(fun() -> snapshots() >= 5 end),
    #{wal_bytes := Bytes} = maps:get(durability, lattice_store:info(?STORE)),
    ?assert(Bytes > 5 * 20000),
    stop(),
    {ok, _} = start(Opts),
    #{recovery := #{wal_records := Replayed}} = maps:get(durability, lattice_store:info(?STORE)),
    ?assert(Replayed < 500),
    ?assertEqual({ok, 2000}, lattice_store:get(?STORE, c)),
    %% 50 writers at once, snapshots taken under them: every increment is there after a restart
    Self = self(),
    Before = snapshots(),
    Pids = [spawn_link(fun() ->
                           [{ok, _} = lattice_store:increment(?STORE, c) || _ <- lists:seq(1, 200)],
                           Self ! {done, self()}
                       end) || _ <- lists:seq(1, 50)],
    [receive {done, P} -> ok end || P <- Pids],
    ?assert(snapshots() > Before + 5),
    stop(),
    {ok, _} = start(Opts),
    ?assertEqual({ok, 12000}, lattice_store:get(?STORE, c)),
    stop(),
    %% and without the limit, one log of all of them
    Dir2 = dir("wal_bytes_off"),
    Opts2 = Opts#{dir => Dir2, snapshot_wal_bytes => infinity},
    {ok, _} = start(Opts2),
    ok = lattice_store:create(?STORE, c, g_counter),
    [{ok, _} = lattice_store:increment(?STORE, c) || _ <- lists:seq(1, 2000)],
    ?assertEqual(0, snapshots()),
    stop(),
    {ok, _} = start(Opts2),
    ?assertMatch(#{recovery := #{wal_records := 2001}},
                 maps:get(durability, lattice_store:info(?STORE))),
    stop().

%% Durable and tiered: keys in all three tiers, written before and after a snapshot, are all
%% there after a restart, and the recovered store is within its tiers' limits.
tiered_store_recovers_every_tier() ->
    Dir = dir("tiered"),
    Opts = #{durable => true, dir => filename:join(Dir, "wal"), snapshot_interval => infinity,
             tiering => #{memory_limit => 10, ets_limit => 20, tick_interval => 3600000,
                          dir => filename:join(Dir, "tier")}},
    {ok, _} = start(Opts),
    Keys = lists:seq(1, 100),
    [begin
         ok = lattice_store:create(?STORE, K, g_counter),
         {ok, _} = lattice_store:increment(?STORE, K, K)
     end || K <- Keys],
    ok = lattice_tier:pass(?STORE),
    ok = lattice_tier:pass(?STORE),
    #{ets_keys := Warm, disk_keys := Disk} = maps:get(tiering, lattice_store:info(?STORE)),
    ?assert(Warm > 0 andalso Disk > 0),
    ok = lattice_store:snapshot(?STORE),
    %% after the snapshot: writes to keys in every tier (each promotes its key), a delete
    [{ok, _} = lattice_store:increment(?STORE, K, 1000) || K <- [1, 50, 100]],
    ok = lattice_store:delete(?STORE, 2),
    Expected = [{K, lattice_store:get(?STORE, K)} || K <- Keys],
    stop(),
    {ok, _} = start(Opts),
    %% before the reads below promote every key
    Info = lattice_store:info(?STORE),
    ?assertMatch(#{hot_keys := H} when H =< 10, Info),
    ?assert(maps:get(ets_keys, maps:get(tiering, Info)) =< 20),
    ?assertEqual(Expected, [{K, lattice_store:get(?STORE, K)} || K <- Keys]),
    stop().

%% Snapshots dumped while keys move between tiers: 20 writers increment 2000 keys (each
%% write's acknowledgement counted) while passes demote every 2 ms (`memory_limit' 20) and
%% snapshots run back to back. Then, the writers done, readers promote keys at random (the
%% passes demoting them again) while one last snapshot is dumped: it deletes the older log
%% segments, so it alone holds what they held, and a key it missed in mid-move would be lost.
%% A `kill' of the store, a restart: every acknowledged increment is there.
snapshots_beside_tier_moves_lose_nothing() ->
    Dir = dir("tier_moves"),
    Opts = #{durable => true, dir => filename:join(Dir, "wal"), snapshot_interval => infinity,
             tiering => #{memory_limit => 20, ets_limit => 200, tick_interval => 2,
                          access_threshold => 1000, dir => filename:join(Dir, "tier")}},
    {ok, Pid} = start(Opts),
    Keys = lists:seq(1, ?MOVE_KEYS),
    [ok = lattice_store:create(?STORE, K, g_counter) || K <- Keys],
    Self = self(),
    Deadline = erlang:monotonic_time(millisecond) + 2000,
    Writers = [spawn_link(fun() -> Self ! {self(), inc_until(Deadline, #{})} end)
               || _ <- lists:seq(1, 20)],
    Snapshots = snapshot_until(Deadline, 0),
    Acked = lists:foldl(fun(W, Acc) ->
                            receive {W, Counts} ->
                                maps:fold(fun(K, N, A) -> maps:update_with(K, fun(X) -> X + N end, N, A) end,
                                          Acc, Counts)
                            end
                        end, #{}, Writers),
    Readers = [spawn_link(fun() -> read_forever() end) || _ <- lists:seq(1, 4)],
    timer:sleep(200),
    #{promotions := P0, demotions_to_ets := D0} = maps:get(tiering, lattice_store:info(?STORE)),
    ok = lattice_store:snapshot(?STORE),
    #{promotions := P1, demotions_to_ets := D1} = maps:get(tiering, lattice_store:info(?STORE)),
    [begin unlink(R), exit(R, kill) end || R <- Readers],
    ?assert(Snapshots >= 3),
    %% keys did move while the last snapshot was dumped (promotions; the demotion passes
    %% wait for the dump's end), and before it
    io:format(user, "~nmoves during the last snapshot: ~b promotions, ~b demotions; before: "
              "~b demotions~n", [P1 - P0, D1 - D0, D0]),
    ?assert(P1 - P0 > 10 andalso D0 > 1000),
    Mon = monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', Mon, process, Pid, _} -> ok end,
    {ok, _} = start(Opts),
    Lost = [{K, Want, Got} || K <- Keys, Want <- [{ok, maps:get(K, Acked, 0)}],
                              Got <- [lattice_store:get(?STORE, K)], Got =/= Want],
    ?assertEqual([], Lost),
    stop().

read_forever() ->
    {ok, _} = lattice_store:get(?STORE, rand:uniform(?MOVE_KEYS)),
    read_forever().

inc_until(Deadline, Counts) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> Counts;
        false ->
            K = rand:uniform(?MOVE_KEYS),
            {ok, _} = lattice_store:increment(?STORE, K),
            inc_until(Deadline, maps:update_with(K, fun(N) -> N + 1 end, 1, Counts))
    end.

snapshot_until(Deadline, N) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> N;
        false -> ok = lattice_store:snapshot(?STORE), snapshot_until(Deadline, N + 1)
    end.

snapshot_then_log() ->
    Dir = dir("snapshot"),
    {ok, _} = start(#{durable => true, dir => Dir, snapshot_interval => 100}),
    [begin
         ok = lattice_store:create(?STORE, K, g_counter),
         {ok, _} = lattice_store:increment(?STORE, K, K)
     end || K <- lists:seq(1, 200)],
    %% the second snapshot from now began after the last write
    Done = snapshots(),
    wait(fun() -> snapshots() >= Done + 2 end),
    %% written after a snapshot: in the log only (or in a later snapshot as well)
    {ok, _} = lattice_store:increment(?STORE, 7, 1000),
    stop(),
    %% too many keys for the limit: the store does not start without some of them
    ?assertMatch({error, {cannot_recover, {error, limit_reached}}},
                 start(#{durable => true, dir => Dir, max_crdts => 100})),
    {ok, _} = start(#{durable => true, dir => Dir, snapshot_interval => infinity}),
    #{recovery := #{snapshot_keys := SnapKeys}} =
        maps:get(durability, lattice_store:info(?STORE)),
    ?assertEqual(200, SnapKeys),
    ?assertEqual({ok, 1007}, lattice_store:get(?STORE, 7)),
    ?assertEqual({ok, 200}, lattice_store:get(?STORE, 200)),
    ?assertEqual(200, length(lattice_store:keys(?STORE))),
    %% on demand
    {ok, _} = lattice_store:increment(?STORE, 7, 1),
    ok = lattice_store:snapshot(?STORE),
    stop(),
    %% the older segments are gone: one is left, the one the snapshot opened
    ?assertMatch([_], filelib:wildcard(filename:join(Dir, "wal.*"))),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertMatch(#{recovery := #{snapshot_keys := 200, wal_records := 0}},
                 maps:get(durability, lattice_store:info(?STORE))),
    ?assertEqual({ok, 1008}, lattice_store:get(?STORE, 7)),
    stop(),
    {ok, _} = lattice_store:start_link(lattice_durable_test_memory, #{}),
    ?assertEqual({error, not_durable}, lattice_store:snapshot(lattice_durable_test_memory)),
    ok = lattice_store:stop(lattice_durable_test_memory).

snapshots() ->
    maps:get(snapshots, maps:get(durability, lattice_store:info(?STORE))).

torn_tail_is_dropped() ->
    Dir = dir("torn"),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ok = lattice_store:create(?STORE, g, g_set),
    [{ok, _} = lattice_store:add(?STORE, g, E) || E <- lists:seq(1, 10)],
    stop(),
    [Seg] = filelib:wildcard(filename:join(Dir, "wal.*")),
    {ok, Bin} = file:read_file(Seg),
    %% a record cut short (a crash mid-write), then one whose checksum fails
    Torn = lattice_wal:frame({g, g_set, <<"never acknowledged">>}),
    Bad = lattice_wal:frame({g, entry, #{}}),
    <<L:32, C:32, P/binary>> = Bad,
    ok = file:write_file(Seg, [Bin, binary:part(Torn, 0, byte_size(Torn) - 3)]),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertEqual({ok, lists:seq(1, 10)}, lattice_store:get(?STORE, g)),
    stop(),
    ?assertEqual({ok, Bin}, file:read_file(Seg)),
    %% the last segment now is the (empty) one that start opened
    Last = filename:join(Dir, "wal.2"),
    ?assertEqual({ok, <<>>}, file:read_file(Last)),
    ok = file:write_file(Last, <<L:32, (C bxor 1):32, P/binary>>),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertEqual({ok, lists:seq(1, 10)}, lattice_store:get(?STORE, g)),
    {ok, _} = lattice_store:add(?STORE, g, 11),
    stop(),
    ?assertEqual({ok, <<>>}, file:read_file(Last)),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertEqual({ok, lists:seq(1, 11)}, lattice_store:get(?STORE, g)),
    stop().

corrupt_snapshot_refuses_to_start() ->
    Dir = dir("corrupt"),
    {ok, _} = start(#{durable => true, dir => Dir, snapshot_interval => 50}),
    [ok = lattice_store:create(?STORE, K, g_counter) || K <- lists:seq(1, 50)],
    wait(fun() -> snapshots() >= 1 end),
    stop(),
    Path = filename:join(Dir, "snapshot"),
    {ok, Bin} = file:read_file(Path),
    Mid = byte_size(Bin) div 2,
    <<A:Mid/binary, X, B/binary>> = Bin,
    ok = file:write_file(Path, [A, X bxor 16#5a, B]),
    ?assertEqual({error, {corrupt_snapshot, Path}}, start(#{durable => true, dir => Dir})),
    ?assertEqual(undefined, whereis(?STORE)),
    %% cut short, it is corrupt too (its end record is missing)
    ok = file:write_file(Path, binary:part(Bin, 0, byte_size(Bin) - 4)),
    ?assertEqual({error, {corrupt_snapshot, Path}}, start(#{durable => true, dir => Dir})),
    ok = file:write_file(Path, Bin),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ?assertEqual(50, length(lattice_store:keys(?STORE))),
    stop().

corrupt_older_segment_refuses_to_start() ->
    Dir = dir("corrupt_wal"),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ok = lattice_store:create(?STORE, k, g_counter),
    stop(),
    {ok, _} = start(#{durable => true, dir => Dir}),
    {ok, _} = lattice_store:increment(?STORE, k),
    stop(),
    Seg = filename:join(Dir, "wal.1"),
    {ok, Bin} = file:read_file(Seg),
    ok = file:write_file(Seg, binary:part(Bin, 0, byte_size(Bin) - 1)),
    ?assertEqual({error, {corrupt_wal, Seg}}, start(#{durable => true, dir => Dir})).

unusable_directory() ->
    Base = dir("unusable"),
    ok = filelib:ensure_dir(filename:join(Base, "x")),
    File = filename:join(Base, "a_file"),
    ok = file:write_file(File, <<"not a directory">>),
    ?assertMatch({error, {disk_error, _, _}}, start(#{durable => true, dir => File})),
    ?assertMatch({error, {disk_error, _, _}},
                 start(#{durable => true, dir => filename:join(File, "store")})),
    ?assertEqual(undefined, whereis(?STORE)),
    %% a read-only mount (root ignores file modes): where root may mount
    RO = filename:join(Base, "ro"),
    ok = filelib:ensure_dir(filename:join(RO, "x")),
    case os:cmd("mount -t tmpfs -o size=64k,ro tmpfs " ++ RO ++ " 2>&1 && echo mounted") of
        "mounted\n" ->
            try
                ?assertMatch({error, {disk_error, _, _}}, start(#{durable => true, dir => RO}))
            after
                os:cmd("umount " ++ RO)
            end;
        Other ->
            io:format(user, "~nlattice_durable_tests: no read-only mount (~ts)~n", [Other])
    end.

group_commit_shares_fsyncs() ->
    Dir = dir("group"),
    {ok, _} = start(#{durable => true, dir => Dir}),
    ok = lattice_store:create(?STORE, n, g_counter),
    Self = self(),
    Writers = 100,
    PerWriter = 50,
    Pids = [spawn_link(fun() ->
                           [{ok, _} = lattice_store:increment(?STORE, n)
                            || _ <- lists:seq(1, PerWriter)],
                           Self ! {done, self()}
                       end) || _ <- lists:seq(1, Writers)],
    [receive {done, P} -> ok end || P <- Pids],
    #{fsyncs := Fsyncs, records := Records, max_batch := MaxBatch} =
        maps:get(durability, lattice_store:info(?STORE)),
    ?assertEqual(Writers * PerWriter + 1, Records),
    ?assert(Fsyncs < Records div 2),
    ?assert(MaxBatch > 1),
    ?assertEqual({ok, Writers * PerWriter}, lattice_store:get(?STORE, n)),
    stop().

%% A tiny tmpfs: the log fills it.
with_small_disk(Tag, Fun) ->
    Dir = dir(Tag),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    case os:cmd("mount -t tmpfs -o size=32k tmpfs " ++ Dir ++ " 2>&1 && echo mounted") of
        "mounted\n" ->
            try Fun(Dir)
            after
                catch lattice_store:stop(?STORE),
                os:cmd("umount " ++ Dir)
            end;
        Other ->
            io:format(user, "~nlattice_durable_tests: no tmpfs mount, ~ts skipped (~ts)~n",
                      [Tag, Other])
    end.

fill(N) ->
    case lattice_store:add(?STORE, big, binary:copy(<<N:32>>, 256)) of
        {ok, _} when N < 10000 -> fill(N + 1);
        Result -> {N, Result}
    end.

disk_full_refuses_writes() ->
    with_small_disk("full", fun(Dir) ->
        {ok, _} = start(#{durable => true, dir => Dir}),
        ok = lattice_store:create(?STORE, big, g_set),
        {N, Result} = fill(0),
        ?assertMatch({error, {disk_error, _, enospc}}, Result),
        ?assertMatch({error, {disk_error, _, enospc}}, lattice_store:add(?STORE, big, x)),
        ?assertMatch({error, {disk_error, _, enospc}}, lattice_store:create(?STORE, k2, g_set)),
        ?assertMatch(#{durability := refusing_writes, disk_error := {disk_error, _, enospc}},
                     maps:get(durability, lattice_store:info(?STORE))),
        %% reads carry on; nothing acknowledged is lost after a restart
        {ok, Elements} = lattice_store:get(?STORE, big),
        stop(),
        %% still full: no room for the next incarnation, the store does not start
        ?assertMatch({error, {disk_error, _, enospc}}, start(#{durable => true, dir => Dir})),
        "" = os:cmd("mount -o remount,size=1m " ++ Dir),
        {ok, _} = start(#{durable => true, dir => Dir, snapshot_interval => infinity}),
        {ok, After} = lattice_store:get(?STORE, big),
        Acked = [binary:copy(<<I:32>>, 256) || I <- lists:seq(0, N - 1)],
        ?assertEqual([], Acked -- After),
        ?assertEqual([], After -- Elements),
        stop()
    end).

disk_full_memory_only() ->
    with_small_disk("full_mem", fun(Dir) ->
        {ok, _} = start(#{durable => true, dir => Dir, on_disk_error => memory_only}),
        ok = lattice_store:create(?STORE, big, g_set),
        {N, Result} = fill(0),
        ?assertMatch({10000, {ok, _}}, {N, Result}),
        ?assertMatch(#{durability := memory_only, disk_error := {disk_error, _, enospc}},
                     maps:get(durability, lattice_store:info(?STORE))),
        {ok, All} = lattice_store:get(?STORE, big),
        ?assertEqual(10001, length(All)),
        stop()
    end).

wait(Pred) ->
    wait(Pred, 200).

wait(Pred, 0) ->
    ?assert(Pred());
wait(Pred, N) ->
    case Pred() of
        true -> ok;
        false -> timer:sleep(50), wait(Pred, N - 1)
    end.

%% ---- kill -9 ------------------------------------------------------------------------------

kill_test_() ->
    {timeout, 180, fun kill_9_in_a_write_burst/0}.

%% Two nodes replicating a store, durable on A: 100 writers on A add to one set,
%% each telling this process of every acknowledged add; A is killed with `kill -9' in the
%% middle of the burst and started again on its directory. Every acknowledged add is on A
%% at once (read in the call that starts its store, before B could repair it), and on both
%% A and B once their digests are equal.
kill_9_in_a_write_burst() ->
    Started = lattice_peer_cluster:ensure_distributed(),
    Dir = dir("kill"),
    Name = list_to_atom("lattice_durable_" ++ os:getpid()),
    Store = lattice_durable_kill,
    Spec = fun(Durable) ->
                   lattice_store:child_spec(#{name => Store, durable => Durable, dir => Dir,
                                              snapshot_interval => 500})
           end,
    StartStore = fun(N, Durable) ->
                         {ok, _} = erpc:call(N, supervisor, start_child,
                                             [lattice_sup, Spec(Durable)]),
                         ok
                 end,
    try
        {_, A} = lattice_peer_cluster:start_named(Name, #{}),
        {PeerB, B} = lattice_peer_cluster:start_one(#{}),
        ok = StartStore(A, true),
        ok = StartStore(B, false),
        ok = erpc:call(A, lattice_store, create, [Store, set, g_set]),
        OsPid = list_to_integer(erpc:call(A, os, getpid, [])),
        Self = self(),
        ok = erpc:call(A, fun() ->
            [spawn(fun() -> burst(Store, Self, W, 1) end) || W <- lists:seq(1, 100)],
            ok
        end),
        Acked0 = collect_acks(#{}, 3000),
        os:cmd("kill -9 " ++ integer_to_list(OsPid)),
        Acked = collect_acks(Acked0, 500),
        ?assert(map_size(Acked) > 1000),
        lattice_peer_cluster:wait_until(node_down, fun() -> not lists:member(A, nodes()) end),
        %% started again; its store started and read in one call, before B could repair it
        {_, A} = lattice_peer_cluster:start_named(Name, #{}),
        DurableSpec = Spec(true),
        {ok, Elements} = erpc:call(A, fun() ->
            {ok, _} = supervisor:start_child(lattice_sup, DurableSpec),
            lattice_store:get(Store, set)
        end),
        Missing = missing(Acked, Elements),
        io:format(user, "~nkill -9: ~b acknowledged adds, ~b recovered, ~b missing~n",
                  [map_size(Acked), length(Elements), length(Missing)]),
        ?assertEqual([], Missing),
        true = erpc:call(A, net_kernel, connect_node, [B]),
        Digest = fun(N) -> erpc:call(N, lattice_store, digest, [Store, set]) end,
        lattice_peer_cluster:wait_until(converged, fun() -> Digest(A) =:= Digest(B) end, 90000),
        [begin
             {ok, Es} = erpc:call(N, lattice_store, get, [Store, set]),
             ?assertEqual({N, []}, {N, missing(Acked, Es)})
         end || N <- [A, B]],
        catch erpc:call(A, erlang, halt, []),
        lattice_peer_cluster:stop_one({PeerB, B})
    after
        lattice_peer_cluster:release_distribution(Started)
    end.

missing(Acked, Elements) ->
    Present = maps:from_list([{E, true} || E <- Elements]),
    [E || E <- maps:keys(Acked), not is_map_key(E, Present)].

burst(Store, To, W, I) ->
    {ok, _} = lattice_store:add(Store, set, {W, I}),
    To ! {acked, {W, I}},
    burst(Store, To, W, I + 1).

collect_acks(Acc, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    collect_until(Acc, Deadline).

collect_until(Acc, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {acked, E} -> collect_until(Acc#{E => true}, Deadline)
    after Left ->
        Acc
    end.

%% ---- kill -9 and rejoin -------------------------------------------------------------------

rejoin_test_() ->
    {timeout, 180, fun killed_node_recovers_and_converges/0}.

%% Two nodes replicating the default store, one durable: it is killed, the other takes writes
%% it misses; restarted on its directory it has its own acknowledged writes at once, and after
%% anti-entropy the two stores' digests are equal.
killed_node_recovers_and_converges() ->
    Started = lattice_peer_cluster:ensure_distributed(),
    Dir = dir("rejoin"),
    Name = list_to_atom("lattice_durable_a_" ++ os:getpid()),
    Env = #{store => [{durable, true}, {dir, Dir}]},
    Store = lattice_store:default(),
    try
        {_, A} = lattice_peer_cluster:start_named(Name, Env),
        {PeerB, B} = lattice_peer_cluster:start_one(#{}),
        ok = erpc:call(A, lattice_store, create, [Store, set, g_set]),
        [{ok, _} = erpc:call(A, lattice_store, add, [Store, set, {a, I}]) || I <- lists:seq(1, 200)],
        Digest = fun(N) -> erpc:call(N, lattice_store, digest, [Store, set]) end,
        lattice_peer_cluster:wait_until(replicated, fun() -> Digest(A) =:= Digest(B) end, 60000),
        OsPid = erpc:call(A, os, getpid, []),
        os:cmd("kill -9 " ++ OsPid),
        lattice_peer_cluster:wait_until(node_down, fun() -> not lists:member(A, nodes()) end),
        [{ok, _} = erpc:call(B, lattice_store, add, [Store, set, {b, I}]) || I <- lists:seq(1, 100)],
        {_, A} = lattice_peer_cluster:start_named(Name, Env),
        {ok, Mine} = erpc:call(A, lattice_store, get, [Store, set]),
        ?assertEqual([], [{a, I} || I <- lists:seq(1, 200)] -- Mine),
        lattice_peer_cluster:wait_until(converged, fun() -> Digest(A) =:= Digest(B) end, 90000),
        {ok, All} = erpc:call(A, lattice_store, get, [Store, set]),
        ?assertEqual(300, length(All)),
        catch erpc:call(A, erlang, halt, []),
        lattice_peer_cluster:stop_one({PeerB, B})
    after
        lattice_peer_cluster:release_distribution(Started)
    end.
