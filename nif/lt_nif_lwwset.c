/* lt_nif_lwwset.c — LWW-Element-Sets (c_src/lt_lwwset.h): the NIFs over their binaries (errors
 * {error, {bad_lwwset, Reason}}) and their in-place object type. Local operations are stamped
 * by the node-global HLC (lt_hlc_advance_past, lt_nif_hlc.c), moved past every timestamp the
 * elements they touch carry, as the LWW-Register's assigns are. */
#include "lt_nif.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_lwwset.h"

#include <stdlib.h>

/* {error, {bad_lwwset, Reason}}, or the raised enomem. */
static ERL_NIF_TERM bad(ErlNifEnv *env, lt_err e) {
    return e == LT_E_NOMEM ? lt_raise_nomem(env) : lt_make_error(env, lt_atom.bad_lwwset, e);
}

/* Inspects t as an LWW-Set. Returns 0 (badarg) for a non-binary; *err holds what is wrong with
 * the header, if anything. The view points into t's bytes. */
static int get_set(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifBinary *bin, lt_lwwset_view *v,
                   lt_err *err) {
    if (!enif_inspect_binary(env, t, bin))
        return 0;
    *err = lt_lwwset_open(v, bin->data, bin->size);
    return 1;
}

/* ---- operations and their elements ----------------------------------------------------------- */

/* A parsed op: its kind, its argument (E or the list), how many elements it names, and an
 * explicit timestamp (0: the node's HLC). */
typedef struct {
    int remove;       /* a remove or remove_all (else an add or add_all) */
    int list;         /* add_all or remove_all: `arg` is a proper list of `listed` elements */
    ERL_NIF_TERM arg; /* E, or the list */
    unsigned listed;  /* 1 for a single element */
    uint64_t ts;      /* explicit timestamp, or 0 */
} op_t;

/* An explicit timestamp: an integer 1..2^64-1. */
static int get_ts(ErlNifEnv *env, ERL_NIF_TERM t, uint64_t *ts) {
    ErlNifUInt64 v;
    if (!enif_get_uint64(env, t, &v) || v == 0)
        return 0;
    *ts = v;
    return 1;
}

/* {add, E} | {add_all, L} | {remove, E} | {remove_all, L} | {add, E, Ts} | {remove, E, Ts}
 * into *op. 0 for anything else: another shape, a list that is not proper, a bad Ts. */
static int parse_op(ErlNifEnv *env, ERL_NIF_TERM t, op_t *op) {
    int arity;
    const ERL_NIF_TERM *el;
    if (!enif_get_tuple(env, t, &arity, &el) || (arity != 2 && arity != 3))
        return 0;
    op->arg = el[1];
    op->listed = 1;
    op->ts = 0;
    op->list = el[0] == lt_atom.add_all || el[0] == lt_atom.remove_all;
    op->remove = el[0] == lt_atom.remove || el[0] == lt_atom.remove_all;
    if (!op->list && el[0] != lt_atom.add && el[0] != lt_atom.remove)
        return 0;
    if (arity == 3)
        return !op->list && get_ts(env, el[2], &op->ts);
    return !op->list || enif_get_list_length(env, el[1], &op->listed);
}

/* The elements of an op, encoded one after another into one buffer. Owns `bytes` and the two
 * arrays; the entries' `elem` pointers are set once every element is in (the buffer moves as it
 * grows). Element k of the op starts at offs[k], so the entries, once sorted, still tell their
 * place in the op by their `elem` pointer. */
typedef struct {
    lt_buf bytes;
    lt_lwwset_entry *e;
    size_t *offs;
    size_t n;
} elem_list;

/* Frees what l owns (safe after any read_elems result); l is then empty. */
static void elem_list_free(elem_list *l) {
    lt_buf_free(&l->bytes);
    if (l->e != NULL)
        enif_free(l->e);
    if (l->offs != NULL)
        enif_free(l->offs);
    l->e = NULL;
    l->offs = NULL;
    l->n = 0;
}

/* Encodes the op's elements into l (which the caller frees with elem_list_free whatever the
 * result), every timestamp 0. `budget` counts terms visited, NULL for no limit. Returns
 * LT_OK, LT_E_NOT_DATA (an element that is not data), LT_E_BUDGET or LT_E_NOMEM. */
static lt_err read_elems(ErlNifEnv *env, const op_t *op, long *budget, elem_list *l) {
    ERL_NIF_TERM head, tail = op->arg;
    size_t e_bytes, offs_bytes, listed = op->listed ? op->listed : 1;
    lt_buf_init(&l->bytes);
    l->n = 0;
    l->e = NULL;
    l->offs = NULL;
    if (lt_size_mul(listed, sizeof *l->e, &e_bytes) != 0 ||
        lt_size_mul(listed, sizeof *l->offs, &offs_bytes) != 0)
        return LT_E_NOMEM;
    l->e = enif_alloc(e_bytes);
    l->offs = enif_alloc(offs_bytes);
    if (l->e == NULL || l->offs == NULL)
        return LT_E_NOMEM;
    for (size_t k = 0; k < op->listed; k++) {
        ERL_NIF_TERM t = op->arg;
        if (op->list) {
            if (!enif_get_list_cell(env, tail, &head, &tail))
                return LT_E_NOT_DATA;
            t = head;
        }
        size_t start = l->bytes.len;
        lt_err rc = lt_encode_term(env, t, &l->bytes, budget);
        if (rc != LT_OK)
            return rc;
        l->offs[k] = start;
        l->e[k].elem_len = l->bytes.len - start;
        l->e[k].add_ts = l->e[k].rem_ts = 0;
        l->n++;
    }
    if (l->bytes.failed)
        return LT_E_NOMEM;
    for (size_t k = 0; k < l->n; k++) {
        l->e[k].elem = l->bytes.data + l->offs[k];
        l->e[k].id = lt_actor_id(l->e[k].elem, l->e[k].elem_len);
    }
    return LT_OK;
}

/* The op's element at list position `pos` (0 for a single element). */
static ERL_NIF_TERM nth_elem(ErlNifEnv *env, const op_t *op, size_t pos) {
    ERL_NIF_TERM head = op->arg, tail = op->arg;
    if (!op->list)
        return op->arg;
    for (size_t k = 0; k <= pos && enif_get_list_cell(env, tail, &head, &tail); k++)
        ;
    return head;
}

/* {error, {precondition, {not_present, E}}} for the first element of the op (in the op's
 * order) that is not in the value; `absent` says which entries of l are not. */
static ERL_NIF_TERM not_present(ErlNifEnv *env, const op_t *op, const elem_list *l,
                                const uint8_t *absent) {
    const uint8_t *first = NULL;
    for (size_t k = 0; k < l->n; k++)
        if (absent[k] && (first == NULL || l->e[k].elem < first))
            first = l->e[k].elem;
    size_t pos = 0, off = (size_t)(first - l->bytes.data);
    while (pos + 1 < l->n && l->offs[pos] != off)
        pos++;
    ERL_NIF_TERM why = enif_make_tuple2(env, lt_atom.not_present, nth_elem(env, op, pos));
    return enif_make_tuple2(env, lt_atom.error, enif_make_tuple2(env, lt_atom.precondition, why));
}

/* {error, timestamp_overflow}: an element already carries the largest timestamp. */
static ERL_NIF_TERM ts_overflow(ErlNifEnv *env) {
    return enif_make_tuple2(env, lt_atom.error, lt_atom.timestamp_overflow);
}

/* The outcome of checking an op against the current timestamps of its elements (cur_add[k],
 * cur_rem[k] for entry k of l): 0 and *ts the op's timestamp, or 1 and *err the error term.
 * Moves the node's HLC only when the op will apply. */
static int stamp(ErlNifEnv *env, const op_t *op, elem_list *l, uint8_t bias,
                 const uint64_t *cur_add, const uint64_t *cur_rem, uint64_t *ts,
                 ERL_NIF_TERM *err) {
    uint64_t past = 0;
    int absent_any = 0;
    uint8_t *absent = NULL;
    if (op->remove) {
        absent = enif_alloc(l->n ? l->n : 1);
        if (absent == NULL) {
            *err = lt_raise_nomem(env);
            return 1;
        }
    }
    for (size_t k = 0; k < l->n; k++) {
        if (op->remove) {
            absent[k] = (uint8_t)!lt_lwwset_is_in_value(bias, cur_add[k], cur_rem[k]);
            absent_any |= absent[k];
        }
        past = cur_add[k] > past ? cur_add[k] : past;
        past = cur_rem[k] > past ? cur_rem[k] : past;
    }
    if (absent_any) {
        *err = not_present(env, op, l, absent);
        enif_free(absent);
        return 1;
    }
    if (absent != NULL)
        enif_free(absent);
    if (op->ts != 0) {
        *ts = op->ts; /* explicit: a stale one simply loses */
    } else if (l->n == 0) {
        *ts = 0; /* nothing to stamp: the clock does not move */
    } else if (past == UINT64_MAX) {
        *err = ts_overflow(env);
        return 1;
    } else {
        *ts = lt_hlc_advance_past(past);
    }
    for (size_t k = 0; k < l->n; k++) {
        l->e[k].add_ts = op->remove ? 0 : *ts;
        l->e[k].rem_ts = op->remove ? *ts : 0;
    }
    return 0;
}

/* An upper bound of the size of the set binary holding l's elements (header; per entry the
 * columns and a length varint; the bytes), plus `base`. SIZE_MAX when that overflows (then the
 * allocation fails: enomem). */
static size_t delta_bound(const elem_list *l, size_t base) {
    size_t per_entry, total;
    if (lt_size_mul(l->n, LT_LWWSET_FIXED + 10, &per_entry) != 0 ||
        lt_size_add(per_entry, l->bytes.len, &total) != 0 ||
        lt_size_add(total, 3 + 10, &total) != 0 || lt_size_add(total, base, &total) != 0)
        return SIZE_MAX;
    return total;
}

/* lwwset_update(Op, State) -> {ok, State2, Delta} | {error, {bad_lwwset, Reason}} |
 * {error, {precondition, {not_present, E}}} | {error, timestamp_overflow}. badarg for an
 * unknown op or an element that is not data. */
LT_NIF(lt_nif_lwwset_update) {
    ErlNifBinary bin;
    lt_lwwset_view v;
    lt_err e;
    op_t op;
    long budget = LT_ENCODE_BUDGET;
    if (argc != 2 || !enif_inspect_binary(env, argv[1], &bin) || !parse_op(env, argv[0], &op))
        return enif_make_badarg(env);
    LT_DIRTY_IF_BIG(env, "lwwset_update", lt_nif_lwwset_update, argc, argv, bin.size);
    LT_DIRTY_IF_TERMS(env, "lwwset_update", lt_nif_lwwset_update, argc, argv,
                      (size_t)op.listed * LT_BYTES_PER_LISTED);
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    elem_list l;
    lt_err rc = read_elems(env, &op, normal ? &budget : NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        if (rc == LT_E_BUDGET) /* big elements: start again where time does not matter */
            return enif_schedule_nif(env, "lwwset_update", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_lwwset_update, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    if (normal && l.bytes.len > LT_DIRTY_BYTES) { /* few terms but many bytes (a big binary) */
        elem_list_free(&l);
        return enif_schedule_nif(env, "lwwset_update", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_lwwset_update, argc, argv);
    }
    if ((e = lt_lwwset_open(&v, bin.data, bin.size)) != LT_OK) {
        elem_list_free(&l);
        return bad(env, e);
    }
    /* The elements' current timestamps, in one pass over the state (entries sorted first). */
    size_t n = l.n ? l.n : 1;
    uint64_t *cur = n <= SIZE_MAX / (2 * sizeof *cur) ? enif_alloc(2 * n * sizeof *cur) : NULL;
    if (cur == NULL) {
        elem_list_free(&l);
        return lt_raise_nomem(env);
    }
    lt_lwwset_sort(l.e, l.n);
    e = lt_lwwset_lookup_sorted(&v, l.e, l.n, cur, cur + n);
    ERL_NIF_TERM err;
    uint64_t ts;
    if (e != LT_OK || stamp(env, &op, &l, v.bias, cur, cur + n, &ts, &err)) {
        enif_free(cur);
        elem_list_free(&l);
        return e != LT_OK ? bad(env, e) : err;
    }
    enif_free(cur);
    lt_buf delta;
    lt_out out;
    lt_buf_init(&delta);
    if (!lt_out_init(&out, delta_bound(&l, bin.size))) {
        elem_list_free(&l);
        return lt_raise_nomem(env);
    }
    e = lt_lwwset_update(&v, l.e, l.n, &delta, &out.buf);
    elem_list_free(&l);
    if (e != LT_OK) {
        lt_out_abandon(&out);
        lt_buf_free(&delta);
        return bad(env, e);
    }
    ERL_NIF_TERM d = lt_buf_to_term(env, &delta), s;
    if (out.buf.len == bin.size && memcmp(out.buf.data, bin.data, bin.size) == 0) {
        lt_out_abandon(&out); /* nothing new: hand back the input rather than a copy */
        s = argv[1];
    } else {
        s = lt_out_finish(env, &out);
    }
    if (enif_is_exception(env, d) || enif_is_exception(env, s)) /* enomem: raised already */
        return enif_is_exception(env, d) ? d : s;
    return enif_make_tuple3(env, lt_atom.ok, s, d);
}

/* Starts a merge for lt_merge_run; its state is the merger (lt_merge_cols_step). */
static lt_err lwwset_merge_start(void *ctx, uint8_t tag, const ErlNifBinary *a,
                                 const ErlNifBinary *b, lt_merge_out *out) {
    lt_lwwset_view va, vb;
    (void)tag;
    lt_err e = lt_lwwset_open(&va, a->data, a->size);
    if (e == LT_OK)
        e = lt_lwwset_open(&vb, b->data, b->size);
    if (e != LT_OK)
        return e;
    /* The merge is never longer than the two inputs together (lt_lwwset_merge). */
    lt_buf *buf = lt_merge_output(out, a->size + b->size);
    return buf == NULL ? LT_E_NOMEM : lt_lwwset_merge_start(&va, &vb, buf, ctx);
}

static ERL_NIF_TERM lwwset_merge_bad(ErlNifEnv *env, uint8_t tag, lt_err e) {
    (void)tag;
    return bad(env, e);
}

static const lt_merge_kind lwwset_merge_kind = {sizeof(lt_cols_merger *), lwwset_merge_start,
                                                lt_merge_cols_step, lt_merge_cols_stop,
                                                lwwset_merge_bad};

/* lwwset_merge(A, B) -> the merge | {error, {bad_lwwset, Reason}} (bias_mismatch for two sets
 * of different bias). Merges of more than LT_YIELD_BYTES yield. */
LT_NIF(lt_nif_lwwset_merge) {
    ErlNifBinary a, b;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &a) ||
        !enif_inspect_binary(env, argv[1], &b))
        return enif_make_badarg(env);
    return lt_merge_run(env, &lwwset_merge_kind, LT_TYPE_LWWSET, argv, &a, &b, LT_YIELD_BYTES);
}

/* The list of the elements of a fully checked set, in the binary's order: those in the value
 * (`all` = 0), or every entry as {E, AddTs, RemTs} (`all` = 1). *err receives what went wrong
 * (the list is then not to be used). */
static ERL_NIF_TERM elements_list(ErlNifEnv *env, const lt_lwwset_view *v, int all, lt_err *err) {
    ERL_NIF_TERM *items = enif_alloc(v->n ? v->n * sizeof(ERL_NIF_TERM) : 1);
    size_t off = 0, k = 0;
    *err = items == NULL ? LT_E_NOMEM : LT_OK;
    for (size_t i = 0; i < v->n && *err == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        ERL_NIF_TERM t;
        uint64_t add = lt_lwwset_add_ts(v, i), rem = lt_lwwset_rem_ts(v, i);
        if ((*err = lt_lwwset_next_elem(v, &off, &elem, &elen)) != LT_OK)
            break;
        if (!all && !lt_lwwset_is_in_value(v->bias, add, rem))
            continue;
        if ((*err = lt_decode_whole(env, elem, elen, &t)) != LT_OK)
            break;
        if (all)
            t = enif_make_tuple3(env, t, enif_make_uint64(env, (ErlNifUInt64)add),
                                 enif_make_uint64(env, (ErlNifUInt64)rem));
        items[k++] = t;
    }
    ERL_NIF_TERM list = *err == LT_OK ? enif_make_list_from_array(env, items, (unsigned)k) : 0;
    if (items != NULL)
        enif_free(items);
    return list;
}

/* lwwset_value and lwwset_to_list: open, check every rule (as the elements become terms),
 * list. *made is set when the result is the list (not badarg, an error, or the call moved to
 * a dirty scheduler, whose term may only be returned); *v is then the opened view. */
static ERL_NIF_TERM checked_list(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[],
                                 const char *name, ERL_NIF_TERM (*self)(LT_NIF_ARGS), int to_list,
                                 lt_lwwset_view *v, int *made) {
    ErlNifBinary bin;
    lt_err e;
    *made = 0;
    if (argc != 1 || !get_set(env, argv[0], &bin, v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad(env, e);
    LT_DIRTY_IF_TERMS(env, name, self, argc, argv, bin.size);
    if ((e = lt_lwwset_check_full(v)) != LT_OK)
        return bad(env, e);
    ERL_NIF_TERM list = elements_list(env, v, to_list, &e);
    *made = e == LT_OK;
    return e == LT_OK ? list : bad(env, e);
}

/* lwwset_value(State) -> [E] (the elements in the value, in the binary's order) |
 * {error, ...}. */
LT_NIF(lt_nif_lwwset_value) {
    lt_lwwset_view v;
    int made;
    return checked_list(env, argc, argv, "lwwset_value", lt_nif_lwwset_value, 0, &v, &made);
}

/* lwwset_to_list(State) -> {add | remove, [{E, AddTs, RemTs}]}, every entry in the binary's
 * order | {error, ...}. */
LT_NIF(lt_nif_lwwset_to_list) {
    lt_lwwset_view v;
    int made;
    ERL_NIF_TERM list =
        checked_list(env, argc, argv, "lwwset_to_list", lt_nif_lwwset_to_list, 1, &v, &made);
    if (!made)
        return list;
    return enif_make_tuple2(env, v.bias == LT_LWWSET_ADD ? lt_atom.add : lt_atom.remove, list);
}

/* lwwset_contains(E, State) -> boolean() | {error, ...}. badarg if E is not data. */
LT_NIF(lt_nif_lwwset_contains) {
    ErlNifBinary bin;
    lt_lwwset_view v;
    lt_err e;
    op_t op = {0, 0, 0, 1, 0};
    long budget = LT_ENCODE_BUDGET;
    if (argc != 2 || !get_set(env, argv[1], &bin, &v, &e))
        return enif_make_badarg(env);
    LT_DIRTY_IF_BIG(env, "lwwset_contains", lt_nif_lwwset_contains, argc, argv, bin.size);
    elem_list l;
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    op.arg = argv[0];
    lt_err rc = read_elems(env, &op, normal ? &budget : NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        if (rc == LT_E_BUDGET)
            return enif_schedule_nif(env, "lwwset_contains", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_lwwset_contains, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    uint64_t add = 0, rem = 0;
    if (e == LT_OK)
        e = lt_lwwset_lookup(&v, l.e[0].id, l.e[0].elem, l.e[0].elem_len, &add, &rem);
    elem_list_free(&l);
    if (e != LT_OK)
        return bad(env, e);
    return lt_lwwset_is_in_value(v.bias, add, rem) ? lt_atom.true_ : lt_atom.false_;
}

/* lwwset_size(State) -> the number of elements in the value | {error, ...}. */
LT_NIF(lt_nif_lwwset_size) {
    ErlNifBinary bin;
    lt_lwwset_view v;
    lt_err e;
    size_t count;
    if (argc != 1 || !get_set(env, argv[0], &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad(env, e);
    LT_DIRTY_IF_BIG(env, "lwwset_size", lt_nif_lwwset_size, argc, argv, bin.size);
    if ((e = lt_lwwset_count(&v, &count)) != LT_OK)
        return bad(env, e);
    return enif_make_uint64(env, count);
}

/* lwwset_digest(State) -> <<_:128>> | {error, ...}. */
LT_NIF(lt_nif_lwwset_digest) {
    ErlNifBinary bin;
    lt_lwwset_view v;
    lt_err e;
    uint8_t d[16];
    if (argc != 1 || !get_set(env, argv[0], &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad(env, e);
    LT_DIRTY_IF_TERMS(env, "lwwset_digest", lt_nif_lwwset_digest, argc, argv, bin.size);
    if ((e = lt_lwwset_digest(&v, d)) != LT_OK)
        return bad(env, e);
    return lt_digest_term(env, d);
}

/* lwwset_validate(State) -> ok | {error, ...}: every rule, with canonical elements and ids. */
LT_NIF(lt_nif_lwwset_validate) {
    ErlNifBinary bin;
    lt_lwwset_view v;
    lt_err e;
    if (argc != 1 || !get_set(env, argv[0], &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad(env, e);
    LT_DIRTY_IF_TERMS(env, "lwwset_validate", lt_nif_lwwset_validate, argc, argv, bin.size);
    if ((e = lt_lwwset_check_full(&v)) != LT_OK)
        return bad(env, e);
    return lt_atom.ok;
}

/* ---- in-place objects -------------------------------------------------------------------------
 */

/* A new empty object whose bias the first join fixes (obj_new joins the state it was made from
 * at once, so an object has that state's bias); malloc'd, lwwset_destroy frees it. NULL when
 * out of memory. */
static void *lwwset_create(void) {
    lt_lwwset_obj *o = malloc(sizeof *o);
    if (o != NULL)
        lt_lwwset_obj_init(o, LT_LWWSET_UNSET);
    return o;
}

/* Frees the object and all it owns. */
static void lwwset_destroy(void *state) {
    lt_lwwset_obj_free(state);
    free(state);
}

/* Joins bin (the caller's bytes, only read) into the object; see lt_lwwset_obj_join. */
static lt_err lwwset_join(void *state, const uint8_t *bin, size_t len) {
    lt_lwwset_view v;
    lt_err e = lt_lwwset_open(&v, bin, len);
    return e == LT_OK ? lt_lwwset_obj_join(state, &v) : e;
}

/* The ops of lwwset_update, applied in place; the actor is not used. The delta is the one the
 * binary update gives. No encoding budget: obj_update moved large ops to a dirty scheduler
 * already (lwwset_update_is_big). */
static ERL_NIF_TERM lwwset_obj_update(ErlNifEnv *env, void *state, ERL_NIF_TERM op_term,
                                      ERL_NIF_TERM actor) {
    lt_lwwset_obj *o = state;
    op_t op;
    elem_list l;
    lt_buf delta;
    ERL_NIF_TERM err;
    uint64_t ts;
    (void)actor;
    if (!parse_op(env, op_term, &op))
        return enif_make_badarg(env);
    lt_err rc = read_elems(env, &op, NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    size_t n = l.n ? l.n : 1;
    uint64_t *cur = n <= SIZE_MAX / (2 * sizeof *cur) ? enif_alloc(2 * n * sizeof *cur) : NULL;
    if (cur == NULL) {
        elem_list_free(&l);
        return lt_raise_nomem(env);
    }
    for (size_t k = 0; k < l.n; k++)
        lt_lwwset_obj_get(o, l.e[k].id, l.e[k].elem, l.e[k].elem_len, &cur[k], &cur[n + k]);
    uint8_t bias = o->bias == LT_LWWSET_UNSET ? (uint8_t)LT_LWWSET_ADD : o->bias;
    int failed = stamp(env, &op, &l, bias, cur, cur + n, &ts, &err);
    enif_free(cur);
    if (failed) {
        elem_list_free(&l);
        return err;
    }
    lt_buf_init(&delta);
    lt_err e = lt_lwwset_build(bias, l.e, l.n, &delta);
    /* lt_lwwset_build left each element once (timestamps 0 on repeats, which set nothing). */
    for (size_t k = 0; k < l.n && e == LT_OK; k++)
        if (l.e[k].add_ts != 0 || l.e[k].rem_ts != 0)
            e = lt_lwwset_obj_set(o, l.e[k].id, l.e[k].elem, l.e[k].elem_len, l.e[k].add_ts,
                                  l.e[k].rem_ts);
    elem_list_free(&l);
    if (e != LT_OK) {
        lt_buf_free(&delta);
        return lt_raise_nomem(env);
    }
    ERL_NIF_TERM d = lt_buf_to_term(env, &delta);
    return enif_is_exception(env, d) ? d : enif_make_tuple2(env, lt_atom.ok, d);
}

/* The elements in the value, sorted as lattice_lwwset:value/1 sorts them. */
static ERL_NIF_TERM lwwset_value(ErlNifEnv *env, void *state) {
    lt_lwwset_obj *o = state;
    const lt_table *t = &o->elems;
    size_t n = o->live ? o->live : 1, k = 0;
    /* The items, and pointers to them to sort (moving 8 bytes, not an item, per step). */
    lt_value_item *items = n <= SIZE_MAX / sizeof *items ? enif_alloc(n * sizeof *items) : NULL;
    lt_value_item **order = n <= SIZE_MAX / sizeof *order ? enif_alloc(n * sizeof *order) : NULL;
    ERL_NIF_TERM list;
    if (items == NULL || order == NULL) {
        list = lt_raise_nomem(env);
        goto done;
    }
    for (size_t s = 0; s < t->n && k < o->live; s++) {
        if (!lt_lwwset_is_in_value(o->bias, o->ts[2 * s], o->ts[2 * s + 1]))
            continue;
        /* The object's elements came from fully checked binaries or from encoding terms. */
        if (lt_value_item_init(env, &items[k], lt_table_key(t, s), t->key_len[s]) != LT_OK) {
            list = lt_raise_nomem(env);
            goto done;
        }
        order[k] = &items[k];
        k++;
    }
    list = lt_value_items_list(env, order, k);
done:
    if (items != NULL)
        enif_free(items);
    if (order != NULL)
        enif_free(order);
    return list;
}

/* {contains, E} -> boolean(); size -> the number of elements in the value. */
static ERL_NIF_TERM lwwset_query(ErlNifEnv *env, void *state, ERL_NIF_TERM query) {
    lt_lwwset_obj *o = state;
    int arity;
    const ERL_NIF_TERM *el;
    op_t op = {0, 0, 0, 1, 0};
    if (query == lt_atom.size)
        return enif_make_uint64(env, o->live);
    if (!enif_get_tuple(env, query, &arity, &el) || arity != 2 || el[0] != lt_atom.contains)
        return enif_make_badarg(env);
    elem_list l;
    op.arg = el[1];
    lt_err rc = read_elems(env, &op, NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    uint64_t add, rem;
    lt_lwwset_obj_get(o, l.e[0].id, l.e[0].elem, l.e[0].elem_len, &add, &rem);
    elem_list_free(&l);
    return lt_lwwset_is_in_value(o->bias, add, rem) ? lt_atom.true_ : lt_atom.false_;
}

/* Appends the state's canonical binary to out (the caller's). */
static lt_err lwwset_snapshot(void *state, lt_buf *out) {
    return lt_lwwset_obj_snapshot(state, out);
}

/* The digest, kept current: O(1). */
static lt_err lwwset_digest(void *state, uint8_t out[16]) {
    return lt_lwwset_obj_digest(state, out);
}

/* How many slots a snapshot sorts. */
static size_t lwwset_entries(void *state) {
    return ((lt_lwwset_obj *)state)->elems.n;
}

/* Whether value/1 is big work. */
static int lwwset_value_is_big(void *state) {
    const lt_lwwset_obj *o = state;
    return o->live > LT_VALUE_DIRTY_ELEMENTS || o->elems.arena.len > LT_DIRTY_TERM_BYTES;
}

/* Whether an op is big work: a list of many elements, or elements whose encoding visits more
 * than LT_PROBE_BUDGET terms or writes more than LT_DIRTY_TERM_BYTES bytes. Called
 * without the object's lock, on the op alone; a malformed op is "small" (update says badarg). */
static int lwwset_update_is_big(ErlNifEnv *env, ERL_NIF_TERM op_term) {
    op_t op;
    return parse_op(env, op_term, &op) &&
           lt_op_terms_are_big(env, op.arg, op.list, op.listed, NULL);
}

const lt_obj_type lt_obj_lwwset = {
    .tag = LT_TYPE_LWWSET,
    .bad_kind = &lt_atom.bad_lwwset,
    .create = lwwset_create,
    .destroy = lwwset_destroy,
    .join = lwwset_join,
    .update = lwwset_obj_update,
    .value = lwwset_value,
    .query = lwwset_query,
    .snapshot = lwwset_snapshot,
    .digest = lwwset_digest,
    .entries = lwwset_entries,
    .update_is_big = lwwset_update_is_big,
    .value_is_big = lwwset_value_is_big,
    .query_is_big = lt_contains_query_is_big,
};
