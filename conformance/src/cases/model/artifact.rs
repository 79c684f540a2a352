//! The [`ArtifactStore`](authstate_core::ArtifactStore) model.

use std::collections::BTreeMap;
use std::time::Duration;

use authstate_core::{ErrorKind, Take};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{TTLS_MS, World, advance_ms, answer, check, check_result};

const HANDLES: usize = 4;

/// An artifact as the model keeps it (times in model ms).
#[derive(Debug, Clone)]
pub(crate) struct ModelArtifact {
    tag: u8,
    expires_at: i64,
    taken_at: Option<i64>,
}

/// What a take should return, in model terms.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ModelTake {
    Fresh(u8),
    Replayed(i64),
    Unknown,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Put(Result<(), ErrorKind>),
    Take(ModelTake),
}

/// The reference state: artifacts by handle number.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactModel {
    now: i64,
    artifacts: BTreeMap<usize, ModelArtifact>,
    expect: Expect,
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    Put { handle: usize, tag: u8, ttl_ms: i64 },
    Take(usize),
}

#[derive(Debug)]
pub(crate) struct ArtifactReference;

impl ReferenceStateMachine for ArtifactReference {
    type State = ArtifactModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<ArtifactModel> {
        Just(ArtifactModel {
            now: 0,
            artifacts: BTreeMap::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &ArtifactModel) -> BoxedStrategy<Transition> {
        let deadlines: Vec<i64> = state.artifacts.values().map(|a| a.expires_at).collect();
        prop_oneof![
            2 => advance_ms(state.now, deadlines).prop_map(Transition::AdvanceClock),
            3 => (0..HANDLES, any::<u8>(), select(&TTLS_MS[..]))
                .prop_map(|(handle, tag, ttl_ms)| Transition::Put { handle, tag, ttl_ms }),
            4 => (0..HANDLES).prop_map(Transition::Take),
        ]
        .boxed()
    }

    fn apply(mut state: ArtifactModel, transition: &Transition) -> ArtifactModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::Put {
                handle,
                tag,
                ttl_ms,
            } => match state.artifacts.get(&handle) {
                // Live, taken or not: a taken handle stays reserved until its expiry.
                Some(a) if now < a.expires_at => Expect::Put(Err(ErrorKind::AlreadyExists)),
                _ => {
                    state.artifacts.insert(
                        handle,
                        ModelArtifact {
                            tag,
                            expires_at: now + ttl_ms,
                            taken_at: None,
                        },
                    );
                    Expect::Put(Ok(()))
                }
            },
            Transition::Take(handle) => Expect::Take(match state.artifacts.get_mut(&handle) {
                Some(a) if now < a.expires_at => match a.taken_at {
                    Some(taken_at) => ModelTake::Replayed(taken_at),
                    None => {
                        a.taken_at = Some(now);
                        ModelTake::Fresh(a.tag)
                    }
                },
                _ => ModelTake::Unknown,
            }),
        };
        state
    }
}

fn payload(tag: u8) -> Vec<u8> {
    format!("artifact-{tag}").into_bytes()
}

#[derive(Debug)]
pub(crate) struct ArtifactTest;

impl StateMachineTest for ArtifactTest {
    type SystemUnderTest = World;
    type Reference = ArtifactReference;

    fn init_test(_: &ArtifactModel) -> World {
        World::enter()
    }

    fn apply(world: World, model: &ArtifactModel, step: Transition) -> World {
        let artifacts = world.stores.artifacts.clone();
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (
                Transition::Put {
                    handle,
                    tag,
                    ttl_ms,
                },
                Expect::Put(expected),
            ) => {
                let handle = world.key(&format!("code-{handle}"));
                let ttl = Duration::from_millis(ttl_ms.unsigned_abs());
                let actual = world.run(artifacts.put(&handle, payload(*tag), ttl));
                check_result(&step, expected, &actual);
            }
            (Transition::Take(handle), Expect::Take(expected)) => {
                let handle = world.key(&format!("code-{handle}"));
                let actual = answer(&step, world.run(artifacts.take(&handle)));
                let expected = match *expected {
                    ModelTake::Fresh(tag) => Take::Fresh(payload(tag)),
                    ModelTake::Replayed(t) => Take::Replayed {
                        taken_at: world.at(t),
                    },
                    ModelTake::Unknown => Take::Unknown,
                };
                check(&step, &expected, &actual);
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        world
    }
}
