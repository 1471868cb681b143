/* lt_cert.c — parsing node certificates and revocation lists (lt_cert.h). */
#include "lt_cert.h"

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = (v << 8) | p[k];
    return v;
}

lt_wire_err lt_cert_decode(const uint8_t *p, size_t len, lt_cert *c) {
    if (len > LT_CERT_MAX_BYTES)
        return LT_WIRE_TOO_LARGE;
    memset(c, 0, sizeof *c);
    lt_wire_cursor w;
    lt_wire_init(&w, p, len);
    uint8_t tag = lt_wire_u8(&w), version = lt_wire_u8(&w);
    if (w.bad || tag != LT_WIRE_CERT || version != LT_WIRE_VERSION)
        return LT_WIRE_MALFORMED;
    lt_wire_bytes8(&w, 1, 255, &c->cluster_off, &c->cluster_len);
    lt_wire_bytes8(&w, 1, 255, &c->node_off, &c->node_len);
    c->sign_pub_off = lt_wire_take(&w, LT_WIRE_PUB_BYTES);
    c->kx_pub_off = lt_wire_take(&w, LT_WIRE_PUB_BYTES);
    c->not_before = lt_wire_uint(&w, 8);
    c->not_after = lt_wire_uint(&w, 8);
    c->serial = lt_wire_uint(&w, 8);
    c->sig_off = lt_wire_take(&w, LT_WIRE_SIG_BYTES);
    if (w.bad || w.off != len || c->not_after < c->not_before)
        return LT_WIRE_MALFORMED;
    return LT_WIRE_OK;
}

lt_wire_err lt_crl_decode(const uint8_t *p, size_t len, lt_crl *l) {
    if (len > LT_CRL_MAX_BYTES)
        return LT_WIRE_TOO_LARGE;
    memset(l, 0, sizeof *l);
    lt_wire_cursor w;
    lt_wire_init(&w, p, len);
    uint8_t tag = lt_wire_u8(&w), version = lt_wire_u8(&w);
    if (w.bad || tag != LT_WIRE_CRL || version != LT_WIRE_VERSION)
        return LT_WIRE_MALFORMED;
    lt_wire_bytes8(&w, 1, 255, &l->cluster_off, &l->cluster_len);
    l->sequence = lt_wire_uint(&w, 8);
    l->issued_at = lt_wire_uint(&w, 8);
    uint64_t count = lt_wire_uint(&w, 4);
    if (w.bad || count > LT_CRL_MAX_SERIALS)
        return LT_WIRE_MALFORMED;
    l->count = (uint32_t)count;
    l->serials_off = lt_wire_take(&w, 8 * (size_t)count);
    l->sig_off = lt_wire_take(&w, LT_WIRE_SIG_BYTES);
    if (w.bad || w.off != len)
        return LT_WIRE_MALFORMED;
    for (uint32_t i = 1; i < l->count; i++)
        if (be64(p + l->serials_off + 8 * (size_t)(i - 1)) >=
            be64(p + l->serials_off + 8 * (size_t)i))
            return LT_WIRE_MALFORMED;
    return LT_WIRE_OK;
}

int lt_crl_contains(const uint8_t *p, const lt_crl *l, uint64_t serial) {
    size_t lo = 0, hi = l->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = be64(p + l->serials_off + 8 * mid);
        if (v == serial)
            return 1;
        if (v < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}
