//! [`ReplayCache`] in memory: seen ids under their keyed hash, each kept until its
//! `not_after`. Nothing is ever evicted early; the cache is bounded by refusing a
//! `not_after` past the maximum retention instead.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::table::{Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{Purge, PurgePolicy, PurgeReport, Replay, ReplayCache};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The hashing domain of replay ids.
const ID_DOMAIN: &str = crate::domains::REPLAY_ID;

/// Replay rows, expiring at their `not_after`.
#[derive(Debug)]
pub(super) struct ReplayTable(pub(super) Table<IndexKey>);

impl Default for ReplayTable {
    fn default() -> Self {
        ReplayTable(Table::new("replay"))
    }
}

/// What is sealed for a seen id. Nothing in it is secret, but sealing it makes a
/// tampered entry `Corrupt` like every other record.
#[derive(Serialize, Deserialize)]
struct ReplayEntry {
    recorded_at: Timestamp,
    not_after: Timestamp,
}

/// The memory [`ReplayCache`].
#[derive(Debug)]
pub(super) struct MemoryReplayCache(pub(super) Node);

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn check_and_record(&self, id: &str, not_after: Timestamp) -> Result<Replay> {
        let config = &self.0.config;
        config.limits.check_key("replay id", id)?;
        let now = config.now();
        if not_after <= now {
            return Err(Error::invalid_input(
                BACKEND,
                "replay not_after is at or before now: the assertion has already expired",
            ));
        }
        let max = config.limits.max_replay_retention;
        if not_after > now.saturating_add(max) {
            return Err(Error::invalid_input(
                BACKEND,
                format!(
                    "replay not_after is more than the maximum retention of {}s from now",
                    max.as_secs()
                ),
            ));
        }
        let key = config.hash(ID_DOMAIN, id.as_bytes());
        let blob = self.0.seal(
            Contract::Replay,
            key.as_bytes(),
            &ReplayEntry {
                recorded_at: now,
                not_after,
            },
        )?;
        // Check and record under one lock: of concurrent calls exactly one is `Fresh`.
        let mut table = lock(&self.0.space.replay)?;
        if let Some(row) = table.0.live(&key, now) {
            // Opened so that a tampered entry is `Corrupt`; it is never rewritten.
            let _: ReplayEntry = self.0.unseal(Contract::Replay, key.as_bytes(), &row.blob)?;
            return Ok(Replay::Replayed);
        }
        table.0.insert(
            key,
            Row {
                expires_at: not_after,
                last_activity: None,
                meta: (),
                blob,
            },
        );
        Ok(Replay::Fresh)
    }
}

#[async_trait]
impl Purge for MemoryReplayCache {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.replay,
            &self.0.config.clock,
            policy,
            |table, cutoff, limit| table.0.purge_batch(cutoff, limit).len(),
        )
    }
}
