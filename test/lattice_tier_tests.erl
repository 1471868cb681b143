%% Tiered storage (docs/TIERING.md): demotion beyond the limits, promotion on read and on write
%% for every type, writes racing demotion, delete of a demoted key, digests equal in every
%% tier, and replication between two real nodes with tiering on one.
-module(lattice_tier_tests).
-include_lib("eunit/include/eunit.hrl").

-define(S, lattice_store).
-define(T, lattice_tier).
-define(C, lattice_peer_cluster).

%% A tiered store for one test, stopped after it. Passes run when the test asks
%% (lattice_tier:pass/1): the periodic tick is an hour away.
with_store(Tiering, Fun) ->
    Name = list_to_atom("lattice_tier_test_" ++ integer_to_list(erlang:unique_integer([positive]))),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "lattice_tier_tests"),
    Opts = #{tiering => maps:merge(#{dir => Dir, tick_interval => 3600000}, Tiering)},
    {ok, Pid} = ?S:start_link(Name, Opts),
    unlink(Pid),
    try Fun(Name) after ?S:stop(Name) end.

tiers(S) ->
    #{hot_keys := Hot, tiering := #{ets_keys := Ets, disk_keys := Disk}} = ?S:info(S),
    {Hot, Ets, Disk}.

tier_stat(S, K) -> maps:get(K, maps:get(tiering, ?S:info(S))).

%% One key of each type, written once: {Key, Type, a write, the value after it}.
samples() ->
    [{gc, g_counter, fun(S, K) -> ?S:increment(S, K, 3) end, 3},
     {pn, pn_counter, fun(S, K) -> ?S:decrement(S, K, 2) end, -2},
     {gs, g_set, fun(S, K) -> ?S:add(S, K, a) end, [a]},
     {tp, two_p_set, fun(S, K) -> ?S:add(S, K, b) end, [b]},
     {os, or_set, fun(S, K) -> ?S:add(S, K, c) end, [c]},
     {ls, lww_set, fun(S, K) -> ?S:add(S, K, d) end, [d]},
     {lr, lww_register, fun(S, K) -> ?S:set(S, K, <<"v">>) end, <<"v">>},
     {lm, lww_map, fun(S, K) -> ?S:put(S, K, f, 1) end, #{f => 1}},
     {mv, mv_register, fun(S, K) -> ?S:set(S, K, x) end, [x]}].

%% A second write of each type and the value after both.
second(gc) -> {fun(S, K) -> ?S:increment(S, K) end, 4};
second(pn) -> {fun(S, K) -> ?S:increment(S, K, 5) end, 3};
second(gs) -> {fun(S, K) -> ?S:add(S, K, z) end, [a, z]};
second(tp) -> {fun(S, K) -> ?S:remove(S, K, b) end, []};
second(os) -> {fun(S, K) -> ?S:add(S, K, z) end, [c, z]};
second(ls) -> {fun(S, K) -> ?S:add(S, K, z) end, [d, z]};
second(lr) -> {fun(S, K) -> ?S:set(S, K, <<"w">>) end, <<"w">>};
second(lm) -> {fun(S, K) -> ?S:put(S, K, g, 2) end, #{f => 1, g => 2}};
second(mv) -> {fun(S, K) -> ?S:set(S, K, y) end, [y]}.

%% Every sample key, created and written, then demoted: hot none, warm or disk all nine.
demoted_samples(Limits, Fun) ->
    with_store(maps:merge(#{memory_limit => 1, access_threshold => 1000}, Limits), fun(S) ->
        [begin ok = ?S:create(S, K, T), {ok, _} = W(S, K) end || {K, T, W, _} <- samples()],
        %% a filler key takes the one hot place, so all nine samples go
        ok = ?S:create(S, filler, g_counter),
        [{ok, _} = ?S:increment(S, filler) || _ <- lists:seq(1, 20)],
        ok = ?T:pass(S),
        ok = ?T:pass(S),
        Fun(S)
    end).

%% ---- demotion beyond the limits -------------------------------------------------------

demote_beyond_memory_limit_test() ->
    with_store(#{memory_limit => 10, ets_limit => 1000}, fun(S) ->
        [ok = ?S:create(S, K, g_counter) || K <- lists:seq(1, 100)],
        %% keys 1..10 are used more than the rest: they stay hot
        [{ok, _} = ?S:increment(S, K) || K <- lists:seq(1, 10), _ <- [1, 2, 3]],
        ok = ?T:pass(S),
        ?assertEqual({10, 90, 0}, tiers(S)),
        ?assertEqual(90, tier_stat(S, demotions_to_ets)),
        ?assertEqual([{ok, 3} || _ <- lists:seq(1, 10)], [?S:get(S, K) || K <- lists:seq(1, 10)]),
        ?assertEqual({10, 90, 0}, tiers(S)),
        %% every key is still a key, with its value
        ?assertEqual(lists:seq(1, 100), ?S:keys(S)),
        ?assertEqual(100, length(?S:rows(S))),
        ?assertEqual(100, maps:get(rows, ?S:info(S)))
    end).

demote_beyond_ets_limit_test() ->
    with_store(#{memory_limit => 10, ets_limit => 20, access_threshold => 1000}, fun(S) ->
        [ok = ?S:create(S, K, or_set) || K <- lists:seq(1, 100)],
        [{ok, 1} = ?S:add(S, K, K) || K <- lists:seq(1, 100)],
        ok = ?T:pass(S),
        ?assertEqual({10, 20, 70}, tiers(S)),
        ?assert(tier_stat(S, disk_bytes) > 0),
        %% every value comes back, each read promoting its key
        ?assertEqual([{ok, [K]} || K <- lists:seq(1, 100)], [?S:get(S, K) || K <- lists:seq(1, 100)]),
        ?assertEqual({100, 0, 0}, tiers(S)),
        ?assertEqual(90, tier_stat(S, promotions))
    end).

%% A store of more than 4M keys (max_crdts) spreads its disk tier over several DETS files.
several_disk_files_test() ->
    Name = lattice_tier_test_files,
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "lattice_tier_tests"),
    {ok, Pid} = ?S:start_link(Name, #{max_crdts => 8000001,
                                      tiering => #{memory_limit => 10, ets_limit => 10,
                                                   dir => Dir, tick_interval => 3600000}}),
    unlink(Pid),
    try
        [ok = ?S:create(Name, K, g_counter) || K <- lists:seq(1, 200)],
        [{ok, K} = ?S:increment(Name, K, K) || K <- lists:seq(1, 200)],
        ok = ?T:pass(Name),
        ?assertEqual({10, 10, 180}, tiers(Name)),
        ?assertEqual(3, tier_stat(Name, disk_files)),
        ?assertEqual(3, length(filelib:wildcard(filename:join(Dir, atom_to_list(Name) ++ ".*")))),
        ?assertEqual([{ok, K} || K <- lists:seq(1, 200)], [?S:get(Name, K) || K <- lists:seq(1, 200)]),
        ?assertEqual({200, 0, 0}, tiers(Name))
    after
        ?S:stop(Name)
    end,
    %% the files go with the store
    ?assertEqual([], filelib:wildcard(filename:join(Dir, atom_to_list(Name) ++ ".*"))).

keys_used_past_the_threshold_stay_hot_test() ->
    with_store(#{memory_limit => 1, access_threshold => 5}, fun(S) ->
        [ok = ?S:create(S, K, g_counter) || K <- [a, b, c]],
        [{ok, _} = ?S:increment(S, a) || _ <- lists:seq(1, 5)],
        [{ok, _} = ?S:increment(S, b) || _ <- lists:seq(1, 5)],
        ok = ?T:pass(S),
        %% a and b are past the threshold, c is not: c alone goes, though 2 > memory_limit
        ?assertEqual({2, 1, 0}, tiers(S))
    end).

%% ---- promotion, every type -------------------------------------------------------------

promote_on_read_every_type_ets_test() ->
    demoted_samples(#{ets_limit => 1000}, fun(S) ->
        ?assertEqual({1, 9, 0}, tiers(S)),
        [?assertEqual({K, {ok, V}}, {K, ?S:get(S, K)}) || {K, _, _, V} <- samples()],
        ?assertEqual({10, 0, 0}, tiers(S)),
        ?assertEqual(9, tier_stat(S, promotions))
    end).

promote_on_read_every_type_disk_test() ->
    demoted_samples(#{ets_limit => 1}, fun(S) ->
        ?assertEqual({1, 1, 8}, tiers(S)),
        [?assertEqual({K, {ok, T, V}}, {K, ?S:lookup(S, K)}) || {K, T, _, V} <- samples()],
        ?assertEqual({10, 0, 0}, tiers(S))
    end).

%% A frozen disk tier (a durable store's snapshot folds it: freeze/1) is not changed: a key
%% promoted off it keeps its record there, unseen (lookup/2, keys/2, the disk count), and the
%% record goes at thaw/1.
frozen_disk_tier_test() ->
    demoted_samples(#{ets_limit => 1}, fun(S) ->
        {_, _, Disk} = tiers(S),
        [{K, _, _, V} | _] = [Sample || {K, _, _, _} = Sample <- samples(),
                                        element(2, ?T:lookup(S, K)) =:= disk],
        ok = ?T:freeze(S),
        ?assertEqual({ok, V}, ?S:get(S, K)),
        ?assertEqual(none, ?T:lookup(S, K)),
        ?assertNot(lists:member(K, ?T:keys(S, all))),
        ?assertEqual(Disk - 1, tier_stat(S, disk_keys)),
        ?assertEqual(Disk, ?T:fold(S, fun(_, _, N) -> N + 1 end, 0) - tier_stat(S, ets_keys)),
        ok = ?T:thaw(S),
        ?assertEqual(Disk - 1, tier_stat(S, disk_keys)),
        ?assertEqual(Disk - 1, ?T:fold(S, fun(_, _, N) -> N + 1 end, 0) - tier_stat(S, ets_keys)),
        ?assertEqual({ok, V}, ?S:get(S, K))
    end).

promote_on_write_every_type_test() ->
    demoted_samples(#{ets_limit => 4}, fun(S) ->
        [begin
             {W, V} = second(K),
             {ok, _} = W(S, K),
             ?assertEqual({K, {ok, V}}, {K, ?S:get(S, K)})
         end || {K, _, _, _} <- samples()],
        ?assertEqual({10, 0, 0}, tiers(S)),
        %% and a wrong-type write to a demoted key is refused as on a hot one
        ok = ?T:pass(S),
        ?assertEqual({error, {wrong_type, g_counter}}, ?S:add(S, gc, x))
    end).

lww_map_field_read_promotes_test() ->
    demoted_samples(#{}, fun(S) ->
        ?assertEqual({ok, 1}, ?S:get(S, lm, f)),
        ?assertEqual({error, not_found}, ?S:get(S, never_created))
    end).

%% ---- deletes, digests, entries ---------------------------------------------------------

delete_demoted_key_test() ->
    demoted_samples(#{ets_limit => 4}, fun(S) ->
        [?assertEqual(ok, ?S:delete(S, K)) || {K, _, _, _} <- samples()],
        [?assertEqual({error, not_found}, ?S:get(S, K)) || {K, _, _, _} <- samples()],
        ?assertEqual([filler], ?S:keys(S)),
        %% the tombstones demote too, and stay tombstones
        ok = ?T:pass(S),
        ok = ?T:pass(S),
        ?assertEqual([filler], ?S:keys(S)),
        ?assertEqual(10, length(?S:rows(S))),
        [?assertEqual({error, not_found}, ?S:get(S, K)) || {K, _, _, _} <- samples()],
        %% a purge of a demoted tombstone
        ok = ?T:pass(S),
        ?assertEqual(ok, ?S:purge(S, gc)),
        ?assertEqual(9, length(?S:rows(S)))
    end).

digest_and_entry_equal_in_every_tier_test() ->
    with_store(#{memory_limit => 1, ets_limit => 4, access_threshold => 1000}, fun(S) ->
        [begin ok = ?S:create(S, K, T), {ok, _} = W(S, K) end || {K, T, W, _} <- samples()],
        ok = ?S:delete(S, os),
        Keys = [K || {K, _, _, _} <- samples()],
        Hot = [{?S:digest(S, K), ?S:entry(S, K)} || K <- Keys],
        ok = ?S:create(S, filler, g_counter),
        [{ok, _} = ?S:increment(S, filler) || _ <- lists:seq(1, 20)],
        ok = ?T:pass(S),
        ok = ?T:pass(S),
        ?assertEqual({1, 4, 5}, tiers(S)),
        %% read from the tiers, with no promotion
        ?assertEqual(Hot, [{?S:digest(S, K), ?S:entry(S, K)} || K <- Keys]),
        ?assertEqual({1, 4, 5}, tiers(S)),
        %% and again once every key is promoted (a read promotes)
        [_ = ?S:get(S, K) || K <- Keys],
        ?assertEqual({10, 0, 0}, tiers(S)),
        ?assertEqual(Hot, [{?S:digest(S, K), ?S:entry(S, K)} || K <- Keys])
    end).

merge_into_demoted_key_test() ->
    demoted_samples(#{ets_limit => 4}, fun(S) ->
        {ok, Created} = lattice_store_entry:create(g_counter, {'peer@host', 1},
                                                   lattice_store_entry:new()),
        {ok, Peer, _} = lattice_store_entry:update(g_counter, {increment, 10}, {'peer@host', 1},
                                                   Created),
        ok = ?S:merge(S, gc, Peer),
        ?assertEqual({ok, 13}, ?S:get(S, gc)),
        ok = ?T:pass(S),
        [ok] = ?S:merge_many(S, [{gc, Peer}]),
        ?assertEqual({ok, 13}, ?S:get(S, gc))
    end).

%% ---- writes racing demotion ------------------------------------------------------------

%% 50 writers increment 20 counters while the store demotes every few ms with room for 2 hot
%% keys: every increment is counted, in whatever tier its key ends.
concurrent_writers_during_demotion_test_() ->
    {timeout, 120, fun concurrent_writers/0}.

concurrent_writers() ->
    with_store(#{memory_limit => 2, ets_limit => 5, access_threshold => 1 bsl 40,
                 tick_interval => 3}, fun(S) ->
        Keys = lists:seq(1, 20),
        [ok = ?S:create(S, K, g_counter) || K <- Keys],
        Writers = 50, Each = 2000,
        Self = self(),
        Pids = [spawn_link(fun() ->
                               rand:seed(exsss, {W, 1, 2}),
                               [{ok, _} = ?S:increment(S, lists:nth(rand:uniform(20), Keys))
                                || _ <- lists:seq(1, Each)],
                               Self ! {done, self()}
                           end) || W <- lists:seq(1, Writers)],
        [receive {done, P} -> ok end || P <- Pids],
        ok = ?T:pass(S),
        Demotions = tier_stat(S, demotions_to_ets),
        ?assert(Demotions > 20),
        ?assert(tier_stat(S, promotions) > 0),
        Total = lists:sum([element(2, ?S:get(S, K)) || K <- Keys]),
        ?assertEqual(Writers * Each, Total)
    end).

%% keys/1 and rows/1 (replication's scans) beside keys moving both ways: passes every 2 ms
%% demote, readers promote at random. Every scan must see every key, once. (A DETS fold
%% beside deletes misses keys, and a hot key demoted after the tiers were folded was missed
%% too, before the scans held the tiers still.)
scans_beside_tier_moves_test_() ->
    {timeout, 120, fun scans_beside_tier_moves/0}.

scans_beside_tier_moves() ->
    with_store(#{memory_limit => 20, ets_limit => 100, access_threshold => 1 bsl 40,
                 tick_interval => 2}, fun(S) ->
        N = 1000,
        Keys = lists:seq(1, N),
        [ok = ?S:create(S, K, g_counter) || K <- Keys],
        ok = ?T:pass(S),
        ok = ?T:pass(S),
        ?assert(tier_stat(S, disk_keys) > 0),
        Self = self(),
        Stop = atomics:new(1, []),
        Readers = [spawn_link(fun() ->
                                  rand:seed(exsss, {R, 3, 4}),
                                  read_until(S, N, Stop),
                                  Self ! {done, self()}
                              end) || R <- lists:seq(1, 4)],
        Scans = [{lists:sort(?S:rows(S)), ?S:keys(S)} || _ <- lists:seq(1, 40)],
        atomics:put(Stop, 1, 1),
        [receive {done, P} -> ok end || P <- Readers],
        ?assert(tier_stat(S, promotions) > 100),
        [begin
             ?assertEqual(Keys, Rows),
             ?assertEqual(Keys, Visible)
         end || {Rows, Visible} <- Scans]
    end).

read_until(S, N, Stop) ->
    case atomics:get(Stop, 1) of
        0 ->
            {ok, _} = ?S:get(S, rand:uniform(N)),
            read_until(S, N, Stop);
        _ ->
            ok
    end.

%% A retired object refuses updates and joins, and still reads.
retired_object_test() ->
    O = lattice_object:new(lattice_gcounter),
    {ok, _} = lattice_object:update({increment, 2}, a, O),
    Snap = lattice_object:snapshot(O),
    ok = lattice_object:retire(O),
    ?assertEqual({error, retired}, lattice_object:update({increment, 1}, a, O)),
    ?assertEqual({error, retired}, lattice_object:join(Snap, O)),
    ?assertEqual(2, lattice_object:value(O)),
    ?assertEqual(Snap, lattice_object:snapshot(O)).

%% ---- options ---------------------------------------------------------------------------

options_test() ->
    ?assertMatch(#{memory_limit := 5000, ets_limit := 50000, access_threshold := 5,
                   decay_interval := 120000}, ?T:options(#{})),
    ?assertError(badarg, ?T:options(#{memory_limit => 0})),
    ?assertError(badarg, ?T:options(#{nonsense => 1})),
    ?assertError(badarg, ?S:start_link(bad_tiering, #{tiering => #{ets_limit => x}})),
    Name = lattice_tier_off,
    {ok, _} = ?S:start_link(Name, #{}),
    try ?assertEqual(#{tiering => false}, maps:get(tiering, ?S:info(Name)))
    after ?S:stop(Name)
    end.

decay_halves_counts_test() ->
    with_store(#{memory_limit => 1, access_threshold => 4, decay_interval => 50}, fun(S) ->
        [ok = ?S:create(S, K, g_counter) || K <- [a, b]],
        [{ok, _} = ?S:increment(S, K) || K <- [a, b], _ <- lists:seq(1, 5)],
        ok = ?T:pass(S),
        %% both past the threshold: neither goes
        ?assertEqual({2, 0, 0}, tiers(S)),
        timer:sleep(300),
        ok = ?T:pass(S),
        ?assertEqual({1, 1, 0}, tiers(S))
    end).

%% ---- two real nodes ------------------------------------------------------------------

%% Tiering on node A (room for 5 hot keys), writes on node B: the nodes converge, with equal
%% anti-entropy roots and values, while most of A's keys are demoted.
two_nodes_converge_test_() ->
    {timeout, 180, fun two_nodes/0}.

two_nodes() ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"), "lattice_tier_peer"),
    Repl = {replication, #{ae_interval_ms => 1000}},
    [A] = ?C:start(1, #{store => [Repl, {tiering, #{memory_limit => 5, ets_limit => 20,
                                                     access_threshold => 1000,
                                                     tick_interval => 50, dir => Dir}}]}),
    [B] = ?C:start(1, #{store => [Repl]}),
    Peers = [A, B],
    Nodes = [NA, NB] = [N || {_, N} <- Peers],
    try
        true = erpc:call(NA, net_kernel, connect_node, [NB]),
        ?C:wait_until(peers, fun() ->
            lists:all(fun(N) -> maps:get(peers, erpc:call(N, lattice_repl, stats, [?S])) =:= 1 end,
                      Nodes)
        end),
        Keys = lists:seq(1, 100),
        [ok = erpc:call(NB, ?S, create, [?S, K, pn_counter]) || K <- Keys],
        [{ok, _} = erpc:call(NB, ?S, increment, [?S, K, K]) || K <- Keys],
        [ok = erpc:call(NB, ?S, delete, [?S, K]) || K <- lists:seq(1, 10)],
        Want = [{error, not_found} || _ <- lists:seq(1, 10)] ++ [{ok, K} || K <- lists:seq(11, 100)],
        ?C:wait_until(converged, fun() ->
            erpc:call(NA, lattice_tier, pass, [?S]),
            [RA, RB] = roots(Nodes),
            RA =:= RB andalso [erpc:call(NB, ?S, get, [?S, K]) || K <- Keys] =:= Want
        end, 60000),
        ok = erpc:call(NA, lattice_tier, pass, [?S]),
        ok = erpc:call(NA, lattice_tier, pass, [?S]),
        #{tiering := TA} = erpc:call(NA, ?S, info, [?S]),
        ?assert(maps:get(ets_keys, TA) + maps:get(disk_keys, TA) > 50),
        %% the demoted keys' digests are the writer's, and the roots still equal
        [RootA, RootB] = roots(Nodes),
        ?assertEqual(RootB, RootA),
        ?assertEqual([erpc:call(NB, ?S, digest, [?S, K]) || K <- Keys],
                     [erpc:call(NA, ?S, digest, [?S, K]) || K <- Keys]),
        %% and their values, read on A (promoting them)
        ?assertEqual(Want, [erpc:call(NA, ?S, get, [?S, K]) || K <- Keys])
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist)
    end.

roots(Nodes) ->
    [begin
         ok = erpc:call(N, lattice_repl, flush, [?S]),
         {ok, R} = erpc:call(N, lattice_ae, flush, [?S]),
         R
     end || N <- Nodes].
