defmodule Lattice.GCounter do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Grow-only counters (G-Counters) as canonical binaries.

  Each actor (any data term, see `Lattice.Canonical`) has its own count, below 2^64; the
  counter's value is the sum of the counts, an integer that may well exceed 2^64. Merging
  takes each actor's larger count, so replicas that exchange states (or deltas) converge
  whatever the order, and however often, the exchanges happen. The state is a binary: equal
  counters are byte-identical on every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.GCounter
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, a, _delta} = GCounter.new() |> GCounter.increment(alice, 2)
      iex> {:ok, b, _delta} = GCounter.new() |> GCounter.increment(bob)
      iex> both = GCounter.merge(a, b)
      iex> GCounter.value(both)
      3
      iex> GCounter.value(both, {:get, alice})
      2
      iex> GCounter.to_term(both) == {:gcounter, Enum.sort([{alice, 2}, {bob, 1}])}
      true

  ## Operations, queries and deltas

  The one operation for `update/3` is `{:increment, n}`, with `n` a positive integer below
  2^64 (`increment/3` is the shorthand). An update returns `{:ok, state2, delta}`: the new
  state and a delta, itself a G-Counter holding only the actor's new count, with
  `merge(state, delta) === state2`. Send the delta, not the state, to other replicas: merging
  it there has the same effect as merging the whole state, and deltas merge with each other
  too, so a batch of them can be merged into one before it is sent.

  The one query for `value/2` is `{:get, actor}`, the actor's count (0 when absent).

  ## Errors

    * A caller's bug - an unknown operation or query, an `n` that is not a positive integer
      below 2^64, an actor that is not data (a pid, a reference, a fun), a state that is not
      a binary - raises `ArgumentError`.
    * A binary that is not a valid G-Counter gives `{:error, {:bad_gcounter, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type` or `:unknown_version`.
    * An increment that would take an actor's count to 2^64 or more gives
      `{:error, {:overflow, :counter}}`.

  Every call checks the state's structure; `validate/1` also checks each actor's canonical
  bytes and is the check to run on states received from elsewhere.

  For a counter updated many times in place, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_gcounter`, with the state as the first
  argument.
  """

  @typedoc "A G-Counter: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: a G-Counter holding what an update changed."
  @type delta :: t()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "An operation for `update/3`."
  @type op :: {:increment, pos_integer()}

  @typedoc "A query for `value/2`."
  @type query :: {:get, actor()}

  @typedoc "A binary that is not a valid G-Counter."
  @type error :: {:error, {:bad_gcounter, atom()}}

  @doc "The counter with value 0."
  @spec new() :: t()
  def new, do: wrap(:lattice_gcounter.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def update(state, op, actor), do: wrap(:lattice_gcounter.update(op, actor, state))

  @doc """
  Adds `n` (default 1), a positive integer below 2^64, to `actor`'s count: `update/3` with
  `{:increment, n}`.
  """
  @spec increment(t(), actor(), pos_integer()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def increment(state, actor, n \\ 1), do: update(state, {:increment, n}, actor)

  @doc """
  The merge of two states or deltas: each actor's larger count. Commutative, associative and
  idempotent.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_gcounter.merge(a, b))

  @doc "The sum of every actor's count (it may exceed 2^64)."
  @spec value(t()) :: non_neg_integer() | error()
  def value(state), do: wrap(:lattice_gcounter.value(state))

  @doc """
  The answer to `query`: `{:get, actor}` gives the actor's count, 0 when absent.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_gcounter.value(query, state))

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_gcounter.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_gcounter.digest(state))

  @doc "`{:gcounter, [{actor, count}]}`, actors in Erlang term order."
  @spec to_term(t()) :: {:gcounter, [{actor(), pos_integer()}]} | error()
  def to_term(state), do: wrap(:lattice_gcounter.to_term(state))

  @doc """
  Checks every rule of the format, including that each actor is canonical. Run it on states
  that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_gcounter.validate(state))
end
