/* lt_canon.c — canonical term bytes: writers, reader and validator. See lt_canon.h. */
#include "lt_canon.h"

#include <math.h>
#include <stdlib.h>

static uint64_t zigzag(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u) {
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

void lt_canon_put_int(lt_buf *b, int64_t v) {
    lt_buf_put_u8(b, LT_TAG_INT);
    lt_buf_put_varint(b, zigzag(v));
}

/* True if the magnitude (big-endian, no leading zero, n bytes) with this sign fits int64. */
static int bigint_fits_int64(int negative, const uint8_t *mag, size_t n) {
    if (n < 8)
        return 1;
    if (n > 8)
        return 0;
    uint64_t m = lt_read_be64(mag);
    return negative ? m <= (uint64_t)1 << 63 : m <= (uint64_t)INT64_MAX;
}

lt_err lt_canon_put_bigint(lt_buf *b, int negative, const uint8_t *mag, size_t n) {
    while (n > 0 && mag[0] == 0) {
        mag++;
        n--;
    }
    if (n > LT_CANON_MAX_BIGINT_BYTES)
        return LT_E_TOO_BIG;
    if (bigint_fits_int64(negative, mag, n)) {
        uint64_t m = 0;
        for (size_t k = 0; k < n; k++)
            m = (m << 8) | mag[k];
        /* -2^63 has no positive int64 twin: negate in unsigned arithmetic. */
        int64_t v = negative ? (int64_t)(0 - m) : (int64_t)m;
        lt_canon_put_int(b, v);
        return LT_OK;
    }
    lt_buf_put_u8(b, LT_TAG_BIGINT);
    lt_buf_put_u8(b, negative ? 1 : 0);
    lt_buf_put_varint(b, n);
    lt_buf_put(b, mag, n);
    return LT_OK;
}

lt_err lt_canon_put_float(lt_buf *b, double v) {
    if (!isfinite(v))
        return LT_E_NONCANONICAL;
    if (v == 0.0)
        v = 0.0; /* folds -0.0 */
    uint64_t bits;
    memcpy(&bits, &v, 8);
    lt_buf_put_u8(b, LT_TAG_FLOAT);
    lt_buf_put_be64(b, bits);
    return LT_OK;
}

lt_err lt_canon_put_atom(lt_buf *b, const uint8_t *utf8, size_t n) {
    size_t chars;
    if (n > LT_CANON_MAX_ATOM_BYTES)
        return LT_E_TOO_BIG;
    lt_err e = lt_utf8_check(utf8, n, &chars);
    if (e != LT_OK)
        return e;
    if (chars > LT_CANON_MAX_ATOM_CHARS)
        return LT_E_TOO_BIG;
    lt_buf_put_u8(b, LT_TAG_ATOM);
    lt_buf_put_varint(b, n);
    lt_buf_put(b, utf8, n);
    return LT_OK;
}

void lt_canon_put_atom_latin1(lt_buf *b, const uint8_t *latin1, size_t n) {
    size_t out = n;
    for (size_t k = 0; k < n; k++)
        out += latin1[k] >= 0x80;
    lt_buf_put_u8(b, LT_TAG_ATOM);
    lt_buf_put_varint(b, out);
    if (lt_buf_reserve(b, out) != 0)
        return;
    uint8_t *w = b->data + b->len;
    for (size_t k = 0; k < n; k++) {
        uint8_t c = latin1[k];
        if (c < 0x80) {
            *w++ = c;
        } else {
            *w++ = (uint8_t)(0xC0 | (c >> 6));
            *w++ = (uint8_t)(0x80 | (c & 0x3F));
        }
    }
    b->len += out;
}

void lt_canon_put_binary(lt_buf *b, const uint8_t *p, size_t n) {
    lt_buf_put_u8(b, LT_TAG_BINARY);
    lt_buf_put_varint(b, n);
    lt_buf_put(b, p, n);
}

void lt_canon_put_tuple(lt_buf *b, size_t arity) {
    lt_buf_put_u8(b, LT_TAG_TUPLE);
    lt_buf_put_varint(b, arity);
}

void lt_canon_put_nil(lt_buf *b) {
    lt_buf_put_u8(b, LT_TAG_NIL);
}

void lt_canon_put_list(lt_buf *b, size_t n) {
    lt_buf_put_u8(b, LT_TAG_LIST);
    lt_buf_put_varint(b, n);
}

void lt_canon_put_map(lt_buf *b, size_t n) {
    lt_buf_put_u8(b, LT_TAG_MAP);
    lt_buf_put_varint(b, n);
}

/* Sort key: the first 8 bytes of the key, big-endian and zero-padded, settle almost every
 * comparison without a memcmp. Exact because canonical encodings are prefix-free: two keys
 * whose padded prefixes are equal either are equal there or both run past 8 bytes. */
typedef struct {
    uint64_t prefix;
    const uint8_t *key;
    size_t key_len;
    size_t pair_len;
} pair_key;

static uint64_t key_prefix(const uint8_t *k, size_t n) {
    uint8_t buf[8] = {0};
    memcpy(buf, k, n < 8 ? n : 8);
    return lt_read_be64(buf);
}

static int pair_key_cmp(const pair_key *a, const pair_key *b) {
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    return lt_bytes_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* qsort moves 8-byte pointers rather than 32-byte keys (glibc's merge sort copies elements). */
static int pair_key_ptr_cmp(const void *x, const void *y) {
    return pair_key_cmp(*(pair_key *const *)x, *(pair_key *const *)y);
}

lt_err lt_canon_sort_pairs(lt_buf *b, size_t pairs_off, const lt_canon_pair *pairs, size_t n) {
    if (b->failed)
        return LT_E_NOMEM;
    if (n < 2)
        return LT_OK;
    size_t bytes;
    if (lt_size_mul(n, sizeof(pair_key) + sizeof(pair_key *), &bytes) != 0)
        return LT_E_NOMEM;
    pair_key *keys = malloc(bytes);
    pair_key **order = (pair_key **)(keys + n);
    size_t region = b->len - pairs_off;
    uint8_t *copy = malloc(region);
    if (keys == NULL || copy == NULL) {
        free(keys);
        free(copy);
        return LT_E_NOMEM;
    }
    memcpy(copy, b->data + pairs_off, region);
    for (size_t k = 0; k < n; k++) {
        keys[k].key = copy + (pairs[k].off - pairs_off);
        keys[k].key_len = pairs[k].key_len;
        keys[k].pair_len = pairs[k].pair_len;
        keys[k].prefix = key_prefix(keys[k].key, keys[k].key_len);
        order[k] = &keys[k];
    }
    qsort(order, n, sizeof(pair_key *), pair_key_ptr_cmp);
    lt_err err = LT_OK;
    uint8_t *w = b->data + pairs_off;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && pair_key_cmp(order[k - 1], order[k]) == 0) {
            err = LT_E_NONCANONICAL;
            break;
        }
        memcpy(w, order[k]->key, order[k]->pair_len);
        w += order[k]->pair_len;
    }
    free(keys);
    free(copy);
    return err;
}

lt_err lt_canon_sort_map(lt_buf *b, size_t pairs_off, size_t n) {
    if (b->failed)
        return LT_E_NOMEM;
    if (n < 2)
        return LT_OK;
    size_t bytes;
    if (lt_size_mul(n, sizeof(lt_canon_pair), &bytes) != 0)
        return LT_E_NOMEM;
    lt_canon_pair *pairs = malloc(bytes);
    if (pairs == NULL)
        return LT_E_NOMEM;
    size_t off = pairs_off;
    lt_err err = LT_OK;
    for (size_t k = 0; k < n && err == LT_OK; k++) {
        pairs[k].off = off;
        err = lt_canon_skip(b->data, b->len, &off);
        pairs[k].key_len = off - pairs[k].off;
        if (err == LT_OK)
            err = lt_canon_skip(b->data, b->len, &off);
        pairs[k].pair_len = off - pairs[k].off;
    }
    if (err == LT_OK)
        err = lt_canon_sort_pairs(b, pairs_off, pairs, n);
    free(pairs);
    return err;
}

lt_err lt_utf8_check(const uint8_t *p, size_t n, size_t *chars) {
    size_t count = 0;
    size_t k = 0;
    while (k < n) {
        uint8_t c = p[k];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            k++;
            count++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return LT_E_BAD_UTF8;
        }
        if (n - k - 1 < need)
            return LT_E_BAD_UTF8;
        for (size_t j = 1; j <= need; j++) {
            uint8_t cc = p[k + j];
            if ((cc & 0xC0) != 0x80)
                return LT_E_BAD_UTF8;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return LT_E_BAD_UTF8;
        k += need + 1;
        count++;
    }
    *chars = count;
    return LT_OK;
}

/* Reads a varint length and checks that `len - *off` bytes can hold `count * min_each`. */
static lt_err read_count(const uint8_t *p, size_t len, size_t *off, uint64_t *count,
                         size_t min_each) {
    lt_err e = lt_varint_read(p, len, off, count);
    if (e != LT_OK)
        return e;
    /* min_each is 1 or 2: a shift, not a division (this runs for every container). */
    if (*count > (len - *off) >> (min_each - 1))
        return LT_E_TRUNCATED;
    return LT_OK;
}

lt_err lt_canon_next(const uint8_t *p, size_t len, size_t *off, lt_canon_item *it) {
    size_t o = *off;
    lt_err e;
    if (o >= len)
        return LT_E_TRUNCATED;
    it->tag = p[o++];
    it->n = 0;
    it->data = NULL;
    switch (it->tag) {
    case LT_TAG_INT: {
        uint64_t u;
        if ((e = lt_varint_read(p, len, &o, &u)) != LT_OK)
            return e;
        it->i = unzigzag(u);
        break;
    }
    case LT_TAG_BIGINT: {
        if (o >= len)
            return LT_E_TRUNCATED;
        uint8_t sign = p[o++];
        if (sign > 1)
            return LT_E_NONCANONICAL;
        if ((e = read_count(p, len, &o, &it->n, 1)) != LT_OK)
            return e;
        if (it->n > LT_CANON_MAX_BIGINT_BYTES)
            return LT_E_TOO_BIG;
        it->negative = sign;
        it->data = p + o;
        if (it->n == 0 || it->data[0] == 0 || bigint_fits_int64(sign, it->data, it->n))
            return LT_E_NONCANONICAL;
        o += it->n;
        break;
    }
    case LT_TAG_FLOAT: {
        if (len - o < 8)
            return LT_E_TRUNCATED;
        uint64_t bits = lt_read_be64(p + o);
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d) || bits == (uint64_t)1 << 63)
            return LT_E_NONCANONICAL;
        it->f = d;
        o += 8;
        break;
    }
    case LT_TAG_ATOM: {
        size_t chars;
        if ((e = read_count(p, len, &o, &it->n, 1)) != LT_OK)
            return e;
        if (it->n > LT_CANON_MAX_ATOM_BYTES)
            return LT_E_TOO_BIG;
        it->data = p + o;
        if ((e = lt_utf8_check(it->data, it->n, &chars)) != LT_OK)
            return e;
        if (chars > LT_CANON_MAX_ATOM_CHARS)
            return LT_E_TOO_BIG;
        o += it->n;
        break;
    }
    case LT_TAG_BINARY:
        if ((e = read_count(p, len, &o, &it->n, 1)) != LT_OK)
            return e;
        it->data = p + o;
        o += it->n;
        break;
    case LT_TAG_TUPLE:
        if ((e = read_count(p, len, &o, &it->n, 1)) != LT_OK)
            return e;
        break;
    case LT_TAG_NIL:
        break;
    case LT_TAG_LIST:
        /* n elements and a tail: n + 1 terms of at least one byte each. */
        if ((e = read_count(p, len, &o, &it->n, 1)) != LT_OK)
            return e;
        if (it->n == 0)
            return LT_E_NONCANONICAL;
        if (it->n >= len - o)
            return LT_E_TRUNCATED;
        break;
    case LT_TAG_MAP:
        if ((e = read_count(p, len, &o, &it->n, 2)) != LT_OK)
            return e;
        break;
    default:
        return LT_E_BAD_TAG;
    }
    *off = o;
    return LT_OK;
}

static lt_err skip_depth(const uint8_t *p, size_t len, size_t *off, unsigned depth) {
    lt_canon_item it;
    lt_err e;
    if (depth > LT_CANON_MAX_DEPTH)
        return LT_E_TOO_DEEP;
    if ((e = lt_canon_next(p, len, off, &it)) != LT_OK)
        return e;
    switch (it.tag) {
    case LT_TAG_TUPLE:
        for (uint64_t k = 0; k < it.n; k++)
            if ((e = skip_depth(p, len, off, depth + 1)) != LT_OK)
                return e;
        break;
    case LT_TAG_LIST:
        for (uint64_t k = 0; k < it.n; k++)
            if ((e = skip_depth(p, len, off, depth + 1)) != LT_OK)
                return e;
        if (*off < len && p[*off] == LT_TAG_LIST)
            return LT_E_NONCANONICAL; /* [a | [b]] must be written as [a, b] */
        if ((e = skip_depth(p, len, off, depth + 1)) != LT_OK)
            return e;
        break;
    case LT_TAG_MAP: {
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        for (uint64_t k = 0; k < it.n; k++) {
            size_t start = *off;
            if ((e = skip_depth(p, len, off, depth + 1)) != LT_OK)
                return e;
            const uint8_t *key = p + start;
            size_t key_len = *off - start;
            if (prev != NULL && lt_bytes_cmp(prev, prev_len, key, key_len) >= 0)
                return LT_E_ORDER;
            prev = key;
            prev_len = key_len;
            if ((e = skip_depth(p, len, off, depth + 1)) != LT_OK)
                return e;
        }
        break;
    }
    default:
        break;
    }
    return LT_OK;
}

lt_err lt_canon_skip(const uint8_t *p, size_t len, size_t *off) {
    return skip_depth(p, len, off, 0);
}

lt_err lt_canon_validate(const uint8_t *p, size_t len) {
    size_t off = 0;
    lt_err e = lt_canon_skip(p, len, &off);
    if (e != LT_OK)
        return e;
    return off == len ? LT_OK : LT_E_TRAILING;
}
