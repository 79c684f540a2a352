//! Upgrading a namespace from schema version 1 to the current one keeps what it holds:
//! sessions written in version 1's layout (the whole record sealed in `data`) and
//! artifacts taken in version 1 (a sealed tombstone) read, touch, update, rotate and
//! take after `migrate`, and an update rewrites a session in the new layout.
//!
//! The version-1 namespace is made by migrating a fresh one and undoing migration 2
//! (dropping what it added, forgetting its version row); its rows are written by hand,
//! sealed with the codec exactly as version 1 sealed them.
#![cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]

mod common;

use std::time::Duration;

use authstate_backend_jdbc::{Dialect, SqlBackend, SqlConfig};
use authstate_core::codec::{Algorithm, DataKey, Keyring, Pepper, RecordCodec};
use authstate_core::{
    Clock, Contract, ErrorKind, Namespace, SecretBytes, SessionId, SessionRecord, StoreConfig,
    SystemClock, Take, Timestamp, domains,
};
use serde::Serialize;
use sqlx::AssertSqlSafe;

/// Version 1's artifact record, as the backend seals it.
#[derive(Serialize)]
enum ArtifactRecord {
    #[allow(dead_code)]
    Live(Vec<u8>),
    Taken(Timestamp),
}

/// A value to bind.
enum Bind<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Null,
}

/// A plain sqlx pool on the test database, for what the library must not do.
enum Raw {
    #[cfg(feature = "postgres")]
    Pg(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    My(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Lite(sqlx::SqlitePool),
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Bytes(v) => q.bind(*v),
                Bind::Null => q.bind(None::<i64>),
            };
        }
        q
    }};
}

impl Raw {
    async fn connect(dialect: Dialect, config: &SqlConfig) -> Raw {
        match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Raw::Pg(
                sqlx::PgPool::connect(config.url.as_deref().expect("url"))
                    .await
                    .expect("raw connect"),
            ),
            #[cfg(feature = "mysql")]
            Dialect::MySql => Raw::My(
                sqlx::MySqlPool::connect(config.url.as_deref().expect("url"))
                    .await
                    .expect("raw connect"),
            ),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Raw::Lite(
                sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(config.path.as_deref().expect("path")),
                )
                .await
                .expect("raw connect"),
            ),
            #[allow(unreachable_patterns)]
            other => panic!("{other} is not enabled"),
        }
    }

    /// The placeholder of argument `i` (1-based).
    fn p(&self, i: usize) -> String {
        match self {
            #[cfg(feature = "postgres")]
            Raw::Pg(_) => format!("${i}"),
            #[allow(unreachable_patterns)]
            _ => "?".to_owned(),
        }
    }

    async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> u64 {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            #[cfg(feature = "postgres")]
            Raw::Pg(p) => bind_all!(sqlx::query(sql), binds)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            #[cfg(feature = "mysql")]
            Raw::My(p) => bind_all!(sqlx::query(sql), binds)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            #[cfg(feature = "sqlite")]
            Raw::Lite(p) => bind_all!(sqlx::query(sql), binds)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
        .expect("raw statement")
    }

    async fn close(&self) {
        match self {
            #[cfg(feature = "postgres")]
            Raw::Pg(p) => p.close().await,
            #[cfg(feature = "mysql")]
            Raw::My(p) => p.close().await,
            #[cfg(feature = "sqlite")]
            Raw::Lite(p) => p.close().await,
        }
    }
}

/// A namespace table's quoted name.
fn table(d: Dialect, ns: &Namespace, name: &str) -> String {
    match d {
        Dialect::Postgres => format!("\"authstate_{}\".\"{name}\"", ns.as_str()),
        Dialect::MySql => format!("`authstate_{}_{name}`", ns.as_str()),
        Dialect::Sqlite => format!("\"authstate_{}_{name}\"", ns.as_str()),
    }
}

/// Migration 2, undone.
async fn downgrade_to_version_1(raw: &Raw, d: Dialect, ns: &Namespace) {
    if d == Dialect::Sqlite {
        raw.execute(
            &format!(
                "DROP TRIGGER \"authstate_{}_artifacts_drop_taken_payload\"",
                ns.as_str()
            ),
            &[],
        )
        .await;
    }
    raw.execute(
        &format!("ALTER TABLE {} DROP COLUMN meta", table(d, ns, "sessions")),
        &[],
    )
    .await;
    raw.execute(
        &format!(
            "DELETE FROM {} WHERE version > 1",
            table(d, ns, "schema_version")
        ),
        &[],
    )
    .await;
}

/// A codec with a keyring and a pepper, as a production node would have.
fn codec() -> RecordCodec {
    let key = DataKey::new("k1", Algorithm::Aes256Gcm, SecretBytes::new(vec![3u8; 32]))
        .expect("a 32-byte key");
    let pepper =
        Pepper::new(SecretBytes::new(b"schema-upgrade-pepper-0123".to_vec())).expect("a pepper");
    RecordCodec::plaintext()
        .with_keyring(Keyring::new(key))
        .with_pepper(pepper)
}

fn now_ms() -> i64 {
    SystemClock.now().as_millis()
}

/// Writes a session in version 1's layout; returns its id and record.
async fn write_v1_session(
    raw: &Raw,
    d: Dialect,
    config: &StoreConfig,
    subject: &str,
    data: &[u8],
) -> (SessionId, SessionRecord) {
    let now = now_ms();
    let record = SessionRecord {
        subject: subject.to_owned(),
        data: data.to_vec(),
        created_at: Timestamp::from_millis(now - 1_000),
        last_activity: Timestamp::from_millis(now - 500),
        expires_at: Timestamp::from_millis(now + 3_600_000),
        idle_timeout: Some(Duration::from_secs(600)),
        version: 1,
    };
    let id = SessionId::generate().expect("an id");
    let key = config.hash(domains::SESSION_ID, id.expose().as_bytes());
    let subject_hash = config.hash(domains::SESSION_SUBJECT, subject.as_bytes());
    let blob = config
        .codec
        .encode(&config.ad(Contract::Session, key.as_bytes()), &record)
        .expect("seals");
    let marks: Vec<String> = (1..=8).map(|i| raw.p(i)).collect();
    let n = raw
        .execute(
            &format!(
                "INSERT INTO {} (k, subject_hash, version, last_activity, abs_expires_at, \
                 idle_ms, expires_at, data) VALUES ({})",
                table(d, &config.namespace, "sessions"),
                marks.join(", ")
            ),
            &[
                Bind::Bytes(key.as_bytes()),
                Bind::Bytes(subject_hash.as_bytes()),
                Bind::Int(1),
                Bind::Int(record.last_activity.as_millis()),
                Bind::Int(record.expires_at.as_millis()),
                Bind::Int(600_000),
                Bind::Int(record.effective_expiry().as_millis()),
                Bind::Bytes(&blob),
            ],
        )
        .await;
    assert_eq!(n, 1);
    (id, record)
}

/// Writes an artifact in version 1's layout, live or taken at `taken`.
async fn write_v1_artifact(
    raw: &Raw,
    d: Dialect,
    config: &StoreConfig,
    handle: &str,
    record: &ArtifactRecord,
    taken: Option<i64>,
) {
    let key = config.hash(domains::ARTIFACT_HANDLE, handle.as_bytes());
    let blob = config
        .codec
        .encode(&config.ad(Contract::Artifact, key.as_bytes()), record)
        .expect("seals");
    let marks: Vec<String> = (1..=4).map(|i| raw.p(i)).collect();
    let n = raw
        .execute(
            &format!(
                "INSERT INTO {} (k, expires_at, taken_at, data) VALUES ({})",
                table(d, &config.namespace, "artifacts"),
                marks.join(", ")
            ),
            &[
                Bind::Bytes(key.as_bytes()),
                Bind::Int(now_ms() + 600_000),
                taken.map_or(Bind::Null, Bind::Int),
                Bind::Bytes(&blob),
            ],
        )
        .await;
    assert_eq!(n, 1);
}

async fn upgrade_keeps_version_1_rows(config: SqlConfig) {
    let backend = SqlBackend::connect(&config).await.expect("connects");
    let d = backend.dialect();
    let ns = Namespace::random().expect("namespace");
    backend.migrate(&ns).await.expect("migrates");
    let raw = Raw::connect(d, &config).await;
    downgrade_to_version_1(&raw, d, &ns).await;
    assert_eq!(backend.schema_version(&ns).await.expect("reads"), Some(1));

    let store_config = StoreConfig::new(ns.clone()).with_codec(codec());
    let (a, a_record) = write_v1_session(&raw, d, &store_config, "alice", b"a-v1").await;
    let (b, b_record) = write_v1_session(&raw, d, &store_config, "alice", b"b-v1").await;
    let live = b"v1-payload".to_vec();
    write_v1_artifact(
        &raw,
        d,
        &store_config,
        "code-live",
        &ArtifactRecord::Live(live.clone()),
        None,
    )
    .await;
    let taken_at = Timestamp::from_millis(now_ms() - 2_000);
    write_v1_artifact(
        &raw,
        d,
        &store_config,
        "code-taken",
        &ArtifactRecord::Taken(taken_at),
        Some(taken_at.as_millis()),
    )
    .await;

    let err = backend
        .open(store_config.clone())
        .await
        .expect_err("version 1 is older than this build");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    let report = backend
        .migrate(&ns)
        .await
        .expect("migrates to the current version");
    assert_eq!(report.from, 1);
    assert_eq!(report.applied, vec![2]);
    let stores = backend.open(store_config).await.expect("opens");

    // Version-1 sessions read as they were written.
    assert_eq!(
        stores.sessions.get(&a).await.expect("gets"),
        Some(a_record.clone())
    );
    let listed = stores
        .sessions
        .list_by_subject("alice")
        .await
        .expect("lists");
    assert_eq!(listed.len(), 2);
    let touched = stores
        .sessions
        .touch(&a)
        .await
        .expect("touches")
        .expect("live");
    assert_eq!(touched.version, 1);
    assert!(touched.last_activity > a_record.last_activity);

    // An update rewrites the session in two parts; the next one is a plain
    // compare-and-set on them.
    let stale = stores.sessions.update(&a, 2, b"no".to_vec()).await;
    assert_eq!(stale.expect_err("stale").kind(), ErrorKind::Conflict);
    let v2 = stores
        .sessions
        .update(&a, 1, b"a-v2".to_vec())
        .await
        .expect("updates a version-1 row");
    assert_eq!((v2.version, v2.data.as_slice()), (2, &b"a-v2"[..]));
    assert_eq!(v2.subject, "alice");
    assert_eq!(v2.created_at, a_record.created_at);
    assert_eq!(
        stores.sessions.get(&a).await.expect("gets"),
        Some(v2.clone())
    );
    let dump = backend.dump(&ns).await.expect("dumps");
    let with_meta = dump
        .iter()
        .filter(|e| e.key.starts_with(b"sessions/"))
        .filter(|e| {
            !e.value.windows(10).any(|w| {
                w == b"
meta=NULL"
            })
        })
        .count();
    assert_eq!(with_meta, 1, "only the updated session is in two parts");
    let v3 = stores
        .sessions
        .update(&a, 2, b"a-v3".to_vec())
        .await
        .expect("updates again");
    assert_eq!(v3.version, 3);
    assert_eq!(stores.sessions.get(&a).await.expect("gets"), Some(v3));

    // rotate_id moves a version-1 session to a new id in the new layout.
    let rotated = stores.sessions.rotate_id(&b).await.expect("rotates");
    assert_eq!(rotated.record.data, b_record.data);
    assert_eq!(stores.sessions.get(&b).await.expect("gets"), None);
    assert_eq!(
        stores.sessions.get(&rotated.id).await.expect("gets"),
        Some(rotated.record.clone())
    );

    // Version-1 artifacts take as they would have.
    assert_eq!(
        stores.artifacts.take("code-live").await.expect("takes"),
        Take::Fresh(live)
    );
    assert!(matches!(
        stores.artifacts.take("code-live").await.expect("takes"),
        Take::Replayed { .. }
    ));
    assert_eq!(
        stores.artifacts.take("code-taken").await.expect("takes"),
        Take::Replayed { taken_at }
    );

    raw.close().await;
    backend.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_upgrade_keeps_version_1_rows() {
    upgrade_keeps_version_1_rows(SqlConfig::from_url(common::postgres_url())).await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_upgrade_keeps_version_1_rows() {
    upgrade_keeps_version_1_rows(SqlConfig::from_url(common::mysql_url())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_upgrade_keeps_version_1_rows() {
    let file = authstate_testkit::require(authstate_testkit::sqlite_file());
    upgrade_keeps_version_1_rows(SqlConfig::sqlite_file(file.path())).await;
}
