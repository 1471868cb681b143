/* test_wire.c — the decoders of the envelope, certificate, revocation list, quorum certificate
 * and equivocation evidence formats: examples, every truncation, every extension, caps. */
#include "lt_cert.h"
#include "lt_envelope.h"
#include "lt_quorum.h"
#include "lt_test.h"

typedef lt_wire_err (*decoder)(const uint8_t *p, size_t len);

static lt_envelope env_out;
static lt_wire_err dec_env(const uint8_t *p, size_t len) {
    return lt_envelope_decode(p, len, 1 << 20, &env_out);
}
static lt_cert cert_out;
static lt_wire_err dec_cert(const uint8_t *p, size_t len) {
    return lt_cert_decode(p, len, &cert_out);
}
static lt_crl crl_out;
static lt_wire_err dec_crl(const uint8_t *p, size_t len) {
    return lt_crl_decode(p, len, &crl_out);
}
static lt_quorum_cert qc_out;
static lt_wire_err dec_qc(const uint8_t *p, size_t len) {
    return lt_quorum_decode(p, len, &qc_out);
}
static lt_quorum_evidence ev_out;
static lt_wire_err dec_ev(const uint8_t *p, size_t len) {
    return lt_quorum_evidence_decode(p, len, &ev_out);
}

/* Every proper prefix and every one-byte extension of a valid value is refused, and the bytes
 * are never read outside [0, len) (ASan: each prefix is copied to its own allocation). */
static void prefixes_and_extensions(decoder d, const uint8_t *p, size_t len) {
    int ok = 1;
    for (size_t n = 0; n < len; n++) {
        uint8_t *q = malloc(n ? n : 1);
        memcpy(q, p, n);
        if (d(q, n) == LT_WIRE_OK)
            ok = 0;
        free(q);
    }
    uint8_t *q = malloc(len + 1);
    memcpy(q, p, len);
    q[len] = 0;
    if (d(q, len + 1) == LT_WIRE_OK)
        ok = 0;
    free(q);
    CHECK(ok);
}

static size_t make_envelope(uint8_t *out, uint8_t flags, uint8_t aead, size_t plain) {
    uint8_t nonce[24];
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t)(0xA0 + i);
    size_t h =
        lt_envelope_write_header(out, flags, aead, (const uint8_t *)"node-1", 6, 7,
                                 UINT64_C(0x0102030405060708), nonce, (uint32_t)(plain + 16));
    memset(out + h, 0xCC, plain + 16);
    size_t n = h + plain + 16;
    if (flags & LT_ENVELOPE_FLAG_SIGNED) {
        memset(out + n, 0x55, 64);
        n += 64;
    }
    return n;
}

static void test_envelope(void) {
    uint8_t buf[2048];
    size_t n = make_envelope(buf, 0, LT_ENVELOPE_AEAD_XCHACHA20POLY1305, 100);
    CHECK(n == 5 + 6 + 4 + 8 + 24 + 4 + 116);
    lt_envelope e;
    CHECK(lt_envelope_decode(buf, n, 1024, &e) == LT_WIRE_OK);
    CHECK(e.sender_len == 6 && memcmp(buf + e.sender_off, "node-1", 6) == 0);
    CHECK(e.key_version == 7 && e.counter == UINT64_C(0x0102030405060708));
    CHECK(e.nonce_len == 24 && buf[e.nonce_off] == 0xA0);
    CHECK(e.header_len == n - 116 && e.ct_off == e.header_len && e.ct_len == 116);
    CHECK(e.flags == 0 && e.aead == 1);
    prefixes_and_extensions(dec_env, buf, n);

    n = make_envelope(buf, LT_ENVELOPE_FLAG_SIGNED, LT_ENVELOPE_AEAD_AES256GCM, 0);
    CHECK(lt_envelope_decode(buf, n, 1024, &e) == LT_WIRE_OK);
    CHECK(e.nonce_len == 12 && e.ct_len == 16 && e.sig_off == n - 64);
    prefixes_and_extensions(dec_env, buf, n);

    /* Bad tag, version, flag, AEAD. */
    uint8_t save;
    const size_t bad_at[] = {0, 1, 2, 3};
    const uint8_t bad_val[] = {0x41, 2, 0x02, 4};
    for (size_t i = 0; i < 4; i++) {
        save = buf[bad_at[i]];
        buf[bad_at[i]] = bad_val[i];
        CHECK(lt_envelope_decode(buf, n, 1024, &e) == LT_WIRE_MALFORMED);
        buf[bad_at[i]] = save;
    }
    /* An empty sender. */
    uint8_t nonce[24] = {0};
    CHECK(lt_envelope_write_header(buf, 0, 1, (const uint8_t *)"x", 0, 1, 1, nonce, 16) == 0);
    CHECK(lt_envelope_write_header(buf, 0, 9, (const uint8_t *)"x", 1, 1, 1, nonce, 16) == 0);
    CHECK(lt_envelope_write_header(buf, 0, 1, (const uint8_t *)"x", 1, 1, 1, nonce, 15) == 0);

    /* The cap: on the declared ciphertext, and on the input's size, before anything else. */
    n = make_envelope(buf, 0, LT_ENVELOPE_AEAD_XCHACHA20POLY1305, 1000);
    CHECK(lt_envelope_decode(buf, n, 1000, &e) == LT_WIRE_OK);
    CHECK(lt_envelope_decode(buf, n, 999, &e) == LT_WIRE_TOO_LARGE);
    /* A short input that declares a huge ciphertext is too large, not truncated. */
    CHECK(lt_envelope_decode(buf, 60, 999, &e) == LT_WIRE_TOO_LARGE);
    uint8_t *big = calloc(1, 400 + 64);
    CHECK(lt_envelope_decode(big, 400 + 64, 10, &e) == LT_WIRE_TOO_LARGE);
    free(big);
    /* A ciphertext shorter than a tag. */
    n = make_envelope(buf, 0, LT_ENVELOPE_AEAD_XCHACHA20POLY1305, 0);
    buf[n - 17] = 15; /* the length's low byte: 16 -> 15 */
    CHECK(lt_envelope_decode(buf, n - 1, 1024, &e) == LT_WIRE_MALFORMED);
}

static size_t make_cert(uint8_t *out, uint64_t nb, uint64_t na) {
    size_t o = 0;
    out[o++] = LT_WIRE_CERT;
    out[o++] = 1;
    out[o++] = 3;
    memcpy(out + o, "clu", 3);
    o += 3;
    out[o++] = 4;
    memcpy(out + o, "node", 4);
    o += 4;
    memset(out + o, 0x11, 32);
    o += 32;
    memset(out + o, 0x22, 32);
    o += 32;
    o += lt_wire_put_uint(out + o, nb, 8);
    o += lt_wire_put_uint(out + o, na, 8);
    o += lt_wire_put_uint(out + o, 99, 8);
    memset(out + o, 0x33, 64);
    return o + 64;
}

static size_t make_crl(uint8_t *out, const uint64_t *serials, uint32_t k) {
    size_t o = 0;
    out[o++] = LT_WIRE_CRL;
    out[o++] = 1;
    out[o++] = 3;
    memcpy(out + o, "clu", 3);
    o += 3;
    o += lt_wire_put_uint(out + o, 5, 8);
    o += lt_wire_put_uint(out + o, 1000, 8);
    o += lt_wire_put_uint(out + o, k, 4);
    for (uint32_t i = 0; i < k; i++)
        o += lt_wire_put_uint(out + o, serials[i], 8);
    memset(out + o, 0x44, 64);
    return o + 64;
}

static void test_cert(void) {
    uint8_t buf[1024];
    size_t n = make_cert(buf, 100, 200);
    lt_cert c;
    CHECK(lt_cert_decode(buf, n, &c) == LT_WIRE_OK);
    CHECK(c.cluster_len == 3 && c.node_len == 4 && memcmp(buf + c.node_off, "node", 4) == 0);
    CHECK(buf[c.sign_pub_off] == 0x11 && buf[c.kx_pub_off] == 0x22);
    CHECK(c.not_before == 100 && c.not_after == 200 && c.serial == 99 && c.sig_off == n - 64);
    prefixes_and_extensions(dec_cert, buf, n);
    n = make_cert(buf, 200, 200);
    CHECK(lt_cert_decode(buf, n, &c) == LT_WIRE_OK);
    n = make_cert(buf, 201, 200);
    CHECK(lt_cert_decode(buf, n, &c) == LT_WIRE_MALFORMED);
    uint8_t big[LT_CERT_MAX_BYTES + 1] = {LT_WIRE_CERT, 1};
    CHECK(lt_cert_decode(big, sizeof big, &c) == LT_WIRE_TOO_LARGE);

    uint64_t serials[] = {1, 5, 9, UINT64_MAX};
    n = make_crl(buf, serials, 4);
    lt_crl l;
    CHECK(lt_crl_decode(buf, n, &l) == LT_WIRE_OK);
    CHECK(l.count == 4 && l.sequence == 5 && l.issued_at == 1000);
    CHECK(lt_crl_contains(buf, &l, 1) && lt_crl_contains(buf, &l, 9));
    CHECK(lt_crl_contains(buf, &l, UINT64_MAX) && !lt_crl_contains(buf, &l, 0));
    CHECK(!lt_crl_contains(buf, &l, 6) && !lt_crl_contains(buf, &l, 10));
    prefixes_and_extensions(dec_crl, buf, n);
    n = make_crl(buf, serials, 0);
    CHECK(lt_crl_decode(buf, n, &l) == LT_WIRE_OK && l.count == 0);
    CHECK(!lt_crl_contains(buf, &l, 1));
    uint64_t unordered[] = {1, 5, 5};
    n = make_crl(buf, unordered, 3);
    CHECK(lt_crl_decode(buf, n, &l) == LT_WIRE_MALFORMED);
    uint64_t down[] = {6, 5};
    n = make_crl(buf, down, 2);
    CHECK(lt_crl_decode(buf, n, &l) == LT_WIRE_MALFORMED);
    /* A count above the cap. */
    n = make_crl(buf, serials, 1);
    lt_wire_put_uint(buf + 2 + 4 + 16, LT_CRL_MAX_SERIALS + 1, 4);
    CHECK(lt_crl_decode(buf, n, &l) == LT_WIRE_MALFORMED);
}

static size_t make_qc(uint8_t *out, const char *const *ids, uint16_t k) {
    size_t o = 0;
    out[o++] = LT_WIRE_QUORUM;
    out[o++] = 1;
    uint8_t digest[32];
    memset(digest, 0xDD, 32);
    o += lt_quorum_write_statement(out + o, (const uint8_t *)"blocks", 6, 42, digest, 32);
    o += lt_wire_put_uint(out + o, k, 2);
    for (uint16_t i = 0; i < k; i++) {
        size_t m = strlen(ids[i]);
        out[o++] = (uint8_t)m;
        memcpy(out + o, ids[i], m);
        o += m;
        memset(out + o, (int)i, 64);
        o += 64;
    }
    return o;
}

static void test_quorum(void) {
    uint8_t buf[4096];
    const char *ids[] = {"a", "ab", "b", "c"};
    size_t n = make_qc(buf, ids, 4);
    lt_quorum_cert q;
    CHECK(lt_quorum_decode(buf, n, &q) == LT_WIRE_OK);
    CHECK(q.count == 4 && q.sequence == 42 && q.scope_len == 6 && q.digest_len == 32);
    CHECK(q.statement_off == 2 && q.statement_len == 1 + 6 + 8 + 1 + 32);
    size_t off = q.signers_off, io, il, so;
    for (int i = 0; i < 4; i++) {
        lt_quorum_next_signer(buf, &off, &io, &il, &so);
        CHECK(il == strlen(ids[i]) && memcmp(buf + io, ids[i], il) == 0 && buf[so] == i);
    }
    CHECK(off == n);
    prefixes_and_extensions(dec_qc, buf, n);

    const char *dup[] = {"a", "b", "b", "c"};
    n = make_qc(buf, dup, 4);
    CHECK(lt_quorum_decode(buf, n, &q) == LT_WIRE_DUPLICATE);
    CHECK(q.dup_len == 1 && buf[q.dup_off] == 'b');
    /* A duplicate in a truncated certificate is malformed. */
    CHECK(lt_quorum_decode(buf, n - 1, &q) == LT_WIRE_MALFORMED);
    const char *down[] = {"b", "a"};
    n = make_qc(buf, down, 2);
    CHECK(lt_quorum_decode(buf, n, &q) == LT_WIRE_MALFORMED);
    const char *prefix[] = {"ab", "a"};
    n = make_qc(buf, prefix, 2);
    CHECK(lt_quorum_decode(buf, n, &q) == LT_WIRE_MALFORMED);
    n = make_qc(buf, ids, 0);
    CHECK(lt_quorum_decode(buf, n, &q) == LT_WIRE_MALFORMED);
    uint8_t *big = calloc(1, LT_QUORUM_MAX_BYTES + 1);
    CHECK(lt_quorum_decode(big, LT_QUORUM_MAX_BYTES + 1, &q) == LT_WIRE_TOO_LARGE);
    free(big);

    /* Evidence. */
    size_t o = 0;
    buf[o++] = LT_WIRE_EVIDENCE;
    buf[o++] = 1;
    buf[o++] = 2;
    memcpy(buf + o, "n1", 2);
    o += 2;
    memset(buf + o, 0x77, 32);
    o += 32;
    buf[o++] = 6;
    memcpy(buf + o, "blocks", 6);
    o += 6;
    o += lt_wire_put_uint(buf + o, 42, 8);
    size_t d0 = o;
    buf[o++] = 2;
    buf[o++] = 1;
    buf[o++] = 2;
    memset(buf + o, 0x01, 64);
    o += 64;
    size_t d1 = o;
    buf[o++] = 2;
    buf[o++] = 1;
    buf[o++] = 3;
    memset(buf + o, 0x02, 64);
    o += 64;
    lt_quorum_evidence ev;
    CHECK(lt_quorum_evidence_decode(buf, o, &ev) == LT_WIRE_OK);
    CHECK(ev.id_len == 2 && ev.sequence == 42 && ev.digest_len[0] == 2 && ev.digest_len[1] == 2);
    CHECK(ev.statement_len[0] == 1 + 6 + 8 + 1 + 2);
    CHECK(buf[ev.sig_off[0]] == 1 && buf[ev.sig_off[1]] == 2);
    prefixes_and_extensions(dec_ev, buf, o);
    buf[d1 + 2] = 2; /* equal digests */
    CHECK(lt_quorum_evidence_decode(buf, o, &ev) == LT_WIRE_MALFORMED);
    buf[d1 + 2] = 1; /* out of order */
    CHECK(lt_quorum_evidence_decode(buf, o, &ev) == LT_WIRE_MALFORMED);
    (void)d0;
}

int main(void) {
    test_envelope();
    test_cert();
    test_quorum();
    return lt_test_summary();
}
