/* test_crypto_secret.c — the slab allocator for secrets (c_src/crypto/lt_secret.h) and keys
 * over it (lt_key.h), under ASan/UBSan. */
#define _POSIX_C_SOURCE 200809L
#include "lt_key.h"
#include "lt_secret.h"
#include "lt_test.h"

#include <pthread.h>
#include <sodium.h>

#define MANY 100000

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static void test_range(void) {
    lt_secret s;
    CHECK(lt_secret_alloc(&s, 0) == -1);
    CHECK(s.p == NULL && s.slab == NULL);
    CHECK(lt_secret_alloc(&s, LT_SECRET_MAX + 1) == -1);
    CHECK(s.p == NULL);
    lt_secret_free(&s); /* all zero: a no-op */
    for (size_t len = 1; len <= LT_SECRET_MAX; len = len * 3 + 1) {
        CHECK(lt_secret_alloc(&s, len) == 0);
        CHECK(s.len == len);
        CHECK(all_zero(s.p, len));
        /* aligned to its class (at least 32) */
        CHECK(((uintptr_t)s.p & 31) == 0);
        memset(s.p, 0xa5, len);
        lt_secret_free(&s);
        CHECK(s.p == NULL && s.slab == NULL);
    }
}

/* 100k keys at once (the map limit sodium_malloc hits at some tens of thousands): all distinct
 * and writable, a few tens of slabs, all freed again. */
static void test_many(void) {
    lt_secret_stats before, during, after;
    lt_secret_get_stats(&before);
    lt_secret *s = calloc(MANY, sizeof *s);
    CHECK(s != NULL);
    int ok = 1;
    for (size_t i = 0; i < MANY; i++) {
        ok &= lt_secret_alloc(&s[i], 64) == 0;
        if (s[i].p != NULL) {
            ok &= all_zero(s[i].p, 64);
            memset(s[i].p, (int)(i & 0xff), 64);
        }
    }
    CHECK(ok);
    lt_secret_get_stats(&during);
    CHECK_U64(during.slots_used - before.slots_used, MANY);
    /* 64-byte slots: 4096 a slab, so 25 slabs (a spare may exist) */
    CHECK(during.slabs - before.slabs <= MANY / (LT_SECRET_SLAB_BYTES / 64) + 2);
    CHECK(during.slabs_locked + during.slabs_unlocked == during.slabs);
    /* every slot still holds its own pattern: no two overlap */
    for (size_t i = 0; i < MANY; i++) {
        uint8_t want[64];
        memset(want, (int)(i & 0xff), 64);
        ok &= memcmp(s[i].p, want, 64) == 0;
    }
    CHECK(ok);
    for (size_t i = 0; i < MANY; i += 2)
        lt_secret_free(&s[i]);
    for (size_t i = 1; i < MANY; i += 2)
        lt_secret_free(&s[i]);
    lt_secret_get_stats(&after);
    CHECK_U64(after.slots_used, before.slots_used);
    /* the empty slabs were unmapped but one spare per class */
    CHECK(after.slabs <= before.slabs + 1);
    free(s);
    printf("many: %d secrets in %llu slabs (%llu locked, %llu not)\n", MANY,
           (unsigned long long)(during.slabs - before.slabs),
           (unsigned long long)during.slabs_locked, (unsigned long long)during.slabs_unlocked);
}

/* A freed slot is wiped before anyone gets it again. */
static void test_wipe(void) {
    lt_secret a, b;
    CHECK(lt_secret_alloc(&a, 40) == 0);
    uint8_t *where = a.p;
    memset(a.p, 0xff, 40);
    lt_secret_free(&a);
    CHECK(all_zero(where, 64)); /* the slab is still mapped (a spare is kept) */
    CHECK(lt_secret_alloc(&b, 40) == 0);
    CHECK(all_zero(b.p, 40));
    lt_secret_free(&b);
}

#define THREADS 4
#define PER_THREAD 20000

static void *churn(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    lt_secret *s = calloc(PER_THREAD, sizeof *s);
    long bad = 0;
    if (s == NULL)
        return (void *)1;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < PER_THREAD; i++) {
            size_t len = 1 + lt_test_below(&seed, 256);
            if (lt_secret_alloc(&s[i], len) != 0 || !all_zero(s[i].p, len)) {
                bad++;
                continue;
            }
            memset(s[i].p, (int)(i & 0xff), len);
        }
        for (size_t i = 0; i < PER_THREAD; i++) {
            if (s[i].p == NULL)
                continue;
            for (size_t j = 0; j < s[i].len; j++)
                bad += s[i].p[j] != (uint8_t)(i & 0xff);
            lt_secret_free(&s[i]);
        }
    }
    free(s);
    return (void *)(intptr_t)bad;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;
        CHECK(pthread_join(t[i], &bad) == 0);
        CHECK(bad == NULL);
    }
    lt_secret_stats st;
    lt_secret_get_stats(&st);
    CHECK_U64(st.slots_used, 0);
}

/* RFC 8032, test 1: the seed's public key. */
static void test_keys(void) {
    static const uint8_t seed[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60,
                                     0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
                                     0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
                                     0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
    static const uint8_t pub[32] = {0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
                                    0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
                                    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
                                    0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
    lt_key k;
    CHECK(lt_key_from_secret(&k, LT_KEY_SIGN, LT_AEAD_NONE, seed, 32) == LT_KEY_OK);
    CHECK(k.has_pub);
    CHECK_BYTES(k.pub, 32, pub);
    size_t n;
    const uint8_t *s = lt_key_seed(&k, &n);
    CHECK_BYTES(s, n, seed);
    CHECK_MEM(k.secret.p + 32, 32, pub, 32); /* libsodium's sk is seed || pk */
    /* RFC 8032 test 1's signature of the empty message, and the strict verifier */
    static const uint8_t sig1[64] = {
        0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80,
        0x6e, 0x82, 0x8a, 0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73,
        0xe0, 0x65, 0x22, 0x49, 0x01, 0x55, 0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b,
        0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b, 0xd2, 0x5b, 0xf5, 0xf0,
        0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b};
    uint8_t sig[64];
    CHECK(lt_key_sign(&k, sig, (const uint8_t *)"", 0) == 0);
    CHECK_BYTES(sig, 64, sig1);
    CHECK(lt_ed25519_verify(pub, (const uint8_t *)"", 0, sig) == 1);
    sig[63] ^= 0x10; /* S + 2^252-ish: no longer canonical or no longer valid */
    CHECK(lt_ed25519_verify(pub, (const uint8_t *)"", 0, sig) == 0);
    uint8_t identity[64] = {1}; /* R = identity, S = 0 */
    uint8_t id_pk[32] = {1};
    CHECK(lt_ed25519_verify(id_pk, (const uint8_t *)"x", 1, identity) == 0);
    lt_key_clear(&k);
    CHECK(k.secret.p == NULL);
    CHECK(lt_key_sign(&k, sig, (const uint8_t *)"", 0) == -1);
    CHECK(lt_key_from_secret(&k, LT_KEY_SIGN, LT_AEAD_NONE, seed, 31) == LT_KEY_E_LENGTH);
    CHECK(k.secret.p == NULL);
    CHECK(lt_key_from_secret(&k, LT_KEY_SIGN, LT_AEAD_AES256GCM, seed, 32) == LT_KEY_E_KIND);
    CHECK(lt_key_from_secret(&k, LT_KEY_AEAD, LT_AEAD_NONE, seed, 32) == LT_KEY_E_KIND);
    CHECK(lt_key_from_secret(&k, LT_KEY_SECRET, LT_AEAD_NONE, seed, 15) == LT_KEY_E_LENGTH);
    CHECK(lt_key_from_secret(&k, LT_KEY_SECRET, LT_AEAD_NONE, seed, 16) == LT_KEY_OK);
    CHECK(!k.has_pub);
    lt_key_clear(&k);
    CHECK(lt_key_generate(&k, LT_KEY_KX, LT_AEAD_NONE, 0) == LT_KEY_OK);
    uint8_t pk[32];
    CHECK(crypto_scalarmult_base(pk, k.secret.p) == 0);
    CHECK_MEM(k.pub, 32, pk, 32);
    lt_key_clear(&k);
    lt_key_err e = lt_key_generate(&k, LT_KEY_AEAD, LT_AEAD_AES256GCM, 0);
#if defined(__x86_64__)
    /* the bench and CI machines are x86-64 with AES-NI: AES-GCM must not be skipped there */
    CHECK(lt_aead_aes256gcm_available());
#endif
    CHECK(e == (lt_aead_aes256gcm_available() ? LT_KEY_OK : LT_KEY_E_UNSUPPORTED));
    if (e == LT_KEY_OK) {
        CHECK(k.sched.p != NULL && ((uintptr_t)k.sched.p & 15) == 0);
        lt_key_clear(&k);
    }
}

int main(void) {
    CHECK(lt_secret_init() == 0);
    test_range();
    test_wipe();
    test_keys();
    test_many();
    test_threads();
    return lt_test_summary();
}
