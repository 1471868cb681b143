defmodule Lattice.Merkle do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  A Merkle tree of `key → 128-bit digest` in the VM: the tree the C node runs anti-entropy
  with (`c_src/lt_merkle.h`), behind a resource. See docs/MERKLE.md.

      iex> alias Lattice.Merkle
      iex> a = Merkle.new()
      iex> b = Merkle.new()
      iex> :ok = Merkle.put(a, [{"k1", <<1::128>>}, {"k2", <<2::128>>}])
      iex> :ok = Merkle.put(b, [{"k2", <<3::128>>}, {"k3", <<4::128>>}])
      iex> Enum.sort(Merkle.diff(a, b))
      [{"k1", :local_only}, {"k2", :differs}, {"k3", :remote_only}]
      iex> :ok = Merkle.update(b, [{"k1", <<1::128>>}, {"k2", <<2::128>>}, {"k3", :delete}])
      iex> Merkle.diff(a, b)
      []
      iex> Merkle.root(a) == Merkle.root(b)
      true

  The shape is fixed: `levels` levels below the root (1..6, default 4), each node with 16
  children; a key falls in the bucket named by the top `4 * levels` bits of its 64-bit key
  hash. A node's hash is the sum (mod 2^128) of the entry hashes below it, with a count, so an
  update costs O(levels) and two trees of the same levels compare node by node. Keys are
  binaries of 1..4096 bytes, digests 16-byte binaries (`Lattice.Hash.term/1` gives one for
  any value).

  A tree is mutable and may be used by any process (a mutex guards it); it is freed when no
  process refers to it. Batches yield (other calls may see part of a batch applied); diffs,
  listings and encodings of big trees run on a dirty scheduler. A tree lives on its node:
  send its encodings (`children/3`, `buckets/2`), not the tree.

  A caller's bug (a key that is not a binary, a digest of another size, a level outside the
  tree) raises `ArgumentError` saying which argument and why.
  """

  @typedoc "A tree (a resource)."
  @type tree :: :lattice_merkle.tree()
  @type key :: binary()
  @type digest :: <<_::128>>
  @type side :: :differs | :local_only | :remote_only
  @type node_info :: %{hash: <<_::128>>, count: non_neg_integer()}

  @doc "An empty tree of `levels` levels (1..6; default 4, 65,536 buckets)."
  @spec new(1..6) :: tree()
  def new(levels \\ 4), do: wrap(:lattice_merkle.new(levels))

  @doc "Sets `key` to `digest`."
  @spec put(tree(), key(), digest()) :: :ok
  def put(tree, key, digest), do: wrap(:lattice_merkle.put(tree, key, digest))

  @doc """
  Sets every `{key, digest}` of `entries`, in order. The whole list is checked first: when it
  raises, nothing is applied. `{:error, :too_big}` past 2^32 - 2 keys.
  """
  @spec put(tree(), [{key(), digest()}]) :: :ok | {:error, :too_big}
  def put(tree, entries), do: wrap(:lattice_merkle.put(tree, entries))

  @doc "Removes `keys` (absent keys are ignored)."
  @spec delete(tree(), [key()]) :: :ok
  def delete(tree, keys), do: wrap(:lattice_merkle.delete(tree, keys))

  @doc "Sets and removes in one batch: `[{key, digest} | {key, :delete}]`, in order."
  @spec update(tree(), [{key(), digest() | :delete}]) :: :ok | {:error, :too_big}
  def update(tree, changes), do: wrap(:lattice_merkle.update(tree, changes))

  @doc "The digest of `key`: `{:ok, digest}` or `:error`."
  @spec lookup(tree(), key()) :: {:ok, digest()} | :error
  def lookup(tree, key), do: wrap(:lattice_merkle.lookup(tree, key))

  @doc "The number of keys held."
  @spec count(tree()) :: non_neg_integer()
  def count(tree), do: wrap(:lattice_merkle.count(tree))

  @doc "The bytes the tree has allocated, approximately."
  @spec memory(tree()) :: non_neg_integer()
  def memory(tree), do: wrap(:lattice_merkle.memory(tree))

  @doc "The tree's levels."
  @spec levels(tree()) :: 1..6
  def levels(tree), do: wrap(:lattice_merkle.levels(tree))

  @doc "The root: the sum of every entry hash and the number of keys."
  @spec root(tree()) :: node_info()
  def root(tree), do: wrap(:lattice_merkle.root(tree))

  @doc "Node `index` of `level` (0 the root, `levels(tree)` the buckets)."
  @spec node_at(tree(), non_neg_integer(), non_neg_integer()) :: node_info()
  def node_at(tree, level, index), do: wrap(:lattice_merkle.node(tree, level, index))

  @doc "`key`'s 64-bit key hash and the bucket it falls in."
  @spec key_hash(tree(), key()) :: {non_neg_integer(), non_neg_integer()}
  def key_hash(tree, key), do: wrap(:lattice_merkle.key_hash(tree, key))

  @doc """
  The keys in which `local` and `remote` differ: `:differs`, `:local_only` or `:remote_only`,
  exactly the symmetric difference of their `key → digest` maps. Same levels only.
  """
  @spec diff(tree(), tree()) :: [{key(), side()}]
  def diff(local, remote), do: wrap(:lattice_merkle.diff(local, remote))

  @doc "Every `{key, digest}`, in no particular order."
  @spec to_list(tree()) :: [{key(), digest()}]
  def to_list(tree), do: wrap(:lattice_merkle.to_list(tree))

  @doc "Folds `fun.(key, digest, acc)` over the entries, in no particular order."
  @spec fold(tree(), acc, (key(), digest(), acc -> acc)) :: acc when acc: term()
  def fold(tree, acc, fun), do: wrap(:lattice_merkle.fold(fun, acc, tree))

  @doc "This tree's keys whose key hash is `key_hash`."
  @spec keys_with_hash(tree(), non_neg_integer()) :: [key()]
  def keys_with_hash(tree, key_hash), do: wrap(:lattice_merkle.keys_with_hash(tree, key_hash))

  @doc """
  The children encoding of the nodes `parents` (strictly ascending) of `level`, for a peer's
  `diff_children/2`.
  """
  @spec children(tree(), non_neg_integer(), [non_neg_integer()]) :: binary()
  def children(tree, level, parents), do: wrap(:lattice_merkle.children(tree, level, parents))

  @doc """
  The bucket encoding of `buckets` (strictly ascending), for a peer's `diff_buckets/2`;
  `{:error, :too_big}` above 2^20 entries.
  """
  @spec buckets(tree(), [non_neg_integer()]) :: binary() | {:error, :too_big}
  def buckets(tree, buckets), do: wrap(:lattice_merkle.buckets(tree, buckets))

  @doc """
  A peer's children encoding against this tree: `{:ok, level, children}`, the children (in
  `level + 1`) whose hashes differ; `{:error, {:bad_merkle_wire, reason}}` for a bad message.
  """
  @spec diff_children(tree(), binary()) ::
          {:ok, non_neg_integer(), [non_neg_integer()]} | {:error, {:bad_merkle_wire, atom()}}
  def diff_children(tree, message), do: wrap(:lattice_merkle.diff_children(tree, message))

  @doc """
  A peer's bucket encoding against this tree: `{key, :differs | :local_only}` for this side's
  keys, `{{:key_hash, h}, :remote_only}` for the peer's (see `keys_with_hash/2`).
  """
  @spec diff_buckets(tree(), binary()) ::
          {:ok, [{key() | {:key_hash, non_neg_integer()}, side()}]}
          | {:error, {:bad_merkle_wire, atom()}}
  def diff_buckets(tree, message), do: wrap(:lattice_merkle.diff_buckets(tree, message))
end
