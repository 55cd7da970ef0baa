//! Importing a hierarchy: parse and check the file, validate the geometry in PostGIS, build the
//! H3 cover, and replace the stored hierarchy in one transaction — or change nothing at all.
//!
//! Units are matched by code, so database ids of units that stay are stable across imports.

mod parse;
mod postgis;

use std::time::Instant;

use gridwall_spatial::{Hierarchy, Resolution, UnitInput};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

pub use parse::{FeatureInput, MAX_FILE_BYTES, ParseError, features, read_json};

use crate::hierarchy::LoadedHierarchy;

/// One row of `unit_cells`: a cell, the grid it meets, and whether it crosses the grid's edge.
type CoverRow = (gridwall_spatial::CellIndex, gridwall_spatial::UnitId, bool);

/// One reason a feature (or the file) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Index of the feature in the file's `features` array.
    pub index: Option<usize>,
    /// Its code, when it has one.
    pub code: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl Problem {
    fn of(f: &FeatureInput, reason: String) -> Self {
        Self {
            index: Some(f.index),
            code: Some(f.code.to_string()),
            reason,
        }
    }
}

/// Something worth knowing that does not stop the import: an area of a parent that none of
/// its children cover.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Warning {
    /// `gap`.
    pub kind: String,
    /// The parent with the gap.
    pub code: String,
    /// Area of this gap, m².
    pub area_m2: f64,
    /// A point inside the gap, [lng, lat].
    pub location: [f64; 2],
    /// For people.
    pub message: String,
}

/// What a successful import did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// The new hierarchy version.
    pub version: i64,
    /// Units per level: city, county, township, village, grid.
    pub counts: [usize; 5],
    /// H3 resolution of the grid cover.
    pub resolution: u8,
    /// Rows written to `unit_cells`.
    pub cover_cells: usize,
    /// Units removed because the file no longer has them.
    pub removed: u64,
    /// Gaps and other non-fatal findings.
    pub warnings: Vec<Warning>,
    /// Wall time of the import, ms.
    pub elapsed_ms: u128,
}

/// Why an import changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a readable FeatureCollection.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Features were refused; the stored hierarchy is untouched.
    #[error("the hierarchy was refused: {} problem(s), first: {}", .0.len(), first_reason(.0))]
    Invalid(Vec<Problem>),
    /// The database failed.
    #[error("database error during import: {0}")]
    Db(#[from] sqlx::Error),
    /// The task that builds the H3 cover panicked or was cancelled (a bug).
    #[error("cover task failed: {0}")]
    CoverTask(#[from] tokio::task::JoinError),
}

/// Result of an import step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn first_reason(problems: &[Problem]) -> String {
    problems.first().map_or_else(String::new, |p| {
        format!(
            "feature {} ({}): {}",
            p.index.map_or_else(|| "-".into(), |i| i.to_string()),
            p.code.as_deref().unwrap_or("no code"),
            p.reason
        )
    })
}

/// Imports a hierarchy file (GeoJSON, optionally gzip) and returns the report with the
/// hierarchy it built, ready to be swapped in.
pub async fn import(
    pool: &PgPool,
    bytes: &[u8],
    source: &str,
    resolution: Resolution,
) -> Result<(ImportReport, LoadedHierarchy)> {
    let started = Instant::now();
    let features = features(read_json(bytes)?)?.map_err(Error::Invalid)?;

    // Geometry rules first (PostGIS knows validity best), inside the transaction that will
    // also write, so the checks and the write see the same data.
    let mut tx = pool.begin().await?;
    postgis::lock_imports(&mut tx).await?;
    postgis::stage(&mut tx, &features).await?;
    let mut problems = postgis::geometry_problems(&mut tx).await?;
    problems.extend(postgis::removed_in_use(&mut tx).await?);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let warnings = postgis::gaps(&mut tx).await?;

    // The H3 cover is CPU work: keep it off the async workers.
    let inputs: Vec<UnitInput> = features
        .iter()
        .map(|f| UnitInput {
            code: f.code.clone(),
            name: f.name.clone(),
            level: f.level,
            parent: f.parent.clone(),
            polygon: f.polygon.clone(),
        })
        .collect();
    drop(features);
    // The H3 cover rows are computed here too, so the async write only streams them.
    let (hierarchy, cover) = tokio::task::spawn_blocking(move || {
        Hierarchy::build(inputs, resolution).map(|h| {
            let cover: Vec<CoverRow> = h.grid_cover().collect();
            (h, cover)
        })
    })
    .await?
    .map_err(|e| {
        Error::Invalid(vec![Problem {
            index: None,
            code: None,
            reason: e.to_string(),
        }])
    })?;

    let written = postgis::write(&mut tx, &hierarchy, &cover, source, &warnings).await?;
    drop(cover);
    tx.commit().await?;

    let report = ImportReport {
        version: written.version,
        counts: hierarchy.counts_by_level(),
        resolution: u8::from(resolution),
        cover_cells: written.cover_cells,
        removed: written.removed,
        warnings,
        elapsed_ms: started.elapsed().as_millis(),
    };
    let loaded = LoadedHierarchy {
        version: written.version,
        hierarchy,
        db_ids: written.db_ids,
        loaded_at: Instant::now(),
    };
    Ok((report, loaded))
}
