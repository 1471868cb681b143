/* lt_nif_object.c — in-place CRDT objects: one resource type for every CRDT type, each type
 * supplying an lt_obj_type (lt_nif.h). An object owns its C state; a mutex per object lets
 * any process use it (the store keeps one object per key and updates it in place). */
#include "lt_nif.h"

/* The types that have objects, found by the tag byte of a state binary. */
static const lt_obj_type *const obj_types[] = {
    &lt_obj_gcounter,
    &lt_obj_pncounter,
    /* LWW-Register */
    &lt_obj_lwwreg,
    /* G-Set and 2P-Set */
    &lt_obj_gset,
    &lt_obj_twopset,
    /* OR-Set, LWW-Map, MV-Register */
    &lt_obj_orset,
    &lt_obj_lwwmap,
    &lt_obj_mvreg,
    /* LWW-Element-Set */
    &lt_obj_lwwset,
};

typedef struct {
    const lt_obj_type *type;
    void *state;       /* owned: type->destroy frees it */
    ErlNifMutex *lock; /* owned */
    int retired;       /* set once by obj_retire: updates and joins refused from then on */
} lt_object;

/* ---- the reaper ------------------------------------------------------------------------------
 * An object's destructor runs where its last reference went away, often on a normal scheduler,
 * and freeing a million-element object takes about 10 ms. States with more than REAP_ENTRIES
 * entries are handed to one background thread that frees them. It starts with the library
 * and stops (after freeing what is queued) when the last instance of it unloads. */
#define REAP_ENTRIES 16384

typedef struct reap_item {
    struct reap_item *next;
    const lt_obj_type *type;
    void *state;
} reap_item;

/* The lock and condition are made once and never destroyed: a destructor may still run after
 * the last unload (the VM keeps the library until its resources are gone) and finds the
 * reaper stopped, then frees in place. */
static struct {
    ErlNifMutex *lock;
    ErlNifCond *wake;
    ErlNifTid tid;
    reap_item *queue;
    int running, stop;
    int users; /* loaded instances of the library */
} reaper;

static void *reaper_main(void *arg) {
    (void)arg;
    enif_mutex_lock(reaper.lock);
    for (;;) {
        while (reaper.queue == NULL && !reaper.stop)
            enif_cond_wait(reaper.wake, reaper.lock);
        reap_item *items = reaper.queue;
        reaper.queue = NULL;
        if (items == NULL) /* stopping, nothing left */
            break;
        enif_mutex_unlock(reaper.lock);
        while (items != NULL) {
            reap_item *next = items->next;
            items->type->destroy(items->state);
            enif_free(items);
            items = next;
        }
        enif_mutex_lock(reaper.lock);
    }
    enif_mutex_unlock(reaper.lock);
    return NULL;
}

void lt_object_reaper_start(void) {
    if (reaper.users++ > 0)
        return;
    if (reaper.lock == NULL) {
        reaper.lock = enif_mutex_create("lattice_reaper");
        reaper.wake = enif_cond_create("lattice_reaper");
        if (reaper.lock == NULL || reaper.wake == NULL)
            return; /* no reaper: big objects are freed in place */
    }
    enif_mutex_lock(reaper.lock);
    reaper.stop = 0;
    reaper.running =
        enif_thread_create("lattice_reaper", &reaper.tid, reaper_main, NULL, NULL) == 0;
    enif_mutex_unlock(reaper.lock);
}

void lt_object_reaper_stop(void) {
    if (reaper.users == 0 || --reaper.users > 0 || reaper.lock == NULL || reaper.wake == NULL)
        return;
    enif_mutex_lock(reaper.lock);
    int running = reaper.running;
    reaper.stop = 1; /* no more items are queued; the thread frees those that are */
    enif_cond_signal(reaper.wake);
    enif_mutex_unlock(reaper.lock);
    if (running)
        enif_thread_join(reaper.tid, NULL);
    enif_mutex_lock(reaper.lock);
    reaper.running = 0;
    enif_mutex_unlock(reaper.lock);
}

/* Frees a state: on the reaper when it is big and the reaper runs, else here. */
static void destroy_state(const lt_obj_type *type, void *state) {
    reap_item *item;
    if (reaper.wake != NULL && type->entries(state) > REAP_ENTRIES &&
        (item = enif_alloc(sizeof *item)) != NULL) {
        enif_mutex_lock(reaper.lock);
        if (reaper.running && !reaper.stop) {
            item->type = type;
            item->state = state;
            item->next = reaper.queue;
            reaper.queue = item;
            enif_cond_signal(reaper.wake);
            enif_mutex_unlock(reaper.lock);
            return;
        }
        enif_mutex_unlock(reaper.lock);
        enif_free(item);
    }
    type->destroy(state);
}

static void object_dtor(ErlNifEnv *env, void *obj) {
    lt_object *o = obj;
    (void)env;
    if (o->state != NULL)
        destroy_state(o->type, o->state);
    o->state = NULL;
    if (o->lock != NULL)
        enif_mutex_destroy(o->lock);
    o->lock = NULL;
}

int lt_object_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags) {
    lt_res.object = enif_open_resource_type(env, NULL, "lattice_object", object_dtor, flags, NULL);
    return lt_res.object != NULL;
}

static int get_object(ErlNifEnv *env, ERL_NIF_TERM t, lt_object **o) {
    return enif_get_resource(env, t, lt_res.object, (void **)o) && (*o)->state != NULL;
}

/* ---- entering an object ----------------------------------------------------------------------
 * A NIF on a normal scheduler never waits for an object's lock (STYLE.md habit 14): a dirty job
 * (a big join, snapshot or value) may hold it for a second, and a normal scheduler blocked in
 * enif_mutex_lock stops every process on it. So a call on a normal scheduler only tries the
 * lock; when it is held, the call moves to a dirty I/O scheduler and starts again there, where
 * it may block. I/O, not CPU: such a call only waits, and a waiting call on a dirty CPU
 * scheduler would take one of the few (one per core) that the big jobs themselves run on —
 * with every dirty CPU scheduler waiting behind a big job, the next big job could not start.
 * A call found big, on a normal scheduler or on a dirty I/O one, goes to a dirty CPU scheduler
 * (releasing the lock first when judging it needed the state); calls there lock and wait.
 * Uncontended calls cost one trylock instead of one lock. */
typedef enum {
    OBJ_UPDATE,
    OBJ_JOIN,
    OBJ_VALUE,
    OBJ_QUERY,
    OBJ_SNAPSHOT,
    OBJ_DIGEST,
    OBJ_RETIRE
} obj_call;

/* Objects with more entries than this snapshot on a dirty scheduler (a snapshot sorts them:
 * about 0.1 ms per thousand on the bench machine). */
#define LT_SNAPSHOT_DIRTY_ENTRIES 4096

/* Whether the call is big work judged from its arguments alone (without the lock). */
static int call_is_big_by_args(ErlNifEnv *env, const lt_object *o, obj_call call,
                               const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    switch (call) {
    case OBJ_UPDATE:
        return o->type->update_is_big != NULL && o->type->update_is_big(env, argv[1]);
    case OBJ_JOIN: /* obj_join checked that argv[1] is a binary */
        return enif_inspect_binary(env, argv[1], &bin) && bin.size > LT_DIRTY_TERM_BYTES;
    default:
        return 0;
    }
}

/* Whether the call is big work judged from the state (the lock held). A query goes to
 * query_is_big when the type has it, else it is judged as the whole value. An update or join
 * is big when it may grow the state's arrays (grow_is_big): the calls just before a doubling. */
static int call_is_big_by_state(ErlNifEnv *env, const lt_object *o, obj_call call,
                                const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    switch (call) {
    case OBJ_UPDATE: /* small by its args (update_is_big): at most LT_OBJ_UPDATE_* added */
        return o->type->grow_is_big != NULL &&
               o->type->grow_is_big(o->state, LT_OBJ_UPDATE_KEYS, LT_OBJ_UPDATE_BYTES);
    case OBJ_JOIN: /* small by its args: a binary of at most LT_DIRTY_TERM_BYTES */
        return o->type->grow_is_big != NULL && enif_inspect_binary(env, argv[1], &bin) &&
               o->type->grow_is_big(o->state, bin.size, bin.size);
    case OBJ_QUERY:
        if (o->type->query_is_big != NULL)
            return o->type->query_is_big(env, o->state, argv[1]);
        /* fall through */
    case OBJ_VALUE:
        return o->type->value_is_big != NULL && o->type->value_is_big(o->state);
    case OBJ_SNAPSHOT:
        return o->type->entries(o->state) > LT_SNAPSHOT_DIRTY_ENTRIES;
    default:
        return 0;
    }
}

/* Takes o's lock for the NIF `fn` (called as `name` with argc/argv) and returns 1, or returns
 * 0 with *moved set to the call rescheduled: onto a dirty CPU scheduler when it is big work,
 * onto a dirty I/O scheduler when the lock is held and we are on a normal scheduler. */
static int object_enter(ErlNifEnv *env, lt_object *o, obj_call call, const char *name,
                        ERL_NIF_TERM (*fn)(ErlNifEnv *, int, const ERL_NIF_TERM[]), int argc,
                        const ERL_NIF_TERM argv[], ERL_NIF_TERM *moved) {
    int thread = enif_thread_type();
    if (thread != ERL_NIF_THR_NORMAL_SCHEDULER && thread != ERL_NIF_THR_DIRTY_IO_SCHEDULER) {
        enif_mutex_lock(o->lock); /* a dirty CPU scheduler: the work runs here */
        return 1;
    }
    if (call_is_big_by_args(env, o, call, argv))
        goto to_cpu;
    if (thread == ERL_NIF_THR_DIRTY_IO_SCHEDULER)
        enif_mutex_lock(o->lock);
    else if (enif_mutex_trylock(o->lock) != 0) {
        *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_IO_BOUND, fn, argc, argv);
        return 0;
    }
    if (!call_is_big_by_state(env, o, call, argv))
        return 1;
    enif_mutex_unlock(o->lock);
to_cpu:
    *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_CPU_BOUND, fn, argc, argv);
    return 0;
}

/* obj_new(StateBinary) -> Object | {error, {bad_<type>, Reason}}: an object holding the state. */
LT_NIF(lt_nif_obj_new) {
    ErlNifBinary bin;
    const lt_obj_type *type = NULL;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &bin) || bin.size == 0)
        return enif_make_badarg(env);
    for (size_t i = 0; i < sizeof obj_types / sizeof obj_types[0]; i++)
        if (obj_types[i]->tag == bin.data[0])
            type = obj_types[i];
    if (type == NULL)
        return enif_make_badarg(env); /* not a state of a type with objects */
    LT_DIRTY_IF_TERMS(env, "obj_new", lt_nif_obj_new, argc, argv, bin.size);
    lt_object *o = enif_alloc_resource(lt_res.object, sizeof *o);
    if (o == NULL)
        return lt_raise_nomem(env);
    o->type = type;
    o->state = type->create();
    o->lock = enif_mutex_create("lattice_object");
    o->retired = 0;
    ERL_NIF_TERM term = enif_make_resource(env, o);
    enif_release_resource(o);
    if (o->state == NULL || o->lock == NULL)
        return lt_raise_nomem(env);
    lt_err e = type->join(o->state, bin.data, bin.size);
    if (e != LT_OK)
        return e == LT_E_NOMEM ? lt_raise_nomem(env) : lt_make_error(env, *type->bad_kind, e);
    return term;
}

/* obj_update(Object, Op, Actor) -> {ok, Delta} | {error, Reason}; badarg for an unknown op. */
LT_NIF(lt_nif_obj_update) {
    lt_object *o;
    if (argc != 3 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_UPDATE, "obj_update", lt_nif_obj_update, argc, argv, &r))
        return r;
    r = o->retired ? enif_make_tuple2(env, lt_atom.error, lt_atom.retired)
                   : o->type->update(env, o->state, argv[1], argv[2]);
    enif_mutex_unlock(o->lock);
    return r;
}

/* obj_join(Object, StateOrDelta) -> ok | {error, {bad_<type>, Reason}}. */
LT_NIF(lt_nif_obj_join) {
    lt_object *o;
    ErlNifBinary bin;
    if (argc != 2 || !get_object(env, argv[0], &o) || !enif_inspect_binary(env, argv[1], &bin))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_JOIN, "obj_join", lt_nif_obj_join, argc, argv, &r))
        return r;
    if (o->retired) {
        enif_mutex_unlock(o->lock);
        return enif_make_tuple2(env, lt_atom.error, lt_atom.retired);
    }
    lt_err e = o->type->join(o->state, bin.data, bin.size);
    enif_mutex_unlock(o->lock);
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    return e == LT_OK ? lt_atom.ok : lt_make_error(env, *o->type->bad_kind, e);
}

/* obj_value(Object) -> the type's value. */
LT_NIF(lt_nif_obj_value) {
    lt_object *o;
    if (argc != 1 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_VALUE, "obj_value", lt_nif_obj_value, argc, argv, &r))
        return r;
    r = o->type->value(env, o->state);
    enif_mutex_unlock(o->lock);
    return r;
}

/* obj_query(Object, Query) -> the answer; badarg for a query the type does not know. */
LT_NIF(lt_nif_obj_query) {
    lt_object *o;
    if (argc != 2 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_QUERY, "obj_query", lt_nif_obj_query, argc, argv, &r))
        return r;
    r = o->type->query(env, o->state, argv[1]);
    enif_mutex_unlock(o->lock);
    return r;
}

/* obj_snapshot(Object) -> the canonical binary of its state. */
LT_NIF(lt_nif_obj_snapshot) {
    lt_object *o;
    lt_buf b;
    if (argc != 1 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_SNAPSHOT, "obj_snapshot", lt_nif_obj_snapshot, argc, argv, &r))
        return r;
    lt_buf_init(&b);
    lt_err e = o->type->snapshot(o->state, &b);
    enif_mutex_unlock(o->lock);
    if (e != LT_OK) {
        lt_buf_free(&b);
        return lt_raise_nomem(env);
    }
    return lt_buf_to_term(env, &b);
}

/* obj_digest(Object) -> <<_:128>>, kept current as the object changes. */
LT_NIF(lt_nif_obj_digest) {
    lt_object *o;
    ERL_NIF_TERM t;
    if (argc != 1 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_DIGEST, "obj_digest", lt_nif_obj_digest, argc, argv, &r))
        return r;
    unsigned char *p = enif_make_new_binary(env, 16, &t);
    lt_err e = p == NULL ? LT_E_NOMEM : o->type->digest(o->state, p);
    enif_mutex_unlock(o->lock);
    return e == LT_OK ? t : lt_raise_nomem(env);
}

/* obj_retire(Object) -> ok: from now on the object refuses updates and joins with
 * {error, retired} (reads and snapshots go on). Set under the object's lock, so every update
 * or join either came before it (and a snapshot taken after it holds them) or is refused.
 * The store retires a key's objects when it moves the key out to a colder tier. */
LT_NIF(lt_nif_obj_retire) {
    lt_object *o;
    if (argc != 1 || !get_object(env, argv[0], &o))
        return enif_make_badarg(env);
    ERL_NIF_TERM r;
    if (!object_enter(env, o, OBJ_RETIRE, "obj_retire", lt_nif_obj_retire, argc, argv, &r))
        return r;
    o->retired = 1;
    enif_mutex_unlock(o->lock);
    return lt_atom.ok;
}
