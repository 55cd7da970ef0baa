//! Error types of the crate; each carries the value that was wrong and why.

use crate::types::Level;

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
        /// Code of the child unit.
        code: String,
        /// Level of the child unit.
        level: Level,
        /// Code of the parent unit.
        parent: String,
        /// Level of the parent unit.
        parent_level: Level,
    },
    /// A unit below the county level has no parent.
    #[error("unit {code} of level {level} has no parent")]
    MissingParent {
        /// Code of the unit without a parent.
        code: String,
        /// Its level, below the county.
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
