%% `make bench BENCH_GROUP=tiering': tiered storage (docs/TIERING.md). A store of N small keys
%% (g_counters, each incremented once) built all hot, then the same N keys built in a tiered
%% store (memory_limit 5000, ets_limit 50000, the rest on disk): build time, the VM's memory
%% (erlang:memory(total), after a garbage collection) and the DETS file's size, then the read
%% latency of a hot, a warm (ETS) and a disk key (each read promotes its key, so every timed
%% read is of a fresh demoted key; the median of 1000).
%%
%% N is LATTICE_TIER_KEYS (default 1,000,000); the hot store is built only up to
%% LATTICE_TIER_HOT_KEYS (default N), as 10M hot keys need several GB.
-module(lattice_bench_tier).

-export([run/0]).

-define(CHUNK, 50000).
-define(READS, 1000).

run() ->
    N = env_int("LATTICE_TIER_KEYS", 1000000),
    HotN = env_int("LATTICE_TIER_HOT_KEYS", N),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "lattice_bench_tier"),
    io:format("~nTiered storage: ~b g_counter keys tiered (memory_limit 5000, ets_limit 50000, "
              "the rest in DETS), against ~b keys all hot. Memory: erlang:memory(total) after "
              "a GC, less the VM's before the store; disk: the DETS file. Reads: median of ~b, "
              "each of a different key of that tier (a read of a demoted key promotes it).~n~n",
              [N, HotN, ?READS]),
    io:format("| store | keys | build s | VM memory MB | DETS MB | bytes/key (RAM) |~n"
              "|---|---:|---:|---:|---:|---:|~n"),
    Base = mem(),
    {HotS, HotMem} = build(bench_tier_hot, #{max_crdts => HotN + 1}, HotN, false),
    row("all hot", HotN, HotS, HotMem - Base, 0),
    {HotUs, _} = read_us(bench_tier_hot, lists:seq(1, ?READS)),
    ok = lattice_store:stop(bench_tier_hot),
    Base2 = mem(),
    Tiering = #{memory_limit => 5000, ets_limit => 50000, dir => Dir,
                tick_interval => 3600000, batch => ?CHUNK * 2},
    {TierS, TierMem} = build(bench_tier_cold, #{tiering => Tiering, max_crdts => N + 1},
                               N, true),
    #{tiering := St} = lattice_store:info(bench_tier_cold),
    row("tiered", N, TierS, TierMem - Base2, maps:get(disk_bytes, St)),
    io:format("~ntiers: ~p~n~n", [maps:with([ets_keys, disk_keys, demotions_to_ets,
                                             demotions_to_disk], St)]),
    %% Keys by tier: all counts are equal, so the smallest keys went first: the top 5000 are
    %% hot, the 50000 below them warm, the rest on disk (checked on the keys read).
    Hot = lists:seq(N, N - ?READS + 1, -1),
    Warm = lists:seq(N - 5000, N - 5000 - ?READS + 1, -1),
    Disk = lists:seq(1, ?READS),
    [none = lattice_tier:lookup(bench_tier_cold, K) || K <- Hot],
    [{ok, ets, _, _, _} = lattice_tier:lookup(bench_tier_cold, K) || K <- Warm],
    [{ok, disk, _, _, _} = lattice_tier:lookup(bench_tier_cold, K) || K <- Disk],
    {TierHotUs, _} = read_us(bench_tier_cold, Hot),
    {WarmUs, _} = read_us(bench_tier_cold, Warm),
    {DiskUs, _} = read_us(bench_tier_cold, Disk),
    io:format("| read (lattice_store:get) | median us |~n|---|---:|~n"),
    io:format("| hot key, tiering off | ~.2f |~n| hot key, tiering on | ~.2f |~n"
              "| warm (ETS) key, promoting it | ~.2f |~n| disk (DETS) key, promoting it | ~.2f |~n~n",
              [HotUs, TierHotUs, WarmUs, DiskUs]),
    ok = lattice_store:stop(bench_tier_cold),
    [].

env_int(Var, Default) ->
    case os:getenv(Var) of
        false -> Default;
        V -> list_to_integer(V)
    end.

mem() ->
    [erlang:garbage_collect(P) || P <- processes()],
    erlang:memory(total).

row(Name, N, S, Mem, Disk) ->
    io:format("| ~s | ~b | ~.1f | ~.1f | ~.1f | ~b |~n",
              [Name, N, S, Mem / 1.0e6, Disk / 1.0e6, round(Mem / max(N, 1))]).

%% Creates and increments N keys in chunks, a demotion pass after each chunk when tiered.
build(Name, Opts, N, Tiered) ->
    {ok, Pid} = lattice_store:start_link(Name, Opts),
    unlink(Pid),
    T0 = erlang:monotonic_time(),
    chunks(Name, 1, N, Tiered),
    S = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6,
    {S, mem()}.

chunks(_Name, From, N, _Tiered) when From > N -> ok;
chunks(Name, From, N, Tiered) ->
    To = min(N, From + ?CHUNK - 1),
    [begin ok = lattice_store:create(Name, K, g_counter),
           {ok, _} = lattice_store:increment(Name, K, 1)
     end || K <- lists:seq(From, To)],
    case Tiered of
        true -> ok = lattice_tier:pass(Name);
        false -> ok
    end,
    chunks(Name, To + 1, N, Tiered).

%% The median microseconds of one get per key.
read_us(Name, Keys) ->
    Ts = [begin
              T0 = erlang:monotonic_time(),
              {ok, 1} = lattice_store:get(Name, K),
              erlang:monotonic_time() - T0
          end || K <- Keys],
    Sorted = lists:sort(Ts),
    Med = lists:nth(max(1, length(Sorted) div 2), Sorted),
    {erlang:convert_time_unit(Med, native, nanosecond) / 1000, length(Keys)}.
