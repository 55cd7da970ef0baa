//! Workers and vehicles are served by one implementation over the kind; these pin what each
//! kind still answers on its own: its JSON (a worker's grid without a level, a vehicle's home
//! unit with one), its error codes, that a resource of the other kind is not found under the
//! wrong route, and the one unit reference of the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeSet;

use axum::Router;
use axum::http::StatusCode;
use common::{TOKEN, collection, error_parts, features, json_as, post_hierarchy};
use serde_json::{Value, json};
use sqlx::PgPool;

const GRID: &str = "320999001001001";

async fn loaded(pool: PgPool) -> Router {
    let (app, _) = common::app(pool).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    app
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    json_as(app, method, uri, Some(TOKEN), body).await
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn each_kind_answers_its_own_json(pool: PgPool) {
    let app = loaded(pool).await;

    let (status, worker) = call(
        &app,
        "POST",
        "/api/workers",
        Some(json!({"name": "网格员甲", "phone": "13800000001", "grid": GRID})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    assert_eq!(
        keys(&worker),
        set(&[
            "id",
            "name",
            "phone",
            "grid",
            "username",
            "skills",
            "on_duty",
            "crs",
            "active_devices",
            "disabled",
            "created_at",
            "updated_at"
        ]),
        "{worker}"
    );
    assert_eq!(keys(&worker["grid"]), set(&["code", "name"]), "{worker}");
    assert_eq!(worker["grid"]["code"], GRID);
    let worker_id = worker["id"].as_i64().unwrap();

    let (status, vehicle) = call(
        &app,
        "POST",
        "/api/vehicles",
        Some(
            json!({"name": "巡逻一号", "plate": "苏F 00001", "vehicle_kind": "patrol",
                    "unit": "320999001"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{vehicle}");
    assert_eq!(
        keys(&vehicle["unit"]),
        set(&["code", "name", "level"]),
        "{vehicle}"
    );
    assert_eq!(vehicle["unit"]["level"], 2);
    assert!(vehicle.get("grid").is_none() && vehicle.get("phone").is_none());
    let vehicle_id = vehicle["id"].as_i64().unwrap();

    // Read back, listed, changed: the same shapes.
    let (status, v) = call(&app, "GET", &format!("/api/workers/{worker_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, worker);
    let (status, v) = call(&app, "GET", &format!("/api/vehicles/{vehicle_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, vehicle);
    let (status, v) = call(&app, "GET", "/api/workers", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({ "workers": [worker] }));
    let (status, v) = call(&app, "GET", "/api/vehicles", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({ "vehicles": [vehicle], "total": 1 }));
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("/api/workers/{worker_id}"),
        Some(json!({"on_duty": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(keys(&v), keys(&worker));
    assert_eq!(v["on_duty"], true);

    // A resource is found only under its own kind's routes, each with its own error code.
    for (uri, code) in [
        (format!("/api/workers/{vehicle_id}"), "worker_not_found"),
        (format!("/api/vehicles/{worker_id}"), "vehicle_not_found"),
        (
            format!("/api/workers/{vehicle_id}/devices"),
            "worker_not_found",
        ),
        (
            format!("/api/vehicles/{worker_id}/devices"),
            "vehicle_not_found",
        ),
    ] {
        let (status, v) = call(&app, "GET", &uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {v}");
        assert_eq!(error_parts(&v).0, code, "{uri}: {v}");
    }
    let (status, v) = call(
        &app,
        "PATCH",
        &format!("/api/vehicles/{worker_id}"),
        Some(json!({"on_duty": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(error_parts(&v).0, "vehicle_not_found", "{v}");
}

fn parameter_names<'a>(doc: &'a Value, path: &str) -> BTreeSet<&'a str> {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("no parameters of {path}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_openapi_document_names_units_one_way(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    let (status, doc) = call(&app, "GET", "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("UnitBrief").is_none());
    let unit_ref = &schemas["UnitRef"];
    assert_eq!(
        keys(&unit_ref["properties"]),
        set(&["code", "name", "level"])
    );
    assert_eq!(unit_ref["required"], json!(["code", "name"]));
    for (schema, field) in [
        ("WorkerView", "grid"),
        ("VehicleView", "unit"),
        ("CaseView", "grid"),
        ("Located", "county"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"], "#/components/schemas/UnitRef",
            "{schema}.{field}"
        );
    }
    let list = [
        "unit",
        "q",
        "on_duty",
        "include_disabled",
        "limit",
        "offset",
    ];
    assert_eq!(parameter_names(&doc, "/api/vehicles"), set(&list));
    let mut with_format = set(&list);
    with_format.insert("format");
    assert_eq!(parameter_names(&doc, "/api/workers"), with_format);
}
