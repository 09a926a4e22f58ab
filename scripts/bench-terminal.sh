#!/usr/bin/env bash
# Runs the terminal benchmark on a release build: keystroke-to-echo latency through
# Dockyard's terminal WebSocket (one byte at a time into `cat` in raw mode) against
# the same round trip straight through a PTY in the benchmark process.
# Writes bench/results/terminal.json (and .md) and prints a Markdown table.
#
#   scripts/bench-terminal.sh                    # 200 warm-up + 2000 measured keystrokes
#   scripts/bench-terminal.sh --keystrokes 5000  # extra arguments go to `dockyard-bench terminal`
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

exec ./target/release/dockyard-bench terminal --dockyard ./target/release/dockyard "$@"
