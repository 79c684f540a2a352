//! [`ArtifactStore`] on SQL: one row per artifact under the keyed hash of its handle. A
//! take replaces the sealed payload by a sealed tombstone (`Taken(at)`) and sets
//! `taken_at`; the row keeps the artifact's original expiry, so the handle stays
//! reserved and answers `Replayed` until then.
//!
//! | operation | PostgreSQL | SQLite | MariaDB |
//! |---|---|---|---|
//! | `put` | `INSERT … ON CONFLICT DO UPDATE … WHERE expired` | the same | `INSERT`; on a duplicate, `UPDATE … WHERE expired` |
//! | `take` | one statement: `WITH old AS (SELECT … FOR UPDATE), upd AS (UPDATE …) SELECT … FROM old` | `BEGIN IMMEDIATE`, `SELECT`, `UPDATE`, `COMMIT` | transaction: `SELECT … FOR UPDATE`, `UPDATE` |
//!
//! PostgreSQL's `UPDATE … RETURNING` returns the new row, not the payload being
//! replaced, hence the CTE: the `SELECT … FOR UPDATE` reads and locks the old row, the
//! `UPDATE` writes the tombstone, and a concurrent take waits on the lock and then sees
//! the tombstone. MariaDB has no `UPDATE … RETURNING`, so it locks the row in a
//! transaction first; SQLite has a single writer, and `BEGIN IMMEDIATE` takes it.

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ArtifactStore, Contract, Error, Purge, PurgePolicy, PurgeReport, Result, Take, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::connection::{Arg, Row, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::node::SharedNode;
use crate::purge::{PurgeTable, purge_table};
use crate::upsert::{ConditionalInsert, Written};

/// The hashing domain of artifact handles; the same in every backend.
const HANDLE_DOMAIN: &str = authstate_core::domains::ARTIFACT_HANDLE;

/// What is sealed under an artifact's handle (the memory backend's format).
#[derive(Serialize, Deserialize)]
enum ArtifactRecord {
    /// Not taken yet.
    Live(Vec<u8>),
    /// Taken at this time; the payload is gone.
    Taken(Timestamp),
}

pub(crate) struct ArtifactSql {
    put: ConditionalInsert,
    /// PostgreSQL: the whole take. `$1` key, `$2` now, `$3` tombstone.
    take: Stmt,
    /// MariaDB, SQLite: the locked read of a live row.
    select_live: Stmt,
    /// MariaDB, SQLite: the tombstone. `$1` key, `$2` now, `$3` tombstone.
    mark_taken: Stmt,
    pub purge: PurgeTable,
}

impl ArtifactSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let a = &t.artifacts;
        let lock = if d == Dialect::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        ArtifactSql {
            put: ConditionalInsert::new(
                d,
                a,
                &["k", "expires_at", "taken_at", "data"],
                // $1 key, $2 expires_at, $3 taken_at (NULL), $4 data, $5 now
                5,
            ),
            take: Stmt::new(
                d,
                format!(
                    "WITH old AS (SELECT k, data, taken_at FROM {a} \
                     WHERE k = $1 AND expires_at > $2 FOR UPDATE), \
                     upd AS (UPDATE {a} AS t SET data = $3, taken_at = $2 FROM old \
                     WHERE t.k = old.k AND old.taken_at IS NULL RETURNING t.k) \
                     SELECT old.data, old.taken_at FROM old"
                ),
            ),
            select_live: Stmt::new(
                d,
                format!("SELECT data, taken_at FROM {a} WHERE k = $1 AND expires_at > $2{lock}"),
            ),
            mark_taken: Stmt::new(
                d,
                format!("UPDATE {a} SET data = $3, taken_at = $2 WHERE k = $1"),
            ),
            purge: PurgeTable::new(t, a, "k", None),
        }
    }
}

/// The SQL [`ArtifactStore`].
pub(crate) struct SqlArtifactStore {
    pub node: SharedNode,
    pub sql: ArtifactSql,
}

impl std::fmt::Debug for SqlArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlArtifactStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SqlArtifactStore {
    fn key(&self, handle: &str) -> Result<IndexKey> {
        self.node
            .config
            .limits
            .check_key("artifact handle", handle)?;
        Ok(self.node.hash(HANDLE_DOMAIN, handle.as_bytes()))
    }

    /// The outcome for the row a take read before writing its tombstone:
    /// `Fresh(payload)` if it was live, `Replayed` if it was a tombstone.
    fn outcome(&self, key: &IndexKey, row: &Row) -> Result<Take> {
        let blob = row.bytes(0)?;
        let taken = row.opt_int(1)?;
        let record: ArtifactRecord = self
            .node
            .unseal(Contract::Artifact, key.as_bytes(), &blob)?;
        match (record, taken) {
            (ArtifactRecord::Live(payload), None) => Ok(Take::Fresh(payload)),
            (ArtifactRecord::Taken(taken_at), Some(_)) => Ok(Take::Replayed { taken_at }),
            _ => Err(self
                .node
                .corrupt("artifact record: the sealed record and the taken_at column disagree")),
        }
    }
}

#[async_trait]
impl ArtifactStore for SqlArtifactStore {
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(handle)?;
        let limits = &self.node.config.limits;
        limits.check_payload("artifact payload", payload.len())?;
        limits.check_ttl("artifact ttl", ttl)?;
        let blob = self.node.seal(
            Contract::Artifact,
            key.as_bytes(),
            &ArtifactRecord::Live(payload),
        )?;
        let written = retrying!(
            async {
                let now = self.node.now();
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(now.saturating_add(ttl).as_millis()),
                    Arg::OptInt(None),
                    Arg::Bytes(&blob),
                    Arg::Int(now.as_millis()),
                ];
                self.sql.put.run(&self.node.db, &args).await
            }
            .await
        )?;
        match written {
            Written::Yes => Ok(()),
            // A live row is a live artifact or a tombstone: either keeps the handle.
            Written::No => Err(Error::already_exists(
                self.node.name(),
                "an artifact with this handle is live, or was taken and has not reached its \
                 expiry",
            )),
        }
    }

    async fn take(&self, handle: &str) -> Result<Take> {
        let key = self.key(handle)?;
        retrying!(
            async {
                let now = self.node.now();
                let tombstone = self.node.seal(
                    Contract::Artifact,
                    key.as_bytes(),
                    &ArtifactRecord::Taken(now),
                )?;
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(now.as_millis()),
                    Arg::Bytes(&tombstone),
                ];
                if self.node.dialect() == Dialect::Postgres {
                    return match self.node.db.fetch_optional(&self.sql.take, &args).await? {
                        Some(row) => self.outcome(&key, &row),
                        None => Ok(Take::Unknown),
                    };
                }
                // The read, the decision and the tombstone in one transaction, the row
                // locked from the read on: of concurrent takes exactly one sees it live.
                let mut tx = self.node.db.begin().await?;
                let Some(row) = tx.fetch_optional(&self.sql.select_live, &args[..2]).await? else {
                    tx.commit().await?;
                    return Ok(Take::Unknown);
                };
                // Opened before anything is written: a corrupt record changes nothing.
                let outcome = self.outcome(&key, &row)?;
                if matches!(outcome, Take::Fresh(_)) {
                    tx.execute(&self.sql.mark_taken, &args).await?;
                }
                tx.commit().await?;
                Ok(outcome)
            }
            .await
        )
    }
}

#[async_trait]
impl Purge for SqlArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
