/* test_lwwreg.c — the LWW-Register (lt_lwwreg.h): the format byte by byte, every decoder
 * error, the order and merge (with the lattice laws over random registers), the digest
 * against its definition, the next-timestamp rule, and the in-place object against the
 * binary functions. */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_digest.h"
#include "lt_hash.h"
#include "lt_lwwreg.h"

#define MS UINT64_C(1700000000000) /* a plausible wall clock, ms since the epoch */

/* A term's canonical bytes, small enough for the tests. */
typedef struct {
    uint8_t b[64];
    size_t len;
} term_t;

/* The canonical bytes of an atom, an integer, a binary (returned by value: nothing owned). */
static term_t atom(const char *name) {
    term_t t;
    lt_buf b;
    lt_buf_init_fixed(&b, t.b, sizeof t.b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)name, strlen(name)), LT_OK);
    CHECK(!b.failed);
    t.len = b.len;
    return t;
}

static term_t integer(int64_t v) {
    term_t t;
    lt_buf b;
    lt_buf_init_fixed(&b, t.b, sizeof t.b);
    lt_canon_put_int(&b, v);
    CHECK(!b.failed);
    t.len = b.len;
    return t;
}

static term_t binary(const char *s) {
    term_t t;
    lt_buf b;
    lt_buf_init_fixed(&b, t.b, sizeof t.b);
    lt_canon_put_binary(&b, (const uint8_t *)s, strlen(s));
    CHECK(!b.failed);
    t.len = b.len;
    return t;
}

/* A register as a malloc'd buffer (the caller frees it). */
static lt_buf reg(uint64_t ts, term_t actor, term_t value) {
    lt_buf b;
    lt_buf_init(&b);
    CHECK_ERR(lt_lwwreg_write(ts, actor.b, actor.len, value.b, value.len, &b), LT_OK);
    return b;
}

static const uint8_t EMPTY[] = {0x15, 0x01};

/* The bytes of a register, field by field; the size computation; the writer's refusals. */
static void test_format(void) {
    /* ts 0x0102030405060708, actor 'a' (04 01 61), value 7 (zigzag 14). */
    static const uint8_t want[] = {0x15, 0x01, 1, 2,    3,    4,   5,    6,
                                   7,    8,    3, 0x04, 0x01, 'a', 0x01, 14};
    lt_buf b = reg(UINT64_C(0x0102030405060708), atom("a"), integer(7));
    CHECK_BYTES(b.data, b.len, want);
    size_t size = 0;
    CHECK(lt_lwwreg_size(3, 2, &size) == LT_OK);
    CHECK_U64(size, sizeof want);
    CHECK(lt_lwwreg_size(SIZE_MAX - 5, 2, &size) == LT_E_OVERFLOW);
    CHECK(lt_lwwreg_size(2, SIZE_MAX - 12, &size) == LT_E_OVERFLOW);

    lt_lwwreg_view v;
    CHECK_ERR(lt_lwwreg_open(&v, b.data, b.len), LT_OK);
    CHECK(!v.empty);
    CHECK_U64(v.ts, UINT64_C(0x0102030405060708));
    CHECK_MEM(v.actor, v.actor_len, want + 11, 3);
    CHECK_MEM(v.value, v.value_len, want + 14, 2);
    CHECK_MEM(v.body, v.body_len, want + 2, sizeof want - 2);
    lt_buf_free(&b);

    CHECK_ERR(lt_lwwreg_open(&v, EMPTY, sizeof EMPTY), LT_OK);
    CHECK(v.empty);
    CHECK_U64(v.ts, 0);
    CHECK(v.body == NULL && v.body_len == 0);

    /* A long actor: the length is a two-byte varint. */
    term_t big;
    lt_buf bb;
    lt_buf_init_fixed(&bb, big.b, sizeof big.b);
    lt_canon_put_binary(&bb, (const uint8_t *)"0123456789012345678901234567890123456789", 40);
    lt_canon_put_tuple(&bb, 0);
    CHECK(!bb.failed);
    big.len = bb.len - 2; /* the binary only */
    lt_buf w;
    lt_buf_init(&w);
    uint8_t longactor[200];
    for (size_t k = 0; k < 3; k++)
        memcpy(longactor + k * big.len, big.b, big.len);
    /* A tuple of three binaries: 2 + 3 * 42 = 128 bytes. */
    uint8_t tup[130];
    tup[0] = LT_TAG_TUPLE;
    tup[1] = 3;
    memcpy(tup + 2, longactor, 3 * big.len);
    size_t tlen = 2 + 3 * big.len;
    CHECK_U64(tlen, 128);
    CHECK_ERR(lt_lwwreg_write(5, tup, tlen, big.b, big.len, &w), LT_OK);
    CHECK_U64(w.len, 2 + 8 + 2 + 128 + big.len);
    CHECK(w.data[10] == 0x80 && w.data[11] == 0x01);
    CHECK_ERR(lt_lwwreg_open(&v, w.data, w.len), LT_OK);
    CHECK_U64(v.actor_len, 128);
    CHECK_U64(v.value_len, big.len);
    lt_buf_free(&w);

    /* The writer refuses the three caller bugs, and a fixed buffer without room. */
    term_t a = atom("a"), x = integer(1);
    lt_buf_init(&w);
    CHECK_ERR(lt_lwwreg_write(0, a.b, a.len, x.b, x.len, &w), LT_E_ZERO);
    CHECK_ERR(lt_lwwreg_write(1, a.b, 0, x.b, x.len, &w), LT_E_NONCANONICAL);
    CHECK_ERR(lt_lwwreg_write(1, a.b, a.len, x.b, 0, &w), LT_E_TRUNCATED);
    CHECK_U64(w.len, 0);
    lt_buf_free(&w);
    uint8_t small[8];
    lt_buf_init_fixed(&w, small, sizeof small);
    CHECK_ERR(lt_lwwreg_write(1, a.b, a.len, x.b, x.len, &w), LT_E_NOMEM);
    CHECK(w.failed);
}

/* Opening p[0..len) (the caller's bytes) fails with `want`; `line` names the case. */
static void expect_reject(const uint8_t *p, size_t len, lt_err want, int line) {
    lt_lwwreg_view v;
    lt_err got = lt_lwwreg_open(&v, p, len);
    if (got != want)
        fprintf(stderr, "  (case at line %d)\n", line);
    CHECK_ERR(got, want);
}
#define REJECT(arr, want) expect_reject((arr), sizeof(arr), (want), __LINE__)

/* Every decoder error, one case each; then every prefix and every one-byte change. */
static void test_reject(void) {
    static const uint8_t none[1] = {0};
    expect_reject(none, 0, LT_E_TRUNCATED, __LINE__);
    static const uint8_t one[] = {0x15};
    REJECT(one, LT_E_TRUNCATED);
    static const uint8_t wrong[] = {0x10, 0x01, 0};
    REJECT(wrong, LT_E_WRONG_TYPE);
    static const uint8_t version[] = {0x15, 0x02};
    REJECT(version, LT_E_VERSION);
    static const uint8_t short_ts[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 1};
    REJECT(short_ts, LT_E_TRUNCATED);
    static const uint8_t no_actor[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1};
    REJECT(no_actor, LT_E_TRUNCATED);
    static const uint8_t zero_ts[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 1, 'a', 7};
    REJECT(zero_ts, LT_E_ZERO);
    static const uint8_t zero_alen[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0, 7};
    REJECT(zero_alen, LT_E_NONCANONICAL);
    static const uint8_t long_alen[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x83, 0, 4, 1, 'a', 7};
    REJECT(long_alen, LT_E_NONCANONICAL); /* varint 3 in two bytes */
    static const uint8_t huge_alen[] = {0x15, 0x01, 0,    0,    0,    0,    0,
                                        0,    0,    1,    0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 7};
    REJECT(huge_alen, LT_E_OVERFLOW);
    static const uint8_t past_end[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 9, 4, 1, 'a', 7};
    REJECT(past_end, LT_E_TRUNCATED);
    static const uint8_t no_value[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 3, 4, 1, 'a'};
    REJECT(no_value, LT_E_TRUNCATED);
    /* The actor must be exactly one canonical term. */
    static const uint8_t actor_two[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 2, 7, 7, 7};
    REJECT(actor_two, LT_E_TRAILING);
    static const uint8_t actor_short[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 1, 'a', 7};
    REJECT(actor_short, LT_E_TRUNCATED);
    static const uint8_t actor_tag[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x42, 7};
    REJECT(actor_tag, LT_E_BAD_TAG);
    static const uint8_t actor_utf8[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 3, 4, 1, 0xff, 7};
    REJECT(actor_utf8, LT_E_BAD_UTF8);
    static const uint8_t actor_neg0[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 9,
                                         3,    0x80, 0, 0, 0, 0, 0, 0, 0, 7};
    REJECT(actor_neg0, LT_E_NONCANONICAL); /* -0.0 */
    /* The value must be exactly one canonical term, to the end. */
    static const uint8_t value_two[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7, 7, 7};
    REJECT(value_two, LT_E_TRAILING);
    static const uint8_t value_short[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7, 5, 3, 'a'};
    REJECT(value_short, LT_E_TRUNCATED);
    static const uint8_t value_int[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 1, 7, 1, 0x80, 0};
    REJECT(value_int, LT_E_NONCANONICAL);
    static const uint8_t value_map[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1,
                                        1,    7,    9, 2, 1, 4, 7, 1, 2, 7};
    REJECT(value_map, LT_E_ORDER); /* keys 2 then 1 */
    static const uint8_t value_list[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 1,
                                         1,    7,    8, 1, 7, 8, 1, 7, 7};
    REJECT(value_list, LT_E_NONCANONICAL); /* [[] | [[]]] written with a list tail */
    /* Bytes after the empty register. */
    static const uint8_t empty_trailing[] = {0x15, 0x01, 0};
    REJECT(empty_trailing, LT_E_TRUNCATED);

    /* Every prefix of a valid register but the empty header and itself is refused, and every
     * one-byte change of it either still opens (and is then a valid register) or is refused:
     * opening never reads out of bounds (ASan). */
    lt_buf b = reg(77, atom("node"), binary("hello"));
    for (size_t n = 0; n < b.len; n++) {
        lt_lwwreg_view v;
        lt_err e = lt_lwwreg_open(&v, b.data, n);
        CHECK(n == 2 ? e == LT_OK : e != LT_OK);
    }
    for (size_t i = 0; i < b.len; i++)
        for (unsigned x = 1; x < 256; x++) {
            lt_lwwreg_view v;
            b.data[i] ^= (uint8_t)x;
            if (lt_lwwreg_open(&v, b.data, b.len) == LT_OK) {
                lt_buf w;
                lt_buf_init(&w);
                CHECK_ERR(lt_lwwreg_write(v.ts, v.actor, v.actor_len, v.value, v.value_len, &w),
                          LT_OK);
                CHECK_MEM(w.data, w.len, b.data, b.len);
                lt_buf_free(&w);
            }
            b.data[i] ^= (uint8_t)x;
        }
    lt_buf_free(&b);
}

/* lt_lwwreg_cmp of two registers held in buffers (opened here; both must be valid). */
static int cmp_bufs(const lt_buf *a, const lt_buf *b) {
    lt_lwwreg_view va, vb;
    CHECK_ERR(lt_lwwreg_open(&va, a->data, a->len), LT_OK);
    CHECK_ERR(lt_lwwreg_open(&vb, b->data, b->len), LT_OK);
    return lt_lwwreg_cmp(&va, &vb);
}

/* The order: timestamp, then actor bytes, then value bytes; the empty register lowest. */
static void test_order(void) {
    lt_buf empty;
    lt_buf_init(&empty);
    lt_buf_put(&empty, EMPTY, sizeof EMPTY);
    lt_buf r1 = reg(1, atom("z"), integer(9));
    lt_buf r2a = reg(2, atom("a"), integer(9));
    lt_buf r2b = reg(2, atom("b"), integer(0));
    lt_buf r2b2 = reg(2, atom("b"), integer(1));
    lt_buf big = reg(UINT64_MAX, atom("a"), integer(0));
    /* Ascending, each pair in both directions. */
    const lt_buf *order[] = {&empty, &r1, &r2a, &r2b, &r2b2, &big};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = cmp_bufs(order[i], order[j]);
            CHECK(c == (i < j ? -1 : (i > j ? 1 : 0)));
            lt_lwwreg_view vi, vj;
            CHECK_ERR(lt_lwwreg_open(&vi, order[i]->data, order[i]->len), LT_OK);
            CHECK_ERR(lt_lwwreg_open(&vj, order[j]->data, order[j]->len), LT_OK);
            CHECK(lt_lwwreg_choose(&vi, &vj) == (i >= j ? 0 : 1));
        }
    /* The actor order is the canonical bytes' order, not Erlang's term order: the integer 1
     * (tag 0x01) sorts before the atom a (tag 0x04); so does a shorter atom before a longer
     * one with the same start ("ab" < "abc" as canonical bytes: the length comes first). */
    lt_buf ri = reg(5, integer(1), integer(0));
    lt_buf ra = reg(5, atom("a"), integer(0));
    CHECK(cmp_bufs(&ri, &ra) == -1);
    lt_buf rab = reg(5, atom("ab"), integer(0));
    lt_buf rabc = reg(5, atom("abc"), integer(0));
    lt_buf rb = reg(5, atom("b"), integer(0));
    CHECK(cmp_bufs(&rab, &rabc) == -1);
    CHECK(cmp_bufs(&rb, &rab) == -1); /* length byte 1 < 2 */
    lt_buf *all[] = {&empty, &r1, &r2a, &r2b, &r2b2, &big, &ri, &ra, &rab, &rabc, &rb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        lt_buf_free(all[i]);
}

/* The digest from its definition in docs/FORMAT.md, computed the long way. */
static void digest_by_hand(const uint8_t *body, size_t body_len, uint8_t out[16]) {
    uint8_t buf[26];
    uint64_t n = body ? 1 : 0;
    lt_hash128_t e = {0, 0};
    if (body)
        e = lt_hash128(body, body_len, 0);
    buf[0] = 0x15;
    buf[1] = 0x01;
    lt_write_be64(buf + 2, n);
    lt_write_be64(buf + 10, e.hi);
    lt_write_be64(buf + 18, e.lo);
    lt_hash128_t h = lt_hash128(buf, sizeof buf, 0);
    lt_write_be64(out, h.hi);
    lt_write_be64(out + 8, h.lo);
}

/* lt_lwwreg_digest against its definition, for the empty and a non-empty register. */
static void test_digest(void) {
    lt_lwwreg_view v;
    uint8_t d[16], want[16], d2[16];
    CHECK_ERR(lt_lwwreg_open(&v, EMPTY, sizeof EMPTY), LT_OK);
    CHECK_ERR(lt_lwwreg_digest(&v, d), LT_OK);
    digest_by_hand(NULL, 0, want);
    CHECK_BYTES(d, 16, want);

    lt_buf r = reg(12345, atom("a"), binary("v"));
    CHECK_ERR(lt_lwwreg_open(&v, r.data, r.len), LT_OK);
    CHECK_ERR(lt_lwwreg_digest(&v, d), LT_OK);
    digest_by_hand(r.data + 2, r.len - 2, want);
    CHECK_BYTES(d, 16, want);
    /* Another value, another digest. */
    lt_buf r2 = reg(12345, atom("a"), binary("w"));
    CHECK_ERR(lt_lwwreg_open(&v, r2.data, r2.len), LT_OK);
    CHECK_ERR(lt_lwwreg_digest(&v, d2), LT_OK);
    CHECK(memcmp(d, d2, 16) != 0);
    lt_buf_free(&r);
    lt_buf_free(&r2);
}

/* The next-timestamp rule: examples, saturation, and a randomized check against
 * lt_hlc_receive with no offset limit. */
static void test_next_ts(void) {
    uint64_t now = lt_hlc_make(MS, 0);
    /* A fresh clock and an empty register: the wall clock. */
    CHECK_U64(lt_lwwreg_next_ts(0, 0, MS), now);
    /* The clock's last timestamp is ahead: one past it. */
    CHECK_U64(lt_lwwreg_next_ts(now + 10, 0, MS), now + 11);
    CHECK_U64(lt_lwwreg_next_ts(now + 10, now + 3, MS), now + 11);
    /* The register is ahead, however far (no max-offset check): one past it. */
    uint64_t far = lt_hlc_make(MS + 86400000, 7);
    CHECK_U64(lt_lwwreg_next_ts(now, far, MS), far + 1);
    CHECK_U64(lt_lwwreg_next_ts(0, UINT64_MAX - 1, MS), UINT64_MAX);
    /* Nothing is above UINT64_MAX: the rule saturates and the caller must refuse. */
    CHECK_U64(lt_lwwreg_next_ts(0, UINT64_MAX, MS), UINT64_MAX);
    /* It is the HLC receive rule with no offset limit; and it is always past both inputs and
     * not behind the wall clock. */
    uint64_t rng = 42;
    for (int k = 0; k < 100000; k++) {
        uint64_t pt = MS + lt_test_below(&rng, 1000);
        uint64_t base = lt_hlc_make(MS, 0);
        uint64_t last = base + (lt_test_rand(&rng) % (UINT64_C(1) << 28));
        uint64_t cur = k % 7 == 0 ? lt_test_rand(&rng) >> 1
                                  : base + (lt_test_rand(&rng) % (UINT64_C(1) << 28));
        uint64_t next = lt_lwwreg_next_ts(last, cur, pt), want, skew;
        CHECK_ERR(lt_hlc_receive(last, cur, pt, UINT64_MAX, &want, &skew), LT_OK);
        if (next != want || next <= cur || next <= last || next < lt_hlc_make(pt, 0)) {
            CHECK(0);
            break;
        }
    }
}

/* The object holds exactly the register `want` (the caller's): bytes, digest, timestamp. */
static void check_obj_is(const lt_lwwreg_obj *o, const lt_buf *want) {
    lt_buf s;
    lt_lwwreg_view v;
    uint8_t d[16], od[16];
    lt_buf_init(&s);
    CHECK_ERR(lt_lwwreg_obj_snapshot(o, &s), LT_OK);
    CHECK_MEM(s.data, s.len, want->data, want->len);
    CHECK_ERR(lt_lwwreg_open(&v, s.data, s.len), LT_OK);
    CHECK_ERR(lt_lwwreg_digest(&v, d), LT_OK);
    lt_lwwreg_obj_digest(o, od);
    CHECK_BYTES(od, 16, d);
    CHECK_U64(lt_lwwreg_obj_ts(o), v.ts);
    lt_buf_free(&s);
}

/* The in-place object: assign, stale assigns, joins, refused joins; then a randomized
 * differential test against the binary functions. */
static void test_object(void) {
    lt_lwwreg_obj o;
    lt_buf empty;
    lt_buf_init(&empty);
    lt_buf_put(&empty, EMPTY, sizeof EMPTY);
    CHECK_ERR(lt_lwwreg_obj_init(&o), LT_OK);
    check_obj_is(&o, &empty);
    CHECK_U64(lt_lwwreg_obj_ts(&o), 0);

    term_t a = atom("a"), b = atom("b"), v1 = binary("one"), v2 = binary("two");
    CHECK_ERR(lt_lwwreg_obj_assign(&o, 10, a.b, a.len, v1.b, v1.len), LT_OK);
    lt_buf r10 = reg(10, a, v1);
    check_obj_is(&o, &r10);
    /* Stale: equal or lower timestamps are refused, and change nothing. */
    CHECK_ERR(lt_lwwreg_obj_assign(&o, 10, b.b, b.len, v2.b, v2.len), LT_E_ORDER);
    CHECK_ERR(lt_lwwreg_obj_assign(&o, 3, b.b, b.len, v2.b, v2.len), LT_E_ORDER);
    CHECK_ERR(lt_lwwreg_obj_assign(&o, 11, b.b, 0, v2.b, v2.len), LT_E_NONCANONICAL);
    check_obj_is(&o, &r10);
    /* Joins: lower and equal states change nothing; a tie on ts broken by the actor. */
    CHECK_ERR(lt_lwwreg_obj_join(&o, empty.data, empty.len), LT_OK);
    lt_buf r9 = reg(9, b, v2), r10b = reg(10, b, v2);
    CHECK_ERR(lt_lwwreg_obj_join(&o, r9.data, r9.len), LT_OK);
    CHECK_ERR(lt_lwwreg_obj_join(&o, r10.data, r10.len), LT_OK);
    check_obj_is(&o, &r10);
    CHECK_ERR(lt_lwwreg_obj_join(&o, r10b.data, r10b.len), LT_OK);
    check_obj_is(&o, &r10b);
    /* Bad binaries are refused and change nothing. */
    static const uint8_t bad[] = {0x15, 0x01, 0, 0, 0, 0, 0, 0, 0, 99, 1, 7, 7, 7};
    CHECK_ERR(lt_lwwreg_obj_join(&o, bad, sizeof bad), LT_E_TRAILING);
    CHECK_ERR(lt_lwwreg_obj_join(&o, EMPTY, 1), LT_E_TRUNCATED);
    check_obj_is(&o, &r10b);
    lt_lwwreg_obj_free(&o);
    lt_lwwreg_obj_free(&o); /* freeing twice is harmless */

    /* Differential: random assigns and joins on an object and on binaries agree. */
    uint64_t rng = 7;
    term_t actors[] = {atom("a"), atom("b"), integer(3), binary("c")};
    term_t values[] = {integer(0), integer(-1), binary("x"), atom("undefined")};
    for (int round = 0; round < 50; round++) {
        lt_lwwreg_obj obj;
        lt_buf cur;
        lt_buf_init(&cur);
        lt_buf_put(&cur, EMPTY, sizeof EMPTY);
        CHECK_ERR(lt_lwwreg_obj_init(&obj), LT_OK);
        for (int step = 0; step < 40; step++) {
            term_t ac = actors[lt_test_below(&rng, 4)], va = values[lt_test_below(&rng, 4)];
            uint64_t ts = 1 + lt_test_below(&rng, 30);
            lt_buf other = reg(ts, ac, va);
            lt_lwwreg_view vc, vo;
            CHECK_ERR(lt_lwwreg_open(&vc, cur.data, cur.len), LT_OK);
            CHECK_ERR(lt_lwwreg_open(&vo, other.data, other.len), LT_OK);
            int pick = lt_lwwreg_choose(&vc, &vo);
            if (lt_test_below(&rng, 2)) {
                lt_err e = lt_lwwreg_obj_assign(&obj, ts, ac.b, ac.len, va.b, va.len);
                CHECK_ERR(e, ts > vc.ts ? LT_OK : LT_E_ORDER);
                if (e == LT_OK)
                    CHECK(pick == 1); /* a later timestamp always wins */
                else
                    pick = 0;
            } else {
                CHECK_ERR(lt_lwwreg_obj_join(&obj, other.data, other.len), LT_OK);
            }
            if (pick == 1) {
                lt_buf_free(&cur);
                cur = other;
            } else {
                lt_buf_free(&other);
            }
            check_obj_is(&obj, &cur);
        }
        lt_lwwreg_obj_free(&obj);
        lt_buf_free(&cur);
    }
    lt_buf_free(&r10);
    lt_buf_free(&r9);
    lt_buf_free(&r10b);
    lt_buf_free(&empty);
}

/* Merge laws over a pool of registers: commutative, associative, idempotent, the empty
 * register the identity; and the join is an upper bound of both. */
static void test_laws(void) {
    enum { N = 24 };
    lt_buf pool[N];
    lt_lwwreg_view v[N];
    uint64_t rng = 99;
    term_t actors[] = {atom("a"), atom("b"), integer(3)};
    term_t values[] = {integer(0), binary("x"), atom("y")};
    lt_buf_init(&pool[0]);
    lt_buf_put(&pool[0], EMPTY, sizeof EMPTY);
    for (size_t i = 1; i < N; i++)
        pool[i] = reg(1 + lt_test_below(&rng, 4), actors[lt_test_below(&rng, 3)],
                      values[lt_test_below(&rng, 3)]);
    for (size_t i = 0; i < N; i++)
        CHECK_ERR(lt_lwwreg_open(&v[i], pool[i].data, pool[i].len), LT_OK);
#define JOIN(x, y) (lt_lwwreg_choose(&v[x], &v[y]) == 0 ? (x) : (y))
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        bad += JOIN(i, i) != i || JOIN(i, 0) != i || JOIN(0, i) != i;
        for (size_t j = 0; j < N; j++) {
            size_t ij = JOIN(i, j), ji = JOIN(j, i);
            /* Commutative as bytes (equal registers may be two different indices). */
            bad += lt_lwwreg_cmp(&v[ij], &v[ji]) != 0;
            bad += lt_lwwreg_cmp(&v[ij], &v[i]) < 0 || lt_lwwreg_cmp(&v[ij], &v[j]) < 0;
            for (size_t k = 0; k < N; k++)
                bad += lt_lwwreg_cmp(&v[JOIN(ij, k)], &v[JOIN(i, JOIN(j, k))]) != 0;
        }
    }
#undef JOIN
    CHECK(bad == 0);
    for (size_t i = 0; i < N; i++)
        lt_buf_free(&pool[i]);
}

int main(void) {
    test_format();
    test_reject();
    test_order();
    test_digest();
    test_next_ts();
    test_object();
    test_laws();
    return lt_test_summary();
}
