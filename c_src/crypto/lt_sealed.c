/* lt_sealed.c — the sealed export of a secret key (lt_sealed.h). */
#include "lt_sealed.h"

#include <string.h>

#include <sodium.h>

static const uint8_t magic[4] = {'L', 'T', 'S', 'K'};

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void write_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

size_t lt_sealed_size(size_t len) {
    return LT_SEALED_HEADER_BYTES + len + LT_AEAD_TAG_BYTES;
}

int lt_sealed_parse(const uint8_t *p, size_t n, lt_sealed_hdr *h) {
    memset(h, 0, sizeof *h);
    if (n < LT_SEALED_HEADER_BYTES || n > LT_SEALED_MAX_BYTES)
        return -1;
    if (memcmp(p, magic, sizeof magic) != 0 || p[4] != LT_SEALED_VERSION || p[7] != 1)
        return -1;
    uint8_t kind = p[5], alg = p[6];
    size_t len = p[56];
    switch (kind) {
    case LT_KEY_SIGN:
    case LT_KEY_KX:
        if (alg != LT_AEAD_NONE || len != LT_KEY_SEED_BYTES)
            return -1;
        break;
    case LT_KEY_AEAD:
        if (alg < LT_AEAD_XCHACHA20POLY1305 || alg > LT_AEAD_AES256GCM || len != LT_KEY_SYM_BYTES)
            return -1;
        break;
    case LT_KEY_SECRET:
        if (alg != LT_AEAD_NONE || len < LT_KEY_SECRET_MIN || len > LT_KEY_SECRET_MAX)
            return -1;
        break;
    default:
        return -1;
    }
    uint32_t ops = read_be32(p + 8), mem = read_be32(p + 12);
    if (ops < 1 || ops > LT_SEALED_MAX_OPS || mem < LT_SEALED_MIN_MEM_KIB ||
        mem > LT_SEALED_MAX_MEM_KIB)
        return -1;
    if (n != lt_sealed_size(len))
        return -1;
    h->kind = (lt_key_kind)kind;
    h->alg = (lt_aead_alg)alg;
    h->ops = ops;
    h->mem_kib = mem;
    h->salt = p + 16;
    h->nonce = p + 32;
    h->len = len;
    h->cipher = p + LT_SEALED_HEADER_BYTES;
    return 0;
}

int lt_sealed_derive(uint8_t out[32], const uint8_t *pass, size_t passlen, const uint8_t *salt,
                     uint32_t ops, uint32_t mem_kib) {
    if (ops < 1 || ops > LT_SEALED_MAX_OPS || mem_kib < LT_SEALED_MIN_MEM_KIB ||
        mem_kib > LT_SEALED_MAX_MEM_KIB)
        return -1;
    return crypto_pwhash(out, 32, (const char *)pass, passlen, salt, ops, (size_t)mem_kib * 1024,
                         crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

void lt_sealed_write(uint8_t *out, const lt_key *k, uint32_t ops, uint32_t mem_kib,
                     const uint8_t salt[LT_SEALED_SALT_BYTES],
                     const uint8_t nonce[LT_SEALED_NONCE_BYTES], const uint8_t wrap[32]) {
    size_t len;
    const uint8_t *secret = lt_key_seed(k, &len);
    memcpy(out, magic, sizeof magic);
    out[4] = LT_SEALED_VERSION;
    out[5] = (uint8_t)k->kind;
    out[6] = (uint8_t)k->alg;
    out[7] = 1;
    write_be32(out + 8, ops);
    write_be32(out + 12, mem_kib);
    memcpy(out + 16, salt, LT_SEALED_SALT_BYTES);
    memcpy(out + 32, nonce, LT_SEALED_NONCE_BYTES);
    out[56] = (uint8_t)len;
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + LT_SEALED_HEADER_BYTES, &clen, secret, len,
                                               out, LT_SEALED_HEADER_BYTES, NULL, nonce, wrap);
}

int lt_sealed_open(const lt_sealed_hdr *h, const uint8_t *p, const uint8_t wrap[32],
                   uint8_t *secret) {
    unsigned long long mlen;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(secret, &mlen, NULL, h->cipher,
                                                   h->len + LT_AEAD_TAG_BYTES, p,
                                                   LT_SEALED_HEADER_BYTES, h->nonce, wrap) != 0) {
        sodium_memzero(secret, h->len);
        return -1;
    }
    return 0;
}
