//! Connections: a small pool of bound ldap3 connections, TLS from the config, and
//! reconnection when one is lost.
//!
//! An ldap3 [`Ldap`] handle is `Clone`, but every clone multiplexes its operations over
//! the same socket. The pool keeps `pool_size` separate connections and hands them out
//! round-robin, so concurrent operations spread over several sockets (and several slapd
//! connection threads) instead of queueing on one. A connection found closed is
//! re-established (and re-bound) by the next caller that draws it.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use authstate_core::{Error, Result};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Mutex;

use crate::BACKEND_NAME;
use crate::config::{Bind, LdapConfig};
use crate::error::{self, RC_SUCCESS};

/// `pool_size` bound connections, plus one reserved for paged searches.
pub(crate) struct Pool {
    config: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    slots: Vec<Mutex<Option<Ldap>>>,
    next: AtomicUsize,
    /// LDAP operations sent by the stores (not binds or connect-time checks).
    operations: AtomicU64,
    /// slapd keeps one paged-results state per connection, so paged searches (purge)
    /// get a connection of their own and take turns on it.
    paged: Mutex<Option<Ldap>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.config.url)
            .field("size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Opens and binds every connection, so a wrong URL, certificate or password is an
    /// error here rather than on the first store operation.
    pub(crate) async fn connect(config: LdapConfig) -> Result<Pool> {
        config.validate()?;
        let tls = tls_config(&config)?;
        let mut slots = Vec::with_capacity(config.pool_size);
        let pool = Pool {
            slots: Vec::new(),
            next: AtomicUsize::new(0),
            operations: AtomicU64::new(0),
            paged: Mutex::new(None),
            tls,
            config,
        };
        for _ in 0..pool.config.pool_size {
            slots.push(Mutex::new(Some(pool.open_one().await?)));
        }
        Ok(Pool { slots, ..pool })
    }

    /// A handle on the next connection, reconnecting it if it was lost. The handle
    /// carries the operation timeout.
    pub(crate) async fn get(&self) -> Result<Ldap> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let Some(slot) = self.slots.get(i) else {
            return Err(Error::unexpected(
                BACKEND_NAME,
                "the connection pool is empty",
            ));
        };
        self.checkout(slot).await
    }

    /// The connection reserved for paged searches, held until the guard drops.
    pub(crate) async fn paged(&self) -> Result<PagedConn<'_>> {
        let mut guard = self.paged.lock().await;
        let open = guard.as_mut().is_some_and(|ldap| !ldap.is_closed());
        let ldap = match guard.as_ref() {
            Some(ldap) if open => ldap.clone(),
            _ => {
                let ldap = self.open_one().await?;
                *guard = Some(ldap.clone());
                ldap
            }
        };
        Ok(PagedConn {
            _guard: guard,
            ldap,
        })
    }

    /// Counts one LDAP operation sent for a store.
    pub(crate) fn count_operation(&self) {
        self.operations.fetch_add(1, Ordering::Relaxed);
    }

    /// LDAP operations sent for the stores so far.
    pub(crate) fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// The operation timeout every handle gets.
    pub(crate) fn operation_timeout(&self) -> std::time::Duration {
        self.config.operation_timeout
    }

    async fn checkout(&self, slot: &Mutex<Option<Ldap>>) -> Result<Ldap> {
        // The slot's lock is held only to clone the handle, or while reconnecting:
        // callers drawing a lost connection wait for one reconnect instead of each
        // opening their own.
        let mut guard = slot.lock().await;
        if let Some(ldap) = guard.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        *guard = None;
        let ldap = self.open_one().await?;
        *guard = Some(ldap.clone());
        Ok(ldap)
    }

    /// Connects, spawns the connection's driver on the current runtime, and binds.
    async fn open_one(&self) -> Result<Ldap> {
        let config = &self.config;
        let mut settings = LdapConnSettings::new().set_conn_timeout(config.connect_timeout);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        if config.tls.start_tls {
            settings = settings.set_starttls(true);
        }
        let url = &config.url;
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .map_err(|e| error::transport(&format!("connecting to {url}"), e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "an LDAP connection ended");
            }
        });
        let bound = match &config.bind {
            Bind::Anonymous => return Ok(ldap),
            Bind::Simple { dn, password } => {
                ldap.with_timeout(config.connect_timeout)
                    .simple_bind(dn, password.expose())
                    .await
            }
            Bind::SaslExternal => {
                ldap.with_timeout(config.connect_timeout)
                    .sasl_external_bind()
                    .await
            }
        };
        let who = match &config.bind {
            Bind::Simple { dn, .. } => format!("binding to {url} as {dn}"),
            _ => format!("binding to {url} with SASL EXTERNAL"),
        };
        let res = bound.map_err(|e| error::transport(&who, e))?;
        if res.rc != RC_SUCCESS {
            return Err(error::result(&who, &res));
        }
        Ok(ldap)
    }
}

/// The paged-search connection, exclusive while this lives.
pub(crate) struct PagedConn<'a> {
    _guard: tokio::sync::MutexGuard<'a, Option<Ldap>>,
    pub(crate) ldap: Ldap,
}

/// The rustls client config for `ldaps://` and StartTLS, with ring as the crypto
/// provider (ldap3 0.12 with rustls does not pick one by itself), or `None` for plain
/// connections.
fn tls_config(config: &LdapConfig) -> Result<Option<Arc<rustls::ClientConfig>>> {
    let scheme = config.scheme();
    if scheme != "ldaps" && !config.tls.start_tls {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    match &config.tls.ca_file {
        Some(path) => {
            let pem = fs::read(path).map_err(|e| {
                Error::config(
                    BACKEND_NAME,
                    format!("tls.ca_file {}: cannot read it: {e}", path.display()),
                )
            })?;
            let certs = read_certs(&pem, "tls.ca_file", path)?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Error::config(
                        BACKEND_NAME,
                        format!(
                            "tls.ca_file {}: a certificate is invalid: {e}",
                            path.display()
                        ),
                    )
                })?;
            }
        }
        None => {
            let native = rustls_native_roots();
            roots.add_parsable_certificates(native);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(BACKEND_NAME, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots);
    let client = match &config.tls.client_cert {
        None => builder.with_no_client_auth(),
        Some(cc) => {
            let pem = fs::read(&cc.cert_file).map_err(|e| {
                Error::config(
                    BACKEND_NAME,
                    format!(
                        "tls client cert_file {}: cannot read it: {e}",
                        cc.cert_file.display()
                    ),
                )
            })?;
            let chain = read_certs(&pem, "tls client cert_file", &cc.cert_file)?;
            let key = read_key(&cc.key_file)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::config(
                    BACKEND_NAME,
                    format!(
                        "tls client certificate {} and key {} do not form a usable pair: {e}",
                        cc.cert_file.display(),
                        cc.key_file.display()
                    ),
                )
            })?
        }
    };
    Ok(Some(Arc::new(client)))
}

/// The operating system's trust roots, when no CA file is configured. No roots is not
/// an error here: the handshake then fails with a message naming the certificate.
fn rustls_native_roots() -> Vec<CertificateDer<'static>> {
    // Debian keeps the bundle here; other systems should configure tls.ca_file.
    const BUNDLES: [&str; 2] = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ];
    for path in BUNDLES {
        if let Ok(pem) = fs::read(path) {
            let mut reader = pem.as_slice();
            return rustls_pemfile::certs(&mut reader)
                .filter_map(std::result::Result::ok)
                .collect();
        }
    }
    Vec::new()
}

fn read_certs(
    pem: &[u8],
    what: &str,
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>> {
    let mut reader = pem;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::config(
                BACKEND_NAME,
                format!("{what} {}: not PEM certificates: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::config(
            BACKEND_NAME,
            format!("{what} {}: no certificate in the file", path.display()),
        ));
    }
    Ok(certs)
}

fn read_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>> {
    let pem = fs::read(path).map_err(|e| {
        Error::config(
            BACKEND_NAME,
            format!(
                "tls client key_file {}: cannot read it: {e}",
                path.display()
            ),
        )
    })?;
    let mut reader = pem.as_slice();
    // The key itself never goes into a message, only the file's name.
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(Error::config(
            BACKEND_NAME,
            format!(
                "tls client key_file {}: no private key in the file",
                path.display()
            ),
        )),
        Err(_) => Err(Error::config(
            BACKEND_NAME,
            format!(
                "tls client key_file {}: not a PEM private key",
                path.display()
            ),
        )),
    }
}
