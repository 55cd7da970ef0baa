//! Cases against real PostGIS: the whole life, every legal and illegal transition, two
//! dispatchers racing, idempotent creation, escalation, overdue and auto-escalation,
//! auto-dispatch, duplicates, scope isolation of reads and exports, a worker's phone, and the
//! dispatch candidates checked against a brute-force computation.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use common::{
    TOKEN, collection, ensure_admin, error_parts, features, json_as, post_hierarchy, send_anon,
    user_with_session,
};
use gridwall_server::AppState;
use gridwall_server::auth::AuthConfig;
use gridwall_server::cases::lifecycle::{self, Action, CaseStatus, Party};
use gridwall_server::cases::{CasesConfig, tasks};
use gridwall_server::live::LiveConfig;
use gridwall_spatial::{LatLng, haversine_m};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Township 1 (320999001) is lng [120.0, 120.1]; grid 320999001001001 is lng
/// [120.0, 120.0333], lat [32.0, 32.1].
const GRID_1: &str = "320999001001001";
const GRID_2: &str = "320999001001002";
const T2_GRID: &str = "320999002001001";

async fn world_with(pool: PgPool, cases: CasesConfig) -> (Router, AppState) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    ensure_admin(&pool).await;
    let state = gridwall_server::cli::state_with(
        pool,
        16,
        AuthConfig::default(),
        LiveConfig::default(),
        cases,
    )
    .await
    .unwrap();
    let app = gridwall_server::http::app(state.clone(), None);
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (app, state)
}

async fn world(pool: PgPool) -> (Router, AppState) {
    world_with(pool, CasesConfig::default()).await
}

/// A worker on duty in `grid` with `skills`, and a device token for their phone.
async fn worker(app: &Router, name: &str, grid: &str, skills: &[&str]) -> (i64, String) {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(json!({"name": name, "grid": grid, "on_duty": true, "skills": skills})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (status, v) = json_as(
        app,
        "POST",
        &format!("/api/workers/{id}/devices"),
        Some(TOKEN),
        Some(json!({"label": "手机"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (id, v["token"].as_str().unwrap().to_owned())
}

/// Puts a worker at (lng, lat) `secs_ago` seconds ago through the ingest API.
async fn place(app: &Router, id: i64, lng: f64, lat: f64, secs_ago: i64) {
    let at = (Utc::now() - chrono::Duration::seconds(secs_ago)).to_rfc3339();
    let (status, v) = json_as(
        app,
        "POST",
        "/api/positions",
        Some(TOKEN),
        Some(json!([{"resource": id, "lat": lat, "lng": lng, "at": at}])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1, "{v}");
}

fn new_case(lng: f64, lat: f64, category: &str) -> Value {
    json!({"title": "楼道堆放杂物", "description": "三楼楼道", "category": category,
           "source": "hotline_12345", "severity": 2, "lng": lng, "lat": lat,
           "address": "测试路 1 号", "reporter_name": "张先生", "reporter_phone": "13912345678"})
}

async fn create(app: &Router, token: &str, body: Value) -> Value {
    let (status, v) = json_as(app, "POST", "/api/cases", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn act(
    app: &Router,
    token: &str,
    case: &Value,
    action: &str,
    extra: Value,
) -> (StatusCode, Value) {
    let mut body = json!({"action": action, "version": case["version"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    json_as(
        app,
        "POST",
        &format!("/api/cases/{}/transition", case["id"]),
        Some(token),
        Some(body),
    )
    .await
}

async fn ok(app: &Router, token: &str, case: &Value, action: &str, extra: Value) -> Value {
    let (status, v) = act(app, token, case, action, extra).await;
    assert_eq!(status, StatusCode::OK, "{action}: {v}");
    v
}

fn note() -> Value {
    json!({"note": "已核实"})
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_whole_life_with_history(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let disp = user_with_session(&pool, "disp", "dispatcher", Some("320999001")).await;
    let (w, phone) = worker(&app, "王网格", GRID_1, &[]).await;

    let c = create(&app, &disp, new_case(120.01, 32.05, "dispute")).await;
    let number = c["number"].as_str().unwrap();
    let today = gridwall_server::cases::local_day(Utc::now()).format("%Y%m%d");
    assert!(number.starts_with(&format!("NT-{today}-")), "{number}");
    assert_eq!(number.len(), "NT-20261126-000001".len());
    assert_eq!(c["status"], "reported");
    assert_eq!(c["grid"]["code"], GRID_1);
    assert_eq!(c["handling_unit"]["code"], GRID_1);
    assert_eq!(c["category"]["name_zh"], "矛盾纠纷");
    // Dispatchers see the reporter's number (they call back).
    assert_eq!(c["reporter_phone"], "13912345678");
    // Deadline from the category's time limit (72 h for disputes).
    let created: chrono::DateTime<Utc> = c["created_at"].as_str().unwrap().parse().unwrap();
    let deadline: chrono::DateTime<Utc> = c["deadline_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((deadline - created).num_hours(), 72);
    assert_eq!(state.cases.board.len(), 1);

    let c = ok(&app, &disp, &c, "accept", json!({})).await;
    let c = ok(&app, &disp, &c, "dispatch", json!({"assignee": w})).await;
    assert_eq!(c["assignee"]["id"], w);
    assert_eq!(state.cases.board.load_of(w), 1);

    // The worker's phone: sees it, takes it, starts, resolves on site.
    let (status, mine) = json_as(&app, "GET", "/api/me/cases", Some(&phone), None).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["cases"][0]["id"], c["id"]);
    assert_eq!(
        mine["cases"][0]["allowed_actions"],
        json!(["take", "start", "decline"])
    );
    // Workers see reporters' numbers masked.
    assert_ne!(mine["cases"][0]["reporter_phone"], "13912345678");
    let c = ok(&app, &phone, &c, "take", json!({})).await;
    assert!(c["taken_at"].is_string());
    let c = ok(
        &app,
        &phone,
        &c,
        "start",
        json!({"position": [120.011, 32.051]}),
    )
    .await;
    let c = ok(
        &app,
        &phone,
        &c,
        "resolve",
        json!({"note": "已清理", "position": [120.0101, 32.0501]}),
    )
    .await;
    assert_eq!(c["status"], "resolved");
    assert_eq!(state.cases.board.load_of(w), 0);
    let c = ok(&app, &disp, &c, "follow_up", json!({"note": "回访满意"})).await;
    let c = ok(&app, &disp, &c, "close", json!({})).await;
    assert_eq!(c["status"], "closed");
    assert!(c["closed_at"].is_string());
    assert!(state.cases.board.is_empty());

    let (status, d) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", c["id"]),
        Some(&disp),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let h = d["history"].as_array().unwrap();
    let steps: Vec<(&str, &str)> = h
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("report", "reported"),
            ("accept", "accepted"),
            ("dispatch", "dispatched"),
            ("take", "dispatched"),
            ("start", "in_progress"),
            ("resolve", "resolved"),
            ("follow_up", "followed_up"),
            ("close", "closed"),
        ]
    );
    let versions: Vec<i64> = h.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(h[1]["actor"], "disp");
    assert_eq!(h[5]["note"], "已清理");
    assert_eq!(h[5]["position"], json!([120.0101, 32.0501]));
    assert!(h[5]["actor"].as_str().unwrap().starts_with("device:"));
    assert_eq!(h[2]["details"]["assignee"], w);

    // The history is append-only, whoever asks.
    let e = sqlx::query("UPDATE case_events SET note = 'x'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        sqlx::query("DELETE FROM case_events")
            .execute(&pool)
            .await
            .is_err()
    );
}

/// Puts a fresh case into `target` by legal steps; answers it and its worker's phone.
async fn case_in(app: &Router, disp: &str, target: CaseStatus, w: i64, phone: &str) -> Value {
    use CaseStatus as S;
    let c = create(app, disp, new_case(120.01, 32.05, "environment")).await;
    if target == S::Reported {
        return c;
    }
    if target == S::Rejected {
        return ok(app, disp, &c, "reject", note()).await;
    }
    let c = ok(app, disp, &c, "accept", json!({})).await;
    if target == S::Accepted {
        return c;
    }
    if target == S::Escalated {
        return ok(app, disp, &c, "escalate", note()).await;
    }
    let c = ok(app, disp, &c, "dispatch", json!({"assignee": w})).await;
    if target == S::Dispatched {
        return c;
    }
    if target == S::Returned {
        return ok(app, phone, &c, "decline", note()).await;
    }
    let c = ok(app, phone, &c, "start", json!({})).await;
    if target == S::InProgress {
        return c;
    }
    let c = ok(app, phone, &c, "resolve", note()).await;
    if target == S::Resolved {
        return c;
    }
    let c = ok(app, disp, &c, "follow_up", note()).await;
    if target == S::FollowedUp {
        return c;
    }
    ok(app, disp, &c, "close", json!({})).await
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn every_transition_legal_or_409(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let disp = user_with_session(&pool, "disp", "dispatcher", Some("320999")).await;
    let (w, phone) = worker(&app, "王网格", GRID_1, &[]).await;
    let (w2, _) = worker(&app, "李网格", GRID_2, &[]).await;
    let mut checked = 0;
    for status in CaseStatus::ALL {
        for action in Action::ALL {
            let c = case_in(&app, &disp, status, w, &phone).await;
            assert_eq!(c["status"], status.as_str());
            let taken = c["taken_at"].is_string();
            // Worker actions from the phone, the others from the dispatcher.
            let (token, party) = if action.by_assignee() {
                (phone.as_str(), Party::Assignee)
            } else {
                (disp.as_str(), Party::Dispatcher)
            };
            let assignee = if c["assignee"]["id"] == w { w2 } else { w };
            let extra = json!({"note": "理由", "assignee": assignee});
            let (code, v) = act(&app, token, &c, action.as_str(), extra).await;
            let legal = lifecycle::next(status, taken, action);
            let assigned = c["assignee"]["id"] == w;
            match legal {
                // A worker's phone does not even see a case not assigned to it.
                _ if party == Party::Assignee && !assigned => {
                    assert_eq!(code, StatusCode::NOT_FOUND, "{status:?} {action:?}: {v}");
                }
                Some(to) => {
                    assert_eq!(code, StatusCode::OK, "{status:?} {action:?}: {v}");
                    assert_eq!(v["status"], to.as_str(), "{status:?} {action:?}");
                    assert_eq!(v["version"], c["version"].as_i64().unwrap() + 1);
                }
                None => {
                    assert_eq!(code, StatusCode::CONFLICT, "{status:?} {action:?}: {v}");
                    let (code, _, details) = error_parts(&v);
                    assert_eq!(code, "illegal_transition");
                    let want: Vec<&str> = lifecycle::allowed(status, taken, party)
                        .into_iter()
                        .map(Action::as_str)
                        .collect();
                    assert_eq!(details["allowed"], json!(want), "{status:?} {action:?}");
                    assert_eq!(details["status"], status.as_str());
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 130);
    // A few by hand, so the table itself is checked too.
    let c = case_in(&app, &disp, CaseStatus::Reported, w, &phone).await;
    let (code, v) = act(&app, &disp, &c, "close", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).2["allowed"], json!(["accept", "reject"]));
    let c = case_in(&app, &disp, CaseStatus::InProgress, w, &phone).await;
    let (code, _) = act(&app, &disp, &c, "dispatch", json!({"assignee": w2})).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, v) = act(&app, &disp, &c, "reassign", json!({"assignee": w2})).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "dispatched");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn who_may_do_what(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let disp = user_with_session(&pool, "disp", "dispatcher", Some("320999")).await;
    let op = user_with_session(&pool, "op", "operator", Some("320999")).await;
    let leader = user_with_session(&pool, "boss", "leader", Some("320999")).await;
    let (w, phone) = worker(&app, "王网格", GRID_1, &[]).await;
    let (_w2, phone2) = worker(&app, "李网格", GRID_2, &[]).await;

    // Leaders read; they do not register or move cases.
    let (code, v) = json_as(
        &app,
        "POST",
        "/api/cases",
        Some(&leader),
        Some(new_case(120.01, 32.05, "dispute")),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    let c = create(&app, &op, new_case(120.01, 32.05, "dispute")).await;
    let (code, _) = act(&app, &leader, &c, "accept", json!({})).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // Operators take cases on but do not dispatch.
    let c = ok(&app, &op, &c, "accept", json!({})).await;
    let (code, v) = act(&app, &op, &c, "dispatch", json!({"assignee": w})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    // A phone cannot dispatch, nor act on a case it is not assigned.
    let (code, _) = act(&app, &phone, &c, "dispatch", json!({"assignee": w})).await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "not assigned: not even visible"
    );
    let c = ok(&app, &disp, &c, "dispatch", json!({"assignee": w})).await;
    let (code, _) = act(&app, &phone2, &c, "take", json!({})).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", c["id"]),
        Some(&phone2),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // Dispatchers may not take on a worker's behalf.
    let (code, _) = act(&app, &disp, &c, "take", json!({})).await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    // A worker's phone registers patrol reports only.
    let mut body = new_case(120.02, 32.06, "safety_hazard");
    body["source"] = json!("hotline_12345");
    let (code, v) = json_as(&app, "POST", "/api/cases", Some(&phone), Some(body)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_source");
    let mut body = new_case(120.02, 32.06, "safety_hazard");
    body.as_object_mut().unwrap().remove("source");
    let mine = create(&app, &phone, body).await;
    assert_eq!(mine["source"], "patrol");
    let (code, _) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", mine["id"]),
        Some(&phone),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "the reporter sees their report");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn two_dispatchers_one_wins(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let d1 = user_with_session(&pool, "d1", "dispatcher", Some("320999")).await;
    let d2 = user_with_session(&pool, "d2", "dispatcher", Some("320999")).await;
    let (w1, _) = worker(&app, "王网格", GRID_1, &[]).await;
    let (w2, _) = worker(&app, "李网格", GRID_2, &[]).await;
    for _ in 0..5 {
        let c = create(&app, &d1, new_case(120.01, 32.05, "dispute")).await;
        let c = ok(&app, &d1, &c, "accept", json!({})).await;
        let (a, b) = tokio::join!(
            act(&app, &d1, &c, "dispatch", json!({"assignee": w1})),
            act(&app, &d2, &c, "dispatch", json!({"assignee": w2})),
        );
        let mut codes = [a.0, b.0];
        codes.sort();
        assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT], "{a:?} {b:?}");
        let loser = if a.0 == StatusCode::CONFLICT {
            &a.1
        } else {
            &b.1
        };
        let (code, _, details) = error_parts(loser);
        assert_eq!(code, "version_conflict");
        assert_eq!(details["current_version"], 3);
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM case_events WHERE case_id = $1")
            .bind(c["id"].as_i64().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(events, 3, "one dispatch event, not two");
    }
    // A stale version is refused even without a race.
    let c = create(&app, &d1, new_case(120.01, 32.05, "dispute")).await;
    ok(&app, &d1, &c, "accept", json!({})).await;
    let (code, v) = act(&app, &d2, &c, "reject", note()).await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "version_conflict");
}

async fn post_with_key(app: &Router, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let req = Request::post("/api/cases")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, headers, bytes) = send_anon(app, req).await;
    let replayed = headers.get("idempotent-replayed").is_some();
    (status, serde_json::from_slice(&bytes).unwrap(), replayed)
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn creation_is_idempotent_with_a_key(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let body = new_case(120.01, 32.05, "dispute");
    let (s1, c1, r1) = post_with_key(&app, "phone-retry-0001", &body).await;
    assert_eq!(s1, StatusCode::CREATED, "{c1}");
    assert!(!r1);
    // The phone retries (same key, same body), also concurrently: one case.
    let (a, b) = tokio::join!(
        post_with_key(&app, "phone-retry-0001", &body),
        post_with_key(&app, "phone-retry-0001", &body)
    );
    for (s, c, replayed) in [a, b] {
        assert_eq!(s, StatusCode::OK, "{c}");
        assert!(replayed);
        assert_eq!(c["id"], c1["id"]);
        assert_eq!(c["number"], c1["number"]);
    }
    // Racing first requests with a fresh key: still one case.
    let body2 = new_case(120.02, 32.06, "environment");
    let (a, b) = tokio::join!(
        post_with_key(&app, "race-key", &body2),
        post_with_key(&app, "race-key", &body2)
    );
    assert_eq!(a.1["id"], b.1["id"], "{a:?} {b:?}");
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    // The same key for another request is refused, naming the case.
    let mut other = body.clone();
    other["title"] = json!("另一件事");
    let (s, v, _) = post_with_key(&app, "phone-retry-0001", &other).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "idempotency_key_reused");
    assert_eq!(details["case"], c1["id"]);
    // Without a key every request is a new case.
    create(&app, TOKEN, body.clone()).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(state.cases.board.len(), 3);
    // A bad key is a 400.
    let (s, v, _) = post_with_key(&app, "", &body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_idempotency_key");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn escalation_goes_to_the_township_then_the_county(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let c = create(&app, TOKEN, new_case(120.01, 32.05, "fire")).await;
    let c = ok(&app, TOKEN, &c, "accept", json!({})).await;
    let before: chrono::DateTime<Utc> = c["deadline_at"].as_str().unwrap().parse().unwrap();
    let c = ok(&app, TOKEN, &c, "escalate", json!({"note": "网格无法处置"})).await;
    assert_eq!(c["status"], "escalated");
    assert_eq!(c["handling_unit"]["code"], "320999001");
    assert_eq!(c["handling_unit"]["level"], 2);
    let after: chrono::DateTime<Utc> = c["deadline_at"].as_str().unwrap().parse().unwrap();
    assert!(after >= before, "the township gets the full time limit");
    let c = ok(&app, TOKEN, &c, "escalate", json!({"note": "镇级无法处置"})).await;
    assert_eq!(c["handling_unit"]["code"], "320999");
    let (code, v) = act(&app, TOKEN, &c, "escalate", json!({"note": "再升级"})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "cannot_escalate");
    // The history names the units.
    let (_, d) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", c["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    let h = d["history"].as_array().unwrap();
    assert_eq!(h[2]["details"]["from_unit"], GRID_1);
    assert_eq!(h[2]["details"]["to_unit"], "320999001");
    assert_eq!(h[3]["details"]["to_unit"], "320999");
    // The county can still dispatch it.
    let (w, _) = worker(&app, "王网格", GRID_1, &["消防"]).await;
    let c = ok(&app, TOKEN, &c, "dispatch", json!({"assignee": w})).await;
    assert_eq!(c["status"], "dispatched");
    // Missing note: 422.
    let (code, v) = act(&app, TOKEN, &c, "escalate", json!({})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "note_required");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn overdue_is_flagged_and_escalated_when_configured(pool: PgPool) {
    let config = CasesConfig {
        auto_escalate_overdue: true,
        ..CasesConfig::default()
    };
    let (app, state) = world_with(pool.clone(), config).await;
    let late = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    let late = ok(&app, TOKEN, &late, "accept", json!({})).await;
    let fresh = create(&app, TOKEN, new_case(120.02, 32.05, "dispute")).await;
    let done = create(&app, TOKEN, new_case(120.03, 32.05, "dispute")).await;
    ok(&app, TOKEN, &done, "reject", note()).await;
    // Nothing is overdue yet.
    assert_eq!(tasks::sweep(&state, Utc::now()).await.unwrap(), 0);
    // Two are past their deadline (the rejected one is done).
    let later = Utc::now();
    sqlx::query("UPDATE cases SET deadline_at = now() - interval '1 minute' WHERE id = ANY($1)")
        .bind(vec![
            late["id"].as_i64().unwrap(),
            done["id"].as_i64().unwrap(),
        ])
        .execute(&pool)
        .await
        .unwrap();
    state.cases.load(&pool).await.unwrap();
    let changed = tasks::sweep(&state, later).await.unwrap();
    assert_eq!(changed, 2, "flagged and escalated");
    let (_, d) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", late["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(d["overdue_at"].is_string(), "{d}");
    assert_eq!(d["status"], "escalated");
    assert_eq!(d["handling_unit"]["code"], "320999001");
    let actions: Vec<&str> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report", "accept", "overdue", "escalate"]);
    assert_eq!(d["history"][2]["actor"], "system");
    // A second sweep changes nothing more.
    assert_eq!(tasks::sweep(&state, later).await.unwrap(), 0);
    // The list filter: after escalation the deadline is renewed, so it is no longer overdue
    // now; the flag (overdue_at) stays for the on-time rate.
    let (_, l) = json_as(&app, "GET", "/api/cases?overdue=false", Some(TOKEN), None).await;
    assert_eq!(l["total"], 3);
    let _ = fresh;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn overdue_list_filter_and_queue_order(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let a = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    let b = create(&app, TOKEN, new_case(120.02, 32.05, "dispute")).await;
    sqlx::query("UPDATE cases SET deadline_at = now() - interval '1 hour' WHERE id = $1")
        .bind(b["id"].as_i64().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    let (_, l) = json_as(&app, "GET", "/api/cases?overdue=true", Some(TOKEN), None).await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["cases"][0]["id"], b["id"]);
    assert_eq!(l["cases"][0]["overdue"], true);
    let (_, q) = json_as(&app, "GET", "/api/cases?order=queue", Some(TOKEN), None).await;
    assert_eq!(q["cases"][0]["id"], b["id"], "overdue first");
    assert_eq!(q["cases"][1]["id"], a["id"]);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn duplicates_are_linked(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let first = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    assert!(first["duplicate_of"].is_null());
    // 50 m north, same category: linked. 300 m away or another category: not.
    let near = create(&app, TOKEN, new_case(120.01, 32.05045, "dispute")).await;
    assert_eq!(near["duplicate_of"]["id"], first["id"]);
    assert_eq!(near["duplicate_of"]["name"], first["number"]);
    let far = create(&app, TOKEN, new_case(120.01, 32.0527, "dispute")).await;
    assert!(far["duplicate_of"].is_null(), "{far}");
    let other = create(&app, TOKEN, new_case(120.01, 32.0501, "environment")).await;
    assert!(other["duplicate_of"].is_null());
    // A closed (rejected) original is not a duplicate target.
    let first = ok(&app, TOKEN, &first, "reject", note()).await;
    ok(&app, TOKEN, &near, "reject", note()).await;
    let again = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    assert!(again["duplicate_of"].is_null(), "{again} vs {first}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bad_input_is_named(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"category": "flood"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
        ),
        (
            json!({"lat": 40.0, "lng": 116.0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_grids",
        ),
        (
            json!({"lat": 95}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lat",
        ),
        (
            json!({"lng": "east"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lng",
        ),
        (
            json!({"severity": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_severity",
        ),
        (
            json!({"source": "wechat"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_source",
        ),
        (
            json!({"source": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_source",
        ),
        (
            json!({"title": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            json!({"reporter_phone": "call me"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            json!({"crs": "bd09"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_crs",
        ),
        (
            json!({"colour": "red"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ];
    for (patch, want_status, want_code) in cases {
        let mut body = new_case(120.01, 32.05, "dispute");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = json_as(&app, "POST", "/api/cases", Some(TOKEN), Some(body)).await;
        assert_eq!(status, want_status, "{patch}: {v}");
        assert_eq!(error_parts(&v).0, want_code, "{patch}");
    }
    let unknown = json!({"category": "flood"});
    let mut body = new_case(120.01, 32.05, "dispute");
    body["category"] = unknown["category"].clone();
    let (_, v) = json_as(&app, "POST", "/api/cases", Some(TOKEN), Some(body)).await;
    assert!(
        error_parts(&v).2["known"]
            .as_array()
            .unwrap()
            .contains(&json!("dispute"))
    );

    let c = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    let c = ok(&app, TOKEN, &c, "accept", json!({})).await;
    for (extra, action, want) in [
        (json!({}), "dispatch", "assignee_required"),
        (json!({"assignee": 999_999}), "dispatch", "unknown_assignee"),
        (json!({}), "fly", "unknown_action"),
        (json!({"position": [200, 32]}), "reject", "invalid_position"),
        (json!({"note": "  "}), "reject", "note_required"),
    ] {
        let (status, v) = act(&app, TOKEN, &c, action, extra.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action} {extra}: {v}"
        );
        assert_eq!(error_parts(&v).0, want, "{action} {extra}");
    }
    for (uri, want) in [
        ("/api/cases?status=lost", "invalid_parameter"),
        ("/api/cases?bbox=1,2,3", "invalid_parameter"),
        ("/api/cases?from=yesterday", "invalid_parameter"),
        ("/api/cases?format=xml", "invalid_parameter"),
        ("/api/cases?limit=0", "invalid_parameter"),
        ("/api/cases/abc", "invalid_parameter"),
    ] {
        let (status, v) = json_as(&app, "GET", uri, Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {v}");
        let (code, _, _) = error_parts(&v);
        assert!(code.starts_with("invalid"), "{uri}: {code} (want {want})");
    }
    let (status, v) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}/candidates?k=500", c["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn territory_bounds_lists_exports_and_candidates(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let t1 = user_with_session(&pool, "t1", "dispatcher", Some("320999001")).await;
    let t2 = user_with_session(&pool, "t2", "dispatcher", Some("320999002")).await;
    let op = user_with_session(&pool, "op1", "operator", Some("320999001")).await;
    let mine = create(&app, &t1, new_case(120.01, 32.05, "dispute")).await;
    let theirs = create(&app, &t2, new_case(120.15, 32.05, "dispute")).await;
    // Registering outside one's territory is refused.
    let (status, v) = json_as(
        &app,
        "POST",
        "/api/cases",
        Some(&t1),
        Some(new_case(120.15, 32.05, "dispute")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "out_of_scope");

    let (_, l) = json_as(&app, "GET", "/api/cases", Some(&t1), None).await;
    assert_eq!(l["total"], 1);
    assert_eq!(l["cases"][0]["id"], mine["id"]);
    // Operators see reporters' numbers masked.
    let (_, lo) = json_as(&app, "GET", "/api/cases", Some(&op), None).await;
    assert_ne!(lo["cases"][0]["reporter_phone"], "13912345678");
    let (_, all) = json_as(&app, "GET", "/api/cases", Some(TOKEN), None).await;
    assert_eq!(all["total"], 2);
    // Another territory's case: 404 for every route, like an unknown one.
    for uri in [
        format!("/api/cases/{}", theirs["id"]),
        format!("/api/cases/{}/candidates", theirs["id"]),
        "/api/cases/987654".to_owned(),
    ] {
        let (status, v) = json_as(&app, "GET", &uri, Some(&t1), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {v}");
    }
    let (status, _) = act(&app, &t1, &theirs, "accept", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A unit filter outside the territory filters to nothing.
    let (_, l) = json_as(&app, "GET", "/api/cases?unit=320999002", Some(&t1), None).await;
    assert_eq!(l["total"], 0);
    // Exports: CSV and GeoJSON hold only the territory.
    let req = Request::get("/api/cases?format=csv")
        .header(header::AUTHORIZATION, format!("Bearer {t1}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = String::from_utf8(body).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(mine["number"].as_str().unwrap()));
    assert!(!csv.contains(theirs["number"].as_str().unwrap()));
    let (status, g) = json_as(&app, "GET", "/api/cases?format=geojson", Some(&t1), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(g["type"], "FeatureCollection");
    assert_eq!(g["features"].as_array().unwrap().len(), 1);
    assert_eq!(
        g["features"][0]["geometry"]["coordinates"],
        json!([120.01, 32.05])
    );
    assert_eq!(g["features"][0]["properties"]["number"], mine["number"]);
    // Other filters: bbox, category, source, time.
    for (q, n) in [
        ("bbox=120.0,32.0,120.05,32.1", 1),
        ("bbox=120.1,32.0,120.2,32.1", 1),
        ("category=environment", 0),
        ("source=hotline_12345,walk_in", 2),
        ("status=open", 2),
        ("status=closed", 0),
        ("q=测试路", 2),
    ] {
        let (_, l) = json_as(&app, "GET", &format!("/api/cases?{q}"), Some(TOKEN), None).await;
        assert_eq!(l["total"], n, "{q}: {l}");
    }
    let from = (Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let (_, l) = json_as(
        &app,
        "GET",
        &format!("/api/cases?from={}", urlencode(&from)),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(l["total"], 0);

    // Candidates come from the caller's territory only: a worker of the other township
    // standing next to the case is offered to the administrator, never to t1.
    let (ours, _) = worker(&app, "本镇网格员", GRID_1, &[]).await;
    let (visitor, _) = worker(&app, "邻镇网格员", T2_GRID, &[]).await;
    place(&app, ours, 120.0105, 32.05, 5).await;
    place(&app, visitor, 120.0101, 32.05, 5).await;
    let ids = |v: &Value| -> Vec<i64> {
        v["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    let uri = format!("/api/cases/{}/candidates", mine["id"]);
    let (status, admin) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{admin}");
    assert!(
        ids(&admin).contains(&ours) && ids(&admin).contains(&visitor),
        "{admin}"
    );
    let (status, local) = json_as(&app, "GET", &uri, Some(&t1), None).await;
    assert_eq!(status, StatusCode::OK, "{local}");
    assert_eq!(ids(&local), vec![ours], "{local}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn candidates_match_brute_force(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    // 40 workers scattered over township 1 and 2, some with the fire skill; then make some
    // unavailable in each way the rules name.
    let mut workers: Vec<(i64, String, f64, f64)> = Vec::new();
    let grids = [
        GRID_1,
        GRID_2,
        "320999001001003",
        "320999001002001",
        T2_GRID,
    ];
    let mut seed = 7u64;
    let mut rand = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        #[allow(clippy::cast_precision_loss, reason = "test noise")]
        let x = (seed >> 11) as f64 / (1u64 << 53) as f64;
        x
    };
    for i in 0..40 {
        let grid = grids[i % grids.len()];
        let skills: &[&str] = if i % 3 == 0 { &["消防"] } else { &[] };
        let (id, _) = worker(&app, &format!("网格员{i}"), grid, skills).await;
        let lng = 120.0 + 0.2 * rand();
        let lat = 32.0 + 0.2 * rand();
        place(&app, id, lng, lat, 5).await;
        workers.push((id, grid.to_owned(), lng, lat));
    }
    // Off duty.
    let off = workers[1].0;
    let (s, v) = json_as(
        &app,
        "PATCH",
        &format!("/api/workers/{off}"),
        Some(TOKEN),
        Some(json!({"on_duty": false})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Silent for longer than the freshness window (10 minutes).
    let silent = workers[2].0;
    place(&app, silent, workers[2].2, workers[2].3, 0).await;
    let stale_ms = Utc::now().timestamp_millis() - 11 * 60 * 1000;
    {
        // Move its live report back in time through the public path: an older point would
        // be ignored (stale), so re-create the worker's state by a restart with an old point.
        sqlx::query(
            "UPDATE last_positions SET at = to_timestamp($2 / 1000.0) WHERE resource_id = $1",
        )
        .bind(silent)
        .bind(stale_ms)
        .execute(&pool)
        .await
        .unwrap();
        let loaded = state.hierarchy.get();
        state.live.load(&pool, loaded.as_deref()).await.unwrap();
    }
    // At the open-case limit (5).
    let busy = workers[3].0;
    for _ in 0..5 {
        let c = create(&app, TOKEN, new_case(120.19, 32.19, "other")).await;
        let c = ok(&app, TOKEN, &c, "accept", json!({})).await;
        ok(&app, TOKEN, &c, "dispatch", json!({"assignee": busy})).await;
    }
    let unavailable = [off, silent, busy];

    for (lng, lat, category) in [
        (120.01, 32.05, "dispute"),
        (120.05, 32.15, "dispute"),
        (120.15, 32.05, "fire"),
        (120.02, 32.02, "fire"),
    ] {
        let c = create(&app, TOKEN, new_case(lng, lat, category)).await;
        let grid = c["grid"]["code"].as_str().unwrap().to_owned();
        for (k, radius) in [(5usize, 5000.0f64), (10, 30_000.0), (3, 2000.0)] {
            let (s, v) = json_as(
                &app,
                "GET",
                &format!("/api/cases/{}/candidates?k={k}&radius_m={radius}", c["id"]),
                Some(TOKEN),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let got: Vec<(i64, bool, f64)> = v["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["id"].as_i64().unwrap(),
                        x["own_grid"].as_bool().unwrap(),
                        x["distance_m"].as_f64().unwrap(),
                    )
                })
                .collect();
            // Brute force over every worker.
            let centre = LatLng::new(lat, lng).unwrap();
            let mut want: Vec<(i64, bool, f64)> = workers
                .iter()
                .enumerate()
                .filter(|(_, (id, ..))| !unavailable.contains(id))
                .filter(|(i, _)| category != "fire" || i % 3 == 0)
                .map(|(_, (id, home, x, y))| {
                    let d = haversine_m(centre, LatLng::new(*y, *x).unwrap());
                    (*id, *home == grid, d)
                })
                .filter(|(_, _, d)| *d <= radius)
                .collect();
            want.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.total_cmp(&b.2)).then(a.0.cmp(&b.0)));
            want.truncate(k);
            let ids = |v: &[(i64, bool, f64)]| v.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>();
            assert_eq!(
                ids(&got),
                ids(&want),
                "{category} at ({lng}, {lat}) k={k} r={radius}"
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g.2 - w.2).abs() < 1e-6, "{g:?} {w:?}");
            }
            assert!(!got.is_empty() || want.is_empty());
        }
        // Walking time: the documented estimate.
        let (_, v) = json_as(
            &app,
            "GET",
            &format!("/api/cases/{}/candidates", c["id"]),
            Some(TOKEN),
            None,
        )
        .await;
        for x in v["candidates"].as_array().unwrap() {
            let d = x["distance_m"].as_f64().unwrap();
            let want = (d * 1.3 / 1.2).ceil();
            assert!((x["walk_s"].as_f64().unwrap() - want).abs() < 1.0, "{x}");
        }
    }
    // A closed case has no candidates.
    let c = create(&app, TOKEN, new_case(120.01, 32.05, "dispute")).await;
    ok(&app, TOKEN, &c, "reject", note()).await;
    let (s, v) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}/candidates", c["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "case_not_open");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn auto_dispatch_offers_the_next_candidate(pool: PgPool) {
    let config = CasesConfig {
        auto_dispatch: true,
        accept_timeout: Duration::from_secs(60),
        ..CasesConfig::default()
    };
    let (app, state) = world_with(pool.clone(), config).await;
    let (a, phone_a) = worker(&app, "甲", GRID_1, &[]).await;
    let (b, _) = worker(&app, "乙", GRID_2, &[]).await;
    let (c_id, phone_c) = worker(&app, "丙", GRID_2, &[]).await;
    place(&app, a, 120.010, 32.05, 1).await;
    place(&app, b, 120.040, 32.05, 1).await; // ≈ 2.8 km east of the case
    place(&app, c_id, 120.060, 32.05, 1).await; // ≈ 4.7 km
    let c = create(&app, TOKEN, new_case(120.011, 32.05, "dispute")).await;
    let c = ok(&app, TOKEN, &c, "accept", json!({})).await;
    let c = ok(&app, TOKEN, &c, "dispatch", json!({"assignee": a})).await;
    // Within the time to accept: nothing happens.
    assert_eq!(tasks::sweep(&state, Utc::now()).await.unwrap(), 0);
    // Not accepted in time: offered to the nearest other worker.
    let later = Utc::now() + chrono::Duration::seconds(61);
    assert_eq!(tasks::sweep(&state, later).await.unwrap(), 1);
    let (_, d) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", c["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(d["assignee"]["id"], b, "{d}");
    assert_eq!(
        d["history"].as_array().unwrap().last().unwrap()["actor"],
        "system"
    );
    // The first worker no longer sees it.
    let (_, mine) = json_as(&app, "GET", "/api/me/cases", Some(&phone_a), None).await;
    assert_eq!(mine["total"], 0);
    // B does not answer either; then C gets it, declines, and nobody is left within reach.
    let later = later + chrono::Duration::seconds(61);
    assert_eq!(tasks::sweep(&state, later).await.unwrap(), 1);
    let (_, d) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", c["id"]),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(d["assignee"]["id"], c_id);
    let d = ok(
        &app,
        &phone_c,
        &d,
        "decline",
        json!({"note": "在处理别的事件"}),
    )
    .await;
    assert_eq!(d["status"], "returned");
    assert_eq!(
        tasks::sweep(&state, later).await.unwrap(),
        0,
        "everyone had it"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn categories_are_a_table(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let (s, v) = json_as(&app, "GET", "/api/case-categories", Some(TOKEN), None).await;
    assert_eq!(s, StatusCode::OK);
    let codes: Vec<&str> = v["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "dispute",
            "safety_hazard",
            "public_order",
            "fire",
            "environment",
            "city_appearance",
            "public_service",
            "other"
        ]
    );
    let disp = user_with_session(&pool, "disp", "dispatcher", None).await;
    let body = json!({"name_zh": "防汛", "name_en": "Flood control", "sla_hours": 6});
    let (s, _) = json_as(
        &app,
        "PUT",
        "/api/case-categories/flood",
        Some(&disp),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = json_as(
        &app,
        "PUT",
        "/api/case-categories/flood",
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = create(&app, TOKEN, new_case(120.01, 32.05, "flood")).await;
    let created: chrono::DateTime<Utc> = c["created_at"].as_str().unwrap().parse().unwrap();
    let deadline: chrono::DateTime<Utc> = c["deadline_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((deadline - created).num_hours(), 6);
    let (s, v) = json_as(
        &app,
        "PUT",
        "/api/case-categories/Flood!",
        Some(TOKEN),
        Some(json!({"name_zh": "x", "name_en": "x", "sla_hours": 6})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'case_category.put'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audit, 1);
    let _ = HashMap::<i64, i64>::new();
}

/// 属地 of a link: a possible duplicate is named only to those who can open it. Township 1 and
/// township 2 meet at lng 120.1; two disputes 57 m apart on either side.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_duplicate_across_a_border_is_never_named(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let t1 = user_with_session(&pool, "t1", "dispatcher", Some("320999001")).await;
    let t2 = user_with_session(&pool, "t2", "dispatcher", Some("320999002")).await;
    let theirs = create(&app, &t2, new_case(120.1003, 32.05, "dispute")).await;
    // Registered by township 1 beside it: no link to a case it cannot open.
    let mine = create(&app, &t1, new_case(120.0997, 32.05, "dispute")).await;
    assert!(mine["duplicate_of"].is_null(), "{mine}");
    let (_, v) = json_as(
        &app,
        "GET",
        &format!("/api/cases/{}", mine["id"]),
        Some(&t1),
        None,
    )
    .await;
    assert!(v["duplicate_of"].is_null(), "{v}");
    // Registered by the city beside it (township 1's own closed meanwhile): linked, and shown
    // to the city…
    ok(&app, &t1, &mine, "reject", note()).await;
    let city = create(&app, TOKEN, new_case(120.0998, 32.0501, "dispute")).await;
    assert_eq!(city["duplicate_of"]["id"], theirs["id"], "{city}");
    let uri = format!("/api/cases/{}", city["id"]);
    let (_, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(v["duplicate_of"]["name"], theirs["number"], "{v}");
    assert_eq!(
        v["history"][0]["details"]["duplicate_of"], theirs["id"],
        "{v}"
    );
    // …but township 1, which sees the new case, sees no trace of township 2's: not in the
    // case, its history, the list or the exports.
    let (status, v) = json_as(&app, "GET", &uri, Some(&t1), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["duplicate_of"].is_null(), "{v}");
    assert!(v["history"][0]["details"]["duplicate_of"].is_null(), "{v}");
    let number = theirs["number"].as_str().unwrap();
    for format in ["json", "csv", "geojson"] {
        let req = Request::get(format!("/api/cases?format={format}"))
            .header(header::AUTHORIZATION, format!("Bearer {t1}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = common::send_anon(&app, req).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains(city["number"].as_str().unwrap()),
            "{format}: {text}"
        );
        assert!(!text.contains(number), "{format} names {number}: {text}");
    }
    // Township 2 cannot open the city's case at all (it lies in township 1).
    let (status, _) = json_as(&app, "GET", &uri, Some(&t2), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A worker (account or phone) reports in their own grid and the grids touching it; anything
/// further goes through the command center.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_worker_reports_only_within_reach_of_their_grid(pool: PgPool) {
    let (app, _state) = world(pool.clone()).await;
    let (_w, phone) = worker(&app, "王网格", GRID_1, &[]).await;
    let patrol = |lng: f64, lat: f64| {
        let mut body = new_case(lng, lat, "safety_hazard");
        body.as_object_mut().unwrap().remove("source");
        body
    };
    // Own grid, the grid beside it, the grid north of it (another village): within reach.
    for (lng, lat) in [(120.02, 32.06), (120.05, 32.06), (120.02, 32.15)] {
        let (status, v) = json_as(
            &app,
            "POST",
            "/api/cases",
            Some(&phone),
            Some(patrol(lng, lat)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "({lng}, {lat}): {v}");
    }
    // Two grids east, and the other township: out of reach, and nothing stored.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    for (lng, lat) in [(120.09, 32.06), (120.15, 32.05)] {
        let (status, v) = json_as(
            &app,
            "POST",
            "/api/cases",
            Some(&phone),
            Some(patrol(lng, lat)),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "({lng}, {lat}): {v}"
        );
        assert_eq!(error_parts(&v).0, "out_of_reach", "{v}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after);
}
