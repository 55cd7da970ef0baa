//! How every response names a unit of the hierarchy: one type, so a grid reads the same in a
//! case, a worker, a vehicle, an alert and a located position.

use serde::Serialize;
use utoipa::ToSchema;

/// A unit by code and name, with its level where the field does not imply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnitRef {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level 0–4 (city, county, township, village, grid); absent where a response has always
    /// named the unit without it (a case's grid, a worker's home grid, an alert's unit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<i16>,
}

impl UnitRef {
    /// A unit named without its level.
    #[must_use]
    pub fn new(code: String, name: String) -> Self {
        Self {
            code,
            name,
            level: None,
        }
    }

    /// The unit a row names with three nullable columns (code, name, level), as a joined
    /// unit reads: `None` unless all three are there.
    #[must_use]
    pub fn of_row(code: Option<String>, name: Option<String>, level: Option<i16>) -> Option<Self> {
        match (code, name, level) {
            (Some(code), Some(name), Some(level)) => Some(Self::at_level(code, name, level)),
            _ => None,
        }
    }

    /// A unit of any level.
    #[must_use]
    pub fn at_level(code: String, name: String, level: i16) -> Self {
        Self {
            code,
            name,
            level: Some(level),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_left_out_only_when_implied() {
        let grid = UnitRef::new("320602001001001".into(), "一网格".into());
        assert_eq!(
            serde_json::to_value(&grid).ok(),
            Some(serde_json::json!({ "code": "320602001001001", "name": "一网格" }))
        );
        let county = UnitRef::at_level("320602".into(), "崇川区".into(), 1);
        assert_eq!(
            serde_json::to_value(&county).ok(),
            Some(serde_json::json!({ "code": "320602", "name": "崇川区", "level": 1 }))
        );
    }
}
