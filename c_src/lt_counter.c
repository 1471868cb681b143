/* lt_counter.c — G-Counter and PN-Counter: binaries and in-place objects. See lt_counter.h. */
#include "lt_counter.h"

#include <stdlib.h>

/* The hash of one G-Counter entry: XXH3-128 of id (u64be) ‖ count (u64be) ‖ actor bytes. */
static lt_err entry_hash(uint64_t id, uint64_t count, const uint8_t *actor, size_t alen,
                         lt_hash128_t *h) {
    uint8_t small[16 + 256], *buf = small;
    if (alen > sizeof small - 16) {
        buf = malloc(16 + alen);
        if (buf == NULL)
            return LT_E_NOMEM;
    }
    lt_write_be64(buf, id);
    lt_write_be64(buf + 8, count);
    memcpy(buf + 16, actor, alen);
    *h = lt_hash128(buf, 16 + alen, 0);
    if (buf != small)
        free(buf);
    return LT_OK;
}

static void u128_add(lt_u128 *s, uint64_t v) {
    uint64_t lo = s->lo + v;
    s->hi += lo < s->lo;
    s->lo = lo;
}

lt_err lt_gcounter_open(lt_vclock_view *v, const uint8_t *p, size_t len) {
    return lt_vclock_open_type(v, p, len, LT_TYPE_GCOUNTER);
}

static lt_err check(const lt_vclock_view *v) {
    lt_vclock_check st = {0};
    int done = 0;
    return lt_vclock_check_step(v, &st, v->n, &done);
}

lt_err lt_gcounter_sum(const lt_vclock_view *v, lt_u128 *sum) {
    lt_err e = check(v);
    if (e != LT_OK)
        return e;
    sum->hi = sum->lo = 0;
    for (size_t i = 0; i < v->n; i++)
        u128_add(sum, lt_vclock_counter(v, i));
    return LT_OK;
}

lt_err lt_gcounter_digest(const lt_vclock_view *v, uint8_t out[16]) {
    lt_digest_acc acc;
    size_t off = 0;
    lt_err e = check(v);
    lt_digest_init(&acc);
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *actor;
        size_t alen;
        lt_hash128_t h;
        if ((e = lt_vclock_next_actor(v, &off, &actor, &alen)) == LT_OK &&
            (e = entry_hash(lt_vclock_id(v, i), lt_vclock_counter(v, i), actor, alen, &h)) == LT_OK)
            lt_digest_add(&acc, h);
    }
    if (e != LT_OK)
        return e;
    return lt_digest_final(&acc, LT_TYPE_GCOUNTER, LT_FORMAT_V1, NULL, 0, out);
}

lt_err lt_gcounter_single(uint64_t id, const uint8_t *actor, size_t actor_len, uint64_t count,
                          lt_buf *out) {
    lt_vclock_entry e = {id, count, actor, actor_len};
    return lt_vclock_build_type(LT_TYPE_GCOUNTER, &e, 1, out);
}

/* ---- PN-Counter binaries ---------------------------------------------------------------- */

lt_err lt_pncounter_open(lt_pncounter_view *v, const uint8_t *bin, size_t len) {
    size_t off = 2;
    uint64_t plen;
    lt_err e;
    if (len < 3)
        return LT_E_TRUNCATED;
    if (bin[0] != LT_TYPE_PNCOUNTER)
        return LT_E_WRONG_TYPE;
    if (bin[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    if ((e = lt_varint_read(bin, len, &off, &plen)) != LT_OK)
        return e;
    if (plen > len - off)
        return LT_E_TRUNCATED;
    if ((e = lt_gcounter_open(&v->p, bin + off, (size_t)plen)) != LT_OK)
        return e;
    off += (size_t)plen;
    return lt_gcounter_open(&v->n, bin + off, len - off);
}

void lt_pncounter_write(const uint8_t *p, size_t plen, const uint8_t *n, size_t nlen, lt_buf *out) {
    lt_buf_put_u8(out, LT_TYPE_PNCOUNTER);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_varint(out, plen);
    lt_buf_put(out, p, plen);
    lt_buf_put(out, n, nlen);
}

/* The PN digest folds the two halves' digests in as its global bytes. */
static lt_err pn_digest(const uint8_t dp[16], const uint8_t dn[16], uint8_t out[16]) {
    uint8_t both[32];
    lt_digest_acc none;
    memcpy(both, dp, 16);
    memcpy(both + 16, dn, 16);
    lt_digest_init(&none);
    return lt_digest_final(&none, LT_TYPE_PNCOUNTER, LT_FORMAT_V1, both, 32, out);
}

lt_err lt_pncounter_digest(const lt_pncounter_view *v, uint8_t out[16]) {
    uint8_t dp[16], dn[16];
    lt_err e = lt_gcounter_digest(&v->p, dp);
    if (e == LT_OK)
        e = lt_gcounter_digest(&v->n, dn);
    return e == LT_OK ? pn_digest(dp, dn, out) : e;
}

/* ---- G-Counter objects ------------------------------------------------------------------ */

void lt_gcounter_obj_init(lt_gcounter_obj *o) {
    lt_table_init(&o->actors);
    o->counts = NULL;
    o->counts_cap = 0;
    o->sum.hi = o->sum.lo = 0;
    lt_digest_init(&o->digest);
}

void lt_gcounter_obj_free(lt_gcounter_obj *o) {
    lt_table_free(&o->actors);
    free(o->counts);
    o->counts = NULL;
    o->counts_cap = 0;
}

int lt_gcounter_obj_grow_is_big(const lt_gcounter_obj *o, size_t keys, size_t bytes) {
    return lt_table_grow_is_big(&o->actors, keys, bytes) ||
           lt_grow_is_big(o->actors.n, o->counts_cap, keys);
}

/* The slot of an actor, added with count 0 if absent. The counts array grows first, so a
 * slot never exists without its count. */
static ptrdiff_t slot_for(lt_gcounter_obj *o, uint64_t id, const uint8_t *actor, size_t alen) {
    int added;
    if (o->actors.n + 1 > o->counts_cap) {
        size_t cap = o->counts_cap ? 2 * o->counts_cap : 8;
        uint64_t *c = cap <= SIZE_MAX / sizeof *c ? realloc(o->counts, cap * sizeof *c) : NULL;
        if (c == NULL)
            return -1;
        o->counts = c;
        o->counts_cap = cap;
    }
    ptrdiff_t slot = lt_table_upsert(&o->actors, id, actor, alen, &added);
    if (slot >= 0 && added)
        o->counts[slot] = 0;
    return slot;
}

/* Moves the actor at `slot` from count `old` to `count`, keeping sum and digest current. */
static lt_err set_count(lt_gcounter_obj *o, size_t slot, uint64_t count) {
    uint64_t old = o->counts[slot];
    const uint8_t *actor = lt_table_key(&o->actors, slot);
    size_t alen = o->actors.key_len[slot];
    uint64_t id = o->actors.ids[slot];
    lt_hash128_t h_old, h_new;
    lt_err e = entry_hash(id, count, actor, alen, &h_new);
    if (e == LT_OK && old > 0)
        e = entry_hash(id, old, actor, alen, &h_old);
    if (e != LT_OK)
        return e;
    if (old > 0)
        lt_digest_sub(&o->digest, h_old);
    lt_digest_add(&o->digest, h_new);
    /* sum += count - old, as 128-bit arithmetic (count > old always). */
    u128_add(&o->sum, count - old);
    o->counts[slot] = count;
    return LT_OK;
}

lt_err lt_gcounter_obj_increment(lt_gcounter_obj *o, uint64_t id, const uint8_t *actor,
                                 size_t actor_len, uint64_t by, uint64_t *count) {
    if (by == 0)
        return LT_E_ZERO;
    ptrdiff_t slot = slot_for(o, id, actor, actor_len);
    if (slot < 0)
        return LT_E_NOMEM;
    uint64_t old = o->counts[slot];
    if (old > UINT64_MAX - by)
        return LT_E_OVERFLOW;
    lt_err e = set_count(o, (size_t)slot, old + by);
    if (e == LT_OK)
        *count = old + by;
    return e;
}

lt_err lt_gcounter_obj_join(lt_gcounter_obj *o, const lt_vclock_view *v) {
    lt_err e = check(v);
    size_t off = 0;
    for (size_t i = 0; i < v->n && e == LT_OK; i++) {
        const uint8_t *actor;
        size_t alen;
        if ((e = lt_vclock_next_actor(v, &off, &actor, &alen)) != LT_OK)
            break;
        uint64_t c = lt_vclock_counter(v, i);
        ptrdiff_t slot = slot_for(o, lt_vclock_id(v, i), actor, alen);
        if (slot < 0)
            e = LT_E_NOMEM;
        else if (c > o->counts[slot])
            e = set_count(o, (size_t)slot, c);
    }
    /* Only allocation can fail after the check, and then the object holds a state between
     * the old one and the join: still a valid state (each count only went up). */
    return e;
}

uint64_t lt_gcounter_obj_get(const lt_gcounter_obj *o, uint64_t id, const uint8_t *actor,
                             size_t actor_len) {
    ptrdiff_t slot = lt_table_find(&o->actors, id, actor, actor_len);
    return slot < 0 ? 0 : o->counts[slot];
}

lt_err lt_gcounter_obj_snapshot(const lt_gcounter_obj *o, lt_buf *out) {
    size_t n = o->actors.n, kept = 0;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    lt_vclock_entry *e = malloc((n ? n : 1) * sizeof *e);
    lt_err err = LT_E_NOMEM;
    if (order != NULL && e != NULL) {
        lt_table_sorted(&o->actors, order);
        for (size_t i = 0; i < n; i++) {
            size_t s = order[i];
            if (o->counts[s] == 0)
                continue; /* indexed, but its first count failed to go in (OOM) */
            e[kept].id = o->actors.ids[s];
            e[kept].counter = o->counts[s];
            e[kept].actor = lt_table_key(&o->actors, s);
            e[kept].actor_len = o->actors.key_len[s];
            kept++;
        }
        err = lt_vclock_build_type(LT_TYPE_GCOUNTER, e, kept, out);
    }
    free(order);
    free(e);
    return err;
}

lt_err lt_gcounter_obj_digest(const lt_gcounter_obj *o, uint8_t out[16]) {
    return lt_digest_final(&o->digest, LT_TYPE_GCOUNTER, LT_FORMAT_V1, NULL, 0, out);
}

/* ---- PN-Counter objects ----------------------------------------------------------------- */

void lt_pncounter_obj_init(lt_pncounter_obj *o) {
    lt_gcounter_obj_init(&o->p);
    lt_gcounter_obj_init(&o->n);
}

void lt_pncounter_obj_free(lt_pncounter_obj *o) {
    lt_gcounter_obj_free(&o->p);
    lt_gcounter_obj_free(&o->n);
}

lt_err lt_pncounter_obj_join(lt_pncounter_obj *o, const lt_pncounter_view *v) {
    /* Check both halves before touching either, so a bad N leaves P unchanged too. */
    lt_err e = check(&v->p);
    if (e == LT_OK)
        e = check(&v->n);
    if (e == LT_OK)
        e = lt_gcounter_obj_join(&o->p, &v->p);
    if (e == LT_OK)
        e = lt_gcounter_obj_join(&o->n, &v->n);
    return e;
}

lt_err lt_pncounter_obj_snapshot(const lt_pncounter_obj *o, lt_buf *out) {
    lt_buf p, n;
    lt_buf_init(&p);
    lt_buf_init(&n);
    lt_err e = lt_gcounter_obj_snapshot(&o->p, &p);
    if (e == LT_OK)
        e = lt_gcounter_obj_snapshot(&o->n, &n);
    if (e == LT_OK && (p.failed || n.failed))
        e = LT_E_NOMEM;
    if (e == LT_OK)
        lt_pncounter_write(p.data, p.len, n.data, n.len, out);
    lt_buf_free(&p);
    lt_buf_free(&n);
    return e == LT_OK && out->failed ? LT_E_NOMEM : e;
}

lt_err lt_pncounter_obj_digest(const lt_pncounter_obj *o, uint8_t out[16]) {
    uint8_t dp[16], dn[16];
    lt_err e = lt_gcounter_obj_digest(&o->p, dp);
    if (e == LT_OK)
        e = lt_gcounter_obj_digest(&o->n, dn);
    return e == LT_OK ? pn_digest(dp, dn, out) : e;
}
