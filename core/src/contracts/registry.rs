use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Purge;
use crate::error::Result;
use crate::time::Timestamp;

/// A participant in a subject's single-logout set: one session at one partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The IdP's (or SP's) session reference.
    pub session_ref: String,
    /// The partner (SP entity id, RP client id).
    pub partner_id: String,
    /// The SAML `SessionIndex` or OIDC `sid` sent to the partner, if any.
    pub session_index: Option<String>,
    /// When this entry expires with its session.
    pub expires_at: Timestamp,
}

/// The IdP and SP session registries used for single logout: which partners each
/// subject has sessions with. Subjects are indexed by keyed hash; participants are sealed.
#[async_trait]
pub trait SessionRegistry: Purge {
    /// Adds a participant, or replaces the one with the same `session_ref` and
    /// `partner_id`.
    ///
    /// # Behavior
    /// - `register_then_participants_lists_it`: `participants` returns it.
    /// - `register_same_participant_replaces`: registering the same session reference
    ///   and partner again replaces the entry (one entry, the new expiry and index).
    /// - `register_refuses_bad_input`: an `expires_at` at or before now or past the TTL
    ///   cap, or an empty subject, session reference or partner, is `InvalidInput`.
    async fn register(&self, subject: &str, participant: Participant) -> Result<()>;

    /// The subject's live participants.
    ///
    /// # Behavior
    /// - `participants_unknown_is_empty`: a subject never registered has none.
    /// - `participants_skip_expired`: an entry at or past its `expires_at` is not
    ///   returned, even before purge.
    /// - `participants_isolate_subjects`: other subjects' entries are never returned.
    async fn participants(&self, subject: &str) -> Result<Vec<Participant>>;

    /// Removes one participant; returns whether a live one was there.
    ///
    /// # Behavior
    /// - `remove_deletes_participant`: returns `true`; others of the subject stay.
    /// - `remove_unknown_is_false`: an unknown participant returns `false`.
    async fn remove(&self, subject: &str, session_ref: &str, partner_id: &str) -> Result<bool>;

    /// Removes every participant of a subject and returns the live ones removed, so the
    /// caller can send each a logout request.
    ///
    /// # Behavior
    /// - `remove_all_returns_and_clears`: returns every live participant once; afterwards
    ///   `participants` is empty.
    /// - `remove_all_concurrent_returns_each_once`: of concurrent calls, each participant
    ///   is returned by exactly one (no partner gets two logout requests).
    async fn remove_all(&self, subject: &str) -> Result<Vec<Participant>>;
}
