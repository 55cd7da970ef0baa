//! The alert engine: one task that reads the live bus (SOS at once), the case changes
//! (overdue, hot spots, repeat reporters) and, every tick, the live index in memory (offline,
//! out of grid, stationary). It writes only when something is raised or clears: the database
//! is never polled for the whole picture.
//!
//! Time-based alerts resolve themselves (`resolved_by = system`) when their condition clears
//! (the worker reports again, walks back into the grid, moves, goes off duty); SOS when the
//! flag is cleared; overdue when the case is resolved or closed. Hot spots and repeat
//! reporters stay until a person resolves them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gridwall_spatial::{CellIndex, LatLng, Resolution, ResourceKind, Status};
use serde_json::json;
use tokio::sync::broadcast;

use super::AlertContext;
use super::store::{self, Raise};
use super::watch::{Seen, Thresholds, Watch};
use super::{AlertKind, Rule};
use crate::cases::{CaseBrief, CaseChange, CaseChangeKind};
use crate::live::{LiveUpdate, ResourceInfo};

/// The engine's memory: one watch per on-duty worker seen.
#[derive(Debug, Default)]
pub struct Engine {
    watches: HashMap<i64, Watch>,
}

/// Runs the engine until the process ends.
pub async fn run(state: impl AlertContext) {
    let mut bus = state.live().bus.subscribe();
    let mut cases = state.cases().board.subscribe();
    let mut tick = tokio::time::interval(state.alerts().tick);
    let mut engine = Engine::default();
    loop {
        let result = tokio::select! {
            b = bus.recv() => match b {
                Ok(batch) => engine.on_live(&state, &batch).await,
                // Missed some: the next tick re-reads the whole index.
                Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            c = cases.recv() => match c {
                Ok(change) => engine.on_case(&state, &change).await,
                Err(broadcast::error::RecvError::Lagged(_)) => Ok(()),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => engine.tick(&state, Utc::now()).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "alert engine: a write failed; the next tick retries");
        }
    }
}

fn minutes_ms(rule: Option<&Rule>) -> Option<i64> {
    rule.and_then(|r| r.minutes).map(|m| i64::from(m) * 60_000)
}

impl Engine {
    /// SOS raised or cleared on the live stream.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn on_live(
        &mut self,
        state: &impl AlertContext,
        batch: &[LiveUpdate],
    ) -> Result<(), sqlx::Error> {
        for u in batch {
            let sos = u.entry.report.status.contains(Status::SOS);
            self.sos(state, &u.info, u.entry.report.position, sos)
                .await?;
        }
        Ok(())
    }

    async fn sos(
        &self,
        state: &impl AlertContext,
        info: &ResourceInfo,
        position: LatLng,
        raised: bool,
    ) -> Result<(), sqlx::Error> {
        let id = info.id.to_string();
        let live = state.alerts().live_about(AlertKind::Sos, "resource", &id);
        match (raised, live, state.alerts().rule(AlertKind::Sos)) {
            (true, None, Some(rule)) => {
                let title = format!("SOS 求助: {}", info.name);
                store::raise(
                    state.alerts(),
                    state.pool(),
                    &Raise {
                        kind: AlertKind::Sos,
                        severity: rule.severity,
                        unit_id: info.unit_id,
                        position: (position.lng(), position.lat()),
                        entity_type: "resource",
                        entity_id: &id,
                        title: &title,
                        details: json!({"resource": info.id, "name": &*info.name,
                                        "kind": info.kind_str()}),
                    },
                )
                .await?;
            }
            (false, Some(_), _) => {
                store::resolve_about(
                    state.alerts(),
                    state.pool(),
                    AlertKind::Sos,
                    "resource",
                    &id,
                    "system",
                    "SOS 已解除 (cleared)",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The time-based rules over the whole live index, and SOS again (in case the bus was
    /// missed).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn tick(
        &mut self,
        state: &impl AlertContext,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let offline = state.alerts().rule(AlertKind::Offline);
        let out = state.alerts().rule(AlertKind::OutOfGrid);
        let still = state.alerts().rule(AlertKind::Stationary);
        let t = Thresholds {
            offline_ms: minutes_ms(offline.as_deref()),
            out_of_grid_ms: minutes_ms(out.as_deref()),
            stationary_ms: minutes_ms(still.as_deref()),
            stationary_m: still
                .as_deref()
                .and_then(|r| r.distance_m)
                .map_or(30.0, f64::from),
        };
        let loaded = state.hierarchy().get();
        // Decide under the lock, write after it.
        let mut todo: Vec<(std::sync::Arc<ResourceInfo>, LatLng, i64, [bool; 4])> = Vec::new();
        {
            let read = state.live().read(loaded.as_deref());
            let mut seen_ids = Vec::new();
            for entry in read.index().iter() {
                let Some(info) = state.live().info(entry.id.0) else {
                    continue;
                };
                let r = &entry.report;
                let sos = r.status.contains(Status::SOS);
                let watched = r.kind == ResourceKind::Worker && info.on_duty && !info.disabled;
                if !watched {
                    self.watches.remove(&info.id);
                    todo.push((info, r.position, r.at_ms, [false, false, false, sos]));
                    continue;
                }
                seen_ids.push(info.id);
                let home = loaded
                    .as_deref()
                    .and_then(|l| l.hierarchy.by_code(&info.unit_code));
                let seen = Seen {
                    position: r.position,
                    at_ms: r.at_ms,
                    in_home_grid: home.is_some() && r.grid == home,
                };
                let watch = self
                    .watches
                    .entry(info.id)
                    .and_modify(|w| w.observe(&seen, &t))
                    .or_insert_with(|| Watch::start(&seen));
                let v = watch.verdict(&seen, now.timestamp_millis(), &t);
                todo.push((
                    info,
                    r.position,
                    r.at_ms,
                    [v.offline, v.out_of_grid, v.stationary, sos],
                ));
            }
            seen_ids.sort_unstable();
            self.watches
                .retain(|id, _| seen_ids.binary_search(id).is_ok());
        }
        for (info, position, at_ms, [off, outside, stationary, sos]) in todo {
            self.sos(state, &info, position, sos).await?;
            let silent_min = (now.timestamp_millis() - at_ms) / 60_000;
            for (kind, holds, rule, title) in [
                (
                    AlertKind::Offline,
                    off,
                    offline.as_deref(),
                    format!("离线: {} 已 {silent_min} 分钟无位置", info.name),
                ),
                (
                    AlertKind::OutOfGrid,
                    outside,
                    out.as_deref(),
                    format!("离开网格: {} 不在责任网格内", info.name),
                ),
                (
                    AlertKind::Stationary,
                    stationary,
                    still.as_deref(),
                    format!("长时间静止: {}", info.name),
                ),
            ] {
                self.condition(state, &info, position, kind, holds, rule, &title)
                    .await?;
            }
        }
        self.overdue_sweep(state).await
    }

    #[allow(clippy::too_many_arguments, reason = "one condition, its parts named")]
    async fn condition(
        &self,
        state: &impl AlertContext,
        info: &ResourceInfo,
        position: LatLng,
        kind: AlertKind,
        holds: bool,
        rule: Option<&Rule>,
        title: &str,
    ) -> Result<(), sqlx::Error> {
        let id = info.id.to_string();
        let live = state.alerts().live_about(kind, "resource", &id);
        match (holds, live, rule) {
            (true, None, Some(rule)) => {
                store::raise(
                    state.alerts(),
                    state.pool(),
                    &Raise {
                        kind,
                        severity: rule.severity,
                        unit_id: info.unit_id,
                        position: (position.lng(), position.lat()),
                        entity_type: "resource",
                        entity_id: &id,
                        title,
                        details: json!({"resource": info.id, "name": &*info.name,
                                        "minutes": rule.minutes}),
                    },
                )
                .await?;
            }
            (false, Some(_), _) => {
                store::resolve_about(
                    state.alerts(),
                    state.pool(),
                    kind,
                    "resource",
                    &id,
                    "system",
                    "条件已解除 (condition cleared)",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Overdue alerts follow the open cases on the board (flagged by the case sweep).
    async fn overdue_sweep(&self, state: &impl AlertContext) -> Result<(), sqlx::Error> {
        let overdue = state
            .cases()
            .board
            .open(|c| c.overdue_at.is_some() && c.status.is_pending());
        for case in overdue {
            self.overdue(state, &case, true).await?;
        }
        // And clear what a missed change left behind: the case was handled or closed.
        let stale_alerts = state.alerts().live(|a| a.kind == AlertKind::Overdue);
        for alert in stale_alerts {
            let still = alert
                .entity_key
                .parse::<i64>()
                .ok()
                .and_then(|id| state.cases().board.get(id))
                .is_some_and(|c| c.status.is_pending() && c.overdue_at.is_some());
            if !still {
                store::resolve_about(
                    state.alerts(),
                    state.pool(),
                    AlertKind::Overdue,
                    "case",
                    &alert.entity_key,
                    "system",
                    "事件已办结 (handled)",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn overdue(
        &self,
        state: &impl AlertContext,
        case: &CaseBrief,
        holds: bool,
    ) -> Result<(), sqlx::Error> {
        let id = case.id.to_string();
        let live = state.alerts().live_about(AlertKind::Overdue, "case", &id);
        match (holds, live, state.alerts().rule(AlertKind::Overdue)) {
            (true, None, Some(rule)) => {
                let title = format!("事件超期: {} {}", case.number, case.title);
                store::raise(
                    state.alerts(),
                    state.pool(),
                    &Raise {
                        kind: AlertKind::Overdue,
                        severity: rule.severity,
                        unit_id: case.grid_id,
                        position: (case.position[0], case.position[1]),
                        entity_type: "case",
                        entity_id: &id,
                        title: &title,
                        details: json!({"case": case.id, "number": case.number,
                                        "deadline_at": case.deadline_at,
                                        "handling_unit": case.handling_unit}),
                    },
                )
                .await?;
            }
            (false, Some(_), _) => {
                store::resolve_about(
                    state.alerts(),
                    state.pool(),
                    AlertKind::Overdue,
                    "case",
                    &id,
                    "system",
                    "事件已办结 (handled)",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A committed case change: overdue raised or cleared; a new case may make a hot spot or
    /// a repeat reporter.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn on_case(
        &mut self,
        state: &impl AlertContext,
        change: &CaseChange,
    ) -> Result<(), sqlx::Error> {
        let case = &change.case;
        let pending = change.what != CaseChangeKind::Closed && case.status.is_pending();
        self.overdue(state, case, pending && case.overdue_at.is_some())
            .await?;
        if change.what == CaseChangeKind::Created {
            hotspot(state, case).await?;
            repeat_reporter(state, case).await?;
        }
        Ok(())
    }
}

/// The cell of `p` at resolution `res` and its bounding box `[w, s, e, n]`.
fn cell_and_box(p: LatLng, res: Resolution) -> Option<(CellIndex, [f64; 4])> {
    let ll = h3o::LatLng::new(p.lat(), p.lng()).ok()?;
    let cell = ll.to_cell(res);
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for v in cell.boundary().iter() {
        b[0] = b[0].min(v.lng());
        b[1] = b[1].min(v.lat());
        b[2] = b[2].max(v.lng());
        b[3] = b[3].max(v.lat());
    }
    Some((cell, b))
}

/// Whether `in_window` cases in the window make a hot spot against `in_baseline` cases over
/// the baseline days before it: at least `min_count`, and at least `ratio` times the
/// baseline's rate over a window of the same length.
#[must_use]
pub fn is_hotspot(in_window: i64, in_baseline: i64, rule: &Rule) -> bool {
    let min = i64::from(rule.min_count.unwrap_or(3));
    let ratio = f64::from(rule.ratio.unwrap_or(3.0));
    let window_h = f64::from(rule.window_hours.unwrap_or(24));
    let baseline_h = f64::from(rule.baseline_days.unwrap_or(30)) * 24.0;
    #[allow(clippy::cast_precision_loss, reason = "case counts are small")]
    let expected = in_baseline as f64 * window_h / baseline_h;
    #[allow(clippy::cast_precision_loss, reason = "case counts are small")]
    let enough = in_window as f64 >= ratio * expected;
    in_window >= min && enough
}

async fn hotspot(state: &impl AlertContext, case: &CaseBrief) -> Result<(), sqlx::Error> {
    let Some(rule) = state.alerts().rule(AlertKind::Hotspot) else {
        return Ok(());
    };
    let res = rule
        .h3_resolution
        .and_then(|r| Resolution::try_from(u8::try_from(r).unwrap_or(8)).ok())
        .unwrap_or(Resolution::Eight);
    let Some((cell, [w, s, e, n])) = case.latlng().and_then(|p| cell_and_box(p, res)) else {
        return Ok(());
    };
    let window_h = rule.window_hours.unwrap_or(24);
    let baseline_d = rule.baseline_days.unwrap_or(30);
    // Cases of the category near the cell (its bounding box) over window + baseline; the
    // cell itself decides in Rust (PostGIS has no H3).
    // Counted within the case's village, where the alert belongs: whoever sees it sees
    // every case it counts.
    let village = enclosing(state, case.grid_id, 3).await?;
    let rows: Vec<(f64, f64, bool)> = sqlx::query_as(
        "SELECT ST_X(c.geom), ST_Y(c.geom), c.created_at >= now() - make_interval(hours => $6)
         FROM cases c JOIN units g ON g.id = c.grid_id
           JOIN territory($8) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE c.category = $1 AND c.geom && ST_MakeEnvelope($2, $3, $4, $5, 4326)
           AND c.created_at >= now() - make_interval(hours => $6) - make_interval(days => $7)",
    )
    .bind(&case.category)
    .bind(w)
    .bind(s)
    .bind(e)
    .bind(n)
    .bind(window_h)
    .bind(baseline_d)
    .bind(village)
    .fetch_all(state.pool())
    .await?;
    let (mut in_window, mut in_baseline) = (0i64, 0i64);
    for (lng, lat, recent) in rows {
        let inside = h3o::LatLng::new(lat, lng).is_ok_and(|ll| ll.to_cell(res) == cell);
        if inside {
            if recent {
                in_window += 1;
            } else {
                in_baseline += 1;
            }
        }
    }
    if !is_hotspot(in_window, in_baseline, &rule) {
        return Ok(());
    }
    let centre = h3o::LatLng::from(cell);
    let name = state
        .cases()
        .category(&case.category)
        .map_or_else(|| case.category.clone(), |c| c.name_zh.clone());
    let title = format!("事件热点: {name} {window_h} 小时内 {in_window} 起");
    let entity = format!("{cell}:{}", case.category);
    store::raise(
        state.alerts(),
        state.pool(),
        &Raise {
            kind: AlertKind::Hotspot,
            severity: rule.severity,
            unit_id: village,
            position: (centre.lng(), centre.lat()),
            entity_type: "cell",
            entity_id: &entity,
            title: &title,
            details: json!({"cell": cell.to_string(), "resolution": u8::from(res),
                            "category": case.category, "in_window": in_window,
                            "window_hours": window_h, "in_baseline": in_baseline,
                            "baseline_days": baseline_d, "latest_case": case.id}),
        },
    )
    .await?;
    Ok(())
}

/// The unit at `level` (2 township, 3 village) that grid `grid_id` lies in; the grid itself
/// when the hierarchy has no unit at that level above it.
async fn enclosing(
    state: &impl AlertContext,
    grid_id: i64,
    level: i16,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(
             (SELECT a.id FROM units g
                JOIN units a ON a.level = $2 AND g.tree_lo BETWEEN a.tree_lo AND a.tree_hi
              WHERE g.id = $1),
             $1)",
    )
    .bind(grid_id)
    .bind(level)
    .fetch_one(state.pool())
    .await
}

async fn repeat_reporter(state: &impl AlertContext, case: &CaseBrief) -> Result<(), sqlx::Error> {
    let Some(rule) = state.alerts().rule(AlertKind::RepeatReporter) else {
        return Ok(());
    };
    let window_h = rule.window_hours.unwrap_or(720);
    // Counted within the case's township, where the alert belongs (大事不出镇): whoever sees
    // it sees every case it counts.
    let township = enclosing(state, case.grid_id, 2).await?;
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT c.reporter_phone,
                (SELECT count(*) FROM cases o JOIN units g ON g.id = o.grid_id
                   JOIN territory($3) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
                 WHERE o.reporter_phone = c.reporter_phone
                   AND o.created_at >= now() - make_interval(hours => $2))
         FROM cases c WHERE c.id = $1 AND c.reporter_phone IS NOT NULL",
    )
    .bind(case.id)
    .bind(window_h)
    .bind(township)
    .fetch_optional(state.pool())
    .await?;
    let Some((phone, n)) = row else {
        return Ok(());
    };
    if n < i64::from(rule.min_count.unwrap_or(3)) {
        return Ok(());
    }
    let title = format!(
        "重点关注: 来电人 {} {} 天内 {n} 起事件",
        crate::auth::mask_phone(&phone),
        window_h / 24
    );
    store::raise(
        state.alerts(),
        state.pool(),
        &Raise {
            kind: AlertKind::RepeatReporter,
            severity: rule.severity,
            unit_id: township,
            position: (case.position[0], case.position[1]),
            entity_type: "reporter",
            entity_id: &phone,
            title: &title,
            details: json!({"cases": n, "window_hours": window_h, "latest_case": case.id}),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule {
            kind: "hotspot".into(),
            enabled: true,
            severity: 3,
            minutes: None,
            distance_m: None,
            min_count: Some(3),
            ratio: Some(3.0),
            window_hours: Some(24),
            baseline_days: Some(30),
            h3_resolution: Some(8),
        }
    }

    #[test]
    fn hotspot_needs_the_count_and_the_ratio() {
        // No history: three make a hot spot, two do not.
        assert!(is_hotspot(3, 0, &rule()));
        assert!(!is_hotspot(2, 0, &rule()));
        // 30 in 30 days = 1 a day: three is exactly 3×; two is not.
        assert!(is_hotspot(3, 30, &rule()));
        assert!(!is_hotspot(3, 31, &rule()));
        // A busy cell (3 a day) needs nine.
        assert!(!is_hotspot(8, 90, &rule()));
        assert!(is_hotspot(9, 90, &rule()));
    }
}
