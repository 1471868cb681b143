defmodule Lattice.LWWMapTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.{LWWMap, Object, Type}

  doctest LWWMap

  @max_ts (1 <<< 64) - 1

  defp put!(state, key, value, actor, ts) do
    assert {:ok, state2, delta} = LWWMap.put(state, key, value, actor, ts)
    assert LWWMap.merge(state, delta) === state2
    state2
  end

  test "a new map is empty and valid" do
    m = LWWMap.new()
    assert LWWMap.value(m) == %{}
    assert LWWMap.size(m) == 0
    assert LWWMap.get(m, :a) == {:error, {:not_found, :a}}
    refute LWWMap.has_key?(m, :a)
    assert LWWMap.to_term(m) == {:lwwmap, [], []}
    assert LWWMap.validate(m) == :ok
    assert byte_size(LWWMap.digest(m)) == 16
  end

  test "put, remove, merge, value and queries" do
    m = LWWMap.new() |> put!(:a, 1, :alice, 10) |> put!("b", [2.5], :alice, 11)
    assert LWWMap.value(m) == %{:a => 1, "b" => [2.5]}
    assert LWWMap.get(m, "b") == {:ok, [2.5]}
    assert LWWMap.value(m, {:get, :a}) == {:ok, 1}
    assert LWWMap.has_key?(m, :a)
    assert LWWMap.value(m, :size) == 2
    {:ok, m2, d2} = LWWMap.remove(m, :a, :bob)
    assert LWWMap.value(m2) == %{"b" => [2.5]}
    assert LWWMap.merge(d2, m) === m2
    assert LWWMap.equal?(m2, LWWMap.merge(m, d2))
    refute LWWMap.equal?(m, m2)
    assert LWWMap.remove(m2, :a, :bob) == {:error, {:precondition, {:not_present, :a}}}

    assert LWWMap.to_term(m2) ==
             {:lwwmap, [{"b", [{:alice, 2, 11, [2.5]}]}], [{:alice, 2, []}]}

    # 1 and 1.0 are two keys.
    m3 = m2 |> put!(1, :int, :c, 1) |> put!(1.0, :float, :c, 1)
    assert LWWMap.get(m3, 1) == {:ok, :int}
    assert LWWMap.get(m3, 1.0) == {:ok, :float}
    assert LWWMap.size(m3) == 3
  end

  test "concurrent puts: the later timestamp, then the greater actor's canonical bytes" do
    base = LWWMap.new()
    later = LWWMap.merge(put!(base, :k, :old, :z, 10), put!(base, :k, :new, :a, 11))
    assert LWWMap.value(later) == %{k: :new}
    # :b is 04 01 62 and :aa 04 02 61 61 as canonical bytes: :aa wins a tie.
    tie = LWWMap.merge(put!(base, :k, :from_b, :b, 7), put!(base, :k, :from_aa, :aa, 7))
    assert LWWMap.value(tie) == %{k: :from_aa}
    # A stale timestamp is allowed: it replaces what this replica has seen.
    assert LWWMap.value(put!(tie, :k, :stale, :c, 1)) == %{k: :stale}
  end

  test "a put by the node's clock wins locally" do
    ahead = Lattice.HLC.now() + 50
    m = put!(LWWMap.new(), :k, :theirs, :zzz, ahead)
    assert {:ok, m2, delta} = LWWMap.put(m, :k, :mine, :a)
    assert LWWMap.get(m2, :k) == {:ok, :mine}
    assert LWWMap.merge(m, delta) === m2
    top = put!(LWWMap.new(), :k, :v, :b, @max_ts)
    assert LWWMap.put(top, :k, :w, :a) == {:error, {:overflow, :timestamp}}
  end

  test "add wins: a put concurrent with a remove survives it" do
    m = put!(LWWMap.new(), :k, 1, :alice, 5)
    {:ok, removed, _} = LWWMap.remove(m, :k, :alice)
    {:ok, _, put_delta} = LWWMap.put(m, :k, 2, :bob, 1)
    assert LWWMap.value(LWWMap.merge(removed, put_delta)) == %{k: 2}
    assert LWWMap.value(LWWMap.merge(put_delta, removed)) == %{k: 2}
  end

  test "an object agrees with the binary functions" do
    m = put!(LWWMap.new(), :a, 1, :alice, 10)
    obj = Object.new(m)
    assert Object.value(obj) == %{a: 1}
    assert Object.value(obj, {:get, :a}) == {:ok, 1}
    assert Object.value(obj, :size) == 1
    assert {:ok, delta} = Object.update(obj, {:put, :b, 2, 11}, :bob)
    assert {:ok, state, ^delta} = LWWMap.put(m, :b, 2, :bob, 11)
    assert Object.snapshot(obj) === state
    assert Object.digest(obj) == LWWMap.digest(state)

    assert Object.update(obj, {:remove, :z}, :bob) ==
             {:error, {:precondition, {:not_present, :z}}}

    assert :ok = Object.join(obj, put!(LWWMap.new(), :a, 9, :carol, 12))
    assert Object.value(obj, {:get, :a}) == {:ok, 9}
    assert Object.join(obj, :lattice_orset.new()) == {:error, {:bad_lwwmap, :wrong_type}}
  end

  test "an object of the empty map, from the module" do
    for module <- [LWWMap, :lattice_lwwmap] do
      obj = Object.new(module)
      assert Object.snapshot(obj) === LWWMap.new()
      assert {:ok, delta} = Object.update(obj, {:put, :k, :v}, :a)
      assert LWWMap.value(delta) == %{k: :v}
      assert Object.digest(obj) == LWWMap.digest(delta)
    end
  end

  test "Lattice.Type dispatches on the tag" do
    m = put!(LWWMap.new(), "x", :y, :a, 5)
    assert Type.module(m) == :lattice_lwwmap
    assert Type.value(m) == %{"x" => :y}
    assert Type.digest(m) == LWWMap.digest(m)
    assert Type.merge(LWWMap.new(), m) === m
  end

  test "caller bugs raise ArgumentError" do
    m = put!(LWWMap.new(), :a, 1, :alice, 10)
    assert_raise ArgumentError, fn -> LWWMap.update(m, {:add, :a}, :a) end
    assert_raise ArgumentError, fn -> LWWMap.update(m, {:put, :k}, :a) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, :k, :v, :a, 0) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, :k, :v, :a, 1 <<< 64) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, :k, :v, :a, 1.5) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, self(), :v, :a) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, :k, make_ref(), :a, 3) end
    assert_raise ArgumentError, fn -> LWWMap.put(m, :k, :v, self()) end
    assert_raise ArgumentError, fn -> LWWMap.remove(m, fn -> :ok end, :a) end
    assert_raise ArgumentError, fn -> LWWMap.value(m, :keys) end
    assert_raise ArgumentError, fn -> LWWMap.get(m, self()) end
    assert_raise ArgumentError, fn -> LWWMap.value(:not_a_map) end
    assert_raise ArgumentError, fn -> LWWMap.merge(m, 42) end
    assert_raise ArgumentError, fn -> LWWMap.equal?(m, nil) end
  end

  test "corrupt states give {:error, {:bad_lwwmap, reason}}" do
    m = put!(LWWMap.new(), :a, 1, :alice, 10)
    assert LWWMap.value(<<0x17, 1, 0>>) == {:error, {:bad_lwwmap, :truncated}}
    assert LWWMap.merge(<<0x17, 2, 0, 0>>, m) == {:error, {:bad_lwwmap, :unknown_version}}
    assert LWWMap.validate(m <> <<0>>) == {:error, {:bad_lwwmap, :trailing_bytes}}
    assert LWWMap.get(:lattice_orset.new(), :a) == {:error, {:bad_lwwmap, :wrong_type}}
    assert LWWMap.merge(m, Lattice.LWWRegister.new()) == {:error, {:bad_lwwmap, :wrong_type}}
    assert LWWMap.put(<<0x17, 1, 0>>, :k, :v, :a, 3) == {:error, {:bad_lwwmap, :truncated}}

    for n <- 0..(byte_size(m) - 1) do
      assert {:error, {:bad_lwwmap, _}} = LWWMap.value(binary_part(m, 0, n))
      assert {:error, {:bad_lwwmap, _}} = LWWMap.get(binary_part(m, 0, n), :a)
    end
  end
end
