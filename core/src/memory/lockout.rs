//! [`LockoutStore`] in memory: failure counters under the keyed hash of their key, with
//! the rule documented on [`LockoutStore`].

use async_trait::async_trait;

use super::Node;
use super::table::{Row, Table, lock, purge_in_batches};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{
    LockoutPolicy, LockoutStatus, LockoutStore, Purge, PurgePolicy, PurgeReport,
};
use crate::error::Result;
use crate::time::Timestamp;

/// The hashing domain of lockout keys.
const KEY_DOMAIN: &str = crate::domains::LOCKOUT_KEY;

/// Counter rows, expiring at the later of the window's end and the lock's end.
#[derive(Debug)]
pub(super) struct LockoutTable(pub(super) Table<IndexKey>);

impl Default for LockoutTable {
    fn default() -> Self {
        LockoutTable(Table::new("lockout"))
    }
}

/// The memory [`LockoutStore`].
#[derive(Debug)]
pub(super) struct MemoryLockoutStore(pub(super) Node);

impl MemoryLockoutStore {
    fn key(&self, key: &str) -> Result<IndexKey> {
        self.0.config.index_key("lockout key", KEY_DOMAIN, key)
    }
}

#[async_trait]
impl LockoutStore for MemoryLockoutStore {
    async fn record_failure(&self, key: &str, policy: &LockoutPolicy) -> Result<LockoutStatus> {
        policy.validate()?;
        let key = self.key(key)?;
        let now = self.0.config.now();
        // Read, count and write under one lock: N concurrent failures count exactly N.
        let mut table = lock(&self.0.space.lockout)?;
        let previous = match table.0.live(&key, now) {
            Some(row) => Some(self.0.unseal::<LockoutStatus>(
                Contract::Lockout,
                key.as_bytes(),
                &row.blob,
            )?),
            None => None,
        };
        let failures = previous.map_or(1, |p| p.failures.saturating_add(1));
        let locked_until = if failures >= policy.max_failures {
            Some(now.saturating_add(policy.lockout_duration))
        } else {
            // Below the threshold (possible only if the policy's threshold was raised)
            // a lock already running is kept: a policy change never unlocks.
            previous.and_then(|p| p.locked_until)
        };
        let status = LockoutStatus {
            failures,
            locked_until,
        };
        let expires_at = now
            .saturating_add(policy.failure_window)
            .max(locked_until.unwrap_or(Timestamp::EPOCH));
        let blob = self.0.seal(Contract::Lockout, key.as_bytes(), &status)?;
        table.0.insert(
            key,
            Row {
                expires_at,
                last_activity: None,
                meta: (),
                blob,
            },
        );
        Ok(status)
    }

    async fn status(&self, key: &str) -> Result<LockoutStatus> {
        let key = self.key(key)?;
        let now = self.0.config.now();
        let table = lock(&self.0.space.lockout)?;
        match table.0.live(&key, now) {
            Some(row) => self.0.unseal(Contract::Lockout, key.as_bytes(), &row.blob),
            None => Ok(LockoutStatus::default()),
        }
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let key = self.key(key)?;
        lock(&self.0.space.lockout)?.0.remove(&key);
        Ok(())
    }
}

#[async_trait]
impl Purge for MemoryLockoutStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.lockout,
            &self.0.config.clock,
            policy,
            |table, cutoff, limit| table.0.purge_batch(cutoff, limit).len(),
        )
    }
}
