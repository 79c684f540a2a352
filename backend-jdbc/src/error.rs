//! Mapping sqlx's errors onto authstate's vocabulary, in one place.
//!
//! A database that cannot answer is `Unavailable` (retryable), so callers fail closed;
//! authentication failures, unknown databases and missing tables are `ConfigInvalid`
//! (a retry cannot help, an operator can); everything else is `Unexpected`.

use authstate_core::Error;

use crate::dialect::Dialect;

/// How an error from the database is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A deadlock, a serialization failure or a lock wait timeout: the statement or
    /// transaction was rolled back, and running it again is safe.
    Transient,
    /// A unique or primary key violation.
    Unique,
    /// A table or schema of the namespace is missing: `migrate` has not run.
    MissingSchema,
    /// Wrong user or password, no such database, no permission.
    Config,
    /// The server did not answer, refused for now, or the pool timed out.
    Unavailable,
    /// Anything else.
    Unexpected,
}

/// Classifies a sqlx error.
pub(crate) fn classify(err: &sqlx::Error) -> Class {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Class::Unavailable,
        sqlx::Error::Configuration(_) | sqlx::Error::InvalidArgument(_) => Class::Config,
        sqlx::Error::Database(db) => classify_database(db.as_ref()),
        _ => Class::Unexpected,
    }
}

fn classify_database(db: &dyn sqlx::error::DatabaseError) -> Class {
    if db.is_unique_violation() {
        return Class::Unique;
    }
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match my.number() {
            // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
            1213 | 1205 => Class::Transient,
            // ER_NO_SUCH_TABLE
            1146 => Class::MissingSchema,
            // access denied (user, database, table), unknown database
            1044 | 1045 | 1049 | 1142 | 1698 => Class::Config,
            // too many connections, server shutdown, read-only
            1040 | 1053 | 1290 | 1836 => Class::Unavailable,
            _ => Class::Unexpected,
        };
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        // Primary result code: the low byte of the extended code.
        return match code & 0xff {
            // SQLITE_BUSY, SQLITE_LOCKED: the busy timeout ran out.
            5 | 6 => Class::Unavailable,
            // SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_AUTH, SQLITE_NOTADB
            8 | 14 | 3 | 23 | 26 => Class::Config,
            // SQLITE_IOERR, SQLITE_FULL
            10 | 13 => Class::Unavailable,
            1 if db.message().contains("no such table") => Class::MissingSchema,
            _ => Class::Unexpected,
        };
    }
    // PostgreSQL: SQLSTATE classes.
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    match code.as_str() {
        "40001" | "40P01" | "55P03" => Class::Transient,
        "42P01" | "3F000" => Class::MissingSchema,
        c if c.starts_with("28") || c == "3D000" || c == "42501" => Class::Config,
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            Class::Unavailable
        }
        "25006" => Class::Unavailable,
        _ => Class::Unexpected,
    }
}

/// Maps a sqlx error raised while talking to a `dialect` database.
pub(crate) fn map(dialect: Dialect, err: sqlx::Error) -> Error {
    let backend = dialect.name();
    let message = describe(&err);
    let mapped = match classify(&err) {
        Class::Transient => Error::unavailable(
            backend,
            format!("the database rolled the operation back (deadlock or lock timeout): {message}"),
        ),
        Class::Unavailable => Error::unavailable(backend, message),
        Class::Config => Error::config(backend, message),
        Class::MissingSchema => Error::config(
            backend,
            format!(
                "a table of the authstate schema is missing ({message}): run migrate \
                 (`authstate migrate`) for this namespace"
            ),
        ),
        Class::Unique => Error::unexpected(backend, message),
        Class::Unexpected => Error::unexpected(backend, message),
    };
    mapped.with_source(err)
}

/// A message for `err` that says what failed without echoing statements or values.
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::PoolTimedOut => {
            "no database connection became available within the acquire timeout (the server \
             is unreachable, or every connection of the pool is busy)"
                .to_string()
        }
        sqlx::Error::PoolClosed => "the connection pool has been closed".to_string(),
        sqlx::Error::Io(e) => format!("I/O error talking to the database: {e}"),
        sqlx::Error::Tls(e) => format!("TLS error talking to the database: {e}"),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| format!(" [{c}]")).unwrap_or_default();
            format!("database error{code}: {}", db.message())
        }
        other => other.to_string(),
    }
}

/// Whether `err` (as mapped by [`map`]) came from a deadlock or serialization failure,
/// so that running the whole operation again is safe.
pub(crate) fn is_transient(err: &Error) -> bool {
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<sqlx::Error>())
        .is_some_and(|e| classify(e) == Class::Transient)
}

/// Whether `err` is a unique-key violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    classify(err) == Class::Unique
}

/// A codec error, re-raised under this backend's name with the original as source.
pub(crate) fn from_codec(dialect: Dialect, contract: authstate_core::Contract, e: Error) -> Error {
    Error::new(
        e.kind(),
        dialect.name(),
        format!("{contract} record: {}", e.message()),
    )
    .with_retryable(e.is_retryable())
    .with_source(e)
}

/// A stored value that does not fit what this code wrote (a column out of range, a
/// sealed record that disagrees with its columns): `Corrupt`.
pub(crate) fn corrupt(dialect: Dialect, message: impl Into<String>) -> Error {
    Error::corrupt(dialect.name(), message)
}
