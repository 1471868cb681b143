%% lattice_crypto: known-answer vectors, interop with OTP's crypto both ways, negative cases,
%% every badarg path with its explanation, the sealed export, 100k keys, the counters.
-module(lattice_crypto_tests).
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_crypto).

h(Hex) -> binary:decode_hex(iolist_to_binary(Hex)).

%% ---- RFC 8032, 7.1: Ed25519 tests 1-3 ------------------------------------------------------

rfc8032() ->
    [{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
      "1cf9b46bd25bf5f0595bbe24655141438e7a100b"},
     {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
      "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
     {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
      "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
      "984dc6594a7c15e9716ed28dc027beceea1ec40a"}].

ed25519_vectors_test() ->
    lists:foreach(
      fun({Seed, Pub, Msg, Sig}) ->
              {ok, K} = ?C:from_seed(h(Seed)),
              ?assertEqual(h(Pub), ?C:public_key(K)),
              ?assertEqual(h(Sig), ?C:sign(K, h(Msg))),
              ?assert(?C:verify(h(Pub), h(Msg), h(Sig))),
              %% and OTP agrees with the vector
              ?assertEqual(h(Sig), crypto:sign(eddsa, none, h(Msg), [h(Seed), ed25519]))
      end, rfc8032()).

%% libsodium's strict checks: the identity as public key and R, S = 0, satisfies the plain
%% verification equation ([S]B = R + [k]A) for every message, and must be refused; so must a
%% non-canonical S (S + L) of a valid signature.
ed25519_strict_test() ->
    Identity = <<1, 0:248>>,
    ?assertNot(?C:verify(Identity, <<"any message">>, <<Identity/binary, 0:256>>)),
    {Seed, Pub, Msg, Sig} = hd(rfc8032()),
    <<R:32/binary, S:256/little>> = h(Sig),
    L = 16#1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed,
    Forged = <<R/binary, (S + L):256/little>>,
    ?assertNot(?C:verify(h(Pub), h(Msg), Forged)),
    ?assertNot(crypto:verify(eddsa, none, h(Msg), Forged, [h(Pub), ed25519])),
    {ok, K} = ?C:from_seed(h(Seed)),
    ?assertEqual(h(Seed), ?C:to_seed(K)).

ed25519_negative_test() ->
    {ok, K} = ?C:keypair(sign),
    Pub = ?C:public_key(K),
    Sig = ?C:sign(K, <<"message">>),
    ?assert(?C:verify(Pub, [<<"mess">>, "age"], Sig)),
    ?assertNot(?C:verify(Pub, <<"messagf">>, Sig)),
    [?assertNot(?C:verify(Pub, <<"message">>, flip(Sig, I))) || I <- lists:seq(0, 63)],
    ?assertNot(?C:verify(Pub, <<"message">>, binary:part(Sig, 0, 63))),
    ?assertNot(?C:verify(Pub, <<"message">>, <<Sig/binary, 0>>)),
    ?assertNot(?C:verify(Pub, <<"message">>, <<>>)),
    {ok, Other} = ?C:keypair(sign),
    ?assertNot(?C:verify(?C:public_key(Other), <<"message">>, Sig)).

ed25519_interop_test() ->
    %% OTP key -> lattice signs, OTP verifies; OTP signs, lattice verifies.
    [begin
         {Pub, Seed} = crypto:generate_key(eddsa, ed25519),
         {ok, K} = ?C:from_seed(Seed),
         ?assertEqual(Pub, ?C:public_key(K)),
         Msg = crypto:strong_rand_bytes(N),
         Sig = ?C:sign(K, Msg),
         ?assert(crypto:verify(eddsa, none, Msg, Sig, [Pub, ed25519])),
         ?assert(?C:verify(Pub, Msg, crypto:sign(eddsa, none, Msg, [Seed, ed25519])))
     end || N <- [0, 1, 31, 64, 1000, 70000]],
    %% lattice key -> its seed in OTP gives the same public key and signatures
    {ok, K2} = ?C:keypair(sign),
    Seed2 = ?C:to_seed(K2),
    ?assertMatch({_, Seed2}, crypto:generate_key(eddsa, ed25519, Seed2)),
    {Pub2, _} = crypto:generate_key(eddsa, ed25519, Seed2),
    ?assertEqual(Pub2, ?C:public_key(K2)),
    ?assertEqual(crypto:sign(eddsa, none, <<"x">>, [Seed2, ed25519]), ?C:sign(K2, <<"x">>)).

%% ---- RFC 4231: HMAC-SHA-256/512 -------------------------------------------------------------

rfc4231() ->
    [%% test case 1
     {binary:copy(<<16#0b>>, 20), <<"Hi There">>,
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274e"
      "aea3f4e4be9d914eeb61f1702e696c203a126854"},
     %% test case 2: a key shorter than the block
     {<<"Jefe">>, <<"what do ya want for nothing?">>,
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65"
      "f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
     %% test case 6: a 131-byte key (longer than the block: hashed first)
     {binary:copy(<<16#aa>>, 131), <<"Test Using Larger Than Block-Size Key - Hash Key First">>,
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
      "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd221"
      "5d6a1e5295e64f73f63f0aec8b915a985d786598"}].

hmac_vectors_test() ->
    lists:foreach(
      fun({Key, Data, S256, S512}) ->
              ?assertEqual(h(S256), ?C:hmac(sha256, Key, Data)),
              ?assertEqual(h(S512), ?C:hmac(sha512, Key, Data)),
              ?assertEqual(h(S256), crypto:mac(hmac, sha256, Key, Data)),
              %% streaming, in two pieces, equals one shot
              <<A:3/binary, B/binary>> = Data,
              St = ?C:hmac_update(?C:hmac_update(?C:hmac_init(sha512, Key), A), B),
              ?assertEqual(h(S512), ?C:hmac_final(St)),
              %% the state is unchanged by final and by update
              ?assertEqual(h(S512), ?C:hmac_final(St))
      end, rfc4231()).

hmac_interop_test() ->
    [begin
         Key = crypto:strong_rand_bytes(KL),
         Data = crypto:strong_rand_bytes(DL),
         ?assertEqual(crypto:mac(hmac, sha256, Key, Data), ?C:hmac(sha256, Key, Data)),
         ?assertEqual(crypto:mac(hmac, sha512, Key, Data), ?C:hmac(sha512, Key, Data))
     end || KL <- [0, 1, 32, 64, 65, 128, 129, 1000], DL <- [0, 1, 100, 200000]].

%% ---- AEAD --------------------------------------------------------------------------------

sunscreen() ->
    <<"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.">>.

key_80_9f() -> list_to_binary(lists:seq(16#80, 16#9f)).

%% RFC 8439, 2.8.2.
chacha20poly1305_vector_test() ->
    {ok, K} = ?C:aead_key(chacha20poly1305, key_80_9f()),
    Nonce = h("070000004041424344454647"),
    AD = h("50515253c0c1c2c3c4c5c6c7"),
    Want = h(["d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca967",
              "1282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee32809",
              "1b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
              "1ae10b594f09e26a7e902ecbd0600691"]),
    ?assertEqual(Want, ?C:aead_seal(K, Nonce, AD, sunscreen())),
    ?assertEqual({ok, sunscreen()}, ?C:aead_open(K, Nonce, AD, Want)),
    {C, T} = crypto:crypto_one_time_aead(chacha20_poly1305, key_80_9f(), Nonce, sunscreen(), AD,
                                         true),
    ?assertEqual(Want, <<C/binary, T/binary>>).

%% draft-irtf-cfrg-xchacha-03, A.3.1.
xchacha20poly1305_vector_test() ->
    {ok, K} = ?C:aead_key(xchacha20poly1305, key_80_9f()),
    Nonce = h("404142434445464748494a4b4c4d4e4f5051525354555657"),
    AD = h("50515253c0c1c2c3c4c5c6c7"),
    Want = h(["bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6",
              "440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1",
              "bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e",
              "c0875924c1c7987947deafd8780acf49"]),
    ?assertEqual(Want, ?C:aead_seal(K, Nonce, AD, sunscreen())),
    ?assertEqual({ok, sunscreen()}, ?C:aead_open(K, Nonce, AD, Want)).

%% The GCM specification's (McGrew and Viega) 256-bit test cases 13, 14 and 16. On x86-64
%% they must run: AES-GCM is required there, not skipped.
aes256gcm_vector_test() ->
    case erlang:system_info(system_architecture) of
        "x86_64" ++ _ -> ?assertMatch({ok, _}, ?C:aead_key(aes256gcm));
        _ -> ok
    end,
    case ?C:aead_key(aes256gcm) of
        {error, {unsupported, aes256gcm}} ->
            ?assertMatch({error, {unsupported, aes256gcm}}, ?C:aead_key(aes256gcm, <<0:256>>));
        {ok, _} ->
            Cases =
                [{<<0:256>>, <<0:96>>, <<>>, <<>>, <<>>, "530f8afbc74536b9a963b4f1c4cb738b"},
                 {<<0:256>>, <<0:96>>, <<>>, <<0:128>>, "cea7403d4d606b6e074ec5d3baf39d18",
                  "d0d1c8a799996bf0265b98b5d48ab919"},
                 {h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
                  h("cafebabefacedbaddecaf888"), h("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
                  h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809"
                    "532fcf0e2449a6b525b16aedf5aa0de657ba637b39"),
                  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3d"
                  "a7b08b1056828838c5f61e6393ba7a0abcc9f662",
                  "76fc6ece0f4e1768cddf8853bb2d551b"}],
            lists:foreach(
              fun({Key, IV, AD, P, C, T}) ->
                      {ok, K} = ?C:aead_key(aes256gcm, Key),
                      Want = <<(h(C))/binary, (h(T))/binary>>,
                      ?assertEqual(Want, ?C:aead_seal(K, IV, AD, P)),
                      ?assertEqual({ok, P}, ?C:aead_open(K, IV, AD, Want)),
                      {OC, OT} = crypto:crypto_one_time_aead(aes_256_gcm, Key, IV, P, AD, true),
                      ?assertEqual(Want, <<OC/binary, OT/binary>>)
              end, Cases)
    end.

aead_interop_test() ->
    Algs = [{chacha20poly1305, chacha20_poly1305}] ++
        [{aes256gcm, aes_256_gcm} || element(1, ?C:aead_key(aes256gcm)) =:= ok],
    [begin
         Key = crypto:strong_rand_bytes(32),
         Nonce = crypto:strong_rand_bytes(12),
         AD = crypto:strong_rand_bytes(ADL),
         P = crypto:strong_rand_bytes(PL),
         {ok, K} = ?C:aead_key(Ours, Key),
         %% lattice seals, OTP opens
         Sealed = ?C:aead_seal(K, Nonce, AD, P),
         CL = byte_size(Sealed) - 16,
         <<C:CL/binary, T:16/binary>> = Sealed,
         ?assertEqual(P, crypto:crypto_one_time_aead(Otp, Key, Nonce, C, AD, T, false)),
         %% OTP seals, lattice opens
         {OC, OT} = crypto:crypto_one_time_aead(Otp, Key, Nonce, P, AD, true),
         ?assertEqual({ok, P}, ?C:aead_open(K, Nonce, AD, <<OC/binary, OT/binary>>))
     end || {Ours, Otp} <- Algs, PL <- [0, 1, 1024, 65536, 300000], ADL <- [0, 13]].

%% OTP's crypto_one_time_aead accepts a shortened tag on decryption; lattice's tag is always
%% all 16 bytes: a ciphertext with a cut tag does not open, under any cipher.
aead_short_tag_test() ->
    Key = crypto:strong_rand_bytes(32),
    Nonce = crypto:strong_rand_bytes(12),
    {C, T} = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, <<"hello">>, <<>>, 8,
                                         true),
    ?assertEqual(<<"hello">>,
                 crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, C, <<>>, T, false)),
    {ok, K} = ?C:aead_key(chacha20poly1305, Key),
    ?assertEqual({error, bad_mac}, ?C:aead_open(K, Nonce, <<>>, <<C/binary, T/binary>>)),
    Sealed = ?C:aead_seal(K, Nonce, <<>>, <<"hello">>),
    [?assertEqual({error, bad_mac}, ?C:aead_open(K, Nonce, <<>>, binary:part(Sealed, 0, N)))
     || N <- lists:seq(0, byte_size(Sealed) - 1)].

aead_negative_test() ->
    Algs = [xchacha20poly1305, chacha20poly1305] ++
        [aes256gcm || element(1, ?C:aead_key(aes256gcm)) =:= ok],
    [begin
         {ok, K} = ?C:aead_key(Alg),
         {ok, Other} = ?C:aead_key(Alg),
         N = ?C:aead_nonce(K),
         S = ?C:aead_seal(K, N, <<"ad">>, <<"some plaintext">>),
         ?assertEqual({ok, <<"some plaintext">>}, ?C:aead_open(K, N, [<<"a">>, $d], S)),
         ?assertEqual({error, bad_mac}, ?C:aead_open(Other, N, <<"ad">>, S)),
         ?assertEqual({error, bad_mac}, ?C:aead_open(K, N, <<"ae">>, S)),
         ?assertEqual({error, bad_mac}, ?C:aead_open(K, flip(N, 0), <<"ad">>, S)),
         [?assertEqual({error, bad_mac}, ?C:aead_open(K, N, <<"ad">>, flip(S, I)))
          || I <- lists:seq(0, byte_size(S) - 1)],
         ?assertEqual({error, bad_mac}, ?C:aead_open(K, N, <<"ad">>, <<S/binary, 0>>)),
         %% the empty plaintext: a tag alone
         E = ?C:aead_seal(K, N, <<>>, <<>>),
         ?assertEqual(16, byte_size(E)),
         ?assertEqual({ok, <<>>}, ?C:aead_open(K, N, <<>>, E))
     end || Alg <- Algs],
    ?assertEqual(24, byte_size(?C:aead_nonce(element(2, ?C:aead_key(xchacha20poly1305))))),
    ?assertEqual(12, byte_size(?C:aead_nonce(element(2, ?C:aead_key(chacha20poly1305))))).

%% ---- BLAKE2b and Argon2id ----------------------------------------------------------------

blake2b_vectors_test() ->
    %% RFC 7693, appendix A: BLAKE2b-512("abc")
    Abc = h("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc25"
            "2d5de4533cc9518d38aa8dbf1925ab92386edd4009923"),
    ?assertEqual(Abc, ?C:blake2b(<<"abc">>, #{size => 64})),
    ?assertEqual(Abc, crypto:hash(blake2b, <<"abc">>)),
    %% BLAKE2b-256 of nothing
    ?assertEqual(h("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"),
                 ?C:blake2b(<<>>)),
    %% blake2b-kat.txt (the BLAKE2 reference's keyed answers): key 00..3f, inputs of 0 and 1
    Key = list_to_binary(lists:seq(0, 63)),
    ?assertEqual(h("10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786b5e996e8f0f4e"
                   "b981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"),
                 ?C:blake2b(<<>>, #{key => Key, size => 64})),
    ?assertEqual(h("961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4187b0bc9fe30"
                   "492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd"),
                 ?C:blake2b(<<0>>, #{key => Key, size => 64})),
    %% streaming equals one shot, keyed and not; a state can be reused
    Data = crypto:strong_rand_bytes(100000),
    <<A:12345/binary, B/binary>> = Data,
    [begin
         S0 = ?C:blake2b_init(Opts),
         S1 = ?C:blake2b_update(S0, A),
         ?assertEqual(?C:blake2b(Data, Opts), ?C:blake2b_final(?C:blake2b_update(S1, B))),
         ?assertEqual(?C:blake2b(A, Opts), ?C:blake2b_final(S1)),
         ?assertEqual(?C:blake2b(<<>>, Opts), ?C:blake2b_final(S0))
     end || Opts <- [#{}, #{size => 16}, #{key => <<"k">>, size => 64}, #{key => Key}]].

%% libsodium's test/default/pwhash_argon2id.c, vectors 0 and 6 (its salt buffer takes the
%% first 16 bytes of the salt given there), answers from pwhash_argon2id.exp.
argon2id_vectors_test_() ->
    {timeout, 60,
     fun() ->
             P0 = h("a347ae92bce9f80f6f595a4480fc9c2fe7e7d7148d371e9487d75f5c23008ffae065577a928feb"
                    "d9b1973a5a95073acdbeb6a030cfc0d79caa2dc5cd011cef02c08da232d76d52dfbca38ca8dcbd"
                    "665b17d1665f7cf5fe59772ec909733b24de97d6f58d220b20c60d7c07ec1fd93c52c31020300c"
                    "6c1facd77937a597c7a6"),
             ?assertEqual(127, byte_size(P0)),
             Want0 = h("18acec5d6507739f203d1f5d9f1d862f7c2cdac4f19d2bdff64487e60d969e3ced615337b9e"
                       "ec6ac4461c6ca07f0939741e57c24d0005c7ea171a0ee1e7348249d135b38f222e4dad7b9a0"
                       "33ed83f5ca27277393e316582033c74affe2566a2bea47f91f0fd9fe49ece7e1f79f3ad6e9b"
                       "23e0277c8ecc4b313225748dd2a80f5679534a0700e246a79a49b3f74eb89ec6205fe1eeb94"
                       "1c73b1fcf1"),
             ?assertEqual(Want0, ?C:argon2id(P0, h("5541fbc995d5c197ba290346d2c559de"),
                                             #{ops => 5, mem => 7256678, size => 155})),
             P6 = h("b540beb016a5366524d4605156493f9874514a5aa58818cd0c6dfffaa9e90205f17b"),
             Want6 = h("7fb72409b0987f8190c3729710e98c3f80c5a8727d425fdcde7f3644d467fe973f5b5fee683"
                       "bd3fce812cb9ae5e9921a2d06c2f1905e4e839692f2b934b682f11a2fe2b90482ea5dd23486"
                       "3516dba6f52dc0702d324ec77d860c2e181f84472bd7104fedce071ffa93c5309494ad51623"
                       "d214447a7b2b1462dc7d5d55a1f6fd5b54ce024118d86f0c6489d16545aaa87b6689dad9f2f"
                       "b47fda9894f8e12b87d978b483ccd4cc5fd9595cdc7a818452f915ce2f7df95ec12b1c72e37"
                       "88d473441d884f9748eb14703c21b45d82fd667b85f5b2d98c13303b3fe76285531a826b6fc"
                       "0fe8e3dddecf"),
             ?assertEqual(Want6, ?C:argon2id(P6, h("44071f6d181561670bda728d43fb79b4"),
                                             #{ops => 1, mem => 1631659, size => 231})),
             %% the interactive default: 32 bytes, deterministic, salt-dependent
             Salt = <<0:128>>,
             D = ?C:argon2id(<<"passphrase">>, Salt, #{}),
             ?assertEqual(32, byte_size(D)),
             ?assertEqual(D, ?C:argon2id("passphrase", Salt, #{ops => interactive})),
             ?assertNotEqual(D, ?C:argon2id(<<"passphrase">>, <<1:128>>, #{}))
     end}.

%% ---- X25519 and kdf ------------------------------------------------------------------------

%% Two sealed messages under subkeys derived from two secret keys are equal exactly when the
%% keys are: the way to compare secrets without seeing them.
same_secret(A, B) ->
    {ok, KA} = ?C:kdf(A, 1, <<"lt-test!">>, chacha20poly1305),
    {ok, KB} = ?C:kdf(B, 1, <<"lt-test!">>, chacha20poly1305),
    ?C:aead_seal(KA, <<0:96>>, <<>>, <<"probe">>) =:= ?C:aead_seal(KB, <<0:96>>, <<>>, <<"probe">>).

kx_test() ->
    {ok, A} = ?C:keypair(kx),
    {ok, B} = ?C:keypair(kx),
    {ok, SA} = ?C:kx_shared(A, ?C:public_key(B)),
    {ok, SB} = ?C:kx_shared(B, ?C:public_key(A)),
    ?assert(same_secret(SA, SB)),
    ?assertMatch(#{kind := secret, size := 32}, ?C:key_info(SA)),
    {ok, C} = ?C:keypair(kx),
    {ok, SC} = ?C:kx_shared(A, ?C:public_key(C)),
    ?assertNot(same_secret(SA, SC)),
    %% small-order peer keys give the all-zero point: refused
    [?assertEqual({error, weak_public_key}, ?C:kx_shared(A, P))
     || P <- [<<0:256>>, <<1, 0:248>>,
              h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]].

kx_interop_test() ->
    {OtpPub, OtpPriv} = crypto:generate_key(ecdh, x25519),
    {ok, Ours} = ?C:keypair(kx),
    %% an OTP X25519 private key as a lattice key: the same public key
    {ok, Imported} = ?C:from_seed(kx, OtpPriv),
    ?assertEqual(OtpPub, ?C:public_key(Imported)),
    %% the shared secret OTP computes equals lattice's (compared through kdf)
    Shared = crypto:compute_key(ecdh, ?C:public_key(Ours), OtpPriv, x25519),
    {ok, SharedKey} = ?C:secret_key(Shared),
    {ok, S} = ?C:kx_shared(Ours, OtpPub),
    ?assert(same_secret(S, SharedKey)).

kdf_test() ->
    {ok, M} = ?C:secret_key(),
    {ok, A1} = ?C:kdf(M, 7, <<"context1">>, secret),
    {ok, A2} = ?C:kdf(M, 7, <<"context1">>, secret),
    {ok, B} = ?C:kdf(M, 8, <<"context1">>, secret),
    {ok, C} = ?C:kdf(M, 7, <<"context2">>, secret),
    ?assert(same_secret(A1, A2)),
    ?assertNot(same_secret(A1, B)),
    ?assertNot(same_secret(A1, C)),
    {ok, S1} = ?C:kdf(M, 1, <<"signkeys">>, sign),
    {ok, S2} = ?C:kdf(M, 1, <<"signkeys">>, sign),
    ?assertEqual(?C:public_key(S1), ?C:public_key(S2)),
    ?assertMatch(#{kind := secret, size := 48}, ?C:key_info(element(2, ?C:kdf(M, 1, <<"ctx-ctx!">>, {secret, 48})))),
    ?assertMatch(#{kind := aead, alg := xchacha20poly1305},
                 ?C:key_info(element(2, ?C:kdf(M, 1 bsl 64 - 1, <<"ctx-ctx!">>, xchacha20poly1305)))),
    ?assertMatch(#{kind := kx}, ?C:key_info(element(2, ?C:kdf(M, 0, <<"ctx-ctx!">>, kx)))).

%% libsodium's test/default/kdf.c (answers in kdf.exp): master key 00..1f, context
%% "KDF test", subkey 32 of 32 bytes. It is the seed of the derived sign key, compared through
%% its Ed25519 public key (the seed itself never leaves).
kdf_vector_test() ->
    {ok, M} = ?C:secret_key(list_to_binary(lists:seq(0, 31))),
    {ok, K} = ?C:kdf(M, 32, <<"KDF test">>, sign),
    Seed = h("154b291f11196737f8b7f491e4ca11764e0227d34f94295408a869f007aa8618"),
    {Pub, _} = crypto:generate_key(eddsa, ed25519, Seed),
    ?assertEqual(Pub, ?C:public_key(K)).

%% ---- the sealed export -----------------------------------------------------------------------

-define(CHEAP, #{ops => 1, mem => 8192}).

export_roundtrip_test_() ->
    {timeout, 120,
     fun() ->
             Keys = [element(2, ?C:keypair(sign)), element(2, ?C:keypair(kx)),
                     element(2, ?C:aead_key(xchacha20poly1305)),
                     element(2, ?C:aead_key(chacha20poly1305)),
                     element(2, ?C:secret_key(16)), element(2, ?C:secret_key(64))] ++
                 [element(2, ?C:aead_key(aes256gcm)) || element(1, ?C:aead_key(aes256gcm)) =:= ok],
             lists:foreach(
               fun(K) ->
                       E = ?C:export_secret(K, <<"correct horse">>, ?CHEAP),
                       #{size := Size} = Info = ?C:key_info(K),
                       ?assertEqual(57 + Size + 16, byte_size(E)),
                       <<"LTSK", 1, _/binary>> = E,
                       {ok, K2} = ?C:import_secret(E, [<<"correct">>, " horse"]),
                       ?assertEqual(Info, ?C:key_info(K2)),
                       same_key(K, K2),
                       ?assertEqual({error, bad_passphrase}, ?C:import_secret(E, <<"wrong">>))
               end, Keys),
             %% the default cost (interactive) works too
             {ok, S} = ?C:keypair(sign),
             E = ?C:export_secret(S, <<"pw">>),
             <<_:8/binary, Ops:32, MemKiB:32, _/binary>> = E,
             ?assertEqual({2, 65536}, {Ops, MemKiB}),
             {ok, S2} = ?C:import_secret(E, <<"pw">>),
             ?assertEqual(?C:public_key(S), ?C:public_key(S2))
     end}.

same_key(A, B) ->
    case ?C:key_info(A) of
        #{kind := K} when K =:= sign; K =:= kx -> ?assertEqual(?C:public_key(A), ?C:public_key(B));
        #{kind := aead} ->
            N = ?C:aead_nonce(A),
            ?assertEqual(?C:aead_seal(A, N, <<>>, <<"x">>), ?C:aead_seal(B, N, <<>>, <<"x">>));
        #{kind := secret, size := 32} -> ?assert(same_secret(A, B));
        #{kind := secret} -> ok %% only a 32-byte secret can be compared (as a kdf master)
    end.

export_tamper_test_() ->
    {timeout, 120,
     fun() ->
             {ok, K} = ?C:aead_key(xchacha20poly1305),
             E = ?C:export_secret(K, <<"pw">>, ?CHEAP),
             %% every single-byte change is refused: a header byte that no longer parses is
             %% malformed, anything else fails the tag
             lists:foreach(
               fun(I) ->
                       R = ?C:import_secret(flip(E, I), <<"pw">>),
                       ?assert(R =:= {error, malformed} orelse R =:= {error, bad_passphrase}),
                       case I of
                           _ when I < 8 -> ?assertEqual({error, malformed}, R);
                           56 -> ?assertEqual({error, malformed}, R); % the length
                           _ when I >= 16 -> ?assertEqual({error, bad_passphrase}, R);
                           _ -> ok
                       end
               end, lists:seq(0, byte_size(E) - 1)),
             [?assertEqual({error, malformed}, ?C:import_secret(binary:part(E, 0, N), <<"pw">>))
              || N <- lists:seq(0, byte_size(E) - 1)],
             ?assertEqual({error, malformed}, ?C:import_secret(<<E/binary, 0>>, <<"pw">>)),
             ?assertEqual({error, malformed}, ?C:import_secret(<<>>, <<"pw">>)),
             %% a cost above the caps is malformed before any work is done
             <<Head:8/binary, _:32, Mem:32, Rest/binary>> = E,
             ?assertEqual({error, malformed}, ?C:import_secret(<<Head/binary, 17:32, Mem:32, Rest/binary>>, <<"pw">>)),
             <<Head2:12/binary, _:32, Rest2/binary>> = E,
             ?assertEqual({error, malformed},
                          ?C:import_secret(<<Head2/binary, (1024 * 1024 + 1):32, Rest2/binary>>, <<"pw">>)),
             #{import_failures_malformed := M} = ?C:stats(),
             ?assert(M > 0)
     end}.

%% ---- slabs: 100k keys ------------------------------------------------------------------------

many_keys_test_() ->
    {timeout, 300,
     fun() ->
             #{keys_made := Before} = ?C:stats(),
             Keys = [element(2, ?C:keypair(sign)) || _ <- lists:seq(1, 100000)],
             #{keys_made := After, secrets_live := Live, slabs := Slabs, slabs_locked := Locked,
               slabs_unlocked := Unlocked, mlock_ok := MlockOk} = ?C:stats(),
             ?assertEqual(100000, After - Before),
             ?assert(Live >= 100000),
             %% 64-byte slots, 4096 to a 256 KiB slab: some tens of slabs, not 100k mappings
             ?assert(Slabs < 100),
             ?assertEqual(Slabs, Locked + Unlocked),
             ?assertEqual(Unlocked =:= 0, MlockOk),
             io:format(user, "~n100k keys: ~b slabs, ~b mlock'ed, ~b not~n",
                       [Slabs, Locked, Unlocked]),
             %% they all work
             Last = lists:last(Keys),
             ?assert(?C:verify(?C:public_key(Last), <<"m">>, ?C:sign(Last, <<"m">>))),
             ?assertEqual(100000, length(lists:usort([?C:public_key(K) || K <- Keys])))
     end}.

%% Freed keys are given back: after the last reference goes and a GC, the slots are free.
key_free_test() ->
    Self = self(),
    P = spawn(fun() ->
                      Keys = [element(2, ?C:keypair(sign)) || _ <- lists:seq(1, 5000)],
                      #{secrets_live := L} = ?C:stats(),
                      Self ! {live, L},
                      receive stop -> length(Keys) end
              end),
    During = receive {live, L} -> L end,
    Ref = monitor(process, P),
    P ! stop,
    receive {'DOWN', Ref, _, _, _} -> ok end,
    %% the destructors run once the process's heap is gone (soon, not at once)
    ?assert(wait_until(fun() -> maps:get(secrets_live, ?C:stats()) =< During - 5000 end, 100)).

wait_until(_, 0) -> false;
wait_until(F, N) ->
    case F() of
        true -> true;
        false -> timer:sleep(20), wait_until(F, N - 1)
    end.

%% Keys made, used and dropped from many processes at once (the slab allocator's lock, the
%% resource destructors on whatever thread collects them), and one key shared by all.
concurrent_keys_test_() ->
    {timeout, 120,
     fun() ->
             {ok, Shared} = ?C:keypair(sign),
             SharedPub = ?C:public_key(Shared),
             Self = self(),
             Pids = [spawn_link(
                       fun() ->
                               Results =
                                   [begin
                                        {ok, K} = ?C:keypair(sign),
                                        {ok, A} = ?C:aead_key(xchacha20poly1305),
                                        Msg = <<I:32, J:32>>,
                                        N = ?C:aead_nonce(A),
                                        {ok, Msg} = ?C:aead_open(A, N, <<>>, ?C:aead_seal(A, N, <<>>, Msg)),
                                        ?C:verify(?C:public_key(K), Msg, ?C:sign(K, Msg)) andalso
                                            ?C:verify(SharedPub, Msg, ?C:sign(Shared, Msg))
                                    end || J <- lists:seq(1, 500)],
                               Self ! {done, self(), lists:all(fun(X) -> X end, Results)}
                       end) || I <- lists:seq(1, 16)],
             [receive {done, P, Ok} -> ?assert(Ok) end || P <- Pids],
             #{slab_alloc_failures := 0} = ?C:stats()
     end}.

%% ---- counters, random bytes, equal -----------------------------------------------------------

stats_test() ->
    S0 = ?C:stats(),
    {ok, K} = ?C:keypair(sign),
    Sig = ?C:sign(K, <<"x">>),
    false = ?C:verify(?C:public_key(K), <<"y">>, Sig),
    S1 = ?C:stats(),
    ?assert(maps:get(signs, S1) > maps:get(signs, S0)),
    ?assert(maps:get(verify_failures, S1) > maps:get(verify_failures, S0)),
    ?assert(maps:get(keys_made, S1) > maps:get(keys_made, S0)),
    [?assert(is_integer(V) andalso V >= 0) || {Name, V} <- maps:to_list(S1), Name =/= mlock_ok],
    ?assert(is_boolean(maps:get(mlock_ok, S1))).

random_equal_test() ->
    ?assertEqual(<<>>, ?C:random_bytes(0)),
    ?assertEqual(1000000, byte_size(?C:random_bytes(1000000))),
    ?assertNotEqual(?C:random_bytes(32), ?C:random_bytes(32)),
    ?assert(?C:equal(<<>>, <<>>)),
    ?assert(?C:equal(<<"abc">>, <<"abc">>)),
    ?assertNot(?C:equal(<<"abc">>, <<"abd">>)),
    ?assertNot(?C:equal(<<"abc">>, <<"abcd">>)),
    Big = ?C:random_bytes(1 bsl 20),
    ?assert(?C:equal(Big, binary:copy(Big))),
    ?assertNot(?C:equal(Big, flip(Big, 1 bsl 19))).

%% ---- badarg, explained -------------------------------------------------------------------------

%% Every caller error raises badarg with lattice_crypto's error_info, and format_error names the
%% argument at fault (position Pos) with an explanation that contains Words.
badarg_test_() ->
    {ok, S} = ?C:keypair(sign),
    {ok, X} = ?C:keypair(kx),
    {ok, A} = ?C:aead_key(xchacha20poly1305),
    {ok, M} = ?C:secret_key(),
    {ok, M16} = ?C:secret_key(16),
    St = ?C:blake2b_init(),
    Cases =
        [{keypair, [aead], 1, "kind"},
         {aead_key, [aes128gcm], 1, "algorithm"},
         {aead_key, [chacha20poly1305, <<1, 2>>], 2, "32 bytes"},
         {secret_key, [15], 1, "16..64"},
         {secret_key, [<<0:8>>], 1, "16..64"},
         {secret_key, [foo], 1, "binary"},
         {from_seed, [<<0:248>>], 1, "32 bytes"},
         {from_seed, [aead, <<0:256>>], 1, "kind"},
         {to_seed, [A], 1, "sign"},
         {to_seed, [X], 1, "sign"},
         {key_info, [make_ref()], 1, "not one"},
         {key_info, [<<0:256>>], 1, "lattice_crypto key"},
         {public_key, [A], 1, "AEAD"},
         {sign, [A, <<"m">>], 1, "sign"},
         {sign, [S, foo], 2, "iodata"},
         {sign, [S, [1, 2, -1]], 2, "iodata"},
         {verify, [<<0:248>>, <<"m">>, <<0:512>>], 1, "32 bytes"},
         {verify, [S, <<"m">>, <<0:512>>], 1, "binary"},
         {verify, [<<0:256>>, <<"m">>, sig], 3, "binary"},
         {aead_seal, [S, <<0:192>>, <<>>, <<>>], 1, "AEAD"},
         {aead_seal, [A, <<0:96>>, <<>>, <<>>], 2, "24 bytes"},
         {aead_seal, [A, nonce, <<>>, <<>>], 2, "binary"},
         {aead_seal, [A, <<0:192>>, ad, <<>>], 3, "associated data"},
         {aead_seal, [A, <<0:192>>, <<>>, 42], 4, "plaintext"},
         {aead_open, [A, <<0:192>>, <<>>, "list"], 4, "ciphertext"},
         {aead_open, [M, <<0:192>>, <<>>, <<0:128>>], 1, "AEAD"},
         {aead_nonce, [S], 1, "AEAD"},
         {kdf, [A, 1, <<"12345678">>, secret], 1, "secret"},
         {kdf, [M16, 1, <<"12345678">>, secret], 1, "32-byte"},
         {kdf, [M, -1, <<"12345678">>, secret], 2, "subkey id"},
         {kdf, [M, 1 bsl 64, <<"12345678">>, secret], 2, "subkey id"},
         {kdf, [M, 1, <<"1234567">>, secret], 3, "8 bytes"},
         {kdf, [M, 1, <<"12345678">>, {secret, 65}], 4, "16..64"},
         {kdf, [M, 1, <<"12345678">>, blowfish], 4, "kind"},
         {kx_shared, [S, <<0:256>>], 1, "kx"},
         {kx_shared, [X, <<0:8>>], 2, "32 bytes"},
         {hmac, [md5, <<>>, <<>>], 1, "hash"},
         {hmac, [sha256, key, <<>>], 2, "iodata"},
         {hmac, [sha256, <<>>, data], 3, "iodata"},
         {hmac_init, [sha1, <<>>], 1, "hash"},
         {hmac_update, [make_ref(), <<>>], 1, "streaming state"},
         {hmac_update, [St, data], 2, "iodata"},
         {hmac_final, [not_a_state], 1, "streaming state"},
         {blake2b, [data, #{}], 1, "iodata"},
         {blake2b, [<<>>, #{size => 8}], 2, "16..64"},
         {blake2b, [<<>>, #{key => binary:copy(<<1>>, 65)}], 2, "at most 64"},
         {blake2b, [<<>>, #{colour => red}], 2, "colour"},
         {blake2b, [<<>>, [{size, 32}]], 2, "map"},
         {blake2b_init, [#{size => 65}], 1, "16..64"},
         {blake2b_update, [St, 1], 2, "iodata"},
         {blake2b_final, [A], 1, "streaming state"},
         {argon2id, [pw, <<0:128>>, #{}], 1, "passphrase"},
         {argon2id, [<<"pw">>, <<0:120>>, #{}], 2, "16 bytes"},
         {argon2id, [<<"pw">>, <<0:128>>, #{ops => 0}], 3, "ops"},
         {argon2id, [<<"pw">>, <<0:128>>, #{mem => 100}], 3, "mem"},
         {argon2id, [<<"pw">>, <<0:128>>, #{size => 8}], 3, "size"},
         {argon2id, [<<"pw">>, <<0:128>>, #{ops => extreme}], 3, "ops"},
         {argon2id, [<<"pw">>, <<0:128>>, #{speed => fast}], 3, "speed"},
         {random_bytes, [-1], 1, "number of bytes"},
         {random_bytes, [1 bsl 31], 1, "number of bytes"},
         {equal, [<<>>, "abc"], 2, "binary"},
         {equal, [abc, <<>>], 1, "binary"},
         {export_secret, [make_ref(), <<"pw">>, ?CHEAP], 1, "not one"},
         {export_secret, [S, pw, ?CHEAP], 2, "passphrase"},
         {export_secret, [S, <<"pw">>, #{ops => 17}], 3, "ops"},
         {export_secret, [S, <<"pw">>, #{mem => 2 bsl 30}], 3, "mem"},
         {import_secret, ["LTSK", <<"pw">>], 1, "binary"},
         {import_secret, [<<"LTSK">>, pw], 2, "passphrase"}],
    [{lists:flatten(io_lib:format("~p/~b argument ~b", [F, length(Args), Pos])),
      fun() -> badarg_explained(F, Args, Pos, Words) end}
     || {F, Args, Pos, Words} <- Cases].

badarg_explained(F, Args, Pos, Words) ->
    try apply(?C, F, Args) of
        R -> ?assertEqual({badarg_expected, F, Args}, {returned, R})
    catch error:badarg:Stack ->
            [{?C, F, Args2, Info} | _] = Stack,
            ?assertEqual(Args, Args2),
            ?assertEqual(#{module => ?C}, proplists:get_value(error_info, Info)),
            Explained = ?C:format_error(badarg, Stack),
            Text = maps:get(Pos, Explained, none),
            ?assertNotEqual(none, Text),
            ?assertNotEqual(nomatch, string:find(Text, Words)),
            ?assert(is_binary(?C:error_message(Stack)))
    end.

%% A key sent to another node (a term round trip through the external format of another node's
%% reference) is not a key there: badarg that says keys are node-local.
node_local_test() ->
    {ok, K} = ?C:keypair(sign),
    Bin = term_to_binary(K),
    ?assertEqual(K, binary_to_term(Bin)),
    %% the same reference number under another node name
    Foreign = binary_to_term(replace_node(Bin)),
    ?assertError(badarg, ?C:sign(Foreign, <<"m">>)),
    try ?C:public_key(Foreign) catch error:badarg:Stack ->
            #{1 := Text} = ?C:format_error(badarg, Stack),
            ?assertNotEqual(nomatch, string:find(Text, "node-local"))
    end.

%% The node name in the external format, changed to another of the same length.
replace_node(Bin) ->
    Node = atom_to_binary(node()),
    Other = binary:copy(<<"x">>, byte_size(Node)),
    New = binary:replace(Bin, Node, Other),
    ?assertNotEqual(Bin, New),
    New.

flip(Bin, I) ->
    <<Pre:I/binary, B, Post/binary>> = Bin,
    <<Pre/binary, (B bxor 16#01), Post/binary>>.
