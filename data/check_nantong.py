#!/usr/bin/env python3
"""Acceptance checks for data/nantong.geojson.gz.

  python3 data/check_nantong.py              # file checks + PostGIS checks
  python3 data/check_nantong.py --no-postgis # file checks only

The PostGIS part creates a scratch database (default nantong_check on
127.0.0.1:5432, user postgres), loads every feature, runs the checks and drops
the database again (--keep to keep it).  Exit status 1 if any check fails.
"""
import argparse
import collections
import gzip
import json
import os
import subprocess
import sys
import tempfile

import shapely
from shapely.geometry import shape

HERE = os.path.dirname(os.path.abspath(__file__))
LEVELS = ["city", "county", "township", "village", "grid"]
CODE_LEN = {"city": 6, "county": 6, "township": 9, "village": 12, "grid": 15}
EXPECT = {"city": 1, "county": 7, "township": 136, "village": 2005}

failures = []


def check(ok, msg):
    print(("  ok    " if ok else "  FAIL  ") + msg)
    if not ok:
        failures.append(msg)


def file_checks(path):
    print(f"== file checks: {path}")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(10)
    check(head[:2] == b"\x1f\x8b" and head[4:8] == b"\0\0\0\0",
          f"gzip with mtime 0 ({size:,} bytes compressed, {size / 2**20:.2f} MiB)")
    check(size < 10 * 2**20, "compressed size < 10 MiB")
    raw = gzip.open(path, "rb").read()
    fc = json.loads(raw)
    print(f"  info  {len(raw):,} bytes uncompressed, {len(fc['features']):,} features")
    check(fc.get("type") == "FeatureCollection", "FeatureCollection")
    feats = fc["features"]
    by = {}
    order_ok = True
    prev = (-1, "")
    counts = collections.Counter()
    bad_props = bad_type = bad_code = bad_name = bad_coord = bad_orient = 0
    invalid = collections.Counter()
    verts = collections.Counter()
    multi = collections.Counter()
    holes = collections.Counter()
    for f in feats:
        p = f["properties"]
        if set(p) != {"code", "name", "level", "parent"} or p["level"] not in LEVELS:
            bad_props += 1
            continue
        lv = p["level"]
        counts[lv] += 1
        key = (LEVELS.index(lv), p["code"])
        if key <= prev:
            order_ok = False
        prev = key
        by[p["code"]] = f
        if len(p["code"]) != CODE_LEN[lv] or not p["code"].isdigit():
            bad_code += 1
        g = f["geometry"]
        if g["type"] not in ("Polygon", "MultiPolygon"):
            bad_type += 1
            continue
        if g["type"] == "MultiPolygon":
            multi[lv] += 1
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for poly in polys:
            for k, ring in enumerate(poly):
                verts[lv] += len(ring)
                if k > 0:
                    holes[lv] += 1
                for x, y in ring:
                    if round(x, 7) != x or round(y, 7) != y:
                        bad_coord += 1
                sa = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))
                if (k == 0) != (sa > 0):       # exterior CCW, holes CW
                    bad_orient += 1
        if not shape(g).is_valid:
            invalid[lv] += 1
    check(bad_props == 0, "properties are exactly code/name/level/parent, known level")
    check(order_ok, "order: city, counties, townships, villages, grids, each by code")
    check(bad_code == 0, "code lengths 6/6/9/12/15 digits")
    check(bad_type == 0, "geometry Polygon or MultiPolygon only")
    check(bad_coord == 0, "coordinates have at most 7 decimals")
    check(bad_orient == 0, "RFC 7946 ring orientation (exterior CCW, holes CW)")
    check(sum(invalid.values()) == 0, f"shapely is_valid for all features {dict(invalid)}")
    for lv, n in EXPECT.items():
        check(counts[lv] == n, f"{counts[lv]} {lv} features (expect {n})")
    check(8000 <= counts["grid"] <= 15000, f"{counts['grid']} grid features (expect 8,000-15,000)")
    # parents
    seen = set()
    bad_parent = bad_prefix = 0
    for f in feats:
        p = f["properties"]
        lv = LEVELS.index(p["level"])
        if lv == 0:
            if p["parent"] is not None:
                bad_parent += 1
        else:
            par = by.get(p["parent"])
            if (par is None or p["parent"] not in seen
                    or LEVELS.index(par["properties"]["level"]) != lv - 1):
                bad_parent += 1
            elif lv >= 3 and not p["code"].startswith(p["parent"]):
                bad_prefix += 1
        seen.add(p["code"])
    check(bad_parent == 0, "every parent exists, comes earlier, and is exactly one level up")
    check(bad_prefix == 0, "village/grid codes extend their parent's code")
    check(len(by) == len(feats), "codes unique")
    kids = collections.Counter(f["properties"]["parent"] for f in feats
                               if f["properties"]["level"] == "grid")
    per = [kids[c] for c, f in by.items() if f["properties"]["level"] == "village"]
    check(min(per) >= 3 and max(per) <= 12,
          f"grids per village {min(per)}..{max(per)} (mean {sum(per) / len(per):.2f})")
    bad_gname = 0
    for f in feats:
        p = f["properties"]
        if p["level"] == "grid":
            want = by[p["parent"]]["properties"]["name"] + f"第{int(p['code'][-3:])}网格"
            bad_gname += p["name"] != want
    check(bad_gname == 0, "grid names = village name + 第N网格")
    bad_multi = [c for c, f in by.items()
                 if f["geometry"]["type"] == "MultiPolygon"
                 and f["properties"]["level"] in ("township", "village", "grid")
                 and by[f["properties"]["parent"]]["geometry"]["type"] == "Polygon"]
    check(not bad_multi, f"below county, MultiPolygon only where the parent is one {bad_multi[:5]}")
    print("  info  vertices per level: " + ", ".join(f"{lv} {verts[lv]:,}" for lv in LEVELS)
          + f"  (total {sum(verts.values()):,})")
    print("  info  interior rings (holes) per level: "
          + ", ".join(f"{lv} {holes[lv]}" for lv in LEVELS))
    print("  info  MultiPolygons per level: " + ", ".join(f"{lv} {multi[lv]}" for lv in LEVELS))
    return feats, size, counts, verts, multi


def psql(db, sql, quiet=False):
    r = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-X", "-q",
                        "-v", "ON_ERROR_STOP=1", "-A", "-F", "\t", "-t", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def postgis_checks(feats, db, keep):
    print(f"== PostGIS checks (database {db})")
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["dropdb", *base, "--if-exists", db], check=True)
    subprocess.run(["createdb", *base, db], check=True)
    try:
        psql(db, "CREATE EXTENSION postgis")
        print("  info  " + psql(db, "SELECT postgis_lib_version(), version()")[0][0]
              + " on " + psql(db, "SHOW server_version")[0][0])
        psql(db, "CREATE TABLE u (code text PRIMARY KEY, name text, level text, "
                 "parent text, lv int, gj text, geom geometry(Geometry, 4326))")
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False,
                                         encoding="utf-8") as tmp:
            for f in feats:
                p = f["properties"]
                tmp.write("\t".join([p["code"], p["name"], p["level"],
                                     p["parent"] or "\\N", str(LEVELS.index(p["level"])),
                                     json.dumps(f["geometry"], separators=(",", ":"))]) + "\n")
        psql(db, f"\\copy u (code, name, level, parent, lv, gj) FROM '{tmp.name}'")
        os.unlink(tmp.name)
        psql(db, "UPDATE u SET geom = ST_SetSRID(ST_GeomFromGeoJSON(gj), 4326); "
                 "ALTER TABLE u DROP COLUMN gj; CREATE INDEX ON u USING gist (geom); "
                 "CREATE INDEX ON u (parent); ANALYZE u")
        rows = psql(db, """
            SELECT level, count(*), count(DISTINCT code),
                   count(*) FILTER (WHERE NOT ST_IsValid(geom)),
                   count(*) FILTER (WHERE GeometryType(geom) NOT IN ('POLYGON','MULTIPOLYGON')),
                   sum(ST_NPoints(geom)), round((sum(ST_Area(geom::geography)) / 1e6)::numeric, 3)
            FROM u GROUP BY lv, level ORDER BY lv""")
        for lv, n, nd, ninv, ntype, npts, km2 in rows:
            check(n == nd and ninv == "0" and ntype == "0",
                  f"{lv:9s} {n:>6} features, {nd} distinct codes, {ninv} ST_IsValid failures, "
                  f"{npts} points, {km2} km2")
        r = psql(db, """SELECT count(*) FROM u c LEFT JOIN u p ON p.code = c.parent
                        WHERE c.lv > 0 AND (p.code IS NULL OR p.lv <> c.lv - 1)""")
        check(r[0][0] == "0", f"parents exist and are one level up ({r[0][0]} bad)")
        # children inside parent
        rows = psql(db, """
            SELECT c.level, count(*) FILTER (WHERE d > 1e-6 * a), max(d / a)
            FROM (SELECT c.level, c.lv, ST_Area(c.geom) a,
                         ST_Area(ST_Difference(c.geom, p.geom)) d
                  FROM u c JOIN u p ON p.code = c.parent) c
            GROUP BY c.lv, c.level ORDER BY c.lv""")
        for lv, nbad, mx in rows:
            check(nbad == "0", f"{lv:9s} area(child - parent) <= 1e-6 area(child): "
                               f"{nbad} violations, max ratio {float(mx):.3g}")
        # sibling overlaps (GiST join)
        rows = psql(db, """
            SELECT a.level, count(*), count(*) FILTER (WHERE ov > 1e-9 * m),
                   coalesce(max(ov / m), 0)
            FROM (SELECT a.level, a.lv,
                         ST_Area(ST_Intersection(a.geom, b.geom)) ov,
                         least(ST_Area(a.geom), ST_Area(b.geom)) m
                  FROM u a JOIN u b ON a.parent = b.parent AND a.code < b.code
                                    AND a.geom && b.geom
                  WHERE ST_Intersects(a.geom, b.geom)) a
            GROUP BY a.lv, a.level ORDER BY a.lv""")
        for lv, npairs, nbad, mx in rows:
            check(nbad == "0", f"{lv:9s} sibling overlap <= 1e-9 of smaller: {npairs} touching "
                               f"pairs, {nbad} violations, max ratio {float(mx):.3g}")
        # gaps
        rows = psql(db, """
            SELECT p.level, count(*), count(*) FILTER (WHERE gap >= 1), max(gap)
            FROM (SELECT p.code, p.level, p.lv,
                         ST_Area(ST_Difference(p.geom, k.geom)::geography) gap
                  FROM u p JOIN (SELECT parent, ST_Union(geom) geom FROM u
                                 WHERE parent IS NOT NULL GROUP BY parent) k
                    ON k.parent = p.code) p
            GROUP BY p.lv, p.level ORDER BY p.lv""")
        for lv, n, nbad, mx in rows:
            check(nbad == "0", f"{lv:9s} gap area(parent - union(children)) < 1 m2: "
                               f"{n} parents, {nbad} violations, max {float(mx):.3g} m2")
        r = psql(db, "SELECT count(*) FROM u p WHERE p.lv < 4 AND NOT EXISTS "
                     "(SELECT 1 FROM u c WHERE c.parent = p.code)")
        check(r[0][0] == "0", f"every non-grid unit has children ({r[0][0]} without)")
        r = psql(db, """SELECT min(n), max(n), count(*) FROM (SELECT count(*) n FROM u
                        WHERE level = 'grid' GROUP BY parent) x""")
        check(int(r[0][0]) >= 3 and int(r[0][1]) <= 12 and r[0][2] == "2005",
              f"grids per village {r[0][0]}..{r[0][1]} over {r[0][2]} villages")
    finally:
        if keep:
            print(f"  info  kept database {db}")
        else:
            subprocess.run(["dropdb", *base, "--if-exists", db], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", default=os.path.join(HERE, "nantong.geojson.gz"))
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--db", default="nantong_check")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()
    feats, *_ = file_checks(args.path)
    if not args.no_postgis:
        postgis_checks(feats, args.db, args.keep)
    print(f"== {len(failures)} failed check(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
