defmodule Lattice.DVVTest do
  use ExUnit.Case, async: true

  import Bitwise
  alias Lattice.DVV

  doctest DVV

  @max_counter (1 <<< 64) - 1

  defp sample, do: DVV.from_list({[{:a, 2}, {"bob", 1}], [{:a, 5}, {{:node, 3}, 7}]})

  test "a new context is empty" do
    dvv = DVV.new()
    assert DVV.to_list(dvv) == {[], []}
    assert DVV.counter(dvv, :a) == 0
    refute DVV.contains?(dvv, {:a, 1})
    assert DVV.validate(dvv) == :ok
  end

  test "event/2 hands out each actor's next dot" do
    {dot1, dvv} = DVV.event(DVV.new(), :a)
    {dot2, dvv} = DVV.event(dvv, :a)
    {dot3, dvv} = DVV.event(dvv, {:node, 1})
    assert [dot1, dot2, dot3] == [{:a, 1}, {:a, 2}, {{:node, 1}, 1}]
    assert DVV.to_list(dvv) == {[{:a, 2}, {{:node, 1}, 1}], []}
    assert DVV.counter(dvv, :a) == 2
  end

  test "event/2 goes one above the highest dot, even past a gap" do
    dvv = DVV.new() |> DVV.add({:a, 1}) |> DVV.add({:a, 5})
    assert {{:a, 6}, after_event} = DVV.event(dvv, :a)
    assert DVV.contains?(after_event, {:a, 6})
    refute DVV.contains?(after_event, {:a, 3})
  end

  test "add/2 and contains?/2, with out-of-order dots kept apart until the gap fills" do
    dvv = DVV.new() |> DVV.add({:a, 1}) |> DVV.add({:a, 3}) |> DVV.add({:a, 4})
    assert DVV.to_list(dvv) == {[a: 1], [a: 3, a: 4]}
    assert DVV.contains?(dvv, {:a, 1})
    refute DVV.contains?(dvv, {:a, 2})
    assert DVV.contains?(dvv, {:a, 3})
    assert DVV.contains?(dvv, {:a, 4})
    refute DVV.contains?(dvv, {:a, 5})
    refute DVV.contains?(dvv, {:b, 1})
    assert DVV.counter(dvv, :a) == 4

    filled = DVV.add(dvv, {:a, 2})
    assert DVV.to_list(filled) == {[a: 4], []}
    assert DVV.add(filled, {:a, 3}) === filled
  end

  test "equal contexts are equal bytes, whatever the order of dots" do
    dots = [{:a, 1}, {:a, 2}, {:a, 7}, {:b, 3}, {"c", 1}, {:b, 1}]
    one = Enum.reduce(dots, DVV.new(), &DVV.add(&2, &1))
    two = Enum.reduce(Enum.reverse(dots), DVV.new(), &DVV.add(&2, &1))
    assert one === two
    assert one === DVV.from_list({[], dots})
    assert one === DVV.from_list(DVV.to_list(one))
  end

  test "from_list/1 and to_list/1 round trip in the compact form" do
    dvv = sample()
    assert DVV.to_list(dvv) == {[{:a, 2}, {"bob", 1}], [{:a, 5}, {{:node, 3}, 7}]}
    assert DVV.from_list(DVV.to_list(dvv)) === dvv
    # Overlapping input is compacted: a base of 0 is no entry, a dot inside the base vanishes.
    assert DVV.from_list({[a: 0, b: 2], [b: 1, b: 3, c: 1]}) |> DVV.to_list() ==
             {[b: 3, c: 1], []}

    assert DVV.validate(dvv) == :ok
  end

  test "merge/2, merge/1 and descends?/2" do
    left = DVV.from_list({[a: 2], [b: 4]})
    right = DVV.from_list({[a: 1, b: 3], [c: 2]})
    both = DVV.merge(left, right)
    assert DVV.to_list(both) == {[a: 2, b: 4], [c: 2]}
    assert DVV.merge(right, left) === both
    assert DVV.merge(both, left) === both
    assert DVV.merge([left, right]) === both
    assert DVV.merge([]) === DVV.new()

    assert DVV.descends?(both, left)
    assert DVV.descends?(both, right)
    assert DVV.descends?(left, left)
    refute DVV.descends?(left, right)
    refute DVV.descends?(right, left)
    refute DVV.descends?(left, both)
    assert DVV.descends?(left, DVV.new())
    refute DVV.descends?(DVV.new(), left)
  end

  test "counters go up to 2^64 - 1" do
    dvv = DVV.from_list({[a: @max_counter - 1], []})
    assert {{:a, @max_counter}, full} = DVV.event(dvv, :a)
    assert DVV.event(full, :a) == {:error, {:overflow, :counter}}
    assert DVV.add(DVV.new(), {:b, @max_counter}) |> DVV.contains?({:b, @max_counter})
  end

  test "random histories agree with a model of sets of dots" do
    Lattice.TestGen.seed(6)
    actors = [:a, :b, {:node, 1}, "d"]
    start = for _ <- 1..3, do: {DVV.new(), MapSet.new()}

    Enum.reduce(1..300, start, fn _, replicas ->
      i = :rand.uniform(3) - 1
      {dvv, model} = Enum.at(replicas, i)

      updated =
        case :rand.uniform(3) do
          1 ->
            {other, other_model} = Enum.random(replicas)
            {DVV.merge(dvv, other), MapSet.union(model, other_model)}

          2 ->
            actor = Enum.random(actors)
            {dot, dvv} = DVV.event(dvv, actor)
            assert dot == {actor, model_counter(model, actor) + 1}
            {dvv, MapSet.put(model, dot)}

          3 ->
            dot = {Enum.random(actors), :rand.uniform(12)}
            {DVV.add(dvv, dot), MapSet.put(model, dot)}
        end

      replicas = List.replace_at(replicas, i, updated)

      for {dvv, model} <- replicas do
        assert DVV.to_list(dvv) == model_compact(model)
        assert DVV.from_list({[], MapSet.to_list(model)}) === dvv

        for actor <- actors do
          assert DVV.counter(dvv, actor) == model_counter(model, actor)
          for n <- 1..15, do: assert(DVV.contains?(dvv, {actor, n}) == {actor, n} in model)
        end

        for {other, other_model} <- replicas do
          assert DVV.descends?(dvv, other) == MapSet.subset?(other_model, model)
        end
      end

      replicas
    end)
  end

  defp model_counter(model, actor) do
    model
    |> Enum.filter(&match?({^actor, _}, &1))
    |> Enum.map(&elem(&1, 1))
    |> Enum.max(fn -> 0 end)
  end

  # The compact form of a set of dots: per actor the longest run 1..b, then the rest.
  defp model_compact(model) do
    by_actor = Enum.group_by(model, &elem(&1, 0), &elem(&1, 1))

    bases =
      for {actor, ns} <- by_actor, base = run_length(MapSet.new(ns)), base > 0, do: {actor, base}

    base_of = Map.new(bases)
    dots = for {actor, n} <- model, n > Map.get(base_of, actor, 0), do: {actor, n}
    {Enum.sort(bases), Enum.sort(dots)}
  end

  defp run_length(ns, b \\ 0),
    do: if(MapSet.member?(ns, b + 1), do: run_length(ns, b + 1), else: b)

  describe "a caller's bug raises" do
    test "ArgumentError for an actor that is not data" do
      dvv = sample()

      for actor <- [self(), make_ref(), fn -> :ok end, <<1::1>>, {:a, self()}] do
        assert_raise ArgumentError, fn -> DVV.add(dvv, {actor, 1}) end
        assert_raise ArgumentError, fn -> DVV.event(dvv, actor) end
        assert_raise ArgumentError, fn -> DVV.contains?(dvv, {actor, 1}) end
        assert_raise ArgumentError, fn -> DVV.counter(dvv, actor) end
        assert_raise ArgumentError, fn -> DVV.from_list({[{actor, 1}], []}) end
        assert_raise ArgumentError, fn -> DVV.from_list({[], [{actor, 1}]}) end
      end
    end

    test "ArgumentError for a counter out of range" do
      for n <- [0, -1, 1 <<< 64, 1.0, :one] do
        assert_raise ArgumentError, fn -> DVV.add(DVV.new(), {:a, n}) end
        assert_raise ArgumentError, fn -> DVV.from_list({[], [{:a, n}]}) end
      end

      for n <- [0, -1, 1 <<< 64, 1.0, :one] do
        assert_raise ArgumentError, fn -> DVV.contains?(DVV.new(), {:a, n}) end
      end

      for n <- [-1, 1 <<< 64, 1.0] do
        assert_raise ArgumentError, fn -> DVV.from_list({[{:a, n}], []}) end
      end
    end

    test "ArgumentError for a context that is not a binary" do
      good = sample()

      for bad <- [nil, :dvv, 42, ~c"abc", {good}, [good], %{}] do
        assert_raise ArgumentError, fn -> DVV.add(bad, {:a, 1}) end
        assert_raise ArgumentError, fn -> DVV.event(bad, :a) end
        assert_raise ArgumentError, fn -> DVV.contains?(bad, {:a, 1}) end
        assert_raise ArgumentError, fn -> DVV.counter(bad, :a) end
        assert_raise ArgumentError, fn -> DVV.to_list(bad) end
        assert_raise ArgumentError, fn -> DVV.validate(bad) end
        assert_raise ArgumentError, fn -> DVV.merge(good, bad) end
        assert_raise ArgumentError, fn -> DVV.merge(bad, good) end
        assert_raise ArgumentError, fn -> DVV.merge([good, bad]) end
        assert_raise ArgumentError, fn -> DVV.descends?(good, bad) end
        assert_raise ArgumentError, fn -> DVV.descends?(bad, good) end
      end
    end

    test "ArgumentError for malformed lists" do
      for bad <- [{:a, []}, {[], :b}, {[:a], []}, {[], [:a]}, {[{:a, 1, 2}], []}] do
        assert_raise ArgumentError, fn -> DVV.from_list(bad) end
      end
    end

    test "ArgumentError for a dot that is not a pair, a zero dot, or lists not in a pair" do
      for bad <- [:a, {:a}, {:a, 1, 2}, [a: 1], {:a, 0}] do
        assert_raise ArgumentError, fn -> DVV.add(DVV.new(), bad) end
        assert_raise ArgumentError, fn -> DVV.contains?(DVV.new(), bad) end
      end

      assert_raise ArgumentError, fn -> DVV.from_list([[a: 1], [b: 1]]) end
    end
  end

  test "a binary that is not a context gives {:error, {:bad_dvv, reason}}" do
    good = sample()
    prefixes = for n <- 0..(byte_size(good) - 1), do: binary_part(good, 0, n)

    for bad <- ["garbage", good <> <<0>>, Lattice.VClock.new() | prefixes] do
      for result <- [
            DVV.add(bad, {:a, 1}),
            DVV.event(bad, :a),
            DVV.contains?(bad, {:a, 1}),
            DVV.counter(bad, :a),
            DVV.to_list(bad),
            DVV.validate(bad),
            DVV.merge(good, bad),
            DVV.merge(bad, good),
            DVV.merge([good, bad]),
            DVV.descends?(good, bad),
            DVV.descends?(bad, good)
          ] do
        assert match?({:error, {:bad_dvv, reason}} when is_atom(reason), result),
               "#{inspect(bad)} gave #{inspect(result)}"
      end
    end
  end
end
