defmodule Lattice.ContextStoreTest do
  # The default store is shared by the whole run: these tests use their own keys and
  # delete them afterwards.
  use ExUnit.Case, async: false

  alias Lattice.ContextStore

  doctest Lattice.ContextStore

  @seed_keys [
    :page_views,
    :account_balance,
    :active_users,
    :system_config,
    :unit1_processed,
    :unit1_errors,
    :active_operations,
    :current_policy,
    :opportunities,
    :market_trends,
    :core_values,
    :mission_statement
  ]

  setup do
    on_exit(fn -> for k <- @seed_keys, do: ContextStore.delete(k) end)
    :ok
  end

  test "seed 001: basic counter operations, as written" do
    # Create a grow-only counter
    :ok = ContextStore.create(:page_views, :g_counter)

    # Increment the counter
    {:ok, 1} = ContextStore.increment(:page_views)
    {:ok, 6} = ContextStore.increment(:page_views, 5)

    # Get current value
    {:ok, 6} = ContextStore.get(:page_views)
  end

  test "seed 001: bidirectional counter" do
    :ok = ContextStore.create(:account_balance, :pn_counter)
    {:ok, 100} = ContextStore.increment(:account_balance, 100)
    {:ok, 75} = ContextStore.decrement(:account_balance, 25)
  end

  test "seed 001: set operations give a MapSet" do
    :ok = ContextStore.create(:active_users, :or_set)
    {:ok, _} = ContextStore.add(:active_users, "user123")
    {:ok, _} = ContextStore.add(:active_users, "user456")
    {:ok, _} = ContextStore.remove(:active_users, "user123")
    {:ok, users} = ContextStore.get(:active_users)
    assert users == MapSet.new(["user456"])
  end

  test "seed 001: register for configuration" do
    :ok = ContextStore.create(:system_config, :lww_register)

    config = %{
      mode: :production,
      features: [:crdt, :amqp, :mcp],
      version: "1.0.0"
    }

    {:ok, _} = ContextStore.set(:system_config, config)
    {:ok, ^config} = ContextStore.get(:system_config)
  end

  test "seed 001: the VSM integration patterns" do
    batch_size = 42
    :ok = ContextStore.create(:unit1_processed, :g_counter)
    :ok = ContextStore.create(:unit1_errors, :pn_counter)
    {:ok, _} = ContextStore.increment(:unit1_processed, batch_size)
    {:ok, _} = ContextStore.increment(:unit1_errors)
    {:ok, _} = ContextStore.decrement(:unit1_errors)
    assert {:ok, 42} = ContextStore.get(:unit1_processed)
    assert {:ok, 0} = ContextStore.get(:unit1_errors)

    :ok = ContextStore.create(:active_operations, :or_set)
    operation = {:unit1, :process_order, "order_123"}
    {:ok, _} = ContextStore.add(:active_operations, operation)
    {:ok, _} = ContextStore.remove(:active_operations, operation)
    assert {:ok, %MapSet{} = ops} = ContextStore.get(:active_operations)
    assert MapSet.size(ops) == 0

    :ok = ContextStore.create(:current_policy, :lww_register)

    policy = %{
      resource_allocation: %{unit1: 0.4, unit2: 0.3, unit3: 0.3},
      priority_mode: :balanced
    }

    {:ok, _} = ContextStore.set(:current_policy, policy)
    assert {:ok, ^policy} = ContextStore.get(:current_policy)

    :ok = ContextStore.create(:opportunities, :or_set)
    :ok = ContextStore.create(:market_trends, :lww_register)
    opportunity = %{id: "opp_001", type: :expansion, potential: :high}
    {:ok, _} = ContextStore.add(:opportunities, opportunity)
    {:ok, _} = ContextStore.set(:market_trends, %{growth: 0.15})
    assert {:ok, opps} = ContextStore.get(:opportunities)
    assert MapSet.member?(opps, opportunity)

    :ok = ContextStore.create(:core_values, :or_set)
    :ok = ContextStore.create(:mission_statement, :lww_register)
    {:ok, _} = ContextStore.add(:core_values, :sustainability)
    {:ok, _} = ContextStore.add(:core_values, :innovation)
    {:ok, _} = ContextStore.set(:mission_statement, "Our mission...")
    assert {:ok, values} = ContextStore.get(:core_values)
    assert values == MapSet.new([:sustainability, :innovation])
  end

  describe "a named store" do
    setup do
      name = :"context_store_test_#{System.unique_integer([:positive])}"
      start_supervised!({ContextStore, name: name, max_crdts: 3})
      {:ok, store: name}
    end

    test "every set type reads as a MapSet, maps as maps, fields by field:", %{store: s} do
      for type <- [:g_set, :two_p_set, :lww_set] do
        :ok = ContextStore.create(type, type, store: s)
        {:ok, 1} = ContextStore.add(type, :a, store: s)
        assert {:ok, MapSet.new([:a])} == ContextStore.get(type, store: s)
      end

      assert {:error, :limit_reached} = ContextStore.create(:m, :lww_map, store: s)
      :ok = ContextStore.delete(:g_set, store: s)
      assert {:error, :limit_reached} = ContextStore.create(:m, :lww_map, store: s)
      :ok = ContextStore.create(:g_set, :lww_map, store: s)
      {:ok, 1} = ContextStore.put(:g_set, :f, 1, store: s)
      assert {:ok, %{f: 1}} = ContextStore.get(:g_set, store: s)
      assert {:ok, 1} = ContextStore.get(:g_set, field: :f, store: s)
      assert {:error, :not_found} = ContextStore.get(:g_set, field: :g, store: s)
      assert {:ok, :lww_map, %{f: 1}} = ContextStore.lookup(:g_set, store: s)
      assert [:g_set, :lww_set, :two_p_set] == ContextStore.keys(store: s)
    end

    test "stats, health and the sync monitor", %{store: s} do
      :ok = ContextStore.create(:c, :g_counter, store: s)
      stats = ContextStore.stats(store: s)
      assert %{replication: true, peers: 0, rows: 1, bytes_sent: 0} = stats

      for k <- [
            :backpressure_drops,
            :breaker_opens,
            :sync_timeouts,
            :oversized_messages,
            :keys_repaired,
            :replication_lag_ms,
            :sync_latency_us,
            :peer_reachability
          ] do
        assert Map.has_key?(stats, k), "stats lack #{k}"
      end

      assert {:healthy, []} = ContextStore.health_status(store: s)
      :ok = ContextStore.disable_sync(store: s)
      assert {:disabled, []} = ContextStore.health_status(store: s)
      :ok = ContextStore.enable_sync(store: s)
      assert is_reference(ContextStore.subscribe_replication(store: s))
    end

    test "errors are values; bugs raise ArgumentError saying why", %{store: s} do
      :ok = ContextStore.create(:c, :g_counter, store: s)
      assert {:error, {:wrong_type, :g_counter}} = ContextStore.add(:c, :x, store: s)
      assert {:error, {:wrong_type, :g_counter}} = ContextStore.create(:c, :or_set, store: s)
      assert {:error, :not_found} = ContextStore.get(:nope, store: s)
      assert {:ok, 1} = ContextStore.increment(:c, store: s)
      assert {:ok, 3} = ContextStore.increment(:c, 2, store: s)

      assert_raise ArgumentError, ~r/increment\/3: the amount must be a positive integer/, fn ->
        ContextStore.increment(:c, -1, store: s)
      end

      assert_raise ArgumentError,
                   ~r/:counter is not a store type|counter is not a store type/,
                   fn ->
                     ContextStore.create(:d, :counter, store: s)
                   end

      assert_raise ArgumentError, ~r/no store named nowhere is running/, fn ->
        ContextStore.get(:c, store: :nowhere)
      end
    end

    test "subscriptions", %{store: s} do
      ref = ContextStore.subscribe(key: :c, store: s)
      :ok = ContextStore.create(:c, :pn_counter, store: s)
      {:ok, -1} = ContextStore.decrement(:c, store: s)
      :ok = ContextStore.delete(:c, store: s)
      assert_receive {:lattice_store, ^ref, ^s, :c, {:created, :pn_counter}}
      assert_receive {:lattice_store, ^ref, ^s, :c, {:updated, {:decrement, 1}}}
      assert_receive {:lattice_store, ^ref, ^s, :c, :deleted}
      :ok = ContextStore.unsubscribe(ref, store: s)
      assert %{subscriptions: 0} = ContextStore.info(store: s)
    end
  end

  test "a store without replication says so" do
    name = :"context_store_local_#{System.unique_integer([:positive])}"
    start_supervised!({ContextStore, name: name, replication: false})
    assert %{replication: false} = ContextStore.stats(store: name)

    assert_raise ArgumentError, ~r/has no replication running/, fn ->
      ContextStore.health_status(store: name)
    end
  end
end
