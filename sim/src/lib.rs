//! Gridwall's demo simulator and HTTP load generator: clients of the public API, nothing more.
//! They reach a server by its URL (any Gridwall server), never through its code, so this crate
//! depends on no server crate; the `gridwall` binary's `simulate` and `loadgen` subcommands are
//! thin wrappers over [`cli`], and the `gridwall-sim` binary runs the same commands alone.
//!
//! The simulator (`gridwall simulate`): grid workers walking patrols inside their grids
//! and patrol vehicles driving loops through their townships, each reporting its position
//! every few seconds through the public ingest API with its own device token, as a phone does.
//!
//! It is an HTTP client only (see [`client`]): it sets up its workers and vehicles through the
//! API (idempotently, found again by name and plate), issues one device token per resource and
//! keeps them in a state file for the next run, then runs one task per resource. Sends are
//! bounded by a semaphore; 503/Retry-After and connection errors back off and the phone keeps
//! its unsent points (up to [`MAX_PENDING`]) to send them with the next report.
//!
//! With a case rate ([`CaseSim`]), it also plays the whole life of cases: a raiser reports
//! cases near the workers from every source ([`casegen`]), a dispatcher loop accepts,
//! dispatches, follows up and closes them through the session, and each worker's phone takes
//! its cases, walks there, starts, handles and resolves them with its device token. All of it
//! runs on one simulated clock ([`Clock`]) that may run faster than real time.
//!
//! Code map:
//! - `lib.rs`: [`run`], the set-up and the reporting loop of each resource; [`SimConfig`].
//! - `client`: the HTTP client of the public API ([`Api`]), shared with the load generator.
//! - `outline`: unit outlines (GeoJSON from `GET /api/units`) into `geo` types.
//! - `patrol`: how a worker walks and a vehicle drives ([`Mover`]).
//! - `crew`, `casegen`, `raiser`, `dispatcher`, `duty`, `act`: the life of cases — who is on
//!   duty, what cases look like, who reports them, the center's loop, a worker's phone.
//! - `state`: the state file of issued device tokens.
//! - `cli/`: the `simulate` and `loadgen` commands and their flags; `cli/loadgen/anchor.rs` is
//!   the only code that opens a database (the load benchmark's PostGIS anchor).

mod act;
pub mod casegen;
pub mod cli;
pub mod client;
mod crew;
mod dispatcher;
mod duty;
mod outline;
pub mod patrol;
mod raiser;
mod state;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng as _};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::time::Instant;

pub use client::{Api, CaseBrief, Fix, Kind, Posted, Transition, UnitShape};
pub use crew::Clock;
pub use patrol::{Mover, Reading, Style};
pub use state::{ServerState, StateFile, StoredDevice};

/// Names of simulated workers start with this, then `·` and the grid's name.
pub const WORKER_PREFIX: &str = "模拟网格员";
/// Names of simulated vehicles start with this, then `·` and the township's name.
pub const VEHICLE_PREFIX: &str = "模拟巡逻车";
/// Plates of simulated vehicles: this, then the township code.
pub const PLATE_PREFIX: &str = "SIM-";
/// The label of the simulator's device tokens (only these are ever revoked by it).
pub const DEVICE_LABEL: &str = "模拟器 (gridwall simulate)";
/// Points a simulated phone keeps while it cannot send; older ones are dropped.
pub const MAX_PENDING: usize = 500;
/// Points per request at most (a phone catching up after an outage).
const MAX_BATCH: usize = 100;

/// Why the simulator stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The server could not be reached.
    #[error("cannot reach {url}: {source}")]
    Connect {
        /// The server URL tried.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{method} {path} answered {status} {code}: {message}")]
    Api {
        /// HTTP method.
        method: String,
        /// Path and query.
        path: String,
        /// Status code.
        status: u16,
        /// The error code of the body, if any.
        code: String,
        message: String,
    },
    /// Anything else that prevents setting up.
    #[error("{0}")]
    Setup(String),
    /// The state file.
    #[error("state file: {0}")]
    State(#[from] std::io::Error),
}

impl SimError {
    fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error code of the server's answer (`version_conflict`, …), if any.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }
}

/// The simulator's result type.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

/// How the simulator signs in to set things up.
#[derive(Debug, Clone)]
pub enum Login {
    /// User name and password (an admin or a dispatcher).
    Password {
        /// Login name.
        username: String,
        password: String,
    },
    /// A session token already held.
    Session(String),
}

/// What to simulate and how.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// How to sign in.
    pub login: Login,
    /// Workers (one per grid, grids spread evenly over the territory); `None`: every grid.
    pub workers: Option<usize>,
    /// Vehicles (one per township, spread evenly); `None`: every township.
    pub vehicles: Option<usize>,
    /// Where device tokens are kept between runs.
    pub state_file: PathBuf,
    /// Shortest time between two reports of one resource.
    pub interval_min: Duration,
    /// Longest time between two reports of one resource.
    pub interval_max: Duration,
    /// Seed of the movements (the same seed walks the same patrols).
    pub seed: u64,
    /// Requests in flight at most (set-up and reports).
    pub concurrency: usize,
    /// How often the one-line summary is logged.
    pub summary_every: Duration,
    /// Simulated seconds per real second (1: real time): walking, driving and every case
    /// delay run this much faster; request pacing does not.
    pub time_scale: f64,
    /// Cases: how many, and how the center and the workers handle them.
    pub cases: CaseSim,
}

/// How cases are raised and handled. Durations are simulated time (see
/// [`SimConfig::time_scale`]) unless they say real.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSim {
    /// Cases raised per simulated hour, Poisson arrivals; 0: no cases at all (none raised,
    /// none handled).
    pub per_hour: f64,
    /// A phone looks for its cases this long after being dispatched one (uniform in the
    /// range; at least 1 s real).
    pub poll: (Duration, Duration),
    /// Otherwise a phone looks about this often, real time (cases dispatched by people or
    /// the server's auto-dispatch); by default 5 min, longer with many workers, so that all
    /// phones together make at most 20 such requests a second.
    pub background_poll: Option<Duration>,
    /// Time on site (uniform in the range).
    pub on_site: (Duration, Duration),
    /// The dispatcher loop's round, real time.
    pub dispatch_every: Duration,
    /// Intake: a reported case is accepted after this long.
    pub accept_after: Duration,
    /// A case nobody can be dispatched to is escalated after this long.
    pub escalate_after: Duration,
    /// The follow-up call comes this long after the resolution.
    pub follow_up_after: Duration,
    /// A followed-up case is closed after this long.
    pub close_after: Duration,
    /// The share of assignments a worker declines (0–1).
    pub decline_share: f64,
    /// Incidents per simulated hour across all workers, for the alerts on the wall: a worker
    /// presses SOS (a third), or a phone is switched off for 35–50 minutes (the rest). The
    /// dispatcher acknowledges an SOS after 20–60 s and clears it 2–5 minutes later.
    pub incidents_per_hour: f64,
}

impl Default for CaseSim {
    /// 120 cases an hour; a phone looks 10–20 s after a dispatch; 3–12 minutes on site;
    /// accepted after 30 s, escalated after 10 minutes without a candidate, followed up
    /// 5 minutes after the resolution and closed a minute later; 5 % declined.
    fn default() -> Self {
        Self {
            per_hour: 120.0,
            poll: (Duration::from_secs(10), Duration::from_secs(20)),
            background_poll: None,
            on_site: (Duration::from_secs(180), Duration::from_secs(720)),
            dispatch_every: Duration::from_secs(5),
            accept_after: Duration::from_secs(30),
            escalate_after: Duration::from_secs(600),
            follow_up_after: Duration::from_secs(300),
            close_after: Duration::from_secs(60),
            decline_share: 0.05,
            incidents_per_hour: 6.0,
        }
    }
}

impl CaseSim {
    /// No cases.
    #[must_use]
    pub fn off() -> Self {
        Self {
            per_hour: 0.0,
            ..Self::default()
        }
    }

    /// The background poll interval for `workers` phones (see [`CaseSim::background_poll`]).
    #[must_use]
    pub fn background_for(&self, workers: usize) -> Duration {
        self.background_poll.unwrap_or_else(|| {
            #[allow(clippy::cast_precision_loss, reason = "a count of workers")]
            let s = workers as f64 / 20.0;
            Duration::from_secs_f64(s.max(300.0))
        })
    }
}

/// A simulated resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimResource {
    /// Resource id.
    pub id: i64,
    /// Worker or vehicle.
    pub kind: Kind,
    /// Home unit code (grid or township).
    pub unit: String,
}

/// Counters since the start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Points sent (a point sent twice counts twice).
    pub sent: AtomicU64,
    /// Requests made.
    pub requests: AtomicU64,
    /// Points the server accepted.
    pub accepted: AtomicU64,
    /// Points the server rejected.
    pub rejected: AtomicU64,
    /// 503/429 answers (the server asked to back off).
    pub busy: AtomicU64,
    /// Failed requests (connection errors, timeouts, 401, other statuses).
    pub errors: AtomicU64,
    pub cases_raised: AtomicU64,
    /// Case transitions asked for.
    pub case_actions: AtomicU64,
    /// 409 `version_conflict` answers.
    pub case_conflicts: AtomicU64,
    /// `GET /api/me/cases` made.
    pub case_polls: AtomicU64,
    /// Failed case requests.
    pub case_errors: AtomicU64,
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Points sent.
    pub sent: u64,
    /// Requests made.
    pub requests: u64,
    /// Points accepted.
    pub accepted: u64,
    /// Points rejected.
    pub rejected: u64,
    /// 503/429 answers.
    pub busy: u64,
    /// Failed requests.
    pub errors: u64,
    pub cases_raised: u64,
    /// Case transitions asked for.
    pub case_actions: u64,
    /// Version conflicts.
    pub case_conflicts: u64,
    /// Workers' looks at their cases.
    pub case_polls: u64,
    /// Failed case requests.
    pub case_errors: u64,
}

impl Stats {
    fn totals(&self) -> Totals {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            sent: g(&self.sent),
            requests: g(&self.requests),
            accepted: g(&self.accepted),
            rejected: g(&self.rejected),
            busy: g(&self.busy),
            errors: g(&self.errors),
            cases_raised: g(&self.cases_raised),
            case_actions: g(&self.case_actions),
            case_conflicts: g(&self.case_conflicts),
            case_polls: g(&self.case_polls),
            case_errors: g(&self.case_errors),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The simulated resources.
    pub resources: Vec<SimResource>,
    /// Counters at the end.
    pub totals: Totals,
}

/// Every `len / n`-th index: `n` items spread evenly over `len` (all when `n ≥ len`).
#[must_use]
pub fn spread(len: usize, n: usize) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    (0..n).map(|i| i * len / n).collect()
}

/// Everything the resource tasks share.
#[derive(Debug)]
struct Shared {
    api: Api,
    limit: Semaphore,
    stats: Stats,
    interval: (Duration, Duration),
    clock: Clock,
    cases: CaseSim,
    /// `Some` when cases are simulated.
    crew: std::sync::OnceLock<Arc<crew::Crew>>,
    state: Mutex<StateFile>,
    state_file: PathBuf,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn interval(&self, rng: &mut impl Rng) -> Duration {
        let (lo, hi) = self.interval;
        if hi <= lo {
            lo
        } else {
            rng.random_range(lo..=hi)
        }
    }

    fn note_error(&self, e: impl Into<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e.into());
        }
    }

    async fn save_state(&self) {
        let s = self.state.lock().await;
        if let Err(e) = s.save(&self.state_file) {
            tracing::error!(file = %self.state_file.display(), "cannot save the simulator state: {e}");
        }
    }

    /// A device token for a resource: from the state file when known, else a new one. With
    /// `stale`, the stored token no longer works: it is revoked (if the server still lists it
    /// for this resource under our label) and replaced.
    async fn device(&self, r: &SimResource, stale: Option<&StoredDevice>) -> Result<StoredDevice> {
        let url = self.api.base().to_owned();
        if stale.is_none()
            && let Some(d) = self.state.lock().await.server(&url).devices.get(&r.id)
        {
            return Ok(d.clone());
        }
        let _permit = self.limit.acquire().await;
        if let Some(old) = stale {
            // Revoke only what is provably ours: the id may belong to someone else after the
            // server's database was recreated.
            let ours = self
                .api
                .active_devices(r.kind, r.id)
                .await
                .unwrap_or_default()
                .iter()
                .any(|(id, label)| *id == old.device && label == DEVICE_LABEL);
            if ours {
                self.api.revoke_device(old.device).await?;
            }
        }
        let issued = match self.api.issue_device(r.kind, r.id, DEVICE_LABEL).await {
            Err(e) if e.status() == Some(409) => {
                // Too many active tokens (a lost state file): revoke the simulator's own.
                for (id, label) in self.api.active_devices(r.kind, r.id).await? {
                    if label == DEVICE_LABEL {
                        self.api.revoke_device(id).await?;
                    }
                }
                self.api.issue_device(r.kind, r.id, DEVICE_LABEL).await?
            }
            other => other?,
        };
        let d = StoredDevice {
            device: issued.device,
            token: issued.token,
        };
        self.state
            .lock()
            .await
            .server(&url)
            .devices
            .insert(r.id, d.clone());
        Ok(d)
    }
}

/// Runs the simulator until `stop` completes: set-up, then every resource reporting.
///
/// # Errors
///
/// Set-up fails: the server cannot be reached, refuses the login, or has no grids.
#[allow(
    clippy::too_many_lines,
    reason = "set-up, the agents and the report read best as one sequence"
)]
pub async fn run(config: SimConfig, stop: impl Future<Output = ()>) -> Result<Report> {
    if config.interval_min.is_zero() || config.interval_min > config.interval_max {
        return Err(SimError::Setup(
            "the report interval must be positive, min ≤ max".into(),
        ));
    }
    let http = client::http_client(config.concurrency.max(1))?;
    let api = match &config.login {
        Login::Password { username, password } => {
            Api::login(http, &config.url, username, password).await?
        }
        Login::Session(token) => Api::with_session(http, &config.url, token),
    };
    let shared = Arc::new(Shared {
        api,
        limit: Semaphore::new(config.concurrency.max(1)),
        stats: Stats::default(),
        interval: (config.interval_min, config.interval_max),
        clock: Clock::new(config.time_scale),
        cases: config.cases.clone(),
        crew: std::sync::OnceLock::new(),
        state: Mutex::new(StateFile::load(&config.state_file)?),
        state_file: config.state_file.clone(),
        last_error: std::sync::Mutex::new(None),
    });
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut agents = setup_workers(&shared, &config, &mut rng).await?;
    agents.extend(setup_vehicles(&shared, &config, &mut rng).await?);
    let resources: Vec<SimResource> = agents.iter().map(|a| a.resource.clone()).collect();

    // One token per resource, issued once and remembered.
    let issued = futures_util::stream::iter(agents)
        .map(|mut a| {
            let shared = Arc::clone(&shared);
            async move {
                match shared.device(&a.resource, None).await {
                    Ok(d) => {
                        a.device = Some(d);
                        Some(a)
                    }
                    Err(e) => {
                        tracing::warn!(resource = a.resource.id, "no device token: {e}");
                        None
                    }
                }
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect::<Vec<Agent>>()
        .await;
    shared.save_state().await;
    let workers = issued
        .iter()
        .filter(|a| a.resource.kind == Kind::Worker)
        .count();
    tracing::info!(
        workers,
        vehicles = issued.len() - workers,
        url = shared.api.base(),
        "simulating; every resource reports every {:?} to {:?}",
        config.interval_min,
        config.interval_max
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if config.cases.per_hour > 0.0 {
        let members: Vec<Arc<crew::Member>> = issued
            .iter()
            .filter(|a| a.resource.kind == Kind::Worker)
            .filter_map(|a| {
                Some(Arc::new(crew::Member::new(
                    a.resource.id,
                    a.resource.unit.clone(),
                    a.place.clone(),
                    a.mover.area().clone(),
                    a.device.as_ref()?.token.clone(),
                )))
            })
            .collect();
        let crew = Arc::new(crew::Crew::new(members));
        let _ = shared.crew.set(Arc::clone(&crew));
        let run = format!("{:x}", Utc::now().timestamp_millis());
        tracing::info!(
            per_hour = config.cases.per_hour,
            time_scale = shared.clock.scale(),
            "raising and handling cases"
        );
        tasks.spawn(raiser::raise(
            Arc::clone(&shared),
            Arc::clone(&crew),
            config.cases.clone(),
            shared.clock,
            run,
            stop_rx.clone(),
            StdRng::seed_from_u64(config.seed ^ 0xCA5E),
        ));
        tasks.spawn(dispatcher::dispatch(
            Arc::clone(&shared),
            crew,
            config.cases.clone(),
            shared.clock,
            stop_rx.clone(),
            StdRng::seed_from_u64(config.seed ^ 0xD15),
        ));
    }
    for a in issued {
        let seed = config.seed
            ^ a.resource
                .id
                .cast_unsigned()
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.spawn(agent(
            a,
            Arc::clone(&shared),
            stop_rx.clone(),
            StdRng::seed_from_u64(seed),
        ));
    }
    let summary = summaries(Arc::clone(&shared), config.summary_every);
    tokio::select! {
        () = stop => {}
        () = summary => {}
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    shared.save_state().await;
    let totals = shared.stats.totals();
    tracing::info!(
        sent = totals.sent,
        accepted = totals.accepted,
        rejected = totals.rejected,
        busy = totals.busy,
        errors = totals.errors,
        cases_raised = totals.cases_raised,
        case_actions = totals.case_actions,
        "simulator stopped"
    );
    Ok(Report { resources, totals })
}

/// A resource being simulated.
#[derive(Debug)]
struct Agent {
    resource: SimResource,
    /// The home unit's name.
    place: String,
    mover: Mover,
    device: Option<StoredDevice>,
}

async fn setup_workers(
    shared: &Shared,
    config: &SimConfig,
    rng: &mut StdRng,
) -> Result<Vec<Agent>> {
    let api = &shared.api;
    let mut grids = api.units("grid").await?;
    if grids.is_empty() {
        return Err(SimError::Setup(
            "the server has no grids in this account's territory: import a hierarchy first".into(),
        ));
    }
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    let chosen: Vec<UnitShape> = spread(grids.len(), config.workers.unwrap_or(grids.len()))
        .into_iter()
        .filter_map(|i| grids.get(i).cloned())
        .collect();
    let mut existing: HashMap<String, client::Listed> = HashMap::new();
    for w in api.list(Kind::Worker, WORKER_PREFIX).await? {
        if w.name.starts_with(WORKER_PREFIX) {
            let keep = existing.get(&w.unit).is_none_or(|e| e.id > w.id);
            if keep {
                existing.insert(w.unit.clone(), w);
            }
        }
    }
    let created = AtomicU64::new(0);
    let ids: Vec<Option<i64>> = futures_util::stream::iter(chosen.iter().enumerate())
        .map(|(i, g)| {
            let found = existing.get(&g.code);
            let created = &created;
            // One in five is trained for fire safety (消防 cases need it to be dispatched).
            let skills: &[&str] = if i % 5 == 0 {
                &["巡查", "消防"]
            } else {
                &["巡查"]
            };
            async move {
                let r = match found {
                    Some(w) if w.disabled => api.enable(Kind::Worker, w.id).await.map(|()| w.id),
                    Some(w) => Ok(w.id),
                    None => {
                        created.fetch_add(1, Ordering::Relaxed);
                        api.create_worker(&format!("{WORKER_PREFIX}·{}", g.name), &g.code, skills)
                            .await
                    }
                };
                r.map_err(|e| tracing::warn!(grid = %g.code, "worker set-up failed: {e}"))
                    .ok()
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    tracing::info!(
        grids = grids.len(),
        workers = chosen.len(),
        created = created.load(Ordering::Relaxed),
        "workers ready"
    );
    Ok(chosen
        .iter()
        .zip(ids)
        .filter_map(|(g, id)| {
            Some(Agent {
                resource: SimResource {
                    id: id?,
                    kind: Kind::Worker,
                    unit: g.code.clone(),
                },
                place: g.name.clone(),
                mover: Mover::walker(&g.area, rng)?,
                device: None,
            })
        })
        .collect())
}

async fn setup_vehicles(
    shared: &Shared,
    config: &SimConfig,
    rng: &mut StdRng,
) -> Result<Vec<Agent>> {
    if config.vehicles == Some(0) {
        return Ok(Vec::new());
    }
    let api = &shared.api;
    // By name: the server keeps plates without the hyphen, so `SIM-` would find nothing.
    let existing = match api.list(Kind::Vehicle, VEHICLE_PREFIX).await {
        Ok(v) => v,
        Err(e) if e.status() == Some(404) => {
            tracing::warn!("this server has no vehicles API; simulating workers only");
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let by_plate: HashMap<String, client::Listed> = existing
        .into_iter()
        .filter_map(|v| Some((plate_key(v.plate.as_deref()?), v)))
        .collect();
    let mut townships = api.units("township").await?;
    townships.sort_by(|a, b| a.code.cmp(&b.code));
    let chosen: Vec<UnitShape> =
        spread(townships.len(), config.vehicles.unwrap_or(townships.len()))
            .into_iter()
            .filter_map(|i| townships.get(i).cloned())
            .collect();
    let ids: Vec<Option<i64>> = futures_util::stream::iter(&chosen)
        .map(|t| {
            let plate = format!("{PLATE_PREFIX}{}", t.code);
            let found = by_plate.get(&plate_key(&plate));
            async move {
                let r = match found {
                    Some(v) if v.disabled => api.enable(Kind::Vehicle, v.id).await.map(|()| v.id),
                    Some(v) => Ok(v.id),
                    None => {
                        api.create_vehicle(&format!("{VEHICLE_PREFIX}·{}", t.name), &plate, &t.code)
                            .await
                    }
                };
                r.map_err(|e| tracing::warn!(township = %t.code, "vehicle set-up failed: {e}"))
                    .ok()
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    tracing::info!(vehicles = chosen.len(), "vehicles ready");
    Ok(chosen
        .iter()
        .zip(ids)
        .filter_map(|(t, id)| {
            Some(Agent {
                resource: SimResource {
                    id: id?,
                    kind: Kind::Vehicle,
                    unit: t.code.clone(),
                },
                place: t.name.clone(),
                mover: Mover::driver(&t.area, rng)?,
                device: None,
            })
        })
        .collect())
}

/// A plate as the server compares it: letters and digits only, upper case (the server
/// stores `SIM-320612001` as `SIM320612001`).
fn plate_key(plate: &str) -> String {
    plate
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The wait after `failures` failed sends in a row: 2, 4, 8 … 60 s, with jitter.
fn backoff(failures: u32, rng: &mut impl Rng) -> Duration {
    let base = 2_f64
        .powi(i32::try_from(failures.min(6)).unwrap_or(6))
        .min(60.0);
    Duration::from_secs_f64(base * rng.random_range(0.75..=1.25))
}

fn fix(id: i64, r: &Reading, at_ms: i64, battery: bool) -> Fix {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "accuracy, speed, heading and battery fit f32 with room to spare"
    )]
    Fix {
        resource: id,
        lat: r.lat,
        lng: r.lng,
        at: at_ms,
        accuracy_m: r.accuracy_m as f32,
        speed_mps: r.speed_mps as f32,
        heading_deg: r.heading_deg as f32,
        battery: battery.then_some(r.battery_pct as f32),
        sos: false,
    }
}

/// What an incident does to one worker's phone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Incident {
    /// The next fix carries SOS.
    Sos,
    /// The phone is off for this many simulated seconds.
    Off(f64),
}

/// Whether an incident befalls one worker over `dt_s` simulated seconds, when `per_hour`
/// incidents happen among `workers` workers.
fn incident(per_hour: f64, workers: usize, dt_s: f64, rng: &mut impl Rng) -> Option<Incident> {
    if per_hour <= 0.0 || workers == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, reason = "a head count")]
    let p = per_hour / 3600.0 * dt_s / workers as f64;
    if rng.random::<f64>() >= p {
        return None;
    }
    Some(if rng.random::<f64>() < 1.0 / 3.0 {
        Incident::Sos
    } else {
        Incident::Off(rng.random_range(35.0 * 60.0..=50.0 * 60.0))
    })
}

/// One resource: move, read, report, wait; until stopped.
#[allow(
    clippy::too_many_lines,
    reason = "one loop whose steps share the resource's state"
)]
async fn agent(
    mut a: Agent,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut rng: StdRng,
) {
    let Some(mut device) = a.device.take() else {
        return;
    };
    let mut pending: VecDeque<Fix> = VecDeque::new();
    let mut last = Instant::now();
    let mut failures = 0_u32;
    // Phones are not in step: the first report comes anywhere in the first interval.
    let mut wait = shared.interval(&mut rng).mul_f64(rng.random::<f64>());
    let battery = a.resource.kind == Kind::Worker;
    let member = shared
        .crew
        .get()
        .and_then(|c| c.get(a.resource.id))
        .map(Arc::clone);
    let mut duty = shared.crew.get().and_then(|c| {
        member.as_ref()?;
        Some(duty::Duty::new(
            shared.cases.background_for(c.members.len()),
            &mut rng,
        ))
    });
    let workers = shared.crew.get().map_or(0, |c| c.members.len());
    // Simulated seconds the phone stays off; an SOS to send with the next fix.
    let mut off_s = 0.0_f64;
    let mut sos = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let now = Instant::now();
        let dt_s = shared.clock.simulated_s((now - last).as_secs_f64());
        a.mover.advance(dt_s, &mut rng);
        last = now;
        if member.is_some() && off_s <= 0.0 {
            match incident(shared.cases.incidents_per_hour, workers, dt_s, &mut rng) {
                Some(Incident::Sos) => {
                    tracing::info!(resource = a.resource.id, "incident: SOS");
                    sos = true;
                }
                Some(Incident::Off(s)) => {
                    tracing::info!(
                        resource = a.resource.id,
                        minutes = s / 60.0,
                        "incident: phone off"
                    );
                    off_s = s;
                }
                None => {}
            }
        }
        if off_s > 0.0 {
            // Switched off: it neither records nor sends (and takes no cases).
            off_s -= dt_s;
            wait = shared.interval(&mut rng);
            continue;
        }
        if let (Some(m), Some(d)) = (&member, &mut duty) {
            m.set_position(a.mover.position());
            let ctx = duty::Ctx {
                http: shared.api.http(),
                base: shared.api.base(),
                stats: &shared.stats,
                cfg: &shared.cases,
                clock: shared.clock,
                member: m,
            };
            tokio::select! {
                _ = stop.changed() => return,
                () = d.step(&ctx, &mut a.mover, &mut rng) => {}
            }
        }
        let reading = a.mover.read(&mut rng);
        pending.push_back(Fix {
            sos: std::mem::take(&mut sos),
            ..fix(
                a.resource.id,
                &reading,
                Utc::now().timestamp_millis(),
                battery,
            )
        });
        while pending.len() > MAX_PENDING {
            pending.pop_front();
        }
        let batch: Vec<Fix> = pending.iter().take(MAX_BATCH).copied().collect();
        let posted = {
            let Ok(_permit) = shared.limit.acquire().await else {
                return;
            };
            tokio::select! {
                _ = stop.changed() => return,
                p = client::post_positions(shared.api.http(), shared.api.base(), &device.token, &batch) => p,
            }
        };
        let n = batch.len() as u64;
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        shared.stats.sent.fetch_add(n, Ordering::Relaxed);
        wait = shared.interval(&mut rng);
        match posted {
            Posted::Done { accepted, rejected } => {
                shared.stats.accepted.fetch_add(accepted, Ordering::Relaxed);
                shared.stats.rejected.fetch_add(rejected, Ordering::Relaxed);
                pending.drain(..batch.len());
                failures = 0;
            }
            Posted::Busy(retry) => {
                shared.stats.busy.fetch_add(1, Ordering::Relaxed);
                // Same points again later (duplicates are ignored by the server).
                wait = wait.max(retry.mul_f64(rng.random_range(1.0..=1.5)));
            }
            Posted::Unauthorized => {
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                match shared.device(&a.resource, Some(&device)).await {
                    Ok(d) => {
                        tracing::info!(resource = a.resource.id, "device token replaced");
                        if let Some(m) = &member {
                            m.set_token(&d.token);
                        }
                        device = d;
                        shared.save_state().await;
                    }
                    Err(e) => {
                        failures += 1;
                        shared.note_error(format!("resource {}: {e}", a.resource.id));
                        wait = backoff(failures, &mut rng).max(wait);
                    }
                }
            }
            Posted::Failed(e) => {
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                failures += 1;
                shared.note_error(e);
                wait = backoff(failures, &mut rng).max(wait);
            }
        }
    }
}

/// Logs one line every `every`: rates over the window and totals. Never returns.
async fn summaries(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    let mut before = shared.stats.totals();
    let mut at = Instant::now();
    loop {
        tick.tick().await;
        let now = shared.stats.totals();
        let dt = at.elapsed().as_secs_f64().max(1e-3);
        at = Instant::now();
        #[allow(
            clippy::cast_precision_loss,
            reason = "counts far below 2^52, shown as rates"
        )]
        let rate = |a: u64, b: u64| (a - b) as f64 / dt;
        let last_error = shared
            .last_error
            .lock()
            .ok()
            .and_then(|mut g| g.take())
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default();
        let cases = if shared.crew.get().is_some() {
            format!(
                "; cases: {} raised, {} transitions, {} looks, {} conflicts, {} errors",
                now.cases_raised - before.cases_raised,
                now.case_actions - before.case_actions,
                now.case_polls - before.case_polls,
                now.case_conflicts - before.case_conflicts,
                now.case_errors - before.case_errors,
            )
        } else {
            String::new()
        };
        tracing::info!(
            "sent {:.1} points/s in {:.1} requests/s; accepted {}, rejected {}, busy {}, errors {}{last_error}{cases} \
             in the last {:.0} s; totals: accepted {}, rejected {}, errors {}",
            rate(now.sent, before.sent),
            rate(now.requests, before.requests),
            now.accepted - before.accepted,
            now.rejected - before.rejected,
            now.busy - before.busy,
            now.errors - before.errors,
            dt,
            now.accepted,
            now.rejected,
            now.errors,
        );
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_evenly() {
        assert_eq!(spread(10, 3), vec![0, 3, 6]);
        assert_eq!(spread(3, 10), vec![0, 1, 2]);
        assert_eq!(spread(5, 0), Vec::<usize>::new());
        let s = spread(11_820, 100);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn plates_compare_as_the_server_stores_them() {
        assert_eq!(plate_key("SIM-320612001"), plate_key("sim320612001"));
        assert_eq!(plate_key("苏F·A123"), "苏FA123");
    }

    #[test]
    fn backs_off_up_to_a_minute() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(backoff(1, &mut rng) <= Duration::from_secs(3));
        for f in 0..50 {
            assert!(backoff(f, &mut rng) <= Duration::from_secs(75));
        }
    }
}
