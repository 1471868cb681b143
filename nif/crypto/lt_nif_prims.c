/*
 * lt_nif_prims.c — the primitives over libsodium: Ed25519 sign/verify, AEAD seal/open,
 * crypto_kdf subkeys, X25519, HMAC-SHA-256/512, BLAKE2b (one-shot and streaming), Argon2id,
 * random bytes, constant-time compare, and the sealed export of keys.
 *
 * Every data argument is a binary (src/lattice_crypto.erl turns iodata into one with
 * iolist_to_binary/1, which yields). A call whose input is above its kind's cut-off moves to a
 * dirty CPU scheduler; below it runs inline. The cut-offs (docs/CRYPTO.md, "Schedulers") come
 * from `make bench BENCH_GROUP=crypto`'s "cut-off" rows: each is where the inline call takes
 * at most about 100 us on the bench machine, a tenth of a timeslice, so an inline call never
 * holds a scheduler for long, and a call that goes dirty does enough work that the move (a few
 * microseconds) is a small part of it.
 */
#include "lt_nif_key.h"

#include <sodium.h>
#include <string.h>

#include "lt_aead.h"
#include "lt_sealed.h"

/* Bytes above which each kind of call goes dirty. Inline times per call measured on the bench
 * machine (2 cores shared with other jobs; docs/CRYPTO.md has the table, `make bench
 * BENCH_GROUP=crypto` its "cut-off" rows), at the cut-off, quiet and at load 3-4:
 *   AEAD seal/open        ~1 ns a byte:     64 KiB in 48-63 us, ~106 us loaded
 *   Ed25519 sign/verify   ~25 / ~60 us of curve arithmetic, then ~8 / ~5 ns a byte (libsodium's
 *                         portable SHA-512, over the message twice to sign): 8 KiB in ~90 us
 *   HMAC-SHA-256/512      ~3.5-5 ns a byte: 16 KiB in 52-84 us, ~113 us loaded
 *   BLAKE2b               ~1.2 ns a byte: 48 KiB in ~57 us
 *   random_bytes          ~6 ns a byte (the getrandom syscall): 16 KiB in 92-106 us
 *   equal                 ~2.4 ns a byte (sodium_memcmp reads byte by byte): 24 KiB in ~58 us */
#define LT_DIRTY_AEAD_BYTES (64 * 1024)
#define LT_DIRTY_SIGN_BYTES (8 * 1024)
#define LT_DIRTY_HMAC_BYTES (16 * 1024)
#define LT_DIRTY_BLAKE2B_BYTES (48 * 1024)
#define LT_DIRTY_RANDOM_BYTES (16 * 1024)
#define LT_DIRTY_EQUAL_BYTES (24 * 1024)

/* random_bytes/1 and argon2id/3's output: at most this much at once. */
#define LT_RANDOM_MAX (1u << 30)
#define LT_ARGON2_OUT_MAX 1024

/* ---- signatures ------------------------------------------------------------------------- */

/* sign(Key, Message) -> <<_:512>>: the detached Ed25519 signature by a sign key. */
LT_CNIF(lt_cnif_sign) {
    const lt_key *k;
    ErlNifBinary msg;
    if (argc != 2 || !lt_nif_get_key(env, argv[0], &k) || k->kind != LT_KEY_SIGN ||
        !enif_inspect_binary(env, argv[1], &msg))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_SIGN_BYTES, env, "sign", lt_cnif_sign, argc, argv, msg.size);
    ERL_NIF_TERM t;
    unsigned char *sig = enif_make_new_binary(env, crypto_sign_BYTES, &t);
    if (sig == NULL)
        return lt_crypto_raise_nomem(env);
    if (lt_key_sign(k, sig, msg.data, msg.size) != 0) /* k is a sign key: cannot fail */
        return enif_make_badarg(env);
    lt_crypto_count(LT_CTR_signs, 1);
    return t;
}

/* verify(PublicKey, Message, Signature) -> boolean(): libsodium's checks (1.0.18 refuses a
 * non-canonical S, a small-order R or public key, and a non-canonical public key). A public
 * key that is not 32 bytes is a caller's bug (badarg); a signature of another size is data and
 * does not verify. */
LT_CNIF(lt_cnif_verify) {
    ErlNifBinary pk, msg, sig;
    if (argc != 3 || !enif_inspect_binary(env, argv[0], &pk) ||
        pk.size != crypto_sign_PUBLICKEYBYTES || !enif_inspect_binary(env, argv[1], &msg) ||
        !enif_inspect_binary(env, argv[2], &sig))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_SIGN_BYTES, env, "verify", lt_cnif_verify, argc, argv, msg.size);
    lt_crypto_count(LT_CTR_verifies, 1);
    int ok =
        sig.size == crypto_sign_BYTES && lt_ed25519_verify(pk.data, msg.data, msg.size, sig.data);
    if (!ok)
        lt_crypto_count(LT_CTR_verify_failures, 1);
    return ok ? lt_catom.true_ : lt_catom.false_;
}

/* to_seed(Key) -> <<_:256>>: the 32-byte Ed25519 seed of a sign key, as OTP's crypto takes it.
 * The one call that gives a secret in the clear (docs/CRYPTO.md says why); counted. */
LT_CNIF(lt_cnif_to_seed) {
    const lt_key *k;
    if (argc != 1 || !lt_nif_get_key(env, argv[0], &k) || k->kind != LT_KEY_SIGN)
        return enif_make_badarg(env);
    lt_crypto_count(LT_CTR_seeds_exported, 1);
    return lt_crypto_binary(env, k->secret.p, LT_KEY_SEED_BYTES);
}

/* ---- AEAD ------------------------------------------------------------------------------- */

static int aead_args(ErlNifEnv *env, const ERL_NIF_TERM argv[], const lt_key **k,
                     ErlNifBinary *nonce, ErlNifBinary *ad, ErlNifBinary *data) {
    return lt_nif_get_key(env, argv[0], k) && (*k)->kind == LT_KEY_AEAD &&
           enif_inspect_binary(env, argv[1], nonce) &&
           nonce->size == lt_aead_nonce_bytes((*k)->alg) && enif_inspect_binary(env, argv[2], ad) &&
           enif_inspect_binary(env, argv[3], data);
}

/* aead_seal(Key, Nonce, AD, Plain) -> Cipher (ciphertext ++ 16-byte tag). */
LT_CNIF(lt_cnif_aead_seal) {
    const lt_key *k;
    ErlNifBinary nonce, ad, plain;
    if (argc != 4 || !aead_args(env, argv, &k, &nonce, &ad, &plain) ||
        plain.size > lt_aead_max_plain(k->alg))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_AEAD_BYTES, env, "aead_seal", lt_cnif_aead_seal, argc, argv,
                          plain.size + ad.size);
    ERL_NIF_TERM t;
    unsigned char *out = enif_make_new_binary(env, plain.size + LT_AEAD_TAG_BYTES, &t);
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    if (lt_aead_seal(k, out, plain.data, plain.size, ad.data, ad.size, nonce.data) != 0)
        return enif_make_badarg(env);
    lt_crypto_count(LT_CTR_seals, 1);
    return t;
}

/* aead_open(Key, Nonce, AD, Cipher) -> {ok, Plain} | {error, bad_mac}. The tag is the last 16
 * bytes, always all 16 (no shorter tag is accepted); a Cipher under 16 bytes has no tag. */
LT_CNIF(lt_cnif_aead_open) {
    const lt_key *k;
    ErlNifBinary nonce, ad, cipher;
    if (argc != 4 || !aead_args(env, argv, &k, &nonce, &ad, &cipher))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_AEAD_BYTES, env, "aead_open", lt_cnif_aead_open, argc, argv,
                          cipher.size + ad.size);
    lt_crypto_count(LT_CTR_opens, 1);
    if (cipher.size < LT_AEAD_TAG_BYTES) {
        lt_crypto_count(LT_CTR_open_failures_bad_mac, 1);
        return lt_crypto_error(env, lt_catom.bad_mac);
    }
    ErlNifBinary out;
    if (!enif_alloc_binary(cipher.size - LT_AEAD_TAG_BYTES, &out))
        return lt_crypto_raise_nomem(env);
    if (lt_aead_open(k, out.data, cipher.data, cipher.size, ad.data, ad.size, nonce.data) != 0) {
        enif_release_binary(&out);
        lt_crypto_count(LT_CTR_open_failures_bad_mac, 1);
        return lt_crypto_error(env, lt_catom.bad_mac);
    }
    return lt_crypto_ok(env, enif_make_binary(env, &out));
}

/* ---- key derivation and exchange -------------------------------------------------------- */

/* A temporary secret in slab memory (wiped when freed), or a raised enomem. */
#define WITH_TEMP(env, name, len)                                                                  \
    lt_secret name;                                                                                \
    if (lt_secret_alloc(&name, (len)) != 0)                                                        \
    return lt_crypto_raise_nomem(env)

static int get_kind_spec(ErlNifEnv *env, const ERL_NIF_TERM argv[], lt_key_kind *kind,
                         lt_aead_alg *alg, unsigned *len) {
    if (enif_is_identical(argv[0], lt_catom.sign))
        *kind = LT_KEY_SIGN;
    else if (enif_is_identical(argv[0], lt_catom.kx))
        *kind = LT_KEY_KX;
    else if (enif_is_identical(argv[0], lt_catom.aead))
        *kind = LT_KEY_AEAD;
    else if (enif_is_identical(argv[0], lt_catom.secret))
        *kind = LT_KEY_SECRET;
    else
        return 0;
    if (!lt_nif_get_aead_alg(env, argv[1], alg) || (*kind == LT_KEY_AEAD) != (*alg != LT_AEAD_NONE))
        return 0;
    if (!enif_get_uint(env, argv[2], len))
        return 0;
    if (*kind != LT_KEY_SECRET)
        *len = LT_KEY_SYM_BYTES;
    return *len >= LT_KEY_SECRET_MIN && *len <= LT_KEY_SECRET_MAX;
}

/* kdf(Master, SubkeyId, Context, Kind, Alg, Len) -> {ok, Key} | {error, {unsupported, A}}:
 * crypto_kdf_derive_from_key (BLAKE2b) of a 32-byte secret master key; Context is 8 bytes. */
LT_CNIF(lt_cnif_kdf) {
    const lt_key *master;
    ErlNifUInt64 id;
    ErlNifBinary ctx;
    lt_key_kind kind;
    lt_aead_alg alg;
    unsigned len;
    if (argc != 6 || !lt_nif_get_key(env, argv[0], &master) || master->kind != LT_KEY_SECRET ||
        master->secret.len != crypto_kdf_KEYBYTES || !enif_get_uint64(env, argv[1], &id) ||
        !enif_inspect_binary(env, argv[2], &ctx) || ctx.size != crypto_kdf_CONTEXTBYTES ||
        !get_kind_spec(env, argv + 3, &kind, &alg, &len))
        return enif_make_badarg(env);
    if (alg == LT_AEAD_AES256GCM && !lt_aead_aes256gcm_available())
        return lt_crypto_error(env, enif_make_tuple2(env, lt_catom.unsupported, argv[4]));
    char context[crypto_kdf_CONTEXTBYTES];
    memcpy(context, ctx.data, sizeof context);
    WITH_TEMP(env, sub, len);
    crypto_kdf_derive_from_key(sub.p, len, id, context, master->secret.p);
    ERL_NIF_TERM t = lt_nif_make_key(env, kind, alg, sub.p, len);
    lt_secret_free(&sub);
    if (enif_is_exception(env, t))
        return t;
    lt_crypto_count(LT_CTR_kdf_derived, 1);
    return lt_crypto_ok(env, t);
}

/* kx_shared(Key, PeerPublic) -> {ok, SecretKey} | {error, weak_public_key}: the raw X25519
 * shared point of a kx key and a peer's 32-byte public key, as a 32-byte secret key. A peer
 * key of small order gives the all-zero point: refused. Hash it (kdf, a channel's key
 * schedule) before use as a cipher key. */
LT_CNIF(lt_cnif_kx_shared) {
    const lt_key *k;
    ErlNifBinary peer;
    if (argc != 2 || !lt_nif_get_key(env, argv[0], &k) || k->kind != LT_KEY_KX ||
        !enif_inspect_binary(env, argv[1], &peer) || peer.size != crypto_scalarmult_BYTES)
        return enif_make_badarg(env);
    WITH_TEMP(env, shared, crypto_scalarmult_BYTES);
    if (crypto_scalarmult(shared.p, k->secret.p, peer.data) != 0) {
        lt_secret_free(&shared);
        lt_crypto_count(LT_CTR_kx_failures_weak_public_key, 1);
        return lt_crypto_error(env, lt_catom.weak_public_key);
    }
    ERL_NIF_TERM t =
        lt_nif_make_key(env, LT_KEY_SECRET, LT_AEAD_NONE, shared.p, crypto_scalarmult_BYTES);
    lt_secret_free(&shared);
    if (enif_is_exception(env, t))
        return t;
    lt_crypto_count(LT_CTR_kx_shared, 1);
    return lt_crypto_ok(env, t);
}

/* ---- MACs and hashes -------------------------------------------------------------------- */

typedef enum { H_BLAKE2B = 1, H_SHA256 = 2, H_SHA512 = 3 } hash_alg;

/* A streaming state: `st` (slab memory: a keyed state is key material) holds libsodium's
 * state of `alg`; `size` is the digest's length. Immutable once made: an update makes a new
 * state from a copy, so a state can be shared, reused and updated from many processes. */
typedef struct {
    hash_alg alg;
    unsigned size;
    lt_secret st;
} hash_state;

static ErlNifResourceType *hash_state_type;

static void hash_state_dtor(ErlNifEnv *env, void *obj) {
    hash_state *h = obj;
    (void)env;
    lt_secret_free(&h->st);
}

int lt_nif_prims_open(ErlNifEnv *env, ErlNifResourceFlags flags) {
    hash_state_type = enif_open_resource_type(env, NULL, "lattice_crypto_hash_state",
                                              hash_state_dtor, flags, NULL);
    return hash_state_type != NULL;
}

static size_t state_bytes(hash_alg alg) {
    switch (alg) {
    case H_BLAKE2B:
        return sizeof(crypto_generichash_blake2b_state);
    case H_SHA256:
        return sizeof(crypto_auth_hmacsha256_state);
    case H_SHA512:
        return sizeof(crypto_auth_hmacsha512_state);
    }
    return 0;
}

/* A new state resource with a slot for alg's state, or NULL (out of memory). The caller
 * releases it after enif_make_resource. */
static hash_state *state_new(hash_alg alg, unsigned size) {
    hash_state *h = enif_alloc_resource(hash_state_type, sizeof *h);
    if (h == NULL)
        return NULL;
    memset(h, 0, sizeof *h);
    h->alg = alg;
    h->size = size;
    if (lt_secret_alloc(&h->st, state_bytes(alg)) != 0) {
        enif_release_resource(h);
        return NULL;
    }
    return h;
}

static void state_update(hash_state *h, const uint8_t *p, size_t n) {
    switch (h->alg) {
    case H_BLAKE2B:
        crypto_generichash_blake2b_update((crypto_generichash_blake2b_state *)(void *)h->st.p, p,
                                          n);
        break;
    case H_SHA256:
        crypto_auth_hmacsha256_update((crypto_auth_hmacsha256_state *)(void *)h->st.p, p, n);
        break;
    case H_SHA512:
        crypto_auth_hmacsha512_update((crypto_auth_hmacsha512_state *)(void *)h->st.p, p, n);
        break;
    }
}

/* Finishes the state in place (it is a scratch copy) into out[0..h->size). */
static void state_final(hash_state *h, uint8_t *out) {
    switch (h->alg) {
    case H_BLAKE2B:
        crypto_generichash_blake2b_final((crypto_generichash_blake2b_state *)(void *)h->st.p, out,
                                         h->size);
        break;
    case H_SHA256:
        crypto_auth_hmacsha256_final((crypto_auth_hmacsha256_state *)(void *)h->st.p, out);
        break;
    case H_SHA512:
        crypto_auth_hmacsha512_final((crypto_auth_hmacsha512_state *)(void *)h->st.p, out);
        break;
    }
}

/* Initializes h's state with the key (HMAC: any length; BLAKE2b: 0..64 bytes, 0 unkeyed). */
static void state_init(hash_state *h, const uint8_t *key, size_t keylen) {
    switch (h->alg) {
    case H_BLAKE2B:
        crypto_generichash_blake2b_init((crypto_generichash_blake2b_state *)(void *)h->st.p,
                                        keylen ? key : NULL, keylen, h->size);
        break;
    case H_SHA256:
        crypto_auth_hmacsha256_init((crypto_auth_hmacsha256_state *)(void *)h->st.p, key, keylen);
        break;
    case H_SHA512:
        crypto_auth_hmacsha512_init((crypto_auth_hmacsha512_state *)(void *)h->st.p, key, keylen);
        break;
    }
}

/* The hash named by argv[0] with key argv[1] and size argv[2] (BLAKE2b: 16..64; HMAC: ignored,
 * but an integer), checked. */
static int hash_args(ErlNifEnv *env, const ERL_NIF_TERM argv[], hash_alg *alg, ErlNifBinary *key,
                     unsigned *size) {
    if (enif_is_identical(argv[0], lt_catom.blake2b))
        *alg = H_BLAKE2B;
    else if (enif_is_identical(argv[0], lt_catom.sha256))
        *alg = H_SHA256;
    else if (enif_is_identical(argv[0], lt_catom.sha512))
        *alg = H_SHA512;
    else
        return 0;
    if (!enif_inspect_binary(env, argv[1], key) || !enif_get_uint(env, argv[2], size))
        return 0;
    switch (*alg) {
    case H_BLAKE2B:
        return key->size <= crypto_generichash_KEYBYTES_MAX &&
               *size >= crypto_generichash_BYTES_MIN && *size <= crypto_generichash_BYTES_MAX;
    case H_SHA256:
        *size = crypto_auth_hmacsha256_BYTES;
        return 1;
    case H_SHA512:
        *size = crypto_auth_hmacsha512_BYTES;
        return 1;
    }
    return 0;
}

/* hash(Alg, Key, Size, Data) -> Digest: HMAC-SHA-256/512 (a key of any length) or BLAKE2b
 * (unkeyed when Key is <<>>, else keyed with 1..64 bytes; Size 16..64). */
LT_CNIF(lt_cnif_hash) {
    hash_alg alg;
    ErlNifBinary key, data;
    unsigned size;
    if (argc != 4 || !hash_args(env, argv, &alg, &key, &size) ||
        !enif_inspect_binary(env, argv[3], &data))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(alg == H_BLAKE2B ? LT_DIRTY_BLAKE2B_BYTES : LT_DIRTY_HMAC_BYTES, env,
                          "hash", lt_cnif_hash, argc, argv, data.size);
    ERL_NIF_TERM t;
    unsigned char *out = enif_make_new_binary(env, size, &t);
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    if (alg == H_BLAKE2B) {
        crypto_generichash_blake2b(out, size, data.data, data.size, key.size ? key.data : NULL,
                                   key.size);
        lt_crypto_count(LT_CTR_hashes, 1);
        return t;
    }
    /* HMAC: the state (key-derived pads) on the stack for the call, wiped after. */
    if (alg == H_SHA256) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key.data, key.size);
        crypto_auth_hmacsha256_update(&st, data.data, data.size);
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof st);
    } else {
        crypto_auth_hmacsha512_state st;
        crypto_auth_hmacsha512_init(&st, key.data, key.size);
        crypto_auth_hmacsha512_update(&st, data.data, data.size);
        crypto_auth_hmacsha512_final(&st, out);
        sodium_memzero(&st, sizeof st);
    }
    lt_crypto_count(LT_CTR_macs, 1);
    return t;
}

/* hash_init(Alg, Key, Size) -> State. */
LT_CNIF(lt_cnif_hash_init) {
    hash_alg alg;
    ErlNifBinary key;
    unsigned size;
    if (argc != 3 || !hash_args(env, argv, &alg, &key, &size))
        return enif_make_badarg(env);
    hash_state *h = state_new(alg, size);
    if (h == NULL)
        return lt_crypto_raise_nomem(env);
    state_init(h, key.data, key.size);
    ERL_NIF_TERM t = enif_make_resource(env, h);
    enif_release_resource(h);
    return t;
}

static hash_state *state_copy(const hash_state *old) {
    hash_state *h = state_new(old->alg, old->size);
    if (h != NULL)
        memcpy(h->st.p, old->st.p, state_bytes(old->alg));
    return h;
}

/* hash_update(State, Data) -> NewState (State is unchanged). */
LT_CNIF(lt_cnif_hash_update) {
    hash_state *old;
    ErlNifBinary data;
    if (argc != 2 || !enif_get_resource(env, argv[0], hash_state_type, (void **)&old) ||
        !enif_inspect_binary(env, argv[1], &data))
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(old->alg == H_BLAKE2B ? LT_DIRTY_BLAKE2B_BYTES : LT_DIRTY_HMAC_BYTES, env,
                          "hash_update", lt_cnif_hash_update, argc, argv, data.size);
    hash_state *h = state_copy(old);
    if (h == NULL)
        return lt_crypto_raise_nomem(env);
    state_update(h, data.data, data.size);
    ERL_NIF_TERM t = enif_make_resource(env, h);
    enif_release_resource(h);
    return t;
}

/* hash_final(State) -> Digest (State is unchanged: final runs on a copy). */
LT_CNIF(lt_cnif_hash_final) {
    hash_state *old;
    if (argc != 1 || !enif_get_resource(env, argv[0], hash_state_type, (void **)&old))
        return enif_make_badarg(env);
    hash_state *h = state_copy(old);
    if (h == NULL)
        return lt_crypto_raise_nomem(env);
    ERL_NIF_TERM t;
    hash_alg alg = h->alg;
    unsigned char *out = enif_make_new_binary(env, h->size, &t);
    if (out != NULL)
        state_final(h, out);
    enif_release_resource(h); /* never made a term: freed (and wiped) now */
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    lt_crypto_count(alg == H_BLAKE2B ? LT_CTR_hashes : LT_CTR_macs, 1);
    return t;
}

/* ---- Argon2id, random bytes, compare ---------------------------------------------------- */

/* argon2id(Passphrase, Salt, Ops, MemBytes, Size) -> binary(): crypto_pwhash with
 * Argon2id v1.3. Always on a dirty CPU scheduler (lt_crypto_nifs.h). Salt is 16 bytes. */
LT_CNIF(lt_cnif_argon2id) {
    ErlNifBinary pass, salt;
    ErlNifUInt64 ops, mem;
    unsigned size;
    if (argc != 5 || !enif_inspect_binary(env, argv[0], &pass) ||
        !enif_inspect_binary(env, argv[1], &salt) || salt.size != crypto_pwhash_SALTBYTES ||
        !enif_get_uint64(env, argv[2], &ops) || ops < crypto_pwhash_OPSLIMIT_MIN ||
        ops > crypto_pwhash_OPSLIMIT_MAX || !enif_get_uint64(env, argv[3], &mem) ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_MAX ||
        mem > (ErlNifUInt64)SIZE_MAX || !enif_get_uint(env, argv[4], &size) ||
        size < crypto_pwhash_BYTES_MIN || size > LT_ARGON2_OUT_MAX)
        return enif_make_badarg(env);
    ERL_NIF_TERM t;
    unsigned char *out = enif_make_new_binary(env, size, &t);
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    if (crypto_pwhash(out, size, (const char *)pass.data, pass.size, salt.data,
                      (unsigned long long)ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return lt_crypto_raise_nomem(env); /* only when memlimit cannot be allocated */
    lt_crypto_count(LT_CTR_argon2id_runs, 1);
    return t;
}

/* random_bytes(N) -> binary(): N bytes of libsodium's randombytes (getrandom). */
LT_CNIF(lt_cnif_random_bytes) {
    unsigned n;
    if (argc != 1 || !enif_get_uint(env, argv[0], &n) || n > LT_RANDOM_MAX)
        return enif_make_badarg(env);
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_RANDOM_BYTES, env, "random_bytes", lt_cnif_random_bytes, argc,
                          argv, n);
    ERL_NIF_TERM t;
    unsigned char *out = enif_make_new_binary(env, n, &t);
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    randombytes_buf(out, n);
    return t;
}

/* equal(A, B) -> boolean(): in time that depends on the length only (sodium_memcmp); binaries
 * of different lengths are unequal at once (the length is not secret). */
LT_CNIF(lt_cnif_equal) {
    ErlNifBinary a, b;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &a) ||
        !enif_inspect_binary(env, argv[1], &b))
        return enif_make_badarg(env);
    if (a.size != b.size)
        return lt_catom.false_;
    LT_CRYPTO_DIRTY_ABOVE(LT_DIRTY_EQUAL_BYTES, env, "equal", lt_cnif_equal, argc, argv, a.size);
    return a.size == 0 || sodium_memcmp(a.data, b.data, a.size) == 0 ? lt_catom.true_
                                                                     : lt_catom.false_;
}

/* ---- the sealed export (c_src/crypto/lt_sealed.h) --------------------------------------- */

/* export_secret(Key, Passphrase, Ops, MemKiB) -> binary(). Always dirty (Argon2id). */
LT_CNIF(lt_cnif_export_secret) {
    const lt_key *k;
    ErlNifBinary pass;
    unsigned ops, mem;
    if (argc != 4 || !lt_nif_get_key(env, argv[0], &k) ||
        !enif_inspect_binary(env, argv[1], &pass) || !enif_get_uint(env, argv[2], &ops) ||
        ops < 1 || ops > LT_SEALED_MAX_OPS || !enif_get_uint(env, argv[3], &mem) ||
        mem < LT_SEALED_MIN_MEM_KIB || mem > LT_SEALED_MAX_MEM_KIB)
        return enif_make_badarg(env);
    size_t len;
    (void)lt_key_seed(k, &len);
    uint8_t salt[LT_SEALED_SALT_BYTES], nonce[LT_SEALED_NONCE_BYTES];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    WITH_TEMP(env, wrap, 32);
    if (lt_sealed_derive(wrap.p, pass.data, pass.size, salt, ops, mem) != 0) {
        lt_secret_free(&wrap);
        return lt_crypto_raise_nomem(env);
    }
    ERL_NIF_TERM t;
    unsigned char *out = enif_make_new_binary(env, lt_sealed_size(len), &t);
    if (out != NULL)
        lt_sealed_write(out, k, ops, mem, salt, nonce, wrap.p);
    lt_secret_free(&wrap);
    if (out == NULL)
        return lt_crypto_raise_nomem(env);
    lt_crypto_count(LT_CTR_argon2id_runs, 1);
    lt_crypto_count(LT_CTR_exports, 1);
    return t;
}

/* import_secret(Bin, Passphrase) -> {ok, Key} | {error, malformed | bad_passphrase |
 * {unsupported, aes256gcm}}. Always dirty (Argon2id). */
LT_CNIF(lt_cnif_import_secret) {
    ErlNifBinary bin, pass;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &bin) ||
        !enif_inspect_binary(env, argv[1], &pass))
        return enif_make_badarg(env);
    lt_sealed_hdr h;
    if (lt_sealed_parse(bin.data, bin.size, &h) != 0) {
        lt_crypto_count(LT_CTR_import_failures_malformed, 1);
        return lt_crypto_error(env, lt_catom.malformed);
    }
    if (h.alg == LT_AEAD_AES256GCM && !lt_aead_aes256gcm_available())
        return lt_crypto_error(env,
                               enif_make_tuple2(env, lt_catom.unsupported, lt_catom.aes256gcm));
    WITH_TEMP(env, wrap, 32);
    lt_secret secret;
    if (lt_secret_alloc(&secret, h.len) != 0) {
        lt_secret_free(&wrap);
        return lt_crypto_raise_nomem(env);
    }
    ERL_NIF_TERM t;
    if (lt_sealed_derive(wrap.p, pass.data, pass.size, h.salt, h.ops, h.mem_kib) != 0) {
        t = lt_crypto_raise_nomem(env);
    } else if (lt_sealed_open(&h, bin.data, wrap.p, secret.p) != 0) {
        lt_crypto_count(LT_CTR_import_failures_bad_passphrase, 1);
        t = lt_crypto_error(env, lt_catom.bad_passphrase);
    } else {
        t = lt_nif_make_key(env, h.kind, h.alg, secret.p, h.len);
        if (!enif_is_exception(env, t)) {
            lt_crypto_count(LT_CTR_imports, 1);
            t = lt_crypto_ok(env, t);
        }
    }
    lt_crypto_count(LT_CTR_argon2id_runs, 1);
    lt_secret_free(&wrap);
    lt_secret_free(&secret);
    return t;
}
