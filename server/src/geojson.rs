//! Strict reading of GeoJSON (RFC 7946) polygons into `geo` types, x = lng, y = lat.
//!
//! The `geojson` crate parses; on top of it only what a unit boundary may be is kept: `Polygon`
//! or `MultiPolygon`, finite coordinates in WGS84 range, closed rings of at least four
//! positions. Each failure says where and why, also when `geojson` itself refuses the object.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use geojson::{Geometry, GeometryValue, PolygonType};
use serde::Deserialize as _;
use serde_json::Value;

/// Why a geometry was refused; the message names the place (polygon, ring, position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GeometryError(pub String);

fn err(msg: impl Into<String>) -> GeometryError {
    GeometryError(msg.into())
}

/// Reads a GeoJSON geometry object that must be a Polygon or a MultiPolygon.
///
/// # Errors
///
/// The object is not a geometry, or not one a unit boundary may be; the message says which
/// polygon, ring and position is at fault.
pub fn multipolygon_from_value(geometry: &Value) -> Result<MultiPolygon<f64>, GeometryError> {
    multipolygon(&read_geometry(geometry)?)
}

/// Parses a GeoJSON geometry object. When `geojson` refuses it, the message is ours and names
/// the first fault in the order [`multipolygon`] would check, with `geojson`'s own words only
/// when none of our rules is broken (a malformed `bbox`, say).
///
/// # Errors
///
/// The object is not a GeoJSON geometry.
pub fn read_geometry(value: &Value) -> Result<Geometry, GeometryError> {
    Geometry::deserialize(value).map_err(|e| {
        explain(value).unwrap_or_else(|| err(format!("not a valid GeoJSON geometry: {e}")))
    })
}

/// Checks a parsed geometry against the rules for a unit boundary and converts it.
///
/// # Errors
///
/// Not a Polygon or MultiPolygon, empty, a position that is short, not finite or out of range,
/// a ring of fewer than four positions or not closed.
pub fn multipolygon(geometry: &Geometry) -> Result<MultiPolygon<f64>, GeometryError> {
    match &geometry.value {
        GeometryValue::Polygon { coordinates } => {
            Ok(MultiPolygon(vec![polygon(coordinates, None)?]))
        }
        GeometryValue::MultiPolygon { coordinates } => {
            if coordinates.is_empty() {
                return Err(err("MultiPolygon has no polygons"));
            }
            coordinates
                .iter()
                .enumerate()
                .map(|(i, p)| polygon(p, Some(i)))
                .collect::<Result<Vec<_>, _>>()
                .map(MultiPolygon)
        }
        other => Err(not_allowed(other.type_name())),
    }
}

fn not_allowed(kind: &str) -> GeometryError {
    err(format!(
        "geometry type {kind} is not allowed (only Polygon or MultiPolygon)"
    ))
}

/// Where a ring is: "ring 1", or "polygon 2, ring 1" inside a MultiPolygon.
fn ring_at(polygon: Option<usize>, ring: usize) -> String {
    match polygon {
        Some(p) => format!("polygon {p}, ring {ring}"),
        None => format!("ring {ring}"),
    }
}

fn polygon(rings: &PolygonType, index: Option<usize>) -> Result<Polygon<f64>, GeometryError> {
    if rings.is_empty() {
        return Err(err("polygon has no rings"));
    }
    let mut out = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let mut coords = Vec::with_capacity(ring.len());
        for (k, pos) in ring.iter().enumerate() {
            coords.push(
                position(pos.as_slice())
                    .map_err(|e| err(format!("{}, position {k}: {e}", ring_at(index, r))))?,
            );
        }
        out.push(closed_ring(coords, index, r)?);
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

fn closed_ring(
    coords: Vec<Coord<f64>>,
    polygon: Option<usize>,
    ring: usize,
) -> Result<LineString<f64>, GeometryError> {
    if coords.len() < 4 {
        return Err(err(format!(
            "{}: a ring needs at least 4 positions, has {}",
            ring_at(polygon, ring),
            coords.len()
        )));
    }
    if coords.first() != coords.last() {
        return Err(err(format!(
            "{}: ring is not closed (first and last positions differ)",
            ring_at(polygon, ring)
        )));
    }
    Ok(LineString(coords))
}

/// `[lng, lat, ...]`; an altitude or anything after it is ignored.
fn position(pos: &[f64]) -> Result<Coord<f64>, String> {
    let [lng, lat, ..] = *pos else {
        return Err("a position needs [lng, lat]".to_owned());
    };
    if !lng.is_finite() {
        return Err("longitude is not finite".to_owned());
    }
    if !lat.is_finite() {
        return Err("latitude is not finite".to_owned());
    }
    if !(-180.0..=180.0).contains(&lng) {
        return Err(format!("longitude {lng} is outside [-180, 180]"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("latitude {lat} is outside [-90, 90]"));
    }
    Ok(Coord { x: lng, y: lat })
}

/// The first fault of a geometry `geojson` refused, found by walking the raw JSON in the order
/// [`multipolygon`] walks a parsed one and with the same rules, so that the reason is the one
/// that the file's first broken rule deserves; `None` when none of our rules is broken.
fn explain(geometry: &Value) -> Option<GeometryError> {
    let Some(obj) = geometry.as_object() else {
        return Some(err("geometry must be an object"));
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return Some(err("geometry has no \"type\""));
    };
    let Some(coords) = obj.get("coordinates") else {
        return Some(err("geometry has no \"coordinates\""));
    };
    match kind {
        "Polygon" => explain_polygon(coords, None),
        "MultiPolygon" => match coords.as_array() {
            None => Some(err("MultiPolygon coordinates must be an array of polygons")),
            Some(polys) if polys.is_empty() => Some(err("MultiPolygon has no polygons")),
            Some(polys) => polys
                .iter()
                .enumerate()
                .find_map(|(i, p)| explain_polygon(p, Some(i))),
        },
        other => Some(not_allowed(other)),
    }
}

fn explain_polygon(value: &Value, index: Option<usize>) -> Option<GeometryError> {
    let Some(rings) = value.as_array() else {
        return Some(err("polygon coordinates must be an array of rings"));
    };
    if rings.is_empty() {
        return Some(err("polygon has no rings"));
    }
    for (r, ring) in rings.iter().enumerate() {
        let Some(positions) = ring.as_array() else {
            return Some(err(format!(
                "{}: must be an array of positions",
                ring_at(index, r)
            )));
        };
        let mut coords = Vec::with_capacity(positions.len());
        for (k, pos) in positions.iter().enumerate() {
            match explain_position(pos) {
                Ok(c) => coords.push(c),
                Err(e) => return Some(err(format!("{}, position {k}: {e}", ring_at(index, r)))),
            }
        }
        if let Err(e) = closed_ring(coords, index, r) {
            return Some(e);
        }
    }
    None
}

fn explain_position(value: &Value) -> Result<Coord<f64>, String> {
    let arr = value
        .as_array()
        .ok_or_else(|| "a position must be an array [lng, lat]".to_owned())?;
    let [lng, lat, ..] = arr.as_slice() else {
        return Err("a position needs [lng, lat]".to_owned());
    };
    let num = |v: &Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| format!("{what} is not a number: {v}"))
    };
    position(&[num(lng, "longitude")?, num(lat, "latitude")?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_polygon_and_multipolygon() {
        let square = json!([[[120.0, 32.0], [120.1, 32.0], [120.1, 32.1], [120.0, 32.0]]]);
        let p = multipolygon_from_value(&json!({"type": "Polygon", "coordinates": square}));
        assert_eq!(p.map(|m| m.0.len()), Ok(1));
        let m = multipolygon_from_value(
            &json!({"type": "MultiPolygon", "coordinates": [square.clone(), square]}),
        );
        assert_eq!(m.map(|m| m.0.len()), Ok(2));
    }

    #[test]
    fn keeps_holes_and_ignores_extra_members_and_altitudes() {
        let m = multipolygon_from_value(&json!({
            "type": "Polygon",
            "bbox": [0, 0, 4, 4],
            "crs": {"type": "name"},
            "coordinates": [
                [[0, 0, 5], [4, 0, 5], [4, 4, 5], [0, 4, 5], [0, 0, 5]],
                [[1, 1], [2, 1], [2, 2], [1, 1]]
            ]
        }))
        .expect("a polygon with a hole");
        assert_eq!(m.0[0].interiors().len(), 1);
        assert_eq!(m.0[0].exterior().0[2], Coord { x: 4.0, y: 4.0 });
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                json!({"type": "Point", "coordinates": [1, 2]}),
                "geometry type Point is not allowed",
            ),
            (
                json!({"type": "GeometryCollection", "geometries": [
                    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
                ]}),
                "geometry type GeometryCollection is not allowed",
            ),
            (
                json!({"type": "Circle", "coordinates": [1, 2]}),
                "geometry type Circle is not allowed",
            ),
            (json!("Polygon"), "geometry must be an object"),
            (json!({"coordinates": []}), "geometry has no \"type\""),
            (
                json!({"type": "Polygon"}),
                "geometry has no \"coordinates\"",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
                "ring 0: ring is not closed",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
                "ring 0: a ring needs at least 4 positions, has 3",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 0]]]}),
                "ring 0, position 2: latitude 91 is outside [-90, 90]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [181, 1], [0, 0]]]}),
                "ring 0, position 2: longitude 181 is outside [-180, 180]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]}),
                "ring 0, position 1: longitude is not a number: \"a\"",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, null], [1, 1], [0, 0]]]}),
                "ring 0, position 1: latitude is not a number: null",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]}),
                "ring 0, position 1: a position needs [lng, lat]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [], [1, 1], [0, 0]]]}),
                "ring 0, position 1: a position needs [lng, lat]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[0, 0], [1, 0], [1, 1], [0, 0]]}),
                "ring 0, position 0: a position must be an array [lng, lat]",
            ),
            (
                json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]], 7]}),
                "ring 1: must be an array of positions",
            ),
            (
                json!({"type": "Polygon", "coordinates": {"rings": []}}),
                "polygon coordinates must be an array of rings",
            ),
            (
                json!({"type": "Polygon", "coordinates": []}),
                "polygon has no rings",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": []}),
                "MultiPolygon has no polygons",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [[]]}),
                "polygon has no rings",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": [
                    [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                    [[[0, 0], [1, 0], [1, 1], [0, 1]]]
                ]}),
                "polygon 1, ring 0: ring is not closed",
            ),
            (
                json!({"type": "MultiPolygon", "coordinates": "none"}),
                "MultiPolygon coordinates must be an array of polygons",
            ),
        ];
        for (geometry, expected) in cases {
            let e = multipolygon_from_value(&geometry).expect_err("must be refused");
            assert!(e.0.contains(expected), "{e} should contain {expected}");
        }
    }

    #[test]
    fn geojson_faults_outside_our_rules_keep_its_words() {
        let e = multipolygon_from_value(&json!({
            "type": "Polygon",
            "bbox": "everywhere",
            "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]
        }))
        .expect_err("a bbox must be numbers");
        assert!(e.0.starts_with("not a valid GeoJSON geometry: "), "{e}");
    }

    #[test]
    fn refuses_non_finite_positions() {
        // JSON text cannot carry them, but a geometry built in memory can.
        for (pos, expected) in [
            ([f64::NAN, 0.0], "longitude is not finite"),
            ([0.0, f64::INFINITY], "latitude is not finite"),
        ] {
            let ring = vec![[0.0, 0.0], pos, [1.0, 1.0], [0.0, 0.0]];
            let e = multipolygon(&Geometry::new_polygon([ring])).expect_err("not finite");
            assert_eq!(e.0, format!("ring 0, position 1: {expected}"));
        }
    }
}
