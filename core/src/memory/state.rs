//! [`StateStore`] in memory: short-lived values under the keyed hash of their key.

use std::time::Duration;

use async_trait::async_trait;

use super::Node;
use super::table::{Row, Table, lock, purge_in_batches};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{Purge, PurgePolicy, PurgeReport, StateStore};
use crate::error::Result;

/// The hashing domain of state keys.
const KEY_DOMAIN: &str = crate::domains::STATE_KEY;

/// State rows: the sealed value, with its expiry.
#[derive(Debug)]
pub(super) struct StateTable(pub(super) Table<IndexKey>);

impl Default for StateTable {
    fn default() -> Self {
        StateTable(Table::new("state"))
    }
}

/// The memory [`StateStore`].
#[derive(Debug)]
pub(super) struct MemoryStateStore(pub(super) Node);

impl MemoryStateStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.index_key("state key", KEY_DOMAIN, key)
    }

    /// Checks the value and TTL and seals the row to store, before any lock is taken.
    fn prepare(&self, key: &IndexKey, value: Vec<u8>, ttl: Duration) -> Result<Row<()>> {
        let limits = &self.0.config.limits;
        limits.check_payload("state value", value.len())?;
        limits.check_ttl("state ttl", ttl)?;
        let blob = self.0.seal(Contract::State, key.as_bytes(), &value)?;
        Ok(Row {
            expires_at: self.0.config.now().saturating_add(ttl),
            last_activity: None,
            meta: (),
            blob,
        })
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(key)?;
        let row = self.prepare(&key, value, ttl)?;
        lock(&self.0.space.state)?.0.insert(key, row);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool> {
        let key = self.key(key)?;
        let row = self.prepare(&key, value, ttl)?;
        let now = self.0.config.now();
        let mut table = lock(&self.0.space.state)?;
        if table.0.live(&key, now).is_some() {
            return Ok(false);
        }
        table.0.insert(key, row);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key)?;
        let now = self.0.config.now();
        let table = lock(&self.0.space.state)?;
        match table.0.live(&key, now) {
            Some(row) => self
                .0
                .unseal(Contract::State, key.as_bytes(), &row.blob)
                .map(Some),
            None => Ok(None),
        }
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let key = self.key(key)?;
        let now = self.0.config.now();
        let mut table = lock(&self.0.space.state)?;
        Ok(table.0.remove(&key).is_some_and(|row| row.is_live_at(now)))
    }
}

#[async_trait]
impl Purge for MemoryStateStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.state,
            &self.0.config.clock,
            policy,
            |table, cutoff, limit| table.0.purge_batch(cutoff, limit).len(),
        )
    }
}
