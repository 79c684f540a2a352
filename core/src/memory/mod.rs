//! The memory backend: the reference implementation of all nine contracts and the
//! embedded default.
//!
//! It keeps the same promises as a server backend and stores what a server would:
//! records under keyed hashes of their handles, sealed by the store's codec, with only
//! the metadata a server indexes (expiry, last activity, hashes of subjects and grants)
//! beside them. [`MemoryBackend::dump`] shows every stored byte string and
//! [`MemoryBackend::tamper`] corrupts sealed records, so the conformance suite's
//! at-rest checks mean the same here as against Redis or SQL.
//!
//! A [`MemoryBackend`] plays the server: every [`MemoryBackend::open`] is one "node",
//! and nodes opened in the same namespace see the same records (within this process;
//! nothing survives the process).
//!
//! ```
//! use authstate_core::{MemoryBackend, Namespace, StoreConfig};
//!
//! let backend = MemoryBackend::new();
//! let config = StoreConfig::new(Namespace::new("idp-prod").unwrap());
//! let node_a = backend.open(config.clone()).unwrap();
//! let node_b = backend.open(config).unwrap();
//! assert_eq!(node_a.backend, "memory");
//! assert!(node_b.capabilities.shared_across_nodes);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::capabilities::Capabilities;
use crate::codec::IndexKey;
use crate::config::StoreConfig;
use crate::contract::Contract;
use crate::contracts::Stores;
use crate::error::{Error, Result};
use crate::namespace::Namespace;

mod artifact;
mod keys;
mod lease;
mod lockout;
mod registry;
mod replay;
mod revocation;
mod session;
mod state;
mod table;
mod token;

#[cfg(test)]
mod tests;

use table::{Table, lock};

/// The backend name on every error raised here.
const BACKEND: &str = "memory";

/// One stored byte string, as [`MemoryBackend::dump`] returns it: a record or an index
/// entry, with its storage key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The storage key: the table or index name, `/`, and the hex of the keyed hash (or
    /// feed sequence number) the entry is stored under.
    pub key: Vec<u8>,
    /// The stored value: a sealed envelope for records, the concatenated member hashes
    /// for index entries.
    pub value: Vec<u8>,
}

/// The in-memory "server": holds the data of every namespace opened on it.
///
/// Clones share the same data, so a clone handed to another task is another client of
/// the same server. Nothing is durable: the data lives as long as the last clone.
#[derive(Clone, Default)]
pub struct MemoryBackend {
    // A `std::sync::Mutex` and not a Tokio mutex: no operation awaits while holding it,
    // so it is never held across a yield point and the cheaper lock is correct.
    spaces: Arc<Mutex<HashMap<Namespace, Arc<Space>>>>,
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The records are sealed anyway, but a debug print has no use for them.
        let namespaces = self.spaces.lock().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("MemoryBackend")
            .field("namespaces", &namespaces)
            .finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// A new, empty server.
    pub fn new() -> Self {
        Self::default()
    }

    /// What this backend can do: shared between nodes of this process, not durable, no
    /// server-side TTL (purge removes dead records; reads never return them anyway).
    pub fn capabilities() -> Capabilities {
        Capabilities {
            shared_across_nodes: true,
            ..Default::default()
        }
    }

    /// Opens all nine stores in `config.namespace`: one "node". Every node opened in
    /// the same namespace on this backend (or a clone of it) sees the same records;
    /// nodes in different namespaces never see each other's.
    ///
    /// Synchronous because there is nothing to connect to. Fails only if a thread
    /// panicked while holding the backend's lock.
    pub fn open(&self, config: StoreConfig) -> Result<Stores> {
        let space = self.space(&config.namespace)?;
        let node = Node { config, space };
        Ok(Stores {
            sessions: Arc::new(session::MemorySessionStore(node.clone())),
            artifacts: Arc::new(artifact::MemoryArtifactStore(node.clone())),
            state: Arc::new(state::MemoryStateStore(node.clone())),
            replay: Arc::new(replay::MemoryReplayCache(node.clone())),
            lockout: Arc::new(lockout::MemoryLockoutStore(node.clone())),
            keys: Arc::new(keys::MemoryKeyStore(node.clone())),
            revocations: Arc::new(revocation::MemoryRevocationStore(node.clone())),
            tokens: Arc::new(token::MemoryTokenStore(node.clone())),
            registry: Arc::new(registry::MemorySessionRegistry(node.clone())),
            lease: Arc::new(lease::MemorySweepLease(node)),
            capabilities: Self::capabilities(),
            backend: BACKEND,
        })
    }

    /// Every byte string stored in `namespace`: records (keyed hash → sealed envelope),
    /// index entries (keyed hash → member hashes) and sweep leases. Expired records not
    /// yet purged are included, as a server dump would include them.
    ///
    /// For the conformance suite's at-rest checks: no raw handle, id, token or subject
    /// may appear in it, and with a keyring no payload either. An unknown namespace
    /// dumps nothing. Each contract is read under its own lock, so the dump is not one
    /// atomic snapshot across contracts.
    pub fn dump(&self, namespace: &Namespace) -> Vec<RawEntry> {
        let mut out = Vec::new();
        if let Some(space) = self.existing_space(namespace) {
            space.dump(&mut out);
        }
        out
    }

    /// Flips one byte in the sealed envelope of every record of `contract` stored in
    /// `namespace`, expired or not; returns how many it altered.
    ///
    /// For the conformance suite's tamper checks: every later read of such a record
    /// must be [`crate::ErrorKind::Corrupt`]. In a sealed envelope the last byte (in the
    /// AEAD tag) is flipped, so the change is caught by authentication; in a plaintext
    /// envelope the format version byte is, since plaintext has no integrity check of
    /// its own.
    pub fn tamper(&self, namespace: &Namespace, contract: Contract) -> usize {
        match self.existing_space(namespace) {
            Some(space) => space.tamper(contract),
            None => 0,
        }
    }

    /// The namespace's data, created on first use.
    fn space(&self, namespace: &Namespace) -> Result<Arc<Space>> {
        let mut spaces = lock(&self.spaces)?;
        Ok(spaces.entry(namespace.clone()).or_default().clone())
    }

    /// The namespace's data, if it was ever opened. Test harness helpers keep working
    /// after a panic elsewhere, so a poisoned lock is read through here.
    fn existing_space(&self, namespace: &Namespace) -> Option<Arc<Space>> {
        let spaces = self
            .spaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        spaces.get(namespace).cloned()
    }
}

/// What one opened store holds: its configuration and its namespace's data.
#[derive(Debug, Clone)]
struct Node {
    config: StoreConfig,
    space: Arc<Space>,
}

impl Node {
    /// Seals `value` as the `contract` record stored under `key`.
    fn seal<T: Serialize>(&self, contract: Contract, key: &[u8], value: &T) -> Result<Vec<u8>> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .encode(&ad, value)
            .map_err(|e| from_codec(contract, e))
    }

    /// Opens the `contract` record stored under `key`. A record that does not open is
    /// `Corrupt`, never "absent".
    fn unseal<T: DeserializeOwned>(
        &self,
        contract: Contract,
        key: &[u8],
        blob: &[u8],
    ) -> Result<T> {
        let ad = self.config.ad(contract, key);
        self.config
            .codec
            .decode(&ad, blob)
            .map_err(|e| from_codec(contract, e))
    }
}

/// A codec error, re-raised under this backend's name with the original as source.
fn from_codec(contract: Contract, e: Error) -> Error {
    Error::new(
        e.kind(),
        BACKEND,
        format!("{contract} record: {}", e.message()),
    )
    .with_retryable(e.is_retryable())
    .with_source(e)
}

/// The bytes hashed for a pair of values (a subject and a client, a session reference
/// and a partner): the first value's length, then both. The length prefix keeps
/// `("ab", "c")` and `("a", "bc")` apart.
fn pair_bytes(first: &str, second: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + first.len() + second.len());
    out.extend_from_slice(&(first.len() as u64).to_be_bytes());
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(second.as_bytes());
    out
}

/// An [`IndexKey`] back from the 32 bytes a sealed record keeps of it. `IndexKey` has no
/// byte constructor, so this goes through its hex form.
fn index_key_from_bytes(bytes: &[u8; 32]) -> Result<IndexKey> {
    IndexKey::from_hex(&hex::encode(bytes))
        .map_err(|e| Error::corrupt(BACKEND, "a stored index key does not parse").with_source(e))
}

/// The data of one namespace: one table set per contract, each behind its own lock.
///
/// One lock per contract, not one for the namespace: an operation never touches two
/// contracts, so it is atomic under its contract's lock, and a purge of sessions never
/// waits on a busy token store. Each lock is a `std::sync::Mutex` because nothing is
/// awaited while it is held (sealing and opening records are synchronous).
#[derive(Default)]
struct Space {
    sessions: Mutex<session::SessionTables>,
    artifacts: Mutex<artifact::ArtifactTable>,
    state: Mutex<state::StateTable>,
    replay: Mutex<replay::ReplayTable>,
    lockout: Mutex<lockout::LockoutTable>,
    keys: Mutex<keys::KeyTable>,
    revocations: Mutex<revocation::RevocationTables>,
    tokens: Mutex<token::TokenTables>,
    registry: Mutex<registry::RegistryTable>,
    leases: Mutex<lease::Leases>,
}

impl fmt::Debug for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Space").finish_non_exhaustive()
    }
}

/// A lock guard for the harness helpers, which read through poisoning.
fn harness_lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Space {
    /// Appends every stored byte string to `out`.
    fn dump(&self, out: &mut Vec<RawEntry>) {
        dump_table(out, &harness_lock(&self.sessions).sessions);
        dump_index(out, &harness_lock(&self.sessions).by_subject);
        dump_table(out, &harness_lock(&self.artifacts).0);
        dump_table(out, &harness_lock(&self.state).0);
        dump_table(out, &harness_lock(&self.replay).0);
        dump_table(out, &harness_lock(&self.lockout).0);
        dump_table(out, &harness_lock(&self.keys).0);
        {
            let r = harness_lock(&self.revocations);
            dump_table(out, &r.sris);
            dump_table(out, &r.subjects);
            dump_table(out, &r.feed);
        }
        {
            let t = harness_lock(&self.tokens);
            dump_table(out, &t.tokens);
            dump_index(out, &t.by_subject);
            dump_index(out, &t.by_grant);
            dump_index(out, &t.by_client);
        }
        dump_table(out, &harness_lock(&self.registry).0);
        harness_lock(&self.leases).dump(out);
    }

    /// Flips a byte in every sealed record of `contract`; returns how many.
    fn tamper(&self, contract: Contract) -> usize {
        match contract {
            Contract::Session => tamper_table(&mut harness_lock(&self.sessions).sessions),
            Contract::Artifact => tamper_table(&mut harness_lock(&self.artifacts).0),
            Contract::State => tamper_table(&mut harness_lock(&self.state).0),
            Contract::Replay => tamper_table(&mut harness_lock(&self.replay).0),
            Contract::Lockout => tamper_table(&mut harness_lock(&self.lockout).0),
            Contract::Key => tamper_table(&mut harness_lock(&self.keys).0),
            Contract::Revocation => {
                let mut r = harness_lock(&self.revocations);
                tamper_table(&mut r.sris)
                    + tamper_table(&mut r.subjects)
                    + tamper_table(&mut r.feed)
            }
            Contract::Token => tamper_table(&mut harness_lock(&self.tokens).tokens),
            Contract::Registry => tamper_table(&mut harness_lock(&self.registry).0),
        }
    }
}

/// Appends a table's rows to a dump.
fn dump_table<K: table::RowKey, M>(out: &mut Vec<RawEntry>, table: &Table<K, M>) {
    for (key, row) in table.iter() {
        out.push(RawEntry {
            key: format!("{}/{}", table.name(), hex::encode(key.storage_key())).into_bytes(),
            value: row.blob.clone(),
        });
    }
}

/// Appends an index's entries to a dump.
fn dump_index(out: &mut Vec<RawEntry>, index: &table::Index) {
    for (owner, members) in index.iter() {
        out.push(RawEntry {
            key: format!("{}/{}", index.name(), owner.to_hex()).into_bytes(),
            value: members.iter().flat_map(|m| m.as_bytes().to_vec()).collect(),
        });
    }
}

/// Flips one byte of every sealed envelope in `table`; returns how many.
fn tamper_table<K: table::RowKey, M>(table: &mut Table<K, M>) -> usize {
    let mut altered = 0;
    for blob in table.blobs_mut() {
        // Byte 1 of an envelope is its algorithm: 0 for plaintext, which has no tag.
        let at = if blob.get(1).is_some_and(|&alg| alg != 0) {
            blob.len().saturating_sub(1)
        } else {
            0
        };
        if let Some(byte) = blob.get_mut(at) {
            *byte ^= 0x01;
            altered += 1;
        }
    }
    altered
}
