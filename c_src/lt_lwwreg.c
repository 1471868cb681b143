/* lt_lwwreg.c — the LWW-Register: binaries and the in-place object. See lt_lwwreg.h. */
#include "lt_lwwreg.h"

#include "lt_canon.h"
#include "lt_digest.h"
#include "lt_hash.h"

/* Reads the structure of p[0..len) into *v — header, timestamp, actor length and bounds, a
 * non-empty value — without checking the actor and value terms (lt_lwwreg_open does). O(1).
 * The view points into p. */
static lt_err parse(lt_lwwreg_view *v, const uint8_t *p, size_t len) {
    size_t off = 10;
    uint64_t alen;
    lt_err e;
    memset(v, 0, sizeof *v);
    if (len < 2)
        return LT_E_TRUNCATED;
    if (p[0] != LT_TYPE_LWWREG)
        return LT_E_WRONG_TYPE;
    if (p[1] != LT_FORMAT_V1)
        return LT_E_VERSION;
    if (len == 2) {
        v->empty = 1;
        return LT_OK;
    }
    if (len < 10)
        return LT_E_TRUNCATED;
    v->ts = lt_read_be64(p + 2);
    if (v->ts == 0)
        return LT_E_ZERO;
    if ((e = lt_varint_read(p, len, &off, &alen)) != LT_OK)
        return e;
    if (alen == 0)
        return LT_E_NONCANONICAL;
    if (alen >= len - off) /* the actor, and at least one byte of value after it */
        return LT_E_TRUNCATED;
    v->actor = p + off;
    v->actor_len = (size_t)alen;
    off += (size_t)alen;
    v->value = p + off;
    v->value_len = len - off;
    v->body = p + 2;
    v->body_len = len - 2;
    return LT_OK;
}

lt_err lt_lwwreg_open(lt_lwwreg_view *v, const uint8_t *p, size_t len) {
    lt_err e = parse(v, p, len);
    if (e != LT_OK || v->empty)
        return e;
    if ((e = lt_canon_validate(v->actor, v->actor_len)) != LT_OK)
        return e;
    return lt_canon_validate(v->value, v->value_len);
}

int lt_lwwreg_cmp(const lt_lwwreg_view *a, const lt_lwwreg_view *b) {
    if (a->empty || b->empty)
        return a->empty == b->empty ? 0 : (a->empty ? -1 : 1);
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    int c = lt_bytes_cmp(a->actor, a->actor_len, b->actor, b->actor_len);
    return c != 0 ? c : lt_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

lt_err lt_lwwreg_size(size_t actor_len, size_t value_len, size_t *size) {
    size_t n;
    if (lt_size_add(2 + 8 + lt_varint_len(actor_len), actor_len, &n) != LT_OK ||
        lt_size_add(n, value_len, &n) != LT_OK)
        return LT_E_OVERFLOW;
    *size = n;
    return LT_OK;
}

lt_err lt_lwwreg_write(uint64_t ts, const uint8_t *actor, size_t actor_len, const uint8_t *value,
                       size_t value_len, lt_buf *out) {
    size_t size;
    if (ts == 0)
        return LT_E_ZERO;
    if (actor_len == 0)
        return LT_E_NONCANONICAL;
    if (value_len == 0)
        return LT_E_TRUNCATED;
    if (lt_lwwreg_size(actor_len, value_len, &size) != 0 || lt_buf_reserve(out, size) != 0) {
        out->failed = 1;
        return LT_E_NOMEM;
    }
    lt_buf_put_u8(out, LT_TYPE_LWWREG);
    lt_buf_put_u8(out, LT_FORMAT_V1);
    lt_buf_put_be64(out, ts);
    lt_buf_put_varint(out, actor_len);
    lt_buf_put(out, actor, actor_len);
    lt_buf_put(out, value, value_len);
    return out->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_lwwreg_digest(const lt_lwwreg_view *v, uint8_t out[16]) {
    lt_digest_acc acc;
    lt_digest_init(&acc);
    if (!v->empty)
        lt_digest_add(&acc, lt_hash128(v->body, v->body_len, 0));
    return lt_digest_final(&acc, LT_TYPE_LWWREG, LT_FORMAT_V1, NULL, 0, out);
}

/* ---- in-place object ------------------------------------------------------------------ */

/* Makes the register in *nb (bytes already checked) o's state: parses it and computes its
 * digest first, so that on error (LT_E_NOMEM) o is unchanged and *nb still the caller's to
 * free; on success o owns nb's bytes and the old ones are freed. */
static lt_err set_state(lt_lwwreg_obj *o, lt_buf *nb) {
    lt_lwwreg_view v;
    uint8_t d[16];
    lt_err e;
    if (nb->failed)
        return LT_E_NOMEM;
    if ((e = parse(&v, nb->data, nb->len)) != LT_OK || (e = lt_lwwreg_digest(&v, d)) != LT_OK)
        return e;
    lt_buf_free(&o->state);
    o->state = *nb;
    o->view = v;
    memcpy(o->digest, d, 16);
    lt_buf_init(nb); /* taken over */
    return LT_OK;
}

lt_err lt_lwwreg_obj_init(lt_lwwreg_obj *o) {
    static const uint8_t empty[2] = {LT_TYPE_LWWREG, LT_FORMAT_V1};
    lt_buf nb;
    lt_buf_init(&o->state);
    memset(&o->view, 0, sizeof o->view);
    o->view.empty = 1;
    memset(o->digest, 0, sizeof o->digest);
    lt_buf_init(&nb);
    lt_buf_put(&nb, empty, sizeof empty);
    lt_err e = set_state(o, &nb);
    lt_buf_free(&nb);
    return e;
}

void lt_lwwreg_obj_free(lt_lwwreg_obj *o) {
    lt_buf_free(&o->state);
    lt_buf_init(&o->state);
    memset(&o->view, 0, sizeof o->view);
}

lt_err lt_lwwreg_obj_join(lt_lwwreg_obj *o, const uint8_t *bin, size_t len) {
    lt_lwwreg_view v;
    lt_buf nb;
    lt_err e = lt_lwwreg_open(&v, bin, len);
    if (e != LT_OK || lt_lwwreg_cmp(&v, &o->view) <= 0)
        return e;
    lt_buf_init(&nb);
    lt_buf_put(&nb, bin, len);
    e = set_state(o, &nb);
    lt_buf_free(&nb);
    return e;
}

lt_err lt_lwwreg_obj_assign(lt_lwwreg_obj *o, uint64_t ts, const uint8_t *actor, size_t actor_len,
                            const uint8_t *value, size_t value_len) {
    lt_buf nb;
    if (ts <= o->view.ts)
        return LT_E_ORDER;
    lt_buf_init(&nb);
    lt_err e = lt_lwwreg_write(ts, actor, actor_len, value, value_len, &nb);
    if (e == LT_OK)
        e = set_state(o, &nb);
    lt_buf_free(&nb);
    return e;
}

lt_err lt_lwwreg_obj_snapshot(const lt_lwwreg_obj *o, lt_buf *out) {
    lt_buf_put(out, o->state.data, o->state.len);
    return out->failed ? LT_E_NOMEM : LT_OK;
}

void lt_lwwreg_obj_digest(const lt_lwwreg_obj *o, uint8_t out[16]) {
    memcpy(out, o->digest, 16);
}
