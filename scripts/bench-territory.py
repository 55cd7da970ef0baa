#!/usr/bin/env python3
"""Territory in SQL: the `territory($n)` function (migrations/0008_territory.sql) against the
range test it replaced, written out by hand with two sub-selects, on the Nantong demo hierarchy
with one worker per grid and 200,000 synthetic cases. Prints a Markdown table for BENCHMARKS.md
and whether both forms get the same plan.

Usage: scripts/bench-territory.py [BIN]   (BIN: the gridwall binary, default target/release/gridwall)
Needs psql and a PostgreSQL with PostGIS at $GRIDWALL_BENCH_ADMIN_URL
(default postgres://postgres@127.0.0.1:5432/postgres); makes and drops the database
gridwall_territory_bench.
"""

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("GRIDWALL_BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB = ADMIN.rsplit("/", 1)[0] + "/gridwall_territory_bench"
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/gridwall")
RUNS = 30

HAND = ("($1::bigint IS NULL OR g.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1) "
        "AND (SELECT tree_hi FROM units WHERE id = $1))")
FUNC = "JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi"

# (name, hand-written form, function form)
QUERIES = [
    ("cases page (100, with total)",
     f"SELECT c.id, count(*) OVER () FROM cases c JOIN units g ON g.id = c.grid_id WHERE {HAND} "
     "ORDER BY c.created_at DESC, c.id DESC LIMIT 100",
     f"SELECT c.id, count(*) OVER () FROM cases c JOIN units g ON g.id = c.grid_id {FUNC} "
     "ORDER BY c.created_at DESC, c.id DESC LIMIT 100"),
    ("workers page (100)",
     f"SELECT r.id FROM resources r JOIN units g ON g.id = r.unit_id WHERE r.kind = 'worker' "
     f"AND {HAND} ORDER BY g.code, r.name, r.id LIMIT 100",
     f"SELECT r.id FROM resources r JOIN units g ON g.id = r.unit_id {FUNC} "
     "WHERE r.kind = 'worker' ORDER BY g.code, r.name, r.id LIMIT 100"),
    ("one case by id",
     f"SELECT c.id FROM cases c JOIN units g ON g.id = c.grid_id WHERE c.id = 12345 AND {HAND}",
     f"SELECT c.id FROM cases c JOIN units g ON g.id = c.grid_id {FUNC} WHERE c.id = 12345"),
]


def psql(url, sql=None, stdin=None):
    args = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", url]
    if sql is not None:
        args += ["-c", sql]
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout


def setup():
    psql(ADMIN, "DROP DATABASE IF EXISTS gridwall_territory_bench WITH (FORCE)")
    psql(ADMIN, "CREATE DATABASE gridwall_territory_bench")
    subprocess.run([BIN, "import", str(ROOT / "data/nantong.geojson.gz")],
                   env={**os.environ, "DATABASE_URL": DB}, check=True, capture_output=True)
    psql(DB, stdin="""
        INSERT INTO resources (kind, name, unit_id)
            SELECT 'worker', 'w' || g.code, g.id FROM units g WHERE g.level = 4;
        CREATE TEMP TABLE gl AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS i, id, label, parent_id
            FROM units WHERE level = 4;
        INSERT INTO cases (number, title, category, source, severity, geom, grid_id,
                           handling_unit_id, deadline_at, created_at)
            SELECT 'C' || s, 't', (SELECT min(code) FROM case_categories), 'patrol', 2, g.label,
                   g.id, g.parent_id, now() + interval '1 day',
                   now() - (s % 1000) * interval '1 hour'
            FROM generate_series(1, 200000) s
            JOIN gl g ON g.i = (s * 7919) % (SELECT count(*) FROM gl);
        ANALYZE;
    """)


def timed(sql, arg):
    """Median and minimum of RUNS executions of a prepared statement in one session (so the
    generic plan PostgreSQL switches to after five runs is measured too), ms."""
    script = f"PREPARE p(bigint) AS {sql};\n\\timing on\n" + f"EXECUTE p({arg});\n" * RUNS
    out = psql(DB, stdin=script)
    ts = [float(line.split()[1]) for line in out.splitlines() if line.startswith("Time:")]
    return statistics.median(ts), min(ts)


def plan_shape(sql, arg):
    """The plan's node types and index conditions, without costs, timings or aliases."""
    text = psql(DB, "EXPLAIN " + sql.replace("$1", f"{arg}::bigint"))
    shape = []
    for line in text.splitlines():
        line = re.sub(r"\(cost=.*?\)", "", line)
        line = re.sub(r"\b(u|units)(_\d+)?\b", "u", line)
        line = re.sub(r"'?(\d+)'?::bigint", r"\1", line)
        line = line.replace(" on u u", " on u")
        shape.append(line.rstrip())
    return shape


def main():
    setup()
    roots = {"everything": "NULL"}
    for level, name in [(1, "a county"), (2, "a township"), (3, "a village")]:
        roots[name] = psql(DB, f"SELECT id FROM units WHERE level = {level} ORDER BY code LIMIT 1").strip()
    print("| query | territory | sub-selects, median ms | territory(), median ms | ratio | same plan |")
    print("|---|---|---:|---:|---:|---|")
    for name, hand, func in QUERIES:
        for scope, arg in roots.items():
            h = timed(hand, arg)
            f = timed(func, arg)
            same = "yes" if arg == "NULL" or plan_shape(hand, arg) == plan_shape(func, arg) else "no"
            print(f"| {name} | {scope} | {h[0]:.2f} | {f[0]:.2f} | {f[0] / h[0]:.2f} | {same} |")
    psql(ADMIN, "DROP DATABASE IF EXISTS gridwall_territory_bench WITH (FORCE)")


if __name__ == "__main__":
    main()
