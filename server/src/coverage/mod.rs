//! Patrol coverage, density and KPIs for leaders, rolled up the hierarchy.
//!
//! - `rollup.rs`: positions → `track_cells` (per hour and H3 cell at resolution 11), as they
//!   arrive, and the same patrolled cells as bitmaps per resolution-8 block and hour / day
//!   (`patrol_blocks_hourly`, `patrol_blocks_daily`, 343 bits each).
//! - here: coverage of a unit over a window (the share of its grids' cells that on-duty
//!   patrols passed through, area-weighted up the hierarchy), density per H3 cell, and the
//!   case and worker KPIs.
//!
//! A grid's cells are those whose centre it contains (`gridwall_spatial::grid_cells`); they
//! are computed once per hierarchy version and resolution and cached, and so are its
//! resolution-11 cells as bit masks per block ([`CoverageCache::masks_of`], warmed for every
//! grid at start by [`warm_task`]). [`coverage`] ORs the window's bitmaps (hourly at the
//! edges, daily in the middle) and counts the bits under each grid's masks;
//! [`coverage_per_cell`] is the previous path (a row per cell and hour of `track_cells`),
//! kept as the reference the tests and the bench compare with.

mod error;
pub mod rollup;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use gridwall_spatial::{
    BlockBits, CellCount, CellIndex, Level, Resolution, UnitId, area_weighted, block_masks, cell_at,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::context::Core;
use crate::hierarchy::LoadedHierarchy;

pub use error::{Error, Result};

/// What coverage reads from the running server: the caches of grid cells and masks.
pub trait CoverageContext: Core {
    /// Grid cells and masks, cached per hierarchy version.
    fn coverage(&self) -> &CoverageCache;
}

/// Memory for cached grid cells, bytes.
const CELL_CACHE_BYTES: u64 = 256 << 20;

/// Memory for cached grid masks, bytes (the whole demo city at resolution 11 takes a few MB).
const MASK_CACHE_BYTES: u64 = 128 << 20;

/// A grid's resolution-11 cells: (block as stored, the block's cells of the grid), by block.
pub type GridMasks = Arc<Vec<(i64, BlockBits)>>;

/// The coverage part of the state: grid cells by (hierarchy version, resolution, grid), and
/// grid masks by (hierarchy version, grid).
#[derive(Debug, Clone)]
pub struct CoverageCache {
    cells: moka::future::Cache<(i64, u8, u32), Arc<Vec<CellIndex>>>,
    masks: moka::future::Cache<(i64, u32), GridMasks>,
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
            masks: moka::future::Cache::builder()
                .weigher(|_, v: &GridMasks| {
                    u32::try_from(v.len() * std::mem::size_of::<(i64, BlockBits)>() + 64)
                        .unwrap_or(u32::MAX)
                })
                .max_capacity(MASK_CACHE_BYTES)
                .build(),
        }
    }
}

/// A grid's resolution-11 cells as block masks.
fn masks_from(h: &gridwall_spatial::Hierarchy, g: UnitId) -> GridMasks {
    let cells = gridwall_spatial::grid_cells(h, g, rollup::ROLLUP_RESOLUTION);
    Arc::new(
        block_masks(&cells)
            .into_iter()
            .map(|(b, m)| (rollup::cell_key(b), m))
            .collect(),
    )
}

/// Computes the masks of every grid of the current hierarchy (on one blocking thread, grid
/// by grid, so that a request needing one is not kept waiting), then again whenever the
/// hierarchy changes: the first coverage query after start is then as fast as the next.
pub async fn warm_task(state: impl CoverageContext) {
    let mut warmed = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tick.tick().await;
        let Some(loaded) = state.hierarchy().get() else {
            continue;
        };
        if warmed == Some(loaded.version) {
            continue;
        }
        let started = std::time::Instant::now();
        let h = &loaded.hierarchy;
        let grids: Vec<UnitId> = (0..h.len())
            .filter_map(|i| u32::try_from(i).ok().map(UnitId))
            .filter(|&u| h.unit(u).level == Level::Grid)
            .collect();
        for chunk in grids.chunks(64) {
            if let Err(e) = state.coverage().masks_of(&loaded, chunk).await {
                tracing::warn!(error = ?e, "warming the coverage masks failed");
                break;
            }
        }
        tracing::info!(
            grids = grids.len(),
            version = loaded.version,
            secs = started.elapsed().as_secs_f64(),
            "coverage masks warmed"
        );
        warmed = Some(loaded.version);
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
    ) -> Result<HashMap<UnitId, Arc<Vec<CellIndex>>>> {
        let r = u8::from(res);
        per_grid(
            &self.cells,
            loaded,
            grids,
            |g| (loaded.version, r, g.0),
            move |h, g| Arc::new(gridwall_spatial::grid_cells(h, g, res)),
            "grid cells",
        )
        .await
    }

    /// The resolution-11 cells of each of `grids` as block masks (computed off the async
    /// runtime when missing).
    ///
    /// # Errors
    ///
    /// When the computing task fails (a bug).
    pub async fn masks_of(
        &self,
        loaded: &Arc<LoadedHierarchy>,
        grids: &[UnitId],
    ) -> Result<HashMap<UnitId, GridMasks>> {
        per_grid(
            &self.masks,
            loaded,
            grids,
            |g| (loaded.version, g.0),
            masks_from,
            "grid masks",
        )
        .await
    }
}

/// A per-grid value of `grids` from `cache`, the missing ones computed together off the async
/// runtime and remembered.
async fn per_grid<K, V>(
    cache: &moka::future::Cache<K, V>,
    loaded: &Arc<LoadedHierarchy>,
    grids: &[UnitId],
    key: impl Fn(UnitId) -> K,
    compute: impl Fn(&gridwall_spatial::Hierarchy, UnitId) -> V + Send + 'static,
    what: &str,
) -> Result<HashMap<UnitId, V>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut out = HashMap::with_capacity(grids.len());
    let mut missing = Vec::new();
    for &g in grids {
        match cache.get(&key(g)).await {
            Some(v) => {
                out.insert(g, v);
            }
            None => missing.push(g),
        }
    }
    if !missing.is_empty() {
        let l = Arc::clone(loaded);
        let computed = tokio::task::spawn_blocking(move || {
            missing
                .into_iter()
                .map(|g| (g, compute(&l.hierarchy, g)))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("{what}: {e}")))?;
        for (g, v) in computed {
            cache.insert(key(g), v.clone()).await;
            out.insert(g, v);
        }
    }
    Ok(out)
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

/// A half-open time range [start, end).
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// The UTC hours and days a window [from, to) of whole hours reads: hours at the edges, whole
/// days in the middle. Answers (hour ranges, day range).
#[must_use]
pub fn split_window(from: DateTime<Utc>, to: DateTime<Utc>) -> ([Span; 2], Span) {
    let day = TimeDelta::days(1);
    let first = from.duration_trunc(day).unwrap_or(from);
    let first = if first < from { first + day } else { first };
    let last = to.duration_trunc(day).unwrap_or(to);
    if first < last {
        ([(from, first), (last, to)], (first, last))
    } else {
        ([(from, to), (to, to)], (to, to))
    }
}

/// The patrolled cells of `blocks` over [from, to) (whole hours), OR-ed per block.
///
/// # Errors
///
/// Database failures; a malformed bitmap (a bug).
pub async fn visited_blocks(
    pool: &sqlx::PgPool,
    blocks: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, BlockBits>> {
    let ([(h0, h1), (h2, h3)], (d0, d1)) = split_window(from, to);
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT block, bit_or(bits)::text FROM (
             SELECT block, bits FROM patrol_blocks_hourly
             WHERE block = ANY($1) AND ((hour >= $2 AND hour < $3) OR (hour >= $4 AND hour < $5))
             UNION ALL
             SELECT block, bits FROM patrol_blocks_daily
             WHERE block = ANY($1) AND day >= $6 AND day < $7
         ) x GROUP BY block",
    )
    .bind(blocks)
    .bind(h0)
    .bind(h1)
    .bind(h2)
    .bind(h3)
    .bind(d0)
    .bind(d1)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(b, s)| {
            BlockBits::from_bit_string(&s)
                .map(|bits| (b, bits))
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad bitmap of block {b}")))
        })
        .collect()
}

/// The area of each grid at or under `unit_db`, m².
async fn grid_areas(state: &impl CoverageContext, unit_db: i64) -> Result<HashMap<i64, f64>> {
    Ok(sqlx::query_as::<_, (i64, f64)>(
        "SELECT g.id, g.area_m2 FROM units g
           JOIN territory($1) under ON g.tree_lo BETWEEN under.lo AND under.hi
         WHERE g.level = 4",
    )
    .bind(unit_db)
    .fetch_all(state.pool())
    .await?
    .into_iter()
    .collect())
}

/// Coverage of `unit` over [from, to) at `res` (≤ 11), from the block bitmaps: each grid's
/// visited cells are the bits of its masks set in the OR of the window's bitmaps. Same answer
/// as [`coverage_per_cell`].
///
/// # Errors
///
/// 422 when cells are asked for a unit with more than [`MAX_LISTED_CELLS`]; database
/// failures.
pub async fn coverage(
    state: &impl CoverageContext,
    loaded: &Arc<LoadedHierarchy>,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: Resolution,
    list_cells: bool,
) -> Result<CoverageReport> {
    let grids = grids_under(&loaded.hierarchy, unit);
    let masks = state.coverage().masks_of(loaded, &grids).await?;
    let mut blocks: Vec<i64> = masks
        .values()
        .flat_map(|m| m.iter().map(|(b, _)| *b))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    let seen = visited_blocks(state.pool(), &blocks, from, to).await?;
    let areas = grid_areas(state, loaded.db_ids[unit.0 as usize]).await?;
    let area_of = |g: &UnitId| {
        areas
            .get(&loaded.db_ids[g.0 as usize])
            .copied()
            .unwrap_or(0.0)
    };
    if res == rollup::ROLLUP_RESOLUTION && !list_cells {
        // Counting bits is enough.
        let per_grid: HashMap<UnitId, (CellCount, f64)> = grids
            .iter()
            .map(|g| {
                let mut count = CellCount::default();
                for (b, m) in masks.get(g).map_or(&[][..], |v| v.as_slice()) {
                    count.total += u64::from(m.count());
                    if let Some(v) = seen.get(b) {
                        count.visited += u64::from(m.and(v).count());
                    }
                }
                (*g, (count, area_of(g)))
            })
            .collect();
        return assemble(loaded, unit, from, to, res, &per_grid, None);
    }
    // The unit's visited resolution-11 cells, then as in the per-cell path.
    let mut visited11: HashSet<CellIndex> = HashSet::new();
    for m in masks.values() {
        for (b, mask) in m.iter() {
            let Some(v) = seen.get(b) else { continue };
            let Some(block) = rollup::cell_from_key(*b) else {
                continue;
            };
            visited11.extend(mask.and(v).bits().filter_map(|bit| cell_at(block, bit)));
        }
    }
    let visited: HashSet<CellIndex> = if res == rollup::ROLLUP_RESOLUTION {
        visited11
    } else {
        visited11
            .into_iter()
            .filter_map(|c| c.parent(res))
            .collect()
    };
    let cells = state.coverage().cells_of(loaded, &grids, res).await?;
    let per_grid = count_cells(&grids, &cells, &visited, area_of);
    assemble(
        loaded,
        unit,
        from,
        to,
        res,
        &per_grid,
        list_cells.then_some((&grids, &cells, &visited)),
    )
}

fn count_cells(
    grids: &[UnitId],
    cells: &HashMap<UnitId, Arc<Vec<CellIndex>>>,
    visited: &HashSet<CellIndex>,
    area_of: impl Fn(&UnitId) -> f64,
) -> HashMap<UnitId, (CellCount, f64)> {
    grids
        .iter()
        .map(|g| {
            let c = cells.get(g).map_or(&[][..], |v| v.as_slice());
            let count = CellCount {
                visited: u64::try_from(c.iter().filter(|x| visited.contains(x)).count())
                    .unwrap_or(u64::MAX),
                total: u64::try_from(c.len()).unwrap_or(u64::MAX),
            };
            (*g, (count, area_of(g)))
        })
        .collect()
}

type Listing<'a> = (
    &'a [UnitId],
    &'a HashMap<UnitId, Arc<Vec<CellIndex>>>,
    &'a HashSet<CellIndex>,
);

/// The report from each grid's count and area: the unit and its children area-weighted, and
/// the cells when `list` holds them.
fn assemble(
    loaded: &LoadedHierarchy,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: Resolution,
    per_grid: &HashMap<UnitId, (CellCount, f64)>,
    list: Option<Listing<'_>>,
) -> Result<CoverageReport> {
    let h = &loaded.hierarchy;
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
    let cells = if let Some((grids, cells, visited)) = list {
        if top.total_cells > MAX_LISTED_CELLS {
            return Err(Error::Refused {
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
        for g in grids {
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

/// Coverage of `unit` over [from, to) at `res` (≤ 11), from the per-cell roll-up
/// (`track_cells`, a row per patrolled cell and hour): the path before the block bitmaps,
/// kept as the reference.
///
/// # Errors
///
/// 422 when cells are asked for a unit with more than [`MAX_LISTED_CELLS`]; database
/// failures.
pub async fn coverage_per_cell(
    state: &impl CoverageContext,
    loaded: &Arc<LoadedHierarchy>,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    res: Resolution,
    list_cells: bool,
) -> Result<CoverageReport> {
    let grids = grids_under(&loaded.hierarchy, unit);
    let cells = state.coverage().cells_of(loaded, &grids, res).await?;
    let unit_db = loaded.db_ids[unit.0 as usize];
    let keys: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT t.cell FROM track_cells t JOIN units g ON g.id = t.grid_id
           JOIN territory($1) under ON g.tree_lo BETWEEN under.lo AND under.hi
         WHERE t.patrolled AND t.hour >= $2 AND t.hour < $3",
    )
    .bind(unit_db)
    .bind(from)
    .bind(to)
    .fetch_all(state.pool())
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
    let areas = grid_areas(state, unit_db).await?;
    let area_of = |g: &UnitId| {
        areas
            .get(&loaded.db_ids[g.0 as usize])
            .copied()
            .unwrap_or(0.0)
    };
    let per_grid = count_cells(&grids, &cells, &visited, area_of);
    assemble(
        loaded,
        unit,
        from,
        to,
        res,
        &per_grid,
        list_cells.then_some((&grids, &cells, &visited)),
    )
}
