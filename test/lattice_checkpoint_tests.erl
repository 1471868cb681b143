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
    ?assertError(badarg, ?CP:options(#{})),
    ?assertError(badarg, ?CP:options(Ok#{level => 40})),
    ?assertError(badarg, ?CP:options(Ok#{checkpoint_interval_ms => 0})),
    ?assertError(badarg, ?CP:options(Ok#{nope => 1})),
    ?assertError(badarg, ?CP:options(Ok#{key => {seed, <<1, 2>>}})),
    ?assertError(badarg, ?CP:options(#{signers => #{N => {<<1>>, 1}}})),
    ?assertError(badarg, ?CP:options(#{signers => #{N => {lattice_crypto:public_key(K), 0}}})),
    ?assertEqual(<<"lattice.checkpoint.v1", 0, "s">>, ?CP:scope(s)),
    ?assertError(badarg, ?CP:scope(list_to_atom(lists:duplicate(250, $x)))).
