//! The Redis backend of [authstate](https://docs.rs/authstate). Not for direct use; enable
//! the `redis` feature of `authstate` instead.
//!
//! Planned (see the project's design, §4): all nine contracts on standalone Redis, TLS,
//! ACL users, Sentinel and Cluster, one round trip per operation (Lua scripts with hash
//! tags), server-side expiry from the store's clock, and an optional durable-write mode.
//! This release only reserves the crate so the workspace and its features are stable.
#![deny(missing_docs)]

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "redis";
