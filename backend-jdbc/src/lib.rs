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
//! `SqlBackend::drop_namespace` removes a namespace's tables with everything in them
//! (a retired cluster's, or those `authstate conformance` opened) and nothing else.
//!
//! | table | key | columns beside the key | indexes |
//! |---|---|---|---|
//! | `sessions` | id hash | subject hash, version, last activity, absolute expiry, idle ms, effective expiry, sealed data, sealed meta | expiry, last activity, subject |
//! | `artifacts` | handle hash | expiry, taken at, sealed payload or tombstone (SQLite: empty once taken) | expiry |
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
//! | artifact `take` | 1 (CTE: `SELECT … FOR UPDATE` + `UPDATE`) | 1 (`UPDATE … RETURNING` + trigger); 2 when not fresh | 1 (locking upsert returning the replaced payload through a user variable); 2 when not fresh |
//! | session `touch` | 1 (`UPDATE … RETURNING`) | 1 | 1 (locking upsert on the row's own key) |
//! | session `update` (compare-and-set) | 1 (`UPDATE … WHERE version = $v RETURNING`); 2 on a miss | 1; 2 on a miss | 1 (locking upsert); 2 on a miss |
//! | key set `replace` (compare-and-set) | 1 (`UPDATE … WHERE version = $v`) | 1 | 1 |
//! | lockout `record_failure` | 1 (`… ON CONFLICT DO UPDATE … RETURNING`) | 1 | 1 (`… ON DUPLICATE KEY UPDATE … RETURNING`) |
//! | `revoke`, `revoke_subject` | 1 (CTE over counter, revocation, feed) | transaction of 3 | transaction of 4 |
//! | session `rotate_id`, registry `remove_all` | transaction of 2 / 1 | the same | the same |
//! | deletes, revokes | 1 | 1 | 1 |
//! | one purge batch | 1 | 1 | 1 (2 when the batch meets a row a foreground operation holds) |
//!
//! Session `update` needs no read first: a session is stored as a sealed meta (what
//! never changes) and sealed data bound to its version, so the compare-and-set writes
//! the new data and returns the meta and times it needs (see the `session` module).
//!
//! MariaDB has no `UPDATE … RETURNING`. For `touch` and `update` its stand-in is one
//! statement, `INSERT INTO t SELECT … FROM t WHERE k = ? AND <condition> FOR UPDATE ON
//! DUPLICATE KEY UPDATE … RETURNING …`: the locking read takes the row only if the
//! condition holds, the insert of its own key is a duplicate, and the update writes the
//! locked row and returns it. A take must return the payload its own write replaces,
//! which MariaDB's `RETURNING` cannot report (it shows the row as written): the same
//! locking upsert copies the payload into a user variable as its locking read reads it
//! (`SELECT …, (@authstate_taken := data) … FOR UPDATE`) and returns the variable, one
//! statement (see the `artifact` module). SQLite's
//! `UPDATE … RETURNING` reports the row before `AFTER` triggers run, so its take sets
//! `taken_at`, gets the payload back, and a trigger empties the payload in the same
//! statement.
//!
//! Where a transaction remains (`rotate_id`, `revoke` on SQLite and MariaDB), it locks
//! the rows first (`SELECT … FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`, its one writer).
//! Concurrent compare-and-sets and takes from separate connections have exactly one
//! winner: each decides on the locked, latest committed row. MariaDB sessions run at
//! `READ COMMITTED`, so locking reads take no gap locks. An operation the database rolls
//! back for a deadlock or a lock wait timeout is run again (a few times, with a short
//! pause): the rollback guarantees it had no effect; connection errors are never
//! retried.
//!
//! # Cleanup
//!
//! [`Purge`](authstate_core::Purge) is PingFederate's cleanup task done right: records
//! dead by expiry (or, for sessions under `LastActivity`, by last activity) at least the
//! offset ago are deleted oldest first in batches of `batch_size` (default 500), each
//! batch one statement (its own short transaction) that never waits on a row a
//! foreground operation holds: `FOR UPDATE SKIP LOCKED` on PostgreSQL; on MariaDB a
//! plain `DELETE` that refuses to wait, and the `SKIP LOCKED` form only when that met a
//! locked row; see the `purge` module. [`SqlConfig::purge_duty_cycle`] paces a purge: below 1 it pauses
//! after each batch in proportion to the batch's duration, leaving the database that
//! share of its time for foreground work. The core's
//! [`sweeper`](authstate_core::sweeper) runs purges on an interval with a rate limit,
//! holding the [`SweepLease`](authstate_core::SweepLease) row so one node sweeps at a
//! time. `BENCHMARKS.md` in this crate has the measured rates and latencies.
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
