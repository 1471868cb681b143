defmodule Lattice.VClock do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Vector clocks as canonical binaries.

  A clock maps actors (any data term, see `Lattice.Canonical`) to counters; an absent actor
  has counter 0. The clock is a binary: equal clocks are byte-identical on every node, so
  `===` is equality, and a clock can be stored, sent and hashed as it is. All the work is
  done in C, and large clocks never hold a scheduler.

      iex> alias Lattice.VClock
      iex> alice = Lattice.actor()
      iex> bob = {:bob@host, 1}
      iex> carol = {:carol@host, 1}
      iex> a = VClock.new() |> VClock.increment(alice)
      iex> b = a |> VClock.increment(bob)
      iex> VClock.compare(a, b)
      :lt
      iex> c = a |> VClock.increment(carol)
      iex> VClock.compare(b, c)
      :concurrent
      iex> VClock.merge(b, c) |> VClock.to_list() == Enum.sort([{alice, 1}, {bob, 1}, {carol, 1}])
      true

  ## Errors

    * A caller's bug - an argument of the wrong type, such as a clock that is not a binary,
      an actor that is not data (a pid, a reference, a fun) or a counter out of range -
      raises `ArgumentError`.
    * A binary that is not a valid clock gives `{:error, {:bad_vclock, reason}}`, where
      `reason` is an atom such as `:truncated` or `:wrong_type`.
    * `increment/2,3` gives `{:error, {:overflow, :counter}}` when a counter would reach 2^64.

  Every call checks the clock's structure (bounds, order, counters); `validate/1` also checks
  each actor's canonical bytes and is the check to run on clocks received from elsewhere.

  Delegates to `:lattice_vclock`, with the clock as the first argument.
  """

  @typedoc "A vector clock: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "A counter: below 2^64."
  @type counter :: non_neg_integer()

  @typedoc "How one clock stands to another."
  @type order :: :eq | :lt | :gt | :concurrent

  @typedoc "A binary that is not a valid clock."
  @type error :: {:error, {:bad_vclock, atom()}}

  @doc "The empty clock."
  @spec new() :: t()
  def new, do: wrap(:lattice_vclock.new())

  @doc """
  A clock from `[{actor, counter}]`.

  Counters of 0 are left out. An actor given twice, a negative counter or one of 2^64 or
  more raises `ArgumentError`.
  """
  @spec from_list([{actor(), counter()}]) :: t()
  def from_list(list), do: wrap(:lattice_vclock.from_list(list))

  @doc "The clock's entries, sorted by actor in Erlang term order."
  @spec to_list(t()) :: [{actor(), pos_integer()}] | error()
  def to_list(clock), do: wrap(:lattice_vclock.to_list(clock))

  @doc "Adds 1 to `actor`'s counter."
  @spec increment(t(), actor()) :: t() | error() | {:error, {:overflow, :counter}}
  def increment(clock, actor), do: wrap(:lattice_vclock.increment(actor, clock))

  @doc """
  Adds `by`, a positive integer, to `actor`'s counter.

  A `by` that is not a positive integer below 2^64 raises `ArgumentError`.
  """
  @spec increment(t(), actor(), pos_integer()) :: t() | error() | {:error, {:overflow, :counter}}
  def increment(clock, actor, by), do: wrap(:lattice_vclock.increment(actor, by, clock))

  @doc "`actor`'s counter, 0 when absent."
  @spec get(t(), actor()) :: counter() | error()
  def get(clock, actor), do: wrap(:lattice_vclock.get(actor, clock))

  @doc "The merge of a list of clocks (`new/0` for the empty list)."
  @spec merge([t()]) :: t() | error()
  def merge(clocks), do: wrap(:lattice_vclock.merge(clocks))

  @doc "The least clock that descends from both: the pointwise maximum."
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_vclock.merge(a, b))

  @doc """
  How `a` stands to `b`: `:eq`, `:lt` (`b` has seen all `a` has, and more), `:gt`, or
  `:concurrent`.
  """
  @spec compare(t(), t()) :: order() | error()
  def compare(a, b), do: wrap(:lattice_vclock.compare(a, b))

  @doc "Whether `a` has seen everything `b` has (`a >= b`)."
  @spec descends?(t(), t()) :: boolean() | error()
  def descends?(a, b), do: wrap(:lattice_vclock.descends(a, b))

  @doc "Whether `a` has seen everything `b` has, and more (`a > b`)."
  @spec dominates?(t(), t()) :: boolean() | error()
  def dominates?(a, b), do: wrap(:lattice_vclock.dominates(a, b))

  @doc """
  The clock without the given actors' entries.

  For actors retired from the cluster, once no replica will send their entries again: a
  pruned entry that comes back through a merge is simply present again.
  """
  @spec prune(t(), [actor()]) :: t() | error()
  def prune(clock, actors), do: wrap(:lattice_vclock.prune(actors, clock))

  @doc "The number of actors with a non-zero counter."
  @spec size(t()) :: non_neg_integer() | error()
  def size(clock), do: wrap(:lattice_vclock.size(clock))

  @doc """
  Checks every rule of the format, including that each actor is canonical. Run it on clocks
  that come from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(clock), do: wrap(:lattice_vclock.validate(clock))
end
