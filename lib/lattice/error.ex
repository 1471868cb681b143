defmodule Lattice.Error do
  @moduledoc false
  # The Elixir side of lattice's caller errors. The Erlang modules raise `badarg` with
  # `error_info` (see `:lattice_error`); Elixir turns that into an `ArgumentError` whose
  # message counts arguments in Erlang order, which is not the facade's. `wrap/1` re-raises it
  # with the explanation alone, naming the facade function that was called.

  @doc false
  defmacro wrap(call) do
    {name, arity} = __CALLER__.function
    function = "#{inspect(__CALLER__.module)}.#{name}/#{arity}"

    quote do
      try do
        unquote(call)
      rescue
        e in ArgumentError -> Lattice.Error.reraise!(e, __STACKTRACE__, unquote(function))
      end
    end
  end

  @doc false
  @spec reraise!(Exception.t(), Exception.stacktrace(), String.t()) :: no_return()
  def reraise!(exception, stacktrace, function) do
    message =
      with :undefined <- :lattice_error.message(stacktrace),
           :undefined <- :lattice_store.error_message(stacktrace),
           :undefined <- :lattice_merkle.error_message(stacktrace),
           :undefined <- :lattice_crypto.error_message(stacktrace),
           :undefined <- proto_message(stacktrace) do
        :undefined
      end

    case message do
      :undefined -> reraise exception, stacktrace
      message -> reraise ArgumentError, "#{function}: #{message}", stacktrace
    end
  end

  # The envelope, certificate, quorum, keyring and replay modules (issue 11, crypto-proto).
  defp proto_message(stacktrace) do
    Enum.reduce_while(
      [
        :lattice_envelope,
        :lattice_cert,
        :lattice_quorum,
        :lattice_keyring,
        :lattice_replay,
        :lattice_security
      ],
      :undefined,
      fn m, acc ->
        case m.error_message(stacktrace) do
          :undefined -> {:cont, acc}
          message -> {:halt, message}
        end
      end
    )
  end
end
