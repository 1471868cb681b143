/*
 * lt_hash.h — XXH3 (64 and 128 bit), one-shot and streaming, and the actor id.
 * xxHash is compiled into lattice (XXH_INLINE_ALL in lt_hash.c): no runtime library needed.
 */
#ifndef LT_HASH_H
#define LT_HASH_H

#include "lt_common.h"

typedef struct {
    uint64_t hi, lo;
} lt_hash128_t;

uint64_t lt_hash64(const void *p, size_t n, uint64_t seed);
lt_hash128_t lt_hash128(const void *p, size_t n, uint64_t seed);

/* The id of an actor: XXH3-64 of its canonical bytes, seed 0 (docs/FORMAT.md). */
static inline uint64_t lt_actor_id(const uint8_t *actor, size_t n) {
    return lt_hash64(actor, n, 0);
}

/* Streaming state. lt_hash_state_new returns NULL when out of memory; the caller owns the
 * state and frees it with lt_hash_state_free (NULL is fine). `bits` is 64 or 128. */
typedef struct lt_hash_state lt_hash_state;
lt_hash_state *lt_hash_state_new(unsigned bits, uint64_t seed);
void lt_hash_state_free(lt_hash_state *s);
void lt_hash_state_update(lt_hash_state *s, const void *p, size_t n);
unsigned lt_hash_state_bits(const lt_hash_state *s);
uint64_t lt_hash_state_digest64(const lt_hash_state *s);
lt_hash128_t lt_hash_state_digest128(const lt_hash_state *s);

#endif
