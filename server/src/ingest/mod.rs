//! Ingest of positions: every input format turned into checked [`Report`]s (ranges, time,
//! GCJ-02 → WGS84) before the resource, scope, live index and track are involved.

pub mod osmand;

pub use crate::position::{Crs, Rejection, Report};
