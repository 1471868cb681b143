/* lt_nif_dotkernel.c — the dot-kernel types (c_src/lt_dotkernel.h): OR-Set, LWW-Map and
 * MV-Register. The NIFs over their binaries take the type tag first (errors name the type:
 * {error, {bad_orset | bad_lwwmap | bad_mvreg, Reason}}); the three in-place object types share
 * one implementation.
 *
 * Operations:
 *   OR-Set       {add, E}, {add_all, [E]}, {remove, E}, {remove_all, [E]}
 *   MV-Register  {assign, V}
 *   LWW-Map      {put, K, V} (stamped by the node's HLC, past every timestamp K holds),
 *                {put, K, V, Ts} (an explicit timestamp, 1..2^64-1), {remove, K}
 * A removal of an absent element or key is {error, {precondition, {not_present, E}}}. */
#include "lt_nif.h"

#include "lt_canon.h"
#include "lt_dotkernel.h"
#include "lt_hash.h"

#include <stdlib.h>

static int get_tag(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t *tag) {
    unsigned v;
    if (!enif_get_uint(env, t, &v) ||
        (v != LT_TYPE_ORSET && v != LT_TYPE_LWWMAP && v != LT_TYPE_MVREG))
        return 0;
    *tag = (uint8_t)v;
    return 1;
}

static ERL_NIF_TERM kind_of(uint8_t tag) {
    return tag == LT_TYPE_ORSET    ? lt_atom.bad_orset
           : tag == LT_TYPE_LWWMAP ? lt_atom.bad_lwwmap
                                   : lt_atom.bad_mvreg;
}

/* {error, {bad_<type>, Reason}}, or the raised enomem. */
static ERL_NIF_TERM bad(ErlNifEnv *env, uint8_t tag, lt_err e) {
    return e == LT_E_NOMEM ? lt_raise_nomem(env) : lt_make_error(env, kind_of(tag), e);
}

/* ---- operations ------------------------------------------------------------------------------ */

enum { OP_NONE, OP_ADD, OP_ADD_ALL, OP_REMOVE, OP_REMOVE_ALL, OP_ASSIGN, OP_PUT };

/* A parsed op: its kind, the element/key term or list, and for puts the value and timestamp
 * (0: stamp with the HLC). */
typedef struct {
    int kind;
    ERL_NIF_TERM arg, value;
    unsigned listed;
    uint64_t ts;
} op_term;

static int parse_op(ErlNifEnv *env, ERL_NIF_TERM op, uint8_t tag, op_term *p) {
    int arity;
    const ERL_NIF_TERM *el;
    ErlNifUInt64 ts;
    p->kind = OP_NONE;
    p->listed = 1;
    p->ts = 0;
    if (!enif_get_tuple(env, op, &arity, &el) || arity < 2)
        return OP_NONE;
    p->arg = el[1];
    if (tag == LT_TYPE_ORSET && arity == 2) {
        if (el[0] == lt_atom.add)
            p->kind = OP_ADD;
        else if (el[0] == lt_atom.remove)
            p->kind = OP_REMOVE;
        else if (el[0] == lt_atom.add_all && enif_get_list_length(env, el[1], &p->listed))
            p->kind = OP_ADD_ALL;
        else if (el[0] == lt_atom.remove_all && enif_get_list_length(env, el[1], &p->listed))
            p->kind = OP_REMOVE_ALL;
    } else if (tag == LT_TYPE_MVREG && arity == 2 && el[0] == lt_atom.assign) {
        p->kind = OP_ASSIGN;
    } else if (tag == LT_TYPE_LWWMAP) {
        if (arity == 2 && el[0] == lt_atom.remove)
            p->kind = OP_REMOVE;
        else if (el[0] == lt_atom.put && (arity == 3 || arity == 4)) {
            p->value = el[2];
            if (arity == 4 && (!enif_get_uint64(env, el[3], &ts) || ts == 0))
                return OP_NONE;
            p->ts = arity == 4 ? (uint64_t)ts : 0;
            p->kind = OP_PUT;
        }
    }
    return p->kind;
}

/* The op's keys (and payloads), encoded into one buffer. Owns everything in it; a few ops fit
 * in the inline arrays (the common single-key op allocates nothing). Not to be copied. */
#define INLINE_OPS 4
typedef struct {
    lt_buf bytes;
    lt_dk_op *ops;
    ERL_NIF_TERM *terms; /* each op's element or key term, for error messages */
    size_t *offs;        /* per op: key offset and length, payload offset and length */
    size_t n;
    lt_dk_op inline_ops[INLINE_OPS];
    ERL_NIF_TERM inline_terms[INLINE_OPS];
    size_t inline_offs[4 * INLINE_OPS];
    uint8_t inline_bytes[256];
} op_list;

static void op_list_free(op_list *l) {
    lt_buf_free(&l->bytes);
    if (l->ops != NULL && l->ops != l->inline_ops)
        enif_free(l->ops);
    if (l->terms != NULL && l->terms != l->inline_terms)
        enif_free(l->terms);
    if (l->offs != NULL && l->offs != l->inline_offs)
        enif_free(l->offs);
    l->ops = NULL;
    l->terms = NULL;
    l->offs = NULL;
    l->n = 0;
}

/* Encodes the op's keys (and for a put, the payload: 8 timestamp bytes, filled in later when
 * the HLC stamps it, then the value). The caller frees l whatever the result. Returns LT_OK,
 * LT_E_NOT_DATA, LT_E_BUDGET or LT_E_NOMEM (as lt_encode_term). */
static lt_err read_ops(ErlNifEnv *env, const op_term *p, long *budget, op_list *l) {
    ERL_NIF_TERM head, tail = p->arg;
    size_t n = p->listed ? p->listed : 1;
    lt_buf_init_spill(&l->bytes, l->inline_bytes, sizeof l->inline_bytes);
    l->n = 0;
    l->ops = l->inline_ops;
    l->terms = l->inline_terms;
    l->offs = l->inline_offs;
    if (n > INLINE_OPS) {
        l->ops = n <= SIZE_MAX / sizeof *l->ops ? enif_alloc(n * sizeof *l->ops) : NULL;
        l->terms = n <= SIZE_MAX / sizeof *l->terms ? enif_alloc(n * sizeof *l->terms) : NULL;
        l->offs =
            n <= SIZE_MAX / (4 * sizeof *l->offs) ? enif_alloc(4 * n * sizeof *l->offs) : NULL;
    }
    if (l->ops == NULL || l->terms == NULL || l->offs == NULL)
        return LT_E_NOMEM;
    int listed = p->kind == OP_ADD_ALL || p->kind == OP_REMOVE_ALL;
    for (size_t k = 0; k < p->listed; k++) {
        ERL_NIF_TERM t = p->arg;
        if (listed) {
            if (!enif_get_list_cell(env, tail, &head, &tail))
                return LT_E_NOT_DATA;
            t = head;
        }
        size_t start = l->bytes.len;
        lt_err rc = lt_encode_term(env, t, &l->bytes, budget);
        if (rc != LT_OK)
            return rc;
        l->offs[4 * k] = start;
        l->offs[4 * k + 1] = l->bytes.len - start;
        l->offs[4 * k + 2] = l->offs[4 * k + 3] = 0;
        if (p->kind == OP_PUT) {
            size_t pstart = l->bytes.len;
            uint8_t ts[8];
            lt_write_be64(ts, p->ts);
            lt_buf_put(&l->bytes, ts, 8);
            if ((rc = lt_encode_term(env, p->value, &l->bytes, budget)) != LT_OK)
                return rc;
            l->offs[4 * k + 2] = pstart;
            l->offs[4 * k + 3] = l->bytes.len - pstart;
        }
        l->terms[k] = t;
        l->n++;
    }
    if (l->bytes.failed)
        return LT_E_NOMEM;
    for (size_t k = 0; k < l->n; k++) {
        lt_dk_op *op = &l->ops[k];
        op->key = l->bytes.data + l->offs[4 * k];
        op->key_len = l->offs[4 * k + 1];
        op->id = lt_actor_id(op->key, op->key_len);
        op->payload = l->offs[4 * k + 3] ? l->bytes.data + l->offs[4 * k + 2] : NULL;
        op->payload_len = l->offs[4 * k + 3];
        op->add =
            p->kind == OP_ADD || p->kind == OP_ADD_ALL || p->kind == OP_ASSIGN || p->kind == OP_PUT;
    }
    return LT_OK;
}

static ERL_NIF_TERM not_present(ErlNifEnv *env, ERL_NIF_TERM elem) {
    return enif_make_tuple2(env, lt_atom.error,
                            enif_make_tuple2(env, lt_atom.precondition,
                                             enif_make_tuple2(env, lt_atom.not_present, elem)));
}

/* The error of a failed update. */
static ERL_NIF_TERM update_error(ErlNifEnv *env, uint8_t tag, lt_err e, const op_list *l,
                                 size_t absent) {
    if (e == LT_E_ABSENT)
        return not_present(env, l->terms[absent]);
    if (e == LT_E_OVERFLOW)
        return enif_make_tuple2(env, lt_atom.error, lt_atom.counter_overflow);
    return bad(env, tag, e);
}

/* The largest timestamp among payload dots (LWW-Map). */
static uint64_t max_ts(const uint8_t *payload, size_t len, uint64_t max) {
    uint64_t ts = len >= 8 ? lt_read_be64(payload) : 0;
    return ts > max ? ts : max;
}

/* Stamps an HLC put: past every timestamp the key holds. LT_E_OVERFLOW when the key holds
 * the largest timestamp there is. */
static lt_err stamp(op_list *l, uint64_t held) {
    if (held == UINT64_MAX)
        return LT_E_OVERFLOW;
    uint64_t ts = lt_hlc_advance_past(held);
    lt_write_be64((uint8_t *)l->ops[0].payload, ts);
    return LT_OK;
}

static ERL_NIF_TERM timestamp_overflow(ErlNifEnv *env) {
    return enif_make_tuple2(env, lt_atom.error, lt_atom.timestamp_overflow);
}

/* Encodes the op, going dirty when it is big. *rc receives LT_OK or the failure; on
 * LT_E_BUDGET the caller reschedules. */
static int encode_op(ErlNifEnv *env, const op_term *p, op_list *l) {
    long budget = LT_ENCODE_BUDGET;
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    lt_err rc = read_ops(env, p, normal ? &budget : NULL, l);
    if (rc == LT_OK && normal && l->bytes.len > LT_DIRTY_TERM_BYTES)
        rc = LT_E_BUDGET; /* few terms but many bytes */
    return rc;
}

/* dk_update(Tag, Op, Actor, State) -> {ok, State2, Delta} | {error, Reason}. badarg for an
 * unknown op, an actor that cannot be one, or a term that is not data. */
LT_NIF(lt_nif_dk_update) {
    ErlNifBinary bin;
    uint8_t tag;
    op_term p;
    lt_buf actor;
    uint8_t actor_mem[LT_ACTOR_MAX_BYTES];
    uint64_t actor_id;
    if (argc != 4 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[3], &bin) ||
        parse_op(env, argv[1], tag, &p) == OP_NONE)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_BYTES, env, "dk_update", lt_nif_dk_update, argc, argv, bin.size);
    LT_DIRTY_IF_TERMS(env, "dk_update", lt_nif_dk_update, argc, argv,
                      (size_t)p.listed * LT_BYTES_PER_LISTED);
    lt_buf_init_fixed(&actor, actor_mem, sizeof actor_mem);
    if (!lt_actor_from_term(env, argv[2], &actor, &actor_id)) {
        lt_buf_free(&actor);
        return enif_make_badarg(env);
    }
    op_list l;
    lt_err rc = encode_op(env, &p, &l);
    if (rc != LT_OK) {
        op_list_free(&l);
        lt_buf_free(&actor);
        if (rc == LT_E_BUDGET)
            return enif_schedule_nif(env, "dk_update", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_dk_update, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    lt_dk_view v;
    lt_err e = lt_dk_open(&v, bin.data, bin.size, tag);
    ERL_NIF_TERM result;
    if (e != LT_OK) {
        result = bad(env, tag, e);
        goto done_list;
    }
    if (p.kind == OP_PUT && p.ts == 0) {
        lt_dk_entry en;
        int found;
        uint64_t held = 0;
        if ((e = lt_dk_lookup(&v, l.ops[0].id, l.ops[0].key, l.ops[0].key_len, &en, &found)) !=
            LT_OK) {
            result = bad(env, tag, e);
            goto done_view;
        }
        size_t off = 0;
        for (size_t j = 0; found && j < en.nd; j++) {
            lt_dk_dot d;
            lt_dk_dot_at(&v, &en, &off, &d);
            held = max_ts(d.payload, d.payload_len, held);
        }
        if (stamp(&l, held) != LT_OK) {
            result = timestamp_overflow(env);
            goto done_view;
        }
    }
    lt_buf delta, state;
    size_t absent = 0;
    lt_buf_init(&delta);
    lt_buf_init(&state);
    e = lt_dk_update(&v, actor_id, actor.data, actor.len, l.ops, l.n, p.kind == OP_ASSIGN, &delta,
                     &state, &absent);
    if (e != LT_OK) {
        lt_buf_free(&delta);
        lt_buf_free(&state);
        result = update_error(env, tag, e, &l, absent);
        goto done_view;
    }
    ERL_NIF_TERM d = lt_buf_to_term(env, &delta), s = lt_buf_to_term(env, &state);
    if (enif_is_exception(env, d) || enif_is_exception(env, s))
        result = enif_is_exception(env, d) ? d : s;
    else
        result = enif_make_tuple3(env, lt_atom.ok, s, d);
done_view:
    lt_dk_close(&v);
done_list:
    op_list_free(&l);
    lt_buf_free(&actor);
    return result;
}

/* A merge's state for lt_merge_run: the inputs' views and the core's stepper. */
typedef struct {
    lt_dk_view a, b;
    lt_dk_merger *m;
} dk_merge_ctx;

static lt_err dk_merge_start(void *ctx, uint8_t tag, const ErlNifBinary *a, const ErlNifBinary *b,
                             lt_merge_out *out) {
    dk_merge_ctx *c = ctx;
    lt_err e = lt_dk_open(&c->a, a->data, a->size, tag);
    if (e != LT_OK)
        return e;
    if ((e = lt_dk_open(&c->b, b->data, b->size, tag)) != LT_OK) {
        lt_dk_close(&c->a);
        return e;
    }
    /* Straight into the result binary when its size can be bounded (the usual case). */
    lt_buf *buf = lt_merge_output(out, lt_dk_merge_bound(&c->a, &c->b));
    e = buf == NULL ? LT_E_NOMEM : lt_dk_merge_start(&c->a, &c->b, buf, &c->m);
    if (e != LT_OK) {
        lt_dk_close(&c->b);
        lt_dk_close(&c->a);
    }
    return e;
}

static lt_err dk_merge_step(void *ctx, size_t budget, int *done) {
    return lt_dk_merge_step(((dk_merge_ctx *)ctx)->m, budget, done);
}

static void dk_merge_stop(void *ctx) {
    dk_merge_ctx *c = ctx;
    lt_dk_merge_free(c->m);
    lt_dk_close(&c->b);
    lt_dk_close(&c->a);
}

static const lt_merge_kind dk_merge_kind = {sizeof(dk_merge_ctx), dk_merge_start, dk_merge_step,
                                            dk_merge_stop, bad};

/* dk_merge(Tag, A, B) -> the join | {error, {bad_<type>, Reason}}. Merges of more than
 * LT_YIELD_BYTES yield. */
LT_NIF(lt_nif_dk_merge) {
    ErlNifBinary a, b;
    uint8_t tag;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &a) ||
        !enif_inspect_binary(env, argv[2], &b))
        return enif_make_badarg(env);
    return lt_merge_run(env, &dk_merge_kind, tag, argv + 1, &a, &b, LT_YIELD_BYTES);
}

/* ---- values ---------------------------------------------------------------------------------- */

/* Whether LWW-Map dot (ts, actor bytes, counter) x beats y: the later timestamp, then the
 * greater actor (canonical bytes), then the greater counter. */
static int lww_beats(uint64_t tx, const uint8_t *ax, size_t axl, uint64_t cx, uint64_t ty,
                     const uint8_t *ay, size_t ayl, uint64_t cy) {
    if (tx != ty)
        return tx > ty;
    int c = lt_bytes_cmp(ax, axl, ay, ayl);
    if (c != 0)
        return c > 0;
    return cx > cy;
}

/* The winning payload of an entry of a view (LWW-Map). */
static void view_winner(const lt_dk_view *v, const lt_dk_entry *e, const uint8_t **pl,
                        size_t *plen) {
    size_t off = 0;
    lt_dk_dot best = {0, 0, NULL, 0}, d;
    for (size_t j = 0; j < e->nd; j++) {
        lt_dk_dot_at(v, e, &off, &d);
        const lt_dk_actor *a = &v->actors[d.actor], *b = &v->actors[best.actor];
        if (j == 0 || lww_beats(lt_read_be64(d.payload), a->bytes, a->len, d.counter,
                                lt_read_be64(best.payload), b->bytes, b->len, best.counter))
            best = d;
    }
    *pl = best.payload;
    *plen = best.payload_len;
}

/* The value of a checked view: the elements (OR-Set, MV-Register) as a list in term order, or
 * the map of key => winning value (LWW-Map). */
static ERL_NIF_TERM view_value(ErlNifEnv *env, const lt_dk_view *v, lt_err *err) {
    size_t n = v->ne ? v->ne : 1, off = 0;
    lt_value_item *items = enif_alloc(n * sizeof *items);
    lt_value_item **order = enif_alloc(n * sizeof *order);
    ERL_NIF_TERM *vals = v->tag == LT_TYPE_LWWMAP ? enif_alloc(n * sizeof *vals) : NULL;
    ERL_NIF_TERM *keys = v->tag == LT_TYPE_LWWMAP ? enif_alloc(n * sizeof *keys) : NULL;
    ERL_NIF_TERM result = 0;
    *err = LT_OK;
    if (items == NULL || order == NULL || (v->tag == LT_TYPE_LWWMAP && (!vals || !keys))) {
        *err = LT_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < v->ne && *err == LT_OK; i++) {
        lt_dk_entry e;
        if ((*err = lt_dk_next(v, i, &off, &e)) != LT_OK)
            break;
        if (v->tag != LT_TYPE_LWWMAP) {
            *err = lt_value_item_init(env, &items[i], e.key, e.key_len);
            order[i] = &items[i];
            continue;
        }
        const uint8_t *pl;
        size_t plen;
        view_winner(v, &e, &pl, &plen);
        if ((*err = lt_decode_whole(env, e.key, e.key_len, &keys[i])) == LT_OK)
            *err = lt_decode_whole(env, pl + 8, plen - 8, &vals[i]);
    }
    if (*err != LT_OK)
        goto done;
    if (v->tag != LT_TYPE_LWWMAP)
        result = lt_value_items_list(env, order, v->ne);
    else if (!enif_make_map_from_arrays(env, keys, vals, v->ne, &result))
        *err = LT_E_NONCANONICAL; /* two keys that are the same term: not from a canonical state */
done:
    if (items)
        enif_free(items);
    if (order)
        enif_free(order);
    if (vals)
        enif_free(vals);
    if (keys)
        enif_free(keys);
    return result;
}

/* Opens and fully checks argv[k] as a state of `tag`; on failure *result is the error. */
static int open_checked(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t tag, ErlNifBinary *bin,
                        lt_dk_view *v, ERL_NIF_TERM *result) {
    lt_err e = lt_dk_open(v, bin->data, bin->size, tag);
    (void)t;
    if (e == LT_OK && (e = lt_dk_check_full(v)) != LT_OK)
        lt_dk_close(v);
    if (e != LT_OK)
        *result = bad(env, tag, e);
    return e == LT_OK;
}

/* dk_value(Tag, State) -> [E] (OR-Set, MV-Register; term order) | #{K => V} (LWW-Map) |
 * {error, ...}. Checks every rule, as the bytes become terms. */
LT_NIF(lt_nif_dk_value) {
    ErlNifBinary bin;
    uint8_t tag;
    lt_dk_view v;
    ERL_NIF_TERM result;
    lt_err e;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "dk_value", lt_nif_dk_value, argc, argv, bin.size);
    if (!open_checked(env, argv[1], tag, &bin, &v, &result))
        return result;
    result = view_value(env, &v, &e);
    lt_dk_close(&v);
    return e == LT_OK ? result : bad(env, tag, e);
}

/* A query's key: {contains, E} (OR-Set, MV-Register, LWW-Map) or {get, K} (LWW-Map); size is
 * answered without one. Returns the query's atom, or 0 for an unknown query. */
static ERL_NIF_TERM query_key(ErlNifEnv *env, uint8_t tag, ERL_NIF_TERM q, ERL_NIF_TERM *key) {
    int arity;
    const ERL_NIF_TERM *el;
    if (q == lt_atom.size)
        return q;
    if (!enif_get_tuple(env, q, &arity, &el) || arity != 2)
        return 0;
    *key = el[1];
    if (el[0] == lt_atom.contains || (el[0] == lt_atom.get && tag == LT_TYPE_LWWMAP))
        return el[0];
    return 0;
}

/* The answer to `query` about an entry that is present (found) or not, for a view or object.
 * An object's payload was checked when it came in, so only memory can fail its decoding; a
 * view's (dk_query checks only the structure) may be bad data: {error, {bad_<type>, _}}. */
static ERL_NIF_TERM answer(ErlNifEnv *env, uint8_t tag, ERL_NIF_TERM what, int found,
                           const uint8_t *pl, size_t plen) {
    ERL_NIF_TERM v;
    if (what == lt_atom.contains)
        return found ? lt_atom.true_ : lt_atom.false_;
    if (!found)
        return enif_make_tuple2(env, lt_atom.error, lt_atom.not_found);
    lt_err e = lt_decode_whole(env, pl + 8, plen - 8, &v);
    if (e != LT_OK)
        return bad(env, tag, e);
    return enif_make_tuple2(env, lt_atom.ok, v);
}

/* Encodes a key term into `small` (cap bytes) or, when it is larger, into heap memory (the
 * caller frees b either way: lt_buf_free leaves a fixed buffer alone). LT_E_NOT_DATA when it
 * is not data, LT_E_NOMEM when out of memory. */
static lt_err encode_key(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *b, uint8_t *small, size_t cap,
                         uint64_t *id) {
    lt_buf_init_fixed(b, small, cap);
    lt_err rc = lt_encode_term(env, t, b, NULL);
    if (rc == LT_E_NOMEM) { /* too big for the stack */
        lt_buf_init(b);
        rc = lt_encode_term(env, t, b, NULL);
    }
    if (rc != LT_OK)
        return rc;
    *id = lt_actor_id(b->data, b->len);
    return LT_OK;
}

/* dk_query(Tag, Query, State) -> the answer | {error, ...}: size, {contains, E}, {get, K}
 * ({ok, V} | {error, not_found}). The key is looked up without checking that the binary's terms
 * are canonical (as a vclock get): only its structure. */
LT_NIF(lt_nif_dk_query) {
    ErlNifBinary bin;
    uint8_t tag;
    lt_dk_view v;
    ERL_NIF_TERM key = 0, what, result;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[2], &bin) ||
        (what = query_key(env, tag, argv[1], &key)) == 0)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_BYTES, env, "dk_query", lt_nif_dk_query, argc, argv, bin.size);
    lt_err e = lt_dk_open(&v, bin.data, bin.size, tag);
    if (e != LT_OK)
        return bad(env, tag, e);
    if (what == lt_atom.size) {
        e = lt_dk_check(&v);
        result = e == LT_OK ? enif_make_uint64(env, v.ne) : bad(env, tag, e);
        lt_dk_close(&v);
        return result;
    }
    lt_buf scratch;
    uint8_t small[256];
    uint64_t id;
    lt_dk_entry en;
    int found = 0;
    lt_err rc = encode_key(env, key, &scratch, small, sizeof small, &id);
    if (rc != LT_OK) {
        lt_buf_free(&scratch);
        lt_dk_close(&v);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    e = lt_dk_lookup(&v, id, scratch.data, scratch.len, &en, &found);
    const uint8_t *pl = NULL;
    size_t plen = 0;
    if (e == LT_OK && found && tag == LT_TYPE_LWWMAP)
        view_winner(&v, &en, &pl, &plen);
    result = e == LT_OK ? answer(env, tag, what, found, pl, plen) : bad(env, tag, e);
    lt_buf_free(&scratch);
    lt_dk_close(&v);
    return result;
}

/* dk_digest(Tag, State) -> <<_:128>> | {error, ...}. */
LT_NIF(lt_nif_dk_digest) {
    ErlNifBinary bin;
    uint8_t tag, d[16];
    lt_dk_view v;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "dk_digest", lt_nif_dk_digest, argc, argv, bin.size);
    lt_err e = lt_dk_open(&v, bin.data, bin.size, tag);
    if (e != LT_OK)
        return bad(env, tag, e);
    e = lt_dk_digest(&v, d);
    lt_dk_close(&v);
    return e == LT_OK ? lt_digest_term(env, d) : bad(env, tag, e);
}

/* dk_validate(Tag, State) -> ok | {error, ...}: every rule of the format. */
LT_NIF(lt_nif_dk_validate) {
    ErlNifBinary bin;
    uint8_t tag;
    lt_dk_view v;
    ERL_NIF_TERM result;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "dk_validate", lt_nif_dk_validate, argc, argv, bin.size);
    if (!open_checked(env, argv[1], tag, &bin, &v, &result))
        return result;
    lt_dk_close(&v);
    return lt_atom.ok;
}

/* dk_to_list(Tag, State) -> {[{Key, [Dot]}], [{Actor, Base, [Counter]}]} | {error, ...}: every
 * entry with its dots ({Actor, Counter}, or {Actor, Counter, Ts, Value} for an LWW-Map) and the
 * causal context, in the binary's order. For inspection. */
LT_NIF(lt_nif_dk_to_list) {
    ErlNifBinary bin;
    uint8_t tag;
    lt_dk_view v;
    ERL_NIF_TERM result;
    lt_err e = LT_OK;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &bin))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "dk_to_list", lt_nif_dk_to_list, argc, argv, bin.size);
    if (!open_checked(env, argv[1], tag, &bin, &v, &result))
        return result;
    ERL_NIF_TERM *actors = enif_alloc((v.na ? v.na : 1) * sizeof *actors);
    ERL_NIF_TERM ctx = enif_make_list(env, 0), entries = enif_make_list(env, 0);
    if (actors == NULL) {
        lt_dk_close(&v);
        return lt_raise_nomem(env);
    }
    for (size_t i = v.na; i-- > 0 && e == LT_OK;) {
        const lt_dk_actor *a = &v.actors[i];
        ERL_NIF_TERM cloud = enif_make_list(env, 0);
        if ((e = lt_decode_whole(env, a->bytes, a->len, &actors[i])) != LT_OK)
            break;
        for (size_t j = a->ncloud; j-- > 0;)
            cloud = enif_make_list_cell(env, enif_make_uint64(env, a->cloud[j]), cloud);
        ctx = enif_make_list_cell(
            env, enif_make_tuple3(env, actors[i], enif_make_uint64(env, a->base), cloud), ctx);
    }
    /* Entries front to back, then the list reversed. */
    size_t off = 0;
    for (size_t i = 0; i < v.ne && e == LT_OK; i++) {
        lt_dk_entry en;
        ERL_NIF_TERM key, dots = enif_make_list(env, 0), dl;
        if ((e = lt_dk_next(&v, i, &off, &en)) != LT_OK ||
            (e = lt_decode_whole(env, en.key, en.key_len, &key)) != LT_OK)
            break;
        size_t doff = 0;
        for (size_t j = 0; j < en.nd && e == LT_OK; j++) {
            lt_dk_dot d;
            ERL_NIF_TERM dot, val;
            lt_dk_dot_at(&v, &en, &doff, &d);
            if (d.payload == NULL) {
                dot = enif_make_tuple2(env, actors[d.actor], enif_make_uint64(env, d.counter));
            } else {
                e = lt_decode_whole(env, d.payload + 8, d.payload_len - 8, &val);
                dot = enif_make_tuple4(env, actors[d.actor], enif_make_uint64(env, d.counter),
                                       enif_make_uint64(env, lt_read_be64(d.payload)), val);
            }
            dots = enif_make_list_cell(env, dot, dots);
        }
        enif_make_reverse_list(env, dots, &dl);
        entries = enif_make_list_cell(env, enif_make_tuple2(env, key, dl), entries);
    }
    enif_free(actors);
    lt_dk_close(&v);
    if (e != LT_OK)
        return bad(env, tag, e);
    enif_make_reverse_list(env, entries, &result);
    return enif_make_tuple2(env, result, ctx);
}

/* ---- in-place objects --------------------------------------------------------------------------
 */

static void *create(uint8_t tag) {
    lt_dk_obj *o = malloc(sizeof *o);
    if (o != NULL)
        lt_dk_obj_init(o, tag);
    return o;
}

static void *orset_create(void) {
    return create(LT_TYPE_ORSET);
}

static void *lwwmap_create(void) {
    return create(LT_TYPE_LWWMAP);
}

static void *mvreg_create(void) {
    return create(LT_TYPE_MVREG);
}

static void destroy(void *state) {
    lt_dk_obj_free(state);
    free(state);
}

static lt_err join(void *state, const uint8_t *bin, size_t len) {
    lt_dk_obj *o = state;
    lt_dk_view v;
    lt_err e = lt_dk_open(&v, bin, len, o->tag);
    if (e == LT_OK) {
        e = lt_dk_obj_join(o, &v);
        lt_dk_close(&v);
    }
    return e;
}

static ERL_NIF_TERM update(ErlNifEnv *env, void *state, ERL_NIF_TERM opt, ERL_NIF_TERM actor_t) {
    lt_dk_obj *o = state;
    op_term p;
    lt_buf actor;
    uint8_t actor_mem[LT_ACTOR_MAX_BYTES], delta_mem[512];
    uint64_t actor_id;
    op_list l;
    if (parse_op(env, opt, o->tag, &p) == OP_NONE)
        return enif_make_badarg(env);
    lt_buf_init_fixed(&actor, actor_mem, sizeof actor_mem);
    if (!lt_actor_from_term(env, actor_t, &actor, &actor_id)) {
        lt_buf_free(&actor);
        return enif_make_badarg(env);
    }
    /* No budget: obj_update moved large ops to a dirty scheduler already (update_is_big). */
    lt_err rc = read_ops(env, &p, NULL, &l);
    ERL_NIF_TERM result;
    if (rc != LT_OK) {
        result = rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
        goto done;
    }
    if (p.kind == OP_PUT && p.ts == 0) {
        ptrdiff_t s = lt_dk_obj_find(o, l.ops[0].id, l.ops[0].key, l.ops[0].key_len);
        uint64_t held = 0;
        for (size_t j = 0; s >= 0 && j < o->dots[s].n; j++) {
            const lt_dk_odot *d = &lt_dk_obj_dots(o, (size_t)s)[j];
            held = max_ts(d->payload, d->payload_len, held);
        }
        if (stamp(&l, held) != LT_OK) {
            result = timestamp_overflow(env);
            goto done;
        }
    }
    lt_buf delta;
    size_t absent = 0;
    lt_buf_init_spill(&delta, delta_mem, sizeof delta_mem);
    lt_err e = lt_dk_obj_update(o, actor_id, actor.data, actor.len, l.ops, l.n, p.kind == OP_ASSIGN,
                                &delta, &absent);
    if (e != LT_OK) {
        lt_buf_free(&delta);
        result = update_error(env, o->tag, e, &l, absent);
        goto done;
    }
    result = lt_buf_to_term(env, &delta);
    if (!enif_is_exception(env, result))
        result = enif_make_tuple2(env, lt_atom.ok, result);
done:
    op_list_free(&l);
    lt_buf_free(&actor);
    return result;
}

/* The winning dot of an object's key (LWW-Map). */
static const lt_dk_odot *obj_winner(const lt_dk_obj *o, size_t s) {
    const lt_dk_odot *arr = lt_dk_obj_dots(o, s), *best = &arr[0];
    const lt_table *t = &o->actors;
    for (size_t j = 1; j < o->dots[s].n; j++) {
        const lt_dk_odot *d = &arr[j];
        if (lww_beats(lt_read_be64(d->payload), lt_table_key(t, d->actor), t->key_len[d->actor],
                      d->counter, lt_read_be64(best->payload), lt_table_key(t, best->actor),
                      t->key_len[best->actor], best->counter))
            best = d;
    }
    return best;
}

static ERL_NIF_TERM value(ErlNifEnv *env, void *state) {
    lt_dk_obj *o = state;
    const lt_table *t = &o->keys;
    size_t n = o->live ? o->live : 1, k = 0;
    lt_value_item *items = enif_alloc(n * sizeof *items);
    lt_value_item **order = enif_alloc(n * sizeof *order);
    ERL_NIF_TERM *vals = enif_alloc(n * sizeof *vals), result = 0;
    lt_err e = items && order && vals ? LT_OK : LT_E_NOMEM;
    for (size_t s = 0; s < t->n && e == LT_OK; s++) {
        if (o->dots[s].n == 0)
            continue;
        /* The object's keys came from fully checked binaries or from encoding terms. */
        e = lt_value_item_init(env, &items[k], lt_table_key(t, s), t->key_len[s]);
        if (e == LT_OK && o->tag == LT_TYPE_LWWMAP) {
            const lt_dk_odot *w = obj_winner(o, s);
            e = lt_decode_whole(env, w->payload + 8, w->payload_len - 8, &vals[k]);
        }
        order[k] = &items[k];
        k++;
    }
    if (e == LT_OK && o->tag != LT_TYPE_LWWMAP) {
        result = lt_value_items_list(env, order, k);
    } else if (e == LT_OK) {
        ERL_NIF_TERM *keys = (ERL_NIF_TERM *)order; /* reuse: a pointer is a term's size */
        for (size_t i = 0; i < k; i++) {
            ERL_NIF_TERM kt = items[i].t;
            keys[i] = kt;
        }
        if (!enif_make_map_from_arrays(env, keys, vals, k, &result))
            e = LT_E_NOMEM;
    }
    if (items)
        enif_free(items);
    if (order)
        enif_free(order);
    if (vals)
        enif_free(vals);
    return e == LT_OK ? result : lt_raise_nomem(env);
}

static ERL_NIF_TERM query(ErlNifEnv *env, void *state, ERL_NIF_TERM q) {
    lt_dk_obj *o = state;
    ERL_NIF_TERM key = 0, what = query_key(env, o->tag, q, &key);
    if (what == 0)
        return enif_make_badarg(env);
    if (what == lt_atom.size)
        return enif_make_uint64(env, o->live);
    uint8_t small[256];
    lt_buf scratch;
    uint64_t id;
    lt_err rc = encode_key(env, key, &scratch, small, sizeof small, &id);
    ERL_NIF_TERM result;
    if (rc != LT_OK) {
        result = rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    } else {
        ptrdiff_t s = lt_dk_obj_find(o, id, scratch.data, scratch.len);
        const lt_dk_odot *w = s >= 0 && o->tag == LT_TYPE_LWWMAP ? obj_winner(o, (size_t)s) : NULL;
        result = answer(env, o->tag, what, s >= 0, w ? w->payload : NULL, w ? w->payload_len : 0);
    }
    lt_buf_free(&scratch);
    return result;
}

static lt_err snapshot(void *state, lt_buf *out) {
    return lt_dk_obj_snapshot(state, out);
}

static lt_err digest(void *state, uint8_t out[16]) {
    return lt_dk_obj_digest(state, out);
}

static size_t entries(void *state) {
    const lt_dk_obj *o = state;
    return o->keys.n + o->actors.n;
}

static int value_is_big(void *state) {
    const lt_dk_obj *o = state;
    return o->live > LT_VALUE_DIRTY_ELEMENTS ||
           o->keys.arena.len + o->payload_bytes > LT_DIRTY_TERM_BYTES;
}

static int update_is_big(ErlNifEnv *env, ERL_NIF_TERM opt);

/* Queries are O(1) but for encoding the key (a big term: judged as an op's would be) and, for
 * a get, decoding the winning value (big above LT_DIRTY_TERM_BYTES). */
static int query_is_big(ErlNifEnv *env, void *state, ERL_NIF_TERM q) {
    const lt_dk_obj *o = state;
    ERL_NIF_TERM key;
    if (query_key(env, o->tag, q, &key) != lt_atom.get)
        return q != lt_atom.size && update_is_big(env, q);
    if (update_is_big(env, q))
        return 1;
    uint8_t small[256];
    lt_buf scratch;
    uint64_t id;
    int big = 0;
    if (encode_key(env, key, &scratch, small, sizeof small, &id) == LT_OK) {
        ptrdiff_t s = lt_dk_obj_find(o, id, scratch.data, scratch.len);
        big = s >= 0 && obj_winner(o, (size_t)s)->payload_len > LT_DIRTY_TERM_BYTES;
    }
    lt_buf_free(&scratch);
    return big;
}

/* Whether an op is big work: a long list, or terms whose encoding visits more than
 * LT_PROBE_BUDGET terms or writes more than LT_DIRTY_TERM_BYTES. A malformed op is "small"
 * (update says badarg). */
static int update_is_big(ErlNifEnv *env, ERL_NIF_TERM opt) {
    int arity;
    const ERL_NIF_TERM *el;
    unsigned listed = 1;
    if (!enif_get_tuple(env, opt, &arity, &el) || arity < 2)
        return 0;
    int is_list = el[0] == lt_atom.add_all || el[0] == lt_atom.remove_all;
    if (is_list && !enif_get_list_length(env, el[1], &listed))
        return 0;
    return lt_op_terms_are_big(env, el[1], is_list, listed, arity >= 3 ? &el[2] : NULL);
}

#define DK_OBJ_TYPE(TAG, KIND, CREATE)                                                             \
    {                                                                                              \
        .tag = (TAG), .bad_kind = &lt_atom.KIND, .create = (CREATE), .destroy = destroy,           \
        .join = join, .update = update, .value = value, .query = query, .snapshot = snapshot,      \
        .digest = digest, .entries = entries, .update_is_big = update_is_big,                      \
        .value_is_big = value_is_big, .query_is_big = query_is_big,                                \
    }

const lt_obj_type lt_obj_orset = DK_OBJ_TYPE(LT_TYPE_ORSET, bad_orset, orset_create);
const lt_obj_type lt_obj_lwwmap = DK_OBJ_TYPE(LT_TYPE_LWWMAP, bad_lwwmap, lwwmap_create);
const lt_obj_type lt_obj_mvreg = DK_OBJ_TYPE(LT_TYPE_MVREG, bad_mvreg, mvreg_create);
