#!/usr/bin/env bash
# Multi-node tests need epmd on loopback. Start it if it is not running.
set -eu
if ! epmd -names >/dev/null 2>&1; then
  ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon
  for _ in $(seq 50); do epmd -names >/dev/null 2>&1 && exit 0; sleep 0.1; done
  echo "lattice: epmd did not start" >&2; exit 1
fi
