//! [`RevocationStore`] in memory: SRI and subject revocations under their keyed hashes,
//! and a change feed numbered per namespace.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::table::{Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node, index_key_from_bytes};
use crate::codec::IndexKey;
use crate::contract::Contract;
use crate::contracts::{
    ChangeBatch, Purge, PurgePolicy, PurgeReport, REVOCATION_SRI_DOMAIN, REVOCATION_SUBJECT_DOMAIN,
    RevocationChange, RevocationStore, RevocationTarget,
};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// The three tables of the revocation store and the feed's counter.
///
/// A revocation is one record (an SRI or a subject row); its changes in the feed belong
/// to it, the way index entries belong to a record: the row keeps their sequence
/// numbers, and purging the row removes them. So purge counts revocations, not feed
/// entries, and a feed entry never outlives its revocation's record.
#[derive(Debug)]
pub(super) struct RevocationTables {
    pub(super) sris: Table<IndexKey, FeedSeqs>,
    pub(super) subjects: Table<IndexKey, FeedSeqs>,
    pub(super) feed: Table<u64>,
    /// The last sequence number handed out. It only grows, even when purge empties the
    /// feed, so a cursor never sees a number twice.
    last_seq: u64,
}

/// The feed entries a revocation row made (plaintext sequence numbers).
pub(super) type FeedSeqs = Vec<u64>;

impl RevocationTables {
    /// Drops the feed entries of a removed or replaced row.
    fn drop_changes(&mut self, seqs: &[u64]) {
        for seq in seqs {
            self.feed.remove(seq);
        }
    }

    /// The feed entries of the row under `key` in `table`, to carry over when it is
    /// rewritten. Carried even if the row has expired: the feed lists every change
    /// until purge removes it with its record.
    fn carried(&self, subjects: bool, key: &IndexKey) -> FeedSeqs {
        let table = if subjects { &self.subjects } else { &self.sris };
        table
            .get(key)
            .map(|row| row.meta.clone())
            .unwrap_or_default()
    }
}

impl Default for RevocationTables {
    fn default() -> Self {
        RevocationTables {
            sris: Table::new(REVOCATION_SRI_DOMAIN),
            subjects: Table::new(REVOCATION_SUBJECT_DOMAIN),
            feed: Table::new("revocation.feed"),
            last_seq: 0,
        }
    }
}

/// What is sealed for a revoked SRI.
#[derive(Serialize, Deserialize)]
struct SriRevocation {
    until: Timestamp,
}

/// What is sealed for a revoked subject.
#[derive(Serialize, Deserialize)]
struct SubjectRevocation {
    before: Timestamp,
    until: Timestamp,
}

/// What is sealed for one change of the feed.
#[derive(Serialize, Deserialize)]
struct StoredChange {
    target: StoredTarget,
    until: Timestamp,
}

/// [`RevocationTarget`] in a serializable form (`IndexKey` is not `Serialize`).
#[derive(Serialize, Deserialize)]
enum StoredTarget {
    Session([u8; 32]),
    Subject {
        subject: [u8; 32],
        before: Timestamp,
    },
}

impl StoredTarget {
    fn from_target(target: RevocationTarget) -> Self {
        match target {
            RevocationTarget::Session(sri) => StoredTarget::Session(*sri.as_bytes()),
            RevocationTarget::Subject { subject, before } => StoredTarget::Subject {
                subject: *subject.as_bytes(),
                before,
            },
        }
    }

    fn into_target(self) -> Result<RevocationTarget> {
        Ok(match self {
            StoredTarget::Session(sri) => RevocationTarget::Session(index_key_from_bytes(&sri)?),
            StoredTarget::Subject { subject, before } => RevocationTarget::Subject {
                subject: index_key_from_bytes(&subject)?,
                before,
            },
        })
    }
}

/// A row that expires at `until`.
fn row<M>(until: Timestamp, meta: M, blob: Vec<u8>) -> Row<M> {
    Row {
        expires_at: until,
        last_activity: None,
        meta,
        blob,
    }
}

/// The memory [`RevocationStore`].
#[derive(Debug)]
pub(super) struct MemoryRevocationStore(pub(super) Node);

impl MemoryRevocationStore {
    fn sri_key(&self, sri: &str) -> Result<IndexKey> {
        self.0
            .config
            .limits
            .check_key("session reference id", sri)?;
        Ok(self.0.config.hash(REVOCATION_SRI_DOMAIN, sri.as_bytes()))
    }

    fn subject_key(&self, subject: &str) -> Result<IndexKey> {
        self.0
            .config
            .limits
            .check_key("revocation subject", subject)?;
        Ok(self
            .0
            .config
            .hash(REVOCATION_SUBJECT_DOMAIN, subject.as_bytes()))
    }

    /// Refuses an `until` at or before `now`.
    fn check_until(until: Timestamp, now: Timestamp) -> Result<()> {
        if until <= now {
            return Err(Error::invalid_input(
                BACKEND,
                "revocation until is at or before now: it would never be in force",
            ));
        }
        Ok(())
    }

    /// Appends a change to the feed (under the caller's lock, so feed order is the
    /// order the revocations were made in); returns its sequence number.
    fn append(
        &self,
        tables: &mut RevocationTables,
        target: RevocationTarget,
        until: Timestamp,
    ) -> Result<u64> {
        let seq = tables.last_seq + 1;
        let change = StoredChange {
            target: StoredTarget::from_target(target),
            until,
        };
        let blob = self
            .0
            .seal(Contract::Revocation, &seq.to_be_bytes(), &change)?;
        tables.feed.insert(seq, row(until, (), blob));
        tables.last_seq = seq;
        Ok(seq)
    }
}

#[async_trait]
impl RevocationStore for MemoryRevocationStore {
    async fn revoke(&self, sri: &str, until: Timestamp) -> Result<()> {
        let key = self.sri_key(sri)?;
        let now = self.0.config.now();
        Self::check_until(until, now)?;
        let mut tables = lock(&self.0.space.revocations)?;
        let until = match tables.sris.live(&key, now) {
            Some(row) => {
                let old: SriRevocation =
                    self.0
                        .unseal(Contract::Revocation, key.as_bytes(), &row.blob)?;
                // Never shortened: the later `until` wins.
                old.until.max(until)
            }
            None => until,
        };
        let blob = self.0.seal(
            Contract::Revocation,
            key.as_bytes(),
            &SriRevocation { until },
        )?;
        let mut seqs = tables.carried(false, &key);
        seqs.push(self.append(&mut tables, RevocationTarget::Session(key), until)?);
        tables.sris.insert(key, row(until, seqs, blob));
        Ok(())
    }

    async fn is_revoked(&self, sri: &str, subject: &str, issued_at: Timestamp) -> Result<bool> {
        let sri_key = self.sri_key(sri)?;
        let subject_key = self.subject_key(subject)?;
        let now = self.0.config.now();
        let tables = lock(&self.0.space.revocations)?;
        if let Some(row) = tables.sris.live(&sri_key, now) {
            let _: SriRevocation =
                self.0
                    .unseal(Contract::Revocation, sri_key.as_bytes(), &row.blob)?;
            return Ok(true);
        }
        if let Some(row) = tables.subjects.live(&subject_key, now) {
            let revocation: SubjectRevocation =
                self.0
                    .unseal(Contract::Revocation, subject_key.as_bytes(), &row.blob)?;
            return Ok(issued_at < revocation.before);
        }
        Ok(false)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        before: Timestamp,
        until: Timestamp,
    ) -> Result<()> {
        let key = self.subject_key(subject)?;
        let now = self.0.config.now();
        Self::check_until(until, now)?;
        let mut tables = lock(&self.0.space.revocations)?;
        let revocation = match tables.subjects.live(&key, now) {
            Some(row) => {
                let old: SubjectRevocation =
                    self.0
                        .unseal(Contract::Revocation, key.as_bytes(), &row.blob)?;
                // One record per subject keeps the latest cutoff and the latest end.
                SubjectRevocation {
                    before: old.before.max(before),
                    until: old.until.max(until),
                }
            }
            None => SubjectRevocation { before, until },
        };
        let blob = self
            .0
            .seal(Contract::Revocation, key.as_bytes(), &revocation)?;
        let mut seqs = tables.carried(true, &key);
        seqs.push(self.append(
            &mut tables,
            RevocationTarget::Subject {
                subject: key,
                before: revocation.before,
            },
            revocation.until,
        )?);
        tables
            .subjects
            .insert(key, row(revocation.until, seqs, blob));
        Ok(())
    }

    async fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangeBatch> {
        let tables = lock(&self.0.space.revocations)?;
        let mut changes = Vec::new();
        // Every change is listed until purge removes it with its revocation, even after
        // its `until`: a cache that missed it learns the revocation existed, and drops
        // it by its `until` itself.
        let page = tables.feed.range(cursor.saturating_add(1)..).take(limit);
        for (&seq, row) in page {
            let change: StoredChange =
                self.0
                    .unseal(Contract::Revocation, &seq.to_be_bytes(), &row.blob)?;
            changes.push(RevocationChange {
                seq,
                target: change.target.into_target()?,
                until: change.until,
            });
        }
        let cursor = changes.last().map_or(cursor, |c| c.seq);
        Ok(ChangeBatch { changes, cursor })
    }
}

#[async_trait]
impl Purge for MemoryRevocationStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.revocations,
            &self.0.config.clock,
            policy,
            |tables, cutoff, limit| {
                let mut removed = tables.sris.purge_batch(cutoff, limit);
                let room = limit - removed.len();
                removed.extend(tables.subjects.purge_batch(cutoff, room));
                for (_, row) in &removed {
                    tables.drop_changes(&row.meta);
                }
                removed.len()
            },
        )
    }
}
