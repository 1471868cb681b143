/* test_replay.c — the anti-replay window and the table of senders, against a model. */
#include "lt_replay.h"
#include "lt_test.h"

#include <sodium.h>

/* The model: the set of accepted counters (a sorted array) and the rule of the window. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
    uint64_t greatest;
    int any;
    uint32_t span;
} model;

static int model_has(const model *m, uint64_t c) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->v[lo] == c;
}

static lt_replay_result model_check(const model *m, uint64_t c) {
    if (!m->any || c > m->greatest)
        return LT_REPLAY_OK;
    if (m->greatest - c >= m->span)
        return LT_REPLAY_TOO_OLD;
    return model_has(m, c) ? LT_REPLAY_DUPLICATE : LT_REPLAY_OK;
}

static void model_add(model *m, uint64_t c) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        if (m->v == NULL)
            abort();
    }
    size_t i = m->n;
    while (i > 0 && m->v[i - 1] > c) {
        m->v[i] = m->v[i - 1];
        i--;
    }
    m->v[i] = c;
    m->n++;
    if (!m->any || c > m->greatest)
        m->greatest = c;
    m->any = 1;
}

static const char *name(lt_replay_result r) {
    static const char *names[] = {"ok", "duplicate", "too_old", "full", "nomem"};
    return names[r];
}

/* One run of random counters around a moving front: small steps forward, reordering inside
 * the window, counters beyond it, repeats, and occasional big jumps. */
static void random_run(uint32_t bits, uint64_t seed, uint64_t start, size_t steps) {
    lt_replay_window *w = lt_replay_window_new(bits);
    CHECK(w != NULL);
    if (w == NULL)
        return;
    model m = {0};
    m.span = lt_replay_span(bits);
    uint64_t front = start, rs = seed;
    size_t mismatches = 0;
    for (size_t i = 0; i < steps; i++) {
        uint64_t r = lt_test_rand(&rs), c;
        switch (r % 8) {
        case 0: /* a repeat of something recent */
        case 1:
            c = front - lt_test_below(&rs, 2 * bits);
            break;
        case 2: /* just past the window's edge, either side */
            c = front - m.span + lt_test_below(&rs, 5) - 2;
            break;
        case 3: /* a big jump, sometimes over a whole ring */
            front += lt_test_below(&rs, 4 * bits);
            c = front;
            break;
        default: /* forward, a little reordered */
            front += lt_test_below(&rs, 3);
            c = front - lt_test_below(&rs, 8);
            break;
        }
        lt_replay_result want = model_check(&m, c);
        lt_replay_result got = lt_replay_window_check(w, c);
        if (got != want && mismatches++ < 5)
            fprintf(stderr, "    bits %u step %zu counter %llu: check %s, model %s\n", bits, i,
                    (unsigned long long)c, name(got), name(want));
        lt_replay_result up = lt_replay_window_update(w, c);
        if (up != want && mismatches++ < 5)
            fprintf(stderr, "    bits %u step %zu counter %llu: update %s, model %s\n", bits, i,
                    (unsigned long long)c, name(up), name(want));
        if (want == LT_REPLAY_OK)
            model_add(&m, c);
        /* A second update of the same counter is always refused. */
        if (lt_replay_window_update(w, c) == LT_REPLAY_OK && mismatches++ < 5)
            fprintf(stderr, "    counter %llu accepted twice\n", (unsigned long long)c);
    }
    CHECK(mismatches == 0);
    free(m.v);
    free(w);
}

static void test_window_basics(void) {
    CHECK(!lt_replay_bits_ok(512));
    CHECK(!lt_replay_bits_ok(1536));
    CHECK(!lt_replay_bits_ok(131072));
    CHECK(lt_replay_bits_ok(1024) && lt_replay_bits_ok(8192) && lt_replay_bits_ok(65536));
    CHECK(lt_replay_window_new(1000) == NULL);

    lt_replay_window *w = lt_replay_window_new(1024);
    CHECK(lt_replay_span(1024) == 960);
    /* Counter 0 is a counter. */
    CHECK(lt_replay_window_check(w, 0) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, 0) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 0) == LT_REPLAY_DUPLICATE);
    CHECK(lt_replay_window_update(w, 0) == LT_REPLAY_DUPLICATE);
    /* check changes nothing. */
    CHECK(lt_replay_window_check(w, 5) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 5) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, 5) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, 3) == LT_REPLAY_OK); /* out of order, inside */
    CHECK(lt_replay_window_update(w, 3) == LT_REPLAY_DUPLICATE);
    /* The edge: greatest - span + 1 is the oldest accepted. */
    CHECK(lt_replay_window_update(w, 2000) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 2000 - 960) == LT_REPLAY_TOO_OLD);
    CHECK(lt_replay_window_check(w, 2000 - 959) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, 2000 - 959) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 5) == LT_REPLAY_TOO_OLD);
    /* A jump of exactly one ring clears everything. */
    CHECK(lt_replay_window_update(w, 2000 + 1024) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 2000 + 1024 - 959) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, 2000 + 1024 - 960) == LT_REPLAY_TOO_OLD);
    /* The top of the range. */
    CHECK(lt_replay_window_update(w, UINT64_MAX) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, UINT64_MAX) == LT_REPLAY_DUPLICATE);
    CHECK(lt_replay_window_update(w, UINT64_MAX - 1) == LT_REPLAY_OK);
    CHECK(lt_replay_window_check(w, UINT64_MAX - 960) == LT_REPLAY_TOO_OLD);
    CHECK(lt_replay_window_check(w, 0) == LT_REPLAY_TOO_OLD);
    free(w);

    /* A fresh window accepts the top value first, then the window below it. */
    w = lt_replay_window_new(8192);
    CHECK(lt_replay_window_update(w, UINT64_MAX) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, UINT64_MAX - 8127) == LT_REPLAY_OK);
    CHECK(lt_replay_window_update(w, UINT64_MAX - 8128) == LT_REPLAY_TOO_OLD);
    free(w);
}

static void test_window_random(void) {
    uint32_t sizes[] = {1024, 2048, 8192};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        random_run(sizes[s], 1 + s, 1u << 20, 20000);
        random_run(sizes[s], 100 + s, UINT64_MAX - 50000, 20000); /* runs into the top */
    }
}

static void test_table(void) {
    CHECK(lt_replay_table_new(1000, 8) == NULL);
    CHECK(lt_replay_table_new(1024, 0) == NULL);
    CHECK(lt_replay_table_new(1024, LT_REPLAY_MAX_SENDERS + 1) == NULL);

    lt_replay_table *t = lt_replay_table_new(1024, 100);
    CHECK(t != NULL);
    const uint8_t a[] = "node-a", b[] = "node-b";
    CHECK(lt_replay_table_check(t, a, 6, 7) == LT_REPLAY_OK);
    CHECK(lt_replay_table_update(t, a, 6, 7) == LT_REPLAY_OK);
    CHECK(lt_replay_table_update(t, a, 6, 7) == LT_REPLAY_DUPLICATE);
    /* Windows are per sender. */
    CHECK(lt_replay_table_update(t, b, 6, 7) == LT_REPLAY_OK);
    uint64_t g = 0;
    CHECK(lt_replay_table_greatest(t, a, 6, &g) == 1 && g == 7);
    CHECK(lt_replay_table_greatest(t, a, 5, &g) == 0); /* "node-" is another sender */
    /* Many senders, each with its own counters; forget some, keep finding the rest. */
    uint8_t nm[LT_REPLAY_MAX_SENDER];
    memset(nm, 'x', sizeof nm);
    for (uint32_t i = 0; i < 98; i++) {
        nm[0] = (uint8_t)i;
        nm[1] = (uint8_t)(i >> 8);
        CHECK(lt_replay_table_update(t, nm, 2 + i % 200, 1000 + i) == LT_REPLAY_OK);
    }
    lt_replay_stats st;
    lt_replay_table_stats(t, &st);
    CHECK(st.senders == 100 && st.max_senders == 100 && st.bits == 1024);
    nm[0] = 200;
    CHECK(lt_replay_table_update(t, nm, 3, 1) == LT_REPLAY_FULL);
    CHECK(lt_replay_table_check(t, nm, 3, 1) == LT_REPLAY_OK);
    CHECK(lt_replay_table_forget(t, a, 6) == 1);
    CHECK(lt_replay_table_forget(t, a, 6) == 0);
    /* A forgotten sender starts again. */
    CHECK(lt_replay_table_update(t, a, 6, 7) == LT_REPLAY_OK);
    for (uint32_t i = 0; i < 98; i += 2) {
        nm[0] = (uint8_t)i;
        nm[1] = (uint8_t)(i >> 8);
        CHECK(lt_replay_table_forget(t, nm, 2 + i % 200) == 1);
    }
    int all_found = 1;
    for (uint32_t i = 0; i < 98; i++) {
        nm[0] = (uint8_t)i;
        nm[1] = (uint8_t)(i >> 8);
        int has = lt_replay_table_greatest(t, nm, 2 + i % 200, &g);
        if (i % 2 == 0 ? has : !(has && g == 1000 + i))
            all_found = 0;
        if (i % 2 == 1 &&
            lt_replay_table_update(t, nm, 2 + i % 200, 1000 + i) != LT_REPLAY_DUPLICATE)
            all_found = 0;
    }
    CHECK(all_found);
    /* The longest name. */
    memset(nm, 'y', sizeof nm);
    CHECK(lt_replay_table_update(t, nm, LT_REPLAY_MAX_SENDER, 1) == LT_REPLAY_OK);
    CHECK(lt_replay_table_update(t, nm, LT_REPLAY_MAX_SENDER, 1) == LT_REPLAY_DUPLICATE);
    lt_replay_table_stats(t, &st);
    CHECK(st.senders == 100 - 49 + 1);
    CHECK(st.full == 1 && st.duplicates >= 3);
    lt_replay_table_free(t);
    lt_replay_table_free(NULL);
}

/* Random inserts and deletes against a naive list, in a small table (long probe runs). */
static void test_table_churn(void) {
    lt_replay_table *t = lt_replay_table_new(1024, 64);
    uint64_t live[256] = {0}; /* greatest+1 per name id, 0 when absent */
    uint64_t rs = 42;
    int ok = 1;
    for (int step = 0; step < 20000; step++) {
        uint8_t id = (uint8_t)lt_test_below(&rs, 96);
        uint8_t nm[3] = {'n', id, (uint8_t)(id * 7)};
        size_t n = 0;
        for (int k = 0; k < 96; k++)
            n += live[k] != 0;
        if (lt_test_below(&rs, 3) == 0) {
            int had = lt_replay_table_forget(t, nm, 3);
            if (had != (live[id] != 0))
                ok = 0;
            live[id] = 0;
        } else {
            uint64_t c = live[id] ? live[id] : 1;
            lt_replay_result r = lt_replay_table_update(t, nm, 3, c);
            lt_replay_result want = live[id] || n < 64 ? LT_REPLAY_OK : LT_REPLAY_FULL;
            if (r != want)
                ok = 0;
            if (r == LT_REPLAY_OK)
                live[id] = c + 1;
        }
    }
    CHECK(ok);
    lt_replay_table_free(t);
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    test_window_basics();
    test_window_random();
    test_table();
    test_table_churn();
    return lt_test_summary();
}
