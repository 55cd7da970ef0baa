#!/usr/bin/env python3
"""Build the Gridwall demo dataset data/nantong.geojson.gz.

The 王-shaped administrative hierarchy of Nantong (南通市):
    city (1) -> county (7) -> township (136) -> village (2005) -> grid (~11k)

County outlines are real (repaired); township, village and grid polygons are
synthesised inside them with a density-weighted, capacity-constrained centroidal
Voronoi (power) tessellation, then rebuilt bottom-up from one noded face set so
that every level partitions its parent exactly.

Usage:  python3 data/build_nantong.py            # build (deterministic)
        python3 data/build_nantong.py --preview  # build + /tmp/nantong_preview*.png
See data/README.md.
"""
import argparse
import csv
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.ops import polylabel

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "sources")
OUT = os.path.join(HERE, "nantong.geojson.gz")

SEED = 20200613          # fixed RNG seed (numpy PCG64)
GRID = 1e-7              # coordinate precision grid, degrees (= 7 decimals)
WORK_GRID = 1e-10        # finer grid for intermediate overlays; the final global
                         # noding snaps everything to GRID in one go
MIN_PART_KM2 = 0.05      # repaired county parts smaller than this are repair debris

# Local planar frame (km) used for all distance / density computations.
# It is an affine map of lon/lat, so straight lines stay straight.
LON0, LAT0 = 121.05, 32.15
KX = 111.320 * math.cos(math.radians(LAT0))   # km per degree of longitude
KY = 110.574                                  # km per degree of latitude

# 2017 boundary feature -> current county code (GB/T 2260)
COUNTY_OF_2017 = {
    "320602": "320613", "320611": "320613", "320612": "320612",
    "320684": "320614", "320623": "320623", "320681": "320681",
    "320682": "320682", "320621": "320685",
}
COUNTY_NAME = {
    "320613": "崇川区", "320612": "通州区", "320614": "海门区", "320623": "如东县",
    "320681": "启东市", "320682": "如皋市", "320685": "海安市",
}
# The development zone 320671 has no outline.  Its townships lie south-east of
# the old city centre along the Yangtze, which is inside the 2017 崇川区 (320602)
# outline, so they become part of 320613 崇川区 (see README).
ETDZ_AREA = "320671"
ETDZ_COUNTY = "320613"
# Former 港闸区 townships of today's 崇川区: generated inside the 2017 港闸 outline.
GANGZHA_TOWNSHIPS = {"320613016", "320613017", "320613018", "320613019",
                     "320613020", "320613021", "320613402", "320613403"}


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, file=sys.stderr, flush=True)


T0 = time.time()


# ----------------------------------------------------------------------------
# coordinates
def ll_to_km(lon, lat):
    return (np.asarray(lon) - LON0) * KX, (np.asarray(lat) - LAT0) * KY


def km_to_ll(x, y):
    return LON0 + np.asarray(x) / KX, LAT0 + np.asarray(y) / KY


def area_km2(g):
    return shapely.area(g) * KX * KY


def polygons_of(g):
    """Polygonal parts of any geometry, as a list of Polygons."""
    out = []
    for p in shapely.get_parts(shapely.get_parts(g)):
        if p.geom_type == "Polygon" and not p.is_empty:
            out.append(p)
        elif p.geom_type in ("MultiPolygon", "GeometryCollection"):
            out.extend(polygons_of(p))
    return out


def as_polygonal(parts):
    parts = [p for p in parts if not p.is_empty]
    if len(parts) == 1:
        return parts[0]
    return MultiPolygon(parts)


# ----------------------------------------------------------------------------
# sources
def read_csv(name):
    with open(os.path.join(SRC, name), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_counties():
    """Repaired, cleaned 2017 county outlines forming an exact coverage on GRID.

    make_valid + keep polygons (drops spike lines), drop repair debris parts
    < MIN_PART_KM2, then node all outlines together, polygonize, and give each
    face to one county: overlap faces to the overlapping county with the longest
    shared border, hole faces to the neighbouring county with the longest shared
    border.
    """
    with open(os.path.join(SRC, "counties-2017.geojson"), encoding="utf-8") as f:
        fc = json.load(f)
    rep, cps = {}, {}
    for feat in fc["features"]:
        cid = str(feat["id"])
        g = shapely.make_valid(shape(feat["geometry"]))
        parts = [p for p in polygons_of(g) if area_km2(p) >= MIN_PART_KM2]
        rep[cid] = shapely.set_precision(MultiPolygon(parts), GRID)
        cps[cid] = tuple(feat["properties"]["cp"])
    ids = sorted(rep)
    noded = shapely.union_all([r.boundary for r in rep.values()], grid_size=GRID)
    faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    pts = shapely.point_on_surface(faces)
    owners = []
    for pt in pts:
        owners.append([c for c in ids if rep[c].contains(pt)])
    owner = [o[0] if len(o) == 1 else None for o in owners]
    tree = shapely.STRtree(faces)
    stats = {"overlap_faces": 0, "overlap_m2": 0.0, "hole_faces": 0, "hole_m2": 0.0}
    for i, o in enumerate(owners):
        if len(o) > 1:
            stats["overlap_faces"] += 1
            stats["overlap_m2"] += area_km2(faces[i]) * 1e6
        elif not o:
            stats["hole_faces"] += 1
            stats["hole_m2"] += area_km2(faces[i]) * 1e6
    pending = [i for i, o in enumerate(owner) if o is None]
    while pending:
        progress = []
        for i in pending:
            shared = {}
            for j in tree.query(faces[i], predicate="intersects"):
                if j == i or owner[j] is None:
                    continue
                if owners[i] and owner[j] not in owners[i]:
                    continue
                L = shapely.length(shapely.intersection(faces[i].boundary, faces[j]))
                shared[owner[j]] = shared.get(owner[j], 0.0) + L
            shared = {k: v for k, v in shared.items() if v > 0}
            if shared:
                progress.append((i, max(sorted(shared), key=lambda k: shared[k])))
        if not progress:
            raise RuntimeError("county faces without a neighbour")
        for i, c in progress:
            owner[i] = c
        pending = [i for i in pending if owner[i] is None]
    clean = {}
    for c in ids:
        mine = [faces[i] for i in range(len(faces)) if owner[i] == c]
        clean[c] = shapely.coverage_union_all(mine)
    assert shapely.coverage_is_valid(list(clean.values())), "county coverage invalid"
    return clean, cps, stats


# ----------------------------------------------------------------------------
# density-weighted, capacity-constrained centroidal power tessellation
def sample_points(parent, m, rng, dens=None):
    """m points inside parent (km frame), drawn with probability ~ dens (km fn)."""
    shapely.prepare(parent)
    minx, miny, maxx, maxy = parent.bounds
    fill = max(shapely.area(parent) / ((maxx - minx) * (maxy - miny)), 0.02)
    out_x, out_y = [], []
    have = 0
    dmax = None
    while have < m:
        k = int((m - have) / fill * 1.3) + 64
        if dens is not None:
            k *= 4
        lon = rng.uniform(minx, maxx, k)
        lat = rng.uniform(miny, maxy, k)
        ok = shapely.contains_xy(parent, lon, lat)
        lon, lat = lon[ok], lat[ok]
        x, y = ll_to_km(lon, lat)
        if dens is not None:
            d = dens(x, y)
            if dmax is None:
                dmax = dens.peak
            keep = rng.uniform(0, dmax, len(d)) < d
            x, y = x[keep], y[keep]
        out_x.append(x)
        out_y.append(y)
        have += len(x)
    X = np.column_stack([np.concatenate(out_x), np.concatenate(out_y)])[:m]
    return X


class RadialDensity:
    """rho = 1 + amp * (1 - d^2/R^2)^2 for d < R = 2.5 sigma (a Gaussian-like
    biweight bump of width ~sigma) around a centre (km frame).  Only +,-,*,/ so
    that results are bit-identical on every CPU (no SIMD exp)."""

    def __init__(self, cx, cy, amp, sigma):
        self.cx, self.cy, self.amp, self.sigma = cx, cy, amp, sigma
        self.r2 = (2.5 * sigma) ** 2
        self.peak = 1.0 + amp

    def __call__(self, x, y):
        dx = x - self.cx
        dy = y - self.cy
        b = np.maximum(0.0, 1.0 - (dx * dx + dy * dy) / self.r2)
        return 1.0 + self.amp * (b * b)


class Warp:
    """Smooth random displacement field psi(p) = p + d(p) of the km plane.

    d is a sum of plane sine waves (two scales); the sum of amplitude*wavenumber
    is kept at `slope` < 1, so psi is a bijection (|grad d| < 1).  Applied to the
    (densified) power cells before clipping, it bends the straight Voronoi edges
    into irregular, natural-looking boundaries while the cells still tile the
    plane exactly."""

    def __init__(self, rng, lam, slope=0.8, modes=2):
        lams = np.concatenate([lam * rng.uniform(0.8, 1.25, modes),
                               lam / 3.0 * rng.uniform(0.8, 1.25, modes)])
        self.om = 2 * math.pi / lams
        th = rng.uniform(0, 2 * math.pi, 2 * modes)
        self.u = np.array([[math.cos(a), math.sin(a)] for a in th])   # wave directions
        ph = rng.uniform(0, 2 * math.pi, 2 * modes)
        self.ph = ph
        te = rng.uniform(0, 2 * math.pi, 2 * modes)
        self.e = np.array([[math.cos(a), math.sin(a)] for a in te])   # displacement dirs
        share = np.concatenate([np.full(modes, 0.65), np.full(modes, 0.35)]) / modes
        self.amp = slope * share / self.om
        self.step = lam / 14.0

    def __call__(self, xy):
        # parabolic sine wave 8u(1-2|u|), u = phase in [-1/2, 1/2): smooth (C1)
        # and made of exactly rounded operations only (bit-reproducible)
        t = (xy[:, 0:1] * self.u[None, :, 0] + xy[:, 1:2] * self.u[None, :, 1]) \
            * (self.om[None, :] / (2 * math.pi)) + self.ph[None, :] / (2 * math.pi)
        u = t - np.floor(t + 0.5)
        wave = 8.0 * u * (1.0 - 2.0 * np.abs(u)) * (math.pi / 4)   # slope <= om
        a = wave * self.amp[None, :]
        return xy + np.column_stack([(a * self.e[None, :, 0]).sum(1),
                                     (a * self.e[None, :, 1]).sum(1)])


def kmeanspp(X, n, rng):
    idx = [int(rng.integers(len(X)))]
    d2 = ((X - X[idx[0]]) ** 2).sum(1)
    for _ in range(1, n):
        p = d2 / d2.sum()
        j = int(rng.choice(len(X), p=p))
        idx.append(j)
        d2 = np.minimum(d2, ((X - X[j]) ** 2).sum(1))
    return X[idx].copy()


def _power_dist(X, seeds, w):
    # explicit element-wise arithmetic (no BLAS): bit-reproducible everywhere
    dx = X[:, 0:1] - seeds[None, :, 0]
    dy = X[:, 1:2] - seeds[None, :, 1]
    return dx * dx + dy * dy - w[None, :]


def gauss_solve(A, b):
    """Gaussian elimination with partial pivoting in plain element-wise numpy
    (LAPACK results can differ in the last bits between BLAS builds/CPUs)."""
    A = np.array(A, float)
    b = np.array(b, float)
    n = len(b)
    for k in range(n):
        p = k + int(np.argmax(np.abs(A[k:, k])))
        if p != k:
            A[[k, p]] = A[[p, k]]
            b[[k, p]] = b[[p, k]]
        f = A[k + 1:, k] / A[k, k]
        A[k + 1:, k:] -= f[:, None] * A[k, k:][None, :]
        b[k + 1:] -= f * b[k]
    x = np.zeros(n)
    for k in range(n - 1, -1, -1):
        acc = b[k]
        for j in range(k + 1, n):
            acc -= A[k, j] * x[j]
        x[k] = acc / A[k, k]
    return x


def solve_weights(X, seeds, w, T, iters=25, tol=0.01):
    """Damped Newton for the power weights that give cell i T[i] samples
    (semi-discrete optimal transport; Kitagawa-Merigot-Thibert).  The Jacobian
    (a graph Laplacian) is estimated from the samples lying close to each
    power edge."""
    n = len(seeds)
    w = w.copy()
    D = _power_dist(X, seeds, w)
    for _ in range(iters):
        two = np.argpartition(D, 1, axis=1)[:, :2]
        d0 = np.take_along_axis(D, two, 1)
        swap = d0[:, 0] > d0[:, 1]
        best = np.where(swap, two[:, 1], two[:, 0])
        second = np.where(swap, two[:, 0], two[:, 1])
        cnt = np.bincount(best, minlength=n).astype(float)
        err = T - cnt
        if np.max(np.abs(err) / T) < tol:
            break
        gap = np.abs(d0[:, 1] - d0[:, 0])
        h = 0.05 * ((seeds[best] - seeds[second]) ** 2).sum(1)
        band = gap < h
        R = np.zeros((n, n))
        np.add.at(R, (best[band], second[band]), 1.0 / (2 * h[band]))
        R = R + R.T
        L = np.diag(R.sum(1)) - R
        # Levenberg-Marquardt term: the rate of a disc-shaped cell of radius
        # dnn/2 (keeps empty or band-less cells moving the right way)
        dd = ((seeds[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(dd, np.inf)
        L += np.diag(0.1 * T / (2 * dd.min(1) / 4))
        dw = gauss_solve(L, err)
        dw -= dw.mean()
        floor = 0.5 * min(cnt.min(), T.min())
        tau = 1.0
        for _ in range(12):
            wn = w + tau * dw
            Dn = _power_dist(X, seeds, wn)
            cn = np.bincount(Dn.argmin(1), minlength=n)
            if cn.min() >= floor and np.abs(T - cn).sum() < np.abs(err).sum():
                break
            tau /= 2
        w, D = wn, Dn
    return w


def power_lloyd(X, seeds, iters, targets=None, w=None):
    """Lloyd iterations on equal-mass samples X.  With capacity targets
    (fractions summing to 1) each step first solves the power weights that give
    every cell its target mass, then moves seeds to their cell centroids.
    Returns seeds, weights, sample labels."""
    n = len(seeds)
    M = len(X)
    w = np.zeros(n) if w is None else w.copy()
    T = None if targets is None else np.asarray(targets, float) * M
    for it in range(iters + 1):
        if T is not None:
            w = solve_weights(X, seeds, w, T)
        lab = _power_dist(X, seeds, w).argmin(1)
        if it == iters:
            break
        cnt = np.bincount(lab, minlength=n).astype(float)
        sx = np.bincount(lab, X[:, 0], minlength=n)
        sy = np.bincount(lab, X[:, 1], minlength=n)
        nz = cnt > 0
        relax = 1.0 if T is None else 0.5     # capacity mode: half steps
        seeds[nz, 0] += relax * (sx[nz] / cnt[nz] - seeds[nz, 0])
        seeds[nz, 1] += relax * (sy[nz] / cnt[nz] - seeds[nz, 1])
        for i in np.flatnonzero(~nz):         # revive an empty cell in the fullest one
            ratio = cnt / (T if T is not None else np.full(n, M / n))
            big = int(np.argmax(ratio))
            pts = X[lab == big]
            seeds[i] = pts[len(pts) // 3] + 1e-6
            w[i] = w[big]
            cnt[big] /= 2
    return seeds, w, lab


def clip_halfplane(poly, a, c):
    """Clip convex polygon (k,2) to {p : p.a <= c}."""
    v = poly[:, 0] * a[0] + poly[:, 1] * a[1] - c
    inside = v <= 0
    if inside.all():
        return poly
    if not inside.any():
        return poly[:0]
    out = []
    k = len(poly)
    for i in range(k):
        p, q = poly[i], poly[(i + 1) % k]
        vp, vq = v[i], v[(i + 1) % k]
        if vp <= 0:
            out.append(p)
        if (vp <= 0) != (vq <= 0):
            t = vp / (vp - vq)
            out.append(p + t * (q - p))
    return np.array(out)


def power_cells(seeds, w, bbox):
    """Convex power-diagram cells (km frame) of seeds/weights inside bbox."""
    minx, miny, maxx, maxy = bbox
    box = np.array([[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy]], float)
    n = len(seeds)
    s2 = (seeds ** 2).sum(1)
    cells = []
    for i in range(n):
        poly = box
        order = np.argsort(((seeds - seeds[i]) ** 2).sum(1))
        for j in order:
            if j == i:
                continue
            a = seeds[j] - seeds[i]
            c = (s2[j] - s2[i] + w[i] - w[j]) / 2.0
            poly = clip_halfplane(poly, a, c)
            if len(poly) == 0:
                break
        cells.append(poly)
    return cells


def cells_to_ll(cells):
    out = []
    for c in cells:
        if len(c) < 3:
            out.append(Polygon())
            continue
        lon, lat = km_to_ll(c[:, 0], c[:, 1])
        out.append(Polygon(np.column_stack([lon, lat])))
    return out


def fix_pieces(geoms, max_rounds=12):
    """Give every non-largest piece of a multi-part child to the sibling that
    shares the longest border with it (pieces with no neighbour stay)."""
    geoms = [as_polygonal(polygons_of(g)) for g in geoms]
    for _ in range(max_rounds):
        changed = False
        tree = shapely.STRtree(geoms)
        for i in range(len(geoms)):
            parts = polygons_of(geoms[i])
            if len(parts) <= 1:
                continue
            areas = [p.area for p in parts]
            keep = int(np.argmax(areas))
            stay = [parts[keep]]
            for k, p in enumerate(parts):
                if k == keep:
                    continue
                best, bestL = None, 0.0
                for j in tree.query(p, predicate="intersects"):
                    if j == i:
                        continue
                    L = shapely.length(shapely.intersection(p.boundary, geoms[j]))
                    if L > bestL * (1 + 1e-12):
                        best, bestL = int(j), L
                if best is None or bestL <= 0:
                    stay.append(p)
                    continue
                geoms[best] = as_polygonal(polygons_of(
                    shapely.union(geoms[best], p, grid_size=WORK_GRID)))
                changed = True
            if len(stay) != len(parts):
                geoms[i] = as_polygonal(stay)
        if not changed:
            break
    return geoms


def partition(parent, n, rng, dens=None, m_per_cell=300, m_min=2000,
              iters1=15, iters2=0, label_fn=None, warp_lam=None):
    """Split parent (lon/lat polygonal, on GRID) into n children.

    Phase 1: plain CVT of density-weighted samples.  label_fn(seeds) then
    returns (order, targets): order[k] = index of the seed that becomes child k,
    targets[k] = its share of the (density) mass.  Phase 2: capacity-constrained
    power-Lloyd with those targets.  Returns list of child polygons (lon/lat,
    GRID) in child order and the seeds (km) in child order.
    """
    if n == 1:
        return [parent], None
    M = max(m_min, m_per_cell * n)
    X = sample_points(parent, M, rng, dens)
    seeds = kmeanspp(X, n, rng)
    seeds, w, lab = power_lloyd(X, seeds, iters1)
    order = np.arange(n)
    targets = None
    if label_fn is not None:
        order, targets = label_fn(seeds)
        seeds = seeds[order]
        w = w[order]
        if targets is not None and iters2:
            seeds, w, lab = power_lloyd(X, seeds, iters2, targets=targets, w=w)
    minx, miny, maxx, maxy = parent.bounds
    x0, y0 = ll_to_km(minx, miny)
    x1, y1 = ll_to_km(maxx, maxy)
    cells = power_cells(seeds, w, (x0 - 5, y0 - 5, x1 + 5, y1 + 5))
    if warp_lam:
        warp = Warp(rng, warp_lam)
        cells = [np.asarray(shapely.segmentize(Polygon(c), warp.step).exterior.coords)[:-1]
                 if len(c) >= 3 else c for c in cells]
        cells = [warp(c) if len(c) >= 3 else c for c in cells]
    cl = shapely.intersection(cells_to_ll(cells), parent, grid_size=WORK_GRID)
    kids = fix_pieces(list(cl))
    # every child keeps at least its largest piece, so a child is empty only if
    # its whole power cell missed the parent: does not happen with this seed
    for k in range(n):
        if kids[k].is_empty:
            raise RuntimeError("empty child cell")
    return kids, seeds


def angle_order(pts, cx, cy):
    """Indices of pts sorted clockwise from north around (cx, cy)."""
    dx = pts[:, 0] - cx            # east
    dy = pts[:, 1] - cy            # north
    # pseudo-angle in [0, 4), monotone in the clockwise bearing from north
    r = dx / np.maximum(np.abs(dx) + np.abs(dy), 1e-300)
    ang = np.where(dx >= 0, np.where(dy >= 0, r, 2 - r), np.where(dy < 0, 2 - r, 4 + r))
    return list(np.argsort(ang, kind="stable"))


def is_community(name):
    return ("社区" in name) or ("居委会" in name) or name.endswith("生活区")


def center_of(poly):
    """Pole of inaccessibility of the largest part (lon/lat)."""
    big = max(polygons_of(poly), key=lambda p: p.area)
    c = polylabel(big, tolerance=1e-4)
    return c.x, c.y


# ----------------------------------------------------------------------------
# levels
def township_regions(clean, cps):
    """Generation regions: (region polygon, county code, seat lon/lat)."""
    seat_cc = cps["320602"]              # merged 崇川: use 崇川's cp as the seat
    regions = [
        ("320611", clean["320611"], "320613", seat_cc),
        ("320602", clean["320602"], "320613", seat_cc),
    ]
    for old, new in sorted(COUNTY_OF_2017.items()):
        if new != "320613":
            regions.append((old, clean[old], new, cps[old]))
    return regions


def build_townships(clean, cps, towns_by_area, vills_by_town, rng):
    out = {}              # code -> polygon
    parent_of = {}
    town_meta = {}        # code -> {seat: county seat lon/lat, county}
    for old, region, county, seat in township_regions(clean, cps):
        if county == ETDZ_COUNTY:
            own = [t for t in towns_by_area[county] + towns_by_area[ETDZ_AREA]
                   if (t["code"] in GANGZHA_TOWNSHIPS) == (old == "320611")]
        else:
            own = list(towns_by_area[county])
        own.sort(key=lambda t: t["code"])
        n = len(own)
        sx, sy = ll_to_km(*seat)
        amp, sigma = (3.0, 6.0) if county == "320613" else (20.0, 4.0)
        dens = RadialDensity(float(sx), float(sy), amp, sigma)

        def pop(t):
            vs = vills_by_town[t["code"]]
            nc = sum(is_community(v["name"]) for v in vs)
            return max(1.5 * nc + (len(vs) - nc), 5.0)

        def st(ts):
            return [t for t in ts if t["name"].endswith("街道")]

        def nst(ts):
            return [t for t in ts if not t["name"].endswith("街道")]

        # tiers of townships; each tier takes the remaining cells nearest the seat
        etdz = [t for t in own if t["code"].startswith(ETDZ_AREA)]
        home = [t for t in own if t not in etdz]
        if etdz:
            # old 崇川: its own sub-districts around the centre, then its zone,
            # then the development zone on the south-east (riverside) side
            tiers = [st(home), nst(home), st(etdz), nst(etdz)]
        elif st(home):
            tiers = [st(home), None]
        else:   # no 街道: the town with most communities is the seat town
            seat_town = max(home, key=lambda t: (sum(is_community(v["name"]) for v in
                                                     vills_by_town[t["code"]]), t["code"]))
            tiers = [[seat_town], None]

        def label_fn(seeds, own=own, tiers=tiers, sx=sx, sy=sy):
            free = list(range(len(seeds)))
            assign = {}                                  # township code -> seed
            dseat = ((seeds[:, 0] - sx) ** 2 + (seeds[:, 1] - sy) ** 2)
            for tier in tiers:
                if tier is None:      # the rest, shuffled (towns, farms, parks)
                    tier = [t for t in own if t["code"] not in assign]
                    tier = [tier[k] for k in rng.permutation(len(tier))]
                near = sorted(free, key=lambda i: dseat[i])[:len(tier)]
                near = [near[k] for k in angle_order(seeds[near], sx, sy)] if near else []
                for t, i in zip(tier, near):
                    assign[t["code"]] = i
                free = [i for i in free if i not in near]
            assert not free and len(assign) == len(own)
            order = np.array([assign[t["code"]] for t in own])
            tg = np.array([pop(t) for t in own])
            return order, tg / tg.sum()

        lam = 1.2 * math.sqrt(area_km2(region) / n)
        kids, _ = partition(region, n, rng, dens, m_per_cell=1500, m_min=30000,
                            iters1=15, iters2=15, label_fn=label_fn, warp_lam=lam)
        for t, g in zip(own, kids):
            out[t["code"]] = g
            parent_of[t["code"]] = county
            town_meta[t["code"]] = {"seat": seat, "county": county}
        log(f"townships of {old}->{county}: {n}")
    return out, parent_of, town_meta


def build_villages(towns, town_meta, vills_by_town, rng):
    out, parent_of = {}, {}
    for tcode in sorted(towns):
        tpoly = towns[tcode]
        vs = sorted(vills_by_town[tcode], key=lambda v: v["code"])
        n = len(vs)
        seat = town_meta[tcode]["seat"]
        if tpoly.contains(Point(seat)):
            centre = seat
        else:
            centre = center_of(tpoly)
        cx, cy = ll_to_km(*centre)
        comm = [v for v in vs if is_community(v["name"])]
        rural = [v for v in vs if not is_community(v["name"])]
        S = area_km2(tpoly)
        nc = len(comm)
        if 0 < nc < n:
            k = 8.0
            core = S * (nc / k) / (nc / k + (n - nc))
            dens = RadialDensity(float(cx), float(cy), k - 1.0,
                                 max(0.75 * math.sqrt(core / math.pi), 0.3))
        else:
            dens = RadialDensity(float(cx), float(cy), 3.0,
                                 max(0.5 * math.sqrt(S / math.pi), 0.3))

        def label_fn(seeds, comm=comm, rural=rural, cx=cx, cy=cy):
            d = (seeds[:, 0] - cx) ** 2 + (seeds[:, 1] - cy) ** 2
            near = sorted(range(len(seeds)), key=lambda i: d[i])[:len(comm)]
            far = [i for i in range(len(seeds)) if i not in near]
            near = [near[k] for k in angle_order(seeds[near], cx, cy)] if near else []
            far = [far[k] for k in angle_order(seeds[far], cx, cy)] if far else []
            assign = {}
            for v, i in zip(comm, near):
                assign[v["code"]] = i
            for v, i in zip(rural, far):
                assign[v["code"]] = i
            return np.array([assign[v["code"]] for v in vs]), None

        kids, _ = partition(tpoly, n, rng, dens, m_per_cell=300, m_min=3000,
                            iters1=10, label_fn=label_fn,
                            warp_lam=1.2 * math.sqrt(S / n))
        for v, g in zip(vs, kids):
            out[v["code"]] = g
            parent_of[v["code"]] = tcode
    return out, parent_of


def grid_count(a_km2):
    """Number of grids of a village of area a_km2 (3..12)."""
    return int(min(12, max(3, round(1.0 + 2.6 * math.sqrt(a_km2)))))


def reading_order(polys):
    """Indices of polys in reading order: north->south rows, west->east."""
    cen = shapely.centroid(polys)
    cx, cy = ll_to_km(shapely.get_x(cen), shapely.get_y(cen))
    n = len(polys)
    u = shapely.union_all(polys).bounds
    x0, y0 = ll_to_km(u[0], u[1])
    x1, y1 = ll_to_km(u[2], u[3])
    W, H = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    rows = max(1, int(round(math.sqrt(n * H / W))))
    band = H / rows
    row = np.minimum(rows - 1, np.floor((y1 - cy) / band)).astype(int)
    return sorted(range(n), key=lambda i: (row[i], cx[i], -cy[i]))


def build_grids(vills, rng):
    out, parent_of = {}, {}
    for vcode in sorted(vills):
        vpoly = vills[vcode]
        n = grid_count(area_km2(vpoly))
        kids, _ = partition(vpoly, n, rng, None, m_per_cell=150, m_min=600, iters1=10)
        order = reading_order(kids) if n > 1 else [0]
        for k, i in enumerate(order):
            code = f"{vcode}{k + 1:03d}"
            out[code] = kids[i]
            parent_of[code] = vcode
    return out, parent_of


# ----------------------------------------------------------------------------
# exact bottom-up rebuild
def rebuild_exact(grids):
    """Node all grid outlines together on GRID, polygonize, give each face to
    the grid containing it (ambiguous slivers: longest shared border), union."""
    codes = sorted(grids)
    polys = [grids[c] for c in codes]
    noded = shapely.union_all(shapely.boundary(polys), grid_size=GRID)
    faces = np.array(list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))))
    log(f"global noding: {len(faces)} faces for {len(codes)} grids")
    pts = shapely.point_on_surface(faces)
    tree = shapely.STRtree(polys)
    fi, gi = tree.query(pts, predicate="within")
    cnt = np.bincount(fi, minlength=len(faces))
    owner = np.full(len(faces), -1)
    one = cnt[fi] == 1
    owner[fi[one]] = gi[one]
    pending = list(np.flatnonzero(owner < 0))
    log(f"faces needing adjacency assignment: {len(pending)}")
    ftree = shapely.STRtree(faces)
    while pending:
        progress = []
        for i in pending:
            shared = {}
            for j in ftree.query(faces[i], predicate="intersects"):
                if j == i or owner[j] < 0:
                    continue
                L = shapely.length(shapely.intersection(faces[i].boundary, faces[j]))
                if L > 0:
                    shared[owner[j]] = shared.get(owner[j], 0.0) + L
            if shared:
                progress.append((i, max(sorted(shared), key=lambda k: shared[k])))
        if not progress:
            raise RuntimeError("isolated faces")
        for i, o in progress:
            owner[i] = o
        pending = [i for i in pending if owner[i] < 0]
    by = {}
    for f, o in zip(faces, owner):
        by.setdefault(int(o), []).append(f)
    out = {}
    for k, c in enumerate(codes):
        fs = by.get(k)
        if not fs:
            raise RuntimeError(f"grid {c} lost all faces")
        out[c] = fs[0] if len(fs) == 1 else shapely.coverage_union_all(fs)
    return out


def union_up(children, parent_of):
    groups = {}
    for c in sorted(children):
        groups.setdefault(parent_of[c], []).append(children[c])
    return {p: (gs[0] if len(gs) == 1 else shapely.coverage_union_all(gs))
            for p, gs in groups.items()}


# ----------------------------------------------------------------------------
# output
def fmt_geom(g):
    g = shapely.orient_polygons(g, exterior_cw=False)

    def ring(r):
        return [[round(x, 7), round(y, 7)] for x, y in r.coords]

    def poly(p):
        return [ring(p.exterior)] + [ring(i) for i in p.interiors]

    parts = polygons_of(g)
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": poly(parts[0])}
    return {"type": "MultiPolygon", "coordinates": [poly(p) for p in parts]}


def write_geojson(features, path):
    lines = ['{"type":"FeatureCollection","features":[']
    for k, (props, g) in enumerate(features):
        feat = {"type": "Feature", "properties": props, "geometry": fmt_geom(g)}
        s = json.dumps(feat, ensure_ascii=False, separators=(",", ":"))
        lines.append(s + ("," if k + 1 < len(features) else ""))
    lines.append("]}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="nantong.geojson", mode="wb", fileobj=raw,
                           compresslevel=9, mtime=0) as gz:
            gz.write(data)
    os.replace(tmp, path)
    return len(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--preview", action="store_true",
                    help="also render /tmp/nantong_preview*.png (needs matplotlib)")
    ap.add_argument("--check", action="store_true",
                    help="run data/check_nantong.py (incl. PostGIS) on the result")
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)

    towns_csv = read_csv("townships.csv")
    vills_csv = read_csv("villages.csv")
    towns_by_area, vills_by_town = {}, {}
    for t in towns_csv:
        towns_by_area.setdefault(t["areaCode"], []).append(t)
    for v in vills_csv:
        vills_by_town.setdefault(v["streetCode"], []).append(v)
    name = {t["code"]: t["name"] for t in towns_csv}
    name.update({v["code"]: v["name"] for v in vills_csv})

    clean, cps, cstats = load_counties()
    log("counties cleaned: {overlap_faces} overlap faces ({overlap_m2:,.0f} m2) given to "
        "one side, {hole_faces} hole faces ({hole_m2:,.0f} m2, incl. dropped repair "
        "debris) filled".format(**cstats))
    towns, town_parent, town_meta = build_townships(clean, cps, towns_by_area,
                                                    vills_by_town, rng)
    log(f"townships: {len(towns)}")
    vills, vill_parent = build_villages(towns, town_meta, vills_by_town, rng)
    log(f"villages: {len(vills)}")
    grids, grid_parent = build_grids(vills, rng)
    log(f"grids: {len(grids)}")

    grids = rebuild_exact(grids)
    vills = union_up(grids, grid_parent)
    towns = union_up(vills, vill_parent)
    counties = union_up(towns, town_parent)
    city = shapely.coverage_union_all([counties[c] for c in sorted(counties)])
    log("bottom-up rebuild done")

    feats = [({"code": "320600", "name": "南通市", "level": "city", "parent": None}, city)]
    for c in sorted(counties):
        feats.append(({"code": c, "name": COUNTY_NAME[c], "level": "county",
                       "parent": "320600"}, counties[c]))
    for c in sorted(towns):
        feats.append(({"code": c, "name": name[c], "level": "township",
                       "parent": town_parent[c]}, towns[c]))
    for c in sorted(vills):
        feats.append(({"code": c, "name": name[c], "level": "village",
                       "parent": vill_parent[c]}, vills[c]))
    for c in sorted(grids):
        vc = grid_parent[c]
        feats.append(({"code": c, "name": f"{name[vc]}第{int(c[-3:])}网格",
                       "level": "grid", "parent": vc}, grids[c]))
    bad = [p["code"] for p, g in feats if not g.is_valid]
    if bad:
        raise RuntimeError(f"invalid geometries: {bad[:10]} ({len(bad)})")
    raw = write_geojson(feats, args.out)
    log(f"wrote {args.out}: {len(feats)} features, {raw} bytes raw, "
        f"{os.path.getsize(args.out)} bytes gzip")
    if args.preview:
        import preview_nantong   # noqa: E402  (data/preview_nantong.py)
        log("previews: " + ", ".join(preview_nantong.render(args.out)))
    if args.check:
        import subprocess
        rc = subprocess.call([sys.executable, os.path.join(HERE, "check_nantong.py"), args.out])
        sys.exit(rc)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
