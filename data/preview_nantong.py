#!/usr/bin/env python3
"""Render preview PNGs of data/nantong.geojson.gz (needs matplotlib).

  python3 data/preview_nantong.py [path] [--township CODE] [--outdir /tmp]

Writes <outdir>/nantong_preview.png (townships + villages of the whole city)
and <outdir>/nantong_preview_grids.png (grids of one township, numbered).
The PNGs are for looking at, not for the repository.
"""
import argparse
import gzip
import json
import logging
import math
import os

import matplotlib
matplotlib.use("Agg")
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
import matplotlib.pyplot as plt                                   # noqa: E402
from matplotlib import font_manager                               # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
import shapely                                                    # noqa: E402
from shapely.geometry import shape                                # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _cjk_font():
    for f in font_manager.findSystemFonts():
        low = f.lower()
        if any(k in low for k in ("wqy", "noto sans cjk", "notosanscjk", "droidsansfallback")):
            font_manager.fontManager.addfont(f)
            return font_manager.FontProperties(fname=f).get_name()
    return None


def _rings(geom):
    g = shape(geom)
    for p in shapely.get_parts(g):
        yield [list(p.exterior.coords)] + [list(r.coords) for r in p.interiors]


def _outer(geom):
    return [r[0] for r in _rings(geom)]


def render(path=None, township=None, outdir="/tmp"):
    path = path or os.path.join(HERE, "nantong.geojson.gz")
    font = _cjk_font()
    if font:
        plt.rcParams["font.sans-serif"] = [font]
    fc = json.loads(gzip.open(path, "rb").read())
    by_level = {}
    for f in fc["features"]:
        by_level.setdefault(f["properties"]["level"], []).append(f)
    aspect = 1 / math.cos(math.radians(32.15))
    cmap = plt.get_cmap("tab20")

    # 1) whole city: villages coloured, townships and counties outlined
    fig, ax = plt.subplots(figsize=(20, 14))
    polys, cols = [], []
    for k, f in enumerate(by_level["village"]):
        for r in _outer(f["geometry"]):
            polys.append(r)
            cols.append(cmap(k % 20))
    ax.add_collection(PolyCollection(polys, facecolors=cols, edgecolors="#666",
                                     linewidths=0.15, alpha=0.55))
    ax.add_collection(LineCollection([r for f in by_level["township"] for r in _outer(f["geometry"])],
                                     colors="k", linewidths=0.7))
    ax.add_collection(LineCollection([r for f in by_level["county"] for r in _outer(f["geometry"])],
                                     colors="crimson", linewidths=1.6))
    for f in by_level["township"]:
        g = shape(f["geometry"])
        big = max(shapely.get_parts(g), key=lambda p: p.area)
        rp = big.representative_point()
        ax.text(rp.x, rp.y, f["properties"]["name"][:6], fontsize=5.5, ha="center",
                va="center")
    ax.autoscale()
    ax.set_aspect(aspect)
    ax.set_title(f"南通市: {len(by_level['county'])} counties, {len(by_level['township'])} "
                 f"townships, {len(by_level['village'])} villages, {len(by_level['grid'])} grids")
    fig.tight_layout()
    out1 = os.path.join(outdir, "nantong_preview.png")
    fig.savefig(out1, dpi=90)
    plt.close(fig)

    # 2) grids of one township, numbered
    towns = {f["properties"]["code"]: f for f in by_level["township"]}
    code = township or "320682001"
    tname = towns[code]["properties"]["name"]
    vills = [f for f in by_level["village"] if f["properties"]["parent"] == code]
    vcodes = {f["properties"]["code"] for f in vills}
    grids = [f for f in by_level["grid"] if f["properties"]["parent"] in vcodes]
    fig, ax = plt.subplots(figsize=(16, 16))
    vcol = {c: cmap(k % 20) for k, c in enumerate(sorted(vcodes))}
    polys, cols = [], []
    for f in grids:
        for r in _outer(f["geometry"]):
            polys.append(r)
            cols.append(vcol[f["properties"]["parent"]])
    ax.add_collection(PolyCollection(polys, facecolors=cols, edgecolors="#444",
                                     linewidths=0.4, alpha=0.5))
    ax.add_collection(LineCollection([r for f in vills for r in _outer(f["geometry"])],
                                     colors="k", linewidths=1.2))
    for f in grids:
        rp = shape(f["geometry"]).representative_point()
        ax.text(rp.x, rp.y, str(int(f["properties"]["code"][-3:])), fontsize=6,
                ha="center", va="center")
    for f in vills:
        rp = shape(f["geometry"]).centroid
        ax.text(rp.x, rp.y, f["properties"]["name"].replace("社区居委会", "社区")
                .replace("村民委员会", "村"), fontsize=7, ha="center", va="bottom",
                color="navy")
    ax.autoscale()
    ax.set_aspect(aspect)
    ax.set_title(f"{tname} ({code}): {len(vills)} villages, {len(grids)} grids "
                 f"(numbers = grid No. in its village)")
    fig.tight_layout()
    out2 = os.path.join(outdir, "nantong_preview_grids.png")
    fig.savefig(out2, dpi=90)
    plt.close(fig)
    return out1, out2


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?")
    ap.add_argument("--township", default="320682001")
    ap.add_argument("--outdir", default="/tmp")
    a = ap.parse_args()
    print(*render(a.path, a.township, a.outdir), sep="\n")
