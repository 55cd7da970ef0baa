//! Vector tiles of the hierarchy, rendered by PostGIS (`ST_AsMVT`) and cached in memory by
//! hierarchy version and territory, so a new import never serves stale tiles and nobody is
//! served another territory's units.
//!
//! Layers: `county`, `township`, `village`, `grid` (polygons) and `label` (one point per unit,
//! `ST_PointOnSurface`), each from its own minimum zoom; properties `code`, `name`, `level`.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::territory::Territory;

/// Why a tile could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// Compressing failed.
    #[error("compressing the tile: {0}")]
    Gzip(#[from] std::io::Error),
}

/// (hierarchy version, scope root id or 0 for everything, z, x, y).
pub type TileKey = (i64, Territory, u8, u32, u32);

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
    /// The MVT bytes; empty for an empty tile.
    pub raw: Bytes,
    /// The same, gzip-compressed.
    pub gzip: Bytes,
}

/// Rendered tiles keyed by (hierarchy version, z, x, y), bounded by bytes.
#[derive(Clone, Debug)]
pub struct TileCache {
    /// Key: (hierarchy version, scope root id or 0 for everything, z, x, y).
    cache: moka::future::Cache<TileKey, Arc<Tile>>,
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

    /// The tile at `key` (hierarchy version, territory, z, x, y) from memory, and
    /// whether it was there; else rendered once by PostGIS however many ask at the same time.
    ///
    /// # Errors
    ///
    /// When rendering fails; shared by every request that waited for the same tile.
    pub async fn get_or_render(
        &self,
        pool: &PgPool,
        key: TileKey,
    ) -> Result<(Arc<Tile>, bool), Arc<Error>> {
        if let Some(t) = self.cache.get(&key).await {
            return Ok((t, true));
        }
        let (_, territory, z, x, y) = key;
        let tile = self
            .cache
            .try_get_with(key, render(pool, territory, z, x, y))
            .await?;
        Ok((tile, false))
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
    pool: &PgPool,
    territory: Territory,
    z: u8,
    x: u32,
    y: u32,
) -> Result<Arc<Tile>, Error> {
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
             FROM units u
               JOIN territory($12) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi, b
             WHERE u.geom_3857 && b.big
               AND $1 >= CASE u.level WHEN 1 THEN $4 WHEN 2 THEN $5 WHEN 3 THEN $6
                                      WHEN 4 THEN $7 ELSE 99 END
           ),
           lab AS (
             SELECT u.level, u.code, u.name,
                    ST_AsMVTGeom(u.label_3857, b.env, 4096, 0, true) AS geom
             FROM units u
               JOIN territory($12) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi, b
             WHERE u.label_3857 && b.env
               AND $1 >= CASE u.level WHEN 1 THEN $8 WHEN 2 THEN $9 WHEN 3 THEN $10
                                      WHEN 4 THEN $11 ELSE 99 END
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
        territory.root(),
    )
    .fetch_one(pool)
    .await?;
    let gz = if raw.is_empty() {
        Vec::new()
    } else {
        gzip(&raw)?
    };
    Ok(Arc::new(Tile {
        raw: raw.into(),
        gzip: gz.into(),
    }))
}
