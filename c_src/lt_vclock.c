/* lt_vclock.c — vector clock operations over the canonical binary. See lt_vclock.h. */
#include "lt_vclock.h"

#include "lt_canon.h"
#include "lt_hash.h"

#include <stdlib.h>

lt_err lt_vclock_open(lt_vclock_view *v, const uint8_t *p, size_t len) {
    size_t off = 2;
    uint64_t n;
    if (len < 3)
        return LT_E_TRUNCATED;
    if (p[0] != LT_TYPE_VCLOCK)
        return LT_E_WRONG_TYPE;
    if (p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    lt_err e = lt_varint_read(p, len, &off, &n);
    if (e != LT_OK)
        return e;
    /* 16 bytes of columns and at least 2 bytes of actor per entry. */
    if (n > (len - off) / 18)
        return LT_E_TRUNCATED;
    v->n = (size_t)n;
    v->ids = p + off;
    v->counters = v->ids + 8 * v->n;
    v->names = v->counters + 8 * v->n;
    v->names_len = len - off - 16 * v->n;
    return LT_OK;
}

lt_err lt_vclock_next_actor(const lt_vclock_view *v, size_t *name_off, const uint8_t **actor,
                            size_t *actor_len) {
    uint64_t alen;
    lt_err e = lt_varint_read(v->names, v->names_len, name_off, &alen);
    if (e != LT_OK)
        return e;
    if (alen == 0)
        return LT_E_NONCANONICAL;
    if (alen > v->names_len - *name_off)
        return LT_E_TRUNCATED;
    *actor = v->names + *name_off;
    *actor_len = (size_t)alen;
    *name_off += (size_t)alen;
    return LT_OK;
}

lt_err lt_vclock_check_step(const lt_vclock_view *v, lt_vclock_check *st, size_t budget,
                            int *done) {
    size_t end = v->n - st->i > budget ? st->i + budget : v->n;
    uint64_t prev = st->i > 0 ? lt_vclock_id(v, st->i - 1) : 0;
    for (size_t i = st->i; i < end; i++) {
        const uint8_t *actor;
        size_t alen;
        lt_err e = lt_vclock_next_actor(v, &st->name_off, &actor, &alen);
        if (e != LT_OK)
            return e;
        uint64_t id = lt_vclock_id(v, i);
        if (i > 0 && id <= prev) {
            if (id < prev)
                return LT_E_ORDER;
            /* Equal ids (a hash collision): the actor bytes decide, and must differ. */
            if (lt_bytes_cmp(v->names + st->prev_name_off, st->prev_name_len, actor, alen) >= 0)
                return LT_E_ORDER;
        }
        if (lt_vclock_counter(v, i) == 0)
            return LT_E_ZERO;
        prev = id;
        st->prev_name_off = st->name_off - alen;
        st->prev_name_len = alen;
    }
    st->i = end;
    if (end == v->n) {
        if (st->name_off != v->names_len)
            return LT_E_TRAILING;
        *done = 1;
    } else {
        *done = 0;
    }
    return LT_OK;
}

lt_err lt_vclock_check_full(const lt_vclock_view *v) {
    lt_vclock_check st = {0};
    int done = 0;
    lt_err e = lt_vclock_check_step(v, &st, v->n, &done);
    if (e != LT_OK)
        return e;
    size_t off = 0;
    for (size_t i = 0; i < v->n; i++) {
        const uint8_t *actor;
        size_t alen;
        if ((e = lt_vclock_next_actor(v, &off, &actor, &alen)) != LT_OK)
            return e;
        if ((e = lt_canon_validate(actor, alen)) != LT_OK)
            return e;
        if (lt_actor_id(actor, alen) != lt_vclock_id(v, i))
            return LT_E_ID;
    }
    return LT_OK;
}

enum { CMP_CHECK_A, CMP_SAME, CMP_CHECK_B, CMP_WALK, CMP_DONE };

void lt_vclock_cmp_init(lt_vclock_cmp *c) {
    memset(c, 0, sizeof *c);
    c->phase = CMP_CHECK_A;
}

static int same_actors(const lt_vclock_view *a, const lt_vclock_view *b) {
    return a->n == b->n && a->names_len == b->names_len &&
           memcmp(a->ids, b->ids, 8 * a->n) == 0 && memcmp(a->names, b->names, a->names_len) == 0;
}

/* same_actors in steps of at most `bytes` bytes, for large clocks: c->i counts the bytes of
 * the id column and then of the actor section already found equal. Returns 1 when decided. */
static int same_actors_step(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                            size_t bytes) {
    size_t ids_len = 8 * a->n, total = ids_len + a->names_len;
    if (a->n != b->n || a->names_len != b->names_len) {
        c->same_actors = 0;
        return 1;
    }
    while (bytes > 0 && c->i < total) {
        const uint8_t *pa, *pb;
        size_t left;
        if (c->i < ids_len) {
            pa = a->ids + c->i;
            pb = b->ids + c->i;
            left = ids_len - c->i;
        } else {
            pa = a->names + (c->i - ids_len);
            pb = b->names + (c->i - ids_len);
            left = total - c->i;
        }
        size_t n = left < bytes ? left : bytes;
        if (memcmp(pa, pb, n) != 0) {
            c->same_actors = 0;
            return 1;
        }
        c->i += n;
        bytes -= n;
    }
    c->same_actors = c->i == total;
    return c->i == total;
}

/* The general walk: both clocks in (id, actor) order, like the merge step of merge sort. */
static lt_err cmp_walk(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                       size_t budget) {
    while (budget-- > 0 && c->flags != (LT_VC_A_AHEAD | LT_VC_B_AHEAD)) {
        if (c->i == a->n) {
            if (c->j < b->n)
                c->flags |= LT_VC_B_AHEAD;
            c->phase = CMP_DONE;
            return LT_OK;
        }
        if (c->j == b->n) {
            c->flags |= LT_VC_A_AHEAD;
            c->phase = CMP_DONE;
            return LT_OK;
        }
        uint64_t ida = lt_vclock_id(a, c->i), idb = lt_vclock_id(b, c->j);
        const uint8_t *na, *nb;
        size_t la, lb, ni = c->ni, nj = c->nj;
        int order;
        if (ida != idb) {
            order = ida < idb ? -1 : 1;
        } else {
            lt_err e = lt_vclock_next_actor(a, &ni, &na, &la);
            if (e == LT_OK)
                e = lt_vclock_next_actor(b, &nj, &nb, &lb);
            if (e != LT_OK)
                return e;
            order = lt_bytes_cmp(na, la, nb, lb);
        }
        if (order < 0) { /* an actor only a has */
            c->flags |= LT_VC_A_AHEAD;
            if (lt_vclock_next_actor(a, &c->ni, &na, &la) != LT_OK)
                return LT_E_TRUNCATED;
            c->i++;
        } else if (order > 0) {
            c->flags |= LT_VC_B_AHEAD;
            if (lt_vclock_next_actor(b, &c->nj, &nb, &lb) != LT_OK)
                return LT_E_TRUNCATED;
            c->j++;
        } else {
            uint64_t ca = lt_vclock_counter(a, c->i), cb = lt_vclock_counter(b, c->j);
            if (ca > cb)
                c->flags |= LT_VC_A_AHEAD;
            else if (cb > ca)
                c->flags |= LT_VC_B_AHEAD;
            c->ni = ni;
            c->nj = nj;
            c->i++;
            c->j++;
        }
    }
    if (c->flags == (LT_VC_A_AHEAD | LT_VC_B_AHEAD))
        c->phase = CMP_DONE;
    return LT_OK;
}

/* Identical actor columns: only the counters differ. */
static void cmp_counters(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                         size_t budget) {
    size_t end = a->n - c->i > budget ? c->i + budget : a->n;
    unsigned flags = c->flags;
    for (size_t i = c->i; i < end; i++) {
        uint64_t ca = lt_vclock_counter(a, i), cb = lt_vclock_counter(b, i);
        flags |= (ca > cb) ? LT_VC_A_AHEAD : 0;
        flags |= (cb > ca) ? LT_VC_B_AHEAD : 0;
    }
    c->flags = flags;
    c->i = end;
    /* No early exit on "concurrent": every counter of b must still be checked. */
    if (end == a->n)
        c->phase = CMP_DONE;
}

lt_err lt_vclock_cmp_step(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                          size_t budget, int *done) {
    lt_err e;
    int checked = 0;
    *done = 0;
    switch (c->phase) {
    case CMP_CHECK_A:
        if ((e = lt_vclock_check_step(a, &c->chk, budget, &checked)) != LT_OK)
            return e;
        if (!checked)
            return LT_OK;
        memset(&c->chk, 0, sizeof c->chk);
        c->i = 0;
        c->phase = CMP_SAME;
        return LT_OK;
    case CMP_SAME:
        /* 16 bytes of columns per entry of budget: the same pace as the other phases. */
        if (!same_actors_step(c, a, b, budget > SIZE_MAX / 16 ? SIZE_MAX : budget * 16))
            return LT_OK;
        c->i = 0;
        /* b's actor columns are a's bytes: b needs only its counters checked, in the walk. */
        c->phase = c->same_actors ? CMP_WALK : CMP_CHECK_B;
        return LT_OK;
    case CMP_CHECK_B:
        if ((e = lt_vclock_check_step(b, &c->chk, budget, &checked)) != LT_OK)
            return e;
        if (checked)
            c->phase = CMP_WALK;
        return LT_OK;
    case CMP_WALK:
        if (c->same_actors) {
            /* b's counters are checked here (a's were checked in CMP_CHECK_A). */
            size_t end = b->n - c->i > budget ? c->i + budget : b->n;
            for (size_t i = c->i; i < end; i++)
                if (lt_vclock_counter(b, i) == 0)
                    return LT_E_ZERO;
            cmp_counters(c, a, b, budget);
        } else if ((e = cmp_walk(c, a, b, budget)) != LT_OK) {
            return e;
        }
        *done = c->phase == CMP_DONE;
        return LT_OK;
    default:
        *done = 1;
        return LT_OK;
    }
}

static lt_err check_all(const lt_vclock_view *v) {
    lt_vclock_check st = {0};
    int done = 0;
    return lt_vclock_check_step(v, &st, v->n, &done);
}

/* Writes the header and reserves the two columns; returns the offset of the id column. Room
 * is reserved for exactly the clock (callers may hand in a fixed buffer of that size). */
static size_t start_clock(lt_buf *out, size_t n, size_t names_len) {
    size_t total;
    if (lt_size_mul(n, 16, &total) != 0 || lt_size_add(total, names_len, &total) != 0 ||
        lt_size_add(total, 2 + lt_varint_len(n), &total) != 0) {
        out->failed = 1;
        return 0;
    }
    if (lt_buf_reserve(out, total) != 0)
        return 0;
    lt_buf_put_u8(out, LT_TYPE_VCLOCK);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, n);
    size_t cols = out->len;
    out->len += 16 * n;
    return cols;
}

static void put_actor(lt_buf *out, const uint8_t *actor, size_t alen) {
    lt_buf_put_varint(out, alen);
    lt_buf_put(out, actor, alen);
}

lt_err lt_vclock_merge(const lt_vclock_view *a, const lt_vclock_view *b, lt_buf *out) {
    lt_err e;
    if ((e = check_all(a)) != LT_OK)
        return e;
    if (same_actors(a, b)) {
        size_t cols = start_clock(out, a->n, a->names_len);
        if (out->failed)
            return LT_E_NOMEM;
        uint8_t *w = out->data + cols;
        memcpy(w, a->ids, 8 * a->n);
        for (size_t i = 0; i < a->n; i++) {
            uint64_t ca = lt_vclock_counter(a, i), cb = lt_vclock_counter(b, i);
            if (cb == 0)
                return LT_E_ZERO;
            lt_write_be64(w + 8 * a->n + 8 * i, ca > cb ? ca : cb);
        }
        lt_buf_put(out, a->names, a->names_len);
        return out->failed ? LT_E_NOMEM : LT_OK;
    }
    if ((e = check_all(b)) != LT_OK)
        return e;
    /* Pass 1: count the union. Pass 2: write it. Both walk (id, actor) order. */
    size_t n = 0, names_len = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0, j = 0, ni = 0, nj = 0, k = 0, cols = 0;
        if (pass == 1) {
            cols = start_clock(out, n, names_len);
            if (out->failed)
                return LT_E_NOMEM;
        }
        while (i < a->n || j < b->n) {
            const uint8_t *na = NULL, *nb = NULL;
            size_t la = 0, lb = 0, ni2 = ni, nj2 = nj;
            int order;
            if (i < a->n && (e = lt_vclock_next_actor(a, &ni2, &na, &la)) != LT_OK)
                return e;
            if (j < b->n && (e = lt_vclock_next_actor(b, &nj2, &nb, &lb)) != LT_OK)
                return e;
            if (i == a->n)
                order = 1;
            else if (j == b->n)
                order = -1;
            else
                order = lt_actor_cmp(lt_vclock_id(a, i), na, la, lt_vclock_id(b, j), nb, lb);
            uint64_t id, counter;
            const uint8_t *actor;
            size_t alen;
            if (order < 0) {
                id = lt_vclock_id(a, i);
                counter = lt_vclock_counter(a, i);
                actor = na;
                alen = la;
                i++;
                ni = ni2;
            } else if (order > 0) {
                id = lt_vclock_id(b, j);
                counter = lt_vclock_counter(b, j);
                actor = nb;
                alen = lb;
                j++;
                nj = nj2;
            } else {
                uint64_t ca = lt_vclock_counter(a, i), cb = lt_vclock_counter(b, j);
                id = lt_vclock_id(a, i);
                counter = ca > cb ? ca : cb;
                actor = na;
                alen = la;
                i++;
                j++;
                ni = ni2;
                nj = nj2;
            }
            if (pass == 0) {
                n++;
                names_len += lt_varint_len(alen) + alen;
            } else {
                lt_write_be64(out->data + cols + 8 * k, id);
                lt_write_be64(out->data + cols + 8 * n + 8 * k, counter);
                put_actor(out, actor, alen);
                k++;
            }
        }
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

ptrdiff_t lt_vclock_find(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                         size_t actor_len) {
    /* Binary search on the id column for the first entry with this id... */
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lt_vclock_id(v, mid) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == v->n || lt_vclock_id(v, lo) != id)
        return -1;
    /* ...then confirm the actor bytes (the actor section has no index: walk to the entry). */
    size_t off = 0;
    for (size_t i = 0; i < v->n; i++) {
        const uint8_t *a;
        size_t alen;
        if (lt_vclock_next_actor(v, &off, &a, &alen) != LT_OK)
            return -1;
        if (i < lo)
            continue;
        if (lt_vclock_id(v, i) != id)
            return -1;
        if (lt_bytes_cmp(a, alen, actor, actor_len) == 0)
            return (ptrdiff_t)i;
    }
    return -1;
}

/* Copies v's entries with one change: the entry `at` gets `counter`, or, when `insert` is
 * set, a new entry (id, actor, counter) goes in before index `at`; entries with drop[i] set
 * are left out. One routine for increment, prune and friends. */
static lt_err rewrite(const lt_vclock_view *v, size_t at, int insert, uint64_t id,
                      const uint8_t *actor, size_t actor_len, uint64_t counter,
                      const uint8_t *drop, lt_buf *out) {
    size_t n = 0, names_len = 0, off = 0;
    lt_err e;
    for (size_t i = 0; i < v->n; i++) {
        const uint8_t *a;
        size_t alen;
        if ((e = lt_vclock_next_actor(v, &off, &a, &alen)) != LT_OK)
            return e;
        if (drop == NULL || !drop[i]) {
            n++;
            names_len += lt_varint_len(alen) + alen;
        }
    }
    if (insert) {
        n++;
        names_len += lt_varint_len(actor_len) + actor_len;
    }
    size_t cols = start_clock(out, n, names_len);
    if (out->failed)
        return LT_E_NOMEM;
    size_t k = 0;
    off = 0;
    for (size_t i = 0; i <= v->n; i++) {
        if (insert && i == at) {
            lt_write_be64(out->data + cols + 8 * k, id);
            lt_write_be64(out->data + cols + 8 * n + 8 * k, counter);
            put_actor(out, actor, actor_len);
            k++;
        }
        if (i == v->n)
            break;
        const uint8_t *a;
        size_t alen;
        if ((e = lt_vclock_next_actor(v, &off, &a, &alen)) != LT_OK)
            return e;
        if (drop != NULL && drop[i])
            continue;
        uint64_t c = (!insert && i == at) ? counter : lt_vclock_counter(v, i);
        lt_write_be64(out->data + cols + 8 * k, lt_vclock_id(v, i));
        lt_write_be64(out->data + cols + 8 * n + 8 * k, c);
        put_actor(out, a, alen);
        k++;
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_vclock_increment(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                           size_t actor_len, uint64_t by, lt_buf *out) {
    lt_err e;
    if ((e = check_all(v)) != LT_OK)
        return e;
    if (by == 0)
        return LT_E_ZERO;
    ptrdiff_t found = lt_vclock_find(v, id, actor, actor_len);
    if (found >= 0) {
        uint64_t c = lt_vclock_counter(v, (size_t)found);
        if (c > UINT64_MAX - by)
            return LT_E_OVERFLOW;
        return rewrite(v, (size_t)found, 0, id, actor, actor_len, c + by, NULL, out);
    }
    /* Insertion point: the first entry ordered after (id, actor). */
    size_t at = 0, off = 0;
    for (; at < v->n; at++) {
        const uint8_t *a;
        size_t alen;
        if ((e = lt_vclock_next_actor(v, &off, &a, &alen)) != LT_OK)
            return e;
        if (lt_actor_cmp(lt_vclock_id(v, at), a, alen, id, actor, actor_len) > 0)
            break;
    }
    return rewrite(v, at, 1, id, actor, actor_len, by, NULL, out);
}

lt_err lt_vclock_drop(const lt_vclock_view *v, const uint8_t *drop, lt_buf *out) {
    lt_err e;
    if ((e = check_all(v)) != LT_OK)
        return e;
    return rewrite(v, SIZE_MAX, 0, 0, NULL, 0, 0, drop, out); /* no entry changes */
}

static int entry_cmp(const void *x, const void *y) {
    const lt_vclock_entry *a = x, *b = y;
    return lt_actor_cmp(a->id, a->actor, a->actor_len, b->id, b->actor, b->actor_len);
}

lt_err lt_vclock_build(lt_vclock_entry *e, size_t n, lt_buf *out) {
    size_t kept = 0, names_len = 0;
    qsort(e, n, sizeof *e, entry_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && entry_cmp(&e[i - 1], &e[i]) == 0)
            return LT_E_ORDER;
        if (e[i].counter == 0)
            continue;
        kept++;
        names_len += lt_varint_len(e[i].actor_len) + e[i].actor_len;
    }
    size_t cols = start_clock(out, kept, names_len);
    if (out->failed)
        return LT_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].counter == 0)
            continue;
        lt_write_be64(out->data + cols + 8 * k, e[i].id);
        lt_write_be64(out->data + cols + 8 * kept + 8 * k, e[i].counter);
        put_actor(out, e[i].actor, e[i].actor_len);
        k++;
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}
