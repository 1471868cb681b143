/* lt_crypto_nif.c — the crypto NIF library: load/upgrade/unload, shared helpers, stats, and
 * the function table (from lt_crypto_nifs.h). */
#include "lt_crypto_nif.h"

#include <string.h>

#include "lt_secret.h"

lt_crypto_atoms lt_catom;
uint64_t lt_crypto_counters[LT_CTR_COUNT_];

static void make_atoms(ErlNifEnv *env) {
#define LT_CRYPTO_ATOM(field, text) lt_catom.field = enif_make_atom(env, text);
#include "lt_crypto_atoms.h"
#undef LT_CRYPTO_ATOM
}

static int open_all(ErlNifEnv *env) {
    ErlNifResourceFlags flags = ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER;
#define LT_CRYPTO_LOADER(fn)                                                                       \
    if (!fn(env, flags))                                                                           \
        return 1;
#include "lt_crypto_loaders.h"
#undef LT_CRYPTO_LOADER
    return 0;
}

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info) {
    (void)info;
    *priv = NULL;
    if (lt_secret_init() != 0)
        return 1;
    make_atoms(env);
    return open_all(env);
}

/* A reload of the module (hot upgrade): the resource types are taken over, so keys made by the
 * old code keep working with the new. */
static int upgrade(ErlNifEnv *env, void **priv, void **old_priv, ERL_NIF_TERM info) {
    (void)old_priv;
    return load(env, priv, info);
}

static void unload(ErlNifEnv *env, void *priv) {
    (void)env;
    (void)priv;
}

ERL_NIF_TERM lt_crypto_error(ErlNifEnv *env, ERL_NIF_TERM reason) {
    return enif_make_tuple2(env, lt_catom.error, reason);
}

ERL_NIF_TERM lt_crypto_ok(ErlNifEnv *env, ERL_NIF_TERM term) {
    return enif_make_tuple2(env, lt_catom.ok, term);
}

ERL_NIF_TERM lt_crypto_raise_nomem(ErlNifEnv *env) {
    return enif_raise_exception(env, lt_catom.enomem);
}

ERL_NIF_TERM lt_crypto_binary(ErlNifEnv *env, const uint8_t *p, size_t n) {
    ERL_NIF_TERM t;
    unsigned char *q = enif_make_new_binary(env, n, &t);
    if (q == NULL)
        return lt_crypto_raise_nomem(env);
    if (n)
        memcpy(q, p, n);
    return t;
}

static int put(ErlNifEnv *env, ERL_NIF_TERM *map, const char *key, ERL_NIF_TERM value) {
    return enif_make_map_put(env, *map, enif_make_atom(env, key), value, map);
}

/* stats() -> #{atom() => non_neg_integer() | boolean()}: every counter of
 * lt_crypto_counters.h, and the slabs' figures. */
LT_CNIF(lt_cnif_stats) {
    (void)argv;
    if (argc != 0)
        return enif_make_badarg(env);
    ERL_NIF_TERM map = enif_make_new_map(env);
    int ok = 1;
#define LT_CRYPTO_COUNTER(name)                                                                    \
    ok = ok && put(env, &map, #name,                                                               \
                   enif_make_uint64(env, __atomic_load_n(&lt_crypto_counters[LT_CTR_##name],       \
                                                         __ATOMIC_RELAXED)));
#include "lt_crypto_counters.h"
#undef LT_CRYPTO_COUNTER
    lt_secret_stats st;
    lt_secret_get_stats(&st);
    ok = ok && put(env, &map, "secrets_live", enif_make_uint64(env, st.slots_used));
    ok = ok && put(env, &map, "slab_slots", enif_make_uint64(env, st.slots_total));
    ok = ok && put(env, &map, "slabs", enif_make_uint64(env, st.slabs));
    ok = ok && put(env, &map, "slabs_locked", enif_make_uint64(env, st.slabs_locked));
    ok = ok && put(env, &map, "slabs_unlocked", enif_make_uint64(env, st.slabs_unlocked));
    ok = ok && put(env, &map, "slab_bytes", enif_make_uint64(env, st.bytes_mapped));
    ok = ok && put(env, &map, "slab_alloc_failures", enif_make_uint64(env, st.alloc_failures));
    ok = ok && put(env, &map, "slabs_mapped_ever", enif_make_uint64(env, st.slabs_ever));
    ok =
        ok && put(env, &map, "mlock_ok", st.slabs_unlocked == 0 ? lt_catom.true_ : lt_catom.false_);
    return ok ? map : lt_crypto_raise_nomem(env);
}

/* Every NIF; src/lattice_crypto_nif.erl lists the same in ?NIFS (its -export and -nifs). */
static ErlNifFunc nif_funcs[] = {
#define LT_CRYPTO_NIF(name, arity, fn, flags) {#name, arity, fn, flags},
#include "lt_crypto_nifs.h"
#undef LT_CRYPTO_NIF
};

ERL_NIF_INIT(lattice_crypto_nif, nif_funcs, load, NULL, upgrade, unload)
