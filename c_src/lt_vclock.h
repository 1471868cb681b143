/*
 * lt_vclock.h — vector clocks as canonical binaries (docs/FORMAT.md, "Vector clock").
 *
 *   0x01 0x01                   type tag, format version
 *   varint n                    number of actors (every counter >= 1; absent means 0)
 *   n x u64 BE  id              XXH3-64 of the actor's canonical bytes, seed 0
 *   n x u64 BE  counter
 *   n x (varint len, bytes)     the actors' canonical term bytes
 * Entries are in strictly ascending (id, actor bytes) order.
 *
 * Checking, in three levels (docs/FORMAT.md, "Checks"). No input makes any operation read out
 * of bounds. Beyond that, each operation checks what it reads:
 *  - compare and merge of two clocks whose actor sections are byte-identical (the fast path)
 *    check the id and counter columns — equal, strictly ascending, counters >= 1 — and treat
 *    the actor sections as opaque bytes: two identically malformed actor sections go
 *    unnoticed there (walking them would cost a serial pass, twice the fast path's time);
 *  - every other operation walks the actor section too: lengths, bounds, (id, actor) order;
 *  - lt_vclock_check_full also checks that each actor is a canonical term and each id the
 *    hash of its actor. It runs where bytes come from outside (decoding to terms, and
 *    lattice_vclock:validate/1, which replication runs on what a peer sends).
 */
#ifndef LT_VCLOCK_H
#define LT_VCLOCK_H

#include "lt_common.h"
#include "lt_types.h"

/* A parsed header: pointers into the caller's bytes, valid while those bytes are. */
typedef struct {
    uint8_t tag; /* LT_TYPE_VCLOCK, or another type with the same body (G-Counter) */
    size_t n;
    const uint8_t *ids;      /* n * 8 bytes */
    const uint8_t *counters; /* n * 8 bytes */
    const uint8_t *names;    /* the actor section */
    size_t names_len;
} lt_vclock_view;

/* O(1): checks the header and that the id and counter columns fit. */
LT_WARN_UNUSED lt_err lt_vclock_open(lt_vclock_view *v, const uint8_t *p, size_t len);
/* The same for a type whose body is a clock's (the G-Counter): only the tag differs. Every
 * function below writes results with the tag of its input view(s). */
LT_WARN_UNUSED lt_err lt_vclock_open_type(lt_vclock_view *v, const uint8_t *p, size_t len,
                                          uint8_t tag);

static inline uint64_t lt_vclock_id(const lt_vclock_view *v, size_t i) {
    return lt_read_be64(v->ids + 8 * i);
}

static inline uint64_t lt_vclock_counter(const lt_vclock_view *v, size_t i) {
    return lt_read_be64(v->counters + 8 * i);
}

/* Resumable structural check: call with *st zeroed, then again while *done is 0. Each call
 * looks at no more than `budget` entries. */
typedef struct {
    size_t i;
    size_t name_off;
    size_t prev_name_off, prev_name_len;
} lt_vclock_check;

LT_WARN_UNUSED lt_err lt_vclock_check_step(const lt_vclock_view *v, lt_vclock_check *st,
                                           size_t budget, int *done);
/* Structure, then canonical actors and ids, to completion. */
LT_WARN_UNUSED lt_err lt_vclock_check_full(const lt_vclock_view *v);

/* Comparison. Clocks over the same actors (byte-identical id columns and actor sections, the
 * usual case in a cluster) take a fast path that reads only the id and counter columns — ids
 * strictly ascending, counters >= 1 — and compares the actor sections as opaque bytes; any
 * other pair gets the full structural check of both. The result is a set of two bits: LT_VC_A_AHEAD
 * (some actor has a higher counter in a) and LT_VC_B_AHEAD; 0 = equal, both = concurrent. */
enum { LT_VC_A_AHEAD = 1, LT_VC_B_AHEAD = 2 };

typedef struct {
    int phase;
    lt_vclock_check chk;
    size_t i, j, ni, nj;
    unsigned flags;
} lt_vclock_cmp;

void lt_vclock_cmp_init(lt_vclock_cmp *c);
/* Resumable compare of a and b (views of the same bytes on every call). Checks both clocks'
 * structure on the way. Each call does about `budget` entries of work. */
LT_WARN_UNUSED lt_err lt_vclock_cmp_step(lt_vclock_cmp *c, const lt_vclock_view *a,
                                         const lt_vclock_view *b, size_t budget, int *done);

/* Appends the merge (pointwise max) of a and b to `out` as a complete clock binary. Same
 * checks as compare: the fast path for clocks over the same actors, else full structure. */
LT_WARN_UNUSED lt_err lt_vclock_merge(const lt_vclock_view *a, const lt_vclock_view *b,
                                      lt_buf *out);

/* Finds an actor (canonical bytes and their id). Returns the index or -1 (as ptrdiff_t). */
ptrdiff_t lt_vclock_find(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                         size_t actor_len);

/* Writes v with the actor's counter raised by `by` (>= 1), inserting the actor if absent.
 * LT_E_OVERFLOW if the counter would pass 2^64 - 1. */
LT_WARN_UNUSED lt_err lt_vclock_increment(const lt_vclock_view *v, uint64_t id,
                                          const uint8_t *actor, size_t actor_len, uint64_t by,
                                          lt_buf *out);

/* Writes v without the entries whose index has drop[i] != 0. */
LT_WARN_UNUSED lt_err lt_vclock_drop(const lt_vclock_view *v, const uint8_t *drop, lt_buf *out);

/* One entry for lt_vclock_build and lt_vclock_prune.  `actor` points at canonical bytes the caller
 * keeps alive. */
typedef struct lt_vclock_entry {
    uint64_t id;
    uint64_t counter;
    const uint8_t *actor;
    size_t actor_len;
} lt_vclock_entry;

/* Writes v without the given actors (entries' counters are ignored; absent actors are fine). */
LT_WARN_UNUSED lt_err lt_vclock_prune(const lt_vclock_view *v, const struct lt_vclock_entry *actors,
                                      size_t k, lt_buf *out);

/* lt_vclock_build for another type with the same body. */
LT_WARN_UNUSED lt_err lt_vclock_build_type(uint8_t tag, lt_vclock_entry *e, size_t n, lt_buf *out);

/* Sorts the entries (in place) and writes a clock. Entries with counter 0 are left out; two
 * entries for one actor are LT_E_ORDER. */
LT_WARN_UNUSED lt_err lt_vclock_build(lt_vclock_entry *e, size_t n, lt_buf *out);

/* Reads the actor bytes of the entry at *name_off in the actor section; advances *name_off. */
static inline lt_err lt_vclock_next_actor(const lt_vclock_view *v, size_t *name_off,
                                          const uint8_t **actor, size_t *actor_len) {
    uint64_t alen;
    lt_err e = lt_varint_read(v->names, v->names_len, name_off, &alen);
    if (LT_UNLIKELY(e != LT_OK))
        return e;
    if (LT_UNLIKELY(alen == 0))
        return LT_E_NONCANONICAL;
    if (LT_UNLIKELY(alen > v->names_len - *name_off))
        return LT_E_TRUNCATED;
    *actor = v->names + *name_off;
    *actor_len = (size_t)alen;
    *name_off += (size_t)alen;
    return LT_OK;
}

/* Checks the clock's structure and finds an actor in one pass: *counter is its counter, or 0
 * when absent. */
LT_WARN_UNUSED lt_err lt_vclock_get(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                                    size_t actor_len, uint64_t *counter);

#endif
