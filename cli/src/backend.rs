//! Opening a backend from `--backend URL`.

use authstate::{MemoryBackend, Namespace, StoreConfig, Stores};

use crate::error::CliError;

/// The backend used without `--backend` or `--config`. The embedded default becomes a
/// SQLite file once the SQL backend ships; until then it is the memory backend.
pub const DEFAULT_BACKEND: &str = "memory:";

/// Schemes of backends that come in later releases, with what they are.
const LATER_SCHEMES: &[(&str, &str)] = &[
    ("redis", "Redis"),
    ("rediss", "Redis over TLS"),
    ("postgres", "PostgreSQL"),
    ("postgresql", "PostgreSQL"),
    ("mysql", "MySQL/MariaDB"),
    ("mariadb", "MySQL/MariaDB"),
    ("sqlite", "SQLite"),
    ("ldap", "LDAP"),
    ("ldaps", "LDAP over TLS"),
];

/// What this release can open, and what comes later, for error messages.
const SUPPORTED: &str = "this release supports `memory:`; Redis (redis://, rediss://), SQL \
                         (postgres://, mysql://, sqlite:) and LDAP (ldap://, ldaps://) come in \
                         later releases";

/// A parsed `--backend` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendUrl {
    /// `memory:` — the in-process memory backend; nothing survives the process.
    Memory,
}

impl BackendUrl {
    /// Parses a backend URL. Messages name the scheme but never echo the whole URL:
    /// a Redis or SQL URL can carry a password.
    pub fn parse(url: &str) -> Result<Self, CliError> {
        let Some((scheme, rest)) = url.split_once(':').filter(|(s, _)| is_scheme(s)) else {
            return Err(CliError::Usage(format!(
                "--backend: not a backend URL; expected `scheme:…` such as `memory:` ({SUPPORTED})"
            )));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "memory" {
            return if rest.is_empty() || rest == "//" {
                Ok(BackendUrl::Memory)
            } else {
                Err(CliError::Usage(
                    "--backend: the memory backend takes no address or options; use `memory:`"
                        .into(),
                ))
            };
        }
        match LATER_SCHEMES.iter().find(|(s, _)| *s == scheme) {
            Some((_, name)) => Err(CliError::Usage(format!(
                "--backend: the {name} backend (`{scheme}:`) is not available yet: {SUPPORTED}"
            ))),
            None => Err(CliError::Usage(format!(
                "--backend: unknown backend scheme `{scheme}`: {SUPPORTED}"
            ))),
        }
    }

    /// The backend given, or the default.
    pub fn from_arg(arg: Option<&str>) -> Result<Self, CliError> {
        Self::parse(arg.unwrap_or(DEFAULT_BACKEND))
    }

    /// Opens all nine stores in `namespace`.
    pub fn open(self, namespace: &str) -> Result<Stores, CliError> {
        let config = StoreConfig::new(Namespace::new(namespace)?);
        match self {
            BackendUrl::Memory => Ok(MemoryBackend::new().open(config)?),
        }
    }
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`. Checked before a scheme is
/// echoed, so that nothing that is not a scheme (say, `user:password@host`) is printed.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_message(url: &str) -> String {
        match BackendUrl::parse(url) {
            Err(CliError::Usage(m)) => m,
            other => panic!("expected a usage error for {url:?}, got {other:?}"),
        }
    }

    #[test]
    fn memory_parses_with_or_without_slashes() {
        assert_eq!(BackendUrl::parse("memory:").ok(), Some(BackendUrl::Memory));
        assert_eq!(
            BackendUrl::parse("memory://").ok(),
            Some(BackendUrl::Memory)
        );
        assert_eq!(BackendUrl::parse("MEMORY:").ok(), Some(BackendUrl::Memory));
        assert_eq!(BackendUrl::from_arg(None).ok(), Some(BackendUrl::Memory));
    }

    #[test]
    fn memory_with_an_address_is_refused() {
        assert!(usage_message("memory://localhost").contains("takes no address"));
    }

    #[test]
    fn later_backends_are_named_without_echoing_the_url() {
        let m = usage_message("redis://:hunter2@cache:6379");
        assert!(m.contains("Redis backend (`redis:`)"), "{m}");
        assert!(m.contains("later releases"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(usage_message("postgres://u:p@db/x").contains("PostgreSQL"));
        assert!(usage_message("ldaps://dir").contains("LDAP over TLS"));
    }

    #[test]
    fn unknown_scheme_is_named() {
        let m = usage_message("mongodb://db");
        assert!(m.contains("unknown backend scheme `mongodb`"), "{m}");
        assert!(m.contains("memory:"), "{m}");
    }

    #[test]
    fn non_urls_are_not_echoed() {
        for url in ["", "memory", "user name:secret@host", "1x:"] {
            let m = usage_message(url);
            assert!(m.contains("not a backend URL"), "{url:?}: {m}");
            assert!(!m.contains("secret"), "{m}");
        }
    }
}
