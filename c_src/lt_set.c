/* lt_set.c — G-Sets and 2P-Sets: binaries and in-place objects. See lt_set.h.
 *
 * Like the vector clock, an operation over a binary starts with one pass (walk) that checks the
 * structure and, when asked, records where each entry's element starts; merging is then one
 * walk over both inputs in (id, bytes) order, writing the columns and elements at places sized
 * for the largest possible result and moving them down once the size is known. */
#include "lt_set.h"

#include "lt_canon.h"
#include "lt_hash.h"
#include "lt_vclock.h" /* LT_FORMAT_V1, lt_actor_cmp: the canonical (id, bytes) order */

#include <stdlib.h>

/* Bytes per entry in the fixed-width columns: the id, and for a 2P-Set the flags. */
static size_t fixed_width(uint8_t tag) {
    return tag == LT_TYPE_TWOPSET ? 9 : 8;
}

lt_err lt_set_open(lt_set_view *v, const uint8_t *p, size_t len, uint8_t tag) {
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
    size_t fixed = fixed_width(tag);
    /* The columns and at least 2 bytes of element (a length and one byte) per entry. */
    if (n > (len - off) / (fixed + 2))
        return LT_E_TRUNCATED;
    v->tag = tag;
    v->n = (size_t)n;
    v->ids = p + off;
    v->flags = tag == LT_TYPE_TWOPSET ? v->ids + 8 * v->n : NULL;
    v->elems = v->ids + fixed * v->n;
    v->elems_len = len - off - fixed * v->n;
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
 * When `find` is not NULL, *found receives the flags of the entry equal to it (0 if none). */
static lt_err walk(const lt_set_view *v, size_t *offs, const lt_set_entry *find, uint8_t *found) {
    const uint8_t *elems = v->elems;
    size_t len = v->elems_len, off = 0, prev_off = 0, prev_len = 0;
    uint64_t prev = 0;
    if (found != NULL)
        *found = 0;
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
        uint64_t id = lt_set_id(v, i);
        if (LT_UNLIKELY(i > 0 && id <= prev) &&
            (id < prev || lt_bytes_cmp(elems + prev_off, prev_len, elems + off, elen) >= 0))
            return LT_E_ORDER;
        if (v->flags != NULL && LT_UNLIKELY(v->flags[i] == 0 || v->flags[i] > LT_SET_BOTH))
            return LT_E_NONCANONICAL;
        if (find != NULL && id == find->id && elen == find->elem_len &&
            memcmp(elems + off, find->elem, find->elem_len) == 0)
            *found = lt_set_flags(v, i);
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
static lt_err scan(const lt_set_view *v, offsets *o) {
    o->offs = o->inline_offs;
    if (v->n > INLINE_OFFSETS) {
        if (v->n >= SIZE_MAX / sizeof(size_t))
            return LT_E_NOMEM;
        o->offs = malloc((v->n + 1) * sizeof(size_t));
        if (o->offs == NULL)
            return LT_E_NOMEM;
    }
    lt_err e = walk(v, o->offs, NULL, NULL);
    if (e != LT_OK)
        offsets_free(o);
    return e;
}

lt_err lt_set_check(const lt_set_view *v) {
    return walk(v, NULL, NULL, NULL);
}

lt_err lt_set_check_full(const lt_set_view *v) {
    lt_err e = walk(v, NULL, NULL, NULL);
    size_t off = 0;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        if ((e = lt_set_next_elem(v, &off, &elem, &elen)) == LT_OK &&
            (e = lt_canon_validate(elem, elen)) == LT_OK &&
            lt_actor_id(elem, elen) != lt_set_id(v, i))
            e = LT_E_ID;
    }
    return e;
}

lt_err lt_set_lookup(const lt_set_view *v, uint64_t id, const uint8_t *elem, size_t elem_len,
                     uint8_t *flags) {
    lt_set_entry target = {id, 0, elem, elem_len};
    return walk(v, NULL, &target, flags);
}

lt_err lt_set_count(const lt_set_view *v, size_t *count) {
    lt_err e = walk(v, NULL, NULL, NULL);
    if (e != LT_OK)
        return e;
    size_t c = v->n;
    if (v->flags != NULL) {
        c = 0;
        for (size_t i = 0; i < v->n; i++)
            c += v->flags[i] == LT_SET_ADDED;
    }
    *count = c;
    return LT_OK;
}

/* ---- merge --------------------------------------------------------------------------------- */

/* The element bytes (without their length) of entry i of a scanned view. */
static void elem_at(const lt_set_view *v, const offsets *o, size_t i, const uint8_t **elem,
                    size_t *elen) {
    size_t off = o->offs[i];
    *elem = NULL;
    *elen = 0;
    /* Cannot fail: the scan read this entry already. */
    (void)lt_set_next_elem(v, &off, elem, elen);
}

lt_err lt_set_merge(const lt_set_view *a, const lt_set_view *b, lt_buf *out) {
    offsets oa, ob;
    if (a->tag != b->tag)
        return LT_E_WRONG_TYPE;
    lt_err e = scan(a, &oa);
    if (e != LT_OK)
        return e;
    if ((e = scan(b, &ob)) != LT_OK) {
        offsets_free(&oa);
        return e;
    }
    size_t fixed = fixed_width(a->tag), max_n = a->n + b->n;
    size_t max_elems = a->elems_len + b->elems_len, hdr_max = 2 + lt_varint_len(max_n), room;
    /* Both inputs exist in memory, so these sums cannot overflow; check anyway. */
    if (lt_size_mul(max_n, fixed, &room) != 0 || lt_size_add(room, max_elems, &room) != 0 ||
        lt_size_add(room, hdr_max, &room) != 0 || lt_buf_reserve(out, room) != 0) {
        offsets_free(&oa);
        offsets_free(&ob);
        return LT_E_NOMEM;
    }
    uint8_t *base = out->data + out->len;
    uint8_t *ids = base + hdr_max, *flags = ids + 8 * max_n;
    uint8_t *elems = ids + fixed * max_n;
    int two_p = a->tag == LT_TYPE_TWOPSET;
    size_t i = 0, j = 0, k = 0, w = 0;
    while (i < a->n || j < b->n) {
        int order;
        if (i == a->n || j == b->n) {
            order = i == a->n ? 1 : -1;
        } else {
            uint64_t ida = lt_set_id(a, i), idb = lt_set_id(b, j);
            if (ida != idb) {
                order = ida < idb ? -1 : 1;
            } else { /* equal ids: the same element, or a collision the bytes settle */
                const uint8_t *ea, *eb;
                size_t la, lb;
                elem_at(a, &oa, i, &ea, &la);
                elem_at(b, &ob, j, &eb, &lb);
                order = lt_bytes_cmp(ea, la, eb, lb);
            }
        }
        const lt_set_view *src = order <= 0 ? a : b;
        const offsets *so = order <= 0 ? &oa : &ob;
        size_t si = order <= 0 ? i : j;
        size_t span = so->offs[si + 1] - so->offs[si];
        memcpy(ids + 8 * k, src->ids + 8 * si, 8);
        if (two_p)
            flags[k] = (uint8_t)((order <= 0 ? a->flags[i] : 0) | (order >= 0 ? b->flags[j] : 0));
        memcpy(elems + w, src->elems + so->offs[si], span);
        w += span;
        k++;
        i += order <= 0;
        j += order >= 0;
    }
    offsets_free(&oa);
    offsets_free(&ob);
    /* The header, then the columns and elements moved down to sit right after it (each
     * destination ends before the next source starts). */
    uint8_t *p = base;
    *p++ = a->tag;
    *p++ = LT_FORMAT_V1;
    p += lt_varint_write(p, k);
    memmove(p, ids, 8 * k);
    p += 8 * k;
    if (two_p) {
        memmove(p, flags, k);
        p += k;
    }
    memmove(p, elems, w);
    p += w;
    out->len += (size_t)(p - base);
    return LT_OK;
}

/* ---- digests --------------------------------------------------------------------------------- */

/* The hash of one entry: XXH3-128 of u64be id ‖ element bytes (G-Set), or of u64be id ‖ u8
 * flags ‖ element bytes (2P-Set). */
static lt_err entry_hash(uint8_t tag, uint64_t id, uint8_t flags, const uint8_t *elem, size_t elen,
                         lt_hash128_t *h) {
    uint8_t small[9 + 256], *buf = small;
    size_t head = fixed_width(tag);
    if (elen > sizeof small - head) {
        if (elen > SIZE_MAX - head)
            return LT_E_NOMEM;
        buf = malloc(head + elen);
        if (buf == NULL)
            return LT_E_NOMEM;
    }
    lt_write_be64(buf, id);
    if (head == 9)
        buf[8] = flags;
    memcpy(buf + head, elem, elen);
    *h = lt_hash128(buf, head + elen, 0);
    if (buf != small)
        free(buf);
    return LT_OK;
}

lt_err lt_set_digest(const lt_set_view *v, uint8_t out[16]) {
    lt_digest_acc acc;
    size_t off = 0;
    lt_err e = walk(v, NULL, NULL, NULL);
    lt_digest_init(&acc);
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        lt_hash128_t h;
        if ((e = lt_set_next_elem(v, &off, &elem, &elen)) == LT_OK &&
            (e = entry_hash(v->tag, lt_set_id(v, i), lt_set_flags(v, i), elem, elen, &h)) == LT_OK)
            lt_digest_add(&acc, h);
    }
    if (e != LT_OK)
        return e;
    return lt_digest_final(&acc, v->tag, LT_FORMAT_V1, NULL, 0, out);
}

/* ---- building ----------------------------------------------------------------------------------
 */

/* qsort order of two lt_set_entry: canonical (id, element bytes). */
static int entry_cmp(const void *x, const void *y) {
    const lt_set_entry *a = x, *b = y;
    return lt_actor_cmp(a->id, a->elem, a->elem_len, b->id, b->elem, b->elem_len);
}

lt_err lt_set_build(uint8_t tag, lt_set_entry *e, size_t n, lt_buf *out) {
    size_t kept = 0, elems_len = 0, total;
    int two_p = tag == LT_TYPE_TWOPSET;
    if (n > 1) /* qsort with a NULL array is undefined even for n = 0 */
        qsort(e, n, sizeof *e, entry_cmp);
    /* Runs of equal elements become one entry: the first of the run, with the run's flags. */
    for (size_t i = 0; i < n; i++) {
        if (!two_p)
            e[i].flags = LT_SET_ADDED;
        if (i > 0 && entry_cmp(&e[i - 1], &e[i]) == 0) {
            e[i].flags |= e[i - 1].flags;
            e[i - 1].flags = 0; /* the last of the run carries them */
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (e[i].flags == 0)
            continue;
        kept++;
        elems_len += lt_varint_len(e[i].elem_len) + e[i].elem_len;
    }
    if (lt_size_mul(kept, fixed_width(tag), &total) != 0 ||
        lt_size_add(total, elems_len, &total) != 0 ||
        lt_size_add(total, 2 + lt_varint_len(kept), &total) != 0 || lt_buf_reserve(out, total) != 0)
        return LT_E_NOMEM;
    lt_buf_put_u8(out, tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, kept);
    for (size_t i = 0; i < n; i++)
        if (e[i].flags != 0)
            lt_buf_put_be64(out, e[i].id);
    if (two_p)
        for (size_t i = 0; i < n; i++)
            if (e[i].flags != 0)
                lt_buf_put_u8(out, e[i].flags);
    for (size_t i = 0; i < n; i++) {
        if (e[i].flags == 0)
            continue;
        lt_buf_put_varint(out, e[i].elem_len);
        lt_buf_put(out, e[i].elem, e[i].elem_len);
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_set_update(const lt_set_view *v, lt_set_entry *e, size_t k, lt_buf *delta,
                     lt_buf *state) {
    size_t mark = delta->len;
    lt_set_view dv;
    lt_err err = lt_set_build(v->tag, e, k, delta);
    if (err == LT_OK)
        err = lt_set_open(&dv, delta->data + mark, delta->len - mark, v->tag);
    if (err == LT_OK)
        err = lt_set_merge(v, &dv, state);
    if (err != LT_OK)
        delta->len = mark;
    return err;
}

/* ---- objects --------------------------------------------------------------------------------- */

void lt_set_obj_init(lt_set_obj *o, uint8_t tag) {
    o->tag = tag;
    lt_table_init(&o->elems);
    o->flags = NULL;
    o->flags_cap = 0;
    o->live = 0;
    lt_digest_init(&o->digest);
}

void lt_set_obj_free(lt_set_obj *o) {
    lt_table_free(&o->elems);
    free(o->flags);
    o->flags = NULL;
    o->flags_cap = 0;
    o->live = 0;
    lt_digest_init(&o->digest);
}

/* The slot of an element, added with flags 0 if absent. The flags array grows first, so a
 * slot never exists without its flags. -1 when out of memory. */
static ptrdiff_t slot_for(lt_set_obj *o, uint64_t id, const uint8_t *elem, size_t elen) {
    int added;
    if (o->elems.n + 1 > o->flags_cap) {
        size_t cap = o->flags_cap ? 2 * o->flags_cap : 8;
        uint8_t *f = cap > o->flags_cap ? realloc(o->flags, cap) : NULL;
        if (f == NULL)
            return -1;
        o->flags = f;
        o->flags_cap = cap;
    }
    ptrdiff_t slot = lt_table_upsert(&o->elems, id, elem, elen, &added);
    if (slot >= 0 && added)
        o->flags[slot] = 0;
    return slot;
}

/* Moves the element at `slot` to flags `nf`, keeping the digest and the live count current. */
static lt_err set_flags(lt_set_obj *o, size_t slot, uint8_t nf) {
    uint8_t old = o->flags[slot];
    const uint8_t *elem = lt_table_key(&o->elems, slot);
    size_t elen = o->elems.key_len[slot];
    uint64_t id = o->elems.ids[slot];
    lt_hash128_t h_old, h_new;
    if (nf == old)
        return LT_OK;
    lt_err e = entry_hash(o->tag, id, nf, elem, elen, &h_new);
    if (e == LT_OK && old != 0)
        e = entry_hash(o->tag, id, old, elem, elen, &h_old);
    if (e != LT_OK)
        return e;
    if (old != 0)
        lt_digest_sub(&o->digest, h_old);
    lt_digest_add(&o->digest, h_new);
    o->live -= old == LT_SET_ADDED;
    o->live += nf == LT_SET_ADDED;
    o->flags[slot] = nf;
    return LT_OK;
}

lt_err lt_set_obj_add(lt_set_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len,
                      uint8_t flags) {
    if (o->tag != LT_TYPE_TWOPSET)
        flags = LT_SET_ADDED;
    ptrdiff_t slot = lt_table_find(&o->elems, id, elem, elem_len);
    if (slot >= 0 && (o->flags[slot] | flags) == o->flags[slot])
        return LT_OK; /* nothing new: no hashing */
    if (slot < 0 && (slot = slot_for(o, id, elem, elem_len)) < 0)
        return LT_E_NOMEM;
    return set_flags(o, (size_t)slot, (uint8_t)(o->flags[slot] | flags));
}

uint8_t lt_set_obj_flags(const lt_set_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len) {
    ptrdiff_t slot = lt_table_find(&o->elems, id, elem, elem_len);
    return slot < 0 ? 0 : o->flags[slot];
}

lt_err lt_set_obj_join(lt_set_obj *o, const lt_set_view *v) {
    if (v->tag != o->tag)
        return LT_E_WRONG_TYPE;
    /* The full check: an object only ever holds canonical elements under their true ids, so
     * its lookups find what its value lists and its value can always be decoded. */
    lt_err e = lt_set_check_full(v);
    size_t off = 0;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *elem;
        size_t elen;
        if ((e = lt_set_next_elem(v, &off, &elem, &elen)) == LT_OK)
            e = lt_set_obj_add(o, lt_set_id(v, i), elem, elen, lt_set_flags(v, i));
    }
    return e;
}

lt_err lt_set_obj_snapshot(const lt_set_obj *o, lt_buf *out) {
    const lt_table *t = &o->elems;
    size_t n = t->n, kept = 0, elems_len = 0, total;
    int two_p = o->tag == LT_TYPE_TWOPSET;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL)
        return LT_E_NOMEM;
    lt_table_sorted(t, order);
    for (size_t i = 0; i < n; i++) {
        size_t s = order[i];
        if (o->flags[s] == 0)
            continue; /* indexed, but its first flags failed to go in (OOM) */
        kept++;
        elems_len += lt_varint_len(t->key_len[s]) + t->key_len[s];
    }
    if (lt_size_mul(kept, fixed_width(o->tag), &total) != 0 ||
        lt_size_add(total, elems_len, &total) != 0 ||
        lt_size_add(total, 2 + lt_varint_len(kept), &total) != 0 ||
        lt_buf_reserve(out, total) != 0) {
        free(order);
        return LT_E_NOMEM;
    }
    lt_buf_put_u8(out, o->tag);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, kept);
    for (size_t i = 0; i < n; i++)
        if (o->flags[order[i]] != 0)
            lt_buf_put_be64(out, t->ids[order[i]]);
    if (two_p)
        for (size_t i = 0; i < n; i++)
            if (o->flags[order[i]] != 0)
                lt_buf_put_u8(out, o->flags[order[i]]);
    for (size_t i = 0; i < n; i++) {
        size_t s = order[i];
        if (o->flags[s] == 0)
            continue;
        lt_buf_put_varint(out, t->key_len[s]);
        lt_buf_put(out, lt_table_key(t, s), t->key_len[s]);
    }
    free(order);
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_set_obj_digest(const lt_set_obj *o, uint8_t out[16]) {
    return lt_digest_final(&o->digest, o->tag, LT_FORMAT_V1, NULL, 0, out);
}
