%% @doc A store's durability (docs/DURABILITY.md): the store's options `durable', `dir',
%% `snapshot_interval' and `on_disk_error' turned into a recovered store and its log
%% (lattice_wal). The store calls {@link start/3} from its `init' and {@link info/1} from its
%% `info'; everything on disk is lattice_wal's.
-module(lattice_durable).

-export([start/3, info/1, dir/1]).

%% @doc For a store with `durable => true': recovers its directory into the store's tables
%% (snapshot, then the log) and starts its log; the store's actor is then `{node(), Inc}'
%% with `Inc' the directory's next incarnation. `{error, Reason}' (lattice_wal:open/3) stops
%% the store's start. A store that is not durable is returned as it is.
-spec start(atom(), map(), tuple()) -> {ok, tuple()} | {error, term()}.
start(_Name, #{durable := false}, S) ->
    {ok, S};
start(Name, #{durable := true, dir := Dir0, snapshot_interval := Iv,
              snapshot_wal_bytes := WalBytes, on_disk_error := OnError}, S) ->
    Dir = case Dir0 of
              default -> dir(Name);
              _ -> unicode:characters_to_list(Dir0)
          end,
    Opts = #{dir => Dir, snapshot_interval => Iv, snapshot_wal_bytes => WalBytes,
             on_disk_error => OnError,
             dump => fun(F, Acc) -> lattice_store:fold_entries(S, F, Acc) end},
    case lattice_wal:open(Name, Opts, fun(Rs) -> recover(S, Rs) end) of
        {ok, Wal, Inc, Recovery} ->
            logger:info("lattice store ~p: recovered ~p from ~ts", [Name, Recovery, Dir]),
            #{snapshot_keys := Keys, wal_records := Records, wal_torn_tail := Torn,
              recovery_ms := Ms} = Recovery,
            lattice_telemetry:execute([lattice, store, recovery],
                                      #{duration_ms => Ms, snapshot_keys => Keys,
                                        wal_records => Records, torn_tail_bytes => Torn},
                                      #{store => Name, node => node(), dir => Dir,
                                        incarnation => Inc}),
            {ok, lattice_store:recovered(S, {node(), Inc}, Wal)};
        {error, Reason} ->
            logger:error("lattice store ~p: cannot start durable from ~ts: ~p",
                         [Name, Dir, Reason]),
            {error, Reason}
    end.

%% A record the table cannot take (more keys than `max_crdts'): the store does not start,
%% rather than start without it.
recover(S, Records) ->
    case [E || E <- lattice_store:apply_records(S, Records), E =/= ok] of
        [] -> ok;
        [E | _] -> throw({lattice_wal, {cannot_recover, E}})
    end.

%% @doc The default directory of a store: `<data_dir>/<node>/<Name>', `data_dir' the lattice
%% application's environment (default `"lattice_data"').
-spec dir(atom()) -> file:filename().
dir(Name) ->
    Base = application:get_env(lattice, data_dir, "lattice_data"),
    filename:join([Base, atom_to_list(node()), atom_to_list(Name)]).

%% @doc The durability figures for `lattice_store:info/1': `false' for a store in memory,
%% else lattice_wal:status/1's map.
-spec info(none | lattice_wal:wal()) -> false | map().
info(none) -> false;
info(Wal) -> lattice_wal:status(Wal).
