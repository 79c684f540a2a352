//! [`ArtifactStore`] on SQL: one row per artifact under the keyed hash of its handle. A
//! take sets `taken_at` and drops the payload; the row keeps the artifact's original
//! expiry, so the handle stays reserved and answers `Replayed` until then.
//!
//! | operation | PostgreSQL | SQLite | MariaDB |
//! |---|---|---|---|
//! | `put` | `INSERT … ON CONFLICT DO UPDATE … WHERE expired` | the same | `INSERT`; on a duplicate, `UPDATE … WHERE expired` |
//! | `take` | 1: `WITH old AS (SELECT … FOR UPDATE), upd AS (UPDATE …) SELECT … FROM old` | 1: `UPDATE … SET taken_at … RETURNING data` (a second, a read, when it is not fresh) | 1: `INSERT … SELECT (@taken := data) … FOR UPDATE ON DUPLICATE KEY UPDATE … RETURNING @taken` (a second, a read, when it is not fresh) |
//!
//! A take must return the payload that the same atomic step replaces, and no dialect's
//! `UPDATE … RETURNING` returns a value it overwrites. So:
//!
//! - PostgreSQL: the CTE's `SELECT … FOR UPDATE` reads and locks the old row, the
//!   `UPDATE` writes the sealed tombstone (`Taken(at)`), and a concurrent take waits on
//!   the lock and then sees the tombstone.
//! - SQLite: the `UPDATE` only sets `taken_at` (where it was NULL), so its `RETURNING`
//!   reports the payload; an `AFTER UPDATE OF taken_at` trigger (migration 2) then
//!   empties `data` within the same statement. `RETURNING` reports the row before
//!   `AFTER` triggers run. A taken row is its `taken_at` and an empty `data`. SQLite has
//!   one writer, so concurrent takes are serialized and exactly one finds `taken_at`
//!   NULL. A take that is not fresh matches no row and reads it once to tell `Replayed`
//!   from `Unknown`.
//! - MariaDB has no `UPDATE … RETURNING`, its `INSERT … RETURNING` reports the row as
//!   written, and no trigger may write the table its statement writes. Its take is the
//!   locking upsert that `touch` and `update` use, with the payload carried out through
//!   a user variable: `INSERT INTO t (…) SELECT k, expires_at, taken_at,
//!   (@authstate_taken := data) FROM t WHERE k = ? AND expires_at > now AND taken_at IS
//!   NULL FOR UPDATE ON DUPLICATE KEY UPDATE data = <tombstone>, taken_at = now
//!   RETURNING @authstate_taken`. The locking read takes the row only while it is live
//!   and not taken and copies its payload into the connection's variable as it reads
//!   it; the insert of the row's own key is a duplicate, so the update writes the
//!   tombstone over the locked row; `RETURNING` reports the variable, the payload the
//!   update replaced. One statement. Concurrent takes wait on the row lock, re-read the
//!   committed row (`READ COMMITTED`), find `taken_at` set and match nothing; a take
//!   that matches nothing reads the row once to tell `Replayed` from `Unknown`. The
//!   variable keeps the last taken (sealed) payload in the server's memory for that
//!   connection until the next take on it overwrites it, as the row's old page does in
//!   the buffer pool.
//!
//! Every dialect marks the artifact taken before its record is opened: a take of a
//! corrupt record consumes it (and fails with `Corrupt`, returning nothing).

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
    /// PostgreSQL: the whole take; `$1` key, `$2` now, `$3` tombstone. SQLite: the take
    /// of a fresh artifact; `$1` key, `$2` now. MariaDB: the take of a fresh artifact;
    /// `$1` key, `$2` now, `$3` tombstone.
    take: Stmt,
    /// MariaDB, SQLite: the read of a live row. `$1` key, `$2` now.
    select_live: Stmt,
    pub purge: PurgeTable,
}

impl ArtifactSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let a = &t.artifacts;
        let take = match d {
            Dialect::Sqlite => format!(
                "UPDATE {a} SET taken_at = $2 WHERE k = $1 AND expires_at > $2 AND \
                 taken_at IS NULL RETURNING data, taken_at"
            ),
            Dialect::MySql => format!(
                "INSERT INTO {a} (k, expires_at, taken_at, data) \
                 SELECT k, expires_at, taken_at, (@authstate_taken := data) FROM {a} \
                 WHERE k = $1 AND expires_at > $2 AND taken_at IS NULL FOR UPDATE \
                 ON DUPLICATE KEY UPDATE data = $3, taken_at = $2 \
                 RETURNING @authstate_taken AS data"
            ),
            Dialect::Postgres => format!(
                "WITH old AS (SELECT k, data, taken_at FROM {a} \
                 WHERE k = $1 AND expires_at > $2 FOR UPDATE), \
                 upd AS (UPDATE {a} AS t SET data = $3, taken_at = $2 FROM old \
                 WHERE t.k = old.k AND old.taken_at IS NULL RETURNING t.k) \
                 SELECT old.data, old.taken_at FROM old"
            ),
        };
        ArtifactSql {
            put: ConditionalInsert::new(
                d,
                a,
                &["k", "expires_at", "taken_at", "data"],
                // $1 key, $2 expires_at, $3 taken_at (NULL), $4 data, $5 now
                5,
            ),
            take: Stmt::new(d, take),
            select_live: Stmt::new(
                d,
                format!("SELECT data, taken_at FROM {a} WHERE k = $1 AND expires_at > $2"),
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

    /// What a row read before a take says: `Fresh(payload)` if it is live,
    /// `Replayed` if it was taken (a sealed tombstone, or on SQLite an empty `data` and
    /// the `taken_at` column).
    fn outcome(&self, key: &IndexKey, row: &Row) -> Result<Take> {
        let blob = row.bytes(0)?;
        let taken = row.opt_int(1)?;
        if blob.is_empty() {
            return match taken {
                Some(at) => Ok(Take::Replayed {
                    taken_at: Timestamp::from_millis(at),
                }),
                None => Err(self
                    .node
                    .corrupt("artifact record: no payload, and not marked taken")),
            };
        }
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

    /// PostgreSQL's take: one statement.
    async fn take_postgres(&self, key: &IndexKey) -> Result<Take> {
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
        match self.node.db.fetch_optional(&self.sql.take, &args).await? {
            Some(row) => self.outcome(key, &row),
            None => Ok(Take::Unknown),
        }
    }

    /// SQLite's and MariaDB's take: one statement when fresh (the row it matched was
    /// live and not taken, and it returns the payload it replaced), a read after it
    /// when not.
    async fn take_returning_payload(&self, key: &IndexKey) -> Result<Take> {
        let now = self.node.now();
        let tombstone;
        let args = match self.node.dialect() {
            Dialect::MySql => {
                tombstone = self.node.seal(
                    Contract::Artifact,
                    key.as_bytes(),
                    &ArtifactRecord::Taken(now),
                )?;
                vec![
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(now.as_millis()),
                    Arg::Bytes(&tombstone),
                ]
            }
            _ => vec![Arg::Bytes(key.as_bytes()), Arg::Int(now.as_millis())],
        };
        if let Some(row) = self.node.db.fetch_optional(&self.sql.take, &args).await? {
            // This statement marked the row taken: it was live and not taken.
            let record: ArtifactRecord =
                self.node
                    .unseal(Contract::Artifact, key.as_bytes(), &row.bytes(0)?)?;
            return match record {
                ArtifactRecord::Live(payload) => Ok(Take::Fresh(payload)),
                ArtifactRecord::Taken(_) => Err(self
                    .node
                    .corrupt("artifact record: a tombstone whose taken_at column was empty")),
            };
        }
        let args = [Arg::Bytes(key.as_bytes()), Arg::Int(now.as_millis())];
        match self
            .node
            .db
            .fetch_optional(&self.sql.select_live, &args)
            .await?
        {
            None => Ok(Take::Unknown),
            Some(row) => match self.outcome(key, &row)? {
                // Put after the take found nothing: the take came first.
                Take::Fresh(_) => Ok(Take::Unknown),
                other => Ok(other),
            },
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
        match self.node.dialect() {
            Dialect::Postgres => retrying!(self.take_postgres(&key).await),
            Dialect::Sqlite | Dialect::MySql => {
                retrying!(self.take_returning_payload(&key).await)
            }
        }
    }
}

#[async_trait]
impl Purge for SqlArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, false).await
    }
}
