//! [`SessionStore`] on SQL: one row per session under the keyed hash of its id.
//!
//! The sealed record holds everything the contract returns; the columns beside it are
//! what the database must see: the subject hash (index), the version (compare-and-set),
//! the last activity and the effective expiry (purge and liveness, both indexed), the
//! absolute expiry and the idle timeout (so `touch` slides the expiry in one statement
//! without opening the record). A read returns the sealed record with the last activity
//! from its column, after checking that the seal and the columns agree.
//!
//! | operation | PostgreSQL / SQLite | MariaDB |
//! |---|---|---|
//! | `create` | `INSERT … ON CONFLICT DO NOTHING` | `INSERT` (duplicate key: new id) |
//! | `get`, `list_by_subject` | one `SELECT` | one `SELECT` |
//! | `touch` | `UPDATE … RETURNING` | `UPDATE`, then `SELECT` |
//! | `update` | `SELECT`, then `UPDATE … WHERE version = $v RETURNING` | the same without `RETURNING` |
//! | `rotate_id` | transaction: `DELETE … RETURNING`, `INSERT` | the same |
//! | `delete`, `delete_by_subject` | one `DELETE` | one `DELETE` |
//!
//! `update` re-seals the whole record (a record rewritten during a keyring migration
//! must read without `accept_plaintext`), so it needs the record first: a read and a
//! compare-and-set, two statements and no transaction. The compare-and-set on the
//! version column is what makes concurrent updates have exactly one winner.

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::time::duration_millis;
use authstate_core::{
    Contract, Error, NewSession, Purge, PurgePolicy, PurgeReport, Result, Session, SessionId,
    SessionRecord, SessionStore, SessionSummary, Timestamp,
};

use crate::connection::{Arg, Row, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::error::is_unique_violation;
use crate::node::{SharedNode, index_key, to_i64};
use crate::purge::{PurgeTable, purge_table};

/// The hashing domain of session ids; the same in every backend.
const ID_DOMAIN: &str = authstate_core::domains::SESSION_ID;
/// The hashing domain of subjects in the session index.
const SUBJECT_DOMAIN: &str = authstate_core::domains::SESSION_SUBJECT;

/// How many fresh ids `create` and `rotate_id` try before giving up. With 256 random
/// bits a single collision already means a broken random source.
const MAX_ID_ATTEMPTS: usize = 4;

/// The columns every read returns, in this order.
const READ_COLUMNS: &str = "data, last_activity, version, expires_at";

pub(crate) struct SessionSql {
    insert: Stmt,
    get: Stmt,
    touch: Stmt,
    cas: Stmt,
    live_version: Stmt,
    take_for_rotate: Stmt,
    delete: Stmt,
    list: Stmt,
    delete_by_subject: Stmt,
    pub purge: PurgeTable,
}

impl SessionSql {
    pub fn new(t: &Tables) -> Self {
        let d = t.dialect;
        let s = &t.sessions;
        let returning = d != Dialect::MySql;
        let insert = match d {
            Dialect::MySql => format!(
                "INSERT INTO {s} (k, subject_hash, version, last_activity, abs_expires_at, \
                 idle_ms, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            _ => format!(
                "INSERT INTO {s} (k, subject_hash, version, last_activity, abs_expires_at, \
                 idle_ms, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (k) DO NOTHING"
            ),
        };
        // The idle end never passes the absolute end.
        let slide = "CASE WHEN idle_ms IS NULL THEN abs_expires_at \
                     WHEN abs_expires_at < $2 + idle_ms THEN abs_expires_at \
                     ELSE $2 + idle_ms END";
        let touch = format!(
            "UPDATE {s} SET last_activity = $2, expires_at = {slide} \
             WHERE k = $1 AND expires_at > $2{}",
            if returning {
                format!(" RETURNING {READ_COLUMNS}")
            } else {
                String::new()
            }
        );
        let cas = format!(
            "UPDATE {s} SET data = $3, version = $4 \
             WHERE k = $1 AND version = $2 AND expires_at > $5{}",
            if returning {
                " RETURNING last_activity, expires_at"
            } else {
                ""
            }
        );
        SessionSql {
            insert: Stmt::new(d, insert),
            get: Stmt::new(
                d,
                format!("SELECT {READ_COLUMNS} FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            touch: Stmt::new(d, touch),
            cas: Stmt::new(d, cas),
            live_version: Stmt::new(
                d,
                format!("SELECT version FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            take_for_rotate: Stmt::new(
                d,
                format!(
                    "DELETE FROM {s} WHERE k = $1 AND expires_at > $2 RETURNING subject_hash, \
                     version, last_activity, abs_expires_at, idle_ms, expires_at, data"
                ),
            ),
            delete: Stmt::new(
                d,
                format!("DELETE FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            list: Stmt::new(
                d,
                format!(
                    "SELECT k, {READ_COLUMNS} FROM {s} WHERE subject_hash = $1 AND \
                     expires_at > $2 ORDER BY k"
                ),
            ),
            delete_by_subject: Stmt::new(
                d,
                format!("DELETE FROM {s} WHERE subject_hash = $1 AND expires_at > $2"),
            ),
            purge: PurgeTable::new(t, s, "k", Some("last_activity")),
        }
    }
}

/// The SQL [`SessionStore`].
pub(crate) struct SqlSessionStore {
    pub node: SharedNode,
    pub sql: SessionSql,
}

impl std::fmt::Debug for SqlSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSessionStore")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The columns of a new row.
struct NewRow<'a> {
    key: &'a IndexKey,
    subject: &'a IndexKey,
    record: &'a SessionRecord,
    blob: &'a [u8],
}

impl SqlSessionStore {
    fn id_key(&self, id: &SessionId) -> IndexKey {
        self.node.hash(ID_DOMAIN, id.expose().as_bytes())
    }

    fn subject_key(&self, subject: &str) -> IndexKey {
        self.node.hash(SUBJECT_DOMAIN, subject.as_bytes())
    }

    fn not_found(&self) -> Error {
        Error::not_found(
            self.node.name(),
            "no live session with this id (unknown, deleted or expired)",
        )
    }

    fn ids_exhausted(&self) -> Error {
        Error::unexpected(
            self.node.name(),
            "every freshly generated session id collided with a stored one; the random \
             source cannot be trusted",
        )
    }

    /// The record a read returns: the sealed record, with the last activity from its
    /// column. The sealed version and the effective expiry must match the columns: a
    /// disagreement means the row was altered outside authstate.
    fn record(&self, key: &IndexKey, row: &Row, offset: usize) -> Result<SessionRecord> {
        let blob = row.bytes(offset)?;
        let last_activity = row.int(offset + 1)?;
        let version = row.int(offset + 2)?;
        let expires_at = row.int(offset + 3)?;
        let mut record: SessionRecord =
            self.node.unseal(Contract::Session, key.as_bytes(), &blob)?;
        record.last_activity = Timestamp::from_millis(last_activity);
        if i64::try_from(record.version).ok() != Some(version)
            || record.effective_expiry().as_millis() != expires_at
        {
            return Err(self.node.corrupt(
                "session record: the sealed record disagrees with its version or expiry \
                 columns",
            ));
        }
        Ok(record)
    }

    /// Inserts a new row; `false` when the key is taken (an id collision).
    async fn insert(&self, exec: &mut Exec<'_>, row: NewRow<'_>) -> Result<bool> {
        let idle = row.record.idle_timeout.map(duration_millis);
        let args = [
            Arg::Bytes(row.key.as_bytes()),
            Arg::Bytes(row.subject.as_bytes()),
            Arg::Int(to_i64(
                self.node.dialect(),
                "session version",
                row.record.version,
            )?),
            Arg::Int(row.record.last_activity.as_millis()),
            Arg::Int(row.record.expires_at.as_millis()),
            Arg::OptInt(idle),
            Arg::Int(row.record.effective_expiry().as_millis()),
            Arg::Bytes(row.blob),
        ];
        let result = match exec {
            Exec::Pool => self.node.db.try_execute(&self.sql.insert, &args).await,
            Exec::Tx(tx) => tx.try_execute(&self.sql.insert, &args).await,
        };
        match result {
            Ok(n) => Ok(n == 1),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(crate::error::map(self.node.dialect(), e)),
        }
    }
}

/// Where an insert runs.
enum Exec<'a> {
    Pool,
    Tx(&'a mut crate::connection::Txn),
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, new: NewSession) -> Result<Session> {
        let limits = &self.node.config.limits;
        limits.check_key("session subject", &new.subject)?;
        limits.check_payload("session data", new.data.len())?;
        limits.check_ttl("session lifetime", new.lifetime)?;
        if let Some(idle) = new.idle_timeout {
            limits.check_ttl("session idle timeout", idle)?;
        }
        let now = self.node.now();
        let subject = self.subject_key(&new.subject);
        let record = SessionRecord {
            subject: new.subject,
            data: new.data,
            created_at: now,
            last_activity: now,
            expires_at: now.saturating_add(new.lifetime),
            idle_timeout: new.idle_timeout,
            version: 1,
        };
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = SessionId::generate()?;
            let key = self.id_key(&id);
            let blob = self.node.seal(Contract::Session, key.as_bytes(), &record)?;
            let row = || NewRow {
                key: &key,
                subject: &subject,
                record: &record,
                blob: &blob,
            };
            // Any row under this hash, even an expired one, is a collision: a new id is
            // tried rather than the row overwritten.
            if retrying!(self.insert(&mut Exec::Pool, row()).await)? {
                return Ok(Session { id, record });
            }
        }
        Err(self.ids_exhausted())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let now = self.node.now().as_millis();
        let row = retrying!(
            self.node
                .db
                .fetch_optional(&self.sql.get, &[Arg::Bytes(key.as_bytes()), Arg::Int(now)])
                .await
        )?;
        row.map(|r| self.record(&key, &r, 0)).transpose()
    }

    async fn touch(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let now = self.node.now().as_millis();
        let args = [Arg::Bytes(key.as_bytes()), Arg::Int(now)];
        let row = match self.node.dialect() {
            Dialect::MySql => {
                // No UPDATE … RETURNING: the update, then a read of the row it touched.
                let touched = retrying!(self.node.db.execute(&self.sql.touch, &args).await)?;
                if touched == 0 {
                    return Ok(None);
                }
                retrying!(self.node.db.fetch_optional(&self.sql.get, &args).await)?
            }
            _ => retrying!(self.node.db.fetch_optional(&self.sql.touch, &args).await)?,
        };
        row.map(|r| self.record(&key, &r, 0)).transpose()
    }

    async fn update(
        &self,
        id: &SessionId,
        expected_version: u64,
        data: Vec<u8>,
    ) -> Result<SessionRecord> {
        self.node
            .config
            .limits
            .check_payload("session data", data.len())?;
        let key = self.id_key(id);
        let d = self.node.dialect();
        retrying!(
            async {
                let now = self.node.now().as_millis();
                let live = [Arg::Bytes(key.as_bytes()), Arg::Int(now)];
                let Some(row) = self.node.db.fetch_optional(&self.sql.get, &live).await? else {
                    return Err(self.not_found());
                };
                let current = self.record(&key, &row, 0)?;
                if current.version != expected_version {
                    return Err(Error::conflict(
                        self.node.name(),
                        format!(
                            "the session is at version {}, not the expected {expected_version}",
                            current.version
                        ),
                    ));
                }
                let mut next = current;
                next.data = data.clone();
                next.version = expected_version.checked_add(1).ok_or_else(|| {
                    Error::invalid_input(self.node.name(), "session version overflows")
                })?;
                let blob = self.node.seal(Contract::Session, key.as_bytes(), &next)?;
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(to_i64(d, "session version", expected_version)?),
                    Arg::Bytes(&blob),
                    Arg::Int(to_i64(d, "session version", next.version)?),
                    Arg::Int(now),
                ];
                let updated = match d {
                    Dialect::MySql => {
                        if self.node.db.execute(&self.sql.cas, &args).await? == 1 {
                            Some(next.last_activity)
                        } else {
                            None
                        }
                    }
                    _ => self
                        .node
                        .db
                        .fetch_optional(&self.sql.cas, &args)
                        .await?
                        .map(|r| r.int(0).map(Timestamp::from_millis))
                        .transpose()?,
                };
                if let Some(last_activity) = updated {
                    next.last_activity = last_activity;
                    return Ok(next);
                }
                // The compare-and-set lost: tell a moved version from a vanished session.
                match self
                    .node
                    .db
                    .fetch_optional(&self.sql.live_version, &live)
                    .await?
                {
                    Some(r) => Err(Error::conflict(
                        self.node.name(),
                        format!(
                            "the session moved to version {} while it was being updated from \
                             {expected_version}",
                            r.int(0)?
                        ),
                    )),
                    None => Err(self.not_found()),
                }
            }
            .await
        )
    }

    async fn rotate_id(&self, id: &SessionId) -> Result<Session> {
        let old_key = self.id_key(id);
        retrying!(
            async {
                let now = self.node.now().as_millis();
                // One transaction: the old row is deleted (and locked) and the new one
                // inserted before anyone sees either, so no reader ever finds both ids
                // working, or neither.
                let mut tx = self.node.db.begin().await?;
                let Some(row) = tx
                    .fetch_optional(
                        &self.sql.take_for_rotate,
                        &[Arg::Bytes(old_key.as_bytes()), Arg::Int(now)],
                    )
                    .await?
                else {
                    return Err(self.not_found());
                };
                let subject = index_key(self.node.dialect(), &row.hash(0)?)?;
                // Columns: subject_hash, version, last_activity, abs, idle, expires_at, data.
                let blob = row.bytes(6)?;
                let mut record: SessionRecord =
                    self.node
                        .unseal(Contract::Session, old_key.as_bytes(), &blob)?;
                record.last_activity = Timestamp::from_millis(row.int(2)?);
                if i64::try_from(record.version).ok() != Some(row.int(1)?)
                    || record.effective_expiry().as_millis() != row.int(5)?
                {
                    return Err(self.node.corrupt(
                        "session record: the sealed record disagrees with its version or \
                         expiry columns",
                    ));
                }
                for _ in 0..MAX_ID_ATTEMPTS {
                    let new_id = SessionId::generate()?;
                    let new_key = self.id_key(&new_id);
                    // The associated data binds the blob to its key: sealed again.
                    let blob = self
                        .node
                        .seal(Contract::Session, new_key.as_bytes(), &record)?;
                    let inserted = self
                        .insert(
                            &mut Exec::Tx(&mut tx),
                            NewRow {
                                key: &new_key,
                                subject: &subject,
                                record: &record,
                                blob: &blob,
                            },
                        )
                        .await?;
                    if inserted {
                        tx.commit().await?;
                        return Ok(Session { id: new_id, record });
                    }
                }
                Err(self.ids_exhausted())
            }
            .await
        )
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let key = self.id_key(id);
        let now = self.node.now().as_millis();
        let n = retrying!(
            self.node
                .db
                .execute(
                    &self.sql.delete,
                    &[Arg::Bytes(key.as_bytes()), Arg::Int(now)]
                )
                .await
        )?;
        Ok(n > 0)
    }

    async fn list_by_subject(&self, subject: &str) -> Result<Vec<SessionSummary>> {
        self.node
            .config
            .limits
            .check_key("session subject", subject)?;
        let owner = self.subject_key(subject);
        let now = self.node.now().as_millis();
        let rows = retrying!(
            self.node
                .db
                .fetch_all(
                    &self.sql.list,
                    &[Arg::Bytes(owner.as_bytes()), Arg::Int(now)]
                )
                .await
        )?;
        rows.iter()
            .map(|r| {
                let key = index_key(self.node.dialect(), &r.hash(0)?)?;
                Ok(SessionSummary {
                    id_hash: key,
                    record: self.record(&key, r, 1)?,
                })
            })
            .collect()
    }

    async fn delete_by_subject(&self, subject: &str) -> Result<u64> {
        self.node
            .config
            .limits
            .check_key("session subject", subject)?;
        let owner = self.subject_key(subject);
        let now = self.node.now().as_millis();
        // Live sessions are deleted and counted; expired ones are left to purge.
        retrying!(
            self.node
                .db
                .execute(
                    &self.sql.delete_by_subject,
                    &[Arg::Bytes(owner.as_bytes()), Arg::Int(now)],
                )
                .await
        )
    }
}

#[async_trait]
impl Purge for SqlSessionStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_table(&self.node, &self.sql.purge, policy, true).await
    }
}
