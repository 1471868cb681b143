/*
 * lt_table.h — the index of an in-place CRDT object: canonical key bytes (an actor, an
 * element, a map key) to a dense slot number, by open addressing on the key's id (XXH3-64 of
 * its bytes, as in the binary formats).
 *
 * Slots are 0..n-1 and stay put while the table grows, so a type keeps its per-key data in
 * arrays indexed by slot. Keys are copied into the table's arena. Removal is not supported:
 * the types that drop keys (OR-Set, LWW-Map) mark slots empty themselves and rebuild when
 * they snapshot.
 */
#ifndef LT_TABLE_H
#define LT_TABLE_H

#include "lt_common.h"

typedef struct {
    /* index_cap entries: (slot + 1) in the low 32 bits, the key id's high 32 bits above (a
     * tag: most mismatches are settled without touching the slot arrays), or 0 for free;
     * owned */
    uint64_t *index;
    size_t index_cap;  /* a power of two */
    uint64_t *ids;     /* per slot; owned */
    size_t *key_off;   /* per slot, into arena; owned */
    uint32_t *key_len; /* per slot; owned */
    size_t n, cap;     /* slots used, slots allocated */
    lt_buf arena;      /* the key bytes; owned */
} lt_table;

void lt_table_init(lt_table *t);
void lt_table_free(lt_table *t);

/* The slot of the key, or -1. */
ptrdiff_t lt_table_find(const lt_table *t, uint64_t id, const uint8_t *key, size_t len);

/* The slot of the key, adding it if absent (*added says which). -1 when out of memory or
 * past 2^32 - 2 slots. Slot arrays of the caller must then be grown to lt_table_cap(t). */
ptrdiff_t lt_table_upsert(lt_table *t, uint64_t id, const uint8_t *key, size_t len, int *added);

/* Adds a key the caller knows is absent (lt_table_find gave -1, and nothing was added since):
 * the slot, or -1 as lt_table_upsert. */
ptrdiff_t lt_table_insert(lt_table *t, uint64_t id, const uint8_t *key, size_t len);

static inline size_t lt_table_cap(const lt_table *t) {
    return t->cap;
}

static inline const uint8_t *lt_table_key(const lt_table *t, size_t slot) {
    return t->arena.data + t->key_off[slot];
}

/* Growing an index or a per-slot array re-inserts or copies everything it holds in one call,
 * about 0.1 us an entry: a 512k-key OR-Set object's doubling took 64 ms. A caller that must
 * stay under a millisecond (a NIF on a normal scheduler) asks first whether its next change
 * could grow something bigger than these, and makes that change elsewhere when it could. */
#define LT_GROW_CHEAP_ENTRIES 4096
#define LT_GROW_CHEAP_BYTES (1024 * 1024)

/* Whether adding up to `adds` entries to an array with room for `cap` that holds `n` grows
 * it past LT_GROW_CHEAP_ENTRIES (so the growth, which moves all n, is big work). */
static inline int lt_grow_is_big(size_t n, size_t cap, size_t adds) {
    size_t need = adds > SIZE_MAX / 2 - n ? SIZE_MAX / 2 : n + adds;
    return need > cap && need > LT_GROW_CHEAP_ENTRIES;
}

/* Whether adding up to `keys` keys of up to `bytes` key bytes in all may grow a part of t
 * (index, slot arrays, arena) by big work, as lt_grow_is_big judges it. */
int lt_table_grow_is_big(const lt_table *t, size_t keys, size_t bytes);

/* Fills order[0..n) with the slots sorted by (id, key bytes): canonical order for snapshots.
 * The caller supplies order with room for t->n entries. */
void lt_table_sorted(const lt_table *t, size_t *order);

#endif
