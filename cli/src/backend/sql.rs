//! The SQL backend (`authstate::sql`): SQLite, PostgreSQL and MariaDB.
//!
//! A backend's `[options]` are the SQL backend's own [`SqlConfig`] (pool size, acquire
//! timeout, TLS, a password file, …), with the backend's URL as its `url`. Each
//! namespace has its own tables, created by `authstate migrate`; stores refuse to open
//! on a namespace without them. The embedded default (a SQLite file in the working
//! directory) and an in-memory SQLite database are the exceptions: nobody runs a
//! migration for them by hand, so they are migrated whenever they are opened.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use authstate::sql::{Dialect, MigrationReport, SCHEMA_VERSION, SqlBackend, SqlConfig, TlsMode};
use authstate::{Namespace, StoreConfig};

use super::{BackendDetails, BackendKind, BackendSpec, Hook, Opened, Schema};
use crate::error::CliError;

/// The backend's options as a [`SqlConfig`], the URL included.
fn sql_config(spec: &BackendSpec) -> Result<SqlConfig, CliError> {
    spec.options_as::<SqlConfig>(Some("url"))
}

/// An error about the option `field` (or the options as a whole), at their line.
fn option_error(spec: &BackendSpec, field: Option<&str>, message: impl Into<String>) -> CliError {
    let mut at = spec.options_at.clone();
    if let Some(field) = field {
        at.field = Some(match at.field {
            Some(options) => format!("{options}.{field}"),
            None => field.to_string(),
        });
    }
    at.message = message.into();
    CliError::Config(at)
}

/// The dialect a backend kind speaks.
fn dialect_of(kind: BackendKind) -> Option<Dialect> {
    match kind {
        BackendKind::Sqlite => Some(Dialect::Sqlite),
        BackendKind::Postgres => Some(Dialect::Postgres),
        BackendKind::Mysql => Some(Dialect::MySql),
        _ => None,
    }
}

/// Checks the options of a SQL backend without connecting: they deserialize (unknown
/// fields are refused), name this backend's dialect, fit the dialect, and give at most
/// one password, whose file can be read.
pub fn validate(spec: &BackendSpec) -> Result<(), CliError> {
    if spec.options.contains_key("url") {
        return Err(option_error(
            spec,
            Some("url"),
            format!(
                "the URL is not an option: give it as backends.{}.url (or url_env, url_file)",
                spec.name
            ),
        ));
    }
    let config = sql_config(spec)?;
    let dialect = config
        .resolve_dialect()
        .map_err(|e| option_error(spec, Some("dialect"), e.message()))?;
    if Some(dialect) != dialect_of(spec.kind) {
        return Err(option_error(
            spec,
            Some("dialect"),
            format!(
                "this is a {} backend, but the options say {dialect}",
                spec.kind
            ),
        ));
    }
    if config.max_connections == 0 {
        return Err(option_error(
            spec,
            Some("max_connections"),
            "must be at least 1: the pool could never hand out a connection",
        ));
    }
    if config.min_connections > config.max_connections {
        return Err(option_error(
            spec,
            Some("min_connections"),
            format!(
                "{} is more than max_connections ({})",
                config.min_connections, config.max_connections
            ),
        ));
    }
    if config.acquire_timeout.is_zero() {
        return Err(option_error(
            spec,
            Some("acquire_timeout_ms"),
            "must be more than zero",
        ));
    }
    if dialect == Dialect::Sqlite {
        let url = spec.url.as_ref().map(|u| u.expose()).unwrap_or_default();
        if !is_in_memory(spec) && sqlite_file(&config, url).is_none() {
            let mut at = spec.options_at.clone();
            at.field = at.field.map(|f| match f.strip_suffix(".options") {
                Some(backend) => format!("{backend}.url"),
                None => f,
            });
            at.message =
                "the SQLite URL names no file: use sqlite://PATH (or sqlite::memory:)".to_string();
            return Err(CliError::Config(at));
        }
        let server_only = [
            ("host", config.host.is_some()),
            ("port", config.port.is_some()),
            ("database", config.database.is_some()),
            ("username", config.username.is_some()),
            ("password", config.password.is_some()),
            ("password_file", config.password_file.is_some()),
            ("tls", spec.options.contains_key("tls")),
        ];
        if let Some((field, _)) = server_only.iter().find(|(_, set)| *set) {
            return Err(option_error(
                spec,
                Some(field),
                "applies to PostgreSQL and MariaDB only: a SQLite database is a file (give \
                 its path in the URL, sqlite://PATH, or as path)",
            ));
        }
    } else if config.path.is_some() {
        return Err(option_error(
            spec,
            Some("path"),
            "applies to SQLite only: a server is reached by its URL (or host, port, database)",
        ));
    }
    if let Some(ca) = &config.tls.ca_file
        && !ca.is_file()
    {
        return Err(option_error(
            spec,
            Some("tls.ca_file"),
            format!("{} is not a readable file", ca.display()),
        ));
    }
    let field = if config.password_file.is_some() {
        "password_file"
    } else {
        "password"
    };
    config
        .resolve_password(dialect)
        .map_err(|e| option_error(spec, Some(field), e.message()))?;
    Ok(())
}

/// Opens a SQL backend: connects (one pool per open, so two opens are two nodes), then
/// makes sure the namespace's schema is there, and opens the stores.
pub async fn open(
    spec: &BackendSpec,
    config: StoreConfig,
    schema: Schema,
) -> Result<Opened, CliError> {
    let sql = sql_config(spec)?;
    let url = spec.url.as_ref().map(|u| u.expose()).unwrap_or_default();
    if schema == Schema::Require
        && !spec.embedded
        && spec.kind == BackendKind::Sqlite
        && !is_in_memory(spec)
        && let Some(file) = sqlite_file(&sql, url)
        && !Path::new(&file).exists()
    {
        // Connecting would create it; a mistyped path should not leave an empty
        // database behind.
        return Err(CliError::Failed(format!(
            "backend {:?} ({}): the SQLite file {file} does not exist; run `authstate \
             migrate` (with the same --config or --backend) to create it and its tables",
            spec.name,
            spec.display_url()
        )));
    }
    let embedded_file = spec.embedded.then(|| embedded_path(spec)).flatten();
    let existed = embedded_file.is_some_and(|path| Path::new(path).exists());
    let backend = connect(spec, &sql).await?;
    let in_memory = !backend.capabilities().durable;
    let namespace = config.namespace.clone();

    let migrated = if schema == Schema::Migrate || spec.embedded || in_memory {
        let report = backend.migrate(&namespace).await?;
        if let Some(path) = embedded_file
            && !existed
            && !ANNOUNCED.swap(true, Ordering::Relaxed)
        {
            eprintln!("created {path} (SQLite) in the working directory");
        }
        vec![describe(&report)]
    } else {
        require_current(spec, &backend, &namespace).await?;
        Vec::new()
    };

    let stores = backend.open(config).await?;
    let check = check_hook(spec, &sql, backend, namespace);
    Ok(Opened {
        stores,
        migrated: Some(migrated),
        check: Some(check),
    })
}

/// Drops `namespaces` from the backend's database (their tables and all they hold),
/// for `authstate conformance`, which opens a fresh namespace per case.
pub async fn drop_namespaces(spec: &BackendSpec, namespaces: &[Namespace]) -> Result<(), CliError> {
    let backend = connect(spec, &sql_config(spec)?).await?;
    for namespace in namespaces {
        backend.drop_namespace(namespace).await?;
    }
    if backend.capabilities().durable {
        backend.close().await;
    }
    Ok(())
}

/// Whether "created authstate.db" was said already: once per process is enough (the
/// conformance suite opens the file hundreds of times).
static ANNOUNCED: AtomicBool = AtomicBool::new(false);

/// The file of the embedded default (`authstate.db`), as its URL names it.
fn embedded_path(spec: &BackendSpec) -> Option<&str> {
    let url = spec.url.as_ref()?.expose();
    url.strip_prefix("sqlite://")
        .filter(|p| !p.is_empty() && !p.contains('?'))
}

/// Whether the backend is an in-memory SQLite database (by the rule the SQL backend
/// applies when it connects).
pub fn is_in_memory(spec: &BackendSpec) -> bool {
    let url = spec.url.as_ref().map(|u| u.expose()).unwrap_or_default();
    let path = spec.options.get("path").and_then(toml::Value::as_str);
    spec.kind == BackendKind::Sqlite
        && (path == Some(":memory:")
            || (path.is_none() && (url.contains(":memory:") || url.contains("mode=memory"))))
}

/// A new pool; for an in-memory SQLite database, the one pool of this backend in this
/// process, since a second pool would be a second, empty database (the memory
/// backend's rule: every open of one backend sees the same data).
async fn connect(spec: &BackendSpec, sql: &SqlConfig) -> Result<SqlBackend, CliError> {
    static IN_MEMORY: OnceLock<Mutex<HashMap<String, SqlBackend>>> = OnceLock::new();
    let backend = SqlBackend::connect(sql).await?;
    if backend.capabilities().durable {
        return Ok(backend);
    }
    let pools = IN_MEMORY.get_or_init(Mutex::default);
    // One insert under the lock: a panic cannot leave the map half-updated.
    let mut pools = pools.lock().unwrap_or_else(|p| p.into_inner());
    Ok(pools.entry(spec.name.clone()).or_insert(backend).clone())
}

/// What a migration did, as `authstate migrate` prints it.
fn describe(report: &MigrationReport) -> String {
    let list = |versions: &[u32]| {
        versions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (report.from, report.applied.as_slice()) {
        (v, []) => format!("already at schema version {v}, nothing to do"),
        (0, applied) => format!(
            "created the tables at schema version {} (migration {})",
            report.to,
            list(applied)
        ),
        (from, applied) => format!(
            "upgraded the schema from version {from} to {} (migration {})",
            report.to,
            list(applied)
        ),
    }
}

/// Refuses a namespace whose schema is missing or at another version, saying what to
/// run: stores of an explicitly configured database are never created behind the
/// operator's back.
async fn require_current(
    spec: &BackendSpec,
    backend: &SqlBackend,
    namespace: &Namespace,
) -> Result<(), CliError> {
    let at = format!(
        "backend {:?} ({}), namespace {namespace}",
        spec.name,
        spec.display_url()
    );
    let run = "run `authstate migrate` (with the same --config or --backend) first";
    match backend.schema_version(namespace).await? {
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        None => Err(CliError::Failed(format!(
            "{at}: the authstate tables do not exist yet; {run}: it creates them, once per \
             deployment"
        ))),
        Some(v) if v < SCHEMA_VERSION => Err(CliError::Failed(format!(
            "{at}: schema version {v} is older than this authstate's {SCHEMA_VERSION}; {run}: \
             it upgrades them"
        ))),
        Some(v) => Err(CliError::Failed(format!(
            "{at}: schema version {v} is newer than this authstate's {SCHEMA_VERSION}; upgrade \
             authstate on this machine"
        ))),
    }
}

/// The `check` hook: what the database is, who the pool logged in as, the schema
/// version against this build's, and the TLS mode asked for.
///
/// The SQL backend does not report the server's version, the user the server saw, or
/// whether TLS was negotiated; what is shown comes from the settings, and says so.
fn check_hook(
    spec: &BackendSpec,
    sql: &SqlConfig,
    backend: SqlBackend,
    namespace: Namespace,
) -> Hook<BackendDetails> {
    let dialect = backend.dialect();
    let in_memory = !backend.capabilities().durable;
    let url = spec
        .url
        .as_ref()
        .map(|u| u.expose().to_string())
        .unwrap_or_default();
    let server = match dialect {
        Dialect::Postgres => "PostgreSQL".to_string(),
        Dialect::MySql => "MariaDB".to_string(),
        Dialect::Sqlite if in_memory => "SQLite, in memory (not durable)".to_string(),
        Dialect::Sqlite => match sqlite_file(sql, &url) {
            Some(path) => format!("SQLite file {path}"),
            None => "SQLite".to_string(),
        },
    };
    let authentication = (dialect != Dialect::Sqlite).then(|| {
        match sql.username.clone().or_else(|| url_user(&url)) {
            Some(user) => format!("ok as {user}"),
            None => "ok, as the driver's default user".to_string(),
        }
    });
    let tls = (dialect != Dialect::Sqlite).then(|| tls_mode(sql, &url));
    Box::pin(async move {
        let schema = match backend.schema_version(&namespace).await? {
            Some(v) if v == SCHEMA_VERSION => format!("version {v} (current)"),
            Some(v) => format!("version {v}, this build needs {SCHEMA_VERSION}"),
            None => "missing: run `authstate migrate`".to_string(),
        };
        Ok(BackendDetails {
            server: Some(server),
            authentication,
            schema: Some(schema),
            tls,
        })
    })
}

/// The SQLite file: the `path` option, else the URL's path.
fn sqlite_file(sql: &SqlConfig, url: &str) -> Option<String> {
    if let Some(path) = &sql.path {
        return Some(path.display().to_string());
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| path.to_string())
}

/// The user in a URL's authority (`scheme://USER[:password]@host`), never the password.
fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let userinfo = authority.rsplit_once('@')?.0;
    let user = userinfo.split(':').next().unwrap_or_default();
    (!user.is_empty()).then(|| user.to_string())
}

/// The TLS mode asked for: the `tls.mode` option, else the URL's `sslmode`/`ssl-mode`,
/// else the drivers' default, `prefer`.
fn tls_mode(sql: &SqlConfig, url: &str) -> String {
    let from_options = sql.tls.mode.map(|mode| match mode {
        TlsMode::Disable => "disable",
        TlsMode::Prefer => "prefer",
        TlsMode::Require => "require",
        TlsMode::VerifyCa => "verify_ca",
        TlsMode::VerifyFull => "verify_full",
    });
    let from_url = url.split_once('?').and_then(|(_, query)| {
        query
            .split('&')
            .find_map(|param| match param.split_once('=') {
                Some((name, value))
                    if name.eq_ignore_ascii_case("sslmode")
                        || name.eq_ignore_ascii_case("ssl-mode") =>
                {
                    Some(value.to_ascii_lowercase())
                }
                _ => None,
            })
    });
    match (from_options, from_url) {
        (Some(mode), _) => format!("{mode} (configured)"),
        (None, Some(mode)) => format!("{mode} (configured)"),
        (None, None) => "prefer (default)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use authstate::SecretString;

    use super::*;
    use crate::error::ConfigError;

    fn spec(kind: BackendKind, url: &str, options: &str) -> BackendSpec {
        BackendSpec {
            name: "db".into(),
            kind,
            url: Some(SecretString::new(url)),
            options: toml::from_str(options).expect("valid TOML"),
            options_at: ConfigError {
                file: Some("a.toml".into()),
                line: Some(4),
                field: Some("backends.db.options".into()),
                message: String::new(),
            },
            base_dir: PathBuf::from("."),
            embedded: false,
        }
    }

    fn refused(kind: BackendKind, url: &str, options: &str) -> String {
        match validate(&spec(kind, url, options)) {
            Err(e @ CliError::Config(_)) => e.to_string(),
            other => panic!("expected a config error for {options:?}, got {other:?}"),
        }
    }

    #[test]
    fn good_options_pass() {
        for (kind, url, options) in [
            (BackendKind::Sqlite, "sqlite://authstate.db", ""),
            (BackendKind::Sqlite, "sqlite:", "path = \"a.db\""),
            (
                BackendKind::Sqlite,
                "sqlite::memory:",
                "max_connections = 1",
            ),
            (
                BackendKind::Postgres,
                "postgres://idp@db/idp",
                "max_connections = 20\nacquire_timeout_ms = 2500\n[tls]\nmode = \"require\"",
            ),
            (
                BackendKind::Mysql,
                "mariadb://idp@db/idp",
                "min_connections = 2",
            ),
            (
                BackendKind::Mysql,
                "mysql://idp@db/idp",
                "dialect = \"mariadb\"",
            ),
        ] {
            let s = spec(kind, url, options);
            assert!(validate(&s).is_ok(), "{url} {options}: {:?}", validate(&s));
        }
    }

    #[test]
    fn bad_options_name_their_field() {
        for (kind, url, options, expected) in [
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "max_conections = 3",
                "a.toml:4: backends.db.options.max_conections: unknown field `max_conections`",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "max_connections = \"many\"",
                "a.toml:4: backends.db.options.max_connections: invalid type",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "max_connections = 0",
                "backends.db.options.max_connections: must be at least 1",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "dialect = \"sqlite\"",
                "backends.db.options.dialect: the URL is a postgres URL but dialect says sqlite",
            ),
            (
                BackendKind::Sqlite,
                "sqlite://a.db",
                "[tls]\nmode = \"require\"",
                "backends.db.options.tls: applies to PostgreSQL and MariaDB only",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "path = \"x.db\"",
                "backends.db.options.path: applies to SQLite only",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "password = \"a\"\npassword_file = \"/nonexistent\"",
                "backends.db.options.password_file: both password and password_file are set",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "password_file = \"/nonexistent/pw\"",
                "backends.db.options.password_file: cannot read password_file /nonexistent/pw",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "[tls]\nmode = \"verify_full\"\nca_file = \"/nonexistent/ca.pem\"",
                "backends.db.options.tls.ca_file: /nonexistent/ca.pem is not a readable file",
            ),
            (
                BackendKind::Postgres,
                "postgres://db/idp",
                "[tls]\nmode = \"verify-all\"",
                "backends.db.options.tls.mode: unknown variant `verify-all`",
            ),
            (
                BackendKind::Sqlite,
                "sqlite://",
                "",
                "a.toml:4: backends.db.url: the SQLite URL names no file",
            ),
            (
                BackendKind::Mysql,
                "mysql://db/idp",
                "url = \"mysql://other/idp\"",
                "backends.db.options.url: the URL is not an option",
            ),
        ] {
            let m = refused(kind, url, options);
            assert!(m.contains(expected), "{options:?}: {m}");
        }
    }

    #[test]
    fn a_password_in_options_is_never_echoed() {
        let m = refused(
            BackendKind::Postgres,
            "postgres://u:hunter2@db/idp",
            "password = 7",
        );
        assert!(!m.contains("hunter2"), "{m}");
    }

    #[test]
    fn details_come_from_the_settings() {
        let sql = SqlConfig::from_url("postgres://idp:pw@db/idp?sslmode=verify-full");
        assert_eq!(url_user("postgres://idp:pw@db/idp"), Some("idp".into()));
        assert_eq!(url_user("postgres://db/idp"), None);
        assert_eq!(
            url_user("mysql://root@127.0.0.1:3306/x"),
            Some("root".into())
        );
        assert_eq!(
            tls_mode(&sql, "postgres://idp:pw@db/idp?sslmode=verify-full"),
            "verify-full (configured)"
        );
        assert!(tls_mode(&sql, "postgres://db/idp").starts_with("prefer"));
        assert_eq!(
            sqlite_file(&SqlConfig::from_url(""), "sqlite://authstate.db"),
            Some("authstate.db".into())
        );
        assert_eq!(
            sqlite_file(&SqlConfig::from_url(""), "sqlite:/var/lib/a.db?mode=rwc"),
            Some("/var/lib/a.db".into())
        );
    }

    #[test]
    fn migrations_are_described() {
        let report = |from, applied: Vec<u32>| MigrationReport {
            from,
            to: 2,
            applied,
        };
        assert_eq!(
            describe(&report(0, vec![1, 2])),
            "created the tables at schema version 2 (migration 1, 2)"
        );
        assert_eq!(
            describe(&report(1, vec![2])),
            "upgraded the schema from version 1 to 2 (migration 2)"
        );
        assert_eq!(
            describe(&report(2, vec![])),
            "already at schema version 2, nothing to do"
        );
    }
}
