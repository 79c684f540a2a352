//! The Redis backend of [authstate](https://docs.rs/authstate). Not for direct use; enable
//! the `redis` feature of `authstate` instead.
//!
//! All nine contracts on standalone Redis, TLS, ACL users, Sentinel and Cluster, with one
//! round trip per operation (Lua scripts over hash-tagged keys), server-side expiry
//! derived from the store's clock, and an optional durable-write mode (`WAIT`).
//!
//! The key layout and the scripts are documented in [`keys`] and [`scripts`].
//!
//! It needs Redis 7.0 or later (or a server that speaks its commands, such as Valkey):
//! replay checks and artifact puts are one `SET … NX GET`, which 6.2 refuses. On an
//! older server those operations fail with the server's error; none succeeds wrongly.
#![deny(missing_docs)]

mod artifact;
mod backend;
pub mod config;
mod connection;
mod error;
pub mod keys;
mod keys_store;
mod lease;
mod lockout;
mod purge;
mod registry;
mod replay;
mod revocation;
pub mod scripts;
mod sentinel;
mod session;
mod state;
mod tls;
mod token;

pub use backend::{BackendOptions, DurableWrites, RedisBackend};
pub use config::RedisConfig;
pub use config::{ClusterConfig, NodeAddress, SentinelConfig, TlsConfig, TlsVersion};
pub use connection::RedisConnection;

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "redis";
