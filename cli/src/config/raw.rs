//! The config file as written: serde structs that refuse unknown fields and keep the
//! spans the checks in `load` point at.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub namespace: Option<Spanned<String>>,
    pub default_backend: Option<Spanned<String>>,
    #[serde(default)]
    pub backends: BTreeMap<String, Spanned<RawBackend>>,
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<String>>,
    pub encryption: Option<RawEncryption>,
    pub sweeper: Option<RawSweeper>,
}

/// `[backends.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub kind: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub url_env: Option<Spanned<String>>,
    pub url_file: Option<Spanned<String>>,
    pub options: Option<Spanned<toml::Table>>,
}

/// `[encryption]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    pub write_key: Option<Spanned<String>>,
    #[serde(default)]
    pub keys: Vec<Spanned<RawKey>>,
    #[serde(default)]
    pub accept_plaintext: bool,
    pub pepper_file: Option<Spanned<String>>,
    pub pepper_env: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_plaintext_keys: bool,
}

/// `[[encryption.keys]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub id: Spanned<String>,
    pub algorithm: Option<Spanned<KeyAlgorithm>>,
    pub key_file: Option<Spanned<String>>,
    pub key_env: Option<Spanned<String>>,
}

/// `algorithm = "aes-256-gcm" | "aes-128-gcm"`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum KeyAlgorithm {
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    #[serde(rename = "aes-128-gcm")]
    Aes128Gcm,
}

/// `[sweeper]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweeper {
    pub interval: Option<Spanned<Humane>>,
    pub batch_size: Option<Spanned<u32>>,
    pub criterion: Option<Spanned<Criterion>>,
    pub max_idle: Option<Spanned<Humane>>,
    pub offset: Option<Humane>,
    pub max_deletes_per_second: Option<Spanned<u32>>,
    pub lease_ttl: Option<Spanned<Humane>>,
    pub holder: Option<Spanned<String>>,
    pub lease_backend: Option<Spanned<String>>,
}

/// `criterion = "expiry" | "last_activity"`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Expiry,
    LastActivity,
}

/// A duration written for people: `"500ms"`, `"10m"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Humane(pub Duration);

/// How durations are written, for messages.
pub const DURATION_HINT: &str =
    "write a number and a unit, such as \"500ms\", \"30s\", \"10m\", \"1h\" or \"1h 30m\"";

/// Parses a humane duration; the error says how to write one.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?} ({e}); {DURATION_HINT}"))
}

impl<'de> Deserialize<'de> for Humane {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HumaneVisitor;

        impl Visitor<'_> for HumaneVisitor {
            type Value = Humane;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration string such as \"10m\"")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Humane, E> {
                parse_duration(s).map(Humane).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Humane, E> {
                Err(E::custom(format!(
                    "the duration {n} has no unit; write it as a string with a unit, such as \
                     \"{n}s\" or \"{n}ms\""
                )))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Humane, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }

        d.deserialize_any(HumaneVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        let e = parse_duration("10 minutes please").expect_err("refused");
        assert!(e.contains("\"10m\""), "{e}");
        assert!(parse_duration("10").is_err());
    }
}
