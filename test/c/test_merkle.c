/* test_merkle.c — the Merkle tree (lt_merkle.h): known small cases and bytes, node sums, the
 * diff property against brute force (lt_merkle_diff and the wire path children -> buckets ->
 * keys, both equal to the symmetric difference of the two key -> digest maps) over empty trees,
 * one-sided keys, keys whose hashes share long prefixes, forced key-hash collisions and
 * disjoint key sets; join; delete back to empty; encodings round-trip, and every truncation,
 * byte flip and malformation is rejected or decodes consistently (run under ASan/UBSan). */
#include "lt_test.h"

#include "lt_hash.h"
#include "lt_merkle.h"

#define MAXK 64 /* bytes of a test key */

typedef struct {
    uint8_t key[MAXK];
    size_t len;
    uint8_t digest[16];
    int present;
} mentry;

/* A model: a key universe, each key present or not with a digest. */
typedef struct {
    mentry *e;
    size_t n;
} model;

static void make_key(uint8_t *out, size_t *len, uint64_t i, size_t pad) {
    int n = snprintf((char *)out, MAXK, "key-%" PRIu64, i);
    size_t l = (size_t)n;
    while (l < pad && l < MAXK) {
        out[l] = (uint8_t)('a' + (i + l) % 26);
        l++;
    }
    *len = l;
}

static void rand_digest(uint64_t *rng, uint8_t d[16]) {
    uint64_t a = lt_test_rand(rng), b = lt_test_rand(rng);
    lt_write_be64(d, a);
    lt_write_be64(d + 8, b);
}

static model model_new(size_t n, uint64_t first, size_t pad) {
    model m;
    m.n = n;
    m.e = calloc(n ? n : 1, sizeof *m.e);
    for (size_t i = 0; i < n; i++)
        make_key(m.e[i].key, &m.e[i].len, first + i, pad);
    return m;
}

static model model_copy(const model *a) {
    model m;
    m.n = a->n;
    m.e = malloc((a->n ? a->n : 1) * sizeof *m.e);
    memcpy(m.e, a->e, a->n * sizeof *m.e);
    return m;
}

static lt_merkle *tree_of(const model *m, unsigned levels, uint64_t mask) {
    lt_merkle *t = lt_merkle_new_masked(levels, mask);
    CHECK(t != NULL);
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].present)
            CHECK_ERR(lt_merkle_put(t, m->e[i].key, m->e[i].len, m->e[i].digest), LT_OK);
    return t;
}

static lt_hash128_t entry_hash_ref(const uint8_t *key, size_t len, const uint8_t d[16]) {
    uint8_t buf[4 + MAXK + 16];
    buf[0] = buf[1] = 0;
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + 4, key, len);
    memcpy(buf + 4 + len, d, 16);
    return lt_hash128(buf, 4 + len + 16, LT_MERKLE_ENTRY_SEED);
}

/* ---- collecting reports ------------------------------------------------------------------- */

#define MAXREP 20000
typedef struct {
    uint8_t key[MAXREP][MAXK];
    size_t len[MAXREP];
    int side[MAXREP];
    size_t n;
    int overflow;
} reports;

static reports *reports_new(void) {
    reports *r = calloc(1, sizeof *r);
    return r;
}

static int collect(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    reports *r = ctx;
    if (r->n == MAXREP || key_len > MAXK) {
        r->overflow = 1;
        return 1;
    }
    memcpy(r->key[r->n], key, key_len);
    r->len[r->n] = key_len;
    r->side[r->n] = (int)side;
    r->n++;
    return 0;
}

static int find_report(const reports *r, const uint8_t *key, size_t len) {
    for (size_t k = 0; k < r->n; k++)
        if (r->len[k] == len && memcmp(r->key[k], key, len) == 0)
            return (int)k;
    return -1;
}

/* The brute-force side of key i between models a and b, or -1 when it does not differ. */
static int expected_side(const model *a, const model *b, size_t i) {
    const mentry *x = &a->e[i], *y = &b->e[i];
    if (x->present && y->present)
        return memcmp(x->digest, y->digest, 16) != 0 ? LT_MERKLE_DIFFERS : -1;
    if (x->present)
        return LT_MERKLE_LOCAL_ONLY;
    if (y->present)
        return LT_MERKLE_REMOTE_ONLY;
    return -1;
}

/* Reports equal the brute-force symmetric difference exactly (a and b share a universe). */
static int reports_exact(const reports *r, const model *a, const model *b) {
    if (r->overflow)
        return 0;
    size_t want = 0;
    for (size_t i = 0; i < a->n; i++) {
        int s = expected_side(a, b, i);
        if (s < 0)
            continue;
        want++;
        int k = find_report(r, a->e[i].key, a->e[i].len);
        if (k < 0 || r->side[k] != s) {
            fprintf(stderr, "    key %.*s: want side %d, got %d\n", (int)a->e[i].len,
                    (const char *)a->e[i].key, s, k < 0 ? -1 : r->side[k]);
            return 0;
        }
    }
    if (r->n != want)
        fprintf(stderr, "    %zu reports, want %zu\n", r->n, want);
    return r->n == want;
}

/* ---- the wire path ------------------------------------------------------------------------ */

typedef struct {
    const lt_merkle *self, *peer;
    reports *out, *seen; /* seen: every key the peer named */
} resolve_ctx;

/* The peer's answer for one key hash: its keys with their digests. This side keeps those it
 * does not hold as REMOTE_ONLY, drops those it holds with the same digest, and the rest are
 * already reported as DIFFERS. */
static int resolve(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    (void)side;
    resolve_ctx *rc = ctx;
    uint8_t mine[16], theirs[16];
    (void)collect(rc->seen, key, key_len, side);
    CHECK(lt_merkle_get(rc->peer, key, key_len, theirs));
    if (!lt_merkle_get(rc->self, key, key_len, mine))
        return collect(rc->out, key, key_len, LT_MERKLE_REMOTE_ONLY);
    if (memcmp(mine, theirs, 16) != 0)
        CHECK(find_report(rc->out, key, key_len) >= 0);
    return 0;
}

typedef struct {
    reports *local;
    uint64_t kh[MAXREP];
    size_t nkh;
} wire_ctx;

static int wire_collect(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    wire_ctx *w = ctx;
    if (side == LT_MERKLE_REMOTE_ONLY) {
        if (key_len != 8 || w->nkh == MAXREP)
            return 1;
        w->kh[w->nkh++] = lt_read_be64(key);
        return 0;
    }
    return collect(w->local, key, key_len, side);
}

/* Runs a session between a (this side) and b (the peer) through the encodings only: children
 * down from the root, alternating sides, then b's buckets diffed against a, then b's keys for
 * each remote-only key hash. Fills r; returns the bytes exchanged, or 0 on a failed step. */
static size_t wire_session(const lt_merkle *a, const lt_merkle *b, reports *r, size_t *rounds) {
    unsigned levels = lt_merkle_levels(a);
    size_t bytes = 0;
    *rounds = 0;
    r->n = 0;
    r->overflow = 0;
    lt_merkle_node ra = lt_merkle_root(a), rb = lt_merkle_root(b);
    bytes += 16;
    (*rounds)++;
    if (lt_merkle_fold(ra.hash) == lt_merkle_fold(rb.hash))
        return bytes;
    uint64_t *list = malloc(sizeof(uint64_t));
    size_t n = 1;
    list[0] = 0;
    for (unsigned level = 0; level < levels && n > 0; level++) {
        /* Sender alternates: a sends level 0's children, b compares, b sends level 1's... */
        const lt_merkle *snd = level % 2 == 0 ? a : b, *rcv = level % 2 == 0 ? b : a;
        lt_buf enc;
        lt_buf_init(&enc);
        CHECK_ERR(lt_merkle_encode_children(snd, level, list, n, &enc), LT_OK);
        bytes += enc.len;
        (*rounds)++;
        uint64_t *next = malloc(16 * n * sizeof *next);
        size_t m = 0;
        unsigned lv = 99;
        CHECK_ERR(lt_merkle_diff_children(rcv, enc.data, enc.len, &lv, next, 16 * n, &m), LT_OK);
        CHECK(lv == level);
        lt_buf_free(&enc);
        free(list);
        list = next;
        n = m;
    }
    wire_ctx *w = calloc(1, sizeof *w);
    w->local = r;
    if (n > 0) {
        lt_buf enc;
        lt_buf_init(&enc);
        CHECK_ERR(lt_merkle_encode_buckets(b, list, n, &enc), LT_OK);
        bytes += enc.len;
        (*rounds)++;
        CHECK_ERR(lt_merkle_diff_buckets(a, enc.data, enc.len, wire_collect, w), LT_OK);
        lt_buf_free(&enc);
    }
    free(list);
    /* Resolve the key hashes on the peer. A DIFFERS key the peer turns out not to hold (two
     * keys sharing a key hash) is LOCAL_ONLY after all. */
    size_t n_local = r->n;
    reports *seen = reports_new();
    resolve_ctx rc = {a, b, r, seen};
    for (size_t k = 0; k < w->nkh; k++)
        CHECK(lt_merkle_keys_with_hash(b, w->kh[k], resolve, &rc) >= 1);
    for (size_t k = 0; k < n_local; k++)
        if (r->side[k] == LT_MERKLE_DIFFERS && find_report(seen, r->key[k], r->len[k]) < 0)
            r->side[k] = LT_MERKLE_LOCAL_ONLY;
    CHECK(!seen->overflow);
    free(seen);
    bytes += 8 * w->nkh;
    (*rounds) += w->nkh > 0;
    free(w);
    return bytes;
}

/* ---- one property case -------------------------------------------------------------------- */

static void check_pair(const model *a, const model *b, unsigned levels, uint64_t mask,
                       const char *what) {
    lt_merkle *ta = tree_of(a, levels, mask), *tb = tree_of(b, levels, mask);
    reports *r = reports_new();
    CHECK_ERR(lt_merkle_diff(ta, tb, collect, r), LT_OK);
    int ok = reports_exact(r, a, b);
    if (!ok)
        fprintf(stderr, "    (lt_merkle_diff, %s, levels %u)\n", what, levels);
    CHECK(ok);
    size_t rounds;
    for (int dir = 0; dir < 2; dir++) {
        const model *x = dir ? b : a, *y = dir ? a : b;
        lt_merkle *tx = dir ? tb : ta, *ty = dir ? ta : tb;
        (void)wire_session(tx, ty, r, &rounds);
        ok = reports_exact(r, x, y);
        if (!ok)
            fprintf(stderr, "    (wire, %s, levels %u, dir %d)\n", what, levels, dir);
        CHECK(ok);
    }
    free(r);
    lt_merkle_free(ta);
    lt_merkle_free(tb);
}

/* Randomly diverges b from a: d changes among insert, delete, and update. */
static void diverge(model *b, uint64_t *rng, size_t d) {
    for (size_t k = 0; k < d; k++) {
        mentry *e = &b->e[lt_test_below(rng, b->n)];
        switch (lt_test_below(rng, 3)) {
        case 0:
            e->present = 0;
            break;
        default:
            e->present = 1;
            rand_digest(rng, e->digest);
        }
    }
}

static void fill(model *m, uint64_t *rng, unsigned percent) {
    for (size_t i = 0; i < m->n; i++) {
        m->e[i].present = lt_test_below(rng, 100) < percent;
        rand_digest(rng, m->e[i].digest);
    }
}

static void test_diff_property(void) {
    uint64_t rng = 42;
    /* Empty against empty, empty against full, full against empty. */
    {
        model a = model_new(200, 0, 0), b = model_copy(&a);
        check_pair(&a, &b, 2, ~(uint64_t)0, "empty/empty");
        fill(&b, &rng, 100);
        check_pair(&a, &b, 2, ~(uint64_t)0, "empty/full");
        check_pair(&b, &a, 3, ~(uint64_t)0, "full/empty");
        free(a.e);
        free(b.e);
    }
    /* Random divergence, several sizes and shapes. */
    for (int round = 0; round < 60; round++) {
        size_t n = 1 + lt_test_below(&rng, round < 40 ? 300 : 3000);
        unsigned levels = 1 + (unsigned)lt_test_below(&rng, 4);
        model a = model_new(n, (uint64_t)round * 100000, lt_test_below(&rng, 40));
        fill(&a, &rng, (unsigned)lt_test_below(&rng, 101));
        model b = model_copy(&a);
        diverge(&b, &rng, lt_test_below(&rng, 1 + n / (1 + lt_test_below(&rng, 20))));
        check_pair(&a, &b, levels, ~(uint64_t)0, "random");
        /* Identical trees: nothing. */
        check_pair(&a, &a, levels, ~(uint64_t)0, "equal");
        free(a.e);
        free(b.e);
    }
    /* Every key different: disjoint key sets (one-sided on both sides). */
    {
        model a = model_new(400, 0, 0);
        for (size_t i = 0; i < a.n; i++) {
            a.e[i].present = 1;
            rand_digest(&rng, a.e[i].digest);
        }
        model b = model_copy(&a);
        for (size_t i = 0; i < a.n; i++) {
            a.e[i].present = i % 2 == 0;
            b.e[i].present = i % 2 == 1;
        }
        check_pair(&a, &b, 2, ~(uint64_t)0, "disjoint");
        /* Same keys, every digest different. */
        for (size_t i = 0; i < a.n; i++) {
            a.e[i].present = b.e[i].present = 1;
            rand_digest(&rng, b.e[i].digest);
        }
        check_pair(&a, &b, 2, ~(uint64_t)0, "all differ");
        free(a.e);
        free(b.e);
    }
    /* Many keys in few buckets: levels 1 (16 buckets). */
    {
        model a = model_new(5000, 7, 3);
        fill(&a, &rng, 80);
        model b = model_copy(&a);
        diverge(&b, &rng, 300);
        check_pair(&a, &b, 1, ~(uint64_t)0, "levels 1");
        free(a.e);
        free(b.e);
    }
    /* Forced key-hash collisions: masks leaving 8 or 12 bits, so that many different keys share
     * one key hash, in the local diff and on the wire. */
    for (int round = 0; round < 12; round++) {
        uint64_t mask = round % 2 ? UINT64_C(0xff00000000000000) : UINT64_C(0xfff0000000000000);
        unsigned levels = round % 2 ? 2 : 3;
        model a = model_new(600 + 100 * (size_t)round, 0, 0);
        fill(&a, &rng, 70);
        model b = model_copy(&a);
        diverge(&b, &rng, 5 + 20 * (size_t)round);
        check_pair(&a, &b, levels, mask, "collisions");
        free(a.e);
        free(b.e);
    }
}

/* Keys whose key hashes share their top 24 bits (searched for): they fall in the same bucket of
 * a 6-level tree and share every node on the way; the diff tells them apart. */
static void test_long_prefixes(void) {
    enum { N = 60000 };
    lt_merkle *probe = lt_merkle_new(1);
    uint64_t *kh = malloc(N * sizeof *kh);
    uint8_t key[MAXK];
    size_t len;
    for (uint64_t i = 0; i < N; i++) {
        make_key(key, &len, i, 0);
        kh[i] = lt_merkle_key_hash(probe, key, len);
    }
    /* Pairs sharing 24 bits: bucket by the top 16 bits, then compare within. */
    model a = model_new(0, 0, 0);
    free(a.e);
    a.e = calloc(400, sizeof *a.e);
    a.n = 0;
    uint8_t *used = calloc(N, 1);
    for (uint64_t i = 0; i < N && a.n + 2 <= 400; i++)
        for (uint64_t j = i + 1; j < N && a.n + 2 <= 400 && !used[i]; j++)
            if (!used[j] && kh[i] >> 40 == kh[j] >> 40) {
                used[i] = used[j] = 1;
                make_key(a.e[a.n].key, &a.e[a.n].len, i, 0);
                make_key(a.e[a.n + 1].key, &a.e[a.n + 1].len, j, 0);
                a.n += 2;
                break;
            }
    free(used);
    CHECK(a.n >= 40); /* about N^2 / 2^25 = 107 pairs are expected */
    uint64_t rng = 9;
    for (int round = 0; round < 4; round++) {
        fill(&a, &rng, 100);
        model b = model_copy(&a);
        /* Change one key of a pair: its twin, in the same bucket, must not be reported. */
        for (size_t i = 0; i < a.n; i += 2) {
            int what = (int)lt_test_below(&rng, 4);
            if (what == 0)
                b.e[i].present = 0;
            else if (what == 1)
                rand_digest(&rng, b.e[i].digest);
            else if (what == 2)
                a.e[i + 1].present = 0;
        }
        check_pair(&a, &b, round < 2 ? 5 : 6, ~(uint64_t)0, "shared prefixes");
        free(b.e);
    }
    free(a.e);
    free(kh);
    lt_merkle_free(probe);
}

/* ---- known small cases -------------------------------------------------------------------- */

static int node_is_zero(lt_merkle_node n) {
    return n.hash.hi == 0 && n.hash.lo == 0 && n.count == 0;
}

static void test_small(void) {
    CHECK(lt_merkle_new(0) == NULL);
    CHECK(lt_merkle_new(7) == NULL);
    lt_merkle_free(NULL);
    lt_merkle *t = lt_merkle_new(2);
    CHECK(t != NULL);
    CHECK(lt_merkle_levels(t) == 2);
    CHECK(lt_merkle_count(t) == 0);
    CHECK(node_is_zero(lt_merkle_root(t)));
    CHECK(lt_merkle_memory(t) > 273 * sizeof(lt_merkle_node));
    uint8_t d1[16], d2[16], got[16];
    memset(d1, 0x11, 16);
    memset(d2, 0x22, 16);
    const uint8_t *k = (const uint8_t *)"alpha";
    CHECK(!lt_merkle_get(t, k, 5, got));
    CHECK(!lt_merkle_delete(t, k, 5));
    CHECK_ERR(lt_merkle_put(t, k, 0, d1), LT_E_TOO_BIG);
    uint8_t *big = calloc(1, LT_MERKLE_MAX_KEY + 1);
    CHECK_ERR(lt_merkle_put(t, big, LT_MERKLE_MAX_KEY + 1, d1), LT_E_TOO_BIG);
    CHECK_ERR(lt_merkle_put(t, big, LT_MERKLE_MAX_KEY, d1), LT_OK); /* the largest key */
    CHECK(lt_merkle_get(t, big, LT_MERKLE_MAX_KEY, got) && memcmp(got, d1, 16) == 0);
    CHECK(lt_merkle_delete(t, big, LT_MERKLE_MAX_KEY));
    free(big);
    CHECK(node_is_zero(lt_merkle_root(t)));

    /* One key: the root is its entry hash, the bucket is the key hash's top 8 bits. */
    CHECK_ERR(lt_merkle_put(t, k, 5, d1), LT_OK);
    lt_hash128_t e1 = entry_hash_ref(k, 5, d1);
    lt_merkle_node r = lt_merkle_root(t);
    CHECK_U64(r.hash.hi, e1.hi);
    CHECK_U64(r.hash.lo, e1.lo);
    CHECK(r.count == 1);
    uint64_t kh = lt_hash64(k, 5, LT_MERKLE_KEY_SEED);
    CHECK_U64(lt_merkle_key_hash(t, k, 5), kh);
    CHECK_U64(lt_merkle_bucket_of(t, kh), kh >> 56);
    lt_merkle_node leaf = lt_merkle_node_at(t, 2, kh >> 56);
    CHECK(leaf.count == 1 && leaf.hash.hi == e1.hi && leaf.hash.lo == e1.lo);
    lt_merkle_node mid = lt_merkle_node_at(t, 1, kh >> 60);
    CHECK(mid.count == 1 && mid.hash.lo == e1.lo);
    CHECK(node_is_zero(lt_merkle_node_at(t, 1, ((kh >> 60) + 1) % 16)));
    CHECK(node_is_zero(lt_merkle_node_at(t, 3, 0)));  /* no such level */
    CHECK(node_is_zero(lt_merkle_node_at(t, 1, 16))); /* no such node */
    CHECK(node_is_zero(lt_merkle_node_at(t, 0, 1)));
    CHECK(lt_merkle_get(t, k, 5, got) && memcmp(got, d1, 16) == 0);
    CHECK(!lt_merkle_get(t, k, 4, got));

    /* The same digest again changes nothing; a new one replaces the entry hash. */
    CHECK_ERR(lt_merkle_put(t, k, 5, d1), LT_OK);
    CHECK(lt_merkle_count(t) == 1 && lt_merkle_root(t).hash.lo == e1.lo);
    CHECK_ERR(lt_merkle_put(t, k, 5, d2), LT_OK);
    lt_hash128_t e2 = entry_hash_ref(k, 5, d2);
    r = lt_merkle_root(t);
    CHECK(r.count == 1 && r.hash.hi == e2.hi && r.hash.lo == e2.lo);

    /* Two keys: the root is the sum mod 2^128. */
    const uint8_t *k2 = (const uint8_t *)"beta";
    CHECK_ERR(lt_merkle_put(t, k2, 4, d1), LT_OK);
    lt_hash128_t e3 = entry_hash_ref(k2, 4, d1);
    uint64_t lo = e2.lo + e3.lo, hi = e2.hi + e3.hi + (lo < e2.lo);
    r = lt_merkle_root(t);
    CHECK_U64(r.hash.lo, lo);
    CHECK_U64(r.hash.hi, hi);
    CHECK(r.count == 2);
    CHECK(lt_merkle_delete(t, k, 5));
    CHECK(!lt_merkle_delete(t, k, 5));
    r = lt_merkle_root(t);
    CHECK(r.count == 1 && r.hash.hi == e3.hi && r.hash.lo == e3.lo);
    CHECK(lt_merkle_delete(t, k2, 4));
    CHECK(node_is_zero(lt_merkle_root(t)));
    CHECK(lt_merkle_count(t) == 0);

    /* Known bytes: the children of an empty tree's root. */
    lt_buf b;
    lt_buf_init(&b);
    uint64_t root = 0;
    CHECK_ERR(lt_merkle_encode_children(t, 0, &root, 1, &b), LT_OK);
    uint8_t want[6 + 128] = {1, 1, 2, 0, 1, 0};
    CHECK_BYTES(b.data, b.len, want);
    lt_buf_free(&b);
    /* And of a bucket with one key. */
    CHECK_ERR(lt_merkle_put(t, k, 5, d1), LT_OK);
    uint64_t bucket = kh >> 56;
    lt_buf_init(&b);
    CHECK_ERR(lt_merkle_encode_buckets(t, &bucket, 1, &b), LT_OK);
    uint8_t wantb[4 + 2 + 1 + 16] = {1, 2, 2, 1};
    size_t o = 4;
    o += lt_varint_write(wantb + o, bucket);
    wantb[o++] = 1;
    lt_write_be64(wantb + o, kh);
    lt_write_be64(wantb + o + 8, e1.hi ^ e1.lo);
    o += 16;
    CHECK_MEM(b.data, b.len, wantb, o);
    lt_buf_free(&b);
    /* An empty bucket list is a valid, empty encoding. */
    lt_buf_init(&b);
    CHECK_ERR(lt_merkle_encode_buckets(t, NULL, 0, &b), LT_OK);
    uint8_t want0[] = {1, 2, 2, 0};
    CHECK_BYTES(b.data, b.len, want0);
    reports *rep = reports_new();
    CHECK_ERR(lt_merkle_diff_buckets(t, b.data, b.len, collect, rep), LT_OK);
    CHECK(rep->n == 0);
    free(rep);
    lt_buf_free(&b);
    lt_merkle_free(t);

    /* Trees of different shapes do not compare or join. */
    lt_merkle *a2 = lt_merkle_new(2), *a3 = lt_merkle_new(3);
    CHECK_ERR(lt_merkle_diff(a2, a3, collect, NULL), LT_E_WRONG_TYPE);
    CHECK_ERR(lt_merkle_join(a2, a3), LT_E_WRONG_TYPE);
    lt_merkle_free(a2);
    lt_merkle_free(a3);
}

/* Every internal node is the sum of its 16 children; the root counts every key. */
static int sums_hold(const lt_merkle *t) {
    unsigned levels = lt_merkle_levels(t);
    for (unsigned k = 0; k < levels; k++) {
        for (uint64_t i = 0; i < ((uint64_t)1 << (4 * k)); i++) {
            lt_merkle_node p = lt_merkle_node_at(t, k, i);
            uint64_t hi = 0, lo = 0, c = 0;
            for (uint64_t j = 0; j < 16; j++) {
                lt_merkle_node ch = lt_merkle_node_at(t, k + 1, 16 * i + j);
                uint64_t nlo = lo + ch.hash.lo;
                hi += ch.hash.hi + (nlo < lo);
                lo = nlo;
                c += ch.count;
            }
            if (hi != p.hash.hi || lo != p.hash.lo || c != p.count)
                return 0;
        }
    }
    return lt_merkle_root(t).count == lt_merkle_count(t);
}

static int trees_equal(const lt_merkle *a, const lt_merkle *b) {
    unsigned levels = lt_merkle_levels(a);
    for (unsigned k = 0; k <= levels; k++)
        for (uint64_t i = 0; i < ((uint64_t)1 << (4 * k)); i++) {
            lt_merkle_node x = lt_merkle_node_at(a, k, i), y = lt_merkle_node_at(b, k, i);
            if (x.count != y.count || x.hash.hi != y.hash.hi || x.hash.lo != y.hash.lo)
                return 0;
        }
    return 1;
}

/* Random puts and deletes against the model, then deletes back to empty: root 0. Long keys,
 * so that the key arena compacts on the way. */
static void test_updates_and_empty(void) {
    uint64_t rng = 7;
    for (int round = 0; round < 3; round++) {
        model m = model_new(3000, 0, round == 2 ? 60 : 0);
        uint64_t mask = round == 1 ? UINT64_C(0xfff0000000000000) : ~(uint64_t)0;
        lt_merkle *t = lt_merkle_new_masked(3, mask);
        for (int step = 0; step < 30000; step++) {
            mentry *e = &m.e[lt_test_below(&rng, m.n)];
            if (lt_test_below(&rng, 3) == 0) {
                CHECK(lt_merkle_delete(t, e->key, e->len) == e->present);
                e->present = 0;
            } else {
                rand_digest(&rng, e->digest);
                CHECK_ERR(lt_merkle_put(t, e->key, e->len, e->digest), LT_OK);
                e->present = 1;
            }
        }
        size_t live = 0, bad = 0;
        for (size_t i = 0; i < m.n; i++) {
            uint8_t got[16];
            int in = lt_merkle_get(t, m.e[i].key, m.e[i].len, got);
            live += m.e[i].present;
            bad += in != m.e[i].present || (in && memcmp(got, m.e[i].digest, 16) != 0);
        }
        CHECK(bad == 0);
        CHECK(lt_merkle_count(t) == live);
        CHECK(sums_hold(t));
        /* The same map built afresh has the same tree. */
        lt_merkle *fresh = tree_of(&m, 3, mask);
        CHECK(trees_equal(t, fresh));
        lt_merkle_free(fresh);
        for (size_t i = 0; i < m.n; i++)
            if (m.e[i].present)
                CHECK(lt_merkle_delete(t, m.e[i].key, m.e[i].len));
        CHECK(lt_merkle_count(t) == 0);
        CHECK(node_is_zero(lt_merkle_root(t)));
        for (uint64_t i = 0; i < 16; i++)
            CHECK(node_is_zero(lt_merkle_node_at(t, 1, i)));
        /* And usable again. */
        CHECK_ERR(lt_merkle_put(t, m.e[0].key, m.e[0].len, m.e[0].digest), LT_OK);
        CHECK(lt_merkle_count(t) == 1 && sums_hold(t));
        lt_merkle_free(t);
        free(m.e);
    }
}

typedef struct {
    const model *m;
    size_t seen, bad;
} each_ctx;

static int each_check(void *ctx, const uint8_t *key, size_t key_len, const uint8_t digest[16]) {
    each_ctx *c = ctx;
    c->seen++;
    for (size_t i = 0; i < c->m->n; i++)
        if (c->m->e[i].len == key_len && memcmp(c->m->e[i].key, key, key_len) == 0) {
            c->bad += !c->m->e[i].present || memcmp(c->m->e[i].digest, digest, 16) != 0;
            return 0;
        }
    c->bad++;
    return 0;
}

static void test_each(void) {
    uint64_t rng = 5;
    model m = model_new(500, 0, 0);
    fill(&m, &rng, 60);
    lt_merkle *t = tree_of(&m, 2, ~(uint64_t)0);
    each_ctx c = {&m, 0, 0};
    CHECK(lt_merkle_each(t, each_check, &c) == lt_merkle_count(t));
    CHECK(c.seen == lt_merkle_count(t) && c.bad == 0);
    lt_merkle_free(t);
    free(m.e);
}

static void test_join(void) {
    uint64_t rng = 11;
    for (int round = 0; round < 6; round++) {
        model all = model_new(2000, 0, (size_t)round * 5);
        fill(&all, &rng, 90);
        model x = model_copy(&all), y = model_copy(&all);
        for (size_t i = 0; i < all.n; i++) {
            int to_x = lt_test_below(&rng, 2) == 0;
            x.e[i].present = all.e[i].present && to_x;
            y.e[i].present = all.e[i].present && !to_x;
        }
        uint64_t mask = round % 2 ? UINT64_C(0xfff0000000000000) : ~(uint64_t)0;
        lt_merkle *tx = tree_of(&x, 3, mask), *ty = tree_of(&y, 3, mask),
                  *ta = tree_of(&all, 3, mask);
        CHECK_ERR(lt_merkle_join(tx, ty), LT_OK);
        CHECK(trees_equal(tx, ta));
        CHECK(lt_merkle_count(tx) == lt_merkle_count(ta));
        CHECK(sums_hold(tx));
        reports *r = reports_new();
        CHECK_ERR(lt_merkle_diff(tx, ta, collect, r), LT_OK);
        CHECK(r->n == 0);
        free(r);
        /* A shared key: LT_E_DOT and dst unchanged. */
        lt_merkle_node before = lt_merkle_root(tx);
        CHECK_ERR(lt_merkle_join(tx, ty), LT_E_DOT);
        CHECK_ERR(lt_merkle_join(tx, tx), LT_E_DOT);
        lt_merkle_node after = lt_merkle_root(tx);
        CHECK(before.count == after.count && before.hash.lo == after.hash.lo);
        CHECK(lt_merkle_count(tx) == lt_merkle_count(ta));
        /* Joining into an empty tree copies; an empty src is a no-op. */
        lt_merkle *e = lt_merkle_new_masked(3, mask);
        CHECK_ERR(lt_merkle_join(e, ta), LT_OK);
        CHECK(trees_equal(e, ta));
        lt_merkle *e2 = lt_merkle_new_masked(3, mask);
        CHECK_ERR(lt_merkle_join(e, e2), LT_OK);
        CHECK(trees_equal(e, ta));
        uint8_t got[16];
        for (size_t i = 0; i < all.n; i++)
            if (all.e[i].present)
                CHECK(lt_merkle_get(e, all.e[i].key, all.e[i].len, got) &&
                      memcmp(got, all.e[i].digest, 16) == 0);
        lt_merkle_free(e);
        lt_merkle_free(e2);
        lt_merkle_free(tx);
        lt_merkle_free(ty);
        lt_merkle_free(ta);
        free(all.e);
        free(x.e);
        free(y.e);
    }
}

/* keys_with_hash finds every key of a colliding key hash, and only those. */
static void test_keys_with_hash(void) {
    model m = model_new(500, 0, 0);
    uint64_t rng = 3;
    fill(&m, &rng, 100);
    lt_merkle *t = tree_of(&m, 2, UINT64_C(0xff00000000000000));
    for (size_t i = 0; i < 20; i++) {
        uint64_t kh = lt_merkle_key_hash(t, m.e[i].key, m.e[i].len);
        size_t want = 0;
        for (size_t j = 0; j < m.n; j++)
            want += lt_merkle_key_hash(t, m.e[j].key, m.e[j].len) == kh;
        reports *r = reports_new();
        CHECK(lt_merkle_keys_with_hash(t, kh, collect, r) == want);
        CHECK(r->n == want && want >= 1);
        CHECK(find_report(r, m.e[i].key, m.e[i].len) >= 0);
        free(r);
    }
    CHECK(lt_merkle_keys_with_hash(t, 0x0012345678abcdefull, collect, NULL) == 0);
    lt_merkle_free(t);
    free(m.e);
}

/* ---- encodings: round trips, caps, garbage ------------------------------------------------ */

static size_t n_children_diff(const lt_merkle *a, const lt_merkle *b, unsigned level,
                              const uint64_t *parents, size_t n, uint64_t *want) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        for (uint64_t c = 0; c < 16; c++) {
            uint64_t idx = parents[i] * 16 + c;
            if (lt_merkle_fold(lt_merkle_node_at(a, level + 1, idx).hash) !=
                lt_merkle_fold(lt_merkle_node_at(b, level + 1, idx).hash))
                want[w++] = idx;
        }
    return w;
}

/* A decoder's output for any message it accepts: ascending indices of level+1, at most 16 per
 * parent, each naming a child whose hash really differs from what the message could say. */
static int children_consistent(const lt_merkle *t, const uint8_t *msg, size_t len) {
    uint64_t out[16 * 64];
    size_t n = 7;
    unsigned level = 99;
    lt_err err = lt_merkle_diff_children(t, msg, len, &level, out, 16 * 64, &n);
    if (err != LT_OK)
        return n == 0;
    if (level >= lt_merkle_levels(t))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] >> (4 * (level + 1)) != 0)
            return 0;
        if (i > 0 && out[i] <= out[i - 1])
            return 0;
    }
    return 1;
}

typedef struct {
    const lt_merkle *t;
    int bad;
} bucket_check_ctx;

static int bucket_consistent_fn(void *ctx, const uint8_t *key, size_t key_len,
                                lt_merkle_side side) {
    bucket_check_ctx *c = ctx;
    uint8_t d[16];
    if (side == LT_MERKLE_REMOTE_ONLY)
        c->bad += key_len != 8;
    else
        c->bad += !lt_merkle_get(c->t, key, key_len, d);
    return 0;
}

static int buckets_consistent(const lt_merkle *t, const uint8_t *msg, size_t len) {
    bucket_check_ctx c = {t, 0};
    lt_err err = lt_merkle_diff_buckets(t, msg, len, bucket_consistent_fn, &c);
    (void)err;
    return c.bad == 0;
}

static void test_encodings(void) {
    uint64_t rng = 21;
    model m = model_new(800, 0, 0);
    fill(&m, &rng, 100);
    model m2 = model_copy(&m);
    diverge(&m2, &rng, 40);
    lt_merkle *a = tree_of(&m, 2, ~(uint64_t)0), *b = tree_of(&m2, 2, ~(uint64_t)0);

    /* Children of level 1 parents: round trip against itself (nothing differs) and against b
     * (exactly the children whose folded hashes differ). */
    uint64_t parents[5] = {0, 3, 4, 9, 15};
    lt_buf enc;
    lt_buf_init(&enc);
    CHECK_ERR(lt_merkle_encode_children(a, 1, parents, 5, &enc), LT_OK);
    CHECK(enc.len == 5 + 5 + 5 * 128);
    uint64_t out[80], want[80];
    size_t n = 99;
    unsigned level = 99;
    CHECK_ERR(lt_merkle_diff_children(a, enc.data, enc.len, &level, out, 80, &n), LT_OK);
    CHECK(n == 0 && level == 1);
    CHECK_ERR(lt_merkle_diff_children(b, enc.data, enc.len, &level, out, 80, &n), LT_OK);
    size_t w = n_children_diff(a, b, 1, parents, 5, want);
    CHECK(w > 0 && n == w && memcmp(out, want, w * sizeof *out) == 0);
    /* Too small an output: LT_E_TOO_BIG, nothing written past cap. */
    uint64_t small[2] = {0xAA, 0xBB};
    if (w > 1) {
        CHECK_ERR(lt_merkle_diff_children(b, enc.data, enc.len, &level, small, 1, &n),
                  LT_E_TOO_BIG);
        CHECK(n == 0 && small[1] == 0xBB);
    }
    /* Every truncation is rejected; every byte flip is rejected or decodes consistently. */
    for (size_t cut = 0; cut < enc.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size, so ASan sees any over-read */
        memcpy(p, enc.data, cut);
        n = 5;
        CHECK(lt_merkle_diff_children(a, p, cut, &level, out, 80, &n) != LT_OK);
        CHECK(n == 0);
        free(p);
    }
    uint8_t *p = malloc(enc.len);
    for (size_t i = 0; i < enc.len; i++)
        for (int f = 0; f < 3; f++) {
            memcpy(p, enc.data, enc.len);
            p[i] ^= (uint8_t[]){0x01, 0x80, 0xff}[f];
            CHECK(children_consistent(a, p, enc.len));
        }
    free(p);
    /* Malformations, one by one. */
    {
        uint8_t bad[6 + 2 * 129];
        memcpy(bad, enc.data, 6 + 2 * 129 < enc.len ? 6 + 2 * 129 : enc.len);
        size_t bl = 5 + 2 * 129;
        bad[4] = 2; /* two parents: 0 then +3 */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_OK);
        bad[0] = 2;
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_VERSION);
        bad[0] = 1;
        bad[1] = 2;
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_BAD_TAG);
        bad[1] = 1;
        bad[2] = 3;
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_WRONG_TYPE);
        bad[2] = 2;
        bad[3] = 2; /* parents of level 2 = the buckets: no children */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_WRONG_TYPE);
        bad[3] = 1;
        bad[5 + 129] = 0; /* second parent equal to the first */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_ORDER);
        bad[5 + 129] = 16; /* parent 16 of level 1: out of range */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_TOO_BIG);
        bad[5 + 129] = 3;
        bad[4] = 3; /* claims three parents: truncated */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_TRUNCATED);
        bad[4] = 1; /* claims one: trailing */
        CHECK_ERR(lt_merkle_diff_children(a, bad, bl, &level, out, 80, &n), LT_E_TRAILING);
        uint8_t huge[] = {1, 1, 2, 0, 0x81, 0x80, 0x04}; /* 65537 parents */
        CHECK_ERR(lt_merkle_diff_children(a, huge, sizeof huge, &level, out, 80, &n), LT_E_TOO_BIG);
        uint8_t nonmin[] = {1, 1, 2, 0, 0x80, 0x00};
        CHECK_ERR(lt_merkle_diff_children(a, nonmin, sizeof nonmin, &level, out, 80, &n),
                  LT_E_NONCANONICAL);
        uint8_t empty[] = {1, 1, 2, 0, 0};
        CHECK_ERR(lt_merkle_diff_children(a, empty, sizeof empty, &level, out, 80, &n), LT_OK);
        CHECK(n == 0);
    }
    /* The encoder's own checks; a failed encode leaves out as it was. */
    size_t before = enc.len;
    uint64_t unordered[2] = {3, 3}, outside[1] = {16};
    CHECK_ERR(lt_merkle_encode_children(a, 1, unordered, 2, &enc), LT_E_ORDER);
    CHECK_ERR(lt_merkle_encode_children(a, 1, outside, 1, &enc), LT_E_TOO_BIG);
    CHECK_ERR(lt_merkle_encode_children(a, 2, parents, 1, &enc), LT_E_WRONG_TYPE);
    CHECK_ERR(lt_merkle_encode_children(a, 0, parents, LT_MERKLE_MAX_WIRE_NODES + 1, &enc),
              LT_E_TOO_BIG);
    CHECK(enc.len == before);
    lt_buf_free(&enc);
    uint8_t fixed[10];
    lt_buf_init_fixed(&enc, fixed, sizeof fixed);
    CHECK_ERR(lt_merkle_encode_children(a, 0, parents, 1, &enc), LT_E_NOMEM);
    CHECK(enc.len == 0);

    /* Buckets: round trip, then against b; truncations and flips. */
    uint64_t bl[256];
    for (uint64_t i = 0; i < 256; i++)
        bl[i] = i;
    lt_buf_init(&enc);
    CHECK_ERR(lt_merkle_encode_buckets(a, bl, 256, &enc), LT_OK);
    reports *r = reports_new();
    CHECK_ERR(lt_merkle_diff_buckets(a, enc.data, enc.len, collect, r), LT_OK);
    CHECK(r->n == 0);
    CHECK_ERR(lt_merkle_diff_buckets(b, enc.data, enc.len, collect, r), LT_OK);
    CHECK(r->n > 0);
    free(r);
    lt_buf_free(&enc);
    /* A smaller encoding for the exhaustive byte flips. */
    uint64_t few[3] = {2, 77, 200};
    lt_buf_init(&enc);
    CHECK_ERR(lt_merkle_encode_buckets(a, few, 3, &enc), LT_OK);
    for (size_t cut = 0; cut < enc.len; cut++) {
        uint8_t *q = malloc(cut ? cut : 1);
        memcpy(q, enc.data, cut);
        r = reports_new();
        CHECK(lt_merkle_diff_buckets(a, q, cut, collect, r) != LT_OK);
        CHECK(r->n == 0); /* checked before any report */
        free(r);
        free(q);
    }
    p = malloc(enc.len);
    for (size_t i = 0; i < enc.len; i++)
        for (int f = 0; f < 3; f++) {
            memcpy(p, enc.data, enc.len);
            p[i] ^= (uint8_t[]){0x01, 0x80, 0xff}[f];
            CHECK(buckets_consistent(a, p, enc.len));
        }
    free(p);
    {
        r = reports_new();
        uint8_t huge[] = {1, 2, 2, 0x81, 0x80, 0x04};
        CHECK_ERR(lt_merkle_diff_buckets(a, huge, sizeof huge, collect, r), LT_E_TOO_BIG);
        uint8_t many[] = {1, 2, 2, 1, 0, 0x81, 0x80, 0x40}; /* 2^20 + 1 entries */
        CHECK_ERR(lt_merkle_diff_buckets(a, many, sizeof many, collect, r), LT_E_TOO_BIG);
        uint8_t lots[] = {1, 2, 2, 1, 0, 0x80, 0x01}; /* 128 entries, no bytes */
        CHECK_ERR(lt_merkle_diff_buckets(a, lots, sizeof lots, collect, r), LT_E_TRUNCATED);
        uint8_t range[] = {1, 2, 2, 1, 0x80, 0x02, 0}; /* bucket 256 of 256 */
        CHECK_ERR(lt_merkle_diff_buckets(a, range, sizeof range, collect, r), LT_E_TOO_BIG);
        uint8_t dup[] = {1, 2, 2, 2, 5, 0, 0, 0};
        CHECK_ERR(lt_merkle_diff_buckets(a, dup, sizeof dup, collect, r), LT_E_ORDER);
        uint8_t trail[] = {1, 2, 2, 1, 5, 0, 9};
        CHECK_ERR(lt_merkle_diff_buckets(a, trail, sizeof trail, collect, r), LT_E_TRAILING);
        uint8_t kind[] = {1, 1, 2, 0};
        CHECK_ERR(lt_merkle_diff_buckets(a, kind, sizeof kind, collect, r), LT_E_BAD_TAG);
        uint8_t shape[] = {1, 2, 3, 0};
        CHECK_ERR(lt_merkle_diff_buckets(a, shape, sizeof shape, collect, r), LT_E_WRONG_TYPE);
        /* An entry whose key hash is not of its bucket; then two out of order. */
        uint8_t mis[4 + 2 + 32] = {1, 2, 2, 1, 5, 2};
        lt_write_be64(mis + 6, UINT64_C(0x0600000000000000));
        CHECK_ERR(lt_merkle_diff_buckets(a, mis, 6 + 16, collect, r), LT_E_TRUNCATED);
        CHECK_ERR(lt_merkle_diff_buckets(a, mis, sizeof mis, collect, r), LT_E_ORDER);
        lt_write_be64(mis + 6, UINT64_C(0x0500000000000009));
        lt_write_be64(mis + 22, UINT64_C(0x0500000000000001));
        CHECK_ERR(lt_merkle_diff_buckets(a, mis, sizeof mis, collect, r), LT_E_ORDER);
        lt_write_be64(mis + 22, UINT64_C(0x0500000000000009)); /* equal key hashes: allowed */
        CHECK(r->n == 0);
        CHECK_ERR(lt_merkle_diff_buckets(a, mis, sizeof mis, collect, r), LT_OK);
        CHECK(r->n > 0); /* bucket 5's keys reported, and the peer's key hash */
        free(r);
    }
    before = enc.len;
    uint64_t unordered_b[2] = {7, 7}, outside_b[1] = {256};
    CHECK_ERR(lt_merkle_encode_buckets(a, unordered_b, 2, &enc), LT_E_ORDER);
    CHECK_ERR(lt_merkle_encode_buckets(a, outside_b, 1, &enc), LT_E_TOO_BIG);
    CHECK(enc.len == before);
    lt_buf_free(&enc);
    /* Random garbage after a valid header: never an over-read, never an inconsistency. */
    for (int round = 0; round < 3000; round++) {
        size_t len = lt_test_below(&rng, 300);
        uint8_t *g = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)lt_test_rand(&rng);
        if (len > 3) {
            g[0] = 1;
            g[1] = (uint8_t)(1 + round % 2);
            g[2] = 2;
            if (round % 4 < 2 && len > 4)
                g[3] = (uint8_t)(round % 3 == 0 ? 0 : 1);
        }
        CHECK(children_consistent(a, g, len));
        CHECK(buckets_consistent(a, g, len));
        free(g);
    }
    lt_merkle_free(a);
    lt_merkle_free(b);
    free(m.e);
    free(m2.e);
}

/* Two equal trees: one exchange of a root. Differences cost bytes in d, not n. */
static void test_session_cost(void) {
    uint64_t rng = 77;
    model m = model_new(20000, 0, 0);
    fill(&m, &rng, 100);
    model m2 = model_copy(&m);
    lt_merkle *a = tree_of(&m, 3, ~(uint64_t)0), *b = tree_of(&m2, 3, ~(uint64_t)0);
    reports *r = reports_new();
    size_t rounds, bytes = wire_session(a, b, r, &rounds);
    CHECK(rounds == 1 && bytes < 100 && r->n == 0);
    lt_merkle_free(b);
    diverge(&m2, &rng, 5);
    b = tree_of(&m2, 3, ~(uint64_t)0);
    bytes = wire_session(a, b, r, &rounds);
    CHECK(reports_exact(r, &m, &m2));
    CHECK(bytes < 16 + 5 + 129 + 5 + 5 * 129 + 5 + 5 * 129 + 4 + 5 * 60 * 16);
    free(r);
    lt_merkle_free(a);
    lt_merkle_free(b);
    free(m.e);
    free(m2.e);
}

/* Batches (lt_merkle_apply, and in slices of random budgets) give the tree that the same ops
 * one by one give: puts, deletes, repeated keys (the last op wins), forced collisions. */
static void test_batches(void) {
    uint64_t rng = 31;
    for (int round = 0; round < 8; round++) {
        uint64_t mask = round % 2 ? UINT64_C(0xfff0000000000000) : ~(uint64_t)0;
        model m = model_new(1500, 0, (size_t)round * 7);
        fill(&m, &rng, 50);
        lt_merkle *one = tree_of(&m, 3, mask), *bat = tree_of(&m, 3, mask);
        size_t n = 1 + lt_test_below(&rng, 5000);
        lt_merkle_op *ops = calloc(n, sizeof *ops);
        uint8_t(*dg)[16] = calloc(n, 16);
        for (size_t k = 0; k < n; k++) {
            mentry *e = &m.e[lt_test_below(&rng, round < 4 ? m.n : 40)];
            ops[k].key = e->key;
            ops[k].key_len = e->len;
            if (lt_test_below(&rng, 4) == 0) {
                ops[k].digest = NULL;
                (void)lt_merkle_delete(one, e->key, e->len);
            } else {
                rand_digest(&rng, dg[k]);
                ops[k].digest = dg[k];
                CHECK_ERR(lt_merkle_put(one, e->key, e->len, dg[k]), LT_OK);
            }
        }
        if (round % 3 == 0) {
            CHECK_ERR(lt_merkle_apply(bat, ops, n), LT_OK);
        } else {
            lt_merkle_batch *b;
            CHECK_ERR(lt_merkle_batch_new(ops, n, &b), LT_OK);
            CHECK(lt_merkle_batch_size(b) == n);
            int done = 0, steps = 0;
            while (!done && steps < 100000) {
                CHECK_ERR(lt_merkle_batch_step(bat, b, lt_test_below(&rng, 300), &done), LT_OK);
                steps++;
            }
            CHECK(done && steps > 1);
            lt_merkle_batch_free(b);
        }
        CHECK(trees_equal(one, bat));
        CHECK(lt_merkle_count(one) == lt_merkle_count(bat) && sums_hold(bat));
        reports *r = reports_new();
        CHECK_ERR(lt_merkle_diff(one, bat, collect, r), LT_OK);
        CHECK(r->n == 0);
        free(r);
        /* A bad key anywhere: LT_E_TOO_BIG, nothing applied. */
        lt_merkle_node before = lt_merkle_root(bat);
        ops[n / 2].key_len = 0;
        CHECK_ERR(lt_merkle_apply(bat, ops, n), LT_E_TOO_BIG);
        ops[n / 2].key_len = LT_MERKLE_MAX_KEY + 1;
        CHECK_ERR(lt_merkle_apply(bat, ops, n), LT_E_TOO_BIG);
        CHECK(lt_merkle_root(bat).hash.lo == before.hash.lo &&
              lt_merkle_root(bat).count == before.count);
        free(ops);
        free(dg);
        lt_merkle_free(one);
        lt_merkle_free(bat);
        free(m.e);
    }
    /* An empty batch, and one into an empty tree that deletes everything it puts. */
    lt_merkle *t = lt_merkle_new(2);
    CHECK_ERR(lt_merkle_apply(t, NULL, 0), LT_OK);
    uint8_t d[16] = {1};
    lt_merkle_op ops[3] = {{(const uint8_t *)"k", 1, d},
                           {(const uint8_t *)"k", 1, NULL},
                           {(const uint8_t *)"j", 1, NULL}};
    CHECK_ERR(lt_merkle_apply(t, ops, 3), LT_OK);
    CHECK(lt_merkle_count(t) == 0 && node_is_zero(lt_merkle_root(t)));
    lt_merkle_free(t);
}

/* lt_merkle_change_is_big: never for a small tree with a small arena; for a big one, exactly
 * the puts that pass the table's, records' or arena's capacity, and the deletes that would
 * compact the arena; after a reserve the same puts are cheap. */
static void test_change_is_big(void) {
    lt_merkle *t = lt_merkle_new(3);
    uint8_t d[16] = {7};
    CHECK(!lt_merkle_change_is_big(t, 1000000, 1000000, 1000000));
    size_t n = 3 * LT_MERKLE_CHEAP_KEYS;
    for (size_t i = 0; i < n; i++) {
        char k[32];
        int len = snprintf(k, sizeof k, "change-%zu", i);
        CHECK_ERR(lt_merkle_put(t, (const uint8_t *)k, (size_t)len, d), LT_OK);
    }
    CHECK(!lt_merkle_change_is_big(t, 0, 0, 0));
    CHECK(!lt_merkle_change_is_big(t, 1, 16, 0));
    CHECK(lt_merkle_change_is_big(t, 10 * n, 0, 0));
    CHECK(lt_merkle_change_is_big(t, SIZE_MAX, 0, 0));
    CHECK(!lt_merkle_change_is_big(t, 0, 0, 100));
    CHECK(lt_merkle_change_is_big(t, 0, 0, 100 * n));
    CHECK_ERR(lt_merkle_reserve(t, 11 * n), LT_OK);
    CHECK(!lt_merkle_change_is_big(t, 10 * n - n, 0, 0));
    lt_merkle_free(t);

    /* A few big keys: the arena alone is big. */
    t = lt_merkle_new(2);
    static uint8_t big[LT_MERKLE_MAX_KEY];
    for (size_t i = 0; i < 400; i++) {
        memset(big, 'a' + (int)(i % 26), sizeof big);
        lt_write_be64(big, i);
        CHECK_ERR(lt_merkle_put(t, big, sizeof big, d), LT_OK);
    }
    CHECK(lt_merkle_count(t) == 400);
    CHECK(lt_merkle_change_is_big(t, 1, 8 * LT_MERKLE_CHEAP_KEY_BYTES, 0));
    CHECK(lt_merkle_change_is_big(t, 0, 0, 300 * sizeof big));
    CHECK(!lt_merkle_change_is_big(t, 0, 0, sizeof big));
    CHECK_ERR(lt_merkle_reserve_keys(t, 1000, 8 * LT_MERKLE_CHEAP_KEY_BYTES), LT_OK);
    CHECK(!lt_merkle_change_is_big(t, 1, 8 * LT_MERKLE_CHEAP_KEY_BYTES, 0));
    /* The arena grew past 4 MiB (advised and faulted in): the keys it held are intact. */
    for (size_t i = 0; i < 400; i++) {
        uint8_t got[LT_MERKLE_DIGEST];
        memset(big, 'a' + (int)(i % 26), sizeof big);
        lt_write_be64(big, i);
        CHECK(lt_merkle_get(t, big, sizeof big, got) && memcmp(got, d, sizeof got) == 0);
    }
    lt_merkle_free(t);
}

int main(void) {
    test_small();
    test_updates_and_empty();
    test_each();
    test_join();
    test_batches();
    test_change_is_big();
    test_keys_with_hash();
    test_encodings();
    test_diff_property();
    test_long_prefixes();
    test_session_cost();
    return lt_test_summary();
}
