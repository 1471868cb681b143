/*
 * lt_noise.h — the Noise handshake Noise_XX_25519_ChaChaPoly_BLAKE2b (Noise spec rev. 34), the
 * state machine and nothing else: no framing, no certificates, no clocks (lt_channel.h adds those).
 *
 *   XX:
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se
 *
 * DH is X25519 (crypto_scalarmult; an all-zero shared secret, from a low-order point, is refused),
 * the cipher ChaCha20-Poly1305-IETF with the nonce 32 zero bits || LE64(n), the hash BLAKE2b-512,
 * HMAC over BLAKE2b with a 128-byte block, and HKDF as the spec's section 4.3 defines it.
 *
 * Plain C99 over libsodium; no BEAM headers. Every lt_noise_hs holds secrets (the static and
 * ephemeral private keys, the chaining key, the cipher key): the caller puts it in sodium_malloc
 * memory and calls lt_noise_hs_wipe before freeing it. A state that refused a message is dead:
 * every later call on it returns LT_NOISE_E_STATE (a half-read message has changed h and ck).
 */
#ifndef LT_NOISE_H
#define LT_NOISE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_NOISE_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LT_NOISE_WARN_UNUSED
#endif

#define LT_NOISE_DHLEN 32
#define LT_NOISE_HASHLEN 64
#define LT_NOISE_BLOCKLEN 128
#define LT_NOISE_KEYLEN 32
#define LT_NOISE_TAGLEN 16
/* The spec's limit on any Noise message, handshake or transport. */
#define LT_NOISE_MAX_MSG 65535
/* A cap of ours on the prologue (the channel's is about 80 bytes). */
#define LT_NOISE_MAX_PROLOGUE 1024

#define LT_NOISE_PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_BLAKE2b"

typedef enum {
    LT_NOISE_OK = 0,
    LT_NOISE_E_MALFORMED, /* a message too short for its pattern, or a wrong size */
    LT_NOISE_E_TOO_LARGE, /* a message or payload over LT_NOISE_MAX_MSG, or the output too small */
    LT_NOISE_E_BAD_MAC,   /* a tag that does not verify */
    LT_NOISE_E_BAD_KEY,   /* a public key giving an all-zero DH output (a low-order point) */
    LT_NOISE_E_STATE,     /* a write when a read is due (or the reverse), after the end, or on
                             a state that has failed */
    LT_NOISE_E_NONCE      /* a cipher's 64-bit nonce would reach 2^64 - 1 (reserved) */
} lt_noise_err;

/* The static, lower-case name of an error (never NULL). */
const char *lt_noise_err_name(lt_noise_err err);

/* A CipherState: key, nonce, and whether a key is set. */
typedef struct {
    uint8_t k[LT_NOISE_KEYLEN];
    uint64_t n;
    int has_k;
} lt_noise_cipher;

typedef struct {
    lt_noise_cipher cs;
    uint8_t ck[LT_NOISE_HASHLEN];
    uint8_t h[LT_NOISE_HASHLEN];
    uint8_t s_sk[LT_NOISE_DHLEN], s_pk[LT_NOISE_DHLEN];
    uint8_t e_sk[LT_NOISE_DHLEN], e_pk[LT_NOISE_DHLEN];
    uint8_t rs[LT_NOISE_DHLEN], re[LT_NOISE_DHLEN];
    uint8_t initiator; /* 1 for the initiator */
    uint8_t step;      /* handshake messages processed so far: 0..3; 3 is done */
    uint8_t failed;    /* set by any refused message: the state is dead */
    uint8_t e_fixed;   /* an ephemeral key given by lt_noise_hs_fix_ephemeral (tests) */
} lt_noise_hs;

/* Starts a handshake. `s_sk` is the local static X25519 private key (copied; the caller keeps
 * its own); the public key is derived from it. `prologue` (plen bytes, at most
 * LT_NOISE_MAX_PROLOGUE) is mixed into h; both sides must give the same one. The ephemeral key
 * is drawn from randombytes when the first message of this side is written. */
LT_NOISE_WARN_UNUSED lt_noise_err lt_noise_hs_init(lt_noise_hs *hs, int initiator,
                                                   const uint8_t *prologue, size_t plen,
                                                   const uint8_t s_sk[LT_NOISE_DHLEN]);

/* For known-answer tests only: use `e_sk` as this side's ephemeral private key. Must be called
 * before this side writes its first message. */
void lt_noise_hs_fix_ephemeral(lt_noise_hs *hs, const uint8_t e_sk[LT_NOISE_DHLEN]);

/* Whether it is this side's turn to write (1) or to read (0); 0 as well when done or failed. */
int lt_noise_hs_write_due(const lt_noise_hs *hs);
int lt_noise_hs_done(const lt_noise_hs *hs);

/* The size of this side's next handshake message with a payload of plen bytes (0 when no write
 * is due). */
size_t lt_noise_hs_write_size(const lt_noise_hs *hs, size_t plen);

/* Writes the next handshake message with `payload` into out (cap bytes; the caller's buffer);
 * *outlen receives its size. A payload whose message would pass LT_NOISE_MAX_MSG, or a cap below
 * lt_noise_hs_write_size, gives LT_NOISE_E_TOO_LARGE without changing the state. */
LT_NOISE_WARN_UNUSED lt_noise_err lt_noise_hs_write(lt_noise_hs *hs, const uint8_t *payload,
                                                    size_t plen, uint8_t *out, size_t cap,
                                                    size_t *outlen);

/* Reads the peer's next handshake message (mlen bytes, untrusted) and writes its payload into
 * out (cap bytes; mlen is always enough); *outlen receives the payload's size. On any error the
 * state is dead (failed) and out holds nothing useful (it is wiped). */
LT_NOISE_WARN_UNUSED lt_noise_err lt_noise_hs_read(lt_noise_hs *hs, const uint8_t *msg, size_t mlen,
                                                   uint8_t *out, size_t cap, size_t *outlen);

/* After the third message: the two transport keys (Split()), this side's sending key in
 * `send_k` and receiving key in `recv_k`, and the handshake hash in `hash` (may be NULL). The
 * remote static key is hs->rs. Wipes the chaining key and the ephemeral private key. */
LT_NOISE_WARN_UNUSED lt_noise_err lt_noise_hs_split(lt_noise_hs *hs,
                                                    uint8_t send_k[LT_NOISE_KEYLEN],
                                                    uint8_t recv_k[LT_NOISE_KEYLEN],
                                                    uint8_t hash[LT_NOISE_HASHLEN]);

/* Wipes every field (sodium_memzero). */
void lt_noise_hs_wipe(lt_noise_hs *hs);

/* ---- the pieces, exposed for the transport and the tests ------------------------------------ */

/* HMAC-BLAKE2b-512 of data under key (klen at most LT_NOISE_BLOCKLEN). */
void lt_noise_hmac(const uint8_t *key, size_t klen, const uint8_t *data, size_t dlen,
                   uint8_t out[LT_NOISE_HASHLEN]);

/* HKDF(ck, ikm) with two (out3 NULL) or three outputs, each LT_NOISE_HASHLEN bytes. */
void lt_noise_hkdf(const uint8_t ck[LT_NOISE_HASHLEN], const uint8_t *ikm, size_t ilen,
                   uint8_t out1[LT_NOISE_HASHLEN], uint8_t out2[LT_NOISE_HASHLEN],
                   uint8_t out3[LT_NOISE_HASHLEN]);

/* ENCRYPT(k, n, ad, plaintext) of ChaChaPoly: out gets plen + LT_NOISE_TAGLEN bytes (out may be
 * plain: in place). DECRYPT: out gets clen - LT_NOISE_TAGLEN bytes; LT_NOISE_E_BAD_MAC on a bad
 * tag (out is then wiped), LT_NOISE_E_MALFORMED when clen < LT_NOISE_TAGLEN. */
void lt_noise_aead_encrypt(const uint8_t k[LT_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                           size_t adlen, const uint8_t *plain, size_t plen, uint8_t *out);
LT_NOISE_WARN_UNUSED lt_noise_err lt_noise_aead_decrypt(const uint8_t k[LT_NOISE_KEYLEN],
                                                        uint64_t n, const uint8_t *ad, size_t adlen,
                                                        const uint8_t *cipher, size_t clen,
                                                        uint8_t *out);

#endif
