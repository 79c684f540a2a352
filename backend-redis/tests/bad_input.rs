//! Bad settings and unhelpful servers: every case ends in a clear error within the
//! configured timeouts — never a hang, never a panic.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use authstate_backend_redis::{
    ClusterConfig, NodeAddress, RedisConfig, RedisConnection, SentinelConfig, TlsConfig, TlsVersion,
};
use authstate_core::{Error, ErrorKind, SecretString};
use authstate_testkit::{
    AclUser, RedisOptions, RedisSentinelSet, RedisServer, TlsMaterial, TlsRedisOptions,
    TlsRedisServer, require,
};

/// The connect and response timeouts of every case.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// Scheduling slack on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn config(base: RedisConfig) -> RedisConfig {
    RedisConfig {
        timeout: TIMEOUT,
        ..base
    }
}

/// Connects, expecting a failure of `kind` within the timeouts; returns the message.
async fn fails(config: &RedisConfig, kind: ErrorKind) -> String {
    let started = Instant::now();
    let budget = config.effective_connect_timeout() + config.effective_response_timeout();
    let result = tokio::time::timeout(
        budget + Duration::from_secs(10),
        RedisConnection::connect(config),
    )
    .await
    .unwrap_or_else(|_| panic!("connect hung with {config:?}"));
    let elapsed = started.elapsed();
    let err: Error = match result {
        Ok(conn) => panic!("connected with {config:?}: {conn:?}"),
        Err(e) => e,
    };
    assert!(
        elapsed < budget + MARGIN,
        "took {elapsed:?} (budget {budget:?}) to fail: {err}"
    );
    assert_eq!(err.kind(), kind, "{err}");
    eprintln!("{elapsed:?}: {err}");
    err.to_string()
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A TCP server that accepts and then never says anything.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            // Read whatever comes, answer nothing.
            let mut reader = stream.try_clone().expect("clone");
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
            });
            held.push(stream);
        }
    });
    port
}

#[tokio::test]
async fn unreachable_host_is_unavailable_at_once() {
    let port = closed_port();
    let message = fails(
        &config(RedisConfig::from_host("127.0.0.1", port)),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("refused"), "{message}");
}

#[tokio::test]
async fn unroutable_address_gives_up_within_the_connect_timeout() {
    // TEST-NET-1 (RFC 5737): either no route at all or packets that go nowhere.
    fails(
        &config(RedisConfig::from_host("192.0.2.1", 6379)),
        ErrorKind::Unavailable,
    )
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let port = silent_server();
    let message = fails(
        &config(RedisConfig::from_host("127.0.0.1", port)),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(message.contains("connect timeout"), "{message}");
    // Over TLS the handshake waits on the same silence.
    let message = fails(
        &config(RedisConfig::from_url(format!("rediss://127.0.0.1:{port}"))),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(message.contains("connect timeout"), "{message}");
}

#[tokio::test]
async fn wrong_password_is_a_config_error() {
    let server = require(RedisServer::start_with(RedisOptions {
        user: Some(AclUser::new("app", "right-pw")),
        default_user_off: true,
        ..RedisOptions::default()
    }));
    let message = fails(
        &config(RedisConfig {
            username: Some("app".into()),
            password: Some(SecretString::new("wrong-pw")),
            ..RedisConfig::from_host(server.host(), server.port())
        }),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("password"), "{message}");
    assert!(
        !message.contains("wrong-pw"),
        "the password leaked: {message}"
    );

    // No password at all: the server says NOAUTH to the first command.
    let message = fails(
        &config(RedisConfig::from_host(server.host(), server.port())),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("password"), "{message}");
}

#[tokio::test]
async fn missing_password_file_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-password");
    let message = fails(
        &config(RedisConfig {
            password_file: Some(missing.clone()),
            ..RedisConfig::from_host("127.0.0.1", closed_port())
        }),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("password_file"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn database_out_of_range_is_a_config_error() {
    let server = require(RedisServer::start());
    let message = fails(
        &config(RedisConfig {
            database_index: Some(99),
            ..RedisConfig::from_host(server.host(), server.port())
        }),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("database"), "{message}");
}

fn tls_to(server: &TlsRedisServer, tls: TlsConfig) -> RedisConfig {
    config(RedisConfig {
        tls: Some(tls),
        ..RedisConfig::from_host(server.host(), server.port())
    })
}

#[tokio::test]
async fn tls_name_mismatch_is_a_config_error() {
    let server = require(TlsRedisServer::start());
    let message = fails(
        &tls_to(
            &server,
            TlsConfig {
                server_name: Some("wrong.example".into()),
                ca_certificates_file: Some(server.files().ca.clone()),
                ..TlsConfig::default()
            },
        ),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("TLS handshake failed"), "{message}");
    assert!(message.contains("server_name"), "{message}");
}

#[tokio::test]
async fn tls_certificate_from_another_ca_is_a_config_error() {
    let server = require(TlsRedisServer::start());
    let other = require(TlsMaterial::generate());
    let message = fails(
        &tls_to(
            &server,
            TlsConfig {
                ca_certificates: Some(other.ca_pem),
                ..TlsConfig::default()
            },
        ),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("ca_certificates"), "{message}");
}

#[tokio::test]
async fn tls_without_the_required_client_certificate_is_a_config_error() {
    let server = require(TlsRedisServer::start_with(TlsRedisOptions {
        require_client_cert: true,
        ..TlsRedisOptions::default()
    }));
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        let message = fails(
            &tls_to(
                &server,
                TlsConfig {
                    ca_certificates_file: Some(server.files().ca.clone()),
                    minimum_version: Some(version),
                    maximum_version: Some(version),
                    ..TlsConfig::default()
                },
            ),
            ErrorKind::ConfigInvalid,
        )
        .await;
        assert!(message.contains("TLS"), "{version}: {message}");
    }
}

#[tokio::test]
async fn tls_and_plain_ports_mixed_up_fail_within_the_timeout() {
    let tls_server = require(TlsRedisServer::start());
    // Plain RESP to a TLS port: the server waits for a handshake that never comes, or
    // closes the connection.
    let plain_to_tls = config(RedisConfig::from_host(tls_server.host(), tls_server.port()));
    let started = Instant::now();
    let result = tokio::time::timeout(
        TIMEOUT * 2 + MARGIN,
        RedisConnection::connect(&plain_to_tls),
    )
    .await
    .expect("plain RESP to a TLS port hung");
    let err = result.expect_err("plain RESP to a TLS port connected");
    eprintln!("{:?}: {err}", started.elapsed());
    assert_ne!(err.kind(), ErrorKind::NotFound);

    // A TLS handshake with a plain server: redis-server takes the ClientHello for the
    // start of an inline command and waits for the rest.
    let plain = require(RedisServer::start());
    let message = fails(
        &config(RedisConfig::from_url(format!(
            "rediss://127.0.0.1:{}",
            plain.port()
        ))),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(message.contains("TLS handshake not answered"), "{message}");
}

#[tokio::test]
async fn sentinel_with_an_unknown_master_name_is_a_config_error() {
    let set = require(RedisSentinelSet::start());
    let addrs = set.sentinel_addrs();
    let message = fails(
        &config(RedisConfig {
            sentinel: Some(SentinelConfig {
                master_name: "no-such-master".into(),
                nodes: addrs
                    .iter()
                    .map(|a| NodeAddress::new(a.ip().to_string(), a.port()))
                    .collect(),
                ..SentinelConfig::default()
            }),
            ..RedisConfig::default()
        }),
        ErrorKind::ConfigInvalid,
    )
    .await;
    assert!(message.contains("no-such-master"), "{message}");
    assert!(message.contains("master_name"), "{message}");
}

#[tokio::test]
async fn sentinels_that_cannot_be_reached_are_unavailable() {
    let (a, b) = (closed_port(), silent_server());
    let message = fails(
        &config(RedisConfig::from_url(format!(
            "redis+sentinel://127.0.0.1:{a},127.0.0.1:{b}/mymaster"
        ))),
        ErrorKind::Unavailable,
    )
    .await;
    assert!(message.contains(&format!("127.0.0.1:{a}")), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{b}")), "{message}");

    // A plain Redis where a sentinel should be.
    let not_a_sentinel = require(RedisServer::start());
    fails(
        &config(RedisConfig::from_url(format!(
            "redis+sentinel://127.0.0.1:{}/mymaster",
            not_a_sentinel.port()
        ))),
        ErrorKind::Unavailable,
    )
    .await;
}

#[tokio::test]
async fn cluster_that_cannot_be_reached_fails_within_the_timeout() {
    let port = closed_port();
    fails(
        &config(RedisConfig {
            cluster: Some(ClusterConfig {
                nodes: vec![NodeAddress::new("127.0.0.1", port)],
            }),
            ..RedisConfig::default()
        }),
        ErrorKind::Unavailable,
    )
    .await;
    let silent = silent_server();
    fails(
        &config(RedisConfig::from_url(format!(
            "redis+cluster://127.0.0.1:{silent}"
        ))),
        ErrorKind::Unavailable,
    )
    .await;
}

#[tokio::test]
async fn cluster_settings_on_a_standalone_server_fail_clearly() {
    let server = require(RedisServer::start());
    let started = Instant::now();
    let result = tokio::time::timeout(
        TIMEOUT * 2 + MARGIN,
        RedisConnection::connect(&config(RedisConfig::from_url(format!(
            "redis+cluster://127.0.0.1:{}",
            server.port()
        )))),
    )
    .await
    .expect("cluster client on a standalone server hung");
    let err = result.expect_err("connected to a standalone server as a cluster");
    eprintln!("{:?}: {err}", started.elapsed());
}

#[test]
fn configs_from_serde_name_what_is_wrong() {
    let parse = |json: &str| serde_json::from_str::<RedisConfig>(json);
    let ok = parse(
        r#"{
            "sentinel": {
                "master_name": "m",
                "nodes": ["10.0.0.1:26379", {"host": "10.0.0.2"}, "[::1]:26380"],
                "password": "p"
            },
            "tls": {"minimum_version": "TLS1.3", "ca_certificates_file": "/etc/ca.pem"},
            "timeout": 2000,
            "response_timeout": 500,
            "connections": 4
        }"#,
    )
    .expect("a valid config");
    assert_eq!(ok.effective_connect_timeout(), Duration::from_secs(2));
    assert_eq!(ok.effective_response_timeout(), Duration::from_millis(500));
    let sentinel = ok.sentinel.as_ref().expect("sentinel");
    assert_eq!(sentinel.nodes[1].port, None);
    assert_eq!(sentinel.nodes[2], NodeAddress::new("::1", 26380));
    assert_eq!(
        ok.tls.as_ref().and_then(|t| t.minimum_version),
        Some(TlsVersion::Tls13)
    );
    assert!(!format!("{ok:?}").contains("\"p\""));

    for (json, expected) in [
        (
            r#"{"host": "h", "route_by_latency": true}"#,
            "route_by_latency",
        ),
        (r#"{"tls": {"minimum_version": "TLS1.1"}}"#, "TLS1.1"),
        (r#"{"tls": {"skip_verify": true}}"#, "skip_verify"),
        (r#"{"sentinel": {"nodes": ["h:notaport"]}}"#, "not a port"),
        (
            r#"{"sentinel": {"nodes": [{"host": "h", "weight": 1}]}}"#,
            "weight",
        ),
        (r#"{"port": 70000}"#, "70000"),
    ] {
        let err = parse(json).map(|_| ()).expect_err(json);
        assert!(err.to_string().contains(expected), "{json}: {err}");
    }
}
