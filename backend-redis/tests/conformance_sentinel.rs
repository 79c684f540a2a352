//! The whole conformance suite through Sentinel: a primary, a replica and three sentinels
//! started by the testkit, reached with a `redis+sentinel://` URL. The stores and the
//! harness's `dump` and `tamper` all find the master by asking the sentinels, so they
//! talk to the current master (the data lives there; the replica only copies it).
//!
//! Run: `cargo nextest run -p authstate-backend-redis --test conformance_sentinel`.

mod common;

use std::sync::{Arc, Mutex, Weak};

use authstate_backend_redis::{RedisConfig, RedisConnection};
use authstate_conformance::conformance_tests;
use authstate_testkit::{RedisSentinelSet, require};
use redis::Value;

use common::{ConfiguredHarness, shared, suite_options};

/// The set the tests of this binary share while any of them runs.
static SET: Mutex<Weak<RedisSentinelSet>> = Mutex::new(Weak::new());

fn set() -> Arc<RedisSentinelSet> {
    shared(&SET, || require(RedisSentinelSet::start()))
}

/// The factory the conformance macro calls in every test.
async fn harness() -> ConfiguredHarness {
    let set = set();
    let config = RedisConfig::from_url(set.url());
    ConfiguredHarness::new(set, config.clone(), config, suite_options())
}

conformance_tests!(harness);

/// The suite's data really goes through Sentinel to the primary, and reaches the replica.
#[tokio::test]
async fn the_stores_write_to_the_master_the_sentinels_name() {
    let set = set();
    let conn = RedisConnection::connect(&RedisConfig::from_url(set.url()))
        .await
        .expect("connect through the sentinels");
    let role: Vec<Value> = conn.query(&redis::cmd("ROLE")).await.expect("ROLE");
    assert_eq!(role.first(), Some(&Value::BulkString(b"master".to_vec())));
    let master = require(set.master_addr());
    assert_eq!(master, set.initial_primary_addr());

    conn.query::<()>(redis::cmd("SET").arg("as:sentinel-check").arg("v"))
        .await
        .expect("SET");
    let acked: i64 = conn
        .query(redis::cmd("WAIT").arg(1).arg(2000))
        .await
        .expect("WAIT");
    assert_eq!(acked, 1, "the replica did not acknowledge");
    let replica = RedisConnection::connect(&RedisConfig::from_host(
        set.replica_addr().ip().to_string(),
        set.replica_addr().port(),
    ))
    .await
    .expect("connect to the replica");
    let copied: Option<String> = replica
        .query(redis::cmd("GET").arg("as:sentinel-check"))
        .await
        .expect("GET on the replica");
    assert_eq!(copied.as_deref(), Some("v"));
}
