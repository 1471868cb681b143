/* fuzz_dotkernel.c — libFuzzer target for the dot-kernel binaries: OR-Set, LWW-Map and
 * MV-Register (lt_dotkernel.h). The first byte is the type tag, so one corpus covers all three.
 *
 * The whole input: the checks, lookup, digest and merge run safely and agree on whether it is
 * valid; a structurally valid state merges with itself into its own bytes; an object joins it
 * exactly when the full check passes, and then snapshots to the same bytes with the same digest;
 * an update on a fully valid state gives the same delta and state through the binary functions
 * and through the object. Then the input split in two: merge never crashes; when both halves
 * are fully valid their merge is fully valid, commutative, absorbs both halves, and equals
 * what an object joined with both snapshots to. */
#include "lt_canon.h"
#include "lt_dotkernel.h"
#include "lt_hash.h"

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

static int is_tag(uint8_t t) {
    return t == LT_TYPE_ORSET || t == LT_TYPE_LWWMAP || t == LT_TYPE_MVREG;
}

/* An object joined with the view, snapshotted into `out` (which the caller frees). */
static lt_err object_of(const lt_dk_view *v, uint8_t tag, lt_buf *out, uint8_t digest[16]) {
    lt_dk_obj o;
    lt_dk_obj_init(&o, tag);
    lt_err e = lt_dk_obj_join(&o, v);
    lt_buf_init(out);
    if (e == LT_OK) {
        REQUIRE(lt_dk_obj_snapshot(&o, out) == LT_OK);
        REQUIRE(lt_dk_obj_digest(&o, digest) == LT_OK);
    }
    lt_dk_obj_free(&o);
    return e;
}

/* An update (add, or remove of the first key when there is one) on the binary and the object:
 * the same result, delta and state. */
static void update_both(const lt_dk_view *v, const uint8_t *data, size_t size) {
    static const uint8_t actor[] = {LT_TAG_INT, 0x2a}; /* the canonical integer 21 */
    uint8_t key[] = {LT_TAG_INT, 0x02}, payload[10] = {0, 0, 0, 0, 0, 0, 0, 5, LT_TAG_INT, 0x04};
    lt_dk_op op = {lt_actor_id(key, sizeof key), key, sizeof key, NULL, 0, 1};
    if (v->tag == LT_TYPE_LWWMAP) {
        op.payload = payload;
        op.payload_len = sizeof payload;
    }
    lt_dk_entry first;
    size_t off = 0;
    if (v->ne > 0 && (size & 1)) { /* a removal, of a key that is there */
        REQUIRE(lt_dk_next(v, 0, &off, &first) == LT_OK);
        op.id = first.id;
        op.key = first.key;
        op.key_len = first.key_len;
        op.add = 0;
    }
    lt_dk_obj o;
    lt_dk_obj_init(&o, v->tag);
    REQUIRE(lt_dk_obj_join(&o, v) == LT_OK);
    lt_buf d1, s1, d2, snap;
    size_t a1 = 0, a2 = 0;
    lt_buf_init(&d1);
    lt_buf_init(&s1);
    lt_buf_init(&d2);
    lt_buf_init(&snap);
    uint64_t aid = lt_actor_id(actor, sizeof actor);
    int all = v->tag == LT_TYPE_MVREG;
    lt_err e1 = lt_dk_update(v, aid, actor, sizeof actor, &op, 1, all, &d1, &s1, &a1);
    lt_err e2 = lt_dk_obj_update(&o, aid, actor, sizeof actor, &op, 1, all, &d2, &a2);
    REQUIRE(e1 == e2);
    REQUIRE(e1 == LT_OK || e1 == LT_E_OVERFLOW);
    if (e1 == LT_OK) {
        REQUIRE(bytes_eq(&d2, d1.data, d1.len));
        REQUIRE(lt_dk_obj_snapshot(&o, &snap) == LT_OK);
        REQUIRE(bytes_eq(&snap, s1.data, s1.len));
        lt_dk_view sv;
        REQUIRE(lt_dk_open(&sv, s1.data, s1.len, v->tag) == LT_OK);
        REQUIRE(lt_dk_check_full(&sv) == LT_OK);
        lt_dk_close(&sv);
    }
    (void)data;
    lt_buf_free(&d1);
    lt_buf_free(&s1);
    lt_buf_free(&d2);
    lt_buf_free(&snap);
    lt_dk_obj_free(&o);
}

static void whole(const uint8_t *data, size_t size) {
    lt_dk_view v;
    if (size == 0 || !is_tag(data[0]) || lt_dk_open(&v, data, size, data[0]) != LT_OK)
        return;
    lt_err st = lt_dk_check(&v), deep = lt_dk_check_full(&v);
    uint8_t d[16], od[16];
    lt_dk_entry en;
    int found;
    REQUIRE(st != LT_OK || deep == LT_OK || deep != LT_OK); /* both ran */
    REQUIRE(deep == LT_OK ? st == LT_OK : 1);
    REQUIRE(lt_dk_digest(&v, d) == st);
    REQUIRE(lt_dk_lookup(&v, 1, data, size > 4 ? 4 : size, &en, &found) == st);
    lt_buf out;
    lt_buf_init(&out);
    lt_err me = lt_dk_merge(&v, &v, &out);
    REQUIRE((me == LT_OK) == (st == LT_OK));
    if (me == LT_OK)
        REQUIRE(bytes_eq(&out, data, size));
    else
        REQUIRE(out.len == 0);
    lt_buf_free(&out);
    lt_err oe = object_of(&v, data[0], &out, od);
    REQUIRE((oe == LT_OK) == (deep == LT_OK));
    if (oe == LT_OK) {
        REQUIRE(bytes_eq(&out, data, size));
        REQUIRE(memcmp(od, d, 16) == 0);
        update_both(&v, data, size);
    }
    lt_buf_free(&out);
    lt_dk_close(&v);
}

static void halves(const uint8_t *data, size_t size) {
    size_t half = size / 2;
    lt_dk_view a, b;
    if (half < 4 || !is_tag(data[0]) || data[half] != data[0])
        return;
    if (lt_dk_open(&a, data, half, data[0]) != LT_OK)
        return;
    if (lt_dk_open(&b, data + half, size - half, data[0]) != LT_OK) {
        lt_dk_close(&a);
        return;
    }
    lt_buf ab, ba;
    lt_buf_init(&ab);
    lt_buf_init(&ba);
    lt_err e = lt_dk_merge(&a, &b, &ab);
    size_t bound = lt_dk_merge_bound(&a, &b);
    if (e == LT_OK && bound > 0) { /* the bound holds: the join fits a fixed buffer */
        uint8_t *mem = malloc(bound);
        lt_buf fixed;
        REQUIRE(mem != NULL);
        lt_buf_init_fixed(&fixed, mem, bound);
        REQUIRE(lt_dk_merge(&a, &b, &fixed) == LT_OK);
        REQUIRE(bytes_eq(&fixed, ab.data, ab.len));
        free(mem);
    }
    if (lt_dk_check_full(&a) == LT_OK && lt_dk_check_full(&b) == LT_OK) {
        REQUIRE(e == LT_OK);
        REQUIRE(lt_dk_merge(&b, &a, &ba) == LT_OK);
        REQUIRE(bytes_eq(&ba, ab.data, ab.len));
        lt_dk_view m;
        REQUIRE(lt_dk_open(&m, ab.data, ab.len, data[0]) == LT_OK);
        REQUIRE(lt_dk_check_full(&m) == LT_OK);
        lt_buf again;
        lt_buf_init(&again);
        REQUIRE(lt_dk_merge(&m, &a, &again) == LT_OK);
        REQUIRE(bytes_eq(&again, ab.data, ab.len));
        lt_buf_free(&again);
        lt_dk_obj o;
        lt_dk_obj_init(&o, data[0]);
        REQUIRE(lt_dk_obj_join(&o, &a) == LT_OK);
        REQUIRE(lt_dk_obj_join(&o, &b) == LT_OK);
        REQUIRE(lt_dk_obj_snapshot(&o, &again) == LT_OK);
        REQUIRE(bytes_eq(&again, ab.data, ab.len));
        uint8_t d1[16], d2[16];
        REQUIRE(lt_dk_obj_digest(&o, d1) == LT_OK);
        REQUIRE(lt_dk_digest(&m, d2) == LT_OK);
        REQUIRE(memcmp(d1, d2, 16) == 0);
        lt_buf_free(&again);
        lt_dk_obj_free(&o);
        lt_dk_close(&m);
    }
    lt_buf_free(&ab);
    lt_buf_free(&ba);
    lt_dk_close(&a);
    lt_dk_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    whole(data, size);
    halves(data, size);
    return 0;
}
