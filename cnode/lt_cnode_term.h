/*
 * lt_cnode_term.h — the C node's length-checked walker over the Erlang external term format.
 *
 * libei's ei_decode_* functions take no buffer length: they trust every length field they read.
 * The C node therefore walks each payload it receives with lt_cnode_skip_term first, which checks
 * every length against the bytes actually there, and calls ei_decode_* only on a payload that
 * passed. This file is plain C over bytes: it includes no ei.h (the tag values below are the
 * documented external term format; lattice_cnode.c asserts at compile time that they equal
 * ei.h's), so it can be built and fuzzed on its own.
 *
 * The walker does not recurse: nesting costs a counter, never stack. It accepts the terms a
 * distribution message may hold, and rejects atom cache references, the old FUN_EXT, compressed
 * terms and any tag it does not know.
 */
#ifndef LT_CNODE_TERM_H
#define LT_CNODE_TERM_H

#include <stddef.h>
#include <stdint.h>

/* The largest payload the C node accepts (longer packets are discarded unread), and so the
 * largest buffer lt_cnode_skip_term walks. Offsets into a payload must fit ei's int indexes. */
#define LT_CNODE_MAX_MSG (1u << 20)

/* The first byte of every payload (the external term format's version). */
#define LT_CNODE_VERSION_MAGIC 131

/* NEW_FUN_EXT's size field counts its own 4 bytes. */
#define LT_CNODE_FUN_SIZE_FIELD 4

/* Tags of the external term format that the walker accepts (erts' external.h, ei.h). */
#define LT_CNODE_TAG_NEW_FLOAT 'F'       /* 70: 8-byte IEEE 754 float */
#define LT_CNODE_TAG_BIT_BINARY 'M'      /* 77: 4-byte length, 1-byte bits, data */
#define LT_CNODE_TAG_NEW_PID 'X'         /* 88: node, id, serial, 4-byte creation */
#define LT_CNODE_TAG_NEW_PORT 'Y'        /* 89: node, id, 4-byte creation */
#define LT_CNODE_TAG_NEWER_REFERENCE 'Z' /* 90: 2-byte words, node, 4-byte creation, ids */
#define LT_CNODE_TAG_SMALL_INTEGER 'a'   /* 97: 1 byte */
#define LT_CNODE_TAG_INTEGER 'b'         /* 98: 4 bytes */
#define LT_CNODE_TAG_FLOAT 'c'           /* 99: 31-byte text float */
#define LT_CNODE_TAG_ATOM 'd'            /* 100: 2-byte length, Latin-1 */
#define LT_CNODE_TAG_REFERENCE 'e'       /* 101: node, id, 1-byte creation */
#define LT_CNODE_TAG_PORT 'f'            /* 102: node, id, 1-byte creation */
#define LT_CNODE_TAG_PID 'g'             /* 103: node, id, serial, 1-byte creation */
#define LT_CNODE_TAG_SMALL_TUPLE 'h'     /* 104: 1-byte arity, elements */
#define LT_CNODE_TAG_LARGE_TUPLE 'i'     /* 105: 4-byte arity, elements */
#define LT_CNODE_TAG_NIL 'j'             /* 106 */
#define LT_CNODE_TAG_STRING 'k'          /* 107: 2-byte length, bytes */
#define LT_CNODE_TAG_LIST 'l'            /* 108: 4-byte length, elements, tail */
#define LT_CNODE_TAG_BINARY 'm'          /* 109: 4-byte length, bytes */
#define LT_CNODE_TAG_SMALL_BIG 'n'       /* 110: 1-byte digit count, sign, digits */
#define LT_CNODE_TAG_LARGE_BIG 'o'       /* 111: 4-byte digit count, sign, digits */
#define LT_CNODE_TAG_NEW_FUN 'p'         /* 112: 4-byte size of the whole term, opaque here */
#define LT_CNODE_TAG_EXPORT 'q'          /* 113: module, function, arity */
#define LT_CNODE_TAG_NEW_REFERENCE 'r'   /* 114: 2-byte words, node, 1-byte creation, ids */
#define LT_CNODE_TAG_SMALL_ATOM 's'      /* 115: 1-byte length, Latin-1 */
#define LT_CNODE_TAG_MAP 't'             /* 116: 4-byte pair count, keys and values */
#define LT_CNODE_TAG_ATOM_UTF8 'v'       /* 118: 2-byte length, UTF-8 */
#define LT_CNODE_TAG_SMALL_ATOM_UTF8 'w' /* 119: 1-byte length, UTF-8 */
#define LT_CNODE_TAG_V4_PORT 'x'         /* 120: node, 8-byte id, 4-byte creation */

/* Reads a big-endian 32-bit value from p (borrowed), which must hold at least 4 bytes. */
uint32_t lt_cnode_get32(const char *p);

/* Walks one complete term starting at buf[*pos], within buf[0..len) (buf borrowed, not
 * modified), checking every length field against the bytes left, and on success advances *pos
 * to the first byte after the term. Iterative, with a count of terms still to walk, so a deeply
 * nested term cannot exhaust the stack; each call takes time linear in the bytes walked.
 *
 * Returns 0, or -1 for a term that is truncated, does not fit in buf[*pos..len), or that this
 * node does not accept (see above), and when *pos > len or len > LT_CNODE_MAX_MSG. On failure
 * *pos is left unchanged. Only the structure is checked: atom text, big-integer digits, the
 * inside of a NEW_FUN_EXT and so on are not. */
int lt_cnode_skip_term(const char *buf, size_t len, size_t *pos);

/* Checks a payload as the C node receives it, buf[0..len) (borrowed): at least 2 and at most
 * LT_CNODE_MAX_MSG bytes, LT_CNODE_VERSION_MAGIC first, then exactly one complete term that ends
 * at buf + len. Returns 0 if so, else -1.
 *
 * After it returns 0, a decoder that reads a term the way the walker does stays within buf:
 * ei_decode_tuple_header, ei_decode_atom_as, ei_decode_pid and ei_decode_ref (the calls the C
 * node makes) started at the first byte of a term. Not ei_decode_fun, ei_decode_ei_term or
 * ei_skip_term: they read the inside of a NEW_FUN_EXT, which the walker leaves unchecked, and
 * ei_skip_term recurses. */
int lt_cnode_check_payload(const char *buf, size_t len);

#endif
