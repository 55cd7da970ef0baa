//! How a simulated resource moves: a grid worker walks from waypoint to waypoint inside their
//! grid (1–1.5 m/s, pausing now and then), a patrol vehicle drives a loop of waypoints through
//! its township (20–40 km/h). Pure: the caller passes elapsed time and the random source.
//!
//! Invariant: a walker's true position never leaves its area (each leg is a segment contained
//! in the polygon), and the noisy fix it reports is inside too (noise that would cross the
//! boundary is dropped), so a simulated worker never raises a false "out of grid".
//! Coordinates are `geo` coordinates, x = lng, y = lat, WGS84 degrees.

use geo::{Area as _, BoundingRect as _, Contains as _, Coord, InteriorPoint as _, Line};
use geo::{MultiPolygon, Polygon, Rect};
use rand::Rng;

/// Metres per degree of latitude (and of longitude at the equator); the simulator's distances
/// are local, so the equirectangular approximation is well under a metre off.
const M_PER_DEG: f64 = 111_320.0;

/// How a resource moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A grid worker on foot: random legs of at most [`WALK_LEG_M`] inside the area.
    Walk,
    /// A patrol vehicle: a fixed loop of waypoints through the area, driven round and round.
    Drive,
}

/// Longest leg a walker takes before choosing where to go next, metres.
pub const WALK_LEG_M: f64 = 400.0;

/// One reading of the simulated phone, what it reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// WGS84 latitude, degrees (with GPS noise).
    pub lat: f64,
    /// WGS84 longitude, degrees (with GPS noise).
    pub lng: f64,
    /// Horizontal accuracy the phone claims, metres.
    pub accuracy_m: f64,
    /// Speed over ground, m/s.
    pub speed_mps: f64,
    /// Course, degrees clockwise from north, [0, 360).
    pub heading_deg: f64,
    /// Battery, percent.
    pub battery_pct: f64,
}

/// A moving resource inside its area.
#[derive(Debug, Clone)]
pub struct Mover {
    style: Style,
    area: Polygon<f64>,
    bbox: Rect<f64>,
    pos: Coord<f64>,
    target: Coord<f64>,
    /// The vehicle's loop (empty for walkers) and the index of the current target in it.
    route: Vec<Coord<f64>>,
    next: usize,
    speed_mps: f64,
    pause_left_s: f64,
    heading_deg: f64,
    battery_pct: f64,
    drain_pct_per_s: f64,
    /// Walking to a case (and back): patrolling waits meanwhile.
    errand: Option<Errand>,
}

/// A walk off the patrol: to a case, then back to where the patrol was left.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Errand {
    /// Walking to (or standing at) a case; `back_to` is where the patrol left off.
    To { back_to: Coord<f64> },
    /// Walking back to where the patrol left off.
    Back,
}

/// Local east/north metres from `a` to `b`.
fn offset_m(a: Coord<f64>, b: Coord<f64>) -> (f64, f64) {
    let cos = a.y.to_radians().cos();
    ((b.x - a.x) * M_PER_DEG * cos, (b.y - a.y) * M_PER_DEG)
}

/// Distance in metres (equirectangular, fine at grid and township scale).
#[must_use]
pub fn distance_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = offset_m(a, b);
    dx.hypot(dy)
}

/// `a` moved by east/north metres.
fn moved(a: Coord<f64>, east_m: f64, north_m: f64) -> Coord<f64> {
    let cos = a.y.to_radians().cos().max(1e-6);
    Coord {
        x: a.x + east_m / (M_PER_DEG * cos),
        y: a.y + north_m / M_PER_DEG,
    }
}

/// A standard normal sample (Box–Muller; no extra crate for one distribution).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The largest polygon of an area (a resource patrols one piece, not across gaps).
fn main_part(area: &MultiPolygon<f64>) -> Option<Polygon<f64>> {
    area.0
        .iter()
        .max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()))
        .cloned()
}

/// A uniformly random point of `area`, by rejection in its bounding box.
fn sample_inside(area: &Polygon<f64>, bbox: Rect<f64>, rng: &mut impl Rng) -> Option<Coord<f64>> {
    for _ in 0..500 {
        let c = Coord {
            x: rng.random_range(bbox.min().x..=bbox.max().x),
            y: rng.random_range(bbox.min().y..=bbox.max().y),
        };
        if area.contains(&c) {
            return Some(c);
        }
    }
    area.interior_point().map(|p| p.0)
}

/// A random point reachable from `from` in a straight line without leaving `area`, at most
/// `max_m` away when possible; `from` itself when nothing is found.
fn sample_leg(
    area: &Polygon<f64>,
    bbox: Rect<f64>,
    from: Coord<f64>,
    max_m: f64,
    rng: &mut impl Rng,
) -> Coord<f64> {
    for attempt in 0..300 {
        // Mostly short legs near `from`; later attempts anywhere in the area.
        let c = if attempt < 200 {
            let r = max_m * rng.random::<f64>().sqrt();
            let a = rng.random_range(0.0..std::f64::consts::TAU);
            moved(from, r * a.cos(), r * a.sin())
        } else {
            match sample_inside(area, bbox, rng) {
                Some(c) => c,
                None => break,
            }
        };
        if area.contains(&c) && area.contains(&Line::new(from, c)) {
            return c;
        }
    }
    from
}

/// A random point of `area` within about `max_m` metres of `from` and reachable from it in a
/// straight line inside the area (`from` itself when none is found), x = lng, y = lat: where
/// something happens near a worker on patrol.
pub fn point_near(
    area: &Polygon<f64>,
    from: Coord<f64>,
    max_m: f64,
    rng: &mut impl Rng,
) -> Coord<f64> {
    match area.bounding_rect() {
        Some(bbox) => sample_leg(area, bbox, from, max_m, rng),
        None => from,
    }
}

impl Mover {
    /// A grid worker at a random place of `area`, walking at 1–1.5 m/s, battery 60–100 %.
    /// `None` when the area has no interior.
    pub fn walker(area: &MultiPolygon<f64>, rng: &mut impl Rng) -> Option<Self> {
        let area = main_part(area)?;
        let bbox = area.bounding_rect()?;
        let pos = sample_inside(&area, bbox, rng)?;
        Some(Self {
            style: Style::Walk,
            bbox,
            pos,
            target: pos,
            route: Vec::new(),
            next: 0,
            speed_mps: rng.random_range(1.0..=1.5),
            // Some start the day standing still.
            pause_left_s: rng.random_range(0.0..30.0),
            heading_deg: rng.random_range(0.0..360.0),
            battery_pct: rng.random_range(60.0..=100.0),
            // 5–10 % an hour, like a phone with GPS on.
            drain_pct_per_s: rng.random_range(5.0..=10.0) / 3600.0,
            errand: None,
            area,
        })
    }

    /// A patrol vehicle on a loop of 6–10 waypoints through `area`, at 20–40 km/h; its phone
    /// is on the car charger. `None` when the area has no interior.
    pub fn driver(area: &MultiPolygon<f64>, rng: &mut impl Rng) -> Option<Self> {
        let area = main_part(area)?;
        let bbox = area.bounding_rect()?;
        let centre = area.interior_point()?.0;
        let n = rng.random_range(6..=10);
        let mut route: Vec<Coord<f64>> = (0..n)
            .filter_map(|_| sample_inside(&area, bbox, rng))
            .collect();
        // Round the centre by bearing, so the loop is a tour rather than a zig-zag.
        route.sort_by(|a, b| {
            let (ax, ay) = offset_m(centre, *a);
            let (bx, by) = offset_m(centre, *b);
            ay.atan2(ax).total_cmp(&by.atan2(bx))
        });
        let pos = *route.first()?;
        Some(Self {
            style: Style::Drive,
            bbox,
            pos,
            target: pos,
            next: 0,
            route,
            speed_mps: rng.random_range(20.0..=40.0) / 3.6,
            pause_left_s: 0.0,
            heading_deg: 0.0,
            battery_pct: 100.0,
            drain_pct_per_s: 0.0,
            errand: None,
            area,
        })
    }

    /// How it moves.
    #[must_use]
    pub fn style(&self) -> Style {
        self.style
    }

    /// The area it stays in (its grid, or its township's main part).
    #[must_use]
    pub fn area(&self) -> &Polygon<f64> {
        &self.area
    }

    /// The true position (no noise), x = lng, y = lat.
    #[must_use]
    pub fn position(&self) -> Coord<f64> {
        self.pos
    }

    /// Leaves the patrol and walks (in a straight line, at 1.1–1.4 m/s) to `at`, x = lng,
    /// y = lat, e.g. a case; stays there until [`Mover::release`]. The straight line may
    /// leave the area: a case next door is worth crossing the boundary for.
    pub fn go_to(&mut self, at: Coord<f64>, rng: &mut impl Rng) {
        let back_to = match self.errand {
            Some(Errand::To { back_to }) => back_to,
            // Back (or patrolling): the patrol resumes from here, which is inside the area
            // when patrolling and on the way back otherwise.
            _ if self.area.contains(&self.pos) => self.pos,
            _ => self.target,
        };
        self.errand = Some(Errand::To { back_to });
        self.target = at;
        self.pause_left_s = 0.0;
        self.speed_mps = rng.random_range(1.1..=1.4);
    }

    /// Arrived where [`Mover::go_to`] sent it.
    #[must_use]
    pub fn arrived(&self) -> bool {
        matches!(self.errand, Some(Errand::To { .. })) && distance_m(self.pos, self.target) < 0.5
    }

    /// On an errand (walking to a case, standing at it or walking back).
    #[must_use]
    pub fn on_errand(&self) -> bool {
        self.errand.is_some()
    }

    /// Ends the errand: walks back to where the patrol was left, then patrols again.
    pub fn release(&mut self) {
        if let Some(Errand::To { back_to }) = self.errand {
            self.target = back_to;
            self.errand = Some(Errand::Back);
        }
    }

    fn choose_target(&mut self, rng: &mut impl Rng) {
        match self.style {
            Style::Walk => {
                self.target = sample_leg(&self.area, self.bbox, self.pos, WALK_LEG_M, rng);
                self.speed_mps = rng.random_range(1.0..=1.5);
            }
            Style::Drive => {
                self.next = (self.next + 1) % self.route.len().max(1);
                self.target = self.route.get(self.next).copied().unwrap_or(self.pos);
                self.speed_mps = rng.random_range(20.0..=40.0) / 3.6;
            }
        }
    }

    /// At a waypoint: walkers often stop (talk to residents, check a building) for up to two
    /// minutes; vehicles sometimes stop for up to one.
    fn maybe_pause(&mut self, rng: &mut impl Rng) {
        let (p, max_s) = match self.style {
            Style::Walk => (0.4, 120.0),
            Style::Drive => (0.2, 60.0),
        };
        if rng.random_bool(p) {
            self.pause_left_s = rng.random_range(5.0..max_s);
        }
    }

    /// Moves on by `dt_s` seconds.
    pub fn advance(&mut self, dt_s: f64, rng: &mut impl Rng) {
        self.battery_pct -= self.drain_pct_per_s * dt_s.max(0.0);
        if self.battery_pct < 15.0 {
            // A charge at the station (or a fresh power bank).
            self.battery_pct = rng.random_range(90.0..=100.0);
        }
        let mut left = dt_s.max(0.0);
        // Bounded: a long gap (the machine slept) is walked in a few hundred legs at most.
        for _ in 0..1000 {
            if left <= 0.0 {
                break;
            }
            if self.pause_left_s > 0.0 {
                let p = self.pause_left_s.min(left);
                self.pause_left_s -= p;
                left -= p;
                continue;
            }
            let d = distance_m(self.pos, self.target);
            if d < 0.5 {
                self.pos = self.target;
                match self.errand {
                    // At the case: stand there until released.
                    Some(Errand::To { .. }) => break,
                    Some(Errand::Back) => self.errand = None,
                    None => {}
                }
                self.choose_target(rng);
                self.maybe_pause(rng);
                if distance_m(self.pos, self.target) < 0.5 && self.pause_left_s <= 0.0 {
                    // Nowhere to go (a degenerate area): stand still for the rest.
                    break;
                }
                continue;
            }
            let step = self.speed_mps * left;
            let (dx, dy) = offset_m(self.pos, self.target);
            self.heading_deg = dx.atan2(dy).to_degrees().rem_euclid(360.0);
            if step >= d {
                self.pos = self.target;
                left -= d / self.speed_mps;
            } else {
                let f = step / d;
                self.pos = moved(self.pos, dx * f, dy * f);
                left = 0.0;
            }
        }
    }

    /// What the phone reports now: the position with a little GPS noise (σ about a third of
    /// the claimed accuracy), speed with noise, heading, battery.
    pub fn read(&self, rng: &mut impl Rng) -> Reading {
        let moving = self.pause_left_s <= 0.0 && distance_m(self.pos, self.target) >= 0.5;
        // Off the patrol the noise may cross the boundary like the worker does.
        let bounded = self.errand.is_none();
        let accuracy_m = match self.style {
            Style::Walk => rng.random_range(4.0..=15.0),
            Style::Drive => rng.random_range(3.0..=10.0),
        };
        let sigma = accuracy_m / 3.0;
        let noisy = moved(self.pos, sigma * normal(rng), sigma * normal(rng));
        // Noise never carries a fix across the boundary (see the module invariant).
        let at = if !bounded || self.area.contains(&noisy) {
            noisy
        } else {
            self.pos
        };
        let speed_mps = if moving {
            (self.speed_mps + 0.1 * self.speed_mps * normal(rng)).max(0.0)
        } else {
            rng.random_range(0.0..0.3)
        };
        Reading {
            lat: at.y,
            lng: at.x,
            accuracy_m,
            speed_mps,
            heading_deg: self.heading_deg.rem_euclid(360.0),
            battery_pct: self.battery_pct.clamp(0.0, 100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use geo::{LineString, polygon};
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    /// An L-shaped grid (concave), about 1.1 km × 1.1 km, near Nantong.
    fn l_shape() -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: 120.80, y: 32.00),
            (x: 120.81, y: 32.00),
            (x: 120.81, y: 32.003),
            (x: 120.803, y: 32.003),
            (x: 120.803, y: 32.01),
            (x: 120.80, y: 32.01),
            (x: 120.80, y: 32.00),
        ]])
    }

    #[test]
    fn a_walker_stays_inside_a_concave_grid_at_walking_speed() {
        let area = l_shape();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20 {
            let mut w = Mover::walker(&area, &mut rng).expect("walker");
            let mut walked = Vec::new();
            let mut last = w.position();
            for _ in 0..720 {
                w.advance(10.0, &mut rng);
                let p = w.position();
                // A walker covers at most 1.5 m/s × 10 s in a straight line.
                assert!(distance_m(last, p) <= 15.0 + 1e-6, "{last:?} → {p:?}");
                // The whole path between two readings is inside, not only its ends.
                assert!(
                    w.area().contains(&Line::new(last, p)) || last == p,
                    "left the grid between {last:?} and {p:?}"
                );
                let r = w.read(&mut rng);
                assert!(w.area().contains(&Coord { x: r.lng, y: r.lat }));
                assert!((0.0..360.0).contains(&r.heading_deg));
                assert!((0.0..=100.0).contains(&r.battery_pct));
                walked.push(p);
                last = p;
            }
            // Two hours of patrol cover more than one spot.
            let spread = LineString::from(walked).bounding_rect().expect("rect");
            assert!(spread.width() > 0.001 || spread.height() > 0.001);
        }
    }

    #[test]
    fn a_vehicle_drives_at_20_to_40_kmh_and_loops() {
        let area = MultiPolygon(vec![polygon![
            (x: 120.80, y: 32.00),
            (x: 120.86, y: 32.00),
            (x: 120.86, y: 32.05),
            (x: 120.80, y: 32.05),
            (x: 120.80, y: 32.00),
        ]]);
        let mut rng = StdRng::seed_from_u64(3);
        let mut v = Mover::driver(&area, &mut rng).expect("driver");
        assert_eq!(v.style(), Style::Drive);
        let mut moved_m = 0.0;
        let mut last = v.position();
        for _ in 0..360 {
            v.advance(10.0, &mut rng);
            let d = distance_m(last, v.position());
            assert!(d <= 40.0 / 3.6 * 10.0 + 1e-6, "too fast: {d} m in 10 s");
            moved_m += d;
            last = v.position();
        }
        // An hour at 20–40 km/h with some stops: well over 5 km.
        assert!(moved_m > 5_000.0, "drove only {moved_m} m");
        assert!((v.read(&mut rng).battery_pct - 100.0).abs() < 1e-9);
    }

    #[test]
    fn battery_drains_and_recharges() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut w = Mover::walker(&l_shape(), &mut rng).expect("walker");
        let start = w.read(&mut rng).battery_pct;
        w.advance(600.0, &mut rng);
        let after = w.read(&mut rng).battery_pct;
        assert!(after < start, "{after} !< {start}");
        for _ in 0..200 {
            w.advance(600.0, &mut rng);
            assert!(w.read(&mut rng).battery_pct >= 15.0);
        }
    }

    #[test]
    fn a_walker_goes_to_a_case_waits_there_and_patrols_again() {
        let area = l_shape();
        let mut rng = StdRng::seed_from_u64(11);
        let mut w = Mover::walker(&area, &mut rng).expect("walker");
        w.advance(60.0, &mut rng);
        let left_at = w.position();
        // A case just outside the grid, north-east of the L.
        let case = Coord {
            x: 120.806,
            y: 32.006,
        };
        assert!(!w.area().contains(&case));
        w.go_to(case, &mut rng);
        assert!(w.on_errand() && !w.arrived());
        let mut last = w.position();
        for _ in 0..600 {
            w.advance(5.0, &mut rng);
            assert!(distance_m(last, w.position()) <= 1.4 * 5.0 + 1e-6);
            last = w.position();
            if w.arrived() {
                break;
            }
        }
        assert!(w.arrived(), "never reached the case");
        // It stays on site until released.
        w.advance(600.0, &mut rng);
        assert!(w.arrived());
        assert!(distance_m(w.position(), case) < 0.5);
        w.release();
        for _ in 0..2000 {
            w.advance(5.0, &mut rng);
            if !w.on_errand() {
                break;
            }
        }
        assert!(!w.on_errand(), "never got back");
        assert!(distance_m(w.position(), left_at) < 15.0 || w.area().contains(&w.position()));
        // Patrolling again, inside.
        for _ in 0..100 {
            w.advance(10.0, &mut rng);
            assert!(w.area().contains(&w.position()));
        }
    }

    #[test]
    fn a_point_near_a_worker_is_in_the_grid() {
        let area = l_shape();
        let mut rng = StdRng::seed_from_u64(2);
        let from = Coord {
            x: 120.801,
            y: 32.001,
        };
        for _ in 0..200 {
            let p = point_near(
                main_part(&area).as_ref().expect("part"),
                from,
                600.0,
                &mut rng,
            );
            assert!(area.contains(&p));
            assert!(distance_m(from, p) <= 600.0 + 1e-6);
        }
    }

    #[test]
    fn a_degenerate_area_gives_no_mover() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(Mover::walker(&MultiPolygon::<f64>(vec![]), &mut rng).is_none());
    }
}
