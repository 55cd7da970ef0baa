//! Keeps the in-memory hierarchy in step with PostGIS: loaded at start-up, reloaded when an
//! import anywhere (this process, the CLI, another instance) announces a new version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwall_spatial::{Hierarchy, Level, Resolution};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::db;
use crate::metrics::{LevelLabels, Metrics};
use crate::state::{HierarchyHandle, LoadedHierarchy};

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
            let woke = match listener.as_mut() {
                Some(l) => tokio::time::timeout(Duration::from_secs(60), l.recv()).await,
                None => {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    break;
                }
            };
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
