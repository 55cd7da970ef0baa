//! The simulated workers as the case loops see them: where each is (updated by its own task
//! at every report), its grid's outline, its phone's device token, and a hint the dispatcher
//! loop raises when it has dispatched a case to it, so that its phone asks for its cases soon
//! instead of at the slow background pace. Lock-free but for the token.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use geo::{Coord, Polygon};

/// One simulated worker.
#[derive(Debug)]
pub struct Member {
    /// `resources.id`.
    pub id: i64,
    /// Home grid code.
    pub grid: String,
    /// Home grid name (for the address of the cases raised near the worker).
    pub place: String,
    /// The grid's outline (the part the worker patrols), x = lng, y = lat.
    pub area: Polygon<f64>,
    lng_bits: AtomicU64,
    lat_bits: AtomicU64,
    known: AtomicBool,
    hint: AtomicBool,
    token: std::sync::Mutex<String>,
}

impl Member {
    /// A worker with no position known yet.
    #[must_use]
    pub fn new(id: i64, grid: String, place: String, area: Polygon<f64>, token: String) -> Self {
        Self {
            id,
            grid,
            place,
            area,
            lng_bits: AtomicU64::new(0),
            lat_bits: AtomicU64::new(0),
            known: AtomicBool::new(false),
            hint: AtomicBool::new(false),
            token: std::sync::Mutex::new(token),
        }
    }

    /// Where the worker is, x = lng, y = lat (once it has moved at least once).
    #[must_use]
    pub fn position(&self) -> Option<Coord<f64>> {
        self.known.load(Ordering::Acquire).then(|| Coord {
            x: f64::from_bits(self.lng_bits.load(Ordering::Relaxed)),
            y: f64::from_bits(self.lat_bits.load(Ordering::Relaxed)),
        })
    }

    /// Sets where the worker is.
    pub fn set_position(&self, at: Coord<f64>) {
        self.lng_bits.store(at.x.to_bits(), Ordering::Relaxed);
        self.lat_bits.store(at.y.to_bits(), Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    /// The dispatcher gave the worker a case: its phone should look soon.
    pub fn hint(&self) {
        self.hint.store(true, Ordering::Relaxed);
    }

    /// Takes the hint (true once per hint).
    pub fn take_hint(&self) -> bool {
        self.hint.swap(false, Ordering::Relaxed)
    }

    /// The phone's device token now.
    #[must_use]
    pub fn token(&self) -> String {
        self.token.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The phone got a new device token.
    pub fn set_token(&self, token: &str) {
        if let Ok(mut t) = self.token.lock() {
            token.clone_into(&mut t);
        }
    }
}

/// Every simulated worker.
#[derive(Debug, Default)]
pub struct Crew {
    /// In set-up order.
    pub members: Vec<Arc<Member>>,
    by_id: HashMap<i64, Arc<Member>>,
}

impl Crew {
    /// The crew of these members.
    #[must_use]
    pub fn new(members: Vec<Arc<Member>>) -> Self {
        let by_id = members.iter().map(|m| (m.id, Arc::clone(m))).collect();
        Self { members, by_id }
    }

    /// One member by resource id.
    #[must_use]
    pub fn get(&self, id: i64) -> Option<&Arc<Member>> {
        self.by_id.get(&id)
    }
}

/// The simulator's clock: simulated durations (a worker's time on site, the wait before a
/// follow-up call, a case rate per hour) run `scale` times faster than real ones. Walking
/// speed is simulated too, so everything stays in step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    scale: f64,
}

impl Clock {
    /// A clock running `scale` times faster than real time (1: real time); a scale that is
    /// not a positive finite number is taken as 1.
    #[must_use]
    pub fn new(scale: f64) -> Self {
        Self {
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    /// Simulated seconds per real second.
    #[must_use]
    pub fn scale(self) -> f64 {
        self.scale
    }

    /// The real time a simulated duration takes, at least `floor` (request pacing: a fast
    /// clock must not make a thousand phones poll ten times a second).
    #[must_use]
    pub fn real(self, simulated: Duration, floor: Duration) -> Duration {
        simulated.div_f64(self.scale).max(floor)
    }

    /// Simulated seconds in a real duration.
    #[must_use]
    pub fn simulated_s(self, real_s: f64) -> f64 {
        real_s * self.scale
    }
}

#[cfg(test)]
mod tests {
    use geo::polygon;

    use super::*;

    #[test]
    fn a_member_keeps_its_position_hint_and_token() {
        let area = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)];
        let m = Member::new(7, "g".into(), "甲".into(), area, "gwd_a".into());
        assert_eq!(m.position(), None);
        m.set_position(Coord { x: 120.5, y: 32.25 });
        assert_eq!(m.position(), Some(Coord { x: 120.5, y: 32.25 }));
        assert!(!m.take_hint());
        m.hint();
        assert!(m.take_hint());
        assert!(!m.take_hint());
        m.set_token("gwd_b");
        assert_eq!(m.token(), "gwd_b");
        let crew = Crew::new(vec![Arc::new(m)]);
        assert_eq!(crew.get(7).map(|m| m.id), Some(7));
        assert!(crew.get(8).is_none());
    }

    #[test]
    fn the_clock_scales_and_floors() {
        let c = Clock::new(10.0);
        assert_eq!(
            c.real(Duration::from_secs(100), Duration::ZERO),
            Duration::from_secs(10)
        );
        assert_eq!(
            c.real(Duration::from_secs(5), Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert!((c.simulated_s(3.0) - 30.0).abs() < 1e-9);
        assert!((Clock::new(0.0).scale() - 1.0).abs() < f64::EPSILON);
        assert!((Clock::new(f64::NAN).scale() - 1.0).abs() < f64::EPSILON);
    }
}
