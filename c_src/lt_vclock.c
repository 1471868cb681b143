/* lt_vclock.c — vector clock operations over the canonical binary. See lt_vclock.h.
 *
 * Most operations start with scan(): one pass that checks the structure and records where
 * each entry's actor starts, after which finding, merging and rewriting are array lookups
 * and memcpy of whole runs. Clocks over the same actors skip even that (see lt_vclock.h). */
#include "lt_vclock.h"

#include "lt_canon.h"
#include "lt_hash.h"

#include <stdlib.h>

lt_err lt_vclock_open(lt_vclock_view *v, const uint8_t *p, size_t len) {
    return lt_vclock_open_type(v, p, len, LT_TYPE_VCLOCK);
}

lt_err lt_vclock_open_type(lt_vclock_view *v, const uint8_t *p, size_t len, uint8_t tag) {
    size_t off = 2;
    uint64_t n;
    if (len < 3)
        return LT_E_TRUNCATED;
    if (p[0] != tag)
        return LT_E_WRONG_TYPE;
    if (p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    lt_err e = lt_varint_read(p, len, &off, &n);
    if (e != LT_OK)
        return e;
    /* 16 bytes of columns and at least 2 bytes of actor per entry. */
    if (n > (len - off) / 18)
        return LT_E_TRUNCATED;
    v->tag = tag;
    v->n = (size_t)n;
    v->ids = p + off;
    v->counters = v->ids + 8 * v->n;
    v->names = v->counters + 8 * v->n;
    v->names_len = len - off - 16 * v->n;
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

/* ---- the scan: structure plus the offset of every entry in the actor section ----------- */

#define INLINE_OFFSETS 64

/* offs[i] is where entry i (its length varint) starts in the actor section; offs[n] is the
 * section's length. Owns `offs` when it is not `inline_offs`. */
typedef struct {
    size_t *offs;
    size_t inline_offs[INLINE_OFFSETS + 1];
} offsets;

static void offsets_free(offsets *o) {
    if (o->offs != o->inline_offs)
        free(o->offs);
    o->offs = NULL;
}

/* The structural check of lt_vclock_check_step in one tight loop, recording offsets. */
static lt_err scan(const lt_vclock_view *v, offsets *o) {
    o->offs = o->inline_offs;
    if (v->n > INLINE_OFFSETS) {
        if (v->n >= SIZE_MAX / sizeof(size_t))
            return LT_E_NOMEM;
        o->offs = malloc((v->n + 1) * sizeof(size_t));
        if (o->offs == NULL)
            return LT_E_NOMEM;
    }
    const uint8_t *names = v->names;
    size_t len = v->names_len, off = 0, prev_off = 0, prev_len = 0;
    uint64_t prev = 0;
    lt_err e = LT_OK;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t alen;
        o->offs[i] = off;
        if (LT_UNLIKELY((e = lt_varint_read(names, len, &off, &alen)) != LT_OK))
            break;
        if (LT_UNLIKELY(alen == 0 || alen > len - off)) {
            e = alen == 0 ? LT_E_NONCANONICAL : LT_E_TRUNCATED;
            break;
        }
        uint64_t id = lt_vclock_id(v, i);
        if (LT_UNLIKELY(i > 0 && id <= prev) &&
            (id < prev || lt_bytes_cmp(names + prev_off, prev_len, names + off, alen) >= 0)) {
            e = LT_E_ORDER;
            break;
        }
        if (LT_UNLIKELY(lt_vclock_counter(v, i) == 0)) {
            e = LT_E_ZERO;
            break;
        }
        prev = id;
        prev_off = off;
        prev_len = (size_t)alen;
        off += (size_t)alen;
    }
    if (e == LT_OK && off != len)
        e = LT_E_TRAILING;
    if (e != LT_OK) {
        offsets_free(o);
        return e;
    }
    o->offs[v->n] = len;
    return LT_OK;
}

/* The actor bytes of entry i of a scanned clock. */
static void actor_at(const lt_vclock_view *v, const offsets *o, size_t i, const uint8_t **actor,
                     size_t *alen) {
    size_t off = o->offs[i];
    *actor = NULL;
    *alen = 0;
    /* Cannot fail: scan() read this entry already. */
    (void)lt_vclock_next_actor(v, &off, actor, alen);
}

lt_err lt_vclock_check_full(const lt_vclock_view *v) {
    offsets o;
    lt_err e = scan(v, &o);
    if (e != LT_OK)
        return e;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *actor;
        size_t alen;
        actor_at(v, &o, i, &actor, &alen);
        if ((e = lt_canon_validate(actor, alen)) == LT_OK &&
            lt_actor_id(actor, alen) != lt_vclock_id(v, i))
            e = LT_E_ID;
    }
    offsets_free(&o);
    return e;
}

/* Index of the actor in a scanned clock, or -1; *at is where it would be inserted. */
static ptrdiff_t find_scanned(const lt_vclock_view *v, const offsets *o, uint64_t id,
                              const uint8_t *actor, size_t actor_len, size_t *at) {
    size_t lo = 0, hi = v->n;
    while (lo < hi) { /* the first entry with an id >= id */
        size_t mid = lo + (hi - lo) / 2;
        if (lt_vclock_id(v, mid) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < v->n && lt_vclock_id(v, lo) == id; lo++) { /* ties: actor bytes decide */
        const uint8_t *a;
        size_t alen;
        actor_at(v, o, lo, &a, &alen);
        int c = lt_bytes_cmp(a, alen, actor, actor_len);
        if (c == 0) {
            *at = lo;
            return (ptrdiff_t)lo;
        }
        if (c > 0)
            break;
    }
    *at = lo;
    return -1;
}

ptrdiff_t lt_vclock_find(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                         size_t actor_len) {
    offsets o;
    size_t at;
    if (scan(v, &o) != LT_OK)
        return -1;
    ptrdiff_t i = find_scanned(v, &o, id, actor, actor_len, &at);
    offsets_free(&o);
    return i;
}

lt_err lt_vclock_get(const lt_vclock_view *v, uint64_t id, const uint8_t *actor, size_t actor_len,
                     uint64_t *counter) {
    offsets o;
    size_t at;
    lt_err e = scan(v, &o);
    if (e != LT_OK)
        return e;
    ptrdiff_t i = find_scanned(v, &o, id, actor, actor_len, &at);
    *counter = i < 0 ? 0 : lt_vclock_counter(v, (size_t)i);
    offsets_free(&o);
    return LT_OK;
}

/* ---- compare -------------------------------------------------------------------------- */

enum { CMP_START, CMP_SAME, CMP_FAST, CMP_CHECK_A, CMP_CHECK_B, CMP_WALK, CMP_DONE };

void lt_vclock_cmp_init(lt_vclock_cmp *c) {
    memset(c, 0, sizeof *c);
    c->phase = CMP_START;
}

/* Whether the actor sections are byte-identical, compared in steps of at most `bytes`: c->i
 * counts the bytes found equal so far. Returns 1 when decided (in *same). The id columns are
 * compared entry by entry in the fast path itself. */
static int same_actors_step(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                            size_t bytes, int *same) {
    size_t n = a->names_len - c->i < bytes ? a->names_len - c->i : bytes;
    if (memcmp(a->names + c->i, b->names + c->i, n) != 0) {
        *same = 0;
        return 1;
    }
    c->i += n;
    *same = 1;
    return c->i == a->names_len;
}

/* ---- the fast path's column kernels ------------------------------------------------------
 * Plain loops with no dependency from one entry to the next, so that the compiler vectorizes
 * them (bswap becomes a byte shuffle, the unsigned compares vector compares). With GCC on
 * x86-64 Linux each is also built for AVX2 and picked at load time (target_clones); the
 * default clone runs on any x86-64. `make bench` shows what this is worth. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LT_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define LT_KERNEL
#endif

/* Whether the id columns a[from..to) and b[from..to) are equal and strictly ascending (and
 * above a[from - 1] when from > 0). */
LT_KERNEL static int ids_equal_ascending(const uint8_t *a, const uint8_t *b, size_t from,
                                         size_t to) {
    uint64_t diff = 0, disorder = 0;
    for (size_t i = from; i < to; i++) {
        uint64_t x, y;
        memcpy(&x, a + 8 * i, 8);
        memcpy(&y, b + 8 * i, 8);
        diff |= x ^ y;
    }
    for (size_t i = from > 0 ? from : 1; i < to; i++)
        disorder |= lt_read_be64(a + 8 * i) <= lt_read_be64(a + 8 * (i - 1));
    return (diff | disorder) == 0;
}

/* Whether the id column ids[0..n) is strictly ascending. */
LT_KERNEL static int ids_ascending(const uint8_t *ids, size_t n) {
    uint64_t disorder = 0;
    for (size_t i = 1; i < n; i++)
        disorder |= lt_read_be64(ids + 8 * i) <= lt_read_be64(ids + 8 * (i - 1));
    return disorder == 0;
}

/* Copies a[0..n) to dst and tells whether b[0..n) holds the same bytes: one pass for what
 * would otherwise be a memcmp and a memcpy. */
LT_KERNEL static int copy_if_same(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
        memcpy(dst + i, &x, 8);
    }
    for (; i < n; i++) {
        diff |= (uint64_t)(a[i] ^ b[i]);
        dst[i] = a[i];
    }
    return diff == 0;
}

/* Compare's counter kernel over [from, to): ORs LT_VC_* into *flags; 0 if a counter is 0. */
LT_KERNEL static int counters_compare(const uint8_t *ca, const uint8_t *cb, size_t from, size_t to,
                                      unsigned *flags) {
    uint64_t zero = 0, a_ahead = 0, b_ahead = 0;
    for (size_t i = from; i < to; i++) {
        uint64_t x = lt_read_be64(ca + 8 * i), y = lt_read_be64(cb + 8 * i);
        zero |= (x == 0) | (y == 0);
        a_ahead |= x > y;
        b_ahead |= y > x;
    }
    *flags |= (a_ahead ? LT_VC_A_AHEAD : 0) | (b_ahead ? LT_VC_B_AHEAD : 0);
    return zero == 0;
}

/* Merge's counter kernel: out[i] = max(ca[i], cb[i]) for i < n; 0 if a counter is 0. */
LT_KERNEL static int counters_max(const uint8_t *ca, const uint8_t *cb, size_t n, uint8_t *out) {
    uint64_t zero = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = lt_read_be64(ca + 8 * i), y = lt_read_be64(cb + 8 * i);
        zero |= (x == 0) | (y == 0);
        lt_write_be64(out + 8 * i, x > y ? x : y);
    }
    return zero == 0;
}

/* The fast path's checks and work over entries [from, to) of two clocks with the same actor
 * section: equal id columns, strictly ascending, counters >= 1. Returns 0 if anything is off
 * (the caller then takes the general path, which names the problem). */
static int fast_entries(const lt_vclock_view *a, const lt_vclock_view *b, size_t from, size_t to,
                        unsigned *flags) {
    return ids_equal_ascending(a->ids, b->ids, from, to) &&
           counters_compare(a->counters, b->counters, from, to, flags);
}

/* The fast path over entries [c->i, c->i + budget). LT_E_ORDER means "not for the fast
 * path": the caller falls back to the full check. */
static lt_err fast_counters(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                            size_t budget) {
    size_t end = a->n - c->i > budget ? c->i + budget : a->n;
    if (!fast_entries(a, b, c->i, end, &c->flags))
        return LT_E_ORDER;
    c->i = end;
    if (end == a->n)
        c->phase = CMP_DONE;
    return LT_OK;
}

/* The general walk: both clocks in (id, actor) order, like the merge step of merge sort. Both
 * were checked before, so the walk may stop as soon as the answer is "concurrent". */
static lt_err cmp_walk(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                       size_t budget) {
    while (budget-- > 0) {
        if (c->flags == (LT_VC_A_AHEAD | LT_VC_B_AHEAD) || c->i == a->n || c->j == b->n) {
            /* What is left on one side has counters >= 1: that side is ahead. */
            c->flags |= (c->i < a->n ? LT_VC_A_AHEAD : 0) | (c->j < b->n ? LT_VC_B_AHEAD : 0);
            c->phase = CMP_DONE;
            return LT_OK;
        }
        uint64_t ida = lt_vclock_id(a, c->i), idb = lt_vclock_id(b, c->j);
        const uint8_t *na, *nb;
        size_t la, lb, ni = c->ni, nj = c->nj;
        lt_err e = lt_vclock_next_actor(a, &ni, &na, &la);
        if (e == LT_OK)
            e = lt_vclock_next_actor(b, &nj, &nb, &lb);
        if (e != LT_OK)
            return e;
        int order = ida != idb ? (ida < idb ? -1 : 1) : lt_bytes_cmp(na, la, nb, lb);
        if (order <= 0) {
            c->i++;
            c->ni = ni;
        }
        if (order >= 0) {
            c->j++;
            c->nj = nj;
        }
        if (order < 0) {
            c->flags |= LT_VC_A_AHEAD;
        } else if (order > 0) {
            c->flags |= LT_VC_B_AHEAD;
        } else {
            uint64_t ca = lt_vclock_counter(a, c->i - 1), cb = lt_vclock_counter(b, c->j - 1);
            c->flags |= (ca > cb) ? LT_VC_A_AHEAD : (cb > ca) ? LT_VC_B_AHEAD : 0;
        }
    }
    return LT_OK;
}

lt_err lt_vclock_cmp_step(lt_vclock_cmp *c, const lt_vclock_view *a, const lt_vclock_view *b,
                          size_t budget, int *done) {
    lt_err e;
    int checked = 0, same;
    *done = 0;
    switch (c->phase) {
    case CMP_START:
        c->i = 0;
        c->phase = (a->n == b->n && a->names_len == b->names_len) ? CMP_SAME : CMP_CHECK_A;
        return LT_OK;
    case CMP_SAME:
        /* 16 bytes per entry of budget: about the pace of the other phases. */
        if (!same_actors_step(c, a, b, budget > SIZE_MAX / 16 ? SIZE_MAX : budget * 16, &same))
            return LT_OK;
        c->i = 0;
        c->phase = same ? CMP_FAST : CMP_CHECK_A;
        return LT_OK;
    case CMP_FAST:
        e = fast_counters(c, a, b, budget);
        if (e == LT_E_ORDER) { /* ids differ, tie or disorder, zero: the full path decides */
            c->i = 0;
            c->flags = 0;
            c->phase = CMP_CHECK_A;
            return LT_OK;
        }
        if (e != LT_OK)
            return e;
        *done = c->phase == CMP_DONE;
        return LT_OK;
    case CMP_CHECK_A:
    case CMP_CHECK_B:
        if ((e = lt_vclock_check_step(c->phase == CMP_CHECK_A ? a : b, &c->chk, budget,
                                      &checked)) != LT_OK)
            return e;
        if (checked) {
            memset(&c->chk, 0, sizeof c->chk);
            c->phase++;
        }
        return LT_OK;
    case CMP_WALK:
        if ((e = cmp_walk(c, a, b, budget)) != LT_OK)
            return e;
        *done = c->phase == CMP_DONE;
        return LT_OK;
    default:
        *done = 1;
        return LT_OK;
    }
}

/* ---- writing clocks --------------------------------------------------------------------- */

/* Writes the header and reserves the two columns; returns the offset of the id column. Room
 * is reserved for exactly the clock (callers may hand in a fixed buffer of that size). */
static size_t start_clock(lt_buf *out, uint8_t tag, size_t n, size_t names_len) {
    size_t total;
    if (lt_size_mul(n, 16, &total) != 0 || lt_size_add(total, names_len, &total) != 0 ||
        lt_size_add(total, 2 + lt_varint_len(n), &total) != 0) {
        out->failed = 1;
        return 0;
    }
    if (lt_buf_reserve(out, total) != 0)
        return 0;
    lt_buf_put_u8(out, tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, n);
    size_t cols = out->len;
    out->len += 16 * n;
    return cols;
}

/* Same actors: a's id column and actor section, with the larger counter of each entry.
 * LT_E_ORDER means "not for the fast path" (the caller resets `out` and goes general). */
static lt_err merge_fast(const lt_vclock_view *a, const lt_vclock_view *b, lt_buf *out) {
    size_t cols = start_clock(out, a->tag, a->n, a->names_len);
    if (out->failed)
        return LT_E_NOMEM;
    uint8_t *ids = out->data + cols, *counters = ids + 8 * a->n, *names = counters + 8 * a->n;
    if (!copy_if_same(ids, a->ids, b->ids, 8 * a->n) || !ids_ascending(ids, a->n) ||
        !counters_max(a->counters, b->counters, a->n, counters) ||
        !copy_if_same(names, a->names, b->names, a->names_len))
        return LT_E_ORDER;
    out->len += a->names_len;
    return LT_OK;
}

/* Order of entry i of a and entry j of b (both scanned). */
static int entry_order(const lt_vclock_view *a, const offsets *oa, size_t i,
                       const lt_vclock_view *b, const offsets *ob, size_t j) {
    uint64_t ida = lt_vclock_id(a, i), idb = lt_vclock_id(b, j);
    if (ida != idb)
        return ida < idb ? -1 : 1;
    const uint8_t *na, *nb;
    size_t la, lb;
    actor_at(a, oa, i, &na, &la);
    actor_at(b, ob, j, &nb, &lb);
    return lt_bytes_cmp(na, la, nb, lb);
}

/* Copies n bytes without a library call for the short strings actors usually are. */
static inline void copy_small(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n >= 8 && n <= 16) { /* two overlapping 8-byte moves */
        uint64_t x, y;
        memcpy(&x, src, 8);
        memcpy(&y, src + n - 8, 8);
        memcpy(dst, &x, 8);
        memcpy(dst + n - 8, &y, 8);
    } else {
        memcpy(dst, src, n);
    }
}

/* Any two clocks: one walk in (id, actor) order that writes the columns and actor bytes at
 * places sized for the largest possible result, then moves them down to their final places
 * once the size is known (cheaper than a counting pass, since the walk's branches follow
 * hashed ids and cannot be predicted). */
static lt_err merge_general(const lt_vclock_view *a, const lt_vclock_view *b, lt_buf *out) {
    offsets oa, ob;
    lt_err e = scan(a, &oa);
    if (e != LT_OK)
        return e;
    if ((e = scan(b, &ob)) != LT_OK) {
        offsets_free(&oa);
        return e;
    }
    size_t max_n = a->n + b->n, max_names = a->names_len + b->names_len;
    size_t hdr_max = 2 + lt_varint_len(max_n), room;
    /* A fixed buffer sized for the result may lack the room for the worst case: then work in
     * a scratch buffer and copy the result over. */
    lt_buf scratch, *w_buf = out;
    lt_buf_init(&scratch);
    int overflow =
        lt_size_mul(max_n, 16, &room) != 0 || lt_size_add(room, max_names + hdr_max, &room) != 0;
    if (!overflow && out->fixed == 1 && room > out->cap - out->len)
        w_buf = &scratch;
    if (overflow || lt_buf_reserve(w_buf, room) != 0) {
        offsets_free(&oa);
        offsets_free(&ob);
        lt_buf_free(&scratch);
        return LT_E_NOMEM;
    }
    uint8_t *base = w_buf->data + w_buf->len;
    uint8_t *ids = base + hdr_max, *counters = ids + 8 * max_n, *names = counters + 8 * max_n;
    size_t i = 0, j = 0, k = 0, w = 0;
    while (i < a->n || j < b->n) {
        int order;
        if (i == a->n || j == b->n) {
            order = i == a->n ? 1 : -1;
        } else {
            uint64_t ida = lt_vclock_id(a, i), idb = lt_vclock_id(b, j);
            order = ida != idb ? (ida < idb ? -1 : 1) : entry_order(a, &oa, i, b, &ob, j);
        }
        const lt_vclock_view *src = order <= 0 ? a : b;
        const offsets *so = order <= 0 ? &oa : &ob;
        size_t si = order <= 0 ? i : j;
        uint64_t ca = order <= 0 ? lt_vclock_counter(a, i) : 0;
        uint64_t cb = order >= 0 ? lt_vclock_counter(b, j) : 0;
        size_t span = so->offs[si + 1] - so->offs[si];
        memcpy(ids + 8 * k, src->ids + 8 * si, 8);
        lt_write_be64(counters + 8 * k, ca > cb ? ca : cb);
        copy_small(names + w, src->names + so->offs[si], span);
        w += span;
        k++;
        i += order <= 0;
        j += order >= 0;
    }
    offsets_free(&oa);
    offsets_free(&ob);
    /* Header, then the columns and actors moved down to sit right after it. */
    uint8_t *p = base;
    *p++ = a->tag;
    *p++ = LT_FORMAT_V1;
    p += lt_varint_write(p, k);
    memmove(p, ids, 8 * k);
    memmove(p + 8 * k, counters, 8 * k);
    memmove(p + 16 * k, names, w);
    w_buf->len += (size_t)(p - base) + 16 * k + w;
    if (w_buf == &scratch) {
        lt_buf_put(out, scratch.data, scratch.len);
        lt_buf_free(&scratch);
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_vclock_merge(const lt_vclock_view *a, const lt_vclock_view *b, lt_buf *out) {
    if (a->n == b->n && a->names_len == b->names_len) {
        size_t mark = out->len;
        lt_err e = merge_fast(a, b, out);
        if (e != LT_E_ORDER)
            return e;
        out->len = mark; /* not for the fast path: the general path checks fully */
    }
    return merge_general(a, b, out);
}

/* Copies the scanned clock v with one change: `at` gets `counter` (replace), or a new entry
 * goes in before index `at` (insert); entries with drop[i] set are left out. */
static lt_err rewrite(const lt_vclock_view *v, const offsets *o, size_t at, int insert, uint64_t id,
                      const uint8_t *actor, size_t actor_len, uint64_t counter, const uint8_t *drop,
                      lt_buf *out) {
    size_t n = v->n, names_len = v->names_len;
    if (drop != NULL) {
        for (size_t i = 0; i < v->n; i++) {
            if (drop[i]) {
                n--;
                names_len -= o->offs[i + 1] - o->offs[i];
            }
        }
    }
    if (insert) {
        n++;
        names_len += lt_varint_len(actor_len) + actor_len;
    }
    size_t cols = start_clock(out, v->tag, n, names_len);
    if (out->failed)
        return LT_E_NOMEM;
    uint8_t *ids = out->data + cols, *counters = ids + 8 * n;
    size_t k = 0;
    /* Runs of kept entries are copied whole: ids, counters and actor bytes. */
    for (size_t i = 0; i <= v->n;) {
        if (insert && i == at) {
            lt_write_be64(ids + 8 * k, id);
            lt_write_be64(counters + 8 * k, counter);
            lt_buf_put_varint(out, actor_len);
            lt_buf_put(out, actor, actor_len);
            k++;
        }
        if (i == v->n)
            break;
        if (drop != NULL && drop[i]) {
            i++;
            continue;
        }
        size_t run = i + 1;
        while (run < v->n && !(drop != NULL && drop[run]) && !(insert && run == at))
            run++;
        memcpy(ids + 8 * k, v->ids + 8 * i, 8 * (run - i));
        memcpy(counters + 8 * k, v->counters + 8 * i, 8 * (run - i));
        lt_buf_put(out, v->names + o->offs[i], o->offs[run] - o->offs[i]);
        if (!insert && at >= i && at < run)
            lt_write_be64(counters + 8 * (k + at - i), counter);
        k += run - i;
        i = run;
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_vclock_increment(const lt_vclock_view *v, uint64_t id, const uint8_t *actor,
                           size_t actor_len, uint64_t by, lt_buf *out) {
    offsets o;
    size_t at;
    if (by == 0)
        return LT_E_ZERO;
    lt_err e = scan(v, &o);
    if (e != LT_OK)
        return e;
    ptrdiff_t found = find_scanned(v, &o, id, actor, actor_len, &at);
    if (found >= 0) {
        uint64_t c = lt_vclock_counter(v, (size_t)found);
        e = c > UINT64_MAX - by ? LT_E_OVERFLOW
                                : rewrite(v, &o, at, 0, id, actor, actor_len, c + by, NULL, out);
    } else {
        e = rewrite(v, &o, at, 1, id, actor, actor_len, by, NULL, out);
    }
    offsets_free(&o);
    return e;
}

lt_err lt_vclock_drop(const lt_vclock_view *v, const uint8_t *drop, lt_buf *out) {
    offsets o;
    lt_err e = scan(v, &o);
    if (e != LT_OK)
        return e;
    e = rewrite(v, &o, SIZE_MAX, 0, 0, NULL, 0, 0, drop, out); /* no entry changes */
    offsets_free(&o);
    return e;
}

lt_err lt_vclock_prune(const lt_vclock_view *v, const lt_vclock_entry *actors, size_t k,
                       lt_buf *out) {
    offsets o;
    lt_err e = scan(v, &o);
    if (e != LT_OK)
        return e;
    uint8_t *drop = calloc(v->n ? v->n : 1, 1);
    if (drop == NULL) {
        offsets_free(&o);
        return LT_E_NOMEM;
    }
    for (size_t x = 0; x < k; x++) {
        size_t at;
        ptrdiff_t i = find_scanned(v, &o, actors[x].id, actors[x].actor, actors[x].actor_len, &at);
        if (i >= 0)
            drop[i] = 1;
    }
    e = rewrite(v, &o, SIZE_MAX, 0, 0, NULL, 0, 0, drop, out);
    free(drop);
    offsets_free(&o);
    return e;
}

static int entry_cmp(const void *x, const void *y) {
    const lt_vclock_entry *a = x, *b = y;
    return lt_actor_cmp(a->id, a->actor, a->actor_len, b->id, b->actor, b->actor_len);
}

lt_err lt_vclock_build(lt_vclock_entry *e, size_t n, lt_buf *out) {
    return lt_vclock_build_type(LT_TYPE_VCLOCK, e, n, out);
}

lt_err lt_vclock_build_type(uint8_t tag, lt_vclock_entry *e, size_t n, lt_buf *out) {
    size_t kept = 0, names_len = 0;
    if (n > 1) /* qsort with a NULL array is undefined even for n = 0 */
        qsort(e, n, sizeof *e, entry_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && entry_cmp(&e[i - 1], &e[i]) == 0)
            return LT_E_ORDER;
        if (e[i].counter == 0)
            continue;
        kept++;
        names_len += lt_varint_len(e[i].actor_len) + e[i].actor_len;
    }
    size_t cols = start_clock(out, tag, kept, names_len);
    if (out->failed)
        return LT_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].counter == 0)
            continue;
        lt_write_be64(out->data + cols + 8 * k, e[i].id);
        lt_write_be64(out->data + cols + 8 * kept + 8 * k, e[i].counter);
        lt_buf_put_varint(out, e[i].actor_len);
        lt_buf_put(out, e[i].actor, e[i].actor_len);
        k++;
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}
