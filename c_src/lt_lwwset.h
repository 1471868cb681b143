/*
 * lt_lwwset.h — LWW-Element-Sets as canonical binaries and as in-place objects (docs/FORMAT.md,
 * "Sets").
 *
 *   0x16 0x01  u8 bias  varint n  n x u64be id  n x u64be add_ts  n x u64be rem_ts
 *              n x (varint len >= 1, bytes)
 *
 * Each entry is one element: its canonical term bytes (lt_canon.h) and their id (XXH3-64,
 * lt_actor_id), entries strictly ascending by (id, element bytes) as in the other sets
 * (lt_actor_cmp), with the HLC timestamps of the element's latest add and latest remove (0 for
 * never; never both 0: such an entry is not stored). Merge is the union with each timestamp
 * the maximum of the two. The bias (LT_LWWSET_ADD or LT_LWWSET_REMOVE) is fixed when the set is
 * made: an element is in the value when add_ts > rem_ts, or when they are equal (and so both
 * non-zero) and the bias is LT_LWWSET_ADD. Two sets of different bias do not merge
 * (LT_E_BIAS).
 *
 * Checking, in two levels (as the other sets'):
 *  - every operation on a binary checks its structure: header, bias byte in 0..1, bounds, each
 *    length non-zero, no entry with both timestamps 0, strict (id, bytes) order, the element
 *    section ending exactly at the end;
 *  - lt_lwwset_check_full also checks that each element is a canonical term and each id the
 *    hash of its element. It runs where bytes become terms (values, lists), in objects' joins
 *    and in validate.
 *
 * An in-place object (lt_lwwset_obj) holds the same state in an lt_table of elements with two
 * timestamps per slot, so adding, removing and testing an element cost O(1) whatever the size
 * of the set; the count of elements in the value and the digest (lt_digest.h) are kept current
 * as it changes.
 */
#ifndef LT_LWWSET_H
#define LT_LWWSET_H

#include "lt_colset.h"
#include "lt_common.h"
#include "lt_digest.h"
#include "lt_table.h"
#include "lt_types.h"

/* The bias byte. LT_LWWSET_UNSET is never in a binary: it is an object's bias before its first
 * join (lt_lwwset_obj_init). */
enum { LT_LWWSET_ADD = 0, LT_LWWSET_REMOVE = 1, LT_LWWSET_UNSET = 0xff };

/* Bytes per entry in the fixed-width columns: id, add_ts, rem_ts. */
#define LT_LWWSET_FIXED 24

/* A parsed header: pointers into the caller's bytes, valid while those bytes are. */
typedef struct {
    uint8_t bias; /* LT_LWWSET_ADD or LT_LWWSET_REMOVE */
    size_t n;
    const uint8_t *ids;   /* n * 8 bytes */
    const uint8_t *adds;  /* n * 8 bytes */
    const uint8_t *rems;  /* n * 8 bytes */
    const uint8_t *elems; /* the element section */
    size_t elems_len;
} lt_lwwset_view;

/* O(1): checks the header (tag, version, bias, n) and that the fixed-width columns fit in
 * p[0..len). Another tag is LT_E_WRONG_TYPE, a bias byte above 1 LT_E_NONCANONICAL. The view
 * points into p; the caller keeps p alive while using it. */
LT_WARN_UNUSED lt_err lt_lwwset_open(lt_lwwset_view *v, const uint8_t *p, size_t len);

/* The id, add timestamp and remove timestamp of entry i (i < v->n). */
static inline uint64_t lt_lwwset_id(const lt_lwwset_view *v, size_t i) {
    return lt_read_be64(v->ids + 8 * i);
}
static inline uint64_t lt_lwwset_add_ts(const lt_lwwset_view *v, size_t i) {
    return lt_read_be64(v->adds + 8 * i);
}
static inline uint64_t lt_lwwset_rem_ts(const lt_lwwset_view *v, size_t i) {
    return lt_read_be64(v->rems + 8 * i);
}

/* Whether an element with these timestamps is in the value of a set of this bias. */
static inline int lt_lwwset_is_in_value(uint8_t bias, uint64_t add_ts, uint64_t rem_ts) {
    return add_ts > rem_ts || (add_ts == rem_ts && add_ts != 0 && bias == LT_LWWSET_ADD);
}

/* Reads the element at *off in the element section and advances *off past it. *elem points
 * into the view's bytes. Checks bounds and a non-zero length only. */
static inline lt_err lt_lwwset_next_elem(const lt_lwwset_view *v, size_t *off, const uint8_t **elem,
                                         size_t *elem_len) {
    uint64_t len;
    lt_err e = lt_varint_read(v->elems, v->elems_len, off, &len);
    if (LT_UNLIKELY(e != LT_OK))
        return e;
    if (LT_UNLIKELY(len == 0))
        return LT_E_NONCANONICAL;
    if (LT_UNLIKELY(len > v->elems_len - *off))
        return LT_E_TRUNCATED;
    *elem = v->elems + *off;
    *elem_len = (size_t)len;
    *off += (size_t)len;
    return LT_OK;
}

/* The structural check (see above). Returns LT_OK or what is wrong; allocates nothing. */
LT_WARN_UNUSED lt_err lt_lwwset_check(const lt_lwwset_view *v);

/* Structure, then canonical elements and ids (LT_E_ID when an id is not its element's hash). */
LT_WARN_UNUSED lt_err lt_lwwset_check_full(const lt_lwwset_view *v);

/* Checks the structure and finds an element (its canonical bytes and id) in one pass: *add_ts
 * and *rem_ts receive its timestamps, both 0 when it is absent. */
LT_WARN_UNUSED lt_err lt_lwwset_lookup(const lt_lwwset_view *v, uint64_t id, const uint8_t *elem,
                                       size_t elem_len, uint64_t *add_ts, uint64_t *rem_ts);

/* Checks the structure and counts the elements in the value. */
LT_WARN_UNUSED lt_err lt_lwwset_count(const lt_lwwset_view *v, size_t *count);

/* Appends the merge of a and b (each timestamp the maximum) to `out` as a complete binary,
 * after checking both structures; LT_E_BIAS when their biases differ. The output is never
 * longer than the two inputs together, so `out` may be a fixed buffer of that size. On error,
 * out->len is unchanged. */
LT_WARN_UNUSED lt_err lt_lwwset_merge(const lt_lwwset_view *a, const lt_lwwset_view *b,
                                      lt_buf *out);

/* The same merge in steps (the NIF yields between them): lt_cols_merge_step and
 * lt_cols_merge_free (lt_colset.h) run and free the merger. The inputs' bytes and `out` must
 * stay put until it is freed. */
LT_WARN_UNUSED lt_err lt_lwwset_merge_start(const lt_lwwset_view *a, const lt_lwwset_view *b,
                                            lt_buf *out, lt_cols_merger **m);

/* Writes the 16-byte digest of the state to out, after checking its structure. Entry bytes:
 * u64be id ‖ u64be add_ts ‖ u64be rem_ts ‖ element bytes; global bytes: the bias byte. */
LT_WARN_UNUSED lt_err lt_lwwset_digest(const lt_lwwset_view *v, uint8_t out[16]);

/* One element for lt_lwwset_build: `elem` points at canonical bytes the caller keeps alive. */
typedef struct {
    uint64_t id;
    uint64_t add_ts, rem_ts;
    const uint8_t *elem;
    size_t elem_len;
} lt_lwwset_entry;

/* Sorts entries in place into canonical (id, element bytes) order (repeats stay, adjacent). */
void lt_lwwset_sort(lt_lwwset_entry *e, size_t n);

/* Checks the structure and finds k entries (sorted by lt_lwwset_sort; repeats allowed) in one
 * pass over v: add[i] and rem[i] receive entry i's timestamps in v, both 0 when absent. O(n + k).
 * The arrays are the caller's, with room for k values each. */
LT_WARN_UNUSED lt_err lt_lwwset_lookup_sorted(const lt_lwwset_view *v, const lt_lwwset_entry *e,
                                              size_t k, uint64_t *add, uint64_t *rem);

/* Sorts the entries in place and appends the set of bias `bias` holding them to `out`. An
 * element given more than once is written once, with the maximum of each timestamp (so a list
 * with repeats is a set); the entries of a run other than its last get both timestamps 0.
 * Entries with both timestamps 0 are left out. LT_E_NOMEM on allocation failure. */
LT_WARN_UNUSED lt_err lt_lwwset_build(uint8_t bias, lt_lwwset_entry *e, size_t n, lt_buf *out);

/* An update: the set of `k` entries (sorted in place, as lt_lwwset_build) with v's bias is
 * appended to `delta`, and the merge of v with it to `state`. Checks v's structure; on error
 * neither buffer is longer than it was. */
LT_WARN_UNUSED lt_err lt_lwwset_update(const lt_lwwset_view *v, lt_lwwset_entry *e, size_t k,
                                       lt_buf *delta, lt_buf *state);

/* ---- in-place objects ------------------------------------------------------------------ */
typedef struct {
    uint8_t bias;         /* LT_LWWSET_ADD, LT_LWWSET_REMOVE, or LT_LWWSET_UNSET */
    lt_table elems;       /* the elements' canonical bytes, by id; owned */
    uint64_t *ts;         /* per slot of `elems`, add_ts at 2 * slot and rem_ts at 2 * slot + 1;
                             both 0 only for a slot whose first set failed (OOM); owned */
    size_t ts_cap;        /* slots `ts` has room for */
    size_t live;          /* elements in the value */
    lt_digest_acc digest; /* Σ of the entries' hashes, kept current */
} lt_lwwset_obj;

/* An empty set of bias `bias`, or of LT_LWWSET_UNSET: then the first successful join fixes the
 * bias to the binary's (the NIF's objects are made that way and joined with their first state
 * at once), or the first lt_lwwset_obj_set to LT_LWWSET_ADD; a snapshot or digest before either
 * is the empty add-biased set's. Allocates nothing. */
void lt_lwwset_obj_init(lt_lwwset_obj *o, uint8_t bias);
/* Frees everything the object owns; the object is then empty (and may be reused), its bias
 * unchanged. */
void lt_lwwset_obj_free(lt_lwwset_obj *o);

/* Raises the element's timestamps to at least add_ts and rem_ts (not both 0), adding it if
 * absent. The element's bytes are copied. LT_E_NOMEM leaves the object unchanged. */
LT_WARN_UNUSED lt_err lt_lwwset_obj_set(lt_lwwset_obj *o, uint64_t id, const uint8_t *elem,
                                        size_t elem_len, uint64_t add_ts, uint64_t rem_ts);

/* The timestamps of an element into *add_ts and *rem_ts, both 0 when absent. */
void lt_lwwset_obj_get(const lt_lwwset_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len,
                       uint64_t *add_ts, uint64_t *rem_ts);

/* Joins a binary (a state or a delta). Checks it fully first (lt_lwwset_check_full; LT_E_BIAS
 * when its bias is not the object's), so on a bad binary the object is unchanged. After the
 * check, only LT_E_NOMEM can stop the join midway, leaving a valid state between the old one
 * and the join. */
LT_WARN_UNUSED lt_err lt_lwwset_obj_join(lt_lwwset_obj *o, const lt_lwwset_view *v);

/* Appends the canonical binary of the object's state to `out` (sorting the slots). */
LT_WARN_UNUSED lt_err lt_lwwset_obj_snapshot(const lt_lwwset_obj *o, lt_buf *out);

/* Writes the object's digest: equal to lt_lwwset_digest of its snapshot. */
LT_WARN_UNUSED lt_err lt_lwwset_obj_digest(const lt_lwwset_obj *o, uint8_t out[16]);

#endif
