//! The pipeline every decoder feeds: per item, the resource (looked up once per batch), whether
//! the sender may report for it, the report in the right datum and within the history kept;
//! then the whole batch at once into the live index and the track buffer, and the wait for the
//! database's commit that an acknowledgement promises.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridwall_spatial::Scope;

use super::IngestContext;
use super::error::{Error, Result};
use crate::auth::{Principal, Territory};
use crate::hierarchy::LoadedHierarchy;
use crate::live::tracks::NotDurable;
use crate::live::{Applied, ResourceInfo};
use crate::position::{Crs, Rejection, Report};

/// Who sends positions.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    /// A phone, by its device token or OsmAnd identifier: its own resource only.
    Device {
        /// The resource (`resources.id`) it reports for.
        resource_id: i64,
    },
    /// A user's session (an integration): any resource whose home unit is in its territory.
    /// The caller has checked the role.
    User(&'a Principal),
}

/// One decoded position, before its resource is known.
pub trait Item {
    /// The resource it names, `None` when it names none (the sender's own).
    ///
    /// # Errors
    ///
    /// The item's rejection when the resource cannot be read, or the item at all.
    fn resource(&self) -> Result<Option<i64>, Rejection>;

    /// The checked report in WGS84; `resource_crs` is the datum the resource's devices report
    /// in, used when the request declared none.
    ///
    /// # Errors
    ///
    /// The item's rejection (a range, a time, a value).
    fn report(&self, resource_crs: Crs, now: DateTime<Utc>) -> Result<Report, Rejection>;
}

/// What became of one item: what it did on the live map, or why it was refused.
pub type Outcome = Result<Applied, Rejection>;

/// Takes a batch from `sender`: each item is answered on its own, in order (a bad item never
/// drops the good ones), and the accepted ones are committed to the track before this returns.
/// Counts the accepted and rejected items in the metrics.
///
/// # Errors
///
/// [`Error::TrackBufferFull`] (nothing taken), [`Error::NotDurableYet`] (taken, live, not yet
/// committed), [`Error::TrackRefused`], [`Error::Db`] when the resources cannot be read.
pub async fn accept<I: Item>(
    ctx: &impl IngestContext,
    sender: Sender<'_>,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    let live = ctx.live();
    let oldest = now - chrono::Duration::days(i64::from(live.config.retention_days));
    let loaded = ctx.hierarchy().get();
    let scope = match sender {
        Sender::User(me) => match loaded.as_deref() {
            Some(l) => me.scope(l),
            None => (me.territory() == Territory::All).then_some(Scope::Everything),
        },
        Sender::Device { .. } => None,
    };
    // Which resources the batch names: looked up once each.
    let mut ids: Vec<i64> = Vec::new();
    let mut parsed: Vec<Result<(i64, &I), Rejection>> = Vec::with_capacity(items.len());
    for item in items {
        let r = match (sender, item.resource()) {
            (Sender::Device { resource_id }, Ok(None)) => Ok((resource_id, item)),
            (_, Ok(Some(id))) => Ok((id, item)),
            (Sender::User(_), Ok(None)) => {
                Err(Rejection::new("missing_field", "resource is required"))
            }
            (_, Err(e)) => Err(e),
        };
        if let Ok((id, _)) = &r {
            ids.push(*id);
        }
        parsed.push(r);
    }
    ids.sort_unstable();
    ids.dedup();
    let known = live.resources(ctx.pool(), &ids).await?;
    let mut accepted: Vec<(Arc<ResourceInfo>, Report)> = Vec::new();
    let mut results: Vec<Result<usize, Rejection>> = Vec::with_capacity(items.len());
    for r in parsed {
        let outcome = r.and_then(|(id, item)| {
            // A phone names only its own resource: refused before asking whether `id` exists.
            if let Sender::Device { resource_id } = sender
                && resource_id != id
            {
                return Err(Rejection::new(
                    "out_of_scope",
                    format!("this device token reports for resource {resource_id}, not {id}"),
                ));
            }
            // Missing and outside the territory answer alike: the territory's edge hides what
            // lies beyond it.
            let unknown = || {
                Rejection::new(
                    "unknown_resource",
                    format!("no resource {id} in your territory"),
                )
            };
            let info = known.get(&id).ok_or_else(unknown)?;
            match sender {
                Sender::User(_) => {
                    let inside = match (scope, loaded.as_deref()) {
                        (Some(s), Some(l)) => l
                            .hierarchy
                            .by_code(&info.unit_code)
                            .is_some_and(|u| s.contains(&l.hierarchy, u)),
                        (Some(Scope::Everything), None) => true,
                        _ => false,
                    };
                    if !inside {
                        return Err(unknown());
                    }
                }
                Sender::Device { .. } => {}
            }
            if info.disabled {
                return Err(Rejection::new(
                    "resource_disabled",
                    format!("resource {id} is disabled"),
                ));
            }
            let report = item.report(info.crs, now)?;
            if report.at < oldest {
                return Err(Rejection::new(
                    "too_old",
                    format!(
                        "at ({}) is older than the {} days of history kept",
                        report.at, live.config.retention_days
                    ),
                ));
            }
            accepted.push((Arc::clone(info), report));
            Ok(accepted.len() - 1)
        });
        results.push(outcome);
    }
    let applied = commit(ctx, loaded.as_deref(), &accepted).await?;
    let metrics = ctx.metrics();
    let n_accepted = accepted.len();
    metrics
        .positions_accepted
        .inc_by(u64::try_from(n_accepted).unwrap_or(u64::MAX));
    metrics
        .positions_rejected
        .inc_by(u64::try_from(results.len() - n_accepted).unwrap_or(u64::MAX));
    Ok(results.into_iter().map(|r| r.map(|i| applied[i])).collect())
}

/// Applies accepted points to the live map and waits until the track has them.
async fn commit(
    ctx: &impl IngestContext,
    loaded: Option<&LoadedHierarchy>,
    accepted: &[(Arc<ResourceInfo>, Report)],
) -> Result<Vec<Applied>> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    let live = ctx.live();
    let (applied, durable) =
        live.apply(loaded, accepted)
            .map_err(|full| Error::TrackBufferFull {
                queued: full.queued,
            })?;
    match durable.wait(live.config.ack_timeout).await {
        Ok(()) => Ok(applied),
        Err(NotDurable::Pending) => Err(Error::NotDurableYet),
        Err(NotDurable::Refused) => Err(Error::TrackRefused),
    }
}
