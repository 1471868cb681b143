defmodule Lattice.Cert do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  Node certificates and revocation lists signed by a cluster authority's Ed25519 key
  (docs/FORMAT.md): a certificate names the cluster, the node, its Ed25519 and X25519 public
  keys, a validity window (inclusive, seconds since the Unix epoch), a serial and the format
  version.

      iex> {:ok, auth} = Lattice.Crypto.keypair(:sign)
      iex> {:ok, node} = Lattice.Crypto.keypair(:sign)
      iex> {:ok, kx} = Lattice.Crypto.keypair(:kx)
      iex> cert = Lattice.Cert.issue(auth, %{cluster: "prod", node: "n1",
      ...>   sign_pub: Lattice.Crypto.public_key(node), kx_pub: Lattice.Crypto.public_key(kx),
      ...>   not_before: 100, not_after: 200, serial: 1})
      iex> {:ok, %{node: "n1"}} = Lattice.Cert.verify(cert, Lattice.Crypto.public_key(auth), :none, 150)
      iex> Lattice.Cert.verify(cert, Lattice.Crypto.public_key(auth), :none, 201)
      {:error, :expired}

  `verify/4` gives `{:ok, cert}` or `{:error, reason}`: `:malformed`, `:bad_signature`,
  `:not_yet_valid`, `:expired`, `:revoked`, or `{:revocation_list, reason}` for a list that
  does not verify. Delegates to `:lattice_cert`.
  """

  @typedoc "A certificate's fields."
  @type cert :: :lattice_cert.cert()
  @typedoc "A verified revocation list (opaque)."
  @type revocations :: :lattice_cert.revocations()

  @doc "The certificate of `fields`, signed by the authority's `:sign` key."
  @spec issue(Lattice.Crypto.key(), map()) :: binary()
  def issue(authority, fields), do: wrap(:lattice_cert.issue(authority, fields))

  @doc "The fields of a certificate, verifying nothing."
  @spec decode(binary()) :: {:ok, cert()} | {:error, :malformed}
  def decode(cert), do: wrap(:lattice_cert.decode(cert))

  @doc """
  Verifies a certificate at `now` (seconds) against the authority's public key and a
  revocation list (a binary, a verified list, or `:none`).
  """
  @spec verify(binary(), <<_::256>>, binary() | revocations() | :none, non_neg_integer()) ::
          {:ok, cert()} | {:error, :lattice_cert.reason()}
  def verify(cert, authority_pub, revocations, now),
    do: wrap(:lattice_cert.verify(cert, authority_pub, revocations, now))

  @doc "A revocation list of `fields` (cluster, sequence, issued_at, serials), signed."
  @spec revocation_list(Lattice.Crypto.key(), map()) :: binary()
  def revocation_list(authority, fields),
    do: wrap(:lattice_cert.revocation_list(authority, fields))

  @doc "Verifies a revocation list once, for many `verify/4` calls."
  @spec verify_revocation_list(binary(), <<_::256>>) ::
          {:ok, revocations()} | {:error, :malformed | :bad_signature}
  def verify_revocation_list(list, authority_pub),
    do: wrap(:lattice_cert.verify_revocation_list(list, authority_pub))

  @doc "Whether a verified revocation list names `serial`."
  @spec revoked?(revocations(), non_neg_integer()) :: boolean()
  def revoked?(revocations, serial), do: wrap(:lattice_cert.revoked(revocations, serial))

  @doc "The node's certificate counters."
  @spec stats() :: map()
  def stats, do: :lattice_cert.stats()
end
