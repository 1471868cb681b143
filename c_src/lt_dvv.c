/* lt_dvv.c — dotted version vectors. See lt_dvv.h. */
#include "lt_dvv.h"

#include "lt_canon.h"
#include "lt_hash.h"

#include <stdlib.h>

void lt_dvv_free(lt_dvv *d) {
    free(d->entries);
    free(d->dots);
    d->entries = NULL;
    d->dots = NULL;
    d->n = 0;
    d->ndots = 0;
}

static lt_err dvv_alloc(lt_dvv *d, size_t n, size_t ndots) {
    d->entries = NULL;
    d->dots = NULL;
    d->n = 0;
    d->ndots = 0;
    if (n > SIZE_MAX / sizeof(lt_dvv_entry) || ndots > SIZE_MAX / sizeof(uint64_t))
        return LT_E_NOMEM;
    d->entries = malloc(n ? n * sizeof(lt_dvv_entry) : 1);
    d->dots = malloc(ndots ? ndots * sizeof(uint64_t) : 1);
    if (d->entries == NULL || d->dots == NULL) {
        lt_dvv_free(d);
        return LT_E_NOMEM;
    }
    return LT_OK;
}

lt_err lt_dvv_parse(const uint8_t *p, size_t len, lt_dvv *d) {
    size_t off = 2;
    uint64_t n;
    lt_err e;
    d->entries = NULL;
    d->dots = NULL;
    if (len < 3)
        return LT_E_TRUNCATED;
    if (p[0] != LT_TYPE_DVV)
        return LT_E_WRONG_TYPE;
    if (p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    if ((e = lt_varint_read(p, len, &off, &n)) != LT_OK)
        return e;
    /* An entry is at least 8 (id) + 2 (actor) + 1 (base) + 1 (k) bytes; a dot at least 1. */
    if (n > (len - off) / 12)
        return LT_E_TRUNCATED;
    if ((e = dvv_alloc(d, (size_t)n, len - off)) != LT_OK)
        return e;
    for (size_t i = 0; i < n; i++) {
        lt_dvv_entry *en = &d->entries[i];
        uint64_t alen, k;
        if (len - off < 8) {
            e = LT_E_TRUNCATED;
            break;
        }
        en->id = lt_read_be64(p + off);
        off += 8;
        if ((e = lt_varint_read(p, len, &off, &alen)) != LT_OK)
            break;
        if (alen == 0 || alen > len - off) {
            e = alen == 0 ? LT_E_NONCANONICAL : LT_E_TRUNCATED;
            break;
        }
        en->actor = p + off;
        en->actor_len = (size_t)alen;
        off += (size_t)alen;
        if (i > 0) {
            const lt_dvv_entry *pr = &d->entries[i - 1];
            if (lt_actor_cmp(pr->id, pr->actor, pr->actor_len, en->id, en->actor, en->actor_len) >=
                0) {
                e = LT_E_ORDER;
                break;
            }
        }
        if ((e = lt_varint_read(p, len, &off, &en->base)) != LT_OK)
            break;
        if ((e = lt_varint_read(p, len, &off, &k)) != LT_OK)
            break;
        if (k > len - off) {
            e = LT_E_TRUNCATED;
            break;
        }
        if (en->base == 0 && k == 0) {
            e = LT_E_NONCANONICAL;
            break;
        }
        en->first_dot = d->ndots;
        en->ndots = (size_t)k;
        uint64_t prev = en->base;
        if (prev == UINT64_MAX && k > 0) {
            e = LT_E_OVERFLOW;
            break;
        }
        prev += 1;
        for (uint64_t j = 0; j < k && e == LT_OK; j++) {
            uint64_t gap;
            if ((e = lt_varint_read(p, len, &off, &gap)) != LT_OK)
                break;
            if (gap == 0)
                e = LT_E_NONCANONICAL;
            else if (prev > UINT64_MAX - gap)
                e = LT_E_OVERFLOW;
            else
                d->dots[d->ndots++] = prev += gap;
        }
        if (e != LT_OK)
            break;
        d->n++;
    }
    if (e == LT_OK && off != len)
        e = LT_E_TRAILING;
    if (e != LT_OK)
        lt_dvv_free(d);
    return e;
}

lt_err lt_dvv_check_full(const lt_dvv *d) {
    for (size_t i = 0; i < d->n; i++) {
        const lt_dvv_entry *en = &d->entries[i];
        lt_err e = lt_canon_validate(en->actor, en->actor_len);
        if (e != LT_OK)
            return e;
        if (lt_actor_id(en->actor, en->actor_len) != en->id)
            return LT_E_ID;
    }
    return LT_OK;
}

static int range_cmp(const void *x, const void *y) {
    const lt_dvv_range *a = x, *b = y;
    int c = lt_actor_cmp(a->id, a->actor, a->actor_len, b->id, b->actor, b->actor_len);
    if (c != 0)
        return c;
    return a->lo < b->lo ? -1 : (a->lo > b->lo ? 1 : 0);
}

lt_err lt_dvv_normalize(lt_dvv_range *r, size_t n, lt_dvv *out) {
    for (size_t i = 0; i < n; i++) {
        if (r[i].lo == 0)
            return LT_E_ZERO;
        if (r[i].lo > r[i].hi)
            return LT_E_ORDER;
    }
    if (n > 1) /* qsort with a NULL array is undefined even for n = 0 */
        qsort(r, n, sizeof *r, range_cmp);
    /* Bound the output: each range above 1 comes from single dots (see lt_dvv.h). */
    size_t max_dots = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].lo > 1)
            max_dots++;
    lt_err e = dvv_alloc(out, n, max_dots);
    if (e != LT_OK)
        return e;
    size_t i = 0;
    while (i < n) {
        size_t g = i; /* the ranges of one actor: r[i..g) */
        while (g < n && lt_actor_cmp(r[i].id, r[i].actor, r[i].actor_len, r[g].id, r[g].actor,
                                     r[g].actor_len) == 0)
            g++;
        lt_dvv_entry *en = &out->entries[out->n];
        en->id = r[i].id;
        en->actor = r[i].actor;
        en->actor_len = r[i].actor_len;
        en->base = 0;
        en->first_dot = out->ndots;
        en->ndots = 0;
        /* Sweep the ranges in order of lo, merging overlapping and adjacent ones. */
        uint64_t lo = r[i].lo, hi = r[i].hi;
        for (size_t k = i + 1; k <= g; k++) {
            if (k < g && (hi == UINT64_MAX || r[k].lo <= hi + 1)) {
                if (r[k].hi > hi)
                    hi = r[k].hi;
                continue;
            }
            if (lo == 1) {
                en->base = hi;
            } else {
                for (uint64_t c = lo;; c++) {
                    if (out->ndots == max_dots) { /* a long range above 1: not ours to take */
                        lt_dvv_free(out);
                        return LT_E_TOO_BIG;
                    }
                    out->dots[out->ndots++] = c;
                    en->ndots++;
                    if (c == hi)
                        break;
                }
            }
            if (k < g) {
                lo = r[k].lo;
                hi = r[k].hi;
            }
        }
        out->n++;
        i = g;
    }
    return LT_OK;
}

size_t lt_dvv_range_count(const lt_dvv *d) {
    return d->n + d->ndots;
}

void lt_dvv_ranges(const lt_dvv *d, lt_dvv_range *r, size_t *n) {
    for (size_t i = 0; i < d->n; i++) {
        const lt_dvv_entry *en = &d->entries[i];
        lt_dvv_range base = {en->id, en->actor, en->actor_len, 1, en->base};
        if (en->base > 0)
            r[(*n)++] = base;
        for (size_t k = 0; k < en->ndots; k++) {
            lt_dvv_range dot = base;
            dot.lo = dot.hi = d->dots[en->first_dot + k];
            r[(*n)++] = dot;
        }
    }
}

lt_err lt_dvv_encode(const lt_dvv *d, lt_buf *out) {
    lt_buf_put_u8(out, LT_TYPE_DVV);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, d->n);
    for (size_t i = 0; i < d->n; i++) {
        const lt_dvv_entry *en = &d->entries[i];
        lt_buf_put_be64(out, en->id);
        lt_buf_put_varint(out, en->actor_len);
        lt_buf_put(out, en->actor, en->actor_len);
        lt_buf_put_varint(out, en->base);
        lt_buf_put_varint(out, en->ndots);
        uint64_t prev = en->base + 1;
        for (size_t k = 0; k < en->ndots; k++) {
            uint64_t c = d->dots[en->first_dot + k];
            lt_buf_put_varint(out, c - prev);
            prev = c;
        }
    }
    return out->failed ? LT_E_NOMEM : LT_OK;
}

ptrdiff_t lt_dvv_find(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len) {
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const lt_dvv_entry *en = &d->entries[mid];
        int c = lt_actor_cmp(en->id, en->actor, en->actor_len, id, actor, actor_len);
        if (c == 0)
            return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int entry_has(const lt_dvv *d, const lt_dvv_entry *en, uint64_t c) {
    if (c <= en->base)
        return 1;
    const uint64_t *dots = d->dots + en->first_dot;
    size_t lo = 0, hi = en->ndots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dots[mid] == c)
            return 1;
        if (dots[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int lt_dvv_has_dot(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len,
                   uint64_t counter) {
    ptrdiff_t i = lt_dvv_find(d, id, actor, actor_len);
    if (i < 0 || counter == 0)
        return 0;
    return entry_has(d, &d->entries[i], counter);
}

uint64_t lt_dvv_max(const lt_dvv *d, uint64_t id, const uint8_t *actor, size_t actor_len) {
    ptrdiff_t i = lt_dvv_find(d, id, actor, actor_len);
    if (i < 0)
        return 0;
    const lt_dvv_entry *en = &d->entries[i];
    return en->ndots ? d->dots[en->first_dot + en->ndots - 1] : en->base;
}

int lt_dvv_is_descendant(const lt_dvv *a, const lt_dvv *b) {
    for (size_t j = 0; j < b->n; j++) {
        const lt_dvv_entry *eb = &b->entries[j];
        ptrdiff_t i = lt_dvv_find(a, eb->id, eb->actor, eb->actor_len);
        if (i < 0)
            return 0;
        const lt_dvv_entry *ea = &a->entries[i];
        /* a is compact: if its base is below b's, a lacks a->base + 1 <= b->base. */
        if (ea->base < eb->base)
            return 0;
        for (size_t k = 0; k < eb->ndots; k++)
            if (!entry_has(a, ea, b->dots[eb->first_dot + k]))
                return 0;
    }
    return 1;
}
