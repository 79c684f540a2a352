//! [`SessionStore`] on Redis: one string per session under the keyed hash of its id,
//! listed in its subject's index.
//!
//! A session record is a fixed header and two sealed parts:
//!
//! ```text
//! 0x01 | e: i64 | i: i64 | a: i64 | v: i64 | meta length: u32 | meta | data
//! ```
//!
//! (big-endian; `e` absolute end, `i` idle timeout or 0, `a` last activity, `v`
//! version, all in ms by the store's clock). The scripts read and change the header
//! without the keyring — `touch` rewrites `a` (and the server TTL), `update` checks and
//! bumps `v` — and every read checks `e` and `i` against the sealed meta:
//!
//! - the meta (subject, created, absolute end, idle timeout) is sealed once at `create`
//!   (and again by `rotate_id`, for the new id);
//! - the data is sealed for its version, so `update` can replace it without reading the
//!   session first (the version in the associated data also authenticates `v`).
//!
//! One string and not a hash: a hash holding a 200-byte field loses Redis's compact
//! encoding and takes more than twice the memory.
//!
//! Every sealed part is bound to the session's id hash (and part name), so a part moved
//! to another session fails to open; that is also why `rotate_id` reads the session and
//! seals it again for the new id before its one atomic move (two round trips: the
//! server cannot seal).
//!
//! | operation | commands |
//! |-----------|----------|
//! | `create` | 1 script (`session_create`) |
//! | `get` | 1 `GET` |
//! | `touch` | 1 script |
//! | `update` | 1 script (+1 during a keyring migration, to reseal the meta) |
//! | `rotate_id` | `GET` + 1 script |
//! | `delete` | 1 script |
//! | `list_by_subject` | 2 scripts (learn the members, then read them all) |
//! | `delete_by_subject` | 2 scripts (learn the members, then delete them all) |

use std::time::Duration;

use async_trait::async_trait;
use authstate_core::codec::{IndexKey, session_data_key, session_meta_key};
use authstate_core::time::duration_millis;
use authstate_core::{
    Contract, Error, NewSession, Purge, PurgePolicy, PurgeReport, Result, Session, SessionId,
    SessionRecord, SessionStore, SessionSummary, Timestamp,
};
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::BACKEND_NAME;
use crate::backend::{Args, Node, Write, index_key, later, reply};
use crate::keys::{Code, bucket};
use crate::purge::{self, Kind};
use crate::scripts::{
    SESSION_CREATE, SESSION_DELETE, SESSION_DELETE_BY_SUBJECT, SESSION_LIST, SESSION_RESEAL,
    SESSION_ROTATE, SESSION_TOUCH, SESSION_UPDATE,
};

/// The hashing domain of session ids (as in the memory backend).
const ID_DOMAIN: &str = "session.id";
/// The hashing domain of subjects in the session index.
const SUBJECT_DOMAIN: &str = "session.subject";

/// How many fresh ids `create` and `rotate_id` try before giving up. With 256 random
/// bits a single collision already means a broken random source.
const MAX_ID_ATTEMPTS: usize = 4;

/// How many ids a session on Redis Cluster draws, at most, to find one whose hash falls
/// in its subject's bucket: one in 256 does, so 8192 draws all miss with a probability
/// of about e^-32.
const MAX_CLUSTER_DRAWS: usize = 8192;

/// How often an operation that read first (rotate, list, delete by subject) starts again
/// because the data moved under it, before it reports contention.
const MAX_ROUNDS: usize = 32;

/// The sealed meta of a session: what never changes after `create`.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    subject: String,
    created_at: Timestamp,
    expires_at: Timestamp,
    idle_timeout: Option<Duration>,
}

impl Meta {
    /// `Corrupt` unless the plaintext absolute end `e` and idle timeout `i` (the scripts
    /// decide liveness with them) agree with the sealed meta.
    fn check(&self, e: i64, i: i64) -> Result<()> {
        let idle_ms = self.idle_timeout.map_or(0, duration_millis);
        if self.expires_at.as_millis() != e || idle_ms != i {
            return Err(Error::corrupt(
                BACKEND_NAME,
                "session record: the stored expiry fields disagree with the sealed record",
            ));
        }
        Ok(())
    }
}

/// The length of a record's header: format byte, four `i64`s, the meta's length.
const HEADER_LEN: usize = 37;

/// A session record's parts, as stored.
struct Fields<'a> {
    e: i64,
    i: i64,
    a: i64,
    v: u64,
    m: &'a [u8],
    d: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Splits a stored record (or, with no data, the header and meta alone).
    fn parse(s: &'a [u8]) -> Result<Fields<'a>> {
        let what = "session record";
        let header = s.get(..HEADER_LEN).ok_or_else(|| reply::malformed(what))?;
        if header[0] != 1 {
            return Err(reply::malformed(what));
        }
        let int = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[33..37]);
        let m_end = HEADER_LEN + u32::from_be_bytes(len) as usize;
        let m = s
            .get(HEADER_LEN..m_end)
            .ok_or_else(|| reply::malformed(what))?;
        let v = u64::try_from(int(25)).map_err(|_| reply::malformed(what))?;
        Ok(Fields {
            e: int(1),
            i: int(9),
            a: int(17),
            v,
            m,
            d: &s[m_end..],
        })
    }

    /// The stored form of a record.
    fn pack(e: i64, i: i64, a: i64, v: u64, m: &[u8], d: &[u8]) -> Result<Vec<u8>> {
        let m_len = u32::try_from(m.len()).map_err(|_| {
            Error::invalid_input(BACKEND_NAME, "the session's sealed meta is over 4 GiB")
        })?;
        let mut out = Vec::with_capacity(HEADER_LEN + m.len() + d.len());
        out.push(1);
        for n in [e, i, a] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&v.to_be_bytes());
        out.extend_from_slice(&m_len.to_be_bytes());
        out.extend_from_slice(m);
        out.extend_from_slice(d);
        Ok(out)
    }

    /// When the session ends: the earlier of its absolute and idle ends.
    fn effective_expiry(&self) -> i64 {
        if self.i > 0 {
            self.e.min(self.a.saturating_add(self.i))
        } else {
            self.e
        }
    }
}

/// The error after [`MAX_ID_ATTEMPTS`] colliding ids.
fn ids_exhausted() -> Error {
    Error::unexpected(
        BACKEND_NAME,
        "every freshly generated session id collided with a stored one; the random source \
         cannot be trusted",
    )
}

/// The error when the data kept moving for [`MAX_ROUNDS`] rounds.
fn contention(what: &str) -> Error {
    Error::unavailable(
        BACKEND_NAME,
        format!("{what}: the sessions kept changing under it; try again"),
    )
}

fn not_found() -> Error {
    Error::not_found(
        BACKEND_NAME,
        "no live session with this id (unknown, deleted or expired)",
    )
}

/// The Redis [`SessionStore`].
#[derive(Debug)]
pub(crate) struct RedisSessionStore(pub(crate) Node);

impl RedisSessionStore {
    fn id_key(&self, id: &SessionId) -> IndexKey {
        self.0.hash(ID_DOMAIN, id.expose().as_bytes())
    }

    fn subject_key(&self, subject: &str) -> IndexKey {
        self.0.hash(SUBJECT_DOMAIN, subject.as_bytes())
    }

    /// A fresh session id and its hash. On Redis Cluster the id is drawn again until its
    /// hash falls in `subject`'s bucket, so that the session and its subject's index
    /// share one hash tag (one slot) and every session operation stays one script;
    /// elsewhere any fresh id will do.
    fn fresh_id(&self, subject: &IndexKey) -> Result<(SessionId, IndexKey)> {
        if !self.0.cluster {
            let id = SessionId::generate()?;
            let key = self.id_key(&id);
            return Ok((id, key));
        }
        let want = bucket(subject);
        for _ in 0..MAX_CLUSTER_DRAWS {
            let id = SessionId::generate()?;
            let key = self.id_key(&id);
            if bucket(&key) == want {
                return Ok((id, key));
            }
        }
        Err(Error::unexpected(
            BACKEND_NAME,
            "no freshly generated session id fell in its subject's bucket; the random \
             source cannot be trusted",
        ))
    }

    /// Opens the stored fields into the record, checking the plaintext expiry fields
    /// against the sealed meta.
    fn open(&self, key: &IndexKey, f: &Fields) -> Result<SessionRecord> {
        let meta: Meta = self
            .0
            .unseal(Contract::Session, &session_meta_key(key), f.m)?;
        meta.check(f.e, f.i)?;
        let data = self
            .0
            .unseal_bytes(Contract::Session, &session_data_key(key, f.v), f.d)?;
        Ok(SessionRecord {
            subject: meta.subject,
            data,
            created_at: meta.created_at,
            last_activity: Timestamp::from_millis(f.a),
            expires_at: meta.expires_at,
            idle_timeout: meta.idle_timeout,
            version: f.v,
        })
    }

    /// Reads the stored record under `key` (one `GET`).
    async fn read(&self, key: &IndexKey) -> Result<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.0.keys.record(Code::Session, key));
        reply::opt_bytes(self.0.query(&cmd, Write::No).await?, "session record")
    }

    /// The stored form of `record` under the id hash `key`: its meta and data sealed for
    /// that id hash, behind the header.
    fn pack(&self, key: &IndexKey, record: &SessionRecord) -> Result<Vec<u8>> {
        let meta = Meta {
            subject: record.subject.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            idle_timeout: record.idle_timeout,
        };
        let m = self
            .0
            .seal(Contract::Session, &session_meta_key(key), &meta)?;
        let d = self.0.seal_bytes(
            Contract::Session,
            &session_data_key(key, record.version),
            &record.data,
        )?;
        Fields::pack(
            record.expires_at.as_millis(),
            record.idle_timeout.map_or(0, duration_millis),
            record.last_activity.as_millis(),
            record.version,
            &m,
            &d,
        )
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, new: NewSession) -> Result<Session> {
        let config = &self.0.config;
        config.limits.check_key("session subject", &new.subject)?;
        config
            .limits
            .check_payload("session data", new.data.len())?;
        config.limits.check_ttl("session lifetime", new.lifetime)?;
        let idle_ms = match new.idle_timeout {
            Some(idle) => {
                config.limits.check_ttl("session idle timeout", idle)?;
                let ms = duration_millis(idle);
                if ms == 0 {
                    return Err(Error::invalid_input(
                        BACKEND_NAME,
                        "session idle timeout is under 1 ms",
                    ));
                }
                ms
            }
            None => 0,
        };
        let now = self.0.now();
        let expires_at = later(now, new.lifetime, "session lifetime")?;
        let subject = self.subject_key(&new.subject);
        let record = SessionRecord {
            subject: new.subject,
            data: new.data,
            created_at: Timestamp::from_millis(now),
            last_activity: Timestamp::from_millis(now),
            expires_at: Timestamp::from_millis(expires_at),
            idle_timeout: new.idle_timeout,
            version: 1,
        };
        let subject_index = self.0.keys.session_subject(&subject);
        for _ in 0..MAX_ID_ATTEMPTS {
            let (id, key) = self.fresh_id(&subject)?;
            let stored = self.pack(&key, &record)?;
            let rec = self.0.keys.record(Code::Session, &key);
            let args = Args::new()
                .int(now)
                .int(self.0.grace())
                .bytes(key.as_bytes().to_vec())
                .bytes(stored)
                .int(expires_at)
                .int(idle_ms);
            let created = self
                .0
                .eval(
                    &SESSION_CREATE,
                    &[rec, subject_index.clone()],
                    args,
                    Write::Yes,
                )
                .await?;
            // 0: the id hash is taken (even by an expired session): draw another id
            // rather than overwrite.
            if reply::int(&created, "session create")? == 1 {
                return Ok(Session { id, record });
            }
        }
        Err(ids_exhausted())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let Some(stored) = self.read(&key).await? else {
            return Ok(None);
        };
        let fields = Fields::parse(&stored)?;
        if fields.effective_expiry() <= self.0.now() {
            return Ok(None);
        }
        self.open(&key, &fields).map(Some)
    }

    async fn touch(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let key = self.id_key(id);
        let rec = self.0.keys.record(Code::Session, &key);
        let args = Args::new().int(self.0.now()).int(self.0.grace());
        let touched = self
            .0
            .eval(&SESSION_TOUCH, &[rec], args, Write::Yes)
            .await?;
        match touched {
            Value::Int(_) => Err(reply::malformed("session touch")),
            other => match reply::opt_bytes(other, "session touch")? {
                Some(stored) => self.open(&key, &Fields::parse(&stored)?).map(Some),
                None => Ok(None),
            },
        }
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
        let Some(next_version) = expected_version.checked_add(1) else {
            return Err(Error::conflict(
                BACKEND_NAME,
                "no session is at the largest version",
            ));
        };
        // Sealed before the round trip for the version it will have; thrown away if
        // the version moved.
        let d = self.0.seal_bytes(
            Contract::Session,
            &session_data_key(&key, next_version),
            &data,
        )?;
        let args = Args::new()
            .int(self.0.now())
            .bytes(expected_version.to_string())
            .bytes(d);
        let rec = self.0.keys.record(Code::Session, &key);
        let updated = self
            .0
            .eval(
                &SESSION_UPDATE,
                std::slice::from_ref(&rec),
                args,
                Write::Yes,
            )
            .await?;
        let items = reply::array(updated, "session update")?;
        let status = reply::status(&items, "session update")?;
        let second = items.into_iter().nth(1).unwrap_or(Value::Nil);
        match status {
            0 => Err(not_found()),
            1 => {
                let at = reply::int(&second, "session version")?;
                Err(Error::conflict(
                    BACKEND_NAME,
                    format!("the session is at version {at}, not the expected {expected_version}"),
                ))
            }
            _ => {
                let head = reply::bytes(second, "session record")?;
                let fields = Fields::parse(&head)?;
                let meta: Meta =
                    self.0
                        .unseal(Contract::Session, &session_meta_key(&key), fields.m)?;
                meta.check(fields.e, fields.i)?;
                if self.0.needs_reseal(fields.m) {
                    // A keyring migration: the meta was written in plaintext or with an
                    // older key. The update rewrites it too, so that the whole session is
                    // sealed with the current key afterwards.
                    let fresh = self
                        .0
                        .seal(Contract::Session, &session_meta_key(&key), &meta)?;
                    let args = Args::new().bytes(fields.m.to_vec()).bytes(fresh);
                    let resealed = self
                        .0
                        .eval(&SESSION_RESEAL, &[rec], args, Write::Yes)
                        .await?;
                    if reply::int(&resealed, "session reseal")? < 0 {
                        return Err(reply::malformed("session reseal"));
                    }
                }
                Ok(SessionRecord {
                    subject: meta.subject,
                    data,
                    created_at: meta.created_at,
                    last_activity: Timestamp::from_millis(fields.a),
                    expires_at: meta.expires_at,
                    idle_timeout: meta.idle_timeout,
                    version: next_version,
                })
            }
        }
    }

    async fn rotate_id(&self, id: &SessionId) -> Result<Session> {
        let old_key = self.id_key(id);
        let old_rec = self.0.keys.record(Code::Session, &old_key);
        'rounds: for _ in 0..MAX_ROUNDS {
            let Some(stored) = self.read(&old_key).await? else {
                return Err(not_found());
            };
            let fields = Fields::parse(&stored)?;
            if fields.effective_expiry() <= self.0.now() {
                return Err(not_found());
            }
            let mut record = self.open(&old_key, &fields)?;
            let subject = self.subject_key(&record.subject);
            let subject_index = self.0.keys.session_subject(&subject);
            for _ in 0..MAX_ID_ATTEMPTS {
                let (new_id, new_key) = self.fresh_id(&subject)?;
                // Sealed parts are bound to their id hash: sealed again for the new one.
                let moved = self.pack(&new_key, &record)?;
                let new_rec = self.0.keys.record(Code::Session, &new_key);
                let args = Args::new()
                    .int(self.0.now())
                    .int(self.0.grace())
                    .bytes(old_key.as_bytes().to_vec())
                    .bytes(new_key.as_bytes().to_vec())
                    .bytes(fields.v.to_string())
                    .bytes(moved);
                let keys = [old_rec.clone(), new_rec, subject_index.clone()];
                let result = self
                    .0
                    .eval(&SESSION_ROTATE, &keys, args, Write::Yes)
                    .await?;
                let items = reply::array(result, "session rotate")?;
                match reply::status(&items, "session rotate")? {
                    0 => return Err(not_found()),
                    // The version moved since the read: read again.
                    1 => continue 'rounds,
                    // The new id hash is taken: draw another id.
                    2 => continue,
                    _ => {
                        let a = reply::int(
                            items.get(1).unwrap_or(&Value::Nil),
                            "session last activity",
                        )?;
                        record.last_activity = Timestamp::from_millis(a);
                        return Ok(Session { id: new_id, record });
                    }
                }
            }
            return Err(ids_exhausted());
        }
        Err(contention("session rotate_id"))
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let key = self.id_key(id);
        let keys = [self.0.keys.record(Code::Session, &key)];
        let args = Args::new().int(self.0.now());
        let deleted = self
            .0
            .eval(&SESSION_DELETE, &keys, args, Write::Yes)
            .await?;
        Ok(reply::int(&deleted, "session delete")? == 1)
    }

    async fn list_by_subject(&self, subject: &str) -> Result<Vec<SessionSummary>> {
        self.0.config.limits.check_key("session subject", subject)?;
        let index = self.0.keys.session_subject(&self.subject_key(subject));
        let mut members: Vec<Vec<u8>> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let now = self.0.now();
            let mut keys = Vec::with_capacity(members.len() + 1);
            keys.push(index.clone());
            let mut args = Args::new().int(now);
            let mut hashes = Vec::with_capacity(members.len());
            for member in &members {
                let key = index_key(member)?;
                keys.push(self.0.keys.record(Code::Session, &key));
                args.push(member.clone());
                hashes.push(key);
            }
            let listed = self.0.eval(&SESSION_LIST, &keys, args, Write::No).await?;
            let items = reply::array(listed, "session list")?;
            if reply::status(&items, "session list")? == 0 {
                let current = items.into_iter().nth(1).unwrap_or(Value::Nil);
                members = reply::array(current, "session list members")?
                    .into_iter()
                    .map(|m| reply::bytes(m, "session list member"))
                    .collect::<Result<_>>()?;
                continue;
            }
            let mut out = Vec::new();
            for (key, stored) in hashes.into_iter().zip(items.into_iter().skip(1)) {
                let Some(stored) = reply::opt_bytes(stored, "session record")? else {
                    continue;
                };
                let fields = Fields::parse(&stored)?;
                if fields.effective_expiry() > now {
                    out.push(SessionSummary {
                        id_hash: key,
                        record: self.open(&key, &fields)?,
                    });
                }
            }
            return Ok(out);
        }
        Err(contention("session list_by_subject"))
    }

    async fn delete_by_subject(&self, subject: &str) -> Result<u64> {
        self.0.config.limits.check_key("session subject", subject)?;
        let index = self.0.keys.session_subject(&self.subject_key(subject));
        let mut members: Vec<Vec<u8>> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let mut keys = Vec::with_capacity(members.len() + 1);
            keys.push(index.clone());
            let mut args = Args::new().int(self.0.now());
            for member in &members {
                keys.push(self.0.keys.record(Code::Session, &index_key(member)?));
                args.push(member.clone());
            }
            let result = self
                .0
                .eval(&SESSION_DELETE_BY_SUBJECT, &keys, args, Write::Yes)
                .await?;
            let items = reply::array(result, "session delete_by_subject")?;
            let second = items.get(1).cloned().unwrap_or(Value::Nil);
            if reply::status(&items, "session delete_by_subject")? == 0 {
                members = reply::array(second, "session delete_by_subject members")?
                    .into_iter()
                    .map(|m| reply::bytes(m, "session index member"))
                    .collect::<Result<_>>()?;
                continue;
            }
            let ended = reply::int(&second, "session delete_by_subject")?;
            return Ok(u64::try_from(ended).unwrap_or(0));
        }
        Err(contention("session delete_by_subject"))
    }
}

#[async_trait]
impl Purge for RedisSessionStore {
    async fn purge(&self, policy: &PurgePolicy) -> Result<PurgeReport> {
        purge::run_scan(&self.0, Code::Session, Kind::Session, policy).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pack_and_parse() {
        let packed = Fields::pack(
            1_795_000_000_000,
            600_000,
            1_794_999_999_000,
            7,
            b"meta",
            b"data",
        )
        .expect("packs");
        assert_eq!(packed.len(), HEADER_LEN + 8);
        let f = Fields::parse(&packed).expect("parses");
        assert_eq!(
            (f.e, f.i, f.a, f.v, f.m, f.d),
            (
                1_795_000_000_000,
                600_000,
                1_794_999_999_000,
                7,
                &b"meta"[..],
                &b"data"[..]
            )
        );
        // The idle end (a + i) is past the absolute end: the absolute end wins.
        assert_eq!(f.effective_expiry(), 1_795_000_000_000);
        let idle_first = Fields::pack(1_795_000_000_000, 600_000, 1_794_000_000_000, 1, b"", b"")
            .expect("packs");
        let f = Fields::parse(&idle_first).expect("parses");
        assert_eq!(f.effective_expiry(), 1_794_000_600_000);
        // The header and meta alone (what update returns) parse too.
        let head = Fields::parse(&packed[..HEADER_LEN + 4]).expect("parses");
        assert!(head.d.is_empty());
    }

    #[test]
    fn malformed_records_are_corrupt() {
        let packed = Fields::pack(1, 0, 1, 1, b"meta", b"").expect("packs");
        for bad in [&packed[..10], &packed[..HEADER_LEN + 2]] {
            let e = Fields::parse(bad).err().expect("refused");
            assert_eq!(e.kind(), authstate_core::ErrorKind::Corrupt);
        }
        let mut other_format = packed.clone();
        other_format[0] = 2;
        assert!(Fields::parse(&other_format).is_err());
    }
}
