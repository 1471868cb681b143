/*
 * lt_dotkernel.h — the dot kernel (Almeida et al., "Delta State Replicated Data Types"): a map
 * from keys to sets of dots plus a causal context, the shared core of three types
 * (docs/FORMAT.md, "Dot-kernel types"):
 *
 *   OR-Set       0x14  keys are the elements; add-wins, observed-remove, no tombstones
 *   LWW-Map      0x17  keys are map keys; each dot carries a payload (u64be HLC ts ‖ value)
 *   MV-Register  0x18  keys are the values; an assign supersedes every dot
 *
 * A dot (actor, n >= 1) names one write. The context holds every dot the state has seen; a
 * key is present while it has a dot. Join: a dot survives if both sides have it, or if one
 * side has it and the other has never seen it (it is not in the other's context); contexts
 * are united. A dot that one side has seen but no longer holds was removed there, so it goes.
 *
 * Binary form:
 *   tag 0x01
 *   varint na, na x (u64be id, varint len >= 1, actor bytes, varint base, varint k,
 *                    k x varint gap)                      the context: the DVV body (lt_dvv.h)
 *   varint ne, ne x u64be id                              keys, strictly ascending (id, bytes)
 *   ne x (varint len >= 1, key bytes, varint nd >= 1, nd x dot)
 *   dot = varint actor index (< na), varint counter >= 1 [, varint plen >= 9, payload]
 * Dots of a key are strictly ascending (actor index, counter), every dot is in the context, and
 * (checked by the full check) no dot appears under two keys. Only LWW-Map dots have a payload.
 *
 * Checking, in two levels as for the other types: every operation checks the structure (the
 * rules above but the last, and bounds); lt_dk_check_full adds canonical actors, keys and
 * payload values, ids, and dot uniqueness.
 */
#ifndef LT_DOTKERNEL_H
#define LT_DOTKERNEL_H

#include "lt_common.h"
#include "lt_digest.h"
#include "lt_table.h"
#include "lt_types.h"

/* Whether dots of type `tag` carry a payload (LWW-Map: u64be timestamp ‖ canonical value). */
static inline int lt_dk_has_payload(uint8_t tag) {
    return tag == LT_TYPE_LWWMAP;
}

/* One actor of a parsed context: its dots are 1..base and cloud[0..ncloud). */
typedef struct {
    uint64_t id;
    const uint8_t *bytes; /* into the parsed binary */
    size_t len;
    uint64_t base;
    const uint64_t *cloud; /* ascending, each > base + 1; into lt_dk_view.cloud_mem */
    size_t ncloud;
} lt_dk_actor;

#define LT_DK_INLINE_ACTORS 8
#define LT_DK_INLINE_CLOUD 8

/* A parsed binary: pointers into the caller's bytes (kept alive by the caller) plus arrays
 * it owns (lt_dk_close frees them). Not to be copied: the arrays may be inline. */
typedef struct {
    uint8_t tag;
    size_t na;
    lt_dk_actor *actors;
    uint64_t *cloud_mem;
    const uint8_t *ctx; /* the context section, from varint na: the digest's global bytes */
    size_t ctx_len;
    size_t ne;
    const uint8_t *ids;     /* ne * 8 bytes */
    const uint8_t *entries; /* the entry section */
    size_t entries_len;
    lt_dk_actor inline_actors[LT_DK_INLINE_ACTORS];
    uint64_t inline_cloud[LT_DK_INLINE_CLOUD];
} lt_dk_view;

/* Parses the header and the context (checking it fully but for canonical actor terms and
 * ids), and bounds the entry columns. `tag` is the type expected. On error nothing is left to
 * close; on LT_OK the caller calls lt_dk_close. */
LT_WARN_UNUSED lt_err lt_dk_open(lt_dk_view *v, const uint8_t *p, size_t len, uint8_t tag);
void lt_dk_close(lt_dk_view *v);

/* Whether the view's context holds dot (actor index a, counter c). */
int lt_dk_has_seen(const lt_dk_view *v, size_t a, uint64_t c);
/* The highest counter of actor index a in the context. */
uint64_t lt_dk_actor_max(const lt_dk_view *v, size_t a);

/* One entry, as read by lt_dk_next (which checks it). */
typedef struct {
    uint64_t id;
    const uint8_t *key;
    size_t key_len;
    size_t nd;
    const uint8_t *dots; /* nd dots, dots_len bytes */
    size_t dots_len;
    /* The first dot, parsed (a shortcut for the common nd = 1) */
    uint64_t c0;
    uint32_t a0;
    const uint8_t *p0; /* its payload, or NULL */
    size_t p0_len;
    const uint8_t *start; /* the whole entry: from its key's length to its last dot */
    size_t span;
} lt_dk_entry;

typedef struct {
    uint32_t actor; /* index into the view's actors */
    uint64_t counter;
    const uint8_t *payload; /* NULL for types without */
    size_t payload_len;
} lt_dk_dot;

/* Reads entry i (i < v->ne), starting at *off in the entry section, and advances *off. Checks
 * the entry's structure: lengths, dot order, actor indices, counters, payload lengths, and
 * that each dot is in the context. Not the order against the previous entry. */
LT_WARN_UNUSED lt_err lt_dk_next(const lt_dk_view *v, size_t i, size_t *off, lt_dk_entry *e);
/* Reads the dot at *off in e->dots (an entry lt_dk_next accepted) and advances *off. */
void lt_dk_dot_at(const lt_dk_view *v, const lt_dk_entry *e, size_t *off, lt_dk_dot *d);

/* The structural check of every entry and their order. */
LT_WARN_UNUSED lt_err lt_dk_check(const lt_dk_view *v);
/* Structure, then canonical actors, keys and payload values, ids, and no dot under two keys. */
LT_WARN_UNUSED lt_err lt_dk_check_full(const lt_dk_view *v);

/* Finds a key: *e receives its entry and *found 1, or *found 0. Checks the structure. */
LT_WARN_UNUSED lt_err lt_dk_lookup(const lt_dk_view *v, uint64_t id, const uint8_t *key,
                                   size_t key_len, lt_dk_entry *e, int *found);

/* Appends the join of a and b (views of one type) to `out` as a complete binary, after
 * checking both structures. On error out->len is unchanged. */
LT_WARN_UNUSED lt_err lt_dk_merge(const lt_dk_view *a, const lt_dk_view *b, lt_buf *out);

/* The same join in steps, for a caller that must not hold its thread for long (the NIF yields
 * between steps). start checks nothing but the headers and writes the united context; each
 * step walks at most `budget` entries (then, once they are all written, writes the key ids
 * and moves the entries into place in slices proportional to `budget`) and sets *done when
 * the join is complete. a, b and out
 * are borrowed: they must stay put until lt_dk_merge_free. On any error out->len is restored
 * and the caller frees the merger. */
typedef struct lt_dk_merger lt_dk_merger;
LT_WARN_UNUSED lt_err lt_dk_merge_start(const lt_dk_view *a, const lt_dk_view *b, lt_buf *out,
                                        lt_dk_merger **m);
LT_WARN_UNUSED lt_err lt_dk_merge_step(lt_dk_merger *m, size_t budget, int *done);
void lt_dk_merge_free(lt_dk_merger *m);

/* An upper bound of the size of lt_dk_merge's output, so it can go straight into a buffer of
 * that size (a fixed one: the NIF's result binary); 0 when there is no cheap bound (more than
 * 128 actors between them), then use a growing buffer. */
size_t lt_dk_merge_bound(const lt_dk_view *a, const lt_dk_view *b);

/* Writes the state's 16-byte digest (lt_digest.h): entries hash as u64be key id ‖ key bytes ‖
 * per dot (u64be actor id, varint counter[, varint plen, payload]); the global bytes are the
 * context section. Checks the structure. */
LT_WARN_UNUSED lt_err lt_dk_digest(const lt_dk_view *v, uint8_t out[16]);

/* ---- updates --------------------------------------------------------------------------- */

/* One key an update touches. Its current dots are superseded (they go into the delta's
 * context, so they leave every replica the delta reaches); when `add` is set the key gets one
 * new dot of the updating actor, carrying `payload` for an LWW-Map. */
typedef struct {
    uint64_t id;
    const uint8_t *key; /* canonical bytes, the caller's */
    size_t key_len;
    const uint8_t *payload;
    size_t payload_len;
    int add;
} lt_dk_op;

/* The update of a state (a view, or an object below) by `actor` (canonical bytes and id): ops
 * in the order given; a key given twice counts once (its first op). New dots are numbered
 * from the actor's highest seen counter + 1, in op order. With `all` set, every dot of the
 * state is superseded too (an MV-Register assign). The delta is appended to `delta`; for a
 * view the state after it (the join) to `state`.
 * A removal (add = 0) of a key that is absent fails with LT_E_ABSENT and *absent = the index of
 * the first such op; nothing is written then. LT_E_OVERFLOW when the actor's counter would
 * pass 2^64 - 1. */
LT_WARN_UNUSED lt_err lt_dk_update(const lt_dk_view *v, uint64_t actor_id, const uint8_t *actor,
                                   size_t actor_len, lt_dk_op *ops, size_t k, int all,
                                   lt_buf *delta, lt_buf *state, size_t *absent);

/* What lt_dk_update and lt_dk_obj_update share, so both give the same delta bytes. */

/* Appends one entry of a context section (docs/FORMAT.md): the actor's id and canonical bytes,
 * its base, and its cloud — `ncloud` strictly ascending counters, each above base + 1 — as
 * gaps. The one writer of contexts: merge, delta and snapshot all go through it. */
void lt_dk_put_ctx_entry(lt_buf *out, uint64_t id, const uint8_t *actor, size_t len, uint64_t base,
                         const uint64_t *cloud, size_t ncloud);

/* A dot of a delta's context: the actor's id and canonical bytes (the caller's), a counter. */
typedef struct {
    uint64_t id;
    const uint8_t *actor;
    size_t actor_len;
    uint64_t counter;
} lt_dk_cdot;

/* A key a delta adds, with its one new dot. */
typedef struct {
    const lt_dk_op *op;
    uint64_t actor_id;
    const uint8_t *actor;
    size_t actor_len;
    uint64_t counter;
} lt_dk_add;

/* Appends the delta holding `adds` (keys distinct, all by one actor) with the context of
 * `ctx`, which must include the new dots. Sorts both arrays in place. */
LT_WARN_UNUSED lt_err lt_dk_build_delta(uint8_t tag, lt_dk_cdot *ctx, size_t nctx, lt_dk_add *adds,
                                        size_t nadds, lt_buf *out);

/* The ops in key order (stable), and which ops repeat an earlier op's key. Owns both arrays
 * (inline for a few ops: not to be copied). */
#define LT_DK_INLINE_OPS 8
typedef struct {
    size_t *order;
    uint8_t *dup;
    size_t inline_order[LT_DK_INLINE_OPS];
    uint8_t inline_dup[LT_DK_INLINE_OPS];
} lt_dk_plan;
LT_WARN_UNUSED lt_err lt_dk_ops_plan(const lt_dk_op *ops, size_t k, lt_dk_plan *plan);
void lt_dk_plan_free(lt_dk_plan *plan);

/* ---- in-place objects ------------------------------------------------------------------
 * The same state with O(1) lookups: a table of actors with their contexts, a table of keys
 * with their dots, and an index from each dot to its key (so a delta that removes a dot finds
 * it without a scan). The live-key count and the digest's entry sum are kept current. */
typedef struct {
    uint32_t actor; /* slot in the object's actor table */
    uint32_t payload_len;
    uint64_t counter;
    uint8_t *payload; /* owned; NULL without payload */
} lt_dk_odot;

typedef struct {
    uint32_t n, cap; /* cap 0: the one dot is inline in `one` */
    union {
        lt_dk_odot one;
        lt_dk_odot *many;
    } u;
} lt_dk_dots;

typedef struct {
    uint64_t base;
    uint64_t *cloud; /* ascending, owned */
    uint32_t ncloud, cloud_cap;
} lt_dk_ctx;

typedef struct {
    uint8_t tag;
    lt_table actors;
    lt_dk_ctx *ctx; /* per actor slot; owned */
    size_t ctx_cap;
    lt_table keys;
    lt_dk_dots *dots; /* per key slot; owned */
    uint8_t *mark;    /* per key slot, scratch for joins (0 outside one); owned */
    size_t keys_cap;
    size_t live;          /* keys with at least one dot */
    size_t ndots;         /* dots held */
    size_t payload_bytes; /* bytes of the dots' payloads (LWW-Map values) */
    /* The dot index: open addressing on (actor slot, counter) -> key slot. */
    struct lt_dk_slot *index;
    size_t index_cap; /* a power of two, or 0 */
    lt_digest_acc digest;
    lt_buf scratch;
} lt_dk_obj;

void lt_dk_obj_init(lt_dk_obj *o, uint8_t tag);
void lt_dk_obj_free(lt_dk_obj *o);

/* Joins a binary of the object's type. Checks it fully first (lt_dk_check_full), so a bad
 * binary leaves the object unchanged; after that only LT_E_NOMEM stops the join midway. */
LT_WARN_UNUSED lt_err lt_dk_obj_join(lt_dk_obj *o, const lt_dk_view *v);

/* As lt_dk_update, in place: appends the delta and joins it. */
LT_WARN_UNUSED lt_err lt_dk_obj_update(lt_dk_obj *o, uint64_t actor_id, const uint8_t *actor,
                                       size_t actor_len, lt_dk_op *ops, size_t k, int all,
                                       lt_buf *delta, size_t *absent);

/* The key's slot when it is present (has a dot), else -1. */
ptrdiff_t lt_dk_obj_find(const lt_dk_obj *o, uint64_t id, const uint8_t *key, size_t key_len);

static inline const lt_dk_odot *lt_dk_obj_dots(const lt_dk_obj *o, size_t slot) {
    const lt_dk_dots *d = &o->dots[slot];
    return d->cap == 0 ? &d->u.one : d->u.many;
}

/* Appends the canonical binary of the state to `out`. */
LT_WARN_UNUSED lt_err lt_dk_obj_snapshot(lt_dk_obj *o, lt_buf *out);
/* The digest: equal to lt_dk_digest of the snapshot. */
LT_WARN_UNUSED lt_err lt_dk_obj_digest(lt_dk_obj *o, uint8_t out[16]);

#endif
