//! The `keys` cases: one per `# Behavior` bullet of [`KeyStore`](authstate_core::KeyStore)
//! (the concurrent insert and replace are in the `concurrency` group), plus the rules on
//! plaintext key material, exact material bytes, name and namespace isolation, and a
//! second node's view.
//!
//! The key store refuses to work without a keyring unless plaintext keys are allowed, so
//! most cases run on the sealed codec.

use std::time::Duration;

use authstate_core::{
    ErrorKind, KeyEntry, KeySet, Namespace, SecretBytes, StoreConfig, Timestamp, VersionedKeySet,
};

#[allow(unused_imports)]
use crate::{CaseResult, Ctx, fail};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_keys {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] keys:
            load_unknown_is_none,
            load_never_expires,
            insert_then_load_returns_keys,
            insert_existing_already_exists,
            insert_refuses_plaintext_keys,
            replace_with_current_version_succeeds,
            replace_with_stale_version_conflicts,
            replace_unknown_is_not_found,
            replace_with_other_version_conflicts,
            replace_keeps_material_bytes,
            insert_allows_plaintext_when_permitted,
            load_refuses_plaintext_keys,
            replace_refuses_plaintext_keys,
            key_set_names_are_isolated,
            other_node_sees_key_sets,
            namespaces_are_isolated,
        }
    };
}
crate::__authstate_cases_keys!(list);

/// The key set name these cases use, as an IdP names its OIDC signing keys.
const NAME: &str = "oidc-signing";

/// A key with id `kid` and some distinguishable private material.
fn entry(kid: &str, created_at: Timestamp) -> KeyEntry {
    KeyEntry {
        kid: kid.to_string(),
        material: SecretBytes::new(format!(
            "{{\"kty\":\"EC\",\"kid\":\"{kid}\",\"d\":\"private-{kid}\"}}"
        )),
        created_at,
    }
}

/// A first key set: `<tag>-1` active, `<tag>-2` pending, nothing retired.
fn first_set(tag: &str, now: Timestamp) -> KeySet {
    KeySet {
        pending: vec![entry(&format!("{tag}-2"), now)],
        active: vec![entry(&format!("{tag}-1"), now)],
        retired: Vec::new(),
    }
}

/// `keys` after one rotation: pending becomes active, active becomes retired, and a new
/// key `kid` is pending.
fn rotated(keys: &KeySet, kid: &str, now: Timestamp) -> KeySet {
    let mut retired = keys.retired.clone();
    retired.extend(keys.active.iter().cloned());
    KeySet {
        pending: vec![entry(kid, now)],
        active: keys.pending.clone(),
        retired,
    }
}

/// Fails unless `loaded` is `expected` (compared without printing key material).
fn expect_loaded(
    loaded: Option<VersionedKeySet>,
    expected_version: u64,
    expected: &KeySet,
    what: &str,
) -> CaseResult {
    match loaded {
        Some(v) if v.version == expected_version && &v.keys == expected => Ok(()),
        Some(v) if v.version == expected_version => fail(format!(
            "{what}: version {expected_version} as expected, but the keys differ \
             (kids {:?}, expected {:?})",
            kids(&v.keys),
            kids(expected)
        )),
        Some(v) => fail(format!(
            "{what}: version {} with kids {:?}, expected version {expected_version} with \
             kids {:?}",
            v.version,
            kids(&v.keys),
            kids(expected)
        )),
        None => fail(format!("{what}: the key set is missing")),
    }
}

/// The key ids of a set, per state, for messages.
fn kids(keys: &KeySet) -> [Vec<&str>; 3] {
    fn ids(v: &[KeyEntry]) -> Vec<&str> {
        v.iter().map(|k| k.kid.as_str()).collect()
    }
    [ids(&keys.pending), ids(&keys.active), ids(&keys.retired)]
}

/// A config like `ctx`'s that allows plaintext key material.
fn plaintext_allowed(ctx: &Ctx) -> StoreConfig {
    ctx.config.clone().with_plaintext_keys_allowed(true)
}

/// `load_unknown_is_none`
pub async fn load_unknown_is_none(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let loaded = stores.keys.load(NAME).await?;
    assert!(loaded.is_none(), "a name never inserted returned a key set");
    Ok(())
}

/// `load_never_expires`
pub async fn load_never_expires(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let keys = first_set("k", ctx.now());
    stores.keys.insert(NAME, keys.clone()).await?;
    // Beyond every TTL cap a store has (400 days), twice over.
    ctx.advance(Duration::from_secs(2 * 400 * 24 * 3600));
    expect_loaded(
        stores.keys.load(NAME).await?,
        1,
        &keys,
        "a key set 800 days after its insert",
    )?;
    let reopened = ctx.open().await?;
    expect_loaded(
        reopened.keys.load(NAME).await?,
        1,
        &keys,
        "a key set 800 days after its insert, from a freshly opened node",
    )
}

/// `insert_then_load_returns_keys`
pub async fn insert_then_load_returns_keys(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let keys = first_set("k", ctx.now());
    let inserted = stores.keys.insert(NAME, keys.clone()).await?;
    expect_loaded(Some(inserted), 1, &keys, "what insert returned")?;
    expect_loaded(stores.keys.load(NAME).await?, 1, &keys, "load after insert")
}

/// `insert_existing_already_exists`
pub async fn insert_existing_already_exists(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let first = first_set("first", ctx.now());
    stores.keys.insert(NAME, first.clone()).await?;
    Ctx::expect_kind(
        stores
            .keys
            .insert(NAME, first_set("second", ctx.now()))
            .await,
        ErrorKind::AlreadyExists,
    )?;
    // Inserting the very same keys again is a second insert too.
    Ctx::expect_kind(
        stores.keys.insert(NAME, first.clone()).await,
        ErrorKind::AlreadyExists,
    )?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        1,
        &first,
        "the key set after a refused second insert",
    )
}

/// `insert_refuses_plaintext_keys`
pub async fn insert_refuses_plaintext_keys(ctx: Ctx) -> CaseResult {
    // The case's own codec has no keyring, and plaintext keys are not allowed.
    let stores = ctx.open().await?;
    let keys = first_set("k", ctx.now());
    Ctx::expect_kind(
        stores.keys.insert(NAME, keys.clone()).await,
        ErrorKind::ConfigInvalid,
    )?;
    // Look with the same codec, plaintext allowed: nothing was stored.
    let allowed = ctx.open_with(plaintext_allowed(&ctx)).await?;
    if allowed.keys.load(NAME).await?.is_some() {
        return fail("a refused plaintext insert stored the key set");
    }
    let inserted = allowed.keys.insert(NAME, keys).await?;
    assert_eq!(
        inserted.version, 1,
        "a refused insert left a version behind"
    );
    Ok(())
}

/// `replace_with_current_version_succeeds`
pub async fn replace_with_current_version_succeeds(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let v1 = first_set("k", ctx.now());
    stores.keys.insert(NAME, v1.clone()).await?;

    ctx.advance_ms(1_000);
    let v2 = rotated(&v1, "k-3", ctx.now());
    let replaced = stores.keys.replace(NAME, 1, v2.clone()).await?;
    expect_loaded(Some(replaced), 2, &v2, "what the first replace returned")?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        2,
        &v2,
        "load after one rotation",
    )?;

    ctx.advance_ms(1_000);
    let v3 = rotated(&v2, "k-4", ctx.now());
    let replaced = stores.keys.replace(NAME, 2, v3.clone()).await?;
    expect_loaded(Some(replaced), 3, &v3, "what the second replace returned")?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        3,
        &v3,
        "load after two rotations",
    )
}

/// `replace_with_stale_version_conflicts`
pub async fn replace_with_stale_version_conflicts(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let v1 = first_set("k", ctx.now());
    stores.keys.insert(NAME, v1.clone()).await?;
    let winner = rotated(&v1, "winner", ctx.now());
    stores.keys.replace(NAME, 1, winner.clone()).await?;

    Ctx::expect_kind(
        stores
            .keys
            .replace(NAME, 1, rotated(&v1, "loser", ctx.now()))
            .await,
        ErrorKind::Conflict,
    )?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        2,
        &winner,
        "the key set after a stale replace",
    )
}

/// `replace_unknown_is_not_found`
pub async fn replace_unknown_is_not_found(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let keys = first_set("k", ctx.now());
    Ctx::expect_kind(
        stores.keys.replace(NAME, 1, keys.clone()).await,
        ErrorKind::NotFound,
    )?;
    if stores.keys.load(NAME).await?.is_some() {
        return fail("a replace of an unknown name created the key set");
    }
    let inserted = stores.keys.insert(NAME, keys).await?;
    assert_eq!(inserted.version, 1);
    Ok(())
}

/// `replace_with_other_version_conflicts`: a version the set never had (ahead of the
/// current one, or zero) is `Conflict` too, and changes nothing.
pub async fn replace_with_other_version_conflicts(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let v1 = first_set("k", ctx.now());
    stores.keys.insert(NAME, v1.clone()).await?;
    for version in [0, 2, 7] {
        let result = stores
            .keys
            .replace(NAME, version, rotated(&v1, "other", ctx.now()))
            .await;
        if let Err(e) = Ctx::expect_kind(result, ErrorKind::Conflict) {
            return fail(format!("replace expecting version {version} of 1: {e}"));
        }
    }
    expect_loaded(
        stores.keys.load(NAME).await?,
        1,
        &v1,
        "the key set after replaces with wrong versions",
    )
}

/// `replace_keeps_material_bytes`: binary key material (zero bytes, every byte value, a
/// large RSA-sized document) comes back byte for byte, through insert and replace.
pub async fn replace_keeps_material_bytes(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let now = ctx.now();
    let binary = |kid: &str, bytes: Vec<u8>| KeyEntry {
        kid: kid.to_string(),
        material: SecretBytes::new(bytes),
        created_at: now,
    };
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let pkcs8_sized: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(97) % 256) as u8)
        .collect();
    let v1 = KeySet {
        pending: vec![binary("zeros", vec![0u8; 32])],
        active: vec![binary("every-byte", every_byte.clone())],
        retired: vec![binary("empty", Vec::new())],
    };
    stores.keys.insert(NAME, v1.clone()).await?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        1,
        &v1,
        "binary material after insert",
    )?;

    let v2 = KeySet {
        pending: vec![binary("large", pkcs8_sized)],
        active: v1.pending.clone(),
        retired: vec![binary("every-byte", every_byte), binary("nul", vec![0])],
    };
    stores.keys.replace(NAME, 1, v2.clone()).await?;
    let other_node = ctx.open().await?;
    expect_loaded(
        other_node.keys.load(NAME).await?,
        2,
        &v2,
        "binary material after replace, from another node",
    )
}

/// `insert_allows_plaintext_when_permitted`: with `allow_plaintext_keys` and no keyring,
/// the key store works.
pub async fn insert_allows_plaintext_when_permitted(ctx: Ctx) -> CaseResult {
    let stores = ctx.open_with(plaintext_allowed(&ctx)).await?;
    let v1 = first_set("k", ctx.now());
    if stores.keys.load(NAME).await?.is_some() {
        return fail("a name never inserted returned a key set");
    }
    stores.keys.insert(NAME, v1.clone()).await?;
    expect_loaded(stores.keys.load(NAME).await?, 1, &v1, "a plaintext key set")?;
    let v2 = rotated(&v1, "k-3", ctx.now());
    stores.keys.replace(NAME, 1, v2.clone()).await?;
    expect_loaded(
        stores.keys.load(NAME).await?,
        2,
        &v2,
        "a replaced plaintext key set",
    )
}

/// `load_refuses_plaintext_keys`: without a keyring (and without `allow_plaintext_keys`)
/// `load` is `ConfigInvalid`, whether or not the key set exists, never `None`.
pub async fn load_refuses_plaintext_keys(ctx: Ctx) -> CaseResult {
    let allowed = ctx.open_with(plaintext_allowed(&ctx)).await?;
    allowed.keys.insert(NAME, first_set("k", ctx.now())).await?;
    let stores = ctx.open().await?;
    Ctx::expect_kind(stores.keys.load(NAME).await, ErrorKind::ConfigInvalid)?;
    Ctx::expect_kind(
        stores.keys.load("never-inserted").await,
        ErrorKind::ConfigInvalid,
    )
}

/// `replace_refuses_plaintext_keys`: without a keyring (and without
/// `allow_plaintext_keys`) `replace` is `ConfigInvalid` and the stored keys are unchanged.
pub async fn replace_refuses_plaintext_keys(ctx: Ctx) -> CaseResult {
    let allowed = ctx.open_with(plaintext_allowed(&ctx)).await?;
    let v1 = first_set("k", ctx.now());
    allowed.keys.insert(NAME, v1.clone()).await?;
    let stores = ctx.open().await?;
    Ctx::expect_kind(
        stores
            .keys
            .replace(NAME, 1, rotated(&v1, "k-3", ctx.now()))
            .await,
        ErrorKind::ConfigInvalid,
    )?;
    expect_loaded(
        allowed.keys.load(NAME).await?,
        1,
        &v1,
        "the key set after a refused plaintext replace",
    )
}

/// `key_set_names_are_isolated`: inserting and replacing one named set never touches
/// another, however alike the names.
pub async fn key_set_names_are_isolated(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let now = ctx.now();
    let names = ["oidc-signing", "OIDC-signing", "oidc-signing-2", "oidc"];
    let mut sets = Vec::new();
    for name in names {
        let keys = first_set(name, now);
        let inserted = stores.keys.insert(name, keys.clone()).await?;
        assert_eq!(inserted.version, 1, "{name:?} did not start at version 1");
        sets.push(keys);
    }
    let replaced = rotated(&sets[0], "new", now);
    stores.keys.replace(names[0], 1, replaced.clone()).await?;
    expect_loaded(
        stores.keys.load(names[0]).await?,
        2,
        &replaced,
        "the replaced set",
    )?;
    for (name, keys) in names.iter().zip(&sets).skip(1) {
        expect_loaded(
            stores.keys.load(name).await?,
            1,
            keys,
            &format!("{name:?} after {:?} was replaced", names[0]),
        )?;
    }
    Ok(())
}

/// `other_node_sees_key_sets`: a set inserted or rotated on one node is what every
/// other node loads, and the version check holds across nodes.
pub async fn other_node_sees_key_sets(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let node_a = ctx.open().await?;
    let node_b = ctx.open().await?;
    let v1 = first_set("k", ctx.now());
    node_a.keys.insert(NAME, v1.clone()).await?;
    expect_loaded(
        node_b.keys.load(NAME).await?,
        1,
        &v1,
        "node B after A's insert",
    )?;
    Ctx::expect_kind(
        node_b.keys.insert(NAME, first_set("b", ctx.now())).await,
        ErrorKind::AlreadyExists,
    )?;

    let v2 = rotated(&v1, "k-3", ctx.now());
    node_b.keys.replace(NAME, 1, v2.clone()).await?;
    expect_loaded(
        node_a.keys.load(NAME).await?,
        2,
        &v2,
        "node A after B's rotation",
    )?;
    Ctx::expect_kind(
        node_a
            .keys
            .replace(NAME, 1, rotated(&v1, "stale", ctx.now()))
            .await,
        ErrorKind::Conflict,
    )
}

/// `namespaces_are_isolated`: the same name in two namespaces is two key sets.
pub async fn namespaces_are_isolated(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let ours = ctx.open().await?;
    let other_config = StoreConfig {
        namespace: Namespace::random()?,
        ..ctx.config.clone()
    };
    let theirs = ctx.open_with(other_config).await?;

    let our_keys = first_set("ours", ctx.now());
    ours.keys.insert(NAME, our_keys.clone()).await?;
    if theirs.keys.load(NAME).await?.is_some() {
        return fail("a key set is visible from another namespace");
    }
    let their_keys = first_set("theirs", ctx.now());
    let inserted = theirs.keys.insert(NAME, their_keys.clone()).await?;
    assert_eq!(inserted.version, 1);
    theirs
        .keys
        .replace(NAME, 1, rotated(&their_keys, "theirs-3", ctx.now()))
        .await?;
    expect_loaded(
        ours.keys.load(NAME).await?,
        1,
        &our_keys,
        "our key set after another namespace inserted and rotated its own",
    )
}
