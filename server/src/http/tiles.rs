//! The vector tile routes: one tile (rendered and cached by [`crate::tiles`]) and the
//! TileJSON that describes them.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Path};
use super::params;
use crate::auth::Principal;
use crate::db;
use crate::state::AppState;
use crate::tiles::{self, LAYERS};

/// Highest zoom served (MapLibre's limit); beyond [`MAX_DATA_ZOOM`] clients may overzoom.
pub const MAX_ZOOM: u32 = 22;
/// Highest zoom the TileJSON advertises.
pub const MAX_DATA_ZOOM: u8 = 16;

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name == "gzip" || name == "*") && !q_zero
        })
}

/// One vector tile (Mapbox Vector Tile 2.1, EPSG:3857, extent 4096). Answers 204 when the tile
/// is empty; gzip-compressed when the client accepts it.
#[utoipa::path(get, path = "/tiles/units/{z}/{x}/{y}", tag = "tiles",
    params(("z" = u8, Path, description = "Zoom 0–22"),
           ("x" = u32, Path, description = "Column, 0 … 2^z − 1"),
           ("y" = String, Path, description = "Row, 0 … 2^z − 1, with the suffix `.mvt`")),
    responses(
        (status = 200, description = "the tile", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 204, description = "empty tile"),
        (status = 400, body = super::error::ErrorBody)))]
pub async fn tile(
    State(state): State<AppState>,
    me: Principal,
    Path((z, x, y)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let z = params::u32_at_most("z", &z, MAX_ZOOM)?;
    let z8 = u8::try_from(z).unwrap_or(u8::MAX);
    let last = (1u32 << z) - 1;
    let x = params::u32_at_most("x", &x, last)?;
    let y_num = y.strip_suffix(".mvt").ok_or_else(|| {
        ApiError::invalid_param(
            "y",
            y.as_str(),
            "y must end in .mvt (/tiles/units/{z}/{x}/{y}.mvt)",
        )
    })?;
    let y = params::u32_at_most("y", y_num, last)?;

    let version = state.hierarchy.version().unwrap_or(0);
    let key = (version, me.territory(), z8, x, y);
    let (tile, hit) = state
        .tiles
        .get_or_render(&state.pool, key)
        .await
        .map_err(|e| match &*e {
            tiles::Error::Db(db) if crate::db::is_unavailable(db) => ApiError::unavailable_db(),
            other => ApiError::Internal(anyhow::anyhow!("tile rendering failed: {other}")),
        })?;
    if hit {
        state.metrics.tile_cache_hits.inc();
    } else {
        state.metrics.tile_cache_misses.inc();
    }

    if tile.raw.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut resp = if accepts_gzip(&headers) {
        let mut r = tile.gzip.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        tile.raw.clone().into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.mapbox-vector-tile"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::CACHE_CONTROL,
        // Per user territory: browsers may keep it, shared caches may not.
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(resp)
}

/// TileJSON 3.0.0 of the units tiles.
#[derive(Debug, Serialize, ToSchema)]
pub struct TileJson {
    /// `3.0.0`.
    pub tilejson: &'static str,
    /// Name.
    pub name: &'static str,
    /// Absolute tile URL template, with the hierarchy version for cache busting.
    pub tiles: Vec<String>,
    /// Lowest zoom.
    pub minzoom: u8,
    /// Highest zoom with own data.
    pub maxzoom: u8,
    /// [west, south, east, north] in degrees.
    pub bounds: [f64; 4],
    /// [lng, lat, zoom].
    pub center: [f64; 3],
    /// The layers and their zooms.
    pub vector_layers: Vec<VectorLayer>,
}

/// One layer in the TileJSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct VectorLayer {
    /// Layer name.
    pub id: &'static str,
    /// Property names and types.
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// First zoom.
    pub minzoom: u8,
    /// Last zoom.
    pub maxzoom: u8,
    /// Gridwall extension: for the `label` layer, the first zoom of each level's labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub label_minzoom: Option<serde_json::Value>,
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The TileJSON document of `/tiles/units/{z}/{x}/{y}.mvt`.
#[utoipa::path(get, path = "/tiles/units.json", tag = "tiles",
    responses((status = 200, body = TileJson)))]
pub async fn tilejson(
    State(state): State<AppState>,
    me: Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let bounds = db::units::extent(&state.pool, me.territory())
        .await?
        .unwrap_or([73.5, 18.0, 135.1, 53.6]);
    let version = state.hierarchy.version().unwrap_or(0);
    let fields = serde_json::json!({
        "code": "String", "name": "String", "level": "Number"
    });
    let mut vector_layers: Vec<VectorLayer> = LAYERS
        .iter()
        .map(|l| VectorLayer {
            id: l.id,
            fields: fields.clone(),
            minzoom: l.minzoom,
            maxzoom: MAX_DATA_ZOOM,
            label_minzoom: None,
        })
        .collect();
    vector_layers.push(VectorLayer {
        id: "label",
        fields,
        minzoom: LAYERS[0].label_minzoom,
        maxzoom: MAX_DATA_ZOOM,
        label_minzoom: Some(
            LAYERS
                .iter()
                .map(|l| (l.id.to_owned(), serde_json::Value::from(l.label_minzoom)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        ),
    });
    let body = Json(TileJson {
        tilejson: "3.0.0",
        name: "Gridwall units",
        // The territory is part of the URL: tiles differ per scope, and a browser that
        // switches accounts must not reuse another territory's cached tiles.
        tiles: vec![format!(
            "{}/tiles/units/{{z}}/{{x}}/{{y}}.mvt?v={version}&scope={}",
            origin(&headers),
            me.scope_unit.as_ref().map_or("all", |u| u.code.as_str())
        )],
        minzoom: 0,
        maxzoom: MAX_DATA_ZOOM,
        bounds,
        center: [
            f64::midpoint(bounds[0], bounds[2]),
            f64::midpoint(bounds[1], bounds[3]),
            9.0,
        ],
        vector_layers,
    });
    Ok((
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        )],
        body,
    )
        .into_response())
}
