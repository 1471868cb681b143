/* lt_set.c — G-Sets and 2P-Sets: binaries and in-place objects. See lt_set.h.
 *
 * Like the vector clock, an operation over a binary starts with one pass (walk) that checks the
 * structure; merging (lt_colset.c, shared with the LWW-Element-Set) checks as it goes. */
#include "lt_set.h"

#include "lt_canon.h"
#include "lt_hash.h"

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

/* ---- the walk: structure, and an optional lookup ---------------------------------------- */

/* Checks v's structure. When `find` is not NULL, *found receives the flags of the entry equal
 * to it (0 if none). */
static lt_err walk(const lt_set_view *v, const lt_set_entry *find, uint8_t *found) {
    const uint8_t *elems = v->elems;
    size_t len = v->elems_len, off = 0, prev_off = 0, prev_len = 0;
    uint64_t prev = 0;
    if (found != NULL)
        *found = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t elen;
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
    return LT_OK;
}

lt_err lt_set_check(const lt_set_view *v) {
    return walk(v, NULL, NULL);
}

lt_err lt_set_check_full(const lt_set_view *v) {
    lt_err e = walk(v, NULL, NULL);
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
    return walk(v, &target, flags);
}

lt_err lt_set_count(const lt_set_view *v, size_t *count) {
    lt_err e = walk(v, NULL, NULL);
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

static lt_cols cols_of(const lt_set_view *v) {
    lt_cols c = {v->tag == LT_TYPE_TWOPSET ? LT_COLS_TWOPSET : LT_COLS_GSET,
                 v->n,
                 v->ids,
                 v->flags,
                 NULL,
                 v->elems,
                 v->elems_len};
    return c;
}

lt_err lt_set_merge_start(const lt_set_view *a, const lt_set_view *b, lt_buf *out,
                          lt_cols_merger **m) {
    *m = NULL;
    if (a->tag != b->tag)
        return LT_E_WRONG_TYPE;
    lt_cols ca = cols_of(a), cb = cols_of(b);
    const uint8_t head[2] = {a->tag, LT_FORMAT_V1};
    return lt_cols_merge_start(&ca, &cb, head, sizeof head, LT_OK, out, m);
}

lt_err lt_set_merge(const lt_set_view *a, const lt_set_view *b, lt_buf *out) {
    lt_cols_merger *m;
    int done;
    lt_err e = lt_set_merge_start(a, b, out, &m);
    if (e != LT_OK)
        return e;
    e = lt_cols_merge_step(m, SIZE_MAX, &done);
    lt_cols_merge_free(m);
    return e;
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
    lt_err e = walk(v, NULL, NULL);
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
