//! Devices: the phones (or trackers) that report positions for a worker or a vehicle.
//!
//! Each device has two credentials, issued together and shown only then: a token (`gwd_…`,
//! `Authorization: Bearer` on the JSON ingest) and an OsmAnd identifier (the Traccar Client
//! app's "Device identifier", which that protocol sends as its only secret). Both are stored as
//! SHA-256; revoking a device ends both, rotating replaces both at once. The per-resource routes
//! (`/api/workers/{id}/devices`, `/api/vehicles/{id}/devices`) find and check their resource
//! and then share [`list_for`] and [`issue_for`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gridwall_spatial::ResourceKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody, Path};
use super::params;
use crate::audit::{self, Event};
use crate::auth::{self, Device, Permission, Principal, TokenKind};
use crate::db;
use crate::db::resources::{DeviceHashes, DeviceRow};
use crate::live::kind_str;
use crate::state::AppState;

/// A device as listed (its token and identifier are shown only when issued).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Id.
    pub id: i64,
    /// The worker or vehicle it reports for.
    pub resource_id: i64,
    /// Label (e.g. the phone).
    pub label: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<DeviceRow> for DeviceView {
    fn from(d: DeviceRow) -> Self {
        Self {
            id: d.id,
            resource_id: d.resource_id,
            label: d.label,
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            revoked_at: d.revoked_at,
        }
    }
}

/// Devices of a worker or vehicle.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    /// Newest first, revoked ones included.
    pub devices: Vec<DeviceView>,
}

/// A device to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceRequest {
    /// What the phone is, for people (1–100 characters).
    pub label: String,
}

/// A newly issued (or rotated) device with its credentials, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedDevice {
    /// The device.
    pub device: DeviceView,
    /// The token: `Authorization: Bearer <token>` on `POST /api/positions` and `/api/device`.
    pub token: String,
    /// The OsmAnd identifier (26 lowercase base32 characters, 128 random bits): the "Device
    /// identifier" of the Traccar Client app, which reports with it to `/api/osmand`.
    pub ident: String,
}

/// The worker or vehicle a device route is about, already found in the caller's territory.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// `resources.id`.
    pub id: i64,
    /// Worker or vehicle.
    pub kind: ResourceKind,
    /// Code of its home unit (for the audit log).
    pub unit_code: &'a str,
    /// Disabled resources get no new devices.
    pub disabled: bool,
}

/// The devices of a resource the caller may manage.
///
/// # Errors
///
/// When the database fails.
pub async fn list_for(state: &AppState, owner: Owner<'_>) -> ApiResult<axum::Json<DeviceList>> {
    let devices = db::resources::devices_of(&state.pool, owner.id).await?;
    Ok(axum::Json(DeviceList {
        devices: devices.into_iter().map(DeviceView::from).collect(),
    }))
}

/// Fresh credentials and their stored forms.
struct Credentials {
    token: String,
    ident: String,
    token_hash: Vec<u8>,
    ident_hash: Vec<u8>,
}

impl Credentials {
    fn new() -> ApiResult<Self> {
        let no_randomness = |e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}"));
        let token = auth::new_token(TokenKind::Device).map_err(no_randomness)?;
        let ident = auth::new_ident().map_err(no_randomness)?;
        Ok(Self {
            token_hash: auth::hash_token(&token),
            ident_hash: auth::hash_ident(&ident),
            token,
            ident,
        })
    }

    fn hashes(&self) -> DeviceHashes<'_> {
        DeviceHashes {
            token: &self.token_hash,
            ident: &self.ident_hash,
        }
    }
}

/// Issues a device for `owner` (already checked to be in the caller's territory): 201 with
/// the token and identifier, 409 when the resource is disabled or has the most active devices
/// allowed.
///
/// # Errors
///
/// As above; 422 for a bad label; when the database fails.
pub async fn issue_for(
    state: &AppState,
    me: &Principal,
    owner: Owner<'_>,
    req: &NewDeviceRequest,
) -> ApiResult<Response> {
    me.may(Permission::ManageResources)?;
    let kind = kind_str(owner.kind);
    if owner.disabled {
        let code = match owner.kind {
            ResourceKind::Worker => "worker_disabled",
            ResourceKind::Vehicle => "vehicle_disabled",
        };
        return Err(ApiError::conflict(
            code,
            format!("the {kind} is disabled; enable it first"),
        ));
    }
    let label = params::display_name("label", &req.label)?;
    let credentials = Credentials::new()?;
    let max = state.auth.config.max_devices_per_resource;
    let mut tx = state.pool.begin().await?;
    let device = db::resources::insert_device(
        &mut tx,
        owner.id,
        &credentials.hashes(),
        &label,
        Some(me.user_id),
        max,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: "device_limit",
        message: format!(
            "{kind} {} already has {max} active devices; revoke one first",
            owner.id
        ),
        details: json!({ "max_active": max }),
    })?;
    let mut details = serde_json::Map::new();
    details.insert(kind.to_owned(), json!(owner.id));
    details.insert("label".to_owned(), json!(label));
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("device.issue", "device", device.id)
            .unit(Some(owner.unit_code))
            .details(details.into()),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(IssuedDevice {
            device: device.into(),
            token: credentials.token,
            ident: credentials.ident,
        }),
    )
        .into_response())
}

fn device_not_found(id: i64) -> ApiError {
    ApiError::not_found(
        "device_not_found",
        format!("no device {id} in your territory"),
    )
}

/// Revokes a device (admins and dispatchers, in their territory): its token and its OsmAnd
/// identifier stop working; the phone's next request answers 401.
#[utoipa::path(delete, path = "/api/devices/{id}", tag = "devices",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    me.may(Permission::ManageResources)?;
    let found = db::resources::device_in_scope(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| device_not_found(id))?;
    let mut tx = state.pool.begin().await?;
    if db::resources::revoke_device(&mut *tx, id).await? {
        audit::record(
            &mut *tx,
            &me.actor(),
            Event::ok("device.revoke", "device", id)
                .unit(Some(&found.unit_code))
                .details(json!({
                    "resource": found.device.resource_id,
                    "label": found.device.label,
                })),
        )
        .await?;
    }
    tx.commit().await?;
    // The phone's next request must answer 401, not a cached yes.
    state.auth.devices.invalidate_all();
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a device a new token and a new OsmAnd identifier (admins and dispatchers, in their
/// territory), e.g. after a phone was lost or an identifier was seen by someone. The old ones
/// stop working at once; the new ones are shown this once. A revoked device stays revoked
/// (409).
#[utoipa::path(post, path = "/api/devices/{id}/rotate", tag = "devices",
    params(("id" = i64, Path, description = "device id")),
    responses((status = 200, body = IssuedDevice), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the device is revoked", body = ErrorBody)))]
pub async fn rotate_device(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<IssuedDevice>> {
    me.may(Permission::ManageResources)?;
    let found = db::resources::device_in_scope(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| device_not_found(id))?;
    let credentials = Credentials::new()?;
    let mut tx = state.pool.begin().await?;
    let device = db::resources::rotate_device(&mut *tx, id, &credentials.hashes())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "device_revoked",
                format!("device {id} is revoked; issue a new device instead"),
            )
        })?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("device.rotate", "device", id)
            .unit(Some(&found.unit_code))
            .details(json!({
                "resource": device.resource_id,
                "kind": found.resource_kind,
                "label": device.label,
            })),
    )
    .await?;
    tx.commit().await?;
    state.auth.devices.invalidate_all();
    Ok(axum::Json(IssuedDevice {
        device: device.into(),
        token: credentials.token,
        ident: credentials.ident,
    }))
}

/// What a device token is bound to.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceIdentity {
    /// Device id.
    pub device_id: i64,
    /// Its label.
    pub label: String,
    /// The worker or vehicle it reports for.
    pub resource_id: i64,
    /// `worker` or `vehicle`.
    pub resource_kind: String,
    /// The resource's name.
    pub resource_name: String,
    /// When the token was issued.
    pub issued_at: DateTime<Utc>,
}

/// For the phone: which worker or vehicle this device token reports for (a set-up check).
#[utoipa::path(get, path = "/api/device", tag = "devices",
    responses((status = 200, body = DeviceIdentity), (status = 401, body = ErrorBody)),
    security(("device_token" = [])))]
pub async fn whoami(device: Device) -> axum::Json<DeviceIdentity> {
    axum::Json(DeviceIdentity {
        device_id: device.device_id,
        label: device.label,
        resource_id: device.resource_id,
        resource_kind: device.resource_kind,
        resource_name: device.resource_name,
        issued_at: device.created_at,
    })
}
