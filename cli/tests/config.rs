//! The config file, as a user meets it: errors with exit status 2 that name the file,
//! line and field, and `config check` printing the effective config without a secret.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use predicates::prelude::*;

/// The binary, with the environment's backend and config settings removed.
fn authstate() -> Command {
    let mut cmd = Command::cargo_bin("authstate").expect("the authstate binary is built");
    cmd.env_remove("AUTHSTATE_BACKEND")
        .env_remove("AUTHSTATE_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

/// A temporary folder holding a config file (and whatever secrets a test puts there).
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("a temporary folder"))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder created");
        }
        std::fs::write(&path, contents).expect("written");
        path
    }

    /// `authstate --config authstate.toml ARGS`, run in this folder.
    fn run(&self, toml: &str, args: &[&str]) -> Command {
        self.write("authstate.toml", toml);
        let mut cmd = authstate();
        cmd.current_dir(self.path())
            .args(["--config", "authstate.toml"])
            .args(args);
        cmd
    }
}

/// Runs `config check` on `toml` and expects exit status 2 and a message starting with
/// `error: authstate.toml:LINE: FIELD: ` and containing `message`.
fn refused(toml: &str, line: usize, field: &str, message: &str) {
    let dir = Dir::new();
    dir.run(toml, &["config", "check"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with(format!(
            "error: authstate.toml:{line}: {field}: "
        )))
        .stderr(predicate::str::contains(message))
        // Never a panic trace.
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn a_malformed_file_exits_2_naming_the_line() {
    let dir = Dir::new();
    dir.run(
        "namespace = \"idp\"\n[services\nsessions = \"default\"\n",
        &["config", "check"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::starts_with(
        "error: authstate.toml:2: malformed TOML",
    ));
}

#[test]
fn an_unknown_service_exits_2_naming_file_line_and_field() {
    refused(
        "namespace = \"idp\"\n\n[backends.cache]\nkind = \"memory\"\n\n[services]\nsessions = \"cache\"\nsesions = \"cache\"\n",
        8,
        "services.sesions",
        "unknown service \"sesions\" (expected one of sessions, artifacts, state, replay, \
         lockout, keys, revocations, tokens, registry)",
    );
}

#[test]
fn a_service_on_an_undefined_backend_exits_2() {
    refused(
        "[backends.cache]\nkind = \"memory\"\n[services]\ntokens = \"db\"\n",
        4,
        "services.tokens",
        "backend \"db\" is not defined (defined: cache)",
    );
}

#[test]
fn a_missing_key_file_exits_2_naming_the_path_and_the_field() {
    refused(
        "[encryption]\n[[encryption.keys]]\nid = \"k1\"\nkey_file = \"secrets/k1.key\"\n",
        4,
        "encryption.keys[0].key_file",
        "secrets/k1.key",
    );
}

#[test]
fn an_unset_key_variable_exits_2_naming_it() {
    let dir = Dir::new();
    dir.run(
        "[[encryption.keys]]\nid = \"k1\"\nkey_env = \"AUTHSTATE_TEST_UNSET_KEY\"\n",
        &["config", "check"],
    )
    .env_remove("AUTHSTATE_TEST_UNSET_KEY")
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "authstate.toml:3: encryption.keys[0].key_env: the environment variable \
         AUTHSTATE_TEST_UNSET_KEY is not set",
    ));
}

#[test]
fn an_unknown_url_scheme_exits_2_naming_it_and_the_supported_ones() {
    refused(
        "[backends.main]\nurl = \"mongodb://idp:hunter2@db:27017\"\n",
        2,
        "backends.main.url",
        "unknown backend URL scheme \"mongodb\" (supported: memory:, sqlite://PATH, \
         postgres://",
    );
    // On the command line, too; the URL (and its password) is never echoed.
    authstate()
        .args(["check", "--backend", "mongodb://idp:hunter2@db:27017"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: --backend: unknown backend URL scheme \"mongodb\"",
        ))
        .stderr(predicate::str::contains("redis+sentinel://"))
        .stderr(predicate::str::contains("hunter2").not());
}

#[test]
fn other_mistakes_exit_2_with_their_field() {
    refused(
        "namespce = \"idp\"\n",
        1,
        "namespce",
        "unknown field `namespce`",
    );
    refused(
        "[sweeper]\ninterval = 300\n",
        2,
        "sweeper.interval",
        "has no unit",
    );
    refused(
        "[backends.r]\nkind = \"redis\"\nurl = \"postgres://db\"\n",
        3,
        "backends.r.url",
        "the URL is for a postgres backend, but kind = \"redis\"",
    );
    refused(
        "[backends.a]\nkind = \"memory\"\n[backends.b]\nkind = \"memory\"\n[backends.b.extra]\n",
        5,
        "backends.b.extra",
        "unknown field `extra`",
    );
}

#[test]
fn a_config_file_that_does_not_exist_exits_2() {
    authstate()
        .args(["--config", "/nonexistent/authstate.toml", "check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: /nonexistent/authstate.toml: cannot read the config file",
        ));
}

#[test]
fn authstate_config_names_the_file() {
    let dir = Dir::new();
    let path = dir.write("elsewhere.toml", "namespace = \"from-env\"\n");
    authstate()
        .args(["config", "check"])
        .env("AUTHSTATE_CONFIG", &path)
        .assert()
        .success()
        .stdout(predicate::str::contains("namespace = \"from-env\""));
}

#[test]
fn without_a_config_the_embedded_default_is_checked() {
    authstate()
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(embedded default)"))
        .stdout(predicate::str::contains("url = \"sqlite://authstate.db\""))
        .stderr(predicate::str::contains("the configuration is valid"));
}

#[test]
fn config_check_reads_redis_and_ldap_options_without_connecting() {
    let dir = Dir::new();
    dir.run(
        "default_backend = \"cache\"\n[backends.cache]\nurl = \"redis://127.0.0.1:1\"\n\
         [backends.cache.options]\nconnections = 4\ndurable_replicas = 1\n\
         [backends.dir]\nurl = \"ldap://127.0.0.1:1/dc=example,dc=com\"\n",
        &["config", "check"],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("not built").not());
    dir.run(
        "[backends.cache]\nurl = \"redis://127.0.0.1:1\"\n\
         [backends.cache.options]\nconections = 4\n",
        &["config", "check"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "backends.cache.options.conections: unknown field `conections`",
    ));
    dir.run(
        "[backends.dir]\nurl = \"ldap://127.0.0.1:1\"\n",
        &["config", "check"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("base_dn: no base DN"));
}

/// Secrets that a config check must never print, and the environment providing them.
struct Secrets {
    key_new: String,
    key_old: String,
    pepper: String,
    redis_password: &'static str,
    pg_password: &'static str,
    option_password: &'static str,
}

impl Secrets {
    fn new() -> Self {
        Secrets {
            key_new: STANDARD.encode([0xA1; 32]),
            key_old: STANDARD.encode([0xB2; 16]),
            pepper: STANDARD.encode([0xC3; 32]),
            redis_password: "r3dis-Passw0rd",
            pg_password: "pg-Passw0rd",
            option_password: "opt-Passw0rd",
        }
    }

    fn all(&self) -> Vec<&str> {
        vec![
            &self.key_new,
            &self.key_old,
            &self.pepper,
            self.redis_password,
            self.pg_password,
            self.option_password,
        ]
    }
}

fn assert_no_secret(output: &std::process::Output, secrets: &Secrets) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for secret in secrets.all() {
        assert!(!stdout.contains(secret), "{secret} on stdout:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} on stderr:\n{stderr}");
    }
}

#[test]
fn config_check_prints_the_effective_config_with_every_secret_redacted() {
    let s = Secrets::new();
    let dir = Dir::new();
    dir.write("secrets/new.key", &format!("{}\n", s.key_new));
    dir.write(
        "secrets/pg-url",
        &format!("postgres://idp:{}@db/idp\n", s.pg_password),
    );
    let toml = format!(
        "namespace = \"idp-prod\"\ndefault_backend = \"cache\"\n\
         [backends.cache]\nurl_env = \"TEST_REDIS_URL\"\n\
         [backends.db]\nurl_file = \"secrets/pg-url\"\n\
         [backends.db.options]\npassword = \"{}\"\nmax_connections = 8\n\
         [backends.inline]\nurl = \"redis://:{}@other:6379\"\n\
         [services]\ntokens = \"db\"\n\
         [encryption]\nwrite_key = \"new\"\npepper_env = \"TEST_PEPPER\"\n\
         [[encryption.keys]]\nid = \"new\"\nkey_file = \"secrets/new.key\"\n\
         [[encryption.keys]]\nid = \"old\"\nalgorithm = \"aes-128-gcm\"\nkey_env = \"TEST_OLD_KEY\"\n",
        s.option_password, s.redis_password
    );
    let output = dir
        .run(&toml, &["config", "check"])
        .env(
            "TEST_REDIS_URL",
            format!("rediss://idp:{}@cache:6380", s.redis_password),
        )
        .env("TEST_PEPPER", &s.pepper)
        .env("TEST_OLD_KEY", &s.key_old)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret(&output, &s);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for shown in [
        "url_env = \"TEST_REDIS_URL\"  # \"rediss://idp:[redacted]@cache:6380\"",
        "url_file = \"secrets/pg-url\"  # \"postgres://idp:[redacted]@db/idp\"",
        "password = \"[redacted]\"",
        "max_connections = 8",
        "url = \"redis://:[redacted]@other:6379\"",
        "tokens = \"db\"",
        "sessions = \"cache\"  # (default)",
        "pepper_env = \"TEST_PEPPER\"  # pepper: [redacted], 32 bytes",
        "key_file = \"secrets/new.key\"  # material: [redacted], 32 bytes, write key",
        "key_env = \"TEST_OLD_KEY\"  # material: [redacted], 16 bytes, read key",
    ] {
        assert!(stdout.contains(shown), "{shown:?} not in:\n{stdout}");
    }
    // The inline password is warned about, without being shown.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("warning: authstate.toml:11: backends.inline.url: the URL holds a password"),
        "{stderr}"
    );
    // What is printed is itself a valid config file.
    let reparsed: toml::Table = toml::from_str(&stdout).expect("valid TOML");
    assert_eq!(reparsed["namespace"].as_str(), Some("idp-prod"));
}

#[test]
fn the_example_config_is_accepted() {
    let s = Secrets::new();
    let dir = Dir::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/authstate.toml");
    let text = std::fs::read_to_string(&example).expect("examples/authstate.toml exists");
    // The LDAP backend needs a base DN (and the example's directory a bind): until the
    // example's commented-out options are filled in, fill them in here.
    let text = if text.contains("\nbase_dn = ") {
        text
    } else {
        text.replacen(
            "# [backends.directory.options]\n",
            "[backends.directory.options]\nbase_dn = \"ou=authstate,dc=example,dc=com\"\n\
             bind_dn = \"cn=authstate,ou=services,dc=example,dc=com\"\n\
             password_file = \"secrets/ldap-password\"\n",
            1,
        )
    };
    dir.write("secrets/ldap-password", "ldap-Passw0rd\n");
    dir.write(
        "secrets/postgres-url",
        &format!(
            "postgres://idp:{}@db.internal/idp?sslmode=verify-full\n",
            s.pg_password
        ),
    );
    dir.write("secrets/pepper", &s.pepper);
    // The whole output of `authstate keys generate`, as the example suggests.
    dir.write(
        "secrets/k2026-08.key",
        &format!(
            "key id:    k2026-08\nalgorithm: AES-256-GCM\nkey:       {}\n",
            s.key_new
        ),
    );
    let output = dir
        .run(&text, &["config", "check"])
        .env(
            "AUTHSTATE_REDIS_URL",
            format!("rediss://idp:{}@cache.internal:6380/0", s.redis_password),
        )
        .env("AUTHSTATE_KEY_K2026_02", &s.key_old)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret(&output, &s);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for shown in [
        "namespace = \"idp-prod\"",
        "registry = \"directory\"",
        "write_key = \"k2026-08\"",
        "criterion = \"last_activity\"",
        "max_idle = \"8h\"",
        "lease_backend = \"db\"",
    ] {
        assert!(stdout.contains(shown), "{shown:?} not in:\n{stdout}");
    }
    // No warnings: the example keeps every secret out of the file.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn redis_cluster_settings_are_checked_when_the_config_loads() {
    // A Cluster URL is a Redis backend; config check reads it without connecting.
    let dir = Dir::new();
    dir.run(
        "[backends.cache]\nurl = \"redis+cluster://10.0.0.1:7000,10.0.0.2:7000\"\n",
        &["config", "check"],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("kind = \"redis\""))
    .stdout(predicate::str::contains(
        "url = \"redis+cluster://10.0.0.1:7000,10.0.0.2:7000\"",
    ));
    // Or the seed nodes as an option, without a URL.
    dir.run(
        "[backends.cache]\nkind = \"redis\"\n[backends.cache.options]\n\
         cluster = { nodes = [\"10.0.0.1:7000\", { host = \"10.0.0.2\", port = 7001 }] }\n",
        &["config", "check"],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("url =").not())
    .stdout(predicate::str::contains("10.0.0.2"));

    refused(
        "[backends.cache]\nurl = \"redis+cluster://10.0.0.1:7000\"\n\
         [backends.cache.options]\ndurable_replicas = 1\n",
        3,
        "backends.cache.options.durable_replicas",
        "durable writes are not supported on Redis Cluster (the URL is redis+cluster://…)",
    );
    refused(
        "[backends.cache]\nkind = \"redis\"\n[backends.cache.options]\ndurable_replicas = 1\n\
         cluster = { nodes = [\"10.0.0.1:7000\"] }\n",
        3,
        "backends.cache.options.durable_replicas",
        "not supported on Redis Cluster (backends.cache.options.cluster is set)",
    );
    refused(
        "[backends.cache]\nkind = \"redis\"\n[backends.cache.options]\ncluster = { nodes = [] }\n",
        3,
        "backends.cache.options.cluster.nodes",
        "is empty: list at least one seed node",
    );
    refused(
        "[backends.cache]\nkind = \"redis\"\n",
        1,
        "backends.cache",
        "or say where the server is in its options (host, socket, sentinel or cluster)",
    );

    // On the command line: a bad node is named, the password never echoed.
    for (url, message) in [
        (
            "rediss+cluster://idp:hunter2@10.0.0.1:7000,10.0.0.2:70000",
            "error: --backend: url: \"70000\" is not a port (1 to 65535)",
        ),
        (
            "redis+cluster://:hunter2@",
            "error: --backend: url: \"\": the host is empty",
        ),
    ] {
        authstate()
            .args(["check", "--backend", url])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message))
            .stderr(predicate::str::contains("hunter2").not());
    }
}
