//! County-wide patrol coverage over 24 hours of demo traffic: the query the leader view makes
//! (`coverage::coverage`, from the per-block bitmaps), the previous per-cell path
//! (`coverage::coverage_per_cell`, a row per cell and hour of `track_cells`) and the same figure
//! computed naively from the raw `positions` table (read every point of the window, join
//! consecutive reports, bin into cells), in the same run, with a check that the three agree.
//!
//! Set-up (idempotent, in the bench database): one on-duty worker `bench-cov-<grid>` per grid
//! of the county, walking inside its grid at 1.3 m/s for the whole UTC day before today,
//! reporting every `COVERAGE_INTERVAL_S` (30) seconds — written with COPY, `received_at` one
//! second after `at`; then the roll-up catches up (timed).
//!
//! Knobs: `COVERAGE_COUNTY` (the county with the most grids), `COVERAGE_INTERVAL_S` (30),
//! `COVERAGE_RUNS` (5). Run: `cargo bench -p gridwall-server --bench coverage`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "benchmark"
)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use common::{env, load_average};
use gridwall_server::auth::AuthConfig;
use gridwall_server::cli;
use gridwall_server::coverage::{self, grids_under, rollup};
use gridwall_server::live::LiveConfig;
use gridwall_spatial::{CellIndex, LatLng, Level, Resolution, UnitId, path_cells};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod common;

#[tokio::main]
async fn main() {
    let pool = common::bench_pool(8).await;
    let state = cli::state(
        pool.clone(),
        16,
        AuthConfig::default(),
        LiveConfig::default(),
    )
    .await
    .unwrap();
    let loaded = state.hierarchy.get().unwrap();
    let h = &loaded.hierarchy;
    let counties: Vec<UnitId> = (0..h.len())
        .map(|i| UnitId(u32::try_from(i).unwrap()))
        .filter(|&u| h.unit(u).level == Level::County)
        .collect();
    let county = match std::env::var("COVERAGE_COUNTY") {
        Ok(code) => h.by_code(&code).expect("COVERAGE_COUNTY is not a unit"),
        Err(_) => *counties
            .iter()
            .max_by_key(|&&c| grids_under(h, c).len())
            .unwrap(),
    };
    let grids = grids_under(h, county);
    let interval_s: i64 = env("COVERAGE_INTERVAL_S", 30);
    let runs: usize = env("COVERAGE_RUNS", 5);
    let day_start = (Utc::now() - TimeDelta::days(1))
        .duration_trunc(TimeDelta::days(1))
        .unwrap();
    let day_end = day_start + TimeDelta::days(1);
    println!(
        "county {} {} ({} grids), day {day_start}, a report every {interval_s} s, load {}",
        h.unit(county).code.as_str(),
        h.unit(county).name,
        grids.len(),
        load_average()
    );

    // One worker per grid.
    let codes: Vec<String> = grids.iter().map(|&g| h.unit(g).code.to_string()).collect();
    sqlx::query(
        "INSERT INTO resources (kind, name, unit_id, on_duty)
         SELECT 'worker', 'bench-cov-' || c, u.id, true
         FROM unnest($1::text[]) c JOIN units u ON u.code = c
         WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.name = 'bench-cov-' || c)",
    )
    .bind(&codes)
    .execute(&pool)
    .await
    .unwrap();
    let workers: Vec<(i64, String)> = sqlx::query_as(
        "SELECT r.id, u.code FROM resources r JOIN units u ON u.id = r.unit_id
         WHERE r.name LIKE 'bench-cov-%' AND u.code = ANY($1)",
    )
    .bind(&codes)
    .fetch_all(&pool)
    .await
    .unwrap();
    let ids: Vec<i64> = workers.iter().map(|w| w.0).collect();
    let have: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM positions WHERE resource_id = ANY($1) AND at >= $2 AND at < $3",
    )
    .bind(&ids)
    .bind(day_start)
    .bind(day_end)
    .fetch_one(&pool)
    .await
    .unwrap();
    if have == 0 {
        for d in [day_start.date_naive(), day_end.date_naive()] {
            sqlx::query("SELECT positions_ensure_partition($1)")
                .bind(d)
                .execute(&pool)
                .await
                .unwrap();
        }
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(11);
        let mut conn = pool.acquire().await.unwrap();
        let mut copy = conn
            .copy_in_raw("COPY positions (resource_id, at, geom, received_at) FROM STDIN")
            .await
            .unwrap();
        let steps = 86_400 / interval_s;
        let mut rows = 0u64;
        for (id, code) in &workers {
            let grid = h.by_code(code).unwrap();
            let start = h.cover_of(grid).iter().find(|(_, b)| !b).map(|(c, _)| *c);
            let Some(start) = start else { continue };
            let c = h3o::LatLng::from(start);
            let mut p = LatLng::new(c.lat(), c.lng()).unwrap();
            let mut heading: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let mut buf = String::with_capacity(128 * usize::try_from(steps).unwrap());
            for i in 0..steps {
                let at = day_start + TimeDelta::seconds(i * interval_s);
                heading += rng.random_range(-0.5..0.5);
                let step_m = 1.3 * interval_s as f64;
                let dlat = step_m * heading.cos() / 111_320.0;
                let dlng = step_m * heading.sin() / (111_320.0 * p.lat().to_radians().cos());
                match LatLng::new(p.lat() + dlat, p.lng() + dlng) {
                    Ok(q) if h.locate(q).is_some_and(|x| x.grid == grid) => p = q,
                    _ => heading += std::f64::consts::PI,
                }
                let _ = writeln!(
                    buf,
                    "{id}\t{}\tSRID=4326;POINT({} {})\t{}",
                    at.to_rfc3339(),
                    p.lng(),
                    p.lat(),
                    (at + TimeDelta::seconds(1)).to_rfc3339()
                );
                rows += 1;
            }
            copy.send(buf.as_bytes()).await.unwrap();
        }
        copy.finish().await.unwrap();
        drop(conn);
        sqlx::query("ANALYZE positions")
            .execute(&pool)
            .await
            .unwrap();
        println!(
            "generated {rows} positions with COPY in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    } else {
        println!("{have} positions of the day already there");
    }

    // The roll-up catches up (it reads everything that arrived since its last pass).
    let started = Instant::now();
    let mut r = rollup::Rollup::default();
    let mut read = 0usize;
    loop {
        let n = r.pass(&state, Utc::now()).await.unwrap();
        if n == 0 {
            break;
        }
        read += n;
    }
    let took = started.elapsed().as_secs_f64();
    if read > 0 {
        println!(
            "roll-up: {read} positions in {took:.1} s ({:.0} positions/s)",
            read as f64 / took
        );
    }

    // The query, from the bitmaps: cold (grid masks computed, as if not warmed at start) then
    // warm; then the previous per-cell path, cold (grid cells computed) then warm.
    let mut report = None;
    let mut per_cell_report = None;
    for per_cell in [false, true] {
        let mut times = Vec::new();
        for _ in 0..=runs {
            let t = Instant::now();
            let rep = if per_cell {
                coverage::coverage_per_cell(
                    &state,
                    &loaded,
                    county,
                    day_start,
                    day_end,
                    Resolution::Eleven,
                    false,
                )
                .await
            } else {
                coverage::coverage(
                    &state,
                    &loaded,
                    county,
                    day_start,
                    day_end,
                    Resolution::Eleven,
                    false,
                )
                .await
            }
            .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            if per_cell {
                per_cell_report = Some(rep);
            } else {
                report = Some(rep);
            }
        }
        let rep = if per_cell { &per_cell_report } else { &report }
            .as_ref()
            .unwrap();
        println!(
            "{} query: cold {:.0} ms, warm {:?} ms; coverage {:.4} ({} of {} cells), {} \
             townships; load {}",
            if per_cell {
                "per-cell (old)"
            } else {
                "bitmap (new)"
            },
            times[0],
            times[1..].iter().map(|t| t.round()).collect::<Vec<_>>(),
            rep.unit.coverage.unwrap_or(f64::NAN),
            rep.unit.visited_cells,
            rep.unit.total_cells,
            rep.children.len(),
            load_average()
        );
    }
    let report = report.unwrap();
    let per_cell_report = per_cell_report.unwrap();
    println!(
        "bitmap vs per-cell answers: {}",
        if serde_json::to_value(&report).unwrap() == serde_json::to_value(&per_cell_report).unwrap()
        {
            "identical"
        } else {
            "DIFFERENT"
        }
    );

    // The anchor: the same figure from the raw positions of the window.
    let cells = state
        .coverage
        .cells_of(&loaded, &grids, Resolution::Eleven)
        .await
        .unwrap();
    let mut naive_times = Vec::new();
    let mut naive_visited = 0u64;
    for _ in 0..runs.min(3) {
        let t = Instant::now();
        let rows: Vec<(i64, DateTime<Utc>, f64, f64)> = sqlx::query_as(
            "SELECT p.resource_id, p.at, ST_X(p.geom), ST_Y(p.geom)
             FROM positions p JOIN resources r ON r.id = p.resource_id
             JOIN units g ON g.id = r.unit_id
             WHERE p.at >= $2 AND p.at < $3 AND r.kind = 'worker' AND r.on_duty
               AND g.tree_lo BETWEEN (SELECT tree_lo FROM units WHERE id = $1)
                                 AND (SELECT tree_hi FROM units WHERE id = $1)
             ORDER BY p.resource_id, p.at",
        )
        .bind(loaded.db_ids[county.0 as usize])
        .bind(day_start)
        .bind(day_end)
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut visited: HashSet<CellIndex> = HashSet::new();
        let mut last: HashMap<i64, (DateTime<Utc>, LatLng)> = HashMap::new();
        for (id, at, lng, lat) in &rows {
            let here = LatLng::new(*lat, *lng).unwrap();
            visited.insert(
                h3o::LatLng::new(*lat, *lng)
                    .unwrap()
                    .to_cell(Resolution::Eleven),
            );
            if let Some((t0, from)) = last.get(id)
                && *at - *t0 <= rollup::MAX_GAP
                && gridwall_spatial::haversine_m(*from, here) <= rollup::MAX_STEP_M
            {
                visited.extend(path_cells(*from, here, Resolution::Eleven));
            }
            last.insert(*id, (*at, here));
        }
        naive_visited = grids
            .iter()
            .map(|g| cells[g].iter().filter(|c| visited.contains(c)).count() as u64)
            .sum();
        naive_times.push(t.elapsed().as_secs_f64() * 1e3);
        println!("anchor read {} positions", rows.len());
    }
    println!(
        "anchor (raw positions): {:?} ms; {} visited cells (bitmaps: {}) — {}",
        naive_times.iter().map(|t| t.round()).collect::<Vec<_>>(),
        naive_visited,
        report.unit.visited_cells,
        if naive_visited == report.unit.visited_cells {
            "agree"
        } else {
            "DISAGREE"
        }
    );
    println!("load average after: {}", load_average());
}
