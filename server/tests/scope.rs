//! Territorial scope (属地) through every route that shows data, against real PostGIS: a
//! dispatcher of county 320999 never sees county 320998 — not in lists, not by id (404, the
//! same answer as for something that does not exist), not by search, locate, tiles or export;
//! and cannot write into it. A leader with no scope sees both counties, an operator of one
//! township only that township, so every "nothing of 320998" below is shown to be a filter and
//! not an empty database. The last two tests cover ways around the filters: linking another
//! county's worker account, and reading masked phone digits back through the worker search.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::{
    TOKEN, collection, error_parts, features, json_as, post_hierarchy, send_anon, user_with_session,
};
use mvt_reader::Reader;
use mvt_reader::feature::Value as MvtValue;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The county the dispatcher owns and the one beside it.
const MINE: &str = "320999";
const THEIRS: &str = "320998";

/// A copy of a longitude shifted east by 0.2°, rounded to 1e-9° so that the copy's west edge
/// is exactly the original's east edge (120.2) and shared edges stay shared.
fn shifted(lng: f64) -> f64 {
    ((lng + 0.2) * 1e9).round() / 1e9
}

/// County 320998: the fixture county copied 0.2° east ([120.2, 120.4] × [32.0, 32.2]), codes
/// 320999… → 320998…, names 测试… → 测试乙… (so a search for 测试 finds both counties and 乙
/// only this one).
fn second_county() -> Vec<Value> {
    features()
        .into_iter()
        .map(|mut f| {
            let props = &mut f["properties"];
            for key in ["code", "parent"] {
                if let Some(code) = props[key].as_str() {
                    props[key] = json!(code.replacen(MINE, THEIRS, 1));
                }
            }
            let name = props["name"]
                .as_str()
                .unwrap()
                .replacen("测试", "测试乙", 1);
            props["name"] = json!(name);
            for ring in f["geometry"]["coordinates"].as_array_mut().unwrap() {
                for pos in ring.as_array_mut().unwrap() {
                    let lng = pos[0].as_f64().unwrap();
                    pos[0] = json!(shifted(lng));
                }
            }
            f
        })
        .collect()
}

/// Both counties imported; the tokens of the people looking at them.
struct World {
    app: Router,
    pool: PgPool,
    /// Dispatcher of 320999.
    disp: String,
    /// Leader with no scope: everything.
    leader: String,
    /// Operator of township 320999001.
    op: String,
}

async fn world(pool: PgPool) -> World {
    let (app, _) = common::app(pool.clone()).await;
    let mut all = features();
    all.extend(second_county());
    let (status, v) = post_hierarchy(&app, collection(all).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Per level: city, county, township, village, grid.
    assert_eq!(v["counts"], json!([0, 2, 4, 8, 24]), "{v}");
    World {
        disp: user_with_session(&pool, "disp999", "dispatcher", Some(MINE)).await,
        leader: user_with_session(&pool, "leader", "leader", None).await,
        op: user_with_session(&pool, "op999001", "operator", Some("320999001")).await,
        app,
        pool,
    }
}

impl World {
    async fn get(&self, token: &str, uri: &str) -> (StatusCode, Value) {
        json_as(&self.app, "GET", uri, Some(token), None).await
    }

    async fn get_raw(&self, token: &str, uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        send_anon(&self.app, req).await
    }

    async fn call(&self, token: &str, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        json_as(&self.app, method, uri, Some(token), Some(body)).await
    }
}

/// The `code` property of every feature of a FeatureCollection, in order.
fn codes(fc: &Value) -> Vec<String> {
    assert_eq!(fc["type"], "FeatureCollection", "{fc}");
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap().to_owned())
        .collect()
}

fn under<'a>(codes: impl IntoIterator<Item = &'a String>, root: &str) -> usize {
    codes.into_iter().filter(|c| c.starts_with(root)).count()
}

/// Asserts a 404 with the error code `code`; `what` names the request in failures.
fn not_found(status: StatusCode, v: &Value, code: &str, what: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {v}");
    assert_eq!(error_parts(v).0, code, "{what}: {v}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn unit_lists_show_only_the_territory(pool: PgPool) {
    let w = world(pool).await;
    // (query, the dispatcher's count, the leader's count)
    let cases = [
        ("/api/units", 19, 38),
        ("/api/units?level=county", 1, 2),
        ("/api/units?level=township", 2, 4),
        ("/api/units?level=village", 4, 8),
        ("/api/units?level=grid", 12, 24),
        ("/api/units?parent=320998", 0, 2),
        ("/api/units?parent=320998001001", 0, 3),
        ("/api/units?level=grid&parent=320998002001", 0, 3),
        ("/api/units?parent=320999", 2, 2),
        ("/api/units?simplify=50", 19, 38),
        ("/api/units?level=grid&simplify=50", 12, 24),
    ];
    for (uri, mine, everything) in cases {
        let (status, v) = w.get(&w.disp, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        let disp = codes(&v);
        assert_eq!(under(&disp, THEIRS), 0, "{uri}: dispatcher sees {disp:?}");
        assert_eq!(disp.len(), mine, "{uri}: {disp:?}");

        let (status, v) = w.get(&w.leader, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        let all = codes(&v);
        assert_eq!(all.len(), everything, "{uri}: {all:?}");
        // Exactly the 320999 part of everything, not merely "some of it".
        let all_mine: Vec<String> = all.into_iter().filter(|c| c.starts_with(MINE)).collect();
        assert_eq!(disp, all_mine, "{uri}");
    }

    // Both counties, for the leader, in the unfiltered list.
    let (_, v) = w.get(&w.leader, "/api/units").await;
    let all = codes(&v);
    assert_eq!((under(&all, MINE), under(&all, THEIRS)), (19, 19));

    // A township operator: the township, its 2 villages and 6 grids.
    let (_, v) = w.get(&w.op, "/api/units").await;
    let op = codes(&v);
    assert_eq!(op.len(), 9, "{op:?}");
    assert_eq!(under(&op, "320999001"), 9, "{op:?}");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn units_of_another_county_answer_like_units_that_do_not_exist(pool: PgPool) {
    let w = world(pool).await;
    for hidden in ["320998", "320998001", "320998001002", "320998002002003"] {
        // The same code with a county that does not exist: the body must be the same but for
        // the code itself, so nothing tells the two apart.
        let unknown = hidden.replacen(THEIRS, "320997", 1);
        let (status, v_hidden) = w.get(&w.disp, &format!("/api/units/{hidden}")).await;
        not_found(status, &v_hidden, "unit_not_found", hidden);
        let (status, v_unknown) = w.get(&w.disp, &format!("/api/units/{unknown}")).await;
        not_found(status, &v_unknown, "unit_not_found", &unknown);
        assert_eq!(
            v_hidden.to_string().replace(hidden, &unknown),
            v_unknown.to_string(),
            "{hidden} is told apart from a code that does not exist"
        );

        // It is there for the leader.
        let (status, v) = w.get(&w.leader, &format!("/api/units/{hidden}")).await;
        assert_eq!(status, StatusCode::OK, "{hidden}: {v}");
        assert_eq!(v["properties"]["code"], hidden);
    }
    for own in ["320999", "320999002", "320999002002003"] {
        let (status, v) = w.get(&w.disp, &format!("/api/units/{own}")).await;
        assert_eq!(status, StatusCode::OK, "{own}: {v}");
        assert_eq!(v["properties"]["code"], own);
    }
    // The county's child count is its own townships, and the operator of one township cannot
    // open the other one or the county.
    let (_, v) = w.get(&w.disp, "/api/units/320999").await;
    assert_eq!(v["properties"]["child_count"], 2);
    for other in ["320999", "320999002", "320999002001001", "320998001"] {
        let (status, v) = w.get(&w.op, &format!("/api/units/{other}")).await;
        not_found(status, &v, "unit_not_found", other);
    }
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn search_finds_only_the_territory(pool: PgPool) {
    let w = world(pool).await;
    // (q, the dispatcher's hits, the leader's hits); limit 100 so nothing is cut.
    let cases = [
        ("测试", 19, 38),
        ("乙", 0, 19),
        ("测试乙1镇", 0, 1),
        ("320998", 0, 19),
        ("3209", 19, 38),
        ("320999002", 9, 9),
    ];
    for (q, mine, everything) in cases {
        let uri = format!("/api/units/search?q={}&limit=100", urlencode(q));
        let (status, v) = w.get(&w.disp, &uri).await;
        assert_eq!(status, StatusCode::OK, "{q}: {v}");
        let hits: Vec<String> = v["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(under(&hits, THEIRS), 0, "{q}: dispatcher finds {hits:?}");
        assert_eq!(hits.len(), mine, "{q}: {hits:?}");
        assert_eq!(under(&hits, MINE), mine, "{q}: {hits:?}");

        let (status, v) = w.get(&w.leader, &uri).await;
        assert_eq!(status, StatusCode::OK, "{q}: {v}");
        assert_eq!(v["units"].as_array().unwrap().len(), everything, "{q}: {v}");
    }
}

/// Percent-encodes a query value (UTF-8 bytes outside the unreserved set).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn locate_answers_only_inside_the_territory(pool: PgPool) {
    let w = world(pool).await;
    let sea = (122.5, 31.5);
    // (lng, lat, the grid the leader gets, whether the dispatcher gets it too)
    let cases = [
        (120.05, 32.05, Some("320999001001002"), true),
        (120.15, 32.15, Some("320999002002002"), true),
        (120.25, 32.05, Some("320998001001002"), false),
        (120.35, 32.15, Some("320998002002002"), false),
        (sea.0, sea.1, None, false),
    ];
    let (status, v_sea) = w
        .get(&w.disp, &format!("/api/locate?lng={}&lat={}", sea.0, sea.1))
        .await;
    not_found(status, &v_sea, "outside_hierarchy", "the sea");
    for (lng, lat, grid, dispatcher_sees) in cases {
        let uri = format!("/api/locate?lng={lng}&lat={lat}");
        let (status, v) = w.get(&w.leader, &uri).await;
        match grid {
            Some(g) => {
                assert_eq!(status, StatusCode::OK, "leader {uri}: {v}");
                assert_eq!(v["grid"]["code"], g, "leader {uri}: {v}");
            }
            None => not_found(status, &v, "outside_hierarchy", &uri),
        }
        let (status, v) = w.get(&w.disp, &uri).await;
        if dispatcher_sees {
            assert_eq!(status, StatusCode::OK, "dispatcher {uri}: {v}");
            assert_eq!(v["grid"]["code"], grid.unwrap(), "dispatcher {uri}: {v}");
            assert_eq!(v["county"]["code"], MINE);
        } else {
            // The same answer as for the sea, but for the coordinates in the message.
            not_found(status, &v, "outside_hierarchy", &uri);
            assert_eq!(v["error"]["details"], v_sea["error"]["details"], "{uri}");
        }
    }

    // The township operator: their township yes, the neighbouring township of the same
    // county no.
    let (status, v) = w.get(&w.op, "/api/locate?lng=120.05&lat=32.05").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["township"]["code"], "320999001");
    let (status, v) = w.get(&w.op, "/api/locate?lng=120.15&lat=32.15").await;
    not_found(status, &v, "outside_hierarchy", "operator in 320999002");
}

/// The XYZ tile containing (lng, lat) at zoom z.
fn tile_of(lng: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lng + 180.0) / 360.0 * n).floor();
    let lat_r = lat.to_radians();
    let y =
        ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "in range"
    )]
    (x as u32, y as u32)
}

/// (west, south, east, north) of an XYZ tile, degrees.
fn tile_bounds(z: u32, x: u32, y: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let lng = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * y / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    let (x, y) = (f64::from(x), f64::from(y));
    [lng(x), lat(y + 1.0), lng(x + 1.0), lat(y)]
}

/// The TileJSON's bounds and tile URL as `token` gets them.
async fn tilejson(w: &World, token: &str) -> (Vec<f64>, String) {
    let (status, v) = w.get(token, "/tiles/units.json").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let b: Vec<f64> = v["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    (b, v["tiles"][0].as_str().unwrap().to_owned())
}

/// Layer name → the codes of its features.
fn decode(bytes: Vec<u8>) -> BTreeMap<String, BTreeSet<String>> {
    let reader = Reader::new(bytes).unwrap();
    let names = reader.get_layer_names().unwrap();
    let mut out = BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let feats = reader.get_features(i).unwrap();
        let codes = feats
            .into_iter()
            .map(|f| match &f.properties.unwrap()["code"] {
                MvtValue::String(s) => s.clone(),
                other => panic!("code is {other:?}"),
            })
            .collect();
        out.insert(name, codes);
    }
    out
}

fn all_codes(layers: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    layers.values().flatten().cloned().collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn tiles_and_tilejson_carry_only_the_territory(pool: PgPool) {
    let w = world(pool).await;

    // TileJSON: the bounds are the territory's, and the URL names the territory.
    let (b_disp, url_disp) = tilejson(&w, &w.disp).await;
    let (b_all, url_all) = tilejson(&w, &w.leader).await;
    let close = |b: &[f64], want: [f64; 4]| b.iter().zip(want).all(|(a, e)| (a - e).abs() < 1e-9);
    assert!(close(&b_disp, [120.0, 32.0, 120.2, 32.2]), "{b_disp:?}");
    assert!(close(&b_all, [120.0, 32.0, 120.4, 32.2]), "{b_all:?}");
    assert_ne!(url_disp, url_all);
    assert!(url_disp.contains("scope=320999"), "{url_disp}");
    assert!(!url_all.contains("scope=320999"), "{url_all}");

    // z10 over the shared edge: all of 320999 and a strip of 320998. The leader asks first,
    // so a tile cache shared across territories would hand the dispatcher the leader's tile.
    let z = 10;
    let (x, y) = tile_of(120.2, 32.1, z);
    let b = tile_bounds(z, x, y);
    assert!(b[0] < 120.0 && b[2] > 120.2 && b[2] < 120.4, "{b:?}");
    let uri = format!("/tiles/units/{z}/{x}/{y}.mvt");
    let (status, _, body) = w.get_raw(&w.leader, &uri).await;
    assert_eq!(status, StatusCode::OK);
    let leader = decode(body);
    assert_eq!(
        leader["county"],
        BTreeSet::from([THEIRS.to_owned(), MINE.to_owned()])
    );
    assert!(leader["township"].contains("320998001"), "{leader:?}");
    let (status, _, body) = w.get_raw(&w.disp, &uri).await;
    assert_eq!(status, StatusCode::OK);
    let disp = decode(body);
    assert_eq!(
        disp.keys().collect::<Vec<_>>(),
        leader.keys().collect::<Vec<_>>(),
        "same layers"
    );
    assert!(
        all_codes(&disp).iter().all(|c| c.starts_with(MINE)),
        "{disp:?}"
    );
    // Everything of 320999 the leader's tile has, the dispatcher's has too.
    for (layer, codes) in &leader {
        let mine: BTreeSet<String> = codes
            .iter()
            .filter(|c| c.starts_with(MINE))
            .cloned()
            .collect();
        assert_eq!(disp[layer], mine, "layer {layer}");
    }

    // z12 wholly inside 320998: nothing for the dispatcher (204), 320998 only for the leader.
    let z = 12;
    let (x, y) = tile_of(120.3, 32.06, z);
    let b = tile_bounds(z, x, y);
    assert!(
        b[0] > 120.21 && b[2] < 120.39 && b[1] > 32.0 && b[3] < 32.2,
        "not inside 320998: {b:?}"
    );
    let uri = format!("/tiles/units/{z}/{x}/{y}.mvt");
    let (status, _, body) = w.get_raw(&w.leader, &uri).await;
    assert_eq!(status, StatusCode::OK);
    let leader = decode(body);
    assert!(leader.contains_key("grid"), "{leader:?}");
    assert!(
        all_codes(&leader).iter().all(|c| c.starts_with(THEIRS)),
        "{leader:?}"
    );
    let (status, _, body) = w.get_raw(&w.disp, &uri).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{:?}", decode(body));
    // z12 over township 320999002 and the edge of 320998: the dispatcher gets the township,
    // its operator neighbour of 320999001 nothing.
    let (x, y) = tile_of(120.15, 32.06, z);
    let b = tile_bounds(z, x, y);
    assert!(b[0] > 120.11 && b[2] > 120.2, "{b:?}");
    let uri = format!("/tiles/units/{z}/{x}/{y}.mvt");
    let (status, _, body) = w.get_raw(&w.leader, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        all_codes(&decode(body))
            .iter()
            .any(|c| c.starts_with(THEIRS))
    );
    let (status, _, body) = w.get_raw(&w.disp, &uri).await;
    assert_eq!(status, StatusCode::OK);
    let disp = all_codes(&decode(body));
    assert!(disp.contains("320999002"), "{disp:?}");
    assert!(disp.iter().all(|c| c.starts_with(MINE)), "{disp:?}");
    let (status, _, body) = w.get_raw(&w.op, &uri).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{:?}", decode(body));
}

/// Creates a worker as the admin; returns its id.
async fn worker(w: &World, name: &str, grid: &str) -> i64 {
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            "/api/workers",
            json!({"name": name, "phone": "13812345678", "grid": grid}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["phone"], "13812345678", "the admin sees phones: {v}");
    v["id"].as_i64().unwrap()
}

fn worker_ids(v: &Value) -> Vec<i64> {
    v["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("no workers in {v}"))
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect()
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn workers_of_another_county_are_invisible_and_untouchable(pool: PgPool) {
    let w = world(pool).await;
    let theirs = worker(&w, "乙区网格员", "320998001001001").await;
    let mine = worker(&w, "甲区网格员", "320999001001001").await;

    // Lists, with the phone as each role may see it.
    let (status, v) = w.get(&w.disp, "/api/workers").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(worker_ids(&v), [mine]);
    assert_eq!(v["workers"][0]["phone"], "13812345678");
    assert_eq!(v["workers"][0]["grid"]["code"], "320999001001001");
    let (_, v) = w.get(&w.leader, "/api/workers").await;
    assert_eq!(
        worker_ids(&v).into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([mine, theirs])
    );
    for wk in v["workers"].as_array().unwrap() {
        assert_eq!(
            wk["phone"], "138****5678",
            "leaders get masked phones: {wk}"
        );
    }
    let (_, v) = w.get(&w.op, "/api/workers").await;
    assert_eq!(worker_ids(&v), [mine]);
    assert_eq!(v["workers"][0]["phone"], "138****5678");

    // Filters by unit: another county's unit filters to nothing, like an unknown one.
    // (query, the dispatcher's ids, the leader's ids)
    let cases: [(String, Vec<i64>, Vec<i64>); 5] = [
        ("?unit=320998".into(), vec![], vec![theirs]),
        ("?unit=320998001001001".into(), vec![], vec![theirs]),
        ("?unit=320997".into(), vec![], vec![]),
        ("?unit=320999".into(), vec![mine], vec![mine]),
        (
            format!("?q={}", urlencode("网格员")),
            vec![mine],
            vec![mine, theirs],
        ),
    ];
    for (query, for_disp, for_leader) in cases {
        let uri = format!("/api/workers{query}");
        let (status, v) = w.get(&w.disp, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {v}");
        assert_eq!(worker_ids(&v), for_disp, "dispatcher {uri}");
        let (_, v) = w.get(&w.leader, &uri).await;
        let mut got = worker_ids(&v);
        got.sort_unstable();
        let mut want = for_leader;
        want.sort_unstable();
        assert_eq!(got, want, "leader {uri}");
    }

    // By id and every write: 404 as for a worker that does not exist.
    let unknown = theirs.max(mine) + 1000;
    for id in [theirs, unknown] {
        let requests = [
            ("GET", format!("/api/workers/{id}"), None),
            (
                "PATCH",
                format!("/api/workers/{id}"),
                Some(json!({"on_duty": true})),
            ),
            ("GET", format!("/api/workers/{id}/devices"), None),
            (
                "POST",
                format!("/api/workers/{id}/devices"),
                Some(json!({"label": "手机"})),
            ),
        ];
        for (method, uri, body) in requests {
            let (status, v) = json_as(&w.app, method, &uri, Some(&w.disp), body).await;
            not_found(status, &v, "worker_not_found", &format!("{method} {uri}"));
            assert_eq!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(&id.to_string(), "ID"),
                "no worker ID in your territory"
            );
        }
    }
    // Nothing was changed or issued behind the 404s.
    let (_, v) = w.get(TOKEN, &format!("/api/workers/{theirs}")).await;
    assert_eq!(v["on_duty"], false, "{v}");
    assert_eq!(v["active_devices"], 0, "{v}");
    let (_, v) = w
        .get(TOKEN, &format!("/api/workers/{theirs}/devices"))
        .await;
    assert_eq!(v["devices"], json!([]), "{v}");

    // The same requests on the dispatcher's own worker work (so the 404s are the scope).
    let (status, v) = w.get(&w.disp, &format!("/api/workers/{mine}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["phone"], "13812345678");
    let (status, v) = w
        .call(
            &w.disp,
            "PATCH",
            &format!("/api/workers/{mine}"),
            json!({"on_duty": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["on_duty"], true);
    let (status, v) = w
        .call(
            &w.disp,
            "POST",
            &format!("/api/workers/{mine}/devices"),
            json!({"label": "手机"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    // A device of the other county's worker cannot be revoked either.
    let (status, v) = w
        .call(
            TOKEN,
            "POST",
            &format!("/api/workers/{theirs}/devices"),
            json!({"label": "手机"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let device = v["device"]["id"].as_i64().unwrap();
    let (status, v) = json_as(
        &w.app,
        "DELETE",
        &format!("/api/devices/{device}"),
        Some(&w.disp),
        None,
    )
    .await;
    not_found(
        status,
        &v,
        "device_not_found",
        "revoke another county's device",
    );
    let (_, v) = w
        .get(TOKEN, &format!("/api/workers/{theirs}/devices"))
        .await;
    assert!(v["devices"][0]["revoked_at"].is_null(), "{v}");

    // Creating into another county, or moving one's own worker there: unknown unit.
    let (status, v) = w
        .call(
            &w.disp,
            "POST",
            "/api/workers",
            json!({"name": "越界", "phone": "13812345678", "grid": "320998001001002"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "unknown_unit");
    assert_eq!(v["error"]["details"]["field"], "grid");
    let (status, v) = w
        .call(
            &w.disp,
            "PATCH",
            &format!("/api/workers/{mine}"),
            json!({"grid": "320998001001002"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(error_parts(&v).0, "unknown_unit");
    let (_, v) = w.get(TOKEN, "/api/workers").await;
    assert_eq!(worker_ids(&v).len(), 2, "nothing was created: {v}");
    let (_, v) = w.get(TOKEN, &format!("/api/workers/{mine}")).await;
    assert_eq!(v["grid"]["code"], "320999001001001", "nothing was moved");

    // The CSV export: BOM, header, the dispatcher's worker only, phone in clear.
    let (status, headers, body) = w.get_raw(&w.disp, "/api/workers?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{headers:?}"
    );
    let csv = String::from_utf8(body).unwrap();
    let csv = csv
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 BOM for spreadsheets");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,name,phone,grid_code,grid_name,on_duty,skills,disabled"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with(&format!("{mine},")), "{csv}");
    assert!(lines[1].contains("\"13812345678\""), "{csv}");
    assert!(!csv.contains(THEIRS) && !csv.contains("乙"), "{csv}");
    // The leader's export has both counties, phones masked.
    let (status, _, body) = w.get_raw(&w.leader, "/api/workers?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(body).unwrap();
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        3,
        "{csv}"
    );
    assert!(csv.contains("\"320998001001001\""), "{csv}");
    assert!(
        csv.contains("138****5678") && !csv.contains("13812345678"),
        "{csv}"
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn accounts_of_another_county_are_invisible(pool: PgPool) {
    let w = world(pool).await;
    user_with_session(&w.pool, "disp998", "dispatcher", Some(THEIRS)).await;
    user_with_session(&w.pool, "grid998", "operator", Some("320998002001003")).await;
    let id_of = |name: &'static str| {
        let pool = w.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };

    let usernames = |v: &Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap_or_else(|| panic!("no users in {v}"))
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, v) = w.get(&w.disp, "/api/users").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Only accounts whose territory lies in 320999 (not the unscoped admin and leader).
    assert_eq!(usernames(&v), ["disp999", "op999001"]);
    assert_eq!(
        v["users"][1]["phone"], "13812345678",
        "dispatchers see phones"
    );
    let (_, v) = w.get(&w.disp, "/api/users?role=dispatcher").await;
    assert_eq!(usernames(&v), ["disp999"]);
    let (_, v) = w.get(&w.disp, "/api/users?q=998").await;
    assert_eq!(usernames(&v), Vec::<String>::new());
    let (_, v) = w.get(&w.leader, "/api/users").await;
    let all = usernames(&v);
    for name in ["disp998", "disp999", "grid998", "op999001", "leader"] {
        assert!(
            all.iter().any(|u| u == name),
            "leader misses {name}: {all:?}"
        );
    }
    for u in v["users"].as_array().unwrap() {
        let want = match u["username"].as_str().unwrap() {
            common::ADMIN => Value::Null,
            "leader" => json!("13812345678"),
            _ => json!("138****5678"),
        };
        assert_eq!(u["phone"], want, "leaders see their own phone only: {u}");
    }

    let unknown = id_of("disp998").await.max(id_of("grid998").await) + 1000;
    for id in [id_of("disp998").await, id_of("grid998").await, unknown] {
        let (status, v) = w.get(&w.disp, &format!("/api/users/{id}")).await;
        not_found(status, &v, "user_not_found", &format!("user {id}"));
        assert_eq!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .replace(&id.to_string(), "ID"),
            "no user ID in your territory"
        );
    }
    let (status, v) = w
        .get(&w.disp, &format!("/api/users/{}", id_of("op999001").await))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["scope"]["code"], "320999001");
    let (status, v) = w
        .get(&w.leader, &format!("/api/users/{}", id_of("disp998").await))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The audit log is for admins only, whatever the territory.
    for token in [&w.disp, &w.leader, &w.op] {
        let (status, v) = w.get(token, "/api/audit").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(error_parts(&v).0, "forbidden");
    }
    let (status, _) = w.get(TOKEN, "/api/audit").await;
    assert_eq!(status, StatusCode::OK);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_reimport_cannot_drop_someones_territory(pool: PgPool) {
    let w = world(pool).await;
    let disp998 = user_with_session(&w.pool, "disp998", "dispatcher", Some(THEIRS)).await;
    let (_, health) = w.get(TOKEN, "/api/health").await;
    let version = health["hierarchy"]["version"].as_i64().unwrap();

    // The file without 320998.
    let (status, v) = post_hierarchy(&w.app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (code, _, details) = error_parts(&v);
    assert_eq!(code, "invalid_hierarchy");
    let problems = details["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "only the territory is a problem: {v}");
    assert_eq!(problems[0]["code"], THEIRS, "{v}");
    assert!(
        problems[0]["reason"]
            .as_str()
            .unwrap()
            .contains("1 account(s)"),
        "{v}"
    );

    // Nothing changed: same version, both counties, and 320998's dispatcher still works.
    let (_, health) = w.get(TOKEN, "/api/health").await;
    assert_eq!(health["hierarchy"]["version"], version);
    let (_, v) = w.get(&w.leader, "/api/units").await;
    assert_eq!(codes(&v).len(), 38);
    let (status, v) = w.get(&disp998, "/api/units/320998").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = w.get(&disp998, "/api/locate?lng=120.25&lat=32.05").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["county"]["code"], THEIRS);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_new_county_gets_its_own_territory_and_stays_out_of_the_others(pool: PgPool) {
    let w = world(pool).await;
    let disp998 = user_with_session(&w.pool, "disp998", "dispatcher", Some(THEIRS)).await;
    // A third county 320997 east of 320998 ([120.4, 120.6]), imported with the two others.
    let third: Vec<Value> = second_county()
        .into_iter()
        .map(|mut f| {
            let props = &mut f["properties"];
            for key in ["code", "parent"] {
                if let Some(code) = props[key].as_str() {
                    props[key] = json!(code.replacen(THEIRS, "320997", 1));
                }
            }
            props["name"] = json!(props["name"].as_str().unwrap().replacen('乙', "丙", 1));
            for ring in f["geometry"]["coordinates"].as_array_mut().unwrap() {
                for pos in ring.as_array_mut().unwrap() {
                    let lng = pos[0].as_f64().unwrap();
                    pos[0] = json!(shifted(lng));
                }
            }
            f
        })
        .collect();
    let mut all = features();
    all.extend(second_county());
    all.extend(third);
    let (status, v) = post_hierarchy(&w.app, collection(all).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let disp997 = user_with_session(&w.pool, "disp997", "dispatcher", Some("320997")).await;

    // (token, the county it sees); the tree numbering was redone for the new units.
    for (token, county) in [(&w.disp, MINE), (&disp998, THEIRS), (&disp997, "320997")] {
        let (status, v) = w.get(token, "/api/units").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let seen = codes(&v);
        assert_eq!(seen.len(), 19, "{county}: {seen:?}");
        assert_eq!(under(&seen, county), 19, "{county}: {seen:?}");
        let (status, v) = w.get(token, "/api/locate?lng=120.45&lat=32.05").await;
        if county == "320997" {
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_eq!(v["grid"]["code"], "320997001001002");
        } else {
            not_found(status, &v, "outside_hierarchy", county);
        }
    }
    let (_, v) = w.get(&w.leader, "/api/units").await;
    assert_eq!(codes(&v).len(), 57);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_worker_account_of_another_county_cannot_be_linked(pool: PgPool) {
    let w = world(pool).await;
    user_with_session(&w.pool, "w998", "worker", Some("320998001001001")).await;
    user_with_session(&w.pool, "w999", "worker", Some("320999001001001")).await;
    let attempt = |username: &'static str| {
        let w = &w;
        async move {
            w.call(
                &w.disp,
                "POST",
                "/api/workers",
                json!({"name": "网格员", "grid": "320999001001002", "username": username}),
            )
            .await
        }
    };
    // An account of the other county answers exactly like one that does not exist.
    let (status, v_nobody) = attempt("nobody").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v_nobody}");
    assert_eq!(error_parts(&v_nobody).0, "unknown_user");
    let (status, v) = attempt("w998").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a dispatcher of 320999 linked the account of a 320998 worker: {v}"
    );
    assert_eq!(
        v.to_string().replace("w998", "nobody"),
        v_nobody.to_string()
    );
    // Their own county's worker account links.
    let (status, v) = attempt("w999").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["username"], "w999");
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn masked_phone_digits_cannot_be_found_by_search(pool: PgPool) {
    let w = world(pool).await;
    let id = worker(&w, "甲区网格员", "320999001001001").await;
    // 138****5678: the hidden digits find the worker only for roles that see phones in clear,
    // or the mask could be read back by probing the search digit by digit.
    for (token, role, sees) in [
        (&w.disp, "dispatcher", true),
        (&w.leader, "leader", false),
        (&w.op, "operator", false),
    ] {
        for hidden in ["1234", "8123", "2345"] {
            let (status, v) = w.get(token, &format!("/api/workers?q={hidden}")).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            let want: Vec<i64> = if sees { vec![id] } else { vec![] };
            assert_eq!(worker_ids(&v), want, "{role} searching {hidden}: {v}");
        }
    }
}

/// The one SQL mechanism every scoped query uses, `territory(root)`, against the hierarchy's
/// own parent links: for every unit as root, the units it admits are exactly the root and its
/// descendants; NULL admits every unit; a root that does not exist admits none (never all).
#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn the_territory_function_is_exactly_the_subtree(pool: PgPool) {
    let w = world(pool).await;
    let units: Vec<(i64, Option<i64>, String)> =
        sqlx::query_as("SELECT id, parent_id, code FROM units ORDER BY id")
            .fetch_all(&w.pool)
            .await
            .unwrap();
    let parent: BTreeMap<i64, Option<i64>> = units.iter().map(|(id, p, _)| (*id, *p)).collect();
    let admitted = |root: Option<i64>| {
        let pool = w.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT g.id FROM units g
                   JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
                 ORDER BY g.id",
            )
            .bind(root)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect::<BTreeSet<i64>>()
        }
    };
    for (root, _, code) in &units {
        let expected: BTreeSet<i64> = units
            .iter()
            .map(|(id, _, _)| *id)
            .filter(|id| {
                let mut at = Some(*id);
                while let Some(u) = at {
                    if u == *root {
                        return true;
                    }
                    at = parent[&u];
                }
                false
            })
            .collect();
        assert_eq!(admitted(Some(*root)).await, expected, "territory of {code}");
    }
    let all: BTreeSet<i64> = parent.keys().copied().collect();
    assert_eq!(admitted(None).await, all);
    let missing = parent.keys().max().unwrap() + 1_000;
    assert!(admitted(Some(missing)).await.is_empty());
    let everything: Vec<bool> = sqlx::query_scalar(
        "SELECT everything FROM territory($1) UNION ALL SELECT everything FROM territory($2)",
    )
    .bind(None::<i64>)
    .bind(parent.keys().next().copied())
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert_eq!(everything, [true, false]);
}
