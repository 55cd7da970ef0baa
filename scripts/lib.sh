# Shared by scripts/demo.sh and scripts/test.sh: make sure PostgreSQL with PostGIS is
# reachable and export DATABASE_URL. Source it; do not run it.
#
# Database choice, in order: DATABASE_URL if set; a PostgreSQL on 127.0.0.1:5432 (user
# postgres, database gridwall); a private cluster under .data/pg made with the system's initdb.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRIVATE_PG="$ROOT/.data/pg"
PRIVATE_PORT="${GRIDWALL_PRIVATE_PG_PORT:-55432}"

say() { printf '\033[1;36m[gridwall]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[gridwall] error:\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

APT_UPDATED=""
apt_install() {
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 \
        || die "apt-get install $* failed"
}

pg_bin() {
    # The newest installed server's binaries.
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] && echo "$dir"
}

ensure_psql() {
    command -v psql >/dev/null && return
    if is_root && is_debian; then apt_install postgresql-client; return; fi
    die "psql is missing: install the PostgreSQL client (Debian: apt-get install postgresql-client)"
}

start_private_cluster() {
    local bin
    bin="$(pg_bin)"
    if [ -z "$bin" ]; then
        if is_root && is_debian; then apt_install postgresql; bin="$(pg_bin)"; fi
        [ -n "$bin" ] || die "no PostgreSQL found: install PostgreSQL 15+ with PostGIS, or set DATABASE_URL"
    fi
    local run=()
    if is_root; then
        id postgres >/dev/null 2>&1 || die "initdb cannot run as root and there is no 'postgres' user"
        run=(runuser -u postgres --)
    fi
    mkdir -p "$PRIVATE_PG"
    is_root && chown -R postgres "$ROOT/.data"
    if [ ! -f "$PRIVATE_PG/PG_VERSION" ]; then
        say "initialising a private PostgreSQL cluster in $PRIVATE_PG"
        "${run[@]}" "$bin/initdb" -D "$PRIVATE_PG" -U postgres --auth=trust -E UTF8 >/dev/null \
            || die "initdb failed"
    fi
    if ! "${run[@]}" "$bin/pg_ctl" -D "$PRIVATE_PG" status >/dev/null 2>&1; then
        say "starting the private cluster on 127.0.0.1:$PRIVATE_PORT"
        "${run[@]}" "$bin/pg_ctl" -D "$PRIVATE_PG" -l "$PRIVATE_PG/server.log" -w \
            -o "-p $PRIVATE_PORT -k $PRIVATE_PG -c listen_addresses=127.0.0.1" start >/dev/null \
            || die "the private cluster did not start: see $PRIVATE_PG/server.log"
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PORT/gridwall"
}

# Postgres URL of the same server's maintenance database, to create databases.
admin_url() { echo "${1%/*}/postgres"; }

ensure_database() {
    ensure_psql
    if [ -z "${DATABASE_URL:-}" ]; then
        if psql "postgres://postgres@127.0.0.1:5432/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:5432/gridwall"
        else
            start_private_cluster
        fi
    fi
    say "database: $(printf '%s' "$DATABASE_URL" | sed -E 's#://([^:/@]*):[^@]*@#://\1:***@#')"
    local db="${DATABASE_URL##*/}"
    db="${db%%\?*}"
    local admin
    admin="$(admin_url "$DATABASE_URL")"
    psql "$admin" -tAc 'SELECT 1' >/dev/null 2>&1 \
        || die "cannot connect to $admin: is PostgreSQL running? (or set DATABASE_URL)"
    if [ "$(psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        say "creating database $db"
        psql "$admin" -qc "CREATE DATABASE \"$db\"" >/dev/null || die "cannot create database $db"
    fi
    ensure_postgis "$admin"
}

ensure_postgis() {
    local admin="$1"
    if [ "$(psql "$admin" -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")" = 1 ]; then
        return
    fi
    local major
    major="$(psql "$admin" -tAc 'SHOW server_version_num')"
    major=$((major / 10000))
    if is_root && is_debian; then
        apt_install "postgresql-$major-postgis-3"
        [ "$(psql "$admin" -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")" = 1 ] \
            || die "PostGIS was installed but PostgreSQL $major does not see it (is the server on another machine?)"
    else
        die "PostGIS is missing for PostgreSQL $major: install it (Debian/Ubuntu: apt-get install postgresql-$major-postgis-3; RHEL: postgis3x_$major) and run again"
    fi
}

ensure_node() {
    command -v npm >/dev/null || die "Node.js 20+ with npm is needed to build the web page"
}

# npm ci in $1 unless node_modules matches package-lock.json already.
npm_install() {
    local dir="$1"
    if [ ! -f "$dir/node_modules/.package-lock.json" ] \
        || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.gridwall-lock"; then
        say "npm ci in ${dir#$ROOT/}"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $dir"
        cp "$dir/package-lock.json" "$dir/node_modules/.gridwall-lock"
    fi
}

build_web() {
    ensure_node
    npm_install "$ROOT/web"
    say "building the web page"
    (cd "$ROOT/web" && npm run --silent build >&2) || die "the web build failed"
}

ensure_chromium() {
    if ! command -v chromium >/dev/null; then
        if is_root && is_debian; then apt_install chromium; else
            die "Chromium is needed for the browser tests (Debian: apt-get install chromium)"
        fi
    fi
    # grep without -q reads to the end, so fc-list never dies of SIGPIPE under pipefail.
    if ! fc-list 2>/dev/null | grep -iE 'wenquanyi|noto sans cjk|source han' >/dev/null; then
        if is_root && is_debian; then apt_install fonts-wqy-zenhei fontconfig; else
            say "warning: no CJK font found; Chinese labels will not render in screenshots"
        fi
    fi
}
