/*
 * lt_common.h — what every part of the lattice core shares: error codes, a growable byte
 * buffer, explicit-byte-order reads and writes, and LEB128 varints.
 *
 * The core is plain C99 and knows nothing of the BEAM. Every function that reads untrusted
 * bytes takes the length and checks it before touching a byte.
 */
#ifndef LT_COMMON_H
#define LT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_WARN_UNUSED __attribute__((warn_unused_result))
#define LT_LIKELY(x) __builtin_expect(!!(x), 1)
#define LT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LT_WARN_UNUSED
#define LT_LIKELY(x) (x)
#define LT_UNLIKELY(x) (x)
#define LT_ALWAYS_INLINE inline
#endif

/* The one result type of every fallible function in the core and the NIF glue. LT_OK is zero;
 * every other value names what was wrong (the NIF maps them to atoms: see lt_err_name).
 * Predicates return int and are named is_/has_. */
typedef enum {
    LT_OK = 0,
    LT_E_TRUNCATED,    /* input ends in the middle of a value */
    LT_E_TRAILING,     /* bytes left over after a complete value */
    LT_E_BAD_TAG,      /* unknown type tag */
    LT_E_NONCANONICAL, /* a valid value in a form that is not the canonical one */
    LT_E_ORDER,        /* entries not in strictly ascending canonical order */
    LT_E_TOO_BIG,      /* a size above the decoder's cap */
    LT_E_TOO_DEEP,     /* nesting deeper than LT_CANON_MAX_DEPTH */
    LT_E_BAD_UTF8,     /* atom text that is not valid UTF-8 */
    LT_E_WRONG_TYPE,   /* a lattice binary of another type */
    LT_E_VERSION,      /* a lattice binary of a format version this build does not know */
    LT_E_OVERFLOW,     /* a counter or size would exceed its range */
    LT_E_ZERO,         /* a counter of zero where only positive ones are allowed */
    LT_E_ID,           /* an actor id that is not the hash of its actor */
    LT_E_BIAS,         /* two LWW-Element-Sets of different bias (lt_lwwset.h) */
    LT_E_ABSENT,       /* an update removes a key the state does not hold (lt_dotkernel.h) */
    LT_E_DOT,          /* a dot outside the state's causal context, or under two keys */
    LT_E_NOMEM,        /* out of memory (internal failure, not bad input) */
    /* Not errors of a binary's data (never in an {error, _} tuple): */
    LT_E_NOT_DATA, /* a term the canonical format does not hold (a pid, a fun): badarg */
    LT_E_BUDGET    /* a work budget ran out first: the caller resumes, or goes dirty */
} lt_err;

/* A static, lower-case name for an error (never NULL). */
const char *lt_err_name(lt_err err);

/* ---- growable buffer ---------------------------------------------------------------------
 * Owns `data` (malloc'd) unless `fixed`. Callers free it with lt_buf_free or take it over by
 * reading `data`/`len` and then setting `data` to NULL. `failed` is sticky: once an allocation
 * fails every later put is a no-op, so a sequence of puts needs a single check at the end. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
    int fixed; /* memory not ours: never realloc'd or freed. 1: running out of room fails;
                  2 (spill): it moves to the heap, and is then ours (fixed 0) */
} lt_buf;

void lt_buf_init(lt_buf *b);
/* A buffer over caller-owned memory of `cap` bytes (an ErlNifBinary, say): writes past `cap`
 * fail instead of growing, so the caller sizes it from an upper bound of the output. */
void lt_buf_init_fixed(lt_buf *b, uint8_t *data, size_t cap);
/* A buffer that starts in caller-owned memory (a stack array, to save a malloc on small
 * outputs) and moves to the heap when it outgrows it. lt_buf_free frees only heap memory. */
void lt_buf_init_spill(lt_buf *b, uint8_t *data, size_t cap);
void lt_buf_free(lt_buf *b);
/* Makes room for `extra` more bytes. Returns LT_OK, or LT_E_NOMEM (and sets `failed`) when
 * the size overflows, a fixed buffer is full, or memory runs out. The growing path is out of
 * line; the check is inline, as the writers below run per byte. */
lt_err lt_buf_grow(lt_buf *b, size_t extra);
static inline lt_err lt_buf_reserve(lt_buf *b, size_t extra) {
    if (LT_LIKELY(!b->failed && extra <= b->cap - b->len))
        return LT_OK;
    return lt_buf_grow(b, extra);
}

static inline void lt_buf_put(lt_buf *b, const void *p, size_t n) {
    if (n == 0 || lt_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void lt_buf_put_u8(lt_buf *b, uint8_t v) {
    if (lt_buf_reserve(b, 1) != 0)
        return;
    b->data[b->len++] = v;
}

/* ---- work in slices ---------------------------------------------------------------------- */
/* How much one step may do: `budget` units of `per` each (at least one unit), saturating. */
static inline size_t lt_slice_max(size_t budget, size_t per) {
    if (budget == 0)
        budget = 1;
    return budget > SIZE_MAX / per ? SIZE_MAX : budget * per;
}

/* A move of `len` bytes from offset `src` down to offset `dst` (dst <= src) in one buffer, in
 * slices for work that must pause (a merge that yields). Slices go in increasing order, so one
 * never overwrites bytes not yet moved. */
typedef struct {
    size_t dst, src, len, done;
} lt_move;

/* Moves the next slice of at most `max` bytes; returns its size. */
static inline size_t lt_move_slice(uint8_t *base, lt_move *m, size_t max) {
    size_t n = m->len - m->done < max ? m->len - m->done : max;
    memmove(base + m->dst + m->done, base + m->src + m->done, n);
    m->done += n;
    return n;
}

static inline int lt_move_is_done(const lt_move *m) {
    return m->done == m->len;
}

/* ---- byte order: always through memcpy, never a cast of an unaligned pointer ----------- */
static inline uint64_t lt_read_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#elif !defined(__BYTE_ORDER__)
    {
        const uint8_t *q = p;
        v = 0;
        for (int i = 0; i < 8; i++)
            v = (v << 8) | q[i];
    }
#endif
    return v;
}

static inline void lt_write_be64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#elif defined(__BYTE_ORDER__)
    memcpy(p, &v, 8);
#else
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
#endif
}

/* ---- LEB128 varints (unsigned, minimal) --------------------------------------------------
 * Encoded length of v: 1..10 bytes. */
static inline size_t lt_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at p (room for lt_varint_len(v) bytes is the caller's job); returns bytes written. */
static inline size_t lt_varint_write(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a minimal varint from p[*off..len). On success stores it in *out, advances *off and
 * returns LT_OK. A non-minimal encoding (a trailing zero group) is LT_E_NONCANONICAL, more
 * than 64 bits is LT_E_OVERFLOW, running off the end is LT_E_TRUNCATED. */
/* The general case, out of line so that the one- and two-byte paths below inline into the
 * merge loops (GCC otherwise outlines the whole function there: 14% of an OR-Set merge). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline, unused))
#endif
static lt_err
lt_varint_read_slow(const uint8_t *p, size_t len, size_t *off, uint64_t *out) {
    size_t i = *off;
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (i >= len)
            return LT_E_TRUNCATED;
        uint8_t byte = p[i++];
        if (shift == 63 && byte > 1)
            return LT_E_OVERFLOW;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (byte < 0x80) {
            if (byte == 0 && shift > 0)
                return LT_E_NONCANONICAL;
            break;
        }
        shift += 7;
        if (shift > 63)
            return LT_E_OVERFLOW;
    }
    *out = v;
    *off = i;
    return LT_OK;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline lt_err
lt_varint_read(const uint8_t *p, size_t len, size_t *off, uint64_t *out) {
    size_t i = *off;
    if (LT_LIKELY(i < len && p[i] < 0x80)) { /* the common one-byte case */
        *out = p[i];
        *off = i + 1;
        return LT_OK;
    }
    if (LT_LIKELY(i + 1 < len && p[i + 1] < 0x80 && p[i + 1] != 0)) { /* two bytes: < 2^14 */
        *out = (uint64_t)(p[i] & 0x7f) | (uint64_t)p[i + 1] << 7;
        *off = i + 2;
        return LT_OK;
    }
    return lt_varint_read_slow(p, len, off, out);
}

static inline void lt_buf_put_be64(lt_buf *b, uint64_t v) {
    if (lt_buf_reserve(b, 8) != 0)
        return;
    lt_write_be64(b->data + b->len, v);
    b->len += 8;
}

static inline void lt_buf_put_varint(lt_buf *b, uint64_t v) {
    if (lt_buf_reserve(b, lt_varint_len(v)) != 0)
        return;
    b->len += lt_varint_write(b->data + b->len, v);
}

/* Lexicographic comparison of two byte strings; a proper prefix sorts first. */
static inline int lt_bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/* The merge loops compare and copy one short element or entry per step, where a call into
 * libc's memcmp/memcpy (and its size dispatch) costs more than the work (17% and 12% of a
 * G-Set merge). Byte strings up to LT_SMALL_BYTES long are compared and copied inline, a word
 * at a time; up to LT_SHORT_SPAN (little-endian machines only, else 0) as two words, read past
 * their end where the caller knows the buffer has 16 bytes. */
#define LT_SMALL_BYTES 32
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LT_SHORT_SPAN 16
#else
#define LT_SHORT_SPAN 0
#endif

/* Whether the n bytes at x and y are equal, n <= LT_SHORT_SPAN, 16 bytes readable at both. */
static inline int lt_short_eq(const uint8_t *x, const uint8_t *y, size_t n) {
    uint64_t x0, y0, x1, y1;
    memcpy(&x0, x, 8);
    memcpy(&y0, y, 8);
    memcpy(&x1, x + 8, 8);
    memcpy(&y1, y + 8, 8);
    /* Little-endian: the first bytes are the low ones. */
    uint64_t m0 = n >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * n)) - 1;
    uint64_t m1 = n >= 16 ? ~(uint64_t)0 : n <= 8 ? 0 : ((uint64_t)1 << (8 * (n - 8))) - 1;
    return (((x0 ^ y0) & m0) | ((x1 ^ y1) & m1)) == 0;
}

/* Whether n bytes at a and b are equal. */
static inline int lt_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n > LT_SMALL_BYTES)
        return memcmp(a, b, n) == 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    for (; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* Whether n bytes at a and b are equal, for spans of a few dozen to a few hundred bytes (the
 * runs of shared entries the merges copy in bulk): inline, 16 bytes a step, the last word read
 * overlapping; memcmp past 256 bytes. */
static inline int lt_span_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n < 8 || n > 256)
        return n < 8 ? lt_bytes_eq(a, b, n) : memcmp(a, b, n) == 0;
    uint64_t d = 0, x, y, u, v;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        memcpy(&u, a + i + 8, 8);
        memcpy(&v, b + i + 8, 8);
        d |= (x ^ y) | (u ^ v);
        if (d != 0)
            return 0;
    }
    if (i + 8 <= n) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return (d | (x ^ y)) == 0;
}

/* Copies n bytes from src to dst (not overlapping). */
static inline void lt_copy(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n > LT_SMALL_BYTES) {
        memcpy(dst, src, n);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        memcpy(dst + i, src + i, 8);
    for (; i < n; i++)
        dst[i] = src[i];
}

/* The canonical order of (id, bytes) pairs — actors, keys, elements — in every format that
 * sorts them: by the 64-bit id, then the bytes. */
static inline int lt_actor_cmp(uint64_t ida, const uint8_t *a, size_t alen, uint64_t idb,
                               const uint8_t *b, size_t blen) {
    if (ida != idb)
        return ida < idb ? -1 : 1;
    return lt_bytes_cmp(a, alen, b, blen);
}

/* Overflow-checked size arithmetic: stores the result and returns LT_OK, or returns
 * LT_E_OVERFLOW. */
static inline lt_err lt_size_add(size_t a, size_t b, size_t *out) {
    if (a > SIZE_MAX - b)
        return LT_E_OVERFLOW;
    *out = a + b;
    return LT_OK;
}

static inline lt_err lt_size_mul(size_t a, size_t b, size_t *out) {
    if (b != 0 && a > SIZE_MAX / b)
        return LT_E_OVERFLOW;
    *out = a * b;
    return LT_OK;
}

/* Copies n bytes from src to dst (not overlapping), for the same spans as lt_span_eq: inline
 * 16 bytes a step up to 256 bytes, the last word written overlapping, memcpy past. */
static inline void lt_span_copy(uint8_t *dst, const uint8_t *src, size_t n) {
    if (n < 8 || n > 256) {
        lt_copy(dst, src, n);
        return;
    }
    uint64_t x, u;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        memcpy(&x, src + i, 8);
        memcpy(&u, src + i + 8, 8);
        memcpy(dst + i, &x, 8);
        memcpy(dst + i + 8, &u, 8);
    }
    if (i + 8 <= n) {
        memcpy(&x, src + i, 8);
        memcpy(dst + i, &x, 8);
    }
    memcpy(&x, src + n - 8, 8);
    memcpy(dst + n - 8, &x, 8);
}

#endif
