//! The `revocation` cases: one per `# Behavior` bullet of
//! [`RevocationStore`](authstate_core::RevocationStore) (the concurrent ones live in
//! `concurrency`), plus what a node keeping a local cache from the change feed relies on.

use std::time::Duration;

use authstate_core::{
    ErrorKind, REVOCATION_SRI_DOMAIN, REVOCATION_SUBJECT_DOMAIN, RevocationChange,
    RevocationTarget, StoreConfig, Timestamp,
};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_revocation {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] revocation:
            revoke_then_is_revoked,
            revoke_kept_until_until,
            revoke_never_shortens,
            revoke_refuses_past_until,
            revoke_never_evicts,
            is_revoked_unknown_is_false,
            is_revoked_isolates_sris,
            revoke_subject_revokes_earlier_sessions,
            revoke_subject_spares_later_sessions,
            revoke_subject_spares_other_subjects,
            revoke_subject_keeps_latest_cutoff,
            revoke_subject_kept_until_until,
            changes_since_lists_in_order,
            changes_since_resumes_from_cursor,
            changes_since_respects_limit,
            changes_since_includes_subject_revocations,
            changes_since_hashes_match_store_config_hash,
            revoke_subject_does_not_revoke_unrelated_sri_of_other_subject,
            revoke_seen_by_other_node,
        }
    };
}
crate::__authstate_cases_revocation!(list);

const HOUR: Duration = Duration::from_secs(3600);

/// `t` moved by `ms` milliseconds (either way).
fn shift(t: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_millis(t.as_millis() + ms)
}

/// The change-feed target a `revoke(sri, …)` must produce.
fn sri_target(config: &StoreConfig, sri: &str) -> RevocationTarget {
    RevocationTarget::Session(config.hash(REVOCATION_SRI_DOMAIN, sri.as_bytes()))
}

/// The change-feed target a `revoke_subject(subject, before, …)` must produce.
fn subject_target(config: &StoreConfig, subject: &str, before: Timestamp) -> RevocationTarget {
    RevocationTarget::Subject {
        subject: config.hash(REVOCATION_SUBJECT_DOMAIN, subject.as_bytes()),
        before,
    }
}

/// Checks that `seq` strictly increases along `changes`.
fn check_strictly_increasing(changes: &[RevocationChange]) -> CaseResult {
    for pair in changes.windows(2) {
        if let [a, b] = pair
            && a.seq >= b.seq
        {
            return fail(format!(
                "the change feed's seq does not strictly increase: {} then {}",
                a.seq, b.seq
            ));
        }
    }
    Ok(())
}

/// `revoke_then_is_revoked`: a revoked SRI reads as revoked, whatever subject and issue
/// time the caller passes.
pub async fn revoke_then_is_revoked(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    assert!(
        !stores.revocations.is_revoked("sri-1", "alice", now).await?,
        "an SRI was revoked before anything was revoked"
    );
    stores
        .revocations
        .revoke("sri-1", now.saturating_add(HOUR))
        .await?;
    assert!(
        stores.revocations.is_revoked("sri-1", "alice", now).await?,
        "a revoked SRI is not revoked"
    );
    assert!(
        stores
            .revocations
            .is_revoked("sri-1", "bob", shift(now, -60_000))
            .await?,
        "an SRI revocation depends on the subject or issue time passed to is_revoked"
    );
    Ok(())
}

/// `revoke_kept_until_until`: still revoked 1 ms before `until`, no longer at `until`.
pub async fn revoke_kept_until_until(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let start = ctx.now();
    let until = start.saturating_add(Duration::from_secs(30));
    stores.revocations.revoke("sri-1", until).await?;
    ctx.advance_ms(29_999);
    assert!(
        stores
            .revocations
            .is_revoked("sri-1", "alice", start)
            .await?,
        "the revocation was dropped 1 ms before its until"
    );
    ctx.advance_ms(1);
    assert!(
        !stores
            .revocations
            .is_revoked("sri-1", "alice", start)
            .await?,
        "the revocation is still in force at its until (until is exclusive)"
    );
    Ok(())
}

/// `revoke_never_shortens`: a second revoke with an earlier `until` keeps the later one;
/// one with a later `until` extends it.
pub async fn revoke_never_shortens(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let start = ctx.now();
    stores
        .revocations
        .revoke("sri-1", shift(start, 20_000))
        .await?;
    stores
        .revocations
        .revoke("sri-1", shift(start, 10_000))
        .await?;
    stores
        .revocations
        .revoke("sri-2", shift(start, 10_000))
        .await?;
    stores
        .revocations
        .revoke("sri-2", shift(start, 20_000))
        .await?;
    ctx.advance_ms(10_000);
    for sri in ["sri-1", "sri-2"] {
        assert!(
            stores.revocations.is_revoked(sri, "alice", start).await?,
            "{sri}: a revocation was shortened to an earlier until"
        );
    }
    ctx.advance_ms(9_999);
    for sri in ["sri-1", "sri-2"] {
        assert!(
            stores.revocations.is_revoked(sri, "alice", start).await?,
            "{sri}: the later until was not kept (gone 1 ms before it)"
        );
    }
    ctx.advance_ms(1);
    for sri in ["sri-1", "sri-2"] {
        assert!(
            !stores.revocations.is_revoked(sri, "alice", start).await?,
            "{sri}: revoked past the latest until"
        );
    }
    Ok(())
}

/// `revoke_refuses_past_until`: an `until` at or before now is `InvalidInput`, and
/// nothing is recorded (not revoked, nothing in the feed).
pub async fn revoke_refuses_past_until(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    Ctx::expect_kind(
        stores.revocations.revoke("sri-now", now).await,
        ErrorKind::InvalidInput,
    )?;
    Ctx::expect_kind(
        stores.revocations.revoke("sri-past", shift(now, -1)).await,
        ErrorKind::InvalidInput,
    )?;
    for sri in ["sri-now", "sri-past"] {
        assert!(
            !stores.revocations.is_revoked(sri, "alice", now).await?,
            "{sri}: a refused revocation was recorded"
        );
    }
    let batch = stores.revocations.changes_since(0, 100).await?;
    assert!(
        batch.changes.is_empty(),
        "a refused revocation appears in the change feed: {:?}",
        batch.changes
    );
    // 1 ms in the future is valid.
    stores.revocations.revoke("sri-next", shift(now, 1)).await?;
    assert!(
        stores
            .revocations
            .is_revoked("sri-next", "alice", now)
            .await?,
        "a revocation until now + 1 ms was not recorded"
    );
    Ok(())
}

/// `revoke_never_evicts`: 300 revocations later, the first one is still in force (no
/// capped FIFO list).
pub async fn revoke_never_evicts(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let until = now.saturating_add(HOUR);
    const N: usize = 300;
    for i in 0..N {
        stores
            .revocations
            .revoke(&format!("sri-{i}"), until)
            .await?;
    }
    for i in 0..N {
        assert!(
            stores
                .revocations
                .is_revoked(&format!("sri-{i}"), "alice", now)
                .await?,
            "revocation sri-{i} of {N} was dropped before its until"
        );
    }
    let mut cursor = 0;
    let mut seen = 0;
    loop {
        let batch = stores.revocations.changes_since(cursor, 100).await?;
        if batch.changes.is_empty() {
            break;
        }
        seen += batch.changes.len();
        cursor = batch.cursor;
    }
    assert_eq!(seen, N, "the change feed does not hold every revocation");
    Ok(())
}

/// `is_revoked_unknown_is_false`: nothing revoked reads as not revoked.
pub async fn is_revoked_unknown_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    assert!(
        !stores.revocations.is_revoked("sri-1", "alice", now).await?,
        "an empty store revoked a session"
    );
    assert!(
        !stores
            .revocations
            .is_revoked("sri-1", "alice", Timestamp::EPOCH)
            .await?,
        "an empty store revoked a session issued at the epoch"
    );
    Ok(())
}

/// `is_revoked_isolates_sris`: revoking one SRI revokes no other, not even one that
/// shares a prefix or differs only in case.
pub async fn is_revoked_isolates_sris(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    stores
        .revocations
        .revoke("sri-1", now.saturating_add(HOUR))
        .await?;
    assert!(stores.revocations.is_revoked("sri-1", "alice", now).await?);
    for other in ["sri-2", "sri-10", "sri-", "SRI-1", "sri-1 "] {
        assert!(
            !stores.revocations.is_revoked(other, "alice", now).await?,
            "revoking sri-1 also revoked {other:?}"
        );
    }
    Ok(())
}

/// `revoke_subject_revokes_earlier_sessions`: every session of the subject issued before
/// the cutoff is revoked, whatever its SRI, up to 1 ms before the cutoff.
pub async fn revoke_subject_revokes_earlier_sessions(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let before = ctx.now();
    stores
        .revocations
        .revoke_subject("alice", before, before.saturating_add(HOUR))
        .await?;
    for (sri, issued_at) in [
        ("never-seen-1", shift(before, -1)),
        ("never-seen-2", shift(before, -3_600_000)),
        ("never-seen-3", Timestamp::EPOCH),
    ] {
        assert!(
            stores
                .revocations
                .is_revoked(sri, "alice", issued_at)
                .await?,
            "a session of the subject issued at {issued_at} (before {before}) is not revoked"
        );
    }
    Ok(())
}

/// `revoke_subject_spares_later_sessions`: a session issued at or after the cutoff is
/// not revoked.
pub async fn revoke_subject_spares_later_sessions(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let before = ctx.now();
    stores
        .revocations
        .revoke_subject("alice", before, before.saturating_add(HOUR))
        .await?;
    ctx.advance(Duration::from_secs(60));
    for issued_at in [before, shift(before, 1), shift(before, 60_000)] {
        assert!(
            !stores
                .revocations
                .is_revoked("sri-new", "alice", issued_at)
                .await?,
            "a session issued at {issued_at}, not before the cutoff {before}, is revoked"
        );
    }
    Ok(())
}

/// `revoke_subject_spares_other_subjects`: other subjects' sessions, including ones
/// whose names differ only in case or by a suffix, are not revoked.
pub async fn revoke_subject_spares_other_subjects(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let before = ctx.now();
    stores
        .revocations
        .revoke_subject("alice", before, before.saturating_add(HOUR))
        .await?;
    let early = shift(before, -60_000);
    for other in ["bob", "ALICE", "alice2", "alic"] {
        assert!(
            !stores.revocations.is_revoked("sri-x", other, early).await?,
            "revoking subject alice also revoked subject {other:?}"
        );
    }
    assert!(
        stores
            .revocations
            .is_revoked("sri-x", "alice", early)
            .await?
    );
    Ok(())
}

/// `revoke_subject_keeps_latest_cutoff`: each later call keeps the later `before` and,
/// independently, the later `until`.
pub async fn revoke_subject_keeps_latest_cutoff(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let t0 = ctx.now();
    let rev = &stores.revocations;
    rev.revoke_subject("alice", t0, shift(t0, 3_600_000))
        .await?;
    ctx.advance_ms(10_000);
    // An earlier cutoff and an earlier until: neither may shrink.
    rev.revoke_subject("alice", shift(t0, -5_000), shift(t0, 1_800_000))
        .await?;
    assert!(
        rev.is_revoked("sri", "alice", shift(t0, -1)).await?,
        "an earlier cutoff replaced the later one"
    );
    // A later cutoff with an earlier until: the cutoff moves, the until stays.
    let later = shift(t0, 10_000);
    rev.revoke_subject("alice", later, shift(t0, 1_200_000))
        .await?;
    assert!(
        rev.is_revoked("sri", "alice", shift(later, -1)).await?,
        "the later cutoff was not kept"
    );
    assert!(
        !rev.is_revoked("sri", "alice", later).await?,
        "a session issued at the cutoff is revoked"
    );
    ctx.clock.set(shift(t0, 3_599_999));
    assert!(
        rev.is_revoked("sri", "alice", shift(later, -1)).await?,
        "an earlier until shortened the subject revocation"
    );
    ctx.clock.set(shift(t0, 3_600_000));
    assert!(
        !rev.is_revoked("sri", "alice", shift(later, -1)).await?,
        "the subject revocation outlived the latest until"
    );
    Ok(())
}

/// `revoke_subject_kept_until_until`: the subject revocation holds 1 ms before `until`
/// and ends at `until`.
pub async fn revoke_subject_kept_until_until(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let before = ctx.now();
    let until = shift(before, 30_000);
    stores
        .revocations
        .revoke_subject("alice", before, until)
        .await?;
    let issued = shift(before, -1);
    ctx.advance_ms(29_999);
    assert!(
        stores
            .revocations
            .is_revoked("sri", "alice", issued)
            .await?,
        "the subject revocation ended 1 ms before its until"
    );
    ctx.advance_ms(1);
    assert!(
        !stores
            .revocations
            .is_revoked("sri", "alice", issued)
            .await?,
        "the subject revocation is still in force at its until (until is exclusive)"
    );
    Ok(())
}

/// `changes_since_lists_in_order`: every revoke and revoke_subject appears once, in call
/// order, with strictly increasing `seq` and its own `until`.
pub async fn changes_since_lists_in_order(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let rev = &stores.revocations;
    let c = &ctx.config;
    let expected = vec![
        (sri_target(c, "sri-b"), shift(now, 50_000)),
        (subject_target(c, "alice", now), shift(now, 40_000)),
        (sri_target(c, "sri-a"), shift(now, 30_000)),
        (subject_target(c, "bob", shift(now, -7)), shift(now, 20_000)),
        (sri_target(c, "sri-c"), shift(now, 10_000)),
    ];
    rev.revoke("sri-b", shift(now, 50_000)).await?;
    rev.revoke_subject("alice", now, shift(now, 40_000)).await?;
    rev.revoke("sri-a", shift(now, 30_000)).await?;
    rev.revoke_subject("bob", shift(now, -7), shift(now, 20_000))
        .await?;
    rev.revoke("sri-c", shift(now, 10_000)).await?;
    let batch = rev.changes_since(0, 100).await?;
    check_strictly_increasing(&batch.changes)?;
    let got: Vec<_> = batch.changes.iter().map(|c| (c.target, c.until)).collect();
    assert_eq!(
        got, expected,
        "the change feed does not list every revocation once, in call order"
    );
    let last = batch.changes.last().map(|c| c.seq);
    assert_eq!(
        Some(batch.cursor),
        last,
        "the cursor is not the last change's seq"
    );
    Ok(())
}

/// `changes_since_resumes_from_cursor`: the returned cursor gives only later changes; an
/// empty page (including on an empty store) returns the cursor it was given.
pub async fn changes_since_resumes_from_cursor(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let rev = &stores.revocations;
    let until = ctx.now().saturating_add(HOUR);
    let empty = rev.changes_since(0, 100).await?;
    assert!(empty.changes.is_empty(), "an empty store has changes");
    assert_eq!(empty.cursor, 0, "an empty page moved the cursor");
    for sri in ["sri-1", "sri-2", "sri-3"] {
        rev.revoke(sri, until).await?;
    }
    let first = rev.changes_since(0, 100).await?;
    assert_eq!(first.changes.len(), 3);
    let again = rev.changes_since(first.cursor, 100).await?;
    assert!(
        again.changes.is_empty(),
        "changes after the cursor were already returned: {:?}",
        again.changes
    );
    assert_eq!(again.cursor, first.cursor, "an empty page moved the cursor");
    // Resuming from the middle gives exactly the rest.
    let after_first = rev.changes_since(first.changes[0].seq, 100).await?;
    assert_eq!(
        after_first.changes,
        first.changes[1..].to_vec(),
        "resuming from the first change's seq did not give exactly the later ones"
    );
    rev.revoke("sri-4", until).await?;
    rev.revoke_subject("alice", ctx.now(), until).await?;
    let next = rev.changes_since(first.cursor, 100).await?;
    let targets: Vec<_> = next.changes.iter().map(|c| c.target).collect();
    assert_eq!(
        targets,
        vec![
            sri_target(&ctx.config, "sri-4"),
            subject_target(&ctx.config, "alice", ctx.now()),
        ],
        "resuming from the cursor did not give exactly the later changes"
    );
    check_strictly_increasing(&next.changes)?;
    if next.changes.first().is_some_and(|c| c.seq <= first.cursor) {
        return fail("a later change has a seq at or below the earlier cursor");
    }
    assert_eq!(Some(next.cursor), next.changes.last().map(|c| c.seq));
    Ok(())
}

/// `changes_since_respects_limit`: pages never hold more than `limit`, and paging
/// through returns the whole feed once.
pub async fn changes_since_respects_limit(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let rev = &stores.revocations;
    let until = ctx.now().saturating_add(HOUR);
    for i in 0..7 {
        rev.revoke(&format!("sri-{i}"), until).await?;
    }
    let all = rev.changes_since(0, 100).await?.changes;
    assert_eq!(all.len(), 7);
    let mut paged = Vec::new();
    let mut cursor = 0;
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let batch = rev.changes_since(cursor, 2).await?;
        if batch.changes.len() > 2 {
            return fail(format!(
                "a page with limit 2 held {} changes",
                batch.changes.len()
            ));
        }
        sizes.push(batch.changes.len());
        if batch.changes.is_empty() {
            break;
        }
        cursor = batch.cursor;
        paged.extend(batch.changes);
    }
    assert_eq!(
        paged, all,
        "paging with limit 2 did not return the whole feed once, in order (page sizes {sizes:?})"
    );
    let one = rev.changes_since(0, 1).await?;
    assert_eq!(one.changes.len(), 1, "limit 1 did not return one change");
    assert_eq!(one.cursor, one.changes[0].seq);
    Ok(())
}

/// `changes_since_includes_subject_revocations`: a subject revocation appears with the
/// subject's hash, its cutoff and its until, so a cache can apply it.
pub async fn changes_since_includes_subject_revocations(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let before = shift(ctx.now(), -1_234);
    let until = ctx.now().saturating_add(HOUR);
    stores
        .revocations
        .revoke_subject("alice@example.com", before, until)
        .await?;
    let batch = stores.revocations.changes_since(0, 100).await?;
    match batch.changes.as_slice() {
        [change] => {
            assert_eq!(
                change.target,
                subject_target(&ctx.config, "alice@example.com", before),
                "the change does not name the subject's hash and its cutoff"
            );
            assert_eq!(change.until, until, "the change does not carry its until");
            Ok(())
        }
        other => fail(format!(
            "one subject revocation should give one change, got {other:?}"
        )),
    }
}

/// `changes_since_hashes_match_store_config_hash`: with a pepper configured, the feed's
/// keys equal `StoreConfig::hash` in the documented domains, so a node can look SRIs and
/// subjects up in its local cache.
pub async fn changes_since_hashes_match_store_config_hash(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let now = ctx.now();
    let until = now.saturating_add(HOUR);
    let sri = "_a6b1c9e0-sri@idp.example.com";
    stores.revocations.revoke(sri, until).await?;
    stores
        .revocations
        .revoke_subject("uid=alice,ou=people", now, until)
        .await?;
    let batch = stores.revocations.changes_since(0, 100).await?;
    let targets: Vec<_> = batch.changes.iter().map(|c| c.target).collect();
    let expected = vec![
        RevocationTarget::Session(ctx.config.hash(REVOCATION_SRI_DOMAIN, sri.as_bytes())),
        RevocationTarget::Subject {
            subject: ctx
                .config
                .hash(REVOCATION_SUBJECT_DOMAIN, b"uid=alice,ou=people"),
            before: now,
        },
    ];
    assert_eq!(
        targets, expected,
        "the change feed's keys are not StoreConfig::hash(REVOCATION_SRI_DOMAIN / \
         REVOCATION_SUBJECT_DOMAIN, value) with the store's pepper"
    );
    Ok(())
}

/// `revoke_subject_does_not_revoke_unrelated_sri_of_other_subject`: a subject revocation
/// is keyed by subject, not by the SRIs it has been asked about: the same SRI string
/// under another subject stays valid, and a later SRI revocation of another subject's
/// session does not spread to the subject.
pub async fn revoke_subject_does_not_revoke_unrelated_sri_of_other_subject(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let rev = &stores.revocations;
    let before = ctx.now();
    let until = before.saturating_add(HOUR);
    let early = shift(before, -60_000);
    rev.revoke_subject("alice", before, until).await?;
    assert!(rev.is_revoked("shared-sri", "alice", early).await?);
    assert!(
        !rev.is_revoked("shared-sri", "bob", early).await?,
        "bob's session was revoked because alice, whose sessions are revoked, was asked \
         about the same SRI"
    );
    rev.revoke("bob-sri", until).await?;
    assert!(rev.is_revoked("bob-sri", "bob", early).await?);
    assert!(
        !rev.is_revoked("other-bob-sri", "bob", early).await?,
        "revoking one of bob's SRIs revoked all of bob's sessions"
    );
    Ok(())
}

/// `revoke_seen_by_other_node`: a revocation made on one node is in force on another at
/// once (no node-local cache may answer "not revoked").
pub async fn revoke_seen_by_other_node(ctx: Ctx) -> CaseResult {
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    let now = ctx.now();
    let until = now.saturating_add(HOUR);
    assert!(!node_b.revocations.is_revoked("sri-1", "alice", now).await?);
    node_a.revocations.revoke("sri-1", until).await?;
    node_a.revocations.revoke_subject("bob", now, until).await?;
    assert!(
        node_b.revocations.is_revoked("sri-1", "alice", now).await?,
        "another node does not see an SRI revocation"
    );
    assert!(
        node_b
            .revocations
            .is_revoked("sri-2", "bob", shift(now, -1))
            .await?,
        "another node does not see a subject revocation"
    );
    let feed = node_b.revocations.changes_since(0, 100).await?;
    assert_eq!(feed.changes.len(), 2, "another node's feed misses changes");
    Ok(())
}
