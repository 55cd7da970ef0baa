//! Set-up shared by the server benches: the bench database (created, migrated and given the
//! Nantong demo hierarchy when missing), an admin session, random positions in grids, knobs
//! from the environment and percentiles.
//!
//! Each bench uses a part of this, so unused items are allowed here.
#![allow(dead_code, reason = "each bench uses a part of the shared set-up")]

use std::time::Duration;

use gridwall_server::{db, import};
use gridwall_spatial::{Hierarchy, LatLng, UnitId};
use rand::Rng;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// The bench database unless `DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/gridwall_bench";

/// Nantong's bounding box, (lat, lng) ranges: random points in it land in a grid about half
/// of the time.
pub const LAT_RANGE: std::ops::Range<f64> = 31.6..32.72;
/// See [`LAT_RANGE`].
pub const LNG_RANGE: std::ops::Range<f64> = 120.2..121.98;

/// `DATABASE_URL`, or [`DEFAULT_DATABASE_URL`].
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into())
}

/// A knob from the environment, `default` when unset or unparsable.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pool on the bench database: the database is created when it does not exist, migrated,
/// and the demo hierarchy (`data/nantong.geojson.gz`) imported when none is.
pub async fn bench_pool(max_connections: u32) -> PgPool {
    let url = database_url();
    create_database_if_missing(&url).await;
    let pool = db::connect(&url, max_connections).await.unwrap();
    db::migrate(&pool).await.unwrap();
    if db::units::current_version(&pool).await.unwrap().is_none() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/nantong.geojson.gz");
        let bytes = std::fs::read(path).unwrap();
        import::import(&pool, &bytes, path, gridwall_spatial::DEFAULT_RESOLUTION)
            .await
            .unwrap();
    }
    pool
}

async fn create_database_if_missing(url: &str) {
    let options: PgConnectOptions = url.parse().unwrap();
    let Some(name) = options.get_database().map(str::to_owned) else {
        return;
    };
    let admin = sqlx::PgPool::connect_with(options.database("postgres"))
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await
            .unwrap();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
}

/// An admin user `username` with a session whose token is `token` (a `gws_…` string), made
/// or renewed for a day.
pub async fn admin_session(pool: &PgPool, username: &str, token: &str) {
    sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash)
         VALUES ($1, 'bench', 'admin', 'x') ON CONFLICT DO NOTHING",
    )
    .bind(username)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at, idle_timeout_s)
         SELECT $1, id, now() + interval '1 day', 86400 FROM users WHERE username = $2
         ON CONFLICT (token_hash) DO UPDATE SET expires_at = excluded.expires_at,
             last_seen_at = now(), revoked_at = NULL",
    )
    .bind(gridwall_server::auth::hash_token(token))
    .bind(username)
    .execute(pool)
    .await
    .unwrap();
}

/// A random position in a grid of `h` (uniform over Nantong's box, kept when in a grid), and
/// that grid.
pub fn in_grid(rng: &mut impl Rng, h: &Hierarchy) -> (LatLng, UnitId) {
    loop {
        let p = LatLng::new(rng.random_range(LAT_RANGE), rng.random_range(LNG_RANGE)).unwrap();
        if let Some(path) = h.locate(p) {
            return (p, path.grid);
        }
    }
}

/// Percentiles of timings, microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// Sorts `times` and summarises them.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "percentile indexes of bench samples"
)]
pub fn summary(times: &mut [Duration]) -> Summary {
    times.sort_unstable();
    let at = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[i].as_secs_f64() * 1e6
    };
    Summary {
        n: times.len(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: at(1.0),
        mean_us: times.iter().sum::<Duration>().as_secs_f64() * 1e6 / times.len() as f64,
    }
}

/// The load average of this machine (1, 5, 15 minutes), as `uptime` shows it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
