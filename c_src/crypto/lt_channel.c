/*
 * lt_channel.c — framing, transport keys, replay window and rekeying over lt_noise (see
 * lt_channel.h and docs/CHANNEL.md).
 */
#include "lt_channel.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Frees a key slot's window and wipes the slot. */
static void clear_keys(lt_chan_keys *k) {
    free(k->win);
    sodium_memzero(k, sizeof *k);
}

const char *lt_chan_err_name(lt_chan_err err) {
    switch (err) {
    case LT_CHAN_OK:
        return "ok";
    case LT_CHAN_E_MALFORMED:
        return "malformed";
    case LT_CHAN_E_TOO_LARGE:
        return "too_large";
    case LT_CHAN_E_BAD_MAC:
        return "bad_mac";
    case LT_CHAN_E_BAD_KEY:
        return "bad_key";
    case LT_CHAN_E_UNEXPECTED:
        return "unexpected_message";
    case LT_CHAN_E_REPLAY:
        return "replay";
    case LT_CHAN_E_KEY_EXPIRED:
        return "key_expired";
    case LT_CHAN_E_UNKNOWN_KEY:
        return "unknown_key";
    case LT_CHAN_E_NOT_ESTABLISHED:
        return "not_established";
    case LT_CHAN_E_NONCE:
        return "nonce_exhausted";
    case LT_CHAN_E_NOMEM:
        return "enomem";
    }
    return "unknown";
}

static lt_chan_err of_noise(lt_noise_err e) {
    switch (e) {
    case LT_NOISE_OK:
        return LT_CHAN_OK;
    case LT_NOISE_E_MALFORMED:
        return LT_CHAN_E_MALFORMED;
    case LT_NOISE_E_TOO_LARGE:
        return LT_CHAN_E_TOO_LARGE;
    case LT_NOISE_E_BAD_MAC:
        return LT_CHAN_E_BAD_MAC;
    case LT_NOISE_E_BAD_KEY:
        return LT_CHAN_E_BAD_KEY;
    case LT_NOISE_E_STATE:
        return LT_CHAN_E_UNEXPECTED;
    case LT_NOISE_E_NONCE:
        return LT_CHAN_E_NONCE;
    }
    return LT_CHAN_E_UNEXPECTED;
}

void lt_chan_config_default(lt_chan_config *cfg) {
    cfg->rekey_after_ms = 120 * 1000;
    cfg->reject_after_ms = 180 * 1000;
    cfg->rekey_after_msgs = UINT64_C(1) << 60;
    cfg->reject_after_msgs = UINT64_MAX - (UINT64_C(1) << 13);
    cfg->grace_ms = 10 * 1000;
}

/* ---- byte order ------------------------------------------------------------------------------ */

static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- setup and handshakes ----------------------------------------------------------------------
 */

lt_chan_err lt_chan_init(lt_chan *ch, int initiator, const uint8_t *prologue, size_t plen,
                         const uint8_t s_sk[LT_NOISE_DHLEN], const lt_chan_config *cfg) {
    memset(ch, 0, sizeof *ch);
    if (plen > LT_CHAN_MAX_PROLOGUE)
        return LT_CHAN_E_TOO_LARGE;
    ch->cfg = *cfg;
    ch->initiator = initiator ? 1 : 0;
    memcpy(ch->s_sk, s_sk, LT_NOISE_DHLEN);
    if (plen > 0)
        memcpy(ch->prologue, prologue, plen);
    ch->plen = plen;
    return LT_CHAN_OK;
}

static lt_chan_err begin(lt_chan *ch, uint32_t epoch, int initiator, int64_t now) {
    lt_noise_hs_wipe(&ch->hs);
    put_be32(ch->prologue + ch->plen, epoch);
    lt_noise_err e = lt_noise_hs_init(&ch->hs, initiator, ch->prologue, ch->plen + 4, ch->s_sk);
    if (e != LT_NOISE_OK)
        return of_noise(e);
    if (ch->has_fixed_e)
        lt_noise_hs_fix_ephemeral(&ch->hs, ch->fixed_e);
    ch->hs_active = 1;
    ch->hs_epoch = epoch;
    ch->hs_started_ms = now;
    return LT_CHAN_OK;
}

void lt_chan_abort(lt_chan *ch) {
    lt_noise_hs_wipe(&ch->hs);
    ch->hs_active = 0;
}

static lt_chan_err write_hs(lt_chan *ch, const uint8_t *payload, size_t plen, uint8_t *out,
                            size_t cap, size_t *outlen) {
    if (plen > LT_CHAN_MAX_HS_PAYLOAD)
        return LT_CHAN_E_TOO_LARGE;
    if (cap < LT_CHAN_HS_HEADER)
        return LT_CHAN_E_TOO_LARGE;
    uint8_t type = (uint8_t)(LT_CHAN_T_HS1 + ch->hs.step);
    size_t n = 0;
    lt_noise_err e = lt_noise_hs_write(&ch->hs, payload, plen, out + LT_CHAN_HS_HEADER,
                                       cap - LT_CHAN_HS_HEADER, &n);
    if (e != LT_NOISE_OK)
        return of_noise(e);
    out[0] = type;
    put_be32(out + 1, ch->hs_epoch);
    *outlen = LT_CHAN_HS_HEADER + n;
    return LT_CHAN_OK;
}

lt_chan_err lt_chan_start(lt_chan *ch, int64_t now, const uint8_t *payload, size_t plen,
                          uint8_t *out, size_t cap, size_t *outlen) {
    if (!ch->initiator)
        return LT_CHAN_E_UNEXPECTED;
    uint32_t last = ch->hs_epoch > ch->cur.epoch ? ch->hs_epoch : ch->cur.epoch;
    if (last == UINT32_MAX)
        return LT_CHAN_E_NONCE;
    lt_chan_err e = begin(ch, last + 1, 1, now);
    if (e != LT_CHAN_OK)
        return e;
    e = write_hs(ch, payload, plen, out, cap, outlen);
    if (e != LT_CHAN_OK)
        lt_chan_abort(ch);
    return e;
}

lt_chan_err lt_chan_hs_write(lt_chan *ch, const uint8_t *payload, size_t plen, uint8_t *out,
                             size_t cap, size_t *outlen) {
    if (!ch->hs_active || !lt_noise_hs_write_due(&ch->hs))
        return LT_CHAN_E_UNEXPECTED;
    lt_chan_err e = write_hs(ch, payload, plen, out, cap, outlen);
    if (e != LT_CHAN_OK && e != LT_CHAN_E_TOO_LARGE)
        lt_chan_abort(ch);
    return e;
}

int lt_chan_type(const uint8_t *msg, size_t mlen) {
    if (mlen == 0 || msg[0] < LT_CHAN_T_HS1 || msg[0] > LT_CHAN_T_DATA)
        return 0;
    return msg[0];
}

lt_chan_err lt_chan_hs_read(lt_chan *ch, int64_t now, const uint8_t *msg, size_t mlen, uint8_t *out,
                            size_t cap, size_t *outlen) {
    if (mlen < LT_CHAN_HS_HEADER || msg[0] < LT_CHAN_T_HS1 || msg[0] > LT_CHAN_T_HS3)
        return LT_CHAN_E_MALFORMED;
    if (mlen > LT_CHAN_MAX_HS_MSG)
        return LT_CHAN_E_TOO_LARGE;
    unsigned type = msg[0];
    uint32_t epoch = get_be32(msg + 1);
    lt_chan_err e;
    if (type == LT_CHAN_T_HS1) {
        if (ch->initiator)
            return LT_CHAN_E_UNEXPECTED;
        /* A message 1 must be newer than the keys in use, and than the handshake under way
         * (which it then replaces): the same message again is a replay. The epoch of a
         * handshake that never completed is not remembered, so a forged message 1 with a huge
         * epoch cannot lock the real initiator's later ones out. */
        if (epoch == 0 || epoch <= ch->cur.epoch || (ch->hs_active && epoch <= ch->hs_epoch))
            return LT_CHAN_E_REPLAY;
        if ((e = begin(ch, epoch, 0, now)) != LT_CHAN_OK)
            return e;
    } else {
        /* Message 2 goes to the initiator, 3 to the responder, each of the epoch under way. */
        int mine = ch->initiator ? type == LT_CHAN_T_HS2 : type == LT_CHAN_T_HS3;
        if (!mine || !ch->hs_active)
            return LT_CHAN_E_UNEXPECTED;
        if (epoch != ch->hs_epoch)
            return epoch < ch->hs_epoch ? LT_CHAN_E_REPLAY : LT_CHAN_E_UNEXPECTED;
        if ((unsigned)(type - LT_CHAN_T_HS1) != ch->hs.step)
            return LT_CHAN_E_UNEXPECTED;
    }
    size_t body = mlen - LT_CHAN_HS_HEADER;
    if (cap < body) {
        lt_chan_abort(ch);
        return LT_CHAN_E_TOO_LARGE;
    }
    lt_noise_err ne = lt_noise_hs_read(&ch->hs, msg + LT_CHAN_HS_HEADER, body, out, cap, outlen);
    if (ne == LT_NOISE_OK && *outlen > LT_CHAN_MAX_HS_PAYLOAD)
        ne = LT_NOISE_E_TOO_LARGE;
    if (ne != LT_NOISE_OK) {
        sodium_memzero(out, body < cap ? body : cap);
        lt_chan_abort(ch);
        return of_noise(ne);
    }
    return LT_CHAN_OK;
}

const uint8_t *lt_chan_hs_remote_static(const lt_chan *ch) {
    if (!ch->hs_active)
        return NULL;
    /* The initiator learns it from message 2 (step 2 after reading it), the responder from
     * message 3. */
    if (ch->initiator ? ch->hs.step >= 2 : ch->hs.step >= 3)
        return ch->hs.rs;
    return NULL;
}

int lt_chan_hs_complete(const lt_chan *ch) {
    return ch->hs_active && lt_noise_hs_done(&ch->hs);
}

lt_chan_err lt_chan_finish(lt_chan *ch, int64_t now) {
    uint8_t send_k[LT_NOISE_KEYLEN], recv_k[LT_NOISE_KEYLEN];
    if (!lt_chan_hs_complete(ch))
        return LT_CHAN_E_UNEXPECTED;
    lt_replay_window *win = lt_replay_window_new(LT_CHAN_WINDOW);
    if (win == NULL)
        return LT_CHAN_E_NOMEM; /* the handshake stays complete: the caller may retry */
    lt_noise_err e = lt_noise_hs_split(&ch->hs, send_k, recv_k, ch->hash);
    if (e != LT_NOISE_OK) {
        free(win);
        return of_noise(e);
    }
    memcpy(ch->peer_static, ch->hs.rs, LT_NOISE_DHLEN);
    if (ch->cur.epoch != 0) {
        clear_keys(&ch->prev);
        ch->prev = ch->cur;                                      /* the window moves with it */
        sodium_memzero(ch->prev.send_k, sizeof ch->prev.send_k); /* it only receives now */
        ch->prev.retire_ms = now + ch->cfg.grace_ms;
        ch->rekeys++;
    }
    sodium_memzero(&ch->cur, sizeof ch->cur);
    ch->cur.win = win;
    ch->cur.epoch = ch->hs_epoch;
    memcpy(ch->cur.send_k, send_k, LT_NOISE_KEYLEN);
    memcpy(ch->cur.recv_k, recv_k, LT_NOISE_KEYLEN);
    ch->cur.born_ms = now;
    ch->rekey_wanted = 0;
    sodium_memzero(send_k, sizeof send_k);
    sodium_memzero(recv_k, sizeof recv_k);
    lt_chan_abort(ch);
    return LT_CHAN_OK;
}

/* ---- transport ------------------------------------------------------------------------------- */

size_t lt_chan_sealed_size(size_t plen) {
    return plen + LT_CHAN_OVERHEAD;
}

static int send_rekey_due(const lt_chan *ch, int64_t now) {
    return now - ch->cur.born_ms >= ch->cfg.rekey_after_ms ||
           ch->cur.sent >= ch->cfg.rekey_after_msgs;
}

int lt_chan_rekey_due(const lt_chan *ch, int64_t now) {
    if (!ch->initiator || ch->hs_active || ch->cur.epoch == 0)
        return 0;
    return ch->rekey_wanted || send_rekey_due(ch, now);
}

void lt_chan_expire(lt_chan *ch, int64_t now) {
    if (ch->prev.epoch != 0 && now >= ch->prev.retire_ms)
        clear_keys(&ch->prev);
}

lt_chan_err lt_chan_encrypt(lt_chan *ch, int64_t now, const uint8_t *plain, size_t plen,
                            uint8_t *out, size_t cap, size_t *outlen, int *rekey_due) {
    lt_chan_keys *k = &ch->cur;
    lt_chan_expire(ch, now);
    if (k->epoch == 0)
        return LT_CHAN_E_NOT_ESTABLISHED;
    if (plen > LT_CHAN_MAX_PLAIN || cap < lt_chan_sealed_size(plen))
        return LT_CHAN_E_TOO_LARGE;
    if (now - k->born_ms >= ch->cfg.reject_after_ms || k->sent >= ch->cfg.reject_after_msgs)
        return LT_CHAN_E_KEY_EXPIRED;
    if (k->sent == UINT64_MAX)
        return LT_CHAN_E_NONCE;
    int due = send_rekey_due(ch, now);
    out[0] = LT_CHAN_T_DATA;
    out[1] = (!ch->initiator && due) ? LT_CHAN_F_REKEY : 0;
    put_be32(out + 2, k->epoch);
    put_be64(out + 6, k->sent);
    lt_noise_aead_encrypt(k->send_k, k->sent, out, LT_CHAN_HEADER, plain, plen,
                          out + LT_CHAN_HEADER);
    k->sent++;
    ch->total_sent++;
    *outlen = lt_chan_sealed_size(plen);
    *rekey_due = ch->initiator ? lt_chan_rekey_due(ch, now) : due;
    return LT_CHAN_OK;
}

lt_chan_err lt_chan_decrypt(lt_chan *ch, int64_t now, const uint8_t *msg, size_t mlen, uint8_t *out,
                            size_t cap, size_t *outlen) {
    if (mlen < LT_CHAN_OVERHEAD || msg[0] != LT_CHAN_T_DATA || (msg[1] & ~LT_CHAN_F_REKEY) != 0)
        return LT_CHAN_E_MALFORMED;
    if (mlen - LT_CHAN_OVERHEAD > LT_CHAN_MAX_PLAIN)
        return LT_CHAN_E_TOO_LARGE;
    if (cap < mlen - LT_CHAN_OVERHEAD)
        return LT_CHAN_E_TOO_LARGE;
    uint32_t epoch = get_be32(msg + 2);
    uint64_t counter = get_be64(msg + 6);
    lt_chan_keys *k;
    if (epoch != 0 && epoch == ch->cur.epoch) {
        k = &ch->cur;
    } else if (epoch != 0 && epoch == ch->prev.epoch) {
        if (now >= ch->prev.retire_ms) {
            clear_keys(&ch->prev); /* past its grace: gone */
            return LT_CHAN_E_KEY_EXPIRED;
        }
        k = &ch->prev;
    } else if (epoch != 0 && epoch < ch->cur.epoch) {
        return LT_CHAN_E_KEY_EXPIRED; /* an epoch retired and wiped */
    } else {
        return LT_CHAN_E_UNKNOWN_KEY;
    }
    if (now - k->born_ms >= ch->cfg.reject_after_ms || k->received >= ch->cfg.reject_after_msgs)
        return LT_CHAN_E_KEY_EXPIRED;
    if (counter == UINT64_MAX)
        return LT_CHAN_E_NONCE;
    if (lt_replay_window_check(k->win, counter) != LT_REPLAY_OK)
        return LT_CHAN_E_REPLAY; /* a duplicate, or below the window */
    lt_noise_err e = lt_noise_aead_decrypt(k->recv_k, counter, msg, LT_CHAN_HEADER,
                                           msg + LT_CHAN_HEADER, mlen - LT_CHAN_HEADER, out);
    if (e != LT_NOISE_OK)
        return of_noise(e);
    if (lt_replay_window_update(k->win, counter) != LT_REPLAY_OK)
        return LT_CHAN_E_REPLAY; /* cannot happen: checked above, under the caller's lock */
    k->received++;
    ch->total_received++;
    if ((msg[1] & LT_CHAN_F_REKEY) && ch->initiator && k == &ch->cur)
        ch->rekey_wanted = 1;
    *outlen = mlen - LT_CHAN_OVERHEAD;
    return LT_CHAN_OK;
}

void lt_chan_fix_ephemeral(lt_chan *ch, const uint8_t e_sk[LT_NOISE_DHLEN]) {
    memcpy(ch->fixed_e, e_sk, LT_NOISE_DHLEN);
    ch->has_fixed_e = 1;
}

void lt_chan_wipe(lt_chan *ch) {
    clear_keys(&ch->cur);
    clear_keys(&ch->prev);
    sodium_memzero(ch, sizeof *ch);
}

lt_chan_err lt_chan_ae_key(const lt_chan *ch, uint8_t out[LT_CHAN_AE_KEYLEN]) {
    crypto_generichash_blake2b_state st;
    uint8_t epoch[4];
    if (ch->cur.epoch == 0)
        return LT_CHAN_E_NOT_ESTABLISHED;
    /* Both ends name the keys by direction, not by "send" and "receive": the initiator's send
     * key is the responder's receive key. */
    const uint8_t *i2r = ch->initiator ? ch->cur.send_k : ch->cur.recv_k;
    const uint8_t *r2i = ch->initiator ? ch->cur.recv_k : ch->cur.send_k;
    epoch[0] = (uint8_t)(ch->cur.epoch >> 24);
    epoch[1] = (uint8_t)(ch->cur.epoch >> 16);
    epoch[2] = (uint8_t)(ch->cur.epoch >> 8);
    epoch[3] = (uint8_t)ch->cur.epoch;
    if (crypto_generichash_blake2b_init(&st, i2r, LT_NOISE_KEYLEN, LT_CHAN_AE_KEYLEN) != 0)
        return LT_CHAN_E_NOMEM; /* cannot happen with these lengths */
    (void)crypto_generichash_blake2b_update(&st, (const uint8_t *)LT_CHAN_AE_LABEL,
                                            sizeof LT_CHAN_AE_LABEL - 1);
    (void)crypto_generichash_blake2b_update(&st, epoch, sizeof epoch);
    (void)crypto_generichash_blake2b_update(&st, r2i, LT_NOISE_KEYLEN);
    (void)crypto_generichash_blake2b_update(&st, ch->hash, LT_NOISE_HASHLEN);
    (void)crypto_generichash_blake2b_final(&st, out, LT_CHAN_AE_KEYLEN);
    sodium_memzero(&st, sizeof st);
    return LT_CHAN_OK;
}
