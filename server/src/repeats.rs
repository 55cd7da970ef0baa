//! A log line that repeats is summarised, not repeated: the first few of a kind within a window
//! are logged whole, later ones only counted, and the count rides on the next line logged
//! ("12 more like this in the last 10 s"). During a database outage every request fails the
//! same way; a line (or a backtrace) per request buried the log (36 MB in 30 s).
//!
//! One [`Repeats`] per kind of message, as a `static` beside the code that logs it: it is the
//! log's own bookkeeping, like `tracing`'s per-call-site state, not application state.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The limiter of one kind of log line.
#[derive(Debug)]
pub struct Repeats {
    window: Duration,
    burst: u32,
    state: Mutex<Option<Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

/// What was left out before the line being logged: shown as a suffix of that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftOut {
    /// Lines of this kind not logged.
    pub count: u64,
    /// Over how long, seconds.
    pub over_s: u64,
}

impl fmt::Display for LeftOut {
    /// `""` when nothing was left out, else ` (N more like this in the last M s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return Ok(());
        }
        write!(
            f,
            " ({} more like this in the last {} s)",
            self.count, self.over_s
        )
    }
}

impl Repeats {
    /// Logs at most `burst` lines per `window`.
    #[must_use]
    pub const fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            state: Mutex::new(None),
        }
    }

    /// Whether to log this occurrence now (`Some`, with what was left out since the last line
    /// logged) or only count it (`None`).
    pub fn admit(&self) -> Option<LeftOut> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<LeftOut> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *state {
            Some(w) if now.duration_since(w.started) < self.window => {
                if w.logged < self.burst {
                    w.logged += 1;
                    Some(LeftOut {
                        count: 0,
                        over_s: 0,
                    })
                } else {
                    w.suppressed += 1;
                    None
                }
            }
            previous => {
                let left_out = previous.map_or(
                    LeftOut {
                        count: 0,
                        over_s: 0,
                    },
                    |w| LeftOut {
                        count: w.suppressed,
                        over_s: now.duration_since(w.started).as_secs(),
                    },
                );
                *previous = Some(Window {
                    started: now,
                    logged: 1,
                    suppressed: 0,
                });
                Some(left_out)
            }
        }
    }

    /// What was left out and not yet reported (to say it when the trouble ends); resets.
    pub fn take_left_out(&self) -> LeftOut {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match state.take() {
            Some(w) => LeftOut {
                count: w.suppressed,
                over_s: now.duration_since(w.started).as_secs(),
            },
            None => LeftOut {
                count: 0,
                over_s: 0,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_then_counted_and_the_count_rides_on_the_next_window() {
        let r = Repeats::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(r.admit_at(at(0)).unwrap().count, 0);
        assert_eq!(r.admit_at(at(1)).unwrap().count, 0);
        for s in 2..9 {
            assert!(
                r.admit_at(at(s)).is_none(),
                "the third and later are only counted"
            );
        }
        let next = r.admit_at(at(12)).unwrap();
        assert_eq!(
            next,
            LeftOut {
                count: 7,
                over_s: 12
            }
        );
        assert_eq!(
            next.to_string(),
            " (7 more like this in the last 12 s)",
            "said once, with the next line"
        );
        assert_eq!(r.admit_at(at(13)).unwrap().to_string(), "");
        assert!(r.admit_at(at(14)).is_none());
        assert_eq!(r.take_left_out().count, 1);
        assert_eq!(r.take_left_out().count, 0);
    }
}
