//! [`SweepLease`] in memory: one holder per lease name per namespace.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::table::lock;
use super::{Node, RawEntry};
use crate::contracts::SweepLease;
use crate::error::Result;
use crate::time::Timestamp;

/// The leases of one namespace. Names and holders are operator-chosen labels (a task
/// name, a node id), not secrets, so they are kept as they are.
#[derive(Debug, Default)]
pub(super) struct Leases {
    held: BTreeMap<String, Lease>,
}

#[derive(Debug)]
struct Lease {
    holder: String,
    expires_at: Timestamp,
}

impl Leases {
    /// Appends every lease to a dump: `lease/<name>` → holder.
    pub(super) fn dump(&self, out: &mut Vec<RawEntry>) {
        for (name, lease) in &self.held {
            out.push(RawEntry {
                key: format!("lease/{name}").into_bytes(),
                value: lease.holder.clone().into_bytes(),
            });
        }
    }
}

/// The memory [`SweepLease`].
#[derive(Debug)]
pub(super) struct MemorySweepLease(pub(super) Node);

#[async_trait]
impl SweepLease for MemorySweepLease {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let limits = &self.0.config.limits;
        limits.check_key("lease name", name)?;
        limits.check_key("lease holder", holder)?;
        limits.check_ttl("lease ttl", ttl)?;
        let now = self.0.config.now();
        let mut leases = lock(&self.0.space.leases)?;
        if let Some(lease) = leases.held.get(name)
            && lease.holder != holder
            && now < lease.expires_at
        {
            return Ok(false);
        }
        leases.held.insert(
            name.to_owned(),
            Lease {
                holder: holder.to_owned(),
                expires_at: now.saturating_add(ttl),
            },
        );
        Ok(true)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<()> {
        let mut leases = lock(&self.0.space.leases)?;
        if leases.held.get(name).is_some_and(|l| l.holder == holder) {
            leases.held.remove(name);
        }
        Ok(())
    }
}
