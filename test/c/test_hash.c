/* test_hash.c — XXH3-64/128 known answers and streaming (lt_hash.h).
 *
 * The vectors are xxHash's own sanity tests (cli/xsum_sanity_check.c, XSUM_XXH3_testdata and
 * XSUM_XXH128_testdata): the input is the sanity buffer below, hashed at several lengths with
 * seed 0 and seed PRIME64. They were checked against xxHash 0.8.1 (XXH_INLINE_ALL) by a
 * one-off program, and the published ones (lengths 0, 1, 3, 6, 128, 129, 240, 241) agree with
 * upstream's table. */
#include "lt_test.h"

#include "lt_hash.h"

#define PRIME32 UINT64_C(2654435761)
#define PRIME64 UINT64_C(11400714785074694797)
#define SANITY_LEN 2367

static uint8_t sanity[SANITY_LEN];

static void fill_sanity(void) {
    uint64_t gen = PRIME32;
    for (size_t k = 0; k < SANITY_LEN; k++) {
        sanity[k] = (uint8_t)(gen >> 56);
        gen *= PRIME64;
    }
}

static const struct {
    size_t len;
    uint64_t seed;
    uint64_t h64;
    uint64_t h128_hi, h128_lo;
} vectors[] = {
    {0, 0, 0x2D06800538D394C2, 0x99AA06D3014798D8, 0x6001C324468D497F},
    {1, 0, 0xC44BDFF4074EECDB, 0xA6CD5E9392000F6A, 0xC44BDFF4074EECDB},
    {3, 0, 0x54247382A8D6B94D, 0x20EFC49FF02422EA, 0x54247382A8D6B94D},
    {6, 0, 0x27B56A84CD2D7325, 0x082AFE0B8162D12A, 0x3E7039BDDA43CFC6},
    {16, 0, 0x981B17D36C7498C9, 0xC68C368ECF8A9C05, 0x562980258A998629},
    {17, 0, 0x796F5ACD3A60F862, 0x955FA78643ED3669, 0xABBC12D11973D7DB},
    {128, 0, 0xFCFF24126754D861, 0x39992220E045260A, 0xEBB15E34A7FB5AB1},
    {129, 0, 0x98F1B0A679A2CA29, 0x03815FC91F1B30B6, 0x86C9E3BC8F0A3B5C},
    {240, 0, 0x81C3C2B67F568CCF, 0xAA4202DAA2769DC8, 0x5C9AAE94C8EBE5A0},
    {241, 0, 0xC5A639ECD2030E5E, 0x99A80ECF0ECFC647, 0xC5A639ECD2030E5E},
    {1024, 0, 0xDD85C9B5C1109C5C, 0x0D30D24071C64C57, 0xDD85C9B5C1109C5C},
    {2367, 0, 0xCB37AEB9E5D361ED, 0xE89C0F6FF369B427, 0xCB37AEB9E5D361ED},
    {0, PRIME64, 0xA8A6B918B2F0364A, 0x00FEAA732A3CE25E, 0xA986DFC5D7605BFE},
    {1, PRIME64, 0x032BE332DD766EF8, 0x20E49ABCC53B3842, 0x032BE332DD766EF8},
    {3, PRIME64, 0x634B8990B4976373, 0x1C7ECF6A308CF00E, 0x634B8990B4976373},
    {6, PRIME64, 0x84589C116AB59AB9, 0x014BD95A51CA5DDB, 0xC5B54D56038E4E40},
    {16, PRIME64, 0x663F29333B4DB6B1, 0x6FFCB80CD33085C8, 0x0346D13A7A5498C7},
    {17, PRIME64, 0xF3EC5067F4306DB3, 0xD77681219E464828, 0x980A14119985A7DF},
    {128, PRIME64, 0x73FDE75280646649, 0xA0F7CCB68EE02ADD, 0x8394F5C51F1D8246},
    {129, PRIME64, 0x21FFFDBCA099C844, 0xAD559266067C0BF3, 0xD4AAE26FCEC7DC03},
    {240, PRIME64, 0xCC0F58C27EF3D8EE, 0x29D2133D6EA58C5B, 0x604E98DB085C1864},
    {241, PRIME64, 0xDDA9B0A161D4829A, 0xEC64AFAE6A137582, 0xDDA9B0A161D4829A},
    {1024, PRIME64, 0xEF368A8A2EBABAEF, 0x17600EFE2B493A18, 0xEF368A8A2EBABAEF},
    {2367, PRIME64, 0xD2DB3415B942B42A, 0xCCB7A94CCA1A6496, 0xD2DB3415B942B42A},
};

#define NVEC (sizeof vectors / sizeof vectors[0])

/* A copy of exactly n bytes on the heap, so ASan sees a read past its end. */
static uint8_t *exact_copy(const uint8_t *p, size_t n) {
    uint8_t *q = malloc(n ? n : 1);
    if (q != NULL && n)
        memcpy(q, p, n);
    return q;
}

static void test_one_shot(void) {
    /* The two headline vectors from the brief. */
    CHECK_U64(lt_hash64("", 0, 0), UINT64_C(0x2D06800538D394C2));
    CHECK_U64(lt_hash64(NULL, 0, 0), UINT64_C(0x2D06800538D394C2));
    lt_hash128_t abc = lt_hash128("abc", 3, 0);
    CHECK_U64(abc.hi, UINT64_C(0x06b05ab6733a6185));
    CHECK_U64(abc.lo, UINT64_C(0x78af5f94892f3950));

    for (size_t k = 0; k < NVEC; k++) {
        uint8_t *p = exact_copy(sanity, vectors[k].len);
        CHECK(p != NULL);
        if (p == NULL)
            continue;
        CHECK_U64(lt_hash64(p, vectors[k].len, vectors[k].seed), vectors[k].h64);
        lt_hash128_t h = lt_hash128(p, vectors[k].len, vectors[k].seed);
        CHECK_U64(h.hi, vectors[k].h128_hi);
        CHECK_U64(h.lo, vectors[k].h128_lo);
        free(p);
    }

    /* The actor id is XXH3-64 seed 0 of the canonical bytes: atom 'a' is 04 01 61. */
    const uint8_t atom_a[] = {0x04, 0x01, 0x61};
    CHECK_U64(lt_actor_id(atom_a, sizeof atom_a), lt_hash64(atom_a, sizeof atom_a, 0));
    CHECK(lt_actor_id(atom_a, 2) != lt_actor_id(atom_a, 3));
    /* The input is read in place at any alignment. */
    uint8_t shifted[1 + 241];
    memcpy(shifted + 1, sanity, 241);
    CHECK_U64(lt_hash64(shifted + 1, 241, 0), UINT64_C(0xC5A639ECD2030E5E));
}

/* Hashes `len` bytes through a state, in chunks chosen by the generator. */
static void stream(lt_hash_state *s, const uint8_t *p, size_t len, uint64_t *rng, int mode) {
    size_t off = 0;
    while (off < len) {
        size_t left = len - off, n;
        switch (mode) {
        case 0:
            n = left; /* all at once */
            break;
        case 1:
            n = 1; /* byte by byte */
            break;
        case 2:
            n = 1 + lt_test_below(rng, 300 < left ? 300 : left);
            break;
        default: /* around the internal block and stripe sizes */
        {
            static const size_t sizes[] = {63, 64, 65, 255, 256, 257, 1023, 1024, 1025};
            n = sizes[lt_test_below(rng, sizeof sizes / sizeof sizes[0])];
            if (n > left)
                n = left;
            break;
        }
        }
        if (lt_test_rand(rng) % 5 == 0)
            lt_hash_state_update(s, p + off, 0); /* empty updates change nothing */
        lt_hash_state_update(s, p + off, n);
        off += n;
    }
}

static void test_streaming(void) {
    uint64_t rng = 12345;
    for (size_t k = 0; k < NVEC; k++) {
        for (int mode = 0; mode < 4; mode++) {
            lt_hash_state *s64 = lt_hash_state_new(64, vectors[k].seed);
            lt_hash_state *s128 = lt_hash_state_new(128, vectors[k].seed);
            CHECK(s64 != NULL && s128 != NULL);
            if (s64 == NULL || s128 == NULL) {
                lt_hash_state_free(s64);
                lt_hash_state_free(s128);
                continue;
            }
            CHECK(lt_hash_state_bits(s64) == 64);
            CHECK(lt_hash_state_bits(s128) == 128);
            stream(s64, sanity, vectors[k].len, &rng, mode);
            stream(s128, sanity, vectors[k].len, &rng, mode);
            CHECK_U64(lt_hash_state_digest64(s64), vectors[k].h64);
            lt_hash128_t h = lt_hash_state_digest128(s128);
            CHECK_U64(h.hi, vectors[k].h128_hi);
            CHECK_U64(h.lo, vectors[k].h128_lo);
            /* A digest does not end the state: more input continues the same stream. */
            if (vectors[k].len > 0 && vectors[k].len < SANITY_LEN) {
                lt_hash_state_update(s64, sanity + vectors[k].len, 1);
                CHECK_U64(lt_hash_state_digest64(s64),
                          lt_hash64(sanity, vectors[k].len + 1, vectors[k].seed));
            }
            lt_hash_state_free(s64);
            lt_hash_state_free(s128);
        }
    }

    /* Random inputs and random chunkings agree with one-shot, for both widths and seeds. */
    static uint8_t data[5000];
    for (size_t k = 0; k < sizeof data; k++)
        data[k] = (uint8_t)lt_test_rand(&rng);
    unsigned bad = 0;
    for (int it = 0; it < 400; it++) {
        size_t len = it < 300 ? (size_t)it : lt_test_below(&rng, sizeof data + 1);
        uint64_t seed = (it & 1) ? lt_test_rand(&rng) : 0;
        lt_hash_state *s64 = lt_hash_state_new(64, seed);
        lt_hash_state *s128 = lt_hash_state_new(128, seed);
        if (s64 == NULL || s128 == NULL) {
            bad++;
        } else {
            int mode = 2 + (it & 1);
            stream(s64, data, len, &rng, mode);
            stream(s128, data, len, &rng, mode);
            lt_hash128_t one = lt_hash128(data, len, seed), st = lt_hash_state_digest128(s128);
            if (lt_hash_state_digest64(s64) != lt_hash64(data, len, seed))
                bad++;
            if (one.hi != st.hi || one.lo != st.lo)
                bad++;
        }
        lt_hash_state_free(s64);
        lt_hash_state_free(s128);
    }
    CHECK(bad == 0);

    /* Any width other than 128 means 64; freeing NULL is fine. */
    lt_hash_state *s = lt_hash_state_new(7, 0);
    CHECK(s != NULL && lt_hash_state_bits(s) == 64);
    if (s != NULL)
        CHECK_U64(lt_hash_state_digest64(s), UINT64_C(0x2D06800538D394C2));
    lt_hash_state_free(s);
    lt_hash_state_free(NULL);
    s = lt_hash_state_new(128, 0);
    if (s != NULL) {
        lt_hash_state_update(s, "abc", 3);
        lt_hash128_t h = lt_hash_state_digest128(s);
        CHECK_U64(h.hi, UINT64_C(0x06b05ab6733a6185));
        CHECK_U64(h.lo, UINT64_C(0x78af5f94892f3950));
    }
    lt_hash_state_free(s);
}

int main(void) {
    fill_sanity();
    test_one_shot();
    test_streaming();
    return lt_test_summary();
}
