defmodule Lattice.LWWSetTest do
  use ExUnit.Case, async: true

  alias Lattice.{LWWSet, Object, Type}

  doctest LWWSet

  test "add, remove, merge, value and queries" do
    {:ok, s, d} = LWWSet.new() |> LWWSet.add_all([:b, :a, 1, 1.0])
    assert s === d
    assert LWWSet.value(s) == [1, 1.0, :a, :b]
    {:ok, s2, d2} = LWWSet.remove_all(s, [:a, 1.0])
    assert LWWSet.value(s2) == [1, :b]
    assert LWWSet.merge(s, d2) === s2
    assert LWWSet.merge(d2, d) === s2
    assert LWWSet.size(s2) == 2
    assert LWWSet.value(s2, :size) == 2
    assert LWWSet.member?(s2, 1)
    refute LWWSet.member?(s2, 1.0)
    {:lwwset, :add, entries} = LWWSet.to_term(s2)
    assert Enum.map(entries, &elem(&1, 0)) == [1, 1.0, :a, :b]
    assert LWWSet.validate(s2) == :ok
    assert LWWSet.equal?(s2, LWWSet.merge(d2, s))
    assert LWWSet.digest(s2) == Type.digest(s2)
    assert Type.module(s2) == :lattice_lwwset
    assert Type.value(s2) == [1, :b]
    {:ok, s3, _} = LWWSet.add(s2, :a)
    assert LWWSet.value(s3) == [1, :a, :b]
  end

  test "bias, explicit timestamps and preconditions" do
    for {bias, want} <- [add: [:x], remove: []] do
      {:ok, s, _} = LWWSet.new(bias) |> LWWSet.update({:add, :x, 5})
      {:ok, s, _} = LWWSet.update(s, {:remove, :x, 5})
      assert LWWSet.value(s) == want
      assert LWWSet.to_term(s) == {:lwwset, bias, [{:x, 5, 5}]}
    end

    assert LWWSet.merge(LWWSet.new(:add), LWWSet.new(:remove)) ==
             {:error, {:bad_lwwset, :bias_mismatch}}

    {:ok, s, _} = LWWSet.add(LWWSet.new(), :a)
    assert LWWSet.remove_all(s, [:a, :z]) == {:error, {:precondition, {:not_present, :z}}}
    {:ok, top, _} = LWWSet.update(s, {:add, :t, 0xFFFF_FFFF_FFFF_FFFF})
    assert LWWSet.add(top, :t) == {:error, {:overflow, :timestamp}}
  end

  test "objects agree with the binary functions" do
    obj = Object.new(LWWSet.new(:remove))
    {:ok, d} = Object.update(obj, {:add_all, [:b, :a]}, nil)
    {:ok, d2} = Object.update(obj, {:remove, :a}, nil)
    s = LWWSet.merge(d, d2)
    assert Object.snapshot(obj) === s
    assert Object.value(obj) == [:b]
    assert Object.value(obj, {:contains, :b})
    assert Object.value(obj, :size) == 1
    assert Object.digest(obj) == LWWSet.digest(s)
    assert Object.join(obj, LWWSet.new()) == {:error, {:bad_lwwset, :bias_mismatch}}
    assert Object.new(LWWSet) |> Object.snapshot() === LWWSet.new()
    assert Object.new(:lattice_lwwset) |> Object.value() == []
  end

  test "errors" do
    s = LWWSet.new()
    assert_raise ArgumentError, fn -> LWWSet.new(:both) end
    assert_raise ArgumentError, fn -> LWWSet.update(s, {:clear}) end
    assert_raise ArgumentError, fn -> LWWSet.add(s, self()) end
    assert_raise ArgumentError, fn -> LWWSet.update(s, {:add, :a, 0}) end
    assert_raise ArgumentError, fn -> LWWSet.add_all(s, [:a | :b]) end
    assert_raise ArgumentError, fn -> LWWSet.value(s, :first) end
    assert_raise ArgumentError, fn -> LWWSet.value(:not_a_set) end
    assert LWWSet.value(<<0x16, 1, 0>>) == {:error, {:bad_lwwset, :truncated}}
    assert LWWSet.value(<<0x16, 1, 2, 0>>) == {:error, {:bad_lwwset, :noncanonical}}
    assert LWWSet.merge(s, Lattice.GSet.new()) == {:error, {:bad_lwwset, :wrong_type}}
  end
end
