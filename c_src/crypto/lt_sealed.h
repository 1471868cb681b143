/*
 * lt_sealed.h — the sealed export of a secret key: the key's secret bytes encrypted under a key
 * derived from a passphrase with Argon2id. docs/CRYPTO.md describes the format; version 1 is,
 * all integers big-endian:
 *
 *   offset size
 *        0    4  magic "LTSK"
 *        4    1  format version, 1
 *        5    1  key kind: 1 sign (Ed25519), 2 kx (X25519), 3 aead, 4 secret
 *        6    1  AEAD algorithm of an aead key: 1 xchacha20poly1305, 2 chacha20poly1305,
 *                3 aes256gcm; 0 for the other kinds
 *        7    1  password hash: 1 = Argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13)
 *        8    4  Argon2id opslimit (passes), 1..LT_SEALED_MAX_OPS
 *       12    4  Argon2id memlimit in KiB, 8..LT_SEALED_MAX_MEM_KIB
 *       16   16  salt
 *       32   24  XChaCha20-Poly1305-IETF nonce
 *       56    1  secret length L: 32 for sign (the Ed25519 seed), kx and aead; 16..64 for secret
 *       57 L+16  XChaCha20-Poly1305-IETF ciphertext of the L secret bytes and its tag, under the
 *                32-byte Argon2id output, with bytes 0..56 (the whole header) as associated data
 *
 * The whole export is 57 + L + 16 bytes, nothing before or after. The caps on the Argon2id cost
 * bound what a forged export can make the importer spend (1 GiB, 16 passes: libsodium's
 * SENSITIVE level is 1 GiB and 4 passes).
 */
#ifndef LT_SEALED_H
#define LT_SEALED_H

#include <stddef.h>
#include <stdint.h>

#include "lt_key.h"

#define LT_SEALED_VERSION 1
#define LT_SEALED_HEADER_BYTES 57
#define LT_SEALED_SALT_BYTES 16
#define LT_SEALED_NONCE_BYTES 24
#define LT_SEALED_MAX_OPS 16
#define LT_SEALED_MIN_MEM_KIB 8
#define LT_SEALED_MAX_MEM_KIB (1024 * 1024)
#define LT_SEALED_MAX_BYTES (LT_SEALED_HEADER_BYTES + LT_KEY_SECRET_MAX + LT_AEAD_TAG_BYTES)

typedef struct {
    lt_key_kind kind;
    lt_aead_alg alg;
    uint32_t ops, mem_kib;
    const uint8_t *salt, *nonce; /* into the parsed bytes */
    size_t len;                  /* of the secret */
    const uint8_t *cipher;       /* len + 16 bytes, into the parsed bytes */
} lt_sealed_hdr;

/* Parses an export of n bytes (any bytes: nothing is read beyond n, n is capped). 0 and h
 * filled (pointing into p), or -1 when it is not a version-1 export of a consistent kind,
 * algorithm, cost and length. */
int lt_sealed_parse(const uint8_t *p, size_t n, lt_sealed_hdr *h) LT_SECRET_WARN_UNUSED;

/* The size of the export of a secret of `len` bytes. */
size_t lt_sealed_size(size_t len);

/* Argon2id of the passphrase and salt into out[0..32) (the caller's slab memory): 0, or -1 when
 * Argon2id cannot run (no memory for memlimit). Runs for as long as the cost says: call it on a
 * thread that may block (a dirty scheduler). */
int lt_sealed_derive(uint8_t out[32], const uint8_t *pass, size_t passlen, const uint8_t *salt,
                     uint32_t ops, uint32_t mem_kib) LT_SECRET_WARN_UNUSED;

/* Writes the export of k's secret (lt_key_seed) to out[0..lt_sealed_size) under wrap (32 bytes
 * from lt_sealed_derive of `salt`), with the caller's random nonce. */
void lt_sealed_write(uint8_t *out, const lt_key *k, uint32_t ops, uint32_t mem_kib,
                     const uint8_t salt[LT_SEALED_SALT_BYTES],
                     const uint8_t nonce[LT_SEALED_NONCE_BYTES], const uint8_t wrap[32]);

/* Decrypts a parsed export (h from lt_sealed_parse of p) under wrap into secret[0..h->len)
 * (the caller's slab memory). 0, or -1 when the tag does not verify (a wrong passphrase, or
 * a changed byte anywhere); secret is then wiped. */
int lt_sealed_open(const lt_sealed_hdr *h, const uint8_t *p, const uint8_t wrap[32],
                   uint8_t *secret) LT_SECRET_WARN_UNUSED;

#endif
