#!/usr/bin/env bash
# `make test`: formatting, lints, every Rust test (unit, PostGIS integration), the web build,
# and the browser tests against a real server on a fresh database with the demo hierarchy.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_database
ensure_chromium

say "layering (scripts/check-layers.py)"
python3 scripts/check-layers.py || die "a module uses one above it: see ARCHITECTURE.md"
say "cargo fmt --check"
cargo fmt --all -- --check || die "run cargo fmt"
say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo test (DATABASE_URL: each PostGIS test makes its own database)"
cargo test --workspace --locked

say "web: typecheck and build"
ensure_node
npm_install "$ROOT/web"
(cd web && npm run --silent typecheck && npm run --silent build) || die "web build failed"

say "end-to-end: real server, fresh database, demo hierarchy, Chromium"
# The binary `cargo test` built (same features; `cargo build -p` would unify them differently
# and compile sqlx and the server a second time).
cargo test --workspace --locked --no-run --quiet
[ -x target/debug/gridwall ] || die "cargo test built no target/debug/gridwall"
E2E_URL="$(admin_url "$DATABASE_URL")"
E2E_URL="${E2E_URL%/*}/gridwall_e2e"
psql "$(admin_url "$DATABASE_URL")" -qc 'DROP DATABASE IF EXISTS gridwall_e2e WITH (FORCE)' >/dev/null
psql "$(admin_url "$DATABASE_URL")" -qc 'CREATE DATABASE gridwall_e2e' >/dev/null
BIN="$ROOT/target/debug/gridwall"
DATABASE_URL="$E2E_URL" "$BIN" import data/nantong.geojson.gz
# The browser tests sign in through the page's form as this administrator (fresh password each run).
E2E_USER=e2e-admin
PW="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
printf '%s' "$PW" | DATABASE_URL="$E2E_URL" "$BIN" user add "$E2E_USER" --role admin \
    --name 'E2E 管理员' --password-stdin
# The demo accounts, as make demo makes them (twice: the second run must change nothing).
DEMO_ACCOUNTS="$ROOT/target/e2e-demo-accounts.txt"
rm -f "$DEMO_ACCOUNTS"
DATABASE_URL="$E2E_URL" "$BIN" demo-accounts --file "$DEMO_ACCOUNTS" >/dev/null
DATABASE_URL="$E2E_URL" "$BIN" demo-accounts --file "$DEMO_ACCOUNTS" | grep -q unchanged \
    || die "demo-accounts is not idempotent"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG="$ROOT/target/e2e-server.log"
DATABASE_URL="$E2E_URL" GRIDWALL_LISTEN="127.0.0.1:$PORT" GRIDWALL_WEB_DIR="$ROOT/web/dist" \
    "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
    kill -0 $SERVER 2>/dev/null || { cat "$LOG" >&2; die "the server exited"; }
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null || { cat "$LOG" >&2; die "the server is not healthy"; }
npm_install "$ROOT/tests/e2e"
(cd tests/e2e && GRIDWALL_URL="http://127.0.0.1:$PORT" GRIDWALL_E2E_USER="$E2E_USER" \
    GRIDWALL_E2E_PASSWORD="$PW" GRIDWALL_E2E_DEMO_ACCOUNTS="$DEMO_ACCOUNTS" npm test) || { tail -n 50 "$LOG" >&2; die "browser tests failed"; }
say "all tests passed"
