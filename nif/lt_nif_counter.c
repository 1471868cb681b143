/* lt_nif_counter.c — G-Counter and PN-Counter: the NIFs the clock NIFs do not cover (value and
 * digest of binaries) and their in-place object types. */
#include "lt_nif.h"

#include "lt_counter.h"

#include <stdlib.h>

/* An Erlang integer for ±magnitude, built through the external format (enif has no 128-bit
 * integers): SMALL_BIG_EXT, little-endian digits. */
static ERL_NIF_TERM make_integer(ErlNifEnv *env, int negative, lt_u128 m) {
    if (m.hi == 0 && !negative)
        return enif_make_uint64(env, m.lo);
    if (m.hi == 0 && m.lo <= (uint64_t)INT64_MAX)
        return enif_make_int64(env, -(int64_t)m.lo);
    uint8_t ext[4 + 16];
    ERL_NIF_TERM t;
    ext[0] = 131;
    ext[1] = 110; /* SMALL_BIG_EXT */
    ext[2] = 16;
    ext[3] = (uint8_t)negative;
    for (int k = 0; k < 8; k++) {
        ext[4 + k] = (uint8_t)(m.lo >> (8 * k));
        ext[12 + k] = (uint8_t)(m.hi >> (8 * k));
    }
    /* Leading zero digits are allowed in SMALL_BIG_EXT; the VM normalises. */
    return enif_binary_to_term(env, ext, sizeof ext, &t, 0) > 0 ? t : lt_raise_nomem(env);
}

/* p - n as an Erlang integer. */
static ERL_NIF_TERM make_difference(ErlNifEnv *env, lt_u128 p, lt_u128 n) {
    int negative = p.hi < n.hi || (p.hi == n.hi && p.lo < n.lo);
    lt_u128 big = negative ? n : p, small = negative ? p : n, d;
    d.lo = big.lo - small.lo;
    d.hi = big.hi - small.hi - (big.lo < small.lo);
    return make_integer(env, negative, d);
}

static ERL_NIF_TERM digest_term(ErlNifEnv *env, const uint8_t d[16]) {
    ERL_NIF_TERM t;
    unsigned char *p = enif_make_new_binary(env, 16, &t);
    if (p == NULL)
        return lt_raise_nomem(env);
    memcpy(p, d, 16);
    return t;
}

static ERL_NIF_TERM bad(ErlNifEnv *env, ERL_NIF_TERM kind, lt_err e) {
    return e == LT_E_NOMEM ? lt_raise_nomem(env) : lt_make_error(env, kind, e);
}

/* gcounter_value(State) -> the sum | {error, {bad_gcounter, Reason}}. */
LT_NIF(lt_nif_gcounter_value) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_u128 sum;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_BIG(env, "gcounter_value", lt_nif_gcounter_value, argc, argv, bin.size);
    lt_err e = lt_gcounter_open(&v, bin.data, bin.size);
    if (e == LT_OK)
        e = lt_gcounter_sum(&v, &sum);
    return e == LT_OK ? make_integer(env, 0, sum) : bad(env, lt_atom.bad_gcounter, e);
}

/* gcounter_digest(State) -> <<_:128>> | {error, {bad_gcounter, Reason}}. */
LT_NIF(lt_nif_gcounter_digest) {
    ErlNifBinary bin;
    lt_vclock_view v;
    uint8_t d[16];
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "gcounter_digest", lt_nif_gcounter_digest, argc, argv, bin.size);
    lt_err e = lt_gcounter_open(&v, bin.data, bin.size);
    if (e == LT_OK)
        e = lt_gcounter_digest(&v, d);
    return e == LT_OK ? digest_term(env, d) : bad(env, lt_atom.bad_gcounter, e);
}

/* pncounter_digest(State) -> <<_:128>> | {error, {bad_pncounter, Reason}}. */
LT_NIF(lt_nif_pncounter_digest) {
    ErlNifBinary bin;
    lt_pncounter_view v;
    uint8_t d[16];
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "pncounter_digest", lt_nif_pncounter_digest, argc, argv, bin.size);
    lt_err e = lt_pncounter_open(&v, bin.data, bin.size);
    if (e == LT_OK)
        e = lt_pncounter_digest(&v, d);
    return e == LT_OK ? digest_term(env, d) : bad(env, lt_atom.bad_pncounter, e);
}

/* pncounter_split(State) -> {P, N} (the two G-Counter halves, as sub-binaries) |
 * {error, {bad_pncounter, Reason}}: the one parser of the PN-Counter's framing. The halves'
 * headers are checked here; their bodies by whatever is done with them. */
LT_NIF(lt_nif_pncounter_split) {
    ErlNifBinary bin;
    lt_pncounter_view v;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    lt_err e = lt_pncounter_open(&v, bin.data, bin.size);
    if (e != LT_OK)
        return bad(env, lt_atom.bad_pncounter, e);
    /* The views point into bin; each half starts at its 2-byte header and minimal varint n. */
    size_t p_start = (size_t)(v.p.ids - bin.data) - 2 - lt_varint_len(v.p.n);
    size_t n_start = (size_t)(v.n.ids - bin.data) - 2 - lt_varint_len(v.n.n);
    return enif_make_tuple2(env, enif_make_sub_binary(env, argv[0], p_start, n_start - p_start),
                            enif_make_sub_binary(env, argv[0], n_start, bin.size - n_start));
}

/* {Tag, N} with N a positive integer below 2^64; 0 if the op is anything else. */
static int get_op(ErlNifEnv *env, ERL_NIF_TERM op, ERL_NIF_TERM *tag, uint64_t *n) {
    int arity;
    const ERL_NIF_TERM *el;
    ErlNifUInt64 v;
    if (!enif_get_tuple(env, op, &arity, &el) || arity != 2 || !enif_get_uint64(env, el[1], &v) ||
        v == 0)
        return 0;
    *tag = el[0];
    *n = v;
    return 1;
}

/* The stack memory for an update's delta (a one-entry G-Counter, or a PN-Counter of one and an
 * empty half): enough for an actor of about 200 bytes; bigger ones spill to the heap. */
#define DELTA_STACK_BYTES 256

/* Adds n to the actor in o; writes the one-entry G-Counter delta to out. */
static lt_err add_to(lt_gcounter_obj *o, const lt_buf *actor, uint64_t id, uint64_t n,
                     lt_buf *out) {
    uint64_t count;
    lt_err e = lt_gcounter_obj_increment(o, id, actor->data, actor->len, n, &count);
    return e == LT_OK ? lt_gcounter_single(id, actor->data, actor->len, count, out) : e;
}

static ERL_NIF_TERM update_result(ErlNifEnv *env, lt_err e, lt_buf *delta) {
    if (e == LT_OK)
        return enif_make_tuple2(env, lt_atom.ok, lt_buf_to_term(env, delta));
    lt_buf_free(delta);
    if (e == LT_E_OVERFLOW)
        return lt_make_overflow(env, lt_atom.counter);
    return lt_raise_nomem(env);
}

/* ---- G-Counter objects -------------------------------------------------------------------- */

static void *gc_create(void) {
    lt_gcounter_obj *o = malloc(sizeof *o);
    if (o != NULL)
        lt_gcounter_obj_init(o);
    return o;
}

static void gc_destroy(void *state) {
    lt_gcounter_obj_free(state);
    free(state);
}

static lt_err gc_join(void *state, const uint8_t *bin, size_t len) {
    lt_vclock_view v;
    lt_err e = lt_gcounter_open(&v, bin, len);
    return e == LT_OK ? lt_gcounter_obj_join(state, &v) : e;
}

/* {increment, N}. */
static ERL_NIF_TERM gc_update(ErlNifEnv *env, void *state, ERL_NIF_TERM op, ERL_NIF_TERM actor) {
    ERL_NIF_TERM tag;
    uint64_t n, id;
    lt_buf a, delta;
    uint8_t a_mem[LT_ACTOR_MAX_BYTES], delta_mem[DELTA_STACK_BYTES];
    lt_buf_init_fixed(&a, a_mem, sizeof a_mem);
    lt_buf_init_spill(&delta, delta_mem, sizeof delta_mem);
    if (!get_op(env, op, &tag, &n) || tag != lt_atom.increment ||
        !lt_actor_from_term(env, actor, &a, &id)) {
        lt_buf_free(&a);
        return enif_make_badarg(env);
    }
    lt_err e = add_to(state, &a, id, n, &delta);
    lt_buf_free(&a);
    return update_result(env, e, &delta);
}

static ERL_NIF_TERM gc_value(ErlNifEnv *env, void *state) {
    return make_integer(env, 0, ((lt_gcounter_obj *)state)->sum);
}

/* The actor of a {get, Actor} query, encoded into a over a_mem (LT_ACTOR_MAX_BYTES, the
 * caller's). */
static int get_query_actor(ErlNifEnv *env, ERL_NIF_TERM query, lt_buf *a, uint8_t *a_mem,
                           uint64_t *id) {
    int arity;
    const ERL_NIF_TERM *el;
    lt_buf_init_fixed(a, a_mem, LT_ACTOR_MAX_BYTES);
    return enif_get_tuple(env, query, &arity, &el) && arity == 2 && el[0] == lt_atom.get &&
           lt_actor_from_term(env, el[1], a, id);
}

/* {get, Actor}: the actor's count. */
static ERL_NIF_TERM gc_query(ErlNifEnv *env, void *state, ERL_NIF_TERM query) {
    uint64_t id;
    lt_buf a;
    uint8_t a_mem[LT_ACTOR_MAX_BYTES];
    int ok = get_query_actor(env, query, &a, a_mem, &id);
    uint64_t c = ok ? lt_gcounter_obj_get(state, id, a.data, a.len) : 0;
    return ok ? enif_make_uint64(env, c) : enif_make_badarg(env);
}

static lt_err gc_snapshot(void *state, lt_buf *out) {
    return lt_gcounter_obj_snapshot(state, out);
}

static lt_err gc_digest(void *state, uint8_t out[16]) {
    return lt_gcounter_obj_digest(state, out);
}

static size_t gc_entries(void *state) {
    return ((lt_gcounter_obj *)state)->actors.n;
}

/* An increment adds at most its one actor; a join at most one a byte. */
static int gc_grow_is_big(void *state, size_t keys, size_t bytes) {
    return lt_gcounter_obj_grow_is_big(state, keys, bytes);
}

const lt_obj_type lt_obj_gcounter = {
    .tag = LT_TYPE_GCOUNTER,
    .bad_kind = &lt_atom.bad_gcounter,
    .create = gc_create,
    .destroy = gc_destroy,
    .join = gc_join,
    .update = gc_update,
    .value = gc_value,
    .query = gc_query,
    .snapshot = gc_snapshot,
    .digest = gc_digest,
    .entries = gc_entries,
    .grow_is_big = gc_grow_is_big,
};

/* ---- PN-Counter objects ------------------------------------------------------------------- */

static void *pn_create(void) {
    lt_pncounter_obj *o = malloc(sizeof *o);
    if (o != NULL)
        lt_pncounter_obj_init(o);
    return o;
}

static void pn_destroy(void *state) {
    lt_pncounter_obj_free(state);
    free(state);
}

static lt_err pn_join(void *state, const uint8_t *bin, size_t len) {
    lt_pncounter_view v;
    lt_err e = lt_pncounter_open(&v, bin, len);
    return e == LT_OK ? lt_pncounter_obj_join(state, &v) : e;
}

/* {increment, N} | {decrement, N}; the delta is a PN-Counter with one entry on its side. */
static ERL_NIF_TERM pn_update(ErlNifEnv *env, void *state, ERL_NIF_TERM op, ERL_NIF_TERM actor) {
    static const uint8_t empty[3] = {LT_TYPE_GCOUNTER, LT_FORMAT_V1, 0};
    lt_pncounter_obj *o = state;
    ERL_NIF_TERM tag;
    uint64_t n, id;
    lt_buf a, half, delta;
    uint8_t a_mem[LT_ACTOR_MAX_BYTES], half_mem[DELTA_STACK_BYTES], delta_mem[DELTA_STACK_BYTES];
    lt_buf_init_fixed(&a, a_mem, sizeof a_mem);
    lt_buf_init_spill(&half, half_mem, sizeof half_mem);
    lt_buf_init_spill(&delta, delta_mem, sizeof delta_mem);
    if (!get_op(env, op, &tag, &n) || (tag != lt_atom.increment && tag != lt_atom.decrement) ||
        !lt_actor_from_term(env, actor, &a, &id)) {
        lt_buf_free(&a);
        return enif_make_badarg(env);
    }
    int up = tag == lt_atom.increment;
    lt_err e = add_to(up ? &o->p : &o->n, &a, id, n, &half);
    lt_buf_free(&a);
    if (e == LT_OK) {
        if (up)
            lt_pncounter_write(half.data, half.len, empty, sizeof empty, &delta);
        else
            lt_pncounter_write(empty, sizeof empty, half.data, half.len, &delta);
    }
    lt_buf_free(&half);
    return update_result(env, e, &delta);
}

static ERL_NIF_TERM pn_value(ErlNifEnv *env, void *state) {
    lt_pncounter_obj *o = state;
    return make_difference(env, o->p.sum, o->n.sum);
}

/* {get, Actor}: the actor's increments less its decrements. */
static ERL_NIF_TERM pn_query(ErlNifEnv *env, void *state, ERL_NIF_TERM query) {
    lt_pncounter_obj *o = state;
    uint64_t id;
    lt_buf a;
    uint8_t a_mem[LT_ACTOR_MAX_BYTES];
    if (!get_query_actor(env, query, &a, a_mem, &id))
        return enif_make_badarg(env);
    lt_u128 p = {0, lt_gcounter_obj_get(&o->p, id, a.data, a.len)};
    lt_u128 n = {0, lt_gcounter_obj_get(&o->n, id, a.data, a.len)};
    return make_difference(env, p, n);
}

static lt_err pn_snapshot(void *state, lt_buf *out) {
    return lt_pncounter_obj_snapshot(state, out);
}

static lt_err pn_digest(void *state, uint8_t out[16]) {
    return lt_pncounter_obj_digest(state, out);
}

static size_t pn_entries(void *state) {
    lt_pncounter_obj *o = state;
    return o->p.actors.n + o->n.actors.n;
}

static int pn_grow_is_big(void *state, size_t keys, size_t bytes) {
    lt_pncounter_obj *o = state;
    return lt_gcounter_obj_grow_is_big(&o->p, keys, bytes) ||
           lt_gcounter_obj_grow_is_big(&o->n, keys, bytes);
}

const lt_obj_type lt_obj_pncounter = {
    .tag = LT_TYPE_PNCOUNTER,
    .bad_kind = &lt_atom.bad_pncounter,
    .create = pn_create,
    .destroy = pn_destroy,
    .join = pn_join,
    .update = pn_update,
    .value = pn_value,
    .query = pn_query,
    .snapshot = pn_snapshot,
    .digest = pn_digest,
    .entries = pn_entries,
    .grow_is_big = pn_grow_is_big,
};
