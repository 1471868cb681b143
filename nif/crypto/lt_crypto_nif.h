/*
 * lt_crypto_nif.h — what the glue files of priv/lattice_crypto_nif.so share: atoms, counters,
 * the declarations of every NIF and loader (from the X-macro lists), argument helpers and the
 * dirty dispatch. This library is separate from priv/lattice_nif.so (the CRDTs), which does not
 * link libsodium.
 *
 * Error channels (STYLE.md habit 2, docs/ERRORS.md, docs/CRYPTO.md):
 *   badarg                 a caller's bug (wrong type or shape); src/lattice_crypto.erl re-raises
 *                          it with error_info and lattice_crypto:format_error/2 explains it;
 *   {error, Reason}        bad data: bad_mac, weak_public_key, bad_passphrase, malformed, ...;
 *   error:enomem raised    no memory (slab or heap).
 */
#ifndef LT_CRYPTO_NIF_H
#define LT_CRYPTO_NIF_H

#include <erl_nif.h>
#include <stdint.h>

#define LT_CNIF_ARGS ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]
#define LT_CNIF(name) ERL_NIF_TERM name(LT_CNIF_ARGS)

typedef struct {
#define LT_CRYPTO_ATOM(field, text) ERL_NIF_TERM field;
#include "lt_crypto_atoms.h"
#undef LT_CRYPTO_ATOM
} lt_crypto_atoms;

/* Made once in load (atoms are valid in every environment). */
extern lt_crypto_atoms lt_catom;

typedef enum {
#define LT_CRYPTO_COUNTER(name) LT_CTR_##name,
#include "lt_crypto_counters.h"
#undef LT_CRYPTO_COUNTER
    LT_CTR_COUNT_
} lt_crypto_counter;

extern uint64_t lt_crypto_counters[LT_CTR_COUNT_];

static inline void lt_crypto_count(lt_crypto_counter c, uint64_t n) {
    __atomic_fetch_add(&lt_crypto_counters[c], n, __ATOMIC_RELAXED);
}

/* Every NIF function and loader, declared from the lists. */
#define LT_CRYPTO_NIF(name, arity, fn, flags) LT_CNIF(fn);
#include "lt_crypto_nifs.h"
#undef LT_CRYPTO_NIF
#define LT_CRYPTO_LOADER(fn) int fn(ErlNifEnv *env, ErlNifResourceFlags flags);
#include "lt_crypto_loaders.h"
#undef LT_CRYPTO_LOADER

/* {error, Reason}. */
ERL_NIF_TERM lt_crypto_error(ErlNifEnv *env, ERL_NIF_TERM reason);
/* {ok, Term}. */
ERL_NIF_TERM lt_crypto_ok(ErlNifEnv *env, ERL_NIF_TERM term);
/* Raises error:enomem. */
ERL_NIF_TERM lt_crypto_raise_nomem(ErlNifEnv *env);
/* A fresh binary term holding a copy of p[0..n); raises enomem when the heap is short. */
ERL_NIF_TERM lt_crypto_binary(ErlNifEnv *env, const uint8_t *p, size_t n);

/* Moves the current call to a dirty CPU scheduler when `bytes` is above `cutoff` and it runs on
 * a normal scheduler: the same function runs again there, with the same arguments. No #ifdef:
 * ERL_NIF_DIRTY_JOB_CPU_BOUND is an enum constant (STYLE.md habit 6). */
#define LT_CRYPTO_DIRTY_ABOVE(cutoff, env, name, fn, argc, argv, bytes)                            \
    do {                                                                                           \
        if ((size_t)(bytes) > (size_t)(cutoff) &&                                                  \
            enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER) {                                  \
            lt_crypto_count(LT_CTR_dirty_calls, 1);                                                \
            return enif_schedule_nif((env), (name), ERL_NIF_DIRTY_JOB_CPU_BOUND, (fn), (argc),     \
                                     (argv));                                                      \
        }                                                                                          \
    } while (0)

#endif
