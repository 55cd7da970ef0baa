//! Territorial scope (属地): the subtree of units a user may see and act on.
//!
//! A scope is either the whole hierarchy or one unit and everything below it. Membership is
//! decided by walking up from the unit (at most four steps in the 王 hierarchy), so it needs
//! no precomputed numbering and is valid for whichever [`Hierarchy`] it is asked against.

use crate::hierarchy::{Hierarchy, UnitId, UnitPath};

/// What a user may see: everything, or the subtree of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole hierarchy (city-wide roles).
    Everything,
    /// The unit and its descendants.
    Subtree(UnitId),
}

impl Scope {
    /// Whether `unit` lies in this scope (a unit is in its own subtree).
    #[must_use]
    pub fn contains(self, hierarchy: &Hierarchy, unit: UnitId) -> bool {
        let Self::Subtree(root) = self else {
            return true;
        };
        let mut at = Some(unit);
        while let Some(u) = at {
            if u == root {
                return true;
            }
            at = hierarchy.unit(u).parent;
        }
        false
    }

    /// Whether a located grid path lies in this scope; cheaper than [`Self::contains`] because
    /// the path already names every ancestor.
    #[must_use]
    pub fn contains_path(self, path: &UnitPath) -> bool {
        match self {
            Self::Everything => true,
            Self::Subtree(root) => {
                root == path.grid
                    || root == path.village
                    || root == path.township
                    || root == path.county
                    || path.city == Some(root)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use geo::{MultiPolygon, polygon};

    use super::*;
    use crate::{Level, UnitCode, UnitInput};

    fn unit(code: &str, level: Level, parent: Option<&str>, x: f64) -> UnitInput {
        let p = polygon![(x: 120.0 + x, y: 32.0), (x: 120.001 + x, y: 32.0),
                         (x: 120.001 + x, y: 32.001), (x: 120.0 + x, y: 32.001)];
        UnitInput {
            code: UnitCode::new(code).expect("code"),
            name: code.to_owned(),
            level,
            parent: parent.map(|p| UnitCode::new(p).expect("parent code")),
            polygon: MultiPolygon(vec![p]),
        }
    }

    #[test]
    fn subtree_membership_follows_parents() {
        let h = Hierarchy::build(
            vec![
                unit("320601", Level::County, None, 0.0),
                unit("320601001", Level::Township, Some("320601"), 0.0),
                unit("320601001001", Level::Village, Some("320601001"), 0.0),
                unit("320601001001001", Level::Grid, Some("320601001001"), 0.0),
                unit("320602", Level::County, None, 0.01),
                unit("320602001", Level::Township, Some("320602"), 0.01),
                unit("320602001001", Level::Village, Some("320602001"), 0.01),
                unit("320602001001001", Level::Grid, Some("320602001001"), 0.01),
            ],
            crate::DEFAULT_RESOLUTION,
        )
        .expect("hierarchy");
        let id = |c: &str| h.by_code(c).expect("unit");
        let township = Scope::Subtree(id("320601001"));
        assert!(township.contains(&h, id("320601001")));
        assert!(township.contains(&h, id("320601001001001")));
        assert!(
            !township.contains(&h, id("320601")),
            "an ancestor is outside"
        );
        assert!(
            !township.contains(&h, id("320602001001001")),
            "another county"
        );
        assert!(Scope::Everything.contains(&h, id("320602")));

        let path = h.path(id("320601001001001")).expect("path");
        assert!(township.contains_path(&path));
        assert!(!Scope::Subtree(id("320602")).contains_path(&path));
        assert!(Scope::Subtree(id("320601001001001")).contains_path(&path));
    }
}
