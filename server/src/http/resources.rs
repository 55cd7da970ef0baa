//! What `/api/workers` and `/api/vehicles` share, written once over the kind of resource
//! ([`Resource`]): the list filters, reading one resource of the caller's territory (404
//! outside it), the write's ending (read back, audit, commit, live refresh) and the device
//! routes. The modules of the two kinds keep their routes, bodies and kind-specific checks.

use axum::Json;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Postgres, Transaction};
use utoipa::IntoParams;

use super::devices::{self, DeviceList, NewDeviceRequest, Owner};
use super::error::{ApiError, ApiResult};
use super::params;
use crate::audit::{self, Event};
use crate::auth::{Permission, Principal};
use crate::db;
use crate::db::resources::{Kind, ResourceFilter, ResourceRow};
use crate::state::AppState;
use crate::territory::Territory;

/// A kind of resource as the API shows it.
pub trait Resource: Kind {
    /// The error code of one not found in the caller's territory: `worker_not_found`, ….
    const NOT_FOUND: &'static str;
    /// The audit action of a creation: `worker.create`, ….
    const CREATED: &'static str;
    /// The audit action of a change: `worker.update`, ….
    const UPDATED: &'static str;
    /// The JSON of one.
    type View: Serialize;

    /// The JSON of `row` for the caller `me`.
    fn view(row: ResourceRow<Self>, me: &Principal) -> Self::View;
}

/// 404 for a resource outside the caller's territory, as if it did not exist.
#[must_use]
pub fn not_found<K: Resource>(id: i64) -> ApiError {
    ApiError::not_found(
        K::NOT_FOUND,
        format!("no {} {id} in your territory", K::NAME),
    )
}

/// Filters of a worker or vehicle list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only those whose home unit (a worker's grid) lies under this unit (code).
    unit: Option<String>,
    /// Name or home unit name contains this; so does a worker's phone (where the caller sees
    /// phones) or a vehicle's plate.
    q: Option<String>,
    /// `true`: on duty only; `false`: off duty only.
    on_duty: Option<String>,
    /// `true` to include disabled ones.
    include_disabled: Option<String>,
    /// At most this many (1–10000, default 1000).
    limit: Option<String>,
    /// Skip this many.
    offset: Option<String>,
}

impl ListParams {
    /// The filter, checked (400 naming the first bad parameter); neither phones nor plates are
    /// searched until the kind says so.
    pub async fn filter(self, state: &AppState, me: &Principal) -> ApiResult<ResourceFilter> {
        let under_unit_id =
            params::unit_filter(&state.pool, me.territory(), self.unit.as_deref()).await?;
        Ok(ResourceFilter {
            under_unit_id,
            q: self.q.filter(|q| !q.trim().is_empty()),
            search_phone: false,
            q_plate: None,
            on_duty: params::optional_bool("on_duty", self.on_duty.as_deref())?,
            include_disabled: params::optional_bool(
                "include_disabled",
                self.include_disabled.as_deref(),
            )?
            .unwrap_or(false),
            limit: params::optional_i64_in("limit", self.limit.as_deref(), 1, 10_000)?
                .unwrap_or(1000),
            offset: params::optional_i64_in("offset", self.offset.as_deref(), 0, i64::MAX)?
                .unwrap_or(0),
        })
    }
}

/// The resource `id` of kind `K` in the caller's territory, else 404.
pub async fn visible<K: Resource>(
    state: &AppState,
    me: &Principal,
    id: i64,
) -> ApiResult<ResourceRow<K>> {
    db::resources::get(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| not_found::<K>(id))
}

/// `GET /api/{kind}s/{id}`: one resource of the caller's territory.
pub async fn get_one<K: Resource>(
    state: &AppState,
    me: &Principal,
    id: i64,
) -> ApiResult<Json<K::View>> {
    me.may(Permission::Read)?;
    let row = visible::<K>(state, me, id).await?;
    Ok(Json(K::view(row, me)))
}

/// The checked value of an optional field: `None` when absent.
pub fn optional<'a, T>(
    raw: Option<&'a str>,
    check: impl FnOnce(&'a str) -> ApiResult<T>,
) -> ApiResult<Option<T>> {
    raw.map(check).transpose()
}

/// The datum of a new resource: `wgs84` unless told.
pub fn crs_or_wgs84(raw: Option<&str>) -> ApiResult<&'static str> {
    raw.map_or(Ok("wgs84"), |c| params::crs("crs", c))
}

/// Which write [`finish`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new resource: audited as `K::CREATED`.
    Created,
    /// A change: audited as `K::UPDATED`.
    Updated,
}

/// Ends a write of the resource `id` in `tx`: reads it back, records the write in the audit
/// log with `details` of the resource as it is now, commits, brings the live picture up to
/// date and answers with the resource.
pub async fn finish<K: Resource>(
    state: &AppState,
    me: &Principal,
    mut tx: Transaction<'_, Postgres>,
    write: Write,
    id: i64,
    details: impl FnOnce(&ResourceRow<K>) -> Value,
) -> ApiResult<Json<K::View>> {
    let row = db::resources::get::<K>(&mut *tx, Territory::All, id).await?;
    let (action, row) = match write {
        Write::Created => (
            K::CREATED,
            row.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("created {} {id} not found", K::NAME))
            })?,
        ),
        Write::Updated => (K::UPDATED, row.ok_or_else(|| not_found::<K>(id))?),
    };
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok(action, K::NAME, id)
            .unit(Some(&row.unit_code))
            .details(details(&row)),
    )
    .await?;
    tx.commit().await?;
    super::refresh_live(state, id).await;
    Ok(Json(K::view(row, me)))
}

fn owner<K: Resource>(row: &ResourceRow<K>) -> Owner<'_> {
    Owner {
        id: row.id,
        kind: K::KIND,
        unit_code: &row.unit_code,
        disabled: row.disabled_at.is_some(),
    }
}

/// `GET /api/{kind}s/{id}/devices` (admins and dispatchers).
pub async fn list_devices<K: Resource>(
    state: &AppState,
    me: &Principal,
    id: i64,
) -> ApiResult<Json<DeviceList>> {
    me.may(Permission::ManageResources)?;
    let row = visible::<K>(state, me, id).await?;
    devices::list_for(state, owner(&row)).await
}

/// `POST /api/{kind}s/{id}/devices` (admins and dispatchers).
pub async fn issue_device<K: Resource>(
    state: &AppState,
    me: &Principal,
    id: i64,
    req: &NewDeviceRequest,
) -> ApiResult<Response> {
    me.may(Permission::ManageResources)?;
    let row = visible::<K>(state, me, id).await?;
    devices::issue_for(state, me, owner(&row), req).await
}
