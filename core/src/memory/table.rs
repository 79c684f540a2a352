//! The one storage shape every memory store is built from: a table of sealed records
//! with the plaintext metadata a server would index (expiry, last activity, index
//! links), plus the hash → hashes index used for subjects and grants, and the batched
//! purge loop.
//!
//! Nothing in here ever sees a raw handle, id, token or subject: keys are keyed hashes
//! (or a feed sequence number) and values are sealed envelopes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use crate::codec::IndexKey;
use crate::contracts::{PurgeCriterion, PurgePolicy, PurgeReport};
use crate::error::{Error, Result};
use crate::time::{SharedClock, Timestamp};

use super::BACKEND;

/// The key of a row, as the "server" stores it.
pub(super) trait RowKey: Ord + Clone {
    /// The bytes the record is sealed against (its associated data) and dumped under.
    fn storage_key(&self) -> Cow<'_, [u8]>;
}

impl RowKey for IndexKey {
    fn storage_key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

/// Change-feed rows are keyed by their sequence number.
impl RowKey for u64 {
    fn storage_key(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.to_be_bytes().to_vec())
    }
}

/// Two hashes side by side (registry: subject hash then participant hash), so that one
/// ordered range holds all of a subject's rows.
impl RowKey for [u8; 64] {
    fn storage_key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

/// One stored record.
#[derive(Debug, Clone)]
pub(super) struct Row<M> {
    /// The record is gone at this time (exclusive); [`Timestamp::MAX`] for "never".
    pub expires_at: Timestamp,
    /// The last activity, for a `LastActivity` purge (sessions only).
    pub last_activity: Option<Timestamp>,
    /// Plaintext index links a server would keep as columns (keyed hashes only), so
    /// that indexes can be pruned without opening the record.
    pub meta: M,
    /// The sealed envelope.
    pub blob: Vec<u8>,
}

impl<M> Row<M> {
    /// Whether a read at `now` may return this record.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// A table of sealed rows, with the expiry and last-activity indexes purge walks in
/// order (the "index on expiry" of the SQL backend, the sorted set of the Redis one).
///
/// Every mutation goes through [`Table::insert`] and [`Table::remove`], which keep the
/// indexes in step with the rows.
#[derive(Debug)]
pub(super) struct Table<K, M = ()> {
    /// The name used for this table in [`super::RawEntry`] keys.
    name: &'static str,
    rows: BTreeMap<K, Row<M>>,
    by_expiry: BTreeSet<(Timestamp, K)>,
    by_activity: BTreeSet<(Timestamp, K)>,
}

/// What a batch may delete: records at or before these times.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cutoff {
    /// Records whose expiry is at or before this are dead.
    pub expiry: Timestamp,
    /// Records whose last activity is at or before this are dead (`LastActivity`).
    pub idle: Option<Timestamp>,
}

impl Cutoff {
    /// The cutoff of `policy` at `now`.
    fn new(policy: &PurgePolicy, now: Timestamp) -> Self {
        let expiry = now.saturating_sub(policy.offset);
        let idle = match policy.criterion {
            PurgeCriterion::Expiry => None,
            PurgeCriterion::LastActivity { max_idle } => Some(expiry.saturating_sub(max_idle)),
        };
        Cutoff { expiry, idle }
    }
}

impl<K: RowKey, M> Table<K, M> {
    /// An empty table called `name`.
    pub fn new(name: &'static str) -> Self {
        Table {
            name,
            rows: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            by_activity: BTreeSet::new(),
        }
    }

    /// The row under `key` if a read at `now` may return it.
    pub fn live(&self, key: &K, now: Timestamp) -> Option<&Row<M>> {
        self.rows.get(key).filter(|row| row.is_live_at(now))
    }

    /// The row under `key`, live or not.
    pub fn get(&self, key: &K) -> Option<&Row<M>> {
        self.rows.get(key)
    }

    /// Stores `row` under `key`, replacing (and returning) any row there.
    pub fn insert(&mut self, key: K, row: Row<M>) -> Option<Row<M>> {
        let old = self.remove(&key);
        self.by_expiry.insert((row.expires_at, key.clone()));
        if let Some(t) = row.last_activity {
            self.by_activity.insert((t, key.clone()));
        }
        self.rows.insert(key, row);
        old
    }

    /// Removes and returns the row under `key`, live or not.
    pub fn remove(&mut self, key: &K) -> Option<Row<M>> {
        let row = self.rows.remove(key)?;
        self.unindex(key, &row);
        Some(row)
    }

    /// Rows whose keys lie in `range`, in key order.
    pub fn range<R>(&self, range: R) -> impl Iterator<Item = (&K, &Row<M>)>
    where
        R: std::ops::RangeBounds<K>,
    {
        self.rows.range(range)
    }

    /// Every row, live or not, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Row<M>)> {
        self.rows.iter()
    }

    /// Every row's sealed envelope, for the tamper harness.
    pub fn blobs_mut(&mut self) -> impl Iterator<Item = &mut Vec<u8>> {
        self.rows.values_mut().map(|row| &mut row.blob)
    }

    /// The table's name in dumps.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Deletes up to `limit` rows that are dead under `cutoff`, soonest-expired first,
    /// and returns them (so the caller can prune its indexes).
    ///
    /// Walks the expiry index (and, for `LastActivity`, the last-activity index) from
    /// the oldest entry, so a batch costs O(limit · log n) however large the table is.
    pub fn purge_batch(&mut self, cutoff: Cutoff, limit: usize) -> Vec<(K, Row<M>)> {
        let mut dead: BTreeSet<K> = self
            .by_expiry
            .iter()
            .take_while(|(t, _)| *t <= cutoff.expiry)
            .take(limit)
            .map(|(_, k)| k.clone())
            .collect();
        if let Some(idle) = cutoff.idle {
            for (_, k) in self.by_activity.iter().take_while(|(t, _)| *t <= idle) {
                if dead.len() >= limit {
                    break;
                }
                dead.insert(k.clone());
            }
        }
        dead.into_iter()
            .filter_map(|k| self.remove(&k).map(|row| (k, row)))
            .collect()
    }

    /// Drops `row`'s entries from the expiry and last-activity indexes.
    fn unindex(&mut self, key: &K, row: &Row<M>) {
        self.by_expiry.remove(&(row.expires_at, key.clone()));
        if let Some(t) = row.last_activity {
            self.by_activity.remove(&(t, key.clone()));
        }
    }
}

/// A secondary index: one keyed hash (a subject, a grant) → the keyed hashes of the
/// records that belong to it. Empty sets are dropped, so the index holds nothing for an
/// owner with no records.
#[derive(Debug)]
pub(super) struct Index {
    /// The name used for this index in [`super::RawEntry`] keys.
    name: &'static str,
    members: BTreeMap<IndexKey, BTreeSet<IndexKey>>,
}

impl Index {
    /// An empty index called `name`.
    pub fn new(name: &'static str) -> Self {
        Index {
            name,
            members: BTreeMap::new(),
        }
    }

    /// Adds `member` to `owner`'s set.
    pub fn add(&mut self, owner: IndexKey, member: IndexKey) {
        self.members.entry(owner).or_default().insert(member);
    }

    /// Removes `member` from `owner`'s set, dropping the set once it is empty.
    pub fn remove(&mut self, owner: &IndexKey, member: &IndexKey) {
        if let Some(set) = self.members.get_mut(owner) {
            set.remove(member);
            if set.is_empty() {
                self.members.remove(owner);
            }
        }
    }

    /// `owner`'s members, in hash order.
    pub fn members(&self, owner: &IndexKey) -> Vec<IndexKey> {
        self.members
            .get(owner)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every owner with its members, for dumps.
    pub fn iter(&self) -> impl Iterator<Item = (&IndexKey, &BTreeSet<IndexKey>)> {
        self.members.iter()
    }

    /// The index's name in dumps.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Takes `mutex`, turning poisoning into an error instead of a panic.
///
/// A poisoned lock means a thread panicked halfway through an operation; the data may
/// be half-changed, so every later operation fails closed rather than trusting it.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    mutex.lock().map_err(|_| {
        Error::unexpected(
            BACKEND,
            "a thread panicked while holding the store's lock; the in-memory data can no \
             longer be trusted",
        )
    })
}

/// Runs a purge in batches of at most `policy.batch_size`, taking the lock once per
/// batch so that foreground operations never wait longer than one batch.
///
/// `batch` deletes up to `limit` dead records from the state (all of a contract's
/// tables, in its order) and returns how many it deleted. A batch that deletes nothing
/// ends the purge and is not counted; a batch that deletes fewer than `limit` is the
/// last one.
pub(super) fn purge_in_batches<S>(
    mutex: &Mutex<S>,
    clock: &SharedClock,
    policy: &PurgePolicy,
    mut batch: impl FnMut(&mut S, Cutoff, usize) -> usize,
) -> Result<PurgeReport> {
    if policy.batch_size == 0 {
        return Err(Error::invalid_input(
            BACKEND,
            "purge batch_size is zero: a purge would never make progress",
        ));
    }
    let limit = usize::try_from(policy.batch_size).unwrap_or(usize::MAX);
    let mut report = PurgeReport::default();
    loop {
        if policy.max_batches.is_some_and(|max| report.batches >= max) {
            break;
        }
        // The clock is read per batch: a long purge keeps up with a moving clock.
        let cutoff = Cutoff::new(policy, clock.now());
        let deleted = {
            let mut state = lock(mutex)?;
            batch(&mut state, cutoff, limit)
        };
        if deleted == 0 {
            break;
        }
        report.batches += 1;
        // Rows are only looked at through the expiry indexes, so every row a batch
        // examines is one it deletes.
        report.examined += deleted as u64;
        report.deleted += deleted as u64;
        if deleted < limit {
            break;
        }
    }
    Ok(report)
}
