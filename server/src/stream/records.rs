//! The record layers of a websocket client, `cases` and `alerts`: one [`RecordFeed`] each,
//! the same coalescing as the resource layer ([`Backlog`]) keyed by record id, answered with a
//! snapshot of what the view sees (`cases_snapshot`, `alerts_snapshot`) or the changes since
//! the last flush (`cases`, `alerts`), the latest per record.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Backlog, SnapshotReason};
use crate::alerts::{AlertBrief, AlertChange};
use crate::cases::{CaseBrief, CaseChange};

/// Record changes a client may have pending before they are dropped for a snapshot.
pub const MAX_PENDING_RECORDS: usize = 10_000;

/// A change of a record that a layer streams.
pub trait Record {
    /// The record as clients see it.
    type Brief: Serialize;
    /// How the layer's changes are ordered in a message.
    type Order: Ord;
    /// The snapshot message's type, e.g. `cases_snapshot`.
    const SNAPSHOT: &'static str;
    /// The changes message's type and the snapshot's list member, e.g. `cases`.
    const LAYER: &'static str;
    /// The member naming the record in a change, e.g. `case`.
    const ONE: &'static str;

    /// The record's id.
    fn id(&self) -> i64;
    /// What happened, as sent.
    fn what(&self) -> Value;
    /// The record after the change.
    fn brief(&self) -> &Arc<Self::Brief>;
    /// The order of changes in a message.
    fn order(&self) -> Self::Order;
    /// The order of records in a snapshot.
    fn brief_id(brief: &Self::Brief) -> i64;
}

impl Record for CaseChange {
    type Brief = CaseBrief;
    type Order = (DateTime<Utc>, i64);
    const SNAPSHOT: &'static str = "cases_snapshot";
    const LAYER: &'static str = "cases";
    const ONE: &'static str = "case";

    fn id(&self) -> i64 {
        self.case.id
    }
    fn what(&self) -> Value {
        serde_json::to_value(self.what).unwrap_or(Value::Null)
    }
    fn brief(&self) -> &Arc<CaseBrief> {
        &self.case
    }
    fn order(&self) -> Self::Order {
        (self.case.updated_at, self.case.id)
    }
    fn brief_id(brief: &CaseBrief) -> i64 {
        brief.id
    }
}

impl Record for AlertChange {
    type Brief = AlertBrief;
    type Order = (DateTime<Utc>, i64, i32);
    const SNAPSHOT: &'static str = "alerts_snapshot";
    const LAYER: &'static str = "alerts";
    const ONE: &'static str = "alert";

    fn id(&self) -> i64 {
        self.alert.id
    }
    fn what(&self) -> Value {
        serde_json::to_value(self.what).unwrap_or(Value::Null)
    }
    fn brief(&self) -> &Arc<AlertBrief> {
        &self.alert
    }
    fn order(&self) -> Self::Order {
        (self.alert.last_raised_at, self.alert.id, self.alert.version)
    }
    fn brief_id(brief: &AlertBrief) -> i64 {
        brief.id
    }
}

/// One client's layer of records: what it has not been told yet.
#[derive(Debug)]
pub struct RecordFeed<C> {
    backlog: Backlog<i64, Arc<C>>,
}

impl<C: Record> Default for RecordFeed<C> {
    fn default() -> Self {
        Self {
            backlog: Backlog::new(MAX_PENDING_RECORDS),
        }
    }
}

impl<C: Record> RecordFeed<C> {
    /// A new subscription: a snapshot is owed.
    pub fn subscribe(&mut self) {
        self.backlog.owe(SnapshotReason::Subscribe);
    }

    /// Changes were missed: a snapshot is owed.
    pub fn resync(&mut self) {
        self.backlog.owe(SnapshotReason::Resync);
    }

    /// Takes in one change, `visible` to the client's view or not; `was_visible`: the record
    /// as it was before the change was. A record that leaves the view (a worker's case
    /// dispatched to another) owes a snapshot, which replaces the client's set without it:
    /// the change itself is not the client's to see.
    pub fn observe(&mut self, change: Arc<C>, visible: bool, was_visible: bool) {
        if visible {
            self.backlog.put(change.id(), change);
        } else if was_visible {
            self.backlog.owe(SnapshotReason::Resync);
        }
    }

    /// Whether there is something to send. With the layer off (`enabled` false) everything
    /// queued or owed is dropped.
    pub fn due(&mut self, enabled: bool) -> bool {
        if !enabled {
            self.backlog.clear();
            return false;
        }
        self.backlog.owed().is_some() || !self.backlog.is_empty()
    }

    /// The message owed: the snapshot of `visible` (called only then), or the changes queued,
    /// in their order. Empties the backlog.
    pub fn message(&mut self, visible: impl FnOnce() -> Vec<Arc<C::Brief>>) -> Value {
        let mut msg = Map::new();
        if self.backlog.owed().is_some() {
            self.backlog.take_snapshot();
            let mut records = visible();
            records.sort_by_key(|r| C::brief_id(r));
            msg.insert("type".into(), C::SNAPSHOT.into());
            msg.insert(C::LAYER.into(), to_value(&records));
        } else {
            let mut changes: Vec<Arc<C>> = self.backlog.drain().map(|(_, c)| c).collect();
            changes.sort_by_key(|c| c.order());
            let changes: Vec<Value> = changes
                .iter()
                .map(|c| {
                    let mut one = Map::new();
                    one.insert("what".into(), c.what());
                    one.insert(C::ONE.into(), to_value(c.brief()));
                    Value::Object(one)
                })
                .collect();
            msg.insert("type".into(), C::LAYER.into());
            msg.insert("changes".into(), Value::Array(changes));
        }
        Value::Object(msg)
    }
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
