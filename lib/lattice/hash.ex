defmodule Lattice.Hash do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  XXH3 hashing (xxHash 0.8, compiled into lattice) and digests of terms.

  Hashes of large inputs never hold a scheduler: the NIF works through them in chunks and
  yields between them. iodata that is not a binary is flattened first.

      iex> Lattice.Hash.xxh3_64("")
      0x2D06800538D394C2
      iex> Lattice.Hash.term(%{a: 1}) == Lattice.Hash.xxh3_128(Lattice.Canonical.encode(%{a: 1}))
      true

  Data that is not iodata, a seed outside `0..2^64-1`, or a term that is not data (see
  `Lattice.Canonical`) raises `ArgumentError`.

  Delegates to `:lattice_hash`.
  """

  @typedoc "A 64-bit seed."
  @type seed :: 0..18_446_744_073_709_551_615

  @doc "XXH3-64 of `data` with seed 0."
  @spec xxh3_64(iodata()) :: non_neg_integer()
  def xxh3_64(data), do: wrap(:lattice_hash.xxh3_64(data))

  @doc "XXH3-64 of `data` with `seed`."
  @spec xxh3_64(iodata(), seed()) :: non_neg_integer()
  def xxh3_64(data, seed), do: wrap(:lattice_hash.xxh3_64(data, seed))

  @doc "XXH3-128 of `data` with seed 0, as 16 bytes in xxHash's canonical (big-endian) order."
  @spec xxh3_128(iodata()) :: <<_::128>>
  def xxh3_128(data), do: wrap(:lattice_hash.xxh3_128(data))

  @doc "XXH3-128 of `data` with `seed`, as 16 bytes in xxHash's canonical (big-endian) order."
  @spec xxh3_128(iodata(), seed()) :: <<_::128>>
  def xxh3_128(data, seed), do: wrap(:lattice_hash.xxh3_128(data, seed))

  @doc """
  The digest of a term: XXH3-128 of its canonical bytes (`Lattice.Canonical.encode/1`), the
  same for equal terms on every node.
  """
  @spec term(term()) :: <<_::128>>
  def term(term), do: wrap(:lattice_hash.term(term))
end
