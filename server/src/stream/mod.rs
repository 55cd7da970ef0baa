//! Subscriptions on the live websocket: what a client asked to see ([`Subscription`]), what it
//! may see ([`View`]: layers, territorial scope, viewport or unit), and the per-client
//! bookkeeping ([`Feed`]) that turns bus updates into snapshots and coalesced deltas.
//!
//! Invariants of a [`Feed`]: `seen` is exactly what the client was last told it sees (the
//! snapshot, plus entered, minus left and removed); `pending` holds at most one change per
//! resource (the latest) and only for resources that are seen or visible, never more than
//! `max_pending` of them, past which the backlog is dropped and a snapshot owed. While a
//! snapshot is owed nothing is queued at all: the snapshot reads the index when it is sent.
//! Nothing here does I/O or reads a clock; the socket glue (`http/ws.rs`) decides when to flush.

mod backlog;
mod reach;
mod records;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridwall_spatial::{Entry, LatLng, LiveIndex, ResourceId, ResourceKind, Scope, Status, UnitId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hierarchy::LoadedHierarchy;
use crate::live::{LiveUpdate, ResourceInfo, UpdateKind, kind_str};

pub use backlog::Backlog;
pub use reach::Reach;
pub use records::{Record, RecordFeed};

/// Longest `id` string a client may ask to have echoed.
const MAX_ID_CHARS: usize = 100;

/// Why the server could not use a client message; sent back as an `error` message and the
/// socket stays open.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    /// Stable code: `bad_message`, `unsupported`, `invalid_subscription`, `unknown_layer`,
    /// `invalid_bbox`, `unknown_unit`, `out_of_scope`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The `id` of the message, when it had one.
    pub id: Option<Value>,
}

impl ProtocolError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            id: None,
        }
    }

    fn with_id(mut self, id: Option<Value>) -> Self {
        self.id = id;
        self
    }
}

/// The layers a client may subscribe to. `cases` and `alerts` are served by the socket glue
/// from the case board and the live alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one switch per layer, as the subscription message carries them"
)]
pub struct Layers {
    /// Grid workers.
    pub workers: bool,
    /// Patrol cars and other tracked vehicles.
    pub vehicles: bool,
    /// Open cases.
    pub cases: bool,
    /// Live alerts.
    pub alerts: bool,
}

impl Layers {
    /// Whether resources of `kind` are on these layers.
    #[must_use]
    pub fn shows(self, kind: ResourceKind) -> bool {
        match kind {
            ResourceKind::Worker => self.workers,
            ResourceKind::Vehicle => self.vehicles,
        }
    }
}

/// A lng/lat box, degrees WGS84, edges included; `west ≤ east`, `south ≤ north`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// Western edge (longitude).
    pub west: f64,
    /// Southern edge (latitude).
    pub south: f64,
    /// Eastern edge (longitude).
    pub east: f64,
    /// Northern edge (latitude).
    pub north: f64,
}

impl Bbox {
    /// Checks `[west, south, east, north]` (GeoJSON order).
    ///
    /// # Errors
    ///
    /// `invalid_bbox` for out-of-range edges, `west > east` (the antimeridian is not
    /// supported) or `south > north`.
    pub fn new([west, south, east, north]: [f64; 4]) -> Result<Self, ProtocolError> {
        let bad = |why: &str| {
            ProtocolError::new(
                "invalid_bbox",
                format!("bbox [{west}, {south}, {east}, {north}]: {why}"),
            )
        };
        if ![west, south, east, north].iter().all(|v| v.is_finite()) {
            return Err(bad("edges must be finite numbers"));
        }
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err(bad("longitudes must lie in [-180, 180]"));
        }
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err(bad("latitudes must lie in [-90, 90]"));
        }
        if west > east {
            return Err(bad(
                "west > east (boxes across the antimeridian are not supported)",
            ));
        }
        if south > north {
            return Err(bad("south > north"));
        }
        Ok(Self {
            west,
            south,
            east,
            north,
        })
    }

    /// Whether `p` lies in the box (edges included).
    #[must_use]
    pub fn contains(&self, p: LatLng) -> bool {
        (self.west..=self.east).contains(&p.lng()) && (self.south..=self.north).contains(&p.lat())
    }
}

/// Where a subscription looks.
#[derive(Debug, Clone, PartialEq)]
pub enum Area {
    /// A map viewport: resources whose position lies in the box.
    Viewport {
        /// The box.
        bbox: Bbox,
        /// The map's zoom level (reserved for clustering; not used to filter).
        zoom: Option<f64>,
    },
    /// Resources located in a grid under this unit (code).
    Unit(String),
}

/// A checked `subscribe` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Echoed in the snapshot that answers it (a string or a number).
    pub id: Option<Value>,
    /// What to show.
    pub layers: Layers,
    /// Where.
    pub area: Area,
}

/// A message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Set (or replace) the subscription.
    Subscribe(Subscription),
}

#[derive(Deserialize)]
struct RawSubscribe {
    layers: Vec<String>,
    viewport: Option<RawViewport>,
    unit: Option<String>,
}

#[derive(Deserialize)]
struct RawViewport {
    bbox: [f64; 4],
    zoom: Option<f64>,
}

/// Parses one text message from the client.
///
/// # Errors
///
/// [`ProtocolError`] saying what is wrong, with the message's `id` when it had one.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new("bad_message", format!("not JSON: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(ProtocolError::new(
            "bad_message",
            "a message is a JSON object with a \"type\"",
        ));
    };
    let id = match object.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => {
            Some(Value::String(s.clone()))
        }
        Some(n @ Value::Number(_)) => Some(n.clone()),
        Some(_) => {
            return Err(ProtocolError::new(
                "bad_message",
                format!("\"id\" must be a number or a string of at most {MAX_ID_CHARS} characters"),
            ));
        }
    };
    match object.get("type").and_then(Value::as_str) {
        Some("subscribe") => parse_subscribe(value.clone(), id.clone())
            .map(ClientMessage::Subscribe)
            .map_err(|e| e.with_id(id)),
        Some(other) => Err(ProtocolError::new(
            "unsupported",
            format!("unknown message type {other:?} (known: \"subscribe\")"),
        )
        .with_id(id)),
        None => Err(ProtocolError::new(
            "bad_message",
            "a message is a JSON object with a \"type\"",
        )
        .with_id(id)),
    }
}

fn parse_subscribe(value: Value, id: Option<Value>) -> Result<Subscription, ProtocolError> {
    let raw: RawSubscribe = serde_json::from_value(value)
        .map_err(|e| ProtocolError::new("invalid_subscription", e.to_string()))?;
    let mut layers = Layers::default();
    for name in &raw.layers {
        match name.as_str() {
            "workers" => layers.workers = true,
            "vehicles" => layers.vehicles = true,
            "cases" => layers.cases = true,
            "alerts" => layers.alerts = true,
            other => {
                return Err(ProtocolError::new(
                    "unknown_layer",
                    format!("unknown layer {other:?} (known: workers, vehicles, cases, alerts)"),
                ));
            }
        }
    }
    let area = match (raw.viewport, raw.unit) {
        (Some(v), None) => {
            if let Some(z) = v.zoom
                && !(0.0..=24.0).contains(&z)
            {
                return Err(ProtocolError::new(
                    "invalid_subscription",
                    format!("zoom {z} is not in [0, 24]"),
                ));
            }
            Area::Viewport {
                bbox: Bbox::new(v.bbox)?,
                zoom: v.zoom,
            }
        }
        (None, Some(code)) => Area::Unit(code),
        _ => {
            return Err(ProtocolError::new(
                "invalid_subscription",
                "give either \"viewport\" ({\"bbox\": [w, s, e, n], \"zoom\": z}) or \"unit\" (a unit code)",
            ));
        }
    };
    Ok(Subscription { id, layers, area })
}

/// Where a resolved view looks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Viewport(Bbox),
    Unit(UnitId),
}

/// A subscription resolved against one hierarchy version and what the user may read: decides
/// what the client sees.
#[derive(Debug, Clone)]
pub struct View {
    subscription: Subscription,
    loaded: Option<Arc<LoadedHierarchy>>,
    /// What the user may read in `loaded`.
    reach: Reach,
    target: Target,
}

impl View {
    /// Resolves `subscription` against `loaded` (`None`: no hierarchy imported yet) for a user
    /// who may read `reach` in it.
    ///
    /// # Errors
    ///
    /// `unknown_unit` when the subscribed unit is not in the hierarchy, `out_of_scope` when it
    /// lies outside the user's territory.
    pub fn resolve(
        subscription: Subscription,
        loaded: Option<Arc<LoadedHierarchy>>,
        reach: Reach,
    ) -> Result<Self, ProtocolError> {
        let target = match &subscription.area {
            Area::Viewport { bbox, .. } => Target::Viewport(*bbox),
            Area::Unit(code) => {
                let err = |code_: &'static str, message: String| {
                    ProtocolError::new(code_, message).with_id(subscription.id.clone())
                };
                let Some(l) = loaded.as_deref() else {
                    return Err(err(
                        "unknown_unit",
                        format!("unit {code:?}: no hierarchy is loaded"),
                    ));
                };
                let Some(unit) = l.hierarchy.by_code(code) else {
                    return Err(err("unknown_unit", format!("no unit {code:?}")));
                };
                if !reach.units.is_some_and(|s| s.contains(&l.hierarchy, unit)) {
                    return Err(err(
                        "out_of_scope",
                        format!("unit {code:?} is outside your territory"),
                    ));
                }
                Target::Unit(unit)
            }
        };
        Ok(Self {
            subscription,
            loaded,
            reach,
            target,
        })
    }

    /// The subscription this view resolves.
    #[must_use]
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// The hierarchy version it was resolved against (0: none).
    #[must_use]
    pub fn version(&self) -> i64 {
        self.loaded.as_ref().map_or(0, |l| l.version)
    }

    fn hierarchy_version(&self) -> Option<i64> {
        self.loaded.as_ref().map(|l| l.version)
    }

    /// The home unit of a resource in this view's hierarchy.
    fn home_of(&self, info: &ResourceInfo) -> Option<UnitId> {
        self.loaded
            .as_deref()
            .and_then(|l| l.hierarchy.by_code(&info.unit_code))
    }

    /// Whether a resource of `kind` homed at `home`, at `position`, located in `grid` (ids of
    /// this view's hierarchy) is visible: its layer is subscribed, the user reads the live
    /// picture, the home unit is in the user's territory, and it is in the viewport or located
    /// under the subscribed unit.
    #[must_use]
    pub fn sees(
        &self,
        kind: ResourceKind,
        home: Option<UnitId>,
        position: LatLng,
        grid: Option<UnitId>,
    ) -> bool {
        if !self.subscription.layers.shows(kind) || !self.reach.live {
            return false;
        }
        let in_scope = match (self.reach.records, self.loaded.as_deref()) {
            (None, _) | (Some(Scope::Subtree(_)), None) => false,
            (Some(Scope::Everything), _) => true,
            (Some(scope), Some(l)) => home.is_some_and(|h| scope.contains(&l.hierarchy, h)),
        };
        if !in_scope {
            return false;
        }
        match self.target {
            Target::Viewport(bbox) => bbox.contains(position),
            Target::Unit(unit) => self.loaded.as_deref().is_some_and(|l| {
                grid.and_then(|g| l.hierarchy.path(g))
                    .is_some_and(|p| Scope::Subtree(unit).contains_path(&p))
            }),
        }
    }

    /// Whether an open case is visible: the `cases` layer is subscribed, the user reads this
    /// case (a worker: assigned to or reported by them), its grid is in the user's territory,
    /// and it lies in the viewport or under the subscribed unit.
    #[must_use]
    pub fn sees_case(&self, case: &crate::cases::CaseBrief) -> bool {
        if !self.subscription.layers.cases || !self.reach.cases.reads(case.assignee, case.reporter)
        {
            return false;
        }
        let (Some(scope), Some(l)) = (self.reach.records, self.loaded.as_deref()) else {
            return false;
        };
        let Some(grid) = l.hierarchy.by_code(&case.grid) else {
            return false;
        };
        if !scope.contains(&l.hierarchy, grid) {
            return false;
        }
        match self.target {
            Target::Viewport(bbox) => case.latlng().is_some_and(|p| bbox.contains(p)),
            Target::Unit(unit) => l
                .hierarchy
                .path(grid)
                .is_some_and(|p| Scope::Subtree(unit).contains_path(&p)),
        }
    }

    /// Whether a live alert is visible: the `alerts` layer is subscribed, the user reads
    /// alerts, its unit is in the user's territory, and it lies in the viewport or (unit
    /// subscriptions) its unit is under the subscribed unit.
    #[must_use]
    pub fn sees_alert(&self, alert: &crate::alerts::AlertBrief) -> bool {
        if !self.subscription.layers.alerts || !self.reach.live {
            return false;
        }
        let (Some(scope), Some(l)) = (self.reach.records, self.loaded.as_deref()) else {
            return false;
        };
        let Some(unit) = l.hierarchy.by_code(&alert.unit) else {
            return false;
        };
        if !scope.contains(&l.hierarchy, unit) {
            return false;
        }
        match self.target {
            Target::Viewport(bbox) => {
                LatLng::new(alert.position[1], alert.position[0]).is_ok_and(|p| bbox.contains(p))
            }
            Target::Unit(root) => Scope::Subtree(root).contains(&l.hierarchy, unit),
        }
    }

    fn sees_entry(&self, entry: &Entry, home: Option<UnitId>) -> bool {
        let r = &entry.report;
        self.sees(r.kind, home, r.position, r.grid)
    }

    fn grid_code(&self, grid: Option<UnitId>) -> Option<String> {
        let l = self.loaded.as_deref()?;
        let g = grid?;
        ((g.0 as usize) < l.hierarchy.len()).then(|| l.hierarchy.unit(g).code.to_string())
    }

    fn motion(&self, entry: &Entry) -> Motion {
        let r = &entry.report;
        Motion {
            id: entry.id.0,
            position: [r.position.lng(), r.position.lat()],
            at: DateTime::from_timestamp_millis(r.at_ms).unwrap_or_default(),
            status: status_names(r.status),
            grid: self.grid_code(r.grid),
            speed_mps: r.speed_mps,
            heading_deg: r.heading_deg,
            accuracy_m: r.accuracy_m,
            battery_pct: r.battery_pct,
        }
    }

    fn resource(&self, entry: &Entry, info: &ResourceInfo) -> Resource {
        Resource {
            motion: self.motion(entry),
            kind: kind_str(entry.report.kind),
            name: info.name.to_string(),
            plate: info.plate.as_deref().map(str::to_owned),
        }
    }
}

/// The status flags as strings: `on_duty`, `busy`, `offline`, `sos`.
#[must_use]
pub fn status_names(status: Status) -> Vec<&'static str> {
    [
        (Status::ON_DUTY, "on_duty"),
        (Status::BUSY, "busy"),
        (Status::OFFLINE, "offline"),
        (Status::SOS, "sos"),
    ]
    .into_iter()
    .filter(|(flag, _)| status.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

/// Where a resource is and how it is: a `moved` item, and the core of every resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Motion {
    /// `resources.id`.
    pub id: i64,
    /// `[lng, lat]`, degrees WGS84 (GeoJSON order).
    pub position: [f64; 2],
    /// When the device took the fix.
    pub at: DateTime<Utc>,
    /// Status flags.
    pub status: Vec<&'static str>,
    /// Code of the grid the position lies in, `null` outside every grid.
    pub grid: Option<String>,
    /// Metres per second.
    pub speed_mps: Option<f32>,
    /// Degrees clockwise from north.
    pub heading_deg: Option<f32>,
    /// Metres.
    pub accuracy_m: Option<f32>,
    /// Percent.
    pub battery_pct: Option<u8>,
}

/// A whole resource: in snapshots and `entered`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// Position and status.
    #[serde(flatten)]
    pub motion: Motion,
    /// `worker` or `vehicle`.
    pub kind: &'static str,
    /// Name (a vehicle's call sign).
    pub name: String,
    /// A vehicle's plate.
    pub plate: Option<String>,
}

/// Why a snapshot is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// It answers a `subscribe`.
    Subscribe,
    /// The client fell behind (its queue or the bus overflowed): the backlog was dropped.
    Resync,
    /// A new hierarchy was installed: grids, scope and units are re-resolved.
    Hierarchy,
}

/// The `snapshot` message: everything the client sees now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// `"snapshot"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The `id` of the subscription it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Why it is sent.
    pub reason: SnapshotReason,
    /// The hierarchy version grid codes refer to.
    pub hierarchy_version: Option<i64>,
    /// Every visible resource, by id.
    pub resources: Vec<Resource>,
}

/// The `delta` message: what changed since the last snapshot or delta, one item per resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// `"delta"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The hierarchy version grid codes refer to.
    pub hierarchy_version: Option<i64>,
    /// Seen before and still visible: the latest position and status.
    pub moved: Vec<Motion>,
    /// Newly visible: the whole resource.
    pub entered: Vec<Resource>,
    /// No longer visible (moved out of the area, or out of scope): ids.
    pub left: Vec<i64>,
    /// Gone from the map (disabled, deleted): ids.
    pub removed: Vec<i64>,
}

impl Delta {
    fn is_empty(&self) -> bool {
        self.moved.is_empty()
            && self.entered.is_empty()
            && self.left.is_empty()
            && self.removed.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Pending {
    update: LiveUpdate,
    visible: bool,
}

/// One client's subscription state: what it sees and what it has not been told yet.
#[derive(Debug)]
pub struct Feed {
    view: Option<View>,
    /// What the client sees, with the fix time it was last sent.
    seen: HashMap<ResourceId, i64>,
    backlog: Backlog<ResourceId, Pending>,
}

impl Feed {
    /// A client with no subscription yet, queueing at most `max_pending` changed resources
    /// before it falls back to a snapshot.
    #[must_use]
    pub fn new(max_pending: usize) -> Self {
        Self {
            view: None,
            seen: HashMap::new(),
            backlog: Backlog::new(max_pending),
        }
    }

    /// The current view.
    #[must_use]
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    /// Replaces the subscription; a snapshot is owed.
    pub fn subscribe(&mut self, view: View) {
        self.view = Some(view);
        self.owe(SnapshotReason::Subscribe);
    }

    /// Replaces the view by the same subscription re-resolved (new hierarchy), keeping the
    /// reason of the snapshot owed.
    pub fn reresolve(&mut self, view: View) {
        self.view = Some(view);
        if self.backlog.owed().is_none() {
            self.owe(SnapshotReason::Hierarchy);
        }
    }

    /// Drops the subscription (its unit vanished): nothing more is sent until the next one.
    pub fn unsubscribe(&mut self) {
        self.view = None;
        self.backlog.clear();
        self.seen = HashMap::new();
    }

    /// A snapshot is owed from now on; the changes queued so far are dropped (the snapshot
    /// will read the current state). A `subscribe` reason is not downgraded.
    pub fn owe(&mut self, reason: SnapshotReason) {
        self.backlog.owe(reason);
    }

    /// The snapshot owed, if any.
    #[must_use]
    pub fn owed(&self) -> Option<SnapshotReason> {
        self.backlog.owed()
    }

    /// Number of resources with a change not yet sent.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.backlog.len()
    }

    /// Number of resources the client sees.
    #[must_use]
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }

    /// Takes in one batch from the bus.
    pub fn observe(&mut self, batch: &[LiveUpdate]) {
        let Some(view) = &self.view else { return };
        if self.backlog.owed().is_some() {
            return;
        }
        let version = view.version();
        for u in batch {
            if u.version != version {
                if u.version > version {
                    self.backlog.owe(SnapshotReason::Hierarchy);
                    return;
                }
                // Ingest still working on the previous hierarchy: ids mean nothing here.
                continue;
            }
            let id = ResourceId(u.info.id);
            let visible = u.what != UpdateKind::Removed
                && !u.info.disabled
                && view.sees_entry(&u.entry, u.home);
            let known = self
                .backlog
                .get(&id)
                .map(|p| p.update.entry.report.at_ms)
                .or_else(|| self.seen.get(&id).copied());
            if !visible && known.is_none() {
                continue;
            }
            // A replay of a move the client already has (published before its snapshot).
            if u.what == UpdateKind::Moved && known.is_some_and(|at| u.entry.report.at_ms < at) {
                continue;
            }
            let queued = self.backlog.put(
                id,
                Pending {
                    update: u.clone(),
                    visible,
                },
            );
            if !queued {
                return;
            }
        }
    }

    /// The snapshot owed (or a fresh one): every visible resource in `index`, whose grids
    /// must be those of this view's hierarchy version; `info` is the resource directory.
    /// Resets what the client sees to the snapshot. `None` without a subscription.
    pub fn snapshot(
        &mut self,
        index: &LiveIndex,
        info: impl Fn(i64) -> Option<Arc<ResourceInfo>>,
    ) -> Option<Snapshot> {
        let view = self.view.as_ref()?;
        let reason = self.backlog.take_snapshot();
        self.seen.clear();
        let layers = view.subscription.layers;
        let on_layer = |e: &Entry| layers.shows(e.report.kind);
        let candidates: Vec<&Entry> = match view.target {
            Target::Viewport(b) => index
                .in_bbox(b.west, b.south, b.east, b.north, on_layer)
                .unwrap_or_default(),
            Target::Unit(_) => index.iter().filter(|&e| on_layer(e)).collect(),
        };
        let mut resources = Vec::new();
        for e in candidates {
            let Some(info) = info(e.id.0) else { continue };
            if info.disabled || !view.sees_entry(e, view.home_of(&info)) {
                continue;
            }
            self.seen.insert(e.id, e.report.at_ms);
            resources.push(view.resource(e, &info));
        }
        resources.sort_by_key(|r| r.motion.id);
        Some(Snapshot {
            kind: "snapshot",
            id: view.subscription.id.clone(),
            reason,
            hierarchy_version: view.hierarchy_version(),
            resources,
        })
    }

    /// The changes queued since the last flush, one item per resource, or `None` when there
    /// is nothing to tell.
    pub fn delta(&mut self) -> Option<Delta> {
        let view = self.view.as_ref()?;
        if self.backlog.is_empty() {
            return None;
        }
        let mut delta = Delta {
            kind: "delta",
            hierarchy_version: view.hierarchy_version(),
            moved: Vec::new(),
            entered: Vec::new(),
            left: Vec::new(),
            removed: Vec::new(),
        };
        for (id, p) in self.backlog.drain() {
            let was_seen = self.seen.contains_key(&id);
            let entry = &p.update.entry;
            if p.update.what == UpdateKind::Removed {
                if was_seen {
                    self.seen.remove(&id);
                    delta.removed.push(id.0);
                }
            } else if p.visible {
                self.seen.insert(id, entry.report.at_ms);
                if was_seen {
                    delta.moved.push(view.motion(entry));
                } else {
                    delta.entered.push(view.resource(entry, &p.update.info));
                }
            } else if was_seen {
                self.seen.remove(&id);
                delta.left.push(id.0);
            }
        }
        delta.moved.sort_by_key(|m| m.id);
        delta.entered.sort_by_key(|r| r.motion.id);
        delta.left.sort_unstable();
        delta.removed.sort_unstable();
        (!delta.is_empty()).then_some(delta)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use std::time::Instant;

    use geo::{MultiPolygon, polygon};
    use gridwall_spatial::{Hierarchy, Level, Report, UnitCode, UnitInput};

    use super::*;
    use crate::position::Crs;

    fn unit(code: &str, level: Level, parent: Option<&str>, w: f64, e: f64) -> UnitInput {
        let p = polygon![(x: w, y: 32.0), (x: e, y: 32.0), (x: e, y: 32.1), (x: w, y: 32.1)];
        UnitInput {
            code: UnitCode::new(code).unwrap(),
            name: code.to_owned(),
            level,
            parent: parent.map(|p| UnitCode::new(p).unwrap()),
            polygon: MultiPolygon(vec![p]),
        }
    }

    /// County 320999; township 001 (lng 120.0–120.1) and 002 (120.1–120.2), one village and
    /// one grid each.
    fn loaded(version: i64) -> Arc<LoadedHierarchy> {
        let hierarchy = Hierarchy::build(
            vec![
                unit("320999", Level::County, None, 120.0, 120.2),
                unit("320999001", Level::Township, Some("320999"), 120.0, 120.1),
                unit(
                    "320999001001",
                    Level::Village,
                    Some("320999001"),
                    120.0,
                    120.1,
                ),
                unit(
                    "320999001001001",
                    Level::Grid,
                    Some("320999001001"),
                    120.0,
                    120.1,
                ),
                unit("320999002", Level::Township, Some("320999"), 120.1, 120.2),
                unit(
                    "320999002001",
                    Level::Village,
                    Some("320999002"),
                    120.1,
                    120.2,
                ),
                unit(
                    "320999002001001",
                    Level::Grid,
                    Some("320999002001"),
                    120.1,
                    120.2,
                ),
            ],
            gridwall_spatial::DEFAULT_RESOLUTION,
        )
        .unwrap();
        Arc::new(LoadedHierarchy {
            version,
            db_ids: (0..i64::try_from(hierarchy.len()).unwrap()).collect(),
            hierarchy,
            loaded_at: Instant::now(),
        })
    }

    fn info(id: i64, kind: ResourceKind, home: &str) -> Arc<ResourceInfo> {
        Arc::new(ResourceInfo {
            id,
            kind,
            name: format!("r{id}").into(),
            plate: (kind == ResourceKind::Vehicle).then(|| Arc::from("苏F12345")),
            unit_code: home.into(),
            unit_id: 0,
            crs: Crs::Wgs84,
            on_duty: true,
            skills: Arc::from([]),
            sos: false,
            disabled: false,
        })
    }

    /// An update of `info` at (lng, lat) at time `at_ms`, located in `l`.
    fn moved(
        l: &LoadedHierarchy,
        info: &Arc<ResourceInfo>,
        lng: f64,
        lat: f64,
        at_ms: i64,
    ) -> LiveUpdate {
        let position = LatLng::new(lat, lng).unwrap();
        let mut report = Report::new(position, at_ms, info.kind);
        report.status = info.base_status();
        report.grid = l.hierarchy.locate(position).map(|p| p.grid);
        let mut index = LiveIndex::default();
        index.upsert(ResourceId(info.id), report);
        LiveUpdate {
            what: UpdateKind::Moved,
            entry: *index.get(ResourceId(info.id)).unwrap(),
            home: l.hierarchy.by_code(&info.unit_code),
            info: Arc::clone(info),
            version: l.version,
        }
    }

    fn viewport(layers: &str, bbox: [f64; 4]) -> Subscription {
        let text = format!(
            r#"{{"type":"subscribe","id":"s1","layers":{layers},"viewport":{{"bbox":{bbox:?},"zoom":12}}}}"#
        );
        match parse(&text).unwrap() {
            ClientMessage::Subscribe(s) => s,
        }
    }

    const CITY: [f64; 4] = [119.0, 31.0, 121.0, 33.0];
    const W1: &str = "320999001001001";
    const E1: &str = "320999002001001";

    fn feed_with(view: View) -> Feed {
        let mut feed = Feed::new(100);
        feed.subscribe(view);
        let snap = feed.snapshot(&LiveIndex::default(), |_| None).unwrap();
        assert_eq!(snap.reason, SnapshotReason::Subscribe);
        assert!(snap.resources.is_empty());
        feed
    }

    #[test]
    fn subscribe_messages_parse_and_bad_ones_say_why() {
        let s = viewport(r#"["workers","cases"]"#, [120.0, 32.0, 120.1, 32.1]);
        assert_eq!(s.id, Some(Value::from("s1")));
        assert!(s.layers.workers && s.layers.cases && !s.layers.vehicles && !s.layers.alerts);
        assert!(matches!(s.area, Area::Viewport { zoom: Some(z), .. } if (z - 12.0).abs() < 1e-9));
        let unit = parse(r#"{"type":"subscribe","id":7,"layers":["vehicles"],"unit":"320999"}"#);
        assert!(
            matches!(unit, Ok(ClientMessage::Subscribe(Subscription { area: Area::Unit(ref c), .. })) if c == "320999")
        );

        let code = |text: &str| parse(text).unwrap_err().code;
        assert_eq!(code("hello"), "bad_message");
        assert_eq!(code("[1]"), "bad_message");
        assert_eq!(code(r#"{"layers":[]}"#), "bad_message");
        assert_eq!(
            code(r#"{"type":"subscribe","id":[1],"layers":[],"unit":"1"}"#),
            "bad_message"
        );
        assert_eq!(code(r#"{"type":"unsubscribe"}"#), "unsupported");
        assert_eq!(
            code(r#"{"type":"subscribe","layers":["workers"]}"#),
            "invalid_subscription"
        );
        assert_eq!(
            code(r#"{"type":"subscribe","layers":"workers","unit":"1"}"#),
            "invalid_subscription"
        );
        assert_eq!(
            code(r#"{"type":"subscribe","layers":[],"unit":"1","viewport":{"bbox":[0,0,1,1]}}"#),
            "invalid_subscription"
        );
        assert_eq!(
            code(r#"{"type":"subscribe","layers":["people"],"unit":"1"}"#),
            "unknown_layer"
        );
        for bbox in ["[1,0,0,1]", "[0,1,1,0]", "[0,-91,1,1]", "[-181,0,1,1]"] {
            let text =
                format!(r#"{{"type":"subscribe","layers":[],"viewport":{{"bbox":{bbox}}}}}"#);
            assert_eq!(code(&text), "invalid_bbox", "{bbox}");
        }
        let zoom = r#"{"type":"subscribe","layers":[],"viewport":{"bbox":[0,0,1,1],"zoom":99}}"#;
        assert_eq!(code(zoom), "invalid_subscription");
        // The id comes back with the error.
        let e =
            parse(r#"{"type":"subscribe","id":"x","layers":["people"],"unit":"1"}"#).unwrap_err();
        assert_eq!(e.id, Some(Value::from("x")));
    }

    #[test]
    fn units_resolve_within_scope_only() {
        let l = loaded(1);
        let township = l.hierarchy.by_code("320999001").unwrap();
        let sub = |code: &str| match parse(&format!(
            r#"{{"type":"subscribe","layers":["workers"],"unit":"{code}"}}"#
        ))
        .unwrap()
        {
            ClientMessage::Subscribe(s) => s,
        };
        let scope = Some(Scope::Subtree(township));
        assert!(
            View::resolve(
                sub("320999001001"),
                Some(Arc::clone(&l)),
                Reach::center(scope)
            )
            .is_ok()
        );
        let err = |code: &str, scope| {
            View::resolve(sub(code), Some(Arc::clone(&l)), Reach::center(scope))
                .unwrap_err()
                .code
        };
        assert_eq!(err("320999002", scope), "out_of_scope");
        assert_eq!(
            err("320999", scope),
            "out_of_scope",
            "an ancestor is outside"
        );
        assert_eq!(err("320999", None), "out_of_scope");
        assert_eq!(err("320999777", scope), "unknown_unit");
        assert_eq!(
            View::resolve(sub("320999"), None, Reach::center(Some(Scope::Everything)))
                .unwrap_err()
                .code,
            "unknown_unit"
        );
    }

    #[test]
    fn visibility_is_layer_and_scope_and_area() {
        let l = loaded(1);
        let township = l.hierarchy.by_code("320999001").unwrap();
        let scoped = View::resolve(
            viewport(r#"["workers"]"#, CITY),
            Some(Arc::clone(&l)),
            Reach::center(Some(Scope::Subtree(township))),
        )
        .unwrap();
        let mine = moved(&l, &info(1, ResourceKind::Worker, W1), 120.05, 32.05, 1);
        let theirs = moved(&l, &info(2, ResourceKind::Worker, E1), 120.15, 32.05, 1);
        // Home decides, not position: my worker visiting the other township is still mine.
        let visiting = moved(&l, &info(3, ResourceKind::Worker, W1), 120.15, 32.05, 1);
        let truck = moved(&l, &info(4, ResourceKind::Vehicle, W1), 120.05, 32.05, 1);
        let sees = |v: &View, u: &LiveUpdate| v.sees_entry(&u.entry, u.home);
        assert!(sees(&scoped, &mine));
        assert!(
            !sees(&scoped, &theirs),
            "a city-wide bbox shows no other township"
        );
        assert!(sees(&scoped, &visiting));
        assert!(!sees(&scoped, &truck), "vehicles are not subscribed");

        let small = View::resolve(
            viewport(r#"["workers"]"#, [120.0, 32.0, 120.1, 32.1]),
            Some(Arc::clone(&l)),
            Reach::center(Some(Scope::Everything)),
        )
        .unwrap();
        assert!(sees(&small, &mine));
        assert!(!sees(&small, &theirs), "outside the viewport");

        let by_unit = match parse(
            r#"{"type":"subscribe","layers":["workers","vehicles"],"unit":"320999002"}"#,
        )
        .unwrap()
        {
            ClientMessage::Subscribe(s) => View::resolve(
                s,
                Some(Arc::clone(&l)),
                Reach::center(Some(Scope::Everything)),
            )
            .unwrap(),
        };
        assert!(
            sees(&by_unit, &theirs) && sees(&by_unit, &visiting),
            "located under the unit"
        );
        assert!(!sees(&by_unit, &mine) && !sees(&by_unit, &truck));

        let nobody = View::resolve(
            viewport(r#"["workers"]"#, CITY),
            Some(Arc::clone(&l)),
            Reach::center(None),
        )
        .unwrap();
        assert!(!sees(&nobody, &mine));
    }

    #[test]
    #[allow(clippy::many_single_char_names, reason = "short-lived test bindings")]
    #[allow(
        clippy::float_cmp,
        reason = "positions come back exactly as they were fed in"
    )]
    fn moves_within_a_window_coalesce_into_the_latest() {
        let l = loaded(1);
        let view = View::resolve(
            viewport(r#"["workers"]"#, [120.0, 32.0, 120.1, 32.1]),
            Some(Arc::clone(&l)),
            Reach::center(Some(Scope::Everything)),
        )
        .unwrap();
        let mut feed = feed_with(view);
        let a = info(1, ResourceKind::Worker, W1);
        let b = info(2, ResourceKind::Worker, W1);
        feed.observe(&[
            moved(&l, &a, 120.01, 32.01, 1_000),
            moved(&l, &a, 120.02, 32.02, 2_000),
            moved(&l, &b, 120.05, 32.05, 1_000),
        ]);
        feed.observe(&[moved(&l, &a, 120.03, 32.03, 3_000)]);
        assert_eq!(feed.pending_len(), 2);
        let d = feed.delta().unwrap();
        assert_eq!(d.entered.len(), 2, "{d:?}");
        assert!(d.moved.is_empty() && d.left.is_empty() && d.removed.is_empty());
        assert_eq!(
            d.entered[0].motion.position,
            [120.03, 32.03],
            "the latest of three"
        );
        assert_eq!(d.entered[0].motion.grid.as_deref(), Some(W1));
        assert_eq!(d.entered[0].motion.status, vec!["on_duty"]);
        assert_eq!(d.entered[0].name, "r1");
        assert!(feed.delta().is_none(), "nothing new");

        // Moves of a seen resource; a replay older than what was sent is dropped.
        feed.observe(&[
            moved(&l, &a, 120.04, 32.04, 4_000),
            moved(&l, &b, 120.0, 32.0, 500),
        ]);
        let d = feed.delta().unwrap();
        assert_eq!(d.moved.len(), 1);
        assert_eq!((d.moved[0].id, d.moved[0].position), (1, [120.04, 32.04]));

        // Out of the viewport: left; gone: removed; in and out within one window: nothing.
        let c = info(3, ResourceKind::Worker, W1);
        let mut gone = moved(&l, &b, 120.05, 32.05, 5_000);
        gone.what = UpdateKind::Removed;
        feed.observe(&[
            moved(&l, &a, 120.15, 32.05, 5_000),
            gone,
            moved(&l, &c, 120.05, 32.05, 5_000),
            moved(&l, &c, 120.15, 32.05, 6_000),
        ]);
        let d = feed.delta().unwrap();
        assert_eq!(
            (d.left.as_slice(), d.removed.as_slice()),
            (&[1][..], &[2][..])
        );
        assert!(d.entered.is_empty() && d.moved.is_empty(), "{d:?}");
        assert_eq!(feed.seen_len(), 0);

        // Resources the client never saw and cannot see cost nothing.
        feed.observe(&[moved(&l, &a, 120.15, 32.05, 7_000)]);
        assert_eq!(feed.pending_len(), 0);
        assert!(feed.delta().is_none());
    }

    #[test]
    fn a_backlog_past_the_cap_is_dropped_for_a_resync_snapshot() {
        let l = loaded(1);
        let view = View::resolve(
            viewport(r#"["workers"]"#, CITY),
            Some(Arc::clone(&l)),
            Reach::center(Some(Scope::Everything)),
        )
        .unwrap();
        let mut feed = Feed::new(3);
        feed.subscribe(view);
        let mut index = LiveIndex::default();
        let infos: Vec<_> = (1..=5).map(|i| info(i, ResourceKind::Worker, W1)).collect();
        let snap = feed.snapshot(&index, |_| None).unwrap();
        assert!(snap.resources.is_empty());

        let batch: Vec<_> = infos
            .iter()
            .zip(0..)
            .map(|(i, k)| moved(&l, i, 120.01 + 0.01 * f64::from(k), 32.05, 1_000))
            .collect();
        for u in &batch {
            index.upsert(u.entry.id, u.entry.report);
        }
        feed.observe(&batch);
        assert_eq!(feed.owed(), Some(SnapshotReason::Resync));
        assert_eq!(feed.pending_len(), 0, "the backlog is dropped");
        feed.observe(&batch);
        assert_eq!(
            feed.pending_len(),
            0,
            "nothing queues while a snapshot is owed"
        );
        let by_id = |id: i64| infos.iter().find(|i| i.id == id).cloned();
        let snap = feed.snapshot(&index, by_id).unwrap();
        assert_eq!(snap.reason, SnapshotReason::Resync);
        assert_eq!(snap.id, Some(Value::from("s1")));
        let ids: Vec<i64> = snap.resources.iter().map(|r| r.motion.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
        assert_eq!(feed.seen_len(), 5);
        assert!(feed.owed().is_none());
    }

    #[test]
    fn a_newer_hierarchy_owes_a_snapshot_and_older_updates_are_ignored() {
        let l1 = loaded(1);
        let l2 = loaded(2);
        let view = View::resolve(
            viewport(r#"["workers"]"#, CITY),
            Some(Arc::clone(&l2)),
            Reach::center(Some(Scope::Everything)),
        )
        .unwrap();
        let mut feed = feed_with(view);
        let a = info(1, ResourceKind::Worker, W1);
        feed.observe(&[moved(&l1, &a, 120.05, 32.05, 1)]);
        assert!(feed.owed().is_none() && feed.pending_len() == 0);
        let l3 = loaded(3);
        feed.observe(&[moved(&l3, &a, 120.05, 32.05, 2)]);
        assert_eq!(feed.owed(), Some(SnapshotReason::Hierarchy));
    }

    #[test]
    fn messages_have_the_documented_shape() {
        let l = loaded(4);
        let view = View::resolve(
            viewport(r#"["workers","vehicles"]"#, CITY),
            Some(Arc::clone(&l)),
            Reach::center(Some(Scope::Everything)),
        )
        .unwrap();
        let mut feed = feed_with(view);
        let v = info(9, ResourceKind::Vehicle, W1);
        let mut u = moved(&l, &v, 120.05, 32.05, 1_764_000_000_000);
        u.entry.report.speed_mps = Some(8.5);
        u.entry.report.battery_pct = Some(77);
        feed.observe(&[u]);
        let d = serde_json::to_value(feed.delta().unwrap()).unwrap();
        assert_eq!(
            d,
            serde_json::json!({
                "type": "delta", "hierarchy_version": 4, "moved": [], "left": [], "removed": [],
                "entered": [{"id": 9, "kind": "vehicle", "name": "r9", "plate": "苏F12345",
                    "position": [120.05, 32.05], "at": "2025-11-24T16:00:00Z",
                    "status": ["on_duty"], "grid": W1, "speed_mps": 8.5, "heading_deg": null,
                    "accuracy_m": null, "battery_pct": 77}]
            })
        );
    }
}
