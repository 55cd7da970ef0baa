//! Accounts, sessions, devices and territorial scope (属地).
//!
//! Every route that is not public takes a [`Principal`] (a logged-in user) or a [`Device`]
//! (a phone) as an extractor; that is the one place where credentials are read and checked.
//! Scope is applied from the principal: [`Principal::territory`] for SQL (every scoped query
//! joins `territory($n)`, see [`crate::territory`]) and [`Principal::scope`] for the in-memory
//! hierarchy.
//!
//! Credentials are random tokens (256 bits), prefixed by kind (`gws_` session, `gwd_` device)
//! so a misused token gets a precise error; only their SHA-256 is stored. Passwords are
//! argon2id.

mod caller;
mod device;
mod error;
mod ident;
mod ident_limiter;
mod mask;
mod password;
mod policy;
mod session;
mod throttle;
mod token;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gridwall_spatial::Scope;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast};
use utoipa::ToSchema;

pub use caller::Caller;
pub use device::{ClientAddr, Device, SESSION_COOKIE, authenticate_device, session_cookie};
pub use error::Error;
pub use ident::{OsmandDevice, authenticate_ident};
pub use ident_limiter::IdentLimiter;
pub use mask::mask_phone;
pub use password::{
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, MIN_PASSWORD_SCORE, PasswordError, generate_password,
    hash_password, validate_password, verify_password,
};
pub use policy::Permission;
pub use session::{
    SessionCheck, check_token, create_session, purge_old, recheck, revoke_session,
    revoke_user_sessions,
};
pub use throttle::{LoginThrottle, ThrottleDecision};

pub use crate::territory::Territory;
pub use token::{TokenKind, hash_ident, hash_token, new_ident, new_token};

use crate::hierarchy::LoadedHierarchy;
use crate::unit_ref::UnitRef;

/// What a user may do; one per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything; manages users and the hierarchy.
    Admin,
    /// Reads everything in scope: maps, KPIs, tracks.
    Leader,
    /// Reads in scope; creates, assigns, escalates and closes cases; manages workers' devices.
    Dispatcher,
    /// Reads in scope; registers cases.
    Operator,
    /// A grid worker: their own positions and assigned cases.
    Worker,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 5] = [
        Self::Admin,
        Self::Leader,
        Self::Dispatcher,
        Self::Operator,
        Self::Worker,
    ];

    /// The roles that read data of their territory (everyone but workers).
    pub const READERS: [Self; 4] = [Self::Admin, Self::Leader, Self::Dispatcher, Self::Operator];

    /// The roles that manage workers and their devices.
    pub const MANAGERS: [Self; 2] = [Self::Admin, Self::Dispatcher];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Leader => "leader",
            Self::Dispatcher => "dispatcher",
            Self::Operator => "operator",
            Self::Worker => "worker",
        }
    }

    /// Parses a stored or given name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role sees phone numbers in clear (others get them masked).
    #[must_use]
    pub fn sees_phone_numbers(self) -> bool {
        matches!(self, Self::Admin | Self::Dispatcher)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Session and login policy.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, whatever happens.
    pub max_age: Duration,
    /// Mark the cookie `Secure` (the server is behind HTTPS).
    pub secure_cookies: bool,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy).
    pub trust_forwarded_for: bool,
    /// How often an open websocket re-checks its session.
    pub ws_recheck: Duration,
    /// Failed logins at one user name from one address within `throttle_window` before that
    /// pair is locked (the account stays open to other addresses).
    pub max_failures_per_user_address: i32,
    /// Failed logins at one user name from all addresses within `throttle_window` before the
    /// account is locked for everyone: well above the pair's ceiling, so that one stranger
    /// cannot lock an account out.
    pub max_failures_per_user: i32,
    /// Failed logins from one address within `throttle_window` before it is locked.
    pub max_failures_per_address: i32,
    /// The window failures are counted in.
    pub throttle_window: Duration,
    /// How long a lock-out lasts.
    pub lockout: Duration,
    /// Active device tokens one worker may have.
    pub max_devices_per_resource: i64,
    /// Origins allowed to call the API from another site (CORS); empty = none.
    pub cors_origins: Vec<String>,
    /// How long a valid session is trusted from memory before the database is asked again
    /// (zero: every request asks). Expiry by age and idle time is still decided at once, and
    /// logout, password changes and disabling in this process end it at once; a session
    /// ended behind the server's back (another instance, SQL) stops working within this time.
    pub session_cache: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(2 * 3600),
            max_age: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            trust_forwarded_for: false,
            ws_recheck: Duration::from_secs(30),
            max_failures_per_user_address: 5,
            max_failures_per_user: 50,
            max_failures_per_address: 20,
            throttle_window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            max_devices_per_resource: 3,
            cors_origins: Vec::new(),
            session_cache: Duration::ZERO,
        }
    }
}

/// A session or account was ended, or what an account may read changed; open websockets of
/// it close at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// One session (logout).
    Session(i64),
    /// Every session of a user (password change, account disabled).
    User(i64),
    /// A user's role or territory changed: the sessions stay valid (each request reads the
    /// account anew), but whatever was resolved for the old account — an open websocket's
    /// view — is not, so it ends.
    Reach(i64),
}

/// The auth part of the state.
#[derive(Debug)]
pub struct AuthState {
    /// Policy.
    pub config: AuthConfig,
    /// Bounds concurrent argon2 work (each hash takes ~19 MiB and tens of ms of one core).
    pub hashing: Semaphore,
    /// Hash verified when the user does not exist, so both failures take the same time.
    pub dummy_hash: String,
    /// Revocations, for open websockets.
    pub revocations: broadcast::Sender<Revocation>,
    /// Device tokens seen lately (by SHA-256), so that phones keep reporting to the live map
    /// without a database round trip per request, and while the database is down. Entries
    /// live [`DEVICE_CACHE_TTL`]; revoking or rotating in this process empties the cache at
    /// once (another instance's revocation takes effect within the TTL).
    pub devices: moka::future::Cache<Vec<u8>, Arc<device::DeviceRecord>>,
    /// Valid sessions seen lately (by token SHA-256), when [`AuthConfig::session_cache`] is
    /// not zero: an authenticated request then costs no database round trip. Emptied by
    /// every [`Revocation`] announced in this process.
    pub sessions: Option<moka::future::Cache<Vec<u8>, Arc<session::CachedSession>>>,
    /// Unknown OsmAnd device identifiers per address.
    pub ident_limiter: IdentLimiter,
}

/// How long a device token is trusted from memory.
pub const DEVICE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl AuthState {
    /// A new auth state with this policy.
    ///
    /// # Errors
    ///
    /// When the dummy hash cannot be computed (argon2 misconfigured).
    pub fn new(config: AuthConfig) -> Result<Self, PasswordError> {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let sessions = (!config.session_cache.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.session_cache)
                .build()
        });
        Ok(Self {
            config,
            sessions,
            hashing: Semaphore::new(threads),
            dummy_hash: hash_password("gridwall dummy password for timing")?,
            revocations: broadcast::channel(256).0,
            devices: moka::future::Cache::builder()
                .max_capacity(500_000)
                .time_to_live(DEVICE_CACHE_TTL)
                .build(),
            ident_limiter: IdentLimiter::default(),
        })
    }

    /// Tells open websockets (and the session cache) that a session or user was revoked, or
    /// that an account's reach changed.
    pub fn announce(&self, revocation: Revocation) {
        if let Some(sessions) = &self.sessions {
            sessions.invalidate_all();
        }
        // No receivers is fine: nobody is connected.
        let _ = self.revocations.send(revocation);
    }
}

/// A logged-in user, as the extractor found them.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `users.id`.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Where the user sees and acts.
    pub territory: Territory,
    /// Root of the territory: its code, name and level, `None` = everything.
    pub scope_unit: Option<UnitRef>,
    /// Phone, in clear (the user's own).
    pub phone: Option<String>,
    /// `sessions.id`.
    pub session_id: i64,
    /// Absolute expiry of the session.
    pub expires_at: DateTime<Utc>,
    /// Idle timeout of the session, seconds.
    pub idle_timeout_s: i32,
    /// The credential came in the cookie (not a bearer header): unsafe methods need a
    /// same-origin request.
    pub via_cookie: bool,
    /// Where the request came from.
    pub address: Option<IpAddr>,
}

impl Principal {
    /// 403 unless the user has one of `roles`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] naming the roles that may.
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(Error::Forbidden(format!(
                "this needs the role {} (you are {})",
                names.join(" or "),
                self.role
            )))
        }
    }

    /// Where this user sees and acts, for SQL (see [`crate::territory`]).
    #[must_use]
    pub fn territory(&self) -> Territory {
        self.territory
    }

    /// The scope in the in-memory hierarchy; `None` when its root is not in `loaded` (a
    /// reload in progress): callers then show nothing.
    #[must_use]
    pub fn scope(&self, loaded: &LoadedHierarchy) -> Option<Scope> {
        match &self.scope_unit {
            None => Some(Scope::Everything),
            Some(unit) => loaded.hierarchy.by_code(&unit.code).map(Scope::Subtree),
        }
    }

    /// Who this is, for the audit log.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            name: self.username.clone(),
            role: Some(self.role),
            address: self.address,
        }
    }

    /// A phone number as this user may see it: in clear for roles that need it (and for
    /// their own), masked for the others.
    #[must_use]
    pub fn show_phone(&self, phone: Option<&str>, owner_user_id: Option<i64>) -> Option<String> {
        let phone = phone?;
        if self.role.sees_phone_numbers() || owner_user_id == Some(self.user_id) {
            Some(phone.to_owned())
        } else {
            Some(mask_phone(phone))
        }
    }
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user, when there is one.
    pub user_id: Option<i64>,
    /// User name, `cli`, `device:<id>`, or the name tried at a failed login.
    pub name: String,
    /// The user's role.
    pub role: Option<Role>,
    /// Client address.
    pub address: Option<IpAddr>,
}

impl Actor {
    /// The command line on this machine.
    #[must_use]
    pub fn cli() -> Self {
        Self {
            user_id: None,
            name: "cli".into(),
            role: None,
            address: None,
        }
    }
}

/// Everything about a stored user that the API shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// `users.id`.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Territory root; `null` = everything.
    pub scope: Option<UnitRef>,
    /// Phone, masked unless the viewer may see it.
    pub phone: Option<String>,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Keeps `Arc<AuthState>` reachable from the state.
pub type SharedAuth = Arc<AuthState>;
