/* fuzz_canon.c — libFuzzer target for the canonical term reader and validator.
 *
 * Any input: lt_canon_validate and lt_canon_skip agree, and a walk with lt_canon_next never
 * reads out of bounds (ASan) whatever it meets. A valid input: a flat walk with lt_canon_next
 * consumes exactly `size` bytes; writing the items back with the lt_canon writers (maps
 * through lt_canon_sort_map) reproduces the input byte for byte, since there is one encoding
 * per term; and every proper prefix is truncated (the encoding is self-delimiting). */
#include "lt_canon.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Walks items with lt_canon_next alone, counting what containers promise, until the count is
 * met or an error. Returns the error; *end is where it stopped. */
static lt_err flat_walk(const uint8_t *p, size_t len, size_t *end) {
    uint64_t pending = 1;
    size_t off = 0;
    lt_err e = LT_OK;
    while (pending > 0) {
        lt_canon_item it;
        size_t before = off;
        if ((e = lt_canon_next(p, len, &off, &it)) != LT_OK) {
            REQUIRE(off == before); /* a failed read does not move */
            break;
        }
        REQUIRE(off > before && off <= len);
        pending--;
        /* Counts are bounded by the bytes left, so this never overflows. */
        if (it.tag == LT_TAG_TUPLE) {
            REQUIRE(it.n <= len - off);
            pending += it.n;
        } else if (it.tag == LT_TAG_LIST) {
            REQUIRE(it.n >= 1 && it.n < len - off);
            pending += it.n + 1;
        } else if (it.tag == LT_TAG_MAP) {
            REQUIRE(it.n <= (len - off) / 2);
            pending += 2 * it.n;
        } else if (it.tag == LT_TAG_ATOM || it.tag == LT_TAG_BINARY || it.tag == LT_TAG_BIGINT) {
            REQUIRE(it.data == p + off - it.n);
        }
    }
    *end = off;
    return e;
}

/* Writes the term at p[*off..) back with the writers. The input is valid, so every read
 * succeeds. */
static void rewrite(const uint8_t *p, size_t len, size_t *off, lt_buf *out) {
    lt_canon_item it;
    REQUIRE(lt_canon_next(p, len, off, &it) == LT_OK);
    switch (it.tag) {
    case LT_TAG_INT:
        lt_canon_put_int(out, it.i);
        break;
    case LT_TAG_BIGINT:
        REQUIRE(lt_canon_put_bigint(out, it.negative, it.data, (size_t)it.n) == LT_OK);
        break;
    case LT_TAG_FLOAT:
        REQUIRE(lt_canon_put_float(out, it.f) == LT_OK);
        break;
    case LT_TAG_ATOM:
        REQUIRE(lt_canon_put_atom(out, it.data, (size_t)it.n) == LT_OK);
        break;
    case LT_TAG_BINARY:
        lt_canon_put_binary(out, it.data, (size_t)it.n);
        break;
    case LT_TAG_TUPLE:
        lt_canon_put_tuple(out, (size_t)it.n);
        for (uint64_t k = 0; k < it.n; k++)
            rewrite(p, len, off, out);
        break;
    case LT_TAG_NIL:
        lt_canon_put_nil(out);
        break;
    case LT_TAG_LIST:
        lt_canon_put_list(out, (size_t)it.n);
        for (uint64_t k = 0; k <= it.n; k++) /* the elements, then the tail */
            rewrite(p, len, off, out);
        break;
    case LT_TAG_MAP: {
        lt_canon_put_map(out, (size_t)it.n);
        size_t pairs = out->len;
        /* Write the pairs in reverse, so sorting has real work to do. */
        size_t *starts = malloc((it.n ? (size_t)it.n : 1) * sizeof *starts);
        REQUIRE(starts != NULL);
        for (uint64_t k = 0; k < it.n; k++) {
            starts[k] = *off;
            size_t o = *off;
            REQUIRE(lt_canon_skip(p, len, &o) == LT_OK); /* key */
            REQUIRE(lt_canon_skip(p, len, &o) == LT_OK); /* value */
            *off = o;
        }
        size_t after = *off;
        for (uint64_t k = it.n; k-- > 0;) {
            size_t o = starts[k];
            rewrite(p, len, &o, out);
            rewrite(p, len, &o, out);
        }
        free(starts);
        *off = after;
        REQUIRE(lt_canon_sort_map(out, pairs, (size_t)it.n) == LT_OK);
        break;
    }
    default:
        REQUIRE(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_err e = lt_canon_validate(data, size);
    size_t off = 0;
    lt_err s = lt_canon_skip(data, size, &off);
    REQUIRE(off <= size);
    REQUIRE((e == LT_OK) == (s == LT_OK && off == size));
    if (s == LT_OK && off < size)
        REQUIRE(e == LT_E_TRAILING);
    if (s != LT_OK)
        REQUIRE(e == s);

    size_t end = 0;
    lt_err w = flat_walk(data, size, &end);
    if (e != LT_OK) {
        /* The flat walk checks scalars and counts but not map order, list tails or depth; it
         * may pass an input the validator refuses, never the other way round. */
        return 0;
    }
    REQUIRE(w == LT_OK && end == size);

    lt_buf out;
    lt_buf_init(&out);
    off = 0;
    rewrite(data, size, &off, &out);
    REQUIRE(off == size);
    REQUIRE(!out.failed);
    REQUIRE(out.len == size && memcmp(out.data, data, size) == 0);
    lt_buf_free(&out);

    /* Self-delimiting: no proper prefix is a term. All of them for small inputs, a few for
     * large ones. */
    for (size_t cut = 0; cut < size; cut++) {
        if (size > 256 && cut != 0 && cut != size - 1 && cut != size / 2 && cut % 97 != 0)
            continue;
        uint8_t *p = malloc(cut ? cut : 1);
        REQUIRE(p != NULL);
        memcpy(p, data, cut);
        REQUIRE(lt_canon_validate(p, cut) == LT_E_TRUNCATED);
        free(p);
    }
    return 0;
}
