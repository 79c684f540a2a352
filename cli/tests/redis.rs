//! The Redis backend through the binary: a redis-server started by the testkit for each
//! test (never the machine's own Redis).

use std::path::Path;

use assert_cmd::Command;
use authstate_testkit::{RedisServer, require};

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
    assert_eq!(
        output.status.code(),
        Some(0),
        "authstate {args:?}\nstdout:\n{stdout}\nstderr:\n{}",
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
