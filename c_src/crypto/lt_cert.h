/*
 * lt_cert.h — node certificates and revocation lists (docs/FORMAT.md, "Node certificate" and
 * "Revocation list"): parsing their bytes into offsets.
 *
 * Certificate:
 *   u8 0x41 | u8 version 1 | u8 n, n bytes cluster (1..255) | u8 m, m bytes node (1..255)
 *   | 32 bytes Ed25519 public key | 32 bytes X25519 public key | u64be not_before
 *   | u64be not_after (>= not_before) | u64be serial | 64 bytes signature
 * Revocation list:
 *   u8 0x42 | u8 version 1 | u8 n, n bytes cluster (1..255) | u64be sequence | u64be issued_at
 *   | u32be k (0..LT_CRL_MAX_SERIALS) | k u64be serials, strictly ascending | 64 bytes signature
 *
 * Both are signed by the cluster authority's Ed25519 key over their domain tag
 * (LT_WIRE_TAG_CERT or LT_WIRE_TAG_CRL, with its NUL) and every byte before the signature.
 * Times are seconds since the Unix epoch. The decoders only parse: they check the structure and
 * the size cap and verify nothing. Plain C99; knows nothing of the BEAM.
 */
#ifndef LT_CERT_H
#define LT_CERT_H

#include "lt_wire.h"

/* The largest certificate: 2 + 256 + 256 + 64 + 24 + 64. */
#define LT_CERT_MAX_BYTES 666
#define LT_CRL_MAX_SERIALS 65536
/* The largest revocation list: 2 + 256 + 16 + 4 + 8 * LT_CRL_MAX_SERIALS + 64. */
#define LT_CRL_MAX_BYTES (342 + 8 * LT_CRL_MAX_SERIALS)

typedef struct {
    size_t cluster_off, cluster_len, node_off, node_len;
    size_t sign_pub_off, kx_pub_off; /* LT_WIRE_PUB_BYTES each */
    uint64_t not_before, not_after, serial;
    size_t sig_off; /* the signed bytes are 0..sig_off */
} lt_cert;

typedef struct {
    size_t cluster_off, cluster_len;
    uint64_t sequence, issued_at;
    size_t serials_off; /* count u64be serials */
    uint32_t count;
    size_t sig_off;
} lt_crl;

/* Parses p[0..len) (the caller's): TOO_LARGE above LT_CERT_MAX_BYTES, MALFORMED for anything
 * that is not a certificate. */
lt_wire_err lt_cert_decode(const uint8_t *p, size_t len, lt_cert *c) LT_WIRE_WARN_UNUSED;

/* Parses p[0..len) (the caller's): TOO_LARGE above LT_CRL_MAX_BYTES, MALFORMED for anything
 * that is not a revocation list (serials out of order or repeated included). */
lt_wire_err lt_crl_decode(const uint8_t *p, size_t len, lt_crl *l) LT_WIRE_WARN_UNUSED;

/* Whether a decoded list p (the bytes lt_crl_decode accepted) names serial: a binary search. */
int lt_crl_contains(const uint8_t *p, const lt_crl *l, uint64_t serial);

#endif
