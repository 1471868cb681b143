/* lt_common.c — error names and the growable buffer. */
#include "lt_common.h"

#include <stdlib.h>

const char *lt_err_name(lt_err err) {
    switch (err) {
    case LT_OK:
        return "ok";
    case LT_E_TRUNCATED:
        return "truncated";
    case LT_E_TRAILING:
        return "trailing_bytes";
    case LT_E_BAD_TAG:
        return "bad_tag";
    case LT_E_NONCANONICAL:
        return "noncanonical";
    case LT_E_ORDER:
        return "bad_order";
    case LT_E_TOO_BIG:
        return "too_big";
    case LT_E_TOO_DEEP:
        return "too_deep";
    case LT_E_BAD_UTF8:
        return "bad_utf8";
    case LT_E_WRONG_TYPE:
        return "wrong_type";
    case LT_E_VERSION:
        return "unknown_version";
    case LT_E_OVERFLOW:
        return "overflow";
    case LT_E_ZERO:
        return "zero_counter";
    case LT_E_ID:
        return "bad_actor_id";
    case LT_E_BIAS:
        return "bias_mismatch";
    case LT_E_ABSENT:
        return "not_present";
    case LT_E_DOT:
        return "bad_dot";
    case LT_E_NOMEM:
        return "enomem";
    case LT_E_NOT_DATA:
        return "not_data";
    case LT_E_BUDGET:
        return "budget";
    }
    return "unknown_error";
}

void lt_buf_init(lt_buf *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
    b->fixed = 0;
}

void lt_buf_init_fixed(lt_buf *b, uint8_t *data, size_t cap) {
    b->data = data;
    b->len = 0;
    b->cap = cap;
    b->failed = 0;
    b->fixed = 1;
}

void lt_buf_init_spill(lt_buf *b, uint8_t *data, size_t cap) {
    lt_buf_init_fixed(b, data, cap);
    b->fixed = 2;
}

void lt_buf_free(lt_buf *b) {
    if (!b->fixed)
        free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

lt_err lt_buf_grow(lt_buf *b, size_t extra) {
    size_t need;
    if (b->failed)
        return LT_E_NOMEM;
    if (lt_size_add(b->len, extra, &need) != 0) {
        b->failed = 1;
        return LT_E_NOMEM;
    }
    if (need <= b->cap)
        return LT_OK;
    if (b->fixed == 1) {
        b->failed = 1;
        return LT_E_NOMEM;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    if (b->fixed == 2) { /* spill the caller's memory to the heap */
        uint8_t *heap = malloc(cap);
        if (heap == NULL) {
            b->failed = 1;
            return LT_E_NOMEM;
        }
        memcpy(heap, b->data, b->len);
        b->data = heap;
        b->cap = cap;
        b->fixed = 0;
        return LT_OK;
    }
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return LT_E_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return LT_OK;
}
