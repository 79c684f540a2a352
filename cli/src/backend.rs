//! Backends: the kinds a `--backend` URL or a `[backends.<name>]` table can name, and
//! opening one.
//!
//! Every backend plugs in through [`open_backend`]: it gets the backend's settings (a
//! [`BackendSpec`]: kind, URL, the `[backends.<name>.options]` table), a
//! [`StoreConfig`] and what to do about the namespace's [`Schema`], and returns the nine
//! stores, what it migrated, and an optional hook for `check`. Wiring a backend in is
//! one match arm there (and, to check its options when the config is loaded, one in
//! [`validate`]); the SQL backend's arms call into [`sql`], Redis's into [`redis`],
//! LDAP's into [`ldap`].

mod ldap;
mod redis;
mod sql;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};

use authstate::{MemoryBackend, SecretString, StoreConfig, Stores};
use serde::de::DeserializeOwned;

use crate::error::{CliError, ConfigError};

/// The backend used without `--backend` or `--config`: a SQLite file in the working
/// directory, created (and its tables with it) by the first command that needs it.
pub const DEFAULT_BACKEND: &str = "sqlite://authstate.db";

/// What a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackendKind {
    /// In-process memory: the reference implementation; nothing survives the process.
    Memory,
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// Redis: standalone, TLS, Sentinel, Cluster.
    Redis,
    /// An LDAP directory.
    Ldap,
}

/// URL schemes and the kind each one opens, in the order error messages list them.
const SCHEMES: &[(&str, BackendKind, &str)] = &[
    ("memory", BackendKind::Memory, "memory:"),
    ("sqlite", BackendKind::Sqlite, "sqlite://PATH"),
    ("postgres", BackendKind::Postgres, "postgres://"),
    ("postgresql", BackendKind::Postgres, "postgresql://"),
    ("mysql", BackendKind::Mysql, "mysql://"),
    ("mariadb", BackendKind::Mysql, "mariadb://"),
    ("redis", BackendKind::Redis, "redis://"),
    ("rediss", BackendKind::Redis, "rediss://"),
    ("redis+sentinel", BackendKind::Redis, "redis+sentinel://"),
    ("rediss+sentinel", BackendKind::Redis, "rediss+sentinel://"),
    ("redis+cluster", BackendKind::Redis, "redis+cluster://"),
    ("rediss+cluster", BackendKind::Redis, "rediss+cluster://"),
    ("ldap", BackendKind::Ldap, "ldap://"),
    ("ldaps", BackendKind::Ldap, "ldaps://"),
];

impl BackendKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [BackendKind; 6] = [
        BackendKind::Memory,
        BackendKind::Sqlite,
        BackendKind::Postgres,
        BackendKind::Mysql,
        BackendKind::Redis,
        BackendKind::Ldap,
    ];

    /// The name in a config file's `kind` (`"memory"`, `"redis"`, …).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Memory => "memory",
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
            BackendKind::Mysql => "mysql",
            BackendKind::Redis => "redis",
            BackendKind::Ldap => "ldap",
        }
    }

    /// The kind called `name` in a config file.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this binary can open it.
    pub fn is_built(self) -> bool {
        match self {
            BackendKind::Memory
            | BackendKind::Sqlite
            | BackendKind::Postgres
            | BackendKind::Mysql
            | BackendKind::Redis
            | BackendKind::Ldap => true,
        }
    }

    /// Whether it needs a URL (every kind but memory does; a Redis backend may give its
    /// address in its options instead, see [`address_in_options`]).
    pub fn needs_url(self) -> bool {
        self != BackendKind::Memory
    }
}

/// Whether `options` say where the server is, so that a backend of `kind` can do without
/// a URL: Redis takes `host` (and `port`), `socket`, `sentinel` (master name and nodes)
/// or `cluster` (seed nodes) instead of one. The backend's own checks then decide
/// whether they say it completely.
pub fn address_in_options(kind: BackendKind, options: &toml::Table) -> bool {
    match kind {
        BackendKind::Redis => redis::ADDRESS_OPTIONS
            .iter()
            .any(|option| options.contains_key(*option)),
        BackendKind::Memory
        | BackendKind::Sqlite
        | BackendKind::Postgres
        | BackendKind::Mysql
        | BackendKind::Ldap => false,
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind names, for messages: `memory, sqlite, postgres, mysql, redis, ldap`.
pub fn kind_names() -> String {
    BackendKind::ALL.map(BackendKind::name).join(", ")
}

/// The supported URL forms, for messages.
pub fn supported_schemes() -> String {
    SCHEMES
        .iter()
        .map(|(_, _, shown)| *shown)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind a backend URL opens. The message of an error names the scheme but never
/// echoes the URL, which can hold a password.
pub fn parse_url(url: &str) -> Result<BackendKind, String> {
    let Some((scheme, rest)) = url.split_once(':').filter(|(s, _)| is_scheme(s)) else {
        return Err(format!(
            "not a backend URL; expected `scheme:…` such as `memory:` or \
             `redis://127.0.0.1:6379` (supported: {})",
            supported_schemes()
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let Some(&(_, kind, _)) = SCHEMES.iter().find(|(s, _, _)| *s == scheme) else {
        return Err(format!(
            "unknown backend URL scheme \"{scheme}\" (supported: {})",
            supported_schemes()
        ));
    };
    if kind == BackendKind::Memory && !(rest.is_empty() || rest == "//") {
        return Err("the memory backend takes no address or options; use `memory:`".into());
    }
    Ok(kind)
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`. Checked before a scheme is
/// echoed, so that nothing that is not a scheme (say, `user:password@host`) is printed.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The URL with its password (`user:PASSWORD@`) and secret query parameters
/// (`?password=…`) replaced by `[redacted]`: what may be printed.
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            // The userinfo ends at the last `@` of the authority; a password may itself
            // contain `@` or `/` when it was not percent-encoded, so look at the whole
            // rest rather than stopping at the first `/`.
            match rest.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}"),
                    None => format!("{scheme}://{userinfo}@{host}"),
                },
                None => before_query.to_string(),
            }
        }
        None => before_query.to_string(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if is_secret_name(name) => format!("{name}=[redacted]"),
                _ => param.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// Whether a URL holds a password (in its userinfo or a query parameter).
pub fn url_has_password(url: &str) -> bool {
    redact_url(url) != url
}

/// Whether an option or query parameter called `name` holds a secret: a password,
/// secret, token, credential or (private) key. Names ending in `_file` or `_env` name
/// where a secret is, and are shown.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name.ends_with("_file") || name.ends_with("_env") {
        return false;
    }
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "credential",
        "private",
        "pepper",
    ]
    .iter()
    .any(|s| name.contains(s))
        || name == "auth"
}

/// One configured backend: what [`open_backend`] opens.
#[derive(Clone)]
pub struct BackendSpec {
    /// Its name: the `<name>` of `[backends.<name>]`, `cli` for `--backend`, `default`
    /// for the embedded default.
    pub name: String,
    /// What it is.
    pub kind: BackendKind,
    /// Where it is; `None` for memory, and for a Redis backend whose options say where
    /// ([`address_in_options`]). May hold a password: never print it, print
    /// [`BackendSpec::display_url`].
    pub url: Option<SecretString>,
    /// `[backends.<name>.options]`, passed through to the backend's own config.
    pub options: toml::Table,
    /// Where the options are, for error messages.
    pub options_at: ConfigError,
    /// The config file's folder: relative `*_file` options are read from there.
    pub base_dir: PathBuf,
    /// Whether this is the embedded default (no `--config`, no `--backend`, or a config
    /// file without backends). Nobody runs `authstate migrate` for it, so opening it
    /// creates what it needs; a backend the operator configured is never changed
    /// without `authstate migrate`.
    pub embedded: bool,
}

impl fmt::Debug for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.display_url())
            .field("options", &crate::config::redact_table(&self.options))
            .field("embedded", &self.embedded)
            .finish()
    }
}

impl BackendSpec {
    /// The URL with secrets redacted, `memory:`, or (a Redis backend without a URL)
    /// `redis (address in options)`.
    pub fn display_url(&self) -> String {
        match &self.url {
            Some(url) => redact_url(url.expose()),
            None if self.kind == BackendKind::Memory => "memory:".into(),
            None => format!("{} (address in options)", self.kind),
        }
    }

    /// The options deserialized as the backend's own config type `T`, with the URL
    /// added under `url_field` when given (for configs such as `RedisConfig { url, … }`).
    /// Relative paths in options named `*_file` (`password_file`, `ca_file`, …) are made
    /// relative to the config file's folder, as `key_file` and `url_file` are.
    /// An error names the file, the options' line and the field:
    /// `authstate.toml:14: backends.cache.options.timeout: invalid type …` (exit 2).
    pub fn options_as<T: DeserializeOwned>(&self, url_field: Option<&str>) -> Result<T, CliError> {
        let mut table = resolve_files(&self.options, &self.base_dir);
        if let (Some(field), Some(url)) = (url_field, &self.url) {
            table.insert(field.into(), toml::Value::String(url.expose().to_string()));
        }
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let mut at = self.options_at.clone();
            if path != "." {
                at.field = Some(format!("{}.{path}", at.field.unwrap_or_default()));
            }
            // The serde message of a URL field could quote the URL: never show it.
            at.message = match url_field {
                Some(field) if path == field => "the URL is not valid for this backend".into(),
                _ => e.into_inner().message().to_string(),
            };
            CliError::Config(at)
        })
    }
}

/// `table` with every relative path in a `*_file` option (at any depth) joined to `dir`.
fn resolve_files(table: &toml::Table, dir: &Path) -> toml::Table {
    table
        .iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(path)
                    if k.ends_with("_file") && Path::new(path).is_relative() =>
                {
                    toml::Value::String(dir.join(path).display().to_string())
                }
                toml::Value::Table(t) => toml::Value::Table(resolve_files(t, dir)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Checks a backend's settings when the config is loaded, so that `config check` finds
/// mistakes before anything connects. Errors name the option (exit status 2).
///
/// Each backend deserializes them into its own config and checks that (reading the
/// password and certificate files they name), without connecting.
pub fn validate(spec: &BackendSpec) -> Result<(), CliError> {
    match spec.kind {
        BackendKind::Memory => match spec.options.keys().next() {
            Some(key) => {
                let mut at = spec.options_at.clone();
                at.field = Some(format!("{}.{key}", at.field.unwrap_or_default()));
                at.message =
                    "the memory backend takes no options; remove the [options] table".into();
                Err(CliError::Config(at))
            }
            None => Ok(()),
        },
        BackendKind::Sqlite | BackendKind::Postgres | BackendKind::Mysql => sql::validate(spec),
        BackendKind::Redis => redis::validate(spec),
        BackendKind::Ldap => ldap::validate(spec),
    }
}

/// What [`open_backend`] does about the schema of the namespace it opens (SQL tables;
/// whatever else a backend must create before its stores work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Use it as it is: a missing or outdated schema is an error that says to run
    /// `authstate migrate`. The embedded default and an in-memory SQLite database are
    /// migrated anyway: nobody can run `authstate migrate` for them.
    Require,
    /// Create or upgrade it first: `authstate migrate`, and the conformance suite's
    /// fresh namespaces.
    Migrate,
}

/// Whether what a run writes in a namespace stays after the process ends unless it is
/// removed (a SQL database on disk or on a server keeps a namespace's tables until they
/// are dropped; an LDAP directory keeps each namespace's subtree). Redis expires every
/// record it holds.
pub fn keeps_namespaces(spec: &BackendSpec) -> bool {
    match spec.kind {
        BackendKind::Sqlite | BackendKind::Postgres | BackendKind::Mysql => {
            !sql::is_in_memory(spec)
        }
        BackendKind::Ldap => true,
        BackendKind::Memory | BackendKind::Redis => false,
    }
}

/// A future run on demand by `check`.
pub type Hook<T> = Pin<Box<dyn Future<Output = authstate::Result<T>> + Send>>;

/// What a backend's `check` hook reports beyond reachability. `None` prints `n/a`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendDetails {
    /// The server and its version (`Redis 7.0.15`, `PostgreSQL 16.4`).
    pub server: Option<String>,
    /// Who it authenticated as (`ACL user idp`), or that it did not.
    pub authentication: Option<String>,
    /// The schema version found, and whether it is current.
    pub schema: Option<String>,
    /// TLS protocol and whether the certificate was verified (`TLSv1.3, verified`).
    pub tls: Option<String>,
}

/// A backend opened by [`open_backend`]: its stores and what else it can do.
pub struct Opened {
    /// The nine stores (and the sweeper's lease), in the namespace of the config given.
    pub stores: Stores,
    /// What opening did to the namespace's schema, one line per step (empty: nothing).
    /// `None`: this backend has no schema to migrate.
    pub migrated: Option<Vec<String>>,
    /// Authentication, schema version, TLS. `None`: all `n/a`.
    pub check: Option<Hook<BackendDetails>>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("stores", &self.stores)
            .field("migrated", &self.migrated)
            .field("check", &self.check.is_some())
            .finish()
    }
}

/// Opens `spec` with `config`, doing what `schema` says about the namespace's schema.
/// Opening the same spec twice gives two "nodes" over the same data (two connections to
/// one server; one memory server per name in this process), which the conformance
/// suite needs.
///
/// A kind that the config rightly names but this binary does not include is a runtime
/// failure ([`CliError::NotBuilt`], exit status 1), not a config error.
pub async fn open_backend(
    spec: &BackendSpec,
    config: StoreConfig,
    schema: Schema,
) -> Result<Opened, CliError> {
    if !spec.kind.is_built() {
        return Err(CliError::NotBuilt {
            backend: spec.name.clone(),
            kind: spec.kind.name(),
        });
    }
    match spec.kind {
        BackendKind::Memory => Ok(Opened {
            stores: memory_server(&spec.name).open(config)?,
            migrated: None,
            check: None,
        }),
        BackendKind::Sqlite | BackendKind::Postgres | BackendKind::Mysql => {
            sql::open(spec, config, schema).await
        }
        BackendKind::Redis => redis::open(spec, config).await,
        BackendKind::Ldap => ldap::open(spec, config, schema).await,
    }
}

/// Drops `namespaces` from a backend that [keeps namespaces](keeps_namespaces): their
/// tables in a SQL database (`SqlBackend::drop_namespace`), their subtrees in an LDAP
/// directory (`LdapBackend::drop_namespace`). Memory and Redis keep nothing that
/// outlives the process or the records' expiry: nothing to do.
pub async fn drop_namespaces(
    spec: &BackendSpec,
    namespaces: &[authstate::Namespace],
) -> Result<(), CliError> {
    match spec.kind {
        BackendKind::Sqlite | BackendKind::Postgres | BackendKind::Mysql => {
            sql::drop_namespaces(spec, namespaces).await
        }
        BackendKind::Ldap => ldap::drop_namespaces(spec, namespaces).await,
        BackendKind::Memory | BackendKind::Redis => Ok(()),
    }
}

/// The memory "server" called `name` in this process: every open of a memory backend of
/// that name shares its data, as every connection to one Redis shares Redis's.
fn memory_server(name: &str) -> MemoryBackend {
    static SERVERS: OnceLock<Mutex<HashMap<String, MemoryBackend>>> = OnceLock::new();
    let servers = SERVERS.get_or_init(Mutex::default);
    // A panic while holding this lock cannot leave the map half-updated (one insert),
    // so a poisoned lock is still good to use.
    let mut servers = servers.lock().unwrap_or_else(|p| p.into_inner());
    servers.entry(name.to_string()).or_default().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match parse_url(url) {
            Err(m) => m,
            Ok(kind) => panic!("expected an error for {url:?}, got {kind:?}"),
        }
    }

    #[test]
    fn schemes_open_their_kinds() {
        for (url, kind) in [
            ("memory:", BackendKind::Memory),
            ("memory://", BackendKind::Memory),
            ("MEMORY:", BackendKind::Memory),
            ("sqlite://authstate.db", BackendKind::Sqlite),
            ("postgres://u@db/x", BackendKind::Postgres),
            ("postgresql://db/x", BackendKind::Postgres),
            ("mysql://db/x", BackendKind::Mysql),
            ("mariadb://db/x", BackendKind::Mysql),
            ("redis://127.0.0.1:6379", BackendKind::Redis),
            ("rediss://cache:6380", BackendKind::Redis),
            (
                "redis+sentinel://s1:26379,s2:26379/mymaster",
                BackendKind::Redis,
            ),
            ("redis+cluster://c1:7000,c2:7001", BackendKind::Redis),
            ("rediss+cluster://c1:7000", BackendKind::Redis),
            ("ldap://dir", BackendKind::Ldap),
            ("ldaps://dir", BackendKind::Ldap),
        ] {
            assert_eq!(parse_url(url), Ok(kind), "{url}");
        }
    }

    #[test]
    fn redis_cluster_urls_open_redis_and_are_listed() {
        for url in [
            "redis+cluster://a:7000,b:7001",
            "rediss+cluster://:pw@a",
            "REDIS+CLUSTER://127.0.0.1:7000",
        ] {
            assert_eq!(parse_url(url), Ok(BackendKind::Redis), "{url}");
        }
        let listed = supported_schemes();
        assert!(
            listed.contains("redis+cluster://") && listed.contains("rediss+cluster://"),
            "{listed}"
        );
    }

    #[test]
    fn only_redis_takes_its_address_from_options() {
        let options: toml::Table =
            toml::from_str("[cluster]\nnodes = [\"a:7000\"]").expect("valid TOML");
        assert!(address_in_options(BackendKind::Redis, &options));
        for address in [
            "host = \"cache\"",
            "socket = \"/run/redis.sock\"",
            "[sentinel]",
        ] {
            let options: toml::Table = toml::from_str(address).expect("valid TOML");
            assert!(
                address_in_options(BackendKind::Redis, &options),
                "{address}"
            );
        }
        let timeout: toml::Table = toml::from_str("timeout = 1000").expect("valid TOML");
        assert!(!address_in_options(BackendKind::Redis, &timeout));
        assert!(!address_in_options(BackendKind::Postgres, &options));
        assert!(!address_in_options(BackendKind::Ldap, &options));
    }

    #[test]
    fn memory_with_an_address_is_refused() {
        assert!(err("memory://localhost").contains("takes no address"));
    }

    #[test]
    fn unknown_scheme_is_named_with_the_supported_ones() {
        let m = err("mongodb://user:hunter2@db");
        assert!(m.contains("unknown backend URL scheme \"mongodb\""), "{m}");
        assert!(m.contains("redis+sentinel://"), "{m}");
        assert!(m.contains("memory:"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
    }

    #[test]
    fn non_urls_are_not_echoed() {
        for url in ["", "memory", "user name:secret@host", "1x:"] {
            let m = err(url);
            assert!(m.contains("not a backend URL"), "{url:?}: {m}");
            assert!(!m.contains("secret"), "{m}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("redis://idp:hunter2@cache:6379/0"),
            "redis://idp:[redacted]@cache:6379/0"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379"),
            "redis://:[redacted]@cache:6379"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss/w@db/x?sslmode=verify-full&password=hunter2"),
            "postgres://u:[redacted]@db/x?sslmode=verify-full&password=[redacted]"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(redact_url("ldap://cn=x@dir"), "ldap://cn=x@dir");
        assert!(url_has_password("redis://:pw@h"));
        assert!(!url_has_password("redis://h"));
    }

    #[test]
    fn secret_names() {
        for name in [
            "password",
            "Password",
            "sasl_password",
            "client_secret",
            "token",
            "auth",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "password_file",
            "token_env",
            "timeout",
            "username",
            "base_dn",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn memory_takes_no_options() {
        let mut spec = BackendSpec {
            name: "m".into(),
            kind: BackendKind::Memory,
            url: None,
            options: toml::Table::new(),
            options_at: ConfigError {
                file: Some("a.toml".into()),
                line: Some(3),
                field: Some("backends.m.options".into()),
                message: String::new(),
            },
            base_dir: PathBuf::from("."),
            embedded: false,
        };
        assert!(validate(&spec).is_ok());
        spec.options.insert("size".into(), toml::Value::Integer(1));
        match validate(&spec) {
            Err(CliError::Config(e)) => assert_eq!(
                e.to_string(),
                "a.toml:3: backends.m.options.size: the memory backend takes no options; \
                 remove the [options] table"
            ),
            other => panic!("expected a config error, got {other:?}"),
        }
        spec.kind = BackendKind::Redis;
        spec.options.clear();
        spec.url = Some(SecretString::new("redis://127.0.0.1:6379"));
        assert!(validate(&spec).is_ok());
    }

    #[tokio::test]
    async fn memory_opens_share_data_by_name() {
        let spec = |name: &str, kind| BackendSpec {
            name: name.into(),
            kind,
            url: None,
            options: toml::Table::new(),
            options_at: ConfigError::field("x", ""),
            base_dir: PathBuf::from("."),
            embedded: false,
        };
        let config = || StoreConfig::new(authstate::Namespace::new("backend-test").expect("valid"));
        let a = open_backend(
            &spec("shared-a", BackendKind::Memory),
            config(),
            Schema::Require,
        )
        .await
        .expect("opens");
        let b = open_backend(
            &spec("shared-a", BackendKind::Memory),
            config(),
            Schema::Require,
        )
        .await
        .expect("opens");
        let other = open_backend(
            &spec("shared-b", BackendKind::Memory),
            config(),
            Schema::Require,
        )
        .await
        .expect("opens");
        a.stores
            .state
            .put("k", b"v".to_vec(), std::time::Duration::from_secs(60))
            .await
            .expect("put");
        assert!(b.stores.state.get("k").await.expect("get").is_some());
        assert!(other.stores.state.get("k").await.expect("get").is_none());
    }
}
