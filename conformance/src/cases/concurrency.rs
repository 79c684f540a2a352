//! The `concurrency` cases: every `*_concurrent_*` promise of the contracts, plus races
//! on the other operations that must have exactly one winner.
//!
//! Each case starts 64 Tokio tasks split across two independently opened nodes,
//! holds them behind a barrier so they really start together, and then checks for
//! exactly one winner or exact counts, and the stored state afterwards.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authstate_core::{
    ErrorKind, KeyEntry, KeySet, LockoutPolicy, NewSession, NewToken, Participant, Replay,
    SecretBytes, Stores, Take, Timestamp,
};
use tokio::sync::Barrier;

#[allow(unused_imports)]
use crate::{CaseError, CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_concurrency {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] concurrency:
            take_concurrent_has_one_winner,
            take_concurrent_many_handles,
            put_if_absent_concurrent_has_one_winner,
            check_and_record_concurrent_has_one_fresh,
            record_failure_concurrent_counts_exactly,
            insert_concurrent_has_one_winner,
            replace_concurrent_has_one_winner,
            remove_all_concurrent_returns_each_once,
            session_update_concurrent_has_one_winner,
            session_rotate_id_concurrent_has_one_winner,
            session_create_concurrent_unique_ids,
            token_revoke_concurrent_counts_once,
            revoke_subject_concurrent_keeps_latest,
        }
    };
}
crate::__authstate_cases_concurrency!(list);

/// How many tasks race in every case.
const TASKS: usize = 64;

/// Two independently opened nodes over the same data.
async fn two_nodes(ctx: &Ctx) -> Result<[Stores; 2], CaseError> {
    Ok([ctx.open().await?, ctx.open().await?])
}

/// Runs `op(node, i)` for `i` in `0..TASKS` in separate tasks, even `i` on the first
/// node and odd `i` on the second, all released at once by a barrier, and returns the
/// results in task order.
///
/// The barrier is what makes this a race: without it the first tasks spawned would
/// often finish before the last ones start.
async fn race<T, F, Fut>(nodes: &[Stores; 2], op: F) -> Result<Vec<T>, CaseError>
where
    F: Fn(Stores, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(TASKS));
    let op = Arc::new(op);
    let mut tasks = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let node = nodes[i % 2].clone();
        let barrier = barrier.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            op(node, i).await
        }));
    }
    let mut results = Vec::with_capacity(TASKS);
    for task in tasks {
        match task.await {
            Ok(r) => results.push(r),
            Err(e) => return fail(format!("a racing task panicked or was cancelled: {e}")),
        }
    }
    Ok(results)
}

/// A key set whose one active key is named `kid`.
fn key_set(kid: &str, created_at: Timestamp) -> KeySet {
    KeySet {
        pending: Vec::new(),
        active: vec![KeyEntry {
            kid: kid.to_string(),
            material: SecretBytes::new(format!("material-of-{kid}").into_bytes()),
            created_at,
        }],
        retired: Vec::new(),
    }
}

/// `take_concurrent_has_one_winner`
pub async fn take_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let now = ctx.now();
    nodes[0]
        .artifacts
        .put("code-raced", b"the-grant".to_vec(), Duration::from_secs(60))
        .await?;
    let results = race(&nodes, |node, _| async move {
        node.artifacts.take("code-raced").await
    })
    .await?;
    let mut fresh = 0;
    for r in results {
        match r? {
            Take::Fresh(payload) => {
                assert_eq!(
                    payload, b"the-grant",
                    "the winning take got another payload"
                );
                fresh += 1;
            }
            Take::Replayed { taken_at } => {
                assert_eq!(taken_at, now, "a losing take reported the wrong taken_at")
            }
            Take::Unknown => return fail("a concurrent take of a live artifact said Unknown"),
        }
    }
    assert_eq!(
        fresh, 1,
        "{fresh} of {TASKS} concurrent takes got the payload"
    );
    match nodes[1].artifacts.take("code-raced").await? {
        Take::Replayed { taken_at } if taken_at == now => Ok(()),
        other => fail(format!(
            "a take after the race returned {other:?}, not Replayed"
        )),
    }
}

/// `take_concurrent_many_handles`
pub async fn take_concurrent_many_handles(ctx: Ctx) -> CaseResult {
    const HANDLES: usize = 16;
    let nodes = two_nodes(&ctx).await?;
    for h in 0..HANDLES {
        nodes[h % 2]
            .artifacts
            .put(
                &format!("code-{h}"),
                format!("grant-{h}").into_bytes(),
                Duration::from_secs(60),
            )
            .await?;
    }
    let mut seed = [0u8; 8];
    authstate_core::id::random_bytes(&mut seed)?;
    let seed = u64::from_le_bytes(seed);
    let results = race(&nodes, move |node, i| async move {
        let mut order: Vec<usize> = (0..HANDLES).collect();
        shuffle(
            &mut order,
            seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut outcomes = Vec::with_capacity(HANDLES);
        for h in order {
            outcomes.push((h, node.artifacts.take(&format!("code-{h}")).await?));
        }
        Ok::<_, authstate_core::Error>(outcomes)
    })
    .await?;
    let mut fresh = [0usize; HANDLES];
    let mut replayed = [0usize; HANDLES];
    for r in results {
        for (h, outcome) in r? {
            match outcome {
                Take::Fresh(payload) => {
                    assert_eq!(
                        payload,
                        format!("grant-{h}").into_bytes(),
                        "a take of code-{h} got another artifact's payload"
                    );
                    fresh[h] += 1;
                }
                Take::Replayed { .. } => replayed[h] += 1,
                Take::Unknown => return fail(format!("a take of live code-{h} said Unknown")),
            }
        }
    }
    for h in 0..HANDLES {
        assert_eq!(fresh[h], 1, "code-{h} was taken Fresh {} times", fresh[h]);
        assert_eq!(
            replayed[h],
            TASKS - 1,
            "code-{h} was Replayed {} times",
            replayed[h]
        );
    }
    Ok(())
}

/// A Fisher–Yates shuffle driven by xorshift64: each task takes the handles in its own
/// order, so the races hit every handle from many sides.
fn shuffle(items: &mut [usize], seed: u64) {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// `put_if_absent_concurrent_has_one_winner`
pub async fn put_if_absent_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let results = race(&nodes, |node, i| async move {
        node.state
            .put_if_absent(
                "irsm-raced",
                format!("value-{i}").into_bytes(),
                Duration::from_secs(60),
            )
            .await
    })
    .await?;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        if r? {
            winners.push(i);
        }
    }
    let [winner] = winners[..] else {
        return fail(format!(
            "concurrent put_if_absent calls {winners:?} all returned true"
        ));
    };
    match nodes[0].state.get("irsm-raced").await? {
        Some(v) if v == format!("value-{winner}").into_bytes() => Ok(()),
        other => fail(format!(
            "the stored value is not the winner's (value-{winner}): {:?}",
            other.map(|v| String::from_utf8_lossy(&v).into_owned())
        )),
    }
}

/// `check_and_record_concurrent_has_one_fresh`
pub async fn check_and_record_concurrent_has_one_fresh(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let not_after = ctx.now().saturating_add(Duration::from_secs(300));
    let results = race(&nodes, move |node, _| async move {
        node.replay.check_and_record("jti-raced", not_after).await
    })
    .await?;
    let mut fresh = 0;
    for r in results {
        if r? == Replay::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(
        fresh, 1,
        "{fresh} of {TASKS} concurrent checks of one id were Fresh"
    );
    assert_eq!(
        nodes[1]
            .replay
            .check_and_record("jti-raced", not_after)
            .await?,
        Replay::Replayed,
        "a check after the race was not Replayed"
    );
    Ok(())
}

/// `record_failure_concurrent_counts_exactly`
pub async fn record_failure_concurrent_counts_exactly(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let now = ctx.now();
    let policy = LockoutPolicy {
        max_failures: 32,
        failure_window: Duration::from_secs(600),
        lockout_duration: Duration::from_secs(900),
    };
    let results = race(&nodes, move |node, _| async move {
        node.lockout.record_failure("alice", &policy).await
    })
    .await?;
    let mut counts = Vec::with_capacity(TASKS);
    for r in results {
        let status = r?;
        let locked = status.failures >= policy.max_failures;
        let expected_lock = locked.then(|| now.saturating_add(policy.lockout_duration));
        assert_eq!(
            status.locked_until, expected_lock,
            "the failure that counted {} returned the wrong lock",
            status.failures
        );
        counts.push(status.failures);
    }
    counts.sort_unstable();
    let expected: Vec<u32> = (1..=TASKS as u32).collect();
    assert_eq!(
        counts, expected,
        "concurrent failures did not each see a distinct count 1..=64"
    );
    let status = nodes[0].lockout.status("alice").await?;
    assert_eq!(
        status.failures, TASKS as u32,
        "concurrent failures were lost or doubled"
    );
    Ok(())
}

/// `insert_concurrent_has_one_winner`
pub async fn insert_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let nodes = two_nodes(&ctx).await?;
    let now = ctx.now();
    let results = race(&nodes, move |node, i| async move {
        node.keys
            .insert("oidc-signing", key_set(&format!("kid-{i}"), now))
            .await
    })
    .await?;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(set) => {
                assert_eq!(set.version, 1, "the winning insert is not version 1");
                winners.push(i);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return fail(format!(
                    "a losing insert failed with {e}, not AlreadyExists"
                ));
            }
        }
    }
    let [winner] = winners[..] else {
        return fail(format!("concurrent inserts {winners:?} all succeeded"));
    };
    match nodes[1].keys.load("oidc-signing").await? {
        Some(set) if set.version == 1 && set.keys == key_set(&format!("kid-{winner}"), now) => {
            Ok(())
        }
        other => fail(format!(
            "the stored key set is not the winner's (kid-{winner}, version 1): {other:?}"
        )),
    }
}

/// `replace_concurrent_has_one_winner`
pub async fn replace_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let nodes = two_nodes(&ctx).await?;
    let now = ctx.now();
    nodes[0]
        .keys
        .insert("oidc-signing", key_set("kid-initial", now))
        .await?;
    let results = race(&nodes, move |node, i| async move {
        node.keys
            .replace("oidc-signing", 1, key_set(&format!("kid-{i}"), now))
            .await
    })
    .await?;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(set) => {
                assert_eq!(set.version, 2, "the winning replace is not version 2");
                winners.push(i);
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return fail(format!("a losing replace failed with {e}, not Conflict")),
        }
    }
    let [winner] = winners[..] else {
        return fail(format!(
            "concurrent replaces from version 1 {winners:?} all succeeded"
        ));
    };
    match nodes[1].keys.load("oidc-signing").await? {
        Some(set) if set.version == 2 && set.keys == key_set(&format!("kid-{winner}"), now) => {
            Ok(())
        }
        other => fail(format!(
            "the stored key set is not the winner's (kid-{winner}, version 2): {other:?}"
        )),
    }
}

/// `remove_all_concurrent_returns_each_once`
pub async fn remove_all_concurrent_returns_each_once(ctx: Ctx) -> CaseResult {
    const PARTICIPANTS: usize = 32;
    let nodes = two_nodes(&ctx).await?;
    let expires_at = ctx.now().saturating_add(Duration::from_secs(3600));
    let mut registered = Vec::with_capacity(PARTICIPANTS);
    for p in 0..PARTICIPANTS {
        let participant = Participant {
            session_ref: format!("sri-{}", p / 4),
            partner_id: format!("https://sp{}.example", p % 4),
            session_index: Some(format!("idx-{p}")),
            expires_at,
        };
        nodes[p % 2]
            .registry
            .register("alice", participant.clone())
            .await?;
        registered.push(participant);
    }
    let results = race(&nodes, |node, _| async move {
        node.registry.remove_all("alice").await
    })
    .await?;
    let mut returned = Vec::new();
    for r in results {
        returned.extend(r?);
    }
    let key = |p: &Participant| (p.session_ref.clone(), p.partner_id.clone());
    let distinct: HashSet<_> = returned.iter().map(key).collect();
    assert_eq!(
        distinct.len(),
        returned.len(),
        "a participant was returned by more than one remove_all (two logout requests)"
    );
    returned.sort_by_key(key);
    registered.sort_by_key(key);
    assert_eq!(
        returned, registered,
        "the removed participants are not the registered ones"
    );
    let left = nodes[0].registry.participants("alice").await?;
    assert!(
        left.is_empty(),
        "participants left after remove_all: {left:?}"
    );
    Ok(())
}

/// A session for `subject` living an hour, with a 10-minute idle timeout.
fn new_session(subject: &str, data: &[u8]) -> NewSession {
    NewSession {
        subject: subject.to_string(),
        data: data.to_vec(),
        lifetime: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(600)),
    }
}

/// `session_update_concurrent_has_one_winner`
pub async fn session_update_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let session = nodes[0]
        .sessions
        .create(new_session("alice", b"v1"))
        .await?;
    let id = session.id.clone();
    let results = race(&nodes, move |node, i| {
        let id = id.clone();
        async move {
            node.sessions
                .update(&id, 1, format!("data-{i}").into_bytes())
                .await
        }
    })
    .await?;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(record) => {
                assert_eq!(record.version, 2, "the winning update is not version 2");
                winners.push(i);
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return fail(format!("a losing update failed with {e}, not Conflict")),
        }
    }
    let [winner] = winners[..] else {
        return fail(format!(
            "concurrent updates from version 1 {winners:?} all succeeded"
        ));
    };
    match nodes[1].sessions.get(&session.id).await? {
        Some(r) if r.version == 2 && r.data == format!("data-{winner}").into_bytes() => Ok(()),
        other => fail(format!(
            "the stored session is not the winner's (data-{winner}, version 2): {other:?}"
        )),
    }
}

/// `session_rotate_id_concurrent_has_one_winner`
pub async fn session_rotate_id_concurrent_has_one_winner(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let session = nodes[0]
        .sessions
        .create(new_session("alice", b"claims"))
        .await?;
    let id = session.id.clone();
    let results = race(&nodes, move |node, _| {
        let id = id.clone();
        async move { node.sessions.rotate_id(&id).await }
    })
    .await?;
    let mut new_ids = Vec::new();
    for r in results {
        match r {
            Ok(rotated) => {
                assert_eq!(
                    rotated.record, session.record,
                    "rotate_id changed the session"
                );
                new_ids.push(rotated.id);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return fail(format!("a losing rotate_id failed with {e}, not NotFound")),
        }
    }
    let [new_id] = &new_ids[..] else {
        return fail(format!(
            "{} concurrent rotate_id calls of one id succeeded, not exactly one",
            new_ids.len()
        ));
    };
    assert!(
        nodes[1].sessions.get(&session.id).await?.is_none(),
        "the old id still works"
    );
    assert_eq!(
        nodes[1].sessions.get(new_id).await?.as_ref(),
        Some(&session.record),
        "the new id does not return the session"
    );
    let listed = nodes[0].sessions.list_by_subject("alice").await?;
    assert_eq!(
        listed.len(),
        1,
        "after the race the subject has {} live sessions",
        listed.len()
    );
    Ok(())
}

/// `session_create_concurrent_unique_ids`
pub async fn session_create_concurrent_unique_ids(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let results = race(&nodes, |node, i| async move {
        let session = node
            .sessions
            .create(new_session("alice", format!("s{i}").as_bytes()))
            .await?;
        Ok::<_, authstate_core::Error>((i, session))
    })
    .await?;
    let mut sessions = Vec::with_capacity(TASKS);
    for r in results {
        sessions.push(r?);
    }
    let ids: HashSet<&str> = sessions.iter().map(|(_, s)| s.id.expose()).collect();
    assert_eq!(
        ids.len(),
        TASKS,
        "concurrent creates returned the same id twice"
    );
    for (i, s) in &sessions {
        let stored = nodes[(i + 1) % 2].sessions.get(&s.id).await?;
        match stored {
            Some(r) if r.data == format!("s{i}").into_bytes() => {}
            other => return fail(format!("session s{i} reads back as {other:?}")),
        }
    }
    let listed = nodes[0].sessions.list_by_subject("alice").await?;
    let hashes: HashSet<_> = listed.iter().map(|s| s.id_hash).collect();
    assert_eq!(
        listed.len(),
        TASKS,
        "list_by_subject shows {} of {TASKS} sessions",
        listed.len()
    );
    assert_eq!(
        hashes.len(),
        TASKS,
        "list_by_subject shows one session twice"
    );
    let data: BTreeSet<Vec<u8>> = listed.into_iter().map(|s| s.record.data).collect();
    let expected: BTreeSet<Vec<u8>> = (0..TASKS).map(|i| format!("s{i}").into_bytes()).collect();
    assert_eq!(
        data, expected,
        "list_by_subject does not show every created session"
    );
    Ok(())
}

/// `token_revoke_concurrent_counts_once`
pub async fn token_revoke_concurrent_counts_once(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let new = NewToken {
        subject: "alice".to_string(),
        client_id: "client-a".to_string(),
        grant_id: Some("grant-1".to_string()),
        data: b"scope=openid".to_vec(),
        ttl: Duration::from_secs(3600),
    };
    nodes[0].tokens.insert("token-raced", new).await?;
    let results = race(&nodes, |node, _| async move {
        node.tokens.revoke("token-raced").await
    })
    .await?;
    let mut revoked = 0;
    for r in results {
        if r? {
            revoked += 1;
        }
    }
    assert_eq!(
        revoked, 1,
        "{revoked} of {TASKS} concurrent revokes of one token returned true"
    );
    assert!(
        nodes[1].tokens.get("token-raced").await?.is_none(),
        "the token is still active"
    );
    Ok(())
}

/// `revoke_subject_concurrent_keeps_latest`
pub async fn revoke_subject_concurrent_keeps_latest(ctx: Ctx) -> CaseResult {
    let nodes = two_nodes(&ctx).await?;
    let now = ctx.now();
    // Task i revokes with cutoff now - (63 - i) s and until now + 1 h + i s: the latest
    // of both comes from the last task, whichever order the writes land in.
    let before = move |i: usize| now.saturating_sub(Duration::from_secs((TASKS - 1 - i) as u64));
    let until = move |i: usize| now.saturating_add(Duration::from_secs(3600 + i as u64));
    let results = race(&nodes, move |node, i| async move {
        node.revocations
            .revoke_subject("alice", before(i), until(i))
            .await
    })
    .await?;
    for r in results {
        r?;
    }
    let latest_before = before(TASKS - 1);
    let latest_until = until(TASKS - 1);
    let just_before = latest_before.saturating_sub(Duration::from_millis(1));
    let revoked = |node: &Stores, issued_at: Timestamp| {
        let node = node.clone();
        async move {
            node.revocations
                .is_revoked("sri-unseen", "alice", issued_at)
                .await
        }
    };
    assert!(
        revoked(&nodes[0], just_before).await?,
        "a session issued 1 ms before the latest cutoff is not revoked: an earlier cutoff won"
    );
    assert!(
        !revoked(&nodes[1], latest_before).await?,
        "a session issued at the latest cutoff is revoked"
    );
    ctx.advance(latest_until.duration_since(ctx.now()) - Duration::from_millis(1));
    assert!(
        revoked(&nodes[1], just_before).await?,
        "the subject revocation ended before the latest until: an earlier until won"
    );
    ctx.advance_ms(1);
    assert!(
        !revoked(&nodes[0], just_before).await?,
        "the subject revocation is still in force at its until"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shuffle;

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<usize> = (0..16).collect();
        shuffle(&mut items, 42);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
    }
}
