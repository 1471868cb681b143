/* lt_nif_set.c — G-Sets and 2P-Sets (c_src/lt_set.h): the NIFs over their binaries, which take
 * the type tag as their first argument (errors name the type: {error, {bad_gset | bad_twopset,
 * Reason}}), and their in-place object types. */
#include "lt_nif.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_set.h"

#include <stdlib.h>

/* The tag argument of a set_* NIF: 0 (badarg) unless it is a set type. */
static int get_tag(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t *tag) {
    unsigned v;
    if (!enif_get_uint(env, t, &v) || (v != LT_TYPE_GSET && v != LT_TYPE_TWOPSET))
        return 0;
    *tag = (uint8_t)v;
    return 1;
}

/* Inspects t as a set of type `tag`. Returns 0 (badarg) for a non-binary; *err holds what is
 * wrong with the header, if anything. The view points into t's bytes. */
static int get_set(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t tag, ErlNifBinary *bin, lt_set_view *v,
                   lt_err *err) {
    if (!enif_inspect_binary(env, t, bin))
        return 0;
    *err = lt_set_open(v, bin->data, bin->size, tag);
    return 1;
}

/* {error, {bad_gset | bad_twopset, Reason}}, or the raised enomem. */
static ERL_NIF_TERM bad_set(ErlNifEnv *env, uint8_t tag, lt_err e) {
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    return lt_make_error(env, tag == LT_TYPE_GSET ? lt_atom.bad_gset : lt_atom.bad_twopset, e);
}

/* ---- operations and their elements ----------------------------------------------------------- */

enum { OP_NONE, OP_ADD, OP_ADD_ALL, OP_REMOVE };

/* The kind of `op` for a set of type `tag` ({add, E}, {add_all, List}, and for a 2P-Set
 * {remove, E}); *arg receives E or List. OP_NONE for anything else, including an add_all whose
 * argument is not a proper list (*listed receives its length). */
static int parse_op(ErlNifEnv *env, ERL_NIF_TERM op, uint8_t tag, ERL_NIF_TERM *arg,
                    unsigned *listed) {
    int arity;
    const ERL_NIF_TERM *el;
    if (!enif_get_tuple(env, op, &arity, &el) || arity != 2)
        return OP_NONE;
    *arg = el[1];
    *listed = 1;
    if (el[0] == lt_atom.add)
        return OP_ADD;
    if (el[0] == lt_atom.add_all)
        return enif_get_list_length(env, el[1], listed) ? OP_ADD_ALL : OP_NONE;
    if (el[0] == lt_atom.remove && tag == LT_TYPE_TWOPSET)
        return OP_REMOVE;
    return OP_NONE;
}

/* The elements of an op, encoded one after another into one buffer. Owns `bytes` and the two
 * arrays; the entries' `elem` pointers are set once every element is in (the buffer moves as it
 * grows). */
typedef struct {
    lt_buf bytes;
    lt_set_entry *e;
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

/* Encodes the op's elements (`arg` and `listed` from parse_op) with `flags`, into l (which
 * the caller frees with elem_list_free whatever the result). `budget` counts terms visited,
 * NULL for no limit. Returns LT_OK, LT_E_NOT_DATA (an element that is not data),
 * LT_E_BUDGET or LT_E_NOMEM. */
static lt_err read_elems(ErlNifEnv *env, int kind, ERL_NIF_TERM arg, unsigned listed, uint8_t flags,
                         long *budget, elem_list *l) {
    ERL_NIF_TERM head, tail = arg;
    size_t e_bytes, offs_bytes;
    lt_buf_init(&l->bytes);
    l->n = 0;
    l->e = NULL;
    l->offs = NULL;
    if (lt_size_mul(listed ? listed : 1, sizeof *l->e, &e_bytes) != 0 ||
        lt_size_mul(listed ? listed : 1, sizeof *l->offs, &offs_bytes) != 0)
        return LT_E_NOMEM;
    l->e = enif_alloc(e_bytes);
    l->offs = enif_alloc(offs_bytes);
    if (l->e == NULL || l->offs == NULL)
        return LT_E_NOMEM;
    for (size_t k = 0; k < listed; k++) {
        ERL_NIF_TERM t = arg;
        if (kind == OP_ADD_ALL) {
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
        l->e[k].flags = flags;
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

/* {error, {precondition, {not_present, Elem}}}: a remove of an element not in the value. */
static ERL_NIF_TERM not_present(ErlNifEnv *env, ERL_NIF_TERM elem) {
    return enif_make_tuple2(env, lt_atom.error,
                            enif_make_tuple2(env, lt_atom.precondition,
                                             enif_make_tuple2(env, lt_atom.not_present, elem)));
}

/* An upper bound of the size of the set binary holding l's elements (header; per entry an id,
 * flags and a length varint; the bytes), plus `base`. SIZE_MAX when that overflows (then the
 * allocation fails: enomem). */
static size_t delta_bound(const elem_list *l, size_t base) {
    size_t per_entry, total;
    if (lt_size_mul(l->n, 8 + 1 + 10, &per_entry) != 0 ||
        lt_size_add(per_entry, l->bytes.len, &total) != 0 ||
        lt_size_add(total, 2 + 10, &total) != 0 || lt_size_add(total, base, &total) != 0)
        return SIZE_MAX;
    return total;
}

/* set_update(Tag, Op, State) -> {ok, State2, Delta} | {error, {bad_<type>, Reason}} |
 * {error, {precondition, {not_present, E}}}. badarg for an unknown op or an element that is
 * not data. */
LT_NIF(lt_nif_set_update) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag;
    ERL_NIF_TERM arg;
    unsigned listed;
    long budget = LT_ENCODE_BUDGET;
    int kind;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[2], &bin) ||
        (kind = parse_op(env, argv[1], tag, &arg, &listed)) == OP_NONE)
        return enif_make_badarg(env);
    LT_DIRTY_IF_BIG(env, "set_update", lt_nif_set_update, argc, argv, bin.size);
    LT_DIRTY_IF_TERMS(env, "set_update", lt_nif_set_update, argc, argv,
                      (size_t)listed * LT_BYTES_PER_LISTED);
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    elem_list l;
    lt_err rc =
        read_elems(env, kind, arg, listed, kind == OP_REMOVE ? LT_SET_REMOVED : LT_SET_ADDED,
                   normal ? &budget : NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        if (rc == LT_E_BUDGET) /* big elements: start again where time does not matter */
            return enif_schedule_nif(env, "set_update", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_set_update, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    if (normal && l.bytes.len > LT_DIRTY_BYTES) { /* few terms but many bytes (a big binary) */
        elem_list_free(&l);
        return enif_schedule_nif(env, "set_update", ERL_NIF_DIRTY_JOB_CPU_BOUND, lt_nif_set_update,
                                 argc, argv);
    }
    if ((e = lt_set_open(&v, bin.data, bin.size, tag)) != LT_OK) {
        elem_list_free(&l);
        return bad_set(env, tag, e);
    }
    if (kind == OP_REMOVE) {
        uint8_t flags;
        e = lt_set_lookup(&v, l.e[0].id, l.e[0].elem, l.e[0].elem_len, &flags);
        if (e != LT_OK || flags != LT_SET_ADDED) {
            elem_list_free(&l);
            return e != LT_OK ? bad_set(env, tag, e) : not_present(env, arg);
        }
    }
    lt_buf delta;
    lt_out out;
    lt_buf_init(&delta);
    if (!lt_out_init(&out, delta_bound(&l, bin.size))) {
        elem_list_free(&l);
        return lt_raise_nomem(env);
    }
    e = lt_set_update(&v, l.e, l.n, &delta, &out.buf);
    elem_list_free(&l);
    if (e != LT_OK) {
        lt_out_abandon(&out);
        lt_buf_free(&delta);
        return bad_set(env, tag, e);
    }
    ERL_NIF_TERM d = lt_buf_to_term(env, &delta), s;
    if (out.buf.len == bin.size && memcmp(out.buf.data, bin.data, bin.size) == 0) {
        lt_out_abandon(&out); /* nothing new: hand back the input rather than a copy */
        s = argv[2];
    } else {
        s = lt_out_finish(env, &out);
    }
    if (enif_is_exception(env, d) || enif_is_exception(env, s)) /* enomem: raised already */
        return enif_is_exception(env, d) ? d : s;
    return enif_make_tuple3(env, lt_atom.ok, s, d);
}

/* Starts a merge for lt_merge_run; its state is the merger (lt_merge_cols_step). */
static lt_err set_merge_start(void *ctx, uint8_t tag, const ErlNifBinary *a, const ErlNifBinary *b,
                              lt_merge_out *out) {
    lt_set_view va, vb;
    lt_err e = lt_set_open(&va, a->data, a->size, tag);
    if (e == LT_OK)
        e = lt_set_open(&vb, b->data, b->size, tag);
    if (e != LT_OK)
        return e;
    /* The union is never longer than the two inputs together (lt_set_merge). */
    lt_buf *buf = lt_merge_output(out, a->size + b->size);
    return buf == NULL ? LT_E_NOMEM : lt_set_merge_start(&va, &vb, buf, ctx);
}

static const lt_merge_kind set_merge_kind = {sizeof(lt_cols_merger *), set_merge_start,
                                             lt_merge_cols_step, lt_merge_cols_stop, bad_set};

/* set_merge(Tag, A, B) -> the union | {error, {bad_<type>, Reason}}. Merges of more than
 * LT_YIELD_BYTES yield. */
LT_NIF(lt_nif_set_merge) {
    ErlNifBinary a, b;
    uint8_t tag;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !enif_inspect_binary(env, argv[1], &a) ||
        !enif_inspect_binary(env, argv[2], &b))
        return enif_make_badarg(env);
    return lt_merge_run(env, &set_merge_kind, tag, argv + 1, &a, &b, LT_YIELD_BYTES);
}

/* The list of the elements of a checked (lt_set_check_full) set, in the binary's order: those
 * in the value (`all` = 0), or every entry (`all` = 1) as E for a G-Set and {E, Flags} for a
 * 2P-Set. *err receives what went wrong when it returns 0. */
static ERL_NIF_TERM elements_list(ErlNifEnv *env, const lt_set_view *v, int all, lt_err *err) {
    ERL_NIF_TERM *items = enif_alloc(v->n ? v->n * sizeof(ERL_NIF_TERM) : 1);
    size_t off = 0, k = 0;
    *err = items == NULL ? LT_E_NOMEM : LT_OK;
    for (size_t i = 0; i < v->n && *err == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        ERL_NIF_TERM t;
        uint8_t flags = lt_set_flags(v, i);
        if ((*err = lt_set_next_elem(v, &off, &elem, &elen)) != LT_OK)
            break;
        if (!all && flags != LT_SET_ADDED)
            continue;
        if ((*err = lt_decode_whole(env, elem, elen, &t)) != LT_OK)
            break;
        if (all && v->tag == LT_TYPE_TWOPSET)
            t = enif_make_tuple2(env, t, enif_make_uint(env, flags));
        items[k++] = t;
    }
    ERL_NIF_TERM list = *err == LT_OK ? enif_make_list_from_array(env, items, (unsigned)k) : 0;
    enif_free(items);
    return list;
}

/* set_value and set_to_list: open, check every rule (as the elements become terms), list. */
static ERL_NIF_TERM checked_list(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[],
                                 const char *name, ERL_NIF_TERM (*self)(LT_NIF_ARGS), int to_list) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !get_set(env, argv[1], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_set(env, tag, e);
    LT_DIRTY_IF_TERMS(env, name, self, argc, argv, bin.size);
    if ((e = lt_set_check_full(&v)) != LT_OK)
        return bad_set(env, tag, e);
    ERL_NIF_TERM list = elements_list(env, &v, to_list, &e);
    return e == LT_OK ? list : bad_set(env, tag, e);
}

/* set_value(Tag, State) -> [E] (the elements in the value, in the binary's order) |
 * {error, ...}. */
LT_NIF(lt_nif_set_value) {
    return checked_list(env, argc, argv, "set_value", lt_nif_set_value, 0);
}

/* set_to_list(Tag, State) -> [E] (G-Set) | [{E, Flags}] (2P-Set), every entry in the binary's
 * order | {error, ...}. */
LT_NIF(lt_nif_set_to_list) {
    return checked_list(env, argc, argv, "set_to_list", lt_nif_set_to_list, 1);
}

/* set_contains(Tag, E, State) -> boolean() | {error, ...}. badarg if E is not data. */
LT_NIF(lt_nif_set_contains) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag;
    long budget = LT_ENCODE_BUDGET;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !get_set(env, argv[2], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    LT_DIRTY_IF_BIG(env, "set_contains", lt_nif_set_contains, argc, argv, bin.size);
    elem_list l;
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    lt_err rc = read_elems(env, OP_ADD, argv[1], 1, LT_SET_ADDED, normal ? &budget : NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        if (rc == LT_E_BUDGET)
            return enif_schedule_nif(env, "set_contains", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_set_contains, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    uint8_t flags = 0;
    if (e == LT_OK)
        e = lt_set_lookup(&v, l.e[0].id, l.e[0].elem, l.e[0].elem_len, &flags);
    elem_list_free(&l);
    if (e != LT_OK)
        return bad_set(env, tag, e);
    return flags == LT_SET_ADDED ? lt_atom.true_ : lt_atom.false_;
}

/* set_size(Tag, State) -> the number of elements in the value | {error, ...}. */
LT_NIF(lt_nif_set_size) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag;
    size_t count;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !get_set(env, argv[1], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_set(env, tag, e);
    LT_DIRTY_IF_BIG(env, "set_size", lt_nif_set_size, argc, argv, bin.size);
    if ((e = lt_set_count(&v, &count)) != LT_OK)
        return bad_set(env, tag, e);
    return enif_make_uint64(env, count);
}

/* set_digest(Tag, State) -> <<_:128>> | {error, ...}. */
LT_NIF(lt_nif_set_digest) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag, d[16];
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !get_set(env, argv[1], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_set(env, tag, e);
    LT_DIRTY_IF_TERMS(env, "set_digest", lt_nif_set_digest, argc, argv, bin.size);
    if ((e = lt_set_digest(&v, d)) != LT_OK)
        return bad_set(env, tag, e);
    return lt_digest_term(env, d);
}

/* set_validate(Tag, State) -> ok | {error, ...}: every rule, with canonical elements and ids. */
LT_NIF(lt_nif_set_validate) {
    ErlNifBinary bin;
    lt_set_view v;
    lt_err e;
    uint8_t tag;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !get_set(env, argv[1], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_set(env, tag, e);
    LT_DIRTY_IF_TERMS(env, "set_validate", lt_nif_set_validate, argc, argv, bin.size);
    if ((e = lt_set_check_full(&v)) != LT_OK)
        return bad_set(env, tag, e);
    return lt_atom.ok;
}

/* ---- in-place objects (one implementation for both types: o->tag tells them apart) ----------- */

/* A new empty lt_set_obj of type `tag` (malloc'd; set_destroy frees it), or NULL. */
static void *set_create(uint8_t tag) {
    lt_set_obj *o = malloc(sizeof *o);
    if (o != NULL)
        lt_set_obj_init(o, tag);
    return o;
}

/* The vtables' create: an empty G-Set object. */
static void *gset_create(void) {
    return set_create(LT_TYPE_GSET);
}

/* The vtables' create: an empty 2P-Set object. */
static void *twopset_create(void) {
    return set_create(LT_TYPE_TWOPSET);
}

/* The vtables' destroy: frees the object and all it owns. */
static void set_destroy(void *state) {
    lt_set_obj_free(state);
    free(state);
}

/* The vtables' join: bin (the caller's bytes, only read) into the object; see
 * lt_set_obj_join. */
static lt_err set_join(void *state, const uint8_t *bin, size_t len) {
    lt_set_obj *o = state;
    lt_set_view v;
    lt_err e = lt_set_open(&v, bin, len, o->tag);
    return e == LT_OK ? lt_set_obj_join(o, &v) : e;
}

/* {add, E} | {add_all, Es} | {remove, E} (2P-Set); the actor is not used. The delta is the
 * one the binary update gives: the set of the op's elements with their flags. */
static ERL_NIF_TERM set_update(ErlNifEnv *env, void *state, ERL_NIF_TERM op, ERL_NIF_TERM actor) {
    lt_set_obj *o = state;
    ERL_NIF_TERM arg;
    unsigned listed;
    elem_list l;
    lt_buf delta;
    lt_err e = LT_OK;
    (void)actor;
    int kind = parse_op(env, op, o->tag, &arg, &listed);
    if (kind == OP_NONE)
        return enif_make_badarg(env);
    /* No budget: obj_update moved large ops to a dirty scheduler already (update_is_big). */
    lt_err rc = read_elems(env, kind, arg, listed,
                           kind == OP_REMOVE ? LT_SET_REMOVED : LT_SET_ADDED, NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    if (kind == OP_REMOVE &&
        lt_set_obj_flags(o, l.e[0].id, l.e[0].elem, l.e[0].elem_len) != LT_SET_ADDED) {
        elem_list_free(&l);
        return not_present(env, arg);
    }
    lt_buf_init(&delta);
    e = lt_set_build(o->tag, l.e, l.n, &delta);
    /* lt_set_build left each element once (flags 0 on repeats): add those. */
    for (size_t k = 0; k < l.n && e == LT_OK; k++)
        if (l.e[k].flags != 0)
            e = lt_set_obj_add(o, l.e[k].id, l.e[k].elem, l.e[k].elem_len, l.e[k].flags);
    elem_list_free(&l);
    if (e != LT_OK) {
        lt_buf_free(&delta);
        return lt_raise_nomem(env);
    }
    ERL_NIF_TERM d = lt_buf_to_term(env, &delta);
    return enif_is_exception(env, d) ? d : enif_make_tuple2(env, lt_atom.ok, d);
}

/* The elements in the value, sorted as the binary type's value/1 sorts them. */
static ERL_NIF_TERM set_value(ErlNifEnv *env, void *state) {
    lt_set_obj *o = state;
    const lt_table *t = &o->elems;
    size_t n = o->live ? o->live : 1, k = 0;
    /* The items, and pointers to them to sort (moving 8 bytes, not an item, per step). */
    lt_value_item *items = n <= SIZE_MAX / sizeof *items ? enif_alloc(n * sizeof *items) : NULL;
    lt_value_item **order = n <= SIZE_MAX / sizeof *order ? enif_alloc(n * sizeof *order) : NULL;
    if (items == NULL || order == NULL) {
        if (items != NULL)
            enif_free(items);
        if (order != NULL)
            enif_free(order);
        return lt_raise_nomem(env);
    }
    for (size_t s = 0; s < t->n && k < o->live; s++) {
        if (o->flags[s] != LT_SET_ADDED)
            continue;
        /* The object's elements came from fully checked binaries or from encoding terms. */
        if (lt_value_item_init(env, &items[k], lt_table_key(t, s), t->key_len[s]) != LT_OK) {
            enif_free(items);
            enif_free(order);
            return lt_raise_nomem(env);
        }
        order[k] = &items[k];
        k++;
    }
    ERL_NIF_TERM list = lt_value_items_list(env, order, k);
    enif_free(items);
    enif_free(order);
    return list;
}

/* {contains, E} -> boolean(); size -> the number of elements in the value. */
static ERL_NIF_TERM set_query(ErlNifEnv *env, void *state, ERL_NIF_TERM query) {
    lt_set_obj *o = state;
    int arity;
    const ERL_NIF_TERM *el;
    if (query == lt_atom.size)
        return enif_make_uint64(env, o->live);
    if (!enif_get_tuple(env, query, &arity, &el) || arity != 2 || el[0] != lt_atom.contains)
        return enif_make_badarg(env);
    elem_list l;
    lt_err rc = read_elems(env, OP_ADD, el[1], 1, LT_SET_ADDED, NULL, &l);
    if (rc != LT_OK) {
        elem_list_free(&l);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    uint8_t flags = lt_set_obj_flags(o, l.e[0].id, l.e[0].elem, l.e[0].elem_len);
    elem_list_free(&l);
    return flags == LT_SET_ADDED ? lt_atom.true_ : lt_atom.false_;
}

/* The vtables' snapshot: appends the state's canonical binary to out. */
static lt_err set_snapshot(void *state, lt_buf *out) {
    return lt_set_obj_snapshot(state, out);
}

/* The vtables' digest, kept current: O(1). */
static lt_err set_digest(void *state, uint8_t out[16]) {
    return lt_set_obj_digest(state, out);
}

/* The vtables' entries: how many slots a snapshot sorts. */
static size_t set_entries(void *state) {
    return ((lt_set_obj *)state)->elems.n;
}

/* Whether value/1 is big work. */
static int set_value_is_big(void *state) {
    const lt_set_obj *o = state;
    return o->live > LT_VALUE_DIRTY_ELEMENTS || o->elems.arena.len > LT_DIRTY_TERM_BYTES;
}

/* Whether an op is big work: an add_all of many elements, or elements whose encoding visits
 * more than LT_PROBE_BUDGET terms or writes more than LT_DIRTY_TERM_BYTES bytes. Called
 * without the object's lock, on the op alone; a malformed op is "small" (update says badarg). */
static int set_update_is_big(ErlNifEnv *env, ERL_NIF_TERM op) {
    int arity;
    const ERL_NIF_TERM *el;
    unsigned listed = 1;
    if (!enif_get_tuple(env, op, &arity, &el) || arity != 2)
        return 0;
    if (el[0] == lt_atom.add_all && !enif_get_list_length(env, el[1], &listed))
        return 0;
    return lt_op_terms_are_big(env, el[1], el[0] == lt_atom.add_all, listed, NULL);
}

const lt_obj_type lt_obj_gset = {
    .tag = LT_TYPE_GSET,
    .bad_kind = &lt_atom.bad_gset,
    .create = gset_create,
    .destroy = set_destroy,
    .join = set_join,
    .update = set_update,
    .value = set_value,
    .query = set_query,
    .snapshot = set_snapshot,
    .digest = set_digest,
    .entries = set_entries,
    .update_is_big = set_update_is_big,
    .value_is_big = set_value_is_big,
    .query_is_big = lt_contains_query_is_big,
};

const lt_obj_type lt_obj_twopset = {
    .tag = LT_TYPE_TWOPSET,
    .bad_kind = &lt_atom.bad_twopset,
    .create = twopset_create,
    .destroy = set_destroy,
    .join = set_join,
    .update = set_update,
    .value = set_value,
    .query = set_query,
    .snapshot = set_snapshot,
    .digest = set_digest,
    .entries = set_entries,
    .update_is_big = set_update_is_big,
    .value_is_big = set_value_is_big,
    .query_is_big = lt_contains_query_is_big,
};
