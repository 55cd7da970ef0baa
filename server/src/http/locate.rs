//! `GET /api/locate`: which grid (and village, township, county) a position lies in, answered
//! from memory by the H3-indexed hierarchy.

use axum::Json;
use axum::extract::State;
use gridwall_spatial::{Hierarchy, LatLng, UnitId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::UnitRef;
use super::error::{ApiError, ApiResult, Query};
use super::params;
use crate::auth::Principal;
use crate::state::AppState;

/// A position.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateParams {
    /// Longitude, degrees (WGS84), −180…180.
    lng: Option<String>,
    /// Latitude, degrees (WGS84), −90…90.
    lat: Option<String>,
}

/// The grid that covers the position and its ancestors.
#[derive(Debug, Serialize, ToSchema)]
pub struct Located {
    /// 网格.
    pub grid: UnitRef,
    /// 村（社区）.
    pub village: UnitRef,
    /// 乡镇（街道）.
    pub township: UnitRef,
    /// 县（市、区）.
    pub county: UnitRef,
    /// 市, when the hierarchy has one.
    pub city: Option<UnitRef>,
    /// The hierarchy version that answered.
    pub hierarchy_version: i64,
}

fn unit_ref(h: &Hierarchy, id: UnitId) -> UnitRef {
    let u = h.unit(id);
    UnitRef::at_level(
        u.code.to_string(),
        u.name.clone(),
        i16::from(u.level.number()),
    )
}

/// Locates a position exactly (a point on a shared edge belongs to one of the grids), within
/// the caller's territory.
#[utoipa::path(get, path = "/api/locate", tag = "hierarchy", params(LocateParams),
    responses((status = 200, body = Located),
        (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody),
        (status = 404, description = "outside every grid of the caller's territory",
         body = super::error::ErrorBody),
        (status = 503, description = "no hierarchy imported yet", body = super::error::ErrorBody)))]
pub async fn locate(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<LocateParams>,
) -> ApiResult<Json<Located>> {
    let lng = params::required_f64("lng", p.lng.as_deref())?;
    let lat = params::required_f64("lat", p.lat.as_deref())?;
    let pos = LatLng::new(lat, lng).map_err(|e| {
        let name = if matches!(e, gridwall_spatial::InvalidLatLng::LatOutOfRange(_)) {
            "lat"
        } else {
            "lng"
        };
        ApiError::invalid_param(
            name,
            if name == "lat" { lat } else { lng },
            format!("{name}: {e}"),
        )
    })?;
    let loaded = params::hierarchy(&state)?;
    let h = &loaded.hierarchy;
    // A position outside the caller's territory answers like one outside every grid.
    let scope = me.scope(&loaded);
    let path = h
        .locate(pos)
        .filter(|p| scope.is_some_and(|s| s.contains_path(p)))
        .ok_or_else(|| {
            ApiError::not_found(
                "outside_hierarchy",
                format!("({lng}, {lat}) lies in no grid of your territory"),
            )
        })?;
    Ok(Json(Located {
        grid: unit_ref(h, path.grid),
        village: unit_ref(h, path.village),
        township: unit_ref(h, path.township),
        county: unit_ref(h, path.county),
        city: path.city.map(|c| unit_ref(h, c)),
        hierarchy_version: loaded.version,
    }))
}
