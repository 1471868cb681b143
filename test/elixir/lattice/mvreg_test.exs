defmodule Lattice.MVRegisterTest do
  use ExUnit.Case, async: true

  alias Lattice.{MVRegister, Object, Type}

  doctest MVRegister

  defp assigned(value, actor, state \\ MVRegister.new()) do
    assert {:ok, state2, delta} = MVRegister.assign(state, value, actor)
    assert MVRegister.merge(state, delta) === state2
    {state2, delta}
  end

  test "a new register is empty and valid" do
    r = MVRegister.new()
    assert r === <<0x18, 1, 0, 0>>
    assert MVRegister.value(r) == []
    assert MVRegister.size(r) == 0
    refute MVRegister.member?(r, :a)
    assert MVRegister.to_term(r) == {:mvreg, [], []}
    assert MVRegister.validate(r) == :ok
    assert byte_size(MVRegister.digest(r)) == 16
  end

  test "an assign replaces every value the register holds" do
    {r1, d1} = assigned(%{"colour" => "blue"}, :alice)
    assert d1 === r1
    assert MVRegister.value(r1) == [%{"colour" => "blue"}]
    {r2, _} = assigned([1, 2.5], {:bob, 2}, r1)
    assert MVRegister.value(r2) == [[1, 2.5]]
    assert MVRegister.merge(r1, r2) === r2
    assert MVRegister.merge(r2, r1) === r2
    assert MVRegister.equal?(r2, MVRegister.merge(r1, r2))
    refute MVRegister.equal?(r1, r2)
    assert MVRegister.to_term(r2) |> elem(1) == [{[1, 2.5], [{{:bob, 2}, 1}]}]
  end

  test "concurrent assigns are all kept, in term order; a later assign resolves them" do
    {a, da} = assigned("blue", :alice)
    {b, db} = assigned("green", :bob)
    {_, dc} = assigned(:red, :carol)
    both = MVRegister.merge(a, db)
    assert both === MVRegister.merge(b, da)
    assert MVRegister.value(both) == ["blue", "green"]
    assert MVRegister.size(both) == 2
    assert MVRegister.member?(both, "green")
    refute MVRegister.member?(both, :red)

    # Alice resolves what she saw; Carol's assign, concurrent with that, survives it.
    {resolved, dr} = assigned("teal", :alice, both)
    assert MVRegister.value(resolved) == ["teal"]
    all = both |> MVRegister.merge(dc) |> MVRegister.merge(dr)
    assert MVRegister.value(all) == [:red, "teal"]
    assert all === Enum.reduce([dr, dc, db, da], MVRegister.new(), &MVRegister.merge/2)

    # Whoever has seen everything collapses the register to one value.
    {last, dl} = assigned(:black, :bob, all)
    assert MVRegister.value(last) == [:black]
    assert MVRegister.merge(all, dl) === last
  end

  test "the same value assigned concurrently is kept once, with both dots" do
    {_, d1} = assigned(:same, :alice)
    {_, d2} = assigned(:same, :bob)
    r = MVRegister.merge(d1, d2)
    assert MVRegister.value(r) == [:same]
    assert MVRegister.size(r) == 1
    assert {:mvreg, [{:same, dots}], context} = MVRegister.to_term(r)
    assert Enum.sort(dots) == [alice: 1, bob: 1]
    assert Enum.sort(context) == [{:alice, 1, []}, {:bob, 1, []}]
  end

  test "1 and 1.0 are two values, ordered by their canonical bytes" do
    {_, d1} = assigned(1.0, :alice)
    {_, d2} = assigned(1, :bob)
    r = MVRegister.merge(d1, d2)
    assert MVRegister.value(r) == [1, 1.0]
    assert MVRegister.member?(r, 1.0)
    refute MVRegister.member?(r, 2)
  end

  test "caller bugs raise ArgumentError" do
    {r, _} = assigned(:v, :a)
    assert_raise ArgumentError, fn -> MVRegister.update(r, {:set, 1}, :a) end
    assert_raise ArgumentError, fn -> MVRegister.update(r, {:assign, 1, 2}, :a) end
    assert_raise ArgumentError, fn -> MVRegister.update(r, {:add, 1}, :a) end
    assert_raise ArgumentError, fn -> MVRegister.assign(r, self(), :a) end
    assert_raise ArgumentError, fn -> MVRegister.assign(r, fn -> :ok end, :a) end
    assert_raise ArgumentError, fn -> MVRegister.assign(r, :v, make_ref()) end
    assert_raise ArgumentError, fn -> MVRegister.assign(r, :v, self()) end
    assert_raise ArgumentError, fn -> MVRegister.value(r, :value) end
    assert_raise ArgumentError, fn -> MVRegister.member?(r, self()) end
    assert_raise ArgumentError, fn -> MVRegister.value(:not_a_state) end
    assert_raise ArgumentError, fn -> MVRegister.merge(r, 42) end
    assert_raise ArgumentError, fn -> MVRegister.assign(~c"state", :v, :a) end
    assert_raise ArgumentError, fn -> MVRegister.equal?(r, nil) end
  end

  test "corrupt states give {:error, {:bad_mvreg, reason}}" do
    {r, _} = assigned(:v, :a)
    assert MVRegister.merge(<<0x18>>, r) == {:error, {:bad_mvreg, :truncated}}
    assert MVRegister.value(<<0x18, 2, 0, 0>>) == {:error, {:bad_mvreg, :unknown_version}}
    assert MVRegister.validate(r <> <<7>>) == {:error, {:bad_mvreg, :trailing_bytes}}
    # Another type's state, however short, is of the wrong type.
    assert MVRegister.merge(r, Lattice.GCounter.new()) == {:error, {:bad_mvreg, :wrong_type}}
    assert MVRegister.merge(r, :lattice_orset.new()) == {:error, {:bad_mvreg, :wrong_type}}
    assert MVRegister.value(<<0x18, 2, 0>>) == {:error, {:bad_mvreg, :unknown_version}}
    assert MVRegister.assign(<<0x18, 1, 0>>, :v, :a) == {:error, {:bad_mvreg, :truncated}}

    for n <- 0..(byte_size(r) - 1) do
      assert {:error, {:bad_mvreg, reason}} = MVRegister.value(binary_part(r, 0, n))
      assert is_atom(reason)
    end
  end

  test "Lattice.Type dispatches on the tag" do
    {r, _} = assigned("x", :a)
    assert Type.module(r) == :lattice_mvreg
    assert Type.value(r) == ["x"]
    assert Type.digest(r) == MVRegister.digest(r)
    assert Type.merge(MVRegister.new(), r) === r
  end

  test "an object agrees with the binary functions" do
    {r, _} = assigned("x", :a)
    obj = Object.new(r)
    assert Object.value(obj) == ["x"]
    assert Object.value(obj, :size) == 1
    {_, concurrent} = assigned("y", :b)
    assert :ok = Object.join(obj, concurrent)
    both = MVRegister.merge(r, concurrent)
    assert Object.snapshot(obj) === both
    assert Object.value(obj) == ["x", "y"]
    assert Object.value(obj, {:contains, "y"})
    assert {:ok, delta} = Object.update(obj, {:assign, "z"}, :a)
    assert {:ok, state, ^delta} = MVRegister.assign(both, "z", :a)
    assert Object.snapshot(obj) === state
    assert Object.digest(obj) == MVRegister.digest(state)
    assert Object.value(obj) == ["z"]
    assert Object.join(obj, <<0x18, 2, 0, 0>>) == {:error, {:bad_mvreg, :unknown_version}}
    assert Object.snapshot(obj) === state
  end

  test "an object of the empty register, from the module" do
    for module <- [MVRegister, :lattice_mvreg] do
      obj = Object.new(module)
      assert Object.snapshot(obj) === MVRegister.new()
      assert Object.value(obj) == []
      assert {:ok, delta} = Object.update(obj, {:assign, :v}, :a)
      assert MVRegister.value(delta) == [:v]
      assert Object.snapshot(obj) === delta
      assert Object.digest(obj) == MVRegister.digest(delta)
    end
  end
end
