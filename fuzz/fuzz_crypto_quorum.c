/* fuzz_crypto_quorum.c — libFuzzer target for the quorum certificate and equivocation evidence
 * decoders (lt_quorum.h).
 *
 * The input is tried as both. An accepted certificate: its statement writes back to the same
 * bytes, walking its signers ends exactly at its end with ids strictly ascending. A duplicate
 * is reported only for an otherwise well-formed certificate, naming an id inside the input.
 * Accepted evidence: its digests are in order and each statement writes back correctly. */
#include "lt_quorum.h"

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t st[1 + 255 + 8 + 1 + LT_QUORUM_MAX_DIGEST];
    lt_quorum_cert q;
    lt_wire_err e = lt_quorum_decode(data, size, &q);
    if (e == LT_WIRE_OK) {
        size_t n = lt_quorum_write_statement(st, data + q.scope_off, q.scope_len, q.sequence,
                                             data + q.digest_off, q.digest_len);
        REQUIRE(n == q.statement_len && memcmp(st, data + q.statement_off, n) == 0);
        size_t off = q.signers_off, prev_off = 0, prev_len = 0;
        for (uint32_t i = 0; i < q.count; i++) {
            size_t io, il, so;
            lt_quorum_next_signer(data, &off, &io, &il, &so);
            REQUIRE(il >= 1 && so + 64 <= size);
            if (i > 0)
                REQUIRE(lt_wire_cmp(data + prev_off, prev_len, data + io, il) < 0);
            prev_off = io;
            prev_len = il;
        }
        REQUIRE(off == size);
    } else if (e == LT_WIRE_DUPLICATE) {
        REQUIRE(q.dup_len >= 1 && q.dup_off + q.dup_len <= size);
    }
    lt_quorum_evidence ev;
    if (lt_quorum_evidence_decode(data, size, &ev) == LT_WIRE_OK) {
        REQUIRE(lt_wire_cmp(data + ev.digest_off[0], ev.digest_len[0], data + ev.digest_off[1],
                            ev.digest_len[1]) < 0);
        for (int i = 0; i < 2; i++) {
            size_t n = lt_quorum_write_statement(st, data + ev.scope_off, ev.scope_len, ev.sequence,
                                                 data + ev.digest_off[i], ev.digest_len[i]);
            REQUIRE(n == ev.statement_len[i]);
            REQUIRE(ev.sig_off[i] + 64 <= size);
        }
        REQUIRE(ev.sig_off[1] + 64 == size);
    }
    return 0;
}
