/* test_common.c — varints, the byte buffer, byte order and lt_bytes_cmp (lt_common.h). */
#include "lt_test.h"
#include "lt_types.h"

/* Reads a varint from the whole of p[0..n) and checks it stops exactly at n. */
static lt_err read_all(const uint8_t *p, size_t n, uint64_t *v) {
    size_t off = 0;
    lt_err e = lt_varint_read(p, n, &off, v);
    if (e == LT_OK && off != n)
        return LT_E_TRAILING;
    return e;
}

static void test_varint_known(void) {
    static const struct {
        uint64_t v;
        uint8_t bytes[10];
        size_t len;
    } cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {255, {0xff, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {UINT64_C(0x7fffffffffffffff), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 9},
        {UINT64_C(1) << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10},
        {UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t buf[16];
        memset(buf, 0xee, sizeof buf);
        CHECK(lt_varint_len(cases[k].v) == cases[k].len);
        size_t w = lt_varint_write(buf, cases[k].v);
        CHECK(w == cases[k].len);
        CHECK_MEM(buf, w, cases[k].bytes, cases[k].len);
        CHECK(buf[w] == 0xee); /* nothing past the encoding */
        uint64_t v = 12345;
        CHECK_ERR(read_all(cases[k].bytes, cases[k].len, &v), LT_OK);
        CHECK_U64(v, cases[k].v);

        /* Through the buffer too. */
        lt_buf b;
        lt_buf_init(&b);
        lt_buf_put_varint(&b, cases[k].v);
        CHECK(!b.failed);
        CHECK_MEM(b.data, b.len, cases[k].bytes, cases[k].len);
        lt_buf_free(&b);

        /* Every proper prefix is truncated, and leaves *off and *out alone. */
        for (size_t cut = 0; cut < cases[k].len; cut++) {
            size_t off = 0;
            uint64_t out = 777;
            CHECK_ERR(lt_varint_read(cases[k].bytes, cut, &off, &out), LT_E_TRUNCATED);
            CHECK(off == 0);
            CHECK(out == 777);
        }
    }
}

static void test_varint_offsets(void) {
    /* Several varints back to back, read from the middle of a buffer. */
    const uint8_t p[] = {0xaa, 0x05, 0x80, 0x01, 0xff, 0x7f, 0x00};
    size_t off = 1;
    uint64_t v;
    CHECK_ERR(lt_varint_read(p, sizeof p, &off, &v), LT_OK);
    CHECK(v == 5 && off == 2);
    CHECK_ERR(lt_varint_read(p, sizeof p, &off, &v), LT_OK);
    CHECK(v == 128 && off == 4);
    CHECK_ERR(lt_varint_read(p, sizeof p, &off, &v), LT_OK);
    CHECK(v == 16383 && off == 6);
    CHECK_ERR(lt_varint_read(p, sizeof p, &off, &v), LT_OK);
    CHECK(v == 0 && off == 7);
    CHECK_ERR(lt_varint_read(p, sizeof p, &off, &v), LT_E_TRUNCATED);
    CHECK(off == 7);
    /* The length bounds the read even when more bytes follow in memory. */
    off = 2;
    CHECK_ERR(lt_varint_read(p, 3, &off, &v), LT_E_TRUNCATED);
    CHECK(off == 2);
}

static void test_varint_rejects(void) {
    uint64_t v;
    /* Non-minimal: a trailing zero group. */
    const uint8_t nm1[] = {0x80, 0x00};
    const uint8_t nm2[] = {0xff, 0x00};
    const uint8_t nm3[] = {0x80, 0x80, 0x00};
    const uint8_t nm4[] = {0x81, 0x80, 0x80, 0x00};
    const uint8_t nm10[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    const uint8_t nm10b[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    CHECK_ERR(read_all(nm1, sizeof nm1, &v), LT_E_NONCANONICAL);
    CHECK_ERR(read_all(nm2, sizeof nm2, &v), LT_E_NONCANONICAL);
    CHECK_ERR(read_all(nm3, sizeof nm3, &v), LT_E_NONCANONICAL);
    CHECK_ERR(read_all(nm4, sizeof nm4, &v), LT_E_NONCANONICAL);
    CHECK_ERR(read_all(nm10, sizeof nm10, &v), LT_E_NONCANONICAL);
    CHECK_ERR(read_all(nm10b, sizeof nm10b, &v), LT_E_NONCANONICAL);

    /* More than 64 bits: the 10th byte may only be 0 or 1. */
    const uint8_t ov2[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t ov7f[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f};
    const uint8_t ov11[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t ov11b[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00};
    const uint8_t ov_long[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                               0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_ERR(read_all(ov2, sizeof ov2, &v), LT_E_OVERFLOW);
    CHECK_ERR(read_all(ov7f, sizeof ov7f, &v), LT_E_OVERFLOW);
    CHECK_ERR(read_all(ov11, sizeof ov11, &v), LT_E_OVERFLOW);
    CHECK_ERR(read_all(ov11b, sizeof ov11b, &v), LT_E_OVERFLOW);
    CHECK_ERR(read_all(ov_long, sizeof ov_long, &v), LT_E_OVERFLOW);
    /* ...even when the input stops right after that 10th byte. */
    CHECK_ERR(read_all(ov11, 10, &v), LT_E_OVERFLOW);

    /* Empty input. */
    size_t off = 0;
    CHECK_ERR(lt_varint_read(nm1, 0, &off, &v), LT_E_TRUNCATED);
}

/* Every 1- and 2-byte input, and random longer ones: whatever is accepted is exactly the
 * encoding the writer produces (one reading per value, one value per reading). */
static void test_varint_exhaustive(void) {
    unsigned bad = 0;
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned c = 0; c < 256; c++) {
            uint8_t p[2] = {(uint8_t)a, (uint8_t)c};
            size_t off = 0;
            uint64_t v;
            lt_err e = lt_varint_read(p, 2, &off, &v);
            if (e == LT_OK) {
                uint8_t w[10];
                size_t n = lt_varint_write(w, v);
                if (n != off || memcmp(w, p, n) != 0)
                    bad++;
            } else if (a < 0x80 || (c >= 0x80 ? e != LT_E_TRUNCATED : e != LT_E_NONCANONICAL)) {
                bad++;
            }
        }
    }
    CHECK(bad == 0);

    uint64_t rng = 42;
    bad = 0;
    for (int it = 0; it < 200000; it++) {
        uint8_t p[12];
        size_t n = 1 + lt_test_below(&rng, sizeof p);
        for (size_t k = 0; k < n; k++) {
            uint64_t r = lt_test_rand(&rng);
            /* Mostly continuation bytes, so long encodings show up often. */
            p[k] = (uint8_t)((r & 3) ? (r >> 8) | 0x80 : (r >> 8));
        }
        size_t off = 0;
        uint64_t v;
        if (lt_varint_read(p, n, &off, &v) == LT_OK) {
            uint8_t w[10];
            size_t m = lt_varint_write(w, v);
            if (m != off || memcmp(w, p, m) != 0 || m != lt_varint_len(v))
                bad++;
        }
        /* And round trips of random values of every width. */
        uint64_t x = lt_test_rand(&rng) >> lt_test_below(&rng, 64);
        uint8_t w[10];
        size_t m = lt_varint_write(w, x);
        uint64_t y;
        if (m != lt_varint_len(x) || read_all(w, m, &y) != LT_OK || y != x)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_buf_growth(void) {
    lt_buf b;
    lt_buf_init(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && !b.failed && !b.fixed);
    /* Many small puts: the buffer grows and keeps what was written. */
    for (unsigned k = 0; k < 5000; k++)
        lt_buf_put_u8(&b, (uint8_t)(k * 7));
    CHECK(!b.failed);
    CHECK(b.len == 5000 && b.cap >= 5000);
    unsigned bad = 0;
    for (unsigned k = 0; k < 5000; k++)
        bad += b.data[k] != (uint8_t)(k * 7);
    CHECK(bad == 0);
    /* One large put. */
    uint8_t *big = malloc(100000);
    CHECK(big != NULL);
    for (size_t k = 0; k < 100000; k++)
        big[k] = (uint8_t)(k >> 3);
    lt_buf_put(&b, big, 100000);
    CHECK(!b.failed && b.len == 105000 && b.cap >= 105000);
    CHECK(memcmp(b.data + 5000, big, 100000) == 0);
    free(big);
    /* A put of nothing is fine, even from NULL. */
    lt_buf_put(&b, NULL, 0);
    CHECK(!b.failed && b.len == 105000);
    lt_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);

    /* Known bytes of each writer. */
    lt_buf_init(&b);
    lt_buf_put_u8(&b, 0xab);
    lt_buf_put_be64(&b, UINT64_C(0x0102030405060708));
    lt_buf_put_varint(&b, 300);
    lt_buf_put(&b, "xyz", 3);
    const uint8_t want[] = {0xab, 1, 2, 3, 4, 5, 6, 7, 8, 0xac, 0x02, 'x', 'y', 'z'};
    CHECK(!b.failed);
    CHECK_BYTES(b.data, b.len, want);
    lt_buf_free(&b);

    /* A size that overflows fails, and the failure is sticky. */
    lt_buf_init(&b);
    lt_buf_put_u8(&b, 1);
    CHECK(lt_buf_reserve(&b, SIZE_MAX) == LT_E_NOMEM);
    CHECK(b.failed);
    CHECK(b.len == 1);
    lt_buf_put_u8(&b, 2);
    lt_buf_put_be64(&b, 3);
    lt_buf_put_varint(&b, 4);
    lt_buf_put(&b, "ab", 2);
    CHECK(b.len == 1);
    CHECK(lt_buf_reserve(&b, 1) == LT_E_NOMEM);
    lt_buf_free(&b);
}

static void test_buf_fixed(void) {
    /* 16 bytes of room inside a larger array: the guard bytes must never change. */
    uint8_t mem[48];
    memset(mem, 0x5a, sizeof mem);
    lt_buf b;
    lt_buf_init_fixed(&b, mem + 16, 16);
    CHECK(b.fixed && b.cap == 16 && b.len == 0 && !b.failed);
    lt_buf_put(&b, "0123456789", 10);
    CHECK(!b.failed && b.len == 10);
    CHECK(memcmp(mem + 16, "0123456789", 10) == 0);
    lt_buf_put_be64(&b, UINT64_MAX); /* 18 > 16 */
    CHECK(b.failed);
    CHECK(b.len == 10);
    lt_buf_put_u8(&b, 1); /* sticky, though it would fit */
    CHECK(b.len == 10);
    unsigned bad = 0;
    for (size_t k = 0; k < 16; k++)
        bad += mem[k] != 0x5a;
    for (size_t k = 26; k < sizeof mem; k++)
        bad += mem[k] != 0x5a;
    CHECK(bad == 0);
    lt_buf_free(&b); /* never frees memory it does not own (ASan would say) */
    CHECK(b.data == NULL);

    /* Exactly full is not a failure. */
    lt_buf_init_fixed(&b, mem, 9);
    lt_buf_put_u8(&b, 7);
    lt_buf_put_be64(&b, 8);
    CHECK(!b.failed && b.len == 9);
    lt_buf_put_u8(&b, 9);
    CHECK(b.failed && b.len == 9);

    /* A one-byte put that does not fit. */
    lt_buf_init_fixed(&b, mem, 0);
    lt_buf_put_u8(&b, 1);
    CHECK(b.failed && b.len == 0);

    /* A buffer sized exactly for its varints (callers size fixed buffers from an exact bound:
     * a varint must need only its own length of room, not the longest one's). */
    lt_buf_init_fixed(&b, mem, 1);
    lt_buf_put_varint(&b, 5);
    CHECK(!b.failed && b.len == 1 && mem[0] == 5);
    lt_buf_init_fixed(&b, mem, 3);
    lt_buf_put_u8(&b, 0xaa);
    lt_buf_put_varint(&b, 300);
    CHECK(!b.failed && b.len == 3);
    lt_buf_init_fixed(&b, mem, 10);
    lt_buf_put_varint(&b, UINT64_MAX);
    CHECK(!b.failed && b.len == 10);
    lt_buf_init_fixed(&b, mem, 9);
    lt_buf_put_varint(&b, UINT64_MAX); /* needs 10 */
    CHECK(b.failed && b.len == 0);
}

static void test_bytes_cmp(void) {
    const uint8_t a[] = {1, 2, 3};
    const uint8_t b[] = {1, 2, 4};
    const uint8_t hi[] = {0x80};
    const uint8_t lo[] = {0x01};
    CHECK(lt_bytes_cmp(a, 3, a, 3) == 0);
    CHECK(lt_bytes_cmp(a, 3, b, 3) == -1);
    CHECK(lt_bytes_cmp(b, 3, a, 3) == 1);
    CHECK(lt_bytes_cmp(a, 2, a, 3) == -1); /* a proper prefix sorts first */
    CHECK(lt_bytes_cmp(a, 3, a, 2) == 1);
    CHECK(lt_bytes_cmp(a, 0, a, 0) == 0);
    CHECK(lt_bytes_cmp(NULL, 0, NULL, 0) == 0);
    CHECK(lt_bytes_cmp(NULL, 0, a, 1) == -1);
    CHECK(lt_bytes_cmp(a, 1, NULL, 0) == 1);
    CHECK(lt_bytes_cmp(hi, 1, lo, 1) == 1); /* bytes are unsigned */
    CHECK(lt_bytes_cmp(lo, 1, hi, 1) == -1);
    CHECK(lt_bytes_cmp(b, 3, a, 2) == 1); /* longer but greater at a common byte */
    CHECK(lt_bytes_cmp(a, 2, b, 3) == -1);
}

static void test_misc(void) {
    /* Byte order, at an odd (unaligned) address. */
    uint8_t mem[17] = {0};
    lt_write_be64(mem + 1, UINT64_C(0x0102030405060708));
    const uint8_t want[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    CHECK_MEM(mem, 10, want, sizeof want);
    CHECK_U64(lt_read_be64(mem + 1), UINT64_C(0x0102030405060708));
    lt_write_be64(mem + 3, UINT64_MAX - 1);
    CHECK_U64(lt_read_be64(mem + 3), UINT64_MAX - 1);

    /* Size arithmetic. */
    size_t s = 0;
    CHECK(lt_size_add(SIZE_MAX - 1, 1, &s) == LT_OK && s == SIZE_MAX);
    CHECK(lt_size_add(SIZE_MAX, 1, &s) == LT_E_OVERFLOW);
    CHECK(lt_size_mul(SIZE_MAX / 2, 2, &s) == LT_OK);
    CHECK(lt_size_mul(SIZE_MAX / 2 + 1, 2, &s) == LT_E_OVERFLOW);
    CHECK(lt_size_mul(SIZE_MAX, 0, &s) == LT_OK && s == 0);

    /* Every error has its own name. */
    const char *names[LT_E_BUDGET + 1];
    for (int e = LT_OK; e <= LT_E_BUDGET; e++) {
        names[e] = lt_err_name((lt_err)e);
        CHECK(names[e] != NULL && strcmp(names[e], "unknown_error") != 0);
        for (int f = LT_OK; f < e; f++)
            CHECK(strcmp(names[e], names[f]) != 0);
    }
    CHECK(strcmp(lt_err_name(LT_OK), "ok") == 0);
    CHECK(strcmp(lt_err_name((lt_err)(LT_E_BUDGET + 1)), "unknown_error") == 0);

    /* The type registry: every tag distinct, none 0 (a truncated binary), format version 1. */
#define TAG_OF(name, tag, mod) tag,
    static const int tags[] = {LT_TYPES(TAG_OF)};
#undef TAG_OF
    size_t ntags = sizeof tags / sizeof tags[0];
    for (size_t i = 0; i < ntags; i++) {
        CHECK(tags[i] > 0 && tags[i] < 256);
        for (size_t j = 0; j < i; j++)
            CHECK(tags[i] != tags[j]);
    }
    CHECK(LT_FORMAT_V1 == 1);
}

int main(void) {
    test_varint_known();
    test_varint_offsets();
    test_varint_rejects();
    test_varint_exhaustive();
    test_buf_growth();
    test_buf_fixed();
    test_bytes_cmp();
    test_misc();
    return lt_test_summary();
}
