//! The `state` cases: one per `# Behavior` bullet of
//! [`StateStore`](authstate_core::StateStore) (the concurrent one is in `concurrency`).

use std::time::Duration;

use authstate_core::ErrorKind;

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_state {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] state:
            put_then_get_returns_value,
            put_replaces_value,
            put_refuses_bad_input,
            put_if_absent_stores_when_absent,
            put_if_absent_keeps_live_value,
            put_if_absent_replaces_expired_value,
            get_unknown_is_none,
            get_expired_is_none,
            remove_deletes_value,
            remove_unknown_is_false,
        }
    };
}
crate::__authstate_cases_state!(list);

const MINUTE: Duration = Duration::from_secs(60);

/// Checks that `key` holds `want` (`None`: nothing live).
async fn expect_value(
    stores: &authstate_core::Stores,
    key: &str,
    want: Option<&[u8]>,
    what: &str,
) -> CaseResult {
    let got = stores.state.get(key).await?;
    if got.as_deref() == want {
        Ok(())
    } else {
        fail(format!(
            "{what}: get({key:?}) returned {:?}, expected {:?}",
            got.map(|v| String::from_utf8_lossy(&v).into_owned()),
            want.map(|v| String::from_utf8_lossy(v).into_owned())
        ))
    }
}

/// `put_then_get_returns_value`
pub async fn put_then_get_returns_value(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    let binary: Vec<u8> = (0..=255u8).collect();
    stores
        .state
        .put("relay-1", binary.clone(), 5 * MINUTE)
        .await?;
    stores
        .state
        .put("relay-2", b"second".to_vec(), 5 * MINUTE)
        .await?;
    stores.state.put("empty", Vec::new(), 5 * MINUTE).await?;
    expect_value(&stores, "relay-1", Some(&binary), "right after put").await?;
    expect_value(&other, "relay-1", Some(&binary), "on another node").await?;
    expect_value(&stores, "relay-2", Some(b"second"), "a second key").await?;
    expect_value(&stores, "empty", Some(b""), "an empty value").await?;
    ctx.advance(5 * MINUTE - Duration::from_millis(1));
    expect_value(&other, "relay-1", Some(&binary), "1 ms before the TTL ends").await
}

/// `put_replaces_value`
pub async fn put_replaces_value(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    // A shorter second TTL: the value must go at the new, earlier end.
    stores
        .state
        .put("shorter", b"v1".to_vec(), 10 * MINUTE)
        .await?;
    stores.state.put("shorter", b"v2".to_vec(), MINUTE).await?;
    // A longer second TTL: the value must outlive the first TTL.
    stores.state.put("longer", b"v1".to_vec(), MINUTE).await?;
    stores
        .state
        .put("longer", b"v2".to_vec(), 10 * MINUTE)
        .await?;
    expect_value(&stores, "shorter", Some(b"v2"), "after a second put").await?;
    expect_value(&stores, "longer", Some(b"v2"), "after a second put").await?;
    ctx.advance(MINUTE - Duration::from_millis(1));
    expect_value(
        &stores,
        "shorter",
        Some(b"v2"),
        "1 ms before the new TTL ends",
    )
    .await?;
    ctx.advance_ms(1);
    expect_value(
        &stores,
        "shorter",
        None,
        "at the end of the replacing put's TTL",
    )
    .await?;
    expect_value(
        &stores,
        "longer",
        Some(b"v2"),
        "past the first TTL, within the second",
    )
    .await?;
    ctx.advance(9 * MINUTE);
    expect_value(
        &stores,
        "longer",
        None,
        "at the end of the replacing put's TTL",
    )
    .await
}

/// `put_refuses_bad_input`
pub async fn put_refuses_bad_input(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let limits = ctx.config.limits;
    stores.state.put("k", b"original".to_vec(), MINUTE).await?;
    let long_key = "k".repeat(limits.max_key_bytes + 1);
    let cases: [(&str, &str, Vec<u8>, Duration); 5] = [
        ("an empty key", "", b"v".to_vec(), MINUTE),
        (
            "a key 1 byte over the limit",
            &long_key,
            b"v".to_vec(),
            MINUTE,
        ),
        (
            "a value 1 byte over the limit",
            "k",
            vec![0u8; limits.max_payload_bytes + 1],
            MINUTE,
        ),
        ("a zero TTL", "k", b"v".to_vec(), Duration::ZERO),
        (
            "a TTL 1 ms over the cap",
            "k",
            b"v".to_vec(),
            limits.max_ttl + Duration::from_millis(1),
        ),
    ];
    for (what, key, value, ttl) in cases {
        Ctx::expect_kind(
            stores.state.put(key, value.clone(), ttl).await,
            ErrorKind::InvalidInput,
        )
        .map_err(|e| format!("put with {what}: {e}"))?;
        Ctx::expect_kind(
            stores.state.put_if_absent(key, value, ttl).await,
            ErrorKind::InvalidInput,
        )
        .map_err(|e| format!("put_if_absent with {what}: {e}"))?;
    }
    expect_value(&stores, "k", Some(b"original"), "after refused puts").await?;
    // A get with the oversized key may itself be refused; it must not find a value.
    if let Ok(Some(_)) = stores.state.get(&long_key).await {
        return fail("a refused put with an oversized key stored a value");
    }
    // The limits themselves are allowed.
    let key_at_limit = "k".repeat(limits.max_key_bytes);
    let value_at_limit = vec![7u8; limits.max_payload_bytes];
    stores
        .state
        .put(&key_at_limit, value_at_limit.clone(), limits.max_ttl)
        .await?;
    expect_value(
        &stores,
        &key_at_limit,
        Some(&value_at_limit),
        "a put at every limit",
    )
    .await
}

/// `put_if_absent_stores_when_absent`
pub async fn put_if_absent_stores_when_absent(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.state.put("neighbour", b"n".to_vec(), MINUTE).await?;
    if !stores
        .state
        .put_if_absent("nonce", b"v1".to_vec(), MINUTE)
        .await?
    {
        return fail("put_if_absent on an absent key returned false");
    }
    expect_value(&stores, "nonce", Some(b"v1"), "after put_if_absent").await?;
    expect_value(&stores, "neighbour", Some(b"n"), "another key").await?;
    // It stored with its TTL.
    ctx.advance(MINUTE - Duration::from_millis(1));
    expect_value(&stores, "nonce", Some(b"v1"), "1 ms before its TTL ends").await?;
    ctx.advance_ms(1);
    expect_value(&stores, "nonce", None, "at the end of its TTL").await
}

/// `put_if_absent_keeps_live_value`
pub async fn put_if_absent_keeps_live_value(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    stores.state.put("nonce", b"first".to_vec(), MINUTE).await?;
    ctx.advance(MINUTE - Duration::from_millis(1));
    for (node, st) in [("the same node", &stores), ("another node", &other)] {
        if st
            .state
            .put_if_absent("nonce", b"second".to_vec(), 10 * MINUTE)
            .await?
        {
            return fail(format!(
                "put_if_absent on {node} over a live value returned true"
            ));
        }
    }
    expect_value(
        &stores,
        "nonce",
        Some(b"first"),
        "after a refused put_if_absent",
    )
    .await?;
    // Nor did it move the live value's TTL.
    ctx.advance_ms(1);
    expect_value(
        &stores,
        "nonce",
        None,
        "at the first value's original expiry",
    )
    .await
}

/// `put_if_absent_replaces_expired_value`
pub async fn put_if_absent_replaces_expired_value(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.state.put("nonce", b"old".to_vec(), MINUTE).await?;
    // Exactly at expiry, without a purge in between.
    ctx.advance(MINUTE);
    if !stores
        .state
        .put_if_absent("nonce", b"new".to_vec(), MINUTE)
        .await?
    {
        return fail("put_if_absent over an expired value returned false");
    }
    expect_value(
        &stores,
        "nonce",
        Some(b"new"),
        "after put_if_absent over an expired value",
    )
    .await?;
    // The new value has its own TTL, not the old one's.
    ctx.advance(MINUTE - Duration::from_millis(1));
    expect_value(
        &stores,
        "nonce",
        Some(b"new"),
        "1 ms before the new TTL ends",
    )
    .await?;
    // A removed value counts as absent too.
    assert!(
        stores.state.remove("nonce").await?,
        "remove of a live value returned false"
    );
    if !stores
        .state
        .put_if_absent("nonce", b"third".to_vec(), MINUTE)
        .await?
    {
        return fail("put_if_absent after remove returned false");
    }
    expect_value(
        &stores,
        "nonce",
        Some(b"third"),
        "after put_if_absent over a removed value",
    )
    .await
}

/// `get_unknown_is_none`
pub async fn get_unknown_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.state.put("known", b"v".to_vec(), MINUTE).await?;
    for key in ["unknown", "know", "known2", "KNOWN"] {
        expect_value(&stores, key, None, "a key never put").await?;
    }
    Ok(())
}

/// `get_expired_is_none`
pub async fn get_expired_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    stores.state.put("k", b"v".to_vec(), MINUTE).await?;
    ctx.advance(MINUTE - Duration::from_millis(1));
    expect_value(&other, "k", Some(b"v"), "1 ms before the TTL ends").await?;
    ctx.advance_ms(1);
    expect_value(&stores, "k", None, "at the TTL's end").await?;
    expect_value(&other, "k", None, "at the TTL's end, on another node").await
}

/// `remove_deletes_value`
pub async fn remove_deletes_value(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let other = ctx.open().await?;
    stores.state.put("k", b"v".to_vec(), MINUTE).await?;
    stores.state.put("k2", b"v2".to_vec(), MINUTE).await?;
    if !stores.state.remove("k").await? {
        return fail("remove of a live value returned false");
    }
    expect_value(&stores, "k", None, "after remove").await?;
    expect_value(&other, "k", None, "after remove, on another node").await?;
    expect_value(&stores, "k2", Some(b"v2"), "another key after remove").await
}

/// `remove_unknown_is_false`
pub async fn remove_unknown_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores.state.put("live", b"v".to_vec(), 10 * MINUTE).await?;
    if stores.state.remove("unknown").await? {
        return fail("remove of a key never put returned true");
    }
    stores.state.put("expiring", b"v".to_vec(), MINUTE).await?;
    ctx.advance(MINUTE);
    if stores.state.remove("expiring").await? {
        return fail("remove of an expired value returned true");
    }
    stores.state.put("twice", b"v".to_vec(), MINUTE).await?;
    assert!(
        stores.state.remove("twice").await?,
        "the first remove returned false"
    );
    if stores.state.remove("twice").await? {
        return fail("a second remove returned true");
    }
    expect_value(&stores, "live", Some(b"v"), "another key after removes").await
}
