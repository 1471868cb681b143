%% Secure replication between real nodes (docs/REPLICATION.md, "Secure replication"): peers
%% (lattice_peer_cluster) with their C nodes, each configured with a certificate issued here
%% by a test authority (lattice_cert), the default store replicated with `secure => true'.
%%
%% The secure peers are named `lattice_z<...>', so that this test node (`lattice_test_...')
%% is smaller than all of them: it plays the intruders, which initiate handshakes (the
%% smaller node of a pair initiates), with the cookie and whatever certificate the case needs.
-module(lattice_secure_repl_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_peer_cluster).
-define(S, lattice_store).
-define(R, lattice_repl).
-define(CLUSTER, <<"secure-test">>).
-define(PASS, <<"test passphrase">>).
-define(CHEAP, #{ops => 1, mem => 8192}).

%%--------------------------------------------------------------------------------------------
%% The authority and the nodes' configurations

authority() ->
    {ok, A} = lattice_crypto:keypair(sign),
    A.

host() ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Host.

node_name(Prefix) ->
    Name = Prefix ++ "_" ++ os:getpid() ++ "_" ++
        integer_to_list(erlang:unique_integer([positive])),
    {list_to_atom(Name), list_to_atom(Name ++ "@" ++ host())}.

now_s() -> erlang:system_time(second).

%% Keys and a certificate for Node, with the fields in Over replacing the defaults.
credentials(Auth, Node, Serial, Over) ->
    {ok, Sign} = lattice_crypto:keypair(sign),
    {ok, Kx} = lattice_crypto:keypair(kx),
    Fields = maps:merge(#{cluster => ?CLUSTER, node => atom_to_binary(Node),
                          sign_pub => lattice_crypto:public_key(Sign),
                          kx_pub => lattice_crypto:public_key(Kx),
                          not_before => now_s() - 60, not_after => now_s() + 3600,
                          serial => Serial}, Over),
    {lattice_cert:issue(Auth, Fields), Sign, Kx}.

security_env(Auth, Node, Serial, Channel) ->
    {Cert, Sign, Kx} = credentials(Auth, Node, Serial, #{}),
    #{cluster => ?CLUSTER, authority => lattice_crypto:public_key(Auth), certificate => Cert,
      sign_key => {sealed, lattice_crypto:export_secret(Sign, ?PASS, ?CHEAP), ?PASS},
      kx_key => {sealed, lattice_crypto:export_secret(Kx, ?PASS, ?CHEAP), ?PASS},
      channel => Channel}.

repl_env(Repl) ->
    %% No checkpoints (on by default for secure stores): peer_messages registers its own
    %% lattice_checkpoint_<Store> and counts every peer message.
    [{replication, maps:merge(#{ae_interval_ms => 2000}, Repl)}, {checkpoints, false}].

%% N secure peers (serials 1..N), and a non-secure one too when Plain is true.
cluster(N, Channel, Plain, Fun) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    Auth = authority(),
    Peers = [begin
                 {Name, Node} = node_name("lattice_z" ++ integer_to_list(I)),
                 Env = #{security => security_env(Auth, Node, I, Channel),
                         store => repl_env(#{secure => true})},
                 ?C:start_named(Name, Env)
             end || I <- lists:seq(1, N)],
    Extra = case Plain of
                true ->
                    {PName, _} = node_name("lattice_zz"),
                    [?C:start_named(PName, #{store => repl_env(#{})})];
                false ->
                    []
            end,
    All = Peers ++ Extra,
    [?C:wait_cnode(Node) || {_, Node} <- All],
    Nodes = [Node || {_, Node} <- Peers],
    try
        [true = erpc:call(A, net_kernel, connect_node, [B])
         || {_, A} <- All, {_, B} <- All, A < B],
        wait_peers(Nodes, N - 1),
        Fun(#{auth => Auth, nodes => Nodes, plain => [Node || {_, Node} <- Extra]})
    after
        ?C:stop(All),
        ?C:release_distribution(Dist)
    end.

stats(Node) -> erpc:call(Node, ?R, stats, [?S]).

peers(Node) -> maps:get(peers, stats(Node)).

refused(Node) -> maps:get(secure_refused, stats(Node), #{}).

refused(Node, Reason) -> maps:get(Reason, refused(Node), 0).

wait_peers(Nodes, N) ->
    ?C:wait_until({peers, N}, fun() -> lists:all(fun(Node) -> peers(Node) =:= N end, Nodes) end,
                  30000).

roots(Nodes) ->
    [begin
         ok = erpc:call(N, ?R, flush, [?S]),
         {ok, R} = erpc:call(N, lattice_ae, flush, [?S]),
         R
     end || N <- Nodes].

converged(Nodes) ->
    ?C:wait_until(converged, fun() -> length(lists:usort(roots(Nodes))) =:= 1 end, 30000).

call(Node, F, Args) -> erpc:call(Node, ?S, F, [?S | Args]).

%% What a correct peer must never see refused (a handshake that timed out while a peer was
%% starting is no message refused).
no_refusals(Node) ->
    ?assertEqual(#{}, maps:without([handshake_timeout], refused(Node))).

%%--------------------------------------------------------------------------------------------
%% The configuration

config_test_() ->
    {timeout, 60, fun config_checks/0}.

config_checks() ->
    Auth = authority(),
    Node = node(),
    {Cert, Sign, Kx} = credentials(Auth, Node, 7, #{}),
    Good = #{cluster => ?CLUSTER, authority => lattice_crypto:public_key(Auth),
             certificate => Cert, sign_key => Sign, kx_key => Kx},
    try
        ok = lattice_security:configure(Good),
        {ok, #{cluster := ?CLUSTER, sequence := -1}} = lattice_security:config(),
        %% shapes: badarg, saying which key
        [?assertError(badarg, lattice_security:configure(M))
         || M <- [maps:remove(kx_key, Good), Good#{cluster := 42}, Good#{bogus => 1},
                  Good#{sign_key := "x"}, Good#{channel => #{rekey => 1}}, not_a_map]],
        try lattice_security:configure(maps:remove(kx_key, Good))
        catch error:badarg:Stack ->
                ?assertMatch(<<"kx_key is required", _/binary>>,
                             lattice_security:error_message(Stack))
        end,
        %% contents: {error, {bad_security, Reason}}
        {Expired, ES, EK} = credentials(Auth, Node, 8, #{not_before => 1, not_after => 2}),
        ?assertEqual({error, {bad_security, {certificate, expired}}},
                     lattice_security:configure(Good#{certificate := Expired, sign_key := ES,
                                                      kx_key := EK})),
        {Other, OS, OK} = credentials(Auth, 'someone@else', 9, #{}),
        ?assertEqual({error, {bad_security, {certificate_mismatch, node}}},
                     lattice_security:configure(Good#{certificate := Other, sign_key := OS,
                                                      kx_key := OK})),
        ?assertEqual({error, {bad_security, {certificate_mismatch, kx_key}}},
                     lattice_security:configure(Good#{kx_key := OK})),
        ?assertEqual({error, {bad_security, {sign_key, not_a_sign_key}}},
                     lattice_security:configure(Good#{sign_key := Kx})),
        Sealed = lattice_crypto:export_secret(Sign, ?PASS, ?CHEAP),
        ?assertEqual({error, {bad_security, {sign_key, bad_passphrase}}},
                     lattice_security:configure(Good#{sign_key := {sealed, Sealed, <<"no">>}})),
        ok = lattice_security:configure(Good#{sign_key := {sealed, Sealed, ?PASS}}),
        {ok, OtherAuth} = lattice_crypto:keypair(sign),
        ?assertEqual({error, {bad_security, {certificate, bad_signature}}},
                     lattice_security:configure(
                       Good#{authority := lattice_crypto:public_key(OtherAuth)})),
        %% revocation lists move forward only, and only the authority's
        Crl = fun(A, Seq, Serials) ->
                      lattice_cert:revocation_list(A, #{cluster => ?CLUSTER, sequence => Seq,
                                                        issued_at => now_s(),
                                                        serials => Serials})
              end,
        ok = lattice_security:set_revocations(Crl(Auth, 2, [100])),
        ?assertEqual(2, lattice_security:revocation_sequence()),
        ?assertEqual({error, {bad_security, stale_revocations}},
                     lattice_security:set_revocations(Crl(Auth, 1, [])) ),
        ?assertEqual({error, {bad_security, stale_revocations}},
                     lattice_security:set_revocations(Crl(Auth, 2, []))),
        ?assertEqual({error, {bad_security, {revocations, bad_signature}}},
                     lattice_security:set_revocations(Crl(OtherAuth, 3, []))),
        ?assertEqual(2, lattice_security:revocation_sequence()),
        %% a list revoking this node's own certificate makes the configuration refused
        ?assertEqual({error, {bad_security, {certificate, revoked}}},
                     lattice_security:configure(Good#{revocations => Crl(Auth, 3, [7])})),
        %% a secure store without a configuration does not start
        ok = lattice_security:clear(),
        ?assertEqual({error, not_configured}, lattice_security:config()),
        ?assertEqual({error, {no_security_configuration, nostore}},
                     ?R:start_link(nostore, #{secure => true})),
        ?assertError(badarg, ?R:options(#{secure => yes}))
    after
        lattice_security:clear()
    end.

%%--------------------------------------------------------------------------------------------
%% Three secure nodes converge under random writes

converge_test_() ->
    {timeout, 180, fun() -> cluster(3, #{}, false, fun converge/1) end}.

converge(#{nodes := Nodes}) ->
    rand:seed(exsss, {1, 2, 3}),
    Counters = [{c, I} || I <- lists:seq(1, 20)],
    Sets = [{s, I} || I <- lists:seq(1, 10)],
    [ok = call(hd(Nodes), create, [K, pn_counter]) || K <- Counters],
    [ok = call(hd(Nodes), create, [K, or_set]) || K <- Sets],
    converged(Nodes),
    Ops = [case rand:uniform(2) of
               1 -> {lists:nth(rand:uniform(3), Nodes), increment, pick(Counters),
                     rand:uniform(5)};
               2 -> {lists:nth(rand:uniform(3), Nodes), add, pick(Sets), rand:uniform(1000)}
           end || _ <- lists:seq(1, 600)],
    Model = lists:foldl(
              fun({Node, increment, K, N}, M) ->
                      {ok, _} = call(Node, increment, [K, N]),
                      M#{K => maps:get(K, M, 0) + N};
                 ({Node, add, K, E}, M) ->
                      {ok, _} = call(Node, add, [K, E]),
                      M#{K => lists:usort([E | maps:get(K, M, [])])}
              end, #{}, Ops),
    converged(Nodes),
    [[begin
          Want = maps:get(K, Model),
          case call(N, get, [K]) of
              {ok, V} when is_integer(Want) -> ?assertEqual(Want, V);
              {ok, V} -> ?assertEqual(Want, lists:sort(V))
          end
      end || K <- maps:keys(Model)] || N <- Nodes],
    [begin
         S = stats(N),
         ?assertEqual(true, maps:get(secure, S)),
         ?assertEqual(2, maps:get(channels, S)),
         %% each channel gave the C node its anti-entropy key
         ?assert(maps:get(ae_keys_set, maps:get(secure_counts, S)) >= 2),
         ?assertEqual(0, maps:get(ae_key_errors, maps:get(secure_counts, S))),
         ?assert(maps:get(ae_sessions, S) + maps:get(ae_sessions, stats(hd(Nodes -- [N]))) > 0),
         ?assert(maps:get(sealed_received, maps:get(secure_counts, S)) > 0),
         no_refusals(N)
     end || N <- Nodes],
    ae_sealed(Nodes),
    peer_messages(Nodes).

%% The anti-entropy sessions run sealed, under the channels' keys: every node holds a key
%% for each peer, and sessions started now all succeed.
ae_sealed(Nodes) ->
    [begin
         {ok, Keys} = erpc:call(N, lattice_ae, peer_keys, [?S]),
         ?assertEqual(lists:sort(Nodes -- [N]), lists:sort(maps:keys(Keys)))
     end || N <- Nodes],
    Before = [{maps:get(ae_sessions, stats(N)), maps:get(ae_errors, stats(N))} || N <- Nodes],
    [ok = erpc:call(N, ?R, sync, [?S]) || N <- Nodes],
    ?C:wait_until(sessions, fun() ->
        lists:all(fun({N, {S0, _}}) -> maps:get(ae_sessions, stats(N)) > S0 orelse
                                           N =:= lists:max(Nodes) end,
                  lists:zip(Nodes, Before))
    end),
    timer:sleep(1000),
    [?assertEqual(E0, maps:get(ae_errors, stats(N))) || {N, {_, E0}} <- lists:zip(Nodes, Before)].

%% Other modules' messages (lattice_checkpoint's): sealed, delivered to the process
%% registered lattice_checkpoint_<Store> on the peer, counted and dropped where there is none.
peer_messages([A, B, C]) ->
    Self = self(),
    Fwd = erpc:call(B, erlang, spawn, [fun() ->
                                               true = register(lattice_checkpoint_lattice_store,
                                                               self()),
                                               Self ! registered,
                                               forward(Self)
                                       end]),
    receive registered -> ok after 5000 -> error(no_forwarder) end,
    ok = erpc:call(A, ?R, broadcast, [?S, {ok, <<"to all">>}]),
    ok = erpc:call(C, ?R, peer_send, [?S, B, {ok, <<"to B">>}]),
    ?assertEqual({error, not_a_peer}, erpc:call(A, ?R, peer_send, [?S, node(), x])),
    Got = lists:sort([receive {forwarded, M} -> M after 5000 -> timeout end || _ <- [1, 2]]),
    ?assertEqual(lists:sort([{lattice_repl, peer_message, A, {ok, <<"to all">>}},
                             {lattice_repl, peer_message, C, {ok, <<"to B">>}}]), Got),
    ?C:wait_until(dropped, fun() ->
        maps:get(dropped, maps:get(peer_messages, stats(C))) =:= 1 end),
    ?assertEqual(#{sent => 2, received => 0, dropped => 0},
                 maps:get(peer_messages, stats(A))),
    ?assertEqual(2, maps:get(received, maps:get(peer_messages, stats(B)))),
    exit(Fwd, kill).

forward(To) ->
    receive M -> To ! {forwarded, M}, forward(To) end.

pick(L) -> lists:nth(rand:uniform(length(L)), L).

%%--------------------------------------------------------------------------------------------
%% Intruders: handshakes from this node (it has the cookie) with bad certificates

intruders_test_() ->
    {timeout, 180, fun() -> cluster(2, #{}, true, fun intruders/1) end}.

%% A handshake with Target's replication as the initiator, with Cert and Kx (and the cluster
%% given): what came of it, and, if it got that far, a sealed hello and batch sent.
intrude(Target, Cluster, Cert, Kx) ->
    To = {?R:name(?S), Target},
    {ok, Ch, [M1]} = lattice_channel:initiate(#{cluster => Cluster, static => Kx,
                                                certificate => Cert,
                                                verify => fun lattice_cert:decode/1}),
    To ! {'$lattice_repl', sealed, self(), M1},
    receive
        {'$lattice_repl', sealed, From, M2} ->
            case lattice_channel:handle(Ch, M2) of
                {handshake, [M3], Ch1} ->
                    From ! {'$lattice_repl', sealed, self(), M3},
                    [begin
                         {ok, Out, _} = lattice_channel:encrypt(Ch1, term_to_binary(Msg)),
                         [From ! {'$lattice_repl', sealed, self(), O} || O <- Out]
                     end || Msg <- [{'$lattice_repl', hello, self(), false},
                                    {'$lattice_repl', batch, self(), 1, 1, lattice_hlc:now(),
                                     intruder_batch()}]],
                    sent;
                Other ->
                    {refused_by_us, Other}
            end
    after 2000 ->
            no_answer
    end.

intruder_batch() ->
    {ok, _, Delta} = lattice_gcounter:update({increment, 1000}, <<"intruder">>,
                                             lattice_gcounter:new()),
    lattice_canon:encode([{g_counter, [{intruded, Delta}]}]).

intruders(#{auth := Auth, nodes := [A, B], plain := [Plain]}) ->
    Me = node(),
    %% a revocation list revoking serial 66, on both (A forwards it to B)
    Crl = lattice_cert:revocation_list(Auth, #{cluster => ?CLUSTER, sequence => 1,
                                               issued_at => now_s(), serials => [66]}),
    ok = erpc:call(A, lattice_security, set_revocations, [Crl]),
    ?C:wait_until(forwarded, fun() ->
        erpc:call(B, lattice_security, revocation_sequence, []) =:= 1 end),
    {ok, OtherAuth} = lattice_crypto:keypair(sign),
    Cases = [{expired, #{not_before => 1, not_after => 2}, Auth, ?CLUSTER,
              {bad_certificate, expired}},
             {revoked, #{serial => 66}, Auth, ?CLUSTER, {bad_certificate, revoked}},
             {not_yet, #{not_before => now_s() + 3600, not_after => now_s() + 7200}, Auth,
              ?CLUSTER, {bad_certificate, not_yet_valid}},
             {other_authority, #{}, OtherAuth, ?CLUSTER, {bad_certificate, bad_signature}},
             {other_cluster, #{cluster => <<"other">>}, Auth, <<"other">>, wrong_cluster},
             {other_node, #{node => atom_to_binary(Plain)}, Auth, ?CLUSTER, wrong_peer}],
    lists:foreach(
      fun({What, Over, Issuer, Cluster, Reason}) ->
              Before = refused(A, Reason),
              {Cert, _, Kx} = credentials(Issuer, Me, 50, Over),
              Result = intrude(A, Cluster, Cert, Kx),
              ?C:wait_until({refused, What}, fun() -> refused(A, Reason) > Before end),
              ?assert(Result =:= sent orelse Result =:= no_answer),
              ?assertEqual(1, peers(A))
      end, Cases),
    %% no certificate at all: a payload that is no certificate
    {ok, Kx0} = lattice_crypto:keypair(kx),
    Before0 = refused(A, {bad_certificate, malformed}),
    _ = intrude(A, ?CLUSTER, <<"no certificate">>, Kx0),
    ?C:wait_until(no_certificate, fun() ->
        refused(A, {bad_certificate, malformed}) > Before0 end),
    %% the non-secure node's hello, at its connection, was refused by both
    ?C:wait_until(plain_hello, fun() ->
        refused(A, plaintext_refused) >= 1 andalso refused(B, plaintext_refused) >= 1 end),
    %% plaintext from this node (cookie, no channel): refused
    P0 = refused(A, plaintext_refused),
    {?R:name(?S), A} ! {'$lattice_repl', hello, self(), false},
    {?R:name(?S), A} ! {'$lattice_repl', batch, self(), 1, 1, lattice_hlc:now(),
                        intruder_batch()},
    ?C:wait_until(plaintext, fun() -> refused(A, plaintext_refused) >= P0 + 2 end),
    %% the non-secure node: no replication either way, refusals counted on both sides
    ok = call(Plain, create, [plain_key, pn_counter]),
    ok = call(A, create, [secure_key, pn_counter]),
    {ok, _} = call(Plain, increment, [plain_key, 5]),
    {ok, _} = call(A, increment, [secure_key, 5]),
    ?C:wait_until(plain_refused, fun() ->
        maps:get(sealed_refused, stats(Plain)) >= 2 end),
    timer:sleep(1500),
    ?assertEqual({error, not_found}, call(A, get, [plain_key])),
    ?assertEqual({error, not_found}, call(B, get, [plain_key])),
    ?assertEqual({error, not_found}, call(Plain, get, [secure_key])),
    ?assertEqual({ok, 5}, call(B, get, [secure_key])),
    ?assertEqual(0, peers(Plain)),
    %% nothing of any intruder merged
    [?assertEqual({error, not_found}, call(N, get, [intruded])) || N <- [A, B]],
    [?assertEqual(1, peers(N)) || N <- [A, B]],
    converged([A, B]).

%%--------------------------------------------------------------------------------------------
%% A man in the middle: A's sealed messages to B captured, then replayed, altered, truncated,
%% oversized, or sent in plaintext

mitm_test_() ->
    {timeout, 180, fun() -> cluster(2, #{}, false, fun mitm/1) end}.

mitm(#{nodes := Nodes}) ->
    [A, B] = lists:sort(Nodes),
    ReplA = erpc:call(A, erlang, whereis, [?R:name(?S)]),
    ReplB = erpc:call(B, erlang, whereis, [?R:name(?S)]),
    Self = self(),
    %% a tracer on A gathering A's sealed transport messages to B
    Tracer = erpc:call(A, erlang, spawn, [fun() -> tracer(Self, []) end]),
    1 = erpc:call(A, erlang, trace, [ReplA, true, [send, {tracer, Tracer}]]),
    [ok = call(A, create, [{k, I}, pn_counter]) || I <- lists:seq(1, 20)],
    [begin
         {ok, _} = call(A, increment, [{k, I}, I]),
         ok = erpc:call(A, ?R, flush, [?S])
     end || I <- lists:seq(1, 20)],
    converged([A, B]),
    erpc:call(A, erlang, trace, [ReplA, false, [send]]),
    Tracer ! {give, self()},
    Captured = receive {captured, L} -> L after 5000 -> error(no_capture) end,
    Data = [M || {'$lattice_repl', sealed, _, Bin} = M <- Captured,
                 lattice_channel:message_type(Bin) =:= data],
    ?assert(length(Data) >= 2),
    [First | _] = Data,
    {'$lattice_repl', sealed, ReplA, FirstBin} = First,
    RootB = hd(roots([B])),
    Refused0 = refused(B),
    Forged = [{replay, First},
              {replay, lists:last(Data)},
              %% a counter never used (the window takes it), then the MAC fails
              {bad_mac, setelement(4, First, counter(FirstBin, 500000))},
              {bad_mac, setelement(4, First, flip(counter(FirstBin, 500001), 20))},
              {bad_mac, setelement(4, First, flip(counter(FirstBin, 500002),
                                                  byte_size(FirstBin) - 1))},
              {bad_mac, setelement(4, First, binary:part(counter(FirstBin, 500003), 0,
                                                          byte_size(FirstBin) - 1))},
              {malformed, setelement(4, First, flags(counter(FirstBin, 500004)))},
              {malformed, setelement(4, First, binary:part(FirstBin, 0, 10))},
              {too_large, setelement(4, First, <<4, 0:8, 1:32, 999999:64,
                                                 (binary:copy(<<0>>, 1100000))/binary>>)},
              {plaintext_refused, {'$lattice_repl', batch, ReplA, 1, 1000, lattice_hlc:now(),
                                   intruder_batch()}},
              {plaintext_refused, {'$lattice_repl', ack, ReplA, 1}},
              {plaintext_refused, {'$lattice_repl', hello, ReplA, false}}],
    [ReplB ! M || {_, M} <- Forged],
    %% reordered beyond the window: more than 8192 messages later, the first again
    %% (a term of atoms B knows: a sealed message is decoded with binary_to_term/2 [safe])
    [ok = erpc:call(A, ?R, peer_send, [?S, B, {ok, I}]) || I <- lists:seq(1, 8300)],
    ReplB ! First,
    Want = lists:foldl(fun({R, _}, M) -> M#{R => maps:get(R, M, 0) + 1} end,
                       #{replay => 1}, Forged),
    try
        ?C:wait_until(counted, fun() ->
            Got = maps:map(fun(R, _) -> refused(B, R) - maps:get(R, Refused0, 0) end, Want),
            Got =:= Want orelse false
        end, 10000)
    catch error:{timed_out_waiting_for, _} = E ->
            ?debugFmt("want ~p~nbefore ~p~nafter ~p", [Want, Refused0, refused(B)]),
            error(E)
    end,
    %% counted exactly, by reason, and nothing else refused; nothing changed
    Diff = maps:filter(fun(_, V) -> V =/= 0 end,
                       maps:map(fun(R, V) -> V - maps:get(R, Refused0, 0) end, refused(B))),
    ?assertEqual(Want, Diff),
    ?assertEqual(RootB, hd(roots([B]))),
    ?assertEqual(1, peers(B)),
    %% and the channel still works
    ok = call(A, create, [after_mitm, pn_counter]),
    {ok, _} = call(A, increment, [after_mitm, 3]),
    converged([A, B]),
    ?assertEqual({ok, 3}, call(B, get, [after_mitm])).

%% The transport header: type, flags, epoch:32, counter:64.
counter(<<H:6/binary, _:64, T/binary>>, N) -> <<H/binary, N:64, T/binary>>.

flags(<<T, _, R/binary>>) -> <<T, 16#80, R/binary>>.

flip(Bin, At) ->
    <<H:At/binary, X, T/binary>> = Bin,
    <<H/binary, (X bxor 1), T/binary>>.

tracer(Parent, Acc) ->
    receive
        {trace, _, send, {'$lattice_repl', sealed, _, _} = M, _To} -> tracer(Parent, [M | Acc]);
        {trace, _, send, _, _} -> tracer(Parent, Acc);
        {give, To} -> To ! {captured, lists:reverse(Acc)}
    end.

%%--------------------------------------------------------------------------------------------
%% Revocation at run time

revocation_test_() ->
    {timeout, 180, fun() -> cluster(3, #{}, false, fun revocation/1) end}.

revocation(#{auth := Auth, nodes := Nodes}) ->
    [A, B, C] = lists:sort(Nodes),
    %% serials follow the start order: find C's
    {ok, #{cert := #{serial := SerialC}}} = erpc:call(C, lattice_security, config, []),
    ok = call(A, create, [before, pn_counter]),
    {ok, _} = call(A, increment, [before, 1]),
    converged(Nodes),
    Crl = lattice_cert:revocation_list(Auth, #{cluster => ?CLUSTER, sequence => 5,
                                               issued_at => now_s(), serials => [SerialC]}),
    T0 = erlang:monotonic_time(millisecond),
    ok = erpc:call(B, lattice_security, set_revocations, [Crl]),
    ?C:wait_until(cut_off, fun() -> peers(A) =:= 1 andalso peers(B) =:= 1 end, 5000),
    Took = erlang:monotonic_time(millisecond) - T0,
    ?debugFmt("revoked peer cut off on both nodes in ~b ms", [Took]),
    ?assert(Took < 1000),
    %% B forwarded it: A took it (and C as well)
    ?assertEqual(5, erpc:call(A, lattice_security, revocation_sequence, [])),
    ?assert(refused(A, {bad_certificate, revoked}) >= 1),
    ?assert(refused(B, {bad_certificate, revoked}) >= 1),
    %% an older list does not replace it
    Old = lattice_cert:revocation_list(Auth, #{cluster => ?CLUSTER, sequence => 4,
                                               issued_at => now_s(), serials => []}),
    ?assertEqual({error, {bad_security, stale_revocations}},
                 erpc:call(A, lattice_security, set_revocations, [Old])),
    %% C stays off: its writes reach no one, A's and B's still reach each other
    ok = call(C, create, [from_revoked, pn_counter]),
    {ok, _} = call(C, increment, [from_revoked, 1]),
    ok = call(A, create, [after_revocation, pn_counter]),
    {ok, _} = call(A, increment, [after_revocation, 2]),
    timer:sleep(3000),
    ?assertEqual(1, peers(A)),
    ?assertEqual(1, peers(B)),
    ?assertEqual(0, peers(C)),
    ?assertEqual({error, not_found}, call(A, get, [from_revoked])),
    ?assertEqual({error, not_found}, call(B, get, [from_revoked])),
    converged([A, B]),
    ?assertEqual({ok, 2}, call(B, get, [after_revocation])),
    no_refusals_but(A, [{bad_certificate, revoked}, no_channel, unexpected_message]),
    no_refusals_but(B, [{bad_certificate, revoked}, no_channel, unexpected_message]).

no_refusals_but(Node, Allowed) ->
    ?assertEqual(#{}, maps:without([handshake_timeout | Allowed], refused(Node))).

%%--------------------------------------------------------------------------------------------
%% Rotation under load

rotation_test_() ->
    {timeout, 240, fun() ->
        cluster(2, #{rekey_after_time => 150, rekey_after_messages => 200, grace => 3000},
                false, fun rotation/1)
    end}.

rotation(#{nodes := Nodes}) ->
    [A, B] = lists:sort(Nodes),
    [ok = call(A, create, [{load, W}, pn_counter]) || W <- [1, 2, 3, 4]],
    converged(Nodes),
    Epoch0 = maps:get(B, maps:get(channel_epochs, stats(A))),
    Writers = [spawn_monitor(fun() -> write_load(Node, W, 1500) end)
               || {Node, W} <- [{A, 1}, {B, 2}, {A, 3}, {B, 4}]],
    [receive {'DOWN', Ref, process, _, normal} -> ok after 120000 -> error(writers) end
     || {_, Ref} <- Writers],
    converged(Nodes),
    Epoch1 = maps:get(B, maps:get(channel_epochs, stats(A))),
    ?debugFmt("channel epochs under the load: ~b -> ~b", [Epoch0, Epoch1]),
    ?assert(Epoch1 - Epoch0 >= 5),
    %% every write counted: each writer's counter holds its 1500 increments on both nodes
    [?assertEqual({ok, 1500}, call(N, get, [{load, W}])) || N <- Nodes, W <- [1, 2, 3, 4]],
    [?assertEqual(Epoch1, maps:get(A, maps:get(channel_epochs, stats(B))))
     || _ <- [x]],
    [no_refusals(N) || N <- Nodes],
    ?assert(maps:get(rekeys, maps:get(secure_counts, stats(B))) >= 5).

write_load(Node, W, N) ->
    [begin
         {ok, _} = call(Node, increment, [{load, W}, 1]),
         %% about 3 s of writes: some twenty rekeys at 150 ms
         I rem 10 =:= 0 andalso timer:sleep(20)
     end || I <- lists:seq(1, N)],
    ok.

%%--------------------------------------------------------------------------------------------
%% Forged local events (the adversarial review): messages that only a local process should
%% send, sent instead by this node, which has the cookie and no certificate of the cluster.

forged_test_() ->
    {timeout, 120, fun() -> cluster(2, #{}, false, fun forged/1) end}.

forged(#{nodes := Nodes}) ->
    [A, B] = lists:sort(Nodes),
    ok = call(A, create, [forged_key, pn_counter]),
    {ok, _} = call(A, increment, [forged_key, 1]),
    converged(Nodes),
    %% each part on its own: all of them are reported
    Failed = [{Part, Why} || {Part, F} <- [{keeper_events, fun() -> forged_keeper_events(B) end},
                                           {session_report, fun() -> forged_session_report(A, B) end},
                                           {handshakes, fun() -> forged_handshakes(A) end}],
                             Why <- try F(), [] catch error:W -> [W] end],
    ?assertEqual([], Failed),
    %% and nothing of it stopped replication
    {ok, _} = call(B, increment, [forged_key, 2]),
    converged(Nodes),
    ?assertEqual({ok, 3}, call(A, get, [forged_key])),
    [no_refusals_but(N, [not_connected]) || N <- Nodes].

%% lattice_ae follows the C node of the keeper only: an `up' naming another node would have it
%% feed that node every leaf and peer key; a `down' of its running C node would stop every
%% session until the keeper next restarted it.
forged_keeper_events(B) ->
    %% (asked by this process itself: after its own two messages)
    AeInfo = fun() -> {ok, I} = gen_server:call({lattice_ae, B}, {info, ?S}), I end,
    #{cnode := CNode, incarnation := Inc} = AeInfo(),
    {lattice_ae, B} ! {lattice_cnode, up, node(), Inc + 1},
    {lattice_ae, B} ! {lattice_cnode, down, CNode, forged},
    ?assertMatch(#{cnode := CNode, incarnation := Inc, refused_events := 2}, AeInfo()),
    %% the keeper's own events are still followed: a C node killed and restarted
    OsPid = ?C:cnode_os_pid(B),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ?C:wait_until(restarted, fun() -> maps:get(incarnation, AeInfo()) > Inc end, 30000),
    ?assertMatch(#{cnode := CNode, refused_events := 2}, AeInfo()).

%% A session report to the replication: taken only of a session it started (B, the larger
%% node, starts none with A), so no false difference reaches its subscribers.
forged_session_report(A, B) ->
    Repl = {?R:name(?S), B},
    Ref = gen_server:call(Repl, {subscribe, self()}),
    Before = stats(B),
    Repl ! {lattice_ae, session, ?S, #{node => A, result => ok, role => initiator,
                                       keys => [{lattice_canon:encode(forged_key), local_only}]}},
    receive {lattice_repl, ?S, {diff, A, _}} = E -> error({forged_diff, E}) after 300 -> ok end,
    After = gen_server:call(Repl, stats),
    ?assertEqual(maps:get(ae_keys_differing, Before), maps:get(ae_keys_differing, After)),
    ?assertEqual(1, maps:get(ae_reports_unexpected, After)),
    ok = gen_server:call(Repl, {unsubscribe, Ref}).

%% Message 1 from pids of node names no one is connected as (any sender can write such a
%% pid): refused before any channel state is made, so they cannot pile up.
forged_handshakes(A) ->
    {Cert, _, Kx} = credentials(authority(), node(), 77, #{}),
    {ok, _, [M1]} = lattice_channel:initiate(#{cluster => ?CLUSTER, static => Kx,
                                               certificate => Cert,
                                               verify => fun lattice_cert:decode/1}),
    Repl = {?R:name(?S), A},
    [Repl ! {'$lattice_repl', sealed, fake_pid(I), M1} || I <- lists:seq(1, 50)],
    #{channel_epochs := Chans, secure_refused := Refused} = gen_server:call(Repl, stats),
    ?assertEqual(1, map_size(Chans)),
    ?assertEqual(50, maps:get(not_connected, Refused, 0)).

%% A pid of the node lattice_a_fake<I>@<host> (smaller than the peers: they answer message 1).
fake_pid(I) ->
    Name = iolist_to_binary(["lattice_a_fake", integer_to_list(I), "@", host()]),
    binary_to_term(<<131, 88, 119, (byte_size(Name)), Name/binary, 1:32, 0:32, 1:32>>).

%% A signer's key learned from its certificate counts only while the certificate holds: a
%% vote without one (as anyone can send straight to the checkpoint process) from a signer
%% revoked since is refused.
revoked_signer_test_() ->
    {timeout, 60, fun revoked_signer/0}.

revoked_signer() ->
    Dist = ?C:ensure_distributed(),
    Store = review_store,
    Auth = authority(),
    ok = lattice_security:configure(security_env(Auth, node(), 1, #{})),
    {ok, Cp} = lattice_checkpoint:start_link(Store, #{checkpoint_interval_ms => 60000}),
    try
        {_, XNode} = node_name("lattice_x"),
        XId = atom_to_binary(XNode),
        {XCert, XSign, _} = credentials(Auth, XNode, 5, #{}),
        Scope = lattice_checkpoint:scope(Store),
        E = erlang:system_time(millisecond) div 60000,
        Vote = fun(Ep, D) ->
                       #{signature := Sig} = lattice_quorum:vote(XSign, XId, Scope, Ep, D),
                       <<1, (byte_size(XId)), XId/binary, Ep:64, (byte_size(D)), D/binary,
                         Sig/binary>>
               end,
        Votes = fun() -> maps:get(votes, lattice_checkpoint:info(Store)) end,
        Cp ! {lattice_repl, peer_message, XNode,
              {lattice_checkpoint, vote, Vote(E, <<1:128, 9:64>>), XCert}},
        ?C:wait_until(taken, fun() -> Votes() =:= 1 end, 5000),
        %% before the revocation a vote without its certificate counts (the key is known)
        Cp ! {lattice_repl, peer_message, XNode, {lattice_checkpoint, vote, Vote(E - 1, <<2:128, 9:64>>)}},
        ?C:wait_until(taken, fun() -> Votes() =:= 2 end, 5000),
        Crl = lattice_cert:revocation_list(Auth, #{cluster => ?CLUSTER, sequence => 1,
                                                   issued_at => now_s(), serials => [5]}),
        ok = lattice_security:set_revocations(Crl),
        Cp ! {lattice_repl, peer_message, XNode, {lattice_checkpoint, vote, Vote(E - 2, <<3:128, 9:64>>)}},
        Cp ! {lattice_repl, peer_message, XNode,
              {lattice_checkpoint, vote, Vote(E + 1, <<4:128, 9:64>>), XCert}},
        ?C:wait_until(refused, fun() ->
            maps:get(bad_certificate,
                     maps:get(votes_refused, lattice_checkpoint:stats(Store)), 0) =:= 2
        end, 5000),
        ?assertEqual(2, Votes())
    after
        unlink(Cp),
        exit(Cp, shutdown),
        lattice_security:clear(),
        ?C:release_distribution(Dist)
    end.
