#!/usr/bin/env bash
# Runs the foundation benchmark on a release build: hello-world (the machine's
# ceiling), then Dockyard on SQLite, then on PostgreSQL when it can be started.
# Writes bench/results/foundation.json (and .md) and prints a Markdown table.
#
#   scripts/bench.sh                 # 10 s per scenario
#   BENCH_DURATION=5 scripts/bench.sh
#   scripts/bench.sh --out /tmp/f.json   # extra arguments go to `dockyard-bench foundation`
#
# All load goes to 127.0.0.1 and every scenario is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

duration="${BENCH_DURATION:-10}"

echo "==> building release binaries (dockyard, dockyard-bench)"
cargo build --release -p dockyard -p dockyard-bench

pg_args=()
pg_url=""
if [ -n "${BENCH_POSTGRES_URL:-}" ]; then
  pg_url="$BENCH_POSTGRES_URL"
elif [ -d /etc/postgresql ] || ensure_packages postgresql; then
  pg_url=$(start_postgres) || pg_url=""
fi
if [ -n "$pg_url" ]; then
  echo "==> PostgreSQL: $pg_url"
  pg_args=(--postgres-url "$pg_url")
else
  echo "note: PostgreSQL could not be started; the PostgreSQL pass is skipped" >&2
fi

exec ./target/release/dockyard-bench foundation \
  --dockyard ./target/release/dockyard \
  --duration "$duration" \
  "${pg_args[@]}" \
  "$@"
