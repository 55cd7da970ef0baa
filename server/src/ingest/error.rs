//! Why a request's positions were not taken; the HTTP layer maps each to its status code.
//!
//! Per-item refusals are not errors: they are [`Rejection`]s in the outcome of each item. An
//! error here refuses the whole request (it cannot be read, or the track could not take it).

use crate::position::Rejection;

use super::json::MAX_BATCH;

/// A refused or failed ingest request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// JSON, but not a batch of positions.
    #[error("expected {{\"positions\": [...]}} or an array of positions")]
    InvalidBody,
    /// More than [`MAX_BATCH`] positions in one request (the count sent).
    #[error("at most {MAX_BATCH} positions per request, got {0}")]
    BatchTooLarge(usize),
    /// The request's datum is neither WGS84 nor GCJ-02 (the value sent).
    #[error("crs must be wgs84 or gcj02, got {0:?}")]
    InvalidCrs(String),
    /// An OsmAnd request without a device identifier: nobody to attribute it to.
    #[error("the device identifier (id / device_id) is required")]
    MissingDeviceId,
    /// The one report of an OsmAnd request is refused.
    #[error("{}", .0.message)]
    Rejected(Rejection),
    /// The one report of an OsmAnd request is older than the history kept.
    #[error("the fix is older than the history kept")]
    FixTooOld,
    /// An OsmAnd device whose resource is no longer there.
    #[error("the device's resource is gone")]
    ResourceGone,
    /// The track buffer cannot take the points: nothing was taken.
    #[error(
        "the server is catching up with the database ({queued} points waiting); nothing was \
         taken, re-send shortly"
    )]
    TrackBufferFull {
        /// Points waiting for the database.
        queued: usize,
    },
    /// The points are live and buffered, but the database did not confirm them in time.
    #[error(
        "the points are on the live map and buffered, but the database has not confirmed them \
         yet; re-send them (duplicates are ignored)"
    )]
    NotDurableYet,
    /// The database refused the batch of track points that held these points.
    #[error("the database refused a batch of track points")]
    TrackRefused,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Result of ingest.
pub type Result<T, E = Error> = std::result::Result<T, E>;
