%% lattice_envelope and lattice_keyring: round trips, every single-byte change refused (every
%% position), replays, wrong and retired key versions, signatures, caps, rotation with an
%% injected clock, counters.
-module(lattice_envelope_tests).
-include_lib("eunit/include/eunit.hrl").

-define(E, lattice_envelope).
-define(K, lattice_keyring).
-define(HOUR, 3600000).

master() ->
    {ok, M} = lattice_crypto:secret_key(),
    M.

%% A clock the test moves: an atomics cell.
clock(Start) ->
    Ref = atomics:new(1, [{signed, true}]),
    atomics:put(Ref, 1, Start),
    {Ref, fun() -> atomics:get(Ref, 1) end}.

set_time(Ref, T) -> atomics:put(Ref, 1, T).

round_trip_test_() ->
    M = master(),
    [{atom_to_list(Alg) ++ " " ++ integer_to_list(Size),
      fun() ->
              KR = ?K:new(M, #{alg => Alg}),
              R = lattice_replay:new(),
              Plain = crypto:strong_rand_bytes(Size),
              Env = ?E:seal(Plain, KR, <<"node-1">>, 42),
              ?assertEqual(byte_size(Plain) + 16 + 5 + 6 + 4 + 8 + 4 +
                               case Alg of xchacha20poly1305 -> 24; _ -> 12 end,
                           byte_size(Env)),
              {ok, Plain, Meta} = ?E:open(Env, KR, R),
              ?assertEqual(#{sender => <<"node-1">>, key_version => ?K:version(KR),
                             counter => 42, alg => Alg, signed => false}, Meta),
              ?assertEqual({ok, Meta}, ?E:peek(Env)),
              ?assertEqual({error, replay}, ?E:open(Env, KR, R))
      end} || Alg <- [xchacha20poly1305, chacha20poly1305] ++ aes(), Size <- [0, 1, 1000]].

aes() ->
    case lattice_crypto:aead_key(aes256gcm) of
        {ok, _} -> [aes256gcm];
        {error, {unsupported, aes256gcm}} -> []
    end.

%% Another node with the same master opens what this one sealed; another master does not.
other_node_test() ->
    M = master(),
    {ok, Bytes} = {ok, crypto:strong_rand_bytes(32)},
    {ok, M1} = lattice_crypto:secret_key(Bytes),
    {ok, M2} = lattice_crypto:secret_key(Bytes),
    Env = ?E:seal(<<"x">>, ?K:new(M1), <<"a">>, 1),
    ?assertMatch({ok, <<"x">>, _}, ?E:open(Env, ?K:new(M2), lattice_replay:new())),
    ?assertEqual({error, bad_mac}, ?E:open(Env, ?K:new(M), lattice_replay:new())),
    %% Another purpose derives other keys.
    ?assertEqual({error, bad_mac},
                 ?E:open(Env, ?K:new(M2, #{purpose => <<"gossip">>}), lattice_replay:new())).

%% Every single-byte change, at every position, of a signed and of an unsigned envelope is
%% refused, and none of them moves the window: the original still opens afterwards.
every_byte_test_() ->
    {timeout, 60,
     fun() ->
             M = master(),
             KR = ?K:new(M),
             {ok, SK} = lattice_crypto:keypair(sign),
             Signers = #{<<"node-1">> => lattice_crypto:public_key(SK)},
             lists:foreach(
               fun(Opts) ->
                       Env = ?E:seal(<<"the plaintext, some bytes">>, KR, <<"node-1">>, 7, Opts),
                       R = lattice_replay:new(),
                       Refused = [{I, X, Res}
                                  || I <- lists:seq(0, byte_size(Env) - 1), X <- [1, 16#80, 16#FF],
                                     Res <- [?E:open(flip(Env, I, X), KR, R,
                                                     #{signers => Signers})],
                                     element(1, Res) =:= ok],
                       ?assertEqual([], Refused),
                       %% Truncations and extensions too.
                       [?assertMatch({error, _}, ?E:open(binary:part(Env, 0, N), KR, R,
                                                         #{signers => Signers}))
                        || N <- lists:seq(0, byte_size(Env) - 1)],
                       ?assertEqual({error, malformed}, ?E:open(<<Env/binary, 0>>, KR, R,
                                                                #{signers => Signers})),
                       ?assertMatch({ok, _, _}, ?E:open(Env, KR, R, #{signers => Signers}))
               end, [#{}, #{sign => SK}])
     end}.

flip(Bin, I, X) ->
    <<A:I/binary, B, C/binary>> = Bin,
    <<A/binary, (B bxor X), C/binary>>.

%% What each kind of change is refused as.
reasons_test() ->
    M = master(),
    KR = ?K:new(M),
    Env = ?E:seal(<<"abc">>, KR, <<"n">>, 9),
    R = lattice_replay:new(),
    ?assertEqual({error, malformed}, ?E:open(flip(Env, 0, 1), KR, R)),     % type tag
    ?assertEqual({error, malformed}, ?E:open(flip(Env, 1, 1), KR, R)),     % version
    ?assertEqual({error, malformed}, ?E:open(flip(Env, 2, 2), KR, R)),     % unknown flag
    ?assertEqual({error, malformed}, ?E:open(flip(Env, 3, 4), KR, R)),     % unknown AEAD
    %% Another AEAD with the same nonce size (ChaCha20 <-> AES-GCM): not this keyring's.
    KRc = ?K:new(M, #{alg => chacha20poly1305}),
    Envc = ?E:seal(<<"abc">>, KRc, <<"n">>, 9),
    ?assertEqual({error, unknown_key}, ?E:open(flip(Envc, 3, 1), KRc, R)),
    %% XChaCha20 -> ChaCha20: the nonce shrinks, the rest no longer parses as it did.
    ?assertMatch({error, _}, ?E:open(flip(Env, 3, 3), KR, R)),
    ?assertEqual({error, bad_mac}, ?E:open(flip(Env, 5, 1), KR, R)),       % sender
    ?assertEqual({error, unknown_key}, ?E:open(flip(Env, 6, 16#10), KR, R)), % key version
    ?assertEqual({error, bad_mac}, ?E:open(flip(Env, 6 + 4 + 7, 1), KR, R)), % counter
    ?assertEqual({error, bad_mac}, ?E:open(flip(Env, byte_size(Env) - 1, 1), KR, R)), % tag
    %% The signed flag set on an unsigned envelope: no room for a signature.
    ?assertEqual({error, malformed}, ?E:open(flip(Env, 2, 1), KR, R)),
    ?assertMatch({ok, <<"abc">>, _}, ?E:open(Env, KR, R)).

replay_test() ->
    KR = ?K:new(master()),
    R = lattice_replay:new(#{bits => 1024}),
    Envs = [?E:seal(<<C>>, KR, <<"s">>, C) || C <- lists:seq(0, 255)],
    %% Out of order, inside the window: all open once.
    Shuffled = [E || {_, E} <- lists:sort([{rand:uniform(), E} || E <- Envs])],
    [?assertMatch({ok, _, _}, ?E:open(E, KR, R)) || E <- Shuffled],
    [?assertEqual({error, replay}, ?E:open(E, KR, R)) || E <- Envs],
    %% Far ahead: the old ones fall out of the window (too old is a replay as well).
    Far = ?E:seal(<<"far">>, KR, <<"s">>, 100000),
    ?assertMatch({ok, _, _}, ?E:open(Far, KR, R)),
    Old = ?E:seal(<<"old">>, KR, <<"s">>, 300),
    ?assertEqual({error, replay}, ?E:open(Old, KR, R)),
    %% Another sender has its own window.
    ?assertMatch({ok, _, _}, ?E:open(?E:seal(<<"x">>, KR, <<"t">>, 300), KR, R)),
    %% A forged envelope does not move the window: the real one with that counter still opens.
    Real = ?E:seal(<<"real">>, KR, <<"s">>, 100001),
    Forged = flip(Real, byte_size(Real) - 3, 1),
    ?assertEqual({error, bad_mac}, ?E:open(Forged, KR, R)),
    ?assertMatch({ok, <<"real">>, _}, ?E:open(Real, KR, R)).

signature_test() ->
    KR = ?K:new(master()),
    {ok, SK} = lattice_crypto:keypair(sign),
    {ok, Other} = lattice_crypto:keypair(sign),
    Pub = lattice_crypto:public_key(SK),
    Signed = ?E:seal(<<"m">>, KR, <<"n1">>, 1, #{sign => SK}),
    Unsigned = ?E:seal(<<"m">>, KR, <<"n1">>, 2),
    ByOther = ?E:seal(<<"m">>, KR, <<"n1">>, 3, #{sign => Other}),
    R = lattice_replay:new(),
    ?assertEqual({error, unknown_signer}, ?E:open(Signed, KR, R)),
    ?assertEqual({error, unknown_signer},
                 ?E:open(Signed, KR, R, #{signers => #{<<"n2">> => Pub}})),
    ?assertEqual({error, unsigned},
                 ?E:open(Unsigned, KR, R, #{require_signature => true,
                                            signers => #{<<"n1">> => Pub}})),
    ?assertEqual({error, bad_signature},
                 ?E:open(ByOther, KR, R, #{signers => #{<<"n1">> => Pub}})),
    ?assertMatch({ok, <<"m">>, #{signed := true}},
                 ?E:open(Signed, KR, R, #{signers => fun(<<"n1">>) -> {ok, Pub};
                                                        (_) -> error end})),
    ?assertMatch({ok, <<"m">>, #{signed := false}}, ?E:open(Unsigned, KR, R)),
    %% The refused ones did not touch the window.
    ?assertEqual(ok, lattice_replay:check(R, <<"n1">>, 3)),
    %% A signed envelope whose signature is stripped and flag cleared: the MAC fails.
    Stripped0 = binary:part(Signed, 0, byte_size(Signed) - 64),
    Stripped = flip(Stripped0, 2, 1),
    ?assertEqual({error, bad_mac}, ?E:open(Stripped, KR, lattice_replay:new())).

size_cap_test() ->
    KR = ?K:new(master()),
    R = lattice_replay:new(),
    Env = ?E:seal(binary:copy(<<0>>, 1000), KR, <<"n">>, 1),
    ?assertEqual({error, too_large}, ?E:open(Env, KR, R, #{max_size => 999})),
    ?assertMatch({ok, _, _}, ?E:open(Env, KR, R, #{max_size => 1000})),
    Big = ?E:seal(binary:copy(<<1>>, 65536), KR, <<"n">>, 2),
    ?assertEqual({error, too_large}, ?E:open(Big, KR, R, #{max_size => 65535})),
    ?assertMatch({ok, _, _}, ?E:open(Big, KR, R)),
    ?assertError(badarg, ?E:seal(binary:copy(<<0>>, 64 * 1024 * 1024 + 1), KR, <<"n">>, 3)).

%% ---- key versions --------------------------------------------------------------------------

versions_test() ->
    {Ref, Clock} = clock(1000 * ?HOUR),
    M = master(),
    KR0 = ?K:new(M, #{schedule => local, clock => Clock}),
    ?assertEqual(1, ?K:version(KR0)),
    Old = ?E:seal(<<"v1">>, KR0, <<"n">>, 1),
    KR1 = ?K:rotate(KR0),
    ?assertEqual(2, ?K:version(KR1)),
    R = lattice_replay:new(),
    %% The retired version opens during its grace (1 h for long-term keys)...
    set_time(Ref, 1000 * ?HOUR + ?HOUR - 1),
    ?assertMatch({ok, <<"v1">>, #{key_version := 1}}, ?E:open(Old, KR1, R)),
    %% ... and is expired after it.
    Old2 = ?E:seal(<<"v1">>, KR0, <<"n">>, 2),
    set_time(Ref, 1000 * ?HOUR + ?HOUR),
    ?assertEqual({error, expired}, ?E:open(Old2, KR1, R)),
    ?assertEqual({error, expired}, ?K:lookup(KR1, 1)),
    %% Dropped on the next rotation check; still expired, not unknown.
    KR2 = ?K:maybe_rotate(KR1),
    ?assertEqual(#{}, maps:get(accepted, ?K:info(KR2))),
    ?assertEqual({error, expired}, ?K:lookup(KR2, 1)),
    %% One version ahead (a peer that rotated first) opens; two ahead do not.
    Ahead = ?E:seal(<<"v3">>, ?K:rotate(KR2), <<"n">>, 3),
    ?assertMatch({ok, <<"v3">>, #{key_version := 3}}, ?E:open(Ahead, KR2, R)),
    TwoAhead = ?E:seal(<<"v4">>, ?K:rotate(?K:rotate(KR2)), <<"n">>, 4),
    ?assertEqual({error, unknown_key}, ?E:open(TwoAhead, KR2, R)),
    ?assertEqual({error, unknown_key}, ?K:lookup(KR2, 0)),
    ?assertEqual({error, unknown_key}, ?K:lookup(KR2, 1 bsl 32 - 1)),
    %% A keyring that starts at version 10 never had 9.
    KR10 = ?K:new(M, #{schedule => local, version => 10, clock => Clock}),
    ?assertEqual({error, unknown_key}, ?K:lookup(KR10, 9)).

schedule_local_test() ->
    {Ref, Clock} = clock(0),
    KR0 = ?K:new(master(), #{schedule => local, profile => session, clock => Clock}),
    ?assertMatch(#{interval := ?HOUR, grace := 300000}, ?K:info(KR0)),
    set_time(Ref, ?HOUR - 1),
    KR1 = ?K:maybe_rotate(KR0),
    ?assertEqual(1, ?K:version(KR1)),
    set_time(Ref, ?HOUR),
    KR2 = ?K:maybe_rotate(KR1),
    ?assertEqual(2, ?K:version(KR2)),
    ?assertMatch(#{accepted := #{1 := ?HOUR + 300000}, rotations := 1}, ?K:info(KR2)),
    %% The interval counts from the last rotation.
    set_time(Ref, 2 * ?HOUR - 1),
    ?assertEqual(2, ?K:version(?K:maybe_rotate(KR2))),
    set_time(Ref, 2 * ?HOUR),
    ?assertEqual(3, ?K:version(?K:maybe_rotate(KR2))).

schedule_aligned_test() ->
    %% Two nodes started at different times agree on the version, and both move at the same
    %% instant.
    Day = 24 * ?HOUR,
    {RefA, ClockA} = clock(100 * Day + 5),
    {RefB, ClockB} = clock(100 * Day + 7 * ?HOUR),
    M = master(),
    A = ?K:new(M, #{clock => ClockA}),
    B = ?K:new(M, #{clock => ClockB}),
    ?assertEqual(101, ?K:version(A)),
    ?assertEqual(101, ?K:version(B)),
    %% A, made 5 ms into the day, still takes yesterday's version (in its grace from the
    %% boundary); B, made 7 h in, does not.
    ?assertMatch({ok, _}, ?K:lookup(A, 100)),
    ?assertEqual({error, expired}, ?K:lookup(B, 100)),
    ?assertEqual({error, unknown_key}, ?K:lookup(B, 99)),
    set_time(RefA, 101 * Day),
    set_time(RefB, 101 * Day),
    A2 = ?K:maybe_rotate(A),
    B2 = ?K:maybe_rotate(B),
    ?assertEqual(102, ?K:version(A2)),
    ?assertEqual(102, ?K:version(B2)),
    Env = ?E:seal(<<"hi">>, A2, <<"a">>, 1),
    ?assertMatch({ok, <<"hi">>, #{key_version := 102}}, ?E:open(Env, B2, lattice_replay:new())),
    %% Offline for three days: straight to the version of the day; what it skipped is expired.
    set_time(RefA, 104 * Day + 1),
    A3 = ?K:maybe_rotate(A2),
    ?assertEqual(105, ?K:version(A3)),
    ?assertEqual({error, expired}, ?K:lookup(A3, 103)),
    ?assertMatch({ok, _}, ?K:lookup(A3, 102)).

counters_test() ->
    E0 = ?E:stats(),
    K0 = ?K:stats(),
    KR = ?K:new(master(), #{schedule => local}),
    R = lattice_replay:new(),
    Env = ?E:seal(<<"x">>, KR, <<"c">>, 1),
    {ok, _, _} = ?E:open(Env, KR, R),
    {error, replay} = ?E:open(Env, KR, R),
    {error, malformed} = ?E:open(<<"junk">>, KR, R),
    _ = ?K:rotate(KR),
    E1 = ?E:stats(),
    K1 = ?K:stats(),
    ?assert(maps:get(sealed, E1) >= maps:get(sealed, E0) + 1),
    ?assert(maps:get(opened, E1) >= maps:get(opened, E0) + 1),
    ?assert(maps:get(replay, maps:get(failed, E1)) >= maps:get(replay, maps:get(failed, E0)) + 1),
    ?assert(maps:get(malformed, maps:get(failed, E1)) >=
                maps:get(malformed, maps:get(failed, E0)) + 1),
    ?assert(maps:get(rotations, K1) >= maps:get(rotations, K0) + 1).

sender_counter_test() ->
    C = ?E:counter(),
    A = ?E:next(C),
    B = ?E:next(C),
    ?assert(B > A),
    ?assert(A > erlang:system_time(microsecond) - 60000000).

badarg_test_() ->
    M = master(),
    KR = ?K:new(M),
    R = lattice_replay:new(),
    {ok, Kx} = lattice_crypto:keypair(kx),
    [?_assertError(badarg, ?E:seal(<<"x">>, KR, <<>>, 1)),
     ?_assertError(badarg, ?E:seal(<<"x">>, KR, <<"n">>, -1)),
     ?_assertError(badarg, ?E:seal(<<"x">>, not_a_keyring, <<"n">>, 1)),
     ?_assertError(badarg, ?E:seal(<<"x">>, KR, <<"n">>, 1, #{sign => Kx})),
     ?_assertError(badarg, ?E:open(not_binary, KR, R)),
     ?_assertError(badarg, ?E:open(<<"x">>, KR, R, #{bogus => 1})),
     ?_assertError(badarg, ?K:new(M, #{purpose => <<"123456789">>})),
     ?_assertError(badarg, ?K:new(Kx)),
     ?_assertError(badarg, ?K:new(M, #{interval => 0})),
     ?_assertMatch(#{5 := "sign must be a sign key, got a kx key"},
                   explain(lattice_envelope,
                           fun() -> ?E:seal(<<"x">>, KR, <<"n">>, 1, #{sign => Kx}) end)),
     ?_assertMatch(#{3 := "the sender must be 1..255 bytes, got 0"},
                   explain(lattice_envelope, fun() -> ?E:seal(<<"x">>, KR, <<>>, 1) end)),
     ?_assertMatch(#{2 := "purpose must be 1..8 bytes, got 9"},
                   explain(lattice_keyring,
                           fun() -> ?K:new(M, #{purpose => <<"123456789">>}) end)),
     ?_assertMatch(#{1 := "the master key must be a secret key" ++ _},
                   explain(lattice_keyring, fun() -> ?K:new(Kx) end))].

explain(Mod, F) ->
    try F(), no_error
    catch error:badarg:St -> Mod:format_error(badarg, St)
    end.

%% A wrong keyring or replay table given to open/3,4 is the caller's bug, explained as such.
open_badarg_test() ->
    KR = ?K:new(master()),
    Env = ?E:seal(<<"x">>, KR, <<"n">>, 1),
    ?assertError(badarg, ?E:open(Env, not_a_keyring, lattice_replay:new())),
    ?assertError(badarg, ?E:open(Env, KR, not_a_table)),
    ?assertMatch(#{2 := "the keyring must be a lattice_keyring" ++ _},
                 explain(lattice_envelope, fun() -> ?E:open(Env, nope, lattice_replay:new()) end)),
    ?assertMatch(#{3 := "the replay window must be a lattice_replay table" ++ _},
                 explain(lattice_envelope, fun() -> ?E:open(Env, KR, nope) end)),
    ?assertError(badarg, ?K:version(nope)),
    ?assertError(badarg, ?K:current(nope)).

%% An ephemeral keyring: random keys per version, nothing derivable, a dropped version gone;
%% installing a key agreed elsewhere gives two ephemeral keyrings the same version.
ephemeral_test() ->
    {Ref, Clock} = clock(0),
    A = ?K:ephemeral(#{clock => Clock}),
    ?assertMatch(#{source := ephemeral, lookahead := 0, interval := ?HOUR, schedule := local},
                 ?K:info(A)),
    R = lattice_replay:new(),
    Env1 = ?E:seal(<<"one">>, A, <<"me">>, 1),
    ?assertMatch({ok, <<"one">>, #{key_version := 1}}, ?E:open(Env1, A, R)),
    %% Another ephemeral keyring at the same version has another key.
    ?assertEqual({error, bad_mac}, ?E:open(Env1, ?K:ephemeral(#{clock => Clock}),
                                           lattice_replay:new())),
    %% The next version is not derivable: unknown until installed or rotated to.
    ?assertEqual({error, unknown_key}, ?K:lookup(A, 2)),
    A2 = ?K:rotate(A),
    Env1b = ?E:seal(<<"one b">>, A, <<"me">>, 2),
    ?assertMatch({ok, <<"one b">>, _}, ?E:open(Env1b, A2, R)),   % in grace
    set_time(Ref, 5 * 60000),
    A3 = ?K:maybe_rotate(A2),
    ?assertEqual({error, expired}, ?E:open(?E:seal(<<"x">>, A, <<"me">>, 3), A3, R)),
    ?assertEqual(#{}, maps:get(accepted, ?K:info(A3))),
    %% Two nodes install a key they agreed on (here: made once, given to both).
    {ok, Shared} = lattice_crypto:aead_key(xchacha20poly1305),
    B = ?K:install(?K:ephemeral(#{clock => Clock}), 7, Shared),
    C = ?K:install(?K:ephemeral(#{clock => Clock}), 7, Shared),
    ?assertEqual(7, ?K:version(B)),
    ?assertMatch({ok, <<"hi">>, #{key_version := 7}},
                 ?E:open(?E:seal(<<"hi">>, B, <<"b">>, 1), C, lattice_replay:new())),
    %% The rules of install.
    {ok, Other} = lattice_crypto:aead_key(chacha20poly1305),
    ?assertError(badarg, ?K:install(B, 7, Shared)),
    ?assertError(badarg, ?K:install(B, 8, Other)),
    ?assertError(badarg, ?K:install(?K:new(master()), 1 bsl 20, Shared)),
    ?assertError(badarg, ?K:ephemeral(#{purpose => <<"x">>})),
    ?assertMatch(#{3 := "the key is a chacha20poly1305 key; the keyring's are xchacha20poly1305"},
                 explain(lattice_keyring, fun() -> ?K:install(B, 8, Other) end)),
    ?assertMatch(#{1 := "only an ephemeral keyring takes installed keys" ++ _},
                 explain(lattice_keyring, fun() -> ?K:install(?K:new(master()), 9, Shared) end)),
    ?assertMatch(#{2 := "the version must be an integer in 8.." ++ _},
                 explain(lattice_keyring, fun() -> ?K:install(B, 7, Shared) end)).
