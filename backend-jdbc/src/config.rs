//! How to reach the database: a URL or separate fields, the pool's size and acquire
//! timeout, TLS for PostgreSQL and MariaDB, and a password that may come from a file.
//!
//! Secrets never reach `Debug` output or logs: the password is a
//! [`SecretString`], and a password inside the URL is replaced by `[redacted]`.
//!
//! ```
//! use authstate_backend_jdbc::SqlConfig;
//!
//! let config: SqlConfig = serde_json::from_str(r#"{
//!     "url": "postgres://idp:s3cret@db.example.com/authstate",
//!     "max_connections": 16,
//!     "tls": { "mode": "verify_full", "ca_file": "/etc/ssl/db-ca.pem" }
//! }"#).unwrap();
//! assert!(!format!("{config:?}").contains("s3cret"));
//! ```
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code)
)]

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use authstate_core::{Error, Result, SecretString};
use serde::{Deserialize, Deserializer};

use crate::dialect::Dialect;

/// Connection settings for the SQL backend.
///
/// Give either `url` (`postgres://…`, `mariadb://…` or `mysql://…`, `sqlite:…`), or
/// `dialect` with `host`, `port`, `database`, `username` (PostgreSQL, MariaDB) or `path`
/// (SQLite). Fields set beside a URL override what the URL says. The password comes
/// from `password_file` (its first line), else `password`, else the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    /// A connection URL; its scheme names the dialect.
    #[serde(default)]
    pub url: Option<String>,
    /// The dialect, when no URL is given (or to check the URL's).
    #[serde(default)]
    pub dialect: Option<Dialect>,
    /// Server host name or address (PostgreSQL, MariaDB).
    #[serde(default)]
    pub host: Option<String>,
    /// Server port (PostgreSQL, MariaDB).
    #[serde(default)]
    pub port: Option<u16>,
    /// Database name (PostgreSQL, MariaDB).
    #[serde(default)]
    pub database: Option<String>,
    /// User name (PostgreSQL, MariaDB).
    #[serde(default)]
    pub username: Option<String>,
    /// The password. Prefer `password_file`, so that it stays out of config files.
    #[serde(default, deserialize_with = "secret")]
    pub password: Option<SecretString>,
    /// A file whose first line is the password (a mounted secret).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The database file (SQLite), or `:memory:`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The most connections the pool opens.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Connections the pool keeps open even when idle.
    #[serde(default)]
    pub min_connections: u32,
    /// How long to wait for a connection (a new one, or one from a busy pool) before
    /// failing with `Unavailable`.
    #[serde(
        default = "default_acquire_timeout",
        rename = "acquire_timeout_ms",
        deserialize_with = "millis"
    )]
    pub acquire_timeout: Duration,
    /// TLS to the server (PostgreSQL, MariaDB).
    #[serde(default)]
    pub tls: TlsConfig,
    /// The share of a purge's wall time spent running batches, above 0 and at most 1.
    /// Below 1, a purge pauses after every batch for the batch's duration times
    /// `1 / purge_duty_cycle − 1` (0.5: as long as the batch took), so the database
    /// keeps the rest of its time for foreground work whatever a batch costs on it —
    /// the idea of PostgreSQL's `vacuum_cost_delay`. 1 (the default) never pauses.
    /// The sweeper's `max_deletes_per_second` still applies on top.
    #[serde(default = "default_purge_duty_cycle")]
    pub purge_duty_cycle: f64,
}

/// TLS settings for PostgreSQL and MariaDB.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Whether and how TLS is used; unset keeps what the URL says (`sslmode=`,
    /// `ssl-mode=`), or the driver's default (`prefer`).
    #[serde(default)]
    pub mode: Option<TlsMode>,
    /// A PEM file with the CA certificates the server's certificate must chain to
    /// (`verify_ca`, `verify_full`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Whether and how the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Never use TLS.
    Disable,
    /// Use TLS if the server offers it, without checking its certificate (the drivers'
    /// default).
    Prefer,
    /// Require TLS, without checking the certificate.
    Require,
    /// Require TLS and a certificate that chains to `ca_file` (or the system roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

fn default_max_connections() -> u32 {
    10
}

fn default_acquire_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_purge_duty_cycle() -> f64 {
    1.0
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    Ok(Duration::from_millis(u64::deserialize(d)?))
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::new))
}

impl SqlConfig {
    /// Settings for `url`, with the default pool (10 connections, 10 s acquire timeout)
    /// and the URL's TLS settings.
    pub fn from_url(url: impl Into<String>) -> Self {
        SqlConfig {
            url: Some(url.into()),
            dialect: None,
            host: None,
            port: None,
            database: None,
            username: None,
            password: None,
            password_file: None,
            path: None,
            max_connections: default_max_connections(),
            min_connections: 0,
            acquire_timeout: default_acquire_timeout(),
            tls: TlsConfig::default(),
            purge_duty_cycle: default_purge_duty_cycle(),
        }
    }

    /// Settings for an SQLite file (created if missing).
    pub fn sqlite_file(path: impl Into<PathBuf>) -> Self {
        SqlConfig {
            url: None,
            dialect: Some(Dialect::Sqlite),
            path: Some(path.into()),
            ..Self::from_url(String::new())
        }
    }

    /// The same settings with at most `max` connections.
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// The same settings with another acquire timeout.
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The same settings with purges paced to `duty_cycle` (see
    /// [`SqlConfig::purge_duty_cycle`]).
    pub fn with_purge_duty_cycle(mut self, duty_cycle: f64) -> Self {
        self.purge_duty_cycle = duty_cycle;
        self
    }

    /// The same settings with `password` (overriding the URL's).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(SecretString::new(password.into()));
        self
    }

    /// The dialect: the URL's scheme, checked against `dialect` when both are given.
    pub fn resolve_dialect(&self) -> Result<Dialect> {
        let from_url = match self.url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(Dialect::from_url(url).ok_or_else(|| {
                Error::config(
                    "sql",
                    format!(
                        "the database URL {} has an unknown scheme: use postgres://, \
                         mariadb:// (or mysql://) or sqlite:",
                        redact_url(url)
                    ),
                )
            })?),
            None => None,
        };
        match (from_url, self.dialect) {
            (Some(u), Some(d)) if u != d => Err(Error::config(
                "sql",
                format!("the URL is a {u} URL but dialect says {d}"),
            )),
            (Some(d), _) | (None, Some(d)) => Ok(d),
            (None, None) => Err(Error::config(
                "sql",
                "no database given: set url, or dialect with host/database (or path for sqlite)",
            )),
        }
    }

    /// The password to use, if the config gives one: the first line of
    /// `password_file`, else `password`. `None` leaves the URL's.
    pub fn resolve_password(&self, dialect: Dialect) -> Result<Option<SecretString>> {
        match (&self.password_file, &self.password) {
            (Some(_), Some(_)) => Err(Error::config(
                dialect.name(),
                "both password and password_file are set: keep one",
            )),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::config(
                        dialect.name(),
                        format!("cannot read password_file {}: {e}", path.display()),
                    )
                })?;
                let line = text.lines().next().unwrap_or("");
                if line.is_empty() {
                    return Err(Error::config(
                        dialect.name(),
                        format!("password_file {} is empty", path.display()),
                    ));
                }
                Ok(Some(SecretString::new(line)))
            }
            (None, Some(p)) => Ok(Some(p.clone())),
            (None, None) => Ok(None),
        }
    }
}

impl fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("dialect", &self.dialect)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("password_file", &self.password_file)
            .field("path", &self.path)
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("tls", &self.tls)
            .field("purge_duty_cycle", &self.purge_duty_cycle)
            .finish()
    }
}

/// The URL with any password in its user part replaced by `[redacted]`, and any
/// `password=` query parameter likewise.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            // Userinfo ends at the last '@' before any query or fragment; looking that far
            // (not only to the first '/') also covers a password with an unescaped '/'.
            let cut = rest.find(['?', '#']).unwrap_or(rest.len());
            match rest[..cut].rfind('@') {
                Some(at) => {
                    let (userinfo, host_and_tail) = rest.split_at(at);
                    let shown = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:[redacted]"),
                        None => userinfo.to_string(),
                    };
                    format!("{scheme}://{shown}{host_and_tail}")
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[redacted]"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let mut config = SqlConfig::from_url("postgres://idp:hunter2@db:5432/a?password=hunter3")
            .with_password("hunter4");
        config.tls.mode = Some(TlsMode::VerifyFull);
        let shown = format!("{config:?}");
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("idp:[redacted]@db:5432/a"), "{shown}");
        assert!(shown.contains("VerifyFull"), "{shown}");
    }

    #[test]
    fn urls_without_passwords_are_kept() {
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url("mariadb://root@127.0.0.1:3306/x"),
            "mariadb://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:[redacted]@h/db"
        );
        assert_eq!(
            redact_url("postgres://u:pa/ss@h/db"),
            "postgres://u:[redacted]@h/db"
        );
    }

    #[test]
    fn deserializes_fields_and_refuses_unknown_ones() {
        let c: SqlConfig = serde_json::from_str(
            r#"{"dialect":"mariadb","host":"db","port":3307,"username":"idp",
                "password_file":"/run/secrets/db","acquire_timeout_ms":2500,
                "purge_duty_cycle":0.5}"#,
        )
        .expect("valid");
        assert_eq!(c.purge_duty_cycle, 0.5);
        assert_eq!(c.resolve_dialect().expect("dialect"), Dialect::MySql);
        assert_eq!(c.acquire_timeout, Duration::from_millis(2500));
        assert!(serde_json::from_str::<SqlConfig>(r#"{"url":"x","pasword":"y"}"#).is_err());
        let none = SqlConfig::from_url("");
        assert_eq!(
            none.resolve_dialect().expect_err("no url").kind(),
            authstate_core::ErrorKind::ConfigInvalid
        );
        let clash = SqlConfig {
            dialect: Some(Dialect::Sqlite),
            ..SqlConfig::from_url("postgres://h/db")
        };
        assert!(clash.resolve_dialect().is_err());
    }

    #[test]
    fn password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").expect("write");
        let c = SqlConfig {
            password_file: Some(path.clone()),
            ..SqlConfig::from_url("postgres://u@h/db")
        };
        let pw = c
            .resolve_password(Dialect::Postgres)
            .expect("read")
            .expect("some");
        assert_eq!(pw.expose(), "s3cret");
        let missing = SqlConfig {
            password_file: Some(dir.path().join("nope")),
            ..SqlConfig::from_url("postgres://u@h/db")
        };
        let e = missing
            .resolve_password(Dialect::Postgres)
            .expect_err("missing");
        assert!(e.to_string().contains("password_file"), "{e}");
    }
}
