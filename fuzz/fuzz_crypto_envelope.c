/* fuzz_crypto_envelope.c — libFuzzer target for the envelope decoder (lt_envelope.h).
 *
 * Any input: the decoder never reads outside it. An accepted input: every field lies inside it
 * and in order, writing the header again from the fields gives the same bytes, the cap is
 * exact (the plaintext's size passes, one byte less is too large), and every proper prefix is
 * refused. */
#include "lt_envelope.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_envelope e;
    lt_wire_err err = lt_envelope_decode(data, size, LT_ENVELOPE_MAX_PLAIN, &e);
    /* A small cap: never OK where the big one was not. */
    lt_envelope s;
    lt_wire_err small = lt_envelope_decode(data, size, 64, &s);
    REQUIRE(small != LT_WIRE_OK || err == LT_WIRE_OK);
    if (err != LT_WIRE_OK) {
        REQUIRE(err == LT_WIRE_MALFORMED || err == LT_WIRE_TOO_LARGE);
        return 0;
    }
    int is_signed = (e.flags & LT_ENVELOPE_FLAG_SIGNED) != 0;
    REQUIRE(e.sender_off == 5 && e.sender_len >= 1 && e.sender_len <= 255);
    REQUIRE(e.nonce_len == lt_envelope_nonce_len(e.aead) && e.nonce_len != 0);
    REQUIRE(e.header_len == lt_envelope_header_size(e.sender_len, e.aead));
    REQUIRE(e.ct_off == e.header_len && e.ct_len >= LT_ENVELOPE_TAG_BYTES);
    REQUIRE(e.ct_off + e.ct_len + (is_signed ? LT_WIRE_SIG_BYTES : 0) == size);
    REQUIRE(!is_signed || e.sig_off == e.ct_off + e.ct_len);
    uint8_t hdr[LT_ENVELOPE_MAX_HEADER];
    size_t h =
        lt_envelope_write_header(hdr, e.flags, e.aead, data + e.sender_off, e.sender_len,
                                 e.key_version, e.counter, data + e.nonce_off, (uint32_t)e.ct_len);
    REQUIRE(h == e.header_len && memcmp(hdr, data, h) == 0);
    size_t plain = e.ct_len - LT_ENVELOPE_TAG_BYTES;
    REQUIRE(lt_envelope_decode(data, size, plain, &s) == LT_WIRE_OK);
    if (plain > 0)
        REQUIRE(lt_envelope_decode(data, size, plain - 1, &s) == LT_WIRE_TOO_LARGE);
    for (size_t n = 0; n < size; n += 1 + n / 8) {
        uint8_t *q = malloc(n ? n : 1);
        REQUIRE(q != NULL);
        memcpy(q, data, n);
        REQUIRE(lt_envelope_decode(q, n, LT_ENVELOPE_MAX_PLAIN, &s) != LT_WIRE_OK);
        free(q);
    }
    return 0;
}
