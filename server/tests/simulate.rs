//! The simulator against a real server on port 0 and real PostGIS: it sets up its workers and
//! vehicle through the API, issues their device tokens, and every resource reports through
//! `POST /api/positions`; each gets positions stored, and every worker's lie inside its home
//! grid (PostGIS `ST_Covers`, an independent check of the walker's geometry). A second run
//! finds the same resources and reuses the stored tokens.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::time::Duration;

use common::{TOKEN, collection, features, post_hierarchy};
use gridwall_sim::{self as sim, CaseSim, Kind, Login, SimConfig, StateFile};
use sqlx::PgPool;

async fn start(pool: PgPool) -> SocketAddr {
    start_with(pool, false).await
}

/// [`start`], with the alert engine running as `gridwall serve` runs it when `alerts`.
async fn start_with(pool: PgPool, alerts: bool) -> SocketAddr {
    let (router, state) = common::app(pool).await;
    if alerts {
        tokio::spawn(gridwall_server::alerts::engine::run(state));
    }
    let (status, body) =
        post_hierarchy(&router, collection(features()).to_string().into_bytes()).await;
    assert!(status.is_success(), "import: {body}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    addr
}

fn config(addr: SocketAddr, state_file: std::path::PathBuf) -> SimConfig {
    SimConfig {
        url: format!("http://{addr}"),
        login: Login::Session(TOKEN.to_owned()),
        workers: Some(3),
        vehicles: Some(1),
        state_file,
        interval_min: Duration::from_secs(1),
        interval_max: Duration::from_secs(1),
        seed: 42,
        concurrency: 8,
        summary_every: Duration::from_secs(1),
        time_scale: 1.0,
        cases: CaseSim::off(),
    }
}

/// Runs the simulator for `secs` and checks what it stored: positions for every resource,
/// every worker's inside its home grid (PostGIS `ST_Covers`).
async fn run_and_check(pool: &PgPool, cfg: SimConfig, secs: f64) -> sim::Report {
    let report = sim::run(cfg, tokio::time::sleep(Duration::from_secs_f64(secs)))
        .await
        .unwrap();
    assert_eq!(report.totals.rejected, 0, "{report:?}");
    assert_eq!(report.totals.errors, 0, "{report:?}");
    assert!(
        report.totals.accepted >= report.resources.len() as u64,
        "{report:?}"
    );
    for r in &report.resources {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM positions WHERE resource_id = $1")
            .bind(r.id)
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(n >= 1, "no positions stored for {r:?}");
    }
    for w in report.resources.iter().filter(|r| r.kind == Kind::Worker) {
        let (n, outside): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE NOT ST_Covers(u.geom, p.geom))
             FROM positions p JOIN units u ON u.code = $2
             WHERE p.resource_id = $1",
        )
        .bind(w.id)
        .bind(&w.unit)
        .fetch_one(pool)
        .await
        .unwrap();
        assert!(n >= 1);
        assert_eq!(
            outside, 0,
            "{outside} of {n} positions of {w:?} outside its grid"
        );
    }
    report
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn simulated_workers_report_inside_their_grids(pool: PgPool) {
    let addr = start(pool.clone()).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-test-{}", std::process::id()));
    let state_file = dir.join("simulator.json");
    let _ = std::fs::remove_file(&state_file);
    let cfg = SimConfig {
        vehicles: Some(0),
        ..config(addr, state_file.clone())
    };
    let report = run_and_check(&pool, cfg.clone(), 3.5).await;
    assert_eq!(report.resources.len(), 3, "{report:?}");

    // Again: the same workers, the same device tokens (no new ones issued).
    let tokens = StateFile::load(&state_file).unwrap().servers[&cfg.url]
        .devices
        .clone();
    assert_eq!(tokens.len(), 3);
    let again = run_and_check(&pool, cfg.clone(), 1.5).await;
    assert_eq!(again.resources, report.resources);
    let after = StateFile::load(&state_file).unwrap();
    assert_eq!(after.servers[&cfg.url].devices, tokens);
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(issued, 3);
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_simulated_patrol_car_reports_too(pool: PgPool) {
    let addr = start(pool.clone()).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-veh-{}", std::process::id()));
    let report = run_and_check(&pool, config(addr, dir.join("simulator.json")), 3.5).await;
    assert_eq!(report.resources.len(), 4, "{report:?}");
    assert_eq!(
        report
            .resources
            .iter()
            .filter(|r| r.kind == Kind::Vehicle)
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Set-up alone (what works before the ingest route exists): workers found again by grid on
/// the second run, their device tokens reused from the state file, none issued twice.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn setup_is_idempotent_and_reuses_device_tokens(pool: PgPool) {
    let addr = start(pool.clone()).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-setup-{}", std::process::id()));
    let state_file = dir.join("simulator.json");
    let _ = std::fs::remove_file(&state_file);
    let cfg = SimConfig {
        vehicles: Some(0),
        ..config(addr, state_file.clone())
    };
    let first = sim::run(cfg.clone(), std::future::ready(())).await.unwrap();
    assert_eq!(first.resources.len(), 3, "{first:?}");
    let second = sim::run(cfg, std::future::ready(())).await.unwrap();
    assert_eq!(first.resources, second.resources);
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT r.id, r.name, u.code FROM resources r JOIN units u ON u.id = r.unit_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for r in &first.resources {
        let (_, name, code) = rows.iter().find(|row| row.0 == r.id).unwrap();
        assert!(name.starts_with("模拟网格员·测试"), "{name}");
        assert_eq!(code, &r.unit);
    }
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(issued, 3);
    let state = StateFile::load(&state_file).unwrap();
    assert_eq!(state.servers[&format!("http://{addr}")].devices.len(), 3);
    let _ = std::fs::remove_dir_all(dir);
}

/// Cases on a fast clock: the simulator raises cases from several sources and categories, its
/// dispatcher and its workers carry them through their whole life, and the record shows it
/// (`case_events`, with the worker's position on start and resolve; every case in its grid).
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn simulated_cases_live_their_whole_life(pool: PgPool) {
    let addr = start(pool.clone()).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-cases-{}", std::process::id()));
    let cfg = SimConfig {
        workers: Some(6),
        vehicles: Some(0),
        // One simulated minute a real second: about one case a second, a few seconds on site.
        time_scale: 60.0,
        cases: CaseSim {
            per_hour: 60.0,
            poll: (Duration::from_secs(30), Duration::from_secs(60)),
            background_poll: Some(Duration::from_secs(3)),
            on_site: (Duration::from_secs(60), Duration::from_secs(120)),
            dispatch_every: Duration::from_millis(500),
            accept_after: Duration::from_secs(30),
            escalate_after: Duration::from_secs(300),
            follow_up_after: Duration::from_secs(120),
            close_after: Duration::from_secs(60),
            decline_share: 0.05,
            incidents_per_hour: 0.0,
        },
        ..config(addr, dir.join("simulator.json"))
    };
    let pool2 = pool.clone();
    // Run until a case has been closed (checked every second), 90 s at most, then 2 s more.
    let stop = async move {
        for _ in 0..90 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let closed: i64 =
                sqlx::query_scalar("SELECT count(*) FROM cases WHERE status = 'closed'")
                    .fetch_one(&pool2)
                    .await
                    .unwrap();
            if closed >= 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let report = sim::run(cfg, stop).await.unwrap();
    assert!(report.totals.cases_raised >= 5, "{report:?}");

    let (sources, categories, total): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT source), count(DISTINCT category), count(*) FROM cases",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sources >= 2, "{sources} sources among {total} cases");
    assert!(
        categories >= 2,
        "{categories} categories among {total} cases"
    );

    // Every case lies in its grid (PostGIS, independent of the server's locate).
    let outside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cases c JOIN units u ON u.id = c.grid_id
         WHERE NOT ST_Covers(u.geom, c.geom)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(outside, 0);

    // A closed case went through every step, in order.
    let lives: Vec<(i64, Vec<String>)> = sqlx::query_as(
        "SELECT e.case_id, array_agg(e.to_status ORDER BY e.version)
         FROM case_events e JOIN cases c ON c.id = e.case_id
         WHERE c.status = 'closed' GROUP BY e.case_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!lives.is_empty(), "no case was closed: {report:?}");
    let whole = [
        "reported",
        "accepted",
        "dispatched",
        "in_progress",
        "resolved",
        "followed_up",
        "closed",
    ];
    let complete = lives.iter().any(|(_, steps)| {
        let mut steps = steps.clone();
        steps.dedup(); // `take` stays dispatched
        steps == whole
    });
    assert!(complete, "no closed case lived the whole life: {lives:?}");

    // The worker said where they were on start and resolve: at the case, having walked there.
    let (events, placed, on_site): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(e.geom),
                count(*) FILTER (WHERE ST_DWithin(e.geom::geography, c.geom::geography, 25))
         FROM case_events e JOIN cases c ON c.id = e.case_id
         WHERE e.action IN ('start', 'resolve')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(events >= 2);
    assert_eq!(placed, events);
    assert_eq!(on_site, events);
    let _ = std::fs::remove_dir_all(dir);
}

/// Incidents on a fast clock: simulated workers press SOS, the server raises SOS alerts, and
/// the simulator's dispatcher acknowledges each (with a note) and later clears the SOS, which
/// resolves the alert; the record in `alerts` shows the whole life.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn simulated_sos_is_raised_acknowledged_and_cleared(pool: PgPool) {
    let addr = start_with(pool.clone(), true).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-sos-{}", std::process::id()));
    let cfg = SimConfig {
        workers: Some(6),
        vehicles: Some(0),
        // One simulated minute a real second: an SOS is acknowledged within a second of being
        // raised and cleared 2–5 s later.
        time_scale: 60.0,
        cases: CaseSim {
            per_hour: 0.5,
            dispatch_every: Duration::from_millis(500),
            incidents_per_hour: 60.0,
            ..CaseSim::default()
        },
        ..config(addr, dir.join("simulator.json"))
    };
    let pool2 = pool.clone();
    let stop = async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM alerts WHERE kind = 'sos' AND status = 'resolved'",
            )
            .fetch_one(&pool2)
            .await
            .unwrap();
            if done >= 1 {
                break;
            }
        }
    };
    let report = sim::run(cfg, stop).await.unwrap();
    let lives: Vec<(String, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT status, acknowledge_note, acknowledged_at IS NOT NULL,
                resolved_at >= acknowledged_at
         FROM alerts WHERE kind = 'sos' AND status = 'resolved'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let all: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, status, title FROM alerts ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        !lives.is_empty(),
        "no SOS went through its life: {all:?} {report:?}"
    );
    for (_, note, acknowledged, in_order) in &lives {
        assert!(*acknowledged && *in_order, "{lives:?}");
        assert!(
            note.as_deref().is_some_and(|n| n.contains("模拟")),
            "{lives:?}"
        );
    }
    // Every SOS alert is about one of the simulated workers, in the worker's own unit.
    let strays: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alerts a
         WHERE a.kind = 'sos' AND NOT EXISTS (
             SELECT 1 FROM resources r
             WHERE r.id::text = a.entity_id AND r.kind = 'worker')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(strays, 0);
    let _ = std::fs::remove_dir_all(dir);
}
