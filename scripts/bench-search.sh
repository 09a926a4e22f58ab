#!/usr/bin/env bash
# Runs the search benchmark on a release build: Dockyard's search API against the
# `rg` CLI on a generated tree (50,000 files, ~0.55 GB, written straight into a
# project's workspace in a temp dir), then the listing of a folder of 100,000
# entries. Writes bench/results/search.json (and .md) and prints a Markdown table.
#
#   scripts/bench-search.sh                  # 5 timed runs per query and side
#   scripts/bench-search.sh --runs 9         # extra arguments go to `dockyard-bench search`
#   scripts/bench-search.sh --temp-dir /var/tmp
#
# Needs ~0.6 GB of free disk in the temp dir; everything generated is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v rg >/dev/null 2>&1; then
  ensure_packages ripgrep || { echo "error: ripgrep (rg) is missing and cannot be installed" >&2; exit 1; }
fi

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

exec ./target/release/dockyard-bench search --dockyard ./target/release/dockyard "$@"
