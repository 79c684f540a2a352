//! Provider selection: the external variable wins; without it a server is started.

use std::net::ToSocketAddrs;

use authstate_testkit::redis::ping_probe;
use authstate_testkit::{Origin, ServerKind, Slapd, TestkitError, redis_with, require};

#[test]
fn external_url_is_used_as_is_and_nothing_starts() {
    let lookup = |name: &str| {
        (name == "AUTHSTATE_TEST_REDIS_URL").then(|| " redis://redis.example:6390/2 ".to_owned())
    };
    let server = require(redis_with(lookup));
    assert_eq!(server.origin(), Origin::External);
    assert_eq!(server.url(), "redis://redis.example:6390/2");
    assert!(server.native().is_none());
}

#[test]
fn external_url_with_the_wrong_scheme_is_an_error() {
    let lookup =
        |name: &str| (name == ServerKind::Redis.env_var()).then(|| "localhost:6379".to_owned());
    let err = redis_with(lookup).expect_err("no scheme");
    assert!(
        matches!(err, TestkitError::BadExternalUrl { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("AUTHSTATE_TEST_REDIS_URL"),
        "{err}"
    );
}

#[test]
fn without_the_variable_a_server_is_started() {
    let server = require(redis_with(|_| None));
    assert_ne!(server.origin(), Origin::External);
    let host_port = server.url().strip_prefix("redis://").expect("redis:// URL");
    let addr = host_port
        .to_socket_addrs()
        .expect("resolvable")
        .next()
        .expect("an address");
    ping_probe(addr).expect("the provided server answers PING");
}

#[test]
fn slapd_starts_and_answers() {
    // A missing slapd is a failing test that says what to install, never a skip.
    let slapd = require(Slapd::start());
    assert_eq!(slapd.url(), format!("ldap://127.0.0.1:{}", slapd.port()));
    assert_eq!(slapd.admin_dn(), "cn=admin,dc=authstate,dc=test");
}
