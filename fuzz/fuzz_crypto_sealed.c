/* fuzz_crypto_sealed.c — libFuzzer target for the sealed export's decoder (lt_sealed.h).
 *
 * Any input: lt_sealed_parse reads nothing beyond it and accepts only what it documents (the
 * exact size for the length byte, a known kind with a consistent algorithm and length, a cost
 * within the caps). A parsed input is opened under a fixed wrap key (Argon2id is not run: the
 * fuzzer would spend its time there); when the tag verifies (inputs the fuzzer builds from the
 * seed corpus, which is sealed under that key), the secret makes a key of the parsed kind. */
#include "lt_key.h"
#include "lt_sealed.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        REQUIRE(lt_secret_init() == 0);
        ready = 1;
    }
    /* a copy of exactly `size` bytes, so ASan sees any read past the end */
    uint8_t *p = malloc(size ? size : 1);
    REQUIRE(p != NULL);
    if (size)
        memcpy(p, data, size);
    lt_sealed_hdr h;
    if (lt_sealed_parse(p, size, &h) == 0) {
        REQUIRE(size == lt_sealed_size(h.len) && size <= LT_SEALED_MAX_BYTES);
        REQUIRE(h.len >= LT_KEY_SECRET_MIN && h.len <= LT_KEY_SECRET_MAX);
        REQUIRE(h.ops >= 1 && h.ops <= LT_SEALED_MAX_OPS);
        REQUIRE(h.mem_kib >= LT_SEALED_MIN_MEM_KIB && h.mem_kib <= LT_SEALED_MAX_MEM_KIB);
        REQUIRE(h.salt == p + 16 && h.nonce == p + 32 && h.cipher == p + LT_SEALED_HEADER_BYTES);
        uint8_t wrap[32], secret[LT_KEY_SECRET_MAX];
        memset(wrap, 0x42, sizeof wrap);
        if (lt_sealed_open(&h, p, wrap, secret) == 0) {
            lt_key k;
            lt_key_err e = lt_key_from_secret(&k, h.kind, h.alg, secret, h.len);
            REQUIRE(e == LT_KEY_OK || (e == LT_KEY_E_UNSUPPORTED && h.alg == LT_AEAD_AES256GCM));
            if (e == LT_KEY_OK) {
                size_t n;
                const uint8_t *s = lt_key_seed(&k, &n);
                REQUIRE(n == h.len && memcmp(s, secret, n) == 0);
                /* writing it again under the same salt and nonce gives the same bytes */
                uint8_t again[LT_SEALED_MAX_BYTES];
                lt_sealed_write(again, &k, h.ops, h.mem_kib, h.salt, h.nonce, wrap);
                REQUIRE(memcmp(again, p, size) == 0);
                lt_key_clear(&k);
            }
            sodium_memzero(secret, sizeof secret);
        }
    }
    free(p);
    return 0;
}
