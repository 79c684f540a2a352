//! Tests of loading and rendering configs. (Environment variables are covered by the
//! CLI tests: setting them in-process is `unsafe`, which this workspace forbids.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use authstate::PurgeCriterion;
use authstate::codec::Algorithm;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::backend::BackendKind;
use crate::error::{CliError, ConfigError};

/// A temporary folder with a config file and secret files in it.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("written");
        path
    }

    fn load(&self, toml: &str) -> Result<Config, CliError> {
        let path = self.file("authstate.toml", toml);
        load(Some(&path), None)
    }

    fn error(&self, toml: &str) -> ConfigError {
        match self.load(toml) {
            Err(CliError::Config(e)) => e,
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}

fn key_b64(byte: u8, len: usize) -> String {
    STANDARD.encode(vec![byte; len])
}

fn at(e: &ConfigError) -> (Option<usize>, Option<&str>) {
    (e.line, e.field.as_deref())
}

#[test]
fn the_embedded_default_is_one_sqlite_file() {
    let config = load(None, None).expect("loads");
    assert_eq!(config.source, "(embedded default)");
    assert_eq!(config.namespace.as_str(), DEFAULT_NAMESPACE);
    assert_eq!(config.backends.len(), 1);
    let spec = config
        .backend_of(crate::services::Service::Tokens)
        .expect("defined");
    assert_eq!(spec.kind, BackendKind::Sqlite);
    assert_eq!(spec.display_url(), "sqlite://authstate.db");
    assert!(spec.embedded, "the embedded default migrates itself");
    assert_eq!(config.used_backends().len(), 1);
    assert!(!config.encryption.codec.is_encrypting());
    assert_eq!(config.sweeper, authstate::sweeper::SweeperConfig::default());
}

#[test]
fn backend_overrides_every_service_and_keeps_the_rest() {
    let d = Dir::new();
    let path = d.file(
        "authstate.toml",
        "namespace = \"idp-prod\"\n[backends.cache]\nurl = \"redis://cache\"\n[sweeper]\nbatch_size = 7\n",
    );
    let config = load(Some(&path), Some("memory:")).expect("loads");
    assert!(config.backend_override);
    assert_eq!(config.namespace.as_str(), "idp-prod");
    assert_eq!(config.sweeper.batch_size, 7);
    assert_eq!(config.backends.keys().collect::<Vec<_>>(), ["cli"]);
    assert!(config.services.iter().all(|(b, _)| b == "cli"));
    assert_eq!(config.lease_backend, "cli");

    match load(None, Some("mongodb://u:hunter2@db")) {
        Err(CliError::Config(e)) => {
            assert_eq!(e.field.as_deref(), Some("--backend"));
            assert!(e.message.contains("\"mongodb\""), "{e}");
            assert!(!e.to_string().contains("hunter2"));
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn services_go_to_their_backends_and_the_rest_to_the_default() {
    let d = Dir::new();
    let config = d
        .load(
            "default_backend = \"cache\"\n\
             [backends.cache]\nurl = \"redis://cache:6379\"\n\
             [backends.db]\nkind = \"postgres\"\nurl = \"postgres://db/idp\"\n\
             [backends.spare]\nkind = \"memory\"\n\
             [services]\nkeys = \"db\"\ntokens = \"db\"\n\
             [sweeper]\nlease_backend = \"db\"\n",
        )
        .expect("loads");
    use crate::services::Service;
    assert_eq!(config.backend_name(Service::Sessions), "cache");
    assert_eq!(config.backend_name(Service::Keys), "db");
    assert_eq!(config.backend_name(Service::Tokens), "db");
    assert_eq!(config.services[5], ("db".to_string(), true));
    assert_eq!(config.services[0], ("cache".to_string(), false));
    let used: Vec<&str> = config
        .used_backends()
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(used, ["cache", "db"], "spare is not used");
    assert_eq!(config.lease_backend, "db");
    let rendered = render(&config);
    assert!(rendered.contains("# not used by any service"), "{rendered}");
}

#[tokio::test]
async fn services_on_two_memory_backends_are_composed() {
    use crate::backend::Schema;
    let d = Dir::new();
    let config = d
        .load(
            "default_backend = \"a\"\n[backends.a]\nkind = \"memory\"\n\
             [backends.b]\nkind = \"memory\"\n[services]\nstate = \"b\"\n",
        )
        .expect("loads");
    let ns = || authstate::Namespace::new("compose-test").expect("valid");
    let stores =
        crate::services::open_services(&config, config.store_config(ns()), Schema::Require)
            .await
            .expect("opens");
    stores
        .state
        .put("k", b"v".to_vec(), Duration::from_secs(60))
        .await
        .expect("put");
    // Backend "b" holds the state; "a" does not see it.
    let b = crate::backend::open_backend(
        &config.backends["b"],
        config.store_config(ns()),
        Schema::Require,
    )
    .await
    .expect("opens");
    let a = crate::backend::open_backend(
        &config.backends["a"],
        config.store_config(ns()),
        Schema::Require,
    )
    .await
    .expect("opens");
    assert!(b.stores.state.get("k").await.expect("get").is_some());
    assert!(a.stores.state.get("k").await.expect("get").is_none());
    assert_eq!(stores.backend, "memory");
}

#[test]
fn keys_and_pepper_from_files() {
    let d = Dir::new();
    d.file("new.key", &format!("{}\n", key_b64(1, 32)));
    // The whole output of `authstate keys generate` is accepted too.
    d.file(
        "old.key",
        &format!(
            "key id:    old\nalgorithm: AES-128-GCM\nkey:       {}\n",
            key_b64(2, 16)
        ),
    );
    d.file("pepper", &key_b64(3, 32));
    let config = d
        .load(
            "[encryption]\nwrite_key = \"new\"\npepper_file = \"pepper\"\n\
             [[encryption.keys]]\nid = \"old\"\nalgorithm = \"aes-128-gcm\"\nkey_file = \"old.key\"\n\
             [[encryption.keys]]\nid = \"new\"\nkey_file = \"new.key\"\n",
        )
        .expect("loads");
    let enc = &config.encryption;
    assert!(enc.codec.is_encrypting());
    let keyring = enc.codec.keyring().expect("a keyring");
    assert_eq!(keyring.write_key().id(), "new");
    assert_eq!(keyring.read_keys().len(), 1);
    assert_eq!(keyring.read_keys()[0].algorithm(), Algorithm::Aes128Gcm);
    assert_eq!(enc.keys[0].id, "new");
    assert!(enc.keys[0].write);
    assert_eq!(enc.pepper.as_ref().map(|(_, len)| *len), Some(32));

    // Relative paths are read from the config file's folder, whatever the working
    // directory; the rendering shows them as written, never the material.
    let rendered = render(&config);
    for secret in [key_b64(1, 32), key_b64(2, 16), key_b64(3, 32)] {
        assert!(!rendered.contains(&secret), "{rendered}");
    }
    assert!(rendered.contains("key_file = \"new.key\""), "{rendered}");
    assert!(
        rendered.contains("[redacted], 32 bytes, write key"),
        "{rendered}"
    );
    assert!(rendered.contains("pepper_file = \"pepper\""), "{rendered}");
    // What `config check` prints is itself a valid config file.
    let reparsed: toml::Table = toml::from_str(&rendered).expect("valid TOML");
    assert_eq!(reparsed["encryption"]["write_key"].as_str(), Some("new"));
}

#[test]
fn one_key_is_the_write_key_without_saying_so() {
    let d = Dir::new();
    d.file("k.key", &key_b64(1, 32));
    let config = d
        .load("[[encryption.keys]]\nid = \"k\"\nkey_file = \"k.key\"\n")
        .expect("loads");
    assert_eq!(
        config
            .encryption
            .codec
            .keyring()
            .map(|k| k.write_key().id()),
        Some("k")
    );
}

#[test]
fn key_errors_name_the_field_and_never_the_material() {
    let d = Dir::new();
    d.file("short.key", &key_b64(9, 16));
    let e = d.error("[[encryption.keys]]\nid = \"k\"\nkey_file = \"short.key\"\n");
    assert_eq!(at(&e), (Some(3), Some("encryption.keys[0].key_file")));
    assert!(e.message.contains("AES-256-GCM needs 32 bytes"), "{e}");
    assert!(e.message.contains("aes-128-gcm"), "{e}");
    assert!(!e.to_string().contains(&key_b64(9, 16)));

    let e = d.error("[[encryption.keys]]\nid = \"k\"\nkey_file = \"missing.key\"\n");
    assert_eq!(at(&e), (Some(3), Some("encryption.keys[0].key_file")));
    assert!(e.message.contains("missing.key"), "{e}");

    d.file(
        "other.key",
        &format!("key id: other\nkey: {}\n", key_b64(1, 32)),
    );
    let e = d.error("[[encryption.keys]]\nid = \"k\"\nkey_file = \"other.key\"\n");
    assert!(e.message.contains("holds the key \"other\""), "{e}");

    d.file("a.key", &key_b64(1, 32));
    let e = d.error(
        "[[encryption.keys]]\nid = \"k\"\nkey_file = \"a.key\"\n\
         [[encryption.keys]]\nid = \"k\"\nkey_file = \"a.key\"\n",
    );
    assert_eq!(at(&e), (Some(5), Some("encryption.keys[1].id")));

    let e = d.error(
        "[[encryption.keys]]\nid = \"a\"\nkey_file = \"a.key\"\n\
         [[encryption.keys]]\nid = \"b\"\nkey_file = \"a.key\"\n",
    );
    assert_eq!(e.field.as_deref(), Some("encryption.write_key"));
    assert!(e.message.contains("2 keys are configured (a, b)"), "{e}");

    let e = d.error("[[encryption.keys]]\nid = \"bad id\"\nkey_file = \"a.key\"\n");
    assert_eq!(at(&e), (Some(2), Some("encryption.keys[0].id")));

    d.file("short.pepper", &key_b64(1, 8));
    let e = d.error("[encryption]\npepper_file = \"short.pepper\"\n");
    assert_eq!(at(&e), (Some(2), Some("encryption.pepper_file")));
    assert!(e.message.contains("at least 16 bytes"), "{e}");
}

#[test]
fn errors_name_file_line_and_field() {
    let d = Dir::new();
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "namespace = \"idp\"\n\n[services]\nsesions = \"default\"\n",
            4,
            "services.sesions",
            "unknown service \"sesions\" (expected one of sessions, artifacts",
        ),
        (
            "[backends.main]\nkind = \"memory\"\n[services]\ntokens = \"cache\"\n",
            4,
            "services.tokens",
            "backend \"cache\" is not defined (defined: main)",
        ),
        (
            "[backends.main]\nurl = \"mongodb://db\"\n",
            2,
            "backends.main.url",
            "unknown backend URL scheme \"mongodb\"",
        ),
        (
            "namespce = \"x\"\n",
            1,
            "namespce",
            "unknown field `namespce`",
        ),
        (
            "[sweeper]\ninterval = 300\n",
            2,
            "sweeper.interval",
            "has no unit",
        ),
        (
            "[sweeper]\n\ncriterion = \"last_activity\"\n",
            3,
            "sweeper.criterion",
            "needs max_idle",
        ),
        (
            "[sweeper]\nmax_deletes_per_second = 0\n",
            2,
            "sweeper.max_deletes_per_second",
            "leave it out for no limit",
        ),
        (
            "[backends.m]\nkind = \"memory\"\n[backends.m.options]\nsize = 1\n",
            3,
            "backends.m.options.size",
            "takes no options",
        ),
        (
            "[backends.r]\nkind = \"redis\"\n",
            1,
            "backends.r",
            "needs a URL",
        ),
        (
            "[backends.r]\nkind = \"redis\"\n[backends.r.options]\ntimeout = 1000\n",
            1,
            "backends.r",
            "the redis backend needs a URL: give url, url_env or url_file, or say where the \
             server is in its options (host, socket, sentinel or cluster)",
        ),
        (
            "[backends.r]\nkind = \"redis\"\n[backends.r.options]\ncluster = { nodes = [] }\n",
            3,
            "backends.r.options.cluster.nodes",
            "is empty: list at least one seed node",
        ),
        (
            "[backends.p]\nkind = \"postgres\"\n[backends.p.options]\nhost = \"db\"\n",
            1,
            "backends.p",
            "the postgres backend needs a URL: give url, url_env or url_file",
        ),
        (
            "[backends.r]\nkind = \"redis\"\nurl = \"ldap://dir\"\n",
            3,
            "backends.r.url",
            "the URL is for a ldap backend, but kind = \"redis\"",
        ),
    ];
    for (toml, line, field, message) in cases {
        let e = d.error(toml);
        assert_eq!(at(&e), (Some(*line), Some(*field)), "{toml}\n{e}");
        assert!(e.message.contains(message), "{toml}\n{e}");
        assert!(
            e.to_string().starts_with(&format!(
                "{}:{line}: {field}: ",
                d.dir.path().join("authstate.toml").display()
            )),
            "{e}"
        );
    }
}

#[test]
fn malformed_files_name_the_line() {
    let d = Dir::new();
    let e = d.error("namespace = \"x\"\n[services\nsessions = \"a\"\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.starts_with("malformed TOML"), "{e}");

    let missing = Path::new("/nonexistent/authstate.toml");
    match load(Some(missing), None) {
        Err(CliError::Config(e)) => {
            assert_eq!(e.file.as_deref(), Some("/nonexistent/authstate.toml"));
            assert!(e.message.contains("cannot read the config file"), "{e}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn sweeper_settings_map_to_the_core_config() {
    let d = Dir::new();
    let config = d
        .load(
            "[sweeper]\ninterval = \"30s\"\nbatch_size = 100\ncriterion = \"last_activity\"\n\
             max_idle = \"8h\"\noffset = \"500ms\"\nmax_deletes_per_second = 250\n\
             lease_ttl = \"2m\"\nholder = \"node-1\"\n",
        )
        .expect("loads");
    let s = &config.sweeper;
    assert_eq!(s.interval, Duration::from_secs(30));
    assert_eq!(s.batch_size, 100);
    assert_eq!(
        s.criterion,
        PurgeCriterion::LastActivity {
            max_idle: Duration::from_secs(8 * 3600)
        }
    );
    assert_eq!(s.offset, Duration::from_millis(500));
    assert_eq!(s.max_deletes_per_second, Some(250));
    assert_eq!(s.lease_ttl, Duration::from_secs(120));
    assert_eq!(s.holder.as_deref(), Some("node-1"));
    let rendered = render(&config);
    assert!(rendered.contains("max_idle = \"8h\""), "{rendered}");
    assert!(rendered.contains("offset = \"500ms\""), "{rendered}");
}

#[test]
fn urls_from_files_are_redacted_and_inline_passwords_warned_about() {
    let d = Dir::new();
    d.file("redis-url", "rediss://idp:hunter2@cache:6380/0\n");
    let config = d
        .load(
            "default_backend = \"cache\"\n\
             [backends.cache]\nurl_file = \"redis-url\"\n\
             [backends.db]\nurl = \"postgres://idp:sw0rdfish@db/idp\"\n\
             [backends.db.options]\npassword = \"opt-secret\"\nacquire_timeout_ms = 5000\n",
        )
        .expect("loads");
    let cache = &config.backends["cache"];
    assert_eq!(cache.kind, BackendKind::Redis);
    assert_eq!(
        cache.url.as_ref().map(|u| u.expose()),
        Some("rediss://idp:hunter2@cache:6380/0")
    );
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("backends.db.url"),
        "{:?}",
        config.warnings
    );
    assert!(!config.warnings[0].contains("sw0rdfish"));

    let rendered = render(&config);
    for secret in ["hunter2", "sw0rdfish", "opt-secret"] {
        assert!(!rendered.contains(secret), "{secret} in {rendered}");
    }
    assert!(
        rendered.contains("url_file = \"redis-url\"  # \"rediss://idp:[redacted]@cache:6380/0\""),
        "{rendered}"
    );
    assert!(rendered.contains("acquire_timeout_ms = 5000"), "{rendered}");
    let debug = format!("{:?}", config.backends);
    for secret in ["hunter2", "sw0rdfish", "opt-secret"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn backend_options_deserialize_into_the_backends_own_config() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct FakeTls {
        ca_file: PathBuf,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct FakeRedisConfig {
        url: String,
        timeout_ms: u64,
        password_file: Option<PathBuf>,
        tls: Option<FakeTls>,
    }
    let d = Dir::new();
    // Redis checks its options when the config loads: unknown ones are refused there.
    match d.load(
        "[backends.cache]\nurl = \"redis://cache\"\n\n[backends.cache.options]\ntimeout_ms = 250\n",
    ) {
        Err(CliError::Config(e)) => assert_eq!(
            at(&e),
            (Some(4), Some("backends.cache.options.timeout_ms")),
            "{e}"
        ),
        other => panic!("expected a config error, got {other:?}"),
    }
    let config = d
        .load("[backends.cache]\nurl = \"redis://cache\"\n\n[backends.cache.options]\ntimeout = 250\n")
        .expect("loads");
    // The options as another backend's config would read them.
    let mut spec = config.backends["cache"].clone();
    spec.options = toml::from_str(
        "timeout_ms = 250\npassword_file = \"secrets/redis-password\"\n\
         tls = { ca_file = \"/etc/ca.pem\" }\n",
    )
    .expect("valid TOML");
    let parsed: FakeRedisConfig = spec.options_as(Some("url")).expect("deserializes");
    assert_eq!(parsed.url, "redis://cache");
    assert_eq!(parsed.timeout_ms, 250);
    // Relative `*_file` options are relative to the config file's folder.
    assert_eq!(
        parsed.password_file,
        Some(d.dir.path().join("secrets/redis-password"))
    );
    assert_eq!(
        parsed.tls.map(|t| t.ca_file),
        Some(PathBuf::from("/etc/ca.pem"))
    );

    spec.options = toml::from_str("timeout_ms = \"soon\"\n").expect("valid TOML");
    match spec.options_as::<FakeRedisConfig>(Some("url")) {
        Err(CliError::Config(e)) => {
            assert_eq!(
                at(&e),
                (Some(4), Some("backends.cache.options.timeout_ms")),
                "{e}"
            );
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn a_redis_backend_can_say_where_it_is_in_its_options() {
    let d = Dir::new();
    let config = d
        .load(
            "[backends.cache]\nkind = \"redis\"\n\n[backends.cache.options]\ntimeout = 250\n\
             cluster = { nodes = [\"10.0.0.1:7000\", \"10.0.0.2:7000\"] }\n",
        )
        .expect("loads");
    let spec = &config.backends["cache"];
    assert_eq!(spec.kind, BackendKind::Redis);
    assert!(spec.url.is_none());
    assert_eq!(spec.display_url(), "redis (address in options)");
    let shown = render(&config);
    assert!(!shown.contains("url ="), "{shown}");
    assert!(shown.contains("10.0.0.2:7000"), "{shown}");

    // Durable writes on a cluster are refused, naming both settings.
    let e = d.error(
        "[backends.cache]\nkind = \"redis\"\n\n[backends.cache.options]\ndurable_replicas = 1\n\
         cluster = { nodes = [\"10.0.0.1:7000\"] }\n",
    );
    assert_eq!(
        at(&e),
        (Some(4), Some("backends.cache.options.durable_replicas")),
        "{e}"
    );
    assert!(
        e.message
            .contains("not supported on Redis Cluster (backends.cache.options.cluster is set)"),
        "{e}"
    );
}
