//! Raises cases at a Poisson rate: each near a simulated worker picked at random (so cases
//! fall where the workers are, in proportion to them, and always in a grid), with the
//! category, source and severity mix of [`super::casegen`]. A patrol report is posted by the
//! worker's phone with its device token; hotline, 110 and walk-in cases by the session, as
//! the center's operators would. Every creation carries an `Idempotency-Key`, and a request
//! whose answer was lost is sent again with the same key.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use geo::Contains as _;
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::sync::watch;

use super::act::transient;
use super::casegen::{SIM_MARK, Source, draft, next_arrival};
use super::client::Api;
use super::crew::{Clock, Crew};
use super::patrol::point_near;
use super::{CaseSim, Shared};

/// How far from the worker a case reported by someone else happens, metres at most.
const NEAR_M: f64 = 600.0;
/// Tries of one creation (the same key each time).
const TRIES: u32 = 3;

/// Raises cases until stopped. `run` tells this run's keys apart from an earlier one's.
pub(crate) async fn raise(
    shared: Arc<Shared>,
    crew: Arc<Crew>,
    cfg: CaseSim,
    clock: Clock,
    run: String,
    mut stop: watch::Receiver<bool>,
    mut rng: StdRng,
) {
    let per_real_hour = cfg.per_hour * clock.scale();
    let mut n = 0_u64;
    loop {
        let Some(wait) = next_arrival(per_real_hour, &mut rng) else {
            return;
        };
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
        // A worker on patrol in their grid (not one away at a case, perhaps outside every
        // grid): a few random tries, which is fair and cheap with thousands of workers.
        let picked = (0..20).find_map(|_| {
            let m = crew
                .members
                .get(rng.random_range(0..crew.members.len().max(1)))?;
            let at = m.position()?;
            m.area.contains(&at).then_some((m, at))
        });
        let Some((member, at)) = picked else {
            continue;
        };
        let d = draft(&mut rng);
        let at = if d.source == Source::Patrol {
            at
        } else {
            point_near(&member.area, at, NEAR_M, &mut rng)
        };
        let mut body = json!({
            "title": d.title,
            "description": d.description,
            "category": d.category,
            "severity": d.severity,
            "lat": at.y,
            "lng": at.x,
            "address": format!("{}附近{SIM_MARK}", member.place),
        });
        if d.source != Source::Patrol {
            body["source"] = json!(d.source.code());
            body["reporter_name"] = json!(d.reporter_name);
            body["reporter_phone"] = json!(d.reporter_phone);
        }
        n += 1;
        let key = format!("sim-{run}-{n}");
        for attempt in 1..=TRIES {
            let api = if d.source == Source::Patrol {
                Api::with_session(
                    shared.api.http().clone(),
                    shared.api.base(),
                    &member.token(),
                )
            } else {
                shared.api.clone()
            };
            let created = {
                let Ok(_permit) = shared.limit.acquire().await else {
                    return;
                };
                api.create_case(&body, &key).await
            };
            match created {
                Ok(c) => {
                    shared.stats.cases_raised.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(case = %c.number, category = d.category,
                        source = d.source.code(), "case raised");
                    break;
                }
                Err(e) => {
                    shared.stats.case_errors.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("raising a case: {e}"));
                    if !transient(&e) || attempt == TRIES {
                        tracing::warn!(grid = %member.grid, "a case was not raised: {e}");
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
        }
    }
}
