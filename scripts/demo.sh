#!/usr/bin/env bash
# `make demo`: database with PostGIS, migrations, the Nantong demo hierarchy (once), the web
# page, the demo accounts, then `gridwall serve` on http://127.0.0.1:8080 (GRIDWALL_LISTEN to
# change) with the simulator (`gridwall simulate`) driving grid workers and patrol vehicles
# through the public API in the background (GRIDWALL_SIM=off to leave it out).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_database
build_web
say "building the server (release)"
cargo build --release --locked -p gridwall-server >&2 || die "cargo build failed"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gridwall"
"$BIN" migrate
"$BIN" import --if-empty data/nantong.geojson.gz
# Four demo accounts (admin, city leader, 崇川区 dispatcher, township operator); their
# generated passwords are printed when created and kept in .data/demo-accounts.txt.
mkdir -p "$ROOT/.data"
"$BIN" demo-accounts --file "$ROOT/.data/demo-accounts.txt"

LISTEN="${GRIDWALL_LISTEN:-127.0.0.1:8080}"
URL="http://${LISTEN/0.0.0.0/127.0.0.1}"
SIM=""
if [ "${GRIDWALL_SIM:-on}" != off ]; then
    # One worker per grid and one patrol car per township unless GRIDWALL_SIM_WORKERS /
    # GRIDWALL_SIM_VEHICLES say otherwise; device tokens are kept in .data/simulator.json.
    say "simulator: ${GRIDWALL_SIM_WORKERS:-one per grid} workers, ${GRIDWALL_SIM_VEHICLES:-one per township} vehicles, ${GRIDWALL_SIM_CASES_PER_HOUR:-120} cases an hour, once the server is up; log in .data/simulate.log"
    (
        for _ in $(seq 1 240); do
            curl -fsS "$URL/api/health" >/dev/null 2>&1 && break
            sleep 0.5
        done
        exec "$BIN" simulate --url "${GRIDWALL_SIM_URL:-$URL}" \
            --accounts "$ROOT/.data/demo-accounts.txt" --state "$ROOT/.data/simulator.json"
    ) >>"$ROOT/.data/simulate.log" 2>&1 &
    SIM=$!
    # However the server ends (Ctrl-C, a failure), the simulator goes with it.
    trap 'kill "$SIM" 2>/dev/null || true' EXIT
fi
say "open $URL/ and sign in (accounts: .data/demo-accounts.txt); Ctrl-C stops the server and the simulator"
"$BIN" serve
