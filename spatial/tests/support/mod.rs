//! Synthetic hierarchies, the demo-file loader and a brute-force locator, shared by the
//! integration tests, the benchmark and the `cover_stats` example.
//!
//! The synthetic county is a jittered quad mesh whose shared edges are wiggly polylines (the
//! same coordinates for both neighbours, so grids tile without gaps or overlaps), grouped 4×4
//! into villages and villages 4×4 into townships.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "lattice counts of a few hundred fit f64 exactly; bucket indexes are checked >= 0 or computed from a box's own corners"
)]
#![allow(dead_code, reason = "each includer uses a different part")]
#![allow(clippy::unwrap_used, clippy::panic, reason = "test support")]

use std::path::{Path, PathBuf};

use geo::{BoundingRect, Coord, Intersects, LineString, MultiPolygon, Polygon, Rect};
use gridwall_spatial::{Level, UnitCode, UnitInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shape of a synthetic county.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// South-west corner (lng, lat), degrees.
    pub origin: (f64, f64),
    /// Grid columns and rows.
    pub nx: usize,
    pub ny: usize,
    /// Mean grid size in degrees (lng, lat).
    pub cell: (f64, f64),
    /// Wiggle vertices per shared edge (inclusive range), giving 4·(k+1) vertices per grid.
    pub wiggles: (usize, usize),
    /// Adds an enclave (a grid with a hole and the island in it), a two-part MultiPolygon grid
    /// and a grid overlapping its neighbours.
    pub specials: bool,
    pub seed: u64,
}

impl Synthetic {
    /// A small county for tests: `nx × ny` grids of about 300 m near 32°N.
    pub fn small(nx: usize, ny: usize, seed: u64) -> Self {
        Self {
            origin: (120.81, 32.01),
            nx,
            ny,
            cell: (0.0032, 0.0027),
            wiggles: (4, 14),
            specials: true,
            seed,
        }
    }

    /// The benchmark county: ≈12,000 grids of ≈0.8 km² over lng 120.5–121.9, lat 31.66–32.34.
    pub fn demo_scale() -> Self {
        Self {
            origin: (120.5, 31.66),
            nx: 130,
            ny: 92,
            cell: (1.4 / 130.0, 0.68 / 92.0),
            wiggles: (4, 14),
            specials: false,
            seed: 2024,
        }
    }

    /// Bounding box (lng, lat) of the whole county.
    pub fn bbox(&self) -> Rect<f64> {
        Rect::new(
            Coord {
                x: self.origin.0,
                y: self.origin.1,
            },
            Coord {
                x: self.origin.0 + self.cell.0 * self.nx as f64,
                y: self.origin.1 + self.cell.1 * self.ny as f64,
            },
        )
    }

    /// x of the straight vertical line through lattice column 3 (exact on-edge tests).
    pub fn straight_x(&self) -> f64 {
        self.origin.0 + 3.0 * self.cell.0
    }

    /// The units: one county, townships, villages and grids.
    #[allow(
        clippy::too_many_lines,
        clippy::similar_names,
        reason = "the whole synthetic county in one place; `ring` and `rings` are one ring and all"
    )]
    pub fn units(&self) -> Vec<UnitInput> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let (nx, ny) = (self.nx, self.ny);
        let (dx, dy) = self.cell;
        // Lattice points, jittered; the outer border and column 3 stay straight.
        let mut lattice = vec![vec![(0.0, 0.0); ny + 1]; nx + 1];
        for (i, col) in lattice.iter_mut().enumerate() {
            for (j, p) in col.iter_mut().enumerate() {
                let fix_x = i == 0 || i == nx || i == 3;
                let fix_y = j == 0 || j == ny;
                let jx = if fix_x {
                    0.0
                } else {
                    rng.random_range(-0.2..0.2) * dx
                };
                let jy = if fix_y {
                    0.0
                } else {
                    rng.random_range(-0.2..0.2) * dy
                };
                *p = (
                    self.origin.0 + i as f64 * dx + jx,
                    self.origin.1 + j as f64 * dy + jy,
                );
            }
        }
        let wiggle = |a: (f64, f64), b: (f64, f64), straight: bool, rng: &mut StdRng| {
            let mut line = vec![a];
            if !straight {
                let k = rng.random_range(self.wiggles.0..=self.wiggles.1);
                let (ex, ey) = (b.0 - a.0, b.1 - a.1);
                for m in 1..=k {
                    let t = m as f64 / (k + 1) as f64;
                    let amp = 0.1 * (std::f64::consts::PI * t).sin() * rng.random_range(-1.0..1.0);
                    line.push((a.0 + t * ex - amp * ey, a.1 + t * ey + amp * ex));
                }
            }
            line.push(b);
            line
        };
        // Horizontal edges h[i][j]: (i, j) → (i+1, j); vertical v[i][j]: (i, j) → (i, j+1).
        let mut h = vec![vec![Vec::new(); ny + 1]; nx];
        let mut v = vec![vec![Vec::new(); ny]; nx + 1];
        for i in 0..nx {
            for j in 0..=ny {
                h[i][j] = wiggle(
                    lattice[i][j],
                    lattice[i + 1][j],
                    j == 0 || j == ny,
                    &mut rng,
                );
            }
        }
        for i in 0..=nx {
            for j in 0..ny {
                v[i][j] = wiggle(
                    lattice[i][j],
                    lattice[i][j + 1],
                    i == 0 || i == nx || i == 3,
                    &mut rng,
                );
            }
        }
        let ring_of = |i: usize, j: usize| {
            let mut ring: Vec<(f64, f64)> = Vec::new();
            ring.extend(&h[i][j]);
            ring.extend(&v[i + 1][j][1..]);
            ring.extend(h[i][j + 1].iter().rev().skip(1));
            ring.extend(v[i][j].iter().rev().skip(1));
            ring
        };
        let county = "320612";
        let mut units = vec![unit(
            county,
            "合成县",
            Level::County,
            None,
            MultiPolygon::new(vec![]),
        )];
        let mut grids: Vec<(String, MultiPolygon<f64>)> = Vec::new();
        let village_code = |i: usize, j: usize| {
            let (vi, vj) = (i / 4, j / 4);
            let (ti, tj) = (vi / 4, vj / 4);
            let t = 1 + ti + tj * nx.div_ceil(16);
            let vnum = 1 + (vi % 4) + (vj % 4) * 4;
            (
                format!("{county}{t:03}"),
                format!("{county}{t:03}{vnum:03}"),
            )
        };
        let mut villages = std::collections::BTreeMap::new();
        for j in 0..ny {
            for i in 0..nx {
                let (t, vcode) = village_code(i, j);
                let g = 1 + (i % 4) + (j % 4) * 4;
                villages.insert(vcode.clone(), t);
                grids.push((
                    format!("{vcode}{g:03}"),
                    MultiPolygon::new(vec![polygon(ring_of(i, j), vec![])]),
                ));
            }
        }
        if self.specials && nx >= 8 && ny >= 6 {
            let idx = |i: usize, j: usize| j * nx + i;
            // Enclave: a star-shaped hole in grid (2, 2), and the island as its own grid.
            let (cx, cy) = (self.origin.0 + 2.5 * dx, self.origin.1 + 2.5 * dy);
            let star: Vec<(f64, f64)> = (0..14)
                .map(|m| {
                    let a = f64::from(m) * std::f64::consts::TAU / 14.0;
                    let r = if m % 2 == 0 { 0.18 } else { 0.08 };
                    (cx + r * dx * a.cos(), cy + r * dy * a.sin())
                })
                .collect();
            let host = &mut grids[idx(2, 2)].1;
            host.0[0] = polygon(
                host.0[0].exterior().0.iter().map(|c| (c.x, c.y)).collect(),
                vec![star.clone()],
            );
            let (_, vcode) = village_code(2, 2);
            grids.push((
                format!("{vcode}090"),
                MultiPolygon::new(vec![polygon(star, vec![])]),
            ));
            // MultiPolygon: grid (5, 3) also owns the area of (7, 3), which is dropped.
            let extra = grids[idx(7, 3)].1.0[0].clone();
            grids[idx(5, 3)].1.0.push(extra);
            grids[idx(7, 3)].1 = MultiPolygon::new(vec![]);
            // Overlap: a rectangle over parts of (1, 4), (1, 5), (2, 4), (2, 5).
            let (ox, oy) = (self.origin.0 + 1.6 * dx, self.origin.1 + 4.55 * dy);
            let rect = vec![
                (ox, oy),
                (ox + 0.8 * dx, oy),
                (ox + 0.8 * dx, oy + 0.9 * dy),
                (ox, oy + 0.9 * dy),
            ];
            let (_, vcode) = village_code(1, 4);
            grids.push((
                format!("{vcode}099"),
                MultiPolygon::new(vec![polygon(rect, vec![])]),
            ));
            grids.retain(|g| !g.1.0.is_empty());
        }
        let mut townships: Vec<String> = villages.values().cloned().collect();
        townships.sort();
        townships.dedup();
        for t in &townships {
            units.push(unit(
                t,
                "镇",
                Level::Township,
                Some(county),
                MultiPolygon::new(vec![]),
            ));
        }
        for (vcode, t) in &villages {
            units.push(unit(
                vcode,
                "村",
                Level::Village,
                Some(t),
                MultiPolygon::new(vec![]),
            ));
        }
        for (code, mp) in grids {
            let parent = code[..12].to_owned();
            units.push(unit(&code, "网格", Level::Grid, Some(&parent), mp));
        }
        units
    }
}

fn polygon(exterior: Vec<(f64, f64)>, holes: Vec<Vec<(f64, f64)>>) -> Polygon<f64> {
    Polygon::new(
        LineString::from(exterior),
        holes.into_iter().map(LineString::from).collect(),
    )
}

/// An area of one polygon, from its rings.
pub fn area(exterior: Vec<(f64, f64)>, holes: Vec<Vec<(f64, f64)>>) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![polygon(exterior, holes)])
}

/// A county (320612) with one township and one village that holds `grids` (code, name,
/// area): the smallest hierarchy a hand-drawn case needs.
pub fn one_village(grids: Vec<(&str, &str, MultiPolygon<f64>)>) -> Vec<UnitInput> {
    let empty = MultiPolygon::new(vec![]);
    let mut units = vec![
        unit("320612", "县", Level::County, None, empty.clone()),
        unit(
            "320612001",
            "镇",
            Level::Township,
            Some("320612"),
            empty.clone(),
        ),
        unit(
            "320612001001",
            "村",
            Level::Village,
            Some("320612001"),
            empty,
        ),
    ];
    for (code, name, area) in grids {
        units.push(unit(code, name, Level::Grid, Some("320612001001"), area));
    }
    units
}

/// A unit from plain parts.
pub fn unit(
    code: &str,
    name: &str,
    level: Level,
    parent: Option<&str>,
    polygon: MultiPolygon<f64>,
) -> UnitInput {
    UnitInput {
        code: UnitCode::new(code).unwrap(),
        name: name.to_owned(),
        level,
        parent: parent.map(|p| UnitCode::new(p).unwrap()),
        polygon,
    }
}

/// The committed demo dataset (Nantong: 1 city, 7 counties, ≈11,800 grids).
pub fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/nantong.geojson.gz")
}

/// Loads a gzip GeoJSON FeatureCollection whose features carry `code`, `name`, `level` (name
/// or number) and `parent` properties.
pub fn load_geojson_gz(path: &Path) -> Vec<UnitInput> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let features = doc["features"].as_array().unwrap();
    let ring = |v: &serde_json::Value| -> Vec<(f64, f64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
            .collect()
    };
    let poly = |v: &serde_json::Value| {
        let rings = v.as_array().unwrap();
        polygon(ring(&rings[0]), rings[1..].iter().map(ring).collect())
    };
    features
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let level: Level = match &p["level"] {
                serde_json::Value::Number(n) => Level::from_number(n.as_i64().unwrap()).unwrap(),
                other => other.as_str().unwrap().parse().unwrap(),
            };
            let g = &f["geometry"];
            let mp = match g["type"].as_str() {
                Some("Polygon") => MultiPolygon::new(vec![poly(&g["coordinates"])]),
                Some("MultiPolygon") => MultiPolygon::new(
                    g["coordinates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(poly)
                        .collect(),
                ),
                _ => MultiPolygon::new(vec![]),
            };
            let parent = p["parent"].as_str().filter(|s| !s.is_empty());
            unit(
                p["code"].as_str().unwrap(),
                p["name"].as_str().unwrap_or(""),
                level,
                parent,
                mp,
            )
        })
        .collect()
}

/// Independent answer: the lowest-coded grid whose polygon intersects the point (geo's exact
/// boundary-inclusive test), over grids whose bounding box holds the point (found through a
/// coarse bucket grid of bounding boxes).
pub struct BruteForce {
    grids: Vec<(String, Rect<f64>, MultiPolygon<f64>)>,
    origin: Coord,
    bucket: f64,
    cols: usize,
    rows: usize,
    buckets: Vec<Vec<usize>>,
}

impl BruteForce {
    pub fn new(units: &[UnitInput]) -> Self {
        let mut grids: Vec<_> = units
            .iter()
            .filter(|u| u.level == Level::Grid)
            .map(|u| {
                (
                    u.code.to_string(),
                    u.polygon.bounding_rect().unwrap(),
                    u.polygon.clone(),
                )
            })
            .collect();
        grids.sort_by(|a, b| a.0.cmp(&b.0));
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (_, r, _) in &grids {
            x0 = x0.min(r.min().x);
            y0 = y0.min(r.min().y);
            x1 = x1.max(r.max().x);
            y1 = y1.max(r.max().y);
        }
        let bucket = 0.01;
        let cols = ((x1 - x0) / bucket) as usize + 1;
        let rows = ((y1 - y0) / bucket) as usize + 1;
        let mut buckets = vec![Vec::new(); cols * rows];
        for (i, (_, r, _)) in grids.iter().enumerate() {
            let (c0, c1) = (
                ((r.min().x - x0) / bucket) as usize,
                ((r.max().x - x0) / bucket) as usize,
            );
            let (r0, r1) = (
                ((r.min().y - y0) / bucket) as usize,
                ((r.max().y - y0) / bucket) as usize,
            );
            for row in r0..=r1.min(rows - 1) {
                for col in c0..=c1.min(cols - 1) {
                    buckets[row * cols + col].push(i);
                }
            }
        }
        Self {
            grids,
            origin: Coord { x: x0, y: y0 },
            bucket,
            cols,
            rows,
            buckets,
        }
    }

    /// Code of the lowest-coded grid covering (lng, lat).
    pub fn locate(&self, lng: f64, lat: f64) -> Option<&str> {
        let c = Coord { x: lng, y: lat };
        let (fx, fy) = (
            (lng - self.origin.x) / self.bucket,
            (lat - self.origin.y) / self.bucket,
        );
        if !(fx >= 0.0 && fy >= 0.0) {
            return self.scan(c, 0..self.grids.len());
        }
        let (col, row) = (fx as usize, fy as usize);
        if col >= self.cols || row >= self.rows {
            return self.scan(c, 0..self.grids.len());
        }
        // Buckets list grids in code order; bounding boxes are closed, so a point on a bucket
        // border is in the grids of both buckets.
        self.scan(c, self.buckets[row * self.cols + col].iter().copied())
    }

    fn scan(&self, c: Coord, candidates: impl IntoIterator<Item = usize>) -> Option<&str> {
        candidates
            .into_iter()
            .map(|i| &self.grids[i])
            .find(|(_, bbox, mp)| bbox.intersects(&c) && mp.intersects(&c))
            .map(|(code, _, _)| code.as_str())
    }

    /// All grids, in code order.
    pub fn grids(&self) -> impl Iterator<Item = (&str, &MultiPolygon<f64>)> {
        self.grids.iter().map(|(c, _, mp)| (c.as_str(), mp))
    }

    /// Grids whose bounding box holds (lng, lat), in code order.
    pub fn near(&self, lng: f64, lat: f64) -> impl Iterator<Item = (&str, &MultiPolygon<f64>)> {
        let c = Coord { x: lng, y: lat };
        self.grids
            .iter()
            .filter(move |(_, b, _)| b.intersects(&c))
            .map(|(code, _, mp)| (code.as_str(), mp))
    }
}

/// The bounding box of the grids, `(west, south, east, north)` in degrees.
pub fn grid_bbox(units: &[UnitInput]) -> (f64, f64, f64, f64) {
    use geo::BoundingRect as _;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for u in units
        .iter()
        .filter(|u| u.level == gridwall_spatial::Level::Grid)
    {
        if let Some(r) = u.polygon.bounding_rect() {
            x0 = x0.min(r.min().x);
            y0 = y0.min(r.min().y);
            x1 = x1.max(r.max().x);
            y1 = y1.max(r.max().y);
        }
    }
    (x0, y0, x1, y1)
}
