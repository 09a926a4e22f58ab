#!/usr/bin/env bash
# Runs the web IDE benchmark: builds the web app and a release binary (which embeds
# it), then drives Debian's Chromium from login to a file open in the editor and a
# terminal echo. Writes bench/results/web.json (and .md) and prints a table.
#
#   scripts/bench-web.sh                 # 5 runs, 240 keystrokes
#   scripts/bench-web.sh --runs 9 --keys 1000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_packages chromium fonts-dejavu-core || { echo "error: Chromium is missing and cannot be installed" >&2; exit 1; }
build_web
echo "==> building the release binary"
cargo build --release -p dockyard
DOCKYARD_BIN="$PWD/target/release/dockyard" exec node web/bench/ide.mjs "$@"
