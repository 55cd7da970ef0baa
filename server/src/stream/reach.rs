//! What one websocket client may read, derived from the rules its HTTP requests are held to,
//! so that the stream never shows more than HTTP: the live picture and the alerts need
//! `Permission::Read` (as `/api/workers`, `/api/vehicles`, tracks and `/api/alerts` do), cases
//! are read case by case ([`CaseReader`], as `GET /api/cases/{id}`), all inside the caller's
//! territory (`Caller::territory`); a subscribed unit must lie in the account's own territory
//! (as `GET /api/units/{code}`).

use gridwall_spatial::Scope;

use crate::auth::{Caller, Permission};
use crate::cases::CaseReader;
use crate::hierarchy::LoadedHierarchy;

/// What a client may read, resolved against one hierarchy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The units a subscription may name (`None`: none).
    pub units: Option<Scope>,
    /// Where the records it reads lie (`None`: nowhere).
    pub records: Option<Scope>,
    /// Reads the workers, vehicles and alerts of `records`.
    pub live: bool,
    /// Which cases of `records` it reads.
    pub cases: CaseReader,
}

impl Reach {
    /// What `caller` reads in `loaded` (`None`: no hierarchy imported yet).
    #[must_use]
    pub fn of(caller: &Caller, loaded: Option<&LoadedHierarchy>) -> Self {
        let units = match (caller.principal(), loaded) {
            (Some(p), Some(l)) => p.scope(l),
            (Some(p), None) => p.scope_unit.is_none().then_some(Scope::Everything),
            (None, _) => None,
        };
        Self {
            units,
            records: caller.scope(loaded),
            live: caller.may(Permission::Read),
            cases: CaseReader::of(caller),
        }
    }

    /// A center reader of `scope`: every layer, every record inside it.
    #[must_use]
    pub fn center(scope: Option<Scope>) -> Self {
        Self {
            units: scope,
            records: scope,
            live: true,
            cases: CaseReader::Territory,
        }
    }

    /// The layers that can carry anything for this reader, as the `hello` says.
    #[must_use]
    pub fn layers(&self) -> &'static [&'static str] {
        if self.live {
            &["workers", "vehicles", "cases", "alerts"]
        } else {
            &["cases"]
        }
    }
}
