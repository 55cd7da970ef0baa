//! `GET /api/audit`: the audit log for admins, newest first, filterable and paged.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody, Query};
use super::params;
use crate::audit::{self, AuditEntry, AuditFilter};
use crate::auth::{Permission, Principal};
use crate::state::AppState;

/// Filters; all optional, combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Actor name (login name, `cli`).
    actor: Option<String>,
    /// Action (`auth.login`), or a prefix ending in `.` (`auth.`).
    action: Option<String>,
    /// Entity type (`user`, `worker`, `device`, `session`, `hierarchy`).
    entity_type: Option<String>,
    /// Entity id.
    entity_id: Option<String>,
    /// Unit code.
    unit: Option<String>,
    /// `ok`, `denied` or `failed`.
    outcome: Option<String>,
    /// From this time (RFC 3339, inclusive).
    from: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    to: Option<String>,
    /// Only entries with a smaller id (the `next_before` of the previous page).
    before: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<String>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

fn short(name: &str, raw: Option<String>) -> ApiResult<Option<String>> {
    match raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.len() > 200 => Err(ApiError::invalid_param(
            name,
            s,
            format!("{name} is too long (200 characters at most)"),
        )),
        other => Ok(other),
    }
}

/// The audit log (admins only).
#[utoipa::path(get, path = "/api/audit", tag = "accounts", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<AuditParams>,
) -> ApiResult<axum::Json<AuditPage>> {
    me.may(Permission::ReadAudit)?;
    let outcome = short("outcome", p.outcome)?;
    if let Some(o) = outcome.as_deref()
        && !matches!(o, "ok" | "denied" | "failed")
    {
        return Err(ApiError::invalid_param(
            "outcome",
            o,
            "outcome must be ok, denied or failed",
        ));
    }
    let limit = params::optional_i64_in("limit", p.limit.as_deref(), 1, 1000)?.unwrap_or(100);
    let filter = AuditFilter {
        actor: short("actor", p.actor)?,
        action: short("action", p.action)?,
        entity_type: short("entity_type", p.entity_type)?,
        entity_id: short("entity_id", p.entity_id)?,
        unit_code: p
            .unit
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| params::code("unit", s).map(|c| c.to_string()))
            .transpose()?,
        outcome,
        from: params::optional_time("from", p.from.as_deref())?,
        to: params::optional_time("to", p.to.as_deref())?,
        before: params::optional_i64_in("before", p.before.as_deref(), 1, i64::MAX)?,
        limit,
    };
    let entries = audit::query(&state.pool, &filter).await?;
    let next_before = (entries.len() == usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(AuditPage {
        entries,
        next_before,
    }))
}
