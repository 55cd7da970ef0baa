//! Vehicles (车辆) and the credentials of devices, against real PostGIS: CRUD with its
//! validation and plate uniqueness, territorial scope between two townships, the live
//! directory following every change, and devices' tokens and OsmAnd identifiers — shown once,
//! never listed, stored only as SHA-256, replaced by rotation and ended by revocation.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeSet;

use axum::Router;
use axum::http::StatusCode;
use common::{
    TOKEN, collection, error_parts, features, json_as, post_hierarchy, user_with_session,
};
use gridwall_server::AppState;
use gridwall_server::auth::hash_ident;
use gridwall_server::db::resources::{IdentDevice, device_by_ident};
use gridwall_server::ingest::Crs;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The fixture county 320999 imported; the tokens of the people looking at it.
struct World {
    app: Router,
    state: AppState,
    pool: PgPool,
    /// Dispatcher of township 320999001.
    d1: String,
    /// Dispatcher of township 320999002.
    d2: String,
    /// Leader of the county (reads, does not manage).
    leader: String,
}

async fn world(pool: PgPool) -> World {
    let (app, state) = common::app(pool.clone()).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    World {
        d1: user_with_session(&pool, "disp1", "dispatcher", Some("320999001")).await,
        d2: user_with_session(&pool, "disp2", "dispatcher", Some("320999002")).await,
        leader: user_with_session(&pool, "leader", "leader", Some("320999")).await,
        app,
        state,
        pool,
    }
}

impl World {
    async fn call(
        &self,
        token: &str,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        json_as(&self.app, method, uri, Some(token), body).await
    }

    /// Creates a vehicle as the admin; returns its view.
    async fn vehicle(&self, name: &str, plate: &str, unit: &str) -> Value {
        let (status, v) = self
            .call(
                TOKEN,
                "POST",
                "/api/vehicles",
                Some(json!({"name": name, "plate": plate, "vehicle_kind": "patrol", "unit": unit})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v["vehicles"]
        .as_array()
        .unwrap_or_else(|| panic!("no vehicles in {v}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Asserts a 422 with `code` naming `field`.
fn unprocessable(status: StatusCode, v: &Value, code: &str, field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(v).0, code, "{v}");
    assert_eq!(v["error"]["details"]["field"], field, "{v}");
}

fn not_found(status: StatusCode, v: &Value, code: &str, what: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {v}");
    assert_eq!(error_parts(v).0, code, "{what}: {v}");
}

async fn audit_count(pool: &PgPool, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn vehicles_are_created_read_listed_and_changed(pool: PgPool) {
    let w = world(pool).await;

    // Create: the plate is normalised, the view has exactly these fields.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "巡逻一号", "plate": "苏f·12345", "vehicle_kind": "patrol",
                        "unit": "320999001", "on_duty": true, "crs": "gcj02"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        keys(&v),
        BTreeSet::from([
            "id",
            "name",
            "plate",
            "vehicle_kind",
            "unit",
            "on_duty",
            "crs",
            "active_devices",
            "disabled_at",
            "created_at",
            "updated_at"
        ])
    );
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["name"], "巡逻一号");
    assert_eq!(v["plate"], "苏F12345");
    assert_eq!(v["vehicle_kind"], "patrol");
    assert_eq!(
        v["unit"],
        json!({"code": "320999001", "name": "测试1镇", "level": 2})
    );
    assert_eq!(v["on_duty"], true);
    assert_eq!(v["crs"], "gcj02");
    assert_eq!(v["active_devices"], 0);
    assert!(v["disabled_at"].is_null(), "{v}");

    // The live directory knows it at once.
    let info = w.state.live.info(id).expect("in the live directory");
    assert_eq!(info.plate.as_deref(), Some("苏F12345"));
    assert_eq!(info.crs, Crs::Gcj02);
    assert!(info.on_duty && !info.disabled);

    // Read by id: the same view.
    let (status, got) = w
        .call(TOKEN, "GET", &format!("/api/vehicles/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, v);

    // Defaults: off duty, WGS84; a village or the county are homes too.
    let van = w.vehicle("面包车", "苏F A0001", "320999001001").await;
    assert_eq!(van["on_duty"], false);
    assert_eq!(van["crs"], "wgs84");
    assert_eq!(van["unit"]["level"], 3);
    let county_car = w.vehicle("区局一号", "苏F00001", "320999").await;
    assert_eq!(county_car["unit"]["level"], 1);
    let van_id = van["id"].as_i64().unwrap();
    let county_id = county_car["id"].as_i64().unwrap();

    // Lists: ordered by home unit code, then name; total counts every page.
    let (status, l) = w.call(TOKEN, "GET", "/api/vehicles", None).await;
    assert_eq!(status, StatusCode::OK, "{l}");
    assert_eq!(keys(&l), BTreeSet::from(["vehicles", "total"]));
    assert_eq!(ids(&l), [county_id, id, van_id]);
    assert_eq!(l["total"], 3);
    let (_, l) = w
        .call(TOKEN, "GET", "/api/vehicles?limit=1&offset=1", None)
        .await;
    assert_eq!(ids(&l), [id]);
    assert_eq!(l["total"], 3);
    let cases: [(&str, Vec<i64>); 6] = [
        ("?on_duty=true", vec![id]),
        ("?on_duty=false", vec![county_id, van_id]),
        ("?unit=320999001", vec![id, van_id]),
        ("?unit=320999002", vec![]),
        // A plate as people write it finds the stored spelling.
        ("?q=fa%C2%B70001", vec![van_id]),
        ("?q=%E5%B7%A1%E9%80%BB", vec![id]),
    ];
    for (query, want) in cases {
        let (status, l) = w
            .call(TOKEN, "GET", &format!("/api/vehicles{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {l}");
        assert_eq!(ids(&l), want, "{query}");
        assert_eq!(l["total"], json!(want.len()), "{query}");
    }
    let (status, l) = w
        .call(TOKEN, "GET", "/api/vehicles?on_duty=maybe", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{l}");

    // Change every field.
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/vehicles/{id}"),
            Some(
                json!({"name": "巡逻二号", "plate": "苏F-54321", "vehicle_kind": "van",
                        "unit": "320999002", "on_duty": false, "crs": "wgs84"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["name"], "巡逻二号");
    assert_eq!(v["plate"], "苏F54321");
    assert_eq!(v["vehicle_kind"], "van");
    assert_eq!(v["unit"]["code"], "320999002");
    assert_eq!(v["on_duty"], false);
    assert_eq!(v["crs"], "wgs84");
    let info = w.state.live.info(id).unwrap();
    assert_eq!(
        (info.crs, info.on_duty, &*info.unit_code),
        (Crs::Wgs84, false, "320999002")
    );
    assert_eq!(info.plate.as_deref(), Some("苏F54321"));

    // Disable: gone from the default list, kept with include_disabled, known to the directory.
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/vehicles/{id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["disabled_at"].is_string(), "{v}");
    assert!(w.state.live.info(id).unwrap().disabled);
    let (_, l) = w.call(TOKEN, "GET", "/api/vehicles", None).await;
    assert_eq!(ids(&l), [county_id, van_id]);
    let (_, l) = w
        .call(TOKEN, "GET", "/api/vehicles?include_disabled=true", None)
        .await;
    assert_eq!(l["total"], 3);
    // A disabled vehicle gets no device.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            &format!("/api/vehicles/{id}/devices"),
            Some(json!({"label": "车载终端"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "vehicle_disabled");
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/vehicles/{id}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["disabled_at"].is_null(), "{v}");
    assert!(!w.state.live.info(id).unwrap().disabled);

    // Audited: three creations, three changes.
    assert_eq!(audit_count(&w.pool, "vehicle.create").await, 3);
    assert_eq!(audit_count(&w.pool, "vehicle.update").await, 3);

    // A worker is not a vehicle, and a vehicle is not a worker.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/workers",
            Some(json!({"name": "网格员", "grid": "320999001001001"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let worker = v["id"].as_i64().unwrap();
    let (status, v) = w
        .call(TOKEN, "GET", &format!("/api/vehicles/{worker}"), None)
        .await;
    not_found(status, &v, "vehicle_not_found", "a worker as a vehicle");
    let (status, v) = w
        .call(TOKEN, "GET", &format!("/api/workers/{id}"), None)
        .await;
    not_found(status, &v, "worker_not_found", "a vehicle as a worker");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn bad_vehicles_are_refused_naming_the_field(pool: PgPool) {
    let w = world(pool).await;
    let taken = w.vehicle("巡逻一号", "苏F12345", "320999001").await;
    let other = w.vehicle("巡逻二号", "苏F22222", "320999001").await;
    let base = json!({"name": "新车", "plate": "苏F99999", "vehicle_kind": "patrol",
                      "unit": "320999001"});
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };

    // The same plate however it is written: 409.
    for plate in ["苏F12345", "苏f 12345", "苏F·12345"] {
        let (status, v) = w
            .call(
                TOKEN,
                "POST",
                "/api/vehicles",
                Some(with("plate", json!(plate))),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{plate}: {v}");
        assert_eq!(error_parts(&v).0, "plate_taken", "{v}");
        assert_eq!(v["error"]["details"]["field"], "plate", "{v}");
    }
    // Nor by changing another vehicle's plate; its own plate again is fine.
    let other_id = other["id"].as_i64().unwrap();
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/vehicles/{other_id}"),
            Some(json!({"plate": "苏f12345"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "plate_taken");
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/vehicles/{other_id}"),
            Some(json!({"plate": "苏F 22222"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(taken["plate"], "苏F12345");

    // Each bad field: 422 naming it.
    let cases = [
        (with("plate", json!("X")), "invalid_plate", "plate"),
        (with("plate", json!("苏F#1234")), "invalid_plate", "plate"),
        (
            with("plate", json!("A".repeat(21))),
            "invalid_plate",
            "plate",
        ),
        (
            with("vehicle_kind", json!("tank")),
            "invalid_vehicle_kind",
            "vehicle_kind",
        ),
        (with("crs", json!("bd09")), "invalid_crs", "crs"),
        (with("name", json!("  ")), "invalid_name", "name"),
        (with("unit", json!("320998001")), "unknown_unit", "unit"),
    ];
    for (body, code, field) in cases {
        let (status, v) = w
            .call(TOKEN, "POST", "/api/vehicles", Some(body.clone()))
            .await;
        unprocessable(status, &v, code, field);
        let mut patch = body.as_object().unwrap().clone();
        patch.retain(|k, _| k == field);
        let (status, v) = w
            .call(
                TOKEN,
                "PATCH",
                &format!("/api/vehicles/{other_id}"),
                Some(Value::Object(patch)),
            )
            .await;
        unprocessable(status, &v, code, field);
    }
    // Unknown fields and missing ones: 400 in the error shape.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/vehicles",
            Some(with("colour", json!("white"))),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(error_parts(&v).0, "invalid_json");
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/vehicles",
            Some(json!({"name": "新车"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Nothing was created or changed by the refusals.
    let (_, l) = w.call(TOKEN, "GET", "/api/vehicles", None).await;
    assert_eq!(l["total"], 2, "{l}");
    let (_, v) = w
        .call(TOKEN, "GET", &format!("/api/vehicles/{other_id}"), None)
        .await;
    assert_eq!(v["plate"], "苏F22222");
    assert_eq!(v["vehicle_kind"], "patrol");

    // Workers take a datum too.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/workers",
            Some(json!({"name": "网格员", "grid": "320999001001001", "crs": "GCJ-02"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["crs"], "gcj02");
    let worker = v["id"].as_i64().unwrap();
    assert_eq!(w.state.live.info(worker).unwrap().crs, Crs::Gcj02);
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/workers/{worker}"),
            Some(json!({"crs": "mars"})),
        )
        .await;
    unprocessable(status, &v, "invalid_crs", "crs");
    let (status, v) = w
        .call(
            TOKEN,
            "PATCH",
            &format!("/api/workers/{worker}"),
            Some(json!({"crs": "wgs84", "on_duty": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["crs"], "wgs84");
    let info = w.state.live.info(worker).unwrap();
    assert_eq!((info.crs, info.on_duty), (Crs::Wgs84, true));
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_township_dispatcher_sees_and_touches_only_their_townships_vehicles(pool: PgPool) {
    let w = world(pool).await;
    let mine = w.vehicle("一镇巡逻车", "苏F10001", "320999001001").await["id"]
        .as_i64()
        .unwrap();
    let theirs = w.vehicle("二镇巡逻车", "苏F20002", "320999002").await["id"]
        .as_i64()
        .unwrap();
    let county = w.vehicle("区局车", "苏F30003", "320999").await["id"]
        .as_i64()
        .unwrap();
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            &format!("/api/vehicles/{theirs}/devices"),
            Some(json!({"label": "终端"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let their_device = v["device"]["id"].as_i64().unwrap();

    // Lists: each dispatcher their township only (not the county's car); the leader all.
    let (_, l) = w.call(&w.d1, "GET", "/api/vehicles", None).await;
    assert_eq!((ids(&l), l["total"].clone()), (vec![mine], json!(1)));
    let (_, l) = w.call(&w.d2, "GET", "/api/vehicles", None).await;
    assert_eq!(ids(&l), [theirs]);
    let (_, l) = w.call(&w.leader, "GET", "/api/vehicles", None).await;
    assert_eq!(ids(&l), [county, mine, theirs]);
    let (_, l) = w
        .call(&w.d1, "GET", "/api/vehicles?unit=320999002", None)
        .await;
    assert_eq!(ids(&l), Vec::<i64>::new());
    let (_, l) = w
        .call(&w.d1, "GET", "/api/vehicles?q=%E8%8B%8FF", None)
        .await;
    assert_eq!(ids(&l), [mine], "search stays in the territory");

    // By id, every write, and the other township's devices: 404 as for nothing at all.
    let unknown = county + 1000;
    for id in [theirs, county, unknown] {
        let requests = [
            ("GET", format!("/api/vehicles/{id}"), None),
            (
                "PATCH",
                format!("/api/vehicles/{id}"),
                Some(json!({"on_duty": true})),
            ),
            ("GET", format!("/api/vehicles/{id}/devices"), None),
            (
                "POST",
                format!("/api/vehicles/{id}/devices"),
                Some(json!({"label": "手机"})),
            ),
        ];
        for (method, uri, body) in requests {
            let (status, v) = w.call(&w.d1, method, &uri, body).await;
            not_found(status, &v, "vehicle_not_found", &format!("{method} {uri}"));
        }
    }
    for (method, uri) in [
        ("POST", format!("/api/devices/{their_device}/rotate")),
        ("DELETE", format!("/api/devices/{their_device}")),
    ] {
        let (status, v) = w.call(&w.d1, method, &uri, None).await;
        not_found(status, &v, "device_not_found", &format!("{method} {uri}"));
    }
    let (_, v) = w
        .call(TOKEN, "GET", &format!("/api/vehicles/{theirs}"), None)
        .await;
    assert_eq!(
        (v["on_duty"].clone(), v["active_devices"].clone()),
        (json!(false), json!(1)),
        "nothing changed behind the 404s: {v}"
    );
    let (_, v) = w
        .call(
            TOKEN,
            "GET",
            &format!("/api/vehicles/{theirs}/devices"),
            None,
        )
        .await;
    assert!(v["devices"][0]["revoked_at"].is_null(), "{v}");

    // Creating into the other township or the county above, or moving there: unknown unit.
    for unit in ["320999002", "320999002001", "320999"] {
        let (status, v) = w
            .call(
                &w.d1,
                "POST",
                "/api/vehicles",
                Some(
                    json!({"name": "越界", "plate": "苏F40004", "vehicle_kind": "van",
                            "unit": unit}),
                ),
            )
            .await;
        unprocessable(status, &v, "unknown_unit", "unit");
        let (status, v) = w
            .call(
                &w.d1,
                "PATCH",
                &format!("/api/vehicles/{mine}"),
                Some(json!({"unit": unit})),
            )
            .await;
        unprocessable(status, &v, "unknown_unit", "unit");
    }

    // The same requests on the dispatcher's own vehicle work (so the refusals are the scope).
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "一镇新车", "plate": "苏F40004", "vehicle_kind": "ebike",
                        "unit": "320999001"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = w
        .call(
            &w.d1,
            "PATCH",
            &format!("/api/vehicles/{mine}"),
            Some(json!({"unit": "320999001002", "on_duty": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["unit"]["code"], "320999001002");
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/vehicles/{mine}/devices"),
            Some(json!({"label": "手机"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    // A plate held beyond the dispatcher's territory is not revealed by a refusal: plates
    // are unique within what the caller can see (see a_plate_in_another_territory_is_not_revealed).
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "重牌", "plate": "苏F20002", "vehicle_kind": "van",
                        "unit": "320999001"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    // A leader reads but does not manage.
    let (status, _) = w
        .call(&w.leader, "GET", &format!("/api/vehicles/{mine}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for (method, uri, body) in [
        (
            "POST",
            "/api/vehicles".to_owned(),
            Some(
                json!({"name": "车", "plate": "苏F50005", "vehicle_kind": "van",
                        "unit": "320999001"}),
            ),
        ),
        (
            "PATCH",
            format!("/api/vehicles/{mine}"),
            Some(json!({"on_duty": false})),
        ),
        ("GET", format!("/api/vehicles/{mine}/devices"), None),
        ("POST", format!("/api/devices/{their_device}/rotate"), None),
    ] {
        let (status, v) = w.call(&w.leader, method, &uri, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {v}");
    }
}

/// Every table row, as text, that contains `needle`.
async fn rows_containing(pool: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_name) FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() > 5, "{tables:?}");
    let mut found = Vec::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT x::text FROM {t} x WHERE strpos(lower(x::text), lower($1)) > 0"
        ))
        .bind(needle)
        .fetch_all(pool)
        .await
        .unwrap();
        found.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
    }
    found
}

async fn whoami(w: &World, token: &str) -> (StatusCode, Value) {
    w.call(token, "GET", "/api/device", None).await
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn device_credentials_are_shown_once_stored_hashed_rotated_and_revoked(pool: PgPool) {
    let w = world(pool).await;
    let vehicle = w.vehicle("巡逻一号", "苏F12345", "320999001").await["id"]
        .as_i64()
        .unwrap();

    // Issuance: the device, a token and an OsmAnd identifier.
    let (status, issued) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/vehicles/{vehicle}/devices"),
            Some(json!({"label": "车载手机"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(keys(&issued), BTreeSet::from(["device", "token", "ident"]));
    let device = issued["device"]["id"].as_i64().unwrap();
    assert_eq!(issued["device"]["resource_id"], vehicle);
    assert_eq!(issued["device"]["label"], "车载手机");
    let token = issued["token"].as_str().unwrap().to_owned();
    let ident = issued["ident"].as_str().unwrap().to_owned();
    assert!(token.starts_with("gwd_"), "{token}");
    assert_eq!(ident.len(), 26, "{ident}");
    assert!(
        ident
            .bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)),
        "{ident}"
    );
    let (status, v) = whoami(&w, &token).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["resource_id"].clone(), v["resource_kind"].clone()),
        (json!(vehicle), json!("vehicle"))
    );
    assert_eq!(audit_count(&w.pool, "device.issue").await, 1);

    // Workers' devices get an identifier too, each its own.
    let (_, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/workers",
            Some(json!({"name": "网格员", "grid": "320999001001001"})),
        )
        .await;
    let worker = v["id"].as_i64().unwrap();
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/workers/{worker}/devices"),
            Some(json!({"label": "手机"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let worker_ident = v["ident"].as_str().unwrap().to_owned();
    assert_eq!(worker_ident.len(), 26);
    assert_ne!(worker_ident, ident);

    // Never listed again, and never stored in clear: not in any row of any table.
    let (status, list) = w
        .call(
            &w.d1,
            "GET",
            &format!("/api/vehicles/{vehicle}/devices"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        keys(&list["devices"][0]),
        BTreeSet::from([
            "id",
            "resource_id",
            "label",
            "created_at",
            "last_used_at",
            "revoked_at"
        ])
    );
    let text = list.to_string();
    assert!(!text.contains(&token) && !text.contains(&ident), "{text}");
    for secret in [&token, &ident, &worker_ident] {
        assert_eq!(rows_containing(&w.pool, secret).await, Vec::<String>::new());
    }
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ident_hash FROM devices WHERE id = $1")
        .bind(device)
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(stored, hash_ident(&ident));

    // The OsmAnd lookup finds the device by its identifier, however it is typed.
    let live = IdentDevice {
        device_id: device,
        resource_id: vehicle,
        revoked: false,
    };
    let lookup = |ident: String| {
        let pool = w.pool.clone();
        async move { device_by_ident(&pool, &hash_ident(&ident)).await.unwrap() }
    };
    assert_eq!(lookup(ident.clone()).await, Some(live));
    assert_eq!(
        lookup(format!(" {} ", ident.to_uppercase())).await,
        Some(live)
    );
    assert_eq!(lookup("abcdefghijklmnopqrstuvwxyz".into()).await, None);

    // A disabled vehicle's identifier reads as revoked, and comes back when enabled.
    for disabled in [true, false] {
        let (status, v) = w
            .call(
                &w.d1,
                "PATCH",
                &format!("/api/vehicles/{vehicle}"),
                Some(json!({"disabled": disabled})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            lookup(ident.clone()).await.map(|d| d.revoked),
            Some(disabled)
        );
    }

    // Rotation: new token and identifier at once; the old ones stop working.
    let (status, rotated) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/devices/{device}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(keys(&rotated), BTreeSet::from(["device", "token", "ident"]));
    assert_eq!(rotated["device"]["id"], device);
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    let new_ident = rotated["ident"].as_str().unwrap().to_owned();
    assert!(new_token.starts_with("gwd_") && new_token != token);
    assert!(new_ident.len() == 26 && new_ident != ident);
    let (status, v) = whoami(&w, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old token: {v}");
    let (status, v) = whoami(&w, &new_token).await;
    assert_eq!(status, StatusCode::OK, "the new token: {v}");
    assert_eq!(v["device_id"], device);
    assert_eq!(lookup(ident.clone()).await, None, "the old identifier");
    assert_eq!(lookup(new_ident.clone()).await, Some(live));
    assert_eq!(audit_count(&w.pool, "device.rotate").await, 1);
    for secret in [&new_token, &new_ident] {
        assert_eq!(rows_containing(&w.pool, secret).await, Vec::<String>::new());
    }
    let (_, v) = w
        .call(TOKEN, "GET", &format!("/api/vehicles/{vehicle}"), None)
        .await;
    assert_eq!(v["active_devices"], 1, "rotation replaces, it does not add");

    // Revocation ends both; a revoked device cannot be rotated back to life.
    let (status, _) = w
        .call(&w.d1, "DELETE", &format!("/api/devices/{device}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v) = whoami(&w, &new_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(error_parts(&v).0, "device_revoked");
    assert_eq!(
        lookup(new_ident.clone()).await,
        Some(IdentDevice {
            revoked: true,
            ..live
        })
    );
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/devices/{device}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "device_revoked");
    let (status, v) = whoami(&w, &new_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still revoked: {v}");

    // An unknown device: 404.
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            &format!("/api/devices/{}/rotate", device + 1000),
            None,
        )
        .await;
    not_found(status, &v, "device_not_found", "rotate an unknown device");
}

/// No existence oracle through plates: a plate held by a vehicle beyond the caller's
/// territory neither blocks the caller nor is revealed; within what the caller sees it is
/// still one plate, one vehicle.
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_plate_in_another_territory_is_not_revealed(pool: PgPool) {
    let w = world(pool.clone()).await;
    w.vehicle("巡逻一号", "苏F12345", "320999001").await;
    // Township 2's dispatcher registers the same plate: nothing tells them it exists in
    // township 1.
    let (status, v) = w
        .call(
            &w.d2,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "二镇巡逻", "plate": "苏f 12345", "vehicle_kind": "patrol",
                        "unit": "320999002"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let theirs = v["id"].as_i64().unwrap();
    // Within township 1 the plate is still taken…
    let (status, v) = w
        .call(
            &w.d1,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "一镇二号", "plate": "苏F12345", "vehicle_kind": "patrol",
                        "unit": "320999001"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_parts(&v).0, "plate_taken");
    // …and the county-wide administrator, who sees both, cannot add a third.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/vehicles",
            Some(
                json!({"name": "县三号", "plate": "苏F12345", "vehicle_kind": "patrol",
                        "unit": "320999"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Township 2 renaming its plate to another of township 1's: accepted too, alike.
    w.vehicle("巡逻三号", "苏F33333", "320999001").await;
    let (status, v) = w
        .call(
            &w.d2,
            "PATCH",
            &format!("/api/vehicles/{theirs}"),
            Some(json!({"plate": "苏F33333"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}
