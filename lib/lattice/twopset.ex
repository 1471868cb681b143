defmodule Lattice.TwoPSet do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Two-phase sets (2P-Sets) of data terms as canonical binaries: elements are added and
  removed, and a removed element never comes back.

  The state keeps, for each element it has seen, whether it was added, removed (a tombstone)
  or both; merging is the union of both, so replicas converge whatever the order, and however
  often, they exchange states (or deltas). The value is the elements added and not removed.
  The state is a binary: equal sets are byte-identical on every node, so `===` (or
  `equal?/2`) is equality.

      iex> alias Lattice.TwoPSet
      iex> {:ok, s, _delta} = TwoPSet.new() |> TwoPSet.add_all([:a, :b, :c])
      iex> {:ok, s, _delta} = TwoPSet.remove(s, :b)
      iex> TwoPSet.value(s)
      [:a, :c]
      iex> TwoPSet.remove(s, :b)
      {:error, {:precondition, {:not_present, :b}}}
      iex> {:ok, s, _delta} = TwoPSet.add(s, :b)
      iex> TwoPSet.member?(s, :b)
      false
      iex> TwoPSet.to_term(s)
      {:twopset, %{added: [:a, :b, :c], removed: [:b]}}

  Identity is `===` and the order of `value/1` is that of `Lattice.GSet`.

  ## Operations, queries and deltas

  The operations for `update/3` (`add/2`, `add_all/2` and `remove/2` are the shorthands):

    * `{:add, element}` and `{:add_all, [element]}`. Adding an element that was removed is
      allowed but has no effect on the value: the tombstone wins, here and after every merge.
    * `{:remove, element}` needs the element in the value - added, and not removed yet - at
      this replica; otherwise it gives `{:error, {:precondition, {:not_present, element}}}`
      and changes nothing (as riak_dt's 2P-Set does).

  Sets do not use the actor: any term will do. An update returns `{:ok, state2, delta}`: the
  new state and a delta, itself a 2P-Set holding the elements the operation named, as added
  or as removed, with `merge(state, delta) === state2`. A replica that merges a remove's delta
  before the add's never shows the element.

  The queries for `value/2` are `{:contains, element}` (`member?/2`: in the value) and
  `:size` (`size/1`: the number of elements in the value).

  ## Errors

    * A caller's bug - an unknown operation or query, an element that is not data (a pid, a
      reference, a fun), an `add_all` argument that is not a proper list, a state that is not
      a binary - raises `ArgumentError`.
    * A binary that is not a valid 2P-Set gives `{:error, {:bad_twopset, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type`, `:noncanonical` or
      `:unknown_version`.
    * A remove of an element not in the value gives
      `{:error, {:precondition, {:not_present, element}}}`.

  Every call checks the state's structure; `value/1`, `to_term/1` and `validate/1` also check
  each element's canonical bytes and id, and `validate/1` is the check to run on states
  received from elsewhere.

  For a set updated many times in place, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_twopset`, with the state as the first
  argument.
  """

  @typedoc "A 2P-Set: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: a 2P-Set holding the elements an update named."
  @type delta :: t()

  @typedoc "An element: any data term (see `Lattice.Canonical`)."
  @type element :: term()

  @typedoc "An operation for `update/3`."
  @type op :: {:add, element()} | {:add_all, [element()]} | {:remove, element()}

  @typedoc "A query for `value/2`."
  @type query :: {:contains, element()} | :size

  @typedoc "A binary that is not a valid 2P-Set."
  @type error :: {:error, {:bad_twopset, atom()}}

  @typedoc "A remove of an element that is not in the value."
  @type precondition :: {:error, {:precondition, {:not_present, element()}}}

  @doc "The empty set."
  @spec new() :: t()
  def new, do: wrap(:lattice_twopset.new())

  @doc """
  Applies `op`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`. The actor is not used.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), Lattice.Type.actor()) :: {:ok, t(), delta()} | error() | precondition()
  def update(state, op, actor \\ nil), do: wrap(:lattice_twopset.update(op, actor, state))

  @doc "Adds `element`: `update/3` with `{:add, element}`."
  @spec add(t(), element()) :: {:ok, t(), delta()} | error()
  def add(state, element), do: update(state, {:add, element})

  @doc "Adds every element of the list: `update/3` with `{:add_all, elements}`."
  @spec add_all(t(), [element()]) :: {:ok, t(), delta()} | error()
  def add_all(state, elements), do: update(state, {:add_all, elements})

  @doc """
  Removes `element`, which must be in the value: `update/3` with `{:remove, element}`.
  """
  @spec remove(t(), element()) :: {:ok, t(), delta()} | error() | precondition()
  def remove(state, element), do: update(state, {:remove, element})

  @doc """
  The merge of two states or deltas: the union, each element's tombstone kept. Commutative,
  associative and idempotent.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_twopset.merge(a, b))

  @doc "The elements added and not removed, in the order of `Lattice.GSet.value/1`."
  @spec value(t()) :: [element()] | error()
  def value(state), do: wrap(:lattice_twopset.value(state))

  @doc """
  The answer to `query`: `{:contains, element}` gives whether the element is in the value,
  `:size` the number of elements in it.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: boolean() | non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_twopset.value(query, state))

  @doc "Whether `element` is in the value: `value/2` with `{:contains, element}`."
  @spec member?(t(), element()) :: boolean() | error()
  def member?(state, element), do: value(state, {:contains, element})

  @doc "The number of elements in the value: `value/2` with `:size`."
  @spec size(t()) :: non_neg_integer() | error()
  def size(state), do: value(state, :size)

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked; arguments that are not binaries raise `ArgumentError`.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_twopset.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_twopset.digest(state))

  @doc """
  `{:twopset, %{added: added, removed: removed}}`: every element ever added, and every
  element removed (the tombstones), each ordered as by `value/1`. The value is `added` less
  `removed`.
  """
  @spec to_term(t()) :: {:twopset, %{added: [element()], removed: [element()]}} | error()
  def to_term(state), do: wrap(:lattice_twopset.to_term(state))

  @doc """
  Checks every rule of the format, including that each element is canonical and its id its
  hash. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_twopset.validate(state))
end
