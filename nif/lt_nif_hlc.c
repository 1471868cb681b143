/* lt_nif_hlc.c — the node-global hybrid logical clock, and the pure HLC rules for tests. */
#include "lt_nif.h"

#include "lt_hlc.h"

#include <stdatomic.h>

/* One clock per OS process (so per node), shared by every scheduler; it survives a reload of
 * the library, which maps the same object file. Advanced only by compare-and-swap, so no two
 * calls ever return the same timestamp. */
static _Atomic uint64_t hlc_last = 0;
static _Atomic uint64_t hlc_max_offset_ms = 500;

/* Erlang system time in milliseconds: what erlang:system_time(millisecond) says. Summed in
 * microseconds and rounded down once (two millisecond readings could each round down). */
static uint64_t wall_ms(void) {
    ErlNifTime t = enif_monotonic_time(ERL_NIF_USEC) + enif_time_offset(ERL_NIF_USEC);
    return t < 0 ? 0 : (uint64_t)t / 1000;
}

static ERL_NIF_TERM skew_error(ErlNifEnv *env, uint64_t skew) {
    return enif_make_tuple2(env, lt_atom.error,
                            enif_make_tuple2(env, lt_atom.clock_skew, enif_make_uint64(env, skew)));
}

/* now() -> Timestamp, strictly greater than every timestamp this node has returned. */
LT_NIF(lt_nif_hlc_now) {
    (void)argv;
    if (argc != 0)
        return enif_make_badarg(env);
    uint64_t pt = wall_ms();
    uint64_t old = atomic_load_explicit(&hlc_last, memory_order_relaxed), next;
    do {
        next = lt_hlc_tick(old, pt);
    } while (!atomic_compare_exchange_weak_explicit(&hlc_last, &old, next, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return enif_make_uint64(env, next);
}

/* update(Remote) -> {ok, Timestamp} | {error, {clock_skew, Ms}}; the clock does not move on
 * error. */
LT_NIF(lt_nif_hlc_update) {
    ErlNifUInt64 remote;
    if (argc != 1 || !enif_get_uint64(env, argv[0], &remote))
        return enif_make_badarg(env);
    uint64_t pt = wall_ms();
    uint64_t max_offset = atomic_load_explicit(&hlc_max_offset_ms, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&hlc_last, memory_order_relaxed), next, skew;
    do {
        if (lt_hlc_receive(old, remote, pt, max_offset, &next, &skew) != LT_OK)
            return skew_error(env, skew);
    } while (!atomic_compare_exchange_weak_explicit(&hlc_last, &old, next, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return enif_make_tuple2(env, lt_atom.ok, enif_make_uint64(env, next));
}

/* LWW-Register: moves the clock past a timestamp of our own state (see lt_nif.h). The receive
 * rule with no offset limit (UINT64_MAX ms is never exceeded), so it cannot fail. */
uint64_t lt_hlc_advance_past(uint64_t ts) {
    uint64_t pt = wall_ms();
    uint64_t old = atomic_load_explicit(&hlc_last, memory_order_relaxed), next = 0, skew;
    do {
        if (lt_hlc_receive(old, ts, pt, UINT64_MAX, &next, &skew) != LT_OK)
            return UINT64_MAX; /* unreachable */
    } while (!atomic_compare_exchange_weak_explicit(&hlc_last, &old, next, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return next;
}

/* peek() -> the last timestamp handed out (0 before the first), without advancing. */
LT_NIF(lt_nif_hlc_peek) {
    (void)argv;
    if (argc != 0)
        return enif_make_badarg(env);
    return enif_make_uint64(env, atomic_load_explicit(&hlc_last, memory_order_acquire));
}

LT_NIF(lt_nif_hlc_set_max_offset) {
    ErlNifUInt64 ms;
    if (argc != 1 || !enif_get_uint64(env, argv[0], &ms))
        return enif_make_badarg(env);
    atomic_store_explicit(&hlc_max_offset_ms, ms, memory_order_relaxed);
    return lt_atom.ok;
}

LT_NIF(lt_nif_hlc_max_offset) {
    (void)argv;
    if (argc != 0)
        return enif_make_badarg(env);
    return enif_make_uint64(env, atomic_load_explicit(&hlc_max_offset_ms, memory_order_relaxed));
}

/* tick(Last, PhysicalMs) -> Timestamp: the pure rule behind now/0. */
LT_NIF(lt_nif_hlc_tick) {
    ErlNifUInt64 last, pt;
    if (argc != 2 || !enif_get_uint64(env, argv[0], &last) || !enif_get_uint64(env, argv[1], &pt) ||
        pt > LT_HLC_MAX_PHYSICAL_MS)
        return enif_make_badarg(env);
    return enif_make_uint64(env, lt_hlc_tick(last, pt));
}

/* receive(Last, Remote, PhysicalMs, MaxOffsetMs) -> {ok, Ts} | {error, {clock_skew, Ms}}. */
LT_NIF(lt_nif_hlc_receive) {
    ErlNifUInt64 last, remote, pt, max_offset;
    uint64_t next, skew;
    if (argc != 4 || !enif_get_uint64(env, argv[0], &last) ||
        !enif_get_uint64(env, argv[1], &remote) || !enif_get_uint64(env, argv[2], &pt) ||
        pt > LT_HLC_MAX_PHYSICAL_MS || !enif_get_uint64(env, argv[3], &max_offset))
        return enif_make_badarg(env);
    if (lt_hlc_receive(last, remote, pt, max_offset, &next, &skew) != LT_OK)
        return skew_error(env, skew);
    return enif_make_tuple2(env, lt_atom.ok, enif_make_uint64(env, next));
}
