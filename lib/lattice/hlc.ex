defmodule Lattice.HLC do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  The node's hybrid logical clock (Kulkarni et al., 2014).

  A timestamp is a non-negative integer: the physical time in milliseconds since the Unix
  epoch shifted left 16 bits, plus a 16-bit logical counter. Integer order is causal order,
  so timestamps compare with `<` and sort as integers.

  The clock is held in the NIF and advanced atomically from any process: `now/0` never
  returns the same timestamp twice on a node and never goes back, even when the wall clock
  steps back.

  `update/1` folds in a timestamp received from another node. A timestamp whose physical part
  is more than the maximum offset (`max_offset/0`; application env `:hlc_max_offset_ms`,
  default 500) ahead of this node's wall clock is refused with `{:error, {:clock_skew, ms}}`
  and does not move the clock, so one node with a broken clock cannot drag the cluster into
  the future.

  `pure_now/2` and `pure_update/4` are the same rules as functions of their inputs, for tests
  and simulations.

      iex> ts = Lattice.HLC.make(1_700_000_000_000, 3)
      iex> {Lattice.HLC.physical(ts), Lattice.HLC.logical(ts)}
      {1_700_000_000_000, 3}
      iex> Lattice.HLC.pure_now(ts, 1_699_999_999_000) |> Lattice.HLC.logical()
      4

  Arguments of the wrong type or out of range (not a non-negative integer, a timestamp of
  2^64 or more, a physical time of 2^48 ms or more, a logical part above 65535) raise
  `ArgumentError`.

  Delegates to `:lattice_hlc`.
  """

  @typedoc "A timestamp: `physical_ms <<< 16 ||| logical`."
  @type timestamp :: non_neg_integer()

  @typedoc "A remote clock too far ahead: by how many milliseconds."
  @type skew_error :: {:error, {:clock_skew, non_neg_integer()}}

  @doc "A new timestamp, greater than any this node has handed out or received."
  @spec now() :: timestamp()
  def now, do: wrap(:lattice_hlc.now())

  @doc """
  Receives a remote timestamp: the clock moves past it and the new timestamp is returned,
  unless the remote clock is too far ahead (`{:error, {:clock_skew, ms}}`, and the clock does
  not move).
  """
  @spec update(timestamp()) :: {:ok, timestamp()} | skew_error()
  def update(remote), do: wrap(:lattice_hlc.update(remote))

  @doc "The last timestamp handed out (0 before the first), without advancing the clock."
  @spec peek() :: timestamp()
  def peek, do: wrap(:lattice_hlc.peek())

  @doc "How timestamp `a` stands to `b`: `:lt`, `:eq` or `:gt`."
  @spec compare(timestamp(), timestamp()) :: :lt | :eq | :gt
  def compare(a, b), do: wrap(:lattice_hlc.compare(a, b))

  @doc "The physical part: milliseconds since the Unix epoch."
  @spec physical(timestamp()) :: non_neg_integer()
  def physical(ts), do: wrap(:lattice_hlc.physical(ts))

  @doc "The logical counter."
  @spec logical(timestamp()) :: 0..65535
  def logical(ts), do: wrap(:lattice_hlc.logical(ts))

  @doc "The timestamp with physical part `physical_ms` and logical counter `logical`."
  @spec make(non_neg_integer(), 0..65535) :: timestamp()
  def make(physical_ms, logical), do: wrap(:lattice_hlc.make(physical_ms, logical))

  @doc """
  The smallest timestamp at a physical time (logical 0): handy for "everything since".
  """
  @spec from_physical(non_neg_integer()) :: timestamp()
  def from_physical(physical_ms), do: wrap(:lattice_hlc.from_physical(physical_ms))

  @doc """
  The physical part in `unit`, as `System.system_time/1` counts.
  """
  @spec to_system_time(timestamp(), System.time_unit()) :: integer()
  def to_system_time(ts, unit), do: wrap(:lattice_hlc.to_system_time(ts, unit))

  @doc "How far ahead (ms) a remote timestamp may be before `update/1` refuses it."
  @spec max_offset() :: non_neg_integer()
  def max_offset, do: wrap(:lattice_hlc.max_offset())

  @doc """
  Sets how far ahead (ms) a remote timestamp may be before `update/1` refuses it. The setting
  is for the whole node.
  """
  @spec set_max_offset(non_neg_integer()) :: :ok
  def set_max_offset(ms), do: wrap(:lattice_hlc.set_max_offset(ms))

  @doc "The timestamp after `last` at wall-clock time `physical_ms`."
  @spec pure_now(timestamp(), non_neg_integer()) :: timestamp()
  def pure_now(last, physical_ms), do: wrap(:lattice_hlc.pure_now(last, physical_ms))

  @doc """
  The timestamp after `last` on receiving `remote` at wall-clock time `physical_ms`, or
  `{:error, {:clock_skew, ms}}` when `remote` is more than `max_offset_ms` ahead.
  """
  @spec pure_update(timestamp(), timestamp(), non_neg_integer(), non_neg_integer()) ::
          {:ok, timestamp()} | skew_error()
  def pure_update(last, remote, physical_ms, max_offset_ms),
    do: wrap(:lattice_hlc.pure_update(last, remote, physical_ms, max_offset_ms))
end
