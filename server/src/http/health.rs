//! `GET /api/health`: is the database reachable, which hierarchy is served, how big is it.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database cannot be reached or no hierarchy is loaded.
    pub status: &'static str,
    /// Whether `SELECT 1` answered within 2 s.
    pub database: bool,
    /// The hierarchy served from memory, if any.
    pub hierarchy: Option<HierarchyHealth>,
}

/// The loaded hierarchy.
#[derive(Debug, Serialize, ToSchema)]
pub struct HierarchyHealth {
    /// Version (changes on every import).
    pub version: i64,
    /// H3 resolution of the grid cover.
    pub resolution: u8,
    /// Units per level.
    pub counts: LevelCounts,
    /// Heap bytes of the in-memory hierarchy and its index.
    pub heap_bytes: usize,
}

/// A count per level.
#[derive(Debug, Serialize, ToSchema)]
pub struct LevelCounts {
    /// 市.
    pub city: usize,
    /// 县（市、区）.
    pub county: usize,
    /// 乡镇（街道）.
    pub township: usize,
    /// 村（社区）.
    pub village: usize,
    /// 网格.
    pub grid: usize,
}

impl From<[usize; 5]> for LevelCounts {
    fn from(c: [usize; 5]) -> Self {
        Self {
            city: c[0],
            county: c[1],
            township: c[2],
            village: c[3],
            grid: c[4],
        }
    }
}

/// Liveness and readiness in one: 200 when the database answers and a hierarchy is loaded,
/// 503 otherwise (with the same body).
#[utoipa::path(get, path = "/api/health", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = tokio::time::timeout(Duration::from_secs(2), crate::db::ping(&state.pool))
        .await
        .is_ok_and(|r| r.is_ok());
    let hierarchy = state.hierarchy.get().map(|h| HierarchyHealth {
        version: h.version,
        resolution: u8::from(h.hierarchy.resolution()),
        counts: h.hierarchy.counts_by_level().into(),
        heap_bytes: h.hierarchy.heap_size_bytes(),
    });
    let ok = database && hierarchy.is_some();
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Health {
            status: if ok { "ok" } else { "degraded" },
            database,
            hierarchy,
        }),
    )
}
