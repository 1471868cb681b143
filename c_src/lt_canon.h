/*
 * lt_canon.h — the canonical byte form of Erlang data terms (docs/FORMAT.md, "Terms").
 *
 * Equal terms (=:=) give identical bytes on every node and OTP version, and every byte string
 * has at most one reading, so bytes can be compared, sorted and hashed in place of terms. The
 * encoding is self-delimiting (no encoding is a proper prefix of another).
 *
 * This file knows no BEAM types: the NIF walks a term and calls the writers below; to decode,
 * the NIF validates the whole input with lt_canon_validate and then walks it with
 * lt_canon_next.
 */
#ifndef LT_CANON_H
#define LT_CANON_H

#include "lt_common.h"

enum {
    LT_TAG_INT = 0x01,    /* zigzag varint of a value in the int64 range */
    LT_TAG_BIGINT = 0x02, /* sign byte, varint n, n magnitude bytes big-endian; outside int64 */
    LT_TAG_FLOAT = 0x03,  /* 8 bytes IEEE 754 binary64 big-endian; finite, never -0.0 */
    LT_TAG_ATOM = 0x04,   /* varint n, n bytes of UTF-8 (at most 255 code points) */
    LT_TAG_BINARY = 0x05, /* varint n, n bytes */
    LT_TAG_TUPLE = 0x06,  /* varint arity, then the elements */
    LT_TAG_NIL = 0x07,    /* [] */
    LT_TAG_LIST = 0x08,   /* varint n >= 1, n elements, then the tail (never itself a list) */
    LT_TAG_MAP = 0x09     /* varint n, n key/value pairs, keys in strictly ascending bytes */
};

#define LT_CANON_MAX_DEPTH 100
#define LT_CANON_MAX_ATOM_CHARS 255
#define LT_CANON_MAX_ATOM_BYTES (4 * LT_CANON_MAX_ATOM_CHARS)
#define LT_CANON_MAX_BIGINT_BYTES 8192 /* 65536 bits */

/* ---- writers: append to `b` (errors are sticky in b->failed) ---------------------------- */
void lt_canon_put_int(lt_buf *b, int64_t v);
/* `mag` is the magnitude, big-endian, `n` bytes (leading zeros allowed: they are stripped).
 * Writes an INT when the value fits int64, as canonical form demands. Returns LT_E_TOO_BIG
 * above LT_CANON_MAX_BIGINT_BYTES. */
lt_err lt_canon_put_bigint(lt_buf *b, int negative, const uint8_t *mag, size_t n);
/* -0.0 is written as 0.0 (they are =:= on OTP 25); NaN and infinities are LT_E_NONCANONICAL
 * (no Erlang float has them). */
lt_err lt_canon_put_float(lt_buf *b, double v);
/* `utf8` must be valid UTF-8 of at most 255 code points, else LT_E_BAD_UTF8 / LT_E_TOO_BIG. */
lt_err lt_canon_put_atom(lt_buf *b, const uint8_t *utf8, size_t n);
/* An atom given as Latin-1 (as enif_get_atom returns it), converted to UTF-8. */
void lt_canon_put_atom_latin1(lt_buf *b, const uint8_t *latin1, size_t n);
void lt_canon_put_binary(lt_buf *b, const uint8_t *p, size_t n);
void lt_canon_put_tuple(lt_buf *b, size_t arity);
void lt_canon_put_nil(lt_buf *b);
/* Header of a list of n >= 1 elements; the caller writes the elements and then the tail. */
void lt_canon_put_list(lt_buf *b, size_t n);
void lt_canon_put_map(lt_buf *b, size_t n);
/* After writing n key/value pairs (in any order) starting at b->data + pairs_off, puts them in
 * canonical order. LT_E_NONCANONICAL if two keys are equal; LT_E_NOMEM on allocation failure. */
lt_err lt_canon_sort_map(lt_buf *b, size_t pairs_off, size_t n);

/* Where a writer put one key/value pair: `off` from b->data, the key's and the pair's length. */
typedef struct {
    size_t off, key_len, pair_len;
} lt_canon_pair;

/* lt_canon_sort_map for a writer that noted where each pair went (no re-parse). The pairs
 * must be consecutive from pairs_off to b->len. */
lt_err lt_canon_sort_pairs(lt_buf *b, size_t pairs_off, const lt_canon_pair *pairs, size_t n);

/* ---- reading ----------------------------------------------------------------------------- */
typedef struct {
    uint8_t tag;
    uint64_t n;          /* INT: unused; BIGINT/ATOM/BINARY: byte length; containers: count */
    int64_t i;           /* INT */
    double f;            /* FLOAT */
    int negative;        /* BIGINT */
    const uint8_t *data; /* BIGINT magnitude, ATOM text, BINARY bytes */
} lt_canon_item;

/* Reads one item header at p[*off..len): scalars completely and checked for canonical form,
 * containers only their count (at most the bytes left, so a count never asks for more memory
 * than the input has). Advances *off past what it read. Children are not checked. */
LT_WARN_UNUSED lt_err lt_canon_next(const uint8_t *p, size_t len, size_t *off, lt_canon_item *it);

/* Checks one complete term starting at p[*off..len) — every rule of the format, at any
 * depth — and advances *off past it. */
LT_WARN_UNUSED lt_err lt_canon_skip(const uint8_t *p, size_t len, size_t *off);

/* Checks that p[0..len) is exactly one canonical term. */
LT_WARN_UNUSED lt_err lt_canon_validate(const uint8_t *p, size_t len);

/* Checks UTF-8 (no overlongs, no surrogates, at most U+10FFFF); stores the code point count. */
LT_WARN_UNUSED lt_err lt_utf8_check(const uint8_t *p, size_t n, size_t *chars);

#endif
