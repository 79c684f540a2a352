//! `time_attributes`: the GeneralizedTime copies of expiry and last activity that PingDS
//! TTL indexes and PingDirectory's purge plugins remove entries by. They must follow
//! every write that moves the expiry, and never appear where the server must not
//! remove an entry by date (lockout counters, the revocation feed).

use std::sync::Arc;
use std::time::Duration;

use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig, RawEntry};
use authstate_core::{
    LockoutPolicy, ManualClock, Namespace, NewSession, SecretString, StoreConfig, Timestamp,
};
use authstate_testkit::{Slapd, SlapdOptions, require};

/// The values of `attr` in the entries under `container`.
fn values(dump: &[RawEntry], container: &str, attr: &str) -> Vec<String> {
    let prefix = format!("{}: ", attr.to_ascii_lowercase());
    dump.iter()
        .filter(|e| String::from_utf8_lossy(&e.key).contains(&format!("ou={container},")))
        .flat_map(|e| {
            String::from_utf8_lossy(&e.value)
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn time_attributes_follow_expiry_and_activity() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    let config = LdapConfig {
        bind: Bind::Simple {
            dn: server.admin_dn(),
            password: SecretString::new(server.admin_password()),
        },
        time_attributes: true,
        ..LdapConfig::new(server.url(), server.suffix())
    };
    let backend = LdapBackend::connect(config).await.expect("connects");
    let namespace = Namespace::random().expect("namespace");
    backend.migrate(&namespace).await.expect("migrates");
    // 2030-01-01T00:00:00Z.
    let clock = ManualClock::new(Timestamp::from_millis(1_893_456_000_000));
    let stores = backend
        .open(StoreConfig::new(namespace.clone()).with_clock(Arc::new(clock.clone())))
        .await
        .expect("opens");

    let session = stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: b"d".to_vec(),
            lifetime: Duration::from_secs(3600),
            idle_timeout: Some(Duration::from_secs(600)),
        })
        .await
        .expect("create");
    stores
        .artifacts
        .put("code", b"p".to_vec(), Duration::from_secs(90))
        .await
        .expect("put");
    let policy = LockoutPolicy::default();
    stores
        .lockout
        .record_failure("jdoe", &policy)
        .await
        .expect("failure");
    stores
        .revocations
        .revoke("sri", Timestamp::from_millis(1_893_459_600_000))
        .await
        .expect("revoke");

    let dump = backend.dump(&namespace).await.expect("dump");
    // Idle end (10 minutes) comes before the absolute end.
    assert_eq!(
        values(&dump, "session", "authstateExpiryTime"),
        vec!["20300101001000.000Z"]
    );
    assert_eq!(
        values(&dump, "session", "authstateLastActivityTime"),
        vec!["20300101000000.000Z"]
    );
    assert_eq!(
        values(&dump, "artifact", "authstateExpiryTime"),
        vec!["20300101000130.000Z"]
    );
    assert!(values(&dump, "lockout", "authstateExpiryTime").is_empty());
    // The SRI record has one; the feed entry and the feed counter do not.
    assert_eq!(
        values(&dump, "revocation", "authstateExpiryTime"),
        vec!["20300101010000.000Z"]
    );

    // A touch 5 minutes later slides both.
    clock.advance(Duration::from_secs(300));
    stores
        .sessions
        .touch(&session.id)
        .await
        .expect("touch")
        .expect("live");
    let dump = backend.dump(&namespace).await.expect("dump");
    assert_eq!(
        values(&dump, "session", "authstateExpiryTime"),
        vec!["20300101001500.000Z"]
    );
    assert_eq!(
        values(&dump, "session", "authstateLastActivityTime"),
        vec!["20300101000500.000Z"]
    );
}
