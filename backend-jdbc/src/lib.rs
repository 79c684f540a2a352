//! The relational database backend of [authstate](https://docs.rs/authstate), through
//! sqlx: PostgreSQL, MariaDB and SQLite. Not for direct use; enable the `postgres`,
//! `mysql` or `sqlite` feature of `authstate` instead.
//!
//! All nine contracts (and the sweeper's lease) on one `SqlBackend`, whose dialect
//! comes from the connection URL. SQL is written per dialect where the three differ and
//! runs as runtime queries (no compile-time macros, no `Any` driver); times are BIGINT
//! milliseconds from the store's [`Clock`](authstate_core::Clock), never the database's
//! `now()`, so every expiry decision in a cluster uses one clock; ids, handles, tokens
//! and subjects are stored only as keyed hashes, and payloads sealed by the store's
//! codec, exactly as the memory backend does.
//!
//! Everything but the configuration types needs at least one of the `postgres`, `mysql`
//! and `sqlite` features.
//!
//! ```no_run
//! # #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
//! # async fn run() -> authstate_core::Result<()> {
//! use authstate_backend_jdbc::{SqlBackend, SqlConfig};
//! use authstate_core::{Namespace, StoreConfig};
//!
//! let backend = SqlBackend::connect(&SqlConfig::from_url("postgres://idp@db/authstate")).await?;
//! let namespace = Namespace::new("idp-prod")?;
//! backend.migrate(&namespace).await?; // once per deployment (`authstate migrate`)
//! let stores = backend.open(StoreConfig::new(namespace)).await?;
//! # let _ = stores; Ok(()) }
//! ```
//!
//! # Schema
//!
//! Each namespace has its own tables, so two IdP clusters can share a database:
//! PostgreSQL puts them in the schema `authstate_<namespace>`, MariaDB and SQLite prefix
//! them `authstate_<namespace>_`. Embedded migrations per dialect
//! (`migrations/<dialect>/`) are applied by an explicit `SqlBackend::migrate`; a
//! `schema_version` table records them, and `SqlBackend::open` refuses a namespace
//! whose schema is missing or at another version (`ConfigInvalid`, "run migrate").
//!
//! | table | key | columns beside the key | indexes |
//! |---|---|---|---|
//! | `sessions` | id hash | subject hash, version, last activity, absolute expiry, idle ms, effective expiry, sealed record | expiry, last activity, subject |
//! | `artifacts` | handle hash | expiry, taken at, sealed payload or tombstone | expiry |
//! | `state` | key hash | expiry, sealed value | expiry |
//! | `replay` | id hash | expiry (`not_after`), recorded at | expiry |
//! | `lockout` | key hash | failures, locked until, expiry | expiry |
//! | `key_sets` | name hash | version, sealed key set | — |
//! | `revocations` | SRI or subject hash | kind, before, expiry (`until`) | expiry |
//! | `revocation_feed` | sequence number | kind, target hash, before, until | expiry |
//! | `revocation_seq` | 1 | last sequence number | — |
//! | `tokens` | token hash | subject, client and grant hashes, expiry, sealed record | expiry, subject, client, grant |
//! | `registry` | subject hash ‖ participant hash | subject hash, expiry, sealed participant | expiry, subject |
//! | `leases` | name hash | holder, expiry | — |
//!
//! Types: PostgreSQL `BYTEA`/`BIGINT`; MariaDB `BINARY(32)` (`BINARY(64)` for registry
//! keys), `LONGBLOB`, `BIGINT`, InnoDB; SQLite `BLOB`/`INTEGER`.
//!
//! # Statements per operation
//!
//! One statement per operation wherever the dialect can do it atomically in one; the
//! module docs of each contract list them. In short:
//!
//! | operation | PostgreSQL | SQLite | MariaDB |
//! |---|---|---|---|
//! | reads (`get`, `status`, `load`, `is_revoked`, `participants`, …) | 1 | 1 | 1 |
//! | put-if-absent, replay, artifact `put`, token `insert`, lease | 1 (`ON CONFLICT DO UPDATE … WHERE expired`) | 1 | 1, or 2–3 when a row holds the key |
//! | artifact `take` | 1 (CTE: `SELECT … FOR UPDATE` + `UPDATE`) | transaction of 2 | transaction of 2 (`SELECT … FOR UPDATE`, `UPDATE`) |
//! | session `touch` | 1 (`UPDATE … RETURNING`) | 1 | 2 (`UPDATE`, `SELECT`) |
//! | session `update` (compare-and-set) | 2 (read, `UPDATE … WHERE version = $v RETURNING`) | 2 | 2 |
//! | key set `replace` (compare-and-set) | 1 (`UPDATE … WHERE version = $v`) | 1 | 1 |
//! | lockout `record_failure` | 1 (`… ON CONFLICT DO UPDATE … RETURNING`) | 1 | 1 (`… ON DUPLICATE KEY UPDATE … RETURNING`) |
//! | `revoke`, `revoke_subject` | 1 (CTE over counter, revocation, feed) | transaction of 3 | transaction of 4 |
//! | session `rotate_id`, registry `remove_all` | transaction of 2 / 1 | the same | the same |
//! | deletes, revokes | 1 | 1 | 1 |
//!
//! Where a dialect lacks `UPDATE … RETURNING` (MariaDB) or cannot return the value an
//! update replaces (all three, for `take`), the operation is a transaction that locks the
//! row first (`SELECT … FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`, its one writer). Session
//! `update` re-seals the whole record, so it must read it first: a read and a
//! compare-and-set on the version column, which is what gives concurrent updates exactly
//! one winner. MariaDB sessions run at `READ COMMITTED`, so locking reads take no gap
//! locks. An operation the database rolls back for a deadlock or a lock wait timeout is
//! run again (a few times, with a short pause): the rollback guarantees it had no
//! effect; connection errors are never retried.
//!
//! # Cleanup
//!
//! [`Purge`](authstate_core::Purge) is PingFederate's cleanup task done right: records
//! dead by expiry (or, for sessions under `LastActivity`, by last activity) at least the
//! offset ago are deleted oldest first in batches of `batch_size` (default 500), each
//! batch its own short transaction selected with `FOR UPDATE SKIP LOCKED` on PostgreSQL
//! and MariaDB, so foreground operations are never blocked; see the `purge` module. The
//! core's [`sweeper`](authstate_core::sweeper) runs it on an interval with a rate limit,
//! holding the [`SweepLease`](authstate_core::SweepLease) row so one node sweeps at a time.
//!
//! # What is not sealed
//!
//! Lockout counters, replay entries and revocations carry no payload: their keys are
//! keyed hashes and the rest are times and counts, kept as plain columns so the database
//! can count, merge and compare them in one statement. Tampering with them can make a
//! counter or a revocation read as what the tamperer wrote, as with any column; it can
//! never make a recorded replay id read as fresh.
#![deny(missing_docs)]

pub mod config;
pub mod dialect;

pub use config::{SqlConfig, TlsConfig, TlsMode};
pub use dialect::Dialect;

/// The backend's name when the dialect is not known yet (configuration errors);
/// operations report `"postgres"`, `"mysql"` or `"sqlite"`.
pub const BACKEND_NAME: &str = "sql";

// Everything that talks to a database needs at least one driver.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod artifact;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod backend;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod connection;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod error;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod keys;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod lease;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod lockout;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod node;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod purge;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod raw;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod registry;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod replay;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod revocation;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod schema;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod session;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod state;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod token;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
mod upsert;

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use backend::SqlBackend;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use raw::RawEntry;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use schema::{MigrationReport, SCHEMA_VERSION};
