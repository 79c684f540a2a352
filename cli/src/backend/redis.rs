//! The Redis backend (`authstate::redis`): standalone, TLS, ACL users and Sentinel.
//!
//! A backend's `[options]` are the Redis backend's own [`RedisConfig`] (timeouts,
//! connections, credentials, `tls`, `sentinel`, …), with the backend's URL as its `url`,
//! plus four settings of how the stores behave ([`BackendOptions`]):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `durable_replicas` | off | every write waits (`WAIT`) for this many replicas, and fails if fewer acknowledged it |
//! | `durable_timeout` | `"500ms"` | how long a write waits for them (needs `durable_replicas`) |
//! | `server_expiry_grace` | `"60s"` | how long past a record's expiry the server keeps it |
//! | `server_persists` | `false` | the server persists its data (RDB or AOF), so records survive its restart |
//!
//! Redis keeps no schema: there is nothing to migrate, and every namespace is usable as
//! soon as it is opened. Redis Cluster is refused: the backend can connect to one, but
//! its stores do not yet keep every multi-key operation in one slot.

use std::time::Duration;

use authstate::StoreConfig;
use authstate::redis::{BackendOptions, DurableWrites, RedisBackend, RedisConfig, RedisConnection};
use serde::Deserialize;

use super::{BackendDetails, BackendSpec, Hook, Opened};
use crate::config::parse_duration;
use crate::error::CliError;

/// The options that are not [`RedisConfig`]'s: how the stores behave.
const BEHAVIOUR_FIELDS: [&str; 4] = [
    "durable_replicas",
    "durable_timeout",
    "server_expiry_grace",
    "server_persists",
];

/// How long a durable write waits for its replicas unless `durable_timeout` says.
const DEFAULT_DURABLE_TIMEOUT: Duration = Duration::from_millis(500);

/// Why Redis Cluster is refused, for messages.
pub const CLUSTER_UNSUPPORTED: &str = "Redis Cluster is not supported by the contracts yet: \
     the Redis backend connects to a Cluster, but some operations (session create, token \
     insert, deletions by owner, purge) touch keys in several slots, which a Cluster refuses; \
     use a standalone server (redis://, rediss://) or Sentinel (redis+sentinel://)";

/// [`BackendOptions`] as written in the options table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Behaviour {
    #[serde(default)]
    durable_replicas: Option<u32>,
    #[serde(default)]
    durable_timeout: Option<String>,
    #[serde(default)]
    server_expiry_grace: Option<String>,
    #[serde(default)]
    server_persists: Option<bool>,
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

/// `spec` with only the options for which `keep` says true.
fn with_options(spec: &BackendSpec, keep: impl Fn(&str) -> bool) -> BackendSpec {
    let mut part = spec.clone();
    part.options.retain(|k, _| keep(k));
    part
}

/// The connection settings, the URL included, checked (password files and certificates
/// read) without connecting.
fn redis_config(spec: &BackendSpec) -> Result<RedisConfig, CliError> {
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
    if spec.options.contains_key("cluster") {
        return Err(option_error(spec, Some("cluster"), CLUSTER_UNSUPPORTED));
    }
    let config = with_options(spec, |k| !BEHAVIOUR_FIELDS.contains(&k))
        .options_as::<RedisConfig>(Some("url"))?;
    let scheme = config
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if scheme.ends_with("+cluster") {
        return Err(option_error(spec, None, CLUSTER_UNSUPPORTED));
    }
    // The message names the field; the URL itself is never quoted by the backend's
    // checks (they redact it).
    config
        .validate()
        .map_err(|e| option_error(spec, None, e.message()))?;
    Ok(config)
}

/// How the stores behave, from the options.
fn backend_options(spec: &BackendSpec) -> Result<BackendOptions, CliError> {
    let behaviour =
        with_options(spec, |k| BEHAVIOUR_FIELDS.contains(&k)).options_as::<Behaviour>(None)?;
    let duration = |field: &str, value: &Option<String>| -> Result<Option<Duration>, CliError> {
        value
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|m| option_error(spec, Some(field), m))
    };
    let mut options = BackendOptions::default();
    if let Some(grace) = duration("server_expiry_grace", &behaviour.server_expiry_grace)? {
        options.server_expiry_grace = grace;
    }
    let timeout = duration("durable_timeout", &behaviour.durable_timeout)?;
    options.durable_writes = match (behaviour.durable_replicas, timeout) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(option_error(
                spec,
                Some("durable_timeout"),
                "is set but durable_replicas is not: say how many replicas every write waits \
                 for",
            ));
        }
        (Some(0), _) => {
            return Err(option_error(
                spec,
                Some("durable_replicas"),
                "must be at least 1 (leave it out to turn durable writes off)",
            ));
        }
        (Some(_), Some(t)) if t.is_zero() => {
            return Err(option_error(
                spec,
                Some("durable_timeout"),
                "must be more than zero: WAIT with 0 blocks forever",
            ));
        }
        (Some(replicas), timeout) => Some(DurableWrites {
            replicas,
            timeout: timeout.unwrap_or(DEFAULT_DURABLE_TIMEOUT),
        }),
    };
    options.server_persists = behaviour.server_persists.unwrap_or(false);
    options
        .validate()
        .map_err(|e| option_error(spec, None, e.message()))?;
    Ok(options)
}

/// Checks the options of a Redis backend without connecting.
pub fn validate(spec: &BackendSpec) -> Result<(), CliError> {
    redis_config(spec)?;
    backend_options(spec)?;
    Ok(())
}

/// Opens a Redis backend: one connection per open (so two opens are two nodes), and the
/// stores over it. Nothing to migrate.
pub async fn open(spec: &BackendSpec, config: StoreConfig) -> Result<Opened, CliError> {
    let redis = redis_config(spec)?;
    let options = backend_options(spec)?;
    let connection = RedisConnection::connect(&redis).await?;
    let backend = RedisBackend::new(connection.clone(), options);
    let stores = backend.open(config)?;
    Ok(Opened {
        stores,
        migrated: None,
        check: Some(check_hook(&redis, connection)),
    })
}

/// The `check` hook: the server's version (`INFO server`), who the connection is
/// (`ACL WHOAMI`), and whether TLS is on and verified.
fn check_hook(redis: &RedisConfig, connection: RedisConnection) -> Hook<BackendDetails> {
    let sentinel = redis.sentinel.is_some() || redis.url.to_ascii_lowercase().contains("+sentinel");
    let tls = match &redis.tls {
        Some(tls) if tls.insecure_skip_verify => {
            "yes, certificate NOT verified (insecure_skip_verify)".to_string()
        }
        Some(_) => "yes, certificate verified".to_string(),
        None if redis.url.to_ascii_lowercase().starts_with("rediss") => {
            "yes, certificate verified (system roots)".to_string()
        }
        None => "no".to_string(),
    };
    let password = redis.password.is_some()
        || redis.password_file.is_some()
        || super::url_has_password(&redis.url);
    Box::pin(async move {
        let info: String = connection.query(&redis_cmd("INFO", &["server"])).await?;
        let version = info_field(&info, "redis_version").unwrap_or("unknown version");
        let via = if sentinel {
            ", master found through Sentinel"
        } else {
            ""
        };
        let whoami = connection
            .query::<String>(&redis_cmd("ACL", &["WHOAMI"]))
            .await
            .ok();
        let authentication = match (whoami, password) {
            (Some(user), true) => format!("ok as ACL user {user}"),
            (Some(user), false) => format!("none (no password configured; ACL user {user})"),
            (None, true) => "ok".to_string(),
            (None, false) => "none (no password configured)".to_string(),
        };
        Ok(BackendDetails {
            server: Some(format!("Redis {version}{via}")),
            authentication: Some(authentication),
            schema: Some("none (Redis keeps no schema)".to_string()),
            tls: Some(tls),
        })
    })
}

/// A command with arguments.
fn redis_cmd(name: &str, args: &[&str]) -> ::redis::Cmd {
    let mut cmd = ::redis::cmd(name);
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// The value of `field` in an `INFO` reply (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use authstate::SecretString;

    use super::*;
    use crate::error::ConfigError;

    fn spec(url: &str, options: &str) -> BackendSpec {
        BackendSpec {
            name: "cache".into(),
            kind: super::super::BackendKind::Redis,
            url: Some(SecretString::new(url)),
            options: toml::from_str(options).expect("valid TOML"),
            options_at: ConfigError {
                file: Some("a.toml".into()),
                line: Some(7),
                field: Some("backends.cache.options".into()),
                message: String::new(),
            },
            base_dir: PathBuf::from("."),
            embedded: false,
        }
    }

    fn refused(url: &str, options: &str) -> String {
        match validate(&spec(url, options)) {
            Err(e @ CliError::Config(_)) => e.to_string(),
            other => panic!("expected a config error for {options:?}, got {other:?}"),
        }
    }

    #[test]
    fn good_options_pass_and_map_to_backend_options() {
        for (url, options) in [
            ("redis://127.0.0.1:6379", ""),
            ("rediss://cache:6380", "timeout = 2000\nconnections = 4"),
            ("redis+sentinel://s1,s2:26380/mymaster", ""),
            (
                "redis://cache",
                "durable_replicas = 1\ndurable_timeout = \"100ms\"\nserver_expiry_grace = \
                 \"2m\"\nserver_persists = true",
            ),
        ] {
            let s = spec(url, options);
            assert!(validate(&s).is_ok(), "{url} {options}: {:?}", validate(&s));
        }
        let options = backend_options(&spec(
            "redis://cache",
            "durable_replicas = 2\nserver_expiry_grace = \"2m\"",
        ))
        .expect("valid");
        assert_eq!(
            options.durable_writes,
            Some(DurableWrites {
                replicas: 2,
                timeout: DEFAULT_DURABLE_TIMEOUT
            })
        );
        assert_eq!(options.server_expiry_grace, Duration::from_secs(120));
        assert_eq!(
            backend_options(&spec("redis://cache", "")).expect("valid"),
            BackendOptions::default()
        );
    }

    #[test]
    fn bad_options_name_their_field() {
        for (url, options, expected) in [
            (
                "redis://cache",
                "conections = 3",
                "a.toml:7: backends.cache.options.conections: unknown field `conections`",
            ),
            (
                "redis://cache",
                "connections = 0",
                "backends.cache.options: ",
            ),
            (
                "redis://cache",
                "durable_timeout = \"1s\"",
                "backends.cache.options.durable_timeout: is set but durable_replicas is not",
            ),
            (
                "redis://cache",
                "durable_replicas = 0",
                "backends.cache.options.durable_replicas: must be at least 1",
            ),
            (
                "redis://cache",
                "durable_replicas = 1\ndurable_timeout = \"soon\"",
                "backends.cache.options.durable_timeout: invalid duration",
            ),
            (
                "redis://cache",
                "durable_replicas = \"one\"",
                "backends.cache.options.durable_replicas: invalid type",
            ),
            (
                "redis://cache",
                "url = \"redis://other\"",
                "backends.cache.options.url: the URL is not an option",
            ),
            (
                "redis+cluster://a:7000,b:7001",
                "",
                "Redis Cluster is not supported by the contracts yet",
            ),
            (
                "redis://cache",
                "[cluster]\nnodes = [\"a:7000\"]",
                "backends.cache.options.cluster: Redis Cluster is not supported",
            ),
        ] {
            let m = refused(url, options);
            assert!(m.contains(expected), "{options:?}: {m}");
        }
    }

    #[test]
    fn a_password_is_never_echoed() {
        let m = refused("redis://:hunter2@cache/x", "");
        assert!(!m.contains("hunter2"), "{m}");
        let m = refused("redis://:hunter2@cache", "password = \"other\"");
        assert!(!m.contains("hunter2") && !m.contains("other"), "{m}");
    }

    #[test]
    fn info_fields_are_found() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "redis_mode"), Some("standalone"));
        assert_eq!(info_field(info, "redis"), None);
    }
}
