/* lt_nif_key.c — the key resource (lt_nif_key.h) and the NIFs that make and describe keys. */
#include "lt_nif_key.h"

#include <sodium.h>
#include <string.h>

static ErlNifResourceType *key_type;

/* The last reference went: wipe and free the slots. */
static void key_dtor(ErlNifEnv *env, void *obj) {
    (void)env;
    lt_key_clear(obj);
    lt_crypto_count(LT_CTR_keys_freed, 1);
}

int lt_nif_key_open(ErlNifEnv *env, ErlNifResourceFlags flags) {
    key_type = enif_open_resource_type(env, NULL, "lattice_crypto_key", key_dtor, flags, NULL);
    return key_type != NULL;
}

int lt_nif_get_key(ErlNifEnv *env, ERL_NIF_TERM t, const lt_key **out) {
    void *obj;
    if (!enif_get_resource(env, t, key_type, &obj))
        return 0;
    const lt_key *k = obj;
    if (k->secret.p == NULL)
        return 0;
    *out = k;
    return 1;
}

ERL_NIF_TERM lt_nif_aead_atom(lt_aead_alg alg) {
    switch (alg) {
    case LT_AEAD_XCHACHA20POLY1305:
        return lt_catom.xchacha20poly1305;
    case LT_AEAD_CHACHA20POLY1305:
        return lt_catom.chacha20poly1305;
    case LT_AEAD_AES256GCM:
        return lt_catom.aes256gcm;
    case LT_AEAD_NONE:
        break;
    }
    return lt_catom.none;
}

int lt_nif_get_aead_alg(ErlNifEnv *env, ERL_NIF_TERM t, lt_aead_alg *out) {
    (void)env;
    if (enif_is_identical(t, lt_catom.xchacha20poly1305))
        *out = LT_AEAD_XCHACHA20POLY1305;
    else if (enif_is_identical(t, lt_catom.chacha20poly1305))
        *out = LT_AEAD_CHACHA20POLY1305;
    else if (enif_is_identical(t, lt_catom.aes256gcm))
        *out = LT_AEAD_AES256GCM;
    else if (enif_is_identical(t, lt_catom.none))
        *out = LT_AEAD_NONE;
    else
        return 0;
    return 1;
}

static int get_kind(ERL_NIF_TERM t, lt_key_kind *out) {
    if (enif_is_identical(t, lt_catom.sign))
        *out = LT_KEY_SIGN;
    else if (enif_is_identical(t, lt_catom.kx))
        *out = LT_KEY_KX;
    else if (enif_is_identical(t, lt_catom.aead))
        *out = LT_KEY_AEAD;
    else if (enif_is_identical(t, lt_catom.secret))
        *out = LT_KEY_SECRET;
    else
        return 0;
    return 1;
}

static ERL_NIF_TERM kind_atom(lt_key_kind kind) {
    switch (kind) {
    case LT_KEY_SIGN:
        return lt_catom.sign;
    case LT_KEY_KX:
        return lt_catom.kx;
    case LT_KEY_AEAD:
        return lt_catom.aead;
    case LT_KEY_SECRET:
        break;
    }
    return lt_catom.secret;
}

/* Wraps a filled lt_key (moved into the resource: `k` is zeroed) as a term. */
static ERL_NIF_TERM wrap(ErlNifEnv *env, lt_key *k) {
    lt_key *obj = enif_alloc_resource(key_type, sizeof *obj);
    if (obj == NULL) {
        lt_key_clear(k);
        return lt_crypto_raise_nomem(env);
    }
    memcpy(obj, k, sizeof *obj);
    sodium_memzero(k, sizeof *k);
    ERL_NIF_TERM t = enif_make_resource(env, obj);
    enif_release_resource(obj);
    lt_crypto_count(LT_CTR_keys_made, 1);
    return t;
}

static ERL_NIF_TERM key_error(ErlNifEnv *env, lt_key_err e) {
    return e == LT_KEY_E_NOMEM ? lt_crypto_raise_nomem(env) : enif_make_badarg(env);
}

ERL_NIF_TERM lt_nif_make_key(ErlNifEnv *env, lt_key_kind kind, lt_aead_alg alg,
                             const uint8_t *secret, size_t len) {
    lt_key k;
    lt_key_err e = lt_key_from_secret(&k, kind, alg, secret, len);
    return e == LT_KEY_OK ? wrap(env, &k) : key_error(env, e);
}

ERL_NIF_TERM lt_nif_generate_key(ErlNifEnv *env, lt_key_kind kind, lt_aead_alg alg, size_t len) {
    lt_key k;
    lt_key_err e = lt_key_generate(&k, kind, alg, len);
    return e == LT_KEY_OK ? wrap(env, &k) : key_error(env, e);
}

/* key_generate(Kind, Alg, Len) -> {ok, Key} | {error, {unsupported, aes256gcm}}.
 * Kind: sign | kx | aead | secret; Alg: none, or the AEAD's atom for aead; Len: the secret's
 * length for `secret` (16..64), ignored (but an integer) for the others. */
LT_CNIF(lt_cnif_key_generate) {
    lt_key_kind kind;
    lt_aead_alg alg;
    unsigned len;
    if (argc != 3 || !get_kind(argv[0], &kind) || !lt_nif_get_aead_alg(env, argv[1], &alg) ||
        !enif_get_uint(env, argv[2], &len))
        return enif_make_badarg(env);
    if (kind == LT_KEY_AEAD && alg == LT_AEAD_AES256GCM && !lt_aead_aes256gcm_available())
        return lt_crypto_error(env, enif_make_tuple2(env, lt_catom.unsupported, argv[1]));
    ERL_NIF_TERM t = lt_nif_generate_key(env, kind, alg, len);
    return enif_is_exception(env, t) ? t : lt_crypto_ok(env, t);
}

/* key_from_bytes(Kind, Alg, Bytes) -> {ok, Key} | {error, {unsupported, aes256gcm}}: a key
 * from the caller's secret bytes (the seed of a signing key, as OTP's crypto takes it). */
LT_CNIF(lt_cnif_key_from_bytes) {
    lt_key_kind kind;
    lt_aead_alg alg;
    ErlNifBinary bin;
    if (argc != 3 || !get_kind(argv[0], &kind) || !lt_nif_get_aead_alg(env, argv[1], &alg) ||
        !enif_inspect_binary(env, argv[2], &bin))
        return enif_make_badarg(env);
    if (kind == LT_KEY_AEAD && alg == LT_AEAD_AES256GCM && !lt_aead_aes256gcm_available())
        return lt_crypto_error(env, enif_make_tuple2(env, lt_catom.unsupported, argv[1]));
    ERL_NIF_TERM t = lt_nif_make_key(env, kind, alg, bin.data, bin.size);
    return enif_is_exception(env, t) ? t : lt_crypto_ok(env, t);
}

/* key_info(Key) -> #{kind => sign | kx | aead | secret, alg => atom(), size => Bytes}. */
LT_CNIF(lt_cnif_key_info) {
    const lt_key *k;
    if (argc != 1 || !lt_nif_get_key(env, argv[0], &k))
        return enif_make_badarg(env);
    size_t len;
    (void)lt_key_seed(k, &len);
    ERL_NIF_TERM keys[3] = {lt_catom.kind, lt_catom.alg, lt_catom.size};
    ERL_NIF_TERM vals[3] = {kind_atom(k->kind), lt_nif_aead_atom(k->alg),
                            enif_make_uint64(env, len)};
    ERL_NIF_TERM map;
    if (!enif_make_map_from_arrays(env, keys, vals, 3, &map))
        return lt_crypto_raise_nomem(env);
    return map;
}

/* public_key(Key) -> <<_:256>> for sign and kx keys; badarg for the others. */
LT_CNIF(lt_cnif_public_key) {
    const lt_key *k;
    if (argc != 1 || !lt_nif_get_key(env, argv[0], &k) || !k->has_pub)
        return enif_make_badarg(env);
    return lt_crypto_binary(env, k->pub, sizeof k->pub);
}
