/* lt_lwwset.c — LWW-Element-Sets: binaries and in-place objects. See lt_lwwset.h.
 *
 * Laid out as lt_set.c: an operation over a binary starts with one pass (walk) that checks the
 * structure and, when asked, records where each entry's element starts; merging (lt_colset.c,
 * shared with the G-Set and 2P-Set) checks as it goes. */
#include "lt_lwwset.h"

#include "lt_canon.h"
#include "lt_hash.h"

#include <stdlib.h>

lt_err lt_lwwset_open(lt_lwwset_view *v, const uint8_t *p, size_t len) {
    size_t off = 3;
    uint64_t n;
    if (len < 4)
        return len >= 1 && p[0] != LT_TYPE_LWWSET ? LT_E_WRONG_TYPE : LT_E_TRUNCATED;
    if (p[0] != LT_TYPE_LWWSET)
        return LT_E_WRONG_TYPE;
    if (p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    if (p[2] > LT_LWWSET_REMOVE)
        return LT_E_NONCANONICAL;
    lt_err e = lt_varint_read(p, len, &off, &n);
    if (e != LT_OK)
        return e;
    /* The columns and at least 2 bytes of element (a length and one byte) per entry. */
    if (n > (len - off) / (LT_LWWSET_FIXED + 2))
        return LT_E_TRUNCATED;
    v->bias = p[2];
    v->n = (size_t)n;
    v->ids = p + off;
    v->adds = v->ids + 8 * v->n;
    v->rems = v->adds + 8 * v->n;
    v->elems = v->rems + 8 * v->n;
    v->elems_len = len - off - LT_LWWSET_FIXED * v->n;
    return LT_OK;
}

/* ---- the walk: structure, offsets, and an optional lookup -------------------------------- */

#define INLINE_OFFSETS 64

/* offs[i] is where entry i (its length varint) starts in the element section; offs[n] is the
 * section's length. Owns `offs` when it is not `inline_offs`. */
typedef struct {
    size_t *offs;
    size_t inline_offs[INLINE_OFFSETS + 1];
} offsets;

/* Frees the offsets array if it was malloc'd, and NULLs it. */
static void offsets_free(offsets *o) {
    if (o->offs != o->inline_offs)
        free(o->offs);
    o->offs = NULL;
}

/* Checks v's structure. When `offs` is not NULL it receives n + 1 offsets (see `offsets`).
 * When `find` is not NULL, *found_add and *found_rem receive the timestamps of the entry equal
 * to it (0 and 0 if none). */
static lt_err walk(const lt_lwwset_view *v, size_t *offs, const lt_lwwset_entry *find,
                   uint64_t *found_add, uint64_t *found_rem) {
    const uint8_t *elems = v->elems;
    size_t len = v->elems_len, off = 0, prev_off = 0, prev_len = 0;
    uint64_t prev = 0;
    if (find != NULL)
        *found_add = *found_rem = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t elen;
        if (offs != NULL)
            offs[i] = off;
        lt_err e = lt_varint_read(elems, len, &off, &elen);
        if (LT_UNLIKELY(e != LT_OK))
            return e;
        if (LT_UNLIKELY(elen == 0))
            return LT_E_NONCANONICAL;
        if (LT_UNLIKELY(elen > len - off))
            return LT_E_TRUNCATED;
        uint64_t id = lt_lwwset_id(v, i);
        if (LT_UNLIKELY(i > 0 && id <= prev) &&
            (id < prev || lt_bytes_cmp(elems + prev_off, prev_len, elems + off, elen) >= 0))
            return LT_E_ORDER;
        uint64_t add = lt_lwwset_add_ts(v, i), rem = lt_lwwset_rem_ts(v, i);
        if (LT_UNLIKELY(add == 0 && rem == 0))
            return LT_E_NONCANONICAL; /* an absent element has no entry */
        if (find != NULL && id == find->id && elen == find->elem_len &&
            memcmp(elems + off, find->elem, find->elem_len) == 0) {
            *found_add = add;
            *found_rem = rem;
        }
        prev = id;
        prev_off = off;
        prev_len = (size_t)elen;
        off += (size_t)elen;
    }
    if (off != len)
        return LT_E_TRAILING;
    if (offs != NULL)
        offs[v->n] = len;
    return LT_OK;
}

/* The walk, recording offsets into o (which the caller frees with offsets_free on LT_OK; on
 * error nothing is left to free). */
static lt_err scan(const lt_lwwset_view *v, offsets *o) {
    o->offs = o->inline_offs;
    if (v->n > INLINE_OFFSETS) {
        if (v->n >= SIZE_MAX / sizeof(size_t))
            return LT_E_NOMEM;
        o->offs = malloc((v->n + 1) * sizeof(size_t));
        if (o->offs == NULL)
            return LT_E_NOMEM;
    }
    lt_err e = walk(v, o->offs, NULL, NULL, NULL);
    if (e != LT_OK)
        offsets_free(o);
    return e;
}

lt_err lt_lwwset_check(const lt_lwwset_view *v) {
    return walk(v, NULL, NULL, NULL, NULL);
}

lt_err lt_lwwset_check_full(const lt_lwwset_view *v) {
    lt_err e = walk(v, NULL, NULL, NULL, NULL);
    size_t off = 0;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        if ((e = lt_lwwset_next_elem(v, &off, &elem, &elen)) == LT_OK &&
            (e = lt_canon_validate(elem, elen)) == LT_OK &&
            lt_actor_id(elem, elen) != lt_lwwset_id(v, i))
            e = LT_E_ID;
    }
    return e;
}

lt_err lt_lwwset_lookup(const lt_lwwset_view *v, uint64_t id, const uint8_t *elem, size_t elem_len,
                        uint64_t *add_ts, uint64_t *rem_ts) {
    lt_lwwset_entry target = {id, 0, 0, elem, elem_len};
    return walk(v, NULL, &target, add_ts, rem_ts);
}

lt_err lt_lwwset_count(const lt_lwwset_view *v, size_t *count) {
    lt_err e = walk(v, NULL, NULL, NULL, NULL);
    if (e != LT_OK)
        return e;
    size_t c = 0;
    for (size_t i = 0; i < v->n; i++)
        c += (size_t)lt_lwwset_is_in_value(v->bias, lt_lwwset_add_ts(v, i), lt_lwwset_rem_ts(v, i));
    *count = c;
    return LT_OK;
}

/* The element bytes (without their length) of entry i of a scanned view. */
static void elem_at(const lt_lwwset_view *v, const offsets *o, size_t i, const uint8_t **elem,
                    size_t *elen) {
    size_t off = o->offs[i];
    *elem = NULL;
    *elen = 0;
    /* Cannot fail: the scan read this entry already. */
    (void)lt_lwwset_next_elem(v, &off, elem, elen);
}

static uint64_t max64(uint64_t a, uint64_t b) {
    return a > b ? a : b;
}

/* ---- merge --------------------------------------------------------------------------------- */

static lt_cols cols_of(const lt_lwwset_view *v) {
    lt_cols c = {LT_COLS_LWWSET, v->n, v->ids, v->adds, v->rems, v->elems, v->elems_len};
    return c;
}

lt_err lt_lwwset_merge_start(const lt_lwwset_view *a, const lt_lwwset_view *b, lt_buf *out,
                             lt_cols_merger **m) {
    lt_cols ca = cols_of(a), cb = cols_of(b);
    const uint8_t head[3] = {LT_TYPE_LWWSET, LT_FORMAT_V1, a->bias};
    /* Sets of different bias do not merge; bad bytes say first what is wrong with them. */
    return lt_cols_merge_start(&ca, &cb, head, sizeof head, a->bias != b->bias ? LT_E_BIAS : LT_OK,
                               out, m);
}

lt_err lt_lwwset_merge(const lt_lwwset_view *a, const lt_lwwset_view *b, lt_buf *out) {
    lt_cols_merger *m;
    int done;
    lt_err e = lt_lwwset_merge_start(a, b, out, &m);
    if (e != LT_OK)
        return e;
    e = lt_cols_merge_step(m, SIZE_MAX, &done);
    lt_cols_merge_free(m);
    return e;
}

/* ---- digests --------------------------------------------------------------------------------- */

/* The hash of one entry: XXH3-128 of u64be id ‖ u64be add_ts ‖ u64be rem_ts ‖ element bytes.
 * The element's bytes are the caller's, only read. */
static lt_err entry_hash(uint64_t id, uint64_t add, uint64_t rem, const uint8_t *elem, size_t elen,
                         lt_hash128_t *h) {
    uint8_t small[LT_LWWSET_FIXED + 256], *buf = small;
    if (elen > sizeof small - LT_LWWSET_FIXED) {
        if (elen > SIZE_MAX - LT_LWWSET_FIXED)
            return LT_E_NOMEM;
        buf = malloc(LT_LWWSET_FIXED + elen);
        if (buf == NULL)
            return LT_E_NOMEM;
    }
    lt_write_be64(buf, id);
    lt_write_be64(buf + 8, add);
    lt_write_be64(buf + 16, rem);
    memcpy(buf + LT_LWWSET_FIXED, elem, elen);
    *h = lt_hash128(buf, LT_LWWSET_FIXED + elen, 0);
    if (buf != small)
        free(buf);
    return LT_OK;
}

lt_err lt_lwwset_digest(const lt_lwwset_view *v, uint8_t out[16]) {
    lt_digest_acc acc;
    size_t off = 0;
    lt_err e = walk(v, NULL, NULL, NULL, NULL);
    lt_digest_init(&acc);
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        lt_hash128_t h;
        if ((e = lt_lwwset_next_elem(v, &off, &elem, &elen)) == LT_OK &&
            (e = entry_hash(lt_lwwset_id(v, i), lt_lwwset_add_ts(v, i), lt_lwwset_rem_ts(v, i),
                            elem, elen, &h)) == LT_OK)
            lt_digest_add(&acc, h);
    }
    if (e != LT_OK)
        return e;
    return lt_digest_final(&acc, LT_TYPE_LWWSET, LT_FORMAT_V1, &v->bias, 1, out);
}

/* ---- building ---------------------------------------------------------------------------------
 */

/* qsort order of two lt_lwwset_entry: canonical (id, element bytes). */
static int entry_cmp(const void *x, const void *y) {
    const lt_lwwset_entry *a = x, *b = y;
    return lt_actor_cmp(a->id, a->elem, a->elem_len, b->id, b->elem, b->elem_len);
}

/* Whether an entry is written: not both timestamps 0. */
static int is_kept(const lt_lwwset_entry *e) {
    return e->add_ts != 0 || e->rem_ts != 0;
}

void lt_lwwset_sort(lt_lwwset_entry *e, size_t n) {
    if (n > 1) /* qsort with a NULL array is undefined even for n = 0 */
        qsort(e, n, sizeof *e, entry_cmp);
}

lt_err lt_lwwset_lookup_sorted(const lt_lwwset_view *v, const lt_lwwset_entry *e, size_t k,
                               uint64_t *add, uint64_t *rem) {
    offsets o;
    lt_err err = scan(v, &o);
    if (err != LT_OK)
        return err;
    size_t i = 0; /* the entry of v at or after e[j], by (id, bytes) */
    for (size_t j = 0; j < k; j++) {
        int c = 1;
        add[j] = rem[j] = 0;
        while (i < v->n) {
            const uint8_t *elem;
            size_t elen;
            elem_at(v, &o, i, &elem, &elen);
            c = lt_actor_cmp(lt_lwwset_id(v, i), elem, elen, e[j].id, e[j].elem, e[j].elem_len);
            if (c >= 0)
                break;
            i++;
        }
        if (i < v->n && c == 0) {
            add[j] = lt_lwwset_add_ts(v, i);
            rem[j] = lt_lwwset_rem_ts(v, i);
        }
    }
    offsets_free(&o);
    return LT_OK;
}

lt_err lt_lwwset_build(uint8_t bias, lt_lwwset_entry *e, size_t n, lt_buf *out) {
    size_t count = 0, elems_len = 0, total;
    lt_lwwset_sort(e, n);
    /* Runs of equal elements become one entry: the last of the run, with the run's maxima. */
    for (size_t i = 1; i < n; i++) {
        if (entry_cmp(&e[i - 1], &e[i]) == 0) {
            e[i].add_ts = max64(e[i].add_ts, e[i - 1].add_ts);
            e[i].rem_ts = max64(e[i].rem_ts, e[i - 1].rem_ts);
            e[i - 1].add_ts = e[i - 1].rem_ts = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_kept(&e[i]))
            continue;
        count++;
        elems_len += lt_varint_len(e[i].elem_len) + e[i].elem_len;
    }
    if (lt_size_mul(count, LT_LWWSET_FIXED, &total) != 0 ||
        lt_size_add(total, elems_len, &total) != 0 ||
        lt_size_add(total, 3 + lt_varint_len(count), &total) != 0 ||
        lt_buf_reserve(out, total) != 0)
        return LT_E_NOMEM;
    lt_buf_put_u8(out, LT_TYPE_LWWSET);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_u8(out, bias);
    lt_buf_put_varint(out, count);
    for (size_t i = 0; i < n; i++)
        if (is_kept(&e[i]))
            lt_buf_put_be64(out, e[i].id);
    for (size_t i = 0; i < n; i++)
        if (is_kept(&e[i]))
            lt_buf_put_be64(out, e[i].add_ts);
    for (size_t i = 0; i < n; i++)
        if (is_kept(&e[i]))
            lt_buf_put_be64(out, e[i].rem_ts);
    for (size_t i = 0; i < n; i++) {
        if (!is_kept(&e[i]))
            continue;
        lt_buf_put_varint(out, e[i].elem_len);
        lt_buf_put(out, e[i].elem, e[i].elem_len);
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_lwwset_update(const lt_lwwset_view *v, lt_lwwset_entry *e, size_t k, lt_buf *delta,
                        lt_buf *state) {
    size_t mark = delta->len;
    lt_lwwset_view dv;
    lt_err err = lt_lwwset_build(v->bias, e, k, delta);
    if (err == LT_OK)
        err = lt_lwwset_open(&dv, delta->data + mark, delta->len - mark);
    if (err == LT_OK)
        err = lt_lwwset_merge(v, &dv, state);
    if (err != LT_OK)
        delta->len = mark;
    return err;
}

/* ---- objects --------------------------------------------------------------------------------- */

void lt_lwwset_obj_init(lt_lwwset_obj *o, uint8_t bias) {
    o->bias = bias;
    lt_table_init(&o->elems);
    o->ts = NULL;
    o->ts_cap = 0;
    o->live = 0;
    lt_digest_init(&o->digest);
}

void lt_lwwset_obj_free(lt_lwwset_obj *o) {
    lt_table_free(&o->elems);
    free(o->ts);
    o->ts = NULL;
    o->ts_cap = 0;
    o->live = 0;
    lt_digest_init(&o->digest);
}

/* The bias a snapshot or digest shows: an object whose bias is not fixed yet is empty, and
 * shown as the empty add-biased set. */
static uint8_t shown_bias(const lt_lwwset_obj *o) {
    return o->bias == LT_LWWSET_UNSET ? (uint8_t)LT_LWWSET_ADD : o->bias;
}

/* The slot of an element, added with timestamps 0 if absent. The timestamp array grows first,
 * so a slot never exists without its timestamps. -1 when out of memory. */
static ptrdiff_t slot_for(lt_lwwset_obj *o, uint64_t id, const uint8_t *elem, size_t elen) {
    int added;
    if (o->elems.n + 1 > o->ts_cap) {
        size_t cap = o->ts_cap ? 2 * o->ts_cap : 8;
        uint64_t *t = cap > o->ts_cap && cap <= SIZE_MAX / (2 * sizeof *t)
                          ? realloc(o->ts, cap * 2 * sizeof *t)
                          : NULL;
        if (t == NULL)
            return -1;
        o->ts = t;
        o->ts_cap = cap;
    }
    ptrdiff_t slot = lt_table_upsert(&o->elems, id, elem, elen, &added);
    if (slot >= 0 && added)
        o->ts[2 * slot] = o->ts[2 * slot + 1] = 0;
    return slot;
}

lt_err lt_lwwset_obj_set(lt_lwwset_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len,
                         uint64_t add_ts, uint64_t rem_ts) {
    ptrdiff_t slot = lt_table_find(&o->elems, id, elem, elem_len);
    uint64_t old_add = 0, old_rem = 0;
    if (slot >= 0) {
        old_add = o->ts[2 * slot];
        old_rem = o->ts[2 * slot + 1];
    }
    uint64_t add = max64(old_add, add_ts), rem = max64(old_rem, rem_ts);
    if (add == old_add && rem == old_rem)
        return LT_OK; /* nothing new (or nothing at all): no hashing */
    lt_hash128_t h_old, h_new;
    /* Hash first, so that a failure changes nothing. The old entry's bytes are the same bytes
     * (the table holds a copy of them). */
    lt_err e = entry_hash(id, add, rem, elem, elem_len, &h_new);
    if (e == LT_OK && (old_add != 0 || old_rem != 0))
        e = entry_hash(id, old_add, old_rem, elem, elem_len, &h_old);
    if (e != LT_OK)
        return e;
    if (slot < 0 && (slot = slot_for(o, id, elem, elem_len)) < 0)
        return LT_E_NOMEM;
    if (o->bias == LT_LWWSET_UNSET)
        o->bias = LT_LWWSET_ADD; /* the first change fixes it, as a join would */
    uint8_t bias = o->bias;
    if (old_add != 0 || old_rem != 0)
        lt_digest_sub(&o->digest, h_old);
    lt_digest_add(&o->digest, h_new);
    o->live -= (size_t)lt_lwwset_is_in_value(bias, old_add, old_rem);
    o->live += (size_t)lt_lwwset_is_in_value(bias, add, rem);
    o->ts[2 * slot] = add;
    o->ts[2 * slot + 1] = rem;
    return LT_OK;
}

void lt_lwwset_obj_get(const lt_lwwset_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len,
                       uint64_t *add_ts, uint64_t *rem_ts) {
    ptrdiff_t slot = lt_table_find(&o->elems, id, elem, elem_len);
    *add_ts = slot < 0 ? 0 : o->ts[2 * slot];
    *rem_ts = slot < 0 ? 0 : o->ts[2 * slot + 1];
}

lt_err lt_lwwset_obj_join(lt_lwwset_obj *o, const lt_lwwset_view *v) {
    /* The full check: an object only ever holds canonical elements under their true ids, so
     * its lookups find what its value lists and its value can always be decoded. */
    lt_err e = lt_lwwset_check_full(v);
    if (e != LT_OK)
        return e;
    if (o->bias != LT_LWWSET_UNSET && o->bias != v->bias)
        return LT_E_BIAS;
    o->bias = v->bias; /* fixed by the first join (the object is empty before it) */
    size_t off = 0;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        if ((e = lt_lwwset_next_elem(v, &off, &elem, &elen)) == LT_OK)
            e = lt_lwwset_obj_set(o, lt_lwwset_id(v, i), elem, elen, lt_lwwset_add_ts(v, i),
                                  lt_lwwset_rem_ts(v, i));
    }
    return e;
}

lt_err lt_lwwset_obj_snapshot(const lt_lwwset_obj *o, lt_buf *out) {
    const lt_table *t = &o->elems;
    size_t n = t->n, count = 0, elems_len = 0, total;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL)
        return LT_E_NOMEM;
    lt_table_sorted(t, order);
    /* Slots with both timestamps 0 are indexed, but their first set failed (OOM): skipped. */
#define SLOT_KEPT(s) (o->ts[2 * (s)] != 0 || o->ts[2 * (s) + 1] != 0)
    for (size_t i = 0; i < n; i++) {
        size_t s = order[i];
        if (!SLOT_KEPT(s))
            continue;
        count++;
        elems_len += lt_varint_len(t->key_len[s]) + t->key_len[s];
    }
    if (lt_size_mul(count, LT_LWWSET_FIXED, &total) != 0 ||
        lt_size_add(total, elems_len, &total) != 0 ||
        lt_size_add(total, 3 + lt_varint_len(count), &total) != 0 ||
        lt_buf_reserve(out, total) != 0) {
        free(order);
        return LT_E_NOMEM;
    }
    lt_buf_put_u8(out, LT_TYPE_LWWSET);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_u8(out, shown_bias(o));
    lt_buf_put_varint(out, count);
    for (size_t i = 0; i < n; i++)
        if (SLOT_KEPT(order[i]))
            lt_buf_put_be64(out, t->ids[order[i]]);
    for (int col = 0; col < 2; col++)
        for (size_t i = 0; i < n; i++)
            if (SLOT_KEPT(order[i]))
                lt_buf_put_be64(out, o->ts[2 * order[i] + (size_t)col]);
    for (size_t i = 0; i < n; i++) {
        size_t s = order[i];
        if (!SLOT_KEPT(s))
            continue;
        lt_buf_put_varint(out, t->key_len[s]);
        lt_buf_put(out, lt_table_key(t, s), t->key_len[s]);
    }
#undef SLOT_KEPT
    free(order);
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_lwwset_obj_digest(const lt_lwwset_obj *o, uint8_t out[16]) {
    uint8_t bias = shown_bias(o);
    return lt_digest_final(&o->digest, LT_TYPE_LWWSET, LT_FORMAT_V1, &bias, 1, out);
}
