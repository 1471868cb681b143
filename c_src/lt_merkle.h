/*
 * lt_merkle.h — a fixed-shape Merkle tree over a keyspace of key -> 128-bit value digest.
 *
 * This is the tree the NIF (lattice_merkle) and the C node (anti-entropy) share. Plain C99, no
 * BEAM headers. See docs/MERKLE.md for the shape, the hashes and the wire encodings.
 *
 * Shape. A tree has `levels` levels below the root (1..LT_MERKLE_MAX_LEVELS), each node with
 * LT_MERKLE_FANOUT children, so 16^levels leaf buckets. A key's bucket is the top 4*levels bits
 * of its key hash kh = XXH3-64(key, seed LT_MERKLE_KEY_SEED). The shape does not depend on the
 * keys: two trees of the same `levels` can be compared node by node.
 *
 * Hashes. An entry (key, digest) hashes to e = XXH3-128(u32be key length | key | digest, seed
 * LT_MERKLE_ENTRY_SEED). A node's hash is the sum modulo 2^128 of the entry hashes below it
 * (the same combination as the types' digests, lt_digest.h), with a count of its entries. So an
 * update costs O(levels): subtract the old entry hash and add the new on the path to the root;
 * no bucket is rescanned, and two trees over disjoint keys join by adding node sums.
 * An empty node has hash 0 and count 0.
 *
 * Levels are numbered from the root: level 0 is the root (one node), level `levels` holds the
 * buckets. Node i of level k has children 16*i .. 16*i+15 in level k+1.
 *
 * Ownership: a tree owns copies of its keys. Nothing here is thread-safe; callers serialise.
 */
#ifndef LT_MERKLE_H
#define LT_MERKLE_H

#include "lt_common.h"
#include "lt_hash.h"

#define LT_MERKLE_FANOUT_BITS 4
#define LT_MERKLE_FANOUT (1u << LT_MERKLE_FANOUT_BITS)
#define LT_MERKLE_MAX_LEVELS 6 /* 16^6 = 16M buckets */
#define LT_MERKLE_DEFAULT_LEVELS 4
#define LT_MERKLE_MAX_KEY 4096 /* bytes of one key */
#define LT_MERKLE_DIGEST 16    /* bytes of one value digest */
#define LT_MERKLE_KEY_SEED 0x6c61747469636b31ull   /* "latticek1" */
#define LT_MERKLE_ENTRY_SEED 0x6c61747469636531ull /* "latticee1" */
#define LT_MERKLE_WIRE_V1 1                        /* version byte of every encoding below */

typedef struct lt_merkle lt_merkle;

typedef struct {
    lt_hash128_t hash; /* sum of the entry hashes below */
    uint64_t count;    /* entries below */
} lt_merkle_node;

/* A new empty tree of `levels` levels. NULL when out of memory or levels is out of range.
 * The caller owns it and frees it with lt_merkle_free (NULL is fine). */
lt_merkle *lt_merkle_new(unsigned levels);
void lt_merkle_free(lt_merkle *t);

unsigned lt_merkle_levels(const lt_merkle *t);
uint64_t lt_merkle_count(const lt_merkle *t); /* keys held */
size_t lt_merkle_memory(const lt_merkle *t);  /* bytes allocated, approximately */

/* Sets key (borrowed, 1..LT_MERKLE_MAX_KEY bytes) to digest (borrowed, 16 bytes): an insert or
 * an update. LT_E_TOO_BIG for a bad key size, LT_E_NOMEM. */
LT_WARN_UNUSED lt_err lt_merkle_put(lt_merkle *t, const uint8_t *key, size_t key_len,
                                    const uint8_t digest[LT_MERKLE_DIGEST]);
/* Removes key. Returns 1 if it was there, 0 if not. */
int lt_merkle_delete(lt_merkle *t, const uint8_t *key, size_t key_len);
/* Copies key's digest to out; returns 1 if the key is there, else 0. */
int lt_merkle_get(const lt_merkle *t, const uint8_t *key, size_t key_len,
                  uint8_t out[LT_MERKLE_DIGEST]);

/* The node `index` of `level` (0..levels); a zero node when either is out of range. */
lt_merkle_node lt_merkle_node_at(const lt_merkle *t, unsigned level, uint64_t index);
static inline lt_merkle_node lt_merkle_root(const lt_merkle *t) {
    return lt_merkle_node_at(t, 0, 0);
}

/* Adds every entry of src (borrowed) into dst. Keys must be disjoint: LT_E_DOT if a key is in
 * both (dst is then unchanged), LT_E_WRONG_TYPE if the levels differ, LT_E_NOMEM. */
LT_WARN_UNUSED lt_err lt_merkle_join(lt_merkle *dst, const lt_merkle *src);

/* ---- differences -------------------------------------------------------------------------- */

typedef enum {
    LT_MERKLE_DIFFERS = 0,     /* both hold the key, with different digests */
    LT_MERKLE_LOCAL_ONLY = 1,  /* only the first tree (this side) holds the key */
    LT_MERKLE_REMOTE_ONLY = 2, /* only the second tree (the peer) holds the key */
} lt_merkle_side;

/* Called once per differing key; key is borrowed for the call. Return non-zero to stop. */
typedef int (*lt_merkle_diff_fn)(void *ctx, const uint8_t *key, size_t key_len,
                                 lt_merkle_side side);

/* Walks a and b (same levels) from the root, descending only into nodes whose hash or count
 * differ, and reports each key whose digests differ or that only one side holds. Returns LT_OK,
 * LT_E_WRONG_TYPE if the levels differ, LT_E_NOMEM. */
LT_WARN_UNUSED lt_err lt_merkle_diff(const lt_merkle *a, const lt_merkle *b, lt_merkle_diff_fn fn,
                                     void *ctx);

/* ---- wire encodings (docs/MERKLE.md) -------------------------------------------------------
 * Every encoding starts with LT_MERKLE_WIRE_V1 and is decoded with a cap on every size. Node
 * hashes travel truncated to 64 bits (hi ^ lo folded, see docs): a false "equal" needs a 2^-64
 * accident per compared node.
 *
 * Children: for a list of parent nodes of `level`, their 16 children's hashes, so a peer can
 * answer with the children that differ. */

/* Appends to out the children of parents[0..n) (node indices of `level`, strictly ascending,
 * level < levels). LT_E_ORDER, LT_E_TOO_BIG (n above LT_MERKLE_MAX_WIRE_NODES), LT_E_NOMEM. */
#define LT_MERKLE_MAX_WIRE_NODES 65536
LT_WARN_UNUSED lt_err lt_merkle_encode_children(const lt_merkle *t, unsigned level,
                                                const uint64_t *parents, size_t n, lt_buf *out);

/* Decodes a peer's children encoding msg[0..len) (borrowed) and compares it with t: appends to
 * out (a caller-owned array of *n_out entries of capacity cap) the indices, in level+1, of the
 * children whose hashes differ, ascending. *level_out is the parents' level. Returns LT_OK,
 * LT_E_TRUNCATED/LT_E_TRAILING/LT_E_VERSION/LT_E_ORDER/LT_E_TOO_BIG for a bad message (nothing
 * is written past cap), LT_E_WRONG_TYPE for a level this tree does not have. */
LT_WARN_UNUSED lt_err lt_merkle_diff_children(const lt_merkle *t, const uint8_t *msg, size_t len,
                                              unsigned *level_out, uint64_t *out, size_t cap,
                                              size_t *n_out);

/* Buckets: for a list of bucket indices (ascending), each bucket's entries as (key hash u64,
 * entry hash u64) pairs sorted by key hash. */
LT_WARN_UNUSED lt_err lt_merkle_encode_buckets(const lt_merkle *t, const uint64_t *buckets,
                                               size_t n, lt_buf *out);

/* Decodes a peer's bucket encoding and compares it with t's buckets, calling fn for each
 * difference with this side's key (LT_MERKLE_DIFFERS, LT_MERKLE_LOCAL_ONLY) and, for keys only
 * the peer holds, with key = the 8-byte big-endian key hash and side LT_MERKLE_REMOTE_ONLY (the
 * peer knows the key; see docs/MERKLE.md for how a session resolves it). Entries of a bucket
 * whose key hashes collide are all reported as differing. Errors as lt_merkle_diff_children;
 * LT_E_TOO_BIG above LT_MERKLE_MAX_WIRE_ENTRIES entries in all. */
#define LT_MERKLE_MAX_WIRE_ENTRIES (1u << 20)
LT_WARN_UNUSED lt_err lt_merkle_diff_buckets(const lt_merkle *t, const uint8_t *msg, size_t len,
                                             lt_merkle_diff_fn fn, void *ctx);

/* Calls fn (side LT_MERKLE_LOCAL_ONLY) for each key of t whose key hash is kh; returns how many.
 * This is how a side turns a peer's key hash back into its own key bytes. */
size_t lt_merkle_keys_with_hash(const lt_merkle *t, uint64_t kh, lt_merkle_diff_fn fn, void *ctx);

#endif
