//! The conformance harness over a real redis-server, shared by the Redis test binaries.
//!
//! One server serves every test of a binary that runs at the same time: it lives in a
//! `static` as a `Weak`, and each harness holds it strongly. So it starts with the first
//! test and stops (the testkit kills the process and removes its directory) when the
//! last running test drops its harness. A `OnceLock` would never drop it: statics are
//! not dropped at exit, and under `cargo nextest` (one process per test) that would
//! leave one orphaned redis-server behind per test.
//!
//! Each harness opens a new connection for every `open` (the suite's "nodes" must not
//! share one), inside the test's own Tokio runtime.

#![allow(dead_code)]

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use authstate_backend_redis::{BackendOptions, RedisBackend, RedisConfig, RedisConnection};
use authstate_conformance::{Harness, RawEntry};
use authstate_core::{Contract, Namespace, Result, StoreConfig, Stores};
use authstate_testkit::{TestServer, require};
use redis::Value;

/// The server every harness of this binary shares while any test runs.
static SERVER: Mutex<Weak<TestServer>> = Mutex::new(Weak::new());

/// The shared server, started if no test holds it.
pub fn shared_server() -> Arc<TestServer> {
    shared(&SERVER, || require(authstate_testkit::redis()))
}

/// What `slot` holds while any test of the binary holds it, else a new one from `start`
/// (the pattern of [`shared_server`], for any topology: a TLS server, a Sentinel set…).
pub fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(running) = slot.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *slot = Arc::downgrade(&started);
    started
}

/// The backend options the suite runs with: the default, but a server-expiry grace
/// longer than any case runs (the suite's manual clock starts at real time and falls
/// behind it while a case runs; the grace is what keeps the server from evicting a
/// record the store's clock still calls live).
pub fn suite_options() -> BackendOptions {
    BackendOptions {
        server_expiry_grace: Duration::from_secs(600),
        ..BackendOptions::default()
    }
}

/// A conformance harness over one Redis server.
pub struct RedisHarness {
    /// Held so the server outlives the test.
    _server: Arc<TestServer>,
    url: String,
    options: BackendOptions,
}

impl RedisHarness {
    /// A harness on the shared server.
    pub fn shared(options: BackendOptions) -> Self {
        let server = shared_server();
        let url = server.url().to_owned();
        RedisHarness {
            _server: server,
            url,
            options,
        }
    }

    /// A fresh connection to the server.
    pub async fn connect(&self) -> Result<RedisConnection> {
        RedisConnection::connect(&RedisConfig::from_url(self.url.as_str())).await
    }
}

/// The factory the conformance macro calls in every test.
pub async fn harness() -> RedisHarness {
    RedisHarness::shared(suite_options())
}

async fn query(conn: &mut RedisConnection, cmd: &redis::Cmd) -> Result<Value> {
    cmd.query_async(conn).await.map_err(|e| {
        authstate_core::Error::unavailable("redis-harness", format!("{e}")).with_source(e)
    })
}

/// Every key of `pattern`, by `SCAN`.
async fn scan(conn: &mut RedisConnection, pattern: &str) -> Result<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    let mut cursor = b"0".to_vec();
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor[..])
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let Value::Array(mut reply) = query(conn, &cmd).await? else {
            return Err(harness_error("SCAN answered something other than an array"));
        };
        let found = reply.pop();
        let next = reply.pop();
        if let Some(Value::Array(found)) = found {
            for key in found {
                if let Value::BulkString(k) = key {
                    keys.push(k);
                }
            }
        }
        match next {
            Some(Value::BulkString(c)) => cursor = c,
            _ => return Err(harness_error("SCAN answered no cursor")),
        }
        if cursor == b"0" {
            return Ok(keys);
        }
    }
}

fn harness_error(message: &str) -> authstate_core::Error {
    authstate_core::Error::unexpected("redis-harness", message)
}

fn bulk(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        Value::Int(n) => n.to_string().into_bytes(),
        Value::SimpleString(s) => s.into_bytes(),
        Value::Double(d) => d.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// Everything stored under `key`, whatever its type, as bytes: strings as they are;
/// hashes, sorted sets, sets and lists as their fields, members and scores.
async fn content(conn: &mut RedisConnection, key: &[u8]) -> Result<Vec<u8>> {
    let kind = bulk(query(conn, redis::cmd("TYPE").arg(key)).await?);
    let reply = match &kind[..] {
        b"string" => return Ok(bulk(query(conn, redis::cmd("GET").arg(key)).await?)),
        b"hash" => query(conn, redis::cmd("HGETALL").arg(key)).await?,
        b"zset" => {
            query(
                conn,
                redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES"),
            )
            .await?
        }
        b"set" => query(conn, redis::cmd("SMEMBERS").arg(key)).await?,
        b"list" => query(conn, redis::cmd("LRANGE").arg(key).arg(0).arg(-1)).await?,
        // Gone between SCAN and TYPE (expired).
        b"none" => return Ok(Vec::new()),
        other => {
            return Err(harness_error(&format!(
                "the dump does not know the type {:?}",
                String::from_utf8_lossy(other)
            )));
        }
    };
    let mut out = Vec::new();
    for item in items(reply) {
        out.extend(bulk(item));
        out.push(b'\n');
    }
    Ok(out)
}

/// Flips one byte of a sealed envelope as the memory backend's tamper does: a byte of
/// the AEAD tag (the last) when it is sealed, the format version byte when plaintext
/// (which has no integrity check of its own).
fn flip(blob: &mut [u8]) -> bool {
    let at = if blob.get(1).is_some_and(|&alg| alg != 0) {
        blob.len().saturating_sub(1)
    } else {
        0
    };
    match blob.get_mut(at) {
        Some(byte) => {
            *byte ^= 0x01;
            true
        }
        None => false,
    }
}

/// Where a contract keeps its sealed payloads (see the crate's `keys` module).
#[derive(Clone, Copy)]
enum Sealed {
    /// Session records: strings of a 37-byte header (its last 4 bytes the meta's
    /// length), the sealed meta, then the sealed data (the part flipped).
    SessionString,
    /// Artifact records: strings of a format byte (2 live, 3 taken), the expiry (8
    /// bytes), then the sealed payload (flipped) of a live one.
    ArtifactString,
    /// One field of each record hash.
    Field(&'static str),
    /// Every field of each record hash, as `<expiry> <sealed>` (registry).
    EveryValue,
}

/// The key pattern (after `as:<ns>:`) and where the sealed payloads are, per contract.
fn sealed_parts(contract: Contract) -> Option<(&'static str, Sealed)> {
    match contract {
        Contract::Session => Some(("{ses:*", Sealed::SessionString)),
        Contract::Artifact => Some(("{art:*", Sealed::ArtifactString)),
        Contract::State => Some(("{sta:*", Sealed::Field("v"))),
        Contract::Key => Some(("{key:*", Sealed::Field("d"))),
        Contract::Token => Some(("{tok:*", Sealed::Field("d"))),
        Contract::Registry => Some(("{reg:*", Sealed::EveryValue)),
        // Replay entries, lockout counters and revocations are kept unsealed.
        _ => None,
    }
}

#[async_trait]
impl Harness for RedisHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let connection = self.connect().await?;
        RedisBackend::new(connection, self.options.clone()).open(config)
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        dump_namespace(&mut self.connect().await?, namespace).await
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        tamper_namespace(&mut self.connect().await?, namespace, contract).await
    }
}

/// A conformance harness over any topology: the stores connect with `config`, `dump`
/// and `tamper` with `admin` (for a restricted ACL user, a user that may `SCAN` and read
/// every key; for TLS, the same certificates; with Sentinel, the same sentinels, so that
/// they always reach the current master). Each call opens a new connection.
pub struct ConfiguredHarness {
    /// Held so the topology outlives the test.
    _topology: Arc<dyn Any + Send + Sync>,
    config: RedisConfig,
    admin: RedisConfig,
    options: BackendOptions,
}

impl ConfiguredHarness {
    /// A harness over `topology` (kept alive as long as the harness).
    pub fn new(
        topology: Arc<dyn Any + Send + Sync>,
        config: RedisConfig,
        admin: RedisConfig,
        options: BackendOptions,
    ) -> Self {
        ConfiguredHarness {
            _topology: topology,
            config,
            admin,
            options,
        }
    }
}

#[async_trait]
impl Harness for ConfiguredHarness {
    async fn open(&self, config: StoreConfig) -> Result<Stores> {
        let connection = RedisConnection::connect(&self.config).await?;
        RedisBackend::new(connection, self.options.clone()).open(config)
    }

    async fn dump(&self, namespace: &Namespace) -> Result<Option<Vec<RawEntry>>> {
        let mut conn = RedisConnection::connect(&self.admin).await?;
        dump_namespace(&mut conn, namespace).await
    }

    async fn tamper(&self, namespace: &Namespace, contract: Contract) -> Result<Option<usize>> {
        let mut conn = RedisConnection::connect(&self.admin).await?;
        tamper_namespace(&mut conn, namespace, contract).await
    }
}

/// The harnesses' `dump`: every key of `namespace` and its content, through `conn`.
pub async fn dump_namespace(
    conn: &mut RedisConnection,
    namespace: &Namespace,
) -> Result<Option<Vec<RawEntry>>> {
    let mut out = Vec::new();
    for key in scan(conn, &format!("as:{}:*", namespace.as_str())).await? {
        let value = content(conn, &key).await?;
        out.push(RawEntry { key, value });
    }
    Ok(Some(out))
}

/// The harnesses' `tamper`: flips a byte of every sealed payload of `contract` in
/// `namespace`, through `conn`.
pub async fn tamper_namespace(
    conn: &mut RedisConnection,
    namespace: &Namespace,
    contract: Contract,
) -> Result<Option<usize>> {
    let Some((pattern, sealed)) = sealed_parts(contract) else {
        return Ok(Some(0));
    };
    let pattern = format!("as:{}:{pattern}", namespace.as_str());
    let mut altered = 0;
    for key in scan(conn, &pattern).await? {
        let kind = bulk(query(conn, redis::cmd("TYPE").arg(&key[..])).await?);
        match (sealed, &kind[..]) {
            (Sealed::SessionString, b"string") => {
                let mut record = bulk(query(conn, redis::cmd("GET").arg(&key[..])).await?);
                let Some(len) = record.get(33..37) else {
                    continue;
                };
                let data = 37 + u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if record.len() > data && flip(&mut record[data..]) {
                    query(
                        conn,
                        redis::cmd("SET")
                            .arg(&key[..])
                            .arg(&record[..])
                            .arg("KEEPTTL"),
                    )
                    .await?;
                    altered += 1;
                }
            }
            (Sealed::ArtifactString, b"string") => {
                let mut record = bulk(query(conn, redis::cmd("GET").arg(&key[..])).await?);
                // A taken artifact (format 3) has no payload left.
                if record.first() == Some(&2) && record.len() > 9 && flip(&mut record[9..]) {
                    query(
                        conn,
                        redis::cmd("SET")
                            .arg(&key[..])
                            .arg(&record[..])
                            .arg("KEEPTTL"),
                    )
                    .await?;
                    altered += 1;
                }
            }
            (Sealed::Field(field), b"hash") => {
                let v = query(conn, redis::cmd("HGET").arg(&key[..]).arg(field)).await?;
                // A taken artifact has no payload left.
                if let Value::BulkString(mut value) = v
                    && flip(&mut value)
                {
                    query(
                        conn,
                        redis::cmd("HSET").arg(&key[..]).arg(field).arg(&value[..]),
                    )
                    .await?;
                    altered += 1;
                }
            }
            (Sealed::EveryValue, b"hash") => {
                let all = items(query(conn, redis::cmd("HGETALL").arg(&key[..])).await?);
                let mut it = all.into_iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    let (f, mut value) = (bulk(f), bulk(v));
                    // `<expiry> <sealed>`: flip inside the sealed part.
                    let start = value.iter().position(|&b| b == b' ').map_or(0, |p| p + 1);
                    if flip(&mut value[start..]) {
                        query(
                            conn,
                            redis::cmd("HSET").arg(&key[..]).arg(&f[..]).arg(&value[..]),
                        )
                        .await?;
                        altered += 1;
                    }
                }
            }
            // Indexes (sorted sets) hold no payload.
            _ => {}
        }
    }
    Ok(Some(altered))
}
