/*
 * lt_crypto_counters.h — the counters lattice_crypto:stats/0 reports, one line each:
 *
 *     LT_CRYPTO_COUNTER(name)      bumped with lt_crypto_count(LT_CTR_name, N)
 *
 * The map key is the atom `name`. Counters are process-wide 64-bit atomics (relaxed). The
 * slab figures (keys live, slots, mlock) are added by the stats NIF from lt_secret_get_stats.
 */

/* ---- primitives and keys ------------------------------------------------------------- */
LT_CRYPTO_COUNTER(keys_made)
LT_CRYPTO_COUNTER(keys_freed)
LT_CRYPTO_COUNTER(signs)
LT_CRYPTO_COUNTER(verifies)
LT_CRYPTO_COUNTER(verify_failures)
LT_CRYPTO_COUNTER(seals)
LT_CRYPTO_COUNTER(opens)
LT_CRYPTO_COUNTER(open_failures_bad_mac)
LT_CRYPTO_COUNTER(kx_shared)
LT_CRYPTO_COUNTER(kx_failures_weak_public_key)
LT_CRYPTO_COUNTER(kdf_derived)
LT_CRYPTO_COUNTER(macs)
LT_CRYPTO_COUNTER(hashes)
LT_CRYPTO_COUNTER(argon2id_runs)
LT_CRYPTO_COUNTER(exports)
LT_CRYPTO_COUNTER(imports)
LT_CRYPTO_COUNTER(import_failures_bad_passphrase)
LT_CRYPTO_COUNTER(import_failures_malformed)
LT_CRYPTO_COUNTER(seeds_exported)
LT_CRYPTO_COUNTER(dirty_calls)

/* ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto) ----- */
LT_CRYPTO_COUNTER(replay_checks)
LT_CRYPTO_COUNTER(replay_updates)
LT_CRYPTO_COUNTER(replay_accepted)
LT_CRYPTO_COUNTER(replay_duplicates)
LT_CRYPTO_COUNTER(replay_too_old)
LT_CRYPTO_COUNTER(replay_full)
LT_CRYPTO_COUNTER(replay_lock_busy)
LT_CRYPTO_COUNTER(wire_decode_failures)

/* ---- the secure channel (crypto-channel) --------------------------------------------- */
LT_CRYPTO_COUNTER(channel_handshakes_started)
LT_CRYPTO_COUNTER(channels_established)
LT_CRYPTO_COUNTER(channel_rekeys)
LT_CRYPTO_COUNTER(channel_handshake_failures_bad_certificate)
LT_CRYPTO_COUNTER(channel_handshake_failures_wrong_cluster)
LT_CRYPTO_COUNTER(channel_handshake_failures_handshake_timeout)
LT_CRYPTO_COUNTER(channel_handshake_failures_peer_changed)
LT_CRYPTO_COUNTER(channel_handshake_failures_wrong_peer)
LT_CRYPTO_COUNTER(channel_handshake_failures_unsupported_version)
LT_CRYPTO_COUNTER(channel_handshake_failures_bad_mac)
LT_CRYPTO_COUNTER(channel_handshake_failures_replay)
LT_CRYPTO_COUNTER(channel_handshake_failures_malformed)
LT_CRYPTO_COUNTER(channel_handshake_failures_bad_key)
LT_CRYPTO_COUNTER(channel_handshake_failures_unexpected_message)
LT_CRYPTO_COUNTER(channel_sealed)
LT_CRYPTO_COUNTER(channel_opened)
LT_CRYPTO_COUNTER(channel_seal_failures_key_expired)
LT_CRYPTO_COUNTER(channel_open_failures_bad_mac)
LT_CRYPTO_COUNTER(channel_open_failures_replay)
LT_CRYPTO_COUNTER(channel_open_failures_key_expired)
LT_CRYPTO_COUNTER(channel_open_failures_malformed)
LT_CRYPTO_COUNTER(channel_lock_busy)
