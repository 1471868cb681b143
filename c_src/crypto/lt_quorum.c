/* lt_quorum.c — parsing quorum certificates and equivocation evidence (lt_quorum.h). */
#include "lt_quorum.h"

lt_wire_err lt_quorum_decode(const uint8_t *p, size_t len, lt_quorum_cert *q) {
    if (len > LT_QUORUM_MAX_BYTES)
        return LT_WIRE_TOO_LARGE;
    memset(q, 0, sizeof *q);
    lt_wire_cursor w;
    lt_wire_init(&w, p, len);
    uint8_t tag = lt_wire_u8(&w), version = lt_wire_u8(&w);
    if (w.bad || tag != LT_WIRE_QUORUM || version != LT_WIRE_VERSION)
        return LT_WIRE_MALFORMED;
    q->statement_off = w.off;
    lt_wire_bytes8(&w, 1, 255, &q->scope_off, &q->scope_len);
    q->sequence = lt_wire_uint(&w, 8);
    lt_wire_bytes8(&w, 1, LT_QUORUM_MAX_DIGEST, &q->digest_off, &q->digest_len);
    q->statement_len = w.off - q->statement_off;
    uint64_t count = lt_wire_uint(&w, 2);
    if (w.bad || count == 0 || count > LT_QUORUM_MAX_SIGNERS)
        return LT_WIRE_MALFORMED;
    q->count = (uint32_t)count;
    q->signers_off = w.off;
    size_t prev_off = 0, prev_len = 0;
    for (uint32_t i = 0; i < q->count; i++) {
        size_t id_off, id_len;
        lt_wire_bytes8(&w, 1, 255, &id_off, &id_len);
        (void)lt_wire_take(&w, LT_WIRE_SIG_BYTES);
        if (w.bad)
            return LT_WIRE_MALFORMED;
        if (i > 0) {
            int r = lt_wire_cmp(p + prev_off, prev_len, p + id_off, id_len);
            if (r == 0) {
                q->dup_off = id_off;
                q->dup_len = id_len;
                /* The rest must still parse: a duplicate is reported only in a certificate
                 * that is otherwise well formed. */
                for (uint32_t k = i + 1; k < q->count; k++) {
                    size_t o, l;
                    lt_wire_bytes8(&w, 1, 255, &o, &l);
                    (void)lt_wire_take(&w, LT_WIRE_SIG_BYTES);
                }
                return w.bad || w.off != len ? LT_WIRE_MALFORMED : LT_WIRE_DUPLICATE;
            }
            if (r > 0)
                return LT_WIRE_MALFORMED;
        }
        prev_off = id_off;
        prev_len = id_len;
    }
    if (w.off != len)
        return LT_WIRE_MALFORMED;
    return LT_WIRE_OK;
}

void lt_quorum_next_signer(const uint8_t *p, size_t *off, size_t *id_off, size_t *id_len,
                           size_t *sig_off) {
    size_t o = *off;
    *id_len = p[o];
    *id_off = o + 1;
    *sig_off = o + 1 + *id_len;
    *off = *sig_off + LT_WIRE_SIG_BYTES;
}

lt_wire_err lt_quorum_evidence_decode(const uint8_t *p, size_t len, lt_quorum_evidence *ev) {
    if (len > LT_EVIDENCE_MAX_BYTES)
        return LT_WIRE_TOO_LARGE;
    memset(ev, 0, sizeof *ev);
    lt_wire_cursor w;
    lt_wire_init(&w, p, len);
    uint8_t tag = lt_wire_u8(&w), version = lt_wire_u8(&w);
    if (w.bad || tag != LT_WIRE_EVIDENCE || version != LT_WIRE_VERSION)
        return LT_WIRE_MALFORMED;
    lt_wire_bytes8(&w, 1, 255, &ev->id_off, &ev->id_len);
    ev->pub_off = lt_wire_take(&w, LT_WIRE_PUB_BYTES);
    lt_wire_bytes8(&w, 1, 255, &ev->scope_off, &ev->scope_len);
    ev->sequence = lt_wire_uint(&w, 8);
    for (int i = 0; i < 2; i++) {
        lt_wire_bytes8(&w, 1, LT_QUORUM_MAX_DIGEST, &ev->digest_off[i], &ev->digest_len[i]);
        ev->sig_off[i] = lt_wire_take(&w, LT_WIRE_SIG_BYTES);
        ev->statement_len[i] = 1 + ev->scope_len + 8 + 1 + ev->digest_len[i];
    }
    if (w.bad || w.off != len)
        return LT_WIRE_MALFORMED;
    if (lt_wire_cmp(p + ev->digest_off[0], ev->digest_len[0], p + ev->digest_off[1],
                    ev->digest_len[1]) >= 0)
        return LT_WIRE_MALFORMED;
    return LT_WIRE_OK;
}

size_t lt_quorum_write_statement(uint8_t *out, const uint8_t *scope, size_t scope_len,
                                 uint64_t sequence, const uint8_t *digest, size_t digest_len) {
    if (scope_len == 0 || scope_len > 255 || digest_len == 0 || digest_len > LT_QUORUM_MAX_DIGEST)
        return 0;
    size_t o = 0;
    out[o++] = (uint8_t)scope_len;
    memcpy(out + o, scope, scope_len);
    o += scope_len;
    o += lt_wire_put_uint(out + o, sequence, 8);
    out[o++] = (uint8_t)digest_len;
    memcpy(out + o, digest, digest_len);
    return o + digest_len;
}
