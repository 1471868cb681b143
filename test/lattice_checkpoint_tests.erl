%% Signed convergence checkpoints: the vote bookkeeping (lattice_checkpoint_votes) without
%% nodes, certificate verification, and real peer nodes (lattice_peer_cluster) that converge and
%% certify, keep certifying nothing false under writes, catch an equivocating node, certify
%% nothing with too few signers, and refuse forged or garbage messages.
-module(lattice_checkpoint_tests).
-include_lib("eunit/include/eunit.hrl").

-define(V, lattice_checkpoint_votes).
-define(CP, lattice_checkpoint).
-define(C, lattice_peer_cluster).
-define(S, lattice_store).
-define(SCOPE, <<"lattice.checkpoint.v1", 0, "lattice_store">>).

%%--------------------------------------------------------------------------------------------
%% Bookkeeping, no nodes

keys(N) ->
    [begin
         {ok, K} = lattice_crypto:keypair(sign),
         {list_to_atom("n" ++ integer_to_list(I) ++ "@h"), K}
     end || I <- lists:seq(1, N)].

signers(Keys) -> maps:from_list([{N, {lattice_crypto:public_key(K), 1}} || {N, K} <- Keys]).

set(Keys) ->
    lattice_quorum:new_set([{atom_to_binary(N), lattice_crypto:public_key(K), 1} || {N, K} <- Keys]).

vote({N, K}, E, D) -> vote({N, K}, ?SCOPE, E, D).
vote({N, K}, Scope, E, D) -> lattice_quorum:vote(K, atom_to_binary(N), Scope, E, D).

digest(I) -> <<I:128, 7:64>>.

certifies_at_threshold_test() ->
    [A, B, C] = Keys = keys(3),
    %% 3 equal signers (capped alike: 45 each of 135); level 60 needs 82: two of three
    V0 = ?V:new(?SCOPE, set(Keys), 60),
    ?assertEqual(82, ?V:needed(V0)),
    {ok, [], V1} = ?V:add_vote(vote(A, 10, digest(1)), 10, V0),
    ?assertEqual(none, ?V:latest(V1)),
    {duplicate, [], V1} = ?V:add_vote(vote(A, 10, digest(1)), 10, V1),
    %% another digest from B: no certificate
    {ok, [], V2} = ?V:add_vote(vote(B, 10, digest(2)), 10, V1),
    ?assertEqual(none, ?V:certificate(10, V2)),
    %% C agrees with A: certified, once
    {ok, [{10, D1}], V3} = ?V:add_vote(vote(C, 10, digest(1)), 10, V2),
    ?assertEqual(digest(1), D1),
    {ok, #{epoch := 10, digest := D1, signers := Signers, certificate := Bin, weight := 90}} =
        ?V:latest(V3),
    ?assertEqual(lists:sort([atom_to_binary(element(1, X)) || X <- [A, C]]), Signers),
    ?assertEqual(ok, ?CP:verify(Bin, #{signers => signers(Keys), level => 60})),
    %% the same certificate fails the higher levels: 90 of 135 is 66.7 %
    ?assertMatch({error, {insufficient_weight, 90, 91}},
                 ?CP:verify(Bin, #{signers => signers(Keys), level => normal})),
    ?assertEqual([10], ?V:certified_epochs(V3)),
    ?assertEqual(3, ?V:vote_count(V3)).

level_high_needs_everyone_of_three_test() ->
    [A, B, C] = Keys = keys(3),
    V0 = ?V:new(?SCOPE, set(Keys), high),
    {ok, [], V1} = ?V:add_vote(vote(A, 5, digest(1)), 5, V0),
    {ok, [], V2} = ?V:add_vote(vote(B, 5, digest(1)), 5, V1),
    ?assertEqual(none, ?V:latest(V2)),
    {ok, [{5, _}], V3} = ?V:add_vote(vote(C, 5, digest(1)), 5, V2),
    {ok, #{certificate := Bin}} = ?V:latest(V3),
    ?assertEqual(ok, ?CP:verify(Bin, #{signers => signers(Keys), level => high})).

more_signers_rebuild_without_a_new_event_test() ->
    [A, B, C] = Keys = keys(3),
    V0 = ?V:new(?SCOPE, set(Keys), 60),
    {ok, [], V1} = ?V:add_vote(vote(A, 3, digest(1)), 3, V0),
    {ok, [{3, _}], V2} = ?V:add_vote(vote(B, 3, digest(1)), 3, V1),
    {ok, [], V3} = ?V:add_vote(vote(C, 3, digest(1)), 3, V2),
    {ok, #{signers := S, weight := 135}} = ?V:latest(V3),
    ?assertEqual(3, length(S)).

refusals_test() ->
    [A, B, _] = Keys = keys(3),
    [{_, StrangerKey}] = keys(1),
    Stranger = {'stranger@h', StrangerKey},
    V0 = ?V:new(?SCOPE, set(Keys), normal, #{keep => 4}),
    %% the window is [Current - 3, Current + 1]
    ?assertMatch({{error, stale_epoch}, [], _}, ?V:add_vote(vote(A, 96, digest(1)), 100, V0)),
    ?assertMatch({ok, [], _}, ?V:add_vote(vote(A, 97, digest(1)), 100, V0)),
    ?assertMatch({ok, [], _}, ?V:add_vote(vote(A, 101, digest(1)), 100, V0)),
    ?assertMatch({{error, future_epoch}, [], _}, ?V:add_vote(vote(A, 102, digest(1)), 100, V0)),
    ?assertMatch({{error, wrong_scope}, [], _},
                 ?V:add_vote(vote(A, <<"other">>, 100, digest(1)), 100, V0)),
    %% a signer the set does not have; then one named like a member, with another key
    ?assertMatch({{error, unknown_signer}, [], _},
                 ?V:add_vote(vote(Stranger, 100, digest(1)), 100, V0)),
    Forged = (vote({element(1, A), element(2, Stranger)}, 100, digest(1))),
    ?assertMatch({{error, bad_signature}, [], _}, ?V:add_vote(Forged, 100, V0)),
    %% B's signature moved onto A's statement
    #{signature := SigB} = vote(B, 100, digest(1)),
    ?assertMatch({{error, bad_signature}, [], _},
                 ?V:add_vote((vote(A, 100, digest(1)))#{signature := SigB}, 100, V0)),
    %% nothing refused is kept
    ?assertEqual(0, ?V:vote_count(V0)),
    ?assertError(badarg, ?V:new(?SCOPE, set(Keys), 49)),
    ?assertError(badarg, ?V:new(?SCOPE, set(Keys), normal, #{keep => 0})),
    ?assertError(badarg, ?V:new(?SCOPE, set(Keys), normal, #{nope => 1})).

max_votes_test() ->
    [A, B, C] = Keys = keys(3),
    V0 = ?V:new(?SCOPE, set(Keys), normal, #{max_votes => 2}),
    {ok, [], V1} = ?V:add_vote(vote(A, 1, digest(1)), 1, V0),
    {ok, [], V2} = ?V:add_vote(vote(B, 1, digest(2)), 1, V1),
    ?assertMatch({{error, full}, [], _}, ?V:add_vote(vote(C, 1, digest(1)), 1, V2)),
    %% a duplicate is no new vote: not refused for the cap
    ?assertMatch({duplicate, [], _}, ?V:add_vote(vote(A, 1, digest(1)), 1, V2)),
    %% pruning frees room
    V3 = ?V:advance(10, V2),
    ?assertEqual(0, ?V:vote_count(V3)),
    ?assertMatch({ok, [], _}, ?V:add_vote(vote(C, 10, digest(1)), 10, V3)).

equivocation_is_caught_and_not_counted_test() ->
    [A, B, C] = Keys = keys(3),
    Set = set(Keys),
    V0 = ?V:new(?SCOPE, Set, 60),
    {ok, [], V1} = ?V:add_vote(vote(A, 7, digest(1)), 7, V0),
    {ok, [{7, _}], V2} = ?V:add_vote(vote(B, 7, digest(1)), 7, V1),
    %% A signs another digest for epoch 7: caught; A no longer counts, and B alone is too little
    {{equivocation, IdA, Ev}, [], V3} = ?V:add_vote(vote(A, 7, digest(9)), 7, V2),
    ?assertEqual(atom_to_binary(element(1, A)), IdA),
    ?assertMatch({ok, #{signer := IdA, scope := ?SCOPE, sequence := 7}},
                 lattice_quorum:verify_evidence(Ev, Set)),
    ?assertEqual(none, ?V:certificate(7, V3)),
    ?assertEqual(none, ?V:latest(V3)),
    ?assertEqual([IdA], ?V:equivocators(7, V3)),
    ?assertEqual(#{{IdA, 7} => Ev}, ?V:evidence(V3)),
    %% A's votes for 7 are ignored from now on, whatever the digest
    ?assertMatch({marked, [], _}, ?V:add_vote(vote(A, 7, digest(1)), 7, V3)),
    ?assertMatch({marked, [], _}, ?V:add_vote(vote(A, 7, digest(5)), 7, V3)),
    %% C agrees with B: certified by B and C only
    {ok, [{7, _}], V4} = ?V:add_vote(vote(C, 7, digest(1)), 7, V3),
    {ok, #{signers := S, certificate := Bin}} = ?V:certificate(7, V4),
    ?assertEqual(lists:sort([atom_to_binary(element(1, X)) || X <- [B, C]]), S),
    ?assertEqual(ok, ?CP:verify(Bin, #{signers => signers(Keys), level => 60})),
    %% A is honest again in epoch 8
    {ok, [], _} = ?V:add_vote(vote(A, 8, digest(1)), 8, V4).

evidence_from_elsewhere_test() ->
    [A, B, C] = Keys = keys(3),
    Set = set(Keys),
    %% one node sees both of A's votes and makes the evidence
    Here0 = ?V:new(?SCOPE, Set, 60),
    {ok, [], Here1} = ?V:add_vote(vote(A, 4, digest(1)), 4, Here0),
    {{equivocation, _, Ev}, [], _} = ?V:add_vote(vote(A, 4, digest(2)), 4, Here1),
    %% another saw only A's first vote, with C's: certified by A and C
    There0 = ?V:new(?SCOPE, Set, 60),
    {ok, [], There1} = ?V:add_vote(vote(A, 4, digest(1)), 4, There0),
    {ok, [{4, _}], There2} = ?V:add_vote(vote(C, 4, digest(1)), 4, There1),
    %% the evidence arrives: A is marked, the certificate withdrawn
    {{new, IdA, 4}, [], There3} = ?V:add_evidence(Ev, 4, There2),
    ?assertEqual(atom_to_binary(element(1, A)), IdA),
    ?assertEqual(none, ?V:certificate(4, There3)),
    {known, [], There3} = ?V:add_evidence(Ev, 4, There3),
    %% B's vote brings it back, without A
    {ok, [{4, _}], There4} = ?V:add_vote(vote(B, 4, digest(1)), 4, There3),
    {ok, #{signers := S}} = ?V:certificate(4, There4),
    ?assertNot(lists:member(IdA, S)),
    %% garbage and evidence of another set refused
    ?assertMatch({{error, malformed}, [], _}, ?V:add_evidence(<<"junk">>, 4, There4)),
    Other = keys(3),
    OtherSet = set(Other),
    O0 = ?V:new(?SCOPE, OtherSet, 60),
    {ok, [], O1} = ?V:add_vote(vote(hd(Other), 4, digest(1)), 4, O0),
    {{equivocation, _, OtherEv}, [], _} = ?V:add_vote(vote(hd(Other), 4, digest(2)), 4, O1),
    %% (the same names with other keys)
    ?assertMatch({{error, wrong_key}, [], _}, ?V:add_evidence(OtherEv, 4, There4)),
    %% evidence of another scope (another store) is not this store's
    S0 = ?V:new(<<"another scope">>, Set, 60),
    {ok, [], S1} = ?V:add_vote(vote(B, <<"another scope">>, 4, digest(1)), 4, S0),
    {{equivocation, _, ScopeEv}, [], _} =
        ?V:add_vote(vote(B, <<"another scope">>, 4, digest(2)), 4, S1),
    ?assertMatch({{error, wrong_scope}, [], _}, ?V:add_evidence(ScopeEv, 4, There4)).

pruning_keeps_the_latest_test() ->
    [A, B, _] = Keys = keys(3),
    V0 = ?V:new(?SCOPE, set(Keys), 60, #{keep => 2}),
    {ok, [], V1} = ?V:add_vote(vote(A, 1, digest(1)), 1, V0),
    {ok, [{1, _}], V2} = ?V:add_vote(vote(B, 1, digest(1)), 1, V1),
    {ok, [], V3} = ?V:add_vote(vote(A, 2, digest(2)), 2, V2),
    V4 = ?V:advance(5, V3),
    ?assertEqual(0, ?V:vote_count(V4)),
    ?assertEqual([], ?V:certified_epochs(V4)),
    ?assertEqual(none, ?V:certificate(1, V4)),
    ?assertMatch({ok, #{epoch := 1, digest := <<1:128, 7:64>>}}, ?V:latest(V4)),
    %% a newer certificate replaces it
    {ok, [], V5} = ?V:add_vote(vote(A, 5, digest(3)), 5, V4),
    {ok, [{5, _}], V6} = ?V:add_vote(vote(B, 5, digest(3)), 5, V5),
    ?assertMatch({ok, #{epoch := 5}}, ?V:latest(V6)),
    ?assertMatch({ok, #{epoch := 5}}, ?V:latest(?V:advance(20, V6))).

%% Random votes of five signers over a few epochs and digests, some equivocating: every
%% certificate verifies, is of one digest per epoch, names no signer caught for that epoch, and
%% every signer it names voted that digest first.
random_streams_test() ->
    rand:seed(exsss, {1, 2, 3}),
    Keys = keys(5),
    Signers = signers(Keys),
    Certified = lists:sum([random_stream(Keys, Signers) || _ <- lists:seq(1, 40)]),
    %% not vacuous: some epochs were certified, and not all
    ?assert(Certified > 10),
    ?assert(Certified < 40 * 3).

random_stream(Keys, Signers) ->
    V0 = ?V:new(?SCOPE, set(Keys), normal),
    %% mostly one digest, sometimes another: some signers equivocate
    Votes = [{lists:nth(rand:uniform(5), Keys), rand:uniform(3),
              case rand:uniform(10) of 1 -> 2; _ -> 1 end}
             || _ <- lists:seq(1, 30)],
    {V, First} = lists:foldl(
        fun({K, E, D}, {Acc, Firsts}) ->
            {_, _, Acc1} = ?V:add_vote(vote(K, E, digest(D)), 3, Acc),
            Id = atom_to_binary(element(1, K)),
            {Acc1, maps:merge(#{{Id, E} => digest(D)}, Firsts)}
        end, {V0, #{}}, Votes),
    lists:foreach(
        fun(E) ->
            {ok, #{digest := D, signers := S, certificate := Bin}} = ?V:certificate(E, V),
            ?assertEqual(ok, ?CP:verify(Bin, #{signers => Signers})),
            ?assertEqual([], [Id || Id <- S, lists:member(Id, ?V:equivocators(E, V))]),
            ?assertEqual([], [Id || Id <- S, maps:get({Id, E}, First) =/= D])
        end, ?V:certified_epochs(V)),
    length(?V:certified_epochs(V)).

%%--------------------------------------------------------------------------------------------
%% Verification, no nodes

verify_test() ->
    [A, B, C] = Keys = keys(3),
    V0 = ?V:new(?SCOPE, set(Keys), high),
    V = lists:foldl(fun(K, Acc) -> element(3, ?V:add_vote(vote(K, 9, digest(4)), 9, Acc)) end,
                    V0, [A, B, C]),
    {ok, #{certificate := Bin}} = ?V:latest(V),
    Spec = #{signers => signers(Keys), level => high},
    ?assertEqual(ok, ?CP:verify(Bin, Spec)),
    {ok, Dec} = ?CP:decode(Bin),
    ?assertMatch(#{store := lattice_store, epoch := 9, digest := <<4:128, 7:64>>,
                   root := #{hash := <<4:128>>, count := 7}}, Dec),
    ?assertEqual(lists:sort([N || {N, _} <- Keys]), lists:sort(maps:get(signers, Dec))),
    ?assertEqual(ok, ?CP:verify(Dec, Spec)),
    ?assertEqual(ok, ?CP:verify(Dec, Spec#{store => lattice_store})),
    ?assertEqual({error, {wrong_store, lattice_store}}, ?CP:verify(Dec, Spec#{store => other})),
    %% a map whose fields are not its binary's
    ?assertEqual({error, mismatch}, ?CP:verify(Dec#{epoch := 10}, Spec)),
    ?assertEqual({error, mismatch}, ?CP:verify(Dec#{digest := <<5:128, 7:64>>}, Spec)),
    %% every byte of the certificate changed: refused
    Bad = [I || I <- lists:seq(0, byte_size(Bin) - 1),
                ?CP:verify(flip(Bin, I), Spec) =:= ok],
    ?assertEqual([], Bad),
    ?assertEqual({error, malformed}, ?CP:verify(<<"junk">>, Spec)),
    %% signers of another cluster, named alike
    ?assertMatch({error, {bad_signature, _}}, ?CP:verify(Bin, #{signers => signers(keys(3))})),
    %% a quorum certificate of another scope is not a checkpoint
    {ok, Other} = lattice_quorum:certificate(<<"shard-1">>, 9, digest(4),
                                            [vote(K, <<"shard-1">>, 9, digest(4)) || K <- Keys]),
    ?assertEqual({error, not_a_checkpoint}, ?CP:verify(Other, Spec)),
    %% with the authority's key and the nodes' certificates
    {ok, Auth} = lattice_crypto:keypair(sign),
    {ok, Kx} = lattice_crypto:keypair(kx),
    Now = erlang:system_time(second),
    Certs = [lattice_cert:issue(Auth, #{cluster => <<"c">>, node => atom_to_binary(N),
                                        sign_pub => lattice_crypto:public_key(K),
                                        kx_pub => lattice_crypto:public_key(Kx),
                                        not_before => Now - 10, not_after => Now + 3600,
                                        serial => I})
             || {I, {N, K}} <- lists:zip(lists:seq(1, 3), Keys)],
    AuthPub = lattice_crypto:public_key(Auth),
    ASpec = #{authority => AuthPub, certificates => Certs, level => high},
    ?assertEqual(ok, ?CP:verify(Bin, ASpec)),
    %% two certificates only: the third signer is unknown
    ?assertMatch({error, {unknown_signer, _}}, ?CP:verify(Bin, ASpec#{certificates => tl(Certs)})),
    %% a revoked node certificate
    Crl = lattice_cert:revocation_list(Auth, #{cluster => <<"c">>, sequence => 1,
                                              issued_at => Now, serials => [2]}),
    {N2, _} = lists:nth(2, Keys),
    ?assertEqual({error, {bad_certificate, N2, revoked}},
                 ?CP:verify(Bin, ASpec#{revocations => Crl})),
    %% another authority
    {ok, Auth2} = lattice_crypto:keypair(sign),
    ?assertMatch({error, {bad_certificate, _, bad_signature}},
                 ?CP:verify(Bin, ASpec#{authority => lattice_crypto:public_key(Auth2)})),
    %% weights: A dominant, capped at 15 % of the raw total; all three still pass
    ?assertEqual(ok, ?CP:verify(Bin, ASpec#{weights => #{element(1, A) => 10}})).

flip(Bin, I) ->
    <<P:I/binary, X, R/binary>> = Bin,
    <<P/binary, (X bxor 16#01), R/binary>>.

options_test() ->
    [{N, K}] = keys(1),
    Ok = #{signers => #{N => {lattice_crypto:public_key(K), 1}}},
    ?assertMatch(#{checkpoint_interval_ms := 10000, level := normal}, ?CP:options(Ok)),
    %% without signers: the open set of certificate holders; `true' is the defaults
    ?assertEqual(?CP:options(#{}), ?CP:options(true)),
    ?assertNot(is_map_key(signers, ?CP:options(#{}))),
    ?assertMatch(#{signers := [N]}, ?CP:options(#{signers => [N]})),
    ?assertMatch(#{signers := #{N := 3}}, ?CP:options(#{signers => #{N => 3}})),
    ?assertError(badarg, ?CP:options(#{signers => [N, N]})),
    ?assertError(badarg, ?CP:options(#{signers => []})),
    ?assertError(badarg, ?CP:options(#{signers => #{N => 0}})),
    %% keys named for all or none
    ?assertError(badarg, ?CP:options(#{signers => #{N => {lattice_crypto:public_key(K), 1},
                                                    'other@h' => 1}})),
    ?assertError(badarg, ?CP:options(Ok#{level => 40})),
    ?assertError(badarg, ?CP:options(Ok#{checkpoint_interval_ms => 0})),
    ?assertError(badarg, ?CP:options(Ok#{nope => 1})),
    ?assertError(badarg, ?CP:options(Ok#{key => {seed, <<1, 2>>}})),
    ?assertError(badarg, ?CP:options(#{signers => #{N => {<<1>>, 1}}})),
    ?assertError(badarg, ?CP:options(#{signers => #{N => {lattice_crypto:public_key(K), 0}}})),
    ?assertEqual(<<"lattice.checkpoint.v1", 0, "s">>, ?CP:scope(s)),
    ?assertError(badarg, ?CP:scope(list_to_atom(lists:duplicate(250, $x)))).

%%--------------------------------------------------------------------------------------------
%% Real nodes

-define(INTERVAL, 1000).

%% Three peers named in advance (the signers' map names them), each with its own Ed25519 seed,
%% the default store replicated with checkpoints every ?INTERVAL ms at `Level'.
cluster(Level, Fun) ->
    _ = application:stop(lattice),
    Dist = ?C:ensure_distributed(),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Tag = integer_to_list(erlang:unique_integer([positive])),
    Names = [list_to_atom("lattice_cp_" ++ os:getpid() ++ "_" ++ Tag ++ "_" ++ [$a + I])
             || I <- lists:seq(0, 2)],
    Seeds = [{list_to_atom(atom_to_list(Nm) ++ "@" ++ Host), crypto:strong_rand_bytes(32)}
             || Nm <- Names],
    Signers = maps:from_list([{N, {pub(Seed), 1}} || {N, Seed} <- Seeds]),
    Peers = [begin
                 Env = #{store => [{replication, #{ae_interval_ms => 1000}},
                                   {checkpoints, #{checkpoint_interval_ms => ?INTERVAL,
                                                   signers => Signers, key => {seed, Seed},
                                                   level => Level, keep_epochs => 8,
                                                   allow_test_equivocation => true}}]},
                 {_, Node} = P = ?C:start_named(Nm, Env),
                 Node = N,
                 P
             end || {Nm, {N, Seed}} <- lists:zip(Names, Seeds)],
    Nodes = [N || {_, N} <- Peers],
    try
        [?C:wait_cnode(N) || N <- Nodes],
        [true = erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
        ?C:wait_until(peers, fun() ->
            lists:all(fun(N) -> maps:get(peers, erpc:call(N, lattice_repl, stats, [?S])) =:= 2
                      end, Nodes)
        end),
        Fun(Nodes, Peers, Signers)
    after
        ?C:stop(Peers),
        ?C:release_distribution(Dist)
    end.

pub(Seed) ->
    {ok, K} = lattice_crypto:from_seed(sign, Seed),
    lattice_crypto:public_key(K).

epoch_now() -> erlang:system_time(millisecond) div ?INTERVAL.

root(Node) ->
    ok = erpc:call(Node, lattice_repl, flush, [?S]),
    {ok, #{hash := H, count := C}} = erpc:call(Node, lattice_ae, flush, [?S]),
    <<H/binary, C:64>>.

converged(Nodes) ->
    ?C:wait_until(converged, fun() ->
        case lists:usort([root(N) || N <- Nodes]) of
            [R] -> R;
            _ -> false
        end
    end, 30000).

latest(Node) -> erpc:call(Node, ?S, checkpoint, [?S]).

%% Forwards Node's replication events to the caller as {event, Node, Event}.
events(Node) ->
    Self = self(),
    Pid = erpc:call(Node, erlang, spawn, [fun() ->
        _ = lattice_repl:subscribe(lattice_store),
        Self ! {subscribed, self()},
        Loop = fun L() -> receive {lattice_repl, _, E} -> Self ! {event, node(), E}, L()
                          after 120000 -> ok end end,
        Loop()
    end]),
    receive {subscribed, Pid} -> ok after 5000 -> error(no_subscription) end.

wait_event(Node, Pred) ->
    receive
        {event, Node, E} ->
            case Pred(E) of
                true -> E;
                false -> wait_event(Node, Pred)
            end
    after 20000 ->
        error({no_event, Node})
    end.

nodes_test_() ->
    {timeout, 300, fun() ->
        cluster(60, fun(Nodes, _Peers, Signers) ->
            [events(N) || N <- Nodes],
            quiet_cluster_certifies(Nodes, Signers),
            no_false_certificate_under_writes(Nodes, Signers),
            equivocation_is_caught_everywhere(Nodes, Signers),
            forged_messages_refused(Nodes, Signers)
        end)
    end}.

%% Writes stop, the nodes converge: a certificate appears on every node, of the same digest,
%% equal to their root, verifiable, reported as an event.
quiet_cluster_certifies([N1 | _] = Nodes, Signers) ->
    [ok = erpc:call(N1, ?S, create, [?S, {c, I}, pn_counter]) || I <- lists:seq(1, 50)],
    [{ok, _} = erpc:call(N1, ?S, increment, [?S, {c, I}, I]) || I <- lists:seq(1, 50)],
    Root = converged(Nodes),
    After = epoch_now(),
    Certs = [?C:wait_until({certified, N}, fun() ->
                 case latest(N) of
                     {ok, #{epoch := E, signers := S} = C} when E > After, length(S) =:= 3 -> C;
                     _ -> false
                 end
             end) || N <- Nodes],
    %% the root has not moved (no writes)
    Root = converged(Nodes),
    [?assertMatch(#{digest := Root, store := ?S, root := #{count := 50}}, C) || C <- Certs],
    [?assertEqual(lists:sort(Nodes), lists:sort(maps:get(signers, C))) || C <- Certs],
    [?assertEqual(ok, ?CP:verify(C, #{signers => Signers, level => 60})) || C <- Certs],
    [?assertEqual(ok, ?CP:verify(maps:get(certificate, C), #{signers => Signers, level => high}))
     || C <- Certs],
    %% every node reported a checkpoint of that digest
    [wait_event(N, fun({checkpoint, _, D}) -> D =:= Root; (_) -> false end) || N <- Nodes],
    [?assert(maps:get(checkpoints, erpc:call(N, ?CP, stats, [?S])) >= 1) || N <- Nodes],
    %% and lattice_store:stats/1 carries the counters
    ?assertMatch(#{checkpoints := #{epochs_signed := _}}, erpc:call(N1, ?S, stats, [?S])),
    ok.

%% Writes on every node for a few seconds: digests may differ between nodes; every certificate
%% any node holds verifies, and every signer it names signed exactly that digest for that
%% epoch (its own record of what it signed). No two nodes certify different digests.
no_false_certificate_under_writes(Nodes, Signers) ->
    Start = epoch_now(),
    Writers = [spawn_link(fun() -> erpc:call(N, fun() -> write_for(4000) end) end)
               || N <- Nodes],
    {Own, Certs} = watch(Nodes, erlang:monotonic_time(millisecond) + 5000, #{}, #{}),
    [begin unlink(W), exit(W, kill) end || W <- Writers],
    Epochs = lists:usort([E || {_, E} <- maps:keys(Certs)]),
    lists:foreach(fun({{_Node, E}, #{digest := D, signers := S} = C}) ->
        ?assertEqual(ok, ?CP:verify(C, #{signers => Signers, level => 60})),
        [?assertEqual({Signer, E, D}, {Signer, E, maps:get({Signer, E}, Own)}) || Signer <- S]
    end, maps:to_list(Certs)),
    [?assertEqual(1, length(lists:usort([maps:get(digest, C)
                                         || {{_, E2}, C} <- maps:to_list(Certs), E2 =:= E])))
     || E <- Epochs],
    %% every node signed through it
    [?assert(length([E || {N2, E} <- maps:keys(Own), N2 =:= N, E > Start]) >= 3) || N <- Nodes],
    Differing = [E || E <- lists:usort([E || {_, E} <- maps:keys(Own)]),
                      length(lists:usort([D || {{_, E2}, D} <- maps:to_list(Own), E2 =:= E])) > 1],
    ?debugFmt("under writes: ~p epochs signed with differing digests, ~p certified",
              [length(Differing), length(Epochs)]),
    ok.

write_for(Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    Loop = fun L(I) ->
        case erlang:monotonic_time(millisecond) > Deadline of
            true -> ok;
            false ->
                {ok, _} = lattice_store:increment(lattice_store, {c, 1 + I rem 50}),
                timer:sleep(1),
                L(I + 1)
        end
    end,
    Loop(0).

%% What every node signed and certified, polled until Deadline (the kept epochs move on).
watch(Nodes, Deadline, Own, Certs) ->
    {Own1, Certs1} = lists:foldl(fun(N, {O, C}) ->
        #{own := Mine, certified := Es} = erpc:call(N, ?CP, info, [?S]),
        O1 = maps:fold(fun(E, D, Acc) -> Acc#{{N, E} => D} end, O, Mine),
        C1 = lists:foldl(fun(E, Acc) ->
                             case erpc:call(N, ?CP, certificate, [?S, E]) of
                                 {ok, Cert} -> Acc#{{N, E} => Cert};
                                 {error, none} -> Acc
                             end
                         end, C, Es),
        {O1, C1}
    end, {Own, Certs}, Nodes),
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> {Own1, Certs1};
        false -> timer:sleep(300), watch(Nodes, Deadline, Own1, Certs1)
    end.

%% N1 signs a second digest for an epoch it signed: every node reports the equivocation with
%% evidence that verifies; N1's votes for that epoch count nowhere, and the two honest nodes
%% (enough at level 60) certify it without N1.
equivocation_is_caught_everywhere([N1, N2, N3] = Nodes, Signers) ->
    Root = converged(Nodes),
    %% a certified, quiet epoch signed by everyone first
    ?C:wait_until(quiet, fun() ->
        case latest(N1) of
            {ok, #{digest := Root, signers := S}} -> length(S) =:= 3;
            _ -> false
        end
    end),
    _ = flush_events(),
    Fake = <<0:128, 12345:64>>,
    {ok, E} = erpc:call(N1, ?CP, equivocate_for_test, [?S, Fake]),
    ?assertEqual({error, same_digest},
                 erpc:call(N1, ?CP, equivocate_for_test, [?S, maps:get(E, own(N1))])),
    Set = lattice_quorum:new_set([{atom_to_binary(N), P, W} || {N, {P, W}} <- maps:to_list(Signers)]),
    Id1 = atom_to_binary(N1),
    [begin
         {equivocation, N1, Ev} =
             wait_event(N, fun({equivocation, _, _}) -> true; (_) -> false end),
         ?assertMatch({ok, #{signer := Id1, sequence := E}},
                      lattice_quorum:verify_evidence(Ev, Set)),
         {ok, #{digests := Ds}} = lattice_quorum:verify_evidence(Ev, Set),
         ?assert(lists:member(Fake, Ds)),
         ?assert(lists:member({Id1, E}, maps:get(evidence, erpc:call(N, ?CP, info, [?S]))))
     end || N <- Nodes],
    %% the epoch's certificate, everywhere, is N2's and N3's
    [?C:wait_until({without_n1, N}, fun() ->
         case erpc:call(N, ?CP, certificate, [?S, E]) of
             {ok, #{signers := S} = C} ->
                 ?assertEqual(ok, ?CP:verify(C, #{signers => Signers, level => 60})),
                 lists:sort(S) =:= lists:sort([N2, N3]);
             _ -> false
         end
     end) || N <- Nodes],
    %% an honest node caught it itself (it saw both votes; the other may have had the
    %% evidence first); N1 learnt it back
    ?assert(lists:sum([maps:get(equivocations, erpc:call(N, ?CP, stats, [?S]))
                       || N <- [N2, N3]]) >= 1),
    [?assert(maps:get(evidence_new, erpc:call(N, ?CP, stats, [?S])) >= 1) || N <- Nodes],
    %% the hook is refused where it is not allowed: not a signer's normal path
    ok.

own(N) -> maps:get(own, erpc:call(N, ?CP, info, [?S])).

flush_events() ->
    receive {event, _, _} -> flush_events() after 0 -> ok end.

%% Forged and garbage messages, sent from a peer's replication process (a peer on the cluster
%% that is hostile): refused, counted, and the certificates are unchanged.
forged_messages_refused([N1, N2, N3] = Nodes, Signers) ->
    Root = converged(Nodes),
    Before = erpc:call(N2, ?CP, stats, [?S]),
    E = epoch_now(),
    {ok, Stranger} = lattice_crypto:keypair(sign),
    Wire = fun(Id, Ep, D, Sig) ->
                   <<1, (byte_size(Id)), Id/binary, Ep:64, (byte_size(D)), D/binary, Sig/binary>>
           end,
    Id1 = atom_to_binary(N1),
    Sign = fun(Key, Id, Ep, D) ->
                   maps:get(signature, lattice_quorum:vote(Key, Id, ?SCOPE, Ep, D))
           end,
    Msgs = [
        {lattice_checkpoint, vote, <<"garbage">>},                              % malformed
        {lattice_checkpoint, vote, binary:copy(<<1>>, 1000)},                   % too large
        {lattice_checkpoint, vote, not_a_binary},                               % malformed
        {lattice_checkpoint, vote, Wire(Id1, E, Root, <<0:512>>)},              % bad signature
        {lattice_checkpoint, vote, Wire(Id1, E, <<1:192>>, Sign(Stranger, Id1, E, <<1:192>>))},
        {lattice_checkpoint, vote, Wire(<<"intruder@nowhere">>, E, Root,
                                        Sign(Stranger, <<"intruder@nowhere">>, E, Root))},
        {lattice_checkpoint, vote, Wire(Id1, E + 100, Root, <<0:512>>)},        % future
        {lattice_checkpoint, evidence, <<"junk">>},
        {lattice_checkpoint, evidence, binary:copy(<<0>>, 5000)},
        {something, else},
        junk
    ],
    [ok = erpc:call(N1, lattice_repl, broadcast, [?S, M]) || M <- Msgs],
    After = ?C:wait_until(counted, fun() ->
        S = erpc:call(N2, ?CP, stats, [?S]),
        Refused = maps:get(votes_refused, S),
        case maps:get(malformed, Refused, 0) - maps:get(malformed, maps:get(votes_refused, Before), 0)
             >= 3 andalso maps:get(bad_signature, Refused, 0) >= 2 of
            true -> S;
            false -> false
        end
    end),
    R = maps:get(votes_refused, After),
    RB = maps:get(votes_refused, Before),
    D = fun(K) -> maps:get(K, R, 0) - maps:get(K, RB, 0) end,
    ?assertEqual(3, D(malformed)),
    ?assertEqual(2, D(bad_signature)),
    ?assertEqual(1, D(unknown_signer)),
    ?assertEqual(1, D(future_epoch)),
    EvR = maps:get(evidence_refused, After),
    EvRB = maps:get(evidence_refused, Before),
    ?assertEqual(2, maps:get(malformed, EvR, 0) - maps:get(malformed, EvRB, 0)),
    ?assertEqual(2, maps:get(malformed, After) - maps:get(malformed, Before)),
    %% nothing false certified: every certificate on N2 and N3 still verifies and is of Root
    [?C:wait_until({still_certified, N}, fun() ->
         case latest(N) of
             {ok, #{digest := Root, epoch := Ep} = C} when Ep > E ->
                 ok =:= ?CP:verify(C, #{signers => Signers, level => 60});
             _ -> false
         end
     end) || N <- [N2, N3]],
    ok.

%% Level high with three signers needs all three: one node down, no certificate for any epoch
%% after it went, though the other two keep signing.
too_few_signers_test_() ->
    {timeout, 300, fun() ->
        cluster(high, fun([N1, N2, N3] = Nodes, Peers, _Signers) ->
            converged(Nodes),
            ?C:wait_until(certified, fun() ->
                case latest(N1) of
                    {ok, #{signers := S}} -> length(S) =:= 3;
                    _ -> false
                end
            end),
            ?C:stop_one(lists:keyfind(N3, 2, Peers)),
            Gone = epoch_now() + 1,
            ?C:wait_until(signing_on, fun() ->
                lists:all(fun(N) -> lists:max(maps:keys(own(N))) >= Gone + 3 end, [N1, N2])
            end),
            [begin
                 #{certified := Es, own := Own} = erpc:call(N, ?CP, info, [?S]),
                 ?assertEqual([], [Ep || Ep <- Es, Ep > Gone]),
                 {ok, #{epoch := Last}} = latest(N),
                 ?assert(Last =< Gone),
                 %% the two agreed (no writes): not certified for want of weight alone
                 [?assertEqual(maps:get(Ep, Own), maps:get(Ep, own(N1)))
                  || Ep <- maps:keys(Own), Ep > Gone, is_map_key(Ep, own(N1))]
             end || N <- [N1, N2]]
        end)
    end}.
