/*
 * lt_aead.h — authenticated encryption with a key of lt_key.h: XChaCha20-Poly1305-IETF,
 * ChaCha20-Poly1305-IETF (RFC 8439) and AES-256-GCM, in libsodium's combined form (the
 * ciphertext followed by its 16-byte tag). Plain C99 over libsodium.
 */
#ifndef LT_AEAD_H
#define LT_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "lt_key.h"

/* The largest message lt_aead_seal takes for alg: libsodium's messagebytes_max (about 256 GiB
 * for the ChaCha20 ones, 64 GiB for AES-GCM), capped to what fits a size_t with the tag. */
size_t lt_aead_max_plain(lt_aead_alg alg);

/* Seals plain[0..plen) under k (an LT_KEY_AEAD key) with `nonce` (lt_aead_nonce_bytes of its
 * alg) and the associated data ad[0..adlen), writing plen + LT_AEAD_TAG_BYTES bytes to out
 * (the caller's, of that size). 0, or -1 when k is not an AEAD key or plen is too large.
 * out may not overlap plain. */
int lt_aead_seal(const lt_key *k, uint8_t *out, const uint8_t *plain, size_t plen,
                 const uint8_t *ad, size_t adlen, const uint8_t *nonce) LT_SECRET_WARN_UNUSED;

/* Opens cipher[0..clen) (ciphertext || 16-byte tag, clen >= LT_AEAD_TAG_BYTES), writing
 * clen - LT_AEAD_TAG_BYTES bytes to out. 0 when the tag verifies; -1 otherwise (a forgery, a
 * wrong key, nonce or AD, a short input), and then out holds nothing of the plaintext (libsodium
 * writes it only after the check, and out is wiped). */
int lt_aead_open(const lt_key *k, uint8_t *out, const uint8_t *cipher, size_t clen,
                 const uint8_t *ad, size_t adlen, const uint8_t *nonce) LT_SECRET_WARN_UNUSED;

#endif
