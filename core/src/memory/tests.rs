//! Unit tests of the memory backend: the properties that depend on how it stores things
//! (sealing, hashing, sharing, batching). The behaviour of every contract bullet is
//! proven by `authstate-conformance`.

use std::sync::Arc;
use std::time::Duration;

use super::MemoryBackend;
use crate::codec::{Algorithm, DataKey, Keyring, RecordCodec};
use crate::config::StoreConfig;
use crate::contract::Contract;
use crate::contracts::{
    KeySet, LockoutPolicy, NewSession, NewToken, Participant, PurgeCriterion, PurgePolicy, Replay,
    Stores, Take,
};
use crate::error::ErrorKind;
use crate::namespace::Namespace;
use crate::time::{ManualClock, Timestamp};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

struct Fixture {
    backend: MemoryBackend,
    config: StoreConfig,
    clock: ManualClock,
    stores: Stores,
}

fn fixture(encrypt: bool) -> Fixture {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let mut config = StoreConfig::new(Namespace::random().expect("namespace"))
        .with_clock(Arc::new(clock.clone()));
    if encrypt {
        let key = DataKey::generate("k1", Algorithm::Aes256Gcm).expect("key");
        config = config.with_codec(RecordCodec::plaintext().with_keyring(Keyring::new(key)));
    }
    let backend = MemoryBackend::new();
    let stores = backend.open(config.clone()).expect("open");
    Fixture {
        backend,
        config,
        clock,
        stores,
    }
}

fn dead_now() -> PurgePolicy {
    PurgePolicy {
        offset: Duration::ZERO,
        ..PurgePolicy::default()
    }
}

#[tokio::test]
async fn memory_take_has_three_outcomes_and_tombstone_keeps_handle() {
    let f = fixture(true);
    let artifacts = &f.stores.artifacts;
    assert_eq!(artifacts.take("code-1").await.expect("take"), Take::Unknown);
    artifacts
        .put("code-1", b"grant".to_vec(), 10 * SECOND)
        .await
        .expect("put");
    let taken_at = f.config.now();
    assert_eq!(
        artifacts.take("code-1").await.expect("take"),
        Take::Fresh(b"grant".to_vec())
    );
    f.clock.advance(9 * SECOND);
    assert_eq!(
        artifacts.take("code-1").await.expect("take"),
        Take::Replayed { taken_at }
    );
    let err = artifacts
        .put("code-1", b"again".to_vec(), 10 * SECOND)
        .await
        .expect_err("tombstone keeps the handle");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    f.clock.advance(SECOND - MS);
    assert_eq!(
        artifacts.take("code-1").await.expect("take"),
        Take::Replayed { taken_at }
    );
    f.clock.advance(MS);
    assert_eq!(artifacts.take("code-1").await.expect("take"), Take::Unknown);
    artifacts
        .put("code-1", b"again".to_vec(), 10 * SECOND)
        .await
        .expect("an expired handle can be reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_takes_from_two_nodes_have_one_winner() {
    let f = fixture(false);
    let other = f.backend.open(f.config.clone()).expect("second node");
    f.stores
        .artifacts
        .put("code-2", b"x".to_vec(), 60 * SECOND)
        .await
        .expect("put");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = if i % 2 == 0 {
            f.stores.artifacts.clone()
        } else {
            other.artifacts.clone()
        };
        tasks.push(tokio::spawn(async move { store.take("code-2").await }));
    }
    let mut fresh = 0;
    for task in tasks {
        match task.await.expect("join").expect("take") {
            Take::Fresh(_) => fresh += 1,
            Take::Replayed { .. } => {}
            Take::Unknown => panic!("a put artifact is never unknown before its expiry"),
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_failures_count_exactly() {
    let f = fixture(false);
    let policy = LockoutPolicy {
        max_failures: 1_000,
        ..LockoutPolicy::default()
    };
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = f.stores.lockout.clone();
        tasks.push(tokio::spawn(async move {
            store.record_failure("alice", &policy).await
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.expect("join").expect("failure").failures);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u32>>());
}

#[tokio::test]
async fn memory_dump_reveals_no_raw_secret() {
    let f = fixture(true);
    let s = &f.stores;
    let session = s
        .sessions
        .create(NewSession {
            subject: "alice@example.com".into(),
            data: b"claims-payload".to_vec(),
            lifetime: 60 * SECOND,
            idle_timeout: None,
        })
        .await
        .expect("create");
    s.artifacts
        .put("authz-code-7f3a", b"artifact-payload".to_vec(), 60 * SECOND)
        .await
        .expect("put");
    s.state
        .put("state-key-91b", b"state-payload".to_vec(), 60 * SECOND)
        .await
        .expect("state");
    let not_after = f.config.now().saturating_add(60 * SECOND);
    s.replay
        .check_and_record("jti-5521", not_after)
        .await
        .expect("replay");
    s.lockout
        .record_failure("lockout-user", &LockoutPolicy::default())
        .await
        .expect("lockout");
    s.revocations
        .revoke("sri-4410", not_after)
        .await
        .expect("revoke");
    s.revocations
        .revoke_subject("alice@example.com", f.config.now(), not_after)
        .await
        .expect("revoke subject");
    s.tokens
        .insert(
            "access-token-c0ffee",
            NewToken {
                subject: "alice@example.com".into(),
                client_id: "client-app".into(),
                grant_id: Some("grant-77".into()),
                data: b"token-payload".to_vec(),
                ttl: 60 * SECOND,
            },
        )
        .await
        .expect("token");
    s.registry
        .register(
            "alice@example.com",
            Participant {
                session_ref: "session-ref-1".into(),
                partner_id: "sp-partner".into(),
                session_index: Some("idx-1".into()),
                expires_at: not_after,
            },
        )
        .await
        .expect("register");
    s.keys
        .insert("jwks", KeySet::default())
        .await
        .expect("keys");

    let dump = f.backend.dump(&f.config.namespace);
    assert!(dump.len() >= 14, "every record and index entry is dumped");
    let secrets: [&[u8]; 17] = [
        session.id.expose().as_bytes(),
        b"alice@example.com",
        b"claims-payload",
        b"authz-code-7f3a",
        b"artifact-payload",
        b"state-key-91b",
        b"state-payload",
        b"jti-5521",
        b"lockout-user",
        b"sri-4410",
        b"access-token-c0ffee",
        b"client-app",
        b"grant-77",
        b"token-payload",
        b"session-ref-1",
        b"sp-partner",
        b"idx-1",
    ];
    for entry in &dump {
        for secret in secrets {
            let found = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret);
            assert!(
                !found(&entry.key) && !found(&entry.value),
                "{:?} found in the dump",
                String::from_utf8_lossy(secret)
            );
        }
    }
}

#[tokio::test]
async fn memory_tampered_records_are_corrupt() {
    for encrypt in [true, false] {
        let f = fixture(encrypt);
        let s = &f.stores;
        let session = s
            .sessions
            .create(NewSession {
                subject: "bob".into(),
                data: b"d".to_vec(),
                lifetime: 60 * SECOND,
                idle_timeout: None,
            })
            .await
            .expect("create");
        s.artifacts
            .put("h", b"p".to_vec(), 60 * SECOND)
            .await
            .expect("put");
        s.state
            .put("k", b"v".to_vec(), 60 * SECOND)
            .await
            .expect("state");
        let ns = &f.config.namespace;
        assert_eq!(f.backend.tamper(ns, Contract::Session), 1);
        assert_eq!(f.backend.tamper(ns, Contract::Artifact), 1);
        assert_eq!(f.backend.tamper(ns, Contract::State), 1);
        assert_eq!(f.backend.tamper(ns, Contract::Token), 0);
        let session_err = s.sessions.get(&session.id).await.expect_err("corrupt");
        assert_eq!(session_err.kind(), ErrorKind::Corrupt);
        let take_err = s.artifacts.take("h").await.expect_err("corrupt");
        assert_eq!(take_err.kind(), ErrorKind::Corrupt);
        let err = s.state.get("k").await.expect_err("corrupt");
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert_eq!(err.backend(), "memory");
    }
}

#[tokio::test]
async fn memory_nodes_share_a_namespace_and_namespaces_are_isolated() {
    let f = fixture(false);
    let node_b = f.backend.clone().open(f.config.clone()).expect("node b");
    let elsewhere = f
        .backend
        .open(StoreConfig {
            namespace: Namespace::random().expect("namespace"),
            ..f.config.clone()
        })
        .expect("other namespace");
    f.stores
        .state
        .put("shared", b"v".to_vec(), 60 * SECOND)
        .await
        .expect("put");
    assert_eq!(
        node_b.state.get("shared").await.expect("get"),
        Some(b"v".to_vec())
    );
    assert_eq!(elsewhere.state.get("shared").await.expect("get"), None);
    assert!(f.backend.dump(&Namespace::random().expect("ns")).is_empty());
}

#[tokio::test]
async fn memory_rotate_id_moves_record_and_subject_index() {
    let f = fixture(true);
    let sessions = &f.stores.sessions;
    let old = sessions
        .create(NewSession {
            subject: "carol".into(),
            data: b"d".to_vec(),
            lifetime: 60 * SECOND,
            idle_timeout: Some(10 * SECOND),
        })
        .await
        .expect("create");
    let new = sessions.rotate_id(&old.id).await.expect("rotate");
    assert_ne!(old.id, new.id);
    assert_eq!(new.record, old.record);
    assert_eq!(sessions.get(&old.id).await.expect("get"), None);
    assert_eq!(
        sessions.get(&new.id).await.expect("get"),
        Some(old.record.clone())
    );
    let listed = sessions.list_by_subject("carol").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].id_hash,
        f.config.hash("session.id", new.id.expose().as_bytes())
    );
    assert_eq!(
        sessions.delete_by_subject("carol").await.expect("delete"),
        1
    );
    assert!(f.backend.dump(&f.config.namespace).is_empty());
}

#[tokio::test]
async fn memory_purge_runs_in_batches_and_spares_live_records() {
    let f = fixture(false);
    let state = &f.stores.state;
    for i in 0..10 {
        state
            .put(&format!("k{i}"), b"v".to_vec(), SECOND)
            .await
            .expect("put");
    }
    state
        .put("live", b"v".to_vec(), 60 * SECOND)
        .await
        .expect("put");
    f.clock.advance(SECOND);
    let first = state
        .purge(&PurgePolicy {
            batch_size: 3,
            max_batches: Some(2),
            ..dead_now()
        })
        .await
        .expect("purge");
    assert_eq!((first.deleted, first.batches), (6, 2));
    let rest = state
        .purge(&PurgePolicy {
            batch_size: 3,
            ..dead_now()
        })
        .await
        .expect("purge");
    assert_eq!((rest.deleted, rest.batches), (4, 2));
    assert_eq!(
        state.get("live").await.expect("get"),
        Some(b"v".to_vec()),
        "purge never removes a live record"
    );
    assert_eq!(f.backend.dump(&f.config.namespace).len(), 1);
}

#[tokio::test]
async fn memory_purge_keeps_offset_and_caps_idle_sessions() {
    let f = fixture(false);
    let sessions = &f.stores.sessions;
    let new = |subject: &str| NewSession {
        subject: subject.into(),
        data: Vec::new(),
        lifetime: 3_600 * SECOND,
        idle_timeout: None,
    };
    let idle = sessions.create(new("dave")).await.expect("create");
    f.clock.advance(100 * SECOND);
    let busy = sessions.create(new("erin")).await.expect("create");
    let policy = PurgePolicy {
        criterion: PurgeCriterion::LastActivity {
            max_idle: 60 * SECOND,
        },
        offset: 10 * SECOND,
        ..PurgePolicy::default()
    };
    let report = sessions.purge(&policy).await.expect("purge");
    assert_eq!(report.deleted, 1);
    assert_eq!(sessions.get(&idle.id).await.expect("get"), None);
    assert!(sessions.get(&busy.id).await.expect("get").is_some());
    assert!(
        sessions
            .list_by_subject("dave")
            .await
            .expect("list")
            .is_empty()
    );
    // An expired session within the offset is kept by purge and hidden from reads.
    f.clock.advance(3_600 * SECOND);
    assert_eq!(sessions.get(&busy.id).await.expect("get"), None);
    let none = sessions
        .purge(&PurgePolicy::default())
        .await
        .expect("purge");
    assert_eq!(none.deleted, 0);
    f.clock.advance(600 * SECOND);
    let one = sessions
        .purge(&PurgePolicy::default())
        .await
        .expect("purge");
    assert_eq!(one.deleted, 1);
    assert!(f.backend.dump(&f.config.namespace).is_empty());
}

#[tokio::test]
async fn memory_replay_bounds_and_never_rewrites() {
    let f = fixture(false);
    let replay = &f.stores.replay;
    let now = f.config.now();
    assert_eq!(
        replay
            .check_and_record("jti", now)
            .await
            .expect_err("past")
            .kind(),
        ErrorKind::InvalidInput
    );
    let too_far = now.saturating_add(f.config.limits.max_replay_retention + MS);
    assert_eq!(
        replay
            .check_and_record("jti", too_far)
            .await
            .expect_err("too far")
            .kind(),
        ErrorKind::InvalidInput
    );
    let not_after = now.saturating_add(10 * SECOND);
    assert_eq!(
        replay
            .check_and_record("jti", not_after)
            .await
            .expect("first"),
        Replay::Fresh
    );
    let later = now.saturating_add(20 * SECOND);
    assert_eq!(
        replay.check_and_record("jti", later).await.expect("again"),
        Replay::Replayed
    );
    f.clock.advance(10 * SECOND - MS);
    assert_eq!(
        replay.check_and_record("jti", later).await.expect("again"),
        Replay::Replayed
    );
    f.clock.advance(MS);
    assert_eq!(
        replay.check_and_record("jti", later).await.expect("after"),
        Replay::Fresh,
        "a replayed answer never extended the entry"
    );
}

#[tokio::test]
async fn memory_revocations_feed_and_subject_cutoff() {
    let f = fixture(true);
    let r = &f.stores.revocations;
    let now = f.config.now();
    let until = now.saturating_add(60 * SECOND);
    r.revoke("sri-1", until).await.expect("revoke");
    r.revoke("sri-1", now.saturating_add(SECOND))
        .await
        .expect("revoke shorter");
    r.revoke_subject("frank", now, until)
        .await
        .expect("subject");
    assert!(r.is_revoked("sri-1", "x", now).await.expect("check"));
    assert!(!r.is_revoked("sri-2", "x", now).await.expect("check"));
    assert!(
        r.is_revoked("sri-2", "frank", now.saturating_sub(MS))
            .await
            .expect("check")
    );
    assert!(!r.is_revoked("sri-2", "frank", now).await.expect("check"));
    f.clock.advance(2 * SECOND);
    assert!(
        r.is_revoked("sri-1", "x", now).await.expect("check"),
        "never shortened"
    );
    let page = r.changes_since(0, 2).await.expect("changes");
    assert_eq!(page.changes.len(), 2);
    assert_eq!(page.cursor, page.changes[1].seq);
    let rest = r.changes_since(page.cursor, 10).await.expect("changes");
    assert_eq!(rest.changes.len(), 1);
    let empty = r.changes_since(rest.cursor, 10).await.expect("changes");
    assert!(empty.changes.is_empty());
    assert_eq!(empty.cursor, rest.cursor);
}

#[tokio::test]
async fn memory_token_revocations_count_active_tokens_only() {
    let f = fixture(false);
    let tokens = &f.stores.tokens;
    let new = |client: &str, grant: &str, ttl| NewToken {
        subject: "gina".into(),
        client_id: client.into(),
        grant_id: Some(grant.into()),
        data: Vec::new(),
        ttl,
    };
    tokens
        .insert("t1", new("app", "g1", 60 * SECOND))
        .await
        .expect("insert");
    tokens
        .insert("t2", new("app", "g2", 60 * SECOND))
        .await
        .expect("insert");
    tokens
        .insert("t3", new("other", "g1", SECOND))
        .await
        .expect("insert");
    assert_eq!(
        tokens
            .insert("t1", new("app", "g1", SECOND))
            .await
            .expect_err("exists")
            .kind(),
        ErrorKind::AlreadyExists
    );
    f.clock.advance(SECOND);
    assert_eq!(tokens.revoke_by_grant("g1").await.expect("grant"), 1);
    assert_eq!(tokens.get("t1").await.expect("get"), None);
    assert_eq!(
        tokens
            .revoke_by_subject_and_client("gina", "app")
            .await
            .expect("pair"),
        1
    );
    assert_eq!(tokens.revoke_by_subject("gina").await.expect("subject"), 0);
    assert!(f.backend.dump(&f.config.namespace).is_empty());
}

#[tokio::test]
async fn memory_key_store_refuses_plaintext_material() {
    let f = fixture(false);
    assert_eq!(
        f.stores
            .keys
            .insert("jwks", KeySet::default())
            .await
            .expect_err("no keyring")
            .kind(),
        ErrorKind::ConfigInvalid
    );
    let f = fixture(true);
    let keys = &f.stores.keys;
    let inserted = keys
        .insert("jwks", KeySet::default())
        .await
        .expect("insert");
    assert_eq!(inserted.version, 1);
    f.clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    let replaced = keys
        .replace("jwks", 1, KeySet::default())
        .await
        .expect("replace");
    assert_eq!(replaced.version, 2);
    assert_eq!(
        keys.replace("jwks", 1, KeySet::default())
            .await
            .expect_err("stale")
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        keys.load("jwks").await.expect("load").map(|k| k.version),
        Some(2)
    );
}

#[tokio::test]
async fn memory_registry_remove_all_returns_each_once() {
    let f = fixture(true);
    let registry = &f.stores.registry;
    let expires_at = f.config.now().saturating_add(60 * SECOND);
    for partner in ["sp-a", "sp-b"] {
        registry
            .register(
                "hank",
                Participant {
                    session_ref: "s1".into(),
                    partner_id: partner.into(),
                    session_index: None,
                    expires_at,
                },
            )
            .await
            .expect("register");
    }
    registry
        .register(
            "ivy",
            Participant {
                session_ref: "s1".into(),
                partner_id: "sp-a".into(),
                session_index: None,
                expires_at,
            },
        )
        .await
        .expect("register");
    assert_eq!(registry.participants("hank").await.expect("list").len(), 2);
    assert_eq!(registry.remove_all("hank").await.expect("remove").len(), 2);
    assert!(registry.remove_all("hank").await.expect("again").is_empty());
    assert_eq!(registry.participants("ivy").await.expect("list").len(), 1);
}

#[tokio::test]
async fn memory_lease_has_one_holder() {
    let f = fixture(false);
    let lease = &f.stores.lease;
    assert!(
        lease
            .try_acquire("sweep", "a", 10 * SECOND)
            .await
            .expect("a")
    );
    assert!(
        !lease
            .try_acquire("sweep", "b", 10 * SECOND)
            .await
            .expect("b")
    );
    lease.release("sweep", "b").await.expect("release by other");
    assert!(
        !lease
            .try_acquire("sweep", "b", 10 * SECOND)
            .await
            .expect("b")
    );
    f.clock.advance(10 * SECOND);
    assert!(
        lease
            .try_acquire("sweep", "b", 10 * SECOND)
            .await
            .expect("b")
    );
    lease.release("sweep", "b").await.expect("release");
    assert!(
        lease
            .try_acquire("sweep", "a", 10 * SECOND)
            .await
            .expect("a")
    );
}

#[tokio::test]
async fn memory_revocation_purge_counts_revocations_and_drops_their_changes() {
    let f = fixture(false);
    let r = &f.stores.revocations;
    let now = f.config.now();
    r.revoke("sri-1", now.saturating_add(SECOND))
        .await
        .expect("revoke");
    r.revoke("sri-1", now.saturating_add(2 * SECOND))
        .await
        .expect("extend");
    r.revoke_subject("judy", now, now.saturating_add(SECOND))
        .await
        .expect("subject");
    r.revoke("sri-2", now.saturating_add(60 * SECOND))
        .await
        .expect("revoke");
    f.clock.advance(2 * SECOND);
    let report = r.purge(&dead_now()).await.expect("purge");
    assert_eq!(report.deleted, 2, "one per revocation, not per feed entry");
    let feed = r.changes_since(0, 10).await.expect("changes");
    assert_eq!(feed.changes.len(), 1);
    assert_eq!(feed.changes[0].seq, 4, "sequence numbers are never reused");
    assert_eq!(f.backend.dump(&f.config.namespace).len(), 2);
}
