//! Shared state of the running server: one handle on every subsystem, cheap to clone.

use std::sync::Arc;

use sqlx::PgPool;

use crate::alerts::{AlertContext, Alerts};
use crate::auth::AuthState;
use crate::cases::{CaseContext, Cases};
use crate::context::Core;
use crate::coverage::{CoverageCache, CoverageContext};
use crate::ingest::IngestContext;
use crate::live::{Live, LiveContext};
use crate::metrics::Metrics;
use crate::tiles::TileCache;

/// Everything a handler may need; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The PostGIS pool (system of record).
    pub pool: PgPool,
    /// The hierarchy in memory (locate, paths).
    pub hierarchy: Arc<HierarchyHandle>,
    /// Rendered vector tiles, keyed by hierarchy version.
    pub tiles: TileCache,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Sessions, login throttling, revocations.
    pub auth: Arc<AuthState>,
    /// Live positions: the index, the resource directory, the track buffer, the bus.
    pub live: Arc<Live>,
    /// Cases: settings, the open cases, the category list.
    pub cases: Arc<Cases>,
    /// Early warning: the rules and the live alerts.
    pub alerts: Arc<Alerts>,
    /// Grid cells for coverage, cached.
    pub coverage: CoverageCache,
}

pub use crate::hierarchy::{HierarchyHandle, LoadedHierarchy};

impl Core for AppState {
    fn pool(&self) -> &PgPool {
        &self.pool
    }
    fn hierarchy(&self) -> &HierarchyHandle {
        &self.hierarchy
    }
}

impl LiveContext for AppState {
    fn live(&self) -> &Live {
        &self.live
    }
}

impl CaseContext for AppState {
    fn cases(&self) -> &Cases {
        &self.cases
    }
}

impl AlertContext for AppState {
    fn alerts(&self) -> &Alerts {
        &self.alerts
    }
}

impl CoverageContext for AppState {
    fn coverage(&self) -> &CoverageCache {
        &self.coverage
    }
}

impl IngestContext for AppState {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
