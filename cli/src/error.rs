//! How the command fails: what is printed and with which exit status.

use std::error::Error as _;
use std::fmt;
use std::process::ExitCode;

use authstate::ErrorKind;

/// A failure of the command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line was wrong (a bad `--backend`, `--id`, a value out of range):
    /// exit status 2, like clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// The configuration is wrong: exit status 2, with the file, line and field.
    #[error("{0}")]
    Config(ConfigError),
    /// A store operation failed. `ConfigInvalid` errors (a backend refusing its
    /// settings) exit with 2, all others with 1.
    #[error(transparent)]
    Store(#[from] authstate::Error),
    /// A backend that the configuration rightly names is not compiled into this binary.
    /// The configuration is valid, so this is a runtime failure (exit status 1).
    #[error(
        "backend {backend:?}: the {kind} backend is not built into this release yet; the \
         configuration is valid, but this authstate binary cannot open it (use a build with \
         the {kind} backend, or choose another backend with --backend or --config)"
    )]
    NotBuilt {
        /// The backend's name in the configuration.
        backend: String,
        /// Its kind (`redis`, `postgres`, …).
        kind: &'static str,
    },
    /// The command ran but did not succeed (for example, operations of a bench failed).
    #[error("{0}")]
    Failed(String),
    /// The output could not be written (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// What is wrong in a configuration, and where: `authstate.toml:12: services.sesions:
/// unknown service "sesions" (…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it, `--backend`, or `(embedded default)`.
    pub file: Option<String>,
    /// The 1-based line in the file.
    pub line: Option<usize>,
    /// The field: `services.sesions`, `encryption.keys[0].key_file`, `--backend`.
    pub field: Option<String>,
    /// What is wrong. Never holds a secret.
    pub message: String,
}

impl ConfigError {
    /// An error about `field` (no file): a command-line option.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(e)
    }
}

impl CliError {
    /// 2 for usage and configuration errors, 1 for everything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) | CliError::Config(_) => ExitCode::from(2),
            CliError::Store(e) if e.kind() == ErrorKind::ConfigInvalid => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }

    /// Prints `error: …` and the chain of causes to stderr. Never a panic trace.
    pub fn print(&self) {
        // A reader that went away (`authstate bench | head`) is not worth a message.
        if let CliError::Output(e) = self
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return;
        }
        eprintln!("error: {self}");
        // The wrapped error's own message is already in the line above; print only
        // what caused it.
        let mut source = match self {
            CliError::Store(e) => e.source(),
            CliError::Output(e) => e.source(),
            _ => None,
        };
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_show_file_line_and_field() {
        let e = ConfigError {
            file: Some("authstate.toml".into()),
            line: Some(12),
            field: Some("services.sesions".into()),
            message: "unknown service".into(),
        };
        assert_eq!(
            e.to_string(),
            "authstate.toml:12: services.sesions: unknown service"
        );
        assert_eq!(
            ConfigError::field("--backend", "bad").to_string(),
            "--backend: bad"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            CliError::Config(ConfigError::field("x", "y")).exit_code(),
            ExitCode::from(2)
        );
        assert_eq!(
            CliError::Store(authstate::Error::config("redis", "bad option")).exit_code(),
            ExitCode::from(2)
        );
        assert_eq!(
            CliError::Store(authstate::Error::unavailable("redis", "down")).exit_code(),
            ExitCode::FAILURE
        );
        assert_eq!(
            CliError::NotBuilt {
                backend: "cache".into(),
                kind: "redis"
            }
            .exit_code(),
            ExitCode::FAILURE
        );
    }
}
