/*
 * test_noise.c — the Noise XX handshake (lt_noise) against the published
 * Noise_XX_25519_ChaChaPoly_BLAKE2b vectors of cacophony and snow, both roles; then the channel
 * (lt_channel): handshakes, refusals of replayed, cut-short and altered handshake messages,
 * transport replay, reorder and tamper, key limits, and rekeying under a stream of messages (the
 * replay window itself, lt_replay, is tested against a model in test_crypto_replay.c).
 */
#include "lt_test.h"

#include "lt_channel.h"
#include "lt_noise.h"
#include "crypto_noise_vectors.h"

#include <sodium.h>

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = strlen(hex) / 2;
    if (n > cap)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            abort();
        out[i] = (uint8_t)v;
    }
    return n;
}

/* ---- the vectors -------------------------------------------------------------------------------
 */

static void run_vector(const nv_vector *v) {
    uint8_t prologue[256], is[32], ie[32], rs[32], re[32];
    uint8_t payload[256], want[512], got[512], back[512];
    size_t plen_pro = unhex(v->prologue, prologue, sizeof prologue);
    unhex(v->init_static, is, 32);
    unhex(v->init_ephemeral, ie, 32);
    unhex(v->resp_static, rs, 32);
    unhex(v->resp_ephemeral, re, 32);

    lt_noise_hs *ini = sodium_malloc(sizeof *ini), *res = sodium_malloc(sizeof *res);
    CHECK(ini != NULL && res != NULL);
    CHECK(lt_noise_hs_init(ini, 1, prologue, plen_pro, is) == LT_NOISE_OK);
    CHECK(lt_noise_hs_init(res, 0, prologue, plen_pro, rs) == LT_NOISE_OK);
    lt_noise_hs_fix_ephemeral(ini, ie);
    lt_noise_hs_fix_ephemeral(res, re);

    uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32], ih[64], rh[64];
    uint64_t i_n = 0, r_n = 0;
    for (size_t m = 0; m < v->nmsgs; m++) {
        size_t pl = unhex(v->msgs[m].payload, payload, sizeof payload);
        size_t wl = unhex(v->msgs[m].ciphertext, want, sizeof want);
        int from_init = (m % 2) == 0;
        lt_noise_hs *w = from_init ? ini : res, *r = from_init ? res : ini;
        size_t gl = 0, bl = 0;
        if (m < 3) {
            CHECK(lt_noise_hs_write_due(w));
            CHECK(lt_noise_hs_write_size(w, pl) == wl);
            CHECK(lt_noise_hs_write(w, payload, pl, got, sizeof got, &gl) == LT_NOISE_OK);
            CHECK_MEM(got, gl, want, wl);
            CHECK(lt_noise_hs_read(r, got, gl, back, sizeof back, &bl) == LT_NOISE_OK);
            CHECK_MEM(back, bl, payload, pl);
            if (m == 2) {
                CHECK(lt_noise_hs_done(ini) && lt_noise_hs_done(res));
                CHECK(lt_noise_hs_split(ini, i_send, i_recv, ih) == LT_NOISE_OK);
                CHECK(lt_noise_hs_split(res, r_send, r_recv, rh) == LT_NOISE_OK);
                CHECK(memcmp(i_send, r_recv, 32) == 0 && memcmp(i_recv, r_send, 32) == 0);
                CHECK(memcmp(ih, rh, 64) == 0);
                CHECK(memcmp(ini->rs, res->s_pk, 32) == 0 && memcmp(res->rs, ini->s_pk, 32) == 0);
                if (v->handshake_hash != NULL) {
                    uint8_t hh[64];
                    CHECK(unhex(v->handshake_hash, hh, sizeof hh) == 64);
                    CHECK_MEM(ih, 64, hh, 64);
                }
            }
        } else {
            /* Transport: the initiator sends with its first Split() key, empty AD. */
            const uint8_t *k = from_init ? i_send : r_send;
            uint64_t *n = from_init ? &i_n : &r_n;
            lt_noise_aead_encrypt(k, *n, NULL, 0, payload, pl, got);
            CHECK_MEM(got, pl + LT_NOISE_TAGLEN, want, wl);
            const uint8_t *rk = from_init ? r_recv : i_recv;
            CHECK(lt_noise_aead_decrypt(rk, *n, NULL, 0, got, wl, back) == LT_NOISE_OK);
            CHECK_MEM(back, wl - LT_NOISE_TAGLEN, payload, pl);
            (*n)++;
        }
    }
    lt_noise_hs_wipe(ini);
    lt_noise_hs_wipe(res);
    sodium_free(ini);
    sodium_free(res);
}

static void test_vectors(void) {
    for (size_t i = 0; i < sizeof noise_vectors / sizeof noise_vectors[0]; i++)
        run_vector(&noise_vectors[i]);
}

/* RFC 4231-style sanity of HMAC-BLAKE2b: not a published vector, but HMAC's definition checked
 * against libsodium's BLAKE2b directly for a key shorter than the block. */
static void test_hmac_definition(void) {
    uint8_t key[64], data[100], got[64], want[64], pad[128], inner[64];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ 0xa5);
    lt_noise_hmac(key, sizeof key, data, sizeof data, got);
    crypto_generichash_blake2b_state st;
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < sizeof key; i++)
        pad[i] ^= key[i];
    crypto_generichash_blake2b_init(&st, NULL, 0, 64);
    crypto_generichash_blake2b_update(&st, pad, 128);
    crypto_generichash_blake2b_update(&st, data, sizeof data);
    crypto_generichash_blake2b_final(&st, inner, 64);
    memset(pad, 0x5c, sizeof pad);
    for (size_t i = 0; i < sizeof key; i++)
        pad[i] ^= key[i];
    crypto_generichash_blake2b_init(&st, NULL, 0, 64);
    crypto_generichash_blake2b_update(&st, pad, 128);
    crypto_generichash_blake2b_update(&st, inner, 64);
    crypto_generichash_blake2b_final(&st, want, 64);
    CHECK_MEM(got, 64, want, 64);
}

/* ---- handshake refusals on lt_noise -------------------------------------------------------------
 */

typedef struct {
    uint8_t m1[128], m2[256], m3[256];
    size_t l1, l2, l3;
} transcript;

static void keypair(uint8_t sk[32], uint8_t pk[32]) {
    randombytes_buf(sk, 32);
    crypto_scalarmult_base(pk, sk);
}

/* A full handshake with payloads "1", "22", "333"; returns the messages. */
static void handshake(lt_noise_hs *ini, lt_noise_hs *res, const uint8_t *isk, const uint8_t *rsk,
                      transcript *t) {
    uint8_t out[256];
    size_t ol;
    CHECK(lt_noise_hs_init(ini, 1, (const uint8_t *)"p", 1, isk) == LT_NOISE_OK);
    CHECK(lt_noise_hs_init(res, 0, (const uint8_t *)"p", 1, rsk) == LT_NOISE_OK);
    CHECK(lt_noise_hs_write(ini, (const uint8_t *)"1", 1, t->m1, sizeof t->m1, &t->l1) ==
          LT_NOISE_OK);
    CHECK(lt_noise_hs_read(res, t->m1, t->l1, out, sizeof out, &ol) == LT_NOISE_OK);
    CHECK(lt_noise_hs_write(res, (const uint8_t *)"22", 2, t->m2, sizeof t->m2, &t->l2) ==
          LT_NOISE_OK);
    CHECK(lt_noise_hs_read(ini, t->m2, t->l2, out, sizeof out, &ol) == LT_NOISE_OK);
    CHECK(lt_noise_hs_write(ini, (const uint8_t *)"333", 3, t->m3, sizeof t->m3, &t->l3) ==
          LT_NOISE_OK);
    CHECK(lt_noise_hs_read(res, t->m3, t->l3, out, sizeof out, &ol) == LT_NOISE_OK);
    CHECK(ol == 3 && memcmp(out, "333", 3) == 0);
}

static void test_noise_refusals(void) {
    uint8_t isk[32], ipk[32], rsk[32], rpk[32], out[256];
    size_t ol;
    keypair(isk, ipk);
    keypair(rsk, rpk);
    lt_noise_hs *ini = sodium_malloc(sizeof *ini), *res = sodium_malloc(sizeof *res);
    transcript t;
    handshake(ini, res, isk, rsk, &t);
    CHECK(t.l1 == 32 + 1 && t.l2 == 32 + 48 + 2 + 16 && t.l3 == 48 + 3 + 16);

    /* Message 2 with any byte flipped, or cut short by any amount: the initiator refuses, and
     * the state is dead afterwards. */
    for (size_t i = 0; i < t.l2; i++) {
        uint8_t m[256];
        memcpy(m, t.m2, t.l2);
        m[i] ^= 0x01;
        lt_noise_hs_init(ini, 1, (const uint8_t *)"p", 1, isk) == LT_NOISE_OK ? (void)0 : abort();
        uint8_t m1[128];
        size_t l1;
        CHECK(lt_noise_hs_write(ini, (const uint8_t *)"1", 1, m1, sizeof m1, &l1) == LT_NOISE_OK);
        /* A fresh ephemeral: the old message 2 does not fit it even unchanged; flipped or not it
         * is refused. */
        lt_noise_err e = lt_noise_hs_read(ini, m, t.l2, out, sizeof out, &ol);
        CHECK(e == LT_NOISE_E_BAD_MAC || e == LT_NOISE_E_BAD_KEY);
        CHECK(lt_noise_hs_read(ini, t.m2, t.l2, out, sizeof out, &ol) == LT_NOISE_E_STATE);
    }
    /* The real exchange, flipped at each byte of message 3 and cut at each length. */
    for (size_t i = 0; i < t.l3 + t.l3; i++) {
        transcript u;
        handshake(ini, res, isk, rsk, &u);
        /* handshake() completed both; redo it up to the responder's read of message 3. */
        CHECK(lt_noise_hs_init(ini, 1, (const uint8_t *)"p", 1, isk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_init(res, 0, (const uint8_t *)"p", 1, rsk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(ini, NULL, 0, u.m1, sizeof u.m1, &u.l1) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, u.m1, u.l1, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(res, NULL, 0, u.m2, sizeof u.m2, &u.l2) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(ini, u.m2, u.l2, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(ini, (const uint8_t *)"333", 3, u.m3, sizeof u.m3, &u.l3) ==
              LT_NOISE_OK);
        lt_noise_err e;
        if (i < u.l3) {
            u.m3[i] ^= 0x80;
            e = lt_noise_hs_read(res, u.m3, u.l3, out, sizeof out, &ol);
            CHECK(e == LT_NOISE_E_BAD_MAC || e == LT_NOISE_E_BAD_KEY);
        } else {
            size_t cut = i - u.l3; /* 0 .. l3 - 1 */
            e = lt_noise_hs_read(res, u.m3, cut, out, sizeof out, &ol);
            CHECK(e == LT_NOISE_E_MALFORMED || e == LT_NOISE_E_BAD_MAC);
        }
        CHECK(!lt_noise_hs_done(res));
    }
    /* A recorded message 3 replayed to a new responder session: its message 2 used another
     * ephemeral, so the replay does not decrypt. */
    {
        transcript a;
        handshake(ini, res, isk, rsk, &a);
        CHECK(lt_noise_hs_init(res, 0, (const uint8_t *)"p", 1, rsk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, a.m1, a.l1, out, sizeof out, &ol) == LT_NOISE_OK);
        uint8_t m2[256];
        size_t l2;
        CHECK(lt_noise_hs_write(res, NULL, 0, m2, sizeof m2, &l2) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, a.m3, a.l3, out, sizeof out, &ol) == LT_NOISE_E_BAD_MAC);
    }
    /* Wrong prologue: the initiator refuses message 2. */
    {
        CHECK(lt_noise_hs_init(ini, 1, (const uint8_t *)"p", 1, isk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_init(res, 0, (const uint8_t *)"q", 1, rsk) == LT_NOISE_OK);
        uint8_t m1[128], m2[256];
        size_t l1, l2;
        CHECK(lt_noise_hs_write(ini, NULL, 0, m1, sizeof m1, &l1) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, m1, l1, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(res, NULL, 0, m2, sizeof m2, &l2) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(ini, m2, l2, out, sizeof out, &ol) == LT_NOISE_E_BAD_MAC);
    }
    /* A low-order ephemeral (all zeros) in message 1: refused when the responder does ee. */
    {
        CHECK(lt_noise_hs_init(res, 0, (const uint8_t *)"p", 1, rsk) == LT_NOISE_OK);
        uint8_t m1[32] = {0}, m2[256];
        size_t l2;
        CHECK(lt_noise_hs_read(res, m1, 32, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(res, NULL, 0, m2, sizeof m2, &l2) == LT_NOISE_E_BAD_KEY);
    }
    /* Out of turn, and too small an output. */
    {
        CHECK(lt_noise_hs_init(ini, 1, NULL, 0, isk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(ini, t.m2, t.l2, out, sizeof out, &ol) == LT_NOISE_E_STATE);
        CHECK(lt_noise_hs_init(ini, 1, NULL, 0, isk) == LT_NOISE_OK);
        uint8_t small[40];
        size_t sl;
        CHECK(lt_noise_hs_write(ini, out, 10, small, sizeof small, &sl) == LT_NOISE_E_TOO_LARGE);
        CHECK(lt_noise_hs_write(ini, out, 8, small, sizeof small, &sl) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(ini, out, 8, small, sizeof small, &sl) == LT_NOISE_E_STATE);
        CHECK(lt_noise_hs_init(ini, 1, out, LT_NOISE_MAX_PROLOGUE + 1, isk) ==
              LT_NOISE_E_TOO_LARGE);
    }
    lt_noise_hs_wipe(ini);
    lt_noise_hs_wipe(res);
    sodium_free(ini);
    sodium_free(res);
}

/* Forward secrecy, as far as a test can show it: two handshakes between the same static keys
 * give different transport keys (they depend on the ephemerals), and the keys of a handshake are
 * recomputed from the statics plus both ephemeral private keys, but not from the statics
 * alone with other ephemerals. */
static void test_keys_depend_on_ephemerals(void) {
    uint8_t isk[32], ipk[32], rsk[32], rpk[32];
    keypair(isk, ipk);
    keypair(rsk, rpk);
    lt_noise_hs *ini = sodium_malloc(sizeof *ini), *res = sodium_malloc(sizeof *res);
    uint8_t s1[32], r1[32], s2[32], r2[32];
    transcript t;
    handshake(ini, res, isk, rsk, &t);
    CHECK(lt_noise_hs_split(ini, s1, r1, NULL) == LT_NOISE_OK);
    handshake(ini, res, isk, rsk, &t);
    CHECK(lt_noise_hs_split(ini, s2, r2, NULL) == LT_NOISE_OK);
    CHECK(memcmp(s1, s2, 32) != 0 && memcmp(r1, r2, 32) != 0 && memcmp(s1, r1, 32) != 0);

    /* Same statics and the same fixed ephemerals: the same keys; change one ephemeral: others. */
    uint8_t e1[32], e2[32], e3[32], out[256];
    randombytes_buf(e1, 32);
    randombytes_buf(e2, 32);
    randombytes_buf(e3, 32);
    uint8_t keys[3][32];
    for (int run = 0; run < 3; run++) {
        transcript u;
        size_t ol;
        CHECK(lt_noise_hs_init(ini, 1, NULL, 0, isk) == LT_NOISE_OK);
        CHECK(lt_noise_hs_init(res, 0, NULL, 0, rsk) == LT_NOISE_OK);
        lt_noise_hs_fix_ephemeral(ini, e1);
        lt_noise_hs_fix_ephemeral(res, run == 2 ? e3 : e2);
        CHECK(lt_noise_hs_write(ini, NULL, 0, u.m1, sizeof u.m1, &u.l1) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, u.m1, u.l1, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(res, NULL, 0, u.m2, sizeof u.m2, &u.l2) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(ini, u.m2, u.l2, out, sizeof out, &ol) == LT_NOISE_OK);
        CHECK(lt_noise_hs_write(ini, NULL, 0, u.m3, sizeof u.m3, &u.l3) == LT_NOISE_OK);
        CHECK(lt_noise_hs_read(res, u.m3, u.l3, out, sizeof out, &ol) == LT_NOISE_OK);
        uint8_t rr[32];
        CHECK(lt_noise_hs_split(ini, keys[run], rr, NULL) == LT_NOISE_OK);
        /* Split wiped the ephemeral private key and the chaining key. */
        uint8_t zero[64] = {0};
        CHECK(memcmp(ini->e_sk, zero, 32) == 0 && memcmp(ini->ck, zero, 64) == 0);
    }
    CHECK(memcmp(keys[0], keys[1], 32) == 0);
    CHECK(memcmp(keys[0], keys[2], 32) != 0);
    sodium_free(ini);
    sodium_free(res);
}

/* ---- the channel -------------------------------------------------------------------------------
 */

typedef struct {
    lt_chan *a, *b; /* a initiates */
} pair;

static uint8_t buf_a[1 << 16], buf_b[1 << 16];

/* A handshake between a and b at time now, payloads empty. Returns 1 when both finished. */
static int chan_handshake(pair *p, int64_t now) {
    size_t l1, l2, l3, ol;
    uint8_t m1[256], m2[256], m3[256];
    if (lt_chan_start(p->a, now, NULL, 0, m1, sizeof m1, &l1) != LT_CHAN_OK)
        return 0;
    if (lt_chan_hs_read(p->b, now, m1, l1, buf_b, sizeof buf_b, &ol) != LT_CHAN_OK)
        return 0;
    if (lt_chan_hs_write(p->b, NULL, 0, m2, sizeof m2, &l2) != LT_CHAN_OK)
        return 0;
    if (lt_chan_hs_read(p->a, now, m2, l2, buf_a, sizeof buf_a, &ol) != LT_CHAN_OK)
        return 0;
    if (lt_chan_hs_write(p->a, NULL, 0, m3, sizeof m3, &l3) != LT_CHAN_OK)
        return 0;
    if (lt_chan_finish(p->a, now) != LT_CHAN_OK)
        return 0;
    if (lt_chan_hs_read(p->b, now, m3, l3, buf_b, sizeof buf_b, &ol) != LT_CHAN_OK)
        return 0;
    return lt_chan_finish(p->b, now) == LT_CHAN_OK;
}

static void new_pair(pair *p, const lt_chan_config *cfg) {
    uint8_t ask[32], apk[32], bsk[32], bpk[32];
    keypair(ask, apk);
    keypair(bsk, bpk);
    p->a = sodium_malloc(sizeof *p->a);
    p->b = sodium_malloc(sizeof *p->b);
    const uint8_t pro[] = "lattice test cluster";
    CHECK(lt_chan_init(p->a, 1, pro, sizeof pro - 1, ask, cfg) == LT_CHAN_OK);
    CHECK(lt_chan_init(p->b, 0, pro, sizeof pro - 1, bsk, cfg) == LT_CHAN_OK);
}

static void free_pair(pair *p) {
    lt_chan_wipe(p->a);
    lt_chan_wipe(p->b);
    sodium_free(p->a);
    sodium_free(p->b);
}

static lt_chan_err send(lt_chan *from, int64_t now, const char *text, uint8_t *msg, size_t *ml,
                        int *due) {
    return lt_chan_encrypt(from, now, (const uint8_t *)text, strlen(text), msg, 512, ml, due);
}

static void test_channel_transport(void) {
    lt_chan_config cfg;
    lt_chan_config_default(&cfg);
    pair p;
    new_pair(&p, &cfg);
    uint8_t msg[512], out[512];
    size_t ml, ol;
    int due;
    CHECK(send(p.a, 0, "x", msg, &ml, &due) == LT_CHAN_E_NOT_ESTABLISHED);
    CHECK(chan_handshake(&p, 0));
    CHECK(p.a->cur.epoch == 1 && p.b->cur.epoch == 1);
    CHECK(memcmp(p.a->hash, p.b->hash, 64) == 0);

    /* Both directions. */
    CHECK(send(p.a, 1, "hello", msg, &ml, &due) == LT_CHAN_OK && !due);
    CHECK(ml == 5 + LT_CHAN_OVERHEAD);
    CHECK(lt_chan_decrypt(p.b, 1, msg, ml, out, sizeof out, &ol) == LT_CHAN_OK);
    CHECK(ol == 5 && memcmp(out, "hello", 5) == 0);
    /* The same message again: a replay. */
    CHECK(lt_chan_decrypt(p.b, 1, msg, ml, out, sizeof out, &ol) == LT_CHAN_E_REPLAY);
    /* Its own direction's key does not open it (a reflected message). */
    CHECK(lt_chan_decrypt(p.a, 1, msg, ml, out, sizeof out, &ol) == LT_CHAN_E_BAD_MAC);
    /* Every byte flipped: refused, and the genuine next message still accepted after. */
    uint8_t m2[512];
    size_t l2;
    CHECK(send(p.a, 1, "world", m2, &l2, &due) == LT_CHAN_OK);
    for (size_t i = 0; i < l2; i++) {
        uint8_t t[512];
        memcpy(t, m2, l2);
        t[i] ^= 0x04;
        lt_chan_err e = lt_chan_decrypt(p.b, 1, t, l2, out, sizeof out, &ol);
        CHECK(e != LT_CHAN_OK);
    }
    for (size_t cut = 0; cut < l2; cut++)
        CHECK(lt_chan_decrypt(p.b, 1, m2, cut, out, sizeof out, &ol) != LT_CHAN_OK);
    CHECK(lt_chan_decrypt(p.b, 1, m2, l2, out, sizeof out, &ol) == LT_CHAN_OK);
    /* Reorder within the window: accepted once each; too old: refused. */
    uint8_t ms[5][512];
    size_t ls[5];
    for (int i = 0; i < 5; i++)
        CHECK(send(p.b, 2, "r", ms[i], &ls[i], &due) == LT_CHAN_OK);
    int order[5] = {3, 0, 4, 1, 2};
    for (int i = 0; i < 5; i++)
        CHECK(lt_chan_decrypt(p.a, 2, ms[order[i]], ls[order[i]], out, sizeof out, &ol) ==
              LT_CHAN_OK);
    for (int i = 0; i < 5; i++)
        CHECK(lt_chan_decrypt(p.a, 2, ms[i], ls[i], out, sizeof out, &ol) == LT_CHAN_E_REPLAY);
    uint8_t old[512], edge[512];
    size_t oldl, edgel;
    CHECK(send(p.b, 2, "old", old, &oldl, &due) == LT_CHAN_OK);
    CHECK(send(p.b, 2, "edge", edge, &edgel, &due) == LT_CHAN_OK);
    uint32_t span = lt_replay_span(LT_CHAN_WINDOW);
    /* Newest = edge + span - 1: edge is the oldest counter still in the window, old one below. */
    for (uint32_t i = 0; i + 1 < span; i++) {
        CHECK(send(p.b, 2, "n", msg, &ml, &due) == LT_CHAN_OK);
        if (i + 2 == span)
            CHECK(lt_chan_decrypt(p.a, 2, msg, ml, out, sizeof out, &ol) == LT_CHAN_OK);
    }
    CHECK(lt_chan_decrypt(p.a, 2, old, oldl, out, sizeof out, &ol) == LT_CHAN_E_REPLAY);
    CHECK(lt_chan_decrypt(p.a, 2, edge, edgel, out, sizeof out, &ol) == LT_CHAN_OK);
    CHECK(lt_chan_decrypt(p.a, 2, edge, edgel, out, sizeof out, &ol) == LT_CHAN_E_REPLAY);
    /* Unknown epoch. */
    CHECK(send(p.a, 3, "e", msg, &ml, &due) == LT_CHAN_OK);
    msg[5] ^= 0x07;
    CHECK(lt_chan_decrypt(p.b, 3, msg, ml, out, sizeof out, &ol) == LT_CHAN_E_UNKNOWN_KEY);
    /* Too small an output buffer or too big a plaintext. */
    CHECK(lt_chan_encrypt(p.a, 3, out, 10, msg, 10 + LT_CHAN_OVERHEAD - 1, &ml, &due) ==
          LT_CHAN_E_TOO_LARGE);
    CHECK(lt_chan_encrypt(p.a, 3, out, LT_CHAN_MAX_PLAIN + 1, msg, SIZE_MAX, &ml, &due) ==
          LT_CHAN_E_TOO_LARGE);
    /* Key age: refused at the reject limit, both ways. */
    CHECK(send(p.a, cfg.reject_after_ms - 1, "late", msg, &ml, &due) == LT_CHAN_OK && due);
    CHECK(lt_chan_decrypt(p.b, cfg.reject_after_ms, msg, ml, out, sizeof out, &ol) ==
          LT_CHAN_E_KEY_EXPIRED);
    CHECK(send(p.a, cfg.reject_after_ms, "x", msg, &ml, &due) == LT_CHAN_E_KEY_EXPIRED);
    free_pair(&p);
}

static void test_channel_handshake_refusals(void) {
    lt_chan_config cfg;
    lt_chan_config_default(&cfg);
    pair p;
    new_pair(&p, &cfg);
    uint8_t m1[256], m2[256], m3[256], out[LT_CHAN_MAX_HS_PAYLOAD];
    size_t l1, l2, l3, ol;
    CHECK(lt_chan_start(p.a, 0, (const uint8_t *)"hi", 2, m1, sizeof m1, &l1) == LT_CHAN_OK);
    /* Message 1 to the initiator, and message 2 before message 1. */
    CHECK(lt_chan_hs_read(p.a, 0, m1, l1, out, sizeof out, &ol) == LT_CHAN_E_UNEXPECTED);
    CHECK(lt_chan_hs_write(p.b, NULL, 0, m2, sizeof m2, &l2) == LT_CHAN_E_UNEXPECTED);
    CHECK(lt_chan_hs_read(p.b, 0, m1, l1, out, sizeof out, &ol) == LT_CHAN_OK);
    CHECK(ol == 2 && memcmp(out, "hi", 2) == 0);
    /* Message 1 replayed to the responder: its epoch has been seen. */
    CHECK(lt_chan_hs_read(p.b, 0, m1, l1, out, sizeof out, &ol) == LT_CHAN_E_REPLAY);
    /* The responder's handshake was not disturbed by the refused replay? It was not touched:
     * a replay is refused before any state changes. */
    CHECK(lt_chan_hs_write(p.b, (const uint8_t *)"cert-b", 6, m2, sizeof m2, &l2) == LT_CHAN_OK);
    /* Message 2 with its epoch changed: refused. */
    {
        uint8_t t[256];
        memcpy(t, m2, l2);
        t[4] ^= 2; /* epoch 3: not the one under way */
        CHECK(lt_chan_hs_read(p.a, 0, t, l2, out, sizeof out, &ol) == LT_CHAN_E_UNEXPECTED);
    }
    CHECK(lt_chan_hs_read(p.a, 0, m2, l2, out, sizeof out, &ol) == LT_CHAN_OK);
    CHECK(lt_chan_hs_remote_static(p.a) != NULL && lt_chan_hs_remote_static(p.b) == NULL);
    CHECK(lt_chan_hs_write(p.a, (const uint8_t *)"cert-a", 6, m3, sizeof m3, &l3) == LT_CHAN_OK);
    /* Transport before the handshake is finished: not established. */
    CHECK(lt_chan_finish(p.b, 0) == LT_CHAN_E_UNEXPECTED);
    /* Message 3 cut short: refused and the handshake dropped; the full one now is unexpected. */
    CHECK(lt_chan_hs_read(p.b, 0, m3, l3 - 1, out, sizeof out, &ol) == LT_CHAN_E_BAD_MAC);
    CHECK(lt_chan_hs_read(p.b, 0, m3, l3, out, sizeof out, &ol) == LT_CHAN_E_UNEXPECTED);
    CHECK(p.b->cur.epoch == 0);
    /* Framing errors. */
    CHECK(lt_chan_hs_read(p.b, 0, m3, 4, out, sizeof out, &ol) == LT_CHAN_E_MALFORMED);
    uint8_t bogus[8] = {9, 0, 0, 0, 1, 0, 0, 0};
    CHECK(lt_chan_hs_read(p.b, 0, bogus, sizeof bogus, out, sizeof out, &ol) ==
          LT_CHAN_E_MALFORMED);
    CHECK(lt_chan_type(bogus, sizeof bogus) == 0 && lt_chan_type(m1, l1) == LT_CHAN_T_HS1);
    /* A handshake payload over the cap. */
    CHECK(lt_chan_start(p.a, 0, out, LT_CHAN_MAX_HS_PAYLOAD + 1, buf_a, sizeof buf_a, &l1) ==
          LT_CHAN_E_TOO_LARGE);
    /* A fresh start works after all this, at a newer epoch. */
    CHECK(chan_handshake(&p, 5));
    CHECK(p.a->cur.epoch == p.b->cur.epoch && p.a->cur.epoch >= 2);
    /* A forged message 1 with the largest epoch starts a handshake on the responder that never
     * completes; once it is dropped (a timeout), the real initiator's next epoch is accepted: a
     * handshake that did not complete leaves no epoch behind. */
    {
        lt_chan_config c2;
        lt_chan_config_default(&c2);
        lt_chan *forger = sodium_malloc(sizeof *forger);
        uint8_t fsk[32], fpk[32];
        keypair(fsk, fpk);
        CHECK(lt_chan_init(forger, 1, NULL, 0, fsk, &c2) == LT_CHAN_OK);
        CHECK(lt_chan_start(forger, 0, NULL, 0, m1, sizeof m1, &l1) == LT_CHAN_OK);
        memset(m1 + 1, 0xff, 4);
        uint32_t before = p.b->cur.epoch;
        CHECK(lt_chan_hs_read(p.b, 6, m1, l1, out, sizeof out, &ol) == LT_CHAN_OK);
        CHECK(p.b->hs_active && p.b->hs_epoch == UINT32_MAX && p.b->cur.epoch == before);
        lt_chan_abort(p.b);
        CHECK(chan_handshake(&p, 7));
        CHECK(p.b->cur.epoch == before + 1);
        lt_chan_wipe(forger);
        sodium_free(forger);
    }
    free_pair(&p);
}

/* Rekeying under a stream: messages both ways, rekey by count (a small limit) and by time;
 * every message delivered exactly once, in-flight messages of the previous epoch accepted during
 * the grace period, and refused after it. */
static void test_channel_rekey(void) {
    lt_chan_config cfg;
    lt_chan_config_default(&cfg);
    cfg.rekey_after_msgs = 50;
    cfg.reject_after_msgs = 80;
    cfg.rekey_after_ms = 1000;
    cfg.reject_after_ms = 1500;
    cfg.grace_ms = 200;
    pair p;
    new_pair(&p, &cfg);
    CHECK(chan_handshake(&p, 0));
    uint8_t msg[512], out[512];
    size_t ml, ol;
    int due;
    uint64_t sent = 0, got = 0, rekeys = 0;
    int64_t now = 0;
    uint8_t inflight[512];
    size_t inflight_l = 0;
    for (int i = 0; i < 2000; i++) {
        now += 3;
        lt_chan *from = (i % 3 == 0) ? p.b : p.a, *to = from == p.a ? p.b : p.a;
        char text[32];
        snprintf(text, sizeof text, "m%d", i);
        lt_chan_err e = send(from, now, text, msg, &ml, &due);
        CHECK(e == LT_CHAN_OK);
        if (e != LT_CHAN_OK)
            break;
        sent++;
        /* A responder's message sent just before the rekey, delivered after it. */
        if (from == p.b && lt_chan_rekey_due(p.a, now) && inflight_l == 0) {
            memcpy(inflight, msg, ml);
            inflight_l = ml;
        } else {
            CHECK(lt_chan_decrypt(to, now, msg, ml, out, sizeof out, &ol) == LT_CHAN_OK);
            CHECK(ol == strlen(text) && memcmp(out, text, ol) == 0);
            got++;
        }
        if (lt_chan_rekey_due(p.a, now)) {
            CHECK(chan_handshake(&p, now));
            rekeys++;
            /* The previous epoch only receives now: its sending key is gone. */
            static const uint8_t zero[LT_NOISE_KEYLEN];
            CHECK(memcmp(p.a->prev.send_k, zero, sizeof zero) == 0);
            CHECK(memcmp(p.b->prev.send_k, zero, sizeof zero) == 0);
            CHECK(p.a->prev.epoch + 1 == p.a->cur.epoch);
            if (inflight_l) {
                CHECK(lt_chan_decrypt(p.a, now + 1, inflight, inflight_l, out, sizeof out, &ol) ==
                      LT_CHAN_OK);
                got++;
                /* The same in-flight message, late, after the grace: refused. */
                CHECK(lt_chan_decrypt(p.a, now + cfg.grace_ms + 1, inflight, inflight_l, out,
                                      sizeof out, &ol) == LT_CHAN_E_KEY_EXPIRED);
                inflight_l = 0;
            }
        }
    }
    CHECK(inflight_l == 0 || got + 1 == sent);
    CHECK(got + (inflight_l ? 1 : 0) == sent);
    CHECK(rekeys >= 2000 / 50 / 2);
    CHECK(p.a->rekeys == rekeys && p.b->rekeys == rekeys);
    CHECK(p.a->cur.epoch == rekeys + 1);
    /* By time alone: a quiet channel's initiator is due after rekey_after_ms. */
    {
        int64_t t0 = now + 10;
        CHECK(chan_handshake(&p, t0));
        CHECK(!lt_chan_rekey_due(p.a, t0 + cfg.rekey_after_ms - 1));
        CHECK(lt_chan_rekey_due(p.a, t0 + cfg.rekey_after_ms));
        /* The responder's flag: when its own key is old it asks, and the initiator learns. */
        CHECK(send(p.b, t0 + cfg.rekey_after_ms, "ask", msg, &ml, &due) == LT_CHAN_OK && due);
        CHECK(msg[1] == LT_CHAN_F_REKEY);
        CHECK(lt_chan_decrypt(p.a, t0 + 1, msg, ml, out, sizeof out, &ol) == LT_CHAN_OK);
        CHECK(lt_chan_rekey_due(p.a, t0 + 1));
    }
    free_pair(&p);
}

int main(void) {
    if (sodium_init() < 0)
        return 2;
    test_vectors();
    test_hmac_definition();
    test_noise_refusals();
    test_keys_depend_on_ephemerals();
    test_channel_transport();
    test_channel_handshake_refusals();
    test_channel_rekey();
    return lt_test_summary();
}
