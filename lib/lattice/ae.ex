defmodule Lattice.AE do
  @moduledoc """
  Anti-entropy for owners: a thin facade over the Erlang module `:lattice_ae`.

  A *store* is a named keyspace of leaves, `key => digest` (a binary key of 1..4096 bytes, a
  16-byte value digest). Its *owner* is any process that opens it, feeds it leaves and
  receives the differences. The leaves live in this node's C node (`priv/lattice_cnode`,
  supervised by the application while the node is distributed), which runs sessions with the
  C nodes of peer nodes and reports the keys that differ. `:lattice_ae` keeps the owner's
  record of leaves in an ETS table and feeds a restarted C node again, so nothing is lost.

      :ok = Lattice.AE.open(:users)
      :ok = Lattice.AE.put(:users, [{"alice", digest_a}, {"bob", digest_b}])
      :ok = Lattice.AE.sync(:users, :"b@host")

      receive do
        {:lattice_ae, :session, :users, %{result: :differ, keys: keys, node: peer}} ->
          # keys: [{key, :differs | :local_only | :remote_only}]; send peer our states
          # of the :differs and :local_only keys, expect its :remote_only ones
          keys
      end

  Messages sent to the owner:

    * `{:lattice_ae, :session, store, report}` at the end of every session, on both sides.
      `report` is the C node's report (`docs/CNODE.md`): `:result` (`:equal`, `:differ` or
      `{:error, reason}`), `:keys`, `:role` (`:initiator` or `:responder`), `:round_trips`,
      `:bytes_out`, `:bytes_in`, `:time_us`, ..., and `:node`, the peer's BEAM node.
    * `{:lattice_ae, :cnode_down, store, reason}` and `{:lattice_ae, :cnode_up, store,
      incarnation}` when this node's C node goes away and when a new one holds the store
      again.

  Options of `open/2` (a map): `:owner` (default `self()`), `:levels` (1..6, default 4),
  `:batch_bytes`, `:batch_ms` (default 5), `:sync_interval` (ms or `:infinity`, the default),
  `:peers` (a list of nodes, or `:connected`, the default), `:session_timeout` (ms).
  """

  @typedoc "A store's name: an atom or a binary of 1..255 bytes."
  @type store :: :lattice_ae.store()

  @typedoc "A leaf's key: a binary of 1..4096 bytes."
  @type key :: binary()

  @typedoc "A value's 128-bit digest: 16 bytes."
  @type digest :: <<_::128>>

  @typedoc "A differing key and which side holds it."
  @type diff :: {key(), :differs | :local_only | :remote_only}

  @typedoc "A session's report (see the module doc)."
  @type report :: :lattice_ae.report()

  @doc "Opens `store` with the caller (or `opts.owner`) as its owner."
  @spec open(store(), map()) :: :ok | {:error, term()}
  def open(store, opts \\ %{}), do: :lattice_ae.open(store, opts)

  @doc "Closes `store`: the C node drops its tree, the owner's table is deleted."
  @spec close(store()) :: :ok | {:error, :not_open}
  def close(store), do: :lattice_ae.close(store)

  @doc """
  Sets leaves, `[{key, digest}]`. Raises `ArgumentError` for a key or digest of the wrong
  shape.
  """
  @spec put(store(), [{key(), digest()}]) :: :ok | {:error, :not_open}
  def put(store, entries), do: :lattice_ae.put(store, entries)

  @doc "Removes the leaves of `keys`. Raises `ArgumentError` for a key of the wrong shape."
  @spec delete(store(), [key()]) :: :ok | {:error, :not_open}
  def delete(store, keys), do: :lattice_ae.delete(store, keys)

  @doc "Sets and removes leaves in order: `[{key, digest} | {key, :delete}]`."
  @spec update(store(), [{key(), digest() | :delete}]) :: :ok | {:error, :not_open}
  def update(store, changes), do: :lattice_ae.update(store, changes)

  @doc "The digest of `key` as the owner last set it."
  @spec lookup(store(), key()) :: {:ok, digest()} | :error | {:error, :not_open}
  def lookup(store, key), do: :lattice_ae.lookup(store, key)

  @doc "The ETS table of the store's leaves, `{key, digest}`, readable by any process."
  @spec leaves(store()) :: {:ok, :ets.tid()} | {:error, :not_open}
  def leaves(store), do: :lattice_ae.leaves(store)

  @doc """
  Sends the pending changes and waits until the C node has applied them; returns its root,
  `%{hash: <<_::128>>, count: n}`.
  """
  @spec flush(store(), timeout()) :: {:ok, map()} | {:error, term()}
  def flush(store, timeout \\ 60_000), do: :lattice_ae.flush(store, timeout)

  @doc """
  Starts a session with the BEAM node `peer`, which must have `store` open. Returns at once;
  the owner is sent the report.
  """
  @spec sync(store(), node()) :: :ok | {:error, term()}
  def sync(store, peer), do: :lattice_ae.sync(store, peer)

  @doc """
  For an owner: waits for the report of the next session with `peer` that this node started.
  `{:ok, keys, report}` or `{:error, reason, report}`; `{:error, :timeout}` when none came.
  """
  @spec await(store(), node(), timeout()) ::
          {:ok, [diff()], report()} | {:error, term(), report()} | {:error, :timeout}
  def await(store, peer, timeout \\ 30_000), do: :lattice_ae.await(store, peer, timeout)

  @doc "What `:lattice_ae` knows of `store`: leaves, pending changes, sessions, C node."
  @spec info(store()) :: {:ok, map()} | {:error, :not_open}
  def info(store), do: :lattice_ae.info(store)

  @doc "The C node's stats: limits, counters, gauges, breakers."
  @spec cnode_stats() :: {:ok, map()} | {:error, term()}
  def cnode_stats, do: :lattice_ae.cnode_stats()

  @doc """
  Gives this node's C node a 32-byte key for the sessions of `store` with the C node of `peer`
  (a BEAM node): every session message between them is then sealed (`docs/CNODE.md`, section
  3a). Use `Lattice.Channel.ae_key/1` of the channel with `peer`, on both nodes.
  """
  @spec set_peer_key(store(), node(), <<_::256>>) :: :ok | {:error, :not_open}
  def set_peer_key(store, peer, key), do: :lattice_ae.set_peer_key(store, peer, key)

  @doc "Forgets the key of `peer` for `store`."
  @spec clear_peer_key(store(), node()) :: :ok | {:error, :not_open}
  def clear_peer_key(store, peer), do: :lattice_ae.clear_peer_key(store, peer)

  @doc "The peers of `store` with a key, and their C nodes once known (not the keys)."
  @spec peer_keys(store()) :: {:ok, %{node() => node() | :undefined}} | {:error, :not_open}
  def peer_keys(store), do: :lattice_ae.peer_keys(store)

  @doc "Changes the C node's limits at run time (`docs/CNODE.md`, section 5)."
  @spec set_limits(%{atom() => integer()}) :: :ok | {:error, term()}
  def set_limits(limits), do: :lattice_ae.set_limits(limits)
end
