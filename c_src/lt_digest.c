/* lt_digest.c — the final step of a state digest. See lt_digest.h. */
#include "lt_digest.h"

#include <stdlib.h>

lt_err lt_digest_final(const lt_digest_acc *d, uint8_t tag, uint8_t version, const uint8_t *global,
                       size_t global_len, uint8_t out[16]) {
    uint8_t head[10 + 16];
    head[0] = tag;
    head[1] = version;
    lt_write_be64(head + 2, d->count);
    lt_write_be64(head + 10, d->hi);
    lt_write_be64(head + 18, d->lo);
    /* Hashed as head[0..10) ‖ global ‖ head[10..26), streamed so global is not copied. */
    lt_hash_state *s = lt_hash_state_new(128, 0);
    if (s == NULL)
        return LT_E_NOMEM;
    lt_hash_state_update(s, head, 10);
    if (global_len)
        lt_hash_state_update(s, global, global_len);
    lt_hash_state_update(s, head + 10, 16);
    lt_hash128_t h = lt_hash_state_digest128(s);
    lt_hash_state_free(s);
    lt_write_be64(out, h.hi);
    lt_write_be64(out + 8, h.lo);
    return LT_OK;
}
