//! The `authstate` binary, run as a user runs it.

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use predicates::prelude::*;
use serde_json::Value;

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let output = cmd.output().expect("the binary runs");
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn bench_json(workload: &str, ops: u64) -> Value {
    let out = stdout_of(authstate().args([
        "bench",
        "--workload",
        workload,
        "--ops",
        &ops.to_string(),
        "--concurrency",
        "4",
        "--json",
        "--backend",
        "memory:",
    ]));
    serde_json::from_str(&out).expect("--json prints one JSON object")
}

fn count(report: &Value, op: &str) -> u64 {
    report["operations"][op]["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count for {op} in {report}"))
}

#[test]
fn bench_prints_a_table_of_operations() {
    authstate()
        .args(["bench", "--ops", "200", "--backend", "memory:"])
        .assert()
        .success()
        .stdout(predicate::str::contains("session.create"))
        .stdout(predicate::str::contains("artifact.take"))
        .stdout(predicate::str::contains("p99"))
        .stdout(predicate::str::contains("total"));
}

#[test]
fn bench_json_counts_every_login_operation() {
    let report = bench_json("login", 200);
    assert_eq!(report["backend"], "memory");
    assert_eq!(report["workload"], "login");
    assert_eq!(report["counts"], "iterations");
    let ops = report["operations"]
        .as_object()
        .expect("operations by name");
    assert_eq!(ops.len(), 12, "{report}");
    for (name, stats) in ops {
        // A login puts two artifacts: the PAR request URI and the authorization code.
        let per_login = if name == "artifact.put" { 2 } else { 1 };
        assert_eq!(stats["count"], 200 * per_login, "{name}");
        assert_eq!(stats["errors"], 0, "{name}: {}", stats["first_error"]);
        for key in ["p50_ns", "p90_ns", "p99_ns", "max_ns"] {
            assert!(stats[key].is_u64(), "{name}.{key}");
        }
        assert!(stats["p50_ns"].as_u64() <= stats["p99_ns"].as_u64());
        assert!(stats["p99_ns"].as_u64() <= stats["max_ns"].as_u64());
    }
    assert_eq!(report["total"]["count"], 200 * 13);
    assert_eq!(report["total"]["errors"], 0);
}

#[test]
fn bench_json_other_workloads_make_exactly_ops_calls() {
    for (workload, ops) in [
        ("sessions", 100),
        ("artifacts", 100),
        ("replay", 101),
        ("lockout", 99),
        ("tokens", 98),
    ] {
        let report = bench_json(workload, ops);
        assert_eq!(report["counts"], "operations");
        assert_eq!(report["total"]["count"], ops, "{workload}");
        assert_eq!(report["total"]["errors"], 0, "{workload}: {report}");
    }
    // 100 operations of 7-call session life cycles: 15 whole ones and 2 calls.
    let report = bench_json("sessions", 100);
    assert_eq!(count(&report, "session.create"), 15);
    assert_eq!(count(&report, "session.get"), 15);
    assert_eq!(count(&report, "session.delete_by_subject"), 14);
}

#[test]
fn unknown_backend_scheme_exits_2_and_names_it() {
    authstate()
        .args(["bench", "--ops", "1", "--backend", "mongodb://db:27017"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mongodb"))
        .stderr(predicate::str::contains("memory:"))
        .stdout(predicate::str::is_empty());
}

#[test]
fn an_unreachable_backend_is_a_runtime_failure_without_echoing_the_password() {
    authstate()
        .args(["bench", "--ops", "1"])
        .env("AUTHSTATE_BACKEND", "redis://:hunter2@127.0.0.1:1")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "redis: unavailable: cannot connect to Redis at 127.0.0.1:1",
        ))
        .stderr(predicate::str::contains("hunter2").not());
}

#[test]
fn bad_bench_arguments_are_usage_errors() {
    for args in [
        &["bench", "--ops", "0"][..],
        &["bench", "--workload", "checkout"],
        &["bench", "--concurrency", "0"],
        &["bench", "--payload-bytes", "1000000"],
    ] {
        authstate().args(args).assert().code(2);
    }
}

#[test]
fn keys_generate_prints_a_32_byte_key() {
    let out = stdout_of(authstate().args(["keys", "generate"]));
    assert!(out.contains("AES-256-GCM"), "{out}");
    assert_eq!(decoded_key(&out).len(), 32);
    assert!(field(&out, "key id:").starts_with('k'), "{out}");
}

#[test]
fn keys_generate_aes128_prints_a_16_byte_key_with_the_given_id() {
    let out = stdout_of(authstate().args(["keys", "generate", "--aes128", "--id", "2026-q3"]));
    assert!(out.contains("AES-128-GCM"), "{out}");
    assert_eq!(decoded_key(&out).len(), 16);
    assert_eq!(field(&out, "key id:"), "2026-q3");
}

#[test]
fn keys_generate_makes_a_new_key_every_time() {
    let a = stdout_of(authstate().args(["keys", "generate"]));
    let b = stdout_of(authstate().args(["keys", "generate"]));
    assert_ne!(decoded_key(&a), decoded_key(&b));
}

#[test]
fn keys_generate_refuses_a_bad_id() {
    authstate()
        .args(["keys", "generate", "--id", "not a key id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--id"))
        .stdout(predicate::str::is_empty());
}

#[test]
fn help_describes_the_commands_and_the_default_backend() {
    authstate()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("bench"))
        .stdout(predicate::str::contains("keys"))
        .stdout(predicate::str::contains("memory:"));
    authstate()
        .args(["bench", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--workload"))
        .stdout(predicate::str::contains("login"));
}

fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {out}"))
        .trim()
}

fn decoded_key(out: &str) -> Vec<u8> {
    STANDARD
        .decode(field(out, "key:"))
        .expect("the key is standard base64")
}
