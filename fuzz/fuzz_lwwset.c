/* fuzz_lwwset.c — libFuzzer target for LWW-Element-Set binaries.
 *
 * The whole input as a set: the structural check, the full check and every reader run safely
 * and agree on whether it is valid; a structurally valid set merges with itself into its own
 * bytes (also into a fixed buffer of twice its size), re-encodes from its entries into its own
 * bytes, finds each entry's timestamps (one by one and in one sorted pass) and counts its value;
 * an object joins it exactly when the full check passes, and then snapshots to the same bytes
 * with the same digest and count. Then the input split into two halves: merge never crashes;
 * when both halves are valid and of one bias, the merge is valid, commutative, absorbs both
 * halves again, holds every entry of each with timestamps at least as late, and (both fully
 * valid) equals what an object joined with both snapshots to; of two biases, it is LT_E_BIAS. */
#include "lt_hash.h"
#include "lt_lwwset.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int bytes_eq(const lt_buf *b, const uint8_t *p, size_t n) {
    return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

/* The entries of a checked set, in order, pointing into its bytes (caller frees). */
static lt_lwwset_entry *entries_of(const lt_lwwset_view *v) {
    lt_lwwset_entry *e = malloc((v->n ? v->n : 1) * sizeof *e);
    REQUIRE(e != NULL);
    size_t off = 0;
    for (size_t i = 0; i < v->n; i++) {
        REQUIRE(lt_lwwset_next_elem(v, &off, &e[i].elem, &e[i].elem_len) == LT_OK);
        e[i].id = lt_lwwset_id(v, i);
        e[i].add_ts = lt_lwwset_add_ts(v, i);
        e[i].rem_ts = lt_lwwset_rem_ts(v, i);
    }
    REQUIRE(off == v->elems_len);
    return e;
}

static void whole(const uint8_t *data, size_t size) {
    lt_lwwset_view v;
    if (lt_lwwset_open(&v, data, size) != LT_OK)
        return;
    REQUIRE(v.ids + LT_LWWSET_FIXED * v.n + v.elems_len == data + size);
    lt_err st = lt_lwwset_check(&v), deep = lt_lwwset_check_full(&v);
    size_t count;
    uint8_t d[16];
    uint64_t fa, fr;
    REQUIRE(lt_lwwset_count(&v, &count) == st);
    REQUIRE(lt_lwwset_digest(&v, d) == st);
    REQUIRE(lt_lwwset_lookup(&v, 1, data, size > 8 ? 8 : size, &fa, &fr) == st);
    lt_buf out;
    lt_buf_init(&out);
    REQUIRE(lt_lwwset_merge(&v, &v, &out) == st);
    if (st != LT_OK) {
        REQUIRE(deep == st && out.len == 0);
        lt_buf_free(&out);
        return;
    }
    /* merge(x, x) is x, also into a fixed buffer of the two inputs' size. */
    REQUIRE(bytes_eq(&out, data, size));
    lt_buf_free(&out);
    uint8_t *mem = malloc(2 * size);
    REQUIRE(mem != NULL);
    lt_buf_init_fixed(&out, mem, 2 * size);
    REQUIRE(lt_lwwset_merge(&v, &v, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(mem, data, size) == 0);
    free(mem);
    /* Each entry is found with its timestamps, one by one and in one sorted pass (the entries
     * are in canonical order already); the count is the entries in the value. */
    lt_lwwset_entry *e = entries_of(&v);
    uint64_t *adds = malloc((v.n ? v.n : 1) * 2 * sizeof *adds);
    REQUIRE(adds != NULL);
    REQUIRE(lt_lwwset_lookup_sorted(&v, e, v.n, adds, adds + v.n) == LT_OK);
    size_t live = 0;
    for (size_t i = 0; i < v.n; i++) {
        REQUIRE(lt_lwwset_lookup(&v, e[i].id, e[i].elem, e[i].elem_len, &fa, &fr) == LT_OK);
        REQUIRE(fa == e[i].add_ts && fr == e[i].rem_ts);
        REQUIRE(adds[i] == fa && adds[v.n + i] == fr);
        REQUIRE(fa != 0 || fr != 0);
        live += (size_t)lt_lwwset_is_in_value(v.bias, fa, fr);
    }
    free(adds);
    REQUIRE(live == count);
    /* Re-encoding the entries gives the same bytes. */
    lt_buf_init(&out);
    REQUIRE(lt_lwwset_build(v.bias, e, v.n, &out) == LT_OK);
    REQUIRE(bytes_eq(&out, data, size));
    lt_buf_free(&out);
    free(e);
    /* An object joins exactly the fully valid sets (and stays empty otherwise); one holding
     * the set snapshots to it, with the same digest and count. */
    lt_lwwset_obj o;
    lt_lwwset_obj_init(&o, LT_LWWSET_UNSET);
    REQUIRE(lt_lwwset_obj_join(&o, &v) == deep);
    if (deep != LT_OK) {
        REQUIRE(o.elems.n == 0 && o.live == 0);
        lt_lwwset_obj_free(&o);
        return;
    }
    REQUIRE(o.bias == v.bias);
    lt_buf_init(&out);
    REQUIRE(lt_lwwset_obj_snapshot(&o, &out) == LT_OK);
    REQUIRE(bytes_eq(&out, data, size));
    lt_buf_free(&out);
    uint8_t od[16];
    REQUIRE(lt_lwwset_obj_digest(&o, od) == LT_OK);
    REQUIRE(memcmp(od, d, 16) == 0 && o.live == count);
    lt_lwwset_obj_free(&o);
}

static void halves(const uint8_t *data, size_t size) {
    size_t half = size / 2;
    const uint8_t *pa = data, *pb = data + half;
    size_t la = half, lb = size - half;
    lt_lwwset_view a, b;
    if (lt_lwwset_open(&a, pa, la) != LT_OK || lt_lwwset_open(&b, pb, lb) != LT_OK)
        return;
    int ok = lt_lwwset_check(&a) == LT_OK && lt_lwwset_check(&b) == LT_OK;
    lt_buf m;
    lt_buf_init(&m);
    lt_err em = lt_lwwset_merge(&a, &b, &m);
    if (!ok || a.bias != b.bias) {
        REQUIRE(em != LT_OK && m.len == 0);
        REQUIRE(!ok || em == LT_E_BIAS);
        lt_buf_free(&m);
        return;
    }
    REQUIRE(em == LT_OK);
    lt_lwwset_view mv;
    REQUIRE(lt_lwwset_open(&mv, m.data, m.len) == LT_OK);
    REQUIRE(lt_lwwset_check(&mv) == LT_OK);
    REQUIRE(m.len <= size);
    REQUIRE(mv.bias == a.bias);
    /* In steps of one entry (and 128 bytes of moves): the same merge. */
    lt_buf m2;
    lt_buf_init(&m2);
    lt_cols_merger *sm;
    int done = 0;
    REQUIRE(lt_lwwset_merge_start(&a, &b, &m2, &sm) == LT_OK);
    while (!done)
        REQUIRE(lt_cols_merge_step(sm, 1, &done) == LT_OK);
    lt_cols_merge_free(sm);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    /* Commutative, and the merge absorbs both sides. */
    lt_buf_init(&m2);
    REQUIRE(lt_lwwset_merge(&b, &a, &m2) == LT_OK);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    for (int side = 0; side < 2; side++) {
        const lt_lwwset_view *s = side ? &b : &a;
        lt_buf_init(&m2);
        REQUIRE(lt_lwwset_merge(&mv, s, &m2) == LT_OK);
        REQUIRE(bytes_eq(&m2, m.data, m.len));
        lt_buf_free(&m2);
        /* Every entry of each side is in the merge, with timestamps at least as late. */
        lt_lwwset_entry *e = entries_of(s);
        for (size_t i = 0; i < s->n; i++) {
            uint64_t fa, fr;
            REQUIRE(lt_lwwset_lookup(&mv, e[i].id, e[i].elem, e[i].elem_len, &fa, &fr) == LT_OK);
            REQUIRE(fa >= e[i].add_ts && fr >= e[i].rem_ts);
        }
        free(e);
    }
    /* An object joined with both (when both are fully valid) holds the merge. */
    if (lt_lwwset_check_full(&a) != LT_OK || lt_lwwset_check_full(&b) != LT_OK) {
        lt_buf_free(&m);
        return;
    }
    lt_lwwset_obj o;
    lt_lwwset_obj_init(&o, LT_LWWSET_UNSET);
    REQUIRE(lt_lwwset_obj_join(&o, &a) == LT_OK);
    REQUIRE(lt_lwwset_obj_join(&o, &b) == LT_OK);
    lt_buf_init(&m2);
    REQUIRE(lt_lwwset_obj_snapshot(&o, &m2) == LT_OK);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    uint8_t d1[16], d2[16];
    REQUIRE(lt_lwwset_digest(&mv, d1) == LT_OK);
    REQUIRE(lt_lwwset_obj_digest(&o, d2) == LT_OK);
    REQUIRE(memcmp(d1, d2, 16) == 0);
    lt_lwwset_obj_free(&o);
    lt_buf_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    whole(data, size);
    halves(data, size);
    return 0;
}
