%% @doc Tiered storage for a store (docs/TIERING.md): hot keys as in-place objects in the
%% store's tables; beyond `memory_limit' hot keys the least used are demoted to their canonical
%% entry (one binary) in an ETS table, the warm tier, and beyond `ets_limit' warm keys to a DETS
%% file, the disk tier. Any read, write, create, delete or merge of a demoted key promotes it.
%%
%% This module owns the tiers, the access counts and the choice of what to demote; moving a
%% key's rows out of and back into the store's tables is `lattice_store''s (it knows the rows),
%% and runs in the store process, which serialises it with create, delete and merge. Callers
%% find a demoted key through {@link lookup/2} and promote it through the store process.
%%
%% A demoted key's record is `{Key, Bin, Digest, Visible, Count}': `Bin' the entry
%% (`lattice_store_entry:entry()', every state a canonical binary) as `term_to_binary',
%% `Digest' the key's `lattice_store:digest/2' (taken from its objects at demotion, so a
%% digest is the same whatever the tier), `Visible' whether the key shows a type, `Count' its
%% access count when demoted.
-module(lattice_tier).

-export([options/1, start/3, stop/1, enabled/1, touch/2, lookup/2, demote/3, promote/3,
         keys/2, fold/3, freeze/1, thaw/1, size/1, stats/1, pass/1, handle/3, settle/2]).

-export_type([config/0, tier/0]).

-type tier() :: ets | disk.
-type config() :: #{memory_limit := pos_integer(), ets_limit := pos_integer(),
                    access_threshold := pos_integer(), decay_interval := pos_integer(),
                    tick_interval := pos_integer(), batch := pos_integer(),
                    dir := file:filename()}.

%% Seed 001's defaults, and the demotion tick and its bound.
-define(DEFAULTS, #{memory_limit => 5000, ets_limit => 50000, access_threshold => 5,
                    decay_interval => 120000, tick_interval => 1000, batch => 10000}).

%% Keys of max_crdts per DETS file: at about 285 bytes a small key (docs/TIERING.md), 4M keys
%% are some 1.1 GB, well within DETS's 2 GB for keys somewhat larger than the smallest.
-define(KEYS_PER_FILE, 4000000).

%% Counters.
-define(PROMOTIONS, 1).
-define(TO_ETS, 2).
-define(TO_DISK, 3).
-define(DISK_ERRORS, 4).
-define(FROZEN, 5).      % 1 while the disk tier is frozen (freeze/1)
-define(NCOUNTERS, 5).

-record(tier, {store :: atom(),
               config :: config(),
               warm :: ets:tid(),
               counts :: ets:tid(),
               stale :: ets:tid(),    % keys promoted off a frozen disk tier (freeze/1)
               disk :: tuple(),
               files :: [file:filename()],
               counters :: atomics:atomics_ref(),
               bloom :: atomics:atomics_ref(),
               bloom_bits :: pos_integer()}).

%% The Bloom filter of the disk tier's keys: about 10 bits a key (of `max_crdts'), 3 hashes,
%% so that a lookup of a key that is not on disk (every create of a new key, every read of an
%% absent one) skips DETS (a lookup there costs some 90 us) but for about 2% of them. Bits
%% are set when keys go to disk and never cleared: a promoted key's bits stay, costing a
%% DETS lookup that finds nothing.

%% @doc Checks tiering options (a map of `memory_limit', `ets_limit', `access_threshold',
%% `decay_interval', `tick_interval' (ms between demotion passes) and `batch' (the most keys
%% moved per tier per pass), all positive integers, and `dir', the DETS file's directory) and
%% fills in the defaults. `badarg' for anything else.
-spec options(map()) -> config().
options(Opts) when is_map(Opts) ->
    maps:foreach(fun(dir, D) when is_list(D); is_binary(D) -> ok;
                    (K, N) when is_integer(N), N > 0 ->
                         true = is_map_key(K, ?DEFAULTS) orelse erlang:error(badarg);
                    (_, _) -> erlang:error(badarg)
                 end, Opts),
    Dir = maps:get(dir, Opts, filename:basedir(user_cache, "lattice")),
    maps:merge(?DEFAULTS, Opts#{dir => unicode:characters_to_list(Dir)});
options(_) ->
    erlang:error(badarg).

%% @doc Sets up the tiers of `Store' (called by the store process, which owns the tables):
%% the warm ETS table, the access counts and the DETS file `<dir>/<Store>.<node>.tier.dets'
%% (the node in the name: nodes on one host may share `dir'), cleared (the disk tier is a
%% cache of this run, not durable storage). Starts the demotion and decay
%% timers, which send `{lattice_tier, tick | decay}' to the caller. `MaxKeys' (the store's
%% `max_crdts') sizes the disk tier's Bloom filter.
-spec start(atom(), config(), pos_integer()) -> ok | {error, term()}.
start(Store, #{dir := Dir} = Config, MaxKeys) ->
    %% One DETS file per ?KEYS_PER_FILE keys of max_crdts (a file holds at most 2 GB), the
    %% keys spread over them by hash.
    Shards = lists:seq(1, max(1, (MaxKeys + ?KEYS_PER_FILE - 1) div ?KEYS_PER_FILE)),
    Base = atom_to_list(Store) ++ "." ++ atom_to_list(node()),
    Files = [filename:join(Dir, Base ++ "." ++ integer_to_list(I) ++ ".tier.dets") || I <- Shards],
    Names = [list_to_atom("lattice_tier_" ++ atom_to_list(Store) ++ "_" ++ integer_to_list(I))
             || I <- Shards],
    ok = filelib:ensure_dir(hd(Files)),
    _ = [file:delete(F) || F <- Files],
    %% 10 bits a key, in 64-bit words, at least 1024 of them
    Words = max(1024, (MaxKeys * 10 + 63) div 64),
    Opened = [dets:open_file(N, [{file, F}, {type, set}, {keypos, 1}])
              || {N, F} <- lists:zip(Names, Files)],
    case [E || {error, _} = E <- Opened] of
        [] ->
            T = #tier{store = Store, config = Config, disk = list_to_tuple(Names), files = Files,
                      warm = ets:new(lattice_tier_warm, [set, public, {read_concurrency, true}]),
                      counts = ets:new(lattice_tier_counts, [set, public,
                                                             {write_concurrency, true}]),
                      stale = ets:new(lattice_tier_stale, [set, public,
                                                           {read_concurrency, true}]),
                      counters = atomics:new(?NCOUNTERS, []),
                      bloom = atomics:new(Words, [{signed, false}]), bloom_bits = Words * 64},
            persistent_term:put({?MODULE, Store}, T),
            timers(Config),
            ok;
        [Error | _] ->
            _ = [dets:close(N) || {ok, N} <- Opened],
            Error
    end.

timers(#{tick_interval := Tick, decay_interval := Decay}) ->
    _ = erlang:send_after(Tick, self(), {?MODULE, tick}),
    _ = erlang:send_after(Decay, self(), {?MODULE, decay}),
    ok.

%% @doc Closes and deletes the disk tier of `Store' (at the store's stop).
-spec stop(atom()) -> ok.
stop(Store) ->
    case tier(Store) of
        undefined -> ok;
        T ->
            _ = persistent_term:erase({?MODULE, Store}),
            _ = [dets:close(N) || N <- tuple_to_list(T#tier.disk)],
            _ = [file:delete(F) || F <- T#tier.files],
            ok
    end.

tier(Store) ->
    persistent_term:get({?MODULE, Store}, undefined).

%% @doc Whether `Store' has tiering on.
-spec enabled(atom()) -> boolean().
enabled(Store) ->
    tier(Store) =/= undefined.

%% @doc Counts an access to a hot key (only with tiering on; one `ets:update_counter/4').
-spec touch(atom(), term()) -> ok.
touch(Store, Key) ->
    case tier(Store) of
        undefined -> ok;
        T ->
            _ = ets:update_counter(T#tier.counts, Key, 1, {Key, 0}),
            ok
    end.

%% @doc A demoted key's record, from any process: `{ok, Tier, Entry, Digest, Visible}', or
%% `none' (not demoted, or tiering off).
-spec lookup(atom(), term()) ->
          {ok, tier(), lattice_store_entry:entry(), <<_:128>>, boolean()} | none.
lookup(Store, Key) ->
    case tier(Store) of
        undefined -> none;
        T ->
            case ets:lookup(T#tier.warm, Key) of
                [{_, Bin, D, V, _}] -> {ok, ets, binary_to_term(Bin), D, V};
                [] ->
                    case maybe_on_disk(T, Key) andalso dets:lookup(shard(T, Key), Key) of
                        [{_, Bin, D, V, _}] ->
                            case ets:member(T#tier.stale, Key) of
                                false -> {ok, disk, binary_to_term(Bin), D, V};
                                true -> none
                            end;
                        _ ->
                            none
                    end
            end
    end.

%% @doc In the store process: writes `Key''s record into the warm tier (or overwrites it),
%% with the access count the key has now; `Out' is `{Entry, Digest, Visible}'. Called twice
%% per demotion by `lattice_store' (docs/TIERING.md, "Races").
-spec demote(atom(), term(), {lattice_store_entry:entry(), <<_:128>>, boolean()}) -> ok.
demote(Store, Key, {Entry, Digest, Visible}) ->
    T = tier(Store),
    Count = case ets:lookup(T#tier.counts, Key) of
                [{_, C}] -> C;
                [] -> 0
            end,
    true = ets:insert(T#tier.warm, {Key, term_to_binary(Entry), Digest, Visible, Count}),
    ok.

%% @doc In the store process: if `Key' is demoted, gives its entry to `In' (which writes the
%% key's rows back), then drops its record; `ok' after that or when tiering is off or the key
%% is not demoted.
-spec promote(atom(), term(), fun((lattice_store_entry:entry()) -> ok)) -> ok.
promote(Store, Key, In) ->
    case lookup(Store, Key) of
        none -> ok;
        {ok, Tier, Entry, _, _} ->
            T = tier(Store),
            ok = In(Entry),
            case Tier of
                ets -> true = ets:delete(T#tier.warm, Key);
                disk -> drop_from_disk(T, Key)
            end,
            _ = ets:update_counter(T#tier.counts, Key, 1, {Key, 0}),
            atomics:add(T#tier.counters, ?PROMOTIONS, 1),
            ok
    end.

%% A frozen disk tier is not changed: the key is marked stale, and dropped at thaw/1.
drop_from_disk(T, Key) ->
    case atomics:get(T#tier.counters, ?FROZEN) of
        0 -> ok = dets:delete(shard(T, Key), Key);
        1 -> true = ets:insert(T#tier.stale, {Key})
    end.

%% @doc In the store process: freezes the disk tier for a fold from another process
%% (fold/3, a durable store's snapshot). DETS does not keep a traversal whole while its
%% file changes (a fold beside deletes was seen to miss keys), so until thaw/1 nothing
%% changes the files: no pass may run (the store holds them back), and a key promoted off
%% disk keeps its record there, marked stale (lookup/2 and keys/2 skip it).
-spec freeze(atom()) -> ok.
freeze(Store) ->
    case tier(Store) of
        undefined -> ok;
        T -> atomics:put(T#tier.counters, ?FROZEN, 1)
    end.

%% @doc In the store process: ends freeze/1, deleting the stale records from disk.
-spec thaw(atom()) -> ok.
thaw(Store) ->
    case tier(Store) of
        undefined -> ok;
        T ->
            atomics:put(T#tier.counters, ?FROZEN, 0),
            Stale = T#tier.stale,
            ets:foldl(fun({K}, ok) -> ok = dets:delete(shard(T, K), K) end, ok, Stale),
            true = ets:delete_all_objects(Stale),
            ok
    end.

%% @doc The demoted keys of `Store' (every one, or only those that show a type), unsorted:
%% the disk tier's, then the warm tier's (the order of promotions, as in fold/3). Complete
%% only while passes are held back and the disk tier frozen (lattice_store's scans).
-spec keys(atom(), all | visible) -> [term()].
keys(Store, Which) ->
    case tier(Store) of
        undefined -> [];
        T ->
            Stale = T#tier.stale,
            Pick = fun({K, _, _, V, _}, Acc) when Which =:= all; V ->
                           case ets:member(Stale, K) of
                               false -> [K | Acc];
                               true -> Acc
                           end;
                      (_, Acc) -> Acc
                   end,
            fold_records(T, Pick, [])
    end.

%% @doc Folds `Fun(Key, Entry, Acc)' over every demoted key, from any process, the disk tier
%% frozen (freeze/1): the disk tier first, then the warm one. Promotions move keys the other
%% way (warm or disk to hot, the new place written before the old is dropped), so a fold of
%% the hot keys after this one sees every key that a promotion moves while it runs;
%% demotions must not run meanwhile (a durable store's snapshot holds them back:
%% lattice_store, docs/DURABILITY.md). A key promoted off disk meanwhile may come twice.
-spec fold(atom(), fun((term(), lattice_store_entry:entry(), A) -> A), A) -> A.
fold(Store, Fun, Acc0) ->
    case tier(Store) of
        undefined -> Acc0;
        T ->
            fold_records(T, fun({K, Bin, _, _, _}, Acc) -> Fun(K, binary_to_term(Bin), Acc) end,
                         Acc0)
    end.

%% Every demoted record, the disk tier's files first, then the warm tier.
fold_records(T, F, Acc0) ->
    Disk = lists:foldl(fun(N, Acc) -> dets:foldl(F, Acc, N) end, Acc0, tuple_to_list(T#tier.disk)),
    ets:foldl(F, Disk, T#tier.warm).

%% @doc The number of demoted keys of `Store' (0 with tiering off).
-spec size(atom()) -> non_neg_integer().
size(Store) ->
    case tier(Store) of
        undefined -> 0;
        T -> ets:info(T#tier.warm, size) + dets_size(T)
    end.

dets_size(T) ->
    dets_info(T, size) - ets:info(T#tier.stale, size).

%% A figure summed over the disk tier's files.
dets_info(T, What) ->
    lists:sum([case dets:info(N, What) of
                   V when is_integer(V) -> V;
                   _ -> 0
               end || N <- tuple_to_list(T#tier.disk)]).

%% The DETS file of a key.
shard(T, Key) ->
    element(erlang:phash2(Key, tuple_size(T#tier.disk)) + 1, T#tier.disk).

%% @doc The tiering figures: keys per tier, promotions, demotions to each tier, the DETS
%% file's bytes; `#{tiering => false}' with tiering off.
-spec stats(atom()) -> map().
stats(Store) ->
    case tier(Store) of
        undefined -> #{tiering => false};
        T ->
            C = T#tier.counters,
            #{tiering => true, ets_keys => ets:info(T#tier.warm, size),
              disk_keys => dets_size(T),
              promotions => atomics:get(C, ?PROMOTIONS),
              demotions_to_ets => atomics:get(C, ?TO_ETS),
              demotions_to_disk => atomics:get(C, ?TO_DISK),
              disk_errors => atomics:get(C, ?DISK_ERRORS),
              disk_bytes => dets_info(T, file_size),
              disk_files => tuple_size(T#tier.disk),
              warm_bytes => ets:info(T#tier.warm, memory) * erlang:system_info(wordsize)}
    end.

%% @doc Runs one demotion pass now, in the store process, and waits for it (`ok'), for
%% tests and benchmarks; the periodic passes go on as before.
-spec pass(atom()) -> ok.
pass(Store) ->
    Ref = erlang:monitor(process, Store),
    Store ! {?MODULE, {pass, self(), Ref}},
    receive
        {Ref, done} -> erlang:demonitor(Ref, [flush]), ok;
        {'DOWN', Ref, process, _, Why} -> erlang:error({store_down, Why})
    end.

%% @doc In the store process, a `{lattice_tier, Msg}' message: `tick' (every `tick_interval')
%% or a {@link pass/1}: one demotion pass; `decay' (every `decay_interval'): halves every
%% access count, dropping those that reach 0. `Hot' is `{HotCount, Fold, Out}': the number of
%% hot keys, a fold over their keys, and the function that moves one hot key's rows out
%% (`lattice_store''s, which calls {@link demote/3}).
%%
%% A pass demotes the least-accessed hot keys beyond `memory_limit' (never one accessed
%% `access_threshold' times since its count last decayed), then the least-accessed warm keys
%% beyond `ets_limit' to disk, at most `batch' keys of each. It moves ?STEP keys at a time,
%% sending itself `{lattice_tier, {step, ...}}' for the rest, so the store process takes its
%% other calls between steps (a create beside a pass of 10,000 keys waited 0.4 s when a pass
%% was one message); the next tick is set, or pass/1 answered, when the pass is done.
-spec handle(atom(), tick | decay | {pass, pid(), reference()} | {step, stage(), then()},
             {non_neg_integer(), fun((fun((term(), Acc) -> Acc), Acc) -> Acc),
              fun((term()) -> ok)}) -> ok
          when Acc :: [{non_neg_integer(), term()}].
handle(Store, tick, Hot) ->
    step(tier(Store), {start, Hot}, Hot, tick);
handle(Store, {pass, Pid, Ref}, Hot) ->
    step(tier(Store), {start, Hot}, Hot, {reply, Pid, Ref});
handle(Store, {step, Stage, Then}, Hot) ->
    step(tier(Store), Stage, Hot, Then);
handle(Store, decay, _Hot) ->
    T = tier(Store),
    Tab = T#tier.counts,
    ets:foldl(fun({K, 1}, ok) -> true = ets:delete(Tab, K), ok;
                 ({K, C}, ok) -> true = ets:insert(Tab, {K, C div 2}), ok
              end, ok, Tab),
    _ = erlang:send_after(maps:get(decay_interval, T#tier.config), self(), {?MODULE, decay}),
    ok.

%% @doc In the store process: passes until the hot and warm tiers are within their limits, or
%% a pass moves nothing (keys accessed `access_threshold' times stay hot). A durable store's
%% recovery settles after each chunk it applies, so recovering more keys than `memory_limit'
%% never holds them all in memory. `HotFun' gives handle/3's `Hot' as it is now.
-spec settle(atom(), fun(() -> {non_neg_integer(), fun(), fun()})) -> ok.
settle(Store, HotFun) ->
    T = tier(Store),
    #{memory_limit := MemLimit, ets_limit := EtsLimit} = T#tier.config,
    settle(T, HotFun, MemLimit, EtsLimit, none).

settle(T, HotFun, MemLimit, EtsLimit, Last) ->
    {HotCount, _, _} = Hot = HotFun(),
    Warm = ets:info(T#tier.warm, size),
    case HotCount =< MemLimit andalso Warm =< EtsLimit orelse {HotCount, Warm} =:= Last of
        true -> ok;
        false ->
            run_stages(T, {start, Hot}, Hot),
            settle(T, HotFun, MemLimit, EtsLimit, {HotCount, Warm})
    end.

%% A pass in stages: `{start, Hot}' picks the hot keys to demote, `{ets, Keys}' moves them to
%% the warm tier ?STEP at a time, `disk' picks the warm keys to move, `{disk, Keys}' moves
%% them ?STEP at a time. Each key is moved whole within a step, and looked up again when its
%% step comes (one promoted or deleted meanwhile is skipped).
-type stage() :: {start, term()} | {ets, [term()]} | disk | {disk, [term()]} | done.
-type then() :: tick | {reply, pid(), reference()}.

-define(STEP, 200).

step(T, Stage, Hot, Then) ->
    case run_stage(T, Stage, Hot) of
        done ->
            _ = case Then of
                    tick ->
                        erlang:send_after(maps:get(tick_interval, T#tier.config), self(),
                                          {?MODULE, tick});
                    {reply, Pid, Ref} ->
                        Pid ! {Ref, done}
                end,
            ok;
        Next ->
            self() ! {?MODULE, {step, Next, Then}},
            ok
    end.

%% In one go, for settle/2.
run_stages(_T, done, _Hot) -> ok;
run_stages(T, Stage, Hot) -> run_stages(T, run_stage(T, Stage, Hot), Hot).

run_stage(T, {start, _}, {HotCount, Fold, _Out}) ->
    #{memory_limit := MemLimit, access_threshold := Threshold, batch := Batch} = T#tier.config,
    {ets, to_ets_victims(T, HotCount - MemLimit, Batch, Threshold, Fold)};
run_stage(_T, {ets, []}, _Hot) ->
    disk;
run_stage(T, {ets, Keys}, {_, _, Out}) ->
    {Now, Rest} = split(Keys),
    Counts = T#tier.counts,
    lists:foreach(fun(K) ->
                          ok = Out(K),
                          true = ets:delete(Counts, K),
                          atomics:add(T#tier.counters, ?TO_ETS, 1)
                  end, Now),
    {ets, Rest};
run_stage(T, disk, _Hot) ->
    #{ets_limit := EtsLimit, batch := Batch} = T#tier.config,
    {disk, to_disk_victims(T, ets:info(T#tier.warm, size) - EtsLimit, Batch)};
run_stage(_T, {disk, []}, _Hot) ->
    done;
run_stage(T, {disk, Keys}, _Hot) ->
    {Now, Rest} = split(Keys),
    to_disk(T, Now),
    {disk, Rest}.

split(Keys) when length(Keys) > ?STEP -> lists:split(?STEP, Keys);
split(Keys) -> {Keys, []}.

to_ets_victims(_T, Excess, _Batch, _Threshold, _Fold) when Excess =< 0 ->
    [];
to_ets_victims(T, Excess, Batch, Threshold, Fold) ->
    Counts = T#tier.counts,
    Candidates = Fold(fun(K, Acc) ->
                              case ets:lookup(Counts, K) of
                                  [{_, C}] when C >= Threshold -> Acc;
                                  [{_, C}] -> [{C, K} | Acc];
                                  [] -> [{0, K} | Acc]
                              end
                      end, []),
    [K || {_, K} <- least(Candidates, min(Excess, Batch))].

to_disk_victims(_T, Excess, _Batch) when Excess =< 0 ->
    [];
to_disk_victims(T, Excess, Batch) ->
    Candidates = ets:select(T#tier.warm, [{{'$1', '_', '_', '_', '$2'}, [], [{{'$2', '$1'}}]}]),
    [K || {_, K} <- least(Candidates, min(Excess, Batch))].

to_disk(T, Keys) ->
    Warm = T#tier.warm,
    Records = [R || K <- Keys, R <- ets:lookup(Warm, K)],
    %% The disk first, then the warm rows go: a reader finds the key in one tier or the other.
    %% the filter's bits before the records: a reader that finds the key gone from ETS
    %% must not be told it is not on disk
    lists:foreach(fun({K, _, _, _, _}) -> on_disk(T, K) end, Records),
    ByShard = maps:groups_from_list(fun(R) -> shard(T, element(1, R)) end, Records),
    maps:foreach(fun(Shard, Rs) ->
                         case dets:insert(Shard, Rs) of
                             ok ->
                                 lists:foreach(fun({K, _, _, _, _}) ->
                                                       true = ets:delete(Warm, K)
                                               end, Rs),
                                 atomics:add(T#tier.counters, ?TO_DISK, length(Rs));
                             {error, _} ->
                                 %% A full file (DETS holds at most 2 GB) or a disk error:
                                 %% the keys stay warm.
                                 atomics:add(T#tier.counters, ?DISK_ERRORS, 1)
                         end
                 end, ByShard).

%% The N pairs with the smallest counts.
least(Candidates, N) ->
    lists:sublist(lists:sort(Candidates), N).

%% ---- the disk tier's Bloom filter -----------------------------------------------------------

bits(T, Key) ->
    M = T#tier.bloom_bits,
    [erlang:phash2({I, Key}, M) || I <- [1, 2, 3]].

on_disk(T, Key) ->
    lists:foreach(fun(B) -> set_bit(T#tier.bloom, B) end, bits(T, Key)).

set_bit(A, B) ->
    Ix = B div 64 + 1,
    Mask = 1 bsl (B rem 64),
    Old = atomics:get(A, Ix),
    case Old band Mask of
        0 ->
            case atomics:compare_exchange(A, Ix, Old, Old bor Mask) of
                ok -> ok;
                _ -> set_bit(A, B)
            end;
        _ -> ok
    end.

maybe_on_disk(T, Key) ->
    lists:all(fun(B) -> atomics:get(T#tier.bloom, B div 64 + 1) band (1 bsl (B rem 64)) =/= 0 end,
              bits(T, Key)).
