//! The life of a case: its statuses, the actions that move it, and which action is legal from
//! which status and for whom. Pure: the store applies what this module allows.
//!
//! ```text
//! reported ─accept→ accepted ─dispatch→ dispatched ─start→ in_progress ─resolve→ resolved
//!    │                 │  ↑                 │  ↑ take/reassign │               │
//!    │                 │  └──────reopen─────┼──┼──────────────────────────────┤
//!    └─reject→ rejected ←┘   returned ←decline/return┘        followed_up ←follow_up┘
//!                            escalated ←escalate (accepted … returned)   └─close→ closed
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// 上报: registered, not yet taken on by the center.
    Reported,
    /// 受理: the center took it on.
    Accepted,
    /// 分派: a worker is assigned.
    Dispatched,
    /// 处置: the worker is on it.
    InProgress,
    /// 办结: handled, waiting for the follow-up.
    Resolved,
    /// 回访: followed up with the reporter.
    FollowedUp,
    /// 结案: closed for good.
    Closed,
    /// 退回: handed back by the worker, with a reason.
    Returned,
    /// 上报升级: handed up to the township, then the county.
    Escalated,
    /// 不予受理: not a case, with a reason.
    Rejected,
}

impl CaseStatus {
    /// Every status, in life order.
    pub const ALL: [Self; 10] = [
        Self::Reported,
        Self::Accepted,
        Self::Dispatched,
        Self::InProgress,
        Self::Resolved,
        Self::FollowedUp,
        Self::Closed,
        Self::Returned,
        Self::Escalated,
        Self::Rejected,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Accepted => "accepted",
            Self::Dispatched => "dispatched",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::FollowedUp => "followed_up",
            Self::Closed => "closed",
            Self::Returned => "returned",
            Self::Escalated => "escalated",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a stored or given name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Still on somebody's desk (not closed, not rejected).
    #[must_use]
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed | Self::Rejected)
    }

    /// Still waiting to be handled: its deadline matters (overdue applies).
    #[must_use]
    pub fn is_pending(self) -> bool {
        !matches!(
            self,
            Self::Resolved | Self::FollowedUp | Self::Closed | Self::Rejected
        )
    }

    /// Counts against the assignee's open-case limit.
    #[must_use]
    pub fn loads_assignee(self) -> bool {
        matches!(self, Self::Dispatched | Self::InProgress)
    }
}

/// What someone does to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The center takes the case on (受理): reported → accepted.
    Accept,
    /// Not a case (不予受理), with a reason.
    Reject,
    /// Assign a worker (派单): accepted, returned or escalated → dispatched.
    Dispatch,
    /// Assign another worker: dispatched or in progress → dispatched.
    Reassign,
    /// The assigned worker accepts the assignment (接单); the status stays dispatched.
    Take,
    /// The assigned worker starts handling it: dispatched → in progress.
    Start,
    /// The assigned worker declines an assignment not started yet: → returned, with a reason.
    Decline,
    /// The assigned worker hands it back while handling: → returned, with a reason.
    Return,
    /// Handled (办结), with a note: in progress → resolved.
    Resolve,
    /// The follow-up with the reporter (回访), with a note: resolved → followed up.
    FollowUp,
    /// Closed for good (结案): followed up → closed.
    Close,
    /// Hand up (上报升级) to the township, then the county, with a reason.
    Escalate,
    /// The follow-up found it not handled: resolved or followed up → accepted, with a reason.
    Reopen,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 13] = [
        Self::Accept,
        Self::Reject,
        Self::Dispatch,
        Self::Reassign,
        Self::Take,
        Self::Start,
        Self::Decline,
        Self::Return,
        Self::Resolve,
        Self::FollowUp,
        Self::Close,
        Self::Escalate,
        Self::Reopen,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Dispatch => "dispatch",
            Self::Reassign => "reassign",
            Self::Take => "take",
            Self::Start => "start",
            Self::Decline => "decline",
            Self::Return => "return",
            Self::Resolve => "resolve",
            Self::FollowUp => "follow_up",
            Self::Close => "close",
            Self::Escalate => "escalate",
            Self::Reopen => "reopen",
        }
    }

    /// Parses a given name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the action needs a note (a reason or what was done).
    #[must_use]
    pub fn needs_note(self) -> bool {
        matches!(
            self,
            Self::Reject
                | Self::Decline
                | Self::Return
                | Self::Resolve
                | Self::FollowUp
                | Self::Escalate
                | Self::Reopen
        )
    }

    /// Whether the action names a worker to assign.
    #[must_use]
    pub fn needs_assignee(self) -> bool {
        matches!(self, Self::Dispatch | Self::Reassign)
    }

    /// Actions of the assigned worker (from their phone or their own account).
    #[must_use]
    pub fn by_assignee(self) -> bool {
        matches!(
            self,
            Self::Take | Self::Start | Self::Decline | Self::Return | Self::Resolve
        )
    }
}

/// Who acts on a case, as far as the life of a case cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// An administrator or a dispatcher of the territory: every center action.
    Dispatcher,
    /// An operator (接线员): takes cases on, rejects them, follows them up.
    Operator,
    /// The worker the case is assigned to.
    Assignee,
    /// The server itself: overdue escalation and auto-dispatch.
    System,
}

/// May `party` do `action` at all (whatever the status)?
#[must_use]
pub fn permits(party: Party, action: Action) -> bool {
    match party {
        Party::Dispatcher => !matches!(action, Action::Take | Action::Start | Action::Decline),
        Party::Operator => matches!(
            action,
            Action::Accept | Action::Reject | Action::FollowUp | Action::Close
        ),
        Party::Assignee => action.by_assignee(),
        Party::System => matches!(
            action,
            Action::Escalate | Action::Reassign | Action::Dispatch
        ),
    }
}

/// Where `action` leads from `status`, or `None` when it is not legal there. `taken` says
/// whether the assigned worker has accepted the assignment already.
#[must_use]
#[allow(
    clippy::match_same_arms,
    reason = "the transition table reads one action per row, like the diagram in the docs"
)]
pub fn next(status: CaseStatus, taken: bool, action: Action) -> Option<CaseStatus> {
    use Action as A;
    use CaseStatus as S;
    let to = match (action, status) {
        (A::Accept, S::Reported) => S::Accepted,
        (A::Reject, S::Reported | S::Accepted | S::Returned | S::Escalated) => S::Rejected,
        (A::Dispatch, S::Accepted | S::Returned | S::Escalated) => S::Dispatched,
        (A::Reassign, S::Dispatched | S::InProgress) => S::Dispatched,
        (A::Take, S::Dispatched) if !taken => S::Dispatched,
        (A::Start, S::Dispatched) => S::InProgress,
        (A::Decline, S::Dispatched) => S::Returned,
        (A::Return, S::InProgress) => S::Returned,
        (A::Resolve, S::InProgress) => S::Resolved,
        (A::FollowUp, S::Resolved) => S::FollowedUp,
        (A::Close, S::FollowedUp) => S::Closed,
        (A::Escalate, S::Accepted | S::Dispatched | S::InProgress | S::Returned | S::Escalated) => {
            S::Escalated
        }
        (A::Reopen, S::Resolved | S::FollowedUp) => S::Accepted,
        _ => return None,
    };
    Some(to)
}

/// The actions `party` may take on a case in `status`, for the 409 answer and the UI.
#[must_use]
pub fn allowed(status: CaseStatus, taken: bool, party: Party) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|&a| permits(party, a) && next(status, taken, a).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(CaseStatus::parse("open"), None);
        assert_eq!(Action::parse("assign"), None);
    }

    #[test]
    fn the_main_line_is_legal() {
        use Action as A;
        use CaseStatus as S;
        let line = [
            (S::Reported, A::Accept, S::Accepted),
            (S::Accepted, A::Dispatch, S::Dispatched),
            (S::Dispatched, A::Start, S::InProgress),
            (S::InProgress, A::Resolve, S::Resolved),
            (S::Resolved, A::FollowUp, S::FollowedUp),
            (S::FollowedUp, A::Close, S::Closed),
        ];
        for (from, action, to) in line {
            assert_eq!(next(from, false, action), Some(to), "{from:?} {action:?}");
        }
    }

    #[test]
    fn closed_and_rejected_are_final() {
        for a in Action::ALL {
            assert_eq!(next(CaseStatus::Closed, false, a), None);
            assert_eq!(next(CaseStatus::Rejected, false, a), None);
        }
    }

    #[test]
    fn take_once() {
        assert_eq!(
            next(CaseStatus::Dispatched, false, Action::Take),
            Some(CaseStatus::Dispatched)
        );
        assert_eq!(next(CaseStatus::Dispatched, true, Action::Take), None);
        assert!(allowed(CaseStatus::Dispatched, true, Party::Assignee).contains(&Action::Start));
    }

    #[test]
    fn parties() {
        assert_eq!(
            allowed(CaseStatus::Reported, false, Party::Operator),
            vec![Action::Accept, Action::Reject]
        );
        assert_eq!(
            allowed(CaseStatus::Reported, false, Party::Assignee),
            Vec::<Action>::new()
        );
        assert_eq!(
            allowed(CaseStatus::InProgress, true, Party::Assignee),
            vec![Action::Return, Action::Resolve]
        );
        assert!(!permits(Party::Dispatcher, Action::Take));
        assert!(permits(Party::Dispatcher, Action::Resolve));
    }
}
