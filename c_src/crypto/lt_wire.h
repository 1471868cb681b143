/*
 * lt_wire.h — what the decoders of the signed and sealed formats share (lt_envelope, lt_cert,
 * lt_quorum): a bounds-checked cursor over caller-owned bytes, and their result codes.
 *
 * Every read checks the bytes left before touching one and reads multi-byte integers
 * big-endian through explicit shifts; a failed read leaves the cursor "bad" (sticky), so a
 * decoder checks once at the end of a group of reads. Plain C99; knows nothing of the BEAM.
 */
#ifndef LT_WIRE_H
#define LT_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_WIRE_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LT_WIRE_WARN_UNUSED
#endif

/* The results of the decoders (the NIF glue maps them to atoms). */
typedef enum {
    LT_WIRE_OK = 0,
    LT_WIRE_MALFORMED, /* not a value of the format: truncated, trailing bytes, a bad tag,
                          version, flag, length or order */
    LT_WIRE_TOO_LARGE, /* bigger than the decoder's cap (before anything else is read) */
    LT_WIRE_DUPLICATE  /* the same signer twice (lt_quorum: `dup_index` says where) */
} lt_wire_err;

/* Domain tags: every signature of these formats is over a tag, then the signed bytes, so a
 * signature made for one format (or for anything outside lattice) is never valid for another. */
#define LT_WIRE_TAG_ENVELOPE "lattice.envelope.v1"
#define LT_WIRE_TAG_CERT "lattice.cert.v1"
#define LT_WIRE_TAG_CRL "lattice.crl.v1"
#define LT_WIRE_TAG_QUORUM "lattice.quorum.v1"

/* Type tags (the first byte of each format; docs/FORMAT.md). */
#define LT_WIRE_ENVELOPE 0x40
#define LT_WIRE_CERT 0x41
#define LT_WIRE_CRL 0x42
#define LT_WIRE_QUORUM 0x43
#define LT_WIRE_EVIDENCE 0x44
#define LT_WIRE_VERSION 0x01

#define LT_WIRE_SIG_BYTES 64
#define LT_WIRE_PUB_BYTES 32

typedef struct {
    const uint8_t *p; /* the caller's bytes */
    size_t len, off;
    int bad;
} lt_wire_cursor;

static inline void lt_wire_init(lt_wire_cursor *c, const uint8_t *p, size_t len) {
    c->p = p;
    c->len = len;
    c->off = 0;
    c->bad = 0;
}

static inline size_t lt_wire_left(const lt_wire_cursor *c) {
    return c->bad ? 0 : c->len - c->off;
}

/* The offset of the next n bytes, skipping them; on a short input the cursor goes bad and the
 * result is 0 (callers use it only when the cursor is good). */
static inline size_t lt_wire_take(lt_wire_cursor *c, size_t n) {
    if (c->bad || n > c->len - c->off) {
        c->bad = 1;
        return 0;
    }
    size_t at = c->off;
    c->off += n;
    return at;
}

static inline uint64_t lt_wire_uint(lt_wire_cursor *c, unsigned bytes) {
    size_t at = lt_wire_take(c, bytes);
    if (c->bad)
        return 0;
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = (v << 8) | c->p[at + k];
    return v;
}

static inline uint8_t lt_wire_u8(lt_wire_cursor *c) {
    return (uint8_t)lt_wire_uint(c, 1);
}

/* A u8 length (lo..hi) and that many bytes: *off and *len are set; bad when out of range. */
static inline void lt_wire_bytes8(lt_wire_cursor *c, size_t lo, size_t hi, size_t *off,
                                  size_t *len) {
    size_t n = lt_wire_u8(c);
    if (n < lo || n > hi)
        c->bad = 1;
    *len = n;
    *off = lt_wire_take(c, n);
}

/* Writers for the encoders (tests and fuzz round trips): the caller sizes `out`. */
static inline size_t lt_wire_put_uint(uint8_t *out, uint64_t v, unsigned bytes) {
    for (unsigned k = 0; k < bytes; k++)
        out[k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
    return bytes;
}

/* Compares two byte strings in the formats' canonical order: bytewise, a proper prefix
 * first. */
static inline int lt_wire_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

#endif
