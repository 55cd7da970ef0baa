//! The read-only HTTP API against real PostGIS: health, units, locate, OpenAPI, metrics, and a
//! 400 with the JSON error body for every bad parameter.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use axum::Router;
use axum::http::StatusCode;
use common::{collection, error_parts, features, get_json, post_hierarchy};
use serde_json::Value;
use sqlx::PgPool;

async fn loaded_app(pool: PgPool) -> Router {
    let (app, _) = common::app(pool).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn health_reports_database_version_and_counts(pool: PgPool) {
    let (app, _) = common::app(pool.clone()).await;
    let (status, v) = get_json(&app, "/api/health").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no hierarchy yet: {v}"
    );
    assert_eq!(v["database"], true);
    assert!(v["hierarchy"].is_null());

    let app = loaded_app(pool).await;
    let (status, v) = get_json(&app, "/api/health").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["hierarchy"]["counts"]["grid"], 12);
    assert_eq!(v["hierarchy"]["counts"]["village"], 4);
    assert_eq!(v["hierarchy"]["counts"]["county"], 1);
    assert!(v["hierarchy"]["version"].as_i64().unwrap() >= 1);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn lists_units_as_geojson(pool: PgPool) {
    let app = loaded_app(pool).await;
    let (status, v) = get_json(&app, "/api/units?level=village").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["type"], "FeatureCollection");
    let codes: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "320999001001",
            "320999001002",
            "320999002001",
            "320999002002"
        ]
    );
    let f = &v["features"][0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    assert_eq!(f["properties"]["level"], 3);
    assert_eq!(f["properties"]["parent"], "320999001");
    assert_eq!(f["properties"]["name"], "测试1村");

    let (_, v) = get_json(&app, "/api/units?parent=320999002001").await;
    assert_eq!(v["features"].as_array().unwrap().len(), 3);
    let (_, v) = get_json(&app, "/api/units?level=4&parent=320999002001&simplify=50").await;
    assert_eq!(v["features"].as_array().unwrap().len(), 3);
    let (_, v) = get_json(&app, "/api/units?level=grid&parent=320999001").await;
    assert_eq!(
        v["features"].as_array().unwrap().len(),
        0,
        "grids are not children of a township"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn gets_one_unit_with_path_and_children(pool: PgPool) {
    let app = loaded_app(pool).await;
    let (status, v) = get_json(&app, "/api/units/320999001002").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["id"], "320999001002");
    let p = &v["properties"];
    assert_eq!(p["child_count"], 3);
    let path: Vec<&str> = p["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["320999", "320999001", "320999001002"]);

    let (status, v) = get_json(&app, "/api/units/320999009").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_parts(&v).0, "unit_not_found");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn locates_points(pool: PgPool) {
    let app = loaded_app(pool).await;
    // East township, north village, middle strip.
    let (status, v) = get_json(&app, "/api/locate?lng=120.15&lat=32.15").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["grid"]["code"], "320999002002002");
    assert_eq!(v["village"]["code"], "320999002002");
    assert_eq!(v["township"]["code"], "320999002");
    assert_eq!(v["county"]["code"], "320999");
    assert!(v["city"].is_null());
    assert_eq!(v["grid"]["level"], 4);

    let (status, v) = get_json(&app, "/api/locate?lng=121.5&lat=32.15").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_parts(&v).0, "outside_hierarchy");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn locate_without_hierarchy_is_unavailable(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    let (status, v) = get_json(&app, "/api/locate?lng=120.15&lat=32.15").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_parts(&v).0, "hierarchy_not_loaded");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn every_bad_parameter_answers_400_naming_it(pool: PgPool) {
    let app = loaded_app(pool).await;
    let cases: &[(&str, &str)] = &[
        ("/api/locate?lng=abc&lat=32", "lng"),
        ("/api/locate?lng=120&lat=", "lat"),
        ("/api/locate?lat=32", "lng"),
        ("/api/locate?lng=120", "lat"),
        ("/api/locate?lng=120&lat=91", "lat"),
        ("/api/locate?lng=-180.5&lat=32", "lng"),
        ("/api/locate?lng=NaN&lat=32", "lng"),
        ("/api/locate?lng=inf&lat=32", "lng"),
        ("/api/units?level=province", "level"),
        ("/api/units?level=7", "level"),
        ("/api/units?parent=12ab", "parent"),
        ("/api/units?parent=1234567", "parent"),
        ("/api/units?simplify=-1", "simplify"),
        ("/api/units?simplify=x", "simplify"),
        ("/api/units?simplify=100000", "simplify"),
        ("/api/units/32099a", "code"),
        ("/api/units/3209990", "code"),
        ("/tiles/units/23/0/0.mvt", "z"),
        ("/tiles/units/a/0/0.mvt", "z"),
        ("/tiles/units/-1/0/0.mvt", "z"),
        ("/tiles/units/2/4/0.mvt", "x"),
        ("/tiles/units/2/0/4.mvt", "y"),
        ("/tiles/units/2/0/x.mvt", "y"),
        ("/tiles/units/2/0/1.png", "y"),
        ("/tiles/units/0/0/0", "y"),
    ];
    for (uri, param) in cases {
        let (status, v) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {v}");
        let (code, message, details) = error_parts(&v);
        assert_eq!(code, "invalid_parameter", "{uri}");
        assert_eq!(details["parameter"], *param, "{uri}: {message}");
        assert!(
            message.contains(param),
            "{uri}: message {message:?} should name {param}"
        );
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn unknown_api_paths_are_json_404(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    for uri in ["/api/nope", "/tiles/other/0/0/0.mvt", "/api"] {
        let (status, v) = get_json(&app, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(error_parts(&v).0, "not_found");
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn openapi_documents_every_route(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    let (status, v) = get_json(&app, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/api/health",
        "/api/units",
        "/api/units/{code}",
        "/api/locate",
        "/api/admin/hierarchy",
        "/tiles/units.json",
        "/tiles/units/{z}/{x}/{y}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    assert!(v["components"]["schemas"].get("ErrorBody").is_some());
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn metrics_count_requests_by_route(pool: PgPool) {
    let app = loaded_app(pool).await;
    for _ in 0..3 {
        get_json(&app, "/api/units/320999001").await;
    }
    get_json(&app, "/api/units/320999").await;
    let (status, _, body) = common::send(
        &app,
        axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("gridwall_http_requests_total{")
                && l.contains("route=\"/api/units/{code}\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no request counter in\n{text}"));
    assert!(line.ends_with(" 4"), "{line}");
    assert!(text.contains("gridwall_http_request_duration_seconds_bucket"));
    assert!(
        text.contains("gridwall_hierarchy_units{level=\"grid\"} 12"),
        "{text}"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn serves_web_page_when_built(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("gridwall-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>一张图</title>",
    )
    .unwrap();
    let state = gridwall_server::cli::state(
        pool,
        16,
        gridwall_server::auth::AuthConfig::default(),
        gridwall_server::live::LiveConfig::default(),
    )
    .await
    .unwrap();
    let app = gridwall_server::http::app(state, Some(dir.clone()));
    let (status, _, body) = common::send(
        &app,
        axum::http::Request::get("/some/client/route")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("一张图"));
    let (status, v): (StatusCode, Value) = get_json(&app, "/api/missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    std::fs::remove_dir_all(dir).unwrap();
}
