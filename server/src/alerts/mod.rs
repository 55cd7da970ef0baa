//! Early warning (预警): rules that watch the live picture and the cases, and the alerts they
//! raise, each with its life open → acknowledged → resolved.
//!
//! - `watch.rs`: per-worker memory between ticks and the pure time-based decisions.
//! - `store.rs`: raising (an open alert of the same kind and entity is updated, never
//!   duplicated), resolving, acknowledging, reading; one statement or transaction each.
//! - `engine.rs`: the task: SOS at once from the bus, the time-based rules every tick from the
//!   live index in memory, overdue / hot spot / repeat reporter from the case changes.
//!
//! Open alerts are also kept in memory (the board) for the websocket `alerts` layer.

pub mod engine;
pub mod store;
pub mod watch;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::cases::CaseContext;

/// What the alert engine reads from the running server: everything cases read, and the
/// alerts themselves.
pub trait AlertContext: CaseContext {
    /// The rules and the live alerts.
    fn alerts(&self) -> &Alerts;
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A worker's phone raised SOS.
    Sos,
    /// An on-duty worker silent for too long.
    Offline,
    /// An on-duty worker outside their grid for too long.
    OutOfGrid,
    /// An on-duty worker not moving for too long.
    Stationary,
    /// A case past its deadline.
    Overdue,
    /// More cases of one category in one H3 cell than its baseline allows.
    Hotspot,
    /// The same reporter with many cases (重点关注).
    RepeatReporter,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::Sos,
        Self::Offline,
        Self::OutOfGrid,
        Self::Stationary,
        Self::Overdue,
        Self::Hotspot,
        Self::RepeatReporter,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sos => "sos",
            Self::Offline => "offline",
            Self::OutOfGrid => "out_of_grid",
            Self::Stationary => "stationary",
            Self::Overdue => "overdue",
            Self::Hotspot => "hotspot",
            Self::RepeatReporter => "repeat_reporter",
        }
    }

    /// Parses a stored or given name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Chinese label (the wall speaks Chinese first).
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Sos => "SOS 求助",
            Self::Offline => "离线",
            Self::OutOfGrid => "离开网格",
            Self::Stationary => "长时间静止",
            Self::Overdue => "事件超期",
            Self::Hotspot => "事件热点",
            Self::RepeatReporter => "重点关注",
        }
    }
}

/// One rule's settings (a row of `alert_rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which rule (taken from the path when writing).
    #[serde(default)]
    pub kind: String,
    /// Evaluated at all.
    pub enabled: bool,
    /// Severity of what it raises, 1–4.
    pub severity: i16,
    /// `offline`, `out_of_grid`, `stationary`: for longer than this many minutes.
    pub minutes: Option<i32>,
    /// `stationary`: staying within this many metres.
    pub distance_m: Option<f32>,
    /// `hotspot`, `repeat_reporter`: at least this many cases in the window.
    pub min_count: Option<i32>,
    /// `hotspot`: and at least this many times the baseline rate.
    pub ratio: Option<f32>,
    /// `hotspot`, `repeat_reporter`: the window, hours.
    pub window_hours: Option<i32>,
    /// hotspot: days before the window that make the baseline.
    pub baseline_days: Option<i32>,
    /// hotspot: H3 resolution of the cells.
    pub h3_resolution: Option<i16>,
}

/// What the wall shows of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertBrief {
    /// `alerts.id`.
    pub id: i64,
    /// Kind.
    pub kind: AlertKind,
    /// 1–4.
    pub severity: i16,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// The unit it belongs to (code).
    pub unit: String,
    /// Where, `[lng, lat]`.
    pub position: [f64; 2],
    /// `resource`, `case`, `cell` or `reporter`.
    pub entity_type: String,
    /// The entity (a reporter's phone is masked here).
    pub entity_id: String,
    /// The entity as stored (not sent: a reporter's phone in clear).
    #[serde(skip)]
    pub entity_key: String,
    /// For people, Chinese.
    pub title: String,
    /// First raised.
    pub raised_at: DateTime<Utc>,
    /// Last raised (again) while live.
    pub last_raised_at: DateTime<Utc>,
    /// Times raised while live.
    pub occurrences: i32,
    /// +1 on every change.
    pub version: i32,
}

/// What happened to an alert, as the `alerts` layer tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertChangeKind {
    /// Newly raised.
    Raised,
    /// Raised again, or acknowledged.
    Changed,
    /// Resolved: off the wall.
    Resolved,
}

/// One committed change of an alert.
#[derive(Debug, Clone)]
pub struct AlertChange {
    /// What happened.
    pub what: AlertChangeKind,
    /// The alert after it.
    pub alert: Arc<AlertBrief>,
}

/// The alert part of the state: the rules, the live alerts in memory, their changes.
#[derive(Debug)]
pub struct Alerts {
    rules: RwLock<HashMap<AlertKind, Arc<Rule>>>,
    live: RwLock<LiveAlerts>,
    changes: broadcast::Sender<Arc<AlertChange>>,
    /// How often the time-based rules are evaluated.
    pub tick: std::time::Duration,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            rules: RwLock::new(HashMap::new()),
            live: RwLock::new(LiveAlerts::default()),
            changes: broadcast::channel(1024).0,
            tick: std::time::Duration::from_secs(15),
        }
    }
}

/// The live (not resolved) alerts, by id and by what they are about.
#[derive(Debug, Default)]
struct LiveAlerts {
    by_id: HashMap<i64, Arc<AlertBrief>>,
    by_key: HashMap<(AlertKind, String, String), i64>,
}

impl LiveAlerts {
    fn key(a: &AlertBrief) -> (AlertKind, String, String) {
        (a.kind, a.entity_type.clone(), a.entity_key.clone())
    }

    fn insert(&mut self, a: Arc<AlertBrief>) -> Option<Arc<AlertBrief>> {
        self.by_key.insert(Self::key(&a), a.id);
        self.by_id.insert(a.id, a)
    }

    fn remove(&mut self, id: i64) {
        if let Some(a) = self.by_id.remove(&id) {
            self.by_key.remove(&Self::key(&a));
        }
    }
}

fn unpoison<T>(e: std::sync::PoisonError<T>) -> T {
    e.into_inner()
}

impl Alerts {
    /// A rule, when enabled.
    #[must_use]
    pub fn rule(&self, kind: AlertKind) -> Option<Arc<Rule>> {
        self.rules
            .read()
            .unwrap_or_else(unpoison)
            .get(&kind)
            .filter(|r| r.enabled)
            .cloned()
    }

    /// Replaces the rules.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        let map = rules
            .into_iter()
            .filter_map(|r| AlertKind::parse(&r.kind).map(|k| (k, Arc::new(r))))
            .collect();
        *self.rules.write().unwrap_or_else(unpoison) = map;
    }

    /// Replaces the live alerts (start-up).
    pub fn set_live(&self, alerts: Vec<AlertBrief>) {
        let mut live = LiveAlerts::default();
        for a in alerts.into_iter().filter(|a| a.status != "resolved") {
            live.insert(Arc::new(a));
        }
        *self.live.write().unwrap_or_else(unpoison) = live;
    }

    /// Applies a committed change and publishes it (ignored when not newer than what is held).
    pub fn apply(&self, alert: AlertBrief) {
        let alert = Arc::new(alert);
        let what = {
            let mut live = self.live.write().unwrap_or_else(unpoison);
            let old = live.by_id.get(&alert.id).cloned();
            if old.as_ref().is_some_and(|o| o.version >= alert.version) {
                return;
            }
            if alert.status == "resolved" {
                live.remove(alert.id);
                AlertChangeKind::Resolved
            } else {
                live.insert(Arc::clone(&alert));
                if old.is_some() {
                    AlertChangeKind::Changed
                } else {
                    AlertChangeKind::Raised
                }
            }
        };
        let _ = self.changes.send(Arc::new(AlertChange { what, alert }));
    }

    /// The live alert of `kind` about an entity, if any.
    #[must_use]
    pub fn live_about(
        &self,
        kind: AlertKind,
        entity_type: &str,
        entity_id: &str,
    ) -> Option<Arc<AlertBrief>> {
        let live = self.live.read().unwrap_or_else(unpoison);
        let id = live
            .by_key
            .get(&(kind, entity_type.to_owned(), entity_id.to_owned()))?;
        live.by_id.get(id).cloned()
    }

    /// Every live alert passing `keep`.
    pub fn live(&self, keep: impl Fn(&AlertBrief) -> bool) -> Vec<Arc<AlertBrief>> {
        self.live
            .read()
            .unwrap_or_else(unpoison)
            .by_id
            .values()
            .filter(|a| keep(a))
            .cloned()
            .collect()
    }

    /// Changes committed from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AlertChange>> {
        self.changes.subscribe()
    }
}
