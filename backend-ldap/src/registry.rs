//! [`SessionRegistry`] on LDAP: one entry per participant under `ou=registry`, named by
//! the keyed hash of the subject followed by the keyed hash of (session reference,
//! partner), with the subject hash in the clear for the per-subject search.
//!
//! | operation      | LDAP operations                                                     |
//! |----------------|---------------------------------------------------------------------|
//! | `register`     | modify replacing the participant (1); add when there is none        |
//! | `participants` | one-level search on the subject hash and expiry                     |
//! | `remove`       | delete + pre-read of the expiry                                     |
//! | `remove_all`   | one-level search, then a delete + pre-read per participant: each is returned by the one caller whose delete succeeded |

use async_trait::async_trait;
use authstate_core::{
    Contract, Error, Participant, Purge, PurgePolicy, PurgeReport, Result, SessionRegistry,
};

use crate::BACKEND_NAME;
use crate::ber::Entry;
use crate::dir::{Added, Node, ReadBack, Written, at_or_before, live, replace, text};
use crate::schema::{attr, class};

/// The hashing domain of subjects in the registry (the memory backend's).
const SUBJECT_DOMAIN: &str = "registry.subject";
/// The hashing domain of (session reference, partner id) pairs.
const PARTICIPANT_DOMAIN: &str = "registry.participant";
const CONTAINER: &str = "registry";
const MAX_ATTEMPTS: usize = 4;

/// The LDAP [`SessionRegistry`].
#[derive(Debug)]
pub(crate) struct LdapSessionRegistry(pub(crate) Node);

/// Subject hash ‖ participant hash, the associated-data key of a participant record.
type RegistryKey = [u8; 64];

impl LdapSessionRegistry {
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
        let participant = self.0.config.hash(
            PARTICIPANT_DOMAIN,
            &crate::pair_bytes(session_ref, partner_id),
        );
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(subject);
        key[32..].copy_from_slice(participant.as_bytes());
        Ok(key)
    }

    fn dn(&self, key: &RegistryKey) -> String {
        self.0.dn(CONTAINER, &hex::encode(key))
    }

    /// Opens a participant entry found by a search (its key is in its RDN attribute).
    fn open(&self, entry: &Entry) -> Result<(RegistryKey, Participant)> {
        let key: RegistryKey = entry
            .text(attr::KEY)
            .and_then(|k| hex::decode(k).ok())
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                Error::corrupt(BACKEND_NAME, format!("{} has no valid key", entry.dn))
            })?;
        let participant = self
            .0
            .unseal(Contract::Registry, &key, entry.required(attr::DATA)?)?;
        Ok((key, participant))
    }
}

#[async_trait]
impl SessionRegistry for LdapSessionRegistry {
    async fn register(&self, subject: &str, participant: Participant) -> Result<()> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, &participant.session_ref, &participant.partner_id)?;
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
        let now = self.0.now();
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
        let expires_at = participant.expires_at.as_millis();
        let blob = self.0.seal(Contract::Registry, &key, &participant)?;
        let dn = self.dn(&key);
        // Same session reference and partner → same DN: the entry is replaced.
        for _ in 0..MAX_ATTEMPTS {
            let mut mods = vec![replace(attr::DATA, blob.clone())];
            mods.extend(self.0.set_expiry(expires_at));
            match self.0.modify(&dn, mods, None, ReadBack::None).await? {
                Written::Done(_) => return Ok(()),
                Written::AssertionFailed => {}
                Written::NoSuchObject => {
                    let mut attrs = vec![
                        ("objectClass", self.0.classes(class::PARTICIPANT, None)),
                        (attr::KEY, text(&hex::encode(key))),
                        (attr::SUBJECT, text(&hex::encode(subject))),
                        (attr::DATA, vec![blob.clone()]),
                    ];
                    attrs.extend(self.0.expiry(expires_at));
                    if self.0.add(&dn, attrs).await? == Added::Yes {
                        return Ok(());
                    }
                }
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the participant kept being added and removed concurrently; try again",
        ))
    }

    async fn participants(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.0.now();
        let filter = format!(
            "(&({}={}){})",
            attr::SUBJECT,
            hex::encode(subject),
            live(now)
        );
        let entries = self
            .0
            .search(
                &self.0.container(CONTAINER),
                &filter,
                &[attr::KEY, attr::DATA],
            )
            .await?;
        let mut out = entries
            .iter()
            .map(|e| self.open(e))
            .collect::<Result<Vec<_>>>()?;
        // Key order, as the reference implementation lists them.
        out.sort_by_key(|a| a.0);
        Ok(out
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| now < p.expires_at)
            .collect())
    }

    async fn remove(&self, subject: &str, session_ref: &str, partner_id: &str) -> Result<bool> {
        let subject = self.subject_hash(subject)?;
        let key = self.key(&subject, session_ref, partner_id)?;
        let now = self.0.now();
        match self
            .0
            .delete(&self.dn(&key), None, &[attr::EXPIRES_AT])
            .await?
        {
            Written::Done(Some(before)) => {
                Ok(before.required_int(attr::EXPIRES_AT)? > now.as_millis())
            }
            _ => Ok(false),
        }
    }

    async fn remove_all(&self, subject: &str) -> Result<Vec<Participant>> {
        let subject = self.subject_hash(subject)?;
        let now = self.0.now();
        let filter = format!("({}={})", attr::SUBJECT, hex::encode(subject));
        let entries = self
            .0
            .search(
                &self.0.container(CONTAINER),
                &filter,
                &[attr::KEY, attr::DATA, attr::EXPIRES_AT],
            )
            .await?;
        // Every live record is opened before anything is removed: a corrupt one fails
        // the call and leaves the subject's registry as it was.
        let mut found = Vec::with_capacity(entries.len());
        for entry in &entries {
            let (key, participant) = self.open(entry)?;
            found.push((key, entry.dn.clone(), participant));
        }
        found.sort_by_key(|a| a.0);
        let mut removed = Vec::new();
        for (key, dn, _) in found {
            // The delete decides who sends the logout request: of concurrent callers
            // only one deletes each entry, and it returns what it deleted.
            if let Written::Done(Some(before)) = self
                .0
                .delete(&dn, None, &[attr::DATA, attr::EXPIRES_AT])
                .await?
            {
                let participant: Participant =
                    self.0
                        .unseal(Contract::Registry, &key, before.required(attr::DATA)?)?;
                if before.required_int(attr::EXPIRES_AT)? > now.as_millis()
                    && now < participant.expires_at
                {
                    removed.push(participant);
                }
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl Purge for LdapSessionRegistry {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                at_or_before(attr::EXPIRES_AT, cutoff.expiry)
            })
            .await
    }
}
