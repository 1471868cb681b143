ExUnit.start()

defmodule Lattice.TestGen do
  @moduledoc false
  # Random data terms for round-trip and differential tests. Callers seed :rand first
  # (`seed/1`), so every run sees the same terms. Atoms come from a fixed pool: generating
  # them would fill the atom table.

  import Bitwise

  @atoms [:a, :b, :ok, :error, nil, true, false, :héllo, :日本語, :"with space", :Élan]

  def seed(n), do: :rand.seed(:exsss, {n, n * 7 + 1, n * 13 + 2})

  def term(depth \\ 3)
  def term(0), do: leaf()

  def term(depth) do
    case :rand.uniform(9) do
      n when n <= 4 -> leaf()
      5 -> list_of(depth - 1)
      6 -> list_of(depth - 1) |> List.to_tuple()
      7 -> Map.new(list_of(depth - 1), fn t -> {t, term(depth - 1)} end)
      8 -> list_of(depth - 1) ++ leaf()
      9 -> [term(depth - 1) | term(depth - 1)]
    end
  end

  def list_of(depth) do
    n = :rand.uniform(5) - 1
    for _ <- 1..n//1, do: term(depth)
  end

  def leaf do
    case :rand.uniform(9) do
      1 -> :rand.uniform(200) - 100
      2 -> :rand.uniform(1 <<< 64) - 1
      3 -> :rand.uniform(1 <<< 200) - (1 <<< 199)
      4 -> (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(600) - 300)
      5 -> Enum.random(@atoms)
      6 -> bytes(:rand.uniform(20) - 1)
      7 -> unicode(:rand.uniform(8))
      8 -> []
      9 -> {}
    end
  end

  def bytes(n), do: for(_ <- 1..n//1, into: <<>>, do: <<:rand.uniform(256) - 1>>)

  defp unicode(n) do
    for _ <- 1..n, into: "", do: <<Enum.random([?a, ?Z, 0xE9, 0x65E5, 0x1F600, 0x10FFFF])::utf8>>
  end
end
