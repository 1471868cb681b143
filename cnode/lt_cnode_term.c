/*
 * lt_cnode_term.c — the C node's length-checked walker over the Erlang external term format
 * (see lt_cnode_term.h). Plain C over bytes: no ei.h, no allocation, no recursion.
 */
#include "lt_cnode_term.h"

/* Big-endian reads of the external term format; p is borrowed and holds enough bytes. */
static uint32_t get16(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 8) | u[1];
}

/* See lt_cnode_term.h. */
uint32_t lt_cnode_get32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

/* Advances *pos (<= len) past `need` bytes of buf[0..len), or returns -1, *pos unchanged, if
 * fewer are left. */
static int take(size_t len, size_t *pos, uint64_t need) {
    if (need > len - *pos)
        return -1;
    *pos += (size_t)need;
    return 0;
}

/* Checks the atom at buf[*pos..len) (buf borrowed, *pos <= len) and advances *pos past it.
 * Returns 0, or -1, *pos unchanged, for anything but a complete atom. */
static int skip_atom(const char *buf, size_t len, size_t *pos) {
    size_t p = *pos;
    int rc;

    if (p >= len)
        return -1;
    char tag = buf[p++];
    switch (tag) {
    case LT_CNODE_TAG_ATOM:
    case LT_CNODE_TAG_ATOM_UTF8:
        rc = len - p < 2 ? -1 : take(len, &p, 2 + (uint64_t)get16(buf + p));
        break;
    case LT_CNODE_TAG_SMALL_ATOM:
    case LT_CNODE_TAG_SMALL_ATOM_UTF8:
        rc = len - p < 1 ? -1 : take(len, &p, 1 + (uint64_t)(unsigned char)buf[p]);
        break;
    default:
        rc = -1;
        break;
    }
    if (rc == 0)
        *pos = p;
    return rc;
}

/* See lt_cnode_term.h. Invariant of the loop: p <= len, and every one of the `pending` terms
 * still to walk needs at least one byte, so pending <= len - p whenever a tag is read (which also
 * keeps pending far from overflowing: each step adds at most 2 * UINT32_MAX). */
int lt_cnode_skip_term(const char *buf, size_t len, size_t *pos) {
    uint64_t pending = 1;
    size_t p = *pos;

    if (len > LT_CNODE_MAX_MSG || p > len)
        return -1;
    while (pending > 0) {
        if (pending > len - p)
            return -1;
        pending--;
        char tag = buf[p++];
        int rc = 0;
        switch (tag) {
        case LT_CNODE_TAG_NIL:
            break;
        case LT_CNODE_TAG_SMALL_INTEGER:
            rc = take(len, &p, 1);
            break;
        case LT_CNODE_TAG_INTEGER:
            rc = take(len, &p, 4);
            break;
        case LT_CNODE_TAG_NEW_FLOAT:
            rc = take(len, &p, 8);
            break;
        case LT_CNODE_TAG_FLOAT:
            rc = take(len, &p, 31);
            break;
        case LT_CNODE_TAG_ATOM:
        case LT_CNODE_TAG_ATOM_UTF8:
        case LT_CNODE_TAG_SMALL_ATOM:
        case LT_CNODE_TAG_SMALL_ATOM_UTF8:
            p--;
            rc = skip_atom(buf, len, &p);
            break;
        case LT_CNODE_TAG_STRING:
            rc = len - p < 2 ? -1 : take(len, &p, 2 + (uint64_t)get16(buf + p));
            break;
        case LT_CNODE_TAG_BINARY:
            rc = len - p < 4 ? -1 : take(len, &p, 4 + (uint64_t)lt_cnode_get32(buf + p));
            break;
        case LT_CNODE_TAG_BIT_BINARY:
            rc = len - p < 5 ? -1 : take(len, &p, 5 + (uint64_t)lt_cnode_get32(buf + p));
            break;
        case LT_CNODE_TAG_SMALL_BIG:
            rc = len - p < 1 ? -1 : take(len, &p, 2 + (uint64_t)(unsigned char)buf[p]);
            break;
        case LT_CNODE_TAG_LARGE_BIG:
            rc = len - p < 4 ? -1 : take(len, &p, 5 + (uint64_t)lt_cnode_get32(buf + p));
            break;
        case LT_CNODE_TAG_SMALL_TUPLE:
            rc = len - p < 1 ? -1 : 0;
            if (rc == 0)
                pending += (unsigned char)buf[p++];
            break;
        case LT_CNODE_TAG_LARGE_TUPLE:
            rc = len - p < 4 ? -1 : 0;
            if (rc == 0) {
                pending += lt_cnode_get32(buf + p);
                p += 4;
            }
            break;
        case LT_CNODE_TAG_LIST: /* the elements, then the tail */
            rc = len - p < 4 ? -1 : 0;
            if (rc == 0) {
                pending += (uint64_t)lt_cnode_get32(buf + p) + 1;
                p += 4;
            }
            break;
        case LT_CNODE_TAG_MAP: /* keys and values */
            rc = len - p < 4 ? -1 : 0;
            if (rc == 0) {
                pending += 2 * (uint64_t)lt_cnode_get32(buf + p);
                p += 4;
            }
            break;
        case LT_CNODE_TAG_PID: /* node, id, serial, 1-byte creation */
            rc = skip_atom(buf, len, &p) || take(len, &p, 9) ? -1 : 0;
            break;
        case LT_CNODE_TAG_NEW_PID: /* node, id, serial, 4-byte creation */
            rc = skip_atom(buf, len, &p) || take(len, &p, 12) ? -1 : 0;
            break;
        case LT_CNODE_TAG_PORT:
        case LT_CNODE_TAG_REFERENCE: /* node, id, 1-byte creation */
            rc = skip_atom(buf, len, &p) || take(len, &p, 5) ? -1 : 0;
            break;
        case LT_CNODE_TAG_NEW_PORT: /* node, id, 4-byte creation */
            rc = skip_atom(buf, len, &p) || take(len, &p, 8) ? -1 : 0;
            break;
        case LT_CNODE_TAG_V4_PORT: /* node, 8-byte id, 4-byte creation */
            rc = skip_atom(buf, len, &p) || take(len, &p, 12) ? -1 : 0;
            break;
        case LT_CNODE_TAG_NEW_REFERENCE:   /* word count, node, 1-byte creation, words */
        case LT_CNODE_TAG_NEWER_REFERENCE: /* word count, node, 4-byte creation, words */
            if (len - p < 2) {
                rc = -1;
            } else {
                uint64_t words = get16(buf + p);
                p += 2;
                rc = skip_atom(buf, len, &p) ||
                             take(len, &p, (tag == LT_CNODE_TAG_NEW_REFERENCE ? 1 : 4) + 4 * words)
                         ? -1
                         : 0;
            }
            break;
        case LT_CNODE_TAG_EXPORT: /* module, function, arity (a small integer term) */
            rc = skip_atom(buf, len, &p) || skip_atom(buf, len, &p) ? -1 : 0;
            pending += 1;
            break;
        case LT_CNODE_TAG_NEW_FUN: /* opaque here: its size field covers the whole term */
            if (len - p < LT_CNODE_FUN_SIZE_FIELD ||
                lt_cnode_get32(buf + p) < LT_CNODE_FUN_SIZE_FIELD)
                rc = -1;
            else
                rc = take(len, &p, lt_cnode_get32(buf + p));
            break;
        default:
            rc = -1;
            break;
        }
        if (rc != 0)
            return -1;
    }
    *pos = p;
    return 0;
}

/* See lt_cnode_term.h. */
int lt_cnode_check_payload(const char *buf, size_t len) {
    size_t end = 1;

    if (len < 2 || len > LT_CNODE_MAX_MSG || (unsigned char)buf[0] != LT_CNODE_VERSION_MAGIC ||
        lt_cnode_skip_term(buf, len, &end) < 0 || end != len)
        return -1;
    return 0;
}
