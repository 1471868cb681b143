%% `make bench BENCH_GROUP=envelope': sealed envelopes, quorum certificates and the replay
%% window, against the same work done with OTP's crypto (OpenSSL) in the same run, medians per
%% call.
%%
%% <ul>
%% <li>envelope seal + open of 1 KB and 64 KB (ChaCha20-Poly1305 keyring: OTP has the cipher;
%%     the open includes the replay check and update), against crypto_one_time_aead sealing
%%     and opening the same plaintext under the same kind of header; XChaCha20-Poly1305 (the
%%     default, which OTP lacks) beside them;</li>
%% <li>signed envelopes, against the same AEAD plus crypto:sign/verify(eddsa);</li>
%% <li>quorum certificate verify for n = 4, 16, 64 signers (all signing), against n
%%     crypto:verify(eddsa) calls over the same statement;</li>
%% <li>the replay window alone: a check and an update.</li>
%% </ul>
-module(lattice_bench_envelope).

-export([rows/0]).

-define(E, lattice_envelope).
-define(TAG, <<"lattice.envelope.v1", 0>>).

rows() ->
    lists:append([envelope_rows(Size) || Size <- [1024, 65536]]) ++
        signed_rows(1024) ++ quorum_rows() ++ replay_rows().

keyring(Alg) ->
    {ok, M} = lattice_crypto:secret_key(),
    lattice_keyring:new(M, #{alg => Alg}).

%% Seal then open, each open with a new counter (the window takes each once).
seal_open(KR, R, P, Opts, OpenOpts) ->
    C = ?E:counter(),
    fun() ->
            Env = ?E:seal(P, KR, <<"node-1">>, ?E:next(C), Opts),
            {ok, _, _} = ?E:open(Env, KR, R, OpenOpts)
    end.

%% What the envelope does, with OTP: a header of the same size as associated data, a random
%% nonce, seal, open.
otp_seal_open(P) ->
    Key = crypto:strong_rand_bytes(32),
    fun() ->
            Nonce = crypto:strong_rand_bytes(12),
            AD = <<16#40, 1, 0, 2, 6, "node-1", 1:32, 7:64, Nonce/binary,
                   (byte_size(P) + 16):32>>,
            {C, T} = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, P, AD, true),
            P = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, C, AD, T, false)
    end.

envelope_rows(Size) ->
    P = crypto:strong_rand_bytes(Size),
    Label = size_label(Size),
    [{io_lib:format("envelope: seal + open, ~ts (ChaCha20-Poly1305)", [Label]),
      seal_open(keyring(chacha20poly1305), lattice_replay:new(), P, #{}, #{}),
      {"OTP crypto_one_time_aead seal + open", otp_seal_open(P)}, none},
     {io_lib:format("envelope: seal + open, ~ts (XChaCha20-Poly1305)", [Label]),
      seal_open(keyring(xchacha20poly1305), lattice_replay:new(), P, #{}, #{}), none, none}].

signed_rows(Size) ->
    P = crypto:strong_rand_bytes(Size),
    {ok, SK} = lattice_crypto:keypair(sign),
    Pub = lattice_crypto:public_key(SK),
    Seed = lattice_crypto:to_seed(SK),
    Key = crypto:strong_rand_bytes(32),
    Otp = fun() ->
                  Nonce = crypto:strong_rand_bytes(12),
                  AD = <<16#40, 1, 1, 2, 6, "node-1", 1:32, 7:64, Nonce/binary,
                         (byte_size(P) + 16):32>>,
                  {C, T} = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, P, AD,
                                                       true),
                  Body = <<AD/binary, C/binary, T/binary>>,
                  Sig = crypto:sign(eddsa, none, [?TAG, Body], [Seed, ed25519]),
                  true = crypto:verify(eddsa, none, [?TAG, Body], Sig, [Pub, ed25519]),
                  P = crypto:crypto_one_time_aead(chacha20_poly1305, Key, Nonce, C, AD, T, false)
          end,
    [{io_lib:format("envelope: signed seal + open, ~ts", [size_label(Size)]),
      seal_open(keyring(chacha20poly1305), lattice_replay:new(), P, #{sign => SK},
                #{signers => #{<<"node-1">> => Pub}}),
      {"OTP AEAD + crypto:sign/verify(eddsa)", Otp}, none}].

quorum_rows() ->
    [quorum_row(N) || N <- [4, 16, 64]].

quorum_row(N) ->
    Keys = [{iolist_to_binary(io_lib:format("node-~3..0b", [I])),
             element(2, lattice_crypto:keypair(sign))} || I <- lists:seq(1, N)],
    Set = lattice_quorum:new_set([{Id, lattice_crypto:public_key(K), 1} || {Id, K} <- Keys]),
    Digest = crypto:strong_rand_bytes(32),
    Votes = [lattice_quorum:vote(K, Id, <<"shard-1">>, 42, Digest) || {Id, K} <- Keys],
    {ok, QC} = lattice_quorum:certificate(<<"shard-1">>, 42, Digest, Votes),
    {ok, _} = lattice_quorum:verify(QC, Set, normal),
    Statement = [<<"lattice.quorum.v1", 0>>, lattice_quorum:statement(<<"shard-1">>, 42, Digest)],
    Pairs = [{lattice_crypto:public_key(K), maps:get(signature, V)}
             || {{_, K}, V} <- lists:zip(Keys, Votes)],
    [{Pub0, Sig0} | _] = Pairs,
    true = crypto:verify(eddsa, none, Statement, Sig0, [Pub0, ed25519]),
    {io_lib:format("quorum: verify, n = ~b", [N]),
     fun() -> {ok, _} = lattice_quorum:verify(QC, Set, normal) end,
     {io_lib:format("OTP crypto:verify(eddsa) x ~b", [N]),
      fun() -> [true = crypto:verify(eddsa, none, Statement, S, [P, ed25519]) || {P, S} <- Pairs]
      end}, none}.

replay_rows() ->
    R = lattice_replay:new(),
    C = atomics:new(1, [{signed, false}]),
    [{"replay: check + update", fun() ->
                                        N = atomics:add_get(C, 1, 1),
                                        ok = lattice_replay:check(R, <<"node-1">>, N),
                                        ok = lattice_replay:update(R, <<"node-1">>, N)
                                end, none, none}].

size_label(1024) -> "1 KB";
size_label(65536) -> "64 KB".
