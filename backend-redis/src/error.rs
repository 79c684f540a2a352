//! Mapping the redis client's errors onto authstate's vocabulary, in one place.

use authstate_core::Error;
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

use crate::BACKEND_NAME;

/// Maps a client error. Anything that means "the server did not answer or refused for
/// now" is `Unavailable` (retryable), so callers fail closed; authentication,
/// permission and client-configuration failures are `ConfigInvalid` (a retry cannot help).
///
/// It matches the client's error kinds and the server's error codes, never the display
/// text (redis 1.8 prints known codes as `ReadOnly:`, `NoPerm:`, …).
pub(crate) fn map(err: RedisError) -> Error {
    let message = err.to_string();
    let code = err.code().map(str::to_owned);
    let mapped = if is_unavailable(&err) {
        Error::unavailable(BACKEND_NAME, message)
    } else if is_config(&err, code.as_deref()) {
        Error::config(BACKEND_NAME, message)
    } else {
        Error::unexpected(BACKEND_NAME, message)
    };
    mapped.with_source(err)
}

fn is_unavailable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_cluster_error()
        || matches!(
            err.kind(),
            RedisKind::ClusterConnectionNotFound
                | RedisKind::NoValidReplicasFoundBySentinel
                | RedisKind::Server(
                    ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::BusyLoading
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                )
        )
}

fn is_config(err: &RedisError, code: Option<&str>) -> bool {
    matches!(
        err.kind(),
        RedisKind::AuthenticationFailed
            | RedisKind::InvalidClientConfig
            | RedisKind::MasterNameNotFoundBySentinel
            | RedisKind::EmptySentinelList
            | RedisKind::Server(ServerErrorKind::NoPerm)
    ) || matches!(code, Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}
