defmodule Lattice.LWWRegister do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Last-writer-wins registers as canonical binaries.

  A register holds one data term (see `Lattice.Canonical`). Every write carries a hybrid
  logical clock timestamp (see `Lattice.HLC`) and its writer's actor; merging keeps the write
  with the greatest timestamp, ties broken by the actor and then by the value (each compared
  as canonical bytes, so every node breaks a tie the same way). Replicas that exchange states
  converge on the same write whatever the order of the exchanges. The state is a binary:
  equal registers are byte-identical on every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.LWWRegister
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, a, _delta} = LWWRegister.new() |> LWWRegister.assign("blue", alice, 10)
      iex> {:ok, b, _delta} = LWWRegister.new() |> LWWRegister.assign("green", bob, 20)
      iex> both = LWWRegister.merge(a, b)
      iex> LWWRegister.value(both)
      "green"
      iex> LWWRegister.value(both, :timestamp)
      20
      iex> LWWRegister.to_term(both) == {:lwwreg, %{value: "green", timestamp: 20, actor: bob}}
      true
      iex> LWWRegister.value(LWWRegister.new())
      nil

  ## Operations, queries and deltas

  The operations for `update/3` (`assign/3` and `assign/4` are the shorthands):

    * `{:assign, value}` stamps the write with the node's HLC. A register never goes back
      in time: its own timestamp is folded into the node's clock first (as
      `Lattice.HLC.update/1` does, but without the maximum-offset check, since this is our
      own state), so the write gets a greater timestamp however far ahead the register is,
      and wins locally.
    * `{:assign, value, ts}` writes at an explicit timestamp `ts`, an integer from 1 to
      2^64 - 1, for tests and for callers that carry their own clock. It must be greater
      than the register's timestamp. The node's clock is not touched.

  An update returns `{:ok, state2, delta}`, where the delta is the new register itself (it
  is as small as a delta could be), with `merge(state, delta) === state2`.

  `value/1` is the value of the winning write, `nil` for the empty register (a register can
  also hold `nil`: `value(state, :timestamp)` tells them apart). The queries for `value/2`
  are `:timestamp` and `:actor`, each `nil` for the empty register.

  ## Errors

    * A caller's bug - an unknown operation or query, a value or actor that is not data (a
      pid, a reference, a fun), a `ts` out of range, a state that is not a binary - raises
      `ArgumentError`.
    * A binary that is not a valid register gives `{:error, {:bad_lwwreg, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type` or `:noncanonical`.
    * An explicit `ts` not above the register's gives
      `{:error, {:precondition, {:stale_timestamp, ts}}}`.
    * An assign by the HLC to a register at the largest timestamp, 2^64 - 1 (only a forged
      state has one), gives `{:error, {:overflow, :timestamp}}`.

  Every call checks the whole format, canonical actor and value included; `validate/1` is
  the check to run on states received from elsewhere. For a register updated in place, see
  `Lattice.Object`; for what every CRDT type provides, see `Lattice.Type`. Delegates to
  `:lattice_lwwreg`, with the state as the first argument.
  """

  @typedoc "An LWW-Register: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: the register an assign produced."
  @type delta :: t()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "An HLC timestamp (see `Lattice.HLC`), 1 to 2^64 - 1 in a register."
  @type timestamp :: pos_integer()

  @typedoc "An operation for `update/3`."
  @type op :: {:assign, term()} | {:assign, term(), timestamp()}

  @typedoc "A query for `value/2`."
  @type query :: :timestamp | :actor

  @typedoc "A binary that is not a valid LWW-Register."
  @type error :: {:error, {:bad_lwwreg, atom()}}

  @typedoc "Why an assign was refused."
  @type assign_error ::
          error()
          | {:error, {:precondition, {:stale_timestamp, timestamp()}}}
          | {:error, {:overflow, :timestamp}}

  @doc "The empty register (never assigned)."
  @spec new() :: t()
  def new, do: wrap(:lattice_lwwreg.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas (the new
  state itself), with `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) :: {:ok, t(), delta()} | assign_error()
  def update(state, op, actor), do: wrap(:lattice_lwwreg.update(op, actor, state))

  @doc """
  Writes `value` by `actor` at the node's HLC time, greater than the register's timestamp:
  `update/3` with `{:assign, value}`.
  """
  @spec assign(t(), term(), actor()) :: {:ok, t(), delta()} | assign_error()
  def assign(state, value, actor), do: update(state, {:assign, value}, actor)

  @doc """
  Writes `value` by `actor` at the explicit timestamp `ts` (1 to 2^64 - 1), which must be
  greater than the register's: `update/3` with `{:assign, value, ts}`.
  """
  @spec assign(t(), term(), actor(), timestamp()) :: {:ok, t(), delta()} | assign_error()
  def assign(state, value, actor, ts), do: update(state, {:assign, value, ts}, actor)

  @doc """
  The merge of two registers: the greater by (timestamp, actor, value), returned unchanged.
  Commutative, associative and idempotent; the empty register is below every other.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_lwwreg.merge(a, b))

  @doc "The value of the winning write, `nil` for the empty register."
  @spec value(t()) :: term() | error()
  def value(state), do: state |> :lattice_lwwreg.value() |> nil_for_undefined(state)

  @doc """
  The answer to `query`: `:timestamp` gives the winning write's timestamp, `:actor` its
  writer; each is `nil` for the empty register.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: timestamp() | actor() | nil | error()
  def value(state, query),
    do: query |> :lattice_lwwreg.value(state) |> nil_for_undefined(state)

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_lwwreg.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_lwwreg.digest(state))

  @doc """
  `{:lwwreg, %{value: value, timestamp: ts, actor: actor}}`, or `{:lwwreg, nil}` for the
  empty register.
  """
  @spec to_term(t()) ::
          {:lwwreg, nil | %{value: term(), timestamp: timestamp(), actor: actor()}} | error()
  def to_term(state) do
    case :lattice_lwwreg.to_term(state) do
      {:lwwreg, :undefined} -> {:lwwreg, nil}
      other -> other
    end
  end

  @doc """
  Checks every rule of the format, including that the actor and the value are canonical. Run
  it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_lwwreg.validate(state))

  # The Erlang API says `undefined` for the empty register; Elixir says nil. A register can
  # hold the atom :undefined itself, so only the empty register's answer is translated.
  defp nil_for_undefined(:undefined, state) do
    if :lattice_lwwreg.value(:timestamp, state) == :undefined, do: nil, else: :undefined
  end

  defp nil_for_undefined(answer, _state), do: answer
end
