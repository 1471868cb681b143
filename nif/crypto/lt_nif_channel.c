/*
 * lt_nif_channel.c — the secure channel's NIFs (src/lattice_channel.erl is the API; this is its
 * glue over c_src/crypto/lt_channel.h).
 *
 * A channel is a resource holding a mutex and a pointer to an lt_chan in sodium_malloc memory
 * (guard pages, mlock'ed where the process may): it holds the static private key (copied from the
 * kx key given to chan_new), the handshake state and the transport keys, about 1.9 KB, more than
 * a secret slab's largest slot (LT_SECRET_MAX), and a node holds one channel per peer, so one
 * mapping each is affordable. The destructor wipes it (lt_chan_wipe) and frees it.
 *
 * The state is mutable: the process that owns the channel calls these one at a time, but two
 * processes may share the term, so each call takes the mutex. On a normal scheduler the mutex is
 * only tried (STYLE.md habit 14): when it is busy (a dirty job holds it for a large message) the
 * call moves to a dirty I/O scheduler and waits for it there. Transport messages of more than
 * LT_CHAN_DIRTY_BYTES of plaintext move to a dirty CPU scheduler (ChaCha20-Poly1305 runs at about 1
 * ns a byte here, so 64 KiB is some tens of microseconds and 16 MiB, the cap, some tens of
 * milliseconds).
 *
 * `Now` arguments are erlang:monotonic_time(millisecond) values read by the caller (or a test's
 * clock): the C core has no clock.
 */
#include "lt_crypto_nif.h"
#include "lt_nif_key.h"

#include "lt_channel.h"

#include <sodium.h>
#include <string.h>

#define LT_CHAN_DIRTY_BYTES (64 * 1024)

typedef struct {
    ErlNifMutex *lock;
    lt_chan *ch; /* sodium_malloc'd; NULL once freed */
} chan_res;

static ErlNifResourceType *chan_type;

static void chan_dtor(ErlNifEnv *env, void *obj) {
    (void)env;
    chan_res *r = obj;
    if (r->ch != NULL) {
        lt_chan_wipe(r->ch);
        sodium_free(r->ch);
        r->ch = NULL;
    }
    if (r->lock != NULL) {
        enif_mutex_destroy(r->lock);
        r->lock = NULL;
    }
}

int lt_nif_channel_open(ErlNifEnv *env, ErlNifResourceFlags flags) {
    chan_type = enif_open_resource_type(env, NULL, "lattice_channel", chan_dtor, flags, NULL);
    return chan_type != NULL;
}

/* The channel resource behind t (1), or 0 when t is not one. Whether it is still open is
 * known only under its lock (lock_chan): chan_close may free the state at any time. */
static int get_chan(ErlNifEnv *env, ERL_NIF_TERM t, chan_res **out) {
    void *obj;
    if (!enif_get_resource(env, t, chan_type, &obj))
        return 0;
    *out = obj;
    return 1;
}

/* Takes r's lock: 1 when held and the channel is open; -1 when it was closed (the lock is not
 * held then); 0 when busy, on a normal scheduler, which only tries (STYLE.md habit 14): the
 * caller then moves itself to a dirty I/O scheduler, where lock_chan waits for the lock (a
 * wait, not work: retrying on the normal scheduler would spin for as long as a dirty job holds
 * the lock, some tens of milliseconds for a 16 MiB message). */
static int lock_chan(chan_res *r) {
    if (enif_thread_type() != ERL_NIF_THR_NORMAL_SCHEDULER)
        enif_mutex_lock(r->lock);
    else if (enif_mutex_trylock(r->lock) != 0) {
        lt_crypto_count(LT_CTR_channel_lock_busy, 1);
        return 0;
    }
    if (r->ch == NULL) {
        enif_mutex_unlock(r->lock);
        return -1;
    }
    return 1;
}

/* Locks r, moves the call to a dirty I/O scheduler when the lock is busy, raises badarg when r
 * is closed. */
#define LOCK_OR_RESCHEDULE(r, name, fn)                                                            \
    do {                                                                                           \
        int lt_l_ = lock_chan(r);                                                                  \
        if (lt_l_ == 0) {                                                                          \
            return enif_schedule_nif(env, name, ERL_NIF_DIRTY_JOB_IO_BOUND, fn, argc, argv);       \
        }                                                                                          \
        if (lt_l_ < 0)                                                                             \
            return enif_make_badarg(env);                                                          \
    } while (0)

static ERL_NIF_TERM err_atom(ErlNifEnv *env, lt_chan_err e) {
    return enif_make_atom(env, lt_chan_err_name(e));
}

static ERL_NIF_TERM chan_error(ErlNifEnv *env, lt_chan_err e) {
    return lt_crypto_error(env, err_atom(env, e));
}

/* A failure of a handshake message read in C, counted by reason. */
static void count_hs_failure(lt_chan_err e) {
    switch (e) {
    case LT_CHAN_E_BAD_MAC:
        lt_crypto_count(LT_CTR_channel_handshake_failures_bad_mac, 1);
        break;
    case LT_CHAN_E_REPLAY:
        lt_crypto_count(LT_CTR_channel_handshake_failures_replay, 1);
        break;
    case LT_CHAN_E_MALFORMED:
    case LT_CHAN_E_TOO_LARGE:
        lt_crypto_count(LT_CTR_channel_handshake_failures_malformed, 1);
        break;
    case LT_CHAN_E_BAD_KEY:
        lt_crypto_count(LT_CTR_channel_handshake_failures_bad_key, 1);
        break;
    default:
        lt_crypto_count(LT_CTR_channel_handshake_failures_unexpected_message, 1);
        break;
    }
}

static void count_open_failure(lt_chan_err e) {
    switch (e) {
    case LT_CHAN_E_BAD_MAC:
        lt_crypto_count(LT_CTR_channel_open_failures_bad_mac, 1);
        break;
    case LT_CHAN_E_REPLAY:
        lt_crypto_count(LT_CTR_channel_open_failures_replay, 1);
        break;
    case LT_CHAN_E_KEY_EXPIRED:
    case LT_CHAN_E_UNKNOWN_KEY:
        lt_crypto_count(LT_CTR_channel_open_failures_key_expired, 1);
        break;
    default:
        lt_crypto_count(LT_CTR_channel_open_failures_malformed, 1);
        break;
    }
}

static int get_config(ErlNifEnv *env, ERL_NIF_TERM t, lt_chan_config *cfg) {
    int arity;
    const ERL_NIF_TERM *el;
    ErlNifSInt64 rekey_ms, reject_ms, grace_ms;
    ErlNifUInt64 rekey_n, reject_n;
    if (!enif_get_tuple(env, t, &arity, &el) || arity != 5 ||
        !enif_get_int64(env, el[0], &rekey_ms) || !enif_get_int64(env, el[1], &reject_ms) ||
        !enif_get_uint64(env, el[2], &rekey_n) || !enif_get_uint64(env, el[3], &reject_n) ||
        !enif_get_int64(env, el[4], &grace_ms))
        return 0;
    if (rekey_ms <= 0 || reject_ms < rekey_ms || rekey_n == 0 || reject_n < rekey_n || grace_ms < 0)
        return 0;
    cfg->rekey_after_ms = rekey_ms;
    cfg->reject_after_ms = reject_ms;
    cfg->rekey_after_msgs = rekey_n;
    cfg->reject_after_msgs = reject_n;
    cfg->grace_ms = grace_ms;
    return 1;
}

/* chan_new(initiator | responder, Prologue, KxKey, {RekeyMs, RejectMs, RekeyMsgs, RejectMsgs,
 * GraceMs}) -> Channel. The static private key is copied out of the kx key's slab slot into the
 * channel's own guarded memory. */
LT_CNIF(lt_cnif_chan_new) {
    ErlNifBinary pro;
    const lt_key *key;
    lt_chan_config cfg;
    int initiator;
    if (argc != 4)
        return enif_make_badarg(env);
    if (enif_is_identical(argv[0], lt_catom.initiator))
        initiator = 1;
    else if (enif_is_identical(argv[0], lt_catom.responder))
        initiator = 0;
    else
        return enif_make_badarg(env);
    if (!enif_inspect_binary(env, argv[1], &pro) || pro.size > LT_CHAN_MAX_PROLOGUE ||
        !lt_nif_get_key(env, argv[2], &key) || key->kind != LT_KEY_KX ||
        !get_config(env, argv[3], &cfg))
        return enif_make_badarg(env);
    size_t sklen;
    const uint8_t *sk = lt_key_seed(key, &sklen);
    if (sk == NULL || sklen != LT_NOISE_DHLEN)
        return enif_make_badarg(env);

    chan_res *r = enif_alloc_resource(chan_type, sizeof *r);
    if (r == NULL)
        return lt_crypto_raise_nomem(env);
    r->lock = NULL;
    r->ch = sodium_malloc(sizeof *r->ch);
    if (r->ch != NULL)
        r->lock = enif_mutex_create("lattice_channel");
    if (r->ch == NULL || r->lock == NULL) {
        enif_release_resource(r); /* the destructor frees what was made */
        return lt_crypto_raise_nomem(env);
    }
    if (lt_chan_init(r->ch, initiator, pro.data, pro.size, sk, &cfg) != LT_CHAN_OK) {
        enif_release_resource(r);
        return enif_make_badarg(env);
    }
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return t;
}

/* A handshake message into a fresh binary: {ok, Bin} | {error, Reason}. `fn` is lt_chan_start
 * (with now) or lt_chan_hs_write. */
static ERL_NIF_TERM hs_out(ErlNifEnv *env, chan_res *r, int start, int64_t now,
                           const ErlNifBinary *payload) {
    uint8_t buf[LT_CHAN_MAX_HS_MSG];
    size_t n = 0;
    lt_chan_err e =
        start ? lt_chan_start(r->ch, now, payload->data, payload->size, buf, sizeof buf, &n)
              : lt_chan_hs_write(r->ch, payload->data, payload->size, buf, sizeof buf, &n);
    enif_mutex_unlock(r->lock);
    if (e != LT_CHAN_OK)
        return chan_error(env, e);
    if (start)
        lt_crypto_count(LT_CTR_channel_handshakes_started, 1);
    ERL_NIF_TERM bin = lt_crypto_binary(env, buf, n);
    return enif_is_exception(env, bin) ? bin : lt_crypto_ok(env, bin);
}

/* chan_start(Channel, Now, Payload) -> {ok, Message1} | {error, Reason}: the initiator's new
 * handshake (the first, or a rekey). */
LT_CNIF(lt_cnif_chan_start) {
    chan_res *r;
    ErlNifSInt64 now;
    ErlNifBinary payload;
    if (argc != 3 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now) ||
        !enif_inspect_binary(env, argv[2], &payload))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_start", lt_cnif_chan_start);
    return hs_out(env, r, 1, now, &payload);
}

/* chan_hs_write(Channel, Payload) -> {ok, Message} | {error, Reason}. */
LT_CNIF(lt_cnif_chan_hs_write) {
    chan_res *r;
    ErlNifBinary payload;
    if (argc != 2 || !get_chan(env, argv[0], &r) || !enif_inspect_binary(env, argv[1], &payload))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_hs_write", lt_cnif_chan_hs_write);
    return hs_out(env, r, 0, 0, &payload);
}

/* chan_hs_read(Channel, Now, Message) -> {ok, Payload, RemoteStatic | undefined} |
 * {error, Reason}. RemoteStatic is the peer's static X25519 public key once the message that
 * carries it has been read (message 2 for the initiator, 3 for the responder). */
LT_CNIF(lt_cnif_chan_hs_read) {
    chan_res *r;
    ErlNifSInt64 now;
    ErlNifBinary msg;
    if (argc != 3 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now) ||
        !enif_inspect_binary(env, argv[2], &msg))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_hs_read", lt_cnif_chan_hs_read);
    uint8_t out[LT_CHAN_MAX_HS_MSG];
    size_t n = 0;
    uint8_t rs[LT_NOISE_DHLEN];
    int have_rs = 0;
    lt_chan_err e = lt_chan_hs_read(r->ch, now, msg.data, msg.size, out, sizeof out, &n);
    if (e == LT_CHAN_OK) {
        const uint8_t *p = lt_chan_hs_remote_static(r->ch);
        if (p != NULL) {
            memcpy(rs, p, sizeof rs);
            have_rs = 1;
        }
    }
    enif_mutex_unlock(r->lock);
    if (e != LT_CHAN_OK) {
        count_hs_failure(e);
        return chan_error(env, e);
    }
    ERL_NIF_TERM payload = lt_crypto_binary(env, out, n);
    if (enif_is_exception(env, payload))
        return payload;
    ERL_NIF_TERM rst = have_rs ? lt_crypto_binary(env, rs, sizeof rs) : lt_catom.undefined;
    if (enif_is_exception(env, rst))
        return rst;
    return enif_make_tuple3(env, lt_catom.ok, payload, rst);
}

/* chan_finish(Channel, Now) -> ok | {error, Reason}: installs the completed handshake's keys. */
LT_CNIF(lt_cnif_chan_finish) {
    chan_res *r;
    ErlNifSInt64 now;
    if (argc != 2 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_finish", lt_cnif_chan_finish);
    int first = r->ch->cur.epoch == 0;
    lt_chan_err e = lt_chan_finish(r->ch, now);
    enif_mutex_unlock(r->lock);
    if (e == LT_CHAN_E_NOMEM)
        return lt_crypto_raise_nomem(env);
    if (e != LT_CHAN_OK)
        return chan_error(env, e);
    lt_crypto_count(first ? LT_CTR_channels_established : LT_CTR_channel_rekeys, 1);
    return lt_catom.ok;
}

/* chan_abort(Channel, Reason) -> ok: drops the handshake under way and counts the reason the
 * caller found (bad_certificate, wrong_cluster, handshake_timeout, peer_changed, wrong_peer,
 * unsupported_version; anything else counts as unexpected_message). */
LT_CNIF(lt_cnif_chan_abort) {
    chan_res *r;
    if (argc != 2 || !get_chan(env, argv[0], &r) || !enif_is_atom(env, argv[1]))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_abort", lt_cnif_chan_abort);
    lt_chan_abort(r->ch);
    enif_mutex_unlock(r->lock);
    if (enif_is_identical(argv[1], lt_catom.bad_certificate))
        lt_crypto_count(LT_CTR_channel_handshake_failures_bad_certificate, 1);
    else if (enif_is_identical(argv[1], lt_catom.wrong_cluster))
        lt_crypto_count(LT_CTR_channel_handshake_failures_wrong_cluster, 1);
    else if (enif_is_identical(argv[1], lt_catom.handshake_timeout))
        lt_crypto_count(LT_CTR_channel_handshake_failures_handshake_timeout, 1);
    else if (enif_is_identical(argv[1], lt_catom.peer_changed))
        lt_crypto_count(LT_CTR_channel_handshake_failures_peer_changed, 1);
    else if (enif_is_identical(argv[1], lt_catom.wrong_peer))
        lt_crypto_count(LT_CTR_channel_handshake_failures_wrong_peer, 1);
    else if (enif_is_identical(argv[1], lt_catom.unsupported_version))
        lt_crypto_count(LT_CTR_channel_handshake_failures_unsupported_version, 1);
    else
        lt_crypto_count(LT_CTR_channel_handshake_failures_unexpected_message, 1);
    return lt_catom.ok;
}

/* chan_encrypt(Channel, Now, Plain) -> {ok, Message, RekeyDue} | {error, Reason}. */
LT_CNIF(lt_cnif_chan_encrypt) {
    chan_res *r;
    ErlNifSInt64 now;
    ErlNifBinary plain, out;
    if (argc != 3 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now) ||
        !enif_inspect_binary(env, argv[2], &plain))
        return enif_make_badarg(env);
    if (plain.size > LT_CHAN_MAX_PLAIN)
        return chan_error(env, LT_CHAN_E_TOO_LARGE);
    LT_CRYPTO_DIRTY_ABOVE(LT_CHAN_DIRTY_BYTES, env, "chan_encrypt", lt_cnif_chan_encrypt, argc,
                          argv, plain.size);
    if (!enif_alloc_binary(lt_chan_sealed_size(plain.size), &out))
        return lt_crypto_raise_nomem(env);
    int locked = lock_chan(r);
    if (locked <= 0) {
        enif_release_binary(&out);
        if (locked < 0)
            return enif_make_badarg(env);
        return enif_schedule_nif(env, "chan_encrypt", ERL_NIF_DIRTY_JOB_IO_BOUND,
                                 lt_cnif_chan_encrypt, argc, argv);
    }
    size_t n = 0;
    int due = 0;
    lt_chan_err e =
        lt_chan_encrypt(r->ch, now, plain.data, plain.size, out.data, out.size, &n, &due);
    enif_mutex_unlock(r->lock);
    if (e != LT_CHAN_OK) {
        enif_release_binary(&out);
        if (e == LT_CHAN_E_KEY_EXPIRED)
            lt_crypto_count(LT_CTR_channel_seal_failures_key_expired, 1);
        return chan_error(env, e);
    }
    lt_crypto_count(LT_CTR_channel_sealed, 1);
    return enif_make_tuple3(env, lt_catom.ok, enif_make_binary(env, &out),
                            due ? lt_catom.true_ : lt_catom.false_);
}

/* chan_decrypt(Channel, Now, Message) -> {ok, Plain} | {error, Reason}. */
LT_CNIF(lt_cnif_chan_decrypt) {
    chan_res *r;
    ErlNifSInt64 now;
    ErlNifBinary msg, out;
    if (argc != 3 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now) ||
        !enif_inspect_binary(env, argv[2], &msg))
        return enif_make_badarg(env);
    if (msg.size < LT_CHAN_OVERHEAD) {
        count_open_failure(LT_CHAN_E_MALFORMED);
        return chan_error(env, LT_CHAN_E_MALFORMED);
    }
    if (msg.size - LT_CHAN_OVERHEAD > LT_CHAN_MAX_PLAIN) {
        count_open_failure(LT_CHAN_E_TOO_LARGE);
        return chan_error(env, LT_CHAN_E_TOO_LARGE);
    }
    /* The plaintext's size decides, as for encrypt: a 64 KiB chunk stays inline both ways. */
    LT_CRYPTO_DIRTY_ABOVE(LT_CHAN_DIRTY_BYTES, env, "chan_decrypt", lt_cnif_chan_decrypt, argc,
                          argv, msg.size - LT_CHAN_OVERHEAD);
    if (!enif_alloc_binary(msg.size - LT_CHAN_OVERHEAD, &out))
        return lt_crypto_raise_nomem(env);
    int locked = lock_chan(r);
    if (locked <= 0) {
        enif_release_binary(&out);
        if (locked < 0)
            return enif_make_badarg(env);
        return enif_schedule_nif(env, "chan_decrypt", ERL_NIF_DIRTY_JOB_IO_BOUND,
                                 lt_cnif_chan_decrypt, argc, argv);
    }
    size_t n = 0;
    lt_chan_err e = lt_chan_decrypt(r->ch, now, msg.data, msg.size, out.data, out.size, &n);
    enif_mutex_unlock(r->lock);
    if (e != LT_CHAN_OK) {
        enif_release_binary(&out);
        count_open_failure(e);
        return chan_error(env, e);
    }
    lt_crypto_count(LT_CTR_channel_opened, 1);
    return lt_crypto_ok(env, enif_make_binary(env, &out));
}

/* chan_close(Channel) -> ok: wipes and frees the channel's secrets now, without waiting for the
 * last reference to go; later calls on it are badarg. Closing a closed channel is ok. */
LT_CNIF(lt_cnif_chan_close) {
    chan_res *r;
    if (argc != 1 || !get_chan(env, argv[0], &r))
        return enif_make_badarg(env);
    int locked = lock_chan(r);
    if (locked == 0) {
        return enif_schedule_nif(env, "chan_close", ERL_NIF_DIRTY_JOB_IO_BOUND, lt_cnif_chan_close,
                                 argc, argv);
    }
    if (locked < 0)
        return lt_catom.ok;
    lt_chan_wipe(r->ch);
    sodium_free(r->ch);
    r->ch = NULL;
    enif_mutex_unlock(r->lock);
    return lt_catom.ok;
}

/* chan_rekey_due(Channel, Now) -> boolean(): whether the initiator should rekey (false for a
 * responder); first wipes the previous epoch's keys if their grace has passed. */
LT_CNIF(lt_cnif_chan_rekey_due) {
    chan_res *r;
    ErlNifSInt64 now;
    if (argc != 2 || !get_chan(env, argv[0], &r) || !enif_get_int64(env, argv[1], &now))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_rekey_due", lt_cnif_chan_rekey_due);
    lt_chan_expire(r->ch, now);
    int due = lt_chan_rekey_due(r->ch, now);
    enif_mutex_unlock(r->lock);
    return due ? lt_catom.true_ : lt_catom.false_;
}

static int put(ErlNifEnv *env, ERL_NIF_TERM *map, const char *key, ERL_NIF_TERM value) {
    return enif_make_map_put(env, *map, enif_make_atom(env, key), value, map);
}

/* chan_info(Channel) -> #{...}: what is not secret. The handshake hash identifies the session
 * (channel binding); the peer's static key is public. */
LT_CNIF(lt_cnif_chan_info) {
    chan_res *r;
    if (argc != 1 || !get_chan(env, argv[0], &r))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_info", lt_cnif_chan_info);
    lt_chan *c = r->ch;
    uint32_t epoch = c->cur.epoch, prev_epoch = c->prev.epoch, hs_epoch = c->hs_epoch;
    uint64_t sent = c->cur.sent, received = c->cur.received, rekeys = c->rekeys;
    uint64_t total_sent = c->total_sent, total_received = c->total_received;
    int64_t born = c->cur.born_ms, hs_started = c->hs_started_ms;
    int hs_active = c->hs_active, initiator = c->initiator, wanted = c->rekey_wanted;
    uint8_t hash[LT_NOISE_HASHLEN], peer[LT_NOISE_DHLEN];
    memcpy(hash, c->hash, sizeof hash);
    memcpy(peer, c->peer_static, sizeof peer);
    enif_mutex_unlock(r->lock);
    ERL_NIF_TERM map = enif_make_new_map(env);
    int ok = put(env, &map, "role", initiator ? lt_catom.initiator : lt_catom.responder) &&
             put(env, &map, "epoch", enif_make_uint(env, epoch)) &&
             put(env, &map, "previous_epoch", enif_make_uint(env, prev_epoch)) &&
             put(env, &map, "handshake_epoch", enif_make_uint(env, hs_epoch)) &&
             put(env, &map, "handshaking", hs_active ? lt_catom.true_ : lt_catom.false_) &&
             put(env, &map, "handshake_started", enif_make_int64(env, hs_started)) &&
             put(env, &map, "sent", enif_make_uint64(env, sent)) &&
             put(env, &map, "received", enif_make_uint64(env, received)) &&
             put(env, &map, "rekeys", enif_make_uint64(env, rekeys)) &&
             put(env, &map, "sent_total", enif_make_uint64(env, total_sent)) &&
             put(env, &map, "received_total", enif_make_uint64(env, total_received)) &&
             put(env, &map, "rekey_requested", wanted ? lt_catom.true_ : lt_catom.false_) &&
             put(env, &map, "key_born", enif_make_int64(env, born));
    if (ok && epoch != 0) {
        ERL_NIF_TERM h = lt_crypto_binary(env, hash, sizeof hash);
        ERL_NIF_TERM p = lt_crypto_binary(env, peer, sizeof peer);
        if (enif_is_exception(env, h))
            return h;
        if (enif_is_exception(env, p))
            return p;
        ok = put(env, &map, "handshake_hash", h) && put(env, &map, "peer_static", p);
    }
    return ok ? map : lt_crypto_raise_nomem(env);
}

/* chan_ae_key(Channel) -> <<_:256>> | {error, not_established}: the current epoch's
 * anti-entropy key (lt_chan_ae_key), for this node's own C node (docs/CHANNEL.md). It is the
 * one secret that leaves the channel's memory; it opens no channel message. */
LT_CNIF(lt_cnif_chan_ae_key) {
    chan_res *r;
    uint8_t key[LT_CHAN_AE_KEYLEN];
    if (argc != 1 || !get_chan(env, argv[0], &r))
        return enif_make_badarg(env);
    LOCK_OR_RESCHEDULE(r, "chan_ae_key", lt_cnif_chan_ae_key);
    lt_chan_err e = lt_chan_ae_key(r->ch, key);
    enif_mutex_unlock(r->lock);
    if (e != LT_CHAN_OK)
        return chan_error(env, e);
    ERL_NIF_TERM t = lt_crypto_binary(env, key, sizeof key);
    sodium_memzero(key, sizeof key);
    return t;
}
