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
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::UnitRef;
use super::devices::{DeviceList, IssuedDevice, NewDeviceRequest};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use super::resources::{self, ListParams, Resource, Write, crs_or_wgs84, optional};
use crate::auth::{Permission, Principal};
use crate::db;
use crate::db::resources::{NewVehicle, Taken, Vehicle, VehiclePatch, VehicleRow};
use crate::state::AppState;

/// The kinds of vehicle, as stored.
pub const VEHICLE_KINDS: [&str; 5] = ["patrol", "van", "motorcycle", "ebike", "other"];

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
    /// Home unit (with its level).
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

impl Resource for Vehicle {
    const NOT_FOUND: &'static str = "vehicle_not_found";
    const CREATED: &'static str = "vehicle.create";
    const UPDATED: &'static str = "vehicle.update";
    type View = VehicleView;

    fn view(row: VehicleRow, _: &Principal) -> VehicleView {
        VehicleView {
            id: row.id,
            name: row.name,
            plate: row.own.plate,
            vehicle_kind: row.own.vehicle_kind,
            unit: UnitRef::at_level(row.unit_code, row.unit_name, row.unit_level),
            on_duty: row.on_duty,
            crs: row.crs,
            active_devices: row.active_devices,
            disabled_at: row.disabled_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn plate_taken(plate: &str) -> ApiError {
    ApiError::Conflict {
        code: "plate_taken",
        message: format!("plate {plate} already belongs to another vehicle in your territory"),
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
    db::users::unit_in_scope(&state.pool, me.territory(), code.as_str())
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
    me.may(Permission::Read)?;
    let mut filter = p.filter(&state, &me).await?;
    filter.q_plate = filter.q.as_deref().map(plate_key).filter(|k| !k.is_empty());
    let rows = db::resources::list::<Vehicle>(&state.pool, me.territory(), &filter).await?;
    let total = db::resources::count::<Vehicle>(&state.pool, me.territory(), &filter).await?;
    Ok(axum::Json(VehicleList {
        vehicles: rows.into_iter().map(|r| Vehicle::view(r, &me)).collect(),
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
    resources::get_one::<Vehicle>(&state, &me, id).await
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
    me.may(Permission::ManageResources)?;
    let name = params::display_name("name", &req.name)?;
    let plate = plate("plate", &req.plate)?;
    let vehicle_kind = vehicle_kind(&req.vehicle_kind)?;
    let crs = crs_or_wgs84(req.crs.as_deref())?;
    let unit_id = home_unit(&state, &me, &req.unit).await?;
    let mut tx = state.pool.begin().await?;
    if db::resources::plate_holder(&mut tx, me.territory(), &plate, None)
        .await?
        .is_some()
    {
        return Err(plate_taken(&plate));
    }
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
    .map_err(|_: Taken| plate_taken(&plate))?;
    let view = resources::finish::<Vehicle>(
        &state,
        &me,
        tx,
        Write::Created,
        id,
        |row| json!({ "name": row.name, "plate": row.own.plate, "kind": row.own.vehicle_kind }),
    )
    .await?;
    Ok((StatusCode::CREATED, view).into_response())
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
    me.may(Permission::ManageResources)?;
    let before = resources::visible::<Vehicle>(&state, &me, id).await?;
    let name = optional(req.name.as_deref(), |n| params::display_name("name", n))?;
    let plate = optional(req.plate.as_deref(), |p| plate("plate", p))?;
    let vehicle_kind = optional(req.vehicle_kind.as_deref(), vehicle_kind)?;
    let crs = optional(req.crs.as_deref(), |c| params::crs("crs", c))?;
    let unit_id = match req.unit.as_deref() {
        None => None,
        Some(u) => Some(home_unit(&state, &me, u).await?),
    };
    let mut tx = state.pool.begin().await?;
    let kept_plate = plate.as_deref().unwrap_or(&before.own.plate);
    if (plate.is_some() || unit_id.is_some())
        && db::resources::plate_holder(&mut tx, me.territory(), kept_plate, Some(id))
            .await?
            .is_some()
    {
        return Err(plate_taken(kept_plate));
    }
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
    .map_err(|_: Taken| plate_taken(plate.as_deref().unwrap_or_default()))?;
    resources::finish::<Vehicle>(&state, &me, tx, Write::Updated, id, |after| {
        json!({
            "unit": {"from": before.unit_code, "to": after.unit_code},
            "plate": {"from": before.own.plate, "to": after.own.plate},
            "vehicle_kind": after.own.vehicle_kind,
            "on_duty": after.on_duty,
            "crs": after.crs,
            "disabled": after.disabled_at.is_some(),
        })
    })
    .await
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
    resources::list_devices::<Vehicle>(&state, &me, id).await
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
    resources::issue_device::<Vehicle>(&state, &me, id, &req).await
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
