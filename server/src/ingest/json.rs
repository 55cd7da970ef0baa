//! The JSON batch decoder of `POST /api/positions`: a body of `{"positions": [...], "crs"?}` or
//! a bare array, read item by item so that one bad item is that item's rejection and the others
//! go on. The datum of the request (the query's, else the body's) is checked here; each item's
//! report is built later, once its resource (and so the resource's own datum) is known.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::accept::Item;
use super::error::{Error, Result};
use crate::position::{Crs, Fields, Rejection, Report, check, number};

/// Most positions in one request.
pub const MAX_BATCH: usize = 10_000;

/// One position of a batch, with the datum the request declared.
#[derive(Debug)]
pub struct JsonItem<'a> {
    item: ItemIn<'a>,
    /// The query's or the body's `crs`; `None`: the resource's own.
    crs: Option<Crs>,
}

impl Item for JsonItem<'_> {
    fn resource(&self) -> Result<Option<i64>, Rejection> {
        self.item.resource()
    }

    fn report(&self, resource_crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
        self.item.report(self.crs.unwrap_or(resource_crs), now)
    }
}

/// Reads a batch: its items, each still to be checked, in the order sent. `query_crs` is the
/// query's `crs`, which wins over the body's.
///
/// # Errors
///
/// [`Error::InvalidJson`], [`Error::InvalidBody`], [`Error::BatchTooLarge`] (more than
/// [`MAX_BATCH`] items), [`Error::InvalidCrs`].
pub fn read<'a>(bytes: &'a [u8], query_crs: Option<&str>) -> Result<Vec<JsonItem<'a>>> {
    let body = Body::read(bytes)?;
    if body.items.len() > MAX_BATCH {
        return Err(Error::BatchTooLarge(body.items.len()));
    }
    let crs = match parse_crs(query_crs)? {
        Some(c) => Some(c),
        None => parse_crs(body.crs.as_deref())?,
    };
    Ok(body
        .items
        .into_iter()
        .map(|item| JsonItem { item, crs })
        .collect())
}

fn parse_crs(raw: Option<&str>) -> Result<Option<Crs>> {
    raw.map(|c| Crs::parse(c).ok_or_else(|| Error::InvalidCrs(c.to_owned())))
        .transpose()
}

/// One item of a batch, as sent.
type ItemObject = serde_json::Map<String, Value>;

/// A request body: its items still unparsed (each is read on its own, so that one bad item
/// is that item's rejection) and the batch's datum.
struct Body<'a> {
    items: Vec<ItemIn<'a>>,
    crs: Option<String>,
}

/// The wrapped form of a body, `{"positions": [...], "crs": "..."}`.
#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow)]
    positions: Option<Vec<&'a serde_json::value::RawValue>>,
    crs: Option<Value>,
}

impl<'a> Body<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let (raw, crs) = match first {
            Some(b'[') => (
                serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(bytes)
                    .map_err(Error::InvalidJson)?,
                None,
            ),
            Some(b'{') => {
                let w: Wrapped<'_> = serde_json::from_slice(bytes).map_err(|e| {
                    if e.is_data() {
                        Error::InvalidBody
                    } else {
                        Error::InvalidJson(e)
                    }
                })?;
                (
                    w.positions.ok_or(Error::InvalidBody)?,
                    w.crs.as_ref().and_then(Value::as_str).map(str::to_owned),
                )
            }
            _ => {
                // Not an array or object: say whether it is JSON at all.
                serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                    .map_err(Error::InvalidJson)?;
                return Err(Error::InvalidBody);
            }
        };
        let items = raw.into_iter().map(ItemIn::read).collect();
        Ok(Self { items, crs })
    }
}

/// One item: the usual shape read straight into its fields, any other object as a JSON tree
/// (whose reader names what is wrong), anything else refused as it is read.
#[derive(Debug)]
enum ItemIn<'a> {
    Fast(Box<FastItem<'a>>),
    Object(ItemObject),
    /// Not an object, or not readable as a JSON value (e.g. a number too large for a double).
    Refused(Rejection),
}

/// An item whose fields have their usual types: numbers as numbers, `at` a number or text.
#[derive(Debug, Deserialize)]
struct FastItem<'a> {
    resource: Option<i64>,
    lat: Option<f64>,
    lng: Option<f64>,
    #[serde(borrow)]
    at: Option<TimeIn<'a>>,
    accuracy_m: Option<f64>,
    speed_mps: Option<f64>,
    heading_deg: Option<f64>,
    altitude_m: Option<f64>,
    battery: Option<f64>,
    charging: Option<bool>,
    sos: Option<bool>,
    #[serde(borrow)]
    crs: Option<&'a str>,
}

/// `at` as sent: a number (Unix seconds or milliseconds) or text.
#[derive(Debug)]
enum TimeIn<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'de: 'a, 'a> Deserialize<'de> for TimeIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TimeIn<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            #[allow(clippy::cast_precision_loss, reason = "times are far below 2^52")]
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v as f64))
            }
            #[allow(clippy::cast_precision_loss, reason = "times are far below 2^52")]
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TimeIn::Number(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TimeIn::Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> ItemIn<'a> {
    fn read(raw: &'a serde_json::value::RawValue) -> Self {
        match serde_json::from_str::<FastItem<'a>>(raw.get()) {
            Ok(f) => Self::Fast(Box::new(f)),
            // Valid JSON (the body parsed), so this only fails on a strange item, whose
            // tree says what is wrong with it.
            Err(_) => match serde_json::from_str(raw.get()) {
                Ok(Value::Object(o)) => Self::Object(o),
                Ok(other) => Self::Refused(Rejection::new(
                    "invalid_value",
                    format!("each position must be an object, got {other}"),
                )),
                Err(e) => Self::Refused(Rejection::new(
                    "invalid_value",
                    format!("this position is not readable: {e}"),
                )),
            },
        }
    }

    /// The resource it names, `None` when it names none.
    fn resource(&self) -> Result<Option<i64>, Rejection> {
        match self {
            Self::Fast(f) => Ok(f.resource),
            Self::Object(o) => match o.get("resource") {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    Rejection::new(
                        "invalid_value",
                        format!("resource must be an integer id, got {v}"),
                    )
                }),
            },
            Self::Refused(r) => Err(r.clone()),
        }
    }

    fn report(&self, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
        match self {
            Self::Fast(f) => f.report(crs, now),
            Self::Object(o) => item_report(o, crs, now),
            Self::Refused(r) => Err(r.clone()),
        }
    }
}

impl FastItem<'_> {
    /// The same checks as the tree's, on the same values.
    fn report(&self, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
        let crs = item_crs(self.crs, crs)?;
        let num = |x: Option<f64>| x.map(Value::from);
        let (lat, lng) = (num(self.lat), num(self.lng));
        let at = self.at.as_ref().map(|t| match t {
            TimeIn::Number(n) => Value::from(*n),
            TimeIn::Text(s) => Value::from(*s),
        });
        let (accuracy_m, heading_deg, altitude_m) = (
            num(self.accuracy_m),
            num(self.heading_deg),
            num(self.altitude_m),
        );
        check(
            &Fields {
                lat: lat.as_ref(),
                lng: lng.as_ref(),
                at: at.as_ref(),
                accuracy_m: accuracy_m.as_ref(),
                speed_mps: self.speed_mps,
                heading_deg: heading_deg.as_ref(),
                altitude_m: altitude_m.as_ref(),
                battery_pct: self.battery,
                charging: self.charging,
                sos: self.sos.unwrap_or(false),
                crs,
            },
            now,
        )
    }
}

/// An item's own datum when it names one, else the batch's.
fn item_crs(named: Option<&str>, batch: Crs) -> Result<Crs, Rejection> {
    named.map_or(Ok(batch), |c| {
        Crs::parse(c)
            .ok_or_else(|| Rejection::new("invalid_value", format!("crs {c:?} is unknown")))
    })
}

/// Checks one JSON item.
fn item_report(o: &ItemObject, crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection> {
    let crs = item_crs(o.get("crs").and_then(Value::as_str), crs)?;
    let sos = match o.get("sos") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(Rejection::new(
                "invalid_value",
                format!("sos must be true or false, got {v}"),
            ));
        }
    };
    check(
        &Fields {
            lat: o.get("lat"),
            lng: o.get("lng"),
            at: o.get("at"),
            accuracy_m: o.get("accuracy_m"),
            speed_mps: number("speed_mps", o.get("speed_mps"))?,
            heading_deg: o.get("heading_deg"),
            altitude_m: o.get("altitude_m"),
            battery_pct: number("battery", o.get("battery"))?,
            charging: o.get("charging").and_then(Value::as_bool),
            sos,
            crs,
        },
        now,
    )
}
