//! A named case.

use futures::future::BoxFuture;

use crate::CaseResult;
use crate::ctx::Ctx;

/// The function behind a case.
pub type CaseFn = fn(Ctx) -> BoxFuture<'static, CaseResult>;

/// One conformance case: its group (a contract, or a kind of check), its name, and the
/// function that runs it.
#[derive(Clone, Copy)]
pub struct Case {
    /// The group: `session`, `artifact`, …, `expiry`, `model`, `concurrency`, `at_rest`,
    /// `durability`.
    pub group: &'static str,
    /// The case's name, the same as the `# Behavior` bullet it proves.
    pub name: &'static str,
    /// Runs the case.
    pub run: CaseFn,
}

impl Case {
    /// `group::name`.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.group, self.name)
    }
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Case({}::{})", self.group, self.name)
    }
}
