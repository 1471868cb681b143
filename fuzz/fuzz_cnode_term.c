/* fuzz_cnode_term.c — libFuzzer target for the C node's term walker (cnode/lt_cnode_term.c).
 *
 * The C node hands lt_cnode_check_payload every payload it receives: the version byte 131, then
 * one term that must end exactly at the end of the buffer. The seeds are such payloads
 * (term_to_binary output). For each input:
 *   - lt_cnode_check_payload on the whole input agrees with its definition (131, then one term
 *     from offset 1 that ends at the end);
 *   - lt_cnode_skip_term from offsets 0 and 1: on success the position advanced and stays in
 *     bounds, walking again gives the same end, the term alone (copied into a buffer of exactly
 *     its size, so ASan sees any read past it) walks to its own end, and its prefixes cut one
 *     byte short or in half are rejected; on failure the position is unchanged;
 *   - an independent recursive walker, written from the external term format's description,
 *     reaches the same verdict and the same end wherever its depth limit lets it decide;
 *   - consecutive terms walked from offset 0 move forward and stay in bounds.
 * Once, at start-up: a payload of exactly LT_CNODE_MAX_MSG bytes is accepted, one byte more is
 * not. */
#include "lt_cnode_term.h"

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

/* ---- the reference walker ----------------------------------------------------------------- */

/* Deeper than this, the reference gives no verdict. Each level of nesting takes at least 2 bytes
 * (a SMALL_TUPLE_EXT of arity 1), so under make fuzz's -max_len=4096 the reference always
 * decides; the limit only keeps longer runs from exhausting the stack. */
#define REF_MAX_DEPTH 4096

enum { REF_OK = 0, REF_BAD = -1, REF_DEEP = -2 };

/* A cursor over [at, end). */
typedef struct {
    const unsigned char *at, *end;
} ref_cur;

static int ref_bytes(ref_cur *c, uint64_t n) {
    if ((uint64_t)(c->end - c->at) < n)
        return REF_BAD;
    c->at += n;
    return REF_OK;
}

static int ref_uint(ref_cur *c, int width, uint64_t *out) {
    if (c->end - c->at < width)
        return REF_BAD;
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = v << 8 | c->at[i];
    c->at += width;
    *out = v;
    return REF_OK;
}

/* A length of `width` bytes, then that many bytes. */
static int ref_counted(ref_cur *c, int width, uint64_t extra) {
    uint64_t n;
    if (ref_uint(c, width, &n) != REF_OK)
        return REF_BAD;
    return ref_bytes(c, n + extra);
}

/* Any of the four atom encodings. */
static int ref_atom(ref_cur *c) {
    if (c->at == c->end)
        return REF_BAD;
    switch (*c->at++) {
    case 100: /* ATOM_EXT */
    case 118: /* ATOM_UTF8_EXT */
        return ref_counted(c, 2, 0);
    case 115: /* SMALL_ATOM_EXT */
    case 119: /* SMALL_ATOM_UTF8_EXT */
        return ref_counted(c, 1, 0);
    default:
        return REF_BAD;
    }
}

/* A node atom followed by `fixed` bytes (id, serial, creation). */
static int ref_node_and(ref_cur *c, uint64_t fixed) {
    if (ref_atom(c) != REF_OK)
        return REF_BAD;
    return ref_bytes(c, fixed);
}

static int ref_term(ref_cur *c, int depth);

static int ref_terms(ref_cur *c, uint64_t n, int depth) {
    for (uint64_t i = 0; i < n; i++) {
        int rc = ref_term(c, depth);
        if (rc != REF_OK)
            return rc;
    }
    return REF_OK;
}

static int ref_term(ref_cur *c, int depth) {
    uint64_t n;
    if (depth > REF_MAX_DEPTH)
        return REF_DEEP;
    if (c->at == c->end)
        return REF_BAD;
    unsigned char tag = *c->at;
    switch (tag) {
    case 100:
    case 115:
    case 118:
    case 119:
        return ref_atom(c);
    default:
        break;
    }
    c->at++;
    switch (tag) {
    case 106: /* NIL_EXT */
        return REF_OK;
    case 97: /* SMALL_INTEGER_EXT */
        return ref_bytes(c, 1);
    case 98: /* INTEGER_EXT */
        return ref_bytes(c, 4);
    case 70: /* NEW_FLOAT_EXT */
        return ref_bytes(c, 8);
    case 99: /* FLOAT_EXT */
        return ref_bytes(c, 31);
    case 107: /* STRING_EXT */
        return ref_counted(c, 2, 0);
    case 109: /* BINARY_EXT */
        return ref_counted(c, 4, 0);
    case 77: /* BIT_BINARY_EXT: length, bits in the last byte, data */
        return ref_counted(c, 4, 1);
    case 110: /* SMALL_BIG_EXT: n, sign, n digits */
        return ref_counted(c, 1, 1);
    case 111: /* LARGE_BIG_EXT */
        return ref_counted(c, 4, 1);
    case 104: /* SMALL_TUPLE_EXT */
        return ref_uint(c, 1, &n) != REF_OK ? REF_BAD : ref_terms(c, n, depth + 1);
    case 105: /* LARGE_TUPLE_EXT */
        return ref_uint(c, 4, &n) != REF_OK ? REF_BAD : ref_terms(c, n, depth + 1);
    case 108: /* LIST_EXT: n elements and a tail */
        return ref_uint(c, 4, &n) != REF_OK ? REF_BAD : ref_terms(c, n + 1, depth + 1);
    case 116: /* MAP_EXT: n keys and n values */
        return ref_uint(c, 4, &n) != REF_OK ? REF_BAD : ref_terms(c, 2 * n, depth + 1);
    case 103: /* PID_EXT */
        return ref_node_and(c, 4 + 4 + 1);
    case 88: /* NEW_PID_EXT */
        return ref_node_and(c, 4 + 4 + 4);
    case 102: /* PORT_EXT */
    case 101: /* REFERENCE_EXT */
        return ref_node_and(c, 4 + 1);
    case 89: /* NEW_PORT_EXT */
        return ref_node_and(c, 4 + 4);
    case 120: /* V4_PORT_EXT */
        return ref_node_and(c, 8 + 4);
    case 114: /* NEW_REFERENCE_EXT */
    case 90:  /* NEWER_REFERENCE_EXT */
        if (ref_uint(c, 2, &n) != REF_OK)
            return REF_BAD;
        return ref_node_and(c, (tag == 114 ? 1 : 4) + 4 * n);
    case 113: /* EXPORT_EXT: module, function, arity */
        /* OTP writes the arity as a SMALL_INTEGER_EXT; the walker checks structure only and
         * takes any term there, and so does this. */
        if (ref_atom(c) != REF_OK || ref_atom(c) != REF_OK)
            return REF_BAD;
        return ref_term(c, depth + 1);
    case 112: { /* NEW_FUN_EXT: its size counts itself; the walker treats the rest as opaque */
        const unsigned char *start = c->at;
        if (ref_uint(c, 4, &n) != REF_OK || n < 4)
            return REF_BAD;
        c->at = start;
        return ref_bytes(c, n);
    }
    default: /* atom cache references, FUN_EXT, compressed terms, LOCAL_EXT, unknown */
        return REF_BAD;
    }
}

/* ---- checks ------------------------------------------------------------------------------- */

/* The term at data[start..size) as the walker sees it, with the invariants above. Returns its
 * end, or 0 if the walker rejects it. */
static size_t check_from(const char *data, size_t size, size_t start) {
    size_t pos = start;
    int rc = lt_cnode_skip_term(data, size, &pos);

    ref_cur c = {(const unsigned char *)data + start, (const unsigned char *)data + size};
    int ref = ref_term(&c, 0);
    if (ref == REF_OK)
        REQUIRE(rc == 0 && pos == (size_t)((const char *)c.at - data));
    else if (ref == REF_BAD)
        REQUIRE(rc == -1);

    if (rc != 0) {
        REQUIRE(rc == -1 && pos == start);
        return 0;
    }
    REQUIRE(pos > start && pos <= size);
    size_t again = start;
    REQUIRE(lt_cnode_skip_term(data, size, &again) == 0 && again == pos);

    /* The term alone, in a buffer of exactly its size. */
    size_t n = pos - start;
    char *alone = malloc(n);
    REQUIRE(alone != NULL);
    memcpy(alone, data + start, n);
    size_t p = 0;
    REQUIRE(lt_cnode_skip_term(alone, n, &p) == 0 && p == n);
    /* Cut short, it is rejected and the position stays. */
    p = 0;
    REQUIRE(lt_cnode_skip_term(alone, n - 1, &p) == -1 && p == 0);
    p = 0;
    REQUIRE(lt_cnode_skip_term(alone, n / 2, &p) == -1 && p == 0);
    free(alone);
    return pos;
}

static void check_payload(const char *data, size_t size) {
    int ok = lt_cnode_check_payload(data, size) == 0;
    size_t end = 1;
    int expect = size >= 2 && (unsigned char)data[0] == LT_CNODE_VERSION_MAGIC &&
                 lt_cnode_skip_term(data, size, &end) == 0 && end == size;
    REQUIRE(ok == expect);
}

/* Consecutive terms from the start: each moves forward and stays inside. */
static void check_sequence(const char *data, size_t size) {
    size_t pos = 0, terms = 0;
    while (pos < size) {
        size_t before = pos;
        if (lt_cnode_skip_term(data, size, &pos) != 0) {
            REQUIRE(pos == before);
            break;
        }
        REQUIRE(pos > before && pos <= size);
        terms++;
    }
    REQUIRE(terms <= size);
    /* At the end of the buffer there is no term, and past it the walker refuses to look. */
    size_t at_end = size;
    REQUIRE(lt_cnode_skip_term(data, size, &at_end) == -1 && at_end == size);
    size_t past = size + 1;
    REQUIRE(lt_cnode_skip_term(data, size, &past) == -1 && past == size + 1);
}

/* The size cap: a payload of LT_CNODE_MAX_MSG bytes (one binary) passes, one byte more fails. */
static void check_cap(void) {
    size_t max = LT_CNODE_MAX_MSG;
    char *buf = calloc(max + 1, 1);
    REQUIRE(buf != NULL);
    for (size_t len = max; len <= max + 1; len++) {
        uint32_t bin = (uint32_t)(len - 6); /* 131, 'm', 4-byte length, then the bytes */
        buf[0] = (char)LT_CNODE_VERSION_MAGIC;
        buf[1] = LT_CNODE_TAG_BINARY;
        buf[2] = (char)(bin >> 24);
        buf[3] = (char)(bin >> 16);
        buf[4] = (char)(bin >> 8);
        buf[5] = (char)bin;
        size_t pos = 1;
        int expect = len <= max ? 0 : -1;
        REQUIRE(lt_cnode_check_payload(buf, len) == expect);
        REQUIRE(lt_cnode_skip_term(buf, len, &pos) == expect);
        REQUIRE(pos == (expect == 0 ? len : 1));
    }
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    check_cap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    check_payload(buf, size);
    if (size > 0)
        (void)check_from(buf, size, 0);
    if (size > 1)
        (void)check_from(buf, size, 1);
    check_sequence(buf, size);
    return 0;
}
