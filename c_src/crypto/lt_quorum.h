/*
 * lt_quorum.h — quorum certificates and equivocation evidence (docs/FORMAT.md, "Quorum
 * certificate" and "Equivocation evidence"): parsing their bytes into offsets.
 *
 * A vote's statement: u8 n, n bytes scope (1..255) | u64be sequence | u8 d, d bytes digest
 * (1..64). A signer signs LT_WIRE_TAG_QUORUM (with its NUL) followed by the statement.
 *
 * Quorum certificate:
 *   u8 0x43 | u8 version 1 | statement | u16be k (1..LT_QUORUM_MAX_SIGNERS)
 *   | k times: u8 m, m bytes signer id (1..255), 64 bytes signature
 * with the signer ids strictly ascending (bytewise, a proper prefix first): one encoding per
 * set of signatures, and a repeated signer is found by the decoder (DUPLICATE).
 *
 * Equivocation evidence: two statements of one signer for one (scope, sequence) with different
 * digests, signed both:
 *   u8 0x44 | u8 version 1 | u8 m, m bytes signer id | 32 bytes the signer's Ed25519 key
 *   | u8 n, n bytes scope | u64be sequence | u8 d1, d1 bytes digest | 64 bytes signature
 *   | u8 d2, d2 bytes digest | 64 bytes signature
 * with the first digest before the second (so they differ, and the evidence is canonical).
 *
 * The decoders only parse: they check the structure and the size caps and verify nothing.
 * Plain C99; knows nothing of the BEAM.
 */
#ifndef LT_QUORUM_H
#define LT_QUORUM_H

#include "lt_wire.h"

#define LT_QUORUM_MAX_SIGNERS 1024
#define LT_QUORUM_MAX_DIGEST 64
/* The largest certificate: 2 + (256 + 8 + 65) + 2 + 1024 * (256 + 64). */
#define LT_QUORUM_MAX_BYTES (333 + LT_QUORUM_MAX_SIGNERS * 320)
/* The largest evidence: 2 + 256 + 32 + 256 + 8 + 2 * (65 + 64). */
#define LT_EVIDENCE_MAX_BYTES 812

typedef struct {
    size_t scope_off, scope_len;
    uint64_t sequence;
    size_t digest_off, digest_len;
    size_t statement_off, statement_len; /* the signed statement, without the domain tag */
    uint32_t count;
    size_t signers_off;      /* the first signer entry: walk them with lt_quorum_next_signer */
    size_t dup_off, dup_len; /* DUPLICATE: the repeated signer id */
} lt_quorum_cert;

typedef struct {
    size_t id_off, id_len, pub_off;
    size_t scope_off, scope_len;
    uint64_t sequence;
    size_t digest_off[2], digest_len[2], sig_off[2];
    size_t statement_len[2]; /* each statement: scope, sequence and digest i (see below) */
} lt_quorum_evidence;

/* Parses p[0..len) (the caller's): TOO_LARGE above LT_QUORUM_MAX_BYTES, MALFORMED for
 * anything that is not a certificate, DUPLICATE (with dup_off/dup_len) when a signer id comes
 * twice in a row (ids out of order otherwise are MALFORMED). */
lt_wire_err lt_quorum_decode(const uint8_t *p, size_t len, lt_quorum_cert *q) LT_WIRE_WARN_UNUSED;

/* The signer entry at *off of a certificate lt_quorum_decode accepted: its id and signature
 * offsets; *off moves to the next entry. */
void lt_quorum_next_signer(const uint8_t *p, size_t *off, size_t *id_off, size_t *id_len,
                           size_t *sig_off);

/* Parses p[0..len) (the caller's): TOO_LARGE above LT_EVIDENCE_MAX_BYTES, MALFORMED for
 * anything that is not evidence, digests not in order (or equal) included. */
lt_wire_err lt_quorum_evidence_decode(const uint8_t *p, size_t len,
                                      lt_quorum_evidence *ev) LT_WIRE_WARN_UNUSED;

/* Writes the statement (scope, sequence, digest) into out (at most 1 + 255 + 8 + 1 + 64
 * bytes, the caller's) and returns its length, or 0 when a length is out of range. */
size_t lt_quorum_write_statement(uint8_t *out, const uint8_t *scope, size_t scope_len,
                                 uint64_t sequence, const uint8_t *digest, size_t digest_len);

#endif
