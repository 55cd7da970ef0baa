//! Hierarchy import against real PostGIS: every rejection names the feature and the reason and
//! leaves the stored hierarchy untouched; gaps are warnings; re-imports keep ids by code.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use axum::http::StatusCode;
use common::{collection, error_parts, feature, features, post_hierarchy, rect};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn stored_version(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT max(version) FROM hierarchy_versions")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn unit_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM units")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn imports_the_synthetic_hierarchy(pool: PgPool) {
    let (app, state) = common::app(pool.clone()).await;
    let (status, report) =
        post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["counts"], json!([0, 1, 2, 4, 12]));
    assert_eq!(report["warnings"], json!([]));
    assert!(report["cover_cells"].as_u64().unwrap() > 100);
    assert_eq!(stored_version(&pool).await, report["version"].as_i64());
    assert_eq!(state.hierarchy.version(), report["version"].as_i64());

    // Stored as MultiPolygons with area and a label inside.
    let (kinds, area, inside): (Vec<String>, f64, bool) = sqlx::query_as(
        "SELECT array_agg(DISTINCT GeometryType(geom)), sum(area_m2) FILTER (WHERE level = 4),
                bool_and(ST_Covers(geom, label))
         FROM units",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kinds, vec!["MULTIPOLYGON".to_owned()]);
    // 0.2° × 0.2° at 32° N is about 22.26 km × 18.9 km.
    assert!((area / 1e6 - 420.0).abs() < 10.0, "area {area}");
    assert!(inside);

    // Every grid cell of the cover lies on its grid (centre inside, or boundary).
    let bad: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unit_cells c JOIN units u ON u.id = c.unit_id WHERE u.level <> 4",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(bad, 0);
}

/// Posts `features`, expects 422 with a problem about `code` whose reason contains `reason`.
async fn assert_refused(pool: &PgPool, features: Vec<Value>, code: &str, reason: &str) {
    let (app, _) = common::app(pool.clone()).await;
    let (ok, _) = post_hierarchy(
        &app,
        collection(common::features()).to_string().into_bytes(),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    let before = (stored_version(pool).await, unit_count(pool).await);

    let (status, body) = post_hierarchy(&app, collection(features).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (err, _, details) = error_parts(&body);
    assert_eq!(err, "invalid_hierarchy");
    let problems = details["problems"].as_array().unwrap();
    assert_eq!(details["total"].as_u64(), Some(problems.len() as u64));
    assert!(
        problems.iter().any(|p| p["code"] == code
            && p["index"].is_u64()
            && p["reason"].as_str().unwrap().contains(reason)),
        "expected a problem for {code} containing {reason:?}, got {problems:?}"
    );
    assert_eq!(
        (stored_version(pool).await, unit_count(pool).await),
        before,
        "a refused import must change nothing"
    );
}

fn replace(mut fs: Vec<Value>, code: &str, f: impl FnOnce(&mut Value)) -> Vec<Value> {
    let target = fs
        .iter_mut()
        .find(|v| v["properties"]["code"] == code)
        .unwrap();
    f(target);
    fs
}

const GRID: &str = "320999001001001";

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_wrong_geometry_type(pool: PgPool) {
    let fs = replace(features(), GRID, |f| {
        f["geometry"] =
            json!({"type": "LineString", "coordinates": [[120.0, 32.0], [120.1, 32.1]]});
    });
    assert_refused(&pool, fs, GRID, "LineString is not allowed").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_invalid_geometry_with_postgis_reason(pool: PgPool) {
    // A bow tie.
    let fs = replace(features(), GRID, |f| {
        f["geometry"]["coordinates"] = json!([[
            [120.0, 32.0],
            [120.03, 32.1],
            [120.03, 32.0],
            [120.0, 32.1],
            [120.0, 32.0]
        ]]);
    });
    assert_refused(&pool, fs, GRID, "Self-intersection").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_coordinates_out_of_range(pool: PgPool) {
    let fs = replace(features(), GRID, |f| {
        f["geometry"]["coordinates"][0][2] = json!([120.03, 95.0]);
    });
    assert_refused(&pool, fs, GRID, "latitude 95 is outside").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_non_numeric_coordinates(pool: PgPool) {
    let fs = replace(features(), GRID, |f| {
        f["geometry"]["coordinates"][0][1] = json!(["120.03", 32.0]);
    });
    assert_refused(&pool, fs, GRID, "longitude is not a number").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_duplicate_codes(pool: PgPool) {
    let mut fs = features();
    let copy = fs
        .iter()
        .find(|v| v["properties"]["code"] == GRID)
        .unwrap()
        .clone();
    fs.push(copy);
    assert_refused(&pool, fs, GRID, "duplicate code").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_unknown_parent(pool: PgPool) {
    let fs = replace(features(), GRID, |f| {
        f["properties"]["parent"] = json!("320999009009");
    });
    assert_refused(&pool, fs, GRID, "unknown parent 320999009009").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_level_not_one_below_parent(pool: PgPool) {
    // A grid hung directly under a township.
    let fs = replace(features(), GRID, |f| {
        f["properties"]["parent"] = json!("320999001");
    });
    assert_refused(&pool, fs, GRID, "not one below its parent").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_child_outside_parent(pool: PgPool) {
    // The first grid pokes 0.01° (30 % of its width) west out of its village.
    let fs = replace(features(), GRID, |f| {
        f["geometry"]["coordinates"] = rect(119.99, 32.0, 120.0 + 0.1 / 3.0, 32.1);
    });
    assert_refused(&pool, fs, GRID, "lies outside its parent 320999001001").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_overlapping_siblings(pool: PgPool) {
    // The first grid reaches half-way into the second.
    let fs = replace(features(), GRID, |f| {
        f["geometry"]["coordinates"] = rect(120.0, 32.0, 120.05, 32.1);
    });
    assert_refused(&pool, fs, GRID, "overlaps its sibling 320999001001002").await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_a_bad_code_for_the_level(pool: PgPool) {
    let fs = replace(features(), GRID, |f| {
        f["properties"]["code"] = json!("3209990010010");
    });
    assert_refused(
        &pool,
        fs,
        "3209990010010",
        "must have 6, 9, 12 or 15 digits",
    )
    .await;
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn refuses_malformed_json_and_non_collections(pool: PgPool) {
    let (app, _) = common::app(pool.clone()).await;
    for (body, expected) in [
        (
            b"{\"type\": \"FeatureCollection\", \"features\": [".to_vec(),
            "malformed JSON",
        ),
        (br#"{"type": "Feature"}"#.to_vec(), "FeatureCollection"),
        (
            br#"{"type": "FeatureCollection", "features": []}"#.to_vec(),
            "no features",
        ),
        (vec![0x1f, 0x8b, 0, 1, 2], "gzip"),
        // Not finite: JSON has no NaN or infinity, and an overflowing number is refused.
        (
            br#"{"type": "FeatureCollection", "features": [{"type": "Feature",
                "properties": {"code": "320999", "name": "x", "level": 1, "parent": null},
                "geometry": {"type": "Polygon", "coordinates":
                  [[[120, 32], [1e999, 32], [120.1, 32.1], [120, 32]]]}}]}"#
                .to_vec(),
            "number out of range",
        ),
    ] {
        let (status, v) = post_hierarchy(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        let (code, message, _) = error_parts(&v);
        assert_eq!(code, "invalid_hierarchy_file");
        assert!(
            message.contains(expected),
            "{message} should mention {expected}"
        );
    }
    assert_eq!(stored_version(&pool).await, None);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn reports_gaps_as_warnings(pool: PgPool) {
    // Drop the last grid of the first village: its strip becomes a gap in the village.
    let fs: Vec<Value> = features()
        .into_iter()
        .filter(|f| f["properties"]["code"] != "320999001001003")
        .collect();
    let (app, _) = common::app(pool.clone()).await;
    let (status, report) = post_hierarchy(&app, collection(fs).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w["kind"], "gap");
    assert_eq!(w["code"], "320999001001");
    // The strip is 0.1/3° × 0.1°: about 3.15 km × 11.1 km = 35 km².
    let area_km2 = w["area_m2"].as_f64().unwrap() / 1e6;
    assert!((area_km2 - 35.0).abs() < 2.0, "gap area {area_km2} km²");
    let [lng, lat] = [
        w["location"][0].as_f64().unwrap(),
        w["location"][1].as_f64().unwrap(),
    ];
    assert!((120.0 + 0.2 / 3.0..=120.1).contains(&lng) && (32.0..=32.1).contains(&lat));
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn reimport_replaces_by_code_and_keeps_ids(pool: PgPool) {
    let (app, state) = common::app(pool.clone()).await;
    let (status, first) =
        post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let id_before: i64 = sqlx::query_scalar("SELECT id FROM units WHERE code = '320999002002003'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Second version: the two last grids of village 320999001001 become one, renamed; a city root.
    let mut fs: Vec<Value> = features()
        .into_iter()
        .filter(|f| f["properties"]["code"] != "320999001001003")
        .map(|mut f| {
            if f["properties"]["code"] == "320999001001002" {
                f["properties"]["name"] = json!("合并网格");
                f["geometry"]["coordinates"] = rect(120.0 + 0.1 / 3.0, 32.0, 120.1, 32.1);
            }
            if f["properties"]["code"] == "320999" {
                f["properties"]["parent"] = json!("320900");
            }
            f
        })
        .collect();
    fs.insert(
        0,
        feature(
            "320900",
            "测试市",
            "city",
            None,
            rect(120.0, 32.0, 120.2, 32.2),
        ),
    );
    let (status, second) = post_hierarchy(&app, collection(fs).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        second["version"].as_i64(),
        first["version"].as_i64().map(|v| v + 1)
    );
    assert_eq!(second["counts"], json!([1, 1, 2, 4, 11]));
    assert_eq!(second["removed"], 1);
    assert_eq!(state.hierarchy.version(), second["version"].as_i64());

    let id_after: i64 = sqlx::query_scalar("SELECT id FROM units WHERE code = '320999002002003'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(id_before, id_after, "units that stay keep their id");
    let (name, parent): (String, Option<String>) = sqlx::query_as(
        "SELECT u.name, p.code FROM units u LEFT JOIN units p ON p.id = u.parent_id
         WHERE u.code = '320999001001002'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), parent.as_deref()),
        ("合并网格", Some("320999001001"))
    );
    let county_parent: Option<String> = sqlx::query_scalar(
        "SELECT p.code FROM units u JOIN units p ON p.id = u.parent_id WHERE u.code = '320999'",
    )
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(county_parent.as_deref(), Some("320900"));

    // The cover follows: no cell of the removed grid, and the merged grid owns its strip.
    let (app2, _) = common::app(pool.clone()).await;
    let (status, located) = common::get_json(&app2, "/api/locate?lng=120.09&lat=32.05").await;
    assert_eq!(status, StatusCode::OK, "{located}");
    assert_eq!(located["grid"]["code"], "320999001001002");
    assert_eq!(located["grid"]["name"], "合并网格");
    assert_eq!(located["city"]["code"], "320900");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn import_over_http_needs_an_admin(pool: PgPool) {
    let (app, _) = common::app(pool.clone()).await;
    let body = || axum::body::Body::from(collection(features()).to_string());
    let req = axum::http::Request::post("/api/admin/hierarchy")
        .body(body())
        .unwrap();
    let (status, _, bytes) = common::send_anon(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error_parts(&v).0, "unauthorized");

    // A leader has a session but not the role.
    let leader = common::user_with_session(&pool, "leader1", "leader", None).await;
    let req = axum::http::Request::post("/api/admin/hierarchy")
        .header("authorization", format!("Bearer {leader}"))
        .body(body())
        .unwrap();
    let (status, _, bytes) = common::send_anon(&app, req).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(stored_version(&pool).await, None);

    // The admin's import is in the audit log.
    let (status, v) =
        common::post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (actor, action, outcome): (String, String, String) = sqlx::query_as(
        "SELECT actor, action, outcome FROM audit_log WHERE action = 'hierarchy.import'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor.as_str(), action.as_str(), outcome.as_str()),
        (common::ADMIN, "hierarchy.import", "ok")
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_running_server_swaps_in_an_import_made_elsewhere(pool: PgPool) {
    // The "server": its own state and the watcher, as `gridwall serve` runs them.
    let (app, state) = common::app(pool.clone()).await;
    assert_eq!(state.hierarchy.version(), None);
    tokio::spawn(gridwall_server::hierarchy::watch(
        pool.clone(),
        std::sync::Arc::clone(&state.hierarchy),
        std::sync::Arc::clone(&state.metrics),
    ));
    // Let the watcher start listening (it also catches up if it misses the notification).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // The "CLI": an import through the library on the same database.
    let bytes = collection(features()).to_string().into_bytes();
    let (report, _) = gridwall_server::import::import(
        &pool,
        &bytes,
        "elsewhere",
        gridwall_spatial::DEFAULT_RESOLUTION,
    )
    .await
    .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.hierarchy.version() != Some(report.version) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new version was never swapped in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, v) = common::get_json(&app, "/api/locate?lng=120.15&lat=32.15").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["hierarchy_version"].as_i64(), Some(report.version));
}

/// Posts `features` and returns the problems of the refusal, which must come from reading the
/// file (before PostGIS).
async fn problems_of(app: &axum::Router, features: Vec<Value>) -> Vec<Value> {
    let (status, body) = post_hierarchy(app, collection(features).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, _, details) = error_parts(&body);
    assert_eq!(code, "invalid_hierarchy");
    details["problems"].as_array().unwrap().clone()
}

/// Index of [`GRID`] in [`features`].
const GRID_INDEX: usize = 3;

/// Breaks a feature in one way.
type Break = fn(&mut Value);

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn names_each_feature_fault_exactly(pool: PgPool) {
    let (app, _) = common::app(pool.clone()).await;
    let far = 1e300_f64;
    let cases: Vec<(Break, Value, String)> = vec![
        (
            |f| {
                f["geometry"] = json!({"type": "GeometryCollection", "geometries": [
                    {"type": "Polygon", "coordinates": rect(120.0, 32.0, 120.03, 32.1)}
                ]});
            },
            json!(GRID),
            "geometry type GeometryCollection is not allowed (only Polygon or MultiPolygon)".into(),
        ),
        (
            |f| f["geometry"]["type"] = json!("Circle"),
            json!(GRID),
            "geometry type Circle is not allowed (only Polygon or MultiPolygon)".into(),
        ),
        (
            |f| {
                f["geometry"]["coordinates"] =
                    json!([[[120.0, 32.0], [120.03, 32.0], [120.03, 32.1], [120.0, 32.1]]]);
            },
            json!(GRID),
            "ring 0: ring is not closed (first and last positions differ)".into(),
        ),
        (
            |f| {
                f["geometry"]["coordinates"] =
                    json!([[[120.0, 32.0], [120.03, 32.0], [120.0, 32.0]]]);
            },
            json!(GRID),
            "ring 0: a ring needs at least 4 positions, has 3".into(),
        ),
        (
            |f| f["geometry"]["coordinates"][0][1] = json!([1e300, 32.0]),
            json!(GRID),
            format!("ring 0, position 1: longitude {far} is outside [-180, 180]"),
        ),
        (
            |f| f["geometry"]["coordinates"][0][1] = json!([120.03]),
            json!(GRID),
            "ring 0, position 1: a position needs [lng, lat]".into(),
        ),
        (
            |f| f["geometry"]["coordinates"][0][1] = json!([120.03, null]),
            json!(GRID),
            "ring 0, position 1: latitude is not a number: null".into(),
        ),
        // Two faults in one ring: the first in file order is named, whether `geojson` reads
        // the feature (out of range) or refuses it (a string).
        (
            |f| {
                f["geometry"]["coordinates"][0][1] = json!([120.03, 95.0]);
                f["geometry"]["coordinates"][0][2] = json!([120.03, "32.1"]);
            },
            json!(GRID),
            "ring 0, position 1: latitude 95 is outside [-90, 90]".into(),
        ),
        (
            |f| {
                f["geometry"] = json!({"type": "MultiPolygon", "coordinates": [
                    rect(120.0, 32.0, 120.03, 32.05),
                    [[[120.0, 32.05], ["120.03", 32.05], [120.03, 32.1], [120.0, 32.05]]]
                ]});
            },
            json!(GRID),
            "polygon 1, ring 0, position 1: longitude is not a number: \"120.03\"".into(),
        ),
        (
            |f| f["geometry"] = Value::Null,
            json!(GRID),
            "the feature has no geometry".into(),
        ),
        (
            |f| f["type"] = json!("feature"),
            json!(GRID),
            "not a GeoJSON Feature (\"type\": \"Feature\")".into(),
        ),
        (
            |f| f["properties"] = json!([GRID]),
            Value::Null,
            "the feature has no \"properties\" object".into(),
        ),
        // A property fault is named before a geometry fault, as it always was.
        (
            |f| {
                f["properties"]["name"] = json!(" ");
                f["geometry"]["coordinates"][0][1] = json!(["x", 32.0]);
            },
            json!(GRID),
            "property \"name\" is missing or empty".into(),
        ),
    ];
    for (break_it, code, reason) in cases {
        let problems = problems_of(&app, replace(features(), GRID, break_it)).await;
        assert_eq!(
            problems,
            vec![json!({"index": GRID_INDEX, "code": code, "reason": reason})]
        );
    }
    assert_eq!(stored_version(&pool).await, None);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn accepts_ids_bounding_boxes_and_foreign_members(pool: PgPool) {
    let (app, _) = common::app(pool.clone()).await;
    let fs: Vec<Value> = features()
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            f["id"] = if i % 2 == 0 {
                json!(i)
            } else {
                f["properties"]["code"].clone()
            };
            f["bbox"] = json!([120.0, 32.0, 120.2, 32.2]);
            f["source"] = json!({"survey": 2024});
            f["geometry"]["source"] = json!("hand-drawn");
            // Whole numbers where they are exact.
            if i == 0 {
                f["geometry"]["coordinates"] = json!([[
                    [120, 32],
                    [120.2, 32],
                    [120.2, 32.2],
                    [120, 32.2],
                    [120, 32]
                ]]);
            }
            f
        })
        .collect();
    let mut doc = collection(fs);
    doc["bbox"] = json!([120.0, 32.0, 120.2, 32.2]);
    doc["name"] = json!("测试区");
    let (status, report) = post_hierarchy(&app, doc.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["counts"], json!([0, 1, 2, 4, 12]));
    assert_eq!(report["warnings"], json!([]));
}
