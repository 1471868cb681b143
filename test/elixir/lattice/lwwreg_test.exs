defmodule Lattice.LWWRegisterTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.{LWWRegister, Object, Type}

  doctest LWWRegister

  @max_ts (1 <<< 64) - 1

  defp at(value, actor, ts) do
    assert {:ok, state, delta} = LWWRegister.assign(LWWRegister.new(), value, actor, ts)
    assert delta === state
    state
  end

  test "a new register is empty, valid, and answers nil" do
    r = LWWRegister.new()
    assert LWWRegister.value(r) == nil
    assert LWWRegister.value(r, :timestamp) == nil
    assert LWWRegister.value(r, :actor) == nil
    assert LWWRegister.to_term(r) == {:lwwreg, nil}
    assert LWWRegister.validate(r) == :ok
    assert byte_size(LWWRegister.digest(r)) == 16
  end

  test "assign by the node's clock: later writes win, the delta is the state" do
    {:ok, r1, d1} = LWWRegister.assign(LWWRegister.new(), %{"colour" => "blue"}, :alice)
    assert d1 === r1
    {:ok, r2, _} = LWWRegister.update(r1, {:assign, [1, 2.5]}, {:bob, 2})
    assert LWWRegister.value(r2, :timestamp) > LWWRegister.value(r1, :timestamp)
    assert LWWRegister.merge(r1, r2) === r2
    assert LWWRegister.merge(r2, r1) === r2
    assert LWWRegister.value(r2) == [1, 2.5]
    assert LWWRegister.value(r2, :actor) == {:bob, 2}
    assert LWWRegister.equal?(r2, LWWRegister.merge(r1, r2))
  end

  test "ties on the timestamp: the actor's canonical bytes decide" do
    a = at(:v1, :b, 100)
    b = at(:v2, :a, 100)
    assert LWWRegister.merge(a, b) === a
    assert LWWRegister.merge(b, a) === a
  end

  test "nil and :undefined are values like any other" do
    assert LWWRegister.value(at(nil, :a, 1)) == nil
    assert LWWRegister.value(at(:undefined, :a, 1)) == :undefined
    assert LWWRegister.value(at(:x, :undefined, 1), :actor) == :undefined

    assert LWWRegister.to_term(at(nil, :a, 7)) ==
             {:lwwreg, %{value: nil, timestamp: 7, actor: :a}}
  end

  test "a stale explicit timestamp is refused" do
    r = at(:v, :a, 10)

    assert LWWRegister.assign(r, :w, :b, 10) ==
             {:error, {:precondition, {:stale_timestamp, 10}}}

    assert LWWRegister.assign(at(:v, :a, @max_ts), :w, :b, @max_ts) ==
             {:error, {:precondition, {:stale_timestamp, @max_ts}}}
  end

  test "caller bugs raise ArgumentError" do
    r = at(:v, :a, 10)
    assert_raise ArgumentError, fn -> LWWRegister.update(r, {:set, 1}, :a) end
    assert_raise ArgumentError, fn -> LWWRegister.assign(r, :v, :a, 0) end
    assert_raise ArgumentError, fn -> LWWRegister.assign(r, :v, :a, 1 <<< 64) end
    assert_raise ArgumentError, fn -> LWWRegister.assign(r, self(), :a) end
    assert_raise ArgumentError, fn -> LWWRegister.assign(r, :v, make_ref()) end
    assert_raise ArgumentError, fn -> LWWRegister.value(r, :value) end
    assert_raise ArgumentError, fn -> LWWRegister.value(:not_a_state) end
    assert_raise ArgumentError, fn -> LWWRegister.merge(r, 42) end
  end

  test "corrupt states give {:error, {:bad_lwwreg, reason}}" do
    r = at(:v, :a, 10)
    assert LWWRegister.merge(<<0x15>>, r) == {:error, {:bad_lwwreg, :truncated}}
    assert LWWRegister.value(<<0x15, 2>>) == {:error, {:bad_lwwreg, :unknown_version}}
    assert LWWRegister.validate(r <> <<7>>) == {:error, {:bad_lwwreg, :trailing_bytes}}

    assert LWWRegister.merge(r, Lattice.GCounter.new()) ==
             {:error, {:bad_lwwreg, :wrong_type}}

    assert LWWRegister.assign(<<0x15, 1, 0>>, :v, :a) == {:error, {:bad_lwwreg, :truncated}}
  end

  test "Lattice.Type dispatches on the tag" do
    r = at("x", :a, 5)
    assert Type.module(r) == :lattice_lwwreg
    assert Type.value(r) == "x"
    assert Type.digest(r) == LWWRegister.digest(r)
    assert Type.merge(LWWRegister.new(), r) === r
  end

  test "an object agrees with the binary functions" do
    r = at("x", :a, 5)
    obj = Object.new(r)
    assert Object.value(obj) == "x"
    assert Object.value(obj, :timestamp) == 5
    assert {:ok, delta} = Object.update(obj, {:assign, "y", 6}, :b)
    assert Object.snapshot(obj) === delta
    assert {:ok, state, ^delta} = LWWRegister.assign(r, "y", :b, 6)
    assert Object.digest(obj) == LWWRegister.digest(state)

    assert Object.update(obj, {:assign, "z", 6}, :c) ==
             {:error, {:precondition, {:stale_timestamp, 6}}}

    assert :ok = Object.join(obj, at("w", :z, 7))
    assert Object.value(obj) == "w"
  end

  test "an object of the empty register, from the module" do
    for module <- [LWWRegister, :lattice_lwwreg] do
      obj = Object.new(module)
      assert Object.snapshot(obj) === LWWRegister.new()
      assert {:ok, delta} = Object.update(obj, {:assign, :v}, :a)
      assert LWWRegister.value(delta) == :v
      assert Object.digest(obj) == LWWRegister.digest(delta)
    end
  end
end
