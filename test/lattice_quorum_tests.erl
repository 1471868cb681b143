%% lattice_quorum: weights and the cap in integers, thresholds at their exact boundaries,
%% forgeries, duplicate and unknown signers, every byte of a certificate, equivocation
%% evidence, the tracker, badarg.
-module(lattice_quorum_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(Q, lattice_quorum).
-define(SCOPE, <<"shard-3">>).
-define(DIGEST, <<1:256>>).

%% N signers with the given weights: {Set, #{Id => Key}}.
signers(Weights) ->
    Keys = [{iolist_to_binary(io_lib:format("n~3..0b", [I])), element(2, lattice_crypto:keypair(sign)), W}
            || {I, W} <- lists:zip(lists:seq(1, length(Weights)), Weights)],
    {[{Id, lattice_crypto:public_key(K), W} || {Id, K, W} <- Keys],
     maps:from_list([{Id, K} || {Id, K, _} <- Keys])}.

votes(Keys, Ids, Seq, Digest) ->
    [?Q:vote(maps:get(Id, Keys), Id, ?SCOPE, Seq, Digest) || Id <- Ids].

cert(Keys, Ids) ->
    {ok, C} = ?Q:certificate(?SCOPE, 5, ?DIGEST, votes(Keys, Ids, 5, ?DIGEST)),
    C.

ids(N) -> [iolist_to_binary(io_lib:format("n~3..0b", [I])) || I <- lists:seq(1, N)].

%% Equal weights, no cap: 3 of 4 is 75 %: passes normal (67) and elevated? 75 is not > 75.
equal_weights_test() ->
    {Signers, Keys} = signers([1, 1, 1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    ?assertMatch(#{total := 400, raw_total := 4}, ?Q:set_info(Set)),
    C3 = cert(Keys, ids(3)),
    ?assertMatch({ok, #{weight := 300, needed := 269, total := 400}}, ?Q:verify(C3, Set, normal)),
    ?assertEqual({error, {insufficient_weight, 300, 301}}, ?Q:verify(C3, Set, elevated)),
    ?assertMatch({ok, _}, ?Q:verify(cert(Keys, ids(4)), Set, high)),
    ?assertEqual({error, {insufficient_weight, 200, 269}}, ?Q:verify(cert(Keys, ids(2)), Set,
                                                                      normal)).

%% The threshold is strict, exactly at the boundary: with a total of 100, 67 does not pass
%% normal, 68 does; 75 does not pass elevated, 76 does; 82 and 83 for high.
boundary_test_() ->
    Cases = [{normal, 67}, {elevated, 75}, {high, 82}],
    %% Two signers: one of weight W, one of weight 100 - W, no cap. The total is 100 * 100.
    [{atom_to_list(L) ++ " at " ++ integer_to_list(W),
      fun() ->
              {Signers, Keys} = signers([W, 100 - W]),
              Set = ?Q:new_set(Signers, #{cap => 100}),
              C = cert(Keys, [<<"n001">>]),
              Needed = P * 100 + 1,
              ?assertEqual(Needed, ?Q:needed(Set, L)),
              case W > P of
                  true -> ?assertMatch({ok, #{weight := _}}, ?Q:verify(C, Set, L));
                  false -> ?assertEqual({error, {insufficient_weight, W * 100, Needed}},
                                        ?Q:verify(C, Set, L))
              end
      end} || {L, P} <- Cases, W <- [P - 1, P, P + 1]].

%% Integer levels; and a total that does not divide evenly: 3 of 7 equal signers is
%% 42.857 %, passing 42 and not 43.
odd_total_test() ->
    {Signers, Keys} = signers(lists:duplicate(7, 1)),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    C = cert(Keys, ids(3)),
    ?assertMatch({ok, _}, ?Q:verify(C, Set, 42)),
    ?assertEqual({error, {insufficient_weight, 300, 302}}, ?Q:verify(C, Set, 43)),
    %% 5 of 7 = 71.4 %: normal yes, elevated no; 6 of 7 = 85.7 %: high yes.
    ?assertMatch({ok, _}, ?Q:verify(cert(Keys, ids(5)), Set, normal)),
    ?assertMatch({error, {insufficient_weight, 500, 526}},
                 ?Q:verify(cert(Keys, ids(5)), Set, elevated)),
    ?assertMatch({ok, _}, ?Q:verify(cert(Keys, ids(6)), Set, high)).

%% The cap: a signer with most of the raw weight counts for at most cap % of the raw total.
cap_test() ->
    %% Raw: 80, 5, 5, 5, 5 (total 100). Cap 15: effective 1500, 500 x 4 = 3500.
    {Signers, Keys} = signers([80, 5, 5, 5, 5]),
    Set = ?Q:new_set(Signers),
    ?assertEqual(1500, ?Q:effective_weight(Set, <<"n001">>)),
    ?assertEqual(500, ?Q:effective_weight(Set, <<"n002">>)),
    ?assertEqual(0, ?Q:effective_weight(Set, <<"nobody">>)),
    ?assertMatch(#{total := 3500, cap := 15}, ?Q:set_info(Set)),
    %% Alone, the big signer is 1500 / 3500 = 42.9 %, far from a quorum.
    ?assertEqual({error, {insufficient_weight, 1500, 2346}},
                 ?Q:verify(cert(Keys, [<<"n001">>]), Set, normal)),
    %% With three small ones: 3000 / 3500 = 85.7 %.
    ?assertMatch({ok, #{weight := 3000}},
                 ?Q:verify(cert(Keys, [<<"n001">>, <<"n002">>, <<"n003">>, <<"n004">>]),
                           Set, high)),
    %% Without it the four small ones have 2000 / 3500 = 57 %.
    ?assertMatch({error, {insufficient_weight, 2000, _}},
                 ?Q:verify(cert(Keys, [<<"n002">>, <<"n003">>, <<"n004">>, <<"n005">>]),
                           Set, normal)).

forgery_test() ->
    {Signers, Keys} = signers([1, 1, 1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    Good = votes(Keys, ids(3), 5, ?DIGEST),
    %% A vote signed by n001's key claimed by n002.
    [V1, _, V3] = Good,
    Stolen = V1#{signer => <<"n002">>},
    {ok, C1} = ?Q:certificate(?SCOPE, 5, ?DIGEST, [V1, Stolen, V3]),
    ?assertEqual({error, {bad_signature, <<"n002">>}}, ?Q:verify(C1, Set, normal)),
    %% A vote for another digest or sequence does not fit the certificate.
    Other = ?Q:vote(maps:get(<<"n002">>, Keys), <<"n002">>, ?SCOPE, 5, <<2:256>>),
    ?assertEqual({error, {wrong_statement, <<"n002">>}},
                 ?Q:certificate(?SCOPE, 5, ?DIGEST, [V1, Other, V3])),
    %% An outsider's vote.
    {ok, Eve} = lattice_crypto:keypair(sign),
    EveVote = ?Q:vote(Eve, <<"eve">>, ?SCOPE, 5, ?DIGEST),
    {ok, C2} = ?Q:certificate(?SCOPE, 5, ?DIGEST, [EveVote | Good]),
    ?assertEqual({error, {unknown_signer, <<"eve">>}}, ?Q:verify(C2, Set, normal)),
    ?assertEqual({error, {unknown_signer, <<"eve">>}}, ?Q:verify_vote(EveVote, Set)),
    %% Duplicate signers: refused by the builder, and by the decoder in a hand-made binary.
    ?assertEqual({error, {duplicate_signer, <<"n001">>}},
                 ?Q:certificate(?SCOPE, 5, ?DIGEST, [V1, V1, V3])),
    #{signature := S1} = V1,
    St = ?Q:statement(?SCOPE, 5, ?DIGEST),
    Dup = <<16#43, 1, St/binary, 2:16, 4, "n001", S1/binary, 4, "n001", S1/binary>>,
    ?assertEqual({error, {duplicate_signer, <<"n001">>}}, ?Q:verify(Dup, Set, normal)),
    %% Signatures of one scope are not valid in another.
    Votes9 = votes(Keys, ids(4), 5, ?DIGEST),
    {ok, Other9} = ?Q:certificate(<<"shard-9">>, 5, ?DIGEST,
                                  [V#{scope => <<"shard-9">>} || V <- Votes9]),
    ?assertMatch({error, {bad_signature, _}}, ?Q:verify(Other9, Set, normal)).

every_byte_test() ->
    {Signers, Keys} = signers([1, 1, 1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    C = cert(Keys, ids(4)),
    {ok, _} = ?Q:verify(C, Set, high),
    Accepted = [I || I <- lists:seq(0, byte_size(C) - 1),
                     element(1, ?Q:verify(flip(C, I, 1), Set, normal)) =:= ok],
    ?assertEqual([], Accepted),
    [?assertMatch({error, _}, ?Q:verify(binary:part(C, 0, N), Set, normal))
     || N <- lists:seq(0, byte_size(C) - 1)].

flip(Bin, I, X) ->
    <<A:I/binary, B, Rest/binary>> = Bin,
    <<A/binary, (B bxor X), Rest/binary>>.

decode_test() ->
    {_, Keys} = signers([1, 1]),
    C = cert(Keys, [<<"n002">>, <<"n001">>]),
    {ok, #{scope := ?SCOPE, sequence := 5, digest := ?DIGEST,
           signatures := [{<<"n001">>, _}, {<<"n002">>, _}]}} = ?Q:decode(C),
    ?assertEqual({error, malformed}, ?Q:decode(<<"junk">>)),
    ?assertEqual({error, too_large}, ?Q:decode(binary:copy(<<0>>, 400000))).

equivocation_test() ->
    {Signers, Keys} = signers([1, 1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    K = maps:get(<<"n002">>, Keys),
    A = ?Q:vote(K, <<"n002">>, ?SCOPE, 9, <<"block-a">>),
    B = ?Q:vote(K, <<"n002">>, ?SCOPE, 9, <<"block-b">>),
    {ok, Ev} = ?Q:equivocation(B, A, Set),
    ?assertEqual({ok, Ev}, ?Q:equivocation(A, B, Set)),     % canonical: order does not matter
    ?assertEqual({ok, #{signer => <<"n002">>, scope => ?SCOPE, sequence => 9,
                        digests => [<<"block-a">>, <<"block-b">>]}},
                 ?Q:verify_evidence(Ev, Set)),
    %% Not equivocation: same digest, another sequence, another signer.
    ?assertEqual({error, not_equivocation}, ?Q:equivocation(A, A, Set)),
    C = ?Q:vote(K, <<"n002">>, ?SCOPE, 10, <<"block-b">>),
    ?assertEqual({error, not_equivocation}, ?Q:equivocation(A, C, Set)),
    D = ?Q:vote(maps:get(<<"n001">>, Keys), <<"n001">>, ?SCOPE, 9, <<"block-b">>),
    ?assertEqual({error, not_equivocation}, ?Q:equivocation(A, D, Set)),
    %% Forged: a vote whose signature is not the signer's.
    ?assertEqual({error, {bad_signature, <<"n002">>}},
                 ?Q:equivocation(A, B#{signature => maps:get(signature, D)}, Set)),
    %% The evidence, every byte changed, is refused.
    Accepted = [I || I <- lists:seq(0, byte_size(Ev) - 1),
                     element(1, ?Q:verify_evidence(flip(Ev, I, 1), Set)) =:= ok],
    ?assertEqual([], Accepted),
    %% Another set, where n002 has another key or is absent.
    {Signers2, _} = signers([1, 1, 1]),
    ?assertEqual({error, wrong_key}, ?Q:verify_evidence(Ev, ?Q:new_set(Signers2))),
    ?assertEqual({error, {unknown_signer, <<"n002">>}},
                 ?Q:verify_evidence(Ev, ?Q:new_set([hd(Signers)]))),
    %% Evidence that is really two votes of one digest (hand-made) is malformed.
    #{signature := SA} = A,
    Same = <<16#44, 1, 4, "n002", (element(2, lists:keyfind(<<"n002">>, 1, Signers)))/binary,
             7, ?SCOPE/binary, 9:64, 7, "block-a", SA/binary, 7, "block-a", SA/binary>>,
    ?assertEqual({error, malformed}, ?Q:verify_evidence(Same, Set)).

tracker_test() ->
    {Signers, Keys} = signers([1, 1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    T0 = ?Q:new_tracker(Set),
    K = maps:get(<<"n003">>, Keys),
    A = ?Q:vote(K, <<"n003">>, ?SCOPE, 1, <<"x">>),
    {ok, T1} = ?Q:observe(T0, A),
    {ok, T1} = ?Q:observe(T1, A),
    {ok, T2} = ?Q:observe(T1, ?Q:vote(K, <<"n003">>, ?SCOPE, 2, <<"y">>)),
    {equivocation, Ev, T2} = ?Q:observe(T2, ?Q:vote(K, <<"n003">>, ?SCOPE, 1, <<"z">>)),
    ?assertMatch({ok, #{signer := <<"n003">>, sequence := 1}}, ?Q:verify_evidence(Ev, Set)),
    {ok, Eve} = lattice_crypto:keypair(sign),
    ?assertEqual({error, {bad_signature, <<"n003">>}},
                 ?Q:observe(T2, ?Q:vote(Eve, <<"n003">>, ?SCOPE, 1, <<"w">>))).

large_set_test() ->
    {Signers, Keys} = signers(lists:duplicate(64, 10)),
    Set = ?Q:new_set(Signers),
    C = cert(Keys, ids(43)),     % 43 / 64 = 67.19 % > 67
    ?assertMatch({ok, #{weight := 43000, needed := 42881}}, ?Q:verify(C, Set, normal)),
    %% 42 / 64 = 65.6 %
    ?assertEqual({error, {insufficient_weight, 42000, 42881}},
                 ?Q:verify(cert(Keys, ids(42)), Set, normal)).

counters_test() ->
    S0 = ?Q:stats(),
    {Signers, Keys} = signers([1, 1]),
    Set = ?Q:new_set(Signers, #{cap => 100}),
    {ok, _} = ?Q:verify(cert(Keys, ids(2)), Set, normal),
    {error, _} = ?Q:verify(cert(Keys, ids(1)), Set, normal),
    S1 = ?Q:stats(),
    ?assert(maps:get(verified, S1) >= maps:get(verified, S0) + 1),
    ?assert(maps:get(votes, S1) >= maps:get(votes, S0) + 3),
    ?assert(maps:get(insufficient_weight, maps:get(failed, S1)) >=
                maps:get(insufficient_weight, maps:get(failed, S0)) + 1).

badarg_test_() ->
    {Signers, Keys} = signers([1, 1]),
    Set = ?Q:new_set(Signers),
    [?_assertError(badarg, ?Q:new_set([])),
     ?_assertError(badarg, ?Q:new_set(Signers ++ [hd(Signers)])),
     ?_assertError(badarg, ?Q:new_set([{<<"a">>, <<0:256>>, 0}])),
     ?_assertError(badarg, ?Q:new_set(Signers, #{cap => 0})),
     ?_assertError(badarg, ?Q:needed(Set, 100)),
     ?_assertError(badarg, ?Q:needed(Set, extreme)),
     ?_assertError(badarg, ?Q:vote(maps:get(<<"n001">>, Keys), <<"n001">>, <<>>, 1, <<1>>)),
     ?_assertError(badarg, ?Q:vote(maps:get(<<"n001">>, Keys), <<"n001">>, ?SCOPE, 1,
                                   binary:copy(<<1>>, 65))),
     ?_assertError(badarg, ?Q:verify(<<>>, not_a_set, normal)),
     ?_assertMatch(#{1 := "the signer <<\"n001\">> is listed twice"},
                   explain(fun() -> ?Q:new_set(Signers ++ [hd(Signers)]) end)),
     ?_assertMatch(#{3 := "the level must be normal, elevated, high or a percentage 1..99" ++ _},
                   explain(fun() -> ?Q:verify(<<>>, Set, 100) end)),
     ?_assertMatch(#{5 := "the digest must be 1..64 bytes, got 65"},
                   explain(fun() -> ?Q:vote(maps:get(<<"n001">>, Keys), <<"n001">>, ?SCOPE, 1,
                                            binary:copy(<<1>>, 65)) end))].

explain(F) ->
    try F(), no_error
    catch error:badarg:St -> lattice_quorum:format_error(badarg, St)
    end.

%% The arithmetic against a model in exact fractions: a signer's share of the set is
%% min(w / T, cap / 100) (T the raw total), a subset passes level L when its shares' sum over
%% the set's is more than L / 100; lattice_quorum's integers (effective weights, `needed')
%% decide the same for random weights, caps, levels and subsets.
threshold_model_test_() ->
    {timeout, 120,
     fun() ->
             ?assert(proper:quickcheck(prop_threshold(), [{numtests, 500}, {to_file, user},
                                                          long_result]) =:= true)
     end}.

prop_threshold() ->
    ?FORALL({Ws, Cap, Level, Mask},
            {non_empty(list(range(1, 1000))), range(1, 100),
             oneof([normal, elevated, high, range(1, 99)]), list(boolean())},
            begin
                Ids = [<<"s", (integer_to_binary(I))/binary>> || I <- lists:seq(1, length(Ws))],
                Set = ?Q:new_set([{Id, <<0:256>>, W} || {Id, W} <- lists:zip(Ids, Ws)],
                                 #{cap => Cap}),
                In = [Id || {Id, true} <- lists:zip(Ids, pad(Mask, length(Ids)))],
                G = lists:sum([?Q:effective_weight(Set, Id) || Id <- In]),
                Passes = G >= ?Q:needed(Set, Level),
                %% The model: fractions {Num, Den}.
                T = lists:sum(Ws),
                Share = fun(W) -> fmin({W, T}, {Cap, 100}) end,
                All = fsum([Share(W) || W <- Ws]),
                Sub = fsum([Share(W) || {Id, W} <- lists:zip(Ids, Ws), lists:member(Id, In)]),
                P = case Level of normal -> 67; elevated -> 75; high -> 82; N -> N end,
                %% Sub / All > P / 100
                {SN, SD} = Sub,
                {AN, AD} = All,
                Model = SN * AD * 100 > P * AN * SD,
                ?WHENFAIL(io:format("weights ~p cap ~p level ~p in ~p: ~p vs model ~p~n",
                                    [Ws, Cap, Level, In, Passes, Model]),
                          Passes =:= Model)
            end).

pad(Mask, N) when length(Mask) >= N -> lists:sublist(Mask, N);
pad(Mask, N) -> Mask ++ lists:duplicate(N - length(Mask), false).

fmin({A, B}, {C, D}) when A * D =< C * B -> {A, B};
fmin(_, Y) -> Y.

fsum(Fs) -> lists:foldl(fun({A, B}, {C, D}) -> {A * D + C * B, B * D} end, {0, 1}, Fs).
