//! Running cases: one at a time under a test harness, or all of them from a program.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;

use crate::case::Case;
use crate::ctx::Ctx;
use crate::harness::Harness;

/// How long one case may take before it counts as failed (a hang is a failure).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It held.
    Passed,
    /// It did not; the message says why.
    Failed(String),
}

/// The totals of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// Runs one case against `harness` in a fresh namespace. A panic, an error or a
/// timeout is a failure; nothing escapes.
pub async fn run_case(harness: Arc<dyn Harness>, case: &Case) -> Outcome {
    let ctx = match Ctx::new(harness) {
        Ok(ctx) => ctx,
        Err(e) => return Outcome::Failed(format!("could not set up the case: {e}")),
    };
    let fut = AssertUnwindSafe((case.run)(ctx)).catch_unwind();
    match tokio::time::timeout(CASE_TIMEOUT, fut).await {
        Err(_) => Outcome::Failed(format!("timed out after {}s", CASE_TIMEOUT.as_secs())),
        Ok(Err(panic)) => Outcome::Failed(panic_message(panic.as_ref())),
        Ok(Ok(Err(e))) => Outcome::Failed(e.to_string()),
        Ok(Ok(Ok(()))) => Outcome::Passed,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".to_string()
    }
}

/// Runs every case whose full name (`group::name`) contains `filter` (all when `None`),
/// calling `report` after each, and returns the totals. This is what the CLI's
/// `conformance` subcommand uses against a live backend.
pub async fn run_all(
    harness: Arc<dyn Harness>,
    filter: Option<&str>,
    mut report: impl FnMut(&Case, &Outcome, Duration),
) -> Summary {
    let mut summary = Summary::default();
    for case in crate::all_cases() {
        if filter.is_some_and(|f| !case.full_name().contains(f)) {
            continue;
        }
        let started = Instant::now();
        let outcome = run_case(harness.clone(), &case).await;
        match outcome {
            Outcome::Passed => summary.passed += 1,
            Outcome::Failed(_) => summary.failed += 1,
        }
        report(&case, &outcome, started.elapsed());
    }
    summary
}

/// Runs one case as a `#[test]`: builds a multi-threaded Tokio runtime, makes the
/// harness with `factory` inside it, runs the case and panics with the failure message.
/// The [`conformance_tests!`](crate::conformance_tests) macro expands to calls of this.
pub fn run_test<F, Fut, H>(factory: F, case: Case)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = H>,
    H: Harness,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("could not build a Tokio runtime: {e}"),
    };
    let outcome = runtime.block_on(async move {
        let harness: Arc<dyn Harness> = Arc::new(factory().await);
        run_case(harness, &case).await
    });
    if let Outcome::Failed(message) = outcome {
        panic!("{} failed: {message}", case.full_name());
    }
}
