//! The OsmAnd protocol, as the Traccar Client phone app speaks it, so that an unmodified app
//! can report: GET or POST with the query or a form (`id`, `lat`, `lon`, `timestamp`, `speed`
//! in knots, `bearing`, `altitude`, `accuracy`, `batt`, `charge`, `alarm`), or POST with the
//! app's JSON body (`device_id`, `location.coords.*` with speed in m/s, `location.battery`).
//!
//! The app sends no secret besides the device identifier, so the identifier Gridwall issues
//! with each device is itself random and is the credential here (checked by the caller, with
//! `auth::authenticate_ident`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::IngestContext;
use super::accept::{self, Item, Sender};
use super::error::{Error, Result};
use crate::live::Applied;
use crate::position::{Crs, Fields, Rejection, Report, check, number};

/// Knots to metres per second (1 kn = 1852 m / 3600 s).
pub const MPS_PER_KNOT: f64 = 1852.0 / 3600.0;

/// One OsmAnd report: who says it, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmandReport {
    /// The device identifier (`id` or `device_id`).
    pub device_ident: String,
    /// The checked report.
    pub report: Report,
    /// The request named its datum (`crs`); else the report is WGS84 as the app sends it,
    /// unless the resource is set to GCJ-02.
    pub crs_declared: bool,
}

/// Why an OsmAnd request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsmandError {
    /// No device identifier: nobody to attribute the report to.
    NoDevice,
    /// The report itself is wrong.
    Invalid(Rejection),
}

impl From<OsmandError> for Error {
    fn from(e: OsmandError) -> Self {
        match e {
            OsmandError::NoDevice => Self::MissingDeviceId,
            OsmandError::Invalid(r) => Self::Rejected(r),
        }
    }
}

/// Reads a request: `post` or not, its raw query, and for a POST its content type and body
/// (the app's JSON, or a form whose fields join the query's).
///
/// # Errors
///
/// [`Error::InvalidJson`] for a JSON body that is not JSON, [`Error::MissingDeviceId`],
/// [`Error::Rejected`] for a bad field.
pub fn read(
    post: bool,
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<OsmandReport> {
    let mut params = form_pairs(query.unwrap_or("").as_bytes());
    let mut report = if post && content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(Error::InvalidJson)?;
        from_json(&v, now)?
    } else {
        if post && !body.is_empty() {
            params.extend(form_pairs(body));
        }
        from_params(&params, now)?
    };
    // The JSON variant reads no datum of its own, but a `crs` in its query still says the
    // app's coordinates are not to be converted.
    report.crs_declared = params.contains_key("crs");
    Ok(report)
}

fn form_pairs(raw: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// The OsmAnd report of an authenticated device's resource: ingest's pipeline for one item,
/// whose refusal refuses the request.
///
/// # Errors
///
/// [`Error::FixTooOld`], [`Error::ResourceGone`], [`Error::Rejected`] for another refusal,
/// and the pipeline's errors (see [`accept::accept`]).
pub async fn accept(
    ctx: &impl IngestContext,
    resource_id: i64,
    report: &OsmandReport,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let mut outcomes = accept::accept(
        ctx,
        Sender::Device { resource_id },
        std::slice::from_ref(report),
        now,
    )
    .await?;
    match outcomes.pop() {
        Some(Ok(applied)) => Ok(applied),
        Some(Err(r)) if r.code == "too_old" => Err(Error::FixTooOld),
        Some(Err(r)) if r.code != "unknown_resource" => Err(Error::Rejected(r)),
        // The device's row outlived its resource (one outcome per item: never none).
        _ => Err(Error::ResourceGone),
    }
}

impl Item for OsmandReport {
    fn resource(&self) -> Result<Option<i64>, Rejection> {
        Ok(None)
    }

    fn report(&self, resource_crs: Crs, _now: DateTime<Utc>) -> Result<Report, Rejection> {
        let mut report = self.report.clone();
        // The app reports WGS84 unless the server says otherwise for this resource; `from_*`
        // converted already when the request declared crs=gcj02.
        if resource_crs == Crs::Gcj02 && !self.crs_declared {
            report.position = gridwall_spatial::gcj02_to_wgs84(report.position);
        }
        Ok(report)
    }
}

fn ident(raw: Option<&str>) -> Result<String, OsmandError> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .map(str::to_owned)
        .ok_or(OsmandError::NoDevice)
}

fn truthy(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// Reads the query-string or form variant. `params` are the decoded pairs (a later duplicate
/// wins, as in most form readers).
///
/// # Errors
///
/// [`OsmandError::NoDevice`] without `id`/`deviceid`, [`OsmandError::Invalid`] for a bad field.
pub fn from_params<S: std::hash::BuildHasher>(
    params: &HashMap<String, String, S>,
    now: DateTime<Utc>,
) -> Result<OsmandReport, OsmandError> {
    let get = |k: &str| params.get(k).map(String::as_str);
    let device_ident = ident(get("id").or_else(|| get("deviceid")))?;
    let value = |k: &str| get(k).map(|s| Value::String(s.to_owned()));
    let (lat, lng) = (value("lat"), value("lon").or_else(|| value("lng")));
    // The app leaves the time out when it has none; the fix is then "now".
    let at = value("timestamp").unwrap_or_else(|| Value::String(now.to_rfc3339()));
    let (accuracy, bearing, altitude) = (
        value("accuracy"),
        value("bearing").or_else(|| value("heading")),
        value("altitude"),
    );
    let speed_kn = number("speed", value("speed").as_ref()).map_err(OsmandError::Invalid)?;
    let battery = number("batt", value("batt").as_ref()).map_err(OsmandError::Invalid)?;
    let crs = match get("crs") {
        None => Crs::Wgs84,
        Some(c) => Crs::parse(c).ok_or_else(|| {
            OsmandError::Invalid(Rejection {
                code: "invalid_value",
                message: format!("crs must be wgs84 or gcj02, got {c:?}"),
            })
        })?,
    };
    let fields = Fields {
        lat: lat.as_ref(),
        lng: lng.as_ref(),
        at: Some(&at),
        accuracy_m: accuracy.as_ref(),
        speed_mps: speed_kn.filter(|s| *s >= 0.0).map(|kn| kn * MPS_PER_KNOT),
        heading_deg: bearing.as_ref(),
        altitude_m: altitude.as_ref(),
        battery_pct: battery.filter(|b| *b >= 0.0),
        charging: get("charge").map(truthy),
        sos: get("alarm").is_some_and(|a| a.trim().eq_ignore_ascii_case("sos")),
        crs,
    };
    let report = check(&fields, now).map_err(OsmandError::Invalid)?;
    Ok(OsmandReport {
        device_ident,
        report,
        crs_declared: params.contains_key("crs"),
    })
}

/// Reads the app's JSON body.
///
/// # Errors
///
/// As [`from_params`].
pub fn from_json(body: &Value, now: DateTime<Utc>) -> Result<OsmandReport, OsmandError> {
    let device_ident = ident(body.get("device_id").and_then(Value::as_str))?;
    let location = body.get("location").unwrap_or(&Value::Null);
    let coords = location.get("coords").unwrap_or(&Value::Null);
    let battery = location.get("battery").unwrap_or(&Value::Null);
    // The app reports -1 for "unknown" speed, heading and battery.
    let known = |field: &str, v: Option<&Value>| -> Result<Option<f64>, OsmandError> {
        Ok(number(field, v)
            .map_err(OsmandError::Invalid)?
            .filter(|x| *x >= 0.0))
    };
    let speed = known("speed", coords.get("speed"))?;
    let level = known("battery.level", battery.get("level"))?;
    let heading = known("heading", coords.get("heading"))?.map(Value::from);
    let sos = location
        .get("event")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("sos"))
        || body
            .get("alarm")
            .and_then(Value::as_str)
            .is_some_and(|a| a.eq_ignore_ascii_case("sos"));
    let fields = Fields {
        lat: coords.get("latitude"),
        lng: coords.get("longitude"),
        at: location.get("timestamp"),
        accuracy_m: coords.get("accuracy"),
        speed_mps: speed,
        heading_deg: heading.as_ref(),
        altitude_m: coords.get("altitude"),
        // A fraction 0–1 in this format.
        battery_pct: level.map(|l| if l <= 1.0 { l * 100.0 } else { l }),
        charging: battery.get("is_charging").and_then(Value::as_bool),
        sos,
        crs: Crs::Wgs84,
    };
    let report = check(&fields, now).map_err(OsmandError::Invalid)?;
    Ok(OsmandReport {
        device_ident,
        report,
        crs_declared: false,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0)
            .single()
            .expect("time")
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_variant_in_every_time_form_with_knots() {
        let want = Utc
            .with_ymd_and_hms(2026, 11, 26, 7, 30, 0)
            .single()
            .expect("time");
        for ts in ["1795678200", "1795678200000", "2026-11-26T07:30:00Z"] {
            let r = from_params(
                &params(&[
                    ("id", "dev-1"),
                    ("lat", "32.01"),
                    ("lon", "120.86"),
                    ("timestamp", ts),
                    ("speed", "10"),
                    ("bearing", "-10"),
                    ("altitude", "5"),
                    ("accuracy", "8"),
                    ("batt", "76"),
                    ("charge", "true"),
                    ("alarm", "sos"),
                ]),
                now(),
            )
            .expect("accepted");
            assert_eq!(r.device_ident, "dev-1");
            assert_eq!(r.report.at, want, "{ts}");
            let speed = f64::from(r.report.speed_mps.expect("speed"));
            assert!(
                (speed - 5.144_444).abs() < 1e-4,
                "10 kn = 5.144 m/s, got {speed}"
            );
            assert_eq!(
                r.report.heading_deg,
                Some(350.0),
                "a negative bearing is turned into [0, 360)"
            );
            assert_eq!(r.report.battery_pct, Some(76.0));
            assert_eq!(r.report.charging, Some(true));
            assert!(r.report.sos);
        }
    }

    #[test]
    fn query_variant_refusals() {
        assert_eq!(
            from_params(&params(&[("lat", "32"), ("lon", "120")]), now()),
            Err(OsmandError::NoDevice)
        );
        let bad = from_params(
            &params(&[("id", "d"), ("lat", "95"), ("lon", "120")]),
            now(),
        );
        assert!(matches!(bad, Err(OsmandError::Invalid(r)) if r.code == "invalid_lat"));
        let no_time = from_params(
            &params(&[("id", "d"), ("lat", "32"), ("lon", "120")]),
            now(),
        )
        .expect("a report without time is taken as now");
        assert_eq!(no_time.report.at, now());
    }

    #[test]
    fn json_variant() {
        let body = json!({
            "device_id": "dev-2",
            "location": {
                "timestamp": "2026-11-26T07:59:30.000Z",
                "coords": {"latitude": 32.01, "longitude": 120.86, "accuracy": 12.5,
                           "speed": 1.4, "heading": -1, "altitude": 3.0},
                "battery": {"level": 0.42, "is_charging": false},
                "is_moving": true,
                "event": "motionchange"
            }
        });
        let r = from_json(&body, now()).expect("accepted");
        assert_eq!(r.device_ident, "dev-2");
        assert_eq!(r.report.speed_mps, Some(1.4));
        assert_eq!(r.report.heading_deg, None, "-1 means unknown");
        assert_eq!(r.report.battery_pct, Some(42.0));
        assert_eq!(r.report.charging, Some(false));
        assert!(!r.report.sos);
        assert_eq!(
            from_json(&json!({"location": {}}), now()),
            Err(OsmandError::NoDevice)
        );
    }

    #[test]
    fn a_declared_datum_is_remembered_and_wins_over_the_resources() {
        let at = "2026-11-26T07:59:30Z";
        let query = format!("id=d&lat=32.01&lon=120.86&timestamp={at}");
        let undeclared = read(false, Some(&query), "", &[], now()).expect("accepted");
        assert!(!undeclared.crs_declared);
        let converted = undeclared.report(Crs::Gcj02, now()).expect("report");
        assert_ne!(
            converted.position, undeclared.report.position,
            "GCJ-02 resource"
        );
        assert_eq!(
            undeclared.report(Crs::Wgs84, now()).expect("report"),
            undeclared.report
        );
        let declared =
            read(false, Some(&format!("{query}&crs=wgs84")), "", &[], now()).expect("accepted");
        assert!(declared.crs_declared);
        assert_eq!(
            declared.report(Crs::Gcj02, now()).expect("report"),
            declared.report,
            "a declared datum is not converted again"
        );
        // The JSON variant has no datum of its own; its query's still counts as declared.
        let body = json!({"device_id": "d", "location": {"timestamp": at,
            "coords": {"latitude": 32.01, "longitude": 120.86}}})
        .to_string();
        let json = read(
            true,
            Some("crs=gcj02"),
            "application/json",
            body.as_bytes(),
            now(),
        )
        .expect("accepted");
        assert!(json.crs_declared);
        assert!(matches!(
            read(true, None, "application/json", b"{", now()),
            Err(Error::InvalidJson(_))
        ));
        assert!(matches!(
            read(false, Some("lat=1&lon=2"), "", &[], now()),
            Err(Error::MissingDeviceId)
        ));
    }
}
