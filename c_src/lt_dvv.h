/*
 * lt_dvv.h — dotted version vectors: a causal context made of a version vector plus the
 * dots seen outside it (Almeida et al.'s "causal context": compact vector + dot cloud).
 *
 * A dot is (actor, n >= 1). The context holds, for each actor, every dot 1..base and a sorted
 * set of further dots, all above base + 1 (a dot at base + 1 would extend the base instead:
 * the form is always compact, so equal contexts are equal bytes). Binary form, docs/FORMAT.md:
 *
 *   0x02 0x01                 type tag, format version
 *   varint n                  actors, in strictly ascending (id, actor bytes) order
 *   n x ( u64 BE id, varint len, actor bytes, varint base, varint k, k x varint gap )
 * where the dots are base + 1 + gap1, then + gap2, ... (every gap >= 1), and no entry is empty.
 */
#ifndef LT_DVV_H
#define LT_DVV_H

#include "lt_common.h"
#include "lt_types.h"

typedef struct {
    uint64_t id;
    const uint8_t *actor; /* canonical bytes, owned by whoever owns the parsed input */
    size_t actor_len;
    uint64_t base;
    size_t first_dot, ndots; /* into lt_dvv.dots */
} lt_dvv_entry;

/* A parsed context. Owns `entries` and `dots`; the actor bytes belong to the caller. */
typedef struct {
    lt_dvv_entry *entries;
    size_t n;
    uint64_t *dots;
    size_t ndots;
} lt_dvv;

/* Dots lo..hi of one actor; the unit lt_dvv_normalize works in. */
typedef struct {
    uint64_t id;
    const uint8_t *actor;
    size_t actor_len;
    uint64_t lo, hi;
} lt_dvv_range;

void lt_dvv_free(lt_dvv *d);

/* Parses and checks structure (order, gaps, no empty entry, no overflow). */
LT_WARN_UNUSED lt_err lt_dvv_parse(const uint8_t *p, size_t len, lt_dvv *d);
/* Adds the full check: canonical actors, ids. */
LT_WARN_UNUSED lt_err lt_dvv_check_full(const lt_dvv *d);

/* The context holding exactly the union of the ranges (sorted in place). Ranges with lo = 0
 * or lo > hi are LT_E_ZERO / LT_E_ORDER. Only ranges that start at 1 may be long: any other
 * range is expanded into single dots, so a caller must not pass long ranges above 1 (the
 * callers here only pass single dots there). */
LT_WARN_UNUSED lt_err lt_dvv_normalize(lt_dvv_range *r, size_t n, lt_dvv *out);

/* The ranges describing d (one per base, one per cloud dot), appended at r[*n]. The caller
 * sizes r for lt_dvv_range_count(d) more. */
size_t lt_dvv_range_count(const lt_dvv *d);
void lt_dvv_ranges(const lt_dvv *d, lt_dvv_range *r, size_t *n);

LT_WARN_UNUSED lt_err lt_dvv_encode(const lt_dvv *d, lt_buf *out);

/* Index of the actor's entry, or -1. */
ptrdiff_t lt_dvv_find(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len);
int lt_dvv_has_dot(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len,
                   uint64_t counter);
/* The highest counter seen for the actor (0 if none). */
uint64_t lt_dvv_max(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len);
/* Whether a holds every dot of b. */
int lt_dvv_is_descendant(const lt_dvv *a, const lt_dvv *b);

#endif
