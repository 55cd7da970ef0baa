//! Validated value types shared by the whole crate: coordinates, levels and unit codes.
//!
//! Everything here is checked on construction, so code that holds one never re-validates it.

use std::fmt;
use std::str::FromStr;

/// A position that is not a valid WGS84 coordinate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidLatLng {
    /// NaN or infinite.
    #[error("coordinates must be finite numbers (lat {lat}, lng {lng})")]
    NotFinite {
        /// The latitude given.
        lat: f64,
        /// The longitude given.
        lng: f64,
    },
    /// Latitude outside [-90, 90].
    #[error("latitude {0} is outside [-90, 90]")]
    LatOutOfRange(f64),
    /// Longitude outside [-180, 180].
    #[error("longitude {0} is outside [-180, 180]")]
    LngOutOfRange(f64),
}

/// A level that is neither a known name nor a number 0–4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?} (expected city, county, township, village, grid or 0–4)")]
pub struct InvalidLevel(pub String);

/// A malformed unit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCode {
    /// Empty or not only ASCII digits.
    #[error("unit code {0:?} must consist of digits only")]
    NotDigits(String),
    /// Not 6, 9, 12 or 15 digits.
    #[error("unit code {0:?} must have 6, 9, 12 or 15 digits")]
    Length(String),
    /// Well-formed, but not as long as its level requires.
    #[error("unit code {code:?} does not have the {} digits of a {level}", level.code_len())]
    LengthForLevel {
        /// The code given.
        code: String,
        /// The level it was given for.
        level: Level,
    },
}

/// A WGS84 position in degrees, `lat` in [-90, 90] and `lng` in [-180, 180], both finite.
///
/// Named fields on purpose: GeoJSON says (lng, lat), people say (lat, lng); Rust code says neither.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLng {
    lat: f64,
    lng: f64,
}

impl LatLng {
    /// Checks the range and finiteness of a position given in degrees.
    ///
    /// ```
    /// # use gridwall_spatial::LatLng;
    /// let p = LatLng::new(32.0, 120.9).unwrap();
    /// assert_eq!(p.lng(), 120.9);
    /// assert!(LatLng::new(91.0, 0.0).is_err());
    /// ```
    pub fn new(lat: f64, lng: f64) -> Result<Self, InvalidLatLng> {
        if !lat.is_finite() || !lng.is_finite() {
            return Err(InvalidLatLng::NotFinite { lat, lng });
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(InvalidLatLng::LatOutOfRange(lat));
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(InvalidLatLng::LngOutOfRange(lng));
        }
        Ok(Self { lat, lng })
    }

    /// Latitude in degrees.
    #[must_use]
    pub const fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    #[must_use]
    pub const fn lng(self) -> f64 {
        self.lng
    }
}

/// The level of a unit in the 王 hierarchy; the number is what PostGIS stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// 市: optional root.
    City = 0,
    /// 县（市、区）: top line.
    County = 1,
    /// 乡镇（街道）: middle line.
    Township = 2,
    /// 村（社区）.
    Village = 3,
    /// 网格: bottom line, the unit a grid worker patrols.
    Grid = 4,
}

impl Level {
    /// All levels, top to bottom.
    pub const ALL: [Self; 5] = [
        Self::City,
        Self::County,
        Self::Township,
        Self::Village,
        Self::Grid,
    ];

    /// The level from its stored number (0–4).
    pub fn from_number(n: i64) -> Result<Self, InvalidLevel> {
        match n {
            0 => Ok(Self::City),
            1 => Ok(Self::County),
            2 => Ok(Self::Township),
            3 => Ok(Self::Village),
            4 => Ok(Self::Grid),
            _ => Err(InvalidLevel(n.to_string())),
        }
    }

    /// The stored number (0–4).
    #[must_use]
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The English name used in APIs and files (`county`, `township`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::City => "city",
            Self::County => "county",
            Self::Township => "township",
            Self::Village => "village",
            Self::Grid => "grid",
        }
    }

    /// The Chinese name shown in the UI.
    #[must_use]
    pub const fn name_zh(self) -> &'static str {
        match self {
            Self::City => "市",
            Self::County => "县（市、区）",
            Self::Township => "乡镇（街道）",
            Self::Village => "村（社区）",
            Self::Grid => "网格",
        }
    }

    /// The level one below, `None` for a grid.
    #[must_use]
    pub const fn child(self) -> Option<Self> {
        match self {
            Self::City => Some(Self::County),
            Self::County => Some(Self::Township),
            Self::Township => Some(Self::Village),
            Self::Village => Some(Self::Grid),
            Self::Grid => None,
        }
    }

    /// How many digits a code of this level has (GB/T 2260 and its extensions).
    #[must_use]
    pub const fn code_len(self) -> usize {
        match self {
            Self::City | Self::County => 6,
            Self::Township => 9,
            Self::Village => 12,
            Self::Grid => 15,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = InvalidLevel;

    /// Accepts the English name (`county`) or the number (`1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "city" => Ok(Self::City),
            "county" => Ok(Self::County),
            "township" => Ok(Self::Township),
            "village" => Ok(Self::Village),
            "grid" => Ok(Self::Grid),
            other => other
                .parse::<i64>()
                .map_err(|_| InvalidLevel(other.to_owned()))
                .and_then(Self::from_number),
        }
    }
}

/// A unit code: ASCII digits only, 6 (city, county), 9 (township), 12 (village) or 15 (grid).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitCode(Box<str>);

impl UnitCode {
    /// Checks that `s` is a well-formed code of some level.
    pub fn new(s: &str) -> Result<Self, InvalidCode> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidCode::NotDigits(s.to_owned()));
        }
        if ![6, 9, 12, 15].contains(&s.len()) {
            return Err(InvalidCode::Length(s.to_owned()));
        }
        Ok(Self(s.into()))
    }

    /// Checks the code and that its length fits `level`.
    pub fn for_level(s: &str, level: Level) -> Result<Self, InvalidCode> {
        let code = Self::new(s)?;
        if code.0.len() == level.code_len() {
            Ok(code)
        } else {
            Err(InvalidCode::LengthForLevel {
                code: s.to_owned(),
                level,
            })
        }
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UnitCode {
    type Err = InvalidCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The `h3o` form of a position.
#[inline]
pub(crate) fn h3_latlng(p: LatLng) -> h3o::LatLng {
    h3o::LatLng::new(p.lat(), p.lng())
        .unwrap_or_else(|_| unreachable!("h3o refuses only non-finite numbers, a LatLng has none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latlng_rejects_bad_values() {
        assert!(LatLng::new(f64::NAN, 0.0).is_err());
        assert!(LatLng::new(0.0, f64::INFINITY).is_err());
        assert!(LatLng::new(-90.1, 0.0).is_err());
        assert!(LatLng::new(0.0, 180.5).is_err());
        assert!(LatLng::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn levels_parse_by_name_and_number() {
        assert_eq!("township".parse::<Level>().ok(), Some(Level::Township));
        assert_eq!("4".parse::<Level>().ok(), Some(Level::Grid));
        assert!("5".parse::<Level>().is_err());
        assert!("province".parse::<Level>().is_err());
    }

    #[test]
    fn codes_are_checked() {
        assert!(UnitCode::new("320613").is_ok());
        assert!(UnitCode::new("32061").is_err());
        assert!(UnitCode::new("32061a").is_err());
        assert!(UnitCode::for_level("320613001", Level::Township).is_ok());
        assert!(UnitCode::for_level("320613001", Level::Village).is_err());
    }
}
