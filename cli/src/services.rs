//! The nine services, which backend holds each, and opening them together as one
//! [`Stores`] (PingFederate's "manage each service individually").

use std::fmt;
use std::sync::Arc;

use authstate::{Capabilities, StoreConfig, Stores};

use crate::backend::{BackendSpec, Opened, Schema, open_backend};
use crate::config::Config;
use crate::error::CliError;

/// A service as the `[services]` table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Authentication sessions.
    Sessions,
    /// One-time artifacts: codes, PAR request URIs, SAML artifacts.
    Artifacts,
    /// Inter-request state.
    State,
    /// Replay prevention.
    Replay,
    /// Account lockout counters.
    Lockout,
    /// Signing key sets.
    Keys,
    /// Session revocations.
    Revocations,
    /// Reference access tokens.
    Tokens,
    /// Single-logout registries.
    Registry,
}

impl Service {
    /// All nine, in the order of [`Stores`].
    pub const ALL: [Service; 9] = [
        Service::Sessions,
        Service::Artifacts,
        Service::State,
        Service::Replay,
        Service::Lockout,
        Service::Keys,
        Service::Revocations,
        Service::Tokens,
        Service::Registry,
    ];

    /// The name in `[services]`: the field of [`Stores`].
    pub fn name(self) -> &'static str {
        match self {
            Service::Sessions => "sessions",
            Service::Artifacts => "artifacts",
            Service::State => "state",
            Service::Replay => "replay",
            Service::Lockout => "lockout",
            Service::Keys => "keys",
            Service::Revocations => "revocations",
            Service::Tokens => "tokens",
            Service::Registry => "registry",
        }
    }

    /// The service called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The names, for messages: `sessions, artifacts, …, registry`.
    pub fn names() -> String {
        Self::ALL.map(Service::name).join(", ")
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Opens every backend the config uses, once each (doing what `schema` says about the
/// namespace's schema), and takes each service's store from its backend (and the
/// sweeper's lease from the lease backend). The first backend that cannot be opened
/// fails the whole.
pub async fn open_services(
    config: &Config,
    store_config: StoreConfig,
    schema: Schema,
) -> Result<Stores, CliError> {
    let mut backends: Vec<(BackendSpec, Opened)> = Vec::new();
    for spec in config.used_backends() {
        let opened = open_backend(spec, store_config.clone(), schema).await?;
        backends.push((spec.clone(), opened));
    }
    compose(config, &backends)
}

/// One [`Stores`] with each service from its backend's stores.
pub fn compose(config: &Config, backends: &[(BackendSpec, Opened)]) -> Result<Stores, CliError> {
    let of = |name: &str| -> Result<&Stores, CliError> {
        backends
            .iter()
            .find(|(spec, _)| spec.name == name)
            .map(|(_, opened)| &opened.stores)
            .ok_or_else(|| {
                CliError::Failed(format!("internal error: backend {name:?} was not opened"))
            })
    };
    let from = |service: Service| of(config.backend_name(service));
    let first = backends
        .first()
        .map(|(_, o)| &o.stores)
        .ok_or_else(|| CliError::Failed("internal error: no backend was opened".into()))?;
    let same_kind = backends
        .iter()
        .all(|(_, o)| o.stores.backend == first.backend);
    Ok(Stores {
        sessions: Arc::clone(&from(Service::Sessions)?.sessions),
        artifacts: Arc::clone(&from(Service::Artifacts)?.artifacts),
        state: Arc::clone(&from(Service::State)?.state),
        replay: Arc::clone(&from(Service::Replay)?.replay),
        lockout: Arc::clone(&from(Service::Lockout)?.lockout),
        keys: Arc::clone(&from(Service::Keys)?.keys),
        revocations: Arc::clone(&from(Service::Revocations)?.revocations),
        tokens: Arc::clone(&from(Service::Tokens)?.tokens),
        registry: Arc::clone(&from(Service::Registry)?.registry),
        lease: Arc::clone(&of(&config.lease_backend)?.lease),
        // What every backend in use can do.
        capabilities: backends
            .iter()
            .map(|(_, o)| o.stores.capabilities)
            .reduce(|a, b| Capabilities {
                server_side_ttl: a.server_side_ttl && b.server_side_ttl,
                durable: a.durable && b.durable,
                shared_across_nodes: a.shared_across_nodes && b.shared_across_nodes,
                cluster_safe: a.cluster_safe && b.cluster_safe,
            })
            .unwrap_or_default(),
        backend: if same_kind { first.backend } else { "mixed" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
        assert_eq!(Service::from_name("sesions"), None);
        assert!(Service::names().starts_with("sessions, artifacts"));
    }
}
