/*
 * lt_envelope.h — the sealed-message envelope (docs/FORMAT.md, "Envelope"): parsing its bytes
 * into offsets, and writing a header.
 *
 *   u8 0x40 | u8 version 1 | u8 flags (bit 0: signed) | u8 aead | u8 n, n bytes sender (1..255)
 *   | u32be key version | u64be counter | nonce (24 bytes for aead 1, 12 for 2 and 3)
 *   | u32be c, the ciphertext's length with its 16-byte tag       <- the header ends here
 *   | c bytes ciphertext | 64 bytes Ed25519 signature when signed
 *
 * The header (everything up to and including c) is the AEAD's associated data, so no byte of
 * it can change without the MAC failing. The signature is over LT_WIRE_TAG_ENVELOPE (with its
 * NUL) and every byte before the signature.
 *
 * The decoder only parses: it checks the structure and the size cap and says where each field
 * is; it verifies nothing. Plain C99; knows nothing of the BEAM.
 */
#ifndef LT_ENVELOPE_H
#define LT_ENVELOPE_H

#include "lt_wire.h"

#define LT_ENVELOPE_FLAG_SIGNED 0x01
#define LT_ENVELOPE_AEAD_XCHACHA20POLY1305 1
#define LT_ENVELOPE_AEAD_CHACHA20POLY1305 2
#define LT_ENVELOPE_AEAD_AES256GCM 3
#define LT_ENVELOPE_TAG_BYTES 16
/* The largest plaintext any envelope may carry, whatever the caller's cap. */
#define LT_ENVELOPE_MAX_PLAIN (64u * 1024 * 1024)
/* The largest header: 5 + 255 + 4 + 8 + 24 + 4. */
#define LT_ENVELOPE_MAX_HEADER 300

typedef struct {
    uint8_t flags, aead;
    uint32_t key_version;
    uint64_t counter;
    size_t sender_off, sender_len;
    size_t nonce_off, nonce_len;
    size_t header_len; /* the associated data: bytes 0..header_len */
    size_t ct_off, ct_len;
    size_t sig_off; /* when flags & LT_ENVELOPE_FLAG_SIGNED; the signed bytes are 0..sig_off */
} lt_envelope;

/* The nonce length of an AEAD code, 0 for an unknown one. */
size_t lt_envelope_nonce_len(uint8_t aead);

/* Parses p[0..len) (the caller's) into *e. `max_plain` caps the plaintext (at most
 * LT_ENVELOPE_MAX_PLAIN; larger is taken as that): TOO_LARGE when the input or its declared
 * ciphertext is bigger than an envelope of max_plain bytes, checked first; MALFORMED for
 * anything that is not an envelope. */
lt_wire_err lt_envelope_decode(const uint8_t *p, size_t len, size_t max_plain,
                               lt_envelope *e) LT_WIRE_WARN_UNUSED;

/* The size of the header for a sender of `sender_len` bytes and an AEAD code (0 when either is
 * out of range). */
size_t lt_envelope_header_size(size_t sender_len, uint8_t aead);

/* Writes the header into out (lt_envelope_header_size bytes, the caller's) and returns its
 * size, or 0 when an argument is out of range. */
size_t lt_envelope_write_header(uint8_t *out, uint8_t flags, uint8_t aead, const uint8_t *sender,
                                size_t sender_len, uint32_t key_version, uint64_t counter,
                                const uint8_t *nonce, uint32_t ct_len);

#endif
