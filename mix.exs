defmodule Mix.Tasks.Compile.LatticeMake do
  @moduledoc "Builds the NIF library and the C node by calling `make` (the only build logic)."
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    # `make -q` asks whether anything is out of date, without building or printing: every
    # Mix command would otherwise print make's "Nothing to be done for 'all'".
    {_, up_to_date} = System.cmd("make", ["-q", "all"], stderr_to_stdout: true)

    if up_to_date != 0 do
      {output, status} =
        System.cmd("make", ["--no-print-directory", "all"], stderr_to_stdout: true)

      IO.binwrite(output)

      if status != 0 do
        Mix.raise("lattice: `make all` failed with exit status #{status}; see the output above")
      end
    end

    # Mix copies priv/ into _build before custom compilers run; copy again now that make has
    # written priv/, so a project built embedded gets the NIF library and the C node.
    Mix.Project.build_structure()
    :ok
  end
end

defmodule Lattice.MixProject do
  use Mix.Project

  def project do
    [
      app: :lattice,
      version: "0.1.0",
      elixir: "~> 1.14",
      compilers: [:lattice_make | Mix.compilers()],
      erlc_paths: ["src"],
      erlc_options: [:debug_info, :warnings_as_errors],
      test_paths: ["test/elixir"],
      start_permanent: Mix.env() == :prod,
      # No docs: config: ex_doc is not packaged. `make docs` writes the edoc of the Erlang
      # modules into doc/.
      deps: []
    ]
  end

  def application do
    [
      # inets (httpd) serves the optional HTTP endpoint. Elixir 1.14's `inets: :optional`
      # left it out of the .app altogether, so it is listed as required: it is part of OTP,
      # and a Mix release always carries it. (src/lattice.app.src, for rebar3, lists it as an
      # optional application.)
      extra_applications: [:logger, :inets],
      mod: {:lattice_app, []},
      env: [hlc_max_offset_ms: 500]
    ]
  end
end
