//! Reaching real servers started by the testkit through `RedisConnection`: standalone (TCP
//! and unix socket), ACL users (password and password file), TLS with a client
//! certificate, Sentinel, Cluster, and a Sentinel failover under load.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authstate_backend_redis::{
    NodeAddress, RedisConfig, RedisConnection, SentinelConfig, TlsConfig, TlsVersion,
};
use authstate_core::{ErrorKind, SecretString};
use authstate_testkit::{
    AclUser, RedisCluster, RedisOptions, RedisSentinelSet, RedisServer, SentinelOptions,
    TlsRedisOptions, TlsRedisServer, require,
};
use redis::Value;

async fn connect(config: &RedisConfig) -> RedisConnection {
    match RedisConnection::connect(config).await {
        Ok(conn) => conn,
        Err(e) => panic!("connecting with {config:?}: {e}"),
    }
}

async fn ping(conn: &mut RedisConnection) {
    let reply: String = redis::cmd("PING")
        .query_async(conn)
        .await
        .expect("PING through RedisConnection");
    assert_eq!(reply, "PONG");
}

async fn set_get(conn: &mut RedisConnection, key: &str, value: &str) {
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("SET {key}: {e}"));
    let got: Option<String> = redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"));
    assert_eq!(got.as_deref(), Some(value), "{key}");
}

#[tokio::test]
async fn standalone_by_url_and_by_host() {
    let server = require(RedisServer::start());
    let mut conn = connect(&RedisConfig::from_url(server.url())).await;
    ping(&mut conn).await;
    set_get(&mut conn, "ns:url", "1").await;
    assert!(format!("{conn:?}").contains("standalone"));

    let mut by_host = connect(&RedisConfig {
        database_index: Some(2),
        connections: 3,
        ..RedisConfig::from_host(server.host(), server.port())
    })
    .await;
    ping(&mut by_host).await;
    // Every one of the three connections selected database 2.
    for i in 0..6 {
        set_get(&mut by_host, &format!("db2:{i}"), "x").await;
    }
    let in_db0: Option<String> = conn
        .query(redis::cmd("GET").arg("db2:0"))
        .await
        .expect("GET");
    assert_eq!(in_db0, None, "the key went to database 0");
    let size: i64 = by_host.query(&redis::cmd("DBSIZE")).await.expect("DBSIZE");
    assert_eq!(size, 6);
}

#[tokio::test]
async fn standalone_over_a_unix_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("redis.sock");
    let _server = require(RedisServer::start_with(RedisOptions {
        extra_args: vec![
            "--unixsocket".into(),
            socket.display().to_string(),
            "--unixsocketperm".into(),
            "700".into(),
        ],
        ..RedisOptions::default()
    }));
    let mut conn = connect(&RedisConfig {
        socket: Some(socket.clone()),
        ..RedisConfig::default()
    })
    .await;
    ping(&mut conn).await;
    let mut by_url = connect(&RedisConfig::from_url(format!(
        "redis+unix://{}?db=1",
        socket.display()
    )))
    .await;
    set_get(&mut by_url, "unix", "ok").await;
}

#[tokio::test]
async fn acl_user_with_password_and_with_password_file() {
    let server = require(RedisServer::start_with(RedisOptions {
        user: Some(AclUser::new("app", "acl-pw").keys("ns:*")),
        default_user_off: true,
        ..RedisOptions::default()
    }));
    let mut conn = connect(&RedisConfig {
        username: Some("app".into()),
        password: Some(SecretString::new("acl-pw")),
        ..RedisConfig::from_host(server.host(), server.port())
    })
    .await;
    ping(&mut conn).await;
    set_get(&mut conn, "ns:1", "v").await;
    // The user is held to its key pattern: NOPERM is an error, and not "Unavailable".
    let denied = conn
        .query::<()>(redis::cmd("SET").arg("other:1").arg("v"))
        .await
        .expect_err("NOPERM");
    assert_ne!(denied.kind(), ErrorKind::Unavailable, "{denied}");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("redis-password");
    std::fs::write(&file, "acl-pw\n").expect("write the password file");
    let mut from_file = connect(&RedisConfig {
        username: Some("app".into()),
        password_file: Some(file),
        ..RedisConfig::from_host(server.host(), server.port())
    })
    .await;
    ping(&mut from_file).await;

    let mut from_url = connect(&RedisConfig::from_url(
        server.user_url().expect("a user url"),
    ))
    .await;
    ping(&mut from_url).await;
}

fn tls_config(server: &TlsRedisServer) -> TlsConfig {
    TlsConfig {
        ca_certificates_file: Some(server.files().ca.clone()),
        certificate_chain: Some(server.tls().client_cert_pem.clone()),
        private_key_file: Some(server.files().client_key.clone()),
        ..TlsConfig::default()
    }
}

#[tokio::test]
async fn tls_with_a_client_certificate() {
    let server = require(TlsRedisServer::start_with(TlsRedisOptions {
        require_client_cert: true,
        user: Some(AclUser::new("app", "tls-pw")),
        default_user_off: true,
        ..TlsRedisOptions::default()
    }));
    let config = RedisConfig {
        username: Some("app".into()),
        password: Some(SecretString::new("tls-pw")),
        tls: Some(tls_config(&server)),
        ..RedisConfig::from_host(server.host(), server.port())
    };
    let mut conn = connect(&config).await;
    ping(&mut conn).await;
    set_get(&mut conn, "tls:1", "v").await;
    assert!(format!("{conn:?}").contains("tls: true"), "{conn:?}");

    // The same through a rediss:// URL, with the CA and the key given inline.
    let mut by_url = connect(&RedisConfig {
        tls: Some(TlsConfig {
            ca_certificates: Some(server.tls().ca_pem.clone()),
            certificate_chain: Some(server.tls().client_cert_pem.clone()),
            private_key: Some(SecretString::new(server.tls().client_key_pem.clone())),
            ..TlsConfig::default()
        }),
        ..RedisConfig::from_url(format!("rediss://app:tls-pw@127.0.0.1:{}", server.port()))
    })
    .await;
    ping(&mut by_url).await;

    // A name the certificate carries, other than the host connected to.
    let mut named = config.clone();
    if let Some(tls) = named.tls.as_mut() {
        tls.server_name = Some("localhost".into());
    }
    ping(&mut connect(&named).await).await;

    // Each protocol version alone.
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        let mut pinned = config.clone();
        if let Some(tls) = pinned.tls.as_mut() {
            tls.minimum_version = Some(version);
            tls.maximum_version = Some(version);
        }
        ping(&mut connect(&pinned).await).await;
    }
}

#[tokio::test]
async fn tls_versions_are_enforced() {
    let server = require(TlsRedisServer::start_with(TlsRedisOptions {
        extra_args: vec!["--tls-protocols".into(), "TLSv1.2".into()],
        ..TlsRedisOptions::default()
    }));
    let mut config = RedisConfig {
        tls: Some(tls_config(&server)),
        ..RedisConfig::from_host(server.host(), server.port())
    };
    ping(&mut connect(&config).await).await;
    if let Some(tls) = config.tls.as_mut() {
        tls.minimum_version = Some(TlsVersion::Tls13);
    }
    let err = RedisConnection::connect(&config)
        .await
        .expect_err("a TLS 1.2-only server refuses a TLS 1.3-only client");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
}

/// A `tracing` subscriber that keeps what is logged, for the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

#[tokio::test]
async fn insecure_skip_verify_warns_on_every_connect() {
    let server = require(TlsRedisServer::start());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = RedisConfig {
        connections: 2,
        tls: Some(TlsConfig {
            insecure_skip_verify: true,
            ..TlsConfig::default()
        }),
        ..RedisConfig::from_host(server.host(), server.port())
    };
    ping(&mut connect(&config).await).await;
    ping(&mut connect(&config).await).await;
    let logged = captured.text();
    let warnings = logged
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("tls.insecure_skip_verify"))
        .count();
    assert_eq!(warnings, 4, "one warning per connection opened:\n{logged}");
}

#[tokio::test]
async fn sentinel_finds_the_master() {
    let set = require(RedisSentinelSet::start());
    let mut conn = connect(&RedisConfig::from_url(set.url())).await;
    ping(&mut conn).await;
    set_get(&mut conn, "sentinel:1", "v").await;
    let role: Vec<Value> = conn.query(&redis::cmd("ROLE")).await.expect("ROLE");
    assert_eq!(role.first(), Some(&Value::BulkString(b"master".to_vec())));
    assert!(format!("{conn:?}").contains("sentinel"), "{conn:?}");

    // The same with a sentinel section listing nodes as tables and strings.
    let addrs = set.sentinel_addrs();
    let mut by_section = connect(&RedisConfig {
        sentinel: Some(SentinelConfig {
            master_name: set.master_name().into(),
            nodes: vec![
                NodeAddress::new(addrs[0].ip().to_string(), addrs[0].port()),
                NodeAddress::new(addrs[1].ip().to_string(), addrs[1].port()),
            ],
            ..SentinelConfig::default()
        }),
        ..RedisConfig::default()
    })
    .await;
    ping(&mut by_section).await;
}

#[tokio::test]
async fn sentinel_with_credentials_for_sentinels_and_data_nodes() {
    let set = require(RedisSentinelSet::start_with(SentinelOptions {
        master_name: "guarded".into(),
        sentinel_password: Some("sentinel-pw".into()),
        data_user: Some(AclUser::new("app", "data-pw")),
        ..SentinelOptions::default()
    }));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sentinel-password");
    std::fs::write(&file, "sentinel-pw\n").expect("write");
    let addrs = set.sentinel_addrs();
    let config = RedisConfig {
        username: Some("app".into()),
        password: Some(SecretString::new("data-pw")),
        sentinel: Some(SentinelConfig {
            master_name: "guarded".into(),
            nodes: addrs
                .iter()
                .map(|a| NodeAddress::new(a.ip().to_string(), a.port()))
                .collect(),
            password_file: Some(file),
            ..SentinelConfig::default()
        }),
        ..RedisConfig::default()
    };
    let mut conn = connect(&config).await;
    ping(&mut conn).await;
    set_get(&mut conn, "guarded:1", "v").await;

    let mut wrong = config.clone();
    if let Some(s) = wrong.sentinel.as_mut() {
        s.password_file = None;
        s.password = Some(SecretString::new("not-the-sentinel-pw"));
    }
    let err = RedisConnection::connect(&wrong)
        .await
        .expect_err("wrong sentinel password");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
}

#[tokio::test]
async fn cluster_spreads_keys_over_the_primaries() {
    let cluster = require(RedisCluster::start());
    let mut conn = connect(&RedisConfig::from_url(cluster.url())).await;
    ping(&mut conn).await;
    assert!(format!("{conn:?}").contains("cluster"), "{conn:?}");
    for i in 0..30 {
        set_get(&mut conn, &format!("key:{i}"), &i.to_string()).await;
    }
    // The keys landed on every primary.
    for addr in cluster.addrs() {
        let node = connect(&RedisConfig::from_host(addr.ip().to_string(), addr.port())).await;
        let size: i64 = node.query(&redis::cmd("DBSIZE")).await.expect("DBSIZE");
        assert!(size > 0, "no key on {addr}");
    }
    // Seed nodes in a section, one of them only.
    let first = cluster.addrs()[0];
    let mut seeded = connect(&RedisConfig {
        cluster: Some(authstate_backend_redis::ClusterConfig {
            nodes: vec![NodeAddress::new(first.ip().to_string(), first.port())],
        }),
        connections: 2,
        ..RedisConfig::default()
    })
    .await;
    for i in 0..10 {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query_async(&mut seeded)
            .await
            .expect("GET");
        assert_eq!(got, Some(i.to_string()));
    }
}

/// What one worker saw while the primary was killed under it.
#[derive(Debug, Default)]
struct WorkerLog {
    ok: u64,
    errors: Vec<(Duration, ErrorKind, String)>,
    wrong_answers: Vec<String>,
    last_ok: Option<Duration>,
    /// The longest time between two successful GETs, and when it ended.
    longest_gap: (Duration, Duration),
}

/// How a failover is brought about.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// SIGKILL the primary: in-flight commands break, the sentinels need
    /// `down-after-milliseconds` to notice.
    KillPrimary,
    /// `SENTINEL FAILOVER`: the old primary lives on and is turned into a replica.
    Switchover,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_under_load() {
    failover_under_load(Trigger::KillPrimary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_switchover_under_load() {
    failover_under_load(Trigger::Switchover).await;
}

/// A steady loop of SET, WAIT, GET on four tasks sharing one handle while the master
/// changes: every error must be `Unavailable`, every GET must return the last write a
/// replica acknowledged (or a later one), and every task must work again afterwards
/// without a new handle.
async fn failover_under_load(trigger: Trigger) {
    let mut set = require(RedisSentinelSet::start());
    let config = RedisConfig {
        connect_timeout: Some(Duration::from_secs(2)),
        response_timeout: Some(Duration::from_secs(1)),
        connections: 2,
        ..RedisConfig::from_url(set.url())
    };
    let conn = connect(&config).await;
    let start = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let conn = conn.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut log = WorkerLog::default();
            let key = format!("failover:{worker}");
            // The values GET may return: the last write that a replica acknowledged
            // (WAIT), or the one just written if its acknowledgement is unknown.
            let mut durable: Option<String> = None;
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let value = format!("{worker}-{n}");
                let written = conn
                    .query::<()>(redis::cmd("SET").arg(&key).arg(&value))
                    .await;
                let uncertain = match written {
                    Ok(()) => {
                        let acked: Result<i64, _> =
                            conn.query(redis::cmd("WAIT").arg(1).arg(100)).await;
                        if matches!(acked, Ok(1)) {
                            durable = Some(value.clone());
                            None
                        } else {
                            Some(value.clone())
                        }
                    }
                    Err(e) => {
                        // Applied or not, the next successful SET overwrites it.
                        log.errors.push((start.elapsed(), e.kind(), e.to_string()));
                        continue;
                    }
                };
                match conn
                    .query::<Option<String>>(redis::cmd("GET").arg(&key))
                    .await
                {
                    Ok(got) => {
                        let allowed = got == durable || (got.is_some() && got == uncertain);
                        if !allowed {
                            log.wrong_answers.push(format!(
                                "GET {key} = {got:?}, expected {durable:?} or {uncertain:?}"
                            ));
                        }
                        log.ok += 1;
                        let now = start.elapsed();
                        let gap = now - log.last_ok.unwrap_or(now);
                        if gap > log.longest_gap.0 {
                            log.longest_gap = (gap, now);
                        }
                        log.last_ok = Some(now);
                    }
                    Err(e) => log.errors.push((start.elapsed(), e.kind(), e.to_string())),
                }
            }
            log
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = start.elapsed();
    let old = match trigger {
        Trigger::KillPrimary => set.kill_primary().expect("a primary to kill"),
        Trigger::Switchover => require(set.request_failover()),
    };
    let promoted = tokio::task::spawn_blocking({
        let timeout = Duration::from_secs(30);
        move || {
            let promoted = set.wait_for_failover(old, timeout);
            (set, promoted)
        }
    })
    .await
    .expect("waiting for the failover");
    let (set, promoted) = promoted;
    let promoted = promoted.unwrap_or_else(|e| panic!("{e}\n{}", set.logs()));
    let promoted_at = start.elapsed();
    // Run on against the new master for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut logs = Vec::new();
    for worker in workers {
        logs.push(worker.await.expect("worker"));
    }

    let errors: Vec<_> = logs.iter().flat_map(|l| l.errors.iter()).collect();
    let first_error = errors.iter().map(|e| e.0).min();
    let last_error = errors.iter().map(|e| e.0).max();
    let total_ok: u64 = logs.iter().map(|l| l.ok).sum();
    let mut kinds: Vec<String> = errors.iter().map(|e| e.1.to_string()).collect();
    kinds.sort();
    kinds.dedup();
    eprintln!(
        "{trigger:?}: started at {killed_at:?}, sentinels named {promoted} at {promoted_at:?}; \
         {} errors between {first_error:?} and {last_error:?} (kinds {kinds:?}); {total_ok} good GETs",
        errors.len()
    );
    for (at, kind, message) in errors.iter().take(12) {
        eprintln!("  {at:?} {kind}: {message}");
    }
    for (i, log) in logs.iter().enumerate() {
        eprintln!(
            "  worker {i}: {} good GETs, {} errors, longest gap between good GETs {:?} (ended at {:?})",
            log.ok,
            log.errors.len(),
            log.longest_gap.0,
            log.longest_gap.1
        );
    }

    let wrong: Vec<_> = logs.iter().flat_map(|l| l.wrong_answers.iter()).collect();
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    for (at, kind, message) in &errors {
        assert_eq!(*kind, ErrorKind::Unavailable, "at {at:?}: {message}");
    }
    if matches!(trigger, Trigger::KillPrimary) {
        assert!(!errors.is_empty(), "killing the primary went unnoticed");
    }
    // Every worker works again on the promoted replica, without a new client.
    for (i, log) in logs.iter().enumerate() {
        let last_ok = log.last_ok.expect("some GET succeeded");
        assert!(
            last_ok > promoted_at,
            "worker {i} did not resume after the failover (last success {last_ok:?})"
        );
    }
    let role: Vec<Value> = conn.query(&redis::cmd("ROLE")).await.expect("ROLE");
    assert_eq!(role.first(), Some(&Value::BulkString(b"master".to_vec())));
    drop(set);
}
