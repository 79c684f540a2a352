//! The context each case runs with.

use std::sync::Arc;
use std::time::Duration;

use authstate_core::codec::{Algorithm, DataKey, Keyring, Pepper, RecordCodec};
use authstate_core::{
    Contract, ManualClock, Namespace, SecretBytes, StoreConfig, Stores, Timestamp,
};

use crate::harness::{Harness, RawEntry};
use crate::{CaseResult, fail};

/// A case's world: the harness, a fresh namespace, a manual clock standing at the
/// current real time, and a store config using them.
///
/// The clock starts at the real "now" (not an arbitrary date) so that backends with
/// server-side TTLs computed from the store's clock never see a time in the past.
#[derive(Clone)]
pub struct Ctx {
    harness: Arc<dyn Harness>,
    /// The clock every store of this case uses.
    pub clock: ManualClock,
    /// The config [`Ctx::open`] passes to the harness.
    pub config: StoreConfig,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// A context with a fresh random namespace, a manual clock and a plaintext codec.
    pub fn new(harness: Arc<dyn Harness>) -> authstate_core::Result<Self> {
        let clock = ManualClock::starting_now();
        let config = StoreConfig::new(Namespace::random()?).with_clock(Arc::new(clock.clone()));
        Ok(Ctx {
            harness,
            clock,
            config,
        })
    }

    /// The same context with `codec` (a keyring, a pepper) instead.
    pub fn with_codec(mut self, codec: RecordCodec) -> Self {
        self.config = self.config.with_codec(codec);
        self
    }

    /// The same context with a pepper and an AES-256-GCM keyring: what the at-rest
    /// cases use.
    pub fn sealed(self) -> Self {
        self.with_codec(sealed_codec())
    }

    /// Opens the stores (one "node").
    pub async fn open(&self) -> Result<Stores, crate::CaseError> {
        self.harness
            .open(self.config.clone())
            .await
            .map_err(|e| format!("the harness could not open the stores: {e}").into())
    }

    /// Opens the stores with another config (e.g. different limits) in this namespace.
    pub async fn open_with(&self, config: StoreConfig) -> Result<Stores, crate::CaseError> {
        self.harness
            .open(config)
            .await
            .map_err(|e| format!("the harness could not open the stores: {e}").into())
    }

    /// The harness, for the durability, dump and tamper cases.
    pub fn harness(&self) -> &Arc<dyn Harness> {
        &self.harness
    }

    /// The raw dump of this namespace, if the harness can dump.
    pub async fn dump(&self) -> Result<Option<Vec<RawEntry>>, crate::CaseError> {
        Ok(self.harness.dump(&self.config.namespace).await?)
    }

    /// Flips a byte in every sealed record of `contract`; `None` if unsupported.
    pub async fn tamper(&self, contract: Contract) -> Result<Option<usize>, crate::CaseError> {
        Ok(self
            .harness
            .tamper(&self.config.namespace, contract)
            .await?)
    }

    /// The current time of the case's clock.
    pub fn now(&self) -> Timestamp {
        use authstate_core::Clock;
        self.clock.now()
    }

    /// Moves the case's clock forward.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Moves the case's clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    /// Checks that `result` failed with `kind`.
    pub fn expect_kind<T: std::fmt::Debug>(
        result: authstate_core::Result<T>,
        kind: authstate_core::ErrorKind,
    ) -> CaseResult {
        match result {
            Err(e) if e.kind() == kind => Ok(()),
            Err(e) => fail(format!("expected a {kind} error, got {e}")),
            Ok(v) => fail(format!("expected a {kind} error, got Ok({v:?})")),
        }
    }
}

/// A codec with a fixed pepper and a fixed AES-256-GCM key: the at-rest cases' codec.
pub fn sealed_codec() -> RecordCodec {
    let key = DataKey::new("k1", Algorithm::Aes256Gcm, SecretBytes::new(vec![7u8; 32]))
        .expect("a 32-byte key is valid");
    let pepper =
        Pepper::new(SecretBytes::new(b"conformance-pepper-0123456789".to_vec())).expect("pepper");
    RecordCodec::plaintext()
        .with_keyring(Keyring::new(key))
        .with_pepper(pepper)
}
