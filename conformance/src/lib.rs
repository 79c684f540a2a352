//! The conformance suite every authstate backend runs.
//!
//! It proves that a backend keeps the promises written in the `# Behavior` lists of the
//! nine contracts in `authstate-core`: one case per promise, named after it, plus exact
//! expiry edges on a manual clock, model-based property tests, concurrency races
//! between tasks and between separately opened nodes, at-rest secrecy and tamper checks,
//! and durability across a restart.
//!
//! # Running it against your backend
//!
//! Implement [`Harness`] and call [`conformance_tests!`] once, at module level, in an
//! integration test. Every case becomes its own `#[test]`, named `group::case`:
//!
//! ```
//! use authstate_conformance::{Harness, conformance_tests};
//! use authstate_core::{MemoryBackend, Result, StoreConfig, Stores};
//!
//! struct MyHarness(MemoryBackend);
//!
//! #[async_trait::async_trait]
//! impl Harness for MyHarness {
//!     async fn open(&self, config: StoreConfig) -> Result<Stores> {
//!         self.0.open(config)
//!     }
//! }
//!
//! async fn harness() -> MyHarness {
//!     MyHarness(MemoryBackend::new())
//! }
//!
//! conformance_tests!(harness);
//! # fn main() {}
//! ```
//!
//! A program can run the same cases against a live server with [`run_all`], which
//! reports each case and returns the `N passed, N failed` totals.
#![deny(missing_docs)]

mod case;
pub mod cases;
mod ctx;
mod harness;
mod runner;

pub use case::{Case, CaseFn};
pub use ctx::{Ctx, sealed_codec};
pub use harness::{Harness, RawEntry};
pub use runner::{CASE_TIMEOUT, Outcome, Summary, run_all, run_case, run_test};

/// The error a case returns: any error, with a message that says what did not hold.
pub type CaseError = authstate_core::BoxError;

/// What a case returns.
pub type CaseResult = Result<(), CaseError>;

/// Fails the case with `message`.
pub fn fail<T>(message: impl Into<String>) -> Result<T, CaseError> {
    Err(message.into().into())
}

/// Every case of the suite, in a fixed order.
pub fn all_cases() -> Vec<Case> {
    let mut all = Vec::new();
    for group in cases::GROUPS {
        all.extend((group.cases)());
    }
    all
}

/// Generates the whole suite as `#[test]` functions, one per case, in one module per
/// group (`session::create_returns_new_random_id`, …).
///
/// The argument is the path of an `async fn` (or any function returning a future) that
/// makes your [`Harness`]; it is called inside each test's runtime. Invoke the macro
/// once, at module level.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::__authstate_cases_session!(tests $factory);
        $crate::__authstate_cases_artifact!(tests $factory);
        $crate::__authstate_cases_state!(tests $factory);
        $crate::__authstate_cases_replay!(tests $factory);
        $crate::__authstate_cases_lockout!(tests $factory);
        $crate::__authstate_cases_keys!(tests $factory);
        $crate::__authstate_cases_revocation!(tests $factory);
        $crate::__authstate_cases_token!(tests $factory);
        $crate::__authstate_cases_registry!(tests $factory);
        $crate::__authstate_cases_purge!(tests $factory);
        $crate::__authstate_cases_lease!(tests $factory);
        $crate::__authstate_cases_expiry!(tests $factory);
        $crate::__authstate_cases_model!(tests $factory);
        $crate::__authstate_cases_concurrency!(tests $factory);
        $crate::__authstate_cases_at_rest!(tests $factory);
        $crate::__authstate_cases_durability!(tests $factory);
    };
}

/// Expands one group's case list either into `#[test]`s (`tests $factory`) or into the
/// group's `cases()` function (`list`). Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __emit {
    ([tests $factory:path] $group:ident: $($case:ident),* $(,)?) => {
        #[allow(non_snake_case)]
        mod $group {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::run_test($factory, $crate::Case {
                        group: stringify!($group),
                        name: stringify!($case),
                        run: |ctx| ::std::boxed::Box::pin($crate::cases::$group::$case(ctx)),
                    });
                }
            )*
        }
    };
    ([list] $group:ident: $($case:ident),* $(,)?) => {
        /// The cases of this group, in order.
        pub fn cases() -> ::std::vec::Vec<$crate::Case> {
            ::std::vec![$(
                $crate::Case {
                    group: stringify!($group),
                    name: stringify!($case),
                    run: |ctx| ::std::boxed::Box::pin($case(ctx)),
                }
            ),*]
        }
    };
}
