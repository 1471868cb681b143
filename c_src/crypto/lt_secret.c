/* lt_secret.c — the slab allocator for small secrets (lt_secret.h). */
#define _POSIX_C_SOURCE 200809L
#include "lt_secret.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define LT_SECRET_MIN_SHIFT 5 /* 32 bytes */
#define LT_SECRET_MAX_SHIFT 10
#define LT_SECRET_CLASSES (LT_SECRET_MAX_SHIFT - LT_SECRET_MIN_SHIFT + 1)

/* A slab: `base` (LT_SECRET_SLAB_BYTES of sodium_malloc memory) cut into `nslots` slots of
 * `slot_bytes`. The bookkeeping (this struct and the stack of free slot numbers) is ordinary
 * malloc'd memory: it holds no secret. Owned by its class; linked into the class's list of
 * slabs with a free slot while it has one. */
struct lt_secret_slab {
    uint8_t *base;
    uint32_t slot_bytes, nslots, nfree;
    uint32_t *free_stack; /* nfree slot numbers, the next one to hand out last */
    int locked;
    lt_secret_slab *prev, *next; /* in the class's nonfull list (only while nfree > 0) */
    int in_list;
};

typedef struct {
    pthread_mutex_t mu;
    lt_secret_slab *nonfull; /* slabs with a free slot */
    uint64_t slabs, slabs_locked, slots_total, slots_used, empty, failures, slabs_ever;
} lt_secret_class;

static lt_secret_class classes[LT_SECRET_CLASSES] = {
#define LT_CLASS_INIT                                                                              \
    { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0, 0, 0 }
    LT_CLASS_INIT, LT_CLASS_INIT, LT_CLASS_INIT, LT_CLASS_INIT, LT_CLASS_INIT, LT_CLASS_INIT,
#undef LT_CLASS_INIT
};

int lt_secret_init(void) {
    /* sodium_init is thread-safe and returns 1 when already initialized. */
    return sodium_init() < 0 ? -1 : 0;
}

static int class_of(size_t len) {
    int c = 0;
    size_t size = (size_t)1 << LT_SECRET_MIN_SHIFT;
    while (size < len) {
        size <<= 1;
        c++;
    }
    return c;
}

static void list_push(lt_secret_class *k, lt_secret_slab *s) {
    s->prev = NULL;
    s->next = k->nonfull;
    if (k->nonfull != NULL)
        k->nonfull->prev = s;
    k->nonfull = s;
    s->in_list = 1;
}

static void list_unlink(lt_secret_class *k, lt_secret_slab *s) {
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        k->nonfull = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->in_list = 0;
}

/* A new slab for class k, linked in; NULL when memory is short. Called with k->mu held. */
static lt_secret_slab *slab_new(lt_secret_class *k, uint32_t slot_bytes) {
    lt_secret_slab *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->slot_bytes = slot_bytes;
    s->nslots = (uint32_t)(LT_SECRET_SLAB_BYTES / slot_bytes);
    s->free_stack = malloc(sizeof(uint32_t) * s->nslots);
    s->base = sodium_malloc(LT_SECRET_SLAB_BYTES);
    if (s->free_stack == NULL || s->base == NULL) {
        if (s->base != NULL)
            sodium_free(s->base);
        free(s->free_stack);
        free(s);
        return NULL;
    }
    /* sodium_malloc tries mlock too but keeps quiet when it fails; ask again to know. */
    s->locked = sodium_mlock(s->base, LT_SECRET_SLAB_BYTES) == 0;
    /* sodium_malloc fills with 0xdb: slots are handed out zeroed. */
    sodium_memzero(s->base, LT_SECRET_SLAB_BYTES);
    for (uint32_t i = 0; i < s->nslots; i++)
        s->free_stack[i] = s->nslots - 1 - i; /* slot 0 is handed out first */
    s->nfree = s->nslots;
    k->slabs++;
    k->slabs_ever++;
    k->slabs_locked += (uint64_t)s->locked;
    k->slots_total += s->nslots;
    k->empty++;
    list_push(k, s);
    return s;
}

/* Unlinks and unmaps an empty slab. Called with k->mu held. */
static void slab_free(lt_secret_class *k, lt_secret_slab *s) {
    if (s->in_list)
        list_unlink(k, s);
    k->slabs--;
    k->slabs_locked -= (uint64_t)s->locked;
    k->slots_total -= s->nslots;
    k->empty--;
    sodium_free(s->base); /* munlocks and wipes */
    s->base = NULL;
    free(s->free_stack);
    s->free_stack = NULL;
    free(s);
}

int lt_secret_alloc(lt_secret *out, size_t len) {
    memset(out, 0, sizeof *out);
    if (len == 0 || len > LT_SECRET_MAX)
        return -1;
    int c = class_of(len);
    lt_secret_class *k = &classes[c];
    uint32_t slot_bytes = (uint32_t)1 << (c + LT_SECRET_MIN_SHIFT);
    pthread_mutex_lock(&k->mu);
    lt_secret_slab *s = k->nonfull;
    if (s == NULL && (s = slab_new(k, slot_bytes)) == NULL) {
        k->failures++;
        pthread_mutex_unlock(&k->mu);
        return -1;
    }
    if (s->nfree == s->nslots)
        k->empty--;
    uint32_t slot = s->free_stack[--s->nfree];
    if (s->nfree == 0)
        list_unlink(k, s);
    k->slots_used++;
    pthread_mutex_unlock(&k->mu);
    out->p = s->base + (size_t)slot * slot_bytes;
    out->len = len;
    out->slab = s;
    out->slot = slot;
    return 0;
}

void lt_secret_free(lt_secret *sec) {
    lt_secret_slab *s = sec->slab;
    if (s == NULL)
        return;
    /* Wiped before the slot is free: no other thread can see it until then. */
    sodium_memzero(sec->p, s->slot_bytes);
    lt_secret_class *k = &classes[class_of(s->slot_bytes)];
    pthread_mutex_lock(&k->mu);
    s->free_stack[s->nfree++] = sec->slot;
    k->slots_used--;
    if (!s->in_list)
        list_push(k, s);
    if (s->nfree == s->nslots) {
        k->empty++;
        /* Keep one empty slab per class, so a key made and dropped in a loop does not map
         * and unmap a slab each time. */
        if (k->empty > 1)
            slab_free(k, s);
    }
    pthread_mutex_unlock(&k->mu);
    memset(sec, 0, sizeof *sec);
}

void lt_secret_get_stats(lt_secret_stats *st) {
    memset(st, 0, sizeof *st);
    for (int c = 0; c < LT_SECRET_CLASSES; c++) {
        lt_secret_class *k = &classes[c];
        pthread_mutex_lock(&k->mu);
        st->slabs += k->slabs;
        st->slabs_locked += k->slabs_locked;
        st->slabs_unlocked += k->slabs - k->slabs_locked;
        st->slots_total += k->slots_total;
        st->slots_used += k->slots_used;
        st->bytes_mapped += k->slabs * (uint64_t)LT_SECRET_SLAB_BYTES;
        st->alloc_failures += k->failures;
        st->slabs_ever += k->slabs_ever;
        pthread_mutex_unlock(&k->mu);
    }
}
