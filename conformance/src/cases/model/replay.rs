//! The [`ReplayCache`](authstate_core::ReplayCache) model.
//!
//! `not_after` is absolute, so a step carries it in model time; the offsets it is drawn
//! from include the past, "now" itself, and exactly the maximum retention and 1 ms
//! beyond it, so both refusals are exercised next to their edges. (Not 1 ms ahead:
//! see `TTLS_MS`; the clock advances reach 1 ms before `not_after` instead.)

use std::collections::BTreeMap;

use authstate_core::{ErrorKind, Limits, Replay};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{TTLS_MS, World, advance_ms, check_result};

const IDS: usize = 4;

/// The retention limit the case's stores are opened with (the default limits).
fn max_retention_ms() -> i64 {
    i64::try_from(Limits::default().max_replay_retention.as_millis()).unwrap_or(i64::MAX)
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Check(Result<Replay, ErrorKind>),
}

/// The reference state: each recorded id's `not_after`.
#[derive(Debug, Clone)]
pub(crate) struct ReplayModel {
    now: i64,
    entries: BTreeMap<usize, i64>,
    expect: Expect,
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    CheckAndRecord { id: usize, not_after: i64 },
}

#[derive(Debug)]
pub(crate) struct ReplayReference;

impl ReferenceStateMachine for ReplayReference {
    type State = ReplayModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<ReplayModel> {
        Just(ReplayModel {
            now: 0,
            entries: BTreeMap::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &ReplayModel) -> BoxedStrategy<Transition> {
        let now = state.now;
        let deadlines: Vec<i64> = state.entries.values().copied().collect();
        let max = max_retention_ms();
        let offsets = prop_oneof![
            6 => select(TTLS_MS.to_vec()),
            1 => select(vec![-1000i64, -1, 0]),
            1 => select(vec![max - 1, max, max + 1]),
        ];
        prop_oneof![
            1 => advance_ms(now, deadlines).prop_map(Transition::AdvanceClock),
            3 => (0..IDS, offsets).prop_map(move |(id, offset)| Transition::CheckAndRecord {
                id,
                not_after: now + offset,
            }),
        ]
        .boxed()
    }

    fn apply(mut state: ReplayModel, transition: &Transition) -> ReplayModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::CheckAndRecord { id, not_after } => {
                Expect::Check(
                    if not_after <= now || not_after > now + max_retention_ms() {
                        Err(ErrorKind::InvalidInput)
                    } else {
                        match state.entries.get(&id) {
                            // A replay never changes the stored entry, even with a later
                            // `not_after`.
                            Some(&kept) if now < kept => Ok(Replay::Replayed),
                            _ => {
                                state.entries.insert(id, not_after);
                                Ok(Replay::Fresh)
                            }
                        }
                    },
                )
            }
        };
        state
    }
}

#[derive(Debug)]
pub(crate) struct ReplayTest;

impl StateMachineTest for ReplayTest {
    type SystemUnderTest = World;
    type Reference = ReplayReference;

    fn init_test(_: &ReplayModel) -> World {
        World::enter()
    }

    fn apply(world: World, model: &ReplayModel, step: Transition) -> World {
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (Transition::CheckAndRecord { id, not_after }, Expect::Check(expected)) => {
                let id = world.key(&format!("jti-{id}"));
                let actual = world.run(
                    world
                        .stores
                        .replay
                        .check_and_record(&id, world.at(*not_after)),
                );
                check_result(&step, expected, &actual);
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        world
    }
}
