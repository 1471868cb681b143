/* lt_nif_vclock.c — NIFs over clock-bodied binaries (c_src/lt_vclock.h): vector clocks and
 * G-Counters share a format but for the type tag, so the shared NIFs (clock_*) take the tag
 * as their first argument; errors name the type ({error, {bad_vclock | bad_gcounter, _}}). */
#include "lt_nif.h"

#include "lt_canon.h"
#include "lt_counter.h"
#include "lt_vclock.h"

/* Entries per step of a yielding compare (a few tens of microseconds each). */
#define LT_COMPARE_CHUNK 8192

/* The tag argument of a clock_* NIF: a clock-bodied type. 0 (badarg) for anything else. */
static int get_tag(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t *tag) {
    unsigned v;
    if (!enif_get_uint(env, t, &v) || (v != LT_TYPE_VCLOCK && v != LT_TYPE_GCOUNTER))
        return 0;
    *tag = (uint8_t)v;
    return 1;
}

/* Inspects t as a clock of type `tag`. Returns 0 (badarg) for a non-binary; *err holds bad
 * data. */
static int get_clock(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t tag, ErlNifBinary *bin,
                     lt_vclock_view *v, lt_err *err) {
    if (!enif_inspect_binary(env, t, bin))
        return 0;
    *err = lt_vclock_open_type(v, bin->data, bin->size, tag);
    return 1;
}

static ERL_NIF_TERM bad_clock_of(ErlNifEnv *env, uint8_t tag, lt_err e) {
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    return lt_make_error(env, tag == LT_TYPE_GCOUNTER ? lt_atom.bad_gcounter : lt_atom.bad_vclock,
                         e);
}

/* The prologue of the clock NIFs on (Tag, ..., Clock): badarg unless there are `n` arguments,
 * argv[0] is a clock type's tag and argv[at] a binary; the error tuple for a bad header.
 * Returns 1 with *v open, or 0 with the NIF's answer in *out. */
static int open_clock(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[], int n, int at,
                      uint8_t *tag, ErlNifBinary *bin, lt_vclock_view *v, ERL_NIF_TERM *out) {
    lt_err e;
    if (argc != n || !get_tag(env, argv[0], tag) || !get_clock(env, argv[at], *tag, bin, v, &e)) {
        *out = enif_make_badarg(env);
        return 0;
    }
    if (e != LT_OK) {
        *out = bad_clock_of(env, *tag, e);
        return 0;
    }
    return 1;
}

/* Vector-clock-only NIFs. */
#define bad_clock(env, e) bad_clock_of(env, LT_TYPE_VCLOCK, e)

static lt_err check_structure(const lt_vclock_view *v) {
    lt_vclock_check st = {0};
    int done = 0;
    return lt_vclock_check_step(v, &st, v->n, &done);
}

/* Actors of a list of {Actor, Counter} pairs, encoded into one buffer. Owns `entries` and the
 * buffer; pointers into the buffer are set only when the list has been read. */
typedef struct {
    lt_buf actors;
    lt_vclock_entry *entries;
    size_t *offsets;
    size_t n;
} entry_list;

static void entry_list_free(entry_list *l) {
    lt_buf_free(&l->actors);
    enif_free(l->entries);
    enif_free(l->offsets);
    l->entries = NULL;
    l->offsets = NULL;
}

/* Reads [{Actor, Counter}] (counter a non-negative integer below 2^64). 0 on a bad shape. */
static int read_entries(ErlNifEnv *env, ERL_NIF_TERM list, entry_list *l) {
    unsigned len;
    ERL_NIF_TERM head, tail = list;
    lt_buf scratch;
    lt_buf_init(&l->actors);
    lt_buf_init(&scratch);
    l->entries = NULL;
    l->offsets = NULL;
    l->n = 0;
    if (!enif_get_list_length(env, list, &len))
        return 0;
    l->entries = enif_alloc(len ? len * sizeof(lt_vclock_entry) : 1);
    l->offsets = enif_alloc(len ? len * sizeof(size_t) : 1);
    if (l->entries == NULL || l->offsets == NULL)
        goto fail;
    while (enif_get_list_cell(env, tail, &head, &tail)) {
        int arity;
        const ERL_NIF_TERM *el;
        ErlNifUInt64 counter;
        lt_vclock_entry *e = &l->entries[l->n];
        if (!enif_get_tuple(env, head, &arity, &el) || arity != 2 ||
            !enif_get_uint64(env, el[1], &counter) ||
            !lt_actor_encode(env, el[0], &scratch, &e->id))
            goto fail;
        e->counter = counter;
        e->actor_len = scratch.len;
        l->offsets[l->n] = l->actors.len;
        lt_buf_put(&l->actors, scratch.data, scratch.len);
        l->n++;
    }
    if (l->actors.failed || scratch.failed)
        goto fail;
    for (size_t k = 0; k < l->n; k++)
        l->entries[k].actor = l->actors.data + l->offsets[k];
    lt_buf_free(&scratch);
    return 1;
fail:
    lt_buf_free(&scratch);
    entry_list_free(l);
    return 0;
}

/* clock_from_list(Tag, [{Actor, Counter}]) -> Clock. badarg on a bad shape or a repeated
 * actor. */
LT_NIF(lt_nif_clock_from_list) {
    entry_list l;
    unsigned len;
    uint8_t tag;
    if (argc != 2 || !get_tag(env, argv[0], &tag) || !enif_get_list_length(env, argv[1], &len))
        return enif_make_badarg(env);
    LT_DIRTY_IF_TERMS(env, "clock_from_list", lt_nif_clock_from_list, argc, argv, (size_t)len * 64);
    if (!read_entries(env, argv[1], &l))
        return enif_make_badarg(env);
    lt_buf out;
    lt_buf_init(&out);
    lt_err e = lt_vclock_build_type(tag, l.entries, l.n, &out);
    entry_list_free(&l);
    if (e == LT_E_ORDER) {
        lt_buf_free(&out);
        return enif_make_badarg(env); /* the same actor twice */
    }
    if (e != LT_OK) {
        lt_buf_free(&out);
        return lt_raise_nomem(env);
    }
    return lt_buf_to_term(env, &out);
}

/* clock_to_list(Tag, Clock) -> [{Actor, Counter}] (in clock order) | {error, ...}. */
LT_NIF(lt_nif_clock_to_list) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    uint8_t tag;
    ERL_NIF_TERM out;
    if (!open_clock(env, argc, argv, 2, 1, &tag, &bin, &v, &out))
        return out;
    LT_DIRTY_IF_TERMS(env, "clock_to_list", lt_nif_clock_to_list, argc, argv, bin.size);
    if ((e = lt_vclock_check_full(&v)) != LT_OK)
        return bad_clock_of(env, tag, e);
    ERL_NIF_TERM list = enif_make_list(env, 0);
    ERL_NIF_TERM *items = enif_alloc(v.n ? v.n * sizeof(ERL_NIF_TERM) : 1);
    if (items == NULL)
        return lt_raise_nomem(env);
    size_t off = 0;
    for (size_t i = 0; i < v.n; i++) {
        const uint8_t *actor;
        size_t alen, aoff = 0;
        ERL_NIF_TERM t;
        int unknown = 0;
        e = lt_vclock_next_actor(&v, &off, &actor, &alen);
        if (e == LT_OK)
            e = lt_decode_term(env, actor, alen, &aoff, 0, &t, &unknown);
        if (e != LT_OK) {
            enif_free(items);
            return bad_clock_of(env, tag, e);
        }
        items[i] = enif_make_tuple2(env, t, enif_make_uint64(env, lt_vclock_counter(&v, i)));
    }
    list = enif_make_list_from_array(env, items, (unsigned)v.n);
    enif_free(items);
    return list;
}

/* clock_increment(Tag, Actor, By, Clock) -> Clock2 | {error, ...}. */
LT_NIF(lt_nif_clock_increment) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    ErlNifUInt64 by;
    uint64_t id;
    lt_buf actor;
    uint8_t actor_mem[LT_ACTOR_MAX_BYTES];
    lt_out out;
    uint8_t tag;
    if (argc != 4 || !get_tag(env, argv[0], &tag) || !enif_get_uint64(env, argv[2], &by) ||
        by == 0 || !get_clock(env, argv[3], tag, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_clock_of(env, tag, e);
    LT_DIRTY_IF_BIG(env, "clock_increment", lt_nif_clock_increment, argc, argv, bin.size);
    lt_buf_init_fixed(&actor, actor_mem, sizeof actor_mem);
    if (!lt_actor_from_term(env, argv[1], &actor, &id)) {
        lt_buf_free(&actor);
        return enif_make_badarg(env);
    }
    /* Output bound: the input plus one entry (two columns, a length varint, the actor) and a
     * count that may grow by a byte. */
    if (!lt_out_init(&out, bin.size + actor.len + 16 + 10 + 10)) {
        lt_buf_free(&actor);
        return lt_raise_nomem(env);
    }
    e = lt_vclock_increment(&v, id, actor.data, actor.len, by, &out.buf);
    lt_buf_free(&actor);
    if (e != LT_OK) {
        lt_out_abandon(&out);
        if (e == LT_E_OVERFLOW)
            return lt_make_overflow(env, lt_atom.counter);
        return bad_clock_of(env, tag, e);
    }
    return lt_out_finish(env, &out);
}

/* clock_get(Tag, Actor, Clock) -> Counter | {error, ...}. */
LT_NIF(lt_nif_clock_get) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    uint64_t id;
    lt_buf actor;
    uint8_t actor_mem[LT_ACTOR_MAX_BYTES];
    uint8_t tag;
    ERL_NIF_TERM out;
    if (!open_clock(env, argc, argv, 3, 2, &tag, &bin, &v, &out))
        return out;
    LT_DIRTY_IF_BIG(env, "clock_get", lt_nif_clock_get, argc, argv, bin.size);
    lt_buf_init_fixed(&actor, actor_mem, sizeof actor_mem);
    if (!lt_actor_from_term(env, argv[1], &actor, &id)) {
        lt_buf_free(&actor);
        return enif_make_badarg(env);
    }
    uint64_t counter;
    e = lt_vclock_get(&v, id, actor.data, actor.len, &counter);
    lt_buf_free(&actor);
    if (e != LT_OK)
        return bad_clock_of(env, tag, e);
    return enif_make_uint64(env, counter);
}

/* clock_merge(Tag, A, B) -> Clock | {error, ...}. */
LT_NIF(lt_nif_clock_merge) {
    ErlNifBinary a, b;
    lt_vclock_view va, vb;
    lt_err ea, eb;
    lt_out out;
    uint8_t tag;
    if (argc != 3 || !get_tag(env, argv[0], &tag) || !get_clock(env, argv[1], tag, &a, &va, &ea) ||
        !get_clock(env, argv[2], tag, &b, &vb, &eb))
        return enif_make_badarg(env);
    if (ea != LT_OK || eb != LT_OK)
        return bad_clock_of(env, tag, ea != LT_OK ? ea : eb);
    LT_DIRTY_IF_BIG(env, "clock_merge", lt_nif_clock_merge, argc, argv, a.size + b.size);
    /* Clocks of one size are most often over the same actors, and then so is the merge:
     * allocate exactly that (no shrinking copy), and retry with the bound if it is not. */
    size_t cap = a.size == b.size ? a.size : a.size + b.size;
    for (;;) {
        if (!lt_out_init(&out, cap))
            return lt_raise_nomem(env);
        lt_err e = lt_vclock_merge(&va, &vb, &out.buf);
        if (e == LT_OK)
            return lt_out_finish(env, &out);
        lt_out_abandon(&out);
        if (e == LT_E_NOMEM && out.buf.failed && cap < a.size + b.size) {
            cap = a.size + b.size;
            continue;
        }
        return bad_clock_of(env, tag, e);
    }
}

/* compare(A, B) -> eq | lt | gt | concurrent | {error, ...}. Yields on large clocks: the
 * progress travels in a third argument, a binary holding the lt_vclock_cmp state. */
LT_NIF(lt_nif_vclock_compare) {
    ErlNifBinary a, b, st;
    lt_vclock_view va, vb;
    lt_vclock_cmp cmp;
    lt_err ea, eb;
    int done = 0;
    if ((argc != 2 && argc != 3) || !get_clock(env, argv[0], LT_TYPE_VCLOCK, &a, &va, &ea) ||
        !get_clock(env, argv[1], LT_TYPE_VCLOCK, &b, &vb, &eb))
        return enif_make_badarg(env);
    if (ea != LT_OK || eb != LT_OK)
        return bad_clock(env, ea != LT_OK ? ea : eb);
    if (argc == 3) {
        if (!enif_inspect_binary(env, argv[2], &st) || st.size != sizeof cmp)
            return enif_make_badarg(env);
        memcpy(&cmp, st.data, sizeof cmp);
    } else {
        lt_vclock_cmp_init(&cmp);
    }
    if (va.n + vb.n <= LT_COMPARE_CHUNK) { /* small clocks: all at once, no clock reads */
        while (!done) {
            lt_err e = lt_vclock_cmp_step(&cmp, &va, &vb, (size_t)-1, &done);
            if (e != LT_OK)
                return bad_clock(env, e);
        }
    }
    while (!done) {
        ErlNifTime t0 = lt_slice_start();
        lt_err e = lt_vclock_cmp_step(&cmp, &va, &vb, LT_COMPARE_CHUNK, &done);
        if (e != LT_OK)
            return bad_clock(env, e);
        if (!done && lt_slice_spent(env, t0)) {
            ERL_NIF_TERM next[3] = {argv[0], argv[1], 0};
            unsigned char *p = enif_make_new_binary(env, sizeof cmp, &next[2]);
            if (p == NULL)
                return lt_raise_nomem(env);
            memcpy(p, &cmp, sizeof cmp);
            return enif_schedule_nif(env, "vclock_compare", 0, lt_nif_vclock_compare, 3, next);
        }
    }
    switch (cmp.flags) {
    case 0:
        return lt_atom.eq;
    case LT_VC_A_AHEAD:
        return lt_atom.gt;
    case LT_VC_B_AHEAD:
        return lt_atom.lt;
    default:
        return lt_atom.concurrent;
    }
}

/* prune(Actors, Clock) -> Clock2 without those actors | {error, ...}. */
LT_NIF(lt_nif_vclock_prune) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    unsigned len;
    if (argc != 2 || !enif_get_list_length(env, argv[0], &len) ||
        !get_clock(env, argv[1], LT_TYPE_VCLOCK, &bin, &v, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_clock(env, e);
    LT_DIRTY_IF_TERMS(env, "vclock_prune", lt_nif_vclock_prune, argc, argv,
                      bin.size + (size_t)len * 64);
    /* The actors to drop, as entries (their counters are not used). */
    entry_list l;
    lt_buf scratch;
    ERL_NIF_TERM head, tail = argv[0];
    lt_buf_init(&l.actors);
    lt_buf_init(&scratch);
    l.n = 0;
    l.entries = enif_alloc(len ? len * sizeof(lt_vclock_entry) : 1);
    l.offsets = enif_alloc(len ? len * sizeof(size_t) : 1);
    int ok = l.entries != NULL && l.offsets != NULL;
    while (ok && enif_get_list_cell(env, tail, &head, &tail)) {
        lt_vclock_entry *x = &l.entries[l.n];
        ok = lt_actor_encode(env, head, &scratch, &x->id);
        if (ok) {
            x->counter = 0;
            x->actor_len = scratch.len;
            l.offsets[l.n++] = l.actors.len;
            lt_buf_put(&l.actors, scratch.data, scratch.len);
        }
    }
    lt_buf_free(&scratch);
    if (!ok || l.actors.failed) {
        entry_list_free(&l);
        return ok ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    for (size_t k = 0; k < l.n; k++)
        l.entries[k].actor = l.actors.data + l.offsets[k];
    lt_out out;
    if (!lt_out_init(&out, bin.size)) {
        entry_list_free(&l);
        return lt_raise_nomem(env);
    }
    e = lt_vclock_prune(&v, l.entries, l.n, &out.buf);
    entry_list_free(&l);
    if (e != LT_OK) {
        lt_out_abandon(&out);
        return bad_clock(env, e);
    }
    return lt_out_finish(env, &out);
}

/* clock_size(Tag, Clock) -> number of actors | {error, ...}. */
LT_NIF(lt_nif_clock_size) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    uint8_t tag;
    ERL_NIF_TERM out;
    if (!open_clock(env, argc, argv, 2, 1, &tag, &bin, &v, &out))
        return out;
    LT_DIRTY_IF_BIG(env, "clock_size", lt_nif_clock_size, argc, argv, bin.size);
    if ((e = check_structure(&v)) != LT_OK)
        return bad_clock_of(env, tag, e);
    return enif_make_uint64(env, v.n);
}

/* clock_validate(Tag, Clock) -> ok | {error, ...}: every rule, with canonical actors and ids. */
LT_NIF(lt_nif_clock_validate) {
    ErlNifBinary bin;
    lt_vclock_view v;
    lt_err e;
    uint8_t tag;
    ERL_NIF_TERM out;
    if (!open_clock(env, argc, argv, 2, 1, &tag, &bin, &v, &out))
        return out;
    LT_DIRTY_IF_TERMS(env, "clock_validate", lt_nif_clock_validate, argc, argv, bin.size);
    if ((e = lt_vclock_check_full(&v)) != LT_OK)
        return bad_clock_of(env, tag, e);
    return lt_atom.ok;
}
