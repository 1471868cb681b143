/* lt_nif_merge.c — merges that yield. A type supplies a stepper (lt_merge_kind); this file runs
 * it: at once for small inputs, else in a resource between rescheduled calls, a chunk of
 * entries at a time until the process's timeslice is used up. Then the result is compared with
 * the inputs, also in slices: a join equal to an input (a delta already seen) is that input,
 * with no copy. */
#include "lt_nif.h"

#include "lt_colset.h"

#include <stdalign.h>

/* Entries walked per step, and bytes compared per step. */
#define MERGE_CHUNK 2048
#define COMPARE_CHUNK (1024 * 1024)
/* The type's state for a merge that runs at once lives on the stack, in this many bytes. */
#define STACK_CTX_BYTES 4096

typedef struct lt_merge_out merge_job;
struct lt_merge_out {
    const lt_merge_kind *kind;
    uint8_t tag;
    int started; /* the kind's state is live: the join is being written (then compared) */
    lt_out direct;
    int direct_live; /* `direct` holds a binary not yet handed to the VM */
    lt_buf grown;
    /* Bit k set while input k may equal the join; `compared` bytes of it have been. */
    int same;
    size_t compared;
    alignas(max_align_t) unsigned char ctx[]; /* the kind's state, ctx_size bytes */
};

static void job_init(merge_job *job, const lt_merge_kind *kind, uint8_t tag) {
    memset(job, 0, sizeof *job);
    job->kind = kind;
    job->tag = tag;
    lt_buf_init(&job->grown);
}

static void job_free(merge_job *job) {
    if (job->started)
        job->kind->stop(job->ctx);
    job->started = 0;
    if (job->direct_live)
        lt_out_abandon(&job->direct);
    job->direct_live = 0;
    lt_buf_free(&job->grown);
}

static void merge_job_dtor(ErlNifEnv *env, void *obj) {
    (void)env;
    job_free(obj);
}

int lt_merge_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags) {
    lt_res.merge_job =
        enif_open_resource_type(env, NULL, "lattice_merge_job", merge_job_dtor, flags, NULL);
    return lt_res.merge_job != NULL;
}

lt_buf *lt_merge_output(merge_job *job, size_t bound) {
    if (bound == 0)
        return &job->grown;
    if (!lt_out_init(&job->direct, bound))
        return NULL;
    job->direct_live = 1;
    return &job->direct.buf;
}

static lt_buf *job_out(merge_job *job) {
    return job->direct_live ? &job->direct.buf : &job->grown;
}

static lt_err job_start(merge_job *job, const ErlNifBinary *a, const ErlNifBinary *b) {
    lt_err e = job->kind->start(job->ctx, job->tag, a, b, job);
    job->started = e == LT_OK;
    return e;
}

/* The join is written: which inputs have its size (only those can equal it). */
static void compare_start(merge_job *job, const ErlNifBinary *a, const ErlNifBinary *b) {
    size_t len = job_out(job)->len;
    job->kind->stop(job->ctx);
    job->started = 0;
    job->same = (len == a->size ? 1 : 0) | (len == b->size ? 2 : 0);
    job->compared = 0;
}

/* Compares the next `n` bytes (at most) of the join with the inputs it may equal; 1 when the
 * comparison is over. */
static int compare_step(merge_job *job, const ErlNifBinary *a, const ErlNifBinary *b, size_t n) {
    const lt_buf *out = job_out(job);
    size_t left = out->len - job->compared;
    if (n > left)
        n = left;
    for (int k = 1; k <= 2; k++) {
        const ErlNifBinary *in = k == 1 ? a : b;
        if ((job->same & k) && memcmp(out->data + job->compared, in->data + job->compared, n) != 0)
            job->same &= ~k;
    }
    job->compared += n;
    return job->same == 0 || job->compared == out->len;
}

/* The finished join as a term (in[0] and in[1] are the inputs' terms); hands the output over
 * (or leaves it to job_free). */
static ERL_NIF_TERM result(ErlNifEnv *env, const ERL_NIF_TERM in[2], merge_job *job) {
    if (job->same & 1)
        return in[0];
    if (job->same & 2)
        return in[1];
    if (job->direct_live) {
        job->direct_live = 0;
        return lt_out_finish(env, &job->direct);
    }
    return lt_buf_to_term(env, &job->grown);
}

static ERL_NIF_TERM merge_continue(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]);

ERL_NIF_TERM lt_merge_run(ErlNifEnv *env, const lt_merge_kind *kind, uint8_t tag,
                          const ERL_NIF_TERM in[2], const ErlNifBinary *a, const ErlNifBinary *b,
                          size_t yield_bytes) {
    lt_err e;
    if (a->size + b->size <= yield_bytes) {
        union {
            merge_job job;
            unsigned char bytes[sizeof(merge_job) + STACK_CTX_BYTES];
            max_align_t align;
        } mem;
        merge_job *job = &mem.job;
        ERL_NIF_TERM r;
        int done;
        if (kind->ctx_size > STACK_CTX_BYTES)
            return lt_raise_nomem(env); /* a kind too big for the stack: a bug */
        job_init(job, kind, tag);
        if ((e = job_start(job, a, b)) == LT_OK &&
            (e = kind->step(job->ctx, SIZE_MAX, &done)) == LT_OK) {
            compare_start(job, a, b);
            (void)compare_step(job, a, b, SIZE_MAX);
            r = result(env, in, job);
        } else {
            r = kind->bad(env, tag, e);
        }
        job_free(job);
        return r;
    }
    /* The kind's views point into the argument binaries across yields: binaries this large
     * are off-heap and do not move, and the rescheduled call's arguments keep them alive. */
    merge_job *job = enif_alloc_resource(lt_res.merge_job, sizeof *job + kind->ctx_size);
    if (job == NULL)
        return lt_raise_nomem(env);
    job_init(job, kind, tag);
    ERL_NIF_TERM job_term = enif_make_resource(env, job);
    enif_release_resource(job);
    if ((e = job_start(job, a, b)) != LT_OK)
        return kind->bad(env, tag, e);
    ERL_NIF_TERM args[3] = {in[0], in[1], job_term};
    return merge_continue(env, 3, args);
}

/* The walk, MERGE_CHUNK entries at a time, then the comparison, COMPARE_CHUNK bytes at a time,
 * until done or the timeslice is used up. */
static ERL_NIF_TERM merge_continue(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary a, b;
    merge_job *job;
    if (argc != 3 || !enif_inspect_binary(env, argv[0], &a) ||
        !enif_inspect_binary(env, argv[1], &b) ||
        !enif_get_resource(env, argv[2], lt_res.merge_job, (void **)&job) || job->kind == NULL)
        return enif_make_badarg(env);
    for (;;) {
        ErlNifTime started = lt_slice_start();
        if (job->started) {
            int done;
            lt_err e = job->kind->step(job->ctx, MERGE_CHUNK, &done);
            if (e != LT_OK) {
                ERL_NIF_TERM r = job->kind->bad(env, job->tag, e);
                job_free(job); /* a failed job cannot be continued */
                return r;
            }
            if (done)
                compare_start(job, &a, &b);
        } else if (compare_step(job, &a, &b, COMPARE_CHUNK)) {
            return result(env, argv, job);
        }
        if (lt_slice_spent(env, started))
            return enif_schedule_nif(env, "merge", 0, merge_continue, argc, argv);
    }
}

/* ---- the columnar sets (lt_colset.h): their state is the merger alone ----------------------- */

lt_err lt_merge_cols_step(void *ctx, size_t budget, int *done) {
    return lt_cols_merge_step(*(lt_cols_merger **)ctx, budget, done);
}

void lt_merge_cols_stop(void *ctx) {
    lt_cols_merge_free(*(lt_cols_merger **)ctx);
}
