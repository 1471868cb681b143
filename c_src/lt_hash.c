/* lt_hash.c — thin wrappers over xxHash's XXH3. */
#include "lt_hash.h"

#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

struct lt_hash_state {
    XXH3_state_t *xxh; /* owned; XXH3 wants 64-byte alignment, which XXH3_createState gives */
    unsigned bits;
};

uint64_t lt_hash64(const void *p, size_t n, uint64_t seed) {
    return XXH3_64bits_withSeed(p, n, seed);
}

lt_hash128_t lt_hash128(const void *p, size_t n, uint64_t seed) {
    XXH128_hash_t h = XXH3_128bits_withSeed(p, n, seed);
    lt_hash128_t out = {h.high64, h.low64};
    return out;
}

lt_hash_state *lt_hash_state_new(unsigned bits, uint64_t seed) {
    lt_hash_state *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->bits = bits == 128 ? 128 : 64;
    s->xxh = XXH3_createState();
    if (s->xxh == NULL) {
        free(s);
        return NULL;
    }
    if (s->bits == 128)
        (void)XXH3_128bits_reset_withSeed(s->xxh, seed);
    else
        (void)XXH3_64bits_reset_withSeed(s->xxh, seed);
    return s;
}

void lt_hash_state_free(lt_hash_state *s) {
    if (s == NULL)
        return;
    XXH3_freeState(s->xxh);
    s->xxh = NULL;
    free(s);
}

void lt_hash_state_update(lt_hash_state *s, const void *p, size_t n) {
    if (s->bits == 128)
        (void)XXH3_128bits_update(s->xxh, p, n);
    else
        (void)XXH3_64bits_update(s->xxh, p, n);
}

unsigned lt_hash_state_bits(const lt_hash_state *s) {
    return s->bits;
}

uint64_t lt_hash_state_digest64(const lt_hash_state *s) {
    return XXH3_64bits_digest(s->xxh);
}

lt_hash128_t lt_hash_state_digest128(const lt_hash_state *s) {
    XXH128_hash_t h = XXH3_128bits_digest(s->xxh);
    lt_hash128_t out = {h.high64, h.low64};
    return out;
}
