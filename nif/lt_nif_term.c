/* lt_nif_term.c — Erlang terms to and from canonical bytes (c_src/lt_canon.h). */
#include "lt_nif.h"

#include "lt_canon.h"
#include "lt_hash.h"

/* The largest input canon_decode accepts. */
#define LT_DECODE_MAX_BYTES (64u * 1024 * 1024)

/* External term format tags (erts' external.h), for the two cases enif has no getter for on
 * OTP 25: atoms outside Latin-1 and integers outside int64. */
enum {
    EXT_VERSION = 131,
    EXT_SMALL_BIG = 110,
    EXT_LARGE_BIG = 111,
    EXT_ATOM_LATIN1 = 100,
    EXT_SMALL_ATOM_LATIN1 = 115,
    EXT_ATOM_UTF8 = 118,
    EXT_SMALL_ATOM_UTF8 = 119
};

/* Encodes an atom or a bignum through term_to_binary. */
static lt_err encode_via_ext(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *b) {
    ErlNifBinary ext;
    int rc = LT_E_NOT_DATA;
    if (!enif_term_to_binary(env, t, &ext))
        return LT_E_NOMEM;
    const uint8_t *p = ext.data;
    size_t n = ext.size;
    if (n < 3 || p[0] != EXT_VERSION)
        goto done;
    switch (p[1]) {
    case EXT_SMALL_BIG:
    case EXT_LARGE_BIG: {
        size_t hdr = p[1] == EXT_SMALL_BIG ? 2 : 5;
        if (n < 2 + hdr)
            goto done;
        size_t digits = p[1] == EXT_SMALL_BIG
                            ? p[2]
                            : ((size_t)p[2] << 24 | (size_t)p[3] << 16 | (size_t)p[4] << 8 | p[5]);
        int negative = p[1 + hdr];
        if (digits != n - 2 - hdr)
            goto done;
        /* The external format is little-endian; the canonical one is big-endian. */
        uint8_t *mag = enif_alloc(digits ? digits : 1);
        if (mag == NULL) {
            rc = LT_E_NOMEM;
            goto done;
        }
        for (size_t k = 0; k < digits; k++)
            mag[k] = p[2 + hdr + digits - 1 - k];
        rc = lt_canon_put_bigint(b, negative, mag, digits) == LT_OK ? LT_OK : LT_E_NOT_DATA;
        enif_free(mag);
        break;
    }
    case EXT_ATOM_UTF8:
    case EXT_SMALL_ATOM_UTF8: {
        size_t hdr = p[1] == EXT_SMALL_ATOM_UTF8 ? 1 : 2;
        size_t len = hdr == 1 ? p[2] : ((size_t)p[2] << 8 | p[3]);
        if (len != n - 2 - hdr)
            goto done;
        rc = lt_canon_put_atom(b, p + 2 + hdr, len) == LT_OK ? LT_OK : LT_E_NOT_DATA;
        break;
    }
    case EXT_ATOM_LATIN1:
    case EXT_SMALL_ATOM_LATIN1: {
        size_t hdr = p[1] == EXT_SMALL_ATOM_LATIN1 ? 1 : 2;
        size_t len = hdr == 1 ? p[2] : ((size_t)p[2] << 8 | p[3]);
        if (len != n - 2 - hdr)
            goto done;
        lt_canon_put_atom_latin1(b, p + 2 + hdr, len);
        rc = LT_OK;
        break;
    }
    default:
        break;
    }
done:
    enif_release_binary(&ext);
    return rc != LT_OK ? rc : (b->failed ? LT_E_NOMEM : LT_OK);
}

static lt_err encode(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *b, long *budget, unsigned depth) {
    int rc;
    if (budget != NULL && --*budget < 0)
        return LT_E_BUDGET;
    if (depth > LT_CANON_MAX_DEPTH)
        return LT_E_NOT_DATA;
    switch (enif_term_type(env, t)) {
    case ERL_NIF_TERM_TYPE_ATOM: {
        char latin1[LT_CANON_MAX_ATOM_CHARS + 1];
        int n = enif_get_atom(env, t, latin1, sizeof latin1, ERL_NIF_LATIN1);
        if (n <= 0)
            return encode_via_ext(env, t, b);
        lt_canon_put_atom_latin1(b, (const uint8_t *)latin1, (size_t)n - 1);
        break;
    }
    case ERL_NIF_TERM_TYPE_INTEGER: {
        ErlNifSInt64 v;
        if (!enif_get_int64(env, t, &v))
            return encode_via_ext(env, t, b);
        lt_canon_put_int(b, (int64_t)v);
        break;
    }
    case ERL_NIF_TERM_TYPE_FLOAT: {
        double d;
        if (!enif_get_double(env, t, &d) || lt_canon_put_float(b, d) != LT_OK)
            return LT_E_NOT_DATA;
        break;
    }
    case ERL_NIF_TERM_TYPE_BITSTRING: {
        ErlNifBinary bin;
        if (!enif_inspect_binary(env, t, &bin))
            return LT_E_NOT_DATA; /* a bitstring that is not whole bytes */
        lt_canon_put_binary(b, bin.data, bin.size);
        break;
    }
    case ERL_NIF_TERM_TYPE_TUPLE: {
        int arity;
        const ERL_NIF_TERM *el;
        if (!enif_get_tuple(env, t, &arity, &el))
            return LT_E_NOT_DATA;
        lt_canon_put_tuple(b, (size_t)arity);
        for (int k = 0; k < arity; k++)
            if ((rc = encode(env, el[k], b, budget, depth + 1)) != LT_OK)
                return rc;
        break;
    }
    case ERL_NIF_TERM_TYPE_LIST: {
        ERL_NIF_TERM head, tail = t;
        size_t n = 0;
        if (enif_is_empty_list(env, t)) {
            lt_canon_put_nil(b);
            break;
        }
        while (enif_get_list_cell(env, tail, &head, &tail)) {
            n++;
            if (budget != NULL && --*budget < 0)
                return LT_E_BUDGET;
        }
        lt_canon_put_list(b, n);
        tail = t;
        while (enif_get_list_cell(env, tail, &head, &tail))
            if ((rc = encode(env, head, b, budget, depth + 1)) != LT_OK)
                return rc;
        if ((rc = encode(env, tail, b, budget, depth + 1)) != LT_OK)
            return rc;
        break;
    }
    case ERL_NIF_TERM_TYPE_MAP: {
        size_t n, k = 0;
        ErlNifMapIterator it;
        ERL_NIF_TERM key, value;
        if (!enif_get_map_size(env, t, &n))
            return LT_E_NOT_DATA;
        lt_canon_put_map(b, n);
        size_t pairs_off = b->len;
        if (n == 0)
            break;
        lt_canon_pair *pairs = enif_alloc(n * sizeof *pairs);
        if (pairs == NULL)
            return LT_E_NOMEM;
        if (!enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST)) {
            enif_free(pairs);
            return LT_E_NOMEM;
        }
        rc = LT_OK;
        while (rc == LT_OK && k < n && enif_map_iterator_get_pair(env, &it, &key, &value)) {
            pairs[k].off = b->len;
            rc = encode(env, key, b, budget, depth + 1);
            pairs[k].key_len = b->len - pairs[k].off;
            if (rc == LT_OK)
                rc = encode(env, value, b, budget, depth + 1);
            pairs[k].pair_len = b->len - pairs[k].off;
            k++;
            enif_map_iterator_next(env, &it);
        }
        enif_map_iterator_destroy(env, &it);
        if (rc == LT_OK && b->failed)
            rc = LT_E_NOMEM;
        if (rc == LT_OK) {
            lt_err e = lt_canon_sort_pairs(b, pairs_off, pairs, n);
            if (e != LT_OK)
                rc = e == LT_E_NOMEM ? LT_E_NOMEM : LT_E_NOT_DATA;
        }
        enif_free(pairs);
        if (rc != LT_OK)
            return rc;
        break;
    }
    default: /* pids, ports, references, funs: not data that means the same on every node */
        return LT_E_NOT_DATA;
    }
    return b->failed ? LT_E_NOMEM : LT_OK;
}

lt_err lt_encode_term(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *b, long *budget) {
    return encode(env, t, b, budget, 0);
}

int lt_op_terms_are_big(ErlNifEnv *env, ERL_NIF_TERM arg, int is_list, unsigned listed,
                        const ERL_NIF_TERM *extra) {
    ERL_NIF_TERM head, tail = arg;
    long budget = LT_PROBE_BUDGET;
    uint8_t small[256];
    lt_buf scratch;
    int big = 0;
    if ((size_t)listed * LT_BYTES_PER_LISTED > LT_DIRTY_TERM_BYTES)
        return 1;
    lt_buf_init_spill(&scratch, small, sizeof small);
    for (unsigned k = 0; k < listed && !big; k++) {
        head = arg;
        if (is_list && !enif_get_list_cell(env, tail, &head, &tail))
            break;
        lt_err rc = lt_encode_term(env, head, &scratch, &budget);
        if (rc == LT_OK && extra != NULL)
            rc = lt_encode_term(env, *extra, &scratch, &budget);
        if (rc != LT_OK) {
            big = rc == LT_E_BUDGET;
            break; /* or not data: the update says badarg */
        }
        big = scratch.len > LT_DIRTY_TERM_BYTES;
    }
    lt_buf_free(&scratch);
    return big;
}

int lt_contains_query_is_big(ErlNifEnv *env, void *state, ERL_NIF_TERM q) {
    int arity;
    const ERL_NIF_TERM *el;
    (void)state;
    return enif_get_tuple(env, q, &arity, &el) && arity == 2 &&
           lt_term_is_big(env, el[1], LT_PROBE_BUDGET);
}

int lt_term_is_big(ErlNifEnv *env, ERL_NIF_TERM t, long budget) {
    uint8_t small[256];
    lt_buf scratch;
    lt_buf_init_spill(&scratch, small, sizeof small);
    int rc = encode(env, t, &scratch, &budget, 0);
    int big = rc == LT_E_BUDGET || (rc == LT_OK && scratch.len > LT_DIRTY_TERM_BYTES);
    lt_buf_free(&scratch);
    return big;
}

/* UTF-8 text whose code points are all below 256, as Latin-1; returns 0 if it has others. */
static int utf8_to_latin1(const uint8_t *p, size_t n, char *out, size_t *out_len) {
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] < 0x80) {
            out[w++] = (char)p[k];
        } else if ((p[k] == 0xC2 || p[k] == 0xC3) && k + 1 < n) {
            out[w++] = (char)(((p[k] & 0x03) << 6) | (p[k + 1] & 0x3F));
            k++;
        } else {
            return 0;
        }
    }
    *out_len = w;
    return 1;
}

static lt_err decode_atom(ErlNifEnv *env, const lt_canon_item *it, int existing, ERL_NIF_TERM *out,
                          int *unknown) {
    char latin1[LT_CANON_MAX_ATOM_BYTES];
    size_t n;
    if (utf8_to_latin1(it->data, it->n, latin1, &n)) {
        if (!existing) {
            *out = enif_make_atom_len(env, latin1, n);
            return LT_OK;
        }
        if (enif_make_existing_atom_len(env, latin1, n, out, ERL_NIF_LATIN1))
            return LT_OK;
        *unknown = 1;
        return LT_E_BAD_TAG;
    }
    /* Outside Latin-1: OTP 25's enif makes such atoms only through binary_to_term. */
    uint8_t ext[4 + LT_CANON_MAX_ATOM_BYTES];
    ext[0] = EXT_VERSION;
    ext[1] = EXT_ATOM_UTF8;
    ext[2] = (uint8_t)(it->n >> 8);
    ext[3] = (uint8_t)it->n;
    memcpy(ext + 4, it->data, it->n);
    if (enif_binary_to_term(env, ext, 4 + it->n, out, existing ? ERL_NIF_BIN2TERM_SAFE : 0) > 0)
        return LT_OK;
    if (existing) {
        *unknown = 1;
        return LT_E_BAD_TAG;
    }
    return LT_E_NOMEM;
}

static lt_err decode_bigint(ErlNifEnv *env, const lt_canon_item *it, ERL_NIF_TERM *out) {
    size_t n = (size_t)it->n;
    uint8_t *ext = enif_alloc(7 + n);
    if (ext == NULL)
        return LT_E_NOMEM;
    ext[0] = EXT_VERSION;
    ext[1] = EXT_LARGE_BIG;
    ext[2] = (uint8_t)(n >> 24);
    ext[3] = (uint8_t)(n >> 16);
    ext[4] = (uint8_t)(n >> 8);
    ext[5] = (uint8_t)n;
    ext[6] = (uint8_t)it->negative;
    for (size_t k = 0; k < n; k++)
        ext[7 + k] = it->data[n - 1 - k];
    int ok = enif_binary_to_term(env, ext, 7 + n, out, 0) > 0;
    enif_free(ext);
    return ok ? LT_OK : LT_E_NOMEM;
}

/* Containers up to this size decode into an array on the C stack. */
#define SMALL_CONTAINER 16

typedef struct {
    ERL_NIF_TERM *terms;
    ERL_NIF_TERM small[SMALL_CONTAINER];
} term_array;

static int term_array_init(term_array *a, size_t n) {
    a->terms = n <= SMALL_CONTAINER ? a->small : enif_alloc(n * sizeof(ERL_NIF_TERM));
    return a->terms != NULL;
}

static void term_array_free(term_array *a) {
    if (a->terms != a->small)
        enif_free(a->terms);
    a->terms = NULL;
}

static lt_err decode_depth(ErlNifEnv *env, const uint8_t *p, size_t len, size_t *off, int existing,
                           ERL_NIF_TERM *out, int *unknown, unsigned depth);

/* Decodes `count` consecutive terms into arr (sized for them). */
static lt_err decode_seq(ErlNifEnv *env, const uint8_t *p, size_t len, size_t *off, size_t count,
                         int existing, ERL_NIF_TERM *arr, int *unknown, unsigned depth) {
    for (size_t k = 0; k < count; k++) {
        lt_err e = decode_depth(env, p, len, off, existing, &arr[k], unknown, depth);
        if (e != LT_OK)
            return e;
    }
    return LT_OK;
}

/* One pass: every rule lt_canon_skip checks is checked here too, so decoding needs no
 * separate validation (terms built before an error are garbage the caller drops). */
static lt_err decode_depth(ErlNifEnv *env, const uint8_t *p, size_t len, size_t *off, int existing,
                           ERL_NIF_TERM *out, int *unknown, unsigned depth) {
    lt_canon_item it;
    term_array arr;
    lt_err e;
    if (depth > LT_CANON_MAX_DEPTH)
        return LT_E_TOO_DEEP;
    if ((e = lt_canon_next(p, len, off, &it)) != LT_OK)
        return e;
    switch (it.tag) {
    case LT_TAG_INT:
        *out = enif_make_int64(env, it.i);
        return LT_OK;
    case LT_TAG_BIGINT:
        return decode_bigint(env, &it, out);
    case LT_TAG_FLOAT:
        *out = enif_make_double(env, it.f);
        return LT_OK;
    case LT_TAG_ATOM:
        return decode_atom(env, &it, existing, out, unknown);
    case LT_TAG_BINARY: {
        unsigned char *d = enif_make_new_binary(env, (size_t)it.n, out);
        if (d == NULL)
            return LT_E_NOMEM;
        if (it.n)
            memcpy(d, it.data, (size_t)it.n);
        return LT_OK;
    }
    case LT_TAG_NIL:
        *out = enif_make_list(env, 0);
        return LT_OK;
    case LT_TAG_TUPLE:
        if (!term_array_init(&arr, (size_t)it.n))
            return LT_E_NOMEM;
        e = decode_seq(env, p, len, off, (size_t)it.n, existing, arr.terms, unknown, depth + 1);
        if (e == LT_OK)
            *out = enif_make_tuple_from_array(env, arr.terms, (unsigned)it.n);
        term_array_free(&arr);
        return e;
    case LT_TAG_LIST: {
        /* n elements and then the tail, which ends the list and is never itself a list. */
        if (!term_array_init(&arr, (size_t)it.n + 1))
            return LT_E_NOMEM;
        e = decode_seq(env, p, len, off, (size_t)it.n, existing, arr.terms, unknown, depth + 1);
        if (e == LT_OK && *off < len && p[*off] == LT_TAG_LIST)
            e = LT_E_NONCANONICAL;
        if (e == LT_OK)
            e = decode_depth(env, p, len, off, existing, &arr.terms[it.n], unknown, depth + 1);
        if (e == LT_OK) {
            ERL_NIF_TERM acc = arr.terms[it.n];
            for (size_t k = (size_t)it.n; k-- > 0;)
                acc = enif_make_list_cell(env, arr.terms[k], acc);
            *out = acc;
        }
        term_array_free(&arr);
        return e;
    }
    case LT_TAG_MAP: {
        term_array keys, vals;
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        if (!term_array_init(&keys, (size_t)it.n))
            return LT_E_NOMEM;
        if (!term_array_init(&vals, (size_t)it.n)) {
            term_array_free(&keys);
            return LT_E_NOMEM;
        }
        for (size_t k = 0; k < it.n && e == LT_OK; k++) {
            size_t start = *off;
            e = decode_depth(env, p, len, off, existing, &keys.terms[k], unknown, depth + 1);
            if (e != LT_OK)
                break;
            if (prev != NULL && lt_bytes_cmp(prev, prev_len, p + start, *off - start) >= 0)
                e = LT_E_ORDER;
            prev = p + start;
            prev_len = *off - start;
            if (e == LT_OK)
                e = decode_depth(env, p, len, off, existing, &vals.terms[k], unknown, depth + 1);
        }
        if (e == LT_OK &&
            !enif_make_map_from_arrays(env, keys.terms, vals.terms, (size_t)it.n, out))
            e = LT_E_NONCANONICAL;
        term_array_free(&keys);
        term_array_free(&vals);
        return e;
    }
    default:
        return LT_E_BAD_TAG;
    }
}

lt_err lt_decode_term(ErlNifEnv *env, const uint8_t *p, size_t len, size_t *off, int existing,
                      ERL_NIF_TERM *out, int *unknown) {
    return decode_depth(env, p, len, off, existing, out, unknown, 0);
}

/* ---- the actor cache ------------------------------------------------------------------------
 * Nearly every update names the same actor ({node(), Incarnation}: lattice:actor/0), and
 * encoding and hashing it was a third of a counter's update. Each thread (scheduler) keeps the
 * canonical bytes and id of the last actor it encoded, when that actor is a flat term: an atom
 * or an integer, or a tuple of up to ACTOR_KEY_MAX of them. Such a term's bytes depend only on
 * the atoms (an atom's ERL_NIF_TERM is the same word in every process for the life of the VM,
 * and no other term has that word) and the integers' values, so the key is those words and
 * values: no copy of the term, no environment, nothing to free at unload or to share across an
 * upgrade. Any other actor is encoded every time, as before, and does not touch the cache. */
#define ACTOR_KEY_MAX 4
#define ACTOR_CACHE_BYTES 128

enum { KEY_ATOM = 1, KEY_INT64, KEY_UINT64 };

typedef struct {
    int arity; /* -1: one bare scalar; 1..ACTOR_KEY_MAX: a tuple of scalars; 0: empty cache */
    uint8_t kind[ACTOR_KEY_MAX];
    uint64_t v[ACTOR_KEY_MAX]; /* the atom's term, or the integer's value */
    uint64_t id;
    size_t len;
    uint8_t bytes[ACTOR_CACHE_BYTES];
} actor_cache;

static _Thread_local actor_cache last_actor;

/* This thread's cache. Out of line: under -fPIC each use of last_actor's address may cost a
 * __tls_get_addr call, and the compiler recomputes it rather than keep it; a pointer returned
 * by a call it keeps. */
__attribute__((noinline)) static actor_cache *thread_cache(void) {
    return &last_actor;
}

/* Whether t is the scalar (kind, v). */
static int scalar_is(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t kind, uint64_t v) {
    ErlNifSInt64 i;
    ErlNifUInt64 u;
    switch (kind) {
    case KEY_ATOM:
        return t == (ERL_NIF_TERM)v;
    case KEY_INT64:
        return enif_get_int64(env, t, &i) && (uint64_t)i == v;
    default: /* KEY_UINT64: above INT64_MAX, which enif_get_int64 refuses */
        return enif_get_uint64(env, t, &u) && u == v;
    }
}

/* The key of a scalar into *kind and *v; 0 if t is not one. */
static int scalar_key(ErlNifEnv *env, ERL_NIF_TERM t, uint8_t *kind, uint64_t *v) {
    ErlNifSInt64 i;
    ErlNifUInt64 u;
    if (enif_is_atom(env, t)) {
        *kind = KEY_ATOM;
        *v = (uint64_t)t;
    } else if (enif_get_int64(env, t, &i)) {
        *kind = KEY_INT64;
        *v = (uint64_t)i;
    } else if (enif_get_uint64(env, t, &u)) {
        *kind = KEY_UINT64;
        *v = u;
    } else {
        return 0;
    }
    return 1;
}

/* Whether t is the cached actor. */
static int actor_cache_hit(ErlNifEnv *env, const actor_cache *c, ERL_NIF_TERM t) {
    int arity;
    const ERL_NIF_TERM *el;
    if (c->arity == 0)
        return 0;
    if (c->arity < 0)
        return scalar_is(env, t, c->kind[0], c->v[0]);
    if (!enif_get_tuple(env, t, &arity, &el) || arity != c->arity)
        return 0;
    for (int k = 0; k < arity; k++)
        if (!scalar_is(env, el[k], c->kind[k], c->v[k]))
            return 0;
    return 1;
}

/* Remembers t's bytes and id when t is a flat term (else leaves the cache as it is). */
static void actor_cache_fill(ErlNifEnv *env, actor_cache *c, ERL_NIF_TERM t, const uint8_t *bytes,
                             size_t len, uint64_t id) {
    actor_cache next;
    int arity;
    const ERL_NIF_TERM *el;
    if (len > sizeof next.bytes)
        return;
    if (enif_get_tuple(env, t, &arity, &el)) {
        if (arity < 1 || arity > ACTOR_KEY_MAX)
            return;
        for (int k = 0; k < arity; k++)
            if (!scalar_key(env, el[k], &next.kind[k], &next.v[k]))
                return;
        next.arity = arity;
    } else {
        if (!scalar_key(env, t, &next.kind[0], &next.v[0]))
            return;
        next.arity = -1;
    }
    next.id = id;
    next.len = len;
    memcpy(next.bytes, bytes, len);
    *c = next;
}

int lt_actor_encode(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *scratch, uint64_t *id) {
    long budget = 2 * LT_ACTOR_MAX_BYTES;
    scratch->len = 0;
    scratch->failed = 0;
    if (lt_encode_term(env, t, scratch, &budget) != LT_OK)
        return 0;
    if (scratch->len > LT_ACTOR_MAX_BYTES)
        return 0;
    *id = lt_actor_id(scratch->data, scratch->len);
    return 1;
}

int lt_actor_from_term(ErlNifEnv *env, ERL_NIF_TERM t, lt_buf *scratch, uint64_t *id) {
    actor_cache *c = thread_cache();
    if (actor_cache_hit(env, c, t)) {
        scratch->len = 0;
        scratch->failed = 0;
        lt_buf_put(scratch, c->bytes, c->len);
        if (scratch->failed)
            return 0;
        *id = c->id;
        return 1;
    }
    if (!lt_actor_encode(env, t, scratch, id))
        return 0;
    actor_cache_fill(env, c, t, scratch->data, scratch->len, *id);
    return 1;
}

/* canon_encode(Term) -> binary(). badarg for terms the format does not hold. */
LT_NIF(lt_nif_canon_encode) {
    lt_buf b;
    long budget = LT_ENCODE_BUDGET;
    int normal = enif_thread_type() == ERL_NIF_THR_NORMAL_SCHEDULER;
    if (argc != 1)
        return enif_make_badarg(env);
    lt_buf_init(&b);
    lt_err rc = lt_encode_term(env, argv[0], &b, normal ? &budget : NULL);
    if (rc != LT_OK)
        lt_buf_free(&b);
    switch (rc) {
    case LT_OK:
        return lt_buf_to_term(env, &b);
    case LT_E_BUDGET: /* a big term: start again where time does not matter */
        return enif_schedule_nif(env, "canon_encode", ERL_NIF_DIRTY_JOB_CPU_BOUND,
                                 lt_nif_canon_encode, argc, argv);
    case LT_E_NOMEM:
        return lt_raise_nomem(env);
    default:
        return enif_make_badarg(env);
    }
}

/* canon_decode(Binary, ExistingAtomsOnly) -> {ok, Term} | {error, {bad_term, Reason}}. */
LT_NIF(lt_nif_canon_decode) {
    ErlNifBinary bin;
    ERL_NIF_TERM term;
    int unknown = 0;
    size_t off = 0;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &bin) ||
        (argv[1] != lt_atom.true_ && argv[1] != lt_atom.false_))
        return enif_make_badarg(env);
    if (bin.size > LT_DECODE_MAX_BYTES)
        return lt_make_error(env, lt_atom.bad_term, LT_E_TOO_BIG);
    LT_DIRTY_IF_TERMS(env, "canon_decode", lt_nif_canon_decode, argc, argv, bin.size);
    lt_err e =
        lt_decode_term(env, bin.data, bin.size, &off, argv[1] == lt_atom.true_, &term, &unknown);
    if (e == LT_OK && off != bin.size)
        e = LT_E_TRAILING;
    if (unknown)
        return enif_make_tuple2(env, lt_atom.error,
                                enif_make_tuple2(env, lt_atom.bad_term, lt_atom.unknown_atom));
    if (e == LT_E_NOMEM)
        return lt_raise_nomem(env);
    if (e != LT_OK)
        return lt_make_error(env, lt_atom.bad_term, e);
    return enif_make_tuple2(env, lt_atom.ok, term);
}
