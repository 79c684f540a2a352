//! `LdapBackend::drop_namespace` deletes one namespace's subtree with every record in it
//! and nothing else: the dropped namespace dumps nothing, another namespace keeps its
//! records, stores still open on the dropped one fail with "run migrate", a second drop
//! is a no-op that says so, and a migrate starts the namespace afresh. A bind whose
//! searches the server cuts short (a size limit) still drops the whole subtree, round by
//! round.

use std::collections::HashSet;
use std::time::Duration;

use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig};
use authstate_core::{
    ErrorKind, Namespace, NewSession, SecretString, SessionId, StoreConfig, Stores,
};
use authstate_testkit::{Slapd, SlapdOptions, require};
use ldap3::{LdapConnAsync, Scope, SearchResult};

/// A writer that is not the root DN, so the server's size limit applies to it.
const WRITER: &str = "cn=writer,dc=authstate,dc=test";
const WRITER_PASSWORD: &str = "writer-secret";
/// The most entries one search returns to the writer: more than a namespace's nine
/// containers (which opening stores lists), fewer than the namespace of the size-limit
/// test holds, so its drop needs several rounds.
const WRITER_SIZE_LIMIT: usize = 10;

fn slapd() -> Slapd {
    let mut options = SlapdOptions::authstate();
    options.database_config.push_str(&format!(
        "access to * by dn.exact=\"{WRITER}\" manage by * read\n\
         limits dn.exact=\"{WRITER}\" size={WRITER_SIZE_LIMIT}\n"
    ));
    require(Slapd::start_with(options))
}

fn config(server: &Slapd, dn: String, password: &str) -> LdapConfig {
    LdapConfig {
        bind: Bind::Simple {
            dn,
            password: SecretString::new(password.to_owned()),
        },
        ..LdapConfig::new(server.url(), server.suffix())
    }
}

fn admin(server: &Slapd) -> LdapConfig {
    config(server, server.admin_dn(), server.admin_password())
}

/// A migrated namespace on `backend`, its stores, and one session in it.
async fn namespace_with_a_session(backend: &LdapBackend) -> (Namespace, Stores, SessionId) {
    let ns = Namespace::random().expect("namespace");
    backend.migrate(&ns).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(ns.clone()))
        .await
        .expect("opens");
    let session = stores
        .sessions
        .create(NewSession {
            subject: "alice".into(),
            data: b"kept until dropped".to_vec(),
            lifetime: Duration::from_secs(3600),
            idle_timeout: None,
        })
        .await
        .expect("creates");
    (ns, stores, session.id)
}

#[tokio::test]
async fn drops_one_namespace_and_nothing_else() {
    let server = slapd();
    let backend = LdapBackend::connect(admin(&server))
        .await
        .expect("connects");
    let (gone, gone_stores, gone_id) = namespace_with_a_session(&backend).await;
    let (kept, kept_stores, kept_id) = namespace_with_a_session(&backend).await;
    assert!(
        !backend.dump(&gone).await.expect("dumps").is_empty(),
        "a migrated namespace with a session dumps nothing: the check below would prove \
         nothing"
    );
    let kept_before = backend.dump(&kept).await.expect("dumps");

    assert!(backend.drop_namespace(&gone).await.expect("drops"));
    assert_eq!(backend.dump(&gone).await.expect("dumps"), Vec::new());

    // The other namespace is untouched.
    assert_eq!(backend.dump(&kept).await.expect("dumps"), kept_before);
    let record = kept_stores
        .sessions
        .get(&kept_id)
        .await
        .expect("reads")
        .expect("the other namespace's session is still there");
    assert_eq!(record.data, b"kept until dropped");

    // Stores still open on the dropped namespace fail closed, saying what to do.
    let err = gone_stores
        .sessions
        .get(&gone_id)
        .await
        .expect_err("a read of a dropped namespace fails");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("migrate"), "{err}");

    // A second drop finds nothing.
    assert!(!backend.drop_namespace(&gone).await.expect("drops again"));

    // A migrate starts the namespace afresh, and empty.
    backend.migrate(&gone).await.expect("migrates again");
    let reopened = backend
        .open(StoreConfig::new(gone.clone()))
        .await
        .expect("opens again");
    assert_eq!(
        reopened.sessions.get(&gone_id).await.expect("reads"),
        None,
        "a session outlived the drop of its namespace"
    );
}

#[tokio::test]
async fn drops_a_subtree_larger_than_the_size_limit() {
    let server = slapd();
    // The writer's entry, added by the root DN.
    let (conn, mut ldap) = LdapConnAsync::new(&server.url())
        .await
        .expect("raw connect");
    ldap3::drive!(conn);
    ldap.simple_bind(&server.admin_dn(), server.admin_password())
        .await
        .and_then(|r| r.success())
        .expect("root bind");
    ldap.add(
        WRITER,
        vec![
            ("objectClass", HashSet::from(["person"])),
            ("cn", HashSet::from(["writer"])),
            ("sn", HashSet::from(["writer"])),
            ("userPassword", HashSet::from([WRITER_PASSWORD])),
        ],
    )
    .await
    .and_then(|r| r.success())
    .expect("adds the writer");

    let backend = LdapBackend::connect(config(&server, WRITER.to_owned(), WRITER_PASSWORD))
        .await
        .expect("the writer connects");
    let (ns, stores, _id) = namespace_with_a_session(&backend).await;
    for i in 0..WRITER_SIZE_LIMIT {
        stores
            .sessions
            .create(NewSession {
                subject: format!("user-{i}"),
                data: vec![1; 16],
                lifetime: Duration::from_secs(3600),
                idle_timeout: None,
            })
            .await
            .expect("creates");
    }
    let dn = format!("ou={},{}", ns.as_str(), server.suffix());

    // The limit is real: the writer's search of the subtree comes back cut short.
    let (conn, mut writer) = LdapConnAsync::new(&server.url())
        .await
        .expect("raw connect");
    ldap3::drive!(conn);
    writer
        .simple_bind(WRITER, WRITER_PASSWORD)
        .await
        .and_then(|r| r.success())
        .expect("writer bind");
    let SearchResult(entries, res) = writer
        .search(&dn, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
        .await
        .expect("searches");
    assert_eq!(res.rc, 4, "sizeLimitExceeded: {res:?}");
    assert_eq!(entries.len(), WRITER_SIZE_LIMIT);

    assert!(backend.drop_namespace(&ns).await.expect("drops"));
    let SearchResult(left, res) = ldap
        .search(&dn, Scope::Subtree, "(objectClass=*)", vec!["1.1"])
        .await
        .expect("searches");
    assert_eq!(res.rc, 32, "noSuchObject: {res:?}, {} left", left.len());
}
