/* fuzz_lwwreg.c — libFuzzer target for LWW-Register binaries (lt_lwwreg.h).
 *
 * The whole input as one register: opening never reads out of bounds; a register that opens
 * is rebuilt byte for byte from its parts, equals itself in the order, and an object that
 * joins it holds exactly its bytes and digest. Then the input split in two at a point chosen
 * by its first byte: when both halves open, the order is antisymmetric, merge picks the
 * greater, an object reaches the same state whichever it joins first, and an assign on it
 * succeeds exactly when its timestamp is above the register's. Last, the first 24 bytes as
 * (last, current, wall) for the next-timestamp rule: always past both, never behind the wall
 * clock (saturating only at the top). */
#include "lt_lwwreg.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The object's snapshot and digest are bytes p[0..len) and their digest. */
static void require_obj_is(const lt_lwwreg_obj *o, const uint8_t *p, size_t len) {
    lt_buf s;
    lt_lwwreg_view v;
    uint8_t d[16], od[16];
    lt_buf_init(&s);
    REQUIRE(lt_lwwreg_obj_snapshot(o, &s) == LT_OK);
    REQUIRE(s.len == len && memcmp(s.data, p, len) == 0);
    REQUIRE(lt_lwwreg_open(&v, p, len) == LT_OK);
    REQUIRE(lt_lwwreg_digest(&v, d) == LT_OK);
    lt_lwwreg_obj_digest(o, od);
    REQUIRE(memcmp(d, od, 16) == 0);
    REQUIRE(lt_lwwreg_obj_ts(o) == v.ts);
    lt_buf_free(&s);
}

/* The whole input (the fuzzer's bytes, read only) as one register. */
static void whole(const uint8_t *data, size_t size) {
    lt_lwwreg_view v;
    lt_lwwreg_obj o;
    lt_err e = lt_lwwreg_open(&v, data, size);
    REQUIRE(lt_lwwreg_obj_init(&o) == LT_OK);
    lt_err je = lt_lwwreg_obj_join(&o, data, size);
    REQUIRE(je == e); /* the object's decoder is the binary's */
    if (e != LT_OK) {
        static const uint8_t empty[2] = {0x15, 0x01};
        require_obj_is(&o, empty, sizeof empty); /* a refused join changes nothing */
        lt_lwwreg_obj_free(&o);
        return;
    }
    REQUIRE(lt_lwwreg_cmp(&v, &v) == 0 && lt_lwwreg_choose(&v, &v) == 0);
    if (v.empty) {
        REQUIRE(size == 2);
    } else {
        /* Canonical: the parts give back the same bytes, exactly sized. */
        size_t want;
        lt_buf w;
        REQUIRE(lt_lwwreg_size(v.actor_len, v.value_len, &want) == LT_OK && want == size);
        REQUIRE(v.body == data + 2 && v.body_len == size - 2);
        REQUIRE(v.value + v.value_len == data + size);
        lt_buf_init(&w);
        REQUIRE(lt_lwwreg_write(v.ts, v.actor, v.actor_len, v.value, v.value_len, &w) == LT_OK);
        REQUIRE(w.len == size && memcmp(w.data, data, size) == 0);
        lt_buf_free(&w);
    }
    require_obj_is(&o, data, size);
    /* Joining again changes nothing. */
    REQUIRE(lt_lwwreg_obj_join(&o, data, size) == LT_OK);
    require_obj_is(&o, data, size);
    lt_lwwreg_obj_free(&o);
}

/* The input as two registers, split where its first byte says. */
static void halves(const uint8_t *data, size_t size) {
    if (size < 2)
        return;
    size_t k = 1 + data[0] % (size - 1); /* a = data[1..k), b = data[k..size) */
    const uint8_t *pa = data + 1, *pb = data + k;
    size_t la = k - 1, lb = size - k;
    lt_lwwreg_view a, b;
    if (lt_lwwreg_open(&a, pa, la) != LT_OK || lt_lwwreg_open(&b, pb, lb) != LT_OK)
        return;
    int ab = lt_lwwreg_cmp(&a, &b), ba = lt_lwwreg_cmp(&b, &a);
    REQUIRE(ab == -ba);
    /* Equal in the order is equal bytes (the order is total over canonical registers). */
    REQUIRE((ab == 0) == (la == lb && memcmp(pa, pb, la) == 0));
    int pick = lt_lwwreg_choose(&a, &b);
    REQUIRE(pick == (ab >= 0 ? 0 : 1));
    REQUIRE(lt_lwwreg_choose(&b, &a) == (ba >= 0 ? 0 : 1));
    const uint8_t *pj = pick == 0 ? pa : pb;
    size_t lj = pick == 0 ? la : lb;
    if (!a.empty && !b.empty && a.ts != b.ts)
        REQUIRE(lt_lwwreg_cmp(pick == 0 ? &a : &b, pick == 0 ? &b : &a) > 0 &&
                (pick == 0 ? a.ts > b.ts : b.ts > a.ts));

    /* An object reaches the join whichever order the two arrive in. */
    lt_lwwreg_obj o1, o2;
    REQUIRE(lt_lwwreg_obj_init(&o1) == LT_OK && lt_lwwreg_obj_init(&o2) == LT_OK);
    REQUIRE(lt_lwwreg_obj_join(&o1, pa, la) == LT_OK && lt_lwwreg_obj_join(&o1, pb, lb) == LT_OK);
    REQUIRE(lt_lwwreg_obj_join(&o2, pb, lb) == LT_OK && lt_lwwreg_obj_join(&o2, pa, la) == LT_OK);
    require_obj_is(&o1, pj, lj);
    require_obj_is(&o2, pj, lj);

    /* Assign b's write on top of a: it goes in exactly when b's timestamp is above a's, and
     * the object then holds b byte for byte. */
    if (!b.empty) {
        lt_lwwreg_obj o3;
        REQUIRE(lt_lwwreg_obj_init(&o3) == LT_OK && lt_lwwreg_obj_join(&o3, pa, la) == LT_OK);
        lt_err e = lt_lwwreg_obj_assign(&o3, b.ts, b.actor, b.actor_len, b.value, b.value_len);
        REQUIRE(e == (b.ts > a.ts ? LT_OK : LT_E_ORDER));
        if (e == LT_OK)
            require_obj_is(&o3, pb, lb);
        else
            require_obj_is(&o3, pa, la);
        lt_lwwreg_obj_free(&o3);
    }
    lt_lwwreg_obj_free(&o1);
    lt_lwwreg_obj_free(&o2);
}

/* The first 24 bytes as (last, current, wall) for lt_lwwreg_next_ts. */
static void next_ts(const uint8_t *data, size_t size) {
    if (size < 24)
        return;
    uint64_t last = lt_read_be64(data), cur = lt_read_be64(data + 8);
    uint64_t pt = lt_read_be64(data + 16) % (LT_HLC_MAX_PHYSICAL_MS + 1);
    uint64_t next = lt_lwwreg_next_ts(last, cur, pt);
    REQUIRE(next > cur || cur == UINT64_MAX);
    REQUIRE(next > last || last == UINT64_MAX);
    REQUIRE(next >= lt_hlc_make(pt, 0));
    /* And it is the least such timestamp. */
    uint64_t floor = last == UINT64_MAX ? last : last + 1;
    if (cur != UINT64_MAX && cur + 1 > floor)
        floor = cur + 1;
    if (lt_hlc_make(pt, 0) > floor)
        floor = lt_hlc_make(pt, 0);
    REQUIRE(next == floor || (cur == UINT64_MAX && next == UINT64_MAX));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    whole(data, size);
    halves(data, size);
    next_ts(data, size);
    return 0;
}
