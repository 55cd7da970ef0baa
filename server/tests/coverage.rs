//! Coverage, density and KPIs against real PostGIS: a known patrol over a hand-built grid gives
//! the exact expected share (cells counted independently with h3o's polygon tiler, the walk
//! between reports included, an off-duty worker and a long gap not counted); the roll-up to
//! village, township and county is the area-weighted mean; KPIs on a scripted set of cases
//! match hand-computed values; density counts cases and positions per cell.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::HashSet;

use axum::Router;
use chrono::DurationRound as _;
use chrono::{DateTime, TimeDelta, Utc};
use common::{TOKEN, collection, features, json_as, post_hierarchy, user_with_session};
use gridwall_server::AppState;
use gridwall_server::coverage::{self, rollup::Rollup};
use gridwall_spatial::{CellIndex, LatLng, Resolution, path_cells};
use serde_json::{Value, json};
use sqlx::PgPool;

const GRID_1: &str = "320999001001001";

async fn world(pool: PgPool) -> (Router, AppState) {
    let (app, state) = common::app(pool).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    (app, state)
}

async fn worker(app: &Router, name: &str, grid: &str, on_duty: bool) -> i64 {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(json!({"name": name, "grid": grid, "on_duty": on_duty})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

async fn report(app: &Router, id: i64, lng: f64, lat: f64, at: DateTime<Utc>) {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/positions",
        Some(TOKEN),
        Some(json!([{"resource": id, "lng": lng, "lat": lat, "at": at.to_rfc3339()}])),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
}

/// Cells of the rectangle [w, e] × [s, n] at `res` whose centre lies inside: every cell of a
/// disk around its centre large enough to hold it, kept by its centre.
#[allow(
    clippy::many_single_char_names,
    reason = "w, s, e, n: the rectangle's west, south, east and north"
)]
fn rect_cells(w: f64, s: f64, e: f64, n: f64, res: Resolution) -> HashSet<CellIndex> {
    let centre = h3o::LatLng::new(f64::midpoint(s, n), f64::midpoint(w, e))
        .unwrap()
        .to_cell(res);
    let half_diagonal_m = gridwall_spatial::haversine_m(p(w, s), p(e, n)) / 2.0;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "test"
    )]
    let k = (half_diagonal_m / (res.edge_length_m() * 1.2)).ceil() as u32 + 2;
    centre
        .grid_disk::<Vec<_>>(k)
        .into_iter()
        .filter(|c| {
            let ll = h3o::LatLng::from(*c);
            (w..=e).contains(&ll.lng()) && (s..=n).contains(&ll.lat())
        })
        .collect()
}

fn p(lng: f64, lat: f64) -> LatLng {
    LatLng::new(lat, lng).unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_known_patrol_gives_the_exact_share(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let on = worker(&app, "巡查员", GRID_1, true).await;
    let off = worker(&app, "休息", GRID_1, false).await;
    let t0 = (Utc::now() - TimeDelta::hours(2)).duration_trunc_hour();
    // A walk: three reports 5 minutes apart, 400 m and 300 m apart (the cells between count),
    // then one 20 minutes later far away (not joined: too long a gap).
    let walk = [
        (p(120.005, 32.01), t0 + TimeDelta::minutes(1)),
        (p(120.009, 32.01), t0 + TimeDelta::minutes(6)),
        (p(120.009, 32.0127), t0 + TimeDelta::minutes(11)),
        (p(120.02, 32.08), t0 + TimeDelta::minutes(31)),
    ];
    for (q, at) in walk {
        report(&app, on, q.lng(), q.lat(), at).await;
    }
    // The off-duty worker walks elsewhere in the same grid: not patrol.
    report(&app, off, 120.03, 32.05, t0 + TimeDelta::minutes(2)).await;
    report(&app, off, 120.03, 32.055, t0 + TimeDelta::minutes(7)).await;

    let mut rollup = Rollup::default();
    let read = rollup
        .pass(&state, Utc::now() + TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(read, 6);
    // A second pass reads nothing new and changes nothing.
    assert_eq!(
        rollup
            .pass(&state, Utc::now() + TimeDelta::minutes(1))
            .await
            .unwrap(),
        0
    );

    let res = Resolution::Ten;
    let grid = rect_cells(120.0, 32.0, 120.0 + 0.1 / 3.0, 32.1, res);
    let mut want: HashSet<CellIndex> = HashSet::new();
    for w in walk[..3].windows(2) {
        want.extend(
            path_cells(w[0].0, w[1].0, Resolution::Eleven)
                .into_iter()
                .filter_map(|c| c.parent(res)),
        );
    }
    // The last report stands alone (20 minutes after the one before): its own cell only.
    want.extend(
        h3o::LatLng::new(32.08, 120.02)
            .unwrap()
            .to_cell(Resolution::Eleven)
            .parent(res),
    );
    let want: HashSet<CellIndex> = want.intersection(&grid).copied().collect();
    #[allow(clippy::cast_precision_loss, reason = "test")]
    let share = want.len() as f64 / grid.len() as f64;

    let from = (t0 - TimeDelta::hours(1)).to_rfc3339();
    let uri = format!(
        "/api/coverage?unit={GRID_1}&res=10&cells=true&from={}",
        from.replace('+', "%2B")
    );
    let (status, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    assert_eq!(v["total_cells"].as_u64().unwrap(), grid.len() as u64);
    assert_eq!(
        v["visited_cells"].as_u64().unwrap(),
        want.len() as u64,
        "{}",
        v["cells"]["visited"]
    );
    assert!((v["coverage"].as_f64().unwrap() - share).abs() < 1e-12);
    let listed: HashSet<String> = v["cells"]["visited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let want_hex: HashSet<String> = want.iter().map(ToString::to_string).collect();
    assert_eq!(listed, want_hex);
    assert_eq!(
        v["cells"]["unvisited"].as_array().unwrap().len() + listed.len(),
        grid.len()
    );
    // The walk between reports counts: more cells than the reports themselves touched.
    assert!(want.len() > 4, "{}", want.len());

    // Up the hierarchy: the area-weighted mean of the grids (only grid 1 was patrolled).
    let areas: Vec<(String, f64)> =
        sqlx::query_as("SELECT code, area_m2 FROM units WHERE level = 4 ORDER BY code")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (unit, prefix) in [
        ("320999001001", "320999001001"),
        ("320999001", "320999001"),
        ("320999", "320999"),
    ] {
        let uri = format!(
            "/api/coverage?unit={unit}&res=10&from={}",
            from.replace('+', "%2B")
        );
        let (_, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
        let total: f64 = areas
            .iter()
            .filter(|(c, _)| c.starts_with(prefix))
            .map(|a| a.1)
            .sum();
        let a1 = areas.iter().find(|(c, _)| c == GRID_1).unwrap().1;
        let expect = share * a1 / total;
        assert!(
            (v["coverage"].as_f64().unwrap() - expect).abs() < 1e-9,
            "{unit}: {v}"
        );
        let children = v["children"].as_array().unwrap();
        assert!(!children.is_empty());
        // The children's visited cells add up to the unit's.
        let sum: u64 = children
            .iter()
            .map(|c| c["visited_cells"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, v["visited_cells"].as_u64().unwrap());
    }
    // Outside the territory: 404. Bad resolution: 400.
    let east = user_with_session(&pool, "east", "leader", Some("320999002")).await;
    let (status, _) = json_as(
        &app,
        "GET",
        &format!("/api/coverage?unit={GRID_1}"),
        Some(&east),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::NOT_FOUND);
    let (status, _) = json_as(
        &app,
        "GET",
        &format!("/api/coverage?unit={GRID_1}&res=12"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);

    // Density of positions: the six reports, per resolution-8 cell.
    let (status, d) = json_as(
        &app,
        "GET",
        &format!(
            "/api/density?layer=positions&res=8&from={}",
            from.replace('+', "%2B")
        ),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{d}");
    assert_eq!(d["total"], 6, "{d}");
}

trait HourTrunc {
    fn duration_trunc_hour(self) -> Self;
}

impl HourTrunc for DateTime<Utc> {
    fn duration_trunc_hour(self) -> Self {
        use chrono::DurationRound as _;
        self.duration_trunc(TimeDelta::hours(1)).unwrap()
    }
}

async fn case(app: &Router, lng: f64, lat: f64, category: &str) -> i64 {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/cases",
        Some(TOKEN),
        Some(
            json!({"title": "测试", "category": category, "source": "walk_in",
                    "lng": lng, "lat": lat}),
        ),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn kpis_match_a_scripted_day(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    // Township 1: four cases; township 2: one.
    let a = case(&app, 120.01, 32.01, "dispute").await;
    let b = case(&app, 120.02, 32.05, "dispute").await;
    let c = case(&app, 120.05, 32.15, "environment").await;
    let d = case(&app, 120.06, 32.12, "other").await;
    let e = case(&app, 120.15, 32.05, "dispute").await;
    // Script their lives straight into the record (times chosen by hand).
    let script = "UPDATE cases SET created_at = now() - interval '10 hours',
        first_dispatched_at = now() - interval '10 hours' + make_interval(secs => $2),
        resolved_at = CASE WHEN $3::float8 IS NULL THEN NULL
                      ELSE now() - interval '10 hours' + make_interval(secs => $3) END,
        status = $4, overdue_at = CASE WHEN $5 THEN now() - interval '1 hour' END,
        deadline_at = now() + CASE WHEN $6 THEN interval '-1 hour' ELSE interval '1 day' END
        WHERE id = $1";
    for (id, dispatch_s, resolve_s, status, flagged, late) in [
        (a, 60.0, Some(3600.0), "closed", false, false),
        (b, 180.0, Some(7200.0), "resolved", true, false),
        (c, 300.0, None, "reported", false, true),
        (d, 120.0, None, "accepted", false, false),
        (e, 30.0, Some(600.0), "resolved", false, false),
    ] {
        sqlx::query(script)
            .bind(id)
            .bind(dispatch_s)
            .bind(resolve_s)
            .bind(status)
            .bind(flagged)
            .bind(late)
            .execute(&pool)
            .await
            .unwrap();
    }
    let (status, v) = json_as(
        &app,
        "GET",
        "/api/kpi?unit=320999&children=true&coverage=false",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    let u = &v["unit"];
    assert_eq!(u["opened"], 5);
    assert_eq!(u["resolved"], 3);
    assert_eq!(u["overdue_now"], 1);
    // 化解率: a, b, e of five.
    assert!((u["resolution_rate"].as_f64().unwrap() - 0.6).abs() < 1e-12);
    // 按期: a and e of the three resolved (b was flagged overdue).
    assert!((u["on_time_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    // Medians: dispatch of 30, 60, 120, 180, 300 s → 120; resolve of 600, 3600, 7200 → 3600.
    assert!((u["median_dispatch_s"].as_f64().unwrap() - 120.0).abs() < 1e-6);
    assert!((u["median_resolve_s"].as_f64().unwrap() - 3600.0).abs() < 1e-6);
    assert_eq!(u["cases_by_status"]["resolved"], 2, "{v}");
    assert_eq!(u["cases_by_status"]["closed"], 1);
    let kids = v["children"].as_array().unwrap();
    let t1 = kids.iter().find(|k| k["code"] == "320999001").unwrap();
    let t2 = kids.iter().find(|k| k["code"] == "320999002").unwrap();
    assert_eq!(t1["opened"], 4);
    assert_eq!(t2["opened"], 1);
    assert!((t1["resolution_rate"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((t2["on_time_rate"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    // An empty window: nothing to rate.
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/kpi?unit=320999&coverage=false&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(v["unit"]["opened"], 0);
    assert!(v["unit"]["resolution_rate"].is_null());

    // Density of cases: all five at resolution 5 fall in one or two cells; category filters.
    let (status, dv) = json_as(
        &app,
        "GET",
        "/api/density?layer=cases&res=7",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{dv}");
    assert_eq!(dv["total"], 5);
    let (_, dv) = json_as(
        &app,
        "GET",
        "/api/density?layer=cases&res=7&category=dispute",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(dv["total"], 3);
    let west = user_with_session(&pool, "west", "leader", Some("320999001")).await;
    let (_, dv) = json_as(
        &app,
        "GET",
        "/api/density?layer=cases&res=7",
        Some(&west),
        None,
    )
    .await;
    assert_eq!(dv["total"], 4, "scoped");
    let (status, _) = json_as(&app, "GET", "/api/density?layer=trees", Some(TOKEN), None).await;
    assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
    let _: Value = json!({});
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_roll_up_reads_everything_whatever_its_batch(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let w = worker(&app, "巡查员", GRID_1, true).await;
    for day in [
        "(now() AT TIME ZONE 'UTC')::date",
        "(now() AT TIME ZONE 'UTC')::date - 1",
    ] {
        sqlx::query(&format!("SELECT positions_ensure_partition({day})"))
            .execute(&pool)
            .await
            .unwrap();
    }
    // Five points committed together (one arrival instant), then four arriving one by one.
    sqlx::query(
        "INSERT INTO positions (resource_id, at, geom, received_at)
         SELECT $1, now() - make_interval(mins => 50 - g),
                ST_SetSRID(ST_MakePoint(120.005 + 0.0005 * g, 32.01), 4326),
                now() - interval '10 minutes'
         FROM generate_series(1, 5) g",
    )
    .bind(w)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO positions (resource_id, at, geom, received_at)
         SELECT $1, now() - make_interval(mins => 40 - g),
                ST_SetSRID(ST_MakePoint(120.008 + 0.0005 * g, 32.01), 4326),
                now() - interval '9 minutes' + make_interval(secs => g)
         FROM generate_series(1, 4) g",
    )
    .bind(w)
    .execute(&pool)
    .await
    .unwrap();
    let mut rollup = Rollup::with_batch(2);
    let mut read = Vec::new();
    loop {
        let n = rollup.pass(&state, Utc::now()).await.unwrap();
        if n == 0 {
            break;
        }
        read.push(n);
    }
    // The instant of five is read whole; the others two by two (the last batch may stop
    // before an instant it would split).
    assert_eq!(read.iter().sum::<usize>(), 9, "{read:?}");
    assert_eq!(read[0], 5, "{read:?}");
    let points: i64 = sqlx::query_scalar("SELECT sum(points)::bigint FROM track_cells")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(points, 9);
}

/// Scripted tracks for four workers (three on duty, one off), a report every 2 minutes from
/// 3 hours before `day` to 3 hours after the next midnight, each walking inside its own grid,
/// with a 15-minute silence in one track (the walk over it not counted): (resource, at, lng,
/// lat).
#[allow(clippy::cast_precision_loss, reason = "four walkers")]
async fn scripted_tracks(
    app: &Router,
    pool: &PgPool,
    day: DateTime<Utc>,
) -> Vec<(i64, DateTime<Utc>, f64, f64)> {
    for d in -1..=1 {
        sqlx::query("SELECT positions_ensure_partition($1)")
            .bind((day + TimeDelta::days(d)).date_naive())
            .execute(pool)
            .await
            .unwrap();
    }
    let walkers = [
        ("甲", GRID_1, true, 120.01, 32.02),
        ("乙", "320999001001002", true, 120.05, 32.05),
        ("丙", "320999002002001", true, 120.11, 32.15),
        ("丁", "320999001002003", false, 120.09, 32.17),
    ];
    let mut out = Vec::new();
    for (i, (name, grid, on, lng0, lat0)) in walkers.into_iter().enumerate() {
        let id = worker(app, name, grid, on).await;
        let (mut lng, mut lat) = (lng0, lat0);
        let mut heading = 0.7 * i as f64;
        let mut t = day - TimeDelta::hours(3);
        let end = day + TimeDelta::days(1) + TimeDelta::hours(3);
        let mut n = 0u32;
        while t < end {
            out.push((id, t, lng, lat));
            n += 1;
            heading += if n % 7 < 3 { 0.35 } else { -0.2 };
            // ≈ 150 m per step, kept inside a 0.02° box around the start.
            let (nl, na) = (lng + 0.0016 * heading.sin(), lat + 0.0014 * heading.cos());
            if (nl - lng0).abs() > 0.01 || (na - lat0).abs() > 0.01 {
                heading += std::f64::consts::PI;
            } else {
                (lng, lat) = (nl, na);
            }
            t += if i == 1 && n == 300 {
                TimeDelta::minutes(15)
            } else {
                TimeDelta::minutes(2)
            };
        }
    }
    out
}

/// Writes the points with the given arrival times (one statement).
async fn insert_points(
    pool: &PgPool,
    points: &[(i64, DateTime<Utc>, f64, f64)],
    received: &[DateTime<Utc>],
) {
    let ids: Vec<i64> = points.iter().map(|p| p.0).collect();
    let ats: Vec<DateTime<Utc>> = points.iter().map(|p| p.1).collect();
    let lngs: Vec<f64> = points.iter().map(|p| p.2).collect();
    let lats: Vec<f64> = points.iter().map(|p| p.3).collect();
    sqlx::query(
        "INSERT INTO positions (resource_id, at, geom, received_at)
         SELECT r, a, ST_SetSRID(ST_MakePoint(x, y), 4326), rc
         FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::float8[],
                     $5::timestamptz[]) AS u (r, a, x, y, rc)",
    )
    .bind(&ids)
    .bind(&ats)
    .bind(&lngs)
    .bind(&lats)
    .bind(received)
    .execute(pool)
    .await
    .unwrap();
}

async fn roll_up_all(state: &AppState, batch: i64) {
    let mut rollup = Rollup::with_batch(batch);
    while rollup
        .pass(state, Utc::now() + TimeDelta::minutes(1))
        .await
        .unwrap()
        > 0
    {}
}

/// The bitmap tables and the patrolled roll-up rows, sorted, as text.
async fn snapshot(pool: &PgPool) -> (Vec<String>, Vec<String>, Vec<String>) {
    let q = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql)
            .fetch_all(pool)
            .await
            .unwrap()
    };
    (
        q(
            "SELECT block || ' ' || hour || ' ' || bits::text FROM patrol_blocks_hourly
           ORDER BY block, hour",
        )
        .await,
        q(
            "SELECT block || ' ' || day || ' ' || bits::text FROM patrol_blocks_daily
           ORDER BY block, day",
        )
        .await,
        q("SELECT hour || ' ' || cell FROM track_cells WHERE patrolled ORDER BY hour, cell").await,
    )
}

/// The bitmaps as the migration's backfill computes them from `track_cells` (SQL arithmetic
/// on the H3 digits), same text as [`snapshot`].
async fn backfilled(pool: &PgPool) -> (Vec<String>, Vec<String>) {
    let hourly = "SELECT (cell & ~(15::bigint << 52)) | (8::bigint << 52) | ((1::bigint << 21) - 1)
                AS block, hour,
              bit_or(set_bit(repeat('0', 343)::bit(343),
                     (((cell >> 18) & 7) * 49 + ((cell >> 15) & 7) * 7 + ((cell >> 12) & 7))::int,
                     1)) AS bits
       FROM track_cells WHERE patrolled GROUP BY 1, 2";
    let h: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT block || ' ' || hour || ' ' || bits::text FROM ({hourly}) x ORDER BY block, hour"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    let d: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT block || ' ' || day || ' ' || bits::text FROM (
             SELECT block, date_trunc('day', hour, 'UTC') AS day, bit_or(bits) AS bits
             FROM ({hourly}) x GROUP BY 1, 2) y ORDER BY block, day"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    (h, d)
}

/// One comparison: (unit, from, to, res, cells).
type Question = (&'static str, DateTime<Utc>, DateTime<Utc>, u8, bool);

/// The windows and units the comparisons ask.
fn questions(day: DateTime<Utc>) -> Vec<Question> {
    let h = TimeDelta::hours;
    let d1 = day + TimeDelta::days(1);
    vec![
        ("320999", day - h(3), d1 + h(3), 11, false),
        ("320999", day, d1, 11, false),
        ("320999", day - h(2), d1, 11, false),
        ("320999", day + h(5), day + h(7), 11, false),
        ("320999", d1 + h(1), d1 + h(2), 11, false),
        ("320999", day - h(3), d1 + h(3), 10, false),
        ("320999001", day + h(1), d1 + h(2), 9, false),
        ("320999001001", day - h(3), d1 + h(3), 11, true),
        ("320999001001", day + h(10), day + h(11), 10, true),
        (GRID_1, day - h(1), d1 + h(1), 11, true),
        ("320999002002001", day, d1 + h(3), 9, true),
    ]
}

async fn reports(state: &AppState, day: DateTime<Utc>, per_cell: bool) -> Vec<Value> {
    let loaded = state.hierarchy.get().unwrap();
    let mut out = Vec::new();
    for (code, from, to, res, cells) in questions(day) {
        let unit = loaded.hierarchy.by_code(code).unwrap();
        let res = Resolution::try_from(res).unwrap();
        let r = if per_cell {
            coverage::coverage_per_cell(state, &loaded, unit, from, to, res, cells).await
        } else {
            coverage::coverage(state, &loaded, unit, from, to, res, cells).await
        };
        out.push(serde_json::to_value(r.unwrap()).unwrap());
    }
    out
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bitmap_coverage_matches_the_per_cell_computation(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let day = (Utc::now() - TimeDelta::days(2))
        .duration_trunc(TimeDelta::days(1))
        .unwrap();
    let points = scripted_tracks(&app, &pool, day).await;
    let received: Vec<DateTime<Utc>> = points.iter().map(|p| p.1 + TimeDelta::seconds(1)).collect();
    insert_points(&pool, &points, &received).await;
    roll_up_all(&state, 500).await;

    let bitmaps = reports(&state, day, false).await;
    let per_cell = reports(&state, day, true).await;
    for ((q, b), c) in questions(day).iter().zip(&bitmaps).zip(&per_cell) {
        assert_eq!(b, c, "{q:?}");
    }
    // Not a vacuous agreement: the walks covered cells in every window asked, and the whole
    // window more than the day alone.
    for (q, b) in questions(day).iter().zip(&bitmaps) {
        assert!(b["visited_cells"].as_u64().unwrap() > 0, "{q:?}: {b}");
    }
    assert!(bitmaps[0]["visited_cells"].as_u64() > bitmaps[1]["visited_cells"].as_u64());
    // The off-duty walker's grid is not patrolled.
    let off = bitmaps[0]["children"][0].clone();
    assert_eq!(off["code"], "320999001");
    // Every bitmap row is what the migration's SQL backfill derives from `track_cells`.
    let (hourly, daily, _) = snapshot(&pool).await;
    assert!(!hourly.is_empty() && !daily.is_empty());
    assert_eq!(backfilled(&pool).await, (hourly, daily));
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn late_and_out_of_order_points_give_the_same_bitmaps(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let day = (Utc::now() - TimeDelta::days(2))
        .duration_trunc(TimeDelta::days(1))
        .unwrap();
    let points = scripted_tracks(&app, &pool, day).await;

    // In order: each point a second after it was taken.
    let in_order: Vec<DateTime<Utc>> = points.iter().map(|p| p.1 + TimeDelta::seconds(1)).collect();
    insert_points(&pool, &points, &in_order).await;
    roll_up_all(&state, 500).await;
    let want = snapshot(&pool).await;
    let want_reports = reports(&state, day, false).await;
    assert!(!want.0.is_empty());

    // Again from nothing, the same points arriving otherwise.
    for t in [
        "positions",
        "track_cells",
        "patrol_blocks_hourly",
        "patrol_blocks_daily",
    ] {
        sqlx::query(&format!("DELETE FROM {t}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM rollup_state")
        .execute(&pool)
        .await
        .unwrap();
    // The first walker's whole track arrives last, days late, after the others' later hours
    // and days were rolled up; the others' tracks interleave in slices of 6 minutes, each
    // slice of a walker arriving at one instant with its points in reverse order of time, in
    // passes of about 7 points (so hours and days are written piecemeal).
    let first = points[0].0;
    let slice = |i: usize| {
        let (id, at, ..) = points[i];
        (id == first, at.timestamp().div_euclid(360), id)
    };
    let mut rank: Vec<usize> = (0..points.len()).collect();
    rank.sort_by_key(|&i| (slice(i), std::cmp::Reverse(points[i].1)));
    let base = Utc::now() - TimeDelta::minutes(5);
    let mut received = vec![base; points.len()];
    let mut instant = 0i64;
    for (pos, &i) in rank.iter().enumerate() {
        if pos > 0 && slice(rank[pos - 1]) != slice(i) {
            instant += 1;
        }
        received[i] = base + TimeDelta::milliseconds(instant);
    }
    insert_points(&pool, &points, &received).await;
    roll_up_all(&state, 7).await;
    let got = snapshot(&pool).await;
    assert_eq!(got.2, want.2, "patrolled cells");
    assert_eq!(got.0, want.0, "hourly bitmaps");
    assert_eq!(got.1, want.1, "daily bitmaps");
    assert_eq!(reports(&state, day, false).await, want_reports);

    // Reading everything once more (the roll-up's mark lost) changes no bitmap.
    sqlx::query("DELETE FROM rollup_state")
        .execute(&pool)
        .await
        .unwrap();
    roll_up_all(&state, 1000).await;
    let replayed = snapshot(&pool).await;
    assert_eq!((replayed.0, replayed.1), (want.0, want.1));
    assert_eq!(reports(&state, day, false).await, want_reports);
    assert_eq!(reports(&state, day, true).await, want_reports);
}
