defmodule Lattice.PNCounter do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Positive-negative counters (PN-Counters) as canonical binaries: counters that go up and
  down.

  A PN-Counter is two G-Counters (see `Lattice.GCounter`): each actor's increments and each
  actor's decrements, each count below 2^64. The value is all the increments less all the
  decrements, an integer that may be negative and may well lie beyond ±2^64. Merging merges
  the two sides separately, so replicas converge whatever the order, and however often, they
  exchange states (or deltas). The state is a binary: equal counters are byte-identical on
  every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.PNCounter
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, a, _delta} = PNCounter.new() |> PNCounter.increment(alice, 5)
      iex> {:ok, b, _delta} = PNCounter.new() |> PNCounter.decrement(bob, 7)
      iex> both = PNCounter.merge(a, b)
      iex> PNCounter.value(both)
      -2
      iex> PNCounter.value(both, {:get, bob})
      -7
      iex> PNCounter.to_term(both) == {:pncounter, %{increments: [{alice, 5}], decrements: [{bob, 7}]}}
      true

  ## Operations, queries and deltas

  The operations for `update/3` are `{:increment, n}` and `{:decrement, n}`, with `n` a
  positive integer below 2^64 (`increment/3` and `decrement/3` are the shorthands). An update
  returns `{:ok, state2, delta}`: the new state and a delta, itself a PN-Counter holding only
  the actor's new count on the side that changed, with `merge(state, delta) === state2`. Send
  the delta, not the state, to other replicas: merging it there has the same effect as
  merging the whole state, and deltas merge with each other too.

  The one query for `value/2` is `{:get, actor}`, the actor's increments less its decrements
  (0 when absent).

  ## Errors

    * A caller's bug - an unknown operation or query, an `n` that is not a positive integer
      below 2^64, an actor that is not data (a pid, a reference, a fun), a state that is not
      a binary - raises `ArgumentError`.
    * A binary that is not a valid PN-Counter gives `{:error, {:bad_pncounter, reason}}`,
      where `reason` is an atom such as `:truncated`, `:wrong_type` or `:unknown_version`
      (including for a fault in either of its G-Counter sides).
    * An update that would take an actor's increments, or its decrements, to 2^64 or more
      gives `{:error, {:overflow, :counter}}`.

  `update/3` reads only the side it changes, so it may not notice a fault in the other side;
  `validate/1` checks every rule of the format, including canonical actors, and is the check
  to run on states received from elsewhere.

  For a counter updated many times in place, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_pncounter`, with the state as the
  first argument.
  """

  @typedoc "A PN-Counter: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: a PN-Counter holding what an update changed."
  @type delta :: t()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "An operation for `update/3`."
  @type op :: {:increment, pos_integer()} | {:decrement, pos_integer()}

  @typedoc "A query for `value/2`."
  @type query :: {:get, actor()}

  @typedoc "A binary that is not a valid PN-Counter."
  @type error :: {:error, {:bad_pncounter, atom()}}

  @doc "The counter with value 0."
  @spec new() :: t()
  def new, do: wrap(:lattice_pncounter.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def update(state, op, actor), do: wrap(:lattice_pncounter.update(op, actor, state))

  @doc """
  Adds `n` (default 1), a positive integer below 2^64, to `actor`'s increments: `update/3`
  with `{:increment, n}`.
  """
  @spec increment(t(), actor(), pos_integer()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def increment(state, actor, n \\ 1), do: update(state, {:increment, n}, actor)

  @doc """
  Adds `n` (default 1), a positive integer below 2^64, to `actor`'s decrements: `update/3`
  with `{:decrement, n}`.
  """
  @spec decrement(t(), actor(), pos_integer()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def decrement(state, actor, n \\ 1), do: update(state, {:decrement, n}, actor)

  @doc """
  The merge of two states or deltas: each side's per-actor larger count. Commutative,
  associative and idempotent.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_pncounter.merge(a, b))

  @doc "All the increments less all the decrements (it may be negative, and beyond ±2^64)."
  @spec value(t()) :: integer() | error()
  def value(state), do: wrap(:lattice_pncounter.value(state))

  @doc """
  The answer to `query`: `{:get, actor}` gives the actor's increments less its decrements,
  0 when absent.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: integer() | error()
  def value(state, query), do: wrap(:lattice_pncounter.value(query, state))

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_pncounter.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_pncounter.digest(state))

  @doc """
  `{:pncounter, %{increments: [{actor, count}], decrements: [{actor, count}]}}`, actors in
  Erlang term order.
  """
  @spec to_term(t()) ::
          {:pncounter,
           %{increments: [{actor(), pos_integer()}], decrements: [{actor(), pos_integer()}]}}
          | error()
  def to_term(state), do: wrap(:lattice_pncounter.to_term(state))

  @doc """
  Checks every rule of the format on both sides, including that each actor is canonical. Run
  it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_pncounter.validate(state))
end
