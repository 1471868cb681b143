/* fuzz_set.c — libFuzzer target for G-Set and 2P-Set binaries (both decoders).
 *
 * The whole input as a set of each type: the structural check, the full check and every reader
 * run safely and agree on whether it is valid; a structurally valid set merges with itself into
 * its own bytes (also into a fixed buffer of twice its size), re-encodes from its entries into
 * its own bytes, finds each entry's flags and counts its value; an object joins it exactly when
 * the full check passes, and then snapshots to the same bytes with the same digest and count.
 * Then the input split into two halves: merge never crashes; when both halves are valid, the
 * merge is valid, commutative, absorbs both halves again, holds every entry of each with its
 * flags OR'ed, and (both fully valid) equals what an object joined with both snapshots to. */
#include "lt_hash.h"
#include "lt_set.h"

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
static lt_set_entry *entries_of(const lt_set_view *v) {
    lt_set_entry *e = malloc((v->n ? v->n : 1) * sizeof *e);
    REQUIRE(e != NULL);
    size_t off = 0;
    for (size_t i = 0; i < v->n; i++) {
        REQUIRE(lt_set_next_elem(v, &off, &e[i].elem, &e[i].elem_len) == LT_OK);
        e[i].id = lt_set_id(v, i);
        e[i].flags = lt_set_flags(v, i);
    }
    REQUIRE(off == v->elems_len);
    return e;
}

static void whole(const uint8_t *data, size_t size, uint8_t tag) {
    lt_set_view v;
    if (lt_set_open(&v, data, size, tag) != LT_OK)
        return;
    REQUIRE(v.ids + (tag == LT_TYPE_TWOPSET ? 9 : 8) * v.n + v.elems_len == data + size);
    lt_err st = lt_set_check(&v), deep = lt_set_check_full(&v);
    size_t count;
    uint8_t d[16], f;
    REQUIRE(lt_set_count(&v, &count) == st);
    REQUIRE(lt_set_digest(&v, d) == st);
    REQUIRE(lt_set_lookup(&v, 1, data, size > 8 ? 8 : size, &f) == st);
    lt_buf out;
    lt_buf_init(&out);
    REQUIRE(lt_set_merge(&v, &v, &out) == st);
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
    REQUIRE(lt_set_merge(&v, &v, &out) == LT_OK);
    REQUIRE(out.len == size && memcmp(mem, data, size) == 0);
    free(mem);
    /* Re-encoding the entries gives the same bytes; each entry is found with its flags. */
    lt_set_entry *e = entries_of(&v);
    size_t live = 0;
    for (size_t i = 0; i < v.n; i++) {
        REQUIRE(lt_set_lookup(&v, e[i].id, e[i].elem, e[i].elem_len, &f) == LT_OK);
        REQUIRE(f == e[i].flags);
        live += e[i].flags == LT_SET_ADDED;
    }
    REQUIRE(live == count);
    lt_buf_init(&out);
    REQUIRE(lt_set_build(tag, e, v.n, &out) == LT_OK);
    REQUIRE(bytes_eq(&out, data, size));
    lt_buf_free(&out);
    free(e);
    /* An object joins exactly the fully valid sets (and stays empty otherwise); one holding
     * the set snapshots to it, with the same digest and count. */
    lt_set_obj o;
    lt_set_obj_init(&o, tag);
    REQUIRE(lt_set_obj_join(&o, &v) == deep);
    if (deep != LT_OK) {
        REQUIRE(o.elems.n == 0 && o.live == 0);
        lt_set_obj_free(&o);
        return;
    }
    lt_buf_init(&out);
    REQUIRE(lt_set_obj_snapshot(&o, &out) == LT_OK);
    REQUIRE(bytes_eq(&out, data, size));
    lt_buf_free(&out);
    uint8_t od[16];
    REQUIRE(lt_set_obj_digest(&o, od) == LT_OK);
    REQUIRE(memcmp(od, d, 16) == 0 && o.live == count);
    lt_set_obj_free(&o);
}

static void halves(const uint8_t *data, size_t size, uint8_t tag) {
    size_t half = size / 2;
    const uint8_t *pa = data, *pb = data + half;
    size_t la = half, lb = size - half;
    lt_set_view a, b;
    if (lt_set_open(&a, pa, la, tag) != LT_OK || lt_set_open(&b, pb, lb, tag) != LT_OK)
        return;
    int ok = lt_set_check(&a) == LT_OK && lt_set_check(&b) == LT_OK;
    lt_buf m;
    lt_buf_init(&m);
    lt_err em = lt_set_merge(&a, &b, &m);
    if (!ok) {
        REQUIRE(em != LT_OK && m.len == 0);
        lt_buf_free(&m);
        return;
    }
    REQUIRE(em == LT_OK);
    lt_set_view mv;
    REQUIRE(lt_set_open(&mv, m.data, m.len, tag) == LT_OK);
    REQUIRE(lt_set_check(&mv) == LT_OK);
    REQUIRE(m.len <= size);
    /* In steps of one entry (and 128 bytes of moves): the same union. */
    lt_buf m2;
    lt_buf_init(&m2);
    lt_cols_merger *sm;
    int done = 0;
    REQUIRE(lt_set_merge_start(&a, &b, &m2, &sm) == LT_OK);
    while (!done)
        REQUIRE(lt_cols_merge_step(sm, 1, &done) == LT_OK);
    lt_cols_merge_free(sm);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    /* Commutative, and the merge absorbs both sides. */
    lt_buf_init(&m2);
    REQUIRE(lt_set_merge(&b, &a, &m2) == LT_OK);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    for (int side = 0; side < 2; side++) {
        const lt_set_view *s = side ? &b : &a;
        lt_buf_init(&m2);
        REQUIRE(lt_set_merge(&mv, s, &m2) == LT_OK);
        REQUIRE(bytes_eq(&m2, m.data, m.len));
        lt_buf_free(&m2);
        /* Every entry of each side is in the merge, with at least its flags. */
        lt_set_entry *e = entries_of(s);
        for (size_t i = 0; i < s->n; i++) {
            uint8_t f;
            REQUIRE(lt_set_lookup(&mv, e[i].id, e[i].elem, e[i].elem_len, &f) == LT_OK);
            REQUIRE((f & e[i].flags) == e[i].flags);
        }
        free(e);
    }
    /* An object joined with both (when both are fully valid) holds the merge. */
    if (lt_set_check_full(&a) != LT_OK || lt_set_check_full(&b) != LT_OK) {
        lt_buf_free(&m);
        return;
    }
    lt_set_obj o;
    lt_set_obj_init(&o, tag);
    REQUIRE(lt_set_obj_join(&o, &a) == LT_OK);
    REQUIRE(lt_set_obj_join(&o, &b) == LT_OK);
    lt_buf_init(&m2);
    REQUIRE(lt_set_obj_snapshot(&o, &m2) == LT_OK);
    REQUIRE(bytes_eq(&m2, m.data, m.len));
    lt_buf_free(&m2);
    lt_set_obj_free(&o);
    lt_buf_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int k = 0; k < 2; k++) {
        uint8_t tag = k ? LT_TYPE_TWOPSET : LT_TYPE_GSET;
        whole(data, size, tag);
        halves(data, size, tag);
    }
    return 0;
}
