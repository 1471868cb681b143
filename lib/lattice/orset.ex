defmodule Lattice.ORSet do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Observed-remove sets (OR-Sets), add-wins, without tombstones, as canonical binaries
  (Almeida et al.'s delta AWORSet, riak_dt's orswot).

  Elements are any data terms (see `Lattice.Canonical`). Each add is a write named by a dot
  (the adding actor and its next counter); a remove takes away the element's dots that the
  remover has seen. An add concurrent with a remove - a dot the remover had not seen -
  survives it: add wins. Unlike a 2P-Set, a removed element can be added again. A removed
  element leaves nothing behind but its dots in the causal context, which stays compact (a
  counter per actor) when deltas are delivered in order. Replicas that exchange states (or
  deltas) converge whatever the order, and however often, the exchanges happen. The state is
  a binary: equal sets are byte-identical on every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.ORSet
      iex> alice = Lattice.actor()
      iex> {:ok, s, _delta} = ORSet.new() |> ORSet.add_all([:a, :b, :c], alice)
      iex> {:ok, s, _delta} = ORSet.remove(s, :b, alice)
      iex> ORSet.value(s)
      [:a, :c]
      iex> ORSet.remove(s, :b, alice)
      {:error, {:precondition, {:not_present, :b}}}
      iex> {:ok, s, _delta} = ORSet.add(s, :b, alice)
      iex> ORSet.member?(s, :b)
      true

  An add concurrent with a remove wins:

      iex> alias Lattice.ORSet
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, s, _} = ORSet.new() |> ORSet.add(:x, alice)
      iex> {:ok, removed, _} = ORSet.remove(s, :x, alice)
      iex> {:ok, _, concurrent_add} = ORSet.add(s, :x, bob)
      iex> ORSet.merge(removed, concurrent_add) |> ORSet.value()
      [:x]

  Identity is `===` (`1` and `1.0` are two elements) and `value/1` orders the elements as
  `Lattice.GSet.value/1` does.

  ## Operations, queries and deltas

  The operations for `update/3`, by an actor (any data term of at most 1024 bytes encoded;
  `add/3`, `add_all/3`, `remove/3` and `remove_all/3` are the shorthands):

    * `{:add, element}` and `{:add_all, [element]}`: each element gets a new dot of the
      actor, replacing the dots it had here (so a set's size does not grow with re-adds). An
      element listed twice counts once.
    * `{:remove, element}` and `{:remove_all, [element]}`: the elements must be present,
      else `{:error, {:precondition, {:not_present, element}}}` for the first absent one in
      list order, and nothing is removed. Presence is checked against the state before the
      operation, so an element listed twice is fine.

  An update returns `{:ok, state2, delta}`: the delta holds the touched elements' new dots
  and, as its context, the dots it adds and supersedes, with `merge(state, delta) === state2`.
  A delta is itself an OR-Set; send it, not the state, to other replicas. Each actor should
  update from one replica only (its own counter must not be reused).

  The queries for `value/2` are `{:contains, element}` (`member?/2`) and `:size` (`size/1`).

  ## Errors

    * A caller's bug - an unknown operation or query, an element or actor that is not data
      (a pid, a reference, a fun), an actor larger than 1024 bytes encoded, a list argument
      that is not a proper list, a state that is not a binary - raises `ArgumentError`.
    * A binary that is not a valid OR-Set gives `{:error, {:bad_orset, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type` or `:unknown_version`.
    * A remove of an absent element gives `{:error, {:precondition, {:not_present, element}}}`;
      an actor whose counter would pass 2^64 - 1 gives `{:error, {:overflow, :counter}}`.

  Every call checks the state's structure; `value/1`, `to_term/1` and `validate/1` also check
  that every term is canonical and that no dot appears under two elements, and `validate/1`
  is the check to run on states received from elsewhere. A binary's operations walk it: for
  O(1) updates and queries on a large set, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_orset`, with the state as the first
  argument.
  """

  @typedoc "An OR-Set: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: an OR-Set holding what an update changed."
  @type delta :: t()

  @typedoc "An element: any data term (see `Lattice.Canonical`)."
  @type element :: term()

  @typedoc "An actor: any data term (see `Lattice.Canonical`) of at most 1024 bytes encoded."
  @type actor :: term()

  @typedoc "An operation for `update/3`."
  @type op ::
          {:add, element()}
          | {:add_all, [element()]}
          | {:remove, element()}
          | {:remove_all, [element()]}

  @typedoc "A query for `value/2`."
  @type query :: {:contains, element()} | :size

  @typedoc "A binary that is not a valid OR-Set."
  @type error :: {:error, {:bad_orset, atom()}}

  @typedoc "What an update can refuse besides bad data."
  @type update_error ::
          {:error, {:precondition, {:not_present, element()}}} | {:error, {:overflow, :counter}}

  @typedoc "A dot in `to_term/1`: the actor that added the element, and its counter."
  @type dot :: {actor(), pos_integer()}

  @doc "The empty set."
  @spec new() :: t()
  def new, do: wrap(:lattice_orset.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def update(state, op, actor), do: wrap(:lattice_orset.update(op, actor, state))

  @doc "Adds `element` by `actor`: `update/3` with `{:add, element}`."
  @spec add(t(), element(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def add(state, element, actor), do: update(state, {:add, element}, actor)

  @doc "Adds every element of the list by `actor`: `update/3` with `{:add_all, elements}`."
  @spec add_all(t(), [element()], actor()) :: {:ok, t(), delta()} | error() | update_error()
  def add_all(state, elements, actor), do: update(state, {:add_all, elements}, actor)

  @doc """
  Removes `element`, which must be present: `update/3` with `{:remove, element}`. Only the
  adds this state has seen are removed.
  """
  @spec remove(t(), element(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def remove(state, element, actor), do: update(state, {:remove, element}, actor)

  @doc """
  Removes every element of the list, all of which must be present (else nothing is
  removed): `update/3` with `{:remove_all, elements}`.
  """
  @spec remove_all(t(), [element()], actor()) :: {:ok, t(), delta()} | error() | update_error()
  def remove_all(state, elements, actor), do: update(state, {:remove_all, elements}, actor)

  @doc "The join of two states or deltas. Commutative, associative and idempotent."
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_orset.merge(a, b))

  @doc "The elements, in the order of `Lattice.GSet.value/1`."
  @spec value(t()) :: [element()] | error()
  def value(state), do: wrap(:lattice_orset.value(state))

  @doc """
  The answer to `query`: `{:contains, element}` gives whether the element is present,
  `:size` the number of elements.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: boolean() | non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_orset.value(query, state))

  @doc "Whether `element` is present: `value/2` with `{:contains, element}`."
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
  def equal?(a, b), do: wrap(:lattice_orset.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_orset.digest(state))

  @doc """
  `{:orset, [{element, [dot]}], context}` for inspection: each element with its dots
  (`{actor, counter}`), in the binary's order (by element id, not that of `value/1`), and the
  causal context as `{actor, base, [counter]}` (every counter up to `base`, and those listed).

      iex> alias Lattice.ORSet
      iex> alice = Lattice.actor()
      iex> {:ok, s, _} = ORSet.new() |> ORSet.add(:a, alice)
      iex> ORSet.to_term(s) == {:orset, [a: [{alice, 1}]], [{alice, 1, []}]}
      true
  """
  @spec to_term(t()) ::
          {:orset, [{element(), [dot()]}], [{actor(), non_neg_integer(), [pos_integer()]}]}
          | error()
  def to_term(state), do: wrap(:lattice_orset.to_term(state))

  @doc """
  Checks every rule of the format, including canonical terms and ids, and that no dot appears
  under two elements. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_orset.validate(state))
end
