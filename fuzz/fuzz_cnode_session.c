/*
 * fuzz_cnode_session — libFuzzer target for the decoders of the C node's session messages
 * (cnode/lt_cnode_proto.c): the header, HELLO, RESOLVE, RESULT and ABORT.
 *
 * Properties: no input crashes or reads out of bounds; every accepted message's parts lie in
 * the input; the key records of an accepted RESOLVE or RESULT are walked in exactly their count,
 * ending at the end of the body; a RESULT's bitmap has no bit set past its count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cnode_proto.h"

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void walk_keys(const lt_ae_keys_msg *m, int with_side, uint64_t expect, const uint8_t *end) {
    size_t off = 0;
    uint64_t count = 0;
    lt_ae_key k;
    while (lt_ae_key_next(m, with_side, &off, &k)) {
        REQUIRE(k.key_len >= 1 && k.key_len <= LT_BATCH_MAX_KEY);
        REQUIRE(k.key >= m->keys && k.digest + 16 <= end);
        REQUIRE(k.side <= 2);
        count++;
    }
    REQUIRE(count == expect && off == m->keys_len);
}

static void check_body(const uint8_t *b, size_t len) {
    lt_ae_hello h;
    lt_ae_keys_msg m;
    if (lt_ae_hello_parse(b, len, 6, &h) == 0)
        REQUIRE(h.levels >= 1 && h.levels <= 6 && h.store_len >= 1 &&
                h.store + h.store_len == b + len);
    if (lt_ae_resolve_parse(b, len, 100000, &m) == 0) {
        REQUIRE(m.owner + m.owner_len <= b + len);
        REQUIRE(m.hashes + 8 * m.n_hashes <= b + len);
        REQUIRE(m.keys + m.keys_len == b + len);
        walk_keys(&m, 1, m.n_keys, b + len);
    }
    /* The RESULT's expected bit count is taken from the first byte, as a session would know it. */
    uint64_t bits = len > 0 ? b[0] : 0;
    if (len > 1 && lt_ae_result_parse(b + 1, len - 1, bits, 100000, &m) == 0) {
        REQUIRE(m.n_keys == bits);
        REQUIRE(m.bitmap + (bits + 7) / 8 <= b + len);
        if (bits % 8 != 0)
            REQUIRE((m.bitmap[bits / 8] >> (bits % 8)) == 0);
        REQUIRE(m.keys + m.keys_len == b + len);
        walk_keys(&m, 0, m.n_own, b + len);
    }
    int r = lt_ae_abort_parse(b, len);
    REQUIRE(r == -1 || (r >= 1 && r <= LT_AE_ABORT_MAX && len == 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lt_ae_header h;
    if (lt_ae_header_parse(data, size, &h) == 0) {
        REQUIRE(h.kind >= 1 && h.kind <= LT_AE_KIND_MAX);
        REQUIRE((h.flags & ~LT_AE_FLAGS_KNOWN) == 0);
        REQUIRE(h.body == data + LT_AE_HEADER && h.body_len == size - LT_AE_HEADER);
        check_body(h.body, h.body_len);
    }
    check_body(data, size);
    return 0;
}
