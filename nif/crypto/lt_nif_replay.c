/* lt_nif_replay.c — the replay-window resource (c_src/crypto/lt_replay.h) and its NIFs.
 *
 * A replay term is a resource holding one lt_replay_table (owned, freed by the destructor) and
 * the mutex that serializes every call on it. Each call holds the mutex for one table
 * operation: a SipHash of the sender and a few word operations, under a microsecond (a jump of
 * the window clears at most LT_REPLAY_MAX_BITS / 8 bytes). Still, a normal scheduler never
 * waits on it (STYLE.md habit 14): it only tries the lock, and when another thread holds it the
 * call moves to a dirty I/O scheduler and starts again there, where waiting is allowed (as
 * nif/lt_nif_object.c does). Contended calls are counted (replay_lock_busy).
 */
#include <string.h>

#include "lt_crypto_nif.h"
#include "lt_replay.h"

typedef struct {
    lt_replay_table *table; /* owned */
    ErlNifMutex *lock;      /* owned */
} replay_res;

static ErlNifResourceType *replay_type;

static void replay_dtor(ErlNifEnv *env, void *obj) {
    (void)env;
    replay_res *r = obj;
    lt_replay_table_free(r->table);
    r->table = NULL;
    if (r->lock != NULL)
        enif_mutex_destroy(r->lock);
    r->lock = NULL;
}

int lt_nif_replay_open(ErlNifEnv *env, ErlNifResourceFlags flags) {
    replay_type =
        enif_open_resource_type(env, NULL, "lattice_replay_window", replay_dtor, flags, NULL);
    return replay_type != NULL;
}

/* replay_new(Bits, MaxSenders) -> Replay. */
LT_CNIF(lt_cnif_replay_new) {
    unsigned bits, max;
    if (argc != 2 || !enif_get_uint(env, argv[0], &bits) || !enif_get_uint(env, argv[1], &max) ||
        !lt_replay_bits_ok(bits) || max == 0 || max > LT_REPLAY_MAX_SENDERS)
        return enif_make_badarg(env);
    replay_res *r = enif_alloc_resource(replay_type, sizeof *r);
    if (r == NULL)
        return lt_crypto_raise_nomem(env);
    r->table = lt_replay_table_new(bits, max);
    r->lock = enif_mutex_create("lattice_replay");
    if (r->table == NULL || r->lock == NULL) {
        enif_release_resource(r); /* the destructor frees what was made */
        return lt_crypto_raise_nomem(env);
    }
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return t;
}

/* The table of argv[0], locked: 1, or 0 with *ret set (badarg, or the call rescheduled on a
 * dirty I/O scheduler because the lock is busy). */
static int lock_table(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[],
                      ERL_NIF_TERM (*fn)(ErlNifEnv *, int, const ERL_NIF_TERM[]), const char *name,
                      replay_res **out, ERL_NIF_TERM *ret) {
    replay_res *r;
    if (!enif_get_resource(env, argv[0], replay_type, (void **)&r)) {
        *ret = enif_make_badarg(env);
        return 0;
    }
    if (enif_thread_type() != ERL_NIF_THR_NORMAL_SCHEDULER) {
        enif_mutex_lock(r->lock);
    } else if (enif_mutex_trylock(r->lock) != 0) {
        lt_crypto_count(LT_CTR_replay_lock_busy, 1);
        *ret = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_IO_BOUND, fn, argc, argv);
        return 0;
    }
    *out = r;
    return 1;
}

static int get_sender(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifBinary *b) {
    return enif_inspect_binary(env, t, b) && b->size >= 1 && b->size <= LT_REPLAY_MAX_SENDER;
}

static ERL_NIF_TERM result_term(ErlNifEnv *env, lt_replay_result r) {
    switch (r) {
    case LT_REPLAY_OK:
        return lt_catom.ok;
    case LT_REPLAY_DUPLICATE:
        return lt_crypto_error(env, lt_catom.duplicate);
    case LT_REPLAY_TOO_OLD:
        return lt_crypto_error(env, lt_catom.too_old);
    case LT_REPLAY_FULL:
        return lt_crypto_error(env, lt_catom.full);
    case LT_REPLAY_NOMEM:
        break;
    }
    return lt_crypto_raise_nomem(env);
}

static void count_result(lt_replay_result r) {
    if (r == LT_REPLAY_DUPLICATE)
        lt_crypto_count(LT_CTR_replay_duplicates, 1);
    else if (r == LT_REPLAY_TOO_OLD)
        lt_crypto_count(LT_CTR_replay_too_old, 1);
}

/* replay_check(Replay, Sender, Counter) -> ok | {error, duplicate | too_old}. Changes no
 * window. */
LT_CNIF(lt_cnif_replay_check) {
    ErlNifBinary s;
    ErlNifUInt64 c;
    if (argc != 3 || !get_sender(env, argv[1], &s) || !enif_get_uint64(env, argv[2], &c))
        return enif_make_badarg(env);
    replay_res *r;
    ERL_NIF_TERM ret;
    if (!lock_table(env, argc, argv, lt_cnif_replay_check, "replay_check", &r, &ret))
        return ret;
    lt_replay_result res = lt_replay_table_check(r->table, s.data, s.size, c);
    enif_mutex_unlock(r->lock);
    lt_crypto_count(LT_CTR_replay_checks, 1);
    count_result(res);
    return result_term(env, res);
}

/* replay_update(Replay, Sender, Counter) -> ok | {error, duplicate | too_old | full}. */
LT_CNIF(lt_cnif_replay_update) {
    ErlNifBinary s;
    ErlNifUInt64 c;
    if (argc != 3 || !get_sender(env, argv[1], &s) || !enif_get_uint64(env, argv[2], &c))
        return enif_make_badarg(env);
    replay_res *r;
    ERL_NIF_TERM ret;
    if (!lock_table(env, argc, argv, lt_cnif_replay_update, "replay_update", &r, &ret))
        return ret;
    lt_replay_result res = lt_replay_table_update(r->table, s.data, s.size, c);
    enif_mutex_unlock(r->lock);
    lt_crypto_count(LT_CTR_replay_updates, 1);
    if (res == LT_REPLAY_OK)
        lt_crypto_count(LT_CTR_replay_accepted, 1);
    else if (res == LT_REPLAY_FULL)
        lt_crypto_count(LT_CTR_replay_full, 1);
    count_result(res);
    return result_term(env, res);
}

/* replay_greatest(Replay, Sender) -> {ok, Counter} | none. */
LT_CNIF(lt_cnif_replay_greatest) {
    ErlNifBinary s;
    if (argc != 2 || !get_sender(env, argv[1], &s))
        return enif_make_badarg(env);
    replay_res *r;
    ERL_NIF_TERM ret;
    if (!lock_table(env, argc, argv, lt_cnif_replay_greatest, "replay_greatest", &r, &ret))
        return ret;
    uint64_t g = 0;
    int has = lt_replay_table_greatest(r->table, s.data, s.size, &g);
    enif_mutex_unlock(r->lock);
    return has ? lt_crypto_ok(env, enif_make_uint64(env, g)) : lt_catom.none;
}

/* replay_forget(Replay, Sender) -> boolean(). */
LT_CNIF(lt_cnif_replay_forget) {
    ErlNifBinary s;
    if (argc != 2 || !get_sender(env, argv[1], &s))
        return enif_make_badarg(env);
    replay_res *r;
    ERL_NIF_TERM ret;
    if (!lock_table(env, argc, argv, lt_cnif_replay_forget, "replay_forget", &r, &ret))
        return ret;
    int had = lt_replay_table_forget(r->table, s.data, s.size);
    enif_mutex_unlock(r->lock);
    return had ? lt_catom.true_ : lt_catom.false_;
}

/* replay_info(Replay) -> #{...}: the table's own counters and sizes. */
LT_CNIF(lt_cnif_replay_info) {
    if (argc != 1)
        return enif_make_badarg(env);
    replay_res *r;
    ERL_NIF_TERM ret;
    if (!lock_table(env, argc, argv, lt_cnif_replay_info, "replay_info", &r, &ret))
        return ret;
    lt_replay_stats st;
    lt_replay_table_stats(r->table, &st);
    enif_mutex_unlock(r->lock);
    ERL_NIF_TERM keys[] = {enif_make_atom(env, "bits"),     enif_make_atom(env, "window"),
                           enif_make_atom(env, "senders"),  enif_make_atom(env, "max_senders"),
                           enif_make_atom(env, "checks"),   enif_make_atom(env, "updates"),
                           enif_make_atom(env, "accepted"), enif_make_atom(env, "duplicates"),
                           enif_make_atom(env, "too_old"),  enif_make_atom(env, "full")};
    ERL_NIF_TERM vals[] = {
        enif_make_uint(env, st.bits),       enif_make_uint(env, lt_replay_span(st.bits)),
        enif_make_uint(env, st.senders),    enif_make_uint(env, st.max_senders),
        enif_make_uint64(env, st.checks),   enif_make_uint64(env, st.updates),
        enif_make_uint64(env, st.accepted), enif_make_uint64(env, st.duplicates),
        enif_make_uint64(env, st.too_old),  enif_make_uint64(env, st.full)};
    ERL_NIF_TERM map;
    if (!enif_make_map_from_arrays(env, keys, vals, sizeof keys / sizeof keys[0], &map))
        return lt_crypto_raise_nomem(env);
    return map;
}
