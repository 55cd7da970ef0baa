//! The live index: the latest report of every tracked resource (grid workers, vehicles),
//! bucketed by H3 cell so that area and nearest queries read only the cells near the answer.
//!
//! Layout and invariants: entries live densely in `slots` (no holes: removal swaps the last
//! slot in); `ids` maps a resource to its slot; each slot names its bucket and its position in
//! that bucket's member list, and `buckets[b].members[pos]` names the slot back, so moving or
//! removing a resource is O(1) (`swap_remove` plus one back-pointer fix-up). A bucket with no
//! members leaves `cells` and goes on the free list. Times come from the caller; nothing here
//! reads a clock.

use std::collections::HashMap;

use h3o::{CellIndex, Resolution};

use crate::cell_hash::CellHash;
use crate::hierarchy::UnitId;
use crate::types::{LatLng, h3_latlng};

/// The H3 resolution of the live index's buckets unless told otherwise: resolution 8, cells
/// of ≈0.74 km² (≈530 m edges). Measured on 100,000 resources over Nantong's grids against 7
/// and 9 (`BENCHMARKS.md`, "Live index"): nearest-5 p50 13.6 µs at 8, 36.7 µs at 7 (7× more
/// resources per cell to read), 13.8 µs at 9; a township-sized viewport 69 µs at 8, 22 µs at 7,
/// 312 µs at 9 (3–7× more cells); 162 bytes per resource at 8, 221 at 9.
pub const LIVE_BUCKET_RESOLUTION: Resolution = Resolution::Eight;

/// A tracked resource: its database id (`resources.id`), stable across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub i64);

/// What a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResourceKind {
    /// 网格员: a grid worker with a phone.
    Worker = 0,
    /// 车辆: a patrol car or other vehicle.
    Vehicle = 1,
}

/// What the server knows about a resource's availability, as bit flags in one byte.
///
/// The flags are independent: a worker is [`Self::ON_DUTY`] during a shift, [`Self::BUSY`]
/// while handling a case, [`Self::OFFLINE`] when its phone has not reported for the server's
/// timeout, and [`Self::SOS`] after an alarm until someone clears it. [`Self::is_available`]
/// is the dispatch rule: on duty and none of the other three. The index stores and filters on
/// the byte; it sets none of the flags itself.
///
/// ```
/// # use gridwall_spatial::Status;
/// let s = Status::ON_DUTY;
/// assert!(s.is_available());
/// assert!(!s.with(Status::BUSY).is_available());
/// assert_eq!(s.with(Status::SOS).without(Status::SOS), s);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Status(u8);

impl Status {
    /// No flag: off duty, not busy, online, no alarm.
    pub const NONE: Self = Self(0);
    /// 在岗: on shift.
    pub const ON_DUTY: Self = Self(1);
    /// 处置中: assigned to a case.
    pub const BUSY: Self = Self(1 << 1);
    /// 离线: no report within the server's timeout.
    pub const OFFLINE: Self = Self(1 << 2);
    /// 求助: an SOS alarm is raised.
    pub const SOS: Self = Self(1 << 3);
    const KNOWN: u8 = 0b1111;

    /// The flags from their stored byte; unknown bits are dropped.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::KNOWN)
    }

    /// The stored byte.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags and `other`'s.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// These flags without `other`'s.
    #[must_use]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// On duty, and neither busy, offline nor in SOS: may be dispatched.
    #[must_use]
    pub const fn is_available(self) -> bool {
        self.0 & Self::KNOWN == Self::ON_DUTY.0
    }
}

/// One position report of a resource, as the server hands it to [`LiveIndex::upsert`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Where, WGS84 degrees (named fields).
    pub position: LatLng,
    /// When the device took the fix, milliseconds since the Unix epoch (the device's clock,
    /// as validated by ingest); orders reports of one resource.
    pub at_ms: i64,
    /// Worker or vehicle.
    pub kind: ResourceKind,
    /// Availability flags.
    pub status: Status,
    /// The grid the caller located `position` in (`Hierarchy::locate`), `None` outside every
    /// grid. The index stores it for filters (scope) and never looks it up.
    pub grid: Option<UnitId>,
    /// Ground speed, metres per second.
    pub speed_mps: Option<f32>,
    /// Course over ground, degrees clockwise from true north.
    pub heading_deg: Option<f32>,
    /// Horizontal accuracy (radius), metres.
    pub accuracy_m: Option<f32>,
    /// Battery level, percent (0–100).
    pub battery_pct: Option<u8>,
}

impl Report {
    /// A report with a position, a time and a kind; no status flags, grid or extras.
    #[must_use]
    pub const fn new(position: LatLng, at_ms: i64, kind: ResourceKind) -> Self {
        Self {
            position,
            at_ms,
            kind,
            status: Status::NONE,
            grid: None,
            speed_mps: None,
            heading_deg: None,
            accuracy_m: None,
            battery_pct: None,
        }
    }
}

/// The live state of one resource: its latest report and the bucket it is filed under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// The resource.
    pub id: ResourceId,
    /// Its latest report (largest `at_ms`; see [`LiveIndex::upsert`] for ties).
    pub report: Report,
    /// Its bucket: the H3 cell at the index's bucket resolution.
    pub cell: CellIndex,
}

/// What [`LiveIndex::upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The resource was not in the index; it is now, in bucket `cell`.
    Inserted {
        /// The bucket it went into.
        cell: CellIndex,
    },
    /// The report replaced the stored one. `from_cell == to_cell` when the resource stayed in
    /// its bucket (most moves), different when it crossed into another (see
    /// [`Change::crossed_cell`]). Also the answer for a newer report at the same position.
    Moved {
        /// The bucket before.
        from_cell: CellIndex,
        /// The bucket now.
        to_cell: CellIndex,
    },
    /// An exact duplicate (same `at_ms` and position as stored): nothing changed, even if the
    /// report's other fields differ.
    Unchanged,
    /// Older than the stored report (`at_ms` smaller): the live marker did not move. The
    /// caller still keeps the point in the track.
    Stale,
}

impl Change {
    /// Whether the resource entered a bucket it was not in: inserted, or moved across cells.
    #[must_use]
    pub fn crossed_cell(self) -> bool {
        match self {
            Self::Inserted { .. } => true,
            Self::Moved { from_cell, to_cell } => from_cell != to_cell,
            Self::Unchanged | Self::Stale => false,
        }
    }
}

/// An entry with its slot bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) entry: Entry,
    /// Index into `buckets`.
    bucket: u32,
    /// Index into that bucket's `members`.
    pos: u32,
}

/// A resource in a bucket: its position (a copy of the slot's, so that a query scans a
/// bucket's positions in one contiguous read and touches a slot only for a likely answer) and
/// its slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) position: LatLng,
    pub(crate) slot: u32,
}

/// The resources of one H3 cell.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// The cell, so that an emptied bucket can leave `cells`.
    cell: CellIndex,
    pub(crate) members: Vec<Member>,
}

/// The latest report of every tracked resource, bucketed by H3 cell; see the module docs for
/// the layout. Single-writer: the server wraps it in a lock (or one owning task).
///
/// ```
/// # use gridwall_spatial::{Change, LatLng, LiveIndex, Report, ResourceId, ResourceKind};
/// let mut live = LiveIndex::default();
/// let at = LatLng::new(32.0, 120.9).unwrap();
/// let id = ResourceId(7);
/// assert!(matches!(live.upsert(id, Report::new(at, 1_000, ResourceKind::Worker)), Change::Inserted { .. }));
/// assert_eq!(live.upsert(id, Report::new(at, 1_000, ResourceKind::Worker)), Change::Unchanged);
/// assert_eq!(live.upsert(id, Report::new(at, 999, ResourceKind::Worker)), Change::Stale);
/// assert_eq!(live.get(id).unwrap().report.at_ms, 1_000);
/// ```
#[derive(Debug, Clone)]
pub struct LiveIndex {
    resolution: Resolution,
    pub(crate) slots: Vec<Slot>,
    ids: HashMap<ResourceId, u32, CellHash>,
    pub(crate) buckets: Vec<Bucket>,
    pub(crate) cells: HashMap<CellIndex, u32, CellHash>,
    free_buckets: Vec<u32>,
}

impl Default for LiveIndex {
    /// An empty index at [`LIVE_BUCKET_RESOLUTION`].
    fn default() -> Self {
        Self::new(LIVE_BUCKET_RESOLUTION)
    }
}

impl LiveIndex {
    /// An empty index bucketing by H3 cells of `resolution` ([`LIVE_BUCKET_RESOLUTION`] is
    /// the measured choice).
    #[must_use]
    pub fn new(resolution: Resolution) -> Self {
        Self::with_capacity(resolution, 0)
    }

    /// [`Self::new`] with room for `resources` without reallocating (a rebuild at start-up
    /// knows the count; growing by doubling leaves up to half the slots unused).
    #[must_use]
    pub fn with_capacity(resolution: Resolution, resources: usize) -> Self {
        Self {
            resolution,
            slots: Vec::with_capacity(resources),
            ids: HashMap::with_capacity_and_hasher(resources, CellHash::default()),
            buckets: Vec::new(),
            cells: HashMap::default(),
            free_buckets: Vec::new(),
        }
    }

    /// The H3 resolution of the buckets.
    #[must_use]
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// Number of resources.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no resource is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of non-empty buckets (cells holding at least one resource).
    #[must_use]
    pub fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// The live state of `id`.
    #[must_use]
    pub fn get(&self, id: ResourceId) -> Option<&Entry> {
        let &slot = self.ids.get(&id)?;
        self.slots.get(slot as usize).map(|s| &s.entry)
    }

    /// Every entry, in no particular order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Entry> + '_ {
        self.slots.iter().map(|s| &s.entry)
    }

    /// Files a report of `id`: inserts it, moves it, or ignores it as a duplicate or stale.
    ///
    /// Rules, by `at_ms` against the stored report: older → [`Change::Stale`], nothing
    /// changes; same time and same position → [`Change::Unchanged`] (idempotent replays);
    /// newer, or **same time at another position → the report replaces the stored one** (last
    /// write wins: ingest hands over one device's points in its order, so the later of two
    /// fixes stamped in the same second or millisecond is the later fix) → [`Change::Moved`].
    ///
    /// Cost: one `h3o` `to_cell` at the bucket resolution (≈0.5 µs) and O(1) hash-map and
    /// vector work. A caller that has the position's cell already (from
    /// `Hierarchy::cell_of`, for `locate_cell`) saves the `to_cell` with
    /// [`Self::upsert_in_cell`].
    pub fn upsert(&mut self, id: ResourceId, report: Report) -> Change {
        let cell = h3_cell(report.position, self.resolution);
        self.upsert_bucket(id, report, cell)
    }

    /// [`Self::upsert`] given `cell`, the H3 cell of `report.position` at any resolution at
    /// least the bucket resolution (such as the hierarchy's, from `Hierarchy::cell_of`); the
    /// bucket is its ancestor at the bucket resolution, a few bit operations. A cell coarser
    /// than the buckets is ignored and the bucket computed from the position. A cell that
    /// does not hold the position files the resource under the wrong bucket, and queries may
    /// then miss it (memory-safe, but unspecified answers).
    ///
    /// The bucket of a fine cell's ancestor is not always the bucket `to_cell` would give
    /// (H3 children do not tile their parent exactly); the queries' bounds allow for that
    /// (`nearest.rs`), so answers are the same either way.
    pub fn upsert_in_cell(&mut self, id: ResourceId, report: Report, cell: CellIndex) -> Change {
        let bucket = self.bucket_of(&report, cell);
        self.upsert_bucket(id, report, bucket)
    }

    /// [`Self::upsert_in_cell`] of many reports, in order: the same changes, one per item, as
    /// calling it on each item in turn (an id may appear several times; its later reports
    /// see the earlier ones). Faster per report: the hash probes, slots and bucket members of
    /// a run of reports are read in separate tight loops first, so their cache misses overlap
    /// instead of coming one after another (`BENCHMARKS.md`, "Live index"). The cells are
    /// those of [`crate::Hierarchy::locate_batch`] (or [`crate::Hierarchy::cell_of`]).
    pub fn upsert_batch(&mut self, items: &[(ResourceId, Report, CellIndex)]) -> Vec<Change> {
        // Runs small enough that their scratch stays in L1.
        const CHUNK: usize = 256;
        let mut changes = Vec::with_capacity(items.len());
        let mut hints: Vec<Option<u32>> = Vec::with_capacity(CHUNK.min(items.len()));
        for chunk in items.chunks(CHUNK) {
            hints.clear();
            hints.extend(chunk.iter().map(|(id, _, _)| self.ids.get(id).copied()));
            // Touch the slots, then their bucket members; the folds keep the loads.
            let slots = || {
                hints
                    .iter()
                    .flatten()
                    .filter_map(|&slot| self.slots.get(slot as usize))
            };
            let touched = slots().fold(0u32, |acc, s| acc ^ s.bucket ^ s.pos);
            let touched = slots()
                .filter_map(|s| {
                    self.buckets
                        .get(s.bucket as usize)?
                        .members
                        .get(s.pos as usize)
                })
                .fold(touched, |acc, m| acc ^ m.slot);
            std::hint::black_box(touched);
            for (&(id, report, cell), &hint) in chunk.iter().zip(&hints) {
                let bucket = self.bucket_of(&report, cell);
                // A hint stays right through the run: slots only move on removal. An id
                // without one may have been inserted by an earlier item of the run.
                let slot = hint.or_else(|| self.ids.get(&id).copied());
                changes.push(self.upsert_slot(slot, id, report, bucket));
            }
        }
        changes
    }

    /// The bucket of a report filed with `cell` (see [`Self::upsert_in_cell`]).
    #[inline]
    fn bucket_of(&self, report: &Report, cell: CellIndex) -> CellIndex {
        cell.parent(self.resolution)
            .unwrap_or_else(|| h3_cell(report.position, self.resolution))
    }

    /// Sets the status flags of `id` without a new report (a case assigned, an SOS cleared);
    /// the previous flags, or `None` when `id` is not tracked.
    pub fn set_status(&mut self, id: ResourceId, status: Status) -> Option<Status> {
        let &slot = self.ids.get(&id)?;
        let entry = &mut self.slots.get_mut(slot as usize)?.entry;
        Some(std::mem::replace(&mut entry.report.status, status))
    }

    /// Drops `id` from the index and returns its last state.
    pub fn remove(&mut self, id: ResourceId) -> Option<Entry> {
        let slot = self.ids.remove(&id)?;
        let (bucket, pos) = {
            let s = self.slots.get(slot as usize)?;
            (s.bucket, s.pos)
        };
        self.detach(bucket, pos);
        let removed = self.slots.swap_remove(slot as usize);
        // The last slot moved into `slot`: repoint its id and its bucket member.
        if let Some(moved) = self.slots.get(slot as usize) {
            let (moved_id, b, p) = (moved.entry.id, moved.bucket, moved.pos);
            if let Some(s) = self.ids.get_mut(&moved_id) {
                *s = slot;
            }
            if let Some(m) = self
                .buckets
                .get_mut(b as usize)
                .and_then(|b| b.members.get_mut(p as usize))
            {
                m.slot = slot;
            }
        }
        Some(removed.entry)
    }

    /// Heap memory held by the index, in bytes: slots, both hash maps (slots and control
    /// bytes as `hashbrown` lays them out), buckets and their member lists (with 16 bytes of
    /// allocator overhead per list). Approximate, for reports.
    #[must_use]
    pub fn heap_size_bytes(&self) -> usize {
        let members: usize = self
            .buckets
            .iter()
            .filter(|b| b.members.capacity() > 0)
            .map(|b| b.members.capacity() * size_of::<Member>() + 16)
            .sum();
        self.slots.capacity() * size_of::<Slot>()
            + hash_map_bytes(self.ids.capacity(), size_of::<(ResourceId, u32)>())
            + hash_map_bytes(self.cells.capacity(), size_of::<(CellIndex, u32)>())
            + self.buckets.capacity() * size_of::<Bucket>()
            + members
            + self.free_buckets.capacity() * size_of::<u32>()
    }

    fn upsert_bucket(&mut self, id: ResourceId, report: Report, cell: CellIndex) -> Change {
        let slot = self.ids.get(&id).copied();
        self.upsert_slot(slot, id, report, cell)
    }

    /// Files `report` of `id` under bucket `cell`, given `id`'s slot (`None`: not tracked).
    fn upsert_slot(
        &mut self,
        slot: Option<u32>,
        id: ResourceId,
        report: Report,
        cell: CellIndex,
    ) -> Change {
        let Some(slot) = slot else {
            return self.insert(id, report, cell);
        };
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return self.insert(id, report, cell); // Unreachable: `ids` points at live slots.
        };
        let stored = &s.entry.report;
        if report.at_ms < stored.at_ms {
            return Change::Stale;
        }
        if report.at_ms == stored.at_ms && report.position == stored.position {
            return Change::Unchanged;
        }
        let from_cell = s.entry.cell;
        s.entry.report = report;
        if from_cell == cell {
            if let Some(m) = self
                .buckets
                .get_mut(s.bucket as usize)
                .and_then(|b| b.members.get_mut(s.pos as usize))
            {
                m.position = report.position;
            }
        } else {
            s.entry.cell = cell;
            let (bucket, pos) = (s.bucket, s.pos);
            self.detach(bucket, pos);
            self.attach(slot, cell);
        }
        Change::Moved {
            from_cell,
            to_cell: cell,
        }
    }

    fn insert(&mut self, id: ResourceId, report: Report, cell: CellIndex) -> Change {
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            // 4 billion resources: far beyond any province; refuse rather than corrupt.
            return Change::Stale;
        };
        self.slots.push(Slot {
            entry: Entry { id, report, cell },
            bucket: 0,
            pos: 0,
        });
        self.ids.insert(id, slot);
        self.attach(slot, cell);
        Change::Inserted { cell }
    }

    /// Adds `slot` to the bucket of `cell` and records where.
    fn attach(&mut self, slot: u32, cell: CellIndex) {
        let bucket = if let Some(&b) = self.cells.get(&cell) {
            b
        } else {
            let b = if let Some(b) = self.free_buckets.pop() {
                if let Some(bucket) = self.buckets.get_mut(b as usize) {
                    bucket.cell = cell;
                }
                b
            } else {
                self.buckets.push(Bucket {
                    cell,
                    members: Vec::new(),
                });
                u32::try_from(self.buckets.len() - 1).unwrap_or(u32::MAX)
            };
            self.cells.insert(cell, b);
            b
        };
        let (Some(members), Some(s)) = (
            self.buckets
                .get_mut(bucket as usize)
                .map(|b| &mut b.members),
            self.slots.get_mut(slot as usize),
        ) else {
            return;
        };
        if members.capacity() == 0 {
            members.reserve_exact(1); // Most cells of a city hold one or two resources.
        }
        s.bucket = bucket;
        s.pos = u32::try_from(members.len()).unwrap_or(u32::MAX);
        members.push(Member {
            position: s.entry.report.position,
            slot,
        });
    }

    /// Removes member `pos` from `bucket`, repointing the member swapped into its place, and
    /// frees the bucket when it empties.
    fn detach(&mut self, bucket: u32, pos: u32) {
        let Some(b) = self.buckets.get_mut(bucket as usize) else {
            return;
        };
        if (pos as usize) >= b.members.len() {
            return;
        }
        b.members.swap_remove(pos as usize);
        if let Some(s) = b
            .members
            .get(pos as usize)
            .and_then(|moved| self.slots.get_mut(moved.slot as usize))
        {
            s.pos = pos;
        }
        if b.members.is_empty() {
            if b.members.capacity() > 4 {
                b.members = Vec::new(); // A crowd left: give its memory back.
            }
            let cell = b.cell;
            self.cells.remove(&cell);
            self.free_buckets.push(bucket);
        }
    }
}

/// Heap bytes of a `hashbrown` table with `capacity` usable slots of `entry` bytes: buckets
/// (a power of two, 8/7 of the capacity from 8 on) each with one control byte, plus a group.
fn hash_map_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        capacity / 7 * 8
    };
    buckets * (entry + 1) + 16
}

/// The H3 cell of a position.
#[inline]
pub(crate) fn h3_cell(p: LatLng, resolution: Resolution) -> CellIndex {
    h3_latlng(p).to_cell(resolution)
}
