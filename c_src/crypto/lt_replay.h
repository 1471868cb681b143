/*
 * lt_replay.h — anti-replay windows: for each sender, the greatest message counter accepted so
 * far and a sliding bitmap of the counters accepted just below it.
 *
 * The bitmap is the ring of RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting"), as
 * WireGuard keeps it: `bits` bits in 64-bit blocks, of which one block is slack, so a window of
 * `bits` bits accepts counters down to greatest - (bits - 64) + 1. Moving the window forward
 * clears the blocks it passes over (at most all of them) and never shifts a bit; a check is one
 * block read. Counters are full 64-bit values; 0 is a counter like any other.
 *
 * A counter is refused as a DUPLICATE when it was accepted before and is still inside the window,
 * as TOO_OLD when it is below the window (it may or may not have been seen: the window no longer
 * knows, so it refuses). Everything else is new.
 *
 * check and update are split so that a receiver can look before it verifies a message's MAC and
 * change the window only after: check never changes anything; update checks again and marks the
 * counter (so two receivers racing on one counter see exactly one success).
 *
 * The table maps sender names (1..LT_REPLAY_MAX_SENDER bytes) to windows. Its index is made
 * once, for `max_senders`, so an insert never rehashes (no call takes longer as the table fills);
 * a sender past the cap is refused (LT_REPLAY_FULL). Slots are found by SipHash-2-4 of the name
 * under a random per-table key (libsodium's crypto_shorthash). Not thread-safe: the caller
 * serializes (the NIF glue holds a lock around every call).
 *
 * Plain C99 over libsodium; knows nothing of the BEAM.
 */
#ifndef LT_REPLAY_H
#define LT_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define LT_REPLAY_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LT_REPLAY_WARN_UNUSED
#endif

#define LT_REPLAY_MIN_BITS 1024
#define LT_REPLAY_MAX_BITS 65536
#define LT_REPLAY_DEFAULT_BITS 8192
#define LT_REPLAY_MAX_SENDER 255
#define LT_REPLAY_MAX_SENDERS (1u << 20)
#define LT_REPLAY_DEFAULT_SENDERS 4096

typedef enum {
    LT_REPLAY_OK = 0,    /* new: check says it may be accepted; update accepted it */
    LT_REPLAY_DUPLICATE, /* seen before, inside the window */
    LT_REPLAY_TOO_OLD,   /* below the window */
    LT_REPLAY_FULL,      /* update of a new sender in a table at max_senders */
    LT_REPLAY_NOMEM      /* update of a new sender: out of memory */
} lt_replay_result;

/* ---- one window ------------------------------------------------------------------------- */

typedef struct {
    uint64_t greatest; /* the greatest counter accepted; meaningless while !any */
    uint32_t nblocks;  /* bits / 64, a power of two */
    uint32_t any;      /* whether any counter has been accepted */
    uint64_t blocks[]; /* nblocks blocks: counter c is bit c % 64 of block (c / 64) % nblocks */
} lt_replay_window;

/* Whether `bits` is a valid window size: a power of two in MIN_BITS..MAX_BITS. */
int lt_replay_bits_ok(uint32_t bits);
/* How many counters below the greatest (inclusive of it) a window of `bits` bits accepts. */
uint32_t lt_replay_span(uint32_t bits);

/* A new, empty window of `bits` bits (lt_replay_bits_ok), owned by the caller (free()), or NULL
 * when out of memory or bits is invalid. */
lt_replay_window *lt_replay_window_new(uint32_t bits);
/* Whether `counter` would be accepted. Changes nothing. */
lt_replay_result lt_replay_window_check(const lt_replay_window *w, uint64_t counter);
/* Accepts `counter` when it is new (moving the window when it is the greatest yet), else
 * refuses it as check would, changing nothing. */
lt_replay_result lt_replay_window_update(lt_replay_window *w, uint64_t counter);

/* ---- the table of senders ---------------------------------------------------------------- */

typedef struct lt_replay_table lt_replay_table;

typedef struct {
    uint64_t checks, updates, accepted, duplicates, too_old, full;
    uint32_t bits, senders, max_senders;
} lt_replay_stats;

/* A new, empty table whose windows have `bits` bits, for at most `max_senders` senders
 * (1..LT_REPLAY_MAX_SENDERS). Owned by the caller (lt_replay_table_free). NULL when out of
 * memory or an argument is out of range. Needs libsodium initialized (sodium_init). */
lt_replay_table *lt_replay_table_new(uint32_t bits, uint32_t max_senders);
/* Frees t and every window (NULL: no-op). */
void lt_replay_table_free(lt_replay_table *t);

/* As lt_replay_window_check for sender's window (a sender never seen: OK). The sender's bytes
 * are the caller's, 1..LT_REPLAY_MAX_SENDER of them (the glue checks). Counts the check. */
lt_replay_result lt_replay_table_check(lt_replay_table *t, const uint8_t *sender, size_t len,
                                       uint64_t counter) LT_REPLAY_WARN_UNUSED;
/* As lt_replay_window_update for sender's window, making one for a new sender (FULL or NOMEM
 * when it cannot). */
lt_replay_result lt_replay_table_update(lt_replay_table *t, const uint8_t *sender, size_t len,
                                        uint64_t counter) LT_REPLAY_WARN_UNUSED;
/* The greatest counter accepted from sender: 1 and *greatest set, or 0 when none was. */
int lt_replay_table_greatest(const lt_replay_table *t, const uint8_t *sender, size_t len,
                             uint64_t *greatest);
/* Drops sender's window (a sender that left, or whose key was replaced: its counters may start
 * again). Returns 1 when there was one. */
int lt_replay_table_forget(lt_replay_table *t, const uint8_t *sender, size_t len);
void lt_replay_table_stats(const lt_replay_table *t, lt_replay_stats *out);

#endif
