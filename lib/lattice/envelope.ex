defmodule Lattice.Envelope do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Sealed messages: a versioned envelope (docs/FORMAT.md) naming its sender, key version and
  counter, encrypted and authenticated with a `Lattice.Keyring` key, the whole header as
  associated data, optionally signed by the sender's Ed25519 key.

      iex> {:ok, master} = Lattice.Crypto.secret_key()
      iex> kr = Lattice.Keyring.new(master)
      iex> r = Lattice.Replay.new()
      iex> env = Lattice.Envelope.seal("hello", kr, "node-1", 1)
      iex> {:ok, "hello", %{sender: "node-1", counter: 1}} = Lattice.Envelope.open(env, kr, r)
      iex> Lattice.Envelope.open(env, kr, r)
      {:error, :replay}

  `open/4` gives `{:ok, plain, meta}` or `{:error, reason}`, reason one of `:malformed`,
  `:too_large`, `:unknown_key`, `:expired`, `:replay`, `:bad_mac`, `:unsigned`,
  `:unknown_signer`, `:bad_signature`; the replay window is updated only once the MAC (and
  signature) checked. Delegates to `:lattice_envelope`.
  """

  @typedoc "What an opened envelope says of itself."
  @type meta :: :lattice_envelope.meta()
  @typedoc "Why an envelope was refused."
  @type reason :: :lattice_envelope.reason()

  @doc "Seals `plain` from `sender` as message `counter`; `%{sign: key}` also signs it."
  @spec seal(iodata(), Lattice.Keyring.t(), binary(), non_neg_integer(), map()) :: binary()
  def seal(plain, keyring, sender, counter, opts \\ %{}),
    do: wrap(:lattice_envelope.seal(plain, keyring, sender, counter, opts))

  @doc """
  Checks and opens an envelope. Options: `max_size` (plaintext bytes, default 16 MiB),
  `signers` (sender => Ed25519 public key, a map or a function), `require_signature`.
  """
  @spec open(binary(), Lattice.Keyring.t(), Lattice.Replay.t(), map()) ::
          {:ok, binary(), meta()} | {:error, reason()}
  def open(envelope, keyring, replay, opts \\ %{}),
    do: wrap(:lattice_envelope.open(envelope, keyring, replay, opts))

  @doc "The header of an envelope, verifying nothing (to route it before `open/4`)."
  @spec peek(binary()) :: {:ok, meta()} | {:error, :malformed | :too_large}
  def peek(envelope), do: wrap(:lattice_envelope.peek(envelope))

  @doc "A sender's message counter, starting at the wall clock in microseconds."
  @spec counter() :: :atomics.atomics_ref()
  def counter, do: :lattice_envelope.counter()

  @doc "The next value of a counter (greater on each call, from any process)."
  @spec next(:atomics.atomics_ref()) :: non_neg_integer()
  def next(counter), do: :lattice_envelope.next(counter)

  @doc "The node's envelope counters: sealed, signed, opened, failed by reason."
  @spec stats() :: map()
  def stats, do: :lattice_envelope.stats()
end
