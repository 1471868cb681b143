/* lt_dotkernel_obj.c — the dot kernel as an in-place object. See lt_dotkernel.h.
 *
 * Every change goes through one join (an update builds its delta, then joins it), so an object
 * and the binary functions cannot disagree on the rules. A join touches only what the other
 * side names: the keys of its entries, and the dots of its context, found through the dot
 * index (or by a scan of all dots when the context is larger than the object). */
#include "lt_dotkernel.h"

#include "lt_hash.h"

#include <stdlib.h>

/* A slot of the dot index: key is the key slot + 1, or 0 for a free slot. */
struct lt_dk_slot {
    uint64_t counter;
    uint32_t actor;
    uint32_t key;
};

/* ---- the dot index: linear probing with backward-shift deletion --------------------------- */

static inline size_t dot_home(const lt_dk_obj *o, uint32_t a, uint64_t c) {
    uint64_t h = (c ^ ((uint64_t)a << 40) ^ a) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 32)) & (o->index_cap - 1);
}

static ptrdiff_t index_find(const lt_dk_obj *o, uint32_t a, uint64_t c) {
    if (o->index_cap == 0)
        return -1;
    size_t mask = o->index_cap - 1;
    for (size_t i = dot_home(o, a, c);; i = (i + 1) & mask) {
        const struct lt_dk_slot *s = &o->index[i];
        if (s->key == 0)
            return -1;
        if (s->counter == c && s->actor == a)
            return (ptrdiff_t)i;
    }
}

static void index_put(lt_dk_obj *o, uint32_t a, uint64_t c, uint32_t key) {
    size_t mask = o->index_cap - 1, i = dot_home(o, a, c);
    while (o->index[i].key != 0)
        i = (i + 1) & mask;
    o->index[i].counter = c;
    o->index[i].actor = a;
    o->index[i].key = key + 1;
}

/* Room for one more dot (load factor at most 1/2). LT_E_NOMEM when out of memory. */
static lt_err index_reserve(lt_dk_obj *o) {
    if (2 * (o->ndots + 1) <= o->index_cap)
        return LT_OK;
    size_t cap = o->index_cap ? 2 * o->index_cap : 16;
    struct lt_dk_slot *old = o->index;
    size_t old_cap = o->index_cap;
    if (cap > SIZE_MAX / sizeof *old)
        return LT_E_NOMEM;
    struct lt_dk_slot *index = calloc(cap, sizeof *index);
    if (index == NULL)
        return LT_E_NOMEM;
    o->index = index;
    o->index_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key != 0)
            index_put(o, old[i].actor, old[i].counter, old[i].key - 1);
    free(old);
    return LT_OK;
}

static void index_delete(lt_dk_obj *o, size_t i) {
    size_t mask = o->index_cap - 1;
    for (size_t j = (i + 1) & mask; o->index[j].key != 0; j = (j + 1) & mask) {
        size_t home = dot_home(o, o->index[j].actor, o->index[j].counter);
        /* j's entry may move back to i when its home is not in (i, j] cyclically. */
        int between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            o->index[i] = o->index[j];
            i = j;
        }
    }
    o->index[i].key = 0;
}

/* ---- dot lists ----------------------------------------------------------------------------- */

static inline lt_dk_odot *dots_of(lt_dk_dots *d) {
    return d->cap == 0 ? &d->u.one : d->u.many;
}

static lt_err dots_push(lt_dk_dots *d, lt_dk_odot x) {
    if (d->cap == 0 && d->n == 0) {
        d->u.one = x;
        d->n = 1;
        return LT_OK;
    }
    if (d->cap == 0) {
        lt_dk_odot *m = malloc(4 * sizeof *m);
        if (m == NULL)
            return LT_E_NOMEM;
        m[0] = d->u.one;
        d->u.many = m;
        d->cap = 4;
    } else if (d->n == d->cap) {
        if (d->cap > UINT32_MAX / 2)
            return LT_E_NOMEM;
        lt_dk_odot *m = realloc(d->u.many, 2 * (size_t)d->cap * sizeof *m);
        if (m == NULL)
            return LT_E_NOMEM;
        d->u.many = m;
        d->cap *= 2;
    }
    d->u.many[d->n++] = x;
    return LT_OK;
}

/* Removes dot i (order within a list does not matter: it is sorted when written). */
static void dots_remove(lt_dk_dots *d, size_t i) {
    lt_dk_odot *arr = dots_of(d);
    free(arr[i].payload);
    arr[i] = arr[d->n - 1];
    d->n--;
    if (d->cap > 0 && d->n == 0) {
        free(d->u.many);
        d->cap = 0;
    }
}

/* ---- contexts ------------------------------------------------------------------------------- */

static int ctx_has(const lt_dk_ctx *c, uint64_t n) {
    if (n <= c->base)
        return 1;
    size_t lo = 0, hi = c->ncloud;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->cloud[mid] == n)
            return 1;
        if (c->cloud[mid] < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static uint64_t ctx_max(const lt_dk_ctx *c) {
    return c->ncloud ? c->cloud[c->ncloud - 1] : c->base;
}

/* Moves cloud dots that now continue the base into it. */
static void ctx_absorb(lt_dk_ctx *c) {
    size_t drop = 0;
    /* (Not cloud[drop] <= base + 1: at base 2^64 - 1 that wraps to 0.) */
    while (drop < c->ncloud && (c->cloud[drop] <= c->base || c->cloud[drop] == c->base + 1)) {
        if (c->cloud[drop] > c->base)
            c->base++;
        drop++;
    }
    if (drop > 0) {
        memmove(c->cloud, c->cloud + drop, (c->ncloud - drop) * sizeof(uint64_t));
        c->ncloud -= (uint32_t)drop;
    }
}

static lt_err ctx_add(lt_dk_ctx *c, uint64_t n) {
    if (ctx_has(c, n))
        return LT_OK;
    if (n == c->base + 1) {
        c->base++;
        ctx_absorb(c);
        return LT_OK;
    }
    if (c->ncloud == c->cloud_cap) {
        uint32_t cap = c->cloud_cap ? 2 * c->cloud_cap : 4;
        if (c->cloud_cap > UINT32_MAX / 2)
            return LT_E_NOMEM;
        uint64_t *m = realloc(c->cloud, (size_t)cap * sizeof *m);
        if (m == NULL)
            return LT_E_NOMEM;
        c->cloud = m;
        c->cloud_cap = cap;
    }
    size_t at = c->ncloud;
    while (at > 0 && c->cloud[at - 1] > n)
        at--;
    memmove(c->cloud + at + 1, c->cloud + at, (c->ncloud - at) * sizeof(uint64_t));
    c->cloud[at] = n;
    c->ncloud++;
    return LT_OK;
}

static lt_err ctx_union(lt_dk_ctx *c, const lt_dk_actor *a) {
    if (a->base > c->base) {
        c->base = a->base;
        ctx_absorb(c);
    }
    for (size_t i = 0; i < a->ncloud; i++)
        if (ctx_add(c, a->cloud[i]) != 0)
            return LT_E_NOMEM;
    return LT_OK;
}

/* ---- the object ----------------------------------------------------------------------------- */

void lt_dk_obj_init(lt_dk_obj *o, uint8_t tag) {
    memset(o, 0, sizeof *o);
    o->tag = tag;
    lt_table_init(&o->actors);
    lt_table_init(&o->keys);
    lt_digest_init(&o->digest);
    lt_buf_init(&o->scratch);
}

void lt_dk_obj_free(lt_dk_obj *o) {
    for (size_t s = 0; s < o->keys.n; s++) {
        lt_dk_odot *arr = dots_of(&o->dots[s]);
        for (size_t i = 0; i < o->dots[s].n; i++)
            free(arr[i].payload);
        if (o->dots[s].cap > 0)
            free(o->dots[s].u.many);
    }
    for (size_t a = 0; a < o->actors.n; a++)
        free(o->ctx[a].cloud);
    free(o->ctx);
    free(o->dots);
    free(o->mark);
    free(o->index);
    lt_table_free(&o->actors);
    lt_table_free(&o->keys);
    lt_buf_free(&o->scratch);
    lt_dk_obj_init(o, o->tag);
}

/* The slot of an actor, added with an empty context if new; -1 when out of memory. */
static ptrdiff_t actor_slot(lt_dk_obj *o, uint64_t id, const uint8_t *bytes, size_t len) {
    int added;
    if (o->actors.n + 1 > o->ctx_cap) {
        size_t cap = o->ctx_cap ? 2 * o->ctx_cap : 8;
        lt_dk_ctx *m = realloc(o->ctx, cap * sizeof *m);
        if (m == NULL)
            return -1;
        memset(m + o->ctx_cap, 0, (cap - o->ctx_cap) * sizeof *m);
        o->ctx = m;
        o->ctx_cap = cap;
    }
    return lt_table_upsert(&o->actors, id, bytes, len, &added);
}

/* A slot for a key the table does not have (lt_table_find gave -1), without dots; -1 when out
 * of memory. */
static ptrdiff_t key_slot(lt_dk_obj *o, uint64_t id, const uint8_t *key, size_t len) {
    if (o->keys.n + 1 > o->keys_cap) {
        size_t cap = o->keys_cap ? 2 * o->keys_cap : 8;
        lt_dk_dots *d = realloc(o->dots, cap * sizeof *d);
        if (d != NULL)
            o->dots = d;
        uint8_t *m = realloc(o->mark, cap);
        if (m != NULL)
            o->mark = m;
        if (d == NULL || m == NULL)
            return -1;
        memset(o->dots + o->keys_cap, 0, (cap - o->keys_cap) * sizeof *d);
        memset(o->mark + o->keys_cap, 0, cap - o->keys_cap);
        o->keys_cap = cap;
    }
    return lt_table_insert(&o->keys, id, key, len);
}

ptrdiff_t lt_dk_obj_find(const lt_dk_obj *o, uint64_t id, const uint8_t *key, size_t key_len) {
    ptrdiff_t s = lt_table_find(&o->keys, id, key, key_len);
    return s >= 0 && o->dots[s].n > 0 ? s : -1;
}

/* The order of two dots of one key in canonical form: actor (id, bytes), then counter. */
static int odot_cmp(const lt_dk_obj *o, const lt_dk_odot *x, const lt_dk_odot *y) {
    if (x->actor != y->actor) {
        const lt_table *t = &o->actors;
        return lt_actor_cmp(t->ids[x->actor], lt_table_key(t, x->actor), t->key_len[x->actor],
                            t->ids[y->actor], lt_table_key(t, y->actor), t->key_len[y->actor]);
    }
    return x->counter < y->counter ? -1 : (x->counter > y->counter);
}

/* Sorts a key's dots in place into canonical order (lists are short: insertion sort). */
static void sort_dots(const lt_dk_obj *o, lt_dk_dots *d) {
    lt_dk_odot *arr = dots_of(d);
    for (size_t i = 1; i < d->n; i++) {
        lt_dk_odot x = arr[i];
        size_t j = i;
        while (j > 0 && odot_cmp(o, &arr[j - 1], &x) > 0) {
            arr[j] = arr[j - 1];
            j--;
        }
        arr[j] = x;
    }
}

/* The hash of a key's entry, as lt_dk_digest computes it from a binary. */
static lt_err entry_hash(lt_dk_obj *o, size_t s, lt_hash128_t *h) {
    lt_buf *b = &o->scratch;
    const lt_table *t = &o->actors;
    sort_dots(o, &o->dots[s]);
    const lt_dk_odot *arr = dots_of(&o->dots[s]);
    b->len = 0;
    lt_buf_put_be64(b, o->keys.ids[s]);
    lt_buf_put(b, lt_table_key(&o->keys, s), o->keys.key_len[s]);
    for (size_t i = 0; i < o->dots[s].n; i++) {
        lt_buf_put_be64(b, t->ids[arr[i].actor]);
        lt_buf_put_varint(b, arr[i].counter);
        if (arr[i].payload != NULL) {
            lt_buf_put_varint(b, arr[i].payload_len);
            lt_buf_put(b, arr[i].payload, arr[i].payload_len);
        }
    }
    if (b->failed) {
        lt_buf_free(b);
        return LT_E_NOMEM;
    }
    *h = lt_hash128(b->data, b->len, 0);
    return LT_OK;
}

/* A join in progress: the keys it named or changed. A changed key's digest term is taken out
 * at its first change and put back at the end; a named key (one of the view's entries) is
 * settled by its entry, so the context pass leaves it alone. */
enum { NAMED = 1, CHANGED = 2 };

#define INLINE_TOUCHED 16

typedef struct {
    size_t *slots; /* inline_slots, or malloc'd when more */
    size_t n, cap;
    size_t inline_slots[INLINE_TOUCHED];
} touched;

/* Records key s with flag `how`. LT_E_NOMEM when out of memory, or entry_hash's error: the
 * caller stops there (untouch_all still restores the keys recorded so far). */
static lt_err touch(lt_dk_obj *o, touched *t, size_t s, uint8_t how) {
    if ((o->mark[s] & how) == how)
        return LT_OK;
    if (o->mark[s] == 0) {
        if (t->n == t->cap) {
            size_t cap = 2 * t->cap;
            size_t *m = malloc(cap * sizeof *m);
            if (m == NULL)
                return LT_E_NOMEM;
            memcpy(m, t->slots, t->n * sizeof *m);
            if (t->slots != t->inline_slots)
                free(t->slots);
            t->slots = m;
            t->cap = cap;
        }
        t->slots[t->n++] = s;
    }
    if (how == CHANGED && o->dots[s].n > 0) {
        lt_hash128_t h;
        lt_err e = entry_hash(o, s, &h);
        if (e != LT_OK)
            return e;
        lt_digest_sub(&o->digest, h);
        o->live--;
    }
    o->mark[s] |= how;
    return LT_OK;
}

/* Puts the changed keys' digest terms back, and clears the marks. */
static lt_err untouch_all(lt_dk_obj *o, touched *t) {
    lt_err err = LT_OK;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = t->slots[i];
        lt_hash128_t h;
        uint8_t m = o->mark[s];
        o->mark[s] = 0;
        if (!(m & CHANGED) || o->dots[s].n == 0)
            continue;
        lt_err e = entry_hash(o, s, &h);
        if (e != LT_OK) {
            err = e;
            continue;
        }
        lt_digest_add(&o->digest, h);
        o->live++;
    }
    if (t->slots != t->inline_slots)
        free(t->slots);
    return err;
}

/* Removes dot i of key s, and its index entry. */
static void drop_dot(lt_dk_obj *o, size_t s, size_t i) {
    const lt_dk_odot *d = &dots_of(&o->dots[s])[i];
    ptrdiff_t at = index_find(o, d->actor, d->counter);
    if (at >= 0)
        index_delete(o, (size_t)at);
    o->payload_bytes -= d->payload_len;
    dots_remove(&o->dots[s], i);
    o->ndots--;
}

/* Adds a dot (copying its payload) to key s. */
static lt_err add_dot(lt_dk_obj *o, size_t s, uint32_t actor, const lt_dk_dot *d) {
    lt_dk_odot x = {actor, 0, d->counter, NULL};
    if (index_reserve(o) != 0)
        return LT_E_NOMEM;
    if (d->payload != NULL) {
        x.payload = malloc(d->payload_len);
        if (x.payload == NULL)
            return LT_E_NOMEM;
        memcpy(x.payload, d->payload, d->payload_len);
        x.payload_len = (uint32_t)d->payload_len;
    }
    if (dots_push(&o->dots[s], x) != 0) {
        free(x.payload);
        return LT_E_NOMEM;
    }
    index_put(o, actor, d->counter, (uint32_t)s);
    o->ndots++;
    o->payload_bytes += x.payload_len;
    return LT_OK;
}

/* Replaces a dot's payload with a smaller one (a forged duplicate: see lt_dk_merge). */
static lt_err min_payload(lt_dk_obj *o, lt_dk_odot *od, const lt_dk_dot *vd) {
    if (vd->payload == NULL ||
        lt_bytes_cmp(vd->payload, vd->payload_len, od->payload, od->payload_len) >= 0)
        return LT_OK;
    uint8_t *p = malloc(vd->payload_len);
    if (p == NULL)
        return LT_E_NOMEM;
    memcpy(p, vd->payload, vd->payload_len);
    free(od->payload);
    o->payload_bytes = o->payload_bytes - od->payload_len + vd->payload_len;
    od->payload = p;
    od->payload_len = (uint32_t)vd->payload_len;
    return LT_OK;
}

#define INLINE_DOTS 16

/* Step one of a join: one entry of the view. vmap maps view actors to object slots, omap the
 * object's actors to view indices (-1: not in the view). */
static lt_err join_entry(lt_dk_obj *o, const lt_dk_view *v, const lt_dk_entry *e,
                         const uint32_t *vmap, const int64_t *omap, touched *t) {
    lt_dk_dot inline_vd[INLINE_DOTS], *vd = inline_vd;
    uint8_t inline_matched[INLINE_DOTS], *matched = inline_matched;
    lt_err err = LT_OK;
    size_t off = 0, fresh = 0;
    if (e->nd > INLINE_DOTS) {
        vd = malloc(e->nd * sizeof *vd);
        matched = malloc(e->nd);
        if (vd == NULL || matched == NULL) {
            err = LT_E_NOMEM;
            goto done;
        }
    }
    for (size_t j = 0; j < e->nd; j++) {
        lt_dk_dot_at(v, e, &off, &vd[j]);
        vd[j].actor = vmap[vd[j].actor];
        matched[j] = 0;
        fresh += !ctx_has(&o->ctx[vd[j].actor], vd[j].counter);
    }
    ptrdiff_t s = lt_table_find(&o->keys, e->id, e->key, e->key_len);
    if (s < 0) {
        if (fresh == 0)
            goto done; /* every dot was seen here, and is gone */
        if ((s = key_slot(o, e->id, e->key, e->key_len)) < 0) {
            err = LT_E_NOMEM;
            goto done;
        }
    }
    if ((err = touch(o, t, (size_t)s, NAMED)) != LT_OK)
        goto done;
    lt_dk_dots *dl = &o->dots[s];
    for (size_t i = 0; i < dl->n;) {
        lt_dk_odot *od = &dots_of(dl)[i];
        size_t j = 0;
        while (j < e->nd && (vd[j].actor != od->actor || vd[j].counter != od->counter))
            j++;
        if (j < e->nd) { /* both have it */
            matched[j] = 1;
            if (vd[j].payload != NULL &&
                lt_bytes_cmp(vd[j].payload, vd[j].payload_len, od->payload, od->payload_len) < 0) {
                if ((err = touch(o, t, (size_t)s, CHANGED)) != LT_OK ||
                    (err = min_payload(o, &dots_of(dl)[i], &vd[j])) != LT_OK)
                    goto done;
            }
            i++;
        } else if (omap[od->actor] >= 0 &&
                   lt_dk_has_seen(v, (size_t)omap[od->actor], od->counter)) {
            if ((err = touch(o, t, (size_t)s, CHANGED)) != LT_OK)
                goto done;
            drop_dot(o, (size_t)s, i); /* the view saw it and dropped it */
        } else {
            i++;
        }
    }
    for (size_t j = 0; j < e->nd; j++)
        if (!matched[j] && !ctx_has(&o->ctx[vd[j].actor], vd[j].counter) &&
            ((err = touch(o, t, (size_t)s, CHANGED)) != LT_OK ||
             (err = add_dot(o, (size_t)s, vd[j].actor, &vd[j])) != LT_OK))
            goto done;
done:
    if (vd != inline_vd)
        free(vd);
    if (matched != inline_matched)
        free(matched);
    return err;
}

/* Drops dot (a, c) wherever it is, unless its key was settled by an entry of the view. */
static lt_err drop_seen(lt_dk_obj *o, uint32_t a, uint64_t c, touched *t) {
    ptrdiff_t at = index_find(o, a, c);
    if (at < 0)
        return LT_OK;
    size_t s = o->index[at].key - 1;
    lt_err err;
    if (o->mark[s] & NAMED)
        return LT_OK;
    if ((err = touch(o, t, s, CHANGED)) != LT_OK)
        return err;
    lt_dk_dots *dl = &o->dots[s];
    for (size_t i = 0; i < dl->n; i++) {
        const lt_dk_odot *d = &dots_of(dl)[i];
        if (d->actor == a && d->counter == c) {
            index_delete(o, (size_t)at);
            o->payload_bytes -= d->payload_len;
            dots_remove(dl, i);
            o->ndots--;
            return LT_OK;
        }
    }
    return LT_OK;
}

/* Rebuilds the key table without its dotless keys, when they are the most of it. */
static void compact(lt_dk_obj *o) {
    size_t dead = o->keys.n - o->live;
    if (dead <= 1024 || dead <= o->live)
        return;
    lt_table nt;
    size_t cap = o->live ? o->live : 1;
    lt_dk_dots *nd = calloc(cap, sizeof *nd);
    uint8_t *nm = calloc(cap, 1);
    lt_table_init(&nt);
    if (nd == NULL || nm == NULL)
        goto fail;
    for (size_t s = 0; s < o->keys.n; s++) {
        int added;
        if (o->dots[s].n == 0)
            continue;
        ptrdiff_t ns = lt_table_upsert(&nt, o->keys.ids[s], lt_table_key(&o->keys, s),
                                       o->keys.key_len[s], &added);
        if (ns < 0)
            goto fail;
        nd[ns] = o->dots[s];
    }
    /* Committed: the dot lists moved; re-point the index at the new slots. */
    free(o->dots);
    free(o->mark);
    lt_table_free(&o->keys);
    o->keys = nt;
    o->dots = nd;
    o->mark = nm;
    o->keys_cap = cap;
    memset(o->index, 0, o->index_cap * sizeof *o->index);
    for (size_t s = 0; s < o->keys.n; s++) {
        const lt_dk_odot *arr = dots_of(&o->dots[s]);
        for (size_t i = 0; i < o->dots[s].n; i++)
            index_put(o, arr[i].actor, arr[i].counter, (uint32_t)s);
    }
    return;
fail:
    free(nd);
    free(nm);
    lt_table_free(&nt);
}

/* The join of a checked view. */
#define INLINE_ACTORS 32

static lt_err join(lt_dk_obj *o, const lt_dk_view *v) {
    uint32_t inline_vmap[INLINE_ACTORS], *vmap = inline_vmap;
    int64_t inline_omap[INLINE_ACTORS], *omap = inline_omap;
    touched t;
    lt_err err = LT_OK;
    t.slots = t.inline_slots;
    t.n = 0;
    t.cap = INLINE_TOUCHED;
    if (v->na > INLINE_ACTORS && (vmap = malloc(v->na * sizeof *vmap)) == NULL)
        return LT_E_NOMEM;
    for (size_t i = 0; i < v->na; i++) {
        ptrdiff_t a = actor_slot(o, v->actors[i].id, v->actors[i].bytes, v->actors[i].len);
        if (a < 0) {
            if (vmap != inline_vmap)
                free(vmap);
            return LT_E_NOMEM;
        }
        vmap[i] = (uint32_t)a;
    }
    if (o->actors.n > INLINE_ACTORS && (omap = malloc(o->actors.n * sizeof *omap)) == NULL) {
        if (vmap != inline_vmap)
            free(vmap);
        return LT_E_NOMEM;
    }
    for (size_t a = 0; a < o->actors.n; a++)
        omap[a] = -1;
    for (size_t i = 0; i < v->na; i++)
        omap[vmap[i]] = (int64_t)i;
    /* 1. The keys the view has. */
    size_t off = 0;
    for (size_t i = 0; i < v->ne && err == LT_OK; i++) {
        lt_dk_entry e;
        if ((err = lt_dk_next(v, i, &off, &e)) == LT_OK)
            err = join_entry(o, v, &e, vmap, omap, &t);
    }
    /* 2. Dots the view has seen and no longer holds, under keys it does not name: probe its
     * context, or scan our dots, whichever is fewer. */
    uint64_t seen = 0;
    for (size_t i = 0; i < v->na; i++) {
        uint64_t n = v->actors[i].base + v->actors[i].ncloud;
        seen = n < v->actors[i].base || seen > UINT64_MAX - n ? UINT64_MAX : seen + n;
    }
    if (err == LT_OK && seen <= o->ndots) {
        for (size_t i = 0; i < v->na; i++) {
            const lt_dk_actor *a = &v->actors[i];
            for (uint64_t c = 1; c <= a->base && err == LT_OK; c++)
                err = drop_seen(o, vmap[i], c, &t);
            for (size_t j = 0; j < a->ncloud && err == LT_OK; j++)
                err = drop_seen(o, vmap[i], a->cloud[j], &t);
        }
    } else if (err == LT_OK) {
        for (size_t s = 0; s < o->keys.n && err == LT_OK; s++) {
            if (o->mark[s] & NAMED)
                continue;
            lt_dk_dots *dl = &o->dots[s];
            for (size_t i = 0; i < dl->n;) {
                const lt_dk_odot *d = &dots_of(dl)[i];
                if (omap[d->actor] >= 0 && lt_dk_has_seen(v, (size_t)omap[d->actor], d->counter)) {
                    if ((err = touch(o, &t, s, CHANGED)) != LT_OK)
                        break;
                    drop_dot(o, s, i);
                } else {
                    i++;
                }
            }
        }
    }
    /* 3. The contexts. */
    for (size_t i = 0; i < v->na && err == LT_OK; i++)
        err = ctx_union(&o->ctx[vmap[i]], &v->actors[i]);
    lt_err e2 = untouch_all(o, &t);
    if (err == LT_OK)
        err = e2;
    if (vmap != inline_vmap)
        free(vmap);
    if (omap != inline_omap)
        free(omap);
    compact(o);
    return err;
}

lt_err lt_dk_obj_join(lt_dk_obj *o, const lt_dk_view *v) {
    if (v->tag != o->tag)
        return LT_E_WRONG_TYPE;
    lt_err e = lt_dk_check_full(v);
    return e != LT_OK ? e : join(o, v);
}

/* Applies a local update whose delta was just built: supersedes the named keys' dots (every
 * dot, for `all`), then gives each added key its new dot, numbered from max + 1 in op order.
 * This is exactly what joining the delta does (its context is those dots; the C tests and the
 * fuzz target check the two agree), without parsing the delta back. */
static lt_err apply_local(lt_dk_obj *o, uint64_t actor_id, const uint8_t *actor, size_t actor_len,
                          const lt_dk_op *ops, size_t k, const lt_dk_plan *plan,
                          const ptrdiff_t *slots, int all, uint64_t max) {
    /* slots[i]: the op's key's slot in the table (live or not), or -1 when it has none. */
    touched t;
    lt_err err = LT_OK;
    t.slots = t.inline_slots;
    t.n = 0;
    t.cap = INLINE_TOUCHED;
    ptrdiff_t a = actor_slot(o, actor_id, actor, actor_len);
    if (a < 0)
        return LT_E_NOMEM;
    for (size_t s = 0; all && s < o->keys.n && err == LT_OK; s++) {
        if (o->dots[s].n == 0)
            continue;
        err = touch(o, &t, s, CHANGED);
        while (err == LT_OK && o->dots[s].n > 0)
            drop_dot(o, s, o->dots[s].n - 1);
    }
    for (size_t i = 0; !all && i < k && err == LT_OK; i++) {
        if (plan->dup[i] || slots[i] < 0 || o->dots[slots[i]].n == 0)
            continue;
        size_t s = (size_t)slots[i];
        err = touch(o, &t, s, CHANGED);
        while (err == LT_OK && o->dots[s].n > 0)
            drop_dot(o, s, o->dots[s].n - 1);
    }
    uint64_t c = max;
    for (size_t i = 0; i < k && err == LT_OK; i++) {
        if (plan->dup[i] || !ops[i].add)
            continue;
        ptrdiff_t s = slots[i] >= 0 ? slots[i] : key_slot(o, ops[i].id, ops[i].key, ops[i].key_len);
        lt_dk_dot d = {(uint32_t)a, ++c, ops[i].payload, ops[i].payload_len};
        if (s < 0)
            err = LT_E_NOMEM;
        else if ((err = touch(o, &t, (size_t)s, CHANGED)) == LT_OK &&
                 (err = add_dot(o, (size_t)s, (uint32_t)a, &d)) == LT_OK)
            err = ctx_add(&o->ctx[a], c);
    }
    lt_err e2 = untouch_all(o, &t);
    compact(o);
    return err != LT_OK ? err : e2;
}

lt_err lt_dk_obj_update(lt_dk_obj *o, uint64_t actor_id, const uint8_t *actor, size_t actor_len,
                        lt_dk_op *ops, size_t k, int all, lt_buf *delta, size_t *absent) {
    lt_dk_plan plan;
    lt_err e = lt_dk_ops_plan(ops, k, &plan);
    if (e != LT_OK)
        return e;
    lt_dk_cdot inline_ctx[2 * LT_DK_INLINE_OPS], *ctx = inline_ctx;
    lt_dk_add inline_adds[LT_DK_INLINE_OPS], *adds = inline_adds;
    ptrdiff_t inline_slots[LT_DK_INLINE_OPS], *slots = inline_slots;
    size_t nctx = 0, nadds = 0, mark = delta->len;
    if (k > LT_DK_INLINE_OPS && (slots = malloc(k * sizeof *slots)) == NULL) {
        e = LT_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < k; i++) {
        /* The key's slot, live or not (a removed key keeps its slot until compaction). */
        slots[i] =
            plan.dup[i] ? -1 : lt_table_find(&o->keys, ops[i].id, ops[i].key, ops[i].key_len);
        if (plan.dup[i])
            continue;
        int live = slots[i] >= 0 && o->dots[slots[i]].n > 0;
        if (!ops[i].add && !live) {
            *absent = i;
            e = LT_E_ABSENT;
            goto done;
        }
        nctx += !all && live ? o->dots[slots[i]].n : 0;
        nadds += ops[i].add != 0;
    }
    if (all)
        nctx = o->ndots;
    ptrdiff_t self = lt_table_find(&o->actors, actor_id, actor, actor_len);
    uint64_t max = self >= 0 ? ctx_max(&o->ctx[self]) : 0;
    if (max > UINT64_MAX - nadds) {
        e = LT_E_OVERFLOW;
        goto done;
    }
    if (nctx + nadds > 2 * LT_DK_INLINE_OPS)
        ctx = malloc((nctx + nadds) * sizeof *ctx);
    if (nadds > LT_DK_INLINE_OPS)
        adds = malloc(nadds * sizeof *adds);
    if (ctx == NULL || adds == NULL) {
        e = LT_E_NOMEM;
        goto done;
    }
    size_t c = 0, na = 0;
    const lt_table *at = &o->actors;
    for (size_t s = 0; all && s < o->keys.n; s++) {
        const lt_dk_odot *arr = dots_of(&o->dots[s]);
        for (size_t j = 0; j < o->dots[s].n; j++) {
            lt_dk_cdot cd = {at->ids[arr[j].actor], lt_table_key(at, arr[j].actor),
                             at->key_len[arr[j].actor], arr[j].counter};
            ctx[c++] = cd;
        }
    }
    for (size_t i = 0; i < k; i++) {
        if (plan.dup[i])
            continue;
        if (!all && slots[i] >= 0 && o->dots[slots[i]].n > 0) {
            const lt_dk_odot *arr = dots_of(&o->dots[slots[i]]);
            for (size_t j = 0; j < o->dots[slots[i]].n; j++) {
                lt_dk_cdot cd = {at->ids[arr[j].actor], lt_table_key(at, arr[j].actor),
                                 at->key_len[arr[j].actor], arr[j].counter};
                ctx[c++] = cd;
            }
        }
        if (ops[i].add) {
            lt_dk_add a = {&ops[i], actor_id, actor, actor_len, max + ++na};
            lt_dk_cdot cd = {actor_id, actor, actor_len, a.counter};
            adds[na - 1] = a;
            ctx[c++] = cd;
        }
    }
    if ((e = lt_dk_build_delta(o->tag, ctx, c, adds, nadds, delta)) == LT_OK &&
        (e = apply_local(o, actor_id, actor, actor_len, ops, k, &plan, slots, all, max)) != LT_OK)
        delta->len = mark;
done:
    lt_dk_plan_free(&plan);
    if (slots != inline_slots)
        free(slots);
    if (ctx != inline_ctx)
        free(ctx);
    if (adds != inline_adds)
        free(adds);
    return e;
}

/* ---- snapshot and digest -------------------------------------------------------------------- */

/* Writes the context section (varint na, then each actor with a non-empty context, in order),
 * filling aout with each actor slot's index in it (UINT32_MAX when left out). */
static lt_err put_context(const lt_dk_obj *o, lt_buf *out, uint32_t *aout) {
    const lt_table *t = &o->actors;
    size_t *order = malloc((t->n ? t->n : 1) * sizeof *order), na = 0;
    if (order == NULL)
        return LT_E_NOMEM;
    lt_table_sorted(t, order);
    for (size_t i = 0; i < t->n; i++) {
        const lt_dk_ctx *c = &o->ctx[order[i]];
        aout[order[i]] = c->base || c->ncloud ? (uint32_t)na++ : UINT32_MAX;
    }
    lt_buf_put_varint(out, na);
    for (size_t i = 0; i < t->n; i++) {
        size_t a = order[i];
        const lt_dk_ctx *c = &o->ctx[a];
        if (aout[a] == UINT32_MAX)
            continue;
        lt_dk_put_ctx_entry(out, t->ids[a], lt_table_key(t, a), t->key_len[a], c->base, c->cloud,
                            c->ncloud);
    }
    free(order);
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_dk_obj_snapshot(lt_dk_obj *o, lt_buf *out) {
    size_t mark = out->len, n = o->keys.n;
    uint32_t *aout = malloc((o->actors.n ? o->actors.n : 1) * sizeof *aout);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    lt_err e = LT_E_NOMEM;
    if (aout == NULL || order == NULL)
        goto done;
    lt_buf_put_u8(out, o->tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    if ((e = put_context(o, out, aout)) != LT_OK)
        goto done;
    lt_table_sorted(&o->keys, order);
    lt_buf_put_varint(out, o->live);
    for (size_t i = 0; i < n; i++)
        if (o->dots[order[i]].n > 0)
            lt_buf_put_be64(out, o->keys.ids[order[i]]);
    for (size_t i = 0; i < n; i++) {
        size_t s = order[i];
        if (o->dots[s].n == 0)
            continue;
        sort_dots(o, &o->dots[s]);
        const lt_dk_odot *arr = dots_of(&o->dots[s]);
        lt_buf_put_varint(out, o->keys.key_len[s]);
        lt_buf_put(out, lt_table_key(&o->keys, s), o->keys.key_len[s]);
        lt_buf_put_varint(out, o->dots[s].n);
        for (size_t j = 0; j < o->dots[s].n; j++) {
            lt_buf_put_varint(out, aout[arr[j].actor]);
            lt_buf_put_varint(out, arr[j].counter);
            if (arr[j].payload != NULL) {
                lt_buf_put_varint(out, arr[j].payload_len);
                lt_buf_put(out, arr[j].payload, arr[j].payload_len);
            }
        }
    }
    e = out->failed ? LT_E_NOMEM : LT_OK;
done:
    free(aout);
    free(order);
    if (e != LT_OK)
        out->len = mark;
    return e;
}

lt_err lt_dk_obj_digest(lt_dk_obj *o, uint8_t out[16]) {
    uint32_t *aout = malloc((o->actors.n ? o->actors.n : 1) * sizeof *aout);
    lt_buf ctx;
    lt_buf_init(&ctx);
    lt_err e = aout == NULL ? LT_E_NOMEM : put_context(o, &ctx, aout);
    if (e == LT_OK) {
        e = lt_digest_final(&o->digest, o->tag, LT_FORMAT_V1, ctx.data, ctx.len, out);
    }
    free(aout);
    lt_buf_free(&ctx);
    return e;
}
