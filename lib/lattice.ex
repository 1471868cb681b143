defmodule Lattice do
  @moduledoc """
  Replicated state for the BEAM: CRDTs, clocks and hashing, with the work done in C.

  Every value lattice hands out is plain data (a binary or an integer) that can be stored,
  sent to another node and compared with `===`: equal values are equal bytes on every node
  and OTP release. The modules:

    * `Lattice.Canonical` - the canonical byte form of data terms, for comparing, storing
      and hashing them.
    * `Lattice.VClock` - vector clocks.
    * `Lattice.DVV` - dotted version vectors (causal contexts).
    * `Lattice.GCounter` - grow-only counters (delta-state CRDT).
    * `Lattice.PNCounter` - counters that go up and down (delta-state CRDT).
    * `Lattice.LWWRegister` - a last-writer-wins register of one term (delta-state CRDT).
    * `Lattice.GSet` - grow-only sets of data terms (delta-state CRDT).
    * `Lattice.TwoPSet` - sets whose removed elements never come back (delta-state CRDT).
    * `Lattice.LWWSet` - last-writer-wins element sets, add- or remove-biased (delta-state
      CRDT).
    * `Lattice.ORSet` - add-wins observed-remove sets, without tombstones (delta-state
      CRDT).
    * `Lattice.LWWMap` - maps with add-wins keys and last-writer-wins values (delta-state
      CRDT).
    * `Lattice.MVRegister` - multi-value registers (delta-state CRDT).
    * `Lattice.Type` - what every CRDT type provides, and dispatch on a state's type.
    * `Lattice.Object` - CRDT states of every type updated in place, for a replicated
      store's hot path.
    * `Lattice.ContextStore` - a store of named CRDTs (counters, sets, registers, maps),
      read and written in the caller, with observed-remove delete.
    * `Lattice.HLC` - the node's hybrid logical clock.
    * `Lattice.Hash` - XXH3 hashes and digests of terms.
    * `Lattice.CNode` - the C node, a separate OS process that joins the cluster.

  Each is a thin layer over the Erlang module of the same concept (`:lattice_canon`,
  `:lattice_vclock`, `:lattice_orset`, ...), with the subject of each call first, as is the
  Elixir habit (Erlang puts it last).

  Every update names an actor: use `actor/0`, not `node()` (see there why).

  Errors come in three kinds: an `ArgumentError` for a caller's bug (a wrong type or shape),
  whose message says which argument is wrong and why; `{:error, {kind, reason}}` for bad
  data (a corrupt state, a timestamp too far ahead, a counter at its largest); and a raised
  exception for an internal failure such as running out of memory. docs/ERRORS.md lists
  them all.
  """

  @typedoc "The actor of `actor/0`: this node and its incarnation."
  @type actor :: {node(), non_neg_integer()}

  @doc """
  This node's actor for CRDT updates: `{node(), incarnation}`, the incarnation a random
  64-bit integer chosen once per start of the VM and the same for every process.

  Do not use `node()` alone as an actor. Each actor numbers its writes (dots) 1, 2, 3...; a
  node that restarts with fresh state under the same actor numbers its new writes from 1
  again. Its peers have seen those dots, so they drop its new adds, and worse: a delta or
  state carrying a dot the peer holds under another element makes the peer take that
  element for removed. After the next exchange of snapshots both nodes have lost elements.
  With `actor/0` the restarted node writes under a new actor and nothing is lost.

      iex> {node, incarnation} = Lattice.actor()
      iex> node == node() and is_integer(incarnation)
      true
      iex> Lattice.actor() == Lattice.actor()
      true
  """
  @spec actor() :: actor()
  def actor, do: :lattice.actor()

  @doc """
  The version of the lattice application, such as `"0.1.0"`.
  """
  @spec version() :: String.t()
  def version do
    # Loading is a no-op when the application is already loaded.
    _ = Application.load(:lattice)
    :lattice |> Application.spec(:vsn) |> to_string()
  end
end
