/*
 * fuzz_cnode_batch — libFuzzer target for the C node's leaf batch decoder and its distribution
 * packet and limit parsers (cnode/lt_cnode_proto.c).
 *
 * Properties: no input crashes or reads out of bounds; a batch lt_batch_check accepts is walked
 * by lt_batch_next in exactly its entry count, each entry inside the input, ending at its end,
 * and re-encoding the entries gives the input back; a rejected batch names an offset inside it;
 * a packet's parts lie inside it.
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

static void check_batch(const uint8_t *data, size_t size) {
    size_t n = 0, bad = 0;
    if (lt_batch_check(data, size, 1000, &n, &bad) < 0) {
        REQUIRE(n == 0);
        REQUIRE(bad <= size);
        return;
    }
    uint8_t *copy = malloc(size ? size : 1);
    REQUIRE(copy != NULL);
    size_t off = 0, w = 1, count = 0;
    lt_batch_entry e;
    copy[0] = LT_BATCH_V1;
    while (lt_batch_next(data, size, &off, &e)) {
        REQUIRE(e.op == LT_BATCH_PUT || e.op == LT_BATCH_DELETE);
        REQUIRE(e.key_len >= 1 && e.key_len <= LT_BATCH_MAX_KEY);
        REQUIRE(e.key >= data && e.key + e.key_len <= data + size);
        REQUIRE(off <= size);
        copy[w++] = (uint8_t)e.op;
        copy[w++] = (uint8_t)(e.key_len >> 8);
        copy[w++] = (uint8_t)e.key_len;
        memcpy(copy + w, e.key, e.key_len);
        w += e.key_len;
        if (e.op == LT_BATCH_PUT) {
            REQUIRE(e.digest == e.key + e.key_len && e.digest + LT_BATCH_DIGEST <= data + size);
            memcpy(copy + w, e.digest, LT_BATCH_DIGEST);
            w += LT_BATCH_DIGEST;
        } else {
            REQUIRE(e.digest == NULL);
        }
        count++;
    }
    REQUIRE(count == n);
    REQUIRE(w == size && memcmp(copy, data, size) == 0);
    free(copy);
}

static void check_packet(const uint8_t *data, size_t size) {
    lt_dist_packet p;
    if (lt_dist_packet_parse((const char *)data, size, &p) < 0)
        return;
    REQUIRE(p.ctl_start == 2 && p.ctl_end <= size);
    if (p.payload_start != 0) {
        REQUIRE(p.payload_start == p.ctl_end && p.payload_start + p.payload_len == size);
        REQUIRE(p.from_start < p.ctl_end && p.to_pid_start < p.ctl_end);
        if (p.to_name_len > 0)
            REQUIRE(p.to_name > (const char *)data &&
                    p.to_name + p.to_name_len <= (const char *)data + p.ctl_end);
        if (p.payload_is_binary)
            REQUIRE(p.bin_start + p.bin_len == size);
    }
}

static void check_limit(const uint8_t *data, size_t size) {
    const char *key;
    size_t key_len;
    uint64_t v;
    if (lt_limit_parse((const char *)data, size, &key, &key_len, &v) == 0)
        REQUIRE(key == (const char *)data && key_len > 0 && key_len < size &&
                v < UINT64_C(1000000000000000000));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_batch(data, size);
    check_packet(data, size);
    check_limit(data, size);
    return 0;
}
