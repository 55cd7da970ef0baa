//! What a subsystem needs from the running server, said as traits.
//!
//! Domain modules never name the application state (`crate::state::AppState`): each says what
//! it reads through a trait here or in its own module (`live::LiveContext`,
//! `cases::CaseContext`, …), each extending the one below it as the layers do, and the
//! application state implements them all. So a subsystem's dependencies are written down in one
//! place, and the import graph points one way.

use sqlx::PgPool;

use crate::hierarchy::HierarchyHandle;

/// The system of record and the hierarchy in memory: what every subsystem reads.
pub trait Core: Send + Sync {
    /// The PostGIS pool.
    fn pool(&self) -> &PgPool;
    /// The hierarchy in memory, swapped whole by imports.
    fn hierarchy(&self) -> &HierarchyHandle;
}
