defmodule Lattice.ErrorsTest do
  # Caller errors raise ArgumentError with a message saying which argument is wrong and why,
  # the same words as the Erlang side's error_info; binaries that are not states are data.
  use ExUnit.Case, async: true
  import Bitwise

  alias Lattice.{GCounter, GSet, LWWMap, LWWSet, Object, ORSet, PNCounter, TwoPSet, VClock}

  doctest Lattice

  defp mistakes do
    g = Object.new(GCounter)
    os = Object.new(ORSet)
    s = ORSet.new()
    m = LWWMap.new()
    a = Lattice.actor()

    [
      {"a set op on a counter object", fn -> Object.update(g, {:add, 1}, a) end,
       "Lattice.Object.update/3: the operation {add,1} is not an operation of a G-Counter"},
      {"a negative increment", fn -> Object.update(g, {:increment, -1}, a) end,
       "the amount must be a positive integer (1..2^64-1), got: -1"},
      {"a zero increment", fn -> GCounter.increment(GCounter.new(), a, 0) end, "got: 0"},
      {"a decrement of 2^64", fn -> PNCounter.decrement(PNCounter.new(), a, 1 <<< 64) end,
       "the amount must be a positive integer"},
      {"a pid as an element", fn -> ORSet.add(s, self(), a) end,
       "the element is not data: it is a pid"},
      {"a pid inside an element", fn -> GSet.add(GSet.new(), {:k, self()}) end,
       "the element is not data: it holds a pid"},
      {"a fun as a value", fn -> LWWMap.put(m, :k, fn -> :ok end, a) end,
       "the value is not data: it is a fun"},
      {"a pid as an actor", fn -> ORSet.add(s, 1, self()) end,
       "the actor is not data: it is a pid"},
      {"an actor over 1024 bytes", fn -> ORSet.add(s, 1, :binary.copy(<<1>>, 2000)) end,
       "the actor is 2003 bytes encoded"},
      {"an improper list", fn -> ORSet.add_all(s, [1 | 2], a) end,
       "the list of elements must be a proper list"},
      {"Erlang argument order from Elixir", fn -> ORSet.update({:add, 1}, a, s) end,
       "the state goes last in Erlang, first in Elixir"},
      {"the Erlang function with Elixir order", fn -> :lattice_orset.update(s, {:add, 1}, a) end,
       "the state goes last in Erlang, first in Elixir"},
      {"an unknown operation", fn -> ORSet.update(s, {:insert, 1}, a) end,
       "is not an operation of an OR-Set; those are: {add, E}"},
      {"an unknown query", fn -> ORSet.value(s, {:get, :a}) end, "is not a query of an OR-Set"},
      {"a map query on an OR-Set object", fn -> Object.value(os, {:get, :a}) end,
       "(it is one for: G-Counter, PN-Counter, LWW-Map)"},
      {"a timestamp of 0", fn -> LWWMap.update(m, {:put, :k, :v, 0}, a) end,
       "the timestamp must be an integer 1..2^64-1"},
      {"a float timestamp", fn -> LWWSet.update(LWWSet.new(), {:add, :e, 1.5}, a) end,
       "the timestamp must be an integer"},
      {"a state that is not a binary", fn -> ORSet.value([1, 2]) end,
       "Lattice.ORSet.value/1: the state must be an OR-Set state (a binary), got: [1,2]"},
      {"an object where a state goes", fn -> ORSet.value(os) end,
       "the state is an in-place object, not a state binary"},
      {"a state where an object goes", fn -> Object.value(s) end,
       "got a state binary: use the type's own functions on states"},
      {"a plain reference as an object", fn -> Object.digest(make_ref()) end,
       "got a reference that is not one"},
      {"an Erlang object of no type", fn -> :lattice_object.new(:foo) end,
       "foo is not a CRDT type with objects"},
      {"an Erlang object of no type", fn -> :lattice_object.new(:foo) end,
       "foo is not a CRDT type with objects"},
      {"an object of no type", fn -> Object.new(:foo) end, "got: :foo"},
      {"an object of a pid", fn -> Object.new(self()) end,
       "expected a CRDT type module (such as Lattice.ORSet) or a state binary"},
      {"a bad LWW-Set bias", fn -> LWWSet.new(:both) end,
       "the bias must be add or remove, got: both"},
      {"a clock as a list", fn -> VClock.merge([{:a, 1}], VClock.new()) end,
       "the clock must be a vector clock (a binary)"},
      {"an element not data in a 2P-Set add_all",
       fn -> TwoPSet.add_all(TwoPSet.new(), [1, self()]) end, "the element"},
      {"a pid as a DVV actor", fn -> Lattice.DVV.event(Lattice.DVV.new(), self()) end,
       "Lattice.DVV.event/2: the actor is not data: it is a pid"},
      {"a DVV dot with counter 0", fn -> Lattice.DVV.add(Lattice.DVV.new(), {a, 0}) end,
       "the dot's counter must be a positive integer"},
      {"an HLC update with a float", fn -> Lattice.HLC.update(1.5) end,
       "the timestamp (an HLC timestamp) must be an integer 0..18446744073709551615"},
      {"Lattice.Type on a non-binary", fn -> Lattice.Type.value(42) end,
       "the state must be a CRDT state (a binary), got: 42"}
    ]
  end

  test "each caller mistake raises ArgumentError saying what is wrong" do
    for {name, call, words} <- mistakes() do
      error = assert_raise ArgumentError, fn -> call.() end
      assert error.message =~ words, "#{name}: #{error.message}"
    end
  end

  test "an object made on another node: objects are node-local" do
    name = :"lattice_errors_ex_peer_#{System.unique_integer([:positive])}"
    ebin = :filename.dirname(:code.which(:lattice_object))

    {:ok, peer, peer_node} =
      :peer.start(%{name: name, connection: :standard_io, args: [~c"-pa", ebin]})

    try do
      remote = :peer.call(peer, :lattice_object, :new, [:lattice_gcounter])
      assert node(remote) == peer_node

      error =
        assert_raise ArgumentError, fn ->
          Object.update(remote, {:increment, 1}, Lattice.actor())
        end

      assert error.message =~ "Lattice.Object.update/3: the object was made on node"
      assert error.message =~ "objects are node-local"
    after
      :peer.stop(peer)
    end
  end

  test "a binary that is not a state is data: an error tuple from every entry point" do
    assert Object.new("garbage") == {:error, {:bad_state, :unknown_type}}
    assert Object.new("") == {:error, {:bad_state, :truncated}}
    assert Lattice.Type.value("garbage") == {:error, {:bad_state, :unknown_type}}
    assert {:error, {:bad_orset, _}} = Object.join(Object.new(ORSet), "garbage")
    assert {:error, {:bad_orset, _}} = ORSet.add("garbage", 1, Lattice.actor())
    assert {:error, {:bad_gcounter, _}} = GCounter.increment("garbage", Lattice.actor())
  end

  test "the precondition and overflow errors of Object.update/3 are in its spec's shape" do
    o = Object.new(ORSet)

    assert {:error, {:precondition, {:not_present, :x}}} =
             Object.update(o, {:remove, :x}, Lattice.actor())
  end

  test "Lattice.actor/0 is this node and an incarnation, the same for every process" do
    {node, incarnation} = actor = Lattice.actor()
    assert node == node()
    assert is_integer(incarnation) and incarnation >= 0 and incarnation < 1 <<< 64
    assert Task.await(Task.async(&Lattice.actor/0)) == actor
  end
end
