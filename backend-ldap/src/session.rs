//! [`SessionStore`] on LDAP: one entry per session under `ou=session`, named by the keyed
//! hash of its id and indexed by the keyed hash of its subject.
//!
//! A session entry keeps two sealed attributes so that compare-and-set is one operation:
//! `authstateMeta` (subject, creation, absolute end, idle timeout: never changes) and
//! `authstateData` (the application data and the version it was written at). Beside them
//! in the clear: the version (for the assertion), the last activity, the effective expiry
//! (for filters and purge) and the subject hash (for `list_by_subject`).
//!
//! | operation           | LDAP operations                                              |
//! |---------------------|--------------------------------------------------------------|
//! | `create`            | add                                                          |
//! | `get`               | base search filtered on the expiry                           |
//! | `touch`             | base search, then modify asserting live + post-read          |
//! | `update`            | modify asserting version and live + post-read (1); a refused one reads once more to tell `Conflict` from `NotFound` |
//! | `rotate_id`         | delete asserting live + pre-read, then add under the new id  |
//! | `delete`            | delete + pre-read of the expiry                              |
//! | `list_by_subject`   | one-level search on subject hash and expiry                  |
//! | `delete_by_subject` | one-level search, then a delete + pre-read per session       |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::IndexKey;
use authstate_core::{
    Contract, Error, NewSession, Purge, PurgePolicy, PurgeReport, Result, Session, SessionId,
    SessionRecord, SessionStore, SessionSummary, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::ber::Entry;
use crate::dir::{
    Added, Node, ReadBack, Written, at_or_before, int, live, replace, replace_int, text,
};
use crate::schema::{attr, class};

/// The hashing domain of session ids (the memory backend's).
const ID_DOMAIN: &str = "session.id";
/// The hashing domain of subjects in the session index.
const SUBJECT_DOMAIN: &str = "session.subject";
/// How many fresh ids `create` and `rotate_id` try before giving up.
const MAX_ID_ATTEMPTS: usize = 4;
/// How often `touch` re-reads after a concurrent change before giving up.
const MAX_TOUCH_ATTEMPTS: usize = 8;
const CONTAINER: &str = "session";

/// The attributes a session is rebuilt from.
const RECORD_ATTRS: [&str; 4] = [attr::META, attr::DATA, attr::LAST_ACTIVITY, attr::VERSION];

/// The part of a session that never changes, sealed in `authstateMeta`.
#[derive(Clone, Serialize, Deserialize)]
struct SessionMeta {
    subject: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    idle_timeout: Option<Duration>,
}

/// The data and the version it was written at, sealed in `authstateData`. The version
/// is sealed too, so a version attribute changed behind the store's back is `Corrupt`.
#[derive(Serialize, Deserialize)]
struct SessionBody {
    data: Vec<u8>,
    version: u64,
}

/// The associated-data keys of the two sealed attributes: the id hash and a marker, so
/// neither blob opens in the other's place or under another session.
fn meta_key(key: &IndexKey) -> Vec<u8> {
    [key.as_bytes().as_slice(), b"/meta"].concat()
}

fn body_key(key: &IndexKey) -> Vec<u8> {
    [key.as_bytes().as_slice(), b"/data"].concat()
}

/// The LDAP [`SessionStore`].
#[derive(Debug)]
pub(crate) struct LdapSessionStore(pub(crate) Node);

impl LdapSessionStore {
    fn id_key(&self, id: &SessionId) -> IndexKey {
        self.0.config.hash(ID_DOMAIN, id.expose().as_bytes())
    }

    fn subject_hash(&self, subject: &str) -> String {
        self.0
            .config
            .hash(SUBJECT_DOMAIN, subject.as_bytes())
            .to_hex()
    }

    fn dn(&self, key: &IndexKey) -> String {
        self.0.dn(CONTAINER, &key.to_hex())
    }

    fn seal_meta(&self, key: &IndexKey, meta: &SessionMeta) -> Result<Vec<u8>> {
        self.0.seal(Contract::Session, &meta_key(key), meta)
    }

    fn seal_body(&self, key: &IndexKey, body: &SessionBody) -> Result<Vec<u8>> {
        self.0.seal(Contract::Session, &body_key(key), body)
    }

    fn open_meta(&self, key: &IndexKey, entry: &Entry) -> Result<SessionMeta> {
        self.0.unseal(
            Contract::Session,
            &meta_key(key),
            entry.required(attr::META)?,
        )
    }

    /// Rebuilds the record from an entry with [`RECORD_ATTRS`] (and `meta`, when the
    /// caller already opened it).
    fn record(
        &self,
        key: &IndexKey,
        entry: &Entry,
        meta: Option<SessionMeta>,
    ) -> Result<SessionRecord> {
        let meta = match meta {
            Some(m) => m,
            None => self.open_meta(key, entry)?,
        };
        let body: SessionBody = self.0.unseal(
            Contract::Session,
            &body_key(key),
            entry.required(attr::DATA)?,
        )?;
        let version = entry.required_int(attr::VERSION)?;
        if u64::try_from(version).ok() != Some(body.version) {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "session record: the version attribute disagrees with the sealed record",
            ));
        }
        Ok(SessionRecord {
            subject: meta.subject,
            data: body.data,
            created_at: meta.created_at,
            last_activity: Timestamp::from_millis(entry.required_int(attr::LAST_ACTIVITY)?),
            expires_at: meta.expires_at,
            idle_timeout: meta.idle_timeout,
            version: body.version,
        })
    }

    /// The live session under `key`, read once.
    async fn read_live(&self, key: &IndexKey, now: Timestamp) -> Result<Option<SessionRecord>> {
        let Some(entry) = self
            .0
            .read(&self.dn(key), &live(now), &RECORD_ATTRS)
            .await?
        else {
            return Ok(None);
        };
        // The sealed times decide too: an expiry attribute moved later cannot revive it.
        Ok(Some(self.record(key, &entry, None)?).filter(|r| r.is_live_at(now)))
    }

    /// The attributes of a new session entry.
    fn new_entry(
        &self,
        key: &IndexKey,
        subject: &str,
        record: &SessionRecord,
        meta: &SessionMeta,
    ) -> Result<Vec<crate::dir::Attr>> {
        let body = SessionBody {
            data: record.data.clone(),
            version: record.version,
        };
        let version = i64::try_from(record.version)
            .map_err(|_| Error::invalid_input(BACKEND_NAME, "session version overflows"))?;
        let lifetime = record.expires_at.duration_since(self.0.now());
        let mut attrs = vec![
            (
                "objectClass",
                self.0.classes(class::SESSION, Some(lifetime)),
            ),
            (attr::KEY, text(&key.to_hex())),
            (attr::VERSION, int(version)),
            (attr::SUBJECT, text(subject)),
            (attr::DATA, vec![self.seal_body(key, &body)?]),
            (attr::META, vec![self.seal_meta(key, meta)?]),
        ];
        attrs.extend(self.0.expiry(record.effective_expiry().as_millis()));
        attrs.extend(self.0.last_activity(record.last_activity.as_millis()));
        Ok(attrs)
    }

    /// Adds `record` under a fresh random id, retrying on a collision (never
    /// overwriting: an add never replaces an entry).
    async fn add_new(&self, record: SessionRecord) -> Result<Session> {
        let subject = self.subject_hash(&record.subject);
        let meta = SessionMeta {
            subject: record.subject.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            idle_timeout: record.idle_timeout,
        };
        let lifetime = record.expires_at.duration_since(self.0.now());
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = SessionId::generate()?;
            let key = self.id_key(&id);
            let dn = self.dn(&key);
            let attrs = self.new_entry(&key, &subject, &record, &meta)?;
            match self.0.add(&dn, attrs).await? {
                Added::Yes => {
                    self.0.refresh_ttl(&dn, Some(lifetime));
                    return Ok(Session { id, record });
                }
                Added::Exists => continue,
            }
        }
        Err(Error::unexpected(
            BACKEND_NAME,
            "every freshly generated session id collided with a stored one; the random \
             source cannot be trusted",
        ))
    }

    fn not_found() -> Error {
        Error::not_found(
            BACKEND_NAME,
            "no live session with this id (unknown, deleted or expired)",
        )
    }
}

#[async_trait]
impl SessionStore for LdapSessionStore {
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
        let now = self.0.now();
        let record = SessionRecord {
            subject: new.subject,
            data: new.data,
            created_at: now,
            last_activity: now,
            expires_at: now.saturating_add(new.lifetime),
            idle_timeout: new.idle_timeout,
            version: 1,
        };
        self.add_new(record).await
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        self.read_live(&key, self.0.now()).await
    }

    async fn touch(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let dn = self.dn(&key);
        let now = self.0.now();
        for _ in 0..MAX_TOUCH_ATTEMPTS {
            let Some(entry) = self.0.read(&dn, &live(now), &RECORD_ATTRS).await? else {
                return Ok(None);
            };
            let meta = self.open_meta(&key, &entry)?;
            let mut record = self.record(&key, &entry, Some(meta.clone()))?;
            if !record.is_live_at(now) {
                return Ok(None);
            }
            record.last_activity = now;
            // `effective_expiry` caps the idle end at the absolute end, so no touch keeps
            // the session past its lifetime.
            let expiry = record.effective_expiry();
            // Only forward in time, and only while live: a concurrent touch from a node
            // whose clock is ahead wins, and an expired session is never revived.
            let assertion = format!("(&{}{})", at_or_before(attr::LAST_ACTIVITY, now), live(now));
            let mut mods = self.0.set_last_activity(now.as_millis());
            mods.extend(self.0.set_expiry(expiry.as_millis()));
            let read = [attr::DATA, attr::LAST_ACTIVITY, attr::VERSION];
            match self
                .0
                .modify(&dn, mods, Some(&assertion), ReadBack::Post(&read))
                .await?
            {
                // The post-read gives the data and version as of this very change, even
                // if an update landed between the read and the modify.
                Written::Done(Some(after)) => {
                    return self.record(&key, &after, Some(meta)).map(Some);
                }
                Written::Done(None) | Written::NoSuchObject => return Ok(None),
                Written::AssertionFailed => continue,
            }
        }
        // Touched later by others every time: the session is live and was touched at or
        // after now; report it as it stands.
        self.read_live(&key, now).await
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
        let dn = self.dn(&key);
        let now = self.0.now();
        let version = expected_version
            .checked_add(1)
            .and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| Error::invalid_input(BACKEND_NAME, "session version overflows"))?;
        let Ok(expected) = i64::try_from(expected_version) else {
            // No stored version is that large: the version moved (or never was).
            return match self.read_live(&key, now).await? {
                Some(_) => Err(Error::conflict(
                    BACKEND_NAME,
                    "the session is at another version",
                )),
                None => Err(Self::not_found()),
            };
        };
        let body = SessionBody {
            data,
            version: expected_version + 1,
        };
        let sealed = self.seal_body(&key, &body)?;
        let assertion = format!("(&({}={expected}){})", attr::VERSION, live(now));
        let mods = vec![
            replace(attr::DATA, sealed),
            replace_int(attr::VERSION, version),
        ];
        let read = [attr::META, attr::LAST_ACTIVITY];
        match self
            .0
            .modify(&dn, mods, Some(&assertion), ReadBack::Post(&read))
            .await?
        {
            Written::Done(Some(after)) => {
                let meta = self.open_meta(&key, &after)?;
                if !self.0.sealed_as_now(after.required(attr::META)?) {
                    // Written before encryption (or under an older key): the update
                    // re-sealed the data, so re-seal the immutable part too, and the
                    // whole session reads without the migration flag from now on.
                    let mods = vec![replace(attr::META, self.seal_meta(&key, &meta)?)];
                    self.0.modify(&dn, mods, None, ReadBack::None).await?;
                }
                Ok(SessionRecord {
                    subject: meta.subject,
                    data: body.data,
                    created_at: meta.created_at,
                    last_activity: Timestamp::from_millis(after.required_int(attr::LAST_ACTIVITY)?),
                    expires_at: meta.expires_at,
                    idle_timeout: meta.idle_timeout,
                    version: body.version,
                })
            }
            Written::Done(None) | Written::NoSuchObject => Err(Self::not_found()),
            Written::AssertionFailed => {
                // Either the version moved or the session is no longer live: one more
                // read tells which.
                let current = self.0.read(&dn, &live(now), &[attr::VERSION]).await?;
                match current {
                    Some(entry) => Err(Error::conflict(
                        BACKEND_NAME,
                        format!(
                            "the session is at version {}, not the expected {expected_version}",
                            entry.required_int(attr::VERSION)?
                        ),
                    )),
                    None => Err(Self::not_found()),
                }
            }
        }
    }

    async fn rotate_id(&self, id: &SessionId) -> Result<Session> {
        let old_key = self.id_key(id);
        let now = self.0.now();
        // Deleting the old entry is the claim: of concurrent rotations exactly one delete
        // succeeds, and from that instant the old id works nowhere. The pre-read hands
        // the winner the session to re-add under the new id.
        let mut attrs: Vec<&str> = RECORD_ATTRS.to_vec();
        attrs.push(attr::EXPIRES_AT);
        let entry = match self
            .0
            .delete(&self.dn(&old_key), Some(&live(now)), &attrs)
            .await?
        {
            Written::Done(Some(entry)) => entry,
            Written::Done(None) | Written::AssertionFailed | Written::NoSuchObject => {
                return Err(Self::not_found());
            }
        };
        let record = self.record(&old_key, &entry, None)?;
        if !record.is_live_at(now) {
            return Err(Self::not_found());
        }
        // If this add fails the session is gone (the caller sees the error): a lost
        // session means a new login, never a fixated one.
        self.add_new(record).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let key = self.id_key(id);
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

    async fn list_by_subject(&self, subject: &str) -> Result<Vec<SessionSummary>> {
        self.0.config.limits.check_key("session subject", subject)?;
        let now = self.0.now();
        let filter = format!(
            "(&({}={}){})",
            attr::SUBJECT,
            self.subject_hash(subject),
            live(now)
        );
        let mut attrs = RECORD_ATTRS.to_vec();
        attrs.push(attr::KEY);
        let entries = self
            .0
            .search(&self.0.container(CONTAINER), &filter, &attrs)
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = entry
                .text(attr::KEY)
                .and_then(|k| IndexKey::from_hex(k).ok())
                .ok_or_else(|| {
                    Error::corrupt(BACKEND_NAME, format!("{} has no valid key", entry.dn))
                })?;
            let record = self.record(&key, &entry, None)?;
            if record.is_live_at(now) {
                out.push(SessionSummary {
                    id_hash: key,
                    record,
                });
            }
        }
        out.sort_by(|a, b| a.id_hash.as_bytes().cmp(b.id_hash.as_bytes()));
        Ok(out)
    }

    async fn delete_by_subject(&self, subject: &str) -> Result<u64> {
        self.0.config.limits.check_key("session subject", subject)?;
        let now = self.0.now();
        let filter = format!("({}={})", attr::SUBJECT, self.subject_hash(subject));
        let entries = self
            .0
            .search(&self.0.container(CONTAINER), &filter, &["1.1"])
            .await?;
        // Expired sessions of the subject go too (a purge would take them anyway), but
        // only live ones are counted; the pre-read makes each count once even when
        // several callers race.
        let mut ended = 0;
        for entry in entries {
            if let Written::Done(Some(before)) =
                self.0.delete(&entry.dn, None, &[attr::EXPIRES_AT]).await?
                && before.required_int(attr::EXPIRES_AT)? > now.as_millis()
            {
                ended += 1;
            }
        }
        Ok(ended)
    }
}

#[async_trait]
impl Purge for LdapSessionStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        self.0
            .purge(CONTAINER, policy, |cutoff| {
                let expired = at_or_before(attr::EXPIRES_AT, cutoff.expiry);
                match cutoff.idle {
                    None => expired,
                    Some(idle) => {
                        format!("(|{expired}{})", at_or_before(attr::LAST_ACTIVITY, idle))
                    }
                }
            })
            .await
    }
}
