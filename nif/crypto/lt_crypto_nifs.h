/*
 * lt_crypto_nifs.h — every NIF of priv/lattice_crypto_nif.so, one line each:
 *
 *     LT_CRYPTO_NIF(Name, Arity, CFunction, Flags)
 *
 * Flags is 0 (a normal scheduler: the function moves itself to a dirty one above its cut-off)
 * or ERL_NIF_DIRTY_JOB_CPU_BOUND (always dirty: Argon2id). lt_crypto_nif.h declares each C
 * function from this list and lt_crypto_nif.c builds the ErlNifFunc table from it; a new NIF is
 * a line here, its function in a .c file of nif/crypto, and its Name/Arity in
 * src/lattice_crypto_nif.erl (?NIFS, and a stub). Keep each part's lines in its section so
 * branches merge cleanly.
 */

/* ---- primitives and keys (lt_nif_key.c, lt_nif_prims.c, lt_nif_export.c) ---------------- */
LT_CRYPTO_NIF(stats, 0, lt_cnif_stats, 0)
LT_CRYPTO_NIF(key_generate, 3, lt_cnif_key_generate, 0)
LT_CRYPTO_NIF(key_from_bytes, 3, lt_cnif_key_from_bytes, 0)
LT_CRYPTO_NIF(key_info, 1, lt_cnif_key_info, 0)
LT_CRYPTO_NIF(public_key, 1, lt_cnif_public_key, 0)
LT_CRYPTO_NIF(sign, 2, lt_cnif_sign, 0)
LT_CRYPTO_NIF(verify, 3, lt_cnif_verify, 0)
LT_CRYPTO_NIF(to_seed, 1, lt_cnif_to_seed, 0)
LT_CRYPTO_NIF(aead_seal, 4, lt_cnif_aead_seal, 0)
LT_CRYPTO_NIF(aead_open, 4, lt_cnif_aead_open, 0)
LT_CRYPTO_NIF(kdf, 6, lt_cnif_kdf, 0)
LT_CRYPTO_NIF(kx_shared, 2, lt_cnif_kx_shared, 0)
LT_CRYPTO_NIF(hash, 4, lt_cnif_hash, 0)
LT_CRYPTO_NIF(hash_init, 3, lt_cnif_hash_init, 0)
LT_CRYPTO_NIF(hash_update, 2, lt_cnif_hash_update, 0)
LT_CRYPTO_NIF(hash_final, 1, lt_cnif_hash_final, 0)
LT_CRYPTO_NIF(argon2id, 5, lt_cnif_argon2id, ERL_NIF_DIRTY_JOB_CPU_BOUND)
LT_CRYPTO_NIF(random_bytes, 1, lt_cnif_random_bytes, 0)
LT_CRYPTO_NIF(equal, 2, lt_cnif_equal, 0)
LT_CRYPTO_NIF(export_secret, 4, lt_cnif_export_secret, ERL_NIF_DIRTY_JOB_CPU_BOUND)
LT_CRYPTO_NIF(import_secret, 2, lt_cnif_import_secret, ERL_NIF_DIRTY_JOB_CPU_BOUND)

/* ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto) -------- */
LT_CRYPTO_NIF(replay_new, 2, lt_cnif_replay_new, 0)
LT_CRYPTO_NIF(replay_check, 3, lt_cnif_replay_check, 0)
LT_CRYPTO_NIF(replay_update, 3, lt_cnif_replay_update, 0)
LT_CRYPTO_NIF(replay_greatest, 2, lt_cnif_replay_greatest, 0)
LT_CRYPTO_NIF(replay_forget, 2, lt_cnif_replay_forget, 0)
LT_CRYPTO_NIF(replay_info, 1, lt_cnif_replay_info, 0)
LT_CRYPTO_NIF(envelope_decode, 2, lt_cnif_envelope_decode, 0)
LT_CRYPTO_NIF(cert_decode, 1, lt_cnif_cert_decode, 0)
LT_CRYPTO_NIF(crl_decode, 1, lt_cnif_crl_decode, 0)
LT_CRYPTO_NIF(quorum_decode, 1, lt_cnif_quorum_decode, 0)
LT_CRYPTO_NIF(evidence_decode, 1, lt_cnif_evidence_decode, 0)

/* ---- the secure channel (crypto-channel) ------------------------------------------------- */
LT_CRYPTO_NIF(chan_new, 4, lt_cnif_chan_new, 0)
LT_CRYPTO_NIF(chan_start, 3, lt_cnif_chan_start, 0)
LT_CRYPTO_NIF(chan_hs_read, 3, lt_cnif_chan_hs_read, 0)
LT_CRYPTO_NIF(chan_hs_write, 2, lt_cnif_chan_hs_write, 0)
LT_CRYPTO_NIF(chan_finish, 2, lt_cnif_chan_finish, 0)
LT_CRYPTO_NIF(chan_abort, 2, lt_cnif_chan_abort, 0)
LT_CRYPTO_NIF(chan_encrypt, 3, lt_cnif_chan_encrypt, 0)
LT_CRYPTO_NIF(chan_decrypt, 3, lt_cnif_chan_decrypt, 0)
LT_CRYPTO_NIF(chan_rekey_due, 2, lt_cnif_chan_rekey_due, 0)
LT_CRYPTO_NIF(chan_info, 1, lt_cnif_chan_info, 0)
LT_CRYPTO_NIF(chan_close, 1, lt_cnif_chan_close, 0)
LT_CRYPTO_NIF(chan_ae_key, 1, lt_cnif_chan_ae_key, 0)
