#!/usr/bin/env bash
# Runs the file-index benchmark on a release build: GET /api/v1/projects/{p}/file-index
# (the IDE's quick-open list) against `rg --files` on a generated tree of 50,000
# files in a project's workspace in a temp dir. Writes bench/results/file-index.json
# (and .md) and prints a Markdown table.
#
#   scripts/bench-file-index.sh              # 9 timed runs per side
#   scripts/bench-file-index.sh --runs 15    # extra arguments go to `dockyard-bench file-index`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v rg >/dev/null 2>&1; then
  ensure_packages ripgrep || { echo "error: ripgrep (rg) is missing and cannot be installed" >&2; exit 1; }
fi

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

exec ./target/release/dockyard-bench file-index --dockyard ./target/release/dockyard "$@"
