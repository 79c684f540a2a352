//! The configuration: a TOML file (`--config FILE` or `AUTHSTATE_CONFIG`), the
//! embedded default, and `--backend URL` overriding the backends of either.
//!
//! `raw` is the file as written, `load` checks it and resolves it into a [`Config`]
//! (reading key files and variables), `render` prints the effective config with every
//! secret redacted (`authstate config check`). The reference is `cli/CONFIG.md`.

mod load;
mod raw;
mod render;
mod secrets;

use std::collections::BTreeMap;

use authstate::codec::{Algorithm, RecordCodec};
use authstate::sweeper::SweeperConfig;
use authstate::{Namespace, StoreConfig};

pub use self::load::load;
pub use self::raw::parse_duration;
pub use self::render::render;
pub use self::secrets::SecretSource;
use crate::backend::BackendSpec;
use crate::services::Service;

/// The namespace used when the config names none.
pub const DEFAULT_NAMESPACE: &str = "authstate";

/// A checked configuration, with its secrets read.
#[derive(Debug)]
pub struct Config {
    /// Where it came from: the file as named, or `(embedded default)`.
    pub source: String,
    /// Whether `--backend` replaced the backends.
    pub backend_override: bool,
    /// The namespace the stores are opened in.
    pub namespace: Namespace,
    /// Every defined backend, by name.
    pub backends: BTreeMap<String, BackendSpec>,
    /// Where each backend's URL came from.
    pub url_sources: BTreeMap<String, UrlSource>,
    /// The backend of services not in `[services]`.
    pub default_backend: String,
    /// The backend of each service, in the order of [`Service::ALL`], and whether
    /// `[services]` named it.
    pub services: [(String, bool); 9],
    /// Record encryption and keyed hashing.
    pub encryption: Encryption,
    /// How `authstate sweep` runs.
    pub sweeper: SweeperConfig,
    /// The backend that holds the sweeper's lease.
    pub lease_backend: String,
    /// Things that work but should be done otherwise (a password written in a URL).
    pub warnings: Vec<String>,
}

/// Where a backend's URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// None: a memory backend without `url`.
    None,
    /// `url = "…"` in the file.
    Inline,
    /// `url_env` or `url_file`.
    Secret(SecretSource),
    /// `--backend`.
    CommandLine,
}

/// `[encryption]`, resolved.
#[derive(Debug, Default)]
pub struct Encryption {
    /// Seals records and hashes handles.
    pub codec: RecordCodec,
    /// The keys, write key first.
    pub keys: Vec<KeyInfo>,
    /// Where the pepper came from, and its length.
    pub pepper: Option<(SecretSource, usize)>,
    /// Plaintext records are still read (a migration to encryption).
    pub accept_plaintext: bool,
    /// The key store may keep private keys without a keyring.
    pub allow_plaintext_keys: bool,
}

/// A key of the keyring, without its material.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The key id.
    pub id: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Where the material came from.
    pub source: SecretSource,
    /// Whether new records are sealed with it.
    pub write: bool,
}

impl Config {
    /// The name of the backend that holds `service`.
    pub fn backend_name(&self, service: Service) -> &str {
        let i = Service::ALL.iter().position(|s| *s == service).unwrap_or(0);
        &self.services[i].0
    }

    /// The backend that holds `service`.
    pub fn backend_of(&self, service: Service) -> Option<&BackendSpec> {
        self.backends.get(self.backend_name(service))
    }

    /// The backends in use, each once: those of the services in order, then the lease's.
    pub fn used_backends(&self) -> Vec<&BackendSpec> {
        let mut names: Vec<&str> = Vec::new();
        let lease = std::iter::once(self.lease_backend.as_str());
        for name in Service::ALL
            .iter()
            .map(|s| self.backend_name(*s))
            .chain(lease)
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.backends.get(n))
            .collect()
    }

    /// The store settings for `namespace`: the configured codec and key policy.
    pub fn store_config(&self, namespace: Namespace) -> StoreConfig {
        StoreConfig::new(namespace)
            .with_codec(self.encryption.codec.clone())
            .with_plaintext_keys_allowed(self.encryption.allow_plaintext_keys)
    }
}

/// `table` with every value that holds a secret replaced by `[redacted]`: values of
/// secret-named keys (`password`, `client_secret`, …) and passwords inside URLs.
pub fn redact_table(table: &toml::Table) -> toml::Table {
    table
        .iter()
        .map(|(k, v)| {
            let v = if crate::backend::is_secret_name(k) {
                toml::Value::String("[redacted]".into())
            } else {
                redact_value(v)
            };
            (k.clone(), v)
        })
        .collect()
}

fn redact_value(v: &toml::Value) -> toml::Value {
    match v {
        toml::Value::String(s) => toml::Value::String(crate::backend::redact_url(s)),
        toml::Value::Table(t) => toml::Value::Table(redact_table(t)),
        toml::Value::Array(a) => toml::Value::Array(a.iter().map(redact_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
