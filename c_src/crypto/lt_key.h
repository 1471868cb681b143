/*
 * lt_key.h — a key: what it is for, its secret half in slab memory (lt_secret.h), and its
 * public half where it has one. Plain C99 over libsodium; the NIF resource that holds an lt_key
 * is nif/crypto/lt_nif_key.h.
 *
 *   LT_KEY_SIGN    Ed25519: secret = libsodium's 64-byte secret key (seed || public key),
 *                  pub = the 32-byte public key;
 *   LT_KEY_KX      X25519: secret = the 32-byte scalar, pub = its base-point multiple;
 *   LT_KEY_AEAD    secret = the 32-byte key of `alg`; for AES-256-GCM, `sched` holds the
 *                  expanded key (crypto_aead_aes256gcm_state, 512 bytes), no pub;
 *   LT_KEY_SECRET  a generic symmetric secret of LT_KEY_SECRET_MIN..LT_KEY_SECRET_MAX bytes
 *                  (a crypto_kdf master key, a raw X25519 shared secret, a channel's transport
 *                  key before it is given a cipher), no pub.
 */
#ifndef LT_KEY_H
#define LT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "lt_secret.h"

typedef enum { LT_KEY_SIGN = 1, LT_KEY_KX = 2, LT_KEY_AEAD = 3, LT_KEY_SECRET = 4 } lt_key_kind;

typedef enum {
    LT_AEAD_NONE = 0,
    LT_AEAD_XCHACHA20POLY1305 = 1, /* XChaCha20-Poly1305-IETF, 24-byte nonce (the default) */
    LT_AEAD_CHACHA20POLY1305 = 2,  /* ChaCha20-Poly1305-IETF (RFC 8439), 12-byte nonce */
    LT_AEAD_AES256GCM = 3          /* AES-256-GCM, 12-byte nonce, where the CPU has AES-NI */
} lt_aead_alg;

#define LT_KEY_PUBLIC_BYTES 32
#define LT_KEY_SEED_BYTES 32
#define LT_KEY_SIGN_SECRET_BYTES 64
#define LT_KEY_SYM_BYTES 32
#define LT_KEY_SECRET_MIN 16
#define LT_KEY_SECRET_MAX 64
#define LT_AEAD_TAG_BYTES 16

typedef struct {
    lt_key_kind kind;
    lt_aead_alg alg; /* LT_AEAD_NONE unless kind is LT_KEY_AEAD */
    lt_secret secret;
    lt_secret sched;
    uint8_t pub[LT_KEY_PUBLIC_BYTES];
    int has_pub;
} lt_key;

typedef enum {
    LT_KEY_OK = 0,
    LT_KEY_E_NOMEM,       /* no slab memory */
    LT_KEY_E_LENGTH,      /* secret of the wrong length for the kind */
    LT_KEY_E_UNSUPPORTED, /* AES-256-GCM without the CPU support */
    LT_KEY_E_KIND         /* an unknown kind or algorithm */
} lt_key_err;

/* Whether this CPU runs libsodium's AES-256-GCM (AES-NI and PCLMUL). */
int lt_aead_aes256gcm_available(void);
/* The nonce length of alg (24 or 12), 0 for LT_AEAD_NONE. */
size_t lt_aead_nonce_bytes(lt_aead_alg alg);

/* Fills k (all zero before) from `len` secret bytes the caller keeps owning (it should wipe
 * them): for LT_KEY_SIGN the 32-byte seed, for LT_KEY_KX the 32-byte scalar, for LT_KEY_AEAD
 * the 32-byte key, for LT_KEY_SECRET 16..64 bytes. On success k owns its slots (free them with
 * lt_key_clear); on failure k is all zero. */
lt_key_err lt_key_from_secret(lt_key *k, lt_key_kind kind, lt_aead_alg alg, const uint8_t *secret,
                              size_t len) LT_SECRET_WARN_UNUSED;

/* A fresh random key of the kind (LT_KEY_SECRET: `len` bytes, ignored for the others); the
 * random bytes are made in slab memory. As lt_key_from_secret for ownership. */
lt_key_err lt_key_generate(lt_key *k, lt_key_kind kind, lt_aead_alg alg,
                           size_t len) LT_SECRET_WARN_UNUSED;

/* The bytes lt_key_from_secret would take to make k again (the seed of a signing key, the
 * key itself otherwise): a pointer into k's slab memory, valid while k is, and its length. */
const uint8_t *lt_key_seed(const lt_key *k, size_t *len);

/* The detached Ed25519 signature (64 bytes) of m[0..n) by a sign key: 0, or -1 when k is not a
 * sign key. For the C parts built on keys (envelopes, certificates, the channel). */
int lt_key_sign(const lt_key *k, uint8_t sig[64], const uint8_t *m, size_t n) LT_SECRET_WARN_UNUSED;

/* Whether sig (64 bytes) is a valid Ed25519 signature of m[0..n) by the 32-byte public key pk,
 * with libsodium's strict checks (non-canonical S, small-order or non-canonical points
 * refused): 1 or 0. */
int lt_ed25519_verify(const uint8_t pk[32], const uint8_t *m, size_t n,
                      const uint8_t sig[64]) LT_SECRET_WARN_UNUSED;

/* Wipes and frees k's slots; k becomes all zero. */
void lt_key_clear(lt_key *k);

#endif
