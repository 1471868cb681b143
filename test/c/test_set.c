/* test_set.c — G-Sets and 2P-Sets (lt_set.h): known bytes, build, merge (incl. forced id
 * collisions and fixed output buffers), update, lookup and count, every malformation the checks
 * refuse, digests, and in-place objects against the binary functions (a randomized differential
 * test against a plain-array model). */
#include "lt_test.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_set.h"
#include "lt_vclock.h"

#define NELEM 48 /* the element universe of the randomized tests */

/* An element: its canonical bytes and its id (the hash, or forced for collision tests). */
typedef struct {
    uint8_t b[256];
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

static elem_t forced(elem_t x, uint64_t id) {
    x.id = id;
    return x;
}

static lt_set_entry entry(const elem_t *x, uint8_t flags) {
    lt_set_entry e = {x->id, flags, x->b, x->len};
    return e;
}

/* A set of type `tag` from entries through lt_set_build; `out` is initialised here. */
static lt_err mk(lt_buf *out, uint8_t tag, size_t n, const elem_t *const *xs,
                 const uint8_t *flags) {
    lt_set_entry e[2 * NELEM + 8];
    for (size_t k = 0; k < n; k++)
        e[k] = entry(xs[k], flags != NULL ? flags[k] : LT_SET_ADDED);
    lt_buf_init(out);
    return lt_set_build(tag, e, n, out);
}

/* A set written byte by byte in the given order, with no checks at all. */
static void raw(lt_buf *out, uint8_t tag, size_t n, const uint64_t *ids, const uint8_t *flags,
                const elem_t *const *xs) {
    lt_buf_init(out);
    lt_buf_put_u8(out, tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, n);
    for (size_t k = 0; k < n; k++)
        lt_buf_put_be64(out, ids[k]);
    if (tag == LT_TYPE_TWOPSET)
        for (size_t k = 0; k < n; k++)
            lt_buf_put_u8(out, flags[k]);
    for (size_t k = 0; k < n; k++) {
        lt_buf_put_varint(out, xs[k]->len);
        lt_buf_put(out, xs[k]->b, xs[k]->len);
    }
}

static lt_err check(const uint8_t *p, size_t len, uint8_t tag) {
    lt_set_view v;
    lt_err e = lt_set_open(&v, p, len, tag);
    return e != LT_OK ? e : lt_set_check(&v);
}

static lt_err check_full(const uint8_t *p, size_t len, uint8_t tag) {
    lt_set_view v;
    lt_err e = lt_set_open(&v, p, len, tag);
    return e != LT_OK ? e : lt_set_check_full(&v);
}

/* What an empty object says to joining p[0..len); it must stay empty when it refuses. */
static lt_err obj_join_err(const uint8_t *p, size_t len, uint8_t tag) {
    lt_set_view v;
    lt_set_obj o;
    lt_err e = lt_set_open(&v, p, len, tag);
    if (e != LT_OK)
        return e;
    lt_set_obj_init(&o, tag);
    e = lt_set_obj_join(&o, &v);
    if (e != LT_OK)
        CHECK(o.elems.n == 0 && o.live == 0);
    lt_set_obj_free(&o);
    return e;
}

static lt_err merge(const lt_buf *a, const lt_buf *b, uint8_t tag, lt_buf *out) {
    lt_set_view va, vb;
    lt_err e;
    lt_buf_init(out);
    if ((e = lt_set_open(&va, a->data, a->len, tag)) != LT_OK)
        return e;
    if ((e = lt_set_open(&vb, b->data, b->len, tag)) != LT_OK)
        return e;
    e = lt_set_merge(&va, &vb, out);
    { /* in steps of a few entries and bytes: the same union, or the same error */
        static unsigned steps;
        lt_cols_merger *m;
        lt_buf stepped;
        int done = 0;
        lt_err se;
        lt_buf_init(&stepped);
        lt_buf_put(&stepped, "pre", 3);
        if ((se = lt_set_merge_start(&va, &vb, &stepped, &m)) == LT_OK) {
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

static elem_t A, B, C, D;

static void test_known_bytes(void) {
    lt_buf s;
    /* The empty sets. */
    CHECK_ERR(mk(&s, LT_TYPE_GSET, 0, NULL, NULL), LT_OK);
    {
        const uint8_t want[] = {0x12, 0x01, 0x00};
        CHECK_BYTES(s.data, s.len, want);
    }
    CHECK_ERR(check_full(s.data, s.len, LT_TYPE_GSET), LT_OK);
    lt_buf_free(&s);
    CHECK_ERR(mk(&s, LT_TYPE_TWOPSET, 0, NULL, NULL), LT_OK);
    {
        const uint8_t want[] = {0x13, 0x01, 0x00};
        CHECK_BYTES(s.data, s.len, want);
    }
    lt_buf_free(&s);

    /* {a}: the id of the atom a (04 01 61) is XXH3-64 0x30babe485eb7f9cd. */
    CHECK_U64(A.id, UINT64_C(0x30babe485eb7f9cd));
    const elem_t *one[] = {&A};
    CHECK_ERR(mk(&s, LT_TYPE_GSET, 1, one, NULL), LT_OK);
    {
        const uint8_t want[] = {0x12, 0x01, 0x01, 0x30, 0xba, 0xbe, 0x48, 0x5e,
                                0xb7, 0xf9, 0xcd, 0x03, 0x04, 0x01, 0x61};
        CHECK_BYTES(s.data, s.len, want);
    }
    lt_buf_free(&s);
    const uint8_t removed[] = {LT_SET_BOTH};
    CHECK_ERR(mk(&s, LT_TYPE_TWOPSET, 1, one, removed), LT_OK);
    {
        const uint8_t want[] = {0x13, 0x01, 0x01, 0x30, 0xba, 0xbe, 0x48, 0x5e,
                                0xb7, 0xf9, 0xcd, 0x03, 0x03, 0x04, 0x01, 0x61};
        CHECK_BYTES(s.data, s.len, want);
    }
    CHECK_ERR(check_full(s.data, s.len, LT_TYPE_TWOPSET), LT_OK);
    lt_buf_free(&s);

    /* Several elements, given in any order with repeats, come out sorted by id, once each, the
     * repeats' flags OR'ed; a G-Set ignores the flags given. */
    const elem_t *xs[] = {&D, &B, &A, &C, &B, &D};
    const uint8_t fl[] = {LT_SET_ADDED, LT_SET_REMOVED, LT_SET_ADDED,
                          LT_SET_ADDED, LT_SET_ADDED,   LT_SET_ADDED};
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        CHECK_ERR(mk(&s, tag, 6, xs, fl), LT_OK);
        CHECK_ERR(check_full(s.data, s.len, tag), LT_OK);
        lt_set_view v;
        CHECK_ERR(lt_set_open(&v, s.data, s.len, tag), LT_OK);
        CHECK(v.n == 4);
        size_t count = 99;
        CHECK_ERR(lt_set_count(&v, &count), LT_OK);
        CHECK(count == (two_p ? 3u : 4u)); /* b is added and removed in the 2P-Set */
        for (size_t k = 1; k < v.n; k++)
            CHECK(lt_set_id(&v, k - 1) < lt_set_id(&v, k));
        uint8_t f = 0;
        CHECK_ERR(lt_set_lookup(&v, B.id, B.b, B.len, &f), LT_OK);
        CHECK(f == (two_p ? LT_SET_BOTH : LT_SET_ADDED));
        CHECK_ERR(lt_set_lookup(&v, D.id, D.b, D.len, &f), LT_OK);
        CHECK(f == LT_SET_ADDED);
        elem_t z = atom_elem("zzz");
        CHECK_ERR(lt_set_lookup(&v, z.id, z.b, z.len, &f), LT_OK);
        CHECK(f == 0);
        lt_buf_free(&s);
    }

    /* A 2P-Set entry with flags 0 is left out by build. */
    const elem_t *two[] = {&A, &B};
    const uint8_t f0[] = {0, LT_SET_REMOVED};
    CHECK_ERR(mk(&s, LT_TYPE_TWOPSET, 2, two, f0), LT_OK);
    {
        lt_set_view v;
        CHECK_ERR(lt_set_open(&v, s.data, s.len, LT_TYPE_TWOPSET), LT_OK);
        CHECK(v.n == 1 && lt_set_id(&v, 0) == B.id && lt_set_flags(&v, 0) == LT_SET_REMOVED);
    }
    lt_buf_free(&s);
}

static void test_merge(void) {
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        lt_buf a, b, ab, ba, aa, want, m;
        const elem_t *xa[] = {&A, &B, &C};
        const uint8_t fa[] = {LT_SET_ADDED, LT_SET_ADDED, LT_SET_REMOVED};
        const elem_t *xb[] = {&B, &D};
        const uint8_t fb[] = {LT_SET_REMOVED, LT_SET_ADDED};
        const elem_t *xw[] = {&A, &B, &C, &D};
        const uint8_t fw[] = {LT_SET_ADDED, LT_SET_BOTH, LT_SET_REMOVED, LT_SET_ADDED};
        CHECK_ERR(mk(&a, tag, 3, xa, fa), LT_OK);
        CHECK_ERR(mk(&b, tag, 2, xb, fb), LT_OK);
        CHECK_ERR(mk(&want, tag, 4, xw, fw), LT_OK);
        CHECK_ERR(merge(&a, &b, tag, &ab), LT_OK);
        CHECK_ERR(merge(&b, &a, tag, &ba), LT_OK);
        CHECK_ERR(merge(&a, &a, tag, &aa), LT_OK);
        CHECK(same(&ab, &want));
        CHECK(same(&ba, &want));
        CHECK(same(&aa, &a));
        CHECK_ERR(check_full(ab.data, ab.len, tag), LT_OK);
        /* With the empty set. */
        lt_buf empty;
        CHECK_ERR(mk(&empty, tag, 0, NULL, NULL), LT_OK);
        CHECK_ERR(merge(&empty, &a, tag, &m), LT_OK);
        CHECK(same(&m, &a));
        lt_buf_free(&m);
        CHECK_ERR(merge(&empty, &empty, tag, &m), LT_OK);
        CHECK(same(&m, &empty));
        lt_buf_free(&m);
        /* Into a fixed buffer of exactly a.len + b.len, as the NIF does it; appended after
         * what the buffer already holds. */
        uint8_t mem[512];
        lt_buf fx;
        lt_buf_init_fixed(&fx, mem, a.len + b.len);
        lt_set_view va, vb;
        CHECK_ERR(lt_set_open(&va, a.data, a.len, tag), LT_OK);
        CHECK_ERR(lt_set_open(&vb, b.data, b.len, tag), LT_OK);
        CHECK_ERR(lt_set_merge(&va, &vb, &fx), LT_OK);
        CHECK_MEM(mem, fx.len, want.data, want.len);
        lt_buf_init(&m);
        lt_buf_put(&m, "xy", 2);
        CHECK_ERR(lt_set_merge(&va, &vb, &m), LT_OK);
        CHECK(m.len == 2 + want.len && memcmp(m.data + 2, want.data, want.len) == 0);
        lt_buf_free(&m);
        /* A set of the other type is wrong_type, and the output is untouched. */
        lt_set_view other = vb;
        other.tag = two_p ? LT_TYPE_GSET : LT_TYPE_TWOPSET;
        lt_buf_init(&m);
        CHECK_ERR(lt_set_merge(&va, &other, &m), LT_E_WRONG_TYPE);
        CHECK(m.len == 0);
        lt_buf_free(&m);
        /* A bad input anywhere: its error, and nothing written. */
        lt_buf bad;
        lt_buf_init(&bad);
        lt_buf_put(&bad, a.data, a.len);
        lt_buf_put_u8(&bad, 0);
        lt_set_view vbad;
        CHECK_ERR(lt_set_open(&vbad, bad.data, bad.len, tag), LT_OK);
        lt_buf_init(&m);
        CHECK_ERR(lt_set_merge(&va, &vbad, &m), LT_E_TRAILING);
        CHECK_ERR(lt_set_merge(&vbad, &va, &m), LT_E_TRAILING);
        CHECK(m.len == 0);
        lt_buf_free(&m);
        lt_buf_free(&bad);
        lt_buf_free(&empty);
        lt_buf_free(&a);
        lt_buf_free(&b);
        lt_buf_free(&ab);
        lt_buf_free(&ba);
        lt_buf_free(&aa);
        lt_buf_free(&want);
    }
}

/* Two elements with one id (a forced collision): the bytes order them, and nothing merges two
 * elements into one. */
static void test_collision(void) {
    elem_t x = forced(atom_elem("x"), 42), y = forced(atom_elem("y"), 42);
    elem_t lo = forced(atom_elem("lo"), 7), hi = forced(atom_elem("hi"), UINT64_MAX);
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        lt_buf a, b, m, want;
        lt_set_view v0;
        const elem_t *xa[] = {&y, &hi};
        const uint8_t fa[] = {LT_SET_ADDED, LT_SET_ADDED};
        const elem_t *xb[] = {&x, &lo, &y};
        const uint8_t fb[] = {LT_SET_ADDED, LT_SET_ADDED, LT_SET_REMOVED};
        const elem_t *xw[] = {&lo, &x, &y, &hi};
        const uint8_t fw[] = {LT_SET_ADDED, LT_SET_ADDED, LT_SET_BOTH, LT_SET_ADDED};
        CHECK_ERR(mk(&a, tag, 2, xa, fa), LT_OK);
        CHECK_ERR(mk(&b, tag, 3, xb, fb), LT_OK);
        CHECK_ERR(mk(&want, tag, 4, xw, fw), LT_OK);
        CHECK_ERR(check(want.data, want.len, tag), LT_OK);
        /* Forced ids are not the hashes: only the full check says so. */
        CHECK_ERR(check_full(want.data, want.len, tag), LT_E_ID);
        /* An object refuses to join them (its elements are always under their true ids), and
         * stays empty. */
        lt_set_obj o;
        lt_set_obj_init(&o, tag);
        CHECK_ERR(lt_set_open(&v0, want.data, want.len, tag), LT_OK);
        CHECK_ERR(lt_set_obj_join(&o, &v0), LT_E_ID);
        CHECK(o.elems.n == 0 && o.live == 0);
        lt_set_obj_free(&o);
        CHECK_ERR(merge(&a, &b, tag, &m), LT_OK);
        CHECK(same(&m, &want));
        lt_buf_free(&m);
        CHECK_ERR(merge(&b, &a, tag, &m), LT_OK);
        CHECK(same(&m, &want));
        lt_buf_free(&m);
        lt_set_view v;
        uint8_t f;
        CHECK_ERR(lt_set_open(&v, want.data, want.len, tag), LT_OK);
        CHECK_ERR(lt_set_lookup(&v, 42, x.b, x.len, &f), LT_OK);
        CHECK(f == LT_SET_ADDED);
        CHECK_ERR(lt_set_lookup(&v, 42, y.b, y.len, &f), LT_OK);
        CHECK(f == (two_p ? LT_SET_BOTH : LT_SET_ADDED));
        CHECK_ERR(lt_set_lookup(&v, 42, lo.b, lo.len, &f), LT_OK);
        CHECK(f == 0);
        /* The colliding pair in the wrong byte order, or twice, is refused. */
        const uint64_t ids[] = {42, 42};
        const uint8_t fl[] = {1, 1};
        const elem_t *yx[] = {&y, &x}, *xx[] = {&x, &x};
        lt_buf r;
        raw(&r, tag, 2, ids, fl, yx);
        CHECK_ERR(check(r.data, r.len, tag), LT_E_ORDER);
        lt_buf_free(&r);
        raw(&r, tag, 2, ids, fl, xx);
        CHECK_ERR(check(r.data, r.len, tag), LT_E_ORDER);
        lt_buf_free(&r);
        lt_buf_free(&a);
        lt_buf_free(&b);
        lt_buf_free(&want);
    }
}

/* Every malformation is refused by every function that reads the structure. */
static void expect_bad(const uint8_t *p, size_t len, uint8_t tag, lt_err want) {
    lt_set_view v, good;
    lt_buf ok, out;
    lt_err e = lt_set_open(&v, p, len, tag);
    if (e != LT_OK) {
        CHECK_ERR(e, want);
        return;
    }
    CHECK_ERR(lt_set_check(&v), want);
    CHECK_ERR(lt_set_check_full(&v), want);
    size_t count;
    uint8_t f;
    uint8_t d[16];
    CHECK_ERR(lt_set_count(&v, &count), want);
    CHECK_ERR(lt_set_lookup(&v, A.id, A.b, A.len, &f), want);
    CHECK_ERR(lt_set_digest(&v, d), want);
    const elem_t *one[] = {&A};
    CHECK_ERR(mk(&ok, tag, 1, one, NULL), LT_OK);
    CHECK_ERR(lt_set_open(&good, ok.data, ok.len, tag), LT_OK);
    lt_buf_init(&out);
    CHECK_ERR(lt_set_merge(&v, &good, &out), want);
    CHECK_ERR(lt_set_merge(&good, &v, &out), want);
    CHECK(out.len == 0);
    lt_set_entry upd = entry(&B, LT_SET_ADDED);
    lt_buf delta;
    lt_buf_init(&delta);
    CHECK_ERR(lt_set_update(&v, &upd, 1, &delta, &out), want);
    CHECK(out.len == 0 && delta.len == 0);
    lt_buf_free(&delta);
    lt_buf_free(&out);
    /* An object refuses it and stays as it was. */
    lt_set_obj o;
    lt_set_obj_init(&o, tag);
    CHECK_ERR(lt_set_obj_add(&o, C.id, C.b, C.len, LT_SET_ADDED), LT_OK);
    uint8_t before[16], after[16];
    CHECK_ERR(lt_set_obj_digest(&o, before), LT_OK);
    CHECK_ERR(lt_set_obj_join(&o, &v), want);
    CHECK_ERR(lt_set_obj_digest(&o, after), LT_OK);
    CHECK(memcmp(before, after, 16) == 0 && o.live == 1);
    lt_set_obj_free(&o);
    lt_buf_free(&ok);
}

static void test_structure(void) {
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        uint8_t other = two_p ? LT_TYPE_GSET : LT_TYPE_TWOPSET;
        lt_buf g, r;
        const elem_t *xs[] = {&A, &B, &C};
        CHECK_ERR(mk(&g, tag, 3, xs, NULL), LT_OK);
        lt_set_view v;
        CHECK_ERR(lt_set_open(&v, g.data, g.len, tag), LT_OK);
        uint64_t ids[3] = {lt_set_id(&v, 0), lt_set_id(&v, 1), lt_set_id(&v, 2)};
        const elem_t *sorted[3];
        for (size_t k = 0; k < 3; k++)
            sorted[k] = ids[k] == A.id ? &A : ids[k] == B.id ? &B : &C;
        uint8_t fl[3] = {1, 1, 1};

        /* Header: too short, the other type, another version, n beyond the input. */
        const uint8_t h0[] = {0};
        expect_bad(h0, 0, tag, LT_E_TRUNCATED);
        expect_bad(g.data, 2, tag, LT_E_TRUNCATED);
        const uint8_t wrong[] = {other, 1, 0};
        expect_bad(wrong, 3, tag, LT_E_WRONG_TYPE);
        const uint8_t vclock[] = {LT_TYPE_VCLOCK, 1, 0};
        expect_bad(vclock, 3, tag, LT_E_WRONG_TYPE);
        const uint8_t v2[] = {tag, 2, 0};
        expect_bad(v2, 3, tag, LT_E_VERSION);
        const uint8_t big_n[] = {tag, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        expect_bad(big_n, sizeof big_n, tag, LT_E_TRUNCATED);
        const uint8_t long_n[] = {tag, 1, 0x80, 0x00};
        expect_bad(long_n, sizeof long_n, tag, LT_E_NONCANONICAL);
        const uint8_t huge_n[] = {tag,  1,    0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        expect_bad(huge_n, sizeof huge_n, tag, LT_E_OVERFLOW);
        /* Every proper prefix is refused. */
        for (size_t cut = 0; cut < g.len; cut++) {
            lt_set_view pv;
            lt_err e = lt_set_open(&pv, g.data, cut, tag);
            if (e == LT_OK)
                e = lt_set_check(&pv);
            CHECK(e == LT_E_TRUNCATED || e == LT_E_TRAILING);
        }
        /* A byte too many. */
        lt_buf_init(&r);
        lt_buf_put(&r, g.data, g.len);
        lt_buf_put_u8(&r, 0x07);
        expect_bad(r.data, r.len, tag, LT_E_TRAILING);
        lt_buf_free(&r);
        /* Entries out of order. */
        uint64_t swapped[3] = {ids[1], ids[0], ids[2]};
        const elem_t *sw[3] = {sorted[1], sorted[0], sorted[2]};
        raw(&r, tag, 3, swapped, fl, sw);
        expect_bad(r.data, r.len, tag, LT_E_ORDER);
        lt_buf_free(&r);
        /* The same element twice. */
        uint64_t twice[3] = {ids[0], ids[0], ids[2]};
        const elem_t *tw[3] = {sorted[0], sorted[0], sorted[2]};
        raw(&r, tag, 3, twice, fl, tw);
        expect_bad(r.data, r.len, tag, LT_E_ORDER);
        lt_buf_free(&r);
        /* An element of length 0; a length running past the end; a length not in shortest
         * form. */
        lt_buf_init(&r);
        lt_buf_put(&r, g.data, g.len - C.len - 1 - A.len - 1 - B.len - 1);
        size_t elems_at = r.len;
        lt_buf_free(&r);
        lt_buf_init(&r);
        lt_buf_put(&r, g.data, g.len);
        r.data[elems_at] = 0;
        expect_bad(r.data, r.len, tag, LT_E_NONCANONICAL);
        r.data[elems_at] = 0x7f;
        expect_bad(r.data, r.len, tag, LT_E_TRUNCATED);
        lt_buf_free(&r);
        lt_buf_init(&r);
        lt_buf_put(&r, g.data, elems_at);
        lt_buf_put_u8(&r, (uint8_t)(sorted[0]->len | 0x80));
        lt_buf_put_u8(&r, 0);
        lt_buf_put(&r, g.data + elems_at + 1, g.len - elems_at - 1);
        expect_bad(r.data, r.len, tag, LT_E_NONCANONICAL);
        lt_buf_free(&r);
        /* Elements that are not canonical terms, ids that are not their hashes: only the full
         * check looks. */
        elem_t notcanon = int_elem(5);
        notcanon.b[notcanon.len++] = 0x07; /* two terms: 5 then [] */
        notcanon.id = lt_actor_id(notcanon.b, notcanon.len);
        const elem_t *nc[] = {&notcanon};
        uint64_t nc_id[] = {notcanon.id};
        raw(&r, tag, 1, nc_id, fl, nc);
        CHECK_ERR(check(r.data, r.len, tag), LT_OK);
        CHECK_ERR(check_full(r.data, r.len, tag), LT_E_TRAILING);
        CHECK_ERR(obj_join_err(r.data, r.len, tag), LT_E_TRAILING);
        lt_buf_free(&r);
        elem_t badtag = {{0x42, 0}, 2, 0};
        badtag.id = lt_actor_id(badtag.b, 2);
        const elem_t *bt[] = {&badtag};
        uint64_t bt_id[] = {badtag.id};
        raw(&r, tag, 1, bt_id, fl, bt);
        CHECK_ERR(check(r.data, r.len, tag), LT_OK);
        CHECK_ERR(check_full(r.data, r.len, tag), LT_E_BAD_TAG);
        CHECK_ERR(obj_join_err(r.data, r.len, tag), LT_E_BAD_TAG);
        lt_buf_free(&r);
        uint64_t bad_id[] = {A.id + 1};
        const elem_t *ba[] = {&A};
        raw(&r, tag, 1, bad_id, fl, ba);
        CHECK_ERR(check(r.data, r.len, tag), LT_OK);
        CHECK_ERR(check_full(r.data, r.len, tag), LT_E_ID);
        CHECK_ERR(obj_join_err(r.data, r.len, tag), LT_E_ID);
        lt_buf_free(&r);
        if (two_p) { /* flags 0 and above 3 */
            for (unsigned bad = 0; bad < 256; bad += (bad < 8 ? 1 : 61)) {
                if (bad >= 1 && bad <= 3)
                    continue;
                uint8_t bf[3] = {1, (uint8_t)bad, 1};
                raw(&r, tag, 3, ids, bf, sorted);
                expect_bad(r.data, r.len, tag, LT_E_NONCANONICAL);
                lt_buf_free(&r);
            }
        }
        lt_buf_free(&g);
    }
}

static void test_update(void) {
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        lt_buf s, delta, s2, want_d, want_s;
        const elem_t *xs[] = {&A, &B};
        CHECK_ERR(mk(&s, tag, 2, xs, NULL), LT_OK);
        lt_set_view v;
        CHECK_ERR(lt_set_open(&v, s.data, s.len, tag), LT_OK);
        /* add_all [c, a, c]: the delta is {a, c}; the state {a, b, c}. */
        lt_set_entry e[3] = {entry(&C, LT_SET_ADDED), entry(&A, LT_SET_ADDED),
                             entry(&C, LT_SET_ADDED)};
        lt_buf_init(&delta);
        lt_buf_init(&s2);
        CHECK_ERR(lt_set_update(&v, e, 3, &delta, &s2), LT_OK);
        const elem_t *dx[] = {&A, &C}, *sx[] = {&A, &B, &C};
        CHECK_ERR(mk(&want_d, tag, 2, dx, NULL), LT_OK);
        CHECK_ERR(mk(&want_s, tag, 3, sx, NULL), LT_OK);
        CHECK(same(&delta, &want_d));
        CHECK(same(&s2, &want_s));
        lt_buf_free(&delta);
        lt_buf_free(&s2);
        lt_buf_free(&want_d);
        lt_buf_free(&want_s);
        if (two_p) { /* remove b: the delta is {b: removed}, the state has b as both */
            lt_set_entry r = entry(&B, LT_SET_REMOVED);
            lt_buf_init(&delta);
            lt_buf_init(&s2);
            CHECK_ERR(lt_set_update(&v, &r, 1, &delta, &s2), LT_OK);
            const elem_t *bx[] = {&B};
            const uint8_t rf[] = {LT_SET_REMOVED}, wf[] = {LT_SET_ADDED, LT_SET_BOTH};
            CHECK_ERR(mk(&want_d, tag, 1, bx, rf), LT_OK);
            CHECK_ERR(mk(&want_s, tag, 2, xs, wf), LT_OK);
            CHECK(same(&delta, &want_d));
            CHECK(same(&s2, &want_s));
            lt_set_view v2;
            size_t count;
            CHECK_ERR(lt_set_open(&v2, s2.data, s2.len, tag), LT_OK);
            CHECK_ERR(lt_set_count(&v2, &count), LT_OK);
            CHECK(count == 1);
            lt_buf_free(&delta);
            lt_buf_free(&s2);
            lt_buf_free(&want_d);
            lt_buf_free(&want_s);
        }
        /* No entries: an empty delta, the state unchanged. */
        lt_buf_init(&delta);
        lt_buf_init(&s2);
        CHECK_ERR(lt_set_update(&v, NULL, 0, &delta, &s2), LT_OK);
        CHECK(delta.len == 3 && same(&s2, &s));
        lt_buf_free(&delta);
        lt_buf_free(&s2);
        lt_buf_free(&s);
    }
}

static void test_digest(void) {
    lt_buf g, t, t2;
    uint8_t dg[16], dt[16], dt2[16], de[16];
    const elem_t *xs[] = {&A, &B};
    CHECK_ERR(mk(&g, LT_TYPE_GSET, 2, xs, NULL), LT_OK);
    CHECK_ERR(mk(&t, LT_TYPE_TWOPSET, 2, xs, NULL), LT_OK);
    const uint8_t fl[] = {LT_SET_ADDED, LT_SET_BOTH};
    CHECK_ERR(mk(&t2, LT_TYPE_TWOPSET, 2, xs, fl), LT_OK);
    lt_set_view v;
    CHECK_ERR(lt_set_open(&v, g.data, g.len, LT_TYPE_GSET), LT_OK);
    CHECK_ERR(lt_set_digest(&v, dg), LT_OK);
    CHECK_ERR(lt_set_open(&v, t.data, t.len, LT_TYPE_TWOPSET), LT_OK);
    CHECK_ERR(lt_set_digest(&v, dt), LT_OK);
    CHECK_ERR(lt_set_open(&v, t2.data, t2.len, LT_TYPE_TWOPSET), LT_OK);
    CHECK_ERR(lt_set_digest(&v, dt2), LT_OK);
    CHECK(memcmp(dg, dt, 16) != 0);  /* the type is in the digest */
    CHECK(memcmp(dt, dt2, 16) != 0); /* and so are the flags */
    /* The G-Set digest by its definition: XXH3-128(tag, version, u64be n, Σhi, Σlo) with Σ
     * the sum of XXH3-128(id ‖ element bytes). */
    lt_digest_acc acc;
    lt_digest_init(&acc);
    for (size_t k = 0; k < 2; k++) {
        uint8_t buf[8 + 32];
        lt_write_be64(buf, xs[k]->id);
        memcpy(buf + 8, xs[k]->b, xs[k]->len);
        lt_digest_add(&acc, lt_hash128(buf, 8 + xs[k]->len, 0));
    }
    uint8_t head[26] = {LT_TYPE_GSET, LT_FORMAT_V1};
    lt_write_be64(head + 2, 2);
    lt_write_be64(head + 10, acc.hi);
    lt_write_be64(head + 18, acc.lo);
    lt_hash128_t h = lt_hash128(head, sizeof head, 0);
    lt_write_be64(de, h.hi);
    lt_write_be64(de + 8, h.lo);
    CHECK_MEM(dg, 16, de, 16);
    lt_buf_free(&g);
    lt_buf_free(&t);
    lt_buf_free(&t2);
}

/* Objects against binaries: random adds, removes (2P) and joins of random deltas applied to a
 * plain flags array, to an object, and to a binary state through lt_set_update and merge; all
 * three must agree after every step (snapshot bytes, digest, live count, lookups). */
static void test_differential(void) {
    elem_t xs[NELEM];
    char name[16];
    for (size_t k = 0; k < NELEM; k++) {
        if (k % 3 == 0) {
            xs[k] = int_elem((int64_t)k * 1000003 - 7);
        } else {
            snprintf(name, sizeof name, "e%zu", k);
            xs[k] = atom_elem(name);
        }
    }
    /* Two forced collisions, and an element longer than the objects' stack hash buffer. */
    xs[NELEM - 1] = forced(atom_elem("col1"), 99);
    xs[NELEM - 2] = forced(atom_elem("col2"), 99);
    uint64_t rng = 12345;
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        for (int round = 0; round < 20; round++) {
            uint8_t model[NELEM] = {0};
            lt_set_obj o;
            lt_buf s;
            lt_set_obj_init(&o, tag);
            CHECK_ERR(mk(&s, tag, 0, NULL, NULL), LT_OK);
            for (int step = 0; step < 60; step++) {
                lt_set_entry e[8];
                size_t k = 1 + lt_test_below(&rng, 4);
                uint8_t fl = two_p && lt_test_below(&rng, 3) == 0 ? LT_SET_REMOVED : LT_SET_ADDED;
                for (size_t i = 0; i < k; i++) {
                    size_t x = lt_test_below(&rng, NELEM);
                    e[i] = entry(&xs[x], fl);
                    model[x] |= two_p ? fl : LT_SET_ADDED;
                }
                int as_join = lt_test_below(&rng, 2) == 0;
                lt_set_view v;
                lt_buf delta, s2;
                lt_buf_init(&delta);
                lt_buf_init(&s2);
                CHECK_ERR(lt_set_open(&v, s.data, s.len, tag), LT_OK);
                CHECK_ERR(lt_set_update(&v, e, k, &delta, &s2), LT_OK);
                lt_err je = LT_E_ID;
                if (as_join) { /* refused whole when the delta holds a forced (false) id */
                    lt_set_view dv;
                    CHECK_ERR(lt_set_open(&dv, delta.data, delta.len, tag), LT_OK);
                    je = lt_set_obj_join(&o, &dv);
                    size_t forced_ids = 0;
                    for (size_t i = 0; i < k; i++)
                        forced_ids += e[i].id == 99;
                    /* Refused exactly when a forced collision is in the delta. */
                    CHECK(je == (forced_ids ? LT_E_ID : LT_OK));
                }
                if (je == LT_E_ID) {
                    for (size_t i = 0; i < k; i++)
                        CHECK_ERR(lt_set_obj_add(&o, e[i].id, e[i].elem, e[i].elem_len, e[i].flags),
                                  LT_OK);
                }
                lt_buf_free(&delta);
                lt_buf_free(&s);
                s = s2;
                /* Snapshot bytes, digests, counts and lookups agree. */
                lt_buf snap;
                lt_buf_init(&snap);
                CHECK_ERR(lt_set_obj_snapshot(&o, &snap), LT_OK);
                CHECK(same(&snap, &s));
                lt_buf_free(&snap);
                uint8_t d1[16], d2[16];
                CHECK_ERR(lt_set_open(&v, s.data, s.len, tag), LT_OK);
                CHECK_ERR(lt_set_digest(&v, d1), LT_OK);
                CHECK_ERR(lt_set_obj_digest(&o, d2), LT_OK);
                CHECK(memcmp(d1, d2, 16) == 0);
                size_t count, live = 0;
                CHECK_ERR(lt_set_count(&v, &count), LT_OK);
                for (size_t x = 0; x < NELEM; x++) {
                    uint8_t f;
                    live += model[x] == LT_SET_ADDED;
                    CHECK_ERR(lt_set_lookup(&v, xs[x].id, xs[x].b, xs[x].len, &f), LT_OK);
                    CHECK(f == model[x]);
                    CHECK(lt_set_obj_flags(&o, xs[x].id, xs[x].b, xs[x].len) == model[x]);
                }
                CHECK(count == live && o.live == live);
                CHECK_ERR(lt_set_check(&v), LT_OK);
            }
            lt_buf_free(&s);
            lt_set_obj_free(&o);
        }
    }
}

/* A set of many elements (past the scan's inline offsets and the table's first growths), and a
 * large element (past the digest's stack buffer). */
static void test_large(void) {
    enum { N = 3000 };
    lt_set_entry *e = malloc(N * sizeof *e);
    elem_t *xs = malloc(N * sizeof *xs);
    CHECK(e != NULL && xs != NULL);
    for (size_t k = 0; k < N; k++) {
        xs[k] = int_elem((int64_t)k * 7919);
        e[k] = entry(&xs[k], k % 5 == 0 ? LT_SET_BOTH : LT_SET_ADDED);
    }
    lt_buf s, half, m;
    lt_buf_init(&s);
    lt_buf_init(&half);
    CHECK_ERR(lt_set_build(LT_TYPE_TWOPSET, e, N, &s), LT_OK);
    CHECK_ERR(lt_set_build(LT_TYPE_TWOPSET, e, N / 2, &half), LT_OK); /* sorted: a subset */
    CHECK_ERR(check_full(s.data, s.len, LT_TYPE_TWOPSET), LT_OK);
    CHECK_ERR(merge(&s, &half, LT_TYPE_TWOPSET, &m), LT_OK);
    CHECK(same(&m, &s));
    lt_buf_free(&m);
    lt_set_view v;
    size_t count;
    CHECK_ERR(lt_set_open(&v, s.data, s.len, LT_TYPE_TWOPSET), LT_OK);
    CHECK_ERR(lt_set_count(&v, &count), LT_OK);
    CHECK(count == N - N / 5);
    lt_set_obj o;
    lt_set_obj_init(&o, LT_TYPE_TWOPSET);
    CHECK_ERR(lt_set_obj_join(&o, &v), LT_OK);
    CHECK(o.live == count && o.elems.n == N);
    lt_buf snap;
    lt_buf_init(&snap);
    CHECK_ERR(lt_set_obj_snapshot(&o, &snap), LT_OK);
    CHECK(same(&snap, &s));
    lt_buf_free(&snap);
    lt_set_obj_free(&o);
    lt_set_obj_free(&o); /* freeing twice is fine: free leaves an empty object */

    /* A 1000-byte binary element. */
    uint8_t *big = malloc(1003);
    CHECK(big != NULL);
    lt_buf bb;
    lt_buf_init_fixed(&bb, big, 1003);
    uint8_t payload[1000];
    memset(payload, 0xab, sizeof payload);
    lt_canon_put_binary(&bb, payload, sizeof payload);
    CHECK(!bb.failed);
    lt_set_entry be = {lt_actor_id(big, bb.len), LT_SET_ADDED, big, bb.len};
    lt_buf g;
    lt_buf_init(&g);
    CHECK_ERR(lt_set_build(LT_TYPE_GSET, &be, 1, &g), LT_OK);
    CHECK_ERR(check_full(g.data, g.len, LT_TYPE_GSET), LT_OK);
    lt_set_obj_init(&o, LT_TYPE_GSET);
    CHECK_ERR(lt_set_obj_add(&o, be.id, be.elem, be.elem_len, LT_SET_REMOVED), LT_OK);
    CHECK(lt_set_obj_flags(&o, be.id, be.elem, be.elem_len) == LT_SET_ADDED); /* G-Set: added */
    uint8_t d1[16], d2[16];
    CHECK_ERR(lt_set_open(&v, g.data, g.len, LT_TYPE_GSET), LT_OK);
    CHECK_ERR(lt_set_digest(&v, d1), LT_OK);
    CHECK_ERR(lt_set_obj_digest(&o, d2), LT_OK);
    CHECK(memcmp(d1, d2, 16) == 0);
    /* Joining a 2P-Set into a G-Set object is wrong_type. */
    CHECK_ERR(lt_set_open(&v, s.data, s.len, LT_TYPE_TWOPSET), LT_OK);
    CHECK_ERR(lt_set_obj_join(&o, &v), LT_E_WRONG_TYPE);
    lt_set_obj_free(&o);
    lt_buf_free(&g);
    free(big);
    lt_buf_free(&s);
    lt_buf_free(&half);
    free(e);
    free(xs);
}

/* ---- runs of shared entries (lt_colset.c's shared_run) ------------------------------------- */
enum { RUN_N = 300 };

/* The set of the elements xs[k] with pick[k] != 0, pick[k] their flags. */
static void mk_picked(lt_buf *out, uint8_t tag, const elem_t *xs, const uint8_t *pick) {
    lt_set_entry *e = malloc(RUN_N * sizeof *e);
    size_t n = 0;
    CHECK(e != NULL);
    for (size_t k = 0; k < RUN_N; k++)
        if (pick[k])
            e[n++] = entry(&xs[k], pick[k]);
    lt_buf_init(out);
    CHECK_ERR(lt_set_build(tag, e, n, out), LT_OK);
    free(e);
}

/* The merge of a and b in steps of `budget` entries: its error, and its bytes in *out. */
static lt_err merge_in_steps(const lt_buf *a, const lt_buf *b, uint8_t tag, size_t budget,
                             lt_buf *out) {
    lt_set_view va, vb;
    lt_cols_merger *m;
    int done = 0;
    lt_err e;
    lt_buf_init(out);
    CHECK_ERR(lt_set_open(&va, a->data, a->len, tag), LT_OK);
    CHECK_ERR(lt_set_open(&vb, b->data, b->len, tag), LT_OK);
    if ((e = lt_set_merge_start(&va, &vb, out, &m)) != LT_OK)
        return e;
    while (!done && (e = lt_cols_merge_step(m, budget, &done)) == LT_OK)
        ;
    lt_cols_merge_free(m);
    return e;
}

/* Merges of sets that share runs of entries (empty sides, all shared, none shared, runs at the
 * start and the end, runs split across steps, a forced collision and long elements inside
 * runs) against the model: lt_set_build of both sides' entries, which ORs the repeats. Then
 * inputs bad inside a run give the error the walk gives outside one. */
static void test_runs(void) {
    elem_t *xs = malloc(RUN_N * sizeof *xs);
    uint8_t *pa = malloc(RUN_N), *pb = malloc(RUN_N), *pu = malloc(RUN_N);
    CHECK(xs != NULL && pa != NULL && pb != NULL && pu != NULL);
    for (size_t k = 0; k < RUN_N; k++)
        xs[k] = int_elem((int64_t)k * 104729 + 1);
    /* Two elements forced onto one id, and two of more than 127 bytes (a two-byte length). */
    xs[100] = forced(atom_elem("col_a"), xs[101].id);
    for (int q = 0; q < 2; q++) {
        lt_buf bb;
        uint8_t payload[200];
        memset(payload, 0x30 + q, sizeof payload);
        lt_buf_init_fixed(&bb, xs[150 + q].b, sizeof xs[150 + q].b);
        lt_canon_put_binary(&bb, payload, sizeof payload);
        CHECK(!bb.failed);
        xs[150 + q].len = bb.len;
        xs[150 + q].id = lt_actor_id(bb.data, bb.len);
    }
    uint64_t rng = 777;
    for (int two_p = 0; two_p <= 1; two_p++) {
        uint8_t tag = two_p ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        for (int round = 0; round < 60; round++) {
            /* Shapes: 0 empty A, 1 all shared, 2 none shared, 3 shared but for a few in the
             * middle, 4.. random overlap. */
            int shape = round % 8;
            for (size_t k = 0; k < RUN_N; k++) {
                uint8_t fa = two_p ? (uint8_t)(1 + lt_test_below(&rng, 3)) : LT_SET_ADDED;
                uint8_t fb = two_p && lt_test_below(&rng, 4) == 0
                                 ? (uint8_t)(1 + lt_test_below(&rng, 3))
                                 : fa;
                size_t dice = lt_test_below(&rng, 10);
                switch (shape) {
                case 0:
                    pa[k] = 0, pb[k] = fb;
                    break;
                case 1:
                    pa[k] = fa, pb[k] = fb;
                    break;
                case 2:
                    pa[k] = k % 2 ? fa : 0, pb[k] = k % 2 ? 0 : fb;
                    break;
                case 3:
                    pa[k] = fa, pb[k] = k % 97 == 50 ? 0 : fb;
                    break;
                default:
                    pa[k] = dice < 8 || dice == 8 ? fa : 0;
                    pb[k] = dice < 8 || dice == 9 ? fb : 0;
                }
                pu[k] = (uint8_t)(pa[k] | pb[k]);
            }
            lt_buf a, b, want, m, ms;
            mk_picked(&a, tag, xs, pa);
            mk_picked(&b, tag, xs, pb);
            mk_picked(&want, tag, xs, pu);
            CHECK_ERR(merge(&a, &b, tag, &m), LT_OK); /* and in steps of 1..3 (merge) */
            CHECK(same(&m, &want));
            lt_buf_free(&m);
            CHECK_ERR(merge(&b, &a, tag, &m), LT_OK);
            CHECK(same(&m, &want));
            lt_buf_free(&m);
            size_t budget = 1 + lt_test_below(&rng, 40);
            CHECK_ERR(merge_in_steps(&a, &b, tag, budget, &ms), LT_OK);
            CHECK(same(&ms, &want));
            lt_buf_free(&ms);
            CHECK_ERR(merge(&a, &a, tag, &m), LT_OK); /* one run of everything */
            CHECK(same(&m, &a));
            lt_buf_free(&m);
            lt_buf_free(&a);
            lt_buf_free(&b);
            lt_buf_free(&want);
        }
        /* Bad inside a run: A and B the same 300 elements, then one entry spoilt. */
        for (size_t k = 0; k < RUN_N; k++)
            pa[k] = two_p ? LT_SET_BOTH : LT_SET_ADDED;
        for (int bad = 0; bad < 5; bad++) {
            for (size_t at = 1; at < RUN_N; at += 37) {
                lt_buf a, b, m;
                lt_set_view va, vb;
                lt_err want = LT_OK;
                mk_picked(&a, tag, xs, pa);
                mk_picked(&b, tag, xs, pa);
                CHECK_ERR(lt_set_open(&va, a.data, a.len, tag), LT_OK);
                CHECK_ERR(lt_set_open(&vb, b.data, b.len, tag), LT_OK);
                if (bad == 4)
                    at = RUN_N - 1; /* the last entry */
                /* The element section's offset of entry `at`, and its length. */
                size_t off = 0, elen = 0;
                const uint8_t *el;
                for (size_t q = 0; q <= at; q++) {
                    if (q == at)
                        CHECK(off < va.elems_len);
                    size_t o = off;
                    CHECK_ERR(lt_set_next_elem(&va, &off, &el, &elen), LT_OK);
                    if (q == at)
                        off = o;
                }
                uint8_t *ea = (uint8_t *)va.elems, *eb = (uint8_t *)vb.elems;
                uint8_t *ia = (uint8_t *)va.ids, *ib = (uint8_t *)vb.ids;
                switch (bad) {
                case 0: /* B's flags out of range (2P), or its id out of order (G) */
                    if (two_p)
                        ((uint8_t *)vb.flags)[at] = 0;
                    else
                        memset(ib + 8 * at, 0, 8);
                    want = two_p ? LT_E_NONCANONICAL : LT_E_ORDER;
                    break;
                case 1: /* both: an element of length 0 */
                    ea[off] = 0;
                    eb[off] = 0;
                    want = LT_E_NONCANONICAL;
                    break;
                case 2: /* both: two ids swapped */
                    for (int side = 0; side < 2; side++) {
                        uint8_t *ids = side ? ib : ia, t[8];
                        memcpy(t, ids + 8 * at, 8);
                        memcpy(ids + 8 * at, ids + 8 * (at - 1), 8);
                        memcpy(ids + 8 * (at - 1), t, 8);
                    }
                    want = LT_E_ORDER;
                    break;
                case 3: /* B alone: another last byte in an element (its id no longer its hash,
                         * which the merge does not check): two entries, by their bytes */
                    eb[off + elen] ^= 0x01;
                    want = LT_OK;
                    break;
                case 4: /* both: the last length running past the end */
                    ea[off] = 0x7f;
                    eb[off] = 0x7f;
                    want = LT_E_TRUNCATED;
                    break;
                }
                lt_err got = merge(&a, &b, tag, &m);
                CHECK_ERR(got, want);
                if (got == LT_OK) {
                    /* The union holds both versions of the spoilt element. */
                    lt_set_view vm;
                    CHECK_ERR(lt_set_open(&vm, m.data, m.len, tag), LT_OK);
                    CHECK(vm.n == RUN_N + 1);
                    CHECK_ERR(lt_set_check(&vm), LT_OK);
                }
                lt_buf_free(&m);
                lt_buf_free(&a);
                lt_buf_free(&b);
            }
        }
    }
    free(xs);
    free(pa);
    free(pb);
    free(pu);
}

int main(void) {
    A = atom_elem("a");
    B = atom_elem("b");
    C = int_elem(-3);
    D = atom_elem("node@host");
    test_known_bytes();
    test_merge();
    test_collision();
    test_structure();
    test_update();
    test_digest();
    test_differential();
    test_large();
    test_runs();
    return lt_test_summary();
}
