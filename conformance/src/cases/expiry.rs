//! The `expiry` cases: exact edges on the manual clock for every contract with an
//! expiry. A record expiring at `T` must be live for every reader at `T - 1 ms` and gone
//! for every reader at `T`, without any purge; each edge is checked from the writing
//! node and from a second, separately opened one.

use std::time::Duration;

use authstate_core::{
    ErrorKind, KeyEntry, KeySet, LockoutPolicy, LockoutStatus, NewToken, Participant, Replay,
    SecretBytes, SessionId, Stores, Take,
};

use super::purge::{assert_gone, seed};
use super::session::{plus_ms, session_with};
#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_expiry {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] expiry:
            session_absolute_edge,
            session_idle_edge,
            session_idle_vs_absolute,
            touch_cannot_pass_lifetime,
            artifact_edge,
            artifact_tombstone_edge,
            state_edge,
            replay_edge,
            lockout_window_edge,
            lockout_lock_edge,
            revocation_edge,
            revocation_subject_edge,
            token_edge,
            registry_edge,
            expired_never_returned_before_purge,
            clock_jump_far_future,
        }
    };
}
crate::__authstate_cases_expiry!(list);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Two nodes over the same data: the writer and another one.
async fn two_nodes(ctx: &Ctx) -> Result<[(&'static str, Stores); 2], crate::CaseError> {
    Ok([
        ("the writing node", ctx.open().await?),
        ("another node", ctx.open().await?),
    ])
}

/// Checks that `id` is readable on both nodes.
async fn session_live(nodes: &[(&str, Stores); 2], id: &SessionId, what: &str) -> CaseResult {
    for (node, st) in nodes {
        if st.sessions.get(id).await?.is_none() {
            return fail(format!("{what}: the session is gone on {node}"));
        }
    }
    Ok(())
}

/// Checks that `id` is gone for get, touch, update and rotate_id on both nodes.
async fn session_dead(nodes: &[(&str, Stores); 2], id: &SessionId, what: &str) -> CaseResult {
    for (node, st) in nodes {
        if let Some(r) = st.sessions.get(id).await? {
            return fail(format!("{what}: get on {node} returned {r:?}"));
        }
        if let Some(r) = st.sessions.touch(id).await? {
            return fail(format!("{what}: touch on {node} returned {r:?}"));
        }
        Ctx::expect_kind(
            st.sessions.update(id, 1, b"x".to_vec()).await,
            ErrorKind::NotFound,
        )
        .map_err(|e| format!("{what}: update on {node}: {e}"))?;
        Ctx::expect_kind(st.sessions.rotate_id(id).await, ErrorKind::NotFound)
            .map_err(|e| format!("{what}: rotate_id on {node}: {e}"))?;
    }
    Ok(())
}

/// `session_absolute_edge`: a session without idle timeout lives until exactly
/// `created_at + lifetime`, for every operation.
pub async fn session_absolute_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let end = t0.saturating_add(30 * MINUTE);
    let s = stores
        .sessions
        .create(session_with("alice", b"d", 30 * MINUTE, None))
        .await?;
    ctx.clock.set(plus_ms(end, -1));
    session_live(&nodes, &s.id, "1 ms before the absolute expiry").await?;
    for (node, st) in &nodes {
        if st.sessions.list_by_subject("alice").await?.len() != 1 {
            return fail(format!(
                "1 ms before the absolute expiry, {node} does not list the session"
            ));
        }
    }
    // Operations that keep it alive are still allowed, and move nothing.
    match stores.sessions.touch(&s.id).await? {
        Some(r) if r.effective_expiry() == end => {}
        other => return fail(format!("a touch 1 ms before the end gave {other:?}")),
    }
    let updated = stores.sessions.update(&s.id, 1, b"last".to_vec()).await?;
    assert_eq!(
        updated.expires_at, end,
        "an update moved the absolute expiry"
    );

    ctx.advance_ms(1);
    session_dead(&nodes, &s.id, "at the absolute expiry").await?;
    for (node, st) in &nodes {
        if !st.sessions.list_by_subject("alice").await?.is_empty() {
            return fail(format!(
                "at the absolute expiry, {node} still lists the session"
            ));
        }
    }
    assert_eq!(
        stores.sessions.delete_by_subject("alice").await?,
        0,
        "at the absolute expiry, delete_by_subject counted the session as live"
    );
    Ok(())
}

/// `session_idle_edge`: a session ends exactly `idle_timeout` after its last activity,
/// whether that is its creation or a touch.
pub async fn session_idle_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let untouched = stores
        .sessions
        .create(session_with("alice", b"untouched", HOUR, Some(10 * MINUTE)))
        .await?;
    let touched = stores
        .sessions
        .create(session_with("alice", b"touched", HOUR, Some(10 * MINUTE)))
        .await?;
    ctx.advance(4 * MINUTE);
    stores.sessions.touch(&touched.id).await?;

    // The untouched one: its edge is 10 minutes after creation.
    ctx.advance(6 * MINUTE - Duration::from_millis(1));
    session_live(&nodes, &untouched.id, "1 ms before the idle expiry").await?;
    ctx.advance_ms(1);
    session_dead(&nodes, &untouched.id, "at the idle expiry").await?;
    let listed = stores.sessions.list_by_subject("alice").await?;
    if listed.len() != 1 || listed[0].record.data != b"touched" {
        return fail(format!(
            "at the idle expiry of one session the list is {listed:?}"
        ));
    }

    // The touched one: 10 minutes after the touch.
    ctx.advance(4 * MINUTE - Duration::from_millis(1));
    session_live(
        &nodes,
        &touched.id,
        "1 ms before the idle expiry after a touch",
    )
    .await?;
    ctx.advance_ms(1);
    session_dead(&nodes, &touched.id, "at the idle expiry after a touch").await?;
    if !stores.sessions.list_by_subject("alice").await?.is_empty() {
        return fail("idle-expired sessions are still listed");
    }
    Ok(())
}

/// `session_idle_vs_absolute`: whichever of the idle end and the absolute end comes
/// first ends the session.
pub async fn session_idle_vs_absolute(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    // Idle ends first (10 min < 1 h).
    let idle_first = stores
        .sessions
        .create(session_with(
            "alice",
            b"idle-first",
            HOUR,
            Some(10 * MINUTE),
        ))
        .await?;
    // Lifetime ends first (5 min < 10 min idle).
    let life_first = stores
        .sessions
        .create(session_with(
            "alice",
            b"life-first",
            5 * MINUTE,
            Some(10 * MINUTE),
        ))
        .await?;
    // Touched so that its idle end (35 min) lies past its lifetime (30 min).
    let touched = stores
        .sessions
        .create(session_with(
            "alice",
            b"touched",
            30 * MINUTE,
            Some(10 * MINUTE),
        ))
        .await?;
    assert_eq!(
        idle_first.record.effective_expiry(),
        t0.saturating_add(10 * MINUTE)
    );
    assert_eq!(
        life_first.record.effective_expiry(),
        t0.saturating_add(5 * MINUTE)
    );

    ctx.clock.set(plus_ms(t0.saturating_add(5 * MINUTE), -1));
    session_live(
        &nodes,
        &life_first.id,
        "1 ms before the lifetime ends (idle not reached)",
    )
    .await?;
    ctx.advance_ms(1);
    session_dead(
        &nodes,
        &life_first.id,
        "at the end of a lifetime shorter than the idle timeout",
    )
    .await?;
    session_live(&nodes, &idle_first.id, "before its idle end").await?;
    stores.sessions.touch(&touched.id).await?;

    ctx.clock.set(plus_ms(t0.saturating_add(10 * MINUTE), -1));
    session_live(
        &nodes,
        &idle_first.id,
        "1 ms before the idle end (lifetime not reached)",
    )
    .await?;
    ctx.advance_ms(1);
    session_dead(
        &nodes,
        &idle_first.id,
        "at an idle end earlier than the lifetime",
    )
    .await?;

    let end = t0.saturating_add(30 * MINUTE);
    for minute in [14, 23, 25] {
        ctx.clock
            .set(t0.saturating_add(Duration::from_secs(60 * minute)));
        match stores.sessions.touch(&touched.id).await? {
            Some(r) if minute < 25 || r.effective_expiry() == end => {}
            other => {
                return fail(format!(
                    "a touch at minute {minute} gave {other:?}; from minute 20 on the lifetime \
                     ({end}) must bound the effective expiry"
                ));
            }
        }
    }
    ctx.clock.set(plus_ms(end, -1));
    session_live(
        &nodes,
        &touched.id,
        "1 ms before the lifetime, idle end later",
    )
    .await?;
    ctx.advance_ms(1);
    session_dead(&nodes, &touched.id, "at the lifetime, idle end later").await?;
    Ok(())
}

/// `touch_cannot_pass_lifetime`: touches right up to the end never carry a session past
/// its absolute expiry.
pub async fn touch_cannot_pass_lifetime(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let t0 = ctx.now();
    let end = t0.saturating_add(10 * MINUTE);
    let s = nodes[0]
        .1
        .sessions
        .create(session_with("alice", b"d", 10 * MINUTE, Some(2 * MINUTE)))
        .await?;
    for i in 0..9 {
        ctx.advance(MINUTE);
        // Alternate nodes, as a load-balanced client would.
        let (node, st) = &nodes[i % 2];
        match st.sessions.touch(&s.id).await? {
            Some(r) if r.expires_at == end && r.last_activity == ctx.now() => {}
            other => {
                return fail(format!(
                    "a touch on {node} at minute {} gave {other:?}",
                    i + 1
                ));
            }
        }
    }
    for before in [2, 1] {
        ctx.clock.set(plus_ms(end, -before));
        for (node, st) in &nodes {
            match st.sessions.touch(&s.id).await? {
                Some(r) if r.effective_expiry() == end => {}
                other => {
                    return fail(format!(
                        "a touch on {node} {before} ms before the end gave {other:?}"
                    ));
                }
            }
        }
    }
    ctx.advance_ms(1);
    session_dead(
        &nodes,
        &s.id,
        "at the lifetime after touches up to the last millisecond",
    )
    .await?;
    ctx.advance_ms(1);
    session_dead(&nodes, &s.id, "1 ms after the lifetime").await
}

/// `artifact_edge`: an artifact, taken or not, can be taken until `T - 1 ms` and is
/// `Unknown` at `T`; its handle is free again at `T`.
pub async fn artifact_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let ttl = 5 * MINUTE;
    stores.artifacts.put("untaken", b"u".to_vec(), ttl).await?;
    stores
        .artifacts
        .put("taken-last", b"t".to_vec(), ttl)
        .await?;
    ctx.advance(ttl - Duration::from_millis(1));
    for (node, st) in &nodes {
        Ctx::expect_kind(
            st.artifacts.put("untaken", b"other".to_vec(), ttl).await,
            ErrorKind::AlreadyExists,
        )
        .map_err(|e| format!("1 ms before expiry, a put over a live handle on {node}: {e}"))?;
    }
    match nodes[1].1.artifacts.take("taken-last").await? {
        Take::Fresh(p) if p == b"t" => {}
        other => return fail(format!("a take 1 ms before expiry gave {other:?}")),
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        for handle in ["untaken", "taken-last"] {
            match st.artifacts.take(handle).await? {
                Take::Unknown => {}
                other => {
                    return fail(format!(
                        "at expiry, take({handle:?}) on {node} gave {other:?}"
                    ));
                }
            }
        }
    }
    stores
        .artifacts
        .put("untaken", b"new".to_vec(), ttl)
        .await?;
    match nodes[1].1.artifacts.take("untaken").await? {
        Take::Fresh(p) if p == b"new" => Ok(()),
        other => fail(format!("a handle put again at expiry gave {other:?}")),
    }
}

/// `artifact_tombstone_edge`: a taken artifact answers `Replayed` until `T - 1 ms` and
/// `Unknown` at `T`.
pub async fn artifact_tombstone_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let ttl = 5 * MINUTE;
    stores.artifacts.put("code", b"p".to_vec(), ttl).await?;
    match stores.artifacts.take("code").await? {
        Take::Fresh(_) => {}
        other => return fail(format!("the first take gave {other:?}")),
    }
    ctx.advance(ttl - Duration::from_millis(1));
    for (node, st) in &nodes {
        match st.artifacts.take("code").await? {
            Take::Replayed { taken_at } if taken_at == t0 => {}
            other => {
                return fail(format!(
                    "1 ms before the original expiry, a take on {node} gave {other:?}, \
                     expected Replayed {{ taken_at: {t0} }}"
                ));
            }
        }
        Ctx::expect_kind(
            st.artifacts.put("code", b"again".to_vec(), ttl).await,
            ErrorKind::AlreadyExists,
        )
        .map_err(|e| format!("1 ms before the original expiry, a put on {node}: {e}"))?;
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        match st.artifacts.take("code").await? {
            Take::Unknown => {}
            other => {
                return fail(format!(
                    "at the original expiry, a take on {node} gave {other:?}"
                ));
            }
        }
    }
    stores.artifacts.put("code", b"again".to_vec(), ttl).await?;
    match nodes[1].1.artifacts.take("code").await? {
        Take::Fresh(p) if p == b"again" => Ok(()),
        other => fail(format!(
            "the handle put again at the original expiry gave {other:?}"
        )),
    }
}

/// `state_edge`: a state value is readable until `T - 1 ms` and absent at `T`.
pub async fn state_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let ttl = 5 * MINUTE;
    stores.state.put("k", b"v".to_vec(), ttl).await?;
    ctx.advance(ttl - Duration::from_millis(1));
    for (node, st) in &nodes {
        if st.state.get("k").await?.as_deref() != Some(&b"v"[..]) {
            return fail(format!("1 ms before expiry, get on {node} lost the value"));
        }
        if st.state.put_if_absent("k", b"other".to_vec(), ttl).await? {
            return fail(format!(
                "1 ms before expiry, put_if_absent on {node} replaced the value"
            ));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        if let Some(v) = st.state.get("k").await? {
            return fail(format!("at expiry, get on {node} returned {v:?}"));
        }
        if st.state.remove("k").await? {
            return fail(format!("at expiry, remove on {node} found a live value"));
        }
    }
    if !stores
        .state
        .put_if_absent("k", b"new".to_vec(), ttl)
        .await?
    {
        return fail("at expiry, put_if_absent did not treat the value as absent");
    }
    match nodes[1].1.state.get("k").await? {
        Some(v) if v == b"new" => Ok(()),
        other => fail(format!("the value put at expiry reads as {other:?}")),
    }
}

/// `replay_edge`: an entry answers `Replayed` until `not_after - 1 ms`; at `not_after`
/// the id is fresh again.
pub async fn replay_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let not_after = ctx.now().saturating_add(5 * MINUTE);
    if stores.replay.check_and_record("jti", not_after).await? != Replay::Fresh {
        return fail("the first check_and_record was not Fresh");
    }
    ctx.clock.set(plus_ms(not_after, -1));
    for (node, st) in &nodes {
        if st.replay.check_and_record("jti", not_after).await? != Replay::Replayed {
            return fail(format!("1 ms before not_after, {node} answered Fresh"));
        }
    }
    ctx.advance_ms(1);
    Ctx::expect_kind(
        stores.replay.check_and_record("jti", not_after).await,
        ErrorKind::InvalidInput,
    )
    .map_err(|e| format!("a not_after equal to now: {e}"))?;
    let next = ctx.now().saturating_add(5 * MINUTE);
    if nodes[1].1.replay.check_and_record("jti", next).await? != Replay::Fresh {
        return fail("at not_after the entry still answered Replayed");
    }
    if stores.replay.check_and_record("jti", next).await? != Replay::Replayed {
        return fail("the id recorded again at not_after was not kept");
    }
    Ok(())
}

/// `lockout_window_edge`: a counter is forgotten exactly `failure_window` after the
/// latest failure.
pub async fn lockout_window_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let policy = LockoutPolicy {
        max_failures: 5,
        failure_window: 10 * MINUTE,
        lockout_duration: HOUR,
    };
    stores.lockout.record_failure("alice", &policy).await?;
    ctx.advance(4 * MINUTE);
    let second = nodes[1].1.lockout.record_failure("alice", &policy).await?;
    assert_eq!(
        second.failures, 2,
        "a second failure within the window must count 2"
    );
    // The first failure's window has passed; the latest one's has not.
    ctx.advance(6 * MINUTE);
    for (node, st) in &nodes {
        let s = st.lockout.status("alice").await?;
        if s.failures != 2 {
            return fail(format!(
                "past the first failure's window, {node} shows {s:?}: the window runs from \
                 the latest failure"
            ));
        }
    }
    ctx.advance(4 * MINUTE - Duration::from_millis(1));
    for (node, st) in &nodes {
        let s = st.lockout.status("alice").await?;
        if s.failures != 2 || s.locked_until.is_some() {
            return fail(format!("1 ms before the window ends, {node} shows {s:?}"));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        let s = st.lockout.status("alice").await?;
        if s != LockoutStatus::default() {
            return fail(format!("at the window's end, {node} shows {s:?}"));
        }
    }
    let again = stores.lockout.record_failure("alice", &policy).await?;
    assert_eq!(
        again.failures, 1,
        "a failure after the window must count from 1"
    );
    Ok(())
}

/// `lockout_lock_edge`: a lock holds until `locked_until - 1 ms` (even past the failure
/// window) and the counter is gone at `locked_until`.
pub async fn lockout_lock_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let policy = LockoutPolicy {
        max_failures: 3,
        failure_window: MINUTE,
        lockout_duration: 30 * MINUTE,
    };
    let until = ctx.now().saturating_add(30 * MINUTE);
    let mut last = LockoutStatus::default();
    for _ in 0..3 {
        last = stores.lockout.record_failure("alice", &policy).await?;
    }
    assert_eq!(
        last,
        LockoutStatus {
            failures: 3,
            locked_until: Some(until)
        },
        "the failure reaching max_failures must lock until now + lockout_duration"
    );
    // The window has passed, the lock has not: the counter lives until the lock ends.
    ctx.advance(MINUTE);
    ctx.clock.set(plus_ms(until, -1));
    for (node, st) in &nodes {
        let s = st.lockout.status("alice").await?;
        if s != last || !s.is_locked_at(ctx.now()) {
            return fail(format!(
                "1 ms before locked_until, {node} shows {s:?}, expected {last:?}"
            ));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        let s = st.lockout.status("alice").await?;
        if s != LockoutStatus::default() {
            return fail(format!(
                "at locked_until, {node} shows {s:?}, expected 0 and unlocked"
            ));
        }
    }
    let again = stores.lockout.record_failure("alice", &policy).await?;
    assert_eq!(
        again,
        LockoutStatus {
            failures: 1,
            locked_until: None
        },
        "a failure after the lock ended must count from 1, unlocked"
    );
    Ok(())
}

/// `revocation_edge`: an SRI revocation holds until `until - 1 ms` and ends at `until`.
pub async fn revocation_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let until = t0.saturating_add(5 * MINUTE);
    stores.revocations.revoke("sri-1", until).await?;
    ctx.clock.set(plus_ms(until, -1));
    for (node, st) in &nodes {
        if !st.revocations.is_revoked("sri-1", "alice", t0).await? {
            return fail(format!("1 ms before until, {node} says not revoked"));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        if st.revocations.is_revoked("sri-1", "alice", t0).await? {
            return fail(format!("at until, {node} still says revoked"));
        }
    }
    Ctx::expect_kind(
        stores.revocations.revoke("sri-1", until).await,
        ErrorKind::InvalidInput,
    )
    .map_err(|e| format!("a revocation with until equal to now: {e}"))?;
    stores
        .revocations
        .revoke("sri-1", plus_ms(until, 1))
        .await?;
    if !nodes[1]
        .1
        .revocations
        .is_revoked("sri-1", "alice", t0)
        .await?
    {
        return fail("a revocation made again at until did not hold");
    }
    Ok(())
}

/// `revocation_subject_edge`: a subject revocation covers sessions issued strictly
/// before `before`, until `until - 1 ms`.
pub async fn revocation_subject_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let until = t0.saturating_add(5 * MINUTE);
    stores
        .revocations
        .revoke_subject("alice", t0, until)
        .await?;
    ctx.clock.set(plus_ms(until, -1));
    for (node, st) in &nodes {
        if !st
            .revocations
            .is_revoked("never-seen", "alice", plus_ms(t0, -1))
            .await?
        {
            return fail(format!(
                "1 ms before until, {node} says a session issued 1 ms before the cutoff is not revoked"
            ));
        }
        if st.revocations.is_revoked("never-seen", "alice", t0).await? {
            return fail(format!(
                "{node} revoked a session issued exactly at the cutoff"
            ));
        }
        if st
            .revocations
            .is_revoked("never-seen", "bob", plus_ms(t0, -1))
            .await?
        {
            return fail(format!("{node} revoked another subject's session"));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        if st
            .revocations
            .is_revoked("never-seen", "alice", plus_ms(t0, -1))
            .await?
        {
            return fail(format!("at until, {node} still says revoked"));
        }
    }
    Ok(())
}

/// `token_edge`: a token is active until `expires_at - 1 ms` and inactive at
/// `expires_at`, for introspection and for every revoke.
pub async fn token_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let ttl = 5 * MINUTE;
    let new = NewToken {
        subject: "alice".to_string(),
        client_id: "client".to_string(),
        grant_id: Some("grant".to_string()),
        data: b"scopes".to_vec(),
        ttl,
    };
    let record = stores.tokens.insert("tok", new.clone()).await?;
    ctx.clock.set(plus_ms(record.expires_at, -1));
    for (node, st) in &nodes {
        match st.tokens.get("tok").await? {
            Some(r) if r == record => {}
            other => {
                return fail(format!(
                    "1 ms before expires_at, get on {node} gave {other:?}"
                ));
            }
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        if let Some(r) = st.tokens.get("tok").await? {
            return fail(format!("at expires_at, get on {node} returned {r:?}"));
        }
    }
    if stores.tokens.revoke("tok").await? {
        return fail("at expires_at, revoke found an active token");
    }
    assert_eq!(
        stores.tokens.revoke_by_grant("grant").await?,
        0,
        "revoke_by_grant counted an expired token"
    );
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        0,
        "revoke_by_subject counted an expired token"
    );
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("alice", "client")
            .await?,
        0,
        "revoke_by_subject_and_client counted an expired token"
    );
    // The expired value is not live, so it can be inserted again.
    let again = nodes[1].1.tokens.insert("tok", new).await?;
    assert_eq!(
        again.issued_at,
        ctx.now(),
        "a token inserted again starts now"
    );
    match stores.tokens.get("tok").await? {
        Some(r) if r == again => Ok(()),
        other => fail(format!(
            "the token inserted again at expiry reads as {other:?}"
        )),
    }
}

/// `registry_edge`: a participant is listed until `expires_at - 1 ms` and gone at
/// `expires_at`.
pub async fn registry_edge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let expires_at = ctx.now().saturating_add(5 * MINUTE);
    let p = Participant {
        session_ref: "sref".to_string(),
        partner_id: "sp".to_string(),
        session_index: Some("idx".to_string()),
        expires_at,
    };
    stores.registry.register("alice", p.clone()).await?;
    ctx.clock.set(plus_ms(expires_at, -1));
    for (node, st) in &nodes {
        let listed = st.registry.participants("alice").await?;
        if listed != vec![p.clone()] {
            return fail(format!("1 ms before expires_at, {node} lists {listed:?}"));
        }
    }
    ctx.advance_ms(1);
    for (node, st) in &nodes {
        let listed = st.registry.participants("alice").await?;
        if !listed.is_empty() {
            return fail(format!("at expires_at, {node} lists {listed:?}"));
        }
    }
    if stores.registry.remove("alice", "sref", "sp").await? {
        return fail("at expires_at, remove found a live participant");
    }
    let removed = nodes[1].1.registry.remove_all("alice").await?;
    if !removed.is_empty() {
        return fail(format!("at expires_at, remove_all returned {removed:?}"));
    }
    Ctx::expect_kind(
        stores.registry.register("alice", p.clone()).await,
        ErrorKind::InvalidInput,
    )
    .map_err(|e| format!("registering with expires_at equal to now: {e}"))?;
    Ok(())
}

/// `expired_never_returned_before_purge`: far past every expiry, with no purge, every
/// read of every contract answers absent, `Unknown` or zero.
pub async fn expired_never_returned_before_purge(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let plain = seed(&ctx, stores, "plain", 10 * MINUTE).await?;
    // Records that ended in other ways.
    let taken = seed(&ctx, stores, "taken", 20 * MINUTE).await?;
    stores.artifacts.take(&taken.handle()).await?;
    let idle = stores
        .sessions
        .create(session_with(&plain.subject(), b"idle", HOUR, Some(MINUTE)))
        .await?;
    let lock = LockoutPolicy {
        max_failures: 1,
        failure_window: MINUTE,
        lockout_duration: 30 * MINUTE,
    };
    stores.lockout.record_failure("locked-user", &lock).await?;
    stores
        .revocations
        .revoke_subject("revoked-subject", t0, t0.saturating_add(30 * MINUTE))
        .await?;

    ctx.advance(DAY);
    let now = ctx.now();
    session_dead(&nodes, &idle.id, "an idle-expired session a day later").await?;
    session_dead(&nodes, &plain.session, "an expired session a day later").await?;
    for (node, st) in &nodes {
        let what = format!("a day later on {node}");
        if st.sessions.delete_by_subject(&plain.subject()).await? != 0 {
            return fail(format!(
                "{what}: delete_by_subject counted expired sessions"
            ));
        }
        if st.state.remove(&plain.state_key()).await? {
            return fail(format!("{what}: remove found an expired state value"));
        }
        if st.lockout.status("locked-user").await? != LockoutStatus::default() {
            return fail(format!("{what}: an expired lock is still reported"));
        }
        if st
            .revocations
            .is_revoked("sri", "revoked-subject", plus_ms(t0, -1))
            .await?
        {
            return fail(format!("{what}: an expired subject revocation still holds"));
        }
        for s in [&plain, &taken] {
            if st.tokens.revoke(&s.token()).await? {
                return fail(format!("{what}: revoke found an expired token"));
            }
            if st.tokens.revoke_by_grant(&s.grant()).await? != 0
                || st.tokens.revoke_by_subject(&s.subject()).await? != 0
                || st
                    .tokens
                    .revoke_by_subject_and_client(&s.subject(), "client")
                    .await?
                    != 0
            {
                return fail(format!("{what}: a revoke_by_* counted an expired token"));
            }
            if st
                .registry
                .remove(&s.subject(), &s.session_ref(), "sp")
                .await?
            {
                return fail(format!("{what}: remove found an expired participant"));
            }
            if !st.registry.remove_all(&s.subject()).await?.is_empty() {
                return fail(format!("{what}: remove_all returned expired participants"));
            }
        }
    }
    // Last: the replay probe records the ids again.
    assert_gone(&nodes[1].1, now, &plain, "a day later", true).await?;
    assert_gone(stores, now, &taken, "a day later", true).await
}

/// `clock_jump_far_future`: ten years later nothing is returned but key sets.
pub async fn clock_jump_far_future(ctx: Ctx) -> CaseResult {
    // Key sets need a keyring.
    let ctx = ctx.sealed();
    let nodes = two_nodes(&ctx).await?;
    let stores = &nodes[0].1;
    let t0 = ctx.now();
    let max_ttl = ctx.config.limits.max_ttl;
    let short = seed(&ctx, stores, "short", HOUR).await?;
    let longest = stores
        .sessions
        .create(session_with("alice", b"longest", max_ttl, None))
        .await?;
    stores.state.put("longest", b"v".to_vec(), max_ttl).await?;
    stores
        .artifacts
        .put("longest", b"v".to_vec(), max_ttl)
        .await?;
    stores
        .revocations
        .revoke("longest", t0.saturating_add(max_ttl))
        .await?;
    let keys = KeySet {
        active: vec![KeyEntry {
            kid: "k1".to_string(),
            material: SecretBytes::new(b"private key".to_vec()),
            created_at: t0,
        }],
        ..KeySet::default()
    };
    let inserted = stores.keys.insert("signing", keys.clone()).await?;
    assert!(
        stores.lease.try_acquire("sweeper", "node-a", HOUR).await?,
        "a free lease was refused"
    );

    ctx.advance(Duration::from_secs(3653 * 24 * 3600));
    let now = ctx.now();
    for (node, st) in &nodes {
        match st.keys.load("signing").await? {
            Some(v) if v == inserted && v.keys == keys => {}
            other => {
                return fail(format!(
                    "ten years later the key set on {node} is {other:?}"
                ));
            }
        }
        if st.sessions.get(&longest.id).await?.is_some() {
            return fail(format!(
                "ten years later {node} returns a session of the longest lifetime"
            ));
        }
        if st.state.get("longest").await?.is_some() {
            return fail(format!("ten years later {node} returns a state value"));
        }
        if st.revocations.is_revoked("longest", "alice", t0).await? {
            return fail(format!("ten years later {node} says revoked"));
        }
    }
    match stores.artifacts.take("longest").await? {
        Take::Unknown => {}
        other => return fail(format!("ten years later an artifact take gave {other:?}")),
    }
    if !nodes[1]
        .1
        .lease
        .try_acquire("sweeper", "node-b", HOUR)
        .await?
    {
        return fail("ten years later the lease is still held");
    }
    assert_gone(stores, now, &short, "ten years later", true).await
}
