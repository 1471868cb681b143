/*
 * lt_digest.h — the digest of a CRDT state (docs/FORMAT.md, "Digests").
 *
 * A state is a header plus a set of entries (one per actor, element or key), each with
 * canonical bytes. Its digest is
 *     XXH3-128( type tag, version, u64be entry count, global bytes, Σ XXH3-128(entry) )
 * where Σ is the sum modulo 2^128 of the entries' 128-bit hashes (big-endian hi, lo) and
 * "global bytes" is whatever the type holds outside its entries (a causal context, a bias).
 * Equal states have equal digests; and because a sum can be updated, an in-place object keeps
 * its digest current in O(1) per changed entry: subtract the entry's old hash, add its new.
 */
#ifndef LT_DIGEST_H
#define LT_DIGEST_H

#include "lt_common.h"
#include "lt_hash.h"

typedef struct {
    uint64_t hi, lo;
    uint64_t count; /* entries in the sum */
} lt_digest_acc;

static inline void lt_digest_init(lt_digest_acc *d) {
    d->hi = d->lo = d->count = 0;
}

static inline void lt_digest_add(lt_digest_acc *d, lt_hash128_t h) {
    uint64_t lo = d->lo + h.lo;
    d->hi += h.hi + (lo < d->lo);
    d->lo = lo;
    d->count++;
}

static inline void lt_digest_sub(lt_digest_acc *d, lt_hash128_t h) {
    uint64_t lo = d->lo - h.lo;
    d->hi -= h.hi + (lo > d->lo);
    d->lo = lo;
    d->count--;
}

/* The final digest, as 16 bytes (big-endian hi, lo) written to out. LT_E_NOMEM if the hash
 * state cannot be allocated. */
LT_WARN_UNUSED lt_err lt_digest_final(const lt_digest_acc *d, uint8_t tag, uint8_t version,
                                      const uint8_t *global, size_t global_len, uint8_t out[16]);

#endif
