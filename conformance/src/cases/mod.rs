//! The cases, one module per group. Each module lists its cases once, in a
//! `__authstate_cases_<group>!` macro that both the test generator and the runtime list
//! are expanded from, so the two can never disagree.
//!
//! Every case is `pub async fn name(ctx: Ctx) -> CaseResult`.

use crate::case::Case;

pub mod artifact;
pub mod at_rest;
pub mod concurrency;
pub mod durability;
pub mod expiry;
pub mod keys;
pub mod lease;
pub mod lockout;
pub mod model;
pub mod purge;
pub mod registry;
pub mod replay;
pub mod revocation;
pub mod session;
pub mod state;
pub mod token;

/// A group of cases.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// The group's name.
    pub name: &'static str,
    /// Its cases.
    pub cases: fn() -> Vec<Case>,
}

/// Every group, in the order the suite runs them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "session",
        cases: session::cases,
    },
    Group {
        name: "artifact",
        cases: artifact::cases,
    },
    Group {
        name: "state",
        cases: state::cases,
    },
    Group {
        name: "replay",
        cases: replay::cases,
    },
    Group {
        name: "lockout",
        cases: lockout::cases,
    },
    Group {
        name: "keys",
        cases: keys::cases,
    },
    Group {
        name: "revocation",
        cases: revocation::cases,
    },
    Group {
        name: "token",
        cases: token::cases,
    },
    Group {
        name: "registry",
        cases: registry::cases,
    },
    Group {
        name: "purge",
        cases: purge::cases,
    },
    Group {
        name: "lease",
        cases: lease::cases,
    },
    Group {
        name: "expiry",
        cases: expiry::cases,
    },
    Group {
        name: "model",
        cases: model::cases,
    },
    Group {
        name: "concurrency",
        cases: concurrency::cases,
    },
    Group {
        name: "at_rest",
        cases: at_rest::cases,
    },
    Group {
        name: "durability",
        cases: durability::cases,
    },
];
