/* test_hlc.c — hybrid logical clock timestamps (lt_hlc.h). */
#include "lt_test.h"

#include "lt_hlc.h"

#define MS UINT64_C(1700000000000) /* a plausible wall clock, ms since the epoch */

static void test_layout(void) {
    uint64_t t = lt_hlc_make(MS, 5);
    CHECK_U64(t, (MS << 16) | 5);
    CHECK_U64(lt_hlc_physical(t), MS);
    CHECK_U64(lt_hlc_logical(t), 5);
    /* The logical part is masked to 16 bits. */
    CHECK_U64(lt_hlc_make(MS, 0x1ffff), (MS << 16) | 0xffff);
    CHECK_U64(LT_HLC_MAX_PHYSICAL_MS, (UINT64_C(1) << 48) - 1);
    CHECK_U64(lt_hlc_make(LT_HLC_MAX_PHYSICAL_MS, 0xffff), UINT64_MAX);
    /* Integer order is (physical, logical) order. */
    CHECK(lt_hlc_make(MS, 0xffff) < lt_hlc_make(MS + 1, 0));
    CHECK(lt_hlc_make(MS, 1) < lt_hlc_make(MS, 2));
}

static void test_tick(void) {
    /* Fresh clock: the wall clock with logical 0. */
    CHECK_U64(lt_hlc_tick(0, MS), lt_hlc_make(MS, 0));
    /* Same millisecond: the logical part counts. */
    uint64_t t = lt_hlc_tick(0, MS);
    uint64_t t2 = lt_hlc_tick(t, MS);
    CHECK_U64(t2, lt_hlc_make(MS, 1));
    /* The wall clock moves on: logical back to 0. */
    CHECK_U64(lt_hlc_tick(t2, MS + 3), lt_hlc_make(MS + 3, 0));
    /* The wall clock steps back: stay ahead of the last timestamp. */
    uint64_t ahead = lt_hlc_make(MS + 1000, 7);
    CHECK_U64(lt_hlc_tick(ahead, MS), lt_hlc_make(MS + 1000, 8));
    CHECK_U64(lt_hlc_tick(ahead, 0), ahead + 1);
    /* Logical overflow carries into the physical part. */
    uint64_t full = lt_hlc_make(MS, 0xffff);
    uint64_t carried = lt_hlc_tick(full, MS);
    CHECK_U64(carried, lt_hlc_make(MS + 1, 0));
    CHECK_U64(lt_hlc_physical(carried), MS + 1);
    CHECK_U64(lt_hlc_tick(carried, MS), lt_hlc_make(MS + 1, 1));
    /* Saturation: UINT64_MAX stays put, and a wall clock past 48 bits is clamped. */
    CHECK_U64(lt_hlc_tick(UINT64_MAX, MS), UINT64_MAX);
    CHECK_U64(lt_hlc_tick(UINT64_MAX, UINT64_MAX), UINT64_MAX);
    CHECK_U64(lt_hlc_tick(UINT64_MAX - 1, 0), UINT64_MAX);
    CHECK_U64(lt_hlc_tick(0, UINT64_MAX), lt_hlc_make(LT_HLC_MAX_PHYSICAL_MS, 0));
    CHECK_U64(lt_hlc_tick(0, LT_HLC_MAX_PHYSICAL_MS + 1), lt_hlc_make(LT_HLC_MAX_PHYSICAL_MS, 0));

    /* A long run with a wall clock that wanders back and forth: strictly increasing, never
     * behind the (clamped) wall clock, and never more than one carry ahead of what it saw. */
    uint64_t rng = 1;
    uint64_t last = 0, wall = MS, max_wall = 0;
    unsigned bad = 0;
    for (int k = 0; k < 300000; k++) {
        uint64_t r = lt_test_rand(&rng);
        if (r % 7 == 0)
            wall -= r % 5000; /* NTP step back */
        else if (r % 3 == 0)
            wall += r % 3;
        uint64_t next = lt_hlc_tick(last, wall);
        if (next <= last || next < lt_hlc_make(wall, 0))
            bad++;
        if (wall > max_wall)
            max_wall = wall;
        last = next;
    }
    CHECK(bad == 0);
    /* 300000 events: at most a few carries past the highest wall clock seen. */
    CHECK(lt_hlc_physical(last) <= max_wall + 300000 / 65536 + 1);
}

static void test_receive(void) {
    uint64_t out = 0, skew = 0;
    /* Remote behind everything: last + 1 or the wall clock wins. */
    CHECK_ERR(lt_hlc_receive(lt_hlc_make(MS, 4), lt_hlc_make(MS - 10, 9), MS, 500, &out, &skew),
              LT_OK);
    CHECK_U64(out, lt_hlc_make(MS, 5));
    CHECK_ERR(
        lt_hlc_receive(lt_hlc_make(MS - 50, 4), lt_hlc_make(MS - 10, 9), MS, 500, &out, &skew),
        LT_OK);
    CHECK_U64(out, lt_hlc_make(MS, 0));
    /* Remote ahead (within the offset): remote + 1. */
    CHECK_ERR(lt_hlc_receive(lt_hlc_make(MS, 4), lt_hlc_make(MS + 200, 9), MS, 500, &out, &skew),
              LT_OK);
    CHECK_U64(out, lt_hlc_make(MS + 200, 10));
    /* Remote equal to last: one past both. */
    CHECK_ERR(lt_hlc_receive(lt_hlc_make(MS, 4), lt_hlc_make(MS, 4), MS, 500, &out, &skew), LT_OK);
    CHECK_U64(out, lt_hlc_make(MS, 5));
    /* Remote with a full logical part: the carry. */
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS, 0xffff), MS, 500, &out, &skew), LT_OK);
    CHECK_U64(out, lt_hlc_make(MS + 1, 0));
    /* Exactly max_offset ahead is accepted; one more is refused and reported. */
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS + 500, 0), MS, 500, &out, &skew), LT_OK);
    CHECK_U64(out, lt_hlc_make(MS + 500, 1));
    out = 12345;
    skew = 0;
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS + 501, 0), MS, 500, &out, &skew), LT_E_TOO_BIG);
    CHECK_U64(skew, 501);
    CHECK_U64(out, 12345); /* untouched */
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS + 86400000, 3), MS, 500, &out, &skew), LT_E_TOO_BIG);
    CHECK_U64(skew, 86400000);
    /* A zero offset accepts only remotes not ahead of the wall clock in ms. */
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS, 0xfffe), MS, 0, &out, &skew), LT_OK);
    CHECK_U64(out, lt_hlc_make(MS, 0xffff));
    CHECK_ERR(lt_hlc_receive(0, lt_hlc_make(MS + 1, 0), MS, 0, &out, &skew), LT_E_TOO_BIG);
    CHECK_U64(skew, 1);
    /* Saturation. */
    CHECK_ERR(lt_hlc_receive(0, UINT64_MAX, LT_HLC_MAX_PHYSICAL_MS, 0, &out, &skew), LT_OK);
    CHECK_U64(out, UINT64_MAX);
    CHECK_ERR(lt_hlc_receive(UINT64_MAX, 0, MS, 0, &out, &skew), LT_OK);
    CHECK_U64(out, UINT64_MAX);
    CHECK_ERR(lt_hlc_receive(0, UINT64_MAX, 0, UINT64_MAX, &out, &skew), LT_OK);
    CHECK_U64(out, UINT64_MAX);
    CHECK_ERR(lt_hlc_receive(0, UINT64_MAX, 0, 0, &out, &skew), LT_E_TOO_BIG);
    CHECK_U64(skew, LT_HLC_MAX_PHYSICAL_MS);

    /* Against the rule, at random: max(last + 1, remote + 1, pt << 16) when not too far ahead. */
    uint64_t rng = 77;
    unsigned bad = 0;
    for (int k = 0; k < 200000; k++) {
        uint64_t pt = MS + lt_test_below(&rng, 1000);
        uint64_t last = lt_hlc_make(MS + lt_test_below(&rng, 1200), lt_test_rand(&rng));
        uint64_t remote = lt_hlc_make(MS + lt_test_below(&rng, 2000), lt_test_rand(&rng));
        uint64_t maxoff = lt_test_below(&rng, 800);
        uint64_t o = 0, sk = 0;
        lt_err e = lt_hlc_receive(last, remote, pt, maxoff, &o, &sk);
        uint64_t rp = lt_hlc_physical(remote);
        if (rp > pt && rp - pt > maxoff) {
            if (e != LT_E_TOO_BIG || sk != rp - pt || o != 0)
                bad++;
        } else {
            uint64_t want = last + 1;
            if (remote + 1 > want)
                want = remote + 1;
            if ((pt << 16) > want)
                want = pt << 16;
            if (e != LT_OK || o != want || o <= last || o <= remote)
                bad++;
        }
    }
    CHECK(bad == 0);
}

int main(void) {
    test_layout();
    test_tick();
    test_receive();
    return lt_test_summary();
}
