/*
 * lt_crypto_atoms.h — the atoms of the crypto NIF library, made once in load:
 *
 *     LT_CRYPTO_ATOM(Field, "text")      used as lt_catom.Field
 *
 * Keep each part's lines in its section (a field may be listed once only).
 */

/* ---- shared --------------------------------------------------------------------------- */
LT_CRYPTO_ATOM(ok, "ok")
LT_CRYPTO_ATOM(error, "error")
LT_CRYPTO_ATOM(true_, "true")
LT_CRYPTO_ATOM(false_, "false")
LT_CRYPTO_ATOM(enomem, "enomem")
LT_CRYPTO_ATOM(undefined, "undefined")

/* ---- primitives and keys ------------------------------------------------------------- */
LT_CRYPTO_ATOM(sign, "sign")
LT_CRYPTO_ATOM(kx, "kx")
LT_CRYPTO_ATOM(aead, "aead")
LT_CRYPTO_ATOM(secret, "secret")
LT_CRYPTO_ATOM(kind, "kind")
LT_CRYPTO_ATOM(alg, "alg")
LT_CRYPTO_ATOM(size, "size")
LT_CRYPTO_ATOM(none, "none")
LT_CRYPTO_ATOM(xchacha20poly1305, "xchacha20poly1305")
LT_CRYPTO_ATOM(chacha20poly1305, "chacha20poly1305")
LT_CRYPTO_ATOM(aes256gcm, "aes256gcm")
LT_CRYPTO_ATOM(unsupported, "unsupported")
LT_CRYPTO_ATOM(bad_mac, "bad_mac")
LT_CRYPTO_ATOM(weak_public_key, "weak_public_key")
LT_CRYPTO_ATOM(bad_passphrase, "bad_passphrase")
LT_CRYPTO_ATOM(malformed, "malformed")
LT_CRYPTO_ATOM(sha256, "sha256")
LT_CRYPTO_ATOM(sha512, "sha512")
LT_CRYPTO_ATOM(blake2b, "blake2b")
LT_CRYPTO_ATOM(mlock_ok, "mlock_ok")

/* ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto) ----- */
LT_CRYPTO_ATOM(duplicate, "duplicate")
LT_CRYPTO_ATOM(too_old, "too_old")
LT_CRYPTO_ATOM(full, "full")
LT_CRYPTO_ATOM(too_large, "too_large")
LT_CRYPTO_ATOM(duplicate_signer, "duplicate_signer")

/* ---- the secure channel (crypto-channel) --------------------------------------------- */
LT_CRYPTO_ATOM(initiator, "initiator")
LT_CRYPTO_ATOM(responder, "responder")
LT_CRYPTO_ATOM(bad_certificate, "bad_certificate")
LT_CRYPTO_ATOM(wrong_cluster, "wrong_cluster")
LT_CRYPTO_ATOM(handshake_timeout, "handshake_timeout")
LT_CRYPTO_ATOM(peer_changed, "peer_changed")
LT_CRYPTO_ATOM(wrong_peer, "wrong_peer")
LT_CRYPTO_ATOM(unsupported_version, "unsupported_version")
