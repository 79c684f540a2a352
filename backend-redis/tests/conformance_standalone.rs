//! The whole conformance suite against a standalone redis-server started by the
//! testkit, plus the checks the suite cannot make: how many commands each operation
//! sends, and that the server really evicts what has a TTL.
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test conformance_standalone`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstate_backend_redis::{BackendOptions, RedisBackend, RedisConfig, RedisConnection};
use authstate_conformance::{Harness, conformance_tests};
use authstate_core::{
    LockoutPolicy, ManualClock, Namespace, NewSession, NewToken, Participant, StoreConfig, Stores,
    Timestamp,
};
use authstate_testkit::{RedisServer, RespConn, RespReply, require};

use common::harness;

conformance_tests!(harness);

/// An admin connection to `server`, and its own address (to tell its commands apart).
fn admin(server: &RedisServer) -> (RespConn, String) {
    let mut conn = RespConn::connect(server.addr()).expect("admin connection");
    let info = match conn.command(&["CLIENT", "INFO"]).expect("CLIENT INFO") {
        RespReply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("CLIENT INFO answered {other:?}"),
    };
    let addr = info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("CLIENT INFO has addr=")
        .to_owned();
    (conn, addr)
}

fn ok(conn: &mut RespConn, args: &[&str]) {
    if let RespReply::Error(e) = conn.command(args).expect("admin command") {
        panic!("{args:?}: {e}");
    }
}

/// The names of the commands clients other than the admin sent since the last
/// `SLOWLOG RESET` (with `slowlog-log-slower-than 0`, every command is logged). Commands
/// that scripts run are logged too, from the pseudo-client `?:0`: those are left out,
/// so `EVALSHA` counts once however much its script does.
fn client_commands(conn: &mut RespConn, admin_addr: &str) -> Vec<String> {
    let RespReply::Array(Some(entries)) = conn
        .command(&["SLOWLOG", "GET", "1000"])
        .expect("SLOWLOG GET")
    else {
        panic!("SLOWLOG GET did not answer an array");
    };
    let mut out = Vec::new();
    // Newest first in the log; oldest first here.
    for entry in entries.into_iter().rev() {
        let RespReply::Array(Some(fields)) = entry else {
            continue;
        };
        let client = match fields.get(4) {
            Some(RespReply::Bulk(Some(b))) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        if client == "?:0" || client == admin_addr {
            continue;
        }
        if let Some(RespReply::Array(Some(args))) = fields.get(3)
            && let Some(RespReply::Bulk(Some(name))) = args.first()
        {
            out.push(String::from_utf8_lossy(name).to_uppercase());
        }
    }
    out
}

/// `calls` of one command in `INFO commandstats`.
fn calls(conn: &mut RespConn, command: &str) -> u64 {
    let RespReply::Bulk(Some(info)) = conn
        .command(&["INFO", "commandstats"])
        .expect("INFO commandstats")
    else {
        panic!("INFO did not answer a string");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What one operation sent: the client's commands, and the `EVALSHA` delta of
/// `INFO commandstats` (whose other counters include the commands scripts run).
struct Measured {
    client: Vec<String>,
    evalsha: u64,
}

/// `commands_per_operation`: session create, get, update, touch; artifact put and take;
/// replay check; lockout failure — one command each (an `EVALSHA`, a plain read, or for
/// replay a native `SET … NX GET`).
/// `rotate_id` is a read and a script: the server cannot seal the record again for the
/// new id (sealed records are bound to their id hash), so the client must read it first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_operation() {
    // A server of its own: the counts must not see other tests' traffic.
    let server = require(RedisServer::start());
    let (mut conn, admin_addr) = admin(&server);
    ok(
        &mut conn,
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    );
    ok(&mut conn, &["CONFIG", "SET", "slowlog-max-len", "1000"]);
    let connection = RedisConnection::connect(&RedisConfig::from_url(server.url()))
        .await
        .expect("connect");
    let clock = ManualClock::starting_now();
    let config = StoreConfig::new(Namespace::random().expect("namespace"))
        .with_clock(Arc::new(clock.clone()))
        .with_codec(authstate_conformance::sealed_codec());
    let stores = RedisBackend::new(connection, BackendOptions::default())
        .open(config)
        .expect("open");
    let s: &Stores = &stores;

    let new_session = || NewSession {
        subject: "alice".to_owned(),
        data: vec![7; 200],
        lifetime: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(600)),
    };
    let policy = LockoutPolicy::default();
    let not_after = |clock: &ManualClock| {
        use authstate_core::Clock;
        clock.now().saturating_add(Duration::from_secs(60))
    };

    // Warm-up: every operation once, so each script is loaded.
    let warm = s.sessions.create(new_session()).await.expect("create");
    s.sessions.get(&warm.id).await.expect("get");
    s.sessions.touch(&warm.id).await.expect("touch");
    s.sessions
        .update(&warm.id, 1, b"x".to_vec())
        .await
        .expect("update");
    s.sessions.rotate_id(&warm.id).await.expect("rotate");
    s.sessions.delete(&warm.id).await.expect("delete");
    s.sessions.list_by_subject("alice").await.expect("list");
    s.artifacts
        .put("warm", b"p".to_vec(), Duration::from_secs(60))
        .await
        .expect("put");
    s.artifacts.take("warm").await.expect("take");
    s.replay
        .check_and_record("warm", not_after(&clock))
        .await
        .expect("replay");
    s.lockout
        .record_failure("warm", &policy)
        .await
        .expect("lockout");
    s.state
        .put("warm", b"v".to_vec(), Duration::from_secs(60))
        .await
        .expect("state put");
    s.tokens
        .insert(
            "warm",
            NewToken {
                subject: "alice".to_owned(),
                client_id: "c".to_owned(),
                grant_id: Some("g".to_owned()),
                data: b"d".to_vec(),
                ttl: Duration::from_secs(60),
            },
        )
        .await
        .expect("token insert");
    s.revocations
        .revoke("warm", not_after(&clock))
        .await
        .expect("revoke");
    s.registry
        .register(
            "alice",
            Participant {
                session_ref: "warm".to_owned(),
                partner_id: "sp".to_owned(),
                session_index: None,
                expires_at: not_after(&clock),
            },
        )
        .await
        .expect("register");

    let session = s.sessions.create(new_session()).await.expect("create");
    let mut table: Vec<(&str, Measured)> = Vec::new();
    // Runs one operation between a SLOWLOG RESET and the readings. Every operation has
    // run once above, so its script is loaded and no NOSCRIPT round trip is counted.
    macro_rules! measure {
        ($name:expr, $op:expr) => {{
            ok(&mut conn, &["SLOWLOG", "RESET"]);
            let before = calls(&mut conn, "evalsha");
            $op;
            let after = calls(&mut conn, "evalsha");
            let client = client_commands(&mut conn, &admin_addr);
            table.push((
                $name,
                Measured {
                    client,
                    evalsha: after - before,
                },
            ));
        }};
    }
    measure!(
        "session create",
        s.sessions.create(new_session()).await.expect("create")
    );
    measure!(
        "session get",
        s.sessions.get(&session.id).await.expect("get")
    );
    measure!(
        "session update",
        s.sessions
            .update(&session.id, 1, vec![8; 200])
            .await
            .expect("update")
    );
    measure!(
        "session touch",
        s.sessions.touch(&session.id).await.expect("touch")
    );
    measure!(
        "artifact put",
        s.artifacts
            .put("code", b"p".to_vec(), Duration::from_secs(60))
            .await
            .expect("put")
    );
    measure!(
        "artifact take",
        s.artifacts.take("code").await.expect("take")
    );
    measure!(
        "replay check",
        s.replay
            .check_and_record("jti", not_after(&clock))
            .await
            .expect("replay")
    );
    measure!(
        "lockout failure",
        s.lockout
            .record_failure("user", &policy)
            .await
            .expect("lockout")
    );
    // Not in the one-command list; reported for the record.
    let rotated_table_start = table.len();
    measure!(
        "session rotate_id",
        s.sessions.rotate_id(&session.id).await.expect("rotate")
    );
    measure!(
        "session delete",
        s.sessions.delete(&warm.id).await.expect("delete")
    );
    measure!(
        "list_by_subject",
        s.sessions.list_by_subject("alice").await.expect("list")
    );
    measure!(
        "lockout status",
        s.lockout.status("user").await.expect("status")
    );
    measure!("state get", s.state.get("warm").await.expect("state get"));
    measure!(
        "state put",
        s.state
            .put("warm", b"v2".to_vec(), Duration::from_secs(60))
            .await
            .expect("state put")
    );
    measure!("token get", s.tokens.get("warm").await.expect("token get"));
    measure!(
        "is_revoked",
        s.revocations
            .is_revoked("warm", "alice", Timestamp::from_millis(0))
            .await
            .expect("is_revoked")
    );
    measure!(
        "revoke",
        s.revocations
            .revoke("other", not_after(&clock))
            .await
            .expect("revoke")
    );
    measure!(
        "registry participants",
        s.registry
            .participants("alice")
            .await
            .expect("participants")
    );

    for (name, m) in &table {
        println!(
            "{name:>22}: {} client command(s) {:?}, EVALSHA delta {}",
            m.client.len(),
            m.client,
            m.evalsha
        );
    }
    for (name, m) in &table[..rotated_table_start] {
        assert_eq!(
            m.client.len(),
            1,
            "{name} sent {:?}, expected exactly one command",
            m.client
        );
        assert!(
            m.evalsha <= 1,
            "{name}: commandstats counted {} EVALSHA",
            m.evalsha
        );
    }
    let (_, rotate) = &table[rotated_table_start];
    assert_eq!(
        rotate.client,
        vec!["GET".to_owned(), "EVALSHA".to_owned()],
        "rotate_id reads, then moves in one script"
    );
}

/// `writes_keep_no_purge_index_and_subject_indexes_prune`: writes create no purge
/// index (no key of the namespace other than records and owner indexes); the `SCAN`
/// pattern purge uses lists every record and no index (checked on the real server's
/// glob); and a subject's session index drops the entries of expired sessions when the
/// subject's next session is created, so it does not grow without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_keep_no_purge_index_and_subject_indexes_prune() {
    use authstate_core::Clock;

    let server = require(RedisServer::start());
    let (mut admin, _) = admin(&server);
    let connection = RedisConnection::connect(&RedisConfig::from_url(server.url()))
        .await
        .expect("connect");
    let clock = ManualClock::starting_now();
    let namespace = Namespace::random().expect("namespace");
    let ns = namespace.as_str().to_owned();
    let config = StoreConfig::new(namespace.clone()).with_clock(Arc::new(clock.clone()));
    let stores = RedisBackend::new(connection, common::suite_options())
        .open(config)
        .expect("open");
    let scan = |admin: &mut RespConn, pattern: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            match admin
                .command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
                .expect("SCAN")
            {
                RespReply::Array(Some(mut reply)) if reply.len() == 2 => {
                    let keys = reply.pop();
                    let next = reply.pop();
                    if let Some(RespReply::Array(Some(keys))) = keys {
                        for k in keys {
                            if let RespReply::Bulk(Some(k)) = k {
                                out.push(String::from_utf8_lossy(&k).into_owned());
                            }
                        }
                    }
                    match next {
                        Some(RespReply::Bulk(Some(c))) => {
                            cursor = String::from_utf8_lossy(&c).into_owned();
                        }
                        other => panic!("SCAN cursor {other:?}"),
                    }
                }
                other => panic!("SCAN answered {other:?}"),
            }
            if cursor == "0" {
                break;
            }
        }
        out.sort();
        out
    };
    let card = |admin: &mut RespConn, key: &str| -> i64 {
        match admin.command(&["ZCARD", key]).expect("ZCARD") {
            RespReply::Integer(n) => n,
            other => panic!("ZCARD answered {other:?}"),
        }
    };

    // One record of every contract with an index, and sessions of one subject.
    let session = |lifetime: u64| NewSession {
        subject: "alice".to_owned(),
        data: b"d".to_vec(),
        lifetime: Duration::from_secs(lifetime),
        idle_timeout: None,
    };
    const OLD: usize = 20;
    for _ in 0..OLD {
        stores.sessions.create(session(60)).await.expect("create");
    }
    let not_after = clock.now().saturating_add(Duration::from_secs(60));
    stores
        .replay
        .check_and_record("jti", not_after)
        .await
        .expect("replay");
    stores
        .artifacts
        .put("code", b"p".to_vec(), Duration::from_secs(60))
        .await
        .expect("put");
    stores
        .tokens
        .insert(
            "token",
            NewToken {
                subject: "alice".to_owned(),
                client_id: "c".to_owned(),
                grant_id: Some("g".to_owned()),
                data: b"d".to_vec(),
                ttl: Duration::from_secs(60),
            },
        )
        .await
        .expect("token");

    let all = scan(&mut admin, &format!("as:{ns}:*"));
    let indexes: Vec<&String> = all
        .iter()
        .filter(|k| {
            k.split_once('}')
                .is_some_and(|(_, rest)| rest.starts_with(':'))
        })
        .collect();
    // The session subject index and the token's three owner indexes: nothing else.
    assert_eq!(indexes.len(), 4, "{indexes:?}");
    assert!(
        indexes
            .iter()
            .all(|k| k.contains(":sub:") || k.contains(":grt:") || k.contains(":cli:")),
        "a write left a purge index: {indexes:?}"
    );
    // The pattern purge scans with: every session record, and not the subject index.
    let records = scan(&mut admin, &format!("as:{ns}:{{ses:??}}[^:]*"));
    assert_eq!(records.len(), OLD, "{records:?}");
    assert!(records.iter().all(|k| !k.contains(":sub:")), "{records:?}");
    let tokens = scan(&mut admin, &format!("as:{ns}:{{tok:??}}[^:]*"));
    assert_eq!(tokens.len(), 1, "{tokens:?}");

    // Two minutes later, the old sessions have expired by the store's clock: the next
    // session of the subject drops their entries from the index.
    let index = indexes
        .iter()
        .find(|k| k.contains("{ses:"))
        .map(|k| (*k).clone())
        .expect("subject index");
    assert_eq!(card(&mut admin, &index), OLD as i64);
    clock.advance(Duration::from_secs(120));
    stores.sessions.create(session(3600)).await.expect("create");
    assert_eq!(card(&mut admin, &index), 1, "expired entries were kept");
}

/// `artifacts_of_the_earlier_hash_layout_still_work`: an artifact stored as a hash (`e`
/// expiry, `p` payload, then `t` once taken), as versions before the string layout
/// wrote it, is taken once, holds its handle against a new put, and is purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_of_the_earlier_hash_layout_still_work() {
    use authstate_core::{PurgePolicy, Take};

    let server = require(RedisServer::start());
    let (mut admin, _) = admin(&server);
    let connection = RedisConnection::connect(&RedisConfig::from_url(server.url()))
        .await
        .expect("connect");
    let clock = ManualClock::starting_now();
    let namespace = Namespace::random().expect("namespace");
    let config = StoreConfig::new(namespace.clone()).with_clock(Arc::new(clock.clone()));
    let stores = RedisBackend::new(connection, common::suite_options())
        .open(config)
        .expect("open");
    // Stored in today's layout, then rewritten by hand as the earlier hash.
    for handle in ["old", "older"] {
        stores
            .artifacts
            .put(handle, b"payload".to_vec(), Duration::from_secs(60))
            .await
            .expect("put");
    }
    let pattern = format!("as:{}:{{art:*", namespace.as_str());
    let keys = match admin
        .command(&["SCAN", "0", "MATCH", &pattern, "COUNT", "100000"])
        .expect("SCAN")
    {
        RespReply::Array(Some(mut reply)) => match reply.pop() {
            Some(RespReply::Array(Some(keys))) => keys
                .into_iter()
                .filter_map(|k| match k {
                    RespReply::Bulk(Some(k)) => Some(String::from_utf8_lossy(&k).into_owned()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            other => panic!("SCAN answered {other:?}"),
        },
        other => panic!("SCAN answered {other:?}"),
    };
    assert_eq!(keys.len(), 2, "{keys:?}");
    let raw = RedisConnection::connect(&RedisConfig::from_url(server.url()))
        .await
        .expect("connect");
    for key in &keys {
        let record: Vec<u8> = raw.query(redis::cmd("GET").arg(key)).await.expect("GET");
        assert_eq!(record[0], 2, "a live artifact record");
        let e = i64::from_be_bytes(record[1..9].try_into().expect("8 bytes"));
        let _: i64 = raw.query(redis::cmd("DEL").arg(key)).await.expect("DEL");
        let _: i64 = raw
            .query(
                redis::cmd("HSET")
                    .arg(key)
                    .arg("e")
                    .arg(e)
                    .arg("p")
                    .arg(&record[9..]),
            )
            .await
            .expect("HSET");
        let _: i64 = raw
            .query(redis::cmd("PEXPIRE").arg(key).arg(600_000))
            .await
            .expect("PEXPIRE");
    }
    assert_eq!(
        stores.artifacts.take("old").await.expect("take"),
        Take::Fresh(b"payload".to_vec())
    );
    assert!(matches!(
        stores.artifacts.take("old").await.expect("take again"),
        Take::Replayed { .. }
    ));
    let held = stores
        .artifacts
        .put("older", b"new".to_vec(), Duration::from_secs(60))
        .await
        .expect_err("the handle is held");
    assert_eq!(held.kind(), authstate_core::ErrorKind::AlreadyExists);
    // Past their expiry (kept by the grace), purge finds and deletes both.
    clock.advance(Duration::from_secs(120));
    let report = stores
        .artifacts
        .purge(&PurgePolicy {
            offset: Duration::ZERO,
            ..PurgePolicy::default()
        })
        .await
        .expect("purge");
    assert_eq!((report.examined, report.deleted), (2, 2), "{report:?}");
    // And a put reuses a freed handle in today's layout.
    stores
        .artifacts
        .put("older", b"new".to_vec(), Duration::from_secs(60))
        .await
        .expect("put again");
    assert_eq!(
        stores.artifacts.take("older").await.expect("take"),
        Take::Fresh(b"new".to_vec())
    );
}

/// `server_evicts_what_has_a_ttl`: with a grace of zero, every key written for records
/// with a TTL (records and owner indexes) is gone from the server shortly after
/// the records expire in real time, without any purge. (Reads never depend on it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_evicts_what_has_a_ttl() {
    let harness = common::RedisHarness::shared(BackendOptions {
        server_expiry_grace: Duration::ZERO,
        ..BackendOptions::default()
    });
    let namespace = Namespace::random().expect("namespace");
    // The system clock: server TTLs and the store's clock agree.
    let stores = harness
        .open(StoreConfig::new(namespace.clone()))
        .await
        .expect("open");
    let ttl = Duration::from_millis(300);
    stores
        .sessions
        .create(NewSession {
            subject: "alice".to_owned(),
            data: b"d".to_vec(),
            lifetime: ttl,
            idle_timeout: None,
        })
        .await
        .expect("create");
    stores
        .artifacts
        .put("code", b"p".to_vec(), ttl)
        .await
        .expect("put");
    stores
        .state
        .put("state", b"v".to_vec(), ttl)
        .await
        .expect("state");
    let not_after = authstate_core::SystemClock.now_plus(ttl);
    stores
        .replay
        .check_and_record("jti", not_after)
        .await
        .expect("replay");
    stores
        .lockout
        .record_failure(
            "user",
            &LockoutPolicy {
                max_failures: 5,
                failure_window: ttl,
                lockout_duration: ttl,
            },
        )
        .await
        .expect("lockout");
    stores
        .tokens
        .insert(
            "token",
            NewToken {
                subject: "alice".to_owned(),
                client_id: "c".to_owned(),
                grant_id: Some("g".to_owned()),
                data: b"d".to_vec(),
                ttl,
            },
        )
        .await
        .expect("token");
    stores
        .registry
        .register(
            "alice",
            Participant {
                session_ref: "ref".to_owned(),
                partner_id: "sp".to_owned(),
                session_index: None,
                expires_at: not_after,
            },
        )
        .await
        .expect("register");
    let written = harness
        .dump(&namespace)
        .await
        .expect("dump")
        .expect("dumps");
    // Seven records, the session's subject index and the token's three owner indexes
    // (writes keep no purge index).
    assert_eq!(
        written.len(),
        11,
        "expected the records and their owner indexes, got {} keys",
        written.len()
    );
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = harness
            .dump(&namespace)
            .await
            .expect("dump")
            .expect("dumps");
        if left.is_empty() {
            return;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let keys: Vec<String> = left
                .iter()
                .map(|e| String::from_utf8_lossy(&e.key).into_owned())
                .collect();
            panic!("10 s after their expiry the server still holds {keys:?}");
        }
    }
}

trait NowPlus {
    fn now_plus(&self, d: Duration) -> Timestamp;
}

impl NowPlus for authstate_core::SystemClock {
    fn now_plus(&self, d: Duration) -> Timestamp {
        use authstate_core::Clock;
        self.now().saturating_add(d)
    }
}

/// Opens the stores on `url` with `options`, a fresh namespace and the system clock;
/// commands time out after `timeout`.
async fn open_on(url: &str, options: BackendOptions, timeout: Duration) -> Stores {
    let mut config = RedisConfig::from_url(url);
    config.timeout = timeout;
    let connection = RedisConnection::connect(&config).await.expect("connect");
    RedisBackend::new(connection, options)
        .open(StoreConfig::new(Namespace::random().expect("namespace")))
        .expect("open")
}

fn new_session(subject: &str) -> NewSession {
    NewSession {
        subject: subject.to_owned(),
        data: b"claims".to_vec(),
        lifetime: Duration::from_secs(3600),
        idle_timeout: None,
    }
}

/// Waits until `replica` acknowledges a write to `primary`. (After a diskless first
/// sync the primary lists the replica online at once, but streams writes to it only
/// after the replica's first acknowledgement, which comes with its once-a-second cron.)
fn wait_for_replica(primary: &RedisServer, replica: &RedisServer) {
    let started = Instant::now();
    let mut conn = RespConn::connect(primary.addr()).expect("primary connection");
    loop {
        ok(&mut conn, &["SET", "replication-probe", "1"]);
        if let Ok(RespReply::Integer(1)) = conn.command(&["WAIT", "1", "200"]) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the replica did not acknowledge a write within 10 s:\n{}",
            replica.log()
        );
    }
}

/// `durable_writes_wait_for_a_replica`: with durable writes, a write returns once a
/// replica has it; with the replica gone, writes fail `Unavailable` within the timeout
/// (the primary has the write, but it could be lost in a failover), and reads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_writes_wait_for_a_replica() {
    use authstate_backend_redis::DurableWrites;
    use authstate_core::ErrorKind;

    // No diskless-sync delay: the replica gets its first copy at once.
    let primary = require(RedisServer::start_with(authstate_testkit::RedisOptions {
        extra_args: vec!["--repl-diskless-sync-delay".to_owned(), "0".to_owned()],
        ..Default::default()
    }));
    let replica = require(RedisServer::start_with(authstate_testkit::RedisOptions {
        extra_args: vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            primary.port().to_string(),
        ],
        ..Default::default()
    }));
    wait_for_replica(&primary, &replica);
    // Generous: the whole suite may be running on two cores beside this test.
    let timeout = Duration::from_secs(2);
    let stores = open_on(
        &primary.url(),
        BackendOptions {
            durable_writes: Some(DurableWrites {
                replicas: 1,
                timeout,
            }),
            ..BackendOptions::default()
        },
        // Longer than the WAIT: the client must hear the server's answer.
        timeout + Duration::from_secs(3),
    )
    .await;
    let session = stores
        .sessions
        .create(new_session("alice"))
        .await
        .expect("a durable write with a live replica");
    stores
        .artifacts
        .put("code", b"p".to_vec(), Duration::from_secs(60))
        .await
        .expect("put");
    // Acknowledged means on the replica already.
    let mut on_replica = RespConn::connect(replica.addr()).expect("replica connection");
    match on_replica
        .command(&["DBSIZE"])
        .expect("DBSIZE on the replica")
    {
        RespReply::Integer(n) if n >= 4 => {}
        other => panic!("the replica does not hold the acknowledged writes: {other:?}"),
    }

    drop(on_replica);
    drop(replica);
    // The primary notices the replica is gone only when its link drops; until then WAIT
    // still counts nothing new, so the next write times out either way.
    let started = Instant::now();
    let refused = stores.sessions.create(new_session("alice")).await;
    match refused {
        Err(e) if e.kind() == ErrorKind::Unavailable => {
            assert!(e.to_string().contains("replicas acknowledged"), "{e}");
        }
        other => panic!("a write no replica acknowledged must be Unavailable: {other:?}"),
    }
    assert!(
        started.elapsed() < timeout + Duration::from_secs(2),
        "the refused write took {:?}",
        started.elapsed()
    );
    // Reads do not wait.
    assert!(
        stores
            .sessions
            .get(&session.id)
            .await
            .expect("get")
            .is_some(),
        "the session written durably is gone"
    );
}

/// `scripts_reload_after_flush`: after the server forgets its scripts (a restart, a
/// failover to a replica that never saw them, `SCRIPT FLUSH`), every operation loads
/// its script again instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_reload_after_flush() {
    let server = require(RedisServer::start());
    let stores = open_on(
        &server.url(),
        BackendOptions::default(),
        Duration::from_secs(1),
    )
    .await;
    let session = stores
        .sessions
        .create(new_session("alice"))
        .await
        .expect("create");
    let mut admin = RespConn::connect(server.addr()).expect("admin");
    ok(&mut admin, &["SCRIPT", "FLUSH"]);
    assert!(
        stores
            .sessions
            .touch(&session.id)
            .await
            .expect("touch after SCRIPT FLUSH")
            .is_some()
    );
    stores
        .sessions
        .create(new_session("alice"))
        .await
        .expect("create after SCRIPT FLUSH");
    assert_eq!(
        stores
            .sessions
            .list_by_subject("alice")
            .await
            .expect("list")
            .len(),
        2
    );
}

/// `server_gone_fails_closed`: with the server gone, reads and writes are
/// `Unavailable` — never "unknown", "fresh", "not revoked" or "no failures".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_fails_closed() {
    use authstate_core::{Clock, ErrorKind, SystemClock};

    let server = require(RedisServer::start());
    let stores = open_on(
        &server.url(),
        BackendOptions::default(),
        Duration::from_secs(1),
    )
    .await;
    let session = stores
        .sessions
        .create(new_session("alice"))
        .await
        .expect("create");
    drop(server);
    let unavailable = |what: &str, kind: Option<ErrorKind>| {
        assert_eq!(
            kind,
            Some(ErrorKind::Unavailable),
            "{what} with the server gone"
        );
    };
    let in_a_minute = SystemClock.now().saturating_add(Duration::from_secs(60));
    unavailable(
        "session get",
        stores
            .sessions
            .get(&session.id)
            .await
            .err()
            .map(|e| e.kind()),
    );
    unavailable(
        "replay check",
        stores
            .replay
            .check_and_record("jti", in_a_minute)
            .await
            .err()
            .map(|e| e.kind()),
    );
    unavailable(
        "is_revoked",
        stores
            .revocations
            .is_revoked("sri", "alice", Timestamp::from_millis(0))
            .await
            .err()
            .map(|e| e.kind()),
    );
    unavailable(
        "artifact take",
        stores.artifacts.take("code").await.err().map(|e| e.kind()),
    );
    unavailable(
        "lockout status",
        stores.lockout.status("user").await.err().map(|e| e.kind()),
    );
}

/// Runs `op(task, i)` for `i` in `0..per_task` on each of `tasks` tasks at once and
/// returns operations per second.
async fn rate<F, Fut>(tasks: usize, per_task: usize, op: Arc<F>) -> f64
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let mut handles = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let op = op.clone();
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..per_task {
                op(task, i).await;
            }
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    for h in handles {
        h.await.expect("benchmark task");
    }
    (tasks * per_task) as f64 / started.elapsed().as_secs_f64()
}

/// A benchmark result: operations per second, and the server's CPU µs per operation.
#[derive(Clone, Copy, Default)]
struct Speed {
    ops: f64,
    server_us: f64,
    /// This process's CPU per operation (the client: hashing, sealing, the redis crate).
    client_us: f64,
}

impl Speed {
    /// CPU per operation, client and server together: what the operation costs the two
    /// shared cores, steadier than a rate when other work runs on them.
    fn cpu_us(&self) -> f64 {
        self.server_us + self.client_us
    }
}

/// The CPU time of every thread of this process so far, in seconds (the first field of
/// each thread's `/proc/self/task/*/schedstat`, in ns).
fn client_cpu() -> f64 {
    let mut ns = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = entry.expect("a thread").path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            ns += text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ns as f64 / 1e9
}

const TASKS: usize = 8;
const PER_TASK: usize = 2_500;
/// Each measurement is the best of this many runs (the machine is shared).
const RUNS: usize = 3;

/// The best of [`RUNS`] runs of `op` (which must accept being run again: names carry a
/// run-unique counter).
async fn best<F, Fut>(admin: &mut RespConn, op: F) -> Speed
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    let mut out = Speed::default();
    for _ in 0..RUNS {
        let (before, client_before) = (server_cpu(admin), client_cpu());
        let ops = rate(TASKS, PER_TASK, op.clone()).await;
        let n = (TASKS * PER_TASK) as f64;
        let server_us = (server_cpu(admin) - before) * 1e6 / n;
        let client_us = (client_cpu() - client_before) * 1e6 / n;
        if ops > out.ops {
            out = Speed {
                ops,
                server_us,
                client_us,
            };
        }
    }
    out
}

/// `benchmark_table`: the numbers of `BENCHMARKS.md`, against a redis-server of its own
/// in this process: throughput at 8 concurrent tasks over one multiplexed connection,
/// as a ratio to plain `SET`/`GET` of a same-size value through the same client; the
/// server's CPU per operation; memory per session; the cost of AES-256-GCM. Run it in
/// release mode:
/// `cargo nextest run --release -p authstate-backend-redis --test conformance_standalone --run-ignored only benchmark_table --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run on purpose, in release mode"]
async fn benchmark_table() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use authstate_core::Clock;

    let server = require(RedisServer::start());
    let mut admin = RespConn::connect(server.addr()).expect("admin");
    let connection = RedisConnection::connect(&RedisConfig::from_url(server.url()))
        .await
        .expect("connect");
    let open = |sealed: bool| {
        let namespace = Namespace::random().expect("namespace");
        let mut config = StoreConfig::new(namespace.clone());
        if sealed {
            config = config.with_codec(authstate_conformance::sealed_codec());
        }
        let stores = RedisBackend::new(connection.clone(), BackendOptions::default())
            .open(config)
            .expect("open");
        (stores, namespace)
    };
    let payload = Arc::new(vec![b'x'; 200]);
    let session_of = |payload: &Vec<u8>, subject: String| NewSession {
        subject,
        data: payload.clone(),
        lifetime: Duration::from_secs(3600),
        idle_timeout: Some(Duration::from_secs(1800)),
    };
    // Makes names unique across runs.
    let serial = Arc::new(AtomicUsize::new(0));

    // Plain SET and GET of a 200-byte value through the same client.
    let raw_set = {
        let (conn, payload) = (connection.clone(), payload.clone());
        best(&mut admin, move |t, i| {
            let (mut conn, payload) = (conn.clone(), payload.clone());
            async move {
                let _: () = redis::cmd("SET")
                    .arg(format!("raw:{t}:{i}"))
                    .arg(payload.as_slice())
                    .query_async(&mut conn)
                    .await
                    .expect("SET");
            }
        })
        .await
    };
    let raw_get = {
        let conn = connection.clone();
        best(&mut admin, move |t, i| {
            let mut conn = conn.clone();
            async move {
                let _: Vec<u8> = redis::cmd("GET")
                    .arg(format!("raw:{t}:{i}"))
                    .query_async(&mut conn)
                    .await
                    .expect("GET");
            }
        })
        .await
    };

    // The floor of any scripted write: `EVALSHA` of a script that does one `SET` and
    // nothing else, through the same client.
    let floor_sha: String = {
        let mut conn = connection.clone();
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg("redis.call('SET', KEYS[1], ARGV[1]) return 1")
            .query_async(&mut conn)
            .await
            .expect("SCRIPT LOAD")
    };
    let script_floor = {
        let (conn, payload, sha) = (connection.clone(), payload.clone(), floor_sha.clone());
        best(&mut admin, move |t, i| {
            let (mut conn, payload, sha) = (conn.clone(), payload.clone(), sha.clone());
            async move {
                let _: i64 = redis::cmd("EVALSHA")
                    .arg(&sha)
                    .arg(1)
                    .arg(format!("floor:{t}:{i}"))
                    .arg(payload.as_slice())
                    .query_async(&mut conn)
                    .await
                    .expect("EVALSHA");
            }
        })
        .await
    };

    let mut results: Vec<[Speed; 6]> = Vec::new();
    for sealed in [false, true] {
        let (stores, _) = open(sealed);
        // One session per task for get and update, with its version.
        let mut ids = Vec::new();
        for t in 0..TASKS {
            let s = stores
                .sessions
                .create(session_of(&payload, format!("user-{t}")))
                .await
                .expect("create");
            ids.push(s.id);
        }
        let ids = Arc::new(ids);
        let versions: Arc<Vec<AtomicU64>> =
            Arc::new((0..TASKS).map(|_| AtomicU64::new(1)).collect());
        let create = {
            let (st, p) = (stores.clone(), payload.clone());
            best(&mut admin, move |t, _| {
                let (st, new) = (st.clone(), session_of(&p, format!("user-{t}")));
                async move {
                    st.sessions.create(new).await.expect("create");
                }
            })
            .await
        };
        let get = {
            let (st, ids) = (stores.clone(), ids.clone());
            best(&mut admin, move |t, _| {
                let (st, ids) = (st.clone(), ids.clone());
                async move {
                    st.sessions.get(&ids[t]).await.expect("get").expect("live");
                }
            })
            .await
        };
        let update = {
            let (st, ids, p, versions) = (
                stores.clone(),
                ids.clone(),
                payload.clone(),
                versions.clone(),
            );
            best(&mut admin, move |t, _| {
                let (st, ids, data) = (st.clone(), ids.clone(), p.as_ref().clone());
                // Each task updates its own session, one update at a time.
                let version = versions[t].fetch_add(1, Ordering::Relaxed);
                async move {
                    st.sessions
                        .update(&ids[t], version, data)
                        .await
                        .expect("update");
                }
            })
            .await
        };
        let artifact = {
            let (st, p, serial) = (stores.clone(), payload.clone(), serial.clone());
            best(&mut admin, move |_, _| {
                let (st, p) = (st.clone(), p.as_ref().clone());
                let handle = format!("code-{}", serial.fetch_add(1, Ordering::Relaxed));
                async move {
                    st.artifacts
                        .put(&handle, p, Duration::from_secs(60))
                        .await
                        .expect("put");
                    st.artifacts.take(&handle).await.expect("take");
                }
            })
            .await
        };
        let replay = {
            let (st, serial) = (stores.clone(), serial.clone());
            best(&mut admin, move |_, _| {
                let st = st.clone();
                let jti = format!("jti-{}", serial.fetch_add(1, Ordering::Relaxed));
                async move {
                    let not_after = authstate_core::SystemClock
                        .now()
                        .saturating_add(Duration::from_secs(300));
                    st.replay
                        .check_and_record(&jti, not_after)
                        .await
                        .expect("replay");
                }
            })
            .await
        };
        let lockout = {
            let (st, serial) = (stores.clone(), serial.clone());
            best(&mut admin, move |_, _| {
                let st = st.clone();
                let key = format!("user-{}", serial.fetch_add(1, Ordering::Relaxed) % 400);
                async move {
                    st.lockout
                        .record_failure(&key, &LockoutPolicy::default())
                        .await
                        .expect("lockout");
                }
            })
            .await
        };
        results.push([create, get, update, artifact, replay, lockout]);
    }

    // The codec alone, on one thread: a seal and an open of 200 bytes.
    let codec_cost = |codec: authstate_core::codec::RecordCodec| {
        let namespace = Namespace::new("bench").expect("namespace");
        let ad = authstate_core::codec::AssociatedData {
            namespace: &namespace,
            contract: authstate_core::Contract::Session,
            key: b"0123456789abcdef0123456789abcdef",
        };
        const ROUNDS: u32 = 50_000;
        let started = Instant::now();
        for _ in 0..ROUNDS {
            let sealed = codec.seal(&ad, payload.as_slice()).expect("seal");
            let opened = codec.open(&ad, &sealed).expect("open");
            assert_eq!(opened.len(), 200);
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
    };
    let plain_us = codec_cost(authstate_core::codec::RecordCodec::plaintext());
    let aes_us = codec_cost(authstate_conformance::sealed_codec());

    // Memory: sessions with 200 bytes of data, plaintext and sealed.
    let mut memory = Vec::new();
    for sealed in [false, true] {
        let (stores, namespace) = open(sealed);
        let before = used_memory(&mut admin);
        const N: usize = 2_000;
        for i in 0..N {
            stores
                .sessions
                .create(session_of(&payload, format!("user-{i}@example.com")))
                .await
                .expect("create");
        }
        let all_in = (used_memory(&mut admin) - before) as f64 / N as f64;
        // Any one session record (the strings under the session tags; indexes are
        // sorted sets).
        let pattern = format!("as:{}:{{ses:*", namespace.as_str());
        let key = match admin
            .command(&[
                "SCAN", "0", "MATCH", &pattern, "COUNT", "100000", "TYPE", "string",
            ])
            .expect("SCAN")
        {
            RespReply::Array(Some(mut reply)) => match reply.pop() {
                Some(RespReply::Array(Some(keys))) => match keys.into_iter().next() {
                    Some(RespReply::Bulk(Some(k))) => k,
                    other => panic!("SCAN found no session: {other:?}"),
                },
                other => panic!("SCAN answered {other:?}"),
            },
            other => panic!("SCAN answered {other:?}"),
        };
        let key = String::from_utf8_lossy(&key).into_owned();
        let usage = match admin
            .command(&["MEMORY", "USAGE", &key])
            .expect("MEMORY USAGE")
        {
            RespReply::Integer(n) => n,
            other => panic!("MEMORY USAGE answered {other:?}"),
        };
        let length = match admin.command(&["STRLEN", &key]).expect("STRLEN") {
            RespReply::Integer(n) => n,
            other => panic!("STRLEN answered {other:?}"),
        };
        memory.push((sealed, key.len(), length, usage, all_in));
    }

    let names = [
        ("session create", raw_set),
        ("session get", raw_get),
        ("session update", raw_set),
        // A put and a take against a SET and a GET.
        (
            "artifact put+take",
            Speed {
                ops: 1.0 / (1.0 / raw_set.ops + 1.0 / raw_get.ops),
                server_us: raw_set.server_us + raw_get.server_us,
                client_us: raw_set.client_us + raw_get.client_us,
            },
        ),
        ("replay check", raw_set),
        ("lockout failure", raw_set),
    ];
    println!(
        "\n| operation | ops/s (8 tasks) | ratio to plain SET/GET | server CPU µs/op | client + server CPU µs/op | CPU ratio |"
    );
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, ours: Speed, raw: Speed| {
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} | {:.1} | {:.2} |",
            ours.ops,
            ours.ops / raw.ops,
            ours.server_us,
            ours.cpu_us(),
            raw.cpu_us() / ours.cpu_us()
        );
    };
    row("plain SET (200 B)", raw_set, raw_set);
    row("plain GET (200 B)", raw_get, raw_get);
    row(
        "script floor: `EVALSHA` of one `SET` (200 B)",
        script_floor,
        raw_set,
    );
    for (j, (name, raw)) in names.iter().enumerate() {
        row(name, results[0][j], *raw);
    }
    println!(
        "\n| with AES-256-GCM | ops/s (8 tasks) | ratio to plaintext | client + server CPU µs/op | CPU ratio to plaintext |"
    );
    println!("|---|---|---|---|---|");
    for (j, (name, _)) in names.iter().enumerate() {
        let (plain, sealed) = (results[0][j], results[1][j]);
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} | {:.2} |",
            sealed.ops,
            sealed.ops / plain.ops,
            sealed.cpu_us(),
            plain.cpu_us() / sealed.cpu_us()
        );
    }
    println!(
        "| (codec alone, one thread: seal + open of 200 B) | plaintext {plain_us:.2} µs | AES-256-GCM {aes_us:.2} µs |"
    );
    println!(
        "\n| session, 200 B data | key | record | MEMORY USAGE of the record | all keys, per session |"
    );
    println!("|---|---|---|---|---|");
    for (sealed, key_len, length, usage, all_in) in &memory {
        let codec = if *sealed { "AES-256-GCM" } else { "plaintext" };
        println!("| {codec} | {key_len} B | {length} B | {usage} B | {all_in:.0} B |");
    }
}

fn used_memory(admin: &mut RespConn) -> i64 {
    let RespReply::Bulk(Some(info)) = admin.command(&["INFO", "memory"]).expect("INFO memory")
    else {
        panic!("INFO did not answer a string");
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("used_memory")
}

/// The server's CPU seconds so far (user + system).
fn server_cpu(admin: &mut RespConn) -> f64 {
    let RespReply::Bulk(Some(info)) = admin.command(&["INFO", "cpu"]).expect("INFO cpu") else {
        panic!("INFO did not answer a string");
    };
    String::from_utf8_lossy(&info)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_user:")
                .or_else(|| l.strip_prefix("used_cpu_sys:"))
        })
        .filter_map(|n| n.trim().parse::<f64>().ok())
        .sum()
}
