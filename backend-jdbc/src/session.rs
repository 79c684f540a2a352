//! [`SessionStore`] on SQL: one row per session under the keyed hash of its id.
//!
//! A session is stored in two sealed parts beside the columns the database must see:
//!
//! - `meta`: what never changes after `create` (subject, created, absolute end, idle
//!   timeout), sealed once for the id hash (and again by `rotate_id`, for the new one);
//! - `data`: the application data, sealed for the id hash *and the version*, so the
//!   version column is authenticated by it, and `update` can replace it without reading
//!   the session first (the Redis backend's layout);
//! - columns: the subject hash (index), the version (compare-and-set), the last
//!   activity and the effective expiry (purge and liveness, both indexed), the absolute
//!   expiry and the idle timeout (so `touch` slides the expiry in one statement without
//!   opening anything).
//!
//! A read opens both parts and checks them against the columns: the absolute expiry and
//! idle timeout must be the sealed ones, and the effective expiry must follow from them
//! and the last activity; a disagreement means the row was altered outside authstate
//! (`Corrupt`). A row written by schema version 1 has no `meta` and keeps the whole
//! sealed record in `data`; it reads as before, and its next `update` or `rotate_id`
//! rewrites it in two parts.
//!
//! | operation | PostgreSQL / SQLite | MariaDB |
//! |---|---|---|
//! | `create` | `INSERT … ON CONFLICT DO NOTHING` | `INSERT` (duplicate key: new id) |
//! | `get`, `list_by_subject` | one `SELECT` | one `SELECT` |
//! | `touch` | `UPDATE … RETURNING` | one upsert on the row's own key (below) |
//! | `update` | `UPDATE … WHERE version = $v … RETURNING` | one upsert on the row's own key |
//! | `rotate_id` | transaction: `DELETE … RETURNING`, `INSERT` | the same |
//! | `delete`, `delete_by_subject` | one `DELETE` | one `DELETE` |
//!
//! `update` writes the new data and version in one compare-and-set statement that
//! returns the meta and the times, so a successful update is one statement and reads
//! nothing first. Only a miss runs a second one, a read that tells `Conflict` (the
//! version moved) from `NotFound` (gone or expired). During a keyring migration, an
//! update whose meta was sealed in plaintext or with an older key also reseals the meta
//! (one more statement, once per session), so that the whole session reads without
//! `accept_plaintext` afterwards.
//!
//! MariaDB has no `UPDATE … RETURNING`. Its stand-in is
//! `INSERT INTO t (…) SELECT … FROM t AS o WHERE o.k = ? AND <condition> FOR UPDATE
//! ON DUPLICATE KEY UPDATE … RETURNING …`: the locking read finds the row only if the
//! condition holds on its latest committed version, and holds it until the statement
//! ends, so nothing can change or delete it in between; inserting the row's own key is
//! then a duplicate, and the update writes it and `RETURNING` reports it. When the
//! condition does not hold (or the row is gone), nothing is selected and nothing
//! changes. The lock is what keeps a concurrently deleted session from being inserted
//! again: a plain (consistent) read would have let the insert resurrect it. (Binary
//! logs: the statement is "unsafe" for statement-based replication; MariaDB's default
//! `MIXED` format logs it by row.)

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::{IndexKey, session_data_key, session_meta_key};
use authstate_core::time::duration_millis;
use authstate_core::{
    Contract, Error, NewSession, Purge, PurgePolicy, PurgeReport, Result, Session, SessionId,
    SessionRecord, SessionStore, SessionSummary, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::connection::{Arg, Row, retrying};
use crate::dialect::{Dialect, Stmt, Tables};
use crate::error::is_unique_violation;
use crate::node::{SharedNode, index_key, to_i64, to_u64};
use crate::purge::{PurgeTable, purge_table};

/// The hashing domain of session ids; the same in every backend.
const ID_DOMAIN: &str = authstate_core::domains::SESSION_ID;
/// The hashing domain of subjects in the session index.
const SUBJECT_DOMAIN: &str = authstate_core::domains::SESSION_SUBJECT;

/// How many fresh ids `create` and `rotate_id` try before giving up. With 256 random
/// bits a single collision already means a broken random source.
const MAX_ID_ATTEMPTS: usize = 4;

/// How many times `update` starts again when a schema-1 row changed under its rewrite.
const MAX_UPDATE_ROUNDS: usize = 4;

/// Every column of the table, in the order inserts name them.
const ALL_COLUMNS: [&str; 9] = [
    "k",
    "subject_hash",
    "version",
    "last_activity",
    "abs_expires_at",
    "idle_ms",
    "expires_at",
    "data",
    "meta",
];

/// The columns every read returns, in this order ([`SqlSessionStore::record`]).
const READ_COLUMNS: &str =
    "data, meta, last_activity, version, expires_at, abs_expires_at, idle_ms";

/// The sealed part of a session that never changes after `create`.
#[derive(Serialize, Deserialize)]
struct Meta {
    subject: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    idle_timeout: Option<Duration>,
}

/// MariaDB's one-statement stand-in for `UPDATE t SET <sets> WHERE k = $1 AND
/// <condition> RETURNING <returning>` (see the module docs). `condition` names the
/// row's columns with the prefix `o.`.
fn upsert_in_place(table: &str, condition: &str, sets: &str, returning: &str) -> String {
    let names = ALL_COLUMNS.join(", ");
    let source: Vec<String> = ALL_COLUMNS.iter().map(|c| format!("o.{c}")).collect();
    format!(
        "INSERT INTO {table} ({names}) SELECT {} FROM {table} AS o WHERE o.k = $1 AND \
         {condition} FOR UPDATE ON DUPLICATE KEY UPDATE {sets} RETURNING {returning}",
        source.join(", "),
    )
}

pub(crate) struct SessionSql {
    insert: Stmt,
    get: Stmt,
    /// `$1` key, `$2` now.
    touch: Stmt,
    /// `$1` key, `$2` expected version, `$3` sealed data, `$4` new version, `$5` now;
    /// returns meta, last activity, expiry, absolute expiry, idle timeout.
    cas: Stmt,
    /// A schema-1 row rewritten in two parts: `$1` key, `$2` expected version, `$3`
    /// sealed data, `$4` new version, `$5` now, `$6` sealed meta.
    rewrite_legacy: Stmt,
    /// `$1` key, `$2` the meta read, `$3` the meta sealed with the write key.
    reseal_meta: Stmt,
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
        let names = ALL_COLUMNS.join(", ");
        let insert = match d {
            Dialect::MySql => {
                format!("INSERT INTO {s} ({names}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            }
            _ => format!(
                "INSERT INTO {s} ({names}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (k) DO NOTHING"
            ),
        };
        // The idle end never passes the absolute end. `t` qualifies the columns (MariaDB's
        // upsert sees the selected row's columns under the same names).
        let slide = |t: &str| {
            format!(
                "CASE WHEN {t}idle_ms IS NULL THEN {t}abs_expires_at \
                 WHEN {t}abs_expires_at < $2 + {t}idle_ms THEN {t}abs_expires_at \
                 ELSE $2 + {t}idle_ms END"
            )
        };
        let touch = match d {
            Dialect::MySql => upsert_in_place(
                s,
                "o.expires_at > $2",
                &format!("last_activity = $2, expires_at = {}", slide("o.")),
                READ_COLUMNS,
            ),
            _ => format!(
                "UPDATE {s} SET last_activity = $2, expires_at = {} \
                 WHERE k = $1 AND expires_at > $2 RETURNING {READ_COLUMNS}",
                slide("")
            ),
        };
        let cas_returning = "meta, last_activity, expires_at, abs_expires_at, idle_ms";
        let cas = match d {
            Dialect::MySql => upsert_in_place(
                s,
                "o.version = $2 AND o.expires_at > $5 AND o.meta IS NOT NULL",
                "data = $3, version = $4",
                cas_returning,
            ),
            _ => format!(
                "UPDATE {s} SET data = $3, version = $4 WHERE k = $1 AND version = $2 AND \
                 expires_at > $5 AND meta IS NOT NULL RETURNING {cas_returning}"
            ),
        };
        SessionSql {
            insert: Stmt::new(d, insert),
            get: Stmt::new(
                d,
                format!("SELECT {READ_COLUMNS} FROM {s} WHERE k = $1 AND expires_at > $2"),
            ),
            touch: Stmt::new(d, touch),
            cas: Stmt::new(d, cas),
            rewrite_legacy: Stmt::new(
                d,
                format!(
                    "UPDATE {s} SET data = $3, version = $4, meta = $6 WHERE k = $1 AND \
                     version = $2 AND expires_at > $5 AND meta IS NULL"
                ),
            ),
            reseal_meta: Stmt::new(
                d,
                format!("UPDATE {s} SET meta = $3 WHERE k = $1 AND meta = $2"),
            ),
            take_for_rotate: Stmt::new(
                d,
                format!(
                    "DELETE FROM {s} WHERE k = $1 AND expires_at > $2 RETURNING \
                     {READ_COLUMNS}, subject_hash"
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
    meta: &'a [u8],
    data: &'a [u8],
}

/// How a compare-and-set that changed nothing is explained by the row read after it.
enum Miss {
    NotFound,
    Conflict(u64),
    /// A schema-1 row at the expected version, read back for its rewrite in two parts.
    Legacy(SessionRecord),
}

/// A successful update, with the meta read back when it must be resealed.
type Updated = (SessionRecord, Option<Vec<u8>>);

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

    fn disagrees(&self) -> Error {
        self.node.corrupt(
            "session record: the sealed record disagrees with its version or expiry columns",
        )
    }

    /// Seals the two parts of `record` for the id hash `key`: the meta, and the data
    /// at the record's version.
    fn seal_parts(&self, key: &IndexKey, record: &SessionRecord) -> Result<(Vec<u8>, Vec<u8>)> {
        let meta = self.seal_meta(key, record)?;
        let data = self.seal_data(key, record.version, &record.data)?;
        Ok((meta, data))
    }

    fn seal_meta(&self, key: &IndexKey, record: &SessionRecord) -> Result<Vec<u8>> {
        let meta = Meta {
            subject: record.subject.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            idle_timeout: record.idle_timeout,
        };
        self.node
            .seal(Contract::Session, &session_meta_key(key), &meta)
    }

    fn seal_data(&self, key: &IndexKey, version: u64, data: &[u8]) -> Result<Vec<u8>> {
        self.node
            .seal(Contract::Session, &session_data_key(key, version), &data)
    }

    /// Opens a sealed meta and checks it against the absolute expiry and idle timeout
    /// columns, which `touch` slides the expiry by.
    fn open_meta(&self, key: &IndexKey, blob: &[u8], abs: i64, idle: Option<i64>) -> Result<Meta> {
        let meta: Meta = self
            .node
            .unseal(Contract::Session, &session_meta_key(key), blob)?;
        if meta.expires_at.as_millis() != abs || meta.idle_timeout.map(duration_millis) != idle {
            return Err(self.disagrees());
        }
        Ok(meta)
    }

    /// The record from its opened meta, its data and its columns; the effective expiry
    /// column must follow from the meta and the last activity.
    fn assemble(
        &self,
        meta: Meta,
        data: Vec<u8>,
        version: u64,
        last_activity: i64,
        expires_at: i64,
    ) -> Result<SessionRecord> {
        let record = SessionRecord {
            subject: meta.subject,
            data,
            created_at: meta.created_at,
            last_activity: Timestamp::from_millis(last_activity),
            expires_at: meta.expires_at,
            idle_timeout: meta.idle_timeout,
            version,
        };
        if record.effective_expiry().as_millis() != expires_at {
            return Err(self.disagrees());
        }
        Ok(record)
    }

    /// The record of a read's row, whose columns from `offset` on are [`READ_COLUMNS`].
    fn record(&self, key: &IndexKey, row: &Row, offset: usize) -> Result<SessionRecord> {
        let data = row.bytes(offset)?;
        let meta = row.opt_bytes(offset + 1)?;
        let last_activity = row.int(offset + 2)?;
        let version = row.int(offset + 3)?;
        let expires_at = row.int(offset + 4)?;
        let Some(meta) = meta else {
            return self.legacy_record(key, &data, last_activity, version, expires_at);
        };
        let meta = self.open_meta(key, &meta, row.int(offset + 5)?, row.opt_int(offset + 6)?)?;
        let version = to_u64(self.node.dialect(), "session version", version)?;
        let data: Vec<u8> =
            self.node
                .unseal(Contract::Session, &session_data_key(key, version), &data)?;
        self.assemble(meta, data, version, last_activity, expires_at)
    }

    /// A schema-1 row: the whole record sealed in `data` for the id hash.
    fn legacy_record(
        &self,
        key: &IndexKey,
        blob: &[u8],
        last_activity: i64,
        version: i64,
        expires_at: i64,
    ) -> Result<SessionRecord> {
        let mut record: SessionRecord =
            self.node.unseal(Contract::Session, key.as_bytes(), blob)?;
        record.last_activity = Timestamp::from_millis(last_activity);
        if i64::try_from(record.version).ok() != Some(version)
            || record.effective_expiry().as_millis() != expires_at
        {
            return Err(self.disagrees());
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
            Arg::Bytes(row.data),
            Arg::Bytes(row.meta),
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

    /// One attempt at `update`: the compare-and-set, and on a miss the read that
    /// explains it. `Ok(None)`: a schema-1 row changed under its rewrite; try again.
    /// The meta comes back with the record when it was sealed in plaintext or with an
    /// older key.
    async fn try_update(
        &self,
        key: &IndexKey,
        expected_version: u64,
        next_version: u64,
        sealed: &[u8],
        data: &[u8],
    ) -> Result<Option<Updated>> {
        let d = self.node.dialect();
        let now = self.node.now().as_millis();
        let expected = to_i64(d, "session version", expected_version)?;
        let next = to_i64(d, "session version", next_version)?;
        let args = [
            Arg::Bytes(key.as_bytes()),
            Arg::Int(expected),
            Arg::Bytes(sealed),
            Arg::Int(next),
            Arg::Int(now),
        ];
        if let Some(row) = self.node.db.fetch_optional(&self.sql.cas, &args).await? {
            // Columns: meta, last_activity, expires_at, abs_expires_at, idle_ms.
            let blob = row
                .opt_bytes(0)?
                .ok_or_else(|| self.node.corrupt("session record: the meta vanished"))?;
            let meta = self.open_meta(key, &blob, row.int(3)?, row.opt_int(4)?)?;
            let record =
                self.assemble(meta, data.to_vec(), next_version, row.int(1)?, row.int(2)?)?;
            let reseal = self.node.needs_reseal(&blob).then_some(blob);
            return Ok(Some((record, reseal)));
        }
        let live = [Arg::Bytes(key.as_bytes()), Arg::Int(now)];
        let miss = match self.node.db.fetch_optional(&self.sql.get, &live).await? {
            None => Miss::NotFound,
            Some(row) => {
                let version = row.int(3)?;
                if version != expected {
                    Miss::Conflict(to_u64(d, "session version", version)?)
                } else if row.opt_bytes(1)?.is_none() {
                    Miss::Legacy(self.record(key, &row, 0)?)
                } else {
                    // At the expected version, live and in two parts, yet the
                    // compare-and-set missed it: it cannot have been there then.
                    Miss::NotFound
                }
            }
        };
        match miss {
            Miss::NotFound => Err(self.not_found()),
            Miss::Conflict(at) => Err(Error::conflict(
                self.node.name(),
                format!("the session is at version {at}, not the expected {expected_version}"),
            )),
            Miss::Legacy(mut record) => {
                record.data = data.to_vec();
                record.version = next_version;
                let (meta, sealed) = self.seal_parts(key, &record)?;
                let args = [
                    Arg::Bytes(key.as_bytes()),
                    Arg::Int(expected),
                    Arg::Bytes(&sealed),
                    Arg::Int(next),
                    Arg::Int(now),
                    Arg::Bytes(&meta),
                ];
                if self
                    .node
                    .db
                    .execute(&self.sql.rewrite_legacy, &args)
                    .await?
                    == 1
                {
                    Ok(Some((record, None)))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Rewrites a meta sealed in plaintext or with an older key with the write key.
    /// Compared with the meta read, so a concurrent reseal is not undone; losing that
    /// race is fine, the other writer resealed it.
    async fn reseal_meta(&self, key: &IndexKey, old: &[u8], record: &SessionRecord) -> Result<()> {
        let meta = self.seal_meta(key, record)?;
        self.node
            .db
            .execute(
                &self.sql.reseal_meta,
                &[
                    Arg::Bytes(key.as_bytes()),
                    Arg::Bytes(old),
                    Arg::Bytes(&meta),
                ],
            )
            .await?;
        Ok(())
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
            let (meta, data) = self.seal_parts(&key, &record)?;
            let row = || NewRow {
                key: &key,
                subject: &subject,
                record: &record,
                meta: &meta,
                data: &data,
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
        let row = retrying!(self.node.db.fetch_optional(&self.sql.touch, &args).await)?;
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
        let next_version = expected_version
            .checked_add(1)
            .ok_or_else(|| Error::invalid_input(self.node.name(), "session version overflows"))?;
        // Sealed once, for the version it will have; thrown away if the version moved.
        let sealed = self.seal_data(&key, next_version, &data)?;
        for _ in 0..MAX_UPDATE_ROUNDS {
            let updated = retrying!(
                self.try_update(&key, expected_version, next_version, &sealed, &data)
                    .await
            )?;
            if let Some((record, reseal)) = updated {
                if let Some(old) = reseal {
                    // The update is done whatever happens here: a reseal that fails is
                    // tried again by the session's next update, and until then the
                    // meta reads as it did before.
                    let _ = retrying!(self.reseal_meta(&key, &old, &record).await);
                }
                return Ok(record);
            }
        }
        Err(Error::unavailable(
            self.node.name(),
            "session update: the session kept changing under it; try again",
        ))
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
                let record = self.record(&old_key, &row, 0)?;
                // Columns: READ_COLUMNS, then subject_hash.
                let subject = index_key(self.node.dialect(), &row.hash(7)?)?;
                for _ in 0..MAX_ID_ATTEMPTS {
                    let new_id = SessionId::generate()?;
                    let new_key = self.id_key(&new_id);
                    // The associated data binds both parts to their key: sealed again.
                    let (meta, data) = self.seal_parts(&new_key, &record)?;
                    let inserted = self
                        .insert(
                            &mut Exec::Tx(&mut tx),
                            NewRow {
                                key: &new_key,
                                subject: &subject,
                                record: &record,
                                meta: &meta,
                                data: &data,
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
