//! TLS against slapd: `ldaps://` and StartTLS with a private CA, a simple bind over TLS,
//! SASL EXTERNAL with a client certificate, and the errors for a server the client does
//! not trust.

use std::path::PathBuf;
use std::time::Duration;

use authstate_backend_ldap::{Bind, ClientCert, LdapBackend, LdapConfig, TlsOptions};
use authstate_core::{ErrorKind, Namespace, SecretString, StoreConfig, Take};
use authstate_testkit::{Slapd, SlapdOptions, SlapdTls, require};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The subject of the client certificate; slapd maps it to the root DN for EXTERNAL.
const CLIENT_CN: &str = "authstate-ldap-client";

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "authstate ldap test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |cn: &str, server: bool| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(if server {
            vec!["localhost".to_owned()]
        } else {
            Vec::new()
        })
        .expect("params");
        if server {
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca_cert.pem(),
        server: leaf("localhost", true),
        client: leaf(CLIENT_CN, false),
    }
}

struct Setup {
    server: Slapd,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let pki = pki();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), &pki.ca).expect("write");
        std::fs::write(dir.path().join("client.pem"), &pki.client.0).expect("write");
        std::fs::write(dir.path().join("client.key"), &pki.client.1).expect("write");
        let options = SlapdOptions::authstate();
        let global_config = format!(
            "authz-regexp \"^cn={CLIENT_CN}$\" \"cn=admin,{}\"\n",
            options.suffix
        );
        let server = require(Slapd::start_with(SlapdOptions {
            tls: Some(SlapdTls {
                cert_pem: pki.server.0,
                key_pem: pki.server.1,
                ca_pem: pki.ca,
                request_client_cert: true,
            }),
            global_config,
            ..options
        }));
        Setup { server, dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn simple(&self, url: String, tls: TlsOptions) -> LdapConfig {
        LdapConfig {
            bind: Bind::Simple {
                dn: self.server.admin_dn(),
                password: SecretString::new(self.server.admin_password()),
            },
            tls,
            connect_timeout: Duration::from_secs(3),
            ..LdapConfig::new(url, self.server.suffix())
        }
    }

    fn trusted(&self) -> TlsOptions {
        TlsOptions {
            ca_file: Some(self.file("ca.pem")),
            ..TlsOptions::default()
        }
    }
}

/// Connects, migrates a namespace and runs a put and a take through it.
async fn works(config: LdapConfig) {
    let backend = LdapBackend::connect(config).await.expect("connects");
    let namespace = Namespace::random().expect("namespace");
    backend.migrate(&namespace).await.expect("migrates");
    let stores = backend
        .open(StoreConfig::new(namespace))
        .await
        .expect("opens");
    stores
        .artifacts
        .put("code", b"payload".to_vec(), Duration::from_secs(60))
        .await
        .expect("put");
    assert_eq!(
        stores.artifacts.take("code").await.expect("take"),
        Take::Fresh(b"payload".to_vec())
    );
}

#[tokio::test]
async fn ldaps_with_ca_and_simple_bind() {
    let setup = Setup::start();
    let url = setup.server.ldaps_url().expect("ldaps");
    works(setup.simple(url, setup.trusted())).await;
}

#[tokio::test]
async fn start_tls_with_ca_and_simple_bind() {
    let setup = Setup::start();
    let tls = TlsOptions {
        start_tls: true,
        ..setup.trusted()
    };
    works(setup.simple(setup.server.url(), tls)).await;
}

#[tokio::test]
async fn sasl_external_with_client_certificate() {
    let setup = Setup::start();
    let tls = TlsOptions {
        client_cert: Some(ClientCert {
            cert_file: setup.file("client.pem"),
            key_file: setup.file("client.key"),
        }),
        ..setup.trusted()
    };
    let config = LdapConfig {
        bind: Bind::SaslExternal,
        tls: tls.clone(),
        ..setup.simple(setup.server.ldaps_url().expect("ldaps"), tls)
    };
    works(config.clone()).await;
    // The same over StartTLS.
    let config = LdapConfig {
        url: setup.server.url(),
        tls: TlsOptions {
            start_tls: true,
            ..config.tls.clone()
        },
        ..config
    };
    works(config).await;
}

#[tokio::test]
async fn untrusted_server_certificate_is_unavailable_not_a_panic() {
    let setup = Setup::start();
    // No CA file: the system roots do not know the private CA.
    let config = setup.simple(
        setup.server.ldaps_url().expect("ldaps"),
        TlsOptions::default(),
    );
    let err = LdapBackend::connect(config).await.expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn unreadable_tls_files_are_config_invalid() {
    let setup = Setup::start();
    let url = setup.server.ldaps_url().expect("ldaps");
    let missing = TlsOptions {
        ca_file: Some(setup.file("no-such-ca.pem")),
        ..TlsOptions::default()
    };
    let err = LdapBackend::connect(setup.simple(url.clone(), missing))
        .await
        .expect_err("no CA file");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("tls.ca_file"), "{err}");
    // A certificate where the key should be: named, and the key file's content never shown.
    let swapped = TlsOptions {
        client_cert: Some(ClientCert {
            cert_file: setup.file("client.pem"),
            key_file: setup.file("client.pem"),
        }),
        ..setup.trusted()
    };
    let err = LdapBackend::connect(setup.simple(url, swapped))
        .await
        .expect_err("no key");
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
    assert!(err.to_string().contains("key_file"), "{err}");
}
