/*
 * lt_nif.h — what the NIF glue files share: atoms, resource types, error terms, and the two
 * ways a call keeps a normal scheduler free (yielding, or moving to a dirty scheduler).
 *
 * Error channels (STYLE.md habit 2):
 *   badarg                     the caller passed a wrong type or shape;
 *   {error, {Kind, Reason}}    the data is bad (Kind: bad_term | bad_vclock | bad_dvv | ...),
 *                              a count or timestamp cannot grow ({overflow, counter}), a key
 *                              is absent ({not_found, Key}): docs/ERRORS.md;
 *   error:enomem raised        internal failure.
 */
#ifndef LT_NIF_H
#define LT_NIF_H

#include <erl_nif.h>

#include "lt_common.h"

typedef struct {
    ERL_NIF_TERM ok, error, true_, false_, undefined, retired;
    ERL_NIF_TERM eq, lt, gt, concurrent;
    ERL_NIF_TERM enomem, clock_skew, unknown_atom, overflow, counter;
    ERL_NIF_TERM bad_term, bad_vclock, bad_dvv, bad_gcounter, bad_pncounter;
    ERL_NIF_TERM increment, decrement, get;
    /* LWW-Register */
    ERL_NIF_TERM bad_lwwreg, assign, value, timestamp, actor;
    ERL_NIF_TERM precondition, stale_timestamp;
    /* G-Set and 2P-Set (they also use `precondition`, above) */
    ERL_NIF_TERM bad_gset, bad_twopset, not_present, add, add_all, remove, contains, size;
    /* OR-Set, LWW-Map, MV-Register (lt_nif_dotkernel.c) */
    ERL_NIF_TERM bad_orset, bad_lwwmap, bad_mvreg, put, not_found;
    /* LWW-Element-Set (also `add`, `add_all`, `remove`, `contains`, `size`, `precondition`,
     * `not_present`, above) */
    ERL_NIF_TERM bad_lwwset, remove_all;
    /* The Merkle tree (lt_nif_merkle.c) */
    ERL_NIF_TERM delete_, differs, local_only, remote_only, key_hash, bad_merkle_wire, too_big;
} lt_atoms;

/* Made once in load (atoms are valid in every environment). */
extern lt_atoms lt_atom;

typedef struct {
    ErlNifResourceType *hash_job;
    ErlNifResourceType *object;
    ErlNifResourceType *merge_job;  /* a merge between yields (lt_nif_merge.c) */
    ErlNifResourceType *merkle;     /* a Merkle tree (lt_nif_merkle.c) */
    ErlNifResourceType *merkle_job; /* a Merkle batch between yields */
} lt_resources;

extern lt_resources lt_res;

/* Calls that cannot yield run on a dirty CPU scheduler when their input is larger than a
 * cut-off, chosen per kind of work from `make bench` (the "dirty cut-off" rows) so that the
 * slowest call of the kind stays well under 1 ms at the cut-off:
 *   LT_DIRTY_BYTES       passes over bytes in C (clock merge, increment, get, prune, size):
 *                        about 0.5 ns a byte;
 *   LT_DIRTY_TERM_BYTES  building Erlang terms from bytes, reading lists, sorting, hashing
 *                        every actor (decode, to_list, from_list, DVV ops, validate): up to
 *                        about 30 ns a byte. */
#define LT_DIRTY_BYTES (256 * 1024)
#define LT_DIRTY_TERM_BYTES (16 * 1024)
/* DVV operations parse into arrays and sort ranges: about 60 ns a byte, the slowest kind. */
#define LT_DIRTY_DVV_BYTES (4 * 1024)

/* Budgets and cut-offs shared by the NIFs that encode terms, and by every type's objects:
 *   LT_ENCODE_BUDGET         terms visited while encoding on a normal scheduler before the
 *                            call moves to a dirty one (canon_encode, set and dot-kernel ops):
 *                            about 1 ms of work on the bench machine; an LWW-Register value
 *                            gets half, as its assign also hashes and copies the value;
 *   LT_PROBE_BUDGET          the object path cannot move once it holds the object's lock, so
 *                            update_is_big probes an op with this smaller budget first (tens
 *                            of microseconds at most);
 *   LT_BYTES_PER_LISTED      work per element of a listed op (add_all, remove_all), in bytes
 *                            against LT_DIRTY_TERM_BYTES, as clock_from_list counts entries;
 *   LT_YIELD_BYTES           merges above this many input bytes yield (lt_nif_merge.c): a
 *                            merge walks about 0.5 ns a byte, so the call that runs at once
 *                            takes some tens of microseconds;
 *   LT_VALUE_DIRTY_ELEMENTS  objects whose value holds more elements (or keys) than this, or
 *                            whose elements' bytes pass LT_DIRTY_TERM_BYTES, build it on a
 *                            dirty scheduler: decoding and sorting stay well under 1 ms below
 *                            the cut-offs (about 0.1 ms per 500 elements, decoding aside). */
#define LT_ENCODE_BUDGET 50000
#define LT_PROBE_BUDGET 2048
#define LT_BYTES_PER_LISTED 64
#define LT_YIELD_BYTES (64 * 1024)
#define LT_VALUE_DIRTY_ELEMENTS 1024

/* Moves the current call to a dirty CPU scheduler when `bytes` is above `cutoff` and we are
 * on a normal scheduler; the same function runs again there with the same arguments. */
#define LT_DIRTY_IF_ABOVE(cutoff, env, name, fn, argc, argv, bytes)                                \
    do {                                                                                           \
        if ((size_t)(bytes) > (cutoff) && enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER)      \
            return enif_schedule_nif((env), (name), ERL_NIF_DIRTY_JOB_CPU_BOUND, (fn), (argc),     \
                                     (argv));                                                      \
    } while (0)
#define LT_DIRTY_IF_BIG(env, name, fn, argc, argv, bytes)                                          \
    LT_DIRTY_IF_ABOVE(LT_DIRTY_BYTES, env, name, fn, argc, argv, bytes)
#define LT_DIRTY_IF_TERMS(env, name, fn, argc, argv, bytes)                                        \
    LT_DIRTY_IF_ABOVE(LT_DIRTY_TERM_BYTES, env, name, fn, argc, argv, bytes)

/* {error, {Kind, Reason}} with Reason the lt_err's name. */
ERL_NIF_TERM lt_make_error(ErlNifEnv *env, ERL_NIF_TERM kind, lt_err err);
/* {error, {Kind, Reason}} for any Reason term. */
ERL_NIF_TERM lt_make_error_term(ErlNifEnv *env, ERL_NIF_TERM kind, ERL_NIF_TERM reason);
/* {error, {overflow, What}}: a counter or timestamp is at 2^64 - 1 and cannot move on. */
ERL_NIF_TERM lt_make_overflow(ErlNifEnv *env, ERL_NIF_TERM what);
/* Raises error:enomem. */
ERL_NIF_TERM lt_raise_nomem(ErlNifEnv *env);
/* A binary term holding a copy of b's bytes; frees b. Raises enomem when b failed. */
ERL_NIF_TERM lt_buf_to_term(ErlNifEnv *env, lt_buf *b);

/* An output buffer over a fresh ErlNifBinary of `cap` bytes (an upper bound of the output).
 * lt_out_finish shrinks it to what was written and makes the term; lt_out_abandon frees. */
typedef struct {
    ErlNifBinary bin;
    lt_buf buf;
} lt_out;
int lt_out_init(lt_out *o, size_t cap);
ERL_NIF_TERM lt_out_finish(ErlNifEnv *env, lt_out *o);
void lt_out_abandon(lt_out *o);

/* Time-sliced work: call lt_slice_start before a chunk and lt_slice_spent after it; a
 * non-zero return means the process has used its slice and the call should reschedule. */
ErlNifTime lt_slice_start(void);
int lt_slice_spent(ErlNifEnv *env, ErlNifTime started);

/* ---- merges that yield (lt_nif_merge.c) --------------------------------------------------
 * What a type supplies: its state for one merge (views of the inputs and the core's stepper)
 * lives in `ctx_size` bytes the runner keeps, on the stack or in a resource between yields. */
typedef struct lt_merge_out lt_merge_out;
typedef struct {
    size_t ctx_size;
    /* Opens a and b (of type `tag`) into ctx and starts the merge into the buffer that
     * lt_merge_output(out, Bound) gives. On error ctx holds nothing to stop. */
    lt_err (*start)(void *ctx, uint8_t tag, const ErlNifBinary *a, const ErlNifBinary *b,
                    lt_merge_out *out);
    /* Walks at most `budget` entries; *done when the join is complete. */
    lt_err (*step)(void *ctx, size_t budget, int *done);
    /* Frees what start made (once, after a successful start). */
    void (*stop)(void *ctx);
    /* {error, {bad_<type>, Reason}}, or the raised enomem. */
    ERL_NIF_TERM (*bad)(ErlNifEnv *env, uint8_t tag, lt_err e);
} lt_merge_kind;

/* The merge's output buffer: the result binary itself when `bound` (> 0) bounds its size,
 * else a growing buffer copied at the end. NULL when out of memory. */
lt_buf *lt_merge_output(lt_merge_out *out, size_t bound);

/* The step and stop of the columnar sets (G-Set, 2P-Set, LWW-Element-Set): their ctx is one
 * lt_cols_merger pointer, which start fills (the merger copies what it needs of the views). */
lt_err lt_merge_cols_step(void *ctx, size_t budget, int *done);
void lt_merge_cols_stop(void *ctx);

/* Merges the binaries in[0] and in[1] (inspected as a and b) of type `tag`: at once up to
 * `yield_bytes` of input, else yielding. Returns the join (one of the inputs when it equals
 * it) or kind->bad's error. */
ERL_NIF_TERM lt_merge_run(ErlNifEnv *env, const lt_merge_kind *kind, uint8_t tag,
                          const ERL_NIF_TERM in[2], const ErlNifBinary *a, const ErlNifBinary *b,
                          size_t yield_bytes);

/* ---- canonical terms (lt_nif_term.c) ---------------------------------------------------- */

/* Appends the canonical bytes of t. `budget` counts terms visited; NULL for no limit. Returns
 * LT_OK, LT_E_NOT_DATA (a term the format does not hold: badarg), LT_E_BUDGET (the budget ran
 * out: the caller goes dirty and starts again with no budget) or LT_E_NOMEM. */
lt_err lt_encode_term(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *b, long *budget);
/* Whether encoding t is big work for a normal scheduler: it visits more than `budget` terms
 * or writes more than LT_DIRTY_TERM_BYTES. Not data is "small" (the call says badarg). */
int lt_term_is_big(ErlNifEnv *env, ERL_NIF_TERM t, long budget);
/* An object's update_is_big for an op on `listed` terms (the elements of the list `arg` when
 * is_list, else `arg` itself; each followed by *extra when not NULL, a put's value): whether
 * they are too many (LT_BYTES_PER_LISTED each against LT_DIRTY_TERM_BYTES), or encoding them
 * visits more than LT_PROBE_BUDGET terms or writes more than LT_DIRTY_TERM_BYTES bytes. A
 * term that is not data is "small" (the update says badarg). */
int lt_op_terms_are_big(ErlNifEnv *env, ERL_NIF_TERM arg, int is_list, unsigned listed,
                        const ERL_NIF_TERM *extra);
/* The sets' query_is_big: their queries are O(1) but for encoding the E of {contains, E}. */
int lt_contains_query_is_big(ErlNifEnv *env, void *state, ERL_NIF_TERM q);
/* Decodes one term at p[*off..len), checking every rule of the format on the way (no need
 * for lt_canon_validate first); bytes after the term are the caller's business. When
 * `existing_atoms` is set, an atom that does not exist yet is not created: returns LT_E_BAD_TAG and
 * sets *unknown_atom. Returns LT_OK or an lt_err. */
lt_err lt_decode_term(ErlNifEnv *env, const uint8_t *p, size_t len, size_t *off, int existing_atoms,
                      ERL_NIF_TERM *out, int *unknown_atom);

/* The largest actor, encoded: a scratch buffer of this size (fixed) never needs the heap. */
#define LT_ACTOR_MAX_BYTES 1024

/* Encodes an actor (any term) into `scratch` (the caller's; a fixed buffer of
 * LT_ACTOR_MAX_BYTES over the caller's stack never touches the heap), returning its bytes and
 * id. Returns 0 for a term that cannot be an actor, 1 on success; raises nothing. The bytes
 * and id are the same either way; lt_actor_from_term remembers the last flat actor (atoms and
 * integers, up to a 4-tuple of them) on this thread and copies it instead of encoding and
 * hashing again: for calls that name one actor (an update, a query). lt_actor_encode does not
 * look at or change that cache: for lists of many actors, where it would only miss. */
int lt_actor_from_term(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *scratch, uint64_t *id);
int lt_actor_encode(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *scratch, uint64_t *id);

/* ---- values (lt_nif_value.c) -------------------------------------------------------------- */

/* A new 16-byte binary term holding d (copied); raises enomem. */
ERL_NIF_TERM lt_digest_term(ErlNifEnv *env, const uint8_t d[16]);
/* Decodes p[0..len), which must be exactly one canonical term, into *t. */
lt_err lt_decode_whole(ErlNifEnv *env, const uint8_t *p, size_t len, ERL_NIF_TERM *t);

/* An element decoded from canonical bytes, with a key that orders the common scalar kinds
 * without calling into the VM. */
typedef struct {
    ERL_NIF_TERM t;
    const uint8_t *bytes; /* the canonical bytes, the caller's */
    size_t len;
    uint8_t kind;       /* LT_TAG_INT, LT_TAG_ATOM, LT_TAG_BINARY, or 0 (anything else) */
    int64_t i;          /* LT_TAG_INT */
    const uint8_t *txt; /* LT_TAG_ATOM: UTF-8 text; LT_TAG_BINARY: bytes */
    size_t txt_len;
} lt_value_item;

/* Decodes `bytes` into it->t and fills its sort key. */
lt_err lt_value_item_init(ErlNifEnv *env, lt_value_item *it, const uint8_t *bytes, size_t len);
/* Sorts pointers to items into the order of lattice_gset:sort_elements/1: Erlang term order,
 * ties (1 and 1.0) by canonical bytes. */
void lt_value_items_sort(lt_value_item **order, size_t k);
/* Sorts, then makes the list of the items' terms. */
ERL_NIF_TERM lt_value_items_list(ErlNifEnv *env, lt_value_item **order, size_t k);

/* ---- the NIFs, one file per concept; the table is in lt_nif.c --------------------------- */
#define LT_NIF_ARGS ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]
#define LT_NIF(name) ERL_NIF_TERM name(LT_NIF_ARGS)

LT_NIF(lt_nif_canon_encode);
LT_NIF(lt_nif_canon_decode);
LT_NIF(lt_nif_clock_from_list);
LT_NIF(lt_nif_clock_to_list);
LT_NIF(lt_nif_clock_increment);
LT_NIF(lt_nif_clock_get);
LT_NIF(lt_nif_clock_merge);
LT_NIF(lt_nif_vclock_compare);
LT_NIF(lt_nif_vclock_prune);
LT_NIF(lt_nif_clock_size);
LT_NIF(lt_nif_clock_validate);
LT_NIF(lt_nif_dvv_from_list);
LT_NIF(lt_nif_dvv_to_list);
LT_NIF(lt_nif_dvv_add);
LT_NIF(lt_nif_dvv_event);
LT_NIF(lt_nif_dvv_contains);
LT_NIF(lt_nif_dvv_max);
LT_NIF(lt_nif_dvv_merge);
LT_NIF(lt_nif_dvv_descends);
LT_NIF(lt_nif_dvv_validate);
LT_NIF(lt_nif_hlc_now);
LT_NIF(lt_nif_hlc_update);
LT_NIF(lt_nif_hlc_peek);
LT_NIF(lt_nif_hlc_set_max_offset);
LT_NIF(lt_nif_hlc_max_offset);
LT_NIF(lt_nif_hlc_tick);
LT_NIF(lt_nif_hlc_receive);
LT_NIF(lt_nif_hash);
LT_NIF(lt_nif_term_digest);

LT_NIF(lt_nif_obj_new);
LT_NIF(lt_nif_obj_update);
LT_NIF(lt_nif_obj_join);
LT_NIF(lt_nif_obj_value);
LT_NIF(lt_nif_obj_query);
LT_NIF(lt_nif_obj_snapshot);
LT_NIF(lt_nif_obj_digest);
LT_NIF(lt_nif_obj_retire);
LT_NIF(lt_nif_gcounter_value);
LT_NIF(lt_nif_gcounter_digest);
LT_NIF(lt_nif_pncounter_digest);
LT_NIF(lt_nif_pncounter_split);
/* G-Set and 2P-Set (lt_nif_set.c) */
LT_NIF(lt_nif_set_update);
LT_NIF(lt_nif_set_merge);
LT_NIF(lt_nif_set_value);
LT_NIF(lt_nif_set_contains);
LT_NIF(lt_nif_set_size);
LT_NIF(lt_nif_set_digest);
LT_NIF(lt_nif_set_validate);
LT_NIF(lt_nif_set_to_list);
/* LWW-Register (lt_nif_lwwreg.c) */
LT_NIF(lt_nif_lwwreg_merge);
LT_NIF(lt_nif_lwwreg_assign);
LT_NIF(lt_nif_lwwreg_value);
LT_NIF(lt_nif_lwwreg_digest);
LT_NIF(lt_nif_lwwreg_validate);
LT_NIF(lt_nif_lwwreg_to_term);
/* LWW-Element-Set (lt_nif_lwwset.c) */
LT_NIF(lt_nif_lwwset_update);
LT_NIF(lt_nif_lwwset_merge);
LT_NIF(lt_nif_lwwset_value);
LT_NIF(lt_nif_lwwset_contains);
LT_NIF(lt_nif_lwwset_size);
LT_NIF(lt_nif_lwwset_digest);
LT_NIF(lt_nif_lwwset_validate);
LT_NIF(lt_nif_lwwset_to_list);

/* OR-Set, LWW-Map, MV-Register (lt_nif_dotkernel.c) */
LT_NIF(lt_nif_dk_update);
LT_NIF(lt_nif_dk_merge);
LT_NIF(lt_nif_dk_value);
LT_NIF(lt_nif_dk_query);
LT_NIF(lt_nif_dk_digest);
LT_NIF(lt_nif_dk_validate);
LT_NIF(lt_nif_dk_to_list);

/* The Merkle tree (lt_nif_merkle.c) */
LT_NIF(lt_nif_merkle_new);
LT_NIF(lt_nif_merkle_put);
LT_NIF(lt_nif_merkle_update);
LT_NIF(lt_nif_merkle_lookup);
LT_NIF(lt_nif_merkle_info);
LT_NIF(lt_nif_merkle_node);
LT_NIF(lt_nif_merkle_key_hash);
LT_NIF(lt_nif_merkle_diff);
LT_NIF(lt_nif_merkle_to_list);
LT_NIF(lt_nif_merkle_keys_with_hash);
LT_NIF(lt_nif_merkle_children);
LT_NIF(lt_nif_merkle_buckets);
LT_NIF(lt_nif_merkle_diff_children);
LT_NIF(lt_nif_merkle_diff_buckets);

/* The node-global HLC (lt_nif_hlc.c), for types that stamp their own writes: moves the clock
 * past `ts` by the receive rule without the max-offset check — max(last + 1, ts + 1, wall) —
 * and returns the new timestamp, greater than ts unless ts is UINT64_MAX (then UINT64_MAX:
 * callers refuse that case first). */
uint64_t lt_hlc_advance_past(uint64_t ts);

/* Resource types, opened in load and upgrade. */
int lt_hash_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags);
int lt_object_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags);
/* The thread that frees big objects (lt_nif_object.c): started by each load and upgrade,
 * stopped by each unload; it runs while any instance of the library is loaded. */
void lt_object_reaper_start(void);
void lt_object_reaper_stop(void);
int lt_merge_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags);
int lt_merkle_open_resources(ErlNifEnv *env, ErlNifResourceFlags flags);

/* ---- in-place objects (lt_nif_object.c) --------------------------------------------------
 * What a CRDT type supplies to have in-place objects. The object's mutex is held around every
 * call; `state` is what `create` returned. */
typedef struct {
    uint8_t tag;                  /* the type tag of its binaries */
    const ERL_NIF_TERM *bad_kind; /* the error kind for bad binaries, e.g. &lt_atom.bad_gcounter */
    void *(*create)(void);        /* an empty state, or NULL when out of memory */
    void (*destroy)(void *state);
    /* Joins a binary of the type (a state or a delta); on error the state is unchanged or a
     * valid state between the old one and the join. */
    lt_err (*join)(void *state, const uint8_t *bin, size_t len);
    /* {ok, Delta} | {error, Reason}; badarg (enif_make_badarg) for an unknown op or actor. */
    ERL_NIF_TERM (*update)(ErlNifEnv *env, void *state, ERL_NIF_TERM op, ERL_NIF_TERM actor);
    ERL_NIF_TERM (*value)(ErlNifEnv *env, void *state);
    ERL_NIF_TERM (*query)(ErlNifEnv *env, void *state, ERL_NIF_TERM query);
    lt_err (*snapshot)(void *state, lt_buf *out);
    lt_err (*digest)(void *state, uint8_t out[16]);
    size_t (*entries)(void *state); /* how big a snapshot is: picks a dirty scheduler */
    /* Optional (NULL: always cheap), for types whose ops and values hold terms of any size
     * (LWW-Register). update_is_big: whether applying `op` is too much work for a normal
     * scheduler (a large term to encode), called without the mutex; obj_update then runs on
     * a dirty one. value_is_big: whether building the value or a query's answer is (a large
     * term to decode), called with the mutex held; obj_value and obj_query then go dirty. */
    int (*update_is_big)(ErlNifEnv *env, ERL_NIF_TERM op);
    int (*value_is_big)(void *state);
    /* Optional: whether answering `query` is too much work for a normal scheduler (mutex
     * held). Without it a query is judged by value_is_big. */
    int (*query_is_big)(ErlNifEnv *env, void *state, ERL_NIF_TERM query);
    /* Optional (NULL: nothing grows): whether adding up to `keys` keys (elements, actors,
     * dots) of up to `bytes` key bytes in all may grow the state's indexes or per-key arrays
     * by big work (lt_grow_is_big, lt_table.h), mutex held. A growth doubles and moves
     * everything at once, so obj_update and obj_join then run on a dirty scheduler. */
    int (*grow_is_big)(void *state, size_t keys, size_t bytes);
} lt_obj_type;

/* What one update that update_is_big lets run on a normal scheduler can add: a list of at most
 * LT_DIRTY_TERM_BYTES / 64 elements (the types' *_BYTES_PER_LISTED, checked where they are
 * defined), terms of at most LT_DIRTY_TERM_BYTES encoded, and one actor. A join of a binary
 * adds at most as many keys as it has bytes. */
#define LT_OBJ_UPDATE_KEYS (LT_DIRTY_TERM_BYTES / 64)
#define LT_OBJ_UPDATE_BYTES (LT_DIRTY_TERM_BYTES + LT_ACTOR_MAX_BYTES)

extern const lt_obj_type lt_obj_gcounter;
extern const lt_obj_type lt_obj_pncounter;
/* LWW-Register */
extern const lt_obj_type lt_obj_lwwreg;
/* G-Set and 2P-Set (lt_nif_set.c) */
extern const lt_obj_type lt_obj_gset;
extern const lt_obj_type lt_obj_twopset;
/* OR-Set, LWW-Map, MV-Register (lt_nif_dotkernel.c) */
extern const lt_obj_type lt_obj_orset;
extern const lt_obj_type lt_obj_lwwmap;
extern const lt_obj_type lt_obj_mvreg;
/* LWW-Element-Set (lt_nif_lwwset.c) */
extern const lt_obj_type lt_obj_lwwset;

#endif
