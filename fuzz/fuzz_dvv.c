/* fuzz_dvv.c — libFuzzer target for dotted version vector binaries.
 *
 * A context that parses encodes back to exactly the input; so does its list of ranges put
 * through lt_dvv_normalize (twice over: normalizing is idempotent under repeated ranges); the
 * queries agree with the parsed entries (every dot contained, base + 1 never, max the highest
 * dot); it descends itself; and no proper prefix of it parses. Anything else is refused
 * without a leak or an out-of-bounds read. */
#include "lt_dvv.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void expect_encodes(const lt_dvv *d, const uint8_t *data, size_t size) {
    lt_buf out;
    lt_buf_init(&out);
    REQUIRE(lt_dvv_encode(d, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(out.data, data, size) == 0);
    lt_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_dvv d;
    lt_err e = lt_dvv_parse(data, size, &d);
    if (e != LT_OK) {
        REQUIRE(d.entries == NULL && d.dots == NULL); /* nothing to free after a failure */
        return 0;
    }

    /* encode(parse(x)) == x */
    expect_encodes(&d, data, size);
    /* The same through a fixed buffer of exactly that size. */
    uint8_t *mem = malloc(size);
    REQUIRE(mem != NULL);
    lt_buf fx;
    lt_buf_init_fixed(&fx, mem, size);
    REQUIRE(lt_dvv_encode(&d, &fx) == LT_OK && fx.len == size && memcmp(mem, data, size) == 0);
    free(mem);

    /* Structure of the parse: compact entries, sorted dots. */
    size_t total = 0;
    for (size_t i = 0; i < d.n; i++) {
        const lt_dvv_entry *en = &d.entries[i];
        REQUIRE(en->first_dot == total);
        REQUIRE(en->base > 0 || en->ndots > 0);
        total += en->ndots;
        uint64_t prev = en->base;
        for (size_t k = 0; k < en->ndots; k++) {
            uint64_t c = d.dots[en->first_dot + k];
            if (k == 0)
                REQUIRE(c > prev && c - prev >= 2); /* above base + 1, else it extends base */
            else
                REQUIRE(c > prev);
            REQUIRE(lt_dvv_has_dot(&d, en->id, en->actor, en->actor_len, c));
            prev = c;
        }
        REQUIRE(lt_dvv_find(&d, en->id, en->actor, en->actor_len) == (ptrdiff_t)i);
        REQUIRE(lt_dvv_max(&d, en->id, en->actor, en->actor_len) == prev);
        REQUIRE(!lt_dvv_has_dot(&d, en->id, en->actor, en->actor_len, 0));
        if (en->base > 0)
            REQUIRE(lt_dvv_has_dot(&d, en->id, en->actor, en->actor_len, en->base));
        if (en->base < UINT64_MAX)
            REQUIRE(!lt_dvv_has_dot(&d, en->id, en->actor, en->actor_len, en->base + 1));
        if (prev < UINT64_MAX)
            REQUIRE(!lt_dvv_has_dot(&d, en->id, en->actor, en->actor_len, prev + 1));
    }
    REQUIRE(total == d.ndots);
    REQUIRE(lt_dvv_is_descendant(&d, &d));
    (void)lt_dvv_check_full(&d); /* any answer, reached safely */

    /* ranges → normalize → encode == x, also with every range given twice. */
    size_t cnt = lt_dvv_range_count(&d), n = 0;
    lt_dvv_range *r = malloc((2 * cnt + 1) * sizeof *r);
    REQUIRE(r != NULL);
    lt_dvv_ranges(&d, r, &n);
    REQUIRE(n <= cnt);
    size_t once = n;
    lt_dvv e1, e2;
    REQUIRE(lt_dvv_normalize(r, once, &e1) == LT_OK);
    expect_encodes(&e1, data, size);
    n = 0; /* normalize sorted r in place: fill it again, twice over */
    lt_dvv_ranges(&d, r, &n);
    lt_dvv_ranges(&d, r, &n);
    REQUIRE(n == 2 * once);
    REQUIRE(lt_dvv_normalize(r, n, &e2) == LT_OK);
    expect_encodes(&e2, data, size);
    REQUIRE(lt_dvv_is_descendant(&e1, &d) && lt_dvv_is_descendant(&d, &e2));
    lt_dvv_free(&e1);
    lt_dvv_free(&e2);
    free(r);

    /* No proper prefix parses. */
    for (size_t cut = 0; cut < size; cut++) {
        if (size > 256 && cut != 0 && cut != size - 1 && cut != size / 2 && cut % 97 != 0)
            continue;
        uint8_t *p = malloc(cut ? cut : 1);
        REQUIRE(p != NULL);
        memcpy(p, data, cut);
        lt_dvv q;
        REQUIRE(lt_dvv_parse(p, cut, &q) == LT_E_TRUNCATED);
        free(p);
    }
    lt_dvv_free(&d);
    return 0;
}
