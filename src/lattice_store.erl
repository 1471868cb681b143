%% @doc The store: named tables of keys, each holding one CRDT of a type chosen at `create'
%% (docs/STORE.md). Reads and writes run in the caller, on ETS and the key's in-place object;
%% the store process owns the tables and serialises create, delete, merge and subscriptions.
%%
%% Types by name: `g_counter', `pn_counter', `g_set', `two_p_set', `or_set', `lww_set',
%% `lww_register', `lww_map', `mv_register'. Every function takes the store (its name) first;
%% the lattice application starts the default store, named `lattice_store' ({@link default/0}).
%%
%% Errors are values, `{error, Reason}': `not_found', `{wrong_type, T}', `{precondition, P}',
%% `{overflow, counter | timestamp}', `limit_reached'. A caller's bug is `badarg' with
%% `error_info' ({@link format_error/2} says which argument and why).
-module(lattice_store).
-behaviour(gen_server).

-export([start_link/2, child_spec/1, default/0, stop/1]).
-export([create/3, increment/2, increment/3, decrement/2, decrement/3, add/3, remove/3,
         set/3, put/4, get/2, get/3, lookup/2, delete/2, keys/1, conflicts/2]).
-export([subscribe/1, subscribe/2, unsubscribe/2]).
-export([drain/2, entry/2, merge/3, merge_many/2, merge_deltas/2, digest/2, rows/1, purge/2,
         info/1, stats/1]).
-export([checkpoint/1]).
-export([recovered/3, apply_records/2, fold_entries/3, snapshot/1]).
-export([format_error/2, error_message/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type store() :: atom().
-type key() :: term().
-type type() :: lattice_store_entry:type().
-type error() :: {error, not_found | limit_reached | {wrong_type, type()}
                        | {precondition, term()} | {overflow, counter | timestamp}}.
-type change() :: {created, type()} | {updated, term()} | deleted | merged
                | {type_conflict, type(), [type()]}.
-export_type([store/0, key/0, error/0, change/0]).

-define(DEFAULT, lattice_store).
%% Defaults: docs/STORE.md, "Memory per key" and "The delta buffer".
-define(MAX_CRDTS, 100000).
-define(MAX_DELTA_BUFFER_BYTES, 8388608).
-define(SNAPSHOT_WAL_BYTES, 64 * 1024 * 1024).
%% The bytes a buffered delta counts for besides its own: the row, the key and the type.
-define(ROW_BYTES, 48).

%% Counters in the store's atomics array.
-define(SEQ, 1).
-define(BYTES, 2).
-define(DROPPED, 3).
-define(OVERFLOW, 4).
-define(SUBS, 5).
-define(CONFLICTS, 6).
-define(NCOUNTERS, 6).

-record(st, {name :: atom(),
             actor :: lattice:actor(),
             keys :: ets:tid(),
             meta :: ets:tid(),
             deltas :: ets:tid(),
             subs :: ets:tid(),
             counters :: atomics:atomics_ref(),
             max_crdts :: pos_integer(),
             max_buf :: pos_integer(),
             wal = none :: none | lattice_wal:wal()}).

%% A caller's bug found anywhere below an API function is re-raised from it, with its arguments.
-define(API(Args, Body),
        try Body
        catch error:badarg -> erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])
        end).

%% ---- starting -----------------------------------------------------------------------------

%% @doc Starts a store registered as `Name'. Options (a map or a proplist): `max_crdts' (the
%% most keys, live or deleted, default 100,000) and `max_delta_buffer_bytes' (the bound of the
%% delta buffer, default 8 MiB); and durability (docs/DURABILITY.md): `durable' (default
%% `false'), `dir' (default `<data_dir>/<node>/<Name>', `data_dir' the application env,
%% default `"lattice_data"'), `snapshot_interval' (ms or `infinity', default 60000),
%% `snapshot_wal_bytes' (a snapshot also once the log since the last one holds this many
%% bytes, or `infinity'; default 64 MiB, about 5 s of replay) and
%% `on_disk_error' (`refuse_writes', the default, or `memory_only'); and `tiering'
%% (docs/TIERING.md, default off; with `durable' too).
-spec start_link(store(), map() | proplists:proplist()) -> {ok, pid()} | {error, term()}.
start_link(Name, Opts) ->
    ?API([Name, Opts], begin
        true = is_atom(Name) orelse erlang:error(badarg),
        Config = options(Opts),
        gen_server:start_link({local, Name}, ?MODULE, {Name, Config}, [])
    end).

%% @doc A child spec for a supervisor: the store and its replication (`lattice_store_sup').
%% `Opts' holds `name' (default `lattice_store'), the options of {@link start_link/2}, and
%% `replication': `false' for a store of this node only, or the options of
%% `lattice_repl:options/1' (default `#{}': replicate with the defaults); and `checkpoints'
%% (signed convergence checkpoints, docs/REPLICATION.md; only with replication): `false', `true'
%% (the defaults: keys, signers from the security configuration) or the options of
%% `lattice_checkpoint:options/1'; by default `true' for a store replicated with
%% `secure => true', else `false'.
-spec child_spec(map() | proplists:proplist()) -> supervisor:child_spec().
child_spec(Opts) ->
    ?API([Opts], begin
        Map = options_map(Opts),
        Name = maps:get(name, Map, ?DEFAULT),
        true = is_atom(Name) orelse erlang:error(badarg),
        Repl = case maps:get(replication, Map, #{}) of
                   false -> false;
                   R -> _ = lattice_repl:options(R), R
               end,
        %% on by default for a secure store, with everything from the security configuration
        Secure = is_map(Repl) andalso maps:get(secure, Repl, false) =:= true,
        Checkpoints = case maps:get(checkpoints, Map, Secure) of
                          false -> false;
                          true when Repl =/= false -> #{};
                          C when Repl =/= false, is_map(C) -> _ = lattice_checkpoint:options(C), C
                      end,
        Rest = maps:without([name, replication, checkpoints], Map),
        _ = options(Rest),
        #{id => {?MODULE, Name},
          start => {lattice_store_sup, start_link, [Name, Rest, Repl, Checkpoints]},
          type => supervisor, restart => permanent, shutdown => infinity,
          modules => [lattice_store_sup]}
    end).

%% @doc The name of the store the lattice application starts.
-spec default() -> store().
default() -> ?DEFAULT.

-spec stop(store()) -> ok.
stop(Store) ->
    gen_server:stop(Store).

options_map(Opts) when is_map(Opts) -> Opts;
options_map(Opts) when is_list(Opts) ->
    maps:from_list([case O of
                        {K, V} -> {K, V};
                        _ -> erlang:error(badarg)
                    end || O <- Opts]);
options_map(_) -> erlang:error(badarg).

options(Opts) ->
    Map = options_map(Opts),
    maps:foreach(fun(max_crdts, N) when is_integer(N), N > 0 -> ok;
                    (max_delta_buffer_bytes, N) when is_integer(N), N > 0 -> ok;
                    (tiering, _) -> ok;
                    (durable, B) when is_boolean(B) -> ok;
                    (dir, D) when is_list(D); is_binary(D) -> ok;
                    (snapshot_interval, infinity) -> ok;
                    (snapshot_interval, N) when is_integer(N), N > 0 -> ok;
                    (snapshot_wal_bytes, infinity) -> ok;
                    (snapshot_wal_bytes, N) when is_integer(N), N > 0 -> ok;
                    (on_disk_error, E) when E =:= refuse_writes; E =:= memory_only -> ok;
                    (_, _) -> erlang:error(badarg)
                 end, Map),
    #{max_crdts => maps:get(max_crdts, Map, ?MAX_CRDTS),
      max_buf => maps:get(max_delta_buffer_bytes, Map, ?MAX_DELTA_BUFFER_BYTES),
      tiering => case maps:get(tiering, Map, false) of
                     false -> false;
                     T -> lattice_tier:options(T)
                 end,
      durable => maps:get(durable, Map, false),
      dir => maps:get(dir, Map, default),
      snapshot_interval => maps:get(snapshot_interval, Map, 60000),
      snapshot_wal_bytes => maps:get(snapshot_wal_bytes, Map, ?SNAPSHOT_WAL_BYTES),
      on_disk_error => maps:get(on_disk_error, Map, refuse_writes)}.

%% ---- the API ------------------------------------------------------------------------------

%% @doc Creates `Key' with a type: `ok' also when the key exists with that type;
%% `{error, {wrong_type, T}}' when it exists with another; `{error, limit_reached}' when the
%% store holds `max_crdts' keys. The key must be data (no pids, references, funs).
-spec create(store(), key(), type()) -> ok | error().
create(Store, Key, Type) ->
    ?API([Store, Key, Type], begin
        S = store(Store),
        true = lattice_store_entry:is_type(Type) orelse erlang:error(badarg),
        _ = lattice_canon:encode(Key),
        call(S, {create, Key, Type})
    end).

%% @doc Adds 1 to a counter (`g_counter' or `pn_counter'); `{ok, NewValue}'.
-spec increment(store(), key()) -> {ok, integer()} | error().
increment(Store, Key) ->
    ?API([Store, Key], write(Store, Key, increment, 1)).

%% @doc Adds `N' (a positive integer) to a counter; `{ok, NewValue}'.
-spec increment(store(), key(), pos_integer()) -> {ok, integer()} | error().
increment(Store, Key, N) ->
    ?API([Store, Key, N], write(Store, Key, increment, count(N))).

-spec decrement(store(), key()) -> {ok, integer()} | error().
decrement(Store, Key) ->
    ?API([Store, Key], write(Store, Key, decrement, 1)).

%% @doc Subtracts `N' from a `pn_counter'; `{ok, NewValue}'.
-spec decrement(store(), key(), pos_integer()) -> {ok, integer()} | error().
decrement(Store, Key, N) ->
    ?API([Store, Key, N], write(Store, Key, decrement, count(N))).

%% @doc Adds an element to a set (`g_set', `two_p_set', `or_set', `lww_set');
%% `{ok, Size}', the number of elements after it.
-spec add(store(), key(), term()) -> {ok, non_neg_integer()} | error().
add(Store, Key, Element) ->
    ?API([Store, Key, Element], write(Store, Key, add, Element)).

%% @doc Removes an element from a set (`two_p_set', `or_set', `lww_set') or a field from an
%% `lww_map'; `{ok, Size}'. An absent one: `{error, {precondition, {not_present, E}}}'.
-spec remove(store(), key(), term()) -> {ok, non_neg_integer()} | error().
remove(Store, Key, Element) ->
    ?API([Store, Key, Element], write(Store, Key, remove, Element)).

%% @doc Sets a register (`lww_register', `mv_register'); `{ok, Value}'.
-spec set(store(), key(), term()) -> {ok, term()} | error().
set(Store, Key, Value) ->
    ?API([Store, Key, Value], write(Store, Key, set, Value)).

%% @doc Puts a field of an `lww_map'; `{ok, Size}', the number of fields after it.
-spec put(store(), key(), term(), term()) -> {ok, non_neg_integer()} | error().
put(Store, Key, Field, Value) ->
    ?API([Store, Key, Field, Value], write(Store, Key, put, {Field, Value})).

%% @doc The key's value: an integer for counters, a sorted list for sets (Erlang term order),
%% a map for an `lww_map', the value (or `undefined') for an `lww_register', the list of
%% concurrent values for an `mv_register'.
-spec get(store(), key()) -> {ok, term()} | {error, not_found}.
get(Store, Key) ->
    ?API([Store, Key], case read(Store, Key) of
                           {ok, _Type, Value} -> {ok, Value};
                           Error -> Error
                       end).

%% @doc A field of an `lww_map': `{ok, Value}', or `{error, not_found}' when the key or the
%% field is absent.
-spec get(store(), key(), term()) -> {ok, term()} | error().
get(Store, Key, Field) ->
    ?API([Store, Key, Field], begin
        S = store(Store),
        case find(S, Key) of
            {ok, lww_map, Obj, _} ->
                case lattice_object:value({get, Field}, Obj) of
                    {ok, _} = Ok -> Ok;
                    {error, {not_found, _}} -> {error, not_found}
                end;
            {ok, Type, _, _} -> {error, {wrong_type, Type}};
            Error -> Error
        end
    end).

%% @doc The key's type and value, as {@link get/2} gives the value.
-spec lookup(store(), key()) -> {ok, type(), term()} | {error, not_found}.
lookup(Store, Key) ->
    ?API([Store, Key], read(Store, Key)).

%% @doc Observed-remove delete (docs/STORE.md): removes what this replica has seen of the key;
%% a write concurrent with it survives. `{error, not_found}' for an absent key.
-spec delete(store(), key()) -> ok | {error, not_found}.
delete(Store, Key) ->
    ?API([Store, Key], call(store(Store), {delete, Key})).

%% @doc The keys the store shows (not the deleted ones), sorted.
-spec keys(store()) -> [key()].
keys(Store) ->
    ?API([Store], begin
        S = store(Store),
        Hot = fun(Demoted) ->
                      ets:foldl(fun({K, _, _, true, _}, Acc) -> [K | Acc];
                                   ({K, _, _, false, _}, Acc) ->
                                        case find_visible(meta_entries(S, K)) of
                                            {ok, _, _, _} -> [K | Acc];
                                            _ -> Acc
                                        end
                                end, Demoted, S#st.keys)
              end,
        lists:sort(every_tier(S, visible, Hot))
    end).

%% @doc The types that lost to the key's type, when replicas created it with different types
%% concurrently (docs/STORE.md); `[]' when there is no conflict or no key.
-spec conflicts(store(), key()) -> [type()].
conflicts(Store, Key) ->
    ?API([Store, Key], begin
        S = store(Store),
        case entries(S, Key) of
            {hot, Entries} -> case visible_types(Entries) of
                                  [_ | Losers] -> Losers;
                                  [] -> []
                              end;
            {demoted, Entry, _} -> lattice_store_entry:conflicts(Entry);
            none -> []
        end
    end).

%% @doc Subscribes the caller to every change of the store: it receives
%% `{lattice_store, Ref, Store, Key, Change}' for each.
-spec subscribe(store()) -> reference().
subscribe(Store) ->
    ?API([Store], call(store(Store), {subscribe, all, self()})).

%% @doc Subscribes the caller to the changes of one key (created or not yet).
-spec subscribe(store(), key()) -> reference().
subscribe(Store, Key) ->
    ?API([Store, Key], call(store(Store), {subscribe, {key, Key}, self()})).

-spec unsubscribe(store(), reference()) -> ok.
unsubscribe(Store, Ref) ->
    ?API([Store, Ref], begin
        true = is_reference(Ref) orelse erlang:error(badarg),
        call(store(Store), {unsubscribe, Ref})
    end).

%% ---- the seams for replication ------------------------------------------------------------

%% @doc Takes the oldest buffered deltas, in sequence order, up to `MaxBytes' of their bytes
%% (at least one if any), for the sync process (one drainer per store). Each is
%% `{Seq, Key, Type, Delta}' (a write's delta, `lattice_store_entry:from_delta/2' makes it an
%% entry) or `{Seq, Key, entry, Entry}' (a create or delete). `overflowed' says deltas were
%% dropped on a full buffer since the last drain: peers then need anti-entropy.
-spec drain(store(), pos_integer()) ->
          {[{pos_integer(), key(), type() | entry, term()}],
           #{overflowed := boolean(), dropped := non_neg_integer(),
             bytes := non_neg_integer(), seq := non_neg_integer()}}.
drain(Store, MaxBytes) ->
    ?API([Store, MaxBytes], begin
        S = store(Store),
        true = (is_integer(MaxBytes) andalso MaxBytes > 0) orelse erlang:error(badarg),
        C = S#st.counters,
        Overflowed = atomics:exchange(C, ?OVERFLOW, 0) =:= 1,
        Deltas = take(S, MaxBytes, 0, []),
        {Deltas, #{overflowed => Overflowed, dropped => atomics:get(C, ?DROPPED),
                   bytes => atomics:get(C, ?BYTES), seq => atomics:get(C, ?SEQ)}}
    end).

take(S, Max, Bytes, Acc) ->
    Tab = S#st.deltas,
    case ets:first(Tab) of
        '$end_of_table' -> lists:reverse(Acc);
        Seq ->
            case ets:lookup(Tab, Seq) of
                [{_, _, _, _, Size}] when Acc =/= [], Bytes + Size > Max ->
                    lists:reverse(Acc);
                [{_, Key, Type, Delta, Size}] ->
                    ets:delete(Tab, Seq),
                    atomics:sub(S#st.counters, ?BYTES, Size),
                    take(S, Max, Bytes + Size, [{Seq, Key, Type, Delta} | Acc])
            end
    end.

%% @doc The key's whole entry (lattice_store_entry), deleted keys included (their tombs are
%% what a peer needs); `{error, not_found}' for a key the store has never had.
-spec entry(store(), key()) -> {ok, lattice_store_entry:entry()} | {error, not_found}.
entry(Store, Key) ->
    ?API([Store, Key], begin
        S = store(Store),
        case entries(S, Key) of
            {hot, Entries} -> {ok, snapshot_entry(Entries)};
            {demoted, Entry, _} -> {ok, Entry};
            none -> {error, not_found}
        end
    end).

%% @doc Merges a peer's entry for `Key' into the store (lattice_store_entry:merge/2, applied in
%% place). A new key counts towards `max_crdts'. An entry that is not valid:
%% `{error, {bad_entry, Reason}}', and nothing changes.
-spec merge(store(), key(), lattice_store_entry:entry()) ->
          ok | {error, limit_reached | {bad_entry, term()}}.
merge(Store, Key, Entry) ->
    ?API([Store, Key, Entry], begin
        S = store(Store),
        _ = lattice_canon:encode(Key),
        case lattice_store_entry:validate(Entry) of
            ok -> call(S, {merge, Key, Entry});
            Error -> Error
        end
    end).

%% @doc Merges many peers' entries in one call to the store process, in order:
%% `[{Key, Entry}]' (each as {@link merge/3}), giving one result per key, in order. Entries
%% that are not valid give `{error, {bad_entry, R}}' for their key and change nothing.
-spec merge_many(store(), [{key(), lattice_store_entry:entry()}]) ->
          [ok | {error, limit_reached | {bad_entry, term()}}].
merge_many(Store, Pairs) ->
    ?API([Store, Pairs], begin
        S = store(Store),
        true = is_list(Pairs) orelse erlang:error(badarg),
        Checked = [case P of
                       {Key, Entry} ->
                           _ = lattice_canon:encode(Key),
                           {Key, Entry, lattice_store_entry:validate(Entry)};
                       _ -> erlang:error(badarg)
                   end || P <- Pairs],
        Valid = [{K, E} || {K, E, ok} <- Checked],
        Results = case Valid of
                      [] -> [];
                      _ -> call(S, {merge_many, Valid})
                  end,
        zip_results(Checked, Results)
    end).

zip_results([], []) -> [];
zip_results([{_, _, ok} | Rest], [R | Results]) -> [R | zip_results(Rest, Results)];
zip_results([{_, _, Error} | Rest], Results) -> [Error | zip_results(Rest, Results)].

%% @doc Merges peers' write deltas, `[{Key, Type, Delta}]' (each a valid state of `Type': the
%% caller validates), giving one result per delta, in order. A delta for a key this store
%% shows with that type is joined into its object in the caller, in place, with no call to
%% the store process (as a local write is); any other (a new key, a deleted key, another type)
%% goes through {@link merge_many/2}.
-spec merge_deltas(store(), [{key(), type(), binary()}]) ->
          [ok | {error, limit_reached | {bad_entry, term()}}].
merge_deltas(Store, Deltas) ->
    ?API([Store, Deltas], begin
        S = store(Store),
        Fast = [case ets:lookup(S#st.keys, Key) of
                    [{_, Type, Obj, true, _}] ->
                        case lattice_object:join(Delta, Obj) of
                            ok ->
                                notify(S, Key, merged),
                                ok;
                            {error, retired} ->
                                %% demoted since the lookup: through the store process
                                {slow, Key, lattice_store_entry:from_delta(Type, Delta)}
                        end;
                    _ ->
                        {slow, Key, lattice_store_entry:from_delta(Type, Delta)}
                end || {Key, Type, Delta} <- Deltas],
        case [{K, E} || {slow, K, E} <- Fast] of
            [] -> Fast;
            Slow -> fill_slow(Fast, merge_many(Store, Slow))
        end
    end).

fill_slow([], []) -> [];
fill_slow([{slow, _, _} | Rest], [R | Results]) -> [R | fill_slow(Rest, Results)];
fill_slow([R | Rest], Results) -> [R | fill_slow(Rest, Results)].

%% @doc The 16-byte digest of the key's whole entry (every type's state digest, presence and
%% tomb), in O(1) of the states' sizes: equal on two replicas exactly when their entries are
%% equal (up to hash collisions). Anti-entropy keeps it as the key's leaf. `{error, not_found}'
%% for a key the store has never had.
-spec digest(store(), key()) -> {ok, <<_:128>>} | {error, not_found}.
digest(Store, Key) ->
    ?API([Store, Key], begin
        S = store(Store),
        case entries(S, Key) of
            {hot, Entries} -> {ok, entries_digest(Entries)};
            {demoted, _, Digest} -> {ok, Digest};
            none -> {error, not_found}
        end
    end).

entries_digest(Entries) ->
    Parts = [{T, lattice_object:digest(Obj), P, Tb}
             || {T, {Obj, P, Tb}} <- lists:sort(maps:to_list(Entries))],
    lattice_hash:xxh3_128(lattice_canon:encode(Parts)).

%% @doc Every key the store has a row for, deleted keys (tombstones) included, unsorted: what
%% replication must carry to a peer.
-spec rows(store()) -> [key()].
rows(Store) ->
    ?API([Store], begin
        S = store(Store),
        every_tier(S, all, fun(Demoted) ->
                                   ets:foldl(fun({K, _}, Acc) -> [K | Acc] end, Demoted, S#st.meta)
                           end)
    end).

%% The keys of every tier: `Hot(Demoted)' adds the hot keys to the demoted ones. With tiering
%% on, the tiers are held still for it (tiers_held/2), and the demoted keys are taken first:
%% a key promoted meanwhile is then seen in its old place, its new one or both (the
%% duplicate dropped here, the list then sorted), never in neither.
every_tier(S, Which, Hot) ->
    case lattice_tier:enabled(S#st.name) of
        false -> Hot([]);
        true -> lists:usort(tiers_held(S, fun() -> Hot(lattice_tier:keys(S#st.name, Which)) end))
    end.

%% Runs `Fun()' with the store's tiers held still: no demotion pass runs and nothing is
%% deleted from the disk tier until it returns (a DETS fold beside deletes misses keys;
%% `hold_tiers' in handle_call/3). From any process but the store's.
tiers_held(S, Fun) ->
    ok = gen_server:call(S#st.name, hold_tiers, infinity),
    try Fun()
    after gen_server:cast(S#st.name, {release_tiers, self()})
    end.

%% @doc Drops a deleted key's row (its tombstone), for the replication layer once every peer
%% has seen the delete (causal stability): before that, a peer's merge would bring the
%% deleted writes back. `{error, visible}' if the key shows a type, `{error, not_found}' if
%% the store has no row for it.
-spec purge(store(), key()) -> ok | {error, visible | not_found}.
purge(Store, Key) ->
    ?API([Store, Key], call(store(Store), {purge, Key})).

%% @doc The store's figures: keys (rows, live or deleted), the limit, the delta buffer, type
%% conflicts, subscriptions, the memory of the key table.
-spec info(store()) -> map().
info(Store) ->
    ?API([Store], begin
        S = store(Store),
        C = S#st.counters,
        #{rows => row_count(S), hot_keys => ets:info(S#st.keys, size),
          tiering => lattice_tier:stats(S#st.name), max_crdts => S#st.max_crdts,
          delta_seq => atomics:get(C, ?SEQ), delta_bytes => atomics:get(C, ?BYTES),
          deltas_buffered => ets:info(S#st.deltas, size),
          max_delta_buffer_bytes => S#st.max_buf,
          deltas_dropped => atomics:get(C, ?DROPPED),
          type_conflicts => atomics:get(C, ?CONFLICTS),
          subscriptions => atomics:get(C, ?SUBS), actor => S#st.actor,
          durability => lattice_durable:info(S#st.wal),
          table_bytes => (ets:info(S#st.keys, memory) + ets:info(S#st.meta, memory)) *
                             erlang:system_info(wordsize)}
    end).

%% @doc The store's figures and its replication's, in one map: {@link info/1}'s and
%% `lattice_repl:stats/1''s (docs/REPLICATION.md lists them); `replication => false' for a
%% store started without replication.
-spec stats(store()) -> map().
stats(Store) ->
    ?API([Store], begin
        Info = info(Store),
        case whereis(lattice_repl:name(Store)) of
            undefined -> Info#{replication => false};
            _ -> with_checkpoints(Store,
                                  maps:merge(Info#{replication => true}, lattice_repl:stats(Store)))
        end
    end).

%% @doc The latest signed convergence checkpoint of the store (docs/REPLICATION.md, "Signed
%% checkpoints"): `{ok, Certificate}' — a map with `store', `epoch', `digest', `root'
%% (`#{hash, count}'), `signers' (nodes), `weight', `needed' and `certificate', the canonical
%% quorum certificate binary that `lattice_checkpoint:verify/2' checks — or `{error, none_yet}',
%% or `{error, not_enabled}' for a store without checkpoints.
-spec checkpoint(store()) -> {ok, lattice_checkpoint:certificate()} |
                             {error, none_yet | not_enabled}.
checkpoint(Store) ->
    ?API([Store], begin
        true = is_atom(Store) orelse erlang:error(badarg),
        lattice_checkpoint:latest(Store)
    end).

with_checkpoints(Store, Stats) ->
    case whereis(lattice_checkpoint:name(Store)) of
        undefined -> Stats;
        _ -> Stats#{checkpoints => lattice_checkpoint:stats(Store)}
    end.

%% ---- reads and writes, in the caller -----------------------------------------------------

store(Name) when is_atom(Name) ->
    persistent_term:get({?MODULE, Name});
store(_) ->
    erlang:error(badarg).

call(S, Request) ->
    try gen_server:call(S#st.name, Request, infinity)
    catch exit:{noproc, _} -> erlang:error(badarg)
    end.

count(N) when is_integer(N), N > 0, N < 1 bsl 64 -> N;
count(_) -> erlang:error(badarg).

%% The key's visible type, object and tomb, on the fast path when the row says it is present.
find(S, Key) ->
    case ets:lookup(S#st.keys, Key) of
        [{_, Type, Obj, true, Tomb}] ->
            lattice_tier:touch(S#st.name, Key),
            {ok, Type, Obj, Tomb};
        [{_, _, _, false, _}] ->
            lattice_tier:touch(S#st.name, Key),
            case ets:lookup(S#st.meta, Key) of
                [Row] -> find_visible(row_entries(Row));
                [] -> find(S, Key) % demoted or purged since the key row was read
            end;
        [] ->
            %% With tiering on, a demoted key: the store process promotes it (docs/TIERING.md)
            case lattice_tier:enabled(S#st.name) andalso call(S, {promote, Key}) of
                ok -> find(S, Key);
                _ -> {error, not_found}
            end
    end.

find_visible(Entries) ->
    case visible_types(Entries) of
        [T | _] ->
            {Obj, _, Tb} = maps:get(T, Entries),
            {ok, T, Obj, tomb_info(T, Tb)};
        [] ->
            {error, not_found}
    end.

read(Store, Key) ->
    S = store(Store),
    case find(S, Key) of
        {ok, Type, Obj, Tomb} -> {ok, Type, value(Type, Obj, Tomb)};
        Error -> Error
    end.

write(Store, Key, Kind, Arg) ->
    S = store(Store),
    case find(S, Key) of
        {ok, Type, Obj, Tomb} ->
            case op(Kind, Type, Arg) of
                {ok, Op} ->
                    case writable(S) andalso lattice_object:update(Op, S#st.actor, Obj) of
                        {ok, Delta} ->
                            buffer(S, Key, Type, Delta, byte_size(Delta)),
                            notify(S, Key, {updated, Op}),
                            case durable(S, {Key, Type, Delta}) of
                                ok -> {ok, result(Kind, Type, Obj, Tomb, Arg)};
                                Error -> Error
                            end;
                        {error, retired} ->
                            %% demoted since the lookup (docs/TIERING.md): again, promoting it
                            write(Store, Key, Kind, Arg);
                        {error, _} = Error ->
                            Error;
                        false ->
                            lattice_wal:writable(S#st.wal)
                    end;
                wrong_type ->
                    {error, {wrong_type, Type}}
            end;
        Error ->
            Error
    end.

%% A key's entries of objects, or, demoted, its entry and digest from its tier
%% (lattice_tier:lookup/2), without promoting it. The meta row is looked up again when the
%% tier has no record: a promotion writes the rows before it drops the record.
entries(S, Key) ->
    case ets:lookup(S#st.meta, Key) of
        [Row] -> {hot, row_entries(Row)};
        [] ->
            case lattice_tier:lookup(S#st.name, Key) of
                {ok, _, Entry, Digest, _} -> {demoted, Entry, Digest};
                none ->
                    case ets:lookup(S#st.meta, Key) of
                        [Row] -> {hot, row_entries(Row)};
                        [] -> none
                    end
            end
    end.

op(increment, T, N) when T =:= g_counter; T =:= pn_counter -> {ok, {increment, N}};
op(decrement, pn_counter, N) -> {ok, {decrement, N}};
op(add, T, E) when T =:= g_set; T =:= two_p_set; T =:= or_set; T =:= lww_set -> {ok, {add, E}};
op(remove, T, E) when T =:= two_p_set; T =:= or_set; T =:= lww_set; T =:= lww_map ->
    {ok, {remove, E}};
op(set, T, V) when T =:= lww_register; T =:= mv_register -> {ok, {assign, V}};
op(put, lww_map, {F, V}) -> {ok, {put, F, V}};
op(_, _, _) -> wrong_type.

result(Kind, Type, Obj, Tomb, _) when Kind =:= increment; Kind =:= decrement ->
    value(Type, Obj, Tomb);
result(set, _, _, _, Value) ->
    Value;
result(_, Type, Obj, Tomb, _) ->
    case plain(Type, Tomb) of
        true -> lattice_object:value(size, Obj);
        false -> map_size_or_length(value(Type, Obj, Tomb))
    end.

map_size_or_length(M) when is_map(M) -> map_size(M);
map_size_or_length(L) -> length(L).

%% Whether the tomb subtracts nothing from the object's value (never deleted, or a dot type).
plain(_, none) -> true;
plain(_, 0) -> true;
plain(_, Removed) when is_map(Removed), map_size(Removed) =:= 0 -> true;
plain(_, _) -> false.

%% The value the key shows: the object's value less what its tomb removed.
value(T, Obj, Tv) when T =:= g_counter; T =:= pn_counter ->
    lattice_object:value(Obj) - Tv;
value(T, Obj, Removed) when T =:= g_set; T =:= two_p_set ->
    case map_size(Removed) of
        0 -> lattice_object:value(Obj);
        _ -> [E || E <- lattice_object:value(Obj), not is_map_key(E, Removed)]
    end;
value(_, Obj, none) ->
    lattice_object:value(Obj);
value(_, Obj, 0) ->
    lattice_object:value(Obj);
value(T, Obj, Td) when is_integer(Td) ->
    lattice_store_entry:visible_value(T, lattice_object:snapshot(Obj), Td).

%% A tomb in the form reads use: counters its value, G/2P-Sets the map of removed elements,
%% LWW types the delete timestamp, dot types `none'.
tomb_info(T, Tb) when T =:= g_counter; T =:= pn_counter ->
    (lattice_store_entry:module(T)):value(Tb);
tomb_info(T, Tb) when T =:= g_set; T =:= two_p_set ->
    lattice_store_entry:tomb_elements(T, Tb);
tomb_info(_, Tb) ->
    Tb.

%% The types an entry of objects shows, in tag order (lattice_store_entry:visible/1 on
%% objects): present, or holding a write beyond the tomb.
visible_types(Entries) ->
    [T || T <- in_tag_order(Entries), {Obj, P, Tb} <- [maps:get(T, Entries)],
          lattice_store_entry:is_present(P) orelse beyond(T, Obj, Tb)].

%% The entries' types in tag order (nearly always one type).
in_tag_order(Entries) ->
    case maps:keys(Entries) of
        [] -> [];
        [_] = One -> One;
        Types -> [T || T <- lattice_store_entry:types(), lists:member(T, Types)]
    end.

beyond(T, Obj, Tb) ->
    case lattice_store_entry:kind(T) of
        %% The tomb is below the state: they differ only by writes it has not seen.
        state -> lattice_object:digest(Obj) =/= (lattice_store_entry:module(T)):digest(Tb);
        dot -> lattice_object:value(size, Obj) > 0;
        ts when T =:= lww_register ->
            case lattice_object:value(timestamp, Obj) of
                Ts when is_integer(Ts) -> Ts > Tb;
                _ -> false
            end;
        ts -> lattice_store_entry:beyond(T, lattice_object:snapshot(Obj), Tb)
    end.

row_entries({_, Entries}) -> Entries.

meta_entries(S, Key) ->
    case ets:lookup(S#st.meta, Key) of
        [Row] -> row_entries(Row);
        [] -> #{}
    end.

snapshot_entry(Entries) ->
    maps:map(fun(_, {Obj, P, Tb}) -> {P, lattice_object:snapshot(Obj), Tb} end, Entries).

%% ---- durability (lattice_durable, lattice_wal) ------------------------------------------

writable(#st{wal = none}) -> true;
writable(#st{wal = W}) -> lattice_wal:writable(W) =:= ok.

if_writable(#st{wal = none}, Fun) -> Fun();
if_writable(#st{wal = W}, Fun) ->
    case lattice_wal:writable(W) of
        ok -> Fun();
        Error -> Error
    end.

%% A create's or a delete's reply: once its record is on disk, for a durable store (the log
%% answers the caller, and the store process takes the next call meanwhile: creates from many
%% callers share an fsync as writes do).
logged(#st{wal = none}, _From, {log, _}, State) ->
    {reply, ok, State};
logged(#st{wal = W}, From, {log, Record}, State) ->
    ok = lattice_wal:append_reply(W, Record, From),
    {noreply, State};
logged(_S, _From, Reply, State) ->
    {reply, Reply, State}.

%% The write's record, logged: the write returns once it is on disk.
durable(#st{wal = none}, _Record) -> ok;
durable(#st{wal = W}, Record) -> lattice_wal:append(W, Record).

%% @private The store's state after recovery: its actor and its log, and the record `Apply'
%% merges a recovered record into the tables with (no delta buffered, nothing logged).
-spec recovered(#st{}, lattice:actor(), lattice_wal:wal()) -> #st{}.
recovered(S, Actor, Wal) ->
    S#st{actor = Actor, wal = Wal}.

%% @private Merges recovered records, in order (as merge_many/2 does, keys new to the table
%% in one insert): a snapshot's `{Key, Entry}', a logged `{Key, entry, Entry}' or
%% `{Key, Type, Delta}'.
%% With tiering on, a demoted key is promoted before its record merges, and the tiers are
%% settled after each list (lattice_tier:settle/2): a store of more keys than `memory_limit'
%% recovers within its tiers' bounds.
-spec apply_records(#st{}, [term()]) -> [ok | {error, term()}].
apply_records(S, Records) ->
    Pairs = [case R of
                 {Key, entry, Entry} -> {Key, Entry};
                 {Key, Type, Delta} -> {Key, lattice_store_entry:from_delta(Type, Delta)};
                 {_Key, _Entry} -> R
             end || R <- Records],
    case lattice_tier:enabled(S#st.name) of
        false ->
            merge_pairs(S, Pairs);
        true ->
            _ = [hot(S, Key) || {Key, _} <- Pairs],
            Results = merge_pairs(S, Pairs),
            ok = lattice_tier:settle(S#st.name, fun() -> tier_hot(S) end),
            Results
    end.

%% @doc Writes a snapshot of a durable store now (docs/DURABILITY.md) and waits for it: `ok'
%% once the snapshot holds every write acknowledged before the call and the older log
%% segments are gone; `{error, not_durable}' for a store in memory, or the disk error.
-spec snapshot(store()) -> ok | {error, term()}.
snapshot(Store) ->
    ?API([Store], case store(Store) of
                      #st{wal = none} -> {error, not_durable};
                      #st{wal = W} -> lattice_wal:snapshot(W)
                  end).

%% @private Folds `Fun(Key, Entry, Acc)' over every key's whole entry, in every tier: a
%% snapshot's content (lattice_wal runs it beside the store). With tiering on, the store
%% process holds its demotion passes back meanwhile (tiers_held/2), and the fold takes the
%% demoted keys before the hot ones: a promotion writes the key's rows before it drops its
%% record, so a key promoted during the fold is seen in one place or both (a duplicate is
%% harmless: joins are idempotent), never in neither.
-spec fold_entries(#st{}, fun((key(), lattice_store_entry:entry(), A) -> A), A) -> A.
fold_entries(S, Fun, Acc) ->
    Hot = fun(A0) -> ets:foldl(fun({K, E}, A) -> Fun(K, snapshot_entry(E), A) end, A0, S#st.meta) end,
    case lattice_tier:enabled(S#st.name) of
        false ->
            Hot(Acc);
        true ->
            tiers_held(S, fun() -> Hot(lattice_tier:fold(S#st.name, Fun, Acc)) end)
    end.

%% ---- the delta buffer and notifications -------------------------------------------------

buffer(S, Key, Type, Delta, DeltaBytes) ->
    C = S#st.counters,
    Size = DeltaBytes + ?ROW_BYTES,
    case atomics:add_get(C, ?BYTES, Size) of
        B when B > S#st.max_buf ->
            atomics:sub(C, ?BYTES, Size),
            atomics:add(C, ?DROPPED, 1),
            atomics:put(C, ?OVERFLOW, 1);
        _ ->
            Seq = atomics:add_get(C, ?SEQ, 1),
            true = ets:insert(S#st.deltas, {Seq, Key, Type, Delta, Size}),
            ok
    end.

notify(S, Key, Change) ->
    case atomics:get(S#st.counters, ?SUBS) of
        0 -> ok;
        _ ->
            Subs = ets:lookup(S#st.subs, {key, Key}) ++ ets:lookup(S#st.subs, all),
            Name = S#st.name,
            _ = [Pid ! {lattice_store, Ref, Name, Key, Change} || {_, Pid, Ref} <- Subs],
            ok
    end.

%% ---- the store process ------------------------------------------------------------------

%% The store's actor: lattice:actor() at the first start of a store of this name in this VM;
%% a new incarnation at every later start (a restarted store is empty, and must not number
%% writes from 1 again under an actor its peers have seen).
actor(Name) ->
    Started = {?MODULE, started, Name},
    case persistent_term:get(Started, false) of
        false ->
            persistent_term:put(Started, true),
            lattice:actor();
        true ->
            {node(), rand:uniform(1 bsl 64) - 1}
    end.

%% @private
init({Name, #{max_crdts := MaxCrdts, max_buf := MaxBuf} = Config}) ->
    process_flag(trap_exit, true),
    S0 = #st{name = Name,
            keys = ets:new(lattice_store_keys, [set, public, {read_concurrency, true},
                                                {write_concurrency, true}]),
            meta = ets:new(lattice_store_meta, [set, public, {read_concurrency, true}]),
            deltas = ets:new(lattice_store_deltas, [ordered_set, public,
                                                    {write_concurrency, true}]),
            subs = ets:new(lattice_store_subs, [duplicate_bag, public,
                                                {read_concurrency, true}]),
            counters = atomics:new(?NCOUNTERS, [{signed, true}]),
            max_crdts = MaxCrdts, max_buf = MaxBuf, actor = actor(Name)},
    %% the tiers first: a durable store's recovery fills them (apply_records/2)
    Tiering = case maps:get(tiering, Config, false) of
                  false -> ok;
                  TierOpts -> lattice_tier:start(Name, TierOpts, MaxCrdts)
              end,
    case Tiering =:= ok andalso lattice_durable:start(Name, Config, S0) of
        {ok, S} ->
            persistent_term:put({?MODULE, Name}, S),
            {ok, #{st => S, subs => #{}}};
        {error, Reason} ->
            lattice_tier:stop(Name),
            {stop, Reason};
        false ->
            {error, Reason} = Tiering,
            {stop, {tiering, Reason}}
    end.

%% @private
handle_call({create, Key, Type}, From, #{st := S} = State) ->
    logged(S, From, if_writable(S, fun() -> do_create(hot(S, Key), Key, Type) end), State);
handle_call({delete, Key}, From, #{st := S} = State) ->
    logged(S, From, if_writable(S, fun() -> do_delete(hot(S, Key), Key) end), State);
handle_call({merge, Key, Entry}, _From, #{st := S} = State) ->
    {reply, do_merge(hot(S, Key), Key, Entry), State};
handle_call({merge_many, Pairs}, _From, #{st := S} = State) ->
    _ = [hot(S, Key) || {Key, _} <- Pairs],
    {reply, merge_pairs(S, Pairs), State};
handle_call({purge, Key}, _From, #{st := S} = State) ->
    {reply, do_purge(hot(S, Key), Key), State};
handle_call({promote, Key}, _From, #{st := S} = State) ->
    _ = hot(S, Key),
    {reply, case ets:member(S#st.keys, Key) of
                true -> ok;
                false -> not_found
            end, State};
handle_call({subscribe, What, Pid}, _From, #{st := S, subs := Subs} = State) ->
    Ref = erlang:monitor(process, Pid),
    true = ets:insert(S#st.subs, {What, Pid, Ref}),
    atomics:add(S#st.counters, ?SUBS, 1),
    {reply, Ref, State#{subs := Subs#{Ref => {What, Pid}}}};
handle_call({unsubscribe, Ref}, _From, State) ->
    erlang:demonitor(Ref, [flush]),
    {reply, ok, drop_subscription(Ref, State)};
handle_call(hold_tiers, {Pid, _}, #{st := S} = State) ->
    %% no demotion pass runs from now until the holder releases the tiers (or is gone)
    Holders = maps:get(holders, State, #{}),
    ok = lattice_tier:freeze(S#st.name),
    {reply, ok, State#{holders => Holders#{Pid => erlang:monitor(process, Pid)}}};
handle_call(_, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
handle_cast({release_tiers, Pid}, State) ->
    {noreply, release_tiers(Pid, State)};
handle_cast(_, State) ->
    {noreply, State}.

%% @private
handle_info({'DOWN', Ref, process, Pid, _}, State) ->
    case maps:get(holders, State, #{}) of
        #{Pid := Ref} -> {noreply, release_tiers(Pid, State)};
        _ -> {noreply, drop_subscription(Ref, State)}
    end;
handle_info({lattice_tier, decay}, #{st := S} = State) ->
    tier_tick(S, decay),
    {noreply, State};
handle_info({lattice_tier, Pass}, #{holders := Holders} = State) when map_size(Holders) > 0 ->
    %% the tiers are held still (a snapshot or a scan): the pass waits (tiers_held/2)
    {noreply, State#{held => [Pass | maps:get(held, State, [])]}};
handle_info({lattice_tier, Tick}, #{st := S} = State) ->
    tier_tick(S, Tick),
    {noreply, State};
handle_info({'EXIT', Pid, Why}, #{st := #st{wal = W}} = State) when W =/= none ->
    %% the log process died (a bug, or killed): stopping lets the supervisor restart the
    %% store, which recovers from its directory, rather than refusing every write from now on
    case lattice_wal:owns(W, Pid) of
        true -> {stop, {wal_down, Why}, State};
        false -> {noreply, State}
    end;
handle_info(_, State) ->
    {noreply, State}.

%% @private
terminate(_, #{st := S}) ->
    _ = persistent_term:erase({?MODULE, S#st.name}),
    lattice_tier:stop(S#st.name),
    S#st.wal =:= none orelse lattice_wal:close(S#st.wal),
    ok.

%% A holder is done: the passes held back run, once no other holder is left.
release_tiers(Pid, #{st := S} = State) ->
    Holders = maps:get(holders, State, #{}),
    case maps:take(Pid, Holders) of
        {Mon, Rest} when map_size(Rest) =:= 0 ->
            erlang:demonitor(Mon, [flush]),
            ok = lattice_tier:thaw(S#st.name),
            _ = [tier_tick(S, P) || P <- lists:reverse(maps:get(held, State, []))],
            State#{holders => Rest, held => []};
        {Mon, Rest} ->
            erlang:demonitor(Mon, [flush]),
            State#{holders => Rest};
        error ->
            State
    end.

drop_subscription(Ref, #{st := S, subs := Subs} = State) ->
    case maps:take(Ref, Subs) of
        {{What, Pid}, Subs2} ->
            true = ets:delete_object(S#st.subs, {What, Pid, Ref}),
            atomics:sub(S#st.counters, ?SUBS, 1),
            State#{subs := Subs2};
        error ->
            State
    end.

new_object(T) ->
    lattice_object:new(lattice_store_entry:module(T)).

%% ---- tiering (lattice_tier, docs/TIERING.md): a key's rows out and back, in this process --

%% Promotes `Key' if it is demoted: its rows made again from its entry, as a merge into
%% nothing would make them.
hot(S, Key) ->
    ok = lattice_tier:promote(S#st.name, Key,
                              fun(Entry) -> put_row(S, Key, merge_objects(#{}, Entry)) end),
    S.

tier_tick(S, Msg) ->
    lattice_tier:handle(S#st.name, Msg, tier_hot(S)).

%% The hot keys as lattice_tier:handle/3 takes them: their count, a fold, the move out.
tier_hot(S) ->
    Keys = S#st.keys,
    Fold = fun(F, Acc0) -> ets:foldl(fun(Row, Acc) -> F(element(1, Row), Acc) end, Acc0, Keys) end,
    {ets:info(Keys, size), Fold, fun(K) -> tier_out(S, K) end}.

%% Moves a hot key out to the warm tier (docs/TIERING.md, "Races"). The record is written
%% first, so a reader that finds no row finds it; then the rows go, key row first; then the
%% objects are retired (lattice_object:retire/1: every later update or join on them is
%% refused, and the caller's write or merge_deltas/2 tries again, promoting the key), and the
%% entry is taken again and written again if a write landed on an object before the retire
%% (objects only grow, so the second entry holds the first).
tier_out(S, Key) ->
    case ets:lookup(S#st.meta, Key) of
        [] -> ok;
        [Row] ->
            Entries = row_entries(Row),
            Out = tier_record(Entries),
            ok = lattice_tier:demote(S#st.name, Key, Out),
            true = ets:delete(S#st.keys, Key),
            true = ets:delete(S#st.meta, Key),
            _ = [ok = lattice_object:retire(Obj) || {Obj, _, _} <- maps:values(Entries)],
            case tier_record(Entries) of
                Out -> ok;
                Out2 -> lattice_tier:demote(S#st.name, Key, Out2)
            end
    end.

tier_record(Entries) ->
    {snapshot_entry(Entries), entries_digest(Entries), visible_types(Entries) =/= []}.

do_create(S, Key, Type) ->
    Actor = S#st.actor,
    case ets:lookup(S#st.meta, Key) of
        [] ->
            case row_count(S) >= S#st.max_crdts of
                true ->
                    {error, limit_reached};
                false ->
                    P = lattice_store_entry:presence_add(Actor,
                                                         lattice_store_entry:presence_new()),
                    Tb = lattice_store_entry:new_tomb(Type),
                    put_row(S, Key, #{Type => {new_object(Type), P, Tb}}),
                    created(S, Key, Type, P, Tb)
            end;
        [Row] ->
            Entries = row_entries(Row),
            case visible_types(Entries) of
                [T | _] when T =/= Type ->
                    {error, {wrong_type, T}};
                _ ->
                    {Obj, P, Tb} = case Entries of
                                       #{Type := E} -> E;
                                       _ -> {new_object(Type),
                                             lattice_store_entry:presence_new(),
                                             lattice_store_entry:new_tomb(Type)}
                                   end,
                    case lattice_store_entry:is_present(P) of
                        true ->
                            ok;
                        false ->
                            P2 = lattice_store_entry:presence_add(Actor, P),
                            put_row(S, Key, Entries#{Type => {Obj, P2, Tb}}),
                            created(S, Key, Type, P2, Tb)
                    end
            end
    end.

created(S, Key, Type, P, Tb) ->
    Entry = #{Type => {P, (lattice_store_entry:module(Type)):new(), Tb}},
    buffer(S, Key, entry, Entry, erlang:external_size(Entry)),
    notify(S, Key, {created, Type}),
    key_event(S, create, #{key => Key, type => Type}),
    {log, {Key, entry, Entry}}.

%% `[lattice, store, create | delete]' (docs/OBSERVABILITY.md), built only when telemetry is
%% there to take it.
key_event(S, What, Meta) ->
    case lattice_telemetry:available() of
        true ->
            lattice_telemetry:execute([lattice, store, What], #{rows => row_count(S)},
                                      Meta#{store => S#st.name, node => node()});
        false ->
            ok
    end.

do_delete(S, Key) ->
    Actor = S#st.actor,
    case ets:lookup(S#st.meta, Key) of
        [] ->
            {error, not_found};
        [Row] ->
            Entries = row_entries(Row),
            case visible_types(Entries) of
                [] ->
                    {error, not_found};
                _ ->
                    Entries2 = maps:map(fun(T, E) -> delete_type(Actor, T, E) end, Entries),
                    put_row(S, Key, Entries2),
                    Entry = maps:map(fun delete_delta/2, Entries2),
                    buffer(S, Key, entry, Entry, erlang:external_size(Entry)),
                    notify(S, Key, deleted),
                    key_event(S, delete, #{key => Key}),
                    {log, {Key, entry, Entry}}
            end
    end.

%% What a peer needs of a delete: the presence and the tomb; the state only for dot types
%% (whose delete is their context). A merge joins the tomb into the state, so the empty state
%% stands for the rest.
delete_delta(T, {Obj, P, Tb}) ->
    case lattice_store_entry:kind(T) of
        dot -> {P, lattice_object:snapshot(Obj), Tb};
        _ -> {P, (lattice_store_entry:module(T)):new(), Tb}
    end.

%% The delete of one type's part, in place: a write racing it (applied to the object after
%% the snapshot) is one the delete had not seen, and survives it, as a peer's would.
delete_type(Actor, T, {Obj, P, Tb}) ->
    Snap = lattice_object:snapshot(Obj),
    {Snap2, Tb2} = lattice_store_entry:delete_state(T, Snap, Tb),
    case Snap2 =:= Snap of
        true -> ok;
        false -> ok = lattice_object:join(Snap2, Obj)
    end,
    {Obj, lattice_store_entry:presence_remove(Actor, P), Tb2}.

do_purge(S, Key) ->
    case ets:lookup(S#st.meta, Key) of
        [] ->
            {error, not_found};
        [Row] ->
            case visible_types(row_entries(Row)) of
                [] ->
                    %% The key row first: a reader then finds no row, or a row and its entries.
                    true = ets:delete(S#st.keys, Key),
                    true = ets:delete(S#st.meta, Key),
                    ok;
                _ ->
                    {error, visible}
            end
    end.

do_merge(S, Key, Remote) ->
    case ets:lookup(S#st.meta, Key) of
        [] ->
            case row_count(S) >= S#st.max_crdts of
                true -> {error, limit_reached};
                false -> merged(S, Key, #{}, merge_objects(#{}, Remote))
            end;
        [Row] ->
            Entries = row_entries(Row),
            merged(S, Key, Entries, merge_objects(Entries, Remote))
    end.

%% Many entries, in order. Keys the store has no row for, with one type (a fresh replica's
%% catch-up is all of them), take a shorter path: their rows are made from the peer's entry
%% alone and written in one insert per table. Any other key (a key met twice in the batch
%% among them) is merged as usual, once the rows before it are written.
merge_pairs(S, Pairs) ->
    merge_pairs(S, Pairs, room(S), #{}, [], [], []).

room(S) ->
    S#st.max_crdts - row_count(S).

%% The keys the store has, hot or demoted.
row_count(S) ->
    ets:info(S#st.meta, size) + lattice_tier:size(S#st.name).

merge_pairs(S, [], _Room, _Seen, Meta, Keys, Acc) ->
    write_rows(S, Meta, Keys),
    lists:reverse(Acc);
merge_pairs(S, [{Key, Remote} | Rest], Room, Seen, Meta, Keys, Acc) ->
    case map_size(Remote) =/= 1 orelse is_map_key(Key, Seen) orelse
         ets:member(S#st.meta, Key) of
        true ->
            write_rows(S, Meta, Keys),
            R = do_merge(S, Key, Remote),
            merge_pairs(S, Rest, room(S), #{}, [], [], [R | Acc]);
        false when Room =< 0 ->
            merge_pairs(S, Rest, Room, Seen, Meta, Keys, [{error, limit_reached} | Acc]);
        false ->
            Entries = merge_objects(#{}, Remote),
            {Type, Live, Tomb} = row_head(Entries),
            merge_pairs(S, Rest, Room - 1, Seen#{Key => true}, [{Key, Entries} | Meta],
                        [{Key, Type, element(1, maps:get(Type, Entries)), Live, Tomb} | Keys],
                        [ok | Acc])
    end.

%% Entries first, as put_row/3 writes them; subscribers told once the rows are there.
write_rows(_S, [], []) ->
    ok;
write_rows(S, Meta, Keys) ->
    true = ets:insert(S#st.meta, Meta),
    true = ets:insert(S#st.keys, Keys),
    lists:foreach(fun({Key, _}) -> notify(S, Key, merged) end, lists:reverse(Meta)).

merge_objects(Entries, Remote) ->
    maps:fold(fun(T, {P, St, Tb}, Acc) ->
                  Kind = lattice_store_entry:kind(T),
                  case Acc of
                      #{T := {Obj, P0, Tb0}} ->
                          ok = lattice_object:join(St, Obj),
                          join_tomb(Kind, T, Tb, Obj),
                          Acc#{T := {Obj, lattice_orset:merge(P0, P),
                                     lattice_store_entry:merge_tomb(T, Tb0, Tb)}};
                      _ ->
                          %% A type new here: its object starts from the peer's state, and the
                          %% presence and tomb are the peer's (joined with nothing).
                          Obj = lattice_object:new(St),
                          join_tomb(Kind, T, Tb, Obj),
                          Acc#{T => {Obj, P, Tb}}
                  end
              end, Entries, Remote).

%% A tomb state is always below its state (docs/STORE.md): joined in, unless it is empty (no
%% delete yet, nearly always), which joins nothing.
join_tomb(state, T, Tb, Obj) ->
    case lattice_store_entry:new_tomb(T) of
        Tb -> ok;
        _ -> ok = lattice_object:join(Tb, Obj)
    end;
join_tomb(_, _, _, _) ->
    ok.

merged(S, Key, Before, After) ->
    VisBefore = visible_types(Before),
    put_row(S, Key, After),
    notify(S, Key, merged),
    case visible_types(After) of
        [Winner | Losers] = Vis when Losers =/= [], Vis =/= VisBefore ->
            atomics:add(S#st.counters, ?CONFLICTS, 1),
            notify(S, Key, {type_conflict, Winner, Losers});
        _ ->
            ok
    end,
    ok.

%% Writes the key's row from its entries: the visible type on the fast path, `Live' its
%% presence (only create, delete and merge change presences, and they all come here).
put_row(S, Key, Entries) ->
    {Type, Live, Tomb} = row_head(Entries),
    {Obj, _, _} = maps:get(Type, Entries),
    %% The entries first: a reader that finds the new row finds them too.
    true = ets:insert(S#st.meta, {Key, Entries}),
    true = ets:insert(S#st.keys, {Key, Type, Obj, Live, Tomb}),
    ok.

%% The key row's type (the visible one, else the first in tag order), whether its presence
%% holds, and its tomb in the form reads use.
row_head(Entries) ->
    Type = case visible_types(Entries) of
               [T | _] -> T;
               [] -> hd([T || T <- lattice_store_entry:types(), is_map_key(T, Entries)])
           end,
    {_, P, Tb} = maps:get(Type, Entries),
    {Type, lattice_store_entry:is_present(P), tomb_info(Type, Tb)}.

%% ---- caller errors ----------------------------------------------------------------------

%% @doc The OTP `error_info' callback: what is wrong with the arguments of a call that raised
%% `badarg'.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, Args, _} | _]) when is_list(Args) ->
    explain(F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation in one line, for the Elixir facade's `ArgumentError'; `undefined' when
%% the top frame is not a lattice_store call that raised with its `error_info'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack, fun explain/2).

explain(F, Args) ->
    lattice_error:explain(?MODULE, F, Args, checks(F, Args)).

checks(start_link, [Name, Opts]) ->
    [{1, fun() -> check_name(Name) end}, {2, fun() -> check_opts(Opts) end}];
checks(child_spec, [Opts]) ->
    [{1, fun() -> check_opts(Opts) end}];
checks(F, [Store | Rest]) ->
    [{1, fun() -> check_store(Store) end} | more_checks(F, Rest)].

more_checks(create, [Key, Type]) ->
    [{2, fun() -> check_data("key", Key) end}, {3, fun() -> check_type(Type) end}];
more_checks(F, [_Key, N]) when F =:= increment; F =:= decrement ->
    [{3, fun() -> check_count(N) end}];
more_checks(F, [_Key, E]) when F =:= add; F =:= remove ->
    [{3, fun() -> check_data("element", E) end}];
more_checks(set, [_Key, V]) ->
    [{3, fun() -> check_data("value", V) end}];
more_checks(put, [_Key, Field, V]) ->
    [{3, fun() -> check_data("field", Field) end}, {4, fun() -> check_data("value", V) end}];
more_checks(get, [_Key, Field]) ->
    [{3, fun() -> check_data("field", Field) end}];
more_checks(unsubscribe, [Ref]) ->
    [{2, fun() when is_reference(Ref) -> ok;
            () -> {error, fmt("the subscription must be the reference subscribe/1,2 "
                              "returned, got: ~ts", [show(Ref)])}
         end}];
more_checks(drain, [Max]) ->
    [{2, fun() when is_integer(Max), Max > 0 -> ok;
            () -> {error, fmt("the byte budget must be a positive integer, got: ~ts",
                              [show(Max)])}
         end}];
more_checks(merge, [Key, _Entry]) ->
    [{2, fun() -> check_data("key", Key) end}];
more_checks(_, _) ->
    [].

check_name(Name) when is_atom(Name) -> ok;
check_name(Name) -> {error, fmt("the store's name must be an atom, got: ~ts", [show(Name)])}.

check_opts(Opts) ->
    try
        _ = options(maps:without([name, replication], options_map(Opts))),
        case maps:get(replication, options_map(Opts), #{}) of
            false -> ok;
            R -> lattice_repl:options(R)
        end
    of
        _ -> ok
    catch
        error:badarg ->
            {error, fmt("the options must be a map or a proplist of max_crdts and "
                        "max_delta_buffer_bytes (positive integers), tiering (false, or "
                        "lattice_tier's options: see lattice_tier:options/1), and in a child "
                        "spec name "
                        "(an atom) and replication (false, or lattice_repl's options: see "
                        "lattice_repl:options/1); got: ~ts", [show(Opts)])}
    end.

check_store(Store) when is_atom(Store) ->
    case persistent_term:get({?MODULE, Store}, undefined) of
        undefined ->
            {error, fmt("no store named ~ts is running (start it with "
                        "lattice_store:start_link/2, or start the lattice application for "
                        "the default store, ~ts)", [show(Store), ?DEFAULT])};
        #st{name = Name} ->
            case whereis(Name) of
                undefined -> {error, fmt("the store ~ts is not running", [show(Store)])};
                _ -> ok
            end
    end;
check_store(Store) ->
    {error, fmt("the store must be a store's name (an atom), got: ~ts", [show(Store)])}.

check_type(T) ->
    case lattice_store_entry:is_type(T) of
        true -> ok;
        false -> {error, fmt("~ts is not a store type; the types are: ~ts",
                             [show(T), lists:join(", ", [atom_to_list(X) || X <-
                                                         lattice_store_entry:types()])])}
    end.

check_count(N) when is_integer(N), N > 0, N < 1 bsl 64 -> ok;
check_count(N) ->
    {error, fmt("the amount must be a positive integer (1..2^64-1), got: ~ts", [show(N)])}.

check_data(Word, T) ->
    try lattice_canon:encode(T) of
        _ -> ok
    catch
        error:badarg ->
            {error, fmt("the ~ts is not data (no pids, ports, references or funs, also "
                        "inside), or is over lattice's size or depth limits: ~ts",
                        [Word, show(T)])}
    end.

show(T) -> lists:flatten(io_lib:format("~0tP", [T, 12])).

fmt(Format, Args) -> lists:flatten(io_lib:format(Format, Args)).
