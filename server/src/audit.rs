//! The audit log: one append-only row for every write and every login (who, when, what,
//! which unit or entity, from where). The table refuses UPDATE, DELETE and TRUNCATE.
//!
//! Writes record their row in the same transaction as the change, so the log has exactly the
//! changes that happened.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::text;

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused (wrong password, locked, not allowed).
    Denied,
    /// Tried and failed.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Dotted name: `auth.login`, `user.create`, `hierarchy.import`, …
    pub action: &'a str,
    /// How it ended.
    pub outcome: Outcome,
    /// The unit concerned, by code.
    pub unit_code: Option<&'a str>,
    /// The kind of entity concerned: `user`, `worker`, `device`, `session`, `hierarchy`.
    pub entity_type: Option<&'a str>,
    /// Its id.
    pub entity_id: Option<String>,
    /// Anything else worth keeping (never a password or a token).
    pub details: Value,
}

impl<'a> Event<'a> {
    /// A successful `action` on an entity.
    #[must_use]
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers hand over ids and codes of any type; each is converted once here"
    )]
    pub fn ok(action: &'a str, entity_type: &'a str, entity_id: impl ToString) -> Self {
        Self {
            action,
            outcome: Outcome::Ok,
            unit_code: None,
            entity_type: Some(entity_type),
            entity_id: Some(entity_id.to_string()),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the unit.
    #[must_use]
    pub fn unit(mut self, code: Option<&'a str>) -> Self {
        self.unit_code = code;
        self
    }

    /// Sets the details.
    #[must_use]
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends one row. Text that was refused for holding a NUL (a login name, a file's code) is
/// kept with the NUL shown as U+FFFD, since the row could not hold it: recording a refusal
/// never fails on what was refused.
///
/// # Errors
///
/// Database failure; callers inside a transaction then roll the change back with it.
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    event: Event<'_>,
) -> Result<(), sqlx::Error> {
    let visible = |s: Option<&str>| s.map(|s| text::visible(s).into_owned());
    sqlx::query!(
        "INSERT INTO audit_log (user_id, actor, role, action, outcome, unit_code, entity_type,
                                entity_id, address, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::inet, $10)",
        actor.user_id,
        &*text::visible(&actor.name),
        actor.role.map(crate::auth::Role::as_str),
        event.action,
        event.outcome.as_str(),
        visible(event.unit_code),
        event.entity_type,
        visible(event.entity_id.as_deref()),
        actor.address.map(|a| a.to_string()),
        text::visible_json(event.details),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One audit row as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing id; page with `before`.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The user's id, when a user acted.
    pub user_id: Option<i64>,
    /// User name, `cli`, `device:<id>`, or the name tried at a failed login.
    pub actor: String,
    /// The user's role.
    pub role: Option<String>,
    /// What: `auth.login`, `user.create`, …
    pub action: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    /// The unit concerned.
    pub unit_code: Option<String>,
    /// The kind of entity.
    pub entity_type: Option<String>,
    /// Its id.
    pub entity_id: Option<String>,
    /// Client address.
    pub address: Option<String>,
    /// More.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Filters of the audit query; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Actor name, exact.
    pub actor: Option<String>,
    /// Action, exact, or a prefix ending in `.` (`auth.`).
    pub action: Option<String>,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Unit code.
    pub unit_code: Option<String>,
    /// Outcome.
    pub outcome: Option<String>,
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// To (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Only rows with a smaller id (paging, newest first).
    pub before: Option<i64>,
    /// At most this many rows.
    pub limit: i64,
}

/// The rows matching `filter`, newest first.
///
/// # Errors
///
/// Database failure.
pub async fn query(
    db: impl PgExecutor<'_>,
    f: &AuditFilter,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let (action_exact, action_prefix) = match f.action.as_deref() {
        Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
        Some(a) => (Some(a.to_owned()), None),
        None => (None, None),
    };
    sqlx::query_as!(
        AuditEntry,
        r#"SELECT id, at, user_id, actor, role, action, outcome, unit_code, entity_type,
                  entity_id, host(address) AS address, details
           FROM audit_log
           WHERE ($1::text IS NULL OR actor = $1)
             AND ($2::text IS NULL OR action = $2)
             AND ($3::text IS NULL OR action LIKE $3)
             AND ($4::text IS NULL OR entity_type = $4)
             AND ($5::text IS NULL OR entity_id = $5)
             AND ($6::text IS NULL OR unit_code = $6)
             AND ($7::text IS NULL OR outcome = $7)
             AND ($8::timestamptz IS NULL OR at >= $8)
             AND ($9::timestamptz IS NULL OR at < $9)
             AND ($10::bigint IS NULL OR id < $10)
           ORDER BY id DESC
           LIMIT $11"#,
        f.actor,
        action_exact,
        action_prefix,
        f.entity_type,
        f.entity_id,
        f.unit_code,
        f.outcome,
        f.from,
        f.to,
        f.before,
        f.limit,
    )
    .fetch_all(db)
    .await
}
