defmodule Lattice.MerkleTest do
  # Lattice.Merkle: the facade over :lattice_merkle. The properties (the diff is the symmetric
  # difference, also through the wire encodings) and the latency checks are in EUnit
  # (test/lattice_merkle_tests.erl).
  use ExUnit.Case, async: true

  alias Lattice.Merkle

  doctest Merkle

  defp d(i), do: <<i::128>>

  defp model_diff(a, b) do
    Enum.sort(
      for({k, v} <- a, Map.has_key?(b, k), b[k] != v, do: {k, :differs}) ++
        for({k, _} <- a, not Map.has_key?(b, k), do: {k, :local_only}) ++
        for({k, _} <- b, not Map.has_key?(a, k), do: {k, :remote_only})
    )
  end

  test "put, update, delete, lookup, count, fold: the tree holds the map" do
    t = Merkle.new(3)
    assert Merkle.levels(t) == 3
    assert :ok = Merkle.put(t, for(i <- 1..5000, do: {"k#{i}", d(i)}))
    assert :ok = Merkle.put(t, "k1", d(0))
    assert :ok = Merkle.update(t, [{"k2", :delete}, {"new", d(9)}])
    assert :ok = Merkle.delete(t, ["k3", "absent"])
    assert Merkle.count(t) == 4999
    assert Merkle.lookup(t, "k1") == {:ok, d(0)}
    assert Merkle.lookup(t, "k2") == :error
    assert Merkle.fold(t, 0, fn _k, _d, n -> n + 1 end) == 4999
    assert length(Merkle.to_list(t)) == 4999
    assert %{count: 4999, hash: <<_::128>>} = Merkle.root(t)
    assert Merkle.memory(t) > 0
    {kh, bucket} = Merkle.key_hash(t, "new")
    assert Merkle.keys_with_hash(t, kh) == ["new"]
    assert Merkle.node_at(t, 3, bucket).count >= 1
  end

  test "diff and a session through the encodings find the same keys" do
    a = for i <- 1..2000, into: %{}, do: {"k#{i}", d(i)}
    b = a |> Map.drop(["k5", "k6"]) |> Map.merge(%{"k7" => d(0), "x" => d(1)})
    ta = Merkle.new()
    tb = Merkle.new()
    :ok = Merkle.put(ta, Map.to_list(a))
    :ok = Merkle.put(tb, Map.to_list(b))
    assert Enum.sort(Merkle.diff(ta, tb)) == model_diff(a, b)

    {:ok, 0, level1} = Merkle.diff_children(tb, Merkle.children(ta, 0, [0]))
    {:ok, 1, level2} = Merkle.diff_children(tb, Merkle.children(ta, 1, level1))
    {:ok, 2, level3} = Merkle.diff_children(tb, Merkle.children(ta, 2, level2))
    {:ok, 3, buckets} = Merkle.diff_children(tb, Merkle.children(ta, 3, level3))
    {:ok, found} = Merkle.diff_buckets(tb, Merkle.buckets(ta, buckets))

    keys =
      Enum.flat_map(found, fn
        {{:key_hash, kh}, :remote_only} -> Merkle.keys_with_hash(ta, kh)
        {key, _} -> [key]
      end)

    assert Enum.sort(Enum.uniq(keys)) == ["k5", "k6", "k7", "x"]
    assert Merkle.diff_children(tb, "junk") == {:error, {:bad_merkle_wire, :unknown_version}}
  end

  test "caller mistakes raise ArgumentError with the Erlang side's words" do
    t = Merkle.new(2)

    for {call, words} <- [
          {fn -> Merkle.new(7) end, "the levels must be an integer in 1..6, got: 7"},
          {fn -> Merkle.put(t, "", d(1)) end, "the key must be a binary of 1..4096 bytes"},
          {fn -> Merkle.put(t, "k", <<1>>) end, "the digest must be a binary of 16 bytes"},
          {fn -> Merkle.put(t, [{"k", d(1)}, :x]) end, "element 2 is not: x"},
          {fn -> Merkle.diff(t, Merkle.new(3)) end, "the trees have different levels (2 and 3)"},
          {fn -> Merkle.count(make_ref()) end, "not a Merkle tree"},
          {fn -> Merkle.node_at(t, 1, 16) end, "the index must be an integer in 0..15"}
        ] do
      error = assert_raise ArgumentError, call
      assert error.message =~ "Lattice.Merkle."
      assert error.message =~ words
    end
  end
end
