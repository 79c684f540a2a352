//! The Redis backend (`authstate::redis`): standalone, TLS, ACL users, Sentinel and Cluster.
//!
//! A backend's `[options]` are the Redis backend's own [`RedisConfig`] (timeouts,
//! connections, credentials, `tls`, `sentinel`, `cluster`, …), with the backend's URL as
//! its `url`, plus four settings of how the stores behave ([`BackendOptions`]):
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `durable_replicas` | off | every write waits (`WAIT`) for this many replicas, and fails if fewer acknowledged it; not on Cluster |
//! | `durable_timeout` | `"500ms"` | how long a write waits for them (needs `durable_replicas`) |
//! | `server_expiry_grace` | `"60s"` | how long past a record's expiry the server keeps it |
//! | `server_persists` | `false` | the server persists its data (RDB or AOF), so records survive its restart |
//!
//! The URL may be left out when the options say where Redis is ([`ADDRESS_OPTIONS`]):
//! `host`, `socket`, `sentinel` with its master name and nodes, or `cluster` with its
//! seed nodes.
//!
//! Redis keeps no schema: there is nothing to migrate, and every namespace is usable as
//! soon as it is opened. On Redis Cluster the stores keep every operation within one hash
//! slot; the durable-write mode is refused there, because `WAIT` would not reach the
//! primary that took the write.

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

/// The options that say where Redis is, so that a backend with one of them needs no URL.
pub const ADDRESS_OPTIONS: [&str; 4] = ["host", "socket", "sentinel", "cluster"];

/// How long a durable write waits for its replicas unless `durable_timeout` says.
const DEFAULT_DURABLE_TIMEOUT: Duration = Duration::from_millis(500);

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
    let config = with_options(spec, |k| !BEHAVIOUR_FIELDS.contains(&k))
        .options_as::<RedisConfig>(Some("url"))?;
    // The URL itself is never quoted by the backend's checks (they redact it).
    config
        .validate()
        .map_err(|e| backend_error(spec, e.message()))?;
    Ok(config)
}

/// An error of the backend's own checks, which start with the field they are about
/// (`cluster.nodes: is empty: …`). When that field is one of the options given, it is
/// added to the options' path, so the message reads
/// `backends.cache.options.cluster.nodes: is empty: …`; otherwise (a field that the URL
/// set, or no field) the message is about the options as a whole, as it stands.
fn backend_error(spec: &BackendSpec, message: &str) -> CliError {
    let field = message.split_once(": ").and_then(|(field, rest)| {
        let option = field.split(['.', '/']).next().unwrap_or_default();
        spec.options.contains_key(option).then_some((field, rest))
    });
    match field {
        Some((field, rest)) => option_error(spec, Some(field), rest),
        None => option_error(spec, None, message),
    }
}

/// Whether `config` (already checked) is for a Redis Cluster: a `redis+cluster://` or
/// `rediss+cluster://` URL, or a `cluster` section. Which of the two, for messages.
fn cluster_setting(spec: &BackendSpec, config: &RedisConfig) -> Option<String> {
    let scheme = config
        .url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if scheme.ends_with("+cluster") {
        Some(format!("the URL is {scheme}://…"))
    } else if config.cluster.is_some() {
        let options = spec.options_at.field.as_deref().unwrap_or("options");
        Some(format!("{options}.cluster is set"))
    } else {
        None
    }
}

/// The connection settings and how the stores behave, checked together: the durable-write
/// mode cannot work on a Cluster.
fn settings(spec: &BackendSpec) -> Result<(RedisConfig, BackendOptions), CliError> {
    let config = redis_config(spec)?;
    let options = backend_options(spec)?;
    if let (Some(cluster), Some(_)) = (cluster_setting(spec, &config), &options.durable_writes) {
        return Err(option_error(
            spec,
            Some("durable_replicas"),
            format!(
                "durable writes are not supported on Redis Cluster ({cluster}): WAIT \
                 acknowledges the replicas of one primary per command, and the cluster client \
                 cannot send it to the primary that took the write; remove durable_replicas \
                 (and durable_timeout), or use a standalone server or Sentinel"
            ),
        ));
    }
    Ok((config, options))
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
    settings(spec).map(drop)
}

/// Opens a Redis backend: one connection per open (so two opens are two nodes), and the
/// stores over it. Nothing to migrate.
pub async fn open(spec: &BackendSpec, config: StoreConfig) -> Result<Opened, CliError> {
    let (redis, options) = settings(spec)?;
    let connection = RedisConnection::connect(&redis).await?;
    let backend = RedisBackend::new(connection.clone(), options);
    let stores = backend.open(config)?;
    Ok(Opened {
        stores,
        migrated: None,
        check: Some(check_hook(&redis, connection)),
    })
}

/// The `check` hook: the server's version (`INFO server`), the topology (Sentinel, or
/// the Cluster's size and state from `CLUSTER INFO`), who the connection is
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
        // On a Cluster, INFO goes to every primary and the reply maps each one's address
        // to its INFO: a mixed-version cluster shows every version.
        let info: ::redis::Value = connection.query(&redis_cmd("INFO", &["server"])).await?;
        let mut versions: Vec<String> = info_replies(&info)
            .iter()
            .filter_map(|reply| info_field(reply, "redis_version").map(str::to_string))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        let version = match versions.as_slice() {
            [] => "unknown version".to_string(),
            _ => versions.join("/"),
        };
        let topology = if connection.is_cluster() {
            let cluster: String = connection.query(&redis_cmd("CLUSTER", &["INFO"])).await?;
            cluster_summary(&cluster)
        } else if sentinel {
            ", master found through Sentinel".to_string()
        } else {
            String::new()
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
            server: Some(format!("Redis {version}{topology}")),
            authentication: Some(authentication),
            schema: Some("none (Redis keeps no schema)".to_string()),
            tls: Some(tls),
        })
    })
}

/// The text replies in `reply`: the reply itself, or each node's from a Cluster's map of
/// node address to reply.
fn info_replies(reply: &::redis::Value) -> Vec<String> {
    use ::redis::FromRedisValue as _;
    match reply {
        ::redis::Value::Map(per_node) => per_node
            .iter()
            .flat_map(|(_, reply)| info_replies(reply))
            .collect(),
        other => String::from_redis_value_ref(other)
            .ok()
            .into_iter()
            .collect(),
    }
}

/// `, Cluster of 3 primaries (state ok)` from a `CLUSTER INFO` reply: `cluster_size` is
/// the number of primaries that serve slots.
fn cluster_summary(cluster_info: &str) -> String {
    let state = info_field(cluster_info, "cluster_state").unwrap_or("unknown");
    match info_field(cluster_info, "cluster_size") {
        Some("1") => format!(", Cluster of 1 primary (state {state})"),
        Some(size) => format!(", Cluster of {size} primaries (state {state})"),
        None => format!(", Cluster (state {state})"),
    }
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

    /// A backend `cache` with `options` at a.toml line 7, and `url` unless it is empty.
    fn spec(url: &str, options: &str) -> BackendSpec {
        BackendSpec {
            name: "cache".into(),
            kind: super::super::BackendKind::Redis,
            url: (!url.is_empty()).then(|| SecretString::new(url)),
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
            ("redis+cluster://a:7000,b:7001,[::1]:7002", ""),
            ("rediss+cluster://idp:pw@a,b", "connections = 4\n[tls]"),
            (
                "redis+cluster://a:7000",
                "server_expiry_grace = \"2m\"\n[cluster]",
            ),
            (
                "redis://cache",
                "durable_replicas = 1\ndurable_timeout = \"100ms\"\nserver_expiry_grace = \
                 \"2m\"\nserver_persists = true",
            ),
            // No URL: the options say where Redis is.
            (
                "",
                "[cluster]\nnodes = [\"a:7000\", { host = \"b\", port = 7001 }, \"c\"]",
            ),
            ("", "host = \"cache\"\nport = 6380"),
            (
                "",
                "[sentinel]\nmaster_name = \"mymaster\"\nnodes = [\"s1\", \"s2:26380\"]",
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
                "a.toml:7: backends.cache.options.connections: must be between 1 and 64, not 0",
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
            // Cluster settings that cannot work.
            (
                "redis+cluster://",
                "",
                "backends.cache.options: url: \"\": the host is empty",
            ),
            ("redis+cluster://a:7000,,b:7001", "", "the host is empty"),
            (
                "redis+cluster://a:7000,b:70000",
                "",
                "backends.cache.options: url: \"70000\" is not a port (1 to 65535)",
            ),
            (
                "redis+cluster://a:7000/1",
                "",
                // The database came from the URL, not from an option.
                "backends.cache.options: database_index: Redis Cluster has only database 0, \
                 not 1",
            ),
            (
                "",
                "[cluster]\nnodes = []",
                "a.toml:7: backends.cache.options.cluster.nodes: is empty: list at least one \
                 seed node",
            ),
            (
                "",
                "[cluster]",
                "backends.cache.options.cluster.nodes: is empty",
            ),
            (
                "",
                "[cluster]\nnodes = [\"a:7000\", \"b:0\"]",
                "backends.cache.options.cluster.nodes[1]: node: \"0\" is not a port",
            ),
            (
                "",
                "[cluster]\nnodes = [{ host = \"a\", port = 70000 }]",
                "backends.cache.options.cluster.nodes[0].port: invalid value",
            ),
            (
                "",
                "[cluster]\nnodes = [\"a\"]\n[sentinel]\nmaster_name = \"m\"",
                "backends.cache.options.sentinel: sentinel and cluster are alternatives",
            ),
            (
                "redis+cluster://a:7000",
                "[cluster]\nnodes = [\"b:7001\"]",
                "backends.cache.options.cluster.nodes: the redis+cluster:// url already lists \
                 the nodes",
            ),
            (
                "redis://cache",
                "[cluster]\nnodes = [\"a:7000\"]",
                "backends.cache.options.cluster: is set but url is a redis:// url",
            ),
            (
                "",
                "host = \"cache\"\n[cluster]\nnodes = [\"a:7000\"]",
                "backends.cache.options.host: with cluster, list the seed nodes in \
                 cluster.nodes",
            ),
            (
                "rediss+cluster://a:7000",
                "[tls]\ninsecure_skip_verify = true",
                "backends.cache.options.tls.insecure_skip_verify: is not supported with cluster",
            ),
            // Durable writes cannot work on a Cluster: the message names both settings.
            (
                "redis+cluster://a:7000,b:7001",
                "durable_replicas = 1",
                "a.toml:7: backends.cache.options.durable_replicas: durable writes are not \
                 supported on Redis Cluster (the URL is redis+cluster://…): WAIT acknowledges \
                 the replicas of one primary per command",
            ),
            (
                "",
                "durable_replicas = 2\ndurable_timeout = \"1s\"\n[cluster]\nnodes = \
                 [\"a:7000\"]",
                "backends.cache.options.durable_replicas: durable writes are not supported on \
                 Redis Cluster (backends.cache.options.cluster is set)",
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
        for url in [
            "rediss+cluster://idp:hunter2@a:7000,b:70000",
            "redis+cluster://:hunter2@",
            "redis+cluster://:hunter2@a:7000/3",
        ] {
            let m = refused(url, "");
            assert!(!m.contains("hunter2"), "{m}");
        }
        let m = refused("redis+cluster://:hunter2@a:7000", "durable_replicas = 1");
        assert!(
            !m.contains("hunter2") && m.contains("redis+cluster://…"),
            "{m}"
        );
    }

    #[test]
    fn a_redis_without_an_address_is_refused() {
        let m = refused("", "timeout = 1000");
        assert!(m.contains("no Redis address"), "{m}");
    }

    #[test]
    fn cluster_info_is_summarised() {
        let info = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\n\
                    cluster_size:3\r\n";
        assert_eq!(cluster_summary(info), ", Cluster of 3 primaries (state ok)");
        assert_eq!(
            cluster_summary("cluster_state:fail\r\ncluster_size:1\r\n"),
            ", Cluster of 1 primary (state fail)"
        );
        assert_eq!(cluster_summary(""), ", Cluster (state unknown)");
    }

    #[test]
    fn info_replies_of_every_node_are_read() {
        use ::redis::Value;
        let one = Value::BulkString(b"redis_version:7.0.15\r\n".to_vec());
        assert_eq!(info_replies(&one), ["redis_version:7.0.15\r\n"]);
        let per_node = Value::Map(vec![
            (
                Value::BulkString(b"127.0.0.1:7000".to_vec()),
                Value::BulkString(b"redis_version:7.0.15".to_vec()),
            ),
            (
                Value::BulkString(b"127.0.0.1:7001".to_vec()),
                Value::VerbatimString {
                    format: ::redis::VerbatimFormat::Text,
                    text: "redis_version:7.2.4".into(),
                },
            ),
        ]);
        assert_eq!(
            info_replies(&per_node),
            ["redis_version:7.0.15", "redis_version:7.2.4"]
        );
    }

    #[test]
    fn info_fields_are_found() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "redis_mode"), Some("standalone"));
        assert_eq!(info_field(info, "redis"), None);
    }
}
