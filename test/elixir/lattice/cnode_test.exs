defmodule Lattice.CNodeTest do
  # The C node needs this VM to be distributed, which is global state: no other test may run
  # alongside. epmd must be running on loopback (scripts/ensure-epmd.sh, as `make exunit` does).
  use ExUnit.Case, async: false

  # The server logs the C node's start, stop and exit.
  @moduletag :capture_log

  alias Lattice.CNode

  @deadline_ms 10_000
  @poll_ms 20

  setup_all do
    started =
      if Node.alive?() do
        false
      else
        name = :"lattice_exunit_#{System.unique_integer([:positive])}"

        case :net_kernel.start([name, :shortnames]) do
          {:ok, _} ->
            true

          {:error, reason} ->
            raise "cannot make this VM distributed (is epmd running? " <>
                    "see scripts/ensure-epmd.sh): #{inspect(reason)}"
        end
      end

    on_exit(fn -> if started, do: :ok = :net_kernel.stop() end)

    exe = :lattice_cnode.executable()
    assert File.regular?(exe), "the C node is not built: #{exe}"
    %{exe: exe}
  end

  test "child_spec/1: a supervisor starts the C node, bare or with options" do
    assert %{id: Lattice.CNode, start: {Lattice.CNode, :start_link, [%{}]}} =
             CNode.child_spec(%{})

    {:ok, sup} = Supervisor.start_link([Lattice.CNode], strategy: :one_for_one)
    [{Lattice.CNode, pid, :worker, _}] = Supervisor.which_children(sup)
    assert CNode.ping(pid) == :pong
    :ok = Supervisor.stop(sup)

    {:ok, sup} =
      Supervisor.start_link([{Lattice.CNode, name: :lattice_test_cnode}], strategy: :one_for_one)

    [{:lattice_test_cnode, pid, :worker, _}] = Supervisor.which_children(sup)
    assert Process.whereis(:lattice_test_cnode) == pid
    assert CNode.ping(:lattice_test_cnode) == :pong
    :ok = Supervisor.stop(sup)
  end

  test "start_link/1: node_name, os_pid, ping, version; stop/1 ends the C node" do
    assert {:ok, pid} = CNode.start_link()

    cnode = CNode.node_name(pid)
    assert is_atom(cnode)
    [alive, host] = String.split(Atom.to_string(node()), "@")
    assert [cnode_alive, ^host] = String.split(Atom.to_string(cnode), "@")
    assert String.starts_with?(cnode_alive, "lattice_cnode_#{alive}_")

    os_pid = CNode.os_pid(pid)
    assert is_integer(os_pid) and os_pid > 0
    assert os_alive?(os_pid)

    assert CNode.ping(pid) == :pong
    assert CNode.ping(pid, 2000) == :pong
    assert CNode.version(pid) == {:ok, "0.1.0", 3}
    assert CNode.version(pid, 2000) == {:ok, "0.1.0", 3}
    assert cnode in Node.list(:hidden)

    assert CNode.stop(pid) == :ok
    refute Process.alive?(pid)
    # stop/1 returns once the C node's connection is gone; the process follows.
    refute cnode in Node.list(:hidden)
    wait_until("the C node process exits", fn -> not os_alive?(os_pid) end)
  end

  test "start/1 with a keyword list: a registered server and a chosen C node name", %{exe: exe} do
    [_, host] = String.split(Atom.to_string(node()), "@")
    chosen = :"lattice_exunit_cnode_#{System.unique_integer([:positive])}@#{host}"
    name = :lattice_exunit_cnode_server

    assert {:ok, pid} =
             CNode.start(name: name, cnode_name: chosen, executable: exe, ready_timeout: 5000)

    try do
      assert Process.whereis(name) == pid
      assert CNode.node_name(name) == chosen
      assert CNode.ping(name) == :pong
      assert CNode.version(name) == {:ok, "0.1.0", 3}
    after
      assert CNode.stop(name) == :ok
    end

    refute Process.whereis(name)
  end

  test "the C node killed: the server stops with {:cnode_exited, status}" do
    assert {:ok, pid} = CNode.start()
    os_pid = CNode.os_pid(pid)
    ref = Process.monitor(pid)
    {_, 0} = System.cmd("kill", ["-KILL", Integer.to_string(os_pid)])
    # 128 + the signal number, as the port reports it.
    assert_receive {:DOWN, ^ref, :process, ^pid, {:cnode_exited, 137}}, @deadline_ms
  end

  test "start errors: a missing binary, bad options" do
    missing = "/nonexistent/lattice_cnode"
    assert CNode.start_link(executable: missing) == {:error, {:cnode_not_built, missing}}
    assert CNode.start(%{executable: missing}) == {:error, {:cnode_not_built, missing}}
    assert CNode.start(bogus: 1) == {:error, {:bad_option, :bogus}}
    assert CNode.start(ready_timeout: -1) == {:error, {:bad_option, {:ready_timeout, -1}}}
    assert CNode.start(cnode_name: "nohost") == {:error, {:bad_option, {:cnode_name, "nohost"}}}
    assert CNode.start(:not_options) == {:error, {:bad_option, :not_options}}
  end

  test "a VM that is not distributed: {:error, :not_distributed}", %{exe: exe} do
    # A peer VM without a node name, reached over its stdio; it loads lattice and Elixir from
    # this VM's code paths.
    paths =
      for app <- [:lattice, :elixir],
          do: app |> Application.app_dir("ebin") |> String.to_charlist()

    {:ok, peer, _} =
      :peer.start(%{connection: :standard_io, args: Enum.flat_map(paths, &[~c"-pa", &1])})

    try do
      refute :peer.call(peer, :erlang, :is_alive, [])
      assert :peer.call(peer, CNode, :start, [%{executable: exe}]) == {:error, :not_distributed}
      assert :peer.call(peer, CNode, :start_link, []) == {:error, :not_distributed}
    after
      :peer.stop(peer)
    end
  end

  # True while the OS process exists and is not a zombie (an orphan may wait to be reaped).
  defp os_alive?(os_pid) do
    case File.read("/proc/#{os_pid}/stat") do
      {:ok, stat} ->
        # The state follows the name, which is in parentheses and may hold any character.
        after_name = stat |> String.split(")") |> List.last()
        not String.starts_with?(String.trim_leading(after_name), ["Z", "X"])

      {:error, _} ->
        false
    end
  end

  defp wait_until(what, pred, deadline \\ nil) do
    deadline = deadline || System.monotonic_time(:millisecond) + @deadline_ms

    cond do
      pred.() ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        flunk("timed out waiting until #{what}")

      true ->
        Process.sleep(@poll_ms)
        wait_until(what, pred, deadline)
    end
  end
end
