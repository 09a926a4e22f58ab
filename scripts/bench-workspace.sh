#!/usr/bin/env bash
# Runs the workspace benchmark on a release build:
#   1. importing a generated source tree (~20,000 text files plus binary files,
#      >= 100 MB as tar.gz) through POST /api/v1/orgs/{org}/projects/import and its
#      job, against `tar -xzf` of the same file on the same disk (median of 3 each);
#   2. file writes through PUT /api/v1/projects/{p}/files/{path} (4 KiB and 64 KiB,
#      new files and If-Match overwrites, 1 and 8 connections, 2,000 writes per case),
#      against the same writes made directly with the same durability.
# Writes bench/results/workspace.json (and .md) and prints Markdown tables.
#
#   scripts/bench-workspace.sh                      # the whole run
#   scripts/bench-workspace.sh --runs 5             # extra arguments go to `dockyard-bench workspace`
#   scripts/bench-workspace.sh --only writes        # one part: import or writes
#   scripts/bench-workspace.sh --temp-dir /var/tmp
#
# Needs ~1.2 GB of free disk in the temp dir; everything generated is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

for tool in tar gzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    ensure_packages "$tool" || { echo "error: $tool is missing and cannot be installed" >&2; exit 1; }
  fi
done

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

exec ./target/release/dockyard-bench workspace --dockyard ./target/release/dockyard "$@"
