//! A simulated worker's cases, as its phone handles them: it asks `GET /api/me/cases` soon
//! after the dispatcher loop hinted at a new assignment and otherwise at a slow background
//! pace (cases dispatched by people or by the server's auto-dispatch); it takes a new case
//! (or, now and then, declines it with a reason), walks to it, starts on arrival, spends a
//! few simulated minutes there and resolves it, both with its position; then it walks back
//! and patrols again. One case at a time, the others wait in a queue.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use geo::Coord;
use rand::Rng;
use tokio::time::Instant;

use super::act::{Outcome, act};
use super::casegen::note;
use super::client::{Api, CaseBrief, Transition};
use super::crew::{Clock, Member};
use super::patrol::Mover;
use super::{CaseSim, Stats};

/// Real time between two looks for cases at least, whatever the clock's scale.
const POLL_FLOOR: Duration = Duration::from_secs(1);

/// The case being handled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Walking to it.
    Walking,
    /// On site until then.
    OnSite(Instant),
}

#[derive(Debug, Clone, Copy)]
struct Job {
    id: i64,
    version: i32,
    phase: Phase,
}

/// What a worker's phone knows of its cases.
#[derive(Debug)]
pub(crate) struct Duty {
    current: Option<Job>,
    queue: VecDeque<CaseBrief>,
    declined: HashSet<i64>,
    next_poll: Instant,
    /// Real time between background looks.
    background: Duration,
}

/// What a step needs besides the worker's own state.
pub(crate) struct Ctx<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub stats: &'a Stats,
    pub cfg: &'a CaseSim,
    pub clock: Clock,
    pub member: &'a Member,
}

fn jitter(range: (Duration, Duration), rng: &mut impl Rng) -> Duration {
    if range.1 <= range.0 {
        range.0
    } else {
        rng.random_range(range.0..=range.1)
    }
}

fn lng_lat(c: Coord<f64>) -> [f64; 2] {
    [c.x, c.y]
}

impl Duty {
    /// A phone that first looks somewhere within its first background interval (phones are
    /// not in step), then every `background` (± 25 %).
    pub(crate) fn new(background: Duration, rng: &mut impl Rng) -> Self {
        Self {
            current: None,
            queue: VecDeque::new(),
            declined: HashSet::new(),
            next_poll: Instant::now() + background.mul_f64(rng.random::<f64>()),
            background,
        }
    }

    /// One step, at each of the worker's reports: look for cases when due, then move the
    /// current case on.
    pub(crate) async fn step(&mut self, ctx: &Ctx<'_>, mover: &mut Mover, rng: &mut impl Rng) {
        let api = Api::with_session(ctx.http.clone(), ctx.base, &ctx.member.token());
        let now = Instant::now();
        if ctx.member.take_hint() {
            let soon = now + ctx.clock.real(jitter(ctx.cfg.poll, rng), POLL_FLOOR);
            self.next_poll = self.next_poll.min(soon);
        }
        if now >= self.next_poll {
            self.next_poll = now + self.background.mul_f64(rng.random_range(0.75..=1.25));
            self.look(ctx, &api, mover, rng).await;
        }
        self.advance(ctx, &api, mover, rng).await;
    }

    /// `GET /api/me/cases`: queue what is new (or decline it), forget what was taken away.
    async fn look(&mut self, ctx: &Ctx<'_>, api: &Api, mover: &mut Mover, rng: &mut impl Rng) {
        ctx.stats.case_polls.fetch_add(1, Ordering::Relaxed);
        let mine = match api.my_cases().await {
            Ok(c) => c,
            Err(e) => {
                ctx.stats.case_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(worker = ctx.member.id, "my cases: {e}");
                return;
            }
        };
        let listed: HashSet<i64> = mine.iter().map(|c| c.id).collect();
        self.queue.retain(|c| listed.contains(&c.id));
        if let Some(j) = self.current
            && !listed.contains(&j.id)
        {
            // Reassigned or withdrawn meanwhile.
            self.current = None;
            mover.release();
        }
        for c in mine {
            let known = self.current.is_some_and(|j| j.id == c.id)
                || self.queue.iter().any(|q| q.id == c.id);
            if known {
                continue;
            }
            // Declining is for a fresh assignment, and once per case at most.
            let fresh = c.status == "dispatched" && c.taken_at.is_none();
            if fresh && !self.declined.contains(&c.id) && rng.random_bool(ctx.cfg.decline_share) {
                self.declined.insert(c.id);
                let t = Transition {
                    note: Some(note("decline", rng)),
                    ..Transition::new("decline", c.version)
                };
                let me = ctx.member.id;
                let out = act(api, ctx.stats, c.id, t, |now| {
                    now.status == "dispatched" && now.assignee.as_ref().is_some_and(|a| a.id == me)
                })
                .await;
                if let Outcome::Done(_) = out {
                    tracing::debug!(worker = me, case = c.id, "declined");
                    continue;
                }
            }
            self.queue.push_back(c);
        }
    }

    /// Moves the current case on, or starts the next one.
    async fn advance(&mut self, ctx: &Ctx<'_>, api: &Api, mover: &mut Mover, rng: &mut impl Rng) {
        let me = ctx.member.id;
        let mine = move |c: &CaseBrief| c.assignee.as_ref().is_some_and(|a| a.id == me);
        let Some(job) = self.current else {
            let Some(c) = self.queue.pop_front() else {
                return;
            };
            let mut version = c.version;
            if c.status == "dispatched" && c.taken_at.is_none() {
                let t = Transition::new("take", version);
                match act(api, ctx.stats, c.id, t, |n| {
                    n.status == "dispatched" && mine(n)
                })
                .await
                {
                    Outcome::Done(after) => version = after.version,
                    Outcome::Later(_) => {
                        self.queue.push_front(c);
                        return;
                    }
                    Outcome::Refused(e) => {
                        tracing::debug!(worker = me, case = c.id, "take refused: {e}");
                        return;
                    }
                }
            }
            let [lng, lat] = c.position;
            mover.go_to(Coord { x: lng, y: lat }, rng);
            self.current = Some(Job {
                id: c.id,
                version,
                // A case already in progress (an earlier run) is resumed on site.
                phase: Phase::Walking,
            });
            return;
        };
        match job.phase {
            Phase::Walking if mover.arrived() => {
                let t = Transition {
                    position: Some(lng_lat(mover.position())),
                    ..Transition::new("start", job.version)
                };
                let out = act(api, ctx.stats, job.id, t, |n| {
                    n.status == "dispatched" && mine(n)
                });
                let version = match out.await {
                    Outcome::Done(after) => after.version,
                    // Started before (a restart of the simulator): carry on on site.
                    Outcome::Refused(e) if e.code() == Some("illegal_transition") => {
                        match api.case(job.id).await {
                            Ok(n) if n.status == "in_progress" && mine(&n) => n.version,
                            _ => return self.drop_job(mover),
                        }
                    }
                    Outcome::Refused(_) => return self.drop_job(mover),
                    Outcome::Later(_) => return,
                };
                let on_site = jitter(ctx.cfg.on_site, rng);
                self.current = Some(Job {
                    id: job.id,
                    version,
                    phase: Phase::OnSite(Instant::now() + ctx.clock.real(on_site, Duration::ZERO)),
                });
            }
            Phase::OnSite(until) if Instant::now() >= until => {
                let t = Transition {
                    note: Some(note("resolve", rng)),
                    position: Some(lng_lat(mover.position())),
                    ..Transition::new("resolve", job.version)
                };
                let out = act(api, ctx.stats, job.id, t, |n| {
                    n.status == "in_progress" && mine(n)
                });
                match out.await {
                    Outcome::Done(_) => {
                        tracing::debug!(worker = me, case = job.id, "resolved");
                        self.drop_job(mover);
                    }
                    Outcome::Refused(_) => self.drop_job(mover),
                    Outcome::Later(_) => {}
                }
            }
            Phase::Walking | Phase::OnSite(_) => {}
        }
    }

    fn drop_job(&mut self, mover: &mut Mover) {
        self.current = None;
        mover.release();
    }
}
