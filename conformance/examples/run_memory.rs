//! Runs the whole conformance suite against the memory backend from a program, the way
//! the CLI's `conformance` subcommand runs it against a live server: one line per case
//! and a closing `N passed, N failed`.
//!
//! ```sh
//! cargo run -p authstate-conformance --example run_memory [FILTER]
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use authstate_conformance::{Harness, Outcome, run_all};
use authstate_core::{Contract, MemoryBackend, Namespace, Result, StoreConfig, Stores};

struct MemoryHarness(MemoryBackend);

#[async_trait]
impl Harness for MemoryHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        self.0.open(config)
    }

    async fn dump(
        &self,
        namespace: &Namespace,
    ) -> Result<Option<Vec<authstate_conformance::RawEntry>>> {
        Ok(Some(
            self.0
                .dump(namespace)
                .into_iter()
                .map(|e| authstate_conformance::RawEntry {
                    key: e.key,
                    value: e.value,
                })
                .collect(),
        ))
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        Ok(Some(self.0.tamper(namespace, contract)))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = std::env::args().nth(1);
    let harness = Arc::new(MemoryHarness(MemoryBackend::new()));
    let summary = run_all(
        harness,
        filter.as_deref(),
        |case, outcome, took| match outcome {
            Outcome::Passed => println!("ok     {} ({} ms)", case.full_name(), took.as_millis()),
            Outcome::Failed(why) => println!("FAILED {}: {why}", case.full_name()),
        },
    )
    .await;
    println!("{summary}");
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
