defmodule Lattice.Quorum do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc ~S"""
  Quorum certificates: t-of-n Ed25519 signatures over a digest, weighed with a cap on any
  signer's share (15 % by default), checked against threshold levels (`:normal` 67 %,
  `:elevated` 75 %, `:high` 82 %, or an integer percentage) as strict inequalities in integer
  arithmetic; and self-contained evidence of equivocation.

      iex> keys = for i <- 1..4, do: {"n#{i}", elem(Lattice.Crypto.keypair(:sign), 1)}
      iex> set = Lattice.Quorum.new_set(for({id, k} <- keys, do: {id, Lattice.Crypto.public_key(k), 1}), %{cap: 100})
      iex> votes = for {id, k} <- Enum.take(keys, 3), do: Lattice.Quorum.vote(k, id, "shard", 1, "digest")
      iex> {:ok, qc} = Lattice.Quorum.certificate("shard", 1, "digest", votes)
      iex> {:ok, %{weight: 300}} = Lattice.Quorum.verify(qc, set, :normal)
      iex> Lattice.Quorum.verify(qc, set, :elevated)
      {:error, {:insufficient_weight, 300, 301}}

  Delegates to `:lattice_quorum` (its documentation describes the weights, the cap and the
  formats).
  """

  @typedoc "A signer set (opaque)."
  @type set :: :lattice_quorum.signer_set()
  @typedoc "A threshold level."
  @type level :: :normal | :elevated | :high | 1..99
  @typedoc "A signed vote."
  @type vote :: :lattice_quorum.vote()

  @doc "A signer set of `[{id, public_key, weight}]`; option `cap` (percent, default 15)."
  @spec new_set([{binary(), <<_::256>>, pos_integer()}], map()) :: set()
  def new_set(signers, opts \\ %{}), do: wrap(:lattice_quorum.new_set(signers, opts))

  @doc "The set's figures: signers, total, raw total, cap, the weight needed per level."
  @spec set_info(set()) :: map()
  def set_info(set), do: wrap(:lattice_quorum.set_info(set))

  @doc "The least effective weight that passes `level`."
  @spec needed(set(), level()) :: pos_integer()
  def needed(set, level), do: wrap(:lattice_quorum.needed(set, level))

  @doc "A signer's effective weight (after the cap), 0 for a stranger."
  @spec effective_weight(set(), binary()) :: non_neg_integer()
  def effective_weight(set, id), do: wrap(:lattice_quorum.effective_weight(set, id))

  @doc "`signer`'s vote for (`scope`, `sequence`, `digest`), signed with its `:sign` key."
  @spec vote(Lattice.Crypto.key(), binary(), binary(), non_neg_integer(), binary()) :: vote()
  def vote(key, signer, scope, sequence, digest),
    do: wrap(:lattice_quorum.vote(key, signer, scope, sequence, digest))

  @doc "Whether a vote is by a signer of the set, with a valid signature."
  @spec verify_vote(vote(), set()) :: :ok | {:error, term()}
  def verify_vote(vote, set), do: wrap(:lattice_quorum.verify_vote(vote, set))

  @doc "The canonical certificate of votes for one statement."
  @spec certificate(binary(), non_neg_integer(), binary(), [vote()]) ::
          {:ok, binary()} | {:error, term()}
  def certificate(scope, sequence, digest, votes),
    do: wrap(:lattice_quorum.certificate(scope, sequence, digest, votes))

  @doc "The contents of a certificate, verifying nothing."
  @spec decode(binary()) :: {:ok, map()} | {:error, term()}
  def decode(qc), do: wrap(:lattice_quorum.decode(qc))

  @doc "Verifies a certificate against a set at a level."
  @spec verify(binary(), set(), level()) :: {:ok, map()} | {:error, :lattice_quorum.reason()}
  def verify(qc, set, level), do: wrap(:lattice_quorum.verify(qc, set, level))

  @doc "Evidence from two conflicting votes of one signer for one (scope, sequence)."
  @spec equivocation(vote(), vote(), set()) :: {:ok, binary()} | {:error, term()}
  def equivocation(a, b, set), do: wrap(:lattice_quorum.equivocation(a, b, set))

  @doc "Checks equivocation evidence against a set."
  @spec verify_evidence(binary(), set()) :: {:ok, map()} | {:error, term()}
  def verify_evidence(evidence, set), do: wrap(:lattice_quorum.verify_evidence(evidence, set))

  @doc "A tracker of votes, to find equivocations."
  @spec new_tracker(set()) :: :lattice_quorum.tracker()
  def new_tracker(set), do: wrap(:lattice_quorum.new_tracker(set))

  @doc "Records a vote: `{:ok, tracker}`, `{:equivocation, evidence, tracker}` or an error."
  @spec observe(:lattice_quorum.tracker(), vote()) ::
          {:ok, :lattice_quorum.tracker()}
          | {:equivocation, binary(), :lattice_quorum.tracker()}
          | {:error, term()}
  def observe(tracker, vote), do: wrap(:lattice_quorum.observe(tracker, vote))

  @doc "The node's quorum counters."
  @spec stats() :: map()
  def stats, do: :lattice_quorum.stats()
end
