defmodule Lattice.LWWSet do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Last-writer-wins element sets (LWW-Element-Sets) of data terms as canonical binaries:
  elements are added and removed, and may come back after a remove.

  For each element the state keeps the hybrid logical clock timestamp (`Lattice.HLC`) of its
  latest add and of its latest remove; merging takes the later of each, element by element,
  so replicas converge whatever the order, and however often, they exchange states (or
  deltas). An element is in the value when its add is later than its remove; at a tie the
  set's *bias* decides: `:add` (the default) keeps it, `:remove` drops it. The bias is fixed
  by `new/1`; sets of different bias do not merge (`{:error, {:bad_lwwset, :bias_mismatch}}`).

      iex> alias Lattice.LWWSet
      iex> {:ok, s, _delta} = LWWSet.new() |> LWWSet.add_all([:a, :b, :c])
      iex> {:ok, s, _delta} = LWWSet.remove(s, :b)
      iex> LWWSet.value(s)
      [:a, :c]
      iex> {:ok, s, _delta} = LWWSet.add(s, :b)
      iex> LWWSet.member?(s, :b)
      true
      iex> LWWSet.remove(s, :z)
      {:error, {:precondition, {:not_present, :z}}}

  At equal timestamps the bias decides:

      iex> alias Lattice.LWWSet
      iex> {:ok, s, _} = LWWSet.new(:remove) |> LWWSet.update({:add, :x, 10})
      iex> {:ok, s, _} = LWWSet.update(s, {:remove, :x, 10})
      iex> {LWWSet.value(s), LWWSet.to_term(s)}
      {[], {:lwwset, :remove, [{:x, 10, 10}]}}

  ## Operations, queries and deltas

  The operations for `update/3` (`add/2`, `add_all/2`, `remove/2` and `remove_all/2` are the
  shorthands):

    * `{:add, element}`, `{:add_all, [element]}`, `{:remove, element}` and
      `{:remove_all, [element]}` are stamped with one timestamp from the node's HLC, first
      moved past every timestamp the named elements carry here, so a local operation always
      wins over what this replica has seen. An element at the largest timestamp (2^64 - 1)
      cannot be passed: `{:error, {:overflow, :timestamp}}`.
    * `{:add, element, ts}` and `{:remove, element, ts}` use the explicit timestamp `ts`
      (an integer 1..2^64-1; for tests and replays): the node's clock is not touched, and a
      `ts` older than the element's simply loses.

  A remove needs every element it names in the value at this replica, else it gives
  `{:error, {:precondition, {:not_present, element}}}` (the first absent one) and changes
  nothing. Sets do not use the actor: any term will do. An update returns
  `{:ok, state2, delta}`: the delta is an LWW-Set holding the elements named with the
  operation's timestamp, and `merge(state, delta) === state2`.

  The queries for `value/2` are `{:contains, element}` (`member?/2`) and `:size` (`size/1`).

  ## Errors

    * A caller's bug - an unknown operation, query or bias, an element that is not data, a
      list argument that is not a proper list, a bad timestamp, a state that is not a
      binary - raises `ArgumentError`.
    * A binary that is not a valid LWW-Set gives `{:error, {:bad_lwwset, reason}}`, with
      `reason` an atom such as `:truncated`, `:wrong_type`, `:noncanonical`,
      `:bias_mismatch` or `:unknown_version`.

  For a set updated many times in place, see `Lattice.Object` (an object made from
  `new(:remove)` has remove bias). Delegates to `:lattice_lwwset`, with the state as the
  first argument.
  """

  @typedoc "An LWW-Element-Set: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: an LWW-Set holding the elements an update named."
  @type delta :: t()

  @typedoc "An element: any data term (see `Lattice.Canonical`)."
  @type element :: term()

  @typedoc "What decides an add and a remove at the same timestamp."
  @type bias :: :add | :remove

  @typedoc "An operation for `update/3`."
  @type op ::
          {:add, element()}
          | {:add_all, [element()]}
          | {:remove, element()}
          | {:remove_all, [element()]}
          | {:add, element(), pos_integer()}
          | {:remove, element(), pos_integer()}

  @typedoc "A query for `value/2`."
  @type query :: {:contains, element()} | :size

  @typedoc "A binary that is not a valid LWW-Set (or one of another bias, for a merge)."
  @type error :: {:error, {:bad_lwwset, atom()}}

  @typedoc "What an update can refuse besides bad data."
  @type update_error ::
          {:error, {:precondition, {:not_present, element()}}} | {:error, {:overflow, :timestamp}}

  @doc "The empty set with the given bias (`:add` by default)."
  @spec new(bias()) :: t()
  def new(bias \\ :add), do: wrap(:lattice_lwwset.new(bias))

  @doc """
  Applies `op`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`. The actor is not used.
  """
  @spec update(t(), op(), Lattice.Type.actor()) :: {:ok, t(), delta()} | error() | update_error()
  def update(state, op, actor \\ nil), do: wrap(:lattice_lwwset.update(op, actor, state))

  @doc "Adds `element`: `update/3` with `{:add, element}`."
  @spec add(t(), element()) :: {:ok, t(), delta()} | error() | update_error()
  def add(state, element), do: update(state, {:add, element})

  @doc "Adds every element of the list: `update/3` with `{:add_all, elements}`."
  @spec add_all(t(), [element()]) :: {:ok, t(), delta()} | error() | update_error()
  def add_all(state, elements), do: update(state, {:add_all, elements})

  @doc "Removes `element`, which must be in the value: `update/3` with `{:remove, element}`."
  @spec remove(t(), element()) :: {:ok, t(), delta()} | error() | update_error()
  def remove(state, element), do: update(state, {:remove, element})

  @doc "Removes every element of the list, all in the value: `{:remove_all, elements}`."
  @spec remove_all(t(), [element()]) :: {:ok, t(), delta()} | error() | update_error()
  def remove_all(state, elements), do: update(state, {:remove_all, elements})

  @doc """
  The merge of two states or deltas of the same bias: each timestamp the later. Commutative,
  associative and idempotent.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_lwwset.merge(a, b))

  @doc "The elements in the value, in the order of `Lattice.GSet.value/1`."
  @spec value(t()) :: [element()] | error()
  def value(state), do: wrap(:lattice_lwwset.value(state))

  @doc "The answer to `query`: `{:contains, element}` or `:size`."
  @spec value(t(), query()) :: boolean() | non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_lwwset.value(query, state))

  @doc "Whether `element` is in the value."
  @spec member?(t(), element()) :: boolean() | error()
  def member?(state, element), do: value(state, {:contains, element})

  @doc "The number of elements in the value."
  @spec size(t()) :: non_neg_integer() | error()
  def size(state), do: value(state, :size)

  @doc "Whether two states are equal: byte equality, the format being canonical."
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_lwwset.equal(a, b))

  @doc "The state's 16-byte digest, the same for equal states on every node."
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_lwwset.digest(state))

  @doc """
  `{:lwwset, bias, [{element, add_ts, remove_ts}]}`: every element the state knows of, with
  the timestamps of its latest add and remove (0 for never), ordered as by `value/1`.
  """
  @spec to_term(t()) ::
          {:lwwset, bias(), [{element(), non_neg_integer(), non_neg_integer()}]} | error()
  def to_term(state), do: wrap(:lattice_lwwset.to_term(state))

  @doc """
  Checks every rule of the format, including that each element is canonical and its id its
  hash. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_lwwset.validate(state))
end
