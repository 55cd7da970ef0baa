//! Error types of the crate; each carries the value that was wrong and why.

use crate::types::Level;

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

/// Why a [`crate::Hierarchy`] could not be built from the given units.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HierarchyError {
    /// Two units share one code.
    #[error("duplicate unit code {0}")]
    DuplicateCode(String),
    /// A unit names a parent that is not among the units.
    #[error("unit {code} names unknown parent {parent}")]
    UnknownParent {
        /// The child.
        code: String,
        /// The missing parent.
        parent: String,
    },
    /// A unit's level is not one below its parent's, or a non-root has no parent.
    #[error("unit {code} has level {level} but its parent {parent} has level {parent_level}")]
    LevelMismatch {
        /// The child.
        code: String,
        /// Its level.
        level: Level,
        /// The parent.
        parent: String,
        /// The parent's level.
        parent_level: Level,
    },
    /// A unit below the county level has no parent.
    #[error("unit {code} of level {level} has no parent")]
    MissingParent {
        /// The unit.
        code: String,
        /// Its level.
        level: Level,
    },
    /// A grid polygon that cannot be covered (empty, or coordinates outside WGS84).
    #[error("unit {code} has an invalid polygon: {reason}")]
    InvalidPolygon {
        /// The unit.
        code: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many units or cells for the compact 32-bit ids.
    #[error("hierarchy too large: {0}")]
    TooLarge(String),
}

/// A query of the live index with arguments it cannot answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveQueryError {
    /// A bounding box that is not finite, outside WGS84, inverted, or across the antimeridian.
    #[error(
        "invalid bounding box (west {west}, south {south}, east {east}, north {north}): {reason}"
    )]
    InvalidBbox {
        /// West edge, degrees of longitude.
        west: f64,
        /// South edge, degrees of latitude.
        south: f64,
        /// East edge, degrees of longitude.
        east: f64,
        /// North edge, degrees of latitude.
        north: f64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A radius or maximum distance that is negative or NaN.
    #[error("distance {0} m must be a number ≥ 0")]
    InvalidDistance(f64),
}
