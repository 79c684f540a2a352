//! Killing the primary under load, through Sentinel, with the session store.
//!
//! A few tasks share one backend (one client, never restarted) and loop for about ten
//! seconds: create a session, read it back, read back an older one of theirs. Two
//! seconds in, the primary is killed (SIGKILL). The sentinels promote the replica; a new
//! replica of the promoted one is then started (with a single replica, the durable-write
//! mode cannot acknowledge anything once that replica has become the primary), and the
//! load runs on for a few seconds.
//!
//! What must hold:
//!
//! - every error is `Unavailable` (never `NotFound`-like answers, never another kind);
//! - no wrong answer: every session read back equals what was written, or the read
//!   fails;
//! - every task works again after the failover, on the same client;
//! - in the durable-write mode (`WAIT 1`), every create that returned `Ok` is readable
//!   afterwards, with its data. Without it, a write the primary acknowledged but had not
//!   yet sent to the replica may be lost: that number is printed, not asserted.
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test failover --no-capture`
//! (the report goes to stderr).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authstate_backend_redis::{
    BackendOptions, DurableWrites, RedisBackend, RedisConfig, RedisConnection,
};
use authstate_core::{ErrorKind, Namespace, NewSession, SessionId, StoreConfig, Stores};
use authstate_testkit::{
    RedisOptions, RedisSentinelSet, RedisServer, RespConn, RespReply, require,
};

/// Tasks creating and reading sessions.
const TASKS: usize = 4;
/// When the primary is killed, from the start of the load.
const KILL_AFTER: Duration = Duration::from_secs(2);
/// How long the load runs at least.
const LOAD_FOR: Duration = Duration::from_secs(10);
/// How long the load runs at least after the new replica is in sync.
const AFTER_RECOVERY: Duration = Duration::from_secs(3);

/// What one task saw.
#[derive(Debug, Default)]
struct TaskLog {
    creates_ok: u64,
    gets_ok: u64,
    /// (when, operation, kind, message)
    errors: Vec<(Duration, &'static str, ErrorKind, String)>,
    /// A read that returned something other than what was written.
    wrong: Vec<String>,
    /// A read of an acknowledged session that found nothing.
    missing: Vec<String>,
    /// Every session whose create returned `Ok`, with its data.
    acknowledged: Vec<(SessionId, Vec<u8>)>,
    last_create_ok: Option<Duration>,
    last_get_ok: Option<Duration>,
    /// The longest time between two successful operations of any kind, and when it ended.
    longest_gap: (Duration, Duration),
    /// The same for creates only.
    longest_create_gap: (Duration, Duration),
    last_ok: Option<Duration>,
}

impl TaskLog {
    fn success(&mut self, now: Duration, create: bool) {
        let gap = now - self.last_ok.unwrap_or(now);
        if gap > self.longest_gap.0 {
            self.longest_gap = (gap, now);
        }
        self.last_ok = Some(now);
        if create {
            let gap = now - self.last_create_ok.unwrap_or(now);
            if gap > self.longest_create_gap.0 {
                self.longest_create_gap = (gap, now);
            }
            self.creates_ok += 1;
            self.last_create_ok = Some(now);
        } else {
            self.gets_ok += 1;
            self.last_get_ok = Some(now);
        }
    }
}

fn payload(task: usize, n: u64) -> Vec<u8> {
    let mut data = format!("task {task} session {n} ").into_bytes();
    data.resize(200, b'.');
    data
}

/// Reads `id` back and files the outcome.
async fn read_back(
    stores: &Stores,
    log: &mut TaskLog,
    start: Instant,
    id: &SessionId,
    expected: &[u8],
    what: &str,
) {
    match stores.sessions.get(id).await {
        Ok(Some(record)) => {
            if record.data != expected {
                log.wrong.push(format!(
                    "{what}: read {:?}, wrote {:?}",
                    String::from_utf8_lossy(&record.data),
                    String::from_utf8_lossy(expected)
                ));
            }
            log.success(start.elapsed(), false);
        }
        Ok(None) => log.missing.push(format!(
            "{what} at {:?}: an acknowledged session is not found",
            start.elapsed()
        )),
        Err(e) => log
            .errors
            .push((start.elapsed(), "get", e.kind(), e.to_string())),
    }
}

async fn load(task: usize, stores: Arc<Stores>, stop: Arc<AtomicBool>, start: Instant) -> TaskLog {
    let mut log = TaskLog::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let data = payload(task, n);
        let created = stores
            .sessions
            .create(NewSession {
                subject: format!("user-{task}"),
                data: data.clone(),
                lifetime: Duration::from_secs(3600),
                idle_timeout: None,
            })
            .await;
        match created {
            Ok(session) => {
                log.success(start.elapsed(), true);
                read_back(&stores, &mut log, start, &session.id, &data, "new session").await;
                log.acknowledged.push((session.id, data));
            }
            // Written or not: unknown, so never checked.
            Err(e) => log
                .errors
                .push((start.elapsed(), "create", e.kind(), e.to_string())),
        }
        // An older session of this task.
        if !log.acknowledged.is_empty() {
            let i = (n as usize).wrapping_mul(7919) % log.acknowledged.len();
            let (id, data) = log.acknowledged[i].clone();
            read_back(&stores, &mut log, start, &id, &data, "older session").await;
        }
        // A steady load, not a flood: the two cores are shared with the servers.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    log
}

/// One command on a fresh blocking connection.
fn command(addr: SocketAddr, args: &[&str]) -> std::io::Result<RespReply> {
    RespConn::connect(addr)?.command(args)
}

/// Starts a replica of `master` and waits until it is in sync.
fn new_replica(master: SocketAddr) -> RedisServer {
    let replica = require(RedisServer::start_with(RedisOptions {
        extra_args: vec![
            "--replicaof".to_owned(),
            master.ip().to_string(),
            master.port().to_string(),
        ],
        ..RedisOptions::default()
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = command(replica.addr(), &["INFO", "replication"]);
        if let Ok(RespReply::Bulk(Some(text))) = &info
            && String::from_utf8_lossy(text).contains("master_link_status:up")
        {
            return replica;
        }
        assert!(
            Instant::now() < deadline,
            "the new replica did not sync: {info:?}\n{}",
            replica.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a run measured.
struct Report {
    logs: Vec<TaskLog>,
    lost: Vec<String>,
    promoted_at: Duration,
    recovered_at: Duration,
}

async fn kill_primary_under_load(durable: bool) -> Report {
    let mut set = require(RedisSentinelSet::start());
    // The replica becomes the primary; a new replica of it should not wait five seconds
    // for a diskless sync to start (Redis's default `repl-diskless-sync-delay`).
    let reply = command(
        set.replica_addr(),
        &["CONFIG", "SET", "repl-diskless-sync-delay", "0"],
    )
    .expect("CONFIG SET on the replica");
    assert_eq!(reply, RespReply::Simple("OK".into()));

    let config = RedisConfig {
        connect_timeout: Some(Duration::from_secs(2)),
        response_timeout: Some(Duration::from_secs(1)),
        connections: 2,
        ..RedisConfig::from_url(set.url())
    };
    let connection = RedisConnection::connect(&config)
        .await
        .expect("connect through the sentinels");
    let options = BackendOptions {
        durable_writes: durable.then_some(DurableWrites {
            replicas: 1,
            timeout: Duration::from_millis(500),
        }),
        ..BackendOptions::default()
    };
    let store_config = StoreConfig::new(Namespace::random().expect("namespace"))
        .with_codec(authstate_conformance::sealed_codec());
    let stores = Arc::new(
        RedisBackend::new(connection, options)
            .open(store_config)
            .expect("open"),
    );

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(load(task, stores.clone(), stop.clone(), start)))
        .collect();

    tokio::time::sleep(KILL_AFTER).await;
    let old = set.kill_primary().expect("a primary to kill");
    let killed_at = start.elapsed();
    let (set, promoted) = tokio::task::spawn_blocking(move || {
        let promoted = set.wait_for_failover(old, Duration::from_secs(30));
        (set, promoted)
    })
    .await
    .expect("waiting for the failover");
    let promoted = promoted.unwrap_or_else(|e| panic!("{e}\n{}", set.logs()));
    let promoted_at = start.elapsed();
    let replica = tokio::task::spawn_blocking(move || new_replica(promoted))
        .await
        .expect("starting a new replica");
    let recovered_at = start.elapsed();
    let until = (LOAD_FOR).max(recovered_at + AFTER_RECOVERY);
    tokio::time::sleep(until.saturating_sub(start.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.expect("a load task"));
    }

    // Every acknowledged create, read back through the same client after the failover,
    // by a few tasks at once.
    let acknowledged: Vec<(SessionId, Vec<u8>)> = logs
        .iter()
        .flat_map(|l| l.acknowledged.iter().cloned())
        .collect();
    let total = acknowledged.len();
    let chunk = total.div_ceil(8).max(1);
    let mut checks = Vec::new();
    for part in acknowledged.chunks(chunk) {
        let part = part.to_vec();
        let stores = stores.clone();
        checks.push(tokio::spawn(async move {
            let mut lost = Vec::new();
            for (id, data) in part {
                match stores.sessions.get(&id).await {
                    Ok(Some(record)) if record.data == data => {}
                    Ok(Some(record)) => lost.push(format!(
                        "changed: {:?}",
                        String::from_utf8_lossy(&record.data)
                    )),
                    Ok(None) => lost.push(format!("missing: {:?}", String::from_utf8_lossy(&data))),
                    Err(e) => panic!("reading back after the failover: {e}"),
                }
            }
            lost
        }));
    }
    let mut lost = Vec::new();
    for check in checks {
        lost.extend(check.await.expect("a read-back task"));
    }

    // The report.
    let errors: Vec<_> = logs.iter().flat_map(|l| l.errors.iter()).collect();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (_, op, kind, _) in &errors {
        *by_kind.entry(format!("{op} {kind}")).or_default() += 1;
    }
    let mode = if durable {
        "durable writes (WAIT 1)"
    } else {
        "plain writes"
    };
    eprintln!(
        "== {mode}: primary {old} killed at {killed_at:?}; sentinels promoted {promoted} at \
         {promoted_at:?}; new replica in sync at {recovered_at:?}; load stopped at {:?}",
        start.elapsed()
    );
    eprintln!(
        "   {} creates ok, {} gets ok, {} errors by operation and kind: {by_kind:?}",
        logs.iter().map(|l| l.creates_ok).sum::<u64>(),
        logs.iter().map(|l| l.gets_ok).sum::<u64>(),
        errors.len()
    );
    if let (Some(first), Some(last)) = (
        errors.iter().map(|e| e.0).min(),
        errors.iter().map(|e| e.0).max(),
    ) {
        eprintln!("   errors from {first:?} to {last:?}");
    }
    let mut samples: BTreeMap<String, &str> = BTreeMap::new();
    for (_, op, kind, message) in &errors {
        samples.entry(format!("{op} {kind}")).or_insert(message);
    }
    for (what, message) in samples {
        eprintln!("   e.g. {what}: {message}");
    }
    for (i, log) in logs.iter().enumerate() {
        eprintln!(
            "   task {i}: longest gap between successes {:?} (ended at {:?}), between creates \
             {:?} (ended at {:?}); {} errors, {} wrong, {} missing on read",
            log.longest_gap.0,
            log.longest_gap.1,
            log.longest_create_gap.0,
            log.longest_create_gap.1,
            log.errors.len(),
            log.wrong.len(),
            log.missing.len()
        );
    }
    eprintln!(
        "   acknowledged creates: {total}; lost after the failover: {}",
        lost.len()
    );
    for l in lost.iter().take(5) {
        eprintln!("     {l}");
    }
    drop(replica);
    drop(set);
    Report {
        logs,
        lost,
        promoted_at,
        recovered_at,
    }
}

/// What holds in both modes.
fn check_common(report: &Report) {
    for log in &report.logs {
        for (at, op, kind, message) in &log.errors {
            assert_eq!(*kind, ErrorKind::Unavailable, "{op} at {at:?}: {message}");
        }
        assert!(log.wrong.is_empty(), "wrong answers: {:?}", log.wrong);
    }
    let errors: usize = report.logs.iter().map(|l| l.errors.len()).sum();
    assert!(errors > 0, "killing the primary went unnoticed");
    for (i, log) in report.logs.iter().enumerate() {
        let get = log.last_get_ok.expect("some read succeeded");
        assert!(
            get > report.promoted_at,
            "task {i} did not read again after the failover (last read {get:?})"
        );
        let create = log.last_create_ok.expect("some create succeeded");
        assert!(
            create > report.recovered_at,
            "task {i} did not write again after the failover (last create {create:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_writes_survive_killing_the_primary() {
    let report = kill_primary_under_load(true).await;
    check_common(&report);
    for log in &report.logs {
        assert!(
            log.missing.is_empty(),
            "acknowledged sessions not found during the run: {:?}",
            log.missing
        );
    }
    assert!(
        report.lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        report.lost.len(),
        &report.lost[..report.lost.len().min(5)]
    );
}

/// Without durable writes, an acknowledged write may be lost (it is counted and printed);
/// everything else holds as with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_writes_fail_over_without_wrong_answers() {
    let report = kill_primary_under_load(false).await;
    check_common(&report);
}
