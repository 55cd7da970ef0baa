//! Reading a hierarchy file: a GeoJSON FeatureCollection whose features carry
//! `code`, `name`, `level` and `parent`. Structural checks that need no PostGIS live here.

use std::collections::HashMap;

use geo::MultiPolygon;
use gridwall_spatial::{Level, UnitCode};
use serde_json::Value;

use super::Problem;
use crate::geojson::multipolygon_from_value;

/// One feature that passed the structural checks.
#[derive(Debug, Clone)]
pub struct FeatureInput {
    /// Position in the file's `features` array.
    pub index: usize,
    /// Unit code.
    pub code: UnitCode,
    /// Name.
    pub name: String,
    /// Level.
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
    /// Not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based.
        line: usize,
        /// 1-based.
        column: usize,
        /// serde_json's words.
        message: String,
    },
    /// JSON, but not a FeatureCollection.
    #[error("{0}")]
    NotFeatureCollection(String),
}

/// Decompresses (when gzip) and parses the bytes as JSON.
pub fn read_json(bytes: &[u8]) -> Result<Value, ParseError> {
    let decompressed;
    let text: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(ParseError::Gzip)?;
        decompressed = out;
        &decompressed
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Checks every feature; returns the features, or every problem found (not just the first).
pub fn features(doc: &Value) -> Result<Result<Vec<FeatureInput>, Vec<Problem>>, ParseError> {
    let obj = doc.as_object().ok_or_else(|| {
        ParseError::NotFeatureCollection("the document must be a GeoJSON object".into())
    })?;
    if obj.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return Err(ParseError::NotFeatureCollection(
            "the document must be a GeoJSON FeatureCollection (\"type\": \"FeatureCollection\")"
                .into(),
        ));
    }
    let list = obj
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ParseError::NotFeatureCollection(
                "the FeatureCollection has no \"features\" array".into(),
            )
        })?;
    if list.is_empty() {
        return Err(ParseError::NotFeatureCollection(
            "the FeatureCollection has no features".into(),
        ));
    }

    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for (index, feature) in list.iter().enumerate() {
        match one_feature(index, feature) {
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

fn one_feature(index: usize, feature: &Value) -> Result<FeatureInput, Problem> {
    let props = feature.get("properties").and_then(Value::as_object);
    let raw_code = props.and_then(|p| p.get("code")).and_then(|c| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let problem = |reason: String| Problem {
        index: Some(index),
        code: raw_code.clone(),
        reason,
    };
    if feature.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(problem(
            "not a GeoJSON Feature (\"type\": \"Feature\")".into(),
        ));
    }
    let props = props.ok_or_else(|| problem("the feature has no \"properties\" object".into()))?;
    let level = match props.get("level") {
        Some(Value::String(s)) => s.parse::<Level>().map_err(|e| problem(e.to_string()))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| problem(format!("level {n} is not a whole number")))
            .and_then(|n| Level::from_number(n).map_err(|e| problem(e.to_string())))?,
        _ => return Err(problem("property \"level\" is missing".into())),
    };
    let code = raw_code
        .as_deref()
        .ok_or_else(|| problem("property \"code\" is missing".into()))
        .and_then(|c| UnitCode::for_level(c, level).map_err(|e| problem(e.to_string())))?;
    let name = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| problem("property \"name\" is missing or empty".into()))?;
    if name.chars().count() > 200 {
        return Err(problem(
            "property \"name\" is longer than 200 characters".into(),
        ));
    }
    let parent = match props.get("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(UnitCode::new(s).map_err(|e| problem(format!("property \"parent\": {e}")))?)
        }
        Some(other) => {
            return Err(problem(format!(
                "property \"parent\" must be a code string or null, not {other}"
            )));
        }
    };
    let geometry = feature
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or_else(|| problem("the feature has no geometry".into()))?;
    let polygon = multipolygon_from_value(geometry).map_err(|e| problem(e.0))?;
    Ok(FeatureInput {
        index,
        code,
        name: name.to_owned(),
        level,
        parent,
        geometry_json: geometry.to_string(),
        polygon,
    })
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
                problems.push(Problem::of(f, format!("a {} must have a parent", f.level)))
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
