defmodule Lattice.SecurityTest do
  use ExUnit.Case, async: false

  @cluster "ex-cluster"

  setup do
    {:ok, auth} = Lattice.Crypto.keypair(:sign)
    {:ok, sign} = Lattice.Crypto.keypair(:sign)
    {:ok, kx} = Lattice.Crypto.keypair(:kx)
    now = System.system_time(:second)

    cert =
      Lattice.Cert.issue(auth, %{
        cluster: @cluster,
        node: Atom.to_string(node()),
        sign_pub: Lattice.Crypto.public_key(sign),
        kx_pub: Lattice.Crypto.public_key(kx),
        not_before: now - 60,
        not_after: now + 3600,
        serial: 3
      })

    on_exit(fn -> Lattice.Security.clear() end)

    %{
      auth: auth,
      config: %{
        cluster: @cluster,
        authority: Lattice.Crypto.public_key(auth),
        certificate: cert,
        sign_key: sign,
        kx_key: kx
      }
    }
  end

  test "configure, revocations forward only", %{auth: auth, config: config} do
    assert :ok = Lattice.Security.configure(config)
    assert Lattice.Security.configured?()
    assert -1 == Lattice.Security.revocation_sequence()

    list = fn seq, serials ->
      Lattice.Cert.revocation_list(auth, %{
        cluster: @cluster,
        sequence: seq,
        issued_at: System.system_time(:second),
        serials: serials
      })
    end

    assert :ok = Lattice.Security.set_revocations(list.(4, [99]))
    assert 4 == Lattice.Security.revocation_sequence()

    assert {:error, {:bad_security, :stale_revocations}} =
             Lattice.Security.set_revocations(list.(3, []))

    assert {:error, {:bad_security, {:certificate, :revoked}}} =
             Lattice.Security.configure(Map.put(config, :revocations, list.(5, [3])))

    :ok = Lattice.Security.clear()
    assert {:error, :not_configured} = Lattice.Security.config()
  end

  test "a wrong shape raises ArgumentError naming the key", %{config: config} do
    assert_raise ArgumentError, ~r/kx_key is required/, fn ->
      Lattice.Security.configure(Map.delete(config, :kx_key))
    end

    assert_raise ArgumentError, ~r/cluster is not a binary/, fn ->
      Lattice.Security.configure(%{config | cluster: 1})
    end
  end
end
