//! The [`TokenStore`](authstate_core::TokenStore) model.
//!
//! The model never inserts a token value again while its revoked record has not
//! expired: the contract says only that a *live* value is `AlreadyExists`, and leaves
//! open whether a revoked one still reserves its value (token values are random, so
//! no caller does this). Everything else, including re-insert after expiry, is modelled.

use std::collections::BTreeMap;
use std::time::Duration;

use authstate_core::{ErrorKind, NewToken, TokenRecord};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use super::{TTLS_MS, World, advance_ms, answer, check, check_result};

const TOKENS: usize = 4;
const SUBJECTS: [&str; 2] = ["alice", "bob"];
const CLIENTS: [&str; 2] = ["client-a", "client-b"];
const GRANTS: usize = 2;

/// A token as the model keeps it (times in model ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelToken {
    subject: usize,
    client: usize,
    grant: Option<usize>,
    tag: u8,
    issued_at: i64,
    expires_at: i64,
    revoked: bool,
}

/// What the model predicts for the last step.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Nothing,
    Inserted(Result<ModelToken, ErrorKind>),
    Read(Option<ModelToken>),
    Revoked(bool),
    Count(u64),
}

/// The reference state: tokens by token number.
#[derive(Debug, Clone)]
pub(crate) struct TokenModel {
    now: i64,
    tokens: BTreeMap<usize, ModelToken>,
    expect: Expect,
}

impl TokenModel {
    fn is_active(&self, t: &ModelToken) -> bool {
        !t.revoked && self.now < t.expires_at
    }

    /// Whether the model may insert token `k` now (see the module docs).
    fn may_insert(&self, k: usize) -> bool {
        self.tokens
            .get(&k)
            .is_none_or(|t| !t.revoked || self.now >= t.expires_at)
    }

    /// Revokes every active token matching `matches`; returns how many.
    fn revoke_where(&mut self, matches: impl Fn(&ModelToken) -> bool) -> u64 {
        let now = self.now;
        let mut count = 0;
        for t in self.tokens.values_mut() {
            if !t.revoked && now < t.expires_at && matches(t) {
                t.revoked = true;
                count += 1;
            }
        }
        count
    }
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Transition {
    AdvanceClock(i64),
    Insert {
        token: usize,
        subject: usize,
        client: usize,
        grant: Option<usize>,
        tag: u8,
        ttl_ms: i64,
    },
    Get(usize),
    Revoke(usize),
    RevokeByGrant(usize),
    RevokeBySubject(usize),
    RevokeBySubjectAndClient(usize, usize),
}

#[derive(Debug)]
pub(crate) struct TokenReference;

impl ReferenceStateMachine for TokenReference {
    type State = TokenModel;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<TokenModel> {
        Just(TokenModel {
            now: 0,
            tokens: BTreeMap::new(),
            expect: Expect::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &TokenModel) -> BoxedStrategy<Transition> {
        let deadlines: Vec<i64> = state
            .tokens
            .values()
            .filter(|t| state.is_active(t))
            .map(|t| t.expires_at)
            .collect();
        let mut options: Vec<(u32, BoxedStrategy<Transition>)> = vec![
            (
                2,
                advance_ms(state.now, deadlines)
                    .prop_map(Transition::AdvanceClock)
                    .boxed(),
            ),
            (3, (0..TOKENS).prop_map(Transition::Get).boxed()),
            (2, (0..TOKENS).prop_map(Transition::Revoke).boxed()),
            (1, (0..GRANTS).prop_map(Transition::RevokeByGrant).boxed()),
            (
                1,
                (0..SUBJECTS.len())
                    .prop_map(Transition::RevokeBySubject)
                    .boxed(),
            ),
            (
                1,
                (0..SUBJECTS.len(), 0..CLIENTS.len())
                    .prop_map(|(s, c)| Transition::RevokeBySubjectAndClient(s, c))
                    .boxed(),
            ),
        ];
        let insertable: Vec<usize> = (0..TOKENS).filter(|&k| state.may_insert(k)).collect();
        if !insertable.is_empty() {
            let insert = (
                select(insertable),
                0..SUBJECTS.len(),
                0..CLIENTS.len(),
                prop_oneof![Just(None), (0..GRANTS).prop_map(Some)],
                any::<u8>(),
                select(&TTLS_MS[..]),
            )
                .prop_map(|(token, subject, client, grant, tag, ttl_ms)| {
                    Transition::Insert {
                        token,
                        subject,
                        client,
                        grant,
                        tag,
                        ttl_ms,
                    }
                });
            options.push((4, insert.boxed()));
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &TokenModel, transition: &Transition) -> bool {
        match transition {
            Transition::Insert { token, .. } => state.may_insert(*token),
            _ => true,
        }
    }

    fn apply(mut state: TokenModel, transition: &Transition) -> TokenModel {
        let now = state.now;
        state.expect = match *transition {
            Transition::AdvanceClock(ms) => {
                state.now += ms;
                Expect::Nothing
            }
            Transition::Insert {
                token,
                subject,
                client,
                grant,
                tag,
                ttl_ms,
            } => Expect::Inserted(match state.tokens.get(&token) {
                Some(t) if state.is_active(t) => Err(ErrorKind::AlreadyExists),
                _ => {
                    let t = ModelToken {
                        subject,
                        client,
                        grant,
                        tag,
                        issued_at: now,
                        expires_at: now + ttl_ms,
                        revoked: false,
                    };
                    state.tokens.insert(token, t.clone());
                    Ok(t)
                }
            }),
            Transition::Get(token) => Expect::Read(
                state
                    .tokens
                    .get(&token)
                    .filter(|t| state.is_active(t))
                    .cloned(),
            ),
            Transition::Revoke(token) => Expect::Revoked(match state.tokens.get_mut(&token) {
                Some(t) if !t.revoked && now < t.expires_at => {
                    t.revoked = true;
                    true
                }
                _ => false,
            }),
            Transition::RevokeByGrant(grant) => {
                Expect::Count(state.revoke_where(|t| t.grant == Some(grant)))
            }
            Transition::RevokeBySubject(subject) => {
                Expect::Count(state.revoke_where(|t| t.subject == subject))
            }
            Transition::RevokeBySubjectAndClient(subject, client) => {
                Expect::Count(state.revoke_where(|t| t.subject == subject && t.client == client))
            }
        };
        state
    }
}

#[derive(Debug)]
pub(crate) struct TokenTest;

fn token_data(tag: u8) -> Vec<u8> {
    format!("scope=openid tag={tag}").into_bytes()
}

impl TokenTest {
    fn grant(world: &World, g: usize) -> String {
        world.key(&format!("grant-{g}"))
    }

    fn record(world: &World, t: &ModelToken) -> TokenRecord {
        TokenRecord {
            subject: world.key(SUBJECTS[t.subject]),
            client_id: CLIENTS[t.client].to_string(),
            grant_id: t.grant.map(|g| Self::grant(world, g)),
            data: token_data(t.tag),
            issued_at: world.at(t.issued_at),
            expires_at: world.at(t.expires_at),
        }
    }
}

impl StateMachineTest for TokenTest {
    type SystemUnderTest = World;
    type Reference = TokenReference;

    fn init_test(_: &TokenModel) -> World {
        World::enter()
    }

    fn apply(world: World, model: &TokenModel, step: Transition) -> World {
        let tokens = world.stores.tokens.clone();
        let token = |k: usize| world.key(&format!("token-{k}"));
        match (&step, &model.expect) {
            (Transition::AdvanceClock(ms), _) => world.advance(*ms),
            (
                Transition::Insert {
                    token: k,
                    subject,
                    client,
                    grant,
                    tag,
                    ttl_ms,
                },
                Expect::Inserted(expected),
            ) => {
                let new = NewToken {
                    subject: world.key(SUBJECTS[*subject]),
                    client_id: CLIENTS[*client].to_string(),
                    grant_id: grant.map(|g| Self::grant(&world, g)),
                    data: token_data(*tag),
                    ttl: Duration::from_millis(ttl_ms.unsigned_abs()),
                };
                let actual = world.run(tokens.insert(&token(*k), new));
                let expected = expected
                    .as_ref()
                    .map(|t| Self::record(&world, t))
                    .map_err(|e| *e);
                check_result(&step, &expected, &actual);
            }
            (Transition::Get(k), Expect::Read(expected)) => {
                let actual = answer(&step, world.run(tokens.get(&token(*k))));
                check(
                    &step,
                    &expected.as_ref().map(|t| Self::record(&world, t)),
                    &actual,
                );
            }
            (Transition::Revoke(k), Expect::Revoked(expected)) => {
                let actual = answer(&step, world.run(tokens.revoke(&token(*k))));
                check(&step, expected, &actual);
            }
            (Transition::RevokeByGrant(g), Expect::Count(expected)) => {
                let actual = world.run(tokens.revoke_by_grant(&Self::grant(&world, *g)));
                check(&step, expected, &answer(&step, actual));
            }
            (Transition::RevokeBySubject(s), Expect::Count(expected)) => {
                let actual = world.run(tokens.revoke_by_subject(&world.key(SUBJECTS[*s])));
                check(&step, expected, &answer(&step, actual));
            }
            (Transition::RevokeBySubjectAndClient(s, c), Expect::Count(expected)) => {
                let subject = world.key(SUBJECTS[*s]);
                let actual = world.run(tokens.revoke_by_subject_and_client(&subject, CLIENTS[*c]));
                check(&step, expected, &answer(&step, actual));
            }
            (step, expect) => unreachable!("the model predicted {expect:?} for {step:?}"),
        }
        world
    }
}
