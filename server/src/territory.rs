//! Territory (属地), the product's first rule: a caller sees and acts only inside it.
//!
//! In SQL a territory is one mechanism, the function `territory(root)` of
//! `migrations/0008_territory.sql`: bind [`Territory::root`] as `$n` and join
//!
//! ```sql
//! JOIN territory($n) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
//! ```
//!
//! where `g` is the unit the row belongs to. In memory the same territory is a
//! `gridwall_spatial::Scope` of the loaded hierarchy.

/// The part of the hierarchy a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Territory {
    /// The whole hierarchy (a city-wide account, the server itself).
    All,
    /// The subtree under one unit (`units.id`), the unit included.
    Subtree(i64),
}

impl Territory {
    /// The territory rooted at `unit` (`None`: everything), as accounts store it.
    #[must_use]
    pub fn rooted_at(unit: Option<i64>) -> Self {
        unit.map_or(Self::All, Self::Subtree)
    }

    /// The value to bind for `territory($n)`: the root unit, NULL for everything.
    #[must_use]
    pub fn root(self) -> Option<i64> {
        match self {
            Self::All => None,
            Self::Subtree(unit) => Some(unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Territory;

    #[test]
    fn the_root_round_trips() {
        assert_eq!(Territory::rooted_at(None), Territory::All);
        assert_eq!(Territory::rooted_at(Some(7)).root(), Some(7));
        assert_eq!(Territory::All.root(), None);
    }
}
