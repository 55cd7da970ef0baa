//! The coalescing core every layer of a websocket client shares: the latest change per key
//! until the next flush, bounded, or a snapshot owed instead.
//!
//! A client that cannot keep up never grows an unbounded queue: past `max_pending` changed
//! keys the backlog is dropped and a snapshot owed, which reads the current state when it is
//! sent. While a snapshot is owed nothing is queued.

use std::collections::HashMap;
use std::hash::Hash;

use super::SnapshotReason;

/// The latest change per key, at most `max_pending` keys, or a snapshot owed.
#[derive(Debug)]
pub struct Backlog<K, V> {
    pending: HashMap<K, V>,
    owed: Option<SnapshotReason>,
    max_pending: usize,
}

impl<K: Eq + Hash, V> Backlog<K, V> {
    /// An empty backlog holding at most `max_pending` keys (at least one).
    #[must_use]
    pub fn new(max_pending: usize) -> Self {
        Self {
            pending: HashMap::new(),
            owed: None,
            max_pending: max_pending.max(1),
        }
    }

    /// A snapshot is owed from now on and the changes queued so far are dropped (the snapshot
    /// reads the current state). A `subscribe` reason is not downgraded.
    pub fn owe(&mut self, reason: SnapshotReason) {
        if self.owed != Some(SnapshotReason::Subscribe) {
            self.owed = Some(reason);
        }
        // Give the memory back: a backlog that overflowed may have been large.
        self.pending = HashMap::new();
    }

    /// The snapshot owed, if any.
    #[must_use]
    pub fn owed(&self) -> Option<SnapshotReason> {
        self.owed
    }

    /// Takes the snapshot owed (a resync when none was), emptying the backlog: the caller
    /// sends the snapshot now.
    pub fn take_snapshot(&mut self) -> SnapshotReason {
        self.pending = HashMap::new();
        self.owed.take().unwrap_or(SnapshotReason::Resync)
    }

    /// Nothing queued and nothing owed.
    pub fn clear(&mut self) {
        self.owed = None;
        self.pending = HashMap::new();
    }

    /// The change queued for `key`.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.pending.get(key)
    }

    /// Queues `change` for `key`, replacing an earlier one. Past the bound the backlog is
    /// dropped for a snapshot (`resync`) and `false` is answered. Ignored while a snapshot is
    /// owed.
    pub fn put(&mut self, key: K, change: V) -> bool {
        if self.owed.is_some() {
            return false;
        }
        self.pending.insert(key, change);
        if self.pending.len() > self.max_pending {
            self.owe(SnapshotReason::Resync);
            return false;
        }
        true
    }

    /// Keys with a change not yet sent.
    #[must_use]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// No change queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes the changes queued, in no particular order.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.pending.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_change_per_key_is_kept_and_an_overflow_owes_a_resync() {
        let mut b = Backlog::new(2);
        assert!(b.put(1, "a"));
        assert!(b.put(1, "b"));
        assert!(b.put(2, "c"));
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(&1), Some(&"b"));
        assert!(!b.put(3, "d"));
        assert_eq!(b.owed(), Some(SnapshotReason::Resync));
        assert!(b.is_empty());
        assert!(!b.put(4, "e"), "nothing is queued while a snapshot is owed");
        assert_eq!(b.take_snapshot(), SnapshotReason::Resync);
        assert!(b.put(4, "e"));
    }

    #[test]
    fn a_subscribe_snapshot_is_not_downgraded() {
        let mut b: Backlog<i64, ()> = Backlog::new(10);
        b.owe(SnapshotReason::Subscribe);
        b.owe(SnapshotReason::Resync);
        assert_eq!(b.take_snapshot(), SnapshotReason::Subscribe);
        assert_eq!(b.owed(), None);
        b.owe(SnapshotReason::Hierarchy);
        b.clear();
        assert_eq!(b.owed(), None);
    }
}
