//! Who is acting, whatever the credential: a user's session, a phone's device token, or the
//! server itself. Domain operations take a [`Caller`] and ask it for its [`Territory`].

use super::{Device, Principal, Role, Territory};

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
