//! The board: every open case in memory (the wall's case layer, the dispatcher's queue, the
//! workers' loads), kept in step with PostGIS by the store after each committed change, and the
//! channel that carries those changes to the websockets.
//!
//! Invariants: a case is on the board exactly when its last committed status is open (not
//! closed, not rejected); `loads[w]` is the number of board cases assigned to worker `w` in a
//! status that loads the assignee (dispatched, in progress). A change is applied only if its
//! version is newer than the board's, so a late writer never rolls the board back.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use gridwall_spatial::LatLng;
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use super::lifecycle::CaseStatus;

/// What the map and the queue show of a case.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CaseBrief {
    /// `cases.id`.
    pub id: i64,
    /// Readable number, `NT-20261126-000123`.
    pub number: String,
    /// Title.
    pub title: String,
    /// Category code.
    pub category: String,
    /// Source: `patrol`, `hotline_12345`, `police_110`, `walk_in`, `other`.
    pub source: String,
    /// 1 (low) – 4 (most urgent).
    pub severity: i16,
    /// Status.
    pub status: CaseStatus,
    /// Where, GeoJSON order `[lng, lat]`, WGS84.
    pub position: [f64; 2],
    /// The grid it lies in (code).
    pub grid: String,
    /// The unit handling it now (code): its grid, or higher after escalation.
    pub handling_unit: String,
    /// Level of the handling unit (4 grid, 2 township, 1 county).
    pub handling_level: i16,
    /// The assigned worker (`resources.id`).
    pub assignee: Option<i64>,
    /// The worker who reported it (`resources.id`; who may read it, not sent).
    #[serde(skip)]
    pub reporter: Option<i64>,
    /// The assigned worker accepted the assignment.
    pub taken: bool,
    /// When it was assigned.
    pub assigned_at: Option<DateTime<Utc>>,
    /// Deadline.
    pub deadline_at: DateTime<Utc>,
    /// Past its deadline and not yet handled.
    pub overdue: bool,
    /// Version (optimistic concurrency).
    pub version: i32,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The `units.id` of its grid (scope and candidates; not sent).
    #[serde(skip)]
    pub grid_id: i64,
    /// When the overdue sweep flagged it (not sent: `overdue` says it).
    #[serde(skip)]
    pub overdue_at: Option<DateTime<Utc>>,
}

impl CaseBrief {
    /// The position as a checked [`LatLng`]; `None` only for a corrupt row.
    #[must_use]
    pub fn latlng(&self) -> Option<LatLng> {
        LatLng::new(self.position[1], self.position[0]).ok()
    }
}

/// What happened to a case, as the `cases` layer tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseChangeKind {
    /// Registered.
    Created,
    /// Any change while open.
    Changed,
    /// Closed or rejected: off the board.
    Closed,
}

/// One committed change of a case.
#[derive(Debug, Clone)]
pub struct CaseChange {
    /// What happened.
    pub what: CaseChangeKind,
    /// The case after the change.
    pub case: Arc<CaseBrief>,
    /// The case before it, when it was open: a reader who saw it then and may not now (a
    /// worker whose case was dispatched to another) must be told it is gone.
    pub before: Option<Arc<CaseBrief>>,
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<i64, Arc<CaseBrief>>,
    loads: HashMap<i64, u32>,
}

impl Inner {
    fn load_delta(&mut self, case: &CaseBrief, add: bool) {
        let Some(w) = case.assignee.filter(|_| case.status.loads_assignee()) else {
            return;
        };
        let n = self.loads.entry(w).or_default();
        if add {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.loads.remove(&w);
            }
        }
    }
}

/// The open cases, shared by every handler.
#[derive(Debug)]
pub struct Board {
    inner: RwLock<Inner>,
    changes: broadcast::Sender<Arc<CaseChange>>,
}

impl Default for Board {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Board {
    /// An empty board whose change channel keeps `capacity` changes for slow readers.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            changes: broadcast::channel(capacity.max(1)).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the whole board (start-up).
    pub fn replace(&self, cases: impl IntoIterator<Item = CaseBrief>) {
        let mut next = Inner::default();
        for c in cases.into_iter().filter(|c| c.status.is_open()) {
            next.load_delta(&c, true);
            next.open.insert(c.id, Arc::new(c));
        }
        *self.write() = next;
    }

    /// Applies a committed change and publishes it; ignored (and `false`) when the board
    /// already holds this version or a newer one.
    pub fn apply(&self, case: CaseBrief, created: bool) -> bool {
        let case = Arc::new(case);
        let before = {
            let mut inner = self.write();
            let before = inner.open.get(&case.id).cloned();
            if let Some(old) = &before {
                if old.version >= case.version {
                    return false;
                }
                inner.load_delta(old, false);
                inner.open.remove(&case.id);
            }
            if case.status.is_open() {
                inner.load_delta(&case, true);
                inner.open.insert(case.id, Arc::clone(&case));
            }
            before
        };
        let what = if !case.status.is_open() {
            CaseChangeKind::Closed
        } else if created {
            CaseChangeKind::Created
        } else {
            CaseChangeKind::Changed
        };
        // Nobody listening is fine.
        let _ = self
            .changes
            .send(Arc::new(CaseChange { what, case, before }));
        true
    }

    /// An open case.
    #[must_use]
    pub fn get(&self, id: i64) -> Option<Arc<CaseBrief>> {
        self.read().open.get(&id).cloned()
    }

    /// Every open case passing `keep`.
    pub fn open(&self, keep: impl Fn(&CaseBrief) -> bool) -> Vec<Arc<CaseBrief>> {
        self.read()
            .open
            .values()
            .filter(|c| keep(c))
            .cloned()
            .collect()
    }

    /// Open cases now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().open.len()
    }

    /// No open case.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cases dispatched to or in progress with worker `resource_id`.
    #[must_use]
    pub fn load_of(&self, resource_id: i64) -> u32 {
        self.read().loads.get(&resource_id).copied().unwrap_or(0)
    }

    /// Runs `f` with a load lookup that takes the lock once.
    pub fn with_loads<T>(&self, f: impl FnOnce(&dyn Fn(i64) -> u32) -> T) -> T {
        let inner = self.read();
        f(&|id| inner.loads.get(&id).copied().unwrap_or(0))
    }

    /// Changes committed from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CaseChange>> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(id: i64, version: i32, status: CaseStatus, assignee: Option<i64>) -> CaseBrief {
        CaseBrief {
            id,
            number: format!("NT-20261126-{id:06}"),
            title: "t".into(),
            category: "dispute".into(),
            source: "patrol".into(),
            severity: 2,
            status,
            position: [120.0, 32.0],
            grid: "320999001001001".into(),
            handling_unit: "320999001001001".into(),
            handling_level: 4,
            assignee,
            reporter: None,
            taken: false,
            assigned_at: None,
            deadline_at: DateTime::default(),
            overdue: false,
            version,
            created_at: DateTime::default(),
            updated_at: DateTime::default(),
            grid_id: 1,
            overdue_at: None,
        }
    }

    #[test]
    fn loads_follow_assignments() {
        let board = Board::default();
        let mut rx = board.subscribe();
        assert!(board.apply(brief(1, 1, CaseStatus::Reported, None), true));
        assert!(board.apply(brief(1, 3, CaseStatus::Dispatched, Some(7)), false));
        assert_eq!(board.load_of(7), 1);
        // An older version arriving late changes nothing.
        assert!(!board.apply(brief(1, 2, CaseStatus::Accepted, None), false));
        assert_eq!(board.load_of(7), 1);
        assert!(board.apply(brief(1, 4, CaseStatus::Resolved, Some(7)), false));
        assert_eq!(board.load_of(7), 0);
        assert!(board.apply(brief(1, 5, CaseStatus::Closed, Some(7)), false));
        assert!(board.get(1).is_none());
        let kinds: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|c| c.what)
            .collect();
        assert_eq!(
            kinds,
            vec![
                CaseChangeKind::Created,
                CaseChangeKind::Changed,
                CaseChangeKind::Changed,
                CaseChangeKind::Closed
            ]
        );
    }
}
