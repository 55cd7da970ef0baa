//! Position ingest against real PostGIS: the JSON batch (every rejection reason, device tokens
//! and sessions, scope), the OsmAnd protocol in its three variants, out-of-order and duplicate
//! points, GCJ-02 input, the track API, retention, restart recovery, and what an
//! acknowledgement means when the database stalls.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{TimeZone as _, Utc};
use common::{
    TOKEN, app_full, collection, error_parts, features, json_as, post_hierarchy, send_anon,
    user_with_session,
};
use gridwall_server::AppState;
use gridwall_server::auth::{AuthConfig, hash_ident};
use gridwall_server::live::LiveConfig;
use gridwall_server::live::tracks::TrackConfig;
use gridwall_spatial::{ResourceId, Status};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Grid 320999001001001 spans lng [120.0, 120.0333], lat [32.0, 32.1]; its centre is inside.
const IN_GRID_1: (f64, f64) = (32.05, 120.01);
/// A point in the other township (320999002…).
const IN_TOWNSHIP_2: (f64, f64) = (32.05, 120.15);

async fn world_with(pool: PgPool, live: LiveConfig) -> (Router, AppState) {
    let (app, state) = app_full(pool, AuthConfig::default(), live).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    (app, state)
}

async fn world(pool: PgPool) -> (Router, AppState) {
    world_with(pool, LiveConfig::default()).await
}

/// A worker in `grid` (created as the admin) and a device token for it.
async fn worker_with_device(app: &Router, name: &str, grid: &str) -> (i64, String) {
    let (status, v) = json_as(
        app,
        "POST",
        "/api/workers",
        Some(TOKEN),
        Some(json!({"name": name, "grid": grid, "on_duty": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (status, v) = json_as(
        app,
        "POST",
        &format!("/api/workers/{id}/devices"),
        Some(TOKEN),
        Some(json!({"label": "测试手机"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (id, v["token"].as_str().unwrap().to_owned())
}

async fn post(app: &Router, token: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    json_as(app, "POST", uri, Some(token), Some(body)).await
}

fn iso(secs_ago: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(secs_ago)).to_rfc3339()
}

async fn track_rows(pool: &PgPool, id: i64) -> Vec<(chrono::DateTime<Utc>, f64, f64)> {
    sqlx::query_as(
        "SELECT at, ST_Y(geom), ST_X(geom) FROM positions WHERE resource_id = $1 ORDER BY at",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Each item's rejection code, or its status when accepted.
fn result_codes(v: &Value) -> Vec<&str> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap_or(r["status"].as_str().unwrap()))
        .collect()
}

fn live_position(state: &AppState, id: i64) -> Option<(f64, f64, i64)> {
    let loaded = state.hierarchy.get();
    let read = state.live.read(loaded.as_deref());
    read.index().get(ResourceId(id)).map(|e| {
        (
            e.report.position.lat(),
            e.report.position.lng(),
            e.report.at_ms,
        )
    })
}

#[sqlx::test(migrations = "../migrations")]
async fn each_bad_item_is_rejected_with_its_reason_and_the_good_ones_are_kept(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (other, _) = worker_with_device(&app, "李四", "320999001001002").await;
    let (lat, lng) = IN_GRID_1;
    let future = (Utc::now() + chrono::Duration::minutes(6)).to_rfc3339();
    let old = (Utc::now() - chrono::Duration::days(91)).to_rfc3339();
    let items = json!([
        {"lat": lat, "lng": lng, "at": iso(30), "accuracy_m": 8, "speed_mps": 1.2, "battery": 80},
        {"lat": 91.0, "lng": lng, "at": iso(20)},
        {"lat": lat, "lng": 181.0, "at": iso(20)},
        {"lat": "NaN", "lng": lng, "at": iso(20)},
        {"lat": lat, "lng": lng, "at": future},
        {"lat": lat, "lng": lng, "at": "not a time"},
        {"lng": lng, "at": iso(20)},
        {"lat": lat, "lng": lng, "at": old},
        {"resource": other, "lat": lat, "lng": lng, "at": iso(20)},
        {"resource": 999_999, "lat": lat, "lng": lng, "at": iso(20)},
        {"lat": lat, "lng": lng + 0.001, "at": iso(10)},
    ]);
    let (status, v) = post(&app, &device, "/api/positions", json!({"positions": items})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let codes = result_codes(&v);
    assert_eq!(
        codes,
        [
            "accepted",
            "invalid_lat",
            "invalid_lng",
            "not_finite",
            "future_time",
            "invalid_time",
            "missing_field",
            "too_old",
            "out_of_scope",
            "out_of_scope",
            "accepted"
        ]
    );
    // A phone names only its own resource: another one is refused alike whether it exists or
    // not (no existence oracle).
    let named_other = v["results"][8]["message"].as_str().unwrap();
    let named_missing = v["results"][9]["message"].as_str().unwrap();
    assert_eq!(
        named_other.replace(&other.to_string(), "999999"),
        named_missing,
        "{v}"
    );
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(9))
    );
    for r in v["results"].as_array().unwrap() {
        if r["status"] == "rejected" {
            assert!(!r["message"].as_str().unwrap().is_empty(), "{r}");
        }
    }
    // Acknowledged means committed: both points are in PostGIS now.
    let rows = track_rows(&pool, id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(track_rows(&pool, other).await.is_empty());
    // And the live marker is at the newer one, located in its grid.
    let (_, live_lng, _) = live_position(&state, id).unwrap();
    assert!((live_lng - (lng + 0.001)).abs() < 1e-9);
    let grid: Option<String> = sqlx::query_scalar(
        "SELECT u.code FROM last_positions l JOIN units u ON u.id = l.grid_id WHERE resource_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(grid.as_deref(), Some("320999001001001"));

    // Everything rejected: 422 with the same per-item answer in the details.
    let (status, v) = post(
        &app,
        &device,
        "/api/positions",
        json!([{"lat": 95, "lng": lng, "at": iso(5)}]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "all_rejected");
    assert_eq!(details["results"][0]["code"], "invalid_lat");
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_batches_answer_4xx_in_the_error_shape(pool: PgPool) {
    let (app, _) = world(pool).await;
    let (_, device) = worker_with_device(&app, "张三", "320999001001001").await;
    for (body, want) in [
        (json!({"points": []}), "invalid_body"),
        (json!(42), "invalid_body"),
    ] {
        let (status, v) = post(&app, &device, "/api/positions", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(error_parts(&v).0, want);
    }
    let req = Request::post("/api/positions")
        .header(header::AUTHORIZATION, format!("Bearer {device}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, body) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_parts(&v).0, "invalid_json");
    let too_many: Vec<Value> = (0..10_001)
        .map(|_| json!({"lat": 32.05, "lng": 120.01, "at": 1}))
        .collect();
    let (status, v) = post(&app, &device, "/api/positions", json!(too_many)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "batch_too_large");
    let (status, v) = post(&app, &device, "/api/positions?crs=bd09", json!([])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_crs");
    let (status, v) = json_as(&app, "POST", "/api/positions", None, Some(json!([]))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
}

#[sqlx::test(migrations = "../migrations")]
async fn sessions_post_for_resources_in_their_territory_only(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let (mine, _) = worker_with_device(&app, "张三", "320999001001001").await;
    let (theirs, _) = worker_with_device(&app, "王五", "320999002001001").await;
    let disp = user_with_session(&pool, "disp.t1", "dispatcher", Some("320999001")).await;
    let op = user_with_session(&pool, "op.t1", "operator", Some("320999001")).await;
    let (lat, lng) = IN_GRID_1;
    let (lat2, lng2) = IN_TOWNSHIP_2;
    let (status, v) = post(
        &app,
        &disp,
        "/api/positions",
        json!({"positions": [
            {"resource": mine, "lat": lat, "lng": lng, "at": iso(5)},
            {"resource": theirs, "lat": lat2, "lng": lng2, "at": iso(5)},
            {"lat": lat, "lng": lng, "at": iso(5)},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["status"], "accepted");
    // Another territory's resource answers exactly as a missing one (no existence oracle).
    assert_eq!(v["results"][1]["code"], "unknown_resource");
    assert_eq!(v["results"][2]["code"], "missing_field");
    let (_, missing) = post(
        &app,
        &disp,
        "/api/positions",
        json!({"positions": [{"resource": theirs + 1000, "lat": lat, "lng": lng, "at": iso(5)}]}),
    )
    .await;
    assert_eq!(
        missing["error"]["details"]["results"][0]["message"],
        v["results"][1]["message"]
            .as_str()
            .unwrap()
            .replace(&theirs.to_string(), &(theirs + 1000).to_string()),
        "{missing}"
    );
    assert!(live_position(&state, mine).is_some());
    assert!(live_position(&state, theirs).is_none());
    // Operators watch; they do not feed positions.
    let (status, v) = post(
        &app,
        &op,
        "/api/positions",
        json!([{"resource": mine, "lat": lat, "lng": lng, "at": iso(1)}]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
}

#[sqlx::test(migrations = "../migrations")]
async fn late_points_join_the_track_without_moving_the_marker_and_resends_change_nothing(
    pool: PgPool,
) {
    let (app, state) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (lat, lng) = IN_GRID_1;
    let newest = iso(10);
    let batch = json!([{"lat": lat, "lng": lng, "at": newest}]);
    let (status, v) = post(&app, &device, "/api/positions", batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["live"], "moved");
    // The same point again: accepted (idempotent), nothing new anywhere.
    let (status, v) = post(&app, &device, "/api/positions", batch).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["live"], "duplicate");
    // An older point that arrives late (a phone's offline queue).
    let (status, v) = post(
        &app,
        &device,
        "/api/positions",
        json!([{"lat": lat + 0.01, "lng": lng, "at": iso(600)}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["live"], "stale");
    let rows = track_rows(&pool, id).await;
    assert_eq!(rows.len(), 2, "one row per distinct point: {rows:?}");
    assert!(
        (rows[0].1 - (lat + 0.01)).abs() < 1e-9,
        "the late point is first in time"
    );
    let (live_lat, _, _) = live_position(&state, id).unwrap();
    assert!(
        (live_lat - lat).abs() < 1e-9,
        "the marker stayed at the newest point"
    );
    let last_lat: f64 =
        sqlx::query_scalar("SELECT ST_Y(geom) FROM last_positions WHERE resource_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!((last_lat - lat).abs() < 1e-9);
}

#[sqlx::test(migrations = "../migrations")]
async fn gcj02_input_is_stored_as_wgs84(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    // A WGS84 point and its GCJ-02 form (the published transform, as Chinese SDKs report).
    let wgs = gridwall_spatial::LatLng::new(32.05, 120.01).unwrap();
    let gcj = gridwall_spatial::wgs84_to_gcj02(wgs);
    assert!(
        (gcj.lng() - wgs.lng()).abs() > 1e-3,
        "GCJ-02 is hundreds of metres off here"
    );
    let (status, v) = post(
        &app,
        &device,
        "/api/positions?crs=gcj02",
        json!([{"lat": gcj.lat(), "lng": gcj.lng(), "at": iso(5)}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let rows = track_rows(&pool, id).await;
    // The inverse is iterative: within a few centimetres (1e-7° ≈ 1 cm).
    assert!((rows[0].1 - wgs.lat()).abs() < 1e-6, "{rows:?}");
    assert!((rows[0].2 - wgs.lng()).abs() < 1e-6, "{rows:?}");
    // A resource declared GCJ-02 is converted without the query parameter.
    sqlx::query("UPDATE resources SET crs = 'gcj02' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let loaded = state.hierarchy.get();
    state
        .live
        .refresh_resource(&pool, loaded.as_deref(), id)
        .await
        .unwrap();
    let (status, v) = post(
        &app,
        &device,
        "/api/positions",
        json!([{"lat": gcj.lat(), "lng": gcj.lng(), "at": iso(1)}]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let rows = track_rows(&pool, id).await;
    assert_eq!(rows.len(), 2);
    assert!((rows[1].1 - wgs.lat()).abs() < 1e-6, "{rows:?}");
    assert!((rows[1].2 - wgs.lng()).abs() < 1e-6, "{rows:?}");
}

/// Sets a known OsmAnd identifier on the resource's device.
async fn set_ident(pool: &PgPool, resource: i64, ident: &str) {
    sqlx::query("UPDATE devices SET ident_hash = $2 WHERE resource_id = $1")
        .bind(resource)
        .bind(hash_ident(ident))
        .execute(pool)
        .await
        .unwrap();
}

async fn osmand(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = send_anon(app, req).await;
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    (status, v)
}

#[sqlx::test(migrations = "../migrations")]
async fn osmand_query_form_and_json_variants(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let (id, _) = worker_with_device(&app, "张三", "320999001001001").await;
    let ident = "k3v9q2m7x4c8r1t6w5z0b3n8p2";
    set_ident(&pool, id, ident).await;
    let base = Utc::now().timestamp() - 600;
    let (lat, lng) = IN_GRID_1;
    // Query string, seconds, speed in knots.
    let uri = format!(
        "/api/osmand?id={ident}&lat={lat}&lon={lng}&timestamp={base}&speed=10&bearing=90&batt=77"
    );
    let (status, v) = osmand(&app, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Form body, milliseconds.
    let form = format!(
        "id={ident}&lat={lat}&lon={}&timestamp={}&speed=0",
        lng + 0.001,
        (base + 60) * 1000
    );
    let req = Request::post("/api/osmand")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let (status, v) = osmand(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The app's JSON, ISO-8601, speed already in m/s.
    let at = Utc.timestamp_opt(base + 120, 0).unwrap().to_rfc3339();
    let body = json!({"device_id": ident, "location": {"timestamp": at,
        "coords": {"latitude": lat, "longitude": lng + 0.002, "accuracy": 5, "speed": 1.5,
                   "heading": 180, "altitude": 3},
        "battery": {"level": 0.76, "is_charging": false}, "is_moving": true}});
    let req = Request::post("/api/osmand")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, v) = osmand(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let rows: Vec<(i64, Option<f32>)> = sqlx::query_as(
        "SELECT extract(epoch FROM at)::bigint, speed_mps FROM positions WHERE resource_id = $1
         ORDER BY at",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        [base, base + 60, base + 120]
    );
    // 10 kn = 5.144 m/s.
    assert!((rows[0].1.unwrap() - 5.144_444).abs() < 1e-3, "{rows:?}");
    assert!((rows[2].1.unwrap() - 1.5).abs() < 1e-6, "{rows:?}");
    let (_, live_lng, _) = live_position(&state, id).unwrap();
    assert!((live_lng - (lng + 0.002)).abs() < 1e-9);

    // A bad fix answers 4xx naming the field.
    let uri = format!("/api/osmand?id={ident}&lat=123&lon={lng}");
    let (status, v) = osmand(&app, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_lat");
}

#[sqlx::test(migrations = "../migrations")]
async fn osmand_unknown_and_revoked_identifiers_are_refused_and_rate_limited(pool: PgPool) {
    let (app, _) = world(pool.clone()).await;
    let (id, _) = worker_with_device(&app, "张三", "320999001001001").await;
    let ident = "revokable-ident-0123456789abcdef";
    set_ident(&pool, id, ident).await;
    let (lat, lng) = IN_GRID_1;
    let get = |ident: &str| {
        Request::get(format!("/api/osmand?id={ident}&lat={lat}&lon={lng}"))
            .header("x-forwarded-for", "10.1.1.1")
            .body(Body::empty())
            .unwrap()
    };
    let (status, v) = osmand(
        &app,
        Request::get("/api/osmand?lat=1&lon=2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "missing_device_id");
    let (status, v) = osmand(&app, get("guessed-0001")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "unknown_device");
    sqlx::query("UPDATE devices SET revoked_at = now() WHERE resource_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let (status, v) = osmand(&app, get(ident)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "device_revoked");
    // Guessing: after ten failures a minute, the address waits.
    let mut last = StatusCode::OK;
    for i in 0..12 {
        last = osmand(&app, get(&format!("guess-{i}"))).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrations = "../migrations")]
async fn osmand_alarm_sos_raises_an_sos_until_a_dispatcher_clears_it(pool: PgPool) {
    let (app, state) = world(pool.clone()).await;
    let (id, _) = worker_with_device(&app, "张三", "320999001001001").await;
    let ident = "sos-ident-0123456789abcdefgh";
    set_ident(&pool, id, ident).await;
    let (lat, lng) = IN_GRID_1;
    let uri = format!("/api/osmand?id={ident}&lat={lat}&lon={lng}&alarm=sos");
    let (status, v) = osmand(&app, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let status_of = |state: &AppState| {
        let loaded = state.hierarchy.get();
        state
            .live
            .read(loaded.as_deref())
            .index()
            .get(ResourceId(id))
            .unwrap()
            .report
            .status
    };
    assert!(status_of(&state).contains(Status::SOS));
    let sos_at: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT sos_at FROM resources WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sos_at.is_some());
    // A normal report afterwards keeps the SOS raised.
    let uri = format!("/api/osmand?id={ident}&lat={lat}&lon={lng}");
    assert_eq!(
        osmand(&app, Request::get(&uri).body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    assert!(status_of(&state).contains(Status::SOS));
    let (status, v) = json_as(
        &app,
        "DELETE",
        &format!("/api/resources/{id}/sos"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert!(!status_of(&state).contains(Status::SOS));
    assert!(status_of(&state).contains(Status::ON_DUTY));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'resource.sos_clear' AND entity_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_track_is_geojson_in_time_order_and_scoped(pool: PgPool) {
    let (app, _) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (lat, lng) = IN_GRID_1;
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"lat": lat, "lng": lng + 0.0005 * f64::from(i), "at": iso(600 - 60 * i64::from(i)), "speed_mps": 1.0}))
        .rev()
        .collect();
    let (status, v) = post(&app, &device, "/api/positions", json!(items)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = json_as(
        &app,
        "GET",
        &format!("/api/resources/{id}/track"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["type"], "Feature");
    assert_eq!(v["geometry"]["type"], "LineString");
    let coords = v["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(coords.len(), 5);
    let lngs: Vec<f64> = coords.iter().map(|c| c[0].as_f64().unwrap()).collect();
    assert!(
        lngs.windows(2).all(|w| w[0] < w[1]),
        "in time order: {lngs:?}"
    );
    let times = v["properties"]["times"].as_array().unwrap();
    assert_eq!(times.len(), 5);
    assert_eq!(v["properties"]["grids"][0], "320999001001001");
    // A window holding two points.
    let from = (Utc::now() - chrono::Duration::seconds(450)).to_rfc3339();
    let to = (Utc::now() - chrono::Duration::seconds(300)).to_rfc3339();
    let uri = format!(
        "/api/resources/{id}/track?from={}&to={}",
        urlencode(&from),
        urlencode(&to)
    );
    let (status, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["properties"]["points"], 2, "{v}");
    // Another township's dispatcher: as if it did not exist.
    let other = user_with_session(&pool, "disp.t2", "dispatcher", Some("320999002")).await;
    let (status, v) = json_as(
        &app,
        "GET",
        &format!("/api/resources/{id}/track"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let uri = format!(
        "/api/resources/{id}/track?from={}&to={}",
        urlencode(&to),
        urlencode(&from)
    );
    let (status, v) = json_as(&app, "GET", &uri, Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[sqlx::test(migrations = "../migrations")]
async fn retention_drops_whole_days_past_the_limit(pool: PgPool) {
    let (_app, _state) = world(pool.clone()).await;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO resources (kind, name, unit_id) SELECT 'worker', 'x', id FROM units
         WHERE code = '320999001001001' RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
    for days_ago in [100_i64, 91, 90, 89, 1, 0] {
        let at = now - chrono::Duration::days(days_ago);
        sqlx::query("SELECT positions_ensure_partition($1::date)")
            .bind(at.date_naive())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO positions (resource_id, at, geom) VALUES ($1, $2, ST_Point(120.01, 32.05, 4326))",
        )
        .bind(id)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    let dropped = gridwall_server::live::tracks::apply_retention(&pool, 90, now)
        .await
        .unwrap();
    // Days that end on or before now − 90 days go; the day that holds that instant stays.
    assert_eq!(dropped, ["positions_20260818", "positions_20260827"]);
    let left: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT at FROM positions ORDER BY at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(left[0] >= now - chrono::Duration::days(90));
    // Today's and tomorrow's partitions exist for the writer.
    let parts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('positions_20261126', 'positions_20261127')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(parts, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_restarted_server_shows_every_resource_at_its_latest_point(pool: PgPool) {
    let (app, _) = world(pool.clone()).await;
    let (a, da) = worker_with_device(&app, "张三", "320999001001001").await;
    let (b, db) = worker_with_device(&app, "李四", "320999002001001").await;
    let (lat, lng) = IN_GRID_1;
    let (lat2, lng2) = IN_TOWNSHIP_2;
    for (token, lat, lng) in [(&da, lat, lng), (&db, lat2, lng2)] {
        let (status, v) = post(
            &app,
            token,
            "/api/positions",
            json!([{"lat": lat, "lng": lng, "at": iso(30)},
                   {"lat": lat + 0.001, "lng": lng, "at": iso(20)},
                   {"lat": lat + 0.05, "lng": lng, "at": iso(900)}]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // A new process on the same database.
    let (_, restarted) = app_full(pool.clone(), AuthConfig::default(), LiveConfig::default()).await;
    for (id, lat, lng) in [(a, lat, lng), (b, lat2, lng2)] {
        let (got_lat, got_lng, _) = live_position(&restarted, id).unwrap();
        assert!((got_lat - (lat + 0.001)).abs() < 1e-9, "{id}: {got_lat}");
        assert!((got_lng - lng).abs() < 1e-9);
    }
    let loaded = restarted.hierarchy.get().unwrap();
    let read = restarted.live.read(Some(&loaded));
    let grid = read
        .index()
        .get(ResourceId(b))
        .unwrap()
        .report
        .grid
        .unwrap();
    // Placed in the grid it stands in (its home is the next grid west).
    assert_eq!(loaded.hierarchy.unit(grid).code.as_str(), "320999002001002");
}

#[sqlx::test(migrations = "../migrations")]
async fn when_the_database_stalls_the_map_moves_and_acks_wait_then_the_buffer_refuses(
    pool: PgPool,
) {
    let live = LiveConfig {
        tracks: TrackConfig {
            capacity: 3,
            max_batch: 100,
            ..TrackConfig::default()
        },
        ack_timeout: Duration::from_millis(500),
        ..LiveConfig::default()
    };
    let (app, state) = world_with(pool.clone(), live).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (lat, lng) = IN_GRID_1;
    // Make sure today's partition exists, then stall every write to the track.
    gridwall_server::live::tracks::apply_retention(&pool, 90, Utc::now())
        .await
        .unwrap();
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = json!([{"lat": lat, "lng": lng, "at": iso(30)},
                       {"lat": lat, "lng": lng + 0.001, "at": iso(20)}]);
    let (status, v) = post(&app, &device, "/api/positions", first.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(error_parts(&v).0, "not_durable_yet");
    // Not acknowledged, but the wall already shows the newest point.
    let (_, live_lng, _) = live_position(&state, id).unwrap();
    assert!((live_lng - (lng + 0.001)).abs() < 1e-9);
    // Two points wait; two more do not fit in three: refused whole, with Retry-After.
    let req = Request::post("/api/positions")
        .header(header::AUTHORIZATION, format!("Bearer {device}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!([{"lat": lat, "lng": lng + 0.002, "at": iso(10)},
                   {"lat": lat, "lng": lng + 0.003, "at": iso(5)}])
            .to_string(),
        ))
        .unwrap();
    let (status, headers, body) = send_anon(&app, req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(header::RETRY_AFTER));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_parts(&v).0, "track_buffer_full");
    let (_, live_lng, _) = live_position(&state, id).unwrap();
    assert!(
        (live_lng - (lng + 0.001)).abs() < 1e-9,
        "a refused batch moved nothing"
    );
    // The database comes back: the buffered points are written, and the client's re-send of
    // the unacknowledged batch is acknowledged without duplicating them.
    blocker.rollback().await.unwrap();
    for _ in 0..300 {
        if state.live.tracks.queued() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        track_rows(&pool, id).await.len(),
        2,
        "the buffered points were written"
    );
    let (status, v) = post(&app, &device, "/api/positions", first).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(track_rows(&pool, id).await.len(), 2);
    assert_eq!(state.live.tracks.queued(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_track_writers_store_every_point_once_and_keep_the_newest(pool: PgPool) {
    // Every request its own transaction, four of them in flight: commits land in any order.
    let live = LiveConfig {
        tracks: TrackConfig {
            max_batch: 1,
            writers: 4,
            ..TrackConfig::default()
        },
        ..LiveConfig::default()
    };
    let (app, state) = world_with(pool.clone(), live).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (lat, lng) = IN_GRID_1;
    let base = Utc::now() - chrono::Duration::seconds(600);
    let at = |i: i64| (base + chrono::Duration::seconds(i)).to_rfc3339();
    let point = |i: i64| json!({"lat": lat, "lng": lng + 1e-5 * f64::from(i32::try_from(i).unwrap()), "at": at(i)});
    // 40 requests of two points each, the pairs overlapping (every point but the ends is sent
    // twice, once first and once second in its request, so concurrent batches hold the same
    // keys in opposite orders).
    let requests = (0..40_i64).map(|i| {
        let body = if i % 2 == 0 {
            json!([point(i), point(i + 1)])
        } else {
            json!([point(i + 1), point(i)])
        };
        let (app, device) = (app.clone(), device.clone());
        async move { post(&app, &device, "/api/positions", body).await }
    });
    for (status, v) in futures_util::future::join_all(requests).await {
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let rows = track_rows(&pool, id).await;
    assert_eq!(rows.len(), 41, "each distinct point once");
    let newest: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT at FROM last_positions WHERE resource_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(newest, rows[40].0, "last_positions holds the newest point");
    let stats = &state.live.tracks.stats;
    assert_eq!(stats.refused.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(
        stats.failures.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no deadlock or retry"
    );
    assert!(stats.batches.load(std::sync::atomic::Ordering::Relaxed) >= 40);
}

#[sqlx::test(migrations = "../migrations")]
async fn items_of_any_shape_are_read_alike_and_answered_one_by_one(pool: PgPool) {
    // Usual items are read straight into their fields, others as a JSON tree: both readers
    // must give the same answers.
    let (app, _) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let (lat, lng) = IN_GRID_1;
    let ms = (Utc::now() - chrono::Duration::seconds(60)).timestamp_millis();
    let body = format!(
        r#"{{"crs": "wgs84", "positions": [
            {{"lat": "{lat}", "lng": "{lng}", "at": "{ms}", "battery": "80"}},
            {{"lat": {lat}, "lng": {lng}, "at": {}, "battery": 80, "unknown": [1]}},
            5,
            {{"lat": 1e400, "lng": {lng}, "at": {ms}}},
            {{"resource": 1.5, "lat": {lat}, "lng": {lng}, "at": {ms}}},
            {{"lat": {lat}, "lng": {lng}, "at": {}, "sos": "yes"}},
            {{"lat": {lat}, "lng": {lng}, "lat": 91, "at": {}}}
        ]}}"#,
        ms + 1000,
        ms + 2000,
        ms + 3000
    );
    let req = Request::post("/api/positions")
        .header(header::AUTHORIZATION, format!("Bearer {device}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = send_anon(&app, req).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    let codes = result_codes(&v);
    assert_eq!(
        codes,
        [
            "accepted",
            "accepted",
            "invalid_value",
            "invalid_value",
            "invalid_value",
            "invalid_value",
            "invalid_lat"
        ],
        "{v}"
    );
    let batteries: Vec<Option<f32>> =
        sqlx::query_scalar("SELECT battery_pct FROM positions WHERE resource_id = $1 ORDER BY at")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(batteries, [Some(80.0), Some(80.0)]);
}

/// A re-homed worker brings no earlier track: the new territory sees the track from the move
/// on, the old one no longer sees the worker, and a territory above both sees all of it. A
/// point sent late, taken before the move, stays with the old home.
#[sqlx::test(migrations = "../migrations")]
async fn a_rehomed_worker_brings_no_earlier_track(pool: PgPool) {
    let (app, _) = world(pool.clone()).await;
    let (id, device) = worker_with_device(&app, "张三", "320999001001001").await;
    let west = user_with_session(&pool, "disp.t1", "dispatcher", Some("320999001")).await;
    let east = user_with_session(&pool, "disp.t2", "dispatcher", Some("320999002")).await;
    let county = user_with_session(&pool, "disp.c", "dispatcher", Some("320999")).await;
    let (lat, lng) = IN_GRID_1;
    let (lat2, lng2) = IN_TOWNSHIP_2;
    let before: Vec<Value> = (0..3)
        .map(|i| json!({"lat": lat, "lng": lng + 0.0005 * f64::from(i), "at": iso(300 - 60 * i64::from(i))}))
        .collect();
    let (status, v) = post(&app, &device, "/api/positions", json!(before)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Re-homed to township 2.
    let (status, v) = json_as(
        &app,
        "PATCH",
        &format!("/api/workers/{id}"),
        Some(TOKEN),
        Some(json!({"grid": "320999002001001"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let after: Vec<Value> = (0..2)
        .map(|i| json!({"lat": lat2, "lng": lng2 + 0.0005 * f64::from(i), "at": Utc::now().to_rfc3339()}))
        .collect();
    let (status, v) = post(&app, &device, "/api/positions", json!([after[0]])).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A late point from before the move.
    let late = json!({"lat": lat, "lng": lng + 0.002, "at": iso(100)});
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut second = after[1].clone();
    second["at"] = json!(Utc::now().to_rfc3339());
    let (status, v) = post(&app, &device, "/api/positions", json!([late, second])).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let track = |token: String| {
        let app = app.clone();
        async move {
            json_as(
                &app,
                "GET",
                &format!("/api/resources/{id}/track"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let (status, v) = track(east.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["properties"]["points"], 2, "only from the move on: {v}");
    let lngs: Vec<f64> = v["geometry"]["coordinates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_f64().unwrap())
        .collect();
    assert!(lngs.iter().all(|x| *x > 120.1), "{lngs:?}");
    let (status, _) = track(west).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the old territory no longer sees the worker"
    );
    let (status, v) = track(county).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["properties"]["points"], 6,
        "the county sees the whole track: {v}"
    );
    let (_, v) = track(TOKEN.to_owned()).await;
    assert_eq!(v["properties"]["points"], 6, "{v}");
}
