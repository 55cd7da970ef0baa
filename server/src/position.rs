//! One position report, checked: what every ingest path (the JSON batch, the OsmAnd protocol
//! in its query, form and JSON variants) turns its input into before anything is stored.
//!
//! Checks here need nothing but the report and the clock the caller passes: ranges, finiteness,
//! time not too far in the future, GCJ-02 → WGS84 when the input declares it. Whether the
//! resource exists and is in the caller's territory is decided later, against the database.

use chrono::{DateTime, TimeZone as _, Utc};
use gridwall_spatial::LatLng;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How far ahead of the server's clock a report may be (phones' clocks drift).
pub const MAX_FUTURE_S: i64 = 300;

/// The datum of incoming coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crs {
    /// WGS84, what GPS gives (the default).
    #[default]
    Wgs84,
    /// GCJ-02, what Chinese map SDKs report; converted to WGS84 on the way in.
    Gcj02,
}

impl Crs {
    /// Parses `wgs84` / `gcj02` (case-insensitive).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wgs84" | "wgs-84" | "epsg:4326" => Some(Self::Wgs84),
            "gcj02" | "gcj-02" => Some(Self::Gcj02),
            _ => None,
        }
    }
}

/// A checked position of one resource, in WGS84.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Where (WGS84, converted if the input was GCJ-02).
    pub position: LatLng,
    /// When the phone took the fix.
    pub at: DateTime<Utc>,
    /// Horizontal accuracy, metres.
    pub accuracy_m: Option<f32>,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f32>,
    /// Course, degrees clockwise from north, [0, 360).
    pub heading_deg: Option<f32>,
    /// Altitude, metres.
    pub altitude_m: Option<f32>,
    /// Battery level, percent 0–100.
    pub battery_pct: Option<f32>,
    /// The phone is charging.
    pub charging: Option<bool>,
    /// The worker pressed SOS (OsmAnd `alarm=sos`).
    pub sos: bool,
}

/// Why one report was refused; the others in its batch are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejection {
    /// Stable code: `invalid_lat`, `invalid_lng`, `not_finite`, `missing_field`,
    /// `invalid_time`, `future_time`, `invalid_value`, `unknown_resource`, `out_of_scope`.
    pub code: &'static str,
    /// For people: the field and the value.
    pub message: String,
}

impl Rejection {
    /// A refusal with its stable code and a message for people.
    #[must_use]
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A number from JSON or from a query string; `None` when absent or empty.
///
/// # Errors
///
/// `invalid_value` when it is not a number, `not_finite` for NaN or infinity.
pub fn number(field: &str, v: Option<&Value>) -> Result<Option<f64>, Rejection> {
    let x = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match x {
        None => Err(Rejection::new(
            "invalid_value",
            format!(
                "{field} must be a number, got {}",
                v.map_or_else(String::new, Value::to_string)
            ),
        )),
        Some(x) if !x.is_finite() => Err(Rejection::new(
            "not_finite",
            format!("{field} must be a finite number"),
        )),
        Some(x) => Ok(Some(x)),
    }
}

/// An optional number within `[min, max]`, as `f32`.
///
/// # Errors
///
/// As [`number`], and `invalid_value` outside the range.
pub fn number_in(
    field: &str,
    v: Option<&Value>,
    min: f64,
    max: f64,
) -> Result<Option<f32>, Rejection> {
    in_range(field, number(field, v)?, min, max)
}

/// A number already read (e.g. converted from knots) checked to lie within `[min, max]`, as
/// `f32`.
///
/// # Errors
///
/// `not_finite`, or `invalid_value` outside the range.
#[allow(
    clippy::cast_possible_truncation,
    reason = "checked range, f32 precision is plenty"
)]
pub fn in_range(field: &str, x: Option<f64>, min: f64, max: f64) -> Result<Option<f32>, Rejection> {
    match x {
        None => Ok(None),
        Some(x) if !x.is_finite() => Err(Rejection::new(
            "not_finite",
            format!("{field} must be a finite number"),
        )),
        Some(x) if (min..=max).contains(&x) => Ok(Some(x as f32)),
        Some(x) => Err(Rejection::new(
            "invalid_value",
            format!("{field} must be between {min} and {max}, got {x}"),
        )),
    }
}

/// A time: RFC 3339 / ISO-8601 text, or a number of seconds or milliseconds since 1970 (told
/// apart by size: from 1e11 on it is milliseconds, i.e. after 1973 in ms, before 5138 in s).
///
/// # Errors
///
/// `missing_field` when absent, `invalid_time` when unreadable.
pub fn time(field: &str, v: Option<&Value>) -> Result<DateTime<Utc>, Rejection> {
    let bad = |what: &str| Rejection::new("invalid_time", format!("{field}: {what}"));
    match v {
        None | Some(Value::Null) => Err(Rejection::new(
            "missing_field",
            format!("{field} is required"),
        )),
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return epoch(n).ok_or_else(|| bad("out of range"));
            }
            DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| bad(&format!("{s:?} is not an ISO-8601 time or a Unix time")))
        }
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(epoch)
            .ok_or_else(|| bad("out of range")),
        Some(other) => Err(bad(&format!("{other} is not a time"))),
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "range-checked before the cast"
)]
fn epoch(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() || !(0.0..=1e14).contains(&n) {
        return None;
    }
    let ms = if n >= 1e11 { n } else { n * 1000.0 };
    Utc.timestamp_millis_opt(ms.round() as i64).single()
}

/// The raw fields of one report, however they arrived.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    /// Latitude, degrees.
    pub lat: Option<&'a Value>,
    /// Longitude, degrees.
    pub lng: Option<&'a Value>,
    /// Fix time.
    pub at: Option<&'a Value>,
    /// Accuracy, m.
    pub accuracy_m: Option<&'a Value>,
    /// Speed, m/s (already converted from knots by the OsmAnd reader).
    pub speed_mps: Option<f64>,
    /// Heading, degrees.
    pub heading_deg: Option<&'a Value>,
    /// Altitude, m.
    pub altitude_m: Option<&'a Value>,
    /// Battery, percent.
    pub battery_pct: Option<f64>,
    pub charging: Option<bool>,
    /// The worker pressed SOS on the device.
    pub sos: bool,
    /// Datum of lat/lng.
    pub crs: Crs,
}

/// Checks one report's fields against `now`.
///
/// # Errors
///
/// The first thing wrong, as a [`Rejection`].
pub fn check(f: &Fields<'_>, now: DateTime<Utc>) -> Result<Report, Rejection> {
    let lat =
        number("lat", f.lat)?.ok_or_else(|| Rejection::new("missing_field", "lat is required"))?;
    let lng =
        number("lng", f.lng)?.ok_or_else(|| Rejection::new("missing_field", "lng is required"))?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(Rejection::new(
            "invalid_lat",
            format!("lat must be between -90 and 90, got {lat}"),
        ));
    }
    if !(-180.0..=180.0).contains(&lng) {
        return Err(Rejection::new(
            "invalid_lng",
            format!("lng must be between -180 and 180, got {lng}"),
        ));
    }
    let at = time("at", f.at)?;
    if (at - now).num_seconds() > MAX_FUTURE_S {
        return Err(Rejection::new(
            "future_time",
            format!("at ({at}) is more than {MAX_FUTURE_S} s ahead of the server's clock ({now})"),
        ));
    }
    let position =
        LatLng::new(lat, lng).map_err(|e| Rejection::new("invalid_value", e.to_string()))?;
    let position = match f.crs {
        Crs::Wgs84 => position,
        Crs::Gcj02 => gridwall_spatial::gcj02_to_wgs84(position),
    };
    let heading_deg =
        number_in("heading_deg", f.heading_deg, -360.0, 360.0)?.map(|h| h.rem_euclid(360.0));
    let speed_mps = in_range("speed_mps", f.speed_mps, 0.0, 150.0)?;
    let battery_pct = in_range("battery", f.battery_pct, 0.0, 100.0)?;
    Ok(Report {
        position,
        at,
        accuracy_m: number_in("accuracy_m", f.accuracy_m, 0.0, 100_000.0)?,
        speed_mps,
        heading_deg,
        altitude_m: number_in("altitude_m", f.altitude_m, -1_000.0, 20_000.0)?,
        battery_pct,
        charging: f.charging,
        sos: f.sos,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
            .single()
            .expect("time")
    }

    fn fields<'a>(lat: &'a Value, lng: &'a Value, at: &'a Value) -> Fields<'a> {
        Fields {
            lat: Some(lat),
            lng: Some(lng),
            at: Some(at),
            ..Fields::default()
        }
    }

    #[test]
    fn each_rejection_names_its_reason() {
        let ok_at = json!("2026-11-26T07:59:00Z");
        let cases = [
            (json!(91.0), json!(120.9), ok_at.clone(), "invalid_lat"),
            (json!(32.0), json!(-181), ok_at.clone(), "invalid_lng"),
            (json!("NaN"), json!(120.9), ok_at.clone(), "not_finite"),
            (json!("abc"), json!(120.9), ok_at.clone(), "invalid_value"),
            (
                json!(32.0),
                json!(120.9),
                json!("yesterday"),
                "invalid_time",
            ),
            (
                json!(32.0),
                json!(120.9),
                json!("2026-11-26T08:05:01Z"),
                "future_time",
            ),
            (Value::Null, json!(120.9), ok_at.clone(), "missing_field"),
            (json!(32.0), json!(120.9), Value::Null, "missing_field"),
        ];
        for (lat, lng, at, code) in cases {
            let got = check(&fields(&lat, &lng, &at), now()).expect_err("refused");
            assert_eq!(got.code, code, "{lat} {lng} {at}: {got:?}");
        }
        let at = json!("2026-11-26T08:04:59Z");
        assert!(
            check(&fields(&json!(32.0), &json!(120.9), &at), now()).is_ok(),
            "within 5 min ahead"
        );
    }

    #[test]
    fn times_in_seconds_milliseconds_and_iso() {
        let want = Utc
            .with_ymd_and_hms(2026, 11, 26, 7, 30, 0)
            .single()
            .expect("time");
        for v in [
            json!(1_795_678_200),
            json!(1_795_678_200_000_i64),
            json!("1795678200"),
            json!("1795678200000"),
            json!("2026-11-26T07:30:00Z"),
            json!("2026-11-26T15:30:00+08:00"),
            json!("2026-11-26T15:30:00.000+0800"),
        ] {
            assert_eq!(time("at", Some(&v)).expect("readable"), want, "{v}");
        }
    }

    #[test]
    fn gcj02_input_is_moved_to_wgs84() {
        let (lat, lng, at) = (
            json!(39.916_404_281_501_64),
            json!(116.410_244_499_169_38),
            json!("2026-11-26T07:59:00Z"),
        );
        let mut f = fields(&lat, &lng, &at);
        f.crs = Crs::Gcj02;
        let r = check(&f, now()).expect("ok");
        assert!(
            (r.position.lng() - 116.404).abs() < 1e-8,
            "{:?}",
            r.position
        );
        assert!((r.position.lat() - 39.915).abs() < 1e-8, "{:?}", r.position);
    }
}
