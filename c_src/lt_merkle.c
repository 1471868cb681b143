/*
 * lt_merkle.c — the fixed-shape Merkle tree of lt_merkle.h (docs/MERKLE.md).
 *
 * Layout (chosen for a build of 1M keys in well under 200 ms and an update in well under 1 us):
 * - nodes: every level's nodes in one calloc'd array, level k at level_off[k] (16^k nodes);
 * - entries: one array of fixed-size records (key hash, entry hash, digest, where the key's
 *   bytes are), reused through a free list; a bucket is an intrusive doubly linked list through
 *   its entries (heads[b] is the first entry + 1, 0 when empty, so a calloc'd array is an empty
 *   tree), so insert and delete are O(1) with no bucket rescan and no allocation per bucket;
 * - keys: every key's bytes in one arena (entries hold offsets), compacted when more than half
 *   of it is dead, so the cost is amortised O(1) per delete;
 * - lookup: an open-addressing table (linear probing, backward-shift deletion, load <= 1/2) of
 *   entry indices by key hash; two different keys with the same key hash sit side by side in a
 *   probe run and are told apart by their bytes.
 * Buckets are not kept sorted: the few functions that need a bucket in order (the diffs and the
 * bucket encoding) sort a copy, which is cheap for the small buckets of a sized tree.
 */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise */
#endif
#include "lt_merkle.h"

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define NIL UINT32_MAX
#define MAX_ENTRIES (UINT32_MAX - 2u)

typedef struct {
    uint64_t kh;         /* key hash (t->kh_mask applied) */
    lt_hash128_t eh;     /* entry hash */
    uint64_t key_off;    /* the key's bytes: t->keys + key_off */
    uint32_t key_len;    /* 0: a free record */
    uint32_t next, prev; /* the bucket's list (NIL ends it); next also links the free list */
    uint8_t digest[LT_MERKLE_DIGEST];
} entry;

struct lt_merkle {
    unsigned levels;
    uint64_t kh_mask;
    uint64_t n_buckets;
    size_t n_nodes;
    size_t level_off[LT_MERKLE_MAX_LEVELS + 1];
    lt_merkle_node *nodes; /* owned */
    uint32_t *heads;       /* owned; per bucket: first entry + 1, or 0 */
    entry *ents;           /* owned; ents[0..n_ents) in use or free */
    uint32_t n_ents, cap_ents, free_head;
    uint64_t count;
    uint32_t *table; /* owned; table_cap slots (a power of two) of entry indices or NIL */
    size_t table_cap;
    unsigned table_shift;
    uint8_t *keys; /* owned arena */
    size_t keys_len, keys_cap, keys_dead;
};

/* ---- 128-bit sums ------------------------------------------------------------------------- */

static inline lt_hash128_t add128(lt_hash128_t a, lt_hash128_t b) {
    lt_hash128_t r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo);
    return r;
}

static inline lt_hash128_t sub128(lt_hash128_t a, lt_hash128_t b) {
    lt_hash128_t r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}

static inline int eq128(lt_hash128_t a, lt_hash128_t b) {
    return a.hi == b.hi && a.lo == b.lo;
}

/* ---- big arrays ---------------------------------------------------------------------------
 * The entry records and the lookup table of a big tree are tens of megabytes, touched for the
 * first time by a build: on Linux, faulting them in 4 KiB pages is about a quarter of a
 * million-key build (a fault and a page clear per 4 KiB). Asking for transparent huge pages on
 * them (where the system allows it: "madvise" or "always") makes that 512 times fewer faults.
 * A huge-page fault may stall (the kernel may compact memory to find a huge page), so the
 * arrays advised here are touched at once where they are allocated — in lt_merkle_reserve or
 * a growth, which a caller that must not stall runs elsewhere (lt_merkle_change_is_big) —
 * never later, a page at a time, by puts. The key arena is advised and faulted in the same way
 * when it grows to 4 MiB and more (in lt_merkle_reserve_keys, or a growth that
 * lt_merkle_change_is_big judges big). Advice only: a failure is ignored; elsewhere this does
 * nothing. */
#define HUGE_BYTES (4u << 20)

/* Advises [p, p + bytes) (its whole 2 MiB pages); returns 1 when it did, 0 when too small or
 * not on Linux. */
static int advise_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (p == NULL || bytes < HUGE_BYTES)
        return 0;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
    return 1;
#else
    (void)p;
    (void)bytes;
    return 0;
#endif
}

/* Faults in [p, p + bytes) now, with a write of one byte per 4 KiB page (the kernel clears each
 * page it faults in; writing all of it as well would be a second pass over the memory). The
 * bytes hold nothing yet: what is written there does not matter. */
static void fault_in(void *p, size_t bytes) {
    volatile uint8_t *q = p;
    for (size_t i = 0; i < bytes; i += 4096)
        q[i] = 0;
}

/* ---- shape -------------------------------------------------------------------------------- */

lt_merkle *lt_merkle_new_masked(unsigned levels, uint64_t kh_mask) {
    if (levels < 1 || levels > LT_MERKLE_MAX_LEVELS)
        return NULL;
    lt_merkle *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->levels = levels;
    t->kh_mask = kh_mask;
    t->n_buckets = (uint64_t)1 << (LT_MERKLE_FANOUT_BITS * levels);
    size_t off = 0;
    for (unsigned k = 0; k <= levels; k++) {
        t->level_off[k] = off;
        off += (size_t)1 << (LT_MERKLE_FANOUT_BITS * k);
    }
    t->n_nodes = off;
    t->nodes = calloc(t->n_nodes, sizeof *t->nodes);
    t->heads = calloc((size_t)t->n_buckets, sizeof *t->heads);
    t->free_head = NIL;
    if (t->nodes == NULL || t->heads == NULL) {
        lt_merkle_free(t);
        return NULL;
    }
    return t;
}

lt_merkle *lt_merkle_new(unsigned levels) {
    return lt_merkle_new_masked(levels, ~(uint64_t)0);
}

void lt_merkle_free(lt_merkle *t) {
    if (t == NULL)
        return;
    free(t->nodes);
    free(t->heads);
    free(t->ents);
    free(t->table);
    free(t->keys);
    t->nodes = NULL;
    t->heads = NULL;
    t->ents = NULL;
    t->table = NULL;
    t->keys = NULL;
    free(t);
}

unsigned lt_merkle_levels(const lt_merkle *t) {
    return t->levels;
}

uint64_t lt_merkle_count(const lt_merkle *t) {
    return t->count;
}

size_t lt_merkle_memory(const lt_merkle *t) {
    return sizeof *t + t->n_nodes * sizeof *t->nodes + (size_t)t->n_buckets * sizeof *t->heads +
           (size_t)t->cap_ents * sizeof *t->ents + t->table_cap * sizeof *t->table + t->keys_cap;
}

uint64_t lt_merkle_key_hash(const lt_merkle *t, const uint8_t *key, size_t key_len) {
    return lt_hash64(key, key_len, LT_MERKLE_KEY_SEED) & t->kh_mask;
}

uint64_t lt_merkle_bucket_of(const lt_merkle *t, uint64_t kh) {
    return kh >> (64 - LT_MERKLE_FANOUT_BITS * t->levels);
}

/* The entry hash: XXH3-128(u32be key length | key | digest, LT_MERKLE_ENTRY_SEED). */
static lt_hash128_t entry_hash(const uint8_t *key, size_t key_len, const uint8_t *digest) {
    uint8_t buf[4 + LT_MERKLE_MAX_KEY + LT_MERKLE_DIGEST];
    buf[0] = (uint8_t)(key_len >> 24);
    buf[1] = (uint8_t)(key_len >> 16);
    buf[2] = (uint8_t)(key_len >> 8);
    buf[3] = (uint8_t)key_len;
    memcpy(buf + 4, key, key_len);
    memcpy(buf + 4 + key_len, digest, LT_MERKLE_DIGEST);
    return lt_hash128(buf, 4 + key_len + LT_MERKLE_DIGEST, LT_MERKLE_ENTRY_SEED);
}

/* Adds d (mod 2^128) and dcount to every node on the path from bucket b to the root. */
static inline void path_add(lt_merkle *t, uint64_t b, lt_hash128_t d, int64_t dcount) {
    for (unsigned k = t->levels + 1; k-- > 0;) {
        lt_merkle_node *n = &t->nodes[t->level_off[k] + (size_t)b];
        n->hash = add128(n->hash, d);
        n->count += (uint64_t)dcount;
        b >>= LT_MERKLE_FANOUT_BITS;
    }
}

/* ---- the key -> entry table --------------------------------------------------------------- */

static inline size_t slot_of(const lt_merkle *t, uint64_t kh) {
    return (size_t)(kh >> t->table_shift);
}

static inline const uint8_t *key_of(const lt_merkle *t, const entry *e) {
    return t->keys + e->key_off;
}

/* The slot holding key, or (found 0) the empty slot where it would go. Needs table_cap > 0. */
static size_t find(const lt_merkle *t, uint64_t kh, const uint8_t *key, size_t key_len,
                   int *found) {
    size_t m = t->table_cap - 1;
    for (size_t i = slot_of(t, kh);; i = (i + 1) & m) {
        uint32_t x = t->table[i];
        if (x == NIL) {
            *found = 0;
            return i;
        }
        const entry *e = &t->ents[x];
        if (e->kh == kh && e->key_len == key_len && memcmp(key_of(t, e), key, key_len) == 0) {
            *found = 1;
            return i;
        }
    }
}

/* Room in the table for `need` keys at load <= 1/2; rehashes into a new table. */
static lt_err table_ensure(lt_merkle *t, uint64_t need) {
    if (t->table_cap != 0 && need <= t->table_cap / 2)
        return LT_OK;
    size_t cap = t->table_cap ? t->table_cap : 16;
    unsigned bits = 0;
    while (need > cap / 2) {
        if (cap > SIZE_MAX / 2 / sizeof *t->table)
            return LT_E_NOMEM;
        cap *= 2;
    }
    for (size_t c = cap; c > 1; c >>= 1)
        bits++;
    uint32_t *nt = malloc(cap * sizeof *nt);
    if (nt == NULL)
        return LT_E_NOMEM;
    (void)advise_huge(nt, cap * sizeof *nt);
    memset(nt, 0xff, cap * sizeof *nt);
    free(t->table);
    t->table = nt;
    t->table_cap = cap;
    t->table_shift = 64 - bits;
    size_t m = cap - 1;
    for (uint32_t x = 0; x < t->n_ents; x++) {
        if (t->ents[x].key_len == 0)
            continue;
        size_t i = slot_of(t, t->ents[x].kh);
        while (nt[i] != NIL)
            i = (i + 1) & m;
        nt[i] = x;
    }
    return LT_OK;
}

/* Empties slot `pos`, shifting later members of its probe run back (no tombstones). */
static void table_remove(lt_merkle *t, size_t pos) {
    size_t m = t->table_cap - 1, i = pos, j = pos;
    for (;;) {
        j = (j + 1) & m;
        uint32_t x = t->table[j];
        if (x == NIL)
            break;
        size_t home = slot_of(t, t->ents[x].kh);
        /* x stays when its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        t->table[i] = x;
        i = j;
    }
    t->table[i] = NIL;
}

/* ---- entries and the key arena ------------------------------------------------------------ */

static lt_err ents_ensure(lt_merkle *t, uint64_t need) {
    if (need <= t->cap_ents)
        return LT_OK;
    if (need > MAX_ENTRIES)
        return LT_E_TOO_BIG;
    uint64_t cap = t->cap_ents ? t->cap_ents : 64;
    while (cap < need)
        cap *= 2;
    if (cap > MAX_ENTRIES)
        cap = MAX_ENTRIES;
    if ((uint64_t)cap > SIZE_MAX / sizeof *t->ents)
        return LT_E_NOMEM;
    entry *ne = realloc(t->ents, (size_t)cap * sizeof *ne);
    if (ne == NULL)
        return LT_E_NOMEM;
    if (advise_huge(ne, (size_t)cap * sizeof *ne)) /* fault the new records in now */
        fault_in(ne + t->cap_ents, ((size_t)cap - t->cap_ents) * sizeof *ne);
    t->ents = ne;
    t->cap_ents = (uint32_t)cap;
    return LT_OK;
}

static lt_err keys_ensure(lt_merkle *t, size_t extra) {
    size_t need;
    if (lt_size_add(t->keys_len, extra, &need) != LT_OK)
        return LT_E_NOMEM;
    if (need <= t->keys_cap)
        return LT_OK;
    size_t cap = t->keys_cap ? t->keys_cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *nk = realloc(t->keys, cap);
    if (nk == NULL)
        return LT_E_NOMEM;
    if (advise_huge(nk, cap)) /* fault the new bytes in now, as the records */
        fault_in(nk + t->keys_cap, cap - t->keys_cap);
    t->keys = nk;
    t->keys_cap = cap;
    return LT_OK;
}

/* Rewrites the arena without its dead bytes; on out of memory leaves it as it is. */
static void keys_compact(lt_merkle *t) {
    size_t live = t->keys_len - t->keys_dead;
    size_t cap = live < 4096 ? 4096 : live + live / 2;
    uint8_t *nk = malloc(cap);
    if (nk == NULL)
        return;
    size_t off = 0;
    for (uint32_t x = 0; x < t->n_ents; x++) {
        entry *e = &t->ents[x];
        if (e->key_len == 0)
            continue;
        memcpy(nk + off, t->keys + e->key_off, e->key_len);
        e->key_off = off;
        off += e->key_len;
    }
    free(t->keys);
    t->keys = nk;
    t->keys_cap = cap;
    t->keys_len = off;
    t->keys_dead = 0;
}

lt_err lt_merkle_reserve(lt_merkle *t, size_t n) {
    return lt_merkle_reserve_keys(t, n, 0);
}

lt_err lt_merkle_reserve_keys(lt_merkle *t, size_t n, size_t key_bytes) {
    if (n > MAX_ENTRIES)
        return LT_E_TOO_BIG;
    lt_err err = table_ensure(t, n);
    if (err == LT_OK)
        err = ents_ensure(t, n);
    if (err == LT_OK && key_bytes > 0)
        err = keys_ensure(t, key_bytes);
    return err;
}

int lt_merkle_change_is_big(const lt_merkle *t, size_t puts, size_t put_bytes, size_t del_bytes) {
    /* The key arena: a growth reallocs it (which may copy it), a compaction rewrites it. */
    int big_arena = t->keys_len > LT_MERKLE_CHEAP_KEY_BYTES;
    if (put_bytes > 0 && put_bytes > t->keys_cap - t->keys_len &&
        (big_arena || t->keys_cap > LT_MERKLE_CHEAP_KEY_BYTES))
        return 1;
    /* delete_hashed compacts when the dead bytes pass 64 KiB and half the arena. */
    size_t dead = del_bytes > SIZE_MAX - t->keys_dead ? SIZE_MAX : t->keys_dead + del_bytes;
    if (del_bytes > 0 && dead > 65536 && dead > t->keys_len / 2 &&
        (big_arena || t->count > LT_MERKLE_CHEAP_KEYS))
        return 1;
    uint64_t live = t->count;
    if (live <= LT_MERKLE_CHEAP_KEYS)
        return 0;
    uint64_t need = puts > MAX_ENTRIES ? MAX_ENTRIES + (uint64_t)1 : live + puts;
    /* A free record may be reused, but counting none is the safe side. */
    return puts > 0 && (need > t->table_cap / 2 || (uint64_t)t->n_ents + puts > t->cap_ents);
}

/* Links a new entry for key (not in t; `pos` is its empty slot from find) into its bucket, the
 * table and the node sums. The caller has made room: table, one entry record, key bytes. */
static void insert_new(lt_merkle *t, size_t pos, uint64_t kh, lt_hash128_t eh, const uint8_t *key,
                       size_t key_len, const uint8_t *digest) {
    uint32_t x;
    if (t->free_head != NIL) {
        x = t->free_head;
        t->free_head = t->ents[x].next;
    } else {
        x = t->n_ents++;
    }
    entry *e = &t->ents[x];
    e->kh = kh;
    e->eh = eh;
    e->key_off = t->keys_len;
    e->key_len = (uint32_t)key_len;
    memcpy(t->keys + t->keys_len, key, key_len);
    t->keys_len += key_len;
    memcpy(e->digest, digest, LT_MERKLE_DIGEST);
    uint64_t b = lt_merkle_bucket_of(t, kh);
    uint32_t head = t->heads[b];
    e->prev = NIL;
    e->next = head ? head - 1 : NIL;
    if (head)
        t->ents[head - 1].prev = x;
    t->heads[b] = x + 1;
    t->table[pos] = x;
    t->count++;
    path_add(t, b, eh, 1);
}

/* Makes room for one more key of key_len bytes. */
static lt_err room_for_one(lt_merkle *t, size_t key_len) {
    if (t->count >= MAX_ENTRIES)
        return LT_E_TOO_BIG;
    lt_err err = table_ensure(t, t->count + 1);
    if (err == LT_OK && t->free_head == NIL)
        err = ents_ensure(t, (uint64_t)t->n_ents + 1);
    if (err == LT_OK)
        err = keys_ensure(t, key_len);
    return err;
}

/* Sets key to digest, with its key hash and entry hash already computed. */
static lt_err put_hashed(lt_merkle *t, uint64_t kh, lt_hash128_t eh, const uint8_t *key,
                         size_t key_len, const uint8_t *digest) {
    int found = 0;
    size_t pos = 0;
    if (t->table_cap != 0) {
        pos = find(t, kh, key, key_len, &found);
        if (found) {
            entry *e = &t->ents[t->table[pos]];
            if (eq128(e->eh, eh) && memcmp(e->digest, digest, LT_MERKLE_DIGEST) == 0)
                return LT_OK;
            path_add(t, lt_merkle_bucket_of(t, kh), sub128(eh, e->eh), 0);
            e->eh = eh;
            memcpy(e->digest, digest, LT_MERKLE_DIGEST);
            return LT_OK;
        }
    }
    size_t cap_before = t->table_cap;
    lt_err err = room_for_one(t, key_len);
    if (err != LT_OK)
        return err;
    if (t->table_cap != cap_before) /* rehashed: the slot moved */
        pos = find(t, kh, key, key_len, &found);
    insert_new(t, pos, kh, eh, key, key_len, digest);
    return LT_OK;
}

lt_err lt_merkle_put(lt_merkle *t, const uint8_t *key, size_t key_len,
                     const uint8_t digest[LT_MERKLE_DIGEST]) {
    if (key_len == 0 || key_len > LT_MERKLE_MAX_KEY)
        return LT_E_TOO_BIG;
    return put_hashed(t, lt_merkle_key_hash(t, key, key_len), entry_hash(key, key_len, digest), key,
                      key_len, digest);
}

/* Removes key (its key hash kh); 1 if it was there. */
static int delete_hashed(lt_merkle *t, uint64_t kh, const uint8_t *key, size_t key_len) {
    if (t->table_cap == 0)
        return 0;
    int found;
    size_t pos = find(t, kh, key, key_len, &found);
    if (!found)
        return 0;
    uint32_t x = t->table[pos];
    entry *e = &t->ents[x];
    uint64_t b = lt_merkle_bucket_of(t, kh);
    lt_hash128_t zero = {0, 0};
    path_add(t, b, sub128(zero, e->eh), -1);
    if (e->prev != NIL)
        t->ents[e->prev].next = e->next;
    else
        t->heads[b] = e->next == NIL ? 0 : e->next + 1;
    if (e->next != NIL)
        t->ents[e->next].prev = e->prev;
    table_remove(t, pos);
    t->keys_dead += e->key_len;
    e->key_len = 0;
    e->next = t->free_head;
    t->free_head = x;
    t->count--;
    if (t->count == 0) { /* back to empty: every record and every key byte is free */
        t->n_ents = 0;
        t->free_head = NIL;
        t->keys_len = 0;
        t->keys_dead = 0;
    } else if (t->keys_dead > 65536 && t->keys_dead > t->keys_len / 2) {
        keys_compact(t);
    }
    return 1;
}

int lt_merkle_delete(lt_merkle *t, const uint8_t *key, size_t key_len) {
    if (key_len == 0 || key_len > LT_MERKLE_MAX_KEY)
        return 0;
    return delete_hashed(t, lt_merkle_key_hash(t, key, key_len), key, key_len);
}

/* ---- batches ------------------------------------------------------------------------------
 * A lone put misses the cache several times in a row (table slot, then its record, the bucket's
 * old head, the leaf node: each load waits for the one before). A batch instead runs a short
 * software pipeline: the key hash of op i + PF is computed and its table slot, bucket head and
 * leaf node are prefetched; at op i + PF/2 the records those point to are prefetched; op i is
 * applied, its memory by then in cache. Ops are applied in input order, so later ops of a key
 * win. Phases, each in slices: check every op (nothing is applied if one is bad), then apply. */

#define PF 16 /* pipeline depth, in ops */

struct lt_merkle_batch {
    const lt_merkle_op *ops; /* borrowed */
    size_t n, pos;
    unsigned phase; /* 0 check, 1 apply, 2 done */
    uint64_t puts;
};

lt_err lt_merkle_batch_new(const lt_merkle_op *ops, size_t n, lt_merkle_batch **out) {
    *out = NULL;
    if (n > MAX_ENTRIES)
        return LT_E_TOO_BIG;
    lt_merkle_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return LT_E_NOMEM;
    b->ops = ops;
    b->n = n;
    *out = b;
    return LT_OK;
}

void lt_merkle_batch_free(lt_merkle_batch *b) {
    free(b);
}

size_t lt_merkle_batch_size(const lt_merkle_batch *b) {
    return b->n;
}

static inline void prefetch(const void *p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p);
#else
    (void)p;
#endif
}

/* Applies ops[from, to) with the pipeline. */
static lt_err apply_range(lt_merkle *t, const lt_merkle_op *ops, size_t from, size_t to,
                          size_t *stopped) {
    uint64_t kh[2 * PF]; /* op j's key hash at j % (2 * PF): stage 1 runs PF ahead of stage 3 */
    size_t mask = t->table_cap - 1;
    size_t leaf = t->level_off[t->levels];
    for (size_t i = from; i < to + PF; i++) {
        if (i < to) { /* stage 1 */
            uint64_t h = lt_merkle_key_hash(t, ops[i].key, ops[i].key_len);
            kh[i % (2 * PF)] = h;
            uint64_t b = lt_merkle_bucket_of(t, h);
            prefetch(&t->table[slot_of(t, h)]);
            prefetch(&t->heads[b]);
            prefetch(&t->nodes[leaf + (size_t)b]);
        }
        if (i >= from + PF / 2 && i - PF / 2 < to) { /* stage 2 */
            size_t j = i - PF / 2;
            uint64_t h = kh[j % (2 * PF)];
            uint32_t x = t->table[slot_of(t, h) & mask];
            if (x != NIL)
                prefetch(&t->ents[x]);
            uint32_t head = t->heads[lt_merkle_bucket_of(t, h)];
            if (head)
                prefetch(&t->ents[head - 1]);
        }
        if (i >= from + 3 * PF / 4 && i - 3 * PF / 4 < to) { /* stage 2b: an update's key */
            uint32_t x = t->table[slot_of(t, kh[(i - 3 * PF / 4) % (2 * PF)]) & mask];
            if (x != NIL)
                prefetch(t->keys + t->ents[x].key_off);
        }
        if (i >= from + PF) { /* stage 3 */
            size_t j = i - PF;
            const lt_merkle_op *op = &ops[j];
            lt_err err = LT_OK;
            if (op->digest == NULL)
                (void)delete_hashed(t, kh[j % (2 * PF)], op->key, op->key_len);
            else
                err = put_hashed(t, kh[j % (2 * PF)], entry_hash(op->key, op->key_len, op->digest),
                                 op->key, op->key_len, op->digest);
            if (err != LT_OK) {
                *stopped = j;
                return err;
            }
            mask = t->table_cap - 1; /* a delete back to empty keeps the table; a put may grow it */
        }
    }
    *stopped = to;
    return LT_OK;
}

lt_err lt_merkle_batch_step(lt_merkle *t, lt_merkle_batch *b, size_t budget, int *done) {
    size_t left = budget ? budget : 1;
    *done = 0;
    while (left > 0 && b->phase < 2) {
        size_t end = left < b->n - b->pos ? b->pos + left : b->n;
        if (b->phase == 0) {
            for (size_t i = b->pos; i < end; i++) {
                const lt_merkle_op *op = &b->ops[i];
                if (op->key_len == 0 || op->key_len > LT_MERKLE_MAX_KEY)
                    return LT_E_TOO_BIG; /* nothing applied */
                b->puts += op->digest != NULL;
            }
            /* Checking is cheap: an eighth of a unit per op. */
            size_t cost = (end - b->pos) / 8 + 1;
            left -= cost < left ? cost : left;
            b->pos = end;
        } else {
            if (b->pos == 0) {
                lt_err err = lt_merkle_reserve(t, t->count + b->puts);
                if (err != LT_OK)
                    return err; /* nothing applied */
            }
            size_t start = b->pos, stopped;
            lt_err err = apply_range(t, b->ops, start, end, &stopped);
            b->pos = stopped;
            if (err != LT_OK)
                return err;
            left -= end - start;
        }
        if (b->pos == b->n) {
            b->phase++;
            b->pos = 0;
        }
    }
    *done = b->phase == 2;
    return LT_OK;
}

lt_err lt_merkle_apply(lt_merkle *t, const lt_merkle_op *ops, size_t n) {
    lt_merkle_batch *b;
    lt_err err = lt_merkle_batch_new(ops, n, &b);
    int done = 0;
    while (err == LT_OK && !done)
        err = lt_merkle_batch_step(t, b, SIZE_MAX, &done);
    lt_merkle_batch_free(b);
    return err;
}

int lt_merkle_get(const lt_merkle *t, const uint8_t *key, size_t key_len,
                  uint8_t out[LT_MERKLE_DIGEST]) {
    if (key_len == 0 || key_len > LT_MERKLE_MAX_KEY || t->table_cap == 0)
        return 0;
    int found;
    size_t pos = find(t, lt_merkle_key_hash(t, key, key_len), key, key_len, &found);
    if (!found)
        return 0;
    memcpy(out, t->ents[t->table[pos]].digest, LT_MERKLE_DIGEST);
    return 1;
}

size_t lt_merkle_each(const lt_merkle *t, lt_merkle_each_fn fn, void *ctx) {
    size_t calls = 0;
    for (uint32_t x = 0; x < t->n_ents; x++) {
        const entry *e = &t->ents[x];
        if (e->key_len == 0)
            continue;
        calls++;
        if (fn(ctx, key_of(t, e), e->key_len, e->digest))
            break;
    }
    return calls;
}

lt_merkle_node lt_merkle_node_at(const lt_merkle *t, unsigned level, uint64_t index) {
    lt_merkle_node z = {{0, 0}, 0};
    if (level > t->levels || index >> (LT_MERKLE_FANOUT_BITS * level) != 0)
        return z;
    return t->nodes[t->level_off[level] + (size_t)index];
}

lt_err lt_merkle_join(lt_merkle *dst, const lt_merkle *src) {
    if (dst->levels != src->levels || dst->kh_mask != src->kh_mask)
        return LT_E_WRONG_TYPE;
    if (src->count == 0)
        return LT_OK;
    /* Check every key first, so that a shared key leaves dst unchanged. */
    size_t key_bytes = 0;
    for (uint32_t x = 0; x < src->n_ents; x++) {
        const entry *e = &src->ents[x];
        if (e->key_len == 0)
            continue;
        key_bytes += e->key_len;
        int found = 0;
        if (dst->table_cap != 0)
            (void)find(dst, e->kh, key_of(src, e), e->key_len, &found);
        if (found)
            return LT_E_DOT;
    }
    if (dst->count + src->count > MAX_ENTRIES)
        return LT_E_TOO_BIG;
    uint64_t total = dst->count + src->count;
    lt_err err = table_ensure(dst, total);
    if (err == LT_OK)
        err = ents_ensure(dst, (uint64_t)dst->n_ents + src->count);
    if (err == LT_OK)
        err = keys_ensure(dst, key_bytes);
    if (err != LT_OK)
        return err;
    for (uint32_t x = 0; x < src->n_ents; x++) {
        const entry *e = &src->ents[x];
        if (e->key_len == 0)
            continue;
        int found;
        size_t pos = find(dst, e->kh, key_of(src, e), e->key_len, &found);
        insert_new(dst, pos, e->kh, e->eh, key_of(src, e), e->key_len, e->digest);
    }
    return LT_OK;
}

size_t lt_merkle_keys_with_hash(const lt_merkle *t, uint64_t kh, lt_merkle_diff_fn fn, void *ctx) {
    if (t->table_cap == 0)
        return 0;
    size_t m = t->table_cap - 1, calls = 0;
    for (size_t i = slot_of(t, kh);; i = (i + 1) & m) {
        uint32_t x = t->table[i];
        if (x == NIL)
            break;
        const entry *e = &t->ents[x];
        if (e->kh != kh)
            continue;
        calls++;
        if (fn(ctx, key_of(t, e), e->key_len, LT_MERKLE_LOCAL_ONLY))
            break;
    }
    return calls;
}

/* ---- a bucket in order -------------------------------------------------------------------- */

/* One entry of a bucket, for sorting: by (kh, key bytes) for the local diff, by (kh, eh64) for
 * the wire. */
typedef struct {
    uint64_t kh, eh64;
    const entry *e;
    const uint8_t *key;
    uint32_t key_len;
    uint32_t matched;
} sorted_entry;

typedef struct {
    sorted_entry *v; /* owned scratch, reused from bucket to bucket */
    size_t cap;
} scratch;

static int cmp_by_key(const void *pa, const void *pb) {
    const sorted_entry *a = pa, *b = pb;
    return lt_actor_cmp(a->kh, a->key, a->key_len, b->kh, b->key, b->key_len);
}

static int cmp_by_eh(const void *pa, const void *pb) {
    const sorted_entry *a = pa, *b = pb;
    if (a->kh != b->kh)
        return a->kh < b->kh ? -1 : 1;
    if (a->eh64 != b->eh64)
        return a->eh64 < b->eh64 ? -1 : 1;
    return 0;
}

/* The entries of bucket b of t in s->v[0..*n), sorted by cmp (or not when cmp is NULL). */
static lt_err bucket_sorted(const lt_merkle *t, uint64_t b, scratch *s,
                            int (*cmp)(const void *, const void *), size_t *n) {
    uint64_t cnt = t->nodes[t->level_off[t->levels] + (size_t)b].count;
    if (cnt > s->cap) {
        if (cnt > SIZE_MAX / sizeof *s->v)
            return LT_E_NOMEM;
        size_t cap = s->cap ? s->cap : 16;
        while (cap < cnt)
            cap *= 2;
        sorted_entry *nv = realloc(s->v, cap * sizeof *nv);
        if (nv == NULL)
            return LT_E_NOMEM;
        s->v = nv;
        s->cap = cap;
    }
    size_t k = 0;
    for (uint32_t h = t->heads[b]; h != 0;) {
        const entry *e = &t->ents[h - 1];
        sorted_entry *se = &s->v[k++];
        se->kh = e->kh;
        se->eh64 = lt_merkle_fold(e->eh);
        se->e = e;
        se->key = key_of(t, e);
        se->key_len = e->key_len;
        se->matched = 0;
        h = e->next == NIL ? 0 : e->next + 1;
    }
    if (cmp != NULL && k > 1)
        qsort(s->v, k, sizeof *s->v, cmp);
    *n = k;
    return LT_OK;
}

/* ---- diff of two trees -------------------------------------------------------------------- */

typedef struct {
    const lt_merkle *a, *b;
    lt_merkle_diff_fn fn;
    void *ctx;
    scratch sa, sb;
    lt_err err;
} diff_state;

static int node_eq(const lt_merkle_node *x, const lt_merkle_node *y) {
    return x->count == y->count && eq128(x->hash, y->hash);
}

/* Reports the differences within bucket idx; non-zero to stop. */
static int diff_bucket(diff_state *d, uint64_t idx) {
    size_t na, nb;
    lt_err err = bucket_sorted(d->a, idx, &d->sa, cmp_by_key, &na);
    if (err == LT_OK)
        err = bucket_sorted(d->b, idx, &d->sb, cmp_by_key, &nb);
    if (err != LT_OK) {
        d->err = err;
        return 1;
    }
    const sorted_entry *A = d->sa.v, *B = d->sb.v;
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : cmp_by_key(&A[i], &B[j]);
        if (c < 0) {
            if (d->fn(d->ctx, A[i].key, A[i].key_len, LT_MERKLE_LOCAL_ONLY))
                return 1;
            i++;
        } else if (c > 0) {
            if (d->fn(d->ctx, B[j].key, B[j].key_len, LT_MERKLE_REMOTE_ONLY))
                return 1;
            j++;
        } else {
            if (memcmp(A[i].e->digest, B[j].e->digest, LT_MERKLE_DIGEST) != 0 &&
                d->fn(d->ctx, A[i].key, A[i].key_len, LT_MERKLE_DIFFERS))
                return 1;
            i++;
            j++;
        }
    }
    return 0;
}

static int diff_node(diff_state *d, unsigned level, uint64_t idx) {
    size_t at = d->a->level_off[level] + (size_t)idx;
    if (node_eq(&d->a->nodes[at], &d->b->nodes[at]))
        return 0;
    if (level == d->a->levels)
        return diff_bucket(d, idx);
    for (uint64_t c = 0; c < LT_MERKLE_FANOUT; c++)
        if (diff_node(d, level + 1, idx * LT_MERKLE_FANOUT + c))
            return 1;
    return 0;
}

lt_err lt_merkle_diff(const lt_merkle *a, const lt_merkle *b, lt_merkle_diff_fn fn, void *ctx) {
    if (a->levels != b->levels || a->kh_mask != b->kh_mask)
        return LT_E_WRONG_TYPE;
    diff_state d = {a, b, fn, ctx, {NULL, 0}, {NULL, 0}, LT_OK};
    (void)diff_node(&d, 0, 0);
    free(d.sa.v);
    free(d.sb.v);
    return d.err;
}

/* ---- wire: children ----------------------------------------------------------------------- */

static int index_fits(uint64_t idx, unsigned level) {
    return (idx >> (LT_MERKLE_FANOUT_BITS * level)) == 0;
}

lt_err lt_merkle_encode_children(const lt_merkle *t, unsigned level, const uint64_t *parents,
                                 size_t n, lt_buf *out) {
    if (level >= t->levels)
        return LT_E_WRONG_TYPE;
    if (n > LT_MERKLE_MAX_WIRE_NODES)
        return LT_E_TOO_BIG;
    for (size_t i = 0; i < n; i++) {
        if (!index_fits(parents[i], level))
            return LT_E_TOO_BIG;
        if (i > 0 && parents[i] <= parents[i - 1])
            return LT_E_ORDER;
    }
    size_t start = out->len;
    lt_buf_put_u8(out, LT_MERKLE_WIRE_V1);
    lt_buf_put_u8(out, LT_MERKLE_WIRE_CHILDREN);
    lt_buf_put_u8(out, (uint8_t)t->levels);
    lt_buf_put_u8(out, (uint8_t)level);
    lt_buf_put_varint(out, n);
    const lt_merkle_node *kids = t->nodes + t->level_off[level + 1];
    for (size_t i = 0; i < n; i++) {
        lt_buf_put_varint(out, i == 0 ? parents[0] : parents[i] - parents[i - 1]);
        if (lt_buf_reserve(out, 8 * LT_MERKLE_FANOUT) != LT_OK)
            break;
        const lt_merkle_node *c = kids + (size_t)parents[i] * LT_MERKLE_FANOUT;
        for (unsigned k = 0; k < LT_MERKLE_FANOUT; k++) {
            lt_write_be64(out->data + out->len, lt_merkle_fold(c[k].hash));
            out->len += 8;
        }
    }
    if (out->failed) {
        if (out->len > start)
            out->len = start;
        return LT_E_NOMEM;
    }
    return LT_OK;
}

/* The header of an encoding of `kind`: version, kind, levels (and, for children, the level). */
static lt_err wire_header(const lt_merkle *t, const uint8_t *msg, size_t len, uint8_t kind,
                          size_t *off) {
    if (len < 1)
        return LT_E_TRUNCATED;
    if (msg[0] != LT_MERKLE_WIRE_V1)
        return LT_E_VERSION;
    if (len < 3)
        return LT_E_TRUNCATED;
    if (msg[1] != kind)
        return LT_E_BAD_TAG;
    if (msg[2] != t->levels)
        return LT_E_WRONG_TYPE;
    *off = 3;
    return LT_OK;
}

/* One pass over a children message: checks it all (out NULL), or writes the differing
 * children (out non-NULL; the message is already known good). */
static lt_err children_pass(const lt_merkle *t, const uint8_t *msg, size_t len, unsigned *level_out,
                            uint64_t *out, size_t cap, size_t *n_out) {
    size_t off;
    lt_err err = wire_header(t, msg, len, LT_MERKLE_WIRE_CHILDREN, &off);
    if (err != LT_OK)
        return err;
    if (off >= len)
        return LT_E_TRUNCATED;
    unsigned level = msg[off++];
    if (level >= t->levels)
        return LT_E_WRONG_TYPE;
    uint64_t n;
    if ((err = lt_varint_read(msg, len, &off, &n)) != LT_OK)
        return err;
    if (n > LT_MERKLE_MAX_WIRE_NODES)
        return LT_E_TOO_BIG;
    if (n > (len - off) / (1 + 8 * LT_MERKLE_FANOUT))
        return LT_E_TRUNCATED;
    const lt_merkle_node *kids = t->nodes + t->level_off[level + 1];
    uint64_t prev = 0;
    size_t w = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta;
        if ((err = lt_varint_read(msg, len, &off, &delta)) != LT_OK)
            return err;
        if (i > 0 && delta == 0)
            return LT_E_ORDER;
        if (delta > UINT64_MAX - prev)
            return LT_E_TOO_BIG;
        uint64_t p = prev + delta;
        if (!index_fits(p, level))
            return LT_E_TOO_BIG;
        prev = p;
        if (len - off < 8 * LT_MERKLE_FANOUT)
            return LT_E_TRUNCATED;
        if (out != NULL) {
            const lt_merkle_node *c = kids + (size_t)p * LT_MERKLE_FANOUT;
            for (unsigned k = 0; k < LT_MERKLE_FANOUT; k++) {
                if (lt_read_be64(msg + off + 8 * k) == lt_merkle_fold(c[k].hash))
                    continue;
                if (w == cap)
                    return LT_E_TOO_BIG;
                out[w++] = p * LT_MERKLE_FANOUT + k;
            }
        }
        off += 8 * LT_MERKLE_FANOUT;
    }
    if (off != len)
        return LT_E_TRAILING;
    *level_out = level;
    *n_out = w;
    return LT_OK;
}

lt_err lt_merkle_diff_children(const lt_merkle *t, const uint8_t *msg, size_t len,
                               unsigned *level_out, uint64_t *out, size_t cap, size_t *n_out) {
    unsigned level = 0;
    size_t w = 0;
    *n_out = 0;
    lt_err err = children_pass(t, msg, len, &level, NULL, 0, &w);
    if (err == LT_OK)
        err = children_pass(t, msg, len, &level, out, cap, &w);
    if (err != LT_OK)
        return err;
    *level_out = level;
    *n_out = w;
    return LT_OK;
}

/* ---- wire: buckets ------------------------------------------------------------------------ */

lt_err lt_merkle_encode_buckets(const lt_merkle *t, const uint64_t *buckets, size_t n,
                                lt_buf *out) {
    if (n > LT_MERKLE_MAX_WIRE_NODES)
        return LT_E_TOO_BIG;
    const lt_merkle_node *leaves = t->nodes + t->level_off[t->levels];
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!index_fits(buckets[i], t->levels))
            return LT_E_TOO_BIG;
        if (i > 0 && buckets[i] <= buckets[i - 1])
            return LT_E_ORDER;
        total += leaves[buckets[i]].count;
    }
    if (total > LT_MERKLE_MAX_WIRE_ENTRIES)
        return LT_E_TOO_BIG;
    size_t start = out->len;
    lt_buf_put_u8(out, LT_MERKLE_WIRE_V1);
    lt_buf_put_u8(out, LT_MERKLE_WIRE_BUCKETS);
    lt_buf_put_u8(out, (uint8_t)t->levels);
    lt_buf_put_varint(out, n);
    scratch s = {NULL, 0};
    lt_err err = LT_OK;
    for (size_t i = 0; i < n && err == LT_OK && !out->failed; i++) {
        size_t m;
        if ((err = bucket_sorted(t, buckets[i], &s, cmp_by_eh, &m)) != LT_OK)
            break;
        lt_buf_put_varint(out, i == 0 ? buckets[0] : buckets[i] - buckets[i - 1]);
        lt_buf_put_varint(out, m);
        if (lt_buf_reserve(out, 16 * m) != LT_OK)
            break;
        for (size_t k = 0; k < m; k++) {
            lt_write_be64(out->data + out->len, s.v[k].kh);
            lt_write_be64(out->data + out->len + 8, s.v[k].eh64);
            out->len += 16;
        }
    }
    free(s.v);
    if (err == LT_OK && out->failed)
        err = LT_E_NOMEM;
    if (err != LT_OK && out->len > start)
        out->len = start;
    return err;
}

/* Checks a whole bucket message; on success *first is the offset of its first bucket. */
static lt_err buckets_check(const lt_merkle *t, const uint8_t *msg, size_t len, size_t *first,
                            uint64_t *n_out) {
    size_t off;
    lt_err err = wire_header(t, msg, len, LT_MERKLE_WIRE_BUCKETS, &off);
    if (err != LT_OK)
        return err;
    uint64_t n;
    if ((err = lt_varint_read(msg, len, &off, &n)) != LT_OK)
        return err;
    if (n > LT_MERKLE_MAX_WIRE_NODES)
        return LT_E_TOO_BIG;
    if (n > (len - off) / 2)
        return LT_E_TRUNCATED;
    *first = off;
    *n_out = n;
    uint64_t prev = 0, total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta, m;
        if ((err = lt_varint_read(msg, len, &off, &delta)) != LT_OK)
            return err;
        if (i > 0 && delta == 0)
            return LT_E_ORDER;
        if (delta > UINT64_MAX - prev)
            return LT_E_TOO_BIG;
        uint64_t b = prev + delta;
        if (!index_fits(b, t->levels))
            return LT_E_TOO_BIG;
        prev = b;
        if ((err = lt_varint_read(msg, len, &off, &m)) != LT_OK)
            return err;
        if (m > LT_MERKLE_MAX_WIRE_ENTRIES - total)
            return LT_E_TOO_BIG;
        total += m;
        if (m > (len - off) / 16)
            return LT_E_TRUNCATED;
        uint64_t pkh = 0, peh = 0;
        for (uint64_t k = 0; k < m; k++, off += 16) {
            uint64_t kh = lt_read_be64(msg + off), eh = lt_read_be64(msg + off + 8);
            if (lt_merkle_bucket_of(t, kh) != b)
                return LT_E_ORDER; /* an entry filed under another bucket */
            if (k > 0 && (kh < pkh || (kh == pkh && eh < peh)))
                return LT_E_ORDER;
            pkh = kh;
            peh = eh;
        }
    }
    if (off != len)
        return LT_E_TRAILING;
    return LT_OK;
}

/* Compares local entries L[0..nl) with the peer's r[0..nr) (16-byte wire pairs), both sorted by
 * (kh, eh64), one key hash at a time. Non-zero when fn asks to stop. */
static int diff_wire_bucket(sorted_entry *L, size_t nl, const uint8_t *r, size_t nr,
                            lt_merkle_diff_fn fn, void *ctx) {
    size_t i = 0, j = 0;
    while (i < nl || j < nr) {
        uint64_t kh;
        if (i == nl)
            kh = lt_read_be64(r + 16 * j);
        else if (j == nr)
            kh = L[i].kh;
        else {
            uint64_t rk = lt_read_be64(r + 16 * j);
            kh = L[i].kh < rk ? L[i].kh : rk;
        }
        size_t i2 = i, j2 = j;
        while (i2 < nl && L[i2].kh == kh)
            i2++;
        while (j2 < nr && lt_read_be64(r + 16 * j2) == kh)
            j2++;
        size_t gl = i2 - i, gr = j2 - j;
        uint8_t khb[8];
        lt_write_be64(khb, kh);
        if (gl <= 1 && gr <= 1) {
            if (gl == 1 && gr == 1) {
                /* Most likely one key with two digests; but it may be two keys sharing a
                 * key hash, so the peer is asked for its key of the hash as well. */
                if (L[i].eh64 != lt_read_be64(r + 16 * j + 8) &&
                    (fn(ctx, L[i].key, L[i].key_len, LT_MERKLE_DIFFERS) ||
                     fn(ctx, khb, 8, LT_MERKLE_REMOTE_ONLY)))
                    return 1;
            } else if (gl == 1) {
                if (fn(ctx, L[i].key, L[i].key_len, LT_MERKLE_LOCAL_ONLY))
                    return 1;
            } else if (fn(ctx, khb, 8, LT_MERKLE_REMOTE_ONLY)) {
                return 1;
            }
        } else {
            /* Several keys share this key hash: match entries by entry hash (both runs are
             * sorted by it), then report what is left on either side. */
            size_t a = i, c = j, unmatched_r = 0;
            while (a < i2 || c < j2) {
                uint64_t re = c < j2 ? lt_read_be64(r + 16 * c + 8) : 0;
                if (c == j2 || (a < i2 && L[a].eh64 < re)) {
                    a++;
                } else if (a == i2 || re < L[a].eh64) {
                    unmatched_r++;
                    c++;
                } else {
                    L[a].matched = 1;
                    a++;
                    c++;
                }
            }
            for (a = i; a < i2; a++)
                if (!L[a].matched && fn(ctx, L[a].key, L[a].key_len,
                                        unmatched_r ? LT_MERKLE_DIFFERS : LT_MERKLE_LOCAL_ONLY))
                    return 1;
            if (unmatched_r && fn(ctx, khb, 8, LT_MERKLE_REMOTE_ONLY))
                return 1;
        }
        i = i2;
        j = j2;
    }
    return 0;
}

lt_err lt_merkle_diff_buckets(const lt_merkle *t, const uint8_t *msg, size_t len,
                              lt_merkle_diff_fn fn, void *ctx) {
    size_t off;
    uint64_t n;
    lt_err err = buckets_check(t, msg, len, &off, &n);
    if (err != LT_OK)
        return err;
    scratch s = {NULL, 0};
    uint64_t b = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t delta, m;
        (void)lt_varint_read(msg, len, &off, &delta); /* checked above */
        (void)lt_varint_read(msg, len, &off, &m);
        b += delta;
        size_t nl;
        if ((err = bucket_sorted(t, b, &s, cmp_by_eh, &nl)) != LT_OK)
            break;
        if (diff_wire_bucket(s.v, nl, msg + off, (size_t)m, fn, ctx))
            break;
        off += 16 * (size_t)m;
    }
    free(s.v);
    return err;
}
