//! The 王 hierarchy: units with parent/child links, the locate index and the H3 cover of the grids.
//!
//! Invariants: ids are dense indexes into `units`, which are sorted by code (so id order is code
//! order); a unit's level is its parent's plus one; roots are cities or counties; `path_of(i)` is
//! the path of the grid `grids[i]` (grid ordinal `i`, the number the locate index stores), whose
//! polygon is grid `i` of `shapes`.

use std::collections::HashMap;

use geo::MultiPolygon;
use h3o::{CellIndex, Resolution};

use crate::cover::grid_cells;
use crate::error::HierarchyError;
use crate::locate_index::{IndexStats, LocateIndex};
use crate::shapes::Shapes;
use crate::types::{LatLng, Level, UnitCode, h3_latlng};

/// One unit as it comes from the store or an import file.
#[derive(Debug, Clone)]
pub struct UnitInput {
    /// Unique code.
    pub code: UnitCode,
    /// Name (Chinese).
    pub name: String,
    /// Level in the hierarchy.
    pub level: Level,
    /// Parent code; `None` only for the root level present (city or county).
    pub parent: Option<UnitCode>,
    /// Boundary, x = lng, y = lat, degrees (WGS84, planar like PostGIS geometry 4326).
    pub polygon: MultiPolygon<f64>,
}

/// Dense index of a unit inside one [`Hierarchy`]; not stable across builds (use codes for that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId(pub u32);

/// A unit of a built hierarchy.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unique code.
    pub code: UnitCode,
    /// Name (Chinese).
    pub name: String,
    /// Level in the hierarchy: county, township, village or grid (or city at the root).
    pub level: Level,
    /// Parent, `None` for the root(s).
    pub parent: Option<UnitId>,
    /// Children, in code order.
    pub children: Vec<UnitId>,
}

/// A located grid with its ancestors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPath {
    /// 网格.
    pub grid: UnitId,
    /// 村（社区）.
    pub village: UnitId,
    /// 乡镇（街道）.
    pub township: UnitId,
    /// 县（市、区）.
    pub county: UnitId,
    /// 市, when the hierarchy has a city root.
    pub city: Option<UnitId>,
}

/// A grid and where its path goes on in [`Hierarchy::uppers`].
#[derive(Debug, Clone, Copy)]
struct GridPath {
    grid: UnitId,
    upper: u32,
}

/// The path above a grid: its village and up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Upper {
    village: UnitId,
    township: UnitId,
    county: UnitId,
    city: Option<UnitId>,
}

/// The hierarchy and its H3 index; immutable once built, shared behind an `Arc`.
#[derive(Debug)]
pub struct Hierarchy {
    units: Vec<Unit>,
    resolution: Resolution,
    /// Grid ordinal → unit id, ascending.
    grids: Vec<UnitId>,
    /// Grid ordinal → the grid and its village's entry in `uppers`, so that `locate` does not
    /// walk the tree: 8 bytes a grid, against 24 for a whole path, so that the table a locate
    /// reads last stays in cache (100 KB for Nantong's 11,800 grids).
    grid_paths: Vec<GridPath>,
    /// The paths above the grids, one per village.
    uppers: Vec<Upper>,
    /// Grid polygons by ordinal: what the cover covers and `locate` tests exactly.
    shapes: Shapes,
    /// The H3 cells of every grid at `resolution`, for `locate` and `grid_cover`.
    index: LocateIndex,
    counts: [usize; 5],
}

impl Hierarchy {
    /// Builds the tree, the H3 cover of every grid at `resolution` and the locate index on it.
    ///
    /// Units may come in any order; ids follow code order, so equal inputs give equal ids.
    /// Checks, reported for the first offending unit in code order: unique codes, known
    /// parents, level = parent's level + 1, only cities and counties without a parent, grid
    /// polygons non-empty with closed rings of at least three vertices inside WGS84 bounds.
    /// Polygons of units above the grid level are not kept.
    ///
    /// `resolution` is that of the cover, which [`Self::locate`] looks points up in
    /// ([`crate::DEFAULT_RESOLUTION`] is the recommended one). Building is CPU-bound and runs
    /// the covers on two threads: 1.5–2 s for 12,000 grids at resolution 10, 5–6 s at 11 (see
    /// `BENCHMARKS.md`), so call it from `spawn_blocking` or a thread, not on an async runtime.
    ///
    /// # Errors
    ///
    /// [`HierarchyError`] naming the unit and what is wrong with it.
    #[allow(
        clippy::too_many_lines,
        reason = "one pass over the levels in order; the steps share the sorted units and ids"
    )]
    #[allow(
        clippy::similar_names,
        reason = "village, township, county: the glossary's names of the levels"
    )]
    pub fn build(units: Vec<UnitInput>, resolution: Resolution) -> Result<Self, HierarchyError> {
        let mut units = units;
        units.sort_by(|a, b| a.code.cmp(&b.code));
        if let Some(w) = units.windows(2).find(|w| w[0].code == w[1].code) {
            return Err(HierarchyError::DuplicateCode(w[0].code.to_string()));
        }
        if u32::try_from(units.len()).is_err() {
            return Err(HierarchyError::TooLarge(format!("{} units", units.len())));
        }
        let id_of = |code: &UnitCode| {
            units
                .binary_search_by(|u| u.code.cmp(code))
                .ok()
                .and_then(|i| u32::try_from(i).ok())
                .map(UnitId)
        };

        // Parents and levels.
        let mut parents = Vec::with_capacity(units.len());
        for unit in &units {
            let parent = match &unit.parent {
                None if matches!(unit.level, Level::City | Level::County) => None,
                None => {
                    return Err(HierarchyError::MissingParent {
                        code: unit.code.to_string(),
                        level: unit.level,
                    });
                }
                Some(code) => {
                    let id = id_of(code).ok_or_else(|| HierarchyError::UnknownParent {
                        code: unit.code.to_string(),
                        parent: code.to_string(),
                    })?;
                    let parent_level = units[id.0 as usize].level;
                    if parent_level.child() != Some(unit.level) {
                        return Err(HierarchyError::LevelMismatch {
                            code: unit.code.to_string(),
                            level: unit.level,
                            parent: code.to_string(),
                            parent_level,
                        });
                    }
                    Some(id)
                }
            };
            parents.push(parent);
        }
        for unit in units.iter().filter(|u| u.level == Level::Grid) {
            check_polygon(unit)?;
        }

        // The locate index, from the grids in code order.
        let shapes = Shapes::new(
            units
                .iter()
                .filter(|u| u.level == Level::Grid)
                .map(|u| &u.polygon),
        )?;
        let index = LocateIndex::build(&shapes, resolution)?;

        // The tree; children are pushed in id order, hence code order.
        let mut counts = [0; 5];
        let mut grids = Vec::new();
        let mut built: Vec<Unit> = Vec::with_capacity(units.len());
        for ((i, unit), parent) in (0u32..).zip(units).zip(&parents) {
            counts[usize::from(unit.level.number())] += 1;
            if unit.level == Level::Grid {
                grids.push(UnitId(i));
            }
            built.push(Unit {
                code: unit.code,
                name: unit.name,
                level: unit.level,
                parent: *parent,
                children: Vec::new(),
            });
        }
        for (i, parent) in (0u32..).zip(&parents) {
            if let Some(p) = parent {
                built[p.0 as usize].children.push(UnitId(i));
            }
        }
        for unit in &mut built {
            unit.children.shrink_to_fit();
        }

        // Paths: levels are checked above, so each step up exists and has the right level.
        let up = |id: UnitId| parents[id.0 as usize];
        let mut grid_paths = Vec::with_capacity(grids.len());
        let mut uppers: Vec<Upper> = Vec::new();
        let mut upper_of: HashMap<UnitId, u32> = HashMap::new();
        for &grid in &grids {
            let missing = || HierarchyError::MissingParent {
                code: built[grid.0 as usize].code.to_string(),
                level: Level::Grid,
            };
            let village = up(grid).ok_or_else(missing)?;
            let township = up(village).ok_or_else(missing)?;
            let county = up(township).ok_or_else(missing)?;
            let upper = *upper_of.entry(village).or_insert_with(|| {
                uppers.push(Upper {
                    village,
                    township,
                    county,
                    city: up(county),
                });
                u32::try_from(uppers.len() - 1).unwrap_or(u32::MAX)
            });
            grid_paths.push(GridPath { grid, upper });
        }
        grid_paths.shrink_to_fit();
        uppers.shrink_to_fit();

        Ok(Self {
            units: built,
            resolution,
            grids,
            grid_paths,
            uppers,
            shapes,
            index,
            counts,
        })
    }

    /// The H3 resolution of the cover and of the locate index.
    #[must_use]
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The H3 cell of `p` at [`Self::resolution`], the one [`Self::locate_cell`] takes.
    ///
    /// ```
    /// # use gridwall_spatial::{Hierarchy, LatLng, Resolution};
    /// let h = Hierarchy::build(Vec::new(), Resolution::Ten).unwrap();
    /// let p = LatLng::new(32.0, 120.9).unwrap();
    /// assert_eq!(h.cell_of(p).resolution(), Resolution::Ten);
    /// assert_eq!(h.locate_cell(h.cell_of(p), p), h.locate(p));
    /// ```
    #[must_use]
    #[inline]
    pub fn cell_of(&self, p: LatLng) -> CellIndex {
        h3_latlng(p).to_cell(self.resolution)
    }

    /// Exact location: the grid whose polygon covers `p` (boundary included), with its path.
    ///
    /// Agrees with PostGIS `ST_Covers(grid.geom, p)` for every point, edges and vertices
    /// included (exact predicates; polygons taken as planar lng/lat degrees). Where several
    /// grids cover `p` (on a shared edge, or where imported grids overlap), the grid with the
    /// lowest code is returned. `None` outside every grid.
    ///
    /// Cost: one `h3o` `to_cell` at [`Self::resolution`] (≈0.5 µs, most of the cost) and one
    /// lookup of the cell: a cached directory of its ancestors, a cached slot that answers for
    /// a group of 7 sibling cells inside one grid, else at most one cache miss for the cell's
    /// own slot. A cell inside one grid answers at once; a cell near an edge reads its record
    /// (a second miss) and tests the point against the one or two edges of each candidate grid
    /// that come near the cell, whose coordinates the record holds; of two grids meeting along
    /// a line through the cell only the first is tested. About 0.65–0.8 µs in all at
    /// resolution 10, 1.25–1.5 M locates/s on one core (`BENCHMARKS.md`). Callers that need the
    /// cell anyway use [`Self::cell_of`] and [`Self::locate_cell`] to compute it once; callers
    /// with many points use [`Self::locate_batch`], where the cache misses overlap.
    #[must_use]
    #[inline]
    pub fn locate(&self, p: LatLng) -> Option<UnitPath> {
        let grid = self
            .index
            .locate(&self.shapes, self.cell_of(p), [p.lng(), p.lat()])?;
        self.path_of(grid)
    }

    /// [`Self::locate`] for a caller that already has `cell`, which must be `p`'s H3 cell at
    /// [`Self::resolution`] (as [`Self::cell_of`] gives it). Another cell of that resolution
    /// gives an unspecified (though memory-safe) answer: the cell decides which grids are tried,
    /// and an interior cell answers without looking at `p`. A cell of another resolution is
    /// ignored and `p` located from scratch.
    #[must_use]
    #[inline]
    pub fn locate_cell(&self, cell: CellIndex, p: LatLng) -> Option<UnitPath> {
        let cell = if cell.resolution() == self.resolution {
            cell
        } else {
            self.cell_of(p)
        };
        let grid = self.index.locate(&self.shapes, cell, [p.lng(), p.lat()])?;
        self.path_of(grid)
    }

    /// [`Self::locate`] of many points, each with its cell ([`Self::cell_of`]): the same
    /// answers as one call per point, in the same order, but faster per point, because the
    /// table reads of different points overlap instead of each waiting behind its own
    /// `to_cell` (`BENCHMARKS.md`). The cells are what [`crate::LiveIndex::upsert_batch`]
    /// takes, so an update pays for one `to_cell`.
    ///
    /// ```
    /// # use gridwall_spatial::{Hierarchy, LatLng, Resolution};
    /// let h = Hierarchy::build(Vec::new(), Resolution::Ten).unwrap();
    /// let points = [LatLng::new(32.0, 120.9).unwrap(), LatLng::new(31.9, 121.1).unwrap()];
    /// let located = h.locate_batch(&points);
    /// for (p, (cell, path)) in points.iter().zip(&located) {
    ///     assert_eq!((*cell, *path), (h.cell_of(*p), h.locate(*p)));
    /// }
    /// ```
    #[must_use]
    pub fn locate_batch(&self, points: &[LatLng]) -> Vec<(CellIndex, Option<UnitPath>)> {
        // Stages over chunks small enough that their scratch stays in L1.
        const CHUNK: usize = 256;
        let mut located = Vec::with_capacity(points.len());
        let mut cells = Vec::with_capacity(CHUNK.min(points.len()));
        let mut pts = Vec::with_capacity(CHUNK.min(points.len()));
        let mut grids = Vec::with_capacity(CHUNK.min(points.len()));
        for chunk in points.chunks(CHUNK) {
            cells.clear();
            cells.extend(chunk.iter().map(|&p| self.cell_of(p)));
            pts.clear();
            pts.extend(chunk.iter().map(|p| [p.lng(), p.lat()]));
            self.index
                .locate_batch(&self.shapes, &cells, &pts, &mut grids);
            located.extend(
                cells
                    .iter()
                    .zip(&grids)
                    .map(|(&cell, grid)| (cell, grid.and_then(|g| self.path_of(g)))),
            );
        }
        located
    }

    /// The unit behind an id.
    #[must_use]
    pub fn unit(&self, id: UnitId) -> &Unit {
        &self.units[id.0 as usize]
    }

    /// Looks a unit up by code.
    #[must_use]
    pub fn by_code(&self, code: &str) -> Option<UnitId> {
        let i = self
            .units
            .binary_search_by(|u| u.code.as_str().cmp(code))
            .ok()?;
        u32::try_from(i).ok().map(UnitId)
    }

    /// The path from a grid up to the root; `None` when `grid` is not a grid of this hierarchy.
    #[must_use]
    pub fn path(&self, grid: UnitId) -> Option<UnitPath> {
        let i = self.grids.binary_search(&grid).ok()?;
        self.path_of(u32::try_from(i).ok()?)
    }

    /// The path of the grid with ordinal `g`.
    #[inline]
    fn path_of(&self, g: u32) -> Option<UnitPath> {
        let GridPath { grid, upper } = *self.grid_paths.get(g as usize)?;
        let up = self.uppers.get(upper as usize)?;
        Some(UnitPath {
            grid,
            village: up.village,
            township: up.township,
            county: up.county,
            city: up.city,
        })
    }

    /// Number of units.
    #[must_use]
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// True when there are no units.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Number of units per level, indexed by [`Level::number`].
    #[must_use]
    pub fn counts_by_level(&self) -> [usize; 5] {
        self.counts
    }

    /// The uncompacted cover at [`Self::resolution`]: every cell that meets a grid, with the
    /// grid and whether the cell crosses that grid's boundary. A boundary cell appears once per
    /// candidate grid. Grids in code order, cells in index order within a grid.
    ///
    /// These are exactly the rows the locate index was built from and holds (it is lossless),
    /// so a `unit_cells` table filled from here agrees with [`Self::locate`] cell for cell.
    /// Collecting and sorting them costs ≈0.07 s and 16 bytes a row (1.1 M rows for 12,000
    /// grids at resolution 10) up front.
    /// "Meets" and "crosses" are judged on the cell's straight-line hexagon with a margin of
    /// about 1e-7° (1 cm), so a grid whose edge passes just outside a cell may list it as a
    /// boundary cell; a cell is never missed.
    pub fn grid_cover(&self) -> impl Iterator<Item = (CellIndex, UnitId, bool)> + '_ {
        self.index
            .rows()
            .into_iter()
            .filter_map(move |(cell, g, boundary)| {
                Some((cell, *self.grids.get(g as usize)?, boundary))
            })
    }

    /// The cover of one grid at [`Self::resolution`]: its cells in index order, `true` for
    /// boundary cells; empty when `grid` is not a grid. Equal to that grid's rows of
    /// [`Self::grid_cover`]: it recomputes them with the function the index was built with
    /// (CPU-bound, ≈0.2 ms for a 0.8 km² grid at resolution 10; keep it off an async runtime).
    #[must_use]
    pub fn cover_of(&self, grid: UnitId) -> Vec<(CellIndex, bool)> {
        self.grids.binary_search(&grid).map_or_else(
            |_| Vec::new(),
            |g| grid_cells(&self.shapes, g, self.resolution, None),
        )
    }

    /// Figures about the locate index (cells, interior and boundary cells, candidates, heap),
    /// for reports.
    #[must_use]
    pub fn index_stats(&self) -> IndexStats {
        self.index.stats()
    }

    /// Heap memory held by the hierarchy and its index, in bytes (approximate, for reports).
    #[must_use]
    pub fn heap_size_bytes(&self) -> usize {
        let units: usize = self
            .units
            .iter()
            .map(|u| {
                u.name.capacity()
                    + u.code.as_str().len()
                    + u.children.capacity() * size_of::<UnitId>()
            })
            .sum();
        self.units.capacity() * size_of::<Unit>()
            + units
            + self.grids.capacity() * size_of::<UnitId>()
            + self.grid_paths.capacity() * size_of::<GridPath>()
            + self.uppers.capacity() * size_of::<Upper>()
            + self.shapes.heap_size_bytes()
            + self.index.heap_size_bytes()
    }
}

/// Checks that a grid polygon can be covered: non-empty, closed rings of ≥ 3 vertices, finite
/// WGS84 coordinates.
fn check_polygon(unit: &UnitInput) -> Result<(), HierarchyError> {
    let invalid = |reason: String| HierarchyError::InvalidPolygon {
        code: unit.code.to_string(),
        reason,
    };
    if unit.polygon.0.is_empty() {
        return Err(invalid("empty".into()));
    }
    for polygon in &unit.polygon.0 {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            let distinct =
                ring.0.len() - usize::from(ring.0.len() > 1 && ring.0.first() == ring.0.last());
            if distinct < 3 {
                return Err(invalid(format!(
                    "a ring has {distinct} vertices, fewer than 3"
                )));
            }
            for c in &ring.0 {
                if !(c.x.is_finite()
                    && c.y.is_finite()
                    && (-180.0..=180.0).contains(&c.x)
                    && (-90.0..=90.0).contains(&c.y))
                {
                    return Err(invalid(format!(
                        "vertex ({}, {}) is not a WGS84 (lng, lat) position",
                        c.x, c.y
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use geo::{LineString, Polygon};

    use super::*;

    fn square(x0: f64, y0: f64) -> MultiPolygon<f64> {
        let d = 0.001;
        MultiPolygon::new(vec![Polygon::new(
            LineString::from(vec![(x0, y0), (x0 + d, y0), (x0 + d, y0 + d), (x0, y0 + d)]),
            vec![],
        )])
    }

    fn unit(code: &str, level: Level, parent: Option<&str>) -> UnitInput {
        UnitInput {
            code: UnitCode::new(code).unwrap(),
            name: String::new(),
            level,
            parent: parent.map(|p| UnitCode::new(p).unwrap()),
            polygon: if level == Level::Grid {
                square(120.9, 32.0)
            } else {
                MultiPolygon::new(vec![])
            },
        }
    }

    fn chain() -> Vec<UnitInput> {
        vec![
            unit("320612", Level::County, None),
            unit("320612001", Level::Township, Some("320612")),
            unit("320612001001", Level::Village, Some("320612001")),
            unit("320612001001001", Level::Grid, Some("320612001001")),
        ]
    }

    fn build(units: Vec<UnitInput>) -> Result<Hierarchy, HierarchyError> {
        Hierarchy::build(units, Resolution::Eleven)
    }

    #[test]
    fn a_valid_chain_builds() {
        let h = build(chain()).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h.counts_by_level(), [0, 1, 1, 1, 1]);
        let grid = h.by_code("320612001001001").unwrap();
        assert_eq!(h.unit(grid).parent, h.by_code("320612001001"));
        assert_eq!(
            h.unit(h.by_code("320612").unwrap()).children,
            vec![h.by_code("320612001").unwrap()]
        );
        assert!(h.locate(LatLng::new(32.0005, 120.9005).unwrap()).is_some());
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let mut units = chain();
        units.push(unit("320612001", Level::Township, Some("320612")));
        assert_eq!(
            build(units).unwrap_err(),
            HierarchyError::DuplicateCode("320612001".into())
        );
    }

    #[test]
    fn unknown_parents_are_refused() {
        let mut units = chain();
        units.push(unit("320612001002", Level::Village, Some("320612009")));
        assert!(
            matches!(build(units), Err(HierarchyError::UnknownParent { parent, .. }) if parent == "320612009")
        );
    }

    #[test]
    fn levels_must_step_by_one() {
        let mut units = chain();
        units.push(unit("320612001001002", Level::Grid, Some("320612001")));
        assert!(matches!(
            build(units),
            Err(HierarchyError::LevelMismatch {
                level: Level::Grid,
                parent_level: Level::Township,
                ..
            })
        ));
        let mut units = chain();
        units.push(unit("320600", Level::City, Some("320612")));
        assert!(matches!(
            build(units),
            Err(HierarchyError::LevelMismatch {
                level: Level::City,
                ..
            })
        ));
    }

    #[test]
    fn only_cities_and_counties_are_roots() {
        let mut units = chain();
        units.push(unit("320612002", Level::Township, None));
        assert!(matches!(
            build(units),
            Err(HierarchyError::MissingParent {
                level: Level::Township,
                ..
            })
        ));
        let mut units = chain();
        units.push(unit("320600", Level::City, None));
        assert!(
            build(units).is_ok(),
            "a second root of another level is fine"
        );
    }

    #[test]
    fn bad_grid_polygons_are_refused() {
        let with = |polygon: MultiPolygon<f64>| {
            let mut units = chain();
            units[3].polygon = polygon;
            build(units)
        };
        let invalid = |r: Result<Hierarchy, HierarchyError>| matches!(r, Err(HierarchyError::InvalidPolygon { code, .. }) if code == "320612001001001");
        assert!(invalid(with(MultiPolygon::new(vec![]))));
        assert!(invalid(with(square(f64::NAN, 32.0))));
        assert!(invalid(with(square(180.0, 32.0))));
        assert!(invalid(with(square(120.0, 90.0))));
        let line = Polygon::new(LineString::from(vec![(120.0, 32.0), (120.1, 32.0)]), vec![]);
        assert!(invalid(with(MultiPolygon::new(vec![line]))));
        // Polygons above the grid level are not checked (nor kept).
        let mut units = chain();
        units[0].polygon = square(f64::NAN, 0.0);
        assert!(build(units).is_ok());
    }
}
