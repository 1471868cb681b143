/*
 * lt_counter.h — G-Counter and PN-Counter (docs/FORMAT.md, "Counters").
 *
 * A G-Counter's binary is a vector clock's body under its own tag: each actor's count, the
 * value being their sum. Merge, increment and the checks are lt_vclock's. A PN-Counter is two
 * G-Counters, increments (P) and decrements (N):
 *     0x11 0x01  varint len(P)  P  N        (P and N complete G-Counter binaries)
 *
 * In-place objects (lt_gcounter_obj, lt_pncounter_obj) hold the same state as a hash table
 * of actors, so an increment costs O(1) whatever the number of actors, with the value and
 * the digest (lt_digest.h) kept current as they change.
 */
#ifndef LT_COUNTER_H
#define LT_COUNTER_H

#include "lt_common.h"
#include "lt_digest.h"
#include "lt_table.h"
#include "lt_types.h"
#include "lt_vclock.h" /* a G-Counter's body is a vector clock's */

/* A 128-bit unsigned sum (the total of up to 2^32 64-bit counts cannot overflow it). */
typedef struct {
    uint64_t hi, lo;
} lt_u128;

/* ---- G-Counter binaries ---------------------------------------------------------------- */
LT_WARN_UNUSED lt_err lt_gcounter_open(lt_vclock_view *v, const uint8_t *p, size_t len);
/* The value, after checking the structure. */
LT_WARN_UNUSED lt_err lt_gcounter_sum(const lt_vclock_view *v, lt_u128 *sum);
/* The digest, after checking the structure. */
LT_WARN_UNUSED lt_err lt_gcounter_digest(const lt_vclock_view *v, uint8_t out[16]);
/* A G-Counter holding one actor's count: the delta of an increment. */
LT_WARN_UNUSED lt_err lt_gcounter_single(uint64_t id, const uint8_t *actor, size_t actor_len,
                                         uint64_t count, lt_buf *out);

/* ---- PN-Counter binaries --------------------------------------------------------------- */
typedef struct {
    lt_vclock_view p, n;
} lt_pncounter_view;

LT_WARN_UNUSED lt_err lt_pncounter_open(lt_pncounter_view *v, const uint8_t *bin, size_t len);
/* Writes the PN-Counter made of the two G-Counter binaries. */
void lt_pncounter_write(const uint8_t *p, size_t plen, const uint8_t *n, size_t nlen, lt_buf *out);
LT_WARN_UNUSED lt_err lt_pncounter_digest(const lt_pncounter_view *v, uint8_t out[16]);

/* ---- in-place objects ------------------------------------------------------------------ */
typedef struct {
    lt_table actors;
    uint64_t *counts; /* per slot of `actors`; owned */
    size_t counts_cap;
    lt_u128 sum;
    lt_digest_acc digest;
} lt_gcounter_obj;

void lt_gcounter_obj_init(lt_gcounter_obj *o);
void lt_gcounter_obj_free(lt_gcounter_obj *o);
/* Adds `by` to the actor's count; *count receives the new count. LT_E_OVERFLOW past 2^64-1. */
LT_WARN_UNUSED lt_err lt_gcounter_obj_increment(lt_gcounter_obj *o, uint64_t id,
                                                const uint8_t *actor, size_t actor_len, uint64_t by,
                                                uint64_t *count);
/* Joins a G-Counter binary (a state or a delta) into the object: per actor the larger count.
 * The binary's structure is checked first; on error the object is unchanged. */
LT_WARN_UNUSED lt_err lt_gcounter_obj_join(lt_gcounter_obj *o, const lt_vclock_view *v);
uint64_t lt_gcounter_obj_get(const lt_gcounter_obj *o, uint64_t id, const uint8_t *actor,
                             size_t actor_len);
/* Appends the canonical binary of the object's state. */
LT_WARN_UNUSED lt_err lt_gcounter_obj_snapshot(const lt_gcounter_obj *o, lt_buf *out);
LT_WARN_UNUSED lt_err lt_gcounter_obj_digest(const lt_gcounter_obj *o, uint8_t out[16]);

typedef struct {
    lt_gcounter_obj p, n;
} lt_pncounter_obj;

void lt_pncounter_obj_init(lt_pncounter_obj *o);
void lt_pncounter_obj_free(lt_pncounter_obj *o);
LT_WARN_UNUSED lt_err lt_pncounter_obj_join(lt_pncounter_obj *o, const lt_pncounter_view *v);
LT_WARN_UNUSED lt_err lt_pncounter_obj_snapshot(const lt_pncounter_obj *o, lt_buf *out);
LT_WARN_UNUSED lt_err lt_pncounter_obj_digest(const lt_pncounter_obj *o, uint8_t out[16]);

#endif
