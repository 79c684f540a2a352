//! The SQL part of the kit against the servers it finds: a database per run on
//! PostgreSQL and MariaDB, temporary SQLite files, and a private PostgreSQL with
//! password authentication.

use std::process::{Command, Stdio};

use authstate_testkit::provider::ServerKind;
use authstate_testkit::sql::{DATABASE_PREFIX, database_with};
use authstate_testkit::{
    Origin, PostgresServer, mysql_database, postgres_database, require, sqlite_file,
};

#[test]
fn postgres_database_is_created_once_per_run() {
    let run = |v: &str| (v == "NEXTEST_RUN_ID").then(|| "0123abcd-kit-test".to_owned());
    let db = require(database_with(ServerKind::Postgres, run));
    assert!(db.name().starts_with(DATABASE_PREFIX), "{}", db.name());
    assert!(db.name().ends_with("_0123abcd"), "{}", db.name());
    assert!(db.url().ends_with(db.name()), "{}", db.url());
    assert!(matches!(db.origin(), Origin::Native | Origin::External));
    let current = require(db.admin_sql("SELECT current_database()"));
    assert_eq!(current.trim(), db.name());
    // The same run gets the same database, already there.
    let again = require(database_with(ServerKind::Postgres, run));
    assert_eq!(again.name(), db.name());
    require(db.drop_database());
    let _ = require(postgres_database());
}

#[test]
fn mysql_database_is_created_once_per_run() {
    let run = |v: &str| (v == "NEXTEST_RUN_ID").then(|| "4567cdef-kit-test".to_owned());
    let db = require(database_with(ServerKind::Mysql, run));
    assert!(db.name().ends_with("_4567cdef"), "{}", db.name());
    let current = require(db.admin_sql("SELECT DATABASE()"));
    assert_eq!(current.trim(), db.name());
    let again = require(database_with(ServerKind::Mysql, run));
    assert_eq!(again.url(), db.url());
    require(db.drop_database());
    let _ = require(mysql_database());
}

#[test]
fn a_wrong_external_url_names_the_variable() {
    let bad = |v: &str| (v == "AUTHSTATE_TEST_MYSQL_URL").then(|| "http://db".to_owned());
    let err = database_with(ServerKind::Mysql, bad).expect_err("http is not mysql");
    assert!(
        err.to_string().contains("AUTHSTATE_TEST_MYSQL_URL"),
        "{err}"
    );
}

#[test]
fn an_unreachable_external_server_says_what_failed() {
    let closed = |v: &str| {
        (v == "AUTHSTATE_TEST_POSTGRES_URL")
            .then(|| "postgres://postgres@127.0.0.1:1/postgres".to_owned())
    };
    let err = database_with(ServerKind::Postgres, closed).expect_err("port 1 is closed");
    assert!(err.to_string().contains("psql"), "{err}");
}

#[test]
fn sqlite_files_are_temporary() {
    let file = require(sqlite_file());
    let dir = file.dir().to_path_buf();
    assert!(dir.is_dir());
    assert!(file.url().starts_with("sqlite://"));
    assert!(file.path().starts_with(&dir));
    drop(file);
    assert!(!dir.exists(), "{} outlived its SqliteFile", dir.display());
}

fn psql_ok(url: &str) -> bool {
    Command::new("psql")
        .arg("--no-psqlrc")
        .arg("--dbname")
        .arg(url)
        .arg("--command")
        .arg("SELECT 1")
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn private_postgres_checks_passwords() {
    let server = require(PostgresServer::start("authstate", "s3cret-pw"));
    assert!(psql_ok(&server.url()), "{}", server.native().log_tail(20));
    assert!(!psql_ok(&server.url_with_password("wrong")));
}
