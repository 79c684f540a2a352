//! The whole conformance suite against MariaDB (the test database of `authstate_testkit::mysql_database`).
#![cfg(feature = "mysql")]

mod common;

async fn harness() -> common::SqlHarness {
    common::SqlHarness::mysql()
}

authstate_conformance::conformance_tests!(harness);
