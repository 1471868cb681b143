defmodule Lattice.VClockTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.VClock

  doctest VClock

  @max_counter (1 <<< 64) - 1

  # A clock with actors of several types and a counter above 32 bits.
  defp sample, do: VClock.from_list([{:a, 3}, {"bob", 1 <<< 40}, {{:node, 7}, 2}])

  describe "counting" do
    test "a new clock is empty" do
      clock = VClock.new()
      assert VClock.size(clock) == 0
      assert VClock.to_list(clock) == []
      assert VClock.get(clock, :anyone) == 0
      assert VClock.validate(clock) == :ok
    end

    test "increment/2 and increment/3 add to one actor's counter" do
      clock =
        VClock.new()
        |> VClock.increment(:a)
        |> VClock.increment(:a)
        |> VClock.increment(:b, 40)
        |> VClock.increment({:node, 1}, 1 <<< 40)

      assert VClock.get(clock, :a) == 2
      assert VClock.get(clock, :b) == 40
      assert VClock.get(clock, {:node, 1}) == 1 <<< 40
      assert VClock.get(clock, :c) == 0
      assert VClock.size(clock) == 3
      assert VClock.validate(clock) == :ok
    end

    test "a counter may reach 2^64 - 1 but not 2^64" do
      clock = VClock.new() |> VClock.increment(:a, @max_counter - 1)
      full = VClock.increment(clock, :a)
      assert VClock.get(full, :a) == @max_counter
      assert VClock.increment(full, :a) == {:error, {:overflow, :counter}}
      assert VClock.increment(clock, :a, 2) == {:error, {:overflow, :counter}}
      assert VClock.increment(full, :b) |> VClock.get(:b) == 1
    end

    test "equal clocks are equal bytes, whatever the order of events" do
      one = VClock.new() |> VClock.increment(:a) |> VClock.increment(:b, 2)
      two = VClock.new() |> VClock.increment(:b) |> VClock.increment(:a) |> VClock.increment(:b)
      assert one === two
      assert one === VClock.from_list(b: 2, a: 1)
    end
  end

  describe "comparing and merging" do
    setup do
      base = VClock.new() |> VClock.increment(:a)
      left = VClock.increment(base, :b)
      right = VClock.increment(base, :c)
      %{base: base, left: left, right: right, both: VClock.merge(left, right)}
    end

    test "compare/2 gives each of the four outcomes", c do
      assert VClock.compare(c.base, c.base) == :eq
      assert VClock.compare(c.base, c.left) == :lt
      assert VClock.compare(c.left, c.base) == :gt
      assert VClock.compare(c.left, c.right) == :concurrent
      assert VClock.compare(c.right, c.left) == :concurrent
      assert VClock.compare(c.both, c.left) == :gt
      assert VClock.compare(VClock.new(), c.base) == :lt
    end

    test "descends?/2 is >= and dominates?/2 is >", c do
      assert VClock.descends?(c.base, c.base)
      refute VClock.dominates?(c.base, c.base)
      assert VClock.descends?(c.left, c.base)
      assert VClock.dominates?(c.left, c.base)
      refute VClock.descends?(c.base, c.left)
      refute VClock.dominates?(c.base, c.left)
      refute VClock.descends?(c.left, c.right)
      refute VClock.descends?(c.right, c.left)
      refute VClock.dominates?(c.left, c.right)
      assert VClock.descends?(c.both, c.left) and VClock.descends?(c.both, c.right)
      assert VClock.descends?(c.base, VClock.new())
    end

    test "merge/2 is the pointwise maximum", c do
      assert VClock.to_list(c.both) == [a: 1, b: 1, c: 1]

      merged =
        VClock.merge(VClock.from_list(a: 5, b: 1), VClock.from_list(a: 2, b: 7, c: 1 <<< 50))

      assert VClock.to_list(merged) == [a: 5, b: 7, c: 1 <<< 50]
    end

    test "merge/2 is commutative, associative and idempotent", c do
      assert VClock.merge(c.left, c.right) === VClock.merge(c.right, c.left)
      assert VClock.merge(c.left, c.left) === c.left
      assert VClock.merge(c.both, c.base) === c.both

      assert VClock.merge(VClock.merge(c.base, c.left), c.right) ===
               VClock.merge(c.base, VClock.merge(c.left, c.right))
    end

    test "merge/1 merges a list", c do
      assert VClock.merge([]) === VClock.new()
      assert VClock.merge([c.left]) === c.left
      assert VClock.merge([c.base, c.left, c.right]) === c.both
    end
  end

  describe "lists and pruning" do
    test "to_list/1 and from_list/1 round trip, sorted in term order" do
      entries = [
        {%{k: 1}, 9},
        {"bin", 3},
        {1, 5},
        {:a, 2},
        {{:t, 1}, 4},
        {[1, 2], 1},
        {1.5, 2},
        {:日本, @max_counter}
      ]

      clock = VClock.from_list(entries)
      assert VClock.to_list(clock) == Enum.sort(entries)
      assert VClock.from_list(VClock.to_list(clock)) === clock
      assert VClock.from_list(Enum.reverse(entries)) === clock
      assert VClock.validate(clock) == :ok
    end

    test "from_list/1 leaves out counters of 0" do
      assert VClock.from_list(a: 0, b: 1) |> VClock.to_list() == [b: 1]
      assert VClock.from_list(a: 0) === VClock.new()
    end

    test "prune/2 drops entries; a merge brings them back" do
      clock = sample()
      pruned = VClock.prune(clock, [:a, {:node, 7}, :not_there])
      assert VClock.to_list(pruned) == [{"bob", 1 <<< 40}]
      assert VClock.prune(clock, []) === clock
      assert VClock.merge(pruned, clock) === clock
    end
  end

  test "random histories agree with a plain map model" do
    Lattice.TestGen.seed(1)
    actors = [:a, :b, :c, {:node, 1}, "d", 42]
    start = for _ <- 1..4, do: {VClock.new(), %{}}

    Enum.reduce(1..400, start, fn _, replicas ->
      i = :rand.uniform(4) - 1
      {clock, model} = Enum.at(replicas, i)

      updated =
        if :rand.uniform(3) == 1 do
          {other, other_model} = Enum.random(replicas)
          {VClock.merge(clock, other), Map.merge(model, other_model, fn _, x, y -> max(x, y) end)}
        else
          actor = Enum.random(actors)
          by = Enum.random([1, 1, 2, 1000, 1 <<< 33])
          {VClock.increment(clock, actor, by), Map.update(model, actor, by, &(&1 + by))}
        end

      replicas = List.replace_at(replicas, i, updated)
      check_against_model(replicas, actors)
      replicas
    end)
  end

  defp check_against_model(replicas, actors) do
    for {clock, model} <- replicas do
      assert VClock.to_list(clock) == Enum.sort(model)
      assert VClock.from_list(Map.to_list(model)) === clock
      assert VClock.size(clock) == map_size(model)
      for actor <- actors, do: assert(VClock.get(clock, actor) == Map.get(model, actor, 0))

      for {other, other_model} <- replicas do
        expected = model_compare(model, other_model)
        assert VClock.compare(clock, other) == expected
        assert VClock.descends?(clock, other) == expected in [:gt, :eq]
        assert VClock.dominates?(clock, other) == (expected == :gt)
      end
    end
  end

  defp model_compare(a, b) do
    a_ge = Enum.all?(b, fn {k, v} -> Map.get(a, k, 0) >= v end)
    b_ge = Enum.all?(a, fn {k, v} -> Map.get(b, k, 0) >= v end)

    case {a_ge, b_ge} do
      {true, true} -> :eq
      {true, false} -> :gt
      {false, true} -> :lt
      {false, false} -> :concurrent
    end
  end

  describe "a caller's bug raises ArgumentError" do
    test "an actor that is not data" do
      clock = sample()

      for actor <- [self(), make_ref(), fn -> :ok end, <<1::3>>, {:a, self()}, [self()]] do
        assert_raise ArgumentError, fn -> VClock.increment(clock, actor) end
        assert_raise ArgumentError, fn -> VClock.increment(clock, actor, 2) end
        assert_raise ArgumentError, fn -> VClock.get(clock, actor) end
        assert_raise ArgumentError, fn -> VClock.prune(clock, [actor]) end
        assert_raise ArgumentError, fn -> VClock.from_list([{actor, 1}]) end
      end
    end

    test "a clock that is not a binary" do
      good = sample()

      for bad <- [nil, :clock, 123, 1.5, ~c"abc", [good], {good}, self(), %{}] do
        assert_raise ArgumentError, fn -> VClock.increment(bad, :a) end
        assert_raise ArgumentError, fn -> VClock.increment(bad, :a, 3) end
        assert_raise ArgumentError, fn -> VClock.get(bad, :a) end
        assert_raise ArgumentError, fn -> VClock.to_list(bad) end
        assert_raise ArgumentError, fn -> VClock.size(bad) end
        assert_raise ArgumentError, fn -> VClock.validate(bad) end
        assert_raise ArgumentError, fn -> VClock.prune(bad, [:a]) end
        assert_raise ArgumentError, fn -> VClock.merge(good, bad) end
        assert_raise ArgumentError, fn -> VClock.merge(bad, good) end
        assert_raise ArgumentError, fn -> VClock.merge([good, bad]) end
        assert_raise ArgumentError, fn -> VClock.compare(good, bad) end
        assert_raise ArgumentError, fn -> VClock.compare(bad, good) end
        assert_raise ArgumentError, fn -> VClock.descends?(bad, good) end
        assert_raise ArgumentError, fn -> VClock.dominates?(good, bad) end
      end
    end

    test "an increment that is not a positive integer below 2^64" do
      for by <- [0, -1, 1 <<< 64, 1.0, :one, "1"] do
        assert_raise ArgumentError, fn -> VClock.increment(VClock.new(), :a, by) end
      end
    end

    test "a list that is not [{actor, counter}] with distinct actors" do
      for bad <- [
            :x,
            [:a],
            [{:a, 1, 2}],
            [{:a, 1} | :tail],
            [{:a, -1}],
            [{:a, 1 <<< 64}],
            [{:a, 1.0}],
            [{:a, 1}, {:a, 2}]
          ] do
        assert_raise ArgumentError, fn -> VClock.from_list(bad) end
      end
    end

    test "actors to prune that are not a list" do
      assert_raise ArgumentError, fn -> VClock.prune(sample(), :a) end
    end
  end

  describe "a binary that is not a clock gives {:error, {:bad_vclock, reason}}" do
    defp garbage do
      clock = sample()
      prefixes = for n <- 0..(byte_size(clock) - 1), do: binary_part(clock, 0, n)
      ["garbage", <<0xFF, 0xFF, 0xFF>>, clock <> <<0>>, Lattice.DVV.new()] ++ prefixes
    end

    test "from every function that takes a clock" do
      good = sample()

      for bad <- garbage() do
        assert_bad_vclock(bad, VClock.increment(bad, :a))
        assert_bad_vclock(bad, VClock.increment(bad, :a, 5))
        assert_bad_vclock(bad, VClock.get(bad, :a))
        assert_bad_vclock(bad, VClock.to_list(bad))
        assert_bad_vclock(bad, VClock.size(bad))
        assert_bad_vclock(bad, VClock.validate(bad))
        assert_bad_vclock(bad, VClock.prune(bad, [:a]))
        assert_bad_vclock(bad, VClock.merge(good, bad))
        assert_bad_vclock(bad, VClock.merge(bad, good))
        assert_bad_vclock(bad, VClock.merge([good, good, bad]))
        assert_bad_vclock(bad, VClock.compare(good, bad))
        assert_bad_vclock(bad, VClock.compare(bad, good))
        assert_bad_vclock(bad, VClock.descends?(good, bad))
        assert_bad_vclock(bad, VClock.dominates?(bad, good))
      end
    end

    test "a truncated clock is :truncated, trailing bytes are refused" do
      clock = sample()

      assert VClock.to_list(binary_part(clock, 0, byte_size(clock) - 1)) ==
               {:error, {:bad_vclock, :truncated}}

      assert {:error, {:bad_vclock, _}} = VClock.validate(clock <> "x")
    end

    test "validate/1 finds an actor whose bytes were changed" do
      clock = VClock.new() |> VClock.increment(:a)
      # The actor's canonical bytes end the clock; :a becomes :b.
      forged = binary_part(clock, 0, byte_size(clock) - 1) <> "b"
      assert :binary.last(clock) == ?a
      assert {:error, {:bad_vclock, _}} = VClock.validate(forged)
    end
  end

  defp assert_bad_vclock(input, result) do
    assert match?({:error, {:bad_vclock, reason}} when is_atom(reason), result),
           "expected {:error, {:bad_vclock, _}} for #{inspect(input)}, got #{inspect(result)}"
  end
end
