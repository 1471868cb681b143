/* test_dvv.c — dotted version vectors (lt_dvv.h): parse/encode, normalize, contains, max,
 * descends, rejection of non-canonical binaries, and a model-based random test. */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_dvv.h"
#include "lt_hash.h"

typedef struct {
    uint8_t b[16];
    size_t len;
    uint64_t id;
} actor_t;

static actor_t atom_actor(const char *name) {
    actor_t a;
    lt_buf b;
    lt_buf_init_fixed(&b, a.b, sizeof a.b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)name, strlen(name)), LT_OK);
    a.len = b.len;
    a.id = lt_actor_id(a.b, a.len);
    return a;
}

static actor_t A, B, C, D;

/* One entry of a hand-made context: dots given as absolute counters. */
typedef struct {
    const actor_t *a;
    uint64_t base;
    size_t k;
    uint64_t dots[8];
} hand_entry;

/* Writes a context byte by byte, entries in the given order, with no checks. Gaps are
 * computed from the dots (so a wrong dot order gives a huge or zero gap, as intended). */
static void hand(lt_buf *out, size_t n, const hand_entry *e) {
    lt_buf_init(out);
    lt_buf_put_u8(out, LT_TYPE_DVV);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        lt_buf_put_be64(out, e[i].a->id);
        lt_buf_put_varint(out, e[i].a->len);
        lt_buf_put(out, e[i].a->b, e[i].a->len);
        lt_buf_put_varint(out, e[i].base);
        lt_buf_put_varint(out, e[i].k);
        uint64_t prev = e[i].base + 1;
        for (size_t j = 0; j < e[i].k; j++) {
            lt_buf_put_varint(out, e[i].dots[j] - prev);
            prev = e[i].dots[j];
        }
    }
}

static lt_err parse(const lt_buf *b, lt_dvv *d) {
    return lt_dvv_parse(b->data, b->len, d);
}

/* encode(d) equals the bytes `want`. */
static void expect_encodes(const lt_dvv *d, const uint8_t *want, size_t want_len) {
    lt_buf out;
    lt_buf_init(&out);
    CHECK_ERR(lt_dvv_encode(d, &out), LT_OK);
    CHECK_MEM(out.data, out.len, want, want_len);
    lt_buf_free(&out);
}

/* parse → encode, and parse → ranges → normalize → encode, both reproduce the bytes. */
static void expect_round_trip(const lt_buf *b) {
    lt_dvv d;
    CHECK_ERR(parse(b, &d), LT_OK);
    expect_encodes(&d, b->data, b->len);
    size_t cnt = lt_dvv_range_count(&d), n = 0;
    lt_dvv_range *r = malloc((cnt ? cnt : 1) * sizeof *r);
    lt_dvv_ranges(&d, r, &n);
    CHECK(n <= cnt); /* an upper bound: an entry without a base gives no base range */
    lt_dvv e;
    CHECK_ERR(lt_dvv_normalize(r, n, &e), LT_OK);
    expect_encodes(&e, b->data, b->len);
    lt_dvv_free(&e);
    free(r);
    lt_dvv_free(&d);
}

static lt_dvv_range rng1(const actor_t *a, uint64_t lo, uint64_t hi) {
    lt_dvv_range r = {a->id, a->b, a->len, lo, hi};
    return r;
}

static void test_parse_encode(void) {
    lt_buf b;
    lt_dvv d;
    /* The empty context. */
    hand(&b, 0, NULL);
    {
        const uint8_t want[] = {0x02, 0x01, 0x00};
        CHECK_BYTES(b.data, b.len, want);
    }
    CHECK_ERR(parse(&b, &d), LT_OK);
    CHECK(d.n == 0 && d.ndots == 0);
    lt_dvv_free(&d);
    expect_round_trip(&b);
    lt_buf_free(&b);

    /* One actor, base 3 and dots {5, 6, 9}: exact bytes. */
    hand_entry e1 = {&A, 3, 3, {5, 6, 9}};
    hand(&b, 1, &e1);
    {
        uint8_t want[3 + 8 + 1 + 3 + 1 + 1 + 3];
        size_t k = 0;
        want[k++] = 0x02;
        want[k++] = 0x01;
        want[k++] = 0x01;
        lt_write_be64(want + k, A.id);
        k += 8;
        want[k++] = 0x03; /* actor length */
        memcpy(want + k, A.b, 3);
        k += 3;
        want[k++] = 3; /* base */
        want[k++] = 3; /* three dots */
        want[k++] = 1; /* 5 = 3 + 1 + 1 */
        want[k++] = 1; /* 6 */
        want[k++] = 3; /* 9 */
        CHECK(k == sizeof want);
        CHECK_BYTES(b.data, b.len, want);
    }
    CHECK_ERR(parse(&b, &d), LT_OK);
    CHECK(d.n == 1 && d.ndots == 3);
    CHECK(d.entries[0].id == A.id && d.entries[0].base == 3 && d.entries[0].ndots == 3);
    CHECK(d.entries[0].actor_len == A.len && memcmp(d.entries[0].actor, A.b, A.len) == 0);
    CHECK(d.dots[0] == 5 && d.dots[1] == 6 && d.dots[2] == 9);
    CHECK_ERR(lt_dvv_check_full(&d), LT_OK);
    lt_dvv_free(&d);
    CHECK(d.entries == NULL && d.dots == NULL);
    expect_round_trip(&b);
    lt_buf_free(&b);

    /* Several actors, sorted by id; base only, dots only. */
    hand_entry es[4] = {{&A, 7, 0, {0}}, {&B, 0, 2, {2, 40}}, {&C, 1, 1, {300}}, {&D, 200, 0, {0}}};
    /* sort by id for the hand writer */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j + 1 < 4 - i; j++)
            if (es[j].a->id > es[j + 1].a->id) {
                hand_entry t = es[j];
                es[j] = es[j + 1];
                es[j + 1] = t;
            }
    hand(&b, 4, es);
    CHECK_ERR(parse(&b, &d), LT_OK);
    CHECK(d.n == 4 && d.ndots == 3);
    CHECK_ERR(lt_dvv_check_full(&d), LT_OK);
    lt_dvv_free(&d);
    expect_round_trip(&b);
    lt_buf_free(&b);

    /* Extremes: a base of 2^64 - 1; a dot at 2^64 - 1. */
    hand_entry ex[1] = {{&A, UINT64_MAX, 0, {0}}};
    hand(&b, 1, ex);
    CHECK_ERR(parse(&b, &d), LT_OK);
    CHECK(d.entries[0].base == UINT64_MAX);
    lt_dvv_free(&d);
    expect_round_trip(&b);
    lt_buf_free(&b);
    hand_entry ex2[1] = {{&A, 1, 2, {3, UINT64_MAX}}};
    hand(&b, 1, ex2);
    CHECK_ERR(parse(&b, &d), LT_OK);
    CHECK(d.ndots == 2 && d.dots[1] == UINT64_MAX);
    lt_dvv_free(&d);
    expect_round_trip(&b);
    lt_buf_free(&b);
    hand_entry ex3[1] = {{&A, UINT64_MAX - 2, 1, {UINT64_MAX}}};
    hand(&b, 1, ex3);
    expect_round_trip(&b);
    lt_buf_free(&b);
}

static void expect_reject(const lt_buf *b, lt_err want) {
    lt_dvv d;
    d.entries = (lt_dvv_entry *)&d; /* poison: parse must reset these */
    CHECK_ERR(parse(b, &d), want);
    CHECK(d.entries == NULL && d.dots == NULL); /* nothing left to free */
    lt_dvv_free(&d);
}

static void test_reject(void) {
    lt_buf b;
    const actor_t *lo = A.id < B.id ? &A : &B, *hi = lo == &A ? &B : &A;
    /* Gap 0: a dot at base + 1 (should have extended the base), or a repeated dot. */
    hand_entry g0[1] = {{&A, 3, 1, {4}}};
    hand(&b, 1, g0);
    expect_reject(&b, LT_E_NONCANONICAL);
    lt_buf_free(&b);
    hand_entry g1[1] = {{&A, 3, 2, {6, 6}}};
    hand(&b, 1, g1);
    expect_reject(&b, LT_E_NONCANONICAL);
    lt_buf_free(&b);
    /* An empty entry. */
    hand_entry empty[2] = {{lo, 1, 0, {0}}, {hi, 0, 0, {0}}};
    hand(&b, 2, empty);
    expect_reject(&b, LT_E_NONCANONICAL);
    lt_buf_free(&b);
    /* Unsorted and repeated actors. */
    hand_entry uns[2] = {{hi, 1, 0, {0}}, {lo, 1, 0, {0}}};
    hand(&b, 2, uns);
    expect_reject(&b, LT_E_ORDER);
    lt_buf_free(&b);
    hand_entry rep[2] = {{lo, 1, 0, {0}}, {lo, 2, 0, {0}}};
    hand(&b, 2, rep);
    expect_reject(&b, LT_E_ORDER);
    lt_buf_free(&b);
    /* Equal ids (forced) with unsorted actor bytes. */
    {
        actor_t x = A, y = B;
        x.id = y.id = 77;
        const actor_t *first = lt_bytes_cmp(x.b, x.len, y.b, y.len) < 0 ? &x : &y;
        const actor_t *second = first == &x ? &y : &x;
        hand_entry ok[2] = {{first, 1, 0, {0}}, {second, 1, 0, {0}}};
        hand(&b, 2, ok);
        lt_dvv d;
        CHECK_ERR(parse(&b, &d), LT_OK);
        CHECK_ERR(lt_dvv_check_full(&d), LT_E_ID);
        CHECK(lt_dvv_find(&d, 77, second->b, second->len) == 1);
        lt_dvv_free(&d);
        lt_buf_free(&b);
        hand_entry bad[2] = {{second, 1, 0, {0}}, {first, 1, 0, {0}}};
        hand(&b, 2, bad);
        expect_reject(&b, LT_E_ORDER);
        lt_buf_free(&b);
    }
    /* Overflow: a dot past 2^64 - 1. */
    hand_entry of1[1] = {{&A, UINT64_MAX, 1, {0}}};
    hand(&b, 1, of1); /* gap computed as 0 - 0: patch it to 1 */
    b.data[b.len - 1] = 1;
    expect_reject(&b, LT_E_OVERFLOW);
    lt_buf_free(&b);
    hand_entry of2[1] = {{&A, UINT64_MAX - 2, 2, {UINT64_MAX, 0}}};
    hand(&b, 1, of2);
    b.data[b.len - 1] = 1; /* one past UINT64_MAX */
    expect_reject(&b, LT_E_OVERFLOW);
    lt_buf_free(&b);
    {
        /* base 5, then a gap of 2^64 - 1 */
        lt_buf_init(&b);
        hand_entry e[1] = {{&A, 5, 0, {0}}};
        hand(&b, 1, e);
        b.data[b.len - 1] = 1; /* k = 1 */
        lt_buf_put_varint(&b, UINT64_MAX);
        expect_reject(&b, LT_E_OVERFLOW);
        lt_buf_free(&b);
    }
    /* Trailing bytes. */
    hand_entry ok1[1] = {{&A, 3, 1, {5}}};
    hand(&b, 1, ok1);
    lt_buf_put_u8(&b, 0);
    expect_reject(&b, LT_E_TRAILING);
    lt_buf_free(&b);
    /* Header problems. */
    {
        const uint8_t wrong_type[] = {0x01, 0x01, 0x00};
        const uint8_t wrong_ver[] = {0x02, 0x02, 0x00};
        const uint8_t nonmin[] = {0x02, 0x01, 0x80, 0x00};
        const uint8_t huge[] = {0x02, 0x01, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        lt_dvv d;
        CHECK_ERR(lt_dvv_parse(wrong_type, 3, &d), LT_E_WRONG_TYPE);
        CHECK_ERR(lt_dvv_parse(wrong_ver, 3, &d), LT_E_VERSION);
        CHECK_ERR(lt_dvv_parse(nonmin, 4, &d), LT_E_NONCANONICAL);
        CHECK_ERR(lt_dvv_parse(huge, sizeof huge, &d), LT_E_TRUNCATED);
        CHECK_ERR(lt_dvv_parse(wrong_type, 2, &d), LT_E_TRUNCATED);
        CHECK_ERR(lt_dvv_parse(NULL, 0, &d), LT_E_TRUNCATED);
    }
    /* An actor of length 0; a non-minimal varint inside an entry. */
    hand(&b, 1, ok1);
    b.data[11] = 0;
    expect_reject(&b, LT_E_NONCANONICAL);
    lt_buf_free(&b);
    {
        lt_buf_init(&b);
        lt_buf_put(&b, "\x02\x01\x01", 3);
        lt_buf_put_be64(&b, A.id);
        lt_buf_put_varint(&b, A.len);
        lt_buf_put(&b, A.b, A.len);
        lt_buf_put(&b, "\x83\x00\x00", 3); /* base 3, non-minimal */
        expect_reject(&b, LT_E_NONCANONICAL);
        lt_buf_free(&b);
    }
    /* n larger than the entries present. */
    hand_entry two[2] = {{lo, 1, 0, {0}}, {hi, 1, 0, {0}}};
    hand(&b, 2, two);
    b.data[2] = 3;
    expect_reject(&b, LT_E_TRUNCATED);
    b.data[2] = 1;
    expect_reject(&b, LT_E_TRAILING);
    lt_buf_free(&b);

    /* Truncation at every prefix of a context with several entries and dots. */
    hand_entry many[3] = {{lo, 300, 3, {302, 1000, 1001}}, {hi, 0, 2, {2, 5}}};
    hand(&b, 2, many);
    unsigned bad = 0;
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b.data, cut);
        lt_dvv d;
        lt_err e = lt_dvv_parse(p, cut, &d);
        if (e != LT_E_TRUNCATED) {
            bad++;
            fprintf(stderr, "    prefix %zu: %s\n", cut, lt_err_name(e));
        }
        if (e == LT_OK)
            lt_dvv_free(&d);
        free(p);
    }
    CHECK(bad == 0);
    expect_round_trip(&b);
    lt_buf_free(&b);

    /* check_full: a wrong id, and a non-canonical actor under its own hash. */
    {
        actor_t w = A;
        w.id ^= 1;
        hand_entry e[1] = {{&w, 1, 0, {0}}};
        hand(&b, 1, e);
        lt_dvv d;
        CHECK_ERR(parse(&b, &d), LT_OK);
        CHECK_ERR(lt_dvv_check_full(&d), LT_E_ID);
        lt_dvv_free(&d);
        lt_buf_free(&b);
        actor_t nc;
        memcpy(nc.b, "\x08\x00\x07", 3); /* a list of 0 elements */
        nc.len = 3;
        nc.id = lt_actor_id(nc.b, nc.len);
        e[0].a = &nc;
        hand(&b, 1, e);
        CHECK_ERR(parse(&b, &d), LT_OK);
        CHECK_ERR(lt_dvv_check_full(&d), LT_E_NONCANONICAL);
        lt_dvv_free(&d);
        lt_buf_free(&b);
    }
}

/* normalize(ranges) encodes to the same bytes as the hand-made context. */
static void expect_normal(lt_dvv_range *r, size_t n, size_t ne, const hand_entry *want) {
    lt_dvv d;
    lt_buf w;
    CHECK_ERR(lt_dvv_normalize(r, n, &d), LT_OK);
    hand(&w, ne, want);
    expect_encodes(&d, w.data, w.len);
    /* and that is a valid context */
    lt_dvv p;
    CHECK_ERR(parse(&w, &p), LT_OK);
    lt_dvv_free(&p);
    lt_dvv_free(&d);
    lt_buf_free(&w);
}

static void test_normalize(void) {
    /* The brief's chain: base 3 + dots {5, 6, 8} + dot 4 → base 6 + {8}. */
    {
        lt_dvv_range r[] = {rng1(&A, 1, 3), rng1(&A, 5, 5), rng1(&A, 6, 6), rng1(&A, 8, 8),
                            rng1(&A, 4, 4)};
        hand_entry want[1] = {{&A, 6, 1, {8}}};
        expect_normal(r, 5, 1, want);
    }
    /* Overlapping base ranges; a dot inside the base; a repeated dot. */
    {
        lt_dvv_range r[] = {rng1(&A, 1, 5), rng1(&A, 1, 3), rng1(&A, 3, 3),
                            rng1(&A, 9, 9), rng1(&A, 9, 9), rng1(&A, 1, 2)};
        hand_entry want[1] = {{&A, 5, 1, {9}}};
        expect_normal(r, 6, 1, want);
    }
    /* Adjacent: [1,3] + 4 → base 4; dot 2 then dot 1 → base 2. */
    {
        lt_dvv_range r[] = {rng1(&A, 4, 4), rng1(&A, 1, 3)};
        hand_entry want[1] = {{&A, 4, 0, {0}}};
        expect_normal(r, 2, 1, want);
        lt_dvv_range r2[] = {rng1(&A, 2, 2), rng1(&A, 1, 1)};
        hand_entry want2[1] = {{&A, 2, 0, {0}}};
        expect_normal(r2, 2, 1, want2);
    }
    /* Dots only: no base. */
    {
        lt_dvv_range r[] = {rng1(&A, 3, 3), rng1(&A, 2, 2), rng1(&A, 7, 7)};
        hand_entry want[1] = {{&A, 0, 3, {2, 3, 7}}};
        expect_normal(r, 3, 1, want);
    }
    /* Several actors, interleaved: entries come out in (id, bytes) order. */
    {
        lt_dvv_range r[] = {rng1(&B, 2, 2), rng1(&A, 1, 1),   rng1(&C, 1, 10), rng1(&B, 1, 1),
                            rng1(&A, 3, 3), rng1(&C, 12, 12), rng1(&C, 11, 11)};
        hand_entry es[3] = {{&A, 1, 1, {3}}, {&B, 2, 0, {0}}, {&C, 12, 0, {0}}};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j + 1 < 3 - i; j++)
                if (es[j].a->id > es[j + 1].a->id) {
                    hand_entry t = es[j];
                    es[j] = es[j + 1];
                    es[j + 1] = t;
                }
        expect_normal(r, 7, 3, es);
    }
    /* The top of the range. */
    {
        lt_dvv_range r[] = {rng1(&A, 1, UINT64_MAX), rng1(&A, 5, 5),
                            rng1(&A, UINT64_MAX, UINT64_MAX)};
        hand_entry want[1] = {{&A, UINT64_MAX, 0, {0}}};
        expect_normal(r, 3, 1, want);
        lt_dvv_range r2[] = {rng1(&A, 1, 3), rng1(&A, UINT64_MAX, UINT64_MAX)};
        hand_entry want2[1] = {{&A, 3, 1, {UINT64_MAX}}};
        expect_normal(r2, 2, 1, want2);
        lt_dvv_range r3[] = {rng1(&A, UINT64_MAX - 1, UINT64_MAX - 1),
                             rng1(&A, UINT64_MAX, UINT64_MAX)};
        hand_entry want3[1] = {{&A, 0, 2, {UINT64_MAX - 1, UINT64_MAX}}};
        expect_normal(r3, 2, 1, want3);
    }
    /* Nothing at all. */
    {
        lt_dvv d;
        lt_dvv_range none[1];
        CHECK_ERR(lt_dvv_normalize(none, 0, &d), LT_OK);
        CHECK(d.n == 0);
        const uint8_t want[] = {0x02, 0x01, 0x00};
        expect_encodes(&d, want, sizeof want);
        lt_dvv_free(&d);
    }
    /* Refused: lo 0, lo > hi, a long range above 1. */
    {
        lt_dvv d;
        lt_dvv_range r0[] = {rng1(&A, 0, 3)};
        CHECK_ERR(lt_dvv_normalize(r0, 1, &d), LT_E_ZERO);
        lt_dvv_range r1[] = {rng1(&A, 1, 1), rng1(&B, 5, 4)};
        CHECK_ERR(lt_dvv_normalize(r1, 2, &d), LT_E_ORDER);
        lt_dvv_range r2[] = {rng1(&A, 5, 7)};
        CHECK_ERR(lt_dvv_normalize(r2, 1, &d), LT_E_TOO_BIG);
        CHECK(d.entries == NULL && d.dots == NULL);
        lt_dvv_range r3[] = {rng1(&A, 5, UINT64_MAX)};
        CHECK_ERR(lt_dvv_normalize(r3, 1, &d), LT_E_TOO_BIG);
    }
}

static void test_queries(void) {
    lt_buf bd, b; /* a parsed context points into its bytes: bd lives as long as d */
    lt_dvv d;
    const actor_t *lo = A.id < B.id ? &A : &B, *hi = lo == &A ? &B : &A;
    hand_entry es[2] = {{lo, 3, 2, {5, 9}}, {hi, 0, 1, {4}}};
    hand(&bd, 2, es);
    CHECK_ERR(parse(&bd, &d), LT_OK);
    /* contains */
    CHECK(!lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 0));
    CHECK(lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 1));
    CHECK(lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 3));
    CHECK(!lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 4));
    CHECK(lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 5));
    CHECK(!lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 6));
    CHECK(lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 9));
    CHECK(!lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, 10));
    CHECK(!lt_dvv_has_dot(&d, lo->id, lo->b, lo->len, UINT64_MAX));
    CHECK(!lt_dvv_has_dot(&d, hi->id, hi->b, hi->len, 1));
    CHECK(lt_dvv_has_dot(&d, hi->id, hi->b, hi->len, 4));
    CHECK(!lt_dvv_has_dot(&d, C.id, C.b, C.len, 1));
    CHECK(!lt_dvv_has_dot(&d, lo->id, hi->b, hi->len, 1)); /* id of one, bytes of another */
    /* max */
    CHECK(lt_dvv_max(&d, lo->id, lo->b, lo->len) == 9);
    CHECK(lt_dvv_max(&d, hi->id, hi->b, hi->len) == 4);
    CHECK(lt_dvv_max(&d, C.id, C.b, C.len) == 0);
    /* find */
    CHECK(lt_dvv_find(&d, lo->id, lo->b, lo->len) == 0);
    CHECK(lt_dvv_find(&d, hi->id, hi->b, hi->len) == 1);
    CHECK(lt_dvv_find(&d, C.id, C.b, C.len) == -1);

    /* descends */
    lt_dvv e, empty;
    hand(&b, 0, NULL);
    CHECK_ERR(parse(&b, &empty), LT_OK);
    lt_buf_free(&b); /* no entries: nothing points into it */
    CHECK(lt_dvv_is_descendant(&d, &d));
    CHECK(lt_dvv_is_descendant(&d, &empty));
    CHECK(!lt_dvv_is_descendant(&empty, &d));
    CHECK(lt_dvv_is_descendant(&empty, &empty));
    hand_entry sub[1] = {{lo, 2, 1, {9}}};
    hand(&b, 1, sub);
    CHECK_ERR(parse(&b, &e), LT_OK);
    CHECK(lt_dvv_is_descendant(&d, &e));
    CHECK(!lt_dvv_is_descendant(&e, &d));
    lt_dvv_free(&e);
    lt_buf_free(&b);
    hand_entry notsub[1] = {{lo, 4, 0, {0}}}; /* 4 is not in d */
    hand(&b, 1, notsub);
    CHECK_ERR(parse(&b, &e), LT_OK);
    CHECK(!lt_dvv_is_descendant(&d, &e));
    lt_dvv_free(&e);
    lt_buf_free(&b);
    hand_entry notsub2[1] = {{lo, 0, 1, {6}}};
    hand(&b, 1, notsub2);
    CHECK_ERR(parse(&b, &e), LT_OK);
    CHECK(!lt_dvv_is_descendant(&d, &e));
    lt_dvv_free(&e);
    lt_buf_free(&b);
    hand_entry bigger[2] = {{lo, 9, 0, {0}}, {hi, 4, 0, {0}}};
    hand(&b, 2, bigger);
    CHECK_ERR(parse(&b, &e), LT_OK);
    CHECK(lt_dvv_is_descendant(&e, &d));
    CHECK(!lt_dvv_is_descendant(&d, &e));
    lt_dvv_free(&e);
    lt_buf_free(&b);
    lt_dvv_free(&empty);
    lt_dvv_free(&d);
    lt_buf_free(&bd);
}

/* ---- model-based random test ----------------------------------------------------------------
 * A context over a few actors and counters 1..MAXC is a bit set; normalize single dots (and
 * now and then a base range) and check every query against the set. */
#define NA 4
#define MAXC 14

typedef struct {
    unsigned char has[NA][MAXC + 2];
} model;

static void random_model(model *m, uint64_t *rng) {
    memset(m, 0, sizeof *m);
    for (int a = 0; a < NA; a++) {
        uint64_t r = lt_test_rand(rng);
        int style = (int)(r % 4);
        size_t prefix = style == 0 ? 0 : lt_test_below(rng, MAXC + 1);
        for (size_t c = 1; c <= MAXC; c++) {
            if (style == 3)
                m->has[a][c] = 0; /* actor absent */
            else if (c <= prefix)
                m->has[a][c] = 1;
            else
                m->has[a][c] = (lt_test_rand(rng) % 3) == 0;
        }
    }
}

/* Ranges describing the model: dots one by one, the prefix sometimes as one range, some
 * duplicates, in shuffled order. */
static size_t model_ranges(const model *m, const actor_t *const *acts, lt_dvv_range *r,
                           uint64_t *rng) {
    size_t n = 0;
    for (int a = 0; a < NA; a++) {
        size_t run = 0;
        while (run < MAXC && m->has[a][run + 1])
            run++;
        size_t start = 1;
        if (run > 0 && (lt_test_rand(rng) & 1)) {
            r[n++] = rng1(acts[a], 1, run);
            start = lt_test_below(rng, run + 1) + 1; /* some dots again, inside the range */
        }
        for (size_t c = start; c <= MAXC; c++) {
            if (!m->has[a][c])
                continue;
            r[n++] = rng1(acts[a], c, c);
            if (lt_test_rand(rng) % 5 == 0)
                r[n++] = rng1(acts[a], c, c);
        }
    }
    for (size_t k = n; k > 1; k--) {
        size_t j = lt_test_below(rng, k);
        lt_dvv_range t = r[k - 1];
        r[k - 1] = r[j];
        r[j] = t;
    }
    return n;
}

static void test_model(void) {
    const actor_t *acts[NA] = {&A, &B, &C, &D};
    uint64_t rng = 31337;
    unsigned bad = 0;
    for (int it = 0; it < 3000; it++) {
        model m1, m2;
        random_model(&m1, &rng);
        random_model(&m2, &rng);
        if (it % 4 == 0) /* m2 a subset of m1 now and then */
            for (int a = 0; a < NA; a++)
                for (int c = 1; c <= MAXC; c++)
                    m2.has[a][c] &= m1.has[a][c];
        lt_dvv_range r[2 * NA * MAXC + NA];
        lt_dvv d1, d2;
        size_t n1 = model_ranges(&m1, acts, r, &rng);
        if (lt_dvv_normalize(r, n1, &d1) != LT_OK) {
            bad++;
            continue;
        }
        size_t n2 = model_ranges(&m2, acts, r, &rng);
        if (lt_dvv_normalize(r, n2, &d2) != LT_OK) {
            bad++;
            lt_dvv_free(&d1);
            continue;
        }
        /* queries */
        int sub12 = 1, sub21 = 1;
        for (int a = 0; a < NA; a++) {
            const actor_t *x = acts[a];
            uint64_t mx = 0;
            for (uint64_t c = 0; c <= MAXC + 1; c++) {
                int want = c >= 1 && m1.has[a][c];
                if (lt_dvv_has_dot(&d1, x->id, x->b, x->len, c) != want)
                    bad++;
                if (want)
                    mx = c;
                if (m2.has[a][c] && !m1.has[a][c])
                    sub21 = 0; /* d2 not within d1 */
                if (m1.has[a][c] && !m2.has[a][c])
                    sub12 = 0;
            }
            if (lt_dvv_max(&d1, x->id, x->b, x->len) != mx)
                bad++;
            if ((lt_dvv_find(&d1, x->id, x->b, x->len) >= 0) != (mx > 0))
                bad++;
        }
        if (lt_dvv_is_descendant(&d1, &d2) != sub21 || lt_dvv_is_descendant(&d2, &d1) != sub12)
            bad++;
        /* encode → parse → encode; compact form; check_full */
        lt_buf b;
        lt_buf_init(&b);
        if (lt_dvv_encode(&d1, &b) != LT_OK) {
            bad++;
        } else {
            lt_dvv p;
            if (lt_dvv_parse(b.data, b.len, &p) != LT_OK) {
                bad++;
                lt_test_hex("encoded", b.data, b.len);
            } else {
                if (lt_dvv_check_full(&p) != LT_OK || p.n != d1.n || p.ndots != d1.ndots)
                    bad++;
                for (size_t k = 0; k < p.ndots && k < d1.ndots; k++)
                    bad += p.dots[k] != d1.dots[k];
                lt_buf again;
                lt_buf_init(&again);
                if (lt_dvv_encode(&p, &again) != LT_OK || again.len != b.len ||
                    memcmp(again.data, b.data, b.len) != 0)
                    bad++;
                lt_buf_free(&again);
                lt_dvv_free(&p);
            }
        }
        /* Into a fixed buffer of exactly the encoded size. */
        uint8_t *mem = malloc(b.len);
        lt_buf fx;
        lt_buf_init_fixed(&fx, mem, b.len);
        if (lt_dvv_encode(&d1, &fx) != LT_OK || fx.len != b.len || memcmp(mem, b.data, b.len))
            bad++;
        free(mem);
        lt_buf_free(&b);
        lt_dvv_free(&d1);
        lt_dvv_free(&d2);
    }
    CHECK(bad == 0);
}

int main(void) {
    A = atom_actor("a");
    B = atom_actor("b");
    C = atom_actor("node@host");
    D = atom_actor("\xc3\xa9");
    test_parse_encode();
    test_reject();
    test_normalize();
    test_queries();
    test_model();
    return lt_test_summary();
}
