//! The hashing domains: what each keyed hash stands for.
//!
//! Every backend hashes a handle, id, token or subject with
//! [`StoreConfig::hash`](crate::StoreConfig::hash) in one of these domains, so that all
//! backends (and every node computing a hash for a local cache) agree on the same
//! stored keys. They are part of the stored format: they never change.

/// Session ids.
pub const SESSION_ID: &str = "session.id";
/// Subjects in the session store's subject index.
pub const SESSION_SUBJECT: &str = "session.subject";
/// Artifact handles (codes, PAR request URIs, SAML artifacts).
pub const ARTIFACT_HANDLE: &str = "artifact.handle";
/// Inter-request state keys.
pub const STATE_KEY: &str = "state.key";
/// Replay-cache ids (`jti`, assertion ids).
pub const REPLAY_ID: &str = "replay.id";
/// Lockout counter keys.
pub const LOCKOUT_KEY: &str = "lockout.key";
/// Key set names.
pub const KEY_SET_NAME: &str = "key.name";
/// Session reference ids in the revocation store.
pub const REVOCATION_SRI: &str = crate::contracts::REVOCATION_SRI_DOMAIN;
/// Subjects in the revocation store.
pub const REVOCATION_SUBJECT: &str = crate::contracts::REVOCATION_SUBJECT_DOMAIN;
/// Reference token values.
pub const TOKEN_VALUE: &str = "token.value";
/// Subjects in the token store's subject index.
pub const TOKEN_SUBJECT: &str = "token.subject";
/// Grant ids in the token store's grant index.
pub const TOKEN_GRANT: &str = "token.grant";
/// Subject and client pairs in the token store's client index.
pub const TOKEN_CLIENT: &str = "token.client";
/// Subjects in the single-logout registry.
pub const REGISTRY_SUBJECT: &str = "registry.subject";
/// Session reference and partner pairs in the single-logout registry.
pub const REGISTRY_PARTICIPANT: &str = "registry.participant";
