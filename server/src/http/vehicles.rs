//! `/api/vehicles` (车辆): patrol cars and other tracked vehicles, and their devices.
//!
//! Scoped like workers: everyone who reads in scope may list and read the vehicles of their
//! territory; admins and dispatchers create and change them and issue devices. A vehicle's home
//! is any unit of the territory (a county's car, a township's van). A vehicle outside the
//! caller's territory answers 404, a home unit outside it 422, as if neither existed.
//! Plates are stored normalised (see [`plate`]) and are unique across the whole database.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gridwall_spatial::ResourceKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::devices::{self, DeviceList, IssuedDevice, NewDeviceRequest, Owner};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use crate::audit::{self, Event};
use crate::auth::{Principal, Role};
use crate::db;
use crate::db::resources::{NewVehicle, PlateTaken, VehicleFilter, VehiclePatch, VehicleRow};
use crate::state::AppState;

/// The kinds of vehicle, as stored.
pub const VEHICLE_KINDS: [&str; 5] = ["patrol", "van", "motorcycle", "ebike", "other"];

/// A unit by code, name and level.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitRef {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level 0–4 (city, county, township, village, grid).
    pub level: i16,
}

/// A vehicle (车辆).
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleView {
    /// Resource id (the same id positions and tracks use).
    pub id: i64,
    /// Name or call sign.
    pub name: String,
    /// Plate, normalised: upper case, no spaces or separators (`苏F12345`).
    pub plate: String,
    /// `patrol`, `van`, `motorcycle`, `ebike` or `other`.
    pub vehicle_kind: String,
    /// Home unit.
    pub unit: UnitRef,
    /// On duty now.
    pub on_duty: bool,
    /// The datum its devices report in: `wgs84` or `gcj02` (converted on the way in).
    pub crs: String,
    /// Active devices.
    pub active_devices: i64,
    /// When it was disabled (disabled vehicles are not tracked); `null` when enabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<VehicleRow> for VehicleView {
    fn from(row: VehicleRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            plate: row.plate,
            vehicle_kind: row.vehicle_kind,
            unit: UnitRef {
                code: row.unit_code,
                name: row.unit_name,
                level: row.unit_level,
            },
            on_duty: row.on_duty,
            crs: row.crs,
            active_devices: row.active_devices,
            disabled_at: row.disabled_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn vehicle_not_found(id: i64) -> ApiError {
    ApiError::not_found(
        "vehicle_not_found",
        format!("no vehicle {id} in your territory"),
    )
}

fn plate_taken(plate: &str) -> ApiError {
    ApiError::Conflict {
        code: "plate_taken",
        message: format!("plate {plate} already belongs to another vehicle"),
        details: json!({ "field": "plate", "plate": plate }),
    }
}

/// Drops what people write between the parts of a plate (spaces, `·`, `•`, `.`, `-`) and
/// upper-cases Latin letters, so one plate has one spelling.
fn plate_key(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A plate as stored: [`plate_key`] of the input, 2–20 letters (Chinese or Latin) or digits.
/// `苏F·12345`, `苏f 12345` and `苏F-12345` are all `苏F12345`.
///
/// # Errors
///
/// 422 naming the field otherwise.
pub fn plate(field: &str, raw: &str) -> ApiResult<String> {
    let key = plate_key(raw);
    if (2..=20).contains(&key.chars().count()) && key.chars().all(char::is_alphanumeric) {
        Ok(key)
    } else {
        Err(ApiError::unprocessable(
            "invalid_plate",
            field,
            format!(
                "{field}: {raw:?} is not a plate (2 to 20 letters or digits; spaces, · and - \
                 are dropped)"
            ),
        ))
    }
}

fn vehicle_kind(raw: &str) -> ApiResult<&'static str> {
    let wanted = raw.trim().to_ascii_lowercase();
    VEHICLE_KINDS
        .into_iter()
        .find(|k| *k == wanted)
        .ok_or_else(|| ApiError::Unprocessable {
            code: "invalid_vehicle_kind",
            message: format!("vehicle_kind must be one of {}", VEHICLE_KINDS.join(", ")),
            details: json!({ "field": "vehicle_kind", "allowed": VEHICLE_KINDS }),
        })
}

async fn home_unit(state: &AppState, me: &Principal, raw: &str) -> ApiResult<i64> {
    let code = params::code("unit", raw)?;
    db::users::unit_in_scope(&state.pool, me.scope_id(), code.as_str())
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_unit",
                "unit",
                format!("no unit {code} in your territory"),
            )
        })
}

/// Filters of the vehicle list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only vehicles whose home unit lies under this unit (code).
    unit: Option<String>,
    /// Name, plate or home unit name contains this.
    q: Option<String>,
    /// `true`: on duty only; `false`: off duty only.
    on_duty: Option<String>,
    /// `true` to include disabled vehicles.
    include_disabled: Option<String>,
    /// At most this many (1–10000, default 1000).
    limit: Option<String>,
    /// Skip this many.
    offset: Option<String>,
}

/// One page of vehicles.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleList {
    /// By home unit code, then name.
    pub vehicles: Vec<VehicleView>,
    /// How many match the filters in all (over every page).
    pub total: i64,
}

/// The vehicles of the caller's territory.
#[utoipa::path(get, path = "/api/vehicles", tag = "vehicles", params(ListParams),
    responses((status = 200, body = VehicleList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<VehicleList>> {
    me.require(&Role::READERS)?;
    let under_unit_id = params::unit_filter(&state.pool, me.scope_id(), p.unit.as_deref()).await?;
    let q = p.q.filter(|q| !q.trim().is_empty());
    let filter = VehicleFilter {
        under_unit_id,
        q_plate: q.as_deref().map(plate_key).filter(|k| !k.is_empty()),
        q,
        on_duty: params::optional_bool("on_duty", p.on_duty.as_deref())?,
        include_disabled: params::optional_bool("include_disabled", p.include_disabled.as_deref())?
            .unwrap_or(false),
        limit: params::optional_i64_in("limit", p.limit.as_deref(), 1, 10_000)?.unwrap_or(1000),
        offset: params::optional_i64_in("offset", p.offset.as_deref(), 0, i64::MAX)?.unwrap_or(0),
    };
    let (rows, total) = db::resources::list_vehicles(&state.pool, me.scope_id(), &filter).await?;
    Ok(axum::Json(VehicleList {
        vehicles: rows.into_iter().map(VehicleView::from).collect(),
        total,
    }))
}

/// One vehicle of the caller's territory.
#[utoipa::path(get, path = "/api/vehicles/{id}", tag = "vehicles",
    params(("id" = i64, Path, description = "vehicle (resource) id")),
    responses((status = 200, body = VehicleView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<VehicleView>> {
    me.require(&Role::READERS)?;
    let row = db::resources::get_vehicle(&state.pool, me.scope_id(), id)
        .await?
        .ok_or_else(|| vehicle_not_found(id))?;
    Ok(axum::Json(row.into()))
}

/// A new vehicle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVehicleRequest {
    /// Name or call sign (1–100 characters).
    pub name: String,
    /// Plate; stored normalised (upper case, without spaces, `·` or `-`); unique.
    pub plate: String,
    /// `patrol`, `van`, `motorcycle`, `ebike` or `other`.
    pub vehicle_kind: String,
    /// Code of the home unit, any level, in the caller's territory.
    pub unit: String,
    /// On duty now.
    #[serde(default)]
    pub on_duty: bool,
    /// The datum its devices report in: `wgs84` (default) or `gcj02`.
    #[serde(default)]
    pub crs: Option<String>,
}

/// Creates a vehicle (admins and dispatchers, in their territory).
#[utoipa::path(post, path = "/api/vehicles", tag = "vehicles", request_body = NewVehicleRequest,
    responses((status = 201, body = VehicleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "plate_taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    me: Principal,
    Json(req): Json<NewVehicleRequest>,
) -> ApiResult<Response> {
    me.require(&Role::MANAGERS)?;
    let name = params::display_name("name", &req.name)?;
    let plate = plate("plate", &req.plate)?;
    let vehicle_kind = vehicle_kind(&req.vehicle_kind)?;
    let crs = req
        .crs
        .as_deref()
        .map_or(Ok("wgs84"), |c| params::crs("crs", c))?;
    let unit_id = home_unit(&state, &me, &req.unit).await?;
    let mut tx = state.pool.begin().await?;
    let id = db::resources::insert_vehicle(
        &mut *tx,
        &NewVehicle {
            name: &name,
            plate: &plate,
            vehicle_kind,
            unit_id,
            on_duty: req.on_duty,
            crs,
        },
    )
    .await?
    .map_err(|PlateTaken| plate_taken(&plate))?;
    let row = db::resources::get_vehicle(&mut *tx, None, id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("created vehicle {id} not found")))?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("vehicle.create", "vehicle", id)
            .unit(Some(&row.unit_code))
            .details(json!({ "name": row.name, "plate": row.plate, "kind": row.vehicle_kind })),
    )
    .await?;
    tx.commit().await?;
    super::refresh_live(&state, id).await;
    Ok((StatusCode::CREATED, axum::Json(VehicleView::from(row))).into_response())
}

/// Changes to a vehicle; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VehiclePatchRequest {
    /// Name or call sign.
    #[serde(default)]
    pub name: Option<String>,
    /// Plate.
    #[serde(default)]
    pub plate: Option<String>,
    /// `patrol`, `van`, `motorcycle`, `ebike` or `other`.
    #[serde(default)]
    pub vehicle_kind: Option<String>,
    /// Home unit code.
    #[serde(default)]
    pub unit: Option<String>,
    /// On duty.
    #[serde(default)]
    pub on_duty: Option<bool>,
    /// `wgs84` or `gcj02`.
    #[serde(default)]
    pub crs: Option<String>,
    /// `true` disables the vehicle (off the map, its devices refused, not revoked); `false`
    /// enables it.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Changes a vehicle (admins and dispatchers, in their territory).
#[utoipa::path(patch, path = "/api/vehicles/{id}", tag = "vehicles",
    request_body = VehiclePatchRequest,
    params(("id" = i64, Path, description = "vehicle (resource) id")),
    responses((status = 200, body = VehicleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "plate_taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<VehiclePatchRequest>,
) -> ApiResult<axum::Json<VehicleView>> {
    me.require(&Role::MANAGERS)?;
    let before = db::resources::get_vehicle(&state.pool, me.scope_id(), id)
        .await?
        .ok_or_else(|| vehicle_not_found(id))?;
    let name = req
        .name
        .as_deref()
        .map(|n| params::display_name("name", n))
        .transpose()?;
    let plate = req
        .plate
        .as_deref()
        .map(|p| plate("plate", p))
        .transpose()?;
    let vehicle_kind = req.vehicle_kind.as_deref().map(vehicle_kind).transpose()?;
    let crs = req
        .crs
        .as_deref()
        .map(|c| params::crs("crs", c))
        .transpose()?;
    let unit_id = match req.unit.as_deref() {
        None => None,
        Some(u) => Some(home_unit(&state, &me, u).await?),
    };
    let mut tx = state.pool.begin().await?;
    db::resources::update_vehicle(
        &mut *tx,
        id,
        &VehiclePatch {
            name: name.as_deref(),
            plate: plate.as_deref(),
            vehicle_kind,
            unit_id,
            on_duty: req.on_duty,
            crs,
            disabled: req.disabled,
        },
    )
    .await?
    .map_err(|PlateTaken| plate_taken(plate.as_deref().unwrap_or_default()))?;
    let after = db::resources::get_vehicle(&mut *tx, None, id)
        .await?
        .ok_or_else(|| vehicle_not_found(id))?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("vehicle.update", "vehicle", id)
            .unit(Some(&after.unit_code))
            .details(json!({
                "unit": {"from": before.unit_code, "to": after.unit_code},
                "plate": {"from": before.plate, "to": after.plate},
                "vehicle_kind": after.vehicle_kind,
                "on_duty": after.on_duty,
                "crs": after.crs,
                "disabled": after.disabled_at.is_some(),
            })),
    )
    .await?;
    tx.commit().await?;
    super::refresh_live(&state, id).await;
    Ok(axum::Json(after.into()))
}

fn owner(v: &VehicleRow) -> Owner<'_> {
    Owner {
        id: v.id,
        kind: ResourceKind::Vehicle,
        unit_code: &v.unit_code,
        disabled: v.disabled_at.is_some(),
    }
}

/// The devices of a vehicle (admins and dispatchers).
#[utoipa::path(get, path = "/api/vehicles/{id}/devices", tag = "vehicles",
    params(("id" = i64, Path, description = "vehicle (resource) id")),
    responses((status = 200, body = DeviceList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_devices(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<DeviceList>> {
    me.require(&Role::MANAGERS)?;
    let vehicle = db::resources::get_vehicle(&state.pool, me.scope_id(), id)
        .await?
        .ok_or_else(|| vehicle_not_found(id))?;
    devices::list_for(&state, owner(&vehicle)).await
}

/// Issues a device for a vehicle's tracker or phone (admins and dispatchers): a token and an
/// OsmAnd identifier, shown this once. At most a few are active per vehicle (409 beyond).
#[utoipa::path(post, path = "/api/vehicles/{id}/devices", tag = "vehicles",
    request_body = NewDeviceRequest,
    params(("id" = i64, Path, description = "vehicle (resource) id")),
    responses((status = 201, body = IssuedDevice), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the vehicle is disabled or has the most active devices \
         allowed", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn issue_device(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<NewDeviceRequest>,
) -> ApiResult<Response> {
    me.require(&Role::MANAGERS)?;
    let vehicle = db::resources::get_vehicle(&state.pool, me.scope_id(), id)
        .await?
        .ok_or_else(|| vehicle_not_found(id))?;
    devices::issue_for(&state, &me, owner(&vehicle), &req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_have_one_spelling() {
        for raw in ["苏F·12345", "苏f 12345", " 苏F-12345 ", "苏F12345"] {
            assert_eq!(
                plate("plate", raw).ok().as_deref(),
                Some("苏F12345"),
                "{raw}"
            );
        }
        assert_eq!(
            plate("plate", "苏F1234警").ok().as_deref(),
            Some("苏F1234警")
        );
        for bad in ["", "A", "苏F#12345", "  ·  ", &"A".repeat(21), "苏F\u{0}1"] {
            assert!(plate("plate", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn vehicle_kinds_are_the_stored_ones() {
        assert_eq!(vehicle_kind(" Patrol ").ok(), Some("patrol"));
        assert!(vehicle_kind("tank").is_err());
    }
}
