#!/usr/bin/env bash
# Writes web/src/api/openapi.json, the copy of the API's OpenAPI document that the
# web app generates its typed client from (`npm run gen:api` in web/). Run it after
# changing any route, and commit the result: a test in dockyard-server
# (openapi::tests) fails while the copy is stale.
#
#   scripts/gen-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=web/src/api/openapi.json
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# `dockyard openapi` prints the document as pretty JSON with keys in the
# generator's stable order; json.tool checks that it parses and writes it with a
# two-space indent and non-ASCII characters escaped, the committed copy's form.
cargo run -q -p dockyard -- openapi >"$tmp"
mkdir -p "$(dirname "$out")"
python3 -m json.tool --indent 2 "$tmp" >"$out"
echo "wrote $out"
