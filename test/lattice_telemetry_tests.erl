%% lattice's `:telemetry' events (lattice_telemetry, docs/OBSERVABILITY.md), with the real
%% telemetry library from the anchors (compiled from $ANCHORS/telemetry/src into a temporary
%% directory the way $ANCHORS/build.sh does; ANCHORS defaults to the repository's
%% ../shared/anchors) loaded on two peer nodes replicating the default store. Without the
%% anchors the event tests are skipped with a printed reason; the tests of lattice without
%% telemetry always run.
-module(lattice_telemetry_tests).
-include_lib("eunit/include/eunit.hrl").

-export([forward/4, crash/4]).

-define(C, lattice_peer_cluster).
-define(S, lattice_store).
-define(R, lattice_repl).
-define(ENV, #{store => [{replication, #{ae_interval_ms => 60000}}]}).
-define(EVENTS, [[lattice, sync, flush], [lattice, sync, merge], [lattice, ae, session],
                 [lattice, store, stats], [lattice, crypto, channel],
                 [lattice, store, create], [lattice, store, delete], [lattice, store, snapshot],
                 [lattice, store, recovery], [lattice, store, disk_error]]).
-define(T, lattice_telemetry_store).

%% ---- without telemetry ------------------------------------------------------------------

%% The test VM has no telemetry loaded: nothing is emitted, nothing fails.
without_telemetry_test() ->
    case erlang:module_loaded(telemetry) of
        true ->
            io:format(user, "lattice_telemetry_tests: telemetry is loaded in the test VM: "
                      "the test of its absence does not apply~n", []);
        false ->
            ?assertNot(lattice_telemetry:available()),
            ?assertEqual(ok, lattice_telemetry:execute([lattice, store, stats], #{rows => 1},
                                                       #{store => s})),
            %% and asking did not load it
            ?assertNot(erlang:module_loaded(telemetry))
    end.

%% ---- with the real telemetry ------------------------------------------------------------

events_test_() ->
    with_telemetry("events", 300, fun events/1).

events(Ebin) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    Peers = ?C:start(2, ?ENV),
    [N1, N2] = Nodes = [N || {_, N} <- Peers],
    try
        true = erpc:call(N1, net_kernel, connect_node, [N2]),
        ?C:wait_until(peers, fun() ->
            lists:all(fun(N) -> maps:get(peers, erpc:call(N, ?R, stats, [?S])) =:= 1 end, Nodes)
        end),
        Self = self(),
        [ok = erpc:call(N, fun() -> attach(Ebin, Self) end) || N <- Nodes],
        [?assert(erpc:call(N, lattice_telemetry, available, [])) || N <- Nodes],
        flush_and_merge(N1, N2),
        ae_session(N1, N2),
        store_stats(N2),
        telemetry_gone(N1),
        sampler_with_telemetry_in_path(N2)
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist),
        _ = file:del_dir_r(Ebin)
    end.

%% Writes on N1 and a flush: N1 reports the flush (deltas and bytes sent), N2 the merge of
%% the batch from N1.
flush_and_merge(N1, N2) ->
    ok = erpc:call(N1, fun() ->
        [begin
             ok = ?S:create(?S, {k, I}, g_counter),
             {ok, _} = ?S:increment(?S, {k, I}, I)
         end || I <- lists:seq(1, 20)],
        ?R:flush(?S)
    end),
    {F, FMeta} = await(N1, [lattice, sync, flush]),
    ?assertMatch(#{store := ?S, node := N1}, FMeta),
    ?assert(maps:get(deltas, F) >= 1),
    ?assert(maps:get(batches, F) >= 1),
    ?assert(maps:get(bytes, F) > 0),
    ?assert(is_integer(maps:get(duration, F)) andalso maps:get(duration, F) >= 0),
    %% 20 creates and 20 increments, joined per key and kind, in one batch or more
    ?assert(merged_items(N2, N1, 0) >= 20),
    ?C:wait_until(keys, fun() -> length(erpc:call(N2, ?S, keys, [?S])) =:= 20 end).

merged_items(_N2, _N1, Acc) when Acc >= 20 ->
    Acc;
merged_items(N2, N1, Acc) ->
    {M, Meta} = await(N2, [lattice, sync, merge]),
    ?assertMatch(#{store := ?S, node := N2, from := N1, kind := batch}, Meta),
    ?assertEqual(0, maps:get(invalid, M)),
    ?assert(maps:get(bytes, M) > 0),
    merged_items(N2, N1, Acc + maps:get(items, M)).

%% A session asked for by N1 is reported by its initiator (of the two, the node whose name
%% is smaller: lattice_repl's rule) and by the responder.
ae_session(N1, N2) ->
    ok = erpc:call(N1, ?R, sync, [?S]),
    {Init, Resp} = {min(N1, N2), max(N1, N2)},
    {M, Meta} = await(Init, [lattice, ae, session],
                      fun(_, #{role := R}) -> R =:= initiator end),
    ?assertMatch(#{store := ?S, node := Init, peer := Resp, role := initiator}, Meta),
    {_, RMeta} = await(Resp, [lattice, ae, session],
                       fun(_, #{role := R}) -> R =:= responder end),
    ?assertMatch(#{store := ?S, node := Resp, peer := Init}, RMeta),
    ?assert(lists:member(maps:get(result, Meta), [equal, differ])),
    ?assert(maps:get(duration_us, M) >= 0),
    ?assert(is_integer(maps:get(keys, M))).

%% The sampler's periodic event, with the store's figures: the 20 keys that came from N1.
store_stats(N2) ->
    ok = erpc:call(N2, fun() ->
        case whereis(lattice_sampler) of
            undefined ->
                {ok, _} = supervisor:start_child(lattice_sup,
                                                 lattice_sampler:child_spec(#{})),
                ok;
            _ ->
                ok
        end,
        lattice_sampler:sample_now()
    end),
    {M, Meta} = await(N2, [lattice, store, stats]),
    ?assertMatch(#{store := ?S, node := N2}, Meta),
    ?assertEqual(20, maps:get(rows, M)),
    ?assert(maps:get(table_bytes, M) > 0),
    ?assertEqual(1, maps:get(peers, M)),
    ?assert(maps:get(deltas_received_items, M) >= 20).

%% A handler that raises runs in the replication process: telemetry detaches it, and the store
%% goes on replicating (the next flush is reported to the other handler). Then telemetry's
%% application stopped (its handler table gone) with the module still loaded: events cost a
%% failed lookup and nothing breaks.
telemetry_gone(N1) ->
    ok = erpc:call(N1, telemetry, attach, [crash, [lattice, sync, flush],
                                            fun ?MODULE:crash/4, none]),
    ok = erpc:call(N1, fun() -> ok = ?S:create(?S, crash1, g_counter), ?R:flush(?S) end),
    _ = await(N1, [lattice, sync, flush]),
    ?C:wait_until(crash_detached, fun() ->
        not lists:any(fun(#{id := Id}) -> Id =:= crash end,
                      erpc:call(N1, telemetry, list_handlers, [[lattice, sync, flush]]))
    end),
    ok = erpc:call(N1, application, stop, [telemetry]),
    ?assert(erpc:call(N1, lattice_telemetry, available, [])),
    ?assertEqual(ok, erpc:call(N1, lattice_telemetry, execute, [[lattice, x], #{}, #{}])),
    ok = erpc:call(N1, fun() -> ok = ?S:create(?S, crash2, g_counter), ?R:flush(?S) end),
    ?assertEqual({ok, 0}, erpc:call(N1, ?S, get, [?S, crash2])).

%% The sampler starts with lattice when telemetry is in the code path, loaded or not (a host
%% may start lattice before telemetry; in interactive mode a module loads on first use).
sampler_with_telemetry_in_path(N) ->
    ok = erpc:call(N, fun() ->
        ok = application:stop(lattice),
        ok = application:stop(telemetry),
        _ = code:purge(telemetry),
        true = code:delete(telemetry),
        _ = code:purge(telemetry),
        false = erlang:module_loaded(telemetry),
        true = is_list(code:which(telemetry)),
        ok = application:start(lattice)
    end),
    ?assert(is_pid(erpc:call(N, erlang, whereis, [lattice_sampler]))).

%% ---- a durable store's events: create, delete, snapshot, recovery, disk error ---------

durable_test_() ->
    with_telemetry("store events", 120, fun durable/1).

durable(Ebin) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    [{_, N}] = Peers = ?C:start(1, #{}),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"),
                        "lattice_telemetry_durable_" ++ os:getpid() ++ "_" ++
                            integer_to_list(erlang:unique_integer([positive]))),
    Opts = #{durable => true, dir => Dir, snapshot_interval => infinity},
    try
        Self = self(),
        ok = erpc:call(N, fun() -> attach(Ebin, Self) end),
        ok = start_on(N, Opts),
        {R0, RMeta0} = await_store(N, [lattice, store, recovery]),
        ?assertMatch(#{snapshot_keys := 0, wal_records := 0, torn_tail_bytes := 0}, R0),
        ?assertMatch(#{store := ?T, node := N, dir := Dir}, RMeta0),
        ?assert(maps:get(duration_ms, R0) >= 0),
        %% creates and a delete, each with the store's row count after it
        ok = erpc:call(N, ?S, create, [?T, k1, g_counter]),
        ?assertMatch({#{rows := 1}, #{store := ?T, node := N, key := k1, type := g_counter}},
                     await_store(N, [lattice, store, create])),
        ok = erpc:call(N, ?S, create, [?T, k2, or_set]),
        ?assertMatch({#{rows := 2}, #{key := k2, type := or_set}},
                     await_store(N, [lattice, store, create])),
        ok = erpc:call(N, ?S, delete, [?T, k1]),
        {D, DMeta} = await_store(N, [lattice, store, delete]),
        ?assertMatch(#{key := k1, store := ?T}, DMeta),
        ?assert(is_integer(maps:get(rows, D))),
        %% a snapshot: the keys it wrote and how long it took
        ok = erpc:call(N, ?S, snapshot, [?T]),
        {Snap, SMeta} = await_store(N, [lattice, store, snapshot]),
        ?assertMatch(#{result := ok, node := N}, SMeta),
        SnapKeys = maps:get(keys, Snap),
        ?assert(SnapKeys >= 1),
        ?assert(maps:get(duration, Snap) >= 0),
        {ok, _} = erpc:call(N, ?S, add, [?T, k2, x]),
        ok = erpc:call(N, ?S, stop, [?T]),
        %% the restart's recovery: the snapshot's keys and the record logged after it
        ok = start_on(N, Opts),
        {R1, RMeta1} = await_store(N, [lattice, store, recovery]),
        ?assertMatch(#{snapshot_keys := SnapKeys, wal_records := 1, torn_tail_bytes := 0}, R1),
        ?assert(maps:get(incarnation, RMeta1) > maps:get(incarnation, RMeta0)),
        ok = erpc:call(N, ?S, stop, [?T]),
        disk_error(N, Dir ++ "_small")
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist),
        _ = file:del_dir_r(Dir),
        _ = file:del_dir_r(Ebin)
    end.

%% A 32 KiB tmpfs fills up: the store reports the error and what it does now (where root may
%% mount; elsewhere skipped with the reason).
disk_error(N, Dir) ->
    ok = filelib:ensure_path(Dir),
    case os:cmd("mount -t tmpfs -o size=32k tmpfs " ++ Dir ++ " 2>&1 && echo mounted") of
        "mounted\n" ->
            try
                ok = start_on(N, #{durable => true, dir => Dir, snapshot_interval => infinity}),
                ok = erpc:call(N, ?S, create, [?T, big, g_set]),
                Fill = fun Fill(I) ->
                               case erpc:call(N, ?S, add, [?T, big, binary:copy(<<I:32>>, 256)]) of
                                   {ok, _} when I < 10000 -> Fill(I + 1);
                                   Result -> Result
                               end
                       end,
                ?assertMatch({error, {disk_error, _, enospc}}, Fill(0)),
                {_, EMeta} = await_store(N, [lattice, store, disk_error]),
                ?assertMatch(#{error := {disk_error, _, enospc}, mode := refusing_writes,
                               node := N}, EMeta),
                ok = erpc:call(N, ?S, stop, [?T])
            after
                os:cmd("umount " ++ Dir),
                file:del_dir_r(Dir)
            end;
        Other ->
            io:format(user, "lattice_telemetry_tests: no tmpfs mount, the disk_error event "
                      "not tested (~ts)~n", [Other])
    end.

start_on(N, Opts) ->
    erpc:call(N, fun() ->
        {ok, Pid} = ?S:start_link(?T, Opts),
        unlink(Pid),
        ok
    end).

%% The next event from the test's own store (the peer's default store emits too).
await_store(N, Event) ->
    await(N, Event, fun(_, #{store := S}) -> S =:= ?T end).

%% ---- the crypto layer: two secure nodes ------------------------------------------------

crypto_test_() ->
    with_telemetry("crypto events", 300, fun crypto/1).

%% Handlers attached before the two secure nodes meet: each reports its channel with the
%% other established, then (rekey_after_time 300 ms) a rekey to a later epoch.
crypto(Ebin) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    {ok, Auth} = lattice_crypto:keypair(sign),
    Peers = [begin
                 {Name, Node} = secure_name(I),
                 ?C:start_named(Name, #{security => security_env(Auth, Node, I),
                                        store => [{replication, #{secure => true}},
                                                  {checkpoints, false}]})
             end || I <- [1, 2]],
    [N1, N2] = [N || {_, N} <- Peers],
    try
        [?C:wait_cnode(N) || N <- [N1, N2]],
        Self = self(),
        [ok = erpc:call(N, fun() -> attach(Ebin, Self) end) || N <- [N1, N2]],
        true = erpc:call(N1, net_kernel, connect_node, [N2]),
        [begin
             {M, Meta} = await(N, [lattice, crypto, channel],
                               fun(_, #{kind := K}) -> K =:= established end),
             ?assertMatch(#{store := ?S, node := N, peer := Other, kind := established}, Meta),
             ?assert(maps:get(epoch, M) >= 1),
             %% (a handshake crossing the peer's completes the same epoch again: lattice_repl
             %% counts it as a rekey, and so does the event; a timed rekey raises the epoch)
             {M2, _} = await(N, [lattice, crypto, channel],
                             fun(#{epoch := E}, #{kind := K, peer := P}) ->
                                     K =:= rekey andalso P =:= Other andalso E >= 2
                             end),
             ?assert(maps:get(epoch, M2) > maps:get(epoch, M))
         end || {N, Other} <- [{N1, N2}, {N2, N1}]],
        ok
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist),
        _ = file:del_dir_r(Ebin)
    end.

secure_name(I) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Name = "lattice_zt" ++ integer_to_list(I) ++ "_" ++ os:getpid() ++ "_" ++
        integer_to_list(erlang:unique_integer([positive])),
    {list_to_atom(Name), list_to_atom(Name ++ "@" ++ Host)}.

%% A certificate for Node from Auth, and its keys sealed under a cheap passphrase (as
%% lattice_secure_repl_tests does).
security_env(Auth, Node, Serial) ->
    {ok, Sign} = lattice_crypto:keypair(sign),
    {ok, Kx} = lattice_crypto:keypair(kx),
    Now = erlang:system_time(second),
    Cert = lattice_cert:issue(Auth, #{cluster => <<"telemetry-test">>,
                                      node => atom_to_binary(Node),
                                      sign_pub => lattice_crypto:public_key(Sign),
                                      kx_pub => lattice_crypto:public_key(Kx),
                                      not_before => Now - 60, not_after => Now + 3600,
                                      serial => Serial}),
    Pass = <<"pass">>,
    Cheap = #{ops => 1, mem => 8192},
    #{cluster => <<"telemetry-test">>, authority => lattice_crypto:public_key(Auth),
      certificate => Cert,
      sign_key => {sealed, lattice_crypto:export_secret(Sign, Pass, Cheap), Pass},
      kx_key => {sealed, lattice_crypto:export_secret(Kx, Pass, Cheap), Pass},
      channel => #{rekey_after_time => 300, grace => 3000}}.

%% ---- helpers ----------------------------------------------------------------------------

%% A test of `Run(Ebin)' with the anchors' telemetry compiled into Ebin, or none (printed)
%% without the anchors.
with_telemetry(What, Timeout, Run) ->
    case telemetry_ebin() of
        {skip, Why} ->
            io:format(user, "lattice_telemetry_tests: ~s skipped: ~ts~n", [What, Why]),
            [];
        {ok, Ebin} ->
            {timeout, Timeout, fun() -> Run(Ebin) end}
    end.

attach(Ebin, Pid) ->
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(telemetry),
    ok = apply(telemetry, attach_many,
               [{?MODULE, node()}, ?EVENTS, fun ?MODULE:forward/4, Pid]).

%% A handler that raises.
crash(_Event, _Measurements, _Metadata, _) ->
    erlang:error(handler_crash).

%% The handler: every event to the test process.
forward(Event, Measurements, Metadata, Pid) ->
    Pid ! {telemetry, node(), Event, Measurements, Metadata},
    ok.

await(Node, Event) ->
    await(Node, Event, fun(_, _) -> true end).

await(Node, Event, Pred) ->
    receive
        {telemetry, Node, Event, M, Meta} ->
            case Pred(M, Meta) of
                true -> {M, Meta};
                false -> await(Node, Event, Pred)
            end
    after 30000 ->
        error({no_event, Node, Event})
    end.

%% The telemetry library compiled from the anchors' sources, as $ANCHORS/build.sh compiles it
%% (erlc -I src, and the .app.src copied to the .app), into a fresh temporary directory.
telemetry_ebin() ->
    Anchors = case os:getenv("ANCHORS") of
                  V when V =:= false; V =:= "" -> filename:absname("../shared/anchors");
                  V -> filename:absname(V)
              end,
    Src = filename:join([Anchors, "telemetry", "src"]),
    case filelib:wildcard(filename:join(Src, "*.erl")) of
        [] ->
            {skip, io_lib:format("no telemetry sources in ~ts (set ANCHORS to the anchors' "
                                 "directory)", [Src])};
        Files ->
            Out = filename:join(os:getenv("TMPDIR", "/tmp"),
                                "lattice_telemetry_" ++ os:getpid() ++ "_" ++
                                    integer_to_list(erlang:unique_integer([positive]))),
            ok = filelib:ensure_path(Out),
            [{ok, _} = compile:file(F, [{i, Src}, {outdir, Out}, return_errors]) || F <- Files],
            {ok, _} = file:copy(filename:join(Src, "telemetry.app.src"),
                                filename:join(Out, "telemetry.app")),
            {ok, Out}
    end.
