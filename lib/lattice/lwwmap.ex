defmodule Lattice.LWWMap do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Add-wins maps with last-writer-wins values (as delta_crdt's AWLWWMap) as canonical
  binaries.

  Keys and values are any data terms (see `Lattice.Canonical`). Keys behave as an
  observed-remove set's elements: a remove takes away only the puts it has seen, so a put
  concurrent with a remove survives it (the put wins). Each put carries a hybrid logical
  clock timestamp (see `Lattice.HLC`) and its writer's actor; when concurrent puts of one key
  meet, the key's value is that of the put with the greatest timestamp, then the greatest
  actor (as canonical bytes, so every node breaks a tie the same way). Replicas that
  exchange states (or deltas) converge whatever the order, and however often, the exchanges
  happen. The state is a binary: equal maps are byte-identical on every node, so `===` (or
  `equal?/2`) is equality.

      iex> alias Lattice.LWWMap
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, a, _delta} = LWWMap.new() |> LWWMap.put(:colour, "blue", alice, 10)
      iex> {:ok, b, _delta} = LWWMap.new() |> LWWMap.put(:colour, "green", bob, 20)
      iex> {:ok, b, _delta} = LWWMap.put(b, :size, 3, bob, 21)
      iex> both = LWWMap.merge(a, b)
      iex> LWWMap.value(both)
      %{colour: "green", size: 3}
      iex> LWWMap.get(both, :colour)
      {:ok, "green"}
      iex> LWWMap.get(both, :shape)
      {:error, {:not_found, :shape}}

  A remove wins only over the puts it has seen:

      iex> alias Lattice.LWWMap
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> {:ok, s, _} = LWWMap.new() |> LWWMap.put(:k, 1, alice, 5)
      iex> {:ok, removed, _} = LWWMap.remove(s, :k, alice)
      iex> {:ok, _, concurrent_put} = LWWMap.put(s, :k, 2, bob, 1)
      iex> LWWMap.merge(removed, concurrent_put) |> LWWMap.value()
      %{k: 2}
      iex> LWWMap.remove(removed, :k, alice)
      {:error, {:precondition, {:not_present, :k}}}

  Identity is `===`: `1` and `1.0` are two keys.

  ## Operations, queries and deltas

  The operations for `update/3` (`put/4`, `put/5` and `remove/3` are the shorthands):

    * `{:put, key, value}` stamps the put with the node's HLC, first moved past every
      timestamp the key holds here (as `Lattice.HLC.update/1` does, but without the
      maximum-offset check, since this is our own state), so a local put always wins locally.
      A key holding the largest timestamp, 2^64 - 1, cannot be passed:
      `{:error, {:overflow, :timestamp}}`.
    * `{:put, key, value, ts}` puts at the explicit timestamp `ts`, an integer from 1 to
      2^64 - 1, for tests and for callers that carry their own clock. A `ts` older than the
      key's is allowed: the put replaces what this replica has seen all the same, but may
      lose to a concurrent put. The node's clock is not touched.
    * `{:remove, key}` needs the key present, else it gives
      `{:error, {:precondition, {:not_present, key}}}` and changes nothing.

  An update returns `{:ok, state2, delta}`: the delta is itself an LWW-Map holding the key's
  new put and the puts it replaces, with `merge(state, delta) === state2`. Send the delta,
  not the state, to other replicas; deltas merge with each other too.

  The queries for `value/2` are `{:get, key}` (`get/2`: `{:ok, value}` or
  `{:error, {:not_found, key}}`), `{:contains, key}` (`has_key?/2`) and `:size` (`size/1`).

  ## Errors

    * A caller's bug - an unknown operation or query, a key, value or actor that is not data
      (a pid, a reference, a fun), a `ts` out of range, a state that is not a binary - raises
      `ArgumentError`.
    * A binary that is not a valid LWW-Map gives `{:error, {:bad_lwwmap, reason}}`, where
      `reason` is an atom such as `:truncated`, `:wrong_type` or `:unknown_version`.

  Every call checks the state's structure; `value/1`, `to_term/1` and `validate/1` also check
  that every term is canonical, and `validate/1` is the check to run on states received from
  elsewhere. For a map updated many times in place, see `Lattice.Object`; for what every CRDT
  type provides, see `Lattice.Type`. Delegates to `:lattice_lwwmap`, with the state as the
  first argument.
  """

  @typedoc "An LWW-Map: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "A delta: an LWW-Map holding what an update changed."
  @type delta :: t()

  @typedoc "A key: any data term (see `Lattice.Canonical`)."
  @type key :: term()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "An HLC timestamp (see `Lattice.HLC`), 1 to 2^64 - 1."
  @type timestamp :: pos_integer()

  @typedoc "An operation for `update/3`."
  @type op :: {:put, key(), term()} | {:put, key(), term(), timestamp()} | {:remove, key()}

  @typedoc "A query for `value/2`."
  @type query :: {:get, key()} | {:contains, key()} | :size

  @typedoc "A binary that is not a valid LWW-Map."
  @type error :: {:error, {:bad_lwwmap, atom()}}

  @typedoc "What an update can refuse besides bad data."
  @type update_error ::
          {:error, {:precondition, {:not_present, key()}}}
          | {:error, {:overflow, :timestamp}}
          | {:error, {:overflow, :counter}}

  @typedoc "The dots of a key in `to_term/1`: `{actor, counter, timestamp, value}`."
  @type dot :: {actor(), pos_integer(), timestamp(), term()}

  @doc "The empty map."
  @spec new() :: t()
  def new, do: wrap(:lattice_lwwmap.new())

  @doc """
  Applies `op` by `actor`: the new state and the delta to send to other replicas, with
  `merge(state, delta) === state2`.

  An unknown operation raises `ArgumentError`.
  """
  @spec update(t(), op(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def update(state, op, actor), do: wrap(:lattice_lwwmap.update(op, actor, state))

  @doc """
  Puts `value` under `key` by `actor` at the node's HLC time, past every timestamp the key
  holds: `update/3` with `{:put, key, value}`.
  """
  @spec put(t(), key(), term(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def put(state, key, value, actor), do: update(state, {:put, key, value}, actor)

  @doc """
  Puts `value` under `key` by `actor` at the explicit timestamp `ts` (1 to 2^64 - 1):
  `update/3` with `{:put, key, value, ts}`.
  """
  @spec put(t(), key(), term(), actor(), timestamp()) ::
          {:ok, t(), delta()} | error() | update_error()
  def put(state, key, value, actor, ts), do: update(state, {:put, key, value, ts}, actor)

  @doc "Removes `key`, which must be present: `update/3` with `{:remove, key}`."
  @spec remove(t(), key(), actor()) :: {:ok, t(), delta()} | error() | update_error()
  def remove(state, key, actor), do: update(state, {:remove, key}, actor)

  @doc "The join of two states or deltas. Commutative, associative and idempotent."
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_lwwmap.merge(a, b))

  @doc "The map of every key to its value (that of the key's winning put)."
  @spec value(t()) :: %{optional(key()) => term()} | error()
  def value(state), do: wrap(:lattice_lwwmap.value(state))

  @doc """
  The answer to `query`: `{:get, key}` gives `{:ok, value}` or `{:error, {:not_found, key}}`,
  `{:contains, key}` whether the key is present, `:size` the number of keys.

  An unknown query raises `ArgumentError`.
  """
  @spec value(t(), query()) ::
          {:ok, term()} | {:error, {:not_found, key()}} | boolean() | non_neg_integer() | error()
  def value(state, query), do: wrap(:lattice_lwwmap.value(query, state))

  @doc "The value under `key`: `value/2` with `{:get, key}`."
  @spec get(t(), key()) :: {:ok, term()} | {:error, {:not_found, key()}} | error()
  def get(state, key), do: value(state, {:get, key})

  @doc "Whether `key` is present: `value/2` with `{:contains, key}`."
  @spec has_key?(t(), key()) :: boolean() | error()
  def has_key?(state, key), do: value(state, {:contains, key})

  @doc "The number of keys: `value/2` with `:size`."
  @spec size(t()) :: non_neg_integer() | error()
  def size(state), do: value(state, :size)

  @doc """
  Whether two states are equal: byte equality, the format being canonical. Neither state is
  checked; arguments that are not binaries raise `ArgumentError`.
  """
  @spec equal?(t(), t()) :: boolean()
  def equal?(a, b), do: wrap(:lattice_lwwmap.equal(a, b))

  @doc """
  The state's 16-byte digest, the same for equal states on every node (`Lattice.Type.digest/1`
  gives the same).
  """
  @spec digest(t()) :: <<_::128>> | error()
  def digest(state), do: wrap(:lattice_lwwmap.digest(state))

  @doc """
  `{:lwwmap, [{key, [dot]}], context}` for inspection: each key with its puts' dots
  (`{actor, counter, timestamp, value}`), and the causal context as
  `{actor, base, [counter]}` (every counter up to `base`, and those listed).
  """
  @spec to_term(t()) ::
          {:lwwmap, [{key(), [dot()]}], [{actor(), non_neg_integer(), [pos_integer()]}]}
          | error()
  def to_term(state), do: wrap(:lattice_lwwmap.to_term(state))

  @doc """
  Checks every rule of the format, including canonical terms and ids, and that no put's dot
  appears under two keys. Run it on states that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(state), do: wrap(:lattice_lwwmap.validate(state))
end
