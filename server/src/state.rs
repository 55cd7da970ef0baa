//! Shared state of the running server, and the in-memory hierarchy that is swapped atomically.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use gridwall_spatial::Hierarchy;
use sqlx::PgPool;

use crate::alerts::Alerts;
use crate::auth::AuthState;
use crate::cases::Cases;
use crate::coverage::CoverageCache;
use crate::http::tiles::TileCache;
use crate::live::Live;
use crate::metrics::Metrics;

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

/// One imported hierarchy version, built for fast lookups.
#[derive(Debug)]
pub struct LoadedHierarchy {
    /// The `hierarchy_versions.version` it was loaded from.
    pub version: i64,
    /// Units and their H3 index.
    pub hierarchy: Hierarchy,
    /// The database id of each unit, indexed by `UnitId`.
    pub db_ids: Vec<i64>,
    /// When this process loaded it.
    pub loaded_at: Instant,
}

/// Holds the current hierarchy; readers never wait, a new import is swapped in whole.
#[derive(Debug, Default)]
pub struct HierarchyHandle {
    current: ArcSwapOption<LoadedHierarchy>,
    /// Held while this process imports, so its own watcher waits for the hierarchy the import
    /// built instead of loading the same version again from PostGIS.
    importing: tokio::sync::Mutex<()>,
}

impl HierarchyHandle {
    /// The current hierarchy, `None` before the first import.
    #[must_use]
    pub fn get(&self) -> Option<Arc<LoadedHierarchy>> {
        self.current.load_full()
    }

    /// The version currently served, if any.
    #[must_use]
    pub fn version(&self) -> Option<i64> {
        self.current.load().as_ref().map(|h| h.version)
    }

    /// Taken by an import in this process until it has installed its hierarchy; the watcher
    /// takes it before deciding to reload.
    pub async fn import_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.importing.lock().await
    }

    /// Replaces the current hierarchy; requests in flight keep the one they started with.
    pub fn store(&self, loaded: LoadedHierarchy) {
        self.current.store(Some(Arc::new(loaded)));
    }
}
