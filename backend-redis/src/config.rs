//! How to reach Redis: one standalone server (TCP or a unix socket), a master found through
//! Sentinel, or a Cluster; with ACL credentials, TLS, timeouts and a number of multiplexed
//! connections.
//!
//! [`RedisConfig`] is what an operator writes (the CLI reads it from TOML); every field has
//! a default, unknown fields are refused, and [`RedisConfig::validate`] names the field of
//! every bad combination. Secrets (passwords, private keys) never appear in `Debug`.
//!
//! # Fields
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `url` | none | a URL instead of `host`/`port`/`socket`/`sentinel`/`cluster` (forms below) |
//! | `host` | none | server host name or IP address (IPv6 with or without `[]`) |
//! | `port` | `6379` | server port (needs `host`) |
//! | `socket` | none | path of a unix socket, instead of `host` |
//! | `username` | none | ACL user (Redis 6+); needs a password |
//! | `password` | none | password of `username`, or the `requirepass` password |
//! | `password_file` | none | file holding the password, read when connecting; one trailing newline is removed |
//! | `database_index` | `0` | `SELECT`ed database (always 0 on Cluster) |
//! | `timeout` | `5000` | milliseconds; default for both timeouts below |
//! | `connect_timeout` | `timeout` | milliseconds to establish a connection (TCP, TLS, `AUTH`, `SELECT`, and for Sentinel the discovery of the master) |
//! | `response_timeout` | `timeout` | milliseconds to wait for the reply to one command |
//! | `connections` | `2` | multiplexed connections the handle round-robins over (1 to 64) |
//! | `tls` | off | TLS to the data nodes, see [`TlsConfig`]; its presence turns TLS on |
//! | `sentinel` | off | find the master through Sentinel, see [`SentinelConfig`] |
//! | `cluster` | off | Redis Cluster, see [`ClusterConfig`] |
//!
//! # URL forms
//!
//! | URL | meaning |
//! |---|---|
//! | `redis://[[user]:password@]host[:port][/db]` | standalone, plain TCP |
//! | `rediss://…` (same) | standalone over TLS (system CA roots unless a `tls` section says otherwise) |
//! | `redis+unix:///path/to/redis.sock[?db=N&user=U&pass=P]`, `unix:///…` | standalone over a unix socket |
//! | `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/master_name[/db]` | Sentinel; ports default to 26379 |
//! | `rediss+sentinel://…` | Sentinel, TLS to the data nodes and to the sentinels |
//! | `redis+cluster://[[user]:password@]host[:port][,host[:port]…]` | Cluster seed nodes; ports default to 6379 |
//! | `rediss+cluster://…` | Cluster over TLS |
//!
//! Credentials in a URL are those of the data nodes (percent-encoded); sentinel credentials
//! go in the `sentinel` section. A URL combines with the other fields only where it leaves
//! them open: a `tls` section needs a `rediss…` scheme, `username`/`password` need a URL
//! without credentials, `database_index` a URL without a database, and with a
//! `redis+sentinel://` URL the `sentinel` section may carry only credentials and `tls`.
//!
//! # From Authelia's `session.redis`
//!
//! | Authelia | authstate |
//! |---|---|
//! | `host` (or a socket path), `port` | `host` or `socket`, `port` |
//! | `username`, `password` | `username`, `password` or `password_file` |
//! | `database_index` | `database_index` |
//! | `maximum_active_connections`, `minimum_idle_connections` | `connections`: connections are multiplexed, so a handful carries what a pool of many does; all are opened at start |
//! | `tls.server_name`, `tls.skip_verify` | `tls.server_name`, `tls.insecure_skip_verify` (logged as a warning on every connect) |
//! | `tls.minimum_version`, `tls.maximum_version` | the same (`"TLS1.2"`, `"TLS1.3"`, `"1.2"`, `"1.3"`) |
//! | `tls.certificate_chain`, `tls.private_key` | the same, or `…_file`; the CA is `tls.ca_certificates(_file)` |
//! | `high_availability.sentinel_name` | `sentinel.master_name` |
//! | `high_availability.sentinel_username`, `sentinel_password` | `sentinel.username`, `sentinel.password` |
//! | `high_availability.nodes` | `sentinel.nodes` (`{ host, port }` tables or `"host:port"` strings) |
//! | `route_by_latency`, `route_randomly` | not offered: every command goes to the master, so that single-use and replay checks never read a stale replica |
//!
//! ```
//! use authstate_backend_redis::RedisConfig;
//!
//! let config = RedisConfig::from_url("redis+sentinel://10.0.0.1,10.0.0.2:26380/mymaster/2");
//! config.validate().unwrap();
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authstate_core::{Error, Result, SecretString};
use serde::Deserialize;

use crate::BACKEND_NAME;
use crate::tls::TlsSettings;

/// The default port of a Redis server.
pub const DEFAULT_PORT: u16 = 6379;
/// The default port of a Redis Sentinel.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// The default of [`RedisConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default of [`RedisConfig::connections`].
pub const DEFAULT_CONNECTIONS: usize = 2;
/// The largest accepted [`RedisConfig::connections`].
pub const MAX_CONNECTIONS: usize = 64;

/// Connection settings for the Redis backend. See the [module docs](self) for every field,
/// its default and the URL forms.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// A URL (see the module docs for the forms); empty when the other fields say where
    /// Redis is.
    #[serde(default)]
    pub url: String,
    /// The server's host name or IP address.
    #[serde(default)]
    pub host: Option<String>,
    /// The server's port (default 6379).
    #[serde(default)]
    pub port: Option<u16>,
    /// A unix socket path, instead of `host` and `port`.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// The ACL user name (Redis 6 and later).
    #[serde(default)]
    pub username: Option<String>,
    /// The password of `username`, or of the default user.
    #[serde(default, deserialize_with = "secret::option")]
    pub password: Option<SecretString>,
    /// A file holding the password, read when connecting (one trailing newline removed).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The database to `SELECT` (default 0).
    #[serde(default)]
    pub database_index: Option<u32>,
    /// How long to wait for a connection and for each command, unless
    /// `connect_timeout` or `response_timeout` say otherwise (milliseconds in TOML).
    #[serde(default = "default_timeout", with = "millis")]
    pub timeout: Duration,
    /// How long to wait for a connection: TCP, TLS, `AUTH`, `SELECT` and, with Sentinel,
    /// finding the master (milliseconds in TOML; default `timeout`).
    #[serde(default, with = "millis_option")]
    pub connect_timeout: Option<Duration>,
    /// How long to wait for the reply to one command (milliseconds in TOML; default
    /// `timeout`).
    #[serde(default, with = "millis_option")]
    pub response_timeout: Option<Duration>,
    /// How many multiplexed connections to round-robin over (per cluster node with Cluster).
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// TLS to the data nodes; present means on.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Find the master through Sentinel.
    #[serde(default)]
    pub sentinel: Option<SentinelConfig>,
    /// Talk to a Redis Cluster.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

/// TLS settings. Certificates are verified unless `insecure_skip_verify` is set.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The name the server certificate must carry, when it is not the host connected to
    /// (also sent as SNI).
    #[serde(default)]
    pub server_name: Option<String>,
    /// PEM CA certificates to trust, inline. Without this and `ca_certificates_file`,
    /// the system's roots are trusted.
    #[serde(default)]
    pub ca_certificates: Option<String>,
    /// A PEM file of CA certificates to trust.
    #[serde(default)]
    pub ca_certificates_file: Option<PathBuf>,
    /// The client certificate chain (PEM, leaf first), inline, for servers that demand
    /// client certificates (`tls-auth-clients yes`).
    #[serde(default)]
    pub certificate_chain: Option<String>,
    /// A PEM file with the client certificate chain.
    #[serde(default)]
    pub certificate_chain_file: Option<PathBuf>,
    /// The client private key (PEM: PKCS#8, PKCS#1 or SEC1), inline.
    #[serde(default, deserialize_with = "secret::option")]
    pub private_key: Option<SecretString>,
    /// A PEM file with the client private key.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The lowest TLS version to speak (default 1.2).
    #[serde(default)]
    pub minimum_version: Option<TlsVersion>,
    /// The highest TLS version to speak (default 1.3).
    #[serde(default)]
    pub maximum_version: Option<TlsVersion>,
    /// Accept any server certificate. Only for tests: every connect logs a warning.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A TLS protocol version. rustls speaks only 1.2 and 1.3.
///
/// Accepted spellings: `"1.2"`, `"TLS1.2"`, `"TLSv1.2"` (any case), and the same for 1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2
    Tls12,
    /// TLS 1.3
    Tls13,
}

/// Reaching the master through Sentinel.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
    #[serde(default)]
    pub master_name: String,
    /// The sentinels to ask, in order of preference (port default 26379).
    #[serde(default)]
    pub nodes: Vec<NodeAddress>,
    /// The ACL user to authenticate to the sentinels as.
    #[serde(default)]
    pub username: Option<String>,
    /// The sentinels' password (`requirepass` of the sentinels, or of `username`).
    #[serde(default, deserialize_with = "secret::option")]
    pub password: Option<SecretString>,
    /// A file holding the sentinels' password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// TLS to the sentinels (the top-level `tls` is for the data nodes).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// Talking to a Redis Cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Seed nodes; the rest of the cluster is discovered from them (port default 6379).
    #[serde(default)]
    pub nodes: Vec<NodeAddress>,
}

/// A node's host and optional port; written as `{ host = "…", port = … }` or as
/// `"host:port"` (`"[::1]:6379"` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Host name or IP address.
    pub host: String,
    /// Port; the default depends on the node's role.
    pub port: Option<u16>,
}

impl NodeAddress {
    /// `host` on `port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        NodeAddress {
            host: host.into(),
            port: Some(port),
        }
    }
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_connections() -> usize {
    DEFAULT_CONNECTIONS
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            host: None,
            port: None,
            socket: None,
            username: None,
            password: None,
            password_file: None,
            database_index: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            response_timeout: None,
            connections: DEFAULT_CONNECTIONS,
            tls: None,
            sentinel: None,
            cluster: None,
        }
    }
}

impl RedisConfig {
    /// Settings for `url` with defaults for everything else.
    pub fn from_url(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            ..RedisConfig::default()
        }
    }

    /// Settings for a standalone server at `host:port`.
    pub fn from_host(host: impl Into<String>, port: u16) -> Self {
        RedisConfig {
            host: Some(host.into()),
            port: Some(port),
            ..RedisConfig::default()
        }
    }

    /// How long connecting may take.
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(self.timeout)
    }

    /// How long one command may take.
    pub fn effective_response_timeout(&self) -> Duration {
        self.response_timeout.unwrap_or(self.timeout)
    }

    /// Checks every field and combination, and reads the files the settings name
    /// (password files, certificates and keys), as connecting would, without connecting.
    /// Errors are `ConfigInvalid` and name the field.
    pub fn validate(&self) -> Result<()> {
        self.resolve().map(drop)
    }

    /// Turns the settings into what the connection code uses: one topology, credentials,
    /// TLS material loaded from files and checked.
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let connect_timeout = self.effective_connect_timeout();
        let response_timeout = self.effective_response_timeout();
        for (field, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", connect_timeout),
            ("response_timeout", response_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(field, "must be more than 0 milliseconds"));
            }
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(invalid(
                "connections",
                format!(
                    "must be between 1 and {MAX_CONNECTIONS}, not {}",
                    self.connections
                ),
            ));
        }
        if self.sentinel.is_some() && self.cluster.is_some() {
            return Err(invalid(
                "sentinel",
                "sentinel and cluster are alternatives: set one of them",
            ));
        }

        let url = if self.url.trim().is_empty() {
            None
        } else {
            Some(parse_url(self.url.trim())?)
        };
        let has_direct_address =
            self.host.is_some() || self.port.is_some() || self.socket.is_some();
        if url.is_some() && has_direct_address {
            return Err(invalid(
                "url",
                "url and host/port/socket are alternatives: set one of them",
            ));
        }
        if self.port.is_some() && self.host.is_none() {
            return Err(invalid("port", "is set but host is not"));
        }
        if self.host.is_some() && self.socket.is_some() {
            return Err(invalid(
                "socket",
                "host and socket are alternatives: set one of them",
            ));
        }
        if let Some(host) = &self.host {
            check_host("host", host)?;
        }
        if self.port == Some(0) {
            return Err(invalid("port", "must not be 0"));
        }

        // Credentials of the data nodes: from the URL or from the fields, not both.
        let url_has_credentials = url
            .as_ref()
            .is_some_and(|u| u.username.is_some() || u.password.is_some());
        if url_has_credentials
            && (self.username.is_some() || self.password.is_some() || self.password_file.is_some())
        {
            return Err(invalid(
                "url",
                "carries credentials, so username/password/password_file must not be set too",
            ));
        }
        let auth = if url_has_credentials {
            let u = url
                .as_ref()
                .map(|u| (u.username.clone(), u.password.clone()));
            let (username, password) = u.unwrap_or_default();
            Auth::check("url", username, password.map(SecretString::new))?
        } else {
            let password = read_password(
                "password",
                self.password.as_ref(),
                "password_file",
                self.password_file.as_deref(),
            )?;
            Auth::check("username", self.username.clone(), password)?
        };

        let db = match (url.as_ref().and_then(|u| u.db), self.database_index) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "database_index",
                    "the url already names a database: set it in one place",
                ));
            }
            (Some(db), None) | (None, Some(db)) => db,
            (None, None) => 0,
        };

        let url_tls = url.as_ref().map(|u| u.tls);
        if url_tls == Some(false) && self.tls.is_some() {
            return Err(invalid(
                "tls",
                "is set but the url's scheme is plain (redis://…): use rediss://… for TLS",
            ));
        }
        let tls_config = match (&self.tls, url_tls) {
            (Some(t), _) => Some(t.clone()),
            // A `rediss` URL alone: verify against the system roots.
            (None, Some(true)) => Some(TlsConfig::default()),
            _ => None,
        };

        let topology = match (url, &self.sentinel, &self.cluster) {
            (Some(u), sentinel, cluster) => match u.target {
                UrlTarget::Tcp { host, port } => {
                    no_section("sentinel", sentinel.is_some(), "a redis:// url")?;
                    no_section("cluster", cluster.is_some(), "a redis:// url")?;
                    Topology::Standalone(Endpoint::Tcp { host, port })
                }
                UrlTarget::Unix(path) => {
                    no_section("sentinel", sentinel.is_some(), "a unix socket url")?;
                    no_section("cluster", cluster.is_some(), "a unix socket url")?;
                    Topology::Standalone(Endpoint::Unix(path))
                }
                UrlTarget::Sentinel { nodes, master_name } => {
                    no_section("cluster", cluster.is_some(), "a redis+sentinel:// url")?;
                    let section = sentinel.clone().unwrap_or_default();
                    if !section.nodes.is_empty() || !section.master_name.is_empty() {
                        return Err(invalid(
                            "sentinel",
                            "the redis+sentinel:// url already lists the nodes and the master name: \
                             the sentinel section may only carry username, password, password_file and tls",
                        ));
                    }
                    let sentinel_tls = match (&section.tls, u.tls) {
                        (Some(t), _) => Some(t.clone()),
                        (None, true) => Some(TlsConfig::default()),
                        (None, false) => None,
                    };
                    Topology::Sentinel(resolve_sentinel(SentinelConfig {
                        master_name,
                        nodes,
                        tls: sentinel_tls,
                        ..section
                    })?)
                }
                UrlTarget::Cluster { nodes } => {
                    no_section("sentinel", sentinel.is_some(), "a redis+cluster:// url")?;
                    if cluster.as_ref().is_some_and(|c| !c.nodes.is_empty()) {
                        return Err(invalid(
                            "cluster.nodes",
                            "the redis+cluster:// url already lists the nodes: set them in one place",
                        ));
                    }
                    Topology::Cluster(resolve_cluster(&nodes)?)
                }
            },
            (None, Some(sentinel), None) => {
                if has_direct_address {
                    return Err(invalid(
                        "host",
                        "with sentinel, the master is found by asking the sentinels: \
                         list them in sentinel.nodes and leave host/port/socket unset",
                    ));
                }
                Topology::Sentinel(resolve_sentinel(sentinel.clone())?)
            }
            (None, None, Some(cluster)) => {
                if has_direct_address {
                    return Err(invalid(
                        "host",
                        "with cluster, list the seed nodes in cluster.nodes and leave host/port/socket unset",
                    ));
                }
                Topology::Cluster(resolve_cluster(&cluster.nodes)?)
            }
            (None, None, None) => match (&self.host, &self.socket) {
                (Some(host), _) => Topology::Standalone(Endpoint::Tcp {
                    host: strip_brackets(host).to_owned(),
                    port: self.port.unwrap_or(DEFAULT_PORT),
                }),
                (None, Some(path)) => Topology::Standalone(Endpoint::Unix(path.clone())),
                (None, None) => {
                    return Err(invalid(
                        "url",
                        "no Redis address: set url, host (and port), socket, sentinel or cluster",
                    ));
                }
            },
            // Ruled out above.
            (None, Some(_), Some(_)) => {
                return Err(invalid(
                    "sentinel",
                    "sentinel and cluster are alternatives: set one of them",
                ));
            }
        };

        if let Topology::Standalone(Endpoint::Unix(path)) = &topology {
            if tls_config.is_some() {
                return Err(invalid(
                    "tls",
                    format!(
                        "TLS over a unix socket ({}) is not supported",
                        path.display()
                    ),
                ));
            }
            if path.as_os_str().is_empty() {
                return Err(invalid("socket", "is empty"));
            }
        }
        if let Topology::Cluster(_) = &topology {
            if db != 0 {
                return Err(invalid(
                    "database_index",
                    format!("Redis Cluster has only database 0, not {db}"),
                ));
            }
            if let Some(tls) = &tls_config {
                check_cluster_tls(tls)?;
            }
        }

        let tls = tls_config
            .as_ref()
            .map(|t| TlsSettings::load(t, "tls"))
            .transpose()?;
        Ok(Resolved {
            topology,
            auth,
            db: i64::from(db),
            tls,
            connect_timeout,
            response_timeout,
            connections: self.connections,
        })
    }
}

fn no_section(field: &str, present: bool, url_kind: &str) -> Result<()> {
    if present {
        Err(invalid(
            field,
            format!("is set but url is {url_kind}: set one of them"),
        ))
    } else {
        Ok(())
    }
}

/// What redis 1.8.1's cluster client can do with TLS: CA, client certificate and key, no
/// more (it builds its own rustls config per node).
fn check_cluster_tls(tls: &TlsConfig) -> Result<()> {
    let unsupported = if tls.server_name.is_some() {
        Some("tls.server_name")
    } else if tls.minimum_version.is_some_and(|v| v != TlsVersion::Tls12)
        || tls.maximum_version.is_some_and(|v| v != TlsVersion::Tls13)
    {
        Some("tls.minimum_version/maximum_version")
    } else if tls.insecure_skip_verify {
        Some("tls.insecure_skip_verify")
    } else {
        None
    };
    match unsupported {
        Some(field) => Err(invalid(
            field,
            "is not supported with cluster: the cluster client (redis 1.8.1) verifies each node \
             against the address it announces, with TLS 1.2 and 1.3, and takes only the CA, \
             the client certificate and the key",
        )),
        None => Ok(()),
    }
}

fn resolve_sentinel(section: SentinelConfig) -> Result<SentinelTopology> {
    if section.master_name.trim().is_empty() {
        return Err(invalid(
            "sentinel.master_name",
            "is missing: the name the sentinels monitor the master under",
        ));
    }
    if section.nodes.is_empty() {
        return Err(invalid(
            "sentinel.nodes",
            "is empty: list at least one sentinel",
        ));
    }
    let nodes = section
        .nodes
        .iter()
        .map(|n| {
            check_host("sentinel.nodes", &n.host)?;
            if n.port == Some(0) {
                return Err(invalid("sentinel.nodes", format!("{}: port 0", n.host)));
            }
            Ok((
                strip_brackets(&n.host).to_owned(),
                n.port.unwrap_or(DEFAULT_SENTINEL_PORT),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let password = read_password(
        "sentinel.password",
        section.password.as_ref(),
        "sentinel.password_file",
        section.password_file.as_deref(),
    )?;
    let auth = Auth::check("sentinel.username", section.username.clone(), password)?;
    let tls = section
        .tls
        .as_ref()
        .map(|t| TlsSettings::load(t, "sentinel.tls"))
        .transpose()?;
    Ok(SentinelTopology {
        nodes,
        master_name: section.master_name,
        auth,
        tls,
    })
}

fn resolve_cluster(nodes: &[NodeAddress]) -> Result<ClusterTopology> {
    if nodes.is_empty() {
        return Err(invalid(
            "cluster.nodes",
            "is empty: list at least one seed node",
        ));
    }
    let nodes = nodes
        .iter()
        .map(|n| {
            check_host("cluster.nodes", &n.host)?;
            if n.port == Some(0) {
                return Err(invalid("cluster.nodes", format!("{}: port 0", n.host)));
            }
            Ok((
                strip_brackets(&n.host).to_owned(),
                n.port.unwrap_or(DEFAULT_PORT),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ClusterTopology { nodes })
}

fn check_host(field: &str, host: &str) -> Result<()> {
    let bare = strip_brackets(host);
    if bare.is_empty() {
        return Err(invalid(field, "host is empty"));
    }
    if bare
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(invalid(
            field,
            format!("{host:?} is not a host name or address"),
        ));
    }
    Ok(())
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The password from the field or the file; never both.
fn read_password(
    field: &str,
    inline: Option<&SecretString>,
    file_field: &str,
    file: Option<&Path>,
) -> Result<Option<SecretString>> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            file_field,
            format!("{field} and {file_field} are alternatives: set one of them"),
        )),
        (Some(p), None) => Ok(Some(p.clone())),
        (None, Some(path)) => read_secret_file(file_field, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// Reads a secret from a file, trimming one trailing newline (`\n` or `\r\n`), as files
/// written by `echo` or by secret managers end.
pub(crate) fn read_secret_file(field: &str, path: &Path) -> Result<SecretString> {
    let bytes = std::fs::read(path).map_err(|e| {
        invalid(
            field,
            format!("cannot read the file {}: {e}", path.display()),
        )
    })?;
    let mut text = String::from_utf8(bytes).map_err(|_| {
        invalid(
            field,
            format!("the file {} is not UTF-8 text", path.display()),
        )
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    let secret = SecretString::new(text);
    if secret.expose().is_empty() {
        return Err(invalid(
            field,
            format!("the file {} is empty", path.display()),
        ));
    }
    Ok(secret)
}

pub(crate) fn invalid(field: &str, problem: impl fmt::Display) -> Error {
    Error::config(BACKEND_NAME, format!("{field}: {problem}"))
}

/// The settings, checked and loaded.
pub(crate) struct Resolved {
    pub(crate) topology: Topology,
    pub(crate) auth: Auth,
    pub(crate) db: i64,
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) connections: usize,
}

pub(crate) enum Topology {
    Standalone(Endpoint),
    Sentinel(SentinelTopology),
    Cluster(ClusterTopology),
}

#[derive(Clone)]
pub(crate) enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

pub(crate) struct SentinelTopology {
    pub(crate) nodes: Vec<(String, u16)>,
    pub(crate) master_name: String,
    pub(crate) auth: Auth,
    pub(crate) tls: Option<TlsSettings>,
}

pub(crate) struct ClusterTopology {
    pub(crate) nodes: Vec<(String, u16)>,
}

/// Credentials for `AUTH`.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<SecretString>,
}

impl Auth {
    fn check(
        field: &str,
        username: Option<String>,
        password: Option<SecretString>,
    ) -> Result<Self> {
        let username = username.filter(|u| !u.is_empty());
        if username.is_some() && password.is_none() {
            return Err(invalid(
                field,
                "a user name needs a password (password or password_file)",
            ));
        }
        Ok(Auth { username, password })
    }
}

// ---------------------------------------------------------------------------------------
// URLs

struct ParsedUrl {
    target: UrlTarget,
    tls: bool,
    username: Option<String>,
    password: Option<String>,
    db: Option<u32>,
}

enum UrlTarget {
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    Sentinel {
        nodes: Vec<NodeAddress>,
        master_name: String,
    },
    Cluster {
        nodes: Vec<NodeAddress>,
    },
}

const SCHEMES: &str = "redis://, rediss://, redis+unix://, unix://, redis+sentinel://, \
                       rediss+sentinel://, redis+cluster://, rediss+cluster://";

fn parse_url(url: &str) -> Result<ParsedUrl> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            "url",
            format!(
                "{} is not a URL: expected one of {SCHEMES}",
                redact_url(url)
            ),
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "redis+unix" | "unix" => return parse_unix_url(rest),
        "redis" | "rediss" | "redis+sentinel" | "rediss+sentinel" | "redis+cluster"
        | "rediss+cluster" => {}
        other => {
            return Err(invalid(
                "url",
                format!("unsupported scheme {other:?}: expected one of {SCHEMES}"),
            ));
        }
    }
    let tls = scheme.starts_with("rediss");
    if rest.contains('?') || rest.contains('#') {
        return Err(invalid(
            "url",
            "query parameters and fragments are not supported in redis URLs: \
             use the configuration fields instead",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = match info.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (info, None),
            };
            let user = percent_decode("url", user)?;
            let pass = pass.map(|p| percent_decode("url", p)).transpose()?;
            (
                Some(user).filter(|u| !u.is_empty()),
                pass.filter(|p| !p.is_empty()),
            )
        }
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (target, db) = if scheme.ends_with("+sentinel") {
        let nodes = parse_node_list(hosts, DEFAULT_SENTINEL_PORT)?;
        let (master, db) = match segments.as_slice() {
            [master] => (*master, None),
            [master, db] => (*master, Some(parse_db(db)?)),
            _ => {
                return Err(invalid(
                    "url",
                    "a redis+sentinel:// url ends with /master_name or /master_name/db",
                ));
            }
        };
        let master_name = percent_decode("url", master)?;
        (UrlTarget::Sentinel { nodes, master_name }, db)
    } else if scheme.ends_with("+cluster") {
        let nodes = parse_node_list(hosts, DEFAULT_PORT)?;
        let db = match segments.as_slice() {
            [] => None,
            [db] => Some(parse_db(db)?),
            _ => return Err(invalid("url", "a redis+cluster:// url has no path")),
        };
        (UrlTarget::Cluster { nodes }, db)
    } else {
        let node = parse_node("url", hosts)?;
        let db = match segments.as_slice() {
            [] => None,
            [db] => Some(parse_db(db)?),
            _ => return Err(invalid("url", "the path of a redis:// url is /db")),
        };
        (
            UrlTarget::Tcp {
                host: node.host,
                port: node.port.unwrap_or(DEFAULT_PORT),
            },
            db,
        )
    };
    Ok(ParsedUrl {
        target,
        tls,
        username,
        password,
        db,
    })
}

fn parse_unix_url(rest: &str) -> Result<ParsedUrl> {
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let path = percent_decode("url", path)?;
    if !path.starts_with('/') {
        return Err(invalid(
            "url",
            "a unix socket url names an absolute path: redis+unix:///path/to/redis.sock",
        ));
    }
    let (mut username, mut password, mut db) = (None, None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode("url", value)?;
        match key {
            "db" => db = Some(parse_db(&value)?),
            "user" => username = Some(value).filter(|v| !v.is_empty()),
            "pass" | "password" => password = Some(value).filter(|v| !v.is_empty()),
            other => {
                return Err(invalid(
                    "url",
                    format!("unknown query parameter {other:?}: expected db, user or pass"),
                ));
            }
        }
    }
    Ok(ParsedUrl {
        target: UrlTarget::Unix(PathBuf::from(path)),
        tls: false,
        username,
        password,
        db,
    })
}

fn parse_db(text: &str) -> Result<u32> {
    text.parse::<u32>().map_err(|_| {
        invalid(
            "url",
            format!("{text:?} is not a database index (a number from 0)"),
        )
    })
}

fn parse_node_list(hosts: &str, default_port: u16) -> Result<Vec<NodeAddress>> {
    hosts
        .split(',')
        .map(|h| {
            let mut node = parse_node("url", h)?;
            node.port.get_or_insert(default_port);
            Ok(node)
        })
        .collect()
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; errors name `field` (the URL, or the
/// setting the node string was written in).
fn parse_node(field: &str, text: &str) -> Result<NodeAddress> {
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(invalid(
                field,
                format!("{text:?}: unclosed [ in an IPv6 address"),
            ));
        };
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(invalid(field, format!("{text:?} is not host:port"))),
        };
        (host.to_owned(), port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host.to_owned(), Some(port)),
            // A bare IPv6 address without brackets and without a port.
            Some(_) => (text.to_owned(), None),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid(field, format!("{text:?}: the host is empty")));
    }
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(invalid(field, format!("{p:?} is not a port (1 to 65535)"))),
        })
        .transpose()?;
    Ok(NodeAddress { host, port })
}

fn percent_decode(field: &str, text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => return Err(invalid(field, "a % is not followed by two hex digits")),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid(field, "percent-decodes to invalid UTF-8"))
}

/// The URL without anything that may be a secret: user info and query are replaced.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "[redacted: not a URL]".to_owned();
    };
    let (rest, had_query) = match rest.split_once(['?', '#']) {
        Some((before, _)) => (before, true),
        None => (rest, false),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:[redacted]@{hosts}"),
            None => format!("[redacted]@{hosts}"),
        },
        None => authority.to_owned(),
    };
    let query = if had_query { "?[redacted]" } else { "" };
    format!("{scheme}://{authority}{path}{query}")
}

// ---------------------------------------------------------------------------------------
// Debug without secrets

fn redacted<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "[redacted]"
    } else {
        "None"
    }
}

fn pem_summary(value: &Option<String>) -> String {
    match value {
        Some(pem) => format!("<{} bytes of PEM>", pem.len()),
        None => "None".to_owned(),
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field cannot be forgotten here.
        let RedisConfig {
            url,
            host,
            port,
            socket,
            username,
            password,
            password_file,
            database_index,
            timeout,
            connect_timeout,
            response_timeout,
            connections,
            tls,
            sentinel,
            cluster,
        } = self;
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(url))
            .field("host", host)
            .field("port", port)
            .field("socket", socket)
            .field("username", username)
            .field("password", &redacted(password))
            .field("password_file", password_file)
            .field("database_index", database_index)
            .field("timeout", timeout)
            .field("connect_timeout", connect_timeout)
            .field("response_timeout", response_timeout)
            .field("connections", connections)
            .field("tls", tls)
            .field("sentinel", sentinel)
            .field("cluster", cluster)
            .finish()
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TlsConfig {
            server_name,
            ca_certificates,
            ca_certificates_file,
            certificate_chain,
            certificate_chain_file,
            private_key,
            private_key_file,
            minimum_version,
            maximum_version,
            insecure_skip_verify,
        } = self;
        f.debug_struct("TlsConfig")
            .field("server_name", server_name)
            .field("ca_certificates", &pem_summary(ca_certificates))
            .field("ca_certificates_file", ca_certificates_file)
            .field("certificate_chain", &pem_summary(certificate_chain))
            .field("certificate_chain_file", certificate_chain_file)
            .field("private_key", &redacted(private_key))
            .field("private_key_file", private_key_file)
            .field("minimum_version", minimum_version)
            .field("maximum_version", maximum_version)
            .field("insecure_skip_verify", insecure_skip_verify)
            .finish()
    }
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SentinelConfig {
            master_name,
            nodes,
            username,
            password,
            password_file,
            tls,
        } = self;
        f.debug_struct("SentinelConfig")
            .field("master_name", master_name)
            .field("nodes", nodes)
            .field("username", username)
            .field("password", &redacted(password))
            .field("password_file", password_file)
            .field("tls", tls)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// serde helpers

impl TlsVersion {
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_prefix("tls").unwrap_or(&t);
        let t = t.strip_prefix('v').unwrap_or(t).trim();
        match t {
            "1.2" => Some(TlsVersion::Tls12),
            "1.3" => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS1.2",
            TlsVersion::Tls13 => "TLS1.3",
        })
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TlsVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TLS version: \"TLS1.2\" or \"TLS1.3\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TlsVersion, E> {
                TlsVersion::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "unsupported TLS version {v:?}: rustls speaks \"TLS1.2\" and \"TLS1.3\""
                    ))
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<TlsVersion, E> {
                if (v - 1.2).abs() < 1e-9 {
                    Ok(TlsVersion::Tls12)
                } else if (v - 1.3).abs() < 1e-9 {
                    Ok(TlsVersion::Tls13)
                } else {
                    Err(E::custom(format!(
                        "unsupported TLS version {v}: rustls speaks 1.2 and 1.3"
                    )))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for NodeAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NodeAddress;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"host:port\" or a table with host and port")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeAddress, E> {
                // The path to this value (`cluster.nodes[0]`, …) is the deserializer's to add.
                parse_node("node", v).map_err(|e| E::custom(e.message()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NodeAddress, A::Error> {
                let (mut host, mut port) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "host" => host = Some(map.next_value::<String>()?),
                        "port" => port = Some(map.next_value::<u16>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(other, &["host", "port"]));
                        }
                    }
                }
                let host = host.ok_or_else(|| serde::de::Error::missing_field("host"))?;
                Ok(NodeAddress { host, port })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

mod secret {
    use authstate_core::SecretString;
    use serde::{Deserialize, Deserializer};

    pub(super) fn option<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::new))
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod millis_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(config: &RedisConfig) -> Resolved {
        match config.resolve() {
            Ok(r) => r,
            Err(e) => panic!("{config:?} did not resolve: {e}"),
        }
    }

    fn error_of(config: &RedisConfig) -> String {
        match config.resolve() {
            Ok(_) => panic!("{config:?} was accepted"),
            Err(e) => {
                assert_eq!(e.kind(), authstate_core::ErrorKind::ConfigInvalid, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn plain_url_with_credentials_and_database() {
        let r = resolved(&RedisConfig::from_url("redis://app:p%40ss@10.1.2.3:6380/4"));
        match r.topology {
            Topology::Standalone(Endpoint::Tcp { host, port }) => {
                assert_eq!((host.as_str(), port), ("10.1.2.3", 6380));
            }
            _ => panic!("not standalone tcp"),
        }
        assert_eq!(r.auth.username.as_deref(), Some("app"));
        assert_eq!(r.auth.password.as_ref().map(|p| p.expose()), Some("p@ss"));
        assert_eq!(r.db, 4);
        assert!(r.tls.is_none());
        assert_eq!(r.connections, DEFAULT_CONNECTIONS);
    }

    #[test]
    fn password_only_url_and_default_port() {
        let r = resolved(&RedisConfig::from_url("redis://:secret@localhost"));
        assert!(r.auth.username.is_none());
        assert_eq!(r.auth.password.as_ref().map(|p| p.expose()), Some("secret"));
        assert!(matches!(
            r.topology,
            Topology::Standalone(Endpoint::Tcp { port: 6379, .. })
        ));
    }

    #[test]
    fn ipv6_hosts() {
        let r = resolved(&RedisConfig::from_url("redis://[::1]:7000"));
        assert!(matches!(
            r.topology,
            Topology::Standalone(Endpoint::Tcp { ref host, port: 7000 }) if host == "::1"
        ));
        let r = resolved(&RedisConfig::from_host("[fd00::1]", 7001));
        assert!(matches!(
            r.topology,
            Topology::Standalone(Endpoint::Tcp { ref host, port: 7001 }) if host == "fd00::1"
        ));
    }

    #[test]
    fn unix_socket_url() {
        let r = resolved(&RedisConfig::from_url(
            "redis+unix:///run/redis/redis.sock?db=3&user=u&pass=p",
        ));
        assert!(matches!(
            r.topology,
            Topology::Standalone(Endpoint::Unix(ref p)) if p == Path::new("/run/redis/redis.sock")
        ));
        assert_eq!(r.db, 3);
        assert_eq!(r.auth.username.as_deref(), Some("u"));
        let e = error_of(&RedisConfig::from_url("unix:///tmp/r.sock?protocol=3"));
        assert!(e.contains("protocol"), "{e}");
    }

    #[test]
    fn sentinel_url() {
        let r = resolved(&RedisConfig::from_url(
            "redis+sentinel://:pw@s1,s2:26380,[::1]/my%20master/2",
        ));
        let Topology::Sentinel(s) = r.topology else {
            panic!("not sentinel")
        };
        assert_eq!(
            s.nodes,
            vec![
                ("s1".to_owned(), 26379),
                ("s2".to_owned(), 26380),
                ("::1".to_owned(), 26379)
            ]
        );
        assert_eq!(s.master_name, "my master");
        assert!(s.tls.is_none());
        assert_eq!(r.db, 2);
        assert_eq!(r.auth.password.as_ref().map(|p| p.expose()), Some("pw"));

        let e = error_of(&RedisConfig::from_url("redis+sentinel://s1,s2"));
        assert!(e.contains("master_name"), "{e}");
    }

    #[test]
    fn sentinel_section() {
        let config = RedisConfig {
            sentinel: Some(SentinelConfig {
                master_name: "mymaster".into(),
                nodes: vec![
                    NodeAddress::new("127.0.0.1", 1),
                    NodeAddress {
                        host: "s2".into(),
                        port: None,
                    },
                ],
                username: Some("sentinel-user".into()),
                password: Some(SecretString::new("sentinel-pw")),
                ..SentinelConfig::default()
            }),
            ..RedisConfig::default()
        };
        let Topology::Sentinel(s) = resolved(&config).topology else {
            panic!("not sentinel")
        };
        assert_eq!(s.nodes[1], ("s2".to_owned(), 26379));
        assert_eq!(s.auth.username.as_deref(), Some("sentinel-user"));

        let mut with_host = config.clone();
        with_host.host = Some("h".into());
        assert!(error_of(&with_host).contains("host: with sentinel"));

        let mut no_nodes = config.clone();
        if let Some(s) = no_nodes.sentinel.as_mut() {
            s.nodes.clear();
        }
        assert!(error_of(&no_nodes).contains("sentinel.nodes"));

        let mut user_only = config;
        if let Some(s) = user_only.sentinel.as_mut() {
            s.password = None;
        }
        assert!(error_of(&user_only).contains("sentinel.username"));
    }

    #[test]
    fn cluster_url_and_section() {
        let r = resolved(&RedisConfig::from_url("redis+cluster://a:7000,b"));
        let Topology::Cluster(c) = r.topology else {
            panic!("not cluster")
        };
        assert_eq!(
            c.nodes,
            vec![("a".to_owned(), 7000), ("b".to_owned(), 6379)]
        );

        let e = error_of(&RedisConfig {
            cluster: Some(ClusterConfig {
                nodes: vec![NodeAddress::new("a", 7000)],
            }),
            database_index: Some(1),
            ..RedisConfig::default()
        });
        assert!(e.contains("database_index"), "{e}");

        let e = error_of(&RedisConfig {
            url: "rediss+cluster://a:7000".into(),
            tls: Some(TlsConfig {
                server_name: Some("redis.example".into()),
                ..TlsConfig::default()
            }),
            ..RedisConfig::default()
        });
        assert!(e.contains("tls.server_name"), "{e}");
    }

    #[test]
    fn a_bad_node_string_in_a_section_does_not_blame_the_url() {
        let e = serde_json::from_str::<ClusterConfig>(r#"{ "nodes": ["a:7000", "b:0"] }"#)
            .expect_err("port 0");
        let e = e.to_string();
        assert!(e.contains("node: \"0\" is not a port"), "{e}");
        assert!(!e.contains("url"), "{e}");
        // In a URL the URL is still what is wrong.
        let e = error_of(&RedisConfig::from_url("redis+cluster://a:7000,b:0"));
        assert!(e.contains("url: \"0\" is not a port"), "{e}");
    }

    #[test]
    fn bad_combinations_name_the_field() {
        let cases: Vec<(RedisConfig, &str)> = vec![
            (RedisConfig::default(), "no Redis address"),
            (
                RedisConfig {
                    host: Some("h".into()),
                    ..RedisConfig::from_url("redis://x")
                },
                "url and host",
            ),
            (
                RedisConfig {
                    port: Some(1),
                    ..RedisConfig::default()
                },
                "port: is set but host is not",
            ),
            (
                RedisConfig {
                    socket: Some("/tmp/s".into()),
                    ..RedisConfig::from_host("h", 1)
                },
                "socket:",
            ),
            (
                RedisConfig {
                    username: Some("u".into()),
                    ..RedisConfig::from_host("h", 1)
                },
                "username: a user name needs a password",
            ),
            (
                RedisConfig {
                    password: Some(SecretString::new("a")),
                    password_file: Some("/x".into()),
                    ..RedisConfig::from_host("h", 1)
                },
                "password_file: password and password_file",
            ),
            (
                RedisConfig {
                    password: Some(SecretString::new("a")),
                    ..RedisConfig::from_url("redis://:b@h")
                },
                "url: carries credentials",
            ),
            (
                RedisConfig {
                    database_index: Some(1),
                    ..RedisConfig::from_url("redis://h/2")
                },
                "database_index",
            ),
            (
                RedisConfig {
                    connections: 0,
                    ..RedisConfig::from_host("h", 1)
                },
                "connections",
            ),
            (
                RedisConfig {
                    timeout: Duration::ZERO,
                    ..RedisConfig::from_host("h", 1)
                },
                "timeout",
            ),
            (
                RedisConfig {
                    tls: Some(TlsConfig::default()),
                    ..RedisConfig::from_url("redis://h")
                },
                "tls: is set but the url's scheme is plain",
            ),
            (
                RedisConfig {
                    tls: Some(TlsConfig::default()),
                    socket: Some("/tmp/s".into()),
                    ..RedisConfig::default()
                },
                "tls: TLS over a unix socket",
            ),
            (RedisConfig::from_url("http://h"), "unsupported scheme"),
            (RedisConfig::from_url("redis://h:99999"), "not a port"),
            (RedisConfig::from_url("redis://h/x"), "not a database index"),
            (RedisConfig::from_url("redis://h?protocol=resp3"), "query"),
            (
                RedisConfig {
                    sentinel: Some(SentinelConfig::default()),
                    cluster: Some(ClusterConfig::default()),
                    ..RedisConfig::default()
                },
                "sentinel and cluster",
            ),
        ];
        for (config, expected) in cases {
            let e = error_of(&config);
            assert!(
                e.contains(expected),
                "{config:?}: {e} (expected {expected:?})"
            );
        }
    }

    #[test]
    fn password_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("authstate-redis-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\r\n").expect("write");
        let r = resolved(&RedisConfig {
            username: Some("app".into()),
            password_file: Some(path.clone()),
            ..RedisConfig::from_host("h", 1)
        });
        assert_eq!(r.auth.password.as_ref().map(|p| p.expose()), Some("s3cret"));

        let missing = dir.join("missing");
        let e = error_of(&RedisConfig {
            password_file: Some(missing.clone()),
            ..RedisConfig::from_host("h", 1)
        });
        assert!(
            e.contains("password_file") && e.contains(&missing.display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_of_a_full_config_shows_no_secret() {
        let key = "-----BEGIN PRIVATE KEY-----\nKEYMATERIALSECRET\n-----END PRIVATE KEY-----\n";
        let tls = TlsConfig {
            server_name: Some("redis.example".into()),
            ca_certificates: Some(
                "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----".into(),
            ),
            certificate_chain: Some(
                "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----".into(),
            ),
            private_key: Some(SecretString::new(key)),
            minimum_version: Some(TlsVersion::Tls12),
            maximum_version: Some(TlsVersion::Tls13),
            ..TlsConfig::default()
        };
        let configs = [
            RedisConfig {
                username: Some("app".into()),
                password: Some(SecretString::new("data-password-1")),
                database_index: Some(3),
                tls: Some(tls.clone()),
                sentinel: Some(SentinelConfig {
                    master_name: "mymaster".into(),
                    nodes: vec![NodeAddress::new("s1", 26379)],
                    username: Some("sentinel-user".into()),
                    password: Some(SecretString::new("sentinel-password-2")),
                    password_file: None,
                    tls: Some(tls),
                }),
                ..RedisConfig::default()
            },
            RedisConfig::from_url("redis://app:url-password-3@h:1/0"),
            RedisConfig::from_url("redis+sentinel://:url-password-4@s1,s2/m"),
            RedisConfig::from_url("redis+unix:///tmp/s.sock?pass=url-password-5"),
        ];
        for config in configs {
            let shown = format!("{config:?} {config:#?}");
            for secret in [
                "data-password-1",
                "sentinel-password-2",
                "url-password-3",
                "url-password-4",
                "url-password-5",
                "KEYMATERIALSECRET",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }

    #[test]
    fn redact_url_keeps_the_address() {
        assert_eq!(
            redact_url("redis://u:p@h:1/2"),
            "redis://u:[redacted]@h:1/2"
        );
        assert_eq!(redact_url("redis://p@h"), "redis://[redacted]@h");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("unix:///s?pass=x"), "unix:///s?[redacted]");
    }

    #[test]
    fn tls_versions_parse_in_every_spelling() {
        for (text, v) in [
            ("1.2", TlsVersion::Tls12),
            ("TLS1.2", TlsVersion::Tls12),
            ("tlsv1.3", TlsVersion::Tls13),
            ("TLS1.3", TlsVersion::Tls13),
        ] {
            assert_eq!(TlsVersion::parse(text), Some(v), "{text}");
        }
        assert_eq!(TlsVersion::parse("TLS1.1"), None);
    }
}
