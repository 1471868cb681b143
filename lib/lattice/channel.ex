defmodule Lattice.Channel do
  @moduledoc """
  A secure channel between two nodes: a Noise XX handshake
  (`Noise_XX_25519_ChaChaPoly_BLAKE2b`) authenticated by node certificates (`:lattice_cert`),
  then transport messages under one key per direction, with a replay window per key and
  rekeying by a fresh handshake on a timer and a message count. `docs/CHANNEL.md` describes the
  protocol and the wire format.

  A channel is a value its owning process keeps (one per peer) and threads through the calls;
  its secrets live in guarded C memory behind it, never in a term. No call does I/O: each gives
  the messages to send, in order, over a transport that keeps their order (Erlang distribution,
  a socket with `packet: 4`).

      {:ok, a, [m1]} = Lattice.Channel.initiate(opts_a)
      {:ok, b} = Lattice.Channel.respond(opts_b)
      {:ok, b, [m2]} = Lattice.Channel.handle_handshake_message(b, m1)
      {:ok, a, [m3]} = Lattice.Channel.handle_handshake_message(a, m2)
      {:ok, b, []} = Lattice.Channel.handle_handshake_message(b, m3)
      {:ok, [msg], a} = Lattice.Channel.encrypt(a, "hello")
      {:ok, "hello", b} = Lattice.Channel.decrypt(b, msg)

  Options (a map or a keyword list): `:cluster` (1..255 bytes, both sides the same), `:static`
  (this node's X25519 key, `:lattice_crypto.keypair(:kx)`), `:certificate` (this node's
  certificate naming that key), and either `:authority` (the cluster authority's Ed25519 public
  key, with `:revocations`, a revocation list or `:none`) or `:verify` (a function of the
  peer's certificate binary giving `{:ok, %{cluster: _, node: _, kx_pub: _}}` or
  `{:error, reason}`). Timers in milliseconds: `:rekey_after_time` (120 000),
  `:reject_after_time` (180 000), `:grace` (10 000), `:handshake_timeout` (10 000); counts:
  `:rekey_after_messages` (2^60), `:reject_after_messages` (2^64 - 2^13 - 1); `:clock` (a
  function giving monotonic milliseconds); `:peer` (the node name the certificate must
  carry: `:wrong_peer` otherwise).

  Bad data gives `{:error, reason}`: `:bad_mac`, `:replay`, `:malformed`, `:too_large`,
  `:key_expired`, `:unknown_key`, `:not_established`, `:unexpected_message`, `:bad_key`,
  `:wrong_cluster`, `:peer_changed`, `:wrong_peer`, `:handshake_timeout`,
  `{:unsupported_version, v}`, `{:bad_certificate, reason}`. Wrong options or arguments raise `ArgumentError`.

  Delegates to `:lattice_channel`.
  """

  # Re-raises the Erlang badarg as an ArgumentError with :lattice_channel's explanation,
  # naming the facade function.
  defmacrop wrap(call) do
    {name, arity} = __CALLER__.function
    function = "#{inspect(__CALLER__.module)}.#{name}/#{arity}"

    quote do
      try do
        unquote(call)
      rescue
        e in ArgumentError ->
          case :lattice_channel.error_message(__STACKTRACE__) do
            :undefined -> reraise e, __STACKTRACE__
            message -> reraise ArgumentError, "#{unquote(function)}: #{message}", __STACKTRACE__
          end
      end
    end
  end

  @typedoc "A channel (opaque)."
  @type t :: :lattice_channel.channel()
  @typedoc "A wire message, handshake or transport."
  @type message :: binary()
  @type reason :: :lattice_channel.reason()

  @doc "Starts a handshake as the initiator: the channel and message 1 to send."
  @spec initiate(map() | keyword()) :: {:ok, t(), [message()]} | {:error, reason()}
  def initiate(opts), do: wrap(:lattice_channel.initiate(to_map(opts)))

  @doc "A channel waiting for an initiator's message 1."
  @spec respond(map() | keyword()) :: {:ok, t()}
  def respond(opts), do: wrap(:lattice_channel.respond(to_map(opts)))

  @doc """
  Processes a handshake message from the peer: the channel and the messages to send back. The
  handshake that completes installs new keys (the first establishes the channel; later ones
  are rekeys, keeping the previous keys for messages in flight).
  """
  @spec handle_handshake_message(t(), message()) :: {:ok, t(), [message()]} | {:error, reason()}
  def handle_handshake_message(channel, message),
    do: wrap(:lattice_channel.handle_handshake_message(channel, message))

  @doc """
  Encrypts a message to the peer: the messages to send, in order (the data, then a rekey's
  message 1 when the initiator's key is due).
  """
  @spec encrypt(t(), iodata()) :: {:ok, [message()], t()} | {:error, reason()}
  def encrypt(channel, plain), do: wrap(:lattice_channel.encrypt(channel, plain))

  @doc "Decrypts a transport message from the peer (replays and forgeries refused)."
  @spec decrypt(t(), message()) :: {:ok, binary(), t()} | {:error, reason()}
  def decrypt(channel, message), do: wrap(:lattice_channel.decrypt(channel, message))

  @doc "Any incoming message: `{:data, plain, channel}` or `{:handshake, out, channel}`."
  @spec handle(t(), message()) ::
          {:data, binary(), t()} | {:handshake, [message()], t()} | {:error, reason()}
  def handle(channel, message), do: wrap(:lattice_channel.handle(channel, message))

  @doc "Timers: ends a handshake that waited too long, starts a rekey that is due."
  @spec tick(t()) :: {:ok, [message()], t()} | {:error, reason()}
  def tick(channel), do: wrap(:lattice_channel.tick(channel))

  @doc "Starts a rekey now (the initiator only)."
  @spec rekey(t()) :: {:ok, [message()], t()} | {:error, reason()}
  def rekey(channel), do: wrap(:lattice_channel.rekey(channel))

  @doc """
  Wipes and frees the channel's secrets now (they go anyway when the channel is collected);
  later calls on it raise `ArgumentError`.
  """
  @spec close(t()) :: :ok
  def close(channel), do: wrap(:lattice_channel.close(channel))

  @doc "Whether a handshake has completed."
  @spec established?(t()) :: boolean()
  def established?(channel), do: :lattice_channel.established(channel)

  @doc "The peer's verified certificate, once established (`nil` before)."
  @spec peer(t()) :: map() | nil
  def peer(channel) do
    case :lattice_channel.peer(channel) do
      :undefined -> nil
      peer -> peer
    end
  end

  @doc """
  The anti-entropy key of the current epoch: 32 bytes, the same on both ends, new at each rekey;
  for this node's own C node (`Lattice.AE.set_peer_key/3`). `{:error, :not_established}` before
  the first handshake.
  """
  @spec ae_key(t()) :: <<_::256>> | {:error, :not_established}
  def ae_key(channel), do: wrap(:lattice_channel.ae_key(channel))

  @doc "What is not secret about the channel (epoch, counts, handshake hash, peer)."
  @spec info(t()) :: map()
  def info(channel), do: wrap(:lattice_channel.info(channel))

  @doc "The node's channel counters (handshakes, failures by reason, rekeys, messages)."
  @spec stats() :: map()
  def stats, do: :lattice_channel.stats()

  @doc "The kind of a wire message: `:hs1`, `:hs2`, `:hs3`, `:data` or `:unknown`."
  @spec message_type(binary()) :: :hs1 | :hs2 | :hs3 | :data | :unknown
  def message_type(message), do: :lattice_channel.message_type(message)

  defp to_map(opts) when is_list(opts), do: Map.new(opts)
  defp to_map(opts), do: opts
end
