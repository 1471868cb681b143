/*
 * lattice C node: joins the distributed Erlang cluster as a hidden node of its own, holds one
 * Merkle tree per store for its owner and runs anti-entropy sessions with peer C nodes.
 *
 *   lattice_cnode --name NODE --owner NODE [--notify NAME] [--limit KEY=VALUE]...
 *
 * docs/CNODE.md is the contract: the owner's requests and notifications, the session protocol
 * between C nodes, the limits and the stats. This comment says how the program is built.
 *
 * NODE is alive@host. The cookie comes from $LATTICE_COOKIE, or from the file named by
 * $LATTICE_COOKIE_FILE; never from argv, which anyone can read in ps. The node listens on
 * 127.0.0.1 only, registers with epmd, connects to its owner node, optionally sends
 * {lattice_cnode, ready, NodeName} to the process registered as NAME on the owner, prints one
 * line on stdout:
 *
 *   lattice_cnode ready NODE PORT
 *
 * and then serves until the owner's connection closes, stdin reaches end of file (the owning
 * port was closed, or the VM died) or SIGTERM/SIGINT arrives; each of those ends the process
 * with status 0. Diagnostics go to stderr.
 *
 * I/O design: one event loop (cn_loop) owns every piece of state: the connections, the trees,
 * the sessions, the limits and the counters. No lock guards them because no other thread
 * touches them. Every connection's socket is non-blocking; bytes read are appended to the
 * connection's input buffer and a packet is handed to the decoders only once all of its
 * 4-byte-length-framed bytes are there (a zero-length packet is a distribution tick, answered
 * with one). What the loop sends is appended to the connection's output queue and written as
 * the socket accepts it (at once if it can, then on POLLOUT); the loop is the only writer of
 * every socket. So a peer that sends half a packet, or stops reading, costs its own buffers and
 * nothing else: every other connection is served on the next turn of the loop. The two calls
 * of ei that block, the handshakes (ei_accept_tmo, ei_connect_tmo), run in threads: a few
 * acceptor threads each loop on ei_accept_tmo (so a stalled handshake holds one of them, for
 * at most handshake_timeout_ms, while the others go on accepting), and each outgoing connection
 * is made in a short-lived thread. A thread hands the connected socket (or its failure) to the
 * loop through a pipe and touches nothing else. This was chosen over a reader thread per
 * connection because the state then needs no locking at all and the loop's turn is bounded by
 * the work of complete packets only.
 *
 * Input is untrusted. A packet longer than max_packet is discarded unread. Each packet is
 * located by lt_dist_packet_parse (lt_cnode_proto.c), which walks the control message and the
 * message with lt_cnode_skip_term / lt_cnode_check_payload (lt_cnode_term.c), checking each
 * length against the bytes received, before any ei_decode_* call (those take no buffer length).
 * Leaf batches and session messages are our own binary formats, decoded by lt_cnode_proto.c and
 * lt_merkle.c with a cap on every size. Malformed or oversized input is dropped and counted.
 *
 * ei negotiates neither DFLAG_DIST_HDR_ATOM_CACHE nor DFLAG_FRAGMENTS (OTP 25
 * erl_interface/src/connect/ei_connect.c, preferred_flags), so every packet a peer sends is a
 * pass-through packet: 'p', a control message, and for sends a message term. SEND, REG_SEND,
 * SEND_SENDER and their _TT forms are read; links, exits, monitors and the rest are ignored.
 *
 * Exit status: 0 for a clean stop, 1 when start-up fails (listen, epmd, owner unreachable), 2 for
 * bad arguments or no cookie.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>
#include <sodium.h>

#include "lt_aeseal.h"

#include "lt_cnode_proto.h"
#include "lt_cnode_term.h"
#include "lt_merkle.h"
#include "lt_version.h"

#define CN_MAX_MSG LT_CNODE_MAX_MSG /* the largest max_packet */
#define CN_MAX_CONNS 64             /* node connections, the owner's included */
#define CN_MAX_SESSIONS 256         /* the largest max_sessions */
#define CN_MAX_BREAKERS 64          /* peers with a failure on record */
#define CN_ACCEPTORS 4              /* threads accepting connections */
#define CN_START_TMO_MS 5000u       /* start-up: epmd, the owner's connection */
#define CN_READ_CHUNK 65536         /* bytes asked of recv at a time */
#define CN_READ_BUDGET (1u << 20)   /* bytes read from one connection per turn of the loop */
#define CN_EXIT_USAGE 2             /* bad arguments or no cookie */
#define CN_EXIT_START 1             /* listen, epmd or owner connection failed */
#define CN_AE_NAME "lattice_ae"     /* the registered name session messages go to */
#define CN_TICK_MAX_MS 1000         /* the longest poll */
#define CN_MAX_PEER_KEYS 4096       /* (store, peer C node) keys held at once */

/* Offsets into a payload are kept in ei's int indexes. */
_Static_assert(CN_MAX_MSG < INT_MAX / 2, "CN_MAX_MSG must fit ei's int indexes");

/* lt_cnode_term.c walks payloads without ei.h; its tags must be ei's. */
#define CN_SAME_TAG(ours, eis) _Static_assert((ours) == (eis), #ours " differs from " #eis)
CN_SAME_TAG(LT_CNODE_TAG_NEW_FLOAT, NEW_FLOAT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_BIT_BINARY, ERL_BIT_BINARY_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_PID, ERL_NEW_PID_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_PORT, ERL_NEW_PORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEWER_REFERENCE, ERL_NEWER_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_INTEGER, ERL_SMALL_INTEGER_EXT);
CN_SAME_TAG(LT_CNODE_TAG_INTEGER, ERL_INTEGER_EXT);
CN_SAME_TAG(LT_CNODE_TAG_FLOAT, ERL_FLOAT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_ATOM, ERL_ATOM_EXT);
CN_SAME_TAG(LT_CNODE_TAG_REFERENCE, ERL_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_PORT, ERL_PORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_PID, ERL_PID_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_TUPLE, ERL_SMALL_TUPLE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LARGE_TUPLE, ERL_LARGE_TUPLE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NIL, ERL_NIL_EXT);
CN_SAME_TAG(LT_CNODE_TAG_STRING, ERL_STRING_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LIST, ERL_LIST_EXT);
CN_SAME_TAG(LT_CNODE_TAG_BINARY, ERL_BINARY_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_BIG, ERL_SMALL_BIG_EXT);
CN_SAME_TAG(LT_CNODE_TAG_LARGE_BIG, ERL_LARGE_BIG_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_FUN, ERL_NEW_FUN_EXT);
CN_SAME_TAG(LT_CNODE_TAG_EXPORT, ERL_EXPORT_EXT);
CN_SAME_TAG(LT_CNODE_TAG_NEW_REFERENCE, ERL_NEW_REFERENCE_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_ATOM, ERL_SMALL_ATOM_EXT);
CN_SAME_TAG(LT_CNODE_TAG_MAP, ERL_MAP_EXT);
CN_SAME_TAG(LT_CNODE_TAG_ATOM_UTF8, ERL_ATOM_UTF8_EXT);
CN_SAME_TAG(LT_CNODE_TAG_SMALL_ATOM_UTF8, ERL_SMALL_ATOM_UTF8_EXT);
CN_SAME_TAG(LT_CNODE_TAG_V4_PORT, ERL_V4_PORT_EXT);

/* ---- limits and counters (docs/CNODE.md sections 5 and 6) --------------------------------- */

enum {
    L_SESSION_BYTES,
    L_RATE_BYTES,
    L_RATE_BURST,
    L_SESSION_TIMEOUT_MS,
    L_MAX_SESSIONS,
    L_BREAKER_FAILURES,
    L_BREAKER_RESET_MS,
    L_MAX_PACKET,
    L_MAX_MESSAGE,
    L_MAX_BATCH,
    L_MAX_STORES,
    L_MAX_KEYS,
    L_HANDSHAKE_TIMEOUT_MS,
    L_MAX_OUT_QUEUE,
    L_CONFIRM_DELAY_MS,
    L_COUNT
};

typedef struct {
    const char *name;
    uint64_t def, min, max;
} cn_limit_def;

static const cn_limit_def cn_limit_defs[L_COUNT] = {
    [L_SESSION_BYTES] = {"session_bytes", 64u << 20, 1024, UINT64_C(1) << 40},
    [L_RATE_BYTES] = {"rate_bytes", 0, 0, UINT64_C(1) << 40},
    [L_RATE_BURST] = {"rate_burst", 1u << 20, 1024, UINT64_C(1) << 40},
    [L_SESSION_TIMEOUT_MS] = {"session_timeout_ms", 30000, 1, 86400000},
    [L_MAX_SESSIONS] = {"max_sessions", 16, 1, CN_MAX_SESSIONS},
    [L_BREAKER_FAILURES] = {"breaker_failures", 3, 1, 1000000},
    [L_BREAKER_RESET_MS] = {"breaker_reset_ms", 10000, 1, 86400000},
    [L_MAX_PACKET] = {"max_packet", CN_MAX_MSG, 65536, CN_MAX_MSG},
    [L_MAX_MESSAGE] = {"max_message", 16u << 20, 65536, 1u << 30},
    [L_MAX_BATCH] = {"max_batch", 1000000, 1, 100000000},
    [L_MAX_STORES] = {"max_stores", 1024, 1, 1000000},
    [L_MAX_KEYS] = {"max_keys", 100000, 1, 100000000},
    [L_HANDSHAKE_TIMEOUT_MS] = {"handshake_timeout_ms", 5000, 10, 600000},
    [L_MAX_OUT_QUEUE] = {"max_out_queue", 64u << 20, 65536, UINT64_C(1) << 40},
    [L_CONFIRM_DELAY_MS] = {"confirm_delay_ms", 10, 0, 60000},
};

#define CN_COUNTERS(X)                                                                             \
    X(sessions_started)                                                                            \
    X(sessions_completed)                                                                          \
    X(sessions_equal)                                                                              \
    X(sessions_failed)                                                                             \
    X(keys_reported)                                                                               \
    X(confirm_dropped)                                                                             \
    X(bytes_in)                                                                                    \
    X(bytes_out)                                                                                   \
    X(session_bytes_in)                                                                            \
    X(session_bytes_out)                                                                           \
    X(msgs_request)                                                                                \
    X(msgs_session)                                                                                \
    X(msgs_tick)                                                                                   \
    X(msgs_other)                                                                                  \
    X(malformed)                                                                                   \
    X(oversized)                                                                                   \
    X(ticks_skipped)                                                                               \
    X(busy_refused)                                                                                \
    X(breaker_refused)                                                                             \
    X(breaker_trips)                                                                               \
    X(rate_waits)                                                                                  \
    X(session_timeouts)                                                                            \
    X(session_bytes_exceeded)                                                                      \
    X(handshakes_failed)                                                                           \
    X(connections_accepted)                                                                        \
    X(connections_made)                                                                            \
    X(connections_closed)                                                                          \
    X(out_queue_overflows)                                                                         \
    X(sessions_sealed)                                                                             \
    X(msgs_sealed)                                                                                 \
    X(msgs_opened)                                                                                 \
    X(sealed_refused)                                                                              \
    X(sealed_replayed)                                                                             \
    X(plaintext_refused)                                                                           \
    X(no_key_refused)

#define CN_ENUM(name) C_##name,
#define CN_NAME(name) #name,
enum { CN_COUNTERS(CN_ENUM) C_COUNT };
static const char *const cn_counter_names[C_COUNT] = {CN_COUNTERS(CN_NAME)};

/* The handshake timeout, read by the acceptor and connector threads (everything else is the
 * loop's alone). */
static unsigned cn_handshake_ms = 5000;

/* ---- the node's state ---------------------------------------------------------------------- */

/* One connection to another node. The table owns fd (closed with ei_close_connection) and the
 * buffers. `gen` tells a reused slot from the connection a session started on. */
typedef struct {
    int fd; /* -1 marks a free slot */
    int is_owner;
    int dead; /* to be closed at the end of this turn */
    uint64_t gen;
    char node[MAXNODELEN + 1];
    uint8_t *in; /* the packets being received; in_len bytes of in_cap */
    size_t in_len, in_cap;
    uint64_t skip; /* bytes of an oversized packet still to discard */
    uint8_t *out;  /* queued output: out[out_off..out_len) still to write */
    size_t out_off, out_len, out_cap;
} cn_conn;

/* One store's tree. `owner` is the process that opened it (notifications go there). */
typedef struct {
    uint8_t name[LT_AE_MAX_NAME];
    size_t name_len;
    lt_merkle *tree; /* owned */
    erlang_pid owner;
    int require_keys; /* sessions with a peer without a key are refused */
} cn_store;

/* A peer key's names; the 32 bytes themselves are in cn_node.pk_secret (sodium_malloc), at the
 * same index. */
typedef struct {
    int used;
    uint8_t store[LT_AE_MAX_NAME];
    size_t store_len;
    char peer[MAXNODELEN + 1];
} cn_peer_key;

/* A key found differing, with a digest (this side's, or the peer's, per step). Owns key. */
typedef struct {
    uint8_t *key;
    uint32_t key_len;
    uint8_t side; /* lt_merkle_side, as this node sees it */
    uint8_t has_digest;
    uint8_t digest[LT_MERKLE_DIGEST];
} cn_key;

typedef struct {
    cn_key *v;
    size_t n, cap;
    int failed; /* out of memory on an append */
} cn_keys;

enum { S_FREE, S_CONNECTING, S_WAIT_TREE, S_WAIT_RESOLVE, S_CONFIRM, S_WAIT_RESULT, S_DONE };
enum { R_EQUAL, R_DIFFER, R_ERROR };

/* One session. Owned by the session table; everything inside is owned by it. */
typedef struct {
    int state;
    int initiator;
    uint32_t sid;
    char peer[MAXNODELEN + 1];
    int conn; /* slot in conns, -1 while connecting */
    uint64_t conn_gen;
    uint8_t store[LT_AE_MAX_NAME];
    size_t store_len;
    unsigned levels;
    unsigned expect_level; /* the level of the next CHILDREN expected; levels: BUCKETS */
    int64_t start_us, deadline_us, confirm_us;
    uint64_t msgs_out, msgs_in, logical_out, logical_in, bytes_out, bytes_in, payload_out,
        payload_in;
    lt_buf asmb; /* fragments of the message being received */
    unsigned asm_kind;
    int asm_on;
    lt_buf pend; /* the body being sent, from pend_off */
    size_t pend_off;
    unsigned pend_kind, pend_flags;
    int pend_on, pend_started, rate_waiting, end_after_send;
    cn_keys xkeys;    /* X: this side's candidate keys, as sent in RESOLVE */
    uint64_t *hashes; /* X: the key hashes only the peer holds */
    size_t n_hashes, cap_hashes;
    cn_keys report; /* what the owner is told */
    int truncated;
    int result;
    const char *error; /* R_ERROR: the reason atom */
    char peer_owner[MAXNODELEN + 1];
    int sealed; /* its seal state is cn_node.seal[its slot] */
} cn_session;

enum { B_CLOSED, B_OPEN, B_HALF_OPEN };

typedef struct {
    char peer[MAXNODELEN + 1]; /* "" marks a free slot */
    uint64_t failures;
    int state;
    int trial; /* half-open: the trial session is running */
    int64_t open_until_us;
} cn_breaker;

/* What a handshake thread hands to the loop through the pipe: one write, under PIPE_BUF. */
enum { H_ACCEPTED, H_ACCEPT_FAILED, H_CONNECTED, H_CONNECT_FAILED };
typedef struct {
    int kind;
    int fd;
    char node[MAXNODELEN + 1];
} cn_handoff;
_Static_assert(sizeof(cn_handoff) <= PIPE_BUF, "a handoff must be one atomic pipe write");

/* Everything the node holds. One instance, owned by main; the loop's alone once it runs. */
typedef struct {
    ei_cnode ec;
    int listen_fd;
    int epmd_fd;            /* from ei_publish; closing it unregisters the name */
    int signal_fd;          /* read end of the self-pipe the signal handler writes to */
    int hand_rfd, hand_wfd; /* the handshake threads' pipe */
    char owner_node[MAXNODELEN + 1];
    cn_conn conns[CN_MAX_CONNS];
    uint64_t next_gen;
    cn_store *stores; /* n_stores of cap_stores */
    size_t n_stores, cap_stores;
    cn_session sessions[CN_MAX_SESSIONS];
    size_t n_sessions;
    uint32_t next_sid;
    cn_breaker breakers[CN_MAX_BREAKERS];
    char connecting[CN_MAX_CONNS][MAXNODELEN + 1]; /* peers a connector thread works on */
    uint64_t lim[L_COUNT];
    uint64_t ctr[C_COUNT];
    double tokens; /* the rate limit's bucket */
    int64_t tokens_at_us;
    uint8_t ae_ctl[512]; /* the control message of every session message we send */
    size_t ae_ctl_len;
    ei_x_buff scratch; /* packets being built */
    cn_peer_key pkeys[CN_MAX_PEER_KEYS];
    size_t n_pkeys;
    uint8_t *pk_secret;   /* CN_MAX_PEER_KEYS x 32 bytes, sodium_allocarray: the keys */
    lt_aeseal *seal;      /* CN_MAX_SESSIONS + 1, sodium_allocarray: each session's seal state,
                             and a spare for a HELLO being tried */
    uint8_t *sbuf, *obuf; /* a message being sealed, one opened (malloc'd, grown) */
    size_t sbuf_cap, obuf_cap;
} cn_node;

/* Write end of the self-pipe: the one global, because a signal handler can reach nothing else. */
static int cn_signal_wfd = -1;

static int64_t cn_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A node hash as it travels on the wire (docs/MERKLE.md): hi ^ lo. */
static uint64_t cn_fold(lt_hash128_t h) {
    return h.hi ^ h.lo;
}

/* Finds limit key[0..len) (borrowed). Returns its index or -1. */
static int cn_limit_find(const char *key, size_t len) {
    for (int i = 0; i < L_COUNT; i++) {
        if (strlen(cn_limit_defs[i].name) == len && memcmp(cn_limit_defs[i].name, key, len) == 0)
            return i;
    }
    return -1;
}

static int cn_limit_ok(int i, uint64_t v) {
    return v >= cn_limit_defs[i].min && v <= cn_limit_defs[i].max;
}

/* Applies "key=value" text s (borrowed) to lim. Returns 0, or -1 after a message on stderr. */
static int cn_limit_text(uint64_t *lim, const char *s) {
    const char *key;
    size_t key_len;
    uint64_t v;
    int i;
    if (lt_limit_parse(s, strlen(s), &key, &key_len, &v) < 0 ||
        (i = cn_limit_find(key, key_len)) < 0 || !cn_limit_ok(i, v)) {
        fprintf(stderr, "lattice_cnode: bad limit: %s\n", s);
        return -1;
    }
    lim[i] = v;
    return 0;
}

/* Applies $LATTICE_CNODE_LIMITS ("k=v,k=v") to lim. Returns 0 or -1. */
static int cn_limits_env(uint64_t *lim) {
    const char *env = getenv("LATTICE_CNODE_LIMITS");
    char item[128];
    if (env == NULL)
        return 0;
    while (*env != '\0') {
        const char *comma = strchr(env, ',');
        size_t n = comma != NULL ? (size_t)(comma - env) : strlen(env);
        if (n >= sizeof item) {
            fprintf(stderr, "lattice_cnode: bad LATTICE_CNODE_LIMITS\n");
            return -1;
        }
        memcpy(item, env, n);
        item[n] = '\0';
        if (n > 0 && cn_limit_text(lim, item) < 0)
            return -1;
        env += n + (comma != NULL ? 1 : 0);
    }
    return 0;
}

/* ---- key lists ------------------------------------------------------------------------------ */

/* Appends a copy of key (borrowed) to l. Returns the new entry or NULL (l->failed set). */
static cn_key *cn_keys_add(cn_keys *l, const uint8_t *key, size_t key_len, unsigned side) {
    if (l->failed)
        return NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        cn_key *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->failed = 1;
            return NULL;
        }
        l->v = v;
        l->cap = cap;
    }
    cn_key *k = &l->v[l->n];
    k->key = malloc(key_len ? key_len : 1);
    if (k->key == NULL) {
        l->failed = 1;
        return NULL;
    }
    memcpy(k->key, key, key_len);
    k->key_len = (uint32_t)key_len;
    k->side = (uint8_t)side;
    k->has_digest = 0;
    l->n++;
    return k;
}

static void cn_keys_free(cn_keys *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Prints the usage text to out (borrowed). */
static void cn_usage(FILE *out) {
    fprintf(out,
            "usage: lattice_cnode --name NODE --owner NODE [--notify NAME] [--limit K=V]...\n"
            "       lattice_cnode --version | --help\n"
            "  --name NODE    this node's name, alive@host (listens on 127.0.0.1 only)\n"
            "  --owner NODE   the node to connect to; its connection closing stops this one\n"
            "  --notify NAME  a process registered on the owner, sent\n"
            "                 {lattice_cnode, ready, NodeName} once connected\n"
            "  --limit K=V    sets a limit (docs/CNODE.md); also $LATTICE_CNODE_LIMITS=K=V,K=V\n"
            "The cookie is read from $LATTICE_COOKIE, or from the file named by\n"
            "$LATTICE_COOKIE_FILE; it is never taken from the command line.\n");
}

/* Checks that name (borrowed) is alive@host within ei's limits, and copies the two parts into
 * alive and host (caller's buffers of EI_MAXALIVELEN + 1 and EI_MAXHOSTNAMELEN + 1 bytes, either
 * may be NULL). Returns 0, or -1 if name is malformed. */
static int cn_split_node_name(const char *name, char *alive, char *host) {
    const char *at = strchr(name, '@');
    size_t alive_len, host_len;

    if (at == NULL || strchr(at + 1, '@') != NULL || strlen(name) > MAXNODELEN - 1)
        return -1;
    alive_len = (size_t)(at - name);
    host_len = strlen(at + 1);
    if (alive_len == 0 || alive_len > EI_MAXALIVELEN || host_len == 0 ||
        host_len > EI_MAXHOSTNAMELEN)
        return -1;
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
    }
    if (alive != NULL) {
        memcpy(alive, name, alive_len);
        alive[alive_len] = '\0';
    }
    if (host != NULL)
        memcpy(host, at + 1, host_len + 1);
    return 0;
}

/* Overwrites n bytes at p (caller's) with zeros in a way the compiler may not drop. */
static void cn_wipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

/* Reads the cookie into out (caller's buffer of cap bytes, cap > EI_MAX_COOKIE_SIZE) from
 * $LATTICE_COOKIE or the file named by $LATTICE_COOKIE_FILE, with trailing white space removed,
 * and removes $LATTICE_COOKIE from the environment. Returns 0, or -1 after a message on stderr. */
static int cn_read_cookie(char *out, size_t cap) {
    const char *env = getenv("LATTICE_COOKIE");
    const char *path = getenv("LATTICE_COOKIE_FILE");
    size_t n = 0;

    if (env != NULL && env[0] != '\0') {
        n = strlen(env);
        if (n > EI_MAX_COOKIE_SIZE || n >= cap) {
            fprintf(stderr, "lattice_cnode: LATTICE_COOKIE is longer than %d bytes\n",
                    EI_MAX_COOKIE_SIZE);
            return -1;
        }
        memcpy(out, env, n + 1);
        unsetenv("LATTICE_COOKIE");
    } else if (path != NULL && path[0] != '\0') {
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            fprintf(stderr, "lattice_cnode: cannot read LATTICE_COOKIE_FILE %s: %s\n", path,
                    strerror(errno));
            return -1;
        }
        n = fread(out, 1, cap - 1, f);
        int failed = ferror(f);
        fclose(f);
        if (failed || n > EI_MAX_COOKIE_SIZE) {
            cn_wipe(out, cap);
            fprintf(stderr, "lattice_cnode: LATTICE_COOKIE_FILE %s: %s\n", path,
                    failed ? "read error" : "cookie too long");
            return -1;
        }
        out[n] = '\0';
    } else {
        fprintf(stderr, "lattice_cnode: no cookie: set LATTICE_COOKIE, or LATTICE_COOKIE_FILE to "
                        "a file holding it\n");
        return -1;
    }
    while (n > 0 &&
           (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
    if (n == 0 || memchr(out, '\0', n) != NULL) {
        fprintf(stderr, "lattice_cnode: the cookie is empty or holds a NUL byte\n");
        return -1;
    }
    return 0;
}

/* SIGTERM/SIGINT handler: wakes the loop through the self-pipe. */
static void cn_on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(cn_signal_wfd, &b, 1) < 0) {
        /* The pipe is full: the loop is already woken. */
    }
    errno = saved;
}

/* Makes a non-blocking, close-on-exec self-pipe, installs the handlers and ignores SIGPIPE (a
 * write to a closed socket then fails with EPIPE). Returns the read end, owned by the caller, or
 * -1. */
static int cn_setup_signals(void) {
    int p[2];
    struct sigaction sa;

    if (pipe(p) != 0)
        return -1;
    cn_signal_wfd = p[1];
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = cn_on_signal;
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0 ||
        sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        close(p[0]);
        close(p[1]);
        cn_signal_wfd = -1;
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    return p[0];
}

/* A set of borrowed keys, for the few hundred to max_keys keys of one RESOLVE: open addressing
 * by XXH3-64, load at most 1/2. Owns its arrays, not the keys. */
typedef struct {
    const uint8_t **key;
    size_t *len;
    size_t mask;
} cn_keyset;

static int cn_keyset_init(cn_keyset *ks, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    ks->key = calloc(cap, sizeof *ks->key);
    ks->len = calloc(cap, sizeof *ks->len);
    ks->mask = cap - 1;
    return ks->key != NULL && ks->len != NULL ? 0 : -1;
}

static void cn_keyset_free(cn_keyset *ks) {
    free(ks->key);
    free(ks->len);
    memset(ks, 0, sizeof *ks);
}

/* The slot of key in ks, or of the empty slot where it would go. */
static size_t cn_keyset_slot(const cn_keyset *ks, const uint8_t *key, size_t len) {
    size_t i = (size_t)lt_hash64(key, len, 0) & ks->mask;
    while (ks->key[i] != NULL && !(ks->len[i] == len && memcmp(ks->key[i], key, len) == 0))
        i = (i + 1) & ks->mask;
    return i;
}

/* Adds key (borrowed; it must outlive the set); at most the n keys the set was made for. */
static void cn_keyset_add(cn_keyset *ks, const uint8_t *key, size_t len) {
    size_t i = cn_keyset_slot(ks, key, len);
    ks->key[i] = key;
    ks->len[i] = len;
}

static int cn_keyset_has(const cn_keyset *ks, const uint8_t *key, size_t len) {
    return ks->key[cn_keyset_slot(ks, key, len)] != NULL;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void cn_session_fail(cn_node *n, cn_session *s, const char *why, int abort_code);

/* Takes ownership of fd, a connection to node name (borrowed), and makes it non-blocking.
 * Returns the new slot (borrowed from n), or NULL after closing fd when the table is full. */
static cn_conn *cn_conn_add(cn_node *n, int fd, const char *name, int is_owner) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        ei_close_connection(fd);
        return NULL;
    }
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        cn_conn *c = &n->conns[i];
        if (c->fd < 0) {
            memset(c, 0, sizeof *c);
            c->fd = fd;
            c->is_owner = is_owner;
            c->gen = ++n->next_gen;
            snprintf(c->node, sizeof c->node, "%s", name);
            return c;
        }
    }
    fprintf(stderr, "lattice_cnode: too many connections; refusing %s\n", name);
    ei_close_connection(fd);
    return NULL;
}

/* The slot of a live connection to node (borrowed), or -1. */
static int cn_conn_find(cn_node *n, const char *node) {
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (n->conns[i].fd >= 0 && !n->conns[i].dead && strcmp(n->conns[i].node, node) == 0)
            return i;
    }
    return -1;
}

/* Closes c's connection, ends the sessions that ran over it and frees its slot. Returns 1 if it
 * was the owner's (time to stop), 0 otherwise. */
static int cn_conn_close(cn_node *n, cn_conn *c) {
    int was_owner = c->is_owner;
    int slot = (int)(c - n->conns);
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state != S_FREE && s->state != S_CONNECTING && s->conn == slot &&
            s->conn_gen == c->gen) {
            s->conn = -1;
            cn_session_fail(n, s, "disconnected", 0);
        }
    }
    ei_close_connection(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    n->ctr[C_connections_closed]++;
    return was_owner;
}

/* Writes what c has queued, as far as the socket takes it. Marks c dead on an error. */
static void cn_conn_flush(cn_node *n, cn_conn *c) {
    while (c->out_off < c->out_len && !c->dead) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            n->ctr[C_bytes_out] += (uint64_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            c->dead = 1;
        }
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
}

/* Queues the n parts (borrowed) as one packet, length prefix included, on c, and tries to write
 * it. Returns the packet's bytes on the wire, or 0 if c is dead or overflowed (then marked dead).
 */
static size_t cn_conn_queue(cn_node *n, cn_conn *c, const void *const *parts, const size_t *lens,
                            int nparts) {
    size_t total = 0;
    for (int i = 0; i < nparts; i++)
        total += lens[i];
    if (c->dead || total > UINT32_MAX)
        return 0;
    if (c->out_len - c->out_off + total + 4 > n->lim[L_MAX_OUT_QUEUE]) {
        fprintf(stderr, "lattice_cnode: %s does not read its output; closing\n", c->node);
        n->ctr[C_out_queue_overflows]++;
        c->dead = 1;
        return 0;
    }
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off > 0 && c->out_len + total + 4 > c->out_cap) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + total + 4 > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + total + 4)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL) {
            c->dead = 1;
            return 0;
        }
        c->out = p;
        c->out_cap = cap;
    }
    uint8_t *w = c->out + c->out_len;
    w[0] = (uint8_t)(total >> 24);
    w[1] = (uint8_t)(total >> 16);
    w[2] = (uint8_t)(total >> 8);
    w[3] = (uint8_t)total;
    w += 4;
    for (int i = 0; i < nparts; i++) {
        if (lens[i] > 0)
            memcpy(w, parts[i], lens[i]);
        w += lens[i];
    }
    c->out_len += total + 4;
    cn_conn_flush(n, c);
    return total + 4;
}

/* Sends the encoded term in x (borrowed, with its version byte) to pid (borrowed) over c, the
 * connection the request came in on, if pid lives on c's node; otherwise drops it, counted.
 * Replies never go to a third node, so a term copied from a request can only go back to the
 * node that sent it. Returns the bytes queued (0 if dropped). */
static size_t cn_send(cn_node *n, cn_conn *c, const erlang_pid *pid, const ei_x_buff *x) {
    ei_x_buff *ctl = &n->scratch;
    static const uint8_t pass = LT_DIST_PASS_THROUGH;
    int rc = 0;

    if (strcmp(pid->node, c->node) != 0) {
        n->ctr[C_msgs_other]++;
        return 0;
    }
    ctl->index = 0;
    rc |= ei_x_encode_version(ctl);
    rc |= ei_x_encode_tuple_header(ctl, 3);
    rc |= ei_x_encode_long(ctl, LT_DOP_SEND);
    rc |= ei_x_encode_atom(ctl, "");
    rc |= ei_x_encode_pid(ctl, pid);
    if (rc != 0)
        return 0;
    const void *parts[3] = {&pass, ctl->buff, x->buff};
    size_t lens[3] = {1, (size_t)ctl->index, (size_t)x->index};
    return cn_conn_queue(n, c, parts, lens, 3);
}

/* Sends one session message (header hdr, LT_AE_HEADER bytes, then body[0..len), both borrowed)
 * to the peer over c, as a binary to CN_AE_NAME. Returns its bytes on the wire (0: not sent). */
static size_t cn_send_ae(cn_node *n, cn_conn *c, const uint8_t *hdr, const uint8_t *body,
                         size_t len) {
    static const uint8_t pass = LT_DIST_PASS_THROUGH;
    uint8_t bin[6];
    size_t blen = LT_AE_HEADER + len;
    bin[0] = LT_CNODE_VERSION_MAGIC;
    bin[1] = LT_CNODE_TAG_BINARY;
    bin[2] = (uint8_t)(blen >> 24);
    bin[3] = (uint8_t)(blen >> 16);
    bin[4] = (uint8_t)(blen >> 8);
    bin[5] = (uint8_t)blen;
    const void *parts[5] = {&pass, n->ae_ctl, bin, hdr, body};
    size_t lens[5] = {1, n->ae_ctl_len, sizeof bin, LT_AE_HEADER, len};
    return cn_conn_queue(n, c, parts, lens, 5);
}

/* Grows *buf (malloc'd, *cap bytes) to at least len bytes. 0, or -1 out of memory. */
static int cn_reserve(uint8_t **buf, size_t *cap, size_t len) {
    if (len <= *cap)
        return 0;
    size_t c = *cap ? *cap : 65536;
    while (c < len)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static lt_aeseal *cn_seal_of(cn_node *n, const cn_session *s) {
    return &n->seal[s - n->sessions];
}

/* Sends one session message of s (header hdr, body[0..len), borrowed) over c: sealed when s is
 * (the header's SEALED flag set, lt_aeseal_seal), as it is otherwise. Returns the bytes on the
 * wire (0: not sent) and sets *payload to the binary's size. */
static size_t cn_send_ae_s(cn_node *n, cn_conn *c, cn_session *s, const uint8_t *hdr,
                           const uint8_t *body, size_t len, size_t *payload) {
    if (s == NULL || !s->sealed) {
        *payload = LT_AE_HEADER + len;
        return cn_send_ae(n, c, hdr, body, len);
    }
    lt_aeseal *st = cn_seal_of(n, s);
    uint8_t h[LT_AE_HEADER];
    size_t out = 0, need = lt_aeseal_size(st, len);
    memcpy(h, hdr, LT_AE_HEADER);
    h[2] |= LT_AE_FLAG_SEALED;
    if (cn_reserve(&n->sbuf, &n->sbuf_cap, need) < 0 ||
        lt_aeseal_seal(st, h, body, len, n->sbuf, n->sbuf_cap, &out) != LT_AESEAL_OK)
        return 0;
    n->ctr[C_msgs_sealed]++;
    *payload = out;
    return cn_send_ae(n, c, n->sbuf, n->sbuf + LT_AE_HEADER, out - LT_AE_HEADER);
}

/* ---- peer keys ------------------------------------------------------------------------------- */

/* The index of the key for (store, peer), or -1. */
static int cn_pkey_find(cn_node *n, const uint8_t *store, size_t len, const char *peer) {
    for (int i = 0; i < CN_MAX_PEER_KEYS; i++) {
        const cn_peer_key *k = &n->pkeys[i];
        if (k->used && k->store_len == len && memcmp(k->store, store, len) == 0 &&
            strcmp(k->peer, peer) == 0)
            return i;
    }
    return -1;
}

static void cn_pkey_remove(cn_node *n, int i) {
    sodium_memzero(n->pk_secret + (size_t)i * LT_AESEAL_KEYLEN, LT_AESEAL_KEYLEN);
    memset(&n->pkeys[i], 0, sizeof n->pkeys[i]);
    n->n_pkeys--;
}

/* Sets the key (32 bytes, borrowed) for (store, peer). 0, or -1 when the table is full. */
static int cn_pkey_set(cn_node *n, const uint8_t *store, size_t len, const char *peer,
                       const uint8_t *key) {
    int i = cn_pkey_find(n, store, len, peer);
    for (int j = 0; i < 0 && j < CN_MAX_PEER_KEYS; j++) {
        if (!n->pkeys[j].used) {
            i = j;
            cn_peer_key *k = &n->pkeys[j];
            k->used = 1;
            memcpy(k->store, store, len);
            k->store_len = len;
            snprintf(k->peer, sizeof k->peer, "%s", peer);
            n->n_pkeys++;
        }
    }
    if (i < 0)
        return -1;
    memcpy(n->pk_secret + (size_t)i * LT_AESEAL_KEYLEN, key, LT_AESEAL_KEYLEN);
    return 0;
}

/* ---- handshake threads ---------------------------------------------------------------------- */

typedef struct {
    cn_node *n;
    char node[MAXNODELEN + 1];
} cn_connect_arg;

static void cn_handoff_send(cn_node *n, const cn_handoff *h) {
    if (write(n->hand_wfd, h, sizeof *h) != (ssize_t)sizeof *h) {
        /* The loop is gone or the pipe is broken: nothing to hand over to. */
        if (h->fd >= 0)
            ei_close_connection(h->fd);
    }
}

/* An acceptor thread: accepts connections, one handshake at a time, for ever. It reads n->ec
 * (which nothing changes once the loop runs) and the listen socket only. */
static void *cn_acceptor(void *arg) {
    cn_node *n = arg;
    for (;;) {
        ErlConnect peer;
        cn_handoff h;
        memset(&peer, 0, sizeof peer);
        memset(&h, 0, sizeof h);
        unsigned tmo = __atomic_load_n(&cn_handshake_ms, __ATOMIC_RELAXED);
        int fd = ei_accept_tmo(&n->ec, n->listen_fd, &peer, tmo);
        if (fd >= 0) {
            h.kind = H_ACCEPTED;
            h.fd = fd;
            peer.nodename[sizeof peer.nodename - 1] = '\0';
            snprintf(h.node, sizeof h.node, "%s", peer.nodename);
            cn_handoff_send(n, &h);
        } else if (erl_errno != ETIMEDOUT) {
            h.kind = H_ACCEPT_FAILED;
            h.fd = -1;
            cn_handoff_send(n, &h);
            (void)poll(NULL, 0, 10); /* no hot loop on a failing listen socket */
        }
    }
    return NULL;
}

/* A connector thread: one ei_connect_tmo, its outcome handed to the loop. Owns arg. */
static void *cn_connector(void *arg) {
    cn_connect_arg *a = arg;
    cn_handoff h;
    memset(&h, 0, sizeof h);
    unsigned tmo = __atomic_load_n(&cn_handshake_ms, __ATOMIC_RELAXED);
    h.fd = ei_connect_tmo(&a->n->ec, a->node, tmo);
    h.kind = h.fd >= 0 ? H_CONNECTED : H_CONNECT_FAILED;
    snprintf(h.node, sizeof h.node, "%s", a->node);
    cn_handoff_send(a->n, &h);
    free(a);
    return NULL;
}

/* Starts a detached thread running fn(arg). Returns 0 or -1. */
static int cn_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

/* Makes sure a connection to node (borrowed) is on its way. Returns 0, or -1 if no thread can
 * be started or too many are. */
static int cn_connect_start(cn_node *n, const char *node) {
    int free_slot = -1;
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (strcmp(n->connecting[i], node) == 0)
            return 0;
        if (n->connecting[i][0] == '\0' && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return -1;
    cn_connect_arg *a = malloc(sizeof *a);
    if (a == NULL)
        return -1;
    a->n = n;
    snprintf(a->node, sizeof a->node, "%s", node);
    if (cn_thread(cn_connector, a) < 0) {
        free(a);
        return -1;
    }
    snprintf(n->connecting[free_slot], sizeof n->connecting[free_slot], "%s", node);
    return 0;
}

/* ---- stores --------------------------------------------------------------------------------- */

static cn_store *cn_store_find(cn_node *n, const uint8_t *name, size_t len) {
    for (size_t i = 0; i < n->n_stores; i++) {
        if (n->stores[i].name_len == len && memcmp(n->stores[i].name, name, len) == 0)
            return &n->stores[i];
    }
    return NULL;
}

/* ---- sessions ------------------------------------------------------------------------------- */

static cn_breaker *cn_breaker_get(cn_node *n, const char *peer, int create) {
    cn_breaker *free_b = NULL;
    for (int i = 0; i < CN_MAX_BREAKERS; i++) {
        cn_breaker *b = &n->breakers[i];
        if (b->peer[0] != '\0' && strcmp(b->peer, peer) == 0)
            return b;
        if (b->peer[0] == '\0' && free_b == NULL)
            free_b = b;
    }
    if (!create)
        return NULL;
    if (free_b == NULL) { /* forget a closed one */
        for (int i = 0; i < CN_MAX_BREAKERS && free_b == NULL; i++) {
            if (n->breakers[i].state == B_CLOSED)
                free_b = &n->breakers[i];
        }
        if (free_b == NULL)
            return NULL;
    }
    memset(free_b, 0, sizeof *free_b);
    snprintf(free_b->peer, sizeof free_b->peer, "%s", peer);
    return free_b;
}

/* Whether a new session with peer may start now; a half-open breaker lets one trial through. */
static int cn_breaker_allows(cn_node *n, const char *peer, int64_t now) {
    cn_breaker *b = cn_breaker_get(n, peer, 0);
    if (b == NULL || b->state == B_CLOSED)
        return 1;
    if (b->state == B_OPEN && now >= b->open_until_us) {
        b->state = B_HALF_OPEN;
        b->trial = 0;
    }
    if (b->state == B_HALF_OPEN && !b->trial) {
        b->trial = 1;
        return 1;
    }
    return 0;
}

static void cn_breaker_outcome(cn_node *n, const char *peer, int ok) {
    cn_breaker *b = cn_breaker_get(n, peer, !ok);
    if (b == NULL)
        return;
    if (ok) {
        memset(b, 0, sizeof *b); /* closed, forgotten */
        return;
    }
    b->failures++;
    if (b->state == B_HALF_OPEN || b->failures >= n->lim[L_BREAKER_FAILURES]) {
        if (b->state != B_OPEN)
            n->ctr[C_breaker_trips]++;
        b->state = B_OPEN;
        b->trial = 0;
        b->open_until_us = cn_now_us() + (int64_t)n->lim[L_BREAKER_RESET_MS] * 1000;
    }
}

static cn_session *cn_session_new(cn_node *n) {
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state == S_FREE) {
            memset(s, 0, sizeof *s);
            s->conn = -1;
            lt_buf_init(&s->asmb);
            lt_buf_init(&s->pend);
            s->start_us = cn_now_us();
            s->deadline_us = s->start_us + (int64_t)n->lim[L_SESSION_TIMEOUT_MS] * 1000;
            n->n_sessions++;
            return s;
        }
    }
    return NULL;
}

static cn_session *cn_session_find(cn_node *n, const char *peer, uint32_t sid, int initiator) {
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state != S_FREE && s->state != S_DONE && s->sid == sid &&
            s->initiator == initiator && strcmp(s->peer, peer) == 0)
            return s;
    }
    return NULL;
}

static cn_session *cn_session_running(cn_node *n, const uint8_t *store, size_t len,
                                      const char *peer, int initiator_only) {
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state != S_FREE && s->state != S_DONE && s->store_len == len &&
            memcmp(s->store, store, len) == 0 && strcmp(s->peer, peer) == 0 &&
            (!initiator_only || s->initiator))
            return s;
    }
    return NULL;
}

static cn_conn *cn_session_conn(cn_node *n, cn_session *s) {
    if (s->conn < 0)
        return NULL;
    cn_conn *c = &n->conns[s->conn];
    if (c->fd < 0 || c->gen != s->conn_gen || c->dead)
        return NULL;
    return c;
}

/* The owner connection, or NULL. */
static cn_conn *cn_owner_conn(cn_node *n) {
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (n->conns[i].fd >= 0 && n->conns[i].is_owner && !n->conns[i].dead)
            return &n->conns[i];
    }
    return NULL;
}

static const char *cn_side_atom(unsigned side) {
    switch (side) {
    case LT_MERKLE_DIFFERS:
        return "differs";
    case LT_MERKLE_LOCAL_ONLY:
        return "local_only";
    default:
        return "remote_only";
    }
}

/* Sends the session's report to the store's owner process (docs/CNODE.md, Notifications). */
static void cn_session_notify(cn_node *n, cn_session *s) {
    cn_store *st = cn_store_find(n, s->store, s->store_len);
    cn_conn *oc = cn_owner_conn(n);
    ei_x_buff x;
    int rc = 0;
    if (st == NULL || oc == NULL || ei_x_new_with_version(&x) < 0)
        return;
    uint64_t logical = s->logical_in + s->logical_out;
    rc |= ei_x_encode_tuple_header(&x, 4);
    rc |= ei_x_encode_atom(&x, "lattice_cnode");
    rc |= ei_x_encode_atom(&x, "session");
    rc |= ei_x_encode_binary(&x, s->store, (int)s->store_len);
    rc |= ei_x_encode_map_header(&x, 16);
    rc |= ei_x_encode_atom(&x, "sealed");
    rc |= ei_x_encode_atom(&x, s->sealed ? "true" : "false");
    rc |= ei_x_encode_atom(&x, "id");
    rc |= ei_x_encode_ulong(&x, s->sid);
    rc |= ei_x_encode_atom(&x, "peer");
    rc |= ei_x_encode_atom(&x, s->peer);
    rc |= ei_x_encode_atom(&x, "peer_owner");
    rc |= ei_x_encode_atom(&x, s->peer_owner[0] ? s->peer_owner : "undefined");
    rc |= ei_x_encode_atom(&x, "role");
    rc |= ei_x_encode_atom(&x, s->initiator ? "initiator" : "responder");
    rc |= ei_x_encode_atom(&x, "result");
    if (s->result == R_ERROR) {
        rc |= ei_x_encode_tuple_header(&x, 2);
        rc |= ei_x_encode_atom(&x, "error");
        rc |= ei_x_encode_atom(&x, s->error);
    } else {
        rc |= ei_x_encode_atom(&x, s->result == R_EQUAL ? "equal" : "differ");
    }
    rc |= ei_x_encode_atom(&x, "keys");
    if (s->result == R_DIFFER && s->report.n > 0) {
        rc |= ei_x_encode_list_header(&x, (long)s->report.n);
        for (size_t i = 0; i < s->report.n && rc == 0; i++) {
            rc |= ei_x_encode_tuple_header(&x, 2);
            rc |= ei_x_encode_binary(&x, s->report.v[i].key, (int)s->report.v[i].key_len);
            rc |= ei_x_encode_atom(&x, cn_side_atom(s->report.v[i].side));
        }
    }
    rc |= ei_x_encode_empty_list(&x);
    rc |= ei_x_encode_atom(&x, "truncated");
    rc |= ei_x_encode_atom(&x, s->truncated ? "true" : "false");
    rc |= ei_x_encode_atom(&x, "round_trips");
    rc |= ei_x_encode_ulong(&x, (unsigned long)((logical + 1) / 2));
    rc |= ei_x_encode_atom(&x, "msgs_out");
    rc |= ei_x_encode_ulong(&x, s->msgs_out);
    rc |= ei_x_encode_atom(&x, "msgs_in");
    rc |= ei_x_encode_ulong(&x, s->msgs_in);
    rc |= ei_x_encode_atom(&x, "bytes_out");
    rc |= ei_x_encode_ulong(&x, s->bytes_out);
    rc |= ei_x_encode_atom(&x, "bytes_in");
    rc |= ei_x_encode_ulong(&x, s->bytes_in);
    rc |= ei_x_encode_atom(&x, "payload_out");
    rc |= ei_x_encode_ulong(&x, s->payload_out);
    rc |= ei_x_encode_atom(&x, "payload_in");
    rc |= ei_x_encode_ulong(&x, s->payload_in);
    rc |= ei_x_encode_atom(&x, "time_us");
    rc |= ei_x_encode_ulong(&x, (unsigned long)(cn_now_us() - s->start_us));
    if (rc == 0)
        (void)cn_send(n, oc, &st->owner, &x);
    ei_x_free(&x);
}

/* Ends s (its result already set): counts, tells the breaker and the owner, frees it. */
static void cn_session_end(cn_node *n, cn_session *s, int notify) {
    if (s->result == R_ERROR) {
        n->ctr[C_sessions_failed]++;
    } else {
        n->ctr[C_sessions_completed]++;
        if (s->result == R_EQUAL)
            n->ctr[C_sessions_equal]++;
        n->ctr[C_keys_reported] += s->report.n;
    }
    if (s->initiator)
        cn_breaker_outcome(n, s->peer, s->result != R_ERROR);
    if (notify)
        cn_session_notify(n, s);
    lt_buf_free(&s->asmb);
    lt_buf_free(&s->pend);
    cn_keys_free(&s->xkeys);
    cn_keys_free(&s->report);
    free(s->hashes);
    if (s->sealed)
        lt_aeseal_wipe(cn_seal_of(n, s));
    memset(s, 0, sizeof *s);
    s->state = S_FREE;
    n->n_sessions--;
}

/* Sends an ABORT for s at once (not rate limited), if its connection is up. */
static void cn_session_abort_msg(cn_node *n, cn_session *s, int code) {
    cn_conn *c = cn_session_conn(n, s);
    uint8_t hdr[LT_AE_HEADER], body = (uint8_t)code;
    if (c == NULL)
        return;
    hdr[0] = LT_AE_V1;
    hdr[1] = LT_AE_ABORT;
    hdr[2] = s->initiator ? LT_AE_FLAG_FROM_INIT : 0;
    hdr[3] = (uint8_t)(s->sid >> 24);
    hdr[4] = (uint8_t)(s->sid >> 16);
    hdr[5] = (uint8_t)(s->sid >> 8);
    hdr[6] = (uint8_t)s->sid;
    size_t payload = 0;
    size_t w = cn_send_ae_s(n, c, s, hdr, &body, 1, &payload);
    s->bytes_out += w;
    n->ctr[C_session_bytes_out] += w;
}

/* Ends s with error why (a static atom name); sends the peer ABORT abort_code if non-zero. */
static void cn_session_fail(cn_node *n, cn_session *s, const char *why, int abort_code) {
    if (abort_code != 0)
        cn_session_abort_msg(n, s, abort_code);
    s->result = R_ERROR;
    s->error = why;
    cn_session_end(n, s, 1);
}

static void cn_rate_refill(cn_node *n, int64_t now) {
    if (n->lim[L_RATE_BYTES] == 0) {
        n->tokens = (double)n->lim[L_RATE_BURST];
    } else if (now > n->tokens_at_us) {
        n->tokens += (double)n->lim[L_RATE_BYTES] * (double)(now - n->tokens_at_us) / 1e6;
        if (n->tokens > (double)n->lim[L_RATE_BURST])
            n->tokens = (double)n->lim[L_RATE_BURST];
    }
    n->tokens_at_us = now;
}

/* Sends what s has pending, fragment by fragment, while the rate limit allows. Returns 0, or -1
 * if s ended (failed or finished). */
static int cn_session_pump(cn_node *n, cn_session *s) {
    cn_conn *c = cn_session_conn(n, s);
    if (!s->pend_on)
        return 0;
    if (c == NULL) {
        cn_session_fail(n, s, "disconnected", 0);
        return -1;
    }
    while (s->pend_on) {
        if (n->lim[L_RATE_BYTES] > 0) {
            cn_rate_refill(n, cn_now_us());
            if (n->tokens <= 0) {
                if (!s->rate_waiting)
                    n->ctr[C_rate_waits]++;
                s->rate_waiting = 1;
                return 0;
            }
        }
        s->rate_waiting = 0;
        size_t left = s->pend.len - s->pend_off;
        size_t chunk = left < LT_AE_FRAGMENT ? left : LT_AE_FRAGMENT;
        int more = chunk < left;
        uint8_t hdr[LT_AE_HEADER];
        hdr[0] = LT_AE_V1;
        hdr[1] = (uint8_t)s->pend_kind;
        hdr[2] = (uint8_t)(s->pend_flags | (more ? LT_AE_FLAG_MORE : 0) |
                           (s->initiator ? LT_AE_FLAG_FROM_INIT : 0));
        hdr[3] = (uint8_t)(s->sid >> 24);
        hdr[4] = (uint8_t)(s->sid >> 16);
        hdr[5] = (uint8_t)(s->sid >> 8);
        hdr[6] = (uint8_t)s->sid;
        size_t estimate =
            chunk + LT_AE_HEADER + n->ae_ctl_len + 11 + (s->sealed ? LT_AESEAL_MAX_OVERHEAD : 0);
        if (s->bytes_in + s->bytes_out + estimate > n->lim[L_SESSION_BYTES]) {
            n->ctr[C_session_bytes_exceeded]++;
            cn_session_fail(n, s, "session_bytes", LT_AE_ABORT_SESSION_BYTES);
            return -1;
        }
        size_t payload = 0;
        size_t w = cn_send_ae_s(n, c, s, hdr, s->pend.data ? s->pend.data + s->pend_off : NULL,
                                chunk, &payload);
        if (w == 0) {
            cn_session_fail(n, s, "disconnected", 0);
            return -1;
        }
        s->bytes_out += w;
        s->payload_out += payload;
        s->msgs_out++;
        n->ctr[C_session_bytes_out] += w;
        n->tokens -= (double)w;
        s->pend_off += chunk;
        if (!more) {
            s->pend_on = 0;
            s->logical_out++;
            s->pend.len = 0;
            s->pend_off = 0;
        }
    }
    if (s->end_after_send) {
        cn_session_end(n, s, 1);
        return -1;
    }
    return 0;
}

/* Queues a session message of kind with the body in s->pend (already filled) and sends it as
 * the rate allows. Returns as cn_session_pump. */
static int cn_session_send(cn_node *n, cn_session *s, unsigned kind, unsigned flags) {
    if (s->pend.failed) {
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return -1;
    }
    s->pend_kind = kind;
    s->pend_flags = flags;
    s->pend_off = 0;
    s->pend_on = 1;
    return cn_session_pump(n, s);
}

/* Sends HELLO for s (its connection up). */
static int cn_session_hello(cn_node *n, cn_session *s) {
    cn_store *st = cn_store_find(n, s->store, s->store_len);
    if (st == NULL) {
        cn_session_fail(n, s, "no_store", 0);
        return -1;
    }
    lt_merkle_node root = lt_merkle_root(st->tree);
    uint8_t fold[8];
    lt_write_be64(fold, cn_fold(root.hash));
    s->pend.len = 0;
    lt_buf_put_u8(&s->pend, (uint8_t)s->levels);
    lt_buf_put(&s->pend, fold, 8);
    lt_buf_put_varint(&s->pend, root.count);
    lt_buf_put_u8(&s->pend, (uint8_t)s->store_len);
    lt_buf_put(&s->pend, s->store, s->store_len);
    s->state = S_WAIT_TREE;
    s->expect_level = 0;
    return cn_session_send(n, s, LT_AE_HELLO, 0);
}

/* Ends s as equal, telling the peer. */
static void cn_session_equal(cn_node *n, cn_session *s) {
    s->pend.len = 0;
    s->result = R_EQUAL;
    s->end_after_send = 1;
    (void)cn_session_send(n, s, LT_AE_EQUAL, 0);
}

typedef struct {
    cn_session *s;
    const lt_merkle *tree;
    uint64_t max;
    cn_keyset *skip; /* keys not to collect (cn_collect_hash_keys), or NULL */
} cn_collect;

/* lt_merkle_diff_fn for a BUCKETS message: this side's keys, and the peer's key hashes. */
static int cn_collect_bucket_diff(void *ctx, const uint8_t *key, size_t key_len,
                                  lt_merkle_side side) {
    cn_collect *cc = ctx;
    cn_session *s = cc->s;
    if (side == LT_MERKLE_REMOTE_ONLY) {
        if (key_len != 8)
            return 0;
        if (s->n_hashes >= cc->max) {
            s->truncated = 1;
            return 0;
        }
        if (s->n_hashes == s->cap_hashes) {
            size_t cap = s->cap_hashes ? 2 * s->cap_hashes : 16;
            uint64_t *h = realloc(s->hashes, cap * sizeof *h);
            if (h == NULL) {
                s->xkeys.failed = 1;
                return 1;
            }
            s->hashes = h;
            s->cap_hashes = cap;
        }
        s->hashes[s->n_hashes++] = lt_read_be64(key);
        return 0;
    }
    if (s->xkeys.n >= cc->max) {
        s->truncated = 1;
        return 0;
    }
    cn_key *k = cn_keys_add(&s->xkeys, key, key_len, side);
    if (k == NULL)
        return 1;
    k->has_digest = (uint8_t)lt_merkle_get(cc->tree, key, key_len, k->digest);
    return 0;
}

/* lt_merkle_diff_fn for lt_merkle_keys_with_hash: this side's keys for a peer's key hash. */
static int cn_collect_hash_keys(void *ctx, const uint8_t *key, size_t key_len,
                                lt_merkle_side side) {
    cn_collect *cc = ctx;
    cn_session *s = cc->s;
    (void)side;
    if (cc->skip != NULL && cn_keyset_has(cc->skip, key, key_len))
        return 0; /* X listed it: already confirmed or dropped above */
    if (s->report.n >= cc->max) {
        s->truncated = 1;
        return 1;
    }
    cn_key *k = cn_keys_add(&s->report, key, key_len, LT_MERKLE_LOCAL_ONLY);
    if (k == NULL)
        return 1;
    k->has_digest = (uint8_t)lt_merkle_get(cc->tree, key, key_len, k->digest);
    return 0;
}

static void cn_put_owner(cn_node *n, lt_buf *b) {
    size_t len = strlen(n->owner_node);
    lt_buf_put_u8(b, (uint8_t)len);
    lt_buf_put(b, n->owner_node, len);
}

static void cn_put_key(lt_buf *b, const cn_key *k, int with_side) {
    static const uint8_t zero[LT_MERKLE_DIGEST];
    if (with_side) /* 0 differs, 1 only the sender holds it, 2 the sender no longer does */
        lt_buf_put_u8(b, !k->has_digest ? 2 : k->side == LT_MERKLE_DIFFERS ? 0 : 1);
    lt_buf_put_u8(b, (uint8_t)(k->key_len >> 8));
    lt_buf_put_u8(b, (uint8_t)k->key_len);
    lt_buf_put(b, k->key, k->key_len);
    lt_buf_put(b, k->has_digest ? k->digest : zero, LT_MERKLE_DIGEST);
}

static void cn_copy_owner(cn_session *s, const lt_ae_keys_msg *m) {
    size_t len = m->owner_len < MAXNODELEN ? m->owner_len : MAXNODELEN;
    memcpy(s->peer_owner, m->owner, len);
    s->peer_owner[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s->peer_owner[i];
        if (ch <= ' ' || ch >= 0x7f) { /* not a node name: say nothing */
            s->peer_owner[0] = '\0';
            return;
        }
    }
}

/* Sends ABORT code for session sid to the peer on c, outside any session of ours (a refused
 * HELLO). */
static void cn_abort_direct(cn_node *n, cn_conn *c, uint32_t sid, int code) {
    uint8_t hdr[LT_AE_HEADER], body = (uint8_t)code;
    hdr[0] = LT_AE_V1;
    hdr[1] = LT_AE_ABORT;
    hdr[2] = 0;
    hdr[3] = (uint8_t)(sid >> 24);
    hdr[4] = (uint8_t)(sid >> 16);
    hdr[5] = (uint8_t)(sid >> 8);
    hdr[6] = (uint8_t)sid;
    n->ctr[C_session_bytes_out] += cn_send_ae(n, c, hdr, &body, 1);
}

static const char *cn_abort_reason(int code) {
    switch (code) {
    case LT_AE_ABORT_NO_STORE:
        return "no_store";
    case LT_AE_ABORT_LEVELS:
        return "levels_mismatch";
    case LT_AE_ABORT_BUSY:
        return "busy";
    case LT_AE_ABORT_MALFORMED:
        return "malformed";
    case LT_AE_ABORT_TOO_BIG:
        return "too_big";
    case LT_AE_ABORT_TIMEOUT:
        return "timeout";
    case LT_AE_ABORT_NOMEM:
        return "nomem";
    case LT_AE_ABORT_SESSION_BYTES:
        return "session_bytes";
    case LT_AE_ABORT_NO_KEY:
        return "no_key";
    case LT_AE_ABORT_BAD_SEAL:
        return "bad_seal";
    default:
        return "peer_abort";
    }
}

static void cn_session_malformed(cn_node *n, cn_session *s) {
    n->ctr[C_malformed]++;
    cn_session_fail(n, s, "malformed", LT_AE_ABORT_MALFORMED);
}

static int cn_report_add(cn_node *n, cn_session *s, const uint8_t *key, size_t len, unsigned side) {
    if (s->report.n >= n->lim[L_MAX_KEYS]) {
        s->truncated = 1;
        return 0;
    }
    return cn_keys_add(&s->report, key, len, side) != NULL ? 0 : -1;
}

/* CHILDREN of level k received in S_WAIT_TREE: answer with the next level or the buckets. */
static void cn_on_children(cn_node *n, cn_session *s, cn_store *st, const uint8_t *b, size_t len) {
    unsigned level = 0;
    size_t cap = LT_MERKLE_FANOUT * (len / (1 + 8 * LT_MERKLE_FANOUT) + 1), nout = 0;
    uint64_t *diff = malloc(cap * sizeof *diff);
    lt_err err;
    if (diff == NULL) {
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    err = lt_merkle_diff_children(st->tree, b, len, &level, diff, cap, &nout);
    if (err != LT_OK || level != s->expect_level) {
        free(diff);
        cn_session_malformed(n, s);
        return;
    }
    if (nout == 0) {
        free(diff);
        cn_session_equal(n, s);
        return;
    }
    s->pend.len = 0;
    if (level + 1 == s->levels) {
        err = lt_merkle_encode_buckets(st->tree, diff, nout, &s->pend);
        s->state = S_WAIT_RESOLVE;
    } else {
        err = lt_merkle_encode_children(st->tree, level + 1, diff, nout, &s->pend);
        s->expect_level = level + 2;
    }
    free(diff);
    if (err != LT_OK) {
        cn_session_fail(n, s, err == LT_E_NOMEM ? "nomem" : "too_big",
                        err == LT_E_NOMEM ? LT_AE_ABORT_NOMEM : LT_AE_ABORT_TOO_BIG);
        return;
    }
    (void)cn_session_send(n, s, s->state == S_WAIT_RESOLVE ? LT_AE_BUCKETS : LT_AE_CHILDREN, 0);
}

static void cn_send_resolve(cn_node *n, cn_session *s, cn_store *st);

/* BUCKETS received (this side is X): the candidates, then (after confirm_delay_ms) RESOLVE. */
static void cn_on_buckets(cn_node *n, cn_session *s, cn_store *st, const uint8_t *b, size_t len) {
    cn_collect cc = {s, st->tree, n->lim[L_MAX_KEYS], NULL};
    lt_err err = lt_merkle_diff_buckets(st->tree, b, len, cn_collect_bucket_diff, &cc);
    if (err == LT_E_NOMEM || s->xkeys.failed) {
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    if (err != LT_OK) {
        cn_session_malformed(n, s);
        return;
    }
    if (s->xkeys.n == 0 && s->n_hashes == 0) {
        cn_session_equal(n, s);
        return;
    }
    if (n->lim[L_CONFIRM_DELAY_MS] > 0) { /* the confirm pass waits for writes in flight */
        s->state = S_CONFIRM;
        s->confirm_us = cn_now_us() + (int64_t)n->lim[L_CONFIRM_DELAY_MS] * 1000;
        return;
    }
    cn_send_resolve(n, s, st);
}

/* Sends RESOLVE (this side is X) with its candidates' current digests. */
static void cn_send_resolve(cn_node *n, cn_session *s, cn_store *st) {
    for (size_t i = 0; i < s->xkeys.n; i++) {
        cn_key *k = &s->xkeys.v[i];
        k->has_digest = (uint8_t)lt_merkle_get(st->tree, k->key, k->key_len, k->digest);
    }
    lt_buf *p = &s->pend;
    p->len = 0;
    cn_put_owner(n, p);
    lt_buf_put_varint(p, s->n_hashes);
    for (size_t i = 0; i < s->n_hashes; i++) {
        uint8_t h[8];
        lt_write_be64(h, s->hashes[i]);
        lt_buf_put(p, h, 8);
    }
    lt_buf_put_varint(p, s->xkeys.n);
    for (size_t i = 0; i < s->xkeys.n; i++)
        cn_put_key(p, &s->xkeys.v[i], 1);
    s->state = S_WAIT_RESULT;
    (void)cn_session_send(n, s, LT_AE_RESOLVE, s->truncated ? LT_AE_FLAG_TRUNCATED : 0);
}

/* RESOLVE received (this side is Y): confirm X's keys, resolve the hashes, RESULT, report. */
static void cn_on_resolve(cn_node *n, cn_session *s, cn_store *st, unsigned flags, const uint8_t *b,
                          size_t len) {
    lt_ae_keys_msg m;
    lt_ae_key k;
    size_t off = 0, i = 0;
    uint8_t d[LT_MERKLE_DIGEST];
    /* The decoder's cap is the tree's wire cap, not max_keys: the peer may list more than our
     * max_keys allows, and the report is cut to max_keys below. */
    if (lt_ae_resolve_parse(b, len, LT_MERKLE_MAX_WIRE_ENTRIES, &m) < 0) {
        cn_session_malformed(n, s);
        return;
    }
    cn_copy_owner(s, &m);
    if (flags & LT_AE_FLAG_TRUNCATED)
        s->truncated = 1;
    size_t bytes = (size_t)((m.n_keys + 7) / 8);
    uint8_t *bitmap = calloc(bytes ? bytes : 1, 1);
    if (bitmap == NULL) {
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    int failed = 0;
    cn_keyset listed; /* X's keys: the hashes of X's differing keys come back to us too */
    if (cn_keyset_init(&listed, (size_t)m.n_keys) < 0) {
        cn_keyset_free(&listed);
        free(bitmap);
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    while (lt_ae_key_next(&m, 1, &off, &k)) {
        int here = lt_merkle_get(st->tree, k.key, k.key_len, d);
        cn_keyset_add(&listed, k.key, k.key_len);
        if (k.side == 2 && here) { /* X dropped it meanwhile; we hold it */
            bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
            failed |= cn_report_add(n, s, k.key, k.key_len, LT_MERKLE_LOCAL_ONLY);
        } else if (k.side == 2 || (here && memcmp(d, k.digest, LT_MERKLE_DIGEST) == 0)) {
            n->ctr[C_confirm_dropped]++; /* converged during the session */
        } else {
            bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
            failed |= cn_report_add(n, s, k.key, k.key_len,
                                    here ? LT_MERKLE_DIFFERS : LT_MERKLE_REMOTE_ONLY);
        }
        i++;
    }
    cn_collect cc = {s, st->tree, n->lim[L_MAX_KEYS], &listed};
    size_t before = s->report.n;
    for (uint64_t h = 0; h < m.n_hashes && !s->report.failed; h++)
        (void)lt_merkle_keys_with_hash(st->tree, lt_read_be64(m.hashes + 8 * h),
                                       cn_collect_hash_keys, &cc);
    cn_keyset_free(&listed);
    if (failed || s->report.failed) {
        free(bitmap);
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    lt_buf *p = &s->pend;
    p->len = 0;
    cn_put_owner(n, p);
    lt_buf_put_varint(p, m.n_keys);
    lt_buf_put(p, bitmap, bytes);
    free(bitmap);
    lt_buf_put_varint(p, s->report.n - before);
    for (size_t j = before; j < s->report.n; j++)
        cn_put_key(p, &s->report.v[j], 0);
    s->result = s->report.n > 0 ? R_DIFFER : R_EQUAL;
    s->end_after_send = 1;
    (void)cn_session_send(n, s, LT_AE_RESULT, 0);
}

/* RESULT received (this side is X): the confirmed keys and the peer's, then report. */
static void cn_on_result(cn_node *n, cn_session *s, cn_store *st, const uint8_t *b, size_t len) {
    lt_ae_keys_msg m;
    lt_ae_key k;
    size_t off = 0;
    uint8_t d[LT_MERKLE_DIGEST];
    int failed = 0;
    if (lt_ae_result_parse(b, len, s->xkeys.n, LT_MERKLE_MAX_WIRE_ENTRIES, &m) < 0) {
        cn_session_malformed(n, s);
        return;
    }
    cn_copy_owner(s, &m);
    for (size_t i = 0; i < s->xkeys.n; i++) {
        if (m.bitmap[i / 8] & (1u << (i % 8)))
            failed |= cn_report_add(n, s, s->xkeys.v[i].key, s->xkeys.v[i].key_len,
                                    s->xkeys.v[i].has_digest ? s->xkeys.v[i].side
                                                             : LT_MERKLE_REMOTE_ONLY);
        else
            n->ctr[C_confirm_dropped]++; /* the peer found it converged */
    }
    while (lt_ae_key_next(&m, 0, &off, &k)) {
        int here = lt_merkle_get(st->tree, k.key, k.key_len, d);
        if (here && memcmp(d, k.digest, LT_MERKLE_DIGEST) == 0)
            n->ctr[C_confirm_dropped]++;
        else
            failed |= cn_report_add(n, s, k.key, k.key_len,
                                    here ? LT_MERKLE_DIFFERS : LT_MERKLE_REMOTE_ONLY);
    }
    if (failed) {
        cn_session_fail(n, s, "nomem", 0);
        return;
    }
    s->result = s->report.n > 0 ? R_DIFFER : R_EQUAL;
    cn_session_end(n, s, 1);
}

/* One complete session message for s. s may be ended (freed) on return. */
static void cn_session_on_msg(cn_node *n, cn_session *s, unsigned kind, unsigned flags,
                              const uint8_t *b, size_t len) {
    s->logical_in++;
    if (kind == LT_AE_ABORT) {
        int code = lt_ae_abort_parse(b, len);
        if (code == LT_AE_ABORT_BUSY)
            n->ctr[C_busy_refused]++;
        cn_session_fail(n, s, cn_abort_reason(code), 0);
        return;
    }
    if (s->pend_on) { /* the peer may speak only once we have: lockstep */
        cn_session_malformed(n, s);
        return;
    }
    if (kind == LT_AE_EQUAL && len == 0 && s->state != S_WAIT_RESULT) {
        s->result = R_EQUAL;
        cn_session_end(n, s, 1);
        return;
    }
    cn_store *st = cn_store_find(n, s->store, s->store_len);
    if (st == NULL) {
        cn_session_fail(n, s, "no_store", LT_AE_ABORT_NO_STORE);
        return;
    }
    if (s->state == S_WAIT_TREE && kind == LT_AE_CHILDREN && s->expect_level < s->levels)
        cn_on_children(n, s, st, b, len);
    else if (s->state == S_WAIT_TREE && kind == LT_AE_BUCKETS && s->expect_level == s->levels)
        cn_on_buckets(n, s, st, b, len);
    else if (s->state == S_WAIT_RESOLVE && kind == LT_AE_RESOLVE)
        cn_on_resolve(n, s, st, flags, b, len);
    else if (s->state == S_WAIT_RESULT && kind == LT_AE_RESULT)
        cn_on_result(n, s, st, b, len);
    else
        cn_session_malformed(n, s);
}

/* A HELLO from c's node for a session we do not have: start the responder's side. seal: the
 * state that opened it (a sealed HELLO; copied into the session), or NULL (a plain one). */
static void cn_on_hello(cn_node *n, cn_conn *c, const lt_ae_header *h, size_t wire, size_t blen,
                        const lt_aeseal *seal) {
    lt_ae_hello hello;
    if (lt_ae_hello_parse(h->body, h->body_len, LT_MERKLE_MAX_LEVELS, &hello) < 0) {
        n->ctr[C_malformed]++;
        cn_abort_direct(n, c, h->sid, LT_AE_ABORT_MALFORMED);
        return;
    }
    if (seal == NULL) {
        /* A plain HELLO: refused when the store requires keys, or when it holds a key for
         * this peer (sealing is not optional once keyed: no downgrade). */
        cn_store *ks = cn_store_find(n, hello.store, hello.store_len);
        int keyed = cn_pkey_find(n, hello.store, hello.store_len, c->node) >= 0;
        if (keyed || (ks != NULL && ks->require_keys)) {
            n->ctr[keyed ? C_plaintext_refused : C_no_key_refused]++;
            cn_abort_direct(n, c, h->sid, LT_AE_ABORT_NO_KEY);
            return;
        }
    }
    cn_session *mine = cn_session_running(n, hello.store, hello.store_len, c->node, 1);
    if (n->n_sessions >= n->lim[L_MAX_SESSIONS] ||
        (mine != NULL && strcmp(n->ec.thisnodename, c->node) < 0)) {
        n->ctr[C_busy_refused]++;
        cn_abort_direct(n, c, h->sid, LT_AE_ABORT_BUSY);
        return;
    }
    cn_session *s = cn_session_new(n);
    if (s == NULL) {
        n->ctr[C_busy_refused]++;
        cn_abort_direct(n, c, h->sid, LT_AE_ABORT_BUSY);
        return;
    }
    n->ctr[C_sessions_started]++;
    s->initiator = 0;
    s->sid = h->sid;
    if (seal != NULL) {
        *cn_seal_of(n, s) = *seal;
        s->sealed = 1;
        n->ctr[C_sessions_sealed]++;
    }
    snprintf(s->peer, sizeof s->peer, "%s", c->node);
    s->conn = (int)(c - n->conns);
    s->conn_gen = c->gen;
    memcpy(s->store, hello.store, hello.store_len);
    s->store_len = hello.store_len;
    s->bytes_in = wire;
    s->payload_in = blen;
    s->msgs_in = 1;
    s->logical_in = 1;
    s->state = S_WAIT_TREE;
    cn_store *st = cn_store_find(n, hello.store, hello.store_len);
    if (st == NULL) {
        cn_session_fail(n, s, "no_store", LT_AE_ABORT_NO_STORE);
        return;
    }
    s->levels = lt_merkle_levels(st->tree);
    if (s->levels != hello.levels) {
        cn_session_fail(n, s, "levels_mismatch", LT_AE_ABORT_LEVELS);
        return;
    }
    lt_merkle_node root = lt_merkle_root(st->tree);
    if (cn_fold(root.hash) == hello.root_fold && root.count == hello.count) {
        cn_session_equal(n, s);
        return;
    }
    uint64_t zero = 0;
    s->pend.len = 0;
    lt_err err = lt_merkle_encode_children(st->tree, 0, &zero, 1, &s->pend);
    if (err != LT_OK) {
        cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
        return;
    }
    s->expect_level = 1;
    (void)cn_session_send(n, s, LT_AE_CHILDREN, 0);
}

/* A sealed HELLO from c's node (bin[0..blen), borrowed, its header parsed into h): each key held
 * for that node is tried (the store's name is inside); the one that opens it must be the key
 * of the store the HELLO names. Refused: ABORT no_key (no key for the node) or bad_seal. */
static void cn_on_sealed_hello(cn_node *n, cn_conn *c, lt_ae_header *h, const uint8_t *bin,
                               size_t blen, size_t wire) {
    lt_aeseal *tmp = &n->seal[CN_MAX_SESSIONS];
    int tried = 0;
    if (cn_reserve(&n->obuf, &n->obuf_cap, blen) < 0) {
        cn_abort_direct(n, c, h->sid, LT_AE_ABORT_NOMEM);
        return;
    }
    for (int i = 0; i < CN_MAX_PEER_KEYS; i++) {
        const cn_peer_key *k = &n->pkeys[i];
        size_t olen = 0;
        if (!k->used || strcmp(k->peer, c->node) != 0)
            continue;
        tried++;
        lt_aeseal_init(tmp, n->pk_secret + (size_t)i * LT_AESEAL_KEYLEN, 0);
        if (lt_aeseal_open(tmp, bin, blen, n->obuf, n->obuf_cap, &olen) != LT_AESEAL_OK)
            continue;
        lt_ae_hello hello;
        if (lt_ae_hello_parse(n->obuf, olen, LT_MERKLE_MAX_LEVELS, &hello) == 0 &&
            (hello.store_len != k->store_len || memcmp(hello.store, k->store, k->store_len) != 0))
            continue; /* another store's key (the same bytes): try the others */
        n->ctr[C_msgs_opened]++;
        h->body = n->obuf;
        h->body_len = olen;
        cn_on_hello(n, c, h, wire, blen, tmp);
        lt_aeseal_wipe(tmp);
        return;
    }
    lt_aeseal_wipe(tmp);
    n->ctr[tried ? C_sealed_refused : C_no_key_refused]++;
    cn_abort_direct(n, c, h->sid, tried ? LT_AE_ABORT_BAD_SEAL : LT_AE_ABORT_NO_KEY);
}

/* A session message (the binary bin[0..blen), borrowed) in a packet of `wire` bytes from c. */
static void cn_on_session_packet(cn_node *n, cn_conn *c, const uint8_t *bin, size_t blen,
                                 size_t wire) {
    lt_ae_header h;
    n->ctr[C_msgs_session]++;
    n->ctr[C_session_bytes_in] += wire;
    if (n->lim[L_RATE_BYTES] > 0) {
        cn_rate_refill(n, cn_now_us());
        n->tokens -= (double)wire;
    }
    if (lt_ae_header_parse(bin, blen, &h) < 0) {
        n->ctr[C_malformed]++;
        return;
    }
    int from_init = (h.flags & LT_AE_FLAG_FROM_INIT) != 0;
    cn_session *s = cn_session_find(n, c->node, h.sid, !from_init);
    int sealed = (h.flags & LT_AE_FLAG_SEALED) != 0;
    if (s == NULL) {
        if (from_init && h.kind == LT_AE_HELLO && !(h.flags & LT_AE_FLAG_MORE) && sealed)
            cn_on_sealed_hello(n, c, &h, bin, blen, wire);
        else if (from_init && h.kind == LT_AE_HELLO && !(h.flags & LT_AE_FLAG_MORE))
            cn_on_hello(n, c, &h, wire, blen, NULL);
        else
            n->ctr[C_malformed]++; /* a session that is over, or never was */
        return;
    }
    if (s->conn != (int)(c - n->conns) || s->conn_gen != c->gen) {
        n->ctr[C_malformed]++;
        return;
    }
    s->bytes_in += wire;
    s->payload_in += blen;
    s->msgs_in++;
    if (s->bytes_in + s->bytes_out > n->lim[L_SESSION_BYTES]) {
        n->ctr[C_session_bytes_exceeded]++;
        cn_session_fail(n, s, "session_bytes", LT_AE_ABORT_SESSION_BYTES);
        return;
    }
    if (s->sealed && sealed) {
        size_t olen = 0;
        lt_aeseal_err e =
            cn_reserve(&n->obuf, &n->obuf_cap, blen) < 0
                ? LT_AESEAL_E_MALFORMED
                : lt_aeseal_open(cn_seal_of(n, s), bin, blen, n->obuf, n->obuf_cap, &olen);
        if (e != LT_AESEAL_OK) {
            n->ctr[e == LT_AESEAL_E_REPLAY ? C_sealed_replayed : C_sealed_refused]++;
            cn_session_fail(n, s, e == LT_AESEAL_E_REPLAY ? "replay" : "bad_seal",
                            LT_AE_ABORT_BAD_SEAL);
            return;
        }
        n->ctr[C_msgs_opened]++;
        h.body = n->obuf;
        h.body_len = olen;
    } else if (s->sealed) {
        /* A plain message in a sealed session: refused, but for the ABORT of a peer that could
         * not open our HELLO (it has no key, or another), which cannot be sealed. */
        if (!(s->initiator && cn_seal_of(n, s)->recv_ctr == 0 && h.kind == LT_AE_ABORT)) {
            n->ctr[C_plaintext_refused]++;
            cn_session_fail(n, s, "plaintext", LT_AE_ABORT_BAD_SEAL);
            return;
        }
    } else if (sealed) {
        cn_session_malformed(n, s);
        return;
    }
    if (s->asm_on && h.kind != s->asm_kind) {
        cn_session_malformed(n, s);
        return;
    }
    if (s->asm_on || (h.flags & LT_AE_FLAG_MORE)) {
        if (s->asmb.len + h.body_len > n->lim[L_MAX_MESSAGE]) {
            cn_session_fail(n, s, "too_big", LT_AE_ABORT_TOO_BIG);
            return;
        }
        lt_buf_put(&s->asmb, h.body, h.body_len);
        if (s->asmb.failed) {
            cn_session_fail(n, s, "nomem", LT_AE_ABORT_NOMEM);
            return;
        }
        s->asm_on = 1;
        s->asm_kind = h.kind;
        if (h.flags & LT_AE_FLAG_MORE)
            return;
        lt_buf whole = s->asmb; /* taken out: s may end while it is handled */
        lt_buf_init(&s->asmb);
        s->asm_on = 0;
        cn_session_on_msg(n, s, h.kind, h.flags, whole.data, whole.len);
        lt_buf_free(&whole);
        return;
    }
    cn_session_on_msg(n, s, h.kind, h.flags, h.body, h.body_len);
}

/* Starts the initiator's side of s: HELLO now if connected, else once connected. */
static void cn_session_start(cn_node *n, cn_session *s) {
    int slot = cn_conn_find(n, s->peer);
    if (slot >= 0) {
        s->conn = slot;
        s->conn_gen = n->conns[slot].gen;
        (void)cn_session_hello(n, s);
        return;
    }
    s->state = S_CONNECTING;
    if (cn_connect_start(n, s->peer) < 0)
        cn_session_fail(n, s, "connect", 0);
}

/* A handshake thread's outcome. */
static void cn_on_handoff(cn_node *n, const cn_handoff *h) {
    cn_conn *c = NULL;
    if (h->kind == H_ACCEPTED) {
        n->ctr[C_connections_accepted]++;
        (void)cn_conn_add(n, h->fd, h->node, 0);
        return;
    }
    if (h->kind == H_ACCEPT_FAILED) {
        n->ctr[C_handshakes_failed]++;
        return;
    }
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (strcmp(n->connecting[i], h->node) == 0)
            n->connecting[i][0] = '\0';
    }
    if (h->kind == H_CONNECTED) {
        n->ctr[C_connections_made]++;
        c = cn_conn_add(n, h->fd, h->node, 0);
    } else {
        n->ctr[C_handshakes_failed]++;
    }
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state != S_CONNECTING || strcmp(s->peer, h->node) != 0)
            continue;
        if (c == NULL) {
            cn_session_fail(n, s, "connect", 0);
        } else {
            s->conn = (int)(c - n->conns);
            s->conn_gen = c->gen;
            (void)cn_session_hello(n, s);
        }
    }
}

/* Session deadlines and rate waits. Returns the milliseconds until the next one is due. */
static int cn_timers(cn_node *n) {
    int64_t now = cn_now_us(), next = now + (int64_t)CN_TICK_MAX_MS * 1000;
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        cn_session *s = &n->sessions[i];
        if (s->state == S_FREE)
            continue;
        if (now >= s->deadline_us) {
            n->ctr[C_session_timeouts]++;
            cn_session_fail(n, s, "timeout", LT_AE_ABORT_TIMEOUT);
            continue;
        }
        if (s->rate_waiting && cn_session_pump(n, s) < 0)
            continue;
        if (s->state == S_CONFIRM && now >= s->confirm_us) {
            cn_store *st = cn_store_find(n, s->store, s->store_len);
            if (st == NULL) {
                cn_session_fail(n, s, "no_store", LT_AE_ABORT_NO_STORE);
                continue;
            }
            cn_send_resolve(n, s, st);
            if (s->state == S_FREE)
                continue;
        }
        if (s->state == S_CONFIRM && s->confirm_us < next)
            next = s->confirm_us;
        if (s->deadline_us < next)
            next = s->deadline_us;
        if (s->rate_waiting && n->lim[L_RATE_BYTES] > 0) {
            int64_t due = now + (int64_t)((1.0 - n->tokens) * 1e6 / (double)n->lim[L_RATE_BYTES]);
            if (due < next)
                next = due;
        }
    }
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

/* ---- owner requests ------------------------------------------------------------------------- */

/* The BINARY_EXT at buf[*idx] (in a payload lt_cnode_check_payload passed): its bytes, borrowed.
 * Advances *idx. Returns 0, or -1 if the term there is not a binary. */
static int cn_get_binary(const char *buf, int *idx, const uint8_t **p, size_t *len) {
    if (buf[*idx] != ERL_BINARY_EXT)
        return -1;
    uint32_t l = lt_cnode_get32(buf + *idx + 1);
    *p = (const uint8_t *)buf + *idx + 5;
    *len = l;
    *idx += 5 + (int)l;
    return 0;
}

static int cn_get_store(const char *buf, int *idx, const uint8_t **p, size_t *len) {
    return cn_get_binary(buf, idx, p, len) < 0 || *len == 0 || *len > LT_AE_MAX_NAME ? -1 : 0;
}

/* Decodes a binary of big-endian u64 indices (borrowed) into a new array (the caller frees it).
 * Returns NULL with *err set for a bad length. */
static uint64_t *cn_get_indices(const uint8_t *p, size_t len, size_t *n, const char **err) {
    if (len % 8 != 0 || len / 8 > LT_MERKLE_MAX_WIRE_NODES) {
        *err = len % 8 != 0 ? "bad_index" : "too_big";
        return NULL;
    }
    *n = len / 8;
    uint64_t *v = malloc(*n ? *n * sizeof *v : 1);
    if (v == NULL) {
        *err = "nomem";
        return NULL;
    }
    for (size_t i = 0; i < *n; i++)
        v[i] = lt_read_be64(p + 8 * i);
    return v;
}

static const char *cn_wire_err(lt_err e) {
    switch (e) {
    case LT_E_ORDER:
        return "bad_index";
    case LT_E_TOO_BIG:
        return "too_big";
    case LT_E_WRONG_TYPE:
        return "bad_level";
    default:
        return "nomem";
    }
}

static void cn_encode_stats(cn_node *n, ei_x_buff *x) {
    int nb = 0;
    uint64_t keys = 0, memory = 0;
    for (size_t i = 0; i < n->n_stores; i++) {
        keys += lt_merkle_count(n->stores[i].tree);
        memory += lt_merkle_memory(n->stores[i].tree);
    }
    int conns = 0;
    for (int i = 0; i < CN_MAX_CONNS; i++)
        conns += n->conns[i].fd >= 0;
    for (int i = 0; i < CN_MAX_BREAKERS; i++)
        nb += n->breakers[i].peer[0] != '\0';
    cn_rate_refill(n, cn_now_us());

    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "ok");
    ei_x_encode_map_header(x, 4);
    ei_x_encode_atom(x, "limits");
    ei_x_encode_map_header(x, L_COUNT);
    for (int i = 0; i < L_COUNT; i++) {
        ei_x_encode_atom(x, cn_limit_defs[i].name);
        ei_x_encode_ulong(x, (unsigned long)n->lim[i]);
    }
    ei_x_encode_atom(x, "counters");
    ei_x_encode_map_header(x, C_COUNT);
    for (int i = 0; i < C_COUNT; i++) {
        ei_x_encode_atom(x, cn_counter_names[i]);
        ei_x_encode_ulong(x, (unsigned long)n->ctr[i]);
    }
    ei_x_encode_atom(x, "gauges");
    ei_x_encode_map_header(x, 7);
    ei_x_encode_atom(x, "peer_keys");
    ei_x_encode_ulong(x, (unsigned long)n->n_pkeys);
    ei_x_encode_atom(x, "stores");
    ei_x_encode_ulong(x, (unsigned long)n->n_stores);
    ei_x_encode_atom(x, "keys");
    ei_x_encode_ulong(x, (unsigned long)keys);
    ei_x_encode_atom(x, "memory");
    ei_x_encode_ulong(x, (unsigned long)memory);
    ei_x_encode_atom(x, "sessions");
    ei_x_encode_ulong(x, (unsigned long)n->n_sessions);
    ei_x_encode_atom(x, "connections");
    ei_x_encode_ulong(x, (unsigned long)conns);
    ei_x_encode_atom(x, "rate_tokens");
    ei_x_encode_long(x, (long)n->tokens);
    ei_x_encode_atom(x, "breakers");
    if (nb > 0) {
        ei_x_encode_list_header(x, nb);
        for (int i = 0; i < CN_MAX_BREAKERS; i++) {
            cn_breaker *b = &n->breakers[i];
            if (b->peer[0] == '\0')
                continue;
            ei_x_encode_map_header(x, 3);
            ei_x_encode_atom(x, "peer");
            ei_x_encode_atom(x, b->peer);
            ei_x_encode_atom(x, "state");
            ei_x_encode_atom(x, b->state == B_OPEN        ? "open"
                                : b->state == B_HALF_OPEN ? "half_open"
                                                          : "closed");
            ei_x_encode_atom(x, "failures");
            ei_x_encode_ulong(x, (unsigned long)b->failures);
        }
    }
    ei_x_encode_empty_list(x);
}

static void cn_encode_error(ei_x_buff *x, const char *why) {
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "error");
    ei_x_encode_atom(x, why);
}

/* {set_limits, Map}: every pair checked before any is applied. */
static void cn_req_set_limits(cn_node *n, const char *buf, int idx, size_t len, ei_x_buff *x) {
    int pairs = 0;
    uint64_t lim[L_COUNT];
    memcpy(lim, n->lim, sizeof lim);
    if (ei_decode_map_header(buf, &idx, &pairs) < 0) {
        cn_encode_error(x, "badarg");
        return;
    }
    for (int i = 0; i < pairs; i++) {
        size_t key_start = (size_t)idx, key_end = (size_t)idx;
        char key[MAXATOMLEN_UTF8];
        unsigned long v = 0;
        int li = -1;
        if (lt_cnode_skip_term(buf, len, &key_end) < 0)
            break;
        if (ei_decode_atom_as(buf, &idx, key, sizeof key, ERLANG_UTF8, NULL, NULL) == 0)
            li = cn_limit_find(key, strlen(key));
        else
            idx = (int)key_end;
        if (li < 0 || ei_decode_ulong(buf, &idx, &v) < 0 || !cn_limit_ok(li, v)) {
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "error");
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "bad_limit");
            ei_x_append_buf(x, buf + key_start, (int)(key_end - key_start));
            return;
        }
        lim[li] = v;
    }
    memcpy(n->lim, lim, sizeof lim);
    __atomic_store_n(&cn_handshake_ms, (unsigned)lim[L_HANDSHAKE_TIMEOUT_MS], __ATOMIC_RELAXED);
    if (n->tokens > (double)lim[L_RATE_BURST])
        n->tokens = (double)lim[L_RATE_BURST];
    ei_x_encode_atom(x, "ok");
}

/* {open, Store, Levels} or {open, Store, Levels, OwnerPid}: the owner process is OwnerPid, or
 * the requester. */
static void cn_req_open(cn_node *n, const erlang_pid *from, int with_owner, const char *buf,
                        int idx, ei_x_buff *x) {
    const uint8_t *name;
    size_t name_len;
    long levels;
    erlang_pid owner = *from;
    if (cn_get_store(buf, &idx, &name, &name_len) < 0 || ei_decode_long(buf, &idx, &levels) < 0 ||
        (with_owner &&
         (ei_decode_pid(buf, &idx, &owner) < 0 || strcmp(owner.node, from->node) != 0))) {
        cn_encode_error(x, "badarg");
        return;
    }
    from = &owner;
    if (levels < 1 || levels > LT_MERKLE_MAX_LEVELS) {
        cn_encode_error(x, "bad_levels");
        return;
    }
    cn_store *st = cn_store_find(n, name, name_len);
    if (st != NULL) {
        if (lt_merkle_levels(st->tree) != (unsigned)levels) {
            cn_encode_error(x, "levels_mismatch");
            return;
        }
        st->owner = *from;
        ei_x_encode_atom(x, "ok");
        return;
    }
    if (n->n_stores >= n->lim[L_MAX_STORES]) {
        cn_encode_error(x, "too_many_stores");
        return;
    }
    if (n->n_stores == n->cap_stores) {
        size_t cap = n->cap_stores ? 2 * n->cap_stores : 8;
        cn_store *v = realloc(n->stores, cap * sizeof *v);
        if (v == NULL) {
            cn_encode_error(x, "nomem");
            return;
        }
        n->stores = v;
        n->cap_stores = cap;
    }
    lt_merkle *t = lt_merkle_new((unsigned)levels);
    if (t == NULL) {
        cn_encode_error(x, "nomem");
        return;
    }
    st = &n->stores[n->n_stores++];
    memset(st, 0, sizeof *st);
    memcpy(st->name, name, name_len);
    st->name_len = name_len;
    st->tree = t;
    st->owner = *from;
    ei_x_encode_atom(x, "ok");
}

static void cn_req_update(cn_node *n, cn_store *st, const uint8_t *b, size_t len, ei_x_buff *x) {
    size_t count = 0, bad = 0, off = 0, applied = 0;
    lt_batch_entry e;
    if (lt_batch_check(b, len, n->lim[L_MAX_BATCH], &count, &bad) < 0) {
        n->ctr[C_malformed]++;
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "error");
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_atom(x, "bad_batch");
        ei_x_encode_ulong(x, (unsigned long)bad);
        return;
    }
    while (lt_batch_next(b, len, &off, &e)) {
        if (e.op == LT_BATCH_PUT) {
            if (lt_merkle_put(st->tree, e.key, e.key_len, e.digest) != LT_OK) {
                cn_encode_error(x, "nomem");
                return;
            }
        } else {
            (void)lt_merkle_delete(st->tree, e.key, e.key_len);
        }
        applied++;
    }
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "ok");
    ei_x_encode_ulong(x, (unsigned long)applied);
}

/* Requests on a store, from the owner node: Op is {Name, Store, ...}, buf[idx] at Store. */
static int cn_req_store_op(cn_node *n, const char *op, const char *buf, int idx, ei_x_buff *x,
                           cn_session **start) {
    const uint8_t *name, *p;
    size_t name_len, len;
    if (cn_get_store(buf, &idx, &name, &name_len) < 0) {
        cn_encode_error(x, "badarg");
        return 0;
    }
    cn_store *st = cn_store_find(n, name, name_len);
    if (st == NULL) {
        cn_encode_error(x, "no_store");
        return 0;
    }
    if (strcmp(op, "drop") == 0) {
        for (int i = 0; i < CN_MAX_PEER_KEYS; i++) {
            if (n->pkeys[i].used && n->pkeys[i].store_len == name_len &&
                memcmp(n->pkeys[i].store, name, name_len) == 0)
                cn_pkey_remove(n, i);
        }
        lt_merkle_free(st->tree);
        *st = n->stores[--n->n_stores];
        ei_x_encode_atom(x, "ok");
    } else if (strcmp(op, "clear") == 0) {
        lt_merkle *t = lt_merkle_new(lt_merkle_levels(st->tree));
        if (t == NULL) {
            cn_encode_error(x, "nomem");
            return 0;
        }
        lt_merkle_free(st->tree);
        st->tree = t;
        ei_x_encode_atom(x, "ok");
    } else if (strcmp(op, "update") == 0) {
        if (cn_get_binary(buf, &idx, &p, &len) < 0)
            cn_encode_error(x, "badarg");
        else
            cn_req_update(n, st, p, len, x);
    } else if (strcmp(op, "root") == 0) {
        lt_merkle_node r = lt_merkle_root(st->tree);
        uint8_t h[16];
        lt_write_be64(h, r.hash.hi);
        lt_write_be64(h + 8, r.hash.lo);
        ei_x_encode_tuple_header(x, 3);
        ei_x_encode_atom(x, "ok");
        ei_x_encode_binary(x, h, 16);
        ei_x_encode_ulong(x, (unsigned long)r.count);
    } else if (strcmp(op, "get") == 0) {
        uint8_t d[LT_MERKLE_DIGEST];
        if (cn_get_binary(buf, &idx, &p, &len) < 0 || len == 0 || len > LT_MERKLE_MAX_KEY) {
            cn_encode_error(x, "badarg");
        } else if (!lt_merkle_get(st->tree, p, len, d)) {
            cn_encode_error(x, "not_found");
        } else {
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "ok");
            ei_x_encode_binary(x, d, LT_MERKLE_DIGEST);
        }
    } else if (strcmp(op, "children") == 0 || strcmp(op, "buckets") == 0) {
        long level = 0;
        int children = op[0] == 'c';
        const char *err = NULL;
        size_t count = 0;
        if ((children && ei_decode_long(buf, &idx, &level) < 0) ||
            cn_get_binary(buf, &idx, &p, &len) < 0) {
            cn_encode_error(x, "badarg");
            return 0;
        }
        if (children && (level < 0 || level >= (long)lt_merkle_levels(st->tree))) {
            cn_encode_error(x, "bad_level");
            return 0;
        }
        uint64_t *v = cn_get_indices(p, len, &count, &err);
        if (v == NULL) {
            cn_encode_error(x, err);
            return 0;
        }
        lt_buf out;
        lt_buf_init(&out);
        lt_err e = children ? lt_merkle_encode_children(st->tree, (unsigned)level, v, count, &out)
                            : lt_merkle_encode_buckets(st->tree, v, count, &out);
        free(v);
        if (e != LT_OK || out.len > INT_MAX / 2) {
            cn_encode_error(x, cn_wire_err(e));
        } else {
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "ok");
            ei_x_encode_binary(x, out.data, (int)out.len);
        }
        lt_buf_free(&out);
    } else if (strcmp(op, "set_peer_key") == 0 || strcmp(op, "clear_peer_key") == 0) {
        char peer[MAXATOMLEN_UTF8];
        int set = op[0] == 's';
        if (ei_decode_atom_as(buf, &idx, peer, sizeof peer, ERLANG_UTF8, NULL, NULL) < 0 ||
            strlen(peer) > MAXNODELEN || strchr(peer, '@') == NULL ||
            (set && (cn_get_binary(buf, &idx, &p, &len) < 0 || len != LT_AESEAL_KEYLEN))) {
            cn_encode_error(x, "badarg");
            return 0;
        }
        if (set) {
            if (cn_pkey_set(n, name, name_len, peer, p) < 0)
                cn_encode_error(x, "too_many_keys");
            else
                ei_x_encode_atom(x, "ok");
        } else {
            int i = cn_pkey_find(n, name, name_len, peer);
            if (i >= 0)
                cn_pkey_remove(n, i);
            ei_x_encode_atom(x, "ok");
        }
    } else if (strcmp(op, "require_keys") == 0) {
        char b[MAXATOMLEN_UTF8];
        if (ei_decode_atom_as(buf, &idx, b, sizeof b, ERLANG_UTF8, NULL, NULL) < 0 ||
            (strcmp(b, "true") != 0 && strcmp(b, "false") != 0)) {
            cn_encode_error(x, "badarg");
            return 0;
        }
        st->require_keys = b[0] == 't';
        ei_x_encode_atom(x, "ok");
    } else if (strcmp(op, "sync") == 0) {
        char peer[MAXATOMLEN_UTF8];
        if (ei_decode_atom_as(buf, &idx, peer, sizeof peer, ERLANG_UTF8, NULL, NULL) < 0 ||
            strlen(peer) > MAXNODELEN || strchr(peer, '@') == NULL ||
            strcmp(peer, n->ec.thisnodename) == 0) {
            cn_encode_error(x, "bad_peer");
            return 0;
        }
        int64_t now = cn_now_us();
        int key = cn_pkey_find(n, name, name_len, peer);
        if (key < 0 && st->require_keys) {
            n->ctr[C_no_key_refused]++;
            cn_encode_error(x, "no_key");
        } else if (cn_session_running(n, name, name_len, peer, 0) != NULL) {
            n->ctr[C_ticks_skipped]++;
            cn_encode_error(x, "skipped");
        } else if (n->n_sessions >= n->lim[L_MAX_SESSIONS]) {
            n->ctr[C_busy_refused]++;
            cn_encode_error(x, "busy");
        } else if (!cn_breaker_allows(n, peer, now)) {
            n->ctr[C_breaker_refused]++;
            cn_encode_error(x, "circuit_open");
        } else {
            cn_session *s = cn_session_new(n);
            if (s == NULL) {
                cn_encode_error(x, "busy");
                return 0;
            }
            n->ctr[C_sessions_started]++;
            s->initiator = 1;
            if (++n->next_sid == 0)
                n->next_sid = 1;
            s->sid = n->next_sid;
            memcpy(s->peer, peer, strlen(peer) + 1); /* at most MAXNODELEN: checked above */
            memcpy(s->store, name, name_len);
            s->store_len = name_len;
            s->levels = lt_merkle_levels(st->tree);
            s->state = S_CONNECTING;
            if (key >= 0) {
                lt_aeseal_init(cn_seal_of(n, s), n->pk_secret + (size_t)key * LT_AESEAL_KEYLEN, 1);
                s->sealed = 1;
                n->ctr[C_sessions_sealed]++;
            }
            *start = s;
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "ok");
            ei_x_encode_ulong(x, s->sid);
        }
    } else {
        return -1;
    }
    return 0;
}

/* Answers one request {Op, FromPid, Ref}, held in buf[0..len) (borrowed, already walked by
 * lt_cnode_check_payload), that came in on c (borrowed). */
static void cn_handle_request(cn_node *n, cn_conn *c, const char *buf, size_t len) {
    int idx = 1, arity = 0, op_arity = 0;
    size_t op_start, op_end, ref_start, ref_end;
    char op[MAXATOMLEN_UTF8];
    erlang_pid from;
    erlang_ref ref;
    ei_x_buff x;
    cn_session *start = NULL;

    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3)
        goto ignore;
    op_start = op_end = (size_t)idx;
    if (lt_cnode_skip_term(buf, len, &op_end) < 0)
        goto ignore;
    idx = (int)op_end;
    if (ei_decode_pid(buf, &idx, &from) < 0)
        goto ignore;
    ref_start = (size_t)idx;
    if (ei_decode_ref(buf, &idx, &ref) < 0)
        goto ignore;
    ref_end = (size_t)idx;
    if (ref_end != len)
        goto ignore;
    n->ctr[C_msgs_request]++;

    idx = (int)op_start;
    op[0] = '\0';
    if (ei_decode_atom_as(buf, &idx, op, sizeof op, ERLANG_UTF8, NULL, NULL) < 0) {
        idx = (int)op_start;
        if (ei_decode_tuple_header(buf, &idx, &op_arity) < 0 || op_arity < 2 ||
            ei_decode_atom_as(buf, &idx, op, sizeof op, ERLANG_UTF8, NULL, NULL) < 0)
            op[0] = '\0';
    }

    if (ei_x_new_with_version(&x) < 0)
        return;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "lattice_cnode");
    ei_x_append_buf(&x, buf + ref_start, (int)(ref_end - ref_start));
    int known = 1;
    if (op_arity == 0 && strcmp(op, "ping") == 0) {
        ei_x_encode_atom(&x, "pong");
    } else if (op_arity == 0 && strcmp(op, "version") == 0) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "version");
        ei_x_encode_binary(&x, LT_VERSION, (int)strlen(LT_VERSION));
        ei_x_encode_long(&x, LT_CNODE_PROTOCOL);
    } else if (op_arity == 0 && strcmp(op, "stats") == 0) {
        cn_encode_stats(n, &x);
    } else if (op_arity == 2 && strcmp(op, "set_limits") == 0) {
        if (!c->is_owner)
            cn_encode_error(&x, "not_owner");
        else
            cn_req_set_limits(n, buf, idx, len, &x);
    } else if ((op_arity == 3 || op_arity == 4) && strcmp(op, "open") == 0) {
        if (!c->is_owner)
            cn_encode_error(&x, "not_owner");
        else
            cn_req_open(n, &from, op_arity == 4, buf, idx, &x);
    } else if ((op_arity == 2 &&
                (strcmp(op, "drop") == 0 || strcmp(op, "clear") == 0 || strcmp(op, "root") == 0)) ||
               (op_arity == 3 &&
                (strcmp(op, "update") == 0 || strcmp(op, "get") == 0 ||
                 strcmp(op, "buckets") == 0 || strcmp(op, "sync") == 0 ||
                 strcmp(op, "clear_peer_key") == 0 || strcmp(op, "require_keys") == 0)) ||
               (op_arity == 4 &&
                (strcmp(op, "children") == 0 || strcmp(op, "set_peer_key") == 0))) {
        if (!c->is_owner)
            cn_encode_error(&x, "not_owner");
        else
            (void)cn_req_store_op(n, op, buf, idx, &x, &start);
    } else {
        known = 0;
    }
    if (!known) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "error");
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "unknown_request");
        ei_x_append_buf(&x, buf + op_start, (int)(op_end - op_start));
    }
    (void)cn_send(n, c, &from, &x);
    ei_x_free(&x);
    if (start != NULL)
        cn_session_start(n, start); /* after the reply, so {ok, Id} comes before its report */
    return;

ignore:
    n->ctr[C_malformed]++;
}

/* Answers net_kernel's {'$gen_call', {FromPid, Tag}, {is_auth, Node}}, in buf[0..len) (borrowed,
 * already walked) and come in on c (borrowed), with {Tag, yes}, as net_adm:ping/1 expects. Anything
 * else is ignored. */
static void cn_handle_net_kernel(cn_node *n, cn_conn *c, const char *buf, size_t len) {
    int idx = 1, arity = 0;
    char atom[MAXATOMLEN_UTF8];
    erlang_pid from;
    size_t tag_start, tag_end;
    ei_x_buff x;
    int rc = 0;

    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 3 ||
        ei_decode_atom_as(buf, &idx, atom, sizeof atom, ERLANG_UTF8, NULL, NULL) < 0 ||
        strcmp(atom, "$gen_call") != 0 || ei_decode_tuple_header(buf, &idx, &arity) < 0 ||
        arity != 2 || ei_decode_pid(buf, &idx, &from) < 0)
        goto ignore;
    tag_start = tag_end = (size_t)idx;
    if (lt_cnode_skip_term(buf, len, &tag_end) < 0)
        goto ignore;
    idx = (int)tag_end;
    if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity != 2 ||
        ei_decode_atom_as(buf, &idx, atom, sizeof atom, ERLANG_UTF8, NULL, NULL) < 0 ||
        strcmp(atom, "is_auth") != 0)
        goto ignore;

    if (ei_x_new_with_version(&x) < 0)
        return;
    rc |= ei_x_encode_tuple_header(&x, 2);
    rc |= ei_x_append_buf(&x, buf + tag_start, (int)(tag_end - tag_start));
    rc |= ei_x_encode_atom(&x, "yes");
    if (rc == 0)
        (void)cn_send(n, c, &from, &x);
    ei_x_free(&x);
    return;

ignore:
    n->ctr[C_malformed]++;
}

/* One complete packet pkt[0..len) (borrowed) from c. */
static void cn_on_packet(cn_node *n, cn_conn *c, const char *pkt, size_t len) {
    lt_dist_packet p;
    if (lt_dist_packet_parse(pkt, len, &p) < 0) {
        n->ctr[C_malformed]++;
        return;
    }
    if (p.payload_start == 0) {
        n->ctr[C_msgs_other]++; /* links, exits, monitors, ... */
        return;
    }
    const char *payload = pkt + p.payload_start;
    if (p.to_name_len == strlen(CN_AE_NAME) && memcmp(p.to_name, CN_AE_NAME, p.to_name_len) == 0) {
        if (p.payload_is_binary)
            cn_on_session_packet(n, c, (const uint8_t *)pkt + p.bin_start, p.bin_len, len + 4);
        else
            n->ctr[C_malformed]++;
        return;
    }
    if (p.to_name_len == strlen("net_kernel") && memcmp(p.to_name, "net_kernel", 10) == 0) {
        cn_handle_net_kernel(n, c, payload, p.payload_len);
        return;
    }
    cn_handle_request(n, c, payload, p.payload_len);
}

/* Hands every complete packet in c's input buffer to cn_on_packet; answers ticks; starts the
 * discarding of an oversized packet. */
static void cn_conn_packets(cn_node *n, cn_conn *c) {
    size_t off = 0;
    while (!c->dead && c->in_len - off >= 4) {
        uint32_t plen = lt_cnode_get32((const char *)c->in + off);
        size_t avail = c->in_len - off - 4;
        if (plen == 0) {
            const void *parts[1] = {NULL};
            size_t lens[1] = {0};
            n->ctr[C_msgs_tick]++;
            off += 4;
            (void)cn_conn_queue(n, c, parts, lens, 1); /* a tick answers a tick */
            continue;
        }
        if (plen > n->lim[L_MAX_PACKET]) {
            fprintf(stderr, "lattice_cnode: discarding a %lu-byte message from %s (limit %lu)\n",
                    (unsigned long)plen, c->node, (unsigned long)n->lim[L_MAX_PACKET]);
            n->ctr[C_oversized]++;
            if (avail >= plen) {
                off += 4 + (size_t)plen;
            } else {
                c->skip = plen - avail;
                off = c->in_len;
            }
            continue;
        }
        if (avail < plen)
            break;
        cn_on_packet(n, c, (const char *)c->in + off + 4, plen);
        off += 4 + (size_t)plen;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

/* Reads what c's socket has (up to CN_READ_BUDGET bytes this turn) and handles the complete
 * packets. Marks c dead at end of file or on an error. */
static void cn_conn_readable(cn_node *n, cn_conn *c) {
    size_t budget = CN_READ_BUDGET;
    while (budget > 0 && !c->dead) {
        if (c->skip > 0) {
            uint8_t drain[CN_READ_CHUNK];
            size_t want = c->skip < sizeof drain ? (size_t)c->skip : sizeof drain;
            ssize_t got = recv(c->fd, drain, want, 0);
            if (got > 0) {
                c->skip -= (uint64_t)got;
                n->ctr[C_bytes_in] += (uint64_t)got;
                budget -= (size_t)got < budget ? (size_t)got : budget;
                continue;
            }
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            c->dead = 1;
            return;
        }
        /* Room for the packet being received, or the next chunk. */
        size_t need = CN_READ_CHUNK;
        if (c->in_len >= 4) {
            uint64_t plen = lt_cnode_get32((const char *)c->in);
            if (plen <= n->lim[L_MAX_PACKET] && plen + 4 > c->in_len)
                need = (size_t)(plen + 4 - c->in_len);
            if (need > CN_READ_CHUNK * 16)
                need = CN_READ_CHUNK * 16;
        }
        if (c->in_cap - c->in_len < need) {
            size_t cap = c->in_cap ? c->in_cap : CN_READ_CHUNK;
            while (cap - c->in_len < need)
                cap *= 2;
            uint8_t *p = realloc(c->in, cap);
            if (p == NULL) {
                c->dead = 1;
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t got = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (got > 0) {
            c->in_len += (size_t)got;
            n->ctr[C_bytes_in] += (uint64_t)got;
            budget -= (size_t)got < budget ? (size_t)got : budget;
            cn_conn_packets(n, c);
            /* Keep a drained buffer small: a 1 MB packet's buffer is not kept for ever. */
            if (c->in_len == 0 && c->in_cap > 4 * CN_READ_CHUNK) {
                free(c->in);
                c->in = NULL;
                c->in_cap = 0;
            }
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->dead = 1; /* end of file or an error */
    }
}

/* Drains stdin. Returns 1 at end of file or on a read error (the owning port is gone), else 0. */
static int cn_stdin_readable(void) {
    char buf[512];
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got > 0)
        return 0;
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    return 1;
}

/* Closes the connections marked dead. Returns 1 if the owner's was one of them. */
static int cn_reap(cn_node *n) {
    int stop = 0;
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (n->conns[i].fd >= 0 && n->conns[i].dead)
            stop |= cn_conn_close(n, &n->conns[i]);
    }
    return stop;
}

/* Serves until a stop condition; returns the reason, a static string. */
static const char *cn_loop(cn_node *n) {
    struct pollfd fds[3 + CN_MAX_CONNS];
    int slot_of[3 + CN_MAX_CONNS];

    for (;;) {
        int timeout = cn_timers(n);
        if (cn_reap(n))
            return "owner connection closed";
        nfds_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = n->signal_fd, .events = POLLIN};
        fds[nfds++] = (struct pollfd){.fd = n->hand_rfd, .events = POLLIN};
        fds[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        for (int i = 0; i < CN_MAX_CONNS; i++) {
            cn_conn *c = &n->conns[i];
            if (c->fd >= 0) {
                slot_of[nfds] = i;
                fds[nfds++] = (struct pollfd){
                    .fd = c->fd, .events = POLLIN | (c->out_len > c->out_off ? POLLOUT : 0)};
            }
        }

        if (poll(fds, nfds, timeout) < 0) {
            if (errno == EINTR)
                continue;
            return "poll failed";
        }
        if (fds[0].revents != 0)
            return "signal";
        if (fds[2].revents != 0 && cn_stdin_readable())
            return "end of stdin";
        for (nfds_t k = 3; k < nfds; k++) {
            if (fds[k].revents == 0)
                continue;
            cn_conn *c = &n->conns[slot_of[k]];
            if (c->fd != fds[k].fd || c->dead)
                continue;
            if (fds[k].revents & POLLOUT)
                cn_conn_flush(n, c);
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR))
                cn_conn_readable(n, c);
            if (fds[k].revents & POLLNVAL)
                c->dead = 1;
        }
        if (fds[1].revents != 0) {
            cn_handoff h;
            while (read(n->hand_rfd, &h, sizeof h) == (ssize_t)sizeof h)
                cn_on_handoff(n, &h);
        }
    }
}

/* Frees everything n owns and closes its sockets. The acceptor threads are left blocked in
 * accept; the process exits next. */
static void cn_shutdown(cn_node *n) {
    for (size_t i = 0; i < CN_MAX_SESSIONS; i++) {
        if (n->sessions[i].state != S_FREE) {
            n->sessions[i].result = R_ERROR;
            n->sessions[i].error = "disconnected";
            cn_session_end(n, &n->sessions[i], 0);
        }
    }
    for (int i = 0; i < CN_MAX_CONNS; i++) {
        if (n->conns[i].fd >= 0)
            (void)cn_conn_close(n, &n->conns[i]);
    }
    for (size_t i = 0; i < n->n_stores; i++)
        lt_merkle_free(n->stores[i].tree);
    free(n->stores);
    n->stores = NULL;
    n->n_stores = 0;
    if (n->epmd_fd >= 0)
        close(n->epmd_fd);
    if (n->signal_fd >= 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        close(n->signal_fd);
        close(cn_signal_wfd);
        cn_signal_wfd = -1;
    }
    ei_x_free(&n->scratch);
    if (n->pk_secret != NULL)
        sodium_free(n->pk_secret); /* sodium_free wipes */
    if (n->seal != NULL)
        sodium_free(n->seal);
    n->pk_secret = NULL;
    n->seal = NULL;
    free(n->sbuf);
    free(n->obuf);
    n->sbuf = n->obuf = NULL;
}

/* Sends {lattice_cnode, ready, NodeName} to the process registered as name (borrowed) on the
 * owner over fd (still blocking). Returns 0 or -1. */
static int cn_notify_owner(cn_node *n, int fd, const char *name) {
    ei_x_buff x;
    int rc = 0;
    char to[MAXATOMLEN_UTF8];

    snprintf(to, sizeof to, "%s", name);
    if (ei_x_new_with_version(&x) < 0)
        return -1;
    rc |= ei_x_encode_tuple_header(&x, 3);
    rc |= ei_x_encode_atom(&x, "lattice_cnode");
    rc |= ei_x_encode_atom(&x, "ready");
    rc |= ei_x_encode_atom(&x, ei_thisnodename(&n->ec));
    if (rc == 0)
        rc = ei_reg_send_tmo(&n->ec, fd, to, x.buff, x.index, CN_START_TMO_MS);
    ei_x_free(&x);
    return rc < 0 ? -1 : 0;
}

/* The control message {REG_SEND, OurPid, '', lattice_ae} every session message carries. */
static int cn_make_ae_ctl(cn_node *n) {
    ei_x_buff x;
    int rc = 0;
    if (ei_x_new_with_version(&x) < 0)
        return -1;
    rc |= ei_x_encode_tuple_header(&x, 4);
    rc |= ei_x_encode_long(&x, LT_DOP_REG_SEND);
    rc |= ei_x_encode_pid(&x, ei_self(&n->ec));
    rc |= ei_x_encode_atom(&x, "");
    rc |= ei_x_encode_atom(&x, CN_AE_NAME);
    if (rc == 0 && (size_t)x.index <= sizeof n->ae_ctl) {
        memcpy(n->ae_ctl, x.buff, (size_t)x.index);
        n->ae_ctl_len = (size_t)x.index;
    } else {
        rc = -1;
    }
    ei_x_free(&x);
    return rc;
}

int main(int argc, char **argv) {
    const char *name = NULL, *owner = NULL, *notify = NULL;
    char alive[EI_MAXALIVELEN + 1], host[EI_MAXHOSTNAMELEN + 1];
    char cookie[EI_MAX_COOKIE_SIZE + 2];
    struct in_addr loopback;
    static cn_node n; /* large: not on the stack */
    uint64_t lim[L_COUNT];
    int port = 0, fd, rc, hp[2];
    const char *why;

    for (int i = 0; i < L_COUNT; i++)
        lim[i] = cn_limit_defs[i].def;
    if (cn_limits_env(lim) < 0)
        return CN_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cn_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("lattice_cnode %s protocol %d\n", LT_VERSION, LT_CNODE_PROTOCOL);
            return 0;
        } else if (i + 1 < argc && strcmp(argv[i], "--name") == 0 && name == NULL) {
            name = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--owner") == 0 && owner == NULL) {
            owner = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--notify") == 0 && notify == NULL) {
            notify = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--limit") == 0) {
            if (cn_limit_text(lim, argv[++i]) < 0) {
                cn_usage(stderr);
                return CN_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "lattice_cnode: unexpected argument: %s\n", argv[i]);
            cn_usage(stderr);
            return CN_EXIT_USAGE;
        }
    }
    if (name == NULL || owner == NULL || cn_split_node_name(name, alive, host) < 0 ||
        cn_split_node_name(owner, NULL, NULL) < 0 ||
        (notify != NULL && (notify[0] == '\0' || strlen(notify) >= MAXATOMLEN))) {
        fprintf(stderr, "lattice_cnode: --name and --owner must both be given as alive@host\n");
        cn_usage(stderr);
        return CN_EXIT_USAGE;
    }
    if (cn_read_cookie(cookie, sizeof cookie) < 0)
        return CN_EXIT_USAGE;

    memset(&n, 0, sizeof n);
    n.listen_fd = n.epmd_fd = n.signal_fd = n.hand_rfd = n.hand_wfd = -1;
    snprintf(n.owner_node, sizeof n.owner_node, "%s", owner);
    memcpy(n.lim, lim, sizeof lim);
    cn_handshake_ms = (unsigned)lim[L_HANDSHAKE_TIMEOUT_MS];
    n.tokens = (double)lim[L_RATE_BURST];
    n.tokens_at_us = cn_now_us();
    for (int i = 0; i < CN_MAX_CONNS; i++)
        n.conns[i].fd = -1;
    if (sodium_init() < 0 ||
        (n.pk_secret = sodium_allocarray(CN_MAX_PEER_KEYS, LT_AESEAL_KEYLEN)) == NULL ||
        (n.seal = sodium_allocarray(CN_MAX_SESSIONS + 1, sizeof *n.seal)) == NULL) {
        cn_wipe(cookie, sizeof cookie);
        fprintf(stderr, "lattice_cnode: cannot set up libsodium or its secure memory\n");
        cn_shutdown(&n);
        return CN_EXIT_START;
    }
    sodium_memzero(n.pk_secret, (size_t)CN_MAX_PEER_KEYS * LT_AESEAL_KEYLEN);
    sodium_memzero(n.seal, (CN_MAX_SESSIONS + 1) * sizeof *n.seal);
    if (ei_x_new(&n.scratch) < 0) {
        cn_wipe(cookie, sizeof cookie);
        fprintf(stderr, "lattice_cnode: out of memory\n");
        return CN_EXIT_START;
    }

    loopback.s_addr = htonl(INADDR_LOOPBACK);
    rc = ei_init();
    if (rc == 0)
        rc = ei_connect_xinit(&n.ec, host, alive, name, &loopback, cookie, 0);
    cn_wipe(cookie, sizeof cookie);
    if (rc < 0 || cn_make_ae_ctl(&n) < 0) {
        fprintf(stderr, "lattice_cnode: cannot initialise ei for %s\n", name);
        goto fail;
    }
    n.signal_fd = cn_setup_signals();
    if (n.signal_fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot install signal handlers: %s\n", strerror(errno));
        goto fail;
    }
    if (pipe(hp) != 0 || fcntl(hp[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(hp[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(hp[1], F_SETFD, FD_CLOEXEC) != 0) {
        fprintf(stderr, "lattice_cnode: cannot make a pipe: %s\n", strerror(errno));
        goto fail;
    }
    n.hand_rfd = hp[0];
    n.hand_wfd = hp[1];
    n.listen_fd = ei_xlisten(&n.ec, &loopback, &port, 16);
    if (n.listen_fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot listen on 127.0.0.1 (erl_errno %d)\n", erl_errno);
        goto fail;
    }
    n.epmd_fd = ei_publish_tmo(&n.ec, port, CN_START_TMO_MS);
    if (n.epmd_fd < 0) {
        fprintf(stderr,
                "lattice_cnode: cannot register %s with epmd (is epmd running? is the name "
                "taken?)\n",
                name);
        goto fail;
    }
    fd = ei_connect_tmo(&n.ec, n.owner_node, CN_START_TMO_MS);
    if (fd < 0) {
        fprintf(stderr, "lattice_cnode: cannot connect to owner %s (erl_errno %d)\n", owner,
                erl_errno);
        goto fail;
    }
    if (notify != NULL && cn_notify_owner(&n, fd, notify) < 0) {
        fprintf(stderr, "lattice_cnode: cannot notify %s on %s\n", notify, owner);
        ei_close_connection(fd);
        goto fail;
    }
    if (cn_conn_add(&n, fd, owner, 1) == NULL)
        goto fail;
    for (int i = 0; i < CN_ACCEPTORS; i++) {
        if (cn_thread(cn_acceptor, &n) < 0) {
            fprintf(stderr, "lattice_cnode: cannot start a thread\n");
            goto fail;
        }
    }

    printf("lattice_cnode ready %s %d\n", ei_thisnodename(&n.ec), port);
    fflush(stdout);

    why = cn_loop(&n);
    fprintf(stderr,
            "lattice_cnode: %s: stopping (%lu malformed, %lu oversized, %lu other messages)\n", why,
            (unsigned long)n.ctr[C_malformed], (unsigned long)n.ctr[C_oversized],
            (unsigned long)n.ctr[C_msgs_other]);
    /* The acceptor threads still block in ei_accept_tmo on the listen socket, which stays open
     * until the process exits, just below. */
    cn_shutdown(&n);
    return 0;

fail:
    cn_shutdown(&n);
    return CN_EXIT_START;
}
