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

use std::collections::HashMap;
use std::sync::Arc;

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
use crate::auth::{ClientAddr, Principal, Reporter, Role, hash_ident};
use crate::ingest::osmand::{self, OsmandError};
use crate::ingest::{Crs, Rejection, Report};
use crate::live::ResourceInfo;
use crate::live::tracks::NotDurable;
use crate::position::{Fields, check, number};
use crate::state::AppState;

/// Most positions in one request.
pub const MAX_BATCH: usize = 10_000;
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

fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        code,
        message: message.into(),
    }
}

/// The oldest point still worth storing: older ones would fall in a dropped partition.
fn oldest_kept(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(state.live.config.retention_days))
}

fn parse_crs(raw: Option<&str>) -> ApiResult<Option<Crs>> {
    raw.map(|c| {
        Crs::parse(c).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_crs",
                "crs",
                format!("crs must be wgs84 or gcj02, got {c:?}"),
            )
        })
    })
    .transpose()
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
    reporter: Reporter,
    Query(params): Query<PositionParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if let Reporter::User(me) = &reporter {
        me.require(&Role::MANAGERS)?;
    }
    if !headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON with Content-Type: application/json".into(),
        ));
    }
    let body = Body::read(&body)?;
    let (items, body_crs) = (&body.items, body.crs.as_deref());
    if items.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            "positions",
            format!(
                "at most {MAX_BATCH} positions per request, got {}",
                items.len()
            ),
        ));
    }
    let crs = match parse_crs(params.crs.as_deref())? {
        Some(c) => Some(c),
        None => parse_crs(body_crs)?,
    };
    let now = Utc::now();
    let oldest = oldest_kept(&state, now);
    let loaded = state.hierarchy.get();
    let scope = match &reporter {
        Reporter::User(me) => match loaded.as_deref() {
            Some(l) => me.scope(l),
            None => me
                .scope_id()
                .is_none()
                .then_some(gridwall_spatial::Scope::Everything),
        },
        Reporter::Device(_) => None,
    };
    // Which resources the batch names: looked up once each.
    let mut ids: Vec<i64> = Vec::new();
    let mut parsed: Vec<Result<(i64, &ItemIn<'_>), Rejection>> = Vec::with_capacity(items.len());
    for item in items {
        let r = match (&reporter, item.resource()) {
            (Reporter::Device(d), Ok(None)) => Ok((d.resource_id, item)),
            (_, Ok(Some(id))) => Ok((id, item)),
            (Reporter::User(_), Ok(None)) => Err(reject("missing_field", "resource is required")),
            (_, Err(e)) => Err(e),
        };
        if let Ok((id, _)) = &r {
            ids.push(*id);
        }
        parsed.push(r);
    }
    ids.sort_unstable();
    ids.dedup();
    let known = state.live.resources(&state.pool, &ids).await?;
    let mut accepted: Vec<(Arc<ResourceInfo>, Report)> = Vec::new();
    let mut results: Vec<Result<usize, Rejection>> = Vec::with_capacity(items.len());
    for r in parsed {
        let outcome = r.and_then(|(id, item)| {
            let info = known
                .get(&id)
                .ok_or_else(|| reject("unknown_resource", format!("no resource {id}")))?;
            match &reporter {
                Reporter::Device(d) if d.resource_id != id => {
                    return Err(reject(
                        "out_of_scope",
                        format!(
                            "this device token reports for resource {}, not {id}",
                            d.resource_id
                        ),
                    ));
                }
                Reporter::User(_) => {
                    let inside = match (scope, loaded.as_deref()) {
                        (Some(s), Some(l)) => l
                            .hierarchy
                            .by_code(&info.unit_code)
                            .is_some_and(|u| s.contains(&l.hierarchy, u)),
                        (Some(gridwall_spatial::Scope::Everything), None) => true,
                        _ => false,
                    };
                    if !inside {
                        // Indistinguishable from unknown: the territory's edge hides what
                        // lies beyond it.
                        return Err(reject(
                            "out_of_scope",
                            format!("resource {id} is not in your territory"),
                        ));
                    }
                }
                Reporter::Device(_) => {}
            }
            if info.disabled {
                return Err(reject(
                    "resource_disabled",
                    format!("resource {id} is disabled"),
                ));
            }
            let report = item.report(crs.unwrap_or(info.crs), now)?;
            if report.at < oldest {
                return Err(reject(
                    "too_old",
                    format!(
                        "at ({}) is older than the {} days of history kept",
                        report.at, state.live.config.retention_days
                    ),
                ));
            }
            accepted.push((Arc::clone(info), report));
            Ok(accepted.len() - 1)
        });
        results.push(outcome);
    }
    let applied = commit(&state, &accepted).await?;
    let n_accepted = accepted.len();
    let results: Vec<ItemResult> = results
        .into_iter()
        .map(|r| match r {
            Ok(i) => ItemResult {
                status: "accepted",
                live: Some(applied[i].as_str()),
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
    state
        .metrics
        .positions_accepted
        .inc_by(u64::try_from(n_accepted).unwrap_or(u64::MAX));
    state
        .metrics
        .positions_rejected
        .inc_by(u64::try_from(answer.rejected).unwrap_or(u64::MAX));
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

/// One item of a batch, as sent.
type Item = serde_json::Map<String, Value>;

/// A request body: its items still unparsed (each is read on its own, so that one bad item
/// is that item's rejection) and the batch's datum.
struct Body<'a> {
    items: Vec<ItemIn<'a>>,
    crs: Option<String>,
}

/// The wrapped form of a body, `{"positions": [...], "crs": "..."}`.
#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow)]
    positions: Option<Vec<&'a serde_json::value::RawValue>>,
    crs: Option<Value>,
}

impl<'a> Body<'a> {
    fn read(bytes: &'a [u8]) -> ApiResult<Self> {
        let invalid_body = || ApiError::BadRequest {
            code: "invalid_body",
            message: "expected {\"positions\": [...]} or an array of positions".into(),
            details: json!({}),
        };
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let (raw, crs) = match first {
            Some(b'[') => (
                serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(bytes)
                    .map_err(|e| ApiError::invalid_json(&e))?,
                None,
            ),
            Some(b'{') => {
                let w: Wrapped<'_> = serde_json::from_slice(bytes).map_err(|e| {
                    if e.is_data() {
                        invalid_body()
                    } else {
                        ApiError::invalid_json(&e)
                    }
                })?;
                (
                    w.positions.ok_or_else(invalid_body)?,
                    w.crs.as_ref().and_then(Value::as_str).map(str::to_owned),
                )
            }
            _ => {
                // Not an array or object: say whether it is JSON at all.
                serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                    .map_err(|e| ApiError::invalid_json(&e))?;
                return Err(invalid_body());
            }
        };
        let items = raw.into_iter().map(ItemIn::read).collect();
        Ok(Self { items, crs })
    }
}

/// One item: the usual shape read straight into its fields, any other object as a JSON tree
/// (whose reader names what is wrong), anything else refused as it is read.
enum ItemIn<'a> {
    Fast(Box<FastItem<'a>>),
    Object(Item),
    /// Not an object, or not readable as a JSON value (e.g. a number too large for a double).
    Refused(Rejection),
}

/// An item whose fields have their usual types: numbers as numbers, `at` a number or text.
#[derive(Deserialize)]
struct FastItem<'a> {
    resource: Option<i64>,
    lat: Option<f64>,
    lng: Option<f64>,
    #[serde(borrow)]
    at: Option<TimeIn<'a>>,
    accuracy_m: Option<f64>,
    speed_mps: Option<f64>,
    heading_deg: Option<f64>,
    altitude_m: Option<f64>,
    battery: Option<f64>,
    charging: Option<bool>,
    sos: Option<bool>,
    #[serde(borrow)]
    crs: Option<&'a str>,
}

/// `at` as sent: a number (Unix seconds or milliseconds) or text.
enum TimeIn<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for TimeIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TimeIn<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            #[allow(clippy::cast_precision_loss, reason = "times are far below 2^52")]
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v as f64))
            }
            #[allow(clippy::cast_precision_loss, reason = "times are far below 2^52")]
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TimeIn::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> ItemIn<'a> {
    fn read(raw: &'a serde_json::value::RawValue) -> Self {
        match serde_json::from_str::<FastItem<'a>>(raw.get()) {
            Ok(f) => Self::Fast(Box::new(f)),
            // Valid JSON (the body parsed), so this only fails on a strange item, whose
            // tree says what is wrong with it.
            Err(_) => match serde_json::from_str(raw.get()) {
                Ok(Value::Object(o)) => Self::Object(o),
                Ok(other) => Self::Refused(reject(
                    "invalid_value",
                    format!("each position must be an object, got {other}"),
                )),
                Err(e) => Self::Refused(reject(
                    "invalid_value",
                    format!("this position is not readable: {e}"),
                )),
            },
        }
    }

    /// The resource it names, `None` when it names none.
    fn resource(&self) -> Result<Option<i64>, Rejection> {
        match self {
            Self::Fast(f) => Ok(f.resource),
            Self::Object(o) => match o.get("resource") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    reject(
                        "invalid_value",
                        format!("resource must be an integer id, got {v}"),
                    )
                }),
            },
            Self::Refused(r) => Err(r.clone()),
        }
    }

    fn report(&self, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
        match self {
            Self::Fast(f) => f.report(crs, now),
            Self::Object(o) => item_report(o, crs, now),
            Self::Refused(r) => Err(r.clone()),
        }
    }
}

impl FastItem<'_> {
    /// The same checks as the tree's, on the same values.
    fn report(&self, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
        let crs = item_crs(self.crs, crs)?;
        let num = |x: Option<f64>| x.map(Value::from);
        let (lat, lng) = (num(self.lat), num(self.lng));
        let at = self.at.as_ref().map(|t| match t {
            TimeIn::Number(n) => Value::from(*n),
            TimeIn::Text(s) => Value::from(*s),
        });
        let (accuracy_m, heading_deg, altitude_m) = (
            num(self.accuracy_m),
            num(self.heading_deg),
            num(self.altitude_m),
        );
        check(
            &Fields {
                lat: lat.as_ref(),
                lng: lng.as_ref(),
                at: at.as_ref(),
                accuracy_m: accuracy_m.as_ref(),
                speed_mps: self.speed_mps,
                heading_deg: heading_deg.as_ref(),
                altitude_m: altitude_m.as_ref(),
                battery_pct: self.battery,
                charging: self.charging,
                sos: self.sos.unwrap_or(false),
                crs,
            },
            now,
        )
    }
}

/// An item's own datum when it names one, else the batch's.
fn item_crs(named: Option<&str>, batch: Crs) -> Result<Crs, Rejection> {
    named.map_or(Ok(batch), |c| {
        Crs::parse(c).ok_or_else(|| reject("invalid_value", format!("crs {c:?} is unknown")))
    })
}

/// Checks one JSON item.
fn item_report(o: &Item, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
    let crs = item_crs(o.get("crs").and_then(Value::as_str), crs)?;
    let sos = match o.get("sos") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(reject(
                "invalid_value",
                format!("sos must be true or false, got {v}"),
            ));
        }
    };
    check(
        &Fields {
            lat: o.get("lat"),
            lng: o.get("lng"),
            at: o.get("at"),
            accuracy_m: o.get("accuracy_m"),
            speed_mps: number("speed_mps", o.get("speed_mps"))?,
            heading_deg: o.get("heading_deg"),
            altitude_m: o.get("altitude_m"),
            battery_pct: number("battery", o.get("battery"))?,
            charging: o.get("charging").and_then(Value::as_bool),
            sos,
            crs,
        },
        now,
    )
}

/// Applies accepted points to the live map and waits until the track has them.
async fn commit(
    state: &AppState,
    accepted: &[(Arc<ResourceInfo>, Report)],
) -> ApiResult<Vec<crate::live::Applied>> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    let loaded = state.hierarchy.get();
    let (applied, durable) = state
        .live
        .apply(loaded.as_deref(), accepted)
        .map_err(|full| ApiError::Unavailable {
            code: "track_buffer_full",
            message: format!(
                "the server is catching up with the database ({} points waiting); nothing \
                 was taken, re-send shortly",
                full.queued
            ),
        })?;
    match durable.wait(state.live.config.ack_timeout).await {
        Ok(()) => Ok(applied),
        Err(NotDurable::Pending) => Err(ApiError::Unavailable {
            code: "not_durable_yet",
            message: "the points are on the live map and buffered, but the database has not \
                      confirmed them yet; re-send them (duplicates are ignored)"
                .into(),
        }),
        Err(NotDurable::Refused) => Err(ApiError::Internal(anyhow::anyhow!(
            "the database refused a batch of track points"
        ))),
    }
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

fn form_pairs(raw: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(raw).into_owned().collect()
}

async fn osmand(
    state: AppState,
    addr: ClientAddr,
    method: Method,
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<StatusCode> {
    let limiter = &state.auth.ident_limiter;
    if let Some(wait) = limiter.blocked(addr.0) {
        return Err(ApiError::TooManyRequests {
            code: "too_many_unknown_devices",
            message: "too many unknown device identifiers from this address; wait a minute".into(),
            retry_after_s: wait,
        });
    }
    let now = Utc::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut params = form_pairs(query.as_deref().unwrap_or("").as_bytes());
    let parsed = if method == Method::POST && content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
        osmand::from_json(&v, now)
    } else {
        if method == Method::POST && !body.is_empty() {
            params.extend(form_pairs(body));
        }
        osmand::from_params(&params, now)
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(OsmandError::NoDevice) => {
            return Err(ApiError::unauthorized(
                "missing_device_id",
                "the device identifier (id / device_id) is required",
            ));
        }
        Err(OsmandError::Invalid(r)) => {
            return Err(ApiError::Unprocessable {
                code: r.code,
                message: r.message,
                details: json!({}),
            });
        }
    };
    let row = crate::db::resources::device_by_ident(&state.pool, &hash_ident(&parsed.device_ident))
        .await?
        .map(|d| (d.device_id, d.resource_id, d.revoked));
    let Some((device_id, resource_id, revoked)) = row else {
        limiter.failed(addr.0);
        return Err(ApiError::unauthorized(
            "unknown_device",
            "this device identifier is not known; enter the one the command center issued",
        ));
    };
    if revoked {
        limiter.failed(addr.0);
        return Err(ApiError::unauthorized(
            "device_revoked",
            "this device was revoked; ask the command center for a new identifier",
        ));
    }
    let info = state
        .live
        .resource(&state.pool, resource_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown_device", "the device's resource is gone"))?;
    let mut report = parsed.report;
    // The app reports WGS84 unless the server says otherwise for this resource; `from_*`
    // converted already when the request declared crs=gcj02.
    if info.crs == Crs::Gcj02 && !params.contains_key("crs") {
        report.position = gridwall_spatial::gcj02_to_wgs84(report.position);
    }
    if report.at < oldest_kept(&state, now) {
        return Err(ApiError::unprocessable(
            "too_old",
            "timestamp",
            "the fix is older than the history kept",
        ));
    }
    commit(&state, &[(info, report)]).await?;
    state.metrics.positions_accepted.inc();
    sqlx::query("UPDATE devices SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')")
        .bind(device_id)
        .execute(&state.pool)
        .await?;
    Ok(StatusCode::OK)
}

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

#[derive(sqlx::FromRow)]
struct TrackRow {
    at: DateTime<Utc>,
    lng: f64,
    lat: f64,
    speed_mps: Option<f32>,
    grid: Option<String>,
}

/// A resource's track between two times as a GeoJSON Feature: a LineString (a Point for a
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
    me.require(&Role::READERS)?;
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
    let resource = sqlx::query_as::<_, (String, String, String)>(
        "SELECT r.kind, r.name, u.code FROM resources r JOIN units u ON u.id = r.unit_id
         WHERE r.id = $2
           AND ($1::bigint IS NULL OR u.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1)
                                              AND (SELECT tree_hi FROM units WHERE id = $1))",
    )
    .bind(me.scope_id())
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "resource_not_found",
            format!("no worker or vehicle {id} in your territory"),
        )
    })?;
    let rows = sqlx::query_as::<_, TrackRow>(
        "SELECT p.at, ST_X(p.geom) AS lng, ST_Y(p.geom) AS lat, p.speed_mps, g.code AS grid
         FROM positions p LEFT JOIN units g ON g.id = p.grid_id
         WHERE p.resource_id = $1 AND p.at >= $2 AND p.at <= $3
         ORDER BY p.at LIMIT $4",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(MAX_TRACK_POINTS + 1)
    .fetch_all(&state.pool)
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
    me.require(&Role::MANAGERS)?;
    let mut tx = state.pool.begin().await?;
    let row = sqlx::query_as::<_, (String, Option<DateTime<Utc>>)>(
        "SELECT u.code, r.sos_at FROM resources r JOIN units u ON u.id = r.unit_id
         WHERE r.id = $2
           AND ($1::bigint IS NULL OR u.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1)
                                              AND (SELECT tree_hi FROM units WHERE id = $1))
         FOR UPDATE OF r",
    )
    .bind(me.scope_id())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "resource_not_found",
            format!("no worker or vehicle {id} in your territory"),
        )
    })?;
    if let (unit, Some(raised)) = row {
        sqlx::query("UPDATE resources SET sos_at = NULL, updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
