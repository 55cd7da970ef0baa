//! `/api/users`: accounts. Admins create and change them; admins, leaders, dispatchers and
//! operators list the accounts of their territory (phone numbers masked unless the role needs
//! them). A user outside the viewer's territory answers 404, as if it did not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{hash_blocking, weak_password};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use crate::audit::{self, Event};
use crate::auth::{self, Permission, Principal, Revocation, Role, UserView};
use crate::db;
use crate::db::users::{NewUser, UserFilter, UserPatch, UserRow};
use crate::state::AppState;
use crate::territory::Territory;
use crate::unit_ref::UnitRef;

fn scope_of(row: &UserRow) -> Option<UnitRef> {
    UnitRef::of_row(
        row.scope_code.clone(),
        row.scope_name.clone(),
        row.scope_level,
    )
}

/// A stored user as `viewer` may see it.
pub(crate) fn view(row: &UserRow, viewer: &Principal) -> UserView {
    let mut v = view_unmasked(row);
    v.phone = viewer.show_phone(row.phone.as_deref(), Some(row.id));
    v
}

/// A stored user with the phone in clear (the user themselves, the CLI).
pub(crate) fn view_unmasked(row: &UserRow) -> UserView {
    UserView {
        id: row.id,
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Worker),
        scope: scope_of(row),
        phone: row.phone.clone(),
        disabled: row.disabled_at.is_some(),
        created_at: row.created_at,
    }
}

/// Filters of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this role.
    role: Option<String>,
    /// Login or display name contains this.
    q: Option<String>,
    /// `true` to include disabled accounts.
    include_disabled: Option<String>,
}

/// Accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// By login name.
    pub users: Vec<UserView>,
}

fn role_param(name: &str, raw: &str) -> ApiResult<Role> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::invalid_param(
            name,
            raw,
            "role must be admin, leader, dispatcher, operator or worker",
        )
    })
}

/// The accounts of the caller's territory.
#[utoipa::path(get, path = "/api/users", tag = "accounts", params(ListParams),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<UserList>> {
    me.may(Permission::Read)?;
    let role = p
        .role
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|r| role_param("role", r))
        .transpose()?;
    let filter = UserFilter {
        role: role.map(|r| r.as_str().to_owned()),
        q: p.q.filter(|q| !q.trim().is_empty()),
        include_disabled: params::optional_bool("include_disabled", p.include_disabled.as_deref())?
            .unwrap_or(false),
    };
    let rows = db::users::list(&state.pool, me.territory(), &filter).await?;
    Ok(axum::Json(UserList {
        users: rows.iter().map(|r| view(r, &me)).collect(),
    }))
}

/// One account of the caller's territory.
#[utoipa::path(get, path = "/api/users/{id}", tag = "accounts",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<UserView>> {
    me.may(Permission::Read)?;
    let row = db::users::get(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    Ok(axum::Json(view(&row, &me)))
}

fn user_not_found(id: i64) -> ApiError {
    ApiError::not_found("user_not_found", format!("no user {id} in your territory"))
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Login name: letters, digits, `.`, `_`, `@`, `-`; 2–64 characters.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Code of the unit at the root of the territory; `null` = everything (required for
    /// workers, refused for admins).
    #[serde(default)]
    pub scope: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Initial password; generated (and returned once) when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// The created account.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// The account.
    pub user: UserView,
    /// The generated password, shown this once (absent when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Checks a login name against the rule the table enforces.
pub(crate) fn username(raw: &str) -> ApiResult<String> {
    let ok = (2..=64).contains(&raw.len())
        && raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "invalid_username",
            "username",
            "username: 2–64 characters, letters, digits, '.', '_', '@', '-', starting with a \
             letter or digit",
        ))
    }
}

/// The password given, or a generated one (`true`: show it to the admin once).
fn given_or_generated(given: Option<String>) -> ApiResult<(String, bool)> {
    match given {
        Some(p) => Ok((p, false)),
        None => auth::generate_password()
            .map(|p| (p, true))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness: {e}"))),
    }
}

/// Resolves a scope for `role`: a code in the caller's territory, or everything.
async fn resolve_scope(
    state: &AppState,
    me: &Principal,
    role: Role,
    code: Option<&str>,
) -> ApiResult<Option<i64>> {
    match (role, code) {
        (Role::Admin, Some(_)) => Err(ApiError::unprocessable(
            "invalid_scope",
            "scope",
            "an admin manages everything: leave scope null",
        )),
        (Role::Worker, None) => Err(ApiError::unprocessable(
            "invalid_scope",
            "scope",
            "a worker needs a scope (their grid or village)",
        )),
        (_, None) => Ok(None),
        (_, Some(code)) => {
            let code = params::code("scope", code)?;
            db::users::unit_in_scope(&state.pool, me.territory(), code.as_str())
                .await?
                .map(|(id, _)| Some(id))
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "unknown_unit",
                        "scope",
                        format!("no unit {code} in your territory"),
                    )
                })
        }
    }
}

/// Creates an account (admins only).
#[utoipa::path(post, path = "/api/users", tag = "accounts", request_body = NewUserRequest,
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the login name is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    me: Principal,
    Json(req): Json<NewUserRequest>,
) -> ApiResult<Response> {
    me.may(Permission::ManageAccounts)?;
    let username = username(req.username.trim())?;
    let display_name = params::display_name("display_name", &req.display_name)?;
    let phone = req
        .phone
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| params::phone("phone", p))
        .transpose()?;
    let scope_unit_id = resolve_scope(&state, &me, req.role, req.scope.as_deref()).await?;
    let (password, generated) = given_or_generated(req.password)?;
    auth::validate_password(&username, &password).map_err(|e| weak_password("password", &e))?;
    let hash = hash_blocking(&state, password.clone()).await?;

    let mut tx = state.pool.begin().await?;
    let id = db::users::insert(
        &mut *tx,
        &NewUser {
            username: &username,
            display_name: &display_name,
            role: req.role.as_str(),
            scope_unit_id,
            phone: phone.as_deref(),
            password_hash: &hash,
        },
    )
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "username_taken",
            format!("the login name {username} is taken"),
        )
    })?;
    let row = db::users::get(&mut *tx, Territory::All, id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("created user {id} not found")))?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("user.create", "user", id)
            .unit(row.scope_code.as_deref())
            .details(json!({ "username": username, "role": req.role })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedUser {
            user: view_unmasked(&row),
            password: generated.then_some(password),
        }),
    )
        .into_response())
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    /// Name shown.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Territory root code; `null` = everything.
    #[serde(default, deserialize_with = "params::double_option")]
    #[schema(value_type = Option<String>)]
    pub scope: Option<Option<String>>,
    /// Phone; `null` removes it.
    #[serde(default, deserialize_with = "params::double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// `true` disables the account (its sessions end at once), `false` enables it.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Changes an account (admins only). Disabling ends its sessions at once; a new role or
/// territory ends its open websockets at once (they reconnect with the new one).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "accounts", request_body = UserPatchRequest,
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "it would leave no active admin", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<UserPatchRequest>,
) -> ApiResult<axum::Json<UserView>> {
    me.may(Permission::ManageAccounts)?;
    let before = db::users::get(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    let old_role = Role::parse(&before.role).unwrap_or(Role::Worker);
    let role = req.role.unwrap_or(old_role);
    let display_name = req
        .display_name
        .as_deref()
        .map(|n| params::display_name("display_name", n))
        .transpose()?;
    let phone = match &req.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(Some(params::phone("phone", p)?)),
    };
    // The scope must fit the (new) role: resolve it whenever either changes.
    let scope_unit_id = match (&req.scope, req.role) {
        (Some(code), _) => Some(resolve_scope(&state, &me, role, code.as_deref()).await?),
        (None, Some(_)) => {
            Some(resolve_scope(&state, &me, role, before.scope_code.as_deref()).await?)
        }
        (None, None) => None,
    };
    let mut tx = state.pool.begin().await?;
    let loses_admin = old_role == Role::Admin
        && before.disabled_at.is_none()
        && (role != Role::Admin || req.disabled == Some(true));
    if loses_admin && db::users::other_active_admins(&mut tx, id).await? == 0 {
        return Err(ApiError::conflict(
            "last_admin",
            "this is the last active admin; create another admin first",
        ));
    }
    db::users::update(
        &mut *tx,
        id,
        &UserPatch {
            display_name: display_name.as_deref(),
            role: req.role.map(Role::as_str),
            scope_unit_id,
            phone: phone.as_ref().map(|p| p.as_deref()),
            disabled: req.disabled,
        },
    )
    .await?;
    let disabling = req.disabled == Some(true) && before.disabled_at.is_none();
    if disabling {
        auth::revoke_user_sessions(&mut *tx, id, "account disabled").await?;
    }
    let after = db::users::get(&mut *tx, Territory::All, id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok(
            if disabling {
                "user.disable"
            } else {
                "user.update"
            },
            "user",
            id,
        )
        .unit(after.scope_code.as_deref())
        .details(json!({
            "username": after.username,
            "role": {"from": before.role, "to": after.role},
            "scope": {"from": before.scope_code, "to": after.scope_code},
            "disabled": after.disabled_at.is_some(),
        })),
    )
    .await?;
    tx.commit().await?;
    if disabling {
        state.auth.announce(Revocation::User(id));
    } else if before.role != after.role || before.scope_unit_id != after.scope_unit_id {
        // The sessions stay, but every open stream was resolved for the old account.
        state.auth.announce(Revocation::Reach(id));
    }
    Ok(axum::Json(view(&after, &me)))
}

/// A password reset by an admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password; generated (and returned once) when absent.
    #[serde(default)]
    pub password: Option<String>,
}

/// The outcome of a reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetDone {
    /// Sessions of the user that were ended.
    pub sessions_ended: u64,
    /// The generated password, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Sets a user's password (admins only); every session of that user ends.
#[utoipa::path(post, path = "/api/users/{id}/password", tag = "accounts",
    request_body = PasswordReset, params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = PasswordResetDone), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    Json(req): Json<PasswordReset>,
) -> ApiResult<axum::Json<PasswordResetDone>> {
    me.may(Permission::ManageAccounts)?;
    let user = db::users::get(&state.pool, me.territory(), id)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    let (password, generated) = given_or_generated(req.password)?;
    auth::validate_password(&user.username, &password)
        .map_err(|e| weak_password("password", &e))?;
    let hash = hash_blocking(&state, password.clone()).await?;
    let mut tx = state.pool.begin().await?;
    db::users::set_password(&mut *tx, id, &hash).await?;
    let ended = auth::revoke_user_sessions(&mut *tx, id, "password reset").await?;
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("user.password_reset", "user", id)
            .unit(user.scope_code.as_deref())
            .details(json!({ "username": user.username, "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    state.auth.announce(Revocation::User(id));
    Ok(axum::Json(PasswordResetDone {
        sessions_ended: ended,
        password: generated.then_some(password),
    }))
}
