//! The live picture: where every worker and vehicle is now.
//!
//! [`Live`] holds the live index (`gridwall_spatial::LiveIndex`, bucketed by H3), a directory of
//! the trackable resources (kind, name, home unit, duty, SOS) so that ingest checks a resource
//! without a database round trip, the track writer (the bounded buffer in front of the
//! `positions` table) and the bus that carries every change to the websockets.
//!
//! Grid ids in the index belong to one loaded hierarchy; when a new hierarchy is installed the
//! index is re-located against it before it is next read or written.

pub mod bus;
pub mod tracks;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gridwall_spatial::{
    CellIndex, Change, Entry, LatLng, LiveIndex, Report, ResourceId, ResourceKind, Status, UnitId,
};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};

use crate::context::Core;
use crate::hierarchy::LoadedHierarchy;
use crate::position::{self, Crs};
use bus::{Batch, Bus, LocalBus};
use tracks::{BufferFull, Durable, Refusal, TrackConfig, TrackPoint, TrackWriter};

/// What live tasks read from the running server.
pub trait LiveContext: Core {
    /// The live picture.
    fn live(&self) -> &Live;
}

/// Settings of the live picture.
#[derive(Debug, Clone, Copy)]
pub struct LiveConfig {
    /// The track buffer.
    pub tracks: TrackConfig,
    /// How long an ingest request waits for its points to be committed before answering 503.
    pub ack_timeout: Duration,
    /// Days of track kept; older day partitions are dropped.
    pub retention_days: u32,
    /// A resource silent this long is marked offline.
    pub offline_after: Duration,
    /// Batches the in-process bus keeps for slow subscribers.
    pub bus_capacity: usize,
    /// The websocket streams.
    pub stream: StreamConfig,
}

/// Settings of the websocket streams (`/ws`); see `docs/websocket.md`.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Deltas are sent at most once per this period (the coalescing window).
    pub flush_every: Duration,
    /// Messages a client's outgoing queue holds; when it is full, changes coalesce.
    pub queue_messages: usize,
    /// Changed resources a client may have pending before the backlog is dropped for a
    /// snapshot.
    pub max_pending: usize,
    /// A socket that takes no data for this long is closed (4429 "too slow").
    pub stall_timeout: Duration,
    /// How often the server pings.
    pub ping_every: Duration,
    /// A client silent this long (no message, no pong) is closed (4408 "idle timeout").
    pub idle_timeout: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            flush_every: Duration::from_millis(100),
            queue_messages: 8,
            max_pending: 20_000,
            stall_timeout: Duration::from_secs(30),
            ping_every: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            tracks: TrackConfig::default(),
            ack_timeout: Duration::from_secs(10),
            retention_days: 90,
            offline_after: Duration::from_secs(300),
            bus_capacity: 4096,
            stream: StreamConfig::default(),
        }
    }
}

/// What the server knows of a trackable resource besides its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `resources.id`.
    pub id: i64,
    /// Worker or vehicle.
    pub kind: ResourceKind,
    /// Name (a vehicle's is its call sign).
    pub name: Arc<str>,
    /// Plate, for vehicles.
    pub plate: Option<Arc<str>>,
    /// Code of the home unit (a worker's grid, a vehicle's unit): decides whose territory.
    pub unit_code: Arc<str>,
    /// `units.id` of the home unit.
    pub unit_id: i64,
    /// The datum its devices report in.
    pub crs: Crs,
    pub on_duty: bool,
    /// Skills (a worker is dispatched only to cases whose category needs none or one of
    /// these).
    pub skills: Arc<[Arc<str>]>,
    /// An SOS is raised and not cleared.
    pub sos: bool,
    /// Disabled: reports are refused and it is not on the map.
    pub disabled: bool,
}

impl ResourceInfo {
    /// The status flags that follow from the directory (duty, SOS).
    #[must_use]
    pub fn base_status(&self) -> Status {
        let mut s = Status::NONE;
        if self.on_duty {
            s = s.with(Status::ON_DUTY);
        }
        if self.sos {
            s = s.with(Status::SOS);
        }
        s
    }

    /// `"worker"` or `"vehicle"`.
    #[must_use]
    pub fn kind_str(&self) -> &'static str {
        kind_str(self.kind)
    }
}

/// `"worker"` or `"vehicle"`.
#[must_use]
pub fn kind_str(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Worker => "worker",
        ResourceKind::Vehicle => "vehicle",
    }
}

/// What happened to a resource on the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// A new position (first one, or newer than the last).
    Moved,
    /// Same position, new status flags (duty, offline, SOS, busy) or directory data.
    Status,
    /// Gone from the map (disabled or deleted, or its only point was refused by the database).
    Removed,
    /// Back at an older point: the database refused the point the marker showed, and the
    /// marker returns to the last stored one (`Live::take_back`).
    Reverted,
}

/// One change on the bus.
#[derive(Debug, Clone)]
pub struct LiveUpdate {
    /// What happened.
    pub what: UpdateKind,
    /// The resource's live entry after the change (its last entry for `Removed`).
    pub entry: Entry,
    /// Directory data (name, kind, home unit).
    pub info: Arc<ResourceInfo>,
    /// The home unit in the hierarchy of `version` (scope filtering), `None` if not there.
    pub home: Option<UnitId>,
    /// The hierarchy version `home` and `entry.report.grid` refer to.
    pub version: i64,
}

/// What ingest did with one accepted point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The live marker moved (or appeared).
    Moved,
    /// Older than the marker's point: kept in the track only.
    Stale,
    /// The same point again: nothing changed.
    Duplicate,
}

impl Applied {
    /// For the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Moved => "moved",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug)]
struct Inner {
    index: LiveIndex,
    /// The hierarchy version the index's grids refer to (0: none).
    version: i64,
}

/// The resources the server knows, by id and by home unit.
#[derive(Debug, Default)]
struct Directory {
    by_id: HashMap<i64, Arc<ResourceInfo>>,
    /// `units.id` of the home unit → the resources homed there (a grid's own workers).
    by_home: HashMap<i64, Vec<i64>>,
}

impl Directory {
    fn insert(&mut self, info: Arc<ResourceInfo>) {
        let (id, home) = (info.id, info.unit_id);
        if let Some(old) = self.by_id.insert(id, info) {
            if old.unit_id == home {
                return;
            }
            self.unhome(id, old.unit_id);
        }
        self.by_home.entry(home).or_default().push(id);
    }

    fn remove(&mut self, id: i64) {
        if let Some(old) = self.by_id.remove(&id) {
            self.unhome(id, old.unit_id);
        }
    }

    fn unhome(&mut self, id: i64, unit_id: i64) {
        if let Some(ids) = self.by_home.get_mut(&unit_id) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                self.by_home.remove(&unit_id);
            }
        }
    }
}

/// The live picture; shared by every handler.
#[derive(Debug)]
pub struct Live {
    /// Settings.
    pub config: LiveConfig,
    inner: RwLock<Inner>,
    directory: RwLock<Directory>,
    /// Where changes are published.
    pub bus: Arc<dyn Bus>,
    /// The track buffer.
    pub tracks: TrackWriter,
    /// The points the database refused, until [`take_back_task`] takes the receiver.
    refusals: Mutex<Option<mpsc::UnboundedReceiver<Refusal>>>,
    /// Counters of the websocket streams.
    pub streams: StreamStats,
    /// Set once, when the server shuts down: every websocket closes with 1001 (going away).
    pub going_away: watch::Sender<bool>,
}

/// Counters of the websocket streams, for metrics and tests.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Sockets open now.
    pub open: AtomicUsize,
    /// Flushes put off because a client's outgoing queue was full (its changes coalesce).
    pub behind: AtomicUsize,
    /// Snapshots sent because a client fell behind (`"reason": "resync"`).
    pub resyncs: AtomicUsize,
    /// Sockets closed because the client took no data for the stall timeout (4429).
    pub shed: AtomicUsize,
    /// Sockets closed because the client was silent for the idle timeout (4408).
    pub idle: AtomicUsize,
}

/// A read view of the index, valid for one hierarchy version.
#[derive(Debug)]
pub struct LiveRead<'a> {
    guard: RwLockReadGuard<'a, Inner>,
}

impl LiveRead<'_> {
    /// The in-memory index of every resource's latest report.
    #[must_use]
    pub fn index(&self) -> &LiveIndex {
        &self.guard.index
    }

    /// The hierarchy version its grids refer to.
    #[must_use]
    pub fn version(&self) -> i64 {
        self.guard.version
    }
}

fn lock_poisoned<T>(e: std::sync::PoisonError<T>) -> T {
    // A panic while holding the lock cannot leave the index half-updated in a way that
    // matters more than stopping the live map; keep serving.
    e.into_inner()
}

impl Live {
    /// An empty live picture writing tracks to `pool`.
    #[must_use]
    pub fn new(pool: PgPool, config: LiveConfig) -> Self {
        let (tracks, refusals) = TrackWriter::start(pool, config.tracks);
        Self {
            config,
            inner: RwLock::new(Inner {
                index: LiveIndex::default(),
                version: 0,
            }),
            directory: RwLock::new(Directory::default()),
            bus: Arc::new(LocalBus::new(config.bus_capacity)),
            tracks,
            refusals: Mutex::new(Some(refusals)),
            streams: StreamStats::default(),
            going_away: watch::Sender::new(false),
        }
    }

    /// Reads the index, re-locating it first if `loaded` is newer than its grids.
    pub fn read(&self, loaded: Option<&LoadedHierarchy>) -> LiveRead<'_> {
        self.relocate_if_needed(loaded);
        LiveRead {
            guard: self.inner.read().unwrap_or_else(lock_poisoned),
        }
    }

    /// The directory entry of a resource, if loaded.
    #[must_use]
    pub fn info(&self, id: i64) -> Option<Arc<ResourceInfo>> {
        self.directory
            .read()
            .unwrap_or_else(lock_poisoned)
            .by_id
            .get(&id)
            .cloned()
    }

    /// Every resource in the directory.
    #[must_use]
    pub fn directory_snapshot(&self) -> Vec<Arc<ResourceInfo>> {
        self.directory
            .read()
            .unwrap_or_else(lock_poisoned)
            .by_id
            .values()
            .cloned()
            .collect()
    }

    /// The resources whose home unit is `unit_id` (`units.id`): a grid's own workers.
    #[must_use]
    pub fn homed_at(&self, unit_id: i64) -> Vec<Arc<ResourceInfo>> {
        let dir = self.directory.read().unwrap_or_else(lock_poisoned);
        dir.by_home
            .get(&unit_id)
            .into_iter()
            .flatten()
            .filter_map(|id| dir.by_id.get(id).cloned())
            .collect()
    }

    /// The directory entry of a resource, from the database when not loaded yet (a resource
    /// created by another instance).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn resource(
        &self,
        pool: &PgPool,
        id: i64,
    ) -> Result<Option<Arc<ResourceInfo>>, sqlx::Error> {
        if let Some(info) = self.info(id) {
            return Ok(Some(info));
        }
        let Some(info) = load_resources(pool, Some(&[id])).await?.pop() else {
            return Ok(None);
        };
        let info = Arc::new(info);
        self.directory
            .write()
            .unwrap_or_else(lock_poisoned)
            .insert(Arc::clone(&info));
        Ok(Some(info))
    }

    /// The directory entries of `ids` (sorted or not), reading the ones not loaded yet from
    /// the database in one query; unknown ids are absent from the answer.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn resources(
        &self,
        pool: &PgPool,
        ids: &[i64],
    ) -> Result<HashMap<i64, Arc<ResourceInfo>>, sqlx::Error> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let dir = self.directory.read().unwrap_or_else(lock_poisoned);
            for id in ids {
                match dir.by_id.get(id) {
                    Some(info) => {
                        found.insert(*id, Arc::clone(info));
                    }
                    None => missing.push(*id),
                }
            }
        }
        if !missing.is_empty() {
            let loaded = load_resources(pool, Some(&missing)).await?;
            let mut dir = self.directory.write().unwrap_or_else(lock_poisoned);
            for info in loaded {
                let info = Arc::new(info);
                dir.insert(Arc::clone(&info));
                found.insert(info.id, info);
            }
        }
        Ok(found)
    }

    /// Loads the directory and the latest point of every enabled resource (start-up).
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn load(
        &self,
        pool: &PgPool,
        loaded: Option<&LoadedHierarchy>,
    ) -> Result<usize, sqlx::Error> {
        let infos = load_resources(pool, None).await?;
        let rows = last_positions(pool, None).await?;
        let mut directory = Directory::default();
        for info in infos {
            directory.insert(Arc::new(info));
        }
        let now_ms = Utc::now().timestamp_millis();
        let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
        let mut index = LiveIndex::with_capacity(inner.index.resolution(), rows.len());
        for row in rows {
            let Some(info) = directory.by_id.get(&row.resource_id) else {
                continue;
            };
            if let Some(report) = self.stored_report(info, &row, loaded, now_ms) {
                index.upsert(ResourceId(row.resource_id), report);
            }
        }
        let n = index.len();
        inner.index = index;
        inner.version = loaded.map_or(0, |l| l.version);
        drop(inner);
        *self.directory.write().unwrap_or_else(lock_poisoned) = directory;
        Ok(n)
    }

    /// The live report of a stored last point (`last_positions`).
    fn stored_report(
        &self,
        info: &ResourceInfo,
        row: &LastRow,
        loaded: Option<&LoadedHierarchy>,
        now_ms: i64,
    ) -> Option<Report> {
        let position = LatLng::new(row.lat, row.lng).ok()?;
        let mut report = Report::new(position, row.at.timestamp_millis(), info.kind);
        report.status = info.base_status();
        if now_ms - report.at_ms > self.offline_after_ms() {
            report.status = report.status.with(Status::OFFLINE);
        }
        report.grid = loaded.and_then(|l| l.hierarchy.locate(position).map(|p| p.grid));
        report.speed_mps = row.speed_mps;
        report.heading_deg = row.heading_deg;
        report.accuracy_m = row.accuracy_m;
        report.battery_pct = row.battery_pct.map(battery_byte);
        Some(report)
    }

    /// Takes points the database refused off the map: a marker that shows one of them goes
    /// back to its resource's last stored point (`last_positions`), or off the map when none
    /// is stored (or it cannot be read); a marker that moved on to another point stays. A
    /// refused SOS is re-read from the resource. Publishes what changed.
    pub async fn take_back(
        &self,
        pool: &PgPool,
        loaded: Option<&LoadedHierarchy>,
        points: &[TrackPoint],
    ) {
        self.relocate_if_needed(loaded);
        let shows = |e: &Entry, p: &TrackPoint| {
            e.report.at_ms == p.at.timestamp_millis()
                && e.report.position.lat().to_bits() == p.lat.to_bits()
                && e.report.position.lng().to_bits() == p.lng.to_bits()
        };
        let mut ids: Vec<i64> = {
            let inner = self.inner.read().unwrap_or_else(lock_poisoned);
            points
                .iter()
                .filter(|p| {
                    inner
                        .index
                        .get(ResourceId(p.resource_id))
                        .is_some_and(|e| shows(e, p))
                })
                .map(|p| p.resource_id)
                .collect()
        };
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            let stored = match last_positions(pool, Some(&ids)).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the last stored points; the refused ones leave the map");
                    Vec::new()
                }
            };
            self.revert(loaded, &ids, &stored, |e| {
                points.iter().any(|p| shows(e, p))
            });
        }
        let mut sos: Vec<i64> = points
            .iter()
            .filter(|p| p.sos)
            .map(|p| p.resource_id)
            .collect();
        sos.sort_unstable();
        sos.dedup();
        for id in sos {
            if let Err(e) = self.refresh_resource(pool, loaded, id).await {
                tracing::warn!(error = %e, resource = id, "cannot re-read a resource after a refused SOS");
            }
        }
    }

    /// Puts each of `ids` whose marker still shows a refused point (`refused`) back at its
    /// stored point, or off the map.
    fn revert(
        &self,
        loaded: Option<&LoadedHierarchy>,
        ids: &[i64],
        stored: &[LastRow],
        refused: impl Fn(&Entry) -> bool,
    ) {
        let version = loaded.map_or(0, |l| l.version);
        let now_ms = Utc::now().timestamp_millis();
        let mut updates = Vec::with_capacity(ids.len());
        {
            let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
            for &id in ids {
                let rid = ResourceId(id);
                // A newer point may have moved the marker meanwhile: then it stays.
                let Some(current) = inner.index.get(rid).copied() else {
                    continue;
                };
                if !refused(&current) {
                    continue;
                }
                let Some(info) = self.info(id) else { continue };
                let home = loaded.and_then(|l| l.hierarchy.by_code(&info.unit_code));
                let back = stored
                    .iter()
                    .find(|r| r.resource_id == id)
                    .and_then(|row| self.stored_report(&info, row, loaded, now_ms));
                inner.index.remove(rid);
                let update = match back {
                    Some(mut report) => {
                        let busy = Status::BUSY;
                        if current.report.status.contains(busy) {
                            report.status = report.status.with(busy);
                        }
                        inner.index.upsert(rid, report);
                        inner.index.get(rid).map(|entry| LiveUpdate {
                            what: UpdateKind::Reverted,
                            entry: *entry,
                            home,
                            info,
                            version,
                        })
                    }
                    None => Some(LiveUpdate {
                        what: UpdateKind::Removed,
                        entry: current,
                        home,
                        info,
                        version,
                    }),
                };
                updates.extend(update);
            }
        }
        self.bus.publish(Batch::from(updates));
    }

    /// The receiver of the points the database refuses; `None` after the first call.
    fn take_refusals(&self) -> Option<mpsc::UnboundedReceiver<Refusal>> {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn offline_after_ms(&self) -> i64 {
        i64::try_from(self.config.offline_after.as_millis()).unwrap_or(i64::MAX)
    }

    fn relocate_if_needed(&self, loaded: Option<&LoadedHierarchy>) {
        let Some(loaded) = loaded else { return };
        if self.inner.read().unwrap_or_else(lock_poisoned).version == loaded.version {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
        if inner.version == loaded.version {
            return;
        }
        let entries: Vec<Entry> = inner.index.iter().copied().collect();
        for mut e in entries {
            e.report.grid = loaded.hierarchy.locate(e.report.position).map(|p| p.grid);
            inner.index.upsert_in_cell(e.id, e.report, e.cell);
        }
        inner.version = loaded.version;
    }

    /// Applies checked reports of known, permitted resources: queues them for the track
    /// (all or none), moves the live markers, publishes the changes. The caller awaits the
    /// returned receipt before acknowledging.
    ///
    /// # Errors
    ///
    /// [`BufferFull`] when the track buffer cannot take the points; then nothing changed.
    pub fn apply(
        &self,
        loaded: Option<&LoadedHierarchy>,
        items: &[(Arc<ResourceInfo>, position::Report)],
    ) -> Result<(Vec<Applied>, Durable), BufferFull> {
        self.relocate_if_needed(loaded);
        // One batched locate: each point's grid and its cell, which files it in the live index
        // too (one `to_cell` per point, and the batch's cache misses overlap).
        let located: Vec<(Option<CellIndex>, Option<UnitId>)> = match loaded {
            Some(l) => {
                let positions: Vec<LatLng> = items.iter().map(|(_, r)| r.position).collect();
                l.hierarchy
                    .locate_batch(&positions)
                    .into_iter()
                    .map(|(cell, path)| (Some(cell), path.map(|p| p.grid)))
                    .collect()
            }
            None => vec![(None, None); items.len()],
        };
        let points = items
            .iter()
            .zip(&located)
            .map(|((info, r), (_, grid))| TrackPoint {
                resource_id: info.id,
                at: r.at,
                lat: r.position.lat(),
                lng: r.position.lng(),
                grid_id: loaded.zip(*grid).map(|(l, g)| l.db_ids[g.0 as usize]),
                accuracy_m: r.accuracy_m,
                speed_mps: r.speed_mps,
                heading_deg: r.heading_deg,
                altitude_m: r.altitude_m,
                battery_pct: r.battery_pct,
                sos: r.sos,
            })
            .collect();
        let durable = self.tracks.try_enqueue(points)?;
        // SOS first: a point that raises it carries the flag.
        for (info, r) in items {
            if r.sos && !info.sos {
                self.set_sos(info.id, true);
            }
        }
        let version = loaded.map_or(0, |l| l.version);
        let mut applied = Vec::with_capacity(items.len());
        let mut updates = Vec::new();
        {
            let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
            // The busy flag an item reads is the one stored before the batch: a report keeps
            // it, so an earlier item of the same resource does not change it.
            let mut infos = Vec::with_capacity(items.len());
            let mut batch = Vec::with_capacity(items.len());
            for ((info, r), &(cell, grid)) in items.iter().zip(&located) {
                let info = self.info(info.id).unwrap_or_else(|| Arc::clone(info));
                let id = ResourceId(info.id);
                let busy = inner
                    .index
                    .get(id)
                    .is_some_and(|e| e.report.status.contains(Status::BUSY));
                let mut status = info.base_status();
                if busy {
                    status = status.with(Status::BUSY);
                }
                let report = Report {
                    position: r.position,
                    at_ms: r.at.timestamp_millis(),
                    kind: info.kind,
                    status,
                    grid,
                    speed_mps: r.speed_mps,
                    heading_deg: r.heading_deg,
                    accuracy_m: r.accuracy_m,
                    battery_pct: r.battery_pct.map(battery_byte),
                };
                infos.push(info);
                batch.push((id, report, cell));
            }
            // With a hierarchy every item has its cell: one batched upsert, same changes as
            // one upsert after the other.
            let with_cells: Option<Vec<_>> = batch
                .iter()
                .map(|&(id, report, cell)| Some((id, report, cell?)))
                .collect();
            let changes: Vec<Change> = match with_cells {
                Some(items) => inner.index.upsert_batch(&items),
                None => batch
                    .iter()
                    .map(|&(id, report, _)| inner.index.upsert(id, report))
                    .collect(),
            };
            for ((info, (id, report, _)), change) in infos.into_iter().zip(batch).zip(changes) {
                // The entry as the upsert left it (what `index.get(id)` gave right after it).
                let (outcome, cell) = match change {
                    Change::Inserted { cell } => (Applied::Moved, Some(cell)),
                    Change::Moved { to_cell, .. } => (Applied::Moved, Some(to_cell)),
                    Change::Unchanged => (Applied::Duplicate, None),
                    Change::Stale => (Applied::Stale, None),
                };
                if let Some(cell) = cell {
                    updates.push(LiveUpdate {
                        what: UpdateKind::Moved,
                        entry: Entry { id, report, cell },
                        home: loaded.and_then(|l| l.hierarchy.by_code(&info.unit_code)),
                        info,
                        version,
                    });
                }
                applied.push(outcome);
            }
        }
        self.bus.publish(Batch::from(updates));
        Ok((applied, durable))
    }

    fn set_sos(&self, id: i64, sos: bool) {
        let mut dir = self.directory.write().unwrap_or_else(lock_poisoned);
        if let Some(info) = dir.by_id.get_mut(&id)
            && info.sos != sos
        {
            let mut next = (**info).clone();
            next.sos = sos;
            *info = Arc::new(next);
        }
    }

    /// Re-reads one resource from the database after a change (created, edited, duty,
    /// disabled, SOS cleared) and publishes what the map must show.
    ///
    /// # Errors
    ///
    /// When the database fails.
    pub async fn refresh_resource(
        &self,
        pool: &PgPool,
        loaded: Option<&LoadedHierarchy>,
        id: i64,
    ) -> Result<(), sqlx::Error> {
        let info = load_resources(pool, Some(&[id])).await?.pop().map(Arc::new);
        {
            let mut dir = self.directory.write().unwrap_or_else(lock_poisoned);
            match &info {
                Some(i) => dir.insert(Arc::clone(i)),
                None => dir.remove(id),
            }
        }
        self.relocate_if_needed(loaded);
        let version = loaded.map_or(0, |l| l.version);
        let home = |info: &ResourceInfo| loaded.and_then(|l| l.hierarchy.by_code(&info.unit_code));
        let update = {
            let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
            match info {
                None => None,
                Some(info) if info.disabled => {
                    inner.index.remove(ResourceId(id)).map(|entry| LiveUpdate {
                        what: UpdateKind::Removed,
                        entry,
                        home: home(&info),
                        info,
                        version,
                    })
                }
                Some(info) => {
                    let rid = ResourceId(id);
                    inner
                        .index
                        .get(rid)
                        .map(|e| e.report.status)
                        .and_then(|old| {
                            let keep = Status::BUSY.with(Status::OFFLINE);
                            let status = info
                                .base_status()
                                .with(Status::from_bits(old.bits() & keep.bits()));
                            inner.index.set_status(rid, status);
                            inner.index.get(rid).map(|entry| LiveUpdate {
                                what: UpdateKind::Status,
                                entry: *entry,
                                home: home(&info),
                                info,
                                version,
                            })
                        })
                }
            }
        };
        if let Some(u) = update {
            self.bus.publish(Batch::from(vec![u]));
        }
        Ok(())
    }

    /// Marks resources silent for longer than the offline timeout as offline, publishing
    /// each change; returns how many changed.
    pub fn sweep_offline(&self, loaded: Option<&LoadedHierarchy>, now: DateTime<Utc>) -> usize {
        self.relocate_if_needed(loaded);
        let cutoff = now.timestamp_millis() - self.offline_after_ms();
        let version = loaded.map_or(0, |l| l.version);
        let stale: Vec<ResourceId> = {
            let inner = self.inner.read().unwrap_or_else(lock_poisoned);
            inner
                .index
                .iter()
                .filter(|e| e.report.at_ms < cutoff && !e.report.status.contains(Status::OFFLINE))
                .map(|e| e.id)
                .collect()
        };
        if stale.is_empty() {
            return 0;
        }
        let mut updates = Vec::with_capacity(stale.len());
        {
            let mut inner = self.inner.write().unwrap_or_else(lock_poisoned);
            for id in stale {
                let Some(entry) = inner.index.get(id).copied() else {
                    continue;
                };
                if entry.report.at_ms >= cutoff {
                    continue;
                }
                inner
                    .index
                    .set_status(id, entry.report.status.with(Status::OFFLINE));
                let (Some(entry), Some(info)) = (inner.index.get(id).copied(), self.info(id.0))
                else {
                    continue;
                };
                updates.push(LiveUpdate {
                    what: UpdateKind::Status,
                    entry,
                    home: loaded.and_then(|l| l.hierarchy.by_code(&info.unit_code)),
                    info,
                    version,
                });
            }
        }
        let n = updates.len();
        self.bus.publish(Batch::from(updates));
        n
    }
}

/// A battery percentage as the index's byte.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 0..=100 first"
)]
fn battery_byte(pct: f32) -> u8 {
    pct.clamp(0.0, 100.0).round() as u8
}

#[derive(sqlx::FromRow)]
struct LastRow {
    resource_id: i64,
    at: DateTime<Utc>,
    lat: f64,
    lng: f64,
    accuracy_m: Option<f32>,
    speed_mps: Option<f32>,
    heading_deg: Option<f32>,
    battery_pct: Option<f32>,
}

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: i64,
    kind: String,
    name: String,
    plate: Option<String>,
    unit_id: i64,
    unit_code: String,
    crs: String,
    on_duty: bool,
    skills: Vec<String>,
    sos: bool,
    disabled: bool,
}

/// The last stored point of every enabled resource, or of `only` these.
async fn last_positions(pool: &PgPool, only: Option<&[i64]>) -> Result<Vec<LastRow>, sqlx::Error> {
    sqlx::query_as::<_, LastRow>(
        "SELECT l.resource_id, l.at, ST_Y(l.geom) AS lat, ST_X(l.geom) AS lng, l.accuracy_m,
                l.speed_mps, l.heading_deg, l.battery_pct
         FROM last_positions l JOIN resources r ON r.id = l.resource_id
         WHERE r.disabled_at IS NULL AND ($1::bigint[] IS NULL OR l.resource_id = ANY($1))",
    )
    .bind(only)
    .fetch_all(pool)
    .await
}

async fn load_resources(
    pool: &PgPool,
    only: Option<&[i64]>,
) -> Result<Vec<ResourceInfo>, sqlx::Error> {
    let rows = sqlx::query_as::<_, ResourceRow>(
        "SELECT r.id, r.kind, r.name, r.plate, r.unit_id, u.code AS unit_code, r.crs, r.on_duty,
                r.skills, r.sos_at IS NOT NULL AS sos, r.disabled_at IS NOT NULL AS disabled
         FROM resources r JOIN units u ON u.id = r.unit_id
         WHERE $1::bigint[] IS NULL OR r.id = ANY($1)",
    )
    .bind(only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ResourceInfo {
            id: r.id,
            kind: if r.kind == "vehicle" {
                ResourceKind::Vehicle
            } else {
                ResourceKind::Worker
            },
            name: r.name.into(),
            plate: r.plate.map(Into::into),
            unit_code: r.unit_code.into(),
            unit_id: r.unit_id,
            crs: if r.crs == "gcj02" {
                Crs::Gcj02
            } else {
                Crs::Wgs84
            },
            on_duty: r.on_duty,
            skills: r.skills.into_iter().map(Arc::from).collect(),
            sos: r.sos,
            disabled: r.disabled,
        })
        .collect())
}

/// Takes the points the database refuses off the live map (`Live::take_back`), each before
/// its request is answered; until the process ends. Runs once per live picture.
pub async fn take_back_task(state: impl LiveContext) {
    let Some(mut refusals) = state.live().take_refusals() else {
        return;
    };
    while let Some(refusal) = refusals.recv().await {
        let loaded = state.hierarchy().get();
        state
            .live()
            .take_back(state.pool(), loaded.as_deref(), &refusal.points)
            .await;
        // Answers the request: refused.
        drop(refusal);
    }
}

/// Marks silent resources offline every 15 s, until the process ends.
pub async fn offline_task(state: impl LiveContext) {
    let mut every = tokio::time::interval(Duration::from_secs(15));
    loop {
        every.tick().await;
        let loaded = state.hierarchy().get();
        state.live().sweep_offline(loaded.as_deref(), Utc::now());
    }
}
