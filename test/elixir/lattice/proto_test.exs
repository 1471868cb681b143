defmodule Lattice.ProtoTest do
  use ExUnit.Case, async: true

  alias Lattice.{Cert, Crypto, Envelope, Keyring, Quorum, Replay}

  doctest Replay
  doctest Keyring
  doctest Envelope
  doctest Cert
  doctest Quorum

  defp flip(bin, i) do
    <<pre::binary-size(i), b, post::binary>> = bin
    <<pre::binary, Bitwise.bxor(b, 1), post::binary>>
  end

  test "envelopes: a signed round trip, every byte changed is refused, the window moves once" do
    {:ok, master} = Crypto.secret_key()
    {:ok, sk} = Crypto.keypair(:sign)
    kr = Keyring.new(master)
    r = Replay.new()
    signers = %{"n1" => Crypto.public_key(sk)}
    env = Envelope.seal(["io", "data"], kr, "n1", 5, %{sign: sk})

    for i <- 0..(byte_size(env) - 1) do
      assert {:error, _} = Envelope.open(flip(env, i), kr, r, %{signers: signers})
    end

    assert {:ok, "iodata", %{signed: true, counter: 5}} =
             Envelope.open(env, kr, r, %{signers: signers})

    assert Envelope.open(env, kr, r, %{signers: signers}) == {:error, :replay}
    assert {:ok, %{sender: "n1"}} = Envelope.peek(env)
  end

  test "key versions: retired keys open during their grace, then expire" do
    now = :atomics.new(1, signed: true)
    clock = fn -> :atomics.get(now, 1) end
    {:ok, master} = Crypto.secret_key()
    kr = Keyring.new(master, %{schedule: :local, profile: :session, clock: clock})
    old = Envelope.seal("v1", kr, "n", 1)
    kr2 = Keyring.rotate(kr)
    assert {:ok, "v1", %{key_version: 1}} = Envelope.open(old, kr2, Replay.new())
    :atomics.put(now, 1, 5 * 60_000)
    assert Envelope.open(old, kr2, Replay.new()) == {:error, :expired}
    assert Keyring.info(kr2).rotations == 1
  end

  test "ephemeral keyrings: installed keys open across keyrings, others do not" do
    {:ok, shared} = Crypto.aead_key(:xchacha20poly1305)
    a = Keyring.install(Keyring.ephemeral(), 3, shared)
    b = Keyring.install(Keyring.ephemeral(), 3, shared)
    env = Envelope.seal("x", a, "a", 1)
    assert {:ok, "x", %{key_version: 3}} = Envelope.open(env, b, Replay.new())
    assert Envelope.open(env, Keyring.ephemeral(), Replay.new()) == {:error, :unknown_key}

    assert_raise ArgumentError, ~r/Lattice.Keyring.install\/3: the version must be/, fn ->
      Keyring.install(a, 3, shared)
    end
  end

  test "certificates: revoked and expired" do
    {:ok, auth} = Crypto.keypair(:sign)
    {:ok, node} = Crypto.keypair(:sign)
    {:ok, kx} = Crypto.keypair(:kx)
    pub = Crypto.public_key(auth)

    fields = %{
      cluster: "c",
      node: "n",
      sign_pub: Crypto.public_key(node),
      kx_pub: Crypto.public_key(kx),
      not_before: 10,
      not_after: 20,
      serial: 3
    }

    cert = Cert.issue(auth, fields)
    crl = Cert.revocation_list(auth, %{cluster: "c", sequence: 1, issued_at: 1, serials: [3]})
    assert Cert.verify(cert, pub, crl, 15) == {:error, :revoked}
    assert Cert.verify(cert, pub, :none, 9) == {:error, :not_yet_valid}
    assert {:ok, revs} = Cert.verify_revocation_list(crl, pub)
    assert Cert.revoked?(revs, 3)

    for i <- 0..(byte_size(cert) - 1) do
      assert {:error, _} = Cert.verify(flip(cert, i), pub, :none, 15)
    end
  end

  test "quorum: duplicate signers, forgeries, equivocation evidence" do
    keys = for i <- 1..3, do: {"n#{i}", elem(Crypto.keypair(:sign), 1)}
    set = Quorum.new_set(for({id, k} <- keys, do: {id, Crypto.public_key(k), 1}), %{cap: 100})
    [{id1, k1} | _] = keys
    v = Quorum.vote(k1, id1, "s", 1, "a")
    assert Quorum.certificate("s", 1, "a", [v, v]) == {:error, {:duplicate_signer, "n1"}}
    {:ok, qc} = Quorum.certificate("s", 1, "a", [%{v | signer: "n2"}])
    assert Quorum.verify(qc, set, :normal) == {:error, {:bad_signature, "n2"}}
    w = Quorum.vote(k1, id1, "s", 1, "b")
    {:ok, ev} = Quorum.equivocation(v, w, set)
    assert {:ok, %{signer: "n1", digests: ["a", "b"]}} = Quorum.verify_evidence(ev, set)
    tracker = Quorum.new_tracker(set)
    {:ok, tracker} = Quorum.observe(tracker, v)
    assert {:equivocation, ^ev, _} = Quorum.observe(tracker, w)
  end

  test "caller errors raise ArgumentError naming the facade function and the argument" do
    {:ok, kx} = Crypto.keypair(:kx)

    assert_raise ArgumentError, ~r/Lattice.Replay.new\/1: bits must be a power of two/, fn ->
      Replay.new(%{bits: 1000})
    end

    assert_raise ArgumentError, ~r/Lattice.Keyring.new\/2: the master key must be a secret/, fn ->
      Keyring.new(kx)
    end

    assert_raise ArgumentError, ~r/Lattice.Quorum.needed\/2: the level must be/, fn ->
      keys = [{"a", <<0::256>>, 1}]
      Quorum.needed(Quorum.new_set(keys), 100)
    end

    assert_raise ArgumentError,
                 ~r/Lattice.Cert.issue\/2: the authority key must be a sign key/,
                 fn -> Cert.issue(kx, %{}) end
  end

  test "stats" do
    assert %{sealed: _, opened: _, failed: %{bad_mac: _}} = Envelope.stats()
    assert %{rotations: _} = Keyring.stats()
    assert %{verified: _, failed: %{revoked: _}} = Cert.stats()
    assert %{verified: _, failed: %{insufficient_weight: _}} = Quorum.stats()
    assert %{accepted: _, duplicates: _} = Replay.stats()
  end
end
