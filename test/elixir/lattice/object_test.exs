defmodule Lattice.ObjectTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.{GCounter, Object, PNCounter, Type}

  doctest Object

  @max_count (1 <<< 64) - 1
  @actors [:alice, "bob", {:node, 7}, 42, %{dc: "eu"}, [1, 2]]

  defp remote_gcounter do
    Enum.reduce([{:r1, 5}, {:alice, 100}, {"far", 1 <<< 40}], GCounter.new(), fn {a, n}, acc ->
      {:ok, acc, _} = GCounter.increment(acc, a, n)
      acc
    end)
  end

  # The object's state as seen through every read: snapshot, value, digest.
  defp look(obj), do: {Object.snapshot(obj), Object.value(obj), Object.digest(obj)}

  describe "new/1" do
    test "from a type: the Elixir module or the Erlang one" do
      for {mod, erl} <- [{GCounter, :lattice_gcounter}, {PNCounter, :lattice_pncounter}] do
        for type <- [mod, erl] do
          obj = Object.new(type)
          assert is_reference(obj)
          assert Object.snapshot(obj) === mod.new()
          assert Object.value(obj) == 0
          assert Object.value(obj, {:get, :anyone}) == 0
          assert Object.digest(obj) == Type.digest(mod.new())
        end
      end
    end

    test "from a state: the object holds it" do
      g = remote_gcounter()
      obj = Object.new(g)
      assert Object.snapshot(obj) === g
      assert Object.value(obj) == GCounter.value(g)
      assert Object.value(obj, {:get, "far"}) == 1 <<< 40
      assert Object.digest(obj) == GCounter.digest(g)

      {:ok, p, _} = PNCounter.new() |> PNCounter.decrement(:a, @max_count)
      {:ok, p, _} = PNCounter.decrement(p, :b, @max_count)
      obj = Object.new(p)
      assert Object.snapshot(obj) === p
      assert Object.value(obj) == -2 * @max_count
      assert Object.digest(obj) == PNCounter.digest(p)
    end

    test "a corrupt state is the type's error" do
      g = remote_gcounter()
      assert {:error, {:bad_gcounter, _}} = Object.new(binary_part(g, 0, byte_size(g) - 1))
      assert {:error, {:bad_gcounter, _}} = Object.new(g <> <<0>>)
      assert {:error, {:bad_gcounter, :truncated}} = Object.new(<<0x10>>)
      assert {:error, {:bad_pncounter, _}} = Object.new(<<0x11, 1, 3, 0x10, 1, 0, 0x10, 1>>)
    end

    test "a binary that is not a CRDT state is data: an error tuple" do
      assert Object.new(<<>>) == {:error, {:bad_state, :truncated}}

      for bad <- ["garbage", Lattice.VClock.new(), Lattice.DVV.new()] do
        assert Object.new(bad) == {:error, {:bad_state, :unknown_type}}
      end
    end

    test "something that is neither a type nor a binary raises ArgumentError" do
      for bad <- [Lattice.VClock, 42, nil] do
        assert_raise ArgumentError, fn -> Object.new(bad) end
      end
    end
  end

  describe "an object and the binaries agree" do
    # Applies one random history to an object and to binaries of the type; every delta,
    # error, value, query, snapshot and digest must be the same.
    defp check_same_history(mod, ops, seed) do
      Lattice.TestGen.seed(seed)
      obj = Object.new(mod)

      Enum.reduce(1..300, {mod.new(), 0}, fn _, {state, overflows} ->
        op = {Enum.random(ops), Enum.random([1, 2, 1000, 1 <<< 40, @max_count])}
        actor = Enum.random(@actors)

        {state2, overflows} =
          case mod.update(state, op, actor) do
            {:ok, state2, delta} ->
              assert Object.update(obj, op, actor) == {:ok, delta}
              {state2, overflows}

            {:error, {:overflow, :counter}} = error ->
              before = look(obj)
              assert Object.update(obj, op, actor) == error
              assert look(obj) == before
              {state, overflows + 1}
          end

        assert Object.snapshot(obj) === state2
        assert Object.value(obj) == mod.value(state2)
        assert Object.digest(obj) == Type.digest(state2)
        q = {:get, Enum.random(@actors)}
        assert Object.value(obj, q) == mod.value(state2, q)
        {state2, overflows}
      end)
    end

    test "G-Counter: identical deltas, snapshots, values and digests" do
      {final, overflows} = check_same_history(GCounter, [:increment], 21)
      # The history did overflow some counts, and its value went well beyond 2^64.
      assert overflows > 0
      assert GCounter.value(final) > @max_count
    end

    test "PN-Counter: identical deltas, snapshots, values and digests" do
      {final, overflows} = check_same_history(PNCounter, [:increment, :decrement], 22)
      assert overflows > 0
      {:pncounter, %{increments: ps, decrements: ns}} = PNCounter.to_term(final)
      assert Enum.sum(for {_, n} <- ps ++ ns, do: n) > @max_count
    end

    test "digest(obj) == Type.digest(snapshot(obj)) after updates and joins" do
      obj = Object.new(PNCounter)

      for {actor, i} <- Enum.with_index(@actors, 1) do
        {:ok, _} = Object.update(obj, {:increment, i * 10}, actor)
        {:ok, _} = Object.update(obj, {:decrement, i}, actor)
        assert Object.digest(obj) == Type.digest(Object.snapshot(obj))
      end

      {:ok, remote, _} = PNCounter.decrement(PNCounter.new(), :remote, 5)
      assert Object.join(obj, remote) == :ok
      assert Object.digest(obj) == Type.digest(Object.snapshot(obj))
      assert Object.value(obj) == Enum.sum(for i <- 1..length(@actors), do: i * 9) - 5
    end
  end

  describe "join/2" do
    test "merges a remote state in place" do
      obj = Object.new(GCounter)
      {:ok, _} = Object.update(obj, {:increment, 7}, :alice)
      {:ok, _} = Object.update(obj, {:increment, 3}, :local)
      before = Object.snapshot(obj)
      remote = remote_gcounter()

      assert Object.join(obj, remote) == :ok
      assert Object.snapshot(obj) === GCounter.merge(before, remote)
      # :alice takes the remote's larger count.
      assert Object.value(obj, {:get, :alice}) == 100
      assert Object.value(obj) == 100 + 3 + 5 + (1 <<< 40)
      assert Object.digest(obj) == Type.digest(Object.snapshot(obj))

      # Joining again changes nothing; so does joining an older state.
      after_join = look(obj)
      assert Object.join(obj, remote) == :ok
      assert Object.join(obj, before) == :ok
      assert Object.join(obj, GCounter.new()) == :ok
      assert look(obj) == after_join
    end

    test "deltas from other replicas' objects make the objects converge" do
      objs = for _ <- 1..3, do: Object.new(PNCounter)

      deltas =
        for {obj, i} <- Enum.with_index(objs), n <- 1..20 do
          op = if rem(n, 3) == 0, do: {:decrement, n}, else: {:increment, n}
          {:ok, delta} = Object.update(obj, op, {:replica, i})
          {i, delta}
        end

      for {obj, i} <- Enum.with_index(objs) do
        for {from, delta} <- Enum.shuffle(deltas),
            from != i,
            do: assert(Object.join(obj, delta) == :ok)
      end

      [first | rest] = Enum.map(objs, &look/1)
      assert Enum.all?(rest, &(&1 == first))
      {snapshot, value, _} = first
      per_replica = Enum.sum(for n <- 1..20, do: if(rem(n, 3) == 0, do: -n, else: n))
      assert value == 3 * per_replica
      assert PNCounter.value(snapshot) == value
    end

    test "a corrupt binary is the type's error and leaves the object unchanged" do
      g_obj = Object.new(remote_gcounter())
      {:ok, _} = Object.update(g_obj, {:increment, 2}, :x)
      g = remote_gcounter()

      for bad <- [
            "garbage",
            <<>>,
            <<0x10>>,
            g <> <<0>>,
            binary_part(g, 0, byte_size(g) - 1),
            PNCounter.new()
          ] do
        before = look(g_obj)
        assert {:error, {:bad_gcounter, reason}} = Object.join(g_obj, bad)
        assert is_atom(reason)
        assert look(g_obj) == before
      end

      {:ok, p, _} = PNCounter.increment(PNCounter.new(), :a, 9)
      p_obj = Object.new(p)
      # A valid increments side that would raise :zz's count, then a corrupt decrements side:
      # neither side may change.
      {:ok, big, _} = GCounter.increment(GCounter.new(), :zz, 1000)
      bad_n = <<0x11, 1, byte_size(big), big::binary, 0x10, 1>>

      for bad <- [
            "garbage",
            <<0x11, 1>>,
            bad_n,
            p <> <<0>>,
            GCounter.new(),
            <<0x11, 1, 0x83, 0, 0x10, 1, 0, 0x10, 1, 0>>
          ] do
        before = look(p_obj)
        assert {:error, {:bad_pncounter, reason}} = Object.join(p_obj, bad)
        assert is_atom(reason)
        assert look(p_obj) == before
      end

      assert Object.value(p_obj, {:get, :zz}) == 0
      assert Object.snapshot(p_obj) === p
    end

    test "a state of the other counter type is :wrong_type" do
      assert Object.join(Object.new(GCounter), PNCounter.new()) ==
               {:error, {:bad_gcounter, :wrong_type}}

      assert Object.join(Object.new(PNCounter), GCounter.new()) ==
               {:error, {:bad_pncounter, :wrong_type}}
    end
  end

  describe "update/3" do
    test "an actor's count may reach 2^64 - 1; past it the object is unchanged" do
      obj = Object.new(GCounter)
      assert {:ok, _} = Object.update(obj, {:increment, @max_count}, :a)
      before = look(obj)
      assert Object.update(obj, {:increment, 1}, :a) == {:error, {:overflow, :counter}}
      assert look(obj) == before
      assert {:ok, _} = Object.update(obj, {:increment, @max_count}, :b)
      assert Object.value(obj) == 2 * @max_count

      obj = Object.new(PNCounter)
      assert {:ok, _} = Object.update(obj, {:decrement, @max_count}, :a)
      assert Object.update(obj, {:decrement, 1}, :a) == {:error, {:overflow, :counter}}
      assert {:ok, _} = Object.update(obj, {:increment, @max_count}, :a)
      assert Object.value(obj, {:get, :a}) == 0
    end

    test "a caller's bug raises ArgumentError and leaves the object unchanged" do
      for {type, ops} <- [
            {GCounter,
             [
               {:decrement, 1},
               {:increment, 0},
               {:increment, -1},
               {:increment, 1 <<< 64},
               :increment,
               {:add, 1}
             ]},
            {PNCounter,
             [{:set, 1}, {:decrement, 0}, {:increment, 1.0}, {:decrement, 1 <<< 64}, :decrement]}
          ] do
        obj = Object.new(type)
        {:ok, _} = Object.update(obj, {:increment, 3}, :a)
        before = look(obj)

        for op <- ops do
          assert_raise ArgumentError, fn -> Object.update(obj, op, :a) end
        end

        for actor <- [self(), make_ref(), {:a, self()}] do
          assert_raise ArgumentError, fn -> Object.update(obj, {:increment, 1}, actor) end
          assert_raise ArgumentError, fn -> Object.value(obj, {:get, actor}) end
        end

        for query <- [:get, {:get}, {:count, :a}] do
          assert_raise ArgumentError, fn -> Object.value(obj, query) end
        end

        assert_raise ArgumentError, fn -> Object.join(obj, :not_a_binary) end
        assert look(obj) == before
      end
    end

    test "something that is not an object raises ArgumentError" do
      for bad <- [make_ref(), GCounter.new(), nil, self()] do
        assert_raise ArgumentError, fn -> Object.update(bad, {:increment, 1}, :a) end
        assert_raise ArgumentError, fn -> Object.join(bad, GCounter.new()) end
        assert_raise ArgumentError, fn -> Object.value(bad) end
        assert_raise ArgumentError, fn -> Object.value(bad, {:get, :a}) end
        assert_raise ArgumentError, fn -> Object.snapshot(bad) end
        assert_raise ArgumentError, fn -> Object.digest(bad) end
      end
    end
  end

  describe "one object, many processes" do
    test "8 tasks x 1000 increments of their own actors: value 8000" do
      obj = Object.new(GCounter)

      1..8
      |> Enum.map(fn i ->
        Task.async(fn ->
          for _ <- 1..1000, do: {:ok, _} = Object.update(obj, {:increment, 1}, {:task, i})
        end)
      end)
      |> Task.await_many(30_000)

      assert Object.value(obj) == 8000
      for i <- 1..8, do: assert(Object.value(obj, {:get, {:task, i}}) == 1000)

      expected =
        Enum.reduce(1..8, GCounter.new(), fn i, acc ->
          {:ok, acc, _} = GCounter.increment(acc, {:task, i}, 1000)
          acc
        end)

      assert Object.snapshot(obj) === expected
      assert Object.digest(obj) == GCounter.digest(expected)
    end

    test "8 tasks x 1000 increments of one actor: each delta holds a distinct count" do
      obj = Object.new(PNCounter)

      counts =
        1..8
        |> Enum.map(fn _ ->
          Task.async(fn ->
            for _ <- 1..1000 do
              {:ok, delta} = Object.update(obj, {:increment, 1}, :shared)
              PNCounter.value(delta, {:get, :shared})
            end
          end)
        end)
        |> Task.await_many(30_000)
        |> List.flatten()

      # Every update was applied alone: the counts the deltas carry are exactly 1..8000.
      assert Enum.sort(counts) == Enum.to_list(1..8000)
      assert Object.value(obj) == 8000
    end

    test "updates, joins and reads at once" do
      obj = Object.new(PNCounter)
      {:ok, remote, _} = PNCounter.decrement(PNCounter.new(), :remote, 500)

      updaters =
        for i <- 1..4 do
          Task.async(fn ->
            for n <- 1..500 do
              op = if rem(n, 2) == 0, do: {:decrement, 1}, else: {:increment, 3}
              {:ok, _} = Object.update(obj, op, {:task, i})
            end
          end)
        end

      others =
        for _ <- 1..4 do
          Task.async(fn ->
            for _ <- 1..200 do
              :ok = Object.join(obj, remote)
              snapshot = Object.snapshot(obj)
              # Snapshots are always whole, valid states.
              :ok = PNCounter.validate(snapshot)
              _ = Object.digest(obj)
            end
          end)
        end

      Task.await_many(updaters ++ others, 30_000)
      assert Object.value(obj) == 4 * (250 * 3 - 250) - 500
      assert Object.digest(obj) == Type.digest(Object.snapshot(obj))
    end

    test "an object outlives the process that made it while referred to" do
      obj = Task.async(fn -> Object.new(remote_gcounter()) end) |> Task.await()
      assert Object.snapshot(obj) === remote_gcounter()
      assert {:ok, _} = Object.update(obj, {:increment, 1}, :late)
    end
  end
end
