/*
 * lt_noise.c — Noise_XX_25519_ChaChaPoly_BLAKE2b (see lt_noise.h). Names follow the spec's
 * sections 5.1 (CipherState), 5.2 (SymmetricState) and 5.3 (HandshakeState).
 */
#include "lt_noise.h"

#include <sodium.h>
#include <string.h>

const char *lt_noise_err_name(lt_noise_err err) {
    switch (err) {
    case LT_NOISE_OK:
        return "ok";
    case LT_NOISE_E_MALFORMED:
        return "malformed";
    case LT_NOISE_E_TOO_LARGE:
        return "too_large";
    case LT_NOISE_E_BAD_MAC:
        return "bad_mac";
    case LT_NOISE_E_BAD_KEY:
        return "bad_key";
    case LT_NOISE_E_STATE:
        return "unexpected_message";
    case LT_NOISE_E_NONCE:
        return "nonce_exhausted";
    }
    return "unknown";
}

/* ---- hash, HMAC, HKDF ------------------------------------------------------------------------ */

void lt_noise_hmac(const uint8_t *key, size_t klen, const uint8_t *data, size_t dlen,
                   uint8_t out[LT_NOISE_HASHLEN]) {
    uint8_t pad[LT_NOISE_BLOCKLEN];
    uint8_t inner[LT_NOISE_HASHLEN];
    crypto_generichash_blake2b_state st;

    /* Keys here are at most HASHLEN (a chaining key or a temp key): never hashed first. */
    memset(pad, 0, sizeof pad);
    memcpy(pad, key, klen <= sizeof pad ? klen : sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36;
    crypto_generichash_blake2b_init(&st, NULL, 0, LT_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, pad, sizeof pad);
    crypto_generichash_blake2b_update(&st, data, dlen);
    crypto_generichash_blake2b_final(&st, inner, sizeof inner);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    crypto_generichash_blake2b_init(&st, NULL, 0, LT_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, pad, sizeof pad);
    crypto_generichash_blake2b_update(&st, inner, sizeof inner);
    crypto_generichash_blake2b_final(&st, out, LT_NOISE_HASHLEN);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner, sizeof inner);
    sodium_memzero(&st, sizeof st);
}

void lt_noise_hkdf(const uint8_t ck[LT_NOISE_HASHLEN], const uint8_t *ikm, size_t ilen,
                   uint8_t out1[LT_NOISE_HASHLEN], uint8_t out2[LT_NOISE_HASHLEN],
                   uint8_t out3[LT_NOISE_HASHLEN]) {
    uint8_t temp[LT_NOISE_HASHLEN];
    uint8_t buf[LT_NOISE_HASHLEN + 1];

    lt_noise_hmac(ck, LT_NOISE_HASHLEN, ikm, ilen, temp);
    buf[0] = 0x01;
    lt_noise_hmac(temp, sizeof temp, buf, 1, out1);
    memcpy(buf, out1, LT_NOISE_HASHLEN);
    buf[LT_NOISE_HASHLEN] = 0x02;
    lt_noise_hmac(temp, sizeof temp, buf, sizeof buf, out2);
    if (out3 != NULL) {
        memcpy(buf, out2, LT_NOISE_HASHLEN);
        buf[LT_NOISE_HASHLEN] = 0x03;
        lt_noise_hmac(temp, sizeof temp, buf, sizeof buf, out3);
    }
    sodium_memzero(temp, sizeof temp);
    sodium_memzero(buf, sizeof buf);
}

/* ---- the cipher --------------------------------------------------------------------------------
 */

static void nonce_of(uint64_t n, uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES]) {
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

void lt_noise_aead_encrypt(const uint8_t k[LT_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                           size_t adlen, const uint8_t *plain, size_t plen, uint8_t *out) {
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(n, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, plen, ad, adlen, NULL, nonce, k);
}

lt_noise_err lt_noise_aead_decrypt(const uint8_t k[LT_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                                   size_t adlen, const uint8_t *cipher, size_t clen, uint8_t *out) {
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    if (clen < LT_NOISE_TAGLEN)
        return LT_NOISE_E_MALFORMED;
    nonce_of(n, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, cipher, clen, ad, adlen, nonce,
                                                  k) != 0) {
        if (clen > LT_NOISE_TAGLEN)
            sodium_memzero(out, clen - LT_NOISE_TAGLEN);
        return LT_NOISE_E_BAD_MAC;
    }
    return LT_NOISE_OK;
}

/* ---- SymmetricState ------------------------------------------------------------------------ */

static void mix_hash(lt_noise_hs *hs, const uint8_t *data, size_t len) {
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, LT_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, hs->h, LT_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, data, len);
    crypto_generichash_blake2b_final(&st, hs->h, LT_NOISE_HASHLEN);
}

static void mix_key(lt_noise_hs *hs, const uint8_t *ikm, size_t len) {
    uint8_t temp_k[LT_NOISE_HASHLEN];
    lt_noise_hkdf(hs->ck, ikm, len, hs->ck, temp_k, NULL);
    memcpy(hs->cs.k, temp_k, LT_NOISE_KEYLEN); /* truncated to 32 bytes (HASHLEN is 64) */
    hs->cs.n = 0;
    hs->cs.has_k = 1;
    sodium_memzero(temp_k, sizeof temp_k);
}

/* DH(priv, pub) mixed into the key; the all-zero output of a low-order point is refused. */
static lt_noise_err mix_dh(lt_noise_hs *hs, const uint8_t sk[LT_NOISE_DHLEN],
                           const uint8_t pk[LT_NOISE_DHLEN]) {
    uint8_t shared[LT_NOISE_DHLEN];
    if (crypto_scalarmult(shared, sk, pk) != 0) {
        sodium_memzero(shared, sizeof shared);
        return LT_NOISE_E_BAD_KEY;
    }
    mix_key(hs, shared, sizeof shared);
    sodium_memzero(shared, sizeof shared);
    return LT_NOISE_OK;
}

/* out gets len (+ TAGLEN when a key is set) bytes. */
static lt_noise_err encrypt_and_hash(lt_noise_hs *hs, const uint8_t *plain, size_t len,
                                     uint8_t *out) {
    size_t olen = len;
    if (hs->cs.has_k) {
        if (hs->cs.n == UINT64_MAX)
            return LT_NOISE_E_NONCE;
        lt_noise_aead_encrypt(hs->cs.k, hs->cs.n, hs->h, LT_NOISE_HASHLEN, plain, len, out);
        hs->cs.n++;
        olen += LT_NOISE_TAGLEN;
    } else if (len > 0 && out != plain) {
        memmove(out, plain, len);
    }
    mix_hash(hs, out, olen);
    return LT_NOISE_OK;
}

/* cipher is clen bytes; out gets clen (- TAGLEN when a key is set) bytes. */
static lt_noise_err decrypt_and_hash(lt_noise_hs *hs, const uint8_t *cipher, size_t clen,
                                     uint8_t *out) {
    if (hs->cs.has_k) {
        if (hs->cs.n == UINT64_MAX)
            return LT_NOISE_E_NONCE;
        lt_noise_err e =
            lt_noise_aead_decrypt(hs->cs.k, hs->cs.n, hs->h, LT_NOISE_HASHLEN, cipher, clen, out);
        if (e != LT_NOISE_OK)
            return e;
        hs->cs.n++;
    } else if (clen > 0) {
        memmove(out, cipher, clen);
    }
    mix_hash(hs, cipher, clen);
    return LT_NOISE_OK;
}

/* ---- HandshakeState -------------------------------------------------------------------------- */

lt_noise_err lt_noise_hs_init(lt_noise_hs *hs, int initiator, const uint8_t *prologue, size_t plen,
                              const uint8_t s_sk[LT_NOISE_DHLEN]) {
    static const char name[] = LT_NOISE_PROTOCOL_NAME;
    memset(hs, 0, sizeof *hs);
    if (plen > LT_NOISE_MAX_PROLOGUE)
        return LT_NOISE_E_TOO_LARGE;
    if (sodium_init() < 0)
        return LT_NOISE_E_STATE;
    /* InitializeSymmetric: the name (33 bytes) fits in HASHLEN, so h is the name zero-padded. */
    memcpy(hs->h, name, sizeof name - 1);
    memcpy(hs->ck, hs->h, LT_NOISE_HASHLEN);
    mix_hash(hs, prologue, plen);
    memcpy(hs->s_sk, s_sk, LT_NOISE_DHLEN);
    crypto_scalarmult_base(hs->s_pk, hs->s_sk);
    hs->initiator = initiator ? 1 : 0;
    return LT_NOISE_OK;
}

void lt_noise_hs_fix_ephemeral(lt_noise_hs *hs, const uint8_t e_sk[LT_NOISE_DHLEN]) {
    memcpy(hs->e_sk, e_sk, LT_NOISE_DHLEN);
    crypto_scalarmult_base(hs->e_pk, hs->e_sk);
    hs->e_fixed = 1;
}

static void new_ephemeral(lt_noise_hs *hs) {
    if (!hs->e_fixed) {
        randombytes_buf(hs->e_sk, LT_NOISE_DHLEN);
        crypto_scalarmult_base(hs->e_pk, hs->e_sk);
    }
}

/* Step 0 and 2 are the initiator's messages, step 1 the responder's. */
int lt_noise_hs_write_due(const lt_noise_hs *hs) {
    if (hs->failed || hs->step >= 3)
        return 0;
    return ((hs->step & 1) == 0) == (hs->initiator == 1);
}

int lt_noise_hs_done(const lt_noise_hs *hs) {
    return !hs->failed && hs->step == 3;
}

/* The fixed part of message `step` (keys and tags), before the payload and its tag. */
static size_t fixed_size(unsigned step) {
    switch (step) {
    case 0:
        return LT_NOISE_DHLEN; /* e */
    case 1:
        return LT_NOISE_DHLEN + LT_NOISE_DHLEN + LT_NOISE_TAGLEN; /* e, enc(s) */
    default:
        return LT_NOISE_DHLEN + LT_NOISE_TAGLEN; /* enc(s) */
    }
}

/* Message 0 has no key yet: its payload travels in clear, without a tag. */
static size_t payload_tag(unsigned step) {
    return step == 0 ? 0 : LT_NOISE_TAGLEN;
}

size_t lt_noise_hs_write_size(const lt_noise_hs *hs, size_t plen) {
    if (!lt_noise_hs_write_due(hs))
        return 0;
    return fixed_size(hs->step) + plen + payload_tag(hs->step);
}

static lt_noise_err fail(lt_noise_hs *hs, lt_noise_err e) {
    hs->failed = 1;
    return e;
}

lt_noise_err lt_noise_hs_write(lt_noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
                               size_t cap, size_t *outlen) {
    lt_noise_err e;
    if (!lt_noise_hs_write_due(hs))
        return LT_NOISE_E_STATE;
    if (plen > LT_NOISE_MAX_MSG)
        return LT_NOISE_E_TOO_LARGE;
    size_t need = lt_noise_hs_write_size(hs, plen);
    if (need > LT_NOISE_MAX_MSG || need > cap)
        return LT_NOISE_E_TOO_LARGE;
    uint8_t *p = out;
    switch (hs->step) {
    case 0: /* -> e */
        new_ephemeral(hs);
        memcpy(p, hs->e_pk, LT_NOISE_DHLEN);
        mix_hash(hs, p, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN;
        break;
    case 1: /* <- e, ee, s, es */
        new_ephemeral(hs);
        memcpy(p, hs->e_pk, LT_NOISE_DHLEN);
        mix_hash(hs, p, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN;
        if ((e = mix_dh(hs, hs->e_sk, hs->re)) != LT_NOISE_OK)
            return fail(hs, e);
        if ((e = encrypt_and_hash(hs, hs->s_pk, LT_NOISE_DHLEN, p)) != LT_NOISE_OK)
            return fail(hs, e);
        p += LT_NOISE_DHLEN + LT_NOISE_TAGLEN;
        if ((e = mix_dh(hs, hs->s_sk, hs->re)) != LT_NOISE_OK)
            return fail(hs, e);
        break;
    default: /* -> s, se */
        if ((e = encrypt_and_hash(hs, hs->s_pk, LT_NOISE_DHLEN, p)) != LT_NOISE_OK)
            return fail(hs, e);
        p += LT_NOISE_DHLEN + LT_NOISE_TAGLEN;
        if ((e = mix_dh(hs, hs->s_sk, hs->re)) != LT_NOISE_OK)
            return fail(hs, e);
        break;
    }
    if ((e = encrypt_and_hash(hs, payload, plen, p)) != LT_NOISE_OK)
        return fail(hs, e);
    p += plen + payload_tag(hs->step);
    *outlen = (size_t)(p - out);
    hs->step++;
    return LT_NOISE_OK;
}

lt_noise_err lt_noise_hs_read(lt_noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *out,
                              size_t cap, size_t *outlen) {
    lt_noise_err e;
    if (hs->failed || hs->step >= 3 || lt_noise_hs_write_due(hs))
        return fail(hs, LT_NOISE_E_STATE);
    if (mlen > LT_NOISE_MAX_MSG)
        return fail(hs, LT_NOISE_E_TOO_LARGE);
    size_t fixed = fixed_size(hs->step), tag = payload_tag(hs->step);
    if (mlen < fixed + tag)
        return fail(hs, LT_NOISE_E_MALFORMED);
    size_t plen = mlen - fixed - tag;
    if (plen > cap)
        return fail(hs, LT_NOISE_E_TOO_LARGE);
    const uint8_t *p = msg;
    uint8_t rs[LT_NOISE_DHLEN];
    switch (hs->step) {
    case 0: /* -> e */
        memcpy(hs->re, p, LT_NOISE_DHLEN);
        mix_hash(hs, hs->re, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN;
        break;
    case 1: /* <- e, ee, s, es */
        memcpy(hs->re, p, LT_NOISE_DHLEN);
        mix_hash(hs, hs->re, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN;
        if ((e = mix_dh(hs, hs->e_sk, hs->re)) != LT_NOISE_OK)
            return fail(hs, e);
        if ((e = decrypt_and_hash(hs, p, LT_NOISE_DHLEN + LT_NOISE_TAGLEN, rs)) != LT_NOISE_OK)
            return fail(hs, e);
        memcpy(hs->rs, rs, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN + LT_NOISE_TAGLEN;
        if ((e = mix_dh(hs, hs->e_sk, hs->rs)) != LT_NOISE_OK)
            return fail(hs, e);
        break;
    default: /* -> s, se */
        if ((e = decrypt_and_hash(hs, p, LT_NOISE_DHLEN + LT_NOISE_TAGLEN, rs)) != LT_NOISE_OK)
            return fail(hs, e);
        memcpy(hs->rs, rs, LT_NOISE_DHLEN);
        p += LT_NOISE_DHLEN + LT_NOISE_TAGLEN;
        if ((e = mix_dh(hs, hs->e_sk, hs->rs)) != LT_NOISE_OK)
            return fail(hs, e);
        break;
    }
    if ((e = decrypt_and_hash(hs, p, plen + tag, out)) != LT_NOISE_OK)
        return fail(hs, e);
    *outlen = plen;
    hs->step++;
    return LT_NOISE_OK;
}

lt_noise_err lt_noise_hs_split(lt_noise_hs *hs, uint8_t send_k[LT_NOISE_KEYLEN],
                               uint8_t recv_k[LT_NOISE_KEYLEN], uint8_t hash[LT_NOISE_HASHLEN]) {
    uint8_t k1[LT_NOISE_HASHLEN], k2[LT_NOISE_HASHLEN];
    if (!lt_noise_hs_done(hs))
        return LT_NOISE_E_STATE;
    lt_noise_hkdf(hs->ck, NULL, 0, k1, k2, NULL);
    /* The initiator sends with the first key, the responder with the second. */
    memcpy(send_k, hs->initiator ? k1 : k2, LT_NOISE_KEYLEN);
    memcpy(recv_k, hs->initiator ? k2 : k1, LT_NOISE_KEYLEN);
    if (hash != NULL)
        memcpy(hash, hs->h, LT_NOISE_HASHLEN);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    sodium_memzero(hs->ck, sizeof hs->ck);
    sodium_memzero(hs->e_sk, sizeof hs->e_sk);
    sodium_memzero(&hs->cs, sizeof hs->cs);
    return LT_NOISE_OK;
}

void lt_noise_hs_wipe(lt_noise_hs *hs) {
    sodium_memzero(hs, sizeof *hs);
}
