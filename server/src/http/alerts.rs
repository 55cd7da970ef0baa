//! `/api/alerts` (预警): list, acknowledge, resolve; `/api/alert-rules`: the thresholds,
//! editable by admins. Everyone who reads in scope sees the alerts of their territory (an
//! alert belongs to the unit it is about: a worker's home grid, a case's grid); dispatchers,
//! operators and admins acknowledge and resolve them, and each of those is audited.

use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::params;
use crate::alerts::store::{self, AlertFilter, AlertRow};
use crate::alerts::{AlertKind, Rule};
use crate::audit::{self, Event};
use crate::auth::{Permission, Principal};
use crate::state::AppState;

/// An alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// `alerts.id`.
    pub id: i64,
    /// `sos`, `offline`, `out_of_grid`, `stationary`, `overdue`, `hotspot`, `repeat_reporter`.
    pub kind: String,
    /// 1–4.
    pub severity: i16,
    /// `open`, `acknowledged`, `resolved`.
    pub status: String,
    /// The unit it belongs to.
    pub unit: super::UnitRef,
    /// Where, `[lng, lat]`.
    pub position: [f64; 2],
    /// `resource`, `case`, `cell`, `reporter`.
    pub entity_type: String,
    /// The entity (a reporter's phone masked unless the role needs it).
    pub entity_id: String,
    /// For people (Chinese).
    pub title: String,
    /// For programs.
    #[schema(value_type = Object)]
    pub details: Value,
    /// First raised.
    pub raised_at: DateTime<Utc>,
    /// Raised again last.
    pub last_raised_at: DateTime<Utc>,
    /// Times raised while live.
    pub occurrences: i32,
    /// Acknowledged: when, by whom, note.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// By whom.
    pub acknowledged_by: Option<String>,
    /// Note.
    pub acknowledge_note: Option<String>,
    /// Resolved: when, by whom (`system` when the condition cleared), note.
    pub resolved_at: Option<DateTime<Utc>>,
    /// By whom.
    pub resolved_by: Option<String>,
    /// Note.
    pub resolve_note: Option<String>,
    /// +1 on every change.
    pub version: i32,
}

fn view(r: AlertRow, me: &Principal) -> AlertView {
    let entity_id = if r.entity_type == "reporter" {
        me.show_phone(Some(&r.entity_id), None).unwrap_or_default()
    } else {
        r.entity_id
    };
    AlertView {
        id: r.id,
        kind: r.kind,
        severity: r.severity,
        status: r.status,
        unit: super::UnitRef::new(r.unit_code, r.unit_name),
        position: [r.lng, r.lat],
        entity_type: r.entity_type,
        entity_id,
        title: r.title,
        details: r.details,
        raised_at: r.raised_at,
        last_raised_at: r.last_raised_at,
        occurrences: r.occurrences,
        acknowledged_at: r.acknowledged_at,
        acknowledged_by: r.acknowledged_by,
        acknowledge_note: r.acknowledge_note,
        resolved_at: r.resolved_at,
        resolved_by: r.resolved_by,
        resolve_note: r.resolve_note,
        version: r.version,
    }
}

/// Filters of the alert list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Kinds, comma-separated.
    kind: Option<String>,
    /// Statuses, comma-separated; `live` = open and acknowledged.
    status: Option<String>,
    /// Only under this unit (code).
    unit: Option<String>,
    /// Raised at or after (RFC 3339).
    from: Option<String>,
    /// Raised before (RFC 3339).
    to: Option<String>,
    /// At most this many (1–1000, default 100).
    limit: Option<String>,
    /// Skip this many.
    offset: Option<String>,
}

/// A page of alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Matches before paging.
    pub total: i64,
    /// Most severe first, then the latest raised.
    pub alerts: Vec<AlertView>,
}

/// The alerts of the caller's territory.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", params(ListParams),
    responses((status = 200, body = AlertList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    me: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<AlertList>> {
    me.may(Permission::Read)?;
    let kinds_known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut statuses = params::comma_list(
        "status",
        p.status.as_deref(),
        &["open", "acknowledged", "resolved", "live"],
    )?;
    if statuses.iter().any(|s| s == "live") {
        statuses.retain(|s| s != "live");
        statuses.extend(["open".to_owned(), "acknowledged".to_owned()]);
    }
    let under_unit_id = params::unit_filter(
        &state.pool,
        me.territory(),
        p.unit.as_deref().map(str::trim),
    )
    .await?;
    let filter = AlertFilter {
        kinds: params::comma_list("kind", p.kind.as_deref(), &kinds_known)?,
        statuses,
        under_unit_id,
        from: params::optional_time("from", p.from.as_deref())?,
        to: params::optional_time("to", p.to.as_deref())?,
        limit: params::optional_i64_in("limit", p.limit.as_deref(), 1, 1000)?.unwrap_or(100),
        offset: params::optional_i64_in("offset", p.offset.as_deref(), 0, i64::MAX)?.unwrap_or(0),
    };
    let (rows, total) = store::list(&state.pool, me.territory(), &filter).await?;
    Ok(axum::Json(AlertList {
        total,
        alerts: rows.into_iter().map(|r| view(r, &me)).collect(),
    }))
}

/// A note on acknowledging or resolving.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertNote {
    /// What was done or found (up to 2000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// The optional JSON body `{"note": …}` (an empty body is no note).
fn note_of(body: &[u8]) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    super::input::refuse_nul_in_json(body)?;
    serde_json::from_slice::<AlertNote>(body)
        .map(|n| n.note)
        .map_err(|e| ApiError::BadRequest {
            code: "invalid_json",
            message: format!("the body is not {{\"note\": \"…\"}}: {e}"),
            details: json!({}),
        })
}

async fn act(
    state: &AppState,
    me: &Principal,
    id: i64,
    resolve: bool,
    note: Option<String>,
) -> ApiResult<axum::Json<AlertView>> {
    me.may(Permission::ActOnAlerts)?;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::unprocessable(
            "invalid_text",
            "note",
            "a note has at most 2000 characters",
        ));
    }
    let verb = if resolve { "resolve" } else { "acknowledge" };
    let result = store::act(
        &state.alerts,
        &state.pool,
        me.territory(),
        id,
        resolve,
        &me.username,
        note.as_deref(),
    )
    .await?;
    match result {
        None => Err(ApiError::not_found(
            "alert_not_found",
            format!("no alert {id} in your territory"),
        )),
        Some(Err(row)) => Err(ApiError::Conflict {
            code: "alert_status",
            message: format!("alert {id} is {}: it cannot be {verb}d", row.status),
            details: json!({"status": row.status, "version": row.version}),
        }),
        Some(Ok(row)) => {
            audit::record(
                &state.pool,
                &me.actor(),
                Event::ok(
                    if resolve {
                        "alert.resolve"
                    } else {
                        "alert.acknowledge"
                    },
                    "alert",
                    id,
                )
                .unit(Some(&row.unit_code))
                .details(json!({"kind": row.kind, "note": note})),
            )
            .await?;
            Ok(axum::Json(view(row, me)))
        }
    }
}

/// Acknowledges an open alert (someone is on it); audited.
#[utoipa::path(post, path = "/api/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = i64, Path, description = "alert id")), request_body = AlertNote,
    responses((status = 200, body = AlertView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<AlertView>> {
    let note = note_of(&body)?;
    act(&state, &me, id, false, note).await
}

/// Resolves an open or acknowledged alert; audited.
#[utoipa::path(post, path = "/api/alerts/{id}/resolve", tag = "alerts",
    params(("id" = i64, Path, description = "alert id")), request_body = AlertNote,
    responses((status = 200, body = AlertView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    me: Principal,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<AlertView>> {
    let note = note_of(&body)?;
    act(&state, &me, id, true, note).await
}

/// The rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// One per kind.
    pub rules: Vec<Rule>,
}

/// The alert rules and their thresholds.
#[utoipa::path(get, path = "/api/alert-rules", tag = "alerts",
    responses((status = 200, body = RuleList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn rules(
    State(state): State<AppState>,
    me: Principal,
) -> ApiResult<axum::Json<RuleList>> {
    me.may(Permission::Read)?;
    Ok(axum::Json(RuleList {
        rules: store::rules(&state.pool).await?,
    }))
}

/// Changes a rule's thresholds (admins); audited. Every field of the rule is given.
#[utoipa::path(put, path = "/api/alert-rules/{kind}", tag = "alerts",
    params(("kind" = String, Path, description = "the rule")), request_body = Rule,
    responses((status = 200, body = Rule), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_rule(
    State(state): State<AppState>,
    me: Principal,
    Path(kind): Path<String>,
    Json(mut rule): Json<Rule>,
) -> ApiResult<axum::Json<Rule>> {
    me.may(Permission::Configure)?;
    if AlertKind::parse(&kind).is_none() {
        return Err(ApiError::not_found(
            "rule_not_found",
            format!("no alert rule {kind:?}"),
        ));
    }
    rule.kind = kind.clone();
    let mut tx = state.pool.begin().await?;
    let stored = store::put_rule(&mut *tx, &rule)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_check_violation() => ApiError::Unprocessable {
                code: "invalid_rule",
                message: format!(
                    "a threshold of {kind} is out of range: severity 1–4, minutes 1–10080, \
                 distance_m 1–10000, min_count 1–1000, ratio 1–1000, window_hours 1–8760, \
                 baseline_days 1–365, h3_resolution 5–11"
                ),
                details: json!({"constraint": d.constraint()}),
            },
            other => other.into(),
        })?;
    if !stored {
        return Err(ApiError::not_found(
            "rule_not_found",
            format!("no alert rule {kind:?}"),
        ));
    }
    audit::record(
        &mut *tx,
        &me.actor(),
        Event::ok("alert_rule.put", "alert_rule", &kind)
            .details(serde_json::to_value(&rule).unwrap_or(Value::Null)),
    )
    .await?;
    tx.commit().await?;
    state.alerts.set_rules(store::rules(&state.pool).await?);
    Ok(axum::Json(rule))
}
