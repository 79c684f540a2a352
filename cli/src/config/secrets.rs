//! Reading secrets from files and environment variables, and decoding key material.
//!
//! Nothing here prints or returns a secret in an error message: messages name the file
//! or the variable, never what is in it.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file: the path as written, and as resolved against the config file's folder.
    File {
        /// As written in the config.
        written: String,
        /// Where it is read.
        path: PathBuf,
    },
    /// An environment variable.
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File { path, .. } => {
                write!(f, "the file {:?}", path.display().to_string())
            }
            SecretSource::Env(name) => write!(f, "the environment variable {name}"),
        }
    }
}

impl SecretSource {
    /// A file named in a config file in `dir`: a relative path is relative to `dir`.
    pub fn file(written: &str, dir: &Path) -> Self {
        let path = Path::new(written);
        let path = if path.is_relative() {
            dir.join(path)
        } else {
            path.to_path_buf()
        };
        SecretSource::File {
            written: written.to_string(),
            path,
        }
    }

    /// Reads the secret as text with surrounding whitespace (a final newline) removed.
    pub fn read(&self) -> Result<Zeroizing<String>, String> {
        let mut text = match self {
            SecretSource::File { path, .. } => Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {self}: {e}"))?,
            ),
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) => Zeroizing::new(v),
                Err(std::env::VarError::NotPresent) => {
                    return Err(format!("the environment variable {name} is not set"));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!(
                        "the environment variable {name} is not valid UTF-8"
                    ));
                }
            },
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(format!("{self} is empty"));
        }
        if trimmed.len() != text.len() {
            let owned = Zeroizing::new(trimmed.to_string());
            // The untrimmed copy is wiped when `text` is dropped.
            text = owned;
        }
        Ok(text)
    }
}

/// Key material as `authstate keys generate` prints it (its whole output, or just the
/// base64 key), with the id and algorithm it declares, if any.
pub struct KeyText {
    /// The `key id:` line, if present.
    pub id: Option<String>,
    /// The `algorithm:` line, if present (`AES-256-GCM`).
    pub algorithm: Option<String>,
    /// The decoded key.
    pub material: Zeroizing<Vec<u8>>,
}

/// Decodes key material: standard base64, alone or on the `key:` line of `authstate
/// keys generate`'s output.
pub fn parse_key_text(text: &str) -> Result<KeyText, String> {
    let field = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(str::trim)
    };
    let encoded = field("key:").unwrap_or(text.trim());
    let material = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| {
        "the key material is not standard base64 (use the key `authstate keys generate` \
         prints)"
            .to_string()
    })?);
    Ok(KeyText {
        id: field("key id:").map(str::to_string),
        algorithm: field("algorithm:").map(str::to_string),
        material,
    })
}

/// Decodes a pepper: standard base64 (`openssl rand -base64 32`).
pub fn parse_pepper(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    STANDARD
        .decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|_| {
            "the pepper is not standard base64 (make one with `openssl rand -base64 32`)"
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_alone_or_as_keys_generate_prints_it() {
        let key = STANDARD.encode([7u8; 32]);
        let alone = parse_key_text(&format!("{key}\n")).expect("decodes");
        assert_eq!(*alone.material, vec![7u8; 32]);
        assert_eq!(alone.id, None);

        let printed = format!("key id:    k1\nalgorithm: AES-256-GCM\nkey:       {key}\n");
        let full = parse_key_text(&printed).expect("decodes");
        assert_eq!(*full.material, vec![7u8; 32]);
        assert_eq!(full.id.as_deref(), Some("k1"));
        assert_eq!(full.algorithm.as_deref(), Some("AES-256-GCM"));

        let Err(e) = parse_key_text("not base64!") else {
            panic!("refused")
        };
        assert!(e.contains("not standard base64"));
        assert!(!e.contains("not base64!"));
    }

    #[test]
    fn reading_names_the_source_not_the_secret() {
        let missing = SecretSource::file("no-such-key", Path::new("/nonexistent-dir"));
        let e = missing.read().expect_err("refused");
        assert!(e.contains("/nonexistent-dir/no-such-key"), "{e}");

        let e = SecretSource::Env("AUTHSTATE_TEST_SURELY_UNSET_VAR".into())
            .read()
            .expect_err("refused");
        assert!(
            e.contains("AUTHSTATE_TEST_SURELY_UNSET_VAR is not set"),
            "{e}"
        );

        let absolute = SecretSource::file("/etc/key", Path::new("/somewhere"));
        assert_eq!(
            absolute,
            SecretSource::File {
                written: "/etc/key".into(),
                path: PathBuf::from("/etc/key")
            }
        );
    }
}
