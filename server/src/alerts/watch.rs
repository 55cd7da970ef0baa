//! What the alert engine remembers of each on-duty worker between ticks, and the pure
//! decisions of the time-based rules (offline, out of grid, stationary). No clock, no I/O:
//! times are the reports' own (ms since the epoch) and the caller's `now_ms`.

use gridwall_spatial::{LatLng, haversine_m};

/// Thresholds of the time-based rules, as the rules table says (`None`: rule disabled).
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    /// Offline: silent for longer than this, ms.
    pub offline_ms: Option<i64>,
    /// Out of grid: outside the home grid for longer than this, ms.
    pub out_of_grid_ms: Option<i64>,
    /// Stationary: within `stationary_m` for longer than this, ms.
    pub stationary_ms: Option<i64>,
    /// Stationary: the distance that counts as not moving, metres.
    pub stationary_m: f64,
}

/// One worker's state between ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    /// Report time of the first report seen outside the home grid (since then, continuously).
    pub outside_since_ms: Option<i64>,
    /// Where the worker stopped moving…
    pub anchor: LatLng,
    /// …and since when (report time).
    pub still_since_ms: i64,
}

/// What one worker's latest report is, as the engine sees it at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Where it was, WGS84 degrees.
    pub position: LatLng,
    /// Report time, ms.
    pub at_ms: i64,
    /// The report lies in the worker's home grid.
    pub in_home_grid: bool,
}

/// Which time-based conditions hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Silent too long.
    pub offline: bool,
    /// Outside the home grid too long.
    pub out_of_grid: bool,
    /// Not moving too long.
    pub stationary: bool,
}

impl Watch {
    /// The state for a first sighting.
    #[must_use]
    pub fn start(seen: &Seen) -> Self {
        Self {
            outside_since_ms: (!seen.in_home_grid).then_some(seen.at_ms),
            anchor: seen.position,
            still_since_ms: seen.at_ms,
        }
    }

    /// Takes the latest report into account.
    pub fn observe(&mut self, seen: &Seen, t: &Thresholds) {
        if seen.in_home_grid {
            self.outside_since_ms = None;
        } else if self.outside_since_ms.is_none() {
            self.outside_since_ms = Some(seen.at_ms);
        }
        if haversine_m(self.anchor, seen.position) > t.stationary_m {
            self.anchor = seen.position;
            self.still_since_ms = seen.at_ms;
        }
    }

    /// The conditions at `now_ms` for a worker whose latest report is `seen`. Offline uses
    /// the clock (silence); the others use report times, so a silent phone is offline, not
    /// stationary.
    #[must_use]
    pub fn verdict(&self, seen: &Seen, now_ms: i64, t: &Thresholds) -> Verdict {
        let offline = t
            .offline_ms
            .is_some_and(|limit| now_ms - seen.at_ms > limit);
        Verdict {
            offline,
            out_of_grid: !offline
                && t.out_of_grid_ms.is_some_and(|limit| {
                    self.outside_since_ms
                        .is_some_and(|since| seen.at_ms - since > limit)
                }),
            stationary: !offline
                && t.stationary_ms
                    .is_some_and(|limit| seen.at_ms - self.still_since_ms > limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn t() -> Thresholds {
        Thresholds {
            offline_ms: Some(30 * MIN),
            out_of_grid_ms: Some(30 * MIN),
            stationary_ms: Some(60 * MIN),
            stationary_m: 30.0,
        }
    }

    fn seen(lng: f64, at_min: i64, home: bool) -> Seen {
        Seen {
            position: LatLng::new(32.0, lng).unwrap_or_else(|_| unreachable!()),
            at_ms: at_min * MIN,
            in_home_grid: home,
        }
    }

    #[test]
    fn offline_just_past_the_limit() {
        let s = seen(120.0, 0, true);
        let w = Watch::start(&s);
        assert!(!w.verdict(&s, 30 * MIN, &t()).offline);
        assert!(w.verdict(&s, 30 * MIN + 1, &t()).offline);
        // Offline hides the others: a silent phone is not "stationary".
        let v = w.verdict(&s, 200 * MIN, &t());
        assert_eq!((v.offline, v.stationary), (true, false));
    }

    #[test]
    #[allow(clippy::cast_precision_loss, reason = "minutes 20 to 40")]
    fn out_of_grid_counts_from_the_first_report_outside() {
        let mut w = Watch::start(&seen(120.0, 0, true));
        let mut last = seen(120.001, 10, false);
        w.observe(&last, &t());
        for m in [20, 30, 40] {
            last = seen(120.001 + 0.001 * m as f64, m, false);
            w.observe(&last, &t());
        }
        assert!(
            !w.verdict(&last, 40 * MIN, &t()).out_of_grid,
            "exactly 30 min"
        );
        last = seen(120.05, 41, false);
        w.observe(&last, &t());
        assert!(w.verdict(&last, 41 * MIN, &t()).out_of_grid);
        // Back home: the clock restarts.
        last = seen(120.0, 42, true);
        w.observe(&last, &t());
        assert!(!w.verdict(&last, 42 * MIN, &t()).out_of_grid);
        assert_eq!(w.outside_since_ms, None);
    }

    #[test]
    fn stationary_within_the_distance() {
        let mut w = Watch::start(&seen(120.0, 0, true));
        // 0.0002° of longitude at 32° N ≈ 19 m: still "not moving".
        let mut last = seen(120.0002, 60, true);
        w.observe(&last, &t());
        assert!(
            !w.verdict(&last, 60 * MIN, &t()).stationary,
            "exactly 60 min"
        );
        last = seen(120.0001, 61, true);
        w.observe(&last, &t());
        assert!(w.verdict(&last, 61 * MIN, &t()).stationary);
        // A step of ≈ 47 m moves the anchor.
        last = seen(120.0006, 62, true);
        w.observe(&last, &t());
        assert!(!w.verdict(&last, 62 * MIN, &t()).stationary);
    }

    #[test]
    fn disabled_rules_never_fire() {
        let s = seen(120.0, 0, false);
        let w = Watch::start(&s);
        let off = Thresholds::default();
        assert_eq!(w.verdict(&s, 10_000 * MIN, &off), Verdict::default());
    }
}
