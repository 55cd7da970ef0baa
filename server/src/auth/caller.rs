//! Who is acting, whatever the credential: a user's session, a phone's device token, or the
//! server itself. Domain operations take a [`Caller`] and ask it for its [`Territory`].

use gridwall_spatial::Scope;
use sqlx::PgExecutor;

use super::{Device, Permission, Principal, Role, Territory};
use crate::hierarchy::LoadedHierarchy;

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A logged-in user; `resource` is their worker record when their role is worker.
    User {
        /// The user.
        principal: Box<Principal>,
        /// `resources.id` of a worker account.
        resource: Option<i64>,
    },
    /// A phone (device token): a worker's or a vehicle's.
    Device(Box<Device>),
    /// The server (overdue escalation, auto-dispatch).
    System,
}

impl Caller {
    /// The caller a session is: the user, and their worker record when their role is worker.
    ///
    /// # Errors
    ///
    /// Database failure.
    pub async fn of_session(
        db: impl PgExecutor<'_>,
        principal: Principal,
    ) -> Result<Self, sqlx::Error> {
        let resource = if principal.role == Role::Worker {
            crate::db::resources::resource_of_user(db, principal.user_id).await?
        } else {
            None
        };
        Ok(Self::User {
            principal: Box::new(principal),
            resource,
        })
    }

    /// The territory whose records the caller reads and whose resources it acts on: a center
    /// user's own; the server's is everything. Workers and phones are not narrowed by territory
    /// but record by record (the cases assigned to or reported by them, their own resource), so
    /// theirs is everything here and the domain narrows it.
    #[must_use]
    pub fn territory(&self) -> Territory {
        match self {
            Self::User { principal, .. } if principal.role != Role::Worker => principal.territory,
            _ => Territory::All,
        }
    }

    /// [`Self::territory`] in the in-memory hierarchy `loaded` (`None`: none imported yet):
    /// `None` when it holds nothing of it (the root is not in `loaded`), so callers show
    /// nothing.
    #[must_use]
    pub fn scope(&self, loaded: Option<&LoadedHierarchy>) -> Option<Scope> {
        match (self.territory(), self.principal(), loaded) {
            (Territory::All, _, _) => Some(Scope::Everything),
            (Territory::Subtree(_), Some(p), Some(l)) => p.scope(l),
            (Territory::Subtree(_), _, _) => None,
        }
    }

    /// Whether the caller's role has `permission` (a phone acts as a worker; the server
    /// itself is never asked).
    #[must_use]
    pub fn may(&self, permission: Permission) -> bool {
        self.role().is_some_and(|r| permission.roles().contains(&r))
    }

    /// Whether `now` reads exactly what `self` read: the same role, territory root and worker
    /// record. Anything resolved for `self` (an open websocket's view) is stale otherwise.
    #[must_use]
    pub fn same_reach(&self, now: &Self) -> bool {
        let root = |c: &Self| {
            c.principal()
                .and_then(|p| p.scope_unit.as_ref())
                .map(|u| u.code.clone())
        };
        self.role() == now.role()
            && self.territory() == now.territory()
            && root(self) == root(now)
            && self.resource() == now.resource()
    }

    /// The logged-in user, for a session.
    #[must_use]
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Self::User { principal, .. } => Some(principal),
            _ => None,
        }
    }

    /// The worker (`resources.id`) acting, for workers and their phones.
    #[must_use]
    pub fn resource(&self) -> Option<i64> {
        match self {
            Self::User { resource, .. } => *resource,
            Self::Device(d) => (d.resource_kind == "worker").then_some(d.resource_id),
            Self::System => None,
        }
    }

    /// `users.id`, for a session.
    #[must_use]
    pub fn user_id(&self) -> Option<i64> {
        self.principal().map(|p| p.user_id)
    }

    /// The name the history and the audit log show: the login name, `device:<id>`, `system`.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::User { principal, .. } => principal.username.clone(),
            Self::Device(d) => format!("device:{}", d.device_id),
            Self::System => "system".into(),
        }
    }

    /// The role acting (a phone acts as a worker); none for the server.
    #[must_use]
    pub fn role(&self) -> Option<Role> {
        match self {
            Self::User { principal, .. } => Some(principal.role),
            Self::Device(_) => Some(Role::Worker),
            Self::System => None,
        }
    }

    /// A center role that reads the records of a territory (not a worker, not a phone).
    #[must_use]
    pub fn is_center(&self) -> bool {
        match self {
            Self::User { principal, .. } => Role::READERS.contains(&principal.role),
            Self::Device(_) => false,
            Self::System => true,
        }
    }

    /// The namespace of this credential's `Idempotency-Key`s.
    #[must_use]
    pub fn idempotency_actor(&self) -> String {
        match self {
            Self::User { principal, .. } => format!("user:{}", principal.user_id),
            Self::Device(d) => format!("device:{}", d.device_id),
            Self::System => "system".into(),
        }
    }
}
