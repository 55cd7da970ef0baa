//! What the server does to cases by itself, every few seconds, reading the board (not the
//! database): flag cases that went past their deadline (and escalate them when configured),
//! and in auto-dispatch mode offer a case to the next candidate when its worker did not accept
//! it in time or declined it.

use chrono::{DateTime, Utc};

use super::lifecycle::{Action, CaseStatus};
use super::store::{self, TransitionInput};
use super::{CaseBrief, CaseContext, Error, Result, candidates_for};
use crate::auth::Caller;
use crate::db;
use crate::territory::Territory;

/// How far auto-dispatch looks for a worker, metres.
pub const AUTO_DISPATCH_RADIUS_M: f64 = 5_000.0;

/// Runs [`sweep`] every `sweep_every` until the process ends.
pub async fn sweep_task(state: impl CaseContext) {
    let mut every = tokio::time::interval(state.cases().config.sweep_every);
    loop {
        every.tick().await;
        if let Err(e) = sweep(&state, Utc::now()).await {
            tracing::warn!(error = %e, "case sweep failed; trying again at the next tick");
        }
    }
}

/// One pass: overdue first, then auto-dispatch. Answers how many cases it changed.
///
/// # Errors
///
/// Database failures (the next pass tries again).
pub async fn sweep(state: &impl CaseContext, now: DateTime<Utc>) -> Result<usize> {
    let mut changed = 0;
    let due = state
        .cases()
        .board
        .open(|c| c.status.is_pending() && c.deadline_at <= now && c.overdue_at.is_none());
    for case in due {
        if store::mark_overdue(state, case.id, now).await? {
            changed += 1;
            tracing::info!(case = %case.number, "case overdue");
            if state.cases().config.auto_escalate_overdue {
                changed += usize::from(auto_escalate(state, case.id).await?);
            }
        }
    }
    if state.cases().config.auto_dispatch {
        let timeout = chrono::Duration::from_std(state.cases().config.accept_timeout)
            .unwrap_or(chrono::Duration::MAX);
        let waiting = state.cases().board.open(|c| {
            (c.status == CaseStatus::Dispatched
                && !c.taken
                && c.assigned_at.is_some_and(|t| t + timeout <= now))
                || c.status == CaseStatus::Returned
        });
        for case in waiting {
            changed += usize::from(offer_next(state, &case).await?);
        }
    }
    Ok(changed)
}

/// Escalates an overdue case one level up (not past the county).
async fn auto_escalate(state: &impl CaseContext, id: i64) -> Result<bool> {
    let Some(row) = db::cases::get_case(state.pool(), Territory::All, id).await? else {
        return Ok(false);
    };
    let input = TransitionInput {
        action: Action::Escalate,
        version: row.version,
        note: Some("超期自动升级 (overdue: escalated automatically)".into()),
        assignee: None,
        position: None,
    };
    match store::transition(state, &Caller::System, id, &input).await {
        Ok(_) => Ok(true),
        // Illegal here (e.g. still `reported`), at the county already, or changed meanwhile.
        Err(Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Dispatches a case to the nearest available worker who has not had it yet.
async fn offer_next(state: &impl CaseContext, case: &CaseBrief) -> Result<bool> {
    let previous = db::cases::previous_assignees(state.pool(), case.id).await?;
    let found = candidates_for(state, case, 1, AUTO_DISPATCH_RADIUS_M, &previous, &|_| true)
        .map_err(|e| Error::Internal(anyhow::anyhow!("candidates: {e}")))?;
    let Some(next) = found.first() else {
        return Ok(false);
    };
    let action = if case.status == CaseStatus::Returned {
        Action::Dispatch
    } else {
        Action::Reassign
    };
    let input = TransitionInput {
        action,
        version: case.version,
        note: Some(format!(
            "自动派单 (auto-dispatch): {} m, ≈{} min walk",
            next.distance_m.round(),
            next.walk_s.div_ceil(60)
        )),
        assignee: Some(next.id),
        position: None,
    };
    match store::transition(state, &Caller::System, case.id, &input).await {
        Ok(_) => Ok(true),
        Err(Error::Conflict { .. } | Error::Refused { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
