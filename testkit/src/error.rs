//! The one error type of the kit.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// The kit's result type.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Why a test server could not be provided.
///
/// Every message is meant to be read by whoever runs the tests, so it names the program,
/// the package to install, or the log of the server that failed.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The server binary is not installed.
    #[error(
        "{program} not found on PATH{also_searched}: install it with `apt-get install -y {packages}` (Debian {} {packages})",
        package_word(.packages)
    )]
    NotInstalled {
        /// The program that was looked for, e.g. `redis-server`.
        program: String,
        /// The Debian package(s) that provide it, space-separated.
        packages: String,
        /// Where else it was looked for, e.g. ` or in /usr/sbin` (empty when only PATH).
        also_searched: String,
    },
    /// An I/O operation of the kit itself failed (temporary directory, log file, spawn).
    #[error("{what}: {source}")]
    Io {
        /// What the kit was doing.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The server process ended before it answered.
    #[error("{program} exited before it was ready ({status}); last lines of its log:\n{log_tail}")]
    Exited {
        /// The program that ended.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of its stdout/stderr.
        log_tail: String,
    },
    /// The server kept running but did not answer the readiness probe in time.
    #[error(
        "{program} did not answer on {addr} within {waited:?} (last probe: {last_error}); last lines of its log:\n{log_tail}"
    )]
    NotReady {
        /// The program that was started.
        program: String,
        /// The address that was probed.
        addr: SocketAddr,
        /// How long the kit waited.
        waited: Duration,
        /// What the last probe saw.
        last_error: String,
        /// The end of its stdout/stderr.
        log_tail: String,
    },
    /// A set-up tool (e.g. `slapadd`) that runs before the server failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    ToolFailed {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// An `AUTHSTATE_TEST_<KIND>_URL` variable is set but does not hold a usable URL.
    #[error("{var}={value:?} is not a usable server URL: expected it to start with {expected}")]
    BadExternalUrl {
        /// The environment variable.
        var: String,
        /// Its value.
        value: String,
        /// The accepted URL schemes.
        expected: String,
    },
    /// Options that cannot describe a server, e.g. an LDAP suffix the kit cannot seed.
    #[error("invalid test server options: {0}")]
    InvalidOptions(String),
    /// A Docker engine answered but the container could not be used.
    #[error("container provider: {0}")]
    Container(String),
}

impl TestkitError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

fn package_word(packages: &str) -> &'static str {
    if packages.contains(' ') {
        "packages"
    } else {
        "package"
    }
}

/// Unwraps a kit result or fails the calling test with the kit's message.
///
/// A missing server is a failing test that says what to install, never a silent skip.
#[track_caller]
pub fn require<T>(result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("authstate-testkit: {error}"),
    }
}
