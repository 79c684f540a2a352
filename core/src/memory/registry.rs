//! [`SessionRegistry`] in memory: participants keyed by the keyed hash of their subject
//! followed by the keyed hash of (session reference, partner), so one ordered range
//! holds a subject's participants.

use async_trait::async_trait;

use super::table::{Row, Table, lock, purge_in_batches};
use super::{BACKEND, Node, pair_bytes};
use crate::contract::Contract;
use crate::contracts::{Participant, Purge, PurgePolicy, PurgeReport, SessionRegistry};
use crate::error::{Error, Result};

/// The hashing domain of subjects in the registry.
const SUBJECT_DOMAIN: &str = crate::domains::REGISTRY_SUBJECT;
/// The hashing domain of (session reference, partner id) pairs.
const PARTICIPANT_DOMAIN: &str = crate::domains::REGISTRY_PARTICIPANT;

/// Subject hash ‖ participant hash.
type RegistryKey = [u8; 64];

/// Participant rows, expiring with their sessions.
#[derive(Debug)]
pub(super) struct RegistryTable(pub(super) Table<RegistryKey>);

impl Default for RegistryTable {
    fn default() -> Self {
        RegistryTable(Table::new("registry"))
    }
}

/// The first and last keys a subject's rows can have.
fn subject_range(subject: &[u8; 32]) -> std::ops::RangeInclusive<RegistryKey> {
    let mut low = [0u8; 64];
    let mut high = [0xffu8; 64];
    low[..32].copy_from_slice(subject);
    high[..32].copy_from_slice(subject);
    low..=high
}

/// The memory [`SessionRegistry`].
#[derive(Debug)]
pub(super) struct MemorySessionRegistry(pub(super) Node);

impl MemorySessionRegistry {
    fn subject_hash(&self, subject: &str) -> Result<[u8; 32]> {
        self.0
            .config
            .limits
            .check_key("registry subject", subject)?;
        Ok(*self
            .0
            .config
            .hash(SUBJECT_DOMAIN, subject.as_bytes())
            .as_bytes())
    }

    fn key(&self, subject: &[u8; 32], session_ref: &str, partner_id: &str) -> Result<RegistryKey> {
        let limits = &self.0.config.limits;
        limits.check_key("registry session reference", session_ref)?;
        limits.check_key("registry partner id", partner_id)?;
        let participant = self
            .0
            .config
            .hash(PARTICIPANT_DOMAIN, &pair_bytes(session_ref, partner_id));
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(subject);
        key[32..].copy_from_slice(participant.as_bytes());
        Ok(key)
    }

    fn open(&self, key: &RegistryKey, blob: &[u8]) -> Result<Participant> {
        self.0.unseal(Contract::Registry, key, blob)
    }
}

#[async_trait]
impl SessionRegistry for MemorySessionRegistry {
    async fn register(&self, subject: &str, participant: Participant) -> Result<()> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, &participant.session_ref, &participant.partner_id)?;
        let limits = &self.0.config.limits;
        if let Some(index) = &participant.session_index
            && index.len() > limits.max_key_bytes
        {
            return Err(Error::invalid_input(
                BACKEND,
                format!(
                    "registry session index is {} bytes, over the maximum of {} bytes",
                    index.len(),
                    limits.max_key_bytes
                ),
            ));
        }
        let now = self.0.config.now();
        if participant.expires_at <= now {
            return Err(Error::invalid_input(
                BACKEND,
                "registry expires_at is at or before now: the session has already ended",
            ));
        }
        limits.check_ttl(
            "registry entry lifetime",
            participant.expires_at.duration_since(now),
        )?;
        let expires_at = participant.expires_at;
        let blob = self.0.seal(Contract::Registry, &key, &participant)?;
        // Same session reference and partner → same key: the entry is replaced.
        lock(&self.0.space.registry)?.0.insert(
            key,
            Row {
                expires_at,
                last_activity: None,
                meta: (),
                blob,
            },
        );
        Ok(())
    }

    async fn participants(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.0.config.now();
        let table = lock(&self.0.space.registry)?;
        table
            .0
            .range(subject_range(&subject))
            .filter(|(_, row)| row.is_live_at(now))
            .map(|(key, row)| self.open(key, &row.blob))
            .collect()
    }

    async fn remove(&self, subject: &str, session_ref: &str, partner_id: &str) -> Result<bool> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, session_ref, partner_id)?;
        let now = self.0.config.now();
        let mut table = lock(&self.0.space.registry)?;
        Ok(table.0.remove(&key).is_some_and(|row| row.is_live_at(now)))
    }

    async fn remove_all(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.0.config.now();
        // Read and remove under one lock: of concurrent calls, each participant is
        // returned by exactly one.
        let mut table = lock(&self.0.space.registry)?;
        let mut keys = Vec::new();
        let mut live = Vec::new();
        for (key, row) in table.0.range(subject_range(&subject)) {
            keys.push(*key);
            if row.is_live_at(now) {
                live.push(self.open(key, &row.blob)?);
            }
        }
        // Every record opened before anything is removed: a corrupt one fails the call
        // and leaves the subject's registry as it was.
        for key in &keys {
            table.0.remove(key);
        }
        Ok(live)
    }
}

#[async_trait]
impl Purge for MemorySessionRegistry {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge_in_batches(
            &self.0.space.registry,
            &self.0.config.clock,
            policy,
            |table, cutoff, limit| table.0.purge_batch(cutoff, limit).len(),
        )
    }
}
