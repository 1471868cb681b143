/* lt_nif_hash.c — XXH3 over binaries (yielding on large ones) and digests of terms. */
#include "lt_nif.h"

#include "lt_hash.h"

/* One call hashes up to this much at once (about 60 us on the bench machine); larger inputs
 * go in chunks of this size between which the call may yield. */
#define LT_HASH_CHUNK (1024 * 1024)

/* The streaming state of a yielding hash. Owns `state`. */
typedef struct {
    lt_hash_state *state;
} hash_job;

static void hash_job_dtor(ErlNifEnv *env, void *obj) {
    hash_job *job = obj;
    (void)env;
    lt_hash_state_free(job->state);
    job->state = NULL;
}

int lt_hash_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags) {
    lt_res.hash_job =
        enif_open_resource_type(env, NULL, "lattice_hash_job", hash_job_dtor, flags, NULL);
    return lt_res.hash_job != NULL;
}

static ERL_NIF_TERM digest128_term(ErlNifEnv *env, lt_hash128_t h) {
    ERL_NIF_TERM t;
    unsigned char *p = enif_make_new_binary(env, 16, &t);
    if (p == NULL)
        return lt_raise_nomem(env);
    lt_write_be64(p, h.hi);
    lt_write_be64(p + 8, h.lo);
    return t;
}

/* hash(Binary, Seed, Bits) -> integer() (64) | <<_:128>> (128, big-endian). */
LT_NIF(lt_nif_hash) {
    ErlNifBinary bin;
    ErlNifUInt64 seed, off = 0;
    unsigned bits;
    hash_job *job = NULL;
    ERL_NIF_TERM job_term;
    if ((argc != 3 && argc != 5) || !enif_inspect_binary(env, argv[0], &bin) ||
        !enif_get_uint64(env, argv[1], &seed) || !enif_get_uint(env, argv[2], &bits) ||
        (bits != 64 && bits != 128))
        return enif_make_badarg(env);
    if (argc == 3 && bin.size <= LT_HASH_CHUNK) {
        if (bits == 64)
            return enif_make_uint64(env, lt_hash64(bin.data, bin.size, seed));
        return digest128_term(env, lt_hash128(bin.data, bin.size, seed));
    }
    if (argc == 3) {
        job = enif_alloc_resource(lt_res.hash_job, sizeof *job);
        if (job == NULL)
            return lt_raise_nomem(env);
        job->state = lt_hash_state_new(bits, seed);
        job_term = enif_make_resource(env, job);
        enif_release_resource(job);
        if (job->state == NULL)
            return lt_raise_nomem(env);
    } else {
        if (!enif_get_resource(env, argv[3], lt_res.hash_job, (void **)&job) ||
            !enif_get_uint64(env, argv[4], &off) || off > bin.size)
            return enif_make_badarg(env);
        job_term = argv[3];
    }
    for (;;) {
        ErlNifTime t0 = lt_slice_start();
        size_t n = bin.size - off > LT_HASH_CHUNK ? LT_HASH_CHUNK : bin.size - off;
        lt_hash_state_update(job->state, bin.data + off, n);
        off += n;
        if (off == bin.size)
            break;
        if (lt_slice_spent(env, t0)) {
            ERL_NIF_TERM next[5] = {argv[0], argv[1], argv[2], job_term,
                                    enif_make_uint64(env, off)};
            return enif_schedule_nif(env, "hash", 0, lt_nif_hash, 5, next);
        }
    }
    if (bits == 64)
        return enif_make_uint64(env, lt_hash_state_digest64(job->state));
    return digest128_term(env, lt_hash_state_digest128(job->state));
}

/* term_digest(Term) -> <<_:128>>: XXH3-128 (seed 0) of the term's canonical bytes. */
LT_NIF(lt_nif_term_digest) {
    lt_buf b;
    long budget = 50000;
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    if (argc != 1)
        return enif_make_badarg(env);
    lt_buf_init(&b);
    lt_err rc = lt_encode_term(env, argv[0], &b, normal ? &budget : NULL);
    if (rc == LT_OK && normal && b.len > LT_HASH_CHUNK)
        rc = LT_E_BUDGET; /* encoded quickly but too long to hash here */
    if (rc != LT_OK) {
        lt_buf_free(&b);
        if (rc == LT_E_BUDGET)
            return enif_schedule_nif(env, "term_digest", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                     lt_nif_term_digest, argc, argv);
        return rc == LT_E_NOMEM ? lt_raise_nomem(env) : enif_make_badarg(env);
    }
    ERL_NIF_TERM t = digest128_term(env, lt_hash128(b.data, b.len, 0));
    lt_buf_free(&b);
    return t;
}
