//! Opening the nine stores over one connection, and what every store shares: the
//! namespace's keys, the script runner (with `NOSCRIPT` reload and the durable-write
//! `WAIT`), sealing, and reading replies.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstate_core::codec::IndexKey;
use authstate_core::time::duration_millis;
use authstate_core::{Capabilities, Contract, Error, Result, StoreConfig, Stores, Timestamp};
use redis::{Cmd, ErrorKind as RedisKind, RedisError, ServerErrorKind, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BACKEND_NAME;
use crate::connection::RedisConnection;
use crate::error::map;
use crate::keys::{Code, KeySpace};
use crate::purge::Walk;
use crate::scripts::Script;
use crate::{
    artifact, keys_store, lease, lockout, registry, replay, revocation, session, state, token,
};

/// The largest time (ms since the epoch) the scripts handle exactly: Lua numbers are
/// doubles, exact up to 2^53 (about the year 287 000). Times past it are refused.
const MAX_TIME_MS: i64 = (1 << 53) - 1;

/// How the backend behaves, beyond the connection: server-side expiry, durable writes
/// and what the server promises about persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendOptions {
    /// How long past a record's expiry (by the store's clock) the server keeps it before
    /// its own TTL removes it. Reads never return an expired record either way; the
    /// grace only keeps the server from dropping a record early when a node's clock runs
    /// ahead of another's. Default 60 s.
    pub server_expiry_grace: Duration,
    /// When set, every write waits for replicas (`WAIT`) and fails `Unavailable` if too
    /// few acknowledged it, so an acknowledged write survives a failover.
    pub durable_writes: Option<DurableWrites>,
    /// The server persists its data (RDB snapshots or an append-only file), so records
    /// survive its restart: reported as [`Capabilities::durable`]. Default off.
    pub server_persists: bool,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            server_expiry_grace: Duration::from_secs(60),
            durable_writes: None,
            server_persists: false,
        }
    }
}

/// The durable-write mode: after each write, `WAIT replicas timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableWrites {
    /// How many replicas must acknowledge a write (at least 1).
    pub replicas: u32,
    /// How long to wait for them (more than zero: `WAIT` with 0 would block forever).
    /// Keep it below the connection's response timeout, or the client gives up first
    /// (also `Unavailable`, but without saying that replicas were missing).
    ///
    /// Right after a replica attaches, the primary streams writes to it only from its
    /// first acknowledgement (up to a second after a diskless sync): writes in that
    /// window fail `Unavailable`.
    pub timeout: Duration,
}

impl BackendOptions {
    /// `ConfigInvalid` for settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = &self.durable_writes {
            if d.replicas == 0 {
                return Err(Error::config(
                    BACKEND_NAME,
                    "durable_writes.replicas is 0: wait for at least one replica, or turn \
                     durable writes off",
                ));
            }
            if d.timeout.is_zero() {
                return Err(Error::config(
                    BACKEND_NAME,
                    "durable_writes.timeout is 0, which makes WAIT block forever: give a \
                     timeout such as 500 ms",
                ));
            }
        }
        if duration_millis(self.server_expiry_grace) > MAX_TIME_MS / 2 {
            return Err(Error::config(
                BACKEND_NAME,
                "server_expiry_grace is too large",
            ));
        }
        Ok(())
    }
}

/// The Redis backend: all nine contracts over one (multiplexed, cloneable) connection.
///
/// ```no_run
/// # async fn run() -> authstate_core::Result<()> {
/// use authstate_backend_redis::{BackendOptions, RedisBackend, RedisConfig, RedisConnection};
/// use authstate_core::{Namespace, StoreConfig};
///
/// let connection = RedisConnection::connect(&RedisConfig::from_url("redis://127.0.0.1")).await?;
/// let backend = RedisBackend::new(connection, BackendOptions::default());
/// let stores = backend.open(StoreConfig::new(Namespace::new("idp-prod")?))?;
/// assert_eq!(stores.backend, "redis");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    connection: RedisConnection,
    options: BackendOptions,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("connection", &self.connection)
            .field("options", &self.options)
            .finish()
    }
}

impl RedisBackend {
    /// A backend over `connection`.
    pub fn new(connection: RedisConnection, options: BackendOptions) -> Self {
        RedisBackend {
            connection,
            options,
        }
    }

    /// What this backend can do: the server expires records by itself, every node sees
    /// the same records, every operation stays within one hash slot on Redis Cluster,
    /// and records survive a server restart only if the server persists
    /// ([`BackendOptions::server_persists`]).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_side_ttl: true,
            shared_across_nodes: true,
            durable: self.options.server_persists,
            cluster_safe: true,
        }
    }

    /// Opens all nine stores in `config.namespace`. Cheap: the stores share this
    /// backend's connection, and nothing is sent to the server until they are used.
    pub fn open(&self, config: StoreConfig) -> Result<Stores> {
        self.options.validate()?;
        let cluster = self.connection.is_cluster();
        if cluster && self.options.durable_writes.is_some() {
            return Err(Error::config(
                BACKEND_NAME,
                "durable_writes is not supported on Redis Cluster: WAIT acknowledges the \
                 replicas of one primary per command, and the cluster client cannot send it \
                 to the primary that took the write; use Sentinel, or turn durable writes off",
            ));
        }
        let node = Node(Arc::new(NodeInner {
            conn: self.connection.clone(),
            cluster,
            keys: KeySpace::new(&config.namespace),
            grace_ms: duration_millis(self.options.server_expiry_grace),
            durable: self
                .options
                .durable_writes
                .map(|d| (d.replicas, duration_millis(d.timeout))),
            config,
            walks: Mutex::new(HashMap::new()),
        }));
        Ok(Stores {
            sessions: Arc::new(session::RedisSessionStore(node.clone())),
            artifacts: Arc::new(artifact::RedisArtifactStore(node.clone())),
            state: Arc::new(state::RedisStateStore(node.clone())),
            replay: Arc::new(replay::RedisReplayCache(node.clone())),
            lockout: Arc::new(lockout::RedisLockoutStore(node.clone())),
            keys: Arc::new(keys_store::RedisKeyStore(node.clone())),
            revocations: Arc::new(revocation::RedisRevocationStore(node.clone())),
            tokens: Arc::new(token::RedisTokenStore(node.clone())),
            registry: Arc::new(registry::RedisSessionRegistry(node.clone())),
            lease: Arc::new(lease::RedisSweepLease(node)),
            capabilities: self.capabilities(),
            backend: BACKEND_NAME,
        })
    }
}

/// What every store of one `open` shares. Cloning is an `Arc` clone.
#[derive(Clone)]
pub(crate) struct Node(Arc<NodeInner>);

pub(crate) struct NodeInner {
    conn: RedisConnection,
    /// The connection is to a Redis Cluster: every script stays within one slot.
    pub(crate) cluster: bool,
    pub(crate) config: StoreConfig,
    pub(crate) keys: KeySpace,
    grace_ms: i64,
    /// `(replicas, timeout ms)` of the durable-write mode.
    durable: Option<(u32, i64)>,
    /// Each contract's purge walk between limited purge calls.
    walks: Mutex<HashMap<Code, Walk>>,
}

impl Deref for Node {
    type Target = NodeInner;
    fn deref(&self) -> &NodeInner {
        &self.0
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("namespace", &self.config.namespace)
            .field("grace_ms", &self.grace_ms)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

/// The arguments (`ARGV`) of a script call.
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<Vec<u8>>);

impl Args {
    pub(crate) fn new() -> Self {
        Args(Vec::new())
    }

    /// An integer, in decimal.
    pub(crate) fn int(mut self, n: i64) -> Self {
        self.0.push(n.to_string().into_bytes());
        self
    }

    /// Bytes as they are.
    pub(crate) fn bytes(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.0.push(b.into());
        self
    }

    /// Adds bytes in place (for loops).
    pub(crate) fn push(&mut self, b: impl Into<Vec<u8>>) {
        self.0.push(b.into());
    }
}

/// Whether a write waits for replicas in the durable-write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// A read: never waits.
    No,
    /// A write: waits in the durable-write mode.
    Yes,
}

impl NodeInner {
    /// Now, by the store's clock, in ms.
    pub(crate) fn now(&self) -> i64 {
        self.config.now().as_millis()
    }

    /// The server-expiry grace in ms.
    pub(crate) fn grace(&self) -> i64 {
        self.grace_ms
    }

    /// The keyed hash of `value` in `domain`.
    pub(crate) fn hash(&self, domain: &str, value: &[u8]) -> IndexKey {
        self.config.hash(domain, value)
    }

    /// Runs `script` with `keys` and `args`: one `EVALSHA` (plus `WAIT` in the
    /// durable-write mode for writes, in the same round trip). A server that does not
    /// know the script (restarted, failed over) gets it with `SCRIPT LOAD` and the call
    /// is made again; a cluster node, with `EVAL` (routed by the key).
    pub(crate) async fn eval(
        &self,
        script: &Script,
        keys: &[String],
        args: Args,
        write: Write,
    ) -> Result<Value> {
        // `EVALSHA sha` or `EVAL source`, then the keys and arguments.
        let call = |name: &str, script_arg: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(script_arg).arg(keys.len());
            for key in keys {
                cmd.arg(key.as_str());
            }
            for arg in &args.0 {
                cmd.arg(arg.as_slice());
            }
            cmd
        };
        let cmd = call("EVALSHA", script.sha());
        match self.send(&cmd, write).await {
            // The server does not know the script (restarted, failed over): load it and
            // call again. On a cluster the node that answered is the key's, and `EVAL`
            // (which also caches the script there) is routed by the key as `EVALSHA` was.
            Err(e) if is_noscript(&e) && self.cluster => self
                .send(&call("EVAL", script.source()), write)
                .await
                .map_err(map),
            Err(e) if is_noscript(&e) => {
                let mut conn = self.conn.clone();
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(script.source())
                    .query_async::<Value>(&mut conn)
                    .await
                    .map_err(|e| map(e).with_retryable(true))?;
                self.send(&cmd, write).await.map_err(map)
            }
            other => other.map_err(map),
        }
        .map_err(|e| annotate(e, script.name()))
    }

    /// Sends one plain command (a single-key read or write).
    pub(crate) async fn query(&self, cmd: &Cmd, write: Write) -> Result<Value> {
        self.send(cmd, write).await.map_err(map)
    }

    /// Sends one plain command, as [`Self::query`]; `Ok(None)` when the server refused
    /// it because the key holds another type (`WRONGTYPE`: a record of an earlier
    /// layout).
    pub(crate) async fn query_typed(&self, cmd: &Cmd, write: Write) -> Result<Option<Value>> {
        match self.send(cmd, write).await {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.code() == Some("WRONGTYPE") => Ok(None),
            Err(e) => Err(map(e)),
        }
    }

    /// Sends several read commands in one round trip and returns their replies.
    /// On Redis Cluster, where a pipeline must stay within one slot, the commands are sent
    /// at the same time instead, each to its slot's node.
    pub(crate) async fn query_many(&self, pipe: &redis::Pipeline) -> Result<Vec<Value>> {
        if self.cluster {
            let sends = pipe.cmd_iter().map(|cmd| {
                let mut conn = self.conn.clone();
                async move { cmd.query_async::<Value>(&mut conn).await }
            });
            return futures::future::try_join_all(sends).await.map_err(map);
        }
        let mut conn = self.conn.clone();
        pipe.query_async(&mut conn).await.map_err(map)
    }

    /// Sends a keyless read to one node: on Redis Cluster the primary serving `slot`,
    /// elsewhere (`None`) the server.
    pub(crate) async fn query_at(&self, cmd: &Cmd, slot: Option<u16>) -> Result<Value> {
        match slot {
            Some(slot) => self.conn.query_at_slot(cmd, slot).await.map_err(map),
            None => self.query(cmd, Write::No).await,
        }
    }

    /// One slot served by each primary of the Redis Cluster (from `CLUSTER SLOTS`), to
    /// route a command to every primary in turn.
    pub(crate) async fn primaries(&self) -> Result<Vec<u16>> {
        let answer = self
            .query(&redis::cmd("CLUSTER").arg("SLOTS").clone(), Write::No)
            .await?;
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut slots = Vec::new();
        for range in reply::array(answer, "CLUSTER SLOTS")? {
            let mut parts = reply::array(range, "CLUSTER SLOTS range")?.into_iter();
            let (Some(start), _, Some(primary)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(reply::malformed("CLUSTER SLOTS range"));
            };
            let start = u16::try_from(reply::int(&start, "CLUSTER SLOTS start")?)
                .map_err(|_| reply::malformed("CLUSTER SLOTS start"))?;
            let mut primary = reply::array(primary, "CLUSTER SLOTS node")?.into_iter();
            // The node's address (ip, port): one slot per primary is enough.
            let mut address = reply::bytes(
                primary.next().unwrap_or(Value::Nil),
                "CLUSTER SLOTS address",
            )?;
            address.push(b':');
            address.extend_from_slice(
                reply::int(&primary.next().unwrap_or(Value::Nil), "CLUSTER SLOTS port")?
                    .to_string()
                    .as_bytes(),
            );
            if !seen.contains(&address) {
                seen.push(address);
                slots.push(start);
            }
        }
        Ok(slots)
    }

    /// The purge walk of `code` kept since the last limited purge, or a fresh one.
    pub(crate) fn take_walk(&self, code: Code) -> Walk {
        self.walks
            .lock()
            .map(|mut walks| walks.remove(&code).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Keeps the purge walk of `code` for the next limited purge.
    pub(crate) fn keep_walk(&self, code: Code, walk: Walk) {
        if let Ok(mut walks) = self.walks.lock() {
            walks.insert(code, walk);
        }
    }

    async fn send(&self, cmd: &Cmd, write: Write) -> std::result::Result<Value, RedisError> {
        let mut conn = self.conn.clone();
        match (write, self.durable) {
            (Write::Yes, Some((replicas, timeout_ms))) => {
                let mut pipe = redis::pipe();
                pipe.add_command(cmd.clone())
                    .cmd("WAIT")
                    .arg(replicas)
                    .arg(timeout_ms);
                let (value, acked): (Value, i64) = pipe.query_async(&mut conn).await?;
                if acked < i64::from(replicas) {
                    return Err(RedisError::from((
                        RedisKind::Io,
                        "durable write not confirmed",
                        format!(
                            "only {acked} of {replicas} replicas acknowledged the write \
                             within {timeout_ms} ms; it may be lost if the primary fails"
                        ),
                    )));
                }
                Ok(value)
            }
            _ => cmd.query_async(&mut conn).await,
        }
    }

    /// Seals `value` as the `contract` record stored under `key`.
    pub(crate) fn seal<T: Serialize>(
        &self,
        contract: Contract,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>> {
        self.config
            .codec
            .encode(&self.config.ad(contract, key), value)
            .map_err(|e| from_codec(contract, e))
    }

    /// Seals raw bytes (a payload) as the `contract` record stored under `key`.
    pub(crate) fn seal_bytes(
        &self,
        contract: Contract,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<Vec<u8>> {
        self.config
            .codec
            .seal(&self.config.ad(contract, key), bytes)
            .map_err(|e| from_codec(contract, e))
    }

    /// Opens a sealed `contract` record stored under `key`: `Corrupt` if it does not open.
    pub(crate) fn unseal<T: DeserializeOwned>(
        &self,
        contract: Contract,
        key: &[u8],
        blob: &[u8],
    ) -> Result<T> {
        self.config
            .codec
            .decode(&self.config.ad(contract, key), blob)
            .map_err(|e| from_codec(contract, e))
    }

    /// Opens sealed raw bytes.
    pub(crate) fn unseal_bytes(
        &self,
        contract: Contract,
        key: &[u8],
        blob: &[u8],
    ) -> Result<Vec<u8>> {
        self.config
            .codec
            .open(&self.config.ad(contract, key), blob)
            .map_err(|e| from_codec(contract, e))
    }

    /// Whether `blob` (which opened) is sealed with something other than the keyring's
    /// write key — plaintext accepted during a migration, or an older read key — and so
    /// should be rewritten.
    pub(crate) fn needs_reseal(&self, blob: &[u8]) -> bool {
        !self.config.codec.is_current(blob)
    }
}

/// `InvalidInput` unless `t` is a time the scripts handle exactly.
pub(crate) fn check_time(t: Timestamp, what: &str) -> Result<i64> {
    let ms = t.as_millis();
    if !(-MAX_TIME_MS..=MAX_TIME_MS).contains(&ms) {
        return Err(Error::invalid_input(
            BACKEND_NAME,
            format!("{what} is too far from now for the Redis backend (beyond 2^53 ms)"),
        ));
    }
    Ok(ms)
}

/// `now + d` in ms, `InvalidInput` past what the scripts handle exactly.
pub(crate) fn later(now: i64, d: Duration, what: &str) -> Result<i64> {
    check_time(Timestamp::from_millis(now).saturating_add(d), what)
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == RedisKind::Server(ServerErrorKind::NoScript)
}

/// Names the script in an error's message.
fn annotate(e: Error, script: &str) -> Error {
    let message = format!("script {script}: {}", e.message());
    Error::new(e.kind(), BACKEND_NAME, message)
        .with_retryable(e.is_retryable())
        .with_source(e)
}

/// A codec error, re-raised under this backend's name with the original as source.
fn from_codec(contract: Contract, e: Error) -> Error {
    Error::new(
        e.kind(),
        BACKEND_NAME,
        format!("{contract} record: {}", e.message()),
    )
    .with_retryable(e.is_retryable())
    .with_source(e)
}

/// The bytes hashed for a pair of values (a subject and a client, a session reference
/// and a partner): the first value's length, then both — as the memory backend does.
pub(crate) fn pair_bytes(first: &str, second: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + first.len() + second.len());
    out.extend_from_slice(&(first.len() as u64).to_be_bytes());
    out.extend_from_slice(first.as_bytes());
    out.extend_from_slice(second.as_bytes());
    out
}

/// An [`IndexKey`] from 32 raw bytes (as index members hold them).
pub(crate) fn index_key(bytes: &[u8]) -> Result<IndexKey> {
    if bytes.len() != 32 {
        return Err(Error::corrupt(
            BACKEND_NAME,
            format!("an index member is {} bytes, not 32", bytes.len()),
        ));
    }
    let mut hex = String::with_capacity(64);
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    IndexKey::from_hex(&hex)
        .map_err(|e| Error::corrupt(BACKEND_NAME, "an index member does not parse").with_source(e))
}

/// Reading script and command replies. A reply of the wrong shape is `Unexpected` (a
/// bug or a foreign server); a record field that does not parse is `Corrupt`.
pub(crate) mod reply {
    use authstate_core::{Error, Result};
    use redis::Value;

    use crate::BACKEND_NAME;

    fn shape(what: &str, v: &Value) -> Error {
        let kind = match v {
            Value::Nil => "nil",
            Value::Int(_) => "an integer",
            Value::BulkString(_) => "a string",
            Value::Array(_) => "an array",
            Value::SimpleString(_) | Value::Okay => "a status",
            _ => "another type",
        };
        Error::unexpected(
            BACKEND_NAME,
            format!("{what}: the server answered {kind}, which this backend does not expect"),
        )
    }

    /// A record field that does not parse.
    pub(crate) fn malformed(what: &str) -> Error {
        Error::corrupt(
            BACKEND_NAME,
            format!(
                "{what}: a stored field is malformed (the record was altered outside authstate)"
            ),
        )
    }

    /// An integer reply (or a decimal string). Nil is a record field that is missing.
    pub(crate) fn int(v: &Value, what: &str) -> Result<i64> {
        match v {
            Value::Int(n) => Ok(*n),
            Value::Nil => Err(malformed(what)),
            Value::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| malformed(what)),
            other => Err(shape(what, other)),
        }
    }

    /// A string reply, or `None` for nil.
    pub(crate) fn opt_bytes(v: Value, what: &str) -> Result<Option<Vec<u8>>> {
        match v {
            Value::Nil => Ok(None),
            Value::BulkString(b) => Ok(Some(b)),
            Value::SimpleString(s) => Ok(Some(s.into_bytes())),
            other => Err(shape(what, &other)),
        }
    }

    /// A string reply that must be there.
    pub(crate) fn bytes(v: Value, what: &str) -> Result<Vec<u8>> {
        opt_bytes(v, what)?.ok_or_else(|| malformed(what))
    }

    /// An optional decimal field.
    pub(crate) fn opt_int(v: Value, what: &str) -> Result<Option<i64>> {
        match v {
            Value::Nil => Ok(None),
            other => int(&other, what).map(Some),
        }
    }

    /// An array reply (nil is an empty array).
    pub(crate) fn array(v: Value, what: &str) -> Result<Vec<Value>> {
        match v {
            Value::Array(items) => Ok(items),
            Value::Nil => Ok(Vec::new()),
            other => Err(shape(what, &other)),
        }
    }

    /// A script's status code: the integer first element of an array reply, or the
    /// integer reply itself. `-1` (a malformed record) is `Corrupt`.
    pub(crate) fn status(items: &[Value], what: &str) -> Result<i64> {
        let code = match items.first() {
            Some(v) => int(v, what)?,
            None => return Err(shape(what, &Value::Nil)),
        };
        if code < 0 {
            return Err(malformed(what));
        }
        Ok(code)
    }

    /// A decimal field parsed from bytes.
    pub(crate) fn parse_int(b: &[u8], what: &str) -> Result<i64> {
        std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refuse_waits_that_cannot_work() {
        let mut o = BackendOptions::default();
        assert!(o.validate().is_ok());
        o.durable_writes = Some(DurableWrites {
            replicas: 0,
            timeout: Duration::from_millis(100),
        });
        assert!(o.validate().is_err());
        o.durable_writes = Some(DurableWrites {
            replicas: 1,
            timeout: Duration::ZERO,
        });
        let e = o.validate().expect_err("zero timeout");
        assert!(e.to_string().contains("block forever"), "{e}");
    }

    #[test]
    fn pair_bytes_keep_pairs_apart() {
        assert_ne!(pair_bytes("ab", "c"), pair_bytes("a", "bc"));
    }

    #[test]
    fn times_past_2_pow_53_are_refused() {
        assert!(later(0, Duration::from_secs(60), "t").is_ok());
        assert!(later(0, Duration::MAX, "t").is_err());
    }
}
