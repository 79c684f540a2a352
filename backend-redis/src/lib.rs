//! The Redis backend of [authstate](https://docs.rs/authstate). Not for direct use; enable
//! the `redis` feature of `authstate` instead.
//!
//! All nine contracts on standalone Redis, TLS, ACL users, Sentinel and Cluster, with one
//! round trip per operation (Lua scripts over hash-tagged keys), server-side expiry
//! derived from the store's clock, and an optional durable-write mode (`WAIT`).
//!
//! The key layout and the scripts are documented in [`keys`] and [`scripts`].
#![deny(missing_docs)]

pub mod config;
mod connection;
mod error;

pub use config::RedisConfig;
pub use connection::RedisConnection;

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "redis";
