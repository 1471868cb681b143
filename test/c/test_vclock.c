/* test_vclock.c — vector clocks (lt_vclock.h): build, compare (both paths, resumable), merge
 * (both paths), increment, drop, find, the two levels of checking, forced id collisions, and
 * a randomized differential test against a plain-array model. */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_vclock.h"

#define MAXE 256 /* the most entries a test clock has */

/* An actor: its canonical bytes and its id (normally the hash; forced for collision tests). */
typedef struct {
    uint8_t b[48];
    size_t len;
    uint64_t id;
} actor_t;

static actor_t atom_actor(const char *name) {
    actor_t a;
    lt_buf b;
    lt_buf_init_fixed(&b, a.b, sizeof a.b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)name, strlen(name)), LT_OK);
    CHECK(!b.failed);
    a.len = b.len;
    a.id = lt_actor_id(a.b, a.len);
    return a;
}

/* {node, N}: a tuple actor, to mix shapes. */
static actor_t tuple_actor(int64_t n) {
    actor_t a;
    lt_buf b;
    lt_buf_init_fixed(&b, a.b, sizeof a.b);
    lt_canon_put_tuple(&b, 2);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"node", 4), LT_OK);
    lt_canon_put_int(&b, n);
    CHECK(!b.failed);
    a.len = b.len;
    a.id = lt_actor_id(a.b, a.len);
    return a;
}

static actor_t forced(actor_t a, uint64_t id) {
    a.id = id;
    return a;
}

/* A clock from (actor, counter) pairs through lt_vclock_build. `out` is initialised here. */
static lt_err mk(lt_buf *out, size_t n, const actor_t *const *acts, const uint64_t *ctrs) {
    lt_vclock_entry e[MAXE];
    for (size_t k = 0; k < n; k++) {
        e[k].id = acts[k]->id;
        e[k].counter = ctrs[k];
        e[k].actor = acts[k]->b;
        e[k].actor_len = acts[k]->len;
    }
    lt_buf_init(out);
    return lt_vclock_build(e, n, out);
}

/* A clock written byte by byte, in the given order, with no checks at all. */
static void raw_clock(lt_buf *out, size_t n, const uint64_t *ids, const uint64_t *ctrs,
                      const actor_t *const *acts) {
    lt_buf_init(out);
    lt_buf_put_u8(out, LT_TYPE_VCLOCK);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, n);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, ids[k]);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, ctrs[k]);
    for (size_t k = 0; k < n; k++) {
        lt_buf_put_varint(out, acts[k]->len);
        lt_buf_put(out, acts[k]->b, acts[k]->len);
    }
}

/* The structural check, run to completion with the given budget. */
static lt_err check(const uint8_t *p, size_t len, size_t budget) {
    lt_vclock_view v;
    lt_err e = lt_vclock_open(&v, p, len);
    if (e != LT_OK)
        return e;
    lt_vclock_check st;
    memset(&st, 0, sizeof st);
    int done = 0;
    for (size_t rounds = 0; !done; rounds++) {
        if ((e = lt_vclock_check_step(&v, &st, budget, &done)) != LT_OK)
            return e;
        if (rounds > v.n + 2)
            return LT_E_TOO_BIG; /* no progress: a bug */
    }
    return LT_OK;
}

static lt_err check_full(const uint8_t *p, size_t len) {
    lt_vclock_view v;
    lt_err e = lt_vclock_open(&v, p, len);
    return e != LT_OK ? e : lt_vclock_check_full(&v);
}

/* Whether two clocks have byte-identical id columns and actor sections: the pairs that
 * compare and merge take their fast path on. */
static int same_actors(const lt_buf *a, const lt_buf *b) {
    lt_vclock_view va, vb;
    if (lt_vclock_open(&va, a->data, a->len) != LT_OK ||
        lt_vclock_open(&vb, b->data, b->len) != LT_OK)
        return 0;
    return va.n == vb.n && va.names_len == vb.names_len && memcmp(va.ids, vb.ids, 8 * va.n) == 0 &&
           memcmp(va.names, vb.names, va.names_len) == 0;
}

/* A whole compare with the given budget per step. */
static lt_err compare(const lt_buf *a, const lt_buf *b, size_t budget, unsigned *flags) {
    lt_vclock_view va, vb;
    lt_err e;
    if ((e = lt_vclock_open(&va, a->data, a->len)) != LT_OK)
        return e;
    if ((e = lt_vclock_open(&vb, b->data, b->len)) != LT_OK)
        return e;
    lt_vclock_cmp c;
    lt_vclock_cmp_init(&c);
    int done = 0;
    size_t limit = 4 * (va.n + vb.n) + va.names_len / 16 + 16;
    for (size_t steps = 0; !done; steps++) {
        if ((e = lt_vclock_cmp_step(&c, &va, &vb, budget, &done)) != LT_OK)
            return e;
        if (steps > limit)
            return LT_E_TOO_BIG; /* no progress: a bug */
    }
    *flags = c.flags;
    return LT_OK;
}

/* Compares with budgets 1, 2, 3 and unlimited; all must agree. Returns the flags or -1.
 * *same says whether the pair is one for the fast path. */
static int cmp_all(const lt_buf *a, const lt_buf *b, int *same) {
    unsigned f0 = 99;
    *same = same_actors(a, b);
    if (compare(a, b, (size_t)-1, &f0) != LT_OK)
        return -1;
    for (size_t budget = 1; budget <= 3; budget++) {
        unsigned f = 98;
        if (compare(a, b, budget, &f) != LT_OK || f != f0)
            return -1;
    }
    return (int)f0;
}

static lt_err merge(const lt_buf *a, const lt_buf *b, lt_buf *out) {
    lt_vclock_view va, vb;
    lt_err e;
    lt_buf_init(out);
    if ((e = lt_vclock_open(&va, a->data, a->len)) != LT_OK)
        return e;
    if ((e = lt_vclock_open(&vb, b->data, b->len)) != LT_OK)
        return e;
    return lt_vclock_merge(&va, &vb, out);
}

static actor_t A, B, C, D, E;

static void test_build(void) {
    lt_buf c;
    /* The empty clock. */
    CHECK_ERR(mk(&c, 0, NULL, NULL), LT_OK);
    {
        const uint8_t want[] = {0x01, 0x01, 0x00};
        CHECK_BYTES(c.data, c.len, want);
    }
    CHECK_ERR(check_full(c.data, c.len), LT_OK);
    lt_buf_free(&c);

    /* One actor: header, id, counter, actor — exact bytes. */
    const actor_t *one[] = {&A};
    const uint64_t c5[] = {5};
    CHECK_ERR(mk(&c, 1, one, c5), LT_OK);
    {
        uint8_t want[3 + 16 + 1 + 3] = {0x01, 0x01, 0x01};
        lt_write_be64(want + 3, A.id);
        lt_write_be64(want + 11, 5);
        want[19] = 3;
        memcpy(want + 20, A.b, 3);
        CHECK(A.len == 3);
        CHECK_BYTES(c.data, c.len, want);
    }
    CHECK_ERR(check_full(c.data, c.len), LT_OK);
    lt_buf_free(&c);

    /* Entries in any order come out sorted by id; zero counters are left out. */
    const actor_t *acts[] = {&E, &C, &A, &D, &B};
    const uint64_t ctrs[] = {1, 2, 0, 4, 5};
    CHECK_ERR(mk(&c, 5, acts, ctrs), LT_OK);
    CHECK_ERR(check_full(c.data, c.len), LT_OK);
    lt_vclock_view v;
    CHECK_ERR(lt_vclock_open(&v, c.data, c.len), LT_OK);
    CHECK(v.n == 4);
    for (size_t k = 1; k < v.n; k++)
        CHECK(lt_vclock_id(&v, k - 1) < lt_vclock_id(&v, k));
    CHECK(lt_vclock_find(&v, A.id, A.b, A.len) == -1);
    ptrdiff_t i = lt_vclock_find(&v, D.id, D.b, D.len);
    CHECK(i >= 0 && lt_vclock_counter(&v, (size_t)i) == 4);
    i = lt_vclock_find(&v, B.id, B.b, B.len);
    CHECK(i >= 0 && lt_vclock_counter(&v, (size_t)i) == 5);
    /* Walk the actor section. */
    size_t off = 0;
    for (size_t k = 0; k < v.n; k++) {
        const uint8_t *ab;
        size_t al;
        CHECK_ERR(lt_vclock_next_actor(&v, &off, &ab, &al), LT_OK);
        CHECK_U64(lt_actor_id(ab, al), lt_vclock_id(&v, k));
    }
    CHECK(off == v.names_len);
    lt_buf_free(&c);

    /* Two entries for one actor. */
    const actor_t *dup[] = {&A, &B, &A};
    const uint64_t dc[] = {1, 2, 3};
    CHECK_ERR(mk(&c, 3, dup, dc), LT_E_ORDER);
    lt_buf_free(&c);

    /* Into a fixed buffer of exactly the clock's size. */
    const actor_t *two[] = {&A, &B};
    const uint64_t tc[] = {1, 2};
    CHECK_ERR(mk(&c, 2, two, tc), LT_OK);
    {
        uint8_t *mem = malloc(c.len);
        lt_buf fx;
        lt_vclock_entry e2[2] = {{A.id, 1, A.b, A.len}, {B.id, 2, B.b, B.len}};
        lt_buf_init_fixed(&fx, mem, c.len);
        CHECK_ERR(lt_vclock_build(e2, 2, &fx), LT_OK);
        CHECK_MEM(mem, fx.len, c.data, c.len);
        lt_buf_init_fixed(&fx, mem, c.len - 1);
        CHECK_ERR(lt_vclock_build(e2, 2, &fx), LT_E_NOMEM);
        free(mem);
    }
    lt_buf_free(&c);
}

static void test_compare(void) {
    lt_buf x, y;
    int same = -1;
    const actor_t *ab[] = {&A, &B};
    /* Same actors: the fast path, all four outcomes. */
    const uint64_t c12[] = {1, 2}, c22[] = {2, 2}, c13[] = {1, 3}, c21[] = {2, 1};
    CHECK_ERR(mk(&x, 2, ab, c12), LT_OK);
    CHECK_ERR(mk(&y, 2, ab, c12), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == 0 && same == 1);
    lt_buf_free(&y);
    CHECK_ERR(mk(&y, 2, ab, c22), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD && same == 1);
    CHECK(cmp_all(&y, &x, &same) == LT_VC_A_AHEAD && same == 1);
    lt_buf_free(&y);
    CHECK_ERR(mk(&y, 2, ab, c13), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD && same == 1);
    lt_buf_free(&y);
    CHECK_ERR(mk(&y, 2, ab, c21), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 1);
    CHECK(cmp_all(&y, &x, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 1);
    /* A clock against itself (the same bytes). */
    CHECK(cmp_all(&x, &x, &same) == 0 && same == 1);
    lt_buf_free(&y);
    lt_buf_free(&x);

    /* Different actors: the general walk. */
    const actor_t *a_[] = {&A}, *b_[] = {&B}, *abc[] = {&A, &B, &C}, *ac[] = {&A, &C};
    const uint64_t one[] = {1}, two[] = {2}, c111[] = {1, 1, 1}, c31[] = {3, 1};
    CHECK_ERR(mk(&x, 1, a_, one), LT_OK);
    CHECK_ERR(mk(&y, 2, ab, c12), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD && same == 0);
    CHECK(cmp_all(&y, &x, &same) == LT_VC_A_AHEAD && same == 0);
    lt_buf_free(&x);
    CHECK_ERR(mk(&x, 1, b_, one), LT_OK); /* {b:1} vs {a:1, b:2} */
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD);
    lt_buf_free(&x);
    CHECK_ERR(mk(&x, 1, b_, two), LT_OK); /* {b:2} vs {a:1, b:2} */
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD);
    lt_buf_free(&x);
    CHECK_ERR(mk(&x, 1, a_, two), LT_OK); /* {a:2} vs {a:1, b:2} */
    CHECK(cmp_all(&x, &y, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD));
    lt_buf_free(&x);
    lt_buf_free(&y);
    CHECK_ERR(mk(&x, 1, a_, one), LT_OK);
    CHECK_ERR(mk(&y, 1, b_, one), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 0);
    lt_buf_free(&x);
    lt_buf_free(&y);
    CHECK_ERR(mk(&x, 3, abc, c111), LT_OK);
    CHECK_ERR(mk(&y, 2, ac, c31), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD));
    lt_buf_free(&y);
    const uint64_t c11[] = {1, 1};
    CHECK_ERR(mk(&y, 2, ac, c11), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_A_AHEAD);
    CHECK(cmp_all(&y, &x, &same) == LT_VC_B_AHEAD);
    lt_buf_free(&x);
    lt_buf_free(&y);
    /* Empty clocks. */
    CHECK_ERR(mk(&x, 0, NULL, NULL), LT_OK);
    CHECK_ERR(mk(&y, 0, NULL, NULL), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == 0);
    lt_buf_free(&y);
    CHECK_ERR(mk(&y, 1, a_, one), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD);
    CHECK(cmp_all(&y, &x, &same) == LT_VC_A_AHEAD);
    lt_buf_free(&x);
    lt_buf_free(&y);

    /* The counters of b are checked even on the fast path (b's actor columns are a's). */
    const uint64_t ids2[] = {A.id < B.id ? A.id : B.id, A.id < B.id ? B.id : A.id};
    const actor_t *sorted[] = {A.id < B.id ? &A : &B, A.id < B.id ? &B : &A};
    const uint64_t good[] = {1, 1}, zero_last[] = {1, 0};
    raw_clock(&x, 2, ids2, good, sorted);
    raw_clock(&y, 2, ids2, zero_last, sorted);
    unsigned flags;
    CHECK_ERR(compare(&x, &y, (size_t)-1, &flags), LT_E_ZERO);
    CHECK_ERR(compare(&x, &y, 1, &flags), LT_E_ZERO);
    CHECK_ERR(compare(&y, &x, (size_t)-1, &flags), LT_E_ZERO);
    lt_buf out;
    CHECK_ERR(merge(&x, &y, &out), LT_E_ZERO);
    lt_buf_free(&out);
    CHECK_ERR(merge(&y, &x, &out), LT_E_ZERO);
    lt_buf_free(&out);
    lt_buf_free(&y);
    /* ...and b's structure on the general path. */
    const actor_t *bad_order[] = {sorted[1], sorted[0]};
    const uint64_t ids_rev[] = {ids2[1], ids2[0]};
    raw_clock(&y, 2, ids_rev, good, bad_order);
    CHECK_ERR(compare(&x, &y, (size_t)-1, &flags), LT_E_ORDER);
    CHECK_ERR(compare(&x, &y, 1, &flags), LT_E_ORDER);
    CHECK_ERR(merge(&x, &y, &out), LT_E_ORDER);
    lt_buf_free(&out);
    lt_buf_free(&x);
    lt_buf_free(&y);

    /* A long clock, compared with budget 1 step by step: the same answer, in bounded work. */
    actor_t many[40];
    const actor_t *mp[40];
    uint64_t mc[40], md[40];
    for (int k = 0; k < 40; k++) {
        many[k] = tuple_actor(k);
        mp[k] = &many[k];
        mc[k] = (uint64_t)k + 1;
        md[k] = (uint64_t)k + 1;
    }
    md[39] = 100;
    CHECK_ERR(mk(&x, 40, mp, mc), LT_OK);
    CHECK_ERR(mk(&y, 40, mp, md), LT_OK);
    CHECK(cmp_all(&x, &y, &same) == LT_VC_B_AHEAD && same == 1);
    lt_buf_free(&y);
    CHECK_ERR(mk(&y, 39, mp, md), LT_OK); /* one actor fewer */
    CHECK(cmp_all(&x, &y, &same) == LT_VC_A_AHEAD && same == 0);
    CHECK(cmp_all(&y, &x, &same) == LT_VC_B_AHEAD && same == 0);
    {
        lt_vclock_view va, vb;
        CHECK_ERR(lt_vclock_open(&va, x.data, x.len), LT_OK);
        CHECK_ERR(lt_vclock_open(&vb, y.data, y.len), LT_OK);
        lt_vclock_cmp c;
        lt_vclock_cmp_init(&c);
        int done = 0;
        size_t steps = 0;
        while (!done && steps < 1000) {
            CHECK_ERR(lt_vclock_cmp_step(&c, &va, &vb, 1, &done), LT_OK);
            steps++;
        }
        CHECK(done && c.flags == LT_VC_A_AHEAD);
        CHECK(steps >= 40); /* budget 1 really is one entry at a time */
        /* Calling again after done is harmless. */
        CHECK_ERR(lt_vclock_cmp_step(&c, &va, &vb, 1, &done), LT_OK);
        CHECK(done && c.flags == LT_VC_A_AHEAD);
    }
    lt_buf_free(&x);
    lt_buf_free(&y);
}

/* Reference merge: the pointwise max of two lists of (actor, counter), built afresh. */
static lt_err ref_merge(size_t na, const actor_t *const *aa, const uint64_t *ac, size_t nb,
                        const actor_t *const *ba, const uint64_t *bc, lt_buf *out) {
    const actor_t *acts[MAXE];
    uint64_t ctrs[MAXE];
    size_t n = 0;
    for (size_t k = 0; k < na; k++) {
        acts[n] = aa[k];
        ctrs[n++] = ac[k];
    }
    for (size_t k = 0; k < nb; k++) {
        size_t j = 0;
        while (j < n && !(acts[j]->id == ba[k]->id && acts[j]->len == ba[k]->len &&
                          memcmp(acts[j]->b, ba[k]->b, ba[k]->len) == 0))
            j++;
        if (j == n) {
            acts[n] = ba[k];
            ctrs[n++] = bc[k];
        } else if (bc[k] > ctrs[j]) {
            ctrs[j] = bc[k];
        }
    }
    return mk(out, n, acts, ctrs);
}

static void expect_merge(size_t na, const actor_t *const *aa, const uint64_t *ac, size_t nb,
                         const actor_t *const *ba, const uint64_t *bc) {
    lt_buf x, y, got, want;
    CHECK_ERR(mk(&x, na, aa, ac), LT_OK);
    CHECK_ERR(mk(&y, nb, ba, bc), LT_OK);
    CHECK_ERR(ref_merge(na, aa, ac, nb, ba, bc, &want), LT_OK);
    CHECK_ERR(merge(&x, &y, &got), LT_OK);
    CHECK_MEM(got.data, got.len, want.data, want.len);
    lt_buf_free(&got);
    CHECK_ERR(merge(&y, &x, &got), LT_OK); /* commutative */
    CHECK_MEM(got.data, got.len, want.data, want.len);
    /* The merge is ahead of or equal to both. */
    unsigned f;
    CHECK_ERR(compare(&x, &got, 1, &f), LT_OK);
    CHECK((f & LT_VC_A_AHEAD) == 0);
    CHECK_ERR(compare(&y, &got, (size_t)-1, &f), LT_OK);
    CHECK((f & LT_VC_A_AHEAD) == 0);
    lt_buf_free(&got);

    /* Into a fixed buffer of a.size + b.size (what the NIF hands in): must fit. */
    lt_vclock_view va, vb;
    CHECK_ERR(lt_vclock_open(&va, x.data, x.len), LT_OK);
    CHECK_ERR(lt_vclock_open(&vb, y.data, y.len), LT_OK);
    uint8_t *mem = malloc(x.len + y.len);
    lt_buf fx;
    lt_buf_init_fixed(&fx, mem, x.len + y.len);
    CHECK_ERR(lt_vclock_merge(&va, &vb, &fx), LT_OK);
    CHECK_MEM(mem, fx.len, want.data, want.len);
    free(mem);

    lt_buf_free(&want);
    lt_buf_free(&x);
    lt_buf_free(&y);
}

static void test_merge(void) {
    const actor_t *ab[] = {&A, &B}, *a_[] = {&A}, *b_[] = {&B}, *cde[] = {&C, &D, &E};
    const actor_t *abcde[] = {&A, &B, &C, &D, &E}, *bd[] = {&B, &D};
    const uint64_t c12[] = {1, 2}, c21[] = {2, 1}, c7[] = {7}, c9[] = {9};
    const uint64_t c345[] = {3, 4, 5}, c11111[] = {1, 1, 1, 1, 1}, c99[] = {9, 9};
    const uint64_t big[] = {UINT64_MAX, 1};
    expect_merge(2, ab, c12, 2, ab, c21);       /* same actors */
    expect_merge(2, ab, c12, 2, ab, c12);       /* identical */
    expect_merge(2, ab, big, 2, ab, c12);       /* same actors, extreme counter */
    expect_merge(1, a_, c7, 1, b_, c9);         /* disjoint */
    expect_merge(2, ab, c12, 3, cde, c345);     /* disjoint, more */
    expect_merge(5, abcde, c11111, 2, bd, c99); /* overlapping */
    expect_merge(0, NULL, NULL, 2, ab, c12);    /* with the empty clock */
    expect_merge(0, NULL, NULL, 0, NULL, NULL);

    /* Merging a clock with itself gives back its bytes (fast path), and the result's
     * structure is checked on a's side too. */
    lt_buf x, got;
    CHECK_ERR(mk(&x, 5, abcde, c11111), LT_OK);
    CHECK_ERR(merge(&x, &x, &got), LT_OK);
    CHECK_MEM(got.data, got.len, x.data, x.len);
    lt_buf_free(&got);
    lt_buf_free(&x);
}

static void test_increment(void) {
    lt_buf x, out, want;
    lt_vclock_view v;
    /* Into the empty clock. */
    CHECK_ERR(mk(&x, 0, NULL, NULL), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, B.id, B.b, B.len, 3, &out), LT_OK);
    const actor_t *b_[] = {&B};
    const uint64_t c3[] = {3};
    CHECK_ERR(mk(&want, 1, b_, c3), LT_OK);
    CHECK_MEM(out.data, out.len, want.data, want.len);
    lt_buf_free(&want);
    lt_buf_free(&out);
    lt_buf_free(&x);

    /* Insert every actor of the universe into a clock holding some of them, in each position
     * the id order gives; update the ones present. Compare against a fresh build. */
    const actor_t *all[] = {&A, &B, &C, &D, &E};
    for (unsigned mask = 0; mask < 32; mask++) {
        const actor_t *have[5];
        uint64_t ctr[5];
        size_t n = 0;
        for (unsigned k = 0; k < 5; k++)
            if (mask & (1u << k)) {
                have[n] = all[k];
                ctr[n++] = 10 + k;
            }
        CHECK_ERR(mk(&x, n, have, ctr), LT_OK);
        CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
        for (unsigned k = 0; k < 5; k++) {
            const actor_t *t = all[k];
            lt_buf_init(&out);
            CHECK_ERR(lt_vclock_increment(&v, t->id, t->b, t->len, 2, &out), LT_OK);
            /* The model: the same list with t raised by 2. */
            const actor_t *m[6];
            uint64_t mc[6];
            size_t mn = 0, found = 0;
            for (size_t j = 0; j < n; j++) {
                m[mn] = have[j];
                mc[mn] = ctr[j] + (have[j] == t ? 2 : 0);
                found |= have[j] == t;
                mn++;
            }
            if (!found) {
                m[mn] = t;
                mc[mn++] = 2;
            }
            CHECK_ERR(mk(&want, mn, m, mc), LT_OK);
            CHECK_MEM(out.data, out.len, want.data, want.len);
            CHECK_ERR(check_full(out.data, out.len), LT_OK);
            /* A fixed buffer sized as the NIF sizes it. */
            size_t cap = x.len + t->len + 16 + 10 + 10;
            uint8_t *mem = malloc(cap);
            lt_buf fx;
            lt_buf_init_fixed(&fx, mem, cap);
            CHECK_ERR(lt_vclock_increment(&v, t->id, t->b, t->len, 2, &fx), LT_OK);
            CHECK_MEM(mem, fx.len, want.data, want.len);
            free(mem);
            lt_buf_free(&want);
            lt_buf_free(&out);
        }
        lt_buf_free(&x);
    }

    /* By zero, and overflow. */
    const actor_t *ab[] = {&A, &B};
    const uint64_t near[] = {UINT64_MAX - 1, 5};
    CHECK_ERR(mk(&x, 2, ab, near), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, 0, &out), LT_E_ZERO);
    CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, 2, &out), LT_E_OVERFLOW);
    CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, UINT64_MAX, &out), LT_E_OVERFLOW);
    CHECK(out.len == 0);
    CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, 1, &out), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, out.data, out.len), LT_OK);
    {
        ptrdiff_t i = lt_vclock_find(&v, A.id, A.b, A.len);
        CHECK(i >= 0);
        if (i >= 0)
            CHECK_U64(lt_vclock_counter(&v, (size_t)i), UINT64_MAX);
    }
    lt_buf_free(&out);
    lt_buf_free(&x);
    /* A new actor may start at UINT64_MAX. */
    CHECK_ERR(mk(&x, 0, NULL, NULL), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, UINT64_MAX, &out), LT_OK);
    CHECK_ERR(check_full(out.data, out.len), LT_OK);
    lt_buf_free(&out);
    lt_buf_free(&x);
}

static void test_drop_find(void) {
    const actor_t *all[] = {&A, &B, &C, &D, &E};
    const uint64_t ctr[] = {1, 2, 3, 4, 5};
    lt_buf x, out, want;
    CHECK_ERR(mk(&x, 5, all, ctr), LT_OK);
    lt_vclock_view v;
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    /* Every subset dropped, by index. */
    for (unsigned mask = 0; mask < 32; mask++) {
        uint8_t drop[5];
        const actor_t *keep[5];
        uint64_t kc[5];
        size_t n = 0;
        for (size_t i = 0; i < 5; i++) {
            const uint8_t *ab;
            size_t al;
            size_t off = 0;
            /* the actor at index i */
            for (size_t j = 0; j <= i; j++)
                CHECK_ERR(lt_vclock_next_actor(&v, &off, &ab, &al), LT_OK);
            drop[i] = (uint8_t)((mask >> i) & 1);
            if (!drop[i]) {
                for (size_t k = 0; k < 5; k++)
                    if (all[k]->len == al && memcmp(all[k]->b, ab, al) == 0) {
                        keep[n] = all[k];
                        kc[n++] = ctr[k];
                    }
            }
        }
        lt_buf_init(&out);
        CHECK_ERR(lt_vclock_drop(&v, drop, &out), LT_OK);
        CHECK_ERR(mk(&want, n, keep, kc), LT_OK);
        CHECK_MEM(out.data, out.len, want.data, want.len);
        CHECK_ERR(check_full(out.data, out.len), LT_OK);
        /* Into a fixed buffer of the input's size (what the NIF hands in). */
        uint8_t *mem = malloc(x.len);
        lt_buf fx;
        lt_buf_init_fixed(&fx, mem, x.len);
        CHECK_ERR(lt_vclock_drop(&v, drop, &fx), LT_OK);
        CHECK_MEM(mem, fx.len, want.data, want.len);
        free(mem);
        lt_buf_free(&want);
        lt_buf_free(&out);
    }
    /* NULL drops nothing. */
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_drop(&v, NULL, &out), LT_OK);
    CHECK_MEM(out.data, out.len, x.data, x.len);
    lt_buf_free(&out);

    /* find: present, absent, present id with other bytes. */
    for (size_t k = 0; k < 5; k++) {
        ptrdiff_t i = lt_vclock_find(&v, all[k]->id, all[k]->b, all[k]->len);
        CHECK(i >= 0 && (size_t)i < 5 && lt_vclock_id(&v, (size_t)i) == all[k]->id);
        CHECK(i >= 0 && lt_vclock_counter(&v, (size_t)i) == ctr[k]);
        CHECK(lt_vclock_find(&v, all[k]->id, B.b, B.len) == (all[k] == &B ? i : -1));
        CHECK(lt_vclock_find(&v, all[k]->id ^ 1, all[k]->b, all[k]->len) == -1);
    }
    CHECK(lt_vclock_find(&v, 0, A.b, A.len) == -1);
    CHECK(lt_vclock_find(&v, UINT64_MAX, A.b, A.len) == -1);

    /* get: the structure check and the lookup in one. */
    for (size_t k = 0; k < 5; k++) {
        uint64_t cnt = 99;
        CHECK_ERR(lt_vclock_get(&v, all[k]->id, all[k]->b, all[k]->len, &cnt), LT_OK);
        CHECK_U64(cnt, ctr[k]);
        cnt = 99;
        CHECK_ERR(lt_vclock_get(&v, all[k]->id ^ 1, all[k]->b, all[k]->len, &cnt), LT_OK);
        CHECK_U64(cnt, 0);
    }

    /* prune: by actor, absent actors and repeats are fine. */
    {
        actor_t absent = atom_actor("absent");
        lt_vclock_entry pr[4] = {{C.id, 0, C.b, C.len},
                                 {absent.id, 0, absent.b, absent.len},
                                 {A.id, 7, A.b, A.len},
                                 {C.id, 0, C.b, C.len}};
        const actor_t *keep[] = {&B, &D, &E};
        const uint64_t kc[] = {2, 4, 5};
        lt_buf_init(&out);
        CHECK_ERR(lt_vclock_prune(&v, pr, 4, &out), LT_OK);
        CHECK_ERR(mk(&want, 3, keep, kc), LT_OK);
        CHECK_MEM(out.data, out.len, want.data, want.len);
        lt_buf_free(&want);
        lt_buf_free(&out);
        lt_buf_init(&out);
        CHECK_ERR(lt_vclock_prune(&v, pr, 0, &out), LT_OK);
        CHECK_MEM(out.data, out.len, x.data, x.len);
        lt_buf_free(&out);
        uint8_t *mem = malloc(x.len);
        lt_buf fx;
        lt_buf_init_fixed(&fx, mem, x.len);
        CHECK_ERR(lt_vclock_prune(&v, pr, 1, &fx), LT_OK);
        CHECK_ERR(check_full(mem, fx.len), LT_OK);
        free(mem);
    }
    lt_buf_free(&x);
    CHECK_ERR(mk(&x, 0, NULL, NULL), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    CHECK(lt_vclock_find(&v, A.id, A.b, A.len) == -1);
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_drop(&v, NULL, &out), LT_OK);
    CHECK_MEM(out.data, out.len, x.data, x.len);
    lt_buf_free(&out);
    lt_buf_free(&x);
}

static void expect_bad(const lt_buf *x, lt_err want) {
    CHECK_ERR(check(x->data, x->len, (size_t)-1), want);
    CHECK_ERR(check(x->data, x->len, 1), want);
    CHECK_ERR(check_full(x->data, x->len), want);
    /* Every operation checks structure first. */
    lt_vclock_view v;
    if (lt_vclock_open(&v, x->data, x->len) == LT_OK) {
        lt_buf out, empty;
        unsigned f;
        lt_buf_init(&out);
        CHECK_ERR(lt_vclock_increment(&v, A.id, A.b, A.len, 1, &out), want);
        CHECK_ERR(lt_vclock_drop(&v, NULL, &out), want);
        lt_buf_free(&out);
        uint64_t cnt;
        CHECK_ERR(lt_vclock_get(&v, A.id, A.b, A.len, &cnt), want);
        CHECK(lt_vclock_find(&v, A.id, A.b, A.len) == -1);
        CHECK_ERR(mk(&empty, 0, NULL, NULL), LT_OK);
        CHECK_ERR(compare(x, &empty, 1, &f), want);
        CHECK_ERR(compare(&empty, x, (size_t)-1, &f), want);
        CHECK_ERR(merge(x, &empty, &out), want);
        lt_buf_free(&out);
        CHECK_ERR(merge(&empty, x, &out), want);
        lt_buf_free(&out);
        lt_buf_free(&empty);
    }
}

static void test_structure(void) {
    /* A, B, C sorted by id, for hand-made clocks. */
    const actor_t *s[3] = {&A, &B, &C};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j + 1 < 3 - i; j++)
            if (s[j]->id > s[j + 1]->id) {
                const actor_t *t = s[j];
                s[j] = s[j + 1];
                s[j + 1] = t;
            }
    const uint64_t ids[] = {s[0]->id, s[1]->id, s[2]->id};
    const uint64_t ones[] = {1, 1, 1};
    lt_buf x;
    raw_clock(&x, 3, ids, ones, s);
    CHECK_ERR(check(x.data, x.len, 1), LT_OK);
    CHECK_ERR(check_full(x.data, x.len), LT_OK);
    lt_buf_free(&x);

    /* Zero counter, in each position. */
    for (int k = 0; k < 3; k++) {
        uint64_t c[3] = {1, 1, 1};
        c[k] = 0;
        raw_clock(&x, 3, ids, c, s);
        expect_bad(&x, LT_E_ZERO);
        lt_buf_free(&x);
    }
    /* Unsorted ids. */
    {
        const uint64_t bad_ids[] = {ids[1], ids[0], ids[2]};
        const actor_t *bs[] = {s[1], s[0], s[2]};
        raw_clock(&x, 3, bad_ids, ones, bs);
        expect_bad(&x, LT_E_ORDER);
        lt_buf_free(&x);
        const uint64_t bad_ids2[] = {ids[0], ids[2], ids[1]};
        const actor_t *bs2[] = {s[0], s[2], s[1]};
        raw_clock(&x, 3, bad_ids2, ones, bs2);
        expect_bad(&x, LT_E_ORDER);
        lt_buf_free(&x);
    }
    /* Equal ids: the actor bytes must be strictly ascending. */
    {
        const actor_t *lo = lt_bytes_cmp(A.b, A.len, B.b, B.len) < 0 ? &A : &B;
        const actor_t *hi = lo == &A ? &B : &A;
        const uint64_t same[] = {42, 42};
        const actor_t *up[] = {lo, hi}, *down[] = {hi, lo}, *twice[] = {lo, lo};
        raw_clock(&x, 2, same, ones, up);
        CHECK_ERR(check(x.data, x.len, 1), LT_OK);
        CHECK_ERR(check_full(x.data, x.len), LT_E_ID); /* 42 is no actor's hash */
        lt_buf_free(&x);
        raw_clock(&x, 2, same, ones, down);
        expect_bad(&x, LT_E_ORDER);
        lt_buf_free(&x);
        raw_clock(&x, 2, same, ones, twice);
        expect_bad(&x, LT_E_ORDER);
        lt_buf_free(&x);
        /* Equal ids across a budget boundary, with an entry before them. */
        const uint64_t ids3[] = {7, 42, 42};
        const actor_t *u3[] = {&C, hi, lo};
        raw_clock(&x, 3, ids3, ones, u3);
        expect_bad(&x, LT_E_ORDER);
        lt_buf_free(&x);
    }

    /* check_full: a wrong id, and a non-canonical actor with its own hash as id. */
    {
        const uint64_t wrong[] = {ids[0], ids[1], ids[2] + 1};
        raw_clock(&x, 3, wrong, ones, s);
        CHECK_ERR(check(x.data, x.len, 1), LT_OK);
        CHECK_ERR(check_full(x.data, x.len), LT_E_ID);
        lt_buf_free(&x);
        static const struct {
            uint8_t b[8];
            size_t len;
            lt_err err;
        } bad_actor[] = {
            {{0x08, 0x00, 0x07}, 3, LT_E_NONCANONICAL}, /* list of 0 elements */
            {{0x04, 0x01, 0xc3}, 3, LT_E_BAD_UTF8},
            {{0x07, 0x07}, 2, LT_E_TRAILING},
            {{0x0a}, 1, LT_E_BAD_TAG},
            {{0x06, 0x02, 0x07}, 3, LT_E_TRUNCATED},
            {{0x03, 0x80, 0, 0, 0, 0, 0, 0}, 8, LT_E_TRUNCATED},
        };
        for (size_t k = 0; k < sizeof bad_actor / sizeof bad_actor[0]; k++) {
            actor_t bad;
            memcpy(bad.b, bad_actor[k].b, bad_actor[k].len);
            bad.len = bad_actor[k].len;
            bad.id = lt_actor_id(bad.b, bad.len);
            const actor_t *one[] = {&bad};
            const uint64_t id1[] = {bad.id};
            raw_clock(&x, 1, id1, ones, one);
            CHECK_ERR(check(x.data, x.len, 1), LT_OK);
            CHECK_ERR(check_full(x.data, x.len), bad_actor[k].err);
            lt_buf_free(&x);
        }
    }

    /* Truncation at every prefix, and trailing bytes. */
    raw_clock(&x, 3, ids, ones, s);
    unsigned bad = 0;
    for (size_t cut = 0; cut < x.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, x.data, cut);
        lt_err e1 = check(p, cut, 1), e2 = check_full(p, cut);
        if (e1 != LT_E_TRUNCATED || e2 != LT_E_TRUNCATED) {
            bad++;
            fprintf(stderr, "    prefix %zu: %s %s\n", cut, lt_err_name(e1), lt_err_name(e2));
        }
        free(p);
    }
    CHECK(bad == 0);
    lt_buf_put_u8(&x, 0x07);
    expect_bad(&x, LT_E_TRAILING);
    x.len--;
    lt_buf_put(&x, "\x03\x04\x01\x7a", 4); /* a whole extra actor */
    expect_bad(&x, LT_E_TRAILING);
    lt_buf_free(&x);

    /* Header: type, version, count. */
    {
        const uint8_t wrong_type[] = {0x02, 0x01, 0x00};
        const uint8_t wrong_ver[] = {0x01, 0x02, 0x00};
        const uint8_t empty[] = {0x01, 0x01, 0x00};
        const uint8_t nonmin[] = {0x01, 0x01, 0x80, 0x00};
        const uint8_t huge[] = {0x01, 0x01, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        const uint8_t over[] = {0x01, 0x01, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
        CHECK_ERR(check(wrong_type, 3, 1), LT_E_WRONG_TYPE);
        CHECK_ERR(check(wrong_ver, 3, 1), LT_E_VERSION);
        CHECK_ERR(check(empty, 3, 1), LT_OK);
        CHECK_ERR(check(empty, 2, 1), LT_E_TRUNCATED);
        CHECK_ERR(check(nonmin, 4, 1), LT_E_NONCANONICAL);
        CHECK_ERR(check(huge, sizeof huge, 1), LT_E_TRUNCATED);
        CHECK_ERR(check(over, sizeof over, 1), LT_E_OVERFLOW);
    }
    /* n larger than the entries present. */
    raw_clock(&x, 2, ids, ones, s);
    x.data[2] = 3;
    CHECK_ERR(check(x.data, x.len, 1), LT_E_TRUNCATED);
    /* n smaller: the columns shift and what is left is not a clock. */
    x.data[2] = 1;
    CHECK(check(x.data, x.len, 1) != LT_OK);
    lt_buf_free(&x);
    /* An actor of length 0, and one longer than the section. */
    {
        uint8_t p[3 + 16 + 2];
        p[0] = 1;
        p[1] = 1;
        p[2] = 1;
        lt_write_be64(p + 3, 1);
        lt_write_be64(p + 11, 1);
        p[19] = 0;
        p[20] = 0x07;
        CHECK_ERR(check(p, sizeof p, 1), LT_E_NONCANONICAL);
        p[19] = 2;
        CHECK_ERR(check(p, sizeof p, 1), LT_E_TRUNCATED);
        p[19] = 1;
        CHECK_ERR(check(p, sizeof p, 1), LT_OK);
    }
}

static void test_collision(void) {
    /* X and Y: different actors given the same id by hand; X's bytes sort first. */
    actor_t X = forced(atom_actor("xx"), 0x4242);
    actor_t Y = forced(atom_actor("xy"), 0x4242);
    actor_t L = forced(atom_actor("low"), 0x10);
    actor_t H = forced(atom_actor("high"), 0x9000);
    CHECK(lt_bytes_cmp(X.b, X.len, Y.b, Y.len) < 0);
    const actor_t *xy[] = {&Y, &X}, *x_[] = {&X}, *y_[] = {&Y}, *lxyh[] = {&H, &Y, &L, &X};
    const uint64_t c12[] = {1, 2}, c21[] = {2, 1}, c1[] = {1}, c2[] = {2}, c1234[] = {1, 2, 3, 4};
    lt_buf a, b, m;
    int same;

    /* build orders them by actor bytes under the shared id. */
    CHECK_ERR(mk(&a, 2, xy, c12), LT_OK); /* Y:1, X:2 */
    lt_vclock_view v;
    CHECK_ERR(lt_vclock_open(&v, a.data, a.len), LT_OK);
    CHECK(v.n == 2 && lt_vclock_id(&v, 0) == 0x4242 && lt_vclock_id(&v, 1) == 0x4242);
    CHECK(lt_vclock_counter(&v, 0) == 2 && lt_vclock_counter(&v, 1) == 1);
    {
        size_t off = 0;
        const uint8_t *p;
        size_t n;
        CHECK_ERR(lt_vclock_next_actor(&v, &off, &p, &n), LT_OK);
        CHECK_MEM(p, n, X.b, X.len);
    }
    CHECK_ERR(check(a.data, a.len, 1), LT_OK);
    CHECK_ERR(check_full(a.data, a.len), LT_E_ID);
    CHECK(lt_vclock_find(&v, 0x4242, X.b, X.len) == 0);
    CHECK(lt_vclock_find(&v, 0x4242, Y.b, Y.len) == 1);
    CHECK(lt_vclock_find(&v, 0x4242, L.b, L.len) == -1);

    /* Compare and merge treat them as two actors. */
    CHECK_ERR(mk(&b, 1, x_, c1), LT_OK);
    CHECK_ERR(mk(&m, 1, y_, c1), LT_OK);
    CHECK(cmp_all(&b, &m, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 0);
    lt_buf_free(&m);
    expect_merge(1, x_, c1, 1, y_, c2);
    CHECK(cmp_all(&a, &b, &same) == LT_VC_A_AHEAD); /* {X:2, Y:1} vs {X:1} */
    CHECK(cmp_all(&b, &a, &same) == LT_VC_B_AHEAD);
    lt_buf_free(&b);
    CHECK_ERR(mk(&b, 2, xy, c21), LT_OK); /* Y:2, X:1 — same actors, the fast path */
    CHECK(cmp_all(&a, &b, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 1);
    expect_merge(2, xy, c12, 2, xy, c21);
    lt_buf_free(&b);
    CHECK_ERR(mk(&b, 1, y_, c2), LT_OK); /* {Y:2} vs {X:2, Y:1}: walk through equal ids */
    CHECK(cmp_all(&b, &a, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 0);
    lt_buf_free(&b);
    CHECK_ERR(mk(&b, 1, y_, c1), LT_OK);
    CHECK(cmp_all(&b, &a, &same) == LT_VC_B_AHEAD && same == 0);
    lt_buf_free(&b);
    expect_merge(4, lxyh, c1234, 1, y_, c2);
    expect_merge(4, lxyh, c1234, 2, xy, c21);
    expect_merge(1, y_, c1, 4, lxyh, c1234);

    /* Increment inserts after X and before H, in (id, bytes) order. */
    lt_buf_free(&a);
    const actor_t *lxh[] = {&L, &X, &H};
    CHECK_ERR(mk(&a, 3, lxh, c1234), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, a.data, a.len), LT_OK);
    lt_buf out, want;
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, Y.id, Y.b, Y.len, 9, &out), LT_OK);
    const actor_t *lxyh2[] = {&L, &X, &Y, &H};
    const uint64_t c1293[] = {1, 2, 9, 3};
    CHECK_ERR(mk(&want, 4, lxyh2, c1293), LT_OK);
    CHECK_MEM(out.data, out.len, want.data, want.len);
    CHECK_ERR(lt_vclock_open(&v, out.data, out.len), LT_OK);
    CHECK(lt_vclock_find(&v, Y.id, Y.b, Y.len) == 2);
    CHECK(lt_vclock_find(&v, X.id, X.b, X.len) == 1);
    lt_buf_free(&want);
    lt_buf_free(&out);
    /* And an actor whose bytes sort before X under the shared id goes in front of X. */
    actor_t W = forced(atom_actor("xa"), 0x4242);
    CHECK_ERR(lt_vclock_open(&v, a.data, a.len), LT_OK);
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, W.id, W.b, W.len, 1, &out), LT_OK);
    CHECK_ERR(lt_vclock_open(&v, out.data, out.len), LT_OK);
    CHECK(lt_vclock_find(&v, W.id, W.b, W.len) == 1);
    CHECK(lt_vclock_find(&v, X.id, X.b, X.len) == 2);
    CHECK_ERR(check(out.data, out.len, 1), LT_OK);
    lt_buf_free(&out);
    lt_buf_free(&a);
}

/* More entries than fit the inline offset table: every operation against a fresh build. */
static void test_large(void) {
    static actor_t many[200];
    const actor_t *all[200], *odd[100];
    uint64_t c[200], co[100];
    for (int k = 0; k < 200; k++) {
        many[k] = tuple_actor(1000 + k);
        all[k] = &many[k];
        c[k] = (uint64_t)(k % 7) + 1;
    }
    for (int k = 0; k < 100; k++) {
        odd[k] = &many[2 * k + 1];
        co[k] = (uint64_t)(k % 3) + 3;
    }
    lt_buf x, y, out, want;
    CHECK_ERR(mk(&x, 200, all, c), LT_OK);
    CHECK_ERR(check_full(x.data, x.len), LT_OK);
    CHECK_ERR(check(x.data, x.len, 7), LT_OK);
    lt_vclock_view v;
    CHECK_ERR(lt_vclock_open(&v, x.data, x.len), LT_OK);
    unsigned bad = 0;
    for (int k = 0; k < 200; k++) {
        ptrdiff_t i = lt_vclock_find(&v, many[k].id, many[k].b, many[k].len);
        if (i < 0 || lt_vclock_counter(&v, (size_t)i) != c[k])
            bad++;
    }
    CHECK(bad == 0);
    /* increment the last actor in id order */
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_increment(&v, many[199].id, many[199].b, many[199].len, 10, &out), LT_OK);
    c[199] += 10;
    CHECK_ERR(mk(&want, 200, all, c), LT_OK);
    CHECK_MEM(out.data, out.len, want.data, want.len);
    c[199] -= 10;
    lt_buf_free(&out);
    lt_buf_free(&want);
    /* drop the even ones */
    uint8_t drop[200];
    for (size_t i = 0; i < 200; i++) {
        size_t off = 0;
        const uint8_t *ab;
        size_t al;
        for (size_t j = 0; j <= i; j++)
            (void)lt_vclock_next_actor(&v, &off, &ab, &al);
        drop[i] = 0;
        for (int k = 0; k < 200; k += 2)
            if (many[k].len == al && memcmp(many[k].b, ab, al) == 0)
                drop[i] = 1;
    }
    lt_buf_init(&out);
    CHECK_ERR(lt_vclock_drop(&v, drop, &out), LT_OK);
    uint64_t codd[100];
    for (int k = 0; k < 100; k++)
        codd[k] = c[2 * k + 1];
    CHECK_ERR(mk(&want, 100, odd, codd), LT_OK);
    CHECK_MEM(out.data, out.len, want.data, want.len);
    lt_buf_free(&out);
    lt_buf_free(&want);
    /* merge and compare with a clock over the odd ones */
    CHECK_ERR(mk(&y, 100, odd, co), LT_OK);
    expect_merge(200, all, c, 100, odd, co);
    int same;
    CHECK(cmp_all(&x, &y, &same) == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) && same == 0);
    CHECK(cmp_all(&x, &x, &same) == 0 && same == 1);
    lt_buf_free(&y);
    lt_buf_free(&x);
}

/* ---- randomized differential test against arrays ------------------------------------------ */
#define U 8

static void test_differential(void) {
    /* A universe with real ids, plus two pairs sharing forced ids to exercise collisions. */
    actor_t uni[U];
    for (int k = 0; k < U - 4; k++)
        uni[k] = tuple_actor(k * 7);
    uni[U - 4] = forced(atom_actor("p"), uni[0].id); /* shares a real id with uni[0] */
    uni[U - 3] = forced(atom_actor("q"), 5);
    uni[U - 2] = forced(atom_actor("r"), 5);
    uni[U - 1] = forced(atom_actor("s"), UINT64_MAX);
    uint64_t rng = 0x5eed;
    unsigned bad_cmp = 0, bad_merge = 0, fast = 0;
    for (int it = 0; it < 4000; it++) {
        uint64_t ca[U], cb[U];
        const actor_t *pa[U], *pb[U];
        uint64_t va[U], vb[U];
        size_t na = 0, nb = 0;
        int same_set = it % 3 == 0;
        for (int k = 0; k < U; k++) {
            uint64_t r = lt_test_rand(&rng);
            int in_a = (r & 3) != 0, in_b = same_set ? in_a : ((r >> 2) & 3) != 0;
            uint64_t big = (r >> 8) & 1 ? 0 : UINT64_MAX - 3;
            ca[k] = in_a ? big + 1 + ((r >> 12) % 3) : 0;
            cb[k] = in_b ? big + 1 + ((r >> 16) % 3) : 0;
            if ((r >> 20) % 17 == 0)
                cb[k] = ca[k]; /* now and then equal (or absent on both sides) */
            if (ca[k]) {
                pa[na] = &uni[k];
                va[na++] = ca[k];
            }
            if (cb[k]) {
                pb[nb] = &uni[k];
                vb[nb++] = cb[k];
            }
        }
        /* The model. */
        unsigned want = 0;
        uint64_t cm[U];
        const actor_t *pm[U];
        uint64_t vm[U];
        size_t nm = 0;
        for (int k = 0; k < U; k++) {
            want |= ca[k] > cb[k] ? LT_VC_A_AHEAD : 0;
            want |= cb[k] > ca[k] ? LT_VC_B_AHEAD : 0;
            cm[k] = ca[k] > cb[k] ? ca[k] : cb[k];
            if (cm[k]) {
                pm[nm] = &uni[k];
                vm[nm++] = cm[k];
            }
        }
        lt_buf a, b, m, got;
        if (mk(&a, na, pa, va) != LT_OK || mk(&b, nb, pb, vb) != LT_OK ||
            mk(&m, nm, pm, vm) != LT_OK) {
            bad_merge++;
            continue;
        }
        unsigned f = 99;
        size_t budget = (it & 1) ? (size_t)-1 : 1 + lt_test_below(&rng, 3);
        if (compare(&a, &b, budget, &f) != LT_OK || f != want)
            bad_cmp++;
        fast += same_actors(&a, &b);
        if (merge(&a, &b, &got) != LT_OK || got.len != m.len ||
            memcmp(got.data, m.data, m.len) != 0)
            bad_merge++;
        /* The merge passes the structural check and is ahead of or equal to both. */
        if (check(got.data, got.len, 2) != LT_OK)
            bad_merge++;
        if (compare(&a, &got, budget, &f) != LT_OK || (f & LT_VC_A_AHEAD))
            bad_merge++;
        lt_buf_free(&got);
        lt_buf_free(&a);
        lt_buf_free(&b);
        lt_buf_free(&m);
    }
    CHECK(bad_cmp == 0);
    CHECK(bad_merge == 0);
    CHECK(fast > 1000); /* pairs for the fast path: every third iteration at least */
}

int main(void) {
    A = atom_actor("a");
    B = atom_actor("b");
    C = tuple_actor(3);
    D = atom_actor("node@host");
    E = tuple_actor(-1000000);
    test_build();
    test_compare();
    test_merge();
    test_increment();
    test_drop_find();
    test_structure();
    test_collision();
    test_large();
    test_differential();
    return lt_test_summary();
}
