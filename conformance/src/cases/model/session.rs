//! The [`SessionStore`](authstate_core::SessionStore) model.
//!
//! Session ids are made by the store, so the model names them by the order they were
//! handed out: id `k` is the `k`-th id that `create` or `rotate_id` returned in this run.
//! An id keeps pointing at its session after a rotation (marked not current), so the
//! model can also use old ids and predict that they no longer work.

use std::time::Duration;

use authstate_core::{ErrorKind, NewSession, SessionId, SessionRecord};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{World, advance_ms, answer, broken, check, check_result};

const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];
/// Lifetimes and idle timeouts at least a minute long (see `TTLS_MS`), idle timeouts
/// both shorter and longer than the lifetimes.
const LIFETIMES_MS: [i64; 3] = [60_000, 61_000, 120_000];
const IDLE_TIMEOUTS_MS: [Option<i64>; 4] = [None, Some(60_000), Some(90_000), Some(150_000)];

/// A session as the model keeps it (times in model ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelSession {
    subject: usize,
    data: u8,
    created_at: i64,
    last_activity: i64,
    expires_at: i64,
    idle_timeout: Option<i64>,
    version: u64,
    /// Deleted (by `delete` or `delete_by_subject`).
    ended: bool,
}

impl ModelSession {
    fn expiry(&self) -> i64 {
        match self.idle_timeout {
            Some(idle) => self.expires_at.min(self.last_activity + idle),
            None => self.expires_at,
        }
    }

    fn is_live(&self, now: i64) -> bool {
        !self.ended && now < self.expiry()
    }
}

/// An id handed out: the session it named, and whether it still names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdSlot {
    session: usize,
    current: bool,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Created(ModelSession),
    Read(Option<ModelSession>),
    Written(Result<ModelSession, ErrorKind>),
    Deleted(bool),
    Listed(Vec<ModelSession>),
    Count(u64),
}

/// The reference state.
#[derive(Debug, Clone)]
pub(crate) struct SessionModel {
    now: i64,
    sessions: Vec<ModelSession>,
    ids: Vec<IdSlot>,
    expect: Expect,
}

impl SessionModel {
    /// The live session id `k` names, if any.
    fn live(&self, k: usize) -> Option<usize> {
        let slot = self.ids.get(k)?;
        (slot.current && self.sessions[slot.session].is_live(self.now)).then_some(slot.session)
    }

    fn live_of(&self, subject: usize) -> Vec<usize> {
        (0..self.sessions.len())
            .filter(|&s| self.sessions[s].subject == subject && self.sessions[s].is_live(self.now))
            .collect()
    }
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    Create {
        subject: usize,
        data: u8,
        lifetime_ms: i64,
        idle_timeout_ms: Option<i64>,
    },
    Get(usize),
    Touch(usize),
    Update {
        id: usize,
        expected_version: u64,
        data: u8,
    },
    RotateId(usize),
    Delete(usize),
    ListBySubject(usize),
    DeleteBySubject(usize),
}

#[derive(Debug)]
pub(crate) struct SessionReference;

impl ReferenceStateMachine for SessionReference {
    type State = SessionModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<SessionModel> {
        Just(SessionModel {
            now: 0,
            sessions: Vec::new(),
            ids: Vec::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &SessionModel) -> BoxedStrategy<Transition> {
        let deadlines: Vec<i64> = state
            .sessions
            .iter()
            .filter(|s| s.is_live(state.now))
            .map(ModelSession::expiry)
            .collect();
        let advance = advance_ms(state.now, deadlines).prop_map(Transition::AdvanceClock);
        let create = (
            0..SUBJECTS.len(),
            any::<u8>(),
            select(&LIFETIMES_MS[..]),
            select(&IDLE_TIMEOUTS_MS[..]),
        )
            .prop_map(
                |(subject, data, lifetime_ms, idle_timeout_ms)| Transition::Create {
                    subject,
                    data,
                    lifetime_ms,
                    idle_timeout_ms,
                },
            );
        let subject = 0..SUBJECTS.len();
        if state.ids.is_empty() {
            return prop_oneof![
                2 => advance,
                4 => create,
                1 => subject.clone().prop_map(Transition::ListBySubject),
                1 => subject.prop_map(Transition::DeleteBySubject),
            ]
            .boxed();
        }
        let n = state.ids.len();
        // The version each id's session has now: an update with it should succeed
        // if the session is live, one with a neighbour should conflict.
        let versions: Vec<u64> = state
            .ids
            .iter()
            .map(|slot| state.sessions[slot.session].version)
            .collect();
        let update = (0..n, 0..4u8, any::<u8>()).prop_map(move |(id, pick, data)| {
            let current = versions[id];
            let expected_version = match pick {
                0 | 1 => current,
                2 => current.saturating_sub(1),
                _ => current + 1,
            };
            Transition::Update {
                id,
                expected_version,
                data,
            }
        });
        prop_oneof![
            3 => advance,
            3 => create,
            3 => (0..n).prop_map(Transition::Get),
            2 => (0..n).prop_map(Transition::Touch),
            3 => update,
            2 => (0..n).prop_map(Transition::RotateId),
            2 => (0..n).prop_map(Transition::Delete),
            2 => subject.clone().prop_map(Transition::ListBySubject),
            1 => subject.prop_map(Transition::DeleteBySubject),
        ]
        .boxed()
    }

    fn preconditions(state: &SessionModel, transition: &Transition) -> bool {
        match transition {
            Transition::Get(k)
            | Transition::Touch(k)
            | Transition::RotateId(k)
            | Transition::Delete(k)
            | Transition::Update { id: k, .. } => *k < state.ids.len(),
            _ => true,
        }
    }

    fn apply(mut state: SessionModel, transition: &Transition) -> SessionModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::Create {
                subject,
                data,
                lifetime_ms,
                idle_timeout_ms,
            } => {
                let session = ModelSession {
                    subject,
                    data,
                    created_at: now,
                    last_activity: now,
                    expires_at: now + lifetime_ms,
                    idle_timeout: idle_timeout_ms,
                    version: 1,
                    ended: false,
                };
                state.sessions.push(session.clone());
                state.ids.push(IdSlot {
                    session: state.sessions.len() - 1,
                    current: true,
                });
                Expect::Created(session)
            }
            Transition::Get(k) => Expect::Read(state.live(k).map(|s| state.sessions[s].clone())),
            Transition::Touch(k) => Expect::Read(state.live(k).map(|s| {
                state.sessions[s].last_activity = now;
                state.sessions[s].clone()
            })),
            Transition::Update {
                id,
                expected_version,
                data,
            } => Expect::Written(match state.live(id) {
                None => Err(ErrorKind::NotFound),
                Some(s) if state.sessions[s].version != expected_version => {
                    Err(ErrorKind::Conflict)
                }
                Some(s) => {
                    state.sessions[s].data = data;
                    state.sessions[s].version += 1;
                    Ok(state.sessions[s].clone())
                }
            }),
            Transition::RotateId(k) => Expect::Written(match state.live(k) {
                None => Err(ErrorKind::NotFound),
                Some(s) => {
                    state.ids[k].current = false;
                    state.ids.push(IdSlot {
                        session: s,
                        current: true,
                    });
                    Ok(state.sessions[s].clone())
                }
            }),
            Transition::Delete(k) => Expect::Deleted(match state.live(k) {
                None => false,
                Some(s) => {
                    state.sessions[s].ended = true;
                    true
                }
            }),
            Transition::ListBySubject(subject) => Expect::Listed(
                state
                    .live_of(subject)
                    .into_iter()
                    .map(|s| state.sessions[s].clone())
                    .collect(),
            ),
            Transition::DeleteBySubject(subject) => {
                let live = state.live_of(subject);
                for &s in &live {
                    state.sessions[s].ended = true;
                }
                Expect::Count(live.len() as u64)
            }
        };
        state
    }
}

/// The system under test: the run's world and the ids the store handed out, in order.
#[derive(Debug)]
pub(crate) struct SessionSut {
    world: World,
    ids: Vec<SessionId>,
}

impl SessionSut {
    fn record(&self, m: &ModelSession) -> SessionRecord {
        SessionRecord {
            subject: self.world.key(SUBJECTS[m.subject]),
            data: data(m.data),
            created_at: self.world.at(m.created_at),
            last_activity: self.world.at(m.last_activity),
            expires_at: self.world.at(m.expires_at),
            idle_timeout: m.idle_timeout.map(millis),
            version: m.version,
        }
    }

    fn records(&self, list: &[ModelSession]) -> Vec<SessionRecord> {
        let mut records: Vec<SessionRecord> = list.iter().map(|m| self.record(m)).collect();
        sort(&mut records);
        records
    }

    /// Keeps a newly handed-out id, after checking it is new.
    fn push_id(&mut self, step: &Transition, id: SessionId) {
        if self.ids.contains(&id) {
            broken(step, &"a new session id", &"an id handed out before");
        }
        self.ids.push(id);
    }
}

fn data(tag: u8) -> Vec<u8> {
    format!("session-data-{tag}").into_bytes()
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms.unsigned_abs())
}

/// Puts records in one order whatever order the store listed them in (the contract
/// promises none). The order is total over every field: two records that differ in
/// any field never tie, so the expected and the listed vectors compare equal exactly
/// when they hold the same records. A partial order would leave ties in the store's
/// order, which is random: two sessions created in the same millisecond that differ
/// only in their idle timeout would then fail the case now and then.
fn sort(records: &mut [SessionRecord]) {
    // Destructured without `..`: a field added to `SessionRecord` fails to compile
    // here instead of quietly becoming a tie.
    fn key(r: &SessionRecord) -> impl Ord + '_ {
        let SessionRecord {
            subject,
            data,
            created_at,
            last_activity,
            expires_at,
            idle_timeout,
            version,
        } = r;
        (
            created_at,
            last_activity,
            expires_at,
            idle_timeout,
            version,
            data,
            subject,
        )
    }
    records.sort_by(|a, b| key(a).cmp(&key(b)));
}

#[derive(Debug)]
pub(crate) struct SessionTest;

impl StateMachineTest for SessionTest {
    type SystemUnderTest = SessionSut;
    type Reference = SessionReference;

    fn init_test(_: &SessionModel) -> SessionSut {
        SessionSut {
            world: World::enter(),
            ids: Vec::new(),
        }
    }

    fn apply(mut sut: SessionSut, model: &SessionModel, step: Transition) -> SessionSut {
        let sessions = sut.world.stores.sessions.clone();
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => sut.world.advance(*ms),
            (
                Transition::Create {
                    subject,
                    data: tag,
                    lifetime_ms,
                    idle_timeout_ms,
                },
                Expect::Created(expected),
            ) => {
                let new = NewSession {
                    subject: sut.world.key(SUBJECTS[*subject]),
                    data: data(*tag),
                    lifetime: millis(*lifetime_ms),
                    idle_timeout: idle_timeout_ms.map(millis),
                };
                let created = answer(&step, sut.world.run(sessions.create(new)));
                check(&step, &sut.record(expected), &created.record);
                sut.push_id(&step, created.id);
            }
            (Transition::Get(k), Expect::Read(expected)) => {
                let actual = answer(&step, sut.world.run(sessions.get(&sut.ids[*k])));
                check(&step, &expected.as_ref().map(|m| sut.record(m)), &actual);
            }
            (Transition::Touch(k), Expect::Read(expected)) => {
                let actual = answer(&step, sut.world.run(sessions.touch(&sut.ids[*k])));
                check(&step, &expected.as_ref().map(|m| sut.record(m)), &actual);
            }
            (
                Transition::Update {
                    id,
                    expected_version,
                    data: tag,
                },
                Expect::Written(expected),
            ) => {
                let actual =
                    sut.world
                        .run(sessions.update(&sut.ids[*id], *expected_version, data(*tag)));
                check_result(
                    &step,
                    &expected.as_ref().map(|m| sut.record(m)).map_err(|k| *k),
                    &actual,
                );
            }
            (Transition::RotateId(k), Expect::Written(expected)) => {
                let actual = sut.world.run(sessions.rotate_id(&sut.ids[*k]));
                let actual = actual.map(|s| (s.id, s.record));
                let expected = expected.as_ref().map(|m| sut.record(m)).map_err(|k| *k);
                let actual_record = actual
                    .as_ref()
                    .map(|(_, r)| r.clone())
                    .map_err(|e| e.kind());
                if expected != actual_record {
                    broken(&step, &expected, &actual_record);
                }
                if let Ok((id, _)) = actual {
                    sut.push_id(&step, id);
                }
            }
            (Transition::Delete(k), Expect::Deleted(expected)) => {
                let actual = answer(&step, sut.world.run(sessions.delete(&sut.ids[*k])));
                check(&step, expected, &actual);
            }
            (Transition::ListBySubject(subject), Expect::Listed(expected)) => {
                let subject = sut.world.key(SUBJECTS[*subject]);
                let listed = answer(&step, sut.world.run(sessions.list_by_subject(&subject)));
                let mut hashes: Vec<_> = listed.iter().map(|s| s.id_hash).collect();
                hashes.sort_unstable();
                hashes.dedup();
                if hashes.len() != listed.len() {
                    broken(&step, &"each session listed once", &listed);
                }
                let mut actual: Vec<SessionRecord> = listed.into_iter().map(|s| s.record).collect();
                sort(&mut actual);
                check(&step, &sut.records(expected), &actual);
            }
            (Transition::DeleteBySubject(subject), Expect::Count(expected)) => {
                let subject = sut.world.key(SUBJECTS[*subject]);
                let actual = answer(&step, sut.world.run(sessions.delete_by_subject(&subject)));
                check(&step, expected, &actual);
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        sut
    }
}
