//! Which role may do what: the one table. README's "Accounts, roles and territory" shows the
//! same table, and a test below checks that the two agree.
//!
//! A permission says what a role may do inside its territory; the territory itself (属地) is
//! applied by every query. What a user may do to one case is decided per case by
//! `cases::lifecycle` (the part the user plays on it), not here.

use super::{Error, Principal, Role};

/// Something a request does that only some roles may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the territory: the map, lists, tracks, coverage, KPIs, alerts, accounts.
    Read,
    /// Manage workers, vehicles and their phones' device tokens; clear an SOS; post
    /// positions for any resource of the territory with a session.
    ManageResources,
    /// Register a case.
    RegisterCase,
    /// Acknowledge and resolve alerts.
    ActOnAlerts,
    /// Create, change and disable accounts; reset passwords.
    ManageAccounts,
    /// Change the case categories and the alert rules.
    Configure,
    /// Import the hierarchy.
    ImportHierarchy,
    /// Read the audit log.
    ReadAudit,
}

use Role::{Admin, Dispatcher, Leader, Operator, Worker};

impl Permission {
    /// Every permission, in the order of the README's table.
    pub const ALL: [Self; 8] = [
        Self::Read,
        Self::ManageResources,
        Self::RegisterCase,
        Self::ActOnAlerts,
        Self::ManageAccounts,
        Self::Configure,
        Self::ImportHierarchy,
        Self::ReadAudit,
    ];

    /// The name in the README's table.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ManageResources => "manage_resources",
            Self::RegisterCase => "register_case",
            Self::ActOnAlerts => "act_on_alerts",
            Self::ManageAccounts => "manage_accounts",
            Self::Configure => "configure",
            Self::ImportHierarchy => "import_hierarchy",
            Self::ReadAudit => "read_audit",
        }
    }

    /// The roles that have it.
    #[must_use]
    pub fn roles(self) -> &'static [Role] {
        match self {
            Self::Read => &[Admin, Leader, Dispatcher, Operator],
            Self::ManageResources => &[Admin, Dispatcher],
            Self::RegisterCase => &[Admin, Dispatcher, Operator, Worker],
            Self::ActOnAlerts => &[Admin, Dispatcher, Operator],
            Self::ManageAccounts | Self::Configure | Self::ImportHierarchy | Self::ReadAudit => {
                &[Admin]
            }
        }
    }
}

impl Principal {
    /// 403 unless the user's role has `permission`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] naming the roles that have it.
    pub fn may(&self, permission: Permission) -> Result<(), Error> {
        self.require(permission.roles())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use super::*;
    use crate::territory::Territory;

    /// The rows of the README's permission table: name → one mark per role, in `Role::ALL`
    /// order.
    fn readme_table() -> Vec<(String, Vec<bool>)> {
        let readme = include_str!("../../../README.md");
        let header = readme
            .lines()
            .position(|l| l.starts_with("| permission |"))
            .expect("README has a table starting with `| permission |`");
        let roles: Vec<&str> = readme.lines().nth(header).unwrap().split('|').collect();
        let roles: Vec<&str> = roles[2..roles.len() - 1].iter().map(|r| r.trim()).collect();
        let expected: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(roles, expected, "the README table's role columns");
        readme
            .lines()
            .skip(header + 2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let name = cells[1].split('`').nth(1).unwrap_or(cells[1]).to_owned();
                let marks = cells[2..cells.len() - 1]
                    .iter()
                    .map(|c| match *c {
                        "✓" => true,
                        "" => false,
                        other => panic!("README permission table: {other:?} in row {name}"),
                    })
                    .collect();
                (name, marks)
            })
            .collect()
    }

    #[test]
    fn the_readme_table_is_the_policy() {
        let table = readme_table();
        let policy: Vec<(String, Vec<bool>)> = Permission::ALL
            .iter()
            .map(|p| {
                let marks = Role::ALL.iter().map(|r| p.roles().contains(r)).collect();
                (p.name().to_owned(), marks)
            })
            .collect();
        assert_eq!(table, policy);
    }

    #[test]
    fn a_role_without_the_permission_is_refused_with_the_roles_that_have_it() {
        let mut p = Principal {
            user_id: 1,
            username: "lin".into(),
            display_name: "林".into(),
            role: Role::Leader,
            territory: Territory::All,
            scope_unit: None,
            phone: None,
            session_id: 1,
            expires_at: chrono::Utc::now(),
            idle_timeout_s: 60,
            via_cookie: false,
            address: None,
        };
        assert!(p.may(Permission::Read).is_ok());
        let Err(Error::Forbidden(m)) = p.may(Permission::ManageResources) else {
            panic!("a leader may not manage resources");
        };
        assert_eq!(
            m,
            "this needs the role admin or dispatcher (you are leader)"
        );
        p.role = Role::Worker;
        assert!(p.may(Permission::RegisterCase).is_ok());
        assert!(p.may(Permission::Read).is_err());
    }
}
