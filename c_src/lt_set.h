/*
 * lt_set.h — G-Sets and 2P-Sets as canonical binaries and as in-place objects (docs/FORMAT.md,
 * "Sets").
 *
 *   G-Set    0x12 0x01  varint n  n x u64be id                n x (varint len >= 1, bytes)
 *   2P-Set   0x13 0x01  varint n  n x u64be id  n x u8 flags  n x (varint len >= 1, bytes)
 *
 * Each entry is one element: its canonical term bytes (lt_canon.h) and their id (XXH3-64,
 * lt_actor_id), entries strictly ascending by (id, element bytes) as in the clock formats
 * (lt_actor_cmp). A 2P-Set entry's flags say whether the element was added (1), removed (2) or
 * both (3); a G-Set entry is always "added". Merge is the union, flags OR'ed. The value is the
 * elements whose flags are exactly "added": a removed element never comes back.
 *
 * Checking, in two levels (as the vector clock's):
 *  - every operation on a binary checks its structure: header, bounds, each length non-zero,
 *    flags in 1..3, strict (id, bytes) order, the element section ending exactly at the end;
 *  - lt_set_check_full also checks that each element is a canonical term and each id the hash
 *    of its element. It runs where bytes become terms (values, lists) and in validate.
 *
 * An in-place object (lt_set_obj) holds the same state in an lt_table of elements with a
 * flags byte per slot, so adding, removing and testing an element costs O(1) whatever the
 * size of the set; the count of elements in the value and the digest (lt_digest.h) are kept
 * current as it changes.
 */
#ifndef LT_SET_H
#define LT_SET_H

#include "lt_colset.h"
#include "lt_common.h"
#include "lt_digest.h"
#include "lt_table.h"
#include "lt_types.h"

/* Entry flags. A G-Set has no flags column: all of its entries are LT_SET_ADDED. */
enum { LT_SET_ADDED = 1, LT_SET_REMOVED = 2, LT_SET_BOTH = 3 };

/* A parsed header: pointers into the caller's bytes, valid while those bytes are. */
typedef struct {
    uint8_t tag; /* LT_TYPE_GSET or LT_TYPE_TWOPSET */
    size_t n;
    const uint8_t *ids;   /* n * 8 bytes */
    const uint8_t *flags; /* n bytes; NULL for a G-Set */
    const uint8_t *elems; /* the element section */
    size_t elems_len;
} lt_set_view;

/* O(1): checks the header (tag, version, n) and that the fixed-width columns fit in p[0..len).
 * `tag` is the type expected (LT_TYPE_GSET or LT_TYPE_TWOPSET): another tag is
 * LT_E_WRONG_TYPE. The view points into p; the caller keeps p alive while using it. */
LT_WARN_UNUSED lt_err lt_set_open(lt_set_view *v, const uint8_t *p, size_t len, uint8_t tag);

/* The id of entry i (i < v->n). */
static inline uint64_t lt_set_id(const lt_set_view *v, size_t i) {
    return lt_read_be64(v->ids + 8 * i);
}

/* The flags of entry i (i < v->n): always LT_SET_ADDED for a G-Set. */
static inline uint8_t lt_set_flags(const lt_set_view *v, size_t i) {
    return v->flags != NULL ? v->flags[i] : (uint8_t)LT_SET_ADDED;
}

/* Reads the element at *off in the element section and advances *off past it. *elem points
 * into the view's bytes. Checks bounds and a non-zero length only. */
static inline lt_err lt_set_next_elem(const lt_set_view *v, size_t *off, const uint8_t **elem,
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
LT_WARN_UNUSED lt_err lt_set_check(const lt_set_view *v);

/* Structure, then canonical elements and ids (LT_E_ID when an id is not its element's hash). */
LT_WARN_UNUSED lt_err lt_set_check_full(const lt_set_view *v);

/* Checks the structure and finds an element (its canonical bytes and id) in one pass: *flags
 * receives its flags, or 0 when it is absent. */
LT_WARN_UNUSED lt_err lt_set_lookup(const lt_set_view *v, uint64_t id, const uint8_t *elem,
                                    size_t elem_len, uint8_t *flags);

/* Checks the structure and counts the elements in the value (flags exactly LT_SET_ADDED). */
LT_WARN_UNUSED lt_err lt_set_count(const lt_set_view *v, size_t *count);

/* Appends the union of a and b (views of one type, flags OR'ed) to `out` as a complete binary,
 * after checking both structures. The output is never longer than the two inputs together, so
 * `out` may be a fixed buffer of that size. On error, out->len is unchanged. */
LT_WARN_UNUSED lt_err lt_set_merge(const lt_set_view *a, const lt_set_view *b, lt_buf *out);

/* The same union in steps (the NIF yields between them): lt_cols_merge_step and
 * lt_cols_merge_free (lt_colset.h) run and free the merger. The inputs' bytes and `out` must
 * stay put until it is freed. */
LT_WARN_UNUSED lt_err lt_set_merge_start(const lt_set_view *a, const lt_set_view *b, lt_buf *out,
                                         lt_cols_merger **m);

/* Writes the 16-byte digest of the state to out, after checking its structure. */
LT_WARN_UNUSED lt_err lt_set_digest(const lt_set_view *v, uint8_t out[16]);

/* One element for lt_set_build: `elem` points at canonical bytes the caller keeps alive. */
typedef struct {
    uint64_t id;
    uint8_t flags; /* 1..3; ignored (taken as LT_SET_ADDED) for a G-Set */
    const uint8_t *elem;
    size_t elem_len;
} lt_set_entry;

/* Sorts the entries in place and appends the set of type `tag` holding them to `out`. An
 * element given more than once is written once, with the flags OR'ed (so a list with repeats
 * is a set). 2P-Set entries with flags 0 are left out. LT_E_NOMEM on allocation failure. */
LT_WARN_UNUSED lt_err lt_set_build(uint8_t tag, lt_set_entry *e, size_t n, lt_buf *out);

/* An update: the set of `k` entries (sorted in place, as lt_set_build) is appended to `delta`,
 * and the merge of v with it to `state`. Checks v's structure; on error neither buffer is
 * longer than it was. */
LT_WARN_UNUSED lt_err lt_set_update(const lt_set_view *v, lt_set_entry *e, size_t k, lt_buf *delta,
                                    lt_buf *state);

/* ---- in-place objects ------------------------------------------------------------------ */
typedef struct {
    uint8_t tag;
    lt_table elems;       /* the elements' canonical bytes, by id; owned */
    uint8_t *flags;       /* per slot of `elems`: 0 only for a slot whose add failed (OOM); owned */
    size_t flags_cap;     /* slots `flags` has room for */
    size_t live;          /* elements in the value: flags == LT_SET_ADDED */
    lt_digest_acc digest; /* Σ of the entries' hashes, kept current */
} lt_set_obj;

/* An empty set of type `tag` (LT_TYPE_GSET or LT_TYPE_TWOPSET). Allocates nothing. */
void lt_set_obj_init(lt_set_obj *o, uint8_t tag);
/* Frees everything the object owns; the object is then empty (and may be reused). */
void lt_set_obj_free(lt_set_obj *o);

/* ORs `flags` (1..3; LT_SET_ADDED only, for a G-Set) into the element's entry, adding it if
 * absent. The element's bytes are copied. LT_E_NOMEM leaves the object unchanged. */
LT_WARN_UNUSED lt_err lt_set_obj_add(lt_set_obj *o, uint64_t id, const uint8_t *elem,
                                     size_t elem_len, uint8_t flags);

/* The flags of an element, 0 when absent. */
uint8_t lt_set_obj_flags(const lt_set_obj *o, uint64_t id, const uint8_t *elem, size_t elem_len);

/* Joins a binary of the object's type (a state or a delta). Checks it fully first (structure,
 * canonical elements, ids: lt_set_check_full), so on a bad binary the object is unchanged
 * (LT_E_WRONG_TYPE for a view of the other set type). After the check, only LT_E_NOMEM can
 * stop the join midway, leaving a valid state between the old one and the join. */
LT_WARN_UNUSED lt_err lt_set_obj_join(lt_set_obj *o, const lt_set_view *v);

/* Appends the canonical binary of the object's state to `out` (sorting the slots). */
LT_WARN_UNUSED lt_err lt_set_obj_snapshot(const lt_set_obj *o, lt_buf *out);

/* Writes the object's digest: equal to lt_set_digest of its snapshot. */
LT_WARN_UNUSED lt_err lt_set_obj_digest(const lt_set_obj *o, uint8_t out[16]);

#endif
