//! Patrol coverage, density and KPIs for leaders, rolled up the hierarchy.
//!
//! - `rollup.rs`: positions → `track_cells` (per hour and H3 cell at resolution 11), as they
//!   arrive.
//! - here: coverage of a unit over a window (the share of its grids' cells that on-duty
//!   patrols passed through, area-weighted up the hierarchy), density per H3 cell, and the
//!   case and worker KPIs.
//!
//! A grid's cells are those whose centre it contains (`gridwall_spatial::grid_cells`); they
//! are computed once per hierarchy version and resolution and cached.

pub mod rollup;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridwall_spatial::{CellCount, CellIndex, Level, Resolution, UnitId, area_weighted};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::{ApiError, ApiResult};
use crate::state::{AppState, LoadedHierarchy};

/// Memory for cached grid cells, bytes.
const CELL_CACHE_BYTES: u64 = 256 << 20;

/// The coverage part of the state: grid cells by (hierarchy version, resolution, grid).
#[derive(Debug, Clone)]
pub struct CoverageCache {
    cells: moka::future::Cache<(i64, u8, u32), Arc<Vec<CellIndex>>>,
}

impl Default for CoverageCache {
    fn default() -> Self {
        Self {
            cells: moka::future::Cache::builder()
                .weigher(|_, v: &Arc<Vec<CellIndex>>| {
                    u32::try_from(v.len() * 8 + 64).unwrap_or(u32::MAX)
                })
                .max_capacity(CELL_CACHE_BYTES)
                .build(),
        }
    }
}

/// Every grid at or under `unit`.
#[must_use]
pub fn grids_under(h: &gridwall_spatial::Hierarchy, unit: UnitId) -> Vec<UnitId> {
    let mut out = Vec::new();
    let mut stack = vec![unit];
    while let Some(u) = stack.pop() {
        let x = h.unit(u);
        if x.level == Level::Grid {
            out.push(u);
        } else {
            stack.extend(x.children.iter().copied());
        }
    }
    out.sort_unstable();
    out
}

impl CoverageCache {
    /// The cells of each of `grids` at `res` (computed off the async runtime when missing).
    ///
    /// # Errors
    ///
    /// When the computing task fails (a bug).
    pub async fn cells_of(
        &self,
        loaded: &Arc<LoadedHierarchy>,
        grids: &[UnitId],
        res: Resolution,
    ) -> ApiResult<HashMap<UnitId, Arc<Vec<CellIndex>>>> {
        let r = u8::from(res);
        let mut out = HashMap::with_capacity(grids.len());
        let mut missing = Vec::new();
        for &g in grids {
            match self.cells.get(&(loaded.version, r, g.0)).await {
                Some(c) => {
                    out.insert(g, c);
                }
                None => missing.push(g),
            }
        }
        if !missing.is_empty() {
            let l = Arc::clone(loaded);
            let computed = tokio::task::spawn_blocking(move || {
                missing
                    .into_iter()
                    .map(|g| {
                        (
                            g,
                            Arc::new(gridwall_spatial::grid_cells(&l.hierarchy, g, res)),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("grid cells: {e}")))?;
            for (g, c) in computed {
                self.cells
                    .insert((loaded.version, r, g.0), Arc::clone(&c))
                    .await;
                out.insert(g, c);
            }
        }
        Ok(out)
    }
}

/// One unit's coverage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnitCoverage {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level 0–4.
    pub level: u8,
    /// Share of its cells patrolled, area-weighted over its grids (`null`: no cells).
    pub coverage: Option<f64>,
    /// Cells patrolled.
    pub visited_cells: u64,
    /// Cells.
    pub total_cells: u64,
}

/// A unit's coverage over a window, with its children's.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageReport {
    /// The unit.
    #[serde(flatten)]
    pub unit: UnitCoverage,
    /// H3 resolution of the cells.
    pub res: u8,
    /// Window start (whole hours).
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// Each child unit.
    pub children: Vec<UnitCoverage>,
    /// The visited and unvisited cells (H3 indexes), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<CellLists>,
}

/// Cells by visit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CellLists {
    /// Patrolled, H3 indexes (hex).
    pub visited: Vec<String>,
    /// Not patrolled.
    pub unvisited: Vec<String>,
}

/// Most cells a report lists.
pub const MAX_LISTED_CELLS: u64 = 200_000;

/// Coverage of `unit` over [from, to) at `res` (≤ 11), from the roll-up.
///
/// # Errors
///
/// 422 when cells are asked for a unit with more than [`MAX_LISTED_CELLS`]; database
/// failures.
pub async fn coverage(
    state: &AppState,
    loaded: &Arc<LoadedHierarchy>,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: Resolution,
    list_cells: bool,
) -> ApiResult<CoverageReport> {
    let h = &loaded.hierarchy;
    let grids = grids_under(h, unit);
    let cells = state.coverage.cells_of(loaded, &grids, res).await?;
    let unit_db = loaded.db_ids[unit.0 as usize];
    let keys: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT t.cell FROM track_cells t JOIN units g ON g.id = t.grid_id
         WHERE t.patrolled AND t.hour >= $2 AND t.hour < $3
           AND g.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1)
                             AND (SELECT tree_hi FROM units WHERE id = $1)",
    )
    .bind(unit_db)
    .bind(from)
    .bind(to)
    .fetch_all(&state.pool)
    .await?;
    let visited: HashSet<CellIndex> = keys
        .into_iter()
        .filter_map(rollup::cell_from_key)
        .filter_map(|c| {
            if res == rollup::ROLLUP_RESOLUTION {
                Some(c)
            } else {
                c.parent(res)
            }
        })
        .collect();
    let areas: HashMap<i64, f64> = sqlx::query_as::<_, (i64, f64)>(
        "SELECT g.id, g.area_m2 FROM units g
         WHERE g.level = 4
           AND g.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1)
                             AND (SELECT tree_hi FROM units WHERE id = $1)",
    )
    .bind(unit_db)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .collect();
    let per_grid: HashMap<UnitId, (CellCount, f64)> = grids
        .iter()
        .map(|g| {
            let c = cells.get(g).map_or(&[][..], |v| v.as_slice());
            let count = CellCount {
                visited: u64::try_from(c.iter().filter(|x| visited.contains(x)).count())
                    .unwrap_or(u64::MAX),
                total: u64::try_from(c.len()).unwrap_or(u64::MAX),
            };
            let area = areas
                .get(&loaded.db_ids[g.0 as usize])
                .copied()
                .unwrap_or(0.0);
            (*g, (count, area))
        })
        .collect();
    let summarise = |u: UnitId| -> UnitCoverage {
        let gs = if h.unit(u).level == Level::Grid {
            vec![u]
        } else {
            grids_under(h, u)
        };
        let mut sum = CellCount::default();
        let mut parts = Vec::with_capacity(gs.len());
        for g in gs {
            if let Some((c, area)) = per_grid.get(&g) {
                sum.visited += c.visited;
                sum.total += c.total;
                parts.push((c.share(), *area));
            }
        }
        let x = h.unit(u);
        UnitCoverage {
            code: x.code.to_string(),
            name: x.name.clone(),
            level: x.level.number(),
            coverage: area_weighted(parts),
            visited_cells: sum.visited,
            total_cells: sum.total,
        }
    };
    let top = summarise(unit);
    let children = h
        .unit(unit)
        .children
        .iter()
        .map(|&c| summarise(c))
        .collect();
    let cells = if list_cells {
        if top.total_cells > MAX_LISTED_CELLS {
            return Err(ApiError::Unprocessable {
                code: "too_many_cells",
                message: format!(
                    "{} has {} cells at resolution {}: list cells for a smaller unit (at most \
                     {MAX_LISTED_CELLS})",
                    top.code,
                    top.total_cells,
                    u8::from(res)
                ),
                details: serde_json::json!({"parameter": "cells"}),
            });
        }
        let mut v = Vec::new();
        let mut u = Vec::new();
        for g in &grids {
            for c in cells.get(g).map_or(&[][..], |x| x.as_slice()) {
                if visited.contains(c) {
                    v.push(c.to_string());
                } else {
                    u.push(c.to_string());
                }
            }
        }
        v.sort();
        u.sort();
        Some(CellLists {
            visited: v,
            unvisited: u,
        })
    } else {
        None
    };
    Ok(CoverageReport {
        unit: top,
        res: u8::from(res),
        from,
        to,
        children,
        cells,
    })
}
