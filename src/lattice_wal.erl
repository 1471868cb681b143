%% @doc The write-ahead log of a durable store (docs/DURABILITY.md): one writer process per
%% store, group commit, framed records, periodic snapshots, recovery.
%%
%% A writer appends a record and waits: the log process takes every record that arrived
%% while its previous write ran, writes them in one `file:write/2' to a segment opened
%% `sync' (`O_SYNC': the call returns once the data is on disk, so a batch costs one trip to
%% a dirty I/O scheduler, not a write and a `datasync'), then answers every waiter. A write
%% is acknowledged (its call returns) only after the synchronous write that holds it.
%%
%% Every record on disk is framed `<<Len:32, Crc:32, Payload:Len/binary>>' (`Crc' the
%% `erlang:crc32/1' of the payload, the payload a `term_to_binary/1'). Reading stops at the
%% first frame that is short or whose checksum fails: in the last segment of the log that is
%% a torn tail (the write a crash interrupted, never acknowledged), and the file is truncated
%% there; anywhere else (an older segment, the snapshot) it is corruption, and recovery
%% stops with an error naming the file.
%%
%% The directory holds `incarnation' (the store's actor incarnation, one framed record),
%% `wal.<N>' (the log segments, `N' rising) and `snapshot' (each key's entry, and the first
%% segment it does not cover). A snapshot rotates the log to a new segment first, then dumps
%% the table (every record of the older segments was applied to the table before it was
%% logged, so the dump holds it), writes `snapshot.tmp', syncs it, renames it over
%% `snapshot', syncs the directory and deletes the older segments. Replaying a record the
%% snapshot already holds is harmless: joins are idempotent.
-module(lattice_wal).

-export([open/3, append/2, append_reply/3, writable/1, snapshot/1, status/1, close/1, owns/2,
         frame/1, read_frames/1]).
-export_type([wal/0, options/0, disk_error/0]).

-record(wal, {pid :: pid(), state :: atomics:atomics_ref(), recovery = #{} :: map()}).
-opaque wal() :: #wal{}.
-type options() :: #{dir := file:filename(), snapshot_interval := pos_integer() | infinity,
                     snapshot_wal_bytes := pos_integer() | infinity,
                     on_disk_error := refuse_writes | memory_only,
                     dump := fun((fun((term(), term(), term()) -> term()), term()) -> term())}.
-type disk_error() :: {disk_error, file:filename(), term()}.

%% Slots of the state atomics.
-define(MODE, 1).       % 0 durable, 1 refusing writes, 2 in memory only
-define(FSYNCS, 2).
-define(RECORDS, 3).
-define(MAX_BATCH, 4).
-define(SNAPSHOTS, 5).
-define(BYTES, 6).
-define(N, 6).

-define(BATCH_LIMIT, 20000).
%% The longest a batch waits for writers it expects (collect/4), in milliseconds.
-define(LINGER_MS, 1).
%% A snapshot being written is flushed every this many bytes (flush_some/2).
-define(FLUSH_BYTES, 2 * 1024 * 1024).
%% Recovered records are applied this many at a time.
-define(CHUNK, 4096).

%% ---- opening and recovery -----------------------------------------------------------------

%% @doc Recovers the store's directory and starts its log process, linked to the caller.
%% `Apply' is called with the recovered records, a list at a time, in order: `{Key, Entry}'
%% from the snapshot, then the logged `{Key, entry, Entry}' and `{Key, Type, Delta}' records. Gives the log, the
%% store's new incarnation (one more than the last one this directory recorded, written and
%% synced before this returns, so no two starts share one) and the recovery figures; or
%% `{error, Reason}' (`Apply' may throw `{lattice_wal, Reason}' to stop recovery with it):
%% `{corrupt_snapshot, Path}', `{corrupt_wal, Path}',
%% `{disk_error, Path, Posix}' (a directory that cannot be made or written).
-spec open(atom(), options(), fun(([term()]) -> any())) ->
          {ok, wal(), lattice:incarnation(), map()} | {error, term()}.
open(Name, #{dir := Dir} = Opts, Apply) ->
    T0 = erlang:monotonic_time(microsecond),
    try
        ok = ensure_dir(Dir),
        Inc = next_incarnation(Dir),
        {SnapKeys, FirstSeg} = load_snapshot(Dir, Apply),
        Segs = [N || N <- segments(Dir), N >= FirstSeg],
        {Replayed, Torn} = replay(Dir, Segs, Apply),
        Seg = lists:max([FirstSeg | Segs]) + 1,
        State = atomics:new(?N, [{signed, false}]),
        Parent = self(),
        Pid = proc_lib:spawn_link(fun() -> init(Name, Parent, Opts, Seg, State) end),
        Micros = erlang:monotonic_time(microsecond) - T0,
        Recovery = #{snapshot_keys => SnapKeys, wal_records => Replayed, wal_torn_tail => Torn,
                     recovery_ms => Micros / 1000},
        {ok, #wal{pid = Pid, state = State, recovery = Recovery}, Inc, Recovery}
    catch
        throw:{lattice_wal, Reason} -> {error, Reason}
    end.

ensure_dir(Dir) ->
    case filelib:ensure_dir(filename:join(Dir, "x")) of
        ok -> ok;
        {error, R} -> throw({lattice_wal, {disk_error, Dir, R}})
    end.

%% The incarnation: one more than the recorded one (the first start takes lattice:actor()'s),
%% on disk before any write can use it.
next_incarnation(Dir) ->
    Path = filename:join(Dir, "incarnation"),
    Inc = case file:read_file(Path) of
              {ok, Bin} ->
                  case read_frames(Bin) of
                      {[I], _, <<>>} when is_integer(I) -> (I + 1) band (1 bsl 64 - 1);
                      _ -> throw({lattice_wal, {corrupt_incarnation, Path}})
                  end;
              {error, enoent} ->
                  element(2, lattice:actor());
              {error, R} ->
                  throw({lattice_wal, {disk_error, Path, R}})
          end,
    ok = write_synced(Dir, "incarnation", [frame(Inc)]),
    Inc.

%% Writes Dir/Name through Name.tmp, synced, renamed, the directory synced. `Fill' is the
%% data, or a function given `Write' (which writes a piece of it) that writes it in pieces;
%% what `Fill' returns is returned (`ok' for data).
write_synced(Dir, Name, Data) when is_list(Data) ->
    write_synced(Dir, Name, fun(Write) -> Write(Data) end);
write_synced(Dir, Name, Fill) ->
    Tmp = filename:join(Dir, Name ++ ".tmp"),
    Final = filename:join(Dir, Name),
    case file:open(Tmp, [write, raw, binary]) of
        {ok, Fd} ->
            Write = fun(Data) ->
                            case file:write(Fd, Data) of
                                ok -> flush_some(Fd, iolist_size(Data));
                                {error, Why} -> throw({write_failed, Why})
                            end
                    end,
            R = try
                    Filled = Fill(Write),
                    case file:sync(Fd) of
                        ok -> {ok, Filled};
                        Error -> Error
                    end
                catch
                    throw:{write_failed, Posix} -> {error, Posix}
                after
                    _ = erase(lattice_wal_unflushed),
                    ok = file:close(Fd)
                end,
            case R of
                {ok, Result} ->
                    case file:rename(Tmp, Final) of
                        ok -> _ = sync_dir(Dir), Result;
                        {error, Why} -> throw({lattice_wal, {disk_error, Final, Why}})
                    end;
                {error, Why} ->
                    _ = file:delete(Tmp),
                    throw({lattice_wal, {disk_error, Tmp, Why}})
            end;
        {error, Why} ->
            throw({lattice_wal, {disk_error, Tmp, Why}})
    end.

%% A big file goes to disk ?FLUSH_BYTES at a time as it is written: its final sync then has
%% little left to do. On ext4 a sync waits for the journal's commit, which carries every
%% file's dirty data, so one sync of a whole 30 MB snapshot held the log's small writes (each
%% durable write) behind it for some 30 ms; a few MB at a time bound that.
flush_some(Fd, Bytes) ->
    Pending = case get(lattice_wal_unflushed) of
                  undefined -> Bytes;
                  P -> P + Bytes
              end,
    case Pending >= ?FLUSH_BYTES of
        true ->
            put(lattice_wal_unflushed, 0),
            case file:datasync(Fd) of
                ok -> ok;
                {error, Why} -> throw({write_failed, Why})
            end;
        false ->
            put(lattice_wal_unflushed, Pending),
            ok
    end.

%% A directory's entries (a rename, a new file) are durable once the directory is synced.
sync_dir(Dir) ->
    case file:open(Dir, [read, raw, directory]) of
        {ok, Fd} ->
            _ = file:sync(Fd),
            file:close(Fd);
        {error, _} ->
            ok
    end.

load_snapshot(Dir, Apply) ->
    Path = filename:join(Dir, "snapshot"),
    case file:read_file(Path) of
        {error, enoent} ->
            {0, 0};
        {error, R} ->
            throw({lattice_wal, {disk_error, Path, R}});
        {ok, Bin} ->
            case read_frames(Bin, 1) of
                {[{lattice_snapshot, 1, Seg}], _, Rest} -> {load_entries(Path, Rest, Apply, 0), Seg};
                _ -> throw({lattice_wal, {corrupt_snapshot, Path}})
            end
    end.

%% The snapshot's entries, applied a chunk at a time, up to its end record (which counts them).
load_entries(Path, Bin, Apply, N) ->
    case read_frames(Bin, ?CHUNK) of
        {Terms, _, Rest} when Terms =/= [] ->
            case lists:last(Terms) of
                {lattice_snapshot_end, Count} when Rest =:= <<>>,
                                                   Count =:= N + length(Terms) - 1 ->
                    Apply(lists:droplast(Terms)),
                    Count;
                _ when Rest =/= <<>>, length(Terms) =:= ?CHUNK ->
                    Apply(Terms),
                    load_entries(Path, Rest, Apply, N + ?CHUNK);
                _ ->
                    throw({lattice_wal, {corrupt_snapshot, Path}})
            end;
        _ ->
            throw({lattice_wal, {corrupt_snapshot, Path}})
    end.

segments(Dir) ->
    lists:sort([list_to_integer(N) || "wal." ++ N <- element(2, file:list_dir(Dir)),
                                      N =/= "", lists:all(fun(C) -> C >= $0 andalso C =< $9 end, N)]).

seg_path(Dir, N) ->
    filename:join(Dir, "wal." ++ integer_to_list(N)).

replay(_Dir, [], _Apply) ->
    {0, 0};
replay(Dir, [N | Rest], Apply) ->
    Path = seg_path(Dir, N),
    Bin = case file:read_file(Path) of
              {ok, B} -> B;
              {error, R} -> throw({lattice_wal, {disk_error, Path, R}})
          end,
    {Records, Good, Tail} = read_frames(Bin),
    Torn = case Tail of
               <<>> ->
                   0;
               _ when Rest =:= [] ->
                   %% a torn tail: never acknowledged, dropped
                   logger:notice("lattice_wal: ~ts: dropping a torn tail of ~b bytes",
                                 [Path, byte_size(Tail)]),
                   ok = truncate(Path, Good),
                   1;
               _ ->
                   throw({lattice_wal, {corrupt_wal, Path}})
           end,
    apply_chunks(Records, Apply),
    {More, Torn2} = replay(Dir, Rest, Apply),
    {length(Records) + More, Torn + Torn2}.

apply_chunks(Records, Apply) when length(Records) > ?CHUNK ->
    {Chunk, Rest} = lists:split(?CHUNK, Records),
    Apply(Chunk),
    apply_chunks(Rest, Apply);
apply_chunks(Records, Apply) ->
    Apply(Records).

truncate(Path, Size) ->
    case file:open(Path, [read, write, raw, binary]) of
        {ok, Fd} ->
            {ok, _} = file:position(Fd, Size),
            R = file:truncate(Fd),
            _ = file:sync(Fd),
            ok = file:close(Fd),
            case R of
                ok -> ok;
                {error, Why} -> throw({lattice_wal, {disk_error, Path, Why}})
            end;
        {error, Why} ->
            throw({lattice_wal, {disk_error, Path, Why}})
    end.

%% @doc A term as one framed record: `<<Len:32, Crc32:32, term_to_binary(Term)>>'.
-spec frame(term()) -> binary().
frame(Term) ->
    P = term_to_binary(Term),
    <<(byte_size(P)):32, (erlang:crc32(P)):32, P/binary>>.

%% @doc The records of a framed binary, in order, up to the first frame that is short or
%% fails its checksum: `{Terms, GoodBytes, Rest}' (`Rest' is `<<>>' for a whole file).
-spec read_frames(binary()) -> {[term()], non_neg_integer(), binary()}.
read_frames(Bin) ->
    read_frames(Bin, infinity).

%% At most Max records.
read_frames(Bin, Max) ->
    read_frames(Bin, Max, 0, []).

read_frames(Bin, 0, Off, Acc) ->
    {lists:reverse(Acc), Off, Bin};
read_frames(<<Len:32, Crc:32, P:Len/binary, Rest/binary>> = Bin, Max, Off, Acc) ->
    case erlang:crc32(P) =:= Crc andalso decode(P) of
        {ok, T} -> read_frames(Rest, dec(Max), Off + 8 + Len, [T | Acc]);
        _ -> {lists:reverse(Acc), Off, Bin}
    end;
read_frames(Bin, _Max, Off, Acc) ->
    {lists:reverse(Acc), Off, Bin}.

dec(infinity) -> infinity;
dec(N) -> N - 1.

decode(P) ->
    try {ok, binary_to_term(P)}
    catch error:badarg -> error
    end.

%% ---- appending ------------------------------------------------------------------------------

%% @doc Logs a record and waits for the synchronous write of the batch that holds it: `ok' when it is
%% on disk (or the log carries on in memory after a disk error, `on_disk_error =>
%% memory_only'), `{error, {disk_error, Path, Reason}}' when the log refuses writes.
-spec append(wal(), term()) -> ok | {error, term()}.
append(#wal{pid = Pid, state = A}, Record) ->
    case atomics:get(A, ?MODE) of
        0 ->
            Frame = frame(Record),
            Mon = erlang:monitor(process, Pid, [{alias, demonitor}]),
            Pid ! {append, Mon, Frame},
            receive
                {Mon, Reply} ->
                    erlang:demonitor(Mon, [flush]),
                    Reply;
                {'DOWN', Mon, process, _, Why} ->
                    {error, {wal_down, Why}}
            end;
        2 ->
            ok;
        _ ->
            refused(Pid)
    end.

%% @doc As {@link append/2}, without waiting: the log answers `From' (a gen_server caller,
%% `gen_server:reply/2') once the record is on disk, so a server can take its next call.
-spec append_reply(wal(), term(), gen_server:from()) -> ok.
append_reply(#wal{pid = Pid, state = A}, Record, From) ->
    case atomics:get(A, ?MODE) of
        0 -> Pid ! {append, {reply, From}, frame(Record)}, ok;
        2 -> gen_server:reply(From, ok);
        _ -> gen_server:reply(From, refused(Pid))
    end.

%% @doc `ok' if the log takes writes (durably or in memory only), else the disk error that
%% made it refuse them: a store checks before it applies a write.
-spec writable(wal()) -> ok | {error, term()}.
writable(#wal{pid = Pid, state = A}) ->
    case atomics:get(A, ?MODE) of
        1 -> refused(Pid);
        _ -> ok
    end.

%% @doc Writes a snapshot now, and waits for it: `ok' once `snapshot' holds every write
%% acknowledged before the call and the older log segments are deleted, else `{error, Reason}'.
-spec snapshot(wal()) -> ok | {error, term()}.
snapshot(#wal{pid = Pid}) ->
    Mon = erlang:monitor(process, Pid, [{alias, demonitor}]),
    Pid ! {snapshot_now, Mon},
    receive
        {Mon, Reply} -> erlang:demonitor(Mon, [flush]), Reply;
        {'DOWN', Mon, process, _, Why} -> {error, {wal_down, Why}}
    end.

refused(Pid) ->
    case status(Pid) of
        #{disk_error := E} when E =/= none -> {error, E};
        _ -> {error, wal_down}
    end.

%% @doc The log's figures: `durability' (`durable', `refusing_writes' or `memory_only'),
%% `disk_error' (`none' or the error), `fsyncs', `records', `max_batch', `snapshots', `dir',
%% `segment', `wal_bytes' (appended since the start), `group_mean' (records per `fsync') and
%% `recovery' (`snapshot_keys', `wal_records', `wal_torn_tail', `recovery_ms' of the start).
-spec status(wal() | pid()) -> map().
status(#wal{pid = Pid, state = A, recovery = Rec}) ->
    Fsyncs = atomics:get(A, ?FSYNCS),
    Records = atomics:get(A, ?RECORDS),
    maps:merge(status(Pid),
               #{recovery => Rec, fsyncs => Fsyncs, records => Records,
                 group_mean => Records / max(1, Fsyncs), wal_bytes => atomics:get(A, ?BYTES),
                 max_batch => atomics:get(A, ?MAX_BATCH),
                 snapshots => atomics:get(A, ?SNAPSHOTS)});
status(Pid) when is_pid(Pid) ->
    Mon = erlang:monitor(process, Pid, [{alias, demonitor}]),
    Pid ! {status, Mon},
    receive
        {Mon, Reply} -> erlang:demonitor(Mon, [flush]), Reply;
        {'DOWN', Mon, process, _, _} -> #{durability => down, disk_error => none}
    end.

%% @doc Whether `Pid' is the log's process (a store tells its log's exit from others).
-spec owns(wal(), pid()) -> boolean().
owns(#wal{pid = Pid}, P) -> Pid =:= P.

%% @doc Stops the log process (its data is on disk already).
-spec close(wal()) -> ok.
close(#wal{pid = Pid}) ->
    unlink(Pid),
    Mon = erlang:monitor(process, Pid),
    Pid ! stop,
    receive {'DOWN', Mon, process, _, _} -> ok end.

%% ---- the log process ------------------------------------------------------------------------

-record(s, {name, parent, dir, fd, seg, state, on_error, interval, dump, timer,
            wal_limit = infinity :: pos_integer() | infinity,  % snapshot_wal_bytes
            seg_bytes = 0 :: non_neg_integer(),  % written to the segments since the last snapshot
            error = none, snapshotting = false,
            snapshot_started = 0 :: integer(),   % monotonic, native units
            waiters = [] :: [reference()],   % answered when the running snapshot is done
            next = [] :: [reference()],      % answered by the snapshot after it
            expect = 0 :: non_neg_integer()}).  % the records the next batch waits for

init(Name, Parent, #{dir := Dir, on_disk_error := OnError, snapshot_interval := Iv,
                     dump := Dump} = Opts, Seg, State) ->
    S0 = #s{name = Name, parent = Parent, dir = Dir, seg = Seg, state = State,
            on_error = OnError, interval = Iv, dump = Dump,
            wal_limit = maps:get(snapshot_wal_bytes, Opts, infinity)},
    S = case open_segment(Dir, Seg) of
            {ok, Fd} -> S0#s{fd = Fd};
            {error, E} -> disk_failed(E, S0)
        end,
    loop(schedule(S)).

open_segment(Dir, Seg) ->
    Path = seg_path(Dir, Seg),
    case file:open(Path, [append, raw, binary, sync]) of
        {ok, Fd} ->
            _ = sync_dir(Dir),
            {ok, Fd};
        {error, R} ->
            {error, {disk_error, Path, R}}
    end.

%% One snapshot timer at a time, restarted when a snapshot is done.
schedule(#s{timer = T, interval = Iv} = S) ->
    _ = T =/= undefined andalso erlang:cancel_timer(T),
    S#s{timer = case Iv of
                    infinity -> undefined;
                    _ -> erlang:send_after(Iv, self(), snapshot)
                end}.

loop(S) ->
    receive
        {append, Tag, Frame} ->
            {Tags, Frames} = collect([Tag], [Frame], 1, S#s.expect),
            loop(log_full(commit(Tags, Frames, S)));
        {status, Tag} ->
            Tag ! {Tag, #{durability => mode(S), disk_error => S#s.error, dir => S#s.dir,
                          segment => S#s.seg}},
            loop(S);
        snapshot when S#s.snapshotting =:= false, S#s.error =:= none ->
            loop(start_snapshot(S#s{timer = undefined}));
        snapshot ->
            loop(schedule(S#s{timer = undefined}));
        {snapshot_now, Tag} when S#s.error =/= none ->
            reply([Tag], {error, S#s.error}),
            loop(S);
        {snapshot_now, Tag} when S#s.snapshotting ->
            loop(S#s{next = [Tag | S#s.next]});
        {snapshot_now, Tag} ->
            loop(start_snapshot(S#s{waiters = [Tag]}));
        {snapshot_done, Result} ->
            loop(schedule(snapshot_done(Result, S)));
        stop ->
            _ = S#s.fd =/= undefined andalso file:close(S#s.fd),
            ok;
        {'EXIT', _, _} ->
            loop(S)
    end.

%% Everything already waiting is one batch, and the batch waits (at most ?LINGER_MS) for the
%% records it expects: the writers the last batch answered, who are most of the next one,
%% and the ones that arrived while it was written. Taking only what is there would split the
%% writers into two groups, each waiting for the other's write (about half the throughput,
%% docs/DURABILITY.md). The wait blocks in `receive': a loop that yields keeps its scheduler
%% busy, so the other one (asleep) is not relieved of the writers queued on it.
collect(Tags, Frames, N, _Expect) when N >= ?BATCH_LIMIT ->
    {Tags, lists:reverse(Frames)};
collect(Tags, Frames, N, Expect) ->
    Wait = case N < Expect of
               true -> ?LINGER_MS;
               false -> 0
           end,
    receive
        {append, Tag, Frame} -> collect([Tag | Tags], [Frame | Frames], N + 1, Expect)
    after Wait ->
        {Tags, lists:reverse(Frames)}
    end.

commit(Tags, Frames, #s{error = none, fd = Fd, state = A} = S) ->
    case write_sync(Fd, Frames) of
        ok ->
            N = length(Tags),
            atomics:add(A, ?FSYNCS, 1),
            atomics:add(A, ?RECORDS, N),
            Bytes = iolist_size(Frames),
            atomics:add(A, ?BYTES, Bytes),
            N > atomics:get(A, ?MAX_BATCH) andalso atomics:put(A, ?MAX_BATCH, N),
            %% what came while this batch was written, with the writers about to be answered
            {message_queue_len, Queued} = process_info(self(), message_queue_len),
            reply(Tags, ok),
            S#s{expect = N + Queued, seg_bytes = S#s.seg_bytes + Bytes};
        {error, R} ->
            S2 = disk_failed({disk_error, seg_path(S#s.dir, S#s.seg), R}, S),
            reply(Tags, after_error(S2)),
            S2
    end;
commit(Tags, _Frames, S) ->
    reply(Tags, after_error(S)),
    S.

%% A log past `snapshot_wal_bytes' since the last snapshot takes one now: recovery replays the
%% log at some 145,000 records a second (docs/DURABILITY.md), so its length bounds a restart.
log_full(#s{seg_bytes = B, wal_limit = Limit, snapshotting = false, error = none} = S)
  when B >= Limit ->
    start_snapshot(S);
log_full(S) ->
    S.

write_sync(Fd, Frames) ->
    file:write(Fd, Frames).

after_error(#s{on_error = memory_only}) -> ok;
after_error(#s{error = E}) -> {error, E}.

reply(Tags, Reply) ->
    lists:foreach(fun({reply, From}) -> gen_server:reply(From, Reply);
                     (T) -> T ! {T, Reply}
                  end, Tags).

mode(#s{error = none}) -> durable;
mode(#s{on_error = memory_only}) -> memory_only;
mode(_) -> refusing_writes.

disk_failed(E, #s{on_error = OnError, state = A, name = Name} = S) ->
    logger:error("lattice_wal: store ~p: ~p; the store ~ts",
                 [Name, E, case OnError of
                               memory_only -> "carries on in memory only (writes are no "
                                              "longer durable)";
                               refuse_writes -> "refuses writes"
                           end]),
    atomics:put(A, ?MODE, case OnError of memory_only -> 2; refuse_writes -> 1 end),
    S2 = S#s{error = E},
    lattice_telemetry:execute([lattice, store, disk_error], #{},
                              #{store => Name, node => node(), error => E, mode => mode(S2)}),
    S2.

%% ---- snapshots ------------------------------------------------------------------------------

start_snapshot(#s{dir = Dir, seg = Seg, fd = Fd, dump = Dump} = S) ->
    case open_segment(Dir, Seg + 1) of
        {ok, Fd2} ->
            ok = file:close(Fd),
            Self = self(),
            Covered = Seg + 1,
            spawn_link(fun() -> Self ! {snapshot_done, dump(Dir, Covered, Dump)} end),
            S#s{fd = Fd2, seg = Covered, snapshotting = true, seg_bytes = 0,
                snapshot_started = erlang:monotonic_time()};
        {error, E} ->
            S2 = disk_failed(E, S),
            reply(S2#s.waiters, {error, E}),
            S2#s{waiters = []}
    end.

%% The entries are written ?CHUNK at a time as the fold goes: the dump never holds the whole
%% table (a process holding 200,000 frames spent tens of milliseconds in one garbage
%% collection, holding its scheduler; test/lattice_store_big_call_tests.erl).
dump(Dir, Covered, Dump) ->
    try
        Fill = fun(Write) ->
                       ok = Write(frame({lattice_snapshot, 1, Covered})),
                       Entry = fun(Key, E, {Buf, N, Count}) when N >= ?CHUNK ->
                                       ok = Write(lists:reverse(Buf)),
                                       {[frame({Key, E})], 1, Count + 1};
                                  (Key, E, {Buf, N, Count}) ->
                                       {[frame({Key, E}) | Buf], N + 1, Count + 1}
                               end,
                       {Buf, _, Count} = Dump(Entry, {[], 0, 0}),
                       ok = Write([lists:reverse(Buf), frame({lattice_snapshot_end, Count})]),
                       {ok, Count}
               end,
        {ok, Keys} = write_synced(Dir, "snapshot", Fill),
        _ = [file:delete(seg_path(Dir, N)) || N <- segments(Dir), N < Covered],
        {ok, Keys}
    catch
        throw:{lattice_wal, E} -> {error, E}
    end.

snapshot_done(Dumped, #s{state = A, waiters = Waiters, next = Next} = S) ->
    {Result, Keys} = case Dumped of
                         {ok, Count} ->
                             atomics:add(A, ?SNAPSHOTS, 1),
                             {ok, Count};
                         {error, E} = Error ->
                             %% the log itself is intact: a failed snapshot leaves the older
                             %% segments in place
                             logger:error("lattice_wal: store ~p: snapshot failed: ~p",
                                          [S#s.name, E]),
                             {Error, 0}
                     end,
    lattice_telemetry:execute([lattice, store, snapshot],
                              #{duration => erlang:monotonic_time() - S#s.snapshot_started,
                                keys => Keys},
                              #{store => S#s.name, node => node(), result => Result}),
    reply(Waiters, Result),
    S2 = S#s{snapshotting = false, waiters = [], next = []},
    case Next of
        [] -> S2;
        _ when S2#s.error =/= none -> reply(Next, {error, S2#s.error}), S2;
        _ -> start_snapshot(S2#s{waiters = Next})
    end.
