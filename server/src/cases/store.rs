//! Registering a case and moving it through its life. Each write is one transaction (the case
//! row and its event), checked against the lifecycle and the version the caller saw; after the
//! commit the board follows and the change goes out on the `cases` layer.

use chrono::{DateTime, Utc};
use gridwall_spatial::{LatLng, UnitId};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::lifecycle::{self, Action, CaseStatus, Party};
use super::{CaseContext, DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_H, Error, Result, brief, local_day};
use crate::auth::{Caller, Role, Territory};
use crate::db;
use crate::db::cases::{CasePatch, CaseRow, NewCase, NewEvent};
use crate::hierarchy::LoadedHierarchy;

/// The part `who` plays on a case assigned to `assignee`.
#[must_use]
pub fn party(who: &Caller, assignee: Option<i64>) -> Option<Party> {
    let own = || {
        who.resource()
            .filter(|r| Some(*r) == assignee)
            .map(|_| Party::Assignee)
    };
    match who {
        Caller::System => Some(Party::System),
        Caller::User { principal, .. } => match principal.role {
            Role::Admin | Role::Dispatcher => Some(Party::Dispatcher),
            Role::Operator => Some(Party::Operator),
            Role::Leader => None,
            Role::Worker => own(),
        },
        Caller::Device(_) => own(),
    }
}

/// Reads a case for `who`: center roles within their territory, workers the cases assigned to
/// them or reported by them. Anything else answers 404, like a case that does not exist.
///
/// # Errors
///
/// 404 `case_not_found`; database failures.
pub async fn visible(state: &impl CaseContext, who: &Caller, id: i64) -> Result<CaseRow> {
    let row = db::cases::get_case(state.pool(), who.territory(), id).await?;
    match row {
        Some(r) if CaseReader::of(who).reads(r.assignee_id, r.created_by_resource) => Ok(r),
        _ => Err(case_not_found(id)),
    }
}

/// Which cases a caller reads, case by case, inside its territory (`Caller::territory`,
/// applied by the query or the stream's scope): the one rule for `GET /api/cases/{id}`
/// ([`visible`]) and the websocket's `cases` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseReader {
    /// A center role: every case of its territory.
    Territory,
    /// A grid worker (account or phone): the cases assigned to or reported by this worker
    /// (`resources.id`; `None`: an account without a worker record reads none).
    Own(Option<i64>),
}

impl CaseReader {
    /// The reader `who` is.
    #[must_use]
    pub fn of(who: &Caller) -> Self {
        if who.is_center() {
            Self::Territory
        } else {
            Self::Own(who.resource())
        }
    }

    /// Whether it reads a case assigned to `assignee` and reported by the worker `reporter`.
    #[must_use]
    pub fn reads(self, assignee: Option<i64>, reporter: Option<i64>) -> bool {
        match self {
            Self::Territory => true,
            Self::Own(me) => me.is_some() && (assignee == me || reporter == me),
        }
    }
}

/// Drops from `rows` the links to cases `who` may not open (a possible duplicate names the
/// other case's id and number): a link is shown only to those who can read both cases.
/// Answers the ids of the links it dropped.
///
/// # Errors
///
/// Database failures.
pub async fn hide_unreadable_links(
    state: &impl CaseContext,
    who: &Caller,
    rows: &mut [CaseRow],
) -> Result<Vec<i64>> {
    let mut linked: Vec<i64> = rows.iter().filter_map(|r| r.duplicate_of).collect();
    if linked.is_empty() {
        return Ok(linked);
    }
    linked.sort_unstable();
    linked.dedup();
    // The same rule as `visible`, for SQL: a worker reads only their own (-1: none).
    let worker = match CaseReader::of(who) {
        CaseReader::Territory => None,
        CaseReader::Own(me) => Some(me.unwrap_or(-1)),
    };
    let readable =
        db::cases::readable_among(state.pool(), who.territory(), worker, &linked).await?;
    let mut dropped = Vec::new();
    for row in rows.iter_mut() {
        if let Some(d) = row.duplicate_of
            && !readable.contains(&d)
        {
            row.duplicate_of = None;
            row.duplicate_of_number = None;
            dropped.push(d);
        }
    }
    Ok(dropped)
}

/// A case the caller may not see, answered like one that does not exist.
#[must_use]
pub fn case_not_found(id: i64) -> Error {
    Error::NotFound(id)
}

/// What a new case says.
#[derive(Debug, Clone)]
pub struct NewCaseInput {
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Category code.
    pub category: String,
    /// Source.
    pub source: String,
    /// 1–4.
    pub severity: i16,
    /// Where (WGS84).
    pub position: LatLng,
    /// Address text.
    pub address: Option<String>,
    /// Reporter's name.
    pub reporter_name: Option<String>,
    /// Reporter's phone.
    pub reporter_phone: Option<String>,
}

impl NewCaseInput {
    /// SHA-256 of what the request asks, for idempotent retries.
    fn fingerprint(&self) -> Vec<u8> {
        let v = json!([
            self.title,
            self.description,
            self.category,
            self.source,
            self.severity,
            self.position.lng(),
            self.position.lat(),
            self.address,
            self.reporter_name,
            self.reporter_phone
        ]);
        Sha256::digest(v.to_string().as_bytes()).to_vec()
    }
}

/// Registers a case; answers it and whether it is new (`false`: an idempotent retry).
///
/// # Errors
///
/// 422 for an unknown category, a position outside every grid or outside the caller's
/// territory, an idempotency key reused with another request; database failures.
#[allow(
    clippy::too_many_lines,
    reason = "one transaction whose checks and writes must stay in order"
)]
pub async fn create(
    state: &impl CaseContext,
    who: &Caller,
    input: &NewCaseInput,
    idempotency_key: Option<&str>,
) -> Result<(CaseRow, bool)> {
    let cases = state.cases();
    let Some(category) = cases.category(&input.category).filter(|c| c.active) else {
        return Err(Error::Refused {
            code: "unknown_category",
            message: format!("no active case category {:?}", input.category),
            details: json!({"field": "category", "known": cases.category_codes()}),
        });
    };
    let loaded = state.hierarchy().require()?;
    let Some(path) = loaded.hierarchy.locate(input.position) else {
        return Err(Error::Refused {
            code: "outside_grids",
            message: format!(
                "({}, {}) lies in no grid of the hierarchy",
                input.position.lng(),
                input.position.lat()
            ),
            details: json!({"field": "lat"}),
        });
    };
    if let Caller::User { principal, .. } = who
        && principal.role != Role::Worker
        && !principal
            .scope(&loaded)
            .is_some_and(|s| s.contains(&loaded.hierarchy, path.grid))
    {
        return Err(Error::Refused {
            code: "out_of_scope",
            message: "this position lies outside your territory".into(),
            details: json!({"field": "lat"}),
        });
    }
    let grid_id = loaded.db_ids[path.grid.0 as usize];
    if !who.is_center()
        && let Some(worker) = who.resource()
        && !db::cases::within_reach(state.pool(), worker, grid_id).await?
    {
        return Err(Error::Refused {
            code: "out_of_reach",
            message: "a worker reports cases in their own grid and the grids that touch it; \
                      report this one to the command center"
                .into(),
            details: json!({"field": "lat"}),
        });
    }
    let fingerprint = input.fingerprint();
    let actor = who.idempotency_actor();
    if let Some(key) = idempotency_key
        && let Some(found) = replay(state, who, &actor, key, &fingerprint).await?
    {
        return Ok((found, false));
    }
    let now = Utc::now();
    let n = db::cases::next_number(state.pool(), local_day(now)).await?;
    let number = format!(
        "{}-{}-{n:06}",
        cases.config.number_prefix,
        local_day(now).format("%Y%m%d")
    );
    let duplicate_of = db::cases::possible_duplicate(
        state.pool(),
        who.territory(),
        &input.category,
        input.position.lng(),
        input.position.lat(),
        DUPLICATE_RADIUS_M,
        DUPLICATE_WINDOW_H,
    )
    .await?;
    let deadline_at = now + chrono::Duration::hours(i64::from(category.sla_hours));
    let mut tx = state.pool().begin().await?;
    let inserted = db::cases::insert_case(
        &mut tx,
        &NewCase {
            number: &number,
            title: &input.title,
            description: &input.description,
            category: &input.category,
            source: &input.source,
            severity: input.severity,
            lng: input.position.lng(),
            lat: input.position.lat(),
            address: input.address.as_deref(),
            grid_id,
            reporter_name: input.reporter_name.as_deref(),
            reporter_phone: input.reporter_phone.as_deref(),
            created_by_user: who.user_id(),
            created_by_resource: who.resource(),
            deadline_at,
            duplicate_of,
            now,
            idempotency: idempotency_key.map(|k| (actor.as_str(), k, fingerprint.as_slice())),
        },
    )
    .await?;
    let Some(id) = inserted else {
        // Another request with the same key committed first: answer what it made.
        drop(tx);
        let key = idempotency_key.unwrap_or_default();
        return match replay(state, who, &actor, key, &fingerprint).await? {
            Some(found) => Ok((found, false)),
            None => Err(Error::Internal(anyhow::anyhow!(
                "idempotency conflict without a stored case"
            ))),
        };
    };
    db::cases::insert_event(
        &mut tx,
        &NewEvent {
            case_id: id,
            version: 1,
            at: now,
            action: "report",
            from_status: None,
            to_status: CaseStatus::Reported.as_str(),
            actor: &who.name(),
            actor_user: who.user_id(),
            actor_resource: who.resource(),
            role: who.role().map(Role::as_str),
            note: None,
            position: None,
            details: json!({"source": input.source, "duplicate_of": duplicate_of}),
        },
    )
    .await?;
    let row = db::cases::get_case(&mut *tx, Territory::All, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("case {id} vanished in its tx")))?;
    tx.commit().await?;
    cases.board.apply(brief(&row), true);
    Ok((row, true))
}

async fn replay(
    state: &impl CaseContext,
    who: &Caller,
    actor: &str,
    key: &str,
    fingerprint: &[u8],
) -> Result<Option<CaseRow>> {
    let Some((id, hash)) = db::cases::by_idempotency_key(state.pool(), actor, key).await? else {
        return Ok(None);
    };
    if hash.as_deref() != Some(fingerprint) {
        return Err(Error::Refused {
            code: "idempotency_key_reused",
            message: format!(
                "Idempotency-Key {key:?} was used for another request (case {id}); use a new key \
                 for a new case"
            ),
            details: json!({"header": "Idempotency-Key", "case": id}),
        });
    }
    // The creator may no longer see it (territory changed): still theirs to be told about.
    let _ = who;
    Ok(db::cases::get_case(state.pool(), Territory::All, id).await?)
}

/// What a transition asks.
#[derive(Debug, Clone)]
pub struct TransitionInput {
    /// The action.
    pub action: Action,
    /// The case version the caller saw.
    pub version: i32,
    /// Reason or what was done.
    pub note: Option<String>,
    /// The worker to assign (`dispatch`, `reassign`).
    pub assignee: Option<i64>,
    /// Where the actor is.
    pub position: Option<LatLng>,
}

/// The unit a case escalates to from its handling unit: a grid's (or village's) township,
/// then the county; `None` at the county.
fn escalation_target(
    loaded: &LoadedHierarchy,
    grid: UnitId,
    handling_level: i16,
) -> Option<UnitId> {
    let path = loaded.hierarchy.path(grid)?;
    match handling_level {
        3 | 4 => Some(path.township),
        2 => Some(path.county),
        _ => None,
    }
}

/// Moves a case; answers it after the change.
///
/// # Errors
///
/// 404 when `who` may not see it; 403 when the role may not take the action; 409 for an
/// illegal transition (with the allowed actions) or a stale version (with the current one);
/// 422 for a missing note or a bad assignee; database failures.
#[allow(
    clippy::too_many_lines,
    reason = "the checks and the patch read best in order"
)]
pub async fn transition(
    state: &impl CaseContext,
    who: &Caller,
    id: i64,
    input: &TransitionInput,
) -> Result<CaseRow> {
    let row = visible(state, who, id).await?;
    let status = CaseStatus::parse(&row.status)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("case {id}: unknown status")))?;
    let taken = row.taken_at.is_some();
    let Some(party) = party(who, row.assignee_id) else {
        return Err(Error::Forbidden(format!(
            "you may not act on case {} (it is not assigned to you, or your role only reads)",
            row.number
        )));
    };
    let action = input.action;
    if !lifecycle::permits(party, action) {
        return Err(Error::Forbidden(format!(
            "{} may not {} a case",
            who.role().map_or("the system", Role::as_str),
            action.as_str()
        )));
    }
    // A stale view first: whatever it asked was decided on a case that has changed.
    if input.version != row.version {
        return Err(version_conflict(&row));
    }
    let Some(to) = lifecycle::next(status, taken, action) else {
        let allowed: Vec<&str> = lifecycle::allowed(status, taken, party)
            .into_iter()
            .map(Action::as_str)
            .collect();
        return Err(Error::Conflict {
            code: "illegal_transition",
            message: format!(
                "case {} is {}{}: {} is not possible (allowed: {})",
                row.number,
                status.as_str(),
                if taken { " (taken)" } else { "" },
                action.as_str(),
                if allowed.is_empty() {
                    "none".into()
                } else {
                    allowed.join(", ")
                }
            ),
            details: json!({"status": status, "action": action, "allowed": allowed}),
        });
    };
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if action.needs_note() && note.is_none() {
        return Err(Error::refused(
            "note_required",
            "note",
            format!(
                "{} needs a note (the reason, or what was done)",
                action.as_str()
            ),
        ));
    }
    let now = Utc::now();
    let mut patch = CasePatch {
        status: to.as_str().to_owned(),
        assignee_id: row.assignee_id,
        assigned_at: row.assigned_at,
        taken_at: row.taken_at,
        handling_unit_id: row.handling_unit_id,
        deadline_at: row.deadline_at,
        overdue_at: row.overdue_at,
        first_dispatched_at: row.first_dispatched_at,
        resolved_at: row.resolved_at,
        closed_at: row.closed_at,
        now,
    };
    let mut details = json!({});
    match action {
        Action::Dispatch | Action::Reassign => {
            let assignee = check_assignee(state, who, &row, input.assignee).await?;
            details = json!({"assignee": assignee.0, "assignee_name": assignee.1,
                             "previous_assignee": row.assignee_id});
            patch.assignee_id = Some(assignee.0);
            patch.assigned_at = Some(now);
            patch.taken_at = None;
            patch.first_dispatched_at = row.first_dispatched_at.or(Some(now));
        }
        Action::Take => patch.taken_at = Some(now),
        Action::Start => patch.taken_at = row.taken_at.or(Some(now)),
        Action::Decline | Action::Return | Action::Reject => {
            details = json!({"previous_assignee": row.assignee_id});
            patch.assignee_id = None;
            patch.assigned_at = None;
            patch.taken_at = None;
            if action == Action::Reject {
                patch.closed_at = Some(now);
            }
        }
        Action::Resolve => patch.resolved_at = Some(now),
        Action::Close => patch.closed_at = Some(now),
        Action::Reopen => patch.resolved_at = None,
        Action::Escalate => {
            let loaded = state.hierarchy().require()?;
            let grid = loaded.hierarchy.by_code(&row.grid_code);
            let target = grid.and_then(|g| escalation_target(&loaded, g, row.handling_level));
            let Some(target) = target else {
                return Err(Error::Conflict {
                    code: "cannot_escalate",
                    message: format!(
                        "case {} is already handled at the county ({}); there is no higher unit",
                        row.number, row.handling_code
                    ),
                    details: json!({"handling_unit": row.handling_code}),
                });
            };
            let unit = loaded.hierarchy.unit(target);
            details = json!({"from_unit": row.handling_code, "to_unit": unit.code.as_str(),
                             "to_level": unit.level.number(),
                             "previous_assignee": row.assignee_id});
            patch.handling_unit_id = loaded.db_ids[target.0 as usize];
            patch.assignee_id = None;
            patch.assigned_at = None;
            patch.taken_at = None;
            // The higher unit gets the category's full time limit from now.
            if let Some(cat) = state.cases().category(&row.category) {
                patch.deadline_at = now + chrono::Duration::hours(i64::from(cat.sla_hours));
            }
        }
        Action::Accept | Action::FollowUp => {}
    }
    write(
        state,
        who,
        &row,
        input.version,
        &patch,
        action.as_str(),
        to,
        note,
        input.position,
        details,
    )
    .await
}

fn version_conflict(row: &CaseRow) -> Error {
    Error::Conflict {
        code: "version_conflict",
        message: format!(
            "case {} changed since you read it (now version {}, status {}); reload and retry",
            row.number, row.version, row.status
        ),
        details: json!({"current_version": row.version, "status": row.status}),
    }
}

/// The worker to assign: exists, is a worker in the dispatcher's territory, enabled, and not
/// the one already assigned.
async fn check_assignee(
    state: &impl CaseContext,
    who: &Caller,
    row: &CaseRow,
    assignee: Option<i64>,
) -> Result<(i64, String)> {
    let Some(id) = assignee else {
        return Err(Error::refused(
            "assignee_required",
            "assignee",
            "dispatch and reassign name the worker (resources.id) to assign",
        ));
    };
    if row.assignee_id == Some(id) {
        return Err(Error::refused(
            "same_assignee",
            "assignee",
            format!("case {} is already assigned to worker {id}", row.number),
        ));
    }
    match db::cases::assignable_worker(state.pool(), who.territory(), id).await? {
        Some((name, false)) => Ok((id, name)),
        Some((_, true)) => Err(Error::refused(
            "assignee_disabled",
            "assignee",
            format!("worker {id} is disabled"),
        )),
        None => Err(Error::refused(
            "unknown_assignee",
            "assignee",
            format!("no worker {id} in your territory"),
        )),
    }
}

#[allow(clippy::too_many_arguments, reason = "one write, its parts named")]
async fn write(
    state: &impl CaseContext,
    who: &Caller,
    row: &CaseRow,
    version: i32,
    patch: &CasePatch,
    action: &str,
    to: CaseStatus,
    note: Option<&str>,
    position: Option<LatLng>,
    details: Value,
) -> Result<CaseRow> {
    let mut tx = state.pool().begin().await?;
    let Some(new_version) = db::cases::update_case(&mut tx, row.id, version, patch).await? else {
        drop(tx);
        let current = db::cases::get_case(state.pool(), Territory::All, row.id)
            .await?
            .unwrap_or_else(|| row.clone());
        return Err(version_conflict(&current));
    };
    db::cases::insert_event(
        &mut tx,
        &NewEvent {
            case_id: row.id,
            version: new_version,
            at: patch.now,
            action,
            from_status: Some(&row.status),
            to_status: to.as_str(),
            actor: &who.name(),
            actor_user: who.user_id(),
            actor_resource: who.resource(),
            role: who.role().map(Role::as_str),
            note,
            position: position.map(|p| (p.lng(), p.lat())),
            details,
        },
    )
    .await?;
    let next = db::cases::get_case(&mut *tx, Territory::All, row.id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("case {} vanished", row.id)))?;
    tx.commit().await?;
    state.cases().board.apply(brief(&next), false);
    Ok(next)
}

/// Flags a pending case that went past its deadline (an `overdue` event by the system), and
/// escalates it when so configured. Answers false when the case changed meanwhile.
///
/// # Errors
///
/// Database failures.
pub async fn mark_overdue(state: &impl CaseContext, id: i64, now: DateTime<Utc>) -> Result<bool> {
    let Some(row) = db::cases::get_case(state.pool(), Territory::All, id).await? else {
        return Ok(false);
    };
    let Some(status) = CaseStatus::parse(&row.status) else {
        return Ok(false);
    };
    if row.overdue_at.is_some() || !status.is_pending() || row.deadline_at > now {
        return Ok(false);
    }
    let patch = CasePatch {
        status: row.status.clone(),
        assignee_id: row.assignee_id,
        assigned_at: row.assigned_at,
        taken_at: row.taken_at,
        handling_unit_id: row.handling_unit_id,
        deadline_at: row.deadline_at,
        overdue_at: Some(now),
        first_dispatched_at: row.first_dispatched_at,
        resolved_at: row.resolved_at,
        closed_at: row.closed_at,
        now,
    };
    let details = json!({"deadline_at": row.deadline_at});
    match write(
        state,
        &Caller::System,
        &row,
        row.version,
        &patch,
        "overdue",
        status,
        None,
        None,
        details,
    )
    .await
    {
        Ok(_) => Ok(true),
        Err(Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
