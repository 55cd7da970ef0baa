//! `gridwall loadgen`: the HTTP ingest benchmark. It creates `--resources` fresh workers with a
//! device token each, then sustains `POST /api/positions` for a fixed time in batches of 100
//! and of 1 (each batch one phone's points, with its own token), and reports positions/s and
//! the latency p50/p99. With `--database-url` it also runs the anchor: the same points inserted
//! straight into PostGIS, one `INSERT` statement per point (autocommit), over one connection and
//! over a few ([`anchor`], the one part that opens a database).
//!
//! A subcommand rather than a `benches/` target: it needs a running server (any URL) and its
//! figures are end-to-end, not criterion's statistics over a function; it shares the HTTP
//! client with `gridwall simulate`, and ships in the release binary the benchmark runs anyway.
//!
//! Each phase writes its points into its own ten-minute window of time, so no phase's points
//! collide with another's (the server ignores exact duplicates, which would flatter it).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Args;
use futures_util::StreamExt as _;

use crate::client::{self, Api, Fix, Posted};
use crate::{Kind, UnitShape, spread};

mod anchor;

/// `gridwall loadgen`.
#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// The server and the account; its admin creates the load's workers.
    #[command(flatten)]
    pub server: super::simulate::ServerLogin,
    /// Workers created for the load (each with its own device token).
    #[arg(long, default_value_t = 1000)]
    pub resources: usize,
    /// Batch sizes to measure, one phase each.
    #[arg(long, value_delimiter = ',', default_values_t = [100_usize, 1])]
    pub batch: Vec<usize>,
    /// Requests in flight during the HTTP phases.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds each phase lasts.
    #[arg(long, default_value_t = 20)]
    pub duration_s: u64,
    /// Run the anchor against this database (the server's): one INSERT per point.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Connection counts of the anchor phases.
    #[arg(long, value_delimiter = ',', default_values_t = [1_usize, 4])]
    pub anchor_connections: Vec<usize>,
}

/// A load resource: id, token, and the place its points are around.
#[derive(Debug, Clone)]
struct Target {
    id: i64,
    token: String,
    lat: f64,
    lng: f64,
}

/// Milliseconds between two points of one resource, and the window of a phase.
const STEP_MS: i64 = 10;
const PHASE_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The k-th point of a resource in a phase: a small circle around its grid (deterministic,
/// so every phase sends the same positions).
fn point(t: &Target, k: u64, t0_ms: i64) -> Fix {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_wrap,
        reason = "k stays far below 2^52"
    )]
    let (angle, at) = (k as f64 * 0.05, t0_ms + k as i64 * STEP_MS);
    Fix {
        resource: t.id,
        lat: t.lat + 0.001 * angle.sin(),
        lng: t.lng + 0.001 * angle.cos(),
        at,
        accuracy_m: 8.0,
        speed_mps: 1.2,
        heading_deg: 90.0,
        battery: Some(80.0),
        sos: false,
    }
}

/// One phase's outcome.
#[derive(Debug, Default)]
struct Outcome {
    name: String,
    points: u64,
    requests: u64,
    rejected: u64,
    busy: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Outcome {
    /// Adds one task's counts and latencies to the phase's total.
    fn absorb(&mut self, o: Outcome) {
        self.points += o.points;
        self.requests += o.requests;
        self.rejected += o.rejected;
        self.busy += o.busy;
        self.errors += o.errors;
        self.latencies_us.extend(o.latencies_us);
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a vector of latencies"
        )]
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        #[allow(clippy::cast_precision_loss, reason = "microseconds shown as ms")]
        let ms = self.latencies_us[i] as f64 / 1000.0;
        ms
    }

    #[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
    fn print(&mut self) {
        self.latencies_us.sort_unstable();
        #[allow(clippy::cast_precision_loss, reason = "counts shown as rates")]
        let rate = self.points as f64 / self.elapsed.as_secs_f64().max(1e-9);
        #[allow(clippy::cast_precision_loss, reason = "counts shown as rates")]
        let rps = self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} |",
            self.name,
            rate,
            rps,
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.points,
            self.rejected,
            self.busy,
            self.errors
        );
    }
}

/// Creates the load's workers (spread over the grids) and issues a device token to each.
async fn targets(api: &Api, n: usize, concurrency: usize) -> anyhow::Result<Vec<Target>> {
    let mut grids: Vec<UnitShape> = api.units("grid").await?;
    anyhow::ensure!(
        !grids.is_empty(),
        "the server has no grids: import a hierarchy"
    );
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    let run = Utc::now().format("%m%d%H%M%S").to_string();
    let picks: Vec<(usize, UnitShape)> = (0..n)
        .map(|i| {
            let g = spread(grids.len(), n.min(grids.len()));
            let gi = g.get(i % g.len().max(1)).copied().unwrap_or(0);
            (i, grids[gi].clone())
        })
        .collect();
    let out: Vec<anyhow::Result<Target>> = futures_util::stream::iter(picks)
        .map(|(i, g)| {
            let run = run.clone();
            async move {
                use geo::InteriorPoint as _;
                let id = api
                    .create_worker(&format!("压测网格员·{run}·{i}"), &g.code, &["巡查"])
                    .await?;
                let issued = api
                    .issue_device(Kind::Worker, id, "gridwall loadgen")
                    .await?;
                let p = g
                    .area
                    .interior_point()
                    .ok_or_else(|| anyhow::anyhow!("grid {} has no interior", g.code))?;
                Ok(Target {
                    id,
                    token: issued.token,
                    lat: p.y(),
                    lng: p.x(),
                })
            }
        })
        .buffer_unordered(concurrency.clamp(1, 16))
        .collect()
        .await;
    out.into_iter().collect()
}

/// Sustains `POST /api/positions` with `batch` points per request for `duration`.
async fn http_phase(
    api: &Api,
    targets: &Arc<Vec<Target>>,
    batch: usize,
    concurrency: usize,
    duration: Duration,
    t0_ms: i64,
) -> Outcome {
    let seq: Arc<Vec<AtomicU64>> = Arc::new(targets.iter().map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, base) = (api.http().clone(), api.base().to_owned());
        let (targets, seq, next) = (Arc::clone(targets), Arc::clone(&seq), Arc::clone(&next));
        tasks.spawn(async move {
            let mut o = Outcome::default();
            let mut retry: Option<(usize, Vec<Fix>)> = None;
            while Instant::now() < deadline {
                let (ti, fixes) = retry.take().unwrap_or_else(|| {
                    let ti = next.fetch_add(1, Ordering::Relaxed) % targets.len();
                    let k0 = seq[ti].fetch_add(batch as u64, Ordering::Relaxed);
                    let fixes = (k0..k0 + batch as u64)
                        .map(|k| point(&targets[ti], k, t0_ms))
                        .collect();
                    (ti, fixes)
                });
                let sent = Instant::now();
                let posted = client::post_positions(&http, &base, &targets[ti].token, &fixes).await;
                let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                o.requests += 1;
                match posted {
                    Posted::Done { accepted, rejected } => {
                        o.points += accepted;
                        o.rejected += rejected;
                        o.latencies_us.push(us);
                    }
                    Posted::Busy(after) => {
                        o.busy += 1;
                        tokio::time::sleep(after.min(Duration::from_secs(1))).await;
                        retry = Some((ti, fixes));
                    }
                    Posted::Unauthorized | Posted::Failed(_) => {
                        o.errors += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            o
        });
    }
    let mut total = Outcome::default();
    while let Some(Ok(o)) = tasks.join_next().await {
        total.absorb(o);
    }
    total.elapsed = started.elapsed();
    total.name = format!("HTTP, batches of {batch}, {concurrency} in flight");
    total
}

/// Runs `gridwall loadgen`.
#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
pub async fn run(args: LoadgenArgs) -> ExitCode {
    let go = async {
        anyhow::ensure!(args.resources > 0, "--resources must be at least 1");
        anyhow::ensure!(
            args.batch.iter().all(|b| (1..=10_000).contains(b)),
            "--batch sizes are 1 to 10000"
        );
        let http = client::http_client(args.concurrency.max(1))?;
        let (username, password) = args.server.credentials()?;
        let api = Api::login(http, &args.server.url, &username, &password).await?;
        let started = Instant::now();
        let targets = Arc::new(targets(&api, args.resources, args.concurrency).await?);
        tracing::info!(
            resources = targets.len(),
            "load workers and device tokens ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let duration = Duration::from_secs(args.duration_s.max(1));
        // An hour ago, so that no window reaches into the future.
        let base_ms = Utc::now().timestamp_millis() - 60 * 60 * 1000;
        println!(
            "| phase | positions/s | requests/s | p50 ms | p99 ms | points | rejected | 503s | errors |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut window = 0_i64;
        for &batch in &args.batch {
            let t0 = base_ms + window * PHASE_WINDOW_MS;
            window += 1;
            http_phase(&api, &targets, batch, args.concurrency, duration, t0)
                .await
                .print();
        }
        if let Some(url) = &args.database_url {
            for &c in &args.anchor_connections {
                let t0 = base_ms + window * PHASE_WINDOW_MS;
                window += 1;
                anchor::insert_phase(url, &targets, c, duration, t0)
                    .await?
                    .print();
            }
        }
        anyhow::Ok(())
    };
    match go.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_deterministic_and_spaced_in_time() {
        let t = Target {
            id: 1,
            token: String::new(),
            lat: 32.0,
            lng: 120.9,
        };
        assert_eq!(point(&t, 5, 0), point(&t, 5, 0));
        assert_eq!(point(&t, 6, 0).at - point(&t, 5, 0).at, STEP_MS);
        assert!((point(&t, 9, 0).lat - 32.0).abs() <= 0.001);
    }

    #[test]
    fn percentiles() {
        let mut o = Outcome {
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            ..Outcome::default()
        };
        o.latencies_us.sort_unstable();
        assert!((o.percentile_ms(0.5) - 51.0).abs() < 1.01);
        assert!((o.percentile_ms(0.99) - 99.0).abs() < 1.01);
    }
}
