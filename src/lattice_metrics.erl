%% @doc Every store's, the C node's and the crypto layer's figures as Prometheus text
%% exposition (format 0.0.4), and the snapshot they are read from.
%%
%% The names of seed 004 (`crdt_sync_latency_seconds', `crdt_merge_conflicts_total',
%% `crdt_peer_reachability', `crdt_state_size_bytes', `crdt_backpressure_drops_total',
%% `crdt_circuit_breaker_opens_total', `crdt_sync_timeouts_total',
%% `crdt_oversized_messages_total') carry the labels `store' and `node'; every other figure of
%% `lattice_store:stats/1' is `lattice_store_<field>' (a counter, `_total', or a gauge),
%% `lattice_crypto:stats/0''s are `lattice_crypto_<field>' and the C node's
%% `lattice_cnode_<field>'. docs/OBSERVABILITY.md lists them.
-module(lattice_metrics).

-export([snapshot/0, render/0, render/1, escape/1]).

-type sample() :: {Name :: binary(), counter | gauge, Help :: binary(),
                   Labels :: [{binary(), binary()}], Value :: number()}.
-type snapshot() :: #{node := node(), time_ms := integer(),
                      stores := #{atom() => map()},
                      health := #{atom() => term()},
                      peers := #{atom() => map()},
                      cnode := map() | {error, term()},
                      crypto := map() | {error, term()}}.
-export_type([snapshot/0]).

%% Store fields with a seed 004 name: {Field, Name, Type, Help, Scale}.
-define(SEED, [{sync_latency_us, <<"crdt_sync_latency_seconds">>, gauge,
                <<"Duration of the latest sync operation (delta batch acknowledged), seconds.">>, 1.0e-6},
               {merge_conflicts, <<"crdt_merge_conflicts_total">>, counter,
                <<"Merges that met concurrent writes of the same key.">>, 1},
               {peer_reachability, <<"crdt_peer_reachability">>, gauge,
                <<"Share of the known peers that are reachable (1.0: all).">>, 1},
               {state_size_bytes, <<"crdt_state_size_bytes">>, gauge,
                <<"Memory of the store's CRDT states, bytes.">>, 1},
               {backpressure_drops, <<"crdt_backpressure_drops_total">>, counter,
                <<"Deltas dropped because a peer's queue was full.">>, 1},
               {breaker_opens, <<"crdt_circuit_breaker_opens_total">>, counter,
                <<"Times a peer's circuit breaker opened.">>, 1},
               {sync_timeouts, <<"crdt_sync_timeouts_total">>, counter,
                <<"Sync operations that timed out.">>, 1},
               {oversized_messages, <<"crdt_oversized_messages_total">>, counter,
                <<"Messages refused for their size.">>, 1}]).

%% Store fields that are levels, not counts.
-define(STORE_GAUGES, [rows, keys, max_crdts, delta_seq, delta_bytes, deltas_buffered,
                       max_delta_buffer_bytes, subscriptions, table_bytes, peers, peers_behind,
                       merge_queue, merge_queue_bytes, buffered_batches, buffered_bytes,
                       ae_sessions, ae_keys_differing, replication, enabled, secure]).
-define(CRYPTO_GAUGES, [secrets_live, slabs, slab_slots, slabs_locked, slabs_unlocked, mlock_ok,
                        slab_bytes]).

%% @doc This node's figures, read now: every open store's `lattice_store:stats/1', health and
%% peers, the C node's stats and the crypto layer's counters. A part that cannot be read (a
%% store closing, no C node) is left out or is `{error, Reason}'.
-spec snapshot() -> snapshot().
snapshot() ->
    Stores = stores(),
    Stats = maps:from_list([{S, St} || S <- Stores, {ok, St} <- [safe(fun() -> lattice_store:stats(S) end)]]),
    Repl = [S || {S, #{replication := true}} <- maps:to_list(Stats)],
    Health = maps:from_list([{S, H} || S <- Repl,
                                       {ok, H} <- [safe(fun() -> lattice_repl:health_status(S) end)]]),
    Peers = maps:from_list([{S, P} || S <- Repl,
                                      {ok, P} <- [safe(fun() -> lattice_repl:peers(S) end)]]),
    CNode = case safe(fun() -> lattice_ae:cnode_stats() end) of
                {ok, {ok, C}} -> C;
                {ok, {error, R}} -> {error, R};
                {error, R} -> {error, R}
            end,
    Crypto = case safe(fun() -> lattice_crypto:stats() end) of
                 {ok, M} -> M;
                 E -> E
             end,
    #{node => node(), time_ms => erlang:system_time(millisecond), stores => Stats,
      health => Health, peers => Peers, cnode => CNode, crypto => Crypto}.

%% @doc The exposition text of a fresh {@link snapshot/0}.
-spec render() -> iodata().
render() -> render(snapshot()).

%% @doc The exposition text of `Snapshot': a `# HELP' and a `# TYPE' line per family, then
%% its samples, labels escaped.
-spec render(snapshot()) -> iodata().
render(#{node := Node} = Snap) ->
    NodeL = {<<"node">>, atom_to_binary(Node)},
    Samples = [{<<"lattice_up">>, gauge, <<"1 while the node answers.">>, [NodeL], 1}] ++
        lists:append([store_samples(S, St, NodeL) || {S, St} <- lists:sort(maps:to_list(maps:get(stores, Snap)))]) ++
        health_samples(Snap, NodeL) ++
        crypto_samples(maps:get(crypto, Snap), NodeL) ++
        cnode_samples(maps:get(cnode, Snap), NodeL),
    families(Samples).

%% @doc A label value escaped as the text format asks: backslash, double quote, newline.
-spec escape(unicode:chardata()) -> binary().
escape(V) ->
    << <<(esc(C))/binary>> || <<C/utf8>> <= unicode:characters_to_binary(V) >>.

esc($\\) -> <<"\\\\">>;
esc($") -> <<"\\\"">>;
esc($\n) -> <<"\\n">>;
esc(C) -> <<C/utf8>>.

%% ---- samples ----------------------------------------------------------------------------

-spec store_samples(atom(), map(), {binary(), binary()}) -> [sample()].
store_samples(Store, Stats, NodeL) ->
    L = [{<<"store">>, atom_to_binary(Store)}, NodeL],
    SeedFields = [F || {F, _, _, _, _} <- ?SEED],
    Seed = [{N, T, H, L, num(V) * Scale} || {F, N, T, H, Scale} <- ?SEED,
                                            V <- [maps:get(F, Stats, undefined)], is_number(V)],
    Plain = [plain(<<"lattice_store_">>, K, V, lists:member(K, ?STORE_GAUGES), L,
                   <<"lattice_store:stats/1 field ">>)
             || {K, V} <- lists:sort(maps:to_list(Stats)), not lists:member(K, SeedFields),
                is_number(V) orelse is_boolean(V)],
    Lag = [{<<"lattice_replication_lag_seconds">>, gauge,
            <<"Replication lag seen from the peers' acknowledgements, seconds, by quantile.">>,
            L ++ [{<<"quantile">>, Q}], num(V) / 1000}
           || #{} = M <- [maps:get(replication_lag_ms, Stats, undefined)],
              {K, Q} <- [{p50, <<"0.5">>}, {p99, <<"0.99">>}, {max, <<"1">>}],
              V <- [maps:get(K, M, undefined)], is_number(V)],
    PM = [{<<"lattice_peer_messages_total">>, counter,
           <<"Messages between peers of the store (lattice_repl:peer_send/3), by direction.">>,
           L ++ [{<<"kind">>, atom_to_binary(K)}], V}
          || #{} = M <- [maps:get(peer_messages, Stats, undefined)],
             {K, V} <- lists:sort(maps:to_list(M)), is_integer(V)],
    CP = [{<<"lattice_checkpoint_", (atom_to_binary(K))/binary>>, gauge,
           <<"lattice_checkpoint:stats/1 field ", (atom_to_binary(K))/binary>>, L, num(V)}
          || #{} = M <- [maps:get(checkpoints, Stats, undefined)],
             {K, V} <- lists:sort(maps:to_list(M)), is_number(V) orelse is_boolean(V)],
    Seed ++ Plain ++ Lag ++ PM ++ CP.

health_samples(#{health := Health, peers := Peers}, NodeL) ->
    [{<<"lattice_store_healthy">>, gauge,
      <<"1 when the store's replication is healthy (lattice_repl:health_status/1).">>,
      [{<<"store">>, atom_to_binary(S)}, NodeL], case H of {healthy, _} -> 1; _ -> 0 end}
     || {S, H} <- lists:sort(maps:to_list(Health))] ++
    [{<<"lattice_peer_breaker_open">>, gauge,
      <<"1 while the circuit breaker towards the peer is open.">>,
      [{<<"store">>, atom_to_binary(S)}, NodeL, {<<"peer">>, atom_to_binary(P)}],
      case maps:get(breaker, I, closed) of closed -> 0; _ -> 1 end}
     || {S, Ps} <- lists:sort(maps:to_list(Peers)), {P, I} <- lists:sort(maps:to_list(Ps)),
        is_atom(P), is_map(I)].

crypto_samples(#{} = C, NodeL) ->
    [plain(<<"lattice_crypto_">>, K, V, lists:member(K, ?CRYPTO_GAUGES), [NodeL],
           <<"lattice_crypto:stats/0 field ">>)
     || {K, V} <- lists:sort(maps:to_list(C)), is_number(V) orelse is_boolean(V)];
crypto_samples(_, _) -> [].

cnode_samples(#{} = C, NodeL) ->
    Up = {<<"lattice_cnode_up">>, gauge, <<"1 while the C node answers.">>, [NodeL], 1},
    Counters = [plain(<<"lattice_cnode_">>, K, V, false, [NodeL], <<"C node counter ">>)
                || {K, V} <- sorted(maps:get(counters, C, #{})), is_integer(V)],
    Gauges = [plain(<<"lattice_cnode_">>, K, V, true, [NodeL], <<"C node gauge ">>)
              || {K, V} <- sorted(maps:get(gauges, C, #{})), is_integer(V)],
    Limits = [{<<"lattice_cnode_limit">>, gauge, <<"The C node's limits (docs/CNODE.md).">>,
               [NodeL, {<<"limit">>, atom_to_binary(K)}], V}
              || {K, V} <- sorted(maps:get(limits, C, #{})), is_integer(V)],
    Breakers = [{<<"lattice_cnode_breakers">>, gauge,
                 <<"Breakers the C node keeps towards peer C nodes.">>, [NodeL],
                 length(maps:get(breakers, C, []))}],
    [Up | Counters ++ Gauges ++ Limits ++ Breakers];
cnode_samples(_, NodeL) ->
    [{<<"lattice_cnode_up">>, gauge, <<"1 while the C node answers.">>, [NodeL], 0}].

sorted(M) when is_map(M) -> lists:sort(maps:to_list(M));
sorted(_) -> [].

plain(Prefix, K, V, Gauge, Labels, HelpPrefix) ->
    Base = <<Prefix/binary, (atom_to_binary(K))/binary>>,
    {Name, Type} = case Gauge of
                       true -> {Base, gauge};
                       false -> {<<Base/binary, "_total">>, counter}
                   end,
    {Name, Type, <<HelpPrefix/binary, (atom_to_binary(K))/binary, ".">>, Labels, num(V)}.

num(true) -> 1;
num(false) -> 0;
num(V) when is_number(V) -> V.

%% ---- text -------------------------------------------------------------------------------

families(Samples) ->
    Order = lists:usort(fun({A, _, _, _, _}, {B, _, _, _, _}) -> A =< B end, Samples),
    [[<<"# HELP ">>, N, $\s, help(H), $\n, <<"# TYPE ">>, N, $\s, atom_to_binary(T), $\n,
      [[N, labels(L), $\s, value(V), $\n] || {N1, _, _, L, V} <- Samples, N1 =:= N]]
     || {N, T, H, _, _} <- Order].

help(H) -> binary:replace(binary:replace(H, <<"\\">>, <<"\\\\">>, [global]), <<"\n">>, <<"\\n">>, [global]).

labels([]) -> [];
labels(L) ->
    [${, lists:join($,, [[K, $=, $", escape(V), $"] || {K, V} <- L]), $}].

value(V) when is_integer(V) -> integer_to_binary(V);
value(V) when is_float(V) -> float_to_binary(V, [short]).

%% ---- helpers ----------------------------------------------------------------------------

stores() ->
    case safe(fun() -> lattice_ae:stores() end) of
        {ok, L} when is_list(L) -> lists:sort(L);
        _ -> []
    end.

safe(F) ->
    try {ok, F()}
    catch
        exit:R -> {error, R};
        error:R -> {error, R}
    end.
