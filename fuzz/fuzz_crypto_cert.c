/* fuzz_crypto_cert.c — libFuzzer target for the node certificate and revocation list decoders
 * (lt_cert.h).
 *
 * The input is tried as both. An accepted certificate: its fields lie inside it in the
 * documented places and not_before <= not_after. An accepted list: its serials ascend
 * strictly, each is found by lt_crl_contains, and the values between them are not. */
#include "lt_cert.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = (v << 8) | p[k];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_cert c;
    if (lt_cert_decode(data, size, &c) == LT_WIRE_OK) {
        REQUIRE(c.cluster_off == 3 && c.cluster_len >= 1);
        REQUIRE(c.node_off == c.cluster_off + c.cluster_len + 1 && c.node_len >= 1);
        REQUIRE(c.sign_pub_off == c.node_off + c.node_len);
        REQUIRE(c.kx_pub_off == c.sign_pub_off + 32);
        REQUIRE(c.sig_off == c.kx_pub_off + 32 + 24 && c.sig_off + 64 == size);
        REQUIRE(c.not_before <= c.not_after);
        REQUIRE(be64(data + c.kx_pub_off + 32 + 16) == c.serial);
    }
    lt_crl l;
    if (lt_crl_decode(data, size, &l) == LT_WIRE_OK) {
        REQUIRE(l.serials_off + 8 * (size_t)l.count + 64 == size && l.sig_off + 64 == size);
        for (uint32_t i = 0; i < l.count; i++) {
            uint64_t v = be64(data + l.serials_off + 8 * (size_t)i);
            REQUIRE(lt_crl_contains(data, &l, v));
            if (i > 0)
                REQUIRE(be64(data + l.serials_off + 8 * (size_t)(i - 1)) < v);
            if (v > 0 && (i == 0 || be64(data + l.serials_off + 8 * (size_t)(i - 1)) < v - 1))
                REQUIRE(!lt_crl_contains(data, &l, v - 1));
        }
    }
    return 0;
}
