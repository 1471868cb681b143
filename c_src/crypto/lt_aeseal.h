/*
 * lt_aeseal.h — sealing of the C node's anti-entropy session messages (docs/CNODE.md, section
 * 3a) with a key the owner gave for the peer: XChaCha20-Poly1305-IETF, the session header as
 * associated data, a per-direction counter in the nonce, strictly increasing.
 *
 * Plain C99 over libsodium; no BEAM header and no knowledge of the session protocol beyond its
 * 7-byte header (version, kind, flags, sid), which is authenticated and not encrypted. An
 * lt_aeseal holds secrets (the peer key, the session key): the caller keeps it in sodium_malloc
 * memory and calls lt_aeseal_wipe when the session ends.
 *
 * A sealed message (one wire binary; a fragment of a large message is sealed on its own):
 *
 *     Header:7 (flags with LT_AESEAL_FLAG) | Ctr:64 | [Salt:16, when Ctr = 0] | C | Tag:16
 *
 * with everything before C as associated data. Ctr counts the sender's messages of the session
 * from 0; the receiver accepts exactly the next one (the transport is one ordered connection,
 * so anything else is a replay, a reorder or a loss: refused). Keys and nonces:
 *  - the initiator's message 0 (HELLO) carries its random salt Si and is sealed under the peer
 *    key K with the nonce Si || BE64(0 | 2^63);
 *  - the responder's message 0 carries its random salt Sr; it and every later message of both
 *    sides are sealed under the session key Ks = BLAKE2b-256(key = K, "lattice.ae.v1.session"
 *    || Si || Sr) with the nonce 0^16 || BE64(Ctr | D), D = 2^63 for the initiator's messages.
 * So a message cannot be moved to another direction or position, a session's messages do not
 * open in another session (a replayed HELLO gets a fresh Sr: nothing recorded opens after it),
 * and K itself seals only HELLOs, each under a fresh random nonce.
 */
#ifndef LT_AESEAL_H
#define LT_AESEAL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_AESEAL_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LT_AESEAL_WARN_UNUSED
#endif

#define LT_AESEAL_KEYLEN 32
#define LT_AESEAL_SALTLEN 16
#define LT_AESEAL_CTRLEN 8
#define LT_AESEAL_TAGLEN 16
#define LT_AESEAL_HDRLEN 7 /* the session header: version, kind, flags, sid */
#define LT_AESEAL_FLAG 8u  /* the header's flag bit of a sealed message */
/* The largest overhead of a sealed message over the plain one (message 0: with the salt). */
#define LT_AESEAL_MAX_OVERHEAD (LT_AESEAL_CTRLEN + LT_AESEAL_SALTLEN + LT_AESEAL_TAGLEN)
/* Counters stop below the direction bit. */
#define LT_AESEAL_MAX_CTR ((UINT64_C(1) << 63) - 1)
#define LT_AESEAL_LABEL "lattice.ae.v1.session"

typedef enum {
    LT_AESEAL_OK = 0,
    LT_AESEAL_E_MALFORMED, /* too short, no seal flag, a bad cap */
    LT_AESEAL_E_REPLAY,    /* not the next counter: replayed, reordered, or after a loss */
    LT_AESEAL_E_BAD_MAC,   /* does not open: another key, altered bytes */
    LT_AESEAL_E_EXHAUSTED  /* the sender's counter reached LT_AESEAL_MAX_CTR */
} lt_aeseal_err;

const char *lt_aeseal_err_name(lt_aeseal_err e);

typedef struct {
    uint8_t peer_key[LT_AESEAL_KEYLEN];
    uint8_t sess_key[LT_AESEAL_KEYLEN]; /* valid when has_sess */
    uint8_t salt_i[LT_AESEAL_SALTLEN], salt_r[LT_AESEAL_SALTLEN];
    uint8_t initiator;
    uint8_t has_sess;
    uint64_t send_ctr; /* the next counter this side sends */
    uint64_t recv_ctr; /* the next counter it accepts */
} lt_aeseal;

/* Sets up s (the caller's, in sodium_malloc memory) for one session under the peer key key (32
 * bytes, copied) as the initiator (a fresh random Si) or the responder (a fresh random Sr). */
void lt_aeseal_init(lt_aeseal *s, const uint8_t key[LT_AESEAL_KEYLEN], int initiator);

/* Bytes the next message of plen bytes takes sealed (its header included). */
size_t lt_aeseal_size(const lt_aeseal *s, size_t plen);

/* Seals the header hdr (LT_AESEAL_HDRLEN bytes; its flags must have LT_AESEAL_FLAG) and
 * body[0..len) into out (cap >= lt_aeseal_size(s, len); out must not overlap body), and
 * advances the send counter. A responder must have opened the initiator's HELLO first.
 * Returns LT_AESEAL_OK with *outlen, LT_AESEAL_E_MALFORMED (cap, flag, responder too early) or
 * LT_AESEAL_E_EXHAUSTED. */
LT_AESEAL_WARN_UNUSED lt_aeseal_err lt_aeseal_seal(lt_aeseal *s, const uint8_t *hdr,
                                                   const uint8_t *body, size_t len, uint8_t *out,
                                                   size_t cap, size_t *outlen);

/* Opens msg[0..len) (untrusted: a whole sealed message, header first) into out (cap >=
 * len; out must not overlap msg): *outlen bytes of body. The counter is checked before the
 * tag and advanced only when the message opens; on any error s is as it was (the session key
 * is not derived from a salt that did not verify). A responder's first call opens the HELLO
 * under the peer key. */
LT_AESEAL_WARN_UNUSED lt_aeseal_err lt_aeseal_open(lt_aeseal *s, const uint8_t *msg, size_t len,
                                                   uint8_t *out, size_t cap, size_t *outlen);

void lt_aeseal_wipe(lt_aeseal *s);

#endif
