defmodule Lattice.ChannelTest do
  use ExUnit.Case, async: true

  alias Lattice.Channel

  # A node of cluster "prod" (or extra[:cluster]): its X25519 key and a lattice_cert
  # certificate for it.
  defp node_opts(auth, name, serial, extra \\ []) do
    cluster = Keyword.get(extra, :cluster, "prod")
    {:ok, kx} = :lattice_crypto.keypair(:kx)
    {:ok, sign} = :lattice_crypto.keypair(:sign)
    now = System.system_time(:second)

    cert =
      :lattice_cert.issue(auth, %{
        cluster: cluster,
        node: name,
        sign_pub: :lattice_crypto.public_key(sign),
        kx_pub: :lattice_crypto.public_key(kx),
        not_before: now - 10,
        not_after: now + 600,
        serial: serial
      })

    Keyword.merge(
      [
        cluster: cluster,
        static: kx,
        certificate: cert,
        authority: :lattice_crypto.public_key(auth)
      ],
      extra
    )
  end

  defp connect(opts_a, opts_b) do
    {:ok, a, [m1]} = Channel.initiate(opts_a)
    {:ok, b} = Channel.respond(opts_b)

    with {:ok, b, [m2]} <- Channel.handle_handshake_message(b, m1),
         {:ok, a, [m3]} <- Channel.handle_handshake_message(a, m2),
         {:ok, b, []} <- Channel.handle_handshake_message(b, m3) do
      {:ok, a, b}
    end
  end

  setup do
    {:ok, auth} = :lattice_crypto.keypair(:sign)
    %{auth: auth}
  end

  test "ae_key: the same 32 bytes on both ends, another for another handshake", %{auth: auth} do
    {:ok, a, b} = connect(node_opts(auth, "n1", 1), node_opts(auth, "n2", 2))
    key = Channel.ae_key(a)
    assert <<_::256>> = key
    assert key == Channel.ae_key(b)
    {:ok, a2, _b2} = connect(node_opts(auth, "n1", 3), node_opts(auth, "n2", 4))
    assert Channel.ae_key(a2) != key
    {:ok, fresh, _} = Channel.initiate(node_opts(auth, "n1", 5))
    assert {:error, :not_established} = Channel.ae_key(fresh)
  end

  test "a handshake, then messages both ways", %{auth: auth} do
    {:ok, a, b} = connect(node_opts(auth, "n1", 1), node_opts(auth, "n2", 2))
    assert Channel.established?(a) and Channel.established?(b)
    assert %{node: "n2"} = Channel.peer(a)
    assert Channel.info(a).handshake_hash == Channel.info(b).handshake_hash

    {:ok, [msg], a} = Channel.encrypt(a, ["hel", "lo"])
    assert Channel.message_type(msg) == :data
    assert {:data, "hello", b} = Channel.handle(b, msg)
    assert {:error, :replay} = Channel.decrypt(b, msg)

    {:ok, [back], _b} = Channel.encrypt(b, "world")
    assert {:ok, "world", _a} = Channel.decrypt(a, back)
  end

  test "a revoked peer, another cluster, a peer of another authority", %{auth: auth} do
    now = System.system_time(:second)

    crl =
      :lattice_cert.revocation_list(auth, %{
        cluster: "prod",
        sequence: 1,
        issued_at: now,
        serials: [9]
      })

    assert {:error, {:bad_certificate, :revoked}} =
             connect(node_opts(auth, "n9", 9), node_opts(auth, "n2", 2, revocations: crl))

    assert {:error, :wrong_cluster} =
             connect(node_opts(auth, "n1", 1), node_opts(auth, "n2", 2, cluster: "test"))

    {:ok, rogue} = :lattice_crypto.keypair(:sign)

    assert {:error, {:bad_certificate, :bad_signature}} =
             connect(node_opts(auth, "n1", 1), node_opts(rogue, "n2", 2))
  end

  test "a rekey by message count keeps every message", %{auth: auth} do
    limits = [rekey_after_messages: 3, reject_after_messages: 10]
    {:ok, a, b} = connect(node_opts(auth, "n1", 1, limits), node_opts(auth, "n2", 2, limits))

    {a, b} =
      Enum.reduce(1..20, {a, b}, fn i, {a, b} ->
        {:ok, out, a} = Channel.encrypt(a, "m#{i}")

        Enum.reduce(out, {a, b}, fn m, {a, b} ->
          case Channel.handle(b, m) do
            {:data, plain, b} ->
              assert plain == "m#{i}"
              {a, b}

            {:handshake, [m2], b} ->
              {:handshake, [m3], a} = Channel.handle(a, m2)
              {:handshake, [], b} = Channel.handle(b, m3)
              {a, b}
          end
        end)
      end)

    assert Channel.info(a).epoch > 1
    assert Channel.info(a).epoch == Channel.info(b).epoch
    assert Channel.stats().rekeys > 0
  end

  test "wrong options and arguments raise ArgumentError", %{auth: auth} do
    assert_raise ArgumentError, ~r/Lattice.Channel.initiate\/1: .*cluster/, fn ->
      Channel.initiate(%{})
    end

    assert_raise ArgumentError, ~r/static/, fn ->
      Channel.respond(Keyword.put(node_opts(auth, "n1", 1), :static, "not a key"))
    end

    {:ok, ch} = Channel.respond(node_opts(auth, "n1", 1))

    assert_raise ArgumentError, ~r/Lattice.Channel.encrypt\/2: .*iodata/, fn ->
      Channel.encrypt(ch, [:atom])
    end

    assert_raise ArgumentError, ~r/not a channel/, fn -> Channel.decrypt(:nope, "x") end

    assert :ok = Channel.close(ch)

    assert_raise ArgumentError, ~r/Lattice.Channel.encrypt\/2: .*closed/, fn ->
      Channel.encrypt(ch, "x")
    end
  end
end
