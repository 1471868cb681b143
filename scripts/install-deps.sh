#!/usr/bin/env bash
# Install the Debian packages lattice needs, only those that are missing.
set -euo pipefail
pkgs=(build-essential erlang-dev erlang-nox erlang-eunit erlang-common-test erlang-proper erlang-proper-dev
      erlang-dialyzer erlang-edoc erlang-tools elixir rebar3 libsodium-dev libxxhash-dev clang
      libclang-rt-14-dev llvm clang-format binutils chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "lattice: all Debian packages present"
  exit 0
fi
echo "lattice: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "lattice: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "lattice: installed ${missing[*]}"
