//! The `gridwall-sim` binary: see `gridwall-sim --help`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gridwall_sim::cli::main().await
}
