/* fuzz_merkle.c — libFuzzer target for the Merkle tree's wire decoders (lt_merkle.h): the
 * children encoding (lt_merkle_diff_children) and the bucket encoding (lt_merkle_diff_buckets).
 *
 * The input is decoded against two fixed trees (2 levels: one of 600 keys, one with forced key-
 * hash collisions). Invariants: never a crash or an over-read (ASan); on an error *n_out is 0
 * and a bucket message makes no report; an accepted children message yields ascending indices
 * of the next level, at most 16 per parent, each naming a child whose folded hash differs from
 * the message's; every reported key is one the tree holds (or an 8-byte hash, for the peer's
 * side); a cap of one child gives LT_E_TOO_BIG exactly when more than one child differs. An
 * accepted message is also re-encoded from what it names (parents or buckets, from the tree
 * itself) and that encoding decodes against the tree to no difference at all. */
#include "lt_merkle.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static lt_merkle *trees[2];

static void build(void) {
    for (int k = 0; k < 2; k++) {
        trees[k] = lt_merkle_new_masked(2, k ? UINT64_C(0xfff0000000000000) : ~(uint64_t)0);
        REQUIRE(trees[k] != NULL);
        for (unsigned i = 0; i < 600; i++) {
            char key[16];
            uint8_t d[16] = {0};
            int n = snprintf(key, sizeof key, "k%u", i);
            d[0] = (uint8_t)i;
            REQUIRE(lt_merkle_put(trees[k], (const uint8_t *)key, (size_t)n, d) == LT_OK);
        }
    }
}

typedef struct {
    const lt_merkle *t;
    size_t calls;
} ctx_t;

static int on_diff(void *ctx, const uint8_t *key, size_t key_len, lt_merkle_side side) {
    ctx_t *c = ctx;
    uint8_t d[16];
    c->calls++;
    if (side == LT_MERKLE_REMOTE_ONLY)
        REQUIRE(key_len == 8);
    else
        REQUIRE(lt_merkle_get(c->t, key, key_len, d));
    return 0;
}

/* The parents (or buckets) a message names, read with a parser of our own: the header, a
 * varint count, then per item a varint gap and `skip` bytes (children) or a varint count of
 * 16-byte entries (buckets). Only called on messages the decoder accepted. */
static size_t named(const uint8_t *p, size_t len, int buckets, uint64_t *out, size_t cap) {
    size_t off = buckets ? 3 : 4;
    uint64_t n, prev = 0;
    REQUIRE(lt_varint_read(p, len, &off, &n) == LT_OK && n <= cap);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap, m;
        REQUIRE(lt_varint_read(p, len, &off, &gap) == LT_OK);
        out[i] = prev + gap;
        prev = out[i];
        if (buckets) {
            REQUIRE(lt_varint_read(p, len, &off, &m) == LT_OK);
            off += 16 * m;
        } else {
            off += 8 * LT_MERKLE_FANOUT;
        }
    }
    REQUIRE(off == len);
    return (size_t)n;
}

static void children(const lt_merkle *t, const uint8_t *data, size_t size) {
    static uint64_t out[16 * 4096];
    size_t n = 12345;
    unsigned level = 99;
    lt_err err = lt_merkle_diff_children(t, data, size, &level, out, 16 * 4096, &n);
    if (err != LT_OK) {
        REQUIRE(n == 0);
        return;
    }
    REQUIRE(level < lt_merkle_levels(t));
    for (size_t i = 0; i < n; i++) {
        REQUIRE(out[i] >> (4 * (level + 1)) == 0);
        REQUIRE(i == 0 || out[i] > out[i - 1]);
        REQUIRE(lt_merkle_node_at(t, level + 1, out[i]).count != 0 ||
                lt_merkle_fold(lt_merkle_node_at(t, level + 1, out[i]).hash) == 0);
    }
    uint64_t one[1];
    size_t n1 = 7;
    lt_err e1 = lt_merkle_diff_children(t, data, size, &level, one, 1, &n1);
    REQUIRE(n > 1 ? (e1 == LT_E_TOO_BIG && n1 == 0) : (e1 == LT_OK && n1 == n));
    static uint64_t parents[4096];
    size_t np = named(data, size, 0, parents, 4096);
    REQUIRE(np * 16 >= n);
    lt_buf b;
    lt_buf_init(&b);
    REQUIRE(lt_merkle_encode_children(t, level, parents, np, &b) == LT_OK);
    REQUIRE(lt_merkle_diff_children(t, b.data, b.len, &level, out, 16 * 4096, &n) == LT_OK);
    REQUIRE(n == 0);
    lt_buf_free(&b);
}

static void buckets(const lt_merkle *t, const uint8_t *data, size_t size) {
    ctx_t c = {t, 0};
    lt_err err = lt_merkle_diff_buckets(t, data, size, on_diff, &c);
    if (err != LT_OK) {
        REQUIRE(c.calls == 0);
        return;
    }
    static uint64_t bl[4096];
    size_t nb = named(data, size, 1, bl, 4096);
    lt_buf b;
    lt_buf_init(&b);
    REQUIRE(lt_merkle_encode_buckets(t, bl, nb, &b) == LT_OK);
    c.calls = 0;
    REQUIRE(lt_merkle_diff_buckets(t, b.data, b.len, on_diff, &c) == LT_OK);
    REQUIRE(c.calls == 0);
    lt_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (trees[0] == NULL)
        build();
    for (int k = 0; k < 2; k++) {
        children(trees[k], data, size);
        buckets(trees[k], data, size);
    }
    return 0;
}
