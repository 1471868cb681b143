/* test_crypto_aeseal.c — the sealing of anti-entropy session messages (lt_aeseal.h) under
 * ASan/UBSan: a session both ways with fragments; every truncation and every bit flip of every
 * message refused without changing the state; replay and reorder refused; the wrong key; a
 * message moved to the other direction or into another session; a replayed HELLO answered under
 * a fresh salt, so that nothing recorded opens after it; the counter's end. */
#include "lt_aeseal.h"
#include "lt_test.h"

#include <sodium.h>

#define CAP 4096

static const uint8_t key_a[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void header(uint8_t *h, unsigned kind, unsigned flags, uint32_t sid) {
    h[0] = 1;
    h[1] = (uint8_t)kind;
    h[2] = (uint8_t)(flags | LT_AESEAL_FLAG);
    h[3] = (uint8_t)(sid >> 24);
    h[4] = (uint8_t)(sid >> 16);
    h[5] = (uint8_t)(sid >> 8);
    h[6] = (uint8_t)sid;
}

/* Seals body from `from` and opens it at `to`; checks the plaintext comes back. Returns the
 * sealed message's length (in msg). */
static size_t pass(lt_aeseal *from, lt_aeseal *to, unsigned kind, const uint8_t *body, size_t len,
                   uint8_t *msg) {
    uint8_t h[7], out[CAP];
    size_t mlen = 0, olen = 0;
    header(h, kind, from->initiator ? 2 : 0, 77);
    CHECK(lt_aeseal_seal(from, h, body, len, msg, CAP, &mlen) == LT_AESEAL_OK);
    CHECK(mlen == LT_AESEAL_HDRLEN + LT_AESEAL_CTRLEN + len + LT_AESEAL_TAGLEN +
                      (from->send_ctr == 1 ? LT_AESEAL_SALTLEN : 0));
    CHECK(memcmp(msg, h, 7) == 0);
    CHECK(lt_aeseal_open(to, msg, mlen, out, CAP, &olen) == LT_AESEAL_OK);
    CHECK(olen == len && (len == 0 || memcmp(out, body, len) == 0));
    return mlen;
}

/* Every truncation and every single-bit flip of msg is refused by a copy of `to` taken
 * before it was opened, and leaves that copy unchanged. */
static void refuse_all(const lt_aeseal *to_before, const uint8_t *msg, size_t mlen) {
    uint8_t bad[CAP], out[CAP];
    size_t olen;
    lt_aeseal t;
    for (size_t cut = 0; cut < mlen; cut++) {
        t = *to_before;
        CHECK(lt_aeseal_open(&t, msg, cut, out, CAP, &olen) != LT_AESEAL_OK);
        CHECK(memcmp(&t, to_before, sizeof t) == 0);
    }
    for (size_t i = 0; i < mlen; i++) {
        for (int b = 0; b < 8; b++) {
            memcpy(bad, msg, mlen);
            bad[i] ^= (uint8_t)(1u << b);
            t = *to_before;
            CHECK(lt_aeseal_open(&t, bad, mlen, out, CAP, &olen) != LT_AESEAL_OK);
            CHECK(memcmp(&t, to_before, sizeof t) == 0);
        }
    }
}

static void test_session(void) {
    lt_aeseal *a = sodium_malloc(sizeof *a), *b = sodium_malloc(sizeof *b);
    uint8_t msg[CAP], m0[CAP], body[1000], out[CAP];
    size_t olen;
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7);
    lt_aeseal_init(a, key_a, 1);
    lt_aeseal_init(b, key_a, 0);
    /* A responder cannot seal before the HELLO. */
    uint8_t h[7];
    header(h, 3, 0, 77);
    CHECK(lt_aeseal_seal(b, h, body, 10, msg, CAP, &olen) == LT_AESEAL_E_MALFORMED);
    /* The header must say sealed. */
    uint8_t plain_h[7] = {1, 1, 2, 0, 0, 0, 77};
    CHECK(lt_aeseal_seal(a, plain_h, body, 10, msg, CAP, &olen) == LT_AESEAL_E_MALFORMED);
    CHECK(lt_aeseal_seal(a, h, body, 10, msg, 20, &olen) == LT_AESEAL_E_MALFORMED);

    lt_aeseal b0 = *b;
    size_t l0 = pass(a, b, 1, body, 30, m0); /* HELLO */
    refuse_all(&b0, m0, l0);
    /* Replayed: the counter is behind. */
    lt_aeseal bb = *b;
    CHECK(lt_aeseal_open(b, m0, l0, out, CAP, &olen) == LT_AESEAL_E_REPLAY);
    CHECK(memcmp(&bb, b, sizeof bb) == 0);

    lt_aeseal a1 = *a;
    size_t l1 = pass(b, a, 3, body, 200, msg); /* the answer, with Sr */
    refuse_all(&a1, msg, l1);
    /* A message moved to the other direction does not open (the direction bit, the keys). */
    lt_aeseal b2 = *b;
    b2.recv_ctr = 0;
    CHECK(lt_aeseal_open(&b2, msg, l1, out, CAP, &olen) != LT_AESEAL_OK);

    /* Lockstep, then fragments: several messages one way. */
    for (int i = 0; i < 5; i++) {
        lt_aeseal before = *b;
        size_t l = pass(a, b, 4, body, (size_t)(i * 200), msg);
        refuse_all(&before, msg, l);
        pass(b, a, 5, body, 100, msg);
    }
    uint8_t f1[CAP], f2[CAP];
    size_t fl1, fl2;
    header(h, 5, 2 | 1, 77);
    CHECK(lt_aeseal_seal(a, h, body, 500, f1, CAP, &fl1) == LT_AESEAL_OK);
    header(h, 5, 2, 77);
    CHECK(lt_aeseal_seal(a, h, body, 400, f2, CAP, &fl2) == LT_AESEAL_OK);
    /* Reordered: the second fragment first is refused; then the right order opens. */
    CHECK(lt_aeseal_open(b, f2, fl2, out, CAP, &olen) == LT_AESEAL_E_REPLAY);
    CHECK(lt_aeseal_open(b, f1, fl1, out, CAP, &olen) == LT_AESEAL_OK && olen == 500);
    CHECK(lt_aeseal_open(b, f2, fl2, out, CAP, &olen) == LT_AESEAL_OK && olen == 400);
    /* Once opened, a fragment again is a replay. */
    CHECK(lt_aeseal_open(b, f1, fl1, out, CAP, &olen) == LT_AESEAL_E_REPLAY);

    /* A replayed HELLO starts a new responder, which answers under a fresh Sr: the old
     * session's later messages (a's) do not open there. */
    lt_aeseal *c = sodium_malloc(sizeof *c);
    lt_aeseal_init(c, key_a, 0);
    CHECK(lt_aeseal_open(c, m0, l0, out, CAP, &olen) == LT_AESEAL_OK); /* it opens... */
    uint8_t ans[CAP];
    size_t al;
    header(h, 3, 0, 77);
    CHECK(lt_aeseal_seal(c, h, body, 10, ans, CAP, &al) == LT_AESEAL_OK);
    /* ...but the initiator's recorded message 1 (sealed under the old Ks) does not open at c. */
    lt_aeseal *a2 = sodium_malloc(sizeof *a2);
    lt_aeseal_init(a2, key_a, 1);
    memcpy(a2->salt_i, c->salt_i, 16);
    a2->send_ctr = 1;
    memcpy(a2->sess_key, a->sess_key, 32); /* the old session's key */
    a2->has_sess = 1;
    header(h, 4, 2, 77);
    CHECK(lt_aeseal_seal(a2, h, body, 10, msg, CAP, &olen) == LT_AESEAL_OK);
    CHECK(lt_aeseal_open(c, msg, olen, out, CAP, &olen) == LT_AESEAL_E_BAD_MAC);

    /* The wrong key: nothing opens. */
    uint8_t other[32];
    memcpy(other, key_a, 32);
    other[31] ^= 1;
    lt_aeseal_init(c, other, 0);
    CHECK(lt_aeseal_open(c, m0, l0, out, CAP, &olen) == LT_AESEAL_E_BAD_MAC);
    CHECK(!c->has_sess && c->recv_ctr == 0);

    /* The counter's end. */
    a->send_ctr = LT_AESEAL_MAX_CTR + 1;
    CHECK(lt_aeseal_seal(a, h, body, 10, msg, CAP, &olen) == LT_AESEAL_E_EXHAUSTED);
    CHECK(strcmp(lt_aeseal_err_name(LT_AESEAL_E_REPLAY), "replay") == 0);

    lt_aeseal_wipe(a);
    CHECK(a->has_sess == 0 && a->peer_key[0] == 0);
    sodium_free(a);
    sodium_free(a2);
    sodium_free(b);
    sodium_free(c);
}

/* Two sessions under one key: the salts differ, so the same plaintext seals differently and
 * a message of one does not open in the other. */
static void test_two_sessions(void) {
    lt_aeseal *a = sodium_malloc(sizeof *a), *b = sodium_malloc(sizeof *b);
    lt_aeseal *c = sodium_malloc(sizeof *c), *d = sodium_malloc(sizeof *d);
    uint8_t m1[CAP], m2[CAP], out[CAP], body[64] = {0};
    size_t l1, l2, olen;
    lt_aeseal_init(a, key_a, 1);
    lt_aeseal_init(b, key_a, 0);
    lt_aeseal_init(c, key_a, 1);
    lt_aeseal_init(d, key_a, 0);
    pass(a, b, 1, body, 20, m1);
    pass(c, d, 1, body, 20, m2);
    l1 = pass(b, a, 3, body, 64, m1);
    l2 = pass(d, c, 3, body, 64, m2);
    CHECK(l1 == l2 && memcmp(m1, m2, l1) != 0);
    uint8_t h[7];
    header(h, 4, 2, 77);
    CHECK(lt_aeseal_seal(a, h, body, 30, m1, CAP, &l1) == LT_AESEAL_OK);
    CHECK(lt_aeseal_open(d, m1, l1, out, CAP, &olen) == LT_AESEAL_E_BAD_MAC);
    CHECK(lt_aeseal_open(b, m1, l1, out, CAP, &olen) == LT_AESEAL_OK);
    sodium_free(a);
    sodium_free(b);
    sodium_free(c);
    sodium_free(d);
}

int main(void) {
    CHECK(sodium_init() >= 0);
    test_session();
    test_two_sessions();
    return lt_test_summary();
}
