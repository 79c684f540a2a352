//! [`ReplayCache`] on SQL: one row per seen id under its keyed hash, expiring at its
//! `not_after`. `check_and_record` is one conditional insert (see [`crate::upsert`]):
//! written means `Fresh`, refused means a live row holds the id, `Replayed`. An expired
//! row counts as absent and is overwritten in the same statement.
//!
//! The row holds no payload (the id is only a keyed hash, the times are not secret), so
//! there is nothing to seal and nothing for a tamper to make `Corrupt`; a row altered
//! outside authstate can only answer `Replayed`, never `Fresh` for a live entry. Nothing
//! is ever evicted: the cache is bounded by refusing `not_after` past the maximum
//! retention.

use async_trait::async_trait;
use authstate_core::{
    Error, Purge, PurgePolicy, PurgeReport, Replay, ReplayCache, Result, Timestamp,
};

use crate::connection::{Arg, retrying};
use crate::dialect::Tables;
use crate::node::SharedNode;
use crate::purge::{PurgeTable, purge_table};
use crate::upsert::{ConditionalInsert, Written};

/// The hashing domain of replay ids; the same in every backend.
const ID_DOMAIN: &str = authstate_core::domains::REPLAY_ID;

pub(crate) struct ReplaySql {
    record: ConditionalInsert,
    pub purge: PurgeTable,
}

impl ReplaySql {
    pub fn new(t: &Tables) -> Self {
        ReplaySql {
            // $1 key, $2 not_after, $3 recorded_at (= now, also the condition's now).
            record: ConditionalInsert::new(
                t.dialect,
                &t.replay,
                &["k", "expires_at", "recorded_at"],
                3,
            ),
            purge: PurgeTable::new(t, &t.replay, "k", None),
        }
    }
}

/// The SQL [`ReplayCache`].
pub(crate) struct SqlReplayCache {
    pub node: SharedNode,
    pub sql: ReplaySql,
}

impl std::fmt::Debug for SqlReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlReplayCache")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ReplayCache for SqlReplayCache {
    async fn check_and_record(&self, id: &str, not_after: Timestamp) -> Result<Replay> {
        let config = &self.node.config;
        config.limits.check_key("replay id", id)?;
        let now = config.now();
        if not_after <= now {
            return Err(Error::invalid_input(
                self.node.name(),
                "replay not_after is at or before now: the assertion has already expired",
            ));
        }
        let max = config.limits.max_replay_retention;
        if not_after > now.saturating_add(max) {
            return Err(Error::invalid_input(
                self.node.name(),
                format!(
                    "replay not_after is more than the maximum retention of {}s from now",
                    max.as_secs()
                ),
            ));
        }
        let key = config.hash(ID_DOMAIN, id.as_bytes());
        let args = [
            Arg::Bytes(key.as_bytes()),
            Arg::Int(not_after.as_millis()),
            Arg::Int(now.as_millis()),
        ];
        let written = retrying!(self.sql.record.run(&self.node.db, &args).await)?;
        Ok(match written {
            Written::Yes => Replay::Fresh,
            Written::No => Replay::Replayed,
        })
    }
}

#[async_trait]
impl Purge for SqlReplayCache {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
