//! The `lockout` cases: one per `# Behavior` bullet of
//! [`LockoutStore`](authstate_core::LockoutStore) (the concurrent count is in the
//! `concurrency` group), plus what an account-locking service relies on: failures while
//! locked, key and namespace isolation, reads that never count, and a second node's view.

use std::time::Duration;

use authstate_core::{ErrorKind, LockoutPolicy, LockoutStatus, Namespace, StoreConfig};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_lockout {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] lockout:
            record_failure_counts_from_one,
            record_failure_locks_at_max_failures,
            record_failure_window_expires,
            record_failure_refuses_bad_policy,
            status_unknown_is_zero,
            status_shows_lock_until_it_ends,
            status_after_expiry_is_zero,
            reset_clears_counter,
            reset_unknown_is_ok,
            record_failure_locked_stays_counted,
            record_failure_locks_first_at_threshold_one,
            record_failure_isolates_keys,
            record_failure_refuses_bad_key,
            record_failure_counts_across_nodes,
            status_does_not_count,
            namespaces_are_isolated,
        }
    };
}
crate::__authstate_cases_lockout!(list);

/// A policy with these numbers, in seconds.
fn policy(max_failures: u32, window_s: u64, lockout_s: u64) -> LockoutPolicy {
    LockoutPolicy {
        max_failures,
        failure_window: Duration::from_secs(window_s),
        lockout_duration: Duration::from_secs(lockout_s),
    }
}

/// Unlocked with `failures` failures.
fn unlocked(failures: u32) -> LockoutStatus {
    LockoutStatus {
        failures,
        locked_until: None,
    }
}

/// `record_failure_counts_from_one`
pub async fn record_failure_counts_from_one(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = LockoutPolicy::default();
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(1),
        "the first failure must count 1 and not lock"
    );
    assert_eq!(stores.lockout.status("alice").await?, unlocked(1));
    Ok(())
}

/// `record_failure_locks_at_max_failures`
pub async fn record_failure_locks_at_max_failures(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(3, 3600, 900);
    for n in 1..=2 {
        assert_eq!(
            stores.lockout.record_failure("alice", &p).await?,
            unlocked(n),
            "failure {n} of 3 must not lock"
        );
        ctx.advance_ms(1_000);
    }
    let expected = LockoutStatus {
        failures: 3,
        locked_until: Some(ctx.now().saturating_add(p.lockout_duration)),
    };
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        expected,
        "the failure reaching max_failures must lock until now + lockout_duration"
    );
    assert_eq!(stores.lockout.status("alice").await?, expected);
    Ok(())
}

/// `record_failure_window_expires`
pub async fn record_failure_window_expires(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(5, 60, 300);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(1)
    );
    // The window runs from the latest failure: 1 ms before it ends, the count goes on.
    ctx.advance_ms(60_000 - 1);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(2),
        "a failure 1 ms before the window ended did not add to the count"
    );
    ctx.advance_ms(60_000 - 1);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(3),
        "the window did not run from the latest failure"
    );
    // Exactly one window after the latest failure, the count starts again.
    ctx.advance_ms(60_000);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(1),
        "a failure at the end of the window did not start again from 1"
    );
    Ok(())
}

/// `record_failure_refuses_bad_policy`
pub async fn record_failure_refuses_bad_policy(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let good = policy(5, 60, 60);
    stores.lockout.record_failure("alice", &good).await?;
    let bad = [
        (
            "a zero threshold",
            LockoutPolicy {
                max_failures: 0,
                ..good
            },
        ),
        (
            "a zero window",
            LockoutPolicy {
                failure_window: Duration::ZERO,
                ..good
            },
        ),
        (
            "a zero lockout duration",
            LockoutPolicy {
                lockout_duration: Duration::ZERO,
                ..good
            },
        ),
    ];
    for (what, p) in bad {
        for key in ["alice", "bob"] {
            let result = stores.lockout.record_failure(key, &p).await;
            if let Err(e) = Ctx::expect_kind(result, ErrorKind::InvalidInput) {
                return fail(format!("a policy with {what}: {e}"));
            }
        }
    }
    // The refused calls counted nothing, on a live counter or a new one.
    assert_eq!(stores.lockout.status("alice").await?, unlocked(1));
    assert_eq!(stores.lockout.status("bob").await?, unlocked(0));
    Ok(())
}

/// `status_unknown_is_zero`
pub async fn status_unknown_is_zero(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    assert_eq!(
        stores.lockout.status("nobody").await?,
        unlocked(0),
        "an unknown key must read as 0 failures, unlocked"
    );
    Ok(())
}

/// `status_shows_lock_until_it_ends`
pub async fn status_shows_lock_until_it_ends(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // The window outlasts the lock, so the counter is still there when the lock ends.
    let p = policy(2, 3600, 600);
    stores.lockout.record_failure("alice", &p).await?;
    let locked = stores.lockout.record_failure("alice", &p).await?;
    let until = ctx.now().saturating_add(p.lockout_duration);
    assert_eq!(locked.locked_until, Some(until));

    ctx.advance_ms(600_000 - 1);
    let s = stores.lockout.status("alice").await?;
    assert_eq!(
        s,
        LockoutStatus {
            failures: 2,
            locked_until: Some(until),
        },
        "1 ms before locked_until the status must show the lock"
    );
    assert!(s.is_locked_at(ctx.now()));

    ctx.advance_ms(1);
    let s = stores.lockout.status("alice").await?;
    assert!(
        !s.is_locked_at(ctx.now()),
        "at locked_until the account must no longer be locked: {s:?}"
    );
    assert_eq!(
        s.failures, 2,
        "the failures must stay counted within the window after the lock ends"
    );
    Ok(())
}

/// `status_after_expiry_is_zero`
pub async fn status_after_expiry_is_zero(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // An unlocked counter expires one window after its latest failure.
    let p = policy(5, 60, 300);
    stores.lockout.record_failure("alice", &p).await?;
    stores.lockout.record_failure("alice", &p).await?;
    // A locked counter expires when its lock ends, after its window.
    let strict = policy(1, 60, 300);
    stores.lockout.record_failure("bob", &strict).await?;

    ctx.advance_ms(60_000 - 1);
    assert_eq!(stores.lockout.status("alice").await?, unlocked(2));
    ctx.advance_ms(1);
    assert_eq!(
        stores.lockout.status("alice").await?,
        unlocked(0),
        "a counter was still read one window after its latest failure"
    );
    let bob = stores.lockout.status("bob").await?;
    assert!(
        bob.failures == 1 && bob.is_locked_at(ctx.now()),
        "a locked counter must outlive its window until the lock ends: {bob:?}"
    );

    ctx.advance_ms(300_000 - 60_000 - 1);
    let bob = stores.lockout.status("bob").await?;
    assert!(
        bob.failures == 1 && bob.is_locked_at(ctx.now()),
        "1 ms before locked_until the counter must be locked: {bob:?}"
    );
    ctx.advance_ms(1);
    assert_eq!(
        stores.lockout.status("bob").await?,
        unlocked(0),
        "a counter was still read after both its window and its lock ended"
    );
    Ok(())
}

/// `reset_clears_counter`
pub async fn reset_clears_counter(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(2, 3600, 3600);
    stores.lockout.record_failure("alice", &p).await?;
    let locked = stores.lockout.record_failure("alice", &p).await?;
    assert!(
        locked.is_locked_at(ctx.now()),
        "two failures of two must lock"
    );

    stores.lockout.reset("alice").await?;
    assert_eq!(
        stores.lockout.status("alice").await?,
        unlocked(0),
        "reset must clear the count and the lock"
    );
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(1),
        "after a reset the next failure must count from 1"
    );
    Ok(())
}

/// `reset_unknown_is_ok`
pub async fn reset_unknown_is_ok(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.lockout.reset("nobody").await?;
    assert_eq!(stores.lockout.status("nobody").await?, unlocked(0));
    assert_eq!(
        stores
            .lockout
            .record_failure("nobody", &LockoutPolicy::default())
            .await?,
        unlocked(1)
    );
    Ok(())
}

/// `record_failure_locked_stays_counted`: failures while locked keep counting and push
/// the lock out to `now + lockout_duration`, even after the window of the locking
/// failure has passed.
pub async fn record_failure_locked_stays_counted(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(3, 60, 600);
    for _ in 0..3 {
        stores.lockout.record_failure("alice", &p).await?;
    }
    // Past the window, within the lock: the counter is kept by its lock.
    ctx.advance_ms(100_000);
    let relocked_until = ctx.now().saturating_add(p.lockout_duration);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        LockoutStatus {
            failures: 4,
            locked_until: Some(relocked_until),
        },
        "a failure while locked must count on and renew the lock"
    );
    ctx.advance_ms(600_000 - 1);
    let s = stores.lockout.status("alice").await?;
    assert!(
        s.failures == 4 && s.is_locked_at(ctx.now()),
        "the renewed lock must hold until its end: {s:?}"
    );
    ctx.advance_ms(1);
    assert_eq!(
        stores.lockout.status("alice").await?,
        unlocked(0),
        "the counter outlived the renewed lock and its window"
    );
    Ok(())
}

/// `record_failure_locks_first_at_threshold_one`: with a threshold of 1 the first
/// failure locks.
pub async fn record_failure_locks_first_at_threshold_one(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(1, 60, 120);
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        LockoutStatus {
            failures: 1,
            locked_until: Some(ctx.now().saturating_add(p.lockout_duration)),
        }
    );
    Ok(())
}

/// `record_failure_isolates_keys`: counting, locking and resetting one key never
/// touches another, however alike.
pub async fn record_failure_isolates_keys(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(3, 3600, 3600);
    for _ in 0..3 {
        stores.lockout.record_failure("alice", &p).await?;
    }
    let others = ["Alice", "alice ", "alic", "alice|203.0.113.7"];
    for key in others {
        assert_eq!(
            stores.lockout.status(key).await?,
            unlocked(0),
            "{key:?} saw the failures of \"alice\""
        );
        assert_eq!(stores.lockout.record_failure(key, &p).await?, unlocked(1));
    }
    stores.lockout.reset("Alice").await?;
    let alice = stores.lockout.status("alice").await?;
    assert!(
        alice.failures == 3 && alice.is_locked_at(ctx.now()),
        "resetting \"Alice\" changed \"alice\": {alice:?}"
    );
    for key in &others[1..] {
        assert_eq!(stores.lockout.status(key).await?, unlocked(1));
    }
    Ok(())
}

/// `record_failure_refuses_bad_key`: an empty key or one over the key limit is
/// `InvalidInput`; a key of exactly the limit counts.
pub async fn record_failure_refuses_bad_key(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = LockoutPolicy::default();
    let max = ctx.config.limits.max_key_bytes;
    Ctx::expect_kind(
        stores.lockout.record_failure("", &p).await,
        ErrorKind::InvalidInput,
    )?;
    Ctx::expect_kind(
        stores
            .lockout
            .record_failure(&"k".repeat(max + 1), &p)
            .await,
        ErrorKind::InvalidInput,
    )?;
    let exact = "k".repeat(max);
    assert_eq!(
        stores.lockout.record_failure(&exact, &p).await?,
        unlocked(1)
    );
    assert_eq!(stores.lockout.status(&exact).await?, unlocked(1));
    Ok(())
}

/// `record_failure_counts_across_nodes`: failures on different nodes add up to one
/// count, and a lock set on one node is seen on the others.
pub async fn record_failure_counts_across_nodes(ctx: Ctx) -> CaseResult {
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    let p = policy(3, 3600, 900);
    assert_eq!(
        node_a.lockout.record_failure("alice", &p).await?,
        unlocked(1)
    );
    assert_eq!(
        node_b.lockout.record_failure("alice", &p).await?,
        unlocked(2)
    );
    let locked = node_a.lockout.record_failure("alice", &p).await?;
    let expected = LockoutStatus {
        failures: 3,
        locked_until: Some(ctx.now().saturating_add(p.lockout_duration)),
    };
    assert_eq!(locked, expected);
    assert_eq!(
        node_b.lockout.status("alice").await?,
        expected,
        "another node must see the lock"
    );
    node_b.lockout.reset("alice").await?;
    assert_eq!(
        node_a.lockout.status("alice").await?,
        unlocked(0),
        "another node must see the reset"
    );
    Ok(())
}

/// `status_does_not_count`: reading a counter neither adds a failure nor slides its
/// window.
pub async fn status_does_not_count(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let p = policy(3, 60, 600);
    stores.lockout.record_failure("alice", &p).await?;
    stores.lockout.record_failure("alice", &p).await?;
    for _ in 0..5 {
        assert_eq!(stores.lockout.status("alice").await?, unlocked(2));
    }
    // Reading just before the window ends must not keep the counter alive.
    ctx.advance_ms(60_000 - 1);
    assert_eq!(stores.lockout.status("alice").await?, unlocked(2));
    ctx.advance_ms(1);
    assert_eq!(
        stores.lockout.status("alice").await?,
        unlocked(0),
        "a status read slid the failure window"
    );
    assert_eq!(
        stores.lockout.record_failure("alice", &p).await?,
        unlocked(1),
        "status reads were counted as failures"
    );
    // A status read of an unknown key creates no counter either.
    assert_eq!(stores.lockout.status("bob").await?, unlocked(0));
    assert_eq!(stores.lockout.record_failure("bob", &p).await?, unlocked(1));
    Ok(())
}

/// `namespaces_are_isolated`: the same key in two namespaces is two counters.
pub async fn namespaces_are_isolated(ctx: Ctx) -> CaseResult {
    let ours = ctx.open().await?;
    let other_config = StoreConfig {
        namespace: Namespace::random()?,
        ..ctx.config.clone()
    };
    let theirs = ctx.open_with(other_config).await?;
    let p = policy(2, 3600, 3600);
    ours.lockout.record_failure("alice", &p).await?;
    ours.lockout.record_failure("alice", &p).await?;
    assert_eq!(
        theirs.lockout.status("alice").await?,
        unlocked(0),
        "a lock is visible from another namespace"
    );
    assert_eq!(
        theirs.lockout.record_failure("alice", &p).await?,
        unlocked(1)
    );
    theirs.lockout.reset("alice").await?;
    let s = ours.lockout.status("alice").await?;
    assert!(
        s.failures == 2 && s.is_locked_at(ctx.now()),
        "a reset in another namespace changed ours: {s:?}"
    );
    Ok(())
}
