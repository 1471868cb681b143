defmodule Lattice.HashTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.Hash

  doctest Hash

  # Reference values from the system's libxxhash 0.8.1 (XXH3_64bits_withSeed and
  # XXH3_128bits_withSeed with XXH128_canonicalFromHash), over data(len) below. The lengths
  # cross XXH3's internal size classes and the NIF's 1 MB chunks.
  @seed 0x9E3779B185EBCA8D
  @vectors [
    {0, 0, 0x2D06800538D394C2, "99aa06d3014798d86001c324468d497f"},
    {1, 0, 0x4C5CCA45D0F4811F, "495b62073ef70ca44c5cca45d0f4811f"},
    {3, 0, 0x15F7093B173D005C, "46f66cb93538156515f7093b173d005c"},
    {16, 0, 0x7E484C18D74895D0, "650fe308c566747df853dd94614dfa07"},
    {17, 0, 0x208BDE5EE2BED407, "18217300b5132d5a78c349fe81b2f26c"},
    {128, 0, 0xF92B70EAA21A6288, "b4f87b99d2db8a511e04fad9f0cacb4d"},
    {129, 0, 0xF8F76713F2BB60FA, "6881633650cd8924c51bc887976aef63"},
    {240, 0, 0xCCC7375172C41F03, "de57aab31e77a2ff93e173833f75ab66"},
    {241, 0, 0x0B3B630948CE4A00, "92b991a7192f3f080b3b630948ce4a00"},
    {1024, 0, 0x23BC880EBF0D29C6, "4c17271c906df79223bc880ebf0d29c6"},
    {1_048_575, 0, 0x1537E7E67F7EE333, "62b638f33fb493b11537e7e67f7ee333"},
    {1_048_576, 0, 0x269EB834F6C110A9, "e3503d8de40743b7269eb834f6c110a9"},
    {1_048_577, 0, 0xA52E79BED5526510, "2633b375479a5c4ba52e79bed5526510"},
    {3_000_001, 0, 0x65F3FBE5210A58D8, "838de7196407806365f3fbe5210a58d8"},
    {0, @seed, 0xA8A6B918B2F0364A, "00feaa732a3ce25ea986dfc5d7605bfe"},
    {1, @seed, 0xFB9FFAC0328029FC, "9fa6e8d542998318fb9ffac0328029fc"},
    {3, @seed, 0x254FE445D5ECB3C4, "1633503c3e90f5d8254fe445d5ecb3c4"},
    {16, @seed, 0x26C2D15B7487BBCA, "4038ac93e1fbefb97d4c6808183281e4"},
    {17, @seed, 0xE23BCF5579FBA1AD, "f2a8e20a8a439f4e20e2c38ca80ab467"},
    {128, @seed, 0xB1C90C5FD3057802, "b93177b1add76d49fb764597092f4de3"},
    {129, @seed, 0x990E67F9FDC90324, "77411d75aa9fe7925bb32961f5c73d2b"},
    {240, @seed, 0x2444E7E48EFC6AC6, "6ec718b6397e48b4b9446eac5e73fe21"},
    {241, @seed, 0xF07787AC704F3881, "cd7b0050cb17ea6cf07787ac704f3881"},
    {1024, @seed, 0x24C0C97D8287AA1C, "fa5972c3beafce6024c0c97d8287aa1c"},
    {1_048_575, @seed, 0x4C8639E7A820D813, "5c853686756784834c8639e7a820d813"},
    {1_048_576, @seed, 0xCADB4A4AFB40E21E, "2313918240c7c8a1cadb4a4afb40e21e"},
    {1_048_577, @seed, 0xA05004D19885171D, "ade21f2331823ecea05004d19885171d"},
    {3_000_001, @seed, 0x17704815C6535E99, "a335c4b308d22b5317704815c6535e99"}
  ]

  # Byte i is (31 * i + 7) mod 256: a 256-byte cycle.
  @cycle for i <- 0..255, into: <<>>, do: <<rem(31 * i + 7, 256)>>
  defp data(len), do: @cycle |> :binary.copy(div(len, 256) + 1) |> binary_part(0, len)

  test "known answers" do
    assert Hash.xxh3_64("") == 0x2D06800538D394C2
    assert Hash.xxh3_128("abc") == <<0x06B05AB6733A618578AF5F94892F3950::128>>
  end

  test "known answers across lengths and seeds" do
    for {len, seed, h64, h128} <- @vectors do
      bin = data(len)
      assert Hash.xxh3_64(bin, seed) == h64, "xxh3_64 of #{len} bytes, seed #{seed}"
      assert Base.encode16(Hash.xxh3_128(bin, seed), case: :lower) == h128

      if seed == 0 do
        assert Hash.xxh3_64(bin) == h64
        assert Hash.xxh3_128(bin) == Base.decode16!(h128, case: :lower)
      end
    end
  end

  test "iodata hashes as its bytes" do
    bin = data(3_000_001)
    {h64, h128} = {Hash.xxh3_64(bin, @seed), Hash.xxh3_128(bin)}

    Lattice.TestGen.seed(8)
    iolist = chop(bin, [])
    assert IO.iodata_length(iolist) == byte_size(bin)
    assert Hash.xxh3_64(iolist, @seed) == h64
    assert Hash.xxh3_128(iolist) == h128
    assert Hash.xxh3_64(["a", [?b, ["c"]], []]) == Hash.xxh3_64("abc")
    assert Hash.xxh3_64([]) == Hash.xxh3_64("")
  end

  # Nested, uneven pieces with bytes as integers here and there.
  defp chop(<<>>, acc), do: Enum.reverse(acc)

  defp chop(<<byte, rest::binary>>, acc) when rem(length(acc), 7) == 3,
    do: chop(rest, [byte | acc])

  defp chop(bin, acc) do
    n = min(byte_size(bin), :rand.uniform(200_000))
    <<piece::binary-size(n), rest::binary>> = bin
    chop(rest, [[[], piece] | acc])
  end

  test "a sub-binary at any offset hashes as a copy of its bytes" do
    big = data(2_000_000)

    for offset <- [1, 3, 7, 1_048_575], len <- [0, 5, 100, 300_000] do
      part = binary_part(big, offset, len)
      copy = :binary.copy(part)
      assert Hash.xxh3_64(part) == Hash.xxh3_64(copy)
      assert Hash.xxh3_128(part, 5) == Hash.xxh3_128(copy, 5)
    end
  end

  test "the seed changes the hash; the full 64-bit range is accepted" do
    hashes =
      for seed <- [0, 1, 2, (1 <<< 63) - 1, 1 <<< 63, (1 <<< 64) - 1], do: Hash.xxh3_64("x", seed)

    assert length(Enum.uniq(hashes)) == 6
    assert Hash.xxh3_64("x", 0) == Hash.xxh3_64("x")
  end

  test "term/1 is XXH3-128 of the canonical bytes, equal for equal terms" do
    Lattice.TestGen.seed(9)

    for _ <- 1..200 do
      term = Lattice.TestGen.term(3)
      assert Hash.term(term) == Hash.xxh3_128(Lattice.Canonical.encode(term))
      copy = term |> :erlang.term_to_binary() |> :erlang.binary_to_term()
      assert Hash.term(copy) == Hash.term(term)
    end

    refute Hash.term(1) == Hash.term(1.0)
    refute Hash.term(%{a: 1}) == Hash.term(%{a: 2})
  end

  test "wrong types raise ArgumentError" do
    for bad <- [:atom, 1, 1.5, {"a"}, [256], [-1], ["a" | :tail], [:a], <<1::3>>, self()] do
      assert_raise ArgumentError, fn -> Hash.xxh3_64(bad) end
      assert_raise ArgumentError, fn -> Hash.xxh3_128(bad) end
    end

    for bad <- [-1, 1 <<< 64, 1.0, :seed] do
      assert_raise ArgumentError, fn -> Hash.xxh3_64("a", bad) end
      assert_raise ArgumentError, fn -> Hash.xxh3_128("a", bad) end
    end

    for bad <- [self(), make_ref(), fn -> :ok end, <<1::3>>, [1, {self()}]] do
      assert_raise ArgumentError, fn -> Hash.term(bad) end
    end
  end
end
