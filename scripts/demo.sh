#!/usr/bin/env bash
# `make demo`: database with PostGIS, migrations, the Nantong demo hierarchy (once), the web
# page, the demo accounts, then `gridwall serve` on http://127.0.0.1:8080 (GRIDWALL_LISTEN to change).
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
# Four demo accounts (admin, city leader, 崇川区 dispatcher, township operator); their
# generated passwords are printed when created and kept in .data/demo-accounts.txt.
mkdir -p "$ROOT/.data"
"$BIN" demo-accounts --file "$ROOT/.data/demo-accounts.txt"
say "open http://${GRIDWALL_LISTEN:-127.0.0.1:8080}/ and sign in (accounts: .data/demo-accounts.txt)"
exec "$BIN" serve
