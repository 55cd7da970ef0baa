//! Parsing of query and path parameters into checked values, with errors that name the
//! parameter and the value given.

use gridwall_spatial::{Level, UnitCode};

use super::error::ApiError;
use crate::territory::Territory;

/// A required number.
pub fn required_f64(name: &str, raw: Option<&str>) -> Result<f64, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::invalid_param(name, serde_json::Value::Null, format!("{name} is required"))
    })?;
    let x: f64 = raw.trim().parse().map_err(|_| {
        ApiError::invalid_param(name, raw, format!("{name} must be a number, got {raw:?}"))
    })?;
    if !x.is_finite() {
        return Err(ApiError::invalid_param(
            name,
            raw,
            format!("{name} must be a finite number"),
        ));
    }
    Ok(x)
}

/// An optional number within `[min, max]`.
pub fn optional_f64_in(
    name: &str,
    raw: Option<&str>,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ApiError> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let x = required_f64(name, Some(raw))?;
    if !(min..=max).contains(&x) {
        return Err(ApiError::invalid_param(
            name,
            raw,
            format!("{name} must be between {min} and {max}, got {x}"),
        ));
    }
    Ok(Some(x))
}

/// An optional level (`county` … or 0–4).
pub fn optional_level(name: &str, raw: Option<&str>) -> Result<Option<Level>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Level>()
                .map_err(|e| ApiError::invalid_param(name, s, e.to_string()))
        })
        .transpose()
}

/// A unit code.
pub fn code(name: &str, raw: &str) -> Result<UnitCode, ApiError> {
    UnitCode::new(raw).map_err(|e| ApiError::invalid_param(name, raw, format!("{name}: {e}")))
}

/// An integer in `[0, max]`.
pub fn u32_at_most(name: &str, raw: &str, max: u32) -> Result<u32, ApiError> {
    let value: u32 = raw.parse().map_err(|_| {
        ApiError::invalid_param(
            name,
            raw,
            format!("{name} must be a whole number from 0 to {max}, got {raw:?}"),
        )
    })?;
    if value > max {
        return Err(ApiError::invalid_param(
            name,
            raw,
            format!("{name} must be at most {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// For PATCH bodies: a missing field is `None` (leave it), `null` is `Some(None)` (clear it),
/// a value is `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "…")]`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize as _;
    Option::<T>::deserialize(d).map(Some)
}

/// A phone number as stored: digits with optional `+`, spaces and dashes (3–31 characters).
pub fn phone(field: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let ok = (3..=31).contains(&trimmed.len())
        && trimmed.chars().enumerate().all(|(i, c)| {
            c.is_ascii_digit() || (i == 0 && c == '+') || (i > 0 && (c == ' ' || c == '-'))
        })
        && trimmed
            .chars()
            .nth(usize::from(trimmed.starts_with('+')))
            .is_some_and(|c| c.is_ascii_digit());
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "invalid_phone",
            field,
            format!("{field}: {raw:?} is not a phone number (digits, optional +, spaces, dashes)"),
        ))
    }
}

/// A name people see (1–100 characters, trimmed).
pub fn display_name(field: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let n = trimmed.chars().count();
    if (1..=100).contains(&n) && !trimmed.chars().any(char::is_control) {
        Ok(trimmed.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "invalid_name",
            field,
            format!("{field} must have 1 to 100 characters and no control characters"),
        ))
    }
}

/// An optional `true`/`false` (also `1`/`0`).
pub fn optional_bool(name: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid_param(
            name,
            other,
            format!("{name} must be true or false"),
        )),
    }
}

/// An optional integer in `[min, max]`.
pub fn optional_i64_in(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let x: i64 = raw.parse().map_err(|_| {
        ApiError::invalid_param(name, raw, format!("{name} must be an integer, got {raw:?}"))
    })?;
    if (min..=max).contains(&x) {
        Ok(Some(x))
    } else {
        Err(ApiError::invalid_param(
            name,
            raw,
            format!("{name} must be between {min} and {max}"),
        ))
    }
}

/// An optional RFC 3339 timestamp.
pub fn optional_time(
    name: &str,
    raw: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            ApiError::invalid_param(
                name,
                raw,
                format!("{name} must be an RFC 3339 time such as 2026-11-26T08:00:00+08:00 ({e})"),
            )
        })
}

/// The datum a resource's devices report in, as stored: `wgs84` or `gcj02` (also accepts
/// `WGS-84`, `EPSG:4326`, `GCJ-02`).
pub fn crs(field: &str, raw: &str) -> Result<&'static str, ApiError> {
    match crate::ingest::Crs::parse(raw) {
        Some(crate::ingest::Crs::Wgs84) => Ok("wgs84"),
        Some(crate::ingest::Crs::Gcj02) => Ok("gcj02"),
        None => Err(ApiError::unprocessable(
            "invalid_crs",
            field,
            format!("{field} must be wgs84 or gcj02, got {raw:?}"),
        )),
    }
}

/// A comma-separated list of names (empty: none), each one of `known` unless `known` is
/// empty.
pub fn comma_list(name: &str, raw: Option<&str>, known: &[&str]) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if known.is_empty() || known.contains(&s) {
                Ok(s.to_owned())
            } else {
                Err(ApiError::invalid_param(
                    name,
                    s,
                    format!("unknown {name} {s:?} (known: {})", known.join(", ")),
                ))
            }
        })
        .collect()
}

/// An optional `bbox=west,south,east,north` in WGS84 degrees (west ≤ east, south ≤ north).
#[allow(
    clippy::many_single_char_names,
    reason = "w, s, e, n: the box's west, south, east and north"
)]
pub fn bbox(raw: Option<&str>) -> Result<Option<[f64; 4]>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| ApiError::invalid_param("bbox", raw, format!("bbox: {why}"));
    let v: Vec<f64> = raw
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("four numbers west,south,east,north"))?;
    let [w, s, e, n] = v[..] else {
        return Err(bad("four numbers west,south,east,north"));
    };
    if !(-180.0..=180.0).contains(&w) || !(-180.0..=180.0).contains(&e) {
        return Err(bad("longitudes lie in [-180, 180]"));
    }
    if !(-90.0..=90.0).contains(&s) || !(-90.0..=90.0).contains(&n) {
        return Err(bad("latitudes lie in [-90, 90]"));
    }
    if w > e || s > n {
        return Err(bad("west ≤ east and south ≤ north"));
    }
    Ok(Some([w, s, e, n]))
}

/// The hierarchy in memory, or 503 `hierarchy_not_loaded` before the first import.
pub fn hierarchy(
    state: &crate::state::AppState,
) -> Result<std::sync::Arc<crate::hierarchy::LoadedHierarchy>, ApiError> {
    Ok(state.hierarchy.require()?)
}

/// The `unit` filter of a list: `None` when not given (or empty), else the `units.id` of that
/// unit when it lies in `territory`, and -1 (matches nothing) when it does not:
/// a unit outside the territory filters to nothing, like a unit that does not exist.
pub async fn unit_filter(
    pool: &sqlx::PgPool,
    territory: Territory,
    raw: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let code = code("unit", raw)?;
    Ok(Some(
        crate::db::users::unit_in_scope(pool, territory, code.as_str())
            .await?
            .map_or(-1, |(id, _)| id),
    ))
}
