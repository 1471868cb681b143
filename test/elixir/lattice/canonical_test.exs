defmodule Lattice.CanonicalTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.Canonical

  doctest Canonical

  @terms [
    0,
    -1,
    255,
    1 <<< 64,
    (1 <<< 64) - 1,
    -(1 <<< 64),
    123_456_789_012_345_678_901_234_567_890_123_456_789,
    -(1 <<< 1000),
    0.0,
    1.5,
    -2.25e-300,
    1.7976931348623157e308,
    5.0e-324,
    :atom,
    true,
    nil,
    :"héllo wörld",
    :日本語,
    :"🦀",
    "",
    "binary",
    <<0, 255, 1, 254>>,
    "ünïcødé ✓",
    [],
    [1, [2, [3, [4, []]]]],
    [1 | 2],
    [:a, :b | "tail"],
    ~c"charlist",
    {},
    {:ok, {1, {2, {}}}},
    %{},
    %{a: 1, b: [2, 3], c: %{d: %{e: "deep"}}},
    %{{1, 2} => [3], "key" => :value, 1 => 1.0, [] => %{}},
    Map.new(1..100, &{&1, Integer.to_string(&1)})
  ]

  test "encode/1 and decode/1 round trip a variety of terms" do
    for term <- @terms do
      bytes = Canonical.encode(term)
      assert is_binary(bytes)
      assert Canonical.decode(bytes) === {:ok, term}, "round trip of #{inspect(term)}"
      assert Canonical.decode(bytes, existing_atoms: true) === {:ok, term}
    end
  end

  test "random terms round trip" do
    Lattice.TestGen.seed(2)

    for _ <- 1..500 do
      term = Lattice.TestGen.term(4)
      assert Canonical.decode(Canonical.encode(term)) === {:ok, term}
    end
  end

  test "distinct terms give distinct bytes, equal terms equal bytes" do
    Lattice.TestGen.seed(3)
    random = for _ <- 1..200, do: Lattice.TestGen.term(3)
    all = @terms ++ random
    distinct = Enum.uniq(all)
    encoded = Enum.map(distinct, &Canonical.encode/1)
    assert length(Enum.uniq(encoded)) == length(distinct)

    # A copy through the external term format is === but built anew (maps re-hashed).
    for term <- all do
      copy = term |> :erlang.term_to_binary() |> :erlang.binary_to_term()
      assert Canonical.encode(copy) == Canonical.encode(term)
    end
  end

  test "similar but different terms give different bytes" do
    pairs = [
      {1, 1.0},
      {[1], [1.0]},
      {%{1 => :a}, %{1.0 => :a}},
      {"abc", ~c"abc"},
      {:a, "a"},
      {[], ""},
      {{}, []},
      {[1, 2], {1, 2}},
      {[1 | 2], [1, 2]},
      {{1, {2}}, {{1}, 2}},
      {[[1], 2], [1, [2]]},
      {%{1 => 2}, [{1, 2}]},
      {1 <<< 64, (1 <<< 64) - 1},
      {-1, 1}
    ]

    for {a, b} <- pairs do
      refute Canonical.encode(a) == Canonical.encode(b), "#{inspect(a)} vs #{inspect(b)}"
    end
  end

  test "a map's bytes do not depend on how it was built" do
    keys = Enum.map(1..200, &{:k, &1})
    forward = Enum.reduce(keys, %{}, &Map.put(&2, &1, :v))
    backward = keys |> Enum.reverse() |> Enum.reduce(%{}, &Map.put(&2, &1, :v))
    via_delete = forward |> Map.put(:extra, 1) |> Map.delete(:extra)
    assert Canonical.encode(forward) == Canonical.encode(backward)
    assert Canonical.encode(forward) == Canonical.encode(via_delete)
  end

  test "terms may nest 100 deep, not more" do
    nest = fn wrap -> fn n -> Enum.reduce(1..n, :x, fn _, acc -> wrap.(acc) end) end end

    for wrap <- [&[&1], &{&1}, &%{k: &1}] do
      deep = nest.(wrap)
      assert {:ok, deep.(100)} === Canonical.decode(Canonical.encode(deep.(100)))
      assert_raise ArgumentError, fn -> Canonical.encode(deep.(101)) end
      assert_raise ArgumentError, fn -> Canonical.encode(deep.(10_000)) end
    end
  end

  describe "existing_atoms: true" do
    # 24 characters, never used before in this VM: the atoms made from it do not exist yet.
    defp fresh_suffix do
      [:positive] |> System.unique_integer() |> Integer.to_string() |> String.pad_leading(24, "0")
    end

    test "refuses an atom that does not exist, and accepts it once it does" do
      # Canonical bytes of an atom no one has made yet: encode an existing atom of the same
      # length and swap the name in its bytes.
      suffix = fresh_suffix()
      name = "lattice_test_unknown_" <> suffix
      template = Canonical.encode(:lattice_test_unknown_000000000000000000000000)
      bytes = :binary.replace(template, "000000000000000000000000", suffix)
      refute bytes == template
      assert_raise ArgumentError, fn -> String.to_existing_atom(name) end

      assert Canonical.decode(bytes, existing_atoms: true) == {:error, {:bad_term, :unknown_atom}}
      assert_raise ArgumentError, fn -> String.to_existing_atom(name) end

      assert {:ok, atom} = Canonical.decode(bytes)
      assert Atom.to_string(atom) == name
      assert Canonical.decode(bytes, existing_atoms: true) == {:ok, atom}
    end

    test "refuses an unknown atom nested inside a term" do
      suffix = fresh_suffix()
      inner = Canonical.encode(:lattice_test_unknown_000000000000000000000000)
      term = %{list: [1, {:lattice_test_unknown_000000000000000000000000}]}
      bytes = Canonical.encode(term)
      forged = :binary.replace(bytes, "000000000000000000000000", suffix)
      assert :binary.match(bytes, inner) != :nomatch

      assert Canonical.decode(forged, existing_atoms: true) ==
               {:error, {:bad_term, :unknown_atom}}

      assert {:ok, %{list: [1, {atom}]}} = Canonical.decode(forged)
      assert Atom.to_string(atom) == "lattice_test_unknown_" <> suffix
    end

    test "existing_atoms: false creates atoms, as decode/1 does" do
      suffix = fresh_suffix()
      template = Canonical.encode(:lattice_test_unknown_000000000000000000000000)
      bytes = :binary.replace(template, "000000000000000000000000", suffix)
      assert {:ok, atom} = Canonical.decode(bytes, existing_atoms: false)
      assert Atom.to_string(atom) == "lattice_test_unknown_" <> suffix
    end
  end

  describe "errors" do
    test "encode/1 raises ArgumentError for terms that are not data" do
      port = hd(Port.list())

      for bad <- [self(), make_ref(), port, fn -> :ok end, &Enum.map/2, <<1::3>>, <<0, 1::1>>] do
        assert_raise ArgumentError, fn -> Canonical.encode(bad) end
        assert_raise ArgumentError, fn -> Canonical.encode([1, %{k: {bad}}]) end
        assert_raise ArgumentError, fn -> Canonical.encode(%{bad => 1}) end
      end
    end

    test "decode/1 gives {:error, {:bad_term, reason}} for bytes that are not a term" do
      bytes = Canonical.encode(%{"k" => [1, 2.5, {:a, "b"}, -(1 <<< 100)], :z => :é})
      prefixes = for n <- 0..(byte_size(bytes) - 1), do: binary_part(bytes, 0, n)

      for bad <- ["garbage", <<0xFF>>, bytes <> <<0>>, bytes <> bytes | prefixes] do
        result = Canonical.decode(bad)

        assert match?({:error, {:bad_term, reason}} when is_atom(reason), result),
               "#{inspect(bad)} gave #{inspect(result)}"

        assert Canonical.decode(bad, existing_atoms: true) == result
      end
    end

    test "corrupted bytes are refused or are the canonical bytes of another term" do
      Lattice.TestGen.seed(4)

      for _ <- 1..2000 do
        bytes = Canonical.encode(Lattice.TestGen.term(3))
        i = :rand.uniform(byte_size(bytes)) - 1
        <<before::binary-size(i), byte, rest::binary>> = bytes
        corrupted = before <> <<bxor(byte, :rand.uniform(255))>> <> rest

        # Accepted bytes must be the canonical bytes of what they decode to: no term has two
        # byte forms. existing_atoms keeps corrupted atom names out of the atom table.
        case Canonical.decode(corrupted, existing_atoms: true) do
          {:ok, term} -> assert Canonical.encode(term) == corrupted
          {:error, {:bad_term, reason}} -> assert is_atom(reason)
        end
      end
    end

    test "random bytes are refused or are canonical" do
      Lattice.TestGen.seed(5)

      for _ <- 1..2000 do
        bytes = Lattice.TestGen.bytes(:rand.uniform(40))

        case Canonical.decode(bytes, existing_atoms: true) do
          {:ok, term} -> assert Canonical.encode(term) == bytes
          {:error, {:bad_term, reason}} -> assert is_atom(reason)
        end
      end
    end

    test "decode raises ArgumentError for a non-binary or bad options" do
      for bad <- [:x, 1, ~c"abc", nil, {"bin"}] do
        assert_raise ArgumentError, fn -> Canonical.decode(bad) end
        assert_raise ArgumentError, fn -> Canonical.decode(bad, existing_atoms: true) end
      end

      bytes = Canonical.encode(:ok)
      assert_raise ArgumentError, fn -> Canonical.decode(bytes, unknown: true) end
      assert_raise ArgumentError, fn -> Canonical.decode(bytes, [:existing_atoms]) end
    end
  end
end
