//! `GET /api/units` and `GET /api/units/{code}`: the hierarchy as GeoJSON, built by PostGIS.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, Path, Query};
use super::params;
use crate::auth::Principal;
use crate::db;
use crate::db::units::UnitHit;
use crate::state::AppState;

/// Metres per degree of latitude, to turn a simplification tolerance into degrees.
const M_PER_DEG: f64 = 111_320.0;

/// Filters of the unit list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `city`, `county`, `township`, `village`, `grid` or 0–4.
    level: Option<String>,
    /// Only the children of this unit (its code).
    parent: Option<String>,
    /// Simplification tolerance in metres (0–10000), topology preserved; none by default.
    simplify: Option<String>,
}

fn geojson(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response()
}

/// The units of the caller's territory matching the filters, as a GeoJSON FeatureCollection
/// (RFC 7946, lng/lat); with `simplify` it is also the export of the territory's outlines.
/// Properties: `code`, `name`, `level` (0–4), `parent`, `area_km2`, `label` ([lng, lat]).
#[utoipa::path(get, path = "/api/units", tag = "hierarchy", params(ListParams),
    responses(
        (status = 200, description = "GeoJSON FeatureCollection", content_type = "application/geo+json"),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    let level = params::optional_level("level", p.level.as_deref())?;
    let parent = p
        .parent
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| params::code("parent", s))
        .transpose()?;
    let simplify_m =
        params::optional_f64_in("simplify", p.simplify.as_deref(), 0.0, 10_000.0)?.unwrap_or(0.0);
    let body = db::units::feature_collection(
        &state.pool,
        me.territory(),
        level.map(|l| i16::from(l.number())),
        parent.as_ref().map(gridwall_spatial::UnitCode::as_str),
        simplify_m / M_PER_DEG,
    )
    .await?;
    Ok(geojson(body))
}

/// One unit as a GeoJSON Feature; its properties add `path` (from the root down to the unit),
/// `child_count` and `h3_resolution`.
#[utoipa::path(get, path = "/api/units/{code}", tag = "hierarchy",
    params(("code" = String, Path, description = "Unit code (6, 9, 12 or 15 digits)")),
    responses(
        (status = 200, description = "GeoJSON Feature", content_type = "application/geo+json"),
        (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    me: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let code = params::code("code", &code)?;
    // Outside the caller's territory answers like a unit that does not exist.
    let body = db::units::feature(&state.pool, me.territory(), code.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("unit_not_found", format!("no unit has code {code}")))?;
    Ok(geojson(body))
}

/// Search terms.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Part of a name, or the start of a code (1–50 characters).
    q: Option<String>,
    /// At most this many hits (1–100, default 20).
    limit: Option<String>,
}

/// Search hits.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    /// Best first.
    pub units: Vec<UnitHit>,
}

/// Finds units of the caller's territory by name or code (for the map's search box).
#[utoipa::path(get, path = "/api/units/search", tag = "hierarchy", params(SearchParams),
    responses((status = 200, body = SearchResult),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<SearchParams>,
) -> ApiResult<axum::Json<SearchResult>> {
    let q = p.q.as_deref().map(str::trim).unwrap_or_default();
    let n = q.chars().count();
    if !(1..=50).contains(&n) {
        return Err(ApiError::invalid_param(
            "q",
            q,
            "q must have 1 to 50 characters",
        ));
    }
    let limit = params::optional_i64_in("limit", p.limit.as_deref(), 1, 100)?.unwrap_or(20);
    let units = db::units::search(&state.pool, me.territory(), q, limit).await?;
    Ok(axum::Json(SearchResult { units }))
}
