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
//!   boundary cells exact point-in-polygon tests against the candidates; and the batched form
//!   ([`Hierarchy::locate_batch`]) that reads the table for many points in one pass.
//! - `scope.rs`: [`Scope`], the territory (属地) a user may see: everything or one unit's
//!   subtree.
//! - `geom.rs`: exact planar predicates (Shewchuk's `orient2d`) and point-in-polygon.
//! - `live.rs`: [`LiveIndex`], the latest [`Report`] of every tracked resource, bucketed by
//!   H3 cell at [`LIVE_BUCKET_RESOLUTION`]; O(1) [`LiveIndex::upsert`] (stale and duplicate
//!   reports answered as such, see [`Change`]), its batched form [`LiveIndex::upsert_batch`],
//!   and removal.
//! - `nearest.rs`: [`LiveIndex::nearest`], k nearest by expanding H3 rings with a proven
//!   stopping bound; the bound also sizes the disks of `area.rs`.
//! - `area.rs`: [`LiveIndex::in_bbox`] (viewports) and [`LiveIndex::within_radius`].
//! - `gcj02.rs`: GCJ-02 (the datum of Chinese phone map SDKs) ↔ WGS84.
//! - `distance.rs`: [`haversine_m`], the great-circle distance every live query uses.
//! - `coverage.rs`: patrol coverage: a grid's cells at any resolution ([`grid_cells`]), the
//!   cells a walk between two reports crosses ([`path_cells`]), area-weighted roll-up.
//! - `blocks.rs`: visited-cell bitmaps, 343 resolution-11 cells per resolution-8 block
//!   ([`BlockBits`], [`block_bit`], [`cell_at`], [`block_masks`]).
//!
//! Coordinates: [`LatLng`] has named fields; `geo` geometries are (x = lng, y = lat) in degrees,
//! planar, as PostGIS `geometry(…, 4326)` treats them.
#![forbid(unsafe_code)]

mod area;
mod blocks;
mod cell_hash;
mod cover;
mod coverage;
mod distance;
mod error;
mod gcj02;
mod geom;
mod hierarchy;
mod live;
mod locate;
mod locate_index;
mod nearest;
mod scope;
mod shapes;
mod types;

pub use blocks::{
    BLOCK_BITS, BLOCK_RESOLUTION, BlockBits, FINE_RESOLUTION, block_bit, block_masks, cell_at,
};
pub use coverage::{CellCount, area_weighted, grid_cells, path_cells};
pub use distance::{EARTH_RADIUS_M, haversine_m};
pub use error::{HierarchyError, LiveQueryError};
pub use gcj02::{gcj02_to_wgs84, outside_china, wgs84_to_gcj02};
pub use h3o::{CellIndex, Resolution};
pub use hierarchy::{Hierarchy, Unit, UnitId, UnitInput, UnitPath};
pub use live::{
    Change, Entry, LIVE_BUCKET_RESOLUTION, LiveIndex, Report, ResourceId, ResourceKind, Status,
};
pub use locate_index::IndexStats;
pub use nearest::Neighbour;
pub use scope::Scope;
pub use types::{InvalidCode, InvalidLatLng, InvalidLevel, LatLng, Level, UnitCode};

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
