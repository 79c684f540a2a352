//! [`ArtifactStore`] on LDAP: one entry per artifact under `ou=artifact`, named by the
//! keyed hash of its handle. A taken artifact keeps its entry as a sealed tombstone
//! (`Taken(at)`, plus `authstateTakenAt` in the clear for the assertion) until its
//! original expiry.
//!
//! | operation | LDAP operations                                                           |
//! |-----------|---------------------------------------------------------------------------|
//! | `put`     | add (1); on entryAlreadyExists, a delete asserting the old one expired, then the add again |
//! | `take`    | modify asserting live and not taken, replacing the payload with the tombstone, with pre-read of the payload (1: the winner); a refused take reads the tombstone once |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ArtifactStore, Contract, Error, Purge, PurgePolicy, PurgeReport, Result, Take, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::dir::{Added, Node, ReadBack, Written, at_or_before, dead, live, replace, text};
use crate::schema::{attr, class};

/// The hashing domain of artifact handles (the memory backend's).
const HANDLE_DOMAIN: &str = "artifact.handle";
const CONTAINER: &str = "artifact";
/// Rounds of "already exists → the old one had expired → add again" before giving up.
const MAX_PUT_ATTEMPTS: usize = 4;
/// Rounds of "refused take → the entry was replaced meanwhile → take again".
const MAX_TAKE_ATTEMPTS: usize = 4;

/// What is sealed under an artifact's handle.
#[derive(Serialize, Deserialize)]
enum ArtifactRecord {
    /// Not taken yet.
    Live(Vec<u8>),
    /// Taken at this time; the payload is gone.
    Taken(Timestamp),
}

/// The LDAP [`ArtifactStore`].
#[derive(Debug)]
pub(crate) struct LdapArtifactStore(pub(crate) Node);

impl LdapArtifactStore {
    fn key(&self, handle: &str) -> Result<IndexKey> {
        self.0.config.limits.check_key("artifact handle", handle)?;
        Ok(self.0.config.hash(HANDLE_DOMAIN, handle.as_bytes()))
    }

    fn open(&self, key: &IndexKey, blob: &[u8]) -> Result<ArtifactRecord> {
        self.0.unseal(Contract::Artifact, key.as_bytes(), blob)
    }
}

#[async_trait]
impl ArtifactStore for LdapArtifactStore {
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: Duration) -> Result<()> {
        let key = self.key(handle)?;
        let limits = &self.0.config.limits;
        limits.check_payload("artifact payload", payload.len())?;
        limits.check_ttl("artifact ttl", ttl)?;
        let now = self.0.now();
        let blob = self.0.seal(
            Contract::Artifact,
            key.as_bytes(),
            &ArtifactRecord::Live(payload),
        )?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        for _ in 0..MAX_PUT_ATTEMPTS {
            let mut attrs = vec![
                ("objectClass", self.0.classes(class::ARTIFACT, Some(ttl))),
                (attr::KEY, text(&key.to_hex())),
                (attr::DATA, vec![blob.clone()]),
            ];
            attrs.extend(self.0.expiry(now.saturating_add(ttl).as_millis()));
            match self.0.add(&dn, attrs).await? {
                Added::Yes => {
                    self.0.refresh_ttl(&dn, Some(ttl));
                    return Ok(());
                }
                Added::Exists => {}
            }
            // An entry holds the handle. Live (an artifact or its tombstone) it keeps the
            // handle; expired it counts as absent: remove it, but only if it is still
            // expired when the server looks, then add again.
            match self.0.delete(&dn, Some(&dead(now)), &[]).await? {
                Written::AssertionFailed => {
                    return Err(Error::already_exists(
                        BACKEND_NAME,
                        "an artifact with this handle is live, or was taken and has not \
                         reached its expiry",
                    ));
                }
                Written::Done(_) | Written::NoSuchObject => {}
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the handle kept being re-used by concurrent puts; try again",
        ))
    }

    async fn take(&self, handle: &str) -> Result<Take> {
        let key = self.key(handle)?;
        let now = self.0.now();
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let tombstone = self.0.seal(
            Contract::Artifact,
            key.as_bytes(),
            &ArtifactRecord::Taken(now),
        )?;
        // Live and not yet taken: of any number of concurrent takes, on any number of
        // nodes, the server lets exactly one modify through.
        let assertion = format!("(&{}(!({}=*)))", live(now), attr::TAKEN_AT);
        for _ in 0..MAX_TAKE_ATTEMPTS {
            let mods = vec![
                replace(attr::DATA, tombstone.clone()),
                crate::dir::replace_int(attr::TAKEN_AT, now.as_millis()),
            ];
            match self
                .0
                .modify(&dn, mods, Some(&assertion), ReadBack::Pre(&[attr::DATA]))
                .await?
            {
                Written::Done(Some(before)) => {
                    return match self.open(&key, before.required(attr::DATA)?)? {
                        ArtifactRecord::Live(payload) => Ok(Take::Fresh(payload)),
                        // Not marked taken, yet sealed as taken: the clear attribute was
                        // removed behind the store's back.
                        ArtifactRecord::Taken(_) => Err(Error::corrupt(
                            BACKEND_NAME,
                            "artifact record: sealed as taken but not marked taken",
                        )),
                    };
                }
                Written::Done(None) | Written::NoSuchObject => return Ok(Take::Unknown),
                Written::AssertionFailed => {}
            }
            // Taken already, or expired: the sealed record says which.
            let Some(entry) = self.0.read(&dn, &live(now), &[attr::DATA]).await? else {
                return Ok(Take::Unknown);
            };
            match self.open(&key, entry.required(attr::DATA)?)? {
                ArtifactRecord::Taken(taken_at) => return Ok(Take::Replayed { taken_at }),
                // An expired artifact was replaced by a new put between the two
                // operations: take the new one.
                ArtifactRecord::Live(_) => continue,
            }
        }
        Err(Error::conflict(
            BACKEND_NAME,
            "the artifact kept being replaced during the take; try again",
        ))
    }
}

#[async_trait]
impl Purge for LdapArtifactStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                at_or_before(attr::EXPIRES_AT, cutoff.expiry)
            })
            .await
    }
}
