//! When the database is unavailable, as opposed to refusing a statement: the one classifier
//! every caller uses (the HTTP answer, the track writer, the websocket's session re-check),
//! and the one warning it logs, summarised while the outage lasts.
//!
//! Unavailable means "try again later, nothing is wrong with what was asked": the HTTP layer
//! answers 503 with `Retry-After`, and the track writer keeps the points and retries. Anything
//! else the database answers is about the statement (a constraint, a bad value, a bug).

use std::time::Duration;

use crate::repeats::Repeats;

/// Every warning about an unreachable database, across the process: three per 10 s, then a
/// count.
static UNAVAILABLE: Repeats = Repeats::new(Duration::from_secs(10), 3);

/// SQLSTATEs of a database that cannot serve now, whatever the statement.
///
/// - class 08, connection exception (the connection failed or was lost);
/// - `57P01` admin shutdown (`pg_terminate_backend`, a fast shutdown), `57P02` crash shutdown,
///   `57P03` cannot connect now (starting up, or in recovery);
/// - class 53, insufficient resources: too many connections (`53300`), disk full, out of
///   memory;
/// - `55000` object not in prerequisite state: what a connection to a database that does not
///   accept connections gets (`ALTER DATABASE … ALLOW_CONNECTIONS false`, a database being
///   dropped or used as a template). sqlx hands it over from the pool's connect as is. None of
///   the statements Gridwall runs raises it otherwise (no `currval`, no concurrent refresh).
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "55000")
}

/// Whether `e` says the database cannot be reached or cannot serve now (retry later), rather
/// than that it refused a statement.
///
/// Covers the pool (timed out, closed), the connection (I/O, TLS, protocol, the worker
/// thread) and the SQLSTATEs of [`unavailable_sqlstate`].
#[must_use]
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().as_deref().is_some_and(unavailable_sqlstate),
        _ => false,
    }
}

/// Whether any error in `e`'s chain is a [`sqlx::Error`] that [`is_unavailable`].
#[must_use]
pub fn is_unavailable_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_unavailable)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// Logs that `what` failed because the database is unavailable: the first few in full, then
/// a count of the rest with the next one logged.
pub fn warn(what: &str, e: &sqlx::Error) {
    if let Some(left_out) = UNAVAILABLE.admit() {
        tracing::warn!(error = %e, "database unavailable: {what}{left_out}");
    }
}

/// Logs that the database answers again (called by whoever notices first), with the warnings
/// left out since the last one logged.
pub fn back(after: Duration) {
    let left_out = UNAVAILABLE.take_left_out();
    tracing::info!(
        after_s = after.as_secs_f32(),
        "the database answers again{left_out}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_class_sqlstates_are_unavailability_and_statement_errors_are_not() {
        for code in [
            "08000", "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03", "53300",
            "53100", "55000",
        ] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in [
            "23505", "23514", "22P02", "42P01", "40P01", "57014", "XX000",
        ] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(is_unavailable(&sqlx::Error::Protocol(
            "unexpected EOF".into()
        )));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        let wrapped = anyhow::Error::new(sqlx::Error::PoolClosed).context("loading the board");
        assert!(is_unavailable_chain(wrapped.as_ref()));
        let wrapped = anyhow::Error::new(sqlx::Error::RowNotFound).context("loading the board");
        assert!(!is_unavailable_chain(wrapped.as_ref()));
    }
}
