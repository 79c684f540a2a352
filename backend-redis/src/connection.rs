//! One handle over every deployment (standalone, Sentinel, Cluster) that the stores send
//! commands and scripts through.
//!
//! # Standalone and Sentinel
//!
//! The handle keeps `connections` multiplexed connections ("slots") and sends each command
//! on the next one in turn. Connections are opened here (TCP or unix socket, TLS with
//! [`crate::tls`], then `MultiplexedConnection::new_with_config` for `AUTH` and `SELECT`)
//! rather than by redis' `Client`, so that TLS versions and server names can be set and a
//! Sentinel master can be found again after a failover.
//!
//! A slot whose connection broke (the socket closed, a command timed out) is reopened by
//! the next command that picks it; with Sentinel, reopening asks the sentinels where the
//! master is now and checks the answer with `ROLE`. Reopening is retried with a short
//! back-off until the command's connect deadline (`connect_timeout` from when it started),
//! so a command issued during a failover waits for the new master for at most that long
//! and then fails with an I/O error, which the crate maps to `Unavailable`.
//!
//! A command is sent again only when it certainly did not run: when the server refused it
//! with `READONLY`, `MASTERDOWN` or `LOADING` (a replica, or a master that is not ready;
//! with Sentinel the handle then asks for the master again). A command whose connection
//! broke after it was sent may or may not have run, so its error is returned, never
//! retried: re-running a single-use take or a replay check would turn "accepted" into
//! "already used".
//!
//! # Cluster
//!
//! `redis::cluster_async::ClusterConnection` follows `MOVED`/`ASK` and refreshes its slot
//! map on its own; `connections` of them are round-robined the same way.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use authstate_core::{Error, Result};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::BACKEND_NAME;
use crate::config::{Auth, ClusterTopology, Endpoint, RedisConfig, Resolved, Topology};
use crate::sentinel::{Sentinels, is_master};
use crate::tls::{TlsSettings, describe_handshake_error};

/// The first pause between two attempts to reopen a connection; doubled up to
/// [`MAX_RECONNECT_PAUSE`].
const FIRST_RECONNECT_PAUSE: Duration = Duration::from_millis(25);
const MAX_RECONNECT_PAUSE: Duration = Duration::from_millis(400);
/// How often one command is re-sent after `READONLY`/`MASTERDOWN`/`LOADING`.
const MAX_REFUSED_RETRIES: u32 = 8;

/// A cloneable, multiplexed connection to the Redis deployment. Clones share sockets.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// Standalone or Sentinel.
    Node(Arc<Node>),
    Cluster(Arc<ClusterPool>),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("RedisConnection");
        match &self.inner {
            Inner::Node(node) => match &node.target {
                Target::Fixed(endpoint) => d
                    .field("kind", &"standalone")
                    .field("address", &endpoint.to_string()),
                Target::Sentinel(sentinels) => d
                    .field("kind", &"sentinel")
                    .field("master_name", &sentinels.master_name()),
            }
            .field("connections", &node.slots.len())
            .field("tls", &node.tls.is_some())
            .field("db", &node.db),
            Inner::Cluster(pool) => d
                .field("kind", &"cluster")
                .field("connections", &pool.connections.len()),
        };
        d.finish()
    }
}

impl RedisConnection {
    /// Connects as `config` says, within its connect timeout, and checks that the server
    /// answers (`PING`; with Sentinel, `ROLE` says master).
    ///
    /// Errors: `ConfigInvalid` for settings, credentials or certificates that cannot work
    /// (naming what to fix), `Unavailable` when the server or the sentinels did not answer
    /// in time.
    pub async fn connect(config: &RedisConfig) -> Result<Self> {
        let resolved = config.resolve()?;
        let described = describe(&resolved.topology);
        let Resolved {
            topology,
            auth,
            db,
            tls,
            connect_timeout,
            response_timeout,
            connections,
        } = resolved;
        let settings = Settings {
            info: connection_info(&auth, db),
            auth,
            db,
            tls,
            connect_timeout,
            response_timeout,
            connections,
        };
        let deadline = Instant::now() + connect_timeout;
        let target = match topology {
            Topology::Cluster(cluster) => {
                let pool = ClusterPool::connect(&settings, &cluster, deadline, &described).await?;
                return Self::checked(Inner::Cluster(Arc::new(pool)), &described, response_timeout)
                    .await;
            }
            Topology::Standalone(endpoint) => Target::Fixed(endpoint),
            Topology::Sentinel(sentinel) => Target::Sentinel(Box::new(Sentinels::new(sentinel))),
        };
        let node = Node::new(target, settings);
        node.open_all(deadline)
            .await
            .map_err(|e| connect_error(&described, e))?;
        Self::checked(Inner::Node(Arc::new(node)), &described, response_timeout).await
    }

    /// The handle, once it answered `PING` (which catches a missing password, and a TLS
    /// server that refused the client certificate after the handshake).
    async fn checked(inner: Inner, described: &str, response_timeout: Duration) -> Result<Self> {
        let mut connection = RedisConnection { inner };
        tokio::time::timeout(
            response_timeout,
            redis::cmd("PING").query_async::<Value>(&mut connection),
        )
        .await
        .map_err(|_| {
            Error::unavailable(
                BACKEND_NAME,
                format!("{described} did not answer PING within the response timeout ({response_timeout:?})"),
            )
        })?
        .map_err(|e| connect_error(described, e))?;
        Ok(connection)
    }
}

impl RedisConnection {
    /// Sends one command and returns its reply converted to `T`, with a failure mapped
    /// the way every store maps it (`Unavailable` when Redis did not answer or refused for
    /// now). For checks and tools; the stores build their own commands and scripts.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        let mut connection = self.clone();
        cmd.query_async(&mut connection)
            .await
            .map_err(crate::error::map)
    }

    /// Whether this handle talks to a Redis Cluster: the stores then keep every
    /// operation within one hash slot (see the crate's key layout).
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }

    /// Sends `cmd` to the primary that serves `slot` (Redis Cluster; elsewhere to the one
    /// server): for keyless commands that must reach one given node, such as `SCAN`.
    pub(crate) async fn query_at_slot(&self, cmd: &Cmd, slot: u16) -> RedisResult<Value> {
        use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
        match &self.inner {
            Inner::Cluster(pool) => {
                let mut conn = pool.pick();
                let route = Route::new(slot, SlotAddr::Master);
                conn.route_command(
                    cmd.clone(),
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                )
                .await
            }
            Inner::Node(_) => {
                let mut conn = self.clone();
                cmd.query_async(&mut conn).await
            }
        }
    }
}

/// What a handle connects to, after `resolve`, apart from where.
struct Settings {
    auth: Auth,
    info: RedisConnectionInfo,
    db: i64,
    tls: Option<TlsSettings>,
    connect_timeout: Duration,
    response_timeout: Duration,
    connections: usize,
}

fn describe(topology: &Topology) -> String {
    match topology {
        Topology::Standalone(endpoint) => format!("Redis at {endpoint}"),
        Topology::Sentinel(s) => format!(
            "the master {:?} through the sentinels at {}",
            s.master_name,
            s.nodes
                .iter()
                .map(|(h, p)| Endpoint::Tcp {
                    host: h.clone(),
                    port: *p
                }
                .to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Topology::Cluster(c) => format!(
            "the Redis Cluster seeded by {}",
            c.nodes
                .iter()
                .map(|(h, p)| format!("{h}:{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The error `connect` returns: what was being reached and why it failed.
fn connect_error(described: &str, err: RedisError) -> Error {
    let text = err.to_string();
    // Errors start with the address they concern; the description may name it already.
    let text = match text.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && described.ends_with(head) => rest.to_owned(),
        _ => text,
    };
    let message = format!("cannot connect to {described}: {text}");
    // At connect time a refusal by the server (wrong password, no permission, a database
    // that does not exist) is a setting to fix; anything else is mapped as always.
    let refused = is_permanent(&err)
        || matches!(
            err.kind(),
            ErrorKind::Server(ServerErrorKind::NoPerm | ServerErrorKind::ResponseError)
        )
        || matches!(err.code(), Some("NOAUTH" | "WRONGPASS"));
    if !refused {
        let kind = crate::error::map(err.clone()).kind();
        return Error::new(kind, BACKEND_NAME, message).with_source(err);
    }
    let hint =
        if err.kind() == ErrorKind::AuthenticationFailed && err.to_string().contains("Password") {
            " (check username and password)"
        } else if err.code() == Some("NOAUTH") {
            " (the server wants a password: set password or password_file)"
        } else {
            ""
        };
    Error::config(BACKEND_NAME, format!("{message}{hint}")).with_source(err)
}

/// An error that retrying cannot cure: wrong credentials, a certificate that does not
/// fit, an unknown Sentinel master name, a setting redis refuses.
pub(crate) fn is_permanent(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::AuthenticationFailed
            | ErrorKind::InvalidClientConfig
            | ErrorKind::MasterNameNotFoundBySentinel
    )
}

/// An error the crate maps to `Unavailable` (an I/O error) with `message`.
pub(crate) fn unavailable(message: String) -> RedisError {
    RedisError::from(io::Error::new(io::ErrorKind::NotConnected, message))
}

// ---------------------------------------------------------------------------------------
// One connection

/// The task that reads and writes a multiplexed connection's socket; aborted when the
/// last clone of the connection is gone.
struct Driver(JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An open, authenticated connection.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) conn: MultiplexedConnection,
    driver: Arc<Driver>,
    pub(crate) address: Arc<str>,
}

impl Session {
    /// The socket closed (or the driver stopped): sending would fail.
    fn is_closed(&self) -> bool {
        self.driver.0.is_finished()
    }
}

/// Opens a connection to `endpoint` (TLS when `tls` is set) and authenticates with
/// `info`, all before `deadline`.
pub(crate) async fn open_session(
    endpoint: &Endpoint,
    tls: Option<&TlsSettings>,
    info: &RedisConnectionInfo,
    deadline: Instant,
    response_timeout: Duration,
) -> RedisResult<Session> {
    establish(endpoint, tls, info, response_timeout, deadline).await
}

async fn establish(
    endpoint: &Endpoint,
    tls: Option<&TlsSettings>,
    info: &RedisConnectionInfo,
    response_timeout: Duration,
    deadline: Instant,
) -> RedisResult<Session> {
    let address = endpoint.to_string();
    let address = address.as_str();
    // Each step has its own message, so that a timeout says what was waited for.
    let step = |what: &'static str| {
        move |_| {
            RedisError::from(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{address}: no connection within the connect timeout ({what} not answered)"
                ),
            ))
        }
    };
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(response_timeout));
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let tcp = tokio::time::timeout_at(deadline, TcpStream::connect((host.as_str(), *port)))
                .await
                .map_err(step("TCP connect"))?
                .map_err(|e| io_error(address, e))?;
            // Commands are small and latency-bound.
            let _ = tcp.set_nodelay(true);
            match tls {
                Some(tls) => {
                    tls.warn_if_insecure(address);
                    let stream = tokio::time::timeout_at(deadline, tls.handshake(host, tcp))
                        .await
                        .map_err(step("TLS handshake"))?
                        .map_err(|e| match describe_handshake_error(&e) {
                            Some(why) => RedisError::from((
                                ErrorKind::AuthenticationFailed,
                                "TLS handshake failed",
                                format!("{address}: {why}"),
                            )),
                            None => io_error(address, e),
                        })?;
                    tokio::time::timeout_at(
                        deadline,
                        multiplex(stream, info, config, address, true),
                    )
                    .await
                    .map_err(step("connection setup (AUTH, SELECT)"))?
                }
                None => {
                    tokio::time::timeout_at(deadline, multiplex(tcp, info, config, address, false))
                        .await
                        .map_err(step("connection setup (AUTH, SELECT)"))?
                }
            }
        }
        Endpoint::Unix(path) => {
            let stream = tokio::time::timeout_at(deadline, UnixStream::connect(path))
                .await
                .map_err(step("unix socket connect"))?
                .map_err(|e| io_error(address, e))?;
            tokio::time::timeout_at(deadline, multiplex(stream, info, config, address, false))
                .await
                .map_err(step("connection setup (AUTH, SELECT)"))?
        }
    }
}

async fn multiplex<C>(
    stream: C,
    info: &RedisConnectionInfo,
    config: AsyncConnectionConfig,
    address: &str,
    tls: bool,
) -> RedisResult<Session>
where
    C: Unpin + AsyncRead + AsyncWrite + Send + 'static,
{
    let (conn, driver) = MultiplexedConnection::new_with_config(info, stream, config)
        .await
        .map_err(|e| setup_error(address, tls, e))?;
    Ok(Session {
        conn,
        driver: Arc::new(Driver(tokio::spawn(driver))),
        address: Arc::from(address),
    })
}

fn io_error(address: &str, e: io::Error) -> RedisError {
    RedisError::from(io::Error::new(e.kind(), format!("{address}: {e}")))
}

/// Adds the address to an error from `AUTH`/`SELECT`, and recognises a TLS alert: in
/// TLS 1.3 a server that wants a client certificate says so only after the handshake, when
/// the client first reads. (redis does not hand out the underlying `io::Error`, so the
/// alert is recognised by rustls' wording.)
fn setup_error(address: &str, tls: bool, e: RedisError) -> RedisError {
    let text = e.to_string();
    if tls && text.contains("received fatal alert") {
        return RedisError::from((
            ErrorKind::AuthenticationFailed,
            "TLS handshake failed",
            format!(
                "{address}: {text}; the server refused this client after the handshake \
                 (does it want a client certificate: tls.certificate_chain and tls.private_key?)"
            ),
        ));
    }
    if e.is_io_error() {
        return RedisError::from(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("{address}: {text}"),
        ));
    }
    // Refusals (AUTH, SELECT) keep redis' own wording; `connect` adds where.
    e
}

// ---------------------------------------------------------------------------------------
// Standalone and Sentinel

enum Target {
    Fixed(Endpoint),
    Sentinel(Box<Sentinels>),
}

struct Node {
    target: Target,
    tls: Option<TlsSettings>,
    info: RedisConnectionInfo,
    db: i64,
    connect_timeout: Duration,
    response_timeout: Duration,
    slots: Box<[Slot]>,
    next_slot: AtomicUsize,
    generation: AtomicU64,
}

#[derive(Default)]
struct Slot {
    current: Mutex<Option<Live>>,
    /// Held by the one command that reopens this slot; the others wait for its result.
    reopening: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Live {
    session: Session,
    generation: u64,
}

impl Slot {
    fn current(&self) -> Option<Live> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|live| !live.session.is_closed())
    }

    fn set(&self, live: Live) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(live);
    }

    /// Drops the connection of `generation`, unless the slot has moved on already.
    fn invalidate(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|l| l.generation == generation) {
            *current = None;
        }
    }
}

/// What a reply says about the server it came from.
trait Reply {
    /// The server refused because it is not (or not yet) a writable master: the command
    /// did not run.
    fn refused_as_not_master(&self) -> bool;
}

fn not_master_kind(kind: Option<ServerErrorKind>) -> bool {
    matches!(
        kind,
        Some(
            ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading
        )
    )
}

impl Reply for Value {
    fn refused_as_not_master(&self) -> bool {
        matches!(self, Value::ServerError(e) if not_master_kind(e.kind()))
    }
}

impl Reply for Vec<Value> {
    fn refused_as_not_master(&self) -> bool {
        self.iter().any(Reply::refused_as_not_master)
    }
}

fn error_refused_as_not_master(err: &RedisError) -> bool {
    match err.kind() {
        ErrorKind::Server(kind) if not_master_kind(Some(kind)) => true,
        // A transaction aborted because its commands were refused.
        ErrorKind::Server(ServerErrorKind::ExecAbort) => err
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| not_master_kind(e.kind()))),
        _ => false,
    }
}

/// The connection is unusable after this error (or, for a timeout, may hang on a server
/// that is gone): drop it so that the next command reconnects.
fn breaks_connection(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_timeout()
}

impl Node {
    fn new(target: Target, settings: Settings) -> Self {
        Node {
            target,
            tls: settings.tls,
            info: settings.info,
            db: settings.db,
            connect_timeout: settings.connect_timeout,
            response_timeout: settings.response_timeout,
            slots: (0..settings.connections).map(|_| Slot::default()).collect(),
            next_slot: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Opens every slot once, without retrying: a first connect should fail fast.
    async fn open_all(&self, deadline: Instant) -> RedisResult<()> {
        for slot in self.slots.iter() {
            let live = self.open(deadline).await?;
            slot.set(live);
        }
        Ok(())
    }

    /// One attempt at a connection to the (current) master.
    async fn open(&self, deadline: Instant) -> RedisResult<Live> {
        let session = match &self.target {
            Target::Fixed(endpoint) => {
                open_session(
                    endpoint,
                    self.tls.as_ref(),
                    &self.info,
                    deadline,
                    self.response_timeout,
                )
                .await?
            }
            Target::Sentinel(sentinels) => {
                let (host, port) = sentinels
                    .master_address(deadline, self.response_timeout)
                    .await?;
                let endpoint = Endpoint::Tcp { host, port };
                let mut session = open_session(
                    &endpoint,
                    self.tls.as_ref(),
                    &self.info,
                    deadline,
                    self.response_timeout,
                )
                .await?;
                let master = tokio::time::timeout_at(deadline, is_master(&mut session.conn))
                    .await
                    .map_err(|_| unavailable(format!("{endpoint}: ROLE not answered in time")))??;
                if !master {
                    return Err(unavailable(format!(
                        "the sentinels name {endpoint} as master {:?}, but it is not a master (yet)",
                        sentinels.master_name()
                    )));
                }
                tracing::debug!(
                    backend = BACKEND_NAME,
                    master_name = sentinels.master_name(),
                    address = %endpoint,
                    "connected to the master"
                );
                session
            }
        };
        Ok(Live {
            session,
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }

    /// The slot's connection, reopened (with retries until `deadline`) if it is gone.
    async fn live(&self, slot: &Slot, deadline: Instant) -> RedisResult<Live> {
        if let Some(live) = slot.current() {
            return Ok(live);
        }
        let _reopening = tokio::time::timeout_at(deadline, slot.reopening.lock())
            .await
            .map_err(|_| unavailable(self.out_of_time()))?;
        // Another command may have reopened it while this one waited.
        if let Some(live) = slot.current() {
            return Ok(live);
        }
        let mut pause = FIRST_RECONNECT_PAUSE;
        loop {
            match self.open(deadline).await {
                Ok(live) => {
                    tracing::info!(
                        backend = BACKEND_NAME,
                        address = &*live.session.address,
                        "reconnected"
                    );
                    slot.set(live.clone());
                    return Ok(live);
                }
                Err(e) if is_permanent(&e) => return Err(e),
                Err(e) => {
                    if Instant::now() + pause >= deadline {
                        tracing::warn!(backend = BACKEND_NAME, error = %e, "cannot reconnect");
                        return Err(unavailable(format!(
                            "{}; last attempt: {e}",
                            self.out_of_time()
                        )));
                    }
                    tracing::debug!(backend = BACKEND_NAME, error = %e, "reconnect failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
                }
            }
        }
    }

    fn out_of_time(&self) -> String {
        match &self.target {
            Target::Fixed(endpoint) => format!(
                "{endpoint}: no connection within the connect timeout ({:?})",
                self.connect_timeout
            ),
            Target::Sentinel(s) => format!(
                "no connection to the master {:?} within the connect timeout ({:?})",
                s.master_name(),
                self.connect_timeout
            ),
        }
    }

    /// Runs `send` on the next slot's connection; see the module docs for when it is
    /// re-sent.
    async fn run<T, F, Fut>(&self, mut send: F) -> RedisResult<T>
    where
        T: Reply,
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let index = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[index];
        let deadline = Instant::now() + self.connect_timeout;
        let follows_master = matches!(self.target, Target::Sentinel(_));
        let mut refusals = 0;
        loop {
            let live = self.live(slot, deadline).await?;
            let result = send(live.session.conn.clone()).await;
            let refused = match &result {
                Ok(reply) => reply.refused_as_not_master(),
                Err(e) => error_refused_as_not_master(e),
            };
            if refused {
                // The server is not the master (any more): nothing ran, ask again.
                slot.invalidate(live.generation);
                refusals += 1;
                if !follows_master || refusals > MAX_REFUSED_RETRIES || Instant::now() >= deadline {
                    return result;
                }
                tracing::info!(
                    backend = BACKEND_NAME,
                    address = &*live.session.address,
                    "refused as not master; asking the sentinels again"
                );
                continue;
            }
            if let Err(e) = &result
                && breaks_connection(e)
            {
                slot.invalidate(live.generation);
            }
            return result;
        }
    }
}

fn connection_info(auth: &Auth, db: i64) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default().set_db(db);
    if let Some(user) = &auth.username {
        info = info.set_username(user);
    }
    if let Some(password) = &auth.password {
        info = info.set_password(password.expose());
    }
    info
}

// ---------------------------------------------------------------------------------------
// Cluster

struct ClusterPool {
    connections: Box<[ClusterConnection]>,
    next: AtomicUsize,
}

impl ClusterPool {
    async fn connect(
        settings: &Settings,
        cluster: &ClusterTopology,
        deadline: Instant,
        described: &str,
    ) -> Result<Self> {
        let nodes = cluster
            .nodes
            .iter()
            .map(|(host, port)| {
                let addr = match &settings.tls {
                    Some(_) => ConnectionAddr::TcpTls {
                        host: host.clone(),
                        port: *port,
                        insecure: false,
                        tls_params: None,
                    },
                    None => ConnectionAddr::Tcp(host.clone(), *port),
                };
                addr.into_connection_info()
            })
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| connect_error(described, e))?;
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(settings.connect_timeout)
            .response_timeout(settings.response_timeout);
        if let Some(user) = &settings.auth.username {
            builder = builder.username(user);
        }
        if let Some(password) = &settings.auth.password {
            builder = builder.password(password.expose());
        }
        if let Some(tls) = &settings.tls {
            builder = builder.certs(tls.certificates());
        }
        let client = builder.build().map_err(|e| connect_error(described, e))?;
        let mut connections = Vec::with_capacity(settings.connections);
        for _ in 0..settings.connections {
            let conn = tokio::time::timeout_at(deadline, client.get_async_connection())
                .await
                .map_err(|_| {
                    Error::unavailable(
                        BACKEND_NAME,
                        format!(
                            "cannot connect to {described}: no answer within the connect timeout ({:?})",
                            settings.connect_timeout
                        ),
                    )
                })?
                .map_err(|e| connect_error(described, e))?;
            connections.push(conn);
        }
        Ok(ClusterPool {
            connections: connections.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    fn pick(&self) -> ClusterConnection {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[index].clone()
    }
}

// ---------------------------------------------------------------------------------------

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &self.inner {
            Inner::Node(node) => {
                let node = node.clone();
                Box::pin(async move {
                    node.run(|mut conn| async move { conn.send_packed_command(cmd).await })
                        .await
                })
            }
            Inner::Cluster(pool) => {
                let mut conn = pool.pick();
                Box::pin(async move { conn.req_packed_command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &self.inner {
            Inner::Node(node) => {
                let node = node.clone();
                Box::pin(async move {
                    node.run(|mut conn| async move {
                        conn.send_packed_commands(pipeline, offset, count).await
                    })
                    .await
                })
            }
            Inner::Cluster(pool) => {
                let mut conn = pool.pick();
                Box::pin(async move { conn.req_packed_commands(pipeline, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Node(node) => node.db,
            Inner::Cluster(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_mean_not_master() {
        let readonly =
            redis::parse_redis_value(b"-READONLY You can't write against a read only replica.\r\n")
                .expect("a RESP error reply");
        assert!(matches!(readonly, Value::ServerError(_)), "{readonly:?}");
        assert!(readonly.refused_as_not_master());
        assert!(vec![Value::Okay, readonly].refused_as_not_master());
        assert!(!Value::Okay.refused_as_not_master());
        let other =
            redis::parse_redis_value(b"-ERR unknown command\r\n").expect("a RESP error reply");
        assert!(!other.refused_as_not_master());
    }
}
