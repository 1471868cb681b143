/*
 * lt_cnode_proto.c — the C node's message formats (see lt_cnode_proto.h, docs/CNODE.md).
 * Plain C over bytes: no ei.h, no allocation. Every read is preceded by a length check.
 */
#include "lt_cnode_proto.h"

#include "lt_cnode_term.h"

#include <string.h>

/* ---- byte reads --------------------------------------------------------------------------- */

static uint32_t rd16(const uint8_t *p) {
    return ((uint32_t)p[0] << 8) | p[1];
}

static uint32_t rd32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A minimal unsigned LEB128 varint at b[*off..len); advances *off. Returns 0 or -1. */
static int rd_varint(const uint8_t *b, size_t len, size_t *off, uint64_t *out) {
    uint64_t v = 0;
    size_t p = *off;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= len)
            return -1;
        uint8_t byte = b[p++];
        if (shift == 63 && (byte & 0x7e) != 0)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            if (byte == 0 && shift > 0)
                return -1; /* not minimal */
            *off = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* ---- distribution packets ----------------------------------------------------------------- */

/* An atom at buf[*pos..len): its text. Advances *pos. Returns 0 or -1. */
static int atom_at(const char *buf, size_t len, size_t *pos, const char **text, size_t *n) {
    size_t p = *pos;
    if (p >= len)
        return -1;
    unsigned char tag = (unsigned char)buf[p++];
    size_t l;
    if (tag == LT_CNODE_TAG_ATOM || tag == LT_CNODE_TAG_ATOM_UTF8) {
        if (len - p < 2)
            return -1;
        l = rd16((const uint8_t *)buf + p);
        p += 2;
    } else if (tag == LT_CNODE_TAG_SMALL_ATOM || tag == LT_CNODE_TAG_SMALL_ATOM_UTF8) {
        if (len - p < 1)
            return -1;
        l = (unsigned char)buf[p++];
    } else {
        return -1;
    }
    if (l > len - p)
        return -1;
    *text = buf + p;
    *n = l;
    *pos = p + l;
    return 0;
}

static int is_pid_tag(const char *buf, size_t len, size_t pos) {
    return pos < len && (buf[pos] == LT_CNODE_TAG_NEW_PID || buf[pos] == LT_CNODE_TAG_PID);
}

/* See lt_cnode_proto.h. The control tuple is walked whole first, so the element reads below
 * stay inside it. */
int lt_dist_packet_parse(const char *pkt, size_t len, lt_dist_packet *out) {
    size_t end = 2, p = 2;
    uint32_t arity;

    memset(out, 0, sizeof *out);
    out->op = -1;
    if (len < 3 || (unsigned char)pkt[0] != LT_DIST_PASS_THROUGH ||
        (unsigned char)pkt[1] != LT_CNODE_VERSION_MAGIC || lt_cnode_skip_term(pkt, len, &end) < 0)
        return -1;
    out->ctl_start = 2;
    out->ctl_end = end;
    if (pkt[p] == LT_CNODE_TAG_SMALL_TUPLE) {
        arity = (unsigned char)pkt[p + 1];
        p += 2;
    } else if (pkt[p] == LT_CNODE_TAG_LARGE_TUPLE) {
        arity = lt_cnode_get32(pkt + p + 1);
        p += 5;
    } else {
        return -1;
    }
    if (arity < 1)
        return -1;
    if (pkt[p] == LT_CNODE_TAG_SMALL_INTEGER) {
        out->op = (unsigned char)pkt[p + 1];
        p += 2;
    } else if (pkt[p] == LT_CNODE_TAG_INTEGER) {
        out->op = (long)(int32_t)lt_cnode_get32(pkt + p + 1);
        p += 5;
    } else {
        return -1;
    }

    /* The element layout of each operation that carries a message. */
    unsigned want, from_el = 0, to_pid_el = 0, to_name_el = 0;
    switch (out->op) {
    case LT_DOP_SEND: /* {2, Unused, ToPid} */
        want = 3, to_pid_el = 3;
        break;
    case LT_DOP_SEND_TT: /* {12, Unused, ToPid, Token} */
        want = 4, to_pid_el = 3;
        break;
    case LT_DOP_REG_SEND: /* {6, From, Unused, ToName} */
        want = 4, from_el = 2, to_name_el = 4;
        break;
    case LT_DOP_REG_SEND_TT: /* {16, From, Unused, ToName, Token} */
        want = 5, from_el = 2, to_name_el = 4;
        break;
    case LT_DOP_SEND_SENDER: /* {22, From, ToPid} */
        want = 3, from_el = 2, to_pid_el = 3;
        break;
    case LT_DOP_SEND_SENDER_TT: /* {23, From, ToPid, Token} */
        want = 4, from_el = 2, to_pid_el = 3;
        break;
    default:
        return 0; /* a signal or an operation without a message for us: not looked into */
    }
    if (arity != want)
        return -1;
    for (unsigned el = 2; el <= want; el++) {
        size_t at = p;
        if (el == from_el) {
            if (!is_pid_tag(pkt, end, at))
                return -1;
            out->from_start = at;
        } else if (el == to_pid_el) {
            if (!is_pid_tag(pkt, end, at))
                return -1;
            out->to_pid_start = at;
        } else if (el == to_name_el) {
            size_t q = at;
            if (atom_at(pkt, end, &q, &out->to_name, &out->to_name_len) < 0 ||
                out->to_name_len == 0)
                return -1;
        }
        if (lt_cnode_skip_term(pkt, end, &p) < 0)
            return -1;
    }
    if (p != end || lt_cnode_check_payload(pkt + end, len - end) < 0)
        return -1;
    out->payload_start = end;
    out->payload_len = len - end;
    const uint8_t *pl = (const uint8_t *)pkt + end;
    if (out->payload_len >= 6 && pl[1] == LT_CNODE_TAG_BINARY &&
        (uint64_t)rd32(pl + 2) + 6 == out->payload_len) {
        out->payload_is_binary = 1;
        out->bin_start = end + 6;
        out->bin_len = out->payload_len - 6;
    }
    return 0;
}

/* ---- leaf batches ------------------------------------------------------------------------- */

/* See lt_cnode_proto.h. */
int lt_batch_check(const uint8_t *b, size_t len, size_t max_entries, size_t *n, size_t *bad_off) {
    size_t off = 1, count = 0;

    *n = 0;
    *bad_off = 0;
    if (len < 1 || b[0] != LT_BATCH_V1)
        return -1;
    while (off < len) {
        size_t start = off;
        if (count == max_entries || len - off < 3)
            goto bad;
        unsigned op = b[off];
        size_t klen = rd16(b + off + 1);
        off += 3;
        if ((op != LT_BATCH_PUT && op != LT_BATCH_DELETE) || klen == 0 || klen > LT_BATCH_MAX_KEY)
            goto bad_at;
        size_t need = klen + (op == LT_BATCH_PUT ? LT_BATCH_DIGEST : 0);
        if (need > len - off)
            goto bad_at;
        off += need;
        count++;
        continue;
    bad_at:
        off = start;
    bad:
        *bad_off = off;
        return -1;
    }
    *n = count;
    return 0;
}

/* See lt_cnode_proto.h. */
int lt_batch_next(const uint8_t *b, size_t len, size_t *off, lt_batch_entry *e) {
    size_t p = *off == 0 ? 1 : *off;
    if (p >= len || len - p < 3)
        return 0;
    e->op = b[p];
    e->key_len = rd16(b + p + 1);
    e->key = b + p + 3;
    p += 3 + e->key_len;
    if (e->op == LT_BATCH_PUT) {
        e->digest = b + p;
        p += LT_BATCH_DIGEST;
    } else {
        e->digest = NULL;
    }
    *off = p;
    return 1;
}

/* ---- session messages --------------------------------------------------------------------- */

/* See lt_cnode_proto.h. */
int lt_ae_header_parse(const uint8_t *m, size_t len, lt_ae_header *h) {
    if (len < LT_AE_HEADER || m[0] != LT_AE_V1 || m[1] < 1 || m[1] > LT_AE_KIND_MAX ||
        (m[2] & ~LT_AE_FLAGS_KNOWN) != 0)
        return -1;
    h->kind = m[1];
    h->flags = m[2];
    h->sid = rd32(m + 3);
    h->body = m + LT_AE_HEADER;
    h->body_len = len - LT_AE_HEADER;
    return 0;
}

/* See lt_cnode_proto.h. */
int lt_ae_hello_parse(const uint8_t *b, size_t len, unsigned max_levels, lt_ae_hello *out) {
    size_t off = 9;
    if (len < 9 || b[0] < 1 || b[0] > max_levels)
        return -1;
    out->levels = b[0];
    out->root_fold = ((uint64_t)rd32(b + 1) << 32) | rd32(b + 5);
    if (rd_varint(b, len, &off, &out->count) < 0 || off >= len)
        return -1;
    out->store_len = b[off++];
    if (out->store_len == 0 || out->store_len != len - off)
        return -1;
    out->store = b + off;
    return 0;
}

/* Checks n key records at b[*off..len) (with a side byte or not) and advances *off. */
static int check_keys(const uint8_t *b, size_t len, size_t *off, uint64_t n, int with_side) {
    size_t p = *off;
    for (uint64_t i = 0; i < n; i++) {
        if (len - p < (size_t)(with_side ? 3 : 2))
            return -1;
        if (with_side && b[p++] > 2)
            return -1;
        size_t klen = rd16(b + p);
        p += 2;
        if (klen == 0 || klen > LT_BATCH_MAX_KEY || len - p < klen + LT_BATCH_DIGEST)
            return -1;
        p += klen + LT_BATCH_DIGEST;
    }
    *off = p;
    return 0;
}

/* The owner field: a length byte and a node name. */
static int owner_at(const uint8_t *b, size_t len, size_t *off, lt_ae_keys_msg *out) {
    if (*off >= len)
        return -1;
    out->owner_len = b[(*off)++];
    if (out->owner_len > len - *off)
        return -1;
    out->owner = b + *off;
    *off += out->owner_len;
    return 0;
}

/* See lt_cnode_proto.h. */
int lt_ae_resolve_parse(const uint8_t *b, size_t len, uint64_t max_keys, lt_ae_keys_msg *out) {
    size_t off = 0;
    memset(out, 0, sizeof *out);
    if (owner_at(b, len, &off, out) < 0 || rd_varint(b, len, &off, &out->n_hashes) < 0 ||
        out->n_hashes > max_keys || out->n_hashes > (len - off) / 8)
        return -1;
    out->hashes = b + off;
    off += 8 * (size_t)out->n_hashes;
    if (rd_varint(b, len, &off, &out->n_keys) < 0 || out->n_keys > max_keys ||
        out->n_keys > (len - off) / 3)
        return -1;
    out->keys = b + off;
    out->keys_len = len - off;
    size_t k = off;
    if (check_keys(b, len, &k, out->n_keys, 1) < 0 || k != len)
        return -1;
    return 0;
}

/* See lt_cnode_proto.h. */
int lt_ae_result_parse(const uint8_t *b, size_t len, uint64_t expected_bits, uint64_t max_keys,
                       lt_ae_keys_msg *out) {
    size_t off = 0;
    uint64_t bits;
    memset(out, 0, sizeof *out);
    if (owner_at(b, len, &off, out) < 0 || rd_varint(b, len, &off, &bits) < 0 ||
        bits != expected_bits)
        return -1;
    uint64_t bytes = (bits + 7) / 8;
    if (bytes > len - off)
        return -1;
    out->n_keys = bits;
    out->bitmap = b + off;
    if (bits % 8 != 0 && (b[off + bytes - 1] >> (bits % 8)) != 0)
        return -1; /* bits past the count */
    off += (size_t)bytes;
    if (rd_varint(b, len, &off, &out->n_own) < 0 || out->n_own > max_keys ||
        out->n_own > (len - off) / 2)
        return -1;
    out->keys = b + off;
    out->keys_len = len - off;
    size_t k = off;
    if (check_keys(b, len, &k, out->n_own, 0) < 0 || k != len)
        return -1;
    return 0;
}

/* See lt_cnode_proto.h. */
int lt_ae_key_next(const lt_ae_keys_msg *m, int with_side, size_t *off, lt_ae_key *k) {
    size_t p = *off;
    const uint8_t *b = m->keys;
    if (p >= m->keys_len)
        return 0;
    k->side = with_side ? b[p++] : 1;
    k->key_len = rd16(b + p);
    k->key = b + p + 2;
    k->digest = k->key + k->key_len;
    *off = p + 2 + k->key_len + LT_BATCH_DIGEST;
    return 1;
}

/* See lt_cnode_proto.h. */
int lt_ae_abort_parse(const uint8_t *b, size_t len) {
    if (len != 1 || b[0] < 1 || b[0] > LT_AE_ABORT_MAX)
        return -1;
    return b[0];
}

/* ---- limits ------------------------------------------------------------------------------- */

/* See lt_cnode_proto.h. */
int lt_limit_parse(const char *s, size_t len, const char **key, size_t *key_len, uint64_t *value) {
    const char *eq = memchr(s, '=', len);
    if (eq == NULL || eq == s)
        return -1;
    size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
    if (vlen == 0 || vlen > 18)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < vlen; i++) {
        char c = eq[1 + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (uint64_t)(c - '0');
    }
    for (size_t i = 0; i < klen; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || c == '_'))
            return -1;
    }
    *key = s;
    *key_len = klen;
    *value = v;
    return 0;
}
