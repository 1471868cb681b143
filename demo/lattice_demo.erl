%% `make demo': three lattice nodes on this machine, each with its C node, replicating the
%% default store over secure channels (certificates from a demo authority made here). They
%% write concurrently (counters, sets, maps, registers), one node is cut off and both sides
%% write on, the partition heals, and anti-entropy repairs exactly the keys that diverged. An
%% intruder (the cookie, lattice, but a certificate from another authority) joins and is
%% refused; the nodes sign a convergence checkpoint together. Then a second store, durable on
%% one node, takes a burst of writes from 100 processes there; that node is killed with
%% `kill -9' in the middle of it and started again on its directory: every acknowledged write
%% is there, and the node rejoins and converges. Prints its progress and a summary; halts
%% with 0 when every node converged, anti-entropy found exactly the diverged keys, the
%% intruder was refused, a checkpoint was certified and no acknowledged write was lost,
%% 1 otherwise.
%%
%% The driver is this node; the three nodes are OTP `peer' nodes running the lattice
%% application. Writers run on the nodes themselves (writer/4 below), so the throughput is the
%% store's, not the driver's.
-module(lattice_demo).

-export([main/0, writer/4, forward_events/2, durable_writer/3]).

-define(STORE, lattice_store).
-define(COUNTERS, 200).
-define(SETS, 200).
-define(MAPS, 100).
-define(REGISTERS, 100).
-define(WRITERS_PER_NODE, 4).
-define(MIXED_SECONDS, 5).
-define(PARTITION_SECONDS, 3).
-define(PARTITION_KEYS, 60).
-define(CONVERGE_MS, 15000).
-define(CLUSTER, <<"lattice-demo">>).
-define(PASSPHRASE, <<"demo passphrase">>).
%% Argon2id's cost for the demo's sealed keys: cheap, the keys live a minute.
-define(SEAL_COST, #{ops => 1, mem => 8192}).
-define(CHECKPOINT_MS, 2000).
%% The durable phase: a store of its own, durable on the second node.
-define(DURABLE, demo_orders).
-define(DURABLE_WRITERS, 100).
-define(BURST_MS, 2000).

main() ->
    T0 = now_ms(),
    Ok = try run(T0)
         catch C:E:Stack ->
                 say("demo failed: ~p:~p~n  ~p", [C, E, Stack]),
                 false
         end,
    say("done in ~.1f s", [(now_ms() - T0) / 1000]),
    halt(case Ok of true -> 0; false -> 1 end).

run(T0) ->
    Authority = keypair(sign),
    say("starting 3 nodes on loopback, each with lattice, its C node and a certificate of "
        "the demo authority ~s (cluster ~s): replication over secure channels",
        [binary:encode_hex(binary:part(lattice_crypto:public_key(Authority), 0, 6)), ?CLUSTER]),
    Nodes = start_nodes(3, Authority),
    [N1, N2, N3] = Nodes,
    [true = erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
    wait("every node sees the other two", fun() -> peer_counts(Nodes) =:= [2, 2, 2] end),
    [say("  ~s: C node ~s", [N, cnode(N)]) || N <- Nodes],
    say("  up in ~.1f s", [(now_ms() - T0) / 1000]),
    %% The HTTP endpoint from the start, so the status page's chart shows the phases' writes.
    Http = erpc:call(N1, lattice_http, start, [#{port => 0}]),

    Keys = keys(),
    [ok = erpc:call(N1, lattice_store, create, [?STORE, K, T]) || {K, T} <- Keys],
    say("created ~b keys on ~s: ~b pn_counter, ~b or_set, ~b lww_map, ~b lww_register",
        [length(Keys), N1, ?COUNTERS, ?SETS, ?MAPS, ?REGISTERS]),
    true = converge(Nodes, "the creates"),

    %% 1. Concurrent writes on every node.
    say("phase 1: ~b writers on each node, ~b s, all keys", [?WRITERS_PER_NODE, ?MIXED_SECONDS]),
    S1 = stats(Nodes),
    {Ops1, _} = write_phase(Nodes, Keys, ?MIXED_SECONDS),
    say("  ~b writes, ~s writes/s across the cluster", [Ops1, rate(Ops1, ?MIXED_SECONDS)]),
    C1 = converge(Nodes, "phase 1"),
    B1 = bytes(S1, stats(Nodes)),
    say("  replication bytes: ~s (~.1f per write)", [kb(B1), B1 / max(1, Ops1)]),

    %% 2. Cut N3 off: wrong cookies both ways, so the nodes cannot reconnect.
    say("phase 2: cutting ~s off from ~s and ~s", [N3, N1, N2]),
    partition(N3, [N1, N2]),
    wait("the sides see each other gone",
         fun() -> peer_counts(Nodes) =:= [1, 1, 0] end),
    KeysA = sample(?PARTITION_KEYS, Keys),
    KeysB = sample(?PARTITION_KEYS, Keys),
    say("  writing for ~b s: ~s and ~s on ~b keys, ~s alone on ~b keys (~b in common)",
        [?PARTITION_SECONDS, N1, N2, length(KeysA), N3, length(KeysB),
         length(KeysA -- (KeysA -- KeysB))]),
    [RA, RB] = [start_writers(Ns, Ks, ?PARTITION_SECONDS)
                || {Ns, Ks} <- [{[N1, N2], KeysA}, {[N3], KeysB}]],
    {OpsA, TouchedA} = collect(RA),
    {OpsB, TouchedB} = collect(RB),
    say("  ~b writes on ~s+~s, ~b on ~s", [OpsA, N1, N2, OpsB, N3]),
    wait("the two sides converge among themselves",
         fun() -> length(lists:usort(roots([N1, N2]))) =:= 1 end),
    Diverged = lists:usort(TouchedA ++ TouchedB),
    [RootA, _, RootB] = roots(Nodes),
    say("  roots: ~s ~s on ~s+~s, ~s ~s on ~s: ~b keys diverged",
        [hex(RootA), count_of(RootA), N1, N2, hex(RootB), count_of(RootB), N3,
         length(Diverged)]),

    %% 3. Heal: anti-entropy starts at once on the peer's return.
    say("phase 3: healing the partition"),
    Events = subscribe(Nodes),
    S3 = stats(Nodes),
    THeal = now_ms(),
    heal(N3, [N1, N2]),
    C3 = converge(Nodes, "after the heal"),
    THealed = now_ms() - THeal,
    Seen = drain_events(Events),
    Found = lists:usort(lists:append([Ks || {_, {diff, _, Ks}} <- Seen])),
    [say("  ~s: partition with ~s healed after ~b ms down", [N, P, Down])
     || {N, {partition_healed, P, Down}} <- Seen],
    S4 = stats(Nodes),
    B3 = bytes(S3, S4),
    Exact = Found =:= Diverged,
    say("  converged ~b ms after the heal; anti-entropy found ~b keys different, "
        "the diverged keys were ~b: ~s", [THealed, length(Found), length(Diverged),
                                           case Exact of
                                               true -> "exactly those";
                                               false -> "NOT the same"
                                           end]),
    case Exact of
        true -> ok;
        false -> say("  found but not diverged: ~p~n  diverged but not found: ~p",
                     [lists:sublist(Found -- Diverged, 10), lists:sublist(Diverged -- Found, 10)])
    end,
    say("  repair bytes: ~s (deltas and entries ~s, tree sessions ~s)",
        [kb(B3), kb(sum_stat(S3, S4, bytes_sent)), kb(sum_stat(S3, S4, ae_bytes_out))]),

    Same = values_equal(Nodes, Keys),
    [Root | _] = roots(Nodes),

    %% 4. An intruder: the cookie and lattice, but its certificate is another authority's.
    say("phase 4: an intruder joins: the cookie, lattice with a secure store, a certificate "
        "for cluster ~s signed by another authority", [?CLUSTER]),
    Refused0 = refusals(Nodes),
    [Intruder] = start_named(["lattice_demo_intruder_" ++ os:getpid()], keypair(sign)),
    [catch erpc:call(Intruder, net_kernel, connect_node, [N]) || N <- Nodes],
    ok = erpc:call(Intruder, lattice_store, create, [?STORE, intruded, g_counter]),
    {ok, _} = erpc:call(Intruder, lattice_store, increment, [?STORE, intruded, 1000]),
    IntruderRefused =
        try
            wait("every node refuses the intruder's handshake",
                 fun() -> lists:all(fun({B, A}) -> A > B end,
                                    lists:zip(Refused0, refusals(Nodes))) end, 10000),
            true
        catch error:{timeout, _} -> false
        end,
    timer:sleep(500),
    NotIn = [erpc:call(N, lattice_store, get, [?STORE, intruded]) || N <- Nodes] =:=
                [{error, not_found} || _ <- Nodes],
    StillTwo = peer_counts(Nodes) =:= [2, 2, 2],
    [say("  ~s refused it: ~s", [N, reasons(N)]) || N <- Nodes],
    say("  its key on the nodes: ~s; each node still has 2 peers: ~s",
        [case NotIn of true -> "nowhere"; false -> "FOUND" end, yes(StillTwo)]),
    catch peer:stop(get({peer, Intruder})),
    erase({peer, Intruder}),

    %% 5. A checkpoint: every node signs (store, epoch, root); a quorum of them certifies it.
    say("phase 5: a signed convergence checkpoint (every ~b ms each node signs its root; "
        "a quorum certificate needs more than 67% of the weight)", [?CHECKPOINT_MS]),
    Checkpoint = checkpoint(Nodes, Root),

    %% 6. Durability: kill -9 in a burst of durable writes, a restart, a rejoin.
    Durable = durability(Nodes, Authority),
    say(""),
    say("summary"),
    say("  nodes:              ~s", [lists:join(", ", [atom_to_list(N) || N <- Nodes])]),
    say("  keys:               ~b, ~s on every node", [length(Keys), count_of(Root)]),
    say("  write throughput:   ~s writes/s (~b writers on each of 3 nodes)",
        [rate(Ops1, ?MIXED_SECONDS), ?WRITERS_PER_NODE]),
    say("  phase 1 converged:  ~s", [yes(C1)]),
    say("  partition:          ~b keys diverged; anti-entropy found ~b; exact: ~s",
        [length(Diverged), length(Found), yes(Exact)]),
    say("  healed converged:   ~s, in ~b ms", [yes(C3), THealed]),
    say("  values equal:       ~s (every key read on every node)", [yes(Same)]),
    say("  digest:             ~s on all 3 nodes", [hex(Root)]),
    say("  bytes:              ~s for replication in phase 1, ~s for the repair",
        [kb(B1), kb(B3)]),
    say("  secure channels:    ~b established, ~b rekeys, messages refused before the "
        "intruder: ~b", channel_figures(Nodes, Refused0)),
    say("  intruder refused:   ~s (its key reached no node: ~s)",
        [yes(IntruderRefused andalso StillTwo), yes(NotIn)]),
    case Checkpoint of
        {ok, Epoch, Signers} ->
            say("  checkpoint:         epoch ~b, root ~s, signed by ~b of 3 nodes: yes",
                [Epoch, hex(Root), Signers]);
        {error, Why} ->
            say("  checkpoint:         NO (~p)", [Why])
    end,
    #{acked := Acked, missing := Missing, recovery_ms := RecMs, rejoined := Rejoined} = Durable,
    say("  durable, kill -9:   ~b writes acknowledged before the kill, ~b missing after the "
        "restart (recovered in ~b ms); rejoined and converged: ~s",
        [Acked, Missing, RecMs, yes(Rejoined)]),
    Observed = observe(N1, Http),
    say("  metrics and status: ~s", [yes(Observed)]),
    stop_nodes(),
    C1 andalso C3 andalso Exact andalso Same andalso IntruderRefused andalso NotIn
        andalso StillTwo andalso element(1, Checkpoint) =:= ok andalso Observed
        andalso Acked > 0 andalso Missing =:= 0 andalso Rejoined.

%%--------------------------------------------------------------------------------------------
%% Durability: the store ?DURABLE on every node, replicated securely, durable on the second
%% node. 100 processes there add to one set, each telling the driver of every add
%% acknowledged; the node's OS process is killed with `kill -9' in the middle of it, the other
%% two write on, the node starts again (same name, its default store empty) and its durable
%% store recovers from its directory: every acknowledged add must be there before it hears
%% from a peer; then both its stores converge with the others by anti-entropy.

durability([N1, N2, N3] = Nodes, Authority) ->
    Dir = filename:absname(filename:join(["_build", "demo", "durable", atom_to_list(N2)])),
    _ = file:del_dir_r(Dir),
    say("phase 6: store ~s on every node, durable on ~s (log and snapshots in ~s); ~b writers "
        "on ~s, then kill -9 of its OS process in the burst", [?DURABLE, N2, Dir,
                                                              ?DURABLE_WRITERS, N2]),
    [start_durable_store(N, N =:= N2, Dir) || N <- Nodes],
    wait("store " ++ atom_to_list(?DURABLE) ++ " sees its 2 peers on every node",
         fun() -> [maps:get(peers, erpc:call(N, lattice_repl, stats, [?DURABLE])) || N <- Nodes]
                      =:= [2, 2, 2] end),
    ok = erpc:call(N2, lattice_store, create, [?DURABLE, placed, g_set]),
    wait("the set on every node",
         fun() -> lists:all(fun(N) -> element(1, erpc:call(N, lattice_store, get,
                                                           [?DURABLE, placed])) =:= ok
                            end, Nodes) end),
    Driver = self(),
    OsPid = erpc:call(N2, os, getpid, []),
    ok = erpc:call(N2, fun() ->
        [spawn(?MODULE, durable_writer, [Driver, W, 1]) || W <- lists:seq(1, ?DURABLE_WRITERS)],
        ok
    end),
    Acked0 = collect_acks(#{}, now_ms() + ?BURST_MS),
    _ = os:cmd("kill -9 " ++ OsPid),
    Acked = collect_acks(Acked0, now_ms() + 500),
    say("  ~s killed: ~b adds acknowledged (~s/s durable, 100 writers)",
        [N2, map_size(Acked), rate(map_size(Acked), ?BURST_MS / 1000)]),
    wait("the others see it gone", fun() -> not lists:member(N2, erpc:call(N1, erlang, nodes, []))
                                    end),
    [{ok, _} = erpc:call(N, lattice_store, add, [?DURABLE, placed, {N, I}])
     || N <- [N1, N3], I <- lists:seq(1, 50)],
    say("  meanwhile 50 adds each on ~s and ~s", [N1, N3]),
    erase({peer, N2}),
    [N2] = start_named([lists:takewhile(fun(C) -> C =/= $@ end, atom_to_list(N2))],
                       Authority, 4),
    %% the set read in the same call that starts the store, before a peer could repair it
    {RecoveryMs, {ok, Mine}} =
        erpc:call(N2, fun() ->
            T = now_ms(),
            start_durable_store(node(), true, Dir),
            Ms = now_ms() - T,
            {Ms, lattice_store:get(?DURABLE, placed)}
        end),
    Present = maps:from_list([{E, true} || E <- Mine]),
    Missing = [E || E <- maps:keys(Acked), not is_map_key(E, Present)],
    #{durability := #{recovery := Rec}} = erpc:call(N2, lattice_store, info, [?DURABLE]),
    say("  ~s started again: store ~s recovered in ~b ms (snapshot: ~b keys; log: ~b "
        "records; torn tail: ~b bytes dropped): ~b elements, ~b acknowledged adds missing",
        [N2, ?DURABLE, RecoveryMs, maps:get(snapshot_keys, Rec), maps:get(wal_records, Rec),
         maps:get(wal_torn_tail, Rec), length(Mine), length(Missing)]),
    [true = erpc:call(N2, net_kernel, connect_node, [N]) || N <- [N1, N3]],
    Digests = fun() -> lists:usort([erpc:call(N, lattice_store, digest, [?DURABLE, placed])
                                    || N <- Nodes]) end,
    Rejoined =
        try
            wait("the set converges on all 3 nodes", fun() -> length(Digests()) =:= 1 end,
                 ?CONVERGE_MS),
            {ok, All} = erpc:call(N1, lattice_store, get, [?DURABLE, placed]),
            say("  the set converged: ~b elements on every node", [length(All)]),
            converge(Nodes, "the default store (the restarted node's started empty)")
        catch error:{timeout, _} ->
                say("  the set did NOT converge: ~b different digests", [length(Digests())]),
                false
        end,
    #{acked => map_size(Acked), missing => length(Missing), recovery_ms => RecoveryMs,
      rejoined => Rejoined}.

start_durable_store(Node, Durable, Dir) ->
    Opts = #{name => ?DURABLE, replication => #{secure => true}, checkpoints => false,
             durable => Durable, dir => Dir, snapshot_interval => 1000},
    Spec = lattice_store:child_spec(Opts),
    {ok, _} = case Node =:= node() of
                  true -> supervisor:start_child(lattice_sup, Spec);
                  false -> erpc:call(Node, supervisor, start_child, [lattice_sup, Spec])
              end,
    ok.

%% On the durable node: adds until the node dies, each acknowledged one reported.
durable_writer(Driver, W, I) ->
    {ok, _} = lattice_store:add(?DURABLE, placed, {W, I}),
    Driver ! {acked, {W, I}},
    durable_writer(Driver, W, I + 1).

collect_acks(Acc, Deadline) ->
    receive
        {acked, E} -> collect_acks(Acc#{E => true}, Deadline)
    after max(0, Deadline - now_ms()) ->
        Acc
    end.

%%--------------------------------------------------------------------------------------------
%% Observability: the HTTP endpoint on one node (loopback, an ephemeral port), /metrics read
%% once, and the status page in headless Chromium when it is installed.

observe(Node, Http) ->
    say(""),
    say("observability (docs/OBSERVABILITY.md)"),
    case Http of
        {ok, Port} ->
            Base = "http://127.0.0.1:" ++ integer_to_list(Port),
            say("  ~s serves ~s/metrics, ~s/status and ~s/status.json", [Node, Base, Base, Base]),
            {ok, _} = application:ensure_all_started(inets),
            case httpc:request(get, {Base ++ "/metrics", []}, [{timeout, 10000}],
                               [{body_format, binary}]) of
                {ok, {{_, 200, _}, _, Body}} ->
                    Lines = [L || L <- binary:split(Body, <<"\n">>, [global]),
                                  binary:match(L, <<"crdt_">>) =/= nomatch,
                                  binary:first(L) =/= $#],
                    say("  /metrics: ~b bytes, ~b samples; the seed names:",
                        [byte_size(Body), length([L || L <- binary:split(Body, <<"\n">>, [global]),
                                                       L =/= <<>>, binary:first(L) =/= $#])]),
                    [say("    ~s", [L]) || L <- lists:sublist(Lines, 8)],
                    screenshot(Base ++ "/status"),
                    true;
                Other ->
                    say("  /metrics: NO (~p)", [Other]),
                    false
            end;
        {error, Why} ->
            say("  HTTP endpoint: NO (~p)", [Why]),
            false
    end.

screenshot(URL) ->
    case os:find_executable("chromium") of
        false ->
            say("  status page: open ~s in a browser (no chromium here for a screenshot)", [URL]);
        Exe ->
            Png = filename:absname("_build/demo/status.png"),
            _ = file:delete(Png),
            _ = os:cmd(Exe ++ " --headless --no-sandbox --disable-gpu --hide-scrollbars "
                       "--window-size=1200,900 --virtual-time-budget=2000 "
                       "--user-data-dir=" ++ filename:absname("_build/demo/chromium") ++
                       " --screenshot=" ++ Png ++ " " ++ URL ++ " 2>&1"),
            case filelib:file_size(Png) of
                0 -> say("  status page: chromium wrote no screenshot");
                Size -> say("  status page: screenshot in ~s (~b bytes)", [Png, Size])
            end
    end.

%%--------------------------------------------------------------------------------------------
%% Nodes

start_nodes(N, Authority) ->
    Tag = os:getpid(),
    start_named(["lattice_demo_" ++ integer_to_list(I) ++ "_" ++ Tag || I <- lists:seq(1, N)],
                Authority).

%% Nodes of these names, each with its keys and a certificate of Authority, the default store
%% replicated securely with checkpoints, set in the application's environment before it starts.
start_named(Names, Authority) ->
    start_named(Names, Authority, 1).

%% Serials from FirstSerial on (a node started again gets a certificate of its own).
start_named(Names, Authority, FirstSerial) ->
    Ebin = filename:dirname(code:which(lattice)),
    Paths = lists:usort([Ebin, filename:dirname(code:which(?MODULE))]),
    Cookie = atom_to_list(erlang:get_cookie()),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Started = [begin
                   Node = list_to_atom(Name ++ "@" ++ Host),
                   {ok, Peer, Node} =
                       peer:start(#{name => list_to_atom(Name), wait_boot => 30000,
                                    args => ["-setcookie", Cookie,
                                             "-kernel", "prevent_overlapping_partitions",
                                             "false" | lists:append([["-pa", P] || P <- Paths])]}),
                   put({peer, Node}, Peer),
                   ok = erpc:call(Node, application, load, [lattice]),
                   ok = erpc:call(Node, application, set_env,
                                  [lattice, security, security(Authority, Node, I)]),
                   ok = erpc:call(Node, application, set_env,
                                  [lattice, store,
                                   [{replication, #{secure => true}},
                                    {checkpoints, checkpoint_opts(Authority)}]]),
                   {ok, _} = erpc:call(Node, application, ensure_all_started, [lattice]),
                   Node
               end || {I, Name} <- lists:enumerate(FirstSerial, Names)],
    [wait("the C node of " ++ atom_to_list(Node),
          fun() -> cnode(Node) =/= undefined end) || Node <- Started],
    Started.

checkpoint_opts(_Authority) ->
    #{checkpoint_interval_ms => ?CHECKPOINT_MS}.

keypair(Kind) ->
    {ok, K} = lattice_crypto:keypair(Kind),
    K.

%% A node's security configuration: its keys (sealed with a passphrase, as a node would keep
%% them in a file) and its certificate for the demo cluster, valid for an hour.
security(Authority, Node, Serial) ->
    Sign = keypair(sign),
    Kx = keypair(kx),
    Now = erlang:system_time(second),
    Cert = lattice_cert:issue(Authority, #{cluster => ?CLUSTER, node => atom_to_binary(Node),
                                           sign_pub => lattice_crypto:public_key(Sign),
                                           kx_pub => lattice_crypto:public_key(Kx),
                                           not_before => Now - 60, not_after => Now + 3600,
                                           serial => Serial}),
    Seal = fun(K) -> {sealed, lattice_crypto:export_secret(K, ?PASSPHRASE, ?SEAL_COST),
                      ?PASSPHRASE} end,
    #{cluster => ?CLUSTER, authority => lattice_crypto:public_key(Authority),
      certificate => Cert, sign_key => Seal(Sign), kx_key => Seal(Kx)}.

stop_nodes() ->
    [catch peer:stop(P) || {{peer, _}, P} <- get()],
    ok.

cnode(Node) ->
    case catch erpc:call(Node, lattice_cnode_keeper, info, []) of
        #{status := running, cnode := C} -> C;
        _ -> undefined
    end.

%% Handshakes and messages each node refused, in all.
refusals(Nodes) ->
    [lists:sum(maps:values(maps:get(secure_refused, erpc:call(N, lattice_repl, stats, [?STORE]),
                                    #{})))
     || N <- Nodes].

reasons(Node) ->
    Refused = maps:get(secure_refused, erpc:call(Node, lattice_repl, stats, [?STORE]), #{}),
    lists:join(", ", [io_lib:format("~p x~b", [R, C]) || {R, C} <- lists:sort(maps:to_list(Refused))]).

channel_figures(Nodes, RefusedHonest) ->
    Stats = stats(Nodes),
    Sum = fun(K) -> lists:sum([maps:get(K, maps:get(secure_counts, S, #{}), 0) || S <- Stats])
          end,
    [Sum(channels_established), Sum(rekeys), lists:sum(RefusedHonest)].

%% The checkpoint certified over the converged root, the same on every node: `{ok, Epoch,
%% Signers}', or `{error, no_certificate}' after a few epochs.
checkpoint(Nodes, #{hash := Hash}) ->
    checkpoint(Nodes, Hash, now_ms() + 4 * ?CHECKPOINT_MS + 5000).

checkpoint(Nodes, Hash, Deadline) ->
    Certs = [catch erpc:call(N, lattice_store, checkpoint, [?STORE]) || N <- Nodes],
    Mine = [{E, length(S)} || {ok, #{epoch := E, root := #{hash := H}, signers := S}} <- Certs,
                              H =:= Hash],
    case lists:usort([E || {E, _} <- Mine]) of
        [Epoch] when length(Mine) =:= length(Nodes) ->
            {ok, Epoch, lists:min([S || {_, S} <- Mine])};
        _ ->
            case now_ms() > Deadline of
                true -> {error, no_certificate};
                false -> timer:sleep(100), checkpoint(Nodes, Hash, Deadline)
            end
    end.

peer_counts(Nodes) ->
    [maps:get(peers, erpc:call(N, lattice_repl, stats, [?STORE])) || N <- Nodes].

%% Wrong cookies on the cut-off node for the others, and theirs for it: neither side can
%% reconnect (the driver stays connected to all three, to drive and watch them).
partition(Cut, Others) ->
    Bad = list_to_atom("partitioned_" ++ integer_to_list(erlang:unique_integer([positive]))),
    [begin
         true = erpc:call(Cut, erlang, set_cookie, [O, Bad]),
         true = erpc:call(O, erlang, set_cookie, [Cut, Bad]),
         erpc:call(Cut, erlang, disconnect_node, [O])
     end || O <- Others],
    ok.

heal(Cut, Others) ->
    Cookie = erlang:get_cookie(),
    [begin
         true = erpc:call(Cut, erlang, set_cookie, [O, Cookie]),
         true = erpc:call(O, erlang, set_cookie, [Cut, Cookie]),
         true = erpc:call(Cut, net_kernel, connect_node, [O])
     end || O <- Others],
    ok.

%%--------------------------------------------------------------------------------------------
%% Writers

keys() ->
    [{{counter, I}, pn_counter} || I <- lists:seq(1, ?COUNTERS)] ++
        [{{set, I}, or_set} || I <- lists:seq(1, ?SETS)] ++
        [{{map, I}, lww_map} || I <- lists:seq(1, ?MAPS)] ++
        [{{register, I}, lww_register} || I <- lists:seq(1, ?REGISTERS)].

write_phase(Nodes, Keys, Seconds) ->
    collect(start_writers(Nodes, Keys, Seconds)).

start_writers(Nodes, Keys, Seconds) ->
    KeyTuple = list_to_tuple(Keys),
    [erpc:send_request(N, ?MODULE, writer, [KeyTuple, Seconds * 1000, I, self()])
     || N <- Nodes, I <- lists:seq(1, ?WRITERS_PER_NODE)].

collect(Requests) ->
    Results = [erpc:receive_response(R, 60000) || R <- Requests],
    {lists:sum([Ops || {Ops, _} <- Results]), lists:usort(lists:append([T || {_, T} <- Results]))}.

%% Runs on a node: random writes to the keys for Ms milliseconds; {Writes, KeysTouched}.
writer(Keys, Ms, Seed, _Driver) ->
    rand:seed(exsss, {Seed, erlang:phash2(node()), erlang:unique_integer()}),
    Deadline = now_ms() + Ms,
    write_loop(Keys, Deadline, 0, #{}).

write_loop(Keys, Deadline, N, Touched) ->
    case N rem 64 =:= 0 andalso now_ms() >= Deadline of
        true ->
            {N, maps:keys(Touched)};
        false ->
            {Key, Type} = element(rand:uniform(tuple_size(Keys)), Keys),
            {ok, _} = write(Type, Key),
            write_loop(Keys, Deadline, N + 1, Touched#{Key => true})
    end.

write(pn_counter, K) ->
    case rand:uniform(4) of
        1 -> lattice_store:decrement(?STORE, K, rand:uniform(3));
        _ -> lattice_store:increment(?STORE, K, rand:uniform(3))
    end;
write(or_set, K) ->
    E = rand:uniform(50),
    case rand:uniform(3) of
        1 ->
            case lattice_store:remove(?STORE, K, E) of
                {error, {precondition, _}} -> lattice_store:add(?STORE, K, E);
                R -> R
            end;
        _ -> lattice_store:add(?STORE, K, E)
    end;
write(lww_map, K) ->
    lattice_store:put(?STORE, K, rand:uniform(20), {node(), rand:uniform(1000)});
write(lww_register, K) ->
    lattice_store:set(?STORE, K, {node(), rand:uniform(1000000)}).

%%--------------------------------------------------------------------------------------------
%% Watching

%% Converged: every node's C node holds the same root (the digest of every key's entry).
converge(Nodes, What) ->
    T = now_ms(),
    try
        wait(What, fun() -> length(lists:usort(roots(Nodes))) =:= 1 end, ?CONVERGE_MS),
        [Root | _] = roots(Nodes),
        say("  ~s: all 3 nodes converged in ~b ms, root ~s over ~s",
            [What, now_ms() - T, hex(Root), count_of(Root)]),
        true
    catch error:{timeout, _} ->
            say("  ~s: NOT converged after ~b ms: roots ~p", [What, ?CONVERGE_MS,
                                                              [hex(R) || R <- roots(Nodes)]]),
            false
    end.

roots(Nodes) ->
    [begin
         ok = erpc:call(N, lattice_repl, flush, [?STORE]),
         {ok, R} = erpc:call(N, lattice_ae, flush, [?STORE]),
         R
     end || N <- Nodes].

values_equal(Nodes, Keys) ->
    lists:all(fun({K, _}) ->
                      length(lists:usort([erpc:call(N, lattice_store, get, [?STORE, K])
                                          || N <- Nodes])) =:= 1
              end, Keys).

stats(Nodes) ->
    [erpc:call(N, lattice_repl, stats, [?STORE]) || N <- Nodes].

bytes(Before, After) ->
    sum_stat(Before, After, bytes_sent) + sum_stat(Before, After, ae_bytes_out).

sum_stat(Before, After, K) ->
    lists:sum([maps:get(K, A) - maps:get(K, B) || {B, A} <- lists:zip(Before, After)]).

%% A process on each node forwards its replication events to us.
subscribe(Nodes) ->
    Self = self(),
    [erpc:call(N, erlang, spawn, [?MODULE, forward_events, [Self, self()]]) || N <- Nodes],
    [receive {subscribed, N} -> ok after 5000 -> error({no_subscription, N}) end || N <- Nodes],
    Nodes.

forward_events(Driver, _) ->
    _ = lattice_repl:subscribe(?STORE),
    Driver ! {subscribed, node()},
    forward_loop(Driver).

forward_loop(Driver) ->
    receive
        {lattice_repl, _, Event} ->
            Driver ! {demo_event, node(), Event},
            forward_loop(Driver)
    after 120000 -> ok
    end.

drain_events(_Nodes) ->
    receive
        {demo_event, N, E} -> [{N, E} | drain_events(_Nodes)]
    after 0 -> []
    end.

wait(What, Pred) ->
    wait(What, Pred, 30000).

wait(What, Pred, Timeout) ->
    Deadline = now_ms() + Timeout,
    wait_loop(What, Pred, Deadline).

wait_loop(What, Pred, Deadline) ->
    case catch Pred() of
        true -> ok;
        _ ->
            case now_ms() > Deadline of
                true -> error({timeout, What});
                false -> timer:sleep(20), wait_loop(What, Pred, Deadline)
            end
    end.

%%--------------------------------------------------------------------------------------------
%% Printing

sample(N, List) ->
    [X || {_, X} <- lists:sublist(lists:sort([{rand:uniform(), X} || X <- List]), N)].

say(Text) -> say(Text, []).
say(Format, Args) ->
    io:format("[~5.1f s] " ++ Format ++ "~n", [(now_ms() - start_ms()) / 1000 | Args]).

start_ms() ->
    case persistent_term:get({?MODULE, t0}, undefined) of
        undefined -> T = now_ms(), persistent_term:put({?MODULE, t0}, T), T;
        T -> T
    end.

now_ms() -> erlang:monotonic_time(millisecond).

rate(Ops, Seconds) -> integer_to_list(round(Ops / Seconds)).

kb(B) when B < 1024 -> io_lib:format("~b B", [B]);
kb(B) when B < 1048576 -> io_lib:format("~.1f KB", [B / 1024]);
kb(B) -> io_lib:format("~.2f MB", [B / 1048576]).

hex(#{hash := H}) -> binary:encode_hex(binary:part(H, 0, 6));
hex(_) -> "?".

count_of(#{count := C}) -> integer_to_list(C) ++ " keys";
count_of(_) -> "?".

yes(true) -> "yes";
yes(false) -> "NO".
