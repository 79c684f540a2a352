//! One error vocabulary for every contract and every backend.

use std::fmt;

/// A boxed error from a backend's client library, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of every authstate operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the backend.
///
/// The list is non-exhaustive: match the kinds you act on and treat the rest as failures.
/// Backends never map an error of theirs to "not found", "fresh" or "not revoked": a
/// backend that cannot answer says [`ErrorKind::Unavailable`], so callers fail closed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The record the operation needs does not exist (or has expired).
    NotFound,
    /// A live record already holds that key.
    AlreadyExists,
    /// A version or a condition did not match: somebody else changed the record first.
    Conflict,
    /// The caller's input is refused: too large, malformed, a TTL past the configured cap.
    InvalidInput,
    /// The backend cannot do this (see [`crate::Capabilities`]).
    Unsupported,
    /// The configuration is wrong: a bad URL, a missing key file, an unknown option.
    ConfigInvalid,
    /// The backend did not answer or refused for now; retrying may help.
    Unavailable,
    /// A stored record cannot be decoded or fails its integrity check.
    Corrupt,
    /// Anything else: a bug or a server answer nobody expected.
    Unexpected,
}

impl ErrorKind {
    /// A short lowercase name, used in messages and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ConfigInvalid => "invalid configuration",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Corrupt => "corrupt record",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authstate error: a [`kind`](Error::kind), the backend that raised it, a message
/// that says what was wrong, and the underlying error as `source`.
///
/// Messages never contain secrets: no session ids, codes, tokens, keys or payloads.
#[derive(thiserror::Error)]
#[error("{backend}: {kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    backend: &'static str,
    message: String,
    retryable: bool,
    #[source]
    source: Option<BoxError>,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind)
            .field("backend", &self.backend)
            .field("message", &self.message)
            .field("retryable", &self.retryable);
        if let Some(source) = &self.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl Error {
    /// A new error of `kind` raised by `backend`. Only [`ErrorKind::Unavailable`] is
    /// retryable by default.
    pub fn new(kind: ErrorKind, backend: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            backend,
            message: message.into(),
            retryable: kind == ErrorKind::Unavailable,
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Overrides whether a retry can help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend that raised the error (`"memory"`, `"redis"`, `"postgres"`, …, or
    /// `"core"` for checks made before any backend is asked).
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The message, without the kind and backend prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same call may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, backend, message)
    }

    /// Shorthand for [`ErrorKind::AlreadyExists`].
    pub fn already_exists(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, backend, message)
    }

    /// Shorthand for [`ErrorKind::Conflict`].
    pub fn conflict(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, backend, message)
    }

    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid_input(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, backend, message)
    }

    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, backend, message)
    }

    /// Shorthand for [`ErrorKind::ConfigInvalid`].
    pub fn config(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConfigInvalid, backend, message)
    }

    /// Shorthand for [`ErrorKind::Unavailable`] (retryable).
    pub fn unavailable(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, backend, message)
    }

    /// Shorthand for [`ErrorKind::Corrupt`].
    pub fn corrupt(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, backend, message)
    }

    /// Shorthand for [`ErrorKind::Unexpected`].
    pub fn unexpected(backend: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unexpected, backend, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_backend_kind_and_message() {
        let e = Error::unavailable("redis", "connection refused");
        assert_eq!(e.to_string(), "redis: unavailable: connection refused");
        assert!(e.is_retryable());
        assert!(!Error::corrupt("redis", "bad tag").is_retryable());
    }
}
