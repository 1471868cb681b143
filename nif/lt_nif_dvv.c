/* lt_nif_dvv.c — dotted version vector NIFs over c_src/lt_dvv.h. */
#include "lt_nif.h"

#include "lt_dvv.h"

static ERL_NIF_TERM bad_dvv(ErlNifEnv *env, lt_err e) {
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    return lt_make_error(env, lt_atom.bad_dvv, e);
}

/* Parses argv[i]. Returns 0 for a non-binary (badarg); else *err is the parse result and, on
 * LT_OK, *d must be freed by the caller. */
static int get_dvv(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifBinary *bin, lt_dvv *d, lt_err *err) {
    *err = LT_E_WRONG_TYPE;
    if (!enif_inspect_binary(env, t, bin))
        return 0;
    *err = lt_dvv_parse(bin->data, bin->size, d);
    return 1;
}

/* Encodes the union of the ranges as a DVV term. Sorts `r` in place. */
static ERL_NIF_TERM ranges_to_term(ErlNifEnv *env, lt_dvv_range *r, size_t n) {
    lt_dvv out;
    lt_buf b;
    lt_err e = lt_dvv_normalize(r, n, &out);
    if (e != LT_OK)
        return e == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    lt_buf_init(&b);
    e = lt_dvv_encode(&out, &b);
    lt_dvv_free(&out);
    if (e != LT_OK) {
        lt_buf_free(&b);
        return lt_raise_nomem(env);
    }
    return lt_buf_to_term(env, &b);
}

/* d's ranges plus room for `extra` more; NULL when out of memory. Caller enif_frees. */
static lt_dvv_range *ranges_of(const lt_dvv *d, size_t extra, size_t *n) {
    size_t count = lt_dvv_range_count(d) + extra;
    lt_dvv_range *r = enif_alloc(count ? count * sizeof *r : 1);
    *n = 0;
    if (r != NULL)
        lt_dvv_ranges(d, r, n);
    return r;
}

/* Reads [{Actor, N}] into ranges: as_base ? 1..N (N >= 0, 0 adds nothing) : N..N (N >= 1).
 * Actor bytes go to `actors`; their offsets are kept in r[k].actor as (const uint8_t *)offset
 * until fix_actors turns them into pointers, since the buffer may move while it grows. */
static int read_pairs(ErlNifEnv *env, ERL_NIF_TERM list, int as_base, lt_buf *actors,
                      lt_dvv_range *r, size_t *n) {
    ERL_NIF_TERM head, tail = list;
    lt_buf scratch;
    int ok = 1;
    lt_buf_init(&scratch);
    while (ok && enif_get_list_cell(env, tail, &head, &tail)) {
        int arity;
        const ERL_NIF_TERM *el;
        ErlNifUInt64 c;
        uint64_t id;
        if (!enif_get_tuple(env, head, &arity, &el) || arity != 2 ||
            !enif_get_uint64(env, el[1], &c) || !lt_actor_encode(env, el[0], &scratch, &id) ||
            (!as_base && c == 0)) {
            ok = 0;
            break;
        }
        if (c == 0)
            continue;
        lt_dvv_range *x = &r[(*n)++];
        x->id = id;
        x->actor = (const uint8_t *)(uintptr_t)actors->len;
        x->actor_len = scratch.len;
        x->lo = as_base ? 1 : c;
        x->hi = c;
        lt_buf_put(actors, scratch.data, scratch.len);
    }
    ok = ok && !scratch.failed && !actors->failed;
    lt_buf_free(&scratch);
    return ok;
}

static void fix_actors(lt_dvv_range *r, size_t n, const lt_buf *actors) {
    for (size_t k = 0; k < n; k++)
        r[k].actor = actors->data + (uintptr_t)r[k].actor;
}

/* from_list(VV, Dots) -> DVV. VV: [{Actor, N >= 0}] (dots 1..N); Dots: [{Actor, N >= 1}]. */
LT_NIF(lt_nif_dvv_from_list) {
    unsigned nvv, ndots;
    if (argc != 2 || !enif_get_list_length(env, argv[0], &nvv) ||
        !enif_get_list_length(env, argv[1], &ndots))
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_from_list", lt_nif_dvv_from_list, argc, argv,
                      ((size_t)nvv + ndots) * 64);
    lt_dvv_range *r = enif_alloc(((size_t)nvv + ndots + 1) * sizeof *r);
    lt_buf actors;
    size_t n = 0;
    if (r == NULL)
        return lt_raise_nomem(env);
    lt_buf_init(&actors);
    ERL_NIF_TERM result;
    if (!read_pairs(env, argv[0], 1, &actors, r, &n) ||
        !read_pairs(env, argv[1], 0, &actors, r, &n)) {
        result = enif_make_badarg(env);
    } else {
        fix_actors(r, n, &actors);
        result = ranges_to_term(env, r, n);
    }
    lt_buf_free(&actors);
    enif_free(r);
    return result;
}

/* to_list(DVV) -> {[{Actor, Base}], [{Actor, Dot}]} | {error, ...}. */
LT_NIF(lt_nif_dvv_to_list) {
    ErlNifBinary bin;
    lt_dvv d;
    lt_err e;
    if (argc != 1 || !get_dvv(env, argv[0], &bin, &d, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_dvv(env, e);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_to_list", lt_nif_dvv_to_list, argc, argv,
                      bin.size);
    if ((e = lt_dvv_check_full(&d)) != LT_OK) {
        lt_dvv_free(&d);
        return bad_dvv(env, e);
    }
    ERL_NIF_TERM vv = enif_make_list(env, 0), dots = enif_make_list(env, 0);
    for (size_t i = d.n; i-- > 0;) {
        const lt_dvv_entry *en = &d.entries[i];
        ERL_NIF_TERM actor;
        size_t off = 0;
        int unknown = 0;
        if ((e = lt_decode_term(env, en->actor, en->actor_len, &off, 0, &actor, &unknown)) !=
            LT_OK) {
            lt_dvv_free(&d);
            return bad_dvv(env, e);
        }
        for (size_t k = en->ndots; k-- > 0;)
            dots = enif_make_list_cell(
                env, enif_make_tuple2(env, actor, enif_make_uint64(env, d.dots[en->first_dot + k])),
                dots);
        if (en->base > 0)
            vv = enif_make_list_cell(
                env, enif_make_tuple2(env, actor, enif_make_uint64(env, en->base)), vv);
    }
    lt_dvv_free(&d);
    return enif_make_tuple2(env, vv, dots);
}

/* Adds the dot (actor, c) to d, returning the new binary (or `same` when d holds it). */
static ERL_NIF_TERM add_dot(ErlNifEnv *env, const lt_dvv *d, uint64_t id, const lt_buf *actor,
                            uint64_t c, ERL_NIF_TERM same) {
    if (lt_dvv_has_dot(d, id, actor->data, actor->len, c))
        return same;
    size_t n;
    lt_dvv_range *r = ranges_of(d, 1, &n);
    if (r == NULL)
        return lt_raise_nomem(env);
    lt_dvv_range dot = {id, actor->data, actor->len, c, c};
    r[n++] = dot;
    ERL_NIF_TERM result = ranges_to_term(env, r, n);
    enif_free(r);
    return result;
}

/* Shared prologue of the NIFs that take (Actor, ..., DVV): parses both. Returns 0 and sets
 * *result (badarg or error) on failure; on success the caller frees d and actor. */
static int actor_and_dvv(ErlNifEnv *env, ERL_NIF_TERM actor_term, ERL_NIF_TERM dvv_term,
                         lt_buf *actor, uint64_t *id, lt_dvv *d, ERL_NIF_TERM *result) {
    ErlNifBinary bin;
    lt_err e = LT_E_WRONG_TYPE;
    lt_buf_init(actor);
    if (!enif_is_binary(env, dvv_term) || !lt_actor_from_term(env, actor_term, actor, id)) {
        lt_buf_free(actor);
        *result = enif_make_badarg(env);
        return 0;
    }
    if (!get_dvv(env, dvv_term, &bin, d, &e) || e != LT_OK) {
        lt_buf_free(actor);
        *result = bad_dvv(env, e);
        return 0;
    }
    return 1;
}

static size_t binary_size(ErlNifEnv *env, ERL_NIF_TERM t) {
    ErlNifBinary bin;
    return enif_inspect_binary(env, t, &bin) ? bin.size : 0;
}

/* add(Actor, Counter, DVV) -> DVV2. */
LT_NIF(lt_nif_dvv_add) {
    ErlNifUInt64 c;
    lt_buf actor;
    uint64_t id;
    lt_dvv d;
    ERL_NIF_TERM result;
    if (argc != 3 || !enif_get_uint64(env, argv[1], &c) || c == 0)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_add", lt_nif_dvv_add, argc, argv,
                      binary_size(env, argv[2]));
    if (!actor_and_dvv(env, argv[0], argv[2], &actor, &id, &d, &result))
        return result;
    result = add_dot(env, &d, id, &actor, c, argv[2]);
    lt_dvv_free(&d);
    lt_buf_free(&actor);
    return result;
}

/* event(Actor, DVV) -> {Counter, DVV2}: the actor's next dot, added. */
LT_NIF(lt_nif_dvv_event) {
    lt_buf actor;
    uint64_t id;
    lt_dvv d;
    ERL_NIF_TERM result;
    if (argc != 2)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_event", lt_nif_dvv_event, argc, argv,
                      binary_size(env, argv[1]));
    if (!actor_and_dvv(env, argv[0], argv[1], &actor, &id, &d, &result))
        return result;
    uint64_t max = lt_dvv_max(&d, id, actor.data, actor.len);
    if (max == UINT64_MAX)
        result = lt_make_overflow(env, lt_atom.counter);
    else
        result = enif_make_tuple2(env, enif_make_uint64(env, max + 1),
                                  add_dot(env, &d, id, &actor, max + 1, argv[1]));
    lt_dvv_free(&d);
    lt_buf_free(&actor);
    return result;
}

/* contains(Actor, Counter, DVV) -> boolean(). */
LT_NIF(lt_nif_dvv_contains) {
    ErlNifUInt64 c;
    lt_buf actor;
    uint64_t id;
    lt_dvv d;
    ERL_NIF_TERM result;
    if (argc != 3 || !enif_get_uint64(env, argv[1], &c) || c == 0)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_contains", lt_nif_dvv_contains, argc, argv,
                      binary_size(env, argv[2]));
    if (!actor_and_dvv(env, argv[0], argv[2], &actor, &id, &d, &result))
        return result;
    result = lt_dvv_has_dot(&d, id, actor.data, actor.len, c) ? lt_atom.true_ : lt_atom.false_;
    lt_dvv_free(&d);
    lt_buf_free(&actor);
    return result;
}

/* max(Actor, DVV) -> the highest counter of the actor's dots (0 if none). */
LT_NIF(lt_nif_dvv_max) {
    lt_buf actor;
    uint64_t id;
    lt_dvv d;
    ERL_NIF_TERM result;
    if (argc != 2)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_max", lt_nif_dvv_max, argc, argv,
                      binary_size(env, argv[1]));
    if (!actor_and_dvv(env, argv[0], argv[1], &actor, &id, &d, &result))
        return result;
    result = enif_make_uint64(env, lt_dvv_max(&d, id, actor.data, actor.len));
    lt_dvv_free(&d);
    lt_buf_free(&actor);
    return result;
}

/* Parses two DVVs for merge and descends. Same contract as actor_and_dvv. */
static int two_dvvs(ErlNifEnv *env, const ERL_NIF_TERM argv[], lt_dvv *a, lt_dvv *b,
                    ERL_NIF_TERM *result) {
    ErlNifBinary ba, bb;
    lt_err ea, eb;
    if (!enif_is_binary(env, argv[0]) || !enif_is_binary(env, argv[1])) {
        *result = enif_make_badarg(env);
        return 0;
    }
    (void)get_dvv(env, argv[0], &ba, a, &ea);
    if (ea != LT_OK) {
        *result = bad_dvv(env, ea);
        return 0;
    }
    (void)get_dvv(env, argv[1], &bb, b, &eb);
    if (eb != LT_OK) {
        lt_dvv_free(a);
        *result = bad_dvv(env, eb);
        return 0;
    }
    return 1;
}

/* merge(A, B) -> DVV holding the dots of both. */
LT_NIF(lt_nif_dvv_merge) {
    lt_dvv a, b;
    ERL_NIF_TERM result;
    if (argc != 2)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_merge", lt_nif_dvv_merge, argc, argv,
                      binary_size(env, argv[0]) + binary_size(env, argv[1]));
    if (!two_dvvs(env, argv, &a, &b, &result))
        return result;
    size_t na = lt_dvv_range_count(&a), n = 0;
    lt_dvv_range *r = enif_alloc((na + lt_dvv_range_count(&b) + 1) * sizeof *r);
    if (r == NULL) {
        result = lt_raise_nomem(env);
    } else {
        lt_dvv_ranges(&a, r, &n);
        lt_dvv_ranges(&b, r, &n);
        result = ranges_to_term(env, r, n);
        enif_free(r);
    }
    lt_dvv_free(&a);
    lt_dvv_free(&b);
    return result;
}

/* descends(A, B) -> whether A holds every dot of B. */
LT_NIF(lt_nif_dvv_descends) {
    lt_dvv a, b;
    ERL_NIF_TERM result;
    if (argc != 2)
        return enif_make_badarg(env);
    LT_DIRTY_IF_ABOVE(LT_DIRTY_DVV_BYTES, env, "dvv_descends", lt_nif_dvv_descends, argc, argv,
                      binary_size(env, argv[0]) + binary_size(env, argv[1]));
    if (!two_dvvs(env, argv, &a, &b, &result))
        return result;
    result = lt_dvv_is_descendant(&a, &b) ? lt_atom.true_ : lt_atom.false_;
    lt_dvv_free(&a);
    lt_dvv_free(&b);
    return result;
}

/* validate(DVV) -> ok | {error, ...}. */
LT_NIF(lt_nif_dvv_validate) {
    ErlNifBinary bin;
    lt_dvv d;
    lt_err e;
    if (argc != 1 || !get_dvv(env, argv[0], &bin, &d, &e))
        return enif_make_badarg(env);
    if (e != LT_OK)
        return bad_dvv(env, e);
    if (bin.size > LT_DIRTY_DVV_BYTES && enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER) {
        lt_dvv_free(&d);
        return enif_schedule_nif(env, "dvv_validate", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_dvv_validate, argc, argv);
    }
    e = lt_dvv_check_full(&d);
    lt_dvv_free(&d);
    return e == LT_OK ? lt_atom.ok : bad_dvv(env, e);
}
