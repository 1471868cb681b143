/* test_crypto_aead.c — the crypto core's AEAD (lt_aead.h) and sealed export (lt_sealed.h)
 * under ASan/UBSan: RFC 8439 and the XChaCha20 draft's vectors, the GCM 256-bit cases (they
 * must run on x86-64), tampering, and the export's parser on every truncation and flip. */
#include "lt_aead.h"
#include "lt_key.h"
#include "lt_sealed.h"
#include "lt_test.h"

#include <sodium.h>

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = 0;
    CHECK(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) == 0);
    return n;
}

static const char *sunscreen = "Ladies and Gentlemen of the class of '99: If I could offer you "
                               "only one tip for the future, sunscreen would be it.";

static void check_vector(lt_aead_alg alg, const char *key_hex, const char *nonce_hex,
                         const char *ad_hex, const uint8_t *plain, size_t plen,
                         const char *want_hex) {
    uint8_t key[32], nonce[24], ad[64], want[512], out[512], back[512];
    CHECK(unhex(key_hex, key, sizeof key) == 32);
    size_t nlen = unhex(nonce_hex, nonce, sizeof nonce);
    CHECK(nlen == lt_aead_nonce_bytes(alg));
    size_t adlen = unhex(ad_hex, ad, sizeof ad);
    size_t wlen = unhex(want_hex, want, sizeof want);
    CHECK(wlen == plen + LT_AEAD_TAG_BYTES);
    lt_key k;
    CHECK(lt_key_from_secret(&k, LT_KEY_AEAD, alg, key, 32) == LT_KEY_OK);
    CHECK(lt_aead_seal(&k, out, plain, plen, ad, adlen, nonce) == 0);
    CHECK_MEM(out, plen + 16, want, wlen);
    CHECK(lt_aead_open(&k, back, want, wlen, ad, adlen, nonce) == 0);
    CHECK_MEM(back, plen, plain, plen);
    /* every single-bit change of the ciphertext or tag, and every truncation, is refused */
    int refused = 1;
    for (size_t i = 0; i < wlen; i++) {
        want[i] ^= 0x80;
        refused &= lt_aead_open(&k, back, want, wlen, ad, adlen, nonce) == -1;
        want[i] ^= 0x80;
    }
    for (size_t n = 0; n < wlen; n++)
        refused &= lt_aead_open(&k, back, want, n, ad, adlen, nonce) == -1;
    CHECK(refused);
    /* a failed open leaves no plaintext behind */
    want[0] ^= 1;
    memset(back, 0xee, sizeof back);
    CHECK(lt_aead_open(&k, back, want, wlen, ad, adlen, nonce) == -1);
    int wiped = 1;
    for (size_t i = 0; i < plen; i++)
        wiped &= back[i] == 0;
    CHECK(wiped);
    lt_key_clear(&k);
}

static void test_vectors(void) {
    const uint8_t *p = (const uint8_t *)sunscreen;
    size_t n = strlen(sunscreen);
    /* RFC 8439, 2.8.2 */
    check_vector(LT_AEAD_CHACHA20POLY1305,
                 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
                 "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", p, n,
                 "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca967"
                 "1282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee32809"
                 "1b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
                 "1ae10b594f09e26a7e902ecbd0600691");
    /* draft-irtf-cfrg-xchacha-03, A.3.1 */
    check_vector(LT_AEAD_XCHACHA20POLY1305,
                 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
                 "404142434445464748494a4b4c4d4e4f5051525354555657", "50515253c0c1c2c3c4c5c6c7", p,
                 n,
                 "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6"
                 "440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1"
                 "bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
                 "c0875924c1c7987947deafd8780acf49");
#if defined(__x86_64__)
    CHECK(lt_aead_aes256gcm_available()); /* must run here, not skip */
#endif
    if (lt_aead_aes256gcm_available()) {
        static const uint8_t zero16[16] = {0};
        uint8_t p16[64];
        size_t n16 = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                           "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                           p16, sizeof p16);
        /* GCM specification, test cases 13, 14, 16 */
        check_vector(LT_AEAD_AES256GCM,
                     "0000000000000000000000000000000000000000000000000000000000000000",
                     "000000000000000000000000", "", zero16, 0, "530f8afbc74536b9a963b4f1c4cb738b");
        check_vector(LT_AEAD_AES256GCM,
                     "0000000000000000000000000000000000000000000000000000000000000000",
                     "000000000000000000000000", "", zero16, 16,
                     "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
        check_vector(
            LT_AEAD_AES256GCM, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", p16, n16,
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590d"
            "bb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b");
    }
}

static void test_wrong_kind(void) {
    lt_key k;
    uint8_t out[64], in[16] = {0}, nonce[24] = {0};
    CHECK(lt_key_generate(&k, LT_KEY_SIGN, LT_AEAD_NONE, 0) == LT_KEY_OK);
    CHECK(lt_aead_seal(&k, out, in, sizeof in, NULL, 0, nonce) == -1);
    CHECK(lt_aead_open(&k, out, out, 32, NULL, 0, nonce) == -1);
    lt_key_clear(&k);
}

/* The sealed export: write, parse, open; every truncation is refused by the parser, every
 * flip by the parser or the tag. The wrap key is random here (Argon2id is checked once, with a
 * cheap cost). */
static void test_sealed(void) {
    lt_key k;
    CHECK(lt_key_generate(&k, LT_KEY_AEAD, LT_AEAD_XCHACHA20POLY1305, 0) == LT_KEY_OK);
    uint8_t salt[16], nonce[24], wrap[32], out[LT_SEALED_MAX_BYTES], secret[64];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    CHECK(lt_sealed_derive(wrap, (const uint8_t *)"pw", 2, salt, 1, 8) == 0);
    size_t n = lt_sealed_size(32);
    CHECK(n == 105);
    lt_sealed_write(out, &k, 1, 8, salt, nonce, wrap);
    lt_sealed_hdr h;
    CHECK(lt_sealed_parse(out, n, &h) == 0);
    CHECK(h.kind == LT_KEY_AEAD && h.alg == LT_AEAD_XCHACHA20POLY1305 && h.len == 32);
    CHECK(h.ops == 1 && h.mem_kib == 8);
    CHECK(lt_sealed_open(&h, out, wrap, secret) == 0);
    CHECK_MEM(secret, 32, k.secret.p, 32);
    int ok = 1;
    for (size_t len = 0; len < n; len++)
        ok &= lt_sealed_parse(out, len, &h) == -1;
    ok &= lt_sealed_parse(out, n + 1, &h) == -1;
    for (size_t i = 0; i < n; i++) {
        out[i] ^= 0x01;
        if (lt_sealed_parse(out, n, &h) == 0)
            ok &= lt_sealed_open(&h, out, wrap, secret) == -1;
        out[i] ^= 0x01;
    }
    CHECK(ok);
    /* a wrong passphrase derives another wrap key */
    uint8_t other[32];
    CHECK(lt_sealed_derive(other, (const uint8_t *)"pW", 2, salt, 1, 8) == 0);
    CHECK(lt_sealed_parse(out, n, &h) == 0);
    CHECK(lt_sealed_open(&h, out, other, secret) == -1);
    /* the cost caps */
    CHECK(lt_sealed_derive(other, (const uint8_t *)"pw", 2, salt, 0, 8) == -1);
    CHECK(lt_sealed_derive(other, (const uint8_t *)"pw", 2, salt, 1, 7) == -1);
    CHECK(lt_sealed_derive(other, (const uint8_t *)"pw", 2, salt, LT_SEALED_MAX_OPS + 1, 8) == -1);
    lt_key_clear(&k);
}

int main(void) {
    CHECK(lt_secret_init() == 0);
    test_vectors();
    test_wrong_kind();
    test_sealed();
    return lt_test_summary();
}
