/* lt_colset.h — the merge of the columnar set layout that G-Sets, 2P-Sets and LWW-Element-Sets
 * share (docs/FORMAT.md): a header, a count n, a column of n u64be ids, the type's fixed-width
 * columns, then n elements (varint length, canonical bytes), all in (id, bytes) order. The
 * types differ in their columns and in how two entries for one element join:
 *
 *   G-Set      no columns
 *   2P-Set     one u8 of flags (1..3) per entry, OR'ed
 *   LWW-Set    two u64be timestamps (add, remove; not both 0) per entry, each the maximum
 *
 * The merge checks both inputs as it walks them and can run in steps, for a caller that must
 * not hold its thread for long (the NIF yields between steps). */
#ifndef LT_COLSET_H
#define LT_COLSET_H

#include "lt_common.h"

typedef enum { LT_COLS_GSET, LT_COLS_TWOPSET, LT_COLS_LWWSET } lt_cols_kind;

/* One input, as a type's view describes it (the pointers go into its bytes). */
typedef struct {
    lt_cols_kind kind;
    size_t n;
    const uint8_t *ids;
    const uint8_t *col1; /* 2P-Set: the flags; LWW-Set: the add timestamps; else NULL */
    const uint8_t *col2; /* LWW-Set: the remove timestamps; else NULL */
    const uint8_t *elems;
    size_t elems_len;
} lt_cols;

typedef struct lt_cols_merger lt_cols_merger;

/* Starts the merge of a and b (of one kind) into `out`, where it appends a complete binary:
 * `head` (head_len bytes: the tag, version and any type bytes before the count), the count and
 * the columns. Reserves room for the largest possible result up front (never more than the two
 * inputs together), so `out` may be a fixed buffer of that size. When the walk finds both
 * inputs well formed, the merge fails with `verdict` if it is not LT_OK (inputs that cannot
 * join, such as LWW-Sets of different bias: their own faults are reported first). a and b are
 * copied; `out` is borrowed until lt_cols_merge_free. */
LT_WARN_UNUSED lt_err lt_cols_merge_start(const lt_cols *a, const lt_cols *b, const uint8_t *head,
                                          size_t head_len, lt_err verdict, lt_buf *out,
                                          lt_cols_merger **m);

/* Walks at most `budget` entries (then, once they are all written, moves the columns into
 * place in slices proportional to `budget`); sets *done when the merge is complete. On any
 * error out->len is restored; the caller frees the merger either way. */
LT_WARN_UNUSED lt_err lt_cols_merge_step(lt_cols_merger *m, size_t budget, int *done);
void lt_cols_merge_free(lt_cols_merger *m);

/* The whole merge at once. */
LT_WARN_UNUSED lt_err lt_cols_merge(const lt_cols *a, const lt_cols *b, const uint8_t *head,
                                    size_t head_len, lt_err verdict, lt_buf *out);

#endif
