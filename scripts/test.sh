#!/usr/bin/env bash
# Runs every test: lints, then the whole suite on SQLite and again on PostgreSQL.
# Installs what it needs (Debian packages) on a fresh machine. With CI=true a
# missing component fails the run; elsewhere that part is skipped with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ci="${CI:-}"
fail_or_skip() {
  if [ "$ci" = "true" ]; then echo "error: $1" >&2; exit 1; fi
  echo "warning: $1 (skipped; CI=true makes this an error)" >&2
}

ensure_packages mold || echo "note: mold not installed; linking with the default linker"
pg_url=""
if ensure_packages postgresql; then
  pg_url=$(start_postgres) || pg_url=""
fi
[ -n "$pg_url" ] || fail_or_skip "PostgreSQL could not be installed or started; the PostgreSQL pass cannot run"

if command -v cargo-nextest >/dev/null 2>&1; then
  run_tests() { cargo nextest run --workspace --no-fail-fast --status-level fail --final-status-level fail "$@"; }
else
  echo "note: cargo-nextest not found; using cargo test"
  run_tests() { cargo test --workspace --no-fail-fast "$@"; }
fi

echo "==> format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "==> tests on SQLite"
DOCKYARD_TEST_BACKEND=sqlite run_tests

if [ -n "$pg_url" ]; then
  echo "==> tests on PostgreSQL ($pg_url)"
  DOCKYARD_TEST_BACKEND=postgres DOCKYARD_TEST_DATABASE_URL="$pg_url" run_tests
fi
