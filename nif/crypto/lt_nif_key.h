/*
 * lt_nif_key.h — the key resource of the crypto NIF library, for every glue file that takes or
 * makes a key (primitives, envelopes, channels).
 *
 * A key term is a resource holding an lt_key (c_src/crypto/lt_key.h): the secret half in slab
 * memory (c_src/crypto/lt_secret.h), wiped and freed by the destructor when the last reference
 * goes; the public half (sign, kx) in the resource. The secret never becomes a binary, except
 * through lattice_crypto:export_secret/2,3 (sealed) and lattice_crypto:to_seed/1 (docs/CRYPTO.md).
 * A key is immutable once made, so any number of threads may read it at once without a lock.
 */
#ifndef LT_NIF_KEY_H
#define LT_NIF_KEY_H

#include "lt_crypto_nif.h"
#include "lt_key.h"

/* The key behind term t: 1 and *out set (valid while t is reachable from the caller's
 * environment), or 0 when t is not a key of this node (then the NIF returns badarg). */
int lt_nif_get_key(ErlNifEnv *env, ERL_NIF_TERM t, const lt_key **out);

/* A new key term made from `len` secret bytes (see lt_key_from_secret for what each kind
 * takes); the caller keeps owning `secret` and should wipe it. Returns the term, or an
 * exception term (check with enif_is_exception): badarg for a wrong kind/alg/length, enomem.
 * For AES-256-GCM without CPU support it is also badarg: callers that may meet that case check
 * lt_aead_aes256gcm_available() first. */
ERL_NIF_TERM lt_nif_make_key(ErlNifEnv *env, lt_key_kind kind, lt_aead_alg alg,
                             const uint8_t *secret, size_t len);

/* As lt_nif_make_key, with fresh random secret bytes (LT_KEY_SECRET: `len` of them). */
ERL_NIF_TERM lt_nif_generate_key(ErlNifEnv *env, lt_key_kind kind, lt_aead_alg alg, size_t len);

/* The atom of alg (xchacha20poly1305 | chacha20poly1305 | aes256gcm), or `none`. */
ERL_NIF_TERM lt_nif_aead_atom(lt_aead_alg alg);
/* The alg named by the atom t: 1 and *out set, or 0. */
int lt_nif_get_aead_alg(ErlNifEnv *env, ERL_NIF_TERM t, lt_aead_alg *out);

#endif
