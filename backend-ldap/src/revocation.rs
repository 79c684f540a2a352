//! [`RevocationStore`] on LDAP, under `ou=revocation`:
//!
//! - `authstateKey=sri-<hash>`: a revoked session reference, sealed `until`;
//! - `authstateKey=subject-<hash>`: a revoked subject, sealed `before` and `until`, with
//!   a version for compare-and-set;
//! - `authstateKey=change-<seq>`: one entry of the change feed, sealed, with its `seq` in
//!   `authstateCounter`;
//! - `authstateKey=feed`: the highest sequence number known to be committed.
//!
//! The feed has no gaps a reader could step over: a writer adds `change-<n>` only after
//! `change-<n-1>` exists (it starts after the committed number and walks past every
//! entry that is already there, since adding an existing DN fails), and only then raises
//! the committed number. So when a reader sees `n`, every earlier change is visible too,
//! and a cursor never skips a change that appears later. Purge removes feed entries past
//! their `until` but never above the committed number, so numbers are never reused.
//!
//! | operation         | LDAP operations                                                  |
//! |-------------------|------------------------------------------------------------------|
//! | `revoke`          | modify asserting the stored `until` is not later (add if none), then the feed append: read of `feed`, add of the change, modify of `feed` |
//! | `revoke_subject`  | base search, modify asserting the version (add if none), then the feed append |
//! | `is_revoked`      | one one-level search for the SRI and the subject together        |
//! | `changes_since`   | one-level search on the sequence range                           |

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    ChangeBatch, Contract, Error, Purge, PurgePolicy, PurgeReport, REVOCATION_SRI_DOMAIN,
    REVOCATION_SUBJECT_DOMAIN, Result, RevocationChange, RevocationStore, RevocationTarget,
    Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::ber::Entry;
use crate::dir::{
    Added, Node, ReadBack, Written, at_or_before, int, live, replace, replace_int, text,
};
use crate::schema::{attr, class};

const CONTAINER: &str = "revocation";
/// The RDN value of the feed's committed-number entry.
pub(crate) const FEED_KEY: &str = "feed";
const MAX_ATTEMPTS: usize = 8;
/// How many taken sequence numbers one append walks past before giving up.
const MAX_FEED_STEPS: usize = 10_000;

/// What is sealed for a revoked SRI.
#[derive(Serialize, Deserialize)]
struct SriRevocation {
    until: Timestamp,
}

/// What is sealed for a revoked subject.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
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
        let key = |bytes: [u8; 32]| {
            IndexKey::from_hex(&hex::encode(bytes)).map_err(|e| {
                Error::corrupt(BACKEND_NAME, "a stored index key does not parse").with_source(e)
            })
        };
        Ok(match self {
            StoredTarget::Session(sri) => RevocationTarget::Session(key(sri)?),
            StoredTarget::Subject { subject, before } => RevocationTarget::Subject {
                subject: key(subject)?,
                before,
            },
        })
    }
}

/// The LDAP [`RevocationStore`].
#[derive(Debug)]
pub(crate) struct LdapRevocationStore(pub(crate) Node);

fn check_until(until: Timestamp, now: Timestamp) -> Result<()> {
    if until <= now {
        return Err(Error::invalid_input(
            BACKEND_NAME,
            "revocation until is at or before now: it would never be in force",
        ));
    }
    Ok(())
}

fn seq_attr(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl LdapRevocationStore {
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

    fn sri_rdn(key: &IndexKey) -> String {
        format!("sri-{}", key.to_hex())
    }

    fn subject_rdn(key: &IndexKey) -> String {
        format!("subject-{}", key.to_hex())
    }

    fn open_subject(&self, key: &IndexKey, entry: &Entry) -> Result<SubjectRevocation> {
        self.0.unseal(
            Contract::Revocation,
            key.as_bytes(),
            entry.required(attr::DATA)?,
        )
    }

    /// The committed feed number.
    async fn committed(&self) -> Result<u64> {
        let dn = self.0.dn(CONTAINER, FEED_KEY);
        match self
            .0
            .read(&dn, "(objectClass=*)", &[attr::COUNTER])
            .await?
        {
            Some(entry) => Ok(u64::try_from(entry.required_int(attr::COUNTER)?).unwrap_or(0)),
            None => Err(Error::config(
                BACKEND_NAME,
                format!(
                    "the revocation feed counter {dn} does not exist: run LdapBackend::migrate \
                     for namespace {}",
                    self.0.config.namespace
                ),
            )),
        }
    }

    /// Appends a change to the feed; returns its sequence number.
    async fn append(&self, target: RevocationTarget, until: Timestamp) -> Result<u64> {
        let change = StoredChange {
            target: StoredTarget::from_target(target),
            until,
        };
        let mut seq = self.committed().await?.saturating_add(1);
        for _ in 0..MAX_FEED_STEPS {
            let blob = self
                .0
                .seal(Contract::Revocation, &seq.to_be_bytes(), &change)?;
            let rdn = format!("change-{seq}");
            let dn = self.0.dn(CONTAINER, &rdn);
            let attrs = vec![
                ("objectClass", self.0.classes(class::CHANGE, None)),
                (attr::KEY, text(&rdn)),
                (attr::EXPIRES_AT, int(until.as_millis())),
                (attr::COUNTER, int(seq_attr(seq))),
                (attr::DATA, vec![blob]),
            ];
            match self.0.add(&dn, attrs).await? {
                Added::Yes => {
                    self.commit(seq).await?;
                    return Ok(seq);
                }
                // Taken by a concurrent append: move past it (and past whatever the
                // committed number says is taken).
                Added::Exists => {
                    seq = seq
                        .saturating_add(1)
                        .max(self.committed().await?.saturating_add(1));
                }
            }
        }
        Err(Error::unavailable(
            BACKEND_NAME,
            "could not find a free sequence number in the revocation feed; try again",
        ))
    }

    /// Raises the committed number to `seq` unless it is already higher.
    async fn commit(&self, seq: u64) -> Result<()> {
        let dn = self.0.dn(CONTAINER, FEED_KEY);
        let assertion = format!("({}<={})", attr::COUNTER, seq_attr(seq) - 1);
        let mods = vec![replace_int(attr::COUNTER, seq_attr(seq))];
        self.0
            .modify(&dn, mods, Some(&assertion), ReadBack::None)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl RevocationStore for LdapRevocationStore {
    async fn revoke(&self, sri: &str, until: Timestamp) -> Result<()> {
        let key = self.sri_key(sri)?;
        let now = self.0.now();
        check_until(until, now)?;
        let dn = self.0.dn(CONTAINER, &Self::sri_rdn(&key));
        let blob = self.0.seal(
            Contract::Revocation,
            key.as_bytes(),
            &SriRevocation { until },
        )?;
        let mut kept = until;
        let mut written = false;
        for _ in 0..MAX_ATTEMPTS {
            // Never shortened: replaced only if the stored until is not later (an expired
            // revocation's until is before now, so it is always replaced).
            let assertion = at_or_before(attr::EXPIRES_AT, until);
            let mut mods = vec![replace(attr::DATA, blob.clone())];
            mods.extend(self.0.set_expiry(until.as_millis()));
            match self
                .0
                .modify(&dn, mods, Some(&assertion), ReadBack::None)
                .await?
            {
                Written::Done(_) => {
                    written = true;
                    break;
                }
                Written::AssertionFailed => {
                    // A later revocation is in force: keep it, and say so in the feed.
                    let Some(entry) = self.0.read(&dn, &live(now), &[attr::DATA]).await? else {
                        continue;
                    };
                    let old: SriRevocation = self.0.unseal(
                        Contract::Revocation,
                        key.as_bytes(),
                        entry.required(attr::DATA)?,
                    )?;
                    kept = old.until.max(until);
                    written = true;
                    break;
                }
                Written::NoSuchObject => {
                    let mut attrs = vec![
                        ("objectClass", self.0.classes(class::REVOKED_SESSION, None)),
                        (attr::KEY, text(&Self::sri_rdn(&key))),
                        (attr::DATA, vec![blob.clone()]),
                    ];
                    attrs.extend(self.0.expiry(until.as_millis()));
                    if self.0.add(&dn, attrs).await? == Added::Yes {
                        written = true;
                        break;
                    }
                }
            }
        }
        if !written {
            return Err(Error::conflict(
                BACKEND_NAME,
                "the revocation kept changing concurrently; try again",
            ));
        }
        self.append(RevocationTarget::Session(key), kept).await?;
        Ok(())
    }

    async fn is_revoked(&self, sri: &str, subject: &str, issued_at: Timestamp) -> Result<bool> {
        let sri_key = self.sri_key(sri)?;
        let subject_key = self.subject_key(subject)?;
        let now = self.0.now();
        let filter = format!(
            "(&(|({k}={})({k}={})){})",
            Self::sri_rdn(&sri_key),
            Self::subject_rdn(&subject_key),
            live(now),
            k = attr::KEY,
        );
        let entries = self
            .0
            .search(
                &self.0.container(CONTAINER),
                &filter,
                &[attr::KEY, attr::DATA],
            )
            .await?;
        let sri_rdn = Self::sri_rdn(&sri_key);
        let mut subject_entry = None;
        for entry in &entries {
            if entry
                .text(attr::KEY)
                .is_some_and(|k| k.eq_ignore_ascii_case(&sri_rdn))
            {
                let _: SriRevocation = self.0.unseal(
                    Contract::Revocation,
                    sri_key.as_bytes(),
                    entry.required(attr::DATA)?,
                )?;
                return Ok(true);
            }
            subject_entry = Some(entry);
        }
        match subject_entry {
            Some(entry) => {
                let revocation = self.open_subject(&subject_key, entry)?;
                Ok(now < revocation.until && issued_at < revocation.before)
            }
            None => Ok(false),
        }
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        before: Timestamp,
        until: Timestamp,
    ) -> Result<()> {
        let key = self.subject_key(subject)?;
        let now = self.0.now();
        check_until(until, now)?;
        let rdn = Self::subject_rdn(&key);
        let dn = self.0.dn(CONTAINER, &rdn);
        let wanted = SubjectRevocation { before, until };
        let mut kept = None;
        // Compare-and-set on the version: one record per subject keeps the latest
        // cutoff and the latest end, however the concurrent writes interleave.
        for _ in 0..(8 * MAX_ATTEMPTS) {
            let current = self
                .0
                .read(
                    &dn,
                    "(objectClass=*)",
                    &[attr::DATA, attr::VERSION, attr::EXPIRES_AT],
                )
                .await?;
            let Some(entry) = current else {
                let mut attrs = vec![
                    ("objectClass", self.0.classes(class::REVOKED_SUBJECT, None)),
                    (attr::KEY, text(&rdn)),
                    (attr::CUTOFF, int(before.as_millis())),
                    (attr::VERSION, int(1)),
                    (
                        attr::DATA,
                        vec![self.0.seal(Contract::Revocation, key.as_bytes(), &wanted)?],
                    ),
                ];
                attrs.extend(self.0.expiry(until.as_millis()));
                if self.0.add(&dn, attrs).await? == Added::Yes {
                    kept = Some(wanted);
                    break;
                }
                continue;
            };
            let version = entry.required_int(attr::VERSION)?;
            let live_now = entry.required_int(attr::EXPIRES_AT)? > now.as_millis();
            let (merged, unchanged) = if live_now {
                let old = self.open_subject(&key, &entry)?;
                let merged = SubjectRevocation {
                    before: old.before.max(before),
                    until: old.until.max(until),
                };
                (merged, merged == old)
            } else {
                (wanted, false)
            };
            if unchanged {
                // Nothing to change; the feed still records this call.
                kept = Some(merged);
                break;
            }
            let mut mods = vec![
                replace(
                    attr::DATA,
                    self.0.seal(Contract::Revocation, key.as_bytes(), &merged)?,
                ),
                replace_int(attr::CUTOFF, merged.before.as_millis()),
                replace_int(attr::VERSION, version.saturating_add(1)),
            ];
            mods.extend(self.0.set_expiry(merged.until.as_millis()));
            let assertion = format!("({}={version})", attr::VERSION);
            match self
                .0
                .modify(&dn, mods, Some(&assertion), ReadBack::None)
                .await?
            {
                Written::Done(_) => {
                    kept = Some(merged);
                    break;
                }
                Written::AssertionFailed | Written::NoSuchObject => continue,
            }
        }
        let Some(kept) = kept else {
            return Err(Error::conflict(
                BACKEND_NAME,
                "the subject revocation kept changing concurrently; try again",
            ));
        };
        self.append(
            RevocationTarget::Subject {
                subject: key,
                before: kept.before,
            },
            kept.until,
        )
        .await?;
        Ok(())
    }

    async fn changes_since(&self, cursor: u64, limit: usize) -> Result<ChangeBatch> {
        if limit == 0 {
            return Ok(ChangeBatch {
                changes: Vec::new(),
                cursor,
            });
        }
        let Ok(from) = i64::try_from(cursor) else {
            return Ok(ChangeBatch {
                changes: Vec::new(),
                cursor,
            });
        };
        let from = from.saturating_add(1);
        let to = from.saturating_add(i64::try_from(limit).unwrap_or(i64::MAX) - 1);
        let container = self.0.container(CONTAINER);
        let attrs = [attr::COUNTER, attr::DATA];
        // The feed has no gaps but those purge leaves below committed numbers, so the
        // next `limit` numbers usually hold the page; only when that range is empty (all
        // purged) does the search look further.
        let ranged = format!(
            "(&(objectClass={})({c}>={from})({c}<={to}))",
            class::CHANGE,
            c = attr::COUNTER
        );
        let mut entries = self.0.search(&container, &ranged, &attrs).await?;
        if entries.is_empty() {
            let open = format!(
                "(&(objectClass={})({}>={from}))",
                class::CHANGE,
                attr::COUNTER
            );
            entries = self.0.search(&container, &open, &attrs).await?;
        }
        let mut numbered = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = u64::try_from(entry.required_int(attr::COUNTER)?).map_err(|_| {
                Error::corrupt(BACKEND_NAME, format!("{} has a negative number", entry.dn))
            })?;
            numbered.push((seq, entry));
        }
        numbered.sort_by_key(|(seq, _)| *seq);
        numbered.truncate(limit);
        let mut changes = Vec::with_capacity(numbered.len());
        for (seq, entry) in numbered {
            // Sealed against its number: a change moved to another number does not open.
            let change: StoredChange = self.0.unseal(
                Contract::Revocation,
                &seq.to_be_bytes(),
                entry.required(attr::DATA)?,
            )?;
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
impl Purge for LdapRevocationStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        // Revocations are counted; their feed entries go with the same cutoff, not
        // counted (the feed is part of the revocations, like an index), and never above
        // the committed number so a number is never handed out twice.
        let report = self
            .0
            .purge(CONTAINER, policy, |cutoff| {
                format!(
                    "(&(|(objectClass={})(objectClass={})){})",
                    class::REVOKED_SESSION,
                    class::REVOKED_SUBJECT,
                    at_or_before(attr::EXPIRES_AT, cutoff.expiry)
                )
            })
            .await?;
        let committed = seq_attr(self.committed().await?);
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                format!(
                    "(&(objectClass={})({}<={committed}){})",
                    class::CHANGE,
                    attr::COUNTER,
                    at_or_before(attr::EXPIRES_AT, cutoff.expiry)
                )
            })
            .await?;
        Ok(report)
    }
}
