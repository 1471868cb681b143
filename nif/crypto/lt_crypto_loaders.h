/*
 * lt_crypto_loaders.h — what load runs, in order, to open resource types and the like:
 *
 *     LT_CRYPTO_LOADER(fn)      int fn(ErlNifEnv *env, ErlNifResourceFlags flags): 1 on success
 *
 * flags is ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER (load and upgrade alike). lt_crypto_nif.h
 * declares each fn from this list.
 */

/* ---- primitives and keys ------------------------------------------------------------- */
LT_CRYPTO_LOADER(lt_nif_key_open)
LT_CRYPTO_LOADER(lt_nif_prims_open)

/* ---- envelopes, certificates, quorum, replay window, key versions (crypto-proto) ----- */
LT_CRYPTO_LOADER(lt_nif_replay_open)

/* ---- the secure channel (crypto-channel) --------------------------------------------- */
LT_CRYPTO_LOADER(lt_nif_channel_open)
