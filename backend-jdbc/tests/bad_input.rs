//! Bad input gives a clear error, never a panic: a wrong password, an unreachable
//! server, a namespace whose schema is missing or older than the code, an oversized
//! payload, an SQLite file that cannot be opened.
#![cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]

mod common;

use std::time::Duration;

use authstate_backend_jdbc::{SqlBackend, SqlConfig};
use authstate_core::{ErrorKind, Limits, Namespace, NewSession, StoreConfig};

/// Connects, migrates a fresh namespace and returns both.
async fn migrated(config: &SqlConfig) -> (SqlBackend, Namespace) {
    let backend = SqlBackend::connect(config).await.expect("connects");
    let ns = Namespace::random().expect("namespace");
    let report = backend.migrate(&ns).await.expect("migrates");
    assert_eq!(report.from, 0);
    assert_eq!(report.to, authstate_backend_jdbc::SCHEMA_VERSION);
    (backend, ns)
}

/// A namespace never migrated, then one whose version rows are gone (as if it were at
/// a version before the first), are refused with "run migrate"; migrate repairs both.
async fn schema_checks(config: SqlConfig) {
    let backend = SqlBackend::connect(&config).await.expect("connects");
    let fresh = Namespace::random().expect("namespace");
    let err = backend
        .open(StoreConfig::new(fresh.clone()))
        .await
        .expect_err("no schema yet");
    eprintln!("no schema: {err}");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("run migrate"), "{err}");
    assert_eq!(backend.schema_version(&fresh).await.expect("reads"), None);

    let (backend, ns) = migrated(&config).await;
    backend
        .open(StoreConfig::new(ns.clone()))
        .await
        .expect("opens");
    // A second migrate has nothing to do.
    let again = backend.migrate(&ns).await.expect("migrates again");
    assert!(again.applied.is_empty(), "{again:?}");
    // Roll the recorded version back, as an older deployment's schema would be.
    let table = match backend.dialect() {
        authstate_backend_jdbc::Dialect::Postgres => {
            format!("\"authstate_{}\".\"schema_version\"", ns.as_str())
        }
        authstate_backend_jdbc::Dialect::MySql => {
            format!("`authstate_{}_schema_version`", ns.as_str())
        }
        authstate_backend_jdbc::Dialect::Sqlite => {
            format!("\"authstate_{}_schema_version\"", ns.as_str())
        }
    };
    raw_execute(&config, &format!("DELETE FROM {table}")).await;
    let err = backend
        .open(StoreConfig::new(ns.clone()))
        .await
        .expect_err("older schema");
    eprintln!("older schema: {err}");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("run migrate"), "{err}");
    assert!(err.to_string().contains("older than this build"), "{err}");
    assert_eq!(backend.schema_version(&ns).await.expect("reads"), Some(0));
    let repaired = backend.migrate(&ns).await.expect("migrates the old schema");
    assert_eq!(
        repaired.applied,
        (1..=authstate_backend_jdbc::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    backend
        .open(StoreConfig::new(ns))
        .await
        .expect("opens after migrate");
}

/// Runs one statement outside the library (to damage a schema on purpose).
async fn raw_execute(config: &SqlConfig, sql: &str) {
    use sqlx::AssertSqlSafe;
    let url = config.url.clone().unwrap_or_default();
    match url.split(':').next() {
        #[cfg(feature = "postgres")]
        Some("postgres") => {
            let pool = sqlx::PgPool::connect(&url).await.expect("raw connect");
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .expect("raw statement");
        }
        #[cfg(feature = "mysql")]
        Some("mysql") | Some("mariadb") => {
            let pool = sqlx::MySqlPool::connect(&url.replacen("mariadb:", "mysql:", 1))
                .await
                .expect("raw connect");
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .expect("raw statement");
        }
        #[cfg(feature = "sqlite")]
        _ if config.path.is_some() => {
            let path = config.path.clone().expect("path");
            let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let pool = sqlx::SqlitePool::connect_with(opts)
                .await
                .expect("raw connect");
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .expect("raw statement");
        }
        other => panic!("no raw connection for {other:?}"),
    }
}

/// Payloads over the configured maximum are `InvalidInput` naming the limit, before
/// anything is stored.
async fn oversized_payloads(config: SqlConfig) {
    let (backend, ns) = migrated(&config).await;
    let limits = Limits {
        max_payload_bytes: 100,
        ..Limits::default()
    };
    let stores = backend
        .open(StoreConfig::new(ns).with_limits(limits))
        .await
        .expect("opens");
    let err = stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: vec![0; 101],
            lifetime: Duration::from_secs(60),
            idle_timeout: None,
        })
        .await
        .expect_err("too big");
    eprintln!("oversized: {err}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("101 bytes"), "{err}");
    assert!(err.to_string().contains("100 bytes"), "{err}");
    let err = stores
        .state
        .put("k", vec![0; 101], Duration::from_secs(60))
        .await
        .expect_err("too big");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = stores
        .artifacts
        .put("code", vec![0; 101], Duration::from_secs(60))
        .await
        .expect_err("too big");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(stores.state.get("k").await.expect("reads").is_none());
}

/// A closed port is `Unavailable`, naming the server, within the acquire timeout.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn unreachable(url: &str) {
    let config = SqlConfig::from_url(url).with_acquire_timeout(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let err = SqlBackend::connect(&config).await.expect_err("closed port");
    eprintln!("unreachable: {err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A wrong password is `ConfigInvalid`, naming the server and user, and neither the
/// message nor the `Debug` output shows the password.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn wrong_password(url: &str, password: &str) {
    let err = SqlBackend::connect(&SqlConfig::from_url(url))
        .await
        .expect_err("wrong password");
    eprintln!("wrong password: {err}");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(!err.is_retryable());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("127.0.0.1"), "{shown}");
    assert!(!shown.contains(password), "the password leaked: {shown}");
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[tokio::test]
    async fn schema_missing_or_older_says_run_migrate() {
        schema_checks(SqlConfig::from_url(common::postgres_url())).await;
    }

    #[tokio::test]
    async fn oversized_payload_is_invalid_input() {
        oversized_payloads(SqlConfig::from_url(common::postgres_url())).await;
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        unreachable("postgres://postgres@127.0.0.1:1/postgres").await;
    }

    #[tokio::test]
    async fn wrong_password_is_config_invalid() {
        // The shared server trusts every local connection; this one checks passwords.
        let server = authstate_testkit::require(authstate_testkit::PostgresServer::start(
            "authstate",
            "right-password-1",
        ));
        let ok = SqlBackend::connect(&SqlConfig::from_url(server.url()))
            .await
            .expect("the right password connects");
        ok.close().await;
        let wrong = "wrong-password-2";
        wrong_password(&server.url_with_password(wrong), wrong).await;
        // The password from a file is used too.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "right-password-1\n").expect("write");
        let config = SqlConfig {
            password_file: Some(file),
            ..SqlConfig::from_url(server.url_with_password("overridden"))
        };
        SqlBackend::connect(&config)
            .await
            .expect("the password file's password connects");
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    #[tokio::test]
    async fn schema_missing_or_older_says_run_migrate() {
        schema_checks(SqlConfig::from_url(common::mysql_url())).await;
    }

    #[tokio::test]
    async fn oversized_payload_is_invalid_input() {
        oversized_payloads(SqlConfig::from_url(common::mysql_url())).await;
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        unreachable("mariadb://root@127.0.0.1:1/mysql").await;
    }

    #[tokio::test]
    async fn wrong_password_is_config_invalid() {
        // The test server's root has no password, so any password is wrong.
        let url = common::mysql_url();
        let Some(rest) = url.strip_prefix("mysql://root@") else {
            panic!("this check needs the local server's root user, got a different URL");
        };
        let wrong = "wrong-password-3";
        wrong_password(&format!("mysql://root:{wrong}@{rest}"), wrong).await;
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    fn file_config() -> (authstate_testkit::SqliteFile, SqlConfig) {
        let file = authstate_testkit::require(authstate_testkit::sqlite_file());
        let config = SqlConfig::sqlite_file(file.path());
        (file, config)
    }

    #[tokio::test]
    async fn schema_missing_or_older_says_run_migrate() {
        let (_file, config) = file_config();
        schema_checks(config).await;
    }

    #[tokio::test]
    async fn oversized_payload_is_invalid_input() {
        let (_file, config) = file_config();
        oversized_payloads(config).await;
    }

    #[tokio::test]
    async fn unopenable_file_is_config_invalid() {
        let config = SqlConfig::sqlite_file("/proc/authstate/no/such/dir/x.db");
        let err = SqlBackend::connect(&config).await.expect_err("cannot open");
        eprintln!("unopenable: {err}");
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
        assert!(
            err.to_string().contains("/proc/authstate/no/such/dir/x.db"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn purge_duty_cycle_out_of_range_is_config_invalid() {
        for duty in [0.0, -0.5, 1.5, f64::NAN] {
            let config = SqlConfig::from_url("sqlite::memory:").with_purge_duty_cycle(duty);
            let err = SqlBackend::connect(&config)
                .await
                .expect_err("refused duty cycle");
            assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{duty}: {err}");
            assert!(err.to_string().contains("purge_duty_cycle"), "{err}");
        }
        let paced = SqlConfig::from_url("sqlite::memory:").with_purge_duty_cycle(0.5);
        SqlBackend::connect(&paced).await.expect("0.5 is fine");
    }

    #[tokio::test]
    async fn in_memory_database_is_not_durable() {
        let backend = SqlBackend::connect(&SqlConfig::from_url("sqlite::memory:"))
            .await
            .expect("connects");
        assert!(!backend.capabilities().durable);
        let ns = Namespace::random().expect("namespace");
        backend.migrate(&ns).await.expect("migrates");
        let stores = backend.open(StoreConfig::new(ns)).await.expect("opens");
        stores
            .state
            .put("k", b"v".to_vec(), Duration::from_secs(60))
            .await
            .expect("puts");
        assert_eq!(
            stores.state.get("k").await.expect("gets"),
            Some(b"v".to_vec())
        );
    }
}

#[test]
fn unknown_url_scheme_is_config_invalid() {
    let err = SqlConfig::from_url("redis://127.0.0.1/0")
        .resolve_dialect()
        .expect_err("not sql");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
    assert!(err.to_string().contains("postgres://"), "{err}");
}
