/* lt_dotkernel.c — the dot kernel over binaries: parsing, checks, join, digest, updates. The
 * in-place object is in lt_dotkernel_obj.c. See lt_dotkernel.h. */
#include "lt_dotkernel.h"

#include "lt_canon.h"
#include "lt_hash.h"

#include <stdlib.h>

/* ---- parsing ------------------------------------------------------------------------------ */

void lt_dk_close(lt_dk_view *v) {
    if (v->actors != v->inline_actors)
        free(v->actors);
    if (v->cloud_mem != v->inline_cloud)
        free(v->cloud_mem);
    v->actors = NULL;
    v->cloud_mem = NULL;
    v->na = v->ne = 0;
}

/* Reads one context entry at p[*off..len): checks it and, when `cloud` is not NULL, stores its
 * cloud dots there. *first_gap receives where its gaps start. */
static lt_err read_actor(const uint8_t *p, size_t len, size_t *off, lt_dk_actor *a,
                         uint64_t *cloud) {
    uint64_t alen, base, k;
    lt_err e;
    if (len - *off < 8)
        return LT_E_TRUNCATED;
    a->id = lt_read_be64(p + *off);
    *off += 8;
    if ((e = lt_varint_read(p, len, off, &alen)) != LT_OK)
        return e;
    if (alen == 0)
        return LT_E_NONCANONICAL;
    if (alen > len - *off)
        return LT_E_TRUNCATED;
    a->bytes = p + *off;
    a->len = (size_t)alen;
    *off += (size_t)alen;
    if ((e = lt_varint_read(p, len, off, &base)) != LT_OK ||
        (e = lt_varint_read(p, len, off, &k)) != LT_OK)
        return e;
    if (k > len - *off)
        return LT_E_TRUNCATED;
    if (base == 0 && k == 0)
        return LT_E_NONCANONICAL; /* an empty context entry is left out */
    a->base = base;
    a->ncloud = (size_t)k;
    uint64_t dot = base + 1;
    for (size_t i = 0; i < k; i++) {
        uint64_t gap;
        if ((e = lt_varint_read(p, len, off, &gap)) != LT_OK)
            return e;
        if (gap == 0)
            return LT_E_NONCANONICAL;
        if (dot > UINT64_MAX - gap)
            return LT_E_OVERFLOW;
        dot += gap;
        if (cloud != NULL)
            cloud[i] = dot;
    }
    if (base == UINT64_MAX && k > 0)
        return LT_E_OVERFLOW;
    return LT_OK;
}

lt_err lt_dk_open(lt_dk_view *v, const uint8_t *p, size_t len, uint8_t tag) {
    size_t off = 2, ncloud = 0;
    uint64_t na, ne;
    lt_err e;
    v->actors = v->inline_actors;
    v->cloud_mem = v->inline_cloud;
    v->na = v->ne = 0;
    /* The tag and the version first, as soon as their bytes are there: a short binary of
     * another type (a G-Counter's empty state is 3 bytes) is wrong_type, not truncated. */
    if (len >= 1 && p[0] != tag)
        return LT_E_WRONG_TYPE;
    if (len >= 2 && p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    if (len < 4)
        return LT_E_TRUNCATED;
    v->tag = tag;
    v->ctx = p + 2;
    if ((e = lt_varint_read(p, len, &off, &na)) != LT_OK)
        return e;
    /* A context entry takes at least 12 bytes: id, length, one byte of actor, base, k. */
    if (na > (len - off) / 12)
        return LT_E_TRUNCATED;
    if (na > LT_DK_INLINE_ACTORS) {
        v->actors = malloc((size_t)na * sizeof *v->actors);
        if (v->actors == NULL) {
            v->actors = v->inline_actors;
            return LT_E_NOMEM;
        }
    }
    v->na = (size_t)na;
    /* First pass: check every entry and count the cloud. */
    size_t start = off;
    for (size_t i = 0; i < v->na; i++) {
        lt_dk_actor *a = &v->actors[i];
        if ((e = read_actor(p, len, &off, a, NULL)) != LT_OK)
            goto fail;
        if (i > 0 && lt_actor_cmp(v->actors[i - 1].id, v->actors[i - 1].bytes, v->actors[i - 1].len,
                                  a->id, a->bytes, a->len) >= 0) {
            e = LT_E_ORDER;
            goto fail;
        }
        ncloud += a->ncloud;
    }
    /* Second pass, only when some actor has a cloud: store the cloud dots. */
    if (ncloud > 0) {
        if (ncloud > LT_DK_INLINE_CLOUD) {
            v->cloud_mem = malloc(ncloud * sizeof(uint64_t));
            if (v->cloud_mem == NULL) {
                v->cloud_mem = v->inline_cloud;
                e = LT_E_NOMEM;
                goto fail;
            }
        }
        size_t at = 0, o2 = start;
        for (size_t i = 0; i < v->na; i++) {
            lt_dk_actor *a = &v->actors[i];
            (void)read_actor(p, len, &o2, a, v->cloud_mem + at);
            a->cloud = v->cloud_mem + at;
            at += a->ncloud;
        }
    } else {
        for (size_t i = 0; i < v->na; i++)
            v->actors[i].cloud = NULL;
    }
    v->ctx_len = off - 2;
    if ((e = lt_varint_read(p, len, &off, &ne)) != LT_OK)
        goto fail;
    /* An entry takes at least 13 bytes: id, length, a byte of key, nd, a two-byte dot. */
    if (ne > (len - off) / 13) {
        e = LT_E_TRUNCATED;
        goto fail;
    }
    v->ne = (size_t)ne;
    v->ids = p + off;
    v->entries = v->ids + 8 * v->ne;
    v->entries_len = len - off - 8 * v->ne;
    return LT_OK;
fail:
    lt_dk_close(v);
    return e;
}

/* Whether a cloud (ascending) holds c. */
static int cloud_has(const uint64_t *cloud, size_t n, uint64_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cloud[mid] == c)
            return 1;
        if (cloud[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static inline int has_seen_at(const lt_dk_view *v, size_t a, uint64_t c) {
    const lt_dk_actor *ac = &v->actors[a];
    if (LT_LIKELY(c <= ac->base))
        return 1;
    return ac->ncloud != 0 && cloud_has(ac->cloud, ac->ncloud, c);
}

int lt_dk_has_seen(const lt_dk_view *v, size_t a, uint64_t c) {
    return has_seen_at(v, a, c);
}

uint64_t lt_dk_actor_max(const lt_dk_view *v, size_t a) {
    const lt_dk_actor *ac = &v->actors[a];
    return ac->ncloud ? ac->cloud[ac->ncloud - 1] : ac->base;
}

#if defined(__GNUC__) || defined(__clang__)
#define LT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LT_ALWAYS_INLINE inline
#endif

static LT_ALWAYS_INLINE lt_err next_entry(const lt_dk_view *v, size_t i, size_t *offp,
                                          lt_dk_entry *e) {
    const uint8_t *p = v->entries;
    size_t len = v->entries_len, off = *offp; /* a local: stores to *e cannot alias it */
    uint64_t klen, nd;
    lt_err err;
    e->id = lt_read_be64(v->ids + 8 * i);
    if ((err = lt_varint_read(p, len, &off, &klen)) != LT_OK)
        return err;
    if (klen == 0)
        return LT_E_NONCANONICAL;
    if (klen > len - off)
        return LT_E_TRUNCATED;
    const uint8_t *key = p + off;
    off += (size_t)klen;
    if ((err = lt_varint_read(p, len, &off, &nd)) != LT_OK)
        return err;
    if (nd == 0)
        return LT_E_NONCANONICAL; /* a key without dots is absent, so left out */
    if (nd > (len - off) / 2)
        return LT_E_TRUNCATED;
    const uint8_t *dots = p + off;
    int payload = lt_dk_has_payload(v->tag);
    uint64_t pa = 0, pc = 0;
    e->p0 = NULL;
    e->p0_len = 0;
    for (size_t j = 0; j < nd; j++) {
        uint64_t a, c;
        if ((err = lt_varint_read(p, len, &off, &a)) != LT_OK ||
            (err = lt_varint_read(p, len, &off, &c)) != LT_OK)
            return err;
        if (a >= v->na)
            return LT_E_DOT;
        if (c == 0)
            return LT_E_ZERO;
        if (j > 0 && (a < pa || (a == pa && c <= pc)))
            return LT_E_ORDER;
        if (payload) {
            uint64_t plen;
            if ((err = lt_varint_read(p, len, &off, &plen)) != LT_OK)
                return err;
            if (plen < 9)
                return LT_E_NONCANONICAL; /* a timestamp and at least one byte of value */
            if (plen > len - off)
                return LT_E_TRUNCATED;
            if (j == 0) {
                e->p0 = p + off;
                e->p0_len = (size_t)plen;
            }
            off += (size_t)plen;
        }
        if (!has_seen_at(v, (size_t)a, c))
            return LT_E_DOT;
        if (j == 0) {
            e->a0 = (uint32_t)a;
            e->c0 = c;
        }
        pa = a;
        pc = c;
    }
    e->key = key;
    e->key_len = (size_t)klen;
    e->nd = (size_t)nd;
    e->dots = dots;
    e->dots_len = (size_t)(p + off - dots);
    e->start = p + *offp;
    e->span = off - *offp;
    *offp = off;
    return LT_OK;
}

lt_err lt_dk_next(const lt_dk_view *v, size_t i, size_t *off, lt_dk_entry *e) {
    return next_entry(v, i, off, e);
}

static LT_ALWAYS_INLINE void dot_at(const lt_dk_view *v, const lt_dk_entry *e, size_t *offp,
                                    lt_dk_dot *d) {
    uint64_t a = 0, c = 0, plen = 0;
    size_t off = *offp;
    /* Cannot fail: next_entry read these already. */
    (void)lt_varint_read(e->dots, e->dots_len, &off, &a);
    (void)lt_varint_read(e->dots, e->dots_len, &off, &c);
    d->actor = (uint32_t)a;
    d->counter = c;
    d->payload = NULL;
    d->payload_len = 0;
    if (lt_dk_has_payload(v->tag)) {
        (void)lt_varint_read(e->dots, e->dots_len, &off, &plen);
        d->payload = e->dots + off;
        d->payload_len = (size_t)plen;
        off += (size_t)plen;
    }
    *offp = off;
}

void lt_dk_dot_at(const lt_dk_view *v, const lt_dk_entry *e, size_t *off, lt_dk_dot *d) {
    dot_at(v, e, off, d);
}

/* The canonical order of two entries: by id, then key bytes. */
static inline int entry_cmp(const lt_dk_entry *a, const lt_dk_entry *b) {
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    if (a->key_len == b->key_len && lt_bytes_eq(a->key, b->key, a->key_len))
        return 0; /* the same key: the common case of equal ids, without a call to memcmp */
    return lt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* Walks every entry, checking each and their order; calls `visit` (when not NULL) on each. */
typedef lt_err (*visit_fn)(const lt_dk_view *v, const lt_dk_entry *e, void *arg);

static lt_err walk(const lt_dk_view *v, visit_fn visit, void *arg) {
    size_t off = 0;
    lt_dk_entry prev = {0, NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL, 0}, cur;
    for (size_t i = 0; i < v->ne; i++) {
        lt_err e = next_entry(v, i, &off, &cur);
        if (e != LT_OK)
            return e;
        if (i > 0 && entry_cmp(&prev, &cur) >= 0)
            return LT_E_ORDER;
        if (visit != NULL && (e = visit(v, &cur, arg)) != LT_OK)
            return e;
        prev = cur;
    }
    return off == v->entries_len ? LT_OK : LT_E_TRAILING;
}

lt_err lt_dk_check(const lt_dk_view *v) {
    return walk(v, NULL, NULL);
}

/* ---- the full check -------------------------------------------------------------------------- */

typedef struct {
    uint64_t *dots; /* (actor << 0) pairs: actor, counter */
    size_t n;
} dot_list;

static lt_err full_visit(const lt_dk_view *v, const lt_dk_entry *e, void *arg) {
    dot_list *dl = arg;
    lt_err err = lt_canon_validate(e->key, e->key_len);
    if (err != LT_OK)
        return err;
    if (lt_actor_id(e->key, e->key_len) != e->id)
        return LT_E_ID;
    size_t off = 0;
    for (size_t j = 0; j < e->nd; j++) {
        lt_dk_dot d;
        dot_at(v, e, &off, &d);
        if (d.payload != NULL &&
            (err = lt_canon_validate(d.payload + 8, d.payload_len - 8)) != LT_OK)
            return err;
        dl->dots[2 * dl->n] = d.actor;
        dl->dots[2 * dl->n + 1] = d.counter;
        dl->n++;
    }
    return LT_OK;
}

static int pair_cmp(const void *x, const void *y) {
    const uint64_t *a = x, *b = y;
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : (a[1] > b[1]);
}

lt_err lt_dk_check_full(const lt_dk_view *v) {
    lt_err e = lt_dk_check(v);
    if (e != LT_OK)
        return e;
    for (size_t i = 0; i < v->na; i++) {
        const lt_dk_actor *a = &v->actors[i];
        if ((e = lt_canon_validate(a->bytes, a->len)) != LT_OK)
            return e;
        if (lt_actor_id(a->bytes, a->len) != a->id)
            return LT_E_ID;
    }
    /* Every dot is at least 2 bytes of the entry section: that bounds the count. */
    size_t max = v->entries_len / 2;
    dot_list dl = {NULL, 0};
    if (max > SIZE_MAX / (2 * sizeof(uint64_t)))
        return LT_E_NOMEM;
    dl.dots = malloc((max ? max : 1) * 2 * sizeof(uint64_t));
    if (dl.dots == NULL)
        return LT_E_NOMEM;
    e = walk(v, full_visit, &dl);
    if (e == LT_OK && dl.n > 1) {
        qsort(dl.dots, dl.n, 2 * sizeof(uint64_t), pair_cmp);
        for (size_t i = 1; i < dl.n && e == LT_OK; i++)
            if (dl.dots[2 * i] == dl.dots[2 * i - 2] && dl.dots[2 * i + 1] == dl.dots[2 * i - 1])
                e = LT_E_DOT;
    }
    free(dl.dots);
    return e;
}

/* ---- lookup -----------------------------------------------------------------------------------
 */

typedef struct {
    lt_dk_entry target, *out;
    int *found;
} find_arg;

static lt_err find_visit(const lt_dk_view *v, const lt_dk_entry *e, void *arg) {
    find_arg *f = arg;
    (void)v;
    if (e->id == f->target.id && entry_cmp(e, &f->target) == 0) {
        *f->out = *e;
        *f->found = 1;
    }
    return LT_OK;
}

lt_err lt_dk_lookup(const lt_dk_view *v, uint64_t id, const uint8_t *key, size_t key_len,
                    lt_dk_entry *e, int *found) {
    find_arg f = {{id, key, key_len, 0, NULL, 0, 0, 0, NULL, 0, NULL, 0}, e, found};
    *found = 0;
    return walk(v, find_visit, &f);
}

/* ---- join -------------------------------------------------------------------------------------
 */

void lt_dk_put_ctx_entry(lt_buf *out, uint64_t id, const uint8_t *actor, size_t len, uint64_t base,
                         const uint64_t *cloud, size_t ncloud) {
    lt_buf_put_be64(out, id);
    lt_buf_put_varint(out, len);
    lt_buf_put(out, actor, len);
    lt_buf_put_varint(out, base);
    lt_buf_put_varint(out, ncloud);
    uint64_t prev = base + 1;
    for (size_t k = 0; k < ncloud; k++) {
        lt_buf_put_varint(out, cloud[k] - prev);
        prev = cloud[k];
    }
}

/* Appends the union of two actors' contexts (either may be NULL) in compact form, the actor's
 * id and bytes first. `tmp` has room for both clouds. */
static void put_ctx_union(lt_buf *out, const lt_dk_actor *x, const lt_dk_actor *y, uint64_t *tmp) {
    const lt_dk_actor *who = x != NULL ? x : y;
    uint64_t base = 0;
    size_t n = 0, i = 0, j = 0, nx = x ? x->ncloud : 0, ny = y ? y->ncloud : 0;
    if (x != NULL && x->base > base)
        base = x->base;
    if (y != NULL && y->base > base)
        base = y->base;
    while (i < nx || j < ny) {
        uint64_t c;
        if (j == ny || (i < nx && x->cloud[i] < y->cloud[j]))
            c = x->cloud[i++];
        else if (i == nx || y->cloud[j] < x->cloud[i])
            c = y->cloud[j++];
        else {
            c = x->cloud[i++];
            j++;
        }
        if (c <= base)
            continue;
        if (n == 0 && c == base + 1)
            base++; /* extends the base */
        else
            tmp[n++] = c;
    }
    /* The cloud may now start at base + 1 (when the base grew past a gap): absorb it. */
    size_t skip = 0;
    while (skip < n && tmp[skip] == base + 1) {
        base++;
        skip++;
    }
    lt_dk_put_ctx_entry(out, who->id, who->bytes, who->len, base, tmp + skip, n - skip);
}

/* Writes one dot at p (room reserved by the caller): its actor index in the output, its
 * counter, its payload. Returns the bytes written. */
static inline size_t put_dot(uint8_t *p, uint32_t actor, const lt_dk_dot *d) {
    size_t n = lt_varint_write(p, actor);
    n += lt_varint_write(p + n, d->counter);
    if (d->payload != NULL) {
        n += lt_varint_write(p + n, d->payload_len);
        memcpy(p + n, d->payload, d->payload_len);
        n += d->payload_len;
    }
    return n;
}

typedef struct {
    const lt_dk_view *v, *other;
    const uint32_t *to_out;  /* actor index -> output index */
    const int64_t *to_other; /* actor index -> other's index, or -1 */
    int wide;                /* output actor indices may take more bytes than the input's */
} side;

/* Whether the other side has seen dot d of this side. */
static inline int other_has_seen(const side *s, const lt_dk_dot *d) {
    int64_t j = s->to_other[d->actor];
    return j >= 0 && has_seen_at(s->other, (size_t)j, d->counter);
}

/* Writes at p the dots of e (from side s) the other side has not seen; returns how many, and
 * the bytes written in *w. */
static inline size_t survivors_one(const side *s, const lt_dk_entry *e, uint8_t *p, size_t *w) {
    size_t off = 0, n = 0, at = 0;
    for (size_t k = 0; k < e->nd; k++) {
        lt_dk_dot d;
        dot_at(s->v, e, &off, &d);
        if (!other_has_seen(s, &d)) {
            at += put_dot(p + at, s->to_out[d.actor], &d);
            n++;
        }
    }
    *w = at;
    return n;
}

/* The join of one key's dots from both sides, written at p. */
static size_t survivors_both(const side *sa, const lt_dk_entry *ea, const side *sb,
                             const lt_dk_entry *eb, uint8_t *p, size_t *w) {
    size_t offa = 0, offb = 0, ka = 0, kb = 0, n = 0, at = 0;
    lt_dk_dot da, db;
    dot_at(sa->v, ea, &offa, &da);
    dot_at(sb->v, eb, &offb, &db);
    while (ka < ea->nd || kb < eb->nd) {
        int order;
        if (ka == ea->nd)
            order = 1;
        else if (kb == eb->nd)
            order = -1;
        else {
            uint32_t oa = sa->to_out[da.actor], ob = sb->to_out[db.actor];
            order = oa != ob ? (oa < ob ? -1 : 1)
                             : (da.counter != db.counter ? (da.counter < db.counter ? -1 : 1) : 0);
        }
        if (order == 0) {
            /* The same write on both sides. Its payload is the same unless a peer forged
             * one: keep the smaller, so the join stays commutative. */
            const lt_dk_dot *keep = &da;
            if (da.payload != NULL &&
                lt_bytes_cmp(db.payload, db.payload_len, da.payload, da.payload_len) < 0)
                keep = &db;
            at += put_dot(p + at, sa->to_out[da.actor], keep);
            n++;
        } else if (order < 0) {
            if (!other_has_seen(sa, &da)) {
                at += put_dot(p + at, sa->to_out[da.actor], &da);
                n++;
            }
        } else if (!other_has_seen(sb, &db)) {
            at += put_dot(p + at, sb->to_out[db.actor], &db);
            n++;
        }
        if (order <= 0 && ++ka < ea->nd)
            dot_at(sa->v, ea, &offa, &da);
        if (order >= 0 && ++kb < eb->nd)
            dot_at(sb->v, eb, &offb, &db);
    }
    *w = at;
    return n;
}

/* Writes at p the first dot of e (its actor index in the output `o`, its counter, its
 * payload); returns the bytes written. */
static inline size_t put_first_dot(uint8_t *p, uint32_t o, const lt_dk_entry *e) {
    size_t at = lt_varint_write(p, o);
    at += lt_varint_write(p + at, e->c0);
    if (e->p0 != NULL) {
        at += lt_varint_write(p + at, e->p0_len);
        memcpy(p + at, e->p0, e->p0_len);
        at += e->p0_len;
    }
    return at;
}

/* Appends the join of one key (from a, b or both: ea or eb NULL when a side lacks it) to
 * body; returns whether the key survived. */
static int put_joined(lt_buf *body, const side *sa, const lt_dk_entry *ea, const side *sb,
                      const lt_dk_entry *eb) {
    const lt_dk_entry *e = ea != NULL ? ea : eb;
    size_t nd_max = (ea ? ea->nd : 0) + (eb ? eb->nd : 0);
    size_t room = 20 + e->key_len + (ea ? ea->dots_len : 0) + (eb ? eb->dots_len : 0);
    /* Output actor indices may take more bytes than the input's (up to 5 per dot), but only
     * past 128 actors: below, the output fits in lt_dk_merge_bound. */
    if (lt_buf_reserve(body, room + (sa->wide ? 5 * nd_max : 0)) != 0)
        return 0;
    uint8_t *p = body->data + body->len;
    size_t at = lt_varint_write(p, e->key_len);
    memcpy(p + at, e->key, e->key_len);
    at += e->key_len;
    size_t nd_room = lt_varint_len(nd_max), w, n;
    if ((ea == NULL || ea->nd == 1) && (eb == NULL || eb->nd == 1)) {
        /* One dot a side: the common case, without the general walks. */
        const lt_dk_entry *src;
        uint32_t o;
        if (ea != NULL && eb != NULL) {
            uint32_t oa = sa->to_out[ea->a0], ob = sb->to_out[eb->a0];
            if (oa != ob || ea->c0 != eb->c0) {
                /* Two different dots (replicas that added the key independently): each stays
                 * unless the other side has seen it, in (actor, counter) order. */
                int64_t jb = sa->to_other[ea->a0], ja = sb->to_other[eb->a0];
                int keep_a = !(jb >= 0 && has_seen_at(sb->v, (size_t)jb, ea->c0));
                int keep_b = !(ja >= 0 && has_seen_at(sa->v, (size_t)ja, eb->c0));
                if (!keep_a && !keep_b)
                    return 0;
                int a_first = oa < ob || (oa == ob && ea->c0 < eb->c0);
                const lt_dk_entry *first = a_first ? ea : eb, *second = a_first ? eb : ea;
                uint32_t o1 = a_first ? oa : ob, o2 = a_first ? ob : oa;
                int keep1 = a_first ? keep_a : keep_b, keep2 = a_first ? keep_b : keep_a;
                p[at++] = (uint8_t)(keep_a + keep_b);
                if (keep1)
                    at += put_first_dot(p + at, o1, first);
                if (keep2)
                    at += put_first_dot(p + at, o2, second);
                body->len += at;
                return 1;
            }
            /* The same dot. Its payload is the same unless a peer forged one: keep the
             * smaller, so the join stays commutative (as survivors_both). */
            src = ea->p0 != NULL && lt_bytes_cmp(eb->p0, eb->p0_len, ea->p0, ea->p0_len) < 0 ? eb
                                                                                             : ea;
            o = sa->to_out[ea->a0];
        } else if (ea != NULL) {
            int64_t jb = sa->to_other[ea->a0];
            if (jb >= 0 && has_seen_at(sb->v, (size_t)jb, ea->c0))
                return 0;
            src = ea;
            o = sa->to_out[ea->a0];
        } else {
            int64_t ja = sb->to_other[eb->a0];
            if (ja >= 0 && has_seen_at(sa->v, (size_t)ja, eb->c0))
                return 0;
            src = eb;
            o = sb->to_out[eb->a0];
        }
        p[at++] = 1;
        at += put_first_dot(p + at, o, src);
        body->len += at;
        return 1;
    }
    if (ea != NULL && eb != NULL)
        n = survivors_both(sa, ea, sb, eb, p + at + nd_room, &w);
    else if (ea != NULL)
        n = survivors_one(sa, ea, p + at + nd_room, &w);
    else
        n = survivors_one(sb, eb, p + at + nd_room, &w);
    if (n == 0)
        return 0;
    size_t nd_len = lt_varint_len(n);
    if (nd_len < nd_room)
        memmove(p + at + nd_len, p + at + nd_room, w);
    lt_varint_write(p + at, n);
    body->len += at + nd_len + w;
    return 1;
}

struct lt_dk_merger {
    const lt_dk_view *a, *b;
    lt_buf *out;
    size_t mark;          /* out->len before the merge: restored on error */
    size_t head, id_room; /* where the key count and ids go, and the room kept for them */
    uint8_t *scratch;     /* the actor maps and the cloud union; owned */
    uint64_t *ids;        /* the output's key ids; owned */
    side sa, sb;
    /* Where the walk over both inputs stands. */
    size_t i, j, offa, offb, nout;
    int have_b;      /* eb holds B's entry j */
    size_t run_from; /* no shared runs tried before A's entry run_from */
    lt_dk_entry ea, eb, pa, pb;
    /* After the walk the ids are written and the entries move down to follow them, a slice
     * per step: touching tens of megabytes of fresh memory at once would hold the thread for
     * milliseconds. */
    int walked;
    size_t ids_at, ids_written;
    lt_move body;
};

/* Work per unit of a step's budget after the walk: ids written, bytes of entries moved. */
#define LT_DK_IDS_PER_STEP 32
#define LT_DK_MOVE_PER_STEP 128

void lt_dk_merge_free(lt_dk_merger *m) {
    if (m == NULL)
        return;
    free(m->scratch);
    free(m->ids);
    free(m);
}

lt_err lt_dk_merge_start(const lt_dk_view *a, const lt_dk_view *b, lt_buf *out, lt_dk_merger **mp) {
    *mp = NULL;
    if (a->tag != b->tag)
        return LT_E_WRONG_TYPE;
    size_t na = a->na, nb = b->na, nclouds = 0;
    lt_dk_merger *m = calloc(1, sizeof *m);
    if (m == NULL)
        return LT_E_NOMEM;
    m->a = a;
    m->b = b;
    m->out = out;
    m->mark = out->len;
    lt_err e = LT_OK;
    for (size_t i = 0; i < na; i++)
        nclouds += a->actors[i].ncloud;
    for (size_t j = 0; j < nb; j++)
        nclouds += b->actors[j].ncloud;
    /* Scratch: the actor maps, the cloud union, the output ids. */
    size_t maps = (na + nb) * (sizeof(uint32_t) + sizeof(int64_t)) + nclouds * sizeof(uint64_t);
    m->scratch = malloc(maps ? maps : 1);
    m->ids = malloc((a->ne + b->ne ? a->ne + b->ne : 1) * sizeof(uint64_t));
    if (m->scratch == NULL || m->ids == NULL) {
        e = LT_E_NOMEM;
        goto fail;
    }
    int64_t *a2b = (int64_t *)m->scratch, *b2a = a2b + na;
    uint64_t *cloud_tmp = (uint64_t *)(b2a + nb);
    uint32_t *a2o = (uint32_t *)(cloud_tmp + nclouds), *b2o = a2o + na;
    /* The actors' union, in order, with the contexts united. */
    lt_buf_put_u8(out, a->tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        int order = i == na   ? 1
                    : j == nb ? -1
                              : lt_actor_cmp(a->actors[i].id, a->actors[i].bytes, a->actors[i].len,
                                             b->actors[j].id, b->actors[j].bytes, b->actors[j].len);
        if (order <= 0) {
            a2o[i] = (uint32_t)k;
            a2b[i] = order == 0 ? (int64_t)j : -1;
        }
        if (order >= 0) {
            b2o[j] = (uint32_t)k;
            b2a[j] = order == 0 ? (int64_t)i : -1;
        }
        i += order <= 0;
        j += order >= 0;
        k++;
    }
    lt_buf_put_varint(out, k);
    for (i = 0, j = 0; i < na || j < nb;) {
        int both = i < na && j < nb && a2o[i] == b2o[j];
        int take_a = i < na && (j == nb || a2o[i] <= b2o[j]);
        put_ctx_union(out, take_a ? &a->actors[i] : NULL, (both || !take_a) ? &b->actors[j] : NULL,
                      cloud_tmp);
        i += take_a;
        j += both || !take_a;
    }
    int wide = k > 128;
    side sa = {a, b, a2o, a2b, wide}, sb = {b, a, b2o, b2a, wide};
    m->sa = sa;
    m->sb = sb;
    /* The entries go straight into `out`, after room for the key count and ids, which are
     * known at the end: then the entries move down to follow them. */
    m->head = out->len;
    m->id_room = 10 + 8 * (a->ne + b->ne);
    if (lt_buf_reserve(out, m->id_room + a->entries_len + b->entries_len + 64) != 0) {
        e = LT_E_NOMEM;
        goto fail;
    }
    out->len += m->id_room;
    if (a->ne && (e = next_entry(a, 0, &m->offa, &m->ea)) != LT_OK)
        goto fail;
    *mp = m;
    return LT_OK;
fail:
    out->len = m->mark;
    lt_dk_merge_free(m);
    return e;
}

/* Writes the next slice of the ids, then moves the next slice of the entries down (dest < src,
 * so slices in increasing order never overwrite bytes not yet moved). */
static lt_err finish_step(lt_dk_merger *m, size_t budget, int *done) {
    uint8_t *base = m->out->data;
    *done = 0;
    if (m->ids_written < m->nout) {
        size_t n = m->nout - m->ids_written, max = lt_slice_max(budget, LT_DK_IDS_PER_STEP);
        if (n > max)
            n = max;
        uint8_t *h = base + m->ids_at + 8 * m->ids_written;
        for (size_t x = 0; x < n; x++, h += 8)
            lt_write_be64(h, m->ids[m->ids_written + x]);
        m->ids_written += n;
        if (m->ids_written < m->nout || budget != SIZE_MAX)
            return LT_OK;
    }
    (void)lt_move_slice(base, &m->body, lt_slice_max(budget, LT_DK_MOVE_PER_STEP));
    *done = lt_move_is_done(&m->body);
    if (*done)
        m->out->len = m->body.dst + m->body.len;
    return LT_OK;
}

/* Runs of shared entries. After an entry found byte for byte on both sides, the next ones
 * often are too (two replicas of one state share most of it): the same id at the same place
 * in both id columns and the same bytes. dk_shared_run takes such a run in bulk: one pass over
 * A's entries checks each in the common shape only (one-byte key length, one dot, a one-byte
 * actor index that is the same actor at the same index on both sides and in the output, a
 * counter of up to three bytes within both contexts' bases, a one-byte payload length), its
 * order, and the ids of both sides; then one comparison of the run's bytes on both sides, one
 * copy. B's entries in the run are A's byte for byte under the same ids, so A's checks hold for
 * them, and the dot is checked against B's context in the pass. The pass stops, without the
 * entry, at anything else: the walk then reads it as before, so a bad input gives the same
 * error. */

/* Takes the run of entries A's i... and B's j... (the entries after a shared one, at offa and
 * offb; prev the shared one's id), at most `max` of them: their ids go to ids[0...], *span
 * receives their bytes and *last the last one's id and key (its other fields are left alone:
 * the walk compares keys by those alone). Returns how many (0 when none, or
 * when their bytes differ: then *miss is set). Writes nothing but ids, *span, *last. */
static LT_ALWAYS_INLINE size_t dk_shared_run(const lt_dk_view *a, const lt_dk_view *b,
                                             const uint32_t *a2o, const uint32_t *b2o, size_t i,
                                             size_t j, size_t offa, size_t offb, uint64_t prev,
                                             size_t max, uint64_t *ids, size_t *span,
                                             lt_dk_entry *last, int *miss) {
    const int payload = lt_dk_has_payload(a->tag);
    const uint8_t *p = a->entries, *ida = a->ids + 8 * i, *idb = b->ids + 8 * j;
    size_t end = a->entries_len, off = offa, r = 0, last_key = 0, last_klen = 0;
    if (max > a->ne - i)
        max = a->ne - i;
    if (max > b->ne - j)
        max = b->ne - j;
    for (; r < max; r++) {
        uint64_t x, y;
        memcpy(&x, ida + 8 * r, 8);
        memcpy(&y, idb + 8 * r, 8);
        if (x != y || end - off < 5)
            break; /* another id, or fewer bytes than the shortest entry: the walk reads it */
        size_t klen = p[off];
        if (klen - 1 >= 0x7f || klen > end - off - 5)
            break;                 /* 0, more than one byte, or past the end */
        size_t q = off + 1 + klen; /* nd, actor, counter: at least 3 bytes at q */
        size_t ai = p[q + 1];
        if (p[q] != 1 || ai >= 0x80 || ai >= a->na || ai >= b->na || a2o[ai] != ai || b2o[ai] != ai)
            break;
        uint64_t c = p[q + 2];
        size_t e = q + 3;
        if (c >= 0x80) { /* two or three bytes, canonical */
            if (e >= end || p[e] == 0)
                break;
            c = (c & 0x7f) | (uint64_t)(p[e] & 0x7f) << 7;
            if (p[e++] >= 0x80) {
                if (e >= end || p[e] == 0 || p[e] >= 0x80)
                    break;
                c |= (uint64_t)p[e++] << 14;
            }
        } else if (c == 0) {
            break;
        }
        if (payload) {
            if (e >= end)
                break;
            size_t plen = p[e];
            if (plen < 9 || plen >= 0x80 || plen > end - e - 1)
                break;
            e += 1 + plen;
        }
        if (c > a->actors[ai].base || c > b->actors[ai].base)
            break; /* a dot past a base: the walk looks in the clouds */
        uint64_t id = lt_read_be64(ida + 8 * r);
        if (id <= prev)
            break; /* out of order, or a repeated id (the keys order it) */
        ids[r] = id;
        prev = id;
        last_key = off + 1;
        last_klen = klen;
        off = e;
    }
    if (r == 0)
        return 0;
    *span = off - offa;
    if (*span > b->entries_len - offb || !lt_span_eq(p + offa, b->entries + offb, *span)) {
        *miss = 1;
        return 0;
    }
    last->id = prev;
    last->key = p + last_key;
    last->key_len = last_klen;
    return r;
}

/* Keeps what the next entry's order is checked against (entry_cmp reads nothing else):
 * copying whole entries, just written field by field, stalls the loop on store forwarding. */
static LT_ALWAYS_INLINE void keep_key(lt_dk_entry *prev, const lt_dk_entry *e) {
    prev->id = e->id;
    prev->key = e->key;
    prev->key_len = e->key_len;
}

/* Takes the run of shared entries after A's entry *i and before B's entry *j (both just
 * joined: *offa and *offb are past them, pa and pb hold them) into the output, if there is one
 * and `run_from` allows it, within the step's budget; moves the walk past it. */
static LT_ALWAYS_INLINE void take_run(const lt_dk_view *a, const lt_dk_view *b, const uint32_t *a2o,
                                      const uint32_t *b2o, lt_buf *body, uint64_t *ids,
                                      size_t *nout, size_t *i, size_t *j, size_t *offa,
                                      size_t *offb, size_t *steps, size_t budget, size_t *run_from,
                                      lt_dk_entry *pa, lt_dk_entry *pb) {
    size_t span = 0, r;
    int miss = 0;
    lt_dk_entry last; /* id, key, key_len */
    if (*i + 1 < *run_from)
        return;
    r = dk_shared_run(a, b, a2o, b2o, *i + 1, *j, *offa, *offb, pa->id, budget - *steps,
                      ids + *nout, &span, &last, &miss);
    if (r == 0) {
        if (miss) /* the same ids, other bytes: no runs for a while */
            *run_from = *i + 1 + 64;
        return;
    }
    if (lt_buf_reserve(body, span) == 0) {
        lt_span_copy(body->data + body->len, a->entries + *offa, span);
        body->len += span;
    }
    *nout += r;
    *offa += span;
    *offb += span;
    *i += r;
    *j += r;
    *steps += r;
    keep_key(pa, &last);
    keep_key(pb, &last);
}

/* Whether B's bytes at offb (at least ea->span of them) are A's entry ea, byte for byte. */
static LT_ALWAYS_INLINE int same_entry(const lt_dk_entry *ea, const lt_dk_view *a,
                                       const lt_dk_view *b, size_t offb) {
    const uint8_t *x = ea->start, *y = b->entries + offb;
    if (ea->span <= LT_SHORT_SPAN && a->entries + a->entries_len - x >= 16 &&
        b->entries_len - offb >= 16)
        return lt_short_eq(x, y, ea->span);
    return lt_bytes_eq(x, y, ea->span);
}

lt_err lt_dk_merge_step(lt_dk_merger *m, size_t budget, int *done) {
    if (m->walked)
        return finish_step(m, budget, done);
    /* The walk's state in locals (registers) while it runs, saved back when it pauses. */
    const lt_dk_view *a = m->a, *b = m->b;
    const side *sa = &m->sa, *sb = &m->sb;
    const uint32_t *a2o = sa->to_out, *b2o = sb->to_out;
    lt_buf *out = m->out, *body = out;
    uint64_t *ids = m->ids;
    size_t i = m->i, j = m->j, offa = m->offa, offb = m->offb, nout = m->nout, steps = 0;
    size_t run_from = m->run_from;
    int have_b = m->have_b;
    lt_dk_entry ea = m->ea, eb = m->eb, pa = m->pa, pb = m->pb;
    const uint8_t *a_end = a->entries + a->entries_len;
    lt_err e = LT_OK;
    *done = 0;
    while ((i < a->ne || j < b->ne) && steps++ < budget) {
        if (i < a->ne && j < b->ne && !have_b && ea.nd == 1 && ea.a0 < b->na &&
            a2o[ea.a0] == b2o[ea.a0] && lt_read_be64(b->ids + 8 * j) == ea.id &&
            ea.span <= b->entries_len - offb && same_entry(&ea, a, b, offb)) {
            /* B's entry is byte for byte A's, its one dot naming the same actor: the same
             * key with the same dot, which survives. A's parse checked these bytes; what is
             * B's own to check is its order and that the dot is in its context. */
            if ((j > 0 && entry_cmp(&pb, &ea) >= 0) || !has_seen_at(b, ea.a0, ea.c0)) {
                e = j > 0 && entry_cmp(&pb, &ea) >= 0 ? LT_E_ORDER : LT_E_DOT;
                goto fail;
            }
            if (a2o[ea.a0] == ea.a0 || lt_varint_len(a2o[ea.a0]) == lt_varint_len(ea.a0)) {
                if (lt_buf_reserve(body, ea.span) == 0) {
                    uint8_t *w = body->data + body->len;
                    if (ea.span <= LT_SHORT_SPAN && a_end - ea.start >= 16 &&
                        body->cap - body->len >= 16)
                        memcpy(w, ea.start, 16); /* the bytes past the span are overwritten */
                    else
                        memcpy(w, ea.start, ea.span);
                    if (a2o[ea.a0] != ea.a0) /* same width: rewrite the index in place */
                        lt_varint_write(w + (ea.dots - ea.start), a2o[ea.a0]);
                    body->len += ea.span;
                }
            } else {
                (void)put_joined(body, sa, &ea, sb, &ea);
            }
            ids[nout++] = ea.id;
            offb += ea.span;
            keep_key(&pb, &ea);
            j++;
            keep_key(&pa, &ea);
            take_run(a, b, a2o, b2o, body, ids, &nout, &i, &j, &offa, &offb, &steps, budget,
                     &run_from, &pa, &pb);
            if (++i < a->ne) {
                if ((e = next_entry(a, i, &offa, &ea)) != LT_OK)
                    goto fail;
                if (entry_cmp(&pa, &ea) >= 0) {
                    e = LT_E_ORDER;
                    goto fail;
                }
            }
            continue;
        }
        if (j < b->ne && !have_b) {
            if ((e = next_entry(b, j, &offb, &eb)) != LT_OK)
                goto fail;
            if (j > 0 && entry_cmp(&pb, &eb) >= 0) {
                e = LT_E_ORDER;
                goto fail;
            }
            have_b = 1;
        }
        int order = i == a->ne ? 1 : j == b->ne ? -1 : entry_cmp(&ea, &eb);
        if (put_joined(body, sa, order <= 0 ? &ea : NULL, sb, order >= 0 ? &eb : NULL))
            ids[nout++] = order <= 0 ? ea.id : eb.id;
        if (order >= 0) {
            keep_key(&pb, &eb);
            j++;
            have_b = 0;
        }
        if (order <= 0) {
            keep_key(&pa, &ea);
            /* The same key with the same one dot on both sides: a run of shared ones may
             * follow (not after two different dots: replicas that wrote apart). */
            if (order == 0 && ea.nd == 1 && eb.nd == 1 && ea.c0 == eb.c0 &&
                a2o[ea.a0] == b2o[eb.a0])
                take_run(a, b, a2o, b2o, body, ids, &nout, &i, &j, &offa, &offb, &steps, budget,
                         &run_from, &pa, &pb);
            if (++i < a->ne) {
                if ((e = next_entry(a, i, &offa, &ea)) != LT_OK)
                    goto fail;
                if (entry_cmp(&pa, &ea) >= 0) {
                    e = LT_E_ORDER;
                    goto fail;
                }
            }
        }
    }
    if (i < a->ne || j < b->ne) { /* out of budget: pause */
        m->i = i;
        m->j = j;
        m->offa = offa;
        m->offb = offb;
        m->nout = nout;
        m->run_from = run_from;
        m->have_b = have_b;
        m->ea = ea;
        m->eb = eb;
        m->pa = pa;
        m->pb = pb;
        return out->failed ? (out->len = m->mark, LT_E_NOMEM) : LT_OK;
    }
    if (offa != a->entries_len || offb != b->entries_len) {
        e = LT_E_TRAILING;
        goto fail;
    }
    if (out->failed) {
        e = LT_E_NOMEM;
        goto fail;
    }
    m->walked = 1;
    m->nout = nout;
    m->ids_at = m->head + lt_varint_write(out->data + m->head, nout);
    m->ids_written = 0;
    m->body.dst = m->ids_at + 8 * nout;
    m->body.src = m->head + m->id_room;
    m->body.len = out->len - m->body.src;
    m->body.done = 0;
    return budget == SIZE_MAX ? finish_step(m, budget, done) : LT_OK;
fail:
    out->len = m->mark;
    return e;
}

lt_err lt_dk_merge(const lt_dk_view *a, const lt_dk_view *b, lt_buf *out) {
    lt_dk_merger *m;
    int done;
    lt_err e = lt_dk_merge_start(a, b, out, &m);
    if (e != LT_OK)
        return e;
    e = lt_dk_merge_step(m, SIZE_MAX, &done);
    lt_dk_merge_free(m);
    return e;
}

size_t lt_dk_merge_bound(const lt_dk_view *a, const lt_dk_view *b) {
    if (a->na + b->na > 128)
        return 0;
    /* The united context is no longer than the two (union gaps are never wider); the
     * entries, with one-byte actor indices on both sides, no longer than the two; plus the
     * header, the id room lt_dk_merge sets aside, and its slack. */
    return 2 + a->ctx_len + b->ctx_len + 10 + 8 * (a->ne + b->ne) + a->entries_len +
           b->entries_len + 128;
}

/* ---- digest -----------------------------------------------------------------------------------
 */

typedef struct {
    lt_digest_acc acc;
    lt_buf buf;
} digest_arg;

static lt_err digest_visit(const lt_dk_view *v, const lt_dk_entry *e, void *arg) {
    digest_arg *d = arg;
    size_t off = 0;
    d->buf.len = 0;
    lt_buf_put_be64(&d->buf, e->id);
    lt_buf_put(&d->buf, e->key, e->key_len);
    for (size_t j = 0; j < e->nd; j++) {
        lt_dk_dot dot;
        dot_at(v, e, &off, &dot);
        lt_buf_put_be64(&d->buf, v->actors[dot.actor].id);
        lt_buf_put_varint(&d->buf, dot.counter);
        if (dot.payload != NULL) {
            lt_buf_put_varint(&d->buf, dot.payload_len);
            lt_buf_put(&d->buf, dot.payload, dot.payload_len);
        }
    }
    if (d->buf.failed)
        return LT_E_NOMEM;
    lt_digest_add(&d->acc, lt_hash128(d->buf.data, d->buf.len, 0));
    return LT_OK;
}

lt_err lt_dk_digest(const lt_dk_view *v, uint8_t out[16]) {
    digest_arg d;
    lt_digest_init(&d.acc);
    lt_buf_init(&d.buf);
    lt_err e = walk(v, digest_visit, &d);
    lt_buf_free(&d.buf);
    if (e != LT_OK)
        return e;
    return lt_digest_final(&d.acc, v->tag, LT_FORMAT_V1, v->ctx, v->ctx_len, out);
}

/* ---- updates ----------------------------------------------------------------------------------
 */

static int cdot_cmp(const void *x, const void *y) {
    const lt_dk_cdot *a = x, *b = y;
    int c = lt_actor_cmp(a->id, a->actor, a->actor_len, b->id, b->actor, b->actor_len);
    if (c != 0)
        return c;
    return a->counter < b->counter ? -1 : (a->counter > b->counter);
}

static int add_cmp(const void *x, const void *y) {
    const lt_dk_add *a = x, *b = y;
    return lt_actor_cmp(a->op->id, a->op->key, a->op->key_len, b->op->id, b->op->key,
                        b->op->key_len);
}

lt_err lt_dk_build_delta(uint8_t tag, lt_dk_cdot *ctx, size_t nctx, lt_dk_add *adds, size_t nadds,
                         lt_buf *out) {
    size_t mark = out->len, na = 0, self = 0;
    /* One actor's distinct cloud counters at a time; a local update's context is small. */
    uint64_t inline_cloud[LT_DK_INLINE_OPS], *cloud = inline_cloud;
    if (nctx > LT_DK_INLINE_OPS && (cloud = malloc(nctx * sizeof *cloud)) == NULL)
        return LT_E_NOMEM;
    if (nctx > 1)
        qsort(ctx, nctx, sizeof *ctx, cdot_cmp);
    if (nadds > 1)
        qsort(adds, nadds, sizeof *adds, add_cmp);
    for (size_t i = 0; i < nctx; i++)
        na += i == 0 || lt_actor_cmp(ctx[i - 1].id, ctx[i - 1].actor, ctx[i - 1].actor_len,
                                     ctx[i].id, ctx[i].actor, ctx[i].actor_len) != 0;
    lt_buf_put_u8(out, tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, na);
    /* Each actor: its sorted, distinct counters as base (the run from 1) and cloud. */
    size_t idx = 0;
    for (size_t i = 0; i < nctx;) {
        size_t end = i + 1;
        while (end < nctx && lt_actor_cmp(ctx[i].id, ctx[i].actor, ctx[i].actor_len, ctx[end].id,
                                          ctx[end].actor, ctx[end].actor_len) == 0)
            end++;
        uint64_t base = 0;
        size_t p = i, ncloud = 0;
        for (; p < end && (ctx[p].counter <= base || ctx[p].counter == base + 1); p++)
            base = ctx[p].counter > base ? ctx[p].counter : base;
        for (size_t q = p; q < end; q++)
            if (q == p || ctx[q].counter != ctx[q - 1].counter)
                cloud[ncloud++] = ctx[q].counter;
        lt_dk_put_ctx_entry(out, ctx[i].id, ctx[i].actor, ctx[i].actor_len, base, cloud, ncloud);
        if (nadds > 0 && adds[0].actor_id == ctx[i].id && adds[0].actor_len == ctx[i].actor_len &&
            memcmp(adds[0].actor, ctx[i].actor, ctx[i].actor_len) == 0)
            self = idx;
        idx++;
        i = end;
    }
    lt_buf_put_varint(out, nadds);
    for (size_t i = 0; i < nadds; i++)
        lt_buf_put_be64(out, adds[i].op->id);
    for (size_t i = 0; i < nadds; i++) {
        const lt_dk_op *op = adds[i].op;
        lt_buf_put_varint(out, op->key_len);
        lt_buf_put(out, op->key, op->key_len);
        lt_buf_put_varint(out, 1);
        lt_buf_put_varint(out, self);
        lt_buf_put_varint(out, adds[i].counter);
        if (lt_dk_has_payload(tag)) {
            lt_buf_put_varint(out, op->payload_len);
            lt_buf_put(out, op->payload, op->payload_len);
        }
    }
    if (cloud != inline_cloud)
        free(cloud);
    if (out->failed) {
        out->len = mark;
        return LT_E_NOMEM;
    }
    return LT_OK;
}

lt_err lt_dk_ops_plan(const lt_dk_op *ops, size_t k, lt_dk_plan *plan) {
    plan->order = plan->inline_order;
    plan->dup = plan->inline_dup;
    memset(plan->inline_dup, 0, sizeof plan->inline_dup);
    if (k > LT_DK_INLINE_OPS) {
        plan->order = malloc(k * sizeof(size_t));
        plan->dup = calloc(k, 1);
    }
    if (plan->order == NULL || plan->dup == NULL) {
        lt_dk_plan_free(plan);
        return LT_E_NOMEM;
    }
    for (size_t i = 0; i < k; i++)
        plan->order[i] = i;
    /* qsort has no context argument and the order needs the ops: a merge sort of indices
     * instead, bottom-up, stable (so a key's first op comes first). */
    if (k > 1) {
        size_t *tmp = malloc(k * sizeof(size_t));
        if (tmp == NULL) {
            lt_dk_plan_free(plan);
            return LT_E_NOMEM;
        }
        for (size_t w = 1; w < k; w *= 2) {
            for (size_t lo = 0; lo < k; lo += 2 * w) {
                size_t mid = lo + w < k ? lo + w : k, hi = lo + 2 * w < k ? lo + 2 * w : k;
                size_t x = lo, y = mid, t = lo;
                while (x < mid || y < hi) {
                    int take_x;
                    if (x == mid)
                        take_x = 0;
                    else if (y == hi)
                        take_x = 1;
                    else {
                        const lt_dk_op *a = &ops[plan->order[x]], *b = &ops[plan->order[y]];
                        take_x =
                            lt_actor_cmp(a->id, a->key, a->key_len, b->id, b->key, b->key_len) <= 0;
                    }
                    tmp[t++] = take_x ? plan->order[x++] : plan->order[y++];
                }
            }
            memcpy(plan->order, tmp, k * sizeof(size_t));
        }
        free(tmp);
    }
    for (size_t i = 1; i < k; i++) {
        const lt_dk_op *a = &ops[plan->order[i - 1]], *b = &ops[plan->order[i]];
        if (lt_actor_cmp(a->id, a->key, a->key_len, b->id, b->key, b->key_len) == 0)
            plan->dup[plan->order[i]] = 1;
    }
    return LT_OK;
}

void lt_dk_plan_free(lt_dk_plan *plan) {
    if (plan->order != plan->inline_order)
        free(plan->order);
    if (plan->dup != plan->inline_dup)
        free(plan->dup);
    plan->order = NULL;
    plan->dup = NULL;
}

typedef struct {
    const lt_dk_op *ops;
    size_t k, pos;
    const size_t *order;
    lt_dk_entry *found; /* per op; nd = 0 when absent */
    size_t all_dots;    /* dots of the whole state */
} update_arg;

static lt_err update_visit(const lt_dk_view *v, const lt_dk_entry *e, void *arg) {
    update_arg *u = arg;
    (void)v;
    u->all_dots += e->nd;
    while (u->pos < u->k) {
        const lt_dk_op *op = &u->ops[u->order[u->pos]];
        int c = lt_actor_cmp(op->id, op->key, op->key_len, e->id, e->key, e->key_len);
        if (c > 0)
            break;
        if (c == 0)
            u->found[u->order[u->pos]] = *e;
        u->pos++;
    }
    return LT_OK;
}

typedef struct {
    lt_dk_cdot *ctx;
    size_t n;
} collect_arg;

static void collect_dots(const lt_dk_view *v, const lt_dk_entry *e, collect_arg *c) {
    size_t off = 0;
    for (size_t j = 0; j < e->nd; j++) {
        lt_dk_dot d;
        dot_at(v, e, &off, &d);
        const lt_dk_actor *a = &v->actors[d.actor];
        lt_dk_cdot cd = {a->id, a->bytes, a->len, d.counter};
        c->ctx[c->n++] = cd;
    }
}

static lt_err collect_visit(const lt_dk_view *v, const lt_dk_entry *e, void *arg) {
    collect_dots(v, e, arg);
    return LT_OK;
}

/* The index of an actor in the view, or -1. */
static ptrdiff_t find_actor(const lt_dk_view *v, uint64_t id, const uint8_t *actor, size_t len) {
    size_t lo = 0, hi = v->na;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const lt_dk_actor *a = &v->actors[mid];
        int c = lt_actor_cmp(a->id, a->bytes, a->len, id, actor, len);
        if (c == 0)
            return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

lt_err lt_dk_update(const lt_dk_view *v, uint64_t actor_id, const uint8_t *actor, size_t actor_len,
                    lt_dk_op *ops, size_t k, int all, lt_buf *delta, lt_buf *state,
                    size_t *absent) {
    lt_dk_plan plan;
    lt_err e = lt_dk_ops_plan(ops, k, &plan);
    if (e != LT_OK)
        return e;
    lt_dk_entry *found = calloc(k ? k : 1, sizeof *found);
    lt_dk_cdot *ctx = NULL;
    lt_dk_add *adds = NULL;
    size_t mark = delta->len;
    update_arg u = {ops, k, 0, plan.order, found, 0};
    if (found == NULL) {
        e = LT_E_NOMEM;
        goto done;
    }
    if ((e = walk(v, update_visit, &u)) != LT_OK)
        goto done;
    size_t nctx = 0, nadds = 0;
    for (size_t i = 0; i < k; i++) {
        if (plan.dup[i])
            continue;
        if (!ops[i].add && found[i].nd == 0) {
            *absent = i;
            e = LT_E_ABSENT;
            goto done;
        }
        nctx += all ? 0 : found[i].nd;
        nadds += ops[i].add != 0;
    }
    if (all)
        nctx = u.all_dots;
    ptrdiff_t self = find_actor(v, actor_id, actor, actor_len);
    uint64_t max = self >= 0 ? lt_dk_actor_max(v, (size_t)self) : 0;
    if (max > UINT64_MAX - nadds) {
        e = LT_E_OVERFLOW;
        goto done;
    }
    ctx = malloc((nctx + nadds ? nctx + nadds : 1) * sizeof *ctx);
    adds = malloc((nadds ? nadds : 1) * sizeof *adds);
    if (ctx == NULL || adds == NULL) {
        e = LT_E_NOMEM;
        goto done;
    }
    collect_arg c = {ctx, 0};
    if (all)
        (void)walk(v, collect_visit, &c); /* checked above */
    size_t na = 0;
    for (size_t i = 0; i < k; i++) {
        if (plan.dup[i])
            continue;
        if (!all && found[i].nd)
            collect_dots(v, &found[i], &c);
        if (ops[i].add) {
            lt_dk_add a = {&ops[i], actor_id, actor, actor_len, max + ++na};
            lt_dk_cdot cd = {actor_id, actor, actor_len, a.counter};
            adds[na - 1] = a;
            c.ctx[c.n++] = cd;
        }
    }
    if ((e = lt_dk_build_delta(v->tag, ctx, c.n, adds, nadds, delta)) == LT_OK) {
        lt_dk_view dv;
        if ((e = lt_dk_open(&dv, delta->data + mark, delta->len - mark, v->tag)) == LT_OK) {
            e = lt_dk_merge(v, &dv, state);
            lt_dk_close(&dv);
        }
        if (e != LT_OK)
            delta->len = mark;
    }
done:
    lt_dk_plan_free(&plan);
    free(found);
    free(ctx);
    free(adds);
    return e;
}
