use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Purge;
use crate::codec::IndexKey;
use crate::error::Result;
use crate::id::SessionId;
use crate::time::Timestamp;

/// What a caller gives to start a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Who the session is for; kept (sealed) in the record and indexed by keyed hash.
    pub subject: String,
    /// Opaque application data (claims, authentication context).
    pub data: Vec<u8>,
    /// The absolute lifetime: the session ends this long after creation, whatever happens.
    pub lifetime: Duration,
    /// The idle timeout: the session also ends this long after its last activity.
    pub idle_timeout: Option<Duration>,
}

/// A stored session, without its id (which the store never keeps in the clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who the session is for.
    pub subject: String,
    /// Opaque application data.
    pub data: Vec<u8>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last touched (creation counts).
    pub last_activity: Timestamp,
    /// The absolute end: `created_at + lifetime`.
    pub expires_at: Timestamp,
    /// The idle timeout, if any.
    pub idle_timeout: Option<Duration>,
    /// Starts at 1; every `update` adds 1. `touch` and `rotate_id` keep it.
    pub version: u64,
}

impl SessionRecord {
    /// When the session ends: the earlier of the absolute end and the idle end.
    pub fn effective_expiry(&self) -> Timestamp {
        match self.idle_timeout {
            Some(idle) => self.expires_at.min(self.last_activity.saturating_add(idle)),
            None => self.expires_at,
        }
    }

    /// Whether the session is live at `now` (it ends exactly at its effective expiry).
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.effective_expiry()
    }
}

/// A session with its id, as `create` and `rotate_id` return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id to hand to the client. The store keeps only its keyed hash.
    pub id: SessionId,
    /// Everything else.
    pub record: SessionRecord,
}

/// A session found by subject: its record and the keyed hash of its id (the id itself
/// cannot be recovered from storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The keyed hash of the session id, as stored.
    pub id_hash: IndexKey,
    /// The session.
    pub record: SessionRecord,
}

/// Authentication sessions: PingFederate's persistent session groups, Airlock's session
/// state, Authelia's sessions.
///
/// A session is live while the store's clock is before its
/// [`effective expiry`](SessionRecord::effective_expiry); a session that is not live is
/// never returned, updated or touched, whether or not purge has removed it yet.
#[async_trait]
pub trait SessionStore: Purge {
    /// Starts a session with a new random id.
    ///
    /// # Behavior
    /// - `create_returns_new_random_id`: the id is 256 random bits (43 base64url
    ///   characters) and differs from every other session's.
    /// - `create_sets_times_and_version`: `created_at` and `last_activity` are now,
    ///   `expires_at` is now plus the lifetime, and `version` is 1.
    /// - `create_then_get_returns_record`: `get` with the new id returns the same record.
    /// - `create_refuses_oversized_data`: data over the payload limit is `InvalidInput`.
    /// - `create_refuses_bad_lifetime`: a zero lifetime, one over the TTL cap, or a zero
    ///   idle timeout is `InvalidInput`.
    /// - `create_never_overwrites`: creating never replaces another session (an id
    ///   collision is retried with a new id, never overwritten).
    async fn create(&self, new: NewSession) -> Result<Session>;

    /// Reads a live session.
    ///
    /// # Behavior
    /// - `get_unknown_is_none`: an id never created returns `None`.
    /// - `get_expired_is_none`: at its absolute expiry (not 1 ms later) the session is
    ///   gone, even before purge.
    /// - `get_idle_expired_is_none`: at `last_activity + idle_timeout` the session is gone.
    /// - `get_does_not_touch`: reading does not change `last_activity`.
    async fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// Records activity: sets `last_activity` to now, sliding the idle expiry.
    ///
    /// # Behavior
    /// - `touch_slides_idle_expiry`: after a touch the session lives until now plus the
    ///   idle timeout.
    /// - `touch_never_extends_past_lifetime`: no number of touches keeps a session past
    ///   its absolute expiry.
    /// - `touch_keeps_version`: a touch does not change the version, so an `update` with
    ///   the version read before it still succeeds.
    /// - `touch_expired_is_none`: touching an expired or unknown session returns `None`
    ///   and does not bring it back.
    async fn touch(&self, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// Replaces the data if the version is still `expected_version`.
    ///
    /// # Behavior
    /// - `update_with_current_version_succeeds`: the data is replaced and the version
    ///   goes up by exactly 1; other fields are kept.
    /// - `update_with_stale_version_conflicts`: a version that moved is `Conflict`, and
    ///   the stored record is unchanged.
    /// - `update_unknown_is_not_found`: an unknown id is `NotFound`.
    /// - `update_never_resurrects`: a deleted or expired session is `NotFound`, never
    ///   recreated.
    /// - `update_refuses_oversized_data`: data over the payload limit is `InvalidInput`.
    async fn update(
        &self,
        id: &SessionId,
        expected_version: u64,
        data: Vec<u8>,
    ) -> Result<SessionRecord>;

    /// Moves the session to a new random id, atomically (session-fixation defence).
    ///
    /// # Behavior
    /// - `rotate_id_moves_session`: the new id returns the same record (same subject,
    ///   data, times and version).
    /// - `rotate_id_old_id_stops_working`: at once, the old id gives `None` on `get`,
    ///   `NotFound` on `update` and `false` on `delete`.
    /// - `rotate_id_unknown_is_not_found`: an unknown or expired id is `NotFound`.
    /// - `rotate_id_keeps_subject_index`: `list_by_subject` shows the session once, under
    ///   the new id's hash.
    async fn rotate_id(&self, id: &SessionId) -> Result<Session>;

    /// Ends one session.
    ///
    /// # Behavior
    /// - `delete_removes_session`: returns `true`, and the session is gone for every
    ///   reader at once.
    /// - `delete_unknown_is_false`: an unknown, expired or already deleted id returns
    ///   `false`.
    /// - `delete_removes_from_subject_index`: the session no longer appears in
    ///   `list_by_subject`.
    async fn delete(&self, id: &SessionId) -> Result<bool>;

    /// Lists a subject's live sessions.
    ///
    /// # Behavior
    /// - `list_by_subject_returns_live_sessions`: every live session of the subject,
    ///   each once, with the keyed hash of its id.
    /// - `list_by_subject_skips_expired`: expired sessions are not listed, even before purge.
    /// - `list_by_subject_isolates_subjects`: sessions of other subjects are never listed.
    async fn list_by_subject(&self, subject: &str) -> Result<Vec<SessionSummary>>;

    /// Ends every session of a subject at once (a user disabled, roles changed).
    ///
    /// # Behavior
    /// - `delete_by_subject_removes_all`: returns how many live sessions it ended, and
    ///   none of them can be read, touched or updated afterwards.
    /// - `delete_by_subject_spares_other_subjects`: other subjects' sessions are untouched.
    /// - `delete_by_subject_unknown_is_zero`: a subject with no sessions returns 0.
    async fn delete_by_subject(&self, subject: &str) -> Result<u64>;
}
