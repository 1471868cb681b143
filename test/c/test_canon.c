/* test_canon.c — canonical term bytes: writers (known answers), UTF-8, map sorting, the reader
 * and the validator (every non-canonical form refused with its error). See lt_canon.h. */
#include "lt_test.h"

#include "lt_canon.h"

#include <float.h>
#include <math.h>

/* The bytes in `b` are exactly the listed ones, and they validate as one term. */
#define EXPECT_TERM(b, ...)                                                                        \
    do {                                                                                           \
        const uint8_t want_[] = {__VA_ARGS__};                                                     \
        CHECK(!(b)->failed);                                                                       \
        CHECK_BYTES((b)->data, (b)->len, want_);                                                   \
        CHECK_ERR(lt_canon_validate(want_, sizeof want_), LT_OK);                                  \
    } while (0)

/* The listed bytes are refused by the validator with `err`. */
#define EXPECT_INVALID(err, ...)                                                                   \
    do {                                                                                           \
        const uint8_t bad_[] = {__VA_ARGS__};                                                      \
        CHECK_ERR(lt_canon_validate(bad_, sizeof bad_), err);                                      \
    } while (0)

static void reset(lt_buf *b) {
    lt_buf_free(b);
    lt_buf_init(b);
}

static void test_int(void) {
    lt_buf b;
    lt_buf_init(&b);
    lt_canon_put_int(&b, 0);
    EXPECT_TERM(&b, 0x01, 0x00);
    reset(&b);
    lt_canon_put_int(&b, -1);
    EXPECT_TERM(&b, 0x01, 0x01);
    reset(&b);
    lt_canon_put_int(&b, 1);
    EXPECT_TERM(&b, 0x01, 0x02);
    reset(&b);
    lt_canon_put_int(&b, 63);
    EXPECT_TERM(&b, 0x01, 0x7e);
    reset(&b);
    lt_canon_put_int(&b, -64);
    EXPECT_TERM(&b, 0x01, 0x7f);
    reset(&b);
    lt_canon_put_int(&b, 64);
    EXPECT_TERM(&b, 0x01, 0x80, 0x01);
    reset(&b);
    lt_canon_put_int(&b, -65);
    EXPECT_TERM(&b, 0x01, 0x81, 0x01);
    reset(&b);
    lt_canon_put_int(&b, INT64_MAX);
    EXPECT_TERM(&b, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    reset(&b);
    lt_canon_put_int(&b, INT64_MIN);
    EXPECT_TERM(&b, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    lt_buf_free(&b);

    /* Read back through lt_canon_next, across the range. */
    const int64_t vals[] = {0,
                            1,
                            -1,
                            2,
                            -2,
                            1000,
                            -1000,
                            INT32_MAX,
                            INT32_MIN,
                            INT64_MAX,
                            INT64_MIN,
                            INT64_MAX - 1,
                            INT64_MIN + 1};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        lt_buf_init(&b);
        lt_canon_put_int(&b, vals[k]);
        size_t off = 0;
        lt_canon_item it;
        CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
        CHECK(it.tag == LT_TAG_INT && it.i == vals[k] && off == b.len);
        lt_buf_free(&b);
    }
}

static void test_bigint(void) {
    lt_buf b;
    lt_buf_init(&b);
    /* 2^64: outside int64, a BIGINT. */
    const uint8_t two64[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_ERR(lt_canon_put_bigint(&b, 0, two64, sizeof two64), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x00, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    CHECK_ERR(lt_canon_put_bigint(&b, 1, two64, sizeof two64), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x01, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    /* Leading zeros are stripped. */
    const uint8_t two64z[] = {0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_ERR(lt_canon_put_bigint(&b, 0, two64z, sizeof two64z), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x00, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    /* A magnitude that fits int64 is written as an INT. */
    const uint8_t small[] = {0x12, 0x34};
    CHECK_ERR(lt_canon_put_bigint(&b, 0, small, sizeof small), LT_OK);
    EXPECT_TERM(&b, 0x01, 0xe8, 0x48); /* zigzag(0x1234) = 0x2468 */
    reset(&b);
    CHECK_ERR(lt_canon_put_bigint(&b, 1, small, sizeof small), LT_OK);
    EXPECT_TERM(&b, 0x01, 0xe7, 0x48); /* zigzag(-0x1234) = 0x2467 */
    reset(&b);
    const uint8_t max63[] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_ERR(lt_canon_put_bigint(&b, 0, max63, sizeof max63), LT_OK);
    EXPECT_TERM(&b, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    reset(&b);
    const uint8_t max63z[] = {0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_ERR(lt_canon_put_bigint(&b, 0, max63z, sizeof max63z), LT_OK);
    EXPECT_TERM(&b, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    reset(&b);
    /* 2^63: INT64_MIN when negative (through the bigint path), a BIGINT when positive. */
    const uint8_t two63[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    CHECK_ERR(lt_canon_put_bigint(&b, 1, two63, sizeof two63), LT_OK);
    EXPECT_TERM(&b, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    {
        size_t off = 0;
        lt_canon_item it;
        CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
        CHECK(it.tag == LT_TAG_INT && it.i == INT64_MIN);
    }
    reset(&b);
    CHECK_ERR(lt_canon_put_bigint(&b, 0, two63, sizeof two63), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x00, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    /* -(2^63 + 1) and -(2^64 - 1): just outside, BIGINT. */
    const uint8_t two63p1[] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    CHECK_ERR(lt_canon_put_bigint(&b, 1, two63p1, sizeof two63p1), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x01, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 1);
    reset(&b);
    const uint8_t u64max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_ERR(lt_canon_put_bigint(&b, 1, u64max, sizeof u64max), LT_OK);
    EXPECT_TERM(&b, 0x02, 0x01, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    reset(&b);
    /* Zero, however written and whatever its sign, is the INT 0. */
    const uint8_t zeros[] = {0, 0, 0};
    CHECK_ERR(lt_canon_put_bigint(&b, 1, zeros, sizeof zeros), LT_OK);
    EXPECT_TERM(&b, 0x01, 0x00);
    reset(&b);
    CHECK_ERR(lt_canon_put_bigint(&b, 1, zeros, 0), LT_OK);
    EXPECT_TERM(&b, 0x01, 0x00);
    reset(&b);

    /* The size cap: 8192 magnitude bytes is fine, 8193 is not (leading zeros don't count). */
    uint8_t *mag = calloc(LT_CANON_MAX_BIGINT_BYTES + 2, 1);
    CHECK(mag != NULL);
    mag[1] = 0x01;
    CHECK_ERR(lt_canon_put_bigint(&b, 0, mag + 1, LT_CANON_MAX_BIGINT_BYTES), LT_OK);
    CHECK(b.len == 1 + 1 + 2 + LT_CANON_MAX_BIGINT_BYTES);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    reset(&b);
    CHECK_ERR(lt_canon_put_bigint(&b, 0, mag, LT_CANON_MAX_BIGINT_BYTES + 1), LT_OK);
    CHECK(b.len == 1 + 1 + 2 + LT_CANON_MAX_BIGINT_BYTES);
    reset(&b);
    mag[0] = 0x01;
    CHECK_ERR(lt_canon_put_bigint(&b, 0, mag, LT_CANON_MAX_BIGINT_BYTES + 1), LT_E_TOO_BIG);
    CHECK(b.len == 0);
    free(mag);
    lt_buf_free(&b);
}

static void test_float(void) {
    lt_buf b;
    lt_buf_init(&b);
    CHECK_ERR(lt_canon_put_float(&b, 1.0), LT_OK);
    EXPECT_TERM(&b, 0x03, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    CHECK_ERR(lt_canon_put_float(&b, -2.5), LT_OK);
    EXPECT_TERM(&b, 0x03, 0xc0, 0x04, 0, 0, 0, 0, 0, 0);
    reset(&b);
    CHECK_ERR(lt_canon_put_float(&b, 0.0), LT_OK);
    EXPECT_TERM(&b, 0x03, 0, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    /* -0.0 is folded into 0.0. */
    CHECK_ERR(lt_canon_put_float(&b, -0.0), LT_OK);
    EXPECT_TERM(&b, 0x03, 0, 0, 0, 0, 0, 0, 0, 0);
    reset(&b);
    /* The smallest subnormal and the largest finite. */
    CHECK_ERR(lt_canon_put_float(&b, 4.9406564584124654e-324), LT_OK);
    EXPECT_TERM(&b, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x01);
    reset(&b);
    CHECK_ERR(lt_canon_put_float(&b, -DBL_MAX), LT_OK);
    EXPECT_TERM(&b, 0x03, 0xff, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    reset(&b);
    /* NaN and the infinities are refused, and nothing is written. */
    CHECK_ERR(lt_canon_put_float(&b, NAN), LT_E_NONCANONICAL);
    CHECK_ERR(lt_canon_put_float(&b, -NAN), LT_E_NONCANONICAL);
    CHECK_ERR(lt_canon_put_float(&b, INFINITY), LT_E_NONCANONICAL);
    CHECK_ERR(lt_canon_put_float(&b, -INFINITY), LT_E_NONCANONICAL);
    CHECK(b.len == 0 && !b.failed);
    /* Read back. */
    CHECK_ERR(lt_canon_put_float(&b, 3.141592653589793), LT_OK);
    size_t off = 0;
    lt_canon_item it;
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_FLOAT && it.f == 3.141592653589793 && off == 9);
    lt_buf_free(&b);
}

static void test_atom_binary(void) {
    lt_buf b;
    lt_buf_init(&b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"a", 1), LT_OK);
    EXPECT_TERM(&b, 0x04, 0x01, 0x61);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"", 0), LT_OK);
    EXPECT_TERM(&b, 0x04, 0x00);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"\xc3\xbc", 2), LT_OK);
    EXPECT_TERM(&b, 0x04, 0x02, 0xc3, 0xbc);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"\xc0\x80", 2), LT_E_BAD_UTF8);
    CHECK(b.len == 0);
    /* Latin-1 atoms come out as UTF-8. */
    lt_canon_put_atom_latin1(&b, (const uint8_t *)"abc", 3);
    EXPECT_TERM(&b, 0x04, 0x03, 0x61, 0x62, 0x63);
    reset(&b);
    lt_canon_put_atom_latin1(&b, (const uint8_t *)"\xfc", 1);
    EXPECT_TERM(&b, 0x04, 0x02, 0xc3, 0xbc);
    reset(&b);
    lt_canon_put_atom_latin1(&b, (const uint8_t *)"x\x80\xff", 3);
    EXPECT_TERM(&b, 0x04, 0x05, 0x78, 0xc2, 0x80, 0xc3, 0xbf);
    reset(&b);
    lt_canon_put_atom_latin1(&b, (const uint8_t *)"", 0);
    EXPECT_TERM(&b, 0x04, 0x00);
    reset(&b);
    /* Latin-1 and UTF-8 writers agree. */
    {
        uint8_t latin[255];
        for (size_t k = 0; k < sizeof latin; k++)
            latin[k] = (uint8_t)(k + 1);
        lt_canon_put_atom_latin1(&b, latin, sizeof latin);
        CHECK(!b.failed);
        size_t off = 0;
        lt_canon_item it;
        CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
        CHECK(it.tag == LT_TAG_ATOM && off == b.len);
        lt_buf u;
        lt_buf_init(&u);
        CHECK_ERR(lt_canon_put_atom(&u, it.data, (size_t)it.n), LT_OK);
        CHECK_MEM(u.data, u.len, b.data, b.len);
        lt_buf_free(&u);
        reset(&b);
    }

    /* The character limit: 255 code points, whatever their width. */
    uint8_t text[4 * 256 + 4];
    memset(text, 'x', sizeof text);
    CHECK_ERR(lt_canon_put_atom(&b, text, 255), LT_OK);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, text, 256), LT_E_TOO_BIG);
    CHECK(b.len == 0);
    for (size_t k = 0; k < 256; k++)
        memcpy(text + 4 * k, "\xf0\x9f\x98\x80", 4); /* U+1F600 */
    CHECK_ERR(lt_canon_put_atom(&b, text, 4 * 255), LT_OK);
    CHECK(b.len == 1 + 2 + 4 * 255);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, text, 4 * 256), LT_E_TOO_BIG);
    CHECK_ERR(lt_canon_put_atom(&b, text, 4 * 255 + 1), LT_E_TOO_BIG);
    for (size_t k = 0; k < 256; k++)
        memcpy(text + 3 * k, "\xe2\x82\xac", 3); /* U+20AC */
    CHECK_ERR(lt_canon_put_atom(&b, text, 3 * 255), LT_OK);
    reset(&b);
    CHECK_ERR(lt_canon_put_atom(&b, text, 3 * 256), LT_E_TOO_BIG);
    CHECK(b.len == 0);

    /* Binaries. */
    lt_canon_put_binary(&b, NULL, 0);
    EXPECT_TERM(&b, 0x05, 0x00);
    reset(&b);
    lt_canon_put_binary(&b, (const uint8_t *)"\x01\x02\x03", 3);
    EXPECT_TERM(&b, 0x05, 0x03, 0x01, 0x02, 0x03);
    reset(&b);
    uint8_t blob[200];
    for (size_t k = 0; k < sizeof blob; k++)
        blob[k] = (uint8_t)k;
    lt_canon_put_binary(&b, blob, sizeof blob);
    CHECK(b.len == 3 + sizeof blob && b.data[0] == 0x05 && b.data[1] == 0xc8 && b.data[2] == 0x01);
    CHECK(memcmp(b.data + 3, blob, sizeof blob) == 0);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    {
        size_t off = 0;
        lt_canon_item it;
        CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
        CHECK(it.tag == LT_TAG_BINARY && it.n == sizeof blob && it.data == b.data + 3);
    }
    lt_buf_free(&b);
}

static void test_containers(void) {
    lt_buf b;
    lt_buf_init(&b);
    lt_canon_put_nil(&b);
    EXPECT_TERM(&b, 0x07);
    reset(&b);
    lt_canon_put_tuple(&b, 0);
    EXPECT_TERM(&b, 0x06, 0x00);
    reset(&b);
    lt_canon_put_tuple(&b, 2);
    lt_canon_put_int(&b, 1);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"a", 1), LT_OK);
    EXPECT_TERM(&b, 0x06, 0x02, 0x01, 0x02, 0x04, 0x01, 0x61);
    reset(&b);
    /* [1] */
    lt_canon_put_list(&b, 1);
    lt_canon_put_int(&b, 1);
    lt_canon_put_nil(&b);
    EXPECT_TERM(&b, 0x08, 0x01, 0x01, 0x02, 0x07);
    reset(&b);
    /* [1, 2, 3] */
    lt_canon_put_list(&b, 3);
    lt_canon_put_int(&b, 1);
    lt_canon_put_int(&b, 2);
    lt_canon_put_int(&b, 3);
    lt_canon_put_nil(&b);
    EXPECT_TERM(&b, 0x08, 0x03, 0x01, 0x02, 0x01, 0x04, 0x01, 0x06, 0x07);
    reset(&b);
    /* [1 | 2] */
    lt_canon_put_list(&b, 1);
    lt_canon_put_int(&b, 1);
    lt_canon_put_int(&b, 2);
    EXPECT_TERM(&b, 0x08, 0x01, 0x01, 0x02, 0x01, 0x04);
    reset(&b);
    /* [[]] */
    lt_canon_put_list(&b, 1);
    lt_canon_put_nil(&b);
    lt_canon_put_nil(&b);
    EXPECT_TERM(&b, 0x08, 0x01, 0x07, 0x07);
    reset(&b);
    /* #{} and #{a => 1} */
    lt_canon_put_map(&b, 0);
    EXPECT_TERM(&b, 0x09, 0x00);
    reset(&b);
    lt_canon_put_map(&b, 1);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"a", 1), LT_OK);
    lt_canon_put_int(&b, 1);
    EXPECT_TERM(&b, 0x09, 0x01, 0x04, 0x01, 0x61, 0x01, 0x02);
    reset(&b);
    /* {<<"k">>, [a | b], 2.0} */
    lt_canon_put_tuple(&b, 3);
    lt_canon_put_binary(&b, (const uint8_t *)"k", 1);
    lt_canon_put_list(&b, 1);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"a", 1), LT_OK);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"b", 1), LT_OK);
    CHECK_ERR(lt_canon_put_float(&b, 2.0), LT_OK);
    EXPECT_TERM(&b, 0x06, 0x03, 0x05, 0x01, 0x6b, 0x08, 0x01, 0x04, 0x01, 0x61, 0x04, 0x01, 0x62,
                0x03, 0x40, 0x00, 0, 0, 0, 0, 0, 0);
    lt_buf_free(&b);
}

static void test_sort_map(void) {
    lt_buf b;
    lt_buf_init(&b);
    /* #{b => 1, a => [x], 1 => <<>>}, written in that order. */
    lt_canon_put_map(&b, 3);
    size_t pairs = b.len;
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"b", 1), LT_OK);
    lt_canon_put_int(&b, 1);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"a", 1), LT_OK);
    lt_canon_put_list(&b, 1);
    CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)"x", 1), LT_OK);
    lt_canon_put_nil(&b);
    lt_canon_put_int(&b, 1);
    lt_canon_put_binary(&b, NULL, 0);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_E_ORDER);
    CHECK_ERR(lt_canon_sort_map(&b, pairs, 3), LT_OK);
    EXPECT_TERM(&b, 0x09, 0x03,                                       /* */
                0x01, 0x02, 0x05, 0x00,                               /* 1 => <<>> */
                0x04, 0x01, 0x61, 0x08, 0x01, 0x04, 0x01, 0x78, 0x07, /* a => [x] */
                0x04, 0x01, 0x62, 0x01, 0x02);                        /* b => 1 */
    reset(&b);

    /* A key that is a prefix of another's bytes sorts first: <<>> before <<0>>. */
    lt_canon_put_map(&b, 2);
    pairs = b.len;
    lt_canon_put_binary(&b, (const uint8_t *)"\0", 1);
    lt_canon_put_nil(&b);
    lt_canon_put_binary(&b, NULL, 0);
    lt_canon_put_nil(&b);
    CHECK_ERR(lt_canon_sort_map(&b, pairs, 2), LT_OK);
    EXPECT_TERM(&b, 0x09, 0x02, 0x05, 0x00, 0x07, 0x05, 0x01, 0x00, 0x07);
    reset(&b);

    /* Duplicate keys are refused. */
    lt_canon_put_map(&b, 3);
    pairs = b.len;
    lt_canon_put_int(&b, 5);
    lt_canon_put_int(&b, 1);
    lt_canon_put_int(&b, 6);
    lt_canon_put_int(&b, 2);
    lt_canon_put_int(&b, 5);
    lt_canon_put_int(&b, 3);
    CHECK_ERR(lt_canon_sort_map(&b, pairs, 3), LT_E_NONCANONICAL);
    reset(&b);

    /* Zero and one pair: nothing to do. */
    lt_canon_put_map(&b, 0);
    CHECK_ERR(lt_canon_sort_map(&b, b.len, 0), LT_OK);
    EXPECT_TERM(&b, 0x09, 0x00);
    reset(&b);
    lt_canon_put_map(&b, 1);
    pairs = b.len;
    lt_canon_put_int(&b, 9);
    lt_canon_put_nil(&b);
    CHECK_ERR(lt_canon_sort_map(&b, pairs, 1), LT_OK);
    EXPECT_TERM(&b, 0x09, 0x01, 0x01, 0x12, 0x07);
    reset(&b);

    /* A failed buffer is reported, not sorted. */
    uint8_t mem[4];
    lt_buf fx;
    lt_buf_init_fixed(&fx, mem, sizeof mem);
    lt_canon_put_map(&fx, 2);
    lt_canon_put_int(&fx, 1);
    lt_canon_put_int(&fx, 2); /* does not fit */
    CHECK(fx.failed);
    CHECK_ERR(lt_canon_sort_map(&fx, 2, 2), LT_E_NOMEM);

    /* Random maps with distinct keys, written in random order: sorted, they validate, and
     * sorting twice changes nothing. */
    uint64_t rng = 7;
    unsigned bad = 0;
    for (int it = 0; it < 300; it++) {
        size_t n = lt_test_below(&rng, 40);
        int64_t keys[40];
        for (size_t k = 0; k < n; k++) {
            int64_t key;
            int dup;
            do {
                key = (int64_t)(lt_test_rand(&rng) >> (1 + lt_test_below(&rng, 63)));
                if (lt_test_rand(&rng) & 1)
                    key = -key;
                dup = 0;
                for (size_t j = 0; j < k; j++)
                    dup |= keys[j] == key;
            } while (dup);
            keys[k] = key;
        }
        lt_canon_put_map(&b, n);
        pairs = b.len;
        for (size_t k = 0; k < n; k++) {
            lt_canon_put_int(&b, keys[k]);
            lt_canon_put_binary(&b, (const uint8_t *)"value", k % 6);
        }
        if (lt_canon_sort_map(&b, pairs, n) != LT_OK || lt_canon_validate(b.data, b.len) != LT_OK)
            bad++;
        size_t len1 = b.len;
        uint8_t *copy = malloc(len1);
        if (copy == NULL) {
            bad++;
        } else {
            memcpy(copy, b.data, len1);
            if (lt_canon_sort_map(&b, pairs, n) != LT_OK || b.len != len1 ||
                memcmp(copy, b.data, len1) != 0)
                bad++;
            free(copy);
        }
        reset(&b);
    }
    CHECK(bad == 0);
    lt_buf_free(&b);
}

/* Unicode Table 3-7, well-formed UTF-8 byte sequences, as an independent reference. */
static int ref_utf8(const uint8_t *p, size_t n, size_t *chars) {
    size_t k = 0, count = 0;
    while (k < n) {
        uint8_t c = p[k];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c <= 0x7f) {
            need = 0;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c == 0xe0) {
            need = 2;
            lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            need = 2;
        } else if (c == 0xed) {
            need = 2;
            hi = 0x9f;
        } else if (c == 0xf0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            need = 3;
        } else if (c == 0xf4) {
            need = 3;
            hi = 0x8f;
        } else {
            return 0;
        }
        if (n - k - 1 < need)
            return 0;
        for (size_t j = 1; j <= need; j++) {
            uint8_t cc = p[k + j];
            uint8_t l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xbf;
            if (cc < l || cc > h)
                return 0;
        }
        k += need + 1;
        count++;
    }
    *chars = count;
    return 1;
}

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t n;
        int ok;
        size_t chars;
    } cases[] = {
        {"", 0, 1, 0},
        {"abc", 3, 1, 3},
        {"\x00", 1, 1, 1},
        {"\xc2\x80", 2, 1, 1},         /* U+0080 */
        {"\xdf\xbf", 2, 1, 1},         /* U+07FF */
        {"\xe0\xa0\x80", 3, 1, 1},     /* U+0800 */
        {"\xed\x9f\xbf", 3, 1, 1},     /* U+D7FF */
        {"\xee\x80\x80", 3, 1, 1},     /* U+E000 */
        {"\xef\xbf\xbf", 3, 1, 1},     /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1, 1}, /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 1, 1}, /* U+10FFFF */
        {"a\xc3\xbc\xe2\x82\xac", 6, 1, 3},
        {"\xc0\x80", 2, 0, 0},             /* overlong NUL */
        {"\xc1\xbf", 2, 0, 0},             /* overlong 2-byte */
        {"\xe0\x80\x80", 3, 0, 0},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3, 0, 0},         /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4, 0, 0},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, 0, 0},     /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, 0, 0},         /* U+D800 */
        {"\xed\xbf\xbf", 3, 0, 0},         /* U+DFFF */
        {"\xed\xb0\x80", 3, 0, 0},         /* U+DC00 */
        {"\xf4\x90\x80\x80", 4, 0, 0},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0, 0},     /* above U+10FFFF */
        {"\xf7\xbf\xbf\xbf", 4, 0, 0},     /* U+1FFFFF */
        {"\xf8\x88\x80\x80\x80", 5, 0, 0}, /* 5-byte form */
        {"\xfe", 1, 0, 0},
        {"\xff", 1, 0, 0},
        {"\x80", 1, 0, 0}, /* lone continuation */
        {"a\xbf", 2, 0, 0},
        {"\xc2", 1, 0, 0}, /* truncated */
        {"\xe0\xa0", 2, 0, 0},
        {"\xf0\x90\x80", 3, 0, 0},
        {"abc\xf0", 4, 0, 0},
        {"\xc2\x41", 2, 0, 0}, /* bad continuation */
        {"\xe2\x82\x41", 3, 0, 0},
        {"\xf0\x90\xc2\x80", 4, 0, 0},
        {"\xc2\xc2\x80", 3, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t chars = 999;
        lt_err e = lt_utf8_check((const uint8_t *)cases[k].s, cases[k].n, &chars);
        if (cases[k].ok) {
            CHECK_ERR(e, LT_OK);
            CHECK(chars == cases[k].chars);
        } else {
            CHECK_ERR(e, LT_E_BAD_UTF8);
            if (e != LT_E_BAD_UTF8)
                fprintf(stderr, "    case %zu\n", k);
        }
        /* The same bytes as an atom, through the writer and the validator. */
        lt_buf b;
        lt_buf_init(&b);
        CHECK_ERR(lt_canon_put_atom(&b, (const uint8_t *)cases[k].s, cases[k].n),
                  cases[k].ok ? LT_OK : LT_E_BAD_UTF8);
        lt_buf_free(&b);
        uint8_t raw[8];
        raw[0] = LT_TAG_ATOM;
        raw[1] = (uint8_t)cases[k].n;
        memcpy(raw + 2, cases[k].s, cases[k].n);
        CHECK_ERR(lt_canon_validate(raw, 2 + cases[k].n), cases[k].ok ? LT_OK : LT_E_BAD_UTF8);
    }

    /* Every string of up to three bytes agrees with the reference, and random longer ones. */
    unsigned bad = 0;
    uint8_t p[8];
    for (uint32_t v = 0; v < (1u << 24); v++) {
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
        for (size_t n = v < 256 ? 1 : 3; n <= 3; n += 2) {
            const uint8_t *q = n == 1 ? p + 2 : p;
            size_t c1 = 0, c2 = 0;
            int ok = lt_utf8_check(q, n, &c1) == LT_OK;
            if (ok != ref_utf8(q, n, &c2) || (ok && c1 != c2))
                bad++;
        }
        if ((v & 0xff) == 0) { /* two-byte strings: the top two bytes */
            size_t c1 = 0, c2 = 0;
            int ok = lt_utf8_check(p, 2, &c1) == LT_OK;
            if (ok != ref_utf8(p, 2, &c2) || (ok && c1 != c2))
                bad++;
        }
    }
    CHECK(bad == 0);
    uint64_t rng = 99;
    bad = 0;
    for (int it = 0; it < 2000000; it++) {
        size_t n = 1 + lt_test_below(&rng, 8);
        uint64_t r = lt_test_rand(&rng);
        for (size_t k = 0; k < n; k++) {
            uint8_t x = (uint8_t)(r >> (8 * k));
            /* Bias towards lead bytes F0..F4 and continuation bytes. */
            if ((k == 0 && (it & 1)) || (k > 0 && (x & 1)))
                x = k == 0 ? (uint8_t)(0xf0 + x % 6) : (uint8_t)(0x80 | (x >> 2));
            p[k] = x;
        }
        size_t c1 = 0, c2 = 0;
        int ok = lt_utf8_check(p, n, &c1) == LT_OK;
        if (ok != ref_utf8(p, n, &c2) || (ok && c1 != c2))
            bad++;
    }
    CHECK(bad == 0);
}

static void test_invalid(void) {
    /* Lists. */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x08, 0x00, 0x07); /* count 0 */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x08, 0x01, 0x01, 0x02, 0x08, 0x01, 0x01, 0x04,
                   0x07); /* tail a list */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x06, 0x01, 0x08, 0x01, 0x07, 0x08, 0x01, 0x07, 0x07);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x08, 0x01, 0x07); /* no tail */
    EXPECT_INVALID(LT_E_TRUNCATED, 0x08, 0x02, 0x07, 0x07);
    /* Maps. */
    EXPECT_INVALID(LT_E_ORDER, 0x09, 0x02, 0x04, 0x01, 0x62, 0x07, 0x04, 0x01, 0x61, 0x07);
    EXPECT_INVALID(LT_E_ORDER, 0x09, 0x02, 0x04, 0x01, 0x61, 0x07, 0x04, 0x01, 0x61, 0x07);
    EXPECT_INVALID(LT_E_ORDER, 0x09, 0x02, 0x05, 0x01, 0x00, 0x07, 0x05, 0x00, 0x07); /* prefix */
    EXPECT_INVALID(LT_E_TRUNCATED, 0x09, 0x02, 0x07, 0x07, 0x07);
    EXPECT_INVALID(LT_E_ORDER, 0x06, 0x01, 0x09, 0x02, 0x01, 0x04, 0x07, 0x01, 0x02, 0x07);
    /* Bigints. */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x00, 0x01, 0x05); /* fits int64 */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x00, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff);                                                           /* INT64_MAX */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x01, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0); /* MIN */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x00, 0x09, 0x00, 0x80, 0, 0, 0, 0, 0, 0,
                   0);                                   /* leading zero */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x00, 0x00); /* no magnitude */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x01, 0x00);
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x02, 0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0); /* sign */
    EXPECT_INVALID(LT_E_TRUNCATED, 0x02, 0x00, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x02);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x02, 0x00);
    /* Floats. */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0x80, 0, 0, 0, 0, 0, 0, 0);    /* -0.0 */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0); /* NaN */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0xff, 0xff, 0, 0, 0, 0, 0, 1); /* -NaN */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0x7f, 0xf0, 0, 0, 0, 0, 0, 1); /* sNaN */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0); /* +Inf */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x03, 0xff, 0xf0, 0, 0, 0, 0, 0, 0); /* -Inf */
    EXPECT_INVALID(LT_E_TRUNCATED, 0x03, 0x3f, 0xf0, 0, 0, 0, 0, 0);
    /* Tags. */
    EXPECT_INVALID(LT_E_BAD_TAG, 0x00);
    EXPECT_INVALID(LT_E_BAD_TAG, 0x0a);
    EXPECT_INVALID(LT_E_BAD_TAG, 0xff);
    EXPECT_INVALID(LT_E_BAD_TAG, 0x06, 0x02, 0x07, 0x0a);
    EXPECT_INVALID(LT_E_BAD_TAG, 0x08, 0x01, 0x07, 0x00);
    /* Trailing bytes. */
    EXPECT_INVALID(LT_E_TRAILING, 0x07, 0x07);
    EXPECT_INVALID(LT_E_TRAILING, 0x01, 0x00, 0x00);
    EXPECT_INVALID(LT_E_TRAILING, 0x06, 0x00, 0x01);
    /* Non-minimal varints, anywhere. */
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x01, 0x80, 0x00);
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x05, 0x80, 0x00);
    EXPECT_INVALID(LT_E_NONCANONICAL, 0x06, 0x81, 0x00, 0x07);
    EXPECT_INVALID(LT_E_OVERFLOW, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02);
    /* Counts larger than the input. */
    EXPECT_INVALID(LT_E_TRUNCATED, 0x05, 0x04, 0x01, 0x02, 0x03);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x06, 0x05, 0x07, 0x07);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0x01);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x09, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07);
    EXPECT_INVALID(LT_E_TRUNCATED, 0x04, 0x02, 0x61);
    /* Atoms. */
    EXPECT_INVALID(LT_E_BAD_UTF8, 0x04, 0x02, 0xc0, 0x80);
    EXPECT_INVALID(LT_E_BAD_UTF8, 0x04, 0x03, 0xed, 0xa0, 0x80);
    EXPECT_INVALID(LT_E_BAD_UTF8, 0x04, 0x01, 0xc3); /* a sequence cut by the atom's length */
    EXPECT_INVALID(LT_E_BAD_UTF8, 0x06, 0x02, 0x04, 0x01, 0xc3, 0x04, 0x01, 0xbc);
    {
        uint8_t atom[3 + 1021];
        atom[0] = LT_TAG_ATOM;
        atom[1] = 0x80 | (256 & 0x7f); /* 256 chars of ASCII */
        atom[2] = 256 >> 7;
        memset(atom + 3, 'z', 1021);
        CHECK_ERR(lt_canon_validate(atom, 3 + 255 - 0), LT_E_TRUNCATED);
        CHECK_ERR(lt_canon_validate(atom, 3 + 256), LT_E_TOO_BIG);
        atom[1] = 0x80 | (255 & 0x7f);
        atom[2] = 255 >> 7;
        CHECK_ERR(lt_canon_validate(atom, 3 + 255), LT_OK);
        atom[1] = 0x80 | (1021 & 0x7f); /* more bytes than 255 chars can take */
        atom[2] = 1021 >> 7;
        CHECK_ERR(lt_canon_validate(atom, 3 + 1021), LT_E_TOO_BIG);
    }
    {
        /* A bigint of 8193 magnitude bytes. */
        size_t n = LT_CANON_MAX_BIGINT_BYTES + 1;
        uint8_t *big = calloc(4 + n, 1);
        CHECK(big != NULL);
        big[0] = LT_TAG_BIGINT;
        big[1] = 0;
        big[2] = 0x80 | (n & 0x7f);
        big[3] = (uint8_t)(n >> 7);
        big[4] = 1;
        CHECK_ERR(lt_canon_validate(big, 4 + n), LT_E_TOO_BIG);
        big[3] = (uint8_t)((n - 1) >> 7);
        big[2] = 0x80 | ((n - 1) & 0x7f);
        CHECK_ERR(lt_canon_validate(big, 4 + n - 1), LT_OK);
        free(big);
    }
    /* Nothing at all. */
    CHECK_ERR(lt_canon_validate((const uint8_t *)"", 0), LT_E_TRUNCATED);
    CHECK_ERR(lt_canon_validate(NULL, 0), LT_E_TRUNCATED);
}

/* A term exercising every tag and nesting: written with the writers. */
static void write_complex(lt_buf *b) {
    lt_canon_put_tuple(b, 4);
    lt_canon_put_map(b, 2);
    size_t pairs = b->len;
    (void)lt_canon_put_atom(b, (const uint8_t *)"zeta", 4);
    lt_canon_put_list(b, 2);
    lt_canon_put_int(b, -300);
    (void)lt_canon_put_float(b, 0.5);
    lt_canon_put_binary(b, (const uint8_t *)"tail", 4);
    lt_canon_put_int(b, 7);
    lt_canon_put_tuple(b, 0);
    (void)lt_canon_sort_map(b, pairs, 2);
    const uint8_t mag[] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01};
    (void)lt_canon_put_bigint(b, 1, mag, sizeof mag);
    (void)lt_canon_put_atom(b, (const uint8_t *)"\xc3\xa9t\xc3\xa9", 5);
    lt_canon_put_list(b, 1);
    lt_canon_put_map(b, 0);
    lt_canon_put_nil(b);
}

static void test_prefixes(void) {
    lt_buf b;
    lt_buf_init(&b);
    write_complex(&b);
    CHECK(!b.failed);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    /* Every proper prefix is truncated; a copy of exactly that length so ASan sees any read
     * past it. */
    unsigned bad = 0;
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        if (p == NULL)
            break;
        memcpy(p, b.data, cut);
        lt_err e = lt_canon_validate(p, cut);
        if (e != LT_E_TRUNCATED) {
            bad++;
            fprintf(stderr, "    prefix %zu: %s\n", cut, lt_err_name(e));
        }
        free(p);
    }
    CHECK(bad == 0);
    /* Any extra byte is trailing. */
    lt_buf_put_u8(&b, 0x07);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_E_TRAILING);
    /* Single-byte corruptions never crash, and what still validates is self-consistent. */
    b.len--;
    for (size_t k = 0; k < b.len; k++) {
        for (unsigned x = 0; x < 256; x += 17) {
            uint8_t *p = malloc(b.len);
            if (p == NULL)
                break;
            memcpy(p, b.data, b.len);
            p[k] ^= (uint8_t)(x | 1);
            size_t off = 0;
            lt_err e1 = lt_canon_validate(p, b.len);
            lt_err e2 = lt_canon_skip(p, b.len, &off);
            if ((e1 == LT_OK) != (e2 == LT_OK && off == b.len))
                bad++;
            free(p);
        }
    }
    CHECK(bad == 0);
    lt_buf_free(&b);
}

static void nest(lt_buf *b, size_t depth, uint8_t kind) {
    for (size_t k = 0; k < depth; k++) {
        if (kind == LT_TAG_TUPLE)
            lt_canon_put_tuple(b, 1);
        else if (kind == LT_TAG_LIST)
            lt_canon_put_list(b, 1);
        else {
            lt_canon_put_map(b, 1);
            lt_canon_put_nil(b); /* the key; the value is nested */
        }
    }
    lt_canon_put_int(b, 1);
    if (kind == LT_TAG_LIST)
        for (size_t k = 0; k < depth; k++)
            lt_canon_put_nil(b);
}

static void test_depth(void) {
    const uint8_t kinds[] = {LT_TAG_TUPLE, LT_TAG_LIST, LT_TAG_MAP};
    for (size_t k = 0; k < sizeof kinds; k++) {
        lt_buf b;
        lt_buf_init(&b);
        nest(&b, LT_CANON_MAX_DEPTH, kinds[k]); /* the leaf at depth 100 */
        CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
        reset(&b);
        nest(&b, LT_CANON_MAX_DEPTH + 1, kinds[k]);
        CHECK_ERR(lt_canon_validate(b.data, b.len), LT_E_TOO_DEEP);
        reset(&b);
        nest(&b, 5000, kinds[k]); /* far too deep: refused without exhausting the stack */
        CHECK_ERR(lt_canon_validate(b.data, b.len), LT_E_TOO_DEEP);
        lt_buf_free(&b);
    }
    /* An empty container counts as a level too: 101 nested tuples, the innermost empty. */
    lt_buf b;
    lt_buf_init(&b);
    for (int k = 0; k < LT_CANON_MAX_DEPTH; k++)
        lt_canon_put_tuple(&b, 1);
    lt_canon_put_tuple(&b, 0);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_OK);
    reset(&b);
    for (int k = 0; k < LT_CANON_MAX_DEPTH + 1; k++)
        lt_canon_put_tuple(&b, 1);
    lt_canon_put_tuple(&b, 0);
    CHECK_ERR(lt_canon_validate(b.data, b.len), LT_E_TOO_DEEP);
    reset(&b);
    /* A list's tail is one level down, like its elements: K levels of [nil | {...}] put the
     * innermost nil at depth 2K. */
    for (int rounds = 50; rounds <= 51; rounds++) {
        for (int k = 0; k < rounds; k++) {
            lt_canon_put_list(&b, 1);
            lt_canon_put_nil(&b);
            lt_canon_put_tuple(&b, 1); /* the tail, a tuple holding the next list */
        }
        lt_canon_put_nil(&b);
        CHECK_ERR(lt_canon_validate(b.data, b.len), rounds == 50 ? LT_OK : LT_E_TOO_DEEP);
        reset(&b);
    }
    lt_buf_free(&b);
}

/* Walks a term with lt_canon_next alone (no recursion) and counts items. */
static lt_err walk(const uint8_t *p, size_t len, size_t *items) {
    uint64_t pending = 1; /* terms still to read */
    size_t off = 0;
    *items = 0;
    while (pending > 0) {
        lt_canon_item it;
        lt_err e = lt_canon_next(p, len, &off, &it);
        if (e != LT_OK)
            return e;
        pending--;
        (*items)++;
        if (it.tag == LT_TAG_TUPLE)
            pending += it.n;
        else if (it.tag == LT_TAG_LIST)
            pending += it.n + 1;
        else if (it.tag == LT_TAG_MAP)
            pending += 2 * it.n;
    }
    return off == len ? LT_OK : LT_E_TRAILING;
}

static void test_round_trip(void) {
    lt_buf b;
    lt_buf_init(&b);
    write_complex(&b);
    size_t items = 0;
    CHECK_ERR(walk(b.data, b.len, &items), LT_OK);
    CHECK(items == 14);
    size_t off = 0;
    CHECK_ERR(lt_canon_skip(b.data, b.len, &off), LT_OK);
    CHECK(off == b.len);
    /* Its parts, read back. */
    off = 0;
    lt_canon_item it;
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_TUPLE && it.n == 4);
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_MAP && it.n == 2);
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_INT && it.i == 7); /* 01 0e sorts before the atom */
    CHECK_ERR(lt_canon_skip(b.data, b.len, &off), LT_OK);
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_ATOM && it.n == 4 && memcmp(it.data, "zeta", 4) == 0);
    CHECK_ERR(lt_canon_skip(b.data, b.len, &off), LT_OK);
    CHECK_ERR(lt_canon_next(b.data, b.len, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_BIGINT && it.negative == 1 && it.n == 9 && it.data[0] == 0x01);
    lt_buf_free(&b);

    /* A set of nested terms built at random with the writers: every one validates, walks to
     * its end, and every proper prefix is truncated. */
    uint64_t rng = 2024;
    unsigned bad = 0;
    for (int t = 0; t < 500; t++) {
        lt_buf_init(&b);
        /* An explicit stack of open containers: remaining children, and the map bookkeeping. */
        struct {
            uint8_t tag;
            size_t left, n, pairs;
        } st[12];
        size_t sp = 0;
        size_t need = 1;
        int made = 0;
        while (need > 0 || sp > 0) {
            if (sp > 0 && st[sp - 1].left == 0) { /* close the innermost container */
                if (st[sp - 1].tag == LT_TAG_MAP &&
                    lt_canon_sort_map(&b, st[sp - 1].pairs, st[sp - 1].n) != LT_OK)
                    bad++;
                if (st[sp - 1].tag == LT_TAG_LIST)
                    lt_canon_put_nil(&b); /* the tail */
                sp--;
                continue;
            }
            if (sp > 0)
                st[sp - 1].left--;
            else
                need--;
            size_t kind = lt_test_below(&rng, sp < 10 && made < 60 ? 10 : 6);
            made++;
            switch (kind) {
            case 0:
                lt_canon_put_int(&b, (int64_t)lt_test_rand(&rng) >> lt_test_below(&rng, 64));
                break;
            case 1: {
                uint8_t mag[12];
                for (size_t k = 0; k < sizeof mag; k++)
                    mag[k] = (uint8_t)lt_test_rand(&rng);
                (void)lt_canon_put_bigint(&b, (int)(lt_test_rand(&rng) & 1), mag,
                                          lt_test_below(&rng, sizeof mag + 1));
                break;
            }
            case 2: {
                double d = (double)(int64_t)lt_test_rand(&rng) / 1024.0;
                (void)lt_canon_put_float(&b, (lt_test_rand(&rng) & 3) ? d : -0.0);
                break;
            }
            case 3: {
                static const size_t alen[] = {0, 1, 4, 6}; /* whole characters only */
                (void)lt_canon_put_atom(&b, (const uint8_t *)"atom\xc3\xa9", alen[t % 4]);
                break;
            }
            case 4:
                lt_canon_put_binary(&b, (const uint8_t *)"binary", lt_test_below(&rng, 7));
                break;
            case 5:
                lt_canon_put_nil(&b);
                break;
            case 6:
            case 7: {
                size_t n = lt_test_below(&rng, 4);
                lt_canon_put_tuple(&b, n);
                st[sp].tag = LT_TAG_TUPLE;
                st[sp].left = n;
                sp++;
                break;
            }
            case 8: {
                size_t n = 1 + lt_test_below(&rng, 3);
                lt_canon_put_list(&b, n);
                st[sp].tag = LT_TAG_LIST;
                st[sp].left = n; /* elements; the tail is written as nil when it closes */
                sp++;
                break;
            }
            default: {
                /* Map keys: distinct ints, so sorting can't meet a duplicate. */
                size_t n = lt_test_below(&rng, 3);
                lt_canon_put_map(&b, n);
                st[sp].tag = LT_TAG_MAP;
                st[sp].n = n;
                st[sp].pairs = b.len;
                st[sp].left = 0;
                sp++;
                for (size_t k = 0; k < n; k++) {
                    lt_canon_put_int(&b, (int64_t)(n - k) * 1000 + t);
                    lt_canon_put_binary(&b, (const uint8_t *)"v", k & 1);
                }
                break;
            }
            }
        }
        if (b.failed || lt_canon_validate(b.data, b.len) != LT_OK ||
            walk(b.data, b.len, &items) != LT_OK) {
            bad++;
            lt_test_hex("term", b.data, b.len);
        }
        for (size_t cut = 0; cut < b.len; cut++) {
            uint8_t *p = malloc(cut ? cut : 1);
            if (p == NULL)
                break;
            memcpy(p, b.data, cut);
            if (lt_canon_validate(p, cut) != LT_E_TRUNCATED)
                bad++;
            free(p);
        }
        lt_buf_free(&b);
    }
    CHECK(bad == 0);
}

static void test_next_counts(void) {
    /* Container counts are bounded by the bytes left, so no caller allocates from a lie. */
    size_t off = 0;
    lt_canon_item it;
    const uint8_t tup[] = {0x06, 0x03, 0x07, 0x07, 0x07};
    CHECK_ERR(lt_canon_next(tup, sizeof tup, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_TUPLE && it.n == 3 && off == 2);
    off = 0;
    CHECK_ERR(lt_canon_next(tup, 4, &off, &it), LT_E_TRUNCATED);
    CHECK(off == 0);
    const uint8_t lst[] = {0x08, 0x02, 0x07, 0x07, 0x07};
    off = 0;
    CHECK_ERR(lt_canon_next(lst, sizeof lst, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_LIST && it.n == 2 && off == 2);
    off = 0;
    CHECK_ERR(lt_canon_next(lst, 4, &off, &it), LT_E_TRUNCATED); /* n + 1 terms */
    const uint8_t map[] = {0x09, 0x02, 0x07, 0x07, 0x07, 0x07};
    off = 0;
    CHECK_ERR(lt_canon_next(map, sizeof map, &off, &it), LT_OK);
    CHECK(it.tag == LT_TAG_MAP && it.n == 2);
    off = 0;
    CHECK_ERR(lt_canon_next(map, 5, &off, &it), LT_E_TRUNCATED);
    /* Reading at the end. */
    off = sizeof map;
    CHECK_ERR(lt_canon_next(map, sizeof map, &off, &it), LT_E_TRUNCATED);
}

int main(void) {
    test_int();
    test_bigint();
    test_float();
    test_atom_binary();
    test_containers();
    test_sort_map();
    test_utf8();
    test_invalid();
    test_prefixes();
    test_depth();
    test_round_trip();
    test_next_counts();
    return lt_test_summary();
}
