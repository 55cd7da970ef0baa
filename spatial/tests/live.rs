//! The live index against brute force: nearest-k, boxes and radii with filters over many
//! random resources around Nantong (some stacked on one spot, some on the corners of buckets),
//! report ordering rules, moves, removals and memory per resource.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::HashMap;

use gridwall_spatial::{
    CellIndex, Change, Entry, LatLng, LiveIndex, LiveQueryError, Report, Resolution, ResourceId,
    ResourceKind, Status, UnitId, haversine_m,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WEST: f64 = 120.3;
const EAST: f64 = 121.9;
const SOUTH: f64 = 31.6;
const NORTH: f64 = 32.7;

fn h3(p: LatLng) -> h3o::LatLng {
    h3o::LatLng::new(p.lat(), p.lng()).unwrap()
}

fn random_point(rng: &mut StdRng) -> LatLng {
    LatLng::new(rng.random_range(SOUTH..NORTH), rng.random_range(WEST..EAST)).unwrap()
}

/// Positions of every kind: uniform, clustered (several on one spot: ties), on the corners of
/// bucket cells (nudged a centimetre), and dense in one township-sized patch.
fn random_report(rng: &mut StdRng, res: Resolution, spots: &[LatLng], at_ms: i64) -> Report {
    let position = match rng.random_range(0..10) {
        0..=4 => random_point(rng),
        5 => spots[rng.random_range(0..spots.len())],
        6 | 7 => {
            let cell = h3(random_point(rng)).to_cell(res);
            let corners = cell.boundary();
            let c = corners[rng.random_range(0..corners.len())];
            LatLng::new(
                c.lat() + rng.random_range(-1e-7..1e-7),
                c.lng() + rng.random_range(-1e-7..1e-7),
            )
            .unwrap()
        }
        _ => LatLng::new(
            rng.random_range(32.0..32.06),
            rng.random_range(120.85..120.93),
        )
        .unwrap(),
    };
    let kind = if rng.random_bool(0.8) {
        ResourceKind::Worker
    } else {
        ResourceKind::Vehicle
    };
    let status = Status::from_bits(rng.random_range(0..16));
    let mut report = Report::new(position, at_ms, kind);
    report.status = status;
    report.grid = rng
        .random_bool(0.9)
        .then(|| UnitId(rng.random_range(0..50)));
    report.speed_mps = Some(rng.random_range(0.0..15.0));
    report.battery_pct = Some(rng.random_range(0..=100));
    report
}

/// Files half the reports by `upsert`, the other half through a finer cell (as the server
/// does with the hierarchy's resolution-10 cell).
fn file(index: &mut LiveIndex, id: ResourceId, report: Report) -> Change {
    if id.0 % 2 == 0 {
        index.upsert(id, report)
    } else {
        let fine = if id.0 % 3 == 0 {
            Resolution::Fifteen
        } else {
            Resolution::Ten
        };
        index.upsert_in_cell(id, report, h3(report.position).to_cell(fine))
    }
}

fn build(res: Resolution, n: usize, seed: u64) -> (LiveIndex, Vec<Report>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let spots: Vec<LatLng> = (0..20).map(|_| random_point(&mut rng)).collect();
    let mut index = LiveIndex::new(res);
    let mut reports = Vec::with_capacity(n);
    for i in 0..n {
        let report = random_report(&mut rng, res, &spots, 1_000);
        let id = ResourceId(i64::try_from(i).unwrap() * 7 - 3_000);
        assert!(matches!(
            file(&mut index, id, report),
            Change::Inserted { .. }
        ));
        reports.push(report);
    }
    (index, reports)
}

/// A named filter.
type Filter = (&'static str, Box<dyn Fn(&Entry) -> bool>);

/// The filters the server uses: none, available workers, a scope (grid set), vehicles.
fn filters() -> Vec<Filter> {
    vec![
        ("all", Box::new(|_: &Entry| true)),
        (
            "available workers",
            Box::new(|e: &Entry| {
                e.report.kind == ResourceKind::Worker && e.report.status.is_available()
            }),
        ),
        (
            "scope",
            Box::new(|e: &Entry| e.report.grid.is_some_and(|g| g.0 % 5 == 1)),
        ),
        (
            "vehicles",
            Box::new(|e: &Entry| e.report.kind == ResourceKind::Vehicle),
        ),
    ]
}

fn brute_nearest(
    index: &LiveIndex,
    centre: LatLng,
    k: usize,
    max_m: f64,
    filter: &dyn Fn(&Entry) -> bool,
) -> Vec<(ResourceId, f64)> {
    let mut all: Vec<(ResourceId, f64)> = index
        .iter()
        .filter(|e| filter(e))
        .map(|e| (e.id, haversine_m(centre, e.report.position)))
        .filter(|&(_, d)| d <= max_m)
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn query_centres(rng: &mut StdRng, index: &LiveIndex, n: usize) -> Vec<LatLng> {
    let positions: Vec<LatLng> = index.iter().map(|e| e.report.position).collect();
    (0..n)
        .map(|i| match i % 4 {
            0 | 1 => random_point(rng),
            // Exactly on a resource (distance 0, and ties on stacked spots).
            2 => positions[rng.random_range(0..positions.len())],
            // Far from everything: the Yellow Sea, inland Anhui.
            _ => LatLng::new(rng.random_range(31.0..33.5), rng.random_range(118.5..123.5)).unwrap(),
        })
        .collect()
}

#[test]
fn nearest_agrees_with_brute_force() {
    for (res, n, queries) in [
        (Resolution::Eight, 30_000, 400),
        (Resolution::Seven, 5_000, 150),
        (Resolution::Nine, 5_000, 150),
    ] {
        let (index, _) = build(res, n, 11);
        let mut rng = StdRng::seed_from_u64(12);
        let filters = filters();
        for centre in query_centres(&mut rng, &index, queries) {
            for (name, filter) in &filters {
                for (k, max_m) in [
                    (1, f64::INFINITY),
                    (5, f64::INFINITY),
                    (5, 2_000.0),
                    (20, 8_000.0),
                    (3, 0.0),
                ] {
                    let got: Vec<(ResourceId, f64)> = index
                        .nearest(centre, k, max_m, filter)
                        .unwrap()
                        .iter()
                        .map(|n| (n.entry.id, n.distance_m))
                        .collect();
                    let want = brute_nearest(&index, centre, k, max_m, filter.as_ref());
                    assert_eq!(
                        got, want,
                        "res {res} centre {centre:?} k {k} max {max_m} filter {name}"
                    );
                }
            }
        }
    }
}

#[test]
fn nearest_ties_are_broken_by_id() {
    let mut index = LiveIndex::default();
    let spot = LatLng::new(32.0, 120.9).unwrap();
    for id in [9, 3, 7, 1, 5] {
        index.upsert(ResourceId(id), Report::new(spot, 0, ResourceKind::Worker));
    }
    let got: Vec<i64> = index
        .nearest(spot, 3, 10.0, |_| true)
        .unwrap()
        .iter()
        .map(|n| n.entry.id.0)
        .collect();
    assert_eq!(got, [1, 3, 5]);
    assert!(index.nearest(spot, 0, 10.0, |_| true).unwrap().is_empty());
    assert_eq!(
        index.nearest(spot, 3, -1.0, |_| true).unwrap_err(),
        LiveQueryError::InvalidDistance(-1.0)
    );
    assert!(index.nearest(spot, 3, f64::NAN, |_| true).is_err());
    assert!(
        LiveIndex::default()
            .nearest(spot, 3, 10.0, |_| true)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bbox_and_radius_agree_with_brute_force() {
    let (index, _) = build(Resolution::Eight, 30_000, 21);
    let mut rng = StdRng::seed_from_u64(22);
    let filters = filters();
    for i in 0..300 {
        let centre = random_point(&mut rng);
        // From a street to the whole city and beyond.
        let half_deg = [0.002, 0.01, 0.05, 0.2, 1.0, 3.0][i % 6] * rng.random_range(0.5..1.5);
        let aspect = rng.random_range(0.5..2.0);
        let west = (centre.lng() - half_deg * aspect).max(-180.0);
        let east = (centre.lng() + half_deg * aspect).min(180.0);
        let south = (centre.lat() - half_deg).max(-90.0);
        let north = (centre.lat() + half_deg).min(90.0);
        let radius_m = half_deg * 111_000.0;
        for (name, filter) in &filters {
            let mut got: Vec<ResourceId> = index
                .in_bbox(west, south, east, north, filter)
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect();
            got.sort_unstable();
            let mut want: Vec<ResourceId> = index
                .iter()
                .filter(|e| {
                    let p = e.report.position;
                    (west..=east).contains(&p.lng())
                        && (south..=north).contains(&p.lat())
                        && filter(e)
                })
                .map(|e| e.id)
                .collect();
            want.sort_unstable();
            assert_eq!(
                got, want,
                "bbox {west} {south} {east} {north} filter {name}"
            );

            let mut got: Vec<(ResourceId, f64)> = index
                .within_radius(centre, radius_m, filter)
                .unwrap()
                .iter()
                .map(|n| (n.entry.id, n.distance_m))
                .collect();
            got.sort_by_key(|g| g.0);
            let mut want: Vec<(ResourceId, f64)> = index
                .iter()
                .map(|e| (e, haversine_m(centre, e.report.position)))
                .filter(|&(e, d)| d <= radius_m && filter(e))
                .map(|(e, d)| (e.id, d))
                .collect();
            want.sort_by_key(|g| g.0);
            assert_eq!(
                got, want,
                "radius {radius_m} around {centre:?} filter {name}"
            );
        }
    }
    // A box exactly around one resource's position includes it (edges are inclusive).
    let e = index.iter().next().unwrap();
    let p = e.report.position;
    let hit = index
        .in_bbox(p.lng(), p.lat(), p.lng(), p.lat(), |_| true)
        .unwrap();
    assert!(hit.iter().any(|h| h.id == e.id));
    let hit = index.within_radius(p, 0.0, |_| true).unwrap();
    assert!(hit.iter().any(|h| h.entry.id == e.id));
}

#[test]
fn bad_boxes_and_radii_are_refused() {
    let index = LiveIndex::default();
    let bad = |w, s, e, n| {
        matches!(
            index.in_bbox(w, s, e, n, |_| true),
            Err(LiveQueryError::InvalidBbox { .. })
        )
    };
    assert!(bad(121.0, 31.0, 120.0, 32.0), "west > east (antimeridian)");
    assert!(bad(120.0, 32.0, 121.0, 31.0), "south > north");
    assert!(bad(f64::NAN, 31.0, 121.0, 32.0));
    assert!(bad(-181.0, 31.0, 121.0, 32.0));
    assert!(bad(120.0, 31.0, 121.0, 91.0));
    assert!(
        index
            .in_bbox(-180.0, -90.0, 180.0, 90.0, |_| true)
            .unwrap()
            .is_empty()
    );
    let p = LatLng::new(32.0, 120.9).unwrap();
    assert_eq!(
        index.within_radius(p, -5.0, |_| true).unwrap_err(),
        LiveQueryError::InvalidDistance(-5.0)
    );
    assert!(
        index
            .within_radius(p, f64::INFINITY, |_| true)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn report_order_rules() {
    let mut index = LiveIndex::default();
    let id = ResourceId(42);
    let a = LatLng::new(32.0, 120.9).unwrap();
    let b = LatLng::new(32.0001, 120.9).unwrap(); // 11 m north, same bucket
    let far = LatLng::new(32.2, 121.3).unwrap(); // another bucket
    let cell = |p| h3(p).to_cell(index_res());
    let Change::Inserted { cell: c } =
        index.upsert(id, Report::new(a, 1_000, ResourceKind::Worker))
    else {
        panic!("insert");
    };
    assert_eq!(c, cell(a));

    // Exact duplicate: unchanged, even with other fields differing.
    let mut dup = Report::new(a, 1_000, ResourceKind::Worker);
    dup.battery_pct = Some(3);
    assert_eq!(index.upsert(id, dup), Change::Unchanged);
    assert_eq!(index.get(id).unwrap().report.battery_pct, None);

    // Older: stale, the marker does not move.
    assert_eq!(
        index.upsert(id, Report::new(far, 999, ResourceKind::Worker)),
        Change::Stale
    );
    assert_eq!(index.get(id).unwrap().report.position, a);
    assert_eq!(index.get(id).unwrap().report.at_ms, 1_000);

    // Same time, another position: last write wins.
    let change = index.upsert(id, Report::new(b, 1_000, ResourceKind::Worker));
    assert_eq!(
        change,
        Change::Moved {
            from_cell: cell(a),
            to_cell: cell(a)
        }
    );
    assert!(!change.crossed_cell());
    assert_eq!(index.get(id).unwrap().report.position, b);

    // Newer and far: crosses into another bucket.
    let change = index.upsert(id, Report::new(far, 2_000, ResourceKind::Worker));
    assert_eq!(
        change,
        Change::Moved {
            from_cell: cell(a),
            to_cell: cell(far)
        }
    );
    assert!(change.crossed_cell());
    assert_eq!(index.get(id).unwrap().cell, cell(far));
    assert_eq!(index.cell_count(), 1, "the emptied bucket is gone");
    assert!(
        index
            .in_bbox(120.89, 31.99, 120.91, 32.01, |_| true)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index
            .in_bbox(121.29, 32.19, 121.31, 32.21, |_| true)
            .unwrap()
            .len(),
        1
    );

    // Newer at the same place: moved within its bucket (the time is news).
    let change = index.upsert(id, Report::new(far, 3_000, ResourceKind::Worker));
    assert_eq!(
        change,
        Change::Moved {
            from_cell: cell(far),
            to_cell: cell(far)
        }
    );
    assert_eq!(index.get(id).unwrap().report.at_ms, 3_000);

    // Status without a report.
    assert_eq!(
        index.set_status(id, Status::ON_DUTY.with(Status::BUSY)),
        Some(Status::NONE)
    );
    assert!(index.get(id).unwrap().report.status.contains(Status::BUSY));
    assert_eq!(index.set_status(ResourceId(1), Status::ON_DUTY), None);

    // Removal.
    assert_eq!(index.remove(id).unwrap().id, id);
    assert!(index.get(id).is_none());
    assert!(index.remove(id).is_none());
    assert!(index.is_empty());
    assert_eq!(index.cell_count(), 0);
}

fn index_res() -> Resolution {
    gridwall_spatial::LIVE_BUCKET_RESOLUTION
}

/// Random inserts, moves (near and far, in and out of order), duplicates and removals against
/// a plain map; then every entry and a few queries are checked.
#[test]
fn random_operations_match_a_model() {
    let mut rng = StdRng::seed_from_u64(31);
    let spots: Vec<LatLng> = (0..20).map(|_| random_point(&mut rng)).collect();
    let res = index_res();
    let mut index = LiveIndex::default();
    let mut model: HashMap<ResourceId, Report> = HashMap::new();
    for step in 0..200_000 {
        let id = ResourceId(rng.random_range(0..3_000));
        if step % 10 == 0 {
            assert_eq!(index.remove(id).map(|e| e.report), model.remove(&id));
            continue;
        }
        let at_ms = rng.random_range(0..1_000_000);
        let mut report = random_report(&mut rng, res, &spots, at_ms);
        if let (Some(old), true) = (model.get(&id), rng.random_bool(0.2)) {
            // A short step from the stored position, or an exact replay.
            report = *old;
            if rng.random_bool(0.5) {
                report.at_ms += 1_000;
                report.position =
                    LatLng::new(old.position.lat() + 0.0003, old.position.lng() - 0.0002).unwrap();
            }
        }
        let want = match model.get(&id) {
            None => "inserted",
            Some(old) if report.at_ms < old.at_ms => "stale",
            Some(old) if report.at_ms == old.at_ms && report.position == old.position => {
                "unchanged"
            }
            Some(_) => "moved",
        };
        let change = file(&mut index, id, report);
        let got = match change {
            Change::Inserted { .. } => "inserted",
            Change::Moved { .. } => "moved",
            Change::Unchanged => "unchanged",
            Change::Stale => "stale",
        };
        assert_eq!(got, want, "step {step}");
        if matches!(want, "inserted" | "moved") {
            model.insert(id, report);
        }
    }
    assert_eq!(index.len(), model.len());
    for (id, report) in &model {
        let e = index.get(*id).unwrap();
        assert_eq!(&e.report, report);
        let fine = if id.0 % 2 == 0 {
            h3(report.position).to_cell(res)
        } else {
            let r = if id.0 % 3 == 0 {
                Resolution::Fifteen
            } else {
                Resolution::Ten
            };
            h3(report.position).to_cell(r).parent(res).unwrap()
        };
        assert_eq!(e.cell, fine);
    }
    let cells: std::collections::HashSet<CellIndex> = index.iter().map(|e| e.cell).collect();
    assert_eq!(index.cell_count(), cells.len());
    for centre in query_centres(&mut rng, &index, 200) {
        let got: Vec<_> = index
            .nearest(centre, 5, f64::INFINITY, |_| true)
            .unwrap()
            .iter()
            .map(|n| (n.entry.id, n.distance_m))
            .collect();
        assert_eq!(
            got,
            brute_nearest(&index, centre, 5, f64::INFINITY, &|_| true)
        );
    }
}

/// Memory per resource at 100,000 resources over Nantong (and at a city's 10,000).
#[test]
fn memory_per_resource() {
    for n in [100_000, 10_000] {
        let (grown, reports) = build(index_res(), n, 41);
        let mut sized = LiveIndex::with_capacity(index_res(), n);
        for (e, r) in grown.iter().zip(&reports) {
            sized.upsert(e.id, *r);
        }
        for (how, index) in [("grown one by one", &grown), ("with_capacity", &sized)] {
            let per = index.heap_size_bytes() / index.len();
            eprintln!(
                "{n} resources, {how}: {} buckets, heap {} bytes = {per} bytes per resource",
                index.cell_count(),
                index.heap_size_bytes()
            );
            assert!(per <= 256, "{per} bytes per resource");
        }
    }
}

/// `upsert_batch` against `upsert_in_cell` one item at a time, on two indexes fed the same
/// stream: inserts, moves, replays, stale reports and one id several times in a run, in runs
/// of every length (shorter and longer than the batch's internal chunk), with removals between
/// the runs. Same changes, same entries, same query answers.
#[test]
fn upsert_batch_matches_one_at_a_time() {
    let mut rng = StdRng::seed_from_u64(41);
    let spots: Vec<LatLng> = (0..20).map(|_| random_point(&mut rng)).collect();
    let res = index_res();
    let (mut batched, mut single) = (LiveIndex::default(), LiveIndex::default());
    let mut last: HashMap<ResourceId, Report> = HashMap::new();
    for run in 0..400 {
        let len = match run % 4 {
            0 => rng.random_range(0..4),
            1 => rng.random_range(0..300),
            2 => 256,
            _ => rng.random_range(500..1_200),
        };
        let items: Vec<(ResourceId, Report, CellIndex)> = (0..len)
            .map(|_| {
                let id = ResourceId(rng.random_range(0..2_000));
                let at_ms = rng.random_range(0..1_000_000);
                let mut report = random_report(&mut rng, res, &spots, at_ms);
                if let (Some(old), true) = (last.get(&id), rng.random_bool(0.3)) {
                    report = *old; // A replay, or a step from it.
                    if rng.random_bool(0.5) {
                        report.at_ms += 1_000;
                        report.position =
                            LatLng::new(old.position.lat() + 0.0003, old.position.lng() - 0.0002)
                                .unwrap();
                    }
                }
                last.insert(id, report);
                let fine = [Resolution::Eight, Resolution::Ten, Resolution::Fifteen]
                    [rng.random_range(0..3)];
                (id, report, h3(report.position).to_cell(fine))
            })
            .collect();
        let want: Vec<Change> = items
            .iter()
            .map(|&(id, report, cell)| single.upsert_in_cell(id, report, cell))
            .collect();
        assert_eq!(batched.upsert_batch(&items), want, "run {run}");
        for _ in 0..rng.random_range(0..20) {
            let id = ResourceId(rng.random_range(0..2_000));
            assert_eq!(batched.remove(id), single.remove(id));
        }
    }
    assert_eq!(batched.len(), single.len());
    assert_eq!(batched.cell_count(), single.cell_count());
    for e in single.iter() {
        assert_eq!(batched.get(e.id), Some(e));
    }
    for centre in query_centres(&mut rng, &single, 100) {
        let ids = |index: &LiveIndex| -> Vec<(ResourceId, f64)> {
            index
                .nearest(centre, 5, f64::INFINITY, |_| true)
                .unwrap()
                .iter()
                .map(|n| (n.entry.id, n.distance_m))
                .collect()
        };
        assert_eq!(ids(&batched), ids(&single));
    }
}
