/* lt_nif_lwwreg.c — the LWW-Register (c_src/lt_lwwreg.h): NIFs over its binaries, and its
 * in-place object type. Values are any data term, so every call that encodes or decodes one
 * can be large: those move to a dirty scheduler past the cut-offs of lt_nif.h. */
#include "lt_nif.h"

#include "lt_lwwreg.h"

#include <stdlib.h>

/* {error, {bad_lwwreg, Reason}} for bad data; raises enomem for LT_E_NOMEM. */
static ERL_NIF_TERM bad(ErlNifEnv *env, lt_err e) {
    return e == LT_E_NOMEM ? lt_raise_nomem(env) : lt_make_error(env, lt_atom.bad_lwwreg, e);
}

/* {error, {precondition, {stale_timestamp, Ts}}}: an explicit timestamp not above the
 * register's. */
static ERL_NIF_TERM stale(ErlNifEnv *env, uint64_t ts) {
    ERL_NIF_TERM why =
        enif_make_tuple2(env, lt_atom.stale_timestamp, enif_make_uint64(env, (ErlNifUInt64)ts));
    return enif_make_tuple2(env, lt_atom.error, enif_make_tuple2(env, lt_atom.precondition, why));
}

/* A fresh 16-byte binary holding a copy of d (the caller's). */
static ERL_NIF_TERM digest_term(ErlNifEnv *env, const uint8_t d[16]) {
    ERL_NIF_TERM t;
    unsigned char *p = enif_make_new_binary(env, 16, &t);
    if (p == NULL)
        return lt_raise_nomem(env);
    memcpy(p, d, 16);
    return t;
}

/* The term of canonical bytes p[0..len) (one checked term, from an opened register), atoms
 * created as binary_to_term does. Returns LT_OK and *out, or an lt_err. */
static lt_err decode(ErlNifEnv *env, const uint8_t *p, size_t len, ERL_NIF_TERM *out) {
    size_t off = 0;
    int unknown = 0;
    lt_err e = lt_decode_term(env, p, len, &off, 0, out, &unknown);
    return e == LT_OK && off != len ? LT_E_TRAILING : e;
}

/* The answer to a field of an opened register: `value`, `timestamp` or `actor`, `undefined`
 * for the empty register. Returns 0 for an unknown field (badarg); else 1 with *out a term or
 * {error, ...} or a raised exception. */
static int field(ErlNifEnv *env, const lt_lwwreg_view *v, ERL_NIF_TERM name, ERL_NIF_TERM *out) {
    ERL_NIF_TERM t;
    lt_err e = LT_OK;
    if (name != lt_atom.value && name != lt_atom.timestamp && name != lt_atom.actor)
        return 0;
    if (v->empty)
        t = lt_atom.undefined;
    else if (name == lt_atom.timestamp)
        t = enif_make_uint64(env, (ErlNifUInt64)v->ts);
    else if (name == lt_atom.actor)
        e = decode(env, v->actor, v->actor_len, &t);
    else
        e = decode(env, v->value, v->value_len, &t);
    *out = e == LT_OK ? t : bad(env, e);
    return 1;
}

/* Whether a value's encoding is too much for a normal scheduler: more terms than the budget,
 * or more bytes than a pass over bytes should take. */
static int encoded_is_big(lt_err rc, const lt_buf *b) {
    return rc == LT_E_BUDGET || (rc == LT_OK && b->len > LT_DIRTY_BYTES);
}

/* Encodes a value into b (the caller's buffer, cleared first; the caller frees it) with a
 * budget on a normal scheduler, none on a dirty one; returns lt_encode_term's result, LT_E_BUDGET
 * meaning "go dirty". A large binary at the top goes dirty before it is copied. */
static lt_err encode_value(ErlNifEnv *env, ERL_NIF_TERM value, lt_buf *b) {
    long budget = (LT_ENCODE_BUDGET / 2);
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    ErlNifBinary blob;
    b->len = 0;
    b->failed = 0;
    if (normal && enif_inspect_binary(env, value, &blob) && blob.size > LT_DIRTY_BYTES)
        return LT_E_BUDGET;
    lt_err rc = lt_encode_term(env, value, b, normal ? &budget : NULL);
    return normal && encoded_is_big(rc, b) ? LT_E_BUDGET : rc;
}

/* An explicit timestamp: an integer 1..2^64-1. */
static int get_ts(ErlNifEnv *env, ERL_NIF_TERM t, uint64_t *ts) {
    ErlNifUInt64 v;
    if (!enif_get_uint64(env, t, &v) || v == 0)
        return 0;
    *ts = v;
    return 1;
}

/* lwwreg_merge(A, B) -> A or B (the greater, returned as it is) |
 * {error, {bad_lwwreg, Reason}}. */
LT_NIF(lt_nif_lwwreg_merge) {
    ErlNifBinary a, b;
    lt_lwwreg_view va, vb;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &a) ||
        !enif_inspect_binary(env, argv[1], &b))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_merge", lt_nif_lwwreg_merge, argc, argv, a.size + b.size);
    lt_err e = lt_lwwreg_open(&va, a.data, a.size);
    if (e == LT_OK)
        e = lt_lwwreg_open(&vb, b.data, b.size);
    if (e != LT_OK)
        return bad(env, e);
    return argv[lt_lwwreg_choose(&va, &vb)];
}

/* lwwreg_assign(Value, Actor, Ts, State) -> State2 | {error, {bad_lwwreg, Reason}} |
 * {error, {precondition, {stale_timestamp, Ts}}} | {error, {overflow, timestamp}}.
 * Ts is `undefined` for the node's HLC, moved past the register's timestamp (so the write
 * wins locally however far ahead the register is), or an explicit timestamp that must be
 * above the register's. badarg for a value or actor that is not data, or a bad Ts. */
LT_NIF(lt_nif_lwwreg_assign) {
    ErlNifBinary bin;
    lt_lwwreg_view v;
    lt_buf val, act;
    uint64_t ts = 0, id;
    int rc;
    if (argc != 4 || !enif_inspect_binary(env, argv[3], &bin) ||
        (argv[2] != lt_atom.undefined && !get_ts(env, argv[2], &ts)))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_assign", lt_nif_lwwreg_assign, argc, argv, bin.size);
    lt_buf_init(&val);
    lt_buf_init(&act);
    if (!lt_actor_from_term(env, argv[1], &act, &id) ||
        (rc = encode_value(env, argv[0], &val)) == LT_E_NOT_DATA) {
        lt_buf_free(&act);
        lt_buf_free(&val);
        return enif_make_badarg(env);
    }
    if (rc != LT_OK) {
        lt_buf_free(&act);
        lt_buf_free(&val);
        if (rc == LT_E_NOMEM)
            return lt_raise_nomem(env);
        /* A large value: start again where time does not matter (nothing has moved yet). */
        return enif_schedule_nif(env, "lwwreg_assign", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_lwwreg_assign, argc, argv);
    }
    ERL_NIF_TERM r;
    lt_err e = lt_lwwreg_open(&v, bin.data, bin.size);
    if (e != LT_OK) {
        r = bad(env, e);
    } else if (ts != 0 && ts <= v.ts) {
        r = stale(env, ts);
    } else if (ts == 0 && v.ts == UINT64_MAX) {
        r = lt_make_overflow(env, lt_atom.timestamp);
    } else {
        size_t size;
        lt_out out;
        if (ts == 0)
            ts = lt_hlc_advance_past(v.ts);
        if (lt_lwwreg_size(act.len, val.len, &size) != 0 || !lt_out_init(&out, size)) {
            r = lt_raise_nomem(env);
        } else if (lt_lwwreg_write(ts, act.data, act.len, val.data, val.len, &out.buf) != LT_OK) {
            lt_out_abandon(&out);
            r = lt_raise_nomem(env);
        } else {
            r = lt_out_finish(env, &out);
        }
    }
    lt_buf_free(&act);
    lt_buf_free(&val);
    return r;
}

/* lwwreg_value(Field, State) -> the value, timestamp or actor (Field: value | timestamp |
 * actor), `undefined` for the empty register | {error, {bad_lwwreg, Reason}}. */
LT_NIF(lt_nif_lwwreg_value) {
    ErlNifBinary bin;
    lt_lwwreg_view v;
    ERL_NIF_TERM r;
    if (argc != 2 || !enif_inspect_binary(env, argv[1], &bin) ||
        (argv[0] != lt_atom.value && argv[0] != lt_atom.timestamp && argv[0] != lt_atom.actor))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_value", lt_nif_lwwreg_value, argc, argv, bin.size);
    lt_err e = lt_lwwreg_open(&v, bin.data, bin.size);
    if (e != LT_OK)
        return bad(env, e);
    return field(env, &v, argv[0], &r) ? r : enif_make_badarg(env);
}

/* lwwreg_digest(State) -> <<_:128>> | {error, {bad_lwwreg, Reason}}. */
LT_NIF(lt_nif_lwwreg_digest) {
    ErlNifBinary bin;
    lt_lwwreg_view v;
    uint8_t d[16];
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_digest", lt_nif_lwwreg_digest, argc, argv, bin.size);
    lt_err e = lt_lwwreg_open(&v, bin.data, bin.size);
    if (e == LT_OK)
        e = lt_lwwreg_digest(&v, d);
    return e == LT_OK ? digest_term(env, d) : bad(env, e);
}

/* lwwreg_validate(State) -> ok | {error, {bad_lwwreg, Reason}}. Every rule of the format (the
 * decoder behind every other call checks them all too). */
LT_NIF(lt_nif_lwwreg_validate) {
    ErlNifBinary bin;
    lt_lwwreg_view v;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_validate", lt_nif_lwwreg_validate, argc, argv, bin.size);
    lt_err e = lt_lwwreg_open(&v, bin.data, bin.size);
    return e == LT_OK ? lt_atom.ok : bad(env, e);
}

/* lwwreg_to_term(State) -> undefined (the empty register) |
 * #{value => V, timestamp => Ts, actor => A} | {error, {bad_lwwreg, Reason}}. */
LT_NIF(lt_nif_lwwreg_to_term) {
    ErlNifBinary bin;
    lt_lwwreg_view v;
    ERL_NIF_TERM keys[3], vals[3], map;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "lwwreg_to_term", lt_nif_lwwreg_to_term, argc, argv, bin.size);
    lt_err e = lt_lwwreg_open(&v, bin.data, bin.size);
    if (e != LT_OK)
        return bad(env, e);
    if (v.empty)
        return lt_atom.undefined;
    keys[0] = lt_atom.value;
    keys[1] = lt_atom.timestamp;
    keys[2] = lt_atom.actor;
    vals[1] = enif_make_uint64(env, (ErlNifUInt64)v.ts);
    if ((e = decode(env, v.value, v.value_len, &vals[0])) != LT_OK ||
        (e = decode(env, v.actor, v.actor_len, &vals[2])) != LT_OK)
        return bad(env, e);
    return enif_make_map_from_arrays(env, keys, vals, 3, &map) ? map : lt_raise_nomem(env);
}

/* ---- in-place objects ----------------------------------------------------------------- */

/* A new empty register object, owned by the caller (reg_destroy frees it); NULL when out of
 * memory. */
static void *reg_create(void) {
    lt_lwwreg_obj *o = malloc(sizeof *o);
    if (o != NULL && lt_lwwreg_obj_init(o) != LT_OK) {
        lt_lwwreg_obj_free(o);
        free(o);
        o = NULL;
    }
    return o;
}

/* Frees an object from reg_create and everything it owns. */
static void reg_destroy(void *state) {
    lt_lwwreg_obj_free(state);
    free(state);
}

/* Joins the register bin[0..len) (the caller's bytes; copied if kept). */
static lt_err reg_join(void *state, const uint8_t *bin, size_t len) {
    return lt_lwwreg_obj_join(state, bin, len);
}

/* {assign, V} or {assign, V, Ts}: *value is V and *ts the explicit timestamp (0 for none).
 * 0 if the op is anything else (including a bad Ts). */
static int get_op(ErlNifEnv *env, ERL_NIF_TERM op, ERL_NIF_TERM *value, uint64_t *ts) {
    int arity;
    const ERL_NIF_TERM *el;
    if (!enif_get_tuple(env, op, &arity, &el) || (arity != 2 && arity != 3) ||
        el[0] != lt_atom.assign || (arity == 3 && !get_ts(env, el[2], ts)))
        return 0;
    if (arity == 2)
        *ts = 0;
    *value = el[1];
    return 1;
}

/* Applies the op in place; {ok, Delta} with the delta the new register itself, or the errors
 * of lwwreg_assign. Encodes without a budget: obj_update has sent big values to a dirty
 * scheduler already (reg_update_is_big). */
static ERL_NIF_TERM reg_update(ErlNifEnv *env, void *state, ERL_NIF_TERM op, ERL_NIF_TERM actor) {
    lt_lwwreg_obj *o = state;
    ERL_NIF_TERM value;
    uint64_t ts, id;
    lt_buf val, act, delta;
    /* On the stack but for big values (they spill to the heap). */
    uint8_t val_mem[256], act_mem[LT_ACTOR_MAX_BYTES], delta_mem[512];
    lt_buf_init_spill(&val, val_mem, sizeof val_mem);
    lt_buf_init_fixed(&act, act_mem, sizeof act_mem);
    lt_buf_init_spill(&delta, delta_mem, sizeof delta_mem);
    int ok = get_op(env, op, &value, &ts) && lt_actor_from_term(env, actor, &act, &id);
    lt_err rc = ok ? lt_encode_term(env, value, &val, NULL) : LT_E_NOT_DATA;
    ERL_NIF_TERM r;
    if (rc != LT_OK) {
        r = rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    } else if (ts != 0 && ts <= lt_lwwreg_obj_ts(o)) {
        r = stale(env, ts);
    } else if (ts == 0 && lt_lwwreg_obj_ts(o) == UINT64_MAX) {
        r = lt_make_overflow(env, lt_atom.timestamp);
    } else {
        if (ts == 0)
            ts = lt_hlc_advance_past(lt_lwwreg_obj_ts(o));
        lt_err e = lt_lwwreg_obj_assign(o, ts, act.data, act.len, val.data, val.len);
        if (e == LT_OK)
            e = lt_lwwreg_obj_snapshot(o, &delta);
        /* Only memory can fail here: ts is above the register's, actor and value canonical. */
        r = e == LT_OK ? enif_make_tuple2(env, lt_atom.ok, lt_buf_to_term(env, &delta))
                       : lt_raise_nomem(env);
    }
    lt_buf_free(&val);
    lt_buf_free(&act);
    lt_buf_free(&delta);
    return r;
}

/* The value term (decoded from the object's bytes), `undefined` when empty. */
static ERL_NIF_TERM reg_value(ErlNifEnv *env, void *state) {
    lt_lwwreg_obj *o = state;
    ERL_NIF_TERM r;
    (void)field(env, &o->view, lt_atom.value, &r);
    return r;
}

/* `timestamp` or `actor`, as lattice_lwwreg:value/2. */
static ERL_NIF_TERM reg_query(ErlNifEnv *env, void *state, ERL_NIF_TERM query) {
    lt_lwwreg_obj *o = state;
    ERL_NIF_TERM r;
    if (query == lt_atom.value || !field(env, &o->view, query, &r))
        return enif_make_badarg(env);
    return r;
}

/* Appends a copy of the state's bytes to out (the caller's). */
static lt_err reg_snapshot(void *state, lt_buf *out) {
    return lt_lwwreg_obj_snapshot(state, out);
}

/* The digest kept by the object, copied to out; never fails. */
static lt_err reg_digest(void *state, uint8_t out[16]) {
    lt_lwwreg_obj_digest(state, out);
    return LT_OK;
}

/* A snapshot is one copy of the state's bytes: counted in 64-byte "entries" so that
 * obj_snapshot's entry cut-off falls near LT_DIRTY_BYTES. */
static size_t reg_entries(void *state) {
    return ((lt_lwwreg_obj *)state)->state.len / 64;
}

/* Encodes the op's value with a budget and throws the bytes away: only the answer counts. */
static int reg_update_is_big(ErlNifEnv *env, ERL_NIF_TERM op) {
    ERL_NIF_TERM value;
    uint64_t ts;
    lt_buf b;
    if (!get_op(env, op, &value, &ts))
        return 0; /* badarg, from reg_update */
    lt_buf_init(&b);
    lt_err rc = encode_value(env, value, &b);
    lt_buf_free(&b);
    return rc == LT_E_BUDGET;
}

/* Whether decoding the value (or actor) is too much for a normal scheduler: by state size. */
static int reg_value_is_big(void *state) {
    return ((lt_lwwreg_obj *)state)->state.len > LT_DIRTY_TERM_BYTES;
}

const lt_obj_type lt_obj_lwwreg = {
    .tag = LT_TYPE_LWWREG,
    .bad_kind = &lt_atom.bad_lwwreg,
    .create = reg_create,
    .destroy = reg_destroy,
    .join = reg_join,
    .update = reg_update,
    .value = reg_value,
    .query = reg_query,
    .snapshot = reg_snapshot,
    .digest = reg_digest,
    .entries = reg_entries,
    .update_is_big = reg_update_is_big,
    .value_is_big = reg_value_is_big,
};
