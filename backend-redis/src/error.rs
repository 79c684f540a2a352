//! Mapping the redis client's errors onto authstate's vocabulary, in one place.

use authstate_core::Error;
use redis::{ErrorKind as RedisKind, RedisError};

use crate::BACKEND_NAME;

/// Maps a client error. Anything that means "the server did not answer or refused for
/// now" is `Unavailable` (retryable), so callers fail closed; authentication and
/// permission failures are `ConfigInvalid` (a retry cannot help).
pub(crate) fn map(err: RedisError) -> Error {
    let message = err.to_string();
    let kind = err.kind();
    let mapped = if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_cluster_error()
        || matches!(kind, RedisKind::ClusterConnectionNotFound)
        || message.contains("TRYAGAIN")
        || message.contains("CLUSTERDOWN")
        || message.contains("READONLY")
        || message.contains("LOADING")
        || message.contains("MASTERDOWN")
    {
        Error::unavailable(BACKEND_NAME, message)
    } else if matches!(kind, RedisKind::AuthenticationFailed)
        || message.contains("NOPERM")
        || message.contains("WRONGPASS")
        || message.contains("NOAUTH")
    {
        Error::config(BACKEND_NAME, message)
    } else {
        Error::unexpected(BACKEND_NAME, message)
    };
    mapped.with_source(err)
}
