%% @private
%% The crypto NIF library's stub module. Every function here is replaced by its C version when
%% priv/lattice_crypto_nif.so (linked with libsodium) loads; call lattice_crypto and the modules
%% built on it rather than these.
-module(lattice_crypto_nif).

%% Every NIF, once: exported, and listed in -nifs (OTP 25 refuses to load the library when
%% -nifs misses one). nif/crypto/lt_crypto_nifs.h lists the same, with the C functions; keep
%% each part's names in its section, as there.
-define(NIFS, [
    %% ---- primitives and keys (lattice_crypto)
    stats/0, key_generate/3, key_from_bytes/3, key_info/1, public_key/1,
    sign/2, verify/3, to_seed/1, aead_seal/4, aead_open/4, kdf/6, kx_shared/2,
    hash/4, hash_init/3, hash_update/2, hash_final/1, argon2id/5, random_bytes/1, equal/2,
    export_secret/4, import_secret/2,
    %% ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto)
    replay_new/2, replay_check/3, replay_update/3, replay_greatest/2, replay_forget/2,
    replay_info/1, envelope_decode/2, cert_decode/1, crl_decode/1, quorum_decode/1,
    evidence_decode/1
    %% ---- the secure channel (crypto-channel)
    , chan_new/4, chan_start/3, chan_hs_read/3, chan_hs_write/2, chan_finish/2, chan_abort/2,
    chan_encrypt/3, chan_decrypt/3, chan_rekey_due/2, chan_info/1, chan_close/1,
    chan_ae_key/1
]).
-export(?NIFS).
-nifs(?NIFS).

-on_load(init/0).

-spec init() -> ok | {error, term()}.
init() ->
    Path = lattice_priv:path("lattice_crypto_nif"),
    case erlang:load_nif(Path, 0) of
        ok ->
            ok;
        {error, {Reason, Text}} = Error ->
            logger:error("lattice: cannot load the crypto NIF library ~ts.so (~p): ~ts~n~ts",
                         [Path, Reason, Text, hint(Reason, Text)]),
            Error
    end.

hint(load_failed, Text) ->
    case {string:find(Text, "libsodium"), string:find(Text, "cannot open shared object file")} of
        {nomatch, nomatch} ->
            "It was probably built against another OTP release: rebuild it with "
            "`make clean all` using the erl on PATH.";
        {nomatch, _} ->
            "It has not been built: run `make` in the lattice directory "
            "(mix and rebar3 do this when they compile lattice).";
        _ ->
            "libsodium is missing: install it (Debian: libsodium23, or `make deps`), then "
            "`make clean all`."
    end;
hint(bad_lib, _) ->
    "The library does not match this module (stale build?): run `make clean all`.";
hint(load, _) ->
    "The library's load failed: libsodium could not initialize, or a resource type could not "
    "be opened.";
hint(_, _) ->
    "".

-define(NOT_LOADED, erlang:nif_error({not_loaded, ?MODULE})).

%% ---- primitives and keys (lattice_crypto)
stats() -> ?NOT_LOADED.
key_generate(_, _, _) -> ?NOT_LOADED.
key_from_bytes(_, _, _) -> ?NOT_LOADED.
key_info(_) -> ?NOT_LOADED.
public_key(_) -> ?NOT_LOADED.
sign(_, _) -> ?NOT_LOADED.
verify(_, _, _) -> ?NOT_LOADED.
to_seed(_) -> ?NOT_LOADED.
aead_seal(_, _, _, _) -> ?NOT_LOADED.
aead_open(_, _, _, _) -> ?NOT_LOADED.
kdf(_, _, _, _, _, _) -> ?NOT_LOADED.
kx_shared(_, _) -> ?NOT_LOADED.
hash(_, _, _, _) -> ?NOT_LOADED.
hash_init(_, _, _) -> ?NOT_LOADED.
hash_update(_, _) -> ?NOT_LOADED.
hash_final(_) -> ?NOT_LOADED.
argon2id(_, _, _, _, _) -> ?NOT_LOADED.
random_bytes(_) -> ?NOT_LOADED.
equal(_, _) -> ?NOT_LOADED.
export_secret(_, _, _, _) -> ?NOT_LOADED.
import_secret(_, _) -> ?NOT_LOADED.
%% ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto)
replay_new(_, _) -> ?NOT_LOADED.
replay_check(_, _, _) -> ?NOT_LOADED.
replay_update(_, _, _) -> ?NOT_LOADED.
replay_greatest(_, _) -> ?NOT_LOADED.
replay_forget(_, _) -> ?NOT_LOADED.
replay_info(_) -> ?NOT_LOADED.
envelope_decode(_, _) -> ?NOT_LOADED.
cert_decode(_) -> ?NOT_LOADED.
crl_decode(_) -> ?NOT_LOADED.
quorum_decode(_) -> ?NOT_LOADED.
evidence_decode(_) -> ?NOT_LOADED.
%% ---- the secure channel (crypto-channel)
chan_new(_, _, _, _) -> ?NOT_LOADED.
chan_start(_, _, _) -> ?NOT_LOADED.
chan_hs_read(_, _, _) -> ?NOT_LOADED.
chan_hs_write(_, _) -> ?NOT_LOADED.
chan_finish(_, _) -> ?NOT_LOADED.
chan_abort(_, _) -> ?NOT_LOADED.
chan_encrypt(_, _, _) -> ?NOT_LOADED.
chan_decrypt(_, _, _) -> ?NOT_LOADED.
chan_rekey_due(_, _) -> ?NOT_LOADED.
chan_info(_) -> ?NOT_LOADED.
chan_close(_) -> ?NOT_LOADED.
chan_ae_key(_) -> ?NOT_LOADED.
