defmodule Lattice.HTTP do
  @moduledoc """
  The optional HTTP endpoint: `/metrics` (Prometheus text exposition), `/status` (a status
  page) and `/status.json`, served by OTP's `httpd` (docs/OBSERVABILITY.md).

  A thin facade over the Erlang module `:lattice_http`. Off by default; it starts with the
  application when its environment has an `:http` map,

      config :lattice, http: %{port: 9464}

  or at run time. It binds to loopback unless `:ip` says otherwise, and has no
  authentication: put it behind something that has, if it must be reached from elsewhere.

      {:ok, port} = Lattice.HTTP.start(port: 0)   # 0: an ephemeral port
      ^port = Lattice.HTTP.port()
      :ok = Lattice.HTTP.stop()

  Options: `:port` (default 0: an ephemeral port), `:ip` (a tuple, default `{127, 0, 0, 1}`),
  `:sample_interval_ms` (the throughput sampler's period, default 1000).

  `metrics/0` and `status/0` give what the endpoint would serve, without HTTP.
  """

  @typedoc "Options for `start/1`, as a map or a keyword list."
  @type options ::
          %{
            optional(:port) => :inet.port_number(),
            optional(:ip) => :inet.ip_address(),
            optional(:sample_interval_ms) => pos_integer()
          }
          | keyword()

  @doc """
  Starts the endpoint under lattice's supervisor. Returns `{:ok, port}`, or
  `{:error, :already_started}`, or `{:error, reason}` (the listen error, as `:eaddrinuse`).
  """
  @spec start(options()) :: {:ok, :inet.port_number()} | {:error, term()}
  def start(opts \\ %{}), do: :lattice_http.start(Map.new(opts))

  @doc "Stops the endpoint; `{:error, :not_started}` when it does not run."
  @spec stop() :: :ok | {:error, :not_started}
  def stop, do: :lattice_http.stop()

  @doc "The port the endpoint listens on, or `nil` when it does not run."
  @spec port() :: :inet.port_number() | nil
  def port do
    case :lattice_http.port() do
      :undefined -> nil
      port -> port
    end
  end

  @doc "This node's figures in the Prometheus text format, as `/metrics` serves them."
  @spec metrics() :: binary()
  def metrics, do: IO.iodata_to_binary(:lattice_metrics.render())

  @doc """
  This node's summary, as `/status.json` serves it: `:node`, `:nodes` (with reachability),
  `:stores` (keys, bytes, replication lag, anti-entropy sessions and repairs, breakers per
  peer), `:cnode` and the throughput `:history`.
  """
  @spec status() :: map()
  def status, do: :lattice_status.summary()
end
