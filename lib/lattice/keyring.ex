defmodule Lattice.Keyring do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Versioned keys for one purpose, derived from a master key (`crypto_kdf`: subkey id = the
  version, context = the purpose), rotated on a schedule.

  The current version seals; a retired one still opens for `grace` milliseconds, then
  `lookup/2` says `{:error, :expired}`; versions up to `lookahead` (default 1) above the
  current one are accepted too; anything else is `{:error, :unknown_key}`. Schedules: `:aligned`
  (default: version = now div interval + 1, so nodes with agreeing clocks rotate together) or
  `:local`. Profiles: `:long_term` (24 h, grace 1 h, default) and `:session` (1 h, grace
  5 min).

      iex> {:ok, master} = Lattice.Crypto.secret_key()
      iex> kr = Lattice.Keyring.new(master, %{schedule: :local, clock: fn -> 0 end})
      iex> Lattice.Keyring.version(kr)
      1
      iex> kr2 = Lattice.Keyring.rotate(kr)
      iex> Lattice.Keyring.version(kr2)
      2
      iex> match?({:ok, _}, Lattice.Keyring.lookup(kr2, 1))
      true

  A keyring is a value holding key resources (node-local). Rotation happens when asked:
  `maybe_rotate/1` (on the schedule) or `rotate/1`; the time comes from the `clock` option.
  Delegates to `:lattice_keyring`.
  """

  @typedoc "A keyring (opaque)."
  @type t :: :lattice_keyring.keyring()
  @typedoc "A key version."
  @type version :: 1..4_294_967_295

  @doc "A keyring over a 32-byte secret `master` key; see `:lattice_keyring.new/2` for the options."
  @spec new(Lattice.Crypto.key(), map()) :: t()
  def new(master, opts \\ %{}), do: wrap(:lattice_keyring.new(master, opts))

  @doc """
  A keyring whose keys are random, one per version: nothing another node can derive, and a
  version dropped after its grace is gone (forward secrecy). Defaults: the `:session` profile
  and the `:local` schedule; no `purpose` or `lookahead`.
  """
  @spec ephemeral(map()) :: t()
  def ephemeral(opts \\ %{}), do: wrap(:lattice_keyring.ephemeral(opts))

  @doc """
  Makes `key` (an AEAD key of the keyring's algorithm, agreed with a peer another way) the key
  of `version`, after the current one, which retires. Ephemeral keyrings only.
  """
  @spec install(t(), version(), Lattice.Crypto.key()) :: t()
  def install(keyring, version, key), do: wrap(:lattice_keyring.install(keyring, version, key))

  @doc "The current version and its key."
  @spec current(t()) :: {version(), Lattice.Crypto.key()}
  def current(keyring), do: wrap(:lattice_keyring.current(keyring))

  @doc "The current version."
  @spec version(t()) :: version()
  def version(keyring), do: wrap(:lattice_keyring.version(keyring))

  @doc "The AEAD algorithm of the keyring's keys."
  @spec alg(t()) :: Lattice.Crypto.aead_alg()
  def alg(keyring), do: wrap(:lattice_keyring.alg(keyring))

  @doc "The key of `version` if it may open a message now."
  @spec lookup(t(), non_neg_integer()) ::
          {:ok, Lattice.Crypto.key()} | {:error, :unknown_key | :expired}
  def lookup(keyring, version), do: wrap(:lattice_keyring.lookup(keyring, version))

  @doc "Rotates now: the current version retires (accepted for `grace` more)."
  @spec rotate(t()) :: t()
  def rotate(keyring), do: wrap(:lattice_keyring.rotate(keyring))

  @doc "Rotates if the schedule says so; drops retired versions past their grace."
  @spec maybe_rotate(t()) :: t()
  def maybe_rotate(keyring), do: wrap(:lattice_keyring.maybe_rotate(keyring))

  @doc "What the keyring holds: version, accepted retired versions, rotations, options."
  @spec info(t()) :: map()
  def info(keyring), do: wrap(:lattice_keyring.info(keyring))

  @doc "The node's keyring counters (rotations, derivations, refused lookups)."
  @spec stats() :: map()
  def stats, do: :lattice_keyring.stats()
end
