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
    * `Lattice.Type` - what every CRDT type provides, and dispatch on a state's type.
    * `Lattice.Object` - CRDT states updated in place, for a replicated store's hot path.
    * `Lattice.HLC` - the node's hybrid logical clock.
    * `Lattice.Hash` - XXH3 hashes and digests of terms.
    * `Lattice.CNode` - the C node, a separate OS process that joins the cluster.

  Each is a thin layer over the Erlang module of the same concept (`:lattice_canon`,
  `:lattice_vclock`, `:lattice_dvv`, `:lattice_hlc`, `:lattice_hash`), with the subject of
  each call first, as is the Elixir habit.

  Errors come in three kinds: an `ArgumentError` for a caller's bug (a wrong type or shape),
  `{:error, reason}` for bad data (a corrupt clock, a timestamp too far ahead), and a raised
  exception for an internal failure such as running out of memory.
  """

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
