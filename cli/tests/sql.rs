//! The SQL backends through the binary, as a user runs it: the embedded default (a
//! SQLite file in the working directory), explicit SQLite files, and the PostgreSQL and
//! MariaDB servers of this machine (a database per test run, made by the testkit).

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use authstate::sql::{SqlBackend, SqlConfig};
use authstate::{Namespace, NewSession, StoreConfig};
use authstate_testkit::{mysql_database, postgres_database, require};
use predicates::prelude::*;

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

/// `authstate ARGS` in `dir`: exit status, stdout, stderr.
fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = authstate()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `authstate ARGS` in `dir`, which must succeed; its stdout and stderr.
fn ok_in(dir: &Path, args: &[&str]) -> (String, String) {
    let (code, stdout, stderr) = run_in(dir, args);
    // The failed conformance cases first: a long run's output gets cut in the middle.
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(
        code,
        0,
        "authstate {args:?}\nfailed:\n{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        failed.join("\n")
    );
    (stdout, stderr)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// Checks the bench's table: every login operation, and no failures.
fn assert_bench_table(stdout: &str, backend: &str) {
    assert!(
        stdout.starts_with(&format!(
            "backend {backend}, workload login: 200 iterations"
        )),
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

/// The README's first command: no config, nothing prepared.
#[test]
fn bench_without_a_config_creates_authstate_db_in_the_working_directory() {
    let dir = tempdir();
    let (stdout, stderr) = ok_in(dir.path(), &["bench", "--ops", "200"]);
    assert_bench_table(&stdout, "sqlite");
    assert_eq!(
        stderr
            .matches("created authstate.db (SQLite) in the working directory")
            .count(),
        1,
        "{stderr}"
    );
    assert!(dir.path().join("authstate.db").is_file());

    // The second run finds it and says nothing about it.
    let (stdout, stderr) = ok_in(dir.path(), &["bench", "--ops", "200"]);
    assert_bench_table(&stdout, "sqlite");
    assert!(!stderr.contains("created"), "{stderr}");
}

#[test]
fn every_command_works_on_a_fresh_directory_without_a_config() {
    for args in [
        &["check"][..],
        &["sweep", "--once"],
        &["sessions", "list", "--subject", "alice"],
        &["sessions", "revoke", "--subject", "alice"],
        &["migrate"],
        &["conformance", "--filter", "artifact::"],
    ] {
        let dir = tempdir();
        let (_, stderr) = ok_in(dir.path(), args);
        assert!(
            stderr.contains("created authstate.db (SQLite) in the working directory"),
            "{args:?}: {stderr}"
        );
        assert!(dir.path().join("authstate.db").is_file(), "{args:?}");
    }
}

#[test]
fn an_explicit_sqlite_file_needs_migrate_first() {
    let dir = tempdir();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());

    let (code, stdout, stderr) = run_in(dir.path(), &["bench", "--ops", "200", "--backend", &url]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("run `authstate migrate`"), "{stderr}");
    assert!(
        !dir.path().join("x.db").exists(),
        "a refused bench must not create the file"
    );

    let (stdout, _) = ok_in(dir.path(), &["migrate", "--backend", &url]);
    assert!(
        stdout.contains(
            "backend cli (sqlite), namespace authstate: created the tables at schema version 2 (migration 1, 2)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("namespace bench (where `authstate bench` writes): created the tables"),
        "{stdout}"
    );
    let (stdout, stderr) = ok_in(dir.path(), &["bench", "--ops", "200", "--backend", &url]);
    assert_bench_table(&stdout, "sqlite");
    assert!(!stderr.contains("created"), "{stderr}");
    assert!(
        !dir.path().join("authstate.db").exists(),
        "--backend replaces the default"
    );
}

#[test]
fn an_existing_file_without_tables_needs_migrate_too() {
    let dir = tempdir();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    // A migrate of another namespace leaves this one without tables.
    dir_config(dir.path(), &url, "other");
    ok_in(dir.path(), &["--config", "other.toml", "migrate"]);
    let (code, _, stderr) = run_in(dir.path(), &["sweep", "--once", "--backend", &url]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "namespace authstate: the authstate tables do not exist yet; run `authstate migrate`"
        ),
        "{stderr}"
    );
}

fn dir_config(dir: &Path, url: &str, namespace: &str) {
    std::fs::write(
        dir.join(format!("{namespace}.toml")),
        format!("namespace = \"{namespace}\"\n[backends.db]\nurl = \"{url}\"\n"),
    )
    .expect("written");
}

#[test]
fn migrate_twice_is_idempotent_and_says_so() {
    let dir = tempdir();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let (first, _) = ok_in(dir.path(), &["migrate", "--backend", &url]);
    assert_eq!(
        first
            .matches("created the tables at schema version 2")
            .count(),
        2,
        "{first}"
    );
    let (second, _) = ok_in(dir.path(), &["migrate", "--backend", &url]);
    assert_eq!(
        second,
        "backend cli (sqlite), namespace authstate: already at schema version 2, nothing to do\n\
         backend cli (sqlite), namespace bench (where `authstate bench` writes): already at \
         schema version 2, nothing to do\n"
    );
}

#[test]
fn check_on_sqlite_exits_0_and_shows_the_schema() {
    let dir = tempdir();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    ok_in(dir.path(), &["migrate", "--backend", &url]);
    let (stdout, _) = ok_in(dir.path(), &["check", "--backend", &url]);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" cli ") && l.contains("sqlite"))
        .collect();
    assert_eq!(rows.len(), 9, "{stdout}");
    for row in rows {
        assert!(row.contains("version 2 (current)"), "{row}");
        assert!(row.contains("SQLite file"), "{row}");
    }
    assert!(stdout.contains("none failed"), "{stdout}");
}

#[test]
fn conformance_on_a_sqlite_file_passes() {
    let dir = tempdir();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    // No migrate: the suite creates each case's namespace itself.
    let (stdout, stderr) = ok_in(dir.path(), &["conformance", "--backend", &url]);
    let last = stdout.lines().last().unwrap_or_default();
    let passed: u32 = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the last line is {last:?}\n{stdout}"));
    assert!(passed > 150, "{last}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // Every case passed, so the run dropped every namespace it opened.
    assert!(!stderr.contains("stay in backend"), "{stderr}");
    assert_eq!(
        authstate_tables(&dir.path().join("c.db")),
        Vec::<String>::new(),
        "the run left tables behind"
    );
    // The catalog query sees authstate tables where there are some.
    ok_in(dir.path(), &["migrate", "--backend", &url]);
    assert!(!authstate_tables(&dir.path().join("c.db")).is_empty());
}

/// The authstate tables in a SQLite file, read with plain sqlx.
fn authstate_tables(path: &Path) -> Vec<String> {
    use sqlx::Row as _;
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(path),
        )
        .await
        .expect("opens the file");
        let rows = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'authstate%'",
        )
        .fetch_all(&pool)
        .await
        .expect("reads the catalog");
        pool.close().await;
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    })
}

#[test]
fn sessions_list_and_revoke_work_across_invocations_on_one_file() {
    let dir = tempdir();
    let path = dir.path().join("s.db");
    let url = format!("sqlite://{}", path.display());
    ok_in(dir.path(), &["migrate", "--backend", &url]);

    // An IdP node (the library) logs alice in twice and bob once, in the CLI's
    // default namespace.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let backend = SqlBackend::connect(&SqlConfig::sqlite_file(&path))
            .await
            .expect("connects");
        let namespace = Namespace::new("authstate").expect("valid");
        let stores = backend
            .open(StoreConfig::new(namespace))
            .await
            .expect("opens: migrate made the tables");
        for subject in ["alice", "alice", "bob"] {
            stores
                .sessions
                .create(NewSession {
                    subject: subject.into(),
                    data: b"acr=mfa".to_vec(),
                    lifetime: Duration::from_secs(3600),
                    idle_timeout: Some(Duration::from_secs(600)),
                })
                .await
                .expect("created");
        }
        backend.close().await;
    });

    let (stdout, _) = ok_in(
        dir.path(),
        &[
            "sessions",
            "list",
            "--subject",
            "alice",
            "--json",
            "--backend",
            &url,
        ],
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(listed["subject"], "alice");
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(2),
        "{stdout}"
    );

    let (stdout, _) = ok_in(
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
    assert_eq!(
        stdout,
        "revoked 2 sessions of subject \"alice\" in namespace authstate\n"
    );

    let (stdout, _) = ok_in(
        dir.path(),
        &["sessions", "list", "--subject", "alice", "--backend", &url],
    );
    assert!(stdout.contains("no live sessions"), "{stdout}");
    let (stdout, _) = ok_in(
        dir.path(),
        &[
            "sessions",
            "list",
            "--subject",
            "bob",
            "--json",
            "--backend",
            &url,
        ],
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "bob keeps his"
    );
}

#[test]
fn config_check_refuses_bad_sql_options_before_connecting() {
    let dir = tempdir();
    for (options, field, message) in [
        (
            "max_conections = 3",
            "backends.db.options.max_conections",
            "unknown field `max_conections`",
        ),
        (
            "max_connections = 0",
            "backends.db.options.max_connections",
            "must be at least 1",
        ),
        (
            "password_file = \"missing-password\"",
            "backends.db.options.password_file",
            "cannot read password_file",
        ),
        (
            "tls = { mode = \"verify-all\" }",
            "backends.db.options.tls.mode",
            "unknown variant `verify-all`",
        ),
    ] {
        std::fs::write(
            dir.path().join("authstate.toml"),
            format!(
                "[backends.db]\nurl = \"postgres://idp@192.0.2.1/idp\"\n\n[backends.db.options]\n\
                 {options}\n"
            ),
        )
        .expect("written");
        authstate()
            .current_dir(dir.path())
            .args(["--config", "authstate.toml", "config", "check"])
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::starts_with(format!(
                "error: authstate.toml:4: {field}: "
            )))
            .stderr(predicate::str::contains(message));
    }
}

/// The bench against a server: migrate first, then the README's bench.
fn bench_on_a_server(url: &str, kind: &str) {
    let dir = tempdir();
    let (stdout, _) = ok_in(dir.path(), &["migrate", "--backend", url]);
    assert!(
        stdout.contains(&format!("backend cli ({kind}), namespace bench")),
        "{stdout}"
    );
    let (stdout, _) = ok_in(dir.path(), &["bench", "--ops", "200", "--backend", url]);
    assert_bench_table(&stdout, kind);
    let (stdout, _) = ok_in(dir.path(), &["check", "--backend", url]);
    assert!(stdout.contains("version 2 (current)"), "{stdout}");
    assert!(stdout.contains("none failed"), "{stdout}");
    assert!(
        !dir.path().join("authstate.db").exists(),
        "--backend replaces the default"
    );
}

#[test]
fn bench_on_postgres_after_migrate() {
    let db = require(postgres_database());
    bench_on_a_server(db.url(), "postgres");
}

#[test]
fn bench_on_mariadb_after_migrate() {
    let db = require(mysql_database());
    // The MariaDB scheme works as well as mysql://.
    let url = db.url().replacen("mysql://", "mariadb://", 1);
    bench_on_a_server(&url, "mysql");
}

#[test]
fn conformance_keeps_and_names_the_namespaces_of_failed_cases_only() {
    let dir = tempdir();
    let path = dir.path().join("f.db");
    let url = format!("sqlite://{}", path.display());
    // The at-rest cases fail against a live backend (no raw access); the others of the
    // filter pass.
    let (code, stdout, stderr) = run_in(
        dir.path(),
        &[
            "conformance",
            "--all",
            "--filter",
            "at_rest::",
            "--backend",
            &url,
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert!(!failed.is_empty(), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("ok ")), "{stdout}");
    let mut named = Vec::new();
    for line in &failed {
        // `FAILED case (12 ms, namespace t…): why` (or `namespaces t…, t…`).
        let list = line
            .split_once(" ms, namespace")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.trim_start_matches('s').trim())
            .unwrap_or_else(|| panic!("no namespace in {line:?}"));
        for ns in list.split(", ") {
            assert!(stderr.contains(ns), "the note does not name {ns}: {stderr}");
            named.push(format!("authstate_{ns}_sessions"));
        }
    }
    let tables = authstate_tables(&path);
    for table in &named {
        assert!(tables.contains(table), "{table} was dropped: {tables:?}");
    }
    // Nothing but the failed cases' namespaces is left.
    let namespaces: std::collections::HashSet<&str> = tables
        .iter()
        .filter_map(|t| t.strip_prefix("authstate_"))
        .filter_map(|t| t.split('_').next())
        .collect();
    assert_eq!(namespaces.len(), named.len(), "{tables:?}");
}
