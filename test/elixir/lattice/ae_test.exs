defmodule Lattice.AETest do
  # Lattice.AE against this VM's supervised C node: the application's lattice_cnode_keeper
  # starts one once the VM is distributed. Distribution is global state: not async. epmd must
  # run on loopback (scripts/ensure-epmd.sh). The multi-node tests are in EUnit
  # (test/lattice_ae_tests.erl).
  use ExUnit.Case, async: false

  @moduletag :capture_log

  alias Lattice.AE

  setup_all do
    started =
      if Node.alive?() do
        false
      else
        {:ok, _} =
          :net_kernel.start([
            :"lattice_ae_exunit_#{System.unique_integer([:positive])}",
            :shortnames
          ])

        true
      end

    {:ok, _} = Application.ensure_all_started(:lattice)
    wait_until(fn -> match?({:ok, _}, :lattice_cnode_keeper.cnode()) end)
    on_exit(fn -> if started, do: :ok = :net_kernel.stop() end)
    :ok
  end

  test "open, put, update, lookup, flush: the C node holds the owner's leaves" do
    store = :"ae_exunit_#{System.unique_integer([:positive])}"
    assert :ok = AE.open(store)
    assert {:error, :already_open} = AE.open(store)
    d = fn i -> <<i::128>> end
    assert :ok = AE.put(store, for(i <- 1..1000, do: {"k#{i}", d.(i)}))
    assert :ok = AE.update(store, [{"k1", :delete}, {"k2", d.(0)}])
    assert :ok = AE.delete(store, ["k3"])
    assert {:ok, <<0::128>>} = AE.lookup(store, "k2")
    assert :error = AE.lookup(store, "k1")
    assert {:ok, %{count: 998, hash: <<_::128>>}} = AE.flush(store)
    assert {:ok, %{leaves: 998}} = AE.info(store)
    assert {:ok, %{counters: %{}, limits: %{}}} = AE.cnode_stats()
    assert :ok = AE.close(store)
    assert {:error, :not_open} = AE.flush(store)
  end

  test "a session with an unreachable node is reported failed" do
    store = :"ae_exunit_#{System.unique_integer([:positive])}"
    :ok = AE.open(store)
    peer = :"nowhere_#{System.unique_integer([:positive])}@localhost"
    assert :ok = AE.sync(store, peer)
    assert {:error, {:unreachable, _}, %{keys: [], node: ^peer}} = AE.await(store, peer, 30_000)
    :ok = AE.close(store)
  end

  test "bad keys and digests raise ArgumentError" do
    store = :"ae_exunit_#{System.unique_integer([:positive])}"
    :ok = AE.open(store)
    assert_raise ArgumentError, fn -> AE.put(store, [{"", <<0::128>>}]) end
    assert_raise ArgumentError, fn -> AE.put(store, [{"k", <<0::64>>}]) end
    assert_raise ArgumentError, fn -> AE.delete(store, [:not_a_binary]) end
    assert_raise ArgumentError, fn -> AE.update(store, [{"k", :remove}]) end
    :ok = AE.close(store)
  end

  test "peer keys: set, listed without the key, cleared; require_keys refuses a keyless sync" do
    store = :"ae_exunit_#{System.unique_integer([:positive])}"
    :ok = AE.open(store, %{require_keys: true})
    peer = :"nowhere_#{System.unique_integer([:positive])}@localhost"
    assert :ok = AE.set_peer_key(store, peer, <<1::256>>)
    assert {:ok, %{^peer => :undefined}} = AE.peer_keys(store)
    assert :ok = AE.clear_peer_key(store, peer)
    assert {:ok, %{}} = AE.peer_keys(store)
    assert_raise ArgumentError, fn -> AE.set_peer_key(store, peer, <<1::128>>) end
    assert_raise ArgumentError, fn -> AE.set_peer_key(store, node(), <<1::256>>) end
    assert {:error, :not_open} = AE.set_peer_key(:no_such_store, peer, <<1::256>>)
    {:ok, _} = AE.flush(store)
    :ok = AE.close(store)
  end

  defp wait_until(fun, left \\ 500) do
    cond do
      fun.() ->
        :ok

      left == 0 ->
        flunk("timed out")

      true ->
        Process.sleep(20)
        wait_until(fun, left - 1)
    end
  end
end
