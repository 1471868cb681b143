%% @doc Cryptographic primitives over libsodium, with keys whose secret halves never reach a
%% process heap.
%%
%% A {@type key()} is a resource: its secret bytes live in slabs of locked, guarded memory
%% (`sodium_malloc'd, `mlock'ed where the process may, wiped when the last reference goes), and
%% leave it only through {@link export_secret/3} (sealed under an Argon2id-derived key) or
%% {@link to_seed/1} (the one call that gives a secret in the clear, for OTP's `crypto' and
%% other Ed25519 implementations). Keys are node-local: a key sent to another node arrives as
%% a reference to nothing. docs/CRYPTO.md describes the slabs, the sealed format and the
%% scheduler cut-offs.
%%
%% <ul>
%% <li>Signatures: Ed25519 ({@link keypair/1} `sign', {@link sign/2}, {@link verify/3}),
%%     importing and exporting OTP's 32-byte seeds ({@link from_seed/1}, {@link to_seed/1}).</li>
%% <li>AEAD: XChaCha20-Poly1305-IETF (the default: random 24-byte nonces are safe),
%%     ChaCha20-Poly1305-IETF (RFC 8439) and AES-256-GCM where the CPU has AES-NI
%%     (`{error, {unsupported, aes256gcm}}' where not, when the key is made). The tag is always
%%     16 bytes, at the end of the ciphertext; no shorter tag is accepted.</li>
%% <li>Key exchange: X25519 ({@link kx_shared/2}); subkeys with `crypto_kdf' ({@link kdf/4}).</li>
%% <li>HMAC-SHA-256/512 with keys of any length, BLAKE2b (keyed, streaming), Argon2id, random
%%     bytes, constant-time compare.</li>
%% </ul>
%%
%% Errors (docs/ERRORS.md): a caller's bug raises `badarg' with an explanation
%% ({@link format_error/2}); bad data gives `{error, Reason}' (`bad_mac', `weak_public_key',
%% `bad_passphrase', `malformed', `{unsupported, aes256gcm}'); running out of memory raises
%% `enomem'.
%%
%% Schedulers: inputs above a cut-off (some tens of KB, docs/CRYPTO.md) run on a dirty CPU
%% scheduler, smaller ones inline; Argon2id and the sealed export always run dirty. iodata
%% that is not a binary is flattened first with `iolist_to_binary/1', which yields.
-module(lattice_crypto).

-export([keypair/1, aead_key/1, aead_key/2, secret_key/0, secret_key/1, from_seed/1,
         from_seed/2, to_seed/1, key_info/1, public_key/1]).
-export([sign/2, verify/3]).
-export([aead_seal/4, aead_open/4, aead_nonce/1]).
-export([kdf/4, kx_shared/2]).
-export([hmac/3, hmac_init/2, hmac_update/2, hmac_final/1]).
-export([blake2b/1, blake2b/2, blake2b_init/0, blake2b_init/1, blake2b_update/2,
         blake2b_final/1]).
-export([argon2id/3, random_bytes/1, equal/2]).
-export([export_secret/2, export_secret/3, import_secret/2]).
-export([stats/0]).
-export([format_error/2, error_message/1]).

-type key() :: reference().
%% A key resource (opaque). Made by {@link keypair/1}, {@link aead_key/1}, {@link secret_key/0},
%% {@link from_seed/1}, {@link kdf/4}, {@link kx_shared/2}, {@link import_secret/2}.
-type aead_alg() :: xchacha20poly1305 | chacha20poly1305 | aes256gcm.
-type kind() :: sign | kx | aead_alg() | secret | {secret, 16..64}.
-type hash_state() :: reference().
%% A streaming HMAC or BLAKE2b state (opaque, immutable: an update gives a new state).
-type key_info() :: #{kind := sign | kx | aead | secret, alg := aead_alg() | none,
                      size := pos_integer()}.
-type cost() :: interactive | moderate | sensitive | pos_integer().
-type argon2_opts() :: #{ops => cost(), mem => cost(), size => 16..1024}.
-export_type([key/0, aead_alg/0, kind/0, hash_state/0, key_info/0, argon2_opts/0]).

-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).
-define(N, lattice_crypto_nif).
-define(AEADS, [xchacha20poly1305, chacha20poly1305, aes256gcm]).
%% libsodium's Argon2id levels: crypto_pwhash_OPSLIMIT_* and MEMLIMIT_* (bytes).
-define(OPS(L), element(1, level(L))).
-define(MEM(L), element(2, level(L))).

%% ---- keys --------------------------------------------------------------------------------

%% @doc A fresh key pair: `sign' for Ed25519, `kx' for X25519.
-spec keypair(sign | kx) -> {ok, key()}.
keypair(Kind) when Kind =:= sign; Kind =:= kx ->
    ?N:key_generate(Kind, none, 32);
keypair(Kind) ->
    ?BADARG([Kind]).

%% @doc A fresh random AEAD key of the algorithm; `{error, {unsupported, aes256gcm}}' on a CPU
%% without AES-NI.
-spec aead_key(aead_alg()) -> {ok, key()} | {error, {unsupported, aes256gcm}}.
aead_key(Alg) ->
    try ?N:key_generate(aead, aead_alg(Alg), 32) catch error:badarg -> ?BADARG([Alg]) end.

%% @doc An AEAD key of the algorithm from 32 bytes the caller has (to interoperate with another
%% implementation); the bytes are copied into slab memory.
-spec aead_key(aead_alg(), <<_:256>>) -> {ok, key()} | {error, {unsupported, aes256gcm}}.
aead_key(Alg, Bytes) ->
    try ?N:key_from_bytes(aead, aead_alg(Alg), Bytes) catch error:badarg -> ?BADARG([Alg, Bytes]) end.

%% @doc A fresh random 32-byte secret key: a {@link kdf/4} master key.
-spec secret_key() -> {ok, key()}.
secret_key() ->
    ?N:key_generate(secret, none, 32).

%% @doc A fresh random secret key of `Len' (16..64) bytes, or a secret key holding `Bytes'
%% (16..64 of them).
-spec secret_key(16..64 | binary()) -> {ok, key()}.
secret_key(Len) when is_integer(Len) ->
    try ?N:key_generate(secret, none, Len) catch error:badarg -> ?BADARG([Len]) end;
secret_key(Bytes) ->
    try ?N:key_from_bytes(secret, none, Bytes) catch error:badarg -> ?BADARG([Bytes]) end.

%% @doc The Ed25519 key of a 32-byte seed, as OTP's `crypto:generate_key(eddsa, ed25519)'
%% gives it (its second element) and `crypto:sign(eddsa, none, Msg, [Seed, ed25519])' takes it.
-spec from_seed(<<_:256>>) -> {ok, key()}.
from_seed(Seed) ->
    try ?N:key_from_bytes(sign, none, Seed) catch error:badarg -> ?BADARG([Seed]) end.

%% @doc The key of a 32-byte seed: `sign' (an Ed25519 seed) or `kx' (an X25519 secret scalar,
%% clamped when used, as OTP's `crypto:generate_key(ecdh, x25519, Priv)' takes it).
-spec from_seed(sign | kx, <<_:256>>) -> {ok, key()}.
from_seed(Kind, Seed) when Kind =:= sign; Kind =:= kx ->
    try ?N:key_from_bytes(Kind, none, Seed) catch error:badarg -> ?BADARG([Kind, Seed]) end;
from_seed(Kind, Seed) ->
    ?BADARG([Kind, Seed]).

%% @doc The 32-byte Ed25519 seed of a `sign' key, in the clear.
%%
%% The one call that gives a secret as a binary: OTP's `crypto' and every other Ed25519
%% implementation take the seed and nothing else, so handing a key to them needs it. It is an
%% explicit, named call (easy to find in a code review), counted in {@link stats/0}
%% (`seeds_exported'); to store or move a key, use {@link export_secret/3}, sealed.
-spec to_seed(key()) -> <<_:256>>.
to_seed(Key) ->
    try ?N:to_seed(Key) catch error:badarg -> ?BADARG([Key]) end.

%% @doc What a key is: its kind, its AEAD algorithm (or `none'), its secret's size in bytes
%% (32 for an Ed25519 key: the seed).
-spec key_info(key()) -> key_info().
key_info(Key) ->
    try ?N:key_info(Key) catch error:badarg -> ?BADARG([Key]) end.

%% @doc The 32-byte public key of a `sign' or `kx' key.
-spec public_key(key()) -> <<_:256>>.
public_key(Key) ->
    try ?N:public_key(Key) catch error:badarg -> ?BADARG([Key]) end.

%% ---- signatures --------------------------------------------------------------------------

%% @doc The detached Ed25519 signature (64 bytes) of `Message' by a `sign' key.
-spec sign(key(), iodata()) -> <<_:512>>.
sign(Key, Message) ->
    try ?N:sign(Key, bin(Message)) catch error:badarg -> ?BADARG([Key, Message]) end.

%% @doc Whether `Signature' is a valid Ed25519 signature of `Message' by the 32-byte
%% `PublicKey', with libsodium's strict checks (a non-canonical or small-order point and a
%% non-canonical S are refused). A signature that is not 64 bytes does not verify.
-spec verify(<<_:256>>, iodata(), binary()) -> boolean().
verify(PublicKey, Message, Signature) ->
    try ?N:verify(PublicKey, bin(Message), Signature)
    catch error:badarg -> ?BADARG([PublicKey, Message, Signature])
    end.

%% ---- AEAD --------------------------------------------------------------------------------

%% @doc Encrypts and authenticates `Plain', and authenticates `AD', under an AEAD key: the
%% ciphertext followed by the 16-byte tag. The nonce is 24 bytes for XChaCha20-Poly1305 (random
%% ones are safe: {@link aead_nonce/1}), 12 for ChaCha20-Poly1305 and AES-256-GCM (never reuse
%% one with a key: use a counter).
-spec aead_seal(key(), binary(), iodata(), iodata()) -> binary().
aead_seal(Key, Nonce, AD, Plain) ->
    try ?N:aead_seal(Key, Nonce, bin(AD), bin(Plain))
    catch error:badarg -> ?BADARG([Key, Nonce, AD, Plain])
    end.

%% @doc Checks and decrypts what {@link aead_seal/4} made: `{ok, Plain}', or
%% `{error, bad_mac}' when anything differs (key, nonce, AD, a byte of the ciphertext or of its
%% 16-byte tag, a ciphertext shorter than a tag).
-spec aead_open(key(), binary(), iodata(), binary()) -> {ok, binary()} | {error, bad_mac}.
aead_open(Key, Nonce, AD, Cipher) ->
    try ?N:aead_open(Key, Nonce, bin(AD), Cipher)
    catch error:badarg -> ?BADARG([Key, Nonce, AD, Cipher])
    end.

%% @doc A random nonce of the size the AEAD key's algorithm takes.
-spec aead_nonce(key()) -> binary().
aead_nonce(Key) ->
    case key_info(Key) of
        #{kind := aead, alg := xchacha20poly1305} -> random_bytes(24);
        #{kind := aead} -> random_bytes(12);
        _ -> ?BADARG([Key])
    end.

%% ---- derivation and exchange ------------------------------------------------------------

%% @doc The subkey `SubkeyId' of a 32-byte secret master key in an 8-byte `Context'
%% (libsodium's `crypto_kdf', BLAKE2b), made into a key of `Kind': `sign' and `kx' (from the
%% 32 derived bytes as a seed), an AEAD algorithm, `secret' (32 bytes) or `{secret, Len}'.
-spec kdf(key(), non_neg_integer(), <<_:64>>, kind()) ->
          {ok, key()} | {error, {unsupported, aes256gcm}}.
kdf(Master, SubkeyId, Context, Kind) ->
    try
        {K, A, L} = kind_spec(Kind),
        ?N:kdf(Master, SubkeyId, Context, K, A, L)
    catch error:_ -> ?BADARG([Master, SubkeyId, Context, Kind])
    end.

%% @doc The raw X25519 shared secret of a `kx' key and a peer's 32-byte public key, as a
%% 32-byte secret key (hash it, with {@link kdf/4}, before using it to encrypt).
%% `{error, weak_public_key}' for a peer key of small order (the result would be all zero).
-spec kx_shared(key(), <<_:256>>) -> {ok, key()} | {error, weak_public_key}.
kx_shared(Key, PeerPublic) ->
    try ?N:kx_shared(Key, PeerPublic) catch error:badarg -> ?BADARG([Key, PeerPublic]) end.

%% ---- MACs and hashes --------------------------------------------------------------------

%% @doc HMAC-SHA-256 (32 bytes) or HMAC-SHA-512 (64 bytes) of `Data' under `Key' (any length:
%% a key longer than the block is hashed first, as RFC 2104 says).
-spec hmac(sha256 | sha512, iodata(), iodata()) -> binary().
hmac(Alg, Key, Data) ->
    try ?N:hash(hmac_alg(Alg), bin(Key), 0, bin(Data))
    catch error:badarg -> ?BADARG([Alg, Key, Data])
    end.

%% @doc A streaming HMAC state; the key is copied into slab memory with the state.
-spec hmac_init(sha256 | sha512, iodata()) -> hash_state().
hmac_init(Alg, Key) ->
    try ?N:hash_init(hmac_alg(Alg), bin(Key), 0) catch error:badarg -> ?BADARG([Alg, Key]) end.

%% @doc The state after `Data' (the given state is unchanged and may be used again).
-spec hmac_update(hash_state(), iodata()) -> hash_state().
hmac_update(State, Data) ->
    try ?N:hash_update(State, bin(Data)) catch error:badarg -> ?BADARG([State, Data]) end.

%% @doc The MAC of what the state has seen (the state is unchanged).
-spec hmac_final(hash_state()) -> binary().
hmac_final(State) ->
    try ?N:hash_final(State) catch error:badarg -> ?BADARG([State]) end.

%% @doc BLAKE2b-256 of `Data'.
-spec blake2b(iodata()) -> <<_:256>>.
blake2b(Data) ->
    blake2b(Data, #{}).

%% @doc BLAKE2b of `Data': `size' bytes (16..64, default 32), keyed when `key' (1..64 bytes)
%% is given.
-spec blake2b(iodata(), #{key => iodata(), size => 16..64}) -> binary().
blake2b(Data, Opts) ->
    try
        {Key, Size} = blake2b_opts(Opts),
        ?N:hash(blake2b, Key, Size, bin(Data))
    catch error:_ -> ?BADARG([Data, Opts])
    end.

%% @doc A streaming BLAKE2b-256 state.
-spec blake2b_init() -> hash_state().
blake2b_init() ->
    blake2b_init(#{}).

%% @doc A streaming BLAKE2b state, with the options of {@link blake2b/2}.
-spec blake2b_init(#{key => iodata(), size => 16..64}) -> hash_state().
blake2b_init(Opts) ->
    try
        {Key, Size} = blake2b_opts(Opts),
        ?N:hash_init(blake2b, Key, Size)
    catch error:_ -> ?BADARG([Opts])
    end.

%% @doc The state after `Data' (the given state is unchanged and may be used again).
-spec blake2b_update(hash_state(), iodata()) -> hash_state().
blake2b_update(State, Data) ->
    try ?N:hash_update(State, bin(Data)) catch error:badarg -> ?BADARG([State, Data]) end.

%% @doc The digest of what the state has seen (the state is unchanged).
-spec blake2b_final(hash_state()) -> binary().
blake2b_final(State) ->
    try ?N:hash_final(State) catch error:badarg -> ?BADARG([State]) end.

%% ---- Argon2id, random bytes, compare ----------------------------------------------------

%% @doc Argon2id v1.3 of a passphrase and a 16-byte salt: `size' bytes (default 32). `ops' and
%% `mem' are libsodium's levels (`interactive', the default: 2 passes over 64 MiB; `moderate':
%% 3 over 256 MiB; `sensitive': 4 over 1 GiB) or numbers (passes; bytes, at least 8192).
%% Always on a dirty scheduler.
-spec argon2id(iodata(), <<_:128>>, argon2_opts()) -> binary().
argon2id(Passphrase, Salt, Opts) ->
    try
        [] = maps:keys(maps:without([ops, mem, size], Opts)),
        #{ops := Ops, mem := Mem, size := Size} =
            maps:merge(#{ops => interactive, mem => interactive, size => 32}, Opts),
        ?N:argon2id(bin(Passphrase), Salt, cost(ops, Ops), cost(mem, Mem), Size)
    catch error:badarg -> ?BADARG([Passphrase, Salt, Opts]);
          error:{badmatch, _} -> ?BADARG([Passphrase, Salt, Opts]);
          error:function_clause -> ?BADARG([Passphrase, Salt, Opts])
    end.

%% @doc `N' random bytes (libsodium's `randombytes_buf', from the kernel's getrandom).
-spec random_bytes(non_neg_integer()) -> binary().
random_bytes(N) ->
    try ?N:random_bytes(N) catch error:badarg -> ?BADARG([N]) end.

%% @doc Whether two binaries are equal, in time that depends on their length only
%% (`sodium_memcmp'); binaries of different lengths are unequal at once.
-spec equal(binary(), binary()) -> boolean().
equal(A, B) ->
    try ?N:equal(A, B) catch error:badarg -> ?BADARG([A, B]) end.

%% ---- the sealed export ------------------------------------------------------------------

%% @doc The key's secret sealed under `Passphrase' at the `interactive' Argon2id cost.
-spec export_secret(key(), iodata()) -> binary().
export_secret(Key, Passphrase) ->
    export_secret(Key, Passphrase, #{}).

%% @doc The key's secret sealed under `Passphrase': XChaCha20-Poly1305 under an Argon2id key
%% of a random salt, in the versioned format of docs/CRYPTO.md, with the kind and algorithm so
%% that {@link import_secret/2} makes the same key again. Options `ops' and `mem' as for
%% {@link argon2id/3} (`mem' at most 1 GiB, `ops' at most 16). Always on a dirty scheduler.
-spec export_secret(key(), iodata(), #{ops => cost(), mem => cost()}) -> binary().
export_secret(Key, Passphrase, Opts) ->
    try
        [] = maps:keys(maps:without([ops, mem], Opts)),
        #{ops := Ops, mem := Mem} = maps:merge(#{ops => interactive, mem => interactive}, Opts),
        ?N:export_secret(Key, bin(Passphrase), cost(ops, Ops), cost(mem, Mem) div 1024)
    catch error:badarg -> ?BADARG([Key, Passphrase, Opts]);
          error:{badmatch, _} -> ?BADARG([Key, Passphrase, Opts]);
          error:function_clause -> ?BADARG([Key, Passphrase, Opts])
    end.

%% @doc The key sealed by {@link export_secret/3}: `{error, bad_passphrase}' when the
%% passphrase is wrong or any byte changed, `{error, malformed}' when the binary is not an
%% export (of this format version, with a cost within the caps), `{error, {unsupported,
%% aes256gcm}}' for an AES-256-GCM key on a CPU without AES-NI.
-spec import_secret(binary(), iodata()) ->
          {ok, key()} | {error, bad_passphrase | malformed | {unsupported, aes256gcm}}.
import_secret(Sealed, Passphrase) ->
    try ?N:import_secret(Sealed, bin(Passphrase))
    catch error:badarg -> ?BADARG([Sealed, Passphrase])
    end.

%% ---- counters ---------------------------------------------------------------------------

%% @doc Counters since the library loaded: keys made and freed, secrets alive in slab memory
%% (`secrets_live': keys and streaming states), the slabs (`slabs', `slab_slots',
%% `slabs_locked', `slabs_unlocked', `mlock_ok': whether every slab is mlock'ed), and calls
%% (`signs', `verifies', `verify_failures', `seals', `opens', `open_failures_bad_mac', `macs',
%% `hashes', `kdf_derived', `kx_shared', `argon2id_runs', `exports', `imports', import
%% failures by reason, `seeds_exported', `dirty_calls').
-spec stats() -> #{atom() => non_neg_integer() | boolean()}.
stats() ->
    ?N:stats().

%% ---- helpers ----------------------------------------------------------------------------

bin(X) when is_binary(X) -> X;
bin(X) -> iolist_to_binary(X).

aead_alg(A) when A =:= xchacha20poly1305; A =:= chacha20poly1305; A =:= aes256gcm -> A;
aead_alg(_) -> erlang:error(badarg).

hmac_alg(sha256) -> sha256;
hmac_alg(sha512) -> sha512;
hmac_alg(_) -> erlang:error(badarg).

kind_spec(sign) -> {sign, none, 32};
kind_spec(kx) -> {kx, none, 32};
kind_spec(secret) -> {secret, none, 32};
kind_spec({secret, Len}) when is_integer(Len) -> {secret, none, Len};
kind_spec(Alg) -> {aead, aead_alg(Alg), 32}.

blake2b_opts(Opts) when is_map(Opts) ->
    Size = maps:get(size, Opts, 32),
    case maps:keys(maps:without([key, size], Opts)) of
        [] -> {bin(maps:get(key, Opts, <<>>)), Size};
        _ -> erlang:error(badarg)
    end.

level(interactive) -> {2, 64 * 1024 * 1024};
level(moderate) -> {3, 256 * 1024 * 1024};
level(sensitive) -> {4, 1024 * 1024 * 1024}.

cost(ops, L) when is_atom(L) -> ?OPS(L);
cost(mem, L) when is_atom(L) -> ?MEM(L);
cost(_, N) when is_integer(N), N > 0 -> N.

%% ---- explaining badarg ------------------------------------------------------------------

%% @doc The OTP `error_info' callback: what is wrong with each argument of a call that raised
%% `badarg'.
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, Args, _} | _]) when is_list(Args) ->
    explain(F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line, for the Elixir facade's `ArgumentError'; `undefined' when
%% the top frame is not a call of this module that raised with its `error_info'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack, fun explain/2).

explain(F, Args) ->
    lattice_error:explain(?MODULE, F, Args, checks(F, Args)).

checks(keypair, [Kind]) ->
    [{1, fun() -> one_of("the kind", Kind, [sign, kx]) end}];
checks(aead_key, [Alg]) ->
    [{1, fun() -> one_of("the algorithm", Alg, ?AEADS) end}];
checks(aead_key, [Alg, Bytes]) ->
    [{1, fun() -> one_of("the algorithm", Alg, ?AEADS) end},
     {2, fun() -> sized("the key bytes", Bytes, 32) end}];
checks(secret_key, [Len]) when is_integer(Len) ->
    [{1, fun() -> {error, fmt("the length must be 16..64 bytes, got: ~p", [Len])} end}];
checks(secret_key, [Bytes]) ->
    [{1, fun() -> between("the secret bytes", Bytes, 16, 64) end}];
checks(from_seed, [Seed]) ->
    [{1, fun() -> sized("the seed", Seed, 32) end}];
checks(from_seed, [Kind, Seed]) ->
    [{1, fun() -> one_of("the kind", Kind, [sign, kx]) end},
     {2, fun() -> sized("the seed", Seed, 32) end}];
checks(to_seed, [Key]) ->
    [{1, fun() -> key(Key, [sign]) end}];
checks(key_info, [Key]) ->
    [{1, fun() -> key(Key, any) end}];
checks(public_key, [Key]) ->
    [{1, fun() -> key(Key, [sign, kx]) end}];
checks(sign, [Key, Msg]) ->
    [{1, fun() -> key(Key, [sign]) end}, {2, fun() -> iodata("the message", Msg) end}];
checks(verify, [Pub, Msg, Sig]) ->
    [{1, fun() -> sized("the public key", Pub, 32) end},
     {2, fun() -> iodata("the message", Msg) end},
     {3, fun() -> binary("the signature", Sig) end}];
checks(F, [Key, Nonce, AD, Data]) when F =:= aead_seal; F =:= aead_open ->
    [{1, fun() -> key(Key, [aead]) end},
     {2, fun() -> nonce(Key, Nonce) end},
     {3, fun() -> iodata("the associated data", AD) end},
     {4, fun() when F =:= aead_seal -> iodata("the plaintext", Data);
            () -> binary("the ciphertext", Data)
         end}];
checks(aead_nonce, [Key]) ->
    [{1, fun() -> key(Key, [aead]) end}];
checks(kdf, [Master, Id, Ctx, Kind]) ->
    [{1, fun() -> master(Master) end},
     {2, fun() -> range("the subkey id", Id, 0, 1 bsl 64 - 1) end},
     {3, fun() -> sized("the context", Ctx, 8) end},
     {4, fun() -> kdf_kind(Kind) end}];
checks(kx_shared, [Key, Peer]) ->
    [{1, fun() -> key(Key, [kx]) end}, {2, fun() -> sized("the peer's public key", Peer, 32) end}];
checks(F, [Alg, Key, Data]) when F =:= hmac ->
    [{1, fun() -> one_of("the hash", Alg, [sha256, sha512]) end},
     {2, fun() -> iodata("the key", Key) end}, {3, fun() -> iodata("the data", Data) end}];
checks(hmac_init, [Alg, Key]) ->
    [{1, fun() -> one_of("the hash", Alg, [sha256, sha512]) end},
     {2, fun() -> iodata("the key", Key) end}];
checks(F, [State, Data]) when F =:= hmac_update; F =:= blake2b_update ->
    [{1, fun() -> state(State) end}, {2, fun() -> iodata("the data", Data) end}];
checks(F, [State]) when F =:= hmac_final; F =:= blake2b_final ->
    [{1, fun() -> state(State) end}];
checks(blake2b, [Data, Opts]) ->
    [{1, fun() -> iodata("the data", Data) end}, {2, fun() -> blake2b_opts_ok(Opts) end}];
checks(blake2b_init, [Opts]) ->
    [{1, fun() -> blake2b_opts_ok(Opts) end}];
checks(argon2id, [Pass, Salt, Opts]) ->
    [{1, fun() -> iodata("the passphrase", Pass) end},
     {2, fun() -> sized("the salt", Salt, 16) end},
     {3, fun() -> argon2_opts_ok(Opts, [ops, mem, size], 1 bsl 32 - 1, 4398046510080) end}];
checks(random_bytes, [N]) ->
    [{1, fun() -> range("the number of bytes", N, 0, 1 bsl 30) end}];
checks(equal, [A, B]) ->
    [{1, fun() -> binary("the first binary", A) end},
     {2, fun() -> binary("the second binary", B) end}];
checks(export_secret, [Key, Pass, Opts]) ->
    [{1, fun() -> key(Key, any) end}, {2, fun() -> iodata("the passphrase", Pass) end},
     {3, fun() -> argon2_opts_ok(Opts, [ops, mem], 16, 1 bsl 30) end}];
checks(import_secret, [Sealed, Pass]) ->
    [{1, fun() -> binary("the sealed key", Sealed) end},
     {2, fun() -> iodata("the passphrase", Pass) end}];
checks(_, _) ->
    [].

key(Key, Kinds) when is_reference(Key) ->
    try ?N:key_info(Key) of
        #{kind := Kind} ->
            case Kinds =:= any orelse lists:member(Kind, Kinds) of
                true -> ok;
                false -> {error, fmt("the key is ~ts key; this needs ~ts key",
                                     [a_kind(Kind), or_list([a_kind(K) || K <- Kinds])])}
            end
    catch error:badarg ->
            case node(Key) =:= node() of
                true -> {error, fmt("the key must be a lattice_crypto key, got a reference that "
                                    "is not one: ~ts", [show(Key)])};
                false -> {error, fmt("the key ~ts was made on node ~ts: keys are node-local "
                                     "(their secrets never leave the node's slab memory)",
                                     [show(Key), node(Key)])}
            end
    end;
key(Key, _) ->
    {error, fmt("the key must be a lattice_crypto key (keypair/1, aead_key/1, secret_key/0, "
                "from_seed/1, kdf/4, import_secret/2), got: ~ts", [show(Key)])}.

a_kind(sign) -> "a sign (Ed25519)";
a_kind(kx) -> "a kx (X25519)";
a_kind(aead) -> "an AEAD";
a_kind(secret) -> "a secret".

master(Key) ->
    case key(Key, [secret]) of
        ok ->
            case ?N:key_info(Key) of
                #{size := 32} -> ok;
                #{size := S} -> {error, fmt("the master key must be a 32-byte secret key, "
                                            "this one is ~b bytes", [S])}
            end;
        Error ->
            Error
    end.

kdf_kind(Kind) ->
    try kind_spec(Kind) of
        {secret, none, L} when L < 16; L > 64 ->
            {error, fmt("a {secret, Len} subkey is 16..64 bytes, got: ~p", [L])};
        _ -> ok
    catch error:_ ->
            {error, fmt("the kind must be sign, kx, secret, {secret, 16..64} or an AEAD "
                        "algorithm (~ts), got: ~ts", [or_list(?AEADS), show(Kind)])}
    end.

nonce(Key, Nonce) ->
    try ?N:key_info(Key) of
        #{kind := aead, alg := Alg} ->
            Size = case Alg of xchacha20poly1305 -> 24; _ -> 12 end,
            case Nonce of
                <<_:Size/binary>> -> ok;
                _ when is_binary(Nonce) ->
                    {error, fmt("the nonce of ~ts is ~b bytes, got ~b", [Alg, Size, byte_size(Nonce)])};
                _ -> binary("the nonce", Nonce)
            end;
        _ -> ok
    catch error:badarg -> ok
    end.

state(State) when is_reference(State) ->
    {error, fmt("the state must be a streaming state of hmac_init/2 or blake2b_init/0,1 made on "
                "this node, got: ~ts", [show(State)])};
state(State) ->
    {error, fmt("the state must be a streaming state of hmac_init/2 or blake2b_init/0,1, got: ~ts",
                [show(State)])}.

blake2b_opts_ok(Opts) when is_map(Opts) ->
    case maps:keys(maps:without([key, size], Opts)) of
        [] ->
            Size = maps:get(size, Opts, 32),
            Key = maps:get(key, Opts, <<>>),
            if not is_integer(Size); Size < 16; Size > 64 ->
                    {error, fmt("the size must be 16..64 bytes, got: ~ts", [show(Size)])};
               true ->
                    case iodata("the key", Key) of
                        ok -> key_size_ok(iolist_size(Key));
                        Other -> Other
                    end
            end;
        Unknown ->
            {error, fmt("the options are key and size, got also: ~ts", [show(Unknown)])}
    end;
blake2b_opts_ok(Opts) ->
    {error, fmt("the options must be a map (#{key => iodata(), size => 16..64}), got: ~ts",
                [show(Opts)])}.

key_size_ok(N) when N =< 64 -> ok;
key_size_ok(N) -> {error, fmt("a BLAKE2b key is at most 64 bytes, got ~b", [N])}.

argon2_opts_ok(Opts, Known, MaxOps, MaxMem) when is_map(Opts) ->
    case maps:keys(maps:without(Known, Opts)) of
        [] ->
            first_error([cost_ok(ops, maps:get(ops, Opts, interactive), 1, MaxOps),
                         cost_ok(mem, maps:get(mem, Opts, interactive), 8192, MaxMem),
                         range("the size", maps:get(size, Opts, 32), 16, 1024)]);
        Unknown ->
            {error, fmt("the options are ~ts, got also: ~ts", [or_list(Known), show(Unknown)])}
    end;
argon2_opts_ok(Opts, _, _, _) ->
    {error, fmt("the options must be a map (#{ops, mem, size}), got: ~ts", [show(Opts)])}.

cost_ok(What, L, _, Max) when L =:= interactive; L =:= moderate; L =:= sensitive ->
    case cost(What, L) =< Max of
        true -> ok;
        false -> {error, fmt("the ~ts level ~ts is above the cap here", [What, L])}
    end;
cost_ok(What, N, Min, Max) ->
    range(fmt("~ts (interactive, moderate, sensitive or a number)", [What]), N, Min, Max).

first_error(Results) ->
    case [E || {error, _} = E <- Results] of
        [] -> ok;
        [E | _] -> E
    end.

one_of(Word, X, Allowed) ->
    case lists:member(X, Allowed) of
        true -> ok;
        false -> {error, fmt("~ts must be one of ~ts, got: ~ts", [Word, or_list(Allowed), show(X)])}
    end.

sized(_, B, Size) when is_binary(B), byte_size(B) =:= Size -> ok;
sized(Word, B, Size) when is_binary(B) ->
    {error, fmt("~ts must be ~b bytes, got ~b", [Word, Size, byte_size(B)])};
sized(Word, B, Size) ->
    {error, fmt("~ts must be a binary of ~b bytes, got: ~ts", [Word, Size, show(B)])}.

between(_, B, Min, Max) when is_binary(B), byte_size(B) >= Min, byte_size(B) =< Max -> ok;
between(Word, B, Min, Max) when is_binary(B) ->
    {error, fmt("~ts must be ~b..~b bytes, got ~b", [Word, Min, Max, byte_size(B)])};
between(Word, B, Min, Max) ->
    {error, fmt("~ts must be a binary of ~b..~b bytes, got: ~ts", [Word, Min, Max, show(B)])}.

binary(_, B) when is_binary(B) -> ok;
binary(Word, B) -> {error, fmt("~ts must be a binary, got: ~ts", [Word, show(B)])}.

iodata(Word, X) ->
    try iolist_size(X) of
        _ -> ok
    catch error:badarg -> {error, fmt("~ts must be iodata (a binary or a list of bytes and "
                                      "binaries), got: ~ts", [Word, show(X)])}
    end.

range(_, N, Min, Max) when is_integer(N), N >= Min, N =< Max -> ok;
range(Word, N, Min, Max) ->
    {error, fmt("~ts must be an integer in ~b..~b, got: ~ts", [Word, Min, Max, show(N)])}.

or_list([A]) -> fmt("~ts", [A]);
or_list(L) ->
    {Init, [Last]} = lists:split(length(L) - 1, L),
    fmt("~ts or ~ts", [lists:join(", ", [fmt("~ts", [X]) || X <- Init]), Last]).

show(X) ->
    S = io_lib:format("~0tP", [X, 8]),
    lists:flatten(S).

fmt(F, A) ->
    lists:flatten(io_lib:format(F, A)).
