%% `make bench BENCH_GROUP=channel': the secure channel (lattice_channel) against OTP's crypto
%% doing the same primitives, timed in the same run, medians per call.
%%
%% <ul>
%% <li>a whole handshake: both sides in this process, three messages, each side verifying the
%%     other's lattice_cert certificate (an Ed25519 verify each), beside OTP crypto doing the
%%     handshake's X25519 work alone (two ephemeral key pairs and the six DH operations of XX):
%%     a floor for any implementation of the same handshake over OTP;</li>
%% <li>a transport message of 1 KB and of 64 KB, encrypted by one side and decrypted by the
%%     other (counter, replay window, lock), beside OTP's ChaCha20-Poly1305 encrypt and decrypt
%%     of the same bytes (crypto_one_time_aead, the same cipher) with nothing else.</li>
%% </ul>
-module(lattice_bench_channel).

-export([rows/0]).

rows() ->
    {ok, Auth} = lattice_crypto:keypair(sign),
    OA = node_opts(Auth, <<"a">>, 1),
    OB = node_opts(Auth, <<"b">>, 2),
    {ok, A, B} = connect(OA, OB),
    Key = crypto:strong_rand_bytes(32),
    Iv = crypto:strong_rand_bytes(12),
    [{"channel: handshake, 3 messages, both sides, certificates verified",
      fun() -> {ok, _, _} = connect(OA, OB) end,
      {"OTP crypto: its X25519 work alone (2 key pairs, 6 DH)", fun otp_xx_dh/0},
      none}
     | [{lists:flatten(io_lib:format("channel: encrypt + decrypt ~s", [label(Size)])),
         fun() ->
                 {ok, [M], _} = lattice_channel:encrypt(A, Plain),
                 {ok, _, _} = lattice_channel:decrypt(B, M)
         end,
         {"OTP crypto_one_time_aead chacha20_poly1305 encrypt + decrypt",
          fun() ->
                  {C, T} = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Iv, Plain, <<>>,
                                                       true),
                  _ = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Iv, C, <<>>, T, false)
          end},
         none}
        || Size <- [1024, 65536], Plain <- [crypto:strong_rand_bytes(Size)]]].

label(1024) -> "1 KB";
label(65536) -> "64 KB".

node_opts(Auth, Name, Serial) ->
    {ok, Kx} = lattice_crypto:keypair(kx),
    {ok, Sign} = lattice_crypto:keypair(sign),
    Now = erlang:system_time(second),
    Cert = lattice_cert:issue(Auth, #{cluster => <<"bench">>, node => Name,
                                      sign_pub => lattice_crypto:public_key(Sign),
                                      kx_pub => lattice_crypto:public_key(Kx),
                                      not_before => Now - 60, not_after => Now + 86400,
                                      serial => Serial}),
    #{cluster => <<"bench">>, static => Kx, certificate => Cert,
      authority => lattice_crypto:public_key(Auth)}.

connect(OA, OB) ->
    {ok, A0, [M1]} = lattice_channel:initiate(OA),
    {ok, B0} = lattice_channel:respond(OB),
    {ok, B1, [M2]} = lattice_channel:handle_handshake_message(B0, M1),
    {ok, A1, [M3]} = lattice_channel:handle_handshake_message(A0, M2),
    {ok, B2, []} = lattice_channel:handle_handshake_message(B1, M3),
    {ok, A1, B2}.

%% XX's DH work: each side makes an ephemeral pair; ee, es, se on each side (the statics are
%% made once: they are long-lived).
otp_xx_dh() ->
    {IsP, IsS} = statics(i),
    {RsP, RsS} = statics(r),
    {IeP, IeS} = crypto:generate_key(ecdh, x25519),
    {ReP, ReS} = crypto:generate_key(ecdh, x25519),
    _ = crypto:compute_key(ecdh, ReP, IeS, x25519), % initiator ee
    _ = crypto:compute_key(ecdh, RsP, IeS, x25519), % initiator es
    _ = crypto:compute_key(ecdh, ReP, IsS, x25519), % initiator se
    _ = crypto:compute_key(ecdh, IeP, ReS, x25519), % responder ee
    _ = crypto:compute_key(ecdh, IeP, RsS, x25519), % responder es
    _ = crypto:compute_key(ecdh, IsP, ReS, x25519), % responder se
    ok.

statics(Who) ->
    case get({bench_static, Who}) of
        undefined ->
            K = crypto:generate_key(ecdh, x25519),
            put({bench_static, Who}, K),
            K;
        K ->
            K
    end.
