defmodule LatticeTest do
  use ExUnit.Case, async: true

  test "version/0 is the application's version" do
    assert Lattice.version() == Mix.Project.config()[:version]
    assert {:ok, _} = Version.parse(Lattice.version())
  end

  test "the NIF library loads from the application's priv directory" do
    priv = :code.priv_dir(:lattice)
    assert is_list(priv), "no priv dir for :lattice: #{inspect(priv)}"
    assert File.regular?(Path.join(priv, "lattice_nif.so"))
    # A module whose on_load fails is not loaded at all.
    assert {:file, _} = :code.is_loaded(:lattice_nif)
  end
end
