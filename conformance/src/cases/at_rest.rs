//! The `at_rest` cases: what an attacker who reads (or writes) the backend's storage
//! gets. Nothing usable: no raw session id, handle, token, replay id, lockout key or
//! subject used as an index key (they are keyed hashes, with or without a cipher), no
//! payload or key material when a keyring is configured, and a tampered, re-keyed or
//! unexpected plaintext record is `Corrupt` — never a panic, never "absent".
//!
//! # What the harness must provide
//!
//! These cases need [`Harness::dump`](crate::Harness::dump) and
//! [`Harness::tamper`](crate::Harness::tamper). A harness that returns `None` from either
//! fails the cases that need it ("the harness must implement dump for at-rest checks"):
//! "no raw secrets at rest" and "tampered records are Corrupt" are promises every
//! backend makes (there is no capability flag that excuses them), and a suite that passed
//! them without looking would certify what it never saw.
//!
//! The dump is searched as bytes, in every key and every value, for each secret's raw
//! bytes, its hex (either case) and its base64 (standard and URL-safe, at every
//! alignment), so a backend cannot leak a handle merely by encoding it.
//!
//! # Which records carry a sealed payload
//!
//! Sessions, artifacts, state values, key sets, tokens and registry participants always
//! carry a sealed payload, so tampering must alter at least one record and the read must
//! be `Corrupt`. Lockout counters, replay entries and revocations need no payload (a
//! server backend may keep a lockout counter as a plain integer so that it can increment
//! it atomically); when the harness's tamper alters none of them the cases check that
//! the reads are unaffected, and when it alters some they check that the reads fail
//! closed: `Corrupt`, never "0 failures", "fresh" or "not revoked".

use std::time::Duration;

use authstate_core::codec::{Algorithm, DataKey, Keyring, Pepper, RecordCodec};
use authstate_core::{
    Contract, ErrorKind, KeyEntry, KeySet, LockoutPolicy, NewSession, NewToken, Participant,
    REVOCATION_SRI_DOMAIN, RevocationTarget, SecretBytes, SessionId, Stores, Take, Timestamp,
};

use crate::harness::RawEntry;
#[allow(unused_imports)]
use crate::{CaseError, CaseResult, Ctx, fail, sealed_codec};

/// This group's case list: the one place a case is named.
#[doc(hidden)]
#[macro_export]
macro_rules! __authstate_cases_at_rest {
    ($($mode:tt)*) => {
        $crate::__emit! { [$($mode)*] at_rest:
            no_raw_session_id_or_subject_at_rest,
            no_raw_artifact_handle_or_payload_at_rest,
            no_raw_state_key_or_value_at_rest,
            no_raw_replay_id_at_rest,
            no_raw_lockout_key_at_rest,
            no_raw_key_material_at_rest,
            no_raw_revocation_sri_or_subject_at_rest,
            no_raw_token_or_token_fields_at_rest,
            no_raw_registry_subject_or_participant_at_rest,
            no_raw_secrets_at_rest_without_cipher_for_handles,
            tampered_session_is_corrupt,
            tampered_artifact_is_corrupt,
            tampered_state_is_corrupt,
            tampered_key_set_is_corrupt,
            tampered_token_is_corrupt,
            tampered_registry_is_corrupt,
            tampered_lockout_is_corrupt,
            tampered_replay_never_reads_fresh,
            tampered_revocation_fails_closed,
            wrong_key_is_corrupt,
            unknown_key_id_is_corrupt,
            rotated_keyring_reads_old_records,
            plaintext_record_refused_without_migration_flag,
            plaintext_record_accepted_during_migration,
        }
    };
}
crate::__authstate_cases_at_rest!(list);

const HOUR: Duration = Duration::from_secs(3600);

/// The pepper of [`sealed_codec`]; [`peppered_plaintext`] checks that they agree.
const CONFORMANCE_PEPPER: &[u8] = b"conformance-pepper-0123456789";

// ---------------------------------------------------------------------------------------
// Dump and tamper through the harness

/// The dump of the case's namespace; a harness that cannot dump fails the case.
async fn dump(ctx: &Ctx) -> Result<Vec<RawEntry>, CaseError> {
    match ctx.dump().await? {
        Some(entries) => Ok(entries),
        None => fail("the harness must implement dump for at-rest checks"),
    }
}

/// How many `contract` records the harness altered; a harness that cannot tamper fails
/// the case.
async fn tamper(ctx: &Ctx, contract: Contract) -> Result<usize, CaseError> {
    match ctx.tamper(contract).await? {
        Some(n) => Ok(n),
        None => fail("the harness must implement tamper for tamper checks"),
    }
}

/// Tampers with `contract`, whose records always carry a sealed payload: at least one
/// must be altered.
async fn tamper_sealed(ctx: &Ctx, contract: Contract) -> CaseResult {
    if tamper(ctx, contract).await? == 0 {
        return fail(format!(
            "tamper altered no {contract} record although one was written: either the \
             harness's tamper does not reach {contract} records or their payload is not \
             sealed by the codec"
        ));
    }
    Ok(())
}

/// Checks that `result` is `Corrupt`, saying which read on which record broke.
fn expect_corrupt<T: std::fmt::Debug>(result: authstate_core::Result<T>, read: &str) -> CaseResult {
    match result {
        Err(e) if e.kind() == ErrorKind::Corrupt => Ok(()),
        Err(e) => fail(format!("{read}: expected a Corrupt error, got {e}")),
        Ok(v) => fail(format!(
            "{read}: expected a Corrupt error, got Ok({v:?}) (a damaged record must never \
             read as absent or valid)"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Searching a dump

/// Checks that the dump changed since `before`: a dump that does not show what was just
/// written proves nothing about it.
fn check_dump_shows_writes(before: &[RawEntry], after: &[RawEntry], what: &str) -> CaseResult {
    if after.iter().all(|e| before.contains(e)) {
        return fail(format!(
            "the harness's dump shows nothing of the {what} just written: it must include \
             every stored key and value of the namespace"
        ));
    }
    Ok(())
}

/// Checks that none of `secrets` (name, bytes) appears in any key or value of `dump`, in
/// any of the encodings of [`encodings`].
fn check_absent(dump: &[RawEntry], secrets: &[(&str, Vec<u8>)]) -> CaseResult {
    for (what, secret) in secrets {
        for (form, needle) in encodings(secret) {
            for entry in dump {
                for (part, haystack) in [("key", &entry.key), ("value", &entry.value)] {
                    if contains(haystack, &needle) {
                        return fail(format!(
                            "the dump reveals the {what} ({form}) in the {part} of the \
                             entry stored under {:?}",
                            printable(&entry.key)
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A storage key shown in a message, shortened.
fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).chars().take(100).collect()
}

const BASE64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The forms a secret could be stored in: raw, hex (both cases) and base64 (both
/// alphabets). For base64, the secret can sit at any offset of a larger encoded value,
/// so for each of the three alignments the bytes that encode to whole characters
/// independently of their neighbours are searched (long secrets only, so that the
/// shortened needle is still distinctive).
fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("raw bytes".to_string(), secret.to_vec()),
        (
            "lowercase hex".to_string(),
            secret
                .iter()
                .flat_map(|b| format!("{b:02x}").into_bytes())
                .collect(),
        ),
        (
            "uppercase hex".to_string(),
            secret
                .iter()
                .flat_map(|b| format!("{b:02X}").into_bytes())
                .collect(),
        ),
    ];
    if secret.len() >= 12 {
        for (name, alphabet) in [("base64", BASE64_STD), ("base64url", BASE64_URL)] {
            for skip in 0..3 {
                let rest = secret.get(skip..).unwrap_or_default();
                let whole = rest.get(..rest.len() / 3 * 3).unwrap_or_default();
                out.push((format!("{name}, offset {skip}"), base64(whole, alphabet)));
            }
        }
    }
    out
}

/// Base64 of whole 3-byte groups (no padding needed).
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 3 * 4);
    for chunk in bytes.chunks_exact(3) {
        if let [a, b, c] = chunk {
            let n = (u32::from(*a) << 16) | (u32::from(*b) << 8) | u32::from(*c);
            for shift in [18, 12, 6, 0] {
                out.push(alphabet[((n >> shift) & 63) as usize]);
            }
        }
    }
    out
}

/// The 32 bytes behind a session id (43 base64url characters): a backend that stored
/// the decoded id would leak it just as well.
fn decoded_id(id: &SessionId) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in id.expose().bytes() {
        let Some(v) = BASE64_URL.iter().position(|&a| a == c) else {
            return Vec::new();
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The raw and the decoded form of a session id, as secrets to look for.
fn session_id_secrets(name: &str, id: &SessionId) -> [(String, Vec<u8>); 2] {
    [
        (
            format!("{name} (as issued)"),
            id.expose().as_bytes().to_vec(),
        ),
        (format!("{name} (decoded to its 32 bytes)"), decoded_id(id)),
    ]
}

/// `(name, bytes)` pairs from string markers.
fn secrets<'a>(list: &[(&'a str, &str)]) -> Vec<(&'a str, Vec<u8>)> {
    list.iter()
        .map(|(what, s)| (*what, s.as_bytes().to_vec()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Codecs

fn conformance_pepper() -> Result<Pepper, CaseError> {
    Ok(Pepper::new(SecretBytes::new(CONFORMANCE_PEPPER.to_vec()))?)
}

/// An AES-256-GCM key `id` filled with `fill`.
fn key(id: &str, fill: u8) -> Result<DataKey, CaseError> {
    Ok(DataKey::new(
        id,
        Algorithm::Aes256Gcm,
        SecretBytes::new(vec![fill; 32]),
    )?)
}

/// A codec with the conformance pepper and `keyring`.
fn keyring_codec(keyring: Keyring) -> Result<RecordCodec, CaseError> {
    Ok(RecordCodec::plaintext()
        .with_keyring(keyring)
        .with_pepper(conformance_pepper()?))
}

/// A codec with [`sealed_codec`]'s pepper and no keyring: handles are hashed as with
/// the sealed codec, payloads are not encrypted.
fn peppered_plaintext(ctx: &Ctx) -> Result<RecordCodec, CaseError> {
    let codec = RecordCodec::plaintext().with_pepper(conformance_pepper()?);
    let ns = &ctx.config.namespace;
    if codec.hash(ns, "check", b"v") != sealed_codec().hash(ns, "check", b"v") {
        return fail("this module's pepper no longer matches sealed_codec's pepper");
    }
    Ok(codec)
}

// ---------------------------------------------------------------------------------------
// Records written by several cases

fn new_session(subject: &str, data: &[u8]) -> NewSession {
    NewSession {
        subject: subject.to_string(),
        data: data.to_vec(),
        lifetime: HOUR,
        idle_timeout: Some(Duration::from_secs(600)),
    }
}

fn new_token(subject: &str, client: &str, grant: Option<&str>, data: &[u8]) -> NewToken {
    NewToken {
        subject: subject.to_string(),
        client_id: client.to_string(),
        grant_id: grant.map(str::to_string),
        data: data.to_vec(),
        ttl: HOUR,
    }
}

fn key_set(kid: &str, material: &[u8], at: Timestamp) -> KeySet {
    KeySet {
        pending: Vec::new(),
        active: vec![KeyEntry {
            kid: kid.to_string(),
            material: SecretBytes::new(material.to_vec()),
            created_at: at,
        }],
        retired: Vec::new(),
    }
}

fn participant(
    session_ref: &str,
    partner: &str,
    index: &str,
    expires_at: Timestamp,
) -> Participant {
    Participant {
        session_ref: session_ref.to_string(),
        partner_id: partner.to_string(),
        session_index: Some(index.to_string()),
        expires_at,
    }
}

/// One record of each sealed contract, written by `stores`, to be read back by nodes
/// with other codecs.
struct Written {
    session: SessionId,
    session_record: authstate_core::SessionRecord,
    token_record: authstate_core::TokenRecord,
    participant: Participant,
    keys: KeySet,
}

async fn write_one_of_each(ctx: &Ctx, stores: &Stores) -> Result<Written, CaseError> {
    let now = ctx.now();
    let session = stores
        .sessions
        .create(new_session("alice", b"session-claims"))
        .await?;
    stores
        .artifacts
        .put("code-1", b"artifact-payload".to_vec(), HOUR)
        .await?;
    stores
        .state
        .put("state-1", b"state-value".to_vec(), HOUR)
        .await?;
    let token_record = stores
        .tokens
        .insert(
            "token-1",
            new_token("alice", "client-1", Some("grant-1"), b"scopes"),
        )
        .await?;
    let p = participant("sess-ref-1", "sp-1", "_idx-1", now.saturating_add(HOUR));
    stores.registry.register("alice", p.clone()).await?;
    let keys = key_set("kid-1", b"private-key-material", now);
    stores.keys.insert("jwks", keys.clone()).await?;
    Ok(Written {
        session: session.id,
        session_record: session.record,
        token_record,
        participant: p,
        keys,
    })
}

/// Checks that every record of [`write_one_of_each`] is `Corrupt` when read by `stores`
/// (opened with a codec that cannot open them). `why` says which codec.
async fn check_all_corrupt(stores: &Stores, written: &Written, why: &str) -> CaseResult {
    expect_corrupt(
        stores.sessions.get(&written.session).await,
        &format!("session get {why}"),
    )?;
    expect_corrupt(
        stores.state.get("state-1").await,
        &format!("state get {why}"),
    )?;
    expect_corrupt(
        stores.tokens.get("token-1").await,
        &format!("token get {why}"),
    )?;
    expect_corrupt(
        stores.registry.participants("alice").await,
        &format!("registry participants {why}"),
    )?;
    expect_corrupt(
        stores.keys.load("jwks").await,
        &format!("key set load {why}"),
    )?;
    expect_corrupt(
        stores.artifacts.take("code-1").await,
        &format!("artifact take {why}"),
    )
}

/// Checks that every record of [`write_one_of_each`] reads back intact through `stores`
/// (the artifact is not taken, so the records stay readable).
async fn check_all_readable(stores: &Stores, written: &Written, why: &str) -> CaseResult {
    let session = stores.sessions.get(&written.session).await?;
    assert_eq!(
        session.as_ref(),
        Some(&written.session_record),
        "session {why}"
    );
    assert_eq!(
        stores.state.get("state-1").await?,
        Some(b"state-value".to_vec()),
        "state {why}"
    );
    assert_eq!(
        stores.tokens.get("token-1").await?,
        Some(written.token_record.clone()),
        "token {why}"
    );
    assert_eq!(
        stores.registry.participants("alice").await?,
        vec![written.participant.clone()],
        "registry {why}"
    );
    let keys = stores.keys.load("jwks").await?.map(|k| k.keys);
    assert_eq!(keys, Some(written.keys.clone()), "key set {why}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// No raw secrets in the dump (sealed codec)

/// `no_raw_session_id_or_subject_at_rest`: with a keyring, no session id (issued or
/// rotated, as text or decoded), subject or session data appears in the dump.
pub async fn no_raw_session_id_or_subject_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let subject = "ATREST-SESSION-SUBJECT-uid=q8zk3";
    let first = stores
        .sessions
        .create(new_session(subject, b"ATREST-SESSION-DATA-claims-71c2"))
        .await?;
    let second = stores
        .sessions
        .create(new_session(subject, b"ATREST-SESSION-DATA-claims-71c2"))
        .await?;
    let rotated = stores.sessions.rotate_id(&first.id).await?;
    stores.sessions.touch(&rotated.id).await?;
    stores
        .sessions
        .update(&second.id, 1, b"ATREST-SESSION-DATA-updated-9f0d".to_vec())
        .await?;
    stores.sessions.list_by_subject(subject).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "sessions")?;
    let mut list: Vec<(String, Vec<u8>)> = Vec::new();
    list.extend(session_id_secrets("first session id", &first.id));
    list.extend(session_id_secrets("rotated session id", &rotated.id));
    list.extend(session_id_secrets("second session id", &second.id));
    let list: Vec<(&str, Vec<u8>)> = list.iter().map(|(w, s)| (w.as_str(), s.clone())).collect();
    check_absent(&after, &list)?;
    check_absent(
        &after,
        &secrets(&[
            ("session subject", subject),
            ("session data", "ATREST-SESSION-DATA-claims-71c2"),
            ("updated session data", "ATREST-SESSION-DATA-updated-9f0d"),
        ]),
    )
}

/// `no_raw_artifact_handle_or_payload_at_rest`: with a keyring, no artifact handle
/// (live or taken) or payload appears in the dump.
pub async fn no_raw_artifact_handle_or_payload_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let live = "ATREST-CODE-live-SplxlOBeZQQYbYS6WxSbIA";
    let taken = "ATREST-CODE-taken-4e9a6b0c7d21f3";
    stores
        .artifacts
        .put(live, b"ATREST-ARTIFACT-PAYLOAD-live-0a1b".to_vec(), HOUR)
        .await?;
    stores
        .artifacts
        .put(taken, b"ATREST-ARTIFACT-PAYLOAD-taken-2c3d".to_vec(), HOUR)
        .await?;
    stores.artifacts.take(taken).await?;
    stores.artifacts.take(taken).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "artifacts")?;
    check_absent(
        &after,
        &secrets(&[
            ("live artifact handle", live),
            ("taken artifact handle", taken),
            ("artifact payload", "ATREST-ARTIFACT-PAYLOAD-live-0a1b"),
            (
                "taken artifact payload",
                "ATREST-ARTIFACT-PAYLOAD-taken-2c3d",
            ),
        ]),
    )
}

/// `no_raw_state_key_or_value_at_rest`: with a keyring, no state key or value appears
/// in the dump.
pub async fn no_raw_state_key_or_value_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    stores
        .state
        .put(
            "ATREST-STATE-KEY-put-5e6f7a",
            b"ATREST-STATE-VALUE-put-8b9c".to_vec(),
            HOUR,
        )
        .await?;
    stores
        .state
        .put_if_absent(
            "ATREST-STATE-KEY-pia-0d1e2f",
            b"ATREST-STATE-VALUE-pia-3a4b".to_vec(),
            HOUR,
        )
        .await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "state values")?;
    check_absent(
        &after,
        &secrets(&[
            ("state key", "ATREST-STATE-KEY-put-5e6f7a"),
            ("state key (put_if_absent)", "ATREST-STATE-KEY-pia-0d1e2f"),
            ("state value", "ATREST-STATE-VALUE-put-8b9c"),
            ("state value (put_if_absent)", "ATREST-STATE-VALUE-pia-3a4b"),
        ]),
    )
}

/// `no_raw_replay_id_at_rest`: no replay id (an assertion id, a `jti`) appears in the
/// dump.
pub async fn no_raw_replay_id_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let id = "ATREST-REPLAY-JTI-_8f14e45fceea167a";
    let not_after = ctx.now().saturating_add(Duration::from_secs(300));
    stores.replay.check_and_record(id, not_after).await?;
    stores.replay.check_and_record(id, not_after).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "replay entries")?;
    check_absent(&after, &secrets(&[("replay id", id)]))
}

/// `no_raw_lockout_key_at_rest`: no lockout key (a username and client address) appears
/// in the dump, locked or not.
pub async fn no_raw_lockout_key_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let key = "ATREST-LOCKOUT-jdoe@example.com|203.0.113.9";
    let policy = LockoutPolicy {
        max_failures: 2,
        ..LockoutPolicy::default()
    };
    stores.lockout.record_failure(key, &policy).await?;
    let status = stores.lockout.record_failure(key, &policy).await?;
    assert!(
        status.locked_until.is_some(),
        "two failures of two did not lock"
    );
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "lockout counters")?;
    check_absent(&after, &secrets(&[("lockout key", key)]))
}

/// `no_raw_key_material_at_rest`: no private key material or key id of an inserted or
/// replaced key set appears in the dump.
pub async fn no_raw_key_material_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let now = ctx.now();
    let first = key_set(
        "ATREST-KID-first-2024-01",
        b"ATREST-MATERIAL-first-----BEGIN PRIVATE KEY-----MIIEvQ",
        now,
    );
    stores.keys.insert("signing", first).await?;
    let mut second = key_set(
        "ATREST-KID-second-2024-02",
        b"ATREST-MATERIAL-second-----BEGIN PRIVATE KEY-----MIIEvg",
        now,
    );
    second.pending.push(KeyEntry {
        kid: "ATREST-KID-pending-2024-03".to_string(),
        material: SecretBytes::new(
            b"ATREST-MATERIAL-pending-{\"kty\":\"EC\",\"d\":\"x\"}".to_vec(),
        ),
        created_at: now,
    });
    stores.keys.replace("signing", 1, second).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "key sets")?;
    check_absent(
        &after,
        &secrets(&[
            ("replaced key id", "ATREST-KID-first-2024-01"),
            (
                "replaced key material",
                "ATREST-MATERIAL-first-----BEGIN PRIVATE KEY-----MIIEvQ",
            ),
            ("active key id", "ATREST-KID-second-2024-02"),
            (
                "active key material",
                "ATREST-MATERIAL-second-----BEGIN PRIVATE KEY-----MIIEvg",
            ),
            ("pending key id", "ATREST-KID-pending-2024-03"),
            (
                "pending key material",
                "ATREST-MATERIAL-pending-{\"kty\":\"EC\",\"d\":\"x\"}",
            ),
        ]),
    )
}

/// `no_raw_revocation_sri_or_subject_at_rest`: no revoked SRI or revoked subject appears
/// in the dump.
pub async fn no_raw_revocation_sri_or_subject_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let now = ctx.now();
    let sri = "ATREST-SRI-7d1f0c2b9e8a4f3d";
    let subject = "ATREST-REVOKED-SUBJECT-uid=mallory";
    stores
        .revocations
        .revoke(sri, now.saturating_add(HOUR))
        .await?;
    stores
        .revocations
        .revoke_subject(subject, now, now.saturating_add(HOUR))
        .await?;
    stores.revocations.is_revoked(sri, subject, now).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "revocations")?;
    check_absent(
        &after,
        &secrets(&[("revoked SRI", sri), ("revoked subject", subject)]),
    )
}

/// `no_raw_token_or_token_fields_at_rest`: with a keyring, no token value, subject,
/// client, grant or token data appears in the dump, for active and revoked tokens.
pub async fn no_raw_token_or_token_fields_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let fields = [
        ("token subject", "ATREST-TOKEN-SUBJECT-uid=carol"),
        ("token client", "ATREST-TOKEN-CLIENT-rp-42"),
        ("token grant", "ATREST-TOKEN-GRANT-code-family-9"),
        ("token data", "ATREST-TOKEN-DATA-scope=openid email"),
    ];
    let [(_, subject), (_, client), (_, grant), (_, data)] = fields;
    let active = "ATREST-TOKEN-VALUE-active-2YotnFZFEjr1zCsicMWpAA";
    let revoked = "ATREST-TOKEN-VALUE-revoked-tGzv3JOkF0XG5Qx2TlKWIA";
    for token in [active, revoked] {
        stores
            .tokens
            .insert(
                token,
                new_token(subject, client, Some(grant), data.as_bytes()),
            )
            .await?;
    }
    stores.tokens.revoke(revoked).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "tokens")?;
    let mut list = secrets(&fields);
    list.extend(secrets(&[
        ("active token value", active),
        ("revoked token value", revoked),
    ]));
    check_absent(&after, &list)
}

/// `no_raw_registry_subject_or_participant_at_rest`: with a keyring, no registry
/// subject, session reference, partner or session index appears in the dump.
pub async fn no_raw_registry_subject_or_participant_at_rest(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let subject = "ATREST-REGISTRY-SUBJECT-uid=dave";
    let p = participant(
        "ATREST-REGISTRY-SESSION-REF-5b2e",
        "ATREST-REGISTRY-PARTNER-https://sp.example",
        "ATREST-REGISTRY-INDEX-_c0ffee",
        ctx.now().saturating_add(HOUR),
    );
    stores.registry.register(subject, p.clone()).await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "registry entries")?;
    check_absent(
        &after,
        &secrets(&[
            ("registry subject", subject),
            ("registry session reference", &p.session_ref),
            ("registry partner", &p.partner_id),
            ("registry session index", "ATREST-REGISTRY-INDEX-_c0ffee"),
        ]),
    )
}

/// `no_raw_secrets_at_rest_without_cipher_for_handles`: without a keyring (pepper only)
/// payloads may be readable, but every handle, id, token, key and subject used as an
/// index key is still a keyed hash. (Subjects inside session and token records are
/// payload and may appear; the registry and revocation subjects are index keys only.)
pub async fn no_raw_secrets_at_rest_without_cipher_for_handles(ctx: Ctx) -> CaseResult {
    let ctx = ctx.clone().with_codec(peppered_plaintext(&ctx)?);
    if ctx.config.codec.is_encrypting() {
        return fail("the case's codec should not encrypt");
    }
    let stores = ctx.open().await?;
    let before = dump(&ctx).await?;
    let now = ctx.now();
    let session = stores
        .sessions
        .create(new_session("plain-subject", b"plain-data"))
        .await?;
    let rotated = stores.sessions.rotate_id(&session.id).await?;
    let handle = "PLAIN-CODE-SplxlOBeZQQYbYS6WxSbIA";
    stores.artifacts.put(handle, b"p".to_vec(), HOUR).await?;
    let taken = "PLAIN-CODE-taken-0b1c2d3e4f5a6b";
    stores.artifacts.put(taken, b"p".to_vec(), HOUR).await?;
    stores.artifacts.take(taken).await?;
    let state_key = "PLAIN-STATE-KEY-af81c2d9e0";
    stores.state.put(state_key, b"v".to_vec(), HOUR).await?;
    let jti = "PLAIN-REPLAY-JTI-c4ca4238a0b92382";
    stores
        .replay
        .check_and_record(jti, now.saturating_add(Duration::from_secs(60)))
        .await?;
    let lockout_key = "PLAIN-LOCKOUT-jdoe@example.com|198.51.100.7";
    stores
        .lockout
        .record_failure(lockout_key, &LockoutPolicy::default())
        .await?;
    let token = "PLAIN-TOKEN-VALUE-2YotnFZFEjr1zCsicMWpAA";
    stores
        .tokens
        .insert(token, new_token("plain-subject", "c", Some("g"), b"d"))
        .await?;
    let sri = "PLAIN-SRI-9a8b7c6d5e4f3a2b";
    let revoked_subject = "PLAIN-REVOKED-SUBJECT-uid=erin";
    stores
        .revocations
        .revoke(sri, now.saturating_add(HOUR))
        .await?;
    stores
        .revocations
        .revoke_subject(revoked_subject, now, now.saturating_add(HOUR))
        .await?;
    let registry_subject = "PLAIN-REGISTRY-SUBJECT-uid=frank";
    stores
        .registry
        .register(
            registry_subject,
            participant("ref", "sp", "idx", now.saturating_add(HOUR)),
        )
        .await?;
    let after = dump(&ctx).await?;
    check_dump_shows_writes(&before, &after, "records")?;
    let mut ids: Vec<(String, Vec<u8>)> = Vec::new();
    ids.extend(session_id_secrets("session id", &session.id));
    ids.extend(session_id_secrets("rotated session id", &rotated.id));
    let ids: Vec<(&str, Vec<u8>)> = ids.iter().map(|(w, s)| (w.as_str(), s.clone())).collect();
    check_absent(&after, &ids)?;
    check_absent(
        &after,
        &secrets(&[
            ("artifact handle", handle),
            ("taken artifact handle", taken),
            ("state key", state_key),
            ("replay id", jti),
            ("lockout key", lockout_key),
            ("token value", token),
            ("revoked SRI", sri),
            ("revoked subject", revoked_subject),
            ("registry subject", registry_subject),
        ]),
    )
}

// ---------------------------------------------------------------------------------------
// Tampered records

/// `tampered_session_is_corrupt`: after a byte of the sealed session is flipped, `get`,
/// `touch` and `list_by_subject` are `Corrupt`.
pub async fn tampered_session_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let s = stores
        .sessions
        .create(new_session("alice", b"claims"))
        .await?;
    tamper_sealed(&ctx, Contract::Session).await?;
    expect_corrupt(stores.sessions.get(&s.id).await, "session get")?;
    expect_corrupt(stores.sessions.touch(&s.id).await, "session touch")?;
    expect_corrupt(
        stores.sessions.list_by_subject("alice").await,
        "session list_by_subject",
    )
}

/// `tampered_artifact_is_corrupt`: after a byte of the sealed artifact is flipped,
/// `take` is `Corrupt` (never `Unknown`, never a payload).
pub async fn tampered_artifact_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .artifacts
        .put("code-1", b"payload".to_vec(), HOUR)
        .await?;
    tamper_sealed(&ctx, Contract::Artifact).await?;
    let taken: authstate_core::Result<Take> = stores.artifacts.take("code-1").await;
    expect_corrupt(taken, "artifact take")
}

/// `tampered_state_is_corrupt`: after a byte of the sealed value is flipped, `get` is
/// `Corrupt`.
pub async fn tampered_state_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores.state.put("state-1", b"value".to_vec(), HOUR).await?;
    tamper_sealed(&ctx, Contract::State).await?;
    expect_corrupt(stores.state.get("state-1").await, "state get")
}

/// `tampered_key_set_is_corrupt`: after a byte of the sealed key set is flipped, `load`
/// is `Corrupt` (a node must never start with no keys or damaged ones).
pub async fn tampered_key_set_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .keys
        .insert("jwks", key_set("kid-1", b"material", ctx.now()))
        .await?;
    tamper_sealed(&ctx, Contract::Key).await?;
    expect_corrupt(stores.keys.load("jwks").await, "key set load")
}

/// `tampered_token_is_corrupt`: after a byte of the sealed token is flipped, `get` is
/// `Corrupt` (never "inactive", never a record).
pub async fn tampered_token_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .tokens
        .insert("token-1", new_token("alice", "c", Some("g"), b"scopes"))
        .await?;
    tamper_sealed(&ctx, Contract::Token).await?;
    expect_corrupt(stores.tokens.get("token-1").await, "token get")
}

/// `tampered_registry_is_corrupt`: after a byte of the sealed participant is flipped,
/// `participants` and `remove_all` are `Corrupt`: a damaged entry must not silently miss
/// its logout request.
pub async fn tampered_registry_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    stores
        .registry
        .register(
            "alice",
            participant("ref-1", "sp-1", "idx", ctx.now().saturating_add(HOUR)),
        )
        .await?;
    tamper_sealed(&ctx, Contract::Registry).await?;
    expect_corrupt(
        stores.registry.participants("alice").await,
        "registry participants",
    )?;
    expect_corrupt(
        stores.registry.remove_all("alice").await,
        "registry remove_all",
    )
}

/// `tampered_lockout_is_corrupt`: a tampered sealed counter is `Corrupt`, never "0
/// failures, unlocked". A backend that keeps counters unsealed (tamper alters none) must
/// still report the counter as it was.
pub async fn tampered_lockout_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let policy = LockoutPolicy {
        max_failures: 2,
        ..LockoutPolicy::default()
    };
    stores.lockout.record_failure("jdoe", &policy).await?;
    let locked = stores.lockout.record_failure("jdoe", &policy).await?;
    if tamper(&ctx, Contract::Lockout).await? == 0 {
        let status = stores.lockout.status("jdoe").await?;
        assert_eq!(
            status, locked,
            "tamper altered no lockout record, yet the counter changed"
        );
        return Ok(());
    }
    expect_corrupt(stores.lockout.status("jdoe").await, "lockout status")
}

/// `tampered_replay_never_reads_fresh`: after tampering with the replay entries, a seen
/// id is `Replayed` or `Corrupt`, never `Fresh` (that would accept a replayed assertion).
pub async fn tampered_replay_never_reads_fresh(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let not_after = ctx.now().saturating_add(Duration::from_secs(300));
    stores.replay.check_and_record("jti-1", not_after).await?;
    let altered = tamper(&ctx, Contract::Replay).await?;
    match stores.replay.check_and_record("jti-1", not_after).await {
        Ok(authstate_core::Replay::Replayed) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Corrupt && altered > 0 => Ok(()),
        Err(e) => fail(format!(
            "after tamper ({altered} replay records altered) a seen id gave {e}; expected \
             Replayed, or Corrupt if its record was altered"
        )),
        Ok(authstate_core::Replay::Fresh) => fail(format!(
            "after tamper ({altered} replay records altered) a seen id reads as Fresh: a \
             replayed assertion would be accepted"
        )),
    }
}

/// `tampered_revocation_fails_closed`: after tampering with the revocations, a revoked
/// SRI or subject reads as revoked or `Corrupt`, never "not revoked"; the feed is
/// `Corrupt` or intact; and when tamper altered something, at least one read is
/// `Corrupt`.
pub async fn tampered_revocation_fails_closed(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let stores = ctx.open().await?;
    let now = ctx.now();
    let until = now.saturating_add(HOUR);
    stores.revocations.revoke("sri-1", until).await?;
    stores
        .revocations
        .revoke_subject("mallory", now, until)
        .await?;
    let altered = tamper(&ctx, Contract::Revocation).await?;
    let mut corrupt = 0;
    let early = Timestamp::from_millis(now.as_millis() - 1);
    for (what, result) in [
        (
            "the revoked SRI",
            stores.revocations.is_revoked("sri-1", "alice", now).await,
        ),
        (
            "the revoked subject",
            stores
                .revocations
                .is_revoked("sri-2", "mallory", early)
                .await,
        ),
    ] {
        match result {
            Ok(true) => {}
            Err(e) if e.kind() == ErrorKind::Corrupt => corrupt += 1,
            Ok(false) => {
                return fail(format!(
                    "after tamper ({altered} records altered) {what} reads as not revoked"
                ));
            }
            Err(e) => return fail(format!("is_revoked for {what} after tamper: {e}")),
        }
    }
    match stores.revocations.changes_since(0, 100).await {
        Ok(batch) => {
            let first = batch.changes.first().map(|c| c.target);
            let expected =
                RevocationTarget::Session(ctx.config.hash(REVOCATION_SRI_DOMAIN, b"sri-1"));
            if batch.changes.len() != 2 || first != Some(expected) {
                return fail(format!(
                    "after tamper the change feed reads without error but differs: {:?}",
                    batch.changes
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::Corrupt => corrupt += 1,
        Err(e) => return fail(format!("changes_since after tamper: {e}")),
    }
    if altered > 0 && corrupt == 0 {
        return fail(format!(
            "tamper altered {altered} revocation records, yet is_revoked and changes_since \
             all read without error"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keys and migration

/// `wrong_key_is_corrupt`: records sealed with key `k1` are `Corrupt` for a node whose
/// key `k1` has other material (same pepper, so the records are found).
pub async fn wrong_key_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let writer = ctx.open().await?;
    let written = write_one_of_each(&ctx, &writer).await?;
    let wrong = keyring_codec(Keyring::new(key("k1", 8)?))?;
    let reader = ctx.open_with(ctx.config.clone().with_codec(wrong)).await?;
    check_all_corrupt(&reader, &written, "with another key under the same id").await
}

/// `unknown_key_id_is_corrupt`: records sealed with key `k1` are `Corrupt` for a node
/// whose keyring has no `k1`.
pub async fn unknown_key_id_is_corrupt(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let writer = ctx.open().await?;
    let written = write_one_of_each(&ctx, &writer).await?;
    let other = keyring_codec(Keyring::new(key("k2", 7)?))?;
    let reader = ctx.open_with(ctx.config.clone().with_codec(other)).await?;
    check_all_corrupt(&reader, &written, "with a keyring that lacks the key id").await
}

/// `rotated_keyring_reads_old_records`: after a key rotation (write key `k2`, `k1` kept
/// for reading) old records still read; new records are sealed with `k2`, so a node
/// without `k2` cannot read them, and once `k1` is dropped the old ones are `Corrupt`.
pub async fn rotated_keyring_reads_old_records(ctx: Ctx) -> CaseResult {
    let ctx = ctx.sealed();
    let old_node = ctx.open().await?;
    let written = write_one_of_each(&ctx, &old_node).await?;
    let rotated = keyring_codec(Keyring::new(key("k2", 9)?).with_read_key(key("k1", 7)?)?)?;
    let rotated_node = ctx
        .open_with(ctx.config.clone().with_codec(rotated))
        .await?;
    check_all_readable(&rotated_node, &written, "sealed with k1, read with k2 + k1").await?;
    rotated_node
        .state
        .put("state-new", b"sealed-with-k2".to_vec(), HOUR)
        .await?;
    assert_eq!(
        rotated_node.state.get("state-new").await?,
        Some(b"sealed-with-k2".to_vec())
    );
    expect_corrupt(
        old_node.state.get("state-new").await,
        "a record written after the rotation, read by a node that only has k1",
    )?;
    let only_new = keyring_codec(Keyring::new(key("k2", 9)?))?;
    let new_node = ctx
        .open_with(ctx.config.clone().with_codec(only_new))
        .await?;
    assert_eq!(
        new_node.state.get("state-new").await?,
        Some(b"sealed-with-k2".to_vec()),
        "a record sealed with k2 does not read with k2"
    );
    check_all_corrupt(&new_node, &written, "after k1 was dropped from the keyring").await
}

/// Writes one of each record with a pepper-only plaintext codec (key sets allowed in
/// plaintext), for the migration cases.
async fn write_plaintext(ctx: &Ctx) -> Result<Written, CaseError> {
    let plain = ctx.clone().with_codec(peppered_plaintext(ctx)?);
    let config = plain.config.clone().with_plaintext_keys_allowed(true);
    let writer = ctx.open_with(config).await?;
    write_one_of_each(ctx, &writer).await
}

/// `plaintext_record_refused_without_migration_flag`: a record written without
/// encryption is `Corrupt` for a node with a keyring, unless the operator turned
/// `accept_plaintext` on (an attacker who can write to the backend must not plant
/// records).
pub async fn plaintext_record_refused_without_migration_flag(ctx: Ctx) -> CaseResult {
    let written = write_plaintext(&ctx).await?;
    let sealed = ctx.clone().sealed();
    let reader = sealed.open().await?;
    check_all_corrupt(
        &reader,
        &written,
        "written in plaintext, read with a keyring",
    )
    .await
}

/// `plaintext_record_accepted_during_migration`: with `accept_plaintext(true)`, records
/// written without encryption read back intact, records written during the migration
/// are sealed, and a record rewritten during it reads on a node that no longer accepts
/// plaintext.
pub async fn plaintext_record_accepted_during_migration(ctx: Ctx) -> CaseResult {
    let written = write_plaintext(&ctx).await?;
    let migrating = ctx
        .clone()
        .with_codec(sealed_codec().accept_plaintext(true));
    let node = migrating.open().await?;
    check_all_readable(
        &node,
        &written,
        "written in plaintext, read during the migration",
    )
    .await?;
    match node.artifacts.take("code-1").await? {
        Take::Fresh(p) if p == b"artifact-payload" => {}
        other => return fail(format!("a plaintext artifact did not take: {other:?}")),
    }
    let marker = "MIGRATION-NEW-STATE-VALUE-7e3a";
    node.state
        .put("state-new", marker.as_bytes().to_vec(), HOUR)
        .await?;
    let updated = node
        .sessions
        .update(
            &written.session,
            written.session_record.version,
            b"rewritten".to_vec(),
        )
        .await?;
    check_absent(
        &dump(&ctx).await?,
        &secrets(&[("value written during the migration", marker)]),
    )?;
    let strict = ctx.clone().sealed().open().await?;
    assert_eq!(
        strict.state.get("state-new").await?,
        Some(marker.as_bytes().to_vec()),
        "a value written during the migration does not read without accept_plaintext"
    );
    assert_eq!(
        strict.sessions.get(&written.session).await?,
        Some(updated),
        "a session rewritten during the migration does not read without accept_plaintext"
    );
    expect_corrupt(
        strict.state.get("state-1").await,
        "a record never rewritten, read once the migration is over",
    )
}
