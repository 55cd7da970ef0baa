//! Vector tiles from PostGIS, decoded with an independent MVT reader: layers by zoom, features
//! and their properties, 204 for empty tiles, gzip, and the TileJSON.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{collection, features, post_hierarchy, send};
use mvt_reader::Reader;
use mvt_reader::feature::Value as MvtValue;
use sqlx::PgPool;

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

/// Layer name → list of (code, name, level) of its features.
fn decode(bytes: Vec<u8>) -> BTreeMap<String, Vec<(String, String, i64)>> {
    let reader = Reader::new(bytes).unwrap();
    let names = reader.get_layer_names().unwrap();
    let mut out = BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let feats = reader.get_features(i).unwrap();
        let rows = feats
            .into_iter()
            .map(|f| {
                let p = f.properties.unwrap();
                let text = |k: &str| match &p[k] {
                    MvtValue::String(s) => s.clone(),
                    other => panic!("{k} is {other:?}"),
                };
                let level = match &p["level"] {
                    MvtValue::Int(v) | MvtValue::SInt(v) => *v,
                    MvtValue::UInt(v) => i64::try_from(*v).unwrap(),
                    other => panic!("level is {other:?}"),
                };
                (text("code"), text("name"), level)
            })
            .collect();
        out.insert(name, rows);
    }
    out
}

async fn get_tile(
    app: &axum::Router,
    z: u32,
    x: u32,
    y: u32,
    gzip: bool,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(format!("/tiles/units/{z}/{x}/{y}.mvt"));
    if gzip {
        req = req.header(header::ACCEPT_ENCODING, "gzip, deflate");
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn tiles_carry_layers_by_zoom(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    let (status, v) = post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // z10: county, township and village polygons; county and township labels.
    let (x, y) = tile_of(120.1, 32.1, 10);
    let (status, headers, body) = get_tile(&app, 10, x, y, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/vnd.mapbox-vector-tile"
    );
    let layers = decode(body);
    assert_eq!(
        layers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["county", "label", "township", "village"]
    );
    assert_eq!(layers["county"], [("320999".into(), "测试区".into(), 1)]);
    assert_eq!(layers["township"].len(), 2);
    assert_eq!(layers["village"].len(), 4);
    assert!(
        layers["village"]
            .iter()
            .all(|(c, _, l)| c.len() == 12 && *l == 3)
    );
    let label_levels: Vec<i64> = layers["label"].iter().map(|r| r.2).collect();
    assert_eq!(
        label_levels,
        [1, 2, 2],
        "county + township labels only at z10"
    );

    // z13 over the first grid: every level, grid labels too.
    let (x, y) = tile_of(120.0167, 32.05, 13); // the first grid's label point
    let (status, _, body) = get_tile(&app, 13, x, y, false).await;
    assert_eq!(status, StatusCode::OK);
    let layers = decode(body);
    assert!(layers.contains_key("grid"), "{:?}", layers.keys());
    assert!(
        layers["grid"]
            .iter()
            .any(|(c, n, l)| c == "320999001001001" && n == "测试1村第1网格" && *l == 4),
        "{:?}",
        layers["grid"]
    );
    assert!(
        layers["label"].iter().any(|r| r.2 == 4),
        "grid labels at z13"
    );

    // Low zoom: only the county.
    let (x, y) = tile_of(120.1, 32.1, 5);
    let (_, _, body) = get_tile(&app, 5, x, y, false).await;
    assert_eq!(
        decode(body).keys().map(String::as_str).collect::<Vec<_>>(),
        ["county"]
    );
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn empty_tiles_are_204_and_gzip_is_honoured(pool: PgPool) {
    let (app, state) = common::app(pool).await;
    post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;

    let (status, _, body) = get_tile(&app, 10, 0, 0, true).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());

    let (x, y) = tile_of(120.1, 32.1, 11);
    let (status, headers, zipped) = get_tile(&app, 11, x, y, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(zipped.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let (_, headers, plain) = get_tile(&app, 11, x, y, false).await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(raw, plain, "gzip and plain answers carry the same tile");
    assert!(decode(plain).contains_key("grid"));

    // The second request of the same tile came from the cache.
    assert!(state.metrics.tile_cache_hits.get() >= 1);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn tilejson_describes_the_layers(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    let req = Request::get("/tiles/units.json")
        .header(header::HOST, "wall.example:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tilejson"], "3.0.0");
    let url = v["tiles"][0].as_str().unwrap();
    assert!(
        url.starts_with("http://wall.example:8080/tiles/units/{z}/{x}/{y}.mvt?v="),
        "{url}"
    );
    let b: Vec<f64> = v["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(
        (b[0] - 120.0).abs() < 1e-9 && (b[3] - 32.2).abs() < 1e-9,
        "{b:?}"
    );
    let ids: Vec<&str> = v["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["county", "township", "village", "grid", "label"]);
}

#[sqlx::test(migrator = "gridwall_server::db::MIGRATOR")]
async fn a_new_import_never_serves_stale_cached_tiles(pool: PgPool) {
    let (app, _) = common::app(pool).await;
    post_hierarchy(&app, collection(features()).to_string().into_bytes()).await;
    let (x, y) = tile_of(120.0167, 32.05, 13);
    let (_, _, before) = get_tile(&app, 13, x, y, false).await;
    let name_of = |layers: &BTreeMap<String, Vec<(String, String, i64)>>| {
        layers["grid"]
            .iter()
            .find(|r| r.0 == "320999001001001")
            .map(|r| r.1.clone())
    };
    assert_eq!(name_of(&decode(before)).as_deref(), Some("测试1村第1网格"));

    let renamed: Vec<serde_json::Value> = features()
        .into_iter()
        .map(|mut f| {
            if f["properties"]["code"] == "320999001001001" {
                f["properties"]["name"] = serde_json::json!("改名网格");
            }
            f
        })
        .collect();
    let (status, _) = post_hierarchy(&app, collection(renamed).to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, after) = get_tile(&app, 13, x, y, false).await;
    assert_eq!(name_of(&decode(after)).as_deref(), Some("改名网格"));
}
