defmodule Lattice.HLCTest do
  # The node's clock and its maximum offset are global: no other test may run alongside.
  use ExUnit.Case, async: false

  import Bitwise
  alias Lattice.HLC

  doctest HLC

  defp wall_ms, do: System.system_time(:millisecond)

  describe "timestamps" do
    test "make/2, physical/1, logical/1 and from_physical/1" do
      ts = HLC.make(1_700_000_000_123, 42)
      assert ts == (1_700_000_000_123 <<< 16 ||| 42)
      assert HLC.physical(ts) == 1_700_000_000_123
      assert HLC.logical(ts) == 42
      assert HLC.from_physical(1_700_000_000_123) == HLC.make(1_700_000_000_123, 0)
      assert HLC.make(5, 65_535) + 1 == HLC.make(6, 0)
      assert HLC.make(0, 0) == 0
    end

    test "compare/2 is integer order" do
      assert HLC.compare(HLC.make(1, 0), HLC.make(1, 1)) == :lt
      assert HLC.compare(HLC.make(2, 0), HLC.make(1, 65_535)) == :gt
      assert HLC.compare(HLC.make(3, 3), HLC.make(3, 3)) == :eq
    end

    test "to_system_time/2 converts the physical part" do
      ts = HLC.make(1_700_000_000_123, 9)
      assert HLC.to_system_time(ts, :millisecond) == 1_700_000_000_123
      assert HLC.to_system_time(ts, :second) == 1_700_000_000
      assert HLC.to_system_time(ts, :microsecond) == 1_700_000_000_123_000
    end

    test "arguments out of range raise" do
      assert_raise ArgumentError, fn -> HLC.make(1, 65_536) end
      assert_raise ArgumentError, fn -> HLC.make(-1, 0) end
      assert_raise ArgumentError, fn -> HLC.make(1.0, 0) end
      assert_raise ArgumentError, fn -> HLC.make(Bitwise.bsl(1, 48), 0) end
      assert_raise ArgumentError, fn -> HLC.physical(-1) end
      assert_raise ArgumentError, fn -> HLC.logical(:ts) end
      assert_raise ArgumentError, fn -> HLC.compare(1, :ts) end
      assert_raise ArgumentError, fn -> HLC.pure_now(0, Bitwise.bsl(1, 48)) end
    end
  end

  describe "the node's clock" do
    test "now/0 never repeats and never goes back" do
      stamps = for _ <- 1..20_000, do: HLC.now()
      assert stamps == Enum.sort(stamps)
      assert stamps == Enum.dedup(stamps)
      assert HLC.peek() >= List.last(stamps)
    end

    test "now/0 follows the wall clock" do
      before = wall_ms()
      physical = HLC.physical(HLC.now())
      # The clock may run ahead of the wall clock (an update from a node slightly ahead:
      # the tests here push it at most 800 ms ahead), never behind it (give or take the 1 ms
      # of rounding in the NIF's reading).
      assert physical >= before - 1
      assert physical <= wall_ms() + 2_000
    end

    test "now/0 is unique across processes" do
      tasks = for _ <- 1..8, do: Task.async(fn -> for _ <- 1..5_000, do: HLC.now() end)
      results = Task.await_many(tasks, 30_000)

      for stamps <- results,
          do: assert(stamps == Enum.sort(stamps) and stamps == Enum.uniq(stamps))

      all = List.flatten(results)
      assert length(Enum.uniq(all)) == length(all)
    end

    test "peek/0 does not advance the clock" do
      ts = HLC.now()
      assert HLC.peek() == ts
      assert HLC.peek() == ts
      assert HLC.now() > ts
    end

    test "update/1 moves the clock past a remote timestamp a little ahead" do
      remote = HLC.make(wall_ms() + 100, 7)
      assert {:ok, ts} = HLC.update(remote)
      assert ts > remote
      assert HLC.now() > ts
    end

    test "update/1 with an old timestamp still advances the clock" do
      last = HLC.now()
      assert {:ok, ts} = HLC.update(HLC.make(1000, 0))
      assert ts > last
    end

    test "update/1 refuses a remote clock too far ahead and does not move" do
      last = HLC.now()
      ahead = 60_000
      assert {:error, {:clock_skew, skew}} = HLC.update(HLC.make(wall_ms() + ahead, 0))
      # The NIF reads the wall clock as monotonic + offset, each in whole milliseconds, so
      # it may be 1 ms behind System.system_time(:millisecond).
      assert skew > HLC.max_offset() and skew <= ahead + 1
      assert HLC.peek() == last
    end

    test "set_max_offset/1 changes how far ahead a remote may be" do
      original = HLC.max_offset()
      assert original == Application.fetch_env!(:lattice, :hlc_max_offset_ms)
      on_exit(fn -> HLC.set_max_offset(original) end)

      assert HLC.set_max_offset(0) == :ok
      assert HLC.max_offset() == 0
      assert {:error, {:clock_skew, _}} = HLC.update(HLC.make(wall_ms() + 800, 0))

      assert HLC.set_max_offset(60_000) == :ok
      assert HLC.max_offset() == 60_000
      assert {:ok, _} = HLC.update(HLC.make(wall_ms() + 800, 0))
    end

    test "wrong types raise ArgumentError" do
      for bad <- [-1, 1.0, :ts, "1", 1 <<< 64] do
        assert_raise ArgumentError, fn -> HLC.update(bad) end
      end

      for bad <- [-1, 1.0, :ms] do
        assert_raise ArgumentError, fn -> HLC.set_max_offset(bad) end
      end
    end
  end

  describe "pure_now/2 and pure_update/4" do
    test "a tick at a later wall-clock time starts that millisecond at logical 0" do
      assert HLC.pure_now(0, 1000) == HLC.make(1000, 0)
      assert HLC.pure_now(HLC.make(1000, 9), 1001) == HLC.make(1001, 0)
    end

    test "a tick in the same millisecond, or with the wall clock behind, counts up" do
      assert HLC.pure_now(HLC.make(1000, 5), 1000) == HLC.make(1000, 6)
      assert HLC.pure_now(HLC.make(2000, 5), 1000) == HLC.make(2000, 6)
      assert HLC.pure_now(HLC.make(2000, 65_535), 1000) == HLC.make(2001, 0)
    end

    test "an update moves past both the last and the remote timestamp" do
      assert HLC.pure_update(HLC.make(1000, 3), HLC.make(1000, 7), 1000, 500) ==
               {:ok, HLC.make(1000, 8)}

      assert HLC.pure_update(HLC.make(1000, 9), HLC.make(1000, 7), 1000, 500) ==
               {:ok, HLC.make(1000, 10)}

      assert HLC.pure_update(HLC.make(900, 3), HLC.make(1200, 7), 1000, 500) ==
               {:ok, HLC.make(1200, 8)}

      assert HLC.pure_update(HLC.make(900, 3), HLC.make(800, 7), 1000, 500) ==
               {:ok, HLC.make(1000, 0)}
    end

    test "a remote more than the maximum offset ahead is refused with the skew" do
      assert {:ok, _} = HLC.pure_update(0, HLC.make(1500, 65_535), 1000, 500)
      assert HLC.pure_update(0, HLC.make(1501, 0), 1000, 500) == {:error, {:clock_skew, 501}}
      assert HLC.pure_update(0, HLC.make(90_000, 0), 1000, 500) == {:error, {:clock_skew, 89_000}}
      assert HLC.pure_update(0, HLC.make(1001, 0), 1000, 0) == {:error, {:clock_skew, 1}}
      assert {:ok, _} = HLC.pure_update(0, HLC.make(1000, 3), 1000, 0)
    end

    test "random histories follow the HLC rules and never go back" do
      Lattice.TestGen.seed(7)
      max_offset = 500

      Enum.reduce(1..5_000, {0, 1_000_000}, fn _, {last, wall} ->
        # The wall clock mostly creeps forward, sometimes stays or steps back.
        wall = max(0, wall + Enum.random([0, 0, 1, 1, 2, 50, -3, -400]))

        next =
          if :rand.uniform(2) == 1 do
            ts = HLC.pure_now(last, wall)
            assert ts == max(HLC.make(wall, 0), last + 1)
            ts
          else
            remote =
              HLC.make(max(0, wall + :rand.uniform(1_200) - 700), :rand.uniform(65_536) - 1)

            ahead = HLC.physical(remote) - wall

            case HLC.pure_update(last, remote, wall, max_offset) do
              {:ok, ts} ->
                assert ahead <= max_offset
                assert ts == Enum.max([HLC.make(wall, 0), last + 1, remote + 1])
                ts

              {:error, {:clock_skew, skew}} ->
                assert ahead > max_offset
                assert skew == ahead
                last
            end
          end

        assert next >= last
        {next, wall}
      end)
    end

    test "wrong types raise ArgumentError" do
      for bad <- [-1, 1.0, :x, 1 <<< 64] do
        assert_raise ArgumentError, fn -> HLC.pure_now(bad, 1000) end
        assert_raise ArgumentError, fn -> HLC.pure_now(0, bad) end
        assert_raise ArgumentError, fn -> HLC.pure_update(bad, 0, 1000, 500) end
        assert_raise ArgumentError, fn -> HLC.pure_update(0, bad, 1000, 500) end
        assert_raise ArgumentError, fn -> HLC.pure_update(0, 0, bad, 500) end
        assert_raise ArgumentError, fn -> HLC.pure_update(0, 0, 1000, bad) end
      end
    end
  end
end
