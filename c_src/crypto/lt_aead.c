/* lt_aead.c — AEAD over lt_key (lt_aead.h). */
#include "lt_aead.h"

#include <sodium.h>

size_t lt_aead_max_plain(lt_aead_alg alg) {
    size_t max = 0;
    switch (alg) {
    case LT_AEAD_XCHACHA20POLY1305:
        max = crypto_aead_xchacha20poly1305_ietf_messagebytes_max();
        break;
    case LT_AEAD_CHACHA20POLY1305:
        max = crypto_aead_chacha20poly1305_ietf_messagebytes_max();
        break;
    case LT_AEAD_AES256GCM:
        max = crypto_aead_aes256gcm_messagebytes_max();
        break;
    case LT_AEAD_NONE:
        break;
    }
    return max;
}

int lt_aead_seal(const lt_key *k, uint8_t *out, const uint8_t *plain, size_t plen,
                 const uint8_t *ad, size_t adlen, const uint8_t *nonce) {
    if (k->kind != LT_KEY_AEAD || plen > lt_aead_max_plain(k->alg))
        return -1;
    unsigned long long clen;
    switch (k->alg) {
    case LT_AEAD_XCHACHA20POLY1305:
        return crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, plain, plen, ad, adlen, NULL,
                                                          nonce, k->secret.p);
    case LT_AEAD_CHACHA20POLY1305:
        return crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, plain, plen, ad, adlen, NULL,
                                                         nonce, k->secret.p);
    case LT_AEAD_AES256GCM:
        return crypto_aead_aes256gcm_encrypt_afternm(
            out, &clen, plain, plen, ad, adlen, NULL, nonce,
            (const crypto_aead_aes256gcm_state *)(const void *)k->sched.p);
    case LT_AEAD_NONE:
        break;
    }
    return -1;
}

int lt_aead_open(const lt_key *k, uint8_t *out, const uint8_t *cipher, size_t clen,
                 const uint8_t *ad, size_t adlen, const uint8_t *nonce) {
    if (k->kind != LT_KEY_AEAD || clen < LT_AEAD_TAG_BYTES)
        return -1;
    unsigned long long mlen;
    int rc = -1;
    switch (k->alg) {
    case LT_AEAD_XCHACHA20POLY1305:
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, cipher, clen, ad, adlen,
                                                        nonce, k->secret.p);
        break;
    case LT_AEAD_CHACHA20POLY1305:
        rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, cipher, clen, ad, adlen,
                                                       nonce, k->secret.p);
        break;
    case LT_AEAD_AES256GCM:
        rc = crypto_aead_aes256gcm_decrypt_afternm(
            out, &mlen, NULL, cipher, clen, ad, adlen, nonce,
            (const crypto_aead_aes256gcm_state *)(const void *)k->sched.p);
        break;
    case LT_AEAD_NONE:
        break;
    }
    if (rc != 0 && clen > LT_AEAD_TAG_BYTES)
        sodium_memzero(out, clen - LT_AEAD_TAG_BYTES);
    return rc == 0 ? 0 : -1;
}
