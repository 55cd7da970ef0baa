//! Dispatch candidates: the nearest available grid workers for a case, from the live index
//! (no database scan). The grid's own workers come first, then everyone else, each group by
//! distance (ties by id).
//!
//! Available means: a worker (not a vehicle), enabled, on duty, not offline, busy or in SOS,
//! reported within the freshness window, below the open-case limit, and — when the case's
//! category needs a skill — having it. The walking time is the great-circle distance times a
//! detour factor for streets, at a walking pace.

use std::sync::Arc;

use gridwall_spatial::{Entry, LatLng, LiveIndex, LiveQueryError, ResourceId, ResourceKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::live::ResourceInfo;

/// Walking pace for the estimate, metres per second (≈4.3 km/h with a stop or two).
pub const WALK_SPEED_MPS: f64 = 1.2;
/// Streets are longer than the straight line: a usual urban detour factor.
pub const DETOUR_FACTOR: f64 = 1.3;

/// What a candidate search asks.
#[derive(Debug, Clone)]
pub struct CandidateQuery<'a> {
    /// The case's position.
    pub centre: LatLng,
    /// `units.id` of the case's grid: its home workers come first.
    pub grid_id: i64,
    /// At most this many.
    pub k: usize,
    /// Only workers within this distance, metres.
    pub radius_m: f64,
    /// The skill the category needs, if any.
    pub skill: Option<&'a str>,
    /// Reports older than this (ms since the epoch) do not count as live.
    pub live_since_ms: i64,
    /// Workers with this many open cases or more are not offered.
    pub max_open_cases: u32,
    /// Workers not to offer (those who had the case before, in auto-dispatch).
    pub exclude: &'a [i64],
}

/// A worker offered for a case.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    /// `resources.id`.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Home grid code.
    pub home_grid: String,
    /// The case lies in the worker's own grid.
    pub own_grid: bool,
    /// Straight-line distance, metres.
    pub distance_m: f64,
    /// Estimated walking time, seconds.
    pub walk_s: u32,
    /// Where the worker is, `[lng, lat]`.
    pub position: [f64; 2],
    /// When that position was reported, ms since the epoch.
    pub at_ms: i64,
    /// Open cases the worker holds now.
    pub open_cases: u32,
}

/// Seconds to walk `distance_m` at [`WALK_SPEED_MPS`] with the [`DETOUR_FACTOR`].
#[must_use]
pub fn walk_seconds(distance_m: f64) -> u32 {
    let s = (distance_m * DETOUR_FACTOR / WALK_SPEED_MPS).ceil();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to the u32 range first"
    )]
    let s = s.clamp(0.0, f64::from(u32::MAX)) as u32;
    s
}

/// Whether a live entry and its directory data make an available worker for `q`.
#[must_use]
pub fn available(
    entry: &Entry,
    info: Option<&ResourceInfo>,
    q: &CandidateQuery<'_>,
    load: u32,
) -> bool {
    let r = &entry.report;
    r.kind == ResourceKind::Worker
        && r.status.is_available()
        && !q.exclude.contains(&entry.id.0)
        && r.at_ms >= q.live_since_ms
        && load < q.max_open_cases
        && info.is_some_and(|i| {
            !i.disabled
                && i.on_duty
                && q.skill
                    .is_none_or(|skill| i.skills.iter().any(|s| &**s == skill))
        })
}

/// The candidates for `q`: `own` (the grid's home workers, from the directory) first, then
/// the nearest others from `index`.
///
/// # Errors
///
/// [`LiveQueryError`] when the radius is negative or not a number.
pub fn candidates(
    index: &LiveIndex,
    own: &[Arc<ResourceInfo>],
    info: &dyn Fn(i64) -> Option<Arc<ResourceInfo>>,
    load: &dyn Fn(i64) -> u32,
    q: &CandidateQuery<'_>,
) -> Result<Vec<Candidate>, LiveQueryError> {
    let make = |entry: &Entry, info: &ResourceInfo, distance_m: f64, own_grid: bool| Candidate {
        id: entry.id.0,
        name: info.name.to_string(),
        home_grid: info.unit_code.to_string(),
        own_grid,
        distance_m,
        walk_s: walk_seconds(distance_m),
        position: [entry.report.position.lng(), entry.report.position.lat()],
        at_ms: entry.report.at_ms,
        open_cases: load(entry.id.0),
    };
    let mut first: Vec<Candidate> = own
        .iter()
        .filter_map(|i| {
            let entry = index.get(ResourceId(i.id))?;
            let d = gridwall_spatial::haversine_m(q.centre, entry.report.position);
            (d <= q.radius_m && available(entry, Some(i), q, load(i.id)))
                .then(|| make(entry, i, d, true))
        })
        .collect();
    first.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then(a.id.cmp(&b.id)));
    first.truncate(q.k);
    let rest_k = q.k - first.len();
    if rest_k > 0 {
        let found = index.nearest(q.centre, rest_k, q.radius_m, |e| {
            let i = info(e.id.0);
            i.as_ref().is_some_and(|i| i.unit_id != q.grid_id)
                && available(e, i.as_deref(), q, load(e.id.0))
        })?;
        for n in found {
            if let Some(i) = info(n.entry.id.0) {
                first.push(make(n.entry, &i, n.distance_m, false));
            }
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walking_estimate() {
        assert_eq!(walk_seconds(0.0), 0);
        // 1.2 km in a straight line: 1.56 km of streets at 1.2 m/s = 1,300 s.
        assert_eq!(walk_seconds(1200.0), 1300);
        assert_eq!(walk_seconds(f64::INFINITY), u32::MAX);
    }
}
