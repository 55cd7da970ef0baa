//! Ingest of positions: one pipeline that every input format feeds (traccar's shape: many
//! decoders, one processing chain). A position goes
//!
//! 1. through a decoder: `json.rs` reads a `POST /api/positions` batch item by item,
//!    `osmand.rs` one report of the Traccar Client app (query, form or JSON); the checks of
//!    one report (ranges, time, GCJ-02 → WGS84 when declared) are `crate::position`'s;
//! 2. through `accept.rs`: the resource (from the live directory, once per batch), whether the
//!    sender may report for it (a device: its own; a session: inside its territory), disabled
//!    or not, the report in the request's datum or else the resource's (GCJ-02 converted),
//!    not older than the history kept;
//! 3. into `live` in one call for the batch (locate, the live index, the bus, the track
//!    buffer), then the wait for the track writer's commit: the acknowledgement promises it.
//!
//! Credentials (device tokens, OsmAnd identifiers and their limiter) are `auth`'s; the HTTP
//! routes (`http/positions.rs`) only read the request, call these, and shape the answer.

mod accept;
mod error;
mod json;
pub mod osmand;

pub use accept::{Item, Outcome, Sender, accept};
pub use error::{Error, Result};
pub use json::{JsonItem, MAX_BATCH, read as read_json};

pub use crate::position::{Crs, Rejection, Report};

use crate::live::LiveContext;
use crate::metrics::Metrics;

/// What ingest reads from the running server besides the live picture.
pub trait IngestContext: LiveContext {
    /// The counters of accepted and rejected positions.
    fn metrics(&self) -> &Metrics;
}
