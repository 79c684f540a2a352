//! [`ArtifactStore`] in memory: one-time artifacts under the keyed hash of their handle;
//! a taken artifact becomes a sealed tombstone that keeps the handle until its original
//! expiry.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::table::{Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{ArtifactStore, Purge, PurgePolicy, PurgeReport, Take};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The hashing domain of artifact handles.
const HANDLE_DOMAIN: &str = crate::domains::ARTIFACT_HANDLE;

/// Artifact rows. The row's expiry is the artifact's original expiry, whether it has
/// been taken or not: a tombstone lives exactly as long as the artifact would have.
#[derive(Debug)]
pub(super) struct ArtifactTable(pub(super) Table<IndexKey>);

impl Default for ArtifactTable {
    fn default() -> Self {
        ArtifactTable(Table::new("artifact"))
    }
}

/// What is sealed under an artifact's handle.
#[derive(Serialize, Deserialize)]
enum ArtifactRecord {
    /// Not taken yet.
    Live(Vec<u8>),
    /// Taken at this time; the payload is gone.
    Taken(Timestamp),
}

/// The memory [`ArtifactStore`].
#[derive(Debug)]
pub(super) struct MemoryArtifactStore(pub(super) Node);

impl MemoryArtifactStore {
    fn key(&self, handle: &str) -> Result<IndexKey> {
        self.0
            .config
            .index_key("artifact handle", HANDLE_DOMAIN, handle)
    }
}

#[async_trait]
impl ArtifactStore for MemoryArtifactStore {
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(handle)?;
        let limits = &self.0.config.limits;
        limits.check_payload("artifact payload", payload.len())?;
        limits.check_ttl("artifact ttl", ttl)?;
        let now = self.0.config.now();
        let blob = self.0.seal(
            Contract::Artifact,
            key.as_bytes(),
            &ArtifactRecord::Live(payload),
        )?;
        let mut table = lock(&self.0.space.artifacts)?;
        // A live row is a live artifact or a tombstone: either keeps the handle.
        if table.0.live(&key, now).is_some() {
            return Err(Error::already_exists(
                BACKEND,
                "an artifact with this handle is live, or was taken and has not reached \
                 its expiry",
            ));
        }
        table.0.insert(
            key,
            Row {
                expires_at: now.saturating_add(ttl),
                last_activity: None,
                meta: (),
                blob,
            },
        );
        Ok(())
    }

    async fn take(&self, handle: &str) -> Result<Take> {
        let key = self.key(handle)?;
        let now = self.0.config.now();
        // The read, the decision and the tombstone happen under one lock, so of any
        // number of concurrent takes exactly one sees `Live`.
        let mut table = lock(&self.0.space.artifacts)?;
        let Some(row) = table.0.live(&key, now) else {
            return Ok(Take::Unknown);
        };
        let expires_at = row.expires_at;
        match self
            .0
            .unseal(Contract::Artifact, key.as_bytes(), &row.blob)?
        {
            ArtifactRecord::Taken(taken_at) => Ok(Take::Replayed { taken_at }),
            ArtifactRecord::Live(payload) => {
                let tombstone = self.0.seal(
                    Contract::Artifact,
                    key.as_bytes(),
                    &ArtifactRecord::Taken(now),
                )?;
                table.0.insert(
                    key,
                    Row {
                        expires_at,
                        last_activity: None,
                        meta: (),
                        blob: tombstone,
                    },
                );
                Ok(Take::Fresh(payload))
            }
        }
    }
}

#[async_trait]
impl Purge for MemoryArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.artifacts,
            &self.0.config.clock,
            policy,
            |table, cutoff, limit| table.0.purge_batch(cutoff, limit).len(),
        )
    }
}
