//! Server-side removal with OpenLDAP's `dds` overlay, in real time: a short-lived record
//! is added as a dynamic object, its entryTtl is shortened by the refresh extended
//! operation, and slapd deletes it by itself (the preset checks every 10 s). Records
//! whose life exceeds the server's maximum TTL, or whose expiry can move, stay static.

use std::time::{Duration, Instant};

use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig, ServerTtl};
use authstate_core::{NewSession, SecretString, StoreConfig, Take};
use authstate_testkit::{Slapd, SlapdOptions, require};

fn dds_config(server: &Slapd) -> LdapConfig {
    LdapConfig {
        bind: Bind::Simple {
            dn: server.admin_dn(),
            password: SecretString::new(server.admin_password()),
        },
        server_ttl: ServerTtl::Dds {
            max_ttl: Duration::from_secs(86_400),
            tolerance: Duration::from_secs(1),
        },
        ..LdapConfig::new(server.url(), server.suffix())
    }
}

/// The object classes of every entry whose DN contains `container`, from a dump.
fn classes(dump: &[authstate_backend_ldap::RawEntry], container: &str) -> Vec<String> {
    dump.iter()
        .filter(|e| {
            let dn = String::from_utf8_lossy(&e.key);
            dn.contains(container) && dn.starts_with("authstateKey=")
        })
        .flat_map(|e| {
            String::from_utf8_lossy(&e.value)
                .lines()
                .filter_map(|l| l.strip_prefix("objectclass: ").map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_removes_expired_dynamic_entries_by_itself() {
    let server = require(Slapd::start_with(SlapdOptions::authstate()));
    let backend = LdapBackend::connect(dds_config(&server))
        .await
        .expect("connects");
    assert!(backend.capabilities().server_side_ttl);
    let namespace = authstate_core::Namespace::random().expect("namespace");
    backend.migrate(&namespace).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(namespace.clone()))
        .await
        .expect("opens");

    stores
        .artifacts
        .put("short-code", b"p".to_vec(), Duration::from_secs(2))
        .await
        .expect("put");
    // Longer than dds-max-ttl (1 day): never a dynamic object.
    stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: b"d".to_vec(),
            lifetime: Duration::from_secs(3 * 86_400),
            idle_timeout: None,
        })
        .await
        .expect("session");
    // State values can be rewritten with a later expiry: never dynamic either.
    stores
        .state
        .put("state", b"v".to_vec(), Duration::from_secs(2))
        .await
        .expect("state");

    let dump = backend.dump(&namespace).await.expect("dump");
    assert!(
        classes(&dump, "ou=artifact").contains(&"dynamicObject".to_owned()),
        "{:?}",
        classes(&dump, "ou=artifact")
    );
    assert!(!classes(&dump, "ou=session").contains(&"dynamicObject".to_owned()));
    assert!(!classes(&dump, "ou=state").contains(&"dynamicObject".to_owned()));

    // Within 2 s the store's clock says the artifact is gone, purge or not.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        stores.artifacts.take("short-code").await.expect("take"),
        Take::Unknown
    );
    // And slapd removes the entry by itself: TTL 2 s + 1 s tolerance, checked every 10 s.
    let started = Instant::now();
    loop {
        let dump = backend.dump(&namespace).await.expect("dump");
        if classes(&dump, "ou=artifact").is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "slapd did not remove the expired dynamic entry"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The static ones are still there, for purge to find.
    let dump = backend.dump(&namespace).await.expect("dump");
    assert!(!classes(&dump, "ou=session").is_empty());
    assert!(!classes(&dump, "ou=state").is_empty());
}
