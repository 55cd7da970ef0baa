//! Keeps the in-memory hierarchy in step with PostGIS: loaded at start-up, reloaded when an
//! import anywhere (this process, the CLI, another instance) announces a new version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use gridwall_spatial::{Hierarchy, Level, Resolution};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::db;
use crate::metrics::{LevelLabels, Metrics};

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

/// Nothing to answer from: no hierarchy has been imported yet.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no hierarchy has been imported yet (gridwall import FILE)")]
pub struct NotLoaded;

impl HierarchyHandle {
    /// The current hierarchy.
    ///
    /// # Errors
    ///
    /// [`NotLoaded`] before the first import.
    pub fn require(&self) -> Result<Arc<LoadedHierarchy>, NotLoaded> {
        self.get().ok_or(NotLoaded)
    }
}

/// The H3 resolution of grid covers when none is given (see BENCHMARKS.md for why).
#[must_use]
pub fn default_resolution() -> Resolution {
    gridwall_spatial::DEFAULT_RESOLUTION
}

/// A cover resolution we support: fine enough for ~1 km² grids, coarse enough for memory.
#[must_use]
pub fn parse_resolution(r: u32) -> Option<Resolution> {
    if (7..=13).contains(&r) {
        u8::try_from(r)
            .ok()
            .and_then(|r| Resolution::try_from(r).ok())
    } else {
        None
    }
}

/// The channel an import notifies with the new version number.
pub const CHANNEL: &str = "gridwall_hierarchy";

/// Loads the newest version from PostGIS; `None` when nothing was imported yet.
pub async fn load(pool: &PgPool) -> anyhow::Result<Option<LoadedHierarchy>> {
    let Some(version) = db::units::current_version(pool).await? else {
        return Ok(None);
    };
    let resolution = Resolution::try_from(u8::try_from(version.resolution)?)?;
    let started = Instant::now();
    let (db_ids, units) = db::units::load_units(pool).await?;
    let hierarchy =
        tokio::task::spawn_blocking(move || Hierarchy::build(units, resolution)).await??;
    tracing::info!(
        version = version.version,
        units = hierarchy.len(),
        resolution = u8::from(resolution),
        heap_mib = hierarchy.heap_size_bytes() / (1 << 20),
        elapsed_ms = started.elapsed().as_millis(),
        "hierarchy loaded"
    );
    Ok(Some(LoadedHierarchy {
        version: version.version,
        hierarchy,
        db_ids,
        loaded_at: Instant::now(),
    }))
}

/// Swaps `loaded` in unless a newer version is already served, and updates the metrics.
pub fn install(handle: &HierarchyHandle, metrics: &Metrics, loaded: LoadedHierarchy) {
    if handle.version().is_some_and(|v| v >= loaded.version) {
        return;
    }
    let counts = loaded.hierarchy.counts_by_level();
    for level in Level::ALL {
        metrics
            .hierarchy_units
            .get_or_create(&LevelLabels {
                level: level.as_str(),
            })
            .set(i64::try_from(counts[usize::from(level.number())]).unwrap_or(i64::MAX));
    }
    metrics.hierarchy_version.set(loaded.version);
    metrics
        .hierarchy_bytes
        .set(i64::try_from(loaded.hierarchy.heap_size_bytes()).unwrap_or(i64::MAX));
    handle.store(loaded);
}

/// Listens for new versions and reloads; also polls once a minute in case a notification was
/// missed while the connection was down. Runs until the process ends.
pub async fn watch(pool: PgPool, handle: Arc<HierarchyHandle>, metrics: Arc<Metrics>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for hierarchy changes");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for hierarchy changes");
                None
            }
        };
        // Catch up on anything imported while we were not listening.
        reload_if_newer(&pool, &handle, &metrics).await;
        loop {
            let Some(l) = listener.as_mut() else {
                tokio::time::sleep(Duration::from_secs(10)).await;
                break;
            };
            let woke = tokio::time::timeout(Duration::from_secs(60), l.recv()).await;
            match woke {
                Ok(Ok(_)) | Err(_) => reload_if_newer(&pool, &handle, &metrics).await,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "hierarchy listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn reload_if_newer(pool: &PgPool, handle: &HierarchyHandle, metrics: &Metrics) {
    // An import in this process notifies before it installs what it built: wait for it.
    let _guard = handle.import_guard().await;
    let current = match db::units::current_version(pool).await {
        Ok(v) => v.map(|v| v.version),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the hierarchy version");
            return;
        }
    };
    if current.is_none() || current <= handle.version() {
        return;
    }
    match load(pool).await {
        Ok(Some(loaded)) => install(handle, metrics, loaded),
        Ok(None) => {}
        Err(e) => tracing::error!(error = ?e, "reloading the hierarchy failed"),
    }
}
