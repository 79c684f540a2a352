//! The `durability` cases: after a restart (the harness's
//! [`reopen`](crate::Harness::reopen)) everything written is still there, with its
//! expiry, versions, tombstones and indexes. Key sets and reference tokens must survive
//! a cluster restart; a lost revocation or replay entry is a security incident.
//!
//! A harness that cannot reopen (`None`) passes only if its backend does not claim to be
//! durable: a backend whose capabilities say `durable` must let the suite prove it.
//! Every case writes through a sealed codec, as production does, and reopens with the
//! same config (namespace, clock, codec).

use std::time::Duration;

use authstate_core::{
    KeyEntry, KeySet, LockoutPolicy, NewSession, NewToken, Participant, Replay, SecretBytes,
    Stores, Take,
};

#[allow(unused_imports)]
use crate::{CaseError, CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_durability {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] durability:
            reopen_keeps_sessions,
            reopen_keeps_artifacts_and_tombstones,
            reopen_keeps_state_and_registry,
            reopen_keeps_key_sets,
            reopen_keeps_tokens,
            reopen_keeps_revocations,
            reopen_keeps_lockout_and_replay,
        }
    };
}
crate::__authstate_cases_durability!(list);

const HOUR: Duration = Duration::from_secs(3600);

/// Restarts the backend. `None` when the harness cannot reopen, which is a failure for
/// a backend that claims to be durable.
async fn reopen(ctx: &Ctx, before: &Stores) -> Result<Option<Stores>, CaseError> {
    match ctx.harness().reopen(ctx.config.clone()).await? {
        Some(stores) => Ok(Some(stores)),
        None if before.capabilities.durable => fail(format!(
            "the {} backend claims to be durable, but its harness cannot reopen the stores \
             to prove it",
            before.backend
        )),
        None => Ok(None),
    }
}

fn new_session(subject: &str, data: &[u8]) -> NewSession {
    NewSession {
        subject: subject.to_string(),
        data: data.to_vec(),
        lifetime: HOUR,
        idle_timeout: Some(Duration::from_secs(600)),
    }
}

/// `reopen_keeps_sessions`: sessions come back with their data, version and times; a
/// rotated-away or deleted id stays dead; the subject index still works; and expiry is
/// still decided at the same instant.
pub async fn reopen_keeps_sessions(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let kept = stores.sessions.create(new_session("alice", b"a")).await?;
    let updated = stores.sessions.create(new_session("alice", b"b")).await?;
    let updated_record = stores
        .sessions
        .update(&updated.id, 1, b"b2".to_vec())
        .await?;
    let rotated_from = stores.sessions.create(new_session("alice", b"c")).await?;
    let rotated = stores.sessions.rotate_id(&rotated_from.id).await?;
    let deleted = stores.sessions.create(new_session("alice", b"d")).await?;
    stores.sessions.delete(&deleted.id).await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    assert_eq!(
        stores.sessions.get(&kept.id).await?,
        Some(kept.record.clone()),
        "a session was lost or changed by the restart"
    );
    assert_eq!(
        stores.sessions.get(&updated.id).await?,
        Some(updated_record),
        "an updated session lost its update"
    );
    assert_eq!(
        stores.sessions.get(&rotated.id).await?,
        Some(rotated.record),
        "a rotated session was lost"
    );
    assert_eq!(
        stores.sessions.get(&rotated_from.id).await?,
        None,
        "an id rotated away came back after the restart"
    );
    assert_eq!(
        stores.sessions.get(&deleted.id).await?,
        None,
        "a deleted session came back after the restart"
    );
    let listed = stores.sessions.list_by_subject("alice").await?;
    assert_eq!(
        listed.len(),
        3,
        "the subject index lost sessions: {listed:?}"
    );
    // The idle timeout (10 minutes) still ends the session exactly.
    ctx.advance_ms(599_999);
    assert!(stores.sessions.get(&kept.id).await?.is_some());
    ctx.advance_ms(1);
    assert_eq!(
        stores.sessions.get(&kept.id).await?,
        None,
        "the restart changed a session's expiry"
    );
    Ok(())
}

/// `reopen_keeps_artifacts_and_tombstones`: an untaken artifact is still `Fresh` once,
/// and a taken one still answers `Replayed` with its first take's time: a restart must
/// not let a code be redeemed twice.
pub async fn reopen_keeps_artifacts_and_tombstones(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-live", b"live".to_vec(), HOUR)
        .await?;
    stores
        .artifacts
        .put("code-taken", b"taken".to_vec(), HOUR)
        .await?;
    let taken_at = ctx.now();
    stores.artifacts.take("code-taken").await?;
    ctx.advance_ms(1_000);
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    assert_eq!(
        stores.artifacts.take("code-taken").await?,
        Take::Replayed { taken_at },
        "a taken code lost its tombstone in the restart"
    );
    assert_eq!(
        stores.artifacts.take("code-live").await?,
        Take::Fresh(b"live".to_vec()),
        "an untaken artifact was lost in the restart"
    );
    Ok(())
}

/// `reopen_keeps_state_and_registry`: state values and single-logout registrations
/// survive.
pub async fn reopen_keeps_state_and_registry(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .state
        .put("state-1", b"relay-state".to_vec(), HOUR)
        .await?;
    let p = Participant {
        session_ref: "sess-1".to_string(),
        partner_id: "sp-1".to_string(),
        session_index: Some("_idx".to_string()),
        expires_at: ctx.now().saturating_add(HOUR),
    };
    stores.registry.register("alice", p.clone()).await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    assert_eq!(
        stores.state.get("state-1").await?,
        Some(b"relay-state".to_vec()),
        "a state value was lost in the restart"
    );
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![p],
        "a registry entry was lost in the restart"
    );
    Ok(())
}

/// `reopen_keeps_key_sets`: a replaced key set comes back with its version, so the next
/// rotator's compare-and-set still works.
pub async fn reopen_keeps_key_sets(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let entry = |kid: &str| KeyEntry {
        kid: kid.to_string(),
        material: SecretBytes::new(format!("material-{kid}").into_bytes()),
        created_at: ctx.now(),
    };
    let first = KeySet {
        pending: vec![entry("k2")],
        active: vec![entry("k1")],
        retired: Vec::new(),
    };
    stores.keys.insert("jwks", first).await?;
    let second = KeySet {
        pending: Vec::new(),
        active: vec![entry("k2")],
        retired: vec![entry("k1")],
    };
    stores.keys.replace("jwks", 1, second.clone()).await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    match stores.keys.load("jwks").await? {
        Some(v) if v.version == 2 && v.keys == second => {}
        other => return fail(format!("the key set changed in the restart: {other:?}")),
    }
    stores.keys.replace("jwks", 2, KeySet::default()).await?;
    Ok(())
}

/// `reopen_keeps_tokens`: active tokens stay active, revoked ones stay revoked, and the
/// grant and subject indexes still reach them.
pub async fn reopen_keeps_tokens(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let token = |grant: &str| NewToken {
        subject: "alice".to_string(),
        client_id: "client-1".to_string(),
        grant_id: Some(grant.to_string()),
        data: b"scope=openid".to_vec(),
        ttl: HOUR,
    };
    let active = stores.tokens.insert("tok-active", token("g1")).await?;
    stores.tokens.insert("tok-revoked", token("g1")).await?;
    stores.tokens.insert("tok-subject", token("g2")).await?;
    stores.tokens.revoke("tok-revoked").await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    assert_eq!(
        stores.tokens.get("tok-active").await?,
        Some(active),
        "an active token was lost in the restart"
    );
    assert_eq!(
        stores.tokens.get("tok-revoked").await?,
        None,
        "a revoked token is active again after the restart"
    );
    assert_eq!(
        stores.tokens.revoke_by_grant("g1").await?,
        1,
        "the grant index lost a token in the restart"
    );
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        1,
        "the subject index lost a token in the restart"
    );
    Ok(())
}

/// `reopen_keeps_revocations`: SRI and subject revocations stay in force until their
/// `until`, the change feed is intact, and new changes continue after the old cursor.
pub async fn reopen_keeps_revocations(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let now = ctx.now();
    let until = now.saturating_add(HOUR);
    stores.revocations.revoke("sri-1", until).await?;
    stores
        .revocations
        .revoke_subject("mallory", now, until)
        .await?;
    let feed = stores.revocations.changes_since(0, 100).await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    let early = now.saturating_sub(Duration::from_millis(1));
    assert!(
        stores.revocations.is_revoked("sri-1", "alice", now).await?,
        "an SRI revocation was lost in the restart"
    );
    assert!(
        stores
            .revocations
            .is_revoked("sri-2", "mallory", early)
            .await?,
        "a subject revocation was lost in the restart"
    );
    assert_eq!(
        stores.revocations.changes_since(0, 100).await?,
        feed,
        "the change feed changed in the restart"
    );
    stores.revocations.revoke("sri-3", until).await?;
    let next = stores.revocations.changes_since(feed.cursor, 100).await?;
    match next.changes.as_slice() {
        [c] if c.seq > feed.cursor => {}
        other => {
            return fail(format!(
                "after the restart a new revocation is not the one change after the old \
                 cursor {}: {other:?}",
                feed.cursor
            ));
        }
    }
    ctx.advance(HOUR);
    assert!(
        !stores.revocations.is_revoked("sri-1", "alice", now).await?,
        "the restart extended a revocation past its until"
    );
    Ok(())
}

/// `reopen_keeps_lockout_and_replay`: a locked account stays locked with its count, and
/// a seen assertion id stays `Replayed`: a restart must not reopen a brute-force window
/// or accept a replay.
pub async fn reopen_keeps_lockout_and_replay(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let policy = LockoutPolicy {
        max_failures: 3,
        ..LockoutPolicy::default()
    };
    for _ in 0..3 {
        stores.lockout.record_failure("jdoe", &policy).await?;
    }
    stores.lockout.record_failure("other", &policy).await?;
    let locked = stores.lockout.status("jdoe").await?;
    let not_after = ctx.now().saturating_add(Duration::from_secs(300));
    stores.replay.check_and_record("jti-1", not_after).await?;
    let Some(stores) = reopen(&ctx, &stores).await? else {
        return Ok(());
    };
    assert_eq!(
        stores.lockout.status("jdoe").await?,
        locked,
        "a lockout counter changed in the restart"
    );
    assert_eq!(
        stores.lockout.status("other").await?.failures,
        1,
        "a failure count was lost in the restart"
    );
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed,
        "a seen assertion id reads as fresh after the restart"
    );
    Ok(())
}
