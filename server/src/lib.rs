//! Gridwall server: axum HTTP, PostGIS storage, the hierarchy import and the CLI.
//!
//! Code map:
//! - `auth/`: accounts, sessions, device tokens, roles and territorial scope; the extractors
//!   every protected route takes.
//! - `alerts/`: early warning: rules over the live stream and the cases, alerts and their life.
//! - `audit`: the append-only audit log.
//! - `coverage/`: patrol coverage (the per-hour, per-cell roll-up of tracks), density, KPIs.
//! - `cases/`: cases from report to follow-up: the lifecycle, the board of open cases,
//!   dispatch candidates from the live index, the overdue and auto-dispatch sweep.
//! - `cli`: the `gridwall` command line (serve, import, migrate), config from flags and env.
//! - `state`: [`AppState`], shared by every handler; the hot-swappable in-memory hierarchy.
//! - `db/`: the pool, migrations and the queries, one module per table group.
//! - `ingest/`: position reports in every accepted format (JSON batch, OsmAnd), checked.
//! - `import/`: GeoJSON parsing and validation of a hierarchy, then the write in one transaction.
//! - `http/`: the router ([`http::app`]), one module per resource, the typed [`http::ApiError`].
//! - `metrics`: Prometheus counters and histograms, kept in the state (no globals).
//!
//! The demo simulator and the load generator (`gridwall simulate`, `gridwall loadgen`) are
//! clients of the public API in their own crate, `gridwall-sim` (`sim/`); `cli` only wraps them.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod cli;
pub mod coverage;
pub mod db;
pub mod geojson;
pub mod hierarchy;
pub mod http;
pub mod import;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod state;

pub use state::{AppState, HierarchyHandle, LoadedHierarchy};
