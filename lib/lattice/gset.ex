defmodule Lattice.GSet do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Grow-only sets (G-Sets) of data terms as canonical binaries.

  Elements are any data terms (see `Lattice.Canonical`); once added, an element stays.
  Merging is the union, so replicas that exchange states (or deltas) converge whatever the
  order, and however often, the exchanges happen. The state is a binary: equal sets are
  byte-identical on every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.GSet
      iex> {:ok, a, _delta} = GSet.new() |> GSet.add(:apple)
      iex> {:ok, b, _delta} = GSet.new() |> GSet.add_all(["pear", 3, :apple])
      iex> both = GSet.merge(a, b)
      iex> GSet.value(both)
      [3, :apple, "pear"]
      iex> GSet.member?(both, "pear")
      true
      iex> GSet.size(both)
      3

  Identity is `===`: `1` and `1.0` are two elements. `value/1` lists the elements in Erlang
  term order, and elements that compare equal without being the same term (`1` and `1.0`)
  in the order of their canonical bytes, so equal sets give equal lists.

  ## Operations, queries and deltas

  The operations for `update/3` are `{:add, element}` and `{:add_all, [element]}` (`add/2`
  and `add_all/2` are the shorthands). Sets do not use the actor: any term will do. An update
  returns `{:ok, state2, delta}`: the new state and a delta, itself a G-Set holding the
  elements the operation named (present before or not), with `merge(state, delta) === state2`.
  Send the delta, not the state, to other replicas; deltas merge with each other too.

  The queries for `value/2` are `{:contains, element}` (`member?/2`) and `:size` (`size/1`).

  ## Errors

    * A caller's bug - an unknown operation or query, an element that is not data (a pid, a
      reference, a fun), an `add_all` argument that is not a proper list, a state that is not
      a binary - raises `ArgumentError`.
    * A binary that is not a valid G-Set gives `{:error, {:bad_gset, reason}}`, where `reason`
      is an atom such as `:truncated`, `:wrong_type`, `:bad_order` or `:unknown_version`.

  Every call checks the state's structure; `value/1`, `to_term/1` and `validate/1` also check
  each element's canonical bytes and id, and `validate/1` is the check to run on states
  received from elsewhere.

  For a set updated many times in place, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_gset`, with the state as the first
  argument.
  """

  @typedoc "A G-Set: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: a G-Set holding the elements an update named."
  @type delta :: t()

  @typedoc "An element: any data term (see `Lattice.Canonical`)."
  @type element :: term()

  @typedoc "An operation for `update/3`."
  @type op :: {:add, element()} | {:add_all, [element()]}

  @typedoc "A query for `value/2`."
  @type query :: {:contains, element()} | :size

  @typedoc "A binary that is not a valid G-Set."
  @type error :: {:error, {:bad_gset, atom()}}

  @doc "The empty set."
  @spec new() :: t()
  def new, do: wrap(:lattice_gset.new())

  @doc """
  Applies `op`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`. The actor is not used.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), Lattice.Type.actor()) :: {:ok, t(), delta()} | error()
  def update(state, op, actor \\ nil), do: wrap(:lattice_gset.update(op, actor, state))

  @doc "Adds `element`: `update/3` with `{:add, element}`."
  @spec add(t(), element()) :: {:ok, t(), delta()} | error()
  def add(state, element), do: update(state, {:add, element})

  @doc "Adds every element of the list: `update/3` with `{:add_all, elements}`."
  @spec add_all(t(), [element()]) :: {:ok, t(), delta()} | error()
  def add_all(state, elements), do: update(state, {:add_all, elements})

  @doc "The union of two states or deltas. Commutative, associative and idempotent."
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_gset.merge(a, b))

  @doc "The elements, in Erlang term order (see the module documentation for ties)."
  @spec value(t()) :: [element()] | error()
  def value(state), do: wrap(:lattice_gset.value(state))

  @doc """
  The answer to `query`: `{:contains, element}` gives whether the element is in the set,
  `:size` the number of elements.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: boolean() | non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_gset.value(query, state))

  @doc "Whether `element` is in the set: `value/2` with `{:contains, element}`."
  @spec member?(t(), element()) :: boolean() | error()
  def member?(state, element), do: value(state, {:contains, element})

  @doc "The number of elements: `value/2` with `:size`."
  @spec size(t()) :: non_neg_integer() | error()
  def size(state), do: value(state, :size)

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked; arguments that are not binaries raise `ArgumentError`.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_gset.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_gset.digest(state))

  @doc "`{:gset, elements}`, the elements ordered as by `value/1`."
  @spec to_term(t()) :: {:gset, [element()]} | error()
  def to_term(state), do: wrap(:lattice_gset.to_term(state))

  @doc """
  Checks every rule of the format, including that each element is canonical and its id its
  hash. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_gset.validate(state))
end
