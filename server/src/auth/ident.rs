//! The OsmAnd device identifier as a credential: the Traccar Client app sends nothing else, so
//! an unknown or revoked identifier is refused like a wrong token, and counted against the
//! address that sent it ([`IdentLimiter`](super::IdentLimiter)).

use std::net::IpAddr;

use sqlx::PgPool;

use super::token::hash_ident;
use super::{AuthState, Error};
use crate::db::resources::device_by_ident;

/// A phone authenticated by its OsmAnd identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsmandDevice {
    /// `devices.id`.
    pub device_id: i64,
    /// The worker or vehicle (`resources.id`) it reports for.
    pub resource_id: i64,
}

/// The device whose identifier is `ident`. Call [`IdentLimiter::admit`](super::IdentLimiter::admit)
/// first: a failure here counts against `address`.
///
/// # Errors
///
/// [`Error::Unauthorized`] `unknown_device` or `device_revoked` (revoked, or its resource
/// disabled); database failures.
pub async fn authenticate_ident(
    auth: &AuthState,
    pool: &PgPool,
    ident: &str,
    address: Option<IpAddr>,
) -> Result<OsmandDevice, Error> {
    let Some(row) = device_by_ident(pool, &hash_ident(ident)).await? else {
        auth.ident_limiter.failed(address);
        return Err(Error::unauthorized(
            "unknown_device",
            "this device identifier is not known; enter the one the command center issued",
        ));
    };
    if row.revoked {
        auth.ident_limiter.failed(address);
        return Err(Error::unauthorized(
            "device_revoked",
            "this device was revoked; ask the command center for a new identifier",
        ));
    }
    Ok(OsmandDevice {
        device_id: row.device_id,
        resource_id: row.resource_id,
    })
}
