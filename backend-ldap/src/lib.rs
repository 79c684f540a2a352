//! The LDAP directory backend of [authstate](https://docs.rs/authstate), through ldap3:
//! OpenLDAP, and PingDirectory/PingDS style deployments. Not for direct use; enable the
//! `ldap` feature of `authstate` instead.
//!
//! Planned (see the project's design, §4): all nine contracts under a base DN, with
//! pre-read/assertion controls for atomic take and compare-and-set, modify-increment for
//! counters, add for replay checks, and server-side TTL where the directory has it.
//! This release only reserves the crate so the workspace and its features are stable.
#![deny(missing_docs)]

/// The backend's name, as it appears in errors.
pub const BACKEND_NAME: &str = "ldap";
