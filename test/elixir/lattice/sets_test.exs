defmodule Lattice.SetsTest do
  use ExUnit.Case, async: true

  alias Lattice.{GSet, Object, TwoPSet, Type}

  doctest GSet
  doctest TwoPSet

  defp ok_state({:ok, state, _delta}), do: state

  describe "Lattice.GSet" do
    test "add, add_all, merge, value and queries" do
      {:ok, s, d} = GSet.new() |> GSet.add(:a)
      assert s === d
      {:ok, s2, d2} = GSet.add_all(s, [1, 1.0, "x", :a])
      assert GSet.value(s2) == [1, 1.0, :a, "x"]
      assert GSet.value(d2) == [1, 1.0, :a, "x"]
      assert GSet.merge(s, d2) === s2
      assert GSet.size(s2) == 4
      assert GSet.member?(s2, 1.0)
      refute GSet.member?(s2, 2)
      assert GSet.value(s2, :size) == 4
      assert GSet.to_term(s2) == {:gset, [1, 1.0, :a, "x"]}
      assert GSet.validate(s2) == :ok
      assert GSet.equal?(s2, GSet.merge(d2, s))
      assert GSet.digest(s2) == Type.digest(s2)
      assert Type.module(s2) == :lattice_gset
      assert GSet.update(s2, {:add, :b}, :any_actor) == GSet.add(s2, :b)
    end

    test "objects agree with the binary functions" do
      obj = Object.new(GSet)
      {:ok, d} = Object.update(obj, {:add_all, [:b, :a]}, nil)
      {:ok, s, ^d} = GSet.add_all(GSet.new(), [:b, :a])
      assert Object.snapshot(obj) === s
      assert Object.value(obj) == [:a, :b]
      assert Object.value(obj, {:contains, :a})
      assert Object.value(obj, :size) == 2
      assert Object.digest(obj) == GSet.digest(s)
      assert Object.new(:lattice_gset) |> Object.value() == []
    end

    test "a caller's bug raises ArgumentError" do
      s = GSet.new()

      for op <- [{:remove, :a}, {:add}, {:add_all, :a}, {:add_all, [:a | :b]}, {:add, self()}] do
        assert_raise ArgumentError, fn -> GSet.update(s, op) end
      end

      for q <- [:count, {:contains}, {:contains, make_ref()}] do
        assert_raise ArgumentError, fn -> GSet.value(s, q) end
      end

      for bad <- [nil, :state, 123, ~c"abc"] do
        assert_raise ArgumentError, fn -> GSet.add(bad, :a) end
        assert_raise ArgumentError, fn -> GSet.value(bad) end
        assert_raise ArgumentError, fn -> GSet.merge(s, bad) end
        assert_raise ArgumentError, fn -> GSet.equal?(bad, s) end
      end
    end

    test "a binary that is not a G-Set gives {:error, {:bad_gset, reason}}" do
      good = GSet.new() |> GSet.add_all([:a, :b]) |> ok_state()

      for bad <- ["garbage", good <> <<0>>, TwoPSet.new(), binary_part(good, 0, 5)] do
        for result <- [
              GSet.value(bad),
              GSet.size(bad),
              GSet.member?(bad, :a),
              GSet.merge(good, bad),
              GSet.add(bad, :c),
              GSet.digest(bad),
              GSet.to_term(bad),
              GSet.validate(bad)
            ] do
          assert {:error, {:bad_gset, reason}} = result
          assert is_atom(reason)
        end
      end
    end
  end

  describe "Lattice.TwoPSet" do
    test "remove needs the element in the value; a removed element never comes back" do
      s = TwoPSet.new() |> TwoPSet.add_all([:a, :b]) |> ok_state()
      {:ok, s2, delta} = TwoPSet.remove(s, :a)
      assert TwoPSet.value(s2) == [:b]
      assert TwoPSet.to_term(delta) == {:twopset, %{added: [], removed: [:a]}}
      assert TwoPSet.merge(s, delta) === s2
      assert TwoPSet.remove(s2, :a) == {:error, {:precondition, {:not_present, :a}}}
      assert TwoPSet.remove(s2, :zz) == {:error, {:precondition, {:not_present, :zz}}}
      {:ok, s3, _} = TwoPSet.add(s2, :a)
      assert s3 === s2
      refute TwoPSet.member?(s3, :a)
      assert TwoPSet.size(s3) == 1
      assert Type.module(s3) == :lattice_twopset
      assert Type.value(s3) == [:b]

      # A replica that merges the remove before the add never shows the element.
      {:ok, _, add_delta} = TwoPSet.add(TwoPSet.new(), :a)
      early = TwoPSet.merge(TwoPSet.new(), delta)
      assert TwoPSet.value(early) == []
      assert TwoPSet.merge(early, add_delta) |> TwoPSet.value() == []
    end

    test "objects agree with the binary functions, failures included" do
      obj = Object.new(TwoPSet)
      {:ok, _} = Object.update(obj, {:add_all, [:x, :y]}, nil)
      {:ok, d} = Object.update(obj, {:remove, :x}, nil)
      assert TwoPSet.to_term(d) == {:twopset, %{added: [], removed: [:x]}}

      assert Object.update(obj, {:remove, :x}, nil) ==
               {:error, {:precondition, {:not_present, :x}}}

      assert Object.value(obj) == [:y]

      s =
        TwoPSet.new()
        |> TwoPSet.add_all([:x, :y])
        |> ok_state()
        |> TwoPSet.remove(:x)
        |> ok_state()

      assert Object.snapshot(obj) === s
      assert Object.digest(obj) == TwoPSet.digest(s)
      assert Object.join(obj, GSet.new()) == {:error, {:bad_twopset, :wrong_type}}
    end

    test "a caller's bug raises ArgumentError; bad data gives {:error, {:bad_twopset, _}}" do
      s = TwoPSet.new()

      for op <- [{:remove}, {:add_all, :a}, {:remove, self()}, {:delete, :a}] do
        assert_raise ArgumentError, fn -> TwoPSet.update(s, op) end
      end

      assert_raise ArgumentError, fn -> TwoPSet.remove(nil, :a) end

      for bad <- ["garbage", GSet.new(), <<0x13, 1, 1>>] do
        assert {:error, {:bad_twopset, _}} = TwoPSet.value(bad)
        assert {:error, {:bad_twopset, _}} = TwoPSet.remove(bad, :a)
        assert {:error, {:bad_twopset, _}} = TwoPSet.validate(bad)
      end
    end
  end
end
