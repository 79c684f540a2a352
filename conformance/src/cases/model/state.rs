//! The [`StateStore`](authstate_core::StateStore) model.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{TTLS_MS, World, advance_ms, answer, check};

const KEYS: usize = 4;

/// A value as the model keeps it (times in model ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelValue {
    tag: u8,
    expires_at: i64,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Put,
    Stored(bool),
    Value(Option<u8>),
    Removed(bool),
}

/// The reference state: values by key number.
#[derive(Debug, Clone)]
pub(crate) struct StateModel {
    now: i64,
    values: BTreeMap<usize, ModelValue>,
    expect: Expect,
}

impl StateModel {
    fn live(&self, key: usize) -> Option<ModelValue> {
        self.values
            .get(&key)
            .copied()
            .filter(|v| self.now < v.expires_at)
    }
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    Put { key: usize, tag: u8, ttl_ms: i64 },
    PutIfAbsent { key: usize, tag: u8, ttl_ms: i64 },
    Get(usize),
    Remove(usize),
}

#[derive(Debug)]
pub(crate) struct StateReference;

impl ReferenceStateMachine for StateReference {
    type State = StateModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<StateModel> {
        Just(StateModel {
            now: 0,
            values: BTreeMap::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &StateModel) -> BoxedStrategy<Transition> {
        let deadlines: Vec<i64> = state.values.values().map(|v| v.expires_at).collect();
        let write = (0..KEYS, any::<u8>(), select(&TTLS_MS[..]));
        prop_oneof![
            2 => advance_ms(state.now, deadlines).prop_map(Transition::AdvanceClock),
            2 => write.clone().prop_map(|(key, tag, ttl_ms)| Transition::Put { key, tag, ttl_ms }),
            2 => write.prop_map(|(key, tag, ttl_ms)| Transition::PutIfAbsent { key, tag, ttl_ms }),
            3 => (0..KEYS).prop_map(Transition::Get),
            1 => (0..KEYS).prop_map(Transition::Remove),
        ]
        .boxed()
    }

    fn apply(mut state: StateModel, transition: &Transition) -> StateModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::Put { key, tag, ttl_ms } => {
                state.values.insert(
                    key,
                    ModelValue {
                        tag,
                        expires_at: now + ttl_ms,
                    },
                );
                Expect::Put
            }
            Transition::PutIfAbsent { key, tag, ttl_ms } => {
                let absent = state.live(key).is_none();
                if absent {
                    state.values.insert(
                        key,
                        ModelValue {
                            tag,
                            expires_at: now + ttl_ms,
                        },
                    );
                }
                Expect::Stored(absent)
            }
            Transition::Get(key) => Expect::Value(state.live(key).map(|v| v.tag)),
            Transition::Remove(key) => {
                let live = state.live(key).is_some();
                state.values.remove(&key);
                Expect::Removed(live)
            }
        };
        state
    }
}

fn value(tag: u8) -> Vec<u8> {
    format!("state-{tag}").into_bytes()
}

#[derive(Debug)]
pub(crate) struct StateTest;

impl StateMachineTest for StateTest {
    type SystemUnderTest = World;
    type Reference = StateReference;

    fn init_test(_: &StateModel) -> World {
        World::enter()
    }

    fn apply(world: World, model: &StateModel, step: Transition) -> World {
        let store = world.stores.state.clone();
        let key = |k: usize| world.key(&format!("irsm-{k}"));
        let ttl = |ms: i64| Duration::from_millis(ms.unsigned_abs());
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (
                Transition::Put {
                    key: k,
                    tag,
                    ttl_ms,
                },
                Expect::Put,
            ) => {
                answer(
                    &step,
                    world.run(store.put(&key(*k), value(*tag), ttl(*ttl_ms))),
                );
            }
            (
                Transition::PutIfAbsent {
                    key: k,
                    tag,
                    ttl_ms,
                },
                Expect::Stored(expected),
            ) => {
                let actual = world.run(store.put_if_absent(&key(*k), value(*tag), ttl(*ttl_ms)));
                check(&step, expected, &answer(&step, actual));
            }
            (Transition::Get(k), Expect::Value(expected)) => {
                let actual = answer(&step, world.run(store.get(&key(*k))));
                check(&step, &expected.map(value), &actual);
            }
            (Transition::Remove(k), Expect::Removed(expected)) => {
                let actual = answer(&step, world.run(store.remove(&key(*k))));
                check(&step, expected, &actual);
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        world
    }
}
