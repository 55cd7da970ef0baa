//! `gridwall user …` and `gridwall demo-accounts`: accounts from the command line, for the
//! first admin and for scripts. Every change is audited with the actor `cli`.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use sqlx::PgPool;

use super::{DbArgs, migrate};
use crate::audit::{self, Event};
use crate::auth::{self, Actor, Role};
use crate::db;
use crate::db::users::{NewUser, UserFilter, UserPatch};
use crate::territory::Territory;

/// `gridwall user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// The account subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (prints a generated password unless --password-stdin).
    Add(AddArgs),
    /// List the accounts.
    List(ListArgs),
    /// Disable an account; its sessions end at once.
    Disable(NameArgs),
    /// Enable a disabled account.
    Enable(NameArgs),
    /// Set a new password (generated unless --password-stdin); every session ends.
    Passwd(PasswdArgs),
}

/// `gridwall user add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Login name.
    pub username: String,
    /// admin, leader, dispatcher, operator or worker.
    #[arg(long)]
    pub role: String,
    /// Unit code at the root of the territory, or `all` (not for workers; admins have none).
    #[arg(long)]
    pub scope: Option<String>,
    /// Name shown (defaults to the login name).
    #[arg(long)]
    pub name: Option<String>,
    /// Phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `gridwall user list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// A subcommand on one account.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Login name.
    pub username: String,
}

/// `gridwall user passwd`.
#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Login name.
    pub username: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `gridwall demo-accounts`.
#[derive(Debug, Args)]
pub struct DemoAccountsArgs {
    /// Database.
    #[command(flatten)]
    pub db: DbArgs,
    /// Where the passwords are kept (created with mode 0600).
    #[arg(long, default_value = ".data/demo-accounts.txt")]
    pub file: PathBuf,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    tracing::error!("{message}");
    ExitCode::FAILURE
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn api_message(e: &crate::http::ApiError) -> String {
    e.to_string()
}

/// Runs `gridwall user …`.
pub async fn run(args: UserArgs) -> ExitCode {
    let result = match args.command {
        UserCommand::Add(a) => add(a).await,
        UserCommand::List(a) => list(a).await,
        UserCommand::Disable(a) => set_disabled(a, true).await,
        UserCommand::Enable(a) => set_disabled(a, false).await,
        UserCommand::Passwd(a) => passwd(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

async fn scope_id(pool: &PgPool, role: Role, scope: Option<&str>) -> anyhow::Result<Option<i64>> {
    match (role, scope.map(str::trim)) {
        (Role::Admin, None | Some("all")) => Ok(None),
        (Role::Admin, Some(_)) => anyhow::bail!("an admin manages everything: leave out --scope"),
        (_, None) => anyhow::bail!("--scope is required: a unit code, or `all` for everything"),
        (Role::Worker, Some("all")) => anyhow::bail!("a worker's scope must be a unit code"),
        (_, Some("all")) => Ok(None),
        (_, Some(code)) => db::users::unit_in_scope(pool, Territory::All, code)
            .await?
            .map(|(id, _)| Some(id))
            .ok_or_else(|| anyhow::anyhow!("no unit has code {code} (import the hierarchy first)")),
    }
}

/// Creates one account; returns its id.
async fn create(
    pool: &PgPool,
    username: &str,
    display_name: &str,
    role: Role,
    scope_unit_id: Option<i64>,
    phone: Option<&str>,
    password: &str,
) -> anyhow::Result<i64> {
    let username =
        crate::http::users::username(username).map_err(|e| anyhow::anyhow!(api_message(&e)))?;
    let display_name = crate::http::params::display_name("name", display_name)
        .map_err(|e| anyhow::anyhow!(api_message(&e)))?;
    let phone = phone
        .map(|p| crate::http::params::phone("phone", p))
        .transpose()
        .map_err(|e| anyhow::anyhow!(api_message(&e)))?;
    auth::validate_password(&username, password)?;
    let hash = auth::hash_password(password)?;
    let mut tx = pool.begin().await?;
    let id = db::users::insert(
        &mut *tx,
        &NewUser {
            username: &username,
            display_name: &display_name,
            role: role.as_str(),
            scope_unit_id,
            phone: phone.as_deref(),
            password_hash: &hash,
        },
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("the login name {username} is taken"))?;
    let scope_code = match scope_unit_id {
        Some(_) => db::users::get(&mut *tx, Territory::All, id)
            .await?
            .and_then(|u| u.scope_code),
        None => None,
    };
    audit::record(
        &mut *tx,
        &Actor::cli(),
        Event::ok("user.create", "user", id)
            .unit(scope_code.as_deref())
            .details(json!({ "username": username, "role": role })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
async fn add(a: AddArgs) -> anyhow::Result<()> {
    let pool = migrate(&a.db).await?;
    let role = Role::parse(&a.role).ok_or_else(|| {
        anyhow::anyhow!("--role must be admin, leader, dispatcher, operator or worker")
    })?;
    let scope = scope_id(&pool, role, a.scope.as_deref()).await?;
    let (password, generated) = if a.password_stdin {
        (read_password_line()?, false)
    } else {
        (auth::generate_password()?, true)
    };
    let name = a.name.clone().unwrap_or_else(|| a.username.clone());
    let id = create(
        &pool,
        &a.username,
        &name,
        role,
        scope,
        a.phone.as_deref(),
        &password,
    )
    .await?;
    println!("created {} (id {id}, role {role})", a.username);
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
async fn list(a: ListArgs) -> anyhow::Result<()> {
    let pool = migrate(&a.db).await?;
    let users = db::users::list(
        &pool,
        Territory::All,
        &UserFilter {
            include_disabled: true,
            ..UserFilter::default()
        },
    )
    .await?;
    println!(
        "{:<6} {:<20} {:<11} {:<16} {:<9} name",
        "id", "username", "role", "scope", "status"
    );
    for u in users {
        println!(
            "{:<6} {:<20} {:<11} {:<16} {:<9} {}",
            u.id,
            u.username,
            u.role,
            u.scope_code.as_deref().unwrap_or("all"),
            if u.disabled_at.is_some() {
                "disabled"
            } else {
                "active"
            },
            u.display_name
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
async fn set_disabled(a: NameArgs, disabled: bool) -> anyhow::Result<()> {
    let pool = migrate(&a.db).await?;
    let user = db::users::by_username(&pool, &a.username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {}", a.username))?;
    let mut tx = pool.begin().await?;
    db::users::update(
        &mut *tx,
        user.id,
        &UserPatch {
            disabled: Some(disabled),
            ..UserPatch::default()
        },
    )
    .await?;
    let ended = if disabled {
        auth::revoke_user_sessions(&mut *tx, user.id, "account disabled").await?
    } else {
        0
    };
    audit::record(
        &mut *tx,
        &Actor::cli(),
        Event::ok(
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            "user",
            user.id,
        )
        .unit(user.scope_code.as_deref())
        .details(json!({ "username": user.username, "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    println!(
        "{} {}{}",
        user.username,
        if disabled { "disabled" } else { "enabled" },
        if disabled {
            format!("; {ended} session(s) ended")
        } else {
            String::new()
        }
    );
    Ok(())
}

async fn set_password(
    pool: &PgPool,
    user_id: i64,
    username: &str,
    password: &str,
) -> anyhow::Result<u64> {
    auth::validate_password(username, password)?;
    let hash = auth::hash_password(password)?;
    let mut tx = pool.begin().await?;
    db::users::set_password(&mut *tx, user_id, &hash).await?;
    let ended = auth::revoke_user_sessions(&mut *tx, user_id, "password reset").await?;
    audit::record(
        &mut *tx,
        &Actor::cli(),
        Event::ok("user.password_reset", "user", user_id)
            .details(json!({ "username": username, "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
async fn passwd(a: PasswdArgs) -> anyhow::Result<()> {
    let pool = migrate(&a.db).await?;
    let user = db::users::by_username(&pool, &a.username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {}", a.username))?;
    let (password, generated) = if a.password_stdin {
        (read_password_line()?, false)
    } else {
        (auth::generate_password()?, true)
    };
    let ended = set_password(&pool, user.id, &user.username, &password).await?;
    println!(
        "password of {} changed; {ended} session(s) ended",
        user.username
    );
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

/// One demo account.
struct Demo {
    username: &'static str,
    role: Role,
    display_name: String,
    scope: Option<(i64, String)>,
}

async fn demo_set(pool: &PgPool) -> anyhow::Result<Vec<Demo>> {
    let unit = |code: &'static str| async move {
        anyhow::Ok(
            sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM units WHERE code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await?,
        )
    };
    let city = unit("320600").await?;
    let chongchuan = unit("320613").await?.ok_or_else(|| {
        anyhow::anyhow!("unit 320613 (崇川区) is missing: import the Nantong demo dataset first")
    })?;
    let township: (i64, String, String) = sqlx::query_as(
        "SELECT t.id, t.code, t.name FROM units t JOIN units c ON c.id = t.parent_id
         WHERE c.code = '320613' AND t.level = 2 ORDER BY t.code LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(vec![
        Demo {
            username: "admin",
            role: Role::Admin,
            display_name: "系统管理员".into(),
            scope: None,
        },
        Demo {
            username: "leader",
            role: Role::Leader,
            display_name: city
                .as_ref()
                .map_or_else(|| "市领导".into(), |c| format!("{}领导", c.1)),
            scope: city,
        },
        Demo {
            username: "dispatcher",
            role: Role::Dispatcher,
            display_name: format!("{}调度员", chongchuan.1),
            scope: Some(chongchuan),
        },
        Demo {
            username: "operator",
            role: Role::Operator,
            display_name: format!("{}操作员", township.2),
            scope: Some((township.0, township.2)),
        },
    ])
}

fn read_demo_file(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

fn write_demo_file(
    path: &std::path::Path,
    rows: &[(String, String, Role, String)],
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(
        f,
        "# Gridwall demo accounts, written by `gridwall demo-accounts`. Keep it private."
    )?;
    writeln!(f, "# username\tpassword\trole\tscope")?;
    for (user, password, role, scope) in rows {
        writeln!(f, "{user}\t{password}\t{role}\t{scope}")?;
    }
    Ok(())
}

/// Runs `gridwall demo-accounts`: makes sure the four demo accounts exist with the passwords
/// in the file (generating what is missing), and prints them when anything was created.
#[allow(clippy::print_stdout, reason = "the CLI reports to its user on stdout")]
pub async fn demo_accounts(args: DemoAccountsArgs) -> ExitCode {
    let run = async {
        let pool = migrate(&args.db).await?;
        let known = read_demo_file(&args.file);
        let mut rows = Vec::new();
        let mut changed = false;
        for demo in demo_set(&pool).await? {
            let password = match known.get(demo.username) {
                Some(p) if auth::validate_password(demo.username, p).is_ok() => p.clone(),
                _ => auth::generate_password()?,
            };
            match db::users::by_username(&pool, demo.username).await? {
                None => {
                    create(
                        &pool,
                        demo.username,
                        &demo.display_name,
                        demo.role,
                        demo.scope.as_ref().map(|s| s.0),
                        None,
                        &password,
                    )
                    .await?;
                    changed = true;
                }
                Some(user) => {
                    let hash = db::users::password_hash(&pool, user.id)
                        .await?
                        .unwrap_or_default();
                    if !auth::verify_password(&password, &hash) {
                        set_password(&pool, user.id, &user.username, &password).await?;
                        changed = true;
                    }
                }
            }
            let scope = demo.scope.map_or_else(|| "全部 (all)".to_owned(), |s| s.1);
            rows.push((demo.username.to_owned(), password, demo.role, scope));
        }
        write_demo_file(&args.file, &rows)?;
        if changed {
            println!("Demo accounts (also in {}):", args.file.display());
            for (user, password, role, scope) in &rows {
                println!("  {user:<11} {password}   {role:<10} {scope}");
            }
        } else {
            println!(
                "Demo accounts unchanged; their passwords are in {}",
                args.file.display()
            );
        }
        anyhow::Ok(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("demo accounts: {e:#}")),
    }
}
