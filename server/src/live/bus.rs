//! The one interface live updates travel through from ingest to every websocket. In-process by
//! default ([`LocalBus`], a bounded broadcast); a shared bus (NATS, Redis) for several server
//! instances would implement the same trait, carrying units by code rather than by the
//! in-memory [`UnitId`](gridwall_spatial::UnitId)s of one process.

use std::fmt::Debug;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::LiveUpdate;

/// A batch of updates, shared by every subscriber without copying.
pub type Batch = Arc<[LiveUpdate]>;

/// Where subscribers read batches; a receiver that falls more than the bus's capacity behind
/// gets `RecvError::Lagged` and must re-read the state (a fresh snapshot) instead of the
/// backlog.
pub type Receiver = broadcast::Receiver<Batch>;

/// Publish/subscribe of live updates.
pub trait Bus: Send + Sync + Debug {
    /// Hands a batch to every current subscriber; never waits for any of them.
    fn publish(&self, batch: Batch);
    /// A new subscriber, receiving batches published from now on.
    fn subscribe(&self) -> Receiver;
}

/// The in-process bus: a broadcast channel holding the last `capacity` batches.
#[derive(Debug)]
pub struct LocalBus {
    tx: broadcast::Sender<Batch>,
}

impl LocalBus {
    /// A bus that keeps `capacity` batches for slow subscribers.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }
}

impl Bus for LocalBus {
    fn publish(&self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(batch);
    }

    fn subscribe(&self) -> Receiver {
        self.tx.subscribe()
    }
}
