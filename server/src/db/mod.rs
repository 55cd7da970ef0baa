//! PostGIS access: the pool, the migrations and the queries, one module per table group.

pub mod cases;
pub mod kpi;
pub mod outage;
pub mod positions;
pub mod resources;
pub mod retention;
pub mod units;
pub mod users;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgPool};

pub use outage::{is_unavailable, is_unavailable_chain};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool; fails fast (5 s) when the database cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    // Import checks are heavy by nature (seconds on a city); warn only when a statement is
    // really slow.
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()?
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(30))
        // The server's statements are short and frequent; PostgreSQL's JIT compiles any plan
        // whose estimate passes a threshold (the roll-up's reads, the track writer's batches)
        // and spent 80–150 ms per compile under load for nothing.
        .options([("jit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}

/// Applies every pending migration (PostGIS is created by the first one).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// One round trip: does the database answer?
///
/// # Errors
///
/// When it does not.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}
