//! The `model` cases: model-based property tests.
//!
//! Each case runs random sequences of operations (and clock advances) against the
//! backend and against a small, obviously correct model of the contract written in
//! plain Rust, and checks after every step that the backend answered what the model
//! predicts. The models use a tiny key space (three or four handles, subjects, ids) so
//! that collisions, replays, conflicts and re-use after expiry happen all the time,
//! and clock advances that land exactly on (and 1 ms before) expiry edges.
//!
//! The number of sequences per case is `PROPTEST_CASES` (32 when unset); a sequence has
//! at most [`MAX_TRANSITIONS`] steps. A failure is shrunk to a minimal sequence, which
//! the case's error shows step by step.
//!
//! # How the synchronous state-machine traits reach the async stores
//!
//! `proptest-state-machine`'s traits are synchronous and take no `self`. A case opens
//! its stores, then runs the proptest runner on a blocking thread of the Tokio runtime
//! with the stores, the case's manual clock and a runtime handle in a thread-local;
//! each test run (`init_test`) takes them from there and drives every store call with
//! `Handle::block_on`. All runs share the case's namespace, so every run prefixes its
//! keys, subjects and grants with its own run number: each starts from empty state.
//! Model time starts at 0 when a run starts; the store sees the manual clock, which the
//! run moves in step with the model.

use std::cell::RefCell;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use authstate_core::{Clock, ErrorKind, ManualClock, StoreConfig, Stores, Timestamp};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestError, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use tokio::runtime::Handle;

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

mod artifact;
mod lockout;
mod replay;
mod revocation;
mod session;
mod state;
mod token;

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_model {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] model:
            session_matches_model,
            artifact_matches_model,
            state_matches_model,
            replay_matches_model,
            lockout_matches_model,
            token_matches_model,
            revocation_matches_model,
        }
    };
}
crate::__authstate_cases_model!(list);

/// `session_matches_model`: random create, get, touch, update, rotate_id, delete,
/// list_by_subject and delete_by_subject sequences with clock advances.
pub async fn session_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<session::SessionTest>(ctx).await
}

/// `artifact_matches_model`: random put and take sequences with clock advances.
pub async fn artifact_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<artifact::ArtifactTest>(ctx).await
}

/// `state_matches_model`: random put, put_if_absent, get and remove sequences with
/// clock advances.
pub async fn state_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<state::StateTest>(ctx).await
}

/// `replay_matches_model`: random check_and_record sequences, with valid, past and
/// too-distant `not_after`s, and clock advances.
pub async fn replay_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<replay::ReplayTest>(ctx).await
}

/// `lockout_matches_model`: random record_failure, status and reset sequences under
/// several policies with clock advances.
pub async fn lockout_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<lockout::LockoutTest>(ctx).await
}

/// `token_matches_model`: random insert, get, revoke, revoke_by_grant,
/// revoke_by_subject and revoke_by_subject_and_client sequences with clock advances.
pub async fn token_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<token::TokenTest>(ctx).await
}

/// `revocation_matches_model`: random revoke, revoke_subject, is_revoked and
/// changes_since sequences with clock advances.
pub async fn revocation_matches_model(ctx: Ctx) -> CaseResult {
    run_model::<revocation::RevocationTest>(ctx).await
}

/// The longest operation sequence a run tries.
pub const MAX_TRANSITIONS: usize = 40;

/// Sequences per case when `PROPTEST_CASES` is not set: enough to find the usual
/// mistakes in seconds on the memory backend, few enough for a live server.
const DEFAULT_CASES: u32 = 32;

/// The longest a failure may be shrunk, so a failing case still ends well within the
/// runner's timeout.
const MAX_SHRINK_MILLIS: u32 = 30_000;

/// What the test runs of one case reach the stores through: set on the blocking
/// thread that runs the proptest runner, read by `init_test`.
struct Env {
    handle: Handle,
    stores: Stores,
    clock: ManualClock,
    config: StoreConfig,
    runs: u64,
    /// Where the revocation change feed stood when the latest run started, so the
    /// next run reads on from there instead of from the start of the shared feed.
    feed_cursor: u64,
}

thread_local! {
    // A thread-local and not a global: the traits take no `self`, and each case runs
    // its proptest runner on its own blocking thread, so cases never see each other's.
    static ENV: RefCell<Option<Env>> = const { RefCell::new(None) };
}

/// One test run's view of the backend: the stores, the clock, a runtime handle to
/// drive the async calls with, the clock's time when the run started (model time 0)
/// and the prefix that keeps this run's keys apart from earlier runs'.
#[derive(Debug)]
pub(crate) struct World {
    handle: Handle,
    pub(crate) stores: Stores,
    clock: ManualClock,
    pub(crate) config: StoreConfig,
    base: Timestamp,
    prefix: String,
}

impl World {
    /// Starts a run: takes the case's environment from the thread-local.
    pub(crate) fn enter() -> World {
        ENV.with(|env| {
            let mut env = env.borrow_mut();
            let env = env
                .as_mut()
                .expect("run_model sets the environment before any test run starts");
            env.runs += 1;
            World {
                handle: env.handle.clone(),
                stores: env.stores.clone(),
                clock: env.clock.clone(),
                config: env.config.clone(),
                base: env.clock.now(),
                prefix: format!("run{}-", env.runs),
            }
        })
    }

    /// Where the revocation feed stood when the previous run started (0 at first).
    pub(crate) fn feed_cursor(&self) -> u64 {
        ENV.with(|env| env.borrow().as_ref().map_or(0, |env| env.feed_cursor))
    }

    /// Remembers where the feed stands for the next run.
    pub(crate) fn set_feed_cursor(&self, cursor: u64) {
        ENV.with(|env| {
            if let Some(env) = env.borrow_mut().as_mut() {
                env.feed_cursor = cursor;
            }
        });
    }

    /// Runs a store call to completion on the case's runtime.
    pub(crate) fn run<F: Future>(&self, call: F) -> F::Output {
        self.handle.block_on(call)
    }

    /// `name` in this run's key space.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The store's time for model time `t`.
    pub(crate) fn at(&self, t: i64) -> Timestamp {
        Timestamp::from_millis(self.base.as_millis() + t)
    }

    /// Moves the store's clock forward by `ms`, as the model's `AdvanceClock` does.
    pub(crate) fn advance(&self, ms: i64) {
        self.clock.advance(Duration::from_millis(ms.unsigned_abs()));
    }
}

/// Ends the run with a failure that says which step broke which promise.
///
/// `resume_unwind` and not `panic!`: the runner catches it either way, but
/// `resume_unwind` skips the panic hook, so shrinking does not print hundreds of
/// panic messages.
pub(crate) fn broken(step: &dyn Debug, expected: &dyn Debug, actual: &dyn Debug) -> ! {
    std::panic::resume_unwind(Box::new(format!(
        "at step {step:?} the model expected {expected:?} but the store returned {actual:?}"
    )))
}

/// Fails the run unless `actual == expected`.
pub(crate) fn check<T: PartialEq + Debug>(step: &dyn Debug, expected: &T, actual: &T) {
    if expected != actual {
        broken(step, expected, actual);
    }
}

/// Fails the run unless `actual` is `expected`: the same value, or an error of the
/// same kind.
pub(crate) fn check_result<T: PartialEq + Debug>(
    step: &dyn Debug,
    expected: &Result<T, ErrorKind>,
    actual: &authstate_core::Result<T>,
) {
    let same = match (expected, actual) {
        (Ok(e), Ok(a)) => e == a,
        (Err(kind), Err(e)) => e.kind() == *kind,
        _ => false,
    };
    if !same {
        broken(step, expected, actual);
    }
}

/// Unwraps a store answer, or fails the run with the error (a store error is never a
/// prediction of the models unless `check_result` is used).
pub(crate) fn answer<T>(step: &dyn Debug, result: authstate_core::Result<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            std::panic::resume_unwind(Box::new(format!("at step {step:?} the store failed: {e}")))
        }
    }
}

/// The TTLs the models give records, in ms.
///
/// At least a minute, never a few ms: the manual clock starts at the real time and a
/// backend with server-side expiry (Redis `PEXPIREAT`) computes it from the manual
/// clock, so a TTL shorter than the real time a run takes could let the server evict a
/// record the store clock still calls live. The expiry edges are reached exactly by
/// the clock advances instead (see [`advance_ms`]). Two TTLs 1 s apart make records
/// expire in every order relative to each other.
pub(crate) const TTLS_MS: [i64; 4] = [60_000, 61_000, 120_000, 600_000];

/// Clock advances in milliseconds: small steps, often exactly onto a pending expiry
/// (`deadlines`, in model time) or 1 ms before it, and now and then a jump of an hour
/// or a day.
pub(crate) fn advance_ms(now: i64, deadlines: impl IntoIterator<Item = i64>) -> BoxedStrategy<i64> {
    let mut edges: Vec<i64> = deadlines
        .into_iter()
        .flat_map(|d| [d - now - 1, d - now])
        .filter(|ms| *ms > 0)
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let small = prop_oneof![3 => 1..=2000i64, 1 => select(vec![1i64, 30_000, 59_999, 60_000])];
    let jumps = select(vec![3_600_000i64, 86_400_000]);
    if edges.is_empty() {
        prop_oneof![4 => small, 1 => jumps].boxed()
    } else {
        prop_oneof![3 => small, 4 => select(edges), 1 => jumps].boxed()
    }
}

/// The proptest config: `PROPTEST_CASES` sequences (default [`DEFAULT_CASES`]), no
/// failure files, bounded shrinking.
fn runner_config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let defaults = Config::default();
    let max_shrink_time = match defaults.max_shrink_time {
        0 => MAX_SHRINK_MILLIS,
        set => set,
    };
    Config {
        cases,
        failure_persistence: None,
        max_shrink_time,
        ..defaults
    }
}

/// Runs the state-machine test `M` against freshly opened stores of `ctx` and turns a
/// failure into the case's error, with the minimal failing sequence.
async fn run_model<M>(ctx: Ctx) -> CaseResult
where
    M: StateMachineTest + 'static,
{
    let env = Env {
        handle: Handle::current(),
        stores: ctx.open().await?,
        clock: ctx.clock.clone(),
        config: ctx.config.clone(),
        runs: 0,
        feed_cursor: 0,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        ENV.with(|cell| *cell.borrow_mut() = Some(env));
        let config = runner_config();
        let mut runner = TestRunner::new(config.clone());
        let strategy = M::Reference::sequential_strategy(1..=MAX_TRANSITIONS);
        let result = runner.run(&strategy, |(initial, transitions, seen)| {
            M::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        });
        // The blocking thread goes back to Tokio's pool: leave nothing behind on it.
        ENV.with(|cell| cell.borrow_mut().take());
        result.map_err(describe_failure::<M>)
    })
    .await;
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => fail(message),
        Err(e) => fail(format!("the model test's thread failed: {e}")),
    }
}

type RefState<M> = <<M as StateMachineTest>::Reference as ReferenceStateMachine>::State;
type RefTransition<M> = <<M as StateMachineTest>::Reference as ReferenceStateMachine>::Transition;
/// What the sequential strategy generates: the initial state, the steps, and the
/// counter of steps seen.
type Sequence<M> = (RefState<M>, Vec<RefTransition<M>>, Option<Arc<AtomicUsize>>);

/// The runner's verdict as a readable message: why, and the minimal sequence.
fn describe_failure<M: StateMachineTest>(error: TestError<Sequence<M>>) -> String {
    match error {
        TestError::Abort(reason) => format!("the model test gave up: {reason}"),
        TestError::Fail(reason, (_, transitions, _)) => {
            let mut message = format!(
                "the backend disagrees with the model: {reason}\n\
                 minimal failing sequence ({} steps; times in ms since the run started):",
                transitions.len()
            );
            for (i, t) in transitions.iter().enumerate() {
                message.push_str(&format!("\n  {:>2}. {t:?}", i + 1));
            }
            message
        }
    }
}
