//! `SqlConfig::purge_duty_cycle`: a paced purge deletes exactly what an unpaced one does,
//! and pauses between its batches, so it takes several times as long.
//!
//! On an SQLite file: the pacing is the same code for every dialect.
#![cfg(feature = "sqlite")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstate_backend_jdbc::{SqlBackend, SqlConfig};
use authstate_core::{
    ManualClock, Namespace, NewSession, PurgeCriterion, PurgePolicy, PurgeReport, StoreConfig,
};

const EXPIRED: u64 = 600;
const LIVE: u64 = 100;
const BATCH: u32 = 50;

/// Fills a fresh namespace with `EXPIRED` expired and `LIVE` live sessions, purges it
/// with `duty_cycle`, checks what is left; returns the report and the purge's time.
async fn purge_with(
    file: &authstate_testkit::SqliteFile,
    duty_cycle: f64,
) -> (PurgeReport, Duration) {
    let config = SqlConfig::sqlite_file(file.path()).with_purge_duty_cycle(duty_cycle);
    let backend = SqlBackend::connect(&config).await.expect("connects");
    let ns = Namespace::random().expect("namespace");
    backend.migrate(&ns).await.expect("migrates");
    let clock = Arc::new(ManualClock::starting_now());
    let stores = backend
        .open(StoreConfig::new(ns).with_clock(clock.clone()))
        .await
        .expect("opens");
    for i in 0..EXPIRED + LIVE {
        let lifetime = if i < EXPIRED {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(3600)
        };
        stores
            .sessions
            .create(NewSession {
                subject: format!("user-{}", i % 7),
                data: vec![7; 200],
                lifetime,
                idle_timeout: None,
            })
            .await
            .expect("creates");
    }
    clock.advance(Duration::from_secs(120));
    let policy = PurgePolicy {
        batch_size: BATCH,
        criterion: PurgeCriterion::Expiry,
        offset: Duration::ZERO,
        max_batches: None,
    };
    let started = Instant::now();
    let report = stores.sessions.purge(&policy).await.expect("purges");
    let took = started.elapsed();
    let again = stores.sessions.purge(&policy).await.expect("purges");
    assert_eq!(again.deleted, 0, "a second purge finds nothing");
    let mut left = 0;
    for s in 0..7 {
        let subject = format!("user-{s}");
        left += stores
            .sessions
            .list_by_subject(&subject)
            .await
            .expect("lists")
            .len();
    }
    assert_eq!(left as u64, LIVE, "live sessions are all kept");
    backend.close().await;
    (report, took)
}

#[tokio::test]
async fn paced_purge_deletes_the_same_and_pauses_between_batches() {
    let file = authstate_testkit::require(authstate_testkit::sqlite_file());
    let (unpaced, fast) = purge_with(&file, 1.0).await;
    // A tenth of the time deleting: nine times each batch's duration paused after it.
    let (paced, slow) = purge_with(&file, 0.1).await;
    assert_eq!(unpaced.deleted, EXPIRED);
    assert_eq!(paced.deleted, EXPIRED);
    assert_eq!(unpaced.batches, paced.batches);
    assert_eq!(paced.batches, (EXPIRED / u64::from(BATCH)) as u32);
    eprintln!("unpaced {fast:?}, paced to 0.1: {slow:?}");
    // About ten times as long; three leaves room for a noisy machine.
    assert!(
        slow >= fast * 3,
        "the paced purge took {slow:?}, the unpaced one {fast:?}"
    );
}
