//! The `artifact` cases: one per `# Behavior` bullet of
//! [`ArtifactStore`](authstate_core::ArtifactStore) (the concurrent take is in the
//! `concurrency` group), plus the edges an authorization server relies on: exact payload
//! bytes, the size limits, handle and namespace isolation, and a second node's view.

use std::time::Duration;

use authstate_core::{ErrorKind, Limits, Namespace, StoreConfig, Take};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_artifact {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] artifact:
            put_then_take_is_fresh,
            put_refuses_live_handle,
            put_refuses_taken_handle_until_expiry,
            put_reuses_expired_handle,
            put_refuses_bad_input,
            take_is_fresh_once,
            take_again_is_replayed,
            take_unknown_is_unknown,
            take_expired_is_unknown,
            take_isolates_handles,
            take_returns_exact_payload_bytes,
            take_on_other_node_is_replayed,
            put_accepts_max_size_payload,
            put_accepts_max_length_handle,
            put_accepts_max_ttl,
            put_refused_keeps_original_expiry,
            sealed_payload_round_trips,
            namespaces_are_isolated,
        }
    };
}
crate::__authstate_cases_artifact!(list);

/// The lifetime of an authorization code in these cases.
const CODE_TTL: Duration = Duration::from_secs(60);

/// `CODE_TTL` in milliseconds, for stepping the clock to the edge.
const CODE_TTL_MS: u64 = 60_000;

/// Fails unless `take` is `Fresh` with exactly `expected`.
fn expect_fresh(take: Take, expected: &[u8], what: &str) -> CaseResult {
    match take {
        Take::Fresh(payload) if payload == expected => Ok(()),
        Take::Fresh(payload) => fail(format!(
            "{what}: Fresh with the wrong payload ({} bytes, expected {} bytes)",
            payload.len(),
            expected.len()
        )),
        other => fail(format!("{what}: expected Fresh(payload), got {other:?}")),
    }
}

/// A config like `ctx`'s with other limits.
fn with_limits(ctx: &Ctx, limits: Limits) -> StoreConfig {
    ctx.config.clone().with_limits(limits)
}

/// `put_then_take_is_fresh`
pub async fn put_then_take_is_fresh(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"grant".to_vec(), CODE_TTL)
        .await?;
    // The last millisecond of the TTL is still before the end.
    ctx.advance_ms(CODE_TTL_MS - 1);
    let take = stores.artifacts.take("code-1").await?;
    expect_fresh(take, b"grant", "a take 1 ms before the TTL ends")
}

/// `put_refuses_live_handle`
pub async fn put_refuses_live_handle(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"original".to_vec(), CODE_TTL)
        .await?;
    ctx.advance_ms(CODE_TTL_MS - 1);
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-1", b"overwrite".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )?;
    let take = stores.artifacts.take("code-1").await?;
    expect_fresh(
        take,
        b"original",
        "a refused put on a live handle must leave its payload unchanged",
    )
}

/// `put_refuses_taken_handle_until_expiry`
pub async fn put_refuses_taken_handle_until_expiry(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"grant".to_vec(), CODE_TTL)
        .await?;
    ctx.advance_ms(1_000);
    let taken_at = ctx.now();
    expect_fresh(
        stores.artifacts.take("code-1").await?,
        b"grant",
        "the first take",
    )?;

    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-1", b"again".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )?;
    // The last millisecond before the original expiry: still reserved.
    ctx.advance_ms(CODE_TTL_MS - 1_000 - 1);
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-1", b"again".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )?;
    // The refused puts must not have revived the artifact or moved its tombstone.
    assert_eq!(
        stores.artifacts.take("code-1").await?,
        Take::Replayed { taken_at },
        "a refused put on a taken handle changed its tombstone"
    );
    Ok(())
}

/// `put_reuses_expired_handle`
pub async fn put_reuses_expired_handle(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // One artifact expires untaken, the other expires after being taken.
    stores
        .artifacts
        .put("untaken", b"old-1".to_vec(), CODE_TTL)
        .await?;
    stores
        .artifacts
        .put("taken", b"old-2".to_vec(), CODE_TTL)
        .await?;
    expect_fresh(
        stores.artifacts.take("taken").await?,
        b"old-2",
        "the first take",
    )?;
    ctx.advance(CODE_TTL);

    stores
        .artifacts
        .put("untaken", b"new-1".to_vec(), CODE_TTL)
        .await?;
    stores
        .artifacts
        .put("taken", b"new-2".to_vec(), CODE_TTL)
        .await?;
    expect_fresh(
        stores.artifacts.take("untaken").await?,
        b"new-1",
        "an expired untaken handle put again",
    )?;
    expect_fresh(
        stores.artifacts.take("taken").await?,
        b"new-2",
        "an expired taken handle put again",
    )
}

/// `put_refuses_bad_input`
pub async fn put_refuses_bad_input(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let limits = ctx.config.limits;
    let long_handle = "h".repeat(limits.max_key_bytes + 1);
    let big_payload = vec![1u8; limits.max_payload_bytes + 1];
    let over_cap = limits.max_ttl + Duration::from_millis(1);

    let refused: [(&str, &str, Vec<u8>, Duration); 5] = [
        ("an empty handle", "", b"p".to_vec(), CODE_TTL),
        ("an oversized handle", &long_handle, b"p".to_vec(), CODE_TTL),
        ("an oversized payload", "code-big", big_payload, CODE_TTL),
        ("a zero TTL", "code-zero", b"p".to_vec(), Duration::ZERO),
        ("a TTL over the cap", "code-long", b"p".to_vec(), over_cap),
    ];
    for (what, handle, payload, ttl) in refused {
        let result = stores.artifacts.put(handle, payload, ttl).await;
        if let Err(e) = Ctx::expect_kind(result, ErrorKind::InvalidInput) {
            return fail(format!("put with {what}: {e}"));
        }
    }
    // Nothing was stored under the valid handles of the refused puts.
    for handle in ["code-big", "code-zero", "code-long"] {
        assert_eq!(
            stores.artifacts.take(handle).await?,
            Take::Unknown,
            "a refused put stored an artifact under {handle:?}"
        );
    }
    Ok(())
}

/// `take_is_fresh_once`
pub async fn take_is_fresh_once(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"grant".to_vec(), CODE_TTL)
        .await?;
    expect_fresh(
        stores.artifacts.take("code-1").await?,
        b"grant",
        "the first take",
    )?;
    match stores.artifacts.take("code-1").await? {
        Take::Fresh(_) => fail("a second take got the payload again"),
        _ => Ok(()),
    }
}

/// `take_again_is_replayed`
pub async fn take_again_is_replayed(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let put_at = ctx.now();
    stores
        .artifacts
        .put("code-1", b"grant".to_vec(), CODE_TTL)
        .await?;
    // Take a while after the put, so `taken_at` cannot be confused with the put time.
    ctx.advance_ms(5_000);
    let taken_at = ctx.now();
    expect_fresh(
        stores.artifacts.take("code-1").await?,
        b"grant",
        "the first take",
    )?;

    // Right away, 1 ms later, later still, and in the last millisecond before expiry.
    for after_put_ms in [5_000, 5_001, 30_000, CODE_TTL_MS - 1] {
        let target = put_at.saturating_add(Duration::from_millis(after_put_ms));
        ctx.advance(target.duration_since(ctx.now()));
        assert_eq!(
            stores.artifacts.take("code-1").await?,
            Take::Replayed { taken_at },
            "a take {after_put_ms} ms after the put must be Replayed with the first take's time"
        );
    }
    Ok(())
}

/// `take_unknown_is_unknown`
pub async fn take_unknown_is_unknown(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    assert_eq!(stores.artifacts.take("never-put").await?, Take::Unknown);
    // Asking for it does not create it.
    assert_eq!(
        stores.artifacts.take("never-put").await?,
        Take::Unknown,
        "a take of an unknown handle left something behind"
    );
    Ok(())
}

/// `take_expired_is_unknown`
pub async fn take_expired_is_unknown(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("untaken", b"p".to_vec(), CODE_TTL)
        .await?;
    stores
        .artifacts
        .put("taken", b"p".to_vec(), CODE_TTL)
        .await?;
    let taken_at = ctx.now();
    expect_fresh(
        stores.artifacts.take("taken").await?,
        b"p",
        "the first take",
    )?;

    // 1 ms before expiry both are still there (a put proves it without taking).
    ctx.advance_ms(CODE_TTL_MS - 1);
    Ctx::expect_kind(
        stores
            .artifacts
            .put("untaken", b"x".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )?;
    assert_eq!(
        stores.artifacts.take("taken").await?,
        Take::Replayed { taken_at },
        "a taken artifact must answer Replayed until its expiry"
    );

    // At expiry, not 1 ms later, both are gone, with no purge in between.
    ctx.advance_ms(1);
    assert_eq!(
        stores.artifacts.take("untaken").await?,
        Take::Unknown,
        "an untaken artifact was still returned at its expiry"
    );
    assert_eq!(
        stores.artifacts.take("taken").await?,
        Take::Unknown,
        "a taken artifact still answered at its expiry"
    );
    Ok(())
}

/// `take_isolates_handles`: taking one handle never touches another, however alike
/// their names are.
pub async fn take_isolates_handles(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let handles = ["code", "Code", "code1", "cod", "code "];
    for h in handles {
        stores
            .artifacts
            .put(h, format!("payload of {h:?}").into_bytes(), CODE_TTL)
            .await?;
    }
    expect_fresh(
        stores.artifacts.take("code").await?,
        b"payload of \"code\"",
        "the take of \"code\"",
    )?;
    for h in &handles[1..] {
        let expected = format!("payload of {h:?}");
        expect_fresh(
            stores.artifacts.take(h).await?,
            expected.as_bytes(),
            &format!("{h:?} after \"code\" was taken"),
        )?;
    }
    assert_eq!(stores.artifacts.take("code2").await?, Take::Unknown);
    Ok(())
}

/// `take_returns_exact_payload_bytes`: binary payloads (zero bytes, every byte value,
/// empty, the largest allowed) come back byte for byte.
pub async fn take_returns_exact_payload_bytes(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_payload_bytes;
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("zeros", vec![0u8; 64]),
        (
            "every byte value",
            (0..=255u8).chain((0..=255u8).rev()).collect(),
        ),
        ("invalid UTF-8", vec![0xff, 0xfe, 0x00, 0xc3, 0x28, 0x00]),
        (
            "max size",
            (0..max).map(|i| (i.wrapping_mul(31) % 251) as u8).collect(),
        ),
    ];
    for (name, payload) in &payloads {
        stores
            .artifacts
            .put(name, payload.clone(), CODE_TTL)
            .await?;
    }
    for (name, payload) in &payloads {
        expect_fresh(
            stores.artifacts.take(name).await?,
            payload,
            &format!("the {name} payload"),
        )?;
    }
    Ok(())
}

/// `take_on_other_node_is_replayed`: a code redeemed on one node is `Replayed` on every
/// other node, with the same `taken_at`.
pub async fn take_on_other_node_is_replayed(ctx: Ctx) -> CaseResult {
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    node_a
        .artifacts
        .put("code-1", b"grant".to_vec(), CODE_TTL)
        .await?;
    ctx.advance_ms(10);
    let taken_at = ctx.now();
    expect_fresh(
        node_b.artifacts.take("code-1").await?,
        b"grant",
        "a take on the node that did not put it",
    )?;
    ctx.advance_ms(10);
    assert_eq!(
        node_a.artifacts.take("code-1").await?,
        Take::Replayed { taken_at },
        "the putting node must see the other node's take"
    );
    Ctx::expect_kind(
        node_a
            .artifacts
            .put("code-1", b"again".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )
}

/// `put_accepts_max_size_payload`: a payload of exactly the limit is stored, one byte
/// more is `InvalidInput` and stores nothing.
pub async fn put_accepts_max_size_payload(ctx: Ctx) -> CaseResult {
    let limits = Limits {
        max_payload_bytes: 300,
        ..ctx.config.limits
    };
    let stores = ctx.open_with(with_limits(&ctx, limits)).await?;
    let exact = vec![0xa5u8; 300];
    stores
        .artifacts
        .put("exact", exact.clone(), CODE_TTL)
        .await?;
    Ctx::expect_kind(
        stores
            .artifacts
            .put("over", vec![0xa5u8; 301], CODE_TTL)
            .await,
        ErrorKind::InvalidInput,
    )?;
    expect_fresh(
        stores.artifacts.take("exact").await?,
        &exact,
        "the max-size payload",
    )?;
    assert_eq!(
        stores.artifacts.take("over").await?,
        Take::Unknown,
        "an oversized payload was stored"
    );
    Ok(())
}

/// `put_accepts_max_length_handle`: a handle of exactly the key limit is accepted, one
/// byte more is `InvalidInput`.
pub async fn put_accepts_max_length_handle(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let max = ctx.config.limits.max_key_bytes;
    let exact = "x".repeat(max);
    let over = "x".repeat(max + 1);
    stores
        .artifacts
        .put(&exact, b"p".to_vec(), CODE_TTL)
        .await?;
    Ctx::expect_kind(
        stores.artifacts.put(&over, b"p".to_vec(), CODE_TTL).await,
        ErrorKind::InvalidInput,
    )?;
    expect_fresh(
        stores.artifacts.take(&exact).await?,
        b"p",
        "the max-length handle",
    )
}

/// `put_accepts_max_ttl`: a TTL of exactly the cap is accepted and honoured to the
/// millisecond.
pub async fn put_accepts_max_ttl(ctx: Ctx) -> CaseResult {
    let limits = Limits {
        max_ttl: Duration::from_secs(600),
        ..ctx.config.limits
    };
    let stores = ctx.open_with(with_limits(&ctx, limits)).await?;
    stores
        .artifacts
        .put("code-1", b"p".to_vec(), Duration::from_secs(600))
        .await?;
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-2", b"p".to_vec(), Duration::from_millis(600_001))
            .await,
        ErrorKind::InvalidInput,
    )?;
    ctx.advance_ms(600_000 - 1);
    expect_fresh(
        stores.artifacts.take("code-1").await?,
        b"p",
        "an artifact put with the maximum TTL, 1 ms before it ends",
    )?;
    ctx.advance_ms(1);
    assert_eq!(stores.artifacts.take("code-1").await?, Take::Unknown);
    Ok(())
}

/// `put_refused_keeps_original_expiry`: a refused put with a longer TTL does not extend
/// the live artifact.
pub async fn put_refused_keeps_original_expiry(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"p".to_vec(), CODE_TTL)
        .await?;
    ctx.advance_ms(1_000);
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-1", b"p".to_vec(), Duration::from_secs(3600))
            .await,
        ErrorKind::AlreadyExists,
    )?;
    ctx.advance_ms(CODE_TTL_MS - 1_000);
    assert_eq!(
        stores.artifacts.take("code-1").await?,
        Take::Unknown,
        "a refused put extended the artifact past its original expiry"
    );
    Ok(())
}

/// `sealed_payload_round_trips`: with a pepper and an encrypting keyring, put and take
/// behave the same and the payload comes back exactly.
pub async fn sealed_payload_round_trips(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let payload: Vec<u8> = (0..=255u8).collect();
    stores
        .artifacts
        .put("code-1", payload.clone(), CODE_TTL)
        .await?;
    Ctx::expect_kind(
        stores
            .artifacts
            .put("code-1", b"x".to_vec(), CODE_TTL)
            .await,
        ErrorKind::AlreadyExists,
    )?;
    ctx.advance_ms(7);
    let taken_at = ctx.now();
    expect_fresh(
        stores.artifacts.take("code-1").await?,
        &payload,
        "a sealed artifact",
    )?;
    assert_eq!(
        stores.artifacts.take("code-1").await?,
        Take::Replayed { taken_at }
    );
    assert_eq!(stores.artifacts.take("code-2").await?, Take::Unknown);
    Ok(())
}

/// `namespaces_are_isolated`: the same handle in two namespaces is two artifacts.
pub async fn namespaces_are_isolated(ctx: Ctx) -> CaseResult {
    let ours = ctx.open().await?;
    let other_config = StoreConfig {
        namespace: Namespace::random()?,
        ..ctx.config.clone()
    };
    let theirs = ctx.open_with(other_config).await?;

    ours.artifacts
        .put("code-1", b"ours".to_vec(), CODE_TTL)
        .await?;
    assert_eq!(
        theirs.artifacts.take("code-1").await?,
        Take::Unknown,
        "an artifact is visible from another namespace"
    );
    // The same handle can be put in the other namespace, and taking it there leaves
    // ours untouched.
    theirs
        .artifacts
        .put("code-1", b"theirs".to_vec(), CODE_TTL)
        .await?;
    expect_fresh(
        theirs.artifacts.take("code-1").await?,
        b"theirs",
        "the other namespace's artifact",
    )?;
    expect_fresh(
        ours.artifacts.take("code-1").await?,
        b"ours",
        "our artifact after the other namespace's take",
    )
}
