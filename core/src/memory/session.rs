//! [`SessionStore`] in memory: sessions under the keyed hash of their id, indexed by the
//! keyed hash of their subject.

use async_trait::async_trait;

use super::table::{Index, Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{
    NewSession, Purge, PurgePolicy, PurgeReport, Session, SessionRecord, SessionStore,
    SessionSummary,
};
use crate::error::{Error, Result};
use crate::id::SessionId;

/// The hashing domain of session ids.
const ID_DOMAIN: &str = crate::domains::SESSION_ID;
/// The hashing domain of subjects in the session index.
const SUBJECT_DOMAIN: &str = crate::domains::SESSION_SUBJECT;

/// How many fresh ids `create` and `rotate_id` try before giving up. With 256 random
/// bits a single collision already means a broken random source.
const MAX_ID_ATTEMPTS: usize = 4;

/// The session rows (meta: the subject hash, to prune the index without opening the
/// record) and the subject → session ids index.
#[derive(Debug)]
pub(super) struct SessionTables {
    pub(super) sessions: Table<IndexKey, IndexKey>,
    pub(super) by_subject: Index,
}

impl Default for SessionTables {
    fn default() -> Self {
        SessionTables {
            sessions: Table::new("session"),
            by_subject: Index::new(SUBJECT_DOMAIN),
        }
    }
}

impl SessionTables {
    /// Stores a sealed session and indexes it under its subject.
    fn put(&mut self, key: IndexKey, subject: IndexKey, record: &SessionRecord, blob: Vec<u8>) {
        self.by_subject.add(subject, key);
        self.sessions
            .insert(key, session_row(subject, record, blob));
    }

    /// Removes a session (live or not) and its index entry; returns the row.
    fn delete(&mut self, key: &IndexKey) -> Option<Row<IndexKey>> {
        let row = self.sessions.remove(key)?;
        self.by_subject.remove(&row.meta, key);
        Some(row)
    }
}

/// The row for `record`: its effective expiry and last activity in the clear, as a
/// server indexes them.
fn session_row(subject: IndexKey, record: &SessionRecord, blob: Vec<u8>) -> Row<IndexKey> {
    Row {
        expires_at: record.effective_expiry(),
        last_activity: Some(record.last_activity),
        meta: subject,
        blob,
    }
}

/// The memory [`SessionStore`].
#[derive(Debug)]
pub(super) struct MemorySessionStore(pub(super) Node);

impl MemorySessionStore {
    fn id_key(&self, id: &SessionId) -> IndexKey {
        self.0.config.hash(ID_DOMAIN, id.expose().as_bytes())
    }

    fn subject_key(&self, subject: &str) -> IndexKey {
        self.0.config.hash(SUBJECT_DOMAIN, subject.as_bytes())
    }

    fn open(&self, key: &IndexKey, blob: &[u8]) -> Result<SessionRecord> {
        self.0.unseal(Contract::Session, key.as_bytes(), blob)
    }

    fn seal(&self, key: &IndexKey, record: &SessionRecord) -> Result<Vec<u8>> {
        self.0.seal(Contract::Session, key.as_bytes(), record)
    }
}

/// The error after [`MAX_ID_ATTEMPTS`] colliding ids.
fn ids_exhausted() -> Error {
    Error::unexpected(
        BACKEND,
        "every freshly generated session id collided with a stored one; the random source \
         cannot be trusted",
    )
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, new: NewSession) -> Result<Session> {
        let config = &self.0.config;
        config.limits.check_key("session subject", &new.subject)?;
        config
            .limits
            .check_payload("session data", new.data.len())?;
        config.limits.check_ttl("session lifetime", new.lifetime)?;
        if let Some(idle) = new.idle_timeout {
            config.limits.check_ttl("session idle timeout", idle)?;
        }
        let now = config.now();
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
            // Sealed before taking the lock: the blob only depends on the new id.
            let blob = self.seal(&key, &record)?;
            let mut tables = lock(&self.0.space.sessions)?;
            // Any row under this hash, even an expired one, means a collision: retry
            // with a new id rather than overwrite.
            if tables.sessions.get(&key).is_some() {
                continue;
            }
            tables.put(key, subject, &record, blob);
            return Ok(Session { id, record });
        }
        Err(ids_exhausted())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let now = self.0.config.now();
        let tables = lock(&self.0.space.sessions)?;
        match tables.sessions.live(&key, now) {
            Some(row) => self.open(&key, &row.blob).map(Some),
            None => Ok(None),
        }
    }

    async fn touch(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.sessions)?;
        let Some(row) = tables.sessions.live(&key, now) else {
            return Ok(None);
        };
        let subject = row.meta;
        let mut record = self.open(&key, &row.blob)?;
        // `effective_expiry` caps the idle end at the absolute end, so no touch keeps
        // the session past its lifetime.
        record.last_activity = now;
        let blob = self.seal(&key, &record)?;
        tables
            .sessions
            .insert(key, session_row(subject, &record, blob));
        Ok(Some(record))
    }

    async fn update(
        &self,
        id: &SessionId,
        expected_version: u64,
        data: Vec<u8>,
    ) -> Result<SessionRecord> {
        self.0
            .config
            .limits
            .check_payload("session data", data.len())?;
        let key = self.id_key(id);
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.sessions)?;
        let Some(row) = tables.sessions.live(&key, now) else {
            return Err(Error::not_found(
                BACKEND,
                "no live session with this id (unknown, deleted or expired)",
            ));
        };
        let subject = row.meta;
        // The version is compared as read from the sealed record, so the compare-and-set
        // decision rests on authenticated data.
        let mut record = self.open(&key, &row.blob)?;
        if record.version != expected_version {
            return Err(Error::conflict(
                BACKEND,
                format!(
                    "the session is at version {}, not the expected {expected_version}",
                    record.version
                ),
            ));
        }
        record.data = data;
        record.version += 1;
        let blob = self.seal(&key, &record)?;
        tables
            .sessions
            .insert(key, session_row(subject, &record, blob));
        Ok(record)
    }

    async fn rotate_id(&self, id: &SessionId) -> Result<Session> {
        let old_key = self.id_key(id);
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.sessions)?;
        let Some(row) = tables.sessions.live(&old_key, now) else {
            return Err(Error::not_found(
                BACKEND,
                "no live session with this id (unknown, deleted or expired)",
            ));
        };
        let subject = row.meta;
        let record = self.open(&old_key, &row.blob)?;
        for _ in 0..MAX_ID_ATTEMPTS {
            let new_id = SessionId::generate()?;
            let new_key = self.id_key(&new_id);
            if tables.sessions.get(&new_key).is_some() {
                continue;
            }
            // The associated data binds the blob to its key, so the record is sealed
            // again for the new one. Everything happens under one lock: no reader ever
            // sees both ids working, or neither.
            let blob = self.seal(&new_key, &record)?;
            tables.delete(&old_key);
            tables.put(new_key, subject, &record, blob);
            return Ok(Session { id: new_id, record });
        }
        Err(ids_exhausted())
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let key = self.id_key(id);
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.sessions)?;
        Ok(tables.delete(&key).is_some_and(|row| row.is_live_at(now)))
    }

    async fn list_by_subject(&self, subject: &str) -> Result<Vec<SessionSummary>> {
        self.0.config.limits.check_key("session subject", subject)?;
        let owner = self.subject_key(subject);
        let now = self.0.config.now();
        let tables = lock(&self.0.space.sessions)?;
        let mut out = Vec::new();
        for key in tables.by_subject.members(&owner) {
            if let Some(row) = tables.sessions.live(&key, now) {
                out.push(SessionSummary {
                    id_hash: key,
                    record: self.open(&key, &row.blob)?,
                });
            }
        }
        Ok(out)
    }

    async fn delete_by_subject(&self, subject: &str) -> Result<u64> {
        self.0.config.limits.check_key("session subject", subject)?;
        let owner = self.subject_key(subject);
        let now = self.0.config.now();
        let mut tables = lock(&self.0.space.sessions)?;
        let mut ended = 0;
        // Expired sessions of the subject go too (a purge would take them anyway), but
        // only live ones are counted.
        for key in tables.by_subject.members(&owner) {
            if tables.delete(&key).is_some_and(|row| row.is_live_at(now)) {
                ended += 1;
            }
        }
        Ok(ended)
    }
}

#[async_trait]
impl Purge for MemorySessionStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.sessions,
            &self.0.config.clock,
            policy,
            |tables, cutoff, limit| {
                let removed = tables.sessions.purge_batch(cutoff, limit);
                for (key, row) in &removed {
                    tables.by_subject.remove(&row.meta, key);
                }
                removed.len()
            },
        )
    }
}
