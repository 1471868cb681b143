defmodule Lattice.CryptoTest do
  use ExUnit.Case, async: true

  alias Lattice.Crypto

  doctest Crypto

  test "Ed25519 keys interoperate with OTP's :crypto both ways" do
    {pub, seed} = :crypto.generate_key(:eddsa, :ed25519)
    {:ok, key} = Crypto.from_seed(seed)
    assert Crypto.public_key(key) == pub
    sig = Crypto.sign(key, ["io", "data"])
    assert :crypto.verify(:eddsa, :none, "iodata", sig, [pub, :ed25519])
    assert Crypto.verify(pub, "iodata", :crypto.sign(:eddsa, :none, "iodata", [seed, :ed25519]))
    assert Crypto.to_seed(key) == seed
    refute Crypto.verify(pub, "iodatb", sig)
  end

  test "AEAD: every single-byte change is refused, and tags are whole" do
    {:ok, key} = Crypto.aead_key(:chacha20poly1305, :binary.copy(<<7>>, 32))
    nonce = :binary.copy(<<1>>, 12)
    sealed = Crypto.aead_seal(key, nonce, "ad", "plaintext")
    assert byte_size(sealed) == 9 + 16

    for i <- 0..(byte_size(sealed) - 1) do
      <<pre::binary-size(i), b, post::binary>> = sealed

      assert Crypto.aead_open(key, nonce, "ad", <<pre::binary, Bitwise.bxor(b, 1), post::binary>>) ==
               {:error, :bad_mac}
    end

    assert Crypto.aead_open(key, nonce, "ad", binary_part(sealed, 0, 20)) == {:error, :bad_mac}

    {c, t} =
      :crypto.crypto_one_time_aead(
        :chacha20_poly1305,
        :binary.copy(<<7>>, 32),
        nonce,
        "plaintext",
        "ad",
        true
      )

    assert sealed == c <> t
  end

  test "AES-256-GCM runs on x86-64" do
    if :erlang.system_info(:system_architecture)
       |> to_string()
       |> String.starts_with?("x86_64") do
      assert {:ok, _} = Crypto.aead_key(:aes256gcm)
    end
  end

  test "kdf, kx, HMAC, BLAKE2b, Argon2id" do
    {:ok, a} = Crypto.keypair(:kx)
    {:ok, b} = Crypto.keypair(:kx)
    {:ok, sa} = Crypto.kx_shared(a, Crypto.public_key(b))
    {:ok, sb} = Crypto.kx_shared(b, Crypto.public_key(a))
    {:ok, ka} = Crypto.kdf(sa, 1, "channel!", :xchacha20poly1305)
    {:ok, kb} = Crypto.kdf(sb, 1, "channel!", :xchacha20poly1305)
    nonce = Crypto.aead_nonce(ka)
    assert {:ok, "hi"} = Crypto.aead_open(kb, nonce, "", Crypto.aead_seal(ka, nonce, "", "hi"))
    assert Crypto.kx_shared(a, <<0::256>>) == {:error, :weak_public_key}

    assert Crypto.hmac(:sha256, "Jefe", "what do ya want for nothing?") ==
             Base.decode16!("5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843")

    state = Crypto.hmac_init(:sha512, "k") |> Crypto.hmac_update("da") |> Crypto.hmac_update("ta")
    assert Crypto.hmac_final(state) == :crypto.mac(:hmac, :sha512, "k", "data")
    assert Crypto.blake2b("abc", %{size: 64}) == :crypto.hash(:blake2b, "abc")

    st = Crypto.blake2b_init() |> Crypto.blake2b_update("a") |> Crypto.blake2b_update("bc")
    assert Crypto.blake2b_final(st) == Crypto.blake2b("abc")
    assert byte_size(Crypto.argon2id("pw", <<0::128>>, %{ops: 1, mem: 8192})) == 32
    assert Crypto.equal("abc", "abc")
    refute Crypto.equal("abc", "abd")
    assert byte_size(Crypto.random_bytes(17)) == 17
  end

  test "the sealed export" do
    {:ok, key} = Crypto.keypair(:sign)
    sealed = Crypto.export_secret(key, "passphrase", %{ops: 1, mem: 8192})
    {:ok, again} = Crypto.import_secret(sealed, "passphrase")
    assert Crypto.public_key(again) == Crypto.public_key(key)
    assert Crypto.import_secret(sealed, "wrong") == {:error, :bad_passphrase}
    assert Crypto.import_secret("LTSK", "passphrase") == {:error, :malformed}
  end

  test "caller errors raise ArgumentError naming the facade function and the reason" do
    {:ok, aead} = Crypto.aead_key(:xchacha20poly1305)
    {:ok, sign} = Crypto.keypair(:sign)

    assert_raise ArgumentError, ~r/Lattice.Crypto.sign\/2: .*needs a sign \(Ed25519\) key/, fn ->
      Crypto.sign(aead, "m")
    end

    assert_raise ArgumentError,
                 ~r/Lattice.Crypto.aead_seal\/4: the nonce of xchacha20poly1305 is 24 bytes/,
                 fn ->
                   Crypto.aead_seal(aead, <<0::96>>, "", "")
                 end

    assert_raise ArgumentError,
                 ~r/Lattice.Crypto.keypair\/1: the kind must be one of sign or kx/,
                 fn ->
                   Crypto.keypair(:rsa)
                 end

    assert_raise ArgumentError,
                 ~r/Lattice.Crypto.verify\/3: the public key must be 32 bytes/,
                 fn ->
                   Crypto.verify(<<0::248>>, "m", <<0::512>>)
                 end

    assert_raise ArgumentError, ~r/Lattice.Crypto.export_secret\/3: .*ops/, fn ->
      Crypto.export_secret(sign, "pw", %{ops: 99})
    end
  end

  test "stats count" do
    before = Crypto.stats()
    {:ok, k} = Crypto.keypair(:sign)
    Crypto.sign(k, "x")
    later = Crypto.stats()
    assert later.signs > before.signs
    assert is_boolean(later.mlock_ok)
    assert later.slabs == later.slabs_locked + later.slabs_unlocked
  end
end
