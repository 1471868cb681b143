/* lt_nif_wire.c — the NIFs that parse the envelope, certificate, revocation list, quorum
 * certificate and evidence formats (c_src/crypto/lt_envelope.h, lt_cert.h, lt_quorum.h).
 *
 * Each takes a binary and gives its fields as sub-binaries of it (no copy) and integers, or
 * {error, malformed | too_large} (and {error, {duplicate_signer, Id}} for a quorum
 * certificate). Nothing is verified here: lattice_envelope, lattice_cert and lattice_quorum
 * check the MACs and signatures over the parts these return. A decode is bounded by its cap:
 * an envelope is O(1); a revocation list's order check and a quorum certificate's list of up
 * to 1024 signers take some tens of microseconds at their caps, on a normal scheduler.
 */
#include "lt_cert.h"
#include "lt_crypto_nif.h"
#include "lt_envelope.h"
#include "lt_quorum.h"

static ERL_NIF_TERM wire_error(ErlNifEnv *env, lt_wire_err e) {
    lt_crypto_count(LT_CTR_wire_decode_failures, 1);
    return lt_crypto_error(env, e == LT_WIRE_TOO_LARGE ? lt_catom.too_large : lt_catom.malformed);
}

static ERL_NIF_TERM sub(ErlNifEnv *env, ERL_NIF_TERM bin, size_t off, size_t len) {
    return enif_make_sub_binary(env, bin, off, len);
}

/* envelope_decode(Bin, MaxPlain) -> {ok, {Flags, Aead, Sender, KeyVersion, Counter, Nonce,
 * Header, Ciphertext, Signed, Signature}} | {error, malformed | too_large}, where Header is the
 * associated data, Signed the bytes the signature covers and Signature `none` when unsigned. */
LT_CNIF(lt_cnif_envelope_decode) {
    ErlNifBinary b;
    ErlNifUInt64 max;
    if (argc != 2 || !enif_inspect_binary(env, argv[0], &b) || !enif_get_uint64(env, argv[1], &max))
        return enif_make_badarg(env);
    lt_envelope e;
    lt_wire_err err =
        lt_envelope_decode(b.data, b.size, max > SIZE_MAX ? SIZE_MAX : (size_t)max, &e);
    if (err != LT_WIRE_OK)
        return wire_error(env, err);
    ERL_NIF_TERM bin = argv[0];
    int is_signed = (e.flags & LT_ENVELOPE_FLAG_SIGNED) != 0;
    ERL_NIF_TERM f[10] = {
        enif_make_uint(env, e.flags),
        enif_make_uint(env, e.aead),
        sub(env, bin, e.sender_off, e.sender_len),
        enif_make_uint(env, e.key_version),
        enif_make_uint64(env, e.counter),
        sub(env, bin, e.nonce_off, e.nonce_len),
        sub(env, bin, 0, e.header_len),
        sub(env, bin, e.ct_off, e.ct_len),
        is_signed ? sub(env, bin, 0, e.sig_off) : lt_catom.none,
        is_signed ? sub(env, bin, e.sig_off, LT_WIRE_SIG_BYTES) : lt_catom.none,
    };
    return lt_crypto_ok(env, enif_make_tuple_from_array(env, f, 10));
}

/* cert_decode(Bin) -> {ok, {Cluster, Node, SignPub, KxPub, NotBefore, NotAfter, Serial,
 * Signed, Signature}} | {error, malformed | too_large}. */
LT_CNIF(lt_cnif_cert_decode) {
    ErlNifBinary b;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &b))
        return enif_make_badarg(env);
    lt_cert c;
    lt_wire_err err = lt_cert_decode(b.data, b.size, &c);
    if (err != LT_WIRE_OK)
        return wire_error(env, err);
    ERL_NIF_TERM bin = argv[0];
    ERL_NIF_TERM f[9] = {
        sub(env, bin, c.cluster_off, c.cluster_len),
        sub(env, bin, c.node_off, c.node_len),
        sub(env, bin, c.sign_pub_off, LT_WIRE_PUB_BYTES),
        sub(env, bin, c.kx_pub_off, LT_WIRE_PUB_BYTES),
        enif_make_uint64(env, c.not_before),
        enif_make_uint64(env, c.not_after),
        enif_make_uint64(env, c.serial),
        sub(env, bin, 0, c.sig_off),
        sub(env, bin, c.sig_off, LT_WIRE_SIG_BYTES),
    };
    return lt_crypto_ok(env, enif_make_tuple_from_array(env, f, 9));
}

/* crl_decode(Bin) -> {ok, {Cluster, Sequence, IssuedAt, Serials, Signed, Signature}} |
 * {error, malformed | too_large}, Serials the k * 8 bytes of ascending u64be serials. */
LT_CNIF(lt_cnif_crl_decode) {
    ErlNifBinary b;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &b))
        return enif_make_badarg(env);
    lt_crl l;
    lt_wire_err err = lt_crl_decode(b.data, b.size, &l);
    if (err != LT_WIRE_OK)
        return wire_error(env, err);
    ERL_NIF_TERM bin = argv[0];
    ERL_NIF_TERM f[6] = {
        sub(env, bin, l.cluster_off, l.cluster_len),
        enif_make_uint64(env, l.sequence),
        enif_make_uint64(env, l.issued_at),
        sub(env, bin, l.serials_off, 8 * (size_t)l.count),
        sub(env, bin, 0, l.sig_off),
        sub(env, bin, l.sig_off, LT_WIRE_SIG_BYTES),
    };
    return lt_crypto_ok(env, enif_make_tuple_from_array(env, f, 6));
}

/* quorum_decode(Bin) -> {ok, {Scope, Sequence, Digest, Statement, [{SignerId, Signature}]}}
 * | {error, malformed | too_large | {duplicate_signer, Id}}, the signers in their (ascending)
 * order. */
LT_CNIF(lt_cnif_quorum_decode) {
    ErlNifBinary b;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &b))
        return enif_make_badarg(env);
    lt_quorum_cert q;
    lt_wire_err err = lt_quorum_decode(b.data, b.size, &q);
    ERL_NIF_TERM bin = argv[0];
    if (err == LT_WIRE_DUPLICATE) {
        lt_crypto_count(LT_CTR_wire_decode_failures, 1);
        return lt_crypto_error(env, enif_make_tuple2(env, lt_catom.duplicate_signer,
                                                     sub(env, bin, q.dup_off, q.dup_len)));
    }
    if (err != LT_WIRE_OK)
        return wire_error(env, err);
    /* The list, in the certificate's order: built reversed, then reversed once. */
    ERL_NIF_TERM rev = enif_make_list(env, 0), list;
    size_t off = q.signers_off;
    for (uint32_t i = 0; i < q.count; i++) {
        size_t io, il, so;
        lt_quorum_next_signer(b.data, &off, &io, &il, &so);
        ERL_NIF_TERM entry =
            enif_make_tuple2(env, sub(env, bin, io, il), sub(env, bin, so, LT_WIRE_SIG_BYTES));
        rev = enif_make_list_cell(env, entry, rev);
    }
    if (!enif_make_reverse_list(env, rev, &list))
        return lt_crypto_raise_nomem(env);
    ERL_NIF_TERM f[5] = {
        sub(env, bin, q.scope_off, q.scope_len),
        enif_make_uint64(env, q.sequence),
        sub(env, bin, q.digest_off, q.digest_len),
        sub(env, bin, q.statement_off, q.statement_len),
        list,
    };
    return lt_crypto_ok(env, enif_make_tuple_from_array(env, f, 5));
}

/* evidence_decode(Bin) -> {ok, {SignerId, Pub, Scope, Sequence, {Digest1, Sig1},
 * {Digest2, Sig2}}} | {error, malformed | too_large}. */
LT_CNIF(lt_cnif_evidence_decode) {
    ErlNifBinary b;
    if (argc != 1 || !enif_inspect_binary(env, argv[0], &b))
        return enif_make_badarg(env);
    lt_quorum_evidence ev;
    lt_wire_err err = lt_quorum_evidence_decode(b.data, b.size, &ev);
    if (err != LT_WIRE_OK)
        return wire_error(env, err);
    ERL_NIF_TERM bin = argv[0], pair[2];
    for (int i = 0; i < 2; i++)
        pair[i] = enif_make_tuple2(env, sub(env, bin, ev.digest_off[i], ev.digest_len[i]),
                                   sub(env, bin, ev.sig_off[i], LT_WIRE_SIG_BYTES));
    ERL_NIF_TERM f[6] = {
        sub(env, bin, ev.id_off, ev.id_len),
        sub(env, bin, ev.pub_off, LT_WIRE_PUB_BYTES),
        sub(env, bin, ev.scope_off, ev.scope_len),
        enif_make_uint64(env, ev.sequence),
        pair[0],
        pair[1],
    };
    return lt_crypto_ok(env, enif_make_tuple_from_array(env, f, 6));
}
