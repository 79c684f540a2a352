//! The `token` cases: one per `# Behavior` bullet of
//! [`TokenStore`](authstate_core::TokenStore), plus the counting and indexing edges an
//! introspection endpoint relies on (RFC 7662 "active" semantics).

use std::time::Duration;

use authstate_core::{ErrorKind, NewToken, Stores};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_token {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] token:
            insert_then_get_returns_record,
            insert_existing_already_exists,
            insert_refuses_bad_input,
            get_unknown_is_none,
            get_expired_is_none,
            get_revoked_is_none,
            revoke_deactivates_token,
            revoke_unknown_is_false,
            revoke_by_grant_revokes_family,
            revoke_by_subject_revokes_all,
            revoke_by_subject_and_client_is_precise,
            get_returns_exact_record_fields,
            revoke_by_grant_ignores_tokens_without_grant,
            revoke_by_grant_counts_only_active,
            revoke_by_subject_counts_only_active,
            insert_after_expiry_succeeds,
            revoke_seen_by_other_node,
            insert_refused_keeps_live_token_revocable,
        }
    };
}
crate::__authstate_cases_token!(list);

const HOUR: Duration = Duration::from_secs(3600);

/// A token of `subject` for `client`, from `grant`, living an hour.
fn new_token(subject: &str, client: &str, grant: Option<&str>) -> NewToken {
    NewToken {
        subject: subject.to_string(),
        client_id: client.to_string(),
        grant_id: grant.map(str::to_string),
        data: format!("scope=openid;sub={subject}").into_bytes(),
        ttl: HOUR,
    }
}

/// Checks that each of `tokens` is active (`true`) or not (`false`).
async fn check_active(stores: &Stores, tokens: &[(&str, bool)], after: &str) -> CaseResult {
    for (token, active) in tokens {
        let got = stores.tokens.get(token).await?.is_some();
        if got != *active {
            let want = if *active { "active" } else { "inactive" };
            return fail(format!("after {after}, token {token} should be {want}"));
        }
    }
    Ok(())
}

/// `insert_then_get_returns_record`: `insert` returns the record with `issued_at` now and
/// `expires_at` now plus the TTL, and `get` returns the same record.
pub async fn insert_then_get_returns_record(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let new = new_token("alice", "client-1", Some("grant-1"));
    let inserted = stores.tokens.insert("tok-1", new.clone()).await?;
    assert_eq!(inserted.issued_at, now, "issued_at is not now");
    assert_eq!(
        inserted.expires_at,
        now.saturating_add(HOUR),
        "expires_at is not now plus the TTL"
    );
    assert_eq!(inserted.subject, new.subject);
    assert_eq!(inserted.client_id, new.client_id);
    assert_eq!(inserted.grant_id, new.grant_id);
    assert_eq!(inserted.data, new.data);
    let got = stores.tokens.get("tok-1").await?;
    assert_eq!(
        got,
        Some(inserted),
        "get does not return the record insert returned"
    );
    Ok(())
}

/// `insert_existing_already_exists`: a live token value is `AlreadyExists`, the stored
/// record is unchanged, and the refused insert left nothing in the subject, client or
/// grant indexes.
pub async fn insert_existing_already_exists(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let first = stores
        .tokens
        .insert("tok-1", new_token("alice", "client-1", Some("grant-1")))
        .await?;
    ctx.advance_ms(1_000);
    let mut second = new_token("mallory", "client-2", Some("grant-2"));
    second.data = b"overwritten".to_vec();
    Ctx::expect_kind(
        stores.tokens.insert("tok-1", second).await,
        ErrorKind::AlreadyExists,
    )?;
    assert_eq!(
        stores.tokens.get("tok-1").await?,
        Some(first),
        "a refused insert changed the stored token"
    );
    assert_eq!(
        stores.tokens.revoke_by_subject("mallory").await?,
        0,
        "a refused insert was indexed under its subject"
    );
    assert_eq!(
        stores.tokens.revoke_by_grant("grant-2").await?,
        0,
        "a refused insert was indexed under its grant"
    );
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("mallory", "client-2")
            .await?,
        0,
        "a refused insert was indexed under its subject and client"
    );
    check_active(&stores, &[("tok-1", true)], "the refused insert").await
}

/// `insert_refuses_bad_input`: an empty token, data over the payload limit, a zero TTL
/// or one over the cap is `InvalidInput` and stores nothing; exactly at the limits is
/// accepted.
pub async fn insert_refuses_bad_input(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let limits = ctx.config.limits;
    Ctx::expect_kind(
        stores
            .tokens
            .insert("", new_token("alice", "c", None))
            .await,
        ErrorKind::InvalidInput,
    )?;
    let mut big = new_token("alice", "c", None);
    big.data = vec![0x5a; limits.max_payload_bytes + 1];
    Ctx::expect_kind(
        stores.tokens.insert("tok-big", big).await,
        ErrorKind::InvalidInput,
    )?;
    let mut zero = new_token("alice", "c", None);
    zero.ttl = Duration::ZERO;
    Ctx::expect_kind(
        stores.tokens.insert("tok-zero", zero).await,
        ErrorKind::InvalidInput,
    )?;
    let mut long = new_token("alice", "c", None);
    long.ttl = limits.max_ttl + Duration::from_millis(1);
    Ctx::expect_kind(
        stores.tokens.insert("tok-long", long).await,
        ErrorKind::InvalidInput,
    )?;
    check_active(
        &stores,
        &[("tok-big", false), ("tok-zero", false), ("tok-long", false)],
        "refused inserts",
    )
    .await?;
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        0,
        "a refused insert was indexed under its subject"
    );
    // The limits themselves are allowed.
    let mut max = new_token("alice", "c", None);
    max.data = vec![0xa5; limits.max_payload_bytes];
    max.ttl = limits.max_ttl;
    let record = stores.tokens.insert("tok-max", max).await?;
    assert_eq!(record.data.len(), limits.max_payload_bytes);
    check_active(&stores, &[("tok-max", true)], "an insert at the limits").await
}

/// `get_unknown_is_none`: a token never inserted is inactive.
pub async fn get_unknown_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .tokens
        .insert("tok-1", new_token("alice", "c", None))
        .await?;
    for unknown in ["tok-2", "tok-", "TOK-1", "tok-1 "] {
        assert_eq!(
            stores.tokens.get(unknown).await?,
            None,
            "token {unknown:?} was never inserted"
        );
    }
    Ok(())
}

/// `get_expired_is_none`: active 1 ms before `expires_at`, inactive at it.
pub async fn get_expired_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let mut new = new_token("alice", "c", None);
    new.ttl = Duration::from_secs(60);
    stores.tokens.insert("tok-1", new).await?;
    ctx.advance_ms(59_999);
    assert!(
        stores.tokens.get("tok-1").await?.is_some(),
        "the token expired 1 ms early"
    );
    ctx.advance_ms(1);
    assert_eq!(
        stores.tokens.get("tok-1").await?,
        None,
        "the token is still active at its expires_at"
    );
    Ok(())
}

/// `get_revoked_is_none`: a revoked token is inactive at once, long before it expires.
pub async fn get_revoked_is_none(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .tokens
        .insert("tok-1", new_token("alice", "c", None))
        .await?;
    stores.tokens.revoke("tok-1").await?;
    assert_eq!(
        stores.tokens.get("tok-1").await?,
        None,
        "revoked but active"
    );
    ctx.advance_ms(1_000);
    assert_eq!(
        stores.tokens.get("tok-1").await?,
        None,
        "a revoked token came back"
    );
    Ok(())
}

/// `revoke_deactivates_token`: returns `true`, the token is inactive, others are not.
pub async fn revoke_deactivates_token(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    for t in ["tok-1", "tok-2"] {
        stores
            .tokens
            .insert(t, new_token("alice", "c", Some("g")))
            .await?;
    }
    assert!(
        stores.tokens.revoke("tok-1").await?,
        "revoking an active token returned false"
    );
    check_active(
        &stores,
        &[("tok-1", false), ("tok-2", true)],
        "revoking tok-1",
    )
    .await
}

/// `revoke_unknown_is_false`: an unknown, expired or already revoked token returns
/// `false`.
pub async fn revoke_unknown_is_false(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    assert!(
        !stores.tokens.revoke("tok-unknown").await?,
        "revoking an unknown token returned true"
    );
    stores
        .tokens
        .insert("tok-revoked", new_token("alice", "c", None))
        .await?;
    assert!(stores.tokens.revoke("tok-revoked").await?);
    assert!(
        !stores.tokens.revoke("tok-revoked").await?,
        "revoking a revoked token again returned true"
    );
    let mut short = new_token("alice", "c", None);
    short.ttl = Duration::from_secs(10);
    stores.tokens.insert("tok-expired", short).await?;
    ctx.advance_ms(10_000);
    assert!(
        !stores.tokens.revoke("tok-expired").await?,
        "revoking a token at its expiry returned true"
    );
    Ok(())
}

/// `revoke_by_grant_revokes_family`: every token of the grant, whatever its subject and
/// client, is inactive; other grants' tokens are untouched; the count is exact.
pub async fn revoke_by_grant_revokes_family(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let tokens = [
        ("tok-1", "alice", "c1", "grant-1"),
        ("tok-2", "alice", "c1", "grant-1"),
        ("tok-3", "bob", "c2", "grant-1"),
        ("tok-4", "alice", "c1", "grant-2"),
        ("tok-5", "alice", "c1", "grant-10"),
    ];
    for (t, s, c, g) in tokens {
        stores.tokens.insert(t, new_token(s, c, Some(g))).await?;
    }
    assert_eq!(
        stores.tokens.revoke_by_grant("grant-1").await?,
        3,
        "revoke_by_grant did not count the grant's three tokens"
    );
    check_active(
        &stores,
        &[
            ("tok-1", false),
            ("tok-2", false),
            ("tok-3", false),
            ("tok-4", true),
            ("tok-5", true),
        ],
        "revoke_by_grant(grant-1)",
    )
    .await?;
    assert_eq!(
        stores.tokens.revoke_by_grant("grant-1").await?,
        0,
        "a second revoke_by_grant counted tokens already revoked"
    );
    assert_eq!(stores.tokens.revoke_by_grant("grant-unknown").await?, 0);
    Ok(())
}

/// `revoke_by_subject_revokes_all`: every token of the subject, for every client and
/// grant, is inactive; other subjects' tokens are untouched; the count is exact.
pub async fn revoke_by_subject_revokes_all(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let tokens = [
        ("tok-1", "alice", "c1", Some("g1")),
        ("tok-2", "alice", "c2", None),
        ("tok-3", "alice", "c3", Some("g3")),
        ("tok-4", "bob", "c1", Some("g1")),
        ("tok-5", "alice2", "c1", None),
    ];
    for (t, s, c, g) in tokens {
        stores.tokens.insert(t, new_token(s, c, g)).await?;
    }
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        3,
        "revoke_by_subject did not count alice's three tokens"
    );
    check_active(
        &stores,
        &[
            ("tok-1", false),
            ("tok-2", false),
            ("tok-3", false),
            ("tok-4", true),
            ("tok-5", true),
        ],
        "revoke_by_subject(alice)",
    )
    .await?;
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        0,
        "a second revoke_by_subject counted tokens already revoked"
    );
    assert_eq!(stores.tokens.revoke_by_subject("nobody").await?, 0);
    Ok(())
}

/// `revoke_by_subject_and_client_is_precise`: only that subject's tokens for that client
/// are inactive; the count is exact.
pub async fn revoke_by_subject_and_client_is_precise(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let tokens = [
        ("tok-1", "alice", "c1"),
        ("tok-2", "alice", "c1"),
        ("tok-3", "alice", "c2"),
        ("tok-4", "bob", "c1"),
        ("tok-5", "alice", "c10"),
    ];
    for (t, s, c) in tokens {
        stores.tokens.insert(t, new_token(s, c, None)).await?;
    }
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("alice", "c1")
            .await?,
        2,
        "revoke_by_subject_and_client did not count alice's two c1 tokens"
    );
    check_active(
        &stores,
        &[
            ("tok-1", false),
            ("tok-2", false),
            ("tok-3", true),
            ("tok-4", true),
            ("tok-5", true),
        ],
        "revoke_by_subject_and_client(alice, c1)",
    )
    .await?;
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("alice", "c1")
            .await?,
        0
    );
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("bob", "c2")
            .await?,
        0,
        "bob has no c2 token"
    );
    check_active(
        &stores,
        &[("tok-4", true)],
        "revoke_by_subject_and_client(bob, c2)",
    )
    .await
}

/// `get_returns_exact_record_fields`: every field comes back exactly, including binary
/// data, non-ASCII text and an absent grant.
pub async fn get_returns_exact_record_fields(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let now = ctx.now();
    let with_grant = NewToken {
        subject: "uid=jürgen,ou=people,dc=example".to_string(),
        client_id: "https://rp.example.com/cb?x=1".to_string(),
        grant_id: Some("code:Zm9v/bar+baz=".to_string()),
        data: (0..=255u8).collect(),
        ttl: Duration::from_millis(90_061),
    };
    let without_grant = NewToken {
        grant_id: None,
        data: Vec::new(),
        ..with_grant.clone()
    };
    stores.tokens.insert("tok-a", with_grant.clone()).await?;
    stores.tokens.insert("tok-b", without_grant.clone()).await?;
    for (token, new) in [("tok-a", with_grant), ("tok-b", without_grant)] {
        let Some(got) = stores.tokens.get(token).await? else {
            return fail(format!("{token} is not active"));
        };
        assert_eq!(got.subject, new.subject, "{token}: subject");
        assert_eq!(got.client_id, new.client_id, "{token}: client_id");
        assert_eq!(got.grant_id, new.grant_id, "{token}: grant_id");
        assert_eq!(got.data, new.data, "{token}: data");
        assert_eq!(got.issued_at, now, "{token}: issued_at");
        assert_eq!(
            got.expires_at,
            now.saturating_add(Duration::from_millis(90_061)),
            "{token}: expires_at"
        );
    }
    Ok(())
}

/// `revoke_by_grant_ignores_tokens_without_grant`: a token issued without a grant
/// belongs to no grant family, whatever grant is revoked.
pub async fn revoke_by_grant_ignores_tokens_without_grant(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .tokens
        .insert("tok-none", new_token("alice", "c1", None))
        .await?;
    stores
        .tokens
        .insert("tok-g", new_token("alice", "c1", Some("grant-1")))
        .await?;
    assert_eq!(stores.tokens.revoke_by_grant("grant-1").await?, 1);
    for grant in ["none", "null", "-", "grant-2"] {
        assert_eq!(
            stores.tokens.revoke_by_grant(grant).await?,
            0,
            "revoke_by_grant({grant:?}) revoked a token that has no grant"
        );
    }
    check_active(
        &stores,
        &[("tok-none", true), ("tok-g", false)],
        "revoke_by_grant",
    )
    .await
}

/// `revoke_by_grant_counts_only_active`: expired and already revoked tokens of the grant
/// are not counted.
pub async fn revoke_by_grant_counts_only_active(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let mut short = new_token("alice", "c1", Some("grant-1"));
    short.ttl = Duration::from_secs(10);
    stores.tokens.insert("tok-expiring", short).await?;
    stores
        .tokens
        .insert("tok-revoked", new_token("alice", "c1", Some("grant-1")))
        .await?;
    stores
        .tokens
        .insert("tok-live", new_token("bob", "c2", Some("grant-1")))
        .await?;
    stores.tokens.revoke("tok-revoked").await?;
    ctx.advance_ms(10_000);
    assert_eq!(
        stores.tokens.revoke_by_grant("grant-1").await?,
        1,
        "revoke_by_grant counted expired or revoked tokens"
    );
    check_active(&stores, &[("tok-live", false)], "revoke_by_grant(grant-1)").await
}

/// `revoke_by_subject_counts_only_active`: expired and already revoked tokens of the
/// subject are not counted.
pub async fn revoke_by_subject_counts_only_active(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let mut short = new_token("alice", "c1", None);
    short.ttl = Duration::from_secs(10);
    stores.tokens.insert("tok-expiring", short).await?;
    stores
        .tokens
        .insert("tok-revoked", new_token("alice", "c1", None))
        .await?;
    stores
        .tokens
        .insert("tok-live-1", new_token("alice", "c1", None))
        .await?;
    stores
        .tokens
        .insert("tok-live-2", new_token("alice", "c2", Some("g")))
        .await?;
    stores.tokens.revoke("tok-revoked").await?;
    ctx.advance_ms(10_000);
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        2,
        "revoke_by_subject counted expired or revoked tokens"
    );
    check_active(
        &stores,
        &[("tok-live-1", false), ("tok-live-2", false)],
        "revoke_by_subject(alice)",
    )
    .await?;
    let mut short = new_token("bob", "c1", None);
    short.ttl = Duration::from_secs(10);
    stores.tokens.insert("tok-bob", short).await?;
    ctx.advance_ms(10_000);
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("bob", "c1")
            .await?,
        0,
        "revoke_by_subject_and_client counted an expired token"
    );
    Ok(())
}

/// `insert_after_expiry_succeeds`: once a token has expired its value can be inserted
/// again, and the old record's subject and grant no longer reach the new one.
pub async fn insert_after_expiry_succeeds(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    let mut old = new_token("alice", "c1", Some("grant-old"));
    old.ttl = Duration::from_secs(10);
    stores.tokens.insert("tok-1", old).await?;
    ctx.advance_ms(10_000);
    let new = new_token("bob", "c2", Some("grant-new"));
    let record = stores.tokens.insert("tok-1", new).await?;
    assert_eq!(stores.tokens.get("tok-1").await?, Some(record));
    assert_eq!(
        stores.tokens.revoke_by_subject("alice").await?,
        0,
        "the expired token's subject index revoked the new token"
    );
    assert_eq!(
        stores.tokens.revoke_by_grant("grant-old").await?,
        0,
        "the expired token's grant index revoked the new token"
    );
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("alice", "c1")
            .await?,
        0,
        "the expired token's subject and client index revoked the new token"
    );
    check_active(
        &stores,
        &[("tok-1", true)],
        "revoking by the old record's indexes",
    )
    .await?;
    assert_eq!(stores.tokens.revoke_by_grant("grant-new").await?, 1);
    Ok(())
}

/// `revoke_seen_by_other_node`: a token revoked on one node is inactive on another at
/// once.
pub async fn revoke_seen_by_other_node(ctx: Ctx) -> CaseResult {
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    node_a
        .tokens
        .insert("tok-1", new_token("alice", "c1", Some("g1")))
        .await?;
    node_a
        .tokens
        .insert("tok-2", new_token("alice", "c1", Some("g2")))
        .await?;
    assert!(node_b.tokens.get("tok-1").await?.is_some());
    assert!(node_a.tokens.revoke("tok-1").await?);
    assert_eq!(
        node_b.tokens.get("tok-1").await?,
        None,
        "another node still sees a revoked token as active"
    );
    assert_eq!(node_a.tokens.revoke_by_grant("g2").await?, 1);
    assert_eq!(
        node_b.tokens.get("tok-2").await?,
        None,
        "another node still sees a token revoked by grant as active"
    );
    Ok(())
}

/// `insert_refused_keeps_live_token_revocable`: an insert refused because a live token
/// holds the value (here with a shorter lifetime) changes nothing: once that shorter
/// lifetime has passed, the live token is still found and revoked by subject, client and
/// grant.
pub async fn insert_refused_keeps_live_token_revocable(ctx: Ctx) -> CaseResult {
    let stores = ctx.open().await?;
    stores
        .tokens
        .insert("tok-long", new_token("alice", "c1", Some("g1")))
        .await?;
    let mut shorter = new_token("alice", "c1", Some("g1"));
    shorter.ttl = Duration::from_secs(10);
    let refused = stores.tokens.insert("tok-long", shorter).await;
    match refused {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        other => {
            return fail(format!(
                "inserting a live token's value again gave {other:?}"
            ));
        }
    }
    ctx.advance_ms(20_000);
    // Writes for the same owners after the refused insert's lifetime.
    stores
        .tokens
        .insert("tok-other", new_token("alice", "c1", Some("g1")))
        .await?;
    check_active(&stores, &[("tok-long", true)], "the refused insert").await?;
    assert_eq!(
        stores
            .tokens
            .revoke_by_subject_and_client("alice", "c1")
            .await?,
        2,
        "revoke_by_subject_and_client missed the token whose value an insert was refused"
    );
    check_active(
        &stores,
        &[("tok-long", false), ("tok-other", false)],
        "the revocation",
    )
    .await?;
    for (i, revoke) in ["subject", "grant"].into_iter().enumerate() {
        let value = format!("tok-again-{i}");
        stores
            .tokens
            .insert(&value, new_token("alice", "c1", Some("g1")))
            .await?;
        let mut shorter = new_token("alice", "c1", Some("g1"));
        shorter.ttl = Duration::from_secs(10);
        if stores.tokens.insert(&value, shorter).await.is_ok() {
            return fail("a live token's value was inserted again");
        }
        ctx.advance_ms(20_000);
        stores
            .tokens
            .insert(
                &format!("{value}-trim"),
                new_token("alice", "c1", Some("g1")),
            )
            .await?;
        let revoked = match revoke {
            "subject" => stores.tokens.revoke_by_subject("alice").await?,
            _ => stores.tokens.revoke_by_grant("g1").await?,
        };
        assert_eq!(revoked, 2, "revoke_by_{revoke} missed a live token");
        check_active(&stores, &[(value.as_str(), false)], "the revocation").await?;
    }
    Ok(())
}
