//! The simulated dispatcher (调度员), through the session: every few seconds it reads the
//! simulator's own cases that wait for the center (`GET /api/cases?q=（模拟）`), accepts the
//! reported ones after a short intake, dispatches the accepted, returned and escalated ones to
//! the first dispatch candidate (not one who declined it), escalates what finds nobody for a
//! while, calls back (follow-up) after a resolution and closes what was followed up. Cases
//! raised by anyone else are left to people. Delays are simulated time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use rand::Rng as _;
use rand::rngs::StdRng;
use tokio::sync::watch;

use super::act::{Outcome, act};
use super::casegen::{SIM_MARK, note};
use super::client::{CaseBrief, Transition, encode};
use super::crew::{Clock, Crew};
use super::{CaseSim, Shared, WORKER_PREFIX};

/// Statuses the center acts on.
const WAITING: &str = "reported,accepted,returned,escalated,resolved,followed_up";
/// Cases read per round at most (the dispatcher's queue order: overdue and urgent first).
const PAGE: u32 = 500;
/// Transitions per round at most, so that a backlog drains at a modest request rate.
const ACTIONS_PER_ROUND: usize = 50;
/// Candidates asked for.
const K: u32 = 3;

/// What the dispatcher remembers of a case.
#[derive(Debug, Default)]
struct Memo {
    /// The worker it was last dispatched to.
    last_assignee: Option<i64>,
    /// Workers who declined or returned it: not offered again.
    declined_by: HashSet<i64>,
    /// The county refused a further escalation.
    top: bool,
}

/// What to do with a case now, from its status and how long (simulated seconds) it has
/// waited in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Accept,
    Dispatch,
    FollowUp,
    Close,
    Wait,
}

fn next(status: &str, waited_s: f64, cfg: &CaseSim) -> Next {
    let after = |d: Duration| waited_s >= d.as_secs_f64();
    match status {
        "reported" if after(cfg.accept_after) => Next::Accept,
        "accepted" | "returned" | "escalated" => Next::Dispatch,
        "resolved" if after(cfg.follow_up_after) => Next::FollowUp,
        "followed_up" if after(cfg.close_after) => Next::Close,
        _ => Next::Wait,
    }
}

/// Runs rounds every `cfg.dispatch_every` (real time) until stopped.
#[allow(clippy::similar_names, reason = "`step` and `stats` read apart")]
pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    crew: Arc<Crew>,
    cfg: CaseSim,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    mut rng: StdRng,
) {
    let mut memos: HashMap<i64, Memo> = HashMap::new();
    let mut sos_delays: HashMap<i64, (f64, f64)> = HashMap::new();
    let query = format!(
        "status={WAITING}&q={}&order=queue&limit={PAGE}",
        encode(SIM_MARK)
    );
    let mut tick = tokio::time::interval(cfg.dispatch_every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let waiting = match shared.api.cases(&query).await {
            Ok(c) => c,
            Err(e) => {
                shared.stats.case_errors.fetch_add(1, Ordering::Relaxed);
                shared.note_error(format!("the dispatcher's queue: {e}"));
                continue;
            }
        };
        let open: HashSet<i64> = waiting.iter().map(|c| c.id).collect();
        // Forget what left the queue for good (closed, rejected) or for a while (dispatched:
        // the memo of a dispatched case is kept, a decline brings it back).
        memos.retain(|id, m| open.contains(id) || m.last_assignee.is_some());
        let mut actions = 0;
        for c in waiting {
            if actions >= ACTIONS_PER_ROUND {
                break;
            }
            let waited_s = clock.simulated_s(
                (Utc::now() - c.updated_at)
                    .to_std()
                    .unwrap_or_default()
                    .as_secs_f64(),
            );
            let step = next(&c.status, waited_s, &cfg);
            if step == Next::Wait {
                continue;
            }
            actions += 1;
            let memo = memos.entry(c.id).or_default();
            let done = round_one(&shared, &crew, &cfg, &c, step, waited_s, memo, &mut rng).await;
            if done && step == Next::Close {
                memos.remove(&c.id);
            }
        }
        if cfg.incidents_per_hour > 0.0 {
            answer_sos(&shared, clock, &mut sos_delays, &mut rng).await;
        }
        // Cases closed by someone else keep their memo; bound them (a long demo).
        if memos.len() > 100_000 {
            memos.clear();
        }
    }
}

/// The simulated workers' SOS alerts: acknowledged 20–60 s after they were raised, and the
/// SOS cleared (which resolves the alert) 2–5 minutes after that, simulated time. Alerts of
/// anyone else's resources are left to people.
async fn answer_sos(
    shared: &Shared,
    clock: Clock,
    delays: &mut HashMap<i64, (f64, f64)>,
    rng: &mut StdRng,
) {
    let alerts = match shared.api.sos_alerts().await {
        Ok(a) => a,
        Err(e) => {
            shared.stats.case_errors.fetch_add(1, Ordering::Relaxed);
            shared.note_error(format!("the dispatcher's SOS alerts: {e}"));
            return;
        }
    };
    let live: HashSet<i64> = alerts.iter().map(|a| a.id).collect();
    delays.retain(|id, _| live.contains(id));
    for a in alerts.iter().filter(|a| a.title.contains(WORKER_PREFIX)) {
        let (ack_s, clear_s) = *delays.entry(a.id).or_insert_with(|| {
            (
                rng.random_range(20.0..=60.0),
                rng.random_range(120.0..=300.0),
            )
        });
        let age_s = clock.simulated_s(
            (Utc::now() - a.raised_at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64(),
        );
        let done = if !a.acknowledged && age_s >= ack_s {
            shared
                .api
                .acknowledge_alert(a.id, "已联系网格员，正在核实（模拟调度）")
                .await
        } else if a.acknowledged && age_s >= ack_s + clear_s {
            shared.api.clear_sos(a.resource).await
        } else {
            continue;
        };
        shared.stats.case_actions.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = done {
            // Someone else got there first (409), or the request failed: look again next round.
            shared.note_error(format!("SOS alert {}: {e}", a.id));
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one round's context, called once"
)]
#[allow(clippy::similar_names, reason = "`status` and `stats` read apart")]
async fn round_one(
    shared: &Shared,
    crew: &Crew,
    cfg: &CaseSim,
    c: &CaseBrief,
    step: Next,
    waited_s: f64,
    memo: &mut Memo,
    rng: &mut StdRng,
) -> bool {
    let api = &shared.api;
    let stats = &shared.stats;
    let status = c.status.clone();
    let same = move |n: &CaseBrief| n.status == status;
    let out = match step {
        Next::Wait => return false,
        Next::Accept => act(api, stats, c.id, Transition::new("accept", c.version), same).await,
        Next::FollowUp => {
            let t = Transition {
                note: Some(note("follow_up", rng)),
                ..Transition::new("follow_up", c.version)
            };
            act(api, stats, c.id, t, same).await
        }
        Next::Close => act(api, stats, c.id, Transition::new("close", c.version), same).await,
        Next::Dispatch => {
            if c.status == "returned"
                && let Some(w) = memo.last_assignee
            {
                memo.declined_by.insert(w);
            }
            // Escalated cases look further: the township or county sends whoever can go.
            let radius_m = if c.status == "escalated" {
                20_000
            } else {
                5_000
            };
            let candidates = match api.candidates(c.id, K, radius_m).await {
                Ok(v) => v,
                Err(e) => {
                    stats.case_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(case = c.id, "candidates: {e}");
                    return false;
                }
            };
            match candidates
                .into_iter()
                .find(|w| !memo.declined_by.contains(w))
            {
                Some(w) => {
                    let t = Transition {
                        assignee: Some(w),
                        ..Transition::new("dispatch", c.version)
                    };
                    let out = act(api, stats, c.id, t, same).await;
                    if let Outcome::Done(_) = out {
                        memo.last_assignee = Some(w);
                        if let Some(m) = crew.get(w) {
                            m.hint();
                        }
                    }
                    out
                }
                None if waited_s >= cfg.escalate_after.as_secs_f64() && !memo.top => {
                    let t = Transition {
                        note: Some(note("escalate", rng)),
                        ..Transition::new("escalate", c.version)
                    };
                    let out = act(api, stats, c.id, t, same).await;
                    if let Outcome::Refused(e) = &out
                        && e.code() == Some("cannot_escalate")
                    {
                        memo.top = true;
                    }
                    out
                }
                None => return false,
            }
        }
    };
    match out {
        Outcome::Done(after) => {
            tracing::debug!(case = %after.number, from = %c.status, to = %after.status, "dispatcher");
            true
        }
        Outcome::Refused(e) => {
            tracing::debug!(case = c.id, "dispatcher refused: {e}");
            false
        }
        Outcome::Later(e) => {
            shared.note_error(format!("dispatcher: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_center_acts_after_its_delays() {
        let cfg = CaseSim::default();
        assert_eq!(next("reported", 0.0, &cfg), Next::Wait);
        assert_eq!(next("reported", 3600.0, &cfg), Next::Accept);
        assert_eq!(next("accepted", 0.0, &cfg), Next::Dispatch);
        assert_eq!(next("returned", 0.0, &cfg), Next::Dispatch);
        assert_eq!(next("escalated", 0.0, &cfg), Next::Dispatch);
        assert_eq!(next("dispatched", 1e9, &cfg), Next::Wait);
        assert_eq!(next("in_progress", 1e9, &cfg), Next::Wait);
        assert_eq!(next("resolved", 0.0, &cfg), Next::Wait);
        assert_eq!(next("resolved", 1e9, &cfg), Next::FollowUp);
        assert_eq!(next("followed_up", 1e9, &cfg), Next::Close);
        assert_eq!(next("closed", 1e9, &cfg), Next::Wait);
    }
}
