/* fuzz_vclock.c — libFuzzer target for vector clock binaries.
 *
 * The whole input as one clock: the resumable structural check with small budgets agrees with
 * one full check; a structurally valid clock compares equal to itself, merges with itself into
 * its own bytes, finds each of its actors where they are, and check_full runs on it. Then the
 * input split into two halves: compare and merge never crash; when both halves are valid, the
 * merge is valid, ahead of or equal to both, and equal to the bigger side when one side is
 * behind (so compare and merge agree). */
#include "lt_hash.h"
#include "lt_vclock.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Budgets for the resumable calls, drawn from the input's hash: 1..4, sometimes unlimited. */
static size_t next_budget(uint64_t *h) {
    *h = *h * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    unsigned r = (unsigned)(*h >> 59);
    return r == 31 ? (size_t)-1 : 1 + (r & 3);
}

static lt_err check_with(const lt_vclock_view *v, uint64_t *h) {
    lt_vclock_check st;
    memset(&st, 0, sizeof st);
    int done = 0;
    for (size_t calls = 0; !done; calls++) {
        lt_err e = lt_vclock_check_step(v, &st, next_budget(h), &done);
        if (e != LT_OK)
            return e;
        REQUIRE(calls <= v->n + 1); /* every call makes progress */
    }
    return LT_OK;
}

/* A whole compare in small steps; aborts if it stops making progress. */
static lt_err compare(const lt_vclock_view *a, const lt_vclock_view *b, uint64_t *h,
                      unsigned *flags) {
    lt_vclock_cmp c;
    lt_vclock_cmp_init(&c);
    int done = 0;
    /* Each phase takes at most about one call per entry (or per 16 bytes of actor section). */
    size_t limit = 8 * (a->n + b->n) + a->names_len + b->names_len + 16;
    for (size_t calls = 0; !done; calls++) {
        lt_err e = lt_vclock_cmp_step(&c, a, b, next_budget(h), &done);
        if (e != LT_OK)
            return e;
        REQUIRE(calls <= limit);
    }
    REQUIRE(c.flags <= (LT_VC_A_AHEAD | LT_VC_B_AHEAD));
    *flags = c.flags;
    return LT_OK;
}

static void whole(const uint8_t *data, size_t size, uint64_t h) {
    lt_vclock_view v;
    if (lt_vclock_open(&v, data, size) != LT_OK)
        return;
    REQUIRE(v.ids + 16 * v.n + v.names_len == data + size);
    lt_vclock_check st;
    memset(&st, 0, sizeof st);
    int done = 0;
    lt_err full = lt_vclock_check_step(&v, &st, v.n, &done);
    REQUIRE(full != LT_OK || done);
    lt_err stepped = check_with(&v, &h);
    REQUIRE(full == stepped);
    lt_err deep = lt_vclock_check_full(&v);
    if (full != LT_OK) {
        REQUIRE(deep == full);
        return;
    }

    /* compare(x, x) is equal. */
    unsigned flags = 99;
    REQUIRE(compare(&v, &v, &h, &flags) == LT_OK);
    REQUIRE(flags == 0);
    /* merge(x, x) is x. */
    lt_buf out;
    lt_buf_init(&out);
    REQUIRE(lt_vclock_merge(&v, &v, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(out.data, data, size) == 0);
    lt_buf_free(&out);
    /* Into a fixed buffer of a.size + b.size, the bound the NIF uses (the general path, taken
     * for clocks with colliding ids, needs that much room even when the result is smaller). */
    uint8_t *mem = malloc(2 * size);
    REQUIRE(mem != NULL);
    lt_buf_init_fixed(&out, mem, 2 * size);
    REQUIRE(lt_vclock_merge(&v, &v, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(mem, data, size) == 0);
    free(mem);
    /* Dropping nothing gives the same bytes. */
    lt_buf_init(&out);
    REQUIRE(lt_vclock_drop(&v, NULL, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(out.data, data, size) == 0);
    lt_buf_free(&out);
    /* Each actor is found where it is; an increment keeps the structure. */
    size_t off = 0;
    for (size_t i = 0; i < v.n; i++) {
        const uint8_t *actor;
        size_t alen;
        REQUIRE(lt_vclock_next_actor(&v, &off, &actor, &alen) == LT_OK);
        REQUIRE(lt_vclock_find(&v, lt_vclock_id(&v, i), actor, alen) == (ptrdiff_t)i);
        if (i == 0 || i + 1 == v.n) {
            lt_buf_init(&out);
            lt_err e = lt_vclock_increment(&v, lt_vclock_id(&v, i), actor, alen, 1, &out);
            if (e == LT_OK) {
                lt_vclock_view w;
                REQUIRE(lt_vclock_open(&w, out.data, out.len) == LT_OK);
                REQUIRE(w.n == v.n && out.len == size);
                REQUIRE(check_with(&w, &h) == LT_OK);
                REQUIRE(lt_vclock_counter(&w, i) == lt_vclock_counter(&v, i) + 1);
            } else {
                REQUIRE(e == LT_E_OVERFLOW && lt_vclock_counter(&v, i) == UINT64_MAX);
            }
            lt_buf_free(&out);
        }
    }
    REQUIRE(off == v.names_len);
    (void)deep; /* any answer, as long as it is reached safely */
}

static void halves(const uint8_t *data, size_t size, uint64_t h) {
    size_t half = size / 2;
    const uint8_t *pa = data, *pb = data + half;
    size_t la = half, lb = size - half;
    lt_vclock_view a, b;
    if (lt_vclock_open(&a, pa, la) != LT_OK || lt_vclock_open(&b, pb, lb) != LT_OK)
        return;
    int a_ok = check_with(&a, &h) == LT_OK, b_ok = check_with(&b, &h) == LT_OK;
    unsigned flags = 99, back = 99;
    lt_err ec = compare(&a, &b, &h, &flags);
    lt_err eb = compare(&b, &a, &h, &back);
    lt_buf m;
    lt_buf_init(&m);
    lt_err em = lt_vclock_merge(&a, &b, &m);
    if (!(a_ok && b_ok)) {
        lt_buf_free(&m);
        return;
    }
    REQUIRE(ec == LT_OK && eb == LT_OK && em == LT_OK);
    /* Compare is antisymmetric. */
    REQUIRE(((flags & LT_VC_A_AHEAD) != 0) == ((back & LT_VC_B_AHEAD) != 0));
    REQUIRE(((flags & LT_VC_B_AHEAD) != 0) == ((back & LT_VC_A_AHEAD) != 0));
    /* The merge is a clock, ahead of or equal to both. */
    lt_vclock_view mv;
    REQUIRE(lt_vclock_open(&mv, m.data, m.len) == LT_OK);
    REQUIRE(check_with(&mv, &h) == LT_OK);
    unsigned f;
    REQUIRE(compare(&a, &mv, &h, &f) == LT_OK && (f & LT_VC_A_AHEAD) == 0);
    REQUIRE(compare(&b, &mv, &h, &f) == LT_OK && (f & LT_VC_A_AHEAD) == 0);
    /* If a is not ahead anywhere, the merge is b (canonical form: one encoding per clock). */
    if ((flags & LT_VC_A_AHEAD) == 0)
        REQUIRE(m.len == lb && memcmp(m.data, pb, lb) == 0);
    if ((flags & LT_VC_B_AHEAD) == 0)
        REQUIRE(m.len == la && memcmp(m.data, pa, la) == 0);
    /* Merging is commutative, and merging again changes nothing. */
    lt_buf m2;
    lt_buf_init(&m2);
    REQUIRE(lt_vclock_merge(&b, &a, &m2) == LT_OK);
    REQUIRE(m2.len == m.len && memcmp(m2.data, m.data, m.len) == 0);
    lt_buf_free(&m2);
    lt_buf_init(&m2);
    REQUIRE(lt_vclock_merge(&mv, &a, &m2) == LT_OK);
    REQUIRE(m2.len == m.len && memcmp(m2.data, m.data, m.len) == 0);
    lt_buf_free(&m2);
    /* Into a fixed buffer of a.size + b.size, as the NIF does it. */
    uint8_t *mem = malloc(size ? size : 1);
    REQUIRE(mem != NULL);
    lt_buf fx;
    lt_buf_init_fixed(&fx, mem, size);
    REQUIRE(lt_vclock_merge(&a, &b, &fx) == LT_OK);
    REQUIRE(fx.len == m.len && memcmp(mem, m.data, m.len) == 0);
    free(mem);
    lt_buf_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t h = lt_hash64(data, size, 0);
    whole(data, size, h);
    halves(data, size, h ^ UINT64_C(0x9e3779b97f4a7c15));
    return 0;
}
