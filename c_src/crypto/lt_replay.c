/* lt_replay.c — anti-replay windows (RFC 6479 ring) and the table of senders. */
#include "lt_replay.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int lt_replay_bits_ok(uint32_t bits) {
    return bits >= LT_REPLAY_MIN_BITS && bits <= LT_REPLAY_MAX_BITS && (bits & (bits - 1)) == 0;
}

uint32_t lt_replay_span(uint32_t bits) {
    return bits - 64; /* one block of slack: the one being filled may be partly stale */
}

lt_replay_window *lt_replay_window_new(uint32_t bits) {
    if (!lt_replay_bits_ok(bits))
        return NULL;
    uint32_t nblocks = bits / 64;
    /* nblocks <= 1024: the size cannot overflow. */
    lt_replay_window *w = calloc(1, sizeof *w + (size_t)nblocks * sizeof(uint64_t));
    if (w == NULL)
        return NULL;
    w->nblocks = nblocks;
    return w;
}

lt_replay_result lt_replay_window_check(const lt_replay_window *w, uint64_t counter) {
    if (!w->any || counter > w->greatest)
        return LT_REPLAY_OK;
    if (w->greatest - counter >= lt_replay_span(w->nblocks * 64))
        return LT_REPLAY_TOO_OLD;
    uint64_t block = w->blocks[(counter >> 6) & (w->nblocks - 1)];
    return (block >> (counter & 63)) & 1 ? LT_REPLAY_DUPLICATE : LT_REPLAY_OK;
}

lt_replay_result lt_replay_window_update(lt_replay_window *w, uint64_t counter) {
    lt_replay_result r = lt_replay_window_check(w, counter);
    if (r != LT_REPLAY_OK)
        return r;
    uint64_t mask = w->nblocks - 1;
    if (!w->any || counter > w->greatest) {
        /* Clear the blocks the window moves onto: those after the greatest's block, up to and
         * including the counter's (all of them when it jumps a whole ring or more). */
        uint64_t to = counter >> 6;
        if (!w->any) {
            memset(w->blocks, 0, (size_t)w->nblocks * sizeof(uint64_t));
        } else {
            uint64_t from = w->greatest >> 6;
            uint64_t steps = to - from;
            if (steps >= w->nblocks)
                memset(w->blocks, 0, (size_t)w->nblocks * sizeof(uint64_t));
            else
                for (uint64_t k = 1; k <= steps; k++)
                    w->blocks[(from + k) & mask] = 0;
        }
        w->greatest = counter;
        w->any = 1;
    }
    w->blocks[(counter >> 6) & mask] |= UINT64_C(1) << (counter & 63);
    return LT_REPLAY_OK;
}

/* ---- the table --------------------------------------------------------------------------- */

typedef struct {
    uint64_t hash;
    lt_replay_window *w; /* owned */
    uint8_t len;
    uint8_t name[LT_REPLAY_MAX_SENDER];
} entry;

struct lt_replay_table {
    entry **slots; /* owned; cap slots, NULL where empty (linear probing) */
    uint32_t cap;  /* a power of two, at least twice max_senders */
    uint32_t count, max_senders, bits;
    unsigned char key[crypto_shorthash_KEYBYTES];
    uint64_t checks, updates, accepted, duplicates, too_old, full;
};

lt_replay_table *lt_replay_table_new(uint32_t bits, uint32_t max_senders) {
    if (!lt_replay_bits_ok(bits) || max_senders == 0 || max_senders > LT_REPLAY_MAX_SENDERS)
        return NULL;
    lt_replay_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    uint32_t cap = 16;
    while (cap < 2 * max_senders) /* max_senders <= 2^20: no overflow */
        cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }
    t->cap = cap;
    t->max_senders = max_senders;
    t->bits = bits;
    randombytes_buf(t->key, sizeof t->key);
    return t;
}

void lt_replay_table_free(lt_replay_table *t) {
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->slots[i] != NULL) {
            free(t->slots[i]->w);
            free(t->slots[i]);
            t->slots[i] = NULL;
        }
    }
    free(t->slots);
    t->slots = NULL;
    sodium_memzero(t->key, sizeof t->key);
    free(t);
}

static uint64_t name_hash(const lt_replay_table *t, const uint8_t *p, size_t len) {
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, len, t->key);
    uint64_t h;
    memcpy(&h, out, sizeof h); /* any byte order: the hash only picks a slot */
    return h;
}

/* The slot holding sender, or the empty slot where it would go. */
static uint32_t find_slot(const lt_replay_table *t, uint64_t h, const uint8_t *p, size_t len) {
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)h & mask;
    for (;;) {
        const entry *e = t->slots[i];
        if (e == NULL || (e->hash == h && e->len == len && memcmp(e->name, p, len) == 0))
            return i;
        i = (i + 1) & mask; /* the table is at most half full: an empty slot exists */
    }
}

static const entry *lookup(const lt_replay_table *t, const uint8_t *p, size_t len) {
    if (len == 0 || len > LT_REPLAY_MAX_SENDER)
        return NULL;
    uint64_t h = name_hash(t, p, len);
    return t->slots[find_slot(t, h, p, len)];
}

static void count(lt_replay_table *t, lt_replay_result r) {
    if (r == LT_REPLAY_DUPLICATE)
        t->duplicates++;
    else if (r == LT_REPLAY_TOO_OLD)
        t->too_old++;
}

lt_replay_result lt_replay_table_check(lt_replay_table *t, const uint8_t *sender, size_t len,
                                       uint64_t counter) {
    t->checks++;
    const entry *e = lookup(t, sender, len);
    lt_replay_result r = e == NULL ? LT_REPLAY_OK : lt_replay_window_check(e->w, counter);
    count(t, r);
    return r;
}

lt_replay_result lt_replay_table_update(lt_replay_table *t, const uint8_t *sender, size_t len,
                                        uint64_t counter) {
    t->updates++;
    if (len == 0 || len > LT_REPLAY_MAX_SENDER)
        return LT_REPLAY_NOMEM; /* the glue never passes these */
    uint64_t h = name_hash(t, sender, len);
    uint32_t i = find_slot(t, h, sender, len);
    entry *e = t->slots[i];
    if (e == NULL) {
        if (t->count >= t->max_senders) {
            t->full++;
            return LT_REPLAY_FULL;
        }
        e = calloc(1, sizeof *e);
        if (e == NULL)
            return LT_REPLAY_NOMEM;
        e->w = lt_replay_window_new(t->bits);
        if (e->w == NULL) {
            free(e);
            return LT_REPLAY_NOMEM;
        }
        e->hash = h;
        e->len = (uint8_t)len;
        memcpy(e->name, sender, len);
        t->slots[i] = e;
        t->count++;
    }
    lt_replay_result r = lt_replay_window_update(e->w, counter);
    if (r == LT_REPLAY_OK)
        t->accepted++;
    count(t, r);
    return r;
}

int lt_replay_table_greatest(const lt_replay_table *t, const uint8_t *sender, size_t len,
                             uint64_t *greatest) {
    const entry *e = lookup(t, sender, len);
    if (e == NULL || !e->w->any)
        return 0;
    *greatest = e->w->greatest;
    return 1;
}

int lt_replay_table_forget(lt_replay_table *t, const uint8_t *sender, size_t len) {
    if (len == 0 || len > LT_REPLAY_MAX_SENDER)
        return 0;
    uint64_t h = name_hash(t, sender, len);
    uint32_t i = find_slot(t, h, sender, len);
    entry *e = t->slots[i];
    if (e == NULL)
        return 0;
    free(e->w);
    free(e);
    t->slots[i] = NULL;
    t->count--;
    /* Backward-shift deletion: move up every later entry of the run that the hole now cuts
     * off from its home slot, so lookups never stop early at the hole. */
    uint32_t mask = t->cap - 1, hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        entry *f = t->slots[j];
        if (f == NULL)
            break;
        uint32_t home = (uint32_t)f->hash & mask;
        /* f may move to the hole when its home is not in the cyclic range (hole, j]. */
        int home_in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!home_in_range) {
            t->slots[hole] = f;
            t->slots[j] = NULL;
            hole = j;
        }
    }
    return 1;
}

void lt_replay_table_stats(const lt_replay_table *t, lt_replay_stats *out) {
    out->checks = t->checks;
    out->updates = t->updates;
    out->accepted = t->accepted;
    out->duplicates = t->duplicates;
    out->too_old = t->too_old;
    out->full = t->full;
    out->bits = t->bits;
    out->senders = t->count;
    out->max_senders = t->max_senders;
}
