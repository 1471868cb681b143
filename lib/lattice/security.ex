defmodule Lattice.Security do
  import Lattice.Error, only: [wrap: 1]

  @moduledoc """
  This node's security configuration for secure replication (docs/REPLICATION.md, "Secure
  replication"): the cluster's name, the authority's Ed25519 public key, this node's
  certificate (`Lattice.Cert`) and its `:sign` and `:kx` keys (`Lattice.Crypto` keys,
  `{:sealed, bin, passphrase}` from `Lattice.Crypto.export_secret/2,3`, or
  `{:file, path, passphrase}`), and the authority's revocation list.

  It comes from the application environment (`config :lattice, security: %{...}`), read at
  its first use, or from `configure/1`. A store replicated with `replication: %{secure: true}`
  needs it. A map of the wrong shape raises `ArgumentError` saying which key is wrong;
  contents that do not hold together give `{:error, {:bad_security, reason}}`.

  Delegates to `:lattice_security`.
  """

  @typedoc "The configuration as kept (keys as `Lattice.Crypto` keys)."
  @type config :: :lattice_security.config()

  @doc """
  Sets or replaces the configuration: keys `:cluster`, `:authority`, `:certificate`,
  `:sign_key`, `:kx_key`, and optionally `:revocations` and `:channel` (`Lattice.Channel`
  limits).
  """
  @spec configure(map()) :: :ok | {:error, {:bad_security, term()}}
  def configure(config), do: wrap(:lattice_security.configure(config))

  @doc "Forgets the configuration (secure stores cut every peer off at their next tick)."
  @spec clear() :: :ok
  def clear, do: :lattice_security.clear()

  @doc "The configuration, or `{:error, :not_configured}`."
  @spec config() :: {:ok, config()} | {:error, :not_configured | {:bad_security, term()}}
  def config, do: :lattice_security.config()

  @doc "Whether a configuration is set."
  @spec configured?() :: boolean()
  def configured?, do: :lattice_security.is_configured()

  @doc """
  A newer revocation list, signed by the authority for this cluster: secure stores cut
  revoked peers off at their next tick and forward it to their peers. An older or equal
  sequence is `{:error, {:bad_security, :stale_revocations}}`.
  """
  @spec set_revocations(binary()) :: :ok | {:error, {:bad_security, term()}}
  def set_revocations(list), do: wrap(:lattice_security.set_revocations(list))

  @doc "The current revocation list (as signed), or `:none`."
  @spec revocations() :: :none | binary()
  def revocations, do: :lattice_security.revocations()

  @doc "The current revocation list's sequence: -1 without one, `:undefined` unconfigured."
  @spec revocation_sequence() :: integer() | :undefined
  def revocation_sequence, do: :lattice_security.revocation_sequence()
end
