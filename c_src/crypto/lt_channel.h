/*
 * lt_channel.h — a secure channel between two nodes over lt_noise (Noise XX): the wire framing
 * of handshake and transport messages, one key per direction from Split(), 64-bit counter
 * nonces, a sliding replay window per receiving key, and rekeying by a fresh handshake on a timer
 * and a message count, with the previous keys kept for a grace period for messages in flight.
 * docs/CHANNEL.md describes the protocol; this file the C interface.
 *
 * Plain C99 over libsodium; no BEAM headers and no clock: every call that ages keys takes `now`
 * in milliseconds of a monotonic clock the caller reads. An lt_chan holds secrets (the static
 * private key, the handshake state, the transport keys): the caller allocates it with
 * sodium_malloc and calls lt_chan_wipe before freeing it. Not thread-safe: one caller at a time
 * (the NIF holds a mutex). The replay windows of the receiving keys are the only heap memory
 * an lt_chan owns (lt_chan_wipe frees them): never copy an lt_chan.
 *
 * Wire (all integers big-endian):
 *   handshake  type:1 (1, 2, 3: the XX message) | epoch:4 | Noise handshake message
 *   transport  type:1 (4) | flags:1 | epoch:4 | counter:8 | ChaChaPoly(plain) with the 14 header
 *              bytes as associated data and the counter as the nonce
 * The prologue of the handshake for epoch E is the caller's prologue followed by BE32(E), so an
 * epoch changed on the wire breaks the handshake.
 */
#ifndef LT_CHANNEL_H
#define LT_CHANNEL_H

#include "lt_noise.h"
#include "lt_replay.h"

#define LT_CHAN_HS_HEADER 5
#define LT_CHAN_HEADER 14
#define LT_CHAN_OVERHEAD (LT_CHAN_HEADER + LT_NOISE_TAGLEN)
/* Caps of the decoders: a handshake payload (a certificate and a few fields) and a transport
 * plaintext (callers split larger data). */
#define LT_CHAN_MAX_HS_PAYLOAD 8192
#define LT_CHAN_MAX_PLAIN (16u * 1024u * 1024u)
/* The largest handshake message: header, e, encrypted s, encrypted payload (message 2). */
#define LT_CHAN_MAX_HS_MSG                                                                         \
    (LT_CHAN_HS_HEADER + 2 * LT_NOISE_DHLEN + 2 * LT_NOISE_TAGLEN + LT_CHAN_MAX_HS_PAYLOAD)
/* The caller's part of the prologue. */
#define LT_CHAN_MAX_PROLOGUE (LT_NOISE_MAX_PROLOGUE - 4)
/* Bits of each receiving key's replay window (lt_replay.h: RFC 6479's ring, as WireGuard's):
 * counters up to lt_replay_span(LT_CHAN_WINDOW) = 8128 behind the newest accepted one are still
 * accepted once each. */
#define LT_CHAN_WINDOW 8192

#define LT_CHAN_T_HS1 1
#define LT_CHAN_T_HS2 2
#define LT_CHAN_T_HS3 3
#define LT_CHAN_T_DATA 4
/* Transport flag: the sender (a responder) wants a rekey; only initiators start handshakes. */
#define LT_CHAN_F_REKEY 0x01

typedef enum {
    LT_CHAN_OK = 0,
    LT_CHAN_E_MALFORMED,       /* wrong type byte, short message, bad framing */
    LT_CHAN_E_TOO_LARGE,       /* over a cap */
    LT_CHAN_E_BAD_MAC,         /* a tag that does not verify */
    LT_CHAN_E_BAD_KEY,         /* a low-order public key */
    LT_CHAN_E_UNEXPECTED,      /* a message not due now (wrong step, wrong role, wrong epoch) */
    LT_CHAN_E_REPLAY,          /* a counter (or handshake epoch) seen already or too old */
    LT_CHAN_E_KEY_EXPIRED,     /* a key past its age or message limit, or a retired epoch */
    LT_CHAN_E_UNKNOWN_KEY,     /* a transport message of an epoch this side never had */
    LT_CHAN_E_NOT_ESTABLISHED, /* encrypt before any handshake finished */
    LT_CHAN_E_NONCE,           /* a counter would reach 2^64 - 1 */
    LT_CHAN_E_NOMEM            /* no memory for a replay window (internal failure) */
} lt_chan_err;

const char *lt_chan_err_name(lt_chan_err err);

typedef struct {
    int64_t rekey_after_ms;     /* start a new handshake when the sending key is this old */
    int64_t reject_after_ms;    /* refuse a key (both directions) this old */
    uint64_t rekey_after_msgs;  /* ... or when this many messages were sent with it */
    uint64_t reject_after_msgs; /* refuse to send or receive more than this many with a key */
    int64_t grace_ms;           /* how long the previous epoch is still accepted after a rekey */
} lt_chan_config;

/* WireGuard's REKEY_AFTER_TIME, REJECT_AFTER_TIME and REKEY/REJECT_AFTER_MESSAGES (2^60 and
 * 2^64 - 2^13 - 1), and a grace of 10 s. */
void lt_chan_config_default(lt_chan_config *cfg);

typedef struct {
    uint32_t epoch; /* 0: the slot is empty */
    uint8_t send_k[LT_NOISE_KEYLEN], recv_k[LT_NOISE_KEYLEN];
    uint64_t sent;         /* messages sent: the next counter */
    uint64_t received;     /* messages accepted */
    lt_replay_window *win; /* malloc'd by lt_replay_window_new (counters are not secret);
                              owned by the slot, freed with it */
    int64_t born_ms;       /* when the handshake finished */
    int64_t retire_ms;     /* the previous slot: refused from then on */
} lt_chan_keys;

typedef struct {
    lt_chan_config cfg;
    uint8_t initiator;
    uint8_t hs_active;    /* a handshake is under way in hs */
    uint8_t rekey_wanted; /* initiator: a responder's transport message asked for a rekey */
    uint8_t s_sk[LT_NOISE_DHLEN];
    uint8_t prologue[LT_NOISE_MAX_PROLOGUE];
    size_t plen;       /* the caller's part; the epoch goes after it */
    uint32_t hs_epoch; /* the epoch of the handshake under way, or of the last one */
    int64_t hs_started_ms;
    lt_noise_hs hs;
    lt_chan_keys cur, prev;
    uint8_t peer_static[LT_NOISE_DHLEN]; /* of the last finished handshake */
    uint8_t hash[LT_NOISE_HASHLEN];      /* its handshake hash (channel binding) */
    uint64_t rekeys;                     /* handshakes finished after the first */
    uint64_t total_sent, total_received; /* transport messages over every epoch */
    uint8_t fixed_e[LT_NOISE_DHLEN];     /* lt_chan_fix_ephemeral (tests and fuzzing only) */
    uint8_t has_fixed_e;
} lt_chan;

/* Sets up a channel: role, the caller's prologue (cluster and version; at most
 * LT_CHAN_MAX_PROLOGUE bytes), the local static X25519 private key (copied), the config. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_init(lt_chan *ch, int initiator, const uint8_t *prologue,
                                              size_t plen, const uint8_t s_sk[LT_NOISE_DHLEN],
                                              const lt_chan_config *cfg);

/* Initiator: starts the handshake for a new epoch (one past the last) and writes message 1 with
 * payload into out. A handshake already under way is abandoned. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_start(lt_chan *ch, int64_t now, const uint8_t *payload,
                                               size_t plen, uint8_t *out, size_t cap,
                                               size_t *outlen);

/* The message type of a wire message (its first byte), 0 when empty or unknown. */
int lt_chan_type(const uint8_t *msg, size_t mlen);

/* Reads handshake message 1, 2 or 3 (untrusted, mlen bytes) and writes its payload into out
 * (cap bytes; at least LT_CHAN_MAX_HS_PAYLOAD). A responder given message 1 starts a handshake
 * for its epoch, which must be newer than the current keys' and than the handshake under way's
 * (else LT_CHAN_E_REPLAY). After
 * message 2 (initiator) the remote static key is known and the caller writes message 3 with
 * lt_chan_hs_write; after message 3 (responder) the handshake is complete. On any error the
 * handshake under way is dropped; the transport keys stay as they were. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_hs_read(lt_chan *ch, int64_t now, const uint8_t *msg,
                                                 size_t mlen, uint8_t *out, size_t cap,
                                                 size_t *outlen);

/* Writes this side's next handshake message (2 for the responder, 3 for the initiator). */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_hs_write(lt_chan *ch, const uint8_t *payload, size_t plen,
                                                  uint8_t *out, size_t cap, size_t *outlen);

/* The remote static public key of the handshake under way (known after message 2 for the
 * initiator, message 3 for the responder); NULL when not known yet. */
const uint8_t *lt_chan_hs_remote_static(const lt_chan *ch);

/* Whether the handshake under way has processed all three messages. */
int lt_chan_hs_complete(const lt_chan *ch);

/* Installs the keys of the completed handshake (call after checking the peer's certificate):
 * the current keys become the previous ones, accepted until now + grace_ms. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_finish(lt_chan *ch, int64_t now);

/* Drops the handshake under way (a refused certificate, a timeout). */
void lt_chan_abort(lt_chan *ch);

/* Size of the transport message for plen bytes. */
size_t lt_chan_sealed_size(size_t plen);

/* Encrypts plain into a transport message in out (cap >= lt_chan_sealed_size(plen)); sets
 * *rekey_due when the sending key has reached a rekey limit (the initiator then calls
 * lt_chan_start; a responder's messages carry LT_CHAN_F_REKEY). Refuses with
 * LT_CHAN_E_KEY_EXPIRED at a reject limit. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_encrypt(lt_chan *ch, int64_t now, const uint8_t *plain,
                                                 size_t plen, uint8_t *out, size_t cap,
                                                 size_t *outlen, int *rekey_due);

/* Decrypts a transport message (untrusted) into out (cap >= mlen - LT_CHAN_OVERHEAD). The
 * counter is checked against the window before the MAC and recorded only after it. */
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_decrypt(lt_chan *ch, int64_t now, const uint8_t *msg,
                                                 size_t mlen, uint8_t *out, size_t cap,
                                                 size_t *outlen);

/* Whether the initiator should rekey now: the sending key's age or count reached a rekey
 * limit, or the peer asked; never while a handshake is under way. */
int lt_chan_rekey_due(const lt_chan *ch, int64_t now);

/* Wipes the previous epoch's keys once their grace has passed (encrypt and decrypt do it too;
 * a timer calls this so that a quiet channel does not keep them). */
void lt_chan_expire(lt_chan *ch, int64_t now);

/* The anti-entropy key of the current epoch (docs/CHANNEL.md, "The anti-entropy key"): 32 bytes,
 * the same on both ends, new at every rekey: BLAKE2b-256 keyed with the initiator-to-responder
 * transport key, over the label "lattice.ae.v1", BE32(epoch), the responder-to-initiator key and
 * the handshake hash. Neither transport key can be computed from it (BLAKE2b is one-way), so the
 * C node that receives it can seal its sessions but not read the channel. Writes out (32 bytes,
 * the caller's) and returns LT_CHAN_OK, or LT_CHAN_E_NOT_ESTABLISHED before any handshake. */
#define LT_CHAN_AE_KEYLEN 32
#define LT_CHAN_AE_LABEL "lattice.ae.v1"
LT_NOISE_WARN_UNUSED lt_chan_err lt_chan_ae_key(const lt_chan *ch, uint8_t out[LT_CHAN_AE_KEYLEN]);

void lt_chan_wipe(lt_chan *ch);

/* For known-answer tests and fuzzing only: every later handshake of ch uses e_sk as its
 * ephemeral private key (which forfeits forward secrecy: never in production). */
void lt_chan_fix_ephemeral(lt_chan *ch, const uint8_t e_sk[LT_NOISE_DHLEN]);

#endif
