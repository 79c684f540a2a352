//! The `purge` cases: the `purge_*` bullets of [`Purge`](authstate_core::Purge), each
//! run across every purgeable contract, plus the `LastActivity` criterion and the
//! artifact tombstone.
//!
//! Purge is observable only through its report and through reads, so the cases count:
//! a record kept by one purge is proved kept when a later purge deletes (and counts) it.

use std::collections::BTreeMap;
use std::time::Duration;

use authstate_core::{
    Contract, ErrorKind, LockoutPolicy, LockoutStatus, NewToken, Participant, PurgeCriterion,
    PurgePolicy, PurgeReport, Replay, SessionId, Stores, Take, Timestamp,
};

use super::session::{plus_ms, session_with};
#[allow(unused_imports)]
use crate::{CaseError, CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_purge {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] purge:
            purge_removes_expired_records,
            purge_never_removes_live_records,
            purge_keeps_records_within_offset,
            purge_runs_in_batches,
            purge_last_activity_removes_idle_sessions,
            purge_keeps_artifact_tombstone_until_expiry,
        }
    };
}
crate::__authstate_cases_purge!(list);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// One record in each of the eight purgeable contracts, all ending at `ends_at`, named
/// after `tag`.
#[derive(Debug)]
pub(crate) struct Seed {
    pub(crate) tag: String,
    pub(crate) session: SessionId,
    pub(crate) ends_at: Timestamp,
}

impl Seed {
    pub(crate) fn subject(&self) -> String {
        format!("subject-{}", self.tag)
    }
    pub(crate) fn handle(&self) -> String {
        format!("code-{}", self.tag)
    }
    pub(crate) fn state_key(&self) -> String {
        format!("state-{}", self.tag)
    }
    pub(crate) fn jti(&self) -> String {
        format!("jti-{}", self.tag)
    }
    pub(crate) fn lockout_key(&self) -> String {
        format!("user-{}", self.tag)
    }
    pub(crate) fn sri(&self) -> String {
        format!("sri-{}", self.tag)
    }
    pub(crate) fn token(&self) -> String {
        format!("token-{}", self.tag)
    }
    pub(crate) fn grant(&self) -> String {
        format!("grant-{}", self.tag)
    }
    pub(crate) fn session_ref(&self) -> String {
        format!("sref-{}", self.tag)
    }
}

/// Creates one record of every purgeable contract, each living `ttl` from now.
pub(crate) async fn seed(
    ctx: &Ctx,
    stores: &Stores,
    tag: &str,
    ttl: Duration,
) -> Result<Seed, CaseError> {
    let now = ctx.now();
    let ends_at = now.saturating_add(ttl);
    let subject = format!("subject-{tag}");
    let session = stores
        .sessions
        .create(session_with(&subject, tag.as_bytes(), ttl, None))
        .await?;
    let s = Seed {
        tag: tag.to_string(),
        session: session.id,
        ends_at,
    };
    stores
        .artifacts
        .put(&s.handle(), tag.as_bytes().to_vec(), ttl)
        .await?;
    stores
        .state
        .put(&s.state_key(), tag.as_bytes().to_vec(), ttl)
        .await?;
    if stores.replay.check_and_record(&s.jti(), ends_at).await? != Replay::Fresh {
        return fail(format!("seeding {tag}: a new replay id was not Fresh"));
    }
    let policy = LockoutPolicy {
        max_failures: 5,
        failure_window: ttl,
        lockout_duration: ttl,
    };
    let status = stores
        .lockout
        .record_failure(&s.lockout_key(), &policy)
        .await?;
    if status.failures != 1 {
        return fail(format!(
            "seeding {tag}: a first failure counted {}",
            status.failures
        ));
    }
    stores.revocations.revoke(&s.sri(), ends_at).await?;
    stores
        .tokens
        .insert(
            &s.token(),
            NewToken {
                subject: subject.clone(),
                client_id: "client".to_string(),
                grant_id: Some(s.grant()),
                data: tag.as_bytes().to_vec(),
                ttl,
            },
        )
        .await?;
    stores
        .registry
        .register(
            &subject,
            Participant {
                session_ref: s.session_ref(),
                partner_id: "sp".to_string(),
                session_index: Some(format!("idx-{tag}")),
                expires_at: ends_at,
            },
        )
        .await?;
    Ok(s)
}

/// Seeds `n` tags `prefix0..prefix{n-1}`, all living `ttl`.
pub(crate) async fn seed_many(
    ctx: &Ctx,
    stores: &Stores,
    prefix: &str,
    n: usize,
    ttl: Duration,
) -> Result<Vec<Seed>, CaseError> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(seed(ctx, stores, &format!("{prefix}{i}"), ttl).await?);
    }
    Ok(out)
}

/// Checks, without changing anything, that every record of `s` is still live.
pub(crate) async fn assert_live(stores: &Stores, s: &Seed, what: &str) -> CaseResult {
    let tag = &s.tag;
    if stores.sessions.get(&s.session).await?.is_none() {
        return fail(format!("{what}: the session of {tag} is gone"));
    }
    // A live handle refuses a new put, and the refused put changes nothing.
    if let Err(e) = Ctx::expect_kind(
        stores
            .artifacts
            .put(&s.handle(), b"probe".to_vec(), MINUTE)
            .await,
        ErrorKind::AlreadyExists,
    ) {
        return fail(format!(
            "{what}: the artifact of {tag} is gone (a put over it: {e})"
        ));
    }
    if stores.state.get(&s.state_key()).await?.is_none() {
        return fail(format!("{what}: the state value of {tag} is gone"));
    }
    // A `Replayed` answer never changes the entry.
    if stores.replay.check_and_record(&s.jti(), s.ends_at).await? != Replay::Replayed {
        return fail(format!("{what}: the replay entry of {tag} is gone"));
    }
    if stores.lockout.status(&s.lockout_key()).await?.failures != 1 {
        return fail(format!("{what}: the lockout counter of {tag} is gone"));
    }
    let now_issued = Timestamp::from_millis(0);
    if !stores
        .revocations
        .is_revoked(&s.sri(), "nobody", now_issued)
        .await?
    {
        return fail(format!("{what}: the revocation of {tag} is gone"));
    }
    if stores.tokens.get(&s.token()).await?.is_none() {
        return fail(format!("{what}: the token of {tag} is gone"));
    }
    let listed = stores.registry.participants(&s.subject()).await?;
    if !listed.iter().any(|p| p.session_ref == s.session_ref()) {
        return fail(format!("{what}: the registry participant of {tag} is gone"));
    }
    Ok(())
}

/// Checks that no read returns any record of `s`. Replay has no read that leaves an
/// absent id absent, so with `probe_replay` its check records the id again (a new live
/// entry): use it only as a case's last step.
pub(crate) async fn assert_gone(
    stores: &Stores,
    now: Timestamp,
    s: &Seed,
    what: &str,
    probe_replay: bool,
) -> CaseResult {
    let tag = &s.tag;
    if let Some(r) = stores.sessions.get(&s.session).await? {
        return fail(format!("{what}: the session of {tag} was returned: {r:?}"));
    }
    if !stores
        .sessions
        .list_by_subject(&s.subject())
        .await?
        .is_empty()
    {
        return fail(format!("{what}: the session of {tag} was listed"));
    }
    match stores.artifacts.take(&s.handle()).await? {
        Take::Unknown => {}
        other => {
            return fail(format!(
                "{what}: the artifact of {tag} was returned: {other:?}"
            ));
        }
    }
    if let Some(v) = stores.state.get(&s.state_key()).await? {
        return fail(format!(
            "{what}: the state value of {tag} was returned: {v:?}"
        ));
    }
    if probe_replay
        && stores
            .replay
            .check_and_record(&s.jti(), plus_ms(now, 60_000))
            .await?
            != Replay::Fresh
    {
        return fail(format!(
            "{what}: the replay entry of {tag} still answers Replayed"
        ));
    }
    let status = stores.lockout.status(&s.lockout_key()).await?;
    if status != LockoutStatus::default() {
        return fail(format!(
            "{what}: the lockout counter of {tag} was returned: {status:?}"
        ));
    }
    if stores
        .revocations
        .is_revoked(&s.sri(), "nobody", Timestamp::from_millis(0))
        .await?
    {
        return fail(format!(
            "{what}: the revocation of {tag} still says revoked"
        ));
    }
    if let Some(r) = stores.tokens.get(&s.token()).await? {
        return fail(format!("{what}: the token of {tag} was returned: {r:?}"));
    }
    let listed = stores.registry.participants(&s.subject()).await?;
    if !listed.is_empty() {
        return fail(format!(
            "{what}: registry participants of {tag} were returned: {listed:?}"
        ));
    }
    Ok(())
}

/// Purges every purgeable store with `policy`, checking each report is coherent.
pub(crate) async fn purge_all(
    stores: &Stores,
    policy: &PurgePolicy,
) -> Result<BTreeMap<Contract, PurgeReport>, CaseError> {
    let mut out = BTreeMap::new();
    for (contract, store) in stores.purgeable() {
        let r = store.purge(policy).await?;
        if r.examined < r.deleted {
            return fail(format!(
                "{contract} purge deleted {} but examined {}",
                r.deleted, r.examined
            ));
        }
        if r.deleted > u64::from(r.batches) * u64::from(policy.batch_size) {
            return fail(format!(
                "{contract} purge deleted {} in {} batches of at most {}: a batch was too big",
                r.deleted, r.batches, policy.batch_size
            ));
        }
        if let Some(max) = policy.max_batches
            && r.batches > max
        {
            return fail(format!(
                "{contract} purge ran {} batches, over max_batches {max}",
                r.batches
            ));
        }
        out.insert(contract, r);
    }
    Ok(out)
}

/// Checks each contract's `deleted` count: `expected` per contract, `default` for the rest.
pub(crate) fn expect_deleted(
    reports: &BTreeMap<Contract, PurgeReport>,
    default: u64,
    expected: &[(Contract, u64)],
    what: &str,
) -> CaseResult {
    let mut wrong = Vec::new();
    for (contract, r) in reports {
        let want = expected
            .iter()
            .find(|(c, _)| c == contract)
            .map_or(default, |(_, n)| *n);
        if r.deleted != want {
            wrong.push(format!(
                "{contract}: deleted {}, expected {want}",
                r.deleted
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        fail(format!("{what}: {}", wrong.join("; ")))
    }
}

fn policy(offset: Duration) -> PurgePolicy {
    PurgePolicy {
        offset,
        ..PurgePolicy::default()
    }
}

/// `purge_removes_expired_records`
pub async fn purge_removes_expired_records(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let offset = 5 * MINUTE;
    let dead = seed_many(&ctx, &stores, "dead", 3, MINUTE).await?;
    // Dead in other ways: a session ended by its idle timeout, a taken artifact (its
    // tombstone ends with the original expiry), a subject revocation.
    let idle = stores
        .sessions
        .create(session_with("idle-subject", b"idle", HOUR, Some(MINUTE)))
        .await?;
    match stores.artifacts.take(&dead[0].handle()).await? {
        Take::Fresh(_) => {}
        other => return fail(format!("the first take was not Fresh: {other:?}")),
    }
    let now = ctx.now();
    stores
        .revocations
        .revoke_subject("revoked-subject", now, now.saturating_add(MINUTE))
        .await?;

    // "At least offset in the past": exactly offset past the expiry is due.
    ctx.advance(MINUTE + offset);
    let reports = purge_all(&stores, &policy(offset)).await?;
    expect_deleted(
        &reports,
        3,
        &[(Contract::Session, 4), (Contract::Revocation, 4)],
        "purge at exactly offset past the expiry",
    )?;
    let again = purge_all(&stores, &policy(offset)).await?;
    expect_deleted(
        &again,
        0,
        &[],
        "a second purge found records the first had deleted",
    )?;

    let now = ctx.now();
    if stores.sessions.get(&idle.id).await?.is_some() {
        return fail("the idle-expired session was returned after purge");
    }
    if stores
        .revocations
        .is_revoked("any-sri", "revoked-subject", Timestamp::from_millis(0))
        .await?
    {
        return fail("the expired subject revocation still says revoked after purge");
    }
    for s in &dead {
        assert_gone(&stores, now, s, "after purge", true).await?;
    }
    Ok(())
}

/// `purge_never_removes_live_records`
pub async fn purge_never_removes_live_records(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // No offset: the edge between dead and live is the expiry itself.
    let no_offset = policy(Duration::ZERO);
    let t0 = ctx.now();
    let dead = seed(&ctx, &stores, "dead", 10 * MINUTE).await?;
    let edge = seed(
        &ctx,
        &stores,
        "edge",
        10 * MINUTE + Duration::from_millis(1),
    )
    .await?;
    let long = seed(&ctx, &stores, "long", 2 * HOUR).await?;

    // Live in less obvious ways.
    // A session created long before, kept alive by touches.
    let touched = stores
        .sessions
        .create(session_with("touched", b"t", HOUR, Some(3 * MINUTE)))
        .await?;
    // A counter whose failure window has passed but whose lock has not.
    let lock_policy = LockoutPolicy {
        max_failures: 1,
        failure_window: MINUTE,
        lockout_duration: HOUR,
    };
    stores
        .lockout
        .record_failure("locked-user", &lock_policy)
        .await?;
    // A taken artifact: its tombstone lives until the original expiry.
    stores
        .artifacts
        .put("taken-code", b"c".to_vec(), HOUR)
        .await?;
    stores.artifacts.take("taken-code").await?;
    // A subject revocation.
    stores
        .revocations
        .revoke_subject("revoked-subject", t0, t0.saturating_add(HOUR))
        .await?;
    // A subject with one dead and one live participant.
    stores
        .registry
        .register(
            &long.subject(),
            Participant {
                session_ref: "short-ref".to_string(),
                partner_id: "sp2".to_string(),
                session_index: None,
                expires_at: t0.saturating_add(10 * MINUTE),
            },
        )
        .await?;

    let nothing = purge_all(&stores, &no_offset).await?;
    expect_deleted(&nothing, 0, &[], "a purge with nothing expired")?;

    for _ in 0..5 {
        ctx.advance(2 * MINUTE);
        if stores.sessions.touch(&touched.id).await?.is_none() {
            return fail("the touched session expired while being touched");
        }
    }
    // Now `dead` expired exactly now; `edge` expires in 1 ms.
    let reports = purge_all(&stores, &no_offset).await?;
    expect_deleted(
        &reports,
        1,
        &[(Contract::Registry, 2)],
        "a purge with offset 0 at the dead records' expiry",
    )?;

    assert_live(&stores, &edge, "1 ms before its expiry, after purge").await?;
    assert_live(&stores, &long, "after purge").await?;
    if stores.sessions.get(&touched.id).await?.is_none() {
        return fail("purge removed a session kept alive by touches");
    }
    if !stores
        .lockout
        .status("locked-user")
        .await?
        .is_locked_at(ctx.now())
    {
        return fail("purge removed a locked counter whose failure window had passed");
    }
    match stores.artifacts.take("taken-code").await? {
        Take::Replayed { .. } => {}
        other => {
            return fail(format!(
                "purge removed a live artifact tombstone: take gave {other:?}"
            ));
        }
    }
    if !stores
        .revocations
        .is_revoked("any-sri", "revoked-subject", plus_ms(t0, -1))
        .await?
    {
        return fail("purge removed a live subject revocation");
    }
    let listed = stores.registry.participants(&long.subject()).await?;
    if listed.len() != 1 || listed[0].session_ref != long.session_ref() {
        return fail(format!(
            "purge removed the wrong participant of a subject: {listed:?}"
        ));
    }

    // 1 ms later `edge` is dead too, and nothing else.
    ctx.advance_ms(1);
    let reports = purge_all(&stores, &no_offset).await?;
    expect_deleted(&reports, 1, &[], "a purge at the edge records' expiry")?;
    assert_live(&stores, &long, "after the second purge").await?;
    let now = ctx.now();
    assert_gone(&stores, now, &edge, "after its expiry and purge", true).await?;
    assert_gone(&stores, now, &dead, "after its expiry and purge", true).await
}

/// `purge_keeps_records_within_offset`
pub async fn purge_keeps_records_within_offset(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let standard = PurgePolicy::default();
    let dead = seed_many(&ctx, &stores, "dead", 2, MINUTE).await?;
    let live = seed(&ctx, &stores, "live", 2 * HOUR).await?;

    // Expired 1 ms less than the offset ago: kept.
    ctx.advance(MINUTE + standard.offset - Duration::from_millis(1));
    let reports = purge_all(&stores, &standard).await?;
    expect_deleted(
        &reports,
        0,
        &[],
        "a purge 1 ms before the offset had passed",
    )?;
    // Kept, yet never returned (replay is checked at the end: its probe records).
    let now = ctx.now();
    for s in &dead {
        assert_gone(&stores, now, s, "expired within the offset", false).await?;
    }

    // The records were really kept: the purge 1 ms later finds and counts them.
    ctx.advance_ms(1);
    let reports = purge_all(&stores, &standard).await?;
    expect_deleted(&reports, 2, &[], "a purge once the offset had passed")?;
    assert_live(&stores, &live, "after purge").await?;
    let now = ctx.now();
    for s in &dead {
        assert_gone(&stores, now, s, "after purge", true).await?;
    }
    Ok(())
}

/// `purge_runs_in_batches`
pub async fn purge_runs_in_batches(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    const DEAD: u64 = 7;
    const BATCH: u32 = 3;
    let dead = seed_many(&ctx, &stores, "dead", DEAD as usize, MINUTE).await?;
    let live = seed_many(&ctx, &stores, "live", 2, 2 * HOUR).await?;
    ctx.advance(2 * MINUTE);
    let one_batch = PurgePolicy {
        batch_size: BATCH,
        criterion: PurgeCriterion::Expiry,
        offset: Duration::ZERO,
        max_batches: Some(1),
    };
    let mut total: BTreeMap<Contract, u64> = BTreeMap::new();
    // Two runs of one batch each: each deletes something, and no more than a batch.
    for run in 1..=2 {
        let reports = purge_all(&stores, &one_batch).await?;
        for (contract, r) in &reports {
            if r.deleted == 0 || r.deleted > u64::from(BATCH) {
                return fail(format!(
                    "{contract}: run {run} with max_batches 1 and batch_size {BATCH} deleted {} \
                     of the {DEAD} due records (expected 1..={BATCH})",
                    r.deleted
                ));
            }
            *total.entry(*contract).or_default() += r.deleted;
        }
    }
    for s in &live {
        assert_live(&stores, s, "after limited purges").await?;
    }
    // An unlimited run finishes the rest, still in batches of at most `BATCH`.
    let rest = purge_all(
        &stores,
        &PurgePolicy {
            max_batches: None,
            ..one_batch
        },
    )
    .await?;
    for (contract, r) in &rest {
        let before = total.get(contract).copied().unwrap_or(0);
        if before + r.deleted != DEAD {
            return fail(format!(
                "{contract}: the limited runs deleted {before} and the unlimited one {}, \
                 expected {DEAD} in all",
                r.deleted
            ));
        }
        let needed = (r.deleted).div_ceil(u64::from(BATCH));
        if u64::from(r.batches) < needed {
            return fail(format!(
                "{contract}: {} records deleted in {} batches of at most {BATCH}",
                r.deleted, r.batches
            ));
        }
    }
    let after = purge_all(
        &stores,
        &PurgePolicy {
            max_batches: None,
            ..one_batch
        },
    )
    .await?;
    expect_deleted(&after, 0, &[], "a purge after everything due was deleted")?;
    for s in &live {
        assert_live(&stores, s, "after the unlimited purge").await?;
    }
    let now = ctx.now();
    for s in &dead {
        assert_gone(&stores, now, s, "after purge", true).await?;
    }
    Ok(())
}

/// `purge_last_activity_removes_idle_sessions`
pub async fn purge_last_activity_removes_idle_sessions(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max_idle = 30 * MINUTE;
    let offset = 5 * MINUTE;
    let cap = PurgePolicy {
        criterion: PurgeCriterion::LastActivity { max_idle },
        offset,
        ..PurgePolicy::default()
    };
    // Sessions without an idle timeout: only the operator's cap ends them early.
    let idle = stores
        .sessions
        .create(session_with("alice", b"idle", 24 * HOUR, None))
        .await?;
    let active = stores
        .sessions
        .create(session_with("bob", b"active", 24 * HOUR, None))
        .await?;
    // Other contracts treat the criterion as `Expiry`.
    let dead = seed(&ctx, &stores, "dead", MINUTE).await?;
    let live = seed(&ctx, &stores, "live", 2 * HOUR).await?;

    ctx.advance(20 * MINUTE);
    for id in [&active.id, &live.session] {
        if stores.sessions.touch(id).await?.is_none() {
            return fail("a live session could not be touched");
        }
    }
    // 1 ms before max_idle + offset since the idle session's last activity.
    ctx.advance(max_idle + offset - 20 * MINUTE - Duration::from_millis(1));
    let reports = purge_all(&stores, &cap).await?;
    expect_deleted(
        &reports,
        1,
        &[],
        "a LastActivity purge before the idle cap: only the expired records",
    )?;
    if stores.sessions.get(&idle.id).await?.is_none() {
        return fail("the idle session was removed before max_idle + offset had passed");
    }

    ctx.advance_ms(2);
    // By expiry alone the idle session is live: an `Expiry` purge must keep it.
    let reports = purge_all(&stores, &policy(offset)).await?;
    expect_deleted(
        &reports,
        0,
        &[],
        "an Expiry purge with only live records left",
    )?;
    if stores.sessions.get(&idle.id).await?.is_none() {
        return fail("an Expiry purge removed a live session");
    }
    let reports = purge_all(&stores, &cap).await?;
    expect_deleted(
        &reports,
        0,
        &[(Contract::Session, 1)],
        "a LastActivity purge past the idle cap",
    )?;
    if let Some(r) = stores.sessions.get(&idle.id).await? {
        return fail(format!(
            "the idle session survived the LastActivity purge: {r:?}"
        ));
    }
    if stores.sessions.get(&active.id).await?.is_none() {
        return fail("the LastActivity purge removed a recently touched session");
    }
    assert_live(&stores, &live, "after the LastActivity purges").await?;
    assert_gone(
        &stores,
        ctx.now(),
        &dead,
        "after the LastActivity purges",
        true,
    )
    .await
}

/// `purge_keeps_artifact_tombstone_until_expiry`
pub async fn purge_keeps_artifact_tombstone_until_expiry(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let t0 = ctx.now();
    let expiry = t0.saturating_add(10 * MINUTE);
    stores
        .artifacts
        .put("code", b"payload".to_vec(), 10 * MINUTE)
        .await?;
    ctx.advance(MINUTE);
    let taken_at = ctx.now();
    match stores.artifacts.take("code").await? {
        Take::Fresh(p) if p == b"payload" => {}
        other => return fail(format!("the first take was not Fresh(payload): {other:?}")),
    }
    // Purges with no offset and the standard offset, 1 ms before the original expiry.
    ctx.clock.set(plus_ms(expiry, -1));
    for p in [policy(Duration::ZERO), PurgePolicy::default()] {
        let reports = purge_all(&stores, &p).await?;
        expect_deleted(
            &reports,
            0,
            &[],
            "a purge before the artifact's original expiry",
        )?;
    }
    let other = ctx.open().await?;
    for (node, st) in [("the same node", &stores), ("another node", &other)] {
        match st.artifacts.take("code").await? {
            Take::Replayed { taken_at: t } if t == taken_at => {}
            got => {
                return fail(format!(
                    "after purge, a take on {node} 1 ms before the original expiry gave {got:?}, \
                     expected Replayed {{ taken_at: {taken_at} }}"
                ));
            }
        }
    }
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code", b"again".to_vec(), MINUTE)
            .await,
        ErrorKind::AlreadyExists,
    )
    .map_err(|e| format!("a purge freed a taken handle before its expiry: {e}"))?;

    // At the original expiry the tombstone is due and is purged.
    ctx.advance_ms(1);
    let reports = purge_all(&stores, &policy(Duration::ZERO)).await?;
    expect_deleted(
        &reports,
        0,
        &[(Contract::Artifact, 1)],
        "a purge at the artifact's original expiry",
    )?;
    match stores.artifacts.take("code").await? {
        Take::Unknown => {}
        got => {
            return fail(format!(
                "after its expiry and purge the artifact gave {got:?}"
            ));
        }
    }
    stores
        .artifacts
        .put("code", b"again".to_vec(), MINUTE)
        .await?;
    match stores.artifacts.take("code").await? {
        Take::Fresh(p) if p == b"again" => Ok(()),
        got => fail(format!("the handle, put again after purge, gave {got:?}")),
    }
}
