//! The `gridwall` binary: see `gridwall --help`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    gridwall_server::cli::main().await
}
