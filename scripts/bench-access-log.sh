#!/usr/bin/env bash
# Runs the access-log benchmark on a release build: one proxy access line
# formatted by Dockyard's fast path against tracing-subscriber's own JSON and
# text formatters, to a sink on one thread. Writes bench/results/access-log.json
# (and .md) and prints a Markdown table.
#
#   scripts/bench-access-log.sh                 # 5 runs of 200,000 lines per formatter
#   scripts/bench-access-log.sh --runs 9        # extra arguments go to `dockyard-bench access-log`
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building the release benchmark binary (dockyard-bench)"
cargo build --release -p dockyard-bench

exec ./target/release/dockyard-bench access-log "$@"
