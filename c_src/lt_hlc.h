/*
 * lt_hlc.h — hybrid logical clock timestamps (Kulkarni et al., 2014), as pure functions.
 *
 * A timestamp is one uint64: the physical time in milliseconds since the Unix epoch in the
 * high 48 bits and a logical counter in the low 16. Packed this way, comparing timestamps as
 * integers is exactly the HLC order (l, c) compared lexicographically, and the HLC rules
 * reduce to "the least timestamp greater than everything seen and not behind the wall clock":
 *   send/local event:  max(last + 1, pt << 16)
 *   receive remote m:  max(last + 1, m + 1, pt << 16)
 * When the counter overflows (more than 65535 events in one millisecond) the carry moves the
 * physical part one millisecond ahead of the wall clock; order is never lost.
 * The node-global clock that calls these atomically lives in the NIF glue.
 */
#ifndef LT_HLC_H
#define LT_HLC_H

#include "lt_common.h"

#define LT_HLC_LOGICAL_BITS 16
#define LT_HLC_LOGICAL_MASK ((UINT64_C(1) << LT_HLC_LOGICAL_BITS) - 1)
#define LT_HLC_MAX_PHYSICAL_MS ((UINT64_C(1) << (64 - LT_HLC_LOGICAL_BITS)) - 1)

static inline uint64_t lt_hlc_make(uint64_t physical_ms, uint64_t logical) {
    return (physical_ms << LT_HLC_LOGICAL_BITS) | (logical & LT_HLC_LOGICAL_MASK);
}

static inline uint64_t lt_hlc_physical(uint64_t ts) {
    return ts >> LT_HLC_LOGICAL_BITS;
}

static inline uint64_t lt_hlc_logical(uint64_t ts) {
    return ts & LT_HLC_LOGICAL_MASK;
}

/* The timestamp of a local event, given the last timestamp and the wall clock. Saturates at
 * UINT64_MAX (a clock that far ahead has been fed garbage; the NIF refuses such input). */
static inline uint64_t lt_hlc_tick(uint64_t last, uint64_t physical_ms) {
    uint64_t next = last == UINT64_MAX ? last : last + 1;
    uint64_t wall =
        lt_hlc_make(physical_ms > LT_HLC_MAX_PHYSICAL_MS ? LT_HLC_MAX_PHYSICAL_MS : physical_ms, 0);
    return next > wall ? next : wall;
}

/* Receiving a remote timestamp. If its physical part is more than max_offset_ms ahead of the
 * wall clock, returns LT_E_TOO_BIG and stores how far ahead (ms) in *skew_ms; *out is then
 * untouched and the clock must not move. */
static inline lt_err lt_hlc_receive(uint64_t last, uint64_t remote, uint64_t physical_ms,
                                    uint64_t max_offset_ms, uint64_t *out, uint64_t *skew_ms) {
    uint64_t rp = lt_hlc_physical(remote);
    if (rp > physical_ms && rp - physical_ms > max_offset_ms) {
        *skew_ms = rp - physical_ms;
        return LT_E_TOO_BIG;
    }
    uint64_t t = lt_hlc_tick(last, physical_ms);
    uint64_t r = remote == UINT64_MAX ? remote : remote + 1;
    *out = t > r ? t : r;
    return LT_OK;
}

#endif
