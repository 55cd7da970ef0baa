//! Pure spatial logic of Gridwall: no I/O, no async, no clock.
//!
//! Code map:
//! - [`types`](LatLng): validated positions, [`Level`]s and [`UnitCode`]s.
//! - `hierarchy.rs`: [`Hierarchy`], the 王 tree of units (county → township → village → grid)
//!   with parent/child links, built from [`UnitInput`]s.
//! - `shapes.rs`: the grid polygons as rings in one vertex array, by grid ordinal.
//! - `cover.rs`: the H3 cover of one grid at the hierarchy's resolution (boundary cells by
//!   dense edge sampling, interior cells by a flood fill).
//! - `locate_index.rs`: the locate index, one hash map from every cell of every grid's cover
//!   to "interior of grid g" or a list of candidate grids; lossless, so it is also where
//!   [`Hierarchy::grid_cover`] comes from.
//! - `locate.rs`: exact point → grid location: one lookup of the point's cell, then for
//!   boundary cells exact point-in-polygon tests against the candidates.
//! - `scope.rs`: [`Scope`], the territory (属地) a user may see: everything or one unit's
//!   subtree.
//! - `geom.rs`: exact planar predicates (Shewchuk's `orient2d`) and point-in-polygon.
//!
//! Coordinates: [`LatLng`] has named fields; `geo` geometries are (x = lng, y = lat) in degrees,
//! planar, as PostGIS `geometry(…, 4326)` treats them.
#![forbid(unsafe_code)]

mod cover;
mod error;
mod geom;
mod hierarchy;
mod locate;
mod locate_index;
mod scope;
mod shapes;
mod types;

pub use error::{HierarchyError, InvalidCode, InvalidLatLng, InvalidLevel};
pub use h3o::{CellIndex, Resolution};
pub use hierarchy::{Hierarchy, Unit, UnitId, UnitInput, UnitPath};
pub use locate_index::IndexStats;
pub use scope::Scope;
pub use types::{LatLng, Level, UnitCode};

/// The H3 resolution of the grid cover and of the locate index unless told otherwise.
///
/// [`Hierarchy::locate`] costs one `to_cell` at this resolution, one hash lookup and, in cells
/// near an edge, a few exact edge tests: ≈1.5–1.75× a bare `to_cell` at 10 or 11 alike. The
/// resolution sizes the index: for ≈12,000 grids of ≈0.8 km², resolution 10 (cells of
/// ≈0.015 km², ≈76 m edges) gives ≈0.9 M cells, ≈1.1 M (cell, grid) cover rows (≈100 per
/// grid), 23–31 MB of heap and a 1.5–2 s build; 11 gives 6 M cells, ≈100 MB and 5–6 s for no
/// faster locate; at 9 more than half the cells are boundary cells, and on grids with many
/// vertices locate slows down (2× `to_cell`). Figures and the commands: `BENCHMARKS.md`.
pub const DEFAULT_RESOLUTION: Resolution = Resolution::Ten;
