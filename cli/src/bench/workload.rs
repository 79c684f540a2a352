//! The workloads: what one unit of work does, store call by store call.
//!
//! Every store call goes through [`Unit::step`], which times it under its [`Op`] name.
//! Outcomes a correct store never gives (a fresh code that is not `Fresh`, a new session
//! that cannot be read) are counted as errors of that operation, so a bench is also a
//! sanity check of the backend.

use std::time::Duration;

use authstate::{
    Clock as _, LockoutPolicy, NewSession, NewToken, Participant, Replay, Stores, SystemClock,
    Take, Timestamp,
};
use clap::ValueEnum;

use super::runner::Unit;

/// The absolute lifetime of a bench session.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The idle timeout of a bench session.
const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long PAR request URIs and authorization codes live (RFC 6749 §4.1.2 advises
/// at most ten minutes for codes).
const ARTIFACT_TTL: Duration = Duration::from_secs(60);
/// How long a client assertion's `jti` must be remembered (its `exp`).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a reference access token lives.
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The client of every bench login.
const CLIENT_ID: &str = "bench-client";

/// What `authstate bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// One login flow per iteration: lockout status, session create, PAR put, code put and
    /// take, client assertion replay check, token insert and get, session touch, then
    /// logout (registry register and remove_all, revocation revoke, session delete).
    Login,
    /// Session life cycles of 7 operations: create, get, touch, update, rotate_id,
    /// list_by_subject, delete_by_subject.
    Sessions,
    /// One-time artifacts, 3 operations each: put, take (fresh), take again (replayed).
    Artifacts,
    /// Replay cache, 2 operations per id: check_and_record (fresh), again (replayed).
    Replay,
    /// Lockout counters, 4 operations per account: record_failure twice, status, reset.
    Lockout,
    /// Reference tokens, 4 operations each: insert, get, revoke, get (gone).
    Tokens,
}

impl Workload {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Login => "login",
            Workload::Sessions => "sessions",
            Workload::Artifacts => "artifacts",
            Workload::Replay => "replay",
            Workload::Lockout => "lockout",
            Workload::Tokens => "tokens",
        }
    }

    /// The operations a unit makes, in the order it makes them first.
    pub fn ops(self) -> &'static [Op] {
        use Op::*;
        match self {
            Workload::Login => &[
                LockoutStatus,
                SessionCreate,
                ArtifactPut,
                ArtifactTake,
                ReplayCheckAndRecord,
                TokenInsert,
                TokenGet,
                SessionTouch,
                RegistryRegister,
                RegistryRemoveAll,
                RevocationRevoke,
                SessionDelete,
            ],
            Workload::Sessions => &[
                SessionCreate,
                SessionGet,
                SessionTouch,
                SessionUpdate,
                SessionRotateId,
                SessionListBySubject,
                SessionDeleteBySubject,
            ],
            Workload::Artifacts => &[ArtifactPut, ArtifactTake],
            Workload::Replay => &[ReplayCheckAndRecord],
            Workload::Lockout => &[LockoutRecordFailure, LockoutStatus, LockoutReset],
            Workload::Tokens => &[TokenInsert, TokenGet, TokenRevoke],
        }
    }

    /// Store calls per unit when `--ops` counts operations; `None` when it counts login
    /// flows.
    pub fn ops_per_unit(self) -> Option<u64> {
        match self {
            Workload::Login => None,
            Workload::Sessions => Some(7),
            Workload::Artifacts => Some(3),
            Workload::Replay => Some(2),
            Workload::Lockout | Workload::Tokens => Some(4),
        }
    }
}

/// A timed store operation, named `contract.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    LockoutStatus,
    LockoutRecordFailure,
    LockoutReset,
    SessionCreate,
    SessionGet,
    SessionTouch,
    SessionUpdate,
    SessionRotateId,
    SessionListBySubject,
    SessionDelete,
    SessionDeleteBySubject,
    ArtifactPut,
    ArtifactTake,
    ReplayCheckAndRecord,
    TokenInsert,
    TokenGet,
    TokenRevoke,
    RegistryRegister,
    RegistryRemoveAll,
    RevocationRevoke,
}

impl Op {
    /// How many operations there are (the recorder keeps one slot each).
    pub const COUNT: usize = Op::RevocationRevoke as usize + 1;

    /// The slot of this operation.
    pub fn index(self) -> usize {
        self as usize
    }

    /// `contract.method`, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::LockoutStatus => "lockout.status",
            Op::LockoutRecordFailure => "lockout.record_failure",
            Op::LockoutReset => "lockout.reset",
            Op::SessionCreate => "session.create",
            Op::SessionGet => "session.get",
            Op::SessionTouch => "session.touch",
            Op::SessionUpdate => "session.update",
            Op::SessionRotateId => "session.rotate_id",
            Op::SessionListBySubject => "session.list_by_subject",
            Op::SessionDelete => "session.delete",
            Op::SessionDeleteBySubject => "session.delete_by_subject",
            Op::ArtifactPut => "artifact.put",
            Op::ArtifactTake => "artifact.take",
            Op::ReplayCheckAndRecord => "replay.check_and_record",
            Op::TokenInsert => "token.insert",
            Op::TokenGet => "token.get",
            Op::TokenRevoke => "token.revoke",
            Op::RegistryRegister => "registry.register",
            Op::RegistryRemoveAll => "registry.remove_all",
            Op::RevocationRevoke => "revocation.revoke",
        }
    }
}

/// What every unit of a run shares: the stores and the run's data.
#[derive(Debug)]
pub struct Bench {
    stores: Stores,
    payload: Vec<u8>,
    /// A random prefix for every handle, subject and id of this run, so that runs
    /// against a shared backend never meet each other's records.
    run_id: String,
    policy: LockoutPolicy,
}

impl Bench {
    /// A run over `stores` with payloads of `payload_bytes`.
    pub fn new(stores: Stores, payload_bytes: usize) -> authstate::Result<Self> {
        let mut run = [0u8; 4];
        authstate::id::random_bytes(&mut run)?;
        Ok(Bench {
            stores,
            payload: vec![0x5a; payload_bytes],
            run_id: run.iter().map(|b| format!("{b:02x}")).collect(),
            policy: LockoutPolicy::default(),
        })
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.stores.backend
    }

    /// Runs unit `n` of `workload`.
    pub async fn run_unit(&self, workload: Workload, n: u64, unit: &mut Unit<'_>) {
        match workload {
            Workload::Login => self.login(n, unit).await,
            Workload::Sessions => self.sessions(n, unit).await,
            Workload::Artifacts => self.artifacts(n, unit).await,
            Workload::Replay => self.replay(n, unit).await,
            Workload::Lockout => self.lockout(n, unit).await,
            Workload::Tokens => self.tokens(n, unit).await,
        }
    }

    /// A name unique to this run, unit and purpose.
    fn name(&self, n: u64, what: &str) -> String {
        format!("bench-{}-{n}-{what}", self.run_id)
    }

    fn new_session(&self, subject: &str) -> NewSession {
        NewSession {
            subject: subject.to_owned(),
            data: self.payload.clone(),
            lifetime: SESSION_LIFETIME,
            idle_timeout: Some(SESSION_IDLE_TIMEOUT),
        }
    }

    fn new_token(&self, subject: &str, grant: String) -> NewToken {
        NewToken {
            subject: subject.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            grant_id: Some(grant),
            data: self.payload.clone(),
            ttl: TOKEN_TTL,
        }
    }

    /// One login, as an OpenID provider with PAR, private_key_jwt client authentication
    /// and reference tokens sees it, and the logout that ends it.
    async fn login(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores;
        let user = self.name(n, "user");

        // The login form: is the account locked?
        if let Some(status) = unit.step(Op::LockoutStatus, s.lockout.status(&user)).await {
            let locked = status.is_locked_at(now());
            unit.expect(Op::LockoutStatus, !locked, "a new account is locked");
        }
        let new = self.new_session(&user);
        let Some(session) = unit.step(Op::SessionCreate, s.sessions.create(new)).await else {
            return;
        };

        // Pushed authorization request, then the authorization code.
        let par = format!("urn:ietf:params:oauth:request_uri:{}", self.name(n, "par"));
        let put = s.artifacts.put(&par, self.payload.clone(), ARTIFACT_TTL);
        unit.step(Op::ArtifactPut, put).await;
        let code = self.name(n, "code");
        let put = s.artifacts.put(&code, self.payload.clone(), ARTIFACT_TTL);
        unit.step(Op::ArtifactPut, put).await;

        // The token request: redeem the code, check the client assertion's jti, issue.
        if let Some(take) = unit.step(Op::ArtifactTake, s.artifacts.take(&code)).await {
            let fresh = matches!(take, Take::Fresh(_));
            unit.expect(Op::ArtifactTake, fresh, "a new code was not Fresh");
        }
        let jti = self.name(n, "jti");
        let not_after = now().saturating_add(ASSERTION_LIFETIME);
        let check = s.replay.check_and_record(&jti, not_after);
        if let Some(replay) = unit.step(Op::ReplayCheckAndRecord, check).await {
            let fresh = replay == Replay::Fresh;
            unit.expect(Op::ReplayCheckAndRecord, fresh, "a new jti was not Fresh");
        }
        let token = self.name(n, "token");
        let new = self.new_token(&user, code);
        unit.step(Op::TokenInsert, s.tokens.insert(&token, new))
            .await;

        // The resource server introspects; the user comes back to the OP.
        if let Some(found) = unit.step(Op::TokenGet, s.tokens.get(&token)).await {
            unit.expect(Op::TokenGet, found.is_some(), "a new token was not found");
        }
        if let Some(found) = unit
            .step(Op::SessionTouch, s.sessions.touch(&session.id))
            .await
        {
            unit.expect(
                Op::SessionTouch,
                found.is_some(),
                "a live session was not found",
            );
        }

        // Logout: who takes part, tell them, revoke the session, end it.
        let sid = self.name(n, "sid");
        let participant = Participant {
            session_ref: sid.clone(),
            partner_id: CLIENT_ID.to_owned(),
            session_index: Some(format!("_{n}")),
            expires_at: session.record.expires_at,
        };
        let register = s.registry.register(&user, participant);
        unit.step(Op::RegistryRegister, register).await;
        if let Some(removed) = unit
            .step(Op::RegistryRemoveAll, s.registry.remove_all(&user))
            .await
        {
            let one = removed.len() == 1;
            unit.expect(Op::RegistryRemoveAll, one, "not exactly one participant");
        }
        let revoke = s.revocations.revoke(&sid, session.record.expires_at);
        unit.step(Op::RevocationRevoke, revoke).await;
        if let Some(deleted) = unit
            .step(Op::SessionDelete, s.sessions.delete(&session.id))
            .await
        {
            unit.expect(Op::SessionDelete, deleted, "a live session was not deleted");
        }
    }

    async fn sessions(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores.sessions;
        let user = self.name(n, "user");
        let new = self.new_session(&user);
        let Some(session) = unit.step(Op::SessionCreate, s.create(new)).await else {
            return;
        };
        if let Some(found) = unit.step(Op::SessionGet, s.get(&session.id)).await {
            unit.expect(
                Op::SessionGet,
                found.is_some(),
                "a new session was not found",
            );
        }
        if let Some(found) = unit.step(Op::SessionTouch, s.touch(&session.id)).await {
            unit.expect(
                Op::SessionTouch,
                found.is_some(),
                "a live session was not found",
            );
        }
        let version = session.record.version;
        let update = s.update(&session.id, version, self.payload.clone());
        if let Some(updated) = unit.step(Op::SessionUpdate, update).await {
            let next = updated.version == version + 1;
            unit.expect(Op::SessionUpdate, next, "the version did not go up by 1");
        }
        if unit
            .step(Op::SessionRotateId, s.rotate_id(&session.id))
            .await
            .is_none()
        {
            return;
        }
        if let Some(listed) = unit
            .step(Op::SessionListBySubject, s.list_by_subject(&user))
            .await
        {
            let one = listed.len() == 1;
            unit.expect(Op::SessionListBySubject, one, "not exactly one session");
        }
        let delete = s.delete_by_subject(&user);
        if let Some(deleted) = unit.step(Op::SessionDeleteBySubject, delete).await {
            let one = deleted == 1;
            unit.expect(
                Op::SessionDeleteBySubject,
                one,
                "not exactly one session ended",
            );
        }
    }

    async fn artifacts(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores.artifacts;
        let code = self.name(n, "code");
        let put = s.put(&code, self.payload.clone(), ARTIFACT_TTL);
        if unit.step(Op::ArtifactPut, put).await.is_none() {
            return;
        }
        if let Some(take) = unit.step(Op::ArtifactTake, s.take(&code)).await {
            let fresh = take == Take::Fresh(self.payload.clone());
            unit.expect(
                Op::ArtifactTake,
                fresh,
                "the first take was not Fresh(payload)",
            );
        }
        if let Some(take) = unit.step(Op::ArtifactTake, s.take(&code)).await {
            let replayed = matches!(take, Take::Replayed { .. });
            unit.expect(
                Op::ArtifactTake,
                replayed,
                "the second take was not Replayed",
            );
        }
    }

    async fn replay(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores.replay;
        let jti = self.name(n, "jti");
        let not_after = now().saturating_add(ASSERTION_LIFETIME);
        let op = Op::ReplayCheckAndRecord;
        if let Some(first) = unit.step(op, s.check_and_record(&jti, not_after)).await {
            unit.expect(op, first == Replay::Fresh, "a new id was not Fresh");
        }
        if let Some(again) = unit.step(op, s.check_and_record(&jti, not_after)).await {
            unit.expect(op, again == Replay::Replayed, "a seen id was not Replayed");
        }
    }

    async fn lockout(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores.lockout;
        let account = self.name(n, "user");
        let op = Op::LockoutRecordFailure;
        for expected in 1..=2 {
            let Some(status) = unit
                .step(op, s.record_failure(&account, &self.policy))
                .await
            else {
                return;
            };
            unit.expect(op, status.failures == expected, "a failure was not counted");
        }
        if let Some(status) = unit.step(Op::LockoutStatus, s.status(&account)).await {
            let two = status.failures == 2;
            unit.expect(Op::LockoutStatus, two, "not two failures");
        }
        unit.step(Op::LockoutReset, s.reset(&account)).await;
    }

    async fn tokens(&self, n: u64, unit: &mut Unit<'_>) {
        let s = &self.stores.tokens;
        let token = self.name(n, "token");
        let new = self.new_token(&self.name(n, "user"), self.name(n, "grant"));
        if unit
            .step(Op::TokenInsert, s.insert(&token, new))
            .await
            .is_none()
        {
            return;
        }
        if let Some(found) = unit.step(Op::TokenGet, s.get(&token)).await {
            unit.expect(Op::TokenGet, found.is_some(), "a new token was not found");
        }
        if let Some(revoked) = unit.step(Op::TokenRevoke, s.revoke(&token)).await {
            unit.expect(Op::TokenRevoke, revoked, "a live token was not revoked");
        }
        if let Some(found) = unit.step(Op::TokenGet, s.get(&token)).await {
            unit.expect(Op::TokenGet, found.is_none(), "a revoked token was found");
        }
    }
}

fn now() -> Timestamp {
    SystemClock.now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_its_own_slot_and_name() {
        let ops: Vec<Op> = [
            Workload::Login,
            Workload::Sessions,
            Workload::Artifacts,
            Workload::Replay,
            Workload::Lockout,
            Workload::Tokens,
        ]
        .iter()
        .flat_map(|w| w.ops().iter().copied())
        .collect();
        for op in &ops {
            assert!(op.index() < Op::COUNT);
            let (contract, method) = op.name().split_once('.').expect("contract.method");
            assert!(!contract.is_empty() && !method.is_empty());
        }
        let mut names: Vec<_> = ops.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Op::COUNT, "every op is used by some workload");
    }
}
