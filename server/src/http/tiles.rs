//! Vector tiles of the hierarchy, rendered by PostGIS (`ST_AsMVT`) and cached in memory by
//! hierarchy version, so a new import never serves stale tiles.
//!
//! Layers: `county`, `township`, `village`, `grid` (polygons) and `label` (one point per unit,
//! `ST_PointOnSurface`), each from its own minimum zoom; properties `code`, `name`, `level`.

use std::io::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
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

/// Highest zoom served (MapLibre's limit); beyond [`MAX_DATA_ZOOM`] clients may overzoom.
pub const MAX_ZOOM: u32 = 22;
/// Highest zoom the TileJSON advertises.
pub const MAX_DATA_ZOOM: u8 = 16;

/// A polygon layer of the tiles: its name, level, and the zooms from which it and its labels
/// appear. The numbers suit a city of ~10,000 km² with ~1 km² grids.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct LayerSpec {
    /// Layer name in the tile.
    pub id: &'static str,
    /// Level 1–4.
    pub level: u8,
    /// First zoom with the polygons.
    pub minzoom: u8,
    /// First zoom with the labels of this level (in the `label` layer).
    pub label_minzoom: u8,
}

/// The polygon layers, top level first.
pub const LAYERS: [LayerSpec; 4] = [
    LayerSpec {
        id: "county",
        level: 1,
        minzoom: 0,
        label_minzoom: 6,
    },
    LayerSpec {
        id: "township",
        level: 2,
        minzoom: 7,
        label_minzoom: 9,
    },
    LayerSpec {
        id: "village",
        level: 3,
        minzoom: 9,
        label_minzoom: 11,
    },
    LayerSpec {
        id: "grid",
        level: 4,
        minzoom: 11,
        label_minzoom: 13,
    },
];

/// One rendered tile, kept both plain and gzip-compressed.
#[derive(Debug)]
pub struct Tile {
    raw: Bytes,
    gzip: Bytes,
}

/// Rendered tiles keyed by (hierarchy version, z, x, y), bounded by bytes.
#[derive(Clone, Debug)]
pub struct TileCache {
    /// Key: (hierarchy version, scope root id or 0 for everything, z, x, y).
    cache: moka::future::Cache<(i64, i64, u8, u32, u32), Arc<Tile>>,
}

impl TileCache {
    /// A cache holding at most `max_bytes` of tiles.
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, t: &Arc<Tile>| {
                    u32::try_from(t.raw.len() + t.gzip.len() + 64).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }
}

fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(raw)?;
    enc.finish()
}

async fn render(
    state: &AppState,
    scope_id: Option<i64>,
    z: u8,
    x: u32,
    y: u32,
) -> Result<Arc<Tile>, ApiError> {
    let min = |level: usize| i32::from(LAYERS[level].minzoom);
    let label = |level: usize| i32::from(LAYERS[level].label_minzoom);
    let raw = sqlx::query_scalar!(
        r#"WITH b AS (
             SELECT ST_TileEnvelope($1, $2, $3) AS env,
                    ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096) AS big
           ),
           poly AS (
             SELECT u.level, u.code, u.name,
                    ST_AsMVTGeom(u.geom_3857, b.env, 4096, 64, true) AS geom
             FROM units u, b
             WHERE u.geom_3857 && b.big
               AND $1 >= CASE u.level WHEN 1 THEN $4 WHEN 2 THEN $5 WHEN 3 THEN $6
                                      WHEN 4 THEN $7 ELSE 99 END
               AND ($12::bigint IS NULL
                    OR u.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $12)
                                     AND (SELECT tree_hi FROM units WHERE id = $12))
           ),
           lab AS (
             SELECT u.level, u.code, u.name,
                    ST_AsMVTGeom(u.label_3857, b.env, 4096, 0, true) AS geom
             FROM units u, b
             WHERE u.label_3857 && b.env
               AND $1 >= CASE u.level WHEN 1 THEN $8 WHEN 2 THEN $9 WHEN 3 THEN $10
                                      WHEN 4 THEN $11 ELSE 99 END
               AND ($12::bigint IS NULL
                    OR u.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $12)
                                     AND (SELECT tree_hi FROM units WHERE id = $12))
           )
           SELECT coalesce((SELECT ST_AsMVT(t, 'county', 4096, 'geom')
                            FROM (SELECT code, name, level, geom FROM poly
                                  WHERE level = 1 AND geom IS NOT NULL) t), '')
               || coalesce((SELECT ST_AsMVT(t, 'township', 4096, 'geom')
                            FROM (SELECT code, name, level, geom FROM poly
                                  WHERE level = 2 AND geom IS NOT NULL) t), '')
               || coalesce((SELECT ST_AsMVT(t, 'village', 4096, 'geom')
                            FROM (SELECT code, name, level, geom FROM poly
                                  WHERE level = 3 AND geom IS NOT NULL) t), '')
               || coalesce((SELECT ST_AsMVT(t, 'grid', 4096, 'geom')
                            FROM (SELECT code, name, level, geom FROM poly
                                  WHERE level = 4 AND geom IS NOT NULL) t), '')
               || coalesce((SELECT ST_AsMVT(t, 'label', 4096, 'geom')
                            FROM (SELECT code, name, level, geom FROM lab
                                  WHERE geom IS NOT NULL ORDER BY level, code) t), '')
             AS "mvt!""#,
        i32::from(z),
        i32::try_from(x).unwrap_or(i32::MAX),
        i32::try_from(y).unwrap_or(i32::MAX),
        min(0),
        min(1),
        min(2),
        min(3),
        label(0),
        label(1),
        label(2),
        label(3),
        scope_id,
    )
    .fetch_one(&state.pool)
    .await?;
    let gz = if raw.is_empty() {
        Vec::new()
    } else {
        gzip(&raw).map_err(|e| ApiError::Internal(e.into()))?
    };
    Ok(Arc::new(Tile {
        raw: raw.into(),
        gzip: gz.into(),
    }))
}

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
    let scope_id = me.scope_id();
    let key = (version, scope_id.unwrap_or(0), z8, x, y);
    let metrics = state.metrics.clone();
    let tile = if let Some(t) = state.tiles.cache.get(&key).await {
        metrics.tile_cache_hits.inc();
        t
    } else {
        metrics.tile_cache_misses.inc();
        state
            .tiles
            .cache
            .try_get_with(key, render(&state, scope_id, z8, x, y))
            .await
            .map_err(|e: Arc<ApiError>| match &*e {
                ApiError::Unavailable { code, message } => ApiError::Unavailable {
                    code,
                    message: message.clone(),
                },
                other => ApiError::Internal(anyhow::anyhow!("tile rendering failed: {other}")),
            })?
    };

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
    let bounds = db::units::extent(&state.pool, me.scope_id())
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
            (bounds[0] + bounds[2]) / 2.0,
            (bounds[1] + bounds[3]) / 2.0,
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
