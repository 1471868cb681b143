defmodule Lattice.HTTPTest do
  # The endpoint is one per node: the tests that start it run one at a time.
  use ExUnit.Case, async: false

  alias Lattice.HTTP

  setup do
    on_exit(fn -> HTTP.stop() end)
    :ok
  end

  defp get(port, path) do
    url = ~c"http://127.0.0.1:#{port}#{path}"

    case :httpc.request(:get, {url, []}, [timeout: 10_000], body_format: :binary) do
      {:ok, {{_, status, _}, headers, body}} -> {status, headers, body}
      {:error, reason} -> {:error, reason}
    end
  end

  test "off by default, started on an ephemeral loopback port, stopped" do
    assert HTTP.port() == nil
    assert {:ok, port} = HTTP.start(port: 0)
    assert is_integer(port) and port > 0
    assert HTTP.port() == port
    assert {:error, :already_started} = HTTP.start(%{port: 0})

    {200, headers, body} = get(port, "/metrics")
    {_, type} = List.keyfind(headers, ~c"content-type", 0)
    assert List.starts_with?(type, ~c"text/plain; version=0.0.4")
    assert body =~ "# TYPE crdt_merge_conflicts_total counter"
    assert body =~ ~s(lattice_store_rows{store="lattice_store",node="#{node()}"})

    {200, _, json} = get(port, "/status.json")
    assert json =~ ~s("node":"#{node()}")
    {200, _, html} = get(port, "/status")
    assert html =~ "<svg"

    assert :ok = HTTP.stop()
    assert HTTP.port() == nil
    assert {:error, _} = get(port, "/metrics")
    assert {:error, :not_started} = HTTP.stop()
  end

  test "metrics and status without HTTP" do
    :ok = Lattice.ContextStore.create(:http_test_counter, :g_counter)
    {:ok, 3} = Lattice.ContextStore.increment(:http_test_counter, 3)

    try do
      text = HTTP.metrics()
      assert text =~ ~s(crdt_state_size_bytes{store="lattice_store",node="#{node()}"})

      status = HTTP.status()
      assert status.node == node()
      assert [%{name: :lattice_store, keys: keys} | _] = status.stores
      assert keys >= 1
      assert %{up: _} = status.cnode
    after
      Lattice.ContextStore.delete(:http_test_counter)
    end
  end
end
