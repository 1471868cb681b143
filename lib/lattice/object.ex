defmodule Lattice.Object do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  In-place CRDT objects: a state held as a mutable C object, for the replicated store's hot
  path.

  A state binary (of any type: `Lattice.GCounter`, `Lattice.ORSet`, `Lattice.LWWMap`, ...)
  is immutable: every update copies it and re-reads it, which costs O(n) in its size (at 10k
  elements an OR-Set binary add is hundreds of times slower than an object add). An object
  holds the same state as hash tables behind a resource, so a store that keeps one object per
  key can:

    * update it in place, in O(1) per operation whatever the number of actors, getting back
      the same delta the type's binary `update/3` gives, to send to other replicas;
    * `join/2` the states and deltas other replicas send, in place;
    * read `value/1` and `digest/1` in O(1): both are kept current as the object changes, so
      replicas can compare digests (for anti-entropy) without serialising anything;
    * take a `snapshot/1`, the canonical binary of the state, to store it or send it whole.

  The object and the binaries agree exactly: after the same history, `snapshot(obj)` is the
  binary state byte for byte, and `digest(obj) == Lattice.Type.digest(snapshot(obj))`.

      iex> alias Lattice.{GCounter, Object}
      iex> bob = {:bob@host, 1}
      iex> obj = Object.new(GCounter)
      iex> {:ok, _delta} = Object.update(obj, {:increment, 2}, Lattice.actor())
      iex> {:ok, remote, _delta} = GCounter.new() |> GCounter.increment(bob, 5)
      iex> Object.join(obj, remote)
      :ok
      iex> Object.value(obj)
      7
      iex> Object.digest(obj) == Lattice.Type.digest(Object.snapshot(obj))
      true

  Objects exist for every CRDT type: G-Counter, PN-Counter, G-Set, 2P-Set, OR-Set,
  LWW-Element-Set, LWW-Register, LWW-Map and MV-Register; operations and queries are the
  type's. Any process may use an object - a mutex guards each one, so concurrent updates from
  several processes are all applied - and the object is freed when no process refers to it
  any more. An object is local to its node: a resource sent to another node is still a
  reference there (`node(object)` tells where it lives) but refers to nothing, and using it
  raises `ArgumentError` saying so. Send snapshots or deltas to other nodes, not objects.

  Use `Lattice.actor/0` as the actor, not `node()`: a restarted node that writes under the
  actor it had before loses data (see `Lattice.actor/0`).

  Objects for G-Sets and 2P-Sets (`Lattice.GSet`, `Lattice.TwoPSet`): adding,
  removing and testing an element, and the `:size` query, cost O(1); the value (the list of
  elements) is built when asked for. A 2P-Set object's remove of an element not in the value
  gives the same `{:error, {:precondition, {:not_present, element}}}` as the binary update,
  and changes nothing.

  Objects exist for LWW-Registers too (`Lattice.LWWRegister`): an object holds the
  register's bytes, with its digest kept current; `{:assign, value}` stamps the write with the
  node's HLC past the register's timestamp, and the delta is the new register. A stale
  `{:assign, value, ts}` gives the same `{:error, {:precondition, {:stale_timestamp, ts}}}` as
  the binary update, and changes nothing. Large values are encoded and decoded on a dirty
  scheduler.

  Objects exist for LWW-Maps (`Lattice.LWWMap`): a put, a remove and the `{:get, key}`,
  `{:contains, key}` and `:size` queries cost O(1), and the value (the map) is built when
  asked for. A `{:put, key, value}` is stamped by the node's HLC past every timestamp the key
  holds, as by `Lattice.LWWMap.put/4`.

  Objects exist for OR-Sets (`Lattice.ORSet`): adding and removing an element, the
  `{:contains, element}` and `:size` queries cost O(1), and the value (the list of elements)
  is built when asked for. A remove of an absent element gives the same
  `{:error, {:precondition, {:not_present, element}}}` as the binary update, and changes
  nothing.

  Objects exist for MV-Registers (`Lattice.MVRegister`): an assign, the `{:contains, value}`
  and `:size` queries cost O(1), and the value (the list of values) is built when asked for.

  ## Errors

  See docs/ERRORS.md for the whole list.

    * A caller's bug - an unknown operation or query (including one of another type, such
      as `{:add, e}` on a G-Counter), an actor or element that is not data, an argument that
      is not an object, an object made on another node, a module that is not a type - raises
      `ArgumentError` with a message saying which argument is wrong and why.
    * A binary that is not a valid state is data, not a bug: `new/1` and `join/2` give
      `{:error, {:bad_state, :unknown_type}}` (or `:truncated`) for a binary with no known
      type tag, and the type's `{:error, {:bad_<type>, reason}}` for a corrupt state. A join
      that fails leaves the object unchanged; so does an update that fails.
    * An update can refuse an unmet precondition, `{:error, {:precondition, reason}}` (a
      remove of an absent element, a stale explicit timestamp), or a counter or timestamp at
      its largest, `{:error, {:overflow, :counter}}` or `{:error, {:overflow, :timestamp}}`.

  Delegates to `:lattice_object`, with the object as the first argument.
  """

  @typedoc "An in-place object: a reference to a resource."
  @type t :: :lattice_object.object()

  @typedoc "A type with objects: its Elixir or its Erlang module."
  @type type_module ::
          Lattice.GCounter
          | Lattice.PNCounter
          | :lattice_gcounter
          | :lattice_pncounter
          # G-Set and 2P-Set
          | Lattice.GSet
          | Lattice.TwoPSet
          | :lattice_gset
          | :lattice_twopset
          # LWW-Register
          | Lattice.LWWRegister
          | :lattice_lwwreg
          # LWW-Element-Set (the bias is the state's: `Lattice.LWWSet` alone means add bias)
          | Lattice.LWWSet
          | :lattice_lwwset
          # OR-Set
          | Lattice.ORSet
          | :lattice_orset
          # LWW-Map
          | Lattice.LWWMap
          | :lattice_lwwmap
          # MV-Register
          | Lattice.MVRegister
          | :lattice_mvreg

  # The Elixir facades of the types with objects, and their Erlang modules.
  @erlang_modules %{
    Lattice.GCounter => :lattice_gcounter,
    Lattice.PNCounter => :lattice_pncounter,
    # G-Set and 2P-Set
    Lattice.GSet => :lattice_gset,
    Lattice.TwoPSet => :lattice_twopset,
    # LWW-Register
    Lattice.LWWRegister => :lattice_lwwreg,
    # LWW-Element-Set
    Lattice.LWWSet => :lattice_lwwset,
    # OR-Set
    Lattice.ORSet => :lattice_orset,
    # LWW-Map
    Lattice.LWWMap => :lattice_lwwmap,
    # MV-Register
    Lattice.MVRegister => :lattice_mvreg
  }

  @doc """
  An object holding the empty state of a type (given as its Elixir module, such as
  `Lattice.ORSet`, or its Erlang module, such as `:lattice_orset`), or holding `state`, a
  state binary of any type.

  A binary that is not a state gives an error tuple, as everywhere else:
  `{:error, {:bad_state, :unknown_type}}` (or `:truncated`) when it has no known type tag,
  the type's `{:error, {:bad_<type>, reason}}` when it is corrupt. A module that is not a
  type raises `ArgumentError`.

      iex> Lattice.Object.new("garbage")
      {:error, {:bad_state, :unknown_type}}
  """
  @spec new(type_module() | Lattice.Type.state()) :: t() | {:error, {atom(), atom()}}
  def new(module_or_state)

  def new(module) when is_map_key(@erlang_modules, module),
    do: wrap(:lattice_object.new(Map.fetch!(@erlang_modules, module)))

  def new(module) when module in [:lattice_gcounter, :lattice_pncounter],
    do: wrap(:lattice_object.new(module))

  # G-Set and 2P-Set
  def new(module) when module in [:lattice_gset, :lattice_twopset],
    do: wrap(:lattice_object.new(module))

  # LWW-Register
  def new(:lattice_lwwreg), do: wrap(:lattice_object.new(:lattice_lwwreg))

  # LWW-Element-Set
  def new(:lattice_lwwset), do: wrap(:lattice_object.new(:lattice_lwwset))

  # OR-Set
  def new(:lattice_orset), do: wrap(:lattice_object.new(:lattice_orset))

  # LWW-Map
  def new(:lattice_lwwmap), do: wrap(:lattice_object.new(:lattice_lwwmap))

  # MV-Register
  def new(:lattice_mvreg), do: wrap(:lattice_object.new(:lattice_mvreg))

  def new(state) when is_binary(state), do: wrap(:lattice_object.new(state))

  def new(other) do
    raise ArgumentError,
          "Lattice.Object.new/1: expected a CRDT type module (such as Lattice.ORSet) or a " <>
            "state binary, got: #{inspect(other)}"
  end

  @doc """
  Applies `op` by `actor` in place; returns the delta to send to other replicas, the same
  delta the type's binary `update/3` gives.

  Besides success, an update can give an unmet precondition (a remove of an absent element,
  a stale explicit timestamp) or an overflow (a counter or timestamp at 2^64 - 1), and
  changes nothing then.
  """
  @spec update(t(), term(), Lattice.Type.actor()) ::
          {:ok, Lattice.Type.delta()}
          | {:error, {:precondition, term()}}
          | {:error, {:overflow, :counter | :timestamp}}
          | {:error, {atom(), atom()}}
  def update(object, op, actor), do: wrap(:lattice_object.update(op, actor, object))

  @doc """
  Merges a state or delta of the object's type into the object, in place.

  A corrupt binary, or one of another type, gives the type's error and leaves the object
  unchanged.
  """
  @spec join(t(), Lattice.Type.state()) :: :ok | {:error, {atom(), atom()}}
  def join(object, state_or_delta), do: wrap(:lattice_object.join(state_or_delta, object))

  @doc "The value of the object's state, kept current: O(1)."
  @spec value(t()) :: term()
  def value(object), do: wrap(:lattice_object.value(object))

  @doc """
  The answer to the type's `query`, such as `{:get, actor}`. An unknown query raises
  `ArgumentError`.
  """
  @spec value(t(), term()) :: term()
  def value(object, query), do: wrap(:lattice_object.value(query, object))

  @doc "The canonical binary of the object's state, as the type's binary functions would have it."
  @spec snapshot(t()) :: Lattice.Type.state()
  def snapshot(object), do: wrap(:lattice_object.snapshot(object))

  @doc """
  The digest of the object's state, kept current: O(1), and equal to
  `Lattice.Type.digest(snapshot(object))`.
  """
  @spec digest(t()) :: <<_::128>>
  def digest(object), do: wrap(:lattice_object.digest(object))
end
