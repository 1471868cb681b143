/* fuzz_crypto_handshake.c — libFuzzer target for the secure channel's decoders: the three
 * Noise XX handshake messages and transport messages (c_src/crypto/lt_noise.h, lt_channel.h).
 *
 * The first byte picks what the rest is given to:
 *   0  a responder channel, as handshake message 1 (framing, epoch, e, clear payload); when it
 *      is accepted, writing message 2 succeeds unless the ephemeral is a low-order point;
 *   1  an initiator with fixed keys and ephemeral, as message 2 (the Noise message, no framing):
 *      accepted if and only if it is byte for byte the genuine message 2, whose payload comes
 *      back;
 *   2  a responder with fixed keys, after the genuine messages 1 and 2, as message 3: the same;
 *   3  an established channel, as a transport message: refused unless it is the genuine one
 *      (then its plaintext comes back, and a second time it is a replay);
 *   4  a fresh channel of either role, as any handshake message: never accepted out of turn.
 * Nothing may crash, leak or read out of bounds (ASan, UBSan), for any input.
 */
#include "lt_channel.h"
#include "lt_noise.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint8_t i_sk[32], r_sk[32], i_e[32], r_e[32];
static const uint8_t prologue[] = "lattice.channel fuzz";
static uint8_t m1[128], m2[256], m3[256];
static size_t l1, l2, l3;
static lt_chan chan_a, chan_b; /* established: a initiated */
static uint8_t data_msg[64];
static size_t data_len;
static const char data_plain[] = "genuine transport message";

static void fixed(uint8_t *k, uint8_t v) {
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)(v + i);
}

/* The two fixed-key sides, up to (not including) reading message `upto`. */
static void sides(lt_noise_hs *ini, lt_noise_hs *res, int upto) {
    uint8_t out[256];
    size_t ol;
    REQUIRE(lt_noise_hs_init(ini, 1, prologue, sizeof prologue - 1, i_sk) == LT_NOISE_OK);
    REQUIRE(lt_noise_hs_init(res, 0, prologue, sizeof prologue - 1, r_sk) == LT_NOISE_OK);
    lt_noise_hs_fix_ephemeral(ini, i_e);
    lt_noise_hs_fix_ephemeral(res, r_e);
    REQUIRE(lt_noise_hs_write(ini, (const uint8_t *)"one", 3, m1, sizeof m1, &l1) == LT_NOISE_OK);
    REQUIRE(lt_noise_hs_read(res, m1, l1, out, sizeof out, &ol) == LT_NOISE_OK);
    REQUIRE(lt_noise_hs_write(res, (const uint8_t *)"two", 3, m2, sizeof m2, &l2) == LT_NOISE_OK);
    if (upto == 2)
        return;
    REQUIRE(lt_noise_hs_read(ini, m2, l2, out, sizeof out, &ol) == LT_NOISE_OK);
    REQUIRE(lt_noise_hs_write(ini, (const uint8_t *)"three", 5, m3, sizeof m3, &l3) == LT_NOISE_OK);
}

static void establish(void) {
    lt_chan_config cfg;
    lt_chan_config_default(&cfg);
    REQUIRE(lt_chan_init(&chan_a, 1, prologue, sizeof prologue - 1, i_sk, &cfg) == LT_CHAN_OK);
    REQUIRE(lt_chan_init(&chan_b, 0, prologue, sizeof prologue - 1, r_sk, &cfg) == LT_CHAN_OK);
    lt_chan_fix_ephemeral(&chan_a, i_e);
    lt_chan_fix_ephemeral(&chan_b, r_e);
    uint8_t a[LT_CHAN_MAX_HS_MSG], b[LT_CHAN_MAX_HS_MSG], out[LT_CHAN_MAX_HS_MSG];
    size_t la, lb, ol;
    REQUIRE(lt_chan_start(&chan_a, 0, NULL, 0, a, sizeof a, &la) == LT_CHAN_OK);
    REQUIRE(lt_chan_hs_read(&chan_b, 0, a, la, out, sizeof out, &ol) == LT_CHAN_OK);
    REQUIRE(lt_chan_hs_write(&chan_b, NULL, 0, b, sizeof b, &lb) == LT_CHAN_OK);
    REQUIRE(lt_chan_hs_read(&chan_a, 0, b, lb, out, sizeof out, &ol) == LT_CHAN_OK);
    REQUIRE(lt_chan_hs_write(&chan_a, NULL, 0, a, sizeof a, &la) == LT_CHAN_OK);
    REQUIRE(lt_chan_finish(&chan_a, 0) == LT_CHAN_OK);
    REQUIRE(lt_chan_hs_read(&chan_b, 0, a, la, out, sizeof out, &ol) == LT_CHAN_OK);
    REQUIRE(lt_chan_finish(&chan_b, 0) == LT_CHAN_OK);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    fixed(i_sk, 1);
    fixed(r_sk, 50);
    fixed(i_e, 100);
    fixed(r_e, 150);
    lt_noise_hs ini, res;
    sides(&ini, &res, 3);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    static uint8_t out[65536 + LT_CHAN_MAX_HS_MSG];
    size_t ol = 0;
    if (len > 65536)
        return 0;
    switch (data[0] % 5) {
    case 0: {
        lt_chan_config cfg;
        lt_chan_config_default(&cfg);
        static lt_chan ch;
        REQUIRE(lt_chan_init(&ch, 0, prologue, sizeof prologue - 1, r_sk, &cfg) == LT_CHAN_OK);
        lt_chan_err e = lt_chan_hs_read(&ch, 0, msg, len, out, sizeof out, &ol);
        if (e == LT_CHAN_OK) {
            REQUIRE(len >= LT_CHAN_HS_HEADER + LT_NOISE_DHLEN && msg[0] == LT_CHAN_T_HS1);
            REQUIRE(ol == len - LT_CHAN_HS_HEADER - LT_NOISE_DHLEN);
            REQUIRE(ol == 0 || memcmp(out, msg + LT_CHAN_HS_HEADER + LT_NOISE_DHLEN, ol) == 0);
            uint8_t reply[LT_CHAN_MAX_HS_MSG];
            size_t rl;
            lt_chan_err w = lt_chan_hs_write(&ch, NULL, 0, reply, sizeof reply, &rl);
            REQUIRE(w == LT_CHAN_OK || w == LT_CHAN_E_BAD_KEY);
        }
        lt_chan_wipe(&ch);
        break;
    }
    case 1:
    case 2: {
        lt_noise_hs ini, res;
        int step = data[0] % 5 == 1 ? 2 : 3;
        sides(&ini, &res, step);
        lt_noise_hs *reader = step == 2 ? &ini : &res;
        const uint8_t *genuine = step == 2 ? m2 : m3;
        size_t glen = step == 2 ? l2 : l3;
        lt_noise_err e = lt_noise_hs_read(reader, msg, len, out, sizeof out, &ol);
        int same = len == glen && memcmp(msg, genuine, glen) == 0;
        REQUIRE((e == LT_NOISE_OK) == same);
        if (same)
            REQUIRE(ol == (step == 2 ? 3u : 5u) &&
                    memcmp(out, step == 2 ? "two" : "three", ol) == 0);
        else
            REQUIRE(!lt_noise_hs_done(reader) && lt_noise_hs_write_due(reader) == 0);
        break;
    }
    case 3: {
        establish();
        int due;
        REQUIRE(lt_chan_encrypt(&chan_b, 1, (const uint8_t *)data_plain, sizeof data_plain - 1,
                                data_msg, sizeof data_msg, &data_len, &due) == LT_CHAN_OK);
        lt_chan_err e = lt_chan_decrypt(&chan_a, 1, msg, len, out, sizeof out, &ol);
        int same = len == data_len && memcmp(msg, data_msg, len) == 0;
        REQUIRE((e == LT_CHAN_OK) == same);
        if (same) {
            REQUIRE(ol == sizeof data_plain - 1 && memcmp(out, data_plain, ol) == 0);
            REQUIRE(lt_chan_decrypt(&chan_a, 1, msg, len, out, sizeof out, &ol) ==
                    LT_CHAN_E_REPLAY);
        }
        lt_chan_wipe(&chan_a);
        lt_chan_wipe(&chan_b);
        break;
    }
    default: {
        lt_chan_config cfg;
        lt_chan_config_default(&cfg);
        static lt_chan ch;
        int initiator = len > 0 && (msg[len - 1] & 1);
        REQUIRE(lt_chan_init(&ch, initiator, prologue, sizeof prologue - 1, i_sk, &cfg) ==
                LT_CHAN_OK);
        lt_chan_err e = lt_chan_hs_read(&ch, 0, msg, len, out, sizeof out, &ol);
        /* An initiator that started nothing takes no message; a responder only message 1. */
        if (initiator)
            REQUIRE(e != LT_CHAN_OK);
        else
            REQUIRE(e != LT_CHAN_OK || msg[0] == LT_CHAN_T_HS1);
        REQUIRE(ch.cur.epoch == 0 && !lt_chan_hs_complete(&ch));
        lt_chan_wipe(&ch);
        break;
    }
    }
    return 0;
}

#ifdef LT_FUZZ_WRITE_SEEDS
/* cc -DLT_FUZZ_WRITE_SEEDS ... -o seeds && ./seeds DIR: the genuine messages as seed files. */
static void put(const char *dir, const char *name, uint8_t mode, const uint8_t *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputc(mode, f);
    fwrite(p, 1, n, f);
    fclose(f);
}

int main(int argc, char **argv) {
    REQUIRE(argc == 2);
    LLVMFuzzerInitialize(&argc, &argv);
    uint8_t framed[256];
    framed[0] = LT_CHAN_T_HS1;
    memset(framed + 1, 0, 3);
    framed[4] = 1;
    memcpy(framed + 5, m1, l1);
    put(argv[1], "hs1", 0, framed, 5 + l1);
    put(argv[1], "hs2", 1, m2, l2);
    put(argv[1], "hs3", 2, m3, l3);
    establish();
    int due;
    REQUIRE(lt_chan_encrypt(&chan_b, 1, (const uint8_t *)data_plain, sizeof data_plain - 1,
                            data_msg, sizeof data_msg, &data_len, &due) == LT_CHAN_OK);
    put(argv[1], "data", 3, data_msg, data_len);
    put(argv[1], "any", 4, framed, 5 + l1);
    return 0;
}
#endif
