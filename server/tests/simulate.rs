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
use gridwall_server::sim::{self, Kind, Login, SimConfig, StateFile};
use sqlx::PgPool;

async fn start(pool: PgPool) -> SocketAddr {
    let (router, _state) = common::app(pool).await;
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
    }
}

#[sqlx::test]
#[ignore = "needs POST /api/positions and /api/vehicles (issue 4), not on main yet"]
async fn simulated_phones_report_inside_their_grids(pool: PgPool) {
    let addr = start(pool.clone()).await;
    let dir = std::env::temp_dir().join(format!("gridwall-sim-test-{}", std::process::id()));
    let state_file = dir.join("simulator.json");
    let _ = std::fs::remove_file(&state_file);

    let report = sim::run(
        config(addr, state_file.clone()),
        tokio::time::sleep(Duration::from_millis(3500)),
    )
    .await
    .unwrap();
    let workers: Vec<_> = report
        .resources
        .iter()
        .filter(|r| r.kind == Kind::Worker)
        .collect();
    assert_eq!(workers.len(), 3, "{report:?}");
    assert_eq!(report.resources.len(), 4, "{report:?}");
    assert_eq!(report.totals.rejected, 0, "{report:?}");
    assert_eq!(report.totals.errors, 0, "{report:?}");
    assert!(report.totals.accepted >= 4, "{report:?}");

    for r in &report.resources {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM positions WHERE resource_id = $1")
            .bind(r.id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(n >= 1, "no positions stored for {r:?}");
    }
    for w in &workers {
        let (n, outside): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE NOT ST_Covers(u.geom, p.geom))
             FROM positions p JOIN units u ON u.code = $2
             WHERE p.resource_id = $1",
        )
        .bind(w.id)
        .bind(&w.unit)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(n >= 1);
        assert_eq!(
            outside, 0,
            "{outside} of {n} positions of {w:?} outside its grid"
        );
    }

    // Again: the same resources, the same device tokens (no new ones issued).
    let state = StateFile::load(&state_file).unwrap();
    let tokens = state.servers.values().next().unwrap().devices.clone();
    assert_eq!(tokens.len(), 4);
    let again = sim::run(
        config(addr, state_file.clone()),
        tokio::time::sleep(Duration::from_millis(1500)),
    )
    .await
    .unwrap();
    let mut ids: Vec<i64> = report.resources.iter().map(|r| r.id).collect();
    let mut ids_again: Vec<i64> = again.resources.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids_again.sort_unstable();
    assert_eq!(ids, ids_again);
    let after = StateFile::load(&state_file).unwrap();
    assert_eq!(after.servers.values().next().unwrap().devices, tokens);
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(issued, 4);
    let _ = std::fs::remove_dir_all(dir);
}

/// Set-up alone (what works before the ingest route exists): workers found again by grid on
/// the second run, their device tokens reused from the state file, none issued twice.
#[sqlx::test]
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
