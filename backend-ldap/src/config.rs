//! How to reach the directory: URL, base DN, bind, TLS, pool, timeouts, server-side TTL
//! and the purge knobs PingDirectory's cleanup plugins have.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use authstate_core::{Error, Result, SecretString};

use crate::BACKEND_NAME;

/// Everything the LDAP backend needs to connect.
///
/// ```
/// use authstate_backend_ldap::{Bind, LdapConfig};
/// use authstate_core::SecretString;
///
/// let config = LdapConfig {
///     bind: Bind::Simple {
///         dn: "cn=authstate,ou=services,dc=example,dc=com".into(),
///         password: SecretString::new("s3cret"),
///     },
///     ..LdapConfig::new("ldaps://ldap.example.com", "ou=authstate,dc=example,dc=com")
/// };
/// config.validate().unwrap();
/// // The password never shows.
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct LdapConfig {
    /// `ldap://host:port` (plain or with [`TlsOptions::start_tls`]), `ldaps://host:port`,
    /// or `ldapi://%2Fpath%2Fto%2Fsocket`.
    pub url: String,
    /// The entry under which every namespace gets its subtree
    /// (`ou=<namespace>,<base_dn>`). It must exist; the backend never creates it.
    pub base_dn: String,
    /// How the connections authenticate.
    pub bind: Bind,
    /// Certificates for `ldaps://` and StartTLS.
    pub tls: TlsOptions,
    /// Connections per opened node. Operations are spread over them round-robin, so
    /// concurrent operations do not queue behind each other on one socket. Default 4.
    pub pool_size: usize,
    /// How long connecting (TCP, TLS, bind) may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long one LDAP operation may take before it is `Unavailable`. Default 10 s.
    pub operation_timeout: Duration,
    /// Server-side removal of expired entries. Default: none (the sweeper purges).
    pub server_ttl: ServerTtl,
    /// Also write the expiry (and a session's last activity) as GeneralizedTime
    /// attributes (`authstateExpiryTime`, `authstateLastActivityTime`), for servers that
    /// remove entries by date: PingDS TTL-enabled indexes, PingDirectory's Purge Expired
    /// Data plugin. Written for every record whose expiry only ever moves with those
    /// writes (not lockout counters, whose lock can outlast the written window, nor the
    /// revocation feed). Default off.
    pub time_attributes: bool,
    /// How purge deletes (PingDirectory's cleanup plugin knobs).
    pub purge: PurgeOptions,
}

impl LdapConfig {
    /// A config for `url` and `base_dn` with an anonymous bind and the defaults.
    pub fn new(url: impl Into<String>, base_dn: impl Into<String>) -> Self {
        LdapConfig {
            url: url.into(),
            base_dn: base_dn.into(),
            bind: Bind::Anonymous,
            tls: TlsOptions::default(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            server_ttl: ServerTtl::None,
            time_attributes: false,
            purge: PurgeOptions::default(),
        }
    }

    /// `ConfigInvalid` naming the first field that is wrong.
    pub fn validate(&self) -> Result<()> {
        let scheme = self
            .url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(scheme.as_str(), "ldap" | "ldaps" | "ldapi") {
            return Err(invalid(format!(
                "url {:?} must start with ldap://, ldaps:// or ldapi://",
                self.url
            )));
        }
        if self.tls.start_tls && scheme != "ldap" {
            return Err(invalid(
                "tls.start_tls needs an ldap:// url (ldaps:// is TLS from the start)",
            ));
        }
        if !self.base_dn.contains('=') || self.base_dn.trim().is_empty() {
            return Err(invalid(format!(
                "base_dn {:?} is not a DN (e.g. ou=authstate,dc=example,dc=com)",
                self.base_dn
            )));
        }
        if let Bind::Simple { dn, password } = &self.bind {
            if !dn.contains('=') {
                return Err(invalid(format!("bind dn {dn:?} is not a DN")));
            }
            if password.expose().is_empty() {
                // An empty password is an unauthenticated bind (RFC 4513 §5.1.2): the
                // server would treat the connection as anonymous.
                return Err(invalid(
                    "bind password is empty: that is an unauthenticated bind; use Bind::Anonymous \
                     if that is what you mean",
                ));
            }
        }
        if matches!(self.bind, Bind::SaslExternal)
            && scheme != "ldapi"
            && self.tls.client_cert.is_none()
        {
            return Err(invalid(
                "SASL EXTERNAL needs a client certificate (tls.client_cert) or an ldapi:// url",
            ));
        }
        if self.tls.client_cert.is_some() && scheme != "ldaps" && !self.tls.start_tls {
            return Err(invalid(
                "tls.client_cert is set but the connection is not TLS: use ldaps:// or \
                 tls.start_tls",
            ));
        }
        if self.pool_size == 0 {
            return Err(invalid("pool_size is zero"));
        }
        if self.connect_timeout.is_zero() {
            return Err(invalid("connect_timeout is zero"));
        }
        if self.operation_timeout.is_zero() {
            return Err(invalid("operation_timeout is zero"));
        }
        if let ServerTtl::Dds { max_ttl, .. } = self.server_ttl
            && !(DDS_MIN_MAX_TTL..=DDS_MAX_MAX_TTL).contains(&max_ttl.as_secs())
        {
            return Err(invalid(format!(
                "server_ttl dds max_ttl of {}s must lie between {DDS_MIN_MAX_TTL}s and \
                 {DDS_MAX_MAX_TTL}s, as slapd's dds-max-ttl does",
                max_ttl.as_secs()
            )));
        }
        if self.purge.delete_threads == 0 {
            return Err(invalid("purge.delete_threads is zero"));
        }
        if self.purge.max_deletes_per_second == Some(0) {
            return Err(invalid(
                "purge.max_deletes_per_second is zero (leave it unset for no limit)",
            ));
        }
        Ok(())
    }

    /// The URL's scheme, lowercase.
    pub(crate) fn scheme(&self) -> String {
        self.url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written out so that a secret added to the config later cannot slip into logs
        // through a derive: the bind prints without its password.
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("base_dn", &self.base_dn)
            .field("bind", &self.bind)
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("server_ttl", &self.server_ttl)
            .field("time_attributes", &self.time_attributes)
            .field("purge", &self.purge)
            .finish()
    }
}

/// slapd's lower bound for `dds-max-ttl` (1 day).
const DDS_MIN_MAX_TTL: u64 = 86_400;
/// slapd's upper bound for `dds-max-ttl` (1 year and 6 hours, RFC 2589).
const DDS_MAX_MAX_TTL: u64 = 31_557_600;

fn invalid(message: impl Into<String>) -> Error {
    Error::config(BACKEND_NAME, message)
}

/// How connections authenticate.
#[derive(Clone)]
pub enum Bind {
    /// No bind: only for directories whose ACLs let anonymous clients write the subtree.
    Anonymous,
    /// A simple bind with a DN and password (over TLS, please).
    Simple {
        /// The bind DN.
        dn: String,
        /// The password. Never printed.
        password: SecretString,
    },
    /// SASL EXTERNAL: the identity of the TLS client certificate ([`TlsOptions::client_cert`])
    /// or of the `ldapi://` peer.
    SaslExternal,
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Anonymous => f.write_str("Anonymous"),
            Bind::Simple { dn, .. } => f
                .debug_struct("Simple")
                .field("dn", dn)
                .field("password", &"[redacted]")
                .finish(),
            Bind::SaslExternal => f.write_str("SaslExternal"),
        }
    }
}

/// TLS settings for `ldaps://` and StartTLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Upgrade an `ldap://` connection with the StartTLS extended operation.
    pub start_tls: bool,
    /// PEM file with the CA certificate(s) that sign the server's certificate. Without
    /// it, the operating system's roots are used.
    pub ca_file: Option<PathBuf>,
    /// A client certificate for mutual TLS (and SASL EXTERNAL).
    pub client_cert: Option<ClientCert>,
}

/// A client certificate chain and its private key, as PEM files. Only paths are kept
/// here; the key is read when connecting and never printed.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// PEM file with the certificate, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Whether the directory removes expired entries by itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerTtl {
    /// Only purge (the sweeper) removes expired entries.
    #[default]
    None,
    /// OpenLDAP's `dds` overlay (RFC 2589 dynamic objects): records whose whole life
    /// fits within `max_ttl` are added as `dynamicObject`s, and their `entryTtl` is then
    /// shortened to their expiry with the refresh extended operation.
    ///
    /// `max_ttl` must equal the server's `dds-max-ttl`, and `dds-default-ttl` must be
    /// left unset (0), so that a new dynamic entry starts at the maximum and is never
    /// removed before its expiry even if the refresh is lost. Reads never depend on it:
    /// expiry is always decided by the store's clock.
    Dds {
        /// The server's `dds-max-ttl` (86400 s to 31557600 s).
        max_ttl: Duration,
        /// Added to every entryTtl: covers clock skew between the nodes and the
        /// directory, and dds's whole-second TTLs. [`ServerTtl::DDS_TOLERANCE`] (a
        /// minute) unless your clocks are known to agree more closely.
        tolerance: Duration,
    },
}

impl ServerTtl {
    /// The default [`ServerTtl::Dds`] tolerance: one minute.
    pub const DDS_TOLERANCE: Duration = Duration::from_secs(60);

    /// The dds mode for a server whose `dds-max-ttl` is `max_ttl`, with the default
    /// tolerance.
    pub fn dds(max_ttl: Duration) -> Self {
        ServerTtl::Dds {
            max_ttl,
            tolerance: Self::DDS_TOLERANCE,
        }
    }
}

/// How purge deletes, after PingDirectory's "Clean Up Expired PingFederate Persistent
/// Sessions" plugin: a number of delete threads and a rate cap. The polling interval is
/// the sweeper's (`authstate_core::sweeper::SweeperConfig::interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeOptions {
    /// Deletes in flight at once during a purge. Default 1.
    pub delete_threads: usize,
    /// The most deletes per second one purge sends, or `None` for no limit.
    pub max_deletes_per_second: Option<u32>,
}

impl Default for PurgeOptions {
    fn default() -> Self {
        PurgeOptions {
            delete_threads: 1,
            max_deletes_per_second: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LdapConfig {
        LdapConfig::new("ldap://127.0.0.1:389", "ou=authstate,dc=example,dc=com")
    }

    #[test]
    fn validate_names_the_field() {
        assert!(base().validate().is_ok());
        let e = LdapConfig {
            url: "http://x".into(),
            ..base()
        }
        .validate()
        .expect_err("bad scheme");
        assert!(e.message().contains("url"));
        let e = LdapConfig {
            base_dn: "authstate".into(),
            ..base()
        }
        .validate()
        .expect_err("bad base");
        assert!(e.message().contains("base_dn"));
        let e = LdapConfig {
            bind: Bind::SaslExternal,
            ..base()
        }
        .validate()
        .expect_err("external without cert");
        assert!(e.message().contains("SASL EXTERNAL"));
        let e = LdapConfig {
            server_ttl: ServerTtl::dds(Duration::from_secs(60)),
            ..base()
        }
        .validate()
        .expect_err("dds max ttl");
        assert!(e.message().contains("dds"));
        let e = LdapConfig {
            pool_size: 0,
            ..base()
        }
        .validate()
        .expect_err("pool");
        assert!(e.message().contains("pool_size"));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let config = LdapConfig {
            bind: Bind::Simple {
                dn: "cn=a,dc=b".into(),
                password: SecretString::new("hunter2-password"),
            },
            ..base()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cn=a,dc=b"));
    }
}
