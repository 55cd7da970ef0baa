//! `/api/workers` (网格员) and their devices (the device routes themselves are in `devices`).
//!
//! Everyone who reads in scope may list and read workers of their territory (phones masked
//! unless the role needs them); admins and dispatchers create and change them and issue or
//! revoke device tokens. A worker outside the caller's territory answers 404.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::UnitRef;
use super::devices::{DeviceList, IssuedDevice, NewDeviceRequest};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use super::resources::{self, ListParams, Resource, Write, crs_or_wgs84, optional};
use crate::audit::{self, Event};
use crate::auth::{Permission, Principal, Role};
use crate::db;
use crate::db::resources::{NewWorker, Taken, Worker, WorkerPatch, WorkerRow};
use crate::state::AppState;

/// A grid worker (网格员).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Resource id (the same id positions and tracks use).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Phone, masked unless the caller's role needs it.
    pub phone: Option<String>,
    /// Home grid (without its level: always a grid).
    pub grid: UnitRef,
    /// Login name of the worker's own account, if any.
    pub username: Option<String>,
    /// Case categories the worker handles.
    pub skills: Vec<String>,
    /// On duty now.
    pub on_duty: bool,
    /// The datum the worker's phones report in: `wgs84` or `gcj02` (converted on the way in).
    pub crs: String,
    /// Active device tokens.
    pub active_devices: i64,
    /// Disabled workers are not tracked or dispatched.
    pub disabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Resource for Worker {
    const NOT_FOUND: &'static str = "worker_not_found";
    const CREATED: &'static str = "worker.create";
    const UPDATED: &'static str = "worker.update";
    type View = WorkerView;

    fn view(row: WorkerRow, me: &Principal) -> WorkerView {
        let w = row.own;
        WorkerView {
            phone: me.show_phone(w.phone.as_deref(), w.user_id),
            id: row.id,
            name: row.name,
            grid: UnitRef::new(row.unit_code, row.unit_name),
            username: w.username,
            skills: w.skills,
            on_duty: row.on_duty,
            crs: row.crs,
            active_devices: row.active_devices,
            disabled: row.disabled_at.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The worker list's format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (default) or `csv` (UTF-8 with BOM, for spreadsheets).
    format: Option<String>,
}

/// Workers.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    /// By home grid, then name.
    pub workers: Vec<WorkerView>,
}

/// The workers of the caller's territory, as JSON or as a CSV export.
#[utoipa::path(get, path = "/api/workers", tag = "workers", params(ListParams, ExportParams),
    responses((status = 200, body = WorkerList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
    Query(e): Query<ExportParams>,
) -> ApiResult<Response> {
    me.may(Permission::Read)?;
    let csv = match e.format.as_deref().map(str::trim) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "format",
                other,
                "format must be json or csv",
            ));
        }
    };
    let mut filter = p.filter(&state, &me).await?;
    // Searching digits of masked numbers would reveal them: only where they are shown.
    filter.search_phone = me.role.sees_phone_numbers();
    let rows = db::resources::list::<Worker>(&state.pool, me.territory(), &filter).await?;
    let workers: Vec<WorkerView> = rows.into_iter().map(|r| Worker::view(r, &me)).collect();
    if !csv {
        return Ok(axum::Json(WorkerList { workers }).into_response());
    }
    // Exports of personal data are themselves worth a line in the audit log.
    audit::record(
        &state.pool,
        &me.actor(),
        Event::ok("worker.export", "worker", "*")
            .unit(me.scope_unit.as_ref().map(|u| u.code.as_str()))
            .details(json!({ "rows": workers.len(), "format": "csv" })),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"workers.csv\"",
            ),
        ],
        workers_csv(&workers),
    )
        .into_response())
}

pub(crate) fn csv_field(s: &str) -> String {
    // Quote everything; neutralise formulas (a leading = + - @ in a spreadsheet cell).
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn workers_csv(workers: &[WorkerView]) -> String {
    let mut out =
        String::from("\u{feff}id,name,phone,grid_code,grid_name,on_duty,skills,disabled\r\n");
    for w in workers {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{}\r\n",
            w.id,
            csv_field(&w.name),
            csv_field(w.phone.as_deref().unwrap_or("")),
            csv_field(&w.grid.code),
            csv_field(&w.grid.name),
            w.on_duty,
            csv_field(&w.skills.join(";")),
            w.disabled
        );
    }
    out
}

/// One worker of the caller's territory.
#[utoipa::path(get, path = "/api/workers/{id}", tag = "workers",
    params(("id" = i64, Path, description = "worker (resource) id")),
    responses((status = 200, body = WorkerView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<WorkerView>> {
    resources::get_one::<Worker>(&state, &me, id).await
}

/// A new worker.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkerRequest {
    /// Name.
    pub name: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Code of the home grid (15 digits), in the caller's territory.
    pub grid: String,
    /// Case categories the worker handles.
    #[serde(default)]
    pub skills: Vec<String>,
    /// On duty now.
    #[serde(default)]
    pub on_duty: bool,
    /// Login name of the worker's own account (role worker), if they have one.
    #[serde(default)]
    pub username: Option<String>,
    /// The datum the worker's phones report in: `wgs84` (default) or `gcj02`.
    #[serde(default)]
    pub crs: Option<String>,
}

async fn home_grid(state: &AppState, me: &Principal, raw: &str) -> ApiResult<i64> {
    let code = params::code("grid", raw)?;
    match db::users::unit_in_scope(&state.pool, me.territory(), code.as_str()).await? {
        Some((id, 4)) => Ok(id),
        Some(_) => Err(ApiError::unprocessable(
            "not_a_grid",
            "grid",
            format!("{code} is not a grid: a worker's home is a grid (15-digit code)"),
        )),
        None => Err(ApiError::unprocessable(
            "unknown_unit",
            "grid",
            format!("no grid {code} in your territory"),
        )),
    }
}

fn skills(raw: &[String]) -> ApiResult<Vec<String>> {
    if raw.len() > 32 {
        return Err(ApiError::unprocessable(
            "invalid_skills",
            "skills",
            "at most 32 skills",
        ));
    }
    raw.iter()
        .map(|s| {
            let t = s.trim();
            if (1..=50).contains(&t.chars().count()) {
                Ok(t.to_owned())
            } else {
                Err(ApiError::unprocessable(
                    "invalid_skills",
                    "skills",
                    "each skill has 1 to 50 characters",
                ))
            }
        })
        .collect()
}

/// Creates a worker (admins and dispatchers, in their territory).
#[utoipa::path(post, path = "/api/workers", tag = "workers", request_body = NewWorkerRequest,
    responses((status = 201, body = WorkerView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    me: Principal,
    Json(req): Json<NewWorkerRequest>,
) -> ApiResult<Response> {
    me.may(Permission::ManageResources)?;
    let name = params::display_name("name", &req.name)?;
    let phone = req
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| params::phone("phone", p))
        .transpose()?;
    let unit_id = home_grid(&state, &me, &req.grid).await?;
    let skills = skills(&req.skills)?;
    let crs = crs_or_wgs84(req.crs.as_deref())?;
    let user_id = match req.username.as_deref().filter(|u| !u.trim().is_empty()) {
        None => None,
        Some(u) => {
            let unknown = || {
                ApiError::unprocessable(
                    "unknown_user",
                    "username",
                    format!("no account {u} with the worker role in your territory"),
                )
            };
            let found = db::users::by_username(&state.pool, u.trim())
                .await?
                .filter(|r| r.role == Role::Worker.as_str())
                .ok_or_else(unknown)?;
            // An account outside the territory answers like one that does not exist.
            let user = db::users::get(&state.pool, me.territory(), found.id)
                .await?
                .ok_or_else(unknown)?;
            Some(user.id)
        }
    };
    let mut tx = state.pool.begin().await?;
    let id = db::resources::insert_worker(
        &mut *tx,
        &NewWorker {
            name: &name,
            phone: phone.as_deref(),
            unit_id,
            user_id,
            skills: &skills,
            on_duty: req.on_duty,
            crs,
        },
    )
    .await?
    .map_err(|_: Taken| {
        ApiError::conflict(
            "account_taken",
            "that account already belongs to another worker",
        )
    })?;
    let view = resources::finish::<Worker>(
        &state,
        &me,
        tx,
        Write::Created,
        id,
        |row| json!({ "name": row.name }),
    )
    .await?;
    Ok((StatusCode::CREATED, view).into_response())
}

/// Changes to a worker; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerPatchRequest {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone; `null` removes it.
    #[serde(default, deserialize_with = "params::double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Home grid code.
    #[serde(default)]
    pub grid: Option<String>,
    /// Skills (replaces the list).
    #[serde(default)]
    pub skills: Option<Vec<String>>,
    /// On duty.
    #[serde(default)]
    pub on_duty: Option<bool>,
    /// `wgs84` or `gcj02`.
    #[serde(default)]
    pub crs: Option<String>,
    /// `true` disables the worker and revokes nothing else; `false` enables.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Changes a worker (admins and dispatchers, in their territory).
#[utoipa::path(patch, path = "/api/workers/{id}", tag = "workers",
    request_body = WorkerPatchRequest,
    params(("id" = i64, Path, description = "worker (resource) id")),
    responses((status = 200, body = WorkerView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<WorkerPatchRequest>,
) -> ApiResult<axum::Json<WorkerView>> {
    me.may(Permission::ManageResources)?;
    let before = resources::visible::<Worker>(&state, &me, id).await?;
    let name = optional(req.name.as_deref(), |n| params::display_name("name", n))?;
    let phone = match &req.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(Some(params::phone("phone", p)?)),
    };
    let unit_id = match req.grid.as_deref() {
        None => None,
        Some(g) => Some(home_grid(&state, &me, g).await?),
    };
    let skills = req.skills.as_deref().map(skills).transpose()?;
    let crs = optional(req.crs.as_deref(), |c| params::crs("crs", c))?;
    let mut tx = state.pool.begin().await?;
    db::resources::update_worker(
        &mut *tx,
        id,
        &WorkerPatch {
            name: name.as_deref(),
            phone: phone.as_ref().map(|p| p.as_deref()),
            unit_id,
            skills: skills.as_deref(),
            on_duty: req.on_duty,
            crs,
            disabled: req.disabled,
        },
    )
    .await?;
    resources::finish::<Worker>(&state, &me, tx, Write::Updated, id, |after| {
        json!({
            "grid": {"from": before.unit_code, "to": after.unit_code},
            "on_duty": after.on_duty,
            "crs": after.crs,
            "disabled": after.disabled_at.is_some(),
        })
    })
    .await
}

/// The devices of a worker (admins and dispatchers).
#[utoipa::path(get, path = "/api/workers/{id}/devices", tag = "workers",
    params(("id" = i64, Path, description = "worker (resource) id")),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_devices(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<DeviceList>> {
    resources::list_devices::<Worker>(&state, &me, id).await
}

/// Issues a device for a worker's phone (admins and dispatchers): a token and an OsmAnd
/// identifier, shown this once; it may only post positions for that worker. At most a few are
/// active per worker (409 beyond).
#[utoipa::path(post, path = "/api/workers/{id}/devices", tag = "workers",
    request_body = NewDeviceRequest,
    params(("id" = i64, Path, description = "worker (resource) id")),
    responses((status = 201, body = IssuedDevice), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the worker is disabled or has the most active devices \
         allowed", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn issue_device(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<NewDeviceRequest>,
) -> ApiResult<Response> {
    resources::issue_device::<Worker>(&state, &me, id, &req).await
}
