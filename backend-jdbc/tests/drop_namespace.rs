//! `SqlBackend::drop_namespace` removes one namespace's tables with everything in them
//! and nothing else: the catalog lists no object of the namespace afterwards, another
//! namespace in the same database keeps its records, stores still open on the dropped
//! one fail with "run migrate", a second drop is a no-op that says so, and a migrate
//! starts the namespace afresh.
//!
//! On PostgreSQL, MariaDB and SQLite (file); the catalog is read with plain sqlx.
#![cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]

mod common;

use std::time::Duration;

use authstate_backend_jdbc::{Dialect, SqlBackend, SqlConfig};
use authstate_core::{ErrorKind, Namespace, NewSession, SessionId, StoreConfig, Stores};
use sqlx::Row as _;

/// The names in the database's catalog that belong to `ns`: PostgreSQL's schema
/// `authstate_<ns>`, MariaDB's tables and SQLite's tables, indexes and triggers named
/// `authstate_<ns>_…`.
async fn catalog_names(dialect: Dialect, config: &SqlConfig, ns: &Namespace) -> Vec<String> {
    let base = format!("authstate_{}", ns.as_str());
    let names: Vec<String> = match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let pool = sqlx::PgPool::connect(config.url.as_deref().expect("url"))
                .await
                .expect("raw connect");
            let rows = sqlx::query("SELECT nspname::text FROM pg_namespace")
                .fetch_all(&pool)
                .await
                .expect("catalog");
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
        #[cfg(feature = "mysql")]
        Dialect::MySql => {
            let pool = sqlx::MySqlPool::connect(config.url.as_deref().expect("url"))
                .await
                .expect("raw connect");
            let rows = sqlx::query(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .expect("catalog");
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => {
            let pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(config.path.as_deref().expect("path")),
            )
            .await
            .expect("raw connect");
            let rows = sqlx::query("SELECT name FROM sqlite_master")
                .fetch_all(&pool)
                .await
                .expect("catalog");
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
        #[allow(unreachable_patterns)]
        other => panic!("{other} is not enabled"),
    };
    let prefix = format!("{base}_");
    names
        .into_iter()
        .filter(|n| *n == base || n.starts_with(&prefix))
        .collect()
}

/// A migrated namespace on `backend`, its stores, and one session in it.
async fn namespace_with_a_session(backend: &SqlBackend) -> (Namespace, Stores, SessionId) {
    let ns = Namespace::random().expect("namespace");
    backend.migrate(&ns).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(ns.clone()))
        .await
        .expect("opens");
    let session = stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: b"kept until dropped".to_vec(),
            lifetime: Duration::from_secs(3600),
            idle_timeout: None,
        })
        .await
        .expect("creates");
    (ns, stores, session.id)
}

async fn drops_one_namespace_and_nothing_else(dialect: Dialect, config: SqlConfig) {
    let backend = SqlBackend::connect(&config).await.expect("connects");
    let (gone, gone_stores, gone_id) = namespace_with_a_session(&backend).await;
    let (kept, kept_stores, kept_id) = namespace_with_a_session(&backend).await;
    assert!(
        !catalog_names(dialect, &config, &gone).await.is_empty(),
        "{dialect}: the catalog shows no object of a migrated namespace: the check below \
         would prove nothing"
    );

    assert!(
        backend.drop_namespace(&gone).await.expect("drops"),
        "{dialect}: the namespace had a schema"
    );
    assert_eq!(
        catalog_names(dialect, &config, &gone).await,
        Vec::<String>::new(),
        "{dialect}: objects of the dropped namespace are left"
    );
    assert_eq!(backend.schema_version(&gone).await.expect("reads"), None);

    // The other namespace is untouched.
    assert!(!catalog_names(dialect, &config, &kept).await.is_empty());
    let record = kept_stores
        .sessions
        .get(&kept_id)
        .await
        .expect("reads")
        .expect("the other namespace's session is still there");
    assert_eq!(record.data, b"kept until dropped");

    // Stores still open on the dropped namespace fail closed, saying what to do.
    let err = gone_stores
        .sessions
        .get(&gone_id)
        .await
        .expect_err("a read of a dropped namespace fails");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{dialect}: {err}");
    assert!(err.to_string().contains("run migrate"), "{dialect}: {err}");

    // A second drop finds nothing.
    assert!(
        !backend.drop_namespace(&gone).await.expect("drops again"),
        "{dialect}: a second drop says the namespace had a schema"
    );

    // A migrate starts the namespace afresh: from no schema, and empty.
    let report = backend.migrate(&gone).await.expect("migrates again");
    assert_eq!(report.from, 0, "{dialect}: {report:?}");
    let reopened = backend
        .open(StoreConfig::new(gone.clone()))
        .await
        .expect("opens again");
    assert_eq!(
        reopened.sessions.get(&gone_id).await.expect("reads"),
        None,
        "{dialect}: a session outlived the drop of its namespace"
    );
    backend.drop_namespace(&gone).await.expect("cleans up");
    backend.drop_namespace(&kept).await.expect("cleans up");
    backend.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_drops_one_namespace_and_nothing_else() {
    drops_one_namespace_and_nothing_else(
        Dialect::Postgres,
        SqlConfig::from_url(common::postgres_url()),
    )
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_drops_one_namespace_and_nothing_else() {
    drops_one_namespace_and_nothing_else(Dialect::MySql, SqlConfig::from_url(common::mysql_url()))
        .await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_drops_one_namespace_and_nothing_else() {
    let file = authstate_testkit::require(authstate_testkit::sqlite_file());
    drops_one_namespace_and_nothing_else(Dialect::Sqlite, SqlConfig::sqlite_file(file.path()))
        .await;
}
