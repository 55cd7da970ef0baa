//! Gridwall server: axum HTTP, PostGIS storage, the hierarchy import and the CLI.
//!
//! Code map, bottom layer first; a module uses only those above it in this list (checked by
//! `scripts/check-layers.py`, see ARCHITECTURE.md):
//! - `metrics`, `position`, `tiles`, `geojson`, `repeats`, `text`: Prometheus metrics; one
//!   checked position report (ranges, time, GCJ-02); vector tiles rendered by PostGIS and
//!   cached; strict GeoJSON; log lines that repeat, summarised; the rule for text from outside
//!   (no NUL).
//! - `db/`: the pool, migrations and the queries, one module per table group.
//! - `hierarchy`: the hierarchy in memory ([`LoadedHierarchy`]), swapped whole on import.
//! - `context`: what subsystems read from the running server ([`context::Core`]).
//! - `auth/`: accounts, sessions, device tokens, roles and territorial scope.
//! - `import/`: GeoJSON parsing and validation of a hierarchy, then the write in one transaction.
//! - `ingest/`: the position formats (JSON batch, OsmAnd) decoded into checked reports.
//! - `audit`: the append-only audit log.
//! - `live/`: the live index, the resource directory, the track writer, the bus.
//! - `coverage/`: patrol coverage (the per-hour, per-cell roll-up of tracks), density, KPIs.
//! - `cases/`: cases from report to follow-up: the lifecycle, the board of open cases,
//!   dispatch candidates from the live index, the overdue and auto-dispatch sweep.
//! - `alerts/`: early warning: rules over the live stream and the cases, alerts and their life.
//! - `stream`: what each websocket client sees of the live picture, cases and alerts.
//! - `state`: [`AppState`], one handle on every subsystem; it implements each subsystem's
//!   context trait.
//! - `http/`: the router ([`http::app`]), one module per resource, the extractors, the typed
//!   [`http::ApiError`] that every domain error maps to (`http/error.rs`).
//! - `cli`: the `gridwall` command line (serve, import, migrate, users), config from flags and
//!   env.
//!
//! The demo simulator and the load generator (`gridwall simulate`, `gridwall loadgen`) are
//! clients of the public API in their own crate, `gridwall-sim` (`sim/`); `cli` only wraps them.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod cli;
pub mod context;
pub mod coverage;
pub mod db;
pub mod geojson;
pub mod hierarchy;
pub mod http;
pub mod import;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod position;
pub mod repeats;
pub mod state;
pub mod stream;
pub mod territory;
pub mod text;
pub mod tiles;
pub mod unit_ref;

pub use state::{AppState, HierarchyHandle, LoadedHierarchy};
