#!/usr/bin/env bash
# `make demo`: database with PostGIS, migrations, the Nantong demo hierarchy (once), the web
# page, then `gridwall serve` on http://127.0.0.1:8080 (GRIDWALL_LISTEN to change).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_database
build_web
say "building the server (release)"
cargo build --release --locked -p gridwall-server >&2 || die "cargo build failed"
BIN="$ROOT/target/release/gridwall"
"$BIN" migrate
"$BIN" import --if-empty data/nantong.geojson.gz
say "open http://${GRIDWALL_LISTEN:-127.0.0.1:8080}/  (API: /api/health, /api/openapi.json)"
exec "$BIN" serve
