#!/usr/bin/env bash
# Proves that both kinds of consumers can build and use lattice, offline:
#
#   1. a Mix project depending on lattice by path (dev);
#   2. the same in MIX_ENV=prod with build_embedded: true, where priv/ is copied into _build
#      rather than symlinked;
#   3. as 2, but with lattice in a clean copy of the source tree whose priv/ starts empty, so
#      the NIF library only reaches _build if lattice's compiler copies priv/ after make ran
#      (STYLE.md, habit 11); the run then happens with the copy's priv/ moved away;
#   4. a rebar3 project with lattice in _checkouts/ (rebar3 has no path dependencies).
#
# Each one calls a NIF and checks the answer. Run from anywhere (`make consumers` runs it
# from the repository root). LATTICE_KEEP_TMP=1 keeps the throw-away projects for a look.
#
# Nothing here may reach the network: there are no hex packages. Mix and rebar3 get empty
# homes (no Hex archive, no global rebar3 plugins), HEX_OFFLINE=1, stdin from /dev/null (a
# "Shall I install Hex?" prompt fails instead of waiting) and a proxy that refuses every
# connection, so any attempt fails at once and loudly instead of hanging.
#
# The repository itself is only touched by `make all` (run by lattice's own compile step,
# idempotent); every consumer builds into its own _build in the temporary directory.
set -euo pipefail

say() { printf '\n== consumers: %s\n' "$*"; }
fail() {
  printf 'consumers: FAILED: %s\n' "$*" >&2
  exit 1
}
trap 'printf "consumers: FAILED: line %s: %s (exit status %s)\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
if [ ! -f "$REPO/mix.exs" ] || [ ! -f "$REPO/rebar.config" ]; then
  fail "$REPO is not the lattice repository"
fi
case "$REPO" in
  *[\"\\\$\#]*) fail "the repository path must not contain \" \\ \$ or #: $REPO" ;;
esac
for tool in mix rebar3 erl make tar; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH"
done
TIMEOUT=()
command -v timeout >/dev/null && TIMEOUT=(timeout 600)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lattice-consumers.XXXXXX")
cleanup() {
  if [ "${LATTICE_KEEP_TMP:-0}" = 1 ]; then
    echo "consumers: kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT

# An isolated, offline environment for Mix and rebar3.
mkdir -p "$TMP/mix_home" "$TMP/hex_home" "$TMP/rebar3_config" "$TMP/rebar3_cache"
export MIX_HOME="$TMP/mix_home" HEX_HOME="$TMP/hex_home" HEX_OFFLINE=1
export REBAR_GLOBAL_CONFIG_DIR="$TMP/rebar3_config" REBAR_CACHE_DIR="$TMP/rebar3_cache"
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy
unset MIX_ENV MIX_TARGET MIX_EXS MIX_BUILD_PATH MIX_BUILD_ROOT MIX_DEPS_PATH MIX_LOCKFILE \
  ERL_LIBS no_proxy NO_PROXY

# run LOG CMD...: runs CMD with its output in LOG; on failure shows the end of LOG and stops.
run() {
  local log=$1
  shift
  if ! "${TIMEOUT[@]}" "$@" </dev/null >"$log" 2>&1; then
    echo "---- last lines of $log" >&2
    tail -n 40 "$log" >&2
    echo "----" >&2
    fail "$*"
  fi
}

# expect_line LOG LINE: LOG holds LINE as a whole line.
expect_line() {
  grep -qxF "$2" "$1" || {
    echo "---- $1" >&2
    tail -n 40 "$1" >&2
    echo "----" >&2
    fail "expected the line '$2' in the output above"
  }
}

EXPECTED="lattice-consumer: 1 ok"

# mix_consumer NAME LATTICE_DIR MIX_ENV BUILD_EMBEDDED: a new Mix project $TMP/NAME using
# lattice from LATTICE_DIR by path, compiled with warnings as errors.
mix_consumer() {
  local name=$1 lattice=$2 env=$3 embedded=$4
  local dir="$TMP/$name"
  (cd "$TMP" && run "$TMP/$name.new.log" mix new "$name" --app consumer)

  cat >"$dir/mix.exs" <<EOF
defmodule Consumer.MixProject do
  use Mix.Project

  def project do
    [
      app: :consumer,
      version: "0.1.0",
      elixir: "~> 1.14",
      build_embedded: $embedded,
      start_permanent: Mix.env() == :prod,
      deps: [{:lattice, path: "$lattice"}]
    ]
  end

  def application, do: [extra_applications: [:logger]]
end
EOF

  cat >"$dir/lib/consumer.ex" <<'EOF'
defmodule Consumer do
  @moduledoc "Uses lattice from compiled code: a NIF call, and the application started."
  def check do
    clock = Lattice.VClock.new() |> Lattice.VClock.increment(:a, 2)
    started = Enum.map(Application.started_applications(), &elem(&1, 0))

    cond do
      Lattice.VClock.get(clock, :a) != 2 -> :wrong_counter
      Lattice.Hash.xxh3_64("") != 0x2D06800538D394C2 -> :wrong_hash
      byte_size(Lattice.Crypto.blake2b("")) != 32 -> :no_crypto_nif
      :lattice not in started -> :lattice_not_started
      true -> :ok
    end
  end
end
EOF
  rm -rf "$dir/test"

  (cd "$dir" && MIX_ENV=$env run "$TMP/$name.compile.log" mix compile --warnings-as-errors)
  grep -q "Generated lattice app" "$TMP/$name.compile.log" ||
    fail "$name: lattice was not compiled as a dependency (see $TMP/$name.compile.log)"

  local priv="$dir/_build/$env/lib/lattice/priv"
  [ -f "$priv/lattice_nif.so" ] || fail "$name: $priv/lattice_nif.so is missing"
  [ -f "$priv/lattice_crypto_nif.so" ] || fail "$name: $priv/lattice_crypto_nif.so is missing"
  [ -x "$priv/lattice_cnode" ] || fail "$name: $priv/lattice_cnode is missing"
  if [ "$embedded" = true ]; then
    [ ! -L "$priv" ] || fail "$name: build_embedded, yet $priv is a symlink"
    cmp -s "$priv/lattice_nif.so" "$lattice/priv/lattice_nif.so" ||
      fail "$name: $priv/lattice_nif.so is not the library make built (stale copy?)"
    cmp -s "$priv/lattice_crypto_nif.so" "$lattice/priv/lattice_crypto_nif.so" ||
      fail "$name: $priv/lattice_crypto_nif.so is not the library make built (stale copy?)"
  fi
}

# mix_run NAME MIX_ENV [MIX RUN FLAGS...]: calls NIFs through the Elixir facade.
mix_run() {
  local name=$1 env=$2
  shift 2
  (cd "$TMP/$name" && MIX_ENV=$env run "$TMP/$name.run.log" mix run "$@" -e '
    n = Lattice.VClock.new() |> Lattice.VClock.increment(:a) |> Lattice.VClock.get(:a)
    IO.puts("lattice-consumer: #{n} #{Consumer.check()}")')
  expect_line "$TMP/$name.run.log" "$EXPECTED"
  echo "$name: $EXPECTED"
}

say "Mix project, lattice by path (MIX_ENV=dev)"
mix_consumer mix_dev "$REPO" dev false
mix_run mix_dev dev

say "Mix project, MIX_ENV=prod, build_embedded: true"
mix_consumer mix_prod "$REPO" prod true
mix_run mix_prod prod

say "Mix project, MIX_ENV=prod, build_embedded: true, lattice from a clean tree"
CLEAN="$TMP/lattice"
mkdir -p "$CLEAN"
tar -C "$REPO" --exclude=./.git --exclude=./_build --exclude=./build --exclude=./deps \
  --exclude=./doc --exclude='./priv/*' --exclude='./fuzz/corpus-*' -cf - . | tar -C "$CLEAN" -xf -
[ ! -e "$CLEAN/priv/lattice_nif.so" ] || fail "the clean tree already has priv/lattice_nif.so"
mix_consumer mix_clean "$CLEAN" prod true
# Only the copy in _build may serve now.
mv "$CLEAN/priv" "$CLEAN/priv.moved"
mix_run mix_clean prod --no-compile --no-deps-check

say "rebar3 project, lattice in _checkouts/"
RC="$TMP/rebar3_consumer"
mkdir -p "$RC/src" "$RC/_checkouts"
ln -s "$REPO" "$RC/_checkouts/lattice"
cat >"$RC/rebar.config" <<'EOF'
{erl_opts, [debug_info, warnings_as_errors]}.
%% Found in _checkouts/ first, so no package index is consulted.
{deps, [lattice]}.
EOF
cat >"$RC/src/consumer.app.src" <<'EOF'
{application, consumer, [
    {description, "Checks that a rebar3 project can use lattice"},
    {vsn, "0.1.0"},
    {registered, []},
    {applications, [kernel, stdlib, lattice]},
    {env, []}
]}.
EOF
cat >"$RC/src/consumer.erl" <<'EOF'
-module(consumer).
-export([check/0]).

%% `ok' when lattice's NIFs answer and the lattice application runs.
check() ->
    Clock = lattice_vclock:increment(a, 2, lattice_vclock:new()),
    Started = [App || {App, _, _} <- application:which_applications()],
    case {lattice_vclock:get(a, Clock), lattice_hash:xxh3_64(<<>>),
          byte_size(lattice_crypto:blake2b(<<>>))} of
        {2, 16#2D06800538D394C2, 32} ->
            case lists:member(lattice, Started) of
                true -> ok;
                false -> lattice_not_started
            end;
        Other ->
            {unexpected, Other}
    end.
EOF
(cd "$RC" && run "$TMP/rebar3.compile.log" rebar3 compile)
grep -q "Compiling lattice" "$TMP/rebar3.compile.log" ||
  fail "rebar3 did not compile lattice (see $TMP/rebar3.compile.log)"
# Apps from _checkouts/ are built under _build/default/checkouts/, the rest under lib/.
(cd "$RC" && shopt -s nullglob && run "$TMP/rebar3.run.log" erl -noshell \
  -pa _build/default/lib/*/ebin -pa _build/default/checkouts/*/ebin -eval '
    try
        {ok, _} = application:ensure_all_started(consumer),
        Clock = lattice_vclock:increment(a, lattice_vclock:new()),
        io:format("lattice-consumer: ~p ~p~n", [lattice_vclock:get(a, Clock), consumer:check()]),
        halt(0)
    catch Class:Reason:Stack ->
        io:format(standard_error, "~p:~p~n~p~n", [Class, Reason, Stack]),
        halt(1)
    end.')
expect_line "$TMP/rebar3.run.log" "$EXPECTED"
echo "rebar3_consumer: $EXPECTED"

say "all consumers work"
