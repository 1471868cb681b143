/* lt_envelope.c — parsing and writing envelope headers (lt_envelope.h). */
#include "lt_envelope.h"

size_t lt_envelope_nonce_len(uint8_t aead) {
    switch (aead) {
    case LT_ENVELOPE_AEAD_XCHACHA20POLY1305:
        return 24;
    case LT_ENVELOPE_AEAD_CHACHA20POLY1305:
    case LT_ENVELOPE_AEAD_AES256GCM:
        return 12;
    default:
        return 0;
    }
}

size_t lt_envelope_header_size(size_t sender_len, uint8_t aead) {
    size_t nonce = lt_envelope_nonce_len(aead);
    if (nonce == 0 || sender_len == 0 || sender_len > 255)
        return 0;
    return 5 + sender_len + 4 + 8 + nonce + 4;
}

lt_wire_err lt_envelope_decode(const uint8_t *p, size_t len, size_t max_plain, lt_envelope *e) {
    if (max_plain > LT_ENVELOPE_MAX_PLAIN)
        max_plain = LT_ENVELOPE_MAX_PLAIN;
    /* The biggest envelope of max_plain bytes; no overflow: max_plain <= 64 MiB. */
    size_t max_total =
        LT_ENVELOPE_MAX_HEADER + max_plain + LT_ENVELOPE_TAG_BYTES + LT_WIRE_SIG_BYTES;
    if (len > max_total)
        return LT_WIRE_TOO_LARGE;
    memset(e, 0, sizeof *e);
    lt_wire_cursor c;
    lt_wire_init(&c, p, len);
    uint8_t tag = lt_wire_u8(&c), version = lt_wire_u8(&c);
    e->flags = lt_wire_u8(&c);
    e->aead = lt_wire_u8(&c);
    if (c.bad || tag != LT_WIRE_ENVELOPE || version != LT_WIRE_VERSION ||
        (e->flags & ~LT_ENVELOPE_FLAG_SIGNED) != 0)
        return LT_WIRE_MALFORMED;
    e->nonce_len = lt_envelope_nonce_len(e->aead);
    if (e->nonce_len == 0)
        return LT_WIRE_MALFORMED;
    lt_wire_bytes8(&c, 1, 255, &e->sender_off, &e->sender_len);
    e->key_version = (uint32_t)lt_wire_uint(&c, 4);
    e->counter = lt_wire_uint(&c, 8);
    e->nonce_off = lt_wire_take(&c, e->nonce_len);
    uint64_t ct_len = lt_wire_uint(&c, 4);
    if (c.bad)
        return LT_WIRE_MALFORMED;
    if (ct_len > (uint64_t)max_plain + LT_ENVELOPE_TAG_BYTES)
        return LT_WIRE_TOO_LARGE;
    if (ct_len < LT_ENVELOPE_TAG_BYTES)
        return LT_WIRE_MALFORMED;
    e->header_len = c.off;
    e->ct_len = (size_t)ct_len;
    e->ct_off = lt_wire_take(&c, e->ct_len);
    if (e->flags & LT_ENVELOPE_FLAG_SIGNED)
        e->sig_off = lt_wire_take(&c, LT_WIRE_SIG_BYTES);
    if (c.bad || c.off != len)
        return LT_WIRE_MALFORMED;
    return LT_WIRE_OK;
}

size_t lt_envelope_write_header(uint8_t *out, uint8_t flags, uint8_t aead, const uint8_t *sender,
                                size_t sender_len, uint32_t key_version, uint64_t counter,
                                const uint8_t *nonce, uint32_t ct_len) {
    size_t size = lt_envelope_header_size(sender_len, aead);
    if (size == 0 || (flags & ~LT_ENVELOPE_FLAG_SIGNED) != 0 || ct_len < LT_ENVELOPE_TAG_BYTES)
        return 0;
    size_t o = 0, nlen = lt_envelope_nonce_len(aead);
    out[o++] = LT_WIRE_ENVELOPE;
    out[o++] = LT_WIRE_VERSION;
    out[o++] = flags;
    out[o++] = aead;
    out[o++] = (uint8_t)sender_len;
    memcpy(out + o, sender, sender_len);
    o += sender_len;
    o += lt_wire_put_uint(out + o, key_version, 4);
    o += lt_wire_put_uint(out + o, counter, 8);
    memcpy(out + o, nonce, nlen);
    o += nlen;
    o += lt_wire_put_uint(out + o, ct_len, 4);
    return o;
}
