defmodule Lattice.Type do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  What every lattice CRDT type provides, and dispatch on a state's type.

  The types: the counters `Lattice.GCounter` (Erlang `:lattice_gcounter`) and
  `Lattice.PNCounter` (`:lattice_pncounter`); the sets `Lattice.GSet` (`:lattice_gset`),
  `Lattice.TwoPSet` (`:lattice_twopset`), `Lattice.ORSet` (`:lattice_orset`) and
  `Lattice.LWWSet` (`:lattice_lwwset`); the registers `Lattice.LWWRegister`
  (`:lattice_lwwreg`) and `Lattice.MVRegister` (`:lattice_mvreg`); and the map
  `Lattice.LWWMap` (`:lattice_lwwmap`). Each Erlang module implements the `:lattice_type`
  behaviour; the Elixir modules offer the same functions with the state first. Every type
  also has in-place objects (`Lattice.Object`).

  ## The contract

    * **Canonical binaries.** A state is a binary: a type tag, a format version and a body
      (docs/FORMAT.md). Equal states are byte-identical on every node and OTP release, so
      `equal?/2` is byte equality, a state can be stored, sent and hashed as it is, and
      `digest/1` names it: 16 bytes, equal for equal states.
    * **Delta-state updates.** `update(state, op, actor)` returns `{:ok, state2, delta}`,
      where the delta is itself a state of the same type, usually far smaller, with
      `merge(state, delta) === state2`. A replica sends its deltas; the others merge them.
    * **One merge for everything.** `merge/2` is commutative, associative and idempotent, and
      takes states and deltas alike: a state with a delta, two deltas (a batch), two states.
      Replicas that have merged the same updates hold the same bytes, whatever the order in
      which the updates arrived and however often each did.
    * **Values and queries.** `value(state)` is the type's value (for counters, an integer);
      `value(state, query)` answers a type-specific query such as `{:get, actor}`.
    * **Three error channels.** A caller's bug (an unknown operation or query, an argument of
      the wrong type, an actor that is not data) raises `ArgumentError`; bad data or an unmet
      precondition is `{:error, reason}`, such as `{:error, {:bad_gcounter, :truncated}}` for
      a corrupt state or `{:error, {:overflow, :counter}}` (docs/ERRORS.md lists them all);
      an internal failure such as running out of memory raises.

  The functions here dispatch on the type tag of a state, for code that holds states of
  several types (a replicated store, a sync protocol). A binary with no known type tag gives
  `{:error, {:bad_state, :unknown_type}}`, an empty one `{:error, {:bad_state, :truncated}}`;
  a state of a known type that is corrupt gives that type's error. A non-binary raises
  `ArgumentError`.

      iex> {:ok, state, _delta} = Lattice.PNCounter.new() |> Lattice.PNCounter.decrement(Lattice.actor(), 2)
      iex> Lattice.Type.module(state)
      :lattice_pncounter
      iex> Lattice.Type.value(state)
      -2
      iex> Lattice.Type.value("garbage")
      {:error, {:bad_state, :unknown_type}}

  Delegates to `:lattice_type`.
  """

  @typedoc "A state: a canonical binary of some CRDT type."
  @type state :: binary()

  @typedoc "A delta: a state of the same type holding what an update changed."
  @type delta :: state()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "A binary with no known type tag, or an empty one."
  @type error :: {:error, {:bad_state, :unknown_type | :truncated}}

  @doc """
  The Erlang module implementing the type of `state`, from its type tag, such as
  `:lattice_orset` or `:lattice_pncounter`.

  Only the tag is read: the rest of the state is not checked.
  """
  @spec module(state()) :: module() | error()
  def module(state), do: wrap(:lattice_type.module(state))

  @doc """
  The merge of two states (or deltas) of the same type, whatever the type. States of two
  different types give the first one's type error (`:wrong_type`).
  """
  @spec merge(state(), state()) :: state() | error() | {:error, term()}
  def merge(a, b), do: wrap(:lattice_type.merge(a, b))

  @doc "The value of a state, whatever its type."
  @spec value(state()) :: term() | error() | {:error, term()}
  def value(state), do: wrap(:lattice_type.value(state))

  @doc "The 16-byte digest of a state, whatever its type."
  @spec digest(state()) :: <<_::128>> | error() | {:error, term()}
  def digest(state), do: wrap(:lattice_type.digest(state))
end
