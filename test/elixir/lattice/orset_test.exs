defmodule Lattice.ORSetTest do
  use ExUnit.Case, async: true

  alias Lattice.{GSet, Object, ORSet, Type}

  doctest ORSet

  defp ok_state({:ok, state, _delta}), do: state

  test "add, add_all, remove, remove_all, merge, value and queries" do
    {:ok, s, d} = ORSet.new() |> ORSet.add(:a, :alice)
    assert s === d
    {:ok, s2, d2} = ORSet.add_all(s, [1, 1.0, "x", :a, "x"], :alice)
    assert ORSet.value(s2) == [1, 1.0, :a, "x"]
    assert ORSet.merge(s, d2) === s2
    assert ORSet.merge(d2, s) === s2
    assert ORSet.size(s2) == 4
    assert ORSet.member?(s2, 1.0)
    refute ORSet.member?(s2, 2)
    assert ORSet.value(s2, :size) == 4
    assert ORSet.validate(s2) == :ok
    assert ORSet.equal?(s2, ORSet.merge(d2, s))
    refute ORSet.equal?(s, s2)
    assert ORSet.digest(s2) == Type.digest(s2)
    assert Type.module(s2) == :lattice_orset
    assert ORSet.update(s2, {:add, :b}, :alice) == ORSet.add(s2, :b, :alice)

    {:ok, s3, d3} = ORSet.remove_all(s2, [1, "x", 1], :bob)
    assert ORSet.value(s3) == [1.0, :a]
    assert ORSet.value(d3) == []
    assert ORSet.merge(s2, d3) === s3

    assert ORSet.remove_all(s3, [:a, :zz, :yy], :bob) ==
             {:error, {:precondition, {:not_present, :zz}}}

    assert ORSet.remove_all(s3, [], :bob) == {:ok, s3, ORSet.new()}
    assert ORSet.add_all(s3, [], :bob) == {:ok, s3, ORSet.new()}
  end

  test "add wins over a concurrent remove; a remove takes what it observed" do
    {:ok, a, d1} = ORSet.new() |> ORSet.add(:x, :alice)
    b = ORSet.merge(ORSet.new(), d1)
    {:ok, a2, removal} = ORSet.remove(a, :x, :alice)
    {:ok, b2, re_add} = ORSet.add(b, :x, :bob)
    assert ORSet.merge(a2, re_add) === ORSet.merge(b2, removal)
    assert ORSet.merge(a2, re_add) |> ORSet.value() == [:x]
    assert {:orset, [x: [bob: 1]], _context} = ORSet.to_term(ORSet.merge(a2, re_add))

    # The remove, seen by a replica that had the add: gone there too.
    assert ORSet.merge(b, removal) |> ORSet.value() == []
    # Re-added after the remove: back.
    {:ok, a3, _} = ORSet.add(a2, :x, :alice)
    assert ORSet.member?(a3, :x)
  end

  test "objects agree with the binary functions" do
    obj = Object.new(ORSet)
    {:ok, d} = Object.update(obj, {:add_all, [:b, :a]}, :alice)
    {:ok, s, ^d} = ORSet.add_all(ORSet.new(), [:b, :a], :alice)
    {:ok, d2} = Object.update(obj, {:remove, :a}, :alice)
    {:ok, s2, ^d2} = ORSet.remove(s, :a, :alice)
    assert Object.snapshot(obj) === s2
    assert Object.value(obj) == [:b]
    assert Object.value(obj, {:contains, :b})
    assert Object.value(obj, :size) == 1
    assert Object.digest(obj) == ORSet.digest(s2)

    assert Object.update(obj, {:remove, :a}, :alice) ==
             {:error, {:precondition, {:not_present, :a}}}

    assert Object.snapshot(obj) === s2
    assert Object.new(:lattice_orset) |> Object.value() == []
    assert Object.new(s2) |> Object.digest() == ORSet.digest(s2)

    assert Object.join(obj, GSet.new() |> GSet.add(:a) |> ok_state()) ==
             {:error, {:bad_orset, :wrong_type}}
  end

  test "a caller's bug raises ArgumentError" do
    s = ORSet.new() |> ORSet.add(:a, :alice) |> ok_state()

    for op <- [
          {:add},
          {:add_all, :a},
          {:add_all, [:a | :b]},
          {:remove_all, [:a | :b]},
          {:add, self()},
          {:remove, make_ref()},
          {:put, :a, 1},
          :add
        ] do
      assert_raise ArgumentError, fn -> ORSet.update(s, op, :alice) end
    end

    for actor <- [self(), make_ref(), fn -> :ok end, :binary.copy(<<1>>, 1022)] do
      assert_raise ArgumentError, fn -> ORSet.add(s, :b, actor) end
    end

    for q <- [:count, {:contains}, {:contains, make_ref()}] do
      assert_raise ArgumentError, fn -> ORSet.value(s, q) end
    end

    for bad <- [nil, :state, 123, ~c"abc"] do
      assert_raise ArgumentError, fn -> ORSet.add(bad, :a, :alice) end
      assert_raise ArgumentError, fn -> ORSet.value(bad) end
      assert_raise ArgumentError, fn -> ORSet.merge(s, bad) end
      assert_raise ArgumentError, fn -> ORSet.equal?(bad, s) end
    end
  end

  test "a binary that is not an OR-Set gives {:error, {:bad_orset, reason}}" do
    good = ORSet.new() |> ORSet.add_all([:a, :b], :alice) |> ok_state()
    gset = GSet.new() |> GSet.add(:a) |> ok_state()

    for bad <- ["garbage", good <> <<0>>, gset, binary_part(good, 0, 5), <<0x14, 2, 0, 0>>] do
      for result <- [
            ORSet.value(bad),
            ORSet.size(bad),
            ORSet.member?(bad, :a),
            ORSet.merge(good, bad),
            ORSet.merge(bad, good),
            ORSet.add(bad, :c, :alice),
            ORSet.remove(bad, :a, :alice),
            ORSet.digest(bad),
            ORSet.to_term(bad),
            ORSet.validate(bad)
          ] do
        assert {:error, {:bad_orset, reason}} = result
        assert is_atom(reason)
      end
    end
  end

  test "replicas converge whatever the order of delivery" do
    Lattice.TestGen.seed(7)
    actors = [:r1, :r2, :r3]

    {states, deltas} =
      Enum.reduce(1..200, {Map.new(actors, &{&1, ORSet.new()}), []}, fn _, {states, deltas} ->
        actor = Enum.random(actors)
        element = Enum.random([:a, :b, :c, 1, 1.0])
        op = Enum.random([{:add, element}, {:remove, element}, {:add_all, [element, :d]}])

        case ORSet.update(states[actor], op, actor) do
          {:ok, s, d} -> {Map.put(states, actor, s), [d | deltas]}
          {:error, {:precondition, _}} -> {states, deltas}
        end
      end)

    merged = Enum.reduce(Map.values(states), ORSet.new(), &ORSet.merge/2)
    assert Enum.reduce(Enum.shuffle(deltas), ORSet.new(), &ORSet.merge/2) === merged
    assert Enum.reduce(deltas, ORSet.new(), &ORSet.merge(&2, &1)) === merged
    assert ORSet.validate(merged) == :ok
  end
end
