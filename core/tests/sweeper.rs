//! The sweeper over the memory backend: it purges, honours the lease and the rate
//! limit, and shuts down cleanly.

use std::sync::Arc;
use std::time::Duration;

use authstate_core::sweeper::{SWEEPER_LEASE, Sweeper, SweeperConfig};
use authstate_core::{
    Contract, ErrorKind, ManualClock, MemoryBackend, Namespace, NewSession, StoreConfig, Stores,
};

fn open(clock: &ManualClock) -> Stores {
    let config = StoreConfig::new(Namespace::random().expect("namespace"))
        .with_clock(Arc::new(clock.clone()));
    MemoryBackend::new().open(config).expect("open")
}

async fn fill(stores: &Stores, expired: usize, live: usize, clock: &ManualClock) {
    for i in 0..expired {
        stores
            .state
            .put(&format!("old-{i}"), b"v".to_vec(), Duration::from_secs(60))
            .await
            .expect("put");
    }
    clock.advance(Duration::from_secs(3600));
    for i in 0..live {
        stores
            .state
            .put(&format!("new-{i}"), b"v".to_vec(), Duration::from_secs(60))
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn sweep_once_purges_expired_and_keeps_live() {
    let clock = ManualClock::starting_now();
    let stores = open(&clock);
    stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: vec![],
            lifetime: Duration::from_secs(60),
            idle_timeout: None,
        })
        .await
        .expect("create");
    fill(&stores, 25, 5, &clock).await;
    let sweeper = Sweeper::new(
        &stores,
        SweeperConfig {
            batch_size: 10,
            ..SweeperConfig::default()
        },
    )
    .expect("sweeper");
    let run = sweeper.sweep_once().await.expect("run");
    assert!(run.swept);
    assert!(!run.interrupted);
    let by = |c: Contract| run.reports.iter().find(|(k, _)| *k == c).map(|(_, r)| *r);
    assert_eq!(by(Contract::State).expect("state swept").deleted, 25);
    assert_eq!(by(Contract::Session).expect("sessions swept").deleted, 1);
    assert_eq!(run.total().deleted, 26);
    for i in 0..5 {
        assert!(
            stores
                .state
                .get(&format!("new-{i}"))
                .await
                .expect("get")
                .is_some()
        );
    }
    let stats = sweeper.stats();
    assert_eq!((stats.runs, stats.deleted, stats.skipped), (1, 26, 0));
    // The lease was released: another node can take it at once.
    assert!(
        stores
            .lease
            .try_acquire(SWEEPER_LEASE, "node-b", Duration::from_secs(60))
            .await
            .expect("lease")
    );
}

#[tokio::test]
async fn another_holder_of_the_lease_means_no_sweep() {
    let clock = ManualClock::starting_now();
    let stores = open(&clock);
    fill(&stores, 10, 0, &clock).await;
    assert!(
        stores
            .lease
            .try_acquire(SWEEPER_LEASE, "node-a", Duration::from_secs(60))
            .await
            .expect("lease")
    );
    let sweeper = Sweeper::new(
        &stores,
        SweeperConfig {
            holder: Some("node-b".into()),
            ..SweeperConfig::default()
        },
    )
    .expect("sweeper");
    let run = sweeper.sweep_once().await.expect("run");
    assert!(!run.swept, "node-b swept while node-a held the lease");
    assert_eq!(run.total().deleted, 0);
    assert_eq!(sweeper.stats().skipped, 1);
    // node-a's lease is untouched by node-b's attempt.
    assert!(
        !stores
            .lease
            .try_acquire(SWEEPER_LEASE, "node-c", Duration::from_secs(60))
            .await
            .expect("lease")
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_spreads_deletes_over_time() {
    let clock = ManualClock::starting_now();
    let stores = open(&clock);
    fill(&stores, 1200, 0, &clock).await;
    let sweeper = Sweeper::new(
        &stores,
        SweeperConfig {
            batch_size: 100,
            max_deletes_per_second: Some(200),
            ..SweeperConfig::default()
        },
    )
    .expect("sweeper");
    let started = tokio::time::Instant::now();
    let run = sweeper.sweep_once().await.expect("run");
    let took = started.elapsed();
    assert_eq!(run.total().deleted, 1200);
    // 1200 deletes at 200 per second: at least 6 s (the last full batch waits for its
    // share), and not much more.
    assert!(took >= Duration::from_millis(5900), "took only {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn spawned_sweeper_runs_on_its_interval_and_shuts_down() {
    let clock = ManualClock::starting_now();
    let stores = open(&clock);
    fill(&stores, 30, 0, &clock).await;
    let handle = Sweeper::new(
        &stores,
        SweeperConfig {
            interval: Duration::from_secs(10),
            holder: Some("node-a".into()),
            ..SweeperConfig::default()
        },
    )
    .expect("sweeper")
    .spawn();
    tokio::time::sleep(Duration::from_secs(25)).await;
    let stats = handle.shutdown().await;
    assert!(
        stats.runs >= 2,
        "only {} runs in 25 s at a 10 s interval",
        stats.runs
    );
    assert_eq!(stats.deleted, 30);
    assert_eq!(stats.errors, 0);
    // Shut down cleanly: the lease is free.
    assert!(
        stores
            .lease
            .try_acquire(SWEEPER_LEASE, "node-b", Duration::from_secs(60))
            .await
            .expect("lease")
    );
}

#[test]
fn bad_sweeper_config_names_the_field() {
    let clock = ManualClock::starting_now();
    let stores = open(&clock);
    for (config, field) in [
        (
            SweeperConfig {
                interval: Duration::ZERO,
                ..SweeperConfig::default()
            },
            "interval",
        ),
        (
            SweeperConfig {
                batch_size: 0,
                ..SweeperConfig::default()
            },
            "batch_size",
        ),
        (
            SweeperConfig {
                max_deletes_per_second: Some(0),
                ..SweeperConfig::default()
            },
            "max_deletes_per_second",
        ),
    ] {
        let err = Sweeper::new(&stores, config).expect_err("invalid config accepted");
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert!(err.to_string().contains(field), "{err}");
    }
}
