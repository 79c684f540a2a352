//! The whole conformance suite against PostgreSQL (the test database of `authstate_testkit::postgres_database`).
#![cfg(feature = "postgres")]

mod common;

async fn harness() -> common::SqlHarness {
    common::SqlHarness::postgres()
}

authstate_conformance::conformance_tests!(harness);
