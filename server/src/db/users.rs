//! Queries on `users`. Lists and reads take the viewer's [`Territory`]: a user is visible when
//! their own scope root lies in it (a city-wide account only to city-wide viewers).

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::territory::Territory;

/// A user as stored (never the password hash).
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Role name.
    pub role: String,
    /// Scope root id.
    pub scope_unit_id: Option<i64>,
    /// Scope root code.
    pub scope_code: Option<String>,
    /// Scope root name.
    pub scope_name: Option<String>,
    /// Scope root level.
    pub scope_level: Option<i16>,
    /// Phone, in clear.
    pub phone: Option<String>,
    /// When disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// What login needs.
#[derive(Debug)]
pub struct LoginRow {
    pub id: i64,
    /// Login name as stored.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When disabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// The user with this login name (case-insensitive), for login.
pub async fn for_login(pool: &PgPool, username: &str) -> Result<Option<LoginRow>, sqlx::Error> {
    sqlx::query_as!(
        LoginRow,
        "SELECT id, username, password_hash, disabled_at FROM users WHERE lower(username) = lower($1)",
        username
    )
    .fetch_optional(pool)
    .await
}

/// Filters of the user list.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Name or login name contains this.
    pub q: Option<String>,
    /// Include disabled accounts.
    pub include_disabled: bool,
}

/// Users visible in `territory`, by login name.
pub async fn list(
    db: impl PgExecutor<'_>,
    territory: Territory,
    f: &UserFilter,
) -> Result<Vec<UserRow>, sqlx::Error> {
    let q = f.q.as_deref().map(like_pattern);
    sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.username, u.display_name, u.role, u.scope_unit_id,
                  su.code AS "scope_code?", su.name AS "scope_name?", su.level AS "scope_level?",
                  u.phone, u.disabled_at, u.created_at
           FROM users u LEFT JOIN units su ON su.id = u.scope_unit_id
           JOIN territory($1) scope ON scope.everything OR su.tree_lo BETWEEN scope.lo AND scope.hi
           WHERE ($2::text IS NULL OR u.role = $2)
             AND ($3::text IS NULL OR u.username ILIKE $3 OR u.display_name ILIKE $3)
             AND ($4 OR u.disabled_at IS NULL)
           ORDER BY lower(u.username)"#,
        territory.root(),
        f.role,
        q,
        f.include_disabled,
    )
    .fetch_all(db)
    .await
}

/// One user, when visible in `territory`.
pub async fn get(
    db: impl PgExecutor<'_>,
    territory: Territory,
    id: i64,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.username, u.display_name, u.role, u.scope_unit_id,
                  su.code AS "scope_code?", su.name AS "scope_name?", su.level AS "scope_level?",
                  u.phone, u.disabled_at, u.created_at
           FROM users u LEFT JOIN units su ON su.id = u.scope_unit_id
           JOIN territory($1) scope ON scope.everything OR su.tree_lo BETWEEN scope.lo AND scope.hi
           WHERE u.id = $2"#,
        territory.root(),
        id,
    )
    .fetch_optional(db)
    .await
}

/// One user by login name (case-insensitive), unscoped (CLI).
pub async fn by_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        r#"SELECT u.id, u.username, u.display_name, u.role, u.scope_unit_id,
                  su.code AS "scope_code?", su.name AS "scope_name?", su.level AS "scope_level?",
                  u.phone, u.disabled_at, u.created_at
           FROM users u LEFT JOIN units su ON su.id = u.scope_unit_id
           WHERE lower(u.username) = lower($1)"#,
        username,
    )
    .fetch_optional(db)
    .await
}

/// The id and level of the unit with `code`, when it lies in `territory`.
pub async fn unit_in_scope(
    db: impl PgExecutor<'_>,
    territory: Territory,
    code: &str,
) -> Result<Option<(i64, i16)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT u.id, u.level FROM units u
         JOIN territory($1) scope ON u.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE u.code = $2",
        territory.root(),
        code,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.level)))
}

/// A new account.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// Login name.
    pub username: &'a str,
    /// Name shown.
    pub display_name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// Scope root id (`None` = everything).
    pub scope_unit_id: Option<i64>,
    pub phone: Option<&'a str>,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
}

/// Inserts an account; a taken login name is `Ok(None)`.
pub async fn insert(db: impl PgExecutor<'_>, u: &NewUser<'_>) -> Result<Option<i64>, sqlx::Error> {
    let result = sqlx::query_scalar!(
        "INSERT INTO users (username, display_name, role, scope_unit_id, phone, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        u.username,
        u.display_name,
        u.role,
        u.scope_unit_id,
        u.phone,
        u.password_hash,
    )
    .fetch_one(db)
    .await;
    match result {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_username_key") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserPatch<'a> {
    /// Name shown.
    pub display_name: Option<&'a str>,
    /// Role name.
    pub role: Option<&'a str>,
    /// Scope root: `Some(None)` = everything.
    pub scope_unit_id: Option<Option<i64>>,
    /// Phone: `Some(None)` removes it.
    pub phone: Option<Option<&'a str>>,
    /// Disable (`Some(true)`) or enable.
    pub disabled: Option<bool>,
}

/// Applies a patch.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    p: &UserPatch<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE users SET
           display_name = coalesce($2, display_name),
           role = coalesce($3, role),
           scope_unit_id = CASE WHEN $4 THEN $5 ELSE scope_unit_id END,
           phone = CASE WHEN $6 THEN $7 ELSE phone END,
           disabled_at = CASE WHEN $8::bool IS NULL THEN disabled_at
                              WHEN $8 THEN coalesce(disabled_at, now())
                              ELSE NULL END
         WHERE id = $1",
        id,
        p.display_name,
        p.role,
        p.scope_unit_id.is_some(),
        p.scope_unit_id.flatten(),
        p.phone.is_some(),
        p.phone.flatten(),
        p.disabled,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces the password hash.
pub async fn set_password(db: impl PgExecutor<'_>, id: i64, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        id,
        hash
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The stored hash of one user (password change checks the current password).
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id)
        .fetch_optional(db)
        .await
}

/// A `LIKE` pattern matching `q` anywhere, with `%`, `_` and `\` taken literally.
#[must_use]
pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Active admins other than `id`, counted under a lock that serialises concurrent changes to
/// admins until `tx` ends (so two requests cannot each demote one of the last two).
///
/// # Errors
///
/// When the database fails.
pub async fn other_active_admins(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await
}
