//! `check`, `migrate`, `sweep`, `sessions` and `conformance`, run as a user runs them,
//! on the memory backend (the SQL backends: `tests/sql.rs`).

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

fn output_of(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.output().expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const SERVICES: [&str; 9] = [
    "sessions",
    "artifacts",
    "state",
    "replay",
    "lockout",
    "keys",
    "revocations",
    "tokens",
    "registry",
];

#[test]
fn check_on_memory_exits_0_with_a_row_per_service() {
    let (code, stdout, stderr) = output_of(authstate().args(["check", "--backend", "memory:"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for service in SERVICES {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(service) && l.contains("memory")),
            "no row for {service}:\n{stdout}"
        );
    }
    assert!(stdout.contains("LATENCY"), "{stdout}");
    // Schema and TLS come from backend hooks; memory has none.
    assert!(stdout.contains("n/a"), "{stdout}");
    assert!(stdout.contains("none failed"), "{stdout}");
}

#[test]
fn check_with_a_keyring_reaches_all_nine() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(
        dir.path().join("authstate.toml"),
        "[[encryption.keys]]\nid = \"k1\"\nkey_env = \"TEST_CHECK_KEY\"\n",
    )
    .expect("written");
    authstate()
        .current_dir(dir.path())
        .args(["--config", "authstate.toml", "check"])
        .env(
            "TEST_CHECK_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .assert()
        .success()
        .stdout(predicate::str::contains("all 9 services reachable"));
}

#[test]
fn check_fails_with_1_for_a_backend_that_cannot_be_reached() {
    authstate()
        .args(["check", "--backend", "redis://:hunter2@127.0.0.1:1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAILED"))
        .stdout(predicate::str::contains(
            "cannot connect to Redis at 127.0.0.1:1",
        ))
        .stdout(predicate::str::contains("hunter2").not())
        .stderr(predicate::str::contains("9 of 9 checks failed"));
}

#[test]
fn migrate_on_memory_has_nothing_to_do() {
    authstate()
        .args(["migrate", "--backend", "memory:"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "backend cli (memory): nothing to migrate",
        ));
}

#[test]
fn sweep_once_prints_counts_per_contract() {
    let (code, stdout, stderr) = output_of(authstate().args([
        "sweep",
        "--once",
        "--batch-size",
        "100",
        "--backend",
        "memory:",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("swept namespace authstate"), "{stdout}");
    let header = stdout.lines().nth(1).unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["CONTRACT", "EXAMINED", "DELETED", "BATCHES"]
    );
    for contract in [
        "session",
        "artifact",
        "state",
        "replay",
        "lockout",
        "revocation",
        "token",
        "registry",
        "total",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(contract))
            .unwrap_or_else(|| panic!("no row for {contract}:\n{stdout}"));
        let counts: Vec<&str> = row.split_whitespace().skip(1).collect();
        assert_eq!(counts.len(), 3, "{row}");
        assert!(counts.iter().all(|c| c.parse::<u64>().is_ok()), "{row}");
    }
}

#[test]
fn sweep_refuses_bad_settings_with_2() {
    for args in [
        &["sweep", "--once", "--batch-size", "0"][..],
        &["sweep", "--once", "--interval", "soon"],
        &["sweep", "--once", "--interval", "0s"],
        &["sweep", "--once", "--max-deletes-per-second", "0"],
    ] {
        authstate()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[cfg(unix)]
#[test]
fn sweep_runs_until_ctrl_c_then_stops_cleanly() {
    let bin = assert_cmd::cargo::cargo_bin("authstate");
    let mut child = std::process::Command::new(bin)
        .args(["sweep", "--interval", "100ms", "--backend", "memory:"])
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("AUTHSTATE_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    // Two runs, 100 ms apart.
    for _ in 0..2 {
        let line = lines.next().expect("a line").expect("utf-8");
        assert!(line.contains("deleted 0 of 0 examined"), "{line}");
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let started = Instant::now();
    let status = child.wait().expect("exits");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let last = rest.last().cloned().unwrap_or_default();
    assert!(last.starts_with("stopped: "), "{rest:?}");
    assert!(last.contains("0 failed"), "{last}");
}

#[test]
fn sessions_revoke_prints_the_count() {
    authstate()
        .args([
            "sessions",
            "revoke",
            "--subject",
            "alice",
            "--backend",
            "memory:",
        ])
        .assert()
        .success()
        .stdout("revoked 0 sessions of subject \"alice\" in namespace authstate\n");
}

#[test]
fn sessions_list_prints_a_table_or_json() {
    authstate()
        .args([
            "sessions",
            "list",
            "--subject",
            "alice",
            "--backend",
            "memory:",
        ])
        .assert()
        .success()
        .stdout("no live sessions\n");
    let (code, stdout, stderr) = output_of(authstate().args([
        "sessions",
        "list",
        "--subject",
        "alice",
        "--json",
        "--backend",
        "memory:",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(doc["subject"], "alice");
    assert_eq!(doc["namespace"], "authstate");
    assert_eq!(doc["sessions"], serde_json::json!([]));
}

#[test]
fn sessions_need_a_subject() {
    for args in [
        &["sessions", "list"][..],
        &["sessions", "revoke"],
        &["sessions", "revoke", "--subject", ""],
    ] {
        authstate()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--subject"));
    }
}

#[test]
fn conformance_on_memory_passes_and_says_what_it_skipped() {
    let (code, stdout, stderr) =
        output_of(authstate().args(["conformance", "--backend", "memory:"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let last = lines.last().copied().unwrap_or_default();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line is {last:?}"));
    assert!(passed > 100, "{last}");
    let cases = lines.iter().filter(|l| l.starts_with("ok     ")).count();
    assert_eq!(cases, passed);
    let skipped = lines[lines.len() - 2];
    assert!(
        skipped.starts_with("skipped ")
            && skipped.contains("cases that need raw storage access: at_rest, durability"),
        "{skipped}"
    );
    assert!(!stdout.contains("ok     at_rest::"), "{stdout}");
}

#[test]
fn conformance_filter_selects_cases() {
    let (code, stdout, stderr) = output_of(authstate().args([
        "conformance",
        "--filter",
        "artifact::take",
        "--backend",
        "memory:",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with("ok"))
            .all(|l| l.contains("artifact::take")),
        "{stdout}"
    );
    assert!(stdout.ends_with(" passed, 0 failed\n"), "{stdout}");

    authstate()
        .args([
            "conformance",
            "--filter",
            "no-such-case",
            "--backend",
            "memory:",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no conformance case matches"));
}

#[test]
fn conformance_all_runs_the_raw_storage_cases_and_they_fail_without_a_dump() {
    authstate()
        .args([
            "conformance",
            "--all",
            "--filter",
            "at_rest::",
            "--backend",
            "memory:",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAILED at_rest::"))
        .stdout(predicate::str::contains("skipped").not());
}

#[test]
fn conformance_against_a_backend_that_cannot_be_reached_fails_once() {
    authstate()
        .args(["conformance", "--backend", "redis://127.0.0.1:1"])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "cannot connect to Redis at 127.0.0.1:1",
        ));
}

#[test]
fn help_lists_every_command() {
    let (code, stdout, _) = output_of(authstate().arg("--help"));
    assert_eq!(code, 0);
    for command in [
        "bench",
        "check",
        "migrate",
        "sweep",
        "sessions",
        "keys",
        "conformance",
        "config",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} not in:\n{stdout}"
        );
    }
}
