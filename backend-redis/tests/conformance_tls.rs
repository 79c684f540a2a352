//! The whole conformance suite against a redis-server that speaks only TLS and refuses
//! clients without a certificate signed by its CA (`--tls-auth-clients yes`). The stores
//! connect with the CA and the client certificate; `dump` and `tamper` use the same
//! settings on connections of their own.
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test conformance_tls`.

mod common;

use std::sync::{Arc, Mutex, Weak};

use authstate_backend_redis::{RedisConfig, RedisConnection, TlsConfig};
use authstate_conformance::conformance_tests;
use authstate_core::ErrorKind;
use authstate_testkit::{TlsRedisOptions, TlsRedisServer, require};

use common::{ConfiguredHarness, shared, suite_options};

/// The server the tests of this binary share while any of them runs.
static SERVER: Mutex<Weak<TlsRedisServer>> = Mutex::new(Weak::new());

fn server() -> Arc<TlsRedisServer> {
    shared(&SERVER, || {
        require(TlsRedisServer::start_with(TlsRedisOptions {
            require_client_cert: true,
            ..TlsRedisOptions::default()
        }))
    })
}

/// The server's address with TLS: its CA, and the client certificate and key (files).
fn config(server: &TlsRedisServer) -> RedisConfig {
    RedisConfig {
        tls: Some(TlsConfig {
            ca_certificates_file: Some(server.files().ca.clone()),
            certificate_chain_file: Some(server.files().client_cert.clone()),
            private_key_file: Some(server.files().client_key.clone()),
            ..TlsConfig::default()
        }),
        ..RedisConfig::from_host(server.host(), server.port())
    }
}

/// The factory the conformance macro calls in every test.
async fn harness() -> ConfiguredHarness {
    let server = server();
    let config = config(&server);
    ConfiguredHarness::new(server, config.clone(), config, suite_options())
}

conformance_tests!(harness);

/// The suite above proves nothing about client certificates unless the server really
/// demands them: without one, connecting fails (and says why).
#[tokio::test]
async fn the_server_refuses_clients_without_a_certificate() {
    let server = server();
    let mut config = config(&server);
    if let Some(tls) = config.tls.as_mut() {
        tls.certificate_chain_file = None;
        tls.private_key_file = None;
    }
    let err = RedisConnection::connect(&config)
        .await
        .expect_err("a TLS client without a certificate");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let with_cert = RedisConnection::connect(&self::config(&server))
        .await
        .expect("with the client certificate");
    let pong: String = with_cert.query(&redis::cmd("PING")).await.expect("PING");
    assert_eq!(pong, "PONG");
}
