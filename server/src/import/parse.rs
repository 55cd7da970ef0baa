//! Reading a hierarchy file: a GeoJSON FeatureCollection whose features carry
//! `code`, `name`, `level` and `parent`. The `geojson` crate reads each feature; the checks
//! that need no PostGIS live here, on top of it.

use std::collections::HashMap;

use geo::MultiPolygon;
use geojson::{Feature, JsonObject};
use gridwall_spatial::{Level, UnitCode};
use serde::Deserialize as _;
use serde_json::Value;

use super::Problem;
use crate::geojson::{multipolygon, read_geometry};
use crate::text;

/// One feature that passed the structural checks.
#[derive(Debug, Clone)]
pub struct FeatureInput {
    /// Position in the file's `features` array.
    pub index: usize,
    /// Unit code.
    pub code: UnitCode,
    pub name: String,
    pub level: Level,
    /// Parent code.
    pub parent: Option<UnitCode>,
    /// The geometry as GeoJSON text, for PostGIS.
    pub geometry_json: String,
    /// The geometry as `geo` types, for the H3 cover.
    pub polygon: MultiPolygon<f64>,
}

/// Why a file could not even be read as a FeatureCollection.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Gzip that does not decompress.
    #[error("the file looks gzip-compressed but cannot be decompressed: {0}")]
    Gzip(std::io::Error),
    /// Larger than the limit, as given or once decompressed.
    #[error("the file is larger than {limit_bytes} bytes (once decompressed)")]
    TooLarge {
        /// The limit.
        limit_bytes: usize,
    },
    /// Not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based.
        line: usize,
        /// 1-based.
        column: usize,
        /// `serde_json`'s words.
        message: String,
    },
    /// JSON, but not a FeatureCollection.
    #[error("{0}")]
    NotFeatureCollection(String),
}

/// The largest hierarchy file, in bytes, as sent and once decompressed (a province of grids is
/// ~100 MB of GeoJSON).
pub const MAX_FILE_BYTES: usize = 512 << 20;

fn json_error(e: &serde_json::Error) -> ParseError {
    ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// Decompresses (when gzip) and parses the bytes as JSON; the file may not exceed
/// [`MAX_FILE_BYTES`] as given nor once decompressed.
pub fn read_json(bytes: &[u8]) -> Result<Value, ParseError> {
    read_json_within(bytes, MAX_FILE_BYTES)
}

fn read_json_within(bytes: &[u8], limit_bytes: usize) -> Result<Value, ParseError> {
    if bytes.len() > limit_bytes {
        return Err(ParseError::TooLarge { limit_bytes });
    }
    let decompressed;
    let text: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        decompressed = gunzip_within(bytes, limit_bytes)?;
        &decompressed
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| json_error(&e))
}

/// The gzip `bytes` decompressed, when that is at most `limit_bytes`. A first pass only counts,
/// so that a small file that expands enormously is refused without holding its expansion.
fn gunzip_within(bytes: &[u8], limit_bytes: usize) -> Result<Vec<u8>, ParseError> {
    use std::io::Read as _;
    // One byte past the limit is enough to know it is exceeded.
    let limit = u64::try_from(limit_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let size = std::io::copy(
        &mut flate2::read::GzDecoder::new(bytes).take(limit),
        &mut std::io::sink(),
    )
    .map_err(ParseError::Gzip)?;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > limit_bytes {
        return Err(ParseError::TooLarge { limit_bytes });
    }
    let mut out = Vec::with_capacity(size);
    flate2::read::GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(ParseError::Gzip)?;
    Ok(out)
}

/// Checks every feature; returns the features, or every problem found (not just the first).
///
/// Takes the document by value and lets go of each feature's JSON once it is read, so a large
/// file is not held twice.
pub fn features(doc: Value) -> Result<Result<Vec<FeatureInput>, Vec<Problem>>, ParseError> {
    let Value::Object(mut obj) = doc else {
        return Err(ParseError::NotFeatureCollection(
            "the document must be a GeoJSON object".into(),
        ));
    };
    if obj.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(ParseError::NotFeatureCollection(
            "the document must be a GeoJSON FeatureCollection (\"type\": \"FeatureCollection\")"
                .into(),
        ));
    }
    let Some(Value::Array(list)) = obj.remove("features") else {
        return Err(ParseError::NotFeatureCollection(
            "the FeatureCollection has no \"features\" array".into(),
        ));
    };
    if list.is_empty() {
        return Err(ParseError::NotFeatureCollection(
            "the FeatureCollection has no features".into(),
        ));
    }

    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for (index, feature) in list.into_iter().enumerate() {
        match one_feature(index, &feature) {
            Ok(f) => out.push(f),
            Err(p) => problems.push(p),
        }
    }
    problems.extend(tree_problems(&out));
    Ok(if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    })
}

/// Reads one feature with `geojson`, then the unit's rules on top. A feature `geojson` refuses
/// is walked raw to name its first fault in the same order, so the reason does not depend on
/// which of the two found it.
fn one_feature(index: usize, value: &Value) -> Result<FeatureInput, Problem> {
    let raw_code = value
        .get("properties")
        .and_then(|p| p.get("code"))
        .and_then(|c| match c {
            Value::String(s) => Some(text::visible(s).into_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let problem = |reason: String| Problem {
        index: Some(index),
        code: raw_code.clone(),
        reason,
    };
    // Before any other rule: PostgreSQL cannot hold the text, nor this answer its audit row.
    if let Some(pointer) = text::first_nul(value) {
        return Err(problem(format!("{pointer} {}", text::NUL_REASON)));
    }
    match Feature::deserialize(value) {
        Ok(feature) => read_feature(index, feature).map_err(problem),
        Err(e) => Err(problem(why_refused(value, &e))),
    }
}

fn read_feature(index: usize, feature: Feature) -> Result<FeatureInput, String> {
    let props = feature
        .properties
        .as_ref()
        .ok_or_else(|| NO_PROPERTIES.to_owned())?;
    let unit = UnitProperties::read(props)?;
    let geometry = feature.geometry.ok_or_else(|| NO_GEOMETRY.to_owned())?;
    let polygon = multipolygon(&geometry).map_err(|e| e.0)?;
    // PostGIS gets the geometry as geojson read it: a Polygon stays one until ST_Multi.
    let geometry_json = serde_json::to_string(&geometry)
        .map_err(|e| format!("the geometry cannot be written back as GeoJSON: {e}"))?;
    Ok(FeatureInput {
        index,
        code: unit.code,
        name: unit.name,
        level: unit.level,
        parent: unit.parent,
        geometry_json,
        polygon,
    })
}

const NO_PROPERTIES: &str = "the feature has no \"properties\" object";
const NO_GEOMETRY: &str = "the feature has no geometry";

/// The reason for a feature `geojson` could not read, checked in [`read_feature`]'s order;
/// `geojson`'s own words only when none of our rules is broken (a malformed `bbox`, say).
fn why_refused(value: &Value, e: &serde_json::Error) -> String {
    if value.get("type").and_then(Value::as_str) != Some("Feature") {
        return "not a GeoJSON Feature (\"type\": \"Feature\")".into();
    }
    let Some(props) = value.get("properties").and_then(Value::as_object) else {
        return NO_PROPERTIES.into();
    };
    if let Err(reason) = UnitProperties::read(props) {
        return reason;
    }
    let Some(geometry) = value.get("geometry").filter(|g| !g.is_null()) else {
        return NO_GEOMETRY.into();
    };
    match read_geometry(geometry).and_then(|g| multipolygon(&g)) {
        Err(reason) => reason.0,
        Ok(_) => format!("not a valid GeoJSON Feature: {e}"),
    }
}

/// What a feature's `properties` say about its unit.
struct UnitProperties {
    code: UnitCode,
    name: String,
    level: Level,
    parent: Option<UnitCode>,
}

impl UnitProperties {
    fn read(props: &JsonObject) -> Result<Self, String> {
        let level = match props.get("level") {
            Some(Value::String(s)) => s.parse::<Level>().map_err(|e| e.to_string())?,
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| format!("level {n} is not a whole number"))
                .and_then(|n| Level::from_number(n).map_err(|e| e.to_string()))?,
            _ => return Err("property \"level\" is missing".into()),
        };
        let code = match props.get("code") {
            Some(Value::String(s)) => UnitCode::for_level(s, level),
            Some(Value::Number(n)) => UnitCode::for_level(&n.to_string(), level),
            _ => return Err("property \"code\" is missing".into()),
        }
        .map_err(|e| e.to_string())?;
        let name = props
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| "property \"name\" is missing or empty".to_owned())?;
        if name.chars().count() > 200 {
            return Err("property \"name\" is longer than 200 characters".into());
        }
        let parent = match props.get("parent") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(UnitCode::new(s).map_err(|e| format!("property \"parent\": {e}"))?)
            }
            Some(other) => {
                return Err(format!(
                    "property \"parent\" must be a code string or null, not {other}"
                ));
            }
        };
        Ok(Self {
            code,
            name: name.to_owned(),
            level,
            parent,
        })
    }
}

/// Duplicate codes, unknown parents, levels that are not one below the parent's, and roots
/// below the county level.
fn tree_problems(features: &[FeatureInput]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut by_code: HashMap<&str, &FeatureInput> = HashMap::with_capacity(features.len());
    for f in features {
        if let Some(first) = by_code.insert(f.code.as_str(), f) {
            problems.push(Problem::of(
                f,
                format!("duplicate code (also feature {})", first.index),
            ));
            by_code.insert(first.code.as_str(), first);
        }
    }
    for f in features {
        match &f.parent {
            None if f.level > Level::County => {
                problems.push(Problem::of(f, format!("a {} must have a parent", f.level)));
            }
            None => {}
            Some(p) => match by_code.get(p.as_str()) {
                None => problems.push(Problem::of(f, format!("unknown parent {p}"))),
                Some(parent) if parent.level.child() != Some(f.level) => {
                    problems.push(Problem::of(
                        f,
                        format!(
                            "level {} is not one below its parent {p}'s level {}",
                            f.level, parent.level
                        ),
                    ));
                }
                Some(_) => {}
            },
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(parts: &[&[u8]], repeat_last: usize) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for p in parts {
            enc.write_all(p).expect("compress");
        }
        for _ in 0..repeat_last {
            enc.write_all(parts.last().copied().unwrap_or_default())
                .expect("compress");
        }
        enc.finish().expect("compress")
    }

    #[test]
    fn the_limit_holds_after_decompression() {
        // 8 bytes of JSON and 100 blanks: 108 bytes, fewer compressed.
        let small = gzip(&[br#"{"a": 1}"#, &[b' '; 100]], 0);
        assert!(small.len() < 100, "{}", small.len());
        assert_eq!(
            read_json_within(&small, 108).ok(),
            Some(serde_json::json!({"a": 1}))
        );
        assert!(matches!(
            read_json_within(&small, 107),
            Err(ParseError::TooLarge { limit_bytes: 107 })
        ));
        // Valid JSON followed by a sea of blanks: too large, not a syntax question.
        let padded = gzip(&[br#"{"a": 1}"#, &[b' '; 1024]], 100);
        assert!(padded.len() < 4096, "{}", padded.len());
        assert!(matches!(
            read_json_within(&padded, 100_000),
            Err(ParseError::TooLarge { .. })
        ));
        // As given, too.
        assert!(matches!(
            read_json_within(br#"{"a": 1}"#, 7),
            Err(ParseError::TooLarge { .. })
        ));
        assert!(matches!(
            read_json_within(&[0x1f, 0x8b, 0, 1, 2], 100),
            Err(ParseError::Gzip(_))
        ));
    }
}
