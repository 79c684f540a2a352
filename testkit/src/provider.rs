//! Choosing where a test's server comes from: an external server named by an environment
//! variable, a container, or a native process.

use crate::error::{Result, TestkitError};
use crate::process::NativeServer;
use crate::redis::RedisServer;

/// The kinds of server the kit provides, each with its `AUTHSTATE_TEST_<KIND>_URL` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// Redis (or a Redis-compatible server).
    Redis,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// An LDAP directory.
    Ldap,
}

impl ServerKind {
    /// The environment variable that points tests at an external server of this kind.
    pub const fn env_var(self) -> &'static str {
        match self {
            Self::Redis => "AUTHSTATE_TEST_REDIS_URL",
            Self::Postgres => "AUTHSTATE_TEST_POSTGRES_URL",
            Self::Mysql => "AUTHSTATE_TEST_MYSQL_URL",
            Self::Ldap => "AUTHSTATE_TEST_LDAP_URL",
        }
    }

    /// The URL schemes accepted in [`env_var`](Self::env_var).
    pub const fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Redis => &["redis://", "rediss://", "redis+unix://", "unix://"],
            Self::Postgres => &["postgres://", "postgresql://"],
            Self::Mysql => &["mysql://", "mariadb://"],
            Self::Ldap => &["ldap://", "ldaps://", "ldapi://"],
        }
    }
}

/// Reads the process environment; the default `lookup` of the provider functions.
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The external server URL for `kind`, if `lookup(kind.env_var())` names one.
///
/// An unset or blank variable means "no external server"; a value with the wrong scheme is
/// an error rather than a silent fallback, because someone asked for that server.
pub fn external_url(
    kind: ServerKind,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    let var = kind.env_var();
    let Some(value) = lookup(var) else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if kind.schemes().iter().any(|s| value.starts_with(s)) {
        Ok(Some(value.to_owned()))
    } else {
        Err(TestkitError::BadExternalUrl {
            var: var.to_owned(),
            value: value.to_owned(),
            expected: kind.schemes().join(" or "),
        })
    }
}

/// Where a [`TestServer`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An already running server named by an environment variable; nothing was started.
    External,
    /// A container started through a Docker engine (feature `containers`).
    Container,
    /// A native process started by the kit.
    Native,
}

/// A server for one test, whatever its origin; keep it alive while the test uses it.
///
/// Dropping it stops what the kit started (process or container); an external server is
/// left alone. Tests that share an external server must use their own key prefix, schema or
/// subtree.
#[derive(Debug)]
pub struct TestServer {
    url: String,
    origin: Origin,
    guard: Guard,
}

#[derive(Debug)]
enum Guard {
    External,
    Native(NativeServer),
    #[cfg(feature = "containers")]
    Container(
        #[expect(dead_code, reason = "held only so that its Drop removes the container")]
        crate::containers::ContainerGuard,
    ),
}

impl TestServer {
    /// The URL to connect to, e.g. `redis://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where it came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The native process, when the kit started one (for its log).
    pub fn native(&self) -> Option<&NativeServer> {
        match &self.guard {
            Guard::Native(server) => Some(server),
            _ => None,
        }
    }

    fn external(url: String) -> Self {
        Self {
            url,
            origin: Origin::External,
            guard: Guard::External,
        }
    }

    fn native_server(url: String, server: NativeServer) -> Self {
        Self {
            url,
            origin: Origin::Native,
            guard: Guard::Native(server),
        }
    }

    #[cfg(feature = "containers")]
    pub(crate) fn container(url: String, guard: crate::containers::ContainerGuard) -> Self {
        Self {
            url,
            origin: Origin::Container,
            guard: Guard::Container(guard),
        }
    }
}

/// A Redis server for a test: `AUTHSTATE_TEST_REDIS_URL` if set, else a container (feature
/// `containers`, when Docker answers), else a native `redis-server`.
pub fn redis() -> Result<TestServer> {
    redis_with(env_lookup)
}

/// [`redis`] with the environment read through `lookup` (tests pass a closure instead of
/// mutating the process environment).
pub fn redis_with(lookup: impl Fn(&str) -> Option<String>) -> Result<TestServer> {
    if let Some(url) = external_url(ServerKind::Redis, &lookup)? {
        return Ok(TestServer::external(url));
    }
    #[cfg(feature = "containers")]
    if let Some(server) = crate::containers::try_redis(&lookup) {
        return Ok(server);
    }
    let server = RedisServer::start()?;
    Ok(TestServer::native_server(
        server.url(),
        server.into_native(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(var: &'static str, value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |name| (name == var).then(|| value.to_owned())
    }

    #[test]
    fn blank_means_unset() {
        let url = external_url(
            ServerKind::Postgres,
            only("AUTHSTATE_TEST_POSTGRES_URL", "  "),
        );
        assert!(matches!(url, Ok(None)));
    }

    #[test]
    fn wrong_scheme_is_an_error_naming_the_variable() {
        let err = external_url(
            ServerKind::Ldap,
            only("AUTHSTATE_TEST_LDAP_URL", "http://x"),
        )
        .expect_err("http is not ldap");
        assert!(err.to_string().contains("AUTHSTATE_TEST_LDAP_URL"), "{err}");
    }
}
