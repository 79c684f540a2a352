//! The Redis backend through the binary: a redis-server (or a Cluster of three primaries)
//! started by the testkit for each test (never the machine's own Redis).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use authstate::redis::{BackendOptions, RedisBackend, RedisConfig, RedisConnection};
use authstate::{Clock as _, ManualClock, Namespace, NewSession, StoreConfig, SystemClock};
use authstate_testkit::{RedisCluster, RedisServer, require};

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

/// `authstate ARGS` in `dir`, which must succeed; its stdout.
fn ok_in(dir: &Path, args: &[&str]) -> String {
    let output = authstate()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // The failed conformance cases first: a long run's output gets cut in the middle.
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(
        output.status.code(),
        Some(0),
        "authstate {args:?}\nfailed:\n{}\nstdout:\n{stdout}\nstderr:\n{}",
        failed.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// Checks the bench's table: every login operation, and no failures.
fn assert_bench_table(stdout: &str) {
    assert!(
        stdout.starts_with("backend redis, workload login: 200 iterations"),
        "{stdout}"
    );
    for op in [
        "session.create",
        "artifact.take",
        "revocation.revoke",
        "total",
    ] {
        assert!(stdout.contains(op), "no {op} in\n{stdout}");
    }
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("a total row");
    assert!(total.trim_end().ends_with(" 0"), "errors in: {total}");
}

#[test]
fn bench_check_and_migrate_on_redis() {
    let server = require(RedisServer::start());
    let url = server.url();
    let dir = tempdir();
    let stdout = ok_in(dir.path(), &["migrate", "--backend", &url]);
    assert!(
        stdout.contains("backend cli (redis): nothing to migrate (Redis keeps no schema)"),
        "{stdout}"
    );
    let stdout = ok_in(dir.path(), &["bench", "--ops", "200", "--backend", &url]);
    assert_bench_table(&stdout);
    let stdout = ok_in(dir.path(), &["check", "--backend", &url]);
    for shown in ["Redis 7.", "none (Redis keeps no schema)", "none failed"] {
        assert!(stdout.contains(shown), "{shown:?} not in\n{stdout}");
    }
    assert!(
        !dir.path().join("authstate.db").exists(),
        "--backend replaces the default"
    );
}

#[test]
fn conformance_on_redis_passes() {
    let server = require(RedisServer::start());
    let dir = tempdir();
    let stdout = ok_in(dir.path(), &["conformance", "--backend", &server.url()]);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("passed, 0 failed") && !last.starts_with("0 passed"),
        "{last}\n{stdout}"
    );
}

#[test]
fn behaviour_options_in_a_config_file_are_used() {
    let server = require(RedisServer::start());
    let dir = tempdir();
    std::fs::write(
        dir.path().join("authstate.toml"),
        format!(
            "[backends.cache]\nurl = \"{}\"\n[backends.cache.options]\nconnections = 3\n\
             timeout = 2000\nserver_expiry_grace = \"30s\"\n",
            server.url()
        ),
    )
    .expect("written");
    let stdout = ok_in(
        dir.path(),
        &["bench", "--ops", "200", "--config", "authstate.toml"],
    );
    assert_bench_table(&stdout);

    // Durable writes against a server without replicas: every write fails, closed.
    std::fs::write(
        dir.path().join("durable.toml"),
        format!(
            "[backends.cache]\nurl = \"{}\"\n[backends.cache.options]\ndurable_replicas = 1\n\
             durable_timeout = \"50ms\"\n",
            server.url()
        ),
    )
    .expect("written");
    let output = authstate()
        .current_dir(dir.path())
        .args(["check", "--config", "durable.toml"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}

/// The `DELETED` column of `contract`'s row in the table of `authstate sweep --once`.
fn deleted(sweep: &str, contract: &str) -> u64 {
    let row = sweep
        .lines()
        .find(|l| l.split_whitespace().next() == Some(contract))
        .unwrap_or_else(|| panic!("no row for {contract}:\n{sweep}"));
    row.split_whitespace()
        .nth(2)
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no deleted count in {row:?}"))
}

/// Records in the namespace `authstate` of the cluster at `url`, written through the
/// library as an IdP would: three live sessions of alice, and five sessions of bob, ten
/// states and ten artifacts whose time ended an hour ago. Those are kept by the server
/// (a two-hour expiry grace) until the sweeper deletes them. Their keys fall in many
/// hash slots, so they are spread over every primary.
fn write_records(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let connection = RedisConnection::connect(&RedisConfig::from_url(url))
            .await
            .expect("connects to the cluster");
        let options = BackendOptions {
            server_expiry_grace: Duration::from_secs(2 * 3600),
            ..BackendOptions::default()
        };
        let backend = RedisBackend::new(connection, options);
        let namespace = Namespace::new("authstate").expect("valid");
        let live = backend
            .open(StoreConfig::new(namespace.clone()))
            .expect("opens");
        let an_hour_ago = ManualClock::starting_now();
        an_hour_ago.set(SystemClock.now().saturating_sub(Duration::from_secs(3600)));
        let past = backend
            .open(StoreConfig {
                clock: Arc::new(an_hour_ago),
                ..StoreConfig::new(namespace)
            })
            .expect("opens");
        let session = |subject: &str| NewSession {
            subject: subject.into(),
            data: b"claims".to_vec(),
            lifetime: Duration::from_secs(60),
            idle_timeout: None,
        };
        for _ in 0..3 {
            live.sessions
                .create(NewSession {
                    lifetime: Duration::from_secs(3600),
                    ..session("alice")
                })
                .await
                .expect("created");
        }
        for _ in 0..5 {
            past.sessions.create(session("bob")).await.expect("created");
        }
        for i in 0..10 {
            let minute = Duration::from_secs(60);
            past.state
                .put(&format!("state-{i}"), b"v".to_vec(), minute)
                .await
                .expect("put");
            past.artifacts
                .put(&format!("code-{i}"), b"v".to_vec(), minute)
                .await
                .expect("put");
        }
    });
}

#[test]
fn check_bench_sessions_and_sweep_on_a_cluster() {
    let cluster = require(RedisCluster::start());
    let url = cluster.url();
    let dir = tempdir();

    let stdout = ok_in(dir.path(), &["check", "--backend", &url]);
    for shown in [
        "Redis 7.",
        "Cluster of 3 primaries (state ok)",
        "none (Redis keeps no schema)",
        "none failed",
    ] {
        assert!(stdout.contains(shown), "{shown:?} not in\n{stdout}");
    }

    let stdout = ok_in(dir.path(), &["bench", "--ops", "200", "--backend", &url]);
    assert_bench_table(&stdout);

    write_records(&url);
    let stdout = ok_in(
        dir.path(),
        &["sessions", "list", "--subject", "alice", "--backend", &url],
    );
    assert!(stdout.ends_with("3 live sessions\n"), "{stdout}");

    // The sweeper finds what ended an hour ago on every primary, and nothing twice.
    let stdout = ok_in(dir.path(), &["sweep", "--once", "--backend", &url]);
    assert!(stdout.starts_with("swept namespace authstate"), "{stdout}");
    assert_eq!(deleted(&stdout, "session"), 5, "{stdout}");
    assert_eq!(deleted(&stdout, "state"), 10, "{stdout}");
    assert_eq!(deleted(&stdout, "artifact"), 10, "{stdout}");
    let stdout = ok_in(dir.path(), &["sweep", "--once", "--backend", &url]);
    assert_eq!(deleted(&stdout, "total"), 0, "{stdout}");

    let stdout = ok_in(
        dir.path(),
        &[
            "sessions",
            "revoke",
            "--subject",
            "alice",
            "--backend",
            &url,
        ],
    );
    assert!(
        stdout.starts_with("revoked 3 sessions of subject \"alice\""),
        "{stdout}"
    );
    let stdout = ok_in(
        dir.path(),
        &["sessions", "list", "--subject", "alice", "--backend", &url],
    );
    assert_eq!(stdout, "no live sessions\n");

    // The seed nodes as an option: two of the three are enough to find the cluster.
    let seeds: Vec<String> = cluster.addrs()[..2]
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    std::fs::write(
        dir.path().join("authstate.toml"),
        format!(
            "[backends.cluster]\nkind = \"redis\"\n[backends.cluster.options]\nconnections = 1\n\
             cluster = {{ nodes = [{}] }}\n",
            seeds.join(", ")
        ),
    )
    .expect("written");
    let stdout = ok_in(dir.path(), &["check", "--config", "authstate.toml"]);
    assert!(
        stdout.contains("Cluster of 3 primaries (state ok)") && stdout.contains("none failed"),
        "{stdout}"
    );
}

#[test]
fn conformance_on_a_cluster_passes_every_case() {
    let cluster = require(RedisCluster::start());
    let dir = tempdir();
    let stdout = ok_in(dir.path(), &["conformance", "--backend", &cluster.url()]);
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    let selected: usize = first
        .strip_prefix("running ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no case count in {first:?}"));
    let cases: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAILED "))
        .collect();
    assert_eq!(cases.len(), selected, "{stdout}");
    assert!(selected > 100, "{first}");
    assert!(cases.iter().all(|l| l.starts_with("ok ")), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(last, format!("{selected} passed, 0 failed"), "{stdout}");
}
