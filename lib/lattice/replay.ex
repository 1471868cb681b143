defmodule Lattice.Replay do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Anti-replay windows: for each sender, the greatest message counter accepted and a sliding
  bitmap of the counters just below it (RFC 6479's ring, as WireGuard keeps it), in C.

  A window of `bits` bits (a power of two, 1024..65536; 8192 by default) accepts a counter
  greater than any accepted yet, or one of the `bits - 64` counters below the greatest that was
  not accepted before; everything else is `{:error, :duplicate}` or `{:error, :too_old}`.
  `check/3` changes nothing; `update/3` checks again and marks the counter, so a receiver checks
  before it verifies a MAC and updates only after.

      iex> r = Lattice.Replay.new(%{bits: 1024})
      iex> Lattice.Replay.check(r, "node-a", 7)
      :ok
      iex> Lattice.Replay.update(r, "node-a", 7)
      :ok
      iex> Lattice.Replay.update(r, "node-a", 7)
      {:error, :duplicate}
      iex> Lattice.Replay.update(r, "node-a", 5000)
      :ok
      iex> Lattice.Replay.check(r, "node-a", 8)
      {:error, :too_old}

  A table is a node-local resource shared by the processes it is given to; its calls never make
  a normal scheduler wait for its lock. Delegates to `:lattice_replay`.
  """

  @typedoc "A table of windows (an opaque, node-local resource)."
  @type t :: :lattice_replay.replay()
  @typedoc "A sender's name, 1..255 bytes."
  @type sender :: binary()
  @typedoc "A message counter."
  @type counter :: 0..18_446_744_073_709_551_615

  @doc "A new table: `bits` per window (default 8192), at most `max_senders` (default 4096)."
  @spec new(%{optional(:bits) => pos_integer(), optional(:max_senders) => pos_integer()}) :: t()
  def new(opts \\ %{}), do: wrap(:lattice_replay.new(opts))

  @doc "Whether `counter` from `sender` would be accepted. Changes nothing."
  @spec check(t(), sender(), counter()) :: :ok | {:error, :duplicate | :too_old}
  def check(table, sender, counter), do: wrap(:lattice_replay.check(table, sender, counter))

  @doc "Accepts `counter` from `sender` when it is new; `{:error, :full}` for a new sender past the cap."
  @spec update(t(), sender(), counter()) :: :ok | {:error, :duplicate | :too_old | :full}
  def update(table, sender, counter), do: wrap(:lattice_replay.update(table, sender, counter))

  @doc "The greatest counter accepted from `sender`, or `:none`."
  @spec greatest(t(), sender()) :: {:ok, counter()} | :none
  def greatest(table, sender), do: wrap(:lattice_replay.greatest(table, sender))

  @doc "Drops `sender`'s window (its counters may start again); whether it had one."
  @spec forget(t(), sender()) :: boolean()
  def forget(table, sender), do: wrap(:lattice_replay.forget(table, sender))

  @doc "The table's sizes and counters."
  @spec info(t()) :: %{atom() => non_neg_integer()}
  def info(table), do: wrap(:lattice_replay.info(table))

  @doc "The node's replay counters, over every table."
  @spec stats() :: %{atom() => non_neg_integer()}
  def stats, do: :lattice_replay.stats()
end
