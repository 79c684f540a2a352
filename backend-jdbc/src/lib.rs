//! The relational database backend of [authstate](https://docs.rs/authstate), through
//! sqlx: PostgreSQL, MySQL/MariaDB and SQLite. Not for direct use; enable the `postgres`,
//! `mysql` or `sqlite` feature of `authstate` instead.
//!
//! Planned (see the project's design, §4–§5): all nine contracts with SQL per dialect,
//! embedded migrations, times as BIGINT milliseconds from the store's clock, one
//! statement per operation where the dialect allows, and PingFederate-style batched
//! cleanup. This release only reserves the crate so the workspace and its features are
//! stable.
#![deny(missing_docs)]

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "sql";
