//! Early warning against real PostGIS: each rule fires on a scripted scenario and does not
//! fire just below its threshold; raising again updates the live alert instead of
//! duplicating it; time-based alerts clear themselves; acknowledging and resolving are
//! audited; the territory bounds the list and the actions.
//!
//! The engine is driven directly (`Engine::tick` with a chosen `now`, `Engine::on_case` with
//! the board's changes), so no test waits on a timer.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use axum::Router;
use chrono::{DateTime, Utc};
use common::{
    TOKEN, collection, error_parts, features, json_as, post_hierarchy, user_with_session,
};
use gridwall_server::AppState;
use gridwall_server::alerts::engine::Engine;
use gridwall_server::cases::tasks;
use serde_json::{Value, json};
use sqlx::PgPool;

const GRID_1: &str = "320999001001001";

async fn world(pool: PgPool) -> (Router, AppState) {
    let (app, state) = common::app(pool).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    (app, state)
}

async fn worker(app: &Router, name: &str, grid: &str) -> i64 {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(json!({"name": name, "grid": grid, "on_duty": true})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{v}");
    v["id"].as_i64().unwrap()
}

/// A position of `id` at (lng, lat), `min_ago` minutes before `now`.
async fn at(
    app: &Router,
    id: i64,
    lng: f64,
    lat: f64,
    now: DateTime<Utc>,
    min_ago: i64,
    sos: bool,
) {
    let t = (now - chrono::Duration::minutes(min_ago)).to_rfc3339();
    let (status, v) = json_as(
        app,
        "POST",
        "/api/positions",
        Some(TOKEN),
        Some(json!([{"resource": id, "lng": lng, "lat": lat, "at": t, "sos": sos}])),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
}

/// The alerts as the admin lists them: (kind, `entity_id`, status, occurrences).
async fn alerts(app: &Router, query: &str) -> Vec<(String, String, String, i64)> {
    let (status, v) = json_as(
        app,
        "GET",
        &format!("/api/alerts?{query}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    let mut out: Vec<_> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["entity_id"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
                a["occurrences"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn row(kind: &str, id: i64, status: &str, n: i64) -> (String, String, String, i64) {
    (kind.into(), id.to_string(), status.into(), n)
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn worker_rules_fire_past_their_thresholds_only(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let now = Utc::now();
    // Inside grid 1 (lng 120.0–120.033, lat 32.0–32.1) and outside it (grid 2).
    let silent = worker(&app, "离线甲", GRID_1).await;
    let nearly_silent = worker(&app, "离线乙", GRID_1).await;
    let away = worker(&app, "越界甲", GRID_1).await;
    let nearly_away = worker(&app, "越界乙", GRID_1).await;
    let still = worker(&app, "静止甲", GRID_1).await;
    let nearly_still = worker(&app, "静止乙", GRID_1).await;

    at(&app, silent, 120.01, 32.01, now, 31, false).await;
    at(&app, nearly_silent, 120.01, 32.02, now, 29, false).await;
    at(&app, away, 120.04, 32.03, now, 40, false).await;
    at(&app, nearly_away, 120.04, 32.04, now, 29, false).await;
    at(&app, still, 120.02, 32.05, now, 70, false).await;
    at(&app, nearly_still, 120.02, 32.06, now, 59, false).await;
    engine.tick(&state, now).await.unwrap();
    // Later reports: still away, still where they were (within 30 m), on time.
    at(&app, away, 120.045, 32.03, now, 5, false).await;
    at(&app, nearly_away, 120.045, 32.04, now, 0, false).await;
    at(&app, still, 120.0201, 32.0501, now, 5, false).await;
    at(&app, nearly_still, 120.0201, 32.0601, now, 0, false).await;
    engine.tick(&state, now).await.unwrap();

    // (The first tick also saw `away` and `still` silent for 40 and 70 minutes: offline,
    // cleared by their next reports. What is live now:)
    assert_eq!(
        alerts(&app, "status=live").await,
        vec![
            row("offline", silent, "open", 1),
            row("out_of_grid", away, "open", 1),
            row("stationary", still, "open", 1),
        ]
    );
    // Ticking again raises nothing new and duplicates nothing.
    engine.tick(&state, now).await.unwrap();
    assert_eq!(alerts(&app, "status=live").await.len(), 3);

    // The conditions clear: the silent one reports, the away one walks home, the still one
    // walks 100 m. Their alerts resolve themselves.
    let later = now + chrono::Duration::minutes(1);
    at(&app, silent, 120.011, 32.01, later, 0, false).await;
    at(&app, away, 120.01, 32.03, later, 0, false).await;
    at(&app, still, 120.021, 32.0501, later, 0, false).await;
    engine.tick(&state, later).await.unwrap();
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?status=resolved",
        Some(TOKEN),
        None,
    )
    .await;
    for a in v["alerts"].as_array().unwrap() {
        assert_eq!(a["resolved_by"], "system", "{a}");
    }
    let resolved = alerts(&app, "status=resolved").await;
    for want in [
        row("offline", silent, "resolved", 1),
        row("out_of_grid", away, "resolved", 1),
        row("stationary", still, "resolved", 1),
    ] {
        assert!(resolved.contains(&want), "{want:?} in {resolved:?}");
    }
    assert!(alerts(&app, "status=live").await.is_empty());

    // Thresholds are a table: ten minutes of silence is enough once an admin says so.
    let (status, r) = json_as(
        &app,
        "PUT",
        "/api/alert-rules/offline",
        Some(TOKEN),
        Some(json!({"enabled": true, "severity": 3, "minutes": 10})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{r}");
    engine
        .tick(&state, later + chrono::Duration::minutes(11))
        .await
        .unwrap();
    let live: Vec<String> = alerts(&app, "status=live&kind=offline")
        .await
        .into_iter()
        .map(|a| a.1)
        .collect();
    assert!(live.contains(&silent.to_string()), "{live:?}");
    // Out of range: 422 naming the limits.
    let (status, v) = json_as(
        &app,
        "PUT",
        "/api/alert-rules/offline",
        Some(TOKEN),
        Some(json!({"enabled": true, "severity": 9, "minutes": 10})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_rule");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn sos_is_raised_once_and_cleared_with_the_flag(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let now = Utc::now();
    let w = worker(&app, "求助", GRID_1).await;
    let mut bus = state.live.bus.subscribe();
    at(&app, w, 120.01, 32.01, now, 0, true).await;
    // The bus path (immediate) and the tick path agree: one alert.
    let batch = bus.recv().await.unwrap();
    engine.on_live(&state, &batch).await.unwrap();
    engine.tick(&state, now).await.unwrap();
    at(
        &app,
        w,
        120.011,
        32.01,
        now + chrono::Duration::seconds(5),
        0,
        false,
    )
    .await;
    engine.tick(&state, now).await.unwrap();
    assert_eq!(
        alerts(&app, "kind=sos").await,
        vec![row("sos", w, "open", 1)]
    );
    let (_, v) = json_as(&app, "GET", "/api/alerts?kind=sos", Some(TOKEN), None).await;
    assert_eq!(v["alerts"][0]["severity"], 4);
    assert!(
        v["alerts"][0]["title"].as_str().unwrap().contains("求助"),
        "{v}"
    );
    // The dispatcher clears the SOS: the alert resolves.
    let (status, _) = json_as(
        &app,
        "DELETE",
        &format!("/api/resources/{w}/sos"),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(status.is_success(), "{status}");
    engine.tick(&state, now).await.unwrap();
    assert_eq!(
        alerts(&app, "kind=sos").await,
        vec![row("sos", w, "resolved", 1)]
    );
}

/// Registers a case; answers it.
async fn case(app: &Router, lng: f64, lat: f64, category: &str, phone: Option<&str>) -> Value {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/cases",
        Some(TOKEN),
        Some(
            json!({"title": "邻里纠纷", "category": category, "source": "hotline_12345",
                    "lng": lng, "lat": lat, "reporter_phone": phone}),
        ),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CREATED, "{v}");
    v
}

/// Feeds every case change published so far to the engine.
async fn feed(
    engine: &mut Engine,
    state: &AppState,
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<gridwall_server::cases::CaseChange>>,
) {
    while let Ok(change) = rx.try_recv() {
        engine.on_case(state, &change).await.unwrap();
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn hot_spots_against_the_cells_own_baseline(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let mut rx = state.cases.board.subscribe();
    // Two disputes in one cell: not yet. The third: a hot spot. A fourth: the same alert.
    case(&app, 120.0101, 32.0101, "dispute", None).await;
    case(&app, 120.0102, 32.0102, "dispute", None).await;
    // Another category in the same cell does not count.
    case(&app, 120.0103, 32.0101, "environment", None).await;
    feed(&mut engine, &state, &mut rx).await;
    assert!(alerts(&app, "kind=hotspot").await.is_empty());
    case(&app, 120.0101, 32.0103, "dispute", None).await;
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(&app, "GET", "/api/alerts?kind=hotspot", Some(TOKEN), None).await;
    assert_eq!(v["total"], 1, "{v}");
    let a = &v["alerts"][0];
    assert_eq!(a["details"]["in_window"], 3);
    assert_eq!(a["details"]["resolution"], 8);
    assert!(a["entity_id"].as_str().unwrap().ends_with(":dispute"));
    case(&app, 120.0102, 32.0101, "dispute", None).await;
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(&app, "GET", "/api/alerts?kind=hotspot", Some(TOKEN), None).await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["alerts"][0]["occurrences"], 2);
    assert_eq!(v["alerts"][0]["details"]["in_window"], 4);

    // A cell that always has many: 60 in the last 30 days (2 a day) → three today is not
    // 3× its rate.
    sqlx::query(
        "INSERT INTO cases (number, title, category, source, severity, geom, grid_id,
                            handling_unit_id, deadline_at, created_at, updated_at)
         SELECT 'OLD-' || g, '旧事件', 'public_order', 'patrol', 2,
                ST_SetSRID(ST_MakePoint(120.0501, 32.0501), 4326), u.id, u.id,
                now(), now() - make_interval(days => 2 + g % 25),
                now() - make_interval(days => 2 + g % 25)
         FROM generate_series(1, 60) g, units u WHERE u.code = '320999001001002'",
    )
    .execute(&pool)
    .await
    .unwrap();
    for i in 0..3 {
        case(
            &app,
            120.0501 + 0.0001 * f64::from(i),
            32.0501,
            "public_order",
            None,
        )
        .await;
    }
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(&app, "GET", "/api/alerts?kind=hotspot", Some(TOKEN), None).await;
    assert_eq!(v["total"], 1, "the busy cell is not a hot spot: {v}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn repeat_reporters_are_flagged_masked(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let mut rx = state.cases.board.subscribe();
    // Spread out so no hot spot muddles the picture.
    case(&app, 120.01, 32.01, "dispute", Some("13900001111")).await;
    case(&app, 120.05, 32.05, "environment", Some("13900001111")).await;
    case(&app, 120.15, 32.15, "dispute", Some("13800002222")).await;
    feed(&mut engine, &state, &mut rx).await;
    assert!(alerts(&app, "kind=repeat_reporter").await.is_empty());
    case(&app, 120.09, 32.19, "other", Some("13900001111")).await;
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(
        v["alerts"][0]["entity_id"], "13900001111",
        "admins see the number"
    );
    assert_eq!(v["alerts"][0]["details"]["cases"], 3);
    assert!(
        !v["alerts"][0]["title"]
            .as_str()
            .unwrap()
            .contains("13900001111")
    );
    let op = user_with_session(&pool, "op", "operator", None).await;
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter",
        Some(&op),
        None,
    )
    .await;
    assert_ne!(
        v["alerts"][0]["entity_id"], "13900001111",
        "operators see it masked"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn overdue_cases_raise_and_clear(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let c = case(&app, 120.01, 32.01, "dispute", None).await;
    sqlx::query("UPDATE cases SET deadline_at = now() - interval '1 minute' WHERE id = $1")
        .bind(c["id"].as_i64().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    state.cases.load(&pool).await.unwrap();
    engine.tick(&state, Utc::now()).await.unwrap();
    assert!(
        alerts(&app, "kind=overdue").await.is_empty(),
        "not flagged yet"
    );
    tasks::sweep(&state, Utc::now()).await.unwrap();
    engine.tick(&state, Utc::now()).await.unwrap();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(
        alerts(&app, "kind=overdue").await,
        vec![row("overdue", id, "open", 1)]
    );
    // Rejected (closed): the alert resolves.
    let (_, now_case) = json_as(&app, "GET", &format!("/api/cases/{id}"), Some(TOKEN), None).await;
    let (status, v) = json_as(
        &app,
        "POST",
        &format!("/api/cases/{id}/transition"),
        Some(TOKEN),
        Some(json!({"action": "reject", "version": now_case["version"], "note": "重复"})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    engine.tick(&state, Utc::now()).await.unwrap();
    assert_eq!(
        alerts(&app, "kind=overdue").await,
        vec![row("overdue", id, "resolved", 1)]
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn acknowledge_and_resolve_audited_and_scoped(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let now = Utc::now();
    let w = worker(&app, "离线", GRID_1).await;
    at(&app, w, 120.01, 32.01, now, 45, false).await;
    engine.tick(&state, now).await.unwrap();
    let (_, v) = json_as(&app, "GET", "/api/alerts", Some(TOKEN), None).await;
    let id = v["alerts"][0]["id"].as_i64().unwrap();

    let west = user_with_session(&pool, "west", "dispatcher", Some("320999001")).await;
    let east = user_with_session(&pool, "east", "dispatcher", Some("320999002")).await;
    let boss = user_with_session(&pool, "boss", "leader", None).await;
    let (_, v) = json_as(&app, "GET", "/api/alerts", Some(&east), None).await;
    assert_eq!(v["total"], 0, "another township's alert is not listed");
    let (status, _) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/acknowledge"),
        Some(&east),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::NOT_FOUND);
    let (status, _) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/acknowledge"),
        Some(&boss),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::FORBIDDEN, "leaders read");

    let (status, v) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/acknowledge"),
        Some(&west),
        Some(json!({"note": "已电话联系"})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    assert_eq!(v["status"], "acknowledged");
    assert_eq!(v["acknowledged_by"], "west");
    // Raised again while acknowledged: still one alert, still acknowledged.
    engine
        .tick(&state, now + chrono::Duration::minutes(1))
        .await
        .unwrap();
    let (status, v) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/acknowledge"),
        Some(&west),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "alert_status");
    let (status, v) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/resolve"),
        Some(&west),
        Some(json!({"note": "手机没电"})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    assert_eq!(v["resolved_by"], "west");
    assert_eq!(v["resolve_note"], "手机没电");
    let (status, _) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{id}/resolve"),
        Some(&west),
        None,
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::CONFLICT);
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity_type = 'alert' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(audited, ["alert.acknowledge", "alert.resolve"]);
    // Still silent: a new alert is raised (the resolved one stays history).
    engine
        .tick(&state, now + chrono::Duration::minutes(2))
        .await
        .unwrap();
    let (_, v) = json_as(&app, "GET", "/api/alerts", Some(TOKEN), None).await;
    assert_eq!(v["total"], 2);
}

/// 属地 of an alert: it belongs to one unit for its life. A reporter flagged in township 1 and
/// then calling in township 2 gives township 2 its own alert — its own count, no
/// acknowledgement, no note from township 1 — and township 1's is resolved by the system
/// without a word about the other side.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn an_alert_never_moves_to_another_territory_with_its_notes(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let mut engine = Engine::default();
    let mut rx = state.cases.board.subscribe();
    let west = user_with_session(&pool, "west", "dispatcher", Some("320999001")).await;
    let east = user_with_session(&pool, "east", "dispatcher", Some("320999002")).await;
    let phone = "13900001111";
    for (lng, lat) in [(120.01, 32.01), (120.05, 32.05), (120.09, 32.19)] {
        case(&app, lng, lat, "dispute", Some(phone)).await;
    }
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter",
        Some(&west),
        None,
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    let first = v["alerts"][0].clone();
    assert_eq!(first["unit"]["code"], "320999001", "{first}");
    assert_eq!(first["details"]["cases"], 3);
    let (status, v) = json_as(
        &app,
        "POST",
        &format!("/api/alerts/{}/acknowledge", first["id"]),
        Some(&west),
        Some(json!({"note": "西镇已电话联系"})),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");

    // Three calls in township 2.
    for (lng, lat) in [(120.11, 32.01), (120.15, 32.05), (120.19, 32.19)] {
        case(&app, lng, lat, "dispute", Some(phone)).await;
    }
    feed(&mut engine, &state, &mut rx).await;
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter",
        Some(&east),
        None,
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    let second = &v["alerts"][0];
    assert_ne!(
        second["id"], first["id"],
        "a new alert, not township 1's moved"
    );
    assert_eq!(second["unit"]["code"], "320999002", "{second}");
    assert_eq!(second["status"], "open", "{second}");
    assert_eq!(
        second["details"]["cases"], 3,
        "township 2's own count: {second}"
    );
    assert!(second["acknowledged_by"].is_null() && second["acknowledge_note"].is_null());
    let text = second.to_string();
    assert!(!text.contains("西镇") && !text.contains("west"), "{text}");
    // Township 1's: resolved by the system, saying nothing of township 2.
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter&status=resolved",
        Some(&west),
        None,
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    let old = &v["alerts"][0];
    assert_eq!(old["id"], first["id"], "{v}");
    assert_eq!(old["resolved_by"], "system", "{v}");
    assert!(!old.to_string().contains("320999002"), "{v}");
    // Township 2 does not see township 1's, open or resolved.
    let (_, v) = json_as(
        &app,
        "GET",
        "/api/alerts?kind=repeat_reporter&status=open,acknowledged,resolved",
        Some(&east),
        None,
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["alerts"][0]["unit"]["code"], "320999002", "{v}");
}
