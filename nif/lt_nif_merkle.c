/* lt_nif_merkle.c — the Merkle tree of c_src/lt_merkle.h as a resource (lattice_merkle): a tree
 * of key -> 128-bit digest that any process may use, a mutex per tree, and the calls that can
 * be big (a batch, a diff, a listing, an encoding) yielding or moving to a dirty scheduler.
 *
 * Locks (STYLE.md habit 14): a call on a normal scheduler only tries a tree's lock; when it is
 * held (a dirty job may hold it for a long diff), the call moves to a dirty I/O scheduler and
 * waits there, as lt_nif_object.c's object_enter does. A call found big goes to a dirty CPU
 * scheduler, releasing the lock first when it needed the tree to judge. */
#include "lt_nif.h"

#include "lt_merkle.h"

/* Ops per step of a batch (about 0.1-0.3 ms of work), and list cells checked per step. */
#define UPDATE_CHUNK 2048
#define CHECK_CHUNK 8192
/* A batch of at most this many ops is applied at once, without a job. */
#define SMALL_OPS 256
/* Diffs of trees holding more keys than this together, listings of trees larger than this,
 * and encodings of more entries than this run on a dirty CPU scheduler. */
#define DIRTY_KEYS 8192
/* Encodings of more parent or bucket indices than this run on a dirty CPU scheduler. */
#define DIRTY_INDICES 1024
/* Peer messages longer than this are compared on a dirty CPU scheduler. */
#define DIRTY_WIRE_BYTES (16 * 1024)

typedef struct {
    lt_merkle *tree;   /* owned */
    ErlNifMutex *lock; /* owned */
} lt_mtree;

/* A batch's ops, copied (pack_op) into blocks of PACK_BLOCK bytes, each holding whole ops, so
 * that nothing copied ever moves (a growing array would be copied, on a normal scheduler, at
 * every doubling). Blocks before `first` are applied and freed. Owns `v` and every block. */
#define PACK_BLOCK (1u << 20)
typedef struct {
    struct {
        uint8_t *data;
        size_t len;
    } * v;
    size_t n, cap, first;
    int failed; /* out of memory */
} op_store;

/* A batch between steps. The list is walked once: each element is checked and copied into
 * `packed`, and the apply reads the ops from there. The copy is needed: the pointers that
 * enif_inspect_binary gives are valid during one call only (a heap binary moves when the
 * process is garbage collected between two steps). Owns `packed` and `ops`. */
typedef struct {
    int phase;       /* PHASE_* */
    int dirty_apply; /* the whole apply runs on a dirty CPU scheduler (it may compact) */
    uint64_t puts;   /* ops that set a digest */
    size_t put_bytes, del_bytes; /* their keys' bytes, and the deleted keys' bytes */
    op_store packed;             /* every op checked so far, in list order */
    size_t applied;              /* bytes of block packed.first applied */
    lt_merkle_op *ops;           /* UPDATE_CHUNK of them: the current step's, into `packed` */
} update_job;

enum { PHASE_CHECK, PHASE_RESERVE, PHASE_APPLY };
enum { MODE_PUT = 0, MODE_DELETE = 1, MODE_UPDATE = 2 };

typedef ERL_NIF_TERM (*nif_fn)(ErlNifEnv *, int, const ERL_NIF_TERM[]);

static void mtree_dtor(ErlNifEnv *env, void *obj) {
    lt_mtree *m = obj;
    (void)env;
    lt_merkle_free(m->tree);
    m->tree = NULL;
    if (m->lock != NULL)
        enif_mutex_destroy(m->lock);
    m->lock = NULL;
}

/* Frees the blocks before `upto` (those from s->first on; upto <= s->n). */
static void store_free_upto(op_store *s, size_t upto) {
    for (; s->first < upto; s->first++) {
        enif_free(s->v[s->first].data);
        s->v[s->first].data = NULL;
    }
}

static void store_free(op_store *s) {
    store_free_upto(s, s->n);
    if (s->v != NULL)
        enif_free(s->v);
    s->v = NULL;
    s->n = s->cap = s->first = 0;
}

static void update_job_dtor(ErlNifEnv *env, void *obj) {
    update_job *job = obj;
    (void)env;
    store_free(&job->packed);
    if (job->ops != NULL)
        enif_free(job->ops);
    job->ops = NULL;
}

int lt_merkle_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags) {
    lt_res.merkle = enif_open_resource_type(env, NULL, "lattice_merkle", mtree_dtor, flags, NULL);
    lt_res.merkle_job =
        enif_open_resource_type(env, NULL, "lattice_merkle_job", update_job_dtor, flags, NULL);
    return lt_res.merkle != NULL && lt_res.merkle_job != NULL;
}

static int get_tree(ErlNifEnv *env, ERL_NIF_TERM t, lt_mtree **m) {
    return enif_get_resource(env, t, lt_res.merkle, (void **)m) && (*m)->tree != NULL;
}

/* A key: a binary of 1..LT_MERKLE_MAX_KEY bytes (borrowed from the term for this call). */
static int get_key(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifBinary *key) {
    return enif_inspect_binary(env, t, key) && key->size >= 1 && key->size <= LT_MERKLE_MAX_KEY;
}

static int get_digest(ErlNifEnv *env, ERL_NIF_TERM t, ErlNifBinary *d) {
    return enif_inspect_binary(env, t, d) && d->size == LT_MERKLE_DIGEST;
}

/* ---- entering a tree ----------------------------------------------------------------------- */

/* Takes m's lock for the NIF `fn` and returns 1, or returns 0 with *moved set to the call
 * rescheduled: onto a dirty CPU scheduler when `big`, onto a dirty I/O scheduler when the lock
 * is held and we are on a normal scheduler. */
static int tree_enter(ErlNifEnv *env, lt_mtree *m, int big, const char *name, nif_fn fn, int argc,
                      const ERL_NIF_TERM argv[], ERL_NIF_TERM *moved) {
    int thread = enif_thread_type();
    if (thread != ERL_NIF_THR_NORMAL_SCHEDULER && thread != ERL_NIF_THR_DIRTY_IO_SCHEDULER) {
        enif_mutex_lock(m->lock); /* a dirty CPU scheduler: the work runs here */
        return 1;
    }
    if (big) {
        *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_CPU_BOUND, fn, argc, argv);
        return 0;
    }
    if (thread == ERL_NIF_THR_DIRTY_IO_SCHEDULER) {
        enif_mutex_lock(m->lock);
    } else if (enif_mutex_trylock(m->lock) != 0) {
        *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_IO_BOUND, fn, argc, argv);
        return 0;
    }
    return 1;
}

/* With m's lock held: returns 1 to go on here, or, when the call is `big` (judged from the
 * tree) and this is not a dirty CPU scheduler, releases the lock and returns 0 with *moved set
 * to the call rescheduled there. */
static int tree_stay(ErlNifEnv *env, lt_mtree *m, int big, const char *name, nif_fn fn, int argc,
                     const ERL_NIF_TERM argv[], ERL_NIF_TERM *moved) {
    if (!big || enif_thread_type() == ERL_NIF_THR_DIRTY_CPU_SCHEDULER)
        return 1;
    enif_mutex_unlock(m->lock);
    *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_CPU_BOUND, fn, argc, argv);
    return 0;
}

/* Both locks of a and b (the same tree once), as tree_enter: on a normal scheduler both are
 * only tried; where a call waits, it takes them in address order, so two diffs of the same
 * two trees cannot deadlock. */
static int trees_enter(ErlNifEnv *env, lt_mtree *a, lt_mtree *b, const char *name, nif_fn fn,
                       int argc, const ERL_NIF_TERM argv[], ERL_NIF_TERM *moved) {
    if (a == b)
        return tree_enter(env, a, 0, name, fn, argc, argv, moved);
    if (enif_thread_type() != ERL_NIF_THR_NORMAL_SCHEDULER) {
        lt_mtree *first = (uintptr_t)a < (uintptr_t)b ? a : b;
        enif_mutex_lock(first->lock);
        enif_mutex_lock((first == a ? b : a)->lock);
        return 1;
    }
    if (enif_mutex_trylock(a->lock) != 0)
        goto busy;
    if (enif_mutex_trylock(b->lock) != 0) {
        enif_mutex_unlock(a->lock);
        goto busy;
    }
    return 1;
busy:
    *moved = enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_IO_BOUND, fn, argc, argv);
    return 0;
}

static void trees_leave(lt_mtree *a, lt_mtree *b) {
    enif_mutex_unlock(a->lock);
    if (b != a)
        enif_mutex_unlock(b->lock);
}

/* ---- small calls --------------------------------------------------------------------------- */

/* merkle_new(Levels) -> Tree: an empty tree of 1..LT_MERKLE_MAX_LEVELS levels. */
LT_NIF(lt_nif_merkle_new) {
    unsigned levels;
    if (argc != 1 || !enif_get_uint(env, argv[0], &levels) || levels < 1 ||
        levels > LT_MERKLE_MAX_LEVELS)
        return enif_make_badarg(env);
    lt_mtree *m = enif_alloc_resource(lt_res.merkle, sizeof *m);
    if (m == NULL)
        return lt_raise_nomem(env);
    m->tree = lt_merkle_new(levels);
    m->lock = enif_mutex_create("lattice_merkle");
    ERL_NIF_TERM term = enif_make_resource(env, m);
    enif_release_resource(m);
    if (m->tree == NULL || m->lock == NULL)
        return lt_raise_nomem(env);
    return term;
}

/* merkle_put(Tree, Key, Digest) -> ok: sets one key. */
LT_NIF(lt_nif_merkle_put) {
    lt_mtree *m;
    ErlNifBinary key, d;
    ERL_NIF_TERM moved;
    if (argc != 3 || !get_tree(env, argv[0], &m) || !get_key(env, argv[1], &key) ||
        !get_digest(env, argv[2], &d))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_put", lt_nif_merkle_put, argc, argv, &moved) ||
        !tree_stay(env, m, lt_merkle_change_is_big(m->tree, 1, key.size, 0), "merkle_put",
                   lt_nif_merkle_put, argc, argv, &moved))
        return moved;
    lt_err e = lt_merkle_put(m->tree, key.data, key.size, d.data);
    enif_mutex_unlock(m->lock);
    return e == LT_OK ? lt_atom.ok : lt_raise_nomem(env);
}

/* merkle_lookup(Tree, Key) -> {ok, Digest} | error. */
LT_NIF(lt_nif_merkle_lookup) {
    lt_mtree *m;
    ErlNifBinary key;
    ERL_NIF_TERM moved, t;
    uint8_t d[LT_MERKLE_DIGEST];
    if (argc != 2 || !get_tree(env, argv[0], &m) || !get_key(env, argv[1], &key))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_lookup", lt_nif_merkle_lookup, argc, argv, &moved))
        return moved;
    int found = lt_merkle_get(m->tree, key.data, key.size, d);
    enif_mutex_unlock(m->lock);
    if (!found)
        return lt_atom.error;
    unsigned char *p = enif_make_new_binary(env, LT_MERKLE_DIGEST, &t);
    if (p == NULL)
        return lt_raise_nomem(env);
    memcpy(p, d, LT_MERKLE_DIGEST);
    return enif_make_tuple2(env, lt_atom.ok, t);
}

/* merkle_info(Tree, What) -> integer(): What 0 the keys held, 1 the bytes allocated, 2 the
 * levels. */
LT_NIF(lt_nif_merkle_info) {
    lt_mtree *m;
    unsigned what;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !enif_get_uint(env, argv[1], &what) || what > 2)
        return enif_make_badarg(env);
    if (what == 2) /* fixed when the tree is made */
        return enif_make_uint(env, lt_merkle_levels(m->tree));
    if (!tree_enter(env, m, 0, "merkle_info", lt_nif_merkle_info, argc, argv, &moved))
        return moved;
    uint64_t v = what == 0 ? lt_merkle_count(m->tree) : (uint64_t)lt_merkle_memory(m->tree);
    enif_mutex_unlock(m->lock);
    return enif_make_uint64(env, v);
}

static ERL_NIF_TERM node_term(ErlNifEnv *env, lt_merkle_node n) {
    ERL_NIF_TERM h;
    unsigned char *p = enif_make_new_binary(env, 16, &h);
    if (p == NULL)
        return lt_raise_nomem(env);
    lt_write_be64(p, n.hash.hi);
    lt_write_be64(p + 8, n.hash.lo);
    return enif_make_tuple2(env, h, enif_make_uint64(env, n.count));
}

/* merkle_node(Tree, Level, Index) -> {Hash128, Count}: badarg outside the tree's shape. */
LT_NIF(lt_nif_merkle_node) {
    lt_mtree *m;
    unsigned level;
    ErlNifUInt64 index;
    ERL_NIF_TERM moved;
    if (argc != 3 || !get_tree(env, argv[0], &m) || !enif_get_uint(env, argv[1], &level) ||
        !enif_get_uint64(env, argv[2], &index) || level > lt_merkle_levels(m->tree) ||
        (index >> (LT_MERKLE_FANOUT_BITS * level)) != 0)
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_node", lt_nif_merkle_node, argc, argv, &moved))
        return moved;
    lt_merkle_node n = lt_merkle_node_at(m->tree, level, index);
    enif_mutex_unlock(m->lock);
    return node_term(env, n);
}

/* merkle_key_hash(Tree, Key) -> {KeyHash, Bucket}. The hash depends on the key alone (and the
 * tree's shape, fixed when it is made): no lock. */
LT_NIF(lt_nif_merkle_key_hash) {
    lt_mtree *m;
    ErlNifBinary key;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !get_key(env, argv[1], &key))
        return enif_make_badarg(env);
    uint64_t kh = lt_merkle_key_hash(m->tree, key.data, key.size);
    return enif_make_tuple2(env, enif_make_uint64(env, kh),
                            enif_make_uint64(env, lt_merkle_bucket_of(m->tree, kh)));
}

/* ---- batches ------------------------------------------------------------------------------- */

/* One element of a batch list: a {Key, Digest} (MODE_PUT), a Key (MODE_DELETE), or either
 * {Key, Digest} or {Key, delete} (MODE_UPDATE). Pointers borrowed from the term. */
static int get_op(ErlNifEnv *env, ERL_NIF_TERM t, int mode, lt_merkle_op *op) {
    ErlNifBinary k, d;
    const ERL_NIF_TERM *tup;
    int arity;
    if (mode == MODE_DELETE) {
        if (!get_key(env, t, &k))
            return 0;
        op->digest = NULL;
    } else {
        if (!enif_get_tuple(env, t, &arity, &tup) || arity != 2 || !get_key(env, tup[0], &k))
            return 0;
        if (get_digest(env, tup[1], &d))
            op->digest = d.data;
        else if (mode == MODE_UPDATE && enif_is_identical(tup[1], lt_atom.delete_))
            op->digest = NULL;
        else
            return 0;
    }
    op->key = k.data;
    op->key_len = k.size;
    return 1;
}

static ERL_NIF_TERM apply_result(ErlNifEnv *env, lt_err e) {
    if (e == LT_OK)
        return lt_atom.ok;
    if (e == LT_E_TOO_BIG) /* more than 2^32 - 2 keys */
        return enif_make_tuple2(env, lt_atom.error, lt_atom.too_big);
    return lt_raise_nomem(env);
}

/* Adds op to the counts of a batch: the puts, their keys' bytes, the deleted keys' bytes. */
static void tally_op(const lt_merkle_op *op, uint64_t *puts, size_t *put_bytes, size_t *del_bytes) {
    if (op->digest != NULL) {
        (*puts)++;
        *put_bytes += op->key_len;
    } else {
        *del_bytes += op->key_len;
    }
}

/* Appends a copy of op (borrowed; its pointers valid for this call) to s: u8 1 for a delete,
 * else 0 | u16be key length | the digest (16 bytes, puts only) | the key's bytes, in the last
 * block or a new one. On out of memory s->failed is set. */
#define PACKED_HEAD 3
static void pack_op(op_store *s, const lt_merkle_op *op) {
    size_t n = PACKED_HEAD + (op->digest != NULL ? LT_MERKLE_DIGEST : 0) + op->key_len;
    if (s->failed)
        return;
    if (s->n == 0 || s->v[s->n - 1].len > PACK_BLOCK - n) { /* n < PACK_BLOCK: a key <= 4 KiB */
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 16;
            void *v = NULL;
            if (cap <= SIZE_MAX / sizeof *s->v)
                v = s->v == NULL ? enif_alloc(cap * sizeof *s->v)
                                 : enif_realloc(s->v, cap * sizeof *s->v);
            if (v == NULL) {
                s->failed = 1;
                return;
            }
            s->v = v;
            s->cap = cap;
        }
        uint8_t *block = enif_alloc(PACK_BLOCK);
        if (block == NULL) {
            s->failed = 1;
            return;
        }
        s->v[s->n].data = block;
        s->v[s->n].len = 0;
        s->n++;
    }
    uint8_t *p = s->v[s->n - 1].data + s->v[s->n - 1].len;
    p[0] = op->digest == NULL;
    p[1] = (uint8_t)(op->key_len >> 8); /* key_len <= LT_MERKLE_MAX_KEY < 2^16 */
    p[2] = (uint8_t)op->key_len;
    p += PACKED_HEAD;
    if (op->digest != NULL) {
        memcpy(p, op->digest, LT_MERKLE_DIGEST);
        p += LT_MERKLE_DIGEST;
    }
    memcpy(p, op->key, op->key_len);
    s->v[s->n - 1].len += n;
}

/* Moves the cursor (block *b, offset *off) past the ends of blocks; 0 when no op is left. */
static int store_more(const op_store *s, size_t *b, size_t *off) {
    while (*b < s->n && *off == s->v[*b].len) {
        (*b)++;
        *off = 0;
    }
    return *b < s->n;
}

/* The op at the cursor (block *b, offset *off; store_more said there is one), its pointers
 * into the block (valid until the block is freed); moves the cursor past it. */
static void unpack_op(const op_store *s, size_t *b, size_t *off, lt_merkle_op *op) {
    const uint8_t *p = s->v[*b].data + *off;
    int del = p[0];
    op->key_len = (size_t)p[1] << 8 | p[2];
    p += PACKED_HEAD;
    if (del) {
        op->digest = NULL;
    } else {
        op->digest = p;
        p += LT_MERKLE_DIGEST;
    }
    op->key = p;
    *off = (size_t)(p + op->key_len - s->v[*b].data);
}

/* Frees what a job holds once it has ended (its resource may live on until a GC). */
static void update_job_end(update_job *job) {
    store_free(&job->packed);
    if (job->ops != NULL)
        enif_free(job->ops);
    job->ops = NULL;
}

static ERL_NIF_TERM update_continue(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);

/* merkle_update(Tree, List, Mode) -> ok | {error, too_big}: a batch (see get_op), applied in
 * order, later ops of a key winning. Nothing is applied when an element is bad (badarg). Up to
 * SMALL_OPS ops at once; longer lists go through a job: the list is checked and copied, CHECK_CHUNK
 * elements a step, then the copy is applied, UPDATE_CHUNK ops a step, yielding between steps.
 * Other calls on the tree may run between steps and see part of the batch applied. */
LT_NIF(lt_nif_merkle_update) {
    lt_mtree *m;
    int mode;
    lt_merkle_op ops[SMALL_OPS];
    ERL_NIF_TERM head, rest, moved;
    if (argc != 3 || !get_tree(env, argv[0], &m) || !enif_get_int(env, argv[2], &mode) ||
        mode < MODE_PUT || mode > MODE_UPDATE || !enif_is_list(env, argv[1]))
        return enif_make_badarg(env);
    size_t n = 0, put_bytes = 0, del_bytes = 0;
    uint64_t puts = 0;
    rest = argv[1];
    while (n < SMALL_OPS && enif_get_list_cell(env, rest, &head, &rest)) {
        if (!get_op(env, head, mode, &ops[n]))
            return enif_make_badarg(env);
        tally_op(&ops[n], &puts, &put_bytes, &del_bytes);
        n++;
    }
    if (enif_is_empty_list(env, rest)) {
        if (n == 0)
            return lt_atom.ok;
        if (!tree_enter(env, m, 0, "merkle_update", lt_nif_merkle_update, argc, argv, &moved) ||
            !tree_stay(env, m, lt_merkle_change_is_big(m->tree, puts, put_bytes, del_bytes),
                       "merkle_update", lt_nif_merkle_update, argc, argv, &moved))
            return moved;
        lt_err e = lt_merkle_apply(m->tree, ops, n);
        enif_mutex_unlock(m->lock);
        return apply_result(env, e);
    }
    if (!enif_is_list(env, rest))
        return enif_make_badarg(env); /* an improper list */
    update_job *job = enif_alloc_resource(lt_res.merkle_job, sizeof *job);
    if (job == NULL)
        return lt_raise_nomem(env);
    memset(job, 0, sizeof *job);
    job->phase = PHASE_CHECK;
    job->puts = puts;
    job->put_bytes = put_bytes;
    job->del_bytes = del_bytes;
    job->ops = enif_alloc(UPDATE_CHUNK * sizeof *job->ops);
    ERL_NIF_TERM job_term = enif_make_resource(env, job);
    enif_release_resource(job);
    if (job->ops == NULL)
        return lt_raise_nomem(env);
    for (size_t i = 0; i < n; i++)
        pack_op(&job->packed, &ops[i]);
    if (job->packed.failed) {
        update_job_end(job);
        return lt_raise_nomem(env);
    }
    ERL_NIF_TERM next[5] = {argv[0], argv[1], argv[2], job_term, rest};
    return update_continue(env, 5, next);
}

/* The steps of a batch: argv is {Tree, List, Mode, Job, Cursor}, Cursor the rest of List that
 * the check has not walked yet. */
static ERL_NIF_TERM update_continue(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    lt_mtree *m;
    int mode;
    update_job *job;
    ERL_NIF_TERM head, moved;
    if (argc != 5 || !get_tree(env, argv[0], &m) || !enif_get_int(env, argv[2], &mode) ||
        !enif_get_resource(env, argv[3], lt_res.merkle_job, (void **)&job) || job->ops == NULL)
        return enif_make_badarg(env);
    ERL_NIF_TERM next[5] = {argv[0], argv[1], argv[2], argv[3], argv[4]};
    int thread = enif_thread_type();
    for (;;) {
        ErlNifTime started = lt_slice_start();
        if (job->phase == PHASE_CHECK) {
            lt_merkle_op op;
            for (int i = 0; i < CHECK_CHUNK; i++) {
                if (!enif_get_list_cell(env, next[4], &head, &next[4])) {
                    if (!enif_is_empty_list(env, next[4])) {
                        update_job_end(job);
                        return enif_make_badarg(env);
                    }
                    job->phase = PHASE_RESERVE;
                    break;
                }
                if (!get_op(env, head, mode, &op)) {
                    update_job_end(job);
                    return enif_make_badarg(env);
                }
                tally_op(&op, &job->puts, &job->put_bytes, &job->del_bytes);
                pack_op(&job->packed, &op);
            }
            if (job->packed.failed) {
                update_job_end(job);
                return lt_raise_nomem(env);
            }
        } else if (job->phase == PHASE_RESERVE) {
            /* Room for every put at once, on a dirty CPU scheduler: one allocation (and at most
             * one rehash) rather than a doubling every few steps. A batch that may compact the
             * key arena is applied there entirely. */
            if (!tree_enter(env, m, 0, "merkle_update", update_continue, 5, next, &moved))
                return moved;
            if (job->puts > LT_MERKLE_CHEAP_KEYS ||
                lt_merkle_change_is_big(m->tree, job->puts, job->put_bytes, job->del_bytes)) {
                if (!tree_stay(env, m, 1, "merkle_update", update_continue, 5, next, &moved))
                    return moved;
                /* Only room-making: an error here shows again, and is reported, in the apply. */
                (void)!lt_merkle_reserve_keys(
                    m->tree, (size_t)(lt_merkle_count(m->tree) + job->puts), job->put_bytes);
                job->dirty_apply = lt_merkle_change_is_big(m->tree, 0, 0, job->del_bytes);
            }
            enif_mutex_unlock(m->lock);
            job->phase = PHASE_APPLY;
            if (thread != ERL_NIF_THR_NORMAL_SCHEDULER && !job->dirty_apply)
                return enif_schedule_nif(env, "merkle_update", 0, update_continue, 5, next);
        } else {
            size_t k = 0, block = job->packed.first, at = job->applied, put_bytes = 0,
                   del_bytes = 0;
            uint64_t puts = 0;
            while (k < UPDATE_CHUNK && store_more(&job->packed, &block, &at)) {
                unpack_op(&job->packed, &block, &at, &job->ops[k]);
                tally_op(&job->ops[k], &puts, &put_bytes, &del_bytes);
                k++;
            }
            if (k == 0) {
                update_job_end(job);
                return lt_atom.ok;
            }
            if (!tree_enter(env, m, 0, "merkle_update", update_continue, 5, next, &moved) ||
                (!job->dirty_apply &&
                 !tree_stay(env, m, lt_merkle_change_is_big(m->tree, puts, put_bytes, del_bytes),
                            "merkle_update", update_continue, 5, next, &moved)))
                return moved;
            lt_err e = lt_merkle_apply(m->tree, job->ops, k);
            enif_mutex_unlock(m->lock);
            if (e != LT_OK) {
                update_job_end(job);
                return apply_result(env, e);
            }
            int more = store_more(&job->packed, &block, &at);
            store_free_upto(&job->packed, block); /* the blocks applied in full */
            job->applied = at;
            if (!more) {
                update_job_end(job);
                return lt_atom.ok;
            }
            if (thread != ERL_NIF_THR_NORMAL_SCHEDULER && !job->dirty_apply)
                return enif_schedule_nif(env, "merkle_update", 0, update_continue, 5, next);
        }
        if (thread == ERL_NIF_THR_NORMAL_SCHEDULER && lt_slice_spent(env, started))
            return enif_schedule_nif(env, "merkle_update", 0, update_continue, 5, next);
    }
}

/* ---- diffs and listings -------------------------------------------------------------------- */

typedef struct {
    ErlNifEnv *env;
    ERL_NIF_TERM list;
    int failed;
} list_ctx;

static ERL_NIF_TERM side_atom(lt_merkle_side side) {
    switch (side) {
    case LT_MERKLE_DIFFERS:
        return lt_atom.differs;
    case LT_MERKLE_LOCAL_ONLY:
        return lt_atom.local_only;
    default:
        return lt_atom.remote_only;
    }
}

static int copy_bytes(list_ctx *c, const uint8_t *p, size_t len, ERL_NIF_TERM *t) {
    unsigned char *q = enif_make_new_binary(c->env, len, t);
    if (q == NULL) {
        c->failed = 1;
        return 0;
    }
    memcpy(q, p, len);
    return 1;
}

/* Conses {Key, Side} (key copied). */
static int diff_cb(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    list_ctx *c = ctx;
    ERL_NIF_TERM k;
    if (!copy_bytes(c, key, key_len, &k))
        return 1;
    c->list = enif_make_list_cell(c->env, enif_make_tuple2(c->env, k, side_atom(side)), c->list);
    return 0;
}

/* The list built in walk order. */
static ERL_NIF_TERM list_result(list_ctx *c, lt_err e) {
    ERL_NIF_TERM out;
    if (c->failed || e == LT_E_NOMEM || !enif_make_reverse_list(c->env, c->list, &out))
        return lt_raise_nomem(c->env);
    return out;
}

/* Whether diffing a and b (locked) is big work: walks down the levels from the root through
 * the nodes that differ, as lt_merkle_diff will, and says yes when more than DIFF_PROBE_NODES
 * nodes of a level differ, or when the differing buckets hold more than DIRTY_KEYS entries on
 * the two sides together. At most 16 * DIFF_PROBE_NODES node comparisons a level. */
#define DIFF_PROBE_NODES 256
static int diff_is_big(const lt_merkle *a, const lt_merkle *b) {
    uint64_t buf[2][DIFF_PROBE_NODES];
    uint64_t *cur = buf[0], *next = buf[1];
    size_t n = 1;
    unsigned levels = lt_merkle_levels(a);
    cur[0] = 0;
    for (unsigned level = 0; level < levels; level++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            for (uint64_t c = cur[i] * LT_MERKLE_FANOUT; c < (cur[i] + 1) * LT_MERKLE_FANOUT; c++) {
                lt_merkle_node x = lt_merkle_node_at(a, level + 1, c);
                lt_merkle_node y = lt_merkle_node_at(b, level + 1, c);
                if (x.count == y.count && x.hash.hi == y.hash.hi && x.hash.lo == y.hash.lo)
                    continue;
                if (m == DIFF_PROBE_NODES)
                    return 1;
                next[m++] = c;
            }
        }
        uint64_t *t = cur;
        cur = next;
        next = t;
        n = m;
    }
    uint64_t entries = 0;
    for (size_t i = 0; i < n; i++)
        entries +=
            lt_merkle_node_at(a, levels, cur[i]).count + lt_merkle_node_at(b, levels, cur[i]).count;
    return entries > DIRTY_KEYS;
}

/* merkle_diff(A, B) -> [{Key, differs | local_only | remote_only}]: every key whose digests
 * differ or that one side alone holds (local: A). badarg for trees of different levels. */
LT_NIF(lt_nif_merkle_diff) {
    lt_mtree *a, *b;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &a) || !get_tree(env, argv[1], &b) ||
        lt_merkle_levels(a->tree) != lt_merkle_levels(b->tree))
        return enif_make_badarg(env);
    if (!trees_enter(env, a, b, "merkle_diff", lt_nif_merkle_diff, argc, argv, &moved))
        return moved;
    lt_merkle_node ra = lt_merkle_root(a->tree), rb = lt_merkle_root(b->tree);
    if (a == b || (ra.count == rb.count && ra.hash.hi == rb.hash.hi && ra.hash.lo == rb.hash.lo)) {
        trees_leave(a, b);
        return enif_make_list(env, 0);
    }
    if (ra.count + rb.count > DIRTY_KEYS && enif_thread_type() != ERL_NIF_THR_DIRTY_CPU_SCHEDULER &&
        diff_is_big(a->tree, b->tree)) {
        trees_leave(a, b);
        return enif_schedule_nif(env, "merkle_diff", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_merkle_diff, argc, argv);
    }
    list_ctx c = {env, enif_make_list(env, 0), 0};
    lt_err e = lt_merkle_diff(a->tree, b->tree, diff_cb, &c);
    trees_leave(a, b);
    return list_result(&c, e);
}

/* Conses {Key, Digest} (both copied). */
static int each_cb(void *ctx, const uint8_t *key, size_t key_len,
                   const uint8_t digest[LT_MERKLE_DIGEST]) {
    list_ctx *c = ctx;
    ERL_NIF_TERM k, d;
    if (!copy_bytes(c, key, key_len, &k) || !copy_bytes(c, digest, LT_MERKLE_DIGEST, &d))
        return 1;
    c->list = enif_make_list_cell(c->env, enif_make_tuple2(c->env, k, d), c->list);
    return 0;
}

/* merkle_to_list(Tree) -> [{Key, Digest}], in no particular order. */
LT_NIF(lt_nif_merkle_to_list) {
    lt_mtree *m;
    ERL_NIF_TERM moved;
    if (argc != 1 || !get_tree(env, argv[0], &m))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_to_list", lt_nif_merkle_to_list, argc, argv, &moved) ||
        !tree_stay(env, m, lt_merkle_count(m->tree) > DIRTY_KEYS, "merkle_to_list",
                   lt_nif_merkle_to_list, argc, argv, &moved))
        return moved;
    list_ctx c = {env, enif_make_list(env, 0), 0};
    (void)lt_merkle_each(m->tree, each_cb, &c);
    enif_mutex_unlock(m->lock);
    return list_result(&c, LT_OK);
}

/* Conses the key alone. */
static int key_cb(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    list_ctx *c = ctx;
    ERL_NIF_TERM k;
    (void)side;
    if (!copy_bytes(c, key, key_len, &k))
        return 1;
    c->list = enif_make_list_cell(c->env, k, c->list);
    return 0;
}

/* merkle_keys_with_hash(Tree, KeyHash) -> [Key]: this tree's keys of that key hash. */
LT_NIF(lt_nif_merkle_keys_with_hash) {
    lt_mtree *m;
    ErlNifUInt64 kh;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !enif_get_uint64(env, argv[1], &kh))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_keys_with_hash", lt_nif_merkle_keys_with_hash, argc, argv,
                    &moved))
        return moved;
    list_ctx c = {env, enif_make_list(env, 0), 0};
    (void)lt_merkle_keys_with_hash(m->tree, kh, key_cb, &c);
    enif_mutex_unlock(m->lock);
    return list_result(&c, LT_OK);
}

/* ---- the wire encodings -------------------------------------------------------------------- */

/* Reads a list of at most LT_MERKLE_MAX_WIRE_NODES node indices of `level`, strictly ascending,
 * into *out (enif_alloc'd, the caller frees it; NULL for an empty list). 0 for a bad list. */
static int get_indices(ErlNifEnv *env, ERL_NIF_TERM list, unsigned level, uint64_t **out,
                       size_t *n) {
    unsigned len;
    ERL_NIF_TERM head;
    *out = NULL;
    *n = 0;
    if (!enif_get_list_length(env, list, &len) || len > LT_MERKLE_MAX_WIRE_NODES)
        return 0;
    if (len == 0)
        return 1;
    uint64_t *v = enif_alloc(len * sizeof *v);
    if (v == NULL)
        return 0;
    for (unsigned i = 0; i < len; i++) {
        ErlNifUInt64 x;
        if (!enif_get_list_cell(env, list, &head, &list) || !enif_get_uint64(env, head, &x) ||
            (x >> (LT_MERKLE_FANOUT_BITS * level)) != 0 || (i > 0 && x <= v[i - 1])) {
            enif_free(v);
            return 0;
        }
        v[i] = x;
    }
    *out = v;
    *n = len;
    return 1;
}

static ERL_NIF_TERM encoded(ErlNifEnv *env, lt_err e, lt_buf *b) {
    if (e == LT_OK)
        return lt_buf_to_term(env, b);
    lt_buf_free(b);
    if (e == LT_E_TOO_BIG) /* more entries than one message may hold */
        return enif_make_tuple2(env, lt_atom.error, lt_atom.too_big);
    return lt_raise_nomem(env);
}

/* merkle_children(Tree, Level, Parents) -> Binary: the children encoding (lt_merkle.h) of the
 * nodes Parents of Level (< levels), strictly ascending. */
LT_NIF(lt_nif_merkle_children) {
    lt_mtree *m;
    unsigned level;
    uint64_t *parents;
    size_t n;
    ERL_NIF_TERM moved;
    if (argc != 3 || !get_tree(env, argv[0], &m) || !enif_get_uint(env, argv[1], &level) ||
        level >= lt_merkle_levels(m->tree) || !enif_is_list(env, argv[2]))
        return enif_make_badarg(env);
    unsigned len;
    if (!enif_get_list_length(env, argv[2], &len) || len > LT_MERKLE_MAX_WIRE_NODES)
        return enif_make_badarg(env);
    if (len > DIRTY_INDICES && enif_thread_type() != ERL_NIF_THR_DIRTY_CPU_SCHEDULER)
        return enif_schedule_nif(env, "merkle_children", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_merkle_children, argc, argv);
    if (!get_indices(env, argv[2], level, &parents, &n))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_children", lt_nif_merkle_children, argc, argv, &moved)) {
        enif_free(parents);
        return moved;
    }
    lt_buf b;
    lt_buf_init(&b);
    lt_err e = lt_merkle_encode_children(m->tree, level, parents, n, &b);
    enif_mutex_unlock(m->lock);
    enif_free(parents);
    return encoded(env, e, &b);
}

/* merkle_buckets(Tree, Buckets) -> Binary | {error, too_big}: the bucket encoding of Buckets
 * (strictly ascending); too_big above LT_MERKLE_MAX_WIRE_ENTRIES entries in all. */
LT_NIF(lt_nif_merkle_buckets) {
    lt_mtree *m;
    uint64_t *buckets;
    size_t n;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !enif_is_list(env, argv[1]))
        return enif_make_badarg(env);
    unsigned levels = lt_merkle_levels(m->tree), len;
    if (!enif_get_list_length(env, argv[1], &len) || len > LT_MERKLE_MAX_WIRE_NODES)
        return enif_make_badarg(env);
    if (len > DIRTY_INDICES && enif_thread_type() != ERL_NIF_THR_DIRTY_CPU_SCHEDULER)
        return enif_schedule_nif(env, "merkle_buckets", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_merkle_buckets, argc, argv);
    if (!get_indices(env, argv[1], levels, &buckets, &n))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, 0, "merkle_buckets", lt_nif_merkle_buckets, argc, argv, &moved)) {
        enif_free(buckets);
        return moved;
    }
    uint64_t entries = 0;
    for (size_t i = 0; i < n; i++)
        entries += lt_merkle_node_at(m->tree, levels, buckets[i]).count;
    if (!tree_stay(env, m, entries > DIRTY_KEYS, "merkle_buckets", lt_nif_merkle_buckets, argc,
                   argv, &moved)) {
        enif_free(buckets);
        return moved;
    }
    lt_buf b;
    lt_buf_init(&b);
    lt_err e = lt_merkle_encode_buckets(m->tree, buckets, n, &b);
    enif_mutex_unlock(m->lock);
    enif_free(buckets);
    return encoded(env, e, &b);
}

static ERL_NIF_TERM wire_error(ErlNifEnv *env, lt_err e) {
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    return lt_make_error(env, lt_atom.bad_merkle_wire, e);
}

/* merkle_diff_children(Tree, Msg) -> {ok, Level, [ChildIndex]} | {error, {bad_merkle_wire, R}}:
 * a peer's children encoding compared with this tree; the children (of Level + 1) whose hashes
 * differ, ascending. */
LT_NIF(lt_nif_merkle_diff_children) {
    lt_mtree *m;
    ErlNifBinary msg;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !enif_inspect_binary(env, argv[1], &msg))
        return enif_make_badarg(env);
    /* A message of p parents has more than 128 * p bytes: 16 children each fit in cap. */
    size_t parents = msg.size / (8 * LT_MERKLE_FANOUT) + 1;
    if (parents > LT_MERKLE_MAX_WIRE_NODES)
        parents = LT_MERKLE_MAX_WIRE_NODES;
    size_t cap = parents * LT_MERKLE_FANOUT;
    if (!tree_enter(env, m, msg.size > DIRTY_WIRE_BYTES, "merkle_diff_children",
                    lt_nif_merkle_diff_children, argc, argv, &moved))
        return moved;
    uint64_t *out = enif_alloc(cap * sizeof *out);
    if (out == NULL) {
        enif_mutex_unlock(m->lock);
        return lt_raise_nomem(env);
    }
    unsigned level = 0;
    size_t n = 0;
    lt_err e = lt_merkle_diff_children(m->tree, msg.data, msg.size, &level, out, cap, &n);
    enif_mutex_unlock(m->lock);
    if (e != LT_OK) {
        enif_free(out);
        return wire_error(env, e);
    }
    ERL_NIF_TERM list = enif_make_list(env, 0);
    for (size_t i = n; i-- > 0;)
        list = enif_make_list_cell(env, enif_make_uint64(env, out[i]), list);
    enif_free(out);
    return enif_make_tuple3(env, lt_atom.ok, enif_make_uint(env, level), list);
}

/* Conses {Key, differs | local_only} for a local key, {{key_hash, KH}, remote_only} for a key
 * hash of which the peer has keys this tree lacks or holds with another digest. */
static int wire_cb(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    list_ctx *c = ctx;
    ERL_NIF_TERM k;
    if (side == LT_MERKLE_REMOTE_ONLY) {
        k = enif_make_tuple2(c->env, lt_atom.key_hash, enif_make_uint64(c->env, lt_read_be64(key)));
    } else if (!copy_bytes(c, key, key_len, &k)) {
        return 1;
    }
    c->list = enif_make_list_cell(c->env, enif_make_tuple2(c->env, k, side_atom(side)), c->list);
    return 0;
}

/* merkle_diff_buckets(Tree, Msg) -> {ok, [...]} | {error, {bad_merkle_wire, R}}: a peer's
 * bucket encoding compared with this tree (lt_merkle_diff_buckets; elements as wire_cb). */
LT_NIF(lt_nif_merkle_diff_buckets) {
    lt_mtree *m;
    ErlNifBinary msg;
    ERL_NIF_TERM moved;
    if (argc != 2 || !get_tree(env, argv[0], &m) || !enif_inspect_binary(env, argv[1], &msg))
        return enif_make_badarg(env);
    if (!tree_enter(env, m, msg.size > DIRTY_WIRE_BYTES, "merkle_diff_buckets",
                    lt_nif_merkle_diff_buckets, argc, argv, &moved))
        return moved;
    /* The local side: at most msg.size / 2 buckets, of about count / 16^levels keys each. */
    unsigned levels = lt_merkle_levels(m->tree);
    uint64_t per_bucket = lt_merkle_count(m->tree) >> (LT_MERKLE_FANOUT_BITS * levels);
    if (!tree_stay(env, m, (per_bucket + 1) * (msg.size / 2) > DIRTY_KEYS, "merkle_diff_buckets",
                   lt_nif_merkle_diff_buckets, argc, argv, &moved))
        return moved;
    list_ctx c = {env, enif_make_list(env, 0), 0};
    lt_err e = lt_merkle_diff_buckets(m->tree, msg.data, msg.size, wire_cb, &c);
    enif_mutex_unlock(m->lock);
    if (e != LT_OK && e != LT_E_NOMEM)
        return wire_error(env, e);
    ERL_NIF_TERM out;
    if (c.failed || e == LT_E_NOMEM || !enif_make_reverse_list(env, c.list, &out))
        return lt_raise_nomem(env);
    return enif_make_tuple2(env, lt_atom.ok, out);
}
