defmodule Lattice.CNode do
  @moduledoc """
  The lattice C node: a separate OS process (`priv/lattice_cnode`) that joins the
  distributed Erlang cluster as a hidden node of its own.

  A thin facade over the Erlang module `:lattice_cnode`. The server opens the C node as a
  port, waits for it to connect back to this node and report ready, and monitors it. It stops
  with `{:cnode_exited, status}` or `{:cnode_down, node}` when the C node goes away, so a
  supervisor can restart it; the C node exits when its port is closed or this node goes away.

  The local node must be alive (started with `--sname` or `--name`). The cookie is passed to
  the C node in its environment, never on its command line.

      {:ok, pid} = Lattice.CNode.start_link()
      :pong = Lattice.CNode.ping(pid)
      {:ok, "0.1.0", 3} = Lattice.CNode.version(pid)

  Options (a map or keyword list): `:name` (register the server), `:cnode_name` (the C node's
  node name), `:ready_timeout` (ms, default 10000), `:executable` (the binary; default
  `lattice_cnode` in the application's `priv` directory).
  """

  @typedoc "A server: its pid, or the name given with the `:name` option."
  @type server :: GenServer.server()

  @typedoc "Options for `start_link/1` and `start/1`."
  @type options :: :lattice_cnode.options()

  @typedoc "Why the C node could not be started."
  @type start_error :: :lattice_cnode.start_error()

  @doc """
  A child specification, so that the C node can sit in a supervision tree:
  `Supervisor.start_link([Lattice.CNode], strategy: :one_for_one)`, or
  `[{Lattice.CNode, name: :cnode}]` with options (those of `start_link/1`). The child's id is
  the `:name` option when given, else `Lattice.CNode`.
  """
  @spec child_spec(options()) :: Supervisor.child_spec()
  def child_spec(opts \\ %{}) do
    id =
      if is_map(opts),
        do: Map.get(opts, :name, __MODULE__),
        else: Keyword.get(opts, :name, __MODULE__)

    %{id: id, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  @doc """
  Starts the C node under a server linked to the caller (for a supervisor), and returns once
  the C node is connected and ready.

  Returns `{:error, :not_distributed}` if this node is not alive, and
  `{:error, {:cnode_not_built, path}}` if the binary is missing or not executable.
  """
  @spec start_link(options()) :: {:ok, pid()} | {:error, start_error()}
  def start_link(opts \\ %{}), do: :lattice_cnode.start_link(opts)

  @doc "Like `start_link/1`, without linking the server to the caller."
  @spec start(options()) :: {:ok, pid()} | {:error, start_error()}
  def start(opts \\ %{}), do: :lattice_cnode.start(opts)

  @doc "Stops the server; the C node exits."
  @spec stop(server()) :: :ok
  def stop(server), do: :lattice_cnode.stop(server)

  @doc "The C node's node name."
  @spec node_name(server()) :: node()
  def node_name(server), do: :lattice_cnode.node_name(server)

  @doc "The C node's operating-system process id."
  @spec os_pid(server()) :: non_neg_integer()
  def os_pid(server), do: :lattice_cnode.os_pid(server)

  @doc "Asks the C node for `:pong`; `{:error, :timeout}` if no reply comes within `timeout` ms."
  @spec ping(server(), timeout()) :: :pong | {:error, term()}
  def ping(server, timeout \\ 5000), do: :lattice_cnode.ping(server, timeout)

  @doc "The C node's version and message-protocol number, as `{:ok, version, protocol}`."
  @spec version(server(), timeout()) ::
          {:ok, version :: binary(), protocol :: non_neg_integer()} | {:error, term()}
  def version(server, timeout \\ 5000), do: :lattice_cnode.version(server, timeout)
end
