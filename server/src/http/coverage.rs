//! The leaders' numbers: `GET /api/coverage` (patrol coverage rolled up the hierarchy),
//! `GET /api/density` (counts per H3 cell for hexagon heat maps) and `GET /api/kpi` (cases,
//! workers and coverage per unit and window, for a unit and all its children).

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use gridwall_spatial::{Resolution, ResourceKind, Scope, Status, UnitId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody, Query};
use super::params;
use crate::auth::{Permission, Principal};
use crate::coverage::{self, CoverageReport, rollup};
use crate::db;
use crate::hierarchy::LoadedHierarchy;
use crate::state::AppState;

/// Longest window a query may cover, days.
const MAX_WINDOW_DAYS: i64 = 92;

/// The unit asked for (default: the caller's territory root), checked against the territory.
fn unit_of(me: &Principal, l: &LoadedHierarchy, raw: Option<&str>) -> ApiResult<UnitId> {
    let code = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(c) => params::code("unit", c)?.as_str().to_owned(),
        None => match &me.scope_unit {
            Some(u) => u.code.clone(),
            None => {
                return Err(ApiError::invalid_param(
                    "unit",
                    "",
                    "unit is required (a unit code, e.g. a county)",
                ));
            }
        },
    };
    let not_found = || {
        ApiError::not_found(
            "unit_not_found",
            format!("no unit {code} in your territory"),
        )
    };
    let unit = l.hierarchy.by_code(&code).ok_or_else(not_found)?;
    match me.scope(l) {
        Some(s) if s.contains(&l.hierarchy, unit) => Ok(unit),
        _ => Err(not_found()),
    }
}

/// The window [from, to): default the last 24 hours; at most 92 days; `hours` rounds to whole
/// hours (the roll-up's granularity).
fn window(
    from: Option<&str>,
    to: Option<&str>,
    hours: bool,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let now = Utc::now();
    let to = params::optional_time("to", to)?.unwrap_or(now);
    let from = params::optional_time("from", from)?.unwrap_or(to - TimeDelta::hours(24));
    if from >= to {
        return Err(ApiError::invalid_param(
            "from",
            from.to_rfc3339(),
            "from must be before to",
        ));
    }
    if to - from > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::invalid_param(
            "from",
            from.to_rfc3339(),
            format!("a window is at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    if !hours {
        return Ok((from, to));
    }
    let h = TimeDelta::hours(1);
    let from = from.duration_trunc(h).unwrap_or(from);
    let to_floor = to.duration_trunc(h).unwrap_or(to);
    let to = if to_floor < to { to_floor + h } else { to };
    Ok((from, to))
}

fn resolution(raw: Option<&str>, default: u8, min: u8, max: u8) -> ApiResult<Resolution> {
    let r = match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => default,
        Some(s) => s
            .parse::<u8>()
            .ok()
            .filter(|r| (min..=max).contains(r))
            .ok_or_else(|| {
                ApiError::invalid_param(
                    "res",
                    s,
                    format!("res must be an H3 resolution {min}–{max}"),
                )
            })?,
    };
    Resolution::try_from(r)
        .map_err(|_| ApiError::invalid_param("res", r.to_string(), "not an H3 resolution"))
}

/// Query of the coverage.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageParams {
    /// Unit code (default: your territory).
    unit: Option<String>,
    /// Window start, RFC 3339 (default: 24 h before `to`); rounded down to the hour.
    from: Option<String>,
    /// Window end, RFC 3339 (default: now); rounded up to the hour.
    to: Option<String>,
    /// H3 resolution of the cells, 9–11 (default 11).
    res: Option<String>,
    /// `true`: list the visited and unvisited cells (for a unit of at most 200,000 cells).
    cells: Option<String>,
}

/// Patrol coverage of a unit over a window: the share of its H3 cells that on-duty workers'
/// patrols passed through (the walk between consecutive reports included), per grid and
/// area-weighted up to villages, townships and counties; with each child unit's figure.
#[utoipa::path(get, path = "/api/coverage", tag = "coverage", params(CoverageParams),
    responses((status = 200, body = CoverageReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn get_coverage(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<CoverageParams>,
) -> ApiResult<axum::Json<CoverageReport>> {
    me.may(Permission::Read)?;
    let l = params::hierarchy(&state)?;
    let unit = unit_of(&me, &l, p.unit.as_deref())?;
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), true)?;
    let res = resolution(p.res.as_deref(), 11, 9, 11)?;
    let cells = params::optional_bool("cells", p.cells.as_deref())?.unwrap_or(false);
    let report = coverage::coverage(&state, &l, unit, from, to, res, cells).await?;
    Ok(axum::Json(report))
}

/// Query of the density.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DensityParams {
    /// `cases` or `positions`.
    layer: Option<String>,
    /// H3 resolution, 5–11 (default 8); pick it by zoom.
    res: Option<String>,
    /// Window start (default: 24 h before `to`).
    from: Option<String>,
    /// Window end (default: now).
    to: Option<String>,
    /// `west,south,east,north`: only cells whose centre lies inside.
    bbox: Option<String>,
    /// Case categories, comma-separated (cases only).
    category: Option<String>,
}

/// One cell's count.
#[derive(Debug, Serialize, ToSchema)]
pub struct CellCountView {
    /// H3 index (hex).
    pub cell: String,
    /// Cases registered, or positions reported, in the cell and window.
    pub count: i64,
}

/// Counts per cell.
#[derive(Debug, Serialize, ToSchema)]
pub struct Density {
    /// `cases` or `positions`.
    pub layer: String,
    /// Resolution.
    pub res: u8,
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// Sum of the counts.
    pub total: i64,
    /// Non-empty cells, most first.
    pub cells: Vec<CellCountView>,
}

/// Counts of cases or positions per H3 cell in the caller's territory, for hexagon heat maps.
#[utoipa::path(get, path = "/api/density", tag = "coverage", params(DensityParams),
    responses((status = 200, body = Density), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn density(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<DensityParams>,
) -> ApiResult<axum::Json<Density>> {
    me.may(Permission::Read)?;
    let layer = match p.layer.as_deref().map(str::trim) {
        Some("cases") => "cases",
        Some("positions") => "positions",
        other => {
            return Err(ApiError::invalid_param(
                "layer",
                other.unwrap_or(""),
                "layer must be cases or positions",
            ));
        }
    };
    let res = resolution(p.res.as_deref(), 8, 5, 11)?;
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), layer == "positions")?;
    let bbox = params::bbox(p.bbox.as_deref())?;
    let categories: Vec<String> = p
        .category
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if layer == "positions" && !categories.is_empty() {
        return Err(ApiError::invalid_param(
            "category",
            categories.join(","),
            "category filters the cases layer only",
        ));
    }
    let mut counts: HashMap<gridwall_spatial::CellIndex, i64> = HashMap::new();
    if layer == "cases" {
        let rows = db::kpi::case_points(&state.pool, me.territory(), from, to, &categories).await?;
        for (lng, lat) in rows {
            if let Ok(ll) = h3o::LatLng::new(lat, lng) {
                *counts.entry(ll.to_cell(res)).or_default() += 1;
            }
        }
    } else {
        let rows = db::kpi::track_points_by_cell(&state.pool, me.territory(), from, to).await?;
        for (key, n) in rows {
            let Some(cell) = rollup::cell_from_key(key) else {
                continue;
            };
            let cell = if res == rollup::ROLLUP_RESOLUTION {
                Some(cell)
            } else {
                cell.parent(res)
            };
            if let Some(c) = cell {
                *counts.entry(c).or_default() += n;
            }
        }
    }
    let mut cells: Vec<CellCountView> = counts
        .into_iter()
        .filter(|(c, _)| {
            bbox.is_none_or(|[w, s, e, n]| {
                let ll = h3o::LatLng::from(*c);
                (w..=e).contains(&ll.lng()) && (s..=n).contains(&ll.lat())
            })
        })
        .map(|(c, n)| CellCountView {
            cell: c.to_string(),
            count: n,
        })
        .collect();
    cells.sort_by(|a, b| b.count.cmp(&a.count).then(a.cell.cmp(&b.cell)));
    Ok(axum::Json(Density {
        layer: layer.into(),
        res: u8::from(res),
        from,
        to,
        total: cells.iter().map(|c| c.count).sum(),
        cells,
    }))
}

/// Query of the KPIs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// Unit code (default: your territory).
    unit: Option<String>,
    /// Window start (default: 24 h before `to`).
    from: Option<String>,
    /// Window end (default: now).
    to: Option<String>,
    /// `true`: the same figures for each child unit too (choropleths).
    children: Option<String>,
    /// `false`: leave coverage out (it is the slowest figure).
    coverage: Option<String>,
}

/// The KPIs of one unit and window.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Kpi {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level 0–4.
    pub level: u8,
    /// Cases registered in the window, by their status now.
    pub cases_by_status: HashMap<String, i64>,
    /// Cases registered in the window.
    pub opened: i64,
    /// Cases resolved (办结) in the window.
    pub resolved: i64,
    /// Cases closed (结案) in the window.
    pub closed: i64,
    /// Cases pending and past their deadline now.
    pub overdue_now: i64,
    /// 化解率: of the cases registered in the window, the share resolved, followed up or
    /// closed by now (`null` when none was registered).
    pub resolution_rate: Option<f64>,
    /// 按期结案率: of the cases resolved in the window, the share resolved by their deadline
    /// and never flagged overdue (`null` when none was resolved).
    pub on_time_rate: Option<f64>,
    /// Median time from registration to the first dispatch, seconds (cases registered in the
    /// window).
    pub median_dispatch_s: Option<f64>,
    /// Median time from registration to resolution, seconds (cases resolved in the window).
    pub median_resolve_s: Option<f64>,
    /// Workers homed in the unit, on duty now.
    pub workers_on_duty: i64,
    /// On duty and reporting (not offline) now.
    pub workers_online: i64,
    /// Patrol coverage over the window (resolution 11), `null` when left out or no cells.
    pub coverage: Option<f64>,
}

/// KPIs of a unit and, optionally, of each of its children.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiReport {
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// The unit.
    pub unit: Kpi,
    /// Its children (when asked).
    pub children: Vec<Kpi>,
}

#[allow(clippy::cast_precision_loss, reason = "case counts are small")]
fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Case figures, workers and coverage of a unit and window, rolled up from its grids; with
/// `children=true` the same for each child unit in the same answer.
#[utoipa::path(get, path = "/api/kpi", tag = "coverage", params(KpiParams),
    responses((status = 200, body = KpiReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[allow(
    clippy::many_single_char_names,
    reason = "p, l, and the short names of the KPI formulas"
)]
pub async fn kpi(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<KpiParams>,
) -> ApiResult<axum::Json<KpiReport>> {
    me.may(Permission::Read)?;
    let l = params::hierarchy(&state)?;
    let unit = unit_of(&me, &l, p.unit.as_deref())?;
    let (from, to) = window(p.from.as_deref(), p.to.as_deref(), false)?;
    let with_children = params::optional_bool("children", p.children.as_deref())?.unwrap_or(false);
    let with_coverage = params::optional_bool("coverage", p.coverage.as_deref())?.unwrap_or(true);
    let h = &l.hierarchy;
    let mut units: Vec<UnitId> = vec![unit];
    if with_children {
        units.extend(h.unit(unit).children.iter().copied());
    }
    let ids: Vec<i64> = units.iter().map(|u| l.db_ids[u.0 as usize]).collect();
    let figures = db::kpi::case_figures(&state.pool, &ids, from, to).await?;
    let by_status = db::kpi::cases_by_status(&state.pool, &ids, from, to).await?;
    let workers = workers_by_unit(&state, &l, &units);
    let mut out = Vec::with_capacity(units.len());
    for (&u, &id) in units.iter().zip(&ids) {
        let x = h.unit(u);
        let f = figures.iter().find(|f| f.id == id);
        let mut k = Kpi {
            code: x.code.to_string(),
            name: x.name.clone(),
            level: x.level.number(),
            ..Kpi::default()
        };
        if let Some(f) = f {
            k.opened = f.opened;
            k.resolved = f.resolved;
            k.closed = f.closed;
            k.overdue_now = f.overdue_now;
            k.resolution_rate = ratio(f.handled, f.opened);
            k.on_time_rate = ratio(f.on_time, f.resolved);
            k.median_dispatch_s = f.median_dispatch_s;
            k.median_resolve_s = f.median_resolve_s;
        }
        k.cases_by_status = by_status
            .iter()
            .filter(|(uid, _, _)| *uid == id)
            .map(|(_, s, n)| (s.clone(), *n))
            .collect();
        let (on_duty, online) = workers.get(&u).copied().unwrap_or_default();
        k.workers_on_duty = on_duty;
        k.workers_online = online;
        out.push(k);
    }
    if with_coverage {
        let h1 = TimeDelta::hours(1);
        let cf = from.duration_trunc(h1).unwrap_or(from);
        let ct = to
            .duration_trunc(h1)
            .map_or(to, |t| if t < to { t + h1 } else { t });
        let report =
            coverage::coverage(&state, &l, unit, cf, ct, Resolution::Eleven, false).await?;
        if let Some(k) = out.first_mut() {
            k.coverage = report.unit.coverage;
        }
        for child in &report.children {
            if let Some(k) = out.iter_mut().skip(1).find(|k| k.code == child.code) {
                k.coverage = child.coverage;
            }
        }
    }
    let mut it = out.into_iter();
    let unit_kpi = it.next().unwrap_or_default();
    Ok(axum::Json(KpiReport {
        from,
        to,
        unit: unit_kpi,
        children: it.collect(),
    }))
}

/// (on duty, online) workers per unit of `units`, from the live directory and index.
fn workers_by_unit(
    state: &AppState,
    l: &LoadedHierarchy,
    units: &[UnitId],
) -> HashMap<UnitId, (i64, i64)> {
    let h = &l.hierarchy;
    let mut out: HashMap<UnitId, (i64, i64)> = HashMap::new();
    let read = state.live.read(Some(l));
    let index = read.index();
    for info in state.live.directory_snapshot() {
        if info.kind != ResourceKind::Worker || info.disabled || !info.on_duty {
            continue;
        }
        let Some(home) = h.by_code(&info.unit_code) else {
            continue;
        };
        let online = index
            .get(gridwall_spatial::ResourceId(info.id))
            .is_some_and(|e| !e.report.status.contains(Status::OFFLINE));
        for &u in units {
            if Scope::Subtree(u).contains(h, home) {
                let e = out.entry(u).or_default();
                e.0 += 1;
                e.1 += i64::from(online);
            }
        }
    }
    out
}
