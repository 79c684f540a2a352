//! Names of the nine contracts, used in associated data, hashing domains and messages.

use std::fmt;

/// One of the nine services a backend provides.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// [`crate::SessionStore`]
    Session,
    /// [`crate::ArtifactStore`]
    Artifact,
    /// [`crate::StateStore`]
    State,
    /// [`crate::ReplayCache`]
    Replay,
    /// [`crate::LockoutStore`]
    Lockout,
    /// [`crate::KeyStore`]
    Key,
    /// [`crate::RevocationStore`]
    Revocation,
    /// [`crate::TokenStore`]
    Token,
    /// [`crate::SessionRegistry`]
    Registry,
}

impl Contract {
    /// All nine, in a fixed order.
    pub const ALL: [Contract; 9] = [
        Contract::Session,
        Contract::Artifact,
        Contract::State,
        Contract::Replay,
        Contract::Lockout,
        Contract::Key,
        Contract::Revocation,
        Contract::Token,
        Contract::Registry,
    ];

    /// A stable lowercase name (`"session"`, `"artifact"`, …). It is part of what is
    /// hashed and sealed, so it never changes.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::Session => "session",
            Contract::Artifact => "artifact",
            Contract::State => "state",
            Contract::Replay => "replay",
            Contract::Lockout => "lockout",
            Contract::Key => "key",
            Contract::Revocation => "revocation",
            Contract::Token => "token",
            Contract::Registry => "registry",
        }
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
