//! Parsing of query and path parameters into checked values, with errors that name the
//! parameter and the value given.

use gridwall_spatial::{Level, UnitCode};

use super::error::ApiError;

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
