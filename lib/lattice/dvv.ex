defmodule Lattice.DVV do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Dotted version vectors: a causal context made of a version vector plus the dots seen
  outside it (the causal context of Almeida et al.'s delta CRDTs).

  A dot `{actor, n}` (`n >= 1`) names the n-th event of an actor. A context is a set of dots,
  stored as, per actor, a base `b` (all dots `1..b`) and the dots above `b + 1` seen out of
  order. The stored form is always compact, because equal contexts must be equal bytes.

      iex> alias Lattice.DVV
      iex> alice = Lattice.actor()
      iex> {dot, ctx} = DVV.new() |> DVV.event(alice)
      iex> dot == {alice, 1}
      true
      iex> ctx = DVV.add(ctx, {alice, 3})
      iex> {DVV.contains?(ctx, {alice, 2}), DVV.contains?(ctx, {alice, 3})}
      {false, true}
      iex> ctx |> DVV.add({alice, 2}) |> DVV.to_list() == {[{alice, 3}], []}
      true

  ## Errors

    * A caller's bug (a context that is not a binary, an actor that is not data, a counter
      below 1 or of 2^64 or more, a dot that is not an `{actor, n}` tuple, a `from_list/1`
      argument that is not a pair of lists) raises `ArgumentError`.
    * A binary that is not a valid context gives `{:error, {:bad_dvv, reason}}`.
    * `event/2` gives `{:error, {:overflow, :counter}}` when the actor's counter is at 2^64 - 1.

  Delegates to `:lattice_dvv`, with the context as the first argument.
  """

  @typedoc "A causal context: an opaque, canonical binary."
  @type t :: binary()

  @typedoc "An actor: any data term (see `Lattice.Canonical`)."
  @type actor :: term()

  @typedoc "The n-th event of an actor."
  @type dot :: {actor(), pos_integer()}

  @typedoc "A binary that is not a valid context."
  @type error :: {:error, {:bad_dvv, atom()}}

  @doc "The empty context."
  @spec new() :: t()
  def new, do: wrap(:lattice_dvv.new())

  @doc """
  A context from a version vector `[{actor, base}]` (dots `1..base`) and extra dots
  `[{actor, n}]`, in any order and overlapping as they please.
  """
  @spec from_list({[{actor(), non_neg_integer()}], [dot()]}) :: t()
  def from_list(lists), do: wrap(:lattice_dvv.from_list(lists))

  @doc "`{version_vector, dots}`: the compact form, actors in Erlang term order."
  @spec to_list(t()) :: {[{actor(), pos_integer()}], [dot()]} | error()
  def to_list(dvv), do: wrap(:lattice_dvv.to_list(dvv))

  @doc "The context with one more dot."
  @spec add(t(), dot()) :: t() | error()
  def add(dvv, dot), do: wrap(:lattice_dvv.add(dot, dvv))

  @doc """
  A new event of `actor`: its next dot (one above the highest it has) and the context with
  that dot added.
  """
  @spec event(t(), actor()) :: {dot(), t()} | error() | {:error, {:overflow, :counter}}
  def event(dvv, actor), do: wrap(:lattice_dvv.event(actor, dvv))

  @doc "Whether the context holds `dot`."
  @spec contains?(t(), dot()) :: boolean() | error()
  def contains?(dvv, dot), do: wrap(:lattice_dvv.contains(dot, dvv))

  @doc "The highest counter among `actor`'s dots (0 when it has none)."
  @spec counter(t(), actor()) :: non_neg_integer() | error()
  def counter(dvv, actor), do: wrap(:lattice_dvv.counter(actor, dvv))

  @doc "The context holding the dots of all the given contexts (`new/0` for none)."
  @spec merge([t()]) :: t() | error()
  def merge(dvvs), do: wrap(:lattice_dvv.merge(dvvs))

  @doc "The context holding the dots of both."
  @spec merge(t(), t()) :: t() | error()
  def merge(a, b), do: wrap(:lattice_dvv.merge(a, b))

  @doc "Whether `a` holds every dot of `b`."
  @spec descends?(t(), t()) :: boolean() | error()
  def descends?(a, b), do: wrap(:lattice_dvv.descends(a, b))

  @doc """
  Checks every rule of the format, including canonical actors. Run it on contexts that come
  from elsewhere.
  """
  @spec validate(t()) :: :ok | error()
  def validate(dvv), do: wrap(:lattice_dvv.validate(dvv))
end
