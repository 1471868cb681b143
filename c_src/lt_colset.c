/* lt_colset.c — the columnar sets' merge. See lt_colset.h.
 *
 * One walk over both inputs in (id, bytes) order, checking each entry as it is read (as the
 * types' own walks do, in the same order, so a bad input gives the same error), writing the
 * columns and elements at places sized for the largest possible result; then each column moves
 * down to follow the one before, a slice per step. */
#include "lt_colset.h"

#include <stdlib.h>

/* Where a walk over one input stands: entry i's id, column values and element (its bytes from
 * the length varint on: `span` of them at `start`, the element itself at `elem`). */
typedef struct {
    size_t i, off;
    uint64_t id, c1, c2;
    const uint8_t *start, *elem;
    size_t span, elen;
} cursor;

/* The entry before: what reading the next one checks its order against. */
typedef struct {
    uint64_t id;
    const uint8_t *elem;
    size_t elen;
} previous;

/* Reads entry c->i at c->off in place, checking it against the entry before it, `prev` (NULL
 * for the first). (In place, field by field: copying whole cursors after a call stalls on
 * store forwarding.) */
static LT_ALWAYS_INLINE lt_err cursor_read(const lt_cols *v, cursor *c, const previous *prev,
                                           const lt_cols_kind kind) {
    uint64_t elen;
    size_t at = c->off;
    lt_err e = lt_varint_read(v->elems, v->elems_len, &c->off, &elen);
    if (LT_UNLIKELY(e != LT_OK))
        return e;
    if (LT_UNLIKELY(elen == 0))
        return LT_E_NONCANONICAL;
    if (LT_UNLIKELY(elen > v->elems_len - c->off))
        return LT_E_TRUNCATED;
    c->id = lt_read_be64(v->ids + 8 * c->i);
    c->start = v->elems + at;
    c->elem = v->elems + c->off;
    c->elen = (size_t)elen;
    c->off += (size_t)elen;
    c->span = c->off - at;
    if (LT_UNLIKELY(prev != NULL && c->id <= prev->id) &&
        (c->id < prev->id || lt_bytes_cmp(prev->elem, prev->elen, c->elem, c->elen) >= 0))
        return LT_E_ORDER;
    switch (kind) {
    case LT_COLS_TWOPSET: /* flags: added 1, removed 2, both 3 */
        c->c1 = v->col1[c->i];
        if (LT_UNLIKELY(c->c1 == 0 || c->c1 > 3))
            return LT_E_NONCANONICAL;
        break;
    case LT_COLS_LWWSET: /* an absent element has no entry */
        c->c1 = lt_read_be64(v->col1 + 8 * c->i);
        c->c2 = lt_read_be64(v->col2 + 8 * c->i);
        if (LT_UNLIKELY(c->c1 == 0 && c->c2 == 0))
            return LT_E_NONCANONICAL;
        break;
    case LT_COLS_GSET:
        break;
    }
    return LT_OK;
}

/* Moves to the next entry of v (reading it if there is one). */
static LT_ALWAYS_INLINE lt_err cursor_next(const lt_cols *v, cursor *c, const lt_cols_kind kind) {
    if (++c->i == v->n)
        return LT_OK;
    previous prev = {c->id, c->elem, c->elen};
    return cursor_read(v, c, &prev, kind);
}

/* Whether entries x and y of two inputs (ending at x_end and y_end) have the same bytes. */
static LT_ALWAYS_INLINE int same_bytes(const cursor *x, const uint8_t *x_end, const cursor *y,
                                       const uint8_t *y_end) {
    if (x->span != y->span)
        return 0;
    if (x->span <= LT_SHORT_SPAN && x_end - x->start >= 16 && y_end - y->start >= 16)
        return lt_short_eq(x->start, y->start, x->span);
    return lt_bytes_eq(x->start, y->start, x->span);
}

static uint64_t max64(uint64_t a, uint64_t b) {
    return a > b ? a : b;
}

/* Runs of shared entries. Two replicas of one set mostly hold the same elements, so after an
 * entry found on both sides the next ones often are too: the same id at the same place in both
 * id columns, the same element bytes. shared_run takes such a run in bulk: one pass over A's
 * entries checks each (its length, its order, the columns of both sides) and finds the run's
 * end, then one comparison of the run's element bytes on both sides, one copy of its ids and
 * one of its elements. B's entries in the run are A's byte for byte, under the same ids, so
 * A's checks hold for them; B's own columns are checked in the pass. The pass stops, without
 * the entry, at anything unusual (a length over one varint byte, a repeated id, a bad column
 * value, the end of the budget): the walk then reads that entry as before, in the same order,
 * so a bad input gives the same error. */

/* Extends the shared entry the cursors stand on (just written as output entry k) by the run
 * after it, at most `max` entries; writes them as output entries k + 1... and moves both
 * cursors onto the run's last entry (so cursor_next reads on from there). Returns the entries
 * taken (0 when there is no run, or its bytes differ: then *miss is set). The pass writes each
 * entry's id and columns as it checks them: if the run is refused they lie past the output's
 * end, where later entries overwrite them. */
static LT_ALWAYS_INLINE size_t shared_run(const lt_cols *a, const lt_cols *b, cursor *ca,
                                          cursor *cb, size_t max, uint8_t *ids, uint8_t *col1,
                                          uint8_t *col2, uint8_t *elems, size_t *w, size_t k,
                                          int *miss, const lt_cols_kind kind) {
    size_t ia = ca->i + 1, ib = cb->i + 1, r = 0;
    size_t left_a = a->n - ia, left_b = b->n - ib;
    if (max > left_a)
        max = left_a;
    if (max > left_b)
        max = left_b;
    const uint8_t *ea = a->elems, *ida = a->ids + 8 * ia, *idb = b->ids + 8 * ib;
    size_t off = ca->off, start = off, end = a->elems_len;
    size_t last_off = 0, last_len = 0;
    uint64_t prev = ca->id;
    ids += 8 * (k + 1);
    for (; r < max; r++) {
        uint64_t x, y;
        memcpy(&x, ida + 8 * r, 8);
        memcpy(&y, idb + 8 * r, 8);
        if (x != y || off >= end)
            break; /* another id, or more ids than elements (the walk reads it) */
        size_t len = ea[off];
        if (len - 1 >= 0x7f || len > end - off - 1)
            break; /* 0, a length of more than one byte, or past the end: the walk reads it */
        uint64_t id = lt_read_be64(ida + 8 * r);
        if (id <= prev)
            break; /* out of order, or a repeated id (the bytes order it): the walk reads it */
        if (kind == LT_COLS_TWOPSET) {
            uint8_t fa = a->col1[ia + r], fb = b->col1[ib + r];
            if ((uint8_t)(fa - 1) > 2 || (uint8_t)(fb - 1) > 2)
                break;
            col1[k + 1 + r] = (uint8_t)(fa | fb);
        } else if (kind == LT_COLS_LWWSET) {
            uint64_t a1 = lt_read_be64(a->col1 + 8 * (ia + r));
            uint64_t a2 = lt_read_be64(a->col2 + 8 * (ia + r));
            uint64_t b1 = lt_read_be64(b->col1 + 8 * (ib + r));
            uint64_t b2 = lt_read_be64(b->col2 + 8 * (ib + r));
            if ((a1 | a2) == 0 || (b1 | b2) == 0)
                break;
            lt_write_be64(col1 + 8 * (k + 1 + r), max64(a1, b1));
            lt_write_be64(col2 + 8 * (k + 1 + r), max64(a2, b2));
        }
        memcpy(ids + 8 * r, &x, 8);
        prev = id;
        last_off = off + 1;
        last_len = len;
        off += 1 + len;
    }
    if (r == 0)
        return 0;
    size_t span = off - start;
    if (span > b->elems_len - cb->off || !lt_span_eq(ea + start, b->elems + cb->off, span)) {
        *miss = 1;
        return 0;
    }
    lt_span_copy(elems + *w, ea + start, span);
    *w += span;
    /* Both cursors onto the run's last entry: what the next read checks its order against. */
    ca->i += r;
    cb->i += r;
    ca->id = cb->id = prev;
    ca->elem = ea + last_off;
    cb->elem = b->elems + cb->off + (last_off - start);
    ca->elen = cb->elen = last_len;
    ca->off = off;
    cb->off += span;
    return r;
}

struct lt_cols_merger {
    lt_cols a, b;
    lt_buf *out;
    lt_err verdict;
    size_t mark;                   /* out->len before the merge: restored on error */
    size_t head_len;               /* the type's bytes before the count, already written at mark */
    size_t ids, col1, col2, elems; /* where the columns are written, from out->data */
    cursor ca, cb;                 /* the next entry of each input */
    size_t k, w;                   /* entries and element bytes written */
    size_t run_from;               /* no shared runs tried before A's entry run_from */
    int walked;                    /* then: the moves */
    lt_move moves[4];
    int nmoves, move;
};

/* Bytes moved per unit of a step's budget once the walk is over. */
#define MOVE_PER_STEP 128

/* Bytes per entry in the type's own columns. */
static size_t cols_width(lt_cols_kind kind) {
    return kind == LT_COLS_TWOPSET ? 1 : kind == LT_COLS_LWWSET ? 16 : 0;
}

void lt_cols_merge_free(lt_cols_merger *m) {
    free(m);
}

lt_err lt_cols_merge_start(const lt_cols *a, const lt_cols *b, const uint8_t *head, size_t head_len,
                           lt_err verdict, lt_buf *out, lt_cols_merger **mp) {
    *mp = NULL;
    if (a->kind != b->kind)
        return LT_E_WRONG_TYPE;
    size_t width = cols_width(a->kind), max_n = a->n + b->n;
    size_t max_elems = a->elems_len + b->elems_len, hdr_max = head_len + lt_varint_len(max_n);
    size_t room;
    /* Both inputs exist in memory, so these sums cannot overflow; check anyway. */
    if (lt_size_mul(max_n, 8 + width, &room) != 0 || lt_size_add(room, max_elems, &room) != 0 ||
        lt_size_add(room, hdr_max, &room) != 0 || lt_buf_reserve(out, room) != 0)
        return LT_E_NOMEM;
    lt_cols_merger *m = calloc(1, sizeof *m);
    if (m == NULL)
        return LT_E_NOMEM;
    m->a = *a;
    m->b = *b;
    m->out = out;
    m->verdict = verdict;
    m->mark = out->len;
    m->head_len = head_len;
    m->ids = out->len + hdr_max;
    m->col1 = m->ids + 8 * max_n;
    m->col2 = m->col1 + (a->kind == LT_COLS_LWWSET ? 8 * max_n : 0);
    m->elems = m->ids + (8 + width) * max_n;
    memcpy(out->data + out->len, head, head_len);
    lt_err e = LT_OK;
    if ((a->n && (e = cursor_read(&m->a, &m->ca, NULL, a->kind)) != LT_OK) ||
        (b->n && (e = cursor_read(&m->b, &m->cb, NULL, a->kind)) != LT_OK)) {
        free(m);
        return e;
    }
    *mp = m;
    return LT_OK;
}

/* Moves the next slice of the columns into place. */
static void move_step(lt_cols_merger *m, size_t budget, int *done) {
    size_t max = lt_slice_max(budget, MOVE_PER_STEP);
    while (m->move < m->nmoves && max > 0) {
        max -= lt_move_slice(m->out->data, &m->moves[m->move], max);
        if (lt_move_is_done(&m->moves[m->move]))
            m->move++;
    }
    *done = m->move == m->nmoves;
}

/* The walk of at most `budget` entries, for one kind: called with a constant `kind`, so each
 * kind gets its own loop without the others' column code. */
static LT_ALWAYS_INLINE lt_err walk_kind(lt_cols_merger *m, size_t budget, int *done,
                                         const lt_cols_kind kind) {
    const lt_cols *a = &m->a, *b = &m->b;
    lt_buf *out = m->out;
    uint8_t *ids = out->data + m->ids, *col1 = out->data + m->col1, *col2 = out->data + m->col2;
    uint8_t *elems = out->data + m->elems;
    const uint8_t *a_end = a->elems + a->elems_len, *b_end = b->elems + b->elems_len;
    const uint8_t *out_end = out->data + out->cap;
    /* The walk's state in locals while it runs (the writes into `out` cannot alias them). */
    cursor ca_now = m->ca, cb_now = m->cb, *ca = &ca_now, *cb = &cb_now;
    size_t k = m->k, w = m->w, steps = 0, run_from = m->run_from;
    lt_err e = LT_OK;
    while ((ca->i < a->n || cb->i < b->n) && steps++ < budget) {
        int order;
        if (ca->i == a->n || cb->i == b->n)
            order = ca->i == a->n ? 1 : -1;
        else if (ca->id != cb->id)
            order = ca->id < cb->id ? -1 : 1;
        else if (LT_LIKELY(same_bytes(ca, a_end, cb, b_end)))
            order = 0; /* equal ids and bytes: the same element, the common case */
        else           /* equal ids: a collision the bytes settle */
            order = lt_bytes_cmp(ca->elem, ca->elen, cb->elem, cb->elen);
        const cursor *src = order <= 0 ? ca : cb;
        lt_write_be64(ids + 8 * k, src->id);
        if (kind == LT_COLS_TWOPSET) {
            col1[k] = (uint8_t)((order <= 0 ? ca->c1 : 0) | (order >= 0 ? cb->c1 : 0));
        } else if (kind == LT_COLS_LWWSET) {
            lt_write_be64(col1 + 8 * k, max64(order <= 0 ? ca->c1 : 0, order >= 0 ? cb->c1 : 0));
            lt_write_be64(col2 + 8 * k, max64(order <= 0 ? ca->c2 : 0, order >= 0 ? cb->c2 : 0));
        }
        if (src->span <= LT_SHORT_SPAN && (order <= 0 ? a_end : b_end) - src->start >= 16 &&
            out_end - (elems + w) >= 16)
            memcpy(elems + w, src->start, 16); /* the bytes past the span are overwritten */
        else
            lt_copy(elems + w, src->start, src->span);
        w += src->span;
        k++;
        if (order == 0 && ca->i >= run_from) {
            int miss = 0;
            size_t r = shared_run(a, b, ca, cb, budget - steps, ids, col1, col2, elems, &w, k - 1,
                                  &miss, kind);
            k += r;
            steps += r;
            if (miss) /* the same ids, other bytes (a collision): no runs for a while */
                run_from = ca->i + 64;
        }
        if ((order <= 0 && (e = cursor_next(a, ca, kind)) != LT_OK) ||
            (order >= 0 && (e = cursor_next(b, cb, kind)) != LT_OK))
            goto fail;
    }
    m->k = k;
    m->w = w;
    m->run_from = run_from;
    m->ca = ca_now;
    m->cb = cb_now;
    if (ca->i < a->n || cb->i < b->n) /* out of budget: pause */
        return LT_OK;
    if (ca->off != a->elems_len || cb->off != b->elems_len) {
        e = LT_E_TRAILING;
        goto fail;
    }
    if ((e = m->verdict) != LT_OK)
        goto fail;
    /* The count after the head; then the columns move down to sit right after it (each
     * destination ends before the next source starts). */
    size_t at = m->mark + m->head_len;
    at += lt_varint_write(out->data + at, k);
    m->moves[m->nmoves++] = (lt_move){at, m->ids, 8 * k, 0};
    at += 8 * k;
    if (kind != LT_COLS_GSET) {
        size_t per = kind == LT_COLS_TWOPSET ? 1 : 8;
        m->moves[m->nmoves++] = (lt_move){at, m->col1, per * k, 0};
        at += per * k;
        if (kind == LT_COLS_LWWSET) {
            m->moves[m->nmoves++] = (lt_move){at, m->col2, 8 * k, 0};
            at += 8 * k;
        }
    }
    m->moves[m->nmoves++] = (lt_move){at, m->elems, w, 0};
    out->len = at + w;
    m->walked = 1;
    if (budget == SIZE_MAX)
        move_step(m, budget, done);
    return LT_OK;
fail:
    out->len = m->mark;
    return e;
}

lt_err lt_cols_merge_step(lt_cols_merger *m, size_t budget, int *done) {
    *done = 0;
    if (m->walked) {
        move_step(m, budget, done);
        return LT_OK;
    }
    switch (m->a.kind) {
    case LT_COLS_TWOPSET:
        return walk_kind(m, budget, done, LT_COLS_TWOPSET);
    case LT_COLS_LWWSET:
        return walk_kind(m, budget, done, LT_COLS_LWWSET);
    case LT_COLS_GSET:
        break;
    }
    return walk_kind(m, budget, done, LT_COLS_GSET);
}

lt_err lt_cols_merge(const lt_cols *a, const lt_cols *b, const uint8_t *head, size_t head_len,
                     lt_err verdict, lt_buf *out) {
    lt_cols_merger *m;
    int done;
    lt_err e = lt_cols_merge_start(a, b, head, head_len, verdict, out, &m);
    if (e != LT_OK)
        return e;
    e = lt_cols_merge_step(m, SIZE_MAX, &done);
    lt_cols_merge_free(m);
    return e;
}
