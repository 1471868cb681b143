defmodule Lattice.ContextStore do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  A store of named CRDTs: each key holds one CRDT of a type chosen at `create/3`, read and
  written from any process without a message to the store process (see docs/STORE.md).

      iex> alias Lattice.ContextStore
      iex> :ok = ContextStore.create(:doc_page_views, :g_counter)
      iex> {:ok, 1} = ContextStore.increment(:doc_page_views)
      iex> ContextStore.increment(:doc_page_views, 5)
      {:ok, 6}
      iex> ContextStore.delete(:doc_page_views)
      :ok

  The lattice application starts the default store (named `:lattice_store`); every function
  takes `store: name` in its options to use another one, started with `start_link/1` or as a
  child of the host's supervisor: `{Lattice.ContextStore, name: :my_store, max_crdts: 50_000}`.

  Types: `:g_counter`, `:pn_counter`, `:g_set`, `:two_p_set`, `:or_set`, `:lww_set`,
  `:lww_register`, `:lww_map`, `:mv_register`. Values: an integer for counters, a `MapSet`
  for sets, a map for `:lww_map`, the value (or `nil`) for `:lww_register`, the list of
  concurrent values for `:mv_register`. Writes return `{:ok, value}` for counters and
  registers and `{:ok, size}` (elements or fields) for sets and maps.

  `delete/2` is observed-remove: it removes what this node has seen of the key, and a write
  made concurrently elsewhere survives it.

  ## Replication

  A store replicates to the store of the same name on every connected node (docs/REPLICATION.md):
  each write's delta goes out within a flush interval (10 ms), and anti-entropy through the
  C nodes repairs what deltas missed (a partition, a node that was down, a new node). See
  `stats/1`, `health_status/1`, `disable_sync/1`, `enable_sync/1` and
  `subscribe_replication/1`; `replication: false` in the child spec keeps a store local.

  ## Errors

  Values: `{:error, :not_found}`, `{:error, {:wrong_type, type}}`,
  `{:error, {:precondition, reason}}`, `{:error, {:overflow, :counter | :timestamp}}`,
  `{:error, :limit_reached}`. A caller's bug (an unknown type, an element that is not data,
  an amount that is not a positive integer, a store that is not running) raises
  `ArgumentError` saying which argument and why.
  """

  @typedoc "A store's name."
  @type store :: atom()
  @typedoc "A key: any data term (no pids, references, funs)."
  @type key :: term()
  @type type ::
          :g_counter
          | :pn_counter
          | :g_set
          | :two_p_set
          | :or_set
          | :lww_set
          | :lww_register
          | :lww_map
          | :mv_register
  @type error ::
          {:error,
           :not_found
           | :limit_reached
           | {:wrong_type, type()}
           | {:precondition, term()}
           | {:overflow, :counter | :timestamp}}

  @set_types [:g_set, :two_p_set, :or_set, :lww_set]

  @doc "The name of the default store."
  @spec default_store() :: store()
  def default_store, do: :lattice_store

  @doc """
  A child spec: `name` (default `:lattice_store`), `max_crdts` (default 100,000),
  `max_delta_buffer_bytes` (default 8 MiB), and `replication`: `false` for a store of this
  node only, or a map of replication options (default `%{}`: replicate to every node running
  a store of the same name, with the defaults of `:lattice_repl.options/1`; see
  docs/REPLICATION.md), and `tiering` (default off): a map of `memory_limit` (5000 hot keys),
  `ets_limit` (50,000), `access_threshold` (5), `decay_interval` (120,000 ms) and `dir` (the
  DETS cache's directory), for hot keys in memory and the least used in ETS and on disk
  (docs/TIERING.md).

  Durability (docs/DURABILITY.md): `durable: true` logs every write before it returns
  (a write-ahead log with group commit, and snapshots), so acknowledged writes survive a
  `kill -9`; `dir` (default `<data_dir>/<node>/<name>`), `snapshot_interval` (ms or
  `:infinity`, default 60,000), `snapshot_wal_bytes` (a snapshot also once the log since the
  last one holds this many bytes, default 64 MiB, or `:infinity`) and `on_disk_error`
  (`:refuse_writes`, the default, or `:memory_only`). `stats/1` reports it under `durability`.
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts), do: wrap(:lattice_store.child_spec(opts))

  @doc """
  Starts a store and its replication under a supervisor linked to the caller; the options of
  `child_spec/1`.
  """
  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    %{start: {m, f, a}} = child_spec(opts)
    apply(m, f, a)
  end

  @doc "Creates `key` with `type`: `:ok`, also when it exists with that type."
  @spec create(key(), type(), keyword()) :: :ok | error()
  def create(key, type, opts \\ []), do: wrap(:lattice_store.create(store(opts), key, type))

  @doc "Adds `n` (default 1) to a counter; `{:ok, new_value}`."
  @spec increment(key(), pos_integer() | keyword(), keyword()) :: {:ok, integer()} | error()
  def increment(key, n \\ 1, opts \\ [])
  def increment(key, opts, []) when is_list(opts), do: increment(key, 1, opts)
  def increment(key, n, opts), do: wrap(:lattice_store.increment(store(opts), key, n))

  @doc "Subtracts `n` (default 1) from a `:pn_counter`; `{:ok, new_value}`."
  @spec decrement(key(), pos_integer() | keyword(), keyword()) :: {:ok, integer()} | error()
  def decrement(key, n \\ 1, opts \\ [])
  def decrement(key, opts, []) when is_list(opts), do: decrement(key, 1, opts)
  def decrement(key, n, opts), do: wrap(:lattice_store.decrement(store(opts), key, n))

  @doc "Adds an element to a set; `{:ok, size}`."
  @spec add(key(), term(), keyword()) :: {:ok, non_neg_integer()} | error()
  def add(key, element, opts \\ []), do: wrap(:lattice_store.add(store(opts), key, element))

  @doc """
  Removes an element from a set, or a field from an `:lww_map`; `{:ok, size}`, or
  `{:error, {:precondition, {:not_present, element}}}`.
  """
  @spec remove(key(), term(), keyword()) :: {:ok, non_neg_integer()} | error()
  def remove(key, element, opts \\ []),
    do: wrap(:lattice_store.remove(store(opts), key, element))

  @doc "Sets a register; `{:ok, value}`."
  @spec set(key(), term(), keyword()) :: {:ok, term()} | error()
  def set(key, value, opts \\ []), do: wrap(:lattice_store.set(store(opts), key, value))

  @doc "Puts a field of an `:lww_map`; `{:ok, size}`, the number of fields."
  @spec put(key(), term(), term(), keyword()) :: {:ok, non_neg_integer()} | error()
  def put(key, field, value, opts \\ []),
    do: wrap(:lattice_store.put(store(opts), key, field, value))

  @doc """
  The key's value (a `MapSet` for sets), or with `field: f` one field of an `:lww_map`.
  """
  @spec get(key(), keyword()) :: {:ok, term()} | error()
  def get(key, opts \\ []) do
    case Keyword.fetch(opts, :field) do
      {:ok, field} ->
        wrap(:lattice_store.get(store(opts), key, field))

      :error ->
        case wrap(:lattice_store.lookup(store(opts), key)) do
          {:ok, type, value} -> {:ok, to_elixir(type, value)}
          error -> error
        end
    end
  end

  @doc "The key's type and value: `{:ok, type, value}`."
  @spec lookup(key(), keyword()) :: {:ok, type(), term()} | error()
  def lookup(key, opts \\ []) do
    case wrap(:lattice_store.lookup(store(opts), key)) do
      {:ok, type, value} -> {:ok, type, to_elixir(type, value)}
      error -> error
    end
  end

  @doc "Observed-remove delete: `:ok`, or `{:error, :not_found}`."
  @spec delete(key(), keyword()) :: :ok | error()
  def delete(key, opts \\ []), do: wrap(:lattice_store.delete(store(opts), key))

  @doc "The keys the store shows, sorted."
  @spec keys(keyword()) :: [key()]
  def keys(opts \\ []), do: wrap(:lattice_store.keys(store(opts)))

  @doc "The types that lost to the key's type after concurrent creates with different types."
  @spec conflicts(key(), keyword()) :: [type()]
  def conflicts(key, opts \\ []), do: wrap(:lattice_store.conflicts(store(opts), key))

  @doc """
  Subscribes the caller to the changes of the store, or of one key with `key: k`. The caller
  receives `{:lattice_store, ref, store, key, change}`, `change` one of `{:created, type}`,
  `{:updated, op}`, `:deleted`, `:merged`, `{:type_conflict, winner, losers}`.
  """
  @spec subscribe(keyword()) :: reference()
  def subscribe(opts \\ []) do
    case Keyword.fetch(opts, :key) do
      {:ok, key} -> wrap(:lattice_store.subscribe(store(opts), key))
      :error -> wrap(:lattice_store.subscribe(store(opts)))
    end
  end

  @doc "Ends a subscription."
  @spec unsubscribe(reference(), keyword()) :: :ok
  def unsubscribe(ref, opts \\ []), do: wrap(:lattice_store.unsubscribe(store(opts), ref))

  @doc "The store's figures (keys, limit, delta buffer, conflicts, subscriptions, memory)."
  @spec info(keyword()) :: map()
  def info(opts \\ []), do: wrap(:lattice_store.info(store(opts)))

  @doc """
  The store's figures and its replication's in one map: keys, memory, delta buffer, and
  deltas and bytes sent and received, keys repaired, replication lag, sync latency, peer
  reachability, breaker opens, sync timeouts, backpressure drops, oversized messages
  (docs/REPLICATION.md lists them all).
  """
  @spec stats(keyword()) :: map()
  def stats(opts \\ []), do: wrap(:lattice_store.stats(store(opts)))

  @doc """
  The replication's health: `{:healthy, []}`, `{:disabled, []}`, or `{:degraded, reasons}`
  with reasons such as `{:breaker_open, node}`, `{:peer_down, node}`,
  `{:peer_dropped, node}`, `{:merge_queue_high, length}`.
  """
  @spec health_status(keyword()) :: {:healthy | :degraded | :disabled, [term()]}
  def health_status(opts \\ []), do: :lattice_repl.health_status(replicated(opts))

  @doc "Resumes sending deltas and anti-entropy after `disable_sync/1`."
  @spec enable_sync(keyword()) :: :ok
  def enable_sync(opts \\ []), do: :lattice_repl.enable_sync(replicated(opts))

  @doc """
  Stops sending deltas and starting anti-entropy; local reads and writes go on, and incoming
  deltas are still merged. What is written meanwhile goes out on `enable_sync/1`.
  """
  @spec disable_sync(keyword()) :: :ok
  def disable_sync(opts \\ []), do: :lattice_repl.disable_sync(replicated(opts))

  @doc """
  Subscribes the caller to replication events: `{:lattice_repl, store, event}`, `event` one
  of `{:peer_up, node}`, `{:peer_down, node}`, `{:partition_healed, node, down_ms}`,
  `{:breaker_open, node}`, `{:breaker_closed, node}`, `{:peer_dropped, node}`,
  `{:diff, node, keys}`, `{:repaired, node, count}`.
  """
  @spec subscribe_replication(keyword()) :: reference()
  def subscribe_replication(opts \\ []), do: :lattice_repl.subscribe(replicated(opts))

  defp replicated(opts) do
    name = store(opts)

    case Process.whereis(:lattice_repl.name(name)) do
      nil ->
        raise ArgumentError,
              "Lattice.ContextStore: the store #{inspect(name)} has no replication running " <>
                "(started with replication: false, or not started)"

      _ ->
        name
    end
  end

  defp store(opts) when is_list(opts), do: Keyword.get(opts, :store, :lattice_store)

  defp store(opts) do
    raise ArgumentError,
          "Lattice.ContextStore: the options must be a keyword list, got: #{inspect(opts)}"
  end

  defp to_elixir(type, value) when type in @set_types, do: MapSet.new(value)
  defp to_elixir(:lww_register, :undefined), do: nil
  defp to_elixir(_, value), do: value
end
