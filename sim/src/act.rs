//! One case transition as a careful client makes it: on 409 `version_conflict` it reads the
//! case again and, if the action still makes sense, tries once more with the current version;
//! a refusal (another dispatcher was faster, the case moved on) drops the action, and only a
//! connection error or a busy server leaves it for later.

use std::sync::atomic::Ordering;

use super::client::{Api, CaseBrief, Transition};
use super::{SimError, Stats};

/// What became of a transition.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Done: the case after it.
    Done(CaseBrief),
    /// Refused for good (the case moved on, or is not the caller's any more).
    Refused(SimError),
    /// Not reached or the server is busy: try again later.
    Later(SimError),
}

/// Whether an error is worth trying again later (the request may not have been served).
pub(crate) fn transient(e: &SimError) -> bool {
    match e {
        SimError::Connect { .. } => true,
        SimError::Api { status, .. } => *status >= 500 || *status == 429,
        SimError::Setup(_) | SimError::State(_) => false,
    }
}

/// Makes `t` on case `id`; on a version conflict re-reads it and retries once if `still`
/// holds for the case as it is now.
pub(crate) async fn act(
    api: &Api,
    stats: &Stats,
    id: i64,
    mut t: Transition<'_>,
    still: impl Fn(&CaseBrief) -> bool,
) -> Outcome {
    for attempt in 0..2 {
        stats.case_actions.fetch_add(1, Ordering::Relaxed);
        match api.transition(id, &t).await {
            Ok(c) => return Outcome::Done(c),
            Err(e) if e.code() == Some("version_conflict") && attempt == 0 => {
                stats.case_conflicts.fetch_add(1, Ordering::Relaxed);
                match api.case(id).await {
                    Ok(c) if still(&c) => t.version = c.version,
                    Ok(_) => return Outcome::Refused(e),
                    Err(e) if transient(&e) => return Outcome::Later(e),
                    Err(e) => return Outcome::Refused(e),
                }
            }
            Err(e) if transient(&e) => {
                stats.case_errors.fetch_add(1, Ordering::Relaxed);
                return Outcome::Later(e);
            }
            Err(e) => {
                if e.code() == Some("version_conflict") {
                    stats.case_conflicts.fetch_add(1, Ordering::Relaxed);
                }
                return Outcome::Refused(e);
            }
        }
    }
    Outcome::Later(SimError::Setup("version conflict twice".into()))
}
