/* lt_aeseal.c — sealing of anti-entropy session messages (lt_aeseal.h has the format). */
#include "lt_aeseal.h"

#include <sodium.h>
#include <string.h>

#define D_INIT (UINT64_C(1) << 63) /* the direction bit of the initiator's messages */

_Static_assert(LT_AESEAL_TAGLEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag length");
_Static_assert(LT_AESEAL_KEYLEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key length");
_Static_assert(LT_AESEAL_SALTLEN + 8 == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");

const char *lt_aeseal_err_name(lt_aeseal_err e) {
    switch (e) {
    case LT_AESEAL_OK:
        return "ok";
    case LT_AESEAL_E_MALFORMED:
        return "malformed";
    case LT_AESEAL_E_REPLAY:
        return "replay";
    case LT_AESEAL_E_BAD_MAC:
        return "bad_mac";
    case LT_AESEAL_E_EXHAUSTED:
        return "exhausted";
    }
    return "unknown";
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Ks = BLAKE2b-256(key = K, label || Si || Sr) into out (the caller's, 32 bytes). */
static void derive(const uint8_t *k, const uint8_t *si, const uint8_t *sr, uint8_t *out) {
    crypto_generichash_blake2b_state st;
    (void)crypto_generichash_blake2b_init(&st, k, LT_AESEAL_KEYLEN, LT_AESEAL_KEYLEN);
    (void)crypto_generichash_blake2b_update(&st, (const uint8_t *)LT_AESEAL_LABEL,
                                            sizeof LT_AESEAL_LABEL - 1);
    (void)crypto_generichash_blake2b_update(&st, si, LT_AESEAL_SALTLEN);
    (void)crypto_generichash_blake2b_update(&st, sr, LT_AESEAL_SALTLEN);
    (void)crypto_generichash_blake2b_final(&st, out, LT_AESEAL_KEYLEN);
    sodium_memzero(&st, sizeof st);
}

/* The nonce: prefix (16 bytes, or zeros when NULL) || BE64(ctr | dir). */
static void nonce(uint8_t *n, const uint8_t *prefix, uint64_t ctr, uint64_t dir) {
    if (prefix != NULL)
        memcpy(n, prefix, LT_AESEAL_SALTLEN);
    else
        memset(n, 0, LT_AESEAL_SALTLEN);
    put_be64(n + LT_AESEAL_SALTLEN, ctr | dir);
}

void lt_aeseal_init(lt_aeseal *s, const uint8_t key[LT_AESEAL_KEYLEN], int initiator) {
    sodium_memzero(s, sizeof *s);
    memcpy(s->peer_key, key, LT_AESEAL_KEYLEN);
    s->initiator = initiator != 0;
    randombytes_buf(initiator ? s->salt_i : s->salt_r, LT_AESEAL_SALTLEN);
}

size_t lt_aeseal_size(const lt_aeseal *s, size_t plen) {
    return LT_AESEAL_HDRLEN + LT_AESEAL_CTRLEN + (s->send_ctr == 0 ? LT_AESEAL_SALTLEN : 0) + plen +
           LT_AESEAL_TAGLEN;
}

lt_aeseal_err lt_aeseal_seal(lt_aeseal *s, const uint8_t *hdr, const uint8_t *body, size_t len,
                             uint8_t *out, size_t cap, size_t *outlen) {
    uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    const uint8_t *key;
    if (s->send_ctr > LT_AESEAL_MAX_CTR)
        return LT_AESEAL_E_EXHAUSTED;
    if (!(hdr[2] & LT_AESEAL_FLAG) || len > SIZE_MAX - LT_AESEAL_MAX_OVERHEAD - LT_AESEAL_HDRLEN ||
        cap < lt_aeseal_size(s, len))
        return LT_AESEAL_E_MALFORMED;
    /* The initiator's later messages and all the responder's need the session key: the
     * responder has it once it opened the HELLO, the initiator once it opened the answer. */
    if (!s->has_sess && !(s->initiator && s->send_ctr == 0))
        return LT_AESEAL_E_MALFORMED;
    size_t ad = LT_AESEAL_HDRLEN + LT_AESEAL_CTRLEN;
    memcpy(out, hdr, LT_AESEAL_HDRLEN);
    put_be64(out + LT_AESEAL_HDRLEN, s->send_ctr);
    if (s->send_ctr == 0) {
        memcpy(out + ad, s->initiator ? s->salt_i : s->salt_r, LT_AESEAL_SALTLEN);
        ad += LT_AESEAL_SALTLEN;
    }
    uint64_t dir = s->initiator ? D_INIT : 0;
    if (s->initiator && s->send_ctr == 0) {
        key = s->peer_key;
        nonce(n, s->salt_i, 0, dir);
    } else {
        key = s->sess_key;
        nonce(n, NULL, s->send_ctr, dir);
    }
    unsigned long long clen = 0;
    (void)crypto_aead_xchacha20poly1305_ietf_encrypt(out + ad, &clen, body, len, out, ad, NULL, n,
                                                     key);
    *outlen = ad + (size_t)clen;
    s->send_ctr++;
    return LT_AESEAL_OK;
}

lt_aeseal_err lt_aeseal_open(lt_aeseal *s, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
                             size_t *outlen) {
    uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ks[LT_AESEAL_KEYLEN];
    const uint8_t *key;
    size_t ad = LT_AESEAL_HDRLEN + LT_AESEAL_CTRLEN;
    if (len < ad + LT_AESEAL_TAGLEN || !(msg[2] & LT_AESEAL_FLAG) || cap < len)
        return LT_AESEAL_E_MALFORMED;
    uint64_t ctr = get_be64(msg + LT_AESEAL_HDRLEN);
    if (ctr != s->recv_ctr)
        return LT_AESEAL_E_REPLAY;
    const uint8_t *salt = NULL;
    if (ctr == 0) {
        if (len < ad + LT_AESEAL_SALTLEN + LT_AESEAL_TAGLEN)
            return LT_AESEAL_E_MALFORMED;
        salt = msg + ad;
        ad += LT_AESEAL_SALTLEN;
    }
    uint64_t dir = s->initiator ? 0 : D_INIT; /* the sender's */
    if (!s->initiator && ctr == 0) {          /* the HELLO, under the peer key */
        key = s->peer_key;
        nonce(n, salt, 0, dir);
    } else if (s->initiator && ctr == 0) { /* the answer: the session key from its salt */
        derive(s->peer_key, s->salt_i, salt, ks);
        key = ks;
        nonce(n, NULL, 0, dir);
    } else {
        if (!s->has_sess)
            return LT_AESEAL_E_MALFORMED;
        key = s->sess_key;
        nonce(n, NULL, ctr, dir);
    }
    unsigned long long plen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, msg + ad, len - ad, msg,
                                                        ad, n, key);
    if (rc != 0) {
        sodium_memzero(ks, sizeof ks);
        return LT_AESEAL_E_BAD_MAC;
    }
    if (ctr == 0 && !s->initiator) {
        memcpy(s->salt_i, salt, LT_AESEAL_SALTLEN);
        derive(s->peer_key, s->salt_i, s->salt_r, s->sess_key);
        s->has_sess = 1;
    } else if (ctr == 0) {
        memcpy(s->salt_r, salt, LT_AESEAL_SALTLEN);
        memcpy(s->sess_key, ks, LT_AESEAL_KEYLEN);
        s->has_sess = 1;
    }
    sodium_memzero(ks, sizeof ks);
    *outlen = (size_t)plen;
    s->recv_ctr++;
    return LT_AESEAL_OK;
}

void lt_aeseal_wipe(lt_aeseal *s) {
    sodium_memzero(s, sizeof *s);
}
