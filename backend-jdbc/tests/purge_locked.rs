//! A purge never waits on a row a foreground transaction holds: it passes over the
//! locked row, deletes the rest, and a later purge takes the row once it is free.
//!
//! On PostgreSQL (`FOR UPDATE SKIP LOCKED`) and MariaDB (a `DELETE` that refuses to wait,
//! then `SKIP LOCKED`). SQLite has one writer and no row locks.
#![cfg(any(feature = "postgres", feature = "mysql"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use authstate_backend_jdbc::{SqlBackend, SqlConfig};
use authstate_core::{
    ManualClock, Namespace, NewSession, PurgeCriterion, PurgePolicy, StoreConfig, Stores,
};

const EXPIRED: u64 = 30;

/// A fresh namespace on `config` with `EXPIRED` sessions past their expiry.
async fn expired_sessions(config: &SqlConfig) -> (SqlBackend, Namespace, Stores) {
    let backend = SqlBackend::connect(config).await.expect("connects");
    let ns = Namespace::random().expect("namespace");
    backend.migrate(&ns).await.expect("migrates");
    let clock = Arc::new(ManualClock::starting_now());
    let stores = backend
        .open(StoreConfig::new(ns.clone()).with_clock(clock.clone()))
        .await
        .expect("opens");
    for i in 0..EXPIRED {
        stores
            .sessions
            .create(NewSession {
                subject: format!("user-{i}"),
                data: vec![1; 64],
                lifetime: Duration::from_secs(60),
                idle_timeout: None,
            })
            .await
            .expect("creates");
    }
    clock.advance(Duration::from_secs(120));
    (backend, ns, stores)
}

fn policy() -> PurgePolicy {
    PurgePolicy {
        batch_size: 10,
        criterion: PurgeCriterion::Expiry,
        offset: Duration::ZERO,
        max_batches: None,
    }
}

/// Purges while one expired row is locked by another connection's transaction, then
/// again once `release` has ended that transaction.
async fn purge_passes_over<F, Fut>(stores: &Stores, release: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let first = tokio::time::timeout(Duration::from_secs(10), stores.sessions.purge(&policy()))
        .await
        .expect("the purge waited on the locked row")
        .expect("purges");
    assert_eq!(
        first.deleted,
        EXPIRED - 1,
        "every unlocked expired row is purged"
    );
    release().await;
    let second = stores.sessions.purge(&policy()).await.expect("purges");
    assert_eq!(second.deleted, 1, "the row is purged once its lock is gone");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_purge_passes_over_locked_rows() {
    use sqlx::{Connection as _, Executor as _};

    let url = common::postgres_url();
    let (backend, ns, stores) = expired_sessions(&SqlConfig::from_url(&url)).await;
    let table = format!("\"authstate_{}\".\"sessions\"", ns.as_str());
    let lock = format!("SELECT k FROM {table} ORDER BY k LIMIT 1 FOR UPDATE");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connects");
    conn.execute("BEGIN").await.expect("begins");
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
        .execute(&mut conn)
        .await
        .expect("locks a row");
    purge_passes_over(&stores, || async {
        conn.execute("ROLLBACK").await.expect("releases");
    })
    .await;
    backend.close().await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_purge_passes_over_locked_rows() {
    use sqlx::{Connection as _, Executor as _};

    let url = common::mysql_url();
    let (backend, ns, stores) = expired_sessions(&SqlConfig::from_url(&url)).await;
    let table = format!("`authstate_{}_sessions`", ns.as_str());
    let lock = format!("SELECT k FROM {table} ORDER BY k LIMIT 1 FOR UPDATE");
    let mut conn = sqlx::MySqlConnection::connect(&url.replacen("mariadb:", "mysql:", 1))
        .await
        .expect("connects");
    conn.execute("BEGIN").await.expect("begins");
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock))
        .execute(&mut conn)
        .await
        .expect("locks a row");
    purge_passes_over(&stores, || async {
        conn.execute("ROLLBACK").await.expect("releases");
    })
    .await;
    backend.close().await;
}
