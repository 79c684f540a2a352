//! The [`RevocationStore`](authstate_core::RevocationStore) model.
//!
//! The change feed is checked for what the contract fixes: every successful `revoke`
//! and `revoke_subject` once, in call order, with strictly increasing `seq`, pages no
//! longer than the limit, and cursors that resume. A change whose `until` has passed
//! may be missing (purge removes such changes with their revocation, and a backend
//! may let them expire from the feed); one still in force never may. The `until` and
//! `before` a change carries are not compared: the contract does not say whether a
//! change shows the values passed or the ones kept after merging with an earlier
//! revocation.

use std::collections::BTreeMap;

use authstate_core::codec::IndexKey;
use authstate_core::{
    ErrorKind, REVOCATION_SRI_DOMAIN, REVOCATION_SUBJECT_DOMAIN, RevocationTarget,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{TTLS_MS, World, advance_ms, answer, broken, check, check_result};

const SRIS: usize = 4;
const SUBJECTS: [&str; 2] = ["alice", "bob"];

/// What a change in the feed revoked, in model terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelTarget {
    Session(usize),
    Subject(usize),
}

/// A subject revocation as the model keeps it (times in model ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubjectCutoff {
    before: i64,
    until: i64,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Revoked(Result<(), ErrorKind>),
    SubjectRevoked,
    IsRevoked(bool),
    /// The feed, each change marked with whether it must still be listed.
    Changes(Vec<(ModelTarget, bool)>),
}

/// The reference state.
#[derive(Debug, Clone)]
pub(crate) struct RevocationModel {
    now: i64,
    sris: BTreeMap<usize, i64>,
    subjects: BTreeMap<usize, SubjectCutoff>,
    /// Every successful revocation, in call order, with the `until` it was made with.
    feed: Vec<(ModelTarget, i64)>,
    expect: Expect,
}

impl RevocationModel {
    fn live_sri(&self, sri: usize) -> Option<i64> {
        self.sris
            .get(&sri)
            .copied()
            .filter(|&until| self.now < until)
    }

    fn live_subject(&self, subject: usize) -> Option<SubjectCutoff> {
        self.subjects
            .get(&subject)
            .copied()
            .filter(|c| self.now < c.until)
    }
}

/// One step. Times are model times.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    Revoke {
        sri: usize,
        until: i64,
    },
    RevokeSubject {
        subject: usize,
        before: i64,
        until: i64,
    },
    IsRevoked {
        sri: usize,
        subject: usize,
        issued_at: i64,
    },
    ChangesSince {
        limit: usize,
    },
}

#[derive(Debug)]
pub(crate) struct RevocationReference;

impl ReferenceStateMachine for RevocationReference {
    type State = RevocationModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<RevocationModel> {
        Just(RevocationModel {
            now: 0,
            sris: BTreeMap::new(),
            subjects: BTreeMap::new(),
            feed: Vec::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &RevocationModel) -> BoxedStrategy<Transition> {
        let now = state.now;
        let deadlines: Vec<i64> = state
            .sris
            .values()
            .copied()
            .chain(state.subjects.values().map(|c| c.until))
            .collect();
        // Issue times around now and exactly at, and 1 ms before, every stored cutoff.
        let mut issued: Vec<i64> = vec![now - 2000, now - 1, now];
        issued.extend(
            state
                .subjects
                .values()
                .flat_map(|c| [c.before - 1, c.before]),
        );
        let revoke = (0..SRIS, select(vec![-1i64, 0, 60_000, 61_000, 120_000])).prop_map(
            move |(sri, offset)| Transition::Revoke {
                sri,
                until: now + offset,
            },
        );
        let revoke_subject = (
            0..SUBJECTS.len(),
            select(vec![-60_000i64, -1, 0, 1, 60_000]),
            select(TTLS_MS.to_vec()),
        )
            .prop_map(move |(subject, before, until)| Transition::RevokeSubject {
                subject,
                before: now + before,
                until: now + until,
            });
        let is_revoked =
            (0..SRIS, 0..SUBJECTS.len(), select(issued)).prop_map(|(sri, subject, issued_at)| {
                Transition::IsRevoked {
                    sri,
                    subject,
                    issued_at,
                }
            });
        prop_oneof![
            2 => advance_ms(now, deadlines).prop_map(Transition::AdvanceClock),
            3 => revoke,
            2 => revoke_subject,
            4 => is_revoked,
            1 => (1..=4usize).prop_map(|limit| Transition::ChangesSince { limit }),
        ]
        .boxed()
    }

    fn preconditions(state: &RevocationModel, transition: &Transition) -> bool {
        match transition {
            // The contract names no refusal for revoke_subject, so the model only
            // makes valid ones.
            Transition::RevokeSubject { until, .. } => *until > state.now,
            _ => true,
        }
    }

    fn apply(mut state: RevocationModel, transition: &Transition) -> RevocationModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::Revoke { sri, until } => {
                if until <= now {
                    Expect::Revoked(Err(ErrorKind::InvalidInput))
                } else {
                    // Never shortens a live revocation.
                    let kept = state.live_sri(sri).map_or(until, |u| u.max(until));
                    state.sris.insert(sri, kept);
                    state.feed.push((ModelTarget::Session(sri), until));
                    Expect::Revoked(Ok(()))
                }
            }
            Transition::RevokeSubject {
                subject,
                before,
                until,
            } => {
                let kept = match state.live_subject(subject) {
                    Some(c) => SubjectCutoff {
                        before: c.before.max(before),
                        until: c.until.max(until),
                    },
                    None => SubjectCutoff { before, until },
                };
                state.subjects.insert(subject, kept);
                state.feed.push((ModelTarget::Subject(subject), until));
                Expect::SubjectRevoked
            }
            Transition::IsRevoked {
                sri,
                subject,
                issued_at,
            } => Expect::IsRevoked(
                state.live_sri(sri).is_some()
                    || state
                        .live_subject(subject)
                        .is_some_and(|c| issued_at < c.before),
            ),
            Transition::ChangesSince { .. } => Expect::Changes(
                state
                    .feed
                    .iter()
                    .map(|&(target, until)| (target, now < until))
                    .collect(),
            ),
        };
        state
    }
}

/// The system under test: the run's world and where the feed stood when it started
/// (earlier runs in the same namespace left their changes before it).
#[derive(Debug)]
pub(crate) struct RevocationSut {
    world: World,
    start: u64,
}

impl RevocationSut {
    fn sri(&self, k: usize) -> String {
        self.world.key(&format!("sri-{k}"))
    }

    fn subject(&self, k: usize) -> String {
        self.world.key(SUBJECTS[k])
    }

    fn hash_of(&self, target: ModelTarget) -> (bool, IndexKey) {
        match target {
            ModelTarget::Session(k) => (
                false,
                self.world
                    .config
                    .hash(REVOCATION_SRI_DOMAIN, self.sri(k).as_bytes()),
            ),
            ModelTarget::Subject(k) => (
                true,
                self.world
                    .config
                    .hash(REVOCATION_SUBJECT_DOMAIN, self.subject(k).as_bytes()),
            ),
        }
    }
}

#[derive(Debug)]
pub(crate) struct RevocationTest;

impl StateMachineTest for RevocationTest {
    type SystemUnderTest = RevocationSut;
    type Reference = RevocationReference;

    fn init_test(_: &RevocationModel) -> RevocationSut {
        let world = World::enter();
        let mut start = world.feed_cursor();
        loop {
            let page = world.run(world.stores.revocations.changes_since(start, 1000));
            let page = answer(&"reading the feed before the run", page);
            if page.changes.is_empty() {
                break;
            }
            start = page.cursor;
        }
        world.set_feed_cursor(start);
        RevocationSut { world, start }
    }

    fn apply(sut: RevocationSut, model: &RevocationModel, step: Transition) -> RevocationSut {
        let world = &sut.world;
        let revocations = world.stores.revocations.clone();
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (Transition::Revoke { sri, until }, Expect::Revoked(expected)) => {
                let actual = world.run(revocations.revoke(&sut.sri(*sri), world.at(*until)));
                check_result(&step, expected, &actual);
            }
            (
                Transition::RevokeSubject {
                    subject,
                    before,
                    until,
                },
                Expect::SubjectRevoked,
            ) => {
                let actual = world.run(revocations.revoke_subject(
                    &sut.subject(*subject),
                    world.at(*before),
                    world.at(*until),
                ));
                answer(&step, actual);
            }
            (
                Transition::IsRevoked {
                    sri,
                    subject,
                    issued_at,
                },
                Expect::IsRevoked(expected),
            ) => {
                let actual = world.run(revocations.is_revoked(
                    &sut.sri(*sri),
                    &sut.subject(*subject),
                    world.at(*issued_at),
                ));
                check(&step, expected, &answer(&step, actual));
            }
            (Transition::ChangesSince { limit }, Expect::Changes(expected)) => {
                let mut cursor = sut.start;
                let mut last_seq = sut.start;
                let mut seen = Vec::new();
                loop {
                    let page = answer(&step, world.run(revocations.changes_since(cursor, *limit)));
                    if page.changes.len() > *limit {
                        broken(&step, &format!("at most {limit} changes"), &page);
                    }
                    let Some(last) = page.changes.last() else {
                        check(&step, &cursor, &page.cursor);
                        break;
                    };
                    check(&step, &last.seq, &page.cursor);
                    for change in &page.changes {
                        if change.seq <= last_seq {
                            broken(&step, &"strictly increasing seq", &page);
                        }
                        last_seq = change.seq;
                        seen.push(match change.target {
                            RevocationTarget::Session(hash) => (false, hash),
                            RevocationTarget::Subject { subject, .. } => (true, subject),
                        });
                    }
                    cursor = page.cursor;
                }
                // Name the hashes the feed holds, so a mismatch reads as targets.
                let known: Vec<ModelTarget> = (0..SRIS)
                    .map(ModelTarget::Session)
                    .chain((0..SUBJECTS.len()).map(ModelTarget::Subject))
                    .collect();
                let seen: Vec<Option<ModelTarget>> = seen
                    .into_iter()
                    .map(|h| known.iter().copied().find(|t| sut.hash_of(*t) == h))
                    .collect();
                if !is_listing(expected, &seen) {
                    broken(
                        &step,
                        &format!("in order, (target, must be listed): {expected:?}"),
                        &seen,
                    );
                }
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        sut
    }
}

/// Whether `seen` is `expected` in order, leaving out only changes not marked as
/// required. Matched by dynamic programming, since one target can appear many times
/// and a greedy match could pair a change with the wrong one of them.
fn is_listing(expected: &[(ModelTarget, bool)], seen: &[Option<ModelTarget>]) -> bool {
    let (n, m) = (expected.len(), seen.len());
    // fits[i][j]: expected[i..] can produce exactly seen[j..].
    let mut fits = vec![vec![false; m + 1]; n + 1];
    fits[n][m] = true;
    for i in (0..n).rev() {
        let (target, required) = expected[i];
        for j in (0..=m).rev() {
            let skipped = !required && fits[i + 1][j];
            let matched = j < m && seen[j] == Some(target) && fits[i + 1][j + 1];
            fits[i][j] = skipped || matched;
        }
    }
    fits[0][0]
}
