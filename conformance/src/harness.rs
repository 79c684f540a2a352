//! What a backend author implements to run the suite.

use async_trait::async_trait;
use authstate_core::{Contract, Namespace, Result, StoreConfig, Stores};

/// One stored byte string, as a raw dump shows it: a key and its value (a row, a Redis
/// key and value, an LDAP entry's DN and attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The storage key (table and primary key, Redis key, DN).
    pub key: Vec<u8>,
    /// Everything stored under it.
    pub value: Vec<u8>,
}

/// How the suite reaches a backend.
///
/// The suite calls [`Harness::open`] with a fresh [`Namespace`] for every case, with its
/// own manual clock and codec in the [`StoreConfig`]. The optional methods serve the
/// at-rest and durability cases: the at-rest cases fail without [`Harness::dump`] and
/// [`Harness::tamper`] (secrecy at rest is promised by every backend), while the
/// durability cases check a harness without [`Harness::reopen`] against
/// [`authstate_core::Capabilities::durable`] instead.
///
/// The harness is created inside each test's Tokio runtime, so it may hold connections;
/// a server process shared by many tests should live in a `static` of the test binary.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// Opens all nine stores with `config`. Called more than once with the same config,
    /// it must give independent "nodes" (separate connections) over the same data.
    async fn open(&self, config: StoreConfig) -> Result<Stores>;

    /// Closes what was opened and opens the same data again, as after a server restart
    /// (the durability cases). `Ok(None)` when the backend cannot.
    async fn reopen(&self, config: StoreConfig) -> Result<Option<Stores>> {
        let _ = config;
        Ok(None)
    }

    /// Every byte string stored for `namespace` (the at-rest cases look for raw secrets
    /// in it). `Ok(None)` when the harness cannot dump.
    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let _ = namespace;
        Ok(None)
    }

    /// Flips one byte in the sealed payload of every stored record of `contract` in
    /// `namespace` and returns how many it altered (the tamper cases). `Ok(None)` when
    /// the harness cannot.
    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        let _ = (namespace, contract);
        Ok(None)
    }
}
