//! `POST /api/admin/hierarchy`: import a hierarchy file over HTTP (same rules as the CLI),
//! for admins.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult, Query};
use super::params;
use crate::audit::{self, Event, Outcome};
use crate::auth::{Permission, Principal};
use crate::hierarchy;
use crate::import::{self, ImportReport};
use crate::state::AppState;

/// Largest hierarchy file accepted over HTTP, as sent and once decompressed.
pub const MAX_IMPORT_BYTES: usize = import::MAX_FILE_BYTES;

/// Import options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// H3 resolution of the grid cover (7–13); the server's default when absent.
    resolution: Option<String>,
}

/// Replaces the hierarchy with the posted GeoJSON FeatureCollection (optionally gzip), all or
/// nothing. The answer lists warnings (gaps); the new version is served as soon as it returns.
#[utoipa::path(post, path = "/api/admin/hierarchy", tag = "hierarchy", params(ImportParams),
    request_body(content = String, description = "GeoJSON FeatureCollection (or its gzip)",
                 content_type = "application/geo+json"),
    responses(
        (status = 200, body = ImportReport),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody),
        (status = 403, description = "not an admin", body = super::error::ErrorBody),
        (status = 422, description = "refused; `details.problems` lists every problem",
         body = super::error::ErrorBody)),
    security(("session" = [])))]
pub async fn import_hierarchy(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ImportParams>,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    me.may(Permission::ImportHierarchy)?;
    // Only this route takes a large body; every other keeps axum's 2 MB default.
    let body = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit_bytes: MAX_IMPORT_BYTES,
        })?;
    let resolution = match p.resolution.as_deref().filter(|s| !s.is_empty()) {
        None => hierarchy::default_resolution(),
        Some(raw) => {
            let r = params::u32_at_most("resolution", raw, 15)?;
            hierarchy::parse_resolution(r).ok_or_else(|| {
                ApiError::invalid_param("resolution", raw, "resolution must be between 7 and 13")
            })?
        }
    };
    let source = format!("http:{}", me.username);
    let guard = state.hierarchy.import_guard().await;
    let result = import::import(&state.pool, &body, &source, resolution).await;
    let event = match &result {
        Ok((report, _)) => {
            Event::ok("hierarchy.import", "hierarchy", report.version).details(serde_json::json!({
                "counts": report.counts,
                "removed": report.removed,
                "warnings": report.warnings.len(),
                "bytes": body.len(),
            }))
        }
        Err(e) => Event {
            action: "hierarchy.import",
            outcome: Outcome::Failed,
            unit_code: None,
            entity_type: Some("hierarchy"),
            entity_id: None,
            details: serde_json::json!({ "error": e.to_string().chars().take(500).collect::<String>() }),
        },
    };
    audit::record(&state.pool, &me.actor(), event).await?;
    let (report, loaded) = result?;
    hierarchy::install(&state.hierarchy, &state.metrics, loaded);
    drop(guard);
    tracing::info!(version = report.version, "hierarchy imported over HTTP");
    Ok(Json(report))
}
