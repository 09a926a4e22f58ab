#!/usr/bin/env bash
# Builds Dockyard and runs it on the embedded default: SQLite in ./data, the API
# and web app on http://127.0.0.1:8080. Extra arguments go to `dockyard serve`.
# The web app (web/) is built first, because the release binary embeds web/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
build_web
cargo build --release -p dockyard
exec ./target/release/dockyard serve "$@"
