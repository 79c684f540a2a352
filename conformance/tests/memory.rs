//! The whole conformance suite against the memory backend.

use async_trait::async_trait;
use authstate_conformance::{Harness, RawEntry, conformance_tests};
use authstate_core::{Contract, MemoryBackend, Namespace, Result, StoreConfig, Stores};

/// The memory backend is its own "server": every `open` shares its data, like two
/// nodes connected to one Redis.
struct MemoryHarness {
    backend: MemoryBackend,
}

#[async_trait]
impl Harness for MemoryHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        self.backend.open(config)
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let entries = self.backend.dump(namespace);
        Ok(Some(
            entries
                .into_iter()
                .map(|e| RawEntry {
                    key: e.key,
                    value: e.value,
                })
                .collect(),
        ))
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        Ok(Some(self.backend.tamper(namespace, contract)))
    }
}

async fn harness() -> MemoryHarness {
    MemoryHarness {
        backend: MemoryBackend::new(),
    }
}

conformance_tests!(harness);
