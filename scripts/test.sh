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

# A full run builds everything once: incremental caches would only cost disk
# (gigabytes on a fresh machine) and time. Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

ensure_packages mold || echo "note: mold not installed; linking with the default linker"
# The file index and search tests compare their answers with ripgrep's.
ensure_packages ripgrep || fail_or_skip "ripgrep could not be installed; the search and file index tests compare against it"
pg_url=""
if ensure_packages postgresql; then
  pg_url=$(start_postgres) || pg_url=""
fi
[ -n "$pg_url" ] || fail_or_skip "PostgreSQL could not be installed or started; the PostgreSQL pass cannot run"
have_chromium=true
ensure_packages chromium fonts-dejavu-core || have_chromium=false
[ -x /usr/bin/chromium ] || have_chromium=false
$have_chromium || fail_or_skip "Chromium could not be installed; the browser tests cannot run"
# Deploy tests need a Docker engine and locally built base images (nothing can be pulled).
if ensure_packages docker.io busybox-static debootstrap && start_docker; then
  echo "==> base images for the deploy tests"
  bash scripts/base-images.sh busybox python node go rust || fail_or_skip "the base images could not be built"
else
  fail_or_skip "the Docker engine could not be installed or started; the deploy tests cannot run"
fi

# The web app first: the Rust tests check the binary serves web/dist.
build_web
echo "==> web unit tests"
(cd web && npx vitest run)

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

if $have_chromium; then
  # The browser tests drive the debug binary the suite just built for its own
  # end-to-end tests (a debug build reads web/dist from the source tree).
  dockyard_bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/dockyard"
  [ -x "$dockyard_bin" ] || cargo build --quiet -p dockyard
  echo "==> browser tests on SQLite"
  (cd web && DOCKYARD_BIN="$dockyard_bin" npm run --silent e2e)
  if [ -n "$pg_url" ]; then
    echo "==> browser tests on PostgreSQL"
    (cd web && DOCKYARD_BIN="$dockyard_bin" DOCKYARD_TEST_DATABASE_URL="$pg_url" npm run --silent e2e)
  fi
fi
