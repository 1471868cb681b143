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
#define LT_MERKLE_MAX_KEY 4096                     /* bytes of one key */
#define LT_MERKLE_DIGEST 16                        /* bytes of one value digest */
#define LT_MERKLE_KEY_SEED 0x6c61747469636b31ull   /* "latticek1" */
#define LT_MERKLE_ENTRY_SEED 0x6c61747469636531ull /* "latticee1" */
#define LT_MERKLE_WIRE_V1 1                        /* version byte of every encoding below */
#define LT_MERKLE_WIRE_CHILDREN 1                  /* kind byte of a children encoding */
#define LT_MERKLE_WIRE_BUCKETS 2                   /* kind byte of a bucket encoding */

typedef struct lt_merkle lt_merkle;

typedef struct {
    lt_hash128_t hash; /* sum of the entry hashes below */
    uint64_t count;    /* entries below */
} lt_merkle_node;

/* A new empty tree of `levels` levels. NULL when out of memory or levels is out of range.
 * The caller owns it and frees it with lt_merkle_free (NULL is fine). */
lt_merkle *lt_merkle_new(unsigned levels);
/* For tests only: a tree whose key hashes are XXH3-64 & kh_mask, so that different keys collide
 * on purpose (kh_mask ~0 is lt_merkle_new). Compare it only with trees of the same mask. */
lt_merkle *lt_merkle_new_masked(unsigned levels, uint64_t kh_mask);
/* Frees t and everything it owns. */
void lt_merkle_free(lt_merkle *t);
/* Makes room for n keys in all (a batch about to be put), so the build does not regrow.
 * LT_E_NOMEM (the tree is unchanged), LT_E_TOO_BIG above 2^32 - 2 keys. */
LT_WARN_UNUSED lt_err lt_merkle_reserve(lt_merkle *t, size_t n);
/* The same, and room for key_bytes more bytes of keys (the new keys' bytes in all). */
LT_WARN_UNUSED lt_err lt_merkle_reserve_keys(lt_merkle *t, size_t n, size_t key_bytes);
/* The key hash of key (borrowed) in t (t's mask applied), and the bucket it falls in. */
uint64_t lt_merkle_key_hash(const lt_merkle *t, const uint8_t *key, size_t key_len);
uint64_t lt_merkle_bucket_of(const lt_merkle *t, uint64_t kh);
/* A node hash or an entry hash as it travels on the wire: hi ^ lo. */
static inline uint64_t lt_merkle_fold(lt_hash128_t h) {
    return h.hi ^ h.lo;
}

unsigned lt_merkle_levels(const lt_merkle *t);
uint64_t lt_merkle_count(const lt_merkle *t); /* keys held */
size_t lt_merkle_memory(const lt_merkle *t);  /* bytes allocated, approximately */

/* Whether up to `puts` new keys of `put_bytes` key bytes in all, or deletes of keys of
 * `del_bytes` key bytes in all, may do O(size) work at once on t: grow its lookup table or
 * entry records (a rehash or a move of every entry) when it holds more than
 * LT_MERKLE_CHEAP_KEYS keys, or grow (a realloc may copy it) or compact its key arena when
 * that holds more than LT_MERKLE_CHEAP_KEY_BYTES. A caller that must not stall (a NIF on a
 * normal scheduler) does such changes elsewhere, or calls lt_merkle_reserve_keys elsewhere
 * first. */
#define LT_MERKLE_CHEAP_KEYS 4096
#define LT_MERKLE_CHEAP_KEY_BYTES (1u << 20)
int lt_merkle_change_is_big(const lt_merkle *t, size_t puts, size_t put_bytes, size_t del_bytes);

/* Sets key (borrowed, 1..LT_MERKLE_MAX_KEY bytes) to digest (borrowed, 16 bytes): an insert or
 * an update. LT_E_TOO_BIG for a bad key size, LT_E_NOMEM. */
LT_WARN_UNUSED lt_err lt_merkle_put(lt_merkle *t, const uint8_t *key, size_t key_len,
                                    const uint8_t digest[LT_MERKLE_DIGEST]);
/* Removes key. Returns 1 if it was there, 0 if not. */
int lt_merkle_delete(lt_merkle *t, const uint8_t *key, size_t key_len);
/* A batch of updates: ops[i] sets key to digest, or removes key when digest is NULL. Later ops
 * of the same key win. Applied in key-hash order, which makes a large batch several times
 * faster than as many lt_merkle_put calls (docs/MERKLE.md, "Layout"). */
typedef struct {
    const uint8_t *key; /* borrowed, 1..LT_MERKLE_MAX_KEY bytes */
    size_t key_len;
    const uint8_t *digest; /* borrowed, 16 bytes; NULL: delete */
} lt_merkle_op;

/* All at once. LT_E_TOO_BIG for a bad key size (then nothing is applied), LT_E_NOMEM (then
 * nothing is applied, or, rarely, a prefix in key-hash order). */
LT_WARN_UNUSED lt_err lt_merkle_apply(lt_merkle *t, const lt_merkle_op *ops, size_t n);

/* The same in slices, for a caller that must yield: lt_merkle_batch_new prepares a batch over
 * ops[0..n) (borrowed: they must stay valid and unchanged until the batch is freed), and each
 * lt_merkle_batch_step does about `budget` op-sized units of work on t (the same t every step,
 * not changed in between by anything else) and sets *done when all is applied. Errors as
 * lt_merkle_apply; after an error, free the batch. The caller owns the batch and frees it with
 * lt_merkle_batch_free (NULL is fine). About 4 units per op in all. */
typedef struct lt_merkle_batch lt_merkle_batch;
LT_WARN_UNUSED lt_err lt_merkle_batch_new(const lt_merkle_op *ops, size_t n, lt_merkle_batch **out);
LT_WARN_UNUSED lt_err lt_merkle_batch_step(lt_merkle *t, lt_merkle_batch *b, size_t budget,
                                           int *done);
size_t lt_merkle_batch_size(const lt_merkle_batch *b);
void lt_merkle_batch_free(lt_merkle_batch *b);

/* Copies key's digest to out; returns 1 if the key is there, else 0. */
int lt_merkle_get(const lt_merkle *t, const uint8_t *key, size_t key_len,
                  uint8_t out[LT_MERKLE_DIGEST]);

/* Calls fn for every key (borrowed for the call) with its digest, in no particular order;
 * fn returns non-zero to stop, and must not change t. Returns the number of calls. */
typedef int (*lt_merkle_each_fn)(void *ctx, const uint8_t *key, size_t key_len,
                                 const uint8_t digest[LT_MERKLE_DIGEST]);
size_t lt_merkle_each(const lt_merkle *t, lt_merkle_each_fn fn, void *ctx);

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

/* Called once per differing key; key is borrowed for the call (fn must not change the trees).
 * Return non-zero to stop. */
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

/* Appends to out (caller-owned) the children of parents[0..n) (borrowed; node indices of
 * `level`, strictly ascending, level < levels). LT_E_ORDER, LT_E_TOO_BIG (n above
 * LT_MERKLE_MAX_WIRE_NODES, or an index outside the level), LT_E_WRONG_TYPE (level >= levels),
 * LT_E_NOMEM. On an error out is as it was (its length restored). */
#define LT_MERKLE_MAX_WIRE_NODES 65536
LT_WARN_UNUSED lt_err lt_merkle_encode_children(const lt_merkle *t, unsigned level,
                                                const uint64_t *parents, size_t n, lt_buf *out);

/* Decodes a peer's children encoding msg[0..len) (borrowed) and compares it with t: writes to
 * out (a caller-owned array of capacity cap) the indices, in level+1, of the children whose
 * hashes differ, ascending, and their number to *n_out. *level_out is the parents' level. The
 * whole message is checked before anything is written. Returns LT_OK,
 * LT_E_TRUNCATED/LT_E_TRAILING/LT_E_VERSION/LT_E_BAD_TAG/LT_E_ORDER/LT_E_TOO_BIG for a bad
 * message, LT_E_WRONG_TYPE for another `levels` or a level this tree does not have; and
 * LT_E_TOO_BIG when more than cap children differ (16 * parents always suffices; nothing is
 * written past cap). On any error *n_out is 0. */
LT_WARN_UNUSED lt_err lt_merkle_diff_children(const lt_merkle *t, const uint8_t *msg, size_t len,
                                              unsigned *level_out, uint64_t *out, size_t cap,
                                              size_t *n_out);

/* Buckets: for a list of bucket indices (borrowed, strictly ascending, each < 16^levels), each
 * bucket's entries as (key hash u64, entry hash u64) pairs sorted by key hash, appended to out
 * (caller-owned). LT_E_ORDER, LT_E_TOO_BIG (n above LT_MERKLE_MAX_WIRE_NODES, an index outside
 * the level, or more than LT_MERKLE_MAX_WIRE_ENTRIES entries in all), LT_E_NOMEM. On an error
 * out is as it was (its length restored). */
LT_WARN_UNUSED lt_err lt_merkle_encode_buckets(const lt_merkle *t, const uint64_t *buckets,
                                               size_t n, lt_buf *out);

/* Decodes a peer's bucket encoding msg[0..len) (borrowed) and compares it with t's buckets.
 * Entries match by (key hash, entry hash). fn is called
 * - for each unmatched local key, with this side's key bytes: LT_MERKLE_DIFFERS if the peer has
 *   an unmatched entry of the same key hash (almost surely the same key with another digest),
 *   else LT_MERKLE_LOCAL_ONLY;
 * - once for each key hash of which the peer has unmatched entries, with key = the 8-byte
 *   big-endian key hash and side LT_MERKLE_REMOTE_ONLY: "ask the peer for its keys of this
 *   hash". That includes the hash of every DIFFERS key, because two different keys may share a
 *   64-bit hash. docs/MERKLE.md ("Sessions") shows how a session resolves the hashes with
 *   lt_merkle_keys_with_hash on the peer into an exact symmetric difference.
 * The whole message is checked before fn is first called. Errors as lt_merkle_diff_children;
 * LT_E_TOO_BIG above LT_MERKLE_MAX_WIRE_ENTRIES entries in all; LT_E_NOMEM. */
#define LT_MERKLE_MAX_WIRE_ENTRIES (1u << 20)
LT_WARN_UNUSED lt_err lt_merkle_diff_buckets(const lt_merkle *t, const uint8_t *msg, size_t len,
                                             lt_merkle_diff_fn fn, void *ctx);

/* Calls fn (side LT_MERKLE_LOCAL_ONLY) for each key of t (borrowed for the call) whose key hash
 * is kh; returns how many. This is how a side turns a peer's key hash back into its own key
 * bytes. fn must not change t. */
size_t lt_merkle_keys_with_hash(const lt_merkle *t, uint64_t kh, lt_merkle_diff_fn fn, void *ctx);

#endif
