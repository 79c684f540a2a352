//! The whole conformance suite against SQLite files (one temporary file per test).
#![cfg(feature = "sqlite")]

mod common;

async fn harness() -> common::SqlHarness {
    common::SqlHarness::sqlite()
}

authstate_conformance::conformance_tests!(harness);
