//! The `gridwall` command line. Every flag has a `GRIDWALL_*` environment variable and a
//! default that works on a developer machine; the database comes from `DATABASE_URL`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sqlx::PgPool;

use crate::alerts::{self, Alerts};
use crate::auth::{AuthConfig, AuthState};
use crate::cases::{self, Cases, CasesConfig};
use crate::hierarchy::{default_resolution, parse_resolution};
use crate::import;
use crate::live::tracks::TrackConfig;
use crate::live::{self, Live, LiveConfig};
use crate::metrics::Metrics;
use crate::state::{AppState, HierarchyHandle};
use crate::territory::Territory;
use crate::tiles::TileCache;
use crate::{db, hierarchy, http};

mod users;

/// Gridwall: the geospatial command-center server (一张图).
#[derive(Debug, Parser)]
#[command(name = "gridwall", version, about)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `gridwall_server=debug`.
    #[arg(
        long,
        env = "GRIDWALL_LOG",
        default_value = "info,sqlx=warn",
        global = true
    )]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API, tiles, web page).
    Serve(ServeArgs),
    /// Import a hierarchy (GeoJSON FeatureCollection, optionally .gz), all or nothing.
    Import(ImportArgs),
    /// Apply the database migrations and exit.
    Migrate(DbArgs),
    /// Manage accounts: add, list, disable, enable, passwd.
    User(users::UserArgs),
    /// Create (or repair) the demo accounts and write their passwords to a file.
    DemoAccounts(users::DemoAccountsArgs),
    /// Simulate grid workers and patrol vehicles reporting positions to a server, as phones do.
    Simulate(gridwall_sim::cli::SimulateArgs),
    /// The HTTP ingest benchmark: sustained positions/s and latency, and the PostGIS anchor.
    Loadgen(gridwall_sim::cli::LoadgenArgs),
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL (PostGIS is created by the first migration).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/gridwall"
    )]
    pub database_url: String,
    /// Pool size.
    #[arg(long, env = "GRIDWALL_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// `gridwall serve`.
#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches, not a state machine"
)]
pub struct ServeArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "GRIDWALL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The built web page (`web/dist`); not served when the folder does not exist.
    #[arg(long, env = "GRIDWALL_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// Memory for rendered vector tiles, MiB.
    #[arg(long, env = "GRIDWALL_TILE_CACHE_MB", default_value_t = 256)]
    pub tile_cache_mb: u64,
    /// Milliseconds a valid session is trusted from memory, so that a request needs no
    /// database round trip (0: ask the database on every request). Logout, password changes
    /// and disabling on this server take effect at once; a session ended in the database
    /// behind the server's back keeps working this long at most.
    #[arg(long, env = "GRIDWALL_SESSION_CACHE_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub session_cache_ms: u64,
    /// A session ends after this many minutes without a request.
    #[arg(long, env = "GRIDWALL_SESSION_IDLE_MINUTES", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub session_idle_minutes: u64,
    /// A session ends this many hours after login.
    #[arg(long, env = "GRIDWALL_SESSION_MAX_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_max_hours: u64,
    /// Mark the session cookie Secure and send HSTS (set when served over HTTPS).
    #[arg(long, env = "GRIDWALL_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Take the client address from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "GRIDWALL_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Origins allowed to call the API cross-site (CORS), comma-separated; none by default.
    #[arg(long, env = "GRIDWALL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Days of position history kept; older days are dropped whole.
    #[arg(long, env = "GRIDWALL_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,
    /// Points the track buffer holds while the database catches up; ingest answers 503 beyond.
    #[arg(long, env = "GRIDWALL_TRACK_BUFFER", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub track_buffer: u64,
    /// Track write transactions in flight at once (the next batch is prepared while the
    /// database writes and flushes the previous ones).
    #[arg(long, env = "GRIDWALL_TRACK_WRITERS", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub track_writers: u16,
    /// Seconds an ingest request waits for its points to be committed before answering 503.
    #[arg(long, env = "GRIDWALL_ACK_TIMEOUT_S", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub ack_timeout_s: u64,
    /// A worker or vehicle silent this many seconds is shown offline.
    #[arg(long, env = "GRIDWALL_OFFLINE_AFTER_S", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub offline_after_s: u64,
    /// Prefix of case numbers (NT → NT-20261126-000123).
    #[arg(long, env = "GRIDWALL_CASE_PREFIX", default_value = "NT",
          value_parser = case_prefix)]
    pub case_prefix: String,
    /// Workers whose last position is older than this many minutes are not offered for
    /// dispatch.
    #[arg(long, env = "GRIDWALL_DISPATCH_LIVE_MINUTES", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub dispatch_live_minutes: u64,
    /// Workers holding this many dispatched or in-progress cases are not offered.
    #[arg(long, env = "GRIDWALL_MAX_OPEN_CASES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_open_cases: u32,
    /// Escalate cases automatically when they go past their deadline.
    #[arg(long, env = "GRIDWALL_AUTO_ESCALATE")]
    pub auto_escalate: bool,
    /// Offer a case to the next candidate when its worker does not accept it in time (or
    /// declines it).
    #[arg(long, env = "GRIDWALL_AUTO_DISPATCH")]
    pub auto_dispatch: bool,
    /// Seconds a worker has to accept an assignment in auto-dispatch mode.
    #[arg(long, env = "GRIDWALL_ACCEPT_TIMEOUT_S", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub accept_timeout_s: u64,
    /// Send buffer of each connection, KiB (`SO_SNDBUF`; 0: the kernel's autotuning). Bounds
    /// what a client that stopped reading holds, so that its websocket is shed by the stall
    /// rule (docs/websocket.md).
    #[arg(long, env = "GRIDWALL_SOCKET_SEND_BUFFER_KB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub socket_send_buffer_kb: u64,
    /// Seconds a connection's data may wait for the peer (unacknowledged, or behind a shut
    /// receive window) before the kernel ends it, open or already closed (`TCP_USER_TIMEOUT`;
    /// 0: the kernel's limits, minutes).
    #[arg(long, env = "GRIDWALL_TCP_USER_TIMEOUT_S", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub tcp_user_timeout_s: u64,
    /// At shutdown, seconds to wait for the track buffer to reach the database before exiting.
    #[arg(long, env = "GRIDWALL_SHUTDOWN_DRAIN_S", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_drain_s: u64,
}

fn case_prefix(s: &str) -> Result<String, String> {
    let ok = (1..=10).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1 to 10 capital letters or digits, e.g. NT".into())
    }
}

impl ServeArgs {
    /// The live-picture settings these flags ask for.
    #[must_use]
    pub fn live_config(&self) -> LiveConfig {
        let defaults = LiveConfig::default();
        LiveConfig {
            tracks: TrackConfig {
                capacity: usize::try_from(self.track_buffer).unwrap_or(usize::MAX),
                writers: usize::from(self.track_writers),
                ..defaults.tracks
            },
            ack_timeout: Duration::from_secs(self.ack_timeout_s),
            retention_days: self.retention_days,
            offline_after: Duration::from_secs(self.offline_after_s),
            ..defaults
        }
    }

    /// The case settings these flags ask for.
    #[must_use]
    pub fn cases_config(&self) -> CasesConfig {
        CasesConfig {
            number_prefix: self.case_prefix.clone(),
            live_within: Duration::from_secs(self.dispatch_live_minutes * 60),
            max_open_per_worker: self.max_open_cases,
            auto_escalate_overdue: self.auto_escalate,
            auto_dispatch: self.auto_dispatch,
            accept_timeout: Duration::from_secs(self.accept_timeout_s),
            ..CasesConfig::default()
        }
    }

    /// The options of every accepted connection these flags ask for.
    #[must_use]
    pub fn socket_options(&self) -> http::listen::SocketOptions {
        http::listen::SocketOptions {
            send_buffer_bytes: (self.socket_send_buffer_kb > 0)
                .then(|| usize::try_from(self.socket_send_buffer_kb * 1024).unwrap_or(usize::MAX)),
            user_timeout: (self.tcp_user_timeout_s > 0)
                .then(|| Duration::from_secs(self.tcp_user_timeout_s)),
        }
    }

    /// The session and login policy these flags ask for.
    #[must_use]
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            idle_timeout: Duration::from_secs(self.session_idle_minutes * 60),
            max_age: Duration::from_secs(self.session_max_hours * 3600),
            secure_cookies: self.secure_cookies,
            trust_forwarded_for: self.trust_forwarded_for,
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            session_cache: Duration::from_millis(self.session_cache_ms),
            ..AuthConfig::default()
        }
    }
}

/// `gridwall import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The file: GeoJSON FeatureCollection with properties code, name, level, parent.
    pub file: PathBuf,
    /// H3 resolution of the grid cover (7–13).
    #[arg(long, env = "GRIDWALL_H3_RESOLUTION", value_parser = clap::value_parser!(u32).range(7..=13))]
    pub resolution: Option<u32>,
    /// Do nothing when a hierarchy has already been imported (for idempotent set-up scripts).
    #[arg(long)]
    pub if_empty: bool,
}

/// Parses the command line and runs it.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Import(args) => return import_cmd(args).await,
        Command::Migrate(args) => migrate(&args).await.map(|_| ()),
        Command::User(args) => return users::run(args).await,
        Command::DemoAccounts(args) => return users::demo_accounts(args).await,
        // Clients of the API like any other: the gridwall-sim crate runs them.
        Command::Simulate(args) => return gridwall_sim::cli::simulate(args).await,
        Command::Loadgen(args) => return gridwall_sim::cli::loadgen(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) async fn migrate(args: &DbArgs) -> anyhow::Result<PgPool> {
    let pool = db::connect(&args.database_url, args.db_max_connections)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to the database at {} ({e}); set DATABASE_URL or start PostgreSQL",
                redact(&args.database_url)
            )
        })?;
    db::migrate(&pool).await.map_err(|e| {
        anyhow::anyhow!(
            "migrations failed: {e} (is the PostGIS extension installed? \
             Debian: apt-get install postgresql-<major>-postgis-3)"
        )
    })?;
    Ok(pool)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Builds the state: pool (migrated), metrics, tile cache, auth, and the hierarchy if one
/// exists.
///
/// # Errors
///
/// When the auth state cannot be set up (no randomness for the password hasher).
pub async fn state(
    pool: PgPool,
    tile_cache_mb: u64,
    auth: AuthConfig,
    live: LiveConfig,
) -> anyhow::Result<AppState> {
    state_with(pool, tile_cache_mb, auth, live, CasesConfig::default()).await
}

/// [`state`] with given case settings.
///
/// # Errors
///
/// When the auth state cannot be set up, or the live positions or open cases cannot be read.
pub async fn state_with(
    pool: PgPool,
    tile_cache_mb: u64,
    auth: AuthConfig,
    live: LiveConfig,
    cases: CasesConfig,
) -> anyhow::Result<AppState> {
    let auth = AuthState::new(auth).map_err(|e| anyhow::anyhow!("auth set-up: {e}"))?;
    let state = AppState {
        cases: Arc::new(Cases::new(cases)),
        alerts: Arc::new(Alerts::default()),
        coverage: crate::coverage::CoverageCache::default(),
        live: Arc::new(Live::new(pool.clone(), live)),
        pool,
        hierarchy: Arc::new(HierarchyHandle::default()),
        tiles: TileCache::new(tile_cache_mb.saturating_mul(1 << 20)),
        metrics: Arc::new(Metrics::new()),
        auth: Arc::new(auth),
    };
    // The track writer started with the live picture; what the database refuses of it is
    // taken off the map by this task before the request is answered.
    tokio::spawn(live::take_back_task(state.clone()));
    match hierarchy::load(&state.pool).await {
        Ok(Some(loaded)) => hierarchy::install(&state.hierarchy, &state.metrics, loaded),
        Ok(None) => tracing::warn!("no hierarchy imported yet: run `gridwall import FILE`"),
        Err(e) => tracing::error!("loading the hierarchy failed: {e:#}"),
    }
    let loaded = state.hierarchy.get();
    let restored = state
        .live
        .load(&state.pool, loaded.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("loading the live positions: {e}"))?;
    tracing::info!(
        resources = restored,
        "live positions restored from the last point of each resource"
    );
    let open = state
        .cases
        .load(&state.pool)
        .await
        .map_err(|e| anyhow::anyhow!("loading the open cases: {e}"))?;
    tracing::info!(cases = open, "open cases loaded");
    let live_alerts = alerts::store::load(&state.alerts, &state.pool)
        .await
        .map_err(|e| anyhow::anyhow!("loading the alerts: {e}"))?;
    tracing::info!(alerts = live_alerts, "live alerts loaded");
    Ok(state)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let pool = migrate(&args.db).await?;
    let state = state_with(
        pool,
        args.tile_cache_mb,
        args.auth_config(),
        args.live_config(),
        args.cases_config(),
    )
    .await?;
    match db::users::list(
        &state.pool,
        Territory::All,
        &db::users::UserFilter::default(),
    )
    .await
    {
        Ok(users) if !users.iter().any(|u| u.role == "admin") => tracing::warn!(
            "no active admin account: create one with `gridwall user add NAME --role admin`"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot list accounts"),
    }
    tokio::spawn(hierarchy::watch(
        state.pool.clone(),
        Arc::clone(&state.hierarchy),
        Arc::clone(&state.metrics),
    ));
    tokio::spawn(purge_sessions(state.pool.clone()));
    tokio::spawn(live::tracks::retention_task(
        state.pool.clone(),
        args.retention_days,
    ));
    tokio::spawn(live::offline_task(state.clone()));
    tokio::spawn(cases::tasks::sweep_task(state.clone()));
    tokio::spawn(alerts::engine::run(state.clone()));
    tokio::spawn(crate::coverage::rollup::task(
        state.clone(),
        Duration::from_secs(60),
    ));
    tokio::spawn(crate::coverage::warm_task(state.clone()));
    let web_dir = args.web_dir.is_dir().then_some(args.web_dir.clone());
    if web_dir.is_none() {
        tracing::warn!(dir = %args.web_dir.display(), "web page not built; serving the API only");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!("Gridwall listening on http://{}", listener.local_addr()?);
    let live = Arc::clone(&state.live);
    let signalled = Arc::clone(&state.live);
    axum::serve(
        http::listen::tuned(listener, args.socket_options()),
        http::app(state, web_dir).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown().await;
        // Every websocket says goodbye (1001) now; requests in flight finish (a position
        // request waits for its commit as always), and no new connection is taken.
        signalled.going_away.send_replace(true);
    })
    .await?;
    drain(&live, Duration::from_secs(args.shutdown_drain_s)).await;
    Ok(())
}

/// After the last request: lets the websockets' close frames go out, then the track buffer
/// reach the database (points taken but not acknowledged, from requests that timed out).
async fn drain(live: &Live, limit: Duration) {
    let sockets = async {
        while live.streams.open.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // A socket's close waits for its client at most a second; a stalled one is not waited for.
    if tokio::time::timeout(Duration::from_secs(3), sockets)
        .await
        .is_err()
    {
        tracing::warn!("some websockets did not close in time");
    }
    let queued = live.tracks.queued();
    if queued > 0 {
        tracing::info!(points = queued, "writing the track buffer before exiting");
    }
    match live.tracks.flush(limit).await {
        0 => tracing::info!("stopped"),
        left => tracing::error!(
            points = left,
            "stopped with track points the database did not take in time; they were never \
             acknowledged"
        ),
    }
}

/// Once an hour, forgets sessions that ended more than 30 days ago.
async fn purge_sessions(pool: PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match crate::auth::purge_old(&pool, 30).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged old sessions"),
            Err(e) => tracing::warn!(error = %e, "purging old sessions failed"),
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
async fn import_cmd(args: ImportArgs) -> ExitCode {
    let pool = match migrate(&args.db).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.if_empty {
        match db::units::current_version(&pool).await {
            Ok(Some(v)) => {
                println!(
                    "a hierarchy is already imported (version {}); nothing to do",
                    v.version
                );
                return ExitCode::SUCCESS;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("cannot read the hierarchy version: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let resolution = args
        .resolution
        .and_then(parse_resolution)
        .unwrap_or_else(default_resolution);
    let bytes = match tokio::fs::read(&args.file).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("cannot read {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let source = args.file.display().to_string();
    match import::import(&pool, &bytes, &source, resolution).await {
        Ok((report, _)) => {
            println!(
                "imported {source} as version {}: {} counties, {} townships, {} villages, {} grids \
                 (city: {}); {} H3 cells at resolution {}; {} removed; {} warning(s); {} ms",
                report.version,
                report.counts[1],
                report.counts[2],
                report.counts[3],
                report.counts[4],
                report.counts[0],
                report.cover_cells,
                report.resolution,
                report.removed,
                report.warnings.len(),
                report.elapsed_ms
            );
            for w in &report.warnings {
                println!("warning: {}", w.message);
            }
            ExitCode::SUCCESS
        }
        Err(import::Error::Invalid(problems)) => {
            println!(
                "refused: {} problem(s); the stored hierarchy is unchanged",
                problems.len()
            );
            for p in &problems {
                println!(
                    "  feature {} ({}): {}",
                    p.index.map_or_else(|| "-".into(), |i| i.to_string()),
                    p.code.as_deref().unwrap_or("no code"),
                    p.reason
                );
            }
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("import failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
