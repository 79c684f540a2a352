//! [`SessionRegistry`] on Redis: one hash per subject under the keyed hash of the
//! subject; each field is the keyed hash of a participant (session reference and
//! partner), each value its expiry and the sealed participant (`<expiry> <sealed>`).
//!
//! | operation | commands |
//! |-----------|----------|
//! | `register` | 1 script (`registry_register`) |
//! | `participants` | 1 `HGETALL` |
//! | `remove` | 1 script (`registry_remove`) |
//! | `remove_all` | `HGETALL` + 1 script (`registry_remove_all`, which removes the registry only as read) |
//!
//! `remove_all` reads and opens every participant before it removes anything, as the
//! memory backend does: a damaged entry fails the call and leaves the registry as it
//! was, rather than losing the logout requests of the others.

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Contract, Error, Participant, Purge, PurgePolicy, PurgeReport, Result, SessionRegistry,
};

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, check_time, pair_bytes, reply};
use crate::keys::Code;
use crate::purge::{self, Kind};
use crate::scripts::{REGISTRY_REGISTER, REGISTRY_REMOVE, REGISTRY_REMOVE_ALL};

/// The hashing domain of subjects in the registry (as in the memory backend).
const SUBJECT_DOMAIN: &str = "registry.subject";
/// The hashing domain of (session reference, partner id) pairs.
const PARTICIPANT_DOMAIN: &str = "registry.participant";

/// How often `remove_all` reads again because the registry changed under it.
const MAX_ROUNDS: usize = 32;

/// One stored entry: its field (participant hash) and value (`<expiry> <sealed>`).
type Entry = (Vec<u8>, Vec<u8>);

/// The Redis [`SessionRegistry`].
#[derive(Debug)]
pub(crate) struct RedisSessionRegistry(pub(crate) Node);

impl RedisSessionRegistry {
    fn subject_hash(&self, subject: &str) -> Result<IndexKey> {
        self.0
            .config
            .limits
            .check_key("registry subject", subject)?;
        Ok(self.0.hash(SUBJECT_DOMAIN, subject.as_bytes()))
    }

    fn participant_hash(&self, session_ref: &str, partner_id: &str) -> Result<IndexKey> {
        let limits = &self.0.config.limits;
        limits.check_key("registry session reference", session_ref)?;
        limits.check_key("registry partner id", partner_id)?;
        Ok(self
            .0
            .hash(PARTICIPANT_DOMAIN, &pair_bytes(session_ref, partner_id)))
    }

    /// The record's storage key (subject hash ‖ participant hash): its associated data.
    fn row_key(subject: &IndexKey, participant: &[u8]) -> Vec<u8> {
        let mut key = subject.as_bytes().to_vec();
        key.extend_from_slice(participant);
        key
    }

    /// The subject's registry.
    fn keys(&self, subject: &IndexKey) -> [String; 1] {
        [self.0.keys.record(Code::Registry, subject)]
    }

    /// Every stored entry of the subject (one `HGETALL`), in participant-hash order.
    async fn entries(&self, subject: &IndexKey) -> Result<Vec<Entry>> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.0.keys.record(Code::Registry, subject));
        let flat = reply::array(self.0.query(&cmd, Write::No).await?, "registry read")?;
        let mut entries = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(field), Some(value)) = (it.next(), it.next()) {
            entries.push((
                reply::bytes(field, "registry field")?,
                reply::bytes(value, "registry entry")?,
            ));
        }
        entries.sort();
        Ok(entries)
    }

    /// Opens an entry if it is live at `now`.
    fn open_live(
        &self,
        subject: &IndexKey,
        entry: &Entry,
        now: i64,
    ) -> Result<Option<Participant>> {
        let (field, value) = entry;
        let (expiry, sealed) = split_entry(value)?;
        if expiry <= now {
            return Ok(None);
        }
        let participant: Participant =
            self.0
                .unseal(Contract::Registry, &Self::row_key(subject, field), sealed)?;
        if participant.expires_at.as_millis() != expiry {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "registry record: the stored expiry disagrees with the sealed participant",
            ));
        }
        Ok(Some(participant))
    }
}

/// `<expiry> <sealed>` → (expiry, sealed).
fn split_entry(value: &[u8]) -> Result<(i64, &[u8])> {
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| reply::malformed("registry entry"))?;
    let expiry = reply::parse_int(&value[..space], "registry entry expiry")?;
    Ok((expiry, &value[space + 1..]))
}

#[async_trait]
impl SessionRegistry for RedisSessionRegistry {
    async fn register(&self, subject: &str, participant: Participant) -> Result<()> {
        let subject = self.subject_hash(subject)?;
        let field = self.participant_hash(&participant.session_ref, &participant.partner_id)?;
        let limits = &self.0.config.limits;
        if let Some(index) = &participant.session_index
            && index.len() > limits.max_key_bytes
        {
            return Err(Error::invalid_input(
                BACKEND_NAME,
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
                BACKEND_NAME,
                "registry expires_at is at or before now: the session has already ended",
            ));
        }
        limits.check_ttl(
            "registry entry lifetime",
            participant.expires_at.duration_since(now),
        )?;
        let expires_at = check_time(participant.expires_at, "registry expires_at")?;
        let row = Self::row_key(&subject, field.as_bytes());
        let sealed = self.0.seal(Contract::Registry, &row, &participant)?;
        let args = Args::new()
            .int(now.as_millis())
            .int(self.0.grace())
            .bytes(field.as_bytes().to_vec())
            .int(expires_at)
            .bytes(sealed);
        // Same session reference and partner, same field: the entry is replaced.
        self.0
            .eval(&REGISTRY_REGISTER, &self.keys(&subject), args, Write::Yes)
            .await?;
        Ok(())
    }

    async fn participants(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.0.now();
        let mut out = Vec::new();
        for entry in self.entries(&subject).await? {
            if let Some(p) = self.open_live(&subject, &entry, now)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    async fn remove(&self, subject: &str, session_ref: &str, partner_id: &str) -> Result<bool> {
        let subject = self.subject_hash(subject)?;
        let field = self.participant_hash(session_ref, partner_id)?;
        let args = Args::new()
            .int(self.0.now())
            .bytes(field.as_bytes().to_vec());
        let removed = self
            .0
            .eval(&REGISTRY_REMOVE, &self.keys(&subject), args, Write::Yes)
            .await?;
        Ok(reply::int(&removed, "registry remove")? == 1)
    }

    async fn remove_all(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        for _ in 0..MAX_ROUNDS {
            let entries = self.entries(&subject).await?;
            if entries.is_empty() {
                return Ok(Vec::new());
            }
            let now = self.0.now();
            // Every entry opened before anything is removed: a damaged one fails the
            // call and leaves the registry as it was.
            let mut live = Vec::new();
            for entry in &entries {
                if let Some(p) = self.open_live(&subject, entry, now)? {
                    live.push(p);
                }
            }
            let mut args = Args::new();
            for (field, value) in entries {
                args.push(field);
                args.push(value);
            }
            let removed = self
                .0
                .eval(&REGISTRY_REMOVE_ALL, &self.keys(&subject), args, Write::Yes)
                .await?;
            // 0: the registry changed since the read (another caller removed it, or a
            // participant registered): read again.
            if reply::int(&removed, "registry remove_all")? == 1 {
                return Ok(live);
            }
        }
        Err(Error::unavailable(
            BACKEND_NAME,
            "registry remove_all: the registry kept changing under it; try again",
        ))
    }
}

#[async_trait]
impl Purge for RedisSessionRegistry {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Registry, Kind::Registry, policy).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_at_the_first_space() {
        let (e, sealed) = split_entry(b"123 a b").expect("splits");
        assert_eq!(e, 123);
        assert_eq!(sealed, b"a b");
        assert!(split_entry(b"nospace").is_err());
        assert!(split_entry(b"x1 a").is_err());
    }
}
