//! The `replay` cases: one per `# Behavior` bullet of
//! [`ReplayCache`](authstate_core::ReplayCache) (the concurrent one is in the
//! `concurrency` group), plus id and namespace isolation, the exact retention edges, id
//! limits and a second node's view.

use std::time::Duration;

use authstate_core::{ErrorKind, Namespace, Replay, StoreConfig, Timestamp};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_replay {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] replay:
            check_and_record_first_is_fresh,
            check_and_record_again_is_replayed,
            check_and_record_kept_until_not_after,
            check_and_record_replay_keeps_entry,
            check_and_record_refuses_past_not_after,
            check_and_record_refuses_beyond_max_retention,
            check_and_record_never_evicts,
            check_and_record_isolates_ids,
            check_and_record_fresh_again_after_not_after,
            check_and_record_accepts_max_retention_exactly,
            check_and_record_refuses_bad_id,
            check_and_record_replayed_on_other_node,
            namespaces_are_isolated,
        }
    };
}
crate::__authstate_cases_replay!(list);

/// `ms` milliseconds after the case's current time.
fn in_ms(ctx: &Ctx, ms: u64) -> Timestamp {
    ctx.now().saturating_add(Duration::from_millis(ms))
}

/// Moves the case's clock forward to `t`.
fn advance_to(ctx: &Ctx, t: Timestamp) {
    ctx.advance(t.duration_since(ctx.now()));
}

/// `check_and_record_first_is_fresh`
pub async fn check_and_record_first_is_fresh(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let not_after = in_ms(&ctx, 300_000);
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh,
        "the first sighting of an id must be Fresh"
    );
    Ok(())
}

/// `check_and_record_again_is_replayed`
pub async fn check_and_record_again_is_replayed(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let not_after = in_ms(&ctx, 300_000);
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh
    );
    // The same assertion again, and the same id claiming another validity (shorter,
    // longer), each a while later: all replays. The not_after is taken at call time so
    // that it is always still in the future.
    // `None` repeats the original not_after; `Some(ms)` is that far after the call.
    let later: [(&str, Option<u64>); 4] = [
        ("the same not_after", None),
        ("the same not_after again", None),
        ("a not_after 1 ms ahead", Some(1)),
        ("a not_after an hour ahead", Some(3_600_000)),
    ];
    for (what, ahead_ms) in later {
        ctx.advance_ms(1_000);
        let n = ahead_ms.map_or(not_after, |ms| in_ms(&ctx, ms));
        assert_eq!(
            stores.replay.check_and_record("jti-1", n).await?,
            Replay::Replayed,
            "a later call with {what} for a recorded id was not Replayed"
        );
    }
    Ok(())
}

/// `check_and_record_kept_until_not_after`
pub async fn check_and_record_kept_until_not_after(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let not_after = in_ms(&ctx, 120_000);
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh
    );
    // The last millisecond of the entry's life, with no purge in between.
    advance_to(&ctx, not_after.saturating_sub(Duration::from_millis(1)));
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed,
        "the entry was gone 1 ms before its not_after"
    );
    Ok(())
}

/// `check_and_record_replay_keeps_entry`
pub async fn check_and_record_replay_keeps_entry(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let start = ctx.now();
    let at = |ms: u64| start.saturating_add(Duration::from_millis(ms));

    // A replay with an earlier not_after must not shorten the entry...
    let long_not_after = at(60_000);
    assert_eq!(
        stores
            .replay
            .check_and_record("shorten", long_not_after)
            .await?,
        Replay::Fresh
    );
    // ...and a replay with a later not_after must not lengthen one.
    let short_not_after = at(10_000);
    assert_eq!(
        stores
            .replay
            .check_and_record("lengthen", short_not_after)
            .await?,
        Replay::Fresh
    );

    ctx.advance_ms(1_000);
    assert_eq!(
        stores.replay.check_and_record("shorten", at(2_000)).await?,
        Replay::Replayed
    );
    assert_eq!(
        stores
            .replay
            .check_and_record("lengthen", at(3_600_000))
            .await?,
        Replay::Replayed
    );

    // At the replay's shorter not_after the first entry must still be there.
    advance_to(&ctx, at(2_000));
    assert_eq!(
        stores
            .replay
            .check_and_record("shorten", long_not_after)
            .await?,
        Replay::Replayed,
        "a Replayed answer shortened the entry to the replay's not_after"
    );
    // At its own not_after the second entry must be gone.
    advance_to(&ctx, short_not_after);
    assert_eq!(
        stores
            .replay
            .check_and_record("lengthen", at(3_600_000))
            .await?,
        Replay::Fresh,
        "a Replayed answer extended the entry to the replay's not_after"
    );
    advance_to(&ctx, at(60_000 - 1));
    assert_eq!(
        stores
            .replay
            .check_and_record("shorten", long_not_after)
            .await?,
        Replay::Replayed,
        "after a replay the entry did not live until its own not_after"
    );
    Ok(())
}

/// `check_and_record_refuses_past_not_after`
pub async fn check_and_record_refuses_past_not_after(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    for (what, not_after) in [
        ("now", now),
        ("1 ms ago", now.saturating_sub(Duration::from_millis(1))),
        ("an hour ago", now.saturating_sub(Duration::from_secs(3600))),
    ] {
        let result = stores.replay.check_and_record("jti-1", not_after).await;
        if let Err(e) = Ctx::expect_kind(result, ErrorKind::InvalidInput) {
            return fail(format!("a not_after of {what}: {e}"));
        }
    }
    // The refused calls recorded nothing, and 1 ms ahead is valid.
    assert_eq!(
        stores
            .replay
            .check_and_record("jti-1", now.saturating_add(Duration::from_millis(1)))
            .await?,
        Replay::Fresh,
        "a refused call recorded the id (or a not_after 1 ms ahead was refused)"
    );
    Ok(())
}

/// `check_and_record_refuses_beyond_max_retention`
pub async fn check_and_record_refuses_beyond_max_retention(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_replay_retention;
    let beyond = ctx.now().saturating_add(max + Duration::from_millis(1));
    Ctx::expect_kind(
        stores.replay.check_and_record("jti-1", beyond).await,
        ErrorKind::InvalidInput,
    )?;
    let far = ctx
        .now()
        .saturating_add(Duration::from_secs(10 * 365 * 24 * 3600));
    Ctx::expect_kind(
        stores.replay.check_and_record("jti-1", far).await,
        ErrorKind::InvalidInput,
    )?;
    Ctx::expect_kind(
        stores
            .replay
            .check_and_record("jti-1", Timestamp::MAX)
            .await,
        ErrorKind::InvalidInput,
    )?;
    assert_eq!(
        stores
            .replay
            .check_and_record("jti-1", in_ms(&ctx, 60_000))
            .await?,
        Replay::Fresh,
        "a refused call recorded the id"
    );
    Ok(())
}

/// `check_and_record_never_evicts`
pub async fn check_and_record_never_evicts(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    const IDS: usize = 400;
    let not_after = in_ms(&ctx, 3_600_000);
    for i in 0..IDS {
        let id = format!("jti-{i:04}");
        assert_eq!(
            stores.replay.check_and_record(&id, not_after).await?,
            Replay::Fresh,
            "{id} was not Fresh the first time"
        );
    }
    ctx.advance_ms(3_600_000 - 1);
    let mut dropped = Vec::new();
    for i in 0..IDS {
        let id = format!("jti-{i:04}");
        if stores.replay.check_and_record(&id, not_after).await? != Replay::Replayed {
            dropped.push(id);
        }
    }
    if dropped.is_empty() {
        Ok(())
    } else {
        fail(format!(
            "{} of {IDS} live entries were dropped, e.g. {:?}",
            dropped.len(),
            &dropped[..dropped.len().min(5)]
        ))
    }
}

/// `check_and_record_isolates_ids`: recording one id never makes another (however
/// alike) a replay.
pub async fn check_and_record_isolates_ids(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let not_after = in_ms(&ctx, 60_000);
    assert_eq!(
        stores.replay.check_and_record("jti", not_after).await?,
        Replay::Fresh
    );
    for id in ["JTI", "jti1", "jt", " jti", "jti\u{0}"] {
        assert_eq!(
            stores.replay.check_and_record(id, not_after).await?,
            Replay::Fresh,
            "{id:?} was taken for a replay of \"jti\""
        );
    }
    assert_eq!(
        stores.replay.check_and_record("jti", not_after).await?,
        Replay::Replayed
    );
    Ok(())
}

/// `check_and_record_fresh_again_after_not_after`: once the entry's `not_after` has
/// come, the id with a new, later `not_after` is `Fresh` again, and then recorded.
pub async fn check_and_record_fresh_again_after_not_after(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let first = in_ms(&ctx, 30_000);
    assert_eq!(
        stores.replay.check_and_record("jti-1", first).await?,
        Replay::Fresh
    );
    advance_to(&ctx, first);
    let second = in_ms(&ctx, 30_000);
    assert_eq!(
        stores.replay.check_and_record("jti-1", second).await?,
        Replay::Fresh,
        "an entry was still kept at its not_after"
    );
    ctx.advance_ms(1);
    assert_eq!(
        stores.replay.check_and_record("jti-1", second).await?,
        Replay::Replayed,
        "the new sighting was not recorded"
    );
    Ok(())
}

/// `check_and_record_accepts_max_retention_exactly`: a `not_after` exactly the maximum
/// retention away is accepted and kept until then.
pub async fn check_and_record_accepts_max_retention_exactly(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_replay_retention;
    let not_after = ctx.now().saturating_add(max);
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh,
        "a not_after exactly the maximum retention away was not accepted as Fresh"
    );
    advance_to(&ctx, not_after.saturating_sub(Duration::from_millis(1)));
    assert_eq!(
        stores.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed,
        "an entry kept for the maximum retention was gone before its not_after"
    );
    Ok(())
}

/// `check_and_record_refuses_bad_id`: an empty id or one over the key limit is
/// `InvalidInput`; an id of exactly the limit is accepted.
pub async fn check_and_record_refuses_bad_id(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_key_bytes;
    let not_after = in_ms(&ctx, 60_000);
    Ctx::expect_kind(
        stores.replay.check_and_record("", not_after).await,
        ErrorKind::InvalidInput,
    )?;
    Ctx::expect_kind(
        stores
            .replay
            .check_and_record(&"j".repeat(max + 1), not_after)
            .await,
        ErrorKind::InvalidInput,
    )?;
    let exact = "j".repeat(max);
    assert_eq!(
        stores.replay.check_and_record(&exact, not_after).await?,
        Replay::Fresh
    );
    assert_eq!(
        stores.replay.check_and_record(&exact, not_after).await?,
        Replay::Replayed
    );
    Ok(())
}

/// `check_and_record_replayed_on_other_node`: an id recorded on one node is a replay on
/// every other node.
pub async fn check_and_record_replayed_on_other_node(ctx: Ctx) -> CaseResult {
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    let not_after = in_ms(&ctx, 60_000);
    assert_eq!(
        node_a.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh
    );
    assert_eq!(
        node_b.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed,
        "another node accepted an assertion already seen"
    );
    assert_eq!(
        node_b.replay.check_and_record("jti-2", not_after).await?,
        Replay::Fresh
    );
    assert_eq!(
        node_a.replay.check_and_record("jti-2", not_after).await?,
        Replay::Replayed,
        "another node accepted an assertion already seen"
    );
    Ok(())
}

/// `namespaces_are_isolated`: an id recorded in one namespace is fresh in another.
pub async fn namespaces_are_isolated(ctx: Ctx) -> CaseResult {
    let ours = ctx.open().await?;
    let other_config = StoreConfig {
        namespace: Namespace::random()?,
        ..ctx.config.clone()
    };
    let theirs = ctx.open_with(other_config).await?;
    let not_after = in_ms(&ctx, 60_000);
    assert_eq!(
        ours.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh
    );
    assert_eq!(
        theirs.replay.check_and_record("jti-1", not_after).await?,
        Replay::Fresh,
        "an id recorded in another namespace was seen as a replay"
    );
    assert_eq!(
        theirs.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed
    );
    assert_eq!(
        ours.replay.check_and_record("jti-1", not_after).await?,
        Replay::Replayed
    );
    Ok(())
}
