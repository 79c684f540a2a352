//! Shared state for identity providers, in one place you can trust: authentication
//! sessions, one-time artifacts (authorization codes, PAR request URIs, SAML artifacts),
//! replay caches, lockout counters, session revocations, signing key sets, reference
//! access tokens and single-logout registries — on Redis, SQL databases and LDAP
//! directories, or in memory.
//!
//! Every kind of state sits behind one object-safe async trait ([`SessionStore`],
//! [`ArtifactStore`], [`StateStore`], [`ReplayCache`], [`LockoutStore`], [`KeyStore`],
//! [`RevocationStore`], [`TokenStore`], [`SessionRegistry`]). A backend opens all nine
//! at once as [`Stores`], in one [`Namespace`], so an application picks its backend at
//! run time and holds `Arc<dyn …>` stores. Every backend keeps the same promises, and
//! the conformance suite (`authstate-conformance`) checks each one:
//!
//! - nothing outside the namespace is read or written;
//! - an expired record is never returned, whether or not it has been purged;
//! - handles, ids, tokens and subjects are stored only as keyed hashes;
//! - records are sealed by one codec, optionally encrypted (AES-GCM) with a keyring; a
//!   tampered record is an error, never "absent";
//! - a backend that cannot answer fails closed ([`ErrorKind::Unavailable`]), never
//!   "not found", "fresh" or "not revoked".
//!
//! This crate re-exports [`authstate_core`] (the contracts, the types they share, the
//! codec, the [`MemoryBackend`] and the [`sweeper`]) and, behind features, the backend
//! crates, the way `sqlx` re-exports its drivers.
//!
//! # Features
//!
//! | Feature    | Module    | Backend                                                  |
//! |------------|-----------|----------------------------------------------------------|
//! | (always)   | —         | [`MemoryBackend`]: in-process, the reference implementation |
//! | `redis`    | `redis`   | Redis and Redis Cluster (`authstate-backend-redis`)      |
//! | `postgres` | `sql`     | PostgreSQL (`authstate-backend-jdbc`)                    |
//! | `mysql`    | `sql`     | MySQL and MariaDB (`authstate-backend-jdbc`)             |
//! | `sqlite`   | `sql`     | SQLite (`authstate-backend-jdbc`)                        |
//! | `ldap`     | `ldap`    | LDAP directories (`authstate-backend-ldap`)              |
//! | `full`     | all above | every backend                                            |
//!
//! No feature is on by default. The three SQL features share one module, `sql`, and
//! turn on their database in it.
//!
//! # Quick start
//!
//! Open the stores on the memory backend, then run a session and an authorization code
//! through them:
//!
//! ```
//! use std::time::Duration;
//!
//! use authstate::{MemoryBackend, Namespace, NewSession, StoreConfig, Take};
//!
//! # async fn run() -> authstate::Result<()> {
//! let stores = MemoryBackend::new().open(StoreConfig::new(Namespace::new("idp-prod")?))?;
//!
//! // A login starts a session; the store makes the 256-bit id.
//! let session = stores
//!     .sessions
//!     .create(NewSession {
//!         subject: "alice".into(),
//!         data: b"acr=mfa".to_vec(),
//!         lifetime: Duration::from_secs(8 * 3600),
//!         idle_timeout: Some(Duration::from_secs(30 * 60)),
//!     })
//!     .await?;
//! let record = stores.sessions.get(&session.id).await?.expect("a new session is live");
//! assert_eq!(record.subject, "alice");
//!
//! // After authentication, move the session to a new id: an id planted before the
//! // login (session fixation) stops working at once.
//! let rotated = stores.sessions.rotate_id(&session.id).await?;
//! assert!(stores.sessions.get(&session.id).await?.is_none());
//! assert!(stores.sessions.get(&rotated.id).await?.is_some());
//!
//! // The account is disabled: end all of its sessions.
//! assert_eq!(stores.sessions.delete_by_subject("alice").await?, 1);
//! assert!(stores.sessions.get(&rotated.id).await?.is_none());
//!
//! // An authorization code is taken exactly once; a second take is a replay, and the
//! // IdP should revoke what it issued from that code (RFC 6749 §4.1.2).
//! let code = "SplxlOBeZQQYbYS6WxSbIA";
//! stores.artifacts.put(code, b"grant-1".to_vec(), Duration::from_secs(60)).await?;
//! assert_eq!(stores.artifacts.take(code).await?, Take::Fresh(b"grant-1".to_vec()));
//! assert!(matches!(stores.artifacts.take(code).await?, Take::Replayed { .. }));
//! # Ok(())
//! # }
//! # fn main() {
//! #     let runtime = tokio::runtime::Runtime::new().expect("a runtime");
//! #     runtime.block_on(run()).expect("the quick start runs");
//! # }
//! ```
//!
//! With a backend feature on, the same code runs on that backend: only the line that
//! opens [`Stores`] changes.
#![deny(missing_docs)]

pub use authstate_core::*;

/// The Redis backend (feature `redis`).
#[cfg(feature = "redis")]
pub use authstate_backend_redis as redis;

/// The SQL backend: PostgreSQL, MySQL/MariaDB and SQLite (features `postgres`, `mysql`,
/// `sqlite`).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use authstate_backend_jdbc as sql;

/// The LDAP backend (feature `ldap`).
#[cfg(feature = "ldap")]
pub use authstate_backend_ldap as ldap;

/// The README's examples, compiled as doc tests (with the `redis` feature, which the
/// quick start uses) so the front page never shows code that does not build.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
