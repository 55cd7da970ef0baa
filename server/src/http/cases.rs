//! `/api/cases` (事件): register, read, list and export, move through the lifecycle, dispatch
//! candidates; `/api/me/cases` for a worker's phone; `/api/case-categories`.
//!
//! Center roles see the cases whose grid lies in their territory; a worker (their account or
//! their phone's device token) sees the cases assigned to them or reported by them. A case
//! outside what the caller sees answers 404, like one that does not exist.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gridwall_spatial::{LatLng, gcj02_to_wgs84};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::UnitRef;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use super::workers::csv_field;
use crate::auth::{Caller, Permission, Principal};
use crate::cases::lifecycle::{self, Action, CaseStatus};
use crate::cases::store::{self, NewCaseInput, TransitionInput};
use crate::cases::{Candidate, candidates_for};
use crate::db;
use crate::db::cases::{CaseFilter, CaseRow, CategoryRow, EventRow};
use crate::state::AppState;

/// The sources a case may come from.
pub const SOURCES: [&str; 5] = ["patrol", "hotline_12345", "police_110", "walk_in", "other"];
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The caller, when it may handle cases: a vehicle's phone may not.
fn case_handler(caller: Caller) -> ApiResult<Caller> {
    match &caller {
        Caller::Device(d) if d.resource_kind != "worker" => Err(ApiError::Forbidden(
            "a vehicle's device token does not handle cases".into(),
        )),
        _ => Ok(caller),
    }
}

/// A category of cases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// Code, e.g. `dispute`.
    pub code: String,
    /// Chinese name, e.g. 矛盾纠纷.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Hours from report to deadline.
    pub sla_hours: i32,
    /// Skill a worker needs to be dispatched to it, if any.
    pub skill: Option<String>,
    /// Offered for new cases.
    pub active: bool,
}

impl From<CategoryRow> for CategoryView {
    fn from(c: CategoryRow) -> Self {
        Self {
            code: c.code,
            name_zh: c.name_zh,
            name_en: c.name_en,
            sla_hours: c.sla_hours,
            skill: c.skill,
            active: c.active,
        }
    }
}

/// The category list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// In display order.
    pub categories: Vec<CategoryView>,
}

/// The case categories (code list), for forms and filters.
#[utoipa::path(get, path = "/api/case-categories", tag = "cases",
    responses((status = 200, body = CategoryList), (status = 401, body = ErrorBody)))]
pub async fn list_categories(
    State(state): State<AppState>,
    _me: Caller,
) -> ApiResult<axum::Json<CategoryList>> {
    let rows = db::cases::categories(&state.pool).await?;
    Ok(axum::Json(CategoryList {
        categories: rows.into_iter().map(CategoryView::from).collect(),
    }))
}

/// A category to add or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Hours from report to deadline (1–8760).
    pub sla_hours: i32,
    /// Skill a worker needs, if any.
    #[serde(default)]
    pub skill: Option<String>,
    /// Offered for new cases (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// Position in lists.
    #[serde(default)]
    pub sort: Option<i32>,
}

/// Adds or changes a case category (admins); audited.
#[utoipa::path(put, path = "/api/case-categories/{code}", tag = "cases",
    params(("code" = String, Path, description = "lower-case code, e.g. `flood`")),
    request_body = CategoryRequest,
    responses((status = 200, body = CategoryView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_category(
    State(state): State<AppState>,
    me: Principal,
    Path(code): Path<String>,
    Json(req): Json<CategoryRequest>,
) -> ApiResult<axum::Json<CategoryView>> {
    me.may(Permission::Configure)?;
    let code_ok = (2..=32).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !code_ok {
        return Err(ApiError::invalid_param(
            "code",
            code.as_str(),
            "a category code has 2–32 characters: a-z, 0-9, _ (starting with a letter)",
        ));
    }
    let name_zh = text("name_zh", &req.name_zh, 1, 50)?;
    let name_en = text("name_en", &req.name_en, 1, 50)?;
    if !(1..=8760).contains(&req.sla_hours) {
        return Err(ApiError::unprocessable(
            "invalid_sla",
            "sla_hours",
            "sla_hours must be between 1 and 8760",
        ));
    }
    let skill = req
        .skill
        .as_deref()
        .map(|s| text("skill", s, 1, 50))
        .transpose()?;
    let row = CategoryRow {
        code: code.clone(),
        name_zh,
        name_en,
        sla_hours: req.sla_hours,
        skill,
        active: req.active.unwrap_or(true),
    };
    let mut tx = state.pool.begin().await?;
    db::cases::upsert_category(&mut *tx, &row, req.sort).await?;
    crate::audit::record(
        &mut *tx,
        &me.actor(),
        crate::audit::Event::ok("case_category.put", "case_category", &code)
            .details(json!({"sla_hours": row.sla_hours, "skill": row.skill, "active": row.active})),
    )
    .await?;
    tx.commit().await?;
    state.cases.reload_categories(&state.pool).await?;
    Ok(axum::Json(row.into()))
}

fn text(field: &str, raw: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    let n = t.chars().count();
    if (min..=max).contains(&n) && !t.chars().any(|c| c.is_control() && c != '\n') {
        Ok(t.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "invalid_text",
            field,
            format!("{field} must have {min} to {max} characters (no control characters)"),
        ))
    }
}

/// A case category by code and names.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef {
    /// Code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// Someone by id and name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    /// Id (`resources.id` for workers, `cases.id` for cases).
    pub id: i64,
    /// Name (or number).
    pub name: String,
}

/// A case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    /// `cases.id`.
    pub id: i64,
    /// Readable number, `NT-20261126-000123`.
    pub number: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: CategoryRef,
    /// `patrol`, `hotline_12345`, `police_110`, `walk_in` or `other`.
    pub source: String,
    /// 1 (low) – 4 (most urgent).
    pub severity: i16,
    /// Where: `[lng, lat]`, WGS84.
    pub position: [f64; 2],
    /// Address text.
    pub address: Option<String>,
    /// The grid it lies in.
    pub grid: UnitRef,
    /// The unit handling it: its grid, or the township / county after escalation.
    pub handling_unit: UnitRef,
    /// Reporter's name.
    pub reporter_name: Option<String>,
    /// Reporter's phone, masked unless the caller's role needs it.
    pub reporter_phone: Option<String>,
    /// Status.
    pub status: CaseStatus,
    /// The worker it is dispatched to.
    pub assignee: Option<Named>,
    /// When it was assigned.
    pub assigned_at: Option<DateTime<Utc>>,
    /// When the worker accepted the assignment.
    pub taken_at: Option<DateTime<Utc>>,
    /// Deadline (from the category's time limit; renewed on escalation).
    pub deadline_at: DateTime<Utc>,
    /// Past its deadline and not yet handled.
    pub overdue: bool,
    /// When it first went past its deadline.
    pub overdue_at: Option<DateTime<Utc>>,
    /// A possible duplicate of this open case (same category, ≤ 100 m, ≤ 24 h).
    pub duplicate_of: Option<Named>,
    /// Version: name it in a transition.
    pub version: i32,
    /// What the caller may do now.
    pub allowed_actions: Vec<Action>,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// First dispatched.
    pub first_dispatched_at: Option<DateTime<Utc>>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed (or rejected).
    pub closed_at: Option<DateTime<Utc>>,
}

/// The answers for `rows` as `who` may see them: links to cases `who` cannot open are dropped
/// (see [`store::hide_unreadable_links`]).
async fn views(state: &AppState, who: &Caller, mut rows: Vec<CaseRow>) -> ApiResult<Vec<CaseView>> {
    store::hide_unreadable_links(state, who, &mut rows).await?;
    Ok(rows.into_iter().map(|r| view(r, who)).collect())
}

/// [`views`] of one case.
async fn view_one(state: &AppState, who: &Caller, row: CaseRow) -> ApiResult<CaseView> {
    let mut rows = [row];
    store::hide_unreadable_links(state, who, &mut rows).await?;
    let [row] = rows;
    Ok(view(row, who))
}

fn view(row: CaseRow, who: &Caller) -> CaseView {
    let status = CaseStatus::parse(&row.status).unwrap_or(CaseStatus::Reported);
    let allowed_actions = store::party(who, row.assignee_id)
        .map(|p| lifecycle::allowed(status, row.taken_at.is_some(), p))
        .unwrap_or_default();
    let reporter_phone = match who {
        Caller::User { principal, .. } => principal.show_phone(row.reporter_phone.as_deref(), None),
        _ => row.reporter_phone.as_deref().map(crate::auth::mask_phone),
    };
    CaseView {
        id: row.id,
        number: row.number,
        title: row.title,
        description: row.description,
        category: CategoryRef {
            code: row.category,
            name_zh: row.category_zh,
            name_en: row.category_en,
        },
        source: row.source,
        severity: row.severity,
        position: [row.lng, row.lat],
        address: row.address,
        grid: UnitRef::new(row.grid_code, row.grid_name),
        handling_unit: UnitRef::at_level(row.handling_code, row.handling_name, row.handling_level),
        reporter_name: row.reporter_name,
        reporter_phone,
        status,
        assignee: row.assignee_id.map(|id| Named {
            id,
            name: row.assignee_name.unwrap_or_default(),
        }),
        assigned_at: row.assigned_at,
        taken_at: row.taken_at,
        deadline_at: row.deadline_at,
        overdue: row.overdue,
        overdue_at: row.overdue_at,
        duplicate_of: row.duplicate_of.map(|id| Named {
            id,
            name: row.duplicate_of_number.unwrap_or_default(),
        }),
        version: row.version,
        allowed_actions,
        created_at: row.created_at,
        updated_at: row.updated_at,
        first_dispatched_at: row.first_dispatched_at,
        resolved_at: row.resolved_at,
        closed_at: row.closed_at,
    }
}

/// A case to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseRequest {
    /// Title (1–200 characters).
    pub title: String,
    /// Description (up to 5,000 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Category code (`GET /api/case-categories`).
    pub category: String,
    /// `patrol`, `hotline_12345`, `police_110`, `walk_in` or `other`; a worker's report is
    /// always `patrol` (the default for them).
    #[serde(default)]
    pub source: Option<String>,
    /// 1 (low) – 4 (most urgent); default 2.
    #[serde(default)]
    pub severity: Option<i16>,
    /// Latitude, degrees.
    #[schema(value_type = f64)]
    pub lat: Value,
    /// Longitude, degrees.
    #[schema(value_type = f64)]
    pub lng: Value,
    /// Datum of lat/lng: `wgs84` (default) or `gcj02` (converted).
    #[serde(default)]
    pub crs: Option<String>,
    /// Address text.
    #[serde(default)]
    pub address: Option<String>,
    /// Reporter's name.
    #[serde(default)]
    pub reporter_name: Option<String>,
    /// Reporter's phone (kept for the follow-up call; shown masked to most roles).
    #[serde(default)]
    pub reporter_phone: Option<String>,
}

fn coordinate(field: &str, v: &Value, max: f64) -> ApiResult<f64> {
    let Some(x) = v.as_f64() else {
        return Err(ApiError::unprocessable(
            if field == "lat" {
                "invalid_lat"
            } else {
                "invalid_lng"
            },
            field,
            format!("{field} must be a number of degrees, got {v}"),
        ));
    };
    if !(-max..=max).contains(&x) {
        return Err(ApiError::unprocessable(
            if field == "lat" {
                "invalid_lat"
            } else {
                "invalid_lng"
            },
            field,
            format!("{field} must lie in [-{max}, {max}], got {x}"),
        ));
    }
    Ok(x)
}

fn new_case_input(req: &NewCaseRequest, who: &Caller) -> ApiResult<NewCaseInput> {
    let title = text("title", &req.title, 1, 200)?;
    let description = match req.description.as_deref() {
        None => String::new(),
        Some(d) if d.chars().count() <= 5000 => d.trim().to_owned(),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_text",
                "description",
                "description has at most 5000 characters",
            ));
        }
    };
    let worker = !who.is_center();
    let source = match (req.source.as_deref().map(str::trim), worker) {
        (None | Some("patrol"), true) => "patrol".to_owned(),
        (Some(other), true) => {
            return Err(ApiError::unprocessable(
                "invalid_source",
                "source",
                format!("a worker's report is a patrol report, not {other:?}"),
            ));
        }
        (None, false) => {
            return Err(ApiError::unprocessable(
                "invalid_source",
                "source",
                format!("source is required: one of {}", SOURCES.join(", ")),
            ));
        }
        (Some(s), false) if SOURCES.contains(&s) => s.to_owned(),
        (Some(s), false) => {
            return Err(ApiError::unprocessable(
                "invalid_source",
                "source",
                format!("unknown source {s:?}: one of {}", SOURCES.join(", ")),
            ));
        }
    };
    let severity = req.severity.unwrap_or(2);
    if !(1..=4).contains(&severity) {
        return Err(ApiError::unprocessable(
            "invalid_severity",
            "severity",
            format!("severity must be 1 to 4, got {severity}"),
        ));
    }
    let lat = coordinate("lat", &req.lat, 90.0)?;
    let lng = coordinate("lng", &req.lng, 180.0)?;
    let mut position = LatLng::new(lat, lng).map_err(|e| {
        ApiError::unprocessable("invalid_lat", "lat", format!("({lng}, {lat}): {e}"))
    })?;
    if let Some(crs) = req.crs.as_deref()
        && params::crs("crs", crs)? == "gcj02"
    {
        position = gcj02_to_wgs84(position);
    }
    let optional = |field: &str, v: Option<&str>, max: usize| -> ApiResult<Option<String>> {
        v.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| text(field, s, 1, max))
            .transpose()
    };
    Ok(NewCaseInput {
        title,
        description,
        category: req.category.trim().to_owned(),
        source,
        severity,
        position,
        address: optional("address", req.address.as_deref(), 300)?,
        reporter_name: optional("reporter_name", req.reporter_name.as_deref(), 100)?,
        reporter_phone: req
            .reporter_phone
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|p| params::phone("reporter_phone", p))
            .transpose()?,
    })
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest {
        code: "invalid_idempotency_key",
        message: format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ),
        details: json!({"header": "Idempotency-Key"}),
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_owned()))
}

/// Registers a case (center roles; a worker's phone or account for patrol reports). With an
/// `Idempotency-Key` header a retry answers the case the first request made (200 instead of
/// 201, `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/api/cases", tag = "cases", request_body = NewCaseRequest,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "makes retries safe: the same key and body answer the same case")),
    responses((status = 201, body = CaseView), (status = 200, body = CaseView,
            description = "an idempotent retry"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("session" = []), ("session_cookie" = []), ("device_token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<NewCaseRequest>,
) -> ApiResult<Response> {
    let who = case_handler(caller)?;
    match &who {
        Caller::User { principal, .. } => principal.may(Permission::RegisterCase)?,
        Caller::Device(_) | Caller::System => {}
    }
    if !who.is_center() && who.resource().is_none() {
        return Err(ApiError::Forbidden(
            "this worker account has no worker record; ask an administrator".into(),
        ));
    }
    let key = idempotency_key(&headers)?;
    let input = new_case_input(&req, &who)?;
    let (row, created) = store::create(&state, &who, &input, key.as_deref()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/cases/{}", row.id);
    let mut resp = (status, axum::Json(view_one(&state, &who, row).await?)).into_response();
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if !created {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// One event of a case's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// When.
    pub at: DateTime<Utc>,
    /// The case version it produced.
    pub version: i32,
    /// `report`, an action (`accept`, `dispatch`, …) or `overdue`.
    pub action: String,
    /// Status before (`null` for the report).
    pub from: Option<String>,
    /// Status after.
    pub to: String,
    /// Caller: a user name, `device:<id>`, or `system`.
    pub actor: String,
    /// Their role.
    pub role: Option<String>,
    /// Reason or what was done.
    pub note: Option<String>,
    /// Where the actor was, `[lng, lat]`.
    pub position: Option<[f64; 2]>,
    /// Assignee, units, and the like.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<EventRow> for EventView {
    fn from(e: EventRow) -> Self {
        Self {
            at: e.at,
            version: e.version,
            action: e.action,
            from: e.from_status,
            to: e.to_status,
            actor: e.actor,
            role: e.role,
            note: e.note,
            position: e.lng.zip(e.lat).map(|(x, y)| [x, y]),
            details: e.details,
        }
    }
}

/// A case with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    /// The case.
    #[serde(flatten)]
    pub case: CaseView,
    /// Every change, oldest first.
    pub history: Vec<EventView>,
}

/// One case with its whole history.
#[utoipa::path(get, path = "/api/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = []), ("session_cookie" = []), ("device_token" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CaseDetail>> {
    let who = case_handler(caller)?;
    let mut rows = [store::visible(&state, &who, id).await?];
    let hidden = store::hide_unreadable_links(&state, &who, &mut rows).await?;
    let [row] = rows;
    let mut history = db::cases::events_of(&state.pool, id).await?;
    if !hidden.is_empty() {
        // The history names the link too (the report event's details).
        for e in &mut history {
            if let Some(details) = e.details.as_object_mut()
                && details
                    .get("duplicate_of")
                    .and_then(Value::as_i64)
                    .is_some_and(|d| hidden.contains(&d))
            {
                details.insert("duplicate_of".into(), Value::Null);
            }
        }
    }
    Ok(axum::Json(CaseDetail {
        case: view(row, &who),
        history: history.into_iter().map(EventView::from).collect(),
    }))
}

/// A transition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// `accept`, `reject`, `dispatch`, `reassign`, `take`, `start`, `decline`, `return`,
    /// `resolve`, `follow_up`, `close`, `escalate` or `reopen`.
    pub action: String,
    /// The case version you saw (optimistic concurrency).
    pub version: i32,
    /// Reason or what was done (required for reject, decline, return, resolve, `follow_up`,
    /// escalate, reopen).
    #[serde(default)]
    pub note: Option<String>,
    /// The worker to assign (`resources.id`), for dispatch and reassign.
    #[serde(default)]
    pub assignee: Option<i64>,
    /// Where you are, `[lng, lat]` WGS84 (a worker on site).
    #[serde(default)]
    pub position: Option<[f64; 2]>,
}

/// Moves a case through its life. Illegal transitions answer 409 `illegal_transition` with
/// the allowed actions; a stale `version` 409 `version_conflict` with the current one.
#[utoipa::path(post, path = "/api/cases/{id}/transition", tag = "cases",
    params(("id" = i64, Path, description = "case id")),
    request_body = TransitionRequest,
    responses((status = 200, body = CaseView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = []), ("session_cookie" = []), ("device_token" = [])))]
pub async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(req): Json<TransitionRequest>,
) -> ApiResult<axum::Json<CaseView>> {
    let who = case_handler(caller)?;
    let Some(action) = Action::parse(req.action.trim()) else {
        let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        return Err(ApiError::Unprocessable {
            code: "unknown_action",
            message: format!("unknown action {:?}", req.action),
            details: json!({"field": "action", "known": known}),
        });
    };
    if let Some(n) = &req.note
        && n.chars().count() > 2000
    {
        return Err(ApiError::unprocessable(
            "invalid_text",
            "note",
            "a note has at most 2000 characters",
        ));
    }
    let position = req
        .position
        .map(|[lng, lat]| {
            LatLng::new(lat, lng).map_err(|e| {
                ApiError::unprocessable("invalid_position", "position", format!("{e}"))
            })
        })
        .transpose()?;
    let input = TransitionInput {
        action,
        version: req.version,
        note: req.note,
        assignee: req.assignee,
        position,
    };
    let row = store::transition(&state, &who, id, &input).await?;
    Ok(axum::Json(view_one(&state, &who, row).await?))
}

/// Filters of the case list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Statuses, comma-separated (`reported,accepted`); `open` = every status but closed and
    /// rejected.
    status: Option<String>,
    /// Category codes, comma-separated.
    category: Option<String>,
    /// Sources, comma-separated.
    source: Option<String>,
    /// Only cases in grids under this unit (code).
    unit: Option<String>,
    /// `west,south,east,north` (degrees WGS84).
    bbox: Option<String>,
    /// Registered at or after (RFC 3339).
    from: Option<String>,
    /// Registered before (RFC 3339).
    to: Option<String>,
    /// `true`: only overdue; `false`: only not overdue.
    overdue: Option<String>,
    /// Only cases assigned to this worker (`resources.id`).
    assignee: Option<String>,
    /// Number, title or address contains this.
    q: Option<String>,
    /// `created` (newest first, default) or `queue` (overdue first, then severity and
    /// deadline: the dispatcher's queue).
    order: Option<String>,
    /// `json` (default), `csv` (UTF-8 with BOM) or `geojson`.
    format: Option<String>,
    /// At most this many (1–10000, default 100).
    limit: Option<String>,
    /// Skip this many.
    offset: Option<String>,
}

/// A page of cases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// Matches before paging.
    pub total: i64,
    /// This page.
    pub cases: Vec<CaseView>,
}

/// Cases of the caller's territory: filtered, paged, or exported as CSV or GeoJSON.
#[utoipa::path(get, path = "/api/cases", tag = "cases", params(ListParams),
    responses((status = 200, body = CaseList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[allow(
    clippy::too_many_lines,
    reason = "one route: its filters, paging and the three export formats read best together"
)]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    me.may(Permission::Read)?;
    let format = match p.format.as_deref().map(str::trim) {
        None | Some("" | "json") => "json",
        Some("csv") => "csv",
        Some("geojson") => "geojson",
        Some(other) => {
            return Err(ApiError::invalid_param(
                "format",
                other,
                "format must be json, csv or geojson",
            ));
        }
    };
    let statuses_known: Vec<&str> = CaseStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut statuses = params::comma_list(
        "status",
        p.status.as_deref(),
        &[statuses_known.as_slice(), &["open"]].concat(),
    )?;
    if statuses.iter().any(|s| s == "open") {
        statuses.retain(|s| s != "open");
        statuses.extend(
            CaseStatus::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| s.as_str().to_owned()),
        );
    }
    let under_unit_id = params::unit_filter(
        &state.pool,
        me.territory(),
        p.unit.as_deref().map(str::trim),
    )
    .await?;
    let queue_order = match p.order.as_deref().map(str::trim) {
        None | Some("" | "created") => false,
        Some("queue") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "order",
                other,
                "order must be created or queue",
            ));
        }
    };
    let export = format != "json";
    let filter = CaseFilter {
        statuses,
        categories: params::comma_list("category", p.category.as_deref(), &[])?,
        sources: params::comma_list("source", p.source.as_deref(), &SOURCES)?,
        under_unit_id,
        bbox: params::bbox(p.bbox.as_deref())?,
        from: params::optional_time("from", p.from.as_deref())?,
        to: params::optional_time("to", p.to.as_deref())?,
        overdue: params::optional_bool("overdue", p.overdue.as_deref())?,
        assignee: params::optional_i64_in("assignee", p.assignee.as_deref(), 1, i64::MAX)?,
        q: p.q.filter(|q| !q.trim().is_empty()),
        queue_order,
        limit: params::optional_i64_in("limit", p.limit.as_deref(), 1, 10_000)?
            .unwrap_or(if export { 10_000 } else { 100 }),
        offset: params::optional_i64_in("offset", p.offset.as_deref(), 0, i64::MAX)?.unwrap_or(0),
    };
    let (rows, total) = db::cases::list_cases(&state.pool, me.territory(), &filter).await?;
    let who = Caller::User {
        principal: Box::new(me.clone()),
        resource: None,
    };
    let cases: Vec<CaseView> = views(&state, &who, rows).await?;
    if !export {
        return Ok(axum::Json(CaseList { total, cases }).into_response());
    }
    crate::audit::record(
        &state.pool,
        &me.actor(),
        crate::audit::Event::ok("case.export", "case", "*")
            .unit(me.scope_unit.as_ref().map(|u| u.code.as_str()))
            .details(json!({"rows": cases.len(), "format": format})),
    )
    .await?;
    if format == "csv" {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"cases.csv\"",
                ),
            ],
            cases_csv(&cases),
        )
            .into_response());
    }
    let features: Vec<geojson::Feature> = cases
        .iter()
        .map(|c| {
            // The case's own fields, less the position that the geometry carries.
            let mut properties = match serde_json::to_value(c) {
                Ok(Value::Object(o)) => o,
                _ => geojson::JsonObject::new(),
            };
            properties.remove("position");
            geojson::Feature {
                bbox: None,
                geometry: Some(geojson::Geometry::new_point(c.position)),
                id: Some(geojson::feature::Id::Number(c.id.into())),
                properties: Some(properties),
                foreign_members: None,
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/geo+json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cases.geojson\"",
            ),
        ],
        // A literal, not `collect()`: that would add a `bbox` member to an empty collection.
        axum::Json(geojson::FeatureCollection {
            bbox: None,
            features,
            foreign_members: None,
        }),
    )
        .into_response())
}

fn cases_csv(cases: &[CaseView]) -> String {
    let mut out = String::from(
        "\u{feff}number,title,category,source,severity,status,lng,lat,address,grid_code,grid_name,\
         handling_unit,assignee,reporter_name,reporter_phone,deadline_at,overdue,created_at,\
         resolved_at,closed_at\r\n",
    );
    let t = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for c in cases {
        let fields = [
            csv_field(&c.number),
            csv_field(&c.title),
            csv_field(&c.category.name_zh),
            csv_field(&c.source),
            c.severity.to_string(),
            csv_field(c.status.as_str()),
            format!("{:.7}", c.position[0]),
            format!("{:.7}", c.position[1]),
            csv_field(c.address.as_deref().unwrap_or("")),
            csv_field(&c.grid.code),
            csv_field(&c.grid.name),
            csv_field(&c.handling_unit.code),
            csv_field(c.assignee.as_ref().map_or("", |a| a.name.as_str())),
            csv_field(c.reporter_name.as_deref().unwrap_or("")),
            csv_field(c.reporter_phone.as_deref().unwrap_or("")),
            c.deadline_at.to_rfc3339(),
            c.overdue.to_string(),
            c.created_at.to_rfc3339(),
            t(c.resolved_at),
            t(c.closed_at),
        ];
        let _ = write!(out, "{}\r\n", fields.join(","));
    }
    out
}

/// Query of the candidates search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateParams {
    /// At most this many (1–50, default 5).
    k: Option<String>,
    /// Only workers within this many metres (1–50000, default 5000).
    radius_m: Option<String>,
}

/// Dispatch candidates.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateList {
    /// The case.
    pub case: i64,
    /// Its version (name it when dispatching).
    pub version: i32,
    /// Grid's own workers first, then by distance.
    pub candidates: Vec<Candidate>,
}

/// The nearest available workers for an open case: on duty, reporting within the last
/// minutes, below their open-case limit, with the skill the category needs; the case's own
/// grid's workers first, then by distance, each with an estimated walking time. Served from
/// the live index.
#[utoipa::path(get, path = "/api/cases/{id}/candidates", tag = "cases",
    params(("id" = i64, Path, description = "case id"), CandidateParams),
    responses((status = 200, body = CandidateList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn candidates(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Query(p): Query<CandidateParams>,
) -> ApiResult<axum::Json<CandidateList>> {
    me.may(Permission::Read)?;
    let k = params::optional_i64_in("k", p.k.as_deref(), 1, 50)?.unwrap_or(5);
    let radius_m =
        params::optional_i64_in("radius_m", p.radius_m.as_deref(), 1, 50_000)?.unwrap_or(5_000);
    let Some(case) = state.cases.board.get(id) else {
        // Not open (or not there): say which, within the territory.
        let who = Caller::User {
            principal: Box::new(me),
            resource: None,
        };
        let row = store::visible(&state, &who, id).await?;
        return Err(ApiError::Conflict {
            code: "case_not_open",
            message: format!(
                "case {} is {}: nobody is dispatched to it",
                row.number, row.status
            ),
            details: json!({"status": row.status}),
        });
    };
    let loaded = state.hierarchy.get();
    // The caller's territory, resolved once: the case and every candidate are checked in it.
    let scope = loaded.as_deref().and_then(|l| Some((l, me.scope(l)?)));
    let in_territory = |code: &str| {
        scope.as_ref().is_some_and(|(l, s)| {
            l.hierarchy
                .by_code(code)
                .is_some_and(|u| s.contains(&l.hierarchy, u))
        })
    };
    if !in_territory(&case.grid) {
        return Err(store::case_not_found(id).into());
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "1..=50"
    )]
    let k = k as usize;
    #[allow(clippy::cast_precision_loss, reason = "≤ 50,000")]
    let radius_m = radius_m as f64;
    // Only workers of the caller's territory: a township's operator neither sees nor
    // dispatches another township's people.
    let found = candidates_for(&state, &case, k, radius_m, &[], &|i| {
        in_territory(&i.unit_code)
    })
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("candidates: {e}")))?;
    Ok(axum::Json(CandidateList {
        case: case.id,
        version: case.version,
        candidates: found,
    }))
}

/// Query of a worker's case list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyParams {
    /// `open` (default: assigned to me and not handled yet) or `all` (the last 200 assigned
    /// to or reported by me).
    which: Option<String>,
}

/// The cases of the calling worker (their phone's device token or their account): assigned
/// to them and still to handle, deadline first.
#[utoipa::path(get, path = "/api/me/cases", tag = "cases", params(MyParams),
    responses((status = 200, body = CaseList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = []), ("session_cookie" = []), ("device_token" = [])))]
pub async fn my_cases(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<MyParams>,
) -> ApiResult<axum::Json<CaseList>> {
    let who = case_handler(caller)?;
    let Some(me) = who.resource() else {
        return Err(ApiError::Forbidden(
            "only a grid worker (their account or their phone) has cases of their own".into(),
        ));
    };
    let all = match p.which.as_deref().map(str::trim) {
        None | Some("" | "open") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "which",
                other,
                "which must be open or all",
            ));
        }
    };
    let rows = db::cases::cases_of_worker(&state.pool, me, all).await?;
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    Ok(axum::Json(CaseList {
        total,
        cases: views(&state, &who, rows).await?,
    }))
}
