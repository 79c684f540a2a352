//! The whole conformance suite against a real OpenLDAP slapd (authstate schema, `dds`),
//! with every optional write path on: dds dynamic objects and the GeneralizedTime
//! copies of expiry and last activity.
//!
//! Every test gets its own slapd, owned by its harness and stopped when the test ends:
//! a server kept in a `static` would never be dropped, so it would outlive the test
//! process (under nextest, one process per test, that is one orphan per test). Each
//! `open` connects a new pool (a new node), migrates the namespace and opens the
//! stores; `reopen` kills slapd, starts it again on the same data directory and
//! connects anew.
//!
//! `cargo nextest run -p authstate-backend-ldap --test conformance_slapd`

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use authstate_backend_ldap::{Bind, LdapBackend, LdapConfig, ServerTtl};
use authstate_conformance::{Harness, RawEntry, conformance_tests};
use authstate_core::{Contract, Error, Namespace, Result, SecretString, StoreConfig, Stores};
use authstate_testkit::{Slapd, SlapdOptions, require};

struct SlapdHarness {
    // A std mutex: it is held only to read the URL, or while slapd restarts (a blocking
    // wait, run under `block_in_place`), never across an await.
    server: Mutex<Slapd>,
}

impl SlapdHarness {
    fn config(&self) -> Result<LdapConfig> {
        let server = self
            .server
            .lock()
            .map_err(|_| Error::unexpected("test", "the slapd lock is poisoned"))?;
        Ok(LdapConfig {
            bind: Bind::Simple {
                dn: server.admin_dn(),
                password: SecretString::new(server.admin_password()),
            },
            server_ttl: ServerTtl::dds(Duration::from_secs(86_400)),
            // The GeneralizedTime copies are written too, so the suite covers them.
            time_attributes: true,
            ..LdapConfig::new(server.url(), server.suffix())
        })
    }

    async fn backend(&self) -> Result<LdapBackend> {
        LdapBackend::connect(self.config()?).await
    }
}

#[async_trait]
impl Harness for SlapdHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let backend = self.backend().await?;
        backend.migrate(&config.namespace).await?;
        backend.open(config).await
    }

    async fn reopen(&self, config: StoreConfig) -> Result<Option<Stores>> {
        tokio::task::block_in_place(|| {
            let mut server = self
                .server
                .lock()
                .map_err(|_| Error::unexpected("test", "the slapd lock is poisoned"))?;
            server
                .restart()
                .map_err(|e| Error::unavailable("test", format!("restarting slapd: {e}")))
        })?;
        let backend = self.backend().await?;
        backend.open(config).await.map(Some)
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let entries = self.backend().await?.dump(namespace).await?;
        Ok(Some(
            entries
                .into_iter()
                .map(|e| RawEntry {
                    key: e.key,
                    value: e.value,
                })
                .collect(),
        ))
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        let altered = self.backend().await?.tamper(namespace, contract).await?;
        Ok(Some(altered))
    }
}

async fn harness() -> SlapdHarness {
    let server =
        tokio::task::block_in_place(|| require(Slapd::start_with(SlapdOptions::authstate())));
    SlapdHarness {
        server: Mutex::new(server),
    }
}

conformance_tests!(harness);
