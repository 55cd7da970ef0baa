//! The `simulate` and `loadgen` commands: their flags (each with a `GRIDWALL_SIM_*` variable
//! where it had one) and what runs them. The `gridwall-sim` binary parses [`Cli`]; the
//! `gridwall` binary takes [`SimulateArgs`] and [`LoadgenArgs`] into its own command line and
//! calls [`simulate`] and [`loadgen`], so both spell the commands the same way.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod loadgen;
mod simulate;

pub use loadgen::LoadgenArgs;
pub use simulate::{ServerLogin, SimulateArgs};

/// Gridwall's simulator and load generator: clients of a running Gridwall server's API.
#[derive(Debug, Parser)]
#[command(name = "gridwall-sim", version, about)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `gridwall_sim=debug`.
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
    /// Simulate grid workers and patrol vehicles reporting positions to a server, as phones do.
    Simulate(SimulateArgs),
    /// The HTTP ingest benchmark: sustained positions/s and latency, and the PostGIS anchor.
    Loadgen(LoadgenArgs),
}

/// Parses the command line of `gridwall-sim` and runs it.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match cli.command {
        Command::Simulate(args) => simulate(args).await,
        Command::Loadgen(args) => loadgen(args).await,
    }
}

/// Runs `simulate` until Ctrl-C or SIGTERM.
pub async fn simulate(args: SimulateArgs) -> ExitCode {
    simulate::run(args).await
}

/// Runs `loadgen` to the end of its phases.
pub async fn loadgen(args: LoadgenArgs) -> ExitCode {
    loadgen::run(args).await
}

/// Completes on Ctrl-C or SIGTERM.
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
