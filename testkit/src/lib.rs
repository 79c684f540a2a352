//! Real servers for authstate's tests (not published).
//!
//! Backend tests ask this crate for a server and get a URL. Where the server comes from is
//! decided in this order:
//!
//! 1. **External**: an environment variable names a running server, and nothing is started.
//!    Tests sharing it must keep to their own key prefix, schema or subtree.
//!
//!    | variable                      | kind              | accepted schemes                   |
//!    |-------------------------------|-------------------|------------------------------------|
//!    | `AUTHSTATE_TEST_REDIS_URL`    | Redis             | `redis://`, `rediss://`, `redis+unix://`, `unix://` |
//!    | `AUTHSTATE_TEST_POSTGRES_URL` | PostgreSQL        | `postgres://`, `postgresql://`     |
//!    | `AUTHSTATE_TEST_MYSQL_URL`    | MySQL / MariaDB   | `mysql://`, `mariadb://`           |
//!    | `AUTHSTATE_TEST_LDAP_URL`     | LDAP              | `ldap://`, `ldaps://`, `ldapi://`  |
//!
//!    A blank variable counts as unset; any other scheme is an error.
//! 2. **Container** (only with the `containers` feature): when a Docker engine answers on
//!    `DOCKER_HOST` or `/var/run/docker.sock`, `testcontainers` starts a pinned image
//!    (`redis:7.2`). No engine means step 3; an engine that fails to start the container
//!    prints a warning and also falls through to step 3.
//! 3. **Native process**: the Debian-packaged binary (`redis-server`, `slapd`, …) runs on a
//!    free `127.0.0.1` port in a temporary directory, with stdout and stderr in
//!    `server.log` there. The kit waits (up to 10 s) until it answers a protocol-level
//!    probe, and kills it and removes the directory on drop. If the test panics, the last
//!    60 log lines are printed to stderr so the failure report shows them.
//!
//! A missing binary is an error that says what to install, for example
//! ``redis-server not found on PATH: install it with `apt-get install -y redis-server`
//! (Debian package redis-server)``. Tests turn it into a failure with [`require`]; nothing is
//! skipped silently.
//!
//! ```no_run
//! use authstate_testkit::{RedisOptions, RedisServer, AclUser, redis, require};
//!
//! // Whatever the environment offers:
//! let server = require(redis());
//! let url: &str = server.url(); // e.g. redis://127.0.0.1:40123
//!
//! // A native server with specific settings:
//! let acl = require(RedisServer::start_with(RedisOptions {
//!     user: Some(AclUser::new("app", "s3cret").keys("ns:*")),
//!     default_user_off: true,
//!     ..RedisOptions::default()
//! }));
//! let app_url = acl.user_url(); // Some("redis://app:s3cret@127.0.0.1:PORT")
//! # let _ = (url, app_url);
//! ```
//!
//! New server kinds get their own module over [`process`] (see [`redis`](mod@redis) and
//! [`ldap`]) and a provider function in [`provider`].

#[cfg(feature = "containers")]
pub mod containers;
mod error;
pub mod ldap;
pub mod process;
pub mod provider;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_tls;
pub mod sql;

pub use error::{Result, TestkitError, require};
pub use ldap::SlapdTls;
pub use ldap::{Slapd, SlapdOptions};
pub use process::{Launcher, NativeServer, Program, ServerDir};
pub use provider::{Origin, ServerKind, TestServer, external_url, redis, redis_with};
pub use redis::{AclUser, RedisOptions, RedisServer, RespConn, RespReply};
pub use redis_cluster::{ClusterNode, ClusterOptions, RedisCluster};
pub use redis_sentinel::{RedisSentinelSet, SentinelOptions};
pub use redis_tls::{TlsFiles, TlsMaterial, TlsRedisOptions, TlsRedisServer};
pub use sql::{
    PostgresServer, SqlDatabase, SqliteFile, mysql_database, postgres_database, sqlite_file,
};
