/* lt_table.c — key index for in-place objects. See lt_table.h. */
#include "lt_table.h"

#include <stdlib.h>

void lt_table_init(lt_table *t) {
    t->index = NULL;
    t->index_cap = 0;
    t->ids = NULL;
    t->key_off = NULL;
    t->key_len = NULL;
    t->n = t->cap = 0;
    lt_buf_init(&t->arena);
}

void lt_table_free(lt_table *t) {
    free(t->index);
    free(t->ids);
    free(t->key_off);
    free(t->key_len);
    lt_buf_free(&t->arena);
    lt_table_init(t);
}

ptrdiff_t lt_table_find(const lt_table *t, uint64_t id, const uint8_t *key, size_t len) {
    if (t->index_cap == 0)
        return -1;
    size_t mask = t->index_cap - 1;
    uint64_t tag = id >> 32 << 32;
    for (size_t i = (size_t)id & mask;; i = (i + 1) & mask) {
        uint64_t s = t->index[i];
        if (s == 0)
            return -1;
        if ((s & ~(uint64_t)UINT32_MAX) != tag)
            continue;
        size_t slot = (size_t)(s & UINT32_MAX) - 1;
        if (t->ids[slot] == id && t->key_len[slot] == len &&
            memcmp(lt_table_key(t, slot), key, len) == 0)
            return (ptrdiff_t)slot;
    }
}

/* Doubles the index (load factor at most 1/2) and re-inserts every slot. */
static lt_err grow_index(lt_table *t) {
    size_t cap = t->index_cap ? 2 * t->index_cap : 16;
    if (cap > SIZE_MAX / sizeof(uint64_t))
        return LT_E_NOMEM;
    uint64_t *index = calloc(cap, sizeof(uint64_t));
    if (index == NULL)
        return LT_E_NOMEM;
    for (size_t slot = 0; slot < t->n; slot++) {
        size_t i = (size_t)t->ids[slot] & (cap - 1);
        while (index[i] != 0)
            i = (i + 1) & (cap - 1);
        index[i] = (t->ids[slot] >> 32 << 32) | (uint64_t)(slot + 1);
    }
    free(t->index);
    t->index = index;
    t->index_cap = cap;
    return LT_OK;
}

static lt_err grow_slots(lt_table *t) {
    size_t cap = t->cap ? 2 * t->cap : 8;
    if (cap > UINT32_MAX - 1)
        cap = UINT32_MAX - 1;
    if (cap <= t->cap || cap > SIZE_MAX / sizeof(uint64_t))
        return LT_E_NOMEM;
    uint64_t *ids = realloc(t->ids, cap * sizeof *ids);
    if (ids != NULL)
        t->ids = ids;
    size_t *off = realloc(t->key_off, cap * sizeof *off);
    if (off != NULL)
        t->key_off = off;
    uint32_t *len = realloc(t->key_len, cap * sizeof *len);
    if (len != NULL)
        t->key_len = len;
    if (ids == NULL || off == NULL || len == NULL)
        return LT_E_NOMEM;
    t->cap = cap;
    return LT_OK;
}

ptrdiff_t lt_table_upsert(lt_table *t, uint64_t id, const uint8_t *key, size_t len, int *added) {
    ptrdiff_t found = lt_table_find(t, id, key, len);
    *added = 0;
    if (found >= 0)
        return found;
    found = lt_table_insert(t, id, key, len);
    *added = found >= 0;
    return found;
}

ptrdiff_t lt_table_insert(lt_table *t, uint64_t id, const uint8_t *key, size_t len) {
    if (len > UINT32_MAX)
        return -1;
    if (t->n == t->cap && grow_slots(t) != 0)
        return -1;
    if (2 * (t->n + 1) > t->index_cap && grow_index(t) != 0)
        return -1;
    size_t off = t->arena.len;
    lt_buf_put(&t->arena, key, len);
    if (t->arena.failed)
        return -1;
    size_t slot = t->n++;
    t->ids[slot] = id;
    t->key_off[slot] = off;
    t->key_len[slot] = (uint32_t)len;
    size_t mask = t->index_cap - 1, i = (size_t)id & mask;
    while (t->index[i] != 0)
        i = (i + 1) & mask;
    t->index[i] = (id >> 32 << 32) | (uint64_t)(slot + 1);
    return (ptrdiff_t)slot;
}

/* qsort has no context argument: sort (id, slot) pairs, then settle equal ids by key bytes
 * (an id collision) with a second, local pass. */
typedef struct {
    uint64_t id;
    size_t slot;
} id_slot;

static int id_slot_cmp(const void *x, const void *y) {
    const id_slot *a = x, *b = y;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->slot < b->slot ? -1 : (a->slot > b->slot);
}

void lt_table_sorted(const lt_table *t, size_t *order) {
    id_slot *pairs = t->n ? malloc(t->n * sizeof *pairs) : NULL;
    if (pairs == NULL) { /* tiny fallback: insertion sort on the slots themselves */
        for (size_t i = 0; i < t->n; i++)
            order[i] = i;
        for (size_t i = 1; i < t->n; i++) {
            size_t s = order[i], j = i;
            while (j > 0 && lt_actor_cmp(t->ids[order[j - 1]], lt_table_key(t, order[j - 1]),
                                         t->key_len[order[j - 1]], t->ids[s], lt_table_key(t, s),
                                         t->key_len[s]) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = s;
        }
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        pairs[i].id = t->ids[i];
        pairs[i].slot = i;
    }
    if (t->n > 1)
        qsort(pairs, t->n, sizeof *pairs, id_slot_cmp);
    for (size_t i = 0; i < t->n; i++)
        order[i] = pairs[i].slot;
    free(pairs);
    /* Runs of equal ids (collisions): order them by key bytes. */
    for (size_t i = 1; i < t->n; i++) {
        size_t s = order[i], j = i;
        while (j > 0 && t->ids[order[j - 1]] == t->ids[s] &&
               lt_bytes_cmp(lt_table_key(t, order[j - 1]), t->key_len[order[j - 1]],
                            lt_table_key(t, s), t->key_len[s]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = s;
    }
}
