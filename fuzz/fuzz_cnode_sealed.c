/*
 * fuzz_cnode_sealed — libFuzzer target for the decoder of sealed session messages
 * (c_src/crypto/lt_aeseal.h: lt_aeseal_open) and the session decoders behind it
 * (cnode/lt_cnode_proto.c), as the C node runs them on a sealed message.
 *
 * The first input byte picks the mode:
 *  0: the rest is an untrusted message, opened by a responder waiting for a HELLO, an initiator
 *     waiting for the answer and a side in the middle of a session (its counter from the next
 *     byte), all under a fixed key;
 *  1: the rest is sealed by an initiator (the header from its first 7 bytes, flagged sealed)
 *     and opened by the responder; then one byte of it (at a position and with a mask from the
 *     input) is changed and the message given to a fresh responder.
 * Properties: nothing crashes or reads out of bounds; a refused message leaves the state
 * exactly as it was; an opened one gives its body (the length the format says) and advances
 * the counter by one; a round trip gives the body back; a changed message never opens; what
 * opens goes through the header and body decoders.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lt_aeseal.h"
#include "lt_cnode_proto.h"

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define MAX_IN 8192

static const uint8_t key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

/* A state as lt_aeseal_init leaves it, with fixed salts (the fuzzer must be deterministic). */
static void fixed(lt_aeseal *s, int initiator) {
    lt_aeseal_init(s, key, initiator);
    memset(s->salt_i, 0x11, sizeof s->salt_i);
    memset(s->salt_r, 0x22, sizeof s->salt_r);
}

static void decode(const uint8_t *hdr, const uint8_t *b, size_t len) {
    uint8_t whole[MAX_IN + LT_AE_HEADER];
    lt_ae_header h;
    lt_ae_hello hello;
    lt_ae_keys_msg m;
    memcpy(whole, hdr, LT_AE_HEADER);
    memcpy(whole + LT_AE_HEADER, b, len);
    if (lt_ae_header_parse(whole, LT_AE_HEADER + len, &h) == 0)
        REQUIRE(h.body_len == len && (h.flags & LT_AE_FLAG_SEALED));
    (void)lt_ae_hello_parse(b, len, 6, &hello);
    (void)lt_ae_resolve_parse(b, len, 100000, &m);
    (void)lt_ae_result_parse(b, len, len > 0 ? b[0] : 0, 100000, &m);
    int r = lt_ae_abort_parse(b, len);
    REQUIRE(r == -1 || (r >= 1 && r <= LT_AE_ABORT_MAX));
}

/* Opens msg at s; checks the properties. */
static void open_one(lt_aeseal *s, const uint8_t *msg, size_t len) {
    static uint8_t out[MAX_IN];
    lt_aeseal before = *s;
    size_t olen = 0;
    lt_aeseal_err e = lt_aeseal_open(s, msg, len, out, sizeof out, &olen);
    if (e != LT_AESEAL_OK) {
        REQUIRE(memcmp(&before, s, sizeof before) == 0);
        return;
    }
    size_t over = LT_AESEAL_HDRLEN + LT_AESEAL_CTRLEN + LT_AESEAL_TAGLEN +
                  (before.recv_ctr == 0 ? LT_AESEAL_SALTLEN : 0);
    REQUIRE(olen + over == len && s->recv_ctr == before.recv_ctr + 1 && s->has_sess);
    decode(msg, out, olen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        REQUIRE(sodium_init() >= 0);
        ready = 1;
    }
    if (size < 1 || size > MAX_IN)
        return 0;
    lt_aeseal r, i, mid;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        fixed(&r, 0);
        open_one(&r, in, n);
        fixed(&i, 1);
        open_one(&i, in, n);
        fixed(&mid, 0);
        mid.has_sess = 1;
        memset(mid.sess_key, 0x33, sizeof mid.sess_key);
        mid.recv_ctr = n > 0 ? in[0] : 1;
        open_one(&mid, in, n);
        return 0;
    }
    if (n < LT_AE_HEADER + 2)
        return 0;
    static uint8_t sealed[MAX_IN + LT_AESEAL_MAX_OVERHEAD + LT_AE_HEADER], out[MAX_IN + 64];
    uint8_t hdr[LT_AE_HEADER];
    memcpy(hdr, in, LT_AE_HEADER);
    hdr[2] |= LT_AE_FLAG_SEALED;
    size_t pos = in[LT_AE_HEADER], mask = in[LT_AE_HEADER + 1] | 1;
    const uint8_t *body = in + LT_AE_HEADER + 2;
    size_t blen = n - LT_AE_HEADER - 2, slen = 0, olen = 0;
    fixed(&i, 1);
    fixed(&r, 0);
    REQUIRE(lt_aeseal_seal(&i, hdr, body, blen, sealed, sizeof sealed, &slen) == LT_AESEAL_OK);
    lt_aeseal r0 = r;
    REQUIRE(lt_aeseal_open(&r, sealed, slen, out, sizeof out, &olen) == LT_AESEAL_OK);
    REQUIRE(olen == blen && memcmp(out, body, blen) == 0);
    decode(hdr, out, olen);
    sealed[pos % slen] ^= (uint8_t)mask;
    REQUIRE(lt_aeseal_open(&r0, sealed, slen, out, sizeof out, &olen) != LT_AESEAL_OK);
    return 0;
}
