/*
 * lt_test.h — the smallest test harness that will do for the C core.
 *
 * CHECK(cond) counts a pass or prints file:line and counts a failure; the CHECK_* variants
 * print the values involved. Every program ends with `return lt_test_summary();`, which prints
 * "N passed, M failed" alone on a line and returns 1 if anything failed.
 */
#ifndef LT_TEST_H
#define LT_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_common.h"

static unsigned long lt_test_passed_, lt_test_failed_;

static inline void lt_test_result(int ok, const char *file, int line, const char *what) {
    if (ok) {
        lt_test_passed_++;
        return;
    }
    lt_test_failed_++;
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
}

#define CHECK(cond) lt_test_result((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

/* Two unsigned 64-bit values, printed in hex when they differ. */
#define CHECK_U64(got, want)                                                                       \
    do {                                                                                           \
        uint64_t lt_g_ = (uint64_t)(got), lt_w_ = (uint64_t)(want);                                \
        lt_test_result(lt_g_ == lt_w_, __FILE__, __LINE__, #got " == " #want);                     \
        if (lt_g_ != lt_w_)                                                                        \
            fprintf(stderr, "    got 0x%016" PRIx64 ", want 0x%016" PRIx64 "\n", lt_g_, lt_w_);    \
    } while (0)

/* An lt_err result, printed by name when it differs. */
#define CHECK_ERR(got, want)                                                                       \
    do {                                                                                           \
        lt_err lt_ge_ = (got), lt_we_ = (want);                                                    \
        lt_test_result(lt_ge_ == lt_we_, __FILE__, __LINE__, #got " == " #want);                   \
        if (lt_ge_ != lt_we_)                                                                      \
            fprintf(stderr, "    got %s, want %s\n", lt_err_name(lt_ge_), lt_err_name(lt_we_));    \
    } while (0)

static inline void lt_test_hex(const char *label, const uint8_t *p, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t k = 0; k < n; k++)
        fprintf(stderr, " %02x", p[k]);
    fprintf(stderr, "\n");
}

static inline void lt_test_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
                                 size_t want_len, const char *file, int line, const char *what) {
    int ok = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);
    lt_test_result(ok, file, line, what);
    if (!ok) {
        lt_test_hex("got ", got, got_len);
        lt_test_hex("want", want, want_len);
    }
}

/* The bytes got[0..got_len) equal the array literal-backed `want` (a real array, not a
 * pointer: its size is taken with sizeof). */
#define CHECK_BYTES(got, got_len, want)                                                            \
    lt_test_bytes((got), (got_len), (want), sizeof(want), __FILE__, __LINE__, #got " == " #want)

/* Two byte strings with explicit lengths. */
#define CHECK_MEM(got, got_len, want, want_len)                                                    \
    lt_test_bytes((got), (got_len), (want), (want_len), __FILE__, __LINE__, #got " == " #want)

static inline int lt_test_summary(void) {
    printf("%lu passed, %lu failed\n", lt_test_passed_, lt_test_failed_);
    fflush(stdout);
    return lt_test_failed_ ? 1 : 0;
}

/* A small deterministic PRNG (splitmix64) so randomized tests repeat exactly. */
static inline uint64_t lt_test_rand(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform-ish in [0, n) for small n (n >= 1). */
static inline size_t lt_test_below(uint64_t *state, size_t n) {
    return (size_t)(lt_test_rand(state) % n);
}

#endif
