//! Pure spatial logic of Gridwall: no I/O, no async, no clock.
//!
//! Code map:
//! - [`types`](LatLng): validated positions, [`Level`]s and [`UnitCode`]s.
//! - `hierarchy.rs`: [`Hierarchy`], the 王 tree of units (county → township → village → grid)
//!   with parent/child links, built from [`UnitInput`]s.
//! - `tiles.rs`: the locate index, a raster of lng/lat tiles over the grids; a tile is empty,
//!   inside one grid, split 4×4, or a record: candidate grids with the polygon edges near the
//!   tile and a reference point of known status.
//! - `locate.rs`: exact point → grid location: tile lookup, then for records a crossing count
//!   from the reference point against the near edges (robust predicates).
//! - `cover.rs`: the H3 cover of one grid at the hierarchy's resolution (boundary cells by
//!   dense edge sampling, interior cells by a flood fill), for [`Hierarchy::grid_cover`].
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
mod tiles;
mod types;

pub use error::{HierarchyError, InvalidCode, InvalidLatLng, InvalidLevel};
pub use h3o::{CellIndex, Resolution};
pub use hierarchy::{Hierarchy, Unit, UnitId, UnitInput, UnitPath};
pub use tiles::IndexStats;
pub use types::{LatLng, Level, UnitCode};

/// The H3 resolution of the grid cover the server builds unless told otherwise.
///
/// Chosen from `benches/locate.rs` on a demo-sized hierarchy (≈12,000 grids of ≈0.8 km²);
/// the figures and the reasoning are in `BENCHMARKS.md`.
pub const DEFAULT_RESOLUTION: Resolution = Resolution::Eleven;
