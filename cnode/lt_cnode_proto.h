/*
 * lt_cnode_proto.h — the C node's own message formats (docs/CNODE.md), decoded and encoded
 * without ei.h or any BEAM header, so that fuzz/ can build and fuzz every decoder on its own.
 *
 *  - distribution packets: the pass-through header and the control message, located within a
 *    packet (the terms themselves are walked by lt_cnode_term.c);
 *  - leaf batches (the owner's `update` request);
 *  - session messages between C nodes (HELLO, EQUAL, CHILDREN, BUCKETS, RESOLVE, RESULT, ABORT);
 *  - limits given as `key=value` text.
 *
 * Every decoder takes the buffer's length and checks each size against the bytes there and
 * against a cap before it reads; none allocates. Buffers are borrowed; results point into them.
 */
#ifndef LT_CNODE_PROTO_H
#define LT_CNODE_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- distribution packets ----------------------------------------------------------------- */

#define LT_DIST_PASS_THROUGH 112 /* 'p': the first byte of every packet ei's peers send */

/* Control message operations (erts dist.h) that carry a message for a process. */
#define LT_DOP_SEND 2
#define LT_DOP_REG_SEND 6
#define LT_DOP_SEND_TT 12
#define LT_DOP_REG_SEND_TT 16
#define LT_DOP_SEND_SENDER 22
#define LT_DOP_SEND_SENDER_TT 23

/* Where the parts of one packet (after its 4-byte length) are. Offsets into the packet. */
typedef struct {
    long op;               /* the control message's operation; -1 if not an integer */
    size_t ctl_start;      /* the control tuple (after its 131 version byte) */
    size_t ctl_end;        /* first byte after the control tuple */
    size_t from_start;     /* a pid term (REG_SEND, SEND_SENDER), or 0 */
    size_t to_pid_start;   /* a pid term (SEND, SEND_TT, SEND_SENDER), or 0 */
    const char *to_name;   /* REG_SEND's registered name (atom text, not NUL-terminated) */
    size_t to_name_len;    /* 0 when there is none */
    size_t payload_start;  /* the message term's version byte (131), or 0 if none */
    size_t payload_len;    /* bytes from payload_start to the end of the packet */
    int payload_is_binary; /* the payload is exactly one BINARY_EXT */
    size_t bin_start;      /* its bytes (payload_is_binary) */
    size_t bin_len;
} lt_dist_packet;

/* Parses pkt[0..len) (borrowed): the pass-through byte, a control message (a tuple whose every
 * length is checked by lt_cnode_skip_term) and, for the operations above, the message term that
 * follows, checked with lt_cnode_check_payload. Operations other than the six above are parsed
 * no further than their op (payload_start 0). Returns 0, or -1 for a packet that is not well
 * formed (nothing may then be decoded from it). */
int lt_dist_packet_parse(const char *pkt, size_t len, lt_dist_packet *out);

/* ---- leaf batches ------------------------------------------------------------------------- */

#define LT_BATCH_V1 1
#define LT_BATCH_PUT 1
#define LT_BATCH_DELETE 2
#define LT_BATCH_DIGEST 16
#define LT_BATCH_MAX_KEY 4096

typedef struct {
    int op; /* LT_BATCH_PUT or LT_BATCH_DELETE */
    const uint8_t *key;
    size_t key_len;
    const uint8_t *digest; /* LT_BATCH_DIGEST bytes for a put; NULL for a delete */
} lt_batch_entry;

/* Checks a whole batch b[0..len): the version byte, then entries (op, u16be key length 1..4096,
 * key, a 16-byte digest for a put), at most max_entries of them, ending exactly at len. Returns
 * 0 with *n the number of entries, or -1 with *bad_off the offset of the first bad byte (the
 * entry that does not fit, or the version byte). */
int lt_batch_check(const uint8_t *b, size_t len, size_t max_entries, size_t *n, size_t *bad_off);

/* Reads the entry at b[*off..len) of a batch lt_batch_check accepted, and advances *off.
 * Returns 1 with *e filled, 0 at the end. */
int lt_batch_next(const uint8_t *b, size_t len, size_t *off, lt_batch_entry *e);

/* ---- session messages --------------------------------------------------------------------- */

#define LT_AE_V1 1
#define LT_AE_HEADER 7 /* version, kind, flags, u32be sid */
#define LT_AE_FRAGMENT 60000u
#define LT_AE_MAX_NAME 255 /* store and node names */

enum {
    LT_AE_HELLO = 1,
    LT_AE_EQUAL = 2,
    LT_AE_CHILDREN = 3,
    LT_AE_BUCKETS = 4,
    LT_AE_RESOLVE = 5,
    LT_AE_RESULT = 6,
    LT_AE_ABORT = 7,
    LT_AE_KIND_MAX = 7
};

#define LT_AE_FLAG_MORE 1u      /* more fragments of this message follow */
#define LT_AE_FLAG_FROM_INIT 2u /* sent by the session's initiator */
#define LT_AE_FLAG_TRUNCATED 4u /* RESOLVE: the sender listed only max_keys keys */
#define LT_AE_FLAG_SEALED 8u    /* protocol 3: the message is sealed (c_src/crypto/lt_aeseal.h) */
#define LT_AE_FLAGS_KNOWN 15u

/* ABORT reasons (docs/CNODE.md section 3). */
enum {
    LT_AE_ABORT_NO_STORE = 1,
    LT_AE_ABORT_LEVELS = 2,
    LT_AE_ABORT_BUSY = 3,
    LT_AE_ABORT_MALFORMED = 4,
    LT_AE_ABORT_TOO_BIG = 5,
    LT_AE_ABORT_TIMEOUT = 6,
    LT_AE_ABORT_NOMEM = 7,
    LT_AE_ABORT_SESSION_BYTES = 8,
    LT_AE_ABORT_NO_KEY = 9,    /* protocol 3: no key for the sender, or a key and a plain HELLO */
    LT_AE_ABORT_BAD_SEAL = 10, /* protocol 3: a sealed message did not open, or came twice */
    LT_AE_ABORT_MAX = 10
};

typedef struct {
    unsigned kind, flags;
    uint32_t sid;
    const uint8_t *body;
    size_t body_len;
} lt_ae_header;

/* Splits m[0..len) into its header and body. -1 for a short message, another version, an
 * unknown kind or unknown flags. */
int lt_ae_header_parse(const uint8_t *m, size_t len, lt_ae_header *h);

typedef struct {
    unsigned levels;
    uint64_t root_fold, count;
    const uint8_t *store;
    size_t store_len; /* 1..LT_AE_MAX_NAME */
} lt_ae_hello;

/* A HELLO body. -1 if it is not exactly one well-formed HELLO (levels must be 1..max_levels). */
int lt_ae_hello_parse(const uint8_t *b, size_t len, unsigned max_levels, lt_ae_hello *out);

/* A key as RESOLVE and RESULT carry it. */
typedef struct {
    unsigned side; /* RESOLVE: 0 differs, 1 only the sender, 2 the sender no longer holds it;
                      RESULT: always 1 */
    const uint8_t *key;
    size_t key_len;
    const uint8_t *digest; /* 16 bytes */
} lt_ae_key;

typedef struct {
    const uint8_t *owner;
    size_t owner_len;      /* 0..LT_AE_MAX_NAME */
    uint64_t n_hashes;     /* RESOLVE only */
    const uint8_t *hashes; /* n_hashes x u64be */
    uint64_t n_keys;       /* RESOLVE: the keys; RESULT: the bitmap's bit count */
    const uint8_t *bitmap; /* RESULT only: ceil(n_keys / 8) bytes */
    uint64_t n_own;        /* RESULT: the sender's keys */
    const uint8_t *keys;   /* the first key record */
    size_t keys_len;       /* bytes of key records, to the end of the body */
} lt_ae_keys_msg;

/* A RESOLVE body: at most max_keys hashes and max_keys keys (0 < key length <= 4096). */
int lt_ae_resolve_parse(const uint8_t *b, size_t len, uint64_t max_keys, lt_ae_keys_msg *out);
/* A RESULT body: the bitmap must have exactly expected_bits bits (the RESOLVE's key count; bits
 * past it zero) and at most max_keys keys. */
int lt_ae_result_parse(const uint8_t *b, size_t len, uint64_t expected_bits, uint64_t max_keys,
                       lt_ae_keys_msg *out);
/* The next key record at m->keys[*off..keys_len) of a parsed RESOLVE (with_side 1) or RESULT
 * (with_side 0). Returns 1 with *k filled, 0 at the end. */
int lt_ae_key_next(const lt_ae_keys_msg *m, int with_side, size_t *off, lt_ae_key *k);

/* An ABORT body: its reason, 1..LT_AE_ABORT_MAX, or -1. */
int lt_ae_abort_parse(const uint8_t *b, size_t len);

/* ---- limits as text ----------------------------------------------------------------------- */

/* Splits "key=value" (s[0..len), borrowed) into the key and an unsigned decimal value (no sign,
 * at most 18 digits). Returns 0, or -1 for anything else. */
int lt_limit_parse(const char *s, size_t len, const char **key, size_t *key_len, uint64_t *value);

#endif
