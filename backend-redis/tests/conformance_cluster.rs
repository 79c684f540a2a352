//! The whole conformance suite on a Redis Cluster of three primaries started by the
//! testkit, reached with a `redis+cluster://` URL. The stores go through the cluster
//! client (which follows `MOVED`/`ASK`); the harness's `dump` and `tamper` visit every
//! primary with a plain connection, each seeing the keys of its own slots.
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test conformance_cluster`.

mod common;

use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use authstate_backend_redis::{BackendOptions, RedisBackend, RedisConfig, RedisConnection};
use authstate_conformance::{Harness, RawEntry, conformance_tests};
use authstate_core::{Contract, Namespace, Result, StoreConfig, Stores};
use authstate_testkit::{RedisCluster, require};

use common::{dump_namespace, shared, suite_options, tamper_namespace};

/// The cluster the tests of this binary share while any of them runs.
static CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());

fn cluster() -> Arc<RedisCluster> {
    shared(&CLUSTER, || require(RedisCluster::start()))
}

/// A harness over the shared cluster.
struct ClusterHarness {
    cluster: Arc<RedisCluster>,
    options: BackendOptions,
}

impl ClusterHarness {
    /// Plain connections to every primary.
    async fn primaries(&self) -> Result<Vec<RedisConnection>> {
        let mut out = Vec::new();
        for addr in self.cluster.addrs() {
            let config = RedisConfig::from_host(addr.ip().to_string(), addr.port());
            out.push(RedisConnection::connect(&config).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Harness for ClusterHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let connection =
            RedisConnection::connect(&RedisConfig::from_url(self.cluster.url())).await?;
        RedisBackend::new(connection, self.options.clone()).open(config)
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let mut all = Vec::new();
        for mut conn in self.primaries().await? {
            if let Some(entries) = dump_namespace(&mut conn, namespace).await? {
                all.extend(entries);
            }
        }
        Ok(Some(all))
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        let mut altered = 0;
        for mut conn in self.primaries().await? {
            altered += tamper_namespace(&mut conn, namespace, contract)
                .await?
                .unwrap_or(0);
        }
        Ok(Some(altered))
    }
}

/// The factory the conformance macro calls in every test.
async fn harness() -> ClusterHarness {
    ClusterHarness {
        cluster: cluster(),
        options: suite_options(),
    }
}

conformance_tests!(harness);

/// The stores on a cluster say they are cluster-safe, and the durable-write mode (whose
/// `WAIT` the cluster client cannot send to the primary that took the write) is refused
/// with a message that says why.
#[tokio::test]
async fn cluster_safe_and_durable_writes_refused() {
    let cluster = cluster();
    let connection = RedisConnection::connect(&RedisConfig::from_url(cluster.url()))
        .await
        .expect("connect to the cluster");
    assert!(connection.is_cluster());
    let namespace = Namespace::random().expect("namespace");
    let stores = RedisBackend::new(connection.clone(), suite_options())
        .open(StoreConfig::new(namespace.clone()))
        .expect("open");
    assert!(stores.capabilities.cluster_safe);
    let durable = BackendOptions {
        durable_writes: Some(authstate_backend_redis::DurableWrites {
            replicas: 1,
            timeout: std::time::Duration::from_millis(500),
        }),
        ..suite_options()
    };
    let Err(refused) = RedisBackend::new(connection, durable).open(StoreConfig::new(namespace))
    else {
        panic!("durable writes on a cluster were accepted");
    };
    assert_eq!(refused.kind(), authstate_core::ErrorKind::ConfigInvalid);
    assert!(
        refused
            .to_string()
            .contains("not supported on Redis Cluster"),
        "{refused}"
    );
}
