/* test_lwwset.c — LWW-Element-Sets (lt_lwwset.h): known bytes, build (repeats keep the maxima),
 * merge (maxima, forced id collisions, fixed output buffers, bias mismatch), update, lookups and
 * counts under both biases, every malformation the checks refuse, digests, and in-place objects
 * against the binary functions (a randomized differential test against a plain-array model). */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_lwwset.h"
#include "lt_vclock.h"

#define NELEM 40 /* the element universe of the randomized tests */

/* An element: its canonical bytes and its id (the hash, or forced for collision tests). */
typedef struct {
    uint8_t b[32];
    size_t len;
    uint64_t id;
} elem_t;

static elem_t atom_elem(const char *name) {
    elem_t x;
    lt_buf b;
    lt_buf_init_fixed(&b, x.b, sizeof x.b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)name, strlen(name)), LT_OK);
    CHECK(!b.failed);
    x.len = b.len;
    x.id = lt_actor_id(x.b, x.len);
    return x;
}

static elem_t int_elem(int64_t n) {
    elem_t x;
    lt_buf b;
    lt_buf_init_fixed(&b, x.b, sizeof x.b);
    lt_canon_put_int(&b, n);
    CHECK(!b.failed);
    x.len = b.len;
    x.id = lt_actor_id(x.b, x.len);
    return x;
}

static lt_lwwset_entry entry(const elem_t *x, uint64_t add, uint64_t rem) {
    lt_lwwset_entry e = {x->id, add, rem, x->b, x->len};
    return e;
}

/* A set written byte by byte in the given order, with no checks at all. */
static void raw(lt_buf *out, uint8_t bias, size_t n, const uint64_t *ids, const uint64_t *adds,
                const uint64_t *rems, const elem_t *const *xs) {
    lt_buf_init(out);
    lt_buf_put_u8(out, LT_TYPE_LWWSET);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_u8(out, bias);
    lt_buf_put_varint(out, n);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, ids[k]);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, adds[k]);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, rems[k]);
    for (size_t k = 0; k < n; k++) {
        lt_buf_put_varint(out, xs[k]->len);
        lt_buf_put(out, xs[k]->b, xs[k]->len);
    }
}

static lt_err check(const uint8_t *p, size_t len) {
    lt_lwwset_view v;
    lt_err e = lt_lwwset_open(&v, p, len);
    return e != LT_OK ? e : lt_lwwset_check(&v);
}

static lt_err check_full(const uint8_t *p, size_t len) {
    lt_lwwset_view v;
    lt_err e = lt_lwwset_open(&v, p, len);
    return e != LT_OK ? e : lt_lwwset_check_full(&v);
}

/* What an empty object (bias unset) says to joining p[0..len); it must stay empty when it
 * refuses. */
static lt_err obj_join_err(const uint8_t *p, size_t len) {
    lt_lwwset_view v;
    lt_lwwset_obj o;
    lt_err e = lt_lwwset_open(&v, p, len);
    if (e != LT_OK)
        return e;
    lt_lwwset_obj_init(&o, LT_LWWSET_UNSET);
    e = lt_lwwset_obj_join(&o, &v);
    if (e != LT_OK)
        CHECK(o.elems.n == 0 && o.live == 0);
    lt_lwwset_obj_free(&o);
    return e;
}

static lt_err merge(const lt_buf *a, const lt_buf *b, lt_buf *out) {
    lt_lwwset_view va, vb;
    lt_err e;
    lt_buf_init(out);
    if ((e = lt_lwwset_open(&va, a->data, a->len)) != LT_OK)
        return e;
    if ((e = lt_lwwset_open(&vb, b->data, b->len)) != LT_OK)
        return e;
    e = lt_lwwset_merge(&va, &vb, out);
    { /* in steps of a few entries and bytes: the same merge, or the same error */
        static unsigned steps;
        lt_cols_merger *m;
        lt_buf stepped;
        int done = 0;
        lt_err se;
        lt_buf_init(&stepped);
        lt_buf_put(&stepped, "pre", 3);
        if ((se = lt_lwwset_merge_start(&va, &vb, &stepped, &m)) == LT_OK) {
            while (!done && (se = lt_cols_merge_step(m, 1 + steps++ % 3, &done)) == LT_OK)
                ;
            lt_cols_merge_free(m);
        }
        CHECK_ERR(se, e);
        if (e == LT_OK)
            CHECK(stepped.len == 3 + out->len &&
                  memcmp(stepped.data + 3, out->data, out->len) == 0);
        else
            CHECK(stepped.len == 3);
        lt_buf_free(&stepped);
    }
    return e;
}

static int same(const lt_buf *a, const lt_buf *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void digest_of(const lt_buf *b, uint8_t d[16]) {
    lt_lwwset_view v;
    CHECK_ERR(lt_lwwset_open(&v, b->data, b->len), LT_OK);
    CHECK_ERR(lt_lwwset_digest(&v, d), LT_OK);
}

static void test_known_bytes(void) {
    elem_t a = atom_elem("a");
    lt_lwwset_entry e[1] = {entry(&a, 5, 3)};
    lt_buf out;
    lt_buf_init(&out);
    CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, e, 1, &out), LT_OK);
    /* The id of a (04 01 61) is XXH3-64 0x30babe485eb7f9cd (as in test_set.c). */
    const uint8_t want[] = {0x16, 0x01, 0x00, 0x01, 0x30, 0xba, 0xbe, 0x48, 0x5e, 0xb7, 0xf9,
                            0xcd, 0,    0,    0,    0,    0,    0,    0,    5,    0,    0,
                            0,    0,    0,    0,    0,    3,    0x03, 0x04, 0x01, 0x61};
    CHECK_BYTES(out.data, out.len, want);
    CHECK_ERR(check_full(out.data, out.len), LT_OK);
    lt_buf_free(&out);
    /* The empty sets. */
    const uint8_t empty_add[] = {0x16, 0x01, 0x00, 0x00}, empty_rem[] = {0x16, 0x01, 0x01, 0x00};
    lt_buf_init(&out);
    CHECK_ERR(lt_lwwset_build(LT_LWWSET_REMOVE, NULL, 0, &out), LT_OK);
    CHECK_BYTES(out.data, out.len, empty_rem);
    lt_buf_free(&out);
    CHECK_ERR(check_full(empty_add, sizeof empty_add), LT_OK);
    CHECK_ERR(check_full(empty_rem, sizeof empty_rem), LT_OK);
    /* Digests of the two empty sets differ: the bias is the global part. */
    uint8_t d1[16], d2[16];
    lt_lwwset_view v;
    CHECK_ERR(lt_lwwset_open(&v, empty_add, sizeof empty_add), LT_OK);
    CHECK_ERR(lt_lwwset_digest(&v, d1), LT_OK);
    CHECK_ERR(lt_lwwset_open(&v, empty_rem, sizeof empty_rem), LT_OK);
    CHECK_ERR(lt_lwwset_digest(&v, d2), LT_OK);
    CHECK(memcmp(d1, d2, 16) != 0);
}

/* The value rule under both biases. */
static void test_in_value(void) {
    CHECK(lt_lwwset_is_in_value(LT_LWWSET_ADD, 2, 1));
    CHECK(lt_lwwset_is_in_value(LT_LWWSET_REMOVE, 2, 1));
    CHECK(!lt_lwwset_is_in_value(LT_LWWSET_ADD, 1, 2));
    CHECK(!lt_lwwset_is_in_value(LT_LWWSET_REMOVE, 1, 2));
    CHECK(lt_lwwset_is_in_value(LT_LWWSET_ADD, 7, 7));
    CHECK(!lt_lwwset_is_in_value(LT_LWWSET_REMOVE, 7, 7));
    CHECK(!lt_lwwset_is_in_value(LT_LWWSET_ADD, 0, 0));
    CHECK(lt_lwwset_is_in_value(LT_LWWSET_ADD, 1, 0));
    CHECK(!lt_lwwset_is_in_value(LT_LWWSET_ADD, 0, 1));
    CHECK(lt_lwwset_is_in_value(LT_LWWSET_ADD, UINT64_MAX, UINT64_MAX));
}

static void test_build_merge(void) {
    elem_t a = atom_elem("a"), b = atom_elem("b"), c = int_elem(3);
    lt_buf s1, s2, m, m2;
    /* Repeats keep the maxima of each timestamp; entries with both 0 are left out. */
    lt_lwwset_entry e1[5] = {entry(&a, 5, 0), entry(&b, 0, 4), entry(&a, 2, 9), entry(&c, 0, 0),
                             entry(&a, 1, 1)};
    lt_buf_init(&s1);
    CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, e1, 5, &s1), LT_OK);
    lt_lwwset_view v;
    CHECK_ERR(lt_lwwset_open(&v, s1.data, s1.len), LT_OK);
    CHECK(v.n == 2);
    uint64_t add, rem;
    CHECK_ERR(lt_lwwset_lookup(&v, a.id, a.b, a.len, &add, &rem), LT_OK);
    CHECK(add == 5 && rem == 9);
    CHECK_ERR(lt_lwwset_lookup(&v, c.id, c.b, c.len, &add, &rem), LT_OK);
    CHECK(add == 0 && rem == 0);
    size_t count = 99;
    CHECK_ERR(lt_lwwset_count(&v, &count), LT_OK);
    CHECK(count == 0);
    /* Another state: a's add later, c added. */
    lt_lwwset_entry e2[2] = {entry(&a, 10, 0), entry(&c, 3, 3)};
    lt_buf_init(&s2);
    CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, e2, 2, &s2), LT_OK);
    CHECK_ERR(merge(&s1, &s2, &m), LT_OK);
    CHECK_ERR(merge(&s2, &s1, &m2), LT_OK);
    CHECK(same(&m, &m2));
    lt_buf_free(&m2);
    CHECK_ERR(lt_lwwset_open(&v, m.data, m.len), LT_OK);
    CHECK(v.n == 3);
    CHECK_ERR(lt_lwwset_lookup(&v, a.id, a.b, a.len, &add, &rem), LT_OK);
    CHECK(add == 10 && rem == 9);
    CHECK_ERR(lt_lwwset_count(&v, &count), LT_OK);
    CHECK(count == 2); /* a (10 > 9) and c (3 = 3, add bias); not b */
    /* Idempotent, absorbing. */
    CHECK_ERR(merge(&m, &m, &m2), LT_OK);
    CHECK(same(&m, &m2));
    lt_buf_free(&m2);
    CHECK_ERR(merge(&m, &s1, &m2), LT_OK);
    CHECK(same(&m, &m2));
    lt_buf_free(&m2);
    /* Into a fixed buffer of the two inputs' size. */
    uint8_t mem[512];
    lt_lwwset_view va, vb;
    CHECK_ERR(lt_lwwset_open(&va, s1.data, s1.len), LT_OK);
    CHECK_ERR(lt_lwwset_open(&vb, s2.data, s2.len), LT_OK);
    lt_buf_init_fixed(&m2, mem, s1.len + s2.len);
    CHECK_ERR(lt_lwwset_merge(&va, &vb, &m2), LT_OK);
    CHECK_MEM(mem, m2.len, m.data, m.len);
    /* lookup_sorted: one pass for many (sorted, with repeats and an absent one). */
    elem_t d = atom_elem("d");
    lt_lwwset_entry q[5] = {entry(&c, 0, 0), entry(&a, 0, 0), entry(&d, 0, 0), entry(&a, 0, 0),
                            entry(&b, 0, 0)};
    uint64_t qa[5], qr[5];
    lt_lwwset_sort(q, 5);
    CHECK_ERR(lt_lwwset_open(&v, m.data, m.len), LT_OK);
    CHECK_ERR(lt_lwwset_lookup_sorted(&v, q, 5, qa, qr), LT_OK);
    for (size_t k = 0; k < 5; k++) {
        uint64_t wa, wr;
        CHECK_ERR(lt_lwwset_lookup(&v, q[k].id, q[k].elem, q[k].elem_len, &wa, &wr), LT_OK);
        CHECK(qa[k] == wa && qr[k] == wr);
    }
    CHECK_ERR(lt_lwwset_lookup_sorted(&v, q, 0, qa, qr), LT_OK);
    /* Remove bias: the same entries, another value and another digest. */
    lt_buf r;
    lt_lwwset_entry e3[2] = {entry(&a, 10, 9), entry(&c, 3, 3)};
    lt_buf_init(&r);
    CHECK_ERR(lt_lwwset_build(LT_LWWSET_REMOVE, e3, 2, &r), LT_OK);
    CHECK_ERR(lt_lwwset_open(&v, r.data, r.len), LT_OK);
    CHECK_ERR(lt_lwwset_count(&v, &count), LT_OK);
    CHECK(count == 1);
    /* Different biases do not merge; the output is untouched. */
    lt_buf_free(&m2);
    CHECK_ERR(merge(&m, &r, &m2), LT_E_BIAS);
    CHECK(m2.len == 0);
    lt_buf_free(&m2); /* the merge may have reserved room before it found the mismatch */
    CHECK_ERR(merge(&r, &s1, &m2), LT_E_BIAS);
    CHECK(m2.len == 0);
    lt_buf_free(&m2);
    /* Update: delta and merged state, on a state of remove bias. */
    lt_buf delta, st;
    lt_buf_init(&delta);
    lt_buf_init(&st);
    lt_lwwset_entry up[1] = {entry(&c, 4, 0)};
    CHECK_ERR(lt_lwwset_update(&v, up, 1, &delta, &st), LT_OK);
    lt_lwwset_view dv, sv;
    CHECK_ERR(lt_lwwset_open(&dv, delta.data, delta.len), LT_OK);
    CHECK(dv.bias == LT_LWWSET_REMOVE && dv.n == 1);
    CHECK_ERR(lt_lwwset_open(&sv, st.data, st.len), LT_OK);
    CHECK_ERR(lt_lwwset_count(&sv, &count), LT_OK);
    CHECK(count == 2);
    lt_buf_free(&delta);
    lt_buf_free(&st);
    lt_buf_free(&r);
    lt_buf_free(&s1);
    lt_buf_free(&s2);
    lt_buf_free(&m);
}

/* Two elements forced to the same id: the bytes order them, and nothing merges them. */
static void test_collisions(void) {
    elem_t a = atom_elem("a"), b = atom_elem("b");
    a.id = b.id = 42;
    const elem_t *ab[2] = {&a, &b}, *ba[2] = {&b, &a};
    uint64_t ids[2] = {42, 42}, adds[2] = {1, 2}, rems[2] = {0, 0};
    lt_buf good, bad, m;
    raw(&good, LT_LWWSET_ADD, 2, ids, adds, rems, ab);
    raw(&bad, LT_LWWSET_ADD, 2, ids, adds, rems, ba);
    CHECK_ERR(check(good.data, good.len), LT_OK);
    CHECK_ERR(check(bad.data, bad.len), LT_E_ORDER);
    CHECK_ERR(check_full(good.data, good.len), LT_E_ID); /* forced ids are not the hashes */
    CHECK_ERR(merge(&good, &good, &m), LT_OK);
    CHECK(same(&good, &m));
    lt_buf_free(&m);
    /* Merging {a} and {b} (same id) gives both, in bytes order. */
    lt_buf sa, sb;
    raw(&sa, LT_LWWSET_ADD, 1, ids, adds, rems, ab);
    raw(&sb, LT_LWWSET_ADD, 1, ids + 1, adds + 1, rems, ab + 1);
    CHECK_ERR(merge(&sb, &sa, &m), LT_OK);
    CHECK(same(&good, &m));
    lt_buf_free(&m);
    lt_buf_free(&sa);
    lt_buf_free(&sb);
    lt_buf_free(&good);
    lt_buf_free(&bad);
}

static void test_malformed(void) {
    elem_t a = atom_elem("a"), b = atom_elem("b");
    const elem_t *ab[2] = {&a, &b}, *ba[2] = {&b, &a};
    if (a.id > b.id) {
        ab[0] = &b;
        ab[1] = &a;
        ba[0] = &a;
        ba[1] = &b;
    }
    uint64_t ids[2] = {ab[0]->id, ab[1]->id}, rids[2] = {ab[1]->id, ab[0]->id};
    uint64_t adds[2] = {3, 0}, rems[2] = {0, 4}, zero[2] = {0, 0};
    lt_buf good;
    raw(&good, LT_LWWSET_ADD, 2, ids, adds, rems, ab);
    CHECK_ERR(check_full(good.data, good.len), LT_OK);
    CHECK_ERR(obj_join_err(good.data, good.len), LT_OK);
    /* Every proper prefix is refused. */
    for (size_t n = 0; n < good.len; n++) {
        lt_err e = check(good.data, n);
        CHECK(e != LT_OK);
        if (n < 4)
            CHECK_ERR(e, LT_E_TRUNCATED);
    }
    /* A trailing byte. */
    lt_buf t;
    lt_buf_init(&t);
    lt_buf_put(&t, good.data, good.len);
    lt_buf_put_u8(&t, 0);
    CHECK_ERR(check(t.data, t.len), LT_E_TRAILING);
    lt_buf_free(&t);
    /* Header: tag, version, bias. */
    uint8_t h[4] = {0x16, 0x01, 0x00, 0x00};
    CHECK_ERR(check(h, 4), LT_OK);
    h[0] = 0x13;
    CHECK_ERR(check(h, 4), LT_E_WRONG_TYPE);
    CHECK_ERR(check(h, 1), LT_E_WRONG_TYPE);
    h[0] = 0x16;
    h[1] = 0x02;
    CHECK_ERR(check(h, 4), LT_E_VERSION);
    h[1] = 0x01;
    for (unsigned bias = 2; bias < 256; bias += 37) {
        h[2] = (uint8_t)bias;
        CHECK_ERR(check(h, 4), LT_E_NONCANONICAL);
    }
    h[2] = 0xff;
    CHECK_ERR(check(h, 4), LT_E_NONCANONICAL);
    /* n not shortest; n too big. */
    const uint8_t long_n[] = {0x16, 0x01, 0x00, 0x80, 0x00};
    CHECK_ERR(check(long_n, sizeof long_n), LT_E_NONCANONICAL);
    const uint8_t big_n[] = {0x16, 0x01, 0x00, 0x05, 0, 0, 0, 0};
    CHECK_ERR(check(big_n, sizeof big_n), LT_E_TRUNCATED);
    /* Order: reversed, and an element twice. */
    lt_buf bad;
    raw(&bad, LT_LWWSET_ADD, 2, rids, adds, rems, ba);
    CHECK_ERR(check(bad.data, bad.len), LT_E_ORDER);
    CHECK_ERR(obj_join_err(bad.data, bad.len), LT_E_ORDER);
    lt_buf_free(&bad);
    const elem_t *aa[2] = {ab[0], ab[0]};
    uint64_t ids2[2] = {ab[0]->id, ab[0]->id};
    raw(&bad, LT_LWWSET_ADD, 2, ids2, adds, rems, aa);
    CHECK_ERR(check(bad.data, bad.len), LT_E_ORDER);
    lt_buf_free(&bad);
    /* Both timestamps 0. */
    raw(&bad, LT_LWWSET_ADD, 2, ids, zero, rems, ab);
    CHECK_ERR(check(bad.data, bad.len), LT_E_NONCANONICAL);
    CHECK_ERR(obj_join_err(bad.data, bad.len), LT_E_NONCANONICAL);
    lt_buf_free(&bad);
    /* A zero length, a length past the end. */
    lt_buf_init(&bad);
    lt_buf_put(&bad, good.data, good.len);
    size_t elems_at = 4 + 24 * 2;
    bad.data[elems_at] = 0;
    CHECK_ERR(check(bad.data, bad.len), LT_E_NONCANONICAL);
    bad.data[elems_at] = 100;
    CHECK_ERR(check(bad.data, bad.len), LT_E_TRUNCATED);
    lt_buf_free(&bad);
    /* A wrong id: structure fine, full check refuses, an object refuses. */
    uint64_t wrong[2] = {ids[0], ids[1] + 1};
    raw(&bad, LT_LWWSET_ADD, 2, wrong, adds, rems, ab);
    CHECK_ERR(check(bad.data, bad.len), LT_OK);
    CHECK_ERR(check_full(bad.data, bad.len), LT_E_ID);
    CHECK_ERR(obj_join_err(bad.data, bad.len), LT_E_ID);
    lt_buf_free(&bad);
    /* A non-canonical element (an int 7 written with a padded varint). */
    elem_t nc;
    nc.b[0] = 0x01;
    nc.b[1] = 0x8e;
    nc.b[2] = 0x00;
    nc.len = 3;
    nc.id = lt_actor_id(nc.b, nc.len);
    const elem_t *ncs[1] = {&nc};
    raw(&bad, LT_LWWSET_ADD, 1, &nc.id, adds, rems, ncs);
    CHECK_ERR(check(bad.data, bad.len), LT_OK);
    CHECK(check_full(bad.data, bad.len) != LT_OK);
    lt_buf_free(&bad);
    lt_buf_free(&good);
}

/* A model: per element of the universe, its two timestamps. */
typedef struct {
    uint64_t add[NELEM], rem[NELEM];
} model_t;

static void model_to_buf(const model_t *m, const elem_t *u, uint8_t bias, lt_buf *out) {
    lt_lwwset_entry e[NELEM];
    for (size_t k = 0; k < NELEM; k++)
        e[k] = entry(&u[k], m->add[k], m->rem[k]);
    lt_buf_init(out);
    CHECK_ERR(lt_lwwset_build(bias, e, NELEM, out), LT_OK);
}

static void test_objects_random(void) {
    elem_t u[NELEM];
    char name[16];
    for (size_t k = 0; k < NELEM; k++) {
        if (k % 2) {
            u[k] = int_elem((int64_t)k * 1000 - 7);
        } else {
            snprintf(name, sizeof name, "e%zu", k);
            u[k] = atom_elem(name);
        }
    }
    uint64_t rng = 12345;
    for (int round = 0; round < 60; round++) {
        uint8_t bias = (uint8_t)(round % 2);
        model_t m;
        memset(&m, 0, sizeof m);
        lt_lwwset_obj o;
        lt_lwwset_obj_init(&o, bias);
        lt_buf state;
        model_to_buf(&m, u, bias, &state);
        for (int step = 0; step < 80; step++) {
            size_t k = lt_test_below(&rng, NELEM);
            uint64_t ts = 1 + lt_test_below(&rng, 20);
            int rem = (int)lt_test_below(&rng, 2);
            /* The model, the object, and the binary update. */
            if (rem)
                m.rem[k] = m.rem[k] > ts ? m.rem[k] : ts;
            else
                m.add[k] = m.add[k] > ts ? m.add[k] : ts;
            CHECK_ERR(lt_lwwset_obj_set(&o, u[k].id, u[k].b, u[k].len, rem ? 0 : ts, rem ? ts : 0),
                      LT_OK);
            lt_lwwset_entry up[1] = {entry(&u[k], rem ? 0 : ts, rem ? ts : 0)};
            lt_lwwset_view v;
            lt_buf delta, next;
            lt_buf_init(&delta);
            lt_buf_init(&next);
            CHECK_ERR(lt_lwwset_open(&v, state.data, state.len), LT_OK);
            CHECK_ERR(lt_lwwset_update(&v, up, 1, &delta, &next), LT_OK);
            lt_buf_free(&delta);
            lt_buf_free(&state);
            state = next;
        }
        lt_buf want, snap;
        model_to_buf(&m, u, bias, &want);
        CHECK(same(&want, &state));
        lt_buf_init(&snap);
        CHECK_ERR(lt_lwwset_obj_snapshot(&o, &snap), LT_OK);
        CHECK(same(&want, &snap));
        uint8_t d1[16], d2[16];
        digest_of(&want, d1);
        CHECK_ERR(lt_lwwset_obj_digest(&o, d2), LT_OK);
        CHECK(memcmp(d1, d2, 16) == 0);
        size_t live = 0, count = 0;
        for (size_t k = 0; k < NELEM; k++) {
            uint64_t a, r;
            live += (size_t)lt_lwwset_is_in_value(bias, m.add[k], m.rem[k]);
            lt_lwwset_obj_get(&o, u[k].id, u[k].b, u[k].len, &a, &r);
            CHECK(a == m.add[k] && r == m.rem[k]);
        }
        lt_lwwset_view v;
        CHECK_ERR(lt_lwwset_open(&v, want.data, want.len), LT_OK);
        CHECK_ERR(lt_lwwset_count(&v, &count), LT_OK);
        CHECK(live == o.live && live == count);
        /* A fresh object joined with the state agrees; one of the other bias refuses it. */
        lt_lwwset_obj o2;
        lt_lwwset_obj_init(&o2, LT_LWWSET_UNSET);
        CHECK_ERR(lt_lwwset_obj_join(&o2, &v), LT_OK);
        CHECK(o2.bias == bias && o2.live == live);
        CHECK_ERR(lt_lwwset_obj_join(&o2, &v), LT_OK); /* idempotent */
        lt_buf_free(&snap);
        lt_buf_init(&snap);
        CHECK_ERR(lt_lwwset_obj_snapshot(&o2, &snap), LT_OK);
        CHECK(same(&want, &snap));
        lt_lwwset_obj_free(&o2);
        lt_lwwset_obj_init(&o2, (uint8_t)!bias);
        CHECK_ERR(lt_lwwset_obj_join(&o2, &v), LT_E_BIAS);
        CHECK(o2.elems.n == 0);
        lt_lwwset_obj_free(&o2);
        lt_buf_free(&snap);
        lt_buf_free(&want);
        lt_buf_free(&state);
        lt_lwwset_obj_free(&o);
    }
}

/* An object never joined or set shows the empty add-biased set. */
static void test_object_unset(void) {
    lt_lwwset_obj o;
    lt_buf snap;
    const uint8_t empty_add[] = {0x16, 0x01, 0x00, 0x00};
    lt_lwwset_obj_init(&o, LT_LWWSET_UNSET);
    lt_buf_init(&snap);
    CHECK_ERR(lt_lwwset_obj_snapshot(&o, &snap), LT_OK);
    CHECK_BYTES(snap.data, snap.len, empty_add);
    lt_buf_free(&snap);
    elem_t a = atom_elem("a");
    CHECK_ERR(lt_lwwset_obj_set(&o, a.id, a.b, a.len, 0, 0), LT_OK); /* nothing: no bias yet */
    CHECK(o.bias == LT_LWWSET_UNSET && o.elems.n == 0);
    CHECK_ERR(lt_lwwset_obj_set(&o, a.id, a.b, a.len, 4, 4), LT_OK);
    CHECK(o.bias == LT_LWWSET_ADD && o.live == 1);
    lt_lwwset_obj_free(&o);
}

/* Runs of shared entries (lt_colset.c's shared_run): sets sharing most elements, each side's
 * timestamps its own, against the model (lt_lwwset_build of both sides' entries keeps the
 * maxima), one-shot and in steps; then B's timestamps both 0 inside a run. */
static void test_runs(void) {
    enum { N = 200 };
    elem_t *xs = malloc(N * sizeof *xs);
    lt_lwwset_entry *ea = malloc(N * sizeof *ea), *eb = malloc(N * sizeof *eb),
                    *eu = malloc(2 * N * sizeof *eu);
    CHECK(xs != NULL && ea != NULL && eb != NULL && eu != NULL);
    for (size_t k = 0; k < N; k++)
        xs[k] = int_elem((int64_t)k * 7777 + 5);
    uint64_t rng = 4242;
    for (int round = 0; round < 40; round++) {
        size_t na = 0, nb = 0, nu = 0;
        for (size_t k = 0; k < N; k++) {
            size_t dice = lt_test_below(&rng, 10);
            uint64_t add = lt_test_below(&rng, 5), rem = lt_test_below(&rng, 5);
            if (add == 0 && rem == 0)
                add = 1;
            int in_a = round % 4 == 0 || dice != 9, in_b = round % 4 == 0 || dice != 8;
            if (in_a)
                ea[na++] = eu[nu++] = entry(&xs[k], add, rem);
            if (in_b) {
                uint64_t badd = lt_test_below(&rng, 3) == 0 ? add + 1 : add;
                eb[nb++] = eu[nu++] = entry(&xs[k], badd, rem);
            }
        }
        lt_buf a, b, want, m, m2;
        lt_buf_init(&a);
        lt_buf_init(&b);
        lt_buf_init(&want);
        CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, ea, na, &a), LT_OK);
        CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, eb, nb, &b), LT_OK);
        CHECK_ERR(lt_lwwset_build(LT_LWWSET_ADD, eu, nu, &want), LT_OK);
        CHECK_ERR(merge(&a, &b, &m), LT_OK);
        CHECK(same(&m, &want));
        CHECK_ERR(merge(&b, &a, &m2), LT_OK);
        CHECK(same(&m2, &want));
        lt_buf_free(&m);
        lt_buf_free(&m2);
        if (round % 4 == 0) { /* all shared: B's timestamps both 0 at one entry of the run */
            lt_lwwset_view vb;
            CHECK_ERR(lt_lwwset_open(&vb, b.data, b.len), LT_OK);
            size_t at = 1 + lt_test_below(&rng, N - 1);
            memset((uint8_t *)vb.adds + 8 * at, 0, 8);
            memset((uint8_t *)vb.rems + 8 * at, 0, 8);
            CHECK_ERR(merge(&a, &b, &m), LT_E_NONCANONICAL);
            lt_buf_free(&m);
        }
        lt_buf_free(&a);
        lt_buf_free(&b);
        lt_buf_free(&want);
    }
    free(xs);
    free(ea);
    free(eb);
    free(eu);
}

int main(void) {
    test_known_bytes();
    test_in_value();
    test_build_merge();
    test_collisions();
    test_malformed();
    test_objects_random();
    test_object_unset();
    test_runs();
    return lt_test_summary();
}
