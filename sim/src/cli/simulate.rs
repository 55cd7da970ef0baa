//! `gridwall simulate`: the demo simulator against any Gridwall server (see [`crate::run`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::{CaseSim, Login, SimConfig};

/// Which server the simulator or the load generator talks to, and as whom.
#[derive(Debug, Args)]
pub struct ServerLogin {
    /// The server's base URL.
    #[arg(
        long,
        env = "GRIDWALL_SIM_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The demo accounts file (`gridwall demo-accounts`); its admin sets things up.
    #[arg(
        long,
        env = "GRIDWALL_SIM_ACCOUNTS",
        default_value = ".data/demo-accounts.txt"
    )]
    pub accounts: PathBuf,
    /// Sign in as this admin or dispatcher instead of the accounts file's admin.
    #[arg(long, env = "GRIDWALL_SIM_USERNAME")]
    pub username: Option<String>,
    /// The password of `--username` (better given in the environment).
    #[arg(long, env = "GRIDWALL_SIM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl ServerLogin {
    /// The user name and password these flags give: `--username`/`--password`, else the
    /// accounts file's admin.
    ///
    /// # Errors
    ///
    /// A user name without a password, or an unreadable accounts file.
    pub(crate) fn credentials(&self) -> anyhow::Result<(String, String)> {
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Ok((u.clone(), p.clone())),
            (Some(_), None) => {
                anyhow::bail!("--username needs a password (GRIDWALL_SIM_PASSWORD)")
            }
            _ => account_from_file(&self.accounts),
        }
    }
}

/// `gridwall simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The server and the account.
    #[command(flatten)]
    pub server: ServerLogin,
    /// Grid workers to simulate, one per grid spread evenly; default: one in every grid.
    #[arg(long, env = "GRIDWALL_SIM_WORKERS")]
    pub workers: Option<usize>,
    /// Patrol vehicles, one per township spread evenly; default: one in every township.
    #[arg(long, env = "GRIDWALL_SIM_VEHICLES")]
    pub vehicles: Option<usize>,
    /// Where the issued device tokens are kept for the next run (mode 0600).
    #[arg(
        long,
        env = "GRIDWALL_SIM_STATE",
        default_value = ".data/simulator.json"
    )]
    pub state: PathBuf,
    /// Shortest time between two reports of one resource, seconds.
    #[arg(long, env = "GRIDWALL_SIM_INTERVAL_MIN", default_value_t = 5.0)]
    pub interval_min: f64,
    /// Longest time between two reports of one resource, seconds.
    #[arg(long, env = "GRIDWALL_SIM_INTERVAL_MAX", default_value_t = 15.0)]
    pub interval_max: f64,
    /// Seed of the patrols (the same seed walks the same paths).
    #[arg(long, env = "GRIDWALL_SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Requests in flight at most.
    #[arg(long, env = "GRIDWALL_SIM_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Cases raised per simulated hour near the simulated workers, from every source; they
    /// are dispatched, handled, followed up and closed by the simulator. 0: no cases.
    #[arg(long, env = "GRIDWALL_SIM_CASES_PER_HOUR", default_value_t = 120.0)]
    pub cases_per_hour: f64,
    /// Simulated seconds per real second: walking, driving and every delay of a case's life
    /// run this much faster (10: a case's whole life in a few minutes).
    #[arg(long, env = "GRIDWALL_SIM_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,
    /// The share of assignments a simulated worker declines (0–1).
    #[arg(long, env = "GRIDWALL_SIM_DECLINE_SHARE", default_value_t = 0.05)]
    pub decline_share: f64,
    /// Incidents per simulated hour among the simulated workers (with cases on): an SOS,
    /// which the simulated dispatcher acknowledges and clears, or a phone switched off for
    /// 35–50 minutes (an offline alert). 0: none.
    #[arg(long, env = "GRIDWALL_SIM_INCIDENTS_PER_HOUR", default_value_t = 6.0)]
    pub incidents_per_hour: f64,
}

/// The admin's (or else the first) user name and password in a demo accounts file
/// (`username\tpassword\trole\tscope` lines, `#` comments).
pub(crate) fn account_from_file(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {} ({e}): run `gridwall demo-accounts` or give --username/--password",
            path.display()
        )
    })?;
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .filter(|f: &Vec<&str>| f.len() >= 2)
        .collect();
    let pick = rows
        .iter()
        .find(|f| f.get(2) == Some(&"admin"))
        .or_else(|| rows.iter().find(|f| f.get(2) == Some(&"dispatcher")))
        .ok_or_else(|| anyhow::anyhow!("no admin or dispatcher in {}", path.display()))?;
    Ok((pick[0].to_owned(), pick[1].to_owned()))
}

/// A number in a closed range.
fn within(name: &str, x: f64, lo: f64, hi: f64) -> anyhow::Result<f64> {
    if x.is_finite() && (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        anyhow::bail!("{name} must be between {lo} and {hi}, got {x}")
    }
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    if s.is_finite() && (0.1..=3600.0).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        anyhow::bail!("{name} must be between 0.1 and 3600 seconds, got {s}")
    }
}

/// Runs `gridwall simulate` until Ctrl-C or SIGTERM.
pub async fn run(args: SimulateArgs) -> ExitCode {
    let config = async {
        anyhow::Ok(SimConfig {
            login: {
                let (username, password) = args.server.credentials()?;
                Login::Password { username, password }
            },
            url: args.server.url.clone(),
            workers: args.workers,
            vehicles: args.vehicles,
            state_file: args.state.clone(),
            interval_min: seconds("--interval-min", args.interval_min)?,
            interval_max: seconds("--interval-max", args.interval_max)?,
            seed: args.seed,
            concurrency: usize::from(args.concurrency),
            summary_every: Duration::from_secs(10),
            time_scale: within("--time-scale", args.time_scale, 0.01, 1000.0)?,
            cases: CaseSim {
                per_hour: within("--cases-per-hour", args.cases_per_hour, 0.0, 100_000.0)?,
                decline_share: within("--decline-share", args.decline_share, 0.0, 1.0)?,
                incidents_per_hour: within(
                    "--incidents-per-hour",
                    args.incidents_per_hour,
                    0.0,
                    10_000.0,
                )?,
                ..CaseSim::default()
            },
        })
    };
    let config = match config.await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    match crate::run(config, super::shutdown()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_admin_from_the_demo_accounts_file() {
        let path = std::env::temp_dir().join(format!("gridwall-accounts-{}", std::process::id()));
        std::fs::write(
            &path,
            "# Gridwall demo accounts\n# username\tpassword\trole\tscope\n\
             leader\tpw-leader\tleader\t南通市\nadmin\tpw-admin\tadmin\t全部 (all)\n",
        )
        .expect("write");
        assert_eq!(
            account_from_file(&path).expect("admin"),
            ("admin".to_owned(), "pw-admin".to_owned())
        );
        std::fs::write(&path, "leader\tpw\tleader\tx\n").expect("write");
        assert!(account_from_file(&path).is_err());
        let _ = std::fs::remove_file(&path);
        assert!(account_from_file(&path).is_err());
    }

    #[test]
    fn intervals_are_checked() {
        assert!(seconds("x", 5.0).is_ok());
        assert!(seconds("x", 0.0).is_err());
        assert!(seconds("x", f64::NAN).is_err());
        assert!(within("x", 0.0, 0.0, 1.0).is_ok());
        assert!(within("x", 1.5, 0.0, 1.0).is_err());
        assert!(within("x", f64::INFINITY, 0.0, 1e9).is_err());
    }
}
