/* lt_key.c — keys over slab memory (lt_key.h). */
#include "lt_key.h"

#include <string.h>

#include <sodium.h>

int lt_aead_aes256gcm_available(void) {
    return crypto_aead_aes256gcm_is_available();
}

size_t lt_aead_nonce_bytes(lt_aead_alg alg) {
    switch (alg) {
    case LT_AEAD_XCHACHA20POLY1305:
        return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    case LT_AEAD_CHACHA20POLY1305:
        return crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
    case LT_AEAD_AES256GCM:
        return crypto_aead_aes256gcm_NPUBBYTES;
    case LT_AEAD_NONE:
        break;
    }
    return 0;
}

static lt_key_err expected_len(lt_key_kind kind, lt_aead_alg alg, size_t len) {
    switch (kind) {
    case LT_KEY_SIGN:
    case LT_KEY_KX:
        if (alg != LT_AEAD_NONE)
            return LT_KEY_E_KIND;
        return len == LT_KEY_SEED_BYTES ? LT_KEY_OK : LT_KEY_E_LENGTH;
    case LT_KEY_AEAD:
        if (lt_aead_nonce_bytes(alg) == 0)
            return LT_KEY_E_KIND;
        if (alg == LT_AEAD_AES256GCM && !lt_aead_aes256gcm_available())
            return LT_KEY_E_UNSUPPORTED;
        return len == LT_KEY_SYM_BYTES ? LT_KEY_OK : LT_KEY_E_LENGTH;
    case LT_KEY_SECRET:
        if (alg != LT_AEAD_NONE)
            return LT_KEY_E_KIND;
        return len >= LT_KEY_SECRET_MIN && len <= LT_KEY_SECRET_MAX ? LT_KEY_OK : LT_KEY_E_LENGTH;
    }
    return LT_KEY_E_KIND;
}

/* Completes k once k->secret holds the seed (sign: in its first 32 bytes), in place. */
static lt_key_err finish(lt_key *k) {
    switch (k->kind) {
    case LT_KEY_SIGN: {
        /* crypto_sign_seed_keypair writes the 64-byte secret key (seed || pk); the seed is
         * copied to the stack for the call (it reads it while writing sk) and wiped. */
        uint8_t seed[LT_KEY_SEED_BYTES];
        memcpy(seed, k->secret.p, sizeof seed);
        int rc = crypto_sign_seed_keypair(k->pub, k->secret.p, seed);
        sodium_memzero(seed, sizeof seed);
        if (rc != 0)
            return LT_KEY_E_KIND;
        k->has_pub = 1;
        return LT_KEY_OK;
    }
    case LT_KEY_KX:
        /* Fails only for a scalar whose multiple is the identity, which clamping rules out. */
        if (crypto_scalarmult_base(k->pub, k->secret.p) != 0)
            return LT_KEY_E_KIND;
        k->has_pub = 1;
        return LT_KEY_OK;
    case LT_KEY_AEAD:
        if (k->alg == LT_AEAD_AES256GCM) {
            if (lt_secret_alloc(&k->sched, sizeof(crypto_aead_aes256gcm_state)) != 0)
                return LT_KEY_E_NOMEM;
            crypto_aead_aes256gcm_beforenm((crypto_aead_aes256gcm_state *)(void *)k->sched.p,
                                           k->secret.p);
        }
        return LT_KEY_OK;
    case LT_KEY_SECRET:
        return LT_KEY_OK;
    }
    return LT_KEY_E_KIND;
}

static lt_key_err make(lt_key *k, lt_key_kind kind, lt_aead_alg alg, const uint8_t *secret,
                       size_t len) {
    memset(k, 0, sizeof *k);
    lt_key_err e = expected_len(kind, alg, len);
    if (e != LT_KEY_OK)
        return e;
    k->kind = kind;
    k->alg = alg;
    size_t slot = kind == LT_KEY_SIGN ? LT_KEY_SIGN_SECRET_BYTES : len;
    if (lt_secret_alloc(&k->secret, slot) != 0) {
        memset(k, 0, sizeof *k);
        return LT_KEY_E_NOMEM;
    }
    if (secret != NULL)
        memcpy(k->secret.p, secret, len);
    else
        randombytes_buf(k->secret.p, len);
    if ((e = finish(k)) != LT_KEY_OK)
        lt_key_clear(k);
    return e;
}

lt_key_err lt_key_from_secret(lt_key *k, lt_key_kind kind, lt_aead_alg alg, const uint8_t *secret,
                              size_t len) {
    if (secret == NULL) {
        memset(k, 0, sizeof *k);
        return LT_KEY_E_LENGTH;
    }
    return make(k, kind, alg, secret, len);
}

lt_key_err lt_key_generate(lt_key *k, lt_key_kind kind, lt_aead_alg alg, size_t len) {
    if (kind != LT_KEY_SECRET)
        len = LT_KEY_SEED_BYTES;
    return make(k, kind, alg, NULL, len);
}

const uint8_t *lt_key_seed(const lt_key *k, size_t *len) {
    *len = k->kind == LT_KEY_SIGN ? LT_KEY_SEED_BYTES : k->secret.len;
    return k->secret.p;
}

int lt_key_sign(const lt_key *k, uint8_t sig[64], const uint8_t *m, size_t n) {
    if (k->kind != LT_KEY_SIGN || k->secret.p == NULL)
        return -1;
    return crypto_sign_detached(sig, NULL, m, n, k->secret.p) == 0 ? 0 : -1;
}

int lt_ed25519_verify(const uint8_t pk[32], const uint8_t *m, size_t n, const uint8_t sig[64]) {
    return crypto_sign_verify_detached(sig, m, n, pk) == 0;
}

void lt_key_clear(lt_key *k) {
    lt_secret_free(&k->secret);
    lt_secret_free(&k->sched);
    sodium_memzero(k, sizeof *k);
}
