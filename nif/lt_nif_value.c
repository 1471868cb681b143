/* lt_nif_value.c — turning the canonical bytes of the CRDT types into Erlang values: whole
 * terms, digests, and lists of elements in the order the Erlang modules promise. Shared by
 * every type's glue. */
#include "lt_nif.h"

#include "lt_canon.h"

#include <stdlib.h>

ERL_NIF_TERM lt_digest_term(ErlNifEnv *env, const uint8_t d[16]) {
    ERL_NIF_TERM t;
    unsigned char *p = enif_make_new_binary(env, 16, &t);
    if (p == NULL)
        return lt_raise_nomem(env);
    memcpy(p, d, 16);
    return t;
}

lt_err lt_decode_whole(ErlNifEnv *env, const uint8_t *p, size_t len, ERL_NIF_TERM *t) {
    size_t off = 0;
    int unknown = 0;
    lt_err e = lt_decode_term(env, p, len, &off, 0, t, &unknown);
    return e == LT_OK && off != len ? LT_E_TRAILING : e;
}

/* Fills the sort key of an item from its canonical bytes (kind 0 when it has none). */
static void value_item_key(lt_value_item *it) {
    lt_canon_item c;
    size_t off = 0;
    it->kind = 0;
    if (lt_canon_next(it->bytes, it->len, &off, &c) != LT_OK || off != it->len)
        return; /* a container: its header only was read */
    if (c.tag == LT_TAG_INT) {
        it->kind = LT_TAG_INT;
        it->i = c.i;
    } else if (c.tag == LT_TAG_ATOM || c.tag == LT_TAG_BINARY) {
        it->kind = c.tag;
        it->txt = c.data;
        it->txt_len = (size_t)c.n;
    }
}

lt_err lt_value_item_init(ErlNifEnv *env, lt_value_item *it, const uint8_t *bytes, size_t len) {
    it->bytes = bytes;
    it->len = len;
    lt_err e = lt_decode_whole(env, bytes, len, &it->t);
    if (e == LT_OK)
        value_item_key(it);
    return e;
}

/* qsort order of two lt_value_item pointers: Erlang term order; terms that compare equal
 * without being the same (1 and 1.0) by their canonical bytes, as lattice_gset:sort_elements/1
 * orders them. Two integers, two atoms or two binaries are compared here directly, as the VM
 * does it: integers by value, atoms by their text (UTF-8 byte order is code point order),
 * binaries byte by byte, a prefix first. Anything else goes to enif_compare. */
static int value_item_cmp(const void *x, const void *y) {
    const lt_value_item *a = *(const lt_value_item *const *)x;
    const lt_value_item *b = *(const lt_value_item *const *)y;
    int c;
    if (a->kind != 0 && a->kind == b->kind)
        c = a->kind == LT_TAG_INT ? (a->i > b->i) - (a->i < b->i)
                                  : lt_bytes_cmp(a->txt, a->txt_len, b->txt, b->txt_len);
    else
        c = enif_compare(a->t, b->t);
    return c != 0 ? c : lt_bytes_cmp(a->bytes, a->len, b->bytes, b->len);
}

void lt_value_items_sort(lt_value_item **order, size_t k) {
    if (k > 1)
        qsort(order, k, sizeof *order, value_item_cmp);
}

ERL_NIF_TERM lt_value_items_list(ErlNifEnv *env, lt_value_item **order, size_t k) {
    lt_value_items_sort(order, k);
    ERL_NIF_TERM list = enif_make_list(env, 0);
    for (size_t i = k; i-- > 0;)
        list = enif_make_list_cell(env, order[i]->t, list);
    return list;
}
