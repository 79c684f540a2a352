//! The runtime list and the runner a program uses (the CLI's `conformance` subcommand).

use std::sync::Arc;

use async_trait::async_trait;
use authstate_conformance::{Harness, Outcome, Summary, all_cases, run_all};
use authstate_core::{MemoryBackend, Result, StoreConfig, Stores};

struct Memory(MemoryBackend);

#[async_trait]
impl Harness for Memory {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        self.0.open(config)
    }
}

/// A backend that forgets every artifact take: `take` must fail the suite, by name.
struct ForgetfulTakes(MemoryBackend);

#[async_trait]
impl Harness for ForgetfulTakes {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let mut stores = self.0.open(config.clone())?;
        // Each take sees a fresh store that only knows what `put` wrote through it, so a
        // second take of a code is Fresh again: the double redemption the suite forbids.
        stores.artifacts = Arc::new(DoubleTake {
            backend: self.0.clone(),
            config,
        });
        Ok(stores)
    }
}

struct DoubleTake {
    backend: MemoryBackend,
    config: StoreConfig,
}

#[async_trait]
impl authstate_core::Purge for DoubleTake {
    async fn purge(
        &self,
        policy: &authstate_core::PurgePolicy,
    ) -> Result<authstate_core::PurgeReport> {
        self.backend
            .open(self.config.clone())?
            .artifacts
            .purge(policy)
            .await
    }
}

#[async_trait]
impl authstate_core::ArtifactStore for DoubleTake {
    async fn put(&self, handle: &str, payload: Vec<u8>, ttl: std::time::Duration) -> Result<()> {
        let stores = self.backend.open(self.config.clone())?;
        stores.artifacts.put(handle, payload.clone(), ttl).await?;
        // Remember the payload under a shadow handle so it can be handed out again.
        stores
            .state
            .put(&format!("shadow:{handle}"), payload, ttl)
            .await
    }

    async fn take(&self, handle: &str) -> Result<authstate_core::Take> {
        let stores = self.backend.open(self.config.clone())?;
        let outcome = stores.artifacts.take(handle).await?;
        if let authstate_core::Take::Replayed { .. } = outcome
            && let Some(payload) = stores.state.get(&format!("shadow:{handle}")).await?
        {
            return Ok(authstate_core::Take::Fresh(payload));
        }
        Ok(outcome)
    }
}

#[test]
fn the_suite_has_at_least_150_uniquely_named_cases() {
    let cases = all_cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut names: Vec<String> = cases.iter().map(|c| c.full_name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "two cases share a name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes_on_memory_and_reports_each_case() {
    let mut lines = Vec::new();
    let summary = run_all(
        Arc::new(Memory(MemoryBackend::new())),
        Some("artifact::"),
        |case, outcome, _| lines.push(format!("{} {outcome:?}", case.full_name())),
    )
    .await;
    assert!(summary.passed >= 10, "{summary}");
    assert_eq!(summary.failed, 0, "{lines:#?}");
    assert_eq!(lines.len(), summary.passed);
    assert_eq!(
        Summary {
            passed: 3,
            failed: 1
        }
        .to_string(),
        "3 passed, 1 failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_take_fails_named_cases() {
    let mut failed = Vec::new();
    let summary = run_all(
        Arc::new(ForgetfulTakes(MemoryBackend::new())),
        Some("artifact::take_again_is_replayed"),
        |case, outcome, _| {
            if let Outcome::Failed(_) = outcome {
                failed.push(case.full_name());
            }
        },
    )
    .await;
    assert_eq!(summary.failed, 1, "a double take went unnoticed");
    assert_eq!(failed, ["artifact::take_again_is_replayed"]);
}
