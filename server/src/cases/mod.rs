//! Cases (事件) from report to follow-up, and dispatch.
//!
//! - `lifecycle.rs`: statuses, actions and which is legal from where, for whom (pure).
//! - `board.rs`: the open cases in memory and the channel of committed changes (websockets).
//! - `candidates.rs`: the nearest available workers for a case, from the live index.
//! - `store.rs`: registering a case and moving it, one transaction each (case row + event),
//!   then the board.
//! - `tasks.rs`: the overdue sweep (flag, optional escalation) and auto-dispatch.
//!
//! PostGIS is the record: the board is rebuilt from it at start-up and only follows what
//! was committed.

pub mod board;
pub mod candidates;
mod error;
pub mod lifecycle;
pub mod store;
pub mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

pub use board::{Board, CaseBrief, CaseChange, CaseChangeKind};
pub use candidates::{Candidate, CandidateQuery};
pub use error::{Error, Result};
pub use lifecycle::{Action, CaseStatus, Party};
pub use store::CaseReader;

use crate::db;
use crate::db::cases::{CaseRow, CategoryRow};
use crate::live::LiveContext;

/// What cases read from the running server: the live picture (candidates, busy flags) and
/// the case settings and board.
pub trait CaseContext: LiveContext {
    /// Case settings, the board of open cases, the categories.
    fn cases(&self) -> &Cases;
}

/// Settings of case handling.
#[derive(Debug, Clone)]
pub struct CasesConfig {
    /// Prefix of case numbers (`NT` → `NT-20261126-000123`).
    pub number_prefix: String,
    /// A worker whose last position is older than this is not offered for dispatch.
    pub live_within: Duration,
    /// A worker holding this many dispatched or in-progress cases is not offered.
    pub max_open_per_worker: u32,
    /// Escalate a case automatically when it goes past its deadline.
    pub auto_escalate_overdue: bool,
    /// Offer a case to the next candidate when its worker does not accept it in time or
    /// declines it.
    pub auto_dispatch: bool,
    /// Time a worker has to accept an assignment in auto-dispatch mode.
    pub accept_timeout: Duration,
    /// How often the overdue sweep and auto-dispatch run.
    pub sweep_every: Duration,
}

impl Default for CasesConfig {
    fn default() -> Self {
        Self {
            number_prefix: "NT".into(),
            live_within: Duration::from_secs(10 * 60),
            max_open_per_worker: 5,
            auto_escalate_overdue: false,
            auto_dispatch: false,
            accept_timeout: Duration::from_secs(5 * 60),
            sweep_every: Duration::from_secs(15),
        }
    }
}

/// A new case within this distance of an open one of the same category…
pub const DUPLICATE_RADIUS_M: f64 = 100.0;
/// …registered within this many hours is linked to it as a possible duplicate.
pub const DUPLICATE_WINDOW_H: i32 = 24;

/// The command center's calendar day of `t`: China Standard Time (UTC+8, no daylight
/// saving), so case numbers and "today" follow the center's days.
#[must_use]
pub fn local_day(t: DateTime<Utc>) -> NaiveDate {
    (t + chrono::Duration::hours(8)).date_naive()
}

/// The case part of the state: settings, the board, the category list.
#[derive(Debug)]
pub struct Cases {
    /// Settings.
    pub config: CasesConfig,
    /// The open cases.
    pub board: Board,
    categories: RwLock<HashMap<String, Arc<CategoryRow>>>,
}

impl Cases {
    /// Empty; [`Cases::load`] fills it.
    #[must_use]
    pub fn new(config: CasesConfig) -> Self {
        Self {
            config,
            board: Board::default(),
            categories: RwLock::new(HashMap::new()),
        }
    }

    /// Reads the categories and the open cases (start-up).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn load(&self, pool: &PgPool) -> Result<usize, sqlx::Error> {
        self.reload_categories(pool).await?;
        let open = db::cases::open_cases(pool).await?;
        let n = open.len();
        self.board.replace(open.iter().map(brief));
        Ok(n)
    }

    /// Re-reads the category list (after a change).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn reload_categories(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let rows = db::cases::categories(pool).await?;
        let map = rows
            .into_iter()
            .map(|c| (c.code.clone(), Arc::new(c)))
            .collect();
        *self
            .categories
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = map;
        Ok(())
    }

    /// A category by code.
    #[must_use]
    pub fn category(&self, code: &str) -> Option<Arc<CategoryRow>> {
        self.categories
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(code)
            .cloned()
    }

    /// The codes of the active categories, sorted.
    #[must_use]
    pub fn category_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self
            .categories
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|c| c.active)
            .map(|c| c.code.clone())
            .collect();
        codes.sort();
        codes
    }
}

/// The board's view of a stored case.
#[must_use]
pub fn brief(row: &CaseRow) -> CaseBrief {
    CaseBrief {
        id: row.id,
        number: row.number.clone(),
        title: row.title.clone(),
        category: row.category.clone(),
        source: row.source.clone(),
        severity: row.severity,
        status: CaseStatus::parse(&row.status).unwrap_or(CaseStatus::Reported),
        position: [row.lng, row.lat],
        grid: row.grid_code.clone(),
        handling_unit: row.handling_code.clone(),
        handling_level: row.handling_level,
        assignee: row.assignee_id,
        reporter: row.created_by_resource,
        taken: row.taken_at.is_some(),
        assigned_at: row.assigned_at,
        deadline_at: row.deadline_at,
        overdue: row.overdue,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        grid_id: row.grid_id,
        overdue_at: row.overdue_at,
    }
}

/// The dispatch candidates for an open case, from the live index and the directory.
///
/// # Errors
///
/// [`LiveQueryError`] for a negative or NaN radius.
pub fn candidates_for(
    state: &impl CaseContext,
    case: &CaseBrief,
    k: usize,
    radius_m: f64,
    exclude: &[i64],
    allowed: &dyn Fn(&crate::live::ResourceInfo) -> bool,
) -> Result<Vec<Candidate>, gridwall_spatial::LiveQueryError> {
    let Some(centre) = case.latlng() else {
        return Ok(Vec::new());
    };
    let skill = state
        .cases()
        .category(&case.category)
        .and_then(|c| c.skill.clone());
    let live_within_ms =
        i64::try_from(state.cases().config.live_within.as_millis()).unwrap_or(i64::MAX);
    let q = CandidateQuery {
        centre,
        grid_id: case.grid_id,
        k,
        radius_m,
        skill: skill.as_deref(),
        live_since_ms: Utc::now().timestamp_millis().saturating_sub(live_within_ms),
        max_open_cases: state.cases().config.max_open_per_worker,
        exclude,
    };
    let mut own = state.live().homed_at(case.grid_id);
    own.retain(|i| allowed(i));
    let loaded = state.hierarchy().get();
    let read = state.live().read(loaded.as_deref());
    let info = |id| state.live().info(id).filter(|i| allowed(i));
    state
        .cases()
        .board
        .with_loads(|load| candidates::candidates(read.index(), &own, &info, load, &q))
}
