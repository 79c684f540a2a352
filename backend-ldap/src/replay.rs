//! [`ReplayCache`] on LDAP: one entry per seen id under `ou=replay`, named by the keyed
//! hash of the id, kept until its `not_after`.
//!
//! | operation          | LDAP operations                                                  |
//! |--------------------|------------------------------------------------------------------|
//! | `check_and_record` | add (1: `Fresh`); on entryAlreadyExists, a delete asserting the old entry expired: refused means `Replayed` (2), done means the old entry was dead and the add is tried again (3) |
//!
//! The add is the check: two nodes adding the same DN cannot both succeed, so of any
//! number of concurrent calls exactly one is `Fresh`. Nothing is ever evicted early: the
//! cache is bounded by refusing `not_after` past the maximum retention.

use async_trait::async_trait;
use authstate_core::{
    Contract, Error, Purge, PurgePolicy, PurgeReport, Replay, ReplayCache, Result, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::dir::{Added, Node, Written, at_or_before, dead, text};
use crate::schema::{attr, class};

/// The hashing domain of replay ids (the memory backend's).
const ID_DOMAIN: &str = "replay.id";
const CONTAINER: &str = "replay";
const MAX_ATTEMPTS: usize = 4;

/// What is sealed for a seen id. Nothing in it is secret, but sealing it binds the entry
/// to its id and namespace like every other record.
#[derive(Serialize, Deserialize)]
struct ReplayEntry {
    recorded_at: Timestamp,
    not_after: Timestamp,
}

/// The LDAP [`ReplayCache`].
#[derive(Debug)]
pub(crate) struct LdapReplayCache(pub(crate) Node);

#[async_trait]
impl ReplayCache for LdapReplayCache {
    async fn check_and_record(&self, id: &str, not_after: Timestamp) -> Result<Replay> {
        let config = &self.0.config;
        config.limits.check_key("replay id", id)?;
        let now = self.0.now();
        if not_after <= now {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                "replay not_after is at or before now: the assertion has already expired",
            ));
        }
        let max = config.limits.max_replay_retention;
        if not_after > now.saturating_add(max) {
            return Err(Error::invalid_input(
                BACKEND_NAME,
                format!(
                    "replay not_after is more than the maximum retention of {}s from now",
                    max.as_secs()
                ),
            ));
        }
        let key = config.hash(ID_DOMAIN, id.as_bytes());
        let blob = self.0.seal(
            Contract::Replay,
            key.as_bytes(),
            &ReplayEntry {
                recorded_at: now,
                not_after,
            },
        )?;
        let dn = self.0.dn(CONTAINER, &key.to_hex());
        let life = not_after.duration_since(now);
        for _ in 0..MAX_ATTEMPTS {
            let mut attrs = vec![
                ("objectClass", self.0.classes(class::REPLAY, Some(life))),
                (attr::KEY, text(&key.to_hex())),
                (attr::DATA, vec![blob.clone()]),
            ];
            attrs.extend(self.0.expiry(not_after.as_millis()));
            if self.0.add(&dn, attrs).await? == Added::Yes {
                self.0.refresh_ttl(&dn, Some(life));
                return Ok(Replay::Fresh);
            }
            // Seen before. A live entry means replayed (and is never changed); an expired
            // one counts as absent: it is removed only if the server still sees it
            // expired, and the id is recorded afresh.
            match self.0.delete(&dn, Some(&dead(now)), &[]).await? {
                Written::AssertionFailed => return Ok(Replay::Replayed),
                Written::Done(_) | Written::NoSuchObject => {}
            }
        }
        // Every round found an entry that had expired and was gone again: something else
        // keeps recording this id. Never answer Fresh without having added the entry.
        Err(Error::conflict(
            BACKEND_NAME,
            "the replay id kept being recorded and purged concurrently; try again",
        ))
    }
}

#[async_trait]
impl Purge for LdapReplayCache {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                at_or_before(attr::EXPIRES_AT, cutoff.expiry)
            })
            .await
    }
}
