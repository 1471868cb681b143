/* lt_nif.c — the NIF library: load/upgrade/unload, shared helpers, and the function table. */
#include "lt_nif.h"

lt_atoms lt_atom;
lt_resources lt_res;

static void make_atoms(ErlNifEnv *env) {
#define ATOM(field, text) lt_atom.field = enif_make_atom(env, text)
    ATOM(ok, "ok");
    ATOM(error, "error");
    ATOM(true_, "true");
    ATOM(false_, "false");
    ATOM(undefined, "undefined");
    ATOM(retired, "retired");
    ATOM(eq, "eq");
    ATOM(lt, "lt");
    ATOM(gt, "gt");
    ATOM(concurrent, "concurrent");
    ATOM(enomem, "enomem");
    ATOM(clock_skew, "clock_skew");
    ATOM(unknown_atom, "unknown_atom");
    ATOM(overflow, "overflow");
    ATOM(counter, "counter");
    ATOM(bad_term, "bad_term");
    ATOM(bad_vclock, "bad_vclock");
    ATOM(bad_dvv, "bad_dvv");
    ATOM(bad_gcounter, "bad_gcounter");
    ATOM(bad_pncounter, "bad_pncounter");
    ATOM(increment, "increment");
    ATOM(decrement, "decrement");
    ATOM(get, "get");
    /* LWW-Register */
    ATOM(bad_lwwreg, "bad_lwwreg");
    ATOM(assign, "assign");
    ATOM(value, "value");
    ATOM(timestamp, "timestamp");
    ATOM(actor, "actor");
    ATOM(precondition, "precondition");
    ATOM(stale_timestamp, "stale_timestamp");
    /* G-Set and 2P-Set (they also use `precondition`, made above) */
    ATOM(bad_gset, "bad_gset");
    ATOM(bad_twopset, "bad_twopset");
    ATOM(not_present, "not_present");
    ATOM(add, "add");
    ATOM(add_all, "add_all");
    ATOM(remove, "remove");
    ATOM(contains, "contains");
    ATOM(size, "size");
    /* LWW-Element-Set */
    ATOM(bad_lwwset, "bad_lwwset");
    ATOM(remove_all, "remove_all");
    /* OR-Set, LWW-Map, MV-Register */
    ATOM(bad_orset, "bad_orset");
    ATOM(bad_lwwmap, "bad_lwwmap");
    ATOM(bad_mvreg, "bad_mvreg");
    ATOM(put, "put");
    ATOM(not_found, "not_found");
    /* The Merkle tree */
    ATOM(delete_, "delete");
    ATOM(differs, "differs");
    ATOM(local_only, "local_only");
    ATOM(remote_only, "remote_only");
    ATOM(key_hash, "key_hash");
    ATOM(bad_merkle_wire, "bad_merkle_wire");
    ATOM(too_big, "too_big");
#undef ATOM
}

static int open_resources(ErlNifEnv *env) {
    ErlNifResourceFlags flags = ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER;
    return lt_hash_open_resources(env, flags) && lt_object_open_resources(env, flags) &&
                   lt_merge_open_resources(env, flags) && lt_merkle_open_resources(env, flags)
               ? 0
               : 1;
}

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info) {
    (void)info;
    *priv = NULL;
    make_atoms(env);
    if (open_resources(env) != 0)
        return 1;
    lt_object_reaper_start();
    return 0;
}

/* A reload of the module (hot upgrade): take over the resource types so that jobs in flight
 * keep working with the new code. */
static int upgrade(ErlNifEnv *env, void **priv, void **old_priv, ERL_NIF_TERM info) {
    (void)old_priv;
    return load(env, priv, info);
}

static void unload(ErlNifEnv *env, void *priv) {
    (void)env;
    (void)priv;
    lt_object_reaper_stop();
}

ERL_NIF_TERM lt_make_error(ErlNifEnv *env, ERL_NIF_TERM kind, lt_err err) {
    return enif_make_tuple2(env, lt_atom.error,
                            enif_make_tuple2(env, kind, enif_make_atom(env, lt_err_name(err))));
}

ERL_NIF_TERM lt_make_error_term(ErlNifEnv *env, ERL_NIF_TERM kind, ERL_NIF_TERM reason) {
    return enif_make_tuple2(env, lt_atom.error, enif_make_tuple2(env, kind, reason));
}

ERL_NIF_TERM lt_make_overflow(ErlNifEnv *env, ERL_NIF_TERM what) {
    return lt_make_error_term(env, lt_atom.overflow, what);
}

ERL_NIF_TERM lt_raise_nomem(ErlNifEnv *env) {
    return enif_raise_exception(env, lt_atom.enomem);
}

ERL_NIF_TERM lt_buf_to_term(ErlNifEnv *env, lt_buf *b) {
    ERL_NIF_TERM t;
    if (b->failed) {
        lt_buf_free(b);
        return lt_raise_nomem(env);
    }
    unsigned char *p = enif_make_new_binary(env, b->len, &t);
    if (p != NULL && b->len)
        memcpy(p, b->data, b->len);
    lt_buf_free(b);
    return p == NULL ? lt_raise_nomem(env) : t;
}

int lt_out_init(lt_out *o, size_t cap) {
    if (!enif_alloc_binary(cap, &o->bin))
        return 0;
    lt_buf_init_fixed(&o->buf, o->bin.data, cap);
    return 1;
}

ERL_NIF_TERM lt_out_finish(ErlNifEnv *env, lt_out *o) {
    if (o->buf.failed) { /* the bound was wrong: a bug, reported as an internal failure */
        enif_release_binary(&o->bin);
        return lt_raise_nomem(env);
    }
    if (o->buf.len != o->bin.size && !enif_realloc_binary(&o->bin, o->buf.len)) {
        enif_release_binary(&o->bin);
        return lt_raise_nomem(env);
    }
    return enif_make_binary(env, &o->bin);
}

void lt_out_abandon(lt_out *o) {
    enif_release_binary(&o->bin);
}

ErlNifTime lt_slice_start(void) {
    return enif_monotonic_time(ERL_NIF_USEC);
}

int lt_slice_spent(ErlNifEnv *env, ErlNifTime started) {
    ErlNifTime us = enif_monotonic_time(ERL_NIF_USEC) - started;
    int pct = (int)(us / 10); /* a timeslice is about 1 ms: 10 us is 1 % */
    if (pct < 1)
        pct = 1;
    if (pct > 100)
        pct = 100;
    return enif_consume_timeslice(env, pct);
}

/* Every NIF; src/lattice_nif.erl lists the same once, in ?NIFS (its -export and -nifs). */
static ErlNifFunc nif_funcs[] = {
    {"canon_encode", 1, lt_nif_canon_encode, 0},
    {"canon_decode", 2, lt_nif_canon_decode, 0},
    {"clock_from_list", 2, lt_nif_clock_from_list, 0},
    {"clock_to_list", 2, lt_nif_clock_to_list, 0},
    {"clock_increment", 4, lt_nif_clock_increment, 0},
    {"clock_get", 3, lt_nif_clock_get, 0},
    {"clock_merge", 3, lt_nif_clock_merge, 0},
    {"vclock_compare", 2, lt_nif_vclock_compare, 0},
    {"vclock_prune", 2, lt_nif_vclock_prune, 0},
    {"clock_size", 2, lt_nif_clock_size, 0},
    {"clock_validate", 2, lt_nif_clock_validate, 0},
    {"dvv_from_list", 2, lt_nif_dvv_from_list, 0},
    {"dvv_to_list", 1, lt_nif_dvv_to_list, 0},
    {"dvv_add", 3, lt_nif_dvv_add, 0},
    {"dvv_event", 2, lt_nif_dvv_event, 0},
    {"dvv_contains", 3, lt_nif_dvv_contains, 0},
    {"dvv_max", 2, lt_nif_dvv_max, 0},
    {"dvv_merge", 2, lt_nif_dvv_merge, 0},
    {"dvv_descends", 2, lt_nif_dvv_descends, 0},
    {"dvv_validate", 1, lt_nif_dvv_validate, 0},
    {"hlc_now", 0, lt_nif_hlc_now, 0},
    {"hlc_update", 1, lt_nif_hlc_update, 0},
    {"hlc_peek", 0, lt_nif_hlc_peek, 0},
    {"hlc_set_max_offset", 1, lt_nif_hlc_set_max_offset, 0},
    {"hlc_max_offset", 0, lt_nif_hlc_max_offset, 0},
    {"hlc_tick", 2, lt_nif_hlc_tick, 0},
    {"hlc_receive", 4, lt_nif_hlc_receive, 0},
    {"hash", 3, lt_nif_hash, 0},
    {"term_digest", 1, lt_nif_term_digest, 0},
    {"obj_new", 1, lt_nif_obj_new, 0},
    {"obj_update", 3, lt_nif_obj_update, 0},
    {"obj_join", 2, lt_nif_obj_join, 0},
    {"obj_value", 1, lt_nif_obj_value, 0},
    {"obj_query", 2, lt_nif_obj_query, 0},
    {"obj_snapshot", 1, lt_nif_obj_snapshot, 0},
    {"obj_digest", 1, lt_nif_obj_digest, 0},
    {"obj_retire", 1, lt_nif_obj_retire, 0},
    {"gcounter_value", 1, lt_nif_gcounter_value, 0},
    {"gcounter_digest", 1, lt_nif_gcounter_digest, 0},
    {"pncounter_digest", 1, lt_nif_pncounter_digest, 0},
    {"pncounter_split", 1, lt_nif_pncounter_split, 0},
    /* LWW-Register */
    {"lwwreg_merge", 2, lt_nif_lwwreg_merge, 0},
    {"lwwreg_assign", 4, lt_nif_lwwreg_assign, 0},
    {"lwwreg_value", 2, lt_nif_lwwreg_value, 0},
    {"lwwreg_digest", 1, lt_nif_lwwreg_digest, 0},
    {"lwwreg_validate", 1, lt_nif_lwwreg_validate, 0},
    {"lwwreg_to_term", 1, lt_nif_lwwreg_to_term, 0},
    /* G-Set and 2P-Set */
    {"set_update", 3, lt_nif_set_update, 0},
    {"set_merge", 3, lt_nif_set_merge, 0},
    {"set_value", 2, lt_nif_set_value, 0},
    {"set_contains", 3, lt_nif_set_contains, 0},
    {"set_size", 2, lt_nif_set_size, 0},
    {"set_digest", 2, lt_nif_set_digest, 0},
    {"set_validate", 2, lt_nif_set_validate, 0},
    {"set_to_list", 2, lt_nif_set_to_list, 0},
    /* OR-Set, LWW-Map, MV-Register */
    {"dk_update", 4, lt_nif_dk_update, 0},
    {"dk_merge", 3, lt_nif_dk_merge, 0},
    {"dk_value", 2, lt_nif_dk_value, 0},
    {"dk_query", 3, lt_nif_dk_query, 0},
    {"dk_digest", 2, lt_nif_dk_digest, 0},
    {"dk_validate", 2, lt_nif_dk_validate, 0},
    {"dk_to_list", 2, lt_nif_dk_to_list, 0},
    /* LWW-Element-Set */
    {"lwwset_update", 2, lt_nif_lwwset_update, 0},
    {"lwwset_merge", 2, lt_nif_lwwset_merge, 0},
    {"lwwset_value", 1, lt_nif_lwwset_value, 0},
    {"lwwset_contains", 2, lt_nif_lwwset_contains, 0},
    {"lwwset_size", 1, lt_nif_lwwset_size, 0},
    {"lwwset_digest", 1, lt_nif_lwwset_digest, 0},
    {"lwwset_validate", 1, lt_nif_lwwset_validate, 0},
    {"lwwset_to_list", 1, lt_nif_lwwset_to_list, 0},
    /* The Merkle tree */
    {"merkle_new", 1, lt_nif_merkle_new, 0},
    {"merkle_put", 3, lt_nif_merkle_put, 0},
    {"merkle_update", 3, lt_nif_merkle_update, 0},
    {"merkle_lookup", 2, lt_nif_merkle_lookup, 0},
    {"merkle_info", 2, lt_nif_merkle_info, 0},
    {"merkle_node", 3, lt_nif_merkle_node, 0},
    {"merkle_key_hash", 2, lt_nif_merkle_key_hash, 0},
    {"merkle_diff", 2, lt_nif_merkle_diff, 0},
    {"merkle_to_list", 1, lt_nif_merkle_to_list, 0},
    {"merkle_keys_with_hash", 2, lt_nif_merkle_keys_with_hash, 0},
    {"merkle_children", 3, lt_nif_merkle_children, 0},
    {"merkle_buckets", 2, lt_nif_merkle_buckets, 0},
    {"merkle_diff_children", 2, lt_nif_merkle_diff_children, 0},
    {"merkle_diff_buckets", 2, lt_nif_merkle_diff_buckets, 0},
};

ERL_NIF_INIT(lattice_nif, nif_funcs, load, NULL, upgrade, unload)
