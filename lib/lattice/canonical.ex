defmodule Lattice.Canonical do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  The canonical byte form of data terms.

  Equal terms (`===`) give identical bytes on every node and OTP release, and no two terms
  share bytes, so the bytes can stand in for the term: compared, sorted, hashed, stored.

  Integers of any size, floats, atoms, binaries, tuples, lists (proper or improper) and maps
  are data. Pids, ports, references, funs and bitstrings that are not whole bytes are not, and
  `encode/1` raises `ArgumentError` for them, as it does for terms nested more than 100 deep.

  The byte order is a total order, but not the Erlang term order.

      iex> bytes = Lattice.Canonical.encode(%{name: "lattice", tags: [:crdt, :clock]})
      iex> Lattice.Canonical.decode(bytes)
      {:ok, %{name: "lattice", tags: [:crdt, :clock]}}

  Delegates to `:lattice_canon`.
  """

  @typedoc "Options for `decode/2`."
  @type decode_opts :: [existing_atoms: boolean()]

  @typedoc "Why a binary is not the canonical bytes of a term."
  @type error :: {:error, {:bad_term, atom()}}

  @doc """
  The canonical bytes of `term`.

  Raises `ArgumentError` for a term that is not data (see the module documentation).
  """
  @spec encode(term()) :: binary()
  def encode(term), do: wrap(:lattice_canon.encode(term))

  @doc """
  The term whose canonical bytes `bytes` are.

  Any other binary gives `{:error, {:bad_term, reason}}`. Atoms are created as needed, as
  `:erlang.binary_to_term/1` does; use `decode/2` with `existing_atoms: true` for bytes from
  peers you do not trust with your atom table. A `bytes` that is not a binary raises
  `ArgumentError`.
  """
  @spec decode(binary()) :: {:ok, term()} | error()
  def decode(bytes), do: wrap(:lattice_canon.decode(bytes))

  @doc """
  As `decode/1`, with options:

    * `:existing_atoms` - when `true`, an atom that does not exist yet is refused with
      `{:error, {:bad_term, :unknown_atom}}` instead of being created. Defaults to `false`.

  An unknown option raises `ArgumentError`.
  """
  @spec decode(binary(), decode_opts()) :: {:ok, term()} | error()
  def decode(bytes, opts) when is_list(opts) do
    opts = Keyword.validate!(opts, existing_atoms: false)
    erl_opts = if opts[:existing_atoms], do: [:existing_atoms], else: []
    wrap(:lattice_canon.decode(bytes, erl_opts))
  end
end
