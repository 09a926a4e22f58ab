#!/usr/bin/env bash
# Runs the deploy benchmark on a release build against the local Docker engine:
# click to healthy for a prebuilt image through Dockyard against `docker run` plus
# a health poll (interleaved rounds), and redeploys of a workspace Dockerfile with a
# warm build cache (no change, one-line change). Writes bench/results/deploy.json
# (and .md) and prints the tables.
#
#   scripts/bench-deploy.sh                          # 7 rounds, 5 redeploys of each kind
#   scripts/bench-deploy.sh --rounds 9 --redeploys 7 # extra arguments go to `dockyard-bench deploy`
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

start_docker || { echo "error: no Docker engine (install docker.io)" >&2; exit 1; }
bash scripts/base-images.sh busybox

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/dockyard-bench" deploy --dockyard "$target/release/dockyard" "$@"
