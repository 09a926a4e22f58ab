#!/usr/bin/env bash
# Runs the proxy benchmark on a release build: the same upstream (nginx serving a
# static file) reached directly, through dockyard-proxy, through nginx and through
# Caddy, measured with wrk in one run (throughput at 64 connections, latency one
# request at a time). Writes bench/results/proxy.json (and .md) and prints a table.
#
#   scripts/bench-proxy.sh                       # 3 rounds, 8 s throughput + 4 s latency each
#   scripts/bench-proxy.sh --rounds 1 --duration 3   # extra arguments go to `dockyard-bench proxy`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages wrk nginx-light caddy || { echo "error: cannot install wrk, nginx-light and caddy" >&2; exit 1; }

echo "==> building release binary (dockyard-bench)"
cargo build --release -p dockyard-bench

exec "${CARGO_TARGET_DIR:-target}/release/dockyard-bench" proxy "$@"
