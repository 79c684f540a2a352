//! The [`LockoutStore`](authstate_core::LockoutStore) model.
//!
//! Each key is always used with its own policy (a threshold of 1, 2 or 3; a lock
//! shorter or longer than the failure window), so the rule in the contract fully
//! decides every answer.

use std::collections::BTreeMap;
use std::time::Duration;

use authstate_core::{LockoutPolicy, LockoutStatus};
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{World, advance_ms, answer, broken, check};

/// `(max_failures, failure_window ms, lockout_duration ms)` of each key: locks shorter
/// and longer than the window, all at least a minute (see `TTLS_MS`).
const POLICIES: [(u32, i64, i64); 3] = [
    (1, 120_000, 60_000),
    (3, 60_000, 120_000),
    (2, 90_000, 61_000),
];

fn policy(key: usize) -> LockoutPolicy {
    let (max_failures, window, lockout) = POLICIES[key];
    LockoutPolicy {
        max_failures,
        failure_window: Duration::from_millis(window.unsigned_abs()),
        lockout_duration: Duration::from_millis(lockout.unsigned_abs()),
    }
}

/// A counter as the model keeps it (times in model ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelCounter {
    failures: u32,
    locked_until: Option<i64>,
    expires_at: i64,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Failure {
        failures: u32,
        locked_until: Option<i64>,
    },
    Status {
        failures: u32,
        locked_until: Option<i64>,
    },
    Reset,
}

/// The reference state: counters by key number.
#[derive(Debug, Clone)]
pub(crate) struct LockoutModel {
    now: i64,
    counters: BTreeMap<usize, ModelCounter>,
    expect: Expect,
}

impl LockoutModel {
    fn live(&self, key: usize) -> Option<ModelCounter> {
        self.counters
            .get(&key)
            .copied()
            .filter(|c| self.now < c.expires_at)
    }
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    RecordFailure(usize),
    Status(usize),
    Reset(usize),
}

#[derive(Debug)]
pub(crate) struct LockoutReference;

impl ReferenceStateMachine for LockoutReference {
    type State = LockoutModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<LockoutModel> {
        Just(LockoutModel {
            now: 0,
            counters: BTreeMap::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &LockoutModel) -> BoxedStrategy<Transition> {
        let deadlines: Vec<i64> = state
            .counters
            .values()
            .flat_map(|c| [Some(c.expires_at), c.locked_until])
            .flatten()
            .collect();
        let keys = 0..POLICIES.len();
        prop_oneof![
            3 => advance_ms(state.now, deadlines).prop_map(Transition::AdvanceClock),
            4 => keys.clone().prop_map(Transition::RecordFailure),
            3 => keys.clone().prop_map(Transition::Status),
            1 => keys.prop_map(Transition::Reset),
        ]
        .boxed()
    }

    fn apply(mut state: LockoutModel, transition: &Transition) -> LockoutModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::RecordFailure(key) => {
                let (max_failures, window, lockout) = POLICIES[key];
                let previous = state.live(key);
                let failures = previous.map_or(1, |c| c.failures + 1);
                let locked_until = if failures >= max_failures {
                    Some(now + lockout)
                } else {
                    previous.and_then(|c| c.locked_until)
                };
                let expires_at = (now + window).max(locked_until.unwrap_or(i64::MIN));
                state.counters.insert(
                    key,
                    ModelCounter {
                        failures,
                        locked_until,
                        expires_at,
                    },
                );
                Expect::Failure {
                    failures,
                    locked_until,
                }
            }
            Transition::Status(key) => {
                let c = state.live(key);
                Expect::Status {
                    failures: c.map_or(0, |c| c.failures),
                    locked_until: c.and_then(|c| c.locked_until),
                }
            }
            Transition::Reset(key) => {
                state.counters.remove(&key);
                Expect::Reset
            }
        };
        state
    }
}

#[derive(Debug)]
pub(crate) struct LockoutTest;

impl StateMachineTest for LockoutTest {
    type SystemUnderTest = World;
    type Reference = LockoutReference;

    fn init_test(_: &LockoutModel) -> World {
        World::enter()
    }

    fn apply(world: World, model: &LockoutModel, step: Transition) -> World {
        let lockout = world.stores.lockout.clone();
        let key = |k: usize| world.key(&format!("user-{k}"));
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (
                Transition::RecordFailure(k),
                Expect::Failure {
                    failures,
                    locked_until,
                },
            ) => {
                let actual = answer(
                    &step,
                    world.run(lockout.record_failure(&key(*k), &policy(*k))),
                );
                let expected = LockoutStatus {
                    failures: *failures,
                    locked_until: locked_until.map(|t| world.at(t)),
                };
                check(&step, &expected, &actual);
            }
            (
                Transition::Status(k),
                Expect::Status {
                    failures,
                    locked_until,
                },
            ) => {
                let actual = answer(&step, world.run(lockout.status(&key(*k))));
                let expected = LockoutStatus {
                    failures: *failures,
                    locked_until: locked_until.map(|t| world.at(t)),
                };
                // While the counter lives on after its lock ended (a window longer than
                // the lock), the contract does not say whether `locked_until` still
                // shows the past lock or is cleared; both say "not locked".
                let lock_over = locked_until.is_some_and(|t| t <= model.now);
                let same = if lock_over {
                    actual.failures == expected.failures
                        && (actual.locked_until.is_none()
                            || actual.locked_until == expected.locked_until)
                } else {
                    actual == expected
                };
                if !same {
                    broken(&step, &expected, &actual);
                }
            }
            (Transition::Reset(k), Expect::Reset) => {
                answer(&step, world.run(lockout.reset(&key(*k))));
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        world
    }
}
