/*
 * lt_lwwreg.h — the last-writer-wins register (docs/FORMAT.md, "LWW-Register").
 *
 * A register holds one data term; the write with the greatest HLC timestamp wins, ties broken
 * by the writer's actor (canonical bytes order) and then by the value's bytes (only a forged
 * state can tie on both). The binary:
 *     0x15 0x01                                            the empty register (never assigned)
 *     0x15 0x01  u64be ts (>= 1)  varint alen >= 1, actor bytes  value bytes (to the end)
 * where actor and value are canonical terms (lt_canon.h). The empty register is the bottom of
 * the order; merge is the greater of the two states, so it returns one of its inputs as is.
 *
 * An in-place object (lt_lwwreg_obj) holds the current state's bytes, with its digest kept
 * current. There is nothing to index: a register is one entry.
 */
#ifndef LT_LWWREG_H
#define LT_LWWREG_H

#include "lt_common.h"
#include "lt_hlc.h"
#include "lt_types.h"

/* A parsed register: pointers into the caller's bytes, valid while those bytes are. For the
 * empty register `empty` is 1 and every other field is zero or NULL. */
typedef struct {
    int empty;
    uint64_t ts;          /* >= 1 */
    const uint8_t *actor; /* one canonical term */
    size_t actor_len;     /* >= 1 */
    const uint8_t *value; /* one canonical term, to the end of the binary */
    size_t value_len;     /* >= 1 */
    const uint8_t *body;  /* everything after the 2-byte header: the digest's one entry */
    size_t body_len;
} lt_lwwreg_view;

/* Reads and checks the register p[0..len) (the caller's bytes, not copied): the header, the
 * timestamp (0 is LT_E_ZERO), the actor's length (0 is LT_E_NONCANONICAL) and bounds, and that
 * actor and value are each exactly one canonical term (lt_canon_validate), the value ending
 * the input. O(len). On error *v is unspecified. */
LT_WARN_UNUSED lt_err lt_lwwreg_open(lt_lwwreg_view *v, const uint8_t *p, size_t len);

/* The order of registers: -1, 0 or 1 as a is below, equal to or above b by (ts, actor bytes,
 * value bytes), the empty register below every other. Both views must come from
 * lt_lwwreg_open (or the object). */
int lt_lwwreg_cmp(const lt_lwwreg_view *a, const lt_lwwreg_view *b);

/* Merge: which of two opened registers is their join, 0 for a (also when they are equal) or
 * 1 for b. The join is that input's bytes, unchanged. */
static inline int lt_lwwreg_choose(const lt_lwwreg_view *a, const lt_lwwreg_view *b) {
    return lt_lwwreg_cmp(a, b) >= 0 ? 0 : 1;
}

/* The exact size of a non-empty register with these lengths, in *size; LT_E_OVERFLOW when it
 * would not fit a size_t. */
LT_WARN_UNUSED lt_err lt_lwwreg_size(size_t actor_len, size_t value_len, size_t *size);

/* Appends a non-empty register to out. The caller passes canonical actor and value bytes
 * (from the encoder, or from an opened view): they are copied, not checked. LT_E_ZERO for
 * ts 0, LT_E_NONCANONICAL for an empty actor, LT_E_TRUNCATED for an empty value (all three
 * caller bugs), LT_E_NOMEM when out cannot grow (out->failed is then set). */
LT_WARN_UNUSED lt_err lt_lwwreg_write(uint64_t ts, const uint8_t *actor, size_t actor_len,
                                      const uint8_t *value, size_t value_len, lt_buf *out);

/* The digest of an opened register into out (docs/FORMAT.md, "Digests"): no entries for the
 * empty register, else one entry, the body. LT_E_NOMEM if the hash state cannot be had. */
LT_WARN_UNUSED lt_err lt_lwwreg_digest(const lt_lwwreg_view *v, uint8_t out[16]);

/* The timestamp of an assign by the node's clock, given the clock's last timestamp, the
 * register's current timestamp (0 for the empty register) and the wall clock: the HLC receive
 * rule with the current timestamp as the remote one, without the max-offset check (our own
 * state is not a remote clock to distrust, and the register must not go back in time however
 * far ahead it is): max(last + 1, current + 1, physical_ms << 16). It is > current unless
 * current is UINT64_MAX, when no timestamp is greater: the caller checks for that first. */
static inline uint64_t lt_lwwreg_next_ts(uint64_t last, uint64_t current, uint64_t physical_ms) {
    uint64_t next = 0, skew = 0;
    lt_err e = lt_hlc_receive(last, current, physical_ms, UINT64_MAX, &next, &skew);
    (void)e; /* never LT_E_TOO_BIG: no physical part is more than UINT64_MAX ms ahead */
    (void)skew;
    return next;
}

/* ---- in-place object ------------------------------------------------------------------ */
typedef struct {
    lt_buf state;        /* the canonical binary of the current state; owned */
    lt_lwwreg_view view; /* the state, parsed: pointers into state.data */
    uint8_t digest[16];  /* the state's digest, kept current */
} lt_lwwreg_obj;

/* Makes o the empty register. LT_E_NOMEM when out of memory; o is then still safe to pass
 * to lt_lwwreg_obj_free. */
LT_WARN_UNUSED lt_err lt_lwwreg_obj_init(lt_lwwreg_obj *o);
/* Frees what o owns (not o itself) and NULLs it. */
void lt_lwwreg_obj_free(lt_lwwreg_obj *o);

/* The current timestamp, 0 for the empty register. */
static inline uint64_t lt_lwwreg_obj_ts(const lt_lwwreg_obj *o) {
    return o->view.ts;
}

/* Joins the register bin[0..len) (the caller's bytes, copied if kept) into o: checks it as
 * lt_lwwreg_open does and keeps the greater of the two. On any error o is unchanged. */
LT_WARN_UNUSED lt_err lt_lwwreg_obj_join(lt_lwwreg_obj *o, const uint8_t *bin, size_t len);

/* Assigns value (canonical bytes, copied, not checked) by actor (the same) at ts, which must
 * be greater than the current timestamp: LT_E_ORDER otherwise (a stale timestamp), and the
 * write errors of lt_lwwreg_write. On any error o is unchanged. */
LT_WARN_UNUSED lt_err lt_lwwreg_obj_assign(lt_lwwreg_obj *o, uint64_t ts, const uint8_t *actor,
                                           size_t actor_len, const uint8_t *value,
                                           size_t value_len);

/* Appends the canonical binary of o's state to out; LT_E_NOMEM when out cannot grow. */
LT_WARN_UNUSED lt_err lt_lwwreg_obj_snapshot(const lt_lwwreg_obj *o, lt_buf *out);

/* Copies o's digest (kept current, so O(1)) to out. */
void lt_lwwreg_obj_digest(const lt_lwwreg_obj *o, uint8_t out[16]);

#endif
