//! The OsmAnd device identifier is itself the credential: guessing must be slow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Error;

/// Failed OsmAnd identifiers per address: after this many in a minute, the address waits.
const OSMAND_FAILURES_PER_MINUTE: u32 = 10;

/// Counts unknown device identifiers per client address (the identifier is the credential,
/// so guessing must be slow).
#[derive(Debug, Default)]
pub struct IdentLimiter {
    failures: Mutex<HashMap<Option<IpAddr>, (u32, Instant)>>,
}

impl IdentLimiter {
    /// Seconds `addr` must wait, when it sent too many unknown identifiers lately.
    #[must_use]
    pub fn blocked(&self, addr: Option<IpAddr>) -> Option<u64> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (n, since) = map.get(&addr)?;
        let left = Duration::from_secs(60).checked_sub(since.elapsed())?;
        (*n >= OSMAND_FAILURES_PER_MINUTE).then(|| left.as_secs().max(1))
    }

    /// Whether `addr` may present an identifier now; ask before reading the request, so that a
    /// refused address costs nothing.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyRequests`] (`too_many_unknown_devices`) with the seconds to wait.
    pub fn admit(&self, addr: Option<IpAddr>) -> Result<(), Error> {
        match self.blocked(addr) {
            None => Ok(()),
            Some(wait) => Err(Error::TooManyRequests {
                code: "too_many_unknown_devices",
                message: "too many unknown device identifiers from this address; wait a minute"
                    .into(),
                retry_after_s: wait,
            }),
        }
    }

    /// Counts one unknown identifier from `addr`.
    pub fn failed(&self, addr: Option<IpAddr>) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < Duration::from_secs(60));
        }
        let e = map.entry(addr).or_insert((0, Instant::now()));
        if e.1.elapsed() >= Duration::from_secs(60) {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}
