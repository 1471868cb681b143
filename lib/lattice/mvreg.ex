defmodule Lattice.MVRegister do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Multi-value registers as canonical binaries: every value written concurrently is kept (as
  Dynamo's and Riak's siblings), and a write that has seen them all replaces them with one.

  A register holds data terms (see `Lattice.Canonical`). It is the MV-register over a
  dotted version vector, in its delta-state form: a causal context (a counter per actor plus
  the writes seen out of order, see `Lattice.DVV`) and one dot - the name of the write that
  made it - per value. Replicas that exchange states (or deltas) converge whatever the order,
  and however often, the exchanges happen. The state is a binary: equal registers are
  byte-identical on every node, so `===` (or `equal?/2`) is equality.

      iex> alias Lattice.MVRegister
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, a, _delta} = MVRegister.new() |> MVRegister.assign("blue", alice)
      iex> {:ok, b, _delta} = MVRegister.new() |> MVRegister.assign("green", bob)
      iex> both = MVRegister.merge(a, b)
      iex> MVRegister.value(both)
      ["blue", "green"]
      iex> {:ok, resolved, _delta} = MVRegister.assign(both, "teal", alice)
      iex> MVRegister.value(resolved)
      ["teal"]
      iex> MVRegister.merge(both, resolved) |> MVRegister.value()
      ["teal"]
      iex> MVRegister.value(MVRegister.new())
      []

  ## Operations, queries and deltas

  The one operation for `update/3` (`assign/3` is the shorthand) is `{:assign, value}`: the
  value gets a new dot, and every dot the register holds is superseded, so the register's
  value is then `[value]`. Assigns on replicas that had not seen each other are all kept
  when the replicas meet; two concurrent assigns of the same value give it once.

  An update returns `{:ok, state2, delta}`: the delta is itself an MV-Register holding the
  new value's dot and, in its context, the dots it supersedes, with
  `merge(state, delta) === state2`. Send the delta, not the state, to other replicas; deltas
  merge with each other too.

  `value/1` lists the values in the order of `:lattice_gset.sort_elements/1` (Erlang term
  order, ties such as `1` and `1.0` broken by their canonical bytes), `[]` for a register
  never assigned. Identity is `===`: `1` and `1.0` are two values. The queries for `value/2`
  are `:size` (`size/1`) and `{:contains, value}` (`member?/2`).

  ## Errors

    * A caller's bug - an unknown operation or query, a value or actor that is not data (a
      pid, a reference, a fun), a state that is not a binary - raises `ArgumentError`.
    * A binary that is not a valid MV-Register gives `{:error, {:bad_mvreg, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type` or `:unknown_version`.

  Every call checks the state's structure; `value/1`, `to_term/1` and `validate/1` also check
  that every term is canonical, and `validate/1` is the check to run on states received from
  elsewhere. For a register updated in place, see `Lattice.Object`; for what every CRDT type
  provides, see `Lattice.Type`. Delegates to `:lattice_mvreg`, with the state as the first
  argument.
  """

  @typedoc "An MV-Register: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: an MV-Register holding what an assign changed."
  @type delta :: t()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "An operation for `update/3`."
  @type op :: {:assign, term()}

  @typedoc "A query for `value/2`."
  @type query :: :size | {:contains, term()}

  @typedoc "A binary that is not a valid MV-Register."
  @type error :: {:error, {:bad_mvreg, atom()}}

  @doc "The empty register (never assigned): its value is `[]`."
  @spec new() :: t()
  def new, do: wrap(:lattice_mvreg.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def update(state, op, actor), do: wrap(:lattice_mvreg.update(op, actor, state))

  @doc """
  Writes `value` by `actor`, replacing every value the register holds: `update/3` with
  `{:assign, value}`.
  """
  @spec assign(t(), term(), actor()) ::
          {:ok, t(), delta()} | error() | {:error, {:overflow, :counter}}
  def assign(state, value, actor), do: update(state, {:assign, value}, actor)

  @doc """
  The join of two states or deltas: the values of concurrent assigns are all kept.
  Commutative, associative and idempotent.
  """
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_mvreg.merge(a, b))

  @doc "The values, in term order; `[]` for a register never assigned."
  @spec value(t()) :: [term()] | error()
  def value(state), do: wrap(:lattice_mvreg.value(state))

  @doc """
  The answer to `query`: `:size` gives the number of values, `{:contains, value}` whether
  `value` is one of them.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) :: non_neg_integer() | boolean() | error()
  def value(state, query), do: wrap(:lattice_mvreg.value(query, state))

  @doc "Whether `value` is one of the register's values: `value/2` with `{:contains, value}`."
  @spec member?(t(), term()) :: boolean() | error()
  def member?(state, value), do: value(state, {:contains, value})

  @doc "The number of values (more than one after concurrent assigns): `value/2` with `:size`."
  @spec size(t()) :: non_neg_integer() | error()
  def size(state), do: value(state, :size)

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked; arguments that are not binaries raise `ArgumentError`.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_mvreg.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_mvreg.digest(state))

  @doc """
  `{:mvreg, [{value, [{actor, counter}]}], context}` for inspection: each value with the dots
  of the assigns that wrote it (more than one when concurrent assigns wrote the same value),
  and the causal context as `{actor, base, [counter]}` (every counter up to `base`, and those
  listed).
  """
  @spec to_term(t()) ::
          {:mvreg, [{term(), [{actor(), pos_integer()}]}],
           [{actor(), non_neg_integer(), [pos_integer()]}]}
          | error()
  def to_term(state), do: wrap(:lattice_mvreg.to_term(state))

  @doc """
  Checks every rule of the format, including canonical terms and ids, and that no dot appears
  under two values. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_mvreg.validate(state))
end
