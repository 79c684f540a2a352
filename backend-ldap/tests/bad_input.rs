//! Wrong configurations and a missing server: each a clear error naming what is wrong,
//! never a panic, and never "not found" where the server could not answer.

use std::time::Duration;

use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig, ServerTtl};
use authstate_core::{
    Clock, ErrorKind, Namespace, SecretString, SessionId, StoreConfig, SystemClock,
};
use authstate_testkit::{Slapd, SlapdOptions, require};

fn admin(server: &Slapd) -> LdapConfig {
    LdapConfig {
        bind: Bind::Simple {
            dn: server.admin_dn(),
            password: SecretString::new(server.admin_password()),
        },
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(2),
        ..LdapConfig::new(server.url(), server.suffix())
    }
}

fn authstate_slapd() -> Slapd {
    require(Slapd::start_with(SlapdOptions::authstate()))
}

#[tokio::test]
async fn wrong_bind_credentials_are_config_invalid() {
    let server = authstate_slapd();
    let config = LdapConfig {
        bind: Bind::Simple {
            dn: server.admin_dn(),
            password: SecretString::new("not-the-password"),
        },
        ..admin(&server)
    };
    let err = LdapBackend::connect(config)
        .await
        .expect_err("a wrong password");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(message.contains("invalidCredentials (49)"), "{message}");
    assert!(message.contains(&server.admin_dn()), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");
}

#[tokio::test]
async fn missing_schema_says_load_the_authstate_schema() {
    // A stock slapd: no authstate schema.
    let server = require(Slapd::start());
    let err = LdapBackend::connect(admin(&server))
        .await
        .expect_err("no schema");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    let message = err.to_string();
    assert!(message.contains("load the authstate schema"), "{message}");
    assert!(message.contains("knows none"), "{message}");
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // A port nothing listens on: take one from a server, then stop it.
    let mut server = authstate_slapd();
    let config = admin(&server);
    server.stop();
    let started = std::time::Instant::now();
    let err = LdapBackend::connect(config.clone())
        .await
        .expect_err("nobody listens");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&config.url), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_gone_after_open_fails_closed() {
    let mut server = authstate_slapd();
    let backend = LdapBackend::connect(admin(&server))
        .await
        .expect("connects");
    let namespace = Namespace::random().expect("namespace");
    backend.migrate(&namespace).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(namespace))
        .await
        .expect("opens");
    let id = SessionId::generate().expect("id");
    assert!(stores.sessions.get(&id).await.expect("answers").is_none());
    tokio::task::block_in_place(|| server.stop());
    // Unavailable, never "no such session", "fresh" or "not revoked".
    let err = stores.sessions.get(&id).await.expect_err("server gone");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let not_after = SystemClock.now().saturating_add(Duration::from_secs(60));
    let err = stores
        .replay
        .check_and_record("jti", not_after)
        .await
        .expect_err("server gone");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let err = stores
        .revocations
        .is_revoked("sri", "alice", authstate_core::Timestamp::EPOCH)
        .await
        .expect_err("server gone");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn base_dn_that_does_not_exist_is_config_invalid() {
    let server = authstate_slapd();
    let config = LdapConfig {
        base_dn: format!("ou=nowhere,{}", server.suffix()),
        ..admin(&server)
    };
    let err = LdapBackend::connect(config)
        .await
        .expect_err("no such base");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    let message = err.to_string();
    assert!(message.contains("base DN ou=nowhere"), "{message}");
    assert!(message.contains("does not exist"), "{message}");

    // A database whose suffix entry was never created.
    let empty = require(Slapd::start_with(SlapdOptions {
        without_base_entry: true,
        ..SlapdOptions::authstate()
    }));
    let err = LdapBackend::connect(admin(&empty))
        .await
        .expect_err("no base entry");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn namespace_not_migrated_is_config_invalid() {
    let server = authstate_slapd();
    let backend = LdapBackend::connect(admin(&server))
        .await
        .expect("connects");
    let err = backend
        .open(StoreConfig::new(Namespace::random().expect("namespace")))
        .await
        .expect_err("not migrated");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("migrate"), "{err}");
}

#[tokio::test]
async fn dds_mode_without_the_overlay_is_config_invalid() {
    let server = require(Slapd::start_with(SlapdOptions {
        modules: Vec::new(),
        database_config: String::new(),
        ..SlapdOptions::authstate()
    }));
    let config = LdapConfig {
        server_ttl: ServerTtl::dds(Duration::from_secs(86_400)),
        ..admin(&server)
    };
    let err = LdapBackend::connect(config).await.expect_err("no dds");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("dds"), "{err}");
    // Without the dds mode the same server is fine.
    LdapBackend::connect(admin(&server))
        .await
        .expect("connects");
}

#[tokio::test]
async fn malformed_configs_are_refused_before_connecting() {
    for (config, field) in [
        (LdapConfig::new("http://127.0.0.1:1", "dc=x"), "url"),
        (LdapConfig::new("ldap://[::1", "dc=x"), "connecting"),
        (LdapConfig::new("ldap://127.0.0.1:1", "nodn"), "base_dn"),
        (
            LdapConfig {
                bind: Bind::Simple {
                    dn: "cn=a,dc=x".into(),
                    password: SecretString::new(""),
                },
                ..LdapConfig::new("ldap://127.0.0.1:1", "dc=x")
            },
            "password",
        ),
        (
            LdapConfig {
                bind: Bind::SaslExternal,
                ..LdapConfig::new("ldap://127.0.0.1:1", "dc=x")
            },
            "SASL EXTERNAL",
        ),
    ] {
        let err = LdapBackend::connect(config).await.expect_err(field);
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}
