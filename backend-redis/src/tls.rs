//! TLS with rustls and ring: the client configuration built from [`TlsConfig`], and the
//! handshake over a TCP stream.
//!
//! redis 1.8.1 builds its own `rustls::ClientConfig` for `rediss://` connections, with the
//! default protocol versions and the host connected to as the certificate name; it takes
//! only PEM certificates and a key from outside (`TlsCertificates`). That is not enough for
//! `minimum_version`/`maximum_version` or a `server_name` that differs from the host, so
//! standalone and Sentinel connections do the handshake here and hand the encrypted stream
//! to `MultiplexedConnection::new_with_config`. The cluster client cannot take a stream,
//! so Cluster gets only what `TlsCertificates` carries (see `check_cluster_tls` in the
//! config module).

use std::fmt;
use std::io;
use std::sync::Arc;

use authstate_core::{Result, SecretBytes};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{TlsConfig, TlsVersion, invalid, read_secret_file};

/// TLS settings checked and loaded: a rustls client configuration plus what the cluster
/// client needs in PEM form.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    client_config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    insecure: bool,
    /// `tls` or `sentinel.tls`, for messages.
    field: &'static str,
    ca_pem: Option<Vec<u8>>,
    client_pem: Option<(Vec<u8>, SecretBytes)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("field", &self.field)
            .field("server_name", &self.server_name)
            .field("insecure", &self.insecure)
            .field("client_certificate", &self.client_pem.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Checks `config` (named `field` in errors) and loads its files.
    pub(crate) fn load(config: &TlsConfig, field: &'static str) -> Result<Self> {
        let ca_pem = pem_source(
            field,
            "ca_certificates",
            config.ca_certificates.as_deref().map(str::as_bytes),
            config.ca_certificates_file.as_deref(),
        )?;
        let chain_pem = pem_source(
            field,
            "certificate_chain",
            config.certificate_chain.as_deref().map(str::as_bytes),
            config.certificate_chain_file.as_deref(),
        )?;
        let key_pem = match (&config.private_key, &config.private_key_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &format!("{field}.private_key_file"),
                    format!(
                        "{field}.private_key and {field}.private_key_file are alternatives: set one of them"
                    ),
                ));
            }
            (Some(key), None) => Some(SecretBytes::new(key.expose().as_bytes().to_vec())),
            (None, Some(path)) => {
                let key = read_secret_file(&format!("{field}.private_key_file"), path)?;
                Some(SecretBytes::new(key.expose().as_bytes().to_vec()))
            }
            (None, None) => None,
        };

        let minimum = config.minimum_version.unwrap_or(TlsVersion::Tls12);
        let maximum = config.maximum_version.unwrap_or(TlsVersion::Tls13);
        if minimum > maximum {
            return Err(invalid(
                &format!("{field}.minimum_version"),
                format!("{minimum} is above {field}.maximum_version {maximum}"),
            ));
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
            (TlsVersion::Tls12, &rustls::version::TLS12),
            (TlsVersion::Tls13, &rustls::version::TLS13),
        ]
        .into_iter()
        .filter(|(v, _)| (minimum..=maximum).contains(v))
        .map(|(_, version)| version)
        .collect();

        if config.insecure_skip_verify && ca_pem.is_some() {
            return Err(invalid(
                &format!("{field}.insecure_skip_verify"),
                format!(
                    "skips the certificate check, so {field}.ca_certificates would be ignored: remove one of them"
                ),
            ));
        }

        let server_name = config
            .server_name
            .as_deref()
            .map(|name| {
                ServerName::try_from(name.to_owned()).map_err(|_| {
                    invalid(
                        &format!("{field}.server_name"),
                        format!("{name:?} is not a DNS name or IP address"),
                    )
                })
            })
            .transpose()?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| invalid(&format!("{field}.minimum_version"), e))?;

        let builder = if config.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
        } else {
            builder.with_root_certificates(root_store(field, ca_pem.as_deref())?)
        };

        let client_certificate = match (chain_pem, key_pem) {
            (Some(chain), Some(key)) => Some((chain, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    &format!("{field}.certificate_chain"),
                    format!("is set without {field}.private_key (or private_key_file)"),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    &format!("{field}.private_key"),
                    format!("is set without {field}.certificate_chain (or certificate_chain_file)"),
                ));
            }
        };
        let client_config = match &client_certificate {
            Some((chain, key)) => {
                let certs = parse_certificates(&format!("{field}.certificate_chain"), chain)?;
                let key = PrivateKeyDer::from_pem_slice(key.expose()).map_err(|e| {
                    invalid(
                        &format!("{field}.private_key"),
                        format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
                    )
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| invalid(&format!("{field}.private_key"), e))?
            }
            None => builder.with_no_client_auth(),
        };

        Ok(TlsSettings {
            client_config: Arc::new(client_config),
            server_name,
            insecure: config.insecure_skip_verify,
            field,
            ca_pem,
            client_pem: client_certificate,
        })
    }

    /// Logs, on every connect, that certificates are not checked.
    pub(crate) fn warn_if_insecure(&self, address: &str) {
        if self.insecure {
            tracing::warn!(
                backend = crate::BACKEND_NAME,
                address,
                setting = %format_args!("{}.insecure_skip_verify", self.field),
                "TLS certificate verification is OFF for this connection: anyone on the path \
                 can read and change the traffic; use this only in tests"
            );
        }
    }

    /// Runs the TLS handshake over `stream` to `host`, checking the certificate against
    /// `server_name` when one is configured, else against `host`.
    pub(crate) async fn handshake(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> io::Result<TlsStream<TcpStream>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.to_owned()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{host:?} cannot be checked against a certificate: set {}.server_name",
                        self.field
                    ),
                )
            })?,
        };
        TlsConnector::from(self.client_config.clone())
            .connect(name, stream)
            .await
    }

    /// The same material in the form redis' own TLS code (used by the cluster client)
    /// takes.
    pub(crate) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client_pem
                .as_ref()
                .map(|(chain, key)| redis::ClientTlsConfig {
                    client_cert: chain.clone(),
                    client_key: key.expose().to_vec(),
                }),
            root_cert: self.ca_pem.clone(),
        }
    }
}

/// Whether a handshake failed because of a certificate (a setting to fix, not a server
/// to wait for), and a message saying what is wrong.
pub(crate) fn describe_handshake_error(error: &io::Error) -> Option<String> {
    let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    let hint = match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            ..
        }) => "; the certificate does not name this host: set tls.server_name to a name it carries",
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
        ) => "; set tls.ca_certificates(_file) to the CA that issued the server's certificate",
        rustls::Error::InvalidMessage(_) => {
            "; the server does not seem to speak TLS on this port (is tls set for a plain port?)"
        }
        rustls::Error::AlertReceived(_) => {
            "; the server refused the handshake (does it want a client certificate: tls.certificate_chain and tls.private_key?)"
        }
        _ => "",
    };
    match tls {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::AlertReceived(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::InvalidMessage(_)
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::PeerMisbehaved(_) => Some(format!("{tls}{hint}")),
        _ => None,
    }
}

fn pem_source(
    field: &str,
    name: &str,
    inline: Option<&[u8]>,
    file: Option<&std::path::Path>,
) -> Result<Option<Vec<u8>>> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            &format!("{field}.{name}_file"),
            format!("{field}.{name} and {field}.{name}_file are alternatives: set one of them"),
        )),
        (Some(pem), None) => Ok(Some(pem.to_vec())),
        (None, Some(path)) => std::fs::read(path).map(Some).map_err(|e| {
            invalid(
                &format!("{field}.{name}_file"),
                format!("cannot read the file {}: {e}", path.display()),
            )
        }),
        (None, None) => Ok(None),
    }
}

fn parse_certificates(field: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(field, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(field, "holds no PEM CERTIFICATE block"));
    }
    Ok(certs)
}

fn root_store(field: &str, ca_pem: Option<&[u8]>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let name = format!("{field}.ca_certificates");
            for cert in parse_certificates(&name, pem)? {
                store.add(cert).map_err(|e| {
                    invalid(&name, format!("holds an unusable CA certificate: {e}"))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system store may hold certificates webpki cannot use; skipping them is
                // what every rustls client does.
                let _ = store.add(cert);
            }
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(invalid(
                    &format!("{field}.ca_certificates"),
                    format!(
                        "is not set and no system CA certificates were found{why}: set {field}.ca_certificates_file"
                    ),
                ));
            }
        }
    }
    Ok(store)
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signatures are
/// still checked, so the connection is at least bound to the key the server presented.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
