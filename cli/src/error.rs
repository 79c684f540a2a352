//! How the command fails: what is printed and with which exit status.

use std::error::Error as _;
use std::process::ExitCode;

/// A failure of the command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input was wrong (a bad `--backend`, `--id`, an option not supported yet):
    /// exit status 2, like clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] authstate::Error),
    /// The command ran but did not succeed (for example, operations of a bench failed).
    #[error("{0}")]
    Failed(String),
    /// The output could not be written (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
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
            CliError::Usage(_) | CliError::Failed(_) => None,
        };
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
    }
}
