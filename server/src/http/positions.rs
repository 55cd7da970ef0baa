//! Position ingest and tracks: `POST /api/positions` (JSON batches from phones and
//! integrations), `/api/osmand` (the Traccar Client app, unmodified), `GET
//! /api/resources/{id}/track`, and clearing an SOS.
//!
//! What an answer means (also in the OpenAPI text): **2xx = the accepted points are committed
//! to PostGIS.** The live map moves as soon as a point is accepted; the answer waits for the
//! track writer's commit (group commit, see `live::tracks`). 503 with Retry-After means
//! either "the buffer is full, nothing was taken" (`track_buffer_full`) or "taken and shown
//! live but not yet confirmed durable" (`not_durable_yet`); in both cases re-send the same
//! points: an exact re-send is a no-op.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody, Path, Query};
use crate::audit::{self, Event};
use crate::auth::{self, Caller, ClientAddr, Permission, Principal};
use crate::db;
use crate::ingest::{self, Rejection, Sender, osmand};
use crate::state::AppState;

/// Largest ingest body (10,000 positions with every field fit in about 2 MiB).
pub const MAX_INGEST_BODY_BYTES: usize = 4 << 20;

/// Query of `POST /api/positions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PositionParams {
    /// Datum of the coordinates: `wgs84` (default: the resource's own setting) or `gcj02`.
    pub crs: Option<String>,
}

/// One item's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResult {
    /// `accepted` or `rejected`.
    pub status: &'static str,
    /// For accepted points: `moved` (the live marker moved), `stale` (older than the
    /// marker's point: track only) or `duplicate` (already known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<&'static str>,
    /// For rejected points: why (`invalid_lat`, `invalid_lng`, `not_finite`,
    /// `missing_field`, `invalid_time`, `future_time`, `too_old`, `invalid_value`,
    /// `unknown_resource`, `out_of_scope`, `resource_disabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// For people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to a batch: one result per item, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestAnswer {
    /// Points accepted (committed).
    pub accepted: usize,
    /// Points rejected.
    pub rejected: usize,
    /// Per item, in the order sent.
    pub results: Vec<ItemResult>,
}

fn rejected(r: Rejection) -> ItemResult {
    ItemResult {
        status: "rejected",
        live: None,
        code: Some(r.code),
        message: Some(r.message),
    }
}

/// Positions of workers and vehicles, up to 10,000 per request. A phone posts with its
/// device token (its own resource; `resource` may be left out); a dispatcher or admin
/// session may post for any resource in its territory. Each item is answered on its own: a
/// bad item never drops the good ones. 200 = every accepted point is committed (durable);
/// 422 when every item was rejected; 503 + Retry-After when the track buffer is full
/// (nothing taken) or the database did not confirm in time (re-send: duplicates are
/// ignored).
#[utoipa::path(post, path = "/api/positions", tag = "live", params(PositionParams),
    request_body(content = Value, description = "`{\"positions\": [{resource, lat, lng, at, \
        accuracy_m?, speed_mps?, heading_deg?, altitude_m?, battery?, sos?}], \"crs\"?}` or a \
        bare array; `at` in ISO-8601, Unix seconds or milliseconds"),
    responses((status = 200, body = IngestAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("device_token" = []), ("bearer" = []), ("session_cookie" = [])))]
pub async fn post_positions(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PositionParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let sender = match &caller {
        Caller::User { principal, .. } => {
            principal.may(Permission::ManageResources)?;
            Sender::User(principal)
        }
        Caller::Device(d) => Sender::Device {
            resource_id: d.resource_id,
        },
        Caller::System => {
            return Err(ApiError::Forbidden(
                "the server does not post positions".into(),
            ));
        }
    };
    if !headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON with Content-Type: application/json".into(),
        ));
    }
    let items = ingest::read_json(&body, params.crs.as_deref())?;
    let outcomes = ingest::accept(&state, sender, &items, Utc::now()).await?;
    let n_accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    let results: Vec<ItemResult> = outcomes
        .into_iter()
        .map(|r| match r {
            Ok(applied) => ItemResult {
                status: "accepted",
                live: Some(applied.as_str()),
                code: None,
                message: None,
            },
            Err(e) => rejected(e),
        })
        .collect();
    let answer = IngestAnswer {
        accepted: n_accepted,
        rejected: results.len() - n_accepted,
        results,
    };
    if n_accepted == 0 && answer.rejected > 0 {
        let first = answer.results.first().and_then(|r| r.message.clone());
        return Err(ApiError::Unprocessable {
            code: "all_rejected",
            message: format!(
                "no position was accepted{}",
                first.map(|m| format!(" (first: {m})")).unwrap_or_default()
            ),
            details: serde_json::to_value(&answer).unwrap_or(Value::Null),
        });
    }
    Ok(axum::Json(answer).into_response())
}

/// The OsmAnd protocol of the Traccar Client app: `GET` or `POST` with the query or a form
/// (`id`, `lat`, `lon`, `timestamp`, `speed` in knots, `bearing`, `altitude`, `accuracy`,
/// `batt`, `charge`, `alarm=sos`), or `POST` with the app's JSON body. The device identifier
/// issued with the device is the credential: unknown or revoked identifiers answer 401, and
/// an address that sends many unknown ones is refused for a minute (429). 200 = committed.
#[utoipa::path(post, path = "/api/osmand", tag = "live",
    request_body(content = String, description = "form fields as in the query, or the app's \
        JSON body", content_type = "application/x-www-form-urlencoded"),
    params(("id" = Option<String>, Query, description = "device identifier (query/form variant)")),
    responses((status = 200, description = "committed"), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn osmand_post(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    osmand(state, addr, Method::POST, query, &headers, &body).await
}

/// The same as `POST /api/osmand`, with everything in the query string.
#[utoipa::path(get, path = "/api/osmand", tag = "live",
    params(("id" = Option<String>, Query, description = "device identifier")),
    responses((status = 200, description = "committed"), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn osmand_get(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    osmand(state, addr, Method::GET, query, &HeaderMap::new(), &[]).await
}

async fn osmand(
    state: AppState,
    addr: ClientAddr,
    method: Method,
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<StatusCode> {
    state.auth.ident_limiter.admit(addr.0)?;
    let now = Utc::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fix = osmand::read(
        method == Method::POST,
        query.as_deref(),
        content_type,
        body,
        now,
    )?;
    let device =
        auth::authenticate_ident(&state.auth, &state.pool, &fix.device_ident, addr.0).await?;
    osmand::accept(&state, device.resource_id, &fix, now).await?;
    db::resources::note_device_used(&state.pool, device.device_id).await?;
    Ok(StatusCode::OK)
}

/// Ingest reads the live picture and counts into the metrics of the running server.
/// Query of the track.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TrackParams {
    /// Start (ISO-8601); default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (ISO-8601); default now.
    pub to: Option<DateTime<Utc>>,
}

/// Longest track window.
const MAX_TRACK_DAYS: i64 = 31;
/// Most points in one track answer; beyond, `truncated` is set (ask for a shorter window).
const MAX_TRACK_POINTS: i64 = 200_000;

/// A resource's track between two times as a GeoJSON Feature: a `LineString` (a `Point` for a
/// single fix, no geometry when there is none) with the time of every vertex in
/// `properties.times`, plus speeds and grid codes; scoped to the caller's territory.
#[utoipa::path(get, path = "/api/resources/{id}/track", tag = "live", params(
        ("id" = i64, Path, description = "resource id"), TrackParams),
    responses((status = 200, description = "GeoJSON Feature", content_type = "application/geo+json"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn track(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Query(q): Query<TrackParams>,
) -> ApiResult<Response> {
    me.may(Permission::Read)?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::hours(24));
    if from > to {
        return Err(ApiError::unprocessable(
            "invalid_window",
            "from",
            "from is after to",
        ));
    }
    if to - from > chrono::Duration::days(MAX_TRACK_DAYS) {
        return Err(ApiError::unprocessable(
            "window_too_long",
            "from",
            format!("a track covers at most {MAX_TRACK_DAYS} days"),
        ));
    }
    let resource = db::positions::resource_in_scope(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "resource_not_found",
                format!("no worker or vehicle {id} in your territory"),
            )
        })?;
    let rows = db::positions::track(
        &state.pool,
        me.territory(),
        id,
        from,
        to,
        MAX_TRACK_POINTS + 1,
    )
    .await?;
    let truncated = rows.len() > usize::try_from(MAX_TRACK_POINTS).unwrap_or(usize::MAX);
    let rows = &rows[..rows
        .len()
        .min(usize::try_from(MAX_TRACK_POINTS).unwrap_or(usize::MAX))];
    let coords: Vec<[f64; 2]> = rows.iter().map(|r| [r.lng, r.lat]).collect();
    let geometry = match coords.len() {
        0 => None,
        1 => Some(geojson::Geometry::new_point(coords[0])),
        _ => Some(geojson::Geometry::new_line_string(coords)),
    };
    let properties = geojson::JsonObject::from_iter([
        ("resource".to_owned(), json!(id)),
        ("kind".to_owned(), json!(resource.0)),
        ("name".to_owned(), json!(resource.1)),
        ("unit".to_owned(), json!(resource.2)),
        ("from".to_owned(), json!(from)),
        ("to".to_owned(), json!(to)),
        ("points".to_owned(), json!(rows.len())),
        ("truncated".to_owned(), json!(truncated)),
        (
            "times".to_owned(),
            json!(rows.iter().map(|r| r.at).collect::<Vec<_>>()),
        ),
        (
            "speeds_mps".to_owned(),
            json!(rows.iter().map(|r| r.speed_mps).collect::<Vec<_>>()),
        ),
        (
            "grids".to_owned(),
            json!(rows.iter().map(|r| r.grid.as_deref()).collect::<Vec<_>>()),
        ),
    ]);
    let feature = geojson::Feature {
        bbox: None,
        geometry,
        id: Some(geojson::feature::Id::Number(id.into())),
        properties: Some(properties),
        foreign_members: None,
    };
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        feature.to_string(),
    )
        .into_response())
}

/// Clears a resource's SOS once someone has handled it (admins and dispatchers, in their
/// territory; audited).
#[utoipa::path(delete, path = "/api/resources/{id}/sos", tag = "live",
    params(("id" = i64, Path, description = "resource id")),
    responses((status = 204, description = "cleared (or there was none)"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn clear_sos(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    me.may(Permission::ManageResources)?;
    let mut tx = state.pool.begin().await?;
    let row = db::positions::lock_sos(&mut tx, me.territory(), id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "resource_not_found",
                format!("no worker or vehicle {id} in your territory"),
            )
        })?;
    if let (unit, Some(raised)) = row {
        db::positions::clear_sos(&mut tx, id).await?;
        audit::record(
            &mut *tx,
            &me.actor(),
            Event::ok("resource.sos_clear", "resource", id)
                .unit(Some(&unit))
                .details(json!({ "raised_at": raised })),
        )
        .await?;
    }
    tx.commit().await?;
    state
        .live
        .refresh_resource(&state.pool, state.hierarchy.get().as_deref(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
