defmodule Lattice.Crypto do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Cryptographic primitives over libsodium, with keys whose secret halves never reach a
  process heap.

  A key is a resource: its secret bytes live in slabs of locked, guarded memory (allocated
  with `sodium_malloc`, `mlock`ed where the process may, wiped when the last reference goes)
  and leave it only through `export_secret/3` (sealed under an Argon2id-derived key) or
  `to_seed/1` (the one call that gives a secret in the clear, for OTP's `:crypto`). Keys are
  node-local. See docs/CRYPTO.md.

      iex> {:ok, key} = Lattice.Crypto.keypair(:sign)
      iex> sig = Lattice.Crypto.sign(key, "hello")
      iex> Lattice.Crypto.verify(Lattice.Crypto.public_key(key), "hello", sig)
      true

      iex> {:ok, key} = Lattice.Crypto.aead_key(:xchacha20poly1305)
      iex> nonce = Lattice.Crypto.aead_nonce(key)
      iex> sealed = Lattice.Crypto.aead_seal(key, nonce, "header", "secret")
      iex> Lattice.Crypto.aead_open(key, nonce, "header", sealed)
      {:ok, "secret"}
      iex> Lattice.Crypto.aead_open(key, nonce, "other header", sealed)
      {:error, :bad_mac}

  A caller's mistake (a key of the wrong kind, a nonce of the wrong size, data that is not
  iodata) raises `ArgumentError` that says which argument and why; bad data gives
  `{:error, reason}` (`:bad_mac`, `:weak_public_key`, `:bad_passphrase`, `:malformed`,
  `{:unsupported, :aes256gcm}`).

  Delegates to `:lattice_crypto`.
  """

  @typedoc "A key (an opaque, node-local resource)."
  @type key :: :lattice_crypto.key()
  @typedoc "An AEAD algorithm."
  @type aead_alg :: :xchacha20poly1305 | :chacha20poly1305 | :aes256gcm
  @typedoc "What `kdf/4` makes."
  @type kind :: :sign | :kx | aead_alg() | :secret | {:secret, 16..64}
  @typedoc "A streaming HMAC or BLAKE2b state (immutable: an update gives a new state)."
  @type hash_state :: :lattice_crypto.hash_state()
  @typedoc "An Argon2id cost: a libsodium level or a number (passes; bytes of memory)."
  @type cost :: :interactive | :moderate | :sensitive | pos_integer()

  @doc "A fresh key pair: `:sign` for Ed25519, `:kx` for X25519."
  @spec keypair(:sign | :kx) :: {:ok, key()}
  def keypair(kind), do: wrap(:lattice_crypto.keypair(kind))

  @doc "A fresh AEAD key; `{:error, {:unsupported, :aes256gcm}}` on a CPU without AES-NI."
  @spec aead_key(aead_alg()) :: {:ok, key()} | {:error, {:unsupported, :aes256gcm}}
  def aead_key(alg), do: wrap(:lattice_crypto.aead_key(alg))

  @doc "An AEAD key from 32 bytes the caller has (copied into slab memory)."
  @spec aead_key(aead_alg(), <<_::256>>) :: {:ok, key()} | {:error, {:unsupported, :aes256gcm}}
  def aead_key(alg, bytes), do: wrap(:lattice_crypto.aead_key(alg, bytes))

  @doc "A fresh 32-byte secret key (a `kdf/4` master key)."
  @spec secret_key() :: {:ok, key()}
  def secret_key, do: wrap(:lattice_crypto.secret_key())

  @doc "A fresh secret key of `len` (16..64) bytes, or one holding `bytes` (16..64 of them)."
  @spec secret_key(16..64 | binary()) :: {:ok, key()}
  def secret_key(len_or_bytes), do: wrap(:lattice_crypto.secret_key(len_or_bytes))

  @doc "The Ed25519 key of a 32-byte seed (OTP's `:crypto` form of an Ed25519 private key)."
  @spec from_seed(<<_::256>>) :: {:ok, key()}
  def from_seed(seed), do: wrap(:lattice_crypto.from_seed(seed))

  @doc "The `:sign` (Ed25519 seed) or `:kx` (X25519 secret scalar) key of 32 bytes."
  @spec from_seed(:sign | :kx, <<_::256>>) :: {:ok, key()}
  def from_seed(kind, seed), do: wrap(:lattice_crypto.from_seed(kind, seed))

  @doc """
  The 32-byte Ed25519 seed of a `:sign` key, in the clear: the one call that gives a secret as
  a binary, for `:crypto` and other Ed25519 implementations. Counted in `stats/0`
  (`:seeds_exported`). To store or move a key, use `export_secret/3`.
  """
  @spec to_seed(key()) :: <<_::256>>
  def to_seed(key), do: wrap(:lattice_crypto.to_seed(key))

  @doc "The key's kind, AEAD algorithm (or `:none`) and secret size in bytes."
  @spec key_info(key()) :: :lattice_crypto.key_info()
  def key_info(key), do: wrap(:lattice_crypto.key_info(key))

  @doc "The 32-byte public key of a `:sign` or `:kx` key."
  @spec public_key(key()) :: <<_::256>>
  def public_key(key), do: wrap(:lattice_crypto.public_key(key))

  @doc "The detached Ed25519 signature (64 bytes) of `message`."
  @spec sign(key(), iodata()) :: <<_::512>>
  def sign(key, message), do: wrap(:lattice_crypto.sign(key, message))

  @doc """
  Whether `signature` is a valid Ed25519 signature of `message` by `public_key`, with
  libsodium's strict checks. A signature that is not 64 bytes does not verify.
  """
  @spec verify(<<_::256>>, iodata(), binary()) :: boolean()
  def verify(public_key, message, signature),
    do: wrap(:lattice_crypto.verify(public_key, message, signature))

  @doc """
  Encrypts `plain` and authenticates it with `ad`: ciphertext followed by the 16-byte tag.
  Nonces: 24 bytes for XChaCha20-Poly1305 (random ones are safe: `aead_nonce/1`), 12 for the
  others (never reuse one with a key).
  """
  @spec aead_seal(key(), binary(), iodata(), iodata()) :: binary()
  def aead_seal(key, nonce, ad, plain), do: wrap(:lattice_crypto.aead_seal(key, nonce, ad, plain))

  @doc "Checks and decrypts: `{:ok, plain}` or `{:error, :bad_mac}` (the tag is all 16 bytes)."
  @spec aead_open(key(), binary(), iodata(), binary()) :: {:ok, binary()} | {:error, :bad_mac}
  def aead_open(key, nonce, ad, cipher),
    do: wrap(:lattice_crypto.aead_open(key, nonce, ad, cipher))

  @doc "A random nonce of the size the AEAD key's algorithm takes."
  @spec aead_nonce(key()) :: binary()
  def aead_nonce(key), do: wrap(:lattice_crypto.aead_nonce(key))

  @doc """
  Subkey `id` of a 32-byte secret master key in an 8-byte `context` (`crypto_kdf`), as a key of
  `kind`.
  """
  @spec kdf(key(), non_neg_integer(), <<_::64>>, kind()) ::
          {:ok, key()} | {:error, {:unsupported, :aes256gcm}}
  def kdf(master, id, context, kind), do: wrap(:lattice_crypto.kdf(master, id, context, kind))

  @doc """
  The raw X25519 shared secret with a peer's public key, as a 32-byte secret key (hash it with
  `kdf/4` before use); `{:error, :weak_public_key}` for a small-order peer key.
  """
  @spec kx_shared(key(), <<_::256>>) :: {:ok, key()} | {:error, :weak_public_key}
  def kx_shared(key, peer_public), do: wrap(:lattice_crypto.kx_shared(key, peer_public))

  @doc "HMAC-SHA-256 (32 bytes) or HMAC-SHA-512 (64 bytes), with a key of any length."
  @spec hmac(:sha256 | :sha512, iodata(), iodata()) :: binary()
  def hmac(alg, key, data), do: wrap(:lattice_crypto.hmac(alg, key, data))

  @doc "A streaming HMAC state."
  @spec hmac_init(:sha256 | :sha512, iodata()) :: hash_state()
  def hmac_init(alg, key), do: wrap(:lattice_crypto.hmac_init(alg, key))

  @doc "The state after `data` (the given state is unchanged)."
  @spec hmac_update(hash_state(), iodata()) :: hash_state()
  def hmac_update(state, data), do: wrap(:lattice_crypto.hmac_update(state, data))

  @doc "The MAC of what the state has seen."
  @spec hmac_final(hash_state()) :: binary()
  def hmac_final(state), do: wrap(:lattice_crypto.hmac_final(state))

  @doc "BLAKE2b of `data`: `:size` bytes (16..64, default 32), keyed with `:key` (1..64 bytes)."
  @spec blake2b(iodata(), map()) :: binary()
  def blake2b(data, opts \\ %{}), do: wrap(:lattice_crypto.blake2b(data, opts))

  @doc "A streaming BLAKE2b state, with the options of `blake2b/2`."
  @spec blake2b_init(map()) :: hash_state()
  def blake2b_init(opts \\ %{}), do: wrap(:lattice_crypto.blake2b_init(opts))

  @doc "The state after `data` (the given state is unchanged)."
  @spec blake2b_update(hash_state(), iodata()) :: hash_state()
  def blake2b_update(state, data), do: wrap(:lattice_crypto.blake2b_update(state, data))

  @doc "The digest of what the state has seen."
  @spec blake2b_final(hash_state()) :: binary()
  def blake2b_final(state), do: wrap(:lattice_crypto.blake2b_final(state))

  @doc """
  Argon2id v1.3 of a passphrase and a 16-byte salt. Options `:ops`, `:mem` (a level or a
  number; default `:interactive`, 2 passes over 64 MiB) and `:size` (default 32). Always on a
  dirty scheduler.
  """
  @spec argon2id(iodata(), <<_::128>>, map()) :: binary()
  def argon2id(passphrase, salt, opts \\ %{}),
    do: wrap(:lattice_crypto.argon2id(passphrase, salt, opts))

  @doc "`n` random bytes."
  @spec random_bytes(non_neg_integer()) :: binary()
  def random_bytes(n), do: wrap(:lattice_crypto.random_bytes(n))

  @doc "Whether two binaries are equal, in time that depends on their length only."
  @spec equal(binary(), binary()) :: boolean()
  def equal(a, b), do: wrap(:lattice_crypto.equal(a, b))

  @doc """
  The key's secret sealed under `passphrase` (XChaCha20-Poly1305 under an Argon2id key, the
  versioned format of docs/CRYPTO.md). Options `:ops` and `:mem` as for `argon2id/3`.
  """
  @spec export_secret(key(), iodata(), map()) :: binary()
  def export_secret(key, passphrase, opts \\ %{}),
    do: wrap(:lattice_crypto.export_secret(key, passphrase, opts))

  @doc """
  The key sealed by `export_secret/3`; `{:error, :bad_passphrase}` (a wrong passphrase or a
  changed byte), `{:error, :malformed}`, or `{:error, {:unsupported, :aes256gcm}}`.
  """
  @spec import_secret(binary(), iodata()) ::
          {:ok, key()}
          | {:error, :bad_passphrase | :malformed | {:unsupported, :aes256gcm}}
  def import_secret(sealed, passphrase),
    do: wrap(:lattice_crypto.import_secret(sealed, passphrase))

  @doc "Counters: keys, slabs and mlock, calls and failures by reason."
  @spec stats() :: %{atom() => non_neg_integer() | boolean()}
  def stats, do: :lattice_crypto.stats()
end
