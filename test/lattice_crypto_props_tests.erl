%% PropEr properties of lattice_crypto: AEAD round trips and single-byte forgeries under every
%% algorithm, agreement with OTP's crypto on random inputs (ChaCha20-Poly1305, AES-256-GCM,
%% HMAC, BLAKE2b-512, Ed25519), streaming in random pieces equals one shot, and no bytes crash
%% import_secret/2. Run by `rebar3 eunit`.
-module(lattice_crypto_props_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(C, lattice_crypto).

props_test_() ->
    Props = [P || {P, 0} <- ?MODULE:module_info(exports),
                  lists:prefix("prop_", atom_to_list(P))],
    [{atom_to_list(P), {timeout, 300,
                        fun() -> ?assert(proper:quickcheck(?MODULE:P(),
                                                           [{numtests, numtests()},
                                                            {to_file, user}, long_result]) =:= true)
                        end}}
     || P <- lists:sort(Props)].

numtests() ->
    case os:getenv("LATTICE_PROPER_NUMTESTS") of
        false -> 300;
        N -> list_to_integer(N)
    end.

algs() ->
    [xchacha20poly1305, chacha20poly1305] ++
        [aes256gcm || element(1, ?C:aead_key(aes256gcm)) =:= ok].

otp_cipher(chacha20poly1305) -> chacha20_poly1305;
otp_cipher(aes256gcm) -> aes_256_gcm.

nonce_size(xchacha20poly1305) -> 24;
nonce_size(_) -> 12.

%% ---- properties ---------------------------------------------------------------------------

prop_aead_roundtrip_and_forgery() ->
    ?FORALL({Alg, Key, Plain, AD, Flip},
            {oneof(algs()), binary(32), binary(), binary(), non_neg_integer()},
            begin
                {ok, K} = ?C:aead_key(Alg, Key),
                Nonce = ?C:aead_nonce(K),
                Sealed = ?C:aead_seal(K, Nonce, AD, Plain),
                I = Flip rem byte_size(Sealed),
                <<Pre:I/binary, B, Post/binary>> = Sealed,
                Forged = <<Pre/binary, (B bxor (1 bsl (Flip rem 8))), Post/binary>>,
                byte_size(Sealed) =:= byte_size(Plain) + 16 andalso
                    ?C:aead_open(K, Nonce, AD, Sealed) =:= {ok, Plain} andalso
                    ?C:aead_open(K, Nonce, AD, Forged) =:= {error, bad_mac} andalso
                    ?C:aead_open(K, Nonce, <<AD/binary, 0>>, Sealed) =:= {error, bad_mac} andalso
                    byte_size(Nonce) =:= nonce_size(Alg)
            end).

prop_aead_matches_otp() ->
    ?FORALL({Alg, Key, Nonce, Plain, AD},
            {oneof(algs() -- [xchacha20poly1305]), binary(32), binary(12), binary(), binary()},
            begin
                {ok, K} = ?C:aead_key(Alg, Key),
                {C, T} = crypto:crypto_one_time_aead(otp_cipher(Alg), Key, Nonce, Plain, AD, true),
                ?C:aead_seal(K, Nonce, AD, Plain) =:= <<C/binary, T/binary>>
            end).

prop_macs_match_otp() ->
    ?FORALL({Key, Data}, {binary(), binary()},
            ?C:hmac(sha256, Key, Data) =:= crypto:mac(hmac, sha256, Key, Data) andalso
                ?C:hmac(sha512, Key, Data) =:= crypto:mac(hmac, sha512, Key, Data) andalso
                ?C:blake2b(Data, #{size => 64}) =:= crypto:hash(blake2b, Data)).

prop_streaming_equals_one_shot() ->
    ?FORALL({Key, Pieces}, {binary(), list(binary())},
            begin
                Data = iolist_to_binary(Pieces),
                H = lists:foldl(fun(P, S) -> ?C:hmac_update(S, P) end,
                                ?C:hmac_init(sha256, Key), Pieces),
                BKey = binary:part(<<Key/binary, 0:512>>, 0, 32),
                B = lists:foldl(fun(P, S) -> ?C:blake2b_update(S, P) end,
                                ?C:blake2b_init(#{key => BKey}), Pieces),
                ?C:hmac_final(H) =:= ?C:hmac(sha256, Key, Data) andalso
                    ?C:blake2b_final(B) =:= ?C:blake2b(Data, #{key => BKey})
            end).

prop_ed25519_matches_otp() ->
    ?FORALL({Seed, Msg}, {binary(32), binary()},
            begin
                {ok, K} = ?C:from_seed(Seed),
                {Pub, _} = crypto:generate_key(eddsa, ed25519, Seed),
                Sig = ?C:sign(K, Msg),
                Sig =:= crypto:sign(eddsa, none, Msg, [Seed, ed25519]) andalso
                    ?C:public_key(K) =:= Pub andalso ?C:verify(Pub, Msg, Sig)
            end).

%% Any bytes given to import_secret/2 give malformed or bad_passphrase (never a crash); with a
%% "LTSK" version-1 prefix, the cheapest cost and a valid length, some parse and fail the tag.
prop_import_never_crashes() ->
    ?FORALL(Bytes, oneof([binary(), sealed_like()]),
            case ?C:import_secret(Bytes, <<"pw">>) of
                {error, malformed} -> true;
                {error, bad_passphrase} -> true;
                Other -> Other
            end).

sealed_like() ->
    ?LET({Kind, Rest}, {oneof([1, 2, 3, 4]), binary(48)},
         begin
             {Alg, Len} = case Kind of 3 -> {1, 32}; 4 -> {0, 16}; _ -> {0, 32} end,
             Body = binary:part(<<Rest/binary, 0:(8 * 64)>>, 0, Len + 16),
             <<"LTSK", 1, Kind, Alg, 1, 1:32, 8:32, 0:128, 0:192, Len, Body/binary>>
         end).
