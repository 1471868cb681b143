/* test_dotkernel.c — the dot kernel (lt_dotkernel.h): known bytes; randomized histories over
 * replicas that exchange deltas out of order, duplicated and lost, with the binary functions,
 * the in-place objects and a tombstone model of the OR-Set checked against each other after
 * every step; the lattice laws; and truncated and mutated binaries. */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_dotkernel.h"
#include "lt_hash.h"

#define NKEYS 12
#define NREP 3
#define MAXC 256

typedef struct {
    uint8_t b[16];
    size_t len;
    uint64_t id;
} term_t;

static term_t int_term(int64_t n) {
    term_t x;
    lt_buf b;
    lt_buf_init_fixed(&b, x.b, sizeof x.b);
    lt_canon_put_int(&b, n);
    CHECK(!b.failed);
    x.len = b.len;
    x.id = lt_actor_id(x.b, x.len);
    return x;
}

static term_t keys[NKEYS], actors[NREP];

/* The tombstone model of an OR-Set replica: tags (actor, counter) per key, removed tags. */
typedef struct {
    uint8_t live[NKEYS][NREP][MAXC]; /* live[k][a][c] for counters below MAXC */
    uint8_t removed[NREP][MAXC];
} model_t;

static void model_join(model_t *m, const model_t *x) {
    for (size_t k = 0; k < NKEYS; k++)
        for (size_t a = 0; a < NREP; a++)
            for (size_t c = 0; c < MAXC; c++)
                m->live[k][a][c] |= x->live[k][a][c];
    for (size_t a = 0; a < NREP; a++)
        for (size_t c = 0; c < MAXC; c++)
            m->removed[a][c] |= x->removed[a][c];
}

static int model_has(const model_t *m, size_t k) {
    for (size_t a = 0; a < NREP; a++)
        for (size_t c = 0; c < MAXC; c++)
            if (m->live[k][a][c] && !m->removed[a][c])
                return 1;
    return 0;
}

/* The model's delta for superseding key k's live tags (and adding tag (a, c) when c > 0). */
static void model_op(const model_t *m, size_t k, size_t a, uint64_t c, model_t *delta) {
    memset(delta, 0, sizeof *delta);
    for (size_t x = 0; x < NREP; x++)
        for (size_t y = 0; y < MAXC; y++)
            if (m->live[k][x][y] && !m->removed[x][y])
                delta->removed[x][y] = 1;
    if (c > 0)
        delta->live[k][a][c] = 1;
}

typedef struct {
    lt_buf state;
    lt_dk_obj obj;
    model_t model;
} replica;

typedef struct {
    lt_buf bin;
    model_t model;
    size_t to;
} message;

static int open_ok(lt_dk_view *v, const lt_buf *b, uint8_t tag) {
    lt_err e = lt_dk_open(v, b->data, b->len, tag);
    CHECK_ERR(e, LT_OK);
    return e == LT_OK;
}

/* The object holds exactly the replica's state: snapshot and digest. */
static void check_replica(replica *r, uint8_t tag) {
    lt_buf snap;
    uint8_t d1[16], d2[16];
    lt_dk_view v;
    lt_buf_init(&snap);
    CHECK_ERR(lt_dk_obj_snapshot(&r->obj, &snap), LT_OK);
    CHECK_MEM(snap.data, snap.len, r->state.data, r->state.len);
    if (open_ok(&v, &r->state, tag)) {
        CHECK_ERR(lt_dk_check_full(&v), LT_OK);
        CHECK_ERR(lt_dk_digest(&v, d1), LT_OK);
        CHECK_ERR(lt_dk_obj_digest(&r->obj, d2), LT_OK);
        CHECK_MEM(d2, 16, d1, 16);
        if (tag == LT_TYPE_ORSET)
            for (size_t k = 0; k < NKEYS; k++) {
                lt_dk_entry e;
                int found;
                CHECK_ERR(lt_dk_lookup(&v, keys[k].id, keys[k].b, keys[k].len, &e, &found), LT_OK);
                CHECK(found == model_has(&r->model, k));
                CHECK((lt_dk_obj_find(&r->obj, keys[k].id, keys[k].b, keys[k].len) >= 0) == found);
            }
        lt_dk_close(&v);
    }
    lt_buf_free(&snap);
}

/* Joins `bin` into the replica's state (binary merge) and object. */
static void deliver(replica *r, const lt_buf *bin, uint8_t tag) {
    lt_dk_view a, b;
    lt_buf out;
    lt_buf_init(&out);
    if (open_ok(&a, &r->state, tag)) {
        if (open_ok(&b, bin, tag)) {
            CHECK_ERR(lt_dk_merge(&a, &b, &out), LT_OK);
            { /* in steps of a few entries: the same join */
                lt_dk_merger *m;
                lt_buf stepped;
                int done = 0, steps = 0;
                lt_buf_init(&stepped);
                CHECK_ERR(lt_dk_merge_start(&a, &b, &stepped, &m), LT_OK);
                while (!done && m != NULL) {
                    lt_err se = lt_dk_merge_step(m, 1 + (size_t)(steps++ % 3), &done);
                    CHECK_ERR(se, LT_OK);
                    if (se != LT_OK)
                        break;
                }
                lt_dk_merge_free(m);
                CHECK_MEM(stepped.data, stepped.len, out.data, out.len);
                lt_buf_free(&stepped);
            }
            size_t bound = lt_dk_merge_bound(&a, &b);
            if (bound > 0) { /* the bound holds: the join fits a fixed buffer of that size */
                uint8_t *mem = malloc(bound);
                lt_buf fixed;
                lt_buf_init_fixed(&fixed, mem, bound);
                CHECK_ERR(lt_dk_merge(&a, &b, &fixed), LT_OK);
                CHECK_MEM(fixed.data, fixed.len, out.data, out.len);
                free(mem);
            }
            CHECK_ERR(lt_dk_obj_join(&r->obj, &b), LT_OK);
            lt_dk_close(&b);
        }
        lt_dk_close(&a);
    }
    lt_buf_free(&r->state);
    r->state = out;
}

static uint8_t payload_mem[64][16];

/* One random update at replica `ri`; the delta (and model delta) is queued for the others. */
static void random_update(replica *reps, size_t ri, uint8_t tag, uint64_t *rng, message *net,
                          size_t *nnet) {
    replica *r = &reps[ri];
    lt_dk_op ops[4];
    size_t k = 1 + lt_test_below(rng, tag == LT_TYPE_MVREG ? 1 : 3), absent1 = 99, absent2 = 99;
    int add = tag == LT_TYPE_MVREG || lt_test_below(rng, 3) != 0;
    size_t which[4];
    for (size_t i = 0; i < k; i++) {
        size_t key = lt_test_below(rng, NKEYS);
        size_t p = lt_test_below(rng, 64);
        which[i] = key;
        ops[i].id = keys[key].id;
        ops[i].key = keys[key].b;
        ops[i].key_len = keys[key].len;
        ops[i].add = add;
        ops[i].payload = tag == LT_TYPE_LWWMAP ? payload_mem[p] : NULL;
        ops[i].payload_len = tag == LT_TYPE_LWWMAP ? 10 : 0;
    }
    lt_buf d1, d2, s1;
    lt_dk_view v;
    lt_buf_init(&d1);
    lt_buf_init(&d2);
    lt_buf_init(&s1);
    if (!open_ok(&v, &r->state, tag))
        return;
    int all = tag == LT_TYPE_MVREG;
    lt_err e1 = lt_dk_update(&v, actors[ri].id, actors[ri].b, actors[ri].len, ops, k, all, &d1, &s1,
                             &absent1);
    lt_err e2 = lt_dk_obj_update(&r->obj, actors[ri].id, actors[ri].b, actors[ri].len, ops, k, all,
                                 &d2, &absent2);
    lt_dk_close(&v);
    CHECK_ERR(e2, e1);
    if (e1 == LT_E_ABSENT) {
        CHECK(absent1 == absent2);
        CHECK(!add);
        CHECK(!model_has(&r->model, which[absent1]) || tag != LT_TYPE_ORSET);
    } else if (e1 == LT_OK) {
        CHECK_MEM(d2.data, d2.len, d1.data, d1.len);
        /* The model: the same tags, as the kernel numbers them (own counter + 1). */
        model_t md, acc;
        memset(&acc, 0, sizeof acc);
        for (size_t i = 0; i < k; i++) {
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                dup |= which[j] == which[i];
            if (dup)
                continue;
            CHECK(add || model_has(&r->model, which[i]) || tag != LT_TYPE_ORSET);
            uint64_t c = 0;
            if (add) {
                for (size_t y = 0; y < MAXC; y++)
                    for (size_t kk = 0; kk < NKEYS; kk++)
                        if (r->model.live[kk][ri][y] || acc.live[kk][ri][y] ||
                            r->model.removed[ri][y] || acc.removed[ri][y])
                            c = y > c ? y : c;
                c++;
            }
            model_op(&r->model, which[i], ri, c < MAXC ? c : 0, &md);
            model_join(&acc, &md);
        }
        model_join(&r->model, &acc);
        lt_buf_free(&r->state);
        r->state = s1;
        s1.data = NULL;
        for (size_t to = 0; to < NREP; to++) {
            if (to == ri || *nnet >= 512)
                continue;
            lt_buf_init(&net[*nnet].bin);
            lt_buf_put(&net[*nnet].bin, d1.data, d1.len);
            net[*nnet].model = acc;
            net[*nnet].to = to;
            (*nnet)++;
        }
    }
    lt_buf_free(&d1);
    lt_buf_free(&d2);
    lt_buf_free(&s1);
}

static void merge_laws(const lt_buf *x, const lt_buf *y, const lt_buf *z, uint8_t tag) {
    lt_dk_view a, b, c, ab, ba;
    lt_buf xy, yx, xx, xy_z, yz, x_yz;
    lt_buf_init(&xy);
    lt_buf_init(&yx);
    lt_buf_init(&xx);
    lt_buf_init(&xy_z);
    lt_buf_init(&yz);
    lt_buf_init(&x_yz);
    if (open_ok(&a, x, tag) && open_ok(&b, y, tag) && open_ok(&c, z, tag)) {
        CHECK_ERR(lt_dk_merge(&a, &b, &xy), LT_OK);
        CHECK_ERR(lt_dk_merge(&b, &a, &yx), LT_OK);
        CHECK_ERR(lt_dk_merge(&a, &a, &xx), LT_OK);
        CHECK_MEM(xy.data, xy.len, yx.data, yx.len);
        CHECK_MEM(xx.data, xx.len, x->data, x->len);
        CHECK_ERR(lt_dk_merge(&b, &c, &yz), LT_OK);
        if (open_ok(&ab, &xy, tag)) {
            CHECK_ERR(lt_dk_merge(&ab, &c, &xy_z), LT_OK);
            lt_dk_close(&ab);
        }
        if (open_ok(&ba, &yz, tag)) {
            CHECK_ERR(lt_dk_merge(&a, &ba, &x_yz), LT_OK);
            lt_dk_close(&ba);
        }
        CHECK_MEM(xy_z.data, xy_z.len, x_yz.data, x_yz.len);
        lt_dk_close(&a);
        lt_dk_close(&b);
        lt_dk_close(&c);
    }
    lt_buf_free(&xy);
    lt_buf_free(&yx);
    lt_buf_free(&xx);
    lt_buf_free(&xy_z);
    lt_buf_free(&yz);
    lt_buf_free(&x_yz);
}

/* Every prefix and many one-byte mutations of a valid state: no crash, and anything accepted
 * by the full check merges with itself into itself. */
static void garbage(const lt_buf *s, uint8_t tag, uint64_t *rng) {
    uint8_t *m = malloc(s->len);
    for (size_t n = 0; n < s->len; n++) {
        lt_dk_view v;
        if (lt_dk_open(&v, s->data, n, tag) == LT_OK) {
            CHECK(lt_dk_check(&v) != LT_OK);
            lt_dk_close(&v);
        }
    }
    for (int round = 0; round < 200; round++) {
        lt_dk_view v;
        memcpy(m, s->data, s->len);
        m[lt_test_below(rng, s->len)] ^= (uint8_t)(1u << lt_test_below(rng, 8));
        if (lt_dk_open(&v, m, s->len, tag) != LT_OK)
            continue;
        if (lt_dk_check_full(&v) == LT_OK) {
            lt_buf out;
            lt_buf_init(&out);
            CHECK_ERR(lt_dk_merge(&v, &v, &out), LT_OK);
            CHECK_MEM(out.data, out.len, m, s->len);
            lt_buf_free(&out);
            lt_dk_obj o;
            lt_dk_obj_init(&o, tag);
            CHECK_ERR(lt_dk_obj_join(&o, &v), LT_OK);
            lt_buf_init(&out);
            CHECK_ERR(lt_dk_obj_snapshot(&o, &out), LT_OK);
            CHECK_MEM(out.data, out.len, m, s->len);
            lt_buf_free(&out);
            lt_dk_obj_free(&o);
        } else {
            lt_buf out;
            lt_buf_init(&out);
            lt_err me = lt_dk_merge(&v, &v, &out); /* may fail or not: must not crash */
            CHECK(me != LT_E_NOMEM);
            lt_buf_free(&out);
        }
        lt_dk_close(&v);
    }
    free(m);
}

static void history(uint8_t tag, uint64_t seed, int steps) {
    uint64_t rng = seed;
    replica reps[NREP];
    static message net[512];
    size_t nnet = 0;
    for (size_t i = 0; i < NREP; i++) {
        lt_buf_init(&reps[i].state);
        lt_buf_put_u8(&reps[i].state, tag);
        lt_buf_put_u8(&reps[i].state, 1);
        lt_buf_put_u8(&reps[i].state, 0);
        lt_buf_put_u8(&reps[i].state, 0);
        lt_dk_obj_init(&reps[i].obj, tag);
        memset(&reps[i].model, 0, sizeof reps[i].model);
    }
    for (int step = 0; step < steps; step++) {
        size_t what = lt_test_below(&rng, 10);
        if (what < 5) {
            random_update(reps, lt_test_below(&rng, NREP), tag, &rng, net, &nnet);
        } else if (what < 9 && nnet > 0) {
            size_t i = lt_test_below(&rng, nnet);
            message msg = net[i];
            int dup = what == 8;
            if (!dup) {
                net[i] = net[--nnet];
            } else {
                lt_buf copy;
                lt_buf_init(&copy);
                lt_buf_put(&copy, msg.bin.data, msg.bin.len);
                msg.bin = copy;
            }
            if (lt_test_below(&rng, 8) != 0) { /* else lost */
                deliver(&reps[msg.to], &msg.bin, tag);
                model_join(&reps[msg.to].model, &msg.model);
            }
            lt_buf_free(&msg.bin);
        } else {
            size_t from = lt_test_below(&rng, NREP), to = lt_test_below(&rng, NREP);
            lt_buf copy;
            lt_buf_init(&copy);
            lt_buf_put(&copy, reps[from].state.data, reps[from].state.len);
            deliver(&reps[to], &copy, tag);
            model_join(&reps[to].model, &reps[from].model);
            lt_buf_free(&copy);
        }
        for (size_t i = 0; i < NREP; i++)
            check_replica(&reps[i], tag);
    }
    merge_laws(&reps[0].state, &reps[1].state, &reps[2].state, tag);
    garbage(&reps[0].state, tag, &rng);
    /* Anti-entropy: everyone gets everyone's state; all converge. */
    for (size_t to = 0; to < NREP; to++)
        for (size_t from = 0; from < NREP; from++) {
            lt_buf copy;
            lt_buf_init(&copy);
            lt_buf_put(&copy, reps[from].state.data, reps[from].state.len);
            deliver(&reps[to], &copy, tag);
            model_join(&reps[to].model, &reps[from].model);
            lt_buf_free(&copy);
        }
    for (size_t i = 0; i < NREP; i++) {
        check_replica(&reps[i], tag);
        CHECK_MEM(reps[i].state.data, reps[i].state.len, reps[0].state.data, reps[0].state.len);
    }
    for (size_t i = 0; i < nnet; i++)
        lt_buf_free(&net[i].bin);
    for (size_t i = 0; i < NREP; i++) {
        lt_buf_free(&reps[i].state);
        lt_dk_obj_free(&reps[i].obj);
    }
}

/* The bytes of a small OR-Set, written out by hand. */
static void known_bytes(void) {
    lt_dk_op op = {keys[0].id, keys[0].b, keys[0].len, NULL, 0, 1};
    uint8_t empty[] = {LT_TYPE_ORSET, 1, 0, 0};
    lt_dk_view v;
    lt_buf d, s;
    size_t absent;
    lt_buf_init(&d);
    lt_buf_init(&s);
    CHECK_ERR(lt_dk_open(&v, empty, sizeof empty, LT_TYPE_ORSET), LT_OK);
    CHECK_ERR(
        lt_dk_update(&v, actors[0].id, actors[0].b, actors[0].len, &op, 1, 0, &d, &s, &absent),
        LT_OK);
    lt_dk_close(&v);
    CHECK_MEM(d.data, d.len, s.data, s.len); /* from empty, the delta is the state */
    /* tag, version, 1 actor: id, len, bytes, base 1, no cloud; 1 key: id, len, bytes, 1 dot
     * (actor 0, counter 1). */
    lt_buf want;
    lt_buf_init(&want);
    lt_buf_put_u8(&want, LT_TYPE_ORSET);
    lt_buf_put_u8(&want, 1);
    lt_buf_put_u8(&want, 1);
    lt_buf_put_be64(&want, actors[0].id);
    lt_buf_put_u8(&want, (uint8_t)actors[0].len);
    lt_buf_put(&want, actors[0].b, actors[0].len);
    lt_buf_put_u8(&want, 1);
    lt_buf_put_u8(&want, 0);
    lt_buf_put_u8(&want, 1);
    lt_buf_put_be64(&want, keys[0].id);
    lt_buf_put_u8(&want, (uint8_t)keys[0].len);
    lt_buf_put(&want, keys[0].b, keys[0].len);
    lt_buf_put_u8(&want, 1);
    lt_buf_put_u8(&want, 0);
    lt_buf_put_u8(&want, 1);
    CHECK_MEM(s.data, s.len, want.data, want.len);
    /* Removing it: the delta holds only the context; the state keeps the context. */
    lt_buf d2, s2;
    lt_buf_init(&d2);
    lt_buf_init(&s2);
    op.add = 0;
    CHECK_ERR(lt_dk_open(&v, s.data, s.len, LT_TYPE_ORSET), LT_OK);
    CHECK_ERR(
        lt_dk_update(&v, actors[1].id, actors[1].b, actors[1].len, &op, 1, 0, &d2, &s2, &absent),
        LT_OK);
    lt_dk_close(&v);
    CHECK_U64(s2.len, want.len - (8 + 1 + keys[0].len + 3));
    CHECK(s2.data[s2.len - 1] == 0); /* no keys */
    /* Removing an absent key. */
    CHECK_ERR(lt_dk_open(&v, s2.data, s2.len, LT_TYPE_ORSET), LT_OK);
    CHECK_ERR(
        lt_dk_update(&v, actors[1].id, actors[1].b, actors[1].len, &op, 1, 0, &d2, &s2, &absent),
        LT_E_ABSENT);
    CHECK(absent == 0);
    lt_dk_close(&v);
    /* Wrong type and version. */
    CHECK_ERR(lt_dk_open(&v, empty, sizeof empty, LT_TYPE_LWWMAP), LT_E_WRONG_TYPE);
    empty[1] = 2;
    CHECK_ERR(lt_dk_open(&v, empty, sizeof empty, LT_TYPE_ORSET), LT_E_VERSION);
    /* Short binaries: the tag and the version are judged before the length. */
    {
        static const uint8_t gcounter[] = {0x10, 1, 0}, v2[] = {LT_TYPE_MVREG, 2, 0},
                             short_ok[] = {LT_TYPE_MVREG, 1, 0};
        CHECK_ERR(lt_dk_open(&v, gcounter, sizeof gcounter, LT_TYPE_MVREG), LT_E_WRONG_TYPE);
        CHECK_ERR(lt_dk_open(&v, gcounter, 1, LT_TYPE_MVREG), LT_E_WRONG_TYPE);
        CHECK_ERR(lt_dk_open(&v, v2, sizeof v2, LT_TYPE_MVREG), LT_E_VERSION);
        CHECK_ERR(lt_dk_open(&v, short_ok, sizeof short_ok, LT_TYPE_MVREG), LT_E_TRUNCATED);
        CHECK_ERR(lt_dk_open(&v, short_ok, 1, LT_TYPE_MVREG), LT_E_TRUNCATED);
        CHECK_ERR(lt_dk_open(&v, short_ok, 0, LT_TYPE_MVREG), LT_E_TRUNCATED);
    }
    lt_buf_free(&want);
    lt_buf_free(&d);
    lt_buf_free(&s);
    lt_buf_free(&d2);
    lt_buf_free(&s2);
}

/* ---- runs of shared entries (lt_dotkernel.c's dk_shared_run) ------------------------------ */

/* The state after actor `a` applies ops on keys ks[0..n) (add, or remove when `rm`) to *s. */
static void apply(lt_buf *s, uint8_t tag, size_t a, const term_t *ks, const size_t *which, size_t n,
                  int rm) {
    lt_dk_op *ops = malloc((n ? n : 1) * sizeof *ops);
    lt_dk_view v;
    lt_buf d, out;
    size_t absent = 0;
    CHECK(ops != NULL);
    for (size_t i = 0; i < n; i++) {
        const term_t *k = &ks[which[i]];
        ops[i].id = k->id;
        ops[i].key = k->b;
        ops[i].key_len = k->len;
        ops[i].add = !rm;
        ops[i].payload = tag == LT_TYPE_LWWMAP ? payload_mem[which[i] % 64] : NULL;
        ops[i].payload_len = tag == LT_TYPE_LWWMAP ? 10 : 0;
    }
    lt_buf_init(&d);
    lt_buf_init(&out);
    if (open_ok(&v, s, tag)) {
        CHECK_ERR(lt_dk_update(&v, actors[a].id, actors[a].b, actors[a].len, ops, n, 0, &d, &out,
                               &absent),
                  LT_OK);
        lt_dk_close(&v);
    }
    lt_buf_free(&d);
    lt_buf_free(s);
    *s = out;
    free(ops);
}

/* The join of x and y, one-shot, in steps of `budget` entries (the same bytes) and through an
 * object (joined x, then y: the same bytes again). Returns the one-shot error. */
static lt_err join3(const lt_buf *x, const lt_buf *y, uint8_t tag, size_t budget, lt_buf *out) {
    lt_dk_view a, b;
    lt_buf_init(out);
    if (!open_ok(&a, x, tag))
        return LT_E_TRUNCATED;
    if (!open_ok(&b, y, tag)) {
        lt_dk_close(&a);
        return LT_E_TRUNCATED;
    }
    lt_err e = lt_dk_merge(&a, &b, out);
    lt_dk_merger *m;
    lt_buf stepped;
    int done = 0;
    lt_err se;
    lt_buf_init(&stepped);
    if ((se = lt_dk_merge_start(&a, &b, &stepped, &m)) == LT_OK) {
        while (!done && (se = lt_dk_merge_step(m, budget, &done)) == LT_OK)
            ;
        lt_dk_merge_free(m);
    }
    CHECK_ERR(se, e);
    if (e == LT_OK) {
        CHECK_MEM(stepped.data, stepped.len, out->data, out->len);
        lt_dk_obj o;
        lt_buf snap;
        lt_dk_obj_init(&o, tag);
        lt_buf_init(&snap);
        CHECK_ERR(lt_dk_obj_join(&o, &a), LT_OK);
        CHECK_ERR(lt_dk_obj_join(&o, &b), LT_OK);
        CHECK_ERR(lt_dk_obj_snapshot(&o, &snap), LT_OK);
        CHECK_MEM(snap.data, snap.len, out->data, out->len);
        lt_buf_free(&snap);
        lt_dk_obj_free(&o);
    }
    lt_buf_free(&stepped);
    lt_dk_close(&a);
    lt_dk_close(&b);
    return e;
}

/* Replicas sharing most of their entries: a common history, then each side's own adds and
 * removes (removes leave clouds: dots past a base end a run), joined one-shot, in steps of
 * 1..40 entries and through objects; all shared, none shared, empty sides; counters of one,
 * two and three bytes. Then bad entries inside a run give the walk's errors. */
static void test_runs(uint8_t tag) {
    enum { K = 400, BIG = 20000 };
    term_t *ks = malloc(BIG * sizeof *ks);
    size_t *which = malloc(BIG * sizeof *which);
    CHECK(ks != NULL && which != NULL);
    for (size_t k = 0; k < BIG; k++)
        ks[k] = int_term((int64_t)k * 7919 + 11);
    uint64_t rng = 99 + tag;
    for (int round = 0; round < 24; round++) {
        lt_buf s0, a, b, m;
        size_t n = 0, base = round % 6 == 0 ? 0 : 300;
        lt_buf_init(&s0);
        lt_buf_put_u8(&s0, tag);
        lt_buf_put_u8(&s0, 1);
        lt_buf_put_u8(&s0, 0);
        lt_buf_put_u8(&s0, 0);
        for (size_t k = 0; k < base; k++)
            which[n++] = k;
        apply(&s0, tag, 0, ks, which, n, 0);
        lt_buf_init(&a);
        lt_buf_init(&b);
        lt_buf_put(&a, s0.data, s0.len);
        lt_buf_put(&b, s0.data, s0.len);
        if (round % 6 != 1) { /* not all shared */
            for (int side = 0; side < 2; side++) {
                n = 0;
                for (size_t k = 0; k < K; k++)
                    if (lt_test_below(&rng, 10) == 0)
                        which[n++] = k;
                apply(side ? &b : &a, tag, side ? 1 : (round % 2 ? 0 : 2), ks, which, n, 0);
                n = 0;
                for (size_t k = 0; k < base; k++)
                    if (lt_test_below(&rng, 40) == 0)
                        which[n++] = k;
                apply(side ? &b : &a, tag, side ? 1 : 0, ks, which, n, 1);
            }
        }
        CHECK_ERR(join3(&a, &b, tag, 1 + lt_test_below(&rng, 40), &m), LT_OK);
        lt_buf_free(&m);
        CHECK_ERR(join3(&b, &a, tag, 1 + lt_test_below(&rng, 40), &m), LT_OK);
        lt_buf_free(&m);
        CHECK_ERR(join3(&a, &a, tag, 1 + lt_test_below(&rng, 40), &m), LT_OK);
        CHECK_MEM(m.data, m.len, a.data, a.len);
        lt_buf_free(&m);
        CHECK_ERR(join3(&s0, &a, tag, SIZE_MAX, &m), LT_OK);
        lt_buf_free(&m);
        lt_buf_free(&s0);
        lt_buf_free(&a);
        lt_buf_free(&b);
    }
    /* Entries byte for byte the same under different actors: a common history of actor r
     * (the smallest id: index 0 everywhere), then actor p on one side and q on the other each
     * adding keys 200..299 alone, in the same order: the same counters at the same index 1,
     * but different dots, which the join keeps both of. Runs start on r's shared entries;
     * p's and q's output indices are 1 and 2 in one order of the pair, 2 and 1 in the other. */
    size_t r0 = 0;
    for (size_t x = 1; x < NREP; x++)
        if (actors[x].id < actors[r0].id)
            r0 = x;
    for (size_t pair = 0; pair < 2; pair++) {
        size_t p1 = (r0 + 1 + pair) % NREP, q1 = (r0 + 2 - pair) % NREP;
        lt_buf x, y, m;
        lt_buf_init(&x);
        lt_buf_put_u8(&x, tag);
        lt_buf_put_u8(&x, 1);
        lt_buf_put_u8(&x, 0);
        lt_buf_put_u8(&x, 0);
        for (size_t k = 0; k < 300; k++)
            which[k] = k;
        apply(&x, tag, r0, ks, which, 200, 0);
        lt_buf_init(&y);
        lt_buf_put(&y, x.data, x.len);
        apply(&x, tag, p1, ks, which + 200, 100, 0);
        apply(&y, tag, q1, ks, which + 200, 100, 0);
        CHECK_ERR(join3(&x, &y, tag, SIZE_MAX, &m), LT_OK);
        lt_dk_view vm;
        if (open_ok(&vm, &m, tag)) {
            size_t off = 0, two = 0;
            CHECK(vm.ne == 300);
            for (size_t i = 0; i < vm.ne; i++) {
                lt_dk_entry e;
                CHECK_ERR(lt_dk_next(&vm, i, &off, &e), LT_OK);
                two += e.nd == 2;
            }
            CHECK(two == 100);
            lt_dk_close(&vm);
        }
        lt_buf_free(&m);
        lt_buf_free(&x);
        lt_buf_free(&y);
    }
    /* Counters past 2^7 and 2^14: 20000 keys of one actor, shared, and 100 more on one side. */
    {
        lt_buf a, b, m;
        lt_buf_init(&a);
        lt_buf_put_u8(&a, tag);
        lt_buf_put_u8(&a, 1);
        lt_buf_put_u8(&a, 0);
        lt_buf_put_u8(&a, 0);
        for (size_t k = 0; k < BIG; k++)
            which[k] = k;
        apply(&a, tag, 0, ks, which, BIG - 100, 0);
        lt_buf_init(&b);
        lt_buf_put(&b, a.data, a.len);
        apply(&b, tag, 0, ks, which + BIG - 100, 100, 0);
        CHECK_ERR(join3(&a, &b, tag, 64, &m), LT_OK);
        CHECK_MEM(m.data, m.len, b.data, b.len);
        lt_buf_free(&m);
        /* Bad inside a run: B's base for the actor lowered (a two-byte varint kept two bytes:
         * 19900 -> 16500), so its dots past 16500 are not in its context. */
        lt_dk_view vb;
        CHECK(open_ok(&vb, &a, tag));
        size_t at = (size_t)(vb.actors[0].bytes - a.data) + vb.actors[0].len;
        lt_dk_close(&vb);
        lt_buf_free(&b);
        lt_buf_init(&b);
        lt_buf_put(&b, a.data, a.len);
        CHECK(lt_varint_len(19900) == 3 && lt_varint_len(16500) == 3);
        CHECK(b.data[at] == (uint8_t)(0x80 | (19900 & 0x7f)));
        lt_varint_write(b.data + at, 16500);
        CHECK_ERR(join3(&a, &b, tag, SIZE_MAX, &m), LT_E_DOT);
        lt_buf_free(&m);
        CHECK_ERR(join3(&b, &a, tag, SIZE_MAX, &m), LT_E_DOT);
        lt_buf_free(&m);
        /* Both sides: a key length of 0, and then two ids swapped, in the middle of a run. */
        lt_dk_view va;
        CHECK(open_ok(&va, &a, tag));
        size_t ids_at = (size_t)(va.ids - a.data), ent_at = (size_t)(va.entries - a.data);
        size_t off = 0;
        for (size_t i = 0; i < 5000; i++) {
            lt_dk_entry e;
            CHECK_ERR(lt_dk_next(&va, i, &off, &e), LT_OK);
        }
        lt_dk_close(&va);
        lt_buf_free(&b);
        for (int bad = 0; bad < 2; bad++) {
            lt_buf x, y;
            lt_buf_init(&x);
            lt_buf_put(&x, a.data, a.len);
            if (bad == 0) {
                x.data[ent_at + off] = 0;
            } else {
                uint8_t t[8];
                memcpy(t, x.data + ids_at + 8 * 5000, 8);
                memcpy(x.data + ids_at + 8 * 5000, x.data + ids_at + 8 * 5001, 8);
                memcpy(x.data + ids_at + 8 * 5001, t, 8);
            }
            lt_buf_init(&y);
            lt_buf_put(&y, x.data, x.len);
            CHECK_ERR(join3(&x, &y, tag, 7, &m), bad == 0 ? LT_E_NONCANONICAL : LT_E_ORDER);
            lt_buf_free(&m);
            lt_buf_free(&x);
            lt_buf_free(&y);
        }
        lt_buf_free(&a);
    }
    free(ks);
    free(which);
}

int main(void) {
    for (size_t k = 0; k < NKEYS; k++)
        keys[k] = int_term((int64_t)k * 1000003);
    for (size_t a = 0; a < NREP; a++)
        actors[a] = int_term(-(int64_t)a - 1);
    for (size_t p = 0; p < 64; p++) {
        memset(payload_mem[p], 0, 8);
        payload_mem[p][7] = (uint8_t)(p / 4); /* timestamps that tie now and then */
        lt_buf b;
        lt_buf_init_fixed(&b, payload_mem[p] + 8, 8);
        lt_canon_put_int(&b, (int64_t)p);
        CHECK(b.len == 2);
    }
    known_bytes();
    uint8_t tags[] = {LT_TYPE_ORSET, LT_TYPE_LWWMAP, LT_TYPE_MVREG};
    for (size_t t = 0; t < 3; t++)
        for (uint64_t seed = 1; seed <= 40; seed++)
            history(tags[t], seed * 7919 + t, 120);
    test_runs(LT_TYPE_ORSET);
    test_runs(LT_TYPE_LWWMAP);
    return lt_test_summary();
}
